// The little X.509 (RFC 5280) a pinned TLS 1.3 server needs: a self-signed P-521 certificate that both
// OpenSSL and rustls accept (v3, ecdsa-with-SHA512, subjectAltName, not a CA: the profile of
// notes/tls13.md §3.1), a strict parser for the peer's certificate, its self-signature check, and the
// SPKI pin (SHA-256 of the SubjectPublicKeyInfo DER, as RFC 7469's pin-sha256, in unpadded base64url).
// Pure: the clock and randomness come in as parameters.

import { checkBytes, equalBytes, utf8 } from "../../crypto/bytes.ts";
import {
  type DerElement,
  encodeEcSpki,
  encodeElement,
  encodeOid,
  encodeUnsignedInteger,
  OID_EC_PUBLIC_KEY,
  parseSingle,
  parseSpki,
  readChildren,
  readOid,
  readUnsignedInteger,
  TAG,
} from "../../crypto/der.ts";
import type { Curve } from "../../crypto/ec.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { hash, type HashName, sha256 } from "../../crypto/sha2.ts";

export const OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
export const OID_ECDSA_WITH_SHA384 = "1.2.840.10045.4.3.3";
export const OID_ECDSA_WITH_SHA512 = "1.2.840.10045.4.3.4";
const OID_COMMON_NAME = "2.5.4.3";
const OID_KEY_USAGE = "2.5.29.15";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_EXT_KEY_USAGE = "2.5.29.37";

const BOOLEAN = 0x01;
const VERSION_TAG = 0xa0; // [0] EXPLICIT Version
const ISSUER_UID_TAG = 0x81; // [1] IMPLICIT UniqueIdentifier
const SUBJECT_UID_TAG = 0x82; // [2] IMPLICIT UniqueIdentifier
const EXTENSIONS_TAG = 0xa3; // [3] EXPLICIT Extensions
const DNS_NAME_TAG = 0x82; // GeneralName [2] IMPLICIT IA5String
const IP_ADDRESS_TAG = 0x87; // GeneralName [7] IMPLICIT OCTET STRING

/** Limits on what the parser accepts: certificates here are self-signed and small (about 470 bytes). */
const MAX_CERTIFICATE_BYTES = 16384;
const MAX_EXTENSIONS = 32;
const MAX_SAN_ENTRIES = 256;
const MAX_NAME_ATTRIBUTES = 64;
const MAX_DNS_NAME = 253;

/** The curves a certificate key may be on, by named-curve OID. */
const CURVES: ReadonlyMap<string, Curve> = new Map([p256, p384, p521].map((c) => [c.oid, c]));
/** The hash each ECDSA signature algorithm uses. */
const SIGNATURE_HASHES: ReadonlyMap<string, HashName> = new Map([
  [OID_ECDSA_WITH_SHA256, "SHA-256"],
  [OID_ECDSA_WITH_SHA384, "SHA-384"],
  [OID_ECDSA_WITH_SHA512, "SHA-512"],
]);

/** What `createSelfSignedCertificate` needs. */
export interface SelfSignedCertificateOptions {
  /** The P-521 secret key (66 bytes); the certificate carries its public key and is signed with it. */
  secretKey: Uint8Array;
  /** DNS names and IPv4/IPv6 literals for the subjectAltName; the CN is the first DNS name. */
  hosts: string[];
  notBefore: Date;
  notAfter: Date;
  /** Random bytes (8 to 20; 16 is usual) for the serial number; the top bit is cleared to keep it positive. */
  serial: Uint8Array;
}

/** A parsed certificate. Byte fields are views into `der`, a private copy of the input. */
export interface Certificate {
  der: Uint8Array;
  /** The DER of tbsCertificate: what the signature covers. */
  tbs: Uint8Array;
  serialNumber: Uint8Array;
  /** The DER of the issuer and subject Names. */
  issuer: Uint8Array;
  subject: Uint8Array;
  /** The full SubjectPublicKeyInfo TLV, as the pin hashes it. */
  spki: Uint8Array;
  /** The SEC1 public key (validated on `namedCurve`). */
  publicKey: Uint8Array;
  /** The named curve's OID (P-256, P-384 or P-521). */
  namedCurve: string;
  notBefore: Date;
  notAfter: Date;
  /** subjectAltName dNSName entries, as written. */
  dnsNames: string[];
  /** subjectAltName iPAddress entries, as text (dotted IPv4, RFC 5952 IPv6). */
  ipAddresses: string[];
  /** The signature algorithm's OID (one of the three ecdsa-with-SHA*). */
  signatureAlgorithm: string;
  /** The DER ECDSA-Sig-Value. */
  signature: Uint8Array;
  /** True if basicConstraints says cA. */
  isCA: boolean;
}

