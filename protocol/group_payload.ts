// The payloads of groups (docs/protocol.md, "Groups in sotto"). Two places carry them:
//
// - Inside a group's MLS application messages: every 1:1 payload type of §8 (text, nickname, small files
//   as offer, chunks and end, …) encoded exactly as payload.ts encodes it, plus the group's own types from
//   0x40: its name, and a file sent as one encrypted upload the relay fans out (a blob), with its key.
// - Inside a 1:1 chat's ratchet messages: an invitation to a group, which the inviter sends to someone it
//   has an open chat with; the invitee accepts it at the relay (AcceptInvite) or lets it be.
//
// Both keep payload.ts's layout (version 0x01 ‖ type ‖ fields), so one version byte covers them; type bytes
// from 0x40 up are groups', below 0x40 the 1:1 payloads' (decoded by payload.ts, so a type added there is
// carried in groups too). Pure: no I/O.

import { bytesToHex, checkBytes, utf8 } from "../crypto/bytes.ts";
import { Reader, Writer } from "./codec.ts";
import { ID_BYTES } from "./identity.ts";
import {
  decodePayload,
  encodePayload,
  MAX_FILE_NAME_BYTES,
  MAX_NICKNAME_BYTES,
  type Payload,
} from "./payload.ts";

/** The payload encoding's version byte (payload.ts's). */
const VERSION = 0x01;
/** Type bytes from here up are group payloads; below, 1:1 payloads. */
export const FIRST_GROUP_TYPE = 0x40;
/** Most bytes of a group's name (a nickname's limit). */
export const MAX_GROUP_NAME_BYTES = MAX_NICKNAME_BYTES;
/** Most members an invitation lists (MLS's and the relay's limit: GroupState lists at most 1,024). */
export const MAX_INVITE_MEMBERS = 1024;
/** Bytes of a blob id (the relay's message id length). */
export const BLOB_ID_BYTES = 16;
/** Bytes of a blob's key (AES-256-GCM). */
export const BLOB_KEY_BYTES = 32;
/** Group IDs sotto's relay accepts: 16 or 32 random bytes. */
const GROUP_ID_LENGTHS = [16, 32];

const T = {
  invite: 0x40,
  name: 0x41,
  blob: 0x42,
} as const;

/** A file over the small-file limit, uploaded once, encrypted with `key`, as blob `blobId` (docs/protocol.md). */
export interface BlobOffer {
  readonly type: "group-file";
  readonly fileId: Uint8Array;
  readonly blobId: Uint8Array;
  /** The plaintext's size. */
  readonly size: number;
  readonly sha256: Uint8Array;
  readonly key: Uint8Array;
  readonly name: string;
}

/** What a group's MLS application message carries. */
export type GroupPayload = Payload | { readonly type: "group-name"; readonly name: string } | BlobOffer;

/** An invitation to a group, sent in a 1:1 chat. */
export interface GroupInvite {
  readonly type: "group-invite";
  readonly groupId: Uint8Array;
  /** The MLS cipher suite (2, 5 or 7). */
  readonly suite: number;
  readonly name: string;
  readonly creator: Uint8Array;
  /** The members when the invitation was sent (the inviter among them). */
  readonly members: readonly Uint8Array[];
}

// C0 and C1 control characters, DEL and the bidirectional overrides (payload.ts's rule for names).
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Why a group name cannot be used, or null: 1–64 bytes of UTF-8 without control or override characters. */
export function groupNameProblem(name: string): string | null {
  const bytes = utf8(name).length;
  if (bytes === 0 || bytes > MAX_GROUP_NAME_BYTES) {
    return `a group's name must be 1 to ${MAX_GROUP_NAME_BYTES} bytes of UTF-8, got ${bytes}`;
  }
  if (CONTROL.test(name)) return "a group's name contains a control or direction-override character";
  return null;
}

function checkName(name: string): void {
  const problem = groupNameProblem(name);
  if (problem) throw new RangeError(problem);
}

function checkFileName(name: string): void {
  const bytes = utf8(name).length;
  if (bytes === 0 || bytes > MAX_FILE_NAME_BYTES || CONTROL.test(name) || /[/\\]/.test(name)) {
    throw new RangeError("file name must be 1 to 255 bytes, without controls or path separators");
  }
  if (name === "." || name === "..") throw new RangeError("file name must not be a path");
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError("size must be a positive integer");
}

