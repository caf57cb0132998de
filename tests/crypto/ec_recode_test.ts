// The regular signed-window recoding reads each digit as a fixed bit field of the odd scalar; it must give
// exactly the digits of the textbook loop (d = (v mod 2^(w+1)) − 2^w, v ← (v − d) / 2^w), and the digits
// must rebuild the scalar (or the scalar plus n when it was even).

import assert from "node:assert/strict";
import { bytesToBigInt } from "../../crypto/bytes.ts";
import { recodeRegular } from "../../crypto/ec.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";

function textbook(k: bigint, n: bigint, w: number, count: number): number[] {
  let v = k % 2n === 1n ? k : k + n;
  const digits: number[] = [];
  for (let i = 0; i < count - 1; i++) {
    const d = Number(BigInt.asUintN(w + 1, v)) - (1 << w);
    digits.push(d);
    v = (v - BigInt(d)) >> BigInt(w);
  }
  digits.push(Number(v));
  return digits;
}

Deno.test("recodeRegular: the textbook digits, which rebuild the odd scalar, for every curve and window", () => {
  for (const { n } of [p256, p384, p521]) {
    const bits = n.toString(2).length;
    for (let w = 4; w <= 8; w++) {
      const count = Math.ceil((bits + 1) / w);
      const scalars = [
        0n,
        1n,
        2n,
        3n,
        n - 1n,
        n - 2n,
        (n - 1n) / 2n,
        (1n << BigInt(w)) - 1n,
        1n << BigInt(w),
      ];
      for (let i = 1; i < bits; i += 7) scalars.push((1n << BigInt(i)) % n, ((1n << BigInt(i)) - 1n) % n);
      for (let i = 0; i < 300; i++) {
        scalars.push(bytesToBigInt(crypto.getRandomValues(new Uint8Array(80))) % n);
      }
      for (const k of scalars) {
        const digits = recodeRegular(k, n, w, count);
        assert.deepEqual([...digits], textbook(k, n, w, count), `w=${w} k=${k.toString(16)}`);
        const value = digits.reduce((acc, d, i) => acc + (BigInt(d) << BigInt(w * i)), 0n);
        assert.equal(value, k % 2n === 1n ? k : k + n);
        for (const d of digits.slice(0, -1)) assert.ok(d % 2 !== 0 && Math.abs(d) < 1 << w);
        assert.ok(digits[count - 1] > 0 && digits[count - 1] < 1 << w);
      }
    }
  }
});
