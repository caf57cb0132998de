// Reading and writing the TLS presentation language (RFC 8446 §3): big-endian integers of 1, 2 and 3
// bytes and vectors with a length prefix. A Reader that runs past its input, or finds a vector length
// beyond its bounds, throws a TlsError with decode_error.

import { Alert, fail } from "./alert.ts";

/** A cursor over one encoded structure; every read is bounds-checked. */
export class Reader {
  readonly #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#bytes.length - this.#pos;
  }

  u8(): number {
    this.#need(1);
    return this.#bytes[this.#pos++];
  }

  u16(): number {
    this.#need(2);
    const b = this.#bytes, p = this.#pos;
    this.#pos += 2;
    return (b[p] << 8) | b[p + 1];
  }

  u24(): number {
    this.#need(3);
    const b = this.#bytes, p = this.#pos;
    this.#pos += 3;
    return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
  }

  /** The next `n` bytes (a view, not a copy). */
  bytes(n: number): Uint8Array {
    this.#need(n);
    const out = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /** A vector with a 1-byte length prefix; its length must be in [min, max]. */
  vec8(min = 0, max = 0xff): Uint8Array {
    return this.#vector(this.u8(), min, max);
  }

  /** A vector with a 2-byte length prefix; its length must be in [min, max]. */
  vec16(min = 0, max = 0xffff): Uint8Array {
    return this.#vector(this.u16(), min, max);
  }

  /** A vector with a 3-byte length prefix; its length must be in [min, max]. */
  vec24(min = 0, max = 0xffffff): Uint8Array {
    return this.#vector(this.u24(), min, max);
  }

  /** Throws decode_error unless every byte was read. */
  end(what: string): void {
    if (this.remaining !== 0) fail(Alert.decode_error, `${this.remaining} trailing bytes in ${what}`);
  }

  #vector(length: number, min: number, max: number): Uint8Array {
    if (length < min || length > max) {
      fail(Alert.decode_error, `vector length ${length} outside [${min}, ${max}]`);
    }
    return this.bytes(length);
  }

  #need(n: number): void {
    if (this.#pos + n > this.#bytes.length) fail(Alert.decode_error, "message truncated");
  }
}

/** Builds an encoded structure; vectors are written with a callback that fills their contents. */
export class Writer {
  #buf = new Uint8Array(256);
  #len = 0;

  u8(v: number): this {
    this.#room(1);
    this.#buf[this.#len++] = v;
    return this;
  }

  u16(v: number): this {
    this.#room(2);
    this.#buf[this.#len++] = v >>> 8;
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    this.#room(3);
    this.#buf[this.#len++] = v >>> 16;
    this.#buf[this.#len++] = (v >>> 8) & 0xff;
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.#room(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
    return this;
  }

  /** A vector with a 1-, 2- or 3-byte length prefix, its contents written by `body`. */
  vec(prefix: 1 | 2 | 3, body: (w: this) => void): this {
    this.#room(prefix);
    const at = this.#len;
    this.#len += prefix;
    body(this);
    const n = this.#len - at - prefix;
    if (n >= 2 ** (8 * prefix)) {
      throw new RangeError(`vector of ${n} bytes does not fit a ${prefix}-byte length`);
    }
    for (let i = prefix - 1, v = n; i >= 0; i--, v >>>= 8) this.#buf[at + i] = v & 0xff;
    return this;
  }

  /** A vector holding exactly `data`. */
  vecBytes(prefix: 1 | 2 | 3, data: Uint8Array): this {
    return this.vec(prefix, (w) => w.bytes(data));
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
}

/** A growable byte queue: append at the end, read and consume at the front, with amortised compaction. */
export class ByteQueue {
  #buf: Uint8Array;
  readonly #initial: number;
  #start = 0;
  #end = 0;

  constructor(initial = 1024) {
    this.#initial = initial;
    this.#buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.#end - this.#start;
  }

  /** Appends a copy of `data`. */
  push(data: Uint8Array): void {
    if (this.#end + data.length > this.#buf.length) {
      const live = this.length;
      if (live + data.length <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        let size = this.#buf.length * 2;
        while (size < live + data.length) size *= 2;
        const next = new Uint8Array(size);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(data, this.#end);
    this.#end += data.length;
  }

  /** The byte at `offset` from the front. */
  at(offset: number): number {
    return this.#buf[this.#start + offset];
  }

  /** A view of the first `n` bytes, valid until the next push. */
  peek(n: number): Uint8Array {
    return this.#buf.subarray(this.#start, this.#start + n);
  }

  /**
   * Drops the first `n` bytes. Once empty, a queue that grew goes back to its initial size: an idle
   * connection should not keep the room its largest burst took.
   */
  consume(n: number): void {
    this.#start += n;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (this.#buf.length > this.#initial) this.#buf = new Uint8Array(this.#initial);
    }
  }

  /** Empties the queue and overwrites its storage (it may have held plaintext). */
  clear(): void {
    this.#buf.fill(0);
    this.#start = this.#end = 0;
  }
}
