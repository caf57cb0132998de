// The application frames between a sotto client and the relay, carried inside TLS 1.3: encoding, strict
// decoding with hard limits, the login signature, and a splitter that turns an arbitrary byte stream into
// whole frames. Pure: no I/O, clock or randomness. Byte layouts and rules: docs/protocol.md, "Application
// frames (relay protocol)".
//
// A frame on the stream is u32 length ‖ body, 1 ≤ length ≤ MAX_FRAME_BYTES; a body is u8 type ‖ fields.
// Types 0x01–0x3f go from client to relay, 0x41–0x7f from relay to client.

import { checkBytes } from "../crypto/bytes.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";
import {
  ID_BYTES,
  type Identity,
  type IdentityPublic,
  readIdentityPublic,
  signWithContext,
  verifyWithContext,
  writeIdentityPublic,
} from "./identity.ts";
import { MAX_MESSAGE_BYTES } from "./message.ts";
import { decodeBundle, encodeBundle, type PrekeyBundle } from "./prekeys.ts";
import { checkCurveName, curveFromId, curveId, type CurveName } from "./suite.ts";

/** The version carried by the first frame each way (Challenge, Login). */
export const WIRE_VERSION = 1;
/** Largest frame body (after the u32 length) either side accepts: 256 KiB. */
export const MAX_FRAME_BYTES = 256 * 1024;
/** Bytes of the relay's login challenge. */
export const NONCE_BYTES = 32;
/** Bytes of a message id (chosen at random by the sender) and of an event id (chosen by the relay). */
export const MESSAGE_ID_BYTES = 16;
/** Largest end-to-end message the relay carries (a ratchet or prekey message, protocol/message.ts). */
export const MAX_BODY_BYTES = MAX_MESSAGE_BYTES;
/** Ids in one Ack frame. */
export const MAX_ACK_IDS = 256;
/** Largest UTF-8 detail text in a Result or Error frame. */
export const MAX_DETAIL_BYTES = 512;
/** Open chats listed in a Welcome frame (the relay keeps at most this many per user). */
export const MAX_WELCOME_CHATS = 1000;
/** Pending outgoing requests listed in a Welcome frame (the relay keeps at most this many per user). */
export const MAX_WELCOME_REQUESTS = 1000;
/** Largest encoded prekey bundle (200 one-time prekeys on each curve fit with room to spare). */
export const MAX_BUNDLE_BYTES = 128 * 1024;
/**
 * Largest valid Login frame body: type, version, ID, public identity (597 bytes), vec16 signature of 132
 * bytes. Before Login the relay accepts no longer frame (docs/protocol.md, "Limits of a connection").
 */
export const MAX_LOGIN_FRAME_BYTES = 1 + 2 + 20 + 597 + 2 + 132;

/** TLS exporter label of the login binding (RFC 8446 §7.5), with an empty context. */
export const EXPORTER_LABEL = "EXPORTER-sotto-login";
/** Bytes exported for the login binding. */
export const EXPORTER_BYTES = 32;
/** Signature context of the login (identity.ts signWithContext), always with the P-521 signing key. */
export const LOGIN_CONTEXT = "sotto login v1";
/** The curve whose identity signing key signs the login. */
export const LOGIN_CURVE: CurveName = "P-521";
/** Bytes of a P-521 signature (r ‖ s), the only length a Login carries. */
const MAX_SIGNATURE_BYTES = 132;
/** A client should send a Ping at least this often (ms) when idle; the relay drops silent connections. */
export const PING_INTERVAL_MS = 60_000;
/** SetOptions bit: tell this connection who asks to chat with the user (ChatAsked). */
export const OPTION_REQUESTS_INBOX = 0x01;
/** Longest lifetime a SendExpiring may ask for (ms); the relay also caps it at its own message TTL. */
export const MAX_EXPIRY_MS = 0xffff_ffff;

/** The type byte of every frame. */
export const FrameType = {
  login: 0x01,
  ping: 0x02,
  uploadPrekeys: 0x03,
  requestChat: 0x04,
  cancelRequest: 0x05,
  block: 0x06,
  unblock: 0x07,
  closeChat: 0x08,
  send: 0x09,
  ack: 0x0a,
  setOptions: 0x0b,
  sendExpiring: 0x0c,
  withdraw: 0x0d,
  dismissRequest: 0x0e,
  challenge: 0x41,
  welcome: 0x42,
  result: 0x43,
  queued: 0x44,
  refused: 0x45,
  deliver: 0x46,
  delivered: 0x47,
  chatOpened: 0x48,
  chatClosed: 0x49,
  peerOnline: 0x4a,
  peerOffline: 0x4b,
  prekeysLow: 0x4c,
  kemPrekeysLow: 0x58,
  replaced: 0x4d,
  shutdown: 0x4e,
  error: 0x4f,
  chatAsked: 0x50,
  withdrawn: 0x51,
} as const;

