// The polynomial layer of ML-KEM (FIPS 203 §4): arithmetic mod q = 3329, the NTT, the byte encodings and
// compression, and the two samplers. crypto/mlkem.ts builds K-PKE and the KEM on it; the tests check each
// piece against the CCTV intermediate values.
//
// Polynomials are Int32Arrays of 256 coefficients. Products use Montgomery reduction with R = 2^16 (as the
// Kyber reference code does) and sums are brought back into range with Barrett reduction, so nothing divides
// by q. No branch or table index depends on a coefficient, except the rejection in sampleNtt, whose input is
// the public seed ρ.

import { KeccakSponge } from "./sha3.ts";

export const N = 256;
export const Q = 3329;
const QINV = -3327; // q⁻¹ mod 2^16, as a signed 16-bit value: q · QINV ≡ 1 (mod 2^16)

// ---------------------------------------------------------------------------------------------------------
// Arithmetic mod q

/** a · 2^-16 mod q, in (−q, q), for |a| < q · 2^15 (Montgomery reduction). */
export function montReduce(a: number): number {
  const t = (Math.imul(a, QINV) << 16) >> 16; // a · q⁻¹ mod 2^16, signed
  return (a - Math.imul(t, Q)) >> 16; // exact: a − t·q ≡ 0 (mod 2^16)
}

/** The representative of a mod q in [−(q − 1)/2, (q − 1)/2], for |a| < 2^15 (Barrett reduction). */
export function barrett(a: number): number {
  const t = (Math.imul(20159, a) + (1 << 25)) >> 26; // 20159 = round(2^26 / q)
  return a - Math.imul(t, Q);
}

/** a mod q in [0, q), for |a| < 2^15: Barrett, then q added back under a mask if negative. */
export function canonical(a: number): number {
  const r = barrett(a);
  return r + ((r >> 31) & Q);
}

function powMod(b: number, e: number): number {
  let r = 1;
  for (let i = 0; i < e; i++) r = (r * b) % Q;
  return r;
}

function bitRev7(i: number): number {
  let r = 0;
  for (let b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b);
  return r;
}

/** x · 2^16 mod q, centred in (−q/2, q/2]: the Montgomery form that montReduce(x' · y) = x · y expects. */
function toMont(x: number): number {
  const r = (x * 65536) % Q;
  return r > Q >> 1 ? r - Q : r;
}

// FIPS 203 §4.3: ζ = 17 is a primitive 256th root of unity mod q. ZETAS[i] = ζ^BitRev7(i) (NTT, Algorithms
// 9 and 10); GAMMAS[i] = ζ^(2·BitRev7(i) + 1) (BaseCaseMultiply, Algorithm 11). Both in Montgomery form.
const ZETAS = Int32Array.from({ length: 128 }, (_, i) => toMont(powMod(17, bitRev7(i))));
const GAMMAS = Int32Array.from({ length: 128 }, (_, i) => toMont(powMod(17, 2 * bitRev7(i) + 1)));
const INV_NTT_F = 1441; // 2^32 / 128 mod q: montReduce(x · F) = x · 2^16 / 128
// ζ^BitRev7(1) · F in Montgomery form: the last inverse layer's twiddle with the final scaling folded in.
const INV_NTT_ZF = toMont((powMod(17, bitRev7(1)) * 1441 * powMod(2285, Q - 2)) % Q); // 2285 = 2^16 mod q
export const MONT_R2 = 1353; // 2^32 mod q: montReduce(x · R2) = x · 2^16

/**
 * NTT (Algorithm 9) in place; input |coefficients| < q, output in [−(q − 1)/2, (q − 1)/2].
 *
 * Layers go two at a time (len, len/2) as radix-4 butterflies on r[j], r[j + len/2], r[j + len],
 * r[j + 3len/2], which halves the loads and stores; the last layer (len 2) runs alone. Each layer adds less
 * than q to the magnitude (montReduce's output), so the values stay below 8q and one Barrett pass at the end
 * suffices.
 */
