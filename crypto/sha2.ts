// SHA-256, SHA-384 and SHA-512 (FIPS 180-4), one-shot and incremental.
//
// SHA-512 works on 64-bit words split into 32-bit halves (hi, lo) so everything stays in Int32 arithmetic
// (see compress512). Whole blocks are read straight from the caller's array; the message schedules live
// in preallocated typed arrays shared by every hash. No table lookup or branch depends on the data: the
// running time depends only on the input length.

import { checkBytes, checkLength } from "./bytes.ts";

/** The hash functions this module implements. */
export type HashName = "SHA-256" | "SHA-384" | "SHA-512";

/** An incremental hash: feed it with `update`, read it once with `digest`. */
export interface Hash {
  /** The algorithm. */
  readonly name: HashName;
  /** Bytes in the digest: 32, 48 or 64. */
  readonly outputLength: number;
  /** Bytes in a block: 64 for SHA-256, 128 for SHA-384 and SHA-512. */
  readonly blockLength: number;
  /** Absorbs `data` (any length, any number of calls); returns this hash for chaining. */
  update(data: Uint8Array): this;
  /** Finishes the hash and returns the digest; afterwards `update` and `digest` throw. */
  digest(): Uint8Array;
  /**
   * Like `digest`, but writes the digest to out[offset, offset + outputLength) instead of a new array
   * (a RangeError if it does not fit).
   */
  digestInto(out: Uint8Array, offset?: number): void;
  /** An independent copy of the current state (to hash several messages sharing a prefix). */
  clone(): Hash;
}

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
// deno-fmt-ignore
const K256 = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// FIPS 180-4 §4.2.3: the first 64 bits of the fractional parts of the cube roots of the first 80 primes,
// as (hi, lo) pairs.
// deno-fmt-ignore
const K512 = Int32Array.from([
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd, 0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc,
  0x3956c25b, 0xf348b538, 0x59f111f1, 0xb605d019, 0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118,
  0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe, 0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2,
  0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1, 0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694,
  0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3, 0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483, 0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5,
  0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210, 0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4,
  0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725, 0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70,
  0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926, 0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8, 0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001, 0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30,
  0xd192e819, 0xd6ef5218, 0xd6990624, 0x5565a910, 0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8,
  0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53, 0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8,
  0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb, 0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3,
  0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60, 0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9, 0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b,
  0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207, 0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178,
  0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6, 0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493, 0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c,
  0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a, 0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
]);

// FIPS 180-4 §5.3: initial hash values (square roots of the first 8 primes; the 9th to 16th for SHA-384).
// deno-fmt-ignore
const IV256 = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
// deno-fmt-ignore
const IV384 = Int32Array.from([
  0xcbbb9d5d, 0xc1059ed8, 0x629a292a, 0x367cd507, 0x9159015a, 0x3070dd17, 0x152fecd8, 0xf70e5939,
  0x67332667, 0xffc00b31, 0x8eb44a87, 0x68581511, 0xdb0c2e0d, 0x64f98fa7, 0x47b5481d, 0xbefa4fa4,
]);
// deno-fmt-ignore
const IV512 = Int32Array.from([
  0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b, 0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1,
  0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f, 0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179,
]);

// Message schedules, reused by every call: the compression functions are synchronous, and digest() clears
// them. SHA-512's words are split into hi and lo arrays; lo halves are kept unsigned.
const W256 = new Int32Array(64);
const W512_HI = new Int32Array(80);
const W512_LO = new Uint32Array(80);
const K512_HI = Int32Array.from({ length: 80 }, (_, i) => K512[2 * i]);
const K512_LO = Uint32Array.from({ length: 80 }, (_, i) => K512[2 * i + 1]);

// SHA-256 functions (FIPS 180-4 §4.1.2). `(x >>> n) | (x << (32 - n))` compiles to one rotate instruction.
function bigSigma0(x: number): number {
  return ((x >>> 2) | (x << 30)) ^ ((x >>> 13) | (x << 19)) ^ ((x >>> 22) | (x << 10));
}
function bigSigma1(x: number): number {
  return ((x >>> 6) | (x << 26)) ^ ((x >>> 11) | (x << 21)) ^ ((x >>> 25) | (x << 7));
}

