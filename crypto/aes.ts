// AES-128/192/256 (FIPS 197) and AES-GCM (NIST SP 800-38D; McGrew and Viega, "The Galois/Counter Mode of
// Operation (GCM)") with any IV of one byte or more and 16-byte tags. Sealed output is ciphertext ‖ tag.
// Open computes and checks the tag (in constant time) before it decrypts anything, and every failure
// throws the same AuthenticationError.
//
// The cipher is the table-driven form of FIPS 197 §5 for 32-bit processors (Daemen and Rijmen, "AES
// Proposal: Rijndael", implementation aspects): each round is sixteen lookups into four 256-entry tables
// of 32-bit words that combine SubBytes, ShiftRows and MixColumns. The state is four little-endian 32-bit
// words (column j is bytes 4j to 4j+3), matching Uint32Array views of the data. The tables are computed
// at load from the field arithmetic of FIPS 197 §4, not typed in. Lookups into them (and into the S-box
// in the last round and the key schedule) are indexed by secret state: a cache-timing channel,
// documented in docs/security.md. There are no secret-dependent branches.

import { checkBytes, equalBytes, readU32LE } from "./bytes.ts";
import { AuthenticationError } from "./errors.ts";
import { Ghash, swap32 } from "./ghash.ts";

/** Largest GCM plaintext: 2^39 − 256 bits (NIST SP 800-38D §5.2.1.1), that is 2^36 − 32 bytes. */
export const AES_GCM_MAX_PLAINTEXT = 2 ** 36 - 32;

const TAG_LENGTH = 16;
const EMPTY = new Uint8Array(0);

/** Working block, wiped after each use (JavaScript runs one call at a time). */
const scratch = new Uint32Array(4);

// ---- Tables (FIPS 197 §4, §5.1.1, §5.1.3, §5.3.2, §5.3.3) ----

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);
/**
 * The four encryption tables, one after another (one array is faster than four): entry x of table r is
 * the MixColumns column of S[x] in row r, so TE[x] is the column (2·S[x], S[x], S[x], 3·S[x]) and table
 * r is table 0 rotated by r bytes.
 */
const TE = new Uint32Array(1024);
/** The decryption tables likewise, from TD[x] = (14·Si[x], 9·Si[x], 13·Si[x], 11·Si[x]) for Si = INV_SBOX. */
const TD = new Uint32Array(1024);
/** Round constants x^(i−1) in GF(2^8) (FIPS 197 §5.2). */
const RCON = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];

{
  // Powers of the generator 3 give logarithms, hence inverses and products in GF(2^8) mod x^8+x^4+x^3+x+1.
  const exp = new Uint8Array(255), log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    exp[i] = x;
    log[x] = i;
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0);
  }
  const mul = (a: number, b: number) => (a === 0 || b === 0 ? 0 : exp[(log[a] + log[b]) % 255]);
  const rotl8 = (b: number, n: number) => ((b << n) | (b >>> (8 - n))) & 0xff;
  for (let x = 0; x < 256; x++) {
    const inv = x === 0 ? 0 : exp[(255 - log[x]) % 255];
    const s = inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ 0x63;
    SBOX[x] = s;
    INV_SBOX[s] = x;
  }
  const rotl32 = (w: number, n: number) => ((w << n) | (w >>> (32 - n))) >>> 0;
  for (let x = 0; x < 256; x++) {
    const s = SBOX[x], si = INV_SBOX[x];
    const te = (mul(s, 2) | (s << 8) | (s << 16) | (mul(s, 3) << 24)) >>> 0;
    const td = (mul(si, 14) | (mul(si, 9) << 8) | (mul(si, 13) << 16) | (mul(si, 11) << 24)) >>> 0;
    for (let r = 0; r < 4; r++) {
      TE[256 * r + x] = rotl32(te, 8 * r);
      TD[256 * r + x] = rotl32(td, 8 * r);
    }
  }
}

// ---- The block cipher ----

/**
 * The key schedule of FIPS 197 §5.2: 4·(rounds + 1) little-endian words, written to `w` (new by default;
 * otherwise exactly that long) and returned.
 */
