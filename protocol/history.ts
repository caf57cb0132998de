// The local history of a chat as bytes: its lines (with their replies, reactions, previous versions and
// expiry) as records, and the encrypted, append-only file those records are kept in. A file is a header
// and blocks; each block is one write (a batch of records) sealed with XChaCha20-Poly1305 under the
// history key, bound by its associated data to the file, the chat's peer and its position, so blocks
// cannot be read, altered, reordered, moved to another chat or another file without it showing. A crash
// mid-write leaves a torn last block, which the reader reports so it can be cut off: it was never
// acknowledged. Pure: no files and no clock; randomness comes in as a parameter. Layout: docs/client.md,
// "The history files".

import { checkBytes, concatBytes, type RandomSource, systemRandom, utf8 } from "../crypto/bytes.ts";
import { xchacha20Poly1305Open, xchacha20Poly1305Seal } from "../crypto/chacha20poly1305.ts";
import { AuthenticationError } from "../crypto/errors.ts";
import { hkdfExpand } from "../crypto/hkdf.ts";
import { hmac } from "../crypto/hmac.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";
import { ID_BYTES } from "./identity.ts";

/** The first bytes of every history file. */
export const HISTORY_MAGIC = utf8("SOTTOHS\n");
/** Version of the history file (header, blocks and records). */
export const HISTORY_VERSION = 0x01;
/** Bytes of a history file's header: magic ‖ version ‖ salt. */
export const HISTORY_HEADER_BYTES = 8 + 1 + 16;
/** Most lines a chat's history keeps (the retention setting is at most this). */
export const MAX_HISTORY_LINES = 100_000;
/** Most previous versions a line keeps: the edits allowed. */
export const MAX_EDITS = 10;
/** Most bytes of a block's sealed part; blocks are written at up to BLOCK_TARGET bytes of records. */
export const MAX_BLOCK_BYTES = 4 << 20;
/** Records a writer puts in one block before starting another. */
export const BLOCK_TARGET = 1 << 20;
/** Most UTF-8 bytes in a line's text (a text payload's limit, and room for system lines). */
export const MAX_LINE_TEXT = 32704;

const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const SALT_BYTES = 16;
const AD_LABEL = utf8("sotto history block v1");
const NAME_LABEL = utf8("sotto history file name v1");

/** The two keys of the history files, from the keystore's history secret. */
export interface HistoryKeys {
  /** Seals the blocks (XChaCha20-Poly1305). */
  readonly sealing: Uint8Array;
  /** Names the files (HMAC-SHA-256 of the peer's ID). */
  readonly naming: Uint8Array;
}

/** sealing = HKDF-Expand(SHA-256, secret, "sotto history sealing v1", 32); naming likewise ("… names v1"). */
export function historyKeys(secret: Uint8Array): HistoryKeys {
  checkBytes(secret, "secret", 32);
  return {
    sealing: hkdfExpand("SHA-256", secret, utf8("sotto history sealing v1"), 32),
    naming: hkdfExpand("SHA-256", secret, utf8("sotto history names v1"), 32),
  };
}

/** What a history line records. */
export type LineKind = "in" | "out" | "system";

/**
 * The delivery state of an outgoing line: none (incoming or system), waiting here, stored by the relay,
 * delivered to the peer's client, read by the peer (their read receipt), refused.
 */
export type DeliveryStatus = "none" | "pending" | "queued" | "delivered" | "failed" | "read";

/** A message of the chat in local terms: one of ours (`mine`) or one of the peer's, by its text id. */
export interface LineRef {
  mine: boolean;
  id: number;
}

/** A previous version of an edited line. */
export interface Version {
  text: string;
  /** When this version was replaced (ms). */
  time: number;
}

