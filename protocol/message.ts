// The end-to-end message envelope: a ratchet message (encrypted header and encrypted body), optionally
// preceded by the prekey header of the handshake that the initiator repeats until the first reply (Double
// Ratchet §5.1). Version 2 messages come from PQXDH sessions: their prekey header carries the ML-KEM-1024
// ciphertext and which KEM prekey it was made for, and their encrypted ratchet header carries the sender's
// ML-KEM-768 encapsulation key and (after the first chain) a ciphertext to the peer's. Version 1 messages
// (classical X3DH sessions) are still read and written by the sessions that made them. The relay forwards
// these bytes without reading them. Layout: docs/protocol.md §5.

import { Reader, Writer } from "./codec.ts";
import { ID_BYTES, type IdentityPublic, readIdentityPublic, writeIdentityPublic } from "./identity.ts";
import {
  type BodyCipher,
  cipherFromId,
  cipherId,
  curveFromId,
  curveId,
  type CurveName,
  CURVES,
  type KemName,
  kemOf,
  pointLength,
  readKey,
  writeKey,
} from "./suite.ts";

/** The protocol version of PQXDH sessions: first byte of their messages and of their associated data. */
export const PROTOCOL_VERSION = 0x02;
/** The protocol version of classical X3DH sessions (made before PQXDH; still read and continued). */
export const PROTOCOL_VERSION_CLASSICAL = 0x01;
/** A session's protocol version. */
export type ProtocolVersion = typeof PROTOCOL_VERSION | typeof PROTOCOL_VERSION_CLASSICAL;
/** Message kind: a ratchet message alone. */
export const KIND_RATCHET = 0x01;
/** Message kind: a prekey header, then a ratchet message. */
export const KIND_PREKEY = 0x02;

/** The KEM of the ratchet's KEM steps (version 2). */
export const RATCHET_KEM = "ML-KEM-768" satisfies KemName;
/** The KEM of PQXDH's prekeys (version 2). */
export const HANDSHAKE_KEM = "ML-KEM-1024" satisfies KemName;

/** Bytes of the random nonce that starts an encrypted header (XChaCha20-Poly1305). */
export const HEADER_NONCE_BYTES = 24;
/** Bytes of an AEAD tag. */
export const TAG_BYTES = 16;
/** Smallest padded body: bodies are padded to a power of two of at least this many bytes. */
export const MIN_PADDED = 64;
/** Largest padded body (so the largest plaintext is one byte less). */
export const MAX_PADDED = 65536;
/** The most the decoder reads as a prekey header (the largest, P-521 PQXDH with a one-time prekey, is 2,335). */
export const MAX_PREKEY_HEADER = 2560;
/** The most the decoder reads as an encrypted header (the largest, P-521 with a KEM ciphertext, is 2,453). */
export const MAX_ENCRYPTED_HEADER = 2560;
/**
 * No valid message is longer than this: version and kind (2) + the prekey-header cap + u16 len(H) + the
 * encrypted-header cap + the largest padded body + its tag = 70,676 bytes. The relay's Send and Deliver
 * frames carry bodies up to it.
 */
export const MAX_MESSAGE_BYTES = 2 + MAX_PREKEY_HEADER + 2 + MAX_ENCRYPTED_HEADER + MAX_PADDED + TAG_BYTES;

/** Which KEM prekey a PQXDH initial message encapsulated to, and the ciphertext. */
export interface PrekeyKem {
  readonly kind: "last-resort" | "one-time";
  readonly id: number;
  /** The ML-KEM-1024 ciphertext (1,568 bytes). */
  readonly cipherText: Uint8Array;
}

/** The handshake part of an initial message. */
export interface PrekeyHeader {
  /** 2 for PQXDH; 1 for a classical X3DH session made before it. */
  readonly version: ProtocolVersion;
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
  /** The KEM part (version 2 only; null in version 1). */
  readonly kem: PrekeyKem | null;
}

/** A decoded message. */
export interface Message {
  readonly version: ProtocolVersion;
  readonly prekey: PrekeyHeader | null;
  /** The prekey header's bytes as received (they are authenticated as part of the body's AD). */
  readonly prekeyBytes: Uint8Array | null;
  /** The encrypted header: nonce ‖ XChaCha20-Poly1305 ciphertext ‖ tag. */
  readonly header: Uint8Array;
  /** The encrypted, padded body: ciphertext ‖ tag. */
  readonly body: Uint8Array;
}

/** Bytes of the plaintext ratchet header: the ratchet key, PN, N, and in version 2 the KEM fields. */
export function headerPlainLength(
  curve: CurveName,
  version: ProtocolVersion,
  withCipherText: boolean,
): number {
  let n = pointLength(curve) + 8;
  if (version === PROTOCOL_VERSION) {
    const kem = kemOf(RATCHET_KEM);
    n += kem.publicKeyBytes + (withCipherText ? kem.cipherTextBytes : 0);
  }
  return n;
}