/** The answer to a request (Result) or why a message was refused (Refused). */
export type ResultCode =
  /** Done. */
  | "ok"
  /** The request does not make sense (a request to oneself, an unknown message or event id). */
  | "bad-request"
  /** Too many requests of this kind; try again later. */
  | "rate-limited"
  /** Not allowed: e.g. asking for an ID you have blocked. */
  | "not-allowed"
  /** No open chat with that ID (never opened, closed, or closed by a block). */
  | "no-chat"
  /** The recipient's queue is full (messages or bytes); try again later. */
  | "over-quota"
  /** The body is larger than MAX_BODY_BYTES or empty. */
  | "too-large"
  /** Upload prekeys before asking for a chat. */
  | "no-prekeys"
  /** The uploaded bundle is not this identity's or a signature does not verify. */
  | "bad-prekeys"
  /** A per-user limit (open chats, pending requests) is reached. */
  | "limit"
  /** The message id is already queued for that recipient by someone else. */
  | "duplicate"
  /** The relay failed; the request may be retried. */
  | "internal";

const RESULT_CODES: readonly ResultCode[] = [
  "ok",
  "bad-request",
  "rate-limited",
  "not-allowed",
  "no-chat",
  "over-quota",
  "too-large",
  "no-prekeys",
  "bad-prekeys",
  "limit",
  "duplicate",
  "internal",
];

/** Why the relay ends a connection (Error frame, then close). */
export type ErrorCode =
  /** A frame that does not parse, or trailing bytes. */
  | "malformed"
  /** An unknown frame type or protocol version. */
  | "unsupported"
  /** A frame out of place (anything before Login, a second Login, a relay frame from a client). */
  | "unexpected"
  /** Bad signature, keys that do not hash to the ID, or another identity under that ID. */
  | "login-failed"
  /** A frame longer than MAX_FRAME_BYTES. */
  | "too-large"
  /** Far too many requests. */
  | "rate-limited"
  /** The connection stopped reading what the relay sends. */
  | "slow-reader"
  /** No Login in time, or silence for too long. */
  | "timeout"
  /** The relay failed while handling this connection. */
  | "internal";

const ERROR_CODES: readonly ErrorCode[] = [
  "malformed",
  "unsupported",
  "unexpected",
  "login-failed",
  "too-large",
  "rate-limited",
  "slow-reader",
  "timeout",
  "internal",
];

/**
 * What a Withdraw did: deleted before the relay sent it to the recipient ("withdrawn"); deleted or dropped
 * but already sent to the recipient's connection, which may have it ("sent"); or not queued for that
 * recipient by this sender ("not-found": never, already acknowledged, lapsed, or someone else's).
 */
export type WithdrawOutcome = "withdrawn" | "sent" | "not-found";

const WITHDRAW_OUTCOMES: readonly WithdrawOutcome[] = ["withdrawn", "sent", "not-found"];

/** Which side of a chat runs PQXDH: the initiator (whose request came first) or the responder. */
export type ChatRole = "initiator" | "responder";

/** One open chat in a Welcome frame. */
export interface ChatSummary {
  readonly peerId: Uint8Array;
  readonly curve: CurveName;
  readonly role: ChatRole;
  /** The peer is connected now. */
  readonly online: boolean;
}

/** One pending outgoing chat request in a Welcome frame. */
export interface RequestSummary {
  readonly peerId: Uint8Array;
  readonly curve: CurveName;
  /** When the request lapses (ms since the Unix epoch). */
  readonly expiresAt: number;
}

/** Frames a client sends. Every request but Ack carries a requestId the relay's answer echoes. */
export type ClientFrame =
  | {
    type: "login";
    version: number;
    id: Uint8Array;
    identity: IdentityPublic;
    /** {@link signLogin} over the challenge nonce and the TLS exporter. */
    signature: Uint8Array;
  }
  | { type: "ping"; requestId: number }
  | { type: "upload-prekeys"; requestId: number; bundle: PrekeyBundle }
  | { type: "request-chat"; requestId: number; peerId: Uint8Array; curve: CurveName }
  | { type: "cancel-request"; requestId: number; peerId: Uint8Array }
  | { type: "block"; requestId: number; peerId: Uint8Array }
  | { type: "unblock"; requestId: number; peerId: Uint8Array }
  | { type: "close-chat"; requestId: number; peerId: Uint8Array }
  | { type: "send"; requestId: number; to: Uint8Array; messageId: Uint8Array; body: Uint8Array }
  | { type: "ack"; ids: Uint8Array[] }
  /** OPTION_* bits for this connection; the relay answers `bad-request` to bits it does not know. */
  | { type: "set-options"; requestId: number; options: number }
  /** A Send whose message lapses at the relay `ttl` ms after it is queued (1 to MAX_EXPIRY_MS). */
  | {
    type: "send-expiring";
    requestId: number;
    to: Uint8Array;
    messageId: Uint8Array;
    ttl: number;
    body: Uint8Array;
  }
  /** Deletes the sender's own message `messageId` from `to`'s queue if it is still there. */
  | { type: "withdraw"; requestId: number; to: Uint8Array; messageId: Uint8Array }
  /** Stops ChatAsked for `peer`'s pending request (the request itself stays, and its sender sees nothing). */
  | { type: "dismiss-request"; requestId: number; peerId: Uint8Array };

