// Typed payloads carried inside ratchet messages: text, nickname, file offer, file chunk, file end,
// receipt, close and file answer. Every payload starts with a version byte and a type byte and every field has a fixed
// size or a length prefix, so no text can ever be read as a control message (the original's in-band
// "KILLCONNECTION" and "<STARTFILENAME>" flaw). Layout: docs/protocol.md §8.

import { checkBytes, utf8 } from "../crypto/bytes.ts";
import { Reader, Writer } from "./codec.ts";

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

/** A payload, by type. Message and chunk ids are u32; sizes are below 2^53. */
export type Payload =
  | { readonly type: "text"; readonly id: number; readonly text: string }
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
  | { readonly type: "file-answer"; readonly fileId: Uint8Array; readonly accept: boolean };

const TYPES = [
  "text",
  "nickname",
  "file-offer",
  "file-chunk",
  "file-end",
  "receipt",
  "close",
  "file-answer",
] as const;

/** The wire byte of each payload type: its position in TYPES, plus one. */
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

/** Encodes a payload: version ‖ type ‖ fields. RangeError/TypeError for values the format cannot carry. */
export function encodePayload(p: Payload): Uint8Array {
  const w = new Writer().u8(PAYLOAD_VERSION);
  switch (p.type) {
    case "text": {
      checkU32(p.id, "id");
      const text = utf8(p.text);
      if (text.length > MAX_TEXT_BYTES) throw new RangeError(`text must be at most ${MAX_TEXT_BYTES} bytes`);
      return w.u8(typeByte(p.type)).u32(p.id).vec16(text).finish();
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
    case "text":
      p = { type, id: r.u32("id"), text: r.string16("text", MAX_TEXT_BYTES) };
      break;
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
    default:
      return r.fail(`type ${code} is not supported`, "unsupported");
  }
  r.end();
  return p;
}