/** Encodes what a group's application message carries. */
export function encodeGroupPayload(p: GroupPayload): Uint8Array {
  const w = new Writer().u8(VERSION);
  switch (p.type) {
    case "group-name":
      checkName(p.name);
      return w.u8(T.name).vec16(utf8(p.name)).finish();
    case "group-file":
      checkBytes(p.fileId, "fileId", 16);
      checkBytes(p.blobId, "blobId", BLOB_ID_BYTES);
      checkBytes(p.sha256, "sha256", 32);
      checkBytes(p.key, "key", BLOB_KEY_BYTES);
      checkSize(p.size);
      checkFileName(p.name);
      return w.u8(T.blob).bytes(p.fileId).bytes(p.blobId).u64(p.size).bytes(p.sha256).bytes(p.key)
        .vec16(utf8(p.name)).finish();
    default:
      return encodePayload(p);
  }
}

/** Decodes {@link encodeGroupPayload}; ProtocolError ("malformed" or "unsupported") otherwise. */
export function decodeGroupPayload(bytes: Uint8Array): GroupPayload {
  const r = new Reader(bytes, "group payload");
  const version = r.u8("version");
  if (version !== VERSION) r.fail(`version ${version} is not supported`, "unsupported");
  const type = r.u8("type");
  if (type < FIRST_GROUP_TYPE) return decodePayload(bytes);
  let p: GroupPayload;
  switch (type) {
    case T.name: {
      const name = r.string16("group name", MAX_GROUP_NAME_BYTES);
      const problem = groupNameProblem(name);
      if (problem) r.fail(problem);
      p = { type: "group-name", name };
      break;
    }
    case T.blob: {
      const fileId = r.bytes(16, "file id"), blobId = r.bytes(BLOB_ID_BYTES, "blob id");
      const size = r.u64("size");
      if (size < 1) r.fail("a file is at least one byte");
      const sha256 = r.bytes(32, "sha256"), key = r.bytes(BLOB_KEY_BYTES, "key");
      const name = r.string16("file name", MAX_FILE_NAME_BYTES);
      try {
        checkFileName(name);
      } catch (e) {
        r.fail((e as Error).message);
      }
      p = { type: "group-file", fileId, blobId, size, sha256, key, name };
      break;
    }
    default:
      return r.fail(`group payload type ${type} is not supported`, "unsupported");
  }
  r.end();
  return p;
}

/** True if a 1:1 payload's bytes are a group payload (an invitation), not one of payload.ts's. */
export function isGroupChatPayload(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === VERSION && bytes[1] >= FIRST_GROUP_TYPE;
}

/** Encodes an invitation for a 1:1 chat. */
export function encodeGroupInvite(p: GroupInvite): Uint8Array {
  checkBytes(p.groupId, "groupId");
  if (!GROUP_ID_LENGTHS.includes(p.groupId.length)) throw new RangeError("groupId must be 16 or 32 bytes");
  if (!Number.isInteger(p.suite) || p.suite < 0 || p.suite > 0xffff) throw new RangeError("suite is a u16");
  checkName(p.name);
  checkBytes(p.creator, "creator", ID_BYTES);
  if (p.members.length < 1 || p.members.length > MAX_INVITE_MEMBERS) {
    throw new RangeError(`an invitation lists 1 to ${MAX_INVITE_MEMBERS} members`);
  }
  const w = new Writer(64 + p.members.length * ID_BYTES).u8(VERSION).u8(T.invite).vec8(p.groupId);
  w.u16(p.suite).vec16(utf8(p.name)).bytes(p.creator).u16(p.members.length);
  for (const m of p.members) {
    checkBytes(m, "member", ID_BYTES);
    w.bytes(m);
  }
  return w.finish();
}

/** Decodes a group payload of a 1:1 chat (an invitation); ProtocolError otherwise. */
export function decodeGroupInvite(bytes: Uint8Array): GroupInvite {
  const r = new Reader(bytes, "group invitation");
  const version = r.u8("version");
  if (version !== VERSION) r.fail(`version ${version} is not supported`, "unsupported");
  const type = r.u8("type");
  if (type !== T.invite) r.fail(`type ${type} is not a group payload of 1:1 chats`, "unsupported");
  const groupId = r.vec8("group id", 32);
  if (!GROUP_ID_LENGTHS.includes(groupId.length)) r.fail(`a group id of ${groupId.length} bytes`);
  const suite = r.u16("suite");
  const name = r.string16("group name", MAX_GROUP_NAME_BYTES);
  const problem = groupNameProblem(name);
  if (problem) r.fail(problem);
  const creator = r.bytes(ID_BYTES, "creator");
  const n = r.u16("member count");
  if (n < 1 || n > MAX_INVITE_MEMBERS) {
    r.fail(`an invitation lists 1 to ${MAX_INVITE_MEMBERS} members, not ${n}`);
  }
  const members: Uint8Array[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const m = r.bytes(ID_BYTES, "member");
    const key = bytesToHex(m);
    if (seen.has(key)) r.fail("an invitation lists a member twice");
    seen.add(key);
    members.push(m);
  }
  r.end();
  return { type: "group-invite", groupId, suite, name, creator, members };
}