/** SHA-256 compression (FIPS 180-4 §6.2.2) of the 64-byte blocks at [pos, end) of `view` into `s`. */
function compress256(s: Int32Array, view: DataView, pos: number, end: number): void {
  const w = W256, k = K256;
  let h0 = s[0], h1 = s[1], h2 = s[2], h3 = s[3], h4 = s[4], h5 = s[5], h6 = s[6], h7 = s[7];
  for (; pos < end; pos += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getInt32(pos + 4 * i);
    for (let i = 16; i < 64; i++) {
      // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], σ written out (faster here than calls).
      const x = w[i - 15], y = w[i - 2];
      w[i] = ((((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + w[i - 7] +
        (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[i - 16]) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7, t = 0;
    // Eight rounds per iteration with the roles of the variables rotating, so that no value is moved:
    // T1 = h + Σ1(e) + Ch(e, f, g) + K[t] + W[t]; d += T1; h = T1 + Σ0(a) + Maj(a, b, c).
    for (let i = 0; i < 64; i += 8) {
      t = (h + bigSigma1(e) + (g ^ (e & (f ^ g))) + k[i] + w[i]) | 0;
      d = (d + t) | 0;
      h = (t + bigSigma0(a) + ((a & b) ^ (c & (a ^ b)))) | 0;
      t = (g + bigSigma1(d) + (f ^ (d & (e ^ f))) + k[i + 1] + w[i + 1]) | 0;
      c = (c + t) | 0;
      g = (t + bigSigma0(h) + ((h & a) ^ (b & (h ^ a)))) | 0;
      t = (f + bigSigma1(c) + (e ^ (c & (d ^ e))) + k[i + 2] + w[i + 2]) | 0;
      b = (b + t) | 0;
      f = (t + bigSigma0(g) + ((g & h) ^ (a & (g ^ h)))) | 0;
      t = (e + bigSigma1(b) + (d ^ (b & (c ^ d))) + k[i + 3] + w[i + 3]) | 0;
      a = (a + t) | 0;
      e = (t + bigSigma0(f) + ((f & g) ^ (h & (f ^ g)))) | 0;
      t = (d + bigSigma1(a) + (c ^ (a & (b ^ c))) + k[i + 4] + w[i + 4]) | 0;
      h = (h + t) | 0;
      d = (t + bigSigma0(e) + ((e & f) ^ (g & (e ^ f)))) | 0;
      t = (c + bigSigma1(h) + (b ^ (h & (a ^ b))) + k[i + 5] + w[i + 5]) | 0;
      g = (g + t) | 0;
      c = (t + bigSigma0(d) + ((d & e) ^ (f & (d ^ e)))) | 0;
      t = (b + bigSigma1(g) + (a ^ (g & (h ^ a))) + k[i + 6] + w[i + 6]) | 0;
      f = (f + t) | 0;
      b = (t + bigSigma0(c) + ((c & d) ^ (e & (c ^ d)))) | 0;
      t = (a + bigSigma1(f) + (h ^ (f & (g ^ h))) + k[i + 7] + w[i + 7]) | 0;
      e = (e + t) | 0;
      a = (t + bigSigma0(b) + ((b & c) ^ (d & (b ^ c)))) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  s[0] = h0;
  s[1] = h1;
  s[2] = h2;
  s[3] = h3;
  s[4] = h4;
  s[5] = h5;
  s[6] = h6;
  s[7] = h7;
}

// SHA-512 on 32-bit halves. A 64-bit rotation of x = (h, l) by n < 32 is
//   hi = (h >>> n) | (l << (32 - n)),  lo = (l >>> n) | (h << (32 - n)),
// and by n >= 32 the same with h and l swapped and n - 32. So an XOR of three rotations has
//   hi = A(h) ^ B(l),  lo = A(l) ^ B(h)
// for two XORs of 32-bit shifts A and B whose XOR R = A ^ B is an XOR of 32-bit rotations (one rotate
// instruction each). Hence hi = R(l) ^ A(h ^ l) and lo = R(h) ^ A(h ^ l), or equally with B and the
// halves exchanged: two rotation sums and one shared shift sum instead of twelve shifts.
//   Σ1 (rotr 14, 18, 41): R = ror 14 ^ ror 18 ^ ror 9 = ror 9 ∘ (ror 5 ^ ror 9 ^ id),
//                         A(t) = t >>> 14 ^ t >>> 18 ^ t << 23 = (t ^ t >>> 4) >>> 14 ^ t << 23.
//   Σ0 (rotr 28, 34, 39): R = ror 28 ^ ror 2 ^ ror 7 = ror 2 ∘ (ror 26 ^ ror 5 ^ id),
//                         A(t) = t >>> 28 ^ t << 30 ^ t << 25.
//   σ0, σ1: hi = R(h) ^ B(h ^ l) and lo = R(l) ^ B(h ^ l) ^ (h << (32 - s)), where R also holds the plain
//           shift by s (shr 7, shr 6), whose bits from h are the extra lo term.

/** σ0 (rotr 1 ^ rotr 8 ^ shr 7): the rotation part of one half. */
function sigma0Rot(x: number): number {
  return ((x >>> 1) | (x << 31)) ^ ((x >>> 8) | (x << 24)) ^ (x >>> 7);
}
/** σ0: the shared cross part, of t = hi ^ lo. */
function sigma0Cross(t: number): number {
  return (t << 31) ^ (t << 24);
}
/** σ1 (rotr 19 ^ rotr 61 ^ shr 6): the rotation part of one half. */
function sigma1Rot(x: number): number {
  return ((x >>> 19) | (x << 13)) ^ ((x >>> 29) | (x << 3)) ^ (x >>> 6);
}
/** σ1: the shared cross part, of t = hi ^ lo. */
function sigma1Cross(t: number): number {
  return (t << 13) ^ (t >>> 29);
}

const TWO32 = 4294967296;

/**
 * SHA-512 compression (FIPS 180-4 §6.4.2) of the 128-byte blocks at [pos, end) of `view` into `s`
 * (16 halves, hi first). A 64-bit sum adds its lo halves as unsigned numbers (exact in a double) and its hi halves
 * plus the carry, which is the lo sum divided by 2^32. T1 is kept unreduced (lo sum below 2^35) until
 * it is added into d and into the new a.
 */
function compress512(s: Int32Array, view: DataView, pos: number, end: number): void {
  const wh = W512_HI, wl = W512_LO, kh = K512_HI, kl = K512_LO;
  let ah0 = s[0], al0 = s[1], bh0 = s[2], bl0 = s[3], ch0 = s[4], cl0 = s[5], dh0 = s[6], dl0 = s[7];
  let eh0 = s[8], el0 = s[9], fh0 = s[10], fl0 = s[11], gh0 = s[12], gl0 = s[13], hh0 = s[14], hl0 = s[15];
  for (; pos < end; pos += 128) {
    for (let i = 0; i < 16; i++) {
      wh[i] = view.getInt32(pos + 8 * i);
      wl[i] = view.getUint32(pos + 8 * i + 4);
    }
    for (let i = 16; i < 80; i++) {
      const xh = wh[i - 15], xl = wl[i - 15], yh = wh[i - 2], yl = wl[i - 2];
      const c0 = sigma0Cross(xh ^ xl), c1 = sigma1Cross(yh ^ yl);
      const lo = ((sigma0Rot(xl) ^ c0 ^ (xh << 25)) >>> 0) + ((sigma1Rot(yl) ^ c1 ^ (yh << 26)) >>> 0) +
        wl[i - 7] + wl[i - 16];
      wh[i] = ((sigma0Rot(xh) ^ c0) + (sigma1Rot(yh) ^ c1) + wh[i - 7] + wh[i - 16] + ((lo / TWO32) | 0)) | 0;
      wl[i] = lo;
    }
    let ah = ah0, al = al0, bh = bh0, bl = bl0, ch = ch0, cl = cl0, dh = dh0, dl = dl0;
    let eh = eh0, el = el0, fh = fh0, fl = fl0, gh = gh0, gl = gl0, hh = hh0, hl = hl0;
    let lo = 0, hi = 0, x = 0, t = 0, u = 0, v = 0;
    // Four rounds per iteration with the roles rotating, then (a, b, c, d) and (e, f, g, h) swap back.
    // Each round: t = A(e's halves XORed), u and v the inner rotation sums of e's halves (see above);
    // T1 = h + Σ1(e) + Ch(e, f, g) + K + W as (hi, lo); d += T1; then the same for a and
    // h = T1 + Σ0(a) + Maj(a, b, c). Written out by hand: helper calls here measurably slow V8 down.
    for (let i = 0; i < 80; i += 4) {
      t = eh ^ el;
      t = ((t ^ (t >>> 4)) >>> 14) ^ (t << 23);
      u = ((eh >>> 5) | (eh << 27)) ^ ((eh >>> 9) | (eh << 23)) ^ eh;
      v = ((el >>> 5) | (el << 27)) ^ ((el >>> 9) | (el << 23)) ^ el;
      lo = (hl >>> 0) + ((((u >>> 9) | (u << 23)) ^ t) >>> 0) + ((gl ^ (el & (fl ^ gl))) >>> 0) + kl[i] +
        wl[i];
      hi = hh + (((v >>> 9) | (v << 23)) ^ t) + (gh ^ (eh & (fh ^ gh))) + kh[i] + wh[i];
      x = (dl >>> 0) + lo;
      dh = (dh + hi + ((x / TWO32) | 0)) | 0;
      dl = x | 0;
      t = ah ^ al;
      t = (t >>> 28) ^ (t << 30) ^ (t << 25);
      u = ((ah >>> 26) | (ah << 6)) ^ ((ah >>> 5) | (ah << 27)) ^ ah;
      v = ((al >>> 26) | (al << 6)) ^ ((al >>> 5) | (al << 27)) ^ al;
      x = lo + ((((u >>> 2) | (u << 30)) ^ t) >>> 0) + (((al & bl) ^ (cl & (al ^ bl))) >>> 0);
      hh = (hi + (((v >>> 2) | (v << 30)) ^ t) + ((ah & bh) ^ (ch & (ah ^ bh))) + ((x / TWO32) | 0)) | 0;
      hl = x | 0;
      t = dh ^ dl;
      t = ((t ^ (t >>> 4)) >>> 14) ^ (t << 23);
      u = ((dh >>> 5) | (dh << 27)) ^ ((dh >>> 9) | (dh << 23)) ^ dh;
      v = ((dl >>> 5) | (dl << 27)) ^ ((dl >>> 9) | (dl << 23)) ^ dl;
      lo = (gl >>> 0) + ((((u >>> 9) | (u << 23)) ^ t) >>> 0) + ((fl ^ (dl & (el ^ fl))) >>> 0) + kl[i + 1] +
        wl[i + 1];
      hi = gh + (((v >>> 9) | (v << 23)) ^ t) + (fh ^ (dh & (eh ^ fh))) + kh[i + 1] + wh[i + 1];
      x = (cl >>> 0) + lo;
      ch = (ch + hi + ((x / TWO32) | 0)) | 0;
      cl = x | 0;
      t = hh ^ hl;
      t = (t >>> 28) ^ (t << 30) ^ (t << 25);
      u = ((hh >>> 26) | (hh << 6)) ^ ((hh >>> 5) | (hh << 27)) ^ hh;
      v = ((hl >>> 26) | (hl << 6)) ^ ((hl >>> 5) | (hl << 27)) ^ hl;
      x = lo + ((((u >>> 2) | (u << 30)) ^ t) >>> 0) + (((hl & al) ^ (bl & (hl ^ al))) >>> 0);
      gh = (hi + (((v >>> 2) | (v << 30)) ^ t) + ((hh & ah) ^ (bh & (hh ^ ah))) + ((x / TWO32) | 0)) | 0;
      gl = x | 0;
      t = ch ^ cl;
      t = ((t ^ (t >>> 4)) >>> 14) ^ (t << 23);
      u = ((ch >>> 5) | (ch << 27)) ^ ((ch >>> 9) | (ch << 23)) ^ ch;
      v = ((cl >>> 5) | (cl << 27)) ^ ((cl >>> 9) | (cl << 23)) ^ cl;
      lo = (fl >>> 0) + ((((u >>> 9) | (u << 23)) ^ t) >>> 0) + ((el ^ (cl & (dl ^ el))) >>> 0) + kl[i + 2] +
        wl[i + 2];
      hi = fh + (((v >>> 9) | (v << 23)) ^ t) + (eh ^ (ch & (dh ^ eh))) + kh[i + 2] + wh[i + 2];
      x = (bl >>> 0) + lo;
      bh = (bh + hi + ((x / TWO32) | 0)) | 0;
      bl = x | 0;
      t = gh ^ gl;
      t = (t >>> 28) ^ (t << 30) ^ (t << 25);
      u = ((gh >>> 26) | (gh << 6)) ^ ((gh >>> 5) | (gh << 27)) ^ gh;
      v = ((gl >>> 26) | (gl << 6)) ^ ((gl >>> 5) | (gl << 27)) ^ gl;
      x = lo + ((((u >>> 2) | (u << 30)) ^ t) >>> 0) + (((gl & hl) ^ (al & (gl ^ hl))) >>> 0);
      fh = (hi + (((v >>> 2) | (v << 30)) ^ t) + ((gh & hh) ^ (ah & (gh ^ hh))) + ((x / TWO32) | 0)) | 0;
      fl = x | 0;
      t = bh ^ bl;
      t = ((t ^ (t >>> 4)) >>> 14) ^ (t << 23);
      u = ((bh >>> 5) | (bh << 27)) ^ ((bh >>> 9) | (bh << 23)) ^ bh;
      v = ((bl >>> 5) | (bl << 27)) ^ ((bl >>> 9) | (bl << 23)) ^ bl;
      lo = (el >>> 0) + ((((u >>> 9) | (u << 23)) ^ t) >>> 0) + ((dl ^ (bl & (cl ^ dl))) >>> 0) + kl[i + 3] +
        wl[i + 3];
      hi = eh + (((v >>> 9) | (v << 23)) ^ t) + (dh ^ (bh & (ch ^ dh))) + kh[i + 3] + wh[i + 3];
      x = (al >>> 0) + lo;
      ah = (ah + hi + ((x / TWO32) | 0)) | 0;
      al = x | 0;
      t = fh ^ fl;
      t = (t >>> 28) ^ (t << 30) ^ (t << 25);
      u = ((fh >>> 26) | (fh << 6)) ^ ((fh >>> 5) | (fh << 27)) ^ fh;
      v = ((fl >>> 26) | (fl << 6)) ^ ((fl >>> 5) | (fl << 27)) ^ fl;
      x = lo + ((((u >>> 2) | (u << 30)) ^ t) >>> 0) + (((fl & gl) ^ (hl & (fl ^ gl))) >>> 0);
      eh = (hi + (((v >>> 2) | (v << 30)) ^ t) + ((fh & gh) ^ (hh & (fh ^ gh))) + ((x / TWO32) | 0)) | 0;
      el = x | 0;
      x = ah;
      ah = eh;
      eh = x;
      x = al;
      al = el;
      el = x;
      x = bh;
      bh = fh;
      fh = x;
      x = bl;
      bl = fl;
      fl = x;
      x = ch;
      ch = gh;
      gh = x;
      x = cl;
      cl = gl;
      gl = x;
      x = dh;
      dh = hh;
      hh = x;
      x = dl;
      dl = hl;
      hl = x;
    }
    x = (al0 >>> 0) + (al >>> 0);
    ah0 = (ah0 + ah + ((x / TWO32) | 0)) | 0;
    al0 = x | 0;
    x = (bl0 >>> 0) + (bl >>> 0);
    bh0 = (bh0 + bh + ((x / TWO32) | 0)) | 0;
    bl0 = x | 0;
    x = (cl0 >>> 0) + (cl >>> 0);
    ch0 = (ch0 + ch + ((x / TWO32) | 0)) | 0;
    cl0 = x | 0;
    x = (dl0 >>> 0) + (dl >>> 0);
    dh0 = (dh0 + dh + ((x / TWO32) | 0)) | 0;
    dl0 = x | 0;
    x = (el0 >>> 0) + (el >>> 0);
    eh0 = (eh0 + eh + ((x / TWO32) | 0)) | 0;
    el0 = x | 0;
    x = (fl0 >>> 0) + (fl >>> 0);
    fh0 = (fh0 + fh + ((x / TWO32) | 0)) | 0;
    fl0 = x | 0;
    x = (gl0 >>> 0) + (gl >>> 0);
    gh0 = (gh0 + gh + ((x / TWO32) | 0)) | 0;
    gl0 = x | 0;
    x = (hl0 >>> 0) + (hl >>> 0);
    hh0 = (hh0 + hh + ((x / TWO32) | 0)) | 0;
    hl0 = x | 0;
  }
  s[0] = ah0;
  s[1] = al0;
  s[2] = bh0;
  s[3] = bl0;
  s[4] = ch0;
  s[5] = cl0;
  s[6] = dh0;
  s[7] = dl0;
  s[8] = eh0;
  s[9] = el0;
  s[10] = fh0;
  s[11] = fl0;
  s[12] = gh0;
  s[13] = gl0;
  s[14] = hh0;
  s[15] = hl0;
}

type Compress = (s: Int32Array, view: DataView, pos: number, end: number) => void;

interface Params {
  iv: readonly number[];
  compress: Compress;
  /** The schedule arrays compress writes, cleared after each digest. */
  schedule: (Int32Array | Uint32Array)[];
  blockLength: number;
  outputLength: number;
}

const PARAMS: Record<HashName, Params> = {
  "SHA-256": { iv: [...IV256], compress: compress256, schedule: [W256], blockLength: 64, outputLength: 32 },
  "SHA-384": {
    iv: [...IV384],
    compress: compress512,
    schedule: [W512_HI, W512_LO],
    blockLength: 128,
    outputLength: 48,
  },
  "SHA-512": {
    iv: [...IV512],
    compress: compress512,
    schedule: [W512_HI, W512_LO],
    blockLength: 128,
    outputLength: 64,
  },
};

/**
 * Throws a TypeError naming `argName` unless `value` is one of "SHA-256", "SHA-384", "SHA-512".
 * For the modules built on these hashes (HMAC, HKDF, ECDSA).
 */
export function checkHashName(value: unknown, argName: string): asserts value is HashName {
  if (value !== "SHA-256" && value !== "SHA-384" && value !== "SHA-512") {
    const got = typeof value === "string" ? JSON.stringify(value) : typeof value;
    throw new TypeError(`${argName} must be "SHA-256", "SHA-384" or "SHA-512", got ${got}`);
  }
}

/**
 * For digestInto: a TypeError unless `out` is a Uint8Array and `offset` an integer, a RangeError unless
 * out[offset, offset + length) fits.
 */
export function checkDigestOutput(out: unknown, offset: unknown, length: number): asserts out is Uint8Array {
  checkBytes(out, "out");
  checkLength(offset, "offset", 0, Number.MAX_SAFE_INTEGER);
  if (offset + length > out.length) {
    throw new RangeError(
      `out must have room for ${length} bytes at offset ${offset}, got length ${out.length}`,
    );
  }
}

// Working space shared by every hash; all use of it is synchronous. Allocating typed arrays costs far
// more than hashing a short message, so a hash object keeps its state and its partial block in plain
// arrays and works here: STATE holds the chaining value during compression, BLOCK a block being
// assembled (the partial block, then the padding). Both are cleared when a digest is finished.
const STATE = new Int32Array(16);
const BLOCK = new Uint8Array(128);
const BLOCK_VIEW = new DataView(BLOCK.buffer);

/**
 * Pads the `filled` message bytes at the start of BLOCK (FIPS 180-4 §5.1: a 1 bit, zeros, then the
 * message length in bits in the last 8 bytes; SHA-512's 16-byte length field has a zero upper half
 * here), compresses the last block or two into STATE, writes the digest to out[at, at + outputLength)
 * and clears STATE, BLOCK and the schedule.
 */
function finish(p: Params, filled: number, length: number, out: Uint8Array, at: number): void {
  const n = p.blockLength;
  BLOCK[filled++] = 0x80;
  if (filled > n - (n >> 3)) {
    for (let i = filled; i < n; i++) BLOCK[i] = 0;
    p.compress(STATE, BLOCK_VIEW, 0, n);
    filled = 0;
  }
  for (let i = filled; i < n - 8; i++) BLOCK[i] = 0;
  const bits = length * 8;
  BLOCK_VIEW.setUint32(n - 8, Math.floor(bits / TWO32));
  BLOCK_VIEW.setUint32(n - 4, bits >>> 0);
  p.compress(STATE, BLOCK_VIEW, 0, n);
  for (let i = 0; i < p.outputLength; i += 4) {
    const word = STATE[i >> 2];
    out[at + i] = word >>> 24;
    out[at + i + 1] = word >>> 16;
    out[at + i + 2] = word >>> 8;
    out[at + i + 3] = word;
  }
  for (let i = 0; i < n; i++) BLOCK[i] = 0;
  for (let i = 0; i < 16; i++) STATE[i] = 0;
  for (const w of p.schedule) w.fill(0);
}

class Sha2 implements Hash {
  readonly name: HashName;
  readonly outputLength: number;
  readonly blockLength: number;
  private readonly params: Params;
  /** The chaining value, as 8 or 16 signed 32-bit words. */
  private readonly state: number[];
  /** Bytes of an unfinished block (fewer than blockLength). */
  private readonly pending: number[];
  private length: number;
  private finished = false;

  constructor(name: HashName, state: number[], pending: number[], length: number) {
    const params = PARAMS[name];
    this.name = name;
    this.outputLength = params.outputLength;
    this.blockLength = params.blockLength;
    this.params = params;
    this.state = state;
    this.pending = pending;
    this.length = length;
  }

  update(data: Uint8Array): this {
    checkBytes(data, "data");
    if (this.finished) throw new Error(`${this.name}: update after digest`);
    const { pending, blockLength, state } = this;
    const n = data.length;
    this.length += n;
    let pos = 0;
    if (pending.length + n < blockLength) {
      for (; pos < n; pos++) pending.push(data[pos]);
      return this;
    }
    for (let i = 0; i < state.length; i++) STATE[i] = state[i];
    if (pending.length > 0) {
      const have = pending.length;
      for (let i = 0; i < have; i++) {
        BLOCK[i] = pending[i];
        pending[i] = 0;
      }
      pending.length = 0;
      for (let i = have; i < blockLength; i++) BLOCK[i] = data[pos++];
      this.params.compress(STATE, BLOCK_VIEW, 0, blockLength);
    }
    const end = n - ((n - pos) % blockLength);
    if (end > pos) {
      this.params.compress(STATE, new DataView(data.buffer, data.byteOffset, n), pos, end);
    }
    for (pos = end; pos < n; pos++) pending.push(data[pos]);
    for (let i = 0; i < state.length; i++) state[i] = STATE[i];
    return this;
  }

  digest(): Uint8Array {
    const out = new Uint8Array(this.outputLength);
    this.digestInto(out);
    return out;
  }

  digestInto(out: Uint8Array, offset = 0): void {
    if (this.finished) throw new Error(`${this.name}: digest called twice`);
    checkDigestOutput(out, offset, this.outputLength);
    this.finished = true;
    const { state, pending } = this;
    for (let i = 0; i < state.length; i++) STATE[i] = state[i];
    for (let i = 0; i < pending.length; i++) BLOCK[i] = pending[i];
    finish(this.params, pending.length, this.length, out, offset);
    for (let i = 0; i < state.length; i++) state[i] = 0;
    for (let i = 0; i < pending.length; i++) pending[i] = 0;
  }

  clone(): Hash {
    if (this.finished) throw new Error(`${this.name}: clone after digest`);
    return new Sha2(this.name, this.state.slice(), this.pending.slice(), this.length);
  }
}

/** A new incremental hash. A TypeError unless `name` is "SHA-256", "SHA-384" or "SHA-512". */
export function createHash(name: HashName): Hash {
  checkHashName(name, "name");
  return new Sha2(name, PARAMS[name].iv.slice(), [], 0);
}

/** The digest of `data` under the named hash. */
export function hash(name: HashName, data: Uint8Array): Uint8Array {
  checkHashName(name, "name");
  checkBytes(data, "data");
  const p = PARAMS[name];
  for (let i = 0; i < p.iv.length; i++) STATE[i] = p.iv[i];
  const n = data.length;
  const whole = n - (n % p.blockLength);
  if (whole > 0) p.compress(STATE, new DataView(data.buffer, data.byteOffset, n), 0, whole);
  for (let i = whole; i < n; i++) BLOCK[i - whole] = data[i];
  const out = new Uint8Array(p.outputLength);
  finish(p, n - whole, n, out, 0);
  return out;
}

/** Bytes in the digest of the named hash (32, 48 or 64). */
export function hashLength(name: HashName): number {
  checkHashName(name, "name");
  return PARAMS[name].outputLength;
}

/** Bytes in a block of the named hash (64 or 128): the HMAC key pad length. */
export function blockLength(name: HashName): number {
  checkHashName(name, "name");
  return PARAMS[name].blockLength;
}

/** SHA-256 of `data` (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  return hash("SHA-256", data);
}

/** SHA-384 of `data` (48 bytes). */
export function sha384(data: Uint8Array): Uint8Array {
  return hash("SHA-384", data);
}

/** SHA-512 of `data` (64 bytes). */
export function sha512(data: Uint8Array): Uint8Array {
  return hash("SHA-512", data);
}
