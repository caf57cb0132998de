// The ratchet's KEM steps (session version 2) and the classical sessions it replaces (version 1): every
// sending chain carries a fresh ML-KEM-768 key and, after the first, a ciphertext to the peer's latest;
// post-quantum healing against an attacker who knows every DH secret; version 1 sessions still decode,
// run and serialise as before; the session decoder's version 2 invariants.
import assert from "node:assert/strict";
import { equalBytes, type RandomSource } from "../../crypto/bytes.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { decodeMessage } from "../../protocol/message.ts";
import { PrekeyStore } from "../../protocol/prekeys.ts";
import { Session } from "../../protocol/ratchet.ts";
import { CURVES } from "../../protocol/suite.ts";
import { initiate, respond } from "../../protocol/x3dh.ts";
import { classicalStore, initiateClassical, respondClassical } from "./_classical.ts";
import { makePair, rejects, seededRandom, str, T0, text, throwsCode } from "./_helpers.ts";

/** A copy of `session` that records the header plaintext of each message it encrypts. */
function headersOf(session: Session): { copy: Session; plain: Uint8Array[] } {
  const plain: Uint8Array[] = [];
  const copy = Session.deserialize(session.serialize(), {
    trace: (label, v) => label === "header.plain" && plain.push(v.slice()),
  });
  return { copy, plain };
}

Deno.test("KEM steps: each sending chain carries a fresh ML-KEM-768 key and a ciphertext to the peer's latest", () => {
  for (const curve of CURVES) {
    const L = 2 * ({ "P-256": 32, "P-384": 48, "P-521": 66 })[curve] + 1;
    const { alice, bob } = makePair(curve);
    // Alice's first chain: her KEM key, no ciphertext (SK already holds PQXDH's KEM secret).
    const a0 = headersOf(alice);
    a0.copy.encrypt(text("x"));
    a0.copy.encrypt(text("y"));
    assert.equal(a0.plain[0].length, L + 8 + 1184);
    const aliceKey1 = a0.plain[0].subarray(L + 8);
    assert.ok(equalBytes(aliceKey1, a0.plain[1].subarray(L + 8)), "one KEM key per chain");
    // Bob's chain: his own new key and a ciphertext to Alice's key.
    const b1 = headersOf(bob);
    const reply = b1.copy.encrypt(text("reply"));
    assert.equal(b1.plain[0].length, L + 8 + 1184 + 1088);
    const bobKey1 = b1.plain[0].subarray(L + 8, L + 8 + 1184);
    assert.equal(str(alice.decrypt(reply)), "reply");
    // Alice's second chain: a new key of hers and a ciphertext to Bob's.
    const a2 = headersOf(alice);
    const m = a2.copy.encrypt(text("second chain"));
    const aliceKey2 = a2.plain[0].subarray(L + 8, L + 8 + 1184);
    assert.ok(!equalBytes(aliceKey1, aliceKey2) && !equalBytes(aliceKey2, bobKey1));
    assert.equal(a2.plain[0].length, L + 8 + 1184 + 1088);
    assert.equal(str(b1.copy.decrypt(m)), "second chain");
  }
});

/**
 * A random source that gives the same bytes as `inner` except for the KEM draws (a 64-byte key seed and
 * a 32-byte encapsulation message), which it replaces: with it, a copy of a session makes the same DH
 * keys as the original but different KEM keys and ciphertexts. That is what an attacker with a quantum
 * computer gets: every DH secret (from the public keys), never a KEM secret.
 */
function sameDhOtherKem(inner: RandomSource): RandomSource {
  return (n) => {
    const v = inner(n);
    return n === 64 || n === 32 ? v.map((b) => b ^ 0x5a) : v;
  };
}

Deno.test("post-quantum healing: a thief with Bob's state and every DH secret is locked out after a round trip", () => {
  // P-521 draws 66-byte scalars and 24-byte nonces, so the KEM draws (64, 32) are told apart by size.
  const run = (pq: boolean) => {
    const random = seededRandom(`healing ${pq}`);
    const a = generateIdentity(random), b = generateIdentity(random);
    let alice: Session, bob: Session;
    if (pq) {
      const store = PrekeyStore.create(b, T0, random);
      alice = initiate(a, b.id, store.bundle(b.publicKeys), { now: T0, random });
      bob = respond(b, store, alice.encrypt(text("hi")), { now: T0, random }).session;
    } else {
      const store = classicalStore(b, T0, random);
      alice = initiateClassical(a, b.id, store.bundle(b.publicKeys), { random });
      bob = respondClassical(b, store, alice.encrypt(text("hi")), { now: T0, random }).session;
    }
    alice.decrypt(bob.encrypt(text("reply")));
    // The theft: Bob's whole state, and from now on every DH secret Bob makes (the same draws).
    const bobRandom = seededRandom("bob from now on"),
      thiefRandom = sameDhOtherKem(seededRandom("bob from now on"));
    const state = bob.serialize();
    bob = Session.deserialize(state, { random: bobRandom });
    const thief = Session.deserialize(state, { random: thiefRandom });
    // Alice's next chain is to Bob's stolen keys: the thief reads it (no scheme heals before a step).
    const a1 = alice.encrypt(text("a1"));
    assert.equal(str(bob.decrypt(a1)), "a1");
    assert.equal(str(thief.decrypt(a1)), "a1");
    // Bob's new chain, and Alice's after it: the round trip that heals.
    const b1 = bob.encrypt(text("b1"));
    alice.decrypt(b1);
    const a2 = alice.encrypt(text("a2"));
    return { thief, b1, a2 };
  };
  // Classical: knowing every DH secret, the thief follows the conversation.
  const classical = run(false);
  assert.equal(str(classical.thief.decrypt(classical.a2)), "a2");
  // With KEM steps it is locked out: Bob's new chain already holds a KEM secret the thief does not have.
  const pq = run(true);
  rejects(pq.thief, pq.a2, "undecryptable");
  throwsCode(() => pq.thief.decrypt(pq.b1), "undecryptable");
});

