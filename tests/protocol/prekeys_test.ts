// Prekeys: the signed-prekey signature (context, type-prefixed encoding), rotation and the grace period,
// one-time prekeys deleted on first use, the bundle and store encodings with their validation.
import assert from "node:assert/strict";
import { concatBytes, equalBytes, utf8 } from "../../crypto/bytes.ts";
import { ProtocolError, Writer } from "../../protocol/codec.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import {
  decodeBundle,
  encodeBundle,
  MAX_ONE_TIME_PREKEYS,
  MAX_REPLAY_ENTRIES,
  PrekeyStore,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATION_MS,
  signedPrekeyMessage,
  verifyBundle,
  verifySignedPrekey,
} from "../../protocol/prekeys.ts";
import { curveOf, CURVES, encodeKey } from "../../protocol/suite.ts";
import { initiate, respond } from "../../protocol/x3dh.ts";
import { decisions, flip, seededRandom, str, T0, text, throwsCode } from "./_helpers.ts";

const random = seededRandom("prekeys");
const bob = generateIdentity(random), alice = generateIdentity(random);

Deno.test("signed prekeys: ECDSA over u8 len ‖ context ‖ u32 id ‖ u64 time ‖ EncodeEC(key)", () => {
  const store = PrekeyStore.create(bob, T0, random);
  const bundle = store.bundle(bob.publicKeys);
  verifyBundle(bundle, bob.id);
  for (const c of CURVES) {
    const spk = bundle.signedPrekeys[c];
    assert.equal(spk.createdAt, T0);
    const context = utf8("sotto signed prekey v1");
    const signed = concatBytes(
      Uint8Array.of(context.length),
      context,
      new Writer().u32(spk.id).u64(T0).finish(),
      encodeKey(c, spk.publicKey),
    );
    assert.ok(
      equalBytes(signed.subarray(1 + context.length), signedPrekeyMessage(c, spk.id, T0, spk.publicKey)),
    );
    assert.ok(curveOf(c).verify(bob.publicKeys[c].sign, signed, spk.signature));
    assert.ok(verifySignedPrekey(bob.publicKeys, c, spk));
    assert.ok(!verifySignedPrekey(alice.publicKeys, c, spk));
  }
  throwsCode(() => verifyBundle(bundle, alice.id), "id-mismatch");
  const bad = {
    ...bundle,
    signedPrekeys: { ...bundle.signedPrekeys, "P-384": { ...bundle.signedPrekeys["P-384"], id: 99 } },
  };
  throwsCode(() => verifyBundle(bad), "bad-signature");
});

Deno.test("bundles: round trip, limits, and every key validated", () => {
  const store = PrekeyStore.create(bob, T0, random);
  for (const c of CURVES) store.addOneTimePrekeys(c, 3, random);
  const bundle = store.bundle(bob.publicKeys);
  const bytes = encodeBundle(bundle);
  const back = decodeBundle(bytes);
  assert.ok(equalBytes(encodeBundle(back), bytes));
  verifyBundle(back, bob.id);
  assert.deepEqual(CURVES.map((c) => back.oneTimePrekeys[c].length), [3, 3, 3]);
  for (let cut = 0; cut < bytes.length; cut += 11) {
    throwsCode(() => decodeBundle(bytes.slice(0, cut)), ["malformed", "unsupported"]);
  }
  throwsCode(() => decodeBundle(concatBytes(bytes, new Uint8Array(1))), "malformed");
  throwsCode(() => decodeBundle(flip(bytes, 0)), "unsupported");
  // The last byte is the y-coordinate of the last P-521 one-time prekey.
  throwsCode(() => decodeBundle(flip(bytes, bytes.length - 1)), "malformed");
  // A repeated one-time prekey id.
  const twice = {
    ...bundle,
    oneTimePrekeys: {
      ...bundle.oneTimePrekeys,
      "P-256": [bundle.oneTimePrekeys["P-256"][0], bundle.oneTimePrekeys["P-256"][0]],
    },
  };
  throwsCode(() => decodeBundle(encodeBundle(twice)), "malformed");
  const d = decisions(21);
  for (let i = 0; i < 150; i++) {
    try {
      decodeBundle(flip(bytes, d.int(bytes.length), d.int(8)));
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
    }
  }
});

