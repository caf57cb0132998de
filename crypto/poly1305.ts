// Poly1305 one-time authenticator (RFC 8439 §2.5), one-shot and incremental.
//
// The accumulator h, the clamped r and s are held as six limbs of 22 bits (bit positions 0, 22, …, 110)
// in ordinary JavaScript numbers. A limb product is below 2^23.01 · 20·2^22 < 2^49.4 and a column of six
// products below 2^52, so every sum is exact in a double: no BigInt and no 16-bit splitting. Products that
// land at or above bit 132 = 2^130 · 4 wrap around as ·20 (2^130 ≡ 5 mod p). The state lives in plain
// number fields, so an instance holds no typed arrays (allocating those is slow in Deno). No
// secret-dependent branches or table lookups; the final "subtract p if h ≥ p" is a mask select.

import { checkBytes, readU32LE, writeU32LE } from "./bytes.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const M22 = 0x3fffff;
const M20 = 0xfffff;
const TWO22 = 4194304; // 2^22
const TWO20 = 1048576; // 2^20
const INV22 = 1 / TWO22;
const INV20 = 1 / TWO20;

/** A zero-padded last block, filled and wiped within one call. */
const tail = new Uint8Array(16);

/**
 * Incremental Poly1305 for one 32-byte one-time key: `update` with the message in any number of pieces,
 * then `digest` once for the 16-byte tag. A key must never authenticate two different messages.
 */
export class Poly1305 {
  // Clamped r, s and the accumulator h in 22-bit limbs (h stays below 2^23 between blocks).
  private r0: number;
  private r1: number;
  private r2: number;
  private r3: number;
  private r4: number;
  private r5: number;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private s4: number;
  private s5: number;
  private h0 = 0;
  private h1 = 0;
  private h2 = 0;
  private h3 = 0;
  private h4 = 0;
  private h5 = 0;
  /** Bytes of an incomplete block, allocated on first need. */
  private buffer: Uint8Array | null = null;
  private buffered = 0;
  private finished = false;

  /** Starts a MAC under `key`: 32 bytes, r ‖ s (RFC 8439 §2.5). */
  constructor(key: Uint8Array) {
    checkBytes(key, "key", 32);
    // Clamp r (RFC 8439 §2.5.1): r &= 0x0ffffffc0ffffffc0ffffffc0fffffff.
    let t0 = readU32LE(key, 0) & 0x0fffffff, t1 = readU32LE(key, 4) & 0x0ffffffc;
    let t2 = readU32LE(key, 8) & 0x0ffffffc, t3 = readU32LE(key, 12) & 0x0ffffffc;
    this.r0 = t0 & M22;
    this.r1 = ((t0 >>> 22) | (t1 << 10)) & M22;
    this.r2 = ((t1 >>> 12) | (t2 << 20)) & M22;
    this.r3 = (t2 >>> 2) & M22;
    this.r4 = ((t2 >>> 24) | (t3 << 8)) & M22;
    this.r5 = t3 >>> 14;
    t0 = readU32LE(key, 16), t1 = readU32LE(key, 20), t2 = readU32LE(key, 24), t3 = readU32LE(key, 28);
    this.s0 = t0 & M22;
    this.s1 = ((t0 >>> 22) | (t1 << 10)) & M22;
    this.s2 = ((t1 >>> 12) | (t2 << 20)) & M22;
    this.s3 = (t2 >>> 2) & M22;
    this.s4 = ((t2 >>> 24) | (t3 << 8)) & M22;
    this.s5 = t3 >>> 14;
  }

  /** Absorbs `data` (any length). Returns this, for chaining. */
  update(data: Uint8Array): this {
    checkBytes(data, "data");
    this.checkOpen();
    const n = data.length;
    let off = 0;
    if (this.buffered > 0) {
      const buffer = this.buffer!;
      const take = Math.min(16 - this.buffered, n);
      buffer.set(data.subarray(0, take), this.buffered);
      this.buffered += take;
      off = take;
      if (this.buffered < 16) return this;
      this.blocks(buffer, 0, 1, 1);
      this.buffered = 0;
    }
    const whole = Math.floor((n - off) / 16);
    if (whole > 0) this.blocks(data, off, whole, 1);
    off += 16 * whole;
    if (off < n) {
      this.buffer ??= new Uint8Array(16);
      this.buffer.set(data.subarray(off), 0);
      this.buffered = n - off;
    }
    return this;
  }

