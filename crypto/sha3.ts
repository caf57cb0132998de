// SHA3-256, SHA3-512, SHAKE128 and SHAKE256 (FIPS 202), one-shot and incremental, with an extendable-output
// function (XOF) that absorbs, then squeezes any number of times.
//
// Keccak-f[1600] works on bit-interleaved lanes (the Keccak team's implementation technique): each 64-bit lane
// is held as two 32-bit words, one with its 32 even-numbered bits and one with its 32 odd-numbered bits. A
// 64-bit rotation then becomes two 32-bit rotations (by r/2 each for even r; for odd r the halves also swap),
// which V8 compiles to single rotate instructions, instead of six shifts and ORs across a (low, high) pair.
// Six lanes are kept complemented inside the rounds so that χ needs 12 NOTs instead of 50 (see permute).
// The 50 words stay in local variables for all 24 rounds, the round body is unrolled (θ, ρ and π write the
// rotated lanes B[y, 2x + 3y] into locals, χ and ι write them back), and nothing is allocated. Absorbing and
// squeezing convert whole lanes between bytes and the interleaved form with shift-and-mask bit permutations
// (no tables), straight from the caller's bytes into the state and from the state into the output.
//
// Nothing here indexes a table or branches on data: the running time depends only on the lengths.

import { checkBytes, checkLength } from "./bytes.ts";

/** The fixed-length hash functions of FIPS 202 this module implements. */
export type Sha3Name = "SHA3-256" | "SHA3-512";
/** The extendable-output functions of FIPS 202. */
export type ShakeName = "SHAKE128" | "SHAKE256";

/** An incremental SHA-3 hash: feed it with `update`, read it once with `digest`. */
export interface Sha3Hash {
  /** The algorithm. */
  readonly name: Sha3Name;
  /** Bytes in the digest: 32 or 64. */
  readonly outputLength: number;
  /** Bytes absorbed per permutation (the rate): 136 for SHA3-256, 72 for SHA3-512. */
  readonly blockLength: number;
  /** Absorbs `data` (any length, any number of calls); returns this hash for chaining. */
  update(data: Uint8Array): this;
  /** Finishes the hash and returns the digest; afterwards `update` and `digest` throw. */
  digest(): Uint8Array;
  /** Like `digest`, but writes to out[offset, offset + outputLength) (a RangeError if it does not fit). */
  digestInto(out: Uint8Array, offset?: number): void;
  /** An independent copy of the current state. */
  clone(): Sha3Hash;
}

/**
 * An incremental SHAKE: `update` any number of times, then `squeeze` any number of times; the outputs of
 * successive squeezes are consecutive pieces of one output stream. `update` after the first squeeze throws.
 */
export interface Xof {
  /** The algorithm. */
  readonly name: ShakeName;
  /** Bytes absorbed or squeezed per permutation (the rate): 168 for SHAKE128, 136 for SHAKE256. */
  readonly blockLength: number;
  /** Absorbs `data`; returns this XOF for chaining. A TypeError once squeezing has started. */
  update(data: Uint8Array): this;
  /** The next `length` bytes of output. */
  squeeze(length: number): Uint8Array;
  /** Writes the next `length` bytes of output to out[offset, offset + length) (default: to the end of out). */
  squeezeInto(out: Uint8Array, offset?: number, length?: number): void;
  /** An independent copy of the current state (absorbing or squeezing). */
  clone(): Xof;
}

// Conversions between a lane as (low, high) 32-bit halves and its interleaved form (even, odd). `unshuffle`
// gathers the even-numbered bits of x into bits 0–15 and the odd-numbered ones into bits 16–31 (four
// delta swaps); `shuffle` is its inverse.
function unshuffle(x: number): number {
  let t = (x ^ (x >>> 1)) & 0x22222222;
  x ^= t ^ (t << 1);
  t = (x ^ (x >>> 2)) & 0x0c0c0c0c;
  x ^= t ^ (t << 2);
  t = (x ^ (x >>> 4)) & 0x00f000f0;
  x ^= t ^ (t << 4);
  t = (x ^ (x >>> 8)) & 0x0000ff00;
  return x ^ t ^ (t << 8);
}

function shuffle(x: number): number {
  let t = (x ^ (x >>> 8)) & 0x0000ff00;
  x ^= t ^ (t << 8);
  t = (x ^ (x >>> 4)) & 0x00f000f0;
  x ^= t ^ (t << 4);
  t = (x ^ (x >>> 2)) & 0x0c0c0c0c;
  x ^= t ^ (t << 2);
  t = (x ^ (x >>> 1)) & 0x22222222;
  return x ^ t ^ (t << 1);
}

