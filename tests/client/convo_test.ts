// A conversation's everyday features against the relay in memory (tests/client/_fake.ts): quoted
// replies, reactions (one per person, replaced and taken back), edits (own texts only, within the
// limits, earlier versions kept), delete for everyone (a text that never left is only taken back), the
// disappearing-messages timer (both sides agree, also when changes cross), read receipts and typing
// (opt-in), unread markers, verification and the warnings that hold sending, mute, search, /clear,
// /forget and /export.

import assert from "node:assert/strict";
import { join } from "node:path";
import { formatId, generateIdentity } from "../../protocol/identity.ts";
import { MAX_EDITS } from "../../protocol/history.ts";
import { ChatError, runCommand } from "../../client/actions.ts";
import { parseLine } from "../../client/commands.ts";
import { type FakeRelay, newContents, User, withWorld as sharedWorld } from "./_fake.ts";

function withWorld(fn: (relay: FakeRelay, alice: User, bob: User, dir: string) => Promise<void>) {
  return sharedWorld("sotto-convo-", fn);
}

async function type(user: User, line: string): Promise<void> {
  await runCommand(user.client, parseLine(line)!);
}

async function open(relay: FakeRelay, alice: User, bob: User): Promise<void> {
  await relay.connect(alice);
  await relay.connect(bob);
  await type(alice, `/chat ${formatId(bob.id)} bob`);
  await relay.settle();
  await type(bob, `/chat ${formatId(alice.id)} alice`);
  await relay.settle();
}

/** Says, both ways, with the relay settled after each. */
async function say(relay: FakeRelay, user: User, line: string): Promise<void> {
  await type(user, line);
  await relay.settle();
}

function lines(user: User, peer: User) {
  return user.client.chat(peer.id)!.history.filter((h) => h.kind !== "system");
}

Deno.test("convo: a quoted reply names the message on both sides", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await say(relay, alice, "shall we meet at noon?");
    const question = bob.of("message")[0];
    await say(relay, bob, `/reply ${question.line} yes, at the fountain`);
    await say(relay, bob, "/reply ^ and bring the map");
    const answers = alice.of("message");
    assert.deepEqual(answers.map((m) => [m.text, m.reply?.mine, m.reply?.quote]), [
      ["yes, at the fountain", true, "shall we meet at noon?"],
      ["and bring the map", true, "shall we meet at noon?"],
    ]);
    const mine = lines(alice, bob).find((h) => h.kind === "out")!;
    assert.equal(answers[0].reply?.line, mine.seq);
    assert.deepEqual(bob.of("sent").map((e) => e.reply?.line), [question.line, question.line]);
    // A reply to one's own message works too, and a missing line is one sentence.
    await say(relay, alice, `/reply ${mine.seq} (that was a question)`);
    assert.deepEqual(bob.of("message")[1].reply, {
      mine: false,
      id: 1,
      line: question.line,
      quote: "shall we meet at noon?",
    });
    await assert.rejects(() => type(bob, "/reply 999 hm"), /There is no line 999 in alice\./);
  });
});

Deno.test("convo: reactions, one per person, replaced and taken back", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await say(relay, alice, "good news!");
    await say(relay, bob, "/react 🎉");
    await say(relay, alice, `/react ${lines(alice, bob)[0].seq} 👍`);
    const line = () => lines(alice, bob)[0];
    assert.deepEqual([line().myReaction, line().peerReaction], ["👍", "🎉"]);
    await say(relay, bob, "/react ❤️");
    assert.equal(line().peerReaction, "❤️");
    assert.deepEqual(
      alice.of("reaction").map((e) => [e.by, e.emoji, e.target.mine]),
      [["peer", "🎉", true], ["you", "👍", true], ["peer", "❤️", true]],
    );
    await say(relay, bob, "/react -");
    assert.equal(line().peerReaction, "");
    assert.equal(lines(bob, alice)[0].myReaction, "");
    await assert.rejects(() => type(bob, "/react nope"), /one emoji/);
  });
});