// ---- creating ---------------------------------------------------------------------------------------

/**
 * A self-signed X.509 v3 certificate (DER) for a P-521 key, signed with ecdsa-with-SHA512: subject and
 * issuer CN = the first DNS name (or the first host), a subjectAltName listing every host, and a critical
 * basicConstraints that is not a CA. Validity times are whole seconds, UTCTime before 2050 and
 * GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). Throws a RangeError for a bad host, key, serial or dates.
 */
export function createSelfSignedCertificate(options: SelfSignedCertificateOptions): Uint8Array {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  const { secretKey, hosts, notBefore, notAfter, serial } = options;
  checkBytes(secretKey, "secretKey", p521.byteLength);
  checkBytes(serial, "serial");
  if (serial.length < 8 || serial.length > 20) {
    throw new RangeError(`serial must be 8 to 20 bytes long, got ${serial.length}`);
  }
  const serialBytes = serial.slice();
  serialBytes[0] &= 0x7f;
  if (serialBytes.every((b) => b === 0)) throw new RangeError("serial must not be zero");
  if (!Array.isArray(hosts) || hosts.length === 0) throw new TypeError("hosts must be a non-empty array");
  if (hosts.length > MAX_SAN_ENTRIES) {
    throw new RangeError(`hosts must have at most ${MAX_SAN_ENTRIES} entries`);
  }
  const names = hosts.map((h, i) => parseHost(h, `hosts[${i}]`));
  const start = checkDate(notBefore, "notBefore");
  const end = checkDate(notAfter, "notAfter");
  if (end <= start) throw new RangeError("notAfter must be after notBefore");

  const publicKey = p521.getPublicKey(secretKey, false);
  const algorithm = encodeElement(TAG.SEQUENCE, encodeOid(OID_ECDSA_WITH_SHA512));
  const firstDns = names.find((n) => n.kind === "dns");
  const cn = firstDns ? firstDns.text : names[0].text;
  const name = encodeElement(
    TAG.SEQUENCE,
    encodeElement(
      TAG.SET,
      encodeElement(TAG.SEQUENCE, encodeOid(OID_COMMON_NAME), encodeElement(TAG.UTF8_STRING, utf8(cn))),
    ),
  );
  const seen = new Set<string>();
  const generalNames: Uint8Array[] = [];
  for (const n of names) {
    if (seen.has(n.text)) continue;
    seen.add(n.text);
    generalNames.push(encodeElement(n.kind === "dns" ? DNS_NAME_TAG : IP_ADDRESS_TAG, n.bytes));
  }
  const extensions = encodeElement(
    EXTENSIONS_TAG,
    encodeElement(
      TAG.SEQUENCE,
      extension(OID_BASIC_CONSTRAINTS, true, encodeElement(TAG.SEQUENCE)),
      extension(OID_SUBJECT_ALT_NAME, false, encodeElement(TAG.SEQUENCE, ...generalNames)),
    ),
  );
  const tbs = encodeElement(
    TAG.SEQUENCE,
    encodeElement(VERSION_TAG, encodeElement(TAG.INTEGER, Uint8Array.of(2))),
    encodeUnsignedInteger(serialBytes),
    algorithm,
    name,
    encodeElement(TAG.SEQUENCE, encodeTime(start), encodeTime(end)),
    name,
    encodeEcSpki(p521.oid, publicKey),
    extensions,
  );
  const signature = p521.signatureToDer(p521.sign(secretKey, tbs));
  return encodeElement(
    TAG.SEQUENCE,
    tbs,
    algorithm,
    encodeElement(TAG.BIT_STRING, Uint8Array.of(0), signature),
  );
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return encodeElement(
    TAG.SEQUENCE,
    encodeOid(oid),
    critical ? encodeElement(BOOLEAN, Uint8Array.of(0xff)) : new Uint8Array(0),
    encodeElement(TAG.OCTET_STRING, value),
  );
}