/** XORs the lane (lo, hi) into s[w] (even bits) and s[w + 1] (odd bits). */
function xorLane(s: Int32Array, w: number, lo: number, hi: number): void {
  const a = unshuffle(lo), b = unshuffle(hi);
  s[w] ^= (a & 0xffff) | (b << 16);
  s[w + 1] ^= (a >>> 16) | (b & 0xffff0000);
}

/** The even-numbered bits of byte b packed into 4 bits (bit 2k to bit k). */
function evenBits(b: number): number {
  return (b & 1) | ((b >> 1) & 2) | ((b >> 2) & 4) | ((b >> 3) & 8);
}

/** The inverse of evenBits: bit k of the 4-bit n to bit 2k. */
function spreadBits(n: number): number {
  return (n & 1) | ((n & 2) << 1) | ((n & 4) << 2) | ((n & 8) << 3);
}

/** XORs byte b into byte p of the interleaved state: byte j of a lane holds bits 4j … 4j + 3 of each word. */
function xorByte(s: Int32Array, p: number, b: number): void {
  const w = (p >> 3) << 1, shift = (p & 7) << 2;
  s[w] ^= evenBits(b) << shift;
  s[w + 1] ^= evenBits(b >> 1) << shift;
}

/** Byte p of the interleaved state. */
function readByte(s: Int32Array, p: number): number {
  const w = (p >> 3) << 1, shift = (p & 7) << 2;
  return spreadBits((s[w] >>> shift) & 15) | (spreadBits((s[w + 1] >>> shift) & 15) << 1);
}

// FIPS 202 §3.2.5: the round constants RC[i], from the degree-8 LFSR rc(t), interleaved as (even, odd).
const RC = roundConstants();

function roundConstants(): Int32Array {
  const rc = new Int32Array(48);
  let r = 1; // the LFSR state R of Algorithm 5; rc(t) is its low bit after t steps
  const step = () => {
    const bit = r & 1;
    r <<= 1;
    if (r & 0x100) r ^= 0x171; // x^8 + x^6 + x^5 + x^4 + 1
    return bit;
  };
  for (let i = 0; i < 24; i++) {
    let lo = 0, hi = 0;
    for (let j = 0; j <= 6; j++) {
      // Bit 2^j - 1 of RC[i] is rc(j + 7i).
      const pos = (1 << j) - 1;
      if (step()) {
        if (pos < 32) lo |= 1 << pos;
        else hi |= 1 << (pos - 32);
      }
    }
    xorLane(rc, 2 * i, lo, hi);
  }
  return rc;
}

/**
 * Keccak-f[1600] (FIPS 202 §3.3 and §3.4) on the interleaved state `s`, 50 words: lane i (index x + 5y) has
 * its even-numbered bits in s[2i] and its odd-numbered bits in s[2i + 1] (bit k of the lane is bit k >> 1 of
 * one of them).
 *
 * Lane complementing (the Keccak team's technique): lanes 1, 7, 8, 14, 17 and 22 are held complemented
 * inside the rounds (complemented on load and store). θ, ρ, π and ι are unaffected (XORs and rotations carry
 * the complements along), and χ's B ^ (~B1 & B2) is rewritten per lane with De Morgan's laws (as B ^ (B1 & B2),
 * B ^ (B1 | B2), …) so that 12 NOTs remain per round instead of 50. The pattern was found by exhaustive search
 * over all 2^25 choices as one that maps to itself with the fewest NOTs.
 */
