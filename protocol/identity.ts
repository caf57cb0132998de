// Identities: for each of P-256, P-384 and P-521 an ECDSA signing key and a separate ECDH key, and the
// self-certifying user ID, a domain-separated SHA-512 hash of all six public keys, written in lower-case
// Crockford base32 (no i, l, o, u). Holding an ID and a key set, anyone can check that they belong
// together, so sharing the ID out of band is sharing a fingerprint. See docs/protocol.md §2.

import {
  checkBytes,
  concatBytes,
  equalBytes,
  type RandomSource,
  systemRandom,
  utf8,
} from "../crypto/bytes.ts";
import { sha512 } from "../crypto/sha2.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";
import {
  checkCurveName,
  type CurveName,
  curveOf,
  CURVES,
  generateKeyPair,
  readKey,
  readSecret,
  writeKey,
} from "./suite.ts";

/** Bytes in a user ID (160 bits). */
export const ID_BYTES = 20;

/** Version byte of the identity encodings (public and secret). */
export const IDENTITY_VERSION = 0x01;

const ID_LABEL = utf8("sotto id v1");

/** The public keys of one curve: the ECDSA key and the ECDH key, uncompressed SEC1 points. */
export interface CurveKeys {
  readonly sign: Uint8Array;
  readonly dh: Uint8Array;
}

/** The public half of an identity: a signing key and a DH key on every curve. */
export type IdentityPublic = Readonly<Record<CurveName, CurveKeys>>;

/** An identity with its secret keys, as its owner holds it. */
export interface Identity {
  /** The user ID: {@link deriveId} of `publicKeys`. */
  readonly id: Uint8Array;
  readonly publicKeys: IdentityPublic;
  /** Secret scalars, `byteLength` bytes each. */
  readonly secretKeys: Readonly<Record<CurveName, CurveKeys>>;
}

/** A new identity: six fresh key pairs (sign then dh, for P-256, P-384, P-521 in that order). */
export function generateIdentity(random: RandomSource = systemRandom): Identity {
  const pub: Partial<Record<CurveName, CurveKeys>> = {};
  const sec: Partial<Record<CurveName, CurveKeys>> = {};
  for (const c of CURVES) {
    const sign = generateKeyPair(c, random), dh = generateKeyPair(c, random);
    pub[c] = { sign: sign.publicKey, dh: dh.publicKey };
    sec[c] = { sign: sign.secretKey, dh: dh.secretKey };
  }
  const publicKeys = pub as IdentityPublic;
  return { id: deriveId(publicKeys), publicKeys, secretKeys: sec as Record<CurveName, CurveKeys> };
}

/** Writes the public identity: version ‖ for each curve EncodeEC(sign) ‖ EncodeEC(dh). */
export function writeIdentityPublic(w: Writer, keys: IdentityPublic): Writer {
  w.u8(IDENTITY_VERSION);
  for (const c of CURVES) {
    writeKey(w, c, keys[c].sign);
    writeKey(w, c, keys[c].dh);
  }
  return w;
}

/** The public identity encoding (597 bytes). */
export function encodeIdentityPublic(keys: IdentityPublic): Uint8Array {
  return writeIdentityPublic(new Writer(), keys).finish();
}

/** Reads a public identity, validating every point. */
export function readIdentityPublic(r: Reader): IdentityPublic {
  const version = r.u8("identity version");
  if (version !== IDENTITY_VERSION) r.fail(`identity version ${version} is not supported`, "unsupported");
  const keys: Partial<Record<CurveName, CurveKeys>> = {};
  for (const c of CURVES) {
    keys[c] = { sign: readKey(r, c, `${c} signing key`), dh: readKey(r, c, `${c} DH key`) };
  }
  return keys as IdentityPublic;
}

/** Decodes {@link encodeIdentityPublic}; ProtocolError on anything else. */
export function decodeIdentityPublic(bytes: Uint8Array): IdentityPublic {
  const r = new Reader(bytes, "identity");
  const keys = readIdentityPublic(r);
  r.end();
  return keys;
}

/** The user ID of a key set: the first 20 bytes of SHA-512("sotto id v1" ‖ encodeIdentityPublic(keys)). */
export function deriveId(keys: IdentityPublic): Uint8Array {
  return sha512(concatBytes(ID_LABEL, encodeIdentityPublic(keys))).slice(0, ID_BYTES);
}

/** True if `keys` hash to `id`. */
export function idMatches(id: Uint8Array, keys: IdentityPublic): boolean {
  checkBytes(id, "id", ID_BYTES);
  return equalBytes(id, deriveId(keys));
}