/**
 * Bytes of the encrypted header on a curve. In version 2 a prekey message's header has no KEM ciphertext
 * (the initiator's first chain) and every other header has one.
 */
export function encryptedHeaderLength(
  curve: CurveName,
  version: ProtocolVersion = PROTOCOL_VERSION,
  prekey = false,
): number {
  return HEADER_NONCE_BYTES + headerPlainLength(curve, version, !prekey) + TAG_BYTES;
}

const KEM_KIND = { "last-resort": 0x01, "one-time": 0x02 } as const;

/** Encodes the prekey header (the bytes between the kind byte and the ratchet message). */
export function encodePrekeyHeader(h: PrekeyHeader): Uint8Array {
  if ((h.version === PROTOCOL_VERSION) !== (h.kem !== null)) {
    throw new TypeError("a version 2 prekey header needs its KEM part, and only it");
  }
  const w = new Writer().u8(curveId(h.curve)).u8(cipherId(h.cipher)).bytes(h.recipientId);
  writeIdentityPublic(w, h.identity).u32(h.signedPrekeyId);
  if (h.oneTimePrekeyId === null) w.u8(0);
  else w.u8(1).u32(h.oneTimePrekeyId);
  writeKey(w, h.curve, h.baseKey);
  if (h.kem !== null) {
    if (h.kem.cipherText.length !== kemOf(HANDSHAKE_KEM).cipherTextBytes) {
      throw new RangeError("the KEM ciphertext has the wrong length");
    }
    w.u8(KEM_KIND[h.kem.kind]).u32(h.kem.id).bytes(h.kem.cipherText);
  }
  return w.finish();
}

/** Encodes a message: version ‖ kind ‖ [prekey header] ‖ u16 len ‖ encrypted header ‖ body. */
export function encodeMessage(
  version: ProtocolVersion,
  prekeyHeader: Uint8Array | null,
  header: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  const w = new Writer(4 + (prekeyHeader?.length ?? 0) + header.length + body.length).u8(version);
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
  const v = r.u8("version");
  if (v !== PROTOCOL_VERSION && v !== PROTOCOL_VERSION_CLASSICAL) {
    r.fail(`version ${v} is not supported`, "unsupported");
  }
  const version = v as ProtocolVersion;
  const kind = r.u8("kind");
  let prekey: PrekeyHeader | null = null, prekeyBytes: Uint8Array | null = null;
  if (kind === KIND_PREKEY) {
    const start = bytes.length - r.remaining;
    prekey = readPrekeyHeader(r, version);
    prekeyBytes = bytes.slice(start, bytes.length - r.remaining);
  } else if (kind !== KIND_RATCHET) r.fail(`kind ${kind} is not supported`, "unsupported");
  const header = r.vec16("encrypted header", version === PROTOCOL_VERSION ? MAX_ENCRYPTED_HEADER : 512);
  if (prekey !== null) {
    if (header.length !== encryptedHeaderLength(prekey.curve, version, true)) {
      r.fail(`encrypted header of ${header.length} bytes does not fit ${prekey.curve}`);
    }
  } else if (version === PROTOCOL_VERSION) {
    if (!CURVES.some((c) => header.length === encryptedHeaderLength(c, version, false))) {
      r.fail(`encrypted header of ${header.length} bytes fits no curve`);
    }
  } else if (header.length < encryptedHeaderLength("P-256", version)) {
    r.fail(`encrypted header of ${header.length} bytes is too short`);
  }
  const body = r.rest();
  if (!isPaddedLength(body.length - TAG_BYTES)) {
    r.fail(`a body of ${body.length} bytes is not a padded length`);
  }
  return { version, prekey, prekeyBytes, header, body };
}

function readPrekeyHeader(r: Reader, version: ProtocolVersion): PrekeyHeader {
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
  let kem: PrekeyKem | null = null;
  if (version === PROTOCOL_VERSION) {
    const k = r.u8("KEM prekey kind");
    if (k !== KEM_KIND["last-resort"] && k !== KEM_KIND["one-time"]) {
      r.fail(`KEM prekey kind ${k} is not 1 or 2`);
    }
    const id = r.u32("KEM prekey id");
    const cipherText = r.bytes(kemOf(HANDSHAKE_KEM).cipherTextBytes, "KEM ciphertext");
    kem = { kind: k === KEM_KIND["one-time"] ? "one-time" : "last-resort", id, cipherText };
  }
  return { version, curve, cipher, recipientId, identity, signedPrekeyId, oneTimePrekeyId, baseKey, kem };
}