export function ntt(r: Int32Array): void {
  for (let len = 128; len >= 8; len >>= 2) {
    const half = len >> 1, blocks = 128 / len;
    for (let b = 0; b < blocks; b++) {
      const k = blocks + b, z1 = ZETAS[k], z2 = ZETAS[2 * k], z3 = ZETAS[2 * k + 1];
      for (let j = 2 * len * b, end = j + half; j < end; j++) {
        let a0 = r[j], a1 = r[j + half], a2 = r[j + len], a3 = r[j + len + half];
        let t = montReduce(Math.imul(z1, a2));
        a2 = a0 - t;
        a0 = a0 + t;
        t = montReduce(Math.imul(z1, a3));
        a3 = a1 - t;
        a1 = a1 + t;
        t = montReduce(Math.imul(z2, a1));
        r[j + half] = a0 - t;
        r[j] = a0 + t;
        t = montReduce(Math.imul(z3, a3));
        r[j + len + half] = a2 - t;
        r[j + len] = a2 + t;
      }
    }
  }
  // len = 2, then the Barrett pass.
  for (let b = 0; b < 64; b++) {
    const z = ZETAS[64 + b], j = 4 * b;
    const a0 = r[j], a1 = r[j + 1];
    let t = montReduce(Math.imul(z, r[j + 2]));
    r[j + 2] = barrett(a0 - t);
    r[j] = barrett(a0 + t);
    t = montReduce(Math.imul(z, r[j + 3]));
    r[j + 3] = barrett(a1 - t);
    r[j + 1] = barrett(a1 + t);
  }
}

/**
 * Inverse NTT (Algorithm 10) in place, times 2^16 (it undoes the 2^-16 that multiplyAccumulate leaves);
 * input |coefficients| < q, output |coefficients| < q.
 *
 * Layers go two at a time (len, 2·len) as radix-4 butterflies on r[j], r[j + len], r[j + 2len], r[j + 3len];
 * the last layer (len 128) runs alone with the final scaling by F = 2^32 / 128 folded in. Sums double each
 * layer, so the four inputs of the middle pair of layers are Barrett-reduced (from below 4q); nothing else is.
 */
export function invNtt(r: Int32Array): void {
  for (let len = 2; len <= 32; len <<= 2) {
    const blocks = 64 / len;
    for (let b = 0; b < blocks; b++) {
      // Layer len: blocks 2b and 2b + 1; layer 2·len: block b.
      const za = ZETAS[256 / len - 1 - 2 * b],
        zb = ZETAS[256 / len - 2 - 2 * b],
        zc = ZETAS[128 / len - 1 - b];
      for (let j = 4 * len * b, end = j + len; j < end; j++) {
        let a0 = r[j], a1 = r[j + len], a2 = r[j + 2 * len], a3 = r[j + 3 * len];
        if (len === 8) {
          a0 = barrett(a0);
          a1 = barrett(a1);
          a2 = barrett(a2);
          a3 = barrett(a3);
        }
        let t = a0;
        a0 = t + a1;
        a1 = montReduce(Math.imul(za, a1 - t));
        t = a2;
        a2 = t + a3;
        a3 = montReduce(Math.imul(zb, a3 - t));
        t = a0;
        r[j] = t + a2;
        r[j + 2 * len] = montReduce(Math.imul(zc, a2 - t));
        t = a1;
        r[j + len] = t + a3;
        r[j + 3 * len] = montReduce(Math.imul(zc, a3 - t));
      }
    }
  }
  for (let j = 0; j < 128; j++) {
    const t = r[j], u = r[j + 128];
    r[j] = montReduce(Math.imul(t + u, INV_NTT_F));
    r[j + 128] = montReduce(Math.imul(INV_NTT_ZF, u - t));
  }
}

/**
 * The products b[2i + 1] · γ_i (plain domain, |·| < q) that multiplyAccumulate needs from its right-hand
 * vector: computed once per polynomial, they serve every row it multiplies (the Kyber reference's "mulcache").
 */