Deno.test("convo: edits change own texts only, within the limits, keeping earlier versions", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await say(relay, alice, "see you at 5");
    await say(relay, alice, "/edit see you at 6");
    const theirs = () => lines(bob, alice)[0];
    assert.equal(theirs().text, "see you at 6");
    assert.deepEqual(theirs().versions.map((v) => v.text), ["see you at 5"]);
    assert.deepEqual(bob.of("edited").map((e) => [e.text, e.mine, e.edits]), [["see you at 6", false, 1]]);
    assert.deepEqual(lines(alice, bob)[0].versions.map((v) => v.text), ["see you at 5"]);
    // Bob cannot edit alice's text.
    await assert.rejects(() => type(bob, `/edit ${theirs().seq} hacked`), /only your own texts/);
    for (let i = 2; i <= MAX_EDITS; i++) await say(relay, alice, `/edit see you at ${5 + i}`);
    await assert.rejects(() => type(alice, "/edit one more"), /10 times at most/);
    assert.equal(theirs().versions.length, MAX_EDITS);
    assert.equal(theirs().text, "see you at 15");
    // 24 hours later: refused here; a modified client's late edit is refused there.
    lines(alice, bob)[0].time -= 25 * 3600_000;
    lines(alice, bob)[0].versions = [];
    await assert.rejects(() => type(alice, "/edit too late"), /24 hours/);
    await say(relay, alice, "another");
    lines(bob, alice)[1].time -= 25 * 3600_000;
    await say(relay, alice, "/edit another one");
    assert.equal(lines(bob, alice)[1].text, "another");
    assert.ok(
      bob.client.chat(alice.id)!.history.some((h) => /tried to change line .* after the limit/.test(h.text)),
    );
  });
});

Deno.test("convo: delete for everyone; a text that never left is only taken back", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await say(relay, alice, "oops, wrong chat");
    await say(relay, bob, "/react 😮");
    await say(relay, alice, "/delete");
    const theirs = lines(bob, alice)[0];
    assert.deepEqual([theirs.deleted, theirs.text, theirs.peerReaction, theirs.myReaction], [
      true,
      "",
      "",
      "",
    ]);
    assert.equal(lines(alice, bob)[0].deleted, true);
    assert.deepEqual(bob.of("deleted").map((e) => [e.mine, e.id]), [[false, 1]]);
    await assert.rejects(() => type(bob, `/delete ${theirs.seq}`), /only your own texts/);
    // Offline: the text waits in alice's queue, and deleting it takes it back before it ever leaves.
    relay.disconnect(alice);
    await type(alice, "never mind this");
    assert.equal(alice.store.contents.outbox.length, 1);
    await type(alice, "/delete");
    assert.equal(alice.store.contents.outbox.length, 0, "nothing goes, not even a delete");
    await relay.connect(alice);
    await say(relay, alice, "and this one stays");
    assert.deepEqual(bob.of("message").map((m) => m.text), ["oops, wrong chat", "and this one stays"]);
  });
});

Deno.test("convo: the timer is shared; messages carry theirs, lapse on both sides and leave the history", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await say(relay, alice, "/timer 30s");
    assert.equal(bob.client.chat(alice.id)!.timer, 30);
    assert.deepEqual(bob.of("timer").map((e) => [e.seconds, e.by]), [[30, "peer"]]);
    assert.ok(
      bob.client.chat(alice.id)!.history.some((h) =>
        h.text === "alice set disappearing messages to 30 seconds"
      ),
    );
    await say(relay, alice, "this will vanish");
    const got = bob.of("message")[0];
    assert.equal(got.ttl, 30);
    // The timer changes while a message is on its way: the message keeps its own.
    relay.disconnect(bob);
    await type(alice, "in flight");
    await type(alice, "/timer off");
    await relay.connect(bob);
    assert.equal(bob.of("message")[1].ttl, 30);
    assert.equal(bob.client.chat(alice.id)!.timer, 0);
    // Time passes: the sweep removes the lapsed lines on both sides, says so, and writes it down.
    for (const u of [alice, bob]) {
      for (const h of u.client.chat(u === alice ? bob.id : alice.id)!.history) {
        if (h.expiresAt) h.expiresAt = Date.now() - 1;
      }
      await u.client.run(() => u.client.sweep());
    }
    assert.deepEqual(lines(bob, alice).map((h) => h.text), []);
    assert.deepEqual(lines(alice, bob).map((h) => h.text), []);
    assert.deepEqual(bob.of("expired").map((e) => e.lines.length), [2]);
    await say(relay, alice, "this one stays");
    assert.equal(bob.of("message")[2].ttl, undefined);
    await assert.rejects(() => type(alice, "/timer 10s"), /30s/);
  });
});