function expandKey(key: Uint8Array, w: Uint32Array = new Uint32Array(4 * (key.length / 4 + 7))): Uint32Array {
  const nk = key.length / 4;
  for (let i = 0; i < nk; i++) w[i] = readU32LE(key, 4 * i);
  for (let i = nk; i < w.length; i++) {
    let t = w[i - 1];
    if (i % nk === 0) {
      // SubWord(RotWord(t)) ⊕ Rcon: RotWord moves byte 1 to byte 0, a right rotation of the word.
      t = subWord((t >>> 8) | (t << 24)) ^ RCON[i / nk - 1];
    } else if (nk > 6 && i % nk === 4) {
      t = subWord(t);
    }
    w[i] = w[i - nk] ^ t;
  }
  return w;
}

function subWord(w: number): number {
  return SBOX[w & 0xff] | (SBOX[(w >>> 8) & 0xff] << 8) | (SBOX[(w >>> 16) & 0xff] << 16) |
    (SBOX[w >>> 24] << 24);
}

/**
 * Round keys for the equivalent inverse cipher (FIPS 197 §5.3.5): the encryption keys in reverse round
 * order, with InvMixColumns applied to all but the first and last.
 */
function inverseKeys(rk: Uint32Array): Uint32Array {
  const dk = new Uint32Array(rk.length), last = rk.length - 4;
  for (let r = 0; r <= last; r += 4) {
    for (let j = 0; j < 4; j++) {
      const w = rk[last - r + j];
      // Entry S[b] of decryption table r is InvMixColumns of byte b alone in row r (Si cancels S).
      dk[r + j] = r === 0 || r === last ? w : TD[SBOX[w & 0xff]] ^ TD[256 + SBOX[(w >>> 8) & 0xff]] ^
        TD[512 + SBOX[(w >>> 16) & 0xff]] ^ TD[768 + SBOX[w >>> 24]];
    }
  }
  return dk;
}

/** Encrypts the block s0 ‖ s1 ‖ s2 ‖ s3 of little-endian words (FIPS 197 §5.1) into `out`. */
function encryptWords(
  rk: Uint32Array,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  out: Uint32Array,
): void {
  const T = TE, last = rk.length - 4;
  s0 ^= rk[0], s1 ^= rk[1], s2 ^= rk[2], s3 ^= rk[3];
  for (let k = 4; k < last; k += 4) {
    const t0 = T[s0 & 0xff] ^ T[256 + ((s1 >>> 8) & 0xff)] ^ T[512 + ((s2 >>> 16) & 0xff)] ^
      T[768 + (s3 >>> 24)] ^ rk[k];
    const t1 = T[s1 & 0xff] ^ T[256 + ((s2 >>> 8) & 0xff)] ^ T[512 + ((s3 >>> 16) & 0xff)] ^
      T[768 + (s0 >>> 24)] ^ rk[k + 1];
    const t2 = T[s2 & 0xff] ^ T[256 + ((s3 >>> 8) & 0xff)] ^ T[512 + ((s0 >>> 16) & 0xff)] ^
      T[768 + (s1 >>> 24)] ^ rk[k + 2];
    const t3 = T[s3 & 0xff] ^ T[256 + ((s0 >>> 8) & 0xff)] ^ T[512 + ((s1 >>> 16) & 0xff)] ^
      T[768 + (s2 >>> 24)] ^ rk[k + 3];
    s0 = t0, s1 = t1, s2 = t2, s3 = t3;
  }
  out[0] = lastRound(SBOX, s0, s1, s2, s3) ^ rk[last];
  out[1] = lastRound(SBOX, s1, s2, s3, s0) ^ rk[last + 1];
  out[2] = lastRound(SBOX, s2, s3, s0, s1) ^ rk[last + 2];
  out[3] = lastRound(SBOX, s3, s0, s1, s2) ^ rk[last + 3];
}

/**
 * Decrypts the block s0 ‖ s1 ‖ s2 ‖ s3 (FIPS 197 §5.3.5, the equivalent inverse cipher) into `out`: as
 * encryption, with the decryption tables and InvShiftRows taking bytes from the columns to the left.
 */
