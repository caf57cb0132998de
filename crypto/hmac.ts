// HMAC (RFC 2104, FIPS 198-1) over SHA-256, SHA-384 and SHA-512, one-shot and incremental.
//
// A keyed HMAC keeps two hash states that have already absorbed the padded key (key ⊕ ipad and
// key ⊕ opad), so `clone()` gives a fresh MAC under the same key for the cost of copying two states:
// RFC 6979 and HKDF-Expand call HMAC many times with one key. Nothing here branches on secret data.

import { checkBytes } from "./bytes.ts";
import {
  blockLength,
  checkDigestOutput,
  checkHashName,
  createHash,
  type Hash,
  type HashName,
} from "./sha2.ts";

/** An incremental HMAC: `update` any number of times, then `digest` once. */
export interface Hmac {
  /** The underlying hash. */
  readonly hash: HashName;
  /** Bytes in the tag: 32, 48 or 64. */
  readonly outputLength: number;
  /** Absorbs `data`; returns this HMAC for chaining. */
  update(data: Uint8Array): this;
  /** The full-length tag; afterwards `update` and `digest` throw. */
  digest(): Uint8Array;
  /** Like `digest`, but writes the tag to out[offset, offset + outputLength) (a RangeError if it does not fit). */
  digestInto(out: Uint8Array, offset?: number): void;
  /** An independent copy of the current state (keyed, with whatever data was absorbed so far). */
  clone(): Hmac;
}

// Scratch arrays (typed-array allocation costs more than a short HMAC): the key block, by block length,
// and the inner digest, by output length. Used synchronously and cleared after each use.
const KEY_BLOCK: Record<number, Uint8Array> = { 64: new Uint8Array(64), 128: new Uint8Array(128) };
const INNER_DIGEST: Record<number, Uint8Array> = {
  32: new Uint8Array(32),
  48: new Uint8Array(48),
  64: new Uint8Array(64),
};

class HmacState implements Hmac {
  readonly hash: HashName;
  readonly outputLength: number;
  private readonly inner: Hash;
  private readonly outer: Hash;
  private finished = false;

  constructor(hash: HashName, inner: Hash, outer: Hash) {
    this.hash = hash;
    this.outputLength = inner.outputLength;
    this.inner = inner;
    this.outer = outer;
  }

  update(data: Uint8Array): this {
    checkBytes(data, "data");
    if (this.finished) throw new Error(`HMAC-${this.hash}: update after digest`);
    this.inner.update(data);
    return this;
  }

  digest(): Uint8Array {
    const out = new Uint8Array(this.outputLength);
    this.digestInto(out);
    return out;
  }

  digestInto(out: Uint8Array, offset = 0): void {
    if (this.finished) throw new Error(`HMAC-${this.hash}: digest called twice`);
    checkDigestOutput(out, offset, this.outputLength);
    this.finished = true;
    const innerDigest = INNER_DIGEST[this.outputLength];
    this.inner.digestInto(innerDigest);
    this.outer.update(innerDigest).digestInto(out, offset);
    innerDigest.fill(0);
  }

  clone(): Hmac {
    if (this.finished) throw new Error(`HMAC-${this.hash}: clone after digest`);
    return new HmacState(this.hash, this.inner.clone(), this.outer.clone());
  }
}

/**
 * A new incremental HMAC under `key` (any length; keys longer than the hash block are hashed first,
 * as RFC 2104 says). A TypeError for an unknown `hash` or a `key` that is not a Uint8Array.
 */
export function createHmac(hash: HashName, key: Uint8Array): Hmac {
  checkHashName(hash, "hash");
  checkBytes(key, "key");
  const n = blockLength(hash);
  const pad = KEY_BLOCK[n];
  if (key.length > n) createHash(hash).update(key).digestInto(pad);
  else for (let i = 0; i < key.length; i++) pad[i] = key[i];
  for (let i = 0; i < n; i++) pad[i] ^= 0x36;
  const inner = createHash(hash).update(pad);
  for (let i = 0; i < n; i++) pad[i] ^= 0x36 ^ 0x5c;
  const outer = createHash(hash).update(pad);
  pad.fill(0);
  return new HmacState(hash, inner, outer);
}

/** HMAC of `data` under `key` with the named hash: a tag of the hash's length (32, 48 or 64 bytes). */
export function hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  checkHashName(hash, "hash");
  checkBytes(key, "key");
  checkBytes(data, "data");
  return createHmac(hash, key).update(data).digest();
}
