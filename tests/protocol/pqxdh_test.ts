// PQXDH and the KEM prekeys: every curve and cipher with and without one-time EC and KEM prekeys, the
// initiator's refusals (no KEM prekey, bad KEM signatures, stale signed prekeys), the responder's (a
// classical initial message, unknown or used KEM prekeys, a tampered ciphertext, an invalid KEM key), the
// one-time KEM prekey deleted on use and the last-resort one rotated with a grace period, the bundle and
// store formats of version 2 (limits, damage, the upgrade of a version 1 store) and the relay's helpers.
import assert from "node:assert/strict";
import { concatBytes, equalBytes, utf8 } from "../../crypto/bytes.ts";
import { xchacha20Poly1305Open, xchacha20Poly1305Seal } from "../../crypto/chacha20poly1305.ts";
import { mlkem1024 } from "../../crypto/mlkem.ts";
import { ProtocolError, Writer } from "../../protocol/codec.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import {
  decodeMessage,
  encodeMessage,
  encodePrekeyHeader,
  HEADER_NONCE_BYTES,
  PROTOCOL_VERSION,
} from "../../protocol/message.ts";
import {
  decodeBundle,
  encodeBundle,
  KEM_PREKEY_ENTRY_BYTES,
  kemPrekeyMessage,
  MAX_ONE_TIME_KEM_PREKEYS,
  MAX_ONE_TIME_PREKEYS,
  packKemPrekeys,
  type PrekeyBundle,
  PrekeyStore,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATION_MS,
  takeOneTimeKemPrekey,
  unpackKemPrekeys,
  verifyBundle,
  verifyKemPrekey,
} from "../../protocol/prekeys.ts";
import {
  BODY_CIPHERS,
  curveOf,
  CURVES,
  encodeKemKey,
  encodeKey,
  kemKeyIsValid,
} from "../../protocol/suite.ts";
import { MAX_BUNDLE_BYTES } from "../../protocol/wire.ts";
import { initiate, MAX_SIGNED_PREKEY_AGE_MS, respond } from "../../protocol/x3dh.ts";
import { classicalStore, initiateClassical } from "./_classical.ts";
import { decisions, flip, seededRandom, str, T0, text, throwsCode } from "./_helpers.ts";

const random = seededRandom("pqxdh");
const alice = generateIdentity(random), bob = generateIdentity(random), mallory = generateIdentity(random);

function storeWith(oneTime: boolean, oneTimeKem: boolean, curve: (typeof CURVES)[number] = "P-521") {
  const store = PrekeyStore.create(bob, T0, random);
  if (oneTime) store.addOneTimePrekeys(curve, 1, random);
  if (oneTimeKem) store.addOneTimeKemPrekeys(bob, 1, T0, random);
  return store;
}

Deno.test("PQXDH on every curve and cipher, with and without one-time EC and KEM prekeys", () => {
  for (const curve of CURVES) {
    for (const cipher of BODY_CIPHERS) {
      for (const oneTime of [true, false]) {
        for (const oneTimeKem of [true, false]) {
          const store = storeWith(oneTime, oneTimeKem, curve);
          const bundle = decodeBundle(encodeBundle(store.bundle(bob.publicKeys)));
          const a = initiate(alice, bob.id, bundle, { now: T0, curve, cipher, random });
          assert.equal(a.version, 2);
          const first = a.encrypt(text(`${curve} ${cipher}`));
          const p = decodeMessage(first).prekey!;
          assert.equal(p.version, 2);
          assert.equal(p.oneTimePrekeyId !== null, oneTime);
          assert.equal(p.kem!.kind, oneTimeKem ? "one-time" : "last-resort");
          assert.equal(p.kem!.id, oneTimeKem ? bundle.oneTimeKemPrekeys[0].id : bundle.kemPrekey!.id);
          const r = respond(bob, store, first, { now: T0, random });
          assert.equal(str(r.plaintext), `${curve} ${cipher}`);
          assert.ok(equalBytes(r.peerId, alice.id));
          assert.equal(str(a.decrypt(r.session.encrypt(text("back")))), "back");
          assert.equal(str(r.session.decrypt(a.encrypt(text("again")))), "again");
          assert.equal(store.oneTimeCount(curve), 0);
          assert.equal(store.oneTimeKemCount(), 0);
        }
      }
    }
  }
});