Deno.test("convo: timer changes that cross end the same on both sides", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    relay.disconnect(alice);
    relay.disconnect(bob);
    await type(alice, "/timer 1h");
    await type(bob, "/timer 1d");
    await relay.connect(alice);
    await relay.connect(bob);
    await relay.settle();
    const a = alice.client.chat(bob.id)!, b = bob.client.chat(alice.id)!;
    assert.equal(a.timer, b.timer, "both agree");
    assert.equal(a.timerEpoch, b.timerEpoch);
    // The tie-break: the change of the side with the lower ID stands.
    const aliceLower = formatId(alice.id).localeCompare(formatId(bob.id)) < 0;
    assert.equal(a.timer, aliceLower ? 3600 : 86400);
  });
});

Deno.test("convo: read receipts and typing are opt-in, shown only to those who send them", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await say(relay, alice, "first");
    assert.equal(lines(alice, bob)[0].status, "delivered", "no read mark while bob has not opted in");
    await say(relay, alice, "/set read-receipts on");
    await say(relay, bob, "/set read-receipts on");
    assert.deepEqual(bob.of("setting").map((e) => [e.name, e.value]), [["read-receipts", "on"]]);
    await say(relay, alice, "second");
    // Bob's chat with alice is on screen: read at once.
    assert.deepEqual(alice.of("read").map((e) => e.id), [2]);
    assert.equal(lines(alice, bob)[1].status, "read");
    assert.equal(lines(alice, bob)[0].status, "delivered", "no receipt for what was read before opting in");
    // Typing: nothing unless both opted in; then "typing", at most every 5 s, and never stale.
    bob.client.typing(bob.client.chat(alice.id)!);
    await relay.settle();
    assert.equal(alice.of("typing").length, 0);
    await say(relay, alice, "/set typing on");
    await say(relay, bob, "/set typing on");
    bob.client.typing(bob.client.chat(alice.id)!);
    bob.client.typing(bob.client.chat(alice.id)!);
    await relay.settle();
    assert.deepEqual(alice.of("typing").map((e) => e.typing), [true]);
    await say(relay, bob, "done typing");
    await assert.rejects(() => type(bob, "/set typing maybe"), /typing takes on\|off/);
  });
});

Deno.test("convo: the unread marker is where the unread messages start; /history and /unread replay", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    // Bob asks for a chat with someone else: that one is on his screen now.
    await type(bob, `/chat ${formatId(generateIdentity().id)} carol`);
    await say(relay, alice, "one");
    await say(relay, alice, "two");
    const chat = bob.client.chat(alice.id)!;
    assert.equal(chat.unread, 2);
    await type(bob, "/switch alice");
    const marker = bob.of("unread")[0];
    assert.deepEqual([marker.count, marker.line], [2, lines(bob, alice)[0].seq]);
    assert.equal(chat.unread, 0);
    await type(bob, "/unread");
    assert.deepEqual(bob.of("history").map((e) => e.text), ["one", "two"]);
    await type(bob, "/history 1");
    assert.deepEqual(bob.of("history").map((e) => e.text), ["one", "two", "two"]);
    await say(relay, bob, "hi");
    await type(bob, "/unread");
    assert.match(bob.of("info").at(-1)!.text, /Nothing unread/);
  });
});