function permute(s: Int32Array): void {
  let a0e = s[0],
    a0o = s[1],
    a1e = ~s[2],
    a1o = ~s[3],
    a2e = s[4],
    a2o = s[5],
    a3e = s[6],
    a3o = s[7],
    a4e = s[8],
    a4o = s[9],
    a5e = s[10],
    a5o = s[11],
    a6e = s[12],
    a6o = s[13],
    a7e = ~s[14],
    a7o = ~s[15],
    a8e = ~s[16],
    a8o = ~s[17],
    a9e = s[18],
    a9o = s[19],
    a10e = s[20],
    a10o = s[21],
    a11e = s[22],
    a11o = s[23],
    a12e = s[24],
    a12o = s[25],
    a13e = s[26],
    a13o = s[27],
    a14e = ~s[28],
    a14o = ~s[29],
    a15e = s[30],
    a15o = s[31],
    a16e = s[32],
    a16o = s[33],
    a17e = ~s[34],
    a17o = ~s[35],
    a18e = s[36],
    a18o = s[37],
    a19e = s[38],
    a19o = s[39],
    a20e = s[40],
    a20o = s[41],
    a21e = s[42],
    a21o = s[43],
    a22e = ~s[44],
    a22o = ~s[45],
    a23e = s[46],
    a23o = s[47],
    a24e = s[48],
    a24o = s[49];
  for (let r = 0; r < 48; r += 2) {
    // θ: C[x] = the parity of column x; D[x] = C[x - 1] ^ ROT(C[x + 1], 1), where a rotation by one moves the
    // odd half, rotated by one, to the even half and the even half to the odd half.
    const c0e = a0e ^ a5e ^ a10e ^ a15e ^ a20e;
    const c0o = a0o ^ a5o ^ a10o ^ a15o ^ a20o;
    const c1e = a1e ^ a6e ^ a11e ^ a16e ^ a21e;
    const c1o = a1o ^ a6o ^ a11o ^ a16o ^ a21o;
    const c2e = a2e ^ a7e ^ a12e ^ a17e ^ a22e;
    const c2o = a2o ^ a7o ^ a12o ^ a17o ^ a22o;
    const c3e = a3e ^ a8e ^ a13e ^ a18e ^ a23e;
    const c3o = a3o ^ a8o ^ a13o ^ a18o ^ a23o;
    const c4e = a4e ^ a9e ^ a14e ^ a19e ^ a24e;
    const c4o = a4o ^ a9o ^ a14o ^ a19o ^ a24o;
    const d0e = c4e ^ ((c1o << 1) | (c1o >>> 31));
    const d0o = c4o ^ c1e;
    const d1e = c0e ^ ((c2o << 1) | (c2o >>> 31));
    const d1o = c0o ^ c2e;
    const d2e = c1e ^ ((c3o << 1) | (c3o >>> 31));
    const d2o = c1o ^ c3e;
    const d3e = c2e ^ ((c4o << 1) | (c4o >>> 31));
    const d3o = c2o ^ c4e;
    const d4e = c3e ^ ((c0o << 1) | (c0o >>> 31));
    const d4o = c3o ^ c0e;
    // θ applied to each lane, then ρ (rotation) and π (B[y, 2x + 3y] = A[x, y]).
    const b0e = a0e ^ d0e, b0o = a0o ^ d0o;
    const t1e = a1e ^ d1e, t1o = a1o ^ d1o;
    const b10e = (t1o << 1) | (t1o >>> 31), b10o = t1e;
    const t2e = a2e ^ d2e, t2o = a2o ^ d2o;
    const b20e = (t2e << 31) | (t2e >>> 1), b20o = (t2o << 31) | (t2o >>> 1);
    const t3e = a3e ^ d3e, t3o = a3o ^ d3o;
    const b5e = (t3e << 14) | (t3e >>> 18), b5o = (t3o << 14) | (t3o >>> 18);
    const t4e = a4e ^ d4e, t4o = a4o ^ d4o;
    const b15e = (t4o << 14) | (t4o >>> 18), b15o = (t4e << 13) | (t4e >>> 19);
    const t5e = a5e ^ d0e, t5o = a5o ^ d0o;
    const b16e = (t5e << 18) | (t5e >>> 14), b16o = (t5o << 18) | (t5o >>> 14);
    const t6e = a6e ^ d1e, t6o = a6o ^ d1o;
    const b1e = (t6e << 22) | (t6e >>> 10), b1o = (t6o << 22) | (t6o >>> 10);
    const t7e = a7e ^ d2e, t7o = a7o ^ d2o;
    const b11e = (t7e << 3) | (t7e >>> 29), b11o = (t7o << 3) | (t7o >>> 29);
    const t8e = a8e ^ d3e, t8o = a8o ^ d3o;
    const b21e = (t8o << 28) | (t8o >>> 4), b21o = (t8e << 27) | (t8e >>> 5);
    const t9e = a9e ^ d4e, t9o = a9o ^ d4o;
    const b6e = (t9e << 10) | (t9e >>> 22), b6o = (t9o << 10) | (t9o >>> 22);
    const t10e = a10e ^ d0e, t10o = a10o ^ d0o;
    const b7e = (t10o << 2) | (t10o >>> 30), b7o = (t10e << 1) | (t10e >>> 31);
    const t11e = a11e ^ d1e, t11o = a11o ^ d1o;
    const b17e = (t11e << 5) | (t11e >>> 27), b17o = (t11o << 5) | (t11o >>> 27);
    const t12e = a12e ^ d2e, t12o = a12o ^ d2o;
    const b2e = (t12o << 22) | (t12o >>> 10), b2o = (t12e << 21) | (t12e >>> 11);
    const t13e = a13e ^ d3e, t13o = a13o ^ d3o;
    const b12e = (t13o << 13) | (t13o >>> 19), b12o = (t13e << 12) | (t13e >>> 20);
    const t14e = a14e ^ d4e, t14o = a14o ^ d4o;
    const b22e = (t14o << 20) | (t14o >>> 12), b22o = (t14e << 19) | (t14e >>> 13);
    const t15e = a15e ^ d0e, t15o = a15o ^ d0o;
    const b23e = (t15o << 21) | (t15o >>> 11), b23o = (t15e << 20) | (t15e >>> 12);
    const t16e = a16e ^ d1e, t16o = a16o ^ d1o;
    const b8e = (t16o << 23) | (t16o >>> 9), b8o = (t16e << 22) | (t16e >>> 10);
    const t17e = a17e ^ d2e, t17o = a17o ^ d2o;
    const b18e = (t17o << 8) | (t17o >>> 24), b18o = (t17e << 7) | (t17e >>> 25);
    const t18e = a18e ^ d3e, t18o = a18o ^ d3o;
    const b3e = (t18o << 11) | (t18o >>> 21), b3o = (t18e << 10) | (t18e >>> 22);
    const t19e = a19e ^ d4e, t19o = a19o ^ d4o;
    const b13e = (t19e << 4) | (t19e >>> 28), b13o = (t19o << 4) | (t19o >>> 28);
    const t20e = a20e ^ d0e, t20o = a20o ^ d0o;
    const b14e = (t20e << 9) | (t20e >>> 23), b14o = (t20o << 9) | (t20o >>> 23);
    const t21e = a21e ^ d1e, t21o = a21o ^ d1o;
    const b24e = (t21e << 1) | (t21e >>> 31), b24o = (t21o << 1) | (t21o >>> 31);
    const t22e = a22e ^ d2e, t22o = a22o ^ d2o;
    const b9e = (t22o << 31) | (t22o >>> 1), b9o = (t22e << 30) | (t22e >>> 2);
    const t23e = a23e ^ d3e, t23o = a23o ^ d3o;
    const b19e = (t23e << 28) | (t23e >>> 4), b19o = (t23o << 28) | (t23o >>> 4);
    const t24e = a24e ^ d4e, t24o = a24o ^ d4o;
    const b4e = (t24e << 7) | (t24e >>> 25), b4o = (t24o << 7) | (t24o >>> 25);
    // χ: A[x, y] = B[x, y] ^ (~B[x + 1, y] & B[x + 2, y]), rewritten for the complemented lanes; ι: A[0, 0] ^= RC.
    a0e = b0e ^ (b1e & b2e);
    a0o = b0o ^ (b1o & b2o);
    a1e = b1e ^ (~b2e & b3e);
    a1o = b1o ^ (~b2o & b3o);
    a2e = ~b2e ^ (b3e | b4e);
    a2o = ~b2o ^ (b3o | b4o);
    a3e = b3e ^ (b4e & b0e);
    a3o = b3o ^ (b4o & b0o);
    a4e = b4e ^ (b0e | b1e);
    a4o = b4o ^ (b0o | b1o);
    a5e = b5e ^ (b6e & b7e);
    a5o = b5o ^ (b6o & b7o);
    a6e = b6e ^ (b7e | b8e);
    a6o = b6o ^ (b7o | b8o);
    a7e = b7e ^ (~b8e | b9e);
    a7o = b7o ^ (~b8o | b9o);
    a8e = b8e ^ (b9e & b5e);
    a8o = b8o ^ (b9o & b5o);
    a9e = b9e ^ (b5e | b6e);
    a9o = b9o ^ (b5o | b6o);
    a10e = b10e ^ (b11e & b12e);
    a10o = b10o ^ (b11o & b12o);
    a11e = b11e ^ (b12e | b13e);
    a11o = b11o ^ (b12o | b13o);
    a12e = b12e ^ (b13e & b14e);
    a12o = b12o ^ (b13o & b14o);
    a13e = b13e ^ (b14e | ~b10e);
    a13o = b13o ^ (b14o | ~b10o);
    a14e = b14e ^ (b10e | b11e);
    a14o = b14o ^ (b10o | b11o);
    a15e = b15e ^ (b16e | b17e);
    a15o = b15o ^ (b16o | b17o);
    a16e = b16e ^ (b17e & ~b18e);
    a16o = b16o ^ (b17o & ~b18o);
    a17e = b17e ^ (b18e & b19e);
    a17o = b17o ^ (b18o & b19o);
    a18e = b18e ^ (b19e | b15e);
    a18o = b18o ^ (b19o | b15o);
    a19e = b19e ^ (b15e & b16e);
    a19o = b19o ^ (b15o & b16o);
    a20e = b20e ^ (b21e & b22e);
    a20o = b20o ^ (b21o & b22o);
    a21e = b21e ^ (b22e | ~b23e);
    a21o = b21o ^ (b22o | ~b23o);
    a22e = b22e ^ (b23e | b24e);
    a22o = b22o ^ (b23o | b24o);
    a23e = b23e ^ (b24e & b20e);
    a23o = b23o ^ (b24o & b20o);
    a24e = b24e ^ (b20e | b21e);
    a24o = b24o ^ (b20o | b21o);
    a0e ^= RC[r];
    a0o ^= RC[r + 1];
  }
  s[0] = a0e;
  s[1] = a0o;
  s[2] = ~a1e;
  s[3] = ~a1o;
  s[4] = a2e;
  s[5] = a2o;
  s[6] = a3e;
  s[7] = a3o;
  s[8] = a4e;
  s[9] = a4o;
  s[10] = a5e;
  s[11] = a5o;
  s[12] = a6e;
  s[13] = a6o;
  s[14] = ~a7e;
  s[15] = ~a7o;
  s[16] = ~a8e;
  s[17] = ~a8o;
  s[18] = a9e;
  s[19] = a9o;
  s[20] = a10e;
  s[21] = a10o;
  s[22] = a11e;
  s[23] = a11o;
  s[24] = a12e;
  s[25] = a12o;
  s[26] = a13e;
  s[27] = a13o;
  s[28] = ~a14e;
  s[29] = ~a14o;
  s[30] = a15e;
  s[31] = a15o;
  s[32] = a16e;
  s[33] = a16o;
  s[34] = ~a17e;
  s[35] = ~a17o;
  s[36] = a18e;
  s[37] = a18o;
  s[38] = a19e;
  s[39] = a19o;
  s[40] = a20e;
  s[41] = a20o;
  s[42] = a21e;
  s[43] = a21o;
  s[44] = ~a22e;
  s[45] = ~a22o;
  s[46] = a23e;
  s[47] = a23o;
  s[48] = a24e;
  s[49] = a24o;
}