Deno.test("no downgrade: a bundle without a KEM prekey starts no chat, a classical initial message opens none", () => {
  const old = classicalStore(bob, T0, random);
  const classical = old.bundle(bob.publicKeys);
  assert.equal(classical.kemPrekey, null);
  assert.equal(encodeBundle(classical)[0], 0x01);
  verifyBundle(decodeBundle(encodeBundle(classical)), bob.id);
  throwsCode(() => initiate(alice, bob.id, classical, { now: T0 }), "no-kem-prekey");
  // Stripping the KEM prekeys from a new bundle (a relay downgrading it) is refused the same way.
  const full = storeWith(true, true).bundle(bob.publicKeys);
  throwsCode(
    () => initiate(alice, bob.id, { ...full, kemPrekey: null, oneTimeKemPrekeys: [] }, { now: T0 }),
    "no-kem-prekey",
  );
  // An old client's classical initial message is refused by respond, and the store is left as it was.
  const store = storeWith(false, false);
  const first = initiateClassical(alice, bob.id, store.bundle(bob.publicKeys), { random }).encrypt(
    text("hi"),
  );
  const before = store.serialize();
  throwsCode(() => respond(bob, store, first, { now: T0 }), "unsupported");
  assert.ok(equalBytes(before, store.serialize()));
  assert.throws(() => initiate(alice, bob.id, full, {} as { now: number }), TypeError);
});

Deno.test("the initiator verifies the KEM prekey she uses and refuses stale signed prekeys", () => {
  const store = storeWith(false, true);
  const bundle = store.bundle(bob.publicKeys);
  const other = storeWith(false, true).bundle(bob.publicKeys);
  // A KEM prekey from another of Bob's stores, with this one's signatures: each signature covers its key.
  const swapped = { ...bundle.oneTimeKemPrekeys[0], publicKey: other.oneTimeKemPrekeys[0].publicKey };
  throwsCode(
    () => initiate(alice, bob.id, { ...bundle, oneTimeKemPrekeys: [swapped] }, { now: T0 }),
    "bad-signature",
  );
  const lr = { ...bundle.kemPrekey!, createdAt: bundle.kemPrekey!.createdAt + 1 };
  throwsCode(
    () => initiate(alice, bob.id, { ...bundle, kemPrekey: lr, oneTimeKemPrekeys: [] }, { now: T0 }),
    "bad-signature",
  );
  // A one-time KEM prekey presented as the last-resort one: the kind is signed.
  const asLastResort = { ...bundle, kemPrekey: bundle.oneTimeKemPrekeys[0], oneTimeKemPrekeys: [] };
  throwsCode(() => initiate(alice, bob.id, asLastResort, { now: T0 }), "bad-signature");
  // Mallory's KEM prekey in Bob's bundle.
  const mal = PrekeyStore.create(mallory, T0, random).bundle(mallory.publicKeys);
  throwsCode(
    () =>
      initiate(alice, bob.id, { ...bundle, kemPrekey: mal.kemPrekey, oneTimeKemPrekeys: [] }, { now: T0 }),
    "bad-signature",
  );
  // Age: rotation plus grace (37 days) is still accepted, a millisecond more is not. The signed EC prekey
  // always counts; the last-resort KEM prekey only when it is used.
  const limit = T0 + MAX_SIGNED_PREKEY_AGE_MS;
  assert.equal(MAX_SIGNED_PREKEY_AGE_MS, SIGNED_PREKEY_ROTATION_MS + SIGNED_PREKEY_GRACE_MS);
  initiate(alice, bob.id, bundle, { now: limit });
  const e = throwsCode(() => initiate(alice, bob.id, bundle, { now: limit + 1 }), "stale-prekey");
  assert.match(e.message, /37 days old/);
  // A fresh signed EC prekey with an old last-resort KEM prekey: refused only if no one-time KEM prekey.
  const later = PrekeyStore.create(bob, T0, random);
  later.rotate(bob, limit - 1, random); // everything is replaced: EC and KEM
  const fresh = later.bundle(bob.publicKeys);
  const oldKem = { ...fresh, kemPrekey: bundle.kemPrekey };
  throwsCode(
    () => initiate(alice, bob.id, { ...oldKem, oneTimeKemPrekeys: [] }, { now: limit + 1 }),
    "stale-prekey",
  );
  initiate(alice, bob.id, { ...oldKem, oneTimeKemPrekeys: bundle.oneTimeKemPrekeys }, { now: limit + 1 });
});

