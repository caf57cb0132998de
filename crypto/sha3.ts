// SHA3-256, SHA3-512, SHAKE128 and SHAKE256 (FIPS 202), one-shot and incremental, with an extendable-output
// function (XOF) that absorbs, then squeezes any number of times.
//
// Keccak-f[1600] keeps its 25 64-bit lanes as 50 signed 32-bit halves (lo, hi) in local variables for all 24
// rounds, so a permutation touches memory only to load and store the state and allocates nothing. The round
// body is unrolled: theta, rho and pi write the 25 rotated lanes B[y, 2x + 3y] into locals, chi and iota
// write them back. The state array interleaves the halves (word 2i is the low half of lane i, word 2i + 1 its
// high half), which makes byte p of the state byte (p & 3) of word p >> 2: absorbing and squeezing go
// straight between the caller's bytes and the state words, with no block buffer.
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

// FIPS 202 §3.2.5: the round constants RC[i], from the degree-8 LFSR rc(t), as (lo, hi) pairs.
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
    for (let j = 0; j <= 6; j++) {
      // Bit 2^j - 1 of RC[i] is rc(j + 7i).
      if (step()) {
        const pos = (1 << j) - 1;
        if (pos < 32) rc[2 * i] |= 1 << pos;
        else rc[2 * i + 1] |= 1 << (pos - 32);
      }
    }
  }
  return rc;
}

/**
 * Keccak-f[1600] (FIPS 202 §3.3 and §3.4) on `s`, 50 words: lane i is (s[2i] low, s[2i + 1] high), lane
 * index x + 5y. Exported for the sponges in this module and in ML-KEM; callers own the state array.
 */