/** Throws ProtocolError("id-mismatch") unless `keys` hash to `id`. */
export function checkId(id: Uint8Array, keys: IdentityPublic, what = "identity keys"): void {
  if (!idMatches(id, keys)) {
    throw new ProtocolError("id-mismatch", `${what} do not belong to ID ${formatId(id)}`);
  }
}

/** The secret identity (for the owner's encrypted keystore): version ‖ per curve sign secret ‖ dh secret. */
export function encodeIdentity(identity: Identity): Uint8Array {
  const w = new Writer().u8(IDENTITY_VERSION);
  for (const c of CURVES) w.bytes(identity.secretKeys[c].sign).bytes(identity.secretKeys[c].dh);
  return w.finish();
}

/** Decodes {@link encodeIdentity}: checks every scalar and recomputes the public keys and the ID. */
export function decodeIdentity(bytes: Uint8Array): Identity {
  const r = new Reader(bytes, "secret identity");
  const version = r.u8("version");
  if (version !== IDENTITY_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
  const pub: Partial<Record<CurveName, CurveKeys>> = {};
  const sec: Partial<Record<CurveName, CurveKeys>> = {};
  for (const c of CURVES) {
    const sign = readSecret(r, c, `${c} signing key`), dh = readSecret(r, c, `${c} DH key`);
    sec[c] = { sign, dh };
    pub[c] = { sign: curveOf(c).getPublicKey(sign, false), dh: curveOf(c).getPublicKey(dh, false) };
  }
  r.end();
  const publicKeys = pub as IdentityPublic;
  return { id: deriveId(publicKeys), publicKeys, secretKeys: sec as Record<CurveName, CurveKeys> };
}

// ---- signatures with a context ---------------------------------------------------------------------

function contextMessage(context: string, message: Uint8Array): Uint8Array {
  const ctx = utf8(context);
  if (ctx.length === 0 || ctx.length > 255) throw new RangeError("context must be 1 to 255 bytes of UTF-8");
  checkBytes(message, "message");
  return new Writer().vec8(ctx).bytes(message).finish();
}

/**
 * ECDSA (RFC 6979 nonces) with the identity's signing key on `curve`, over u8 len(context) ‖ context ‖
 * message, so a signature made for one purpose is never valid for another.
 */
export function signWithContext(
  identity: Identity,
  curve: CurveName,
  context: string,
  message: Uint8Array,
): Uint8Array {
  checkCurveName(curve);
  return curveOf(curve).sign(identity.secretKeys[curve].sign, contextMessage(context, message));
}

/** Verifies {@link signWithContext} under a public identity; false for any bad signature, never throws. */
export function verifyWithContext(
  keys: IdentityPublic,
  curve: CurveName,
  context: string,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  checkCurveName(curve);
  return curveOf(curve).verify(keys[curve].sign, contextMessage(context, message), signature);
}

// ---- the written form of an ID ---------------------------------------------------------------------

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford's base32, lower case
const GROUP = 4;

/** The ID as 32 base32 characters in eight groups of four joined by "-", e.g. "k3v9-…". */
export function formatId(id: Uint8Array): string {
  checkBytes(id, "id", ID_BYTES);
  let out = "", acc = 0, bits = 0;
  for (const byte of id) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
      if (out.length % (GROUP + 1) === GROUP && out.length < 39) out += "-";
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

const SEPARATORS = /[\s\-_.:]/g;

/**
 * Parses an ID whatever its case and separators (spaces, "-", "_", ".", ":"); Crockford's look-alikes
 * are accepted as what they look like ("i" and "l" as "1", "o" as "0"). ProtocolError("malformed") for
 * any other character or a length other than 32 characters.
 */
export function parseId(text: string): Uint8Array {
  if (typeof text !== "string") throw new TypeError("id must be a string");
  const clean = text.toLowerCase().replace(SEPARATORS, "");
  if (clean.length !== 32) {
    throw new ProtocolError("malformed", `an ID has 32 characters (without separators), got ${clean.length}`);
  }
  const out = new Uint8Array(ID_BYTES);
  let acc = 0, bits = 0, at = 0;
  for (const ch of clean) {
    const mapped = ch === "i" || ch === "l" ? "1" : ch === "o" ? "0" : ch;
    const v = ALPHABET.indexOf(mapped);
    if (v < 0) throw new ProtocolError("malformed", `an ID cannot contain ${JSON.stringify(ch)}`);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >>> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}
