// Reaching someone, against the relay in memory (tests/client/_fake.ts) and as text: /invite and its
// QR code (decoded back by zbarimg from the half blocks printed), /chat INVITATION (the relay and its pin
// checked), /msg (exactly the named chat, never the active one), and --send's endings (client/oneshot.ts):
// stored, no open chat, refused, not confirmed.

import assert from "node:assert/strict";
import { join } from "node:path";
import { formatId, generateIdentity } from "../../protocol/identity.ts";
import { formatInvitation, parseInvitation } from "../../protocol/invite.ts";
import { runCommand } from "../../client/actions.ts";
import type { AppHandle } from "../../client/app.ts";
import { CommandError, HELP, parseLine } from "../../client/commands.ts";
import type { ClientEvent } from "../../client/events.ts";
import { EXIT_NO_CHAT, EXIT_NOT_CONFIRMED, EXIT_OK, EXIT_REFUSED } from "../../client/exit.ts";
import { invitationQr, lineSink, QR_COLOURS } from "../../client/linemode.ts";
import { sendOnce } from "../../client/oneshot.ts";
import { renderInvitation } from "../../client/overlay.ts";
import { encodeQr, qrHalfBlocks } from "../../client/qr.ts";
import { peerMissing } from "../_peers.ts";
import { clock, type FakeRelay, newContents, PIN, User, withWorld as sharedWorld } from "./_fake.ts";
import { VirtualTerminal } from "./_vt.ts";
import { modulesOf, pgm, qrOnScreen, zbar } from "./_qrtext.ts";

function withWorld(fn: (relay: FakeRelay, alice: User, bob: User, dir: string) => Promise<void>) {
  return sharedWorld("sotto-reach-", fn);
}

async function type(user: User, line: string): Promise<void> {
  await runCommand(user.client, parseLine(line)!);
}

async function typeFails(user: User, line: string, pattern: RegExp): Promise<void> {
  await assert.rejects(runCommand(user.client, parseLine(line)!), (e) => {
    assert.match((e as Error).message, pattern);
    assert.match((e as Error).message, /^[A-Z].*\.$/s, "one sentence");
    return true;
  });
}

async function open(relay: FakeRelay, a: User, b: User, bName: string, aName: string): Promise<void> {
  await type(a, `/chat ${formatId(b.id)} ${bName}`);
  await relay.settle();
  await type(b, `/chat ${formatId(a.id)} ${aName}`);
  await relay.settle();
}