Deno.test("one-time prekeys: ids unique, capped, deleted on first use", () => {
  const store = PrekeyStore.create(bob, T0, random);
  const added = store.addOneTimePrekeys("P-521", 5, random);
  const ids = new Set([
    ...added.map((k) => k.id),
    ...CURVES.map((c) => store.bundle(bob.publicKeys).signedPrekeys[c].id),
  ]);
  assert.equal(ids.size, 8);
  assert.throws(() => store.addOneTimePrekeys("P-521", MAX_ONE_TIME_PREKEYS - 4), RangeError);
  assert.throws(() => store.addOneTimePrekeys("P-521", -1), RangeError);
  const sessionA = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, random });
  respond(bob, store, sessionA.encrypt(text("hi")), { now: T0 });
  assert.equal(store.oneTimeCount("P-521"), 4);
  assert.ok(!store.bundle(bob.publicKeys).oneTimePrekeys["P-521"].some((k) => k.id === added[0].id));
  // A second initiator handed the same (already used) one-time prekey by a careless relay fails cleanly.
  const carol = generateIdentity(random);
  const stale = {
    ...store.bundle(bob.publicKeys),
    oneTimePrekeys: { "P-256": [], "P-384": [], "P-521": [added[0]] },
  };
  const before = store.serialize();
  throwsCode(
    () => respond(bob, store, initiate(carol, bob.id, stale, { now: T0 }).encrypt(text("hi")), { now: T0 }),
    "unknown-prekey",
  );
  assert.ok(equalBytes(before, store.serialize()));
});

Deno.test("rotation: weekly, and a retired signed prekey still works during its grace period", () => {
  const store = PrekeyStore.create(bob, T0, random);
  const first = store.bundle(bob.publicKeys);
  assert.deepEqual(store.rotate(bob, T0 + SIGNED_PREKEY_ROTATION_MS - 1, random), []);
  assert.deepEqual(store.rotate(bob, T0 + SIGNED_PREKEY_ROTATION_MS, random), [...CURVES, "ML-KEM-1024"]);
  const second = store.bundle(bob.publicKeys);
  verifyBundle(second, bob.id);
  assert.notEqual(second.signedPrekeys["P-521"].id, first.signedPrekeys["P-521"].id);
  const retiredAt = T0 + SIGNED_PREKEY_ROTATION_MS;
  // A late initial message made from the old bundle is accepted until the grace period ends.
  const late = () => initiate(alice, bob.id, first, { now: T0, random }).encrypt(text("late"));
  assert.equal(
    str(respond(bob, store, late(), { now: retiredAt + SIGNED_PREKEY_GRACE_MS - 1 }).plaintext),
    "late",
  );
  throwsCode(
    () => respond(bob, store, late(), { now: retiredAt + SIGNED_PREKEY_GRACE_MS }),
    "unknown-prekey",
  );
  // Rotation deletes it for good; the current one keeps working.
  store.rotate(bob, retiredAt + SIGNED_PREKEY_GRACE_MS, random);
  const restored = PrekeyStore.deserialize(store.serialize());
  throwsCode(() => respond(bob, restored, late(), { now: retiredAt }), "unknown-prekey");
  const fresh = initiate(alice, bob.id, restored.bundle(bob.publicKeys), { now: T0, random });
  assert.equal(
    str(respond(bob, restored, fresh.encrypt(text("new")), { now: retiredAt + 1 }).plaintext),
    "new",
  );
});

Deno.test("the replay cache is bounded: a full signed prekey refuses more and is rotated", () => {
  const store = PrekeyStore.create(bob, T0, random);
  const spk = store.bundle(bob.publicKeys).signedPrekeys["P-256"];
  // The cache only hashes the base keys, so distinct 65-byte strings stand in for them here.
  const key = (i: number) => Uint8Array.of(4, i >> 8, i & 0xff, ...new Uint8Array(62));
  for (let i = 0; i < MAX_REPLAY_ENTRIES; i++) store.accept("P-256", spk.id, null, key(i));
  throwsCode(() => store.checkFresh("P-256", spk.id, key(MAX_REPLAY_ENTRIES)), "exhausted");
  throwsCode(() => store.checkFresh("P-256", spk.id, key(0)), "replay");
  assert.deepEqual(store.rotate(bob, T0 + 1, random), ["P-256"]);
  assert.ok(store.signedPrekey("P-256", spk.id, T0 + 1) !== undefined); // still in its grace period
});

Deno.test("store: serialisation round-trips and refuses damage", () => {
  const store = PrekeyStore.create(bob, T0, random);
  store.addOneTimePrekeys("P-384", 2, random);
  const a = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T0, curve: "P-384", random });
  respond(bob, store, a.encrypt(text("x")), { now: T0 });
  store.rotate(bob, T0 + SIGNED_PREKEY_ROTATION_MS, random);
  const bytes = store.serialize();
  assert.ok(equalBytes(PrekeyStore.deserialize(bytes).serialize(), bytes));
  for (let cut = 0; cut < bytes.length; cut += 17) {
    throwsCode(() => PrekeyStore.deserialize(bytes.slice(0, cut)), ["malformed", "unsupported"]);
  }
  throwsCode(() => PrekeyStore.deserialize(concatBytes(bytes, new Uint8Array(1))), "malformed");
  throwsCode(() => PrekeyStore.deserialize(flip(bytes, 0)), "unsupported");
  const d = decisions(5);
  for (let i = 0; i < 200; i++) {
    try {
      PrekeyStore.deserialize(flip(bytes, d.int(bytes.length), d.int(8)));
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
    }
  }
  assert.throws(() => PrekeyStore.create(bob, -1), TypeError);
  assert.throws(() => store.rotate(bob, 1.5), TypeError);
});