Deno.test("the responder refuses, without changing his store, initial messages with a bad KEM part", () => {
  const store = storeWith(true, true);
  const bundle = store.bundle(bob.publicKeys);
  const a = initiate(alice, bob.id, bundle, { now: T0, random });
  const first = a.encrypt(text("hi"));
  const m = decodeMessage(first);
  const rewrap = (change: object) =>
    encodeMessage(PROTOCOL_VERSION, encodePrekeyHeader({ ...m.prekey!, ...change }), m.header, m.body);
  const kem = m.prekey!.kem!;
  const before = store.serialize();
  const cases: [Uint8Array, string][] = [
    // A tampered ciphertext: ML-KEM rejects implicitly, so SK differs and the body fails.
    [rewrap({ kem: { ...kem, cipherText: flip(kem.cipherText, 100) } }), "undecryptable"],
    // A ciphertext to another key of Bob's (the last-resort one): the transcript names the key.
    [rewrap({ kem: { ...kem, kind: "last-resort", id: bundle.kemPrekey!.id } }), "undecryptable"],
    // Unknown ids, or a one-time id presented as last-resort.
    [rewrap({ kem: { ...kem, id: 999 } }), "unknown-prekey"],
    [rewrap({ kem: { ...kem, kind: "last-resort" } }), "unknown-prekey"],
  ];
  for (const [message, code] of cases) {
    throwsCode(() => respond(bob, store, message, { now: T0 }), code as "undecryptable");
    assert.ok(equalBytes(before, store.serialize()));
  }
  // Bit flips anywhere in the KEM part are refused too.
  const kemAt = m.prekeyBytes!.length - 1568 - 5 + 2;
  for (let i = 0; i < 1573; i += 97) {
    throwsCode(() => respond(bob, store, flip(first, kemAt + i), { now: T0 }), [
      "undecryptable",
      "unknown-prekey",
      "malformed",
    ]);
  }
  assert.ok(equalBytes(before, store.serialize()));
  // Accepted once: the one-time KEM prekey is gone, a second message naming it is refused.
  respond(bob, store, first, { now: T0 });
  assert.equal(store.oneTimeKemCount(), 0);
  assert.equal(store.kemPrekey("one-time", kem.id, T0), undefined);
  throwsCode(() => respond(bob, store, first, { now: T0 }), "replay");
  const again = initiate(generateIdentity(random), bob.id, bundle, { now: T0, random }).encrypt(text("x"));
  throwsCode(() => respond(bob, store, again, { now: T0 }), "unknown-prekey");
});

Deno.test("a ratchet header with an invalid ML-KEM-768 key is refused before anything changes", () => {
  const store = storeWith(false, false);
  let hka = new Uint8Array(0), ad = new Uint8Array(0);
  const a = initiate(alice, bob.id, store.bundle(bob.publicKeys), {
    now: T0,
    random,
    trace: (label, v) => {
      if (label === "pqxdh.hka") hka = v.slice();
      if (label === "pqxdh.ad") ad = v.slice();
    },
  });
  const m = decodeMessage(a.encrypt(text("hi")));
  // Open the header with HK_A, put a coefficient of 4095 (≥ q) into the KEM key, seal it again.
  const nonce = m.header.subarray(0, HEADER_NONCE_BYTES);
  const plain = xchacha20Poly1305Open(hka, nonce, m.header.subarray(HEADER_NONCE_BYTES), ad);
  const keyAt = 133 + 8;
  assert.ok(kemKeyIsValid("ML-KEM-768", plain.subarray(keyAt, keyAt + 1184)));
  plain[keyAt] = 0xff;
  plain[keyAt + 1] |= 0x0f;
  const header = concatBytes(nonce, xchacha20Poly1305Seal(hka, nonce, plain, ad));
  const forged = encodeMessage(PROTOCOL_VERSION, m.prekeyBytes, header, m.body);
  const before = store.serialize();
  const e = throwsCode(() => respond(bob, store, forged, { now: T0 }), "malformed");
  assert.match(e.message, /ML-KEM-768 key is not valid/);
  assert.ok(equalBytes(before, store.serialize()));
});

