// PBKDF2 (RFC 8018 §5.2, formerly RFC 2898) over HMAC-SHA-256/384/512: the passphrase KDF that protects
// the client's keystore. The HMAC is keyed once with the passphrase; every iteration clones that keyed
// state, so an iteration costs two compression-function calls. Nothing branches on the passphrase or
// the intermediate values.

import { checkBytes, checkLength, wipe } from "./bytes.ts";
import { checkHashName, hashLength, type HashName } from "./sha2.ts";
import { createHmac } from "./hmac.ts";

/** The most iterations accepted: ten million is minutes of work, far beyond any sensible setting. */
export const PBKDF2_MAX_ITERATIONS = 10_000_000;

/**
 * PBKDF2-HMAC-`hash`(password, salt, iterations, length). `length` is at most (2^32 − 1) blocks per the
 * RFC, capped here at 1 MiB; `iterations` in [1, PBKDF2_MAX_ITERATIONS]. TypeError/RangeError name the
 * argument.
 */
export function pbkdf2(
  hash: HashName,
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
): Uint8Array {
  checkHashName(hash, "hash");
  checkBytes(password, "password");
  checkBytes(salt, "salt");
  checkLength(iterations, "iterations", 1, PBKDF2_MAX_ITERATIONS);
  checkLength(length, "length", 0, 1 << 20);
  const h = hashLength(hash);
  const keyed = createHmac(hash, password);
  const out = new Uint8Array(length);
  const u = new Uint8Array(h), t = new Uint8Array(h);
  const index = new Uint8Array(4);
  for (let block = 1, offset = 0; offset < length; block++, offset += h) {
    index[0] = block >>> 24, index[1] = block >>> 16, index[2] = block >>> 8, index[3] = block;
    keyed.clone().update(salt).update(index).digestInto(u);
    t.set(u);
    for (let i = 1; i < iterations; i++) {
      keyed.clone().update(u).digestInto(u);
      for (let j = 0; j < h; j++) t[j] ^= u[j];
    }
    out.set(t.subarray(0, Math.min(h, length - offset)), offset);
  }
  wipe(u, t);
  return out;
}
