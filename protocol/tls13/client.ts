// The TLS 1.3 client state machine (RFC 8446 §2, §4): one ClientHello (compatibility mode: a random
// session id and a change_cipher_spec), a HelloRetryRequest followed at most once, a hybrid ECDHE + ML-KEM
// group or plain ECDHE (groups.ts), the server authenticated by its certificate (which the application
// pins) and an ecdsa_secp521r1_sha512 CertificateVerify, then Finished in both directions. No PSK, 0-RTT
// or client certificate: a CertificateRequest is answered with an empty Certificate. Sans-I/O, see
// engine.ts.

import { checkBytes, equalBytes, wipe } from "../../crypto/bytes.ts";
import { p521 } from "../../crypto/p521.ts";
import { Alert, fail } from "./alert.ts";
import { type EngineOptions, TlsEngine } from "./engine.ts";
import {
  AP_LABELS,
  deriveSecrets,
  finishedVerifyData,
  handshakeSecret,
  HS_LABELS,
  masterSecret,
} from "./key_schedule.ts";
import {
  type ClientHello,
  encodeCertificate,
  encodeClientHello,
  encodeClientKeyShares,
  encodeClientVersions,
  encodeFinished,
  encodeServerName,
  encodeU16List,
  expectMessage,
  type Extensions,
  ExtensionType,
  HandshakeType,
  parseCertificateMessage,
  parseCertificateRequest,
  parseCertificateVerify,
  parseCookie,
  type ParsedServerHello,
  parseEncryptedExtensions,
  parseServerHello,
  parseServerKeyShare,
  parseU16,
  parseU16List,
  TLS12,
  TLS13,
} from "./messages.ts";
import {
  certificateVerifyContent,
  CIPHER_SUITES,
  type CipherSuite,
  ECDSA_SECP521R1_SHA512,
  pick,
} from "./suites.ts";
import { GROUPS, type NamedGroup } from "./groups.ts";
import { Transcript } from "./transcript.ts";
import { parseCertificate } from "./x509.ts";

/** Client configuration. */
export interface TlsClientOptions extends EngineOptions {
  /**
   * Decides whether to trust the server: called with the end-entity certificate (DER) and its
   * SubjectPublicKeyInfo (DER), typically to compare a pin. Throwing aborts with bad_certificate. The
   * client still verifies the CertificateVerify and Finished, which prove the server holds the key.
   */
  verifyPeer: (certificateDer: Uint8Array, spkiDer: Uint8Array) => void;
  /** The host name to send as server_name (never sent for IP literals). */
  serverName?: string;
  /**
   * Cipher suites to offer, in order of preference (default: AES-256-GCM-SHA384,
   * ChaCha20-Poly1305, AES-128-GCM-SHA256).
   */
  cipherSuites?: number[];
  /**
   * Groups for supported_groups, in order of preference (default: SecP384r1MLKEM1024, SecP256r1MLKEM768,
   * secp521r1, secp384r1, secp256r1).
   */
  groups?: number[];
  /**
   * Groups to send key shares for in the first ClientHello (default: the first of `groups` only; a server
   * without it asks for another with a HelloRetryRequest).
   */
  keyShareGroups?: number[];
  /** Send a random session id and a change_cipher_spec (RFC 8446 §D.4; default true). */
  compatibilityMode?: boolean;
}

const enum State {
  Start,
  ServerHello,
  EncryptedExtensions,
  CertificateOrRequest,
  Certificate,
  CertificateVerify,
  Finished,
  Done,
}

