// Post-quantum chats in the client, against the relay in memory (tests/client/_fake.ts): a new chat is
// PQXDH (its initial message is version 2 with an ML-KEM-1024 ciphertext, and replies carry ML-KEM-768
// ciphertexts in their headers), chat-open and /verify say whether a chat is post-quantum, one-time KEM
// prekeys are made when a keystore has none (one from before PQXDH) and replenished on KemPrekeysLow,
// and each handshake refusal a user can meet is one plain sentence.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { formatId, generateIdentity } from "../../protocol/identity.ts";
import type { KeystoreContents } from "../../protocol/keystore.ts";
import { decodeMessage, encryptedHeaderLength, PROTOCOL_VERSION } from "../../protocol/message.ts";
import { encodePayload } from "../../protocol/payload.ts";
import { MAX_ONE_TIME_KEM_PREKEYS, PrekeyStore } from "../../protocol/prekeys.ts";
import type { ServerFrame } from "../../protocol/wire.ts";
import { runCommand } from "../../client/actions.ts";
import { parseLine } from "../../client/commands.ts";
import { eventToText } from "../../client/events.ts";
import { classicalStore, initiateClassical } from "../protocol/_classical.ts";
import { FakeRelay, newContents, PIN, User, withWorld as sharedWorld } from "./_fake.ts";

const DAY = 86_400_000;

function withWorld(fn: (relay: FakeRelay, alice: User, bob: User, dir: string) => Promise<void>) {
  return sharedWorld("sotto-pq-", fn);
}

async function type(user: User, line: string): Promise<void> {
  await runCommand(user.client, parseLine(line)!);
}

/** The bodies `user` has sent, in order. */
function sentBodies(user: User): Uint8Array[] {
  return user.link!.sent.flatMap((f) => (f.type === "send" ? [f.body] : []));
}

/** The bundles `user` has uploaded, in order. */
function uploads(user: User) {
  return user.link!.requests.flatMap((r) => (r.type === "upload-prekeys" ? [r.bundle] : []));
}

Deno.test("pq: a new chat is PQXDH with KEM ratchet steps, and chat-open and /verify say so", async () => {
  await withWorld(async (relay, alice, bob) => {
    await relay.connect(alice);
    await relay.connect(bob);
    const kemId = bob.store.contents.prekeys.bundle(bob.store.contents.identity.publicKeys)
      .oneTimeKemPrekeys[0].id;
    await type(alice, `/chat ${formatId(bob.id)} bob`);
    await relay.settle();
    await type(bob, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    assert.deepEqual([...alice.of("chat-open"), ...bob.of("chat-open")].map((e) => e.pq), [true, true]);
    assert.match(eventToText(alice.of("chat-open")[0])!, /is open \(P-256, post-quantum\)$/);
    for (const text of ["one", "two", "three"]) {
      await type(alice, text);
      await relay.settle();
      await type(bob, text.toUpperCase());
      await relay.settle();
    }
    assert.deepEqual(bob.of("message").map((m) => m.text), ["one", "two", "three"]);
    assert.deepEqual(alice.of("message").map((m) => m.text), ["ONE", "TWO", "THREE"]);

    // Alice's first message is a version 2 prekey message encapsulated to Bob's one-time KEM prekey.
    const [first, ...later] = sentBodies(alice).map(decodeMessage);
    assert.equal(first.version, PROTOCOL_VERSION);
    assert.equal(first.prekey?.kem?.kind, "one-time");
    assert.equal(first.prekey?.kem?.id, kemId);
    assert.equal(first.prekey?.kem?.cipherText.length, 1568);
    // Once Bob has answered, every message of either side is a KEM step's (a ciphertext in the header).
    const withCipherText = encryptedHeaderLength("P-256", PROTOCOL_VERSION, false);
    const replies = sentBodies(bob).map(decodeMessage);
    const afterReply = later.filter((m) => m.prekey === null);
    assert.ok(afterReply.length >= 2 && replies.length >= 3);
    for (const m of [...afterReply, ...replies]) {
      assert.equal(m.version, PROTOCOL_VERSION);
      assert.equal(m.header.length, withCipherText);
    }
    // The one-time KEM prekey is gone from Bob's store: used once.
    assert.equal(bob.store.contents.prekeys.oneTimeKemCount(), 0);

    await type(alice, "/verify");
    await type(bob, "/verify");
    const [sa, sb] = [alice.of("safety-number")[0], bob.of("safety-number")[0]];
    assert.deepEqual([sa.pq, sb.pq], [true, true]);
    assert.equal(sa.number, sb.number);
    assert.doesNotMatch(eventToText(sa)!, /classical/);

    // A chat whose session is a classical one from before PQXDH says so.
    const chat = alice.client.chat(bob.id)!;
    chat.session = initiateClassical(alice.store.contents.identity, bob.id, bundleOf(bob), {
      curve: "P-256",
    });
    await type(alice, "/verify");
    const classical = alice.of("safety-number")[1];
    assert.equal(classical.pq, false);
    assert.match(eventToText(classical)!, /a classical session: not post-quantum/);
  });
});

function bundleOf(user: User) {
  return user.store.contents.prekeys.bundle(user.store.contents.identity.publicKeys);
}

Deno.test("pq: a keystore from before PQXDH gets its KEM prekeys at login and publishes them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-pq-" });
  const relay = new FakeRelay();
  const identity = generateIdentity();
  const contents: KeystoreContents = {
    ...newContents(),
    identity,
    prekeys: classicalStore(identity, Date.now() - DAY, systemRandom, { curve: "P-256", count: 3 }),
    registered: new Set([PIN]),
  };
  const user = relay.add(new User("carol", join(dir, "carol"), contents));
  try {
    assert.equal(bundleOf(user).kemPrekey, null);
    await relay.connect(user);
    const [bundle] = uploads(user);
    assert.ok(bundle.kemPrekey, "a last-resort KEM prekey");
    assert.equal(bundle.oneTimeKemPrekeys.length, MAX_ONE_TIME_KEM_PREKEYS);
    assert.equal(bundle.oneTimePrekeys["P-256"].length, 3, "the EC ones go along");
    assert.equal(user.store.contents.prekeys.oneTimeKemCount(), MAX_ONE_TIME_KEM_PREKEYS);
    // The next login has nothing to publish.
    relay.disconnect(user);
    await relay.connect(user);
    assert.equal(uploads(user).length, 0);
    assert.deepEqual(relay.errors, []);
  } finally {
    await user.client.shutdown();
    user.files.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pq: KemPrekeysLow makes what the relay lacks, as far as the store has room", async () => {
  await withWorld(async (relay, alice) => {
    await relay.connect(alice);
    const store = alice.store.contents.prekeys;
    assert.equal(store.oneTimeKemCount(), 1);
    const low = (remaining: number): ServerFrame => ({ type: "kem-prekeys-low", remaining });
    // The relay holds none: the store fills up (its one key was handed out and waits for its message).
    await alice.client.frame(low(0));
    await relay.settle();
    assert.equal(store.oneTimeKemCount(), MAX_ONE_TIME_KEM_PREKEYS);
    const [bundle] = uploads(alice);
    assert.equal(bundle.oneTimeKemPrekeys.length, MAX_ONE_TIME_KEM_PREKEYS);
    // Full: nothing more to make, nothing to publish.
    await alice.client.frame(low(5));
    await relay.settle();
    assert.equal(uploads(alice).length, 1);
    assert.equal(store.oneTimeKemCount(), MAX_ONE_TIME_KEM_PREKEYS);
  });
});