function decryptWords(
  dk: Uint32Array,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  out: Uint32Array,
): void {
  const T = TD, last = dk.length - 4;
  s0 ^= dk[0], s1 ^= dk[1], s2 ^= dk[2], s3 ^= dk[3];
  for (let k = 4; k < last; k += 4) {
    const t0 = T[s0 & 0xff] ^ T[256 + ((s3 >>> 8) & 0xff)] ^ T[512 + ((s2 >>> 16) & 0xff)] ^
      T[768 + (s1 >>> 24)] ^ dk[k];
    const t1 = T[s1 & 0xff] ^ T[256 + ((s0 >>> 8) & 0xff)] ^ T[512 + ((s3 >>> 16) & 0xff)] ^
      T[768 + (s2 >>> 24)] ^ dk[k + 1];
    const t2 = T[s2 & 0xff] ^ T[256 + ((s1 >>> 8) & 0xff)] ^ T[512 + ((s0 >>> 16) & 0xff)] ^
      T[768 + (s3 >>> 24)] ^ dk[k + 2];
    const t3 = T[s3 & 0xff] ^ T[256 + ((s2 >>> 8) & 0xff)] ^ T[512 + ((s1 >>> 16) & 0xff)] ^
      T[768 + (s0 >>> 24)] ^ dk[k + 3];
    s0 = t0, s1 = t1, s2 = t2, s3 = t3;
  }
  out[0] = lastRound(INV_SBOX, s0, s3, s2, s1) ^ dk[last];
  out[1] = lastRound(INV_SBOX, s1, s0, s3, s2) ^ dk[last + 1];
  out[2] = lastRound(INV_SBOX, s2, s1, s0, s3) ^ dk[last + 2];
  out[3] = lastRound(INV_SBOX, s3, s2, s1, s0) ^ dk[last + 3];
}

/**
 * One column of the final round, without its round key: byte r of the result is `box` applied to byte r
 * of the r-th argument (SubBytes and ShiftRows, or their inverses; no MixColumns).
 */
function lastRound(box: Uint8Array, a: number, b: number, c: number, d: number): number {
  return box[a & 0xff] | (box[(b >>> 8) & 0xff] << 8) | (box[(c >>> 16) & 0xff] << 16) |
    (box[d >>> 24] << 24);
}

/**
 * The AES block cipher (FIPS 197) under one 16-, 24- or 32-byte key: AES-128, AES-192 or AES-256. The key
 * schedule is computed once; the decryption schedule on the first {@link Aes.decryptBlock}.
 */
export class Aes {
  /** 10, 12 or 14. */
  readonly rounds: number;
  readonly #rk: Uint32Array;
  #dk: Uint32Array | undefined;

  constructor(key: Uint8Array) {
    checkBytes(key, "key", 16, 24, 32);
    this.#rk = expandKey(key);
    this.rounds = this.#rk.length / 4 - 1;
  }

  /** The encryption of the 16-byte block `input` (FIPS 197 §5.1), written to `output` (new by default). */
  encryptBlock(input: Uint8Array, output: Uint8Array = new Uint8Array(16)): Uint8Array {
    checkBytes(input, "input", 16);
    checkBytes(output, "output", 16);
    encryptWords(
      this.#rk,
      readU32LE(input, 0),
      readU32LE(input, 4),
      readU32LE(input, 8),
      readU32LE(input, 12),
      scratch,
    );
    writeBlock(scratch, output);
    return output;
  }

  /** The decryption of the 16-byte block `input` (FIPS 197 §5.3), written to `output` (new by default). */
  decryptBlock(input: Uint8Array, output: Uint8Array = new Uint8Array(16)): Uint8Array {
    checkBytes(input, "input", 16);
    checkBytes(output, "output", 16);
    this.#dk ??= inverseKeys(this.#rk);
    decryptWords(
      this.#dk,
      readU32LE(input, 0),
      readU32LE(input, 4),
      readU32LE(input, 8),
      readU32LE(input, 12),
      scratch,
    );
    writeBlock(scratch, output);
    return output;
  }

  /** Overwrites the key schedules with zeros; the object must not be used afterwards. */
  wipe(): void {
    this.#rk.fill(0);
    this.#dk?.fill(0);
  }
}

/** Writes the four words of `w` to `bytes` as 16 little-endian bytes, then wipes `w`. */
function writeBlock(w: Uint32Array, bytes: Uint8Array): void {
  for (let i = 0; i < 16; i++) bytes[i] = w[i >> 2] >>> ((i & 3) << 3);
  w.fill(0);
}

// ---- GCM ----

