// The TLS 1.3 server state machine (RFC 8446 §2, §4): reads a ClientHello, picks the cipher suite and
// the key exchange group by its own preference (the post-quantum hybrids first), sends a
// HelloRetryRequest (at most one) when the client has no share for that group, then ServerHello,
// EncryptedExtensions, Certificate, an ecdsa_secp521r1_sha512 CertificateVerify and Finished in one flight,
// and checks the client's Finished. PSK offers are ignored (a full handshake follows), 0-RTT data is
// skipped, no client certificate is requested and no NewSessionTicket is sent. Sans-I/O, see engine.ts.

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
  encodeCertificate,
  encodeCertificateVerify,
  encodeEncryptedExtensions,
  encodeFinished,
  encodeServerHello,
  encodeServerKeyShare,
  encodeU16,
  expectMessage,
  ExtensionType,
  HandshakeType,
  HRR_RANDOM,
  type KeyShareEntry,
  parseClientHello,
  parseClientKeyShares,
  parseClientVersions,
  type ParsedClientHello,
  parseServerName,
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

/** Server configuration. */
export interface TlsServerOptions extends EngineOptions {
  /** The certificate chain (DER), end-entity first; its key must be `secretKey`'s, on P-521. */
  certificateChain: Uint8Array[];
  /** The P-521 secret key (66 bytes) of the end-entity certificate. */
  secretKey: Uint8Array;
  /**
   * Cipher suites in our order of preference (default: AES-256-GCM-SHA384,
   * ChaCha20-Poly1305, AES-128-GCM-SHA256).
   */
  cipherSuites?: number[];
  /**
   * Groups in our order of preference (default: SecP384r1MLKEM1024, SecP256r1MLKEM768, secp521r1,
   * secp384r1, secp256r1).
   */
  groups?: number[];
}

const enum State {
  ClientHello,
  SecondClientHello,
  Finished,
  Done,
}

/** How many bytes of 0-RTT records (which we never accept) we skip before giving up (RFC 8446 §4.2.10). */
const EARLY_DATA_SKIP_LIMIT = 1 << 16;

interface Choice {
  suite: CipherSuite;
  group: NamedGroup;
  shares: KeyShareEntry[];
}

/** A TLS 1.3 server connection: feed it the client's bytes with `receive`. */
export class TlsServer extends TlsEngine {
  readonly #chain: Uint8Array[];
  readonly #secretKey: Uint8Array;
  readonly #suites: CipherSuite[];
  readonly #groups: NamedGroup[];
  readonly #transcript = new Transcript();

  #state = State.ClientHello;
  #firstHello: ParsedClientHello | null = null;
  #ccsSent = false;
  #clientFinished: Uint8Array | null = null;
  #clientAp: Uint8Array | null = null;
  #exporter: Uint8Array | null = null;

  constructor(options: TlsServerOptions) {
    super(options);
    const chain = options.certificateChain;
    if (!Array.isArray(chain) || chain.length === 0) {
      throw new TypeError("certificateChain must be a non-empty array of DER certificates");
    }
    chain.forEach((c, i) => checkBytes(c, `certificateChain[${i}]`));
    checkBytes(options.secretKey, "secretKey", p521.byteLength);
    this.#chain = chain.map((c) => c.slice());
    this.#secretKey = options.secretKey.slice();
    this.#suites = pick(options.cipherSuites, CIPHER_SUITES, "cipherSuites");
    this.#groups = pick(options.groups, GROUPS, "groups");
  }

  protected isClient(): boolean {
    return false;
  }

  protected handleHandshake(type: number, body: Uint8Array, message: Uint8Array): void {
    switch (this.#state) {
      case State.ClientHello:
        expectMessage(type, HandshakeType.client_hello);
        return this.#clientHello(parseClientHello(body), message);
      case State.SecondClientHello:
        expectMessage(type, HandshakeType.client_hello);
        return this.#secondClientHello(parseClientHello(body), message);
      case State.Finished:
        expectMessage(type, HandshakeType.finished);
        return this.#finished(body);
      default:
        fail(Alert.unexpected_message, `handshake message type ${type} after the handshake`);
    }
  }

