// The TLS 1.3 record layer (RFC 8446 §5): record framing, and record protection under one traffic
// secret for one direction, with its own sequence number and per-record nonce (§5.3).

import { AuthenticationError } from "../../crypto/errors.ts";
import { wipe } from "../../crypto/bytes.ts";
import { Alert, fail } from "./alert.ts";
import { trafficKeys } from "./key_schedule.ts";
import type { Aead, CipherSuite } from "./suites.ts";

/** Record content types (RFC 8446 §5.1). */
export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;

/** The largest plaintext fragment of a record: 2^14 bytes. */
export const MAX_FRAGMENT = 16384;
/** The largest TLSCiphertext.length a peer may send: 2^14 + 256. */
export const MAX_CIPHERTEXT = MAX_FRAGMENT + 256;
/** Record header length: type, legacy_record_version, length. */
export const HEADER_LENGTH = 5;
const TAG_LENGTH = 16;

/** A plaintext record (before keys, or a compatibility change_cipher_spec). */
export function plaintextRecord(type: number, fragment: Uint8Array, version = 0x0303): Uint8Array {
  if (fragment.length > MAX_FRAGMENT) throw new RangeError("record fragment longer than 2^14 bytes");
  const out = new Uint8Array(HEADER_LENGTH + fragment.length);
  out[0] = type;
  out[1] = version >> 8;
  out[2] = version & 0xff;
  out[3] = fragment.length >> 8;
  out[4] = fragment.length & 0xff;
  out.set(fragment, HEADER_LENGTH);
  return out;
}

/**
 * Record protection in one direction under one traffic secret: the AEAD key, the IV and a 64-bit
 * sequence number starting at 0. `seal` and `open` each use and advance the sequence number.
 */
export class RecordProtection {
  readonly suite: CipherSuite;
  /** The traffic secret the key and IV come from (KeyUpdate derives the next one from it). */
  readonly secret: Uint8Array;
  readonly #aead: Aead;
  readonly #iv: Uint8Array;
  readonly #nonce = new Uint8Array(12);
  readonly #aad = new Uint8Array(HEADER_LENGTH);
  #seq = 0;

  constructor(suite: CipherSuite, secret: Uint8Array) {
    this.suite = suite;
    this.secret = secret.slice();
    const { key, iv } = trafficKeys(suite, secret);
    this.#aead = suite.createAead(key);
    this.#iv = iv;
    wipe(key);
  }

  /** Records sealed or opened so far under this key. */
  get sequenceNumber(): number {
    return this.#seq;
  }

  /** A complete protected record carrying `content` of `type` (RFC 8446 §5.2), without padding. */
  seal(type: number, content: Uint8Array): Uint8Array {
    if (content.length > MAX_FRAGMENT) throw new RangeError("record content longer than 2^14 bytes");
    const inner = new Uint8Array(content.length + 1);
    inner.set(content);
    inner[content.length] = type;
    const length = inner.length + TAG_LENGTH;
    const aad = this.#header(length);
    const sealed = this.#aead.seal(this.#nonce12(), inner, aad);
    this.#seq++;
    inner.fill(0);
    const out = new Uint8Array(HEADER_LENGTH + sealed.length);
    out.set(aad);
    out.set(sealed, HEADER_LENGTH);
    return out;
  }

  /**
   * Opens the body of a protected record whose 5-byte header is `header`. Returns the real content type
   * and the content with the padding removed. Throws a TlsError: bad_record_mac if it does not
   * authenticate, record_overflow if the inner plaintext is too long, unexpected_message if it is all
   * padding. The sequence number advances only when the record authenticates.
   */
  open(header: Uint8Array, body: Uint8Array): { type: number; content: Uint8Array } {
    if (body.length > MAX_CIPHERTEXT) fail(Alert.record_overflow, "record longer than 2^14 + 256 bytes");
    let inner: Uint8Array;
    try {
      inner = this.#aead.open(this.#nonce12(), body, header);
    } catch (e) {
      if (e instanceof AuthenticationError) fail(Alert.bad_record_mac, "record does not authenticate");
      throw e;
    }
    this.#seq++;
    if (inner.length > MAX_FRAGMENT + 1) {
      fail(Alert.record_overflow, "record plaintext longer than 2^14 bytes");
    }
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) fail(Alert.unexpected_message, "protected record without a content type");
    return { type: inner[end], content: inner.subarray(0, end) };
  }

  /** Overwrites the key material; the object must not be used afterwards. */
  wipe(): void {
    this.#aead.wipe();
    wipe(this.#iv, this.secret, this.#nonce);
  }

  #header(length: number): Uint8Array {
    const h = this.#aad;
    h[0] = 23;
    h[1] = 3;
    h[2] = 3;
    h[3] = length >> 8;
    h[4] = length & 0xff;
    return h;
  }

  /** The nonce of the current record: iv XOR the sequence number, left-padded to 12 bytes (§5.3). */
  #nonce12(): Uint8Array {
    const seq = this.#seq;
    if (seq >= Number.MAX_SAFE_INTEGER) throw new RangeError("sequence number exhausted");
    const n = this.#nonce;
    n.set(this.#iv);
    const hi = Math.floor(seq / 0x100000000), lo = seq >>> 0;
    n[4] ^= hi >>> 24;
    n[5] ^= (hi >>> 16) & 0xff;
    n[6] ^= (hi >>> 8) & 0xff;
    n[7] ^= hi & 0xff;
    n[8] ^= lo >>> 24;
    n[9] ^= (lo >>> 16) & 0xff;
    n[10] ^= (lo >>> 8) & 0xff;
    n[11] ^= lo & 0xff;
    return n;
  }
}