/** Milliseconds since the epoch, whole seconds, in the years X.509 can express (RFC 5280 §4.1.2.5). */
function checkDate(date: unknown, name: string): number {
  if (!(date instanceof Date)) throw new TypeError(`${name} must be a Date`);
  const t = date.getTime();
  if (Number.isNaN(t)) throw new RangeError(`${name} is an invalid Date`);
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`${name} must be in the years 1950 to 9999`);
  return Math.floor(t / 1000) * 1000;
}

function encodeTime(ms: number): Uint8Array {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  const rest = [d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    .map((v) => String(v).padStart(2, "0")).join("");
  if (year < 2050) return encodeElement(TAG.UTC_TIME, utf8(`${String(year % 100).padStart(2, "0")}${rest}Z`));
  return encodeElement(TAG.GENERALIZED_TIME, utf8(`${year}${rest}Z`));
}

// ---- hosts ------------------------------------------------------------------------------------------

interface HostName {
  kind: "dns" | "ip";
  /** The normalised text: a lower-case DNS name or the canonical address. */
  text: string;
  /** What the SAN carries: the IA5String name or the 4/16 address bytes. */
  bytes: Uint8Array;
}

/** A DNS name (letters, digits, '-' and '_' in labels, lower-cased, no trailing dot) or an IP literal. */
function parseHost(host: unknown, name: string): HostName {
  if (typeof host !== "string") throw new TypeError(`${name} must be a string`);
  const ip = parseIpAddress(host);
  if (ip) return { kind: "ip", text: formatIpAddress(ip), bytes: ip };
  const dns = host.toLowerCase().replace(/\.$/, "");
  const labels = dns.split(".");
  const valid = dns.length > 0 && dns.length <= MAX_DNS_NAME &&
    labels.every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l)) &&
    !/^[0-9]+$/.test(labels[labels.length - 1]);
  if (!valid) {
    throw new RangeError(`${name} is neither a DNS name nor an IP address: ${JSON.stringify(host)}`);
  }
  return { kind: "dns", text: dns, bytes: utf8(dns) };
}

/**
 * The 4 or 16 bytes of an IPv4 (dotted quad, no leading zeros) or IPv6 (RFC 4291 §2.2 text, optionally in
 * brackets, without a zone) literal; undefined if `text` is not one.
 */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (typeof text !== "string") return undefined;
  const v4 = parseIpv4(text);
  if (v4) return v4;
  const inner = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!inner.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(inner)) return undefined;
  const halves = inner.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (i === pieces.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1);
  if (parts.some((p) => (p.length > 1 && p[0] === "0") || Number(p) > 255)) return undefined;
  return Uint8Array.from(parts.map(Number));
}

/** An address's text: dotted IPv4, or IPv6 as RFC 5952 §4 recommends (lower case, longest zero run as ::). */
export function formatIpAddress(bytes: Uint8Array): string {
  checkBytes(bytes, "address", 4, 16);
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/**
 * True if `host` (a DNS name, compared case-insensitively and without a trailing dot, or an IP literal)
 * is exactly one of the certificate's subjectAltName entries. Wildcards are not expanded.
 */
export function certificateMatchesHost(cert: Certificate, host: string): boolean {
  const ip = parseIpAddress(host);
  if (ip) return cert.ipAddresses.includes(formatIpAddress(ip));
  const dns = String(host).toLowerCase().replace(/\.$/, "");
  return cert.dnsNames.some((n) => n.toLowerCase() === dns);
}

// ---- parsing ----------------------------------------------------------------------------------------

/**
 * Parses a DER certificate strictly: one element with no trailing bytes, minimal DER lengths, X.509 v3,
 * an ECDSA signature algorithm (the same inside and outside tbsCertificate), an EC key on P-256, P-384 or
 * P-521 (validated), well-formed times, no duplicate extensions and no critical extension it does not
 * understand. It does not check the signature or the dates against a clock. Throws a RangeError whose
 * message begins "invalid certificate:".
 */
export function parseCertificate(der: Uint8Array): Certificate {
  checkBytes(der, "certificate");
  try {
    return parseStrict(der.slice());
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`invalid certificate: ${e.message}`);
    throw e;
  }
}