Deno.test("KEM prekeys: signed per curve over kind ‖ id ‖ time ‖ EncodeKEM, with their own context", () => {
  const store = storeWith(false, true);
  const bundle = store.bundle(bob.publicKeys);
  for (
    const [kind, k] of [["last-resort", bundle.kemPrekey!], [
      "one-time",
      bundle.oneTimeKemPrekeys[0],
    ]] as const
  ) {
    assert.equal(k.publicKey.length, 1568);
    for (const c of CURVES) {
      const context = utf8("sotto kem prekey v1");
      const message = concatBytes(
        Uint8Array.of(kind === "last-resort" ? 1 : 2),
        new Writer().u32(k.id).u64(k.createdAt).finish(),
        Uint8Array.of(0x12),
        k.publicKey,
      );
      assert.ok(equalBytes(message, kemPrekeyMessage(kind, k.id, k.createdAt, k.publicKey)));
      assert.ok(
        curveOf(c).verify(
          bob.publicKeys[c].sign,
          concatBytes(Uint8Array.of(context.length), context, message),
          k.signatures[c],
        ),
      );
      assert.ok(verifyKemPrekey(bob.publicKeys, c, kind, k));
      assert.ok(!verifyKemPrekey(bob.publicKeys, c, kind === "one-time" ? "last-resort" : "one-time", k));
      assert.ok(!verifyKemPrekey(alice.publicKeys, c, kind, k));
    }
  }
  // The encodings are disjoint: EncodeEC starts with 0x01–0x03, EncodeKEM with 0x11 or 0x12.
  for (const c of CURVES) assert.ok(encodeKey(c, bundle.signedPrekeys[c].publicKey)[0] <= 0x03);
  assert.equal(encodeKemKey("ML-KEM-1024", bundle.kemPrekey!.publicKey)[0], 0x12);
  assert.equal(encodeKemKey("ML-KEM-768", new Uint8Array(1184))[0], 0x11);
  // verifyBundle checks the last-resort KEM prekey on every curve; one-time ones only when asked.
  const badOneTime = { ...bundle.oneTimeKemPrekeys[0], createdAt: 5 };
  const b2 = { ...bundle, oneTimeKemPrekeys: [badOneTime] };
  verifyBundle(b2, bob.id);
  throwsCode(() => verifyBundle(b2, bob.id, { oneTimeKem: true }), "bad-signature");
  throwsCode(() => verifyBundle({ ...bundle, kemPrekey: badOneTime }, bob.id), "bad-signature");
});

