// The scenario tests of issue 4, one per case: basic exchange, out of order, lost, duplicates, a jump
// over the limit, a bad signed-prekey signature, no one-time prekey, failed decryption leaving the state
// byte-identical, simultaneous initiation, a message for someone else, tampered header and body, a
// replayed initial message, and a session serialised, restored and continued. Mostly on P-521 (the
// default curve); the long ones on P-256.
import assert from "node:assert/strict";
import { equalBytes } from "../../crypto/bytes.ts";
import { decodeBundle, encodeBundle, type PrekeyBundle, PrekeyStore } from "../../protocol/prekeys.ts";
import { MAX_SKIP, Session } from "../../protocol/ratchet.ts";
import { HEADER_NONCE_BYTES } from "../../protocol/message.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { initiate, preferOwnInitiation, respond } from "../../protocol/x3dh.ts";
import { flip, makePair, rejects, str, T0, text, throwsCode } from "./_helpers.ts";

Deno.test("scenario: basic exchange both ways", () => {
  const { alice, bob } = makePair("P-521");
  for (let round = 0; round < 3; round++) {
    assert.equal(str(bob.decrypt(alice.encrypt(text(`a${round}`)))), `a${round}`);
    assert.equal(str(bob.decrypt(alice.encrypt(text(`a${round}'`)))), `a${round}'`);
    assert.equal(str(alice.decrypt(bob.encrypt(text(`b${round}`)))), `b${round}`);
  }
  assert.equal(alice.awaitingReply, false);
  assert.equal(str(bob.decrypt(alice.encrypt(new Uint8Array(0)))), "");
});

Deno.test("scenario: out of order", () => {
  const { alice, bob } = makePair("P-521");
  const a = [0, 1, 2, 3].map((i) => alice.encrypt(text(`a${i}`)));
  for (const i of [2, 0, 3, 1]) assert.equal(str(bob.decrypt(a[i])), `a${i}`);
  // Across a DH ratchet step: Bob's reply, Alice's new chain arrives before the end of her old one.
  const old = alice.encrypt(text("old chain"));
  alice.decrypt(bob.encrypt(text("b")));
  const fresh = alice.encrypt(text("new chain"));
  assert.equal(str(bob.decrypt(fresh)), "new chain");
  assert.equal(str(bob.decrypt(old)), "old chain");
  assert.equal(bob.skippedKeyCount, 0);
});

Deno.test("scenario: lost messages", () => {
  const { alice, bob } = makePair("P-521");
  alice.encrypt(text("lost 1"));
  alice.encrypt(text("lost 2"));
  assert.equal(str(bob.decrypt(alice.encrypt(text("arrives")))), "arrives");
  assert.equal(bob.skippedKeyCount, 2);
  bob.encrypt(text("lost reply"));
  assert.equal(str(alice.decrypt(bob.encrypt(text("second reply")))), "second reply");
  assert.equal(str(bob.decrypt(alice.encrypt(text("still fine")))), "still fine");
});

Deno.test("scenario: duplicates", () => {
  const { alice, bob } = makePair("P-521");
  const m = alice.encrypt(text("once"));
  assert.equal(str(bob.decrypt(m)), "once");
  rejects(bob, m, "duplicate");
  // A duplicate of a message that was decrypted from a skipped key.
  const late = alice.encrypt(text("late")), early = alice.encrypt(text("early"));
  bob.decrypt(early);
  assert.equal(str(bob.decrypt(late)), "late");
  rejects(bob, late, "duplicate");
  rejects(bob, early, "duplicate");
});

Deno.test("scenario: a jump over the limit is refused", () => {
  const { alice, bob } = makePair("P-256");
  // Bob has read message 0 of Alice's chain; message n needs n − 1 skipped keys.
  const messages = Array.from({ length: MAX_SKIP + 2 }, (_, i) => alice.encrypt(text(`m${i + 1}`)));
  rejects(bob, messages[MAX_SKIP + 1], "too-many-skipped"); // n = MAX_SKIP + 2: MAX_SKIP + 1 to skip
  assert.equal(str(bob.decrypt(messages[MAX_SKIP])), `m${MAX_SKIP + 1}`); // exactly MAX_SKIP skipped
  assert.equal(bob.skippedKeyCount, MAX_SKIP);
  assert.equal(str(bob.decrypt(messages[0])), "m1");
  assert.equal(str(bob.decrypt(messages[MAX_SKIP + 1])), `m${MAX_SKIP + 2}`);
});