Deno.test("pq: a handshake refused is one plain sentence", async () => {
  await withWorld(async (relay, alice, bob, dir) => {
    await relay.connect(alice);
    await relay.connect(bob);
    // Only Alice asks: the frames below stand for the relay's.
    await type(alice, `/chat ${formatId(bob.id)} bob`);
    await relay.settle();
    const opened = (bundle: Extract<ServerFrame, { type: "chat-opened" }>["bundle"]): ServerFrame => ({
      type: "chat-opened",
      eventId: systemRandom(16),
      peerId: bob.id,
      curve: "P-256",
      role: "initiator",
      online: true,
      identity: bob.store.contents.identity.publicKeys,
      bundle,
    });
    // A bundle without a KEM prekey (a relay that strips them, or a peer's client from before PQXDH).
    await alice.client.frame(opened({ ...bundleOf(bob), kemPrekey: null, oneTimeKemPrekeys: [] }));
    // A bundle whose prekeys are 40 days old (its owner has not been online to rotate them).
    const old = PrekeyStore.create(bob.store.contents.identity, Date.now() - 40 * DAY);
    await alice.client.frame(opened(old.bundle(bob.store.contents.identity.publicKeys)));
    await relay.settle();
    const errors = alice.of("error").map((e) => e.message);
    assert.deepEqual(errors, [
      "The chat with bob could not start: their client has no post-quantum (PQXDH) prekeys and must be " +
      "updated; then close the chat and ask again.",
      "The chat with bob could not start: their prekeys have expired because they have not been online for " +
      "over 30 days; close the chat and ask again once they have been.",
    ]);
    assert.equal(alice.client.chat(bob.id)!.session, null);

    // A classical initial message (Carol's client from before PQXDH) for Bob, the responder.
    const carol = relay.add(new User("carol", join(dir, "carol"), newContents()));
    await type(bob, `/chat ${formatId(carol.id)} carol`);
    await relay.settle();
    await bob.client.frame({
      type: "chat-opened",
      eventId: systemRandom(16),
      peerId: carol.id,
      curve: "P-256",
      role: "responder",
      online: true,
      identity: carol.store.contents.identity.publicKeys,
      bundle: null,
    });
    const session = initiateClassical(carol.store.contents.identity, bob.id, bundleOf(bob), {
      curve: "P-256",
    });
    const body = session.encrypt(encodePayload({ type: "text", id: 1, text: "hi" }));
    await bob.client.frame({
      type: "deliver",
      from: carol.id,
      messageId: systemRandom(16),
      queuedAt: 0,
      body,
    });
    await relay.settle();
    assert.deepEqual(bob.of("error").map((e) => e.message), [
      "A message from carol was dropped: their client started the chat the classical way (X3DH, not " +
      "post-quantum), which this client no longer accepts, so they must update it.",
    ]);
    assert.deepEqual(bob.of("message"), []);
  });
});