export function keccakF1600(s: Int32Array): void {
  let a0l = s[0], a0h = s[1], a1l = s[2], a1h = s[3], a2l = s[4], a2h = s[5], a3l = s[6], a3h = s[7];
  let a4l = s[8], a4h = s[9], a5l = s[10], a5h = s[11], a6l = s[12], a6h = s[13], a7l = s[14], a7h = s[15];
  let a8l = s[16], a8h = s[17], a9l = s[18], a9h = s[19], a10l = s[20], a10h = s[21], a11l = s[22];
  let a11h = s[23], a12l = s[24], a12h = s[25], a13l = s[26], a13h = s[27], a14l = s[28], a14h = s[29];
  let a15l = s[30], a15h = s[31], a16l = s[32], a16h = s[33], a17l = s[34], a17h = s[35], a18l = s[36];
  let a18h = s[37], a19l = s[38], a19h = s[39], a20l = s[40], a20h = s[41], a21l = s[42], a21h = s[43];
  let a22l = s[44], a22h = s[45], a23l = s[46], a23h = s[47], a24l = s[48], a24h = s[49];
  for (let r = 0; r < 48; r += 2) {
    // θ: C[x] = the parity of column x; D[x] = C[x - 1] ^ ROT(C[x + 1], 1).
    const c0l = a0l ^ a5l ^ a10l ^ a15l ^ a20l;
    const c0h = a0h ^ a5h ^ a10h ^ a15h ^ a20h;
    const c1l = a1l ^ a6l ^ a11l ^ a16l ^ a21l;
    const c1h = a1h ^ a6h ^ a11h ^ a16h ^ a21h;
    const c2l = a2l ^ a7l ^ a12l ^ a17l ^ a22l;
    const c2h = a2h ^ a7h ^ a12h ^ a17h ^ a22h;
    const c3l = a3l ^ a8l ^ a13l ^ a18l ^ a23l;
    const c3h = a3h ^ a8h ^ a13h ^ a18h ^ a23h;
    const c4l = a4l ^ a9l ^ a14l ^ a19l ^ a24l;
    const c4h = a4h ^ a9h ^ a14h ^ a19h ^ a24h;
    const d0l = c4l ^ ((c1l << 1) | (c1h >>> 31));
    const d0h = c4h ^ ((c1h << 1) | (c1l >>> 31));
    const d1l = c0l ^ ((c2l << 1) | (c2h >>> 31));
    const d1h = c0h ^ ((c2h << 1) | (c2l >>> 31));
    const d2l = c1l ^ ((c3l << 1) | (c3h >>> 31));
    const d2h = c1h ^ ((c3h << 1) | (c3l >>> 31));
    const d3l = c2l ^ ((c4l << 1) | (c4h >>> 31));
    const d3h = c2h ^ ((c4h << 1) | (c4l >>> 31));
    const d4l = c3l ^ ((c0l << 1) | (c0h >>> 31));
    const d4h = c3h ^ ((c0h << 1) | (c0l >>> 31));
    // θ applied to each lane, then ρ (rotation) and π (B[y, 2x + 3y] = A[x, y]).
    const b0l = a0l ^ d0l, b0h = a0h ^ d0h;
    const t1l = a1l ^ d1l, t1h = a1h ^ d1h;
    const b10l = (t1l << 1) | (t1h >>> 31), b10h = (t1h << 1) | (t1l >>> 31);
    const t2l = a2l ^ d2l, t2h = a2h ^ d2h;
    const b20l = (t2h << 30) | (t2l >>> 2), b20h = (t2l << 30) | (t2h >>> 2);
    const t3l = a3l ^ d3l, t3h = a3h ^ d3h;
    const b5l = (t3l << 28) | (t3h >>> 4), b5h = (t3h << 28) | (t3l >>> 4);
    const t4l = a4l ^ d4l, t4h = a4h ^ d4h;
    const b15l = (t4l << 27) | (t4h >>> 5), b15h = (t4h << 27) | (t4l >>> 5);
    const t5l = a5l ^ d0l, t5h = a5h ^ d0h;
    const b16l = (t5h << 4) | (t5l >>> 28), b16h = (t5l << 4) | (t5h >>> 28);
    const t6l = a6l ^ d1l, t6h = a6h ^ d1h;
    const b1l = (t6h << 12) | (t6l >>> 20), b1h = (t6l << 12) | (t6h >>> 20);
    const t7l = a7l ^ d2l, t7h = a7h ^ d2h;
    const b11l = (t7l << 6) | (t7h >>> 26), b11h = (t7h << 6) | (t7l >>> 26);
    const t8l = a8l ^ d3l, t8h = a8h ^ d3h;
    const b21l = (t8h << 23) | (t8l >>> 9), b21h = (t8l << 23) | (t8h >>> 9);
    const t9l = a9l ^ d4l, t9h = a9h ^ d4h;
    const b6l = (t9l << 20) | (t9h >>> 12), b6h = (t9h << 20) | (t9l >>> 12);
    const t10l = a10l ^ d0l, t10h = a10h ^ d0h;
    const b7l = (t10l << 3) | (t10h >>> 29), b7h = (t10h << 3) | (t10l >>> 29);
    const t11l = a11l ^ d1l, t11h = a11h ^ d1h;
    const b17l = (t11l << 10) | (t11h >>> 22), b17h = (t11h << 10) | (t11l >>> 22);
    const t12l = a12l ^ d2l, t12h = a12h ^ d2h;
    const b2l = (t12h << 11) | (t12l >>> 21), b2h = (t12l << 11) | (t12h >>> 21);
    const t13l = a13l ^ d3l, t13h = a13h ^ d3h;
    const b12l = (t13l << 25) | (t13h >>> 7), b12h = (t13h << 25) | (t13l >>> 7);
    const t14l = a14l ^ d4l, t14h = a14h ^ d4h;
    const b22l = (t14h << 7) | (t14l >>> 25), b22h = (t14l << 7) | (t14h >>> 25);
    const t15l = a15l ^ d0l, t15h = a15h ^ d0h;
    const b23l = (t15h << 9) | (t15l >>> 23), b23h = (t15l << 9) | (t15h >>> 23);
    const t16l = a16l ^ d1l, t16h = a16h ^ d1h;
    const b8l = (t16h << 13) | (t16l >>> 19), b8h = (t16l << 13) | (t16h >>> 19);
    const t17l = a17l ^ d2l, t17h = a17h ^ d2h;
    const b18l = (t17l << 15) | (t17h >>> 17), b18h = (t17h << 15) | (t17l >>> 17);
    const t18l = a18l ^ d3l, t18h = a18h ^ d3h;
    const b3l = (t18l << 21) | (t18h >>> 11), b3h = (t18h << 21) | (t18l >>> 11);
    const t19l = a19l ^ d4l, t19h = a19h ^ d4h;
    const b13l = (t19l << 8) | (t19h >>> 24), b13h = (t19h << 8) | (t19l >>> 24);
    const t20l = a20l ^ d0l, t20h = a20h ^ d0h;
    const b14l = (t20l << 18) | (t20h >>> 14), b14h = (t20h << 18) | (t20l >>> 14);
    const t21l = a21l ^ d1l, t21h = a21h ^ d1h;
    const b24l = (t21l << 2) | (t21h >>> 30), b24h = (t21h << 2) | (t21l >>> 30);
    const t22l = a22l ^ d2l, t22h = a22h ^ d2h;
    const b9l = (t22h << 29) | (t22l >>> 3), b9h = (t22l << 29) | (t22h >>> 3);
    const t23l = a23l ^ d3l, t23h = a23h ^ d3h;
    const b19l = (t23h << 24) | (t23l >>> 8), b19h = (t23l << 24) | (t23h >>> 8);
    const t24l = a24l ^ d4l, t24h = a24h ^ d4h;
    const b4l = (t24l << 14) | (t24h >>> 18), b4h = (t24h << 14) | (t24l >>> 18);
    // χ: A[x, y] = B[x, y] ^ (~B[x + 1, y] & B[x + 2, y]); ι: A[0, 0] ^= RC.
    a0l = b0l ^ (~b1l & b2l);
    a0h = b0h ^ (~b1h & b2h);
    a1l = b1l ^ (~b2l & b3l);
    a1h = b1h ^ (~b2h & b3h);
    a2l = b2l ^ (~b3l & b4l);
    a2h = b2h ^ (~b3h & b4h);
    a3l = b3l ^ (~b4l & b0l);
    a3h = b3h ^ (~b4h & b0h);
    a4l = b4l ^ (~b0l & b1l);
    a4h = b4h ^ (~b0h & b1h);
    a5l = b5l ^ (~b6l & b7l);
    a5h = b5h ^ (~b6h & b7h);
    a6l = b6l ^ (~b7l & b8l);
    a6h = b6h ^ (~b7h & b8h);
    a7l = b7l ^ (~b8l & b9l);
    a7h = b7h ^ (~b8h & b9h);
    a8l = b8l ^ (~b9l & b5l);
    a8h = b8h ^ (~b9h & b5h);
    a9l = b9l ^ (~b5l & b6l);
    a9h = b9h ^ (~b5h & b6h);
    a10l = b10l ^ (~b11l & b12l);
    a10h = b10h ^ (~b11h & b12h);
    a11l = b11l ^ (~b12l & b13l);
    a11h = b11h ^ (~b12h & b13h);
    a12l = b12l ^ (~b13l & b14l);
    a12h = b12h ^ (~b13h & b14h);
    a13l = b13l ^ (~b14l & b10l);
    a13h = b13h ^ (~b14h & b10h);
    a14l = b14l ^ (~b10l & b11l);
    a14h = b14h ^ (~b10h & b11h);
    a15l = b15l ^ (~b16l & b17l);
    a15h = b15h ^ (~b16h & b17h);
    a16l = b16l ^ (~b17l & b18l);
    a16h = b16h ^ (~b17h & b18h);
    a17l = b17l ^ (~b18l & b19l);
    a17h = b17h ^ (~b18h & b19h);
    a18l = b18l ^ (~b19l & b15l);
    a18h = b18h ^ (~b19h & b15h);
    a19l = b19l ^ (~b15l & b16l);
    a19h = b19h ^ (~b15h & b16h);
    a20l = b20l ^ (~b21l & b22l);
    a20h = b20h ^ (~b21h & b22h);
    a21l = b21l ^ (~b22l & b23l);
    a21h = b21h ^ (~b22h & b23h);
    a22l = b22l ^ (~b23l & b24l);
    a22h = b22h ^ (~b23h & b24h);
    a23l = b23l ^ (~b24l & b20l);
    a23h = b23h ^ (~b24h & b20h);
    a24l = b24l ^ (~b20l & b21l);
    a24h = b24h ^ (~b20h & b21h);
    a0l ^= RC[r];
    a0h ^= RC[r + 1];
  }
  s[0] = a0l;
  s[1] = a0h;
  s[2] = a1l;
  s[3] = a1h;
  s[4] = a2l;
  s[5] = a2h;
  s[6] = a3l;
  s[7] = a3h;
  s[8] = a4l;
  s[9] = a4h;
  s[10] = a5l;
  s[11] = a5h;
  s[12] = a6l;
  s[13] = a6h;
  s[14] = a7l;
  s[15] = a7h;
  s[16] = a8l;
  s[17] = a8h;
  s[18] = a9l;
  s[19] = a9h;
  s[20] = a10l;
  s[21] = a10h;
  s[22] = a11l;
  s[23] = a11h;
  s[24] = a12l;
  s[25] = a12h;
  s[26] = a13l;
  s[27] = a13h;
  s[28] = a14l;
  s[29] = a14h;
  s[30] = a15l;
  s[31] = a15h;
  s[32] = a16l;
  s[33] = a16h;
  s[34] = a17l;
  s[35] = a17h;
  s[36] = a18l;
  s[37] = a18h;
  s[38] = a19l;
  s[39] = a19h;
  s[40] = a20l;
  s[41] = a20h;
  s[42] = a21l;
  s[43] = a21h;
  s[44] = a22l;
  s[45] = a22h;
  s[46] = a23l;
  s[47] = a23h;
  s[48] = a24l;
  s[49] = a24h;
}