/** One line of a chat's history. */
export interface HistoryEntry {
  /** The line's number in this chat: from 1, increasing, never reused. */
  seq: number;
  kind: LineKind;
  status: DeliveryStatus;
  /** The text payload's id (ours for "out", the peer's for "in"; 0 for system lines). */
  textId: number;
  /** The relay message id (16 bytes) of an outgoing text once queued, else empty. */
  messageId: Uint8Array;
  /** Milliseconds since the Unix epoch: sent (out), queued by the relay (in), happened (system). */
  time: number;
  /** The text as it reads now ("" once deleted). */
  text: string;
  /** When the line disappears (ms), or 0: it stays. */
  expiresAt: number;
  /** The message's disappearing timer in seconds (0: none). */
  ttl: number;
  /** The message this one answers, or null. */
  reply: LineRef | null;
  /** Our reaction and the peer's ("" for none). */
  myReaction: string;
  peerReaction: string;
  /** Previous versions, oldest first (at most MAX_EDITS). */
  versions: Version[];
  /** True once deleted for everyone: a tombstone. */
  deleted: boolean;
}

/** A change to a chat's history, as written. */
export type HistoryRecord =
  /** The line as it is now (added or changed). */
  | { op: "put"; entry: HistoryEntry }
  /** The line is gone (disappeared, or dropped by retention). */
  | { op: "drop"; seq: number }
  /** Every line up to `seq` is gone (cleared, or dropped by retention). */
  | { op: "drop-upto"; seq: number };

const KINDS: readonly LineKind[] = ["in", "out", "system"];
const STATUSES: readonly DeliveryStatus[] = ["none", "pending", "queued", "delivered", "failed", "read"];
const OPS = { put: 1, drop: 2, "drop-upto": 3 } as const;

function index<T>(list: readonly T[], value: T, what: string): number {
  const i = list.indexOf(value);
  if (i < 0) throw new TypeError(`${what} ${String(value)} is not known`);
  return i;
}

function pick<T>(r: Reader, list: readonly T[], field: string): T {
  const i = r.u8(field);
  if (i >= list.length) r.fail(`${field} ${i} is not known`, "unsupported");
  return list[i];
}

function text(w: Writer, s: string, what: string): void {
  const b = utf8(s);
  if (b.length > MAX_LINE_TEXT) throw new RangeError(`${what} is over ${MAX_LINE_TEXT} bytes`);
  w.vec16(b);
}

/** A new line with every optional field empty. */
export function newEntry(
  fields: Pick<HistoryEntry, "kind" | "time" | "text"> & Partial<HistoryEntry>,
): HistoryEntry {
  return {
    seq: 0,
    status: "none",
    textId: 0,
    messageId: new Uint8Array(0),
    expiresAt: 0,
    ttl: 0,
    reply: null,
    myReaction: "",
    peerReaction: "",
    versions: [],
    deleted: false,
    ...fields,
  };
}

/**
 * One line: u32 seq ‖ u8 kind ‖ u8 status ‖ u32 text id ‖ vec8 message id ‖ u64 time ‖ u64 expires
 * ‖ u32 ttl ‖ u8 flags (1 reply, 2 deleted) ‖ [u8 mine ‖ u32 id] ‖ vec8 my reaction ‖ vec8 their reaction
 * ‖ vec16 text ‖ u8 n ‖ n × (u64 time ‖ vec16 text).
 */
export function writeEntry(w: Writer, e: HistoryEntry): void {
  checkBytes(e.messageId, "messageId", 0, 16);
  if (e.versions.length > MAX_EDITS) throw new RangeError(`a line keeps at most ${MAX_EDITS} versions`);
  w.u32(e.seq).u8(index(KINDS, e.kind, "kind")).u8(index(STATUSES, e.status, "status")).u32(e.textId);
  w.vec8(e.messageId).u64(e.time).u64(e.expiresAt).u32(e.ttl);
  w.u8((e.reply ? 1 : 0) | (e.deleted ? 2 : 0));
  if (e.reply) w.u8(e.reply.mine ? 1 : 0).u32(e.reply.id);
  w.vec8(utf8(e.myReaction)).vec8(utf8(e.peerReaction));
  text(w, e.text, "text");
  w.u8(e.versions.length);
  for (const v of e.versions) {
    w.u64(v.time);
    text(w, v.text, "a previous version");
  }
}

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function string8(r: Reader, field: string): string {
  const raw = r.vec8(field, 64);
  try {
    return strict.decode(raw);
  } catch (e) {
    return r.fail(`${field} is not valid UTF-8`, "malformed", e);
  }
}