Deno.test("commands: /invite, /chat INVITATION [nickname], /msg ID|NICK TEXT", () => {
  const id = generateIdentity().id;
  const invitation = formatInvitation({ host: "relay.example.org", port: 6174, pin: PIN, id });
  assert.deepEqual(parseLine("/invite"), { name: "invite" });
  const chat = parseLine(`/chat ${invitation}  Bob B `);
  assert.ok(chat?.name === "chat");
  assert.deepEqual(chat.peerId, id);
  assert.equal(chat.nickname, "Bob B");
  assert.deepEqual(chat.invitation, parseInvitation(invitation));
  const typo = invitation.slice(0, 40) + (invitation[40] === "a" ? "b" : "a") + invitation.slice(41);
  const fails = (line: string, pattern: RegExp) =>
    assert.throws(() => parseLine(line), (e) => e instanceof CommandError && pattern.test(e.message));
  fails(`/chat ${typo}`, /^That invitation's checksum does not match: it was probably mistyped/);
  fails(`/chat sotto:x`, /^An invitation starts with sotto:\/\//);
  const written = formatId(id);
  const wrongCheck = written.slice(0, -1) + (written.endsWith("0") ? "1" : "0");
  fails(
    `/chat ${wrongCheck}`,
    /^That is not a valid ID: its check character does not match, so it is probably a typo\.$/,
  );
  fails(`/chat ${written.slice(0, 7)}${written.slice(8)}`, /probably a typo/);
  assert.deepEqual(parseLine("/msg bob hello  there "), { name: "msg", target: "bob", text: "hello  there" });
  assert.deepEqual(parseLine(`/msg ${written} /quit`), { name: "msg", target: written, text: "/quit" });
  assert.deepEqual(parseLine('/msg "bob smith" hi'), { name: "msg", target: "bob smith", text: "hi" });
  fails("/msg", /^Usage: \/msg ID\|NICK TEXT/);
  fails("/msg bob", /^Usage: \/msg ID\|NICK TEXT/);
  fails(`/msg bob ${"x".repeat(32705)}`, /at most 32704 bytes/);
  fails("/invite now", /takes no argument/);
  for (const name of ["invite", "msg"]) assert.ok(HELP.some((line) => line.startsWith(`/${name}`)), name);
  assert.ok(HELP.some((line) => line.startsWith("/chat INVITATION")));
});

Deno.test("/invite: the invitation for this relay and its pin; a note for a loopback address", async () => {
  await withWorld(async (relay, alice, _bob, dir) => {
    await typeFails(alice, "/invite", /wait until the client has connected once/);
    await relay.connect(alice);
    await type(alice, "/invite");
    const [e] = alice.of("invitation");
    assert.equal(e.id, formatId(alice.id));
    assert.equal(e.server, "relay.test:6174");
    assert.deepEqual(parseInvitation(e.invitation), {
      host: "relay.test",
      port: 6174,
      pin: PIN,
      id: alice.id,
    });
    assert.ok(!alice.of("info").some((i) => /this machine only/.test(i.text)));
    // The same on 127.0.0.1 says that only this machine reaches it.
    const local = new User("local", join(dir, "local"), newContents(), "P-256", {
      relay: { host: "127.0.0.1", port: 7000 },
    });
    relay.add(local);
    await relay.connect(local);
    await type(local, "/invite");
    assert.match(local.of("invitation")[0].invitation, /^sotto:\/\/127\.0\.0\.1:7000\//);
    assert.match(
      local.of("info").at(-1)!.text,
      /names 127\.0\.0\.1, which reaches the relay from this machine only/,
    );
    await local.client.shutdown();
    local.files.closeAll();
  });
});

Deno.test("/chat INVITATION: asks for that ID on this relay; another relay or another pin is refused", async () => {
  await withWorld(async (relay, alice, bob) => {
    await relay.connect(alice);
    await relay.connect(bob);
    await type(bob, "/invite");
    const invitation = bob.of("invitation")[0].invitation;
    const other = (host: string, port: number, pin = PIN) =>
      formatInvitation({ host, port, pin, id: bob.id });
    await typeFails(
      alice,
      `/chat ${other("relay.test", 6175)}`,
      /is for the relay at relay\.test:6175, and this client uses relay\.test:6174; to use it, quit and start the client with the invitation/,
    );
    await typeFails(
      alice,
      `/chat ${other("elsewhere.org", 6174)}`,
      /is for the relay at elsewhere\.org:6174/,
    );
    const fake = "Q".repeat(42) + "A";
    await typeFails(
      alice,
      `/chat ${other("RELAY.test.", 6174, fake)}`,
      /gives the relay at relay\.test:6174 the pin Q+A, but this client trusts P+A for it/,
    );
    assert.equal(alice.client.chats.length, 0, "nothing was asked for");
    await type(alice, `/chat ${invitation} bobby`);
    assert.deepEqual(alice.of("chat-requested").map((e) => [e.chat, e.nick]), [[formatId(bob.id), "bobby"]]);
    await relay.settle();
    await type(bob, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    assert.equal(alice.client.chat(bob.id)?.state, "open");
  });
});

Deno.test("/chat INVITATION before the first connection: the invitation's pin is stored for the relay", async () => {
  await withWorld(async (_relay, alice, bob) => {
    const invitation = formatInvitation({ host: "relay.test", port: 6174, pin: PIN, id: bob.id });
    assert.equal(alice.store.contents.pins.size, 0);
    await type(alice, `/chat ${invitation}`);
    assert.deepEqual([...alice.store.contents.pins], [["relay.test:6174", PIN]]);
  });
});

Deno.test("/msg: the text goes to exactly the named chat, never to the active one", async () => {
  await withWorld(async (relay, alice, bob, dir) => {
    const carol = relay.add(new User("carol", join(dir, "carol"), newContents()));
    for (const u of [alice, bob, carol]) await relay.connect(u);
    await open(relay, alice, bob, "bob", "alice");
    await open(relay, alice, carol, "carol smith", "alice");
    assert.equal(alice.client.active?.nickname, "carol smith", "carol's chat is the active one");
    await type(alice, "/msg bob for bob only");
    await type(alice, `/msg ${formatId(bob.id)} by ID`);
    await type(
      alice,
      `/msg ${formatId(bob.id, { check: false }).toUpperCase().replaceAll("-", "")} old form`,
    );
    await type(alice, '/msg "carol smith" for carol');
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["for bob only", "by ID", "old form"]);
    assert.deepEqual(carol.of("message").map((m) => m.text), ["for carol"]);
    assert.equal(alice.client.active?.nickname, "carol smith", "still the active one");
    await typeFails(alice, "/msg dave hi", /No chat is called "dave"/);
    await type(alice, `/chat ${formatId(carol.id)} bob`);
    await typeFails(alice, "/msg bob hi", /Several chats are called "bob"; give the ID/);
    await relay.settle();
    assert.equal(bob.of("message").length, 3, "nothing more reached anyone");
    assert.equal(carol.of("message").length, 1);
  });
});

/** An invitation for a new identity on relay.example.org. */
function sampleInvitation(): string {
  return formatInvitation({ host: "relay.example.org", port: 6174, pin: PIN, id: generateIdentity().id });
}

/** The AppHandle sendOnce needs, around a fake-relay user. */
function handle(user: User, done = new Promise<number>(() => {}), exitCode = 0) {
  return {
    client: user.client,
    done,
    exitCode,
    status: { connection: "online" as const, pin: PIN },
    line: () => Promise.resolve(false),
    quit: () => {},
    error: () => {},
  } satisfies AppHandle & { exitCode: number };
}

Deno.test("--send: stored (0), no open chat (6), refused (7), not confirmed (8)", async () => {
  await withWorld(async (relay, alice, bob, dir) => {
    const events: ClientEvent[] = [];
    const emit = (e: ClientEvent) => events.push(e);
    const send = (user: User, target: string, text: string, timeoutSeconds = 10) =>
      sendOnce(handle(user), { target, text, timeoutSeconds }, clock, emit);
    // Offline the whole time: not confirmed, nothing sent.
    assert.equal(await send(alice, "bob", "hi", 1), EXIT_NOT_CONFIRMED);
    assert.match((events.at(-1) as { message: string }).message, /not reached within 1 s; nothing was sent/);
    await relay.connect(alice);
    await relay.connect(bob);
    assert.equal(await send(alice, "bob", "hi"), EXIT_NO_CHAT);
    assert.match((events.at(-1) as { message: string }).message, /^No chat is called "bob"/);
    await type(alice, `/chat ${formatId(bob.id)} bob`);
    await relay.settle();
    assert.equal(await send(alice, "bob", "hi"), EXIT_NO_CHAT);
    assert.match((events.at(-1) as { message: string }).message, /not open: they have not asked for you yet/);
    await type(bob, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    assert.equal(await send(alice, "bob", "stored"), EXIT_OK);
    assert.equal(await send(bob, formatId(alice.id), "by ID"), EXIT_OK);
    assert.match((events.at(-1) as { text: string }).text, /^Sent to alice: the relay has stored it\.$/);
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["stored"]);
    assert.deepEqual(alice.of("message").map((m) => m.text), ["by ID"]);
    relay.refuseSends = "no-chat";
    assert.equal(await send(alice, "bob", "refused"), EXIT_REFUSED);
    assert.match(alice.of("refused").at(-1)!.reason, /not open at the relay/);
    relay.refuseSends = null;
    // The relay never answers: not confirmed, and the message waits in the keystore.
    const link = alice.link!;
    const quiet = link.send;
    link.send = () => {};
    assert.equal(await send(alice, "bob", "later", 1), EXIT_NOT_CONFIRMED);
    assert.match((events.at(-1) as { message: string }).message, /within 1 s; it waits in your keystore/);
    link.send = quiet;
    // A fatal error (a wrong pin, say) on the way: its code.
    const carol = relay.add(new User("carol", join(dir, "carol"), newContents()));
    const fatal = sendOnce(
      handle(carol, Promise.resolve(4), 4),
      { target: "x", text: "y", timeoutSeconds: 5 },
      clock,
      emit,
    );
    assert.equal(await fatal, 4);
    await carol.client.shutdown();
    carol.files.closeAll();
  });
});

Deno.test("QR in half blocks: every module in its place, the quiet zone light", () => {
  const code = encodeQr("half blocks", { ecLevel: "L" });
  const rows = qrHalfBlocks(code, 2);
  assert.equal(rows.length, Math.ceil((code.size + 4) / 2));
  const grid = modulesOf(rows);
  for (let r = 0; r < code.size + 4; r++) {
    for (let c = 0; c < code.size + 4; c++) {
      const inside = r >= 2 && c >= 2 && r < code.size + 2 && c < code.size + 2;
      const want = inside ? code.modules[(r - 2) * code.size + c - 2] : 0;
      assert.equal(grid[r][c], want, `${r},${c}`);
    }
  }
  // An invitation with a typical host fits a 24-row terminal.
  const invitation = sampleInvitation();
  assert.ok(invitationQr(invitation).length <= 23);
});

Deno.test({
  name: "/invite in line mode: the string alone on a line, and a QR code zbarimg reads back to it",
  ignore: peerMissing("zbarimg"),
}, async () => {
  const invitation = sampleInvitation();
  const e: ClientEvent = { event: "invitation", invitation, id: "x", server: "relay.example.org:6174" };
  let plain = "", coloured = "", json = "";
  lineSink(false, (t) => (plain += t))(e);
  lineSink(false, (t) => (coloured += t), { colour: true })(e);
  lineSink(true, (t) => (json += t))(e);
  const lines = plain.split("\n");
  assert.match(lines[0], /^Your invitation/);
  assert.equal(lines[1], invitation, "alone on its line");
  assert.equal(await zbar(pgm(modulesOf(lines.slice(2, -1)))), invitation);
  assert.ok(coloured.includes(QR_COLOURS) && !plain.includes("\x1b"));
  assert.deepEqual(JSON.parse(json), { v: 1, ...e }, "JSON: the event alone, no QR");
});

Deno.test({
  name:
    "/invite in the terminal UI: the code on screen reads back, the string is one line; too small says so",
  ignore: peerMissing("zbarimg"),
}, async () => {
  const invitation = sampleInvitation();
  for (const [columns, rows] of [[100, 30], [80, 24]]) {
    const vt = new VirtualTerminal(columns, rows);
    vt.write(renderInvitation(columns, rows, invitation));
    const screen = vt.lines();
    const grid = qrOnScreen(screen);
    assert.equal(await zbar(pgm(grid)), invitation, `${columns}×${rows}`);
    assert.equal(screen.slice(0, 2).join("").trimEnd(), invitation, "the string first, across the rows");
    assert.match(vt.text(), /Any key/);
  }
  const small = new VirtualTerminal(60, 12);
  small.write(renderInvitation(60, 12, invitation));
  assert.match(small.text(), /too small for the QR code \(it needs \d+×\d+\)/);
  assert.ok(small.lines().join("").includes(invitation.slice(0, 60)));
});