Deno.test("scenario: a bad signed-prekey signature aborts", () => {
  const a = generateIdentity(), b = generateIdentity();
  const store = PrekeyStore.create(b, T0);
  const good = store.bundle(b.publicKeys);
  for (const curve of ["P-256", "P-384", "P-521"] as const) {
    const spk = good.signedPrekeys[curve];
    const tampered: PrekeyBundle[] = [
      {
        ...good,
        signedPrekeys: { ...good.signedPrekeys, [curve]: { ...spk, signature: flip(spk.signature, 5) } },
      },
      { ...good, signedPrekeys: { ...good.signedPrekeys, [curve]: { ...spk, id: spk.id + 1 } } },
      {
        ...good,
        signedPrekeys: { ...good.signedPrekeys, [curve]: { ...spk, createdAt: spk.createdAt + 1 } },
      },
      // Another key of Bob's, validly encoded, with the original signature.
      {
        ...good,
        signedPrekeys: { ...good.signedPrekeys, [curve]: { ...spk, publicKey: b.publicKeys[curve].dh } },
      },
    ];
    for (const bundle of tampered) {
      throwsCode(
        () => initiate(a, b.id, decodeBundle(encodeBundle(bundle)), { now: T0, curve }),
        "bad-signature",
      );
    }
  }
  // A signature by someone else's identity key is just as bad.
  const mallory = generateIdentity();
  const forged = PrekeyStore.create(mallory, T0).bundle(mallory.publicKeys);
  throwsCode(
    () => initiate(a, b.id, { ...good, signedPrekeys: forged.signedPrekeys }, { now: T0, curve: "P-521" }),
    "bad-signature",
  );
});

Deno.test("scenario: no one-time prekey", () => {
  const { alice, bob, store } = makePair("P-521", { oneTime: false });
  assert.equal(store.oneTimeCount("P-521"), 0);
  assert.equal(str(alice.decrypt(bob.encrypt(text("reply")))), "reply");
  assert.equal(str(bob.decrypt(alice.encrypt(text("ok")))), "ok");
});

Deno.test("scenario: failed decryption leaves the state byte-identical", () => {
  const { alice, bob } = makePair("P-521");
  const skippedOne = alice.encrypt(text("skipped"));
  bob.decrypt(alice.encrypt(text("delivered")));
  const next = alice.encrypt(text("next"));
  const reply = bob.encrypt(text("reply"));
  // Every byte of two messages (a current-chain one, and one that would start a DH ratchet step).
  for (const [receiver, m] of [[bob, next], [alice, reply]] as const) {
    for (let i = 0; i < m.length; i++) {
      rejects(receiver, flip(m, i, i % 8), ["undecryptable", "malformed", "unsupported", "new-session"]);
    }
  }
  // A forged body under a valid header would have advanced the chain in the original; not here.
  rejects(bob, flip(skippedOne, skippedOne.length - 1), "undecryptable");
  assert.equal(str(bob.decrypt(next)), "next");
  assert.equal(str(bob.decrypt(skippedOne)), "skipped");
  assert.equal(str(alice.decrypt(reply)), "reply");
});

Deno.test("scenario: both sides initiating at once", () => {
  const a = generateIdentity(), b = generateIdentity();
  const storeA = PrekeyStore.create(a, T0), storeB = PrekeyStore.create(b, T0);
  storeA.addOneTimePrekeys("P-521", 1);
  storeB.addOneTimePrekeys("P-521", 1);
  const fromA = initiate(a, b.id, storeB.bundle(b.publicKeys), { now: T0 });
  const fromB = initiate(b, a.id, storeA.bundle(a.publicKeys), { now: T0 });
  const mA = fromA.encrypt(text("A asks")), mB = fromB.encrypt(text("B asks"));
  // Each side sees the other's initial message; it belongs to a handshake other than its own.
  throwsCode(() => fromA.decrypt(mB), "new-session");
  throwsCode(() => fromB.decrypt(mA), "new-session");
  // The rule is symmetric: exactly one side keeps its own initiation.
  assert.notEqual(preferOwnInitiation(a.id, b.id), preferOwnInitiation(b.id, a.id));
  const aWins = preferOwnInitiation(a.id, b.id);
  const [winner, winnerMsg, loserId, loserStore, loserText] = aWins
    ? [fromA, mA, b, storeB, "B asks"]
    : [fromB, mB, a, storeA, "A asks"];
  const { session: loser, plaintext } = respond(loserId, loserStore, winnerMsg, { now: T0 });
  assert.equal(str(plaintext), aWins ? "A asks" : "B asks");
  // The loser re-sends what it had sent on its dropped session.
  assert.equal(str(winner.decrypt(loser.encrypt(text(loserText)))), loserText);
  assert.equal(str(loser.decrypt(winner.encrypt(text("both agree")))), "both agree");
  assert.equal(str(winner.decrypt(loser.encrypt(text("yes")))), "yes");
});