/** Extensions a ServerHello (or a HelloRetryRequest) may carry in answer to our ClientHello. */
const SERVER_HELLO_EXTENSIONS = new Set<number>([ExtensionType.supported_versions, ExtensionType.key_share]);
const RETRY_EXTENSIONS = new Set<number>([...SERVER_HELLO_EXTENSIONS, ExtensionType.cookie]);
/** Extensions RFC 8446 §4.2 does not allow in EncryptedExtensions (illegal_parameter if they appear). */
const NOT_IN_ENCRYPTED_EXTENSIONS = new Set<number>([
  ExtensionType.signature_algorithms,
  ExtensionType.pre_shared_key,
  ExtensionType.supported_versions,
  ExtensionType.cookie,
  ExtensionType.psk_key_exchange_modes,
  ExtensionType.certificate_authorities,
  ExtensionType.oid_filters,
  ExtensionType.post_handshake_auth,
  ExtensionType.signature_algorithms_cert,
  ExtensionType.key_share,
]);

/** A TLS 1.3 client connection. Call `start()` to produce the ClientHello, then exchange bytes. */
export class TlsClient extends TlsEngine {
  readonly #verifyPeer: (certificateDer: Uint8Array, spkiDer: Uint8Array) => void;
  readonly #suites: CipherSuite[];
  readonly #groups: NamedGroup[];
  readonly #firstShares: NamedGroup[];
  readonly #compat: boolean;
  readonly #sni: string | null;
  readonly #transcript = new Transcript();

  #state = State.Start;
  #sessionId: Uint8Array = new Uint8Array(0);
  #hello: ClientHello | null = null;
  #firstHello: Uint8Array | null = null;
  /** Our ephemeral key pairs by group: what the current ClientHello shares. */
  #shares = new Map<number, { secretKey: Uint8Array; share: Uint8Array }>();
  #ccsSent = false;
  #handshakeSecret: Uint8Array | null = null;
  #clientHs: Uint8Array | null = null;
  #serverHs: Uint8Array | null = null;
  #serverKey: Uint8Array | null = null;
  #certificateRequest: Uint8Array | null = null;

