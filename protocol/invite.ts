// Invitations: everything needed to reach someone in one copy-pasteable string, with a checksum that
// catches typos. docs/protocol.md §2.1 specifies it:
//
//   sotto://HOST:PORT/ID/PIN/CHECK
//
// HOST is the relay's DNS name, IPv4 address or [IPv6] address; PORT its port; ID the person's written ID
// (§2, with its check character); PIN the relay's key pin (43 base64url characters); CHECK the CRC-32 of
// everything before the last "/", as 7 Crockford base32 digits. Pure: text in, fields out.

import { ProtocolError } from "./codec.ts";
import { formatId, ID_BYTES, IdTypoError, parseId } from "./identity.ts";
import { formatIpAddress, isPin, parseIpAddress } from "./tls13/x509.ts";

/** The scheme and the "//" that begin every invitation. */
export const INVITATION_PREFIX = "sotto://";
/** Longest invitation parsed (the longest possible one, with a 253-character host name, has 361). */
export const MAX_INVITATION_CHARS = 400;

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford's base32, lower case
const CHECK_CHARS = 7;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** What an invitation carries. */
export interface Invitation {
  /** The relay's host: a DNS name (lower case), an IPv4 address, or an IPv6 address without brackets. */
  host: string;
  port: number;
  /** The relay's key pin (SHA-256 of its SubjectPublicKeyInfo, base64url). */
  pin: string;
  /** The ID of the person who made it. */
  id: Uint8Array;
}

/**
 * An invitation that cannot be used. The message is the sentence for the user; `typo` is true when the
 * checksum (or the ID's check character) says it was mistyped or cut short.
 */