/** Frames the relay sends. */
export type ServerFrame =
  | { type: "challenge"; version: number; nonce: Uint8Array }
  | {
    type: "welcome";
    id: Uint8Array;
    /** The relay's clock (ms since the Unix epoch). */
    serverTime: number;
    chats: ChatSummary[];
    requests: RequestSummary[];
    /** Messages and events waiting in the queue; they follow as Deliver, ChatOpened, ChatClosed. */
    queued: number;
  }
  | { type: "result"; requestId: number; code: ResultCode; detail: string }
  /** The message is stored durably at the relay (for Send). */
  | { type: "queued"; requestId: number; messageId: Uint8Array }
  /** The message was not accepted; nothing was stored. */
  | { type: "refused"; requestId: number; messageId: Uint8Array; reason: ResultCode }
  | { type: "deliver"; from: Uint8Array; messageId: Uint8Array; queuedAt: number; body: Uint8Array }
  /** The recipient acknowledged the message: it is deleted at the relay. */
  | { type: "delivered"; peerId: Uint8Array; messageId: Uint8Array }
  | {
    type: "chat-opened";
    /** Acknowledge with Ack once stored; until then it is repeated at every login. */
    eventId: Uint8Array;
    peerId: Uint8Array;
    curve: CurveName;
    role: ChatRole;
    online: boolean;
    /** The peer's public identity (for the initiator, the bundle's). Check it against peerId. */
    identity: IdentityPublic;
    /** For the initiator: the peer's bundle with at most one one-time prekey, on `curve`. */
    bundle: PrekeyBundle | null;
  }
  | { type: "chat-closed"; eventId: Uint8Array; peerId: Uint8Array }
  | { type: "peer-online"; peerId: Uint8Array }
  | { type: "peer-offline"; peerId: Uint8Array }
  | { type: "prekeys-low"; curve: CurveName; remaining: number }
  /** Few one-time ML-KEM-1024 prekeys left (sent only to users whose relay holds KEM prekeys). */
  | { type: "kem-prekeys-low"; remaining: number }
  | { type: "replaced" }
  | { type: "shutdown" }
  | { type: "error"; code: ErrorCode; message: string }
  /** `peerId` asked to chat with the user (only on a connection that set OPTION_REQUESTS_INBOX). */
  | { type: "chat-asked"; peerId: Uint8Array; curve: CurveName; expiresAt: number }
  /** The answer to Withdraw. */
  | { type: "withdrawn"; requestId: number; messageId: Uint8Array; outcome: WithdrawOutcome };

/** Any frame. */
export type Frame = ClientFrame | ServerFrame;

// ---- login ---------------------------------------------------------------------------------------------

/** The signed login bytes: nonce (32) ‖ exporter (32). */
export function loginMessage(nonce: Uint8Array, exporter: Uint8Array): Uint8Array {
  checkBytes(nonce, "nonce", NONCE_BYTES);
  checkBytes(exporter, "exporter", EXPORTER_BYTES);
  return new Writer(NONCE_BYTES + EXPORTER_BYTES).bytes(nonce).bytes(exporter).finish();
}

/**
 * The client's login signature: signWithContext with the identity's P-521 signing key, context
 * LOGIN_CONTEXT, over nonce ‖ exporter, where exporter = TLS-Exporter(EXPORTER_LABEL, empty, 32).
 */
export function signLogin(identity: Identity, nonce: Uint8Array, exporter: Uint8Array): Uint8Array {
  return signWithContext(identity, LOGIN_CURVE, LOGIN_CONTEXT, loginMessage(nonce, exporter));
}

/** True if `signature` is {@link signLogin} by `keys` for this nonce and exporter; never throws on bad input. */
export function verifyLogin(
  keys: IdentityPublic,
  nonce: Uint8Array,
  exporter: Uint8Array,
  signature: Uint8Array,
): boolean {
  checkBytes(signature, "signature");
  return verifyWithContext(keys, LOGIN_CURVE, LOGIN_CONTEXT, loginMessage(nonce, exporter), signature);
}

// ---- encoding ------------------------------------------------------------------------------------------

/** A frame as it goes on the stream: u32 length ‖ body. RangeError if the body would exceed the limit. */
export function encodeFrame(frame: Frame): Uint8Array {
  const body = encodeFrameBody(frame);
  return new Writer(body.length + 4).u32(body.length).bytes(body).finish();
}