  #clientHello(ch: ParsedClientHello, message: Uint8Array): void {
    this.acceptChangeCipherSpec = true;
    const choice = this.#negotiate(ch);
    const offered = choice.shares.find((s) => s.group === choice.group.id);
    if (offered) {
      this.#transcript.start(choice.suite.hash);
      this.#transcript.add(message);
      return this.#serverFlight(ch, choice.suite, choice.group, offered.keyExchange);
    }
    // No share for the group we want: ask for one (RFC 8446 §4.1.4), with a transcript that now starts
    // with message_hash(ClientHello1).
    this.retried = true;
    this.suite = choice.suite;
    this.group = choice.group;
    this.#firstHello = ch;
    this.#transcript.restartWithMessageHash(choice.suite.hash, message);
    const hrr = encodeServerHello({
      random: HRR_RANDOM,
      sessionId: ch.sessionId,
      cipherSuite: choice.suite.id,
      extensions: [
        [ExtensionType.supported_versions, encodeU16(TLS13)],
        [ExtensionType.key_share, encodeU16(choice.group.id)],
      ],
    });
    this.#transcript.add(hrr);
    this.sendHandshake(hrr);
    if (ch.sessionId.length > 0) this.#sendCcsOnce();
    // 0-RTT records sent with the first hello arrive before the second one: skip them.
    if (ch.extensionMap.has(ExtensionType.early_data)) this.earlyDataSkip = EARLY_DATA_SKIP_LIMIT;
    this.#state = State.SecondClientHello;
  }

  #secondClientHello(ch: ParsedClientHello, message: Uint8Array): void {
    this.earlyDataSkip = 0;
    const first = this.#firstHello!;
    if (!equalBytes(ch.sessionId, first.sessionId)) {
      fail(Alert.illegal_parameter, "session id changed after HelloRetryRequest");
    }
    if (ch.extensionMap.has(ExtensionType.early_data)) {
      fail(Alert.illegal_parameter, "early_data after HelloRetryRequest");
    }
    const choice = this.#negotiate(ch);
    if (choice.suite !== this.suite) {
      fail(Alert.illegal_parameter, "cipher suite changed after HelloRetryRequest");
    }
    // The second hello must carry exactly one share, for the group we asked for: anything else would
    // need a second HelloRetryRequest, which is not allowed.
    if (
      choice.group !== this.group || choice.shares.length !== 1 || choice.shares[0].group !== this.group!.id
    ) {
      fail(Alert.illegal_parameter, `the second ClientHello must share exactly ${this.group!.name}`);
    }
    this.#transcript.add(message);
    this.#serverFlight(ch, choice.suite, choice.group, choice.shares[0].keyExchange);
  }

  /** Checks a ClientHello against RFC 8446 §4.1.2 and §9.2 and picks suite and group by our preference. */
  #negotiate(ch: ParsedClientHello): Choice {
    // A TLS 1.3 ClientHello carries legacy_version 0x0303 (RFC 8446 §4.1.2); 0x0300 must be refused with
    // protocol_version (Appendix D.5), and so is every other value, which no conforming client sends.
    if (ch.legacyVersion !== TLS12) {
      fail(Alert.protocol_version, `ClientHello legacy_version 0x${ch.legacyVersion.toString(16)}`);
    }
    const ext = ch.extensionMap;
    const versions = ext.get(ExtensionType.supported_versions);
    if (!versions || !parseClientVersions(versions).includes(TLS13)) {
      fail(Alert.protocol_version, "the client does not offer TLS 1.3");
    }
    if (ext.has(ExtensionType.pre_shared_key) && ch.lastExtension !== ExtensionType.pre_shared_key) {
      fail(Alert.illegal_parameter, "pre_shared_key is not the last extension");
    }
    const suite = this.#suites.find((s) => ch.cipherSuites.includes(s.id));
    if (!suite) fail(Alert.handshake_failure, "no cipher suite in common");
    const sigalgs = ext.get(ExtensionType.signature_algorithms);
    if (!sigalgs) fail(Alert.missing_extension, "ClientHello without signature_algorithms");
    if (!parseU16List(sigalgs, "signature_algorithms").includes(ECDSA_SECP521R1_SHA512)) {
      fail(Alert.handshake_failure, "the client does not accept ecdsa_secp521r1_sha512");
    }
    const groupsExt = ext.get(ExtensionType.supported_groups);
    const keyShareExt = ext.get(ExtensionType.key_share);
    if (!groupsExt) fail(Alert.missing_extension, "ClientHello without supported_groups");
    if (!keyShareExt) fail(Alert.missing_extension, "ClientHello without key_share");
    const clientGroups = parseU16List(groupsExt, "supported_groups");
    const shares = parseClientKeyShares(keyShareExt);
    for (const s of shares) {
      if (!clientGroups.includes(s.group)) {
        fail(Alert.illegal_parameter, `key_share for group ${s.group} not in supported_groups`);
      }
    }
    const common = this.#groups.filter((g) => clientGroups.includes(g.id));
    if (common.length === 0) fail(Alert.handshake_failure, "no key exchange group in common");
    // Our first choice, except that when it is a post-quantum hybrid, a hybrid the client already sent a
    // share for wins: both are post-quantum, and it saves a HelloRetryRequest.
    let group = common[0];
    if (group.hybrid) group = common.find((g) => g.hybrid && shares.some((s) => s.group === g.id)) ?? group;
    const sni = ext.get(ExtensionType.server_name);
    this.serverName = sni ? parseServerName(sni) : null;
    return { suite, group, shares };
  }

  /** ServerHello and the encrypted flight, then the keys to read the client's Finished. */
  #serverFlight(ch: ParsedClientHello, suite: CipherSuite, group: NamedGroup, clientShare: Uint8Array): void {
    const hash = suite.hash;
    this.clientRandom = ch.random;
    this.suite = suite;
    this.group = group;
    const { share, shared } = group.respond(clientShare, this.random);
    const random = this.random(32);
    checkBytes(random, "random(32) result", 32);
    const sh = encodeServerHello({
      random,
      sessionId: ch.sessionId,
      cipherSuite: suite.id,
      extensions: [
        [ExtensionType.supported_versions, encodeU16(TLS13)],
        [ExtensionType.key_share, encodeServerKeyShare({ group: group.id, keyExchange: share })],
      ],
    });
    this.#send(sh);
    if (ch.sessionId.length > 0) this.#sendCcsOnce();

    const hsSecret = handshakeSecret(hash, shared);
    wipe(shared);
    let th = this.#transcript.digest();
    const [clientHs, serverHs] = deriveSecrets(hash, hsSecret, HS_LABELS, th);
    this.logSecret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", clientHs);
    this.logSecret("SERVER_HANDSHAKE_TRAFFIC_SECRET", serverHs);
    this.setWriteSecret(suite, serverHs);

    this.#send(encodeEncryptedExtensions([]));
    this.#send(encodeCertificate(this.#chain));
    const content = certificateVerifyContent(this.#transcript.digest(), true);
    const signature = p521.signatureToDer(p521.sign(this.#secretKey, content));
    this.#send(encodeCertificateVerify(ECDSA_SECP521R1_SHA512, signature));
    this.#send(encodeFinished(finishedVerifyData(hash, serverHs, this.#transcript.digest())));

    th = this.#transcript.digest();
    const master = masterSecret(hash, hsSecret);
    const [clientAp, serverAp, exporter] = deriveSecrets(hash, master, AP_LABELS, th);
    this.#clientAp = clientAp;
    this.#exporter = exporter;
    this.logSecret("CLIENT_TRAFFIC_SECRET_0", this.#clientAp);
    this.logSecret("SERVER_TRAFFIC_SECRET_0", serverAp);
    this.logSecret("EXPORTER_SECRET", this.#exporter);
    this.#clientFinished = finishedVerifyData(hash, clientHs, th);
    this.setWriteSecret(suite, serverAp);
    this.setReadSecret(suite, clientHs);
    // A refused 0-RTT client sends records we cannot decrypt before its Finished: skip them.
    if (!this.retried && ch.extensionMap.has(ExtensionType.early_data)) {
      this.earlyDataSkip = EARLY_DATA_SKIP_LIMIT;
    }
    wipe(hsSecret, master, clientHs, serverHs, serverAp);
    this.#state = State.Finished;
  }

  #finished(body: Uint8Array): void {
    const expected = this.#clientFinished!;
    if (body.length !== expected.length) fail(Alert.decode_error, "Finished has the wrong length");
    if (!equalBytes(body, expected)) fail(Alert.decrypt_error, "client Finished does not verify");
    this.setReadSecret(this.suite!, this.#clientAp!);
    wipe(this.#clientAp!);
    this.#state = State.Done;
    this.completeHandshake(this.#exporter!);
  }

  #send(message: Uint8Array): void {
    this.#transcript.add(message);
    this.sendHandshake(message);
  }

  #sendCcsOnce(): void {
    if (this.#ccsSent) return;
    this.#ccsSent = true;
    this.sendChangeCipherSpec();
  }
}
