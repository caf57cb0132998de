// X3DH beyond the scenarios: every curve and cipher with and without a one-time prekey, the checks of
// the initiator (ID, signature) and of the responder (recipient, prekeys), identity misbinding, the
// chat's curve and cipher being bound, and the simultaneous-initiation rule.
import assert from "node:assert/strict";
import { equalBytes } from "../../crypto/bytes.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { decodeMessage, encodePrekeyHeader, KIND_PREKEY, PROTOCOL_VERSION } from "../../protocol/message.ts";
import { PrekeyStore } from "../../protocol/prekeys.ts";
import { Writer } from "../../protocol/codec.ts";
import { BODY_CIPHERS, CURVES } from "../../protocol/suite.ts";
import { initiate, preferOwnInitiation, respond } from "../../protocol/x3dh.ts";
import { seededRandom, str, T0, text, throwsCode } from "./_helpers.ts";

const random = seededRandom("x3dh");
const alice = generateIdentity(random), bob = generateIdentity(random), mallory = generateIdentity(random);

/** Rebuilds a prekey message with a changed prekey header. */
function rewrap(
  message: Uint8Array,
  change: (h: NonNullable<ReturnType<typeof decodeMessage>["prekey"]>) => object,
) {
  const m = decodeMessage(message);
  const header = encodePrekeyHeader({ ...m.prekey!, ...change(m.prekey!) });
  return new Writer().u8(PROTOCOL_VERSION).u8(KIND_PREKEY).bytes(header).vec16(m.header).bytes(m.body)
    .finish();
}

Deno.test("X3DH on every curve and cipher, with and without a one-time prekey", () => {
  for (const curve of CURVES) {
    for (const cipher of BODY_CIPHERS) {
      for (const oneTime of [true, false]) {
        const store = PrekeyStore.create(bob, T0, random);
        if (oneTime) store.addOneTimePrekeys(curve, 1, random);
        const a = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, curve, cipher, random });
        const first = a.encrypt(text(`${curve} ${cipher}`));
        const p = decodeMessage(first).prekey!;
        assert.equal(p.curve, curve);
        assert.equal(p.cipher, cipher);
        assert.equal(p.oneTimePrekeyId !== null, oneTime);
        const r = respond(bob, store, first, { now: T0, random });
        assert.equal(str(r.plaintext), `${curve} ${cipher}`);
        assert.ok(equalBytes(r.peerId, alice.id));
        assert.ok(equalBytes(r.session.remoteId, alice.id) && equalBytes(r.session.localId, bob.id));
        assert.ok(equalBytes(a.remoteId, bob.id) && a.initiator && !r.session.initiator);
        assert.equal(r.session.curve, curve);
        assert.equal(str(a.decrypt(r.session.encrypt(text("back")))), "back");
        assert.equal(store.oneTimeCount(curve), 0);
      }
    }
  }
});

Deno.test("the initiator checks the bundle against the ID she holds", () => {
  const store = PrekeyStore.create(bob, T0, random);
  // The relay hands out Mallory's bundle for Bob's ID: refused before any key is used.
  const fake = PrekeyStore.create(mallory, T0, random).bundle(mallory.publicKeys);
  throwsCode(() => initiate(alice, bob.id, fake, { now: T0 }), "id-mismatch");
  // Bob's real keys with Mallory's signed prekeys: the signatures fail.
  throwsCode(
    () =>
      initiate(alice, bob.id, { ...store.bundle(bob.publicKeys), signedPrekeys: fake.signedPrekeys }, {
        now: T0,
      }),
    "bad-signature",
  );
  assert.throws(
    () => initiate(alice, bob.id.slice(1), store.bundle(bob.publicKeys), { now: T0 }),
    RangeError,
  );
  assert.throws(
    () => initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, curve: "P-224" as "P-256" }),
    TypeError,
  );
  assert.throws(
    () => initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, cipher: "DES" as "AES-256-GCM" }),
    TypeError,
  );
});

Deno.test("the responder refuses, without changing his store, what is not a valid initial message to him", () => {
  const store = PrekeyStore.create(bob, T0, random);
  store.addOneTimePrekeys("P-521", 1, random);
  const a = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, random });
  const first = a.encrypt(text("hi"));
  const before = store.serialize();
  const cases: [Uint8Array, string][] = [
    // Mallory claims Alice's message as his own (identity misbinding): DH1 and the transcript differ.
    [rewrap(first, () => ({ identity: mallory.publicKeys })), "undecryptable"],
    // The chat's cipher or the prekey ids changed in transit.
    [rewrap(first, () => ({ cipher: "ChaCha20-Poly1305" })), "undecryptable"],
    [rewrap(first, (h) => ({ signedPrekeyId: h.signedPrekeyId + 1 })), "unknown-prekey"],
    [rewrap(first, () => ({ oneTimePrekeyId: null })), "undecryptable"],
    [rewrap(first, () => ({ oneTimePrekeyId: 999 })), "unknown-prekey"],
    [rewrap(first, () => ({ recipientId: mallory.id })), "wrong-recipient"],
  ];
  for (const [message, code] of cases) {
    throwsCode(() => respond(bob, store, message, { now: T0 }), code as "undecryptable");
    assert.ok(equalBytes(before, store.serialize()));
  }
  // A plain ratchet message is not an initial message.
  const r = respond(bob, store, first, { now: T0 });
  const reply = r.session.encrypt(text("reply"));
  a.decrypt(reply);
  throwsCode(() => respond(bob, store, a.encrypt(text("ratchet")), { now: T0 }), "malformed");
  throwsCode(() => respond(bob, store, Uint8Array.of(1, 2, 3), { now: T0 }), "malformed");
});

Deno.test("simultaneous initiation: exactly one side keeps its own handshake", () => {
  assert.equal(preferOwnInitiation(alice.id, bob.id), !preferOwnInitiation(bob.id, alice.id));
  assert.equal(preferOwnInitiation(alice.id, alice.id), false);
  const low = new Uint8Array(20), high = new Uint8Array(20);
  high[19] = 1;
  assert.ok(preferOwnInitiation(low, high) && !preferOwnInitiation(high, low));
});
