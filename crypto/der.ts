// A small, strict DER reader and writer (ITU-T X.690): what ECDSA signatures, SubjectPublicKeyInfo
// (RFC 5280 §4.1, RFC 5480) and, later, X.509 certificates need. Only definite, minimal lengths and
// low tag numbers are accepted; anything else is a RangeError that says what was wrong and where.

import { bytesToBigInt, checkBytes, concatBytes } from "./bytes.ts";

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One element: its tag, its contents, and the offsets of the whole element in the input. */
export interface DerElement {
  tag: number;
  value: Uint8Array;
  start: number;
  end: number;
}

/** Elements are nested at most this deep by the reader's users; lengths are capped at 2^24 bytes. */
const MAX_LENGTH = 1 << 24;

/** Reads the element at `offset` of `bytes`, which must end by `limit` (default: the end of `bytes`). */
export function readElement(bytes: Uint8Array, offset = 0, limit = bytes.length): DerElement {
  const fail = (why: string) => new RangeError(`DER: ${why} at offset ${offset}`);
  if (offset + 2 > limit) throw fail("truncated element");
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw fail("high tag numbers are not supported");
  let len = bytes[offset + 1];
  let pos = offset + 2;
  if (len >= 0x80) {
    const count = len & 0x7f;
    if (count === 0) throw fail("indefinite length is not DER");
    if (count > 3) throw fail("length too large");
    if (pos + count > limit) throw fail("truncated length");
    if (bytes[pos] === 0) throw fail("length is not minimal");
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + bytes[pos + i];
    if (len < 0x80) throw fail("length is not minimal");
    pos += count;
  }
  if (len > MAX_LENGTH || pos + len > limit) throw fail("truncated contents");
  return { tag, value: bytes.subarray(pos, pos + len), start: offset, end: pos + len };
}

/** Reads the element at `offset` and checks its tag. */
export function expectElement(bytes: Uint8Array, tag: number, what: string, offset = 0): DerElement {
  const el = readElement(bytes, offset);
  if (el.tag !== tag) {
    throw new RangeError(
      `DER: expected ${what} (tag 0x${hex2(tag)}), got tag 0x${hex2(el.tag)} at offset ${offset}`,
    );
  }
  return el;
}

/** The elements inside a constructed value (a SEQUENCE's contents), which must be consumed exactly. */
export function readChildren(value: Uint8Array): DerElement[] {
  const out: DerElement[] = [];
  for (let off = 0; off < value.length;) {
    const el = readElement(value, off);
    out.push(el);
    off = el.end;
  }
  return out;
}

/** Parses a whole input that must be exactly one element of the given tag (no trailing bytes). */
export function parseSingle(bytes: Uint8Array, tag: number, what: string): DerElement {
  const el = expectElement(bytes, tag, what);
  if (el.end !== bytes.length) {
    throw new RangeError(`DER: ${bytes.length - el.end} trailing bytes after ${what}`);
  }
  return el;
}

/** A non-negative INTEGER's value as bytes without the sign octet; minimal encoding is enforced. */
export function readUnsignedInteger(el: DerElement): Uint8Array {
  if (el.tag !== TAG.INTEGER) throw new RangeError("DER: expected an INTEGER");
  const v = el.value;
  if (v.length === 0) throw new RangeError("DER: empty INTEGER");
  if (v[0] & 0x80) throw new RangeError("DER: negative INTEGER");
  if (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) throw new RangeError("DER: INTEGER is not minimal");
  return v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
}

/** An OBJECT IDENTIFIER's dotted form, with minimal sub-identifiers enforced. */
export function readOid(el: DerElement): string {
  if (el.tag !== TAG.OID) throw new RangeError("DER: expected an OBJECT IDENTIFIER");
  const v = el.value;
  if (v.length === 0 || v.length > 64) throw new RangeError("DER: OBJECT IDENTIFIER has a bad length");
  const arcs: bigint[] = [];
  let cur = 0n;
  let fresh = true;
  for (let i = 0; i < v.length; i++) {
    if (fresh && v[i] === 0x80) throw new RangeError("DER: OBJECT IDENTIFIER arc is not minimal");
    cur = (cur << 7n) | BigInt(v[i] & 0x7f);
    fresh = !(v[i] & 0x80);
    if (fresh) {
      arcs.push(cur);
      cur = 0n;
    }
  }
  if (!fresh) throw new RangeError("DER: OBJECT IDENTIFIER is truncated");
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  const second = arcs[0] - first * 40n;
  return [first, second, ...arcs.slice(1)].join(".");
}

// ---- writing ---------------------------------------------------------------------------------------

