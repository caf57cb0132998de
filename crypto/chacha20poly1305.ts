// AEAD_CHACHA20_POLY1305 (RFC 8439 §2.8) and AEAD_XChaCha20_Poly1305 (draft-irtf-cfrg-xchacha-03 §2).
// Sealed output is ciphertext ‖ 16-byte tag. Open computes and checks the tag (in constant time) before
// it decrypts anything, and every failure throws the same AuthenticationError.

import { checkBytes, equalBytes } from "./bytes.ts";
import { chachaState, chachaXor, xchachaState } from "./chacha20.ts";
import { AuthenticationError } from "./errors.ts";
import { Poly1305 } from "./poly1305.ts";

/** Largest plaintext: 2^32 − 1 blocks of 64 bytes (RFC 8439 §2.8, P_MAX), as counters 1 … 2^32 − 1. */
export const CHACHA20_POLY1305_MAX_PLAINTEXT = (2 ** 32 - 1) * 64;

const TAG_LENGTH = 16;
const EMPTY = new Uint8Array(0);

// Working buffers, wiped before each call returns (allocating typed arrays is slow in Deno, and
// JavaScript runs one call at a time): the ChaCha state, the one-time Poly1305 key, the lengths block.
const state = new Uint32Array(16);
const otk = new Uint8Array(32);
const lengths = new Uint8Array(16);

function writeLength(at: number, n: number): void {
  const high = Math.floor(n / 2 ** 32);
  for (let i = 0; i < 4; i++) {
    lengths[at + i] = n >>> (8 * i);
    lengths[at + 4 + i] = high >>> (8 * i);
  }
}

/**
 * The Poly1305 tag over aad ‖ pad16 ‖ ciphertext ‖ pad16 ‖ len(aad) ‖ len(ciphertext) (RFC 8439 §2.8),
 * under the one-time key from keystream block 0 of `state` (§2.6).
 */
function computeTag(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  chachaXor(state, 0, otk, otk);
  const mac = new Poly1305(otk);
  otk.fill(0);
  writeLength(0, aad.length);
  writeLength(8, ciphertext.length);
  const tag = mac.updatePadded(aad).updatePadded(ciphertext).update(lengths).digest();
  lengths.fill(0);
  return tag;
}

/** Seals under the key and nonce already set up in `state`, and wipes it. */
function seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  try {
    if (plaintext.length > CHACHA20_POLY1305_MAX_PLAINTEXT) {
      throw new RangeError(`plaintext must be at most ${CHACHA20_POLY1305_MAX_PLAINTEXT} bytes long`);
    }
    const n = plaintext.length;
    const out = new Uint8Array(n + TAG_LENGTH);
    chachaXor(state, 1, plaintext, out);
    out.set(computeTag(aad, out.subarray(0, n)), n);
    return out;
  } finally {
    state.fill(0);
  }
}

/** Opens under the key and nonce already set up in `state`, and wipes it. */
function open(sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  try {
    const n = sealed.length - TAG_LENGTH;
    if (n < 0 || n > CHACHA20_POLY1305_MAX_PLAINTEXT) throw new AuthenticationError();
    const ciphertext = sealed.subarray(0, n);
    if (!equalBytes(computeTag(aad, ciphertext), sealed.subarray(n))) throw new AuthenticationError();
    const out = new Uint8Array(n);
    chachaXor(state, 1, ciphertext, out);
    return out;
  } finally {
    state.fill(0);
  }
}

function checkArgs(
  key: unknown,
  nonce: unknown,
  nonceLength: number,
  data: unknown,
  dataName: string,
  aad: unknown,
) {
  checkBytes(key, "key", 32);
  checkBytes(nonce, "nonce", nonceLength);
  checkBytes(data, dataName);
  checkBytes(aad, "aad");
}

/**
 * ChaCha20-Poly1305 encryption (RFC 8439 §2.8): ciphertext ‖ 16-byte tag for a 32-byte `key`, a 12-byte
 * `nonce` that must never repeat under the same key, and optional associated data `aad`. Throws a
 * RangeError for a plaintext longer than {@link CHACHA20_POLY1305_MAX_PLAINTEXT}.
 */
export function chacha20Poly1305Seal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  checkArgs(key, nonce, 12, plaintext, "plaintext", aad);
  chachaState(state, key, nonce);
  return seal(plaintext, aad);
}

/**
 * ChaCha20-Poly1305 decryption (RFC 8439 §2.8): the plaintext of `sealed` (ciphertext ‖ tag). Throws
 * AuthenticationError, releasing nothing, if the tag does not match the key, nonce, ciphertext and aad.
 */
export function chacha20Poly1305Open(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  checkArgs(key, nonce, 12, sealed, "sealed", aad);
  chachaState(state, key, nonce);
  return open(sealed, aad);
}

/**
 * XChaCha20-Poly1305 encryption (draft-irtf-cfrg-xchacha-03 §2): as {@link chacha20Poly1305Seal} with
 * the subkey HChaCha20(key, nonce[0..16]) and the nonce 0^4 ‖ nonce[16..24]. The 24-byte nonce is large
 * enough to be chosen at random for every message.
 */
export function xchacha20Poly1305Seal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  checkArgs(key, nonce, 24, plaintext, "plaintext", aad);
  xchachaState(state, key, nonce);
  return seal(plaintext, aad);
}

/**
 * XChaCha20-Poly1305 decryption (draft-irtf-cfrg-xchacha-03 §2): the plaintext of `sealed`, or an
 * AuthenticationError, releasing nothing, if it does not authenticate.
 */
export function xchacha20Poly1305Open(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  checkArgs(key, nonce, 24, sealed, "sealed", aad);
  xchachaState(state, key, nonce);
  return open(sealed, aad);
}