/** The body of a frame (type ‖ fields), without the length. */
export function encodeFrameBody(frame: Frame): Uint8Array {
  if (typeof frame !== "object" || frame === null) throw new TypeError("frame must be an object");
  const w = new Writer();
  writeBody(w, frame);
  if (w.length > MAX_FRAME_BYTES) {
    throw new RangeError(`a ${frame.type} frame of ${w.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  }
  return w.finish();
}

function writeBody(w: Writer, f: Frame): void {
  switch (f.type) {
    case "login":
      w.u8(FrameType.login).u16(f.version).bytes(checkId(f.id, "id"));
      writeIdentityPublic(w, f.identity);
      w.vec16(checkVar(f.signature, "signature", 1, MAX_SIGNATURE_BYTES));
      return;
    case "ping":
      w.u8(FrameType.ping).u32(f.requestId);
      return;
    case "upload-prekeys":
      w.u8(FrameType.uploadPrekeys).u32(f.requestId);
      w.vec32(checkVar(encodeBundle(f.bundle), "bundle", 1, MAX_BUNDLE_BYTES));
      return;
    case "request-chat":
      checkCurveName(f.curve);
      w.u8(FrameType.requestChat).u32(f.requestId).bytes(checkId(f.peerId, "peerId")).u8(curveId(f.curve));
      return;
    case "cancel-request":
    case "block":
    case "unblock":
    case "close-chat": {
      const type = {
        "cancel-request": FrameType.cancelRequest,
        "block": FrameType.block,
        "unblock": FrameType.unblock,
        "close-chat": FrameType.closeChat,
      }[f.type];
      w.u8(type).u32(f.requestId).bytes(checkId(f.peerId, "peerId"));
      return;
    }
    case "send":
      w.u8(FrameType.send).u32(f.requestId).bytes(checkId(f.to, "to"));
      w.bytes(checkMessageId(f.messageId, "messageId"));
      w.vec32(checkVar(f.body, "body", 1, MAX_BODY_BYTES));
      return;
    case "set-options":
      checkUint(f.options, 0xff, "options");
      w.u8(FrameType.setOptions).u32(f.requestId).u8(f.options);
      return;
    case "send-expiring":
      checkUint(f.ttl, MAX_EXPIRY_MS, "ttl");
      if (f.ttl < 1) throw new RangeError("ttl must be at least 1 ms");
      w.u8(FrameType.sendExpiring).u32(f.requestId).bytes(checkId(f.to, "to"));
      w.bytes(checkMessageId(f.messageId, "messageId")).u32(f.ttl);
      w.vec32(checkVar(f.body, "body", 1, MAX_BODY_BYTES));
      return;
    case "withdraw":
      w.u8(FrameType.withdraw).u32(f.requestId).bytes(checkId(f.to, "to"));
      w.bytes(checkMessageId(f.messageId, "messageId"));
      return;
    case "dismiss-request":
      w.u8(FrameType.dismissRequest).u32(f.requestId).bytes(checkId(f.peerId, "peerId"));
      return;
    case "ack":
      if (!Array.isArray(f.ids)) throw new TypeError("ids must be an array");
      checkCount(f.ids.length, "ids", 1, MAX_ACK_IDS);
      w.u8(FrameType.ack).u16(f.ids.length);
      for (const id of f.ids) w.bytes(checkMessageId(id, "ids[]"));
      return;
    case "challenge":
      checkBytes(f.nonce, "nonce", NONCE_BYTES);
      w.u8(FrameType.challenge).u16(f.version).bytes(f.nonce);
      return;
    case "welcome":
      w.u8(FrameType.welcome).bytes(checkId(f.id, "id")).u64(f.serverTime);
      checkCount(f.chats.length, "chats", 0, MAX_WELCOME_CHATS);
      w.u16(f.chats.length);
      for (const c of f.chats) {
        checkCurveName(c.curve);
        w.bytes(checkId(c.peerId, "chats[].peerId")).u8(curveId(c.curve)).u8(roleByte(c.role));
        w.u8(c.online ? 1 : 0);
      }
      checkCount(f.requests.length, "requests", 0, MAX_WELCOME_REQUESTS);
      w.u16(f.requests.length);
      for (const r of f.requests) {
        checkCurveName(r.curve);
        w.bytes(checkId(r.peerId, "requests[].peerId")).u8(curveId(r.curve)).u64(r.expiresAt);
      }
      w.u32(f.queued);
      return;
    case "result":
      w.u8(FrameType.result).u32(f.requestId).u8(resultByte(f.code));
      writeText(w, f.detail, "detail");
      return;
    case "queued":
      w.u8(FrameType.queued).u32(f.requestId).bytes(checkMessageId(f.messageId, "messageId"));
      return;
    case "refused":
      w.u8(FrameType.refused).u32(f.requestId).bytes(checkMessageId(f.messageId, "messageId"));
      w.u8(resultByte(f.reason));
      return;
    case "deliver":
      w.u8(FrameType.deliver).bytes(checkId(f.from, "from")).bytes(checkMessageId(f.messageId, "messageId"));
      w.u64(f.queuedAt).vec32(checkVar(f.body, "body", 1, MAX_BODY_BYTES));
      return;
    case "delivered":
      w.u8(FrameType.delivered).bytes(checkId(f.peerId, "peerId"));
      w.bytes(checkMessageId(f.messageId, "messageId"));
      return;
    case "chat-opened":
      checkCurveName(f.curve);
      w.u8(FrameType.chatOpened).bytes(checkMessageId(f.eventId, "eventId")).bytes(
        checkId(f.peerId, "peerId"),
      );
      w.u8(curveId(f.curve)).u8(roleByte(f.role)).u8(f.online ? 1 : 0);
      if (f.role === "initiator") {
        if (f.bundle === null || typeof f.bundle !== "object") {
          throw new TypeError("bundle must be given for the initiator");
        }
        w.vec32(checkVar(encodeBundle(f.bundle), "bundle", 1, MAX_BUNDLE_BYTES));
      } else {
        if (f.bundle !== null) throw new TypeError("bundle must be null for the responder");
        writeIdentityPublic(w, f.identity);
      }
      return;
    case "chat-closed":
      w.u8(FrameType.chatClosed).bytes(checkMessageId(f.eventId, "eventId")).bytes(
        checkId(f.peerId, "peerId"),
      );
      return;
    case "peer-online":
      w.u8(FrameType.peerOnline).bytes(checkId(f.peerId, "peerId"));
      return;
    case "peer-offline":
      w.u8(FrameType.peerOffline).bytes(checkId(f.peerId, "peerId"));
      return;
    case "prekeys-low":
      checkCurveName(f.curve);
      w.u8(FrameType.prekeysLow).u8(curveId(f.curve)).u16(f.remaining);
      return;
    case "kem-prekeys-low":
      w.u8(FrameType.kemPrekeysLow).u16(f.remaining);
      return;
    case "replaced":
      w.u8(FrameType.replaced);
      return;
    case "shutdown":
      w.u8(FrameType.shutdown);
      return;
    case "error":
      w.u8(FrameType.error).u8(errorByte(f.code));
      writeText(w, f.message, "message");
      return;
    case "chat-asked":
      checkCurveName(f.curve);
      w.u8(FrameType.chatAsked).bytes(checkId(f.peerId, "peerId")).u8(curveId(f.curve)).u64(f.expiresAt);
      return;
    case "withdrawn": {
      const outcome = WITHDRAW_OUTCOMES.indexOf(f.outcome);
      if (outcome < 0) throw new TypeError(`unknown withdraw outcome ${String(f.outcome)}`);
      w.u8(FrameType.withdrawn).u32(f.requestId).bytes(checkMessageId(f.messageId, "messageId")).u8(outcome);
      return;
    }
    default:
      throw new TypeError(`unknown frame type ${JSON.stringify((f as { type: unknown }).type)}`);
  }
}

function checkId(v: unknown, name: string): Uint8Array {
  checkBytes(v, name, ID_BYTES);
  return v;
}

function checkMessageId(v: unknown, name: string): Uint8Array {
  checkBytes(v, name, MESSAGE_ID_BYTES);
  return v;
}

function checkVar(v: unknown, name: string, min: number, max: number): Uint8Array {
  checkBytes(v, name);
  if (v.length < min || v.length > max) {
    throw new RangeError(`${name} must be ${min} to ${max} bytes long, got ${v.length}`);
  }
  return v;
}

function checkUint(v: unknown, max: number, name: string): asserts v is number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${name} must be an integer from 0 to ${max}, got ${String(v)}`);
  }
}