  constructor(options: TlsClientOptions) {
    super(options);
    if (typeof options.verifyPeer !== "function") throw new TypeError("verifyPeer must be a function");
    this.#verifyPeer = options.verifyPeer;
    this.#suites = pick(options.cipherSuites, CIPHER_SUITES, "cipherSuites");
    this.#groups = pick(options.groups, GROUPS, "groups");
    this.#firstShares = options.keyShareGroups === undefined
      ? [this.#groups[0]]
      : pick(options.keyShareGroups, GROUPS, "keyShareGroups");
    if (this.#firstShares.some((g) => !this.#groups.includes(g))) {
      throw new RangeError("keyShareGroups must be among groups");
    }
    this.#compat = options.compatibilityMode ?? true;
    if (typeof this.#compat !== "boolean") throw new TypeError("compatibilityMode must be a boolean");
    const name = options.serverName;
    if (name !== undefined && typeof name !== "string") throw new TypeError("serverName must be a string");
    if (name !== undefined && (name.length === 0 || name.length > 253)) {
      throw new RangeError("serverName must be 1 to 253 characters long");
    }
    this.#sni = name !== undefined && !isIpLiteral(name) ? name : null;
    this.serverName = this.#sni;
  }

  /** Queues the first ClientHello (take it with `takeOutput`). Call once. */
  start(): void {
    this.step(() => {
      if (this.#state !== State.Start) throw new Error("TLS: start() called twice");
      this.clientRandom = this.#randomBytes(32);
      this.#sessionId = this.#compat ? this.#randomBytes(32) : new Uint8Array(0);
      for (const g of this.#firstShares) this.#shares.set(g.id, g.keyShare(this.random));
      const extensions: Extensions = [];
      if (this.#sni) extensions.push([ExtensionType.server_name, encodeServerName(this.#sni)]);
      extensions.push(
        [ExtensionType.supported_groups, encodeU16List(this.#groups.map((g) => g.id))],
        [ExtensionType.signature_algorithms, encodeU16List([ECDSA_SECP521R1_SHA512])],
        [ExtensionType.supported_versions, encodeClientVersions([TLS13])],
        [ExtensionType.key_share, this.#keyShares()],
      );
      this.#hello = {
        random: this.clientRandom,
        sessionId: this.#sessionId,
        cipherSuites: this.#suites.map((s) => s.id),
        extensions,
      };
      const message = encodeClientHello(this.#hello);
      this.#firstHello = message;
      this.#transcript.add(message);
      this.sendHandshake(message);
      this.recordVersion = 0x0301;
      this.acceptChangeCipherSpec = true;
      this.#state = State.ServerHello;
    });
  }

  protected isClient(): boolean {
    return true;
  }

  protected handleHandshake(type: number, body: Uint8Array, message: Uint8Array): void {
    switch (this.#state) {
      case State.ServerHello:
        expectMessage(type, HandshakeType.server_hello);
        return this.#serverHello(parseServerHello(body), message);
      case State.EncryptedExtensions:
        expectMessage(type, HandshakeType.encrypted_extensions);
        return this.#encryptedExtensions(body, message);
      case State.CertificateOrRequest:
        if (type === HandshakeType.certificate_request) return this.#certificateRequestMessage(body, message);
        expectMessage(type, HandshakeType.certificate);
        return this.#certificate(body, message);
      case State.Certificate:
        expectMessage(type, HandshakeType.certificate);
        return this.#certificate(body, message);
      case State.CertificateVerify:
        expectMessage(type, HandshakeType.certificate_verify);
        return this.#certificateVerify(body, message);
      case State.Finished:
        expectMessage(type, HandshakeType.finished);
        return this.#finished(body, message);
      default:
        fail(Alert.unexpected_message, `handshake message type ${type} before start()`);
    }
  }

  #serverHello(sh: ParsedServerHello, message: Uint8Array): void {
    const versions = sh.extensionMap.get(ExtensionType.supported_versions);
    if (!versions) fail(Alert.protocol_version, "the server does not speak TLS 1.3");
    // legacy_version is 0x0303 in a TLS 1.3 ServerHello (RFC 8446 §4.1.3); 0x0300 is a protocol_version
    // (Appendix D.5), and so is any other value.
    if (sh.legacyVersion !== TLS12) {
      fail(Alert.protocol_version, `ServerHello legacy_version 0x${sh.legacyVersion.toString(16)}`);
    }
    if (parseU16(versions, "supported_versions") !== TLS13) {
      fail(Alert.illegal_parameter, "the server selected a version we did not offer");
    }
    if (!equalBytes(sh.sessionId, this.#sessionId)) fail(Alert.illegal_parameter, "session id not echoed");
    const suite = this.#suites.find((s) => s.id === sh.cipherSuite);
    if (!suite) {
      fail(Alert.illegal_parameter, `the server selected cipher suite ${sh.cipherSuite}, not offered`);
    }
    const allowed = sh.isRetry ? RETRY_EXTENSIONS : SERVER_HELLO_EXTENSIONS;
    for (const type of sh.extensionMap.keys()) {
      if (!allowed.has(type)) {
        fail(Alert.unsupported_extension, `unsolicited extension ${type} in ServerHello`);
      }
    }
    if (sh.isRetry) this.#helloRetryRequest(sh, suite, message);
    else this.#acceptServerHello(sh, suite, message);
  }

  #helloRetryRequest(hrr: ParsedServerHello, suite: CipherSuite, message: Uint8Array): void {
    if (this.retried) fail(Alert.unexpected_message, "a second HelloRetryRequest");
    this.retried = true;
    const selected = hrr.extensionMap.get(ExtensionType.key_share);
    const cookie = hrr.extensionMap.get(ExtensionType.cookie);
    if (!selected && !cookie) {
      fail(Alert.illegal_parameter, "HelloRetryRequest would not change the ClientHello");
    }
    if (selected) {
      const id = parseU16(selected, "key_share");
      const group = this.#groups.find((g) => g.id === id);
      if (!group) fail(Alert.illegal_parameter, `HelloRetryRequest selects group ${id}, not offered`);
      if (this.#shares.has(id)) {
        fail(Alert.illegal_parameter, "HelloRetryRequest selects a group we already sent");
      }
      this.#wipeShares();
      this.#shares.set(id, group.keyShare(this.random));
    }
    this.suite = suite;
    this.#transcript.restartWithMessageHash(suite.hash, this.#firstHello!);
    this.#transcript.add(message);
    const hello = this.#hello!;
    const shares = this.#keyShares();
    hello.extensions = hello.extensions.map(([t, d]) => [t, t === ExtensionType.key_share ? shares : d]);
    if (cookie) {
      parseCookie(cookie); // checks its shape; the extension goes back as it came (RFC 8446 §4.2.2)
      hello.extensions.push([ExtensionType.cookie, cookie.slice()]);
    }
    if (this.#compat) this.#sendCcsOnce();
    const second = encodeClientHello(hello);
    this.#transcript.add(second);
    this.sendHandshake(second);
  }

  #acceptServerHello(sh: ParsedServerHello, suite: CipherSuite, message: Uint8Array): void {
    if (this.retried && suite !== this.suite) {
      fail(Alert.illegal_parameter, "cipher suite differs from the HelloRetryRequest");
    }
    const keyShare = sh.extensionMap.get(ExtensionType.key_share);
    if (!keyShare) fail(Alert.missing_extension, "ServerHello without key_share");
    const entry = parseServerKeyShare(keyShare);
    const mine = this.#shares.get(entry.group);
    const group = GROUPS.get(entry.group);
    if (!mine || !group) {
      fail(Alert.illegal_parameter, `the server answered group ${entry.group}, not shared`);
    }
    const shared = group.complete(mine.secretKey, entry.keyExchange);
    this.#wipeShares();
    this.suite = suite;
    this.group = group;
    if (!this.retried) this.#transcript.start(suite.hash);
    this.#transcript.add(message);
    const hash = suite.hash;
    this.#handshakeSecret = handshakeSecret(hash, shared);
    wipe(shared);
    const th = this.#transcript.digest();
    [this.#clientHs, this.#serverHs] = deriveSecrets(hash, this.#handshakeSecret, HS_LABELS, th);
    this.logSecret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", this.#clientHs);
    this.logSecret("SERVER_HANDSHAKE_TRAFFIC_SECRET", this.#serverHs);
    this.setReadSecret(suite, this.#serverHs);
    // The compatibility change_cipher_spec goes before our first protected record (RFC 8446 §D.4).
    if (this.#compat) this.#sendCcsOnce();
    this.setWriteSecret(suite, this.#clientHs);
    this.#state = State.EncryptedExtensions;
  }

  #encryptedExtensions(body: Uint8Array, message: Uint8Array): void {
    for (const [type, data] of parseEncryptedExtensions(body)) {
      if (type === ExtensionType.server_name) {
        if (!this.#sni) fail(Alert.unsupported_extension, "server_name in EncryptedExtensions was not sent");
        if (data.length !== 0) fail(Alert.decode_error, "server_name in EncryptedExtensions must be empty");
      } else if (type === ExtensionType.supported_groups) {
        parseU16List(data, "supported_groups");
      } else if (NOT_IN_ENCRYPTED_EXTENSIONS.has(type)) {
        fail(Alert.illegal_parameter, `extension ${type} is not allowed in EncryptedExtensions`);
      } else {
        fail(Alert.unsupported_extension, `unsolicited extension ${type} in EncryptedExtensions`);
      }
    }
    this.#transcript.add(message);
    this.#state = State.CertificateOrRequest;
  }

  #certificateRequestMessage(body: Uint8Array, message: Uint8Array): void {
    this.#certificateRequest = parseCertificateRequest(body).context;
    this.#transcript.add(message);
    this.#state = State.Certificate;
  }

  #certificate(body: Uint8Array, message: Uint8Array): void {
    const { context, entries } = parseCertificateMessage(body);
    if (context.length !== 0) fail(Alert.illegal_parameter, "server Certificate with a request context");
    if (entries.length === 0) fail(Alert.decode_error, "the server sent no certificate");
    for (const entry of entries) {
      if (entry.extensions.size > 0) {
        fail(Alert.unsupported_extension, "unsolicited CertificateEntry extension");
      }
    }
    const leaf = entries[0].data;
    let spki: Uint8Array, publicKey: Uint8Array, curve: string;
    try {
      ({ spki, publicKey, namedCurve: curve } = parseCertificate(leaf));
    } catch (e) {
      return fail(Alert.bad_certificate, (e as Error).message);
    }
    if (curve !== p521.oid) fail(Alert.unsupported_certificate, "the server's key is not on P-521");
    try {
      this.#verifyPeer(leaf.slice(), spki.slice());
    } catch (e) {
      fail(Alert.bad_certificate, `certificate rejected: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.peerCertificate = leaf;
    this.peerSpki = spki;
    this.#serverKey = publicKey;
    this.#transcript.add(message);
    this.#state = State.CertificateVerify;
  }

  #certificateVerify(body: Uint8Array, message: Uint8Array): void {
    const { scheme, signature } = parseCertificateVerify(body);
    if (scheme !== ECDSA_SECP521R1_SHA512) {
      fail(Alert.illegal_parameter, `signature scheme ${scheme} not offered`);
    }
    const content = certificateVerifyContent(this.#transcript.digest(), true);
    let rs: Uint8Array;
    try {
      rs = p521.signatureFromDer(signature);
    } catch {
      return fail(Alert.decrypt_error, "CertificateVerify signature is not DER");
    }
    if (!p521.verify(this.#serverKey!, content, rs)) {
      fail(Alert.decrypt_error, "CertificateVerify does not verify");
    }
    this.#transcript.add(message);
    this.#state = State.Finished;
  }

  #finished(body: Uint8Array, message: Uint8Array): void {
    const suite = this.suite!, hash = suite.hash;
    const expected = finishedVerifyData(hash, this.#serverHs!, this.#transcript.digest());
    if (body.length !== expected.length) fail(Alert.decode_error, "Finished has the wrong length");
    if (!equalBytes(body, expected)) fail(Alert.decrypt_error, "server Finished does not verify");
    this.#transcript.add(message);
    const th = this.#transcript.digest();
    const master = masterSecret(hash, this.#handshakeSecret!);
    const [clientAp, serverAp, exporter] = deriveSecrets(hash, master, AP_LABELS, th);
    this.logSecret("CLIENT_TRAFFIC_SECRET_0", clientAp);
    this.logSecret("SERVER_TRAFFIC_SECRET_0", serverAp);
    this.logSecret("EXPORTER_SECRET", exporter);
    this.setReadSecret(suite, serverAp);
    if (this.#certificateRequest) {
      const empty = encodeCertificate([], this.#certificateRequest);
      this.#transcript.add(empty);
      this.sendHandshake(empty);
    }
    this.sendHandshake(encodeFinished(finishedVerifyData(hash, this.#clientHs!, this.#transcript.digest())));
    this.setWriteSecret(suite, clientAp);
    wipe(master, clientAp, serverAp, this.#handshakeSecret!, this.#clientHs!, this.#serverHs!);
    this.#state = State.Done;
    this.completeHandshake(exporter);
  }

  #sendCcsOnce(): void {
    if (this.#ccsSent) return;
    this.#ccsSent = true;
    this.sendChangeCipherSpec();
  }

  #wipeShares(): void {
    for (const { secretKey } of this.#shares.values()) wipe(secretKey);
    this.#shares.clear();
  }

  #keyShares(): Uint8Array {
    return encodeClientKeyShares(
      [...this.#shares].map(([group, { share }]) => ({ group, keyExchange: share })),
    );
  }

  #randomBytes(n: number): Uint8Array {
    const bytes = this.random(n);
    checkBytes(bytes, `random(${n}) result`, n);
    return bytes;
  }
}

/** True for an IPv4 or IPv6 literal, which must never be sent as server_name (RFC 6066 §3). */
function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}
