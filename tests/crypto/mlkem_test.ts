// ML-KEM API behaviour: sizes, round trips with random and fixed inputs, the layout of the secret key, the
// input checks of FIPS 203 §7 (lengths, the modulus check, the hash check) with their errors, implicit
// rejection giving J(z ‖ c), and that inputs are left unchanged. The standard's vectors are in
// mlkem_wycheproof_test.ts and mlkem_cctv_test.ts, the differential against OpenSSL in mlkem_node26_test.ts.

import assert from "node:assert/strict";
import { bytesToHex, concatBytes } from "../../crypto/bytes.ts";
import { type MlKem, mlkem1024, mlkem768 } from "../../crypto/mlkem.ts";
import { sha3_256, shake256 } from "../../crypto/sha3.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const SIZES: [MlKem, number, number, number, number][] = [
  [mlkem768, 3, 1184, 2400, 1088],
  [mlkem1024, 4, 1568, 3168, 1568],
];

for (const [kem, k, ekLength, dkLength, ctLength] of SIZES) {
  Deno.test(`${kem.name}: sizes and a frozen parameter object`, () => {
    assert.equal(kem.publicKeyBytes, ekLength);
    assert.equal(kem.secretKeyBytes, dkLength);
    assert.equal(kem.cipherTextBytes, ctLength);
    assert.equal(kem.sharedSecretBytes, 32);
    assert.ok(Object.isFrozen(kem));
  });

  Deno.test(`${kem.name}: random round trips, and fresh randomness when no seed or message is given`, () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { publicKey, secretKey } = kem.keygen();
      assert.equal(publicKey.length, ekLength);
      assert.equal(secretKey.length, dkLength);
      const { cipherText, sharedSecret } = kem.encapsulate(publicKey);
      assert.equal(cipherText.length, ctLength);
      assert.deepEqual(kem.decapsulate(cipherText, secretKey), sharedSecret);
      seen.add(bytesToHex(publicKey)).add(bytesToHex(sharedSecret));
    }
    assert.equal(seen.size, 40);
  });

  Deno.test(`${kem.name}: deterministic from the seed and message; dk = dk_PKE ‖ ek ‖ H(ek) ‖ z`, () => {
    const seed = random(64), m = random(32);
    const a = kem.keygen(seed), b = kem.keygen(seed.slice());
    assert.deepEqual(a, b);
    const dk = a.secretKey;
    assert.deepEqual(dk.subarray(384 * k, 768 * k + 32), a.publicKey);
    assert.deepEqual(dk.subarray(768 * k + 32, 768 * k + 64), sha3_256(a.publicKey));
    assert.deepEqual(dk.subarray(768 * k + 64), seed.subarray(32));
    assert.deepEqual(kem.encapsulate(a.publicKey, m), kem.encapsulate(a.publicKey, m.slice()));
  });

  Deno.test(`${kem.name}: a changed ciphertext is rejected implicitly with J(z ‖ c), with no error`, () => {
    const seed = random(64), z = seed.subarray(32);
    const { publicKey, secretKey } = kem.keygen(seed);
    const { cipherText, sharedSecret } = kem.encapsulate(publicKey);
    for (const pos of [0, 1, ctLength >> 1, ctLength - 1]) {
      const c = cipherText.slice();
      c[pos] ^= 1 << (pos & 7);
      const got = kem.decapsulate(c, secretKey);
      assert.notDeepEqual(got, sharedSecret);
      assert.deepEqual(got, shake256(concatBytes(z, c), 32), `byte ${pos}`);
    }
    // A secret key with another z changes only the rejection key.
    const other = secretKey.slice();
    other[dkLength - 1] ^= 1;
    assert.deepEqual(kem.decapsulate(cipherText, other), sharedSecret);
  });

  Deno.test(`${kem.name}: inputs are checked (FIPS 203 §7.1–§7.3) and left unchanged`, () => {
    const seed = random(64);
    const { publicKey, secretKey } = kem.keygen(seed);
    const { cipherText } = kem.encapsulate(publicKey);
    const copies = [seed, publicKey, secretKey, cipherText].map((x) => x.slice());
    kem.decapsulate(cipherText, secretKey);
    assert.deepEqual([seed, publicKey, secretKey, cipherText], copies);

    for (const n of [0, 32, 63, 65]) {
      assert.throws(() => kem.keygen(random(n)), { name: "RangeError", message: /^seed must be 64 bytes/ });
    }
    for (const n of [0, ekLength - 1, ekLength + 1]) {
      assert.throws(() => kem.encapsulate(random(n)), { name: "RangeError", message: /^publicKey must be/ });
    }
    for (const n of [0, 31, 33]) {
      assert.throws(() => kem.encapsulate(publicKey, random(n)), {
        name: "RangeError",
        message: /^m must be/,
      });
    }
    for (const n of [0, ctLength - 1, ctLength + 1]) {
      assert.throws(() => kem.decapsulate(random(n), secretKey), {
        name: "RangeError",
        message: /^cipherText/,
      });
    }
    for (const n of [0, dkLength - 1, dkLength + 1]) {
      assert.throws(() => kem.decapsulate(cipherText, random(n)), {
        name: "RangeError",
        message: /^secretKey/,
      });
    }
    // The hash check: a change to the ek inside dk, or to H(ek), is refused.
    for (const pos of [384 * k, 768 * k, 768 * k + 31, 768 * k + 32, 768 * k + 63]) {
      const dk = secretKey.slice();
      dk[pos] ^= 0x40;
      assert.throws(() => kem.decapsulate(cipherText, dk), {
        name: "RangeError",
        message: `secretKey is not a valid ${kem.name} decapsulation key: its key hash does not match`,
      });
    }
    // The modulus check: the largest 12-bit value in the last coefficient of t̂.
    const ek = publicKey.slice();
    ek[384 * k - 2] |= 0xf0;
    ek[384 * k - 1] = 0xff;
    assert.throws(() => kem.encapsulate(ek), {
      name: "RangeError",
      message: `publicKey is not a valid ${kem.name} encapsulation key: a coefficient is not below q`,
    });
    for (const bad of ["x".repeat(64), [1, 2], null, new Uint16Array(32)]) {
      const b = bad as unknown as Uint8Array;
      assert.throws(() => kem.keygen(b), TypeError);
      assert.throws(() => kem.encapsulate(b), TypeError);
      assert.throws(() => kem.encapsulate(publicKey, b), TypeError);
      assert.throws(() => kem.decapsulate(b, secretKey), TypeError);
      assert.throws(() => kem.decapsulate(cipherText, b), TypeError);
    }
  });
}

Deno.test("ML-KEM: the two sizes share scratch space without interfering", () => {
  const a = mlkem768.keygen(), b = mlkem1024.keygen();
  const ea = mlkem768.encapsulate(a.publicKey), eb = mlkem1024.encapsulate(b.publicKey);
  assert.deepEqual(mlkem1024.decapsulate(eb.cipherText, b.secretKey), eb.sharedSecret);
  assert.deepEqual(mlkem768.decapsulate(ea.cipherText, a.secretKey), ea.sharedSecret);
});