function checkCount(n: number, name: string, min: number, max: number): void {
  if (n < min || n > max) throw new RangeError(`${name} must hold ${min} to ${max} entries, got ${n}`);
}

const textEncoder = new TextEncoder();

function writeText(w: Writer, text: string, name: string): void {
  if (typeof text !== "string") throw new TypeError(`${name} must be a string`);
  let bytes = textEncoder.encode(text);
  if (bytes.length > MAX_DETAIL_BYTES) {
    // Cut on a character boundary: drop continuation bytes (10xxxxxx) left at the end.
    let end = MAX_DETAIL_BYTES;
    while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
    bytes = bytes.subarray(0, end);
  }
  w.vec16(bytes);
}

function roleByte(role: ChatRole): number {
  if (role === "initiator") return 1;
  if (role === "responder") return 2;
  throw new TypeError(`role must be "initiator" or "responder", got ${String(role)}`);
}

function resultByte(code: ResultCode): number {
  const i = RESULT_CODES.indexOf(code);
  if (i < 0) throw new TypeError(`unknown result code ${String(code)}`);
  return i;
}

function errorByte(code: ErrorCode): number {
  const i = ERROR_CODES.indexOf(code);
  if (i < 0) throw new TypeError(`unknown error code ${String(code)}`);
  return i + 1;
}

// ---- decoding ------------------------------------------------------------------------------------------

/**
 * Decodes a frame body a client sent. ProtocolError "unsupported" for an unknown type (or a relay frame)
 * or a Login of another version, "malformed" for anything that does not parse or has trailing bytes.
 */
