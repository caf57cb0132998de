// The client against a relay that lies (issue 14, "Client: trust the relay less"), with the relay in memory
// of tests/client/_fake.ts and frames a malicious relay would make: a ChatOpened the user never asked for,
// for a closed chat or for a blocked ID is refused and acknowledged; a flood of them cannot grow the
// keystore past its limit; an initial message whose handshake names another identity than the sender
// changes nothing; a refused request does not stay "requested" (B6).

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { formatId, generateIdentity } from "../../protocol/identity.ts";
import { encodeContents, MAX_CHATS } from "../../protocol/keystore.ts";
import { encodePayload } from "../../protocol/payload.ts";
import type { ServerFrame } from "../../protocol/wire.ts";
import { initiate } from "../../protocol/x3dh.ts";
import { ChatError, runCommand } from "../../client/actions.ts";
import { parseLine } from "../../client/commands.ts";
import { type FakeRelay, newContents, User, withWorld as sharedWorld } from "./_fake.ts";

function withWorld(fn: (relay: FakeRelay, alice: User, bob: User, dir: string) => Promise<void>) {
  return sharedWorld("sotto-trust-", fn);
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

/** A ChatOpened as a relay would send it, for a peer with `identity` (a stranger's by default). */
function chatOpened(peer = generateIdentity(), role: "initiator" | "responder" = "responder"): ServerFrame {
  return {
    type: "chat-opened",
    eventId: systemRandom(16),
    peerId: peer.id,
    curve: "P-256",
    role,
    online: true,
    identity: peer.publicKeys,
    bundle: role === "initiator" ? newContents(1).prekeys.bundle(peer.publicKeys) : null,
  };
}

/** The ids the user's client acknowledged so far. */
function acked(user: User): string[] {
  return user.link!.sent.flatMap((f) => (f.type === "ack" ? f.ids.map((id) => id.join(",")) : []));
}

Deno.test("trust: a ChatOpened nobody asked for is refused, acknowledged, and closed at the relay", async () => {
  await withWorld(async (relay, alice) => {
    await relay.connect(alice);
    const stranger = generateIdentity();
    for (const role of ["responder", "initiator"] as const) {
      const f = chatOpened(stranger, role);
      await alice.client.frame(f);
      await relay.settle();
      assert.ok(
        f.type === "chat-opened" && acked(alice).includes(f.eventId.join(",")),
        `${role}: acknowledged`,
      );
    }
    assert.equal(alice.client.chats.length, 0, "no chat was made");
    assert.equal(alice.store.contents.outbox.length, 0, "nothing was sent to the stranger");
    assert.deepEqual(alice.of("chat-refused").map((e) => [e.chat, e.reason]), [
      [formatId(stranger.id), "not-asked"],
      [formatId(stranger.id), "not-asked"],
    ]);
    assert.deepEqual(alice.link!.requests.filter((r) => r.type === "close-chat").length, 2);
    assert.equal(alice.of("chat-open").length, 0);
  });
});

Deno.test("trust: a relay cannot reopen a closed chat or open one with a blocked ID", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await type(alice, "/close");
    await alice.client.frame(chatOpened(bob.store.contents.identity, "initiator"));
    assert.equal(alice.client.chat(bob.id)!.state, "closed");
    const carol = relay.add(new User("carol", join(alice.store.dataDir, "..", "carol"), newContents()));
    await relay.connect(carol);
    await type(alice, `/chat ${formatId(carol.id)} carol`);
    await type(alice, `/block ${formatId(carol.id)}`);
    assert.ok(alice.client.isBlocked(carol.id));
    assert.equal(alice.client.chat(carol.id)!.state, "closed");
    await alice.client.frame(chatOpened(carol.store.contents.identity, "responder"));
    await relay.settle();
    assert.equal(alice.client.chat(carol.id)!.state, "closed");
    assert.deepEqual(alice.of("chat-refused").map((e) => e.reason), ["closed", "blocked"]);
    assert.equal(alice.of("chat-open").length, 1, "only the chat with bob ever opened");
    // The block list is in the keystore: it survives a restart.
    assert.deepEqual(alice.store.contents.blocked, [carol.id]);
  });
});