/**
 * GCTR (NIST SP 800-38D §6.5) from inc32(J0) on: XORs E(K, inc32^i(J0)), i = 1, 2, …, into `data`, in
 * place. inc32 adds one to the last four bytes as a big-endian number modulo 2^32 (§6.2). `data` must be
 * 4-byte aligned (callers pass arrays they allocated).
 */
function gctr(rk: Uint32Array, j0: Uint32Array, data: Uint8Array): void {
  const c0 = j0[0], c1 = j0[1], c2 = j0[2], full = Math.floor(data.length / 16), ks = scratch;
  let ctr = swap32(j0[3]);
  const w = new Uint32Array(data.buffer, data.byteOffset, 4 * full);
  for (let i = 0; i < 4 * full; i += 4) {
    ctr = (ctr + 1) >>> 0;
    encryptWords(rk, c0, c1, c2, swap32(ctr), ks);
    w[i] ^= ks[0], w[i + 1] ^= ks[1], w[i + 2] ^= ks[2], w[i + 3] ^= ks[3];
  }
  if (data.length > 16 * full) {
    encryptWords(rk, c0, c1, c2, swap32((ctr + 1) >>> 0), ks);
    for (let i = 16 * full; i < data.length; i++) data[i] ^= ks[(i >> 2) & 3] >>> ((i & 3) << 3);
  }
  ks.fill(0);
}

/**
 * AES-GCM (NIST SP 800-38D §7) under one key, for sealing and opening many messages: the key schedule and
 * the GHASH table are computed once. Each message needs its own IV, never repeated under the key.
 */
export class AesGcm {
  readonly #rk: Uint32Array;
  readonly #ghash: Ghash;

  /** Prepares a 16-, 24- or 32-byte `key` (AES-128-GCM, AES-192-GCM, AES-256-GCM). */
  constructor(key: Uint8Array) {
    checkBytes(key, "key", 16, 24, 32);
    this.#rk = expandKey(key);
    this.#ghash = keyGhash(this.#rk, new Ghash());
  }