Deno.test("classical (version 1) sessions still decode, run and serialise as before", () => {
  for (const curve of ["P-256", "P-521"] as const) {
    const random = seededRandom(`classical ${curve}`);
    const a = generateIdentity(random), b = generateIdentity(random);
    const store = classicalStore(b, T0, random, { curve, count: 1 });
    let alice = initiateClassical(a, b.id, store.bundle(b.publicKeys), { curve, random });
    const first = alice.encrypt(text("hello"));
    assert.equal(decodeMessage(first).version, 1);
    let bob = respondClassical(b, store, first, { now: T0, random }).session;
    assert.equal(bob.version, 1);
    const lost = alice.encrypt(text("late"));
    for (let round = 0; round < 4; round++) {
      const reply = bob.encrypt(new Uint8Array(63));
      assert.equal(reply.length, curve === "P-521" ? 265 : 197);
      alice.decrypt(reply);
      // Restored from their bytes (version 1, unchanged) between every step.
      const aliceBytes = alice.serialize(), bobBytes = bob.serialize();
      assert.equal(aliceBytes[0], 1);
      alice = Session.deserialize(aliceBytes, { random });
      bob = Session.deserialize(bobBytes, { random });
      assert.ok(equalBytes(alice.serialize(), aliceBytes) && equalBytes(bob.serialize(), bobBytes));
      assert.equal(str(bob.decrypt(alice.encrypt(text(`r${round}`)))), `r${round}`);
    }
    assert.equal(str(bob.decrypt(lost)), "late");
    rejects(bob, lost, ["duplicate", "undecryptable"]);
    // Messages of the other version are not this session's.
    const { alice: pqAlice, bob: pqBob } = makePair(curve);
    rejects(bob, pqAlice.encrypt(text("v2 prekey message")), "new-session");
    pqAlice.decrypt(pqBob.encrypt(text("reply")));
    rejects(bob, pqAlice.encrypt(text("v2")), "undecryptable");
    rejects(pqAlice, alice.encrypt(text("v1")), ["undecryptable", "malformed"]);
  }
});

Deno.test("session state version 2: KEM fields round-trip and their invariants are enforced", () => {
  const { alice, bob } = makePair("P-521");
  // Alice awaiting her reply has a KEM key but no ciphertext; Bob has both.
  for (const s of [alice, bob]) {
    const bytes = s.serialize();
    assert.equal(bytes[0], 2);
    assert.ok(equalBytes(Session.deserialize(bytes).serialize(), bytes));
  }
  // Locate the two KEM flags: they follow CKr/HKr (Bob has a receiving chain; Alice does not yet).
  const kemFlagAt = (s: Session, hasCkr: boolean, hasP: boolean) => {
    const bytes = s.serialize();
    let at = 4 + 40;
    at += 2 + ((bytes[at] << 8) | bytes[at + 1]); // AD
    at += 133; // EK_A
    at += bytes[at] === 1 ? 3 + ((bytes[at + 1] << 8) | bytes[at + 2]) : 1;
    assert.equal(hasP, bytes[at - 1] !== 0 || hasP);
    at += 66 + 133; // DHs
    at += 1 + 133; // DHr
    at += 5 * 32;
    at += hasCkr ? 65 : 1;
    return { bytes, at };
  };
  {
    const { bytes, at } = kemFlagAt(bob, true, false);
    assert.equal(bytes[at], 1);
    assert.equal(bytes[at + 65], 1);
    // Bob without his KEM key, or without his ciphertext: refused.
    const noKey = new Uint8Array([...bytes.subarray(0, at), 0, ...bytes.subarray(at + 65)]);
    throwsCode(() => Session.deserialize(noKey), "malformed");
    const noCt = new Uint8Array([...bytes.subarray(0, at + 65), 0, ...bytes.subarray(at + 66 + 1088)]);
    throwsCode(() => Session.deserialize(noCt), "malformed");
  }
  {
    const { bytes, at } = kemFlagAt(alice, false, true);
    assert.equal(bytes[at], 1);
    assert.equal(bytes[at + 65], 0);
    // An initiator awaiting her reply with a ciphertext: refused.
    const withCt = new Uint8Array([
      ...bytes.subarray(0, at + 65),
      1,
      ...new Uint8Array(1088),
      ...bytes.subarray(at + 66),
    ]);
    throwsCode(() => Session.deserialize(withCt), "malformed");
  }
});
