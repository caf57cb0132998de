// The TLS presentation language as RFC 9420 §2.1 extends it: big-endian integers, vectors with a
// variable-size length prefix (the QUIC varint of RFC 9000 §16 limited to 1, 2 or 4 bytes, minimal encoding
// required, prefix 0b11 refused), and optional<T> (a presence byte of 0 or 1). The Reader refuses anything
// short, long, non-minimal or over a limit with MlsError("malformed" or "limit") naming the field, so one
// bad message costs work bounded by its length; the Writer builds vectors in place without copies.

import { MlsError } from "./errors.ts";

/** The largest length a varint can carry (2^30 − 1). */
export const MAX_VARINT = 0x3fff_ffff;

/** Writes one encoded structure; values out of range are programming errors (RangeError). */
export class Writer {
  #buf: Uint8Array;
  #len = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(Math.max(16, capacity));
  }

  #grow(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      let size = this.#buf.length * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
    }
    this.#len = at + n;
    return at;
  }

  get length(): number {
    return this.#len;
  }

  u8(v: number): this {
    uint(v, 0xff, "uint8");
    const at = this.#grow(1); // before reading #buf: growing replaces it
    this.#buf[at] = v;
    return this;
  }

  u16(v: number): this {
    uint(v, 0xffff, "uint16");
    const at = this.#grow(2);
    this.#buf[at] = v >>> 8;
    this.#buf[at + 1] = v;
    return this;
  }

  u32(v: number): this {
    uint(v, 0xffff_ffff, "uint32");
    const at = this.#grow(4);
    this.#buf[at] = v >>> 24;
    this.#buf[at + 1] = v >>> 16;
    this.#buf[at + 2] = v >>> 8;
    this.#buf[at + 3] = v;
    return this;
  }

  u64(v: bigint): this {
    if (typeof v !== "bigint" || v < 0n || v > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`uint64 out of range: ${v}`);
    }
    const at = this.#grow(8);
    new DataView(this.#buf.buffer, this.#buf.byteOffset).setBigUint64(at, v);
    return this;
  }

  /** A variable-length integer (RFC 9420 §2.1.2), minimal encoding. */
  varint(v: number): this {
    uint(v, MAX_VARINT, "varint");
    if (v < 0x40) return this.u8(v);
    if (v < 0x4000) return this.u16(0x4000 | v);
    return this.u32((0x8000_0000 | v) >>> 0);
  }

  /** Raw bytes with no length. */
  bytes(b: Uint8Array): this {
    const at = this.#grow(b.length);
    this.#buf.set(b, at);
    return this;
  }

  /** opaque x<V>: a varint length, then the bytes. */
  opaque(b: Uint8Array): this {
    return this.varint(b.length).bytes(b);
  }

  /**
   * T x<V> for structured items: `body` writes the items to this writer; the varint length of what it
   * wrote goes in front (four bytes are reserved, then the body moves back if the prefix is shorter).
   */
  vector(body: (w: this) => void): this {
    const start = this.#grow(4);
    body(this);
    const n = this.#len - start - 4;
    uint(n, MAX_VARINT, "vector length");
    const size = n < 0x40 ? 1 : n < 0x4000 ? 2 : 4;
    if (size < 4) this.#buf.copyWithin(start + size, start + 4, this.#len);
    this.#len -= 4 - size;
    const b = this.#buf;
    if (size === 1) b[start] = n;
    else if (size === 2) b[start] = 0x40 | (n >>> 8), b[start + 1] = n;
    else b[start] = 0x80 | (n >>> 24), b[start + 1] = n >>> 16, b[start + 2] = n >>> 8, b[start + 3] = n;
    return this;
  }

  /** A vector whose items are each written by `item`. */
  list<T>(items: readonly T[], item: (w: this, v: T) => void): this {
    return this.vector((w) => {
      for (const v of items) item(w, v);
    });
  }

  /** optional<T>: 0, or 1 then the value. */
  optional<T>(v: T | undefined, item: (w: this, v: T) => void): this {
    if (v === undefined) return this.u8(0);
    this.u8(1);
    item(this, v);
    return this;
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

function uint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range: ${v}`);
}

/** Reads one encoded structure; every method names the field it reads, for the error message. */
export class Reader {
  readonly what: string;
  readonly #bytes: Uint8Array;
  #pos: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, what: string, start = 0, end = bytes.length) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
    this.#bytes = bytes;
    this.what = what;
    this.#pos = start;
    this.#end = end;
  }

  /** Throws MlsError(code) about this input: "<what>: <message>". */
  fail(message: string, code: "malformed" | "limit" | "unsupported" = "malformed"): never {
    throw new MlsError(code, `${this.what}: ${message}`);
  }

  get remaining(): number {
    return this.#end - this.#pos;
  }

  /** The offset of the next byte in the underlying array (for callers that keep raw encodings). */
  get position(): number {
    return this.#pos;
  }

  /** The bytes of the underlying array between two positions (a copy). */
  slice(from: number, to: number): Uint8Array {
    return this.#bytes.slice(from, to);
  }

  #take(n: number, field: string): number {
    if (n > this.remaining) this.fail(`${field} is truncated (needs ${n} bytes, ${this.remaining} left)`);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(field: string): number {
    return this.#bytes[this.#take(1, field)];
  }

  u16(field: string): number {
    const at = this.#take(2, field), b = this.#bytes;
    return (b[at] << 8) | b[at + 1];
  }

  u32(field: string): number {
    const at = this.#take(4, field), b = this.#bytes;
    return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  }

  u64(field: string): bigint {
    const at = this.#take(8, field);
    return new DataView(this.#bytes.buffer, this.#bytes.byteOffset).getBigUint64(at);
  }

  /** A variable-length integer: 1, 2 or 4 bytes, minimally encoded. */
  varint(field: string): number {
    const first = this.u8(field);
    const prefix = first >> 6;
    if (prefix === 3) this.fail(`${field} has an invalid variable-length integer prefix`);
    let v = first & 0x3f;
    const len = 1 << prefix;
    for (let i = 1; i < len; i++) v = v * 256 + this.u8(field);
    if (prefix >= 1 && v < 2 ** (8 * (len / 2) - 2)) this.fail(`${field} does not use the minimum encoding`);
    return v;
  }

  /** Exactly `n` raw bytes (a copy). */
  bytes(n: number, field: string): Uint8Array {
    const at = this.#take(n, field);
    return this.#bytes.slice(at, at + n);
  }

  /** opaque x<V> of at most `max` bytes (a copy). */
  opaque(field: string, max = MAX_VARINT): Uint8Array {
    const n = this.varint(field);
    if (n > max) this.fail(`${field} is ${n} bytes, more than the limit of ${max}`, "limit");
    return this.bytes(n, field);
  }

  /** T x<V>: items read by `item` from exactly the vector's bytes; at most `maxItems` of them. */
  vector<T>(field: string, item: (r: Reader) => T, maxItems: number): T[] {
    const n = this.varint(field);
    const at = this.#take(n, field);
    const sub = new Reader(this.#bytes, this.what, at, at + n);
    const out: T[] = [];
    while (sub.remaining > 0) {
      if (out.length >= maxItems) this.fail(`${field} has more than ${maxItems} entries`, "limit");
      out.push(item(sub));
    }
    return out;
  }

  /** optional<T>: undefined when absent; a presence byte other than 0 or 1 is malformed. */
  optional<T>(field: string, item: (r: Reader) => T): T | undefined {
    const present = this.u8(field);
    if (present === 0) return undefined;
    if (present !== 1) this.fail(`${field} has presence byte ${present}`);
    return item(this);
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}

/** Decodes a whole byte string with `read`; trailing bytes are malformed. */
export function decodeAll<T>(bytes: Uint8Array, what: string, read: (r: Reader) => T): T {
  const r = new Reader(bytes, what);
  const v = read(r);
  r.end();
  return v;
}

/** Encodes one structure with `write`. */
export function encodeWith(write: (w: Writer) => void, capacity?: number): Uint8Array {
  const w = new Writer(capacity);
  write(w);
  return w.finish();
}
