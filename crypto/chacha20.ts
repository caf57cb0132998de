// ChaCha20 (RFC 8439 §2.1–2.4) and HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2).
// The core keeps the 16 state words in local variables with the double round written out, and XORs the
// keystream into the output 32 bits at a time when the buffers allow it. No secret-dependent branches or
// table lookups: only additions, XORs and rotations on 32-bit words.

import { checkBytes, checkLength, readU32LE, writeU32LE } from "./bytes.ts";

/** The largest block counter: the counter is a 32-bit word and must not wrap around. */
const MAX_COUNTER = 0xffffffff;

/** Whether Uint32Array views read and write little-endian words (true on every platform Deno runs on). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Sixteen zero words: the "plaintext" when only the keystream is wanted. */
const ZERO_WORDS = new Uint32Array(16);

// Working buffers, wiped before each function that uses them returns (allocating typed arrays is slow in
// Deno, and JavaScript runs one call at a time): a state, and one block of keystream words.
const state = new Uint32Array(16);
const scratch = new Uint32Array(16);

/**
 * The ChaCha quarter round (RFC 8439 §2.1, §2.2) on words `a`, `b`, `c`, `d` of the state `x`, in
 * place. The cipher below runs the same operations inline; this form is for tests and readers.
 */
export function quarterRound(x: Uint32Array, a: number, b: number, c: number, d: number): void {
  x[a] += x[b];
  x[d] = rotl(x[d] ^ x[a], 16);
  x[c] += x[d];
  x[b] = rotl(x[b] ^ x[c], 12);
  x[a] += x[b];
  x[d] = rotl(x[d] ^ x[a], 8);
  x[c] += x[d];
  x[b] = rotl(x[b] ^ x[c], 7);
}

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/**
 * Writes into `s` the initial ChaCha state for a 32-byte key and a 12-byte nonce (RFC 8439 §2.3), with
 * the counter word (12) left at zero: the counter is passed to {@link chachaXor} separately. A 16-byte
 * nonce fills words 12–15 instead, as HChaCha20 wants. Callers check the lengths and wipe `s` when done.
 */
export function chachaState(s: Uint32Array, key: Uint8Array, nonce: Uint8Array): void {
  s[0] = 0x61707865;
  s[1] = 0x3320646e;
  s[2] = 0x79622d32;
  s[3] = 0x6b206574;
  for (let i = 0; i < 8; i++) s[4 + i] = readU32LE(key, 4 * i);
  s[12] = 0;
  const at = 16 - nonce.length / 4;
  for (let i = at; i < 16; i++) s[i] = readU32LE(nonce, 4 * (i - at));
}

/**
 * HChaCha20 on a state set up with a 16-byte nonce: replaces words 4–11 of `s` with the subkey, words
 * 0–3 and 12–15 of the state after the 20 rounds (without the final addition).
 */
function hchachaCore(s: Uint32Array): void {
  // The core adds the input words back in; subtracting them again leaves the bare rounds' output.
  chachaBlocks(s, s[12], ZERO_WORDS, 0, scratch, 0, 1);
  for (let i = 0; i < 4; i++) {
    s[4 + i] = scratch[i] - s[i];
    s[8 + i] = scratch[12 + i] - s[12 + i];
  }
  scratch.fill(0);
}

/**
 * Writes into `s` the ChaCha20 state of XChaCha20 (draft-irtf-cfrg-xchacha-03 §2.3) for a 32-byte key
 * and a 24-byte nonce: key HChaCha20(key, nonce[0..16]), nonce 0^4 ‖ nonce[16..24], counter word 0.
 */
export function xchachaState(s: Uint32Array, key: Uint8Array, nonce: Uint8Array): void {
  chachaState(s, key, nonce.subarray(0, 16));
  hchachaCore(s);
  s[12] = 0;
  s[13] = 0;
  s[14] = readU32LE(nonce, 16);
  s[15] = readU32LE(nonce, 20);
}

/**
 * Runs `blocks` ChaCha20 blocks from `counter` on, with the other words from `s`, writing
 * `dst[di + k] = src[si + k] ^ keystream[k]` for the 16·blocks words. The caller makes sure the
 * counter does not pass 2^32 − 1.
 */