export function mulCache(cache: Int32Array, b: Int32Array): void {
  for (let i = 0; i < 128; i++) cache[i] = montReduce(Math.imul(b[2 * i + 1], GAMMAS[i]));
}

/**
 * out = Σ_j a[j] × b[j] in the NTT domain (MultiplyNTTs, Algorithm 11, summed over j < k), times 2^-16,
 * with |out| < q; bCache[j] = mulCache(b[j]). Inputs: |a| < q, |b| ≤ (q − 1)/2.
 *
 * BaseCaseMultiply: (a0 + a1·X)(b0 + b1·X) mod X² − γ = (a0·b0 + a1·b1·γ) + (a0·b1 + a1·b0)·X. The sums are
 * accumulated unreduced in `out` (each term below 1.5q², at most four terms: below 2^27) and reduced once.
 */
export function multiplyAccumulate(
  out: Int32Array,
  a: Int32Array[],
  b: Int32Array[],
  bCache: Int32Array[],
  k: number,
): void {
  for (let j = 0; j < k; j++) {
    const aj = a[j], bj = b[j], cj = bCache[j];
    if (j === 0) {
      for (let i = 0; i < 128; i++) {
        const a0 = aj[2 * i], a1 = aj[2 * i + 1], b0 = bj[2 * i], b1 = bj[2 * i + 1];
        out[2 * i] = Math.imul(a0, b0) + Math.imul(a1, cj[i]);
        out[2 * i + 1] = Math.imul(a0, b1) + Math.imul(a1, b0);
      }
    } else {
      for (let i = 0; i < 128; i++) {
        const a0 = aj[2 * i], a1 = aj[2 * i + 1], b0 = bj[2 * i], b1 = bj[2 * i + 1];
        out[2 * i] += Math.imul(a0, b0) + Math.imul(a1, cj[i]);
        out[2 * i + 1] += Math.imul(a0, b1) + Math.imul(a1, b0);
      }
    }
  }
  for (let i = 0; i < N; i++) out[i] = montReduce(out[i]);
}

// ---------------------------------------------------------------------------------------------------------
// Encodings (FIPS 203 §4.2.1)

// ByteEncode_d and ByteDecode_d for the widths ML-KEM-768 and ML-KEM-1024 use, each written out for the
// smallest whole group (coefficients ↔ bytes): d = 12 (2 ↔ 3), 11 (8 ↔ 11), 10 (4 ↔ 5), 5 (8 ↔ 5), 4 (2 ↔ 1),
// 1 (8 ↔ 1). Coefficient i occupies bits d·i … d·i + d − 1 of the little-endian byte string; the tests
// check each width against a bit-by-bit transcription of Algorithms 5 and 6. (A generic bit packer was about
// four times slower here.) Stores into a Uint8Array keep the low 8 bits.

