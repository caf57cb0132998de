// GHASH, the universal hash of the Galois/Counter Mode (NIST SP 800-38D §6.4; McGrew and Viega, "The
// Galois/Counter Mode of Operation (GCM)"): Y ← (Y ⊕ X)·H in GF(2^128) for each 16-byte block X.
//
// The product uses Shoup's 8-bit table method (V. Shoup, "On fast and provably secure message
// authentication based on universal hashing", CRYPTO 1996; discussed in the GCM specification's section
// on software implementation): per key, a table of the 256 products b·H for b a byte (4 KiB); per block,
// Horner's rule over the 16 bytes of Y from the last, Z ← Z·x^8 ⊕ M[byte], where the byte shifted out of
// Z by x^8 is folded back in from a fixed 256-entry reduction table. Blocks are four 32-bit words read
// little-endian from bytes 0–3, 4–7, 8–11, 12–15 (what a Uint32Array view gives on every host Deno runs
// on), so data is XORed in without byte swapping.
//
// Both tables are indexed by secret bytes (Y depends on H and on the data): a cache-timing channel,
// documented in docs/security.md. Building the key table runs the same operations for every H.
//
// Typed arrays cost about a microsecond each to allocate in Deno (none are kept on the V8 heap), as much
// as hashing several blocks, so the padding and length blocks use module scratch (JavaScript runs one
// call at a time; each use clears it) and a table can be rebuilt in place for a new key.

/** Bytes in a block. */
const BLOCK = 16;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("crypto/ghash.ts needs a little-endian host (as every platform Deno runs on is)");
}

/**
 * REM[d]: the reduction of d·x^128 for a byte d shifted out of the end of Z by Z·x^8. In GCM's bit order
 * (bit 0x80 of byte 0 is x^0), bit 0x80 >> j of d is x^(128+j) = x^j·(1 + x + x^2 + x^7), which lands in
 * the first two bytes as 0xe100 >> j; stored as the little-endian word of those two bytes.
 */
const REM = new Uint32Array(256);
for (let d = 0; d < 256; d++) {
  let r = 0;
  for (let j = 0; j < 8; j++) r ^= d & (0x80 >>> j) ? 0xe100 >>> j : 0;
  REM[d] = (r >>> 8) | ((r & 0xff) << 8);
}

/** Scratch for a zero-padded last block and for the length block, cleared after each use. */
const PART = new Uint32Array(4);
const PART_BYTES = new Uint8Array(PART.buffer);

/** The byte-swapped value of a 32-bit word (big-endian ↔ little-endian). */
export function swap32(w: number): number {
  return ((w >>> 24) | ((w >>> 8) & 0xff00) | ((w << 8) & 0xff0000) | (w << 24)) >>> 0;
}

/**
 * The 32-bit words (little-endian) of the first 4·`nWords` bytes of `data`: a view when `data` is 4-byte
 * aligned, otherwise an aligned copy.
 */
function wordsOf(data: Uint8Array, nWords: number): Uint32Array {
  if ((data.byteOffset & 3) === 0) return new Uint32Array(data.buffer, data.byteOffset, nWords);
  return new Uint32Array(data.slice(0, nWords * 4).buffer);
}

/**
 * GHASH under one hash subkey H, whose table is built once (in the constructor, or again by `setKey`):
 * `reset`, `update` any number of times, then `finish`.
 */
export class Ghash {
  /** M[b] = b·H as four words at 4b, where bit 0x80 of b is x^0 and bit 0x01 is x^7. */
  readonly #m = new Uint32Array(256 * 4);
  readonly #y = new Uint32Array(4);

  /**
   * Builds the table for the 16-byte hash subkey `h` (in GCM, the encryption of the zero block). Without
   * `h` the table is all zeros until `setKey` or `setKeyWords` is called.
   */
  constructor(h?: Uint8Array) {
    if (h !== undefined) this.setKey(h);
  }

  /** Rebuilds the table, in place, for the 16-byte hash subkey `h`, and starts a new hash. */
  setKey(h: Uint8Array): this {
    const view = new DataView(h.buffer, h.byteOffset, BLOCK);
    return this.setKeyWords(view.getUint32(0), view.getUint32(4), view.getUint32(8), view.getUint32(12));
  }