export function decodeClientFrame(body: Uint8Array): ClientFrame {
  const r = openBody(body);
  const type = r.u8("type");
  let f: ClientFrame;
  switch (type) {
    case FrameType.login: {
      const version = r.u16("version");
      if (version !== WIRE_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
      const id = r.bytes(ID_BYTES, "id");
      const identity = readIdentityPublic(r);
      f = { type: "login", version, id, identity, signature: r.vec16("signature", MAX_SIGNATURE_BYTES) };
      break;
    }
    case FrameType.ping:
      f = { type: "ping", requestId: r.u32("requestId") };
      break;
    case FrameType.uploadPrekeys: {
      const requestId = r.u32("requestId");
      f = { type: "upload-prekeys", requestId, bundle: readBundle(r) };
      break;
    }
    case FrameType.requestChat: {
      const requestId = r.u32("requestId");
      const peerId = r.bytes(ID_BYTES, "peerId");
      f = { type: "request-chat", requestId, peerId, curve: readCurve(r) };
      break;
    }
    case FrameType.cancelRequest:
      f = { type: "cancel-request", requestId: r.u32("requestId"), peerId: r.bytes(ID_BYTES, "peerId") };
      break;
    case FrameType.block:
      f = { type: "block", requestId: r.u32("requestId"), peerId: r.bytes(ID_BYTES, "peerId") };
      break;
    case FrameType.unblock:
      f = { type: "unblock", requestId: r.u32("requestId"), peerId: r.bytes(ID_BYTES, "peerId") };
      break;
    case FrameType.closeChat:
      f = { type: "close-chat", requestId: r.u32("requestId"), peerId: r.bytes(ID_BYTES, "peerId") };
      break;
    case FrameType.send: {
      const requestId = r.u32("requestId");
      const to = r.bytes(ID_BYTES, "to");
      const messageId = r.bytes(MESSAGE_ID_BYTES, "messageId");
      f = { type: "send", requestId, to, messageId, body: readBody(r) };
      break;
    }
    case FrameType.ack: {
      const n = r.u16("count");
      if (n < 1 || n > MAX_ACK_IDS) r.fail(`count ${n} is not in [1, ${MAX_ACK_IDS}]`);
      const ids: Uint8Array[] = [];
      for (let i = 0; i < n; i++) ids.push(r.bytes(MESSAGE_ID_BYTES, "id"));
      f = { type: "ack", ids };
      break;
    }
    case FrameType.setOptions:
      f = { type: "set-options", requestId: r.u32("requestId"), options: r.u8("options") };
      break;
    case FrameType.sendExpiring: {
      const requestId = r.u32("requestId");
      const to = r.bytes(ID_BYTES, "to");
      const messageId = r.bytes(MESSAGE_ID_BYTES, "messageId");
      const ttl = r.u32("ttl");
      if (ttl === 0) r.fail("ttl must be at least 1 ms");
      f = { type: "send-expiring", requestId, to, messageId, ttl, body: readBody(r) };
      break;
    }
    case FrameType.withdraw: {
      const requestId = r.u32("requestId");
      const to = r.bytes(ID_BYTES, "to");
      f = { type: "withdraw", requestId, to, messageId: r.bytes(MESSAGE_ID_BYTES, "messageId") };
      break;
    }
    case FrameType.dismissRequest:
      f = { type: "dismiss-request", requestId: r.u32("requestId"), peerId: r.bytes(ID_BYTES, "peerId") };
      break;
    default:
      return r.fail(`frame type 0x${hex2(type)} is not a client frame`, "unsupported");
  }
  r.end();
  return f;
}

/**
 * Decodes a frame body the relay sent. ProtocolError "unsupported" for an unknown type (or a client
 * frame) or a Challenge of another version, "malformed" for anything that does not parse.
 */
export function decodeServerFrame(body: Uint8Array): ServerFrame {
  const r = openBody(body);
  const type = r.u8("type");
  let f: ServerFrame;
  switch (type) {
    case FrameType.challenge: {
      const version = r.u16("version");
      if (version !== WIRE_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
      f = { type: "challenge", version, nonce: r.bytes(NONCE_BYTES, "nonce") };
      break;
    }
    case FrameType.welcome: {
      const id = r.bytes(ID_BYTES, "id");
      const serverTime = r.u64("serverTime");
      const nChats = r.u16("chat count");
      if (nChats > MAX_WELCOME_CHATS) r.fail(`chat count ${nChats} exceeds ${MAX_WELCOME_CHATS}`);
      const chats: ChatSummary[] = [];
      for (let i = 0; i < nChats; i++) {
        const peerId = r.bytes(ID_BYTES, "chat peerId");
        const curve = readCurve(r);
        chats.push({ peerId, curve, role: readRole(r), online: readFlag(r, "online") });
      }
      const nRequests = r.u16("request count");
      if (nRequests > MAX_WELCOME_REQUESTS) {
        r.fail(`request count ${nRequests} exceeds ${MAX_WELCOME_REQUESTS}`);
      }
      const requests: RequestSummary[] = [];
      for (let i = 0; i < nRequests; i++) {
        const peerId = r.bytes(ID_BYTES, "request peerId");
        const curve = readCurve(r);
        requests.push({ peerId, curve, expiresAt: r.u64("expiresAt") });
      }
      f = { type: "welcome", id, serverTime, chats, requests, queued: r.u32("queued") };
      break;
    }
    case FrameType.result: {
      const requestId = r.u32("requestId");
      const code = readResult(r, "code");
      f = { type: "result", requestId, code, detail: r.string16("detail", MAX_DETAIL_BYTES) };
      break;
    }
    case FrameType.queued:
      f = {
        type: "queued",
        requestId: r.u32("requestId"),
        messageId: r.bytes(MESSAGE_ID_BYTES, "messageId"),
      };
      break;
    case FrameType.refused: {
      const requestId = r.u32("requestId");
      const messageId = r.bytes(MESSAGE_ID_BYTES, "messageId");
      f = { type: "refused", requestId, messageId, reason: readResult(r, "reason") };
      break;
    }
    case FrameType.deliver: {
      const from = r.bytes(ID_BYTES, "from");
      const messageId = r.bytes(MESSAGE_ID_BYTES, "messageId");
      const queuedAt = r.u64("queuedAt");
      f = { type: "deliver", from, messageId, queuedAt, body: readBody(r) };
      break;
    }
    case FrameType.delivered:
      f = {
        type: "delivered",
        peerId: r.bytes(ID_BYTES, "peerId"),
        messageId: r.bytes(MESSAGE_ID_BYTES, "messageId"),
      };
      break;
    case FrameType.chatOpened: {
      const eventId = r.bytes(MESSAGE_ID_BYTES, "eventId");
      const peerId = r.bytes(ID_BYTES, "peerId");
      const curve = readCurve(r);
      const role = readRole(r);
      const online = readFlag(r, "online");
      if (role === "initiator") {
        const bundle = readBundle(r);
        f = { type: "chat-opened", eventId, peerId, curve, role, online, identity: bundle.identity, bundle };
      } else {
        const identity = readIdentityPublic(r);
        f = { type: "chat-opened", eventId, peerId, curve, role, online, identity, bundle: null };
      }
      break;
    }
    case FrameType.chatClosed:
      f = {
        type: "chat-closed",
        eventId: r.bytes(MESSAGE_ID_BYTES, "eventId"),
        peerId: r.bytes(ID_BYTES, "peerId"),
      };
      break;
    case FrameType.peerOnline:
      f = { type: "peer-online", peerId: r.bytes(ID_BYTES, "peerId") };
      break;
    case FrameType.peerOffline:
      f = { type: "peer-offline", peerId: r.bytes(ID_BYTES, "peerId") };
      break;
    case FrameType.prekeysLow: {
      const curve = readCurve(r);
      f = { type: "prekeys-low", curve, remaining: r.u16("remaining") };
      break;
    }
    case FrameType.kemPrekeysLow:
      f = { type: "kem-prekeys-low", remaining: r.u16("remaining") };
      break;
    case FrameType.replaced:
      f = { type: "replaced" };
      break;
    case FrameType.shutdown:
      f = { type: "shutdown" };
      break;
    case FrameType.error: {
      const b = r.u8("code");
      const code = ERROR_CODES[b - 1];
      if (code === undefined) r.fail(`error code ${b} is unknown`);
      f = { type: "error", code, message: r.string16("message", MAX_DETAIL_BYTES) };
      break;
    }
    case FrameType.chatAsked: {
      const peerId = r.bytes(ID_BYTES, "peerId");
      const curve = readCurve(r);
      f = { type: "chat-asked", peerId, curve, expiresAt: r.u64("expiresAt") };
      break;
    }
    case FrameType.withdrawn: {
      const requestId = r.u32("requestId");
      const messageId = r.bytes(MESSAGE_ID_BYTES, "messageId");
      const b = r.u8("outcome");
      const outcome = WITHDRAW_OUTCOMES[b];
      if (outcome === undefined) r.fail(`withdraw outcome ${b} is unknown`);
      f = { type: "withdrawn", requestId, messageId, outcome };
      break;
    }
    default:
      return r.fail(`frame type 0x${hex2(type)} is not a relay frame`, "unsupported");
  }
  r.end();
  return f;
}

function openBody(body: Uint8Array): Reader {
  checkBytes(body, "body");
  if (body.length > MAX_FRAME_BYTES) {
    throw new ProtocolError(
      "exhausted",
      `frame: ${body.length} bytes exceeds the limit of ${MAX_FRAME_BYTES}`,
    );
  }
  return new Reader(body, "frame");
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function readCurve(r: Reader): CurveName {
  const b = r.u8("curve");
  const curve = curveFromId(b);
  if (curve === undefined) r.fail(`curve 0x${hex2(b)} is unknown`, "unsupported");
  return curve;
}

function readRole(r: Reader): ChatRole {
  const b = r.u8("role");
  if (b === 1) return "initiator";
  if (b === 2) return "responder";
  return r.fail(`role ${b} is not 1 or 2`);
}

function readFlag(r: Reader, field: string): boolean {
  const b = r.u8(field);
  if (b > 1) r.fail(`${field} flag ${b} is not 0 or 1`);
  return b === 1;
}

function readResult(r: Reader, field: string): ResultCode {
  const b = r.u8(field);
  const code = RESULT_CODES[b];
  if (code === undefined) r.fail(`${field} ${b} is unknown`);
  return code;
}

function readBody(r: Reader): Uint8Array {
  const body = r.vec32("body", MAX_BODY_BYTES);
  if (body.length === 0) r.fail("body is empty");
  return body;
}

function readBundle(r: Reader): PrekeyBundle {
  const bytes = r.vec32("bundle", MAX_BUNDLE_BYTES);
  try {
    return decodeBundle(bytes);
  } catch (e) {
    if (e instanceof ProtocolError) r.fail(e.message, e.code, e);
    throw e;
  }
}

// ---- the stream ----------------------------------------------------------------------------------------

/**
 * Splits a byte stream into frame bodies. Feed it chunks as they arrive, of any size; it returns the
 * bodies completed by each chunk, in order. A length of 0 is refused (ProtocolError "malformed"), and a
 * length above the limit (ProtocolError "exhausted") as soon as its four bytes are seen. The buffer of a
 * frame grows with the bytes that arrive (doubling, from at most 1 KiB), never to the announced length up
 * front, so a peer that announces a large frame and sends little costs what it sent. The limit may be
 * changed between chunks (`maxBody`): the relay lowers it until Login. After an error the splitter must
 * not be used again.
 */
export class FrameSplitter {
  #max: number;
  readonly #head = new Uint8Array(4);
  #headLength = 0;
  /** The announced length of the frame being read, or -1 between frames. */
  #want = -1;
  #body = new Uint8Array(0);
  #bodyLength = 0;
  #failed = false;

  /** `maxBody` is the largest body accepted (default and at most MAX_FRAME_BYTES). */
  constructor(maxBody = MAX_FRAME_BYTES) {
    this.#max = checkMaxBody(maxBody);
  }

  /** The largest body accepted from now on (frames whose length was already read keep theirs). */
  get maxBody(): number {
    return this.#max;
  }

  set maxBody(n: number) {
    this.#max = checkMaxBody(n);
  }

  /** Bytes held for an incomplete frame (at most 4 + the limit). */
  get buffered(): number {
    return this.#headLength + this.#bodyLength;
  }

  /** Bytes allocated for the incomplete frame's body: at most twice what has arrived, or 1 KiB. */
  get capacity(): number {
    return this.#body.length;
  }

  /** Takes the next chunk of the stream and returns every frame body it completes. */
  push(chunk: Uint8Array): Uint8Array[] {
    checkBytes(chunk, "chunk");
    if (this.#failed) throw new Error("the frame splitter is unusable after an error");
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#want < 0) {
        const take = Math.min(4 - this.#headLength, chunk.length - at);
        this.#head.set(chunk.subarray(at, at + take), this.#headLength);
        this.#headLength += take;
        at += take;
        if (this.#headLength < 4) break;
        const h = this.#head;
        const n = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
        this.#headLength = 0;
        if (n === 0 || n > this.#max) {
          this.#failed = true;
          throw n === 0
            ? new ProtocolError("malformed", "frame: a length of 0 is not allowed")
            : new ProtocolError(
              "exhausted",
              `frame: a length of ${n} bytes exceeds the limit of ${this.#max}`,
            );
        }
        this.#want = n;
        this.#bodyLength = 0;
        this.#body = new Uint8Array(Math.min(n, FIRST_BUFFER));
      }
      const take = Math.min(this.#want - this.#bodyLength, chunk.length - at);
      const need = this.#bodyLength + take;
      if (need > this.#body.length) {
        const grown = new Uint8Array(Math.min(this.#want, Math.max(need, 2 * this.#body.length)));
        grown.set(this.#body.subarray(0, this.#bodyLength));
        this.#body = grown;
      }
      this.#body.set(chunk.subarray(at, at + take), this.#bodyLength);
      this.#bodyLength = need;
      at += take;
      if (this.#bodyLength === this.#want) {
        out.push(this.#body);
        this.#body = new Uint8Array(0);
        this.#bodyLength = 0;
        this.#want = -1;
      }
    }
    return out;
  }
}

/** The first allocation for a frame body; it doubles as bytes arrive. */
const FIRST_BUFFER = 1024;

function checkMaxBody(n: number): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n)) throw new TypeError("maxBody must be an integer");
  if (n < 1 || n > MAX_FRAME_BYTES) {
    throw new RangeError(`maxBody must be in [1, ${MAX_FRAME_BYTES}], got ${n}`);
  }
  return n;
}