/** ByteEncode_d of 256 coefficients in [0, 2^d) to out[off, off + 32d), for d in {1, 4, 5, 10, 11, 12}. */
export function byteEncode(out: Uint8Array, off: number, f: Int32Array, d: number): void {
  switch (d) {
    case 12:
      for (let i = 0, o = off; i < N; i += 2, o += 3) {
        const a = f[i], b = f[i + 1];
        out[o] = a;
        out[o + 1] = (a >> 8) | (b << 4);
        out[o + 2] = b >> 4;
      }
      return;
    case 11:
      for (let i = 0, o = off; i < N; i += 8, o += 11) {
        const a0 = f[i], a1 = f[i + 1], a2 = f[i + 2], a3 = f[i + 3];
        const a4 = f[i + 4], a5 = f[i + 5], a6 = f[i + 6], a7 = f[i + 7];
        out[o] = a0;
        out[o + 1] = (a0 >> 8) | (a1 << 3);
        out[o + 2] = (a1 >> 5) | (a2 << 6);
        out[o + 3] = a2 >> 2;
        out[o + 4] = (a2 >> 10) | (a3 << 1);
        out[o + 5] = (a3 >> 7) | (a4 << 4);
        out[o + 6] = (a4 >> 4) | (a5 << 7);
        out[o + 7] = a5 >> 1;
        out[o + 8] = (a5 >> 9) | (a6 << 2);
        out[o + 9] = (a6 >> 6) | (a7 << 5);
        out[o + 10] = a7 >> 3;
      }
      return;
    case 10:
      for (let i = 0, o = off; i < N; i += 4, o += 5) {
        const a0 = f[i], a1 = f[i + 1], a2 = f[i + 2], a3 = f[i + 3];
        out[o] = a0;
        out[o + 1] = (a0 >> 8) | (a1 << 2);
        out[o + 2] = (a1 >> 6) | (a2 << 4);
        out[o + 3] = (a2 >> 4) | (a3 << 6);
        out[o + 4] = a3 >> 2;
      }
      return;
    case 5:
      for (let i = 0, o = off; i < N; i += 8, o += 5) {
        const a0 = f[i], a1 = f[i + 1], a2 = f[i + 2], a3 = f[i + 3];
        const a4 = f[i + 4], a5 = f[i + 5], a6 = f[i + 6], a7 = f[i + 7];
        out[o] = a0 | (a1 << 5);
        out[o + 1] = (a1 >> 3) | (a2 << 2) | (a3 << 7);
        out[o + 2] = (a3 >> 1) | (a4 << 4);
        out[o + 3] = (a4 >> 4) | (a5 << 1) | (a6 << 6);
        out[o + 4] = (a6 >> 2) | (a7 << 3);
      }
      return;
    case 4:
      for (let i = 0, o = off; i < N; i += 2, o++) out[o] = f[i] | (f[i + 1] << 4);
      return;
    case 1:
      for (let i = 0, o = off; i < N; i += 8, o++) {
        out[o] = f[i] | (f[i + 1] << 1) | (f[i + 2] << 2) | (f[i + 3] << 3) | (f[i + 4] << 4) |
          (f[i + 5] << 5) |
          (f[i + 6] << 6) | (f[i + 7] << 7);
      }
      return;
  }
  throw new RangeError(`byteEncode: unsupported width ${d}`);
}

/**
 * ByteDecode_d of in[off, off + 32d) into 256 coefficients in [0, 2^d), for d in {1, 4, 5, 10, 11, 12} (no
 * reduction mod q: see byteDecode12ModQ).
 */