Deno.test("scenario: a message for someone else", () => {
  const ab = makePair("P-521"), cd = makePair("P-521");
  cd.alice.decrypt(cd.bob.encrypt(text("reply")));
  // A ratchet message of another chat.
  rejects(ab.bob, cd.alice.encrypt(text("for Dave")), "undecryptable");
  rejects(ab.alice, cd.bob.encrypt(text("for Carol")), "undecryptable");
  // An initial message addressed to Dave, handed to Bob.
  const toDave = initiate(cd.a, cd.b.id, PrekeyStore.create(cd.b, T0).bundle(cd.b.publicKeys), { now: T0 });
  const before = ab.store.serialize();
  throwsCode(() => respond(ab.b, ab.store, toDave.encrypt(text("hi Dave")), { now: T0 }), "wrong-recipient");
  assert.ok(equalBytes(before, ab.store.serialize()));
  // A session on another curve cannot even parse the header.
  const other = makePair("P-256");
  other.alice.decrypt(other.bob.encrypt(text("reply")));
  rejects(ab.bob, other.alice.encrypt(text("P-256")), "undecryptable");
  assert.equal(str(ab.bob.decrypt(ab.alice.encrypt(text("still mine")))), "still mine");
});

Deno.test("scenario: a tampered header", () => {
  const { alice, bob } = makePair("P-521");
  alice.decrypt(bob.encrypt(text("reply"))); // from now on Alice sends plain ratchet messages
  const m = alice.encrypt(text("header"));
  const headerStart = m.length - 16 - 64 - (HEADER_NONCE_BYTES + 133 + 8 + 16); // ratchet kind, 64-byte body
  for (let i = headerStart; i < headerStart + HEADER_NONCE_BYTES + 133 + 8 + 16; i += 7) {
    rejects(bob, flip(m, i, 3), "undecryptable");
  }
  rejects(bob, flip(m, 2), "malformed"); // the header's length
  assert.equal(str(bob.decrypt(m)), "header");
});

Deno.test("scenario: a tampered body", () => {
  const { alice, bob } = makePair("P-521", { cipher: "ChaCha20-Poly1305" });
  const m = alice.encrypt(text("body"));
  for (let i = m.length - 80; i < m.length; i++) rejects(bob, flip(m, i, 5), "undecryptable");
  rejects(bob, m.slice(0, m.length - 1), "malformed"); // no longer a padded length
  assert.equal(str(bob.decrypt(m)), "body");
});

Deno.test("scenario: a replayed initial message", () => {
  for (const oneTime of [true, false]) {
    const a = generateIdentity(), b = generateIdentity();
    const store = PrekeyStore.create(b, T0);
    store.addOneTimePrekeys("P-521", 2);
    const alice = initiate(
      a,
      b.id,
      oneTime ? store.bundle(b.publicKeys) : noOneTime(store.bundle(b.publicKeys)),
      { now: T0 },
    );
    const first = alice.encrypt(text("first"));
    const second = alice.encrypt(text("second")); // also carries the prekey header
    const { session: bob } = respond(b, store, first, { now: T0 });
    assert.equal(store.oneTimeCount("P-521"), oneTime ? 1 : 2);
    const stored = store.serialize();
    // Neither the same message nor a later one of the same handshake opens a second session.
    throwsCode(() => respond(b, store, first, { now: T0 }), "replay");
    throwsCode(() => respond(b, store, second, { now: T0 }), "replay");
    // Nor after the store was saved and restored.
    throwsCode(() => respond(b, PrekeyStore.deserialize(stored), first, { now: T0 }), "replay");
    assert.ok(equalBytes(stored, store.serialize()));
    // The existing session knows the first one and reads the second.
    rejects(bob, first, "duplicate");
    assert.equal(str(bob.decrypt(second)), "second");
  }
});

Deno.test("scenario: a session serialised, restored and continued", () => {
  const { alice, bob } = makePair("P-521");
  const pending = [alice.encrypt(text("p0")), alice.encrypt(text("p1"))];
  bob.decrypt(alice.encrypt(text("p2")));
  const bytesA = alice.serialize(), bytesB = bob.serialize();
  const alice2 = Session.deserialize(bytesA), bob2 = Session.deserialize(bytesB);
  assert.ok(equalBytes(alice2.serialize(), bytesA));
  assert.ok(equalBytes(bob2.serialize(), bytesB));
  assert.equal(bob2.skippedKeyCount, 2);
  assert.equal(str(bob2.decrypt(pending[1])), "p1");
  assert.equal(str(alice2.decrypt(bob2.encrypt(text("reply")))), "reply");
  assert.equal(str(bob2.decrypt(alice2.encrypt(text("after")))), "after");
  assert.equal(str(bob2.decrypt(pending[0])), "p0");
  // The restored pair and the original pair are the same state machine: both read what the other sends.
  const again = alice.encrypt(text("from the original"));
  assert.equal(str(Session.deserialize(bytesB).decrypt(again)), "from the original");
});

function noOneTime(bundle: PrekeyBundle): PrekeyBundle {
  return { ...bundle, oneTimePrekeys: { "P-256": [], "P-384": [], "P-521": [] } };
}