Deno.test("convo: /verify ok marks the chat; a verified name given to another ID holds sending", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await say(relay, alice, "/verify ok");
    assert.deepEqual(alice.of("verified").map((e) => e.verified), [true]);
    await type(alice, "/verify");
    assert.equal(alice.of("safety-number")[0].verified, true);
    // "bob" now points at someone else: the new chat is held, loudly.
    const mallory = relay.add(new User("mallory", join(alice.store.dataDir, "..", "mallory"), newContents()));
    await relay.connect(mallory);
    await type(alice, `/chat ${formatId(bob.id)} robert`);
    await type(alice, `/chat ${formatId(mallory.id)} robert`);
    const warning = alice.of("identity-changed")[0];
    assert.deepEqual([warning.reason, warning.other], ["name-moved", formatId(bob.id)]);
    await type(mallory, `/chat ${formatId(alice.id)}`);
    await relay.settle();
    await assert.rejects(
      () => type(alice, "hello robert"),
      (e) => e instanceof ChatError && /is held/.test(e.message),
    );
    await type(alice, "/verify accept");
    await say(relay, alice, "hello robert");
    assert.deepEqual(mallory.of("message").map((m) => m.text), ["hello robert"]);
    // Keys that differ from the verified ones (an ID is the hash of its keys, so a relay cannot make
    // this happen; it is checked all the same wherever keys arrive).
    const chat = alice.client.chat(bob.id)!;
    chat.verified = new Uint8Array(32);
    chat.state = "requested";
    await alice.client.frame({
      type: "chat-opened",
      eventId: new Uint8Array(16),
      peerId: bob.id,
      role: "responder",
      curve: "P-256",
      online: true,
      identity: bob.store.contents.identity.publicKeys,
      bundle: null,
    });
    assert.equal(alice.of("identity-changed").at(-1)!.reason, "keys");
    await type(alice, `/switch ${formatId(bob.id)}`);
    await assert.rejects(() => type(alice, "still you?"), /identity keys differ from the ones you verified/);
    await type(alice, "/verify ok");
    assert.equal(chat.warning, "none");
  });
});

Deno.test("convo: mute, search in a chat and across chats, /clear, /export and /forget", async () => {
  await withWorld(async (relay, alice, bob, dir) => {
    await open(relay, alice, bob);
    await say(relay, alice, "the Café is open");
    await say(relay, bob, "which CAFÉ?");
    await say(relay, alice, "/mute");
    assert.equal(alice.client.chat(bob.id)!.muted, true);
    await type(alice, "/search café");
    assert.deepEqual(alice.of("found").map((e) => [e.from, e.text]), [["you", "the Café is open"], [
      "peer",
      "which CAFÉ?",
    ]]);
    await type(alice, "/search -a nothing like it");
    assert.match(alice.of("info").at(-1)!.text, /is not in your chats/);
    const path = join(dir, "export.txt");
    await type(alice, `/export ${path}`);
    const text = await Deno.readTextFile(path);
    assert.match(text, /^sotto: the chat with bob \(/);
    assert.match(text, /#\d+ you: the Café is open\n {4}delivered/);
    assert.match(text, /#\d+ bob: which CAFÉ\?/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await assert.rejects(() => type(alice, `/export ${path}`), /exists already/);
    await type(alice, "/clear");
    assert.equal(alice.of("cleared")[0].scope, "screen");
    assert.equal(lines(alice, bob).length, 2, "the screen only");
    await type(alice, "/clear history");
    assert.equal(alice.client.chat(bob.id)!.history.length, 0);
    await assert.rejects(() => type(alice, "/forget"), /Close the chat with bob first/);
    await say(relay, alice, "/close");
    await type(alice, "/forget bob");
    assert.equal(alice.client.chat(bob.id), undefined);
    assert.equal(alice.of("forgotten").length, 1);
  });
});
