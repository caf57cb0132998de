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
/** Characters of an ID without its check character, and with it. */
const ID_CHARS = 32;
/** Longest text `parseId` looks at (a written ID is 41 characters; room for generous spacing). */
const MAX_ID_TEXT = 128;

/** Multiplies an element of GF(32) = GF(2)[x]/(x⁵ + x² + 1) by α = x. */
function timesAlpha(v: number): number {
  v <<= 1;
  return v & 32 ? v ^ 0b100101 : v;
}

/**
 * Damm's fold over GF(32) with the quasigroup a ∘ b = α·a + b: 0 for a string of digits (values 0–31)
 * that ends with its check digit. Equivalently the digits, read as the coefficients of a polynomial
 * (the first digit the highest), evaluated at α. docs/protocol.md §2 shows why a single changed digit
 * or two adjacent digits swapped never give 0.
 */
export function idCheckFold(digits: readonly number[]): number {
  let acc = 0;
  for (const d of digits) acc = timesAlpha(acc) ^ d;
  return acc;
}

/** The check digit of `digits`: the one that makes the fold of `digits` and it 0 (α·fold, as −1 = 1). */
export function idCheckDigit(digits: readonly number[]): number {
  return timesAlpha(idCheckFold(digits));
}

/** The check character of an ID (the 33rd character of its written form). */
export function idCheckCharacter(id: Uint8Array): string {
  const plain = formatId(id, { check: false }).replaceAll("-", "");
  return ALPHABET[idCheckDigit([...plain].map((ch) => ALPHABET.indexOf(ch)))];
}

/**
 * The ID as 32 base32 characters in eight groups of four, then its check character, joined by "-":
 * "emky-a97y-t58q-wmz6-nhzq-8ak3-yszh-xy77-k" (`check: false`: the form without it, as clients before
 * the check character wrote it).
 */
export function formatId(id: Uint8Array, options: { check?: boolean } = {}): string {
  checkBytes(id, "id", ID_BYTES);
  let out = "", acc = 0, bits = 0;
  const digits: number[] = [];
  for (const byte of id) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      const d = (acc >>> bits) & 31;
      digits.push(d);
      out += ALPHABET[d];
      if (out.length % (GROUP + 1) === GROUP && out.length < 39) out += "-";
    }
    acc &= (1 << bits) - 1;
  }
  return options.check === false ? out : `${out}-${ALPHABET[idCheckDigit(digits)]}`;
}

/**
 * A written ID that is almost right: its check character does not match, or its groups show a character
 * missing or added. The message says so as a clause ("its check character does not match, so it is
 * probably a typo").
 */
export class IdTypoError extends ProtocolError {
  constructor(message: string) {
    super("malformed", message);
    this.name = "IdTypoError";
  }
}

const SEPARATORS = /[\s\-_.:]+/;

/**
 * Parses an ID whatever its case and separators (spaces, "-", "_", ".", ":"); Crockford's look-alikes
 * are accepted as what they look like ("i" and "l" as "1", "o" as "0"). Takes the written form with its
 * check character (33 characters) or without it (32, as older clients wrote it). When separators split
 * it into groups, each group but the last has a multiple of four characters and the last one a multiple
 * of four, or one more (the check character): a group of three is a character missing. IdTypoError for
 * a wrong check character or such a group; ProtocolError("malformed") for any other character or length.
 */
export function parseId(text: string): Uint8Array {
  if (typeof text !== "string") throw new TypeError("id must be a string");
  if (text.length > MAX_ID_TEXT) {
    throw new ProtocolError("malformed", `an ID has ${ID_CHARS + 1} characters, not ${text.length}`);
  }
  const groups = text.toLowerCase().split(SEPARATORS).filter((g) => g !== "");
  const digits: number[] = [];
  for (const ch of groups.join("")) {
    const mapped = ch === "i" || ch === "l" ? "1" : ch === "o" ? "0" : ch;
    const v = ALPHABET.indexOf(mapped);
    if (v < 0) throw new ProtocolError("malformed", `an ID cannot contain ${JSON.stringify(ch)}`);
    digits.push(v);
  }
  const n = digits.length;
  if (n !== ID_CHARS && n !== ID_CHARS + 1) {
    throw new ProtocolError(
      "malformed",
      `an ID has ${ID_CHARS + 1} characters (${ID_CHARS} without its check character), got ${n}`,
    );
  }
  if (groups.length > 1) {
    const last = groups[groups.length - 1].length;
    const regular = groups.slice(0, -1).every((g) => g.length % GROUP === 0) &&
      (last % GROUP === 0 || last % GROUP === 1);
    if (!regular) {
      throw new IdTypoError(
        "a character is missing or one too many (its groups have four characters), so it is probably a typo",
      );
    }
  }
  if (n === ID_CHARS + 1 && idCheckFold(digits) !== 0) {
    throw new IdTypoError("its check character does not match, so it is probably a typo");
  }
  const out = new Uint8Array(ID_BYTES);
  let acc = 0, bits = 0, at = 0;
  for (const v of digits.slice(0, ID_CHARS)) {
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