const PLAIN_STATE = new Int32Array(50);

/**
 * Keccak-f[1600] on a plain state of 50 words: lane i is (s[2i] low half, s[2i + 1] high half), lane index
 * x + 5y. For tests and callers outside this module; the sponges below keep their state interleaved.
 */
export function keccakF1600(s: Int32Array): void {
  const t = PLAIN_STATE;
  t.fill(0);
  for (let i = 0; i < 50; i += 2) xorLane(t, i, s[i], s[i + 1]);
  permute(t);
  for (let i = 0; i < 50; i += 2) {
    const e = t[i], o = t[i + 1];
    s[i] = shuffle((e & 0xffff) | (o << 16));
    s[i + 1] = shuffle((e >>> 16) | (o & 0xffff0000));
  }
  t.fill(0);
}

/**
 * A Keccak sponge with a byte-granular rate (a multiple of 8) and a FIPS 202 domain suffix (0x06 for SHA-3,
 * 0x1f for SHAKE, both with the first bit of pad10*1). Low-level: no argument checks, reusable through
 * `reset`. ML-KEM keeps a few of these for its whole lifetime so that no hash call allocates.
 */
export class KeccakSponge {
  /** The state, 50 words, interleaved (see permute). */
  readonly state: Int32Array = new Int32Array(50);
  /** Next byte of the state to absorb into or squeeze from. */
  pos = 0;
  /** True once the padding has been absorbed. */
  squeezing = false;