/** Encodes one element with a minimal definite length. */
export function encodeElement(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const value = concatBytes(...contents);
  const n = value.length;
  let head: Uint8Array;
  if (n < 0x80) head = Uint8Array.of(tag, n);
  else if (n < 0x100) head = Uint8Array.of(tag, 0x81, n);
  else if (n < 0x10000) head = Uint8Array.of(tag, 0x82, n >> 8, n & 0xff);
  else if (n <= MAX_LENGTH) head = Uint8Array.of(tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff);
  else throw new RangeError("DER: element too long");
  return concatBytes(head, value);
}

/** A non-negative INTEGER from big-endian magnitude bytes (leading zeros dropped, a sign octet added). */
export function encodeUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return encodeElement(TAG.INTEGER, m.length === 0 || m[0] & 0x80 ? concatBytes(Uint8Array.of(0), m) : m);
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((a) => BigInt(a));
  if (arcs.length < 2) throw new RangeError("OID needs at least two arcs");
  const body: number[] = [];
  const push = (v: bigint) => {
    const groups = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    body.push(...groups);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return encodeElement(TAG.OID, Uint8Array.from(body));
}

// ---- ECDSA signatures and SubjectPublicKeyInfo ----------------------------------------------------

/** r ‖ s halves → DER `SEQUENCE { INTEGER r, INTEGER s }` (RFC 3279 §2.2.3, as TLS carries it). */
export function signatureToDer(r: Uint8Array, s: Uint8Array): Uint8Array {
  return encodeElement(TAG.SEQUENCE, encodeUnsignedInteger(r), encodeUnsignedInteger(s));
}

/**
 * Strict DER `SEQUENCE { INTEGER r, INTEGER s }` → r ‖ s with each half `size` bytes. Throws a
 * RangeError for BER variants, negative or non-minimal integers, values wider than `size` bytes, or
 * trailing bytes. (Range checks against n are the verifier's.)
 */
export function derToSignature(der: Uint8Array, size: number): Uint8Array {
  checkBytes(der, "signature");
  const seq = parseSingle(der, TAG.SEQUENCE, "ECDSA signature SEQUENCE");
  const parts = readChildren(seq.value);
  if (parts.length !== 2) {
    throw new RangeError(`DER: an ECDSA signature has 2 INTEGERs, got ${parts.length} elements`);
  }
  const out = new Uint8Array(2 * size);
  parts.forEach((el, i) => {
    const v = readUnsignedInteger(el);
    if (v.length > size) throw new RangeError(`DER: signature ${i ? "s" : "r"} is wider than ${size} bytes`);
    out.set(v, (i + 1) * size - v.length);
  });
  return out;
}

export const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";

/** What a SubjectPublicKeyInfo holds: the algorithm, its named-curve parameter if any, the key bytes. */
export interface SubjectPublicKeyInfo {
  algorithm: string;
  /** The named curve's OID for id-ecPublicKey; undefined if the parameters are not a named curve. */
  namedCurve?: string;
  publicKey: Uint8Array;
}

/** Parses a DER SubjectPublicKeyInfo strictly (the whole input, no trailing bytes). */
export function parseSpki(der: Uint8Array): SubjectPublicKeyInfo {
  checkBytes(der, "spki");
  const seq = parseSingle(der, TAG.SEQUENCE, "SubjectPublicKeyInfo");
  const [algId, bits, ...rest] = readChildren(seq.value);
  if (!algId || !bits || rest.length) throw new RangeError("DER: SubjectPublicKeyInfo must have 2 elements");
  if (algId.tag !== TAG.SEQUENCE) throw new RangeError("DER: AlgorithmIdentifier must be a SEQUENCE");
  const [alg, param, ...more] = readChildren(algId.value);
  if (!alg || more.length) throw new RangeError("DER: AlgorithmIdentifier must have 1 or 2 elements");
  const algorithm = readOid(alg);
  const namedCurve = param && param.tag === TAG.OID ? readOid(param) : undefined;
  if (bits.tag !== TAG.BIT_STRING) throw new RangeError("DER: subjectPublicKey must be a BIT STRING");
  if (bits.value.length < 1 || bits.value[0] !== 0) {
    throw new RangeError("DER: subjectPublicKey must be a whole number of bytes");
  }
  return { algorithm, namedCurve, publicKey: bits.value.subarray(1) };
}

/** Encodes an id-ecPublicKey SubjectPublicKeyInfo for a SEC1 point on the named curve. */
export function encodeEcSpki(curveOid: string, point: Uint8Array): Uint8Array {
  return encodeElement(
    TAG.SEQUENCE,
    encodeElement(TAG.SEQUENCE, encodeOid(OID_EC_PUBLIC_KEY), encodeOid(curveOid)),
    encodeElement(TAG.BIT_STRING, Uint8Array.of(0), point),
  );
}

/** The integer value of an unsigned INTEGER element. */
export function readBigInt(el: DerElement): bigint {
  return bytesToBigInt(readUnsignedInteger(el));
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