  /**
   * Encrypts and authenticates: ciphertext ‖ 16-byte tag, for an `iv` of one byte or more (12 bytes is
   * the standard and fastest length) and optional associated data `aad`. Throws a RangeError for a
   * plaintext longer than {@link AES_GCM_MAX_PLAINTEXT}.
   */
  seal(iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    return gcmSeal(this.#rk, this.#ghash, iv, plaintext, aad);
  }

  /**
   * Checks and decrypts `sealed` (ciphertext ‖ tag) made by {@link AesGcm.seal} with the same IV and aad.
   * Throws AuthenticationError, releasing nothing, if the tag does not match.
   */
  open(iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    return gcmOpen(this.#rk, this.#ghash, iv, sealed, aad);
  }

  /** Overwrites the key schedule and the GHASH table with zeros; the object must not be used afterwards. */
  wipe(): void {
    this.#rk.fill(0);
    this.#ghash.wipe();
  }
}

/** Keys `ghash` with GCM's hash subkey H = E(K, 0^128) for the key schedule `rk`, and returns it. */
function keyGhash(rk: Uint32Array, ghash: Ghash): Ghash {
  encryptWords(rk, 0, 0, 0, 0, scratch);
  ghash.setKeyWords(swap32(scratch[0]), swap32(scratch[1]), swap32(scratch[2]), swap32(scratch[3]));
  scratch.fill(0);
  return ghash;
}

/** The pre-counter block J0 of the message being sealed or opened; cleared after each use. */
const J0 = new Uint32Array(4);
/** GHASH(A, C) of the message being sealed or opened, and the expected tag when opening. */
const S = new Uint32Array(4);
const TAG = new Uint8Array(TAG_LENGTH);

function gcmSeal(rk: Uint32Array, ghash: Ghash, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array) {
  checkArgs(iv, plaintext, "plaintext", aad);
  if (plaintext.length > AES_GCM_MAX_PLAINTEXT) {
    throw new RangeError(`plaintext must be at most ${AES_GCM_MAX_PLAINTEXT} bytes long`);
  }
  const n = plaintext.length;
  const out = new Uint8Array(n + TAG_LENGTH);
  out.set(plaintext);
  const ciphertext = out.subarray(0, n);
  preCounter(ghash, iv);
  gctr(rk, J0, ciphertext);
  tagInto(rk, ghash, aad, ciphertext, out.subarray(n));
  J0.fill(0);
  return out;
}

function gcmOpen(rk: Uint32Array, ghash: Ghash, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array) {
  checkArgs(iv, sealed, "sealed", aad);
  const n = sealed.length - TAG_LENGTH;
  if (n < 0 || n > AES_GCM_MAX_PLAINTEXT) throw new AuthenticationError();
  const ciphertext = sealed.subarray(0, n);
  preCounter(ghash, iv);
  tagInto(rk, ghash, aad, ciphertext, TAG);
  const ok = equalBytes(TAG, sealed.subarray(n));
  TAG.fill(0); // the valid tag for this input: an oracle for forgeries if it leaked
  if (!ok) {
    J0.fill(0);
    throw new AuthenticationError();
  }
  const out = ciphertext.slice();
  gctr(rk, J0, out);
  J0.fill(0);
  return out;
}

/** J0 (NIST SP 800-38D §7.1 step 2): IV ‖ 0^31 ‖ 1 for a 12-byte IV, otherwise GHASH of the padded IV. */
function preCounter(ghash: Ghash, iv: Uint8Array): void {
  if (iv.length === 12) {
    J0[0] = readU32LE(iv, 0), J0[1] = readU32LE(iv, 4), J0[2] = readU32LE(iv, 8), J0[3] = 0x01000000;
  } else {
    ghash.reset().update(iv).finish(0, iv.length, J0);
  }
}

/** The tag GHASH(A, C) ⊕ E(K, J0) (NIST SP 800-38D §7.1 steps 5–6), written to `out`. */
function tagInto(rk: Uint32Array, ghash: Ghash, aad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array) {
  ghash.reset().update(aad).update(ciphertext).finish(aad.length, ciphertext.length, S);
  encryptWords(rk, J0[0], J0[1], J0[2], J0[3], scratch);
  for (let i = 0; i < 4; i++) scratch[i] ^= S[i];
  S.fill(0);
  writeBlock(scratch, out);
}

function checkArgs(iv: unknown, data: unknown, dataName: string, aad: unknown): asserts iv is Uint8Array {
  checkBytes(iv, "iv");
  if (iv.length === 0) throw new RangeError("iv must be at least 1 byte long, got 0");
  checkBytes(data, dataName);
  checkBytes(aad, "aad");
}

// The one-shot functions below work in module scratch (a key schedule per key size and one GHASH table),
// wiped after every call, instead of allocating an AesGcm: a short message costs less than the arrays.
const ONE_SHOT_RK: Record<number, Uint32Array> = {
  16: new Uint32Array(44),
  24: new Uint32Array(52),
  32: new Uint32Array(60),
};
const ONE_SHOT_GHASH = new Ghash();

/** Expands `key` into the one-shot scratch and keys the one-shot GHASH with H = E(K, 0^128). */
function oneShotKey(key: Uint8Array): Uint32Array {
  checkBytes(key, "key", 16, 24, 32);
  const rk = expandKey(key, ONE_SHOT_RK[key.length]);
  keyGhash(rk, ONE_SHOT_GHASH);
  return rk;
}

/**
 * AES-GCM encryption (NIST SP 800-38D §7.1): ciphertext ‖ 16-byte tag for a 16-, 24- or 32-byte `key`, an
 * `iv` of one byte or more (12 is standard) that must never repeat under the same key, and optional
 * associated data `aad`. For many messages under one key, {@link AesGcm} keeps the key schedule.
 */
export function aesGcmSeal(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  const rk = oneShotKey(key);
  try {
    return gcmSeal(rk, ONE_SHOT_GHASH, iv, plaintext, aad);
  } finally {
    rk.fill(0);
    ONE_SHOT_GHASH.wipe();
  }
}

/**
 * AES-GCM decryption (NIST SP 800-38D §7.2): the plaintext of `sealed` (ciphertext ‖ tag). Throws
 * AuthenticationError, releasing nothing, if the tag does not match the key, IV, ciphertext and aad.
 */
export function aesGcmOpen(
  key: Uint8Array,
  iv: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  const rk = oneShotKey(key);
  try {
    return gcmOpen(rk, ONE_SHOT_GHASH, iv, sealed, aad);
  } finally {
    rk.fill(0);
    ONE_SHOT_GHASH.wipe();
  }
}
