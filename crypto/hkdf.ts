// HKDF (RFC 5869): HMAC-based extract-and-expand key derivation over SHA-256, SHA-384 and SHA-512.

import { checkBytes, wipe } from "./bytes.ts";
import { checkHashName, hashLength, type HashName } from "./sha2.ts";
import { createHmac, type Hmac, hmac } from "./hmac.ts";

/**
 * HKDF-Extract (RFC 5869 §2.2): PRK = HMAC-Hash(salt, IKM), hash-length bytes. An empty salt stands for
 * hash-length zero bytes, as the RFC says for a missing salt (the two give the same HMAC key block).
 */
export function hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  checkHashName(hash, "hash");
  checkBytes(salt, "salt");
  checkBytes(ikm, "ikm");
  return hmac(hash, salt, ikm);
}

/**
 * HKDF-Expand (RFC 5869 §2.3): `length` bytes of output keying material from `prk` and `info`.
 * A RangeError if `prk` is shorter than the hash output, or `length` is not an integer in
 * [0, 255 × hash length]; a TypeError if it is not a number.
 */
export function hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const hashLen = checkPrk(hash, prk);
  checkBytes(info, "info");
  checkOutputLength(length, hashLen);
  return expand(hash, prk, info, length);
}

/**
 * HKDF-Expand under one PRK for several `info` values: `prk` is checked (as {@link hkdfExpand} does) and
 * keyed into HMAC once, and each call of the returned function expands from a copy of that keyed state
 * (two compression calls fewer than a fresh {@link hkdfExpand}). The function holds the keyed state: drop
 * it when done.
 */
export function createHkdfExpand(
  hash: HashName,
  prk: Uint8Array,
): (info: Uint8Array, length: number) => Uint8Array {
  const hashLen = checkPrk(hash, prk);
  const keyed = createHmac(hash, prk);
  return (info, length) => {
    checkBytes(info, "info");
    checkOutputLength(length, hashLen);
    return expandKeyed(keyed, info, length, false);
  };
}

/** HKDF (RFC 5869 §2): extract with `salt`, then expand with `info` to `length` bytes. */
export function hkdf(
  hash: HashName,
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  checkHashName(hash, "hash");
  checkBytes(ikm, "ikm");
  checkBytes(salt, "salt");
  checkBytes(info, "info");
  checkOutputLength(length, hashLength(hash));
  const prk = hmac(hash, salt, ikm);
  const okm = expand(hash, prk, info, length);
  wipe(prk);
  return okm;
}

// Scratch for T(i) by hash length and for the counter byte (typed arrays are costly to allocate; the
// work is synchronous and T is wiped before expand returns).
const T_SCRATCH: Record<number, Uint8Array> = {
  32: new Uint8Array(32),
  48: new Uint8Array(48),
  64: new Uint8Array(64),
};
const COUNTER = new Uint8Array(1);

/** T(i) = HMAC(PRK, T(i−1) ‖ info ‖ i) for i = 1, 2, …; OKM is the first `length` bytes of T(1) ‖ T(2) ‖ …. */
function expand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return expandKeyed(createHmac(hash, prk), info, length, true);
}

/** HKDF-Expand from an HMAC keyed with the PRK; `consume`: the last block may use `keyed` itself. */
function expandKeyed(keyed: Hmac, info: Uint8Array, length: number, consume: boolean): Uint8Array {
  const okm = new Uint8Array(length);
  const t = T_SCRATCH[keyed.outputLength];
  for (let pos = 0, i = 1; pos < length; i++) {
    const mac = consume && pos + t.length >= length ? keyed : keyed.clone();
    if (i > 1) mac.update(t);
    COUNTER[0] = i;
    mac.update(info).update(COUNTER).digestInto(t);
    const take = Math.min(t.length, length - pos);
    for (let j = 0; j < take; j++) okm[pos + j] = t[j];
    pos += take;
  }
  wipe(t);
  return okm;
}

/** Checks `hash` and a PRK (bytes, at least the hash's output long); returns the hash length. */
function checkPrk(hash: HashName, prk: Uint8Array): number {
  checkHashName(hash, "hash");
  checkBytes(prk, "prk");
  const hashLen = hashLength(hash);
  if (prk.length < hashLen) {
    throw new RangeError(`prk must be at least ${hashLen} bytes long for ${hash}, got ${prk.length}`);
  }
  return hashLen;
}

function checkOutputLength(length: unknown, hashLen: number): asserts length is number {
  if (typeof length !== "number") {
    throw new TypeError(`length must be a number, got ${length === null ? "null" : typeof length}`);
  }
  const max = 255 * hashLen;
  if (!Number.isInteger(length) || length < 0 || length > max) {
    throw new RangeError(`length must be an integer in [0, ${max}], got ${length}`);
  }
}