  /**
   * Absorbs `data` and then zero bytes up to the next multiple of 16 bytes of input so far: the
   * "pad16" of the AEAD construction (RFC 8439 §2.8). Returns this, for chaining.
   */
  updatePadded(data: Uint8Array): this {
    checkBytes(data, "data");
    this.checkOpen();
    if (this.buffered > 0) {
      this.update(data);
      if (this.buffered > 0) {
        this.buffer!.fill(0, this.buffered);
        this.blocks(this.buffer!, 0, 1, 1);
        this.buffered = 0;
      }
      return this;
    }
    const whole = Math.floor(data.length / 16);
    if (whole > 0) this.blocks(data, 0, whole, 1);
    if (16 * whole < data.length) {
      tail.set(data.subarray(16 * whole), 0);
      this.blocks(tail, 0, 1, 1);
      tail.fill(0);
    }
    return this;
  }

  /** The 16-byte tag. The instance is wiped and refuses further use. */
  digest(): Uint8Array {
    this.checkOpen();
    if (this.buffered > 0) {
      // Last partial block: append the 0x01 byte and zero-fill, with no 2^128 bit (RFC 8439 §2.5).
      const buffer = this.buffer!;
      buffer[this.buffered] = 1;
      buffer.fill(0, this.buffered + 1);
      this.blocks(buffer, 0, 1, 0);
      buffer.fill(0);
    }
    const tag = this.finish();
    this.finished = true;
    this.r0 =
      this.r1 =
      this.r2 =
      this.r3 =
      this.r4 =
      this.r5 =
        0;
    this.s0 =
      this.s1 =
      this.s2 =
      this.s3 =
      this.s4 =
      this.s5 =
        0;
    this.h0 =
      this.h1 =
      this.h2 =
      this.h3 =
      this.h4 =
      this.h5 =
        0;
    return tag;
  }

  private checkOpen(): void {
    if (this.finished) throw new Error("Poly1305: this instance has already produced its tag");
  }

  /** h = (h + block) · r mod p for `count` 16-byte blocks of `data` from `off`; `hibit` is the 2^128 bit. */
  private blocks(data: Uint8Array, off: number, count: number, hibit: number): void {
    const r0 = this.r0, r1 = this.r1, r2 = this.r2, r3 = this.r3, r4 = this.r4, r5 = this.r5;
    const v1 = 20 * r1, v2 = 20 * r2, v3 = 20 * r3, v4 = 20 * r4, v5 = 20 * r5;
    const top = hibit << 18; // 2^128 sits at bit 18 of limb 5 (bit 110)
    let h0 = this.h0, h1 = this.h1, h2 = this.h2, h3 = this.h3, h4 = this.h4, h5 = this.h5;
    // Aligned input on a little-endian platform is read a 32-bit word at a time.
    const words = LITTLE_ENDIAN && count >= 4 && (data.byteOffset + off) % 4 === 0
      ? new Uint32Array(data.buffer, data.byteOffset + off, count * 4)
      : null;
    for (let b = 0; b < count; b++) {
      let t0, t1, t2, t3;
      if (words !== null) {
        const w = 4 * b;
        t0 = words[w], t1 = words[w + 1], t2 = words[w + 2], t3 = words[w + 3];
      } else {
        const i = off + 16 * b;
        t0 = readU32LE(data, i), t1 = readU32LE(data, i + 4), t2 = readU32LE(data, i + 8);
        t3 = readU32LE(data, i + 12);
      }
      h0 += t0 & M22;
      h1 += ((t0 >>> 22) | (t1 << 10)) & M22;
      h2 += ((t1 >>> 12) | (t2 << 20)) & M22;
      h3 += (t2 >>> 2) & M22;
      h4 += ((t2 >>> 24) | (t3 << 8)) & M22;
      h5 += (t3 >>> 14) | top;

      const d0 = h0 * r0 + h1 * v5 + h2 * v4 + h3 * v3 + h4 * v2 + h5 * v1;
      let d1 = h0 * r1 + h1 * r0 + h2 * v5 + h3 * v4 + h4 * v3 + h5 * v2;
      let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * v5 + h4 * v4 + h5 * v3;
      let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * v5 + h5 * v4;
      let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * v5;
      let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0;

      // Carry (exact: scaling by powers of two and floor are exact on these integers).
      let c = Math.floor(d0 * INV22);
      h0 = d0 - c * TWO22;
      d1 += c;
      c = Math.floor(d1 * INV22);
      h1 = d1 - c * TWO22;
      d2 += c;
      c = Math.floor(d2 * INV22);
      h2 = d2 - c * TWO22;
      d3 += c;
      c = Math.floor(d3 * INV22);
      h3 = d3 - c * TWO22;
      d4 += c;
      c = Math.floor(d4 * INV22);
      h4 = d4 - c * TWO22;
      d5 += c;
      c = Math.floor(d5 * INV20); // limb 5 holds bits 110–129; the rest is ≥ 2^130 ≡ 5
      h5 = d5 - c * TWO20;
      h0 += 5 * c;
      c = Math.floor(h0 * INV22);
      h0 -= c * TWO22;
      h1 += c;
      // Stored every block rather than after the loop: V8 compiles this method while the first long
      // loop still runs, and code after the loop that has not yet run would then deoptimize on every call.
      this.h0 = h0;
      this.h1 = h1;
      this.h2 = h2;
      this.h3 = h3;
      this.h4 = h4;
      this.h5 = h5;
    }
  }

