// precomputeBase: a wider base-point table gives the same keys and signatures as the default one, for
// edge-case and random scalars, verification still works through it, and bad widths are refused.
// (Each test file runs in its own module instance, so widening the shared curves here stays here.)

import assert from "node:assert/strict";
import { bigIntToBytes, bytesToHex } from "../../crypto/bytes.ts";
import type { Curve } from "../../crypto/ec.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";

const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** Scalars at the edges of the windows and of the range, then random ones, as secret keys. */
function scalars(curve: Curve): Uint8Array[] {
  const n = curve.n, out: bigint[] = [1n, 2n, 3n, 255n, 256n, 257n, n - 1n, n - 2n, n - 3n, (n - 1n) / 2n];
  for (const w of [5, 6, 7, 8]) out.push(1n << BigInt(w), (1n << BigInt(w)) - 1n, (1n << BigInt(8 * w)) + 1n);
  for (let i = 0; i < 12; i++) out.push(BigInt("0x" + bytesToHex(curve.randomSecretKey())));
  return out.map((k) => bigIntToBytes(k, curve.byteLength));
}

for (const curve of [p256, p384, p521]) {
  Deno.test(`${curve.name}: an 8-bit base table gives the same keys and signatures as the default`, () => {
    const keys = scalars(curve);
    const messages = keys.map(() => randomBytes(40));
    const before = keys.map((k, i) => [curve.getPublicKey(k, false), curve.sign(k, messages[i])]);
    curve.precomputeBase(8);
    curve.precomputeBase(6); // narrower than the table in place: nothing changes
    keys.forEach((k, i) => {
      const [publicKey, signature] = before[i];
      assert.equal(bytesToHex(curve.getPublicKey(k, false)), bytesToHex(publicKey));
      assert.equal(bytesToHex(curve.sign(k, messages[i])), bytesToHex(signature)); // RFC 6979: deterministic
      assert.ok(curve.verify(publicKey, messages[i], signature));
      assert.ok(!curve.verify(publicKey, randomBytes(40), signature));
    });
  });

  Deno.test(`${curve.name}: precomputeBase refuses widths other than 5 to 8`, () => {
    for (const bad of [4, 9, 0, -8, 6.5, NaN, "8" as unknown as number]) {
      assert.throws(() => curve.precomputeBase(bad), RangeError);
    }
  });
}