Deno.test("bundles of version 2: round trip, sizes, limits, and every key validated", () => {
  const store = PrekeyStore.create(bob, T0, random);
  assert.equal(encodeBundle(store.bundle(bob.publicKeys)).length, 3105);
  for (const c of CURVES) store.addOneTimePrekeys(c, MAX_ONE_TIME_PREKEYS, random);
  store.addOneTimeKemPrekeys(bob, MAX_ONE_TIME_KEM_PREKEYS, T0, random);
  assert.throws(() => store.addOneTimeKemPrekeys(bob, 1, T0, random), RangeError);
  const bundle = store.bundle(bob.publicKeys);
  const bytes = encodeBundle(bundle);
  // The largest bundle fits the relay's UploadPrekeys limit (and Deno KV's value limit when packed).
  assert.equal(bytes.length, 125_041);
  assert.ok(bytes.length <= MAX_BUNDLE_BYTES);
  assert.equal(KEM_PREKEY_ENTRY_BYTES, 1873);
  assert.ok(packKemPrekeys(bundle.oneTimeKemPrekeys).length <= 65_000);
  verifyBundle(decodeBundle(bytes), bob.id, { oneTimeKem: true });
  assert.ok(equalBytes(encodeBundle(decodeBundle(bytes)), bytes));
  assert.throws(
    () => encodeBundle({ ...bundle, oneTimeKemPrekeys: [...bundle.oneTimeKemPrekeys, bundle.kemPrekey!] }),
    RangeError,
  );
  // A handed-out bundle: one EC and one KEM one-time prekey.
  const one: PrekeyBundle = {
    ...bundle,
    oneTimePrekeys: { "P-256": [], "P-384": [], "P-521": [bundle.oneTimePrekeys["P-521"][0]] },
    oneTimeKemPrekeys: [bundle.oneTimeKemPrekeys[0]],
  };
  const small = encodeBundle(one);
  assert.equal(small.length, 3105 + 138 + 1873);
  for (let cut = 0; cut < small.length; cut += 23) {
    throwsCode(() => decodeBundle(small.slice(0, cut)), ["malformed", "unsupported"]);
  }
  throwsCode(() => decodeBundle(concatBytes(small, new Uint8Array(1))), "malformed");
  // The last-resort KEM key with a coefficient of 4095: refused by the modulus check.
  const kemKeyAt = 3105 + 138 - 2 - 1873 + 12 + 1;
  const bad = small.slice();
  bad[kemKeyAt] = 0xff;
  bad[kemKeyAt + 1] |= 0x0f;
  throwsCode(() => decodeBundle(bad), "malformed");
  // A repeated KEM prekey id (the last-resort one's) is refused.
  throwsCode(
    () => decodeBundle(encodeBundle({ ...one, oneTimeKemPrekeys: [bundle.kemPrekey!] })),
    "malformed",
  );
  const d = decisions(15);
  for (let i = 0; i < 150; i++) {
    try {
      decodeBundle(flip(small, d.int(small.length), d.int(8)));
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
    }
  }
});

Deno.test("the relay's helpers: packed KEM prekeys, one taken out per chat", () => {
  const store = PrekeyStore.create(bob, T0, random);
  const added = store.addOneTimeKemPrekeys(bob, 3, T0, random);
  const packed = packKemPrekeys(added);
  assert.equal(packed.length, 3 * KEM_PREKEY_ENTRY_BYTES);
  assert.deepEqual(unpackKemPrekeys(packed).map((k) => k.id), added.map((k) => k.id));
  const { prekey, rest } = takeOneTimeKemPrekey(packed);
  assert.equal(prekey!.id, added[0].id);
  assert.ok(verifyKemPrekey(bob.publicKeys, "P-384", "one-time", prekey!));
  assert.deepEqual(unpackKemPrekeys(rest).map((k) => k.id), added.slice(1).map((k) => k.id));
  const empty = takeOneTimeKemPrekey(takeOneTimeKemPrekey(rest).rest);
  assert.equal(takeOneTimeKemPrekey(empty.rest).prekey, null);
  throwsCode(() => unpackKemPrekeys(packed.slice(1)), "malformed");
  throwsCode(() => takeOneTimeKemPrekey(packed.slice(1)), "malformed");
});

Deno.test("the last-resort KEM prekey rotates weekly and works through its grace period", () => {
  const store = PrekeyStore.create(bob, T0, random);
  const first = store.bundle(bob.publicKeys);
  assert.deepEqual(store.rotate(bob, T0 + SIGNED_PREKEY_ROTATION_MS - 1, random), []);
  const retiredAt = T0 + SIGNED_PREKEY_ROTATION_MS;
  assert.deepEqual(store.rotate(bob, retiredAt, random), [...CURVES, "ML-KEM-1024"]);
  const second = store.bundle(bob.publicKeys);
  verifyBundle(second, bob.id);
  assert.notEqual(second.kemPrekey!.id, first.kemPrekey!.id);
  // An initial message made from the old bundle, on the old signed EC prekey and last-resort KEM prekey.
  const late = () => initiate(alice, bob.id, first, { now: T0, random }).encrypt(text("late"));
  const end = retiredAt + SIGNED_PREKEY_GRACE_MS;
  assert.equal(str(respond(bob, store, late(), { now: end - 1 }).plaintext), "late");
  throwsCode(() => respond(bob, store, late(), { now: end }), "unknown-prekey");
  // The old signed EC prekey with the new KEM prekey, past the KEM prekey's grace: refused on the KEM.
  const mixed = { ...second, signedPrekeys: first.signedPrekeys };
  const m = initiate(alice, bob.id, mixed, { now: T0, random }).encrypt(text("mixed"));
  assert.equal(
    str(respond(bob, PrekeyStore.deserialize(store.serialize()), m, { now: end - 1 }).plaintext),
    "mixed",
  );
  store.rotate(bob, end, random);
  const restored = PrekeyStore.deserialize(store.serialize());
  assert.equal(restored.kemPrekey("last-resort", first.kemPrekey!.id, end), undefined);
  assert.ok(restored.kemPrekey("last-resort", second.kemPrekey!.id, end) !== undefined);
});