  /** Like `setKey`, with H given as its four big-endian 32-bit words. */
  setKeyWords(v0: number, v1: number, v2: number, v3: number): this {
    const m = this.#m;
    // v = H·x^k as big-endian words: the top bit of v0 is the coefficient of x^0.
    for (let bit = 0x80; bit !== 0; bit >>>= 1) {
      const i = bit << 2;
      m[i] = swap32(v0), m[i + 1] = swap32(v1), m[i + 2] = swap32(v2), m[i + 3] = swap32(v3);
      // v ← v·x: every coefficient moves up one degree and x^128 folds back as 1 + x + x^2 + x^7 (0xe1).
      const fold = -(v3 & 1) & 0xe1000000;
      v3 = (v3 >>> 1) | (v2 << 31), v2 = (v2 >>> 1) | (v1 << 31), v1 = (v1 >>> 1) | (v0 << 31);
      v0 = (v0 >>> 1) ^ fold;
    }
    // Every other byte is the sum of its lowest set bit and the rest, both already in the table.
    for (let b = 3; b < 256; b++) {
      const low = b & -b;
      if (low === b) continue;
      const i = b << 2, j = (b ^ low) << 2, k = low << 2;
      m[i] = m[j] ^ m[k], m[i + 1] = m[j + 1] ^ m[k + 1], m[i + 2] = m[j + 2] ^ m[k + 2];
      m[i + 3] = m[j + 3] ^ m[k + 3];
    }
    return this.reset();
  }

  /** Starts a new hash: Y ← 0. */
  reset(): this {
    this.#y.fill(0);
    return this;
  }

  /** Absorbs `data`, its last partial block padded with zeros (as GCM pads A, C and the IV). */
  update(data: Uint8Array): this {
    const full = Math.floor(data.length / BLOCK);
    if (full > 0) this.#blocks(wordsOf(data, full * 4), full);
    if (data.length > full * BLOCK) {
      for (let i = full * BLOCK, j = 0; i < data.length; i++, j++) PART_BYTES[j] = data[i];
      this.#blocks(PART, 1);
      PART.fill(0);
    }
    return this;
  }

  /**
   * Absorbs the length block [8·aLength]64 ‖ [8·cLength]64 (byte lengths in, bit lengths hashed) and
   * writes Y, as four little-endian words, to `out`.
   */
  finish(aLength: number, cLength: number, out: Uint32Array): void {
    PART[0] = swap32(Math.floor(aLength / 2 ** 29));
    PART[1] = swap32((aLength * 8) >>> 0);
    PART[2] = swap32(Math.floor(cLength / 2 ** 29));
    PART[3] = swap32((cLength * 8) >>> 0);
    this.#blocks(PART, 1);
    PART.fill(0);
    out.set(this.#y);
  }

  /** Overwrites the key table and the state with zeros. */
  wipe(): void {
    this.#m.fill(0);
    this.#y.fill(0);
  }

  /** Y ← (Y ⊕ X)·H for the `n` blocks X in `w`. */
  #blocks(w: Uint32Array, n: number): void {
    const m = this.#m, y = this.#y, R = REM;
    let y0 = y[0], y1 = y[1], y2 = y[2], y3 = y[3];
    for (let i = 0; i < 4 * n; i += 4) {
      y0 ^= w[i], y1 ^= w[i + 1], y2 ^= w[i + 2], y3 ^= w[i + 3];
      // Horner's rule from byte 15 down to byte 0, written out (a loop here costs a fifth of the speed).
      let k = (y3 >>> 22) & 0x3fc, d = 0; // byte 15
      let z0 = m[k], z1 = m[k + 1], z2 = m[k + 2], z3 = m[k + 3];
      k = (y3 >>> 14) & 0x3fc; // byte 14
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y3 >>> 6) & 0x3fc; // byte 13
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y3 << 2) & 0x3fc; // byte 12
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y2 >>> 22) & 0x3fc; // byte 11
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y2 >>> 14) & 0x3fc; // byte 10
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y2 >>> 6) & 0x3fc; // byte 9
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y2 << 2) & 0x3fc; // byte 8
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y1 >>> 22) & 0x3fc; // byte 7
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y1 >>> 14) & 0x3fc; // byte 6
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y1 >>> 6) & 0x3fc; // byte 5
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y1 << 2) & 0x3fc; // byte 4
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y0 >>> 22) & 0x3fc; // byte 3
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y0 >>> 14) & 0x3fc; // byte 2
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y0 >>> 6) & 0x3fc; // byte 1
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      k = (y0 << 2) & 0x3fc; // byte 0
      d = z3 >>> 24;
      z3 = (z3 << 8) | (z2 >>> 24), z2 = (z2 << 8) | (z1 >>> 24), z1 = (z1 << 8) | (z0 >>> 24);
      z0 = (z0 << 8) ^ R[d] ^ m[k], z1 ^= m[k + 1], z2 ^= m[k + 2], z3 ^= m[k + 3];
      y0 = z0, y1 = z1, y2 = z2, y3 = z3;
    }
    y[0] = y0, y[1] = y1, y[2] = y2, y[3] = y3;
  }
}