  /** (h mod p + s) mod 2^128, little-endian. */
  private finish(): Uint8Array {
    // Full carry twice: afterwards every limb is within its width and h < 2^130 + small, so < 2p.
    let h0 = this.h0, h1 = this.h1, h2 = this.h2, h3 = this.h3, h4 = this.h4, h5 = this.h5;
    for (let pass = 0; pass < 2; pass++) {
      h1 += h0 >>> 22, h0 &= M22;
      h2 += h1 >>> 22, h1 &= M22;
      h3 += h2 >>> 22, h2 &= M22;
      h4 += h3 >>> 22, h3 &= M22;
      h5 += h4 >>> 22, h4 &= M22;
      h0 += 5 * (h5 >>> 20), h5 &= M20;
    }
    // g = h + 5 - 2^130; use g when it did not go negative (h ≥ p), else h.
    let g0 = h0 + 5;
    let g1 = h1 + (g0 >>> 22);
    let g2 = h2 + (g1 >>> 22);
    let g3 = h3 + (g2 >>> 22);
    let g4 = h4 + (g3 >>> 22);
    let g5 = h5 + (g4 >>> 22);
    g0 &= M22, g1 &= M22, g2 &= M22, g3 &= M22, g4 &= M22;
    const useH = (g5 >>> 20) - 1; // all ones when h + 5 < 2^130, i.e. h < p
    g5 &= M20;
    h0 = (h0 & useH) | (g0 & ~useH);
    h1 = (h1 & useH) | (g1 & ~useH);
    h2 = (h2 & useH) | (g2 & ~useH);
    h3 = (h3 & useH) | (g3 & ~useH);
    h4 = (h4 & useH) | (g4 & ~useH);
    h5 = (h5 & useH) | (g5 & ~useH);
    // Add s; carries past bit 128 fall off in the repacking below.
    h0 += this.s0;
    h1 += this.s1 + (h0 >>> 22);
    h2 += this.s2 + (h1 >>> 22);
    h3 += this.s3 + (h2 >>> 22);
    h4 += this.s4 + (h3 >>> 22);
    h5 += this.s5 + (h4 >>> 22);
    h0 &= M22, h1 &= M22, h2 &= M22, h3 &= M22, h4 &= M22;
    const out = new Uint8Array(16);
    writeU32LE(out, 0, h0 | (h1 << 22));
    writeU32LE(out, 4, (h1 >>> 10) | (h2 << 12));
    writeU32LE(out, 8, (h2 >>> 20) | (h3 << 2) | (h4 << 24));
    writeU32LE(out, 12, (h4 >>> 8) | (h5 << 14));
    return out;
  }
}

/** Poly1305 (RFC 8439 §2.5): the 16-byte tag of `message` under the 32-byte one-time `key`. */
export function poly1305(key: Uint8Array, message: Uint8Array): Uint8Array {
  return new Poly1305(key).update(message).digest();
}
