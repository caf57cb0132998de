// TLS 1.3 handshake messages and extensions (RFC 8446 §4): encoders for what we send and strict parsers
// for what we receive. Parsers throw a TlsError: decode_error for malformed bytes, illegal_parameter for
// well-formed values that the protocol forbids.

import { Alert, fail } from "./alert.ts";
import { Reader, Writer } from "./codec.ts";

/** Handshake message types (RFC 8446 §4). */
export const HandshakeType = {
  client_hello: 1,
  server_hello: 2,
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  certificate_request: 13,
  certificate_verify: 15,
  finished: 20,
  key_update: 24,
  message_hash: 254,
} as const;

/** Extension types (RFC 8446 §4.2) that this implementation reads or writes. */
export const ExtensionType = {
  server_name: 0,
  supported_groups: 10,
  signature_algorithms: 13,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  certificate_authorities: 47,
  oid_filters: 48,
  post_handshake_auth: 49,
  signature_algorithms_cert: 50,
  key_share: 51,
} as const;

/** legacy_version and the TLS 1.3 code point (RFC 8446 §4.1.2, §4.2.1). */
export const TLS12 = 0x0303;
export const TLS13 = 0x0304;

/** The random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3). */
export const HRR_RANDOM = Uint8Array.from([
  0xcf,
  0x21,
  0xad,
  0x74,
  0xe5,
  0x9a,
  0x61,
  0x11,
  0xbe,
  0x1d,
  0x8c,
  0x02,
  0x1e,
  0x65,
  0xb8,
  0x91,
  0xc2,
  0xa2,
  0x11,
  0x16,
  0x7a,
  0xbb,
  0x8c,
  0x5e,
  0x07,
  0x9e,
  0x09,
  0xe2,
  0xc8,
  0xa8,
  0x33,
  0x9c,
]);

/** An extension block as an ordered list; parsers also give it as a map (duplicates are refused). */
export type Extensions = [type: number, data: Uint8Array][];

/** A handshake message: type ‖ uint24 length ‖ body. */
export function handshakeMessage(type: number, body: Uint8Array): Uint8Array {
  if (body.length > 0xffffff) throw new RangeError("handshake message too long");
  const out = new Uint8Array(4 + body.length);
  out[0] = type;
  out[1] = body.length >>> 16;
  out[2] = (body.length >>> 8) & 0xff;
  out[3] = body.length & 0xff;
  out.set(body, 4);
  return out;
}

/** The synthetic message_hash message that replaces ClientHello1 after a HelloRetryRequest (§4.4.1). */
export function messageHash(clientHello1Hash: Uint8Array): Uint8Array {
  return handshakeMessage(HandshakeType.message_hash, clientHello1Hash);
}

function writeExtensions(w: Writer, extensions: Extensions): void {
  w.vec(2, () => {
    for (const [type, data] of extensions) w.u16(type).vecBytes(2, data);
  });
}

/** Parses an extension block (the u16 vector itself); a repeated type is an illegal_parameter (§4.2). */
export function parseExtensions(r: Reader): Map<number, Uint8Array> {
  const block = new Reader(r.vec16());
  const out = new Map<number, Uint8Array>();
  while (block.remaining > 0) {
    const type = block.u16();
    const data = block.vec16();
    if (out.has(type)) fail(Alert.illegal_parameter, `extension ${type} appears twice`);
    out.set(type, data);
  }
  return out;
}

// ---- ClientHello and ServerHello ---------------------------------------------------------------------

export interface ClientHello {
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuites: number[];
  /** In order of appearance; `extensionMap` holds the same. */
  extensions: Extensions;
}

export interface ParsedClientHello extends ClientHello {
  legacyVersion: number;
  extensionMap: Map<number, Uint8Array>;
  /** The type of the last extension (pre_shared_key must be last, §4.2.11). */
  lastExtension: number | undefined;
}

export function encodeClientHello(ch: ClientHello): Uint8Array {
  const w = new Writer();
  w.u16(TLS12).bytes(ch.random).vecBytes(1, ch.sessionId);
  w.vec(2, () => ch.cipherSuites.forEach((s) => w.u16(s)));
  w.vecBytes(1, Uint8Array.of(0));
  writeExtensions(w, ch.extensions);
  return handshakeMessage(HandshakeType.client_hello, w.finish());
}

/** Parses a ClientHello body. Compression methods other than exactly [null] are illegal (§4.1.2). */
export function parseClientHello(body: Uint8Array): ParsedClientHello {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32).slice();
  const sessionId = r.vec8(0, 32).slice();
  const suites = new Reader(r.vec16(2, 0xfffe));
  const cipherSuites: number[] = [];
  while (suites.remaining > 0) cipherSuites.push(suites.u16());
  const compression = r.vec8(1);
  if (compression.length !== 1 || compression[0] !== 0) {
    fail(Alert.illegal_parameter, "ClientHello compression methods must be exactly [null]");
  }
  // A hello without extensions is TLS 1.2 or older: no supported_versions, so protocol_version later.
  const extensionMap = r.remaining > 0 ? parseExtensions(r) : new Map<number, Uint8Array>();
  r.end("ClientHello");
  const extensions: Extensions = [...extensionMap];
  return {
    legacyVersion,
    random,
    sessionId,
    cipherSuites,
    extensions,
    extensionMap,
    lastExtension: extensions.at(-1)?.[0],
  };
}