function chachaBlocks(
  s: Uint32Array,
  counter: number,
  src: Uint32Array,
  si: number,
  dst: Uint32Array,
  di: number,
  blocks: number,
): void {
  const j0 = s[0], j1 = s[1], j2 = s[2], j3 = s[3], j4 = s[4], j5 = s[5], j6 = s[6], j7 = s[7];
  const j8 = s[8], j9 = s[9], j10 = s[10], j11 = s[11], j13 = s[13], j14 = s[14], j15 = s[15];
  for (let b = 0; b < blocks; b++) {
    const j12 = (counter + b) | 0;
    let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
    let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
    for (let r = 0; r < 10; r++) {
      // Column round: QR(0, 4, 8, 12), QR(1, 5, 9, 13), QR(2, 6, 10, 14), QR(3, 7, 11, 15).
      x0 = (x0 + x4) | 0, x12 ^= x0, x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0, x4 ^= x8, x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0, x12 ^= x0, x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0, x4 ^= x8, x4 = (x4 << 7) | (x4 >>> 25);
      x1 = (x1 + x5) | 0, x13 ^= x1, x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0, x5 ^= x9, x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0, x13 ^= x1, x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0, x5 ^= x9, x5 = (x5 << 7) | (x5 >>> 25);
      x2 = (x2 + x6) | 0, x14 ^= x2, x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0, x6 ^= x10, x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0, x14 ^= x2, x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0, x6 ^= x10, x6 = (x6 << 7) | (x6 >>> 25);
      x3 = (x3 + x7) | 0, x15 ^= x3, x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0, x7 ^= x11, x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0, x15 ^= x3, x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0, x7 ^= x11, x7 = (x7 << 7) | (x7 >>> 25);
      // Diagonal round: QR(0, 5, 10, 15), QR(1, 6, 11, 12), QR(2, 7, 8, 13), QR(3, 4, 9, 14).
      x0 = (x0 + x5) | 0, x15 ^= x0, x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0, x5 ^= x10, x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0, x15 ^= x0, x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0, x5 ^= x10, x5 = (x5 << 7) | (x5 >>> 25);
      x1 = (x1 + x6) | 0, x12 ^= x1, x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0, x6 ^= x11, x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0, x12 ^= x1, x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0, x6 ^= x11, x6 = (x6 << 7) | (x6 >>> 25);
      x2 = (x2 + x7) | 0, x13 ^= x2, x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0, x7 ^= x8, x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0, x13 ^= x2, x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0, x7 ^= x8, x7 = (x7 << 7) | (x7 >>> 25);
      x3 = (x3 + x4) | 0, x14 ^= x3, x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0, x4 ^= x9, x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0, x14 ^= x3, x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0, x4 ^= x9, x4 = (x4 << 7) | (x4 >>> 25);
    }
    dst[di] = src[si] ^ (x0 + j0);
    dst[di + 1] = src[si + 1] ^ (x1 + j1);
    dst[di + 2] = src[si + 2] ^ (x2 + j2);
    dst[di + 3] = src[si + 3] ^ (x3 + j3);
    dst[di + 4] = src[si + 4] ^ (x4 + j4);
    dst[di + 5] = src[si + 5] ^ (x5 + j5);
    dst[di + 6] = src[si + 6] ^ (x6 + j6);
    dst[di + 7] = src[si + 7] ^ (x7 + j7);
    dst[di + 8] = src[si + 8] ^ (x8 + j8);
    dst[di + 9] = src[si + 9] ^ (x9 + j9);
    dst[di + 10] = src[si + 10] ^ (x10 + j10);
    dst[di + 11] = src[si + 11] ^ (x11 + j11);
    dst[di + 12] = src[si + 12] ^ (x12 + j12);
    dst[di + 13] = src[si + 13] ^ (x13 + j13);
    dst[di + 14] = src[si + 14] ^ (x14 + j14);
    dst[di + 15] = src[si + 15] ^ (x15 + j15);
    si += 16;
    di += 16;
  }
}

/**
 * XORs `src` with the ChaCha20 keystream for state `s` (from {@link chachaState}) starting at block
 * `counter`, into `dst[0 .. src.length)`. `dst` must be at least as long as `src` and either be `src`
 * itself or not overlap it. The caller checks that the counter does not pass 2^32 − 1.
 */
export function chachaXor(s: Uint32Array, counter: number, src: Uint8Array, dst: Uint8Array): void {
  const n = src.length;
  const full = Math.floor(n / 64);
  let done = 0; // whole blocks written so far
  if (LITTLE_ENDIAN && full > 0 && dst.byteOffset % 4 === 0) {
    const words = full * 16;
    const out = new Uint32Array(dst.buffer, dst.byteOffset, words);
    let input = out;
    if (src.byteOffset % 4 === 0) input = new Uint32Array(src.buffer, src.byteOffset, words);
    else dst.set(src.subarray(0, full * 64)); // unaligned input: copy, then XOR in place
    chachaBlocks(s, counter, input, 0, out, 0, full);
    done = full;
  }
  for (let off = done * 64; off < n; off += 64) {
    chachaBlocks(s, counter + off / 64, ZERO_WORDS, 0, scratch, 0, 1);
    const end = Math.min(n, off + 64);
    for (let i = off; i < end; i++) {
      const k = i - off;
      dst[i] = src[i] ^ (scratch[k >>> 2] >>> ((k & 3) << 3));
    }
  }
  scratch.fill(0);
}

/**
 * The ChaCha20 block function (RFC 8439 §2.3): 64 bytes of keystream for a 32-byte key, a 12-byte nonce
 * and a 32-bit block counter.
 */
export function chacha20Block(key: Uint8Array, nonce: Uint8Array, counter: number): Uint8Array {
  return chacha20(key, nonce, counter, new Uint8Array(64));
}

/**
 * ChaCha20 encryption (RFC 8439 §2.4): `data` XOR the keystream for `key` (32 bytes) and `nonce`
 * (12 bytes) from block `counter` on, in a new array. Decryption is the same operation. Throws a
 * RangeError if the 32-bit block counter would pass 2^32 − 1 before the end of `data`.
 */
export function chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, data: Uint8Array): Uint8Array {
  checkBytes(key, "key", 32);
  checkBytes(nonce, "nonce", 12);
  checkLength(counter, "counter", 0, MAX_COUNTER);
  checkBytes(data, "data");
  const blocks = Math.ceil(data.length / 64);
  if (counter + blocks - 1 > MAX_COUNTER) {
    throw new RangeError(
      `data of ${data.length} bytes would overflow the 32-bit block counter from ${counter}`,
    );
  }
  chachaState(state, key, nonce);
  const out = new Uint8Array(data.length);
  chachaXor(state, counter, data, out);
  state.fill(0);
  return out;
}

/**
 * HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2): the 32-byte subkey for `key` (32 bytes) and `nonce`
 * (16 bytes), words 0–3 and 12–15 of the state after the 20 rounds, without the final addition.
 */
export function hchacha20(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  checkBytes(key, "key", 32);
  checkBytes(nonce, "nonce", 16);
  chachaState(state, key, nonce);
  hchachaCore(state);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) writeU32LE(out, 4 * i, state[4 + i]);
  state.fill(0);
  return out;
}
