// A small binary codec shared by every sotto wire format: a growable Writer and a strict Reader with hard
// limits, plus ProtocolError, the one error class protocol code throws for bytes or states it refuses.
// Integers are unsigned big-endian; variable-length fields carry a u8, u16 or u32 length prefix and
// every reader call names the field it reads, so an error says exactly what was wrong and where.

/** Why protocol code refused something; stable strings that callers may switch on. */
export type ProtocolErrorCode =
  /** Bytes that do not follow the format: truncated, trailing data, a bad length, key or field. */
  | "malformed"
  /** A version, type or algorithm identifier this code does not implement. */
  | "unsupported"
  /** A signed prekey whose signature does not verify under the identity key. */
  | "bad-signature"
  /** A set of identity keys that does not hash to the ID it was expected to have. */
  | "id-mismatch"
  /** A bundle whose signed prekey (EC or KEM) is older than rotation plus grace: its owner has been away. */
  | "stale-prekey"
  /** A bundle without a post-quantum (KEM) prekey: its owner's client predates PQXDH. */
  | "no-kem-prekey"
  /** An initial message naming a prekey we do not hold (used, expired or never ours). */
  | "unknown-prekey"
  /** An initial message that was already accepted once. */
  | "replay"
  /** A limit of the protocol was reached (message counter, replay cache). */
  | "exhausted"
  /** An initial message addressed to another identity. */
  | "wrong-recipient"
  /** An initial message from a handshake other than this session's: hand it to `respond`. */
  | "new-session"
  /** A message already decrypted (or whose skipped key has already been deleted). */
  | "duplicate"
  /** A message that would make us derive more than MAX_SKIP message keys. */
  | "too-many-skipped"
  /** A message no key of this session opens: not ours, tampered with, or forged. */
  | "undecryptable";

/** The error protocol code throws for refused input; `code` says why, the message says where. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
    this.code = code;
  }
}

const MAX_U32 = 0xffff_ffff;

/** Builds a byte string field by field. Values out of range are programming errors: RangeError. */
export class Writer {
  #buf: Uint8Array;
  #len = 0;

  /** `capacity` is only a first guess of the final length: the buffer grows as needed. */
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

  /** One byte. */
  u8(v: number): this {
    checkUint(v, 0xff, "u8");
    const at = this.#grow(1);
    this.#buf[at] = v;
    return this;
  }

  /** Two bytes, big-endian. */
  u16(v: number): this {
    checkUint(v, 0xffff, "u16");
    const at = this.#grow(2);
    this.#buf[at] = v >>> 8;
    this.#buf[at + 1] = v & 0xff;
    return this;
  }

  /** Four bytes, big-endian. */
  u32(v: number): this {
    checkUint(v, MAX_U32, "u32");
    const at = this.#grow(4);
    new DataView(this.#buf.buffer).setUint32(at, v);
    return this;
  }

  /** Eight bytes, big-endian; the value must be a safe integer (below 2^53). */
  u64(v: number): this {
    checkUint(v, Number.MAX_SAFE_INTEGER, "u64");
    const at = this.#grow(8);
    const view = new DataView(this.#buf.buffer);
    view.setUint32(at, Math.floor(v / 2 ** 32));
    view.setUint32(at + 4, v % 2 ** 32);
    return this;
  }

  /** The bytes as they are, with no length. */
  bytes(b: Uint8Array): this {
    const at = this.#grow(b.length);
    this.#buf.set(b, at);
    return this;
  }

  /** A u8 length, then the bytes. */
  vec8(b: Uint8Array): this {
    return this.u8(b.length).bytes(b);
  }

  /** A u16 length, then the bytes. */
  vec16(b: Uint8Array): this {
    return this.u16(b.length).bytes(b);
  }

  /** A u32 length, then the bytes. */
  vec32(b: Uint8Array): this {
    return this.u32(b.length).bytes(b);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /** A copy of everything written. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range: ${v}`);
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads a byte string field by field. Every method names the field; on anything short, too long or
 * invalid it throws ProtocolError("malformed") saying "<what>: <field> …". Returned byte fields are
 * copies, so the caller may keep or wipe them freely.
 */
export class Reader {
  readonly what: string;
  #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array, what: string) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
    this.#bytes = bytes;
    this.what = what;
  }

  /** Throws ProtocolError(code) for this input: "<what>: <message>". */
  fail(message: string, code: ProtocolErrorCode = "malformed", cause?: unknown): never {
    throw new ProtocolError(code, `${this.what}: ${message}`, cause === undefined ? undefined : { cause });
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#bytes.length - this.#pos;
  }

  #take(n: number, field: string): Uint8Array {
    if (n > this.remaining) this.fail(`${field} is truncated (needs ${n} bytes, ${this.remaining} left)`);
    const out = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  u8(field: string): number {
    return this.#take(1, field)[0];
  }

  u16(field: string): number {
    const b = this.#take(2, field);
    return (b[0] << 8) | b[1];
  }

  u32(field: string): number {
    const b = this.#take(4, field);
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  }

  /** A u64 that must be below 2^53 (all our u64 fields are times or sizes). */
  u64(field: string): number {
    const hi = this.u32(field), lo = this.u32(field);
    if (hi > 0x1f_ffff) this.fail(`${field} is too large`);
    return hi * 2 ** 32 + lo;
  }

  /** Exactly `n` bytes. */
  bytes(n: number, field: string): Uint8Array {
    return this.#take(n, field).slice();
  }

  /** A u8-length-prefixed field of at most `max` bytes. */
  vec8(field: string, max = 0xff): Uint8Array {
    return this.#vec(this.u8(field), max, field);
  }

  /** A u16-length-prefixed field of at most `max` bytes. */
  vec16(field: string, max = 0xffff): Uint8Array {
    return this.#vec(this.u16(field), max, field);
  }

  /** A u32-length-prefixed field of at most `max` bytes. */
  vec32(field: string, max: number): Uint8Array {
    return this.#vec(this.u32(field), max, field);
  }

  #vec(n: number, max: number, field: string): Uint8Array {
    if (n > max) this.fail(`${field} is ${n} bytes, more than the limit of ${max}`);
    return this.bytes(n, field);
  }

  /** A u16-length-prefixed UTF-8 string of at most `maxBytes` bytes; invalid UTF-8 is refused. */
  string16(field: string, maxBytes: number): string {
    const raw = this.vec16(field, maxBytes);
    try {
      return utf8Decoder.decode(raw);
    } catch (e) {
      return this.fail(`${field} is not valid UTF-8`, "malformed", e);
    }
  }

  /** Everything left (possibly nothing). */
  rest(): Uint8Array {
    return this.bytes(this.remaining, "rest");
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}
