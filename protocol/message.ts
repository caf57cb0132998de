// The end-to-end message envelope: a ratchet message (encrypted header and encrypted body), optionally
// preceded by the X3DH prekey header that the initiator repeats until the first reply (Double Ratchet
// §5.1). The relay forwards these bytes without reading them. Layout: docs/protocol.md §5.

import { Reader, Writer } from "./codec.ts";
import { ID_BYTES, type IdentityPublic, readIdentityPublic, writeIdentityPublic } from "./identity.ts";
import {
  type BodyCipher,
  cipherFromId,
  cipherId,
  curveFromId,
  curveId,
  type CurveName,
  pointLength,
  readKey,
  writeKey,
} from "./suite.ts";

/** The protocol version: first byte of every message and of the associated data. */
export const PROTOCOL_VERSION = 0x01;
/** Message kind: a ratchet message alone. */
export const KIND_RATCHET = 0x01;
/** Message kind: a prekey header, then a ratchet message. */
export const KIND_PREKEY = 0x02;

/** Bytes of the random nonce that starts an encrypted header (XChaCha20-Poly1305). */
export const HEADER_NONCE_BYTES = 24;
/** Bytes of an AEAD tag. */
export const TAG_BYTES = 16;
/** Smallest padded body: bodies are padded to a power of two of at least this many bytes. */
export const MIN_PADDED = 64;
/** Largest padded body (so the largest plaintext is one byte less). */
export const MAX_PADDED = 65536;
/** No valid message is longer than this. */
export const MAX_MESSAGE_BYTES = 2 + 1024 + 2 + 512 + MAX_PADDED + TAG_BYTES;

/** The X3DH part of an initial message. */
export interface PrekeyHeader {
  readonly curve: CurveName;
  readonly cipher: BodyCipher;
  /** The ID the initiator meant to reach. */
  readonly recipientId: Uint8Array;
  /** The initiator's public identity (the responder derives the initiator's ID from it). */
  readonly identity: IdentityPublic;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId: number | null;
  /** EK_A, the initiator's ephemeral public key (uncompressed SEC1). */
  readonly baseKey: Uint8Array;
}

/** A decoded message. */
export interface Message {
  readonly prekey: PrekeyHeader | null;
  /** The prekey header's bytes as received (they are authenticated as part of the body's AD). */
  readonly prekeyBytes: Uint8Array | null;
  /** The encrypted header: nonce ‖ XChaCha20-Poly1305 ciphertext ‖ tag. */
  readonly header: Uint8Array;
  /** The encrypted, padded body: ciphertext ‖ tag. */
  readonly body: Uint8Array;
}

/** Bytes of the encrypted header on a curve: nonce, point, pn, n, tag. */
export function encryptedHeaderLength(curve: CurveName): number {
  return HEADER_NONCE_BYTES + pointLength(curve) + 8 + TAG_BYTES;
}

/** Encodes the prekey header (the bytes between the kind byte and the ratchet message). */
export function encodePrekeyHeader(h: PrekeyHeader): Uint8Array {
  const w = new Writer().u8(curveId(h.curve)).u8(cipherId(h.cipher)).bytes(h.recipientId);
  writeIdentityPublic(w, h.identity).u32(h.signedPrekeyId);
  if (h.oneTimePrekeyId === null) w.u8(0);
  else w.u8(1).u32(h.oneTimePrekeyId);
  return writeKey(w, h.curve, h.baseKey).finish();
}

/** Encodes a message: version ‖ kind ‖ [prekey header] ‖ u16 len ‖ encrypted header ‖ body. */
export function encodeMessage(
  prekeyHeader: Uint8Array | null,
  header: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  const w = new Writer(4 + (prekeyHeader?.length ?? 0) + header.length + body.length).u8(PROTOCOL_VERSION);
  if (prekeyHeader === null) w.u8(KIND_RATCHET);
  else w.u8(KIND_PREKEY).bytes(prekeyHeader);
  return w.vec16(header).bytes(body).finish();
}

/** True if `n` is a valid padded body length. */
export function isPaddedLength(n: number): boolean {
  return n >= MIN_PADDED && n <= MAX_PADDED && (n & (n - 1)) === 0;
}

/**
 * Decodes a message, validating every key of a prekey header and the lengths of the encrypted parts.
 * ProtocolError("malformed" or "unsupported") on anything else. Nothing is decrypted here.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes, "message");
  if (bytes.length > MAX_MESSAGE_BYTES) {
    r.fail(`${bytes.length} bytes is over the limit of ${MAX_MESSAGE_BYTES}`);
  }
  const version = r.u8("version");
  if (version !== PROTOCOL_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
  const kind = r.u8("kind");
  let prekey: PrekeyHeader | null = null, prekeyBytes: Uint8Array | null = null;
  if (kind === KIND_PREKEY) {
    const start = bytes.length - r.remaining;
    prekey = readPrekeyHeader(r);
    prekeyBytes = bytes.slice(start, bytes.length - r.remaining);
  } else if (kind !== KIND_RATCHET) r.fail(`kind ${kind} is not supported`, "unsupported");
  const header = r.vec16("encrypted header", 512);
  if (header.length < encryptedHeaderLength("P-256")) {
    r.fail(`encrypted header of ${header.length} bytes is too short`);
  }
  if (prekey !== null && header.length !== encryptedHeaderLength(prekey.curve)) {
    r.fail(`encrypted header of ${header.length} bytes does not fit ${prekey.curve}`);
  }
  const body = r.rest();
  if (!isPaddedLength(body.length - TAG_BYTES)) {
    r.fail(`a body of ${body.length} bytes is not a padded length`);
  }
  return { prekey, prekeyBytes, header, body };
}

function readPrekeyHeader(r: Reader): PrekeyHeader {
  const cid = r.u8("curve");
  const curve = curveFromId(cid);
  if (curve === undefined) return r.fail(`curve 0x${cid.toString(16)} is not supported`, "unsupported");
  const xid = r.u8("cipher");
  const cipher = cipherFromId(xid);
  if (cipher === undefined) return r.fail(`cipher 0x${xid.toString(16)} is not supported`, "unsupported");
  const recipientId = r.bytes(ID_BYTES, "recipient ID");
  const identity = readIdentityPublic(r);
  const signedPrekeyId = r.u32("signed prekey id");
  const flag = r.u8("one-time prekey flag");
  if (flag > 1) r.fail(`one-time prekey flag ${flag} is not 0 or 1`);
  const oneTimePrekeyId = flag === 1 ? r.u32("one-time prekey id") : null;
  const baseKey = readKey(r, curve, "base key");
  return { curve, cipher, recipientId, identity, signedPrekeyId, oneTimePrekeyId, baseKey };
}