Deno.test("prekey store version 2: round trip, damage, and the upgrade of a version 1 store", () => {
  const store = storeWith(true, true);
  store.addOneTimeKemPrekeys(bob, 2, T0, random);
  const a = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, random });
  respond(bob, store, a.encrypt(text("x")), { now: T0 });
  store.rotate(bob, T0 + SIGNED_PREKEY_ROTATION_MS, random);
  const bytes = store.serialize();
  assert.equal(bytes[0], 0x02);
  const back = PrekeyStore.deserialize(bytes);
  assert.ok(equalBytes(back.serialize(), bytes));
  assert.ok(
    equalBytes(encodeBundle(back.bundle(bob.publicKeys)), encodeBundle(store.bundle(bob.publicKeys))),
  );
  assert.equal(back.oneTimeKemCount(), 2);
  for (let cut = 0; cut < bytes.length; cut += 17) {
    throwsCode(() => PrekeyStore.deserialize(bytes.slice(0, cut)), ["malformed", "unsupported"]);
  }
  throwsCode(() => PrekeyStore.deserialize(concatBytes(bytes, new Uint8Array(1))), "malformed");
  const d = decisions(6);
  for (let i = 0; i < 200; i++) {
    try {
      PrekeyStore.deserialize(flip(bytes, d.int(bytes.length), d.int(8)));
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
    }
  }
  // A version 1 store (a client from before PQXDH) is read; it has no KEM prekey until rotate makes one.
  const old = classicalStore(bob, T0, random, { curve: "P-256", count: 2 });
  assert.equal(old.bundle(bob.publicKeys).kemPrekey, null);
  assert.equal(old.serialize()[0], 0x02);
  assert.ok(equalBytes(PrekeyStore.deserialize(old.serialize()).serialize(), old.serialize()));
  assert.deepEqual(old.rotate(bob, T0 + 1, random), ["ML-KEM-1024"]);
  const upgraded = old.bundle(bob.publicKeys);
  verifyBundle(upgraded, bob.id);
  assert.equal(upgraded.oneTimePrekeys["P-256"].length, 2);
  const s = initiate(alice, bob.id, upgraded, { now: T0 + 1, curve: "P-256", random });
  assert.equal(str(respond(bob, old, s.encrypt(text("upgraded")), { now: T0 + 1 }).plaintext), "upgraded");
});

Deno.test("sizes: bundle, first message, typical message", () => {
  // ML-KEM's sizes as PQXDH and the ratchet use them.
  assert.deepEqual([mlkem1024.publicKeyBytes, mlkem1024.cipherTextBytes], [1568, 1568]);
  const first = { "P-256": 3648, "P-384": 3712, "P-521": 3784 };
  const typical = { "P-256": 2469, "P-384": 2501, "P-521": 2537 };
  for (const curve of CURVES) {
    const store = storeWith(true, true, curve);
    const a = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, curve, random });
    const m0 = a.encrypt(text("hi"));
    assert.equal(m0.length, first[curve], `${curve} first message`);
    const { session: b } = respond(bob, store, m0, { now: T0 });
    const reply = b.encrypt(new Uint8Array(63));
    assert.equal(reply.length, typical[curve], `${curve} typical message`);
    a.decrypt(reply);
    assert.equal(a.encrypt(new Uint8Array(63)).length, typical[curve]);
  }
});
