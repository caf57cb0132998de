// Byte helpers shared by every primitive: argument checks, encodings, constant-time comparison and the
// default random source. Pure: no I/O; randomness comes from crypto.getRandomValues only when the caller
// does not pass its own source.

/** A source of random bytes: returns `n` fresh bytes. Protocol code takes one so tests can fix it. */
export type RandomSource = (n: number) => Uint8Array;

/** The system CSPRNG (crypto.getRandomValues), in chunks of at most 65,536 bytes as the API requires. */
export const systemRandom: RandomSource = (n: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
};

/**
 * Throws a TypeError naming `name` unless `value` is a Uint8Array, and a RangeError unless its length is
 * one of `lengths` (when any are given).
 */
export function checkBytes(value: unknown, name: string, ...lengths: number[]): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a Uint8Array, got ${describe(value)}`);
  }
  if (lengths.length > 0 && !lengths.includes(value.length)) {
    const want = lengths.length === 1 ? `${lengths[0]} bytes` : `${lengths.join(", ")} bytes`;
    throw new RangeError(`${name} must be ${want} long, got ${value.length}`);
  }
}

/** Throws a TypeError unless `value` is a safe non-negative integer, and a RangeError outside [min, max]. */
export function checkLength(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) throw new RangeError(`${name} must be in [${min}, ${max}], got ${value}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}

/** The concatenation of the given arrays, in a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Compares two arrays in time that depends only on their lengths (algorithmic constant time: every byte
 * is visited, with no early exit). For tags, MACs and other secrets.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** The little-endian 32-bit word of bytes[i … i + 3] (signed; `>>> 0` for unsigned). */
export function readU32LE(bytes: Uint8Array, i: number): number {
  return bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
}

/** Writes the 32-bit word `w` to bytes[i … i + 3], little-endian. */
export function writeU32LE(bytes: Uint8Array, i: number, w: number): void {
  bytes[i] = w;
  bytes[i + 1] = w >>> 8;
  bytes[i + 2] = w >>> 16;
  bytes[i + 3] = w >>> 24;
}

/** Overwrites a secret with zeros (best effort: the JavaScript engine may have copied it). */
export function wipe(...arrays: Uint8Array[]): void {
  for (const a of arrays) a.fill(0);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hexadecimal. */
export function bytesToHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/** Parses hexadecimal (either case, even length); throws a RangeError on anything else. */
export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== "string") throw new TypeError(`hex must be a string, got ${describe(hex)}`);
  if (hex.length % 2 !== 0) throw new RangeError(`hex must have an even length, got ${hex.length}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexDigit(hex.charCodeAt(2 * i)), lo = hexDigit(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new RangeError(`hex has a non-hex character near offset ${2 * i}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The unsigned big-endian integer that `bytes` encodes (0n for an empty array). */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  // Eight bytes at a time through a DataView keeps this linear and cheap for 66-byte scalars.
  let n = 0n;
  let i = 0;
  const head = bytes.length % 8;
  for (; i < head; i++) n = (n << 8n) | BigInt(bytes[i]);
  if (i < bytes.length) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; i < bytes.length; i += 8) n = (n << 64n) | view.getBigUint64(i);
  }
  return n;
}

/** `n` as exactly `length` big-endian bytes; a RangeError if it is negative or does not fit. */
export function bigIntToBytes(n: bigint, length: number): Uint8Array {
  if (n < 0n || n >> BigInt(8 * length) !== 0n) {
    throw new RangeError(`integer does not fit in ${length} bytes`);
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let i = length;
  for (; i >= 8; i -= 8) {
    view.setBigUint64(i - 8, BigInt.asUintN(64, n));
    n >>= 64n;
  }
  for (; i > 0; i--) {
    out[i - 1] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