/** Reads {@link writeEntry}. */
export function readEntry(r: Reader): HistoryEntry {
  const seq = r.u32("seq");
  if (seq === 0) r.fail("a line's seq starts at 1");
  const kind = pick(r, KINDS, "kind"), status = pick(r, STATUSES, "status");
  const textId = r.u32("text id");
  const messageId = r.vec8("message id", 16);
  if (messageId.length !== 0 && messageId.length !== 16) r.fail("a message id is 16 bytes");
  const time = r.u64("time"), expiresAt = r.u64("expiry"), ttl = r.u32("ttl");
  const flags = r.u8("flags");
  if (flags > 3) r.fail(`line flags ${flags} are not known`, "unsupported");
  let reply: LineRef | null = null;
  if (flags & 1) {
    const mine = r.u8("reply author");
    if (mine > 1) r.fail("reply author is not 0 or 1");
    reply = { mine: mine === 1, id: r.u32("reply id") };
  }
  const myReaction = string8(r, "my reaction"), peerReaction = string8(r, "their reaction");
  const body = r.string16("text", MAX_LINE_TEXT);
  const count = r.u8("version count");
  if (count > MAX_EDITS) r.fail(`${count} versions, more than ${MAX_EDITS}`);
  const versions: Version[] = [];
  for (let i = 0; i < count; i++) {
    versions.push({ time: r.u64("version time"), text: r.string16("version", MAX_LINE_TEXT) });
  }
  return {
    seq,
    kind,
    status,
    textId,
    messageId,
    time,
    text: body,
    expiresAt,
    ttl,
    reply,
    myReaction,
    peerReaction,
    versions,
    deleted: (flags & 2) !== 0,
  };
}

/** Records as the plaintext of one block: each is u8 op ‖ its fields. */
export function encodeRecords(records: readonly HistoryRecord[]): Uint8Array {
  const w = new Writer(4096);
  for (const rec of records) {
    w.u8(OPS[rec.op]);
    if (rec.op === "put") writeEntry(w, rec.entry);
    else w.u32(rec.seq);
  }
  return w.finish();
}

/** Reads {@link encodeRecords}; ProtocolError on anything malformed. */
export function decodeRecords(bytes: Uint8Array): HistoryRecord[] {
  const r = new Reader(bytes, "history block");
  const out: HistoryRecord[] = [];
  while (r.remaining > 0) {
    const op = r.u8("op");
    if (op === OPS.put) out.push({ op: "put", entry: readEntry(r) });
    else if (op === OPS.drop) out.push({ op: "drop", seq: r.u32("seq") });
    else if (op === OPS["drop-upto"]) out.push({ op: "drop-upto", seq: r.u32("seq") });
    else r.fail(`record ${op} is not known`, "unsupported");
  }
  return out;
}