function parseStrict(der: Uint8Array): Certificate {
  if (der.length > MAX_CERTIFICATE_BYTES) throw new RangeError(`longer than ${MAX_CERTIFICATE_BYTES} bytes`);
  const outer = parseSingle(der, TAG.SEQUENCE, "Certificate");
  const [tbsEl, algEl, sigEl, ...extra] = readChildren(outer.value);
  if (!sigEl || extra.length) throw new RangeError("a Certificate has 3 elements");
  expectTag(tbsEl, TAG.SEQUENCE, "tbsCertificate");
  const signatureAlgorithm = readSignatureAlgorithm(algEl, "signatureAlgorithm");
  expectTag(sigEl, TAG.BIT_STRING, "signatureValue");
  if (sigEl.value.length < 1 || sigEl.value[0] !== 0) throw new RangeError("signatureValue has unused bits");
  const signature = sigEl.value.subarray(1);
  // Strict DER SEQUENCE of two positive INTEGERs no wider than the largest curve's order.
  p521.signatureFromDer(signature);

  const fields = readChildren(tbsEl.value);
  let i = 0;
  const next = (what: string): DerElement => {
    const el = fields[i++];
    if (!el) throw new RangeError(`tbsCertificate ends before ${what}`);
    return el;
  };
  const version = next("version");
  expectTag(version, VERSION_TAG, "the [0] version (only X.509 v3 is supported)");
  const v = parseSingle(version.value, TAG.INTEGER, "version");
  if (v.value.length !== 1 || v.value[0] !== 2) {
    throw new RangeError("only X.509 v3 certificates are supported");
  }
  const serialNumber = readUnsignedInteger(expectTag(next("serialNumber"), TAG.INTEGER, "serialNumber"));
  if (serialNumber.length > 20) throw new RangeError("serialNumber is longer than 20 octets");
  const innerAlgEl = next("signature");
  readSignatureAlgorithm(innerAlgEl, "signature");
  if (!equalBytes(bytesOf(tbsEl.value, innerAlgEl), bytesOf(outer.value, algEl))) {
    throw new RangeError("the signature algorithms inside and outside tbsCertificate differ");
  }
  const issuerEl = checkName(next("issuer"), "issuer");
  const validity = expectTag(next("validity"), TAG.SEQUENCE, "validity");
  const times = readChildren(validity.value);
  if (times.length !== 2) throw new RangeError("validity has 2 elements");
  const notBefore = readTime(times[0], "notBefore");
  const notAfter = readTime(times[1], "notAfter");
  const subjectEl = checkName(next("subject"), "subject");
  const spkiEl = expectTag(next("subjectPublicKeyInfo"), TAG.SEQUENCE, "subjectPublicKeyInfo");
  const spki = bytesOf(tbsEl.value, spkiEl);
  const info = parseSpki(spki);
  if (info.algorithm !== OID_EC_PUBLIC_KEY) {
    throw new RangeError(`unsupported key algorithm ${info.algorithm}`);
  }
  const curve = info.namedCurve === undefined ? undefined : CURVES.get(info.namedCurve);
  if (!curve) throw new RangeError(`unsupported key parameters (curve ${info.namedCurve ?? "not named"})`);
  curve.decodePoint(info.publicKey, "the certificate's public key");

  let el = fields[i];
  if (el && (el.tag === ISSUER_UID_TAG || el.tag === SUBJECT_UID_TAG)) {
    throw new RangeError("issuer/subject unique identifiers are not supported");
  }
  const ext = { dnsNames: [] as string[], ipAddresses: [] as string[], isCA: false };
  if (el) {
    expectTag(el, EXTENSIONS_TAG, "the [3] extensions");
    readExtensions(parseSingle(el.value, TAG.SEQUENCE, "extensions").value, ext);
    el = fields[++i];
  }
  if (el) {
    throw new RangeError(`unexpected element (tag 0x${el.tag.toString(16)}) at the end of tbsCertificate`);
  }

  return {
    der,
    tbs: bytesOf(outer.value, tbsEl),
    serialNumber,
    issuer: bytesOf(tbsEl.value, issuerEl),
    subject: bytesOf(tbsEl.value, subjectEl),
    spki,
    publicKey: info.publicKey,
    namedCurve: curve.oid,
    notBefore,
    notAfter,
    dnsNames: ext.dnsNames,
    ipAddresses: ext.ipAddresses,
    signatureAlgorithm,
    signature,
    isCA: ext.isCA,
  };
}

