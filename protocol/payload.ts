// Typed payloads carried inside ratchet messages: text (with an optional quoted reply and disappearing
// timer), nickname, file offer, file chunk, file end, receipt, close, file answer, reaction, edit,
// delete, disappearing-messages timer and typing. Every payload starts with a version byte and a type byte and every field has a fixed
// size or a length prefix, so no text can ever be read as a control message (the original's in-band
// "KILLCONNECTION" and "<STARTFILENAME>" flaw). Layout: docs/protocol.md §8.

import { checkBytes, utf8 } from "../crypto/bytes.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";

/** Version byte of the payload encoding. */
export const PAYLOAD_VERSION = 0x01;
/** Most UTF-8 bytes in a text. */
export const MAX_TEXT_BYTES = 32704;
/** Most UTF-8 bytes in a nickname. */
export const MAX_NICKNAME_BYTES = 64;
/** Most UTF-8 bytes in a file name. */
export const MAX_FILE_NAME_BYTES = 255;
/** Most data bytes in one file chunk (a full chunk pads to exactly 32 KiB). */
export const MAX_CHUNK_BYTES = 32704;
/** Most ids in one receipt. */
export const MAX_RECEIPT_IDS = 256;
/** Bytes of a file id (random, chosen by the sender). */
export const FILE_ID_BYTES = 16;
/** Most UTF-8 bytes in a reaction (one emoji, with its modifiers and joiners). */
export const MAX_REACTION_BYTES = 32;
/** Most code points in a reaction (a family or a flag sequence fits). */
export const MAX_REACTION_CODE_POINTS = 10;
/** The shortest disappearing-messages timer, in seconds (0 is "off"). */
export const MIN_TIMER_SECONDS = 30;
/** The longest disappearing-messages timer, in seconds: four weeks. */
export const MAX_TIMER_SECONDS = 28 * 24 * 3600;

/**
 * A message of the chat named from the point of view of the payload's sender: its own message
 * ("sender") or one of the recipient's ("recipient"), and that side's text id.
 */
export interface MessageRef {
  readonly author: "sender" | "recipient";
  readonly id: number;
}

/** A payload, by type. Message and chunk ids are u32; sizes are below 2^53. */
export type Payload =
  | {
    readonly type: "text";
    readonly id: number;
    readonly text: string;
    /** The message this one answers (a quoted reply). */
    readonly reply?: MessageRef;
    /** Seconds the message lives once sent or received (disappearing messages); absent or 0: it stays. */
    readonly ttl?: number;
  }
  | { readonly type: "nickname"; readonly name: string }
  | {
    readonly type: "file-offer";
    readonly fileId: Uint8Array;
    readonly name: string;
    readonly size: number;
    readonly sha256: Uint8Array;
  }
  | {
    readonly type: "file-chunk";
    readonly fileId: Uint8Array;
    readonly index: number;
    readonly data: Uint8Array;
  }
  | { readonly type: "file-end"; readonly fileId: Uint8Array; readonly status: "complete" | "cancelled" }
  | { readonly type: "receipt"; readonly kind: "delivered" | "read"; readonly ids: readonly number[] }
  | { readonly type: "close" }
  /** The receiver's answer to a file offer: chunks follow only an acceptance. */
  | { readonly type: "file-answer"; readonly fileId: Uint8Array; readonly accept: boolean }
  /** A reaction of the sender to a message; "" takes the sender's reaction away. One per person. */
  | { readonly type: "reaction"; readonly target: MessageRef; readonly emoji: string }
  /** The sender's own text `id` now reads `text` (the receiver keeps the previous versions). */
  | { readonly type: "edit"; readonly id: number; readonly text: string }
  /** The sender's own text `id` is deleted for everyone. */
  | { readonly type: "delete"; readonly id: number }
  /**
   * The chat's disappearing-messages timer is now `seconds` (0: off). `epoch` orders changes: the
   * higher wins, and of two with the same epoch the one sent by the lower ID (docs/protocol.md §8).
   */
  | { readonly type: "timer"; readonly seconds: number; readonly epoch: number }
  /** The sender started or stopped typing. */
  | { readonly type: "typing"; readonly typing: boolean };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The wire type of a text with a reply or a timer (a plain text keeps type 0x01, which old clients read). */
const TEXT_WITH_OPTIONS = 0x09;

const TYPES = [
  "text",
  "nickname",
  "file-offer",
  "file-chunk",
  "file-end",
  "receipt",
  "close",
  "file-answer",
  "text", // 0x09: a text with options
  "reaction",
  "edit",
  "delete",
  "timer",
  "typing",
] as const;