  constructor(readonly rate: number, readonly suffix: number) {}

  /** Back to the empty state (zeroes the state: it may hold secrets). */
  reset(): this {
    this.state.fill(0);
    this.pos = 0;
    this.squeezing = false;
    return this;
  }

  /** XORs data[start, end) into the state, permuting each time a block is full. */
  absorb(data: Uint8Array, start = 0, end = data.length): void {
    const s = this.state, rate = this.rate;
    let pos = this.pos, i = start;
    while (i < end) {
      // Byte by byte up to a lane boundary, then whole little-endian lanes, then the tail.
      while (pos & 7 && i < end) xorByte(s, pos++, data[i++]);
      const lanes = Math.min(rate - pos, end - i) >> 3;
      for (let w = pos >> 2, stop = w + 2 * lanes; w < stop; w += 2, i += 8) {
        xorLane(
          s,
          w,
          data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24),
          data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24),
        );
      }
      pos += lanes << 3;
      while (i < end && pos < rate) xorByte(s, pos++, data[i++]);
      if (pos === rate) {
        permute(s);
        pos = 0;
      }
    }
    this.pos = pos;
  }

  /** Absorbs the one byte `b`. */
  absorbByte(b: number): void {
    xorByte(this.state, this.pos, b & 0xff);
    if (++this.pos === this.rate) {
      permute(this.state);
      this.pos = 0;
    }
  }

  /** Pads (suffix, then pad10*1) and permutes: the sponge then squeezes from byte 0. */
  finish(): void {
    const s = this.state;
    xorByte(s, this.pos, this.suffix);
    xorByte(s, this.rate - 1, 0x80);
    permute(s);
    this.pos = 0;
    this.squeezing = true;
  }

  /** Writes the next `length` output bytes to out[offset, offset + length) (finishing first if needed). */
  squeezeInto(out: Uint8Array, offset: number, length: number): void {
    if (!this.squeezing) this.finish();
    const s = this.state, rate = this.rate, end = offset + length;
    let pos = this.pos, o = offset;
    while (o < end) {
      if (pos === rate) {
        permute(s);
        pos = 0;
      }
      while (pos & 7 && o < end) out[o++] = readByte(s, pos++);
      const lanes = Math.min(rate - pos, end - o) >> 3;
      for (let w = pos >> 2, stop = w + 2 * lanes; w < stop; w += 2, o += 8) {
        const e = s[w], d = s[w + 1];
        const lo = shuffle((e & 0xffff) | (d << 16)), hi = shuffle((e >>> 16) | (d & 0xffff0000));
        out[o] = lo;
        out[o + 1] = lo >>> 8;
        out[o + 2] = lo >>> 16;
        out[o + 3] = lo >>> 24;
        out[o + 4] = hi;
        out[o + 5] = hi >>> 8;
        out[o + 6] = hi >>> 16;
        out[o + 7] = hi >>> 24;
      }
      pos += lanes << 3;
      while (o < end && pos < rate) out[o++] = readByte(s, pos++);
    }
    this.pos = pos;
  }

  /**
   * Writes the next `count` output words (bytes 4i … 4i + 3 as a little-endian signed 32-bit word) to
   * out[0, count), finishing or permuting first if needed. Requires a position at a lane boundary (as after
   * `finish` or a previous call) and an even `count` that fits in the rest of the block. ML-KEM's samplers
   * read whole blocks this way, without a round trip through bytes.
   */
  squeezeWords(out: Int32Array, count: number): void {
    if (!this.squeezing) this.finish();
    const s = this.state;
    if (this.pos === this.rate) {
      permute(s);
      this.pos = 0;
    }
    for (let i = 0, w = this.pos >> 2; i < count; i += 2, w += 2) {
      const e = s[w], d = s[w + 1];
      out[i] = shuffle((e & 0xffff) | (d << 16));
      out[i + 1] = shuffle((e >>> 16) | (d & 0xffff0000));
    }
    this.pos += count << 2;
  }

  /** A copy with its own state. */
  copy(): KeccakSponge {
    const c = new KeccakSponge(this.rate, this.suffix);
    c.state.set(this.state);
    c.pos = this.pos;
    c.squeezing = this.squeezing;
    return c;
  }
}