/** The whole TLV of a child element, as a view of its parent's contents. */
function bytesOf(parent: Uint8Array, el: DerElement): Uint8Array {
  return parent.subarray(el.start, el.end);
}

function expectTag(el: DerElement | undefined, tag: number, what: string): DerElement {
  if (!el) throw new RangeError(`${what} is missing`);
  if (el.tag !== tag) {
    throw new RangeError(`expected ${what} (tag 0x${tag.toString(16)}), got 0x${el.tag.toString(16)}`);
  }
  return el;
}

/** An ECDSA AlgorithmIdentifier: the OID alone, with no parameters (RFC 5758 §3.2). */
function readSignatureAlgorithm(el: DerElement | undefined, what: string): string {
  expectTag(el, TAG.SEQUENCE, what);
  const parts = readChildren(el!.value);
  if (parts.length !== 1) throw new RangeError(`${what}: ECDSA takes no parameters`);
  const oid = readOid(parts[0]);
  if (!SIGNATURE_HASHES.has(oid)) throw new RangeError(`${what}: unsupported algorithm ${oid}`);
  return oid;
}

/** A Name: SEQUENCE OF non-empty SET OF SEQUENCE { OID, value }. Its contents are not interpreted. */
function checkName(el: DerElement, what: string): DerElement {
  expectTag(el, TAG.SEQUENCE, what);
  let count = 0;
  for (const rdn of readChildren(el.value)) {
    expectTag(rdn, TAG.SET, `${what} RelativeDistinguishedName`);
    const atvs = readChildren(rdn.value);
    if (atvs.length === 0) throw new RangeError(`${what} has an empty RelativeDistinguishedName`);
    for (const atv of atvs) {
      if (++count > MAX_NAME_ATTRIBUTES) throw new RangeError(`${what} has too many attributes`);
      expectTag(atv, TAG.SEQUENCE, `${what} AttributeTypeAndValue`);
      const [type, value, ...more] = readChildren(atv.value);
      if (!value || more.length) throw new RangeError(`${what}: an attribute has 2 elements`);
      readOid(type);
    }
  }
  return el;
}

/** UTCTime "YYMMDDHHMMSSZ" (years 1950–2049) or GeneralizedTime "YYYYMMDDHHMMSSZ" (RFC 5280 §4.1.2.5). */
function readTime(el: DerElement, what: string): Date {
  const text = String.fromCharCode(...el.value);
  let m: RegExpExecArray | null;
  let year: number;
  if (el.tag === TAG.UTC_TIME && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
    year = Number(m[1]);
    year += year < 50 ? 2000 : 1900;
  } else if (el.tag === TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text))) {
    year = Number(m[1]);
  } else {
    throw new RangeError(`${what} is not a UTCTime or GeneralizedTime of the form RFC 5280 requires`);
  }
  const [month, day, hour, minute, second] = m.slice(2).map(Number);
  const t = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(t);
  if (
    d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || hour > 23 ||
    minute > 59 || second > 59
  ) {
    throw new RangeError(`${what} is not a valid date: ${text}`);
  }
  return d;
}

function readExtensions(
  value: Uint8Array,
  out: { dnsNames: string[]; ipAddresses: string[]; isCA: boolean },
): void {
  const list = readChildren(value);
  if (list.length === 0) throw new RangeError("extensions must not be empty");
  if (list.length > MAX_EXTENSIONS) throw new RangeError("too many extensions");
  const seen = new Set<string>();
  for (const item of list) {
    expectTag(item, TAG.SEQUENCE, "Extension");
    const parts = readChildren(item.value);
    const oid = readOid(expectTag(parts[0], TAG.OID, "extnID"));
    let critical = false;
    let k = 1;
    if (parts[k]?.tag === BOOLEAN) {
      // DER: DEFAULT FALSE is omitted, so a present `critical` must be TRUE, encoded as 0xff.
      if (parts[k].value.length !== 1 || parts[k].value[0] !== 0xff) {
        throw new RangeError(`extension ${oid}: critical must be omitted or TRUE (0xff)`);
      }
      critical = true;
      k++;
    }
    const body = expectTag(parts[k], TAG.OCTET_STRING, `extension ${oid} extnValue`).value;
    if (parts.length !== k + 1) throw new RangeError(`extension ${oid} has extra elements`);
    if (seen.has(oid)) throw new RangeError(`extension ${oid} appears twice`);
    seen.add(oid);
    if (oid === OID_SUBJECT_ALT_NAME) readSubjectAltName(body, out);
    else if (oid === OID_BASIC_CONSTRAINTS) out.isCA = readBasicConstraints(body);
    else if (oid === OID_KEY_USAGE) parseSingle(body, TAG.BIT_STRING, "keyUsage");
    else if (oid === OID_EXT_KEY_USAGE) parseSingle(body, TAG.SEQUENCE, "extKeyUsage");
    else if (critical) throw new RangeError(`unsupported critical extension ${oid}`);
  }
}