/**
 * A Keccak sponge over `keccakF1600` with a byte-granular rate and a FIPS 202 domain suffix (0x06 for SHA-3,
 * 0x1f for SHAKE, both with the first bit of pad10*1). Low-level: no argument checks, reusable through
 * `reset`. ML-KEM keeps a few of these for its whole lifetime so that no hash call allocates.
 */
export class KeccakSponge {
  /** The state, 50 words (see keccakF1600). */
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
      // Byte by byte up to a word boundary, then whole little-endian words, then the tail.
      while (pos & 3 && i < end && pos < rate) s[pos >> 2] ^= data[i++] << ((pos++ & 3) << 3);
      const words = Math.min(rate - pos, end - i) >> 2;
      for (let w = pos >> 2, stop = w + words; w < stop; w++, i += 4) {
        s[w] ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
      }
      pos += words << 2;
      while (i < end && pos < rate) s[pos >> 2] ^= data[i++] << ((pos++ & 3) << 3);
      if (pos === rate) {
        keccakF1600(s);
        pos = 0;
      }
    }
    this.pos = pos;
  }

  /** Absorbs the one byte `b`. */
  absorbByte(b: number): void {
    const pos = this.pos;
    this.state[pos >> 2] ^= (b & 0xff) << ((pos & 3) << 3);
    if (pos + 1 === this.rate) {
      keccakF1600(this.state);
      this.pos = 0;
    } else this.pos = pos + 1;
  }

  /** Pads (suffix, then pad10*1) and permutes: the sponge then squeezes from byte 0. */
  finish(): void {
    const s = this.state, pos = this.pos, last = this.rate - 1;
    s[pos >> 2] ^= this.suffix << ((pos & 3) << 3);
    s[last >> 2] ^= 0x80 << ((last & 3) << 3);
    keccakF1600(s);
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
        keccakF1600(s);
        pos = 0;
      }
      while (pos & 3 && o < end && pos < rate) out[o++] = s[pos >> 2] >>> ((pos++ & 3) << 3);
      const words = Math.min(rate - pos, end - o) >> 2;
      for (let w = pos >> 2, stop = w + words; w < stop; w++, o += 4) {
        const x = s[w];
        out[o] = x;
        out[o + 1] = x >>> 8;
        out[o + 2] = x >>> 16;
        out[o + 3] = x >>> 24;
      }
      pos += words << 2;
      while (o < end && pos < rate) out[o++] = s[pos >> 2] >>> ((pos++ & 3) << 3);
    }
    this.pos = pos;
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