Deno.test(`trust: ${MAX_CHATS + 1} ChatOpened events cannot push the keystore past its chat limit`, async () => {
  await withWorld(async (relay, alice) => {
    await relay.connect(alice);
    const frames = Array.from({ length: MAX_CHATS + 1 }, () => chatOpened());
    for (const f of frames) await alice.client.frame(f);
    await relay.settle();
    assert.equal(alice.client.chats.length, 0);
    // The keystore can still be written (before, the 1,001st chat made every write fail, at every login).
    encodeContents(alice.store.contents);
    assert.equal(new Set(acked(alice)).size, MAX_CHATS + 1, "every event was acknowledged");
  });
});

Deno.test("trust: an initial message whose handshake names another identity than the sender changes nothing", async () => {
  await withWorld(async (relay, alice, bob) => {
    await relay.connect(alice);
    await relay.connect(bob);
    // Alice asks first, so she initiates; she is offline when bob asks, so her first message waits.
    await type(alice, `/chat ${formatId(bob.id)} bob`);
    await relay.settle();
    relay.disconnect(alice);
    await type(bob, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    assert.equal(bob.client.chat(alice.id)!.state, "open");
    // Mallory starts a genuine handshake with bob, on the prekeys the relay gives her (the one-time prekey
    // alice got too), and the relay delivers it to bob as coming from alice.
    const mallory = generateIdentity();
    const bundle = bob.store.contents.prekeys.bundle(bob.store.contents.identity.publicKeys);
    const one = {
      ...bundle,
      oneTimePrekeys: { "P-256": bundle.oneTimePrekeys["P-256"].slice(0, 1), "P-384": [], "P-521": [] },
    };
    const forged = initiate(mallory, bob.id, one, { curve: "P-256", now: Date.now() })
      .encrypt(encodePayload({ type: "text", id: 1, text: "it is me, alice" }));
    const prekeysBefore = bob.store.contents.prekeys.serialize();
    await bob.client.frame({
      type: "deliver",
      from: alice.id,
      messageId: systemRandom(16),
      queuedAt: 0,
      body: forged,
    });
    await relay.settle();
    assert.equal(bob.of("message").filter((m) => m.text === "it is me, alice").length, 0);
    assert.deepEqual(bob.store.contents.prekeys.serialize(), prekeysBefore, "no prekey was used up");
    const error = bob.of("error").find((e) => /could not be read/.test(e.message));
    assert.match(error?.message ?? "", /started by another identity than the sender's/);
    assert.equal(bob.client.chat(alice.id)!.session, null);
    // Alice's own first message, on that same one-time prekey, still opens the session.
    await relay.connect(alice);
    await type(alice, "hello bob");
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["hello bob"]);
    assert.ok(bob.client.chat(alice.id)!.session);
  });
});

Deno.test("B6: /chat with a blocked ID is refused at once; a refused request does not stay requested", async () => {
  await withWorld(async (relay, alice, bob) => {
    await relay.connect(alice);
    await relay.connect(bob);
    await type(alice, `/block ${formatId(bob.id)}`);
    await relay.settle();
    await assert.rejects(
      () => type(alice, `/chat ${formatId(bob.id)} bob`),
      (e) => e instanceof ChatError && /You have blocked .*; \/unblock it first\./.test(e.message),
    );
    assert.equal(alice.client.chat(bob.id), undefined, "no chat waits for bob");
    await type(alice, `/unblock ${formatId(bob.id)}`);
    await relay.settle();
    await type(alice, `/chat ${formatId(bob.id)} bob`);
    await relay.settle();
    assert.equal(alice.client.chat(bob.id)!.state, "requested");
    assert.ok(alice.link!.requests.some((r) => r.type === "request-chat"), "the request went to the relay");
    await type(bob, `/chat ${formatId(alice.id)}`);
    await relay.settle();
    assert.equal(alice.client.chat(bob.id)!.state, "open");

    // A block the relay holds and the keystore does not (a keystore older than the local list): the
    // relay's refusal closes the chat instead of leaving it "requested" forever.
    const carol = relay.add(new User("carol", join(alice.store.dataDir, "..", "carol"), newContents()));
    await relay.connect(carol);
    await type(alice, `/block ${formatId(carol.id)}`);
    await relay.settle();
    alice.client.setBlocked(carol.id, false);
    await type(alice, `/chat ${formatId(carol.id)}`);
    await relay.settle();
    assert.equal(alice.client.chat(carol.id)!.state, "closed");
    assert.match(alice.of("error").at(-1)!.message, /^Asking for the chat failed: you have blocked this ID/);
  });
});