const SHA3_SUFFIX = 0x06; // the bits 01, then the first 1 of pad10*1
const SHAKE_SUFFIX = 0x1f; // the bits 1111, then the first 1 of pad10*1

const SHA3_PARAMS: Record<Sha3Name, { rate: number; outputLength: number }> = {
  "SHA3-256": { rate: 136, outputLength: 32 },
  "SHA3-512": { rate: 72, outputLength: 64 },
};
const SHAKE_RATE: Record<ShakeName, number> = { SHAKE128: 168, SHAKE256: 136 };

class Sha3 implements Sha3Hash {
  readonly blockLength: number;
  readonly outputLength: number;
  #sponge: KeccakSponge;
  #done = false;

  constructor(readonly name: Sha3Name, sponge?: KeccakSponge) {
    if (!Object.hasOwn(SHA3_PARAMS, name)) {
      throw new TypeError(`name must be "SHA3-256" or "SHA3-512", got ${String(name)}`);
    }
    const p = SHA3_PARAMS[name];
    this.blockLength = p.rate;
    this.outputLength = p.outputLength;
    this.#sponge = sponge ?? new KeccakSponge(p.rate, SHA3_SUFFIX);
  }

  update(data: Uint8Array): this {
    if (this.#done) throw new TypeError(`${this.name} hash already finished`);
    checkBytes(data, "data");
    this.#sponge.absorb(data);
    return this;
  }

  digest(): Uint8Array {
    const out = new Uint8Array(this.outputLength);
    this.digestInto(out);
    return out;
  }

  digestInto(out: Uint8Array, offset = 0): void {
    if (this.#done) throw new TypeError(`${this.name} hash already finished`);
    checkBytes(out, "out");
    checkLength(offset, "offset", 0, out.length - this.outputLength);
    this.#done = true;
    this.#sponge.squeezeInto(out, offset, this.outputLength);
    this.#sponge.reset();
  }

  clone(): Sha3Hash {
    if (this.#done) throw new TypeError(`${this.name} hash already finished`);
    return new Sha3(this.name, this.#sponge.copy());
  }
}

class Shake implements Xof {
  readonly blockLength: number;
  #sponge: KeccakSponge;

  constructor(readonly name: ShakeName, sponge?: KeccakSponge) {
    if (!Object.hasOwn(SHAKE_RATE, name)) {
      throw new TypeError(`name must be "SHAKE128" or "SHAKE256", got ${String(name)}`);
    }
    const rate = SHAKE_RATE[name];
    this.blockLength = rate;
    this.#sponge = sponge ?? new KeccakSponge(rate, SHAKE_SUFFIX);
  }

  update(data: Uint8Array): this {
    if (this.#sponge.squeezing) throw new TypeError(`${this.name}: cannot absorb after squeezing`);
    checkBytes(data, "data");
    this.#sponge.absorb(data);
    return this;
  }

  squeeze(length: number): Uint8Array {
    checkLength(length, "length", 0, 0x7fffffff);
    const out = new Uint8Array(length);
    this.#sponge.squeezeInto(out, 0, length);
    return out;
  }

  squeezeInto(out: Uint8Array, offset = 0, length?: number): void {
    checkBytes(out, "out");
    checkLength(offset, "offset", 0, out.length);
    const n = length ?? out.length - offset;
    checkLength(n, "length", 0, out.length - offset);
    this.#sponge.squeezeInto(out, offset, n);
  }

  clone(): Xof {
    return new Shake(this.name, this.#sponge.copy());
  }
}

/** A new incremental SHA3-256 or SHA3-512. */
export function createSha3(name: Sha3Name): Sha3Hash {
  return new Sha3(name);
}

/** A new SHAKE128 or SHAKE256 extendable-output function. */
export function createShake(name: ShakeName): Xof {
  return new Shake(name);
}

/** SHA3-256 of `data` (32 bytes). */
export function sha3_256(data: Uint8Array): Uint8Array {
  return new Sha3("SHA3-256").update(data).digest();
}

/** SHA3-512 of `data` (64 bytes). */
export function sha3_512(data: Uint8Array): Uint8Array {
  return new Sha3("SHA3-512").update(data).digest();
}

/** The first `length` bytes of SHAKE128 of `data`. */
export function shake128(data: Uint8Array, length: number): Uint8Array {
  return new Shake("SHAKE128").update(data).squeeze(length);
}

/** The first `length` bytes of SHAKE256 of `data`. */
export function shake256(data: Uint8Array, length: number): Uint8Array {
  return new Shake("SHAKE256").update(data).squeeze(length);
}
