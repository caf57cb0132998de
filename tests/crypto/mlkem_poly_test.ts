// The ML-KEM polynomial layer against a plain transcription of FIPS 203's algorithms (exact arithmetic with
// %, no Montgomery or Barrett reduction): NTT, inverse NTT and MultiplyNTTs on random inputs and on inputs at
// the edges of their documented ranges, where lazy reduction would first overflow; the output ranges; and
// the two reductions over their whole input ranges.

import assert from "node:assert/strict";
import {
  barrett,
  byteDecode,
  byteEncode,
  invNtt,
  montReduce,
  mulCache,
  multiplyAccumulate,
  N,
  ntt,
  Q,
} from "../../crypto/mlkem_poly.ts";

const mod = (x: number) => ((x % Q) + Q) % Q;
const powMod = (b: number, e: number) => {
  let r = 1;
  for (let i = 0; i < e; i++) r = (r * b) % Q;
  return r;
};
const bitRev7 = (i: number) => parseInt(i.toString(2).padStart(7, "0").split("").reverse().join(""), 2);
const ZETA = Array.from({ length: 128 }, (_, i) => powMod(17, bitRev7(i)));
const R = 65536 % Q, R_INV = powMod(R, Q - 2);

/** Algorithm 9, as written. */
function refNtt(f: number[]): number[] {
  const r = f.map(mod);
  let i = 1;
  for (let len = 128; len >= 2; len >>= 1) {
    for (let start = 0; start < 256; start += 2 * len) {
      const z = ZETA[i++];
      for (let j = start; j < start + len; j++) {
        const t = (z * r[j + len]) % Q;
        r[j + len] = mod(r[j] - t);
        r[j] = (r[j] + t) % Q;
      }
    }
  }
  return r;
}

/** Algorithm 10, as written. */
function refInvNtt(f: number[]): number[] {
  const r = f.map(mod);
  let i = 127;
  for (let len = 2; len <= 128; len <<= 1) {
    for (let start = 0; start < 256; start += 2 * len) {
      const z = ZETA[i--];
      for (let j = start; j < start + len; j++) {
        const t = r[j];
        r[j] = (t + r[j + len]) % Q;
        r[j + len] = (z * mod(r[j + len] - t)) % Q;
      }
    }
  }
  return r.map((x) => (x * 3303) % Q); // 3303 = 128⁻¹ mod q
}

/** Algorithms 11 and 12, summed over the vectors. */
function refMultiply(a: number[][], b: number[][]): number[] {
  const out = new Array(256).fill(0);
  for (let j = 0; j < a.length; j++) {
    for (let i = 0; i < 128; i++) {
      const g = powMod(17, 2 * bitRev7(i) + 1);
      const [a0, a1, b0, b1] = [a[j][2 * i], a[j][2 * i + 1], b[j][2 * i], b[j][2 * i + 1]].map(mod);
      out[2 * i] = (out[2 * i] + a0 * b0 + ((a1 * b1) % Q) * g) % Q;
      out[2 * i + 1] = (out[2 * i + 1] + a0 * b1 + a1 * b0) % Q;
    }
  }
  return out;
}

const randomIn = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
/** Random polynomials with |x| < q, some all at the extremes ±(q − 1). */
function inputs(count: number, lo: number, hi: number): number[][] {
  const out: number[][] = [];
  for (let n = 0; n < count; n++) {
    const kind = n % 4;
    out.push(Array.from({ length: N }, () => {
      if (kind === 1) return hi;
      if (kind === 2) return lo;
      if (kind === 3) return Math.random() < 0.5 ? lo : hi;
      return randomIn(lo, hi);
    }));
  }
  return out;
}

Deno.test("mlkem_poly: NTT equals Algorithm 9 for |inputs| < q, output within ±(q − 1)/2", () => {
  for (const f of inputs(40, -(Q - 1), Q - 1)) {
    const r = Int32Array.from(f);
    ntt(r);
    assert.ok(r.every((x) => Math.abs(x) <= (Q - 1) / 2));
    assert.deepEqual(Array.from(r, mod), refNtt(f));
  }
});

