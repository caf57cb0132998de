// Invitations in the web UI, in a real headless Chromium (tests/client/web/_cdp.ts) with two clients
// started with --web through a real relay: alice's Invite shows her invitation and a QR code that zbarimg
// reads back from a screenshot of the page; bob pastes it into New chat (a mistyped copy first, refused
// with its sentence under the field) and the chat with alice is asked for; when she asks back it opens.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientProcess, RelayProcess } from "../../../client/driver.ts";
import type { ClientEvent } from "../../../client/events.ts";
import { parseInvitation } from "../../../protocol/invite.ts";
import { parseId } from "../../../protocol/identity.ts";
import { peerMissing, requirePeer } from "../../_peers.ts";
import { Browser } from "./_cdp.ts";

type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;

async function next<K extends ClientEvent["event"]>(c: ClientProcess, kind: K): Promise<Ev<K>> {
  return await c.waitFor((e) => e.event === kind, kind, 60_000) as Ev<K>;
}

const js = (v: unknown) => JSON.stringify(v);

Deno.test({
  name: "web UI: Invite shows the invitation and its QR code; New chat takes an invitation",
  ignore: peerMissing("chromium") || peerMissing("zbarimg"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-web-invite-" });
  const relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  let browser: Browser | null = null;
  try {
    const start = (name: string) => {
      const c = ClientProcess.start({
        dataDir: join(root, name),
        port: relay.port,
        pin: relay.pin,
        passphrase: `${name} passphrase`,
        extraArgs: ["--web"],
      });
      clients.push(c);
      return c;
    };
    const alice = start("alice"), bob = start("bob");
    const [ra, rb] = await Promise.all([next(alice, "ready"), next(bob, "ready")]);
    const [wa, wb] = await Promise.all([next(alice, "web"), next(bob, "web")]);
    browser = await Browser.start(join(root, "downloads"));
    const [a, b] = await Promise.all([browser.tab(), browser.tab()]);
    await Promise.all([a.view(1280, 900), b.view(1280, 900)]);
    await Promise.all([a.navigate(wa.url), b.navigate(wb.url)]);
    for (const tab of [a, b]) {
      await tab.waitFor(`document.getElementById("conn").dataset.state === "online"`, "online");
    }

    await a.click("#invite");
    await a.waitFor(`document.getElementById("invite-dialog").open`, "the invitation's dialog");
    const invitation = await a.eval<string>(`document.getElementById("invitation").textContent`);
    assert.deepEqual(parseInvitation(invitation), {
      host: "127.0.0.1",
      port: relay.port,
      pin: relay.pin,
      id: parseId(ra.id),
    });
    assert.match(
      await a.eval<string>(`document.getElementById("invite-note").textContent`),
      /names 127\.0\.0\.1, which reaches the relay from this machine only/,
    );
    const shot = join(root, "invite.png");
    await a.screenshot(shot);
    const read = await new Deno.Command(requirePeer("zbarimg"), {
      args: ["-q", "--raw", "-Sbinary", shot],
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.equal(new TextDecoder().decode(read.stdout), invitation, "zbarimg reads the page's QR code");
    await a.key("Escape");
    await a.waitFor(`!document.getElementById("invite-dialog").open`, "Escape closes it");

    // Bob pastes it as a new chat; a copy with one character changed is refused first, in one sentence.
    const at = invitation.length - 3;
    const typo = invitation.slice(0, at) + (invitation[at] === "a" ? "b" : "a") + invitation.slice(at + 1);
    await b.click("#new-chat");
    await b.waitFor(`document.getElementById("new-chat-dialog").open`, "the new-chat dialog");
    const submit = (peer: string) =>
      b.eval(`(() => {
        document.getElementById("peer-id").value = ${js(peer)};
        document.getElementById("peer-nick").value = "Alice";
        document.getElementById("new-chat-form").requestSubmit();
      })()`);
    await submit(typo);
    await b.waitFor(
      `document.getElementById("new-chat-error").textContent.includes("checksum does not match")`,
      "the typo's sentence",
    );
    assert.match(
      await b.eval<string>(`document.getElementById("new-chat-error").textContent`),
      /^That invitation's checksum does not match: it was probably mistyped or cut short; copy it again\.$/,
    );
    await submit(`  ${invitation}\n`);
    await b.waitFor(`!document.getElementById("new-chat-dialog").open`, "the dialog closes");
    await b.waitFor(
      `document.querySelector('.chat-item[data-id="${ra.id}"]')?.dataset.state === "requested"`,
      "bob's request, in the list under alice's ID",
    );
    assert.deepEqual(await next(bob, "chat-requested"), {
      event: "chat-requested",
      chat: ra.id,
      nick: "Alice",
    });
    await alice.send(`/chat ${rb.id} bob`);
    await Promise.all([next(alice, "chat-open"), next(bob, "chat-open")]);
    for (const tab of [a, b]) {
      assert.deepEqual(tab.dialogs, []);
      assert.deepEqual(tab.errors, []);
    }
  } finally {
    await browser?.close();
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
});