export function byteDecode(f: Int32Array, inp: Uint8Array, off: number, d: number): void {
  switch (d) {
    case 12:
      for (let i = 0, o = off; i < N; i += 2, o += 3) {
        const b1 = inp[o + 1];
        f[i] = inp[o] | ((b1 & 15) << 8);
        f[i + 1] = (b1 >> 4) | (inp[o + 2] << 4);
      }
      return;
    case 11:
      for (let i = 0, o = off; i < N; i += 8, o += 11) {
        const b0 = inp[o],
          b1 = inp[o + 1],
          b2 = inp[o + 2],
          b3 = inp[o + 3],
          b4 = inp[o + 4],
          b5 = inp[o + 5];
        const b6 = inp[o + 6], b7 = inp[o + 7], b8 = inp[o + 8], b9 = inp[o + 9], b10 = inp[o + 10];
        f[i] = b0 | ((b1 & 7) << 8);
        f[i + 1] = (b1 >> 3) | ((b2 & 63) << 5);
        f[i + 2] = (b2 >> 6) | (b3 << 2) | ((b4 & 1) << 10);
        f[i + 3] = (b4 >> 1) | ((b5 & 15) << 7);
        f[i + 4] = (b5 >> 4) | ((b6 & 127) << 4);
        f[i + 5] = (b6 >> 7) | (b7 << 1) | ((b8 & 3) << 9);
        f[i + 6] = (b8 >> 2) | ((b9 & 31) << 6);
        f[i + 7] = (b9 >> 5) | (b10 << 3);
      }
      return;
    case 10:
      for (let i = 0, o = off; i < N; i += 4, o += 5) {
        const b1 = inp[o + 1], b2 = inp[o + 2], b3 = inp[o + 3];
        f[i] = inp[o] | ((b1 & 3) << 8);
        f[i + 1] = (b1 >> 2) | ((b2 & 15) << 6);
        f[i + 2] = (b2 >> 4) | ((b3 & 63) << 4);
        f[i + 3] = (b3 >> 6) | (inp[o + 4] << 2);
      }
      return;
    case 5:
      for (let i = 0, o = off; i < N; i += 8, o += 5) {
        const b0 = inp[o], b1 = inp[o + 1], b2 = inp[o + 2], b3 = inp[o + 3], b4 = inp[o + 4];
        f[i] = b0 & 31;
        f[i + 1] = (b0 >> 5) | ((b1 & 3) << 3);
        f[i + 2] = (b1 >> 2) & 31;
        f[i + 3] = (b1 >> 7) | ((b2 & 15) << 1);
        f[i + 4] = (b2 >> 4) | ((b3 & 1) << 4);
        f[i + 5] = (b3 >> 1) & 31;
        f[i + 6] = (b3 >> 6) | ((b4 & 7) << 2);
        f[i + 7] = b4 >> 3;
      }
      return;
    case 4:
      for (let i = 0, o = off; i < N; i += 2, o++) {
        const b = inp[o];
        f[i] = b & 15;
        f[i + 1] = b >> 4;
      }
      return;
    case 1:
      for (let i = 0, o = off; i < N; i += 8, o++) {
        const b = inp[o];
        for (let j = 0; j < 8; j++) f[i + j] = (b >> j) & 1;
      }
      return;
  }
  throw new RangeError(`byteDecode: unsupported width ${d}`);
}

/** ByteDecode_12 as FIPS 203 defines it for d = 12: each coefficient reduced mod q (one masked subtraction). */
export function byteDecode12ModQ(f: Int32Array, inp: Uint8Array, off: number): void {
  byteDecode(f, inp, off, 12);
  for (let i = 0; i < N; i++) {
    const x = f[i];
    f[i] = x - (Q & ~((x - Q) >> 31));
  }
}

// Compress_d(x) = ⌈(2^d / q) · x⌋ mod 2^d = ⌊(2^d·x + 1664) / q⌋ mod 2^d for x in [0, q) (q is odd, so there
// are no ties). The division is a multiplication by ⌈2^35 / q⌉ / 2^35 in doubles: the numerator is below 2^23,
// the product below 2^47 (exact), and the error below 2^-12 < 1/q, so the floor is exact (tested for every x
// and d). No integer division, whose time can depend on its operands.
export const COMPRESS_M = Math.ceil(2 ** 35 / Q) / 2 ** 35;

/** Compress_d then ByteEncode_d of a polynomial with canonical coefficients. */
export function compressEncode(
  out: Uint8Array,
  off: number,
  f: Int32Array,
  d: number,
  tmp: Int32Array,
): void {
  const mask = (1 << d) - 1;
  for (let i = 0; i < N; i++) tmp[i] = Math.floor(((f[i] << d) + 1664) * COMPRESS_M) & mask;
  byteEncode(out, off, tmp, d);
}

/** ByteDecode_d then Decompress_d: y ↦ ⌈(q / 2^d) · y⌋ = ⌊(q·y + 2^(d−1)) / 2^d⌋. */
export function decodeDecompress(f: Int32Array, inp: Uint8Array, off: number, d: number): void {
  byteDecode(f, inp, off, d);
  const half = 1 << (d - 1);
  for (let i = 0; i < N; i++) f[i] = (Math.imul(Q, f[i]) + half) >> d;
}

// ---------------------------------------------------------------------------------------------------------
// Sampling (FIPS 203 §4.2.2) and the hash functions (§4.1)

const SHAKE128 = new KeccakSponge(168, 0x1f);
const SHAKE256 = new KeccakSponge(136, 0x1f); // PRF
const WORDS = new Int32Array(42); // one SHAKE128 block (168 bytes), or the 128 bytes of PRF_2