Deno.test("mlkem_poly: inverse NTT equals Algorithm 10 times 2^16 for |inputs| < q, output below q", () => {
  for (const f of inputs(40, -(Q - 1), Q - 1)) {
    const r = Int32Array.from(f);
    invNtt(r);
    assert.ok(r.every((x) => Math.abs(x) < Q));
    assert.deepEqual(Array.from(r, (x) => mod(x * R_INV)), refInvNtt(f));
  }
});

Deno.test("mlkem_poly: NTT then inverse NTT is the identity (times 2^16)", () => {
  for (const f of inputs(8, -(Q - 1), Q - 1)) {
    const r = Int32Array.from(f);
    ntt(r);
    invNtt(r);
    assert.deepEqual(Array.from(r, (x) => mod(x * R_INV)), f.map(mod));
  }
});

Deno.test("mlkem_poly: MultiplyNTTs summed over k = 1 … 4 equals Algorithm 11, times 2^-16, output below q", () => {
  for (let k = 1; k <= 4; k++) {
    for (let n = 0; n < 12; n++) {
      // a: |a| < q (a canonical or decoded operand); b: |b| ≤ (q − 1)/2 (an NTT output).
      const a = inputs(k, -(Q - 1), Q - 1).map((p) => (n % 2 ? p.map((x) => Math.abs(x)) : p));
      const b = inputs(k, -(Q - 1) / 2, (Q - 1) / 2);
      const cache = b.map((p) => {
        const c = new Int32Array(128);
        mulCache(c, Int32Array.from(p));
        return c;
      });
      const out = new Int32Array(N);
      multiplyAccumulate(out, a.map((p) => Int32Array.from(p)), b.map((p) => Int32Array.from(p)), cache, k);
      assert.ok(out.every((x) => Math.abs(x) < Q));
      assert.deepEqual(Array.from(out, (x) => mod(x * R)), refMultiply(a, b), `k = ${k}`);
    }
  }
});

Deno.test("mlkem_poly: Barrett and Montgomery reduction over their input ranges", () => {
  for (let a = -32768; a < 32768; a++) {
    const r = barrett(a);
    assert.ok(Math.abs(r) <= (Q - 1) / 2 && mod(r) === mod(a), `barrett(${a})`);
  }
  const limit = Q * 32768;
  for (let n = 0; n < 200000; n++) {
    const a = n < 4 ? [limit - 1, -limit + 1, 0, 1][n] : randomIn(-limit + 1, limit - 1);
    const r = montReduce(a);
    assert.ok(Math.abs(r) < Q && mod(r * R) === mod(a), `montReduce(${a})`);
  }
});

/** BitsToBytes(ByteEncode_d) as Algorithm 5 writes it, bit by bit. */
function refByteEncode(f: number[], d: number): number[] {
  const bits: number[] = [];
  for (const x of f) for (let j = 0; j < d; j++) bits.push((x >> j) & 1);
  const out = new Array(32 * d).fill(0);
  bits.forEach((b, i) => (out[i >> 3] |= b << (i & 7)));
  return out;
}

Deno.test("mlkem_poly: ByteEncode_d and ByteDecode_d equal Algorithms 5 and 6 bit by bit, for every width", () => {
  for (const d of [1, 4, 5, 10, 11, 12]) {
    for (let n = 0; n < 20; n++) {
      const f = Array.from(
        { length: N },
        (_, i) => n === 0 ? (1 << d) - 1 : n === 1 ? (i & 1) << (d - 1) : randomIn(0, (1 << d) - 1),
      );
      const off = n % 3;
      const out = new Uint8Array(32 * d + off + 2).fill(0xee);
      byteEncode(out, off, Int32Array.from(f), d);
      assert.deepEqual(Array.from(out.subarray(off, off + 32 * d)), refByteEncode(f, d), `encode d = ${d}`);
      assert.ok(
        out[off + 32 * d] === 0xee && (off === 0 || out[off - 1] === 0xee),
        `encode d = ${d} stays in range`,
      );
      const back = new Int32Array(N);
      byteDecode(back, out, off, d);
      assert.deepEqual(Array.from(back), f, `decode d = ${d}`);
    }
  }
  assert.throws(() => byteEncode(new Uint8Array(300), 0, new Int32Array(N), 7), RangeError);
  assert.throws(() => byteDecode(new Int32Array(N), new Uint8Array(300), 0, 7), RangeError);
});