/** Applies records to lines in seq order (a put replaces the line with its seq, or adds it in order). */
export function applyRecords(lines: HistoryEntry[], records: readonly HistoryRecord[]): HistoryEntry[] {
  const bySeq = new Map(lines.map((l) => [l.seq, l]));
  for (const rec of records) {
    if (rec.op === "put") bySeq.set(rec.entry.seq, rec.entry);
    else if (rec.op === "drop") bySeq.delete(rec.seq);
    else for (const seq of bySeq.keys()) if (seq <= rec.seq) bySeq.delete(seq);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

// ---- the file ----------------------------------------------------------------------------------------

/** A file's header: magic ‖ u8 version ‖ salt (16, random per file). */
export function newHeader(random: RandomSource = systemRandom): Uint8Array {
  return concatBytes(HISTORY_MAGIC, Uint8Array.of(HISTORY_VERSION), random(SALT_BYTES));
}

/** Checks a header; ProtocolError ("malformed", or "unsupported" for a newer version). */
export function checkHeader(header: Uint8Array): void {
  const r = new Reader(header, "history file");
  const magic = r.bytes(HISTORY_MAGIC.length, "magic");
  if (magic.some((b, i) => b !== HISTORY_MAGIC[i])) r.fail("this is not a sotto history file");
  const version = r.u8("version");
  if (version !== HISTORY_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
  r.bytes(SALT_BYTES, "salt");
  r.end();
}

/** The associated data of block `n` of a file: label ‖ header ‖ peer ID ‖ u64 n. */
function blockAd(header: Uint8Array, peerId: Uint8Array, n: number): Uint8Array {
  return new Writer(96).bytes(AD_LABEL).bytes(header).bytes(peerId).u64(n).finish();
}

/** Seals records as block `n` of a file: u32 length ‖ nonce (24) ‖ ciphertext ‖ tag (16). */
export function sealBlock(
  key: Uint8Array,
  header: Uint8Array,
  peerId: Uint8Array,
  n: number,
  plaintext: Uint8Array,
  random: RandomSource = systemRandom,
): Uint8Array {
  checkBytes(key, "key", 32);
  checkBytes(peerId, "peerId", ID_BYTES);
  const nonce = random(NONCE_BYTES);
  const sealed = xchacha20Poly1305Seal(key, nonce, plaintext, blockAd(header, peerId, n));
  if (NONCE_BYTES + sealed.length > MAX_BLOCK_BYTES) throw new RangeError("a history block is too large");
  return new Writer(8 + NONCE_BYTES + sealed.length).u32(NONCE_BYTES + sealed.length).bytes(nonce)
    .bytes(sealed).finish();
}

/** What reading a file found. */
export interface ReadResult {
  records: HistoryRecord[];
  /** Bytes of the file that are good: header and whole, authentic blocks. */
  goodBytes: number;
  /** Blocks read. */
  blocks: number;
  /**
   * Why reading stopped before the end, or null: "torn" (the last block was cut short, as a crash
   * mid-write leaves it) or "damaged" (a block that does not authenticate or decode).
   */
  stopped: null | "torn" | "damaged";
}

/**
 * Reads a whole history file: the header (ProtocolError if it is not one) and every block in order.
 * Reading stops at a block cut short ("torn": a crash during a write) or one that does not authenticate
 * ("damaged"); what came before it is returned.
 */
export function readHistoryFile(key: Uint8Array, peerId: Uint8Array, file: Uint8Array): ReadResult {
  checkBytes(key, "key", 32);
  if (file.length < HISTORY_HEADER_BYTES) {
    throw new ProtocolError("malformed", "history file: the header is truncated");
  }
  const header = file.subarray(0, HISTORY_HEADER_BYTES);
  checkHeader(header);
  const records: HistoryRecord[] = [];
  let at = HISTORY_HEADER_BYTES, n = 0;
  while (at < file.length) {
    if (file.length - at < 4) return { records, goodBytes: at, blocks: n, stopped: "torn" };
    const len = ((file[at] << 24) | (file[at + 1] << 16) | (file[at + 2] << 8) | file[at + 3]) >>> 0;
    if (len < NONCE_BYTES + TAG_BYTES || len > MAX_BLOCK_BYTES) {
      return { records, goodBytes: at, blocks: n, stopped: "damaged" };
    }
    if (file.length - at - 4 < len) return { records, goodBytes: at, blocks: n, stopped: "torn" };
    const body = file.subarray(at + 4, at + 4 + len);
    let plain: Uint8Array;
    try {
      plain = xchacha20Poly1305Open(
        key,
        body.subarray(0, NONCE_BYTES),
        body.subarray(NONCE_BYTES),
        blockAd(header, peerId, n),
      );
    } catch (e) {
      if (!(e instanceof AuthenticationError)) throw e;
      // A last block whose bytes are all there but do not authenticate is what a crash can leave when
      // the length reached the disk and the rest did not (zeros): cut off like a torn one.
      const last = at + 4 + len === file.length;
      return { records, goodBytes: at, blocks: n, stopped: last ? "torn" : "damaged" };
    }
    try {
      records.push(...decodeRecords(plain));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      return { records, goodBytes: at, blocks: n, stopped: "damaged" };
    }
    at += 4 + len;
    n++;
  }
  return { records, goodBytes: at, blocks: n, stopped: null };
}

/** The file name of a chat's history: 32 hex characters (HMAC of the peer's ID) and ".hist". */
export function historyFileName(naming: Uint8Array, peerId: Uint8Array): string {
  checkBytes(peerId, "peerId", ID_BYTES);
  const tag = hmac("SHA-256", naming, concatBytes(NAME_LABEL, peerId));
  let hex = "";
  for (const b of tag.subarray(0, 16)) hex += b.toString(16).padStart(2, "0");
  return `${hex}.hist`;
}