export interface ServerHello {
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuite: number;
  extensions: Extensions;
}

export interface ParsedServerHello extends ServerHello {
  legacyVersion: number;
  extensionMap: Map<number, Uint8Array>;
  /** True if the random is the HelloRetryRequest value. */
  isRetry: boolean;
}

/** A ServerHello, or a HelloRetryRequest when `random` is HRR_RANDOM. */
export function encodeServerHello(sh: ServerHello): Uint8Array {
  const w = new Writer();
  w.u16(TLS12).bytes(sh.random).vecBytes(1, sh.sessionId).u16(sh.cipherSuite).u8(0);
  writeExtensions(w, sh.extensions);
  return handshakeMessage(HandshakeType.server_hello, w.finish());
}

export function parseServerHello(body: Uint8Array): ParsedServerHello {
  const r = new Reader(body);
  const legacyVersion = r.u16();
  const random = r.bytes(32).slice();
  const sessionId = r.vec8(0, 32).slice();
  const cipherSuite = r.u16();
  const compression = r.u8();
  if (compression !== 0) fail(Alert.illegal_parameter, "ServerHello compression method must be null");
  const extensionMap = r.remaining > 0 ? parseExtensions(r) : new Map<number, Uint8Array>();
  r.end("ServerHello");
  let isRetry = true;
  for (let i = 0; i < 32; i++) if (random[i] !== HRR_RANDOM[i]) isRetry = false;
  return {
    legacyVersion,
    random,
    sessionId,
    cipherSuite,
    extensions: [...extensionMap],
    extensionMap,
    isRetry,
  };
}

// ---- extension bodies ------------------------------------------------------------------------------

/** A list of u16 values with a u16 byte length (supported_groups, signature_algorithms). */
export function encodeU16List(values: number[]): Uint8Array {
  const w = new Writer();
  w.vec(2, () => values.forEach((v) => w.u16(v)));
  return w.finish();
}

export function parseU16List(data: Uint8Array, what: string): number[] {
  const r = new Reader(data);
  const list = new Reader(r.vec16(2, 0xfffe));
  r.end(what);
  if (list.remaining % 2) fail(Alert.decode_error, `${what} has an odd length`);
  const out: number[] = [];
  while (list.remaining > 0) out.push(list.u16());
  return out;
}

/** supported_versions in a ClientHello: a u8-length list of versions. */
export function encodeClientVersions(versions: number[]): Uint8Array {
  const w = new Writer();
  w.vec(1, () => versions.forEach((v) => w.u16(v)));
  return w.finish();
}

export function parseClientVersions(data: Uint8Array): number[] {
  const r = new Reader(data);
  const list = new Reader(r.vec8(2, 254));
  r.end("supported_versions");
  if (list.remaining % 2) fail(Alert.decode_error, "supported_versions has an odd length");
  const out: number[] = [];
  while (list.remaining > 0) out.push(list.u16());
  return out;
}

/** A single u16 (supported_versions in a ServerHello, key_share in a HelloRetryRequest). */
export function encodeU16(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff);
}

export function parseU16(data: Uint8Array, what: string): number {
  const r = new Reader(data);
  const v = r.u16();
  r.end(what);
  return v;
}

export interface KeyShareEntry {
  group: number;
  keyExchange: Uint8Array;
}

/** key_share in a ClientHello: client_shares<0..2^16-1>. */
export function encodeClientKeyShares(entries: KeyShareEntry[]): Uint8Array {
  const w = new Writer();
  w.vec(2, () => entries.forEach((e) => w.u16(e.group).vecBytes(2, e.keyExchange)));
  return w.finish();
}

/** Parses client_shares; a repeated group is an illegal_parameter (§4.2.8). */
export function parseClientKeyShares(data: Uint8Array): KeyShareEntry[] {
  const r = new Reader(data);
  const list = new Reader(r.vec16());
  r.end("key_share");
  const out: KeyShareEntry[] = [];
  while (list.remaining > 0) {
    const group = list.u16();
    const keyExchange = list.vec16(1);
    if (out.some((e) => e.group === group)) fail(Alert.illegal_parameter, `key_share repeats group ${group}`);
    out.push({ group, keyExchange });
  }
  return out;
}

/** key_share in a ServerHello: one KeyShareEntry. */
export function encodeServerKeyShare(entry: KeyShareEntry): Uint8Array {
  const w = new Writer();
  w.u16(entry.group).vecBytes(2, entry.keyExchange);
  return w.finish();
}

export function parseServerKeyShare(data: Uint8Array): KeyShareEntry {
  const r = new Reader(data);
  const group = r.u16();
  const keyExchange = r.vec16(1);
  r.end("key_share");
  return { group, keyExchange };
}