/**
 * SampleNTT (Algorithm 7): a uniform polynomial of the NTT domain from SHAKE128(ρ ‖ x ‖ y). Reads the output
 * a block (42 words) at a time; every 3 words are 12 bytes, 4 triples, 8 candidates of 12 bits, taken in
 * order while fewer than 256 are accepted. While at least 8 places are left, each candidate is stored and
 * the count advances by (d < q) computed arithmetically: about one candidate in five is rejected at random,
 * which a branch would mispredict. Rejection depends only on the public seed ρ.
 */
export function sampleNtt(f: Int32Array, rho: Uint8Array, rhoOff: number, x: number, y: number): void {
  const xof = SHAKE128.reset();
  xof.absorb(rho, rhoOff, rhoOff + 32);
  xof.absorbByte(x);
  xof.absorbByte(y);
  const w = WORDS;
  let j = 0;
  while (j < N) {
    xof.squeezeWords(w, 42);
    for (let g = 0; g < 42 && j < N; g += 3) {
      const w0 = w[g], w1 = w[g + 1], w2 = w[g + 2];
      const d0 = w0 & 0xfff, d1 = (w0 >> 12) & 0xfff, d2 = ((w0 >> 24) & 0xff) | ((w1 & 0xf) << 8);
      const d3 = (w1 >> 4) & 0xfff, d4 = (w1 >> 16) & 0xfff, d5 = ((w1 >> 28) & 0xf) | ((w2 & 0xff) << 4);
      const d6 = (w2 >> 8) & 0xfff, d7 = (w2 >> 20) & 0xfff;
      if (j <= N - 8) {
        // (d − q) >> 31 is −1 when d < q, else 0.
        f[j] = d0;
        j -= (d0 - Q) >> 31;
        f[j] = d1;
        j -= (d1 - Q) >> 31;
        f[j] = d2;
        j -= (d2 - Q) >> 31;
        f[j] = d3;
        j -= (d3 - Q) >> 31;
        f[j] = d4;
        j -= (d4 - Q) >> 31;
        f[j] = d5;
        j -= (d5 - Q) >> 31;
        f[j] = d6;
        j -= (d6 - Q) >> 31;
        f[j] = d7;
        j -= (d7 - Q) >> 31;
      } else {
        j = accept(f, j, d0);
        j = accept(f, j, d1);
        j = accept(f, j, d2);
        j = accept(f, j, d3);
        j = accept(f, j, d4);
        j = accept(f, j, d5);
        j = accept(f, j, d6);
        j = accept(f, j, d7);
      }
    }
  }
}

/** Stores candidate d at f[j] if it is below q and there is room; returns the new count. */
function accept(f: Int32Array, j: number, d: number): number {
  if (d < Q && j < N) f[j++] = d;
  return j;
}

/** SamplePolyCBD_2 (Algorithm 8, η = 2) of PRF_2(σ, b) = SHAKE256(σ ‖ b, 128 bytes) (§4.1). */
export function samplePrfCbd2(f: Int32Array, sigma: Uint8Array, sigmaOff: number, b: number): void {
  const prf = SHAKE256.reset();
  prf.absorb(sigma, sigmaOff, sigmaOff + 32);
  prf.absorbByte(b);
  const words = WORDS;
  prf.squeezeWords(words, 32);
  for (let w = 0; w < 32; w++) {
    const t = words[w];
    // Each 2-bit field of d is the sum of two adjacent bits; coefficient i is x − y of the fields 2i, 2i + 1.
    const d = (t & 0x55555555) + ((t >>> 1) & 0x55555555);
    for (let j = 0; j < 8; j++) f[8 * w + j] = ((d >>> (4 * j)) & 3) - ((d >>> (4 * j + 2)) & 3);
  }
  // The PRF output and state are secret: zero them now rather than leave them to the next call.
  words.fill(0);
  prf.reset();
}