function readSubjectAltName(body: Uint8Array, out: { dnsNames: string[]; ipAddresses: string[] }): void {
  const names = readChildren(parseSingle(body, TAG.SEQUENCE, "subjectAltName").value);
  if (names.length === 0) throw new RangeError("subjectAltName is empty");
  if (names.length > MAX_SAN_ENTRIES) throw new RangeError("subjectAltName has too many entries");
  for (const gn of names) {
    if (gn.tag === DNS_NAME_TAG) {
      const v = gn.value;
      if (v.length === 0 || v.length > MAX_DNS_NAME || v.some((b) => b < 0x21 || b > 0x7e)) {
        throw new RangeError("subjectAltName has a malformed dNSName");
      }
      out.dnsNames.push(String.fromCharCode(...v));
    } else if (gn.tag === IP_ADDRESS_TAG) {
      if (gn.value.length !== 4 && gn.value.length !== 16) {
        throw new RangeError("subjectAltName has an iPAddress that is not 4 or 16 bytes");
      }
      out.ipAddresses.push(formatIpAddress(gn.value));
    }
    // Other GeneralName forms (e-mail, URI, directoryName, ...) are allowed and ignored.
  }
}

/** basicConstraints: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
function readBasicConstraints(body: Uint8Array): boolean {
  const parts = readChildren(parseSingle(body, TAG.SEQUENCE, "basicConstraints").value);
  let k = 0;
  let isCA = false;
  if (parts[k]?.tag === BOOLEAN) {
    if (parts[k].value.length !== 1 || parts[k].value[0] !== 0xff) {
      throw new RangeError("basicConstraints: cA must be omitted or TRUE (0xff)");
    }
    isCA = true;
    k++;
  }
  if (parts[k]?.tag === TAG.INTEGER) readUnsignedInteger(parts[k++]);
  if (k !== parts.length) throw new RangeError("basicConstraints has unexpected elements");
  return isCA;
}

// ---- signatures and pins ----------------------------------------------------------------------------

/**
 * True if the certificate is self-issued (issuer and subject byte-identical) and its signature verifies
 * under its own public key, with the hash its signature algorithm names (any of the three on any of the
 * three curves). Never throws for a parsed certificate.
 */
export function verifySelfSignature(cert: Certificate): boolean {
  const curve = CURVES.get(cert.namedCurve);
  const hashName = SIGNATURE_HASHES.get(cert.signatureAlgorithm);
  if (!curve || !hashName || !equalBytes(cert.issuer, cert.subject)) return false;
  let rs: Uint8Array;
  try {
    rs = curve.signatureFromDer(cert.signature);
  } catch {
    return false;
  }
  return curve.verifyDigest(cert.publicKey, hash(hashName, cert.tbs), rs);
}

/**
 * The pin of a SubjectPublicKeyInfo: unpadded base64url of SHA-256 over its DER (43 characters), the
 * value of `openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64` in the URL alphabet.
 */
export function spkiPin(spkiDer: Uint8Array): string {
  checkBytes(spkiDer, "spkiDer");
  try {
    parseSingle(spkiDer, TAG.SEQUENCE, "SubjectPublicKeyInfo");
  } catch (e) {
    throw new RangeError(`spkiDer is not one DER SubjectPublicKeyInfo: ${(e as Error).message}`);
  }
  return sha256(spkiDer).toBase64({ alphabet: "base64url", omitPadding: true });
}

/** The pin of a DER certificate's key (see spkiPin); it does not change when the certificate is re-issued. */
export function certificatePin(certDer: Uint8Array): string {
  return spkiPin(parseCertificate(certDer).spki);
}

/** True if `pin` has the form of a pin: 43 base64url characters encoding 32 bytes. */
export function isPin(pin: unknown): pin is string {
  return typeof pin === "string" && /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(pin);
}