/** server_name in a ClientHello: one host_name entry (RFC 6066 §3). */
export function encodeServerName(host: string): Uint8Array {
  const name = new TextEncoder().encode(host);
  const w = new Writer();
  w.vec(2, () => w.u8(0).vecBytes(2, name));
  return w.finish();
}

/** The host_name of a server_name extension, or null if it has none. */
export function parseServerName(data: Uint8Array): string | null {
  const r = new Reader(data);
  const list = new Reader(r.vec16(1));
  r.end("server_name");
  let host: string | null = null;
  while (list.remaining > 0) {
    const type = list.u8();
    const name = list.vec16(1);
    if (type === 0) {
      if (host !== null) fail(Alert.illegal_parameter, "server_name has two host names");
      host = new TextDecoder("utf-8", { fatal: false }).decode(name);
    }
  }
  return host;
}

/** cookie: opaque cookie<1..2^16-1>. */
export function parseCookie(data: Uint8Array): Uint8Array {
  const r = new Reader(data);
  const cookie = r.vec16(1);
  r.end("cookie");
  return cookie.slice();
}

// ---- the server's flight ---------------------------------------------------------------------------

export function encodeEncryptedExtensions(extensions: Extensions): Uint8Array {
  const w = new Writer();
  writeExtensions(w, extensions);
  return handshakeMessage(HandshakeType.encrypted_extensions, w.finish());
}

export function parseEncryptedExtensions(body: Uint8Array): Map<number, Uint8Array> {
  const r = new Reader(body);
  const map = parseExtensions(r);
  r.end("EncryptedExtensions");
  return map;
}

export interface CertificateEntry {
  data: Uint8Array;
  extensions: Map<number, Uint8Array>;
}

/** A Certificate message with an empty request context and no per-entry extensions (§4.4.2). */
export function encodeCertificate(chain: Uint8Array[], context: Uint8Array = new Uint8Array(0)): Uint8Array {
  const w = new Writer();
  w.vecBytes(1, context);
  w.vec(3, () => {
    for (const cert of chain) w.vecBytes(3, cert).u16(0);
  });
  return handshakeMessage(HandshakeType.certificate, w.finish());
}

export function parseCertificateMessage(
  body: Uint8Array,
): { context: Uint8Array; entries: CertificateEntry[] } {
  const r = new Reader(body);
  const context = r.vec8();
  const list = new Reader(r.vec24());
  r.end("Certificate");
  const entries: CertificateEntry[] = [];
  while (list.remaining > 0) {
    const data = list.vec24(1).slice();
    entries.push({ data, extensions: parseExtensions(list) });
  }
  return { context, entries };
}

/** CertificateVerify: SignatureScheme ‖ opaque signature<0..2^16-1>. */
export function encodeCertificateVerify(scheme: number, signature: Uint8Array): Uint8Array {
  const w = new Writer();
  w.u16(scheme).vecBytes(2, signature);
  return handshakeMessage(HandshakeType.certificate_verify, w.finish());
}

export function parseCertificateVerify(body: Uint8Array): { scheme: number; signature: Uint8Array } {
  const r = new Reader(body);
  const scheme = r.u16();
  const signature = r.vec16();
  r.end("CertificateVerify");
  return { scheme, signature };
}

/** CertificateRequest: certificate_request_context ‖ extensions (signature_algorithms required, §4.3.2). */
export function parseCertificateRequest(
  body: Uint8Array,
): { context: Uint8Array; extensions: Map<number, Uint8Array> } {
  const r = new Reader(body);
  const context = r.vec8().slice();
  const extensions = parseExtensions(r);
  r.end("CertificateRequest");
  if (!extensions.has(ExtensionType.signature_algorithms)) {
    fail(Alert.missing_extension, "CertificateRequest without signature_algorithms");
  }
  return { context, extensions };
}

export function encodeFinished(verifyData: Uint8Array): Uint8Array {
  return handshakeMessage(HandshakeType.finished, verifyData);
}

/** NewSessionTicket (§4.6.1): checked for shape only, since we never resume. */
export function checkNewSessionTicket(body: Uint8Array): void {
  const r = new Reader(body);
  r.bytes(8); // ticket_lifetime, ticket_age_add
  r.vec8();
  r.vec16(1);
  parseExtensions(r);
  r.end("NewSessionTicket");
}

/** KeyUpdate (§4.6.3): 0 = update_not_requested, 1 = update_requested; anything else is illegal. */
export function encodeKeyUpdate(requestUpdate: boolean): Uint8Array {
  return handshakeMessage(HandshakeType.key_update, Uint8Array.of(requestUpdate ? 1 : 0));
}

export function parseKeyUpdate(body: Uint8Array): boolean {
  if (body.length !== 1) fail(Alert.decode_error, "KeyUpdate must be one byte");
  if (body[0] > 1) fail(Alert.illegal_parameter, `KeyUpdate request_update ${body[0]}`);
  return body[0] === 1;
}

/** Throws unexpected_message unless a handshake message has the type the state machine is waiting for. */
export function expectMessage(type: number, wanted: number): void {
  if (type !== wanted) {
    fail(Alert.unexpected_message, `handshake message type ${type} where ${wanted} was due`);
  }
}