/** The wire byte of each payload type: its first position in TYPES, plus one. */
function typeByte(type: Payload["type"]): number {
  return TYPES.indexOf(type) + 1;
}

// C0 and C1 control characters, DEL, and the bidirectional overrides that can disguise a name.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function checkName(name: string, what: string, max: number, fail: (m: string) => never): void {
  const bytes = utf8(name).length;
  if (bytes === 0 || bytes > max) fail(`${what} must be 1 to ${max} bytes of UTF-8, got ${bytes}`);
  if (CONTROL.test(name)) fail(`${what} contains a control or direction-override character`);
}

function checkFileName(name: string, fail: (m: string) => never): void {
  checkName(name, "file name", MAX_FILE_NAME_BYTES, fail);
  if (/[/\\]/.test(name) || name === "." || name === "..") fail("file name must not be a path");
}

const argFail = (m: string): never => {
  throw new RangeError(m);
};

function checkU32(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`${what} must be a u32`);
}

// What a reaction may contain besides pictographs: zero-width joiner, variation selectors, the keycap
// mark, skin tones (pictographs themselves), tag characters (subdivision flags).
const REACTION_EXTRA = /^[\u200d\ufe0e\ufe0f\u20e3\u{e0020}-\u{e007f}0-9#*]$/u;
const PICTOGRAPH = /^[\p{Extended_Pictographic}\p{Regional_Indicator}\u{1f3fb}-\u{1f3ff}]$/u;

/**
 * Why `emoji` is not a reaction, or null: "" (taking one's reaction away) or 1 to MAX_REACTION_BYTES
 * bytes and MAX_REACTION_CODE_POINTS code points, each a pictograph, regional indicator or skin tone, or
 * one of ZWJ, VS15, VS16, the keycap mark, a tag character, or 0-9 # * (keycaps), with at least one of
 * the first kind.
 */
export function reactionProblem(emoji: string): string | null {
  if (emoji === "") return null;
  const points = [...emoji];
  if (utf8(emoji).length > MAX_REACTION_BYTES || points.length > MAX_REACTION_CODE_POINTS) {
    return `a reaction is at most ${MAX_REACTION_BYTES} bytes and ${MAX_REACTION_CODE_POINTS} code points`;
  }
  let pictographs = 0;
  for (const cp of points) {
    if (PICTOGRAPH.test(cp)) pictographs++;
    else if (!REACTION_EXTRA.test(cp)) return "a reaction is one emoji";
  }
  return pictographs > 0 || points.includes("\u20e3") ? null : "a reaction is one emoji";
}

/** Why `seconds` is not a timer, or null: 0 (off) or MIN_TIMER_SECONDS to MAX_TIMER_SECONDS. */
export function timerProblem(seconds: number): string | null {
  if (!Number.isSafeInteger(seconds)) return "a timer is a whole number of seconds";
  if (seconds === 0 || (seconds >= MIN_TIMER_SECONDS && seconds <= MAX_TIMER_SECONDS)) return null;
  return `a timer is off or ${MIN_TIMER_SECONDS} s to four weeks`;
}

function writeRef(w: Writer, ref: MessageRef): void {
  if (ref.author !== "sender" && ref.author !== "recipient") throw new TypeError("author is not known");
  checkU32(ref.id, "id");
  if (ref.id === 0) throw new RangeError("a message reference names a text id from 1");
  w.u8(ref.author === "sender" ? 0 : 1).u32(ref.id);
}

function readRef(r: Reader): MessageRef {
  const author = r.u8("author");
  if (author > 1) r.fail(`author ${author} is not known`, "unsupported");
  const id = r.u32("message id");
  if (id === 0) r.fail("a message reference names a text id from 1");
  return { author: author === 0 ? "sender" : "recipient", id };
}

function checkText(text: string, min: number): Uint8Array {
  const bytes = utf8(text);
  if (bytes.length < min || bytes.length > MAX_TEXT_BYTES) {
    throw new RangeError(`text must be ${min} to ${MAX_TEXT_BYTES} bytes`);
  }
  return bytes;
}

/** Encodes a payload: version ‖ type ‖ fields. RangeError/TypeError for values the format cannot carry. */
export function encodePayload(p: Payload): Uint8Array {
  const w = new Writer().u8(PAYLOAD_VERSION);
  switch (p.type) {
    case "text": {
      checkU32(p.id, "id");
      const text = checkText(p.text, 0);
      const ttl = p.ttl ?? 0;
      if (ttl === 0 && p.reply === undefined) return w.u8(typeByte(p.type)).u32(p.id).vec16(text).finish();
      const problem = timerProblem(ttl);
      if (problem) throw new RangeError(problem);
      if (p.id === 0) throw new RangeError("a text with a reply or a timer has an id from 1");
      w.u8(TEXT_WITH_OPTIONS).u32(p.id).u32(ttl).u8(p.reply ? 1 : 0);
      if (p.reply) writeRef(w, p.reply);
      return w.vec16(text).finish();
    }
    case "nickname":
      checkName(p.name, "nickname", MAX_NICKNAME_BYTES, argFail);
      return w.u8(typeByte(p.type)).vec16(utf8(p.name)).finish();
    case "file-offer":
      checkBytes(p.fileId, "fileId", FILE_ID_BYTES);
      checkBytes(p.sha256, "sha256", 32);
      checkFileName(p.name, argFail);
      return w.u8(typeByte(p.type)).bytes(p.fileId).u64(p.size).bytes(p.sha256).vec16(utf8(p.name)).finish();
    case "file-chunk":
      checkBytes(p.fileId, "fileId", FILE_ID_BYTES);
      checkBytes(p.data, "data");
      checkU32(p.index, "index");
      if (p.data.length > MAX_CHUNK_BYTES) {
        throw new RangeError(`data must be at most ${MAX_CHUNK_BYTES} bytes`);
      }
      return w.u8(typeByte(p.type)).bytes(p.fileId).u32(p.index).vec16(p.data).finish();
    case "file-end":
      checkBytes(p.fileId, "fileId", FILE_ID_BYTES);
      if (p.status !== "complete" && p.status !== "cancelled") throw new TypeError("status is not known");
      return w.u8(typeByte(p.type)).bytes(p.fileId).u8(p.status === "complete" ? 0 : 1).finish();
    case "receipt": {
      if (p.kind !== "delivered" && p.kind !== "read") throw new TypeError("kind is not known");
      if (p.ids.length < 1 || p.ids.length > MAX_RECEIPT_IDS) {
        throw new RangeError(`a receipt holds 1 to ${MAX_RECEIPT_IDS} ids`);
      }
      w.u8(typeByte(p.type)).u8(p.kind === "delivered" ? 1 : 2).u16(p.ids.length);
      for (const id of p.ids) {
        checkU32(id, "id");
        w.u32(id);
      }
      return w.finish();
    }
    case "close":
      return w.u8(typeByte(p.type)).finish();
    case "file-answer":
      checkBytes(p.fileId, "fileId", FILE_ID_BYTES);
      if (typeof p.accept !== "boolean") throw new TypeError("accept must be a boolean");
      return w.u8(typeByte(p.type)).bytes(p.fileId).u8(p.accept ? 1 : 2).finish();
    case "reaction": {
      const problem = typeof p.emoji === "string" ? reactionProblem(p.emoji) : "emoji must be a string";
      if (problem) throw new RangeError(problem);
      writeRef(w.u8(typeByte(p.type)), p.target);
      return w.vec8(utf8(p.emoji)).finish();
    }
    case "edit":
      checkU32(p.id, "id");
      if (p.id === 0) throw new RangeError("an edit names a text id from 1");
      return w.u8(typeByte(p.type)).u32(p.id).vec16(checkText(p.text, 1)).finish();
    case "delete":
      checkU32(p.id, "id");
      if (p.id === 0) throw new RangeError("a delete names a text id from 1");
      return w.u8(typeByte(p.type)).u32(p.id).finish();
    case "timer": {
      const problem = timerProblem(p.seconds);
      if (problem) throw new RangeError(problem);
      checkU32(p.epoch, "epoch");
      return w.u8(typeByte(p.type)).u32(p.seconds).u32(p.epoch).finish();
    }
    case "typing":
      if (typeof p.typing !== "boolean") throw new TypeError("typing must be a boolean");
      return w.u8(typeByte(p.type)).u8(p.typing ? 1 : 0).finish();
    default:
      throw new TypeError(`unknown payload type ${String((p as { type: unknown }).type)}`);
  }
}

/** Decodes {@link encodePayload}; ProtocolError ("malformed" or "unsupported") on anything else. */
export function decodePayload(bytes: Uint8Array): Payload {
  const r = new Reader(bytes, "payload");
  const fail = (m: string): never => r.fail(m);
  const version = r.u8("version");
  if (version !== PAYLOAD_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
  const code = r.u8("type");
  const type = TYPES[code - 1];
  let p: Payload;
  switch (type) {
    case "text": {
      const id = r.u32("id");
      if (code !== TEXT_WITH_OPTIONS) {
        p = { type, id, text: r.string16("text", MAX_TEXT_BYTES) };
        break;
      }
      const ttl = r.u32("timer"), flags = r.u8("flags");
      if (flags > 1) r.fail(`text flags ${flags} are not known`, "unsupported");
      const problem = timerProblem(ttl);
      if (problem) r.fail(problem);
      const reply = flags === 1 ? readRef(r) : undefined;
      // One encoding per text: a text without options is type 0x01.
      if (id === 0 || (ttl === 0 && !reply)) r.fail("a text with options must have an id and an option");
      const text = r.string16("text", MAX_TEXT_BYTES);
      p = { type, id, text, ...(reply ? { reply } : {}), ...(ttl > 0 ? { ttl } : {}) };
      break;
    }
    case "nickname": {
      const name = r.string16("nickname", MAX_NICKNAME_BYTES);
      checkName(name, "nickname", MAX_NICKNAME_BYTES, fail);
      p = { type, name };
      break;
    }
    case "file-offer": {
      const fileId = r.bytes(FILE_ID_BYTES, "file id"), size = r.u64("size"), sha256 = r.bytes(32, "sha256");
      const name = r.string16("file name", MAX_FILE_NAME_BYTES);
      checkFileName(name, fail);
      p = { type, fileId, name, size, sha256 };
      break;
    }
    case "file-chunk":
      p = {
        type,
        fileId: r.bytes(FILE_ID_BYTES, "file id"),
        index: r.u32("index"),
        data: r.vec16("data", MAX_CHUNK_BYTES),
      };
      break;
    case "file-end": {
      const fileId = r.bytes(FILE_ID_BYTES, "file id");
      const status = r.u8("status");
      if (status > 1) r.fail(`file status ${status} is not known`, "unsupported");
      p = { type, fileId, status: status === 0 ? "complete" : "cancelled" };
      break;
    }
    case "receipt": {
      const kind = r.u8("receipt kind");
      if (kind !== 1 && kind !== 2) r.fail(`receipt kind ${kind} is not known`, "unsupported");
      const count = r.u16("id count");
      if (count < 1 || count > MAX_RECEIPT_IDS) {
        r.fail(`a receipt holds 1 to ${MAX_RECEIPT_IDS} ids, got ${count}`);
      }
      const ids: number[] = [];
      for (let i = 0; i < count; i++) ids.push(r.u32("id"));
      p = { type, kind: kind === 1 ? "delivered" : "read", ids };
      break;
    }
    case "close":
      p = { type };
      break;
    case "file-answer": {
      const fileId = r.bytes(FILE_ID_BYTES, "file id");
      const answer = r.u8("answer");
      if (answer !== 1 && answer !== 2) r.fail(`file answer ${answer} is not known`, "unsupported");
      p = { type, fileId, accept: answer === 1 };
      break;
    }
    case "reaction": {
      const target = readRef(r);
      let emoji = "";
      try {
        emoji = strictUtf8.decode(r.vec8("emoji", MAX_REACTION_BYTES));
      } catch (e) {
        if (e instanceof ProtocolError) throw e;
        r.fail("emoji is not valid UTF-8");
      }
      const problem = reactionProblem(emoji);
      if (problem) r.fail(problem);
      p = { type, target, emoji };
      break;
    }
    case "edit": {
      const id = r.u32("id");
      if (id === 0) r.fail("an edit names a text id from 1");
      const text = r.string16("text", MAX_TEXT_BYTES);
      if (text === "") r.fail("an edit cannot be empty");
      p = { type, id, text };
      break;
    }
    case "delete": {
      const id = r.u32("id");
      if (id === 0) r.fail("a delete names a text id from 1");
      p = { type, id };
      break;
    }
    case "timer": {
      const seconds = r.u32("seconds"), epoch = r.u32("epoch");
      const problem = timerProblem(seconds);
      if (problem) r.fail(problem);
      p = { type, seconds, epoch };
      break;
    }
    case "typing": {
      const state = r.u8("typing");
      if (state > 1) r.fail(`typing state ${state} is not known`, "unsupported");
      p = { type, typing: state === 1 };
      break;
    }
    default:
      return r.fail(`type ${code} is not supported`, "unsupported");
  }
  r.end();
  return p;
}