export class InvitationError extends ProtocolError {
  readonly typo: boolean;
  constructor(message: string, typo = false) {
    super("malformed", message);
    this.name = "InvitationError";
    this.typo = typo;
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309 / ITU-T V.42, as zlib and PNG compute it) of the bytes. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The 7 check characters of an invitation's body: its CRC-32 in base32, most significant digit first. */
export function invitationCheck(body: string): string {
  const crc = crc32(new TextEncoder().encode(body));
  let out = "";
  for (let i = CHECK_CHARS - 1; i >= 0; i--) out += ALPHABET[Math.floor(crc / 2 ** (5 * i)) % 32];
  return out;
}

/** HOST:PORT as an invitation writes it: a name in lower case, an IPv6 address in brackets. */
function authority(host: string, port: number): string {
  const ip = parseIpAddress(host);
  if (ip) return ip.length === 16 ? `[${formatIpAddress(ip)}]:${port}` : `${formatIpAddress(ip)}:${port}`;
  return `${host.toLowerCase().replace(/\.$/, "")}:${port}`;
}

/** Checks a host name or address; the canonical host, or a sentence saying what is wrong. */
function checkHost(text: string): string | { problem: string } {
  if (text.startsWith("[")) {
    const ip = text.endsWith("]") ? parseIpAddress(text.slice(1, -1)) : undefined;
    if (!ip || ip.length !== 16) return { problem: `${text} is not an IPv6 address` };
    return formatIpAddress(ip);
  }
  if (/^[0-9.]+$/.test(text)) {
    const ip = parseIpAddress(text);
    if (!ip || ip.length !== 4) return { problem: `${text} is not an IPv4 address` };
    return formatIpAddress(ip);
  }
  const name = text.toLowerCase();
  if (name.length > 253 || !name.split(".").every((label) => LABEL.test(label))) {
    return { problem: `${JSON.stringify(text)} is not a host name` };
  }
  return name;
}

/** Writes an invitation. RangeError for a host, port, pin or ID that could not be read back. */
export function formatInvitation(inv: Invitation): string {
  if (!Number.isInteger(inv.port) || inv.port < 1 || inv.port > 65535) {
    throw new RangeError("port must be 1 to 65535");
  }
  if (!isPin(inv.pin)) throw new RangeError("pin must be a 43-character base64url SPKI pin");
  if (!(inv.id instanceof Uint8Array) || inv.id.length !== ID_BYTES) {
    throw new RangeError("id must be 20 bytes");
  }
  const at = authority(inv.host, inv.port);
  const host = checkHost(at.slice(0, at.lastIndexOf(":")));
  if (typeof host !== "string") throw new RangeError(`host: ${host.problem}`);
  const body = `${INVITATION_PREFIX}${at}/${formatId(inv.id)}/${inv.pin}`;
  return `${body}/${invitationCheck(body)}`;
}

/** True if the text is meant as an invitation (it starts with "sotto:"), right or wrong. */
export function looksLikeInvitation(text: string): boolean {
  return typeof text === "string" && text.trimStart().slice(0, 6).toLowerCase() === "sotto:";
}

/**
 * Parses an invitation. White space anywhere is ignored (no invitation contains any, and one copied from
 * a narrow window or an e-mail may have been broken across lines). Throws an InvitationError whose
 * message is one sentence: `typo` when the checksum does not match or the string was cut, else what is
 * wrong.
 */
export function parseInvitation(text: string): Invitation {
  if (typeof text !== "string") throw new TypeError("invitation must be a string");
  const retype = "it was probably mistyped or cut short; copy it again";
  const tooLong = (n: number) =>
    new InvitationError(`That invitation is too long (${n} characters; at most ${MAX_INVITATION_CHARS}).`);
  if (text.length > 2 * MAX_INVITATION_CHARS) throw tooLong(text.length);
  const s = text.replace(/\s+/g, "");
  if (s.length > MAX_INVITATION_CHARS) throw tooLong(s.length);
  if (!s.startsWith(INVITATION_PREFIX)) {
    throw new InvitationError(`An invitation starts with ${INVITATION_PREFIX}; this one does not.`);
  }
  if (/[^\x21-\x7e]/.test(s)) {
    throw new InvitationError(`That invitation contains characters no invitation has: ${retype}.`, true);
  }
  const cut = s.lastIndexOf("/");
  const body = s.slice(0, cut), check = s.slice(cut + 1).toLowerCase();
  const parts = body.slice(INVITATION_PREFIX.length).split("/");
  if (
    parts.length !== 3 || check.length !== CHECK_CHARS || ![...check].every((ch) => ALPHABET.includes(ch))
  ) {
    throw new InvitationError(`That invitation is not complete: ${retype}.`, true);
  }
  if (invitationCheck(body) !== check) {
    throw new InvitationError(`That invitation's checksum does not match: ${retype}.`, true);
  }
  // The checksum matched: what follows was written this way, so a problem means it was not made by a
  // sotto client (or by a newer one).
  const [where, idText, pin] = parts;
  const colon = where.lastIndexOf(":");
  const portText = where.slice(colon + 1);
  if (colon <= 0 || !/^[1-9][0-9]{0,4}$/.test(portText) || Number(portText) > 65535) {
    throw new InvitationError("That invitation does not give the relay's port as a number from 1 to 65535.");
  }
  const host = checkHost(where.slice(0, colon));
  if (typeof host !== "string") {
    throw new InvitationError(`That invitation's relay is wrong: ${host.problem}.`);
  }
  if (!isPin(pin)) {
    throw new InvitationError("That invitation's relay pin is not a pin (43 base64url characters).");
  }
  let id: Uint8Array;
  try {
    id = parseId(idText);
  } catch (e) {
    const why = (e as Error).message;
    throw new InvitationError(`That invitation's ID is wrong (${why}).`, e instanceof IdTypoError);
  }
  if (formatId(id) !== idText.toLowerCase()) {
    throw new InvitationError(
      "That invitation's ID is not written as sotto writes IDs (with its check character).",
    );
  }
  return { host, port: Number(portText), pin, id };
}
