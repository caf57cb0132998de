// The part of a TLS 1.3 connection that both roles share (RFC 8446 §5, §4.6, §6): record framing and
// protection, handshake message reassembly, the compatibility change_cipher_spec, application data,
// KeyUpdate, NewSessionTicket, alerts and closure. Sans-I/O: bytes from the network go in through
// `receive`, bytes for the network come out of `takeOutput`, and the application reads and writes
// plaintext through `read` and `write`. The client and server state machines extend it.

import {
  bytesToHex,
  checkBytes,
  checkLength,
  concatBytes,
  type RandomSource,
  systemRandom,
} from "../../crypto/bytes.ts";
import { AuthenticationError } from "../../crypto/errors.ts";
import { Alert, fail, TlsError } from "./alert.ts";
import { ByteQueue } from "./codec.ts";
import { exportKeyingMaterial, nextTrafficSecret } from "./key_schedule.ts";
import { checkNewSessionTicket, encodeKeyUpdate, HandshakeType, parseKeyUpdate } from "./messages.ts";
import {
  ContentType,
  HEADER_LENGTH,
  MAX_CIPHERTEXT,
  MAX_FRAGMENT,
  plaintextRecord,
  RecordProtection,
} from "./record.ts";
import type { CipherSuite, NamedGroup } from "./suites.ts";

/** Options both roles take. */
export interface EngineOptions {
  /** Randomness for hello randoms, session ids and ephemeral keys (default: the system CSPRNG). */
  random?: RandomSource;
  /**
   * Called with each key-log line ("LABEL <client_random> <secret>", the NSS format of SSLKEYLOGFILE) as
   * the secrets come into being. For debugging and tests only: whoever has these lines can decrypt.
   */
  keyLog?: (line: string) => void;
  /**
   * Records we send under one application traffic key before we replace it with a KeyUpdate (default
   * 2^20, far below the AES-GCM limit of about 2^24.5 full records, RFC 8446 §5.5).
   */
  keyUpdateInterval?: number;
  /** The largest plaintext we put in one record, 1 to 16,384 bytes (default 16,384). */
  maxFragmentLength?: number;
}

/** What a connection negotiated, available once the handshake is complete. */
export interface SessionInfo {
  version: "TLSv1.3";
  /** The cipher suite's IANA name, e.g. "TLS_AES_256_GCM_SHA384". */
  cipherSuite: string;
  /** The key exchange group's IANA name, e.g. "SecP384r1MLKEM1024" or "secp521r1". */
  group: string;
  /** True if the server sent a HelloRetryRequest. */
  helloRetryRequest: boolean;
  /** On the client: the server's end-entity certificate (DER) and its SubjectPublicKeyInfo (DER). */
  peerCertificate: Uint8Array | null;
  peerSpki: Uint8Array | null;
  /** The server_name the client sent (on both sides), or null. */
  serverName: string | null;
}

/** The largest handshake message we accept: far above our certificates, far below memory trouble. */
const MAX_HANDSHAKE_MESSAGE = 1 << 17;
/**
 * KeyUpdates the peer may send without application data in between: each costs us a key derivation (and,
 * when it asks for an answer, a second one and a record), so a peer that sends them back to back is
 * flooding. At most one of them may ask for an answer (RFC 8446 §4.6.3 lets us refuse with
 * unexpected_message anything a well-behaved peer would not send).
 */
const MAX_KEY_UPDATES_WITHOUT_DATA = 4;
const DEFAULT_KEY_UPDATE_INTERVAL = 1 << 20;

export abstract class TlsEngine {
  protected readonly random: RandomSource;
  readonly #keyLog?: (line: string) => void;
  readonly #keyUpdateInterval: number;
  protected readonly maxFragment: number;

  readonly #input = new ByteQueue();
  readonly #handshake = new ByteQueue(256);
  #output: Uint8Array[] = [];
  #pendingHandshake: Uint8Array[] = [];
  #received: Uint8Array[] = [];
  #read: RecordProtection | null = null;
  #write: RecordProtection | null = null;

  #complete = false;
  #peerClosed = false;
  #closed = false;
  #error: TlsError | null = null;
  #exporterSecret: Uint8Array | null = null;
  /** KeyUpdates received since the peer's last application data, and how many of them asked for ours. */
  #updatesWithoutData = 0;
  #requestsWithoutData = 0;
  #keyUpdatesReceived = 0;

  /** Plaintext record version: 0x0301 is allowed for the first ClientHello only (RFC 8446 §5.1). */
  protected recordVersion = 0x0303;
  /** Whether a plaintext change_cipher_spec is dropped now (between the first hello and the peer's Finished). */
  protected acceptChangeCipherSpec = false;
  /** Bytes of undecryptable application_data records still to skip (a server refusing 0-RTT). */
  protected earlyDataSkip = 0;

  protected clientRandom: Uint8Array | null = null;
  protected suite: CipherSuite | null = null;
  protected group: NamedGroup | null = null;
  protected retried = false;
  protected peerCertificate: Uint8Array | null = null;
  protected peerSpki: Uint8Array | null = null;
  protected serverName: string | null = null;

  constructor(options: EngineOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    const random = options.random ?? systemRandom;
    if (typeof random !== "function") throw new TypeError("random must be a function");
    if (options.keyLog !== undefined && typeof options.keyLog !== "function") {
      throw new TypeError("keyLog must be a function");
    }
    const interval = options.keyUpdateInterval ?? DEFAULT_KEY_UPDATE_INTERVAL;
    checkLength(interval, "keyUpdateInterval", 1, 2 ** 24);
    const fragment = options.maxFragmentLength ?? MAX_FRAGMENT;
    checkLength(fragment, "maxFragmentLength", 1, MAX_FRAGMENT);
    this.random = random;
    this.#keyLog = options.keyLog;
    this.#keyUpdateInterval = interval;
    this.maxFragment = fragment;
  }

  // ---- the role's handshake --------------------------------------------------------------------------

  /** Handles one handshake message received before the handshake is complete. */
  protected abstract handleHandshake(type: number, body: Uint8Array, message: Uint8Array): void;

  // ---- public surface --------------------------------------------------------------------------------

  /** True once the handshake has completed in both directions as far as this side can tell. */
  get handshakeComplete(): boolean {
    return this.#complete;
  }

  /** True once the peer's close_notify has arrived: no more application data will come. */
  get peerClosed(): boolean {
    return this.#peerClosed;
  }

  /** The fatal error that ended the connection, if any. */
  get error(): TlsError | null {
    return this.#error;
  }

  /** KeyUpdates received so far (each cost a key derivation; the relay charges them to the connection). */
  get keyUpdatesReceived(): number {
    return this.#keyUpdatesReceived;
  }

  /** True when output is waiting to be sent. */
  get hasOutput(): boolean {
    return this.#output.length > 0;
  }

  /** What was negotiated, or null before the handshake completes. */
  get info(): SessionInfo | null {
    if (!this.#complete || !this.suite || !this.group) return null;
    return {
      version: "TLSv1.3",
      cipherSuite: this.suite.name,
      group: this.group.name,
      helloRetryRequest: this.retried,
      peerCertificate: this.peerCertificate,
      peerSpki: this.peerSpki,
      serverName: this.serverName,
    };
  }

  /**
   * Feeds bytes received from the peer (any split). Processes every complete record. On a fatal error,
   * queues the alert for the peer (take it with `takeOutput` and send it) and throws a TlsError; the
   * connection is then dead and every later call throws the same error.
   */
  receive(data: Uint8Array): void {
    checkBytes(data, "data");
    this.#check();
    if (this.#peerClosed) return; // RFC 8446 §6.1: data after close_notify is ignored
    try {
      this.#input.push(data);
      this.#processRecords();
      this.flushHandshake();
    } catch (e) {
      this.#abort(e);
    }
  }

  /** The bytes to send to the peer (empty when there are none), removed from the queue. */
  takeOutput(): Uint8Array {
    const out = this.#output;
    if (out.length === 0) return new Uint8Array(0);
    this.#output = [];
    return out.length === 1 ? out[0] : concatBytes(...out);
  }

  /** The next chunk of application data received, or null if none is buffered. */
  read(): Uint8Array | null {
    return this.#received.shift() ?? null;
  }

  /**
   * Queues application data, split into records of at most `maxFragmentLength` bytes. Sends a KeyUpdate
   * first whenever the current key has sealed `keyUpdateInterval` records. An empty `data` sends nothing.
   */
  write(data: Uint8Array): void {
    checkBytes(data, "data");
    this.#check();
    if (!this.#complete) throw new Error("TLS: cannot write application data before the handshake completes");
    if (this.#closed) throw new Error("TLS: cannot write after close");
    try {
      for (let off = 0; off < data.length; off += this.maxFragment) {
        if (this.#write!.sequenceNumber >= this.#keyUpdateInterval) this.#sendKeyUpdate(false);
        this.#output.push(
          this.#write!.seal(ContentType.application_data, data.subarray(off, off + this.maxFragment)),
        );
      }
    } catch (e) {
      this.#abort(e);
    }
  }

  /** Sends a KeyUpdate now and switches to the next write key; `requestPeer` asks the peer to do the same. */
  updateKeys(requestPeer: boolean): void {
    this.#check();
    if (!this.#complete || this.#closed) {
      throw new Error("TLS: keys can be updated only on an open connection");
    }
    this.#sendKeyUpdate(requestPeer);
  }

  /** Queues close_notify (RFC 8446 §6.1); nothing more can be written. Idempotent. */
  close(): void {
    if (this.#closed || this.#error) return;
    this.flushHandshake();
    this.#sendAlert(1, Alert.close_notify);
    this.#closed = true;
  }

  /** TLS-Exporter(label, context, length) (RFC 8446 §7.5), once the handshake is complete. */
  exportKeyingMaterial(label: string, context: Uint8Array, length: number): Uint8Array {
    if (typeof label !== "string") throw new TypeError("label must be a string");
    checkBytes(context, "context");
    checkLength(length, "length", 0, 255 * (this.suite?.hashLength ?? 32));
    if (!this.#exporterSecret || !this.suite) {
      throw new Error("TLS: exporter used before the handshake completes");
    }
    return exportKeyingMaterial(this.suite.hash, this.#exporterSecret, label, context, length);
  }

  // ---- for the roles ---------------------------------------------------------------------------------

  /** Queues a handshake message; it goes out, coalesced with its neighbours, at the next flush. */
  protected sendHandshake(message: Uint8Array): void {
    this.#pendingHandshake.push(message);
  }

  /** Turns queued handshake messages into records under the current write state. */
  protected flushHandshake(): void {
    if (this.#pendingHandshake.length === 0) return;
    const all = concatBytes(...this.#pendingHandshake);
    this.#pendingHandshake = [];
    for (let off = 0; off < all.length; off += this.maxFragment) {
      const fragment = all.subarray(off, off + this.maxFragment);
      this.#output.push(
        this.#write
          ? this.#write.seal(ContentType.handshake, fragment)
          : plaintextRecord(ContentType.handshake, fragment, this.recordVersion),
      );
    }
    this.recordVersion = 0x0303;
  }

  /** Sends the compatibility change_cipher_spec record (always plaintext, RFC 8446 §D.4). */
  protected sendChangeCipherSpec(): void {
    this.flushHandshake();
    this.#output.push(plaintextRecord(ContentType.change_cipher_spec, Uint8Array.of(1)));
  }

  /** Protects what we send from now on with `secret` (after flushing what was queued under the old state). */
  protected setWriteSecret(suite: CipherSuite, secret: Uint8Array): void {
    this.flushHandshake();
    this.#write?.wipe();
    this.#write = new RecordProtection(suite, secret);
  }

  /**
   * Reads with `secret` from now on. A key change must fall on a record boundary: leftover handshake
   * bytes from the old key are an unexpected_message (RFC 8446 §5.1).
   */
  protected setReadSecret(suite: CipherSuite, secret: Uint8Array): void {
    if (this.#handshake.length > 0) {
      fail(Alert.unexpected_message, "handshake data left over at a key change");
    }
    this.#read?.wipe();
    this.#read = new RecordProtection(suite, secret);
  }

  /** Runs a step of the role's state machine (such as sending the first flight) with the usual failure handling. */
  protected step(action: () => void): void {
    this.#check();
    try {
      action();
      this.flushHandshake();
    } catch (e) {
      this.#abort(e);
    }
  }

  /** Marks the handshake complete, with the exporter master secret for `exportKeyingMaterial`. */
  protected completeHandshake(exporterSecret: Uint8Array): void {
    this.#exporterSecret = exporterSecret;
    this.acceptChangeCipherSpec = false;
    this.#complete = true;
  }

  /** Emits a key-log line for `secret` if a key log is configured. */
  protected logSecret(label: string, secret: Uint8Array): void {
    if (this.#keyLog && this.clientRandom) {
      this.#keyLog(`${label} ${bytesToHex(this.clientRandom)} ${bytesToHex(secret)}`);
    }
  }

  // ---- records ---------------------------------------------------------------------------------------

  #processRecords(): void {
    const input = this.#input;
    while (!this.#peerClosed && input.length > 0) {
      const type = input.at(0);
      if (type < ContentType.change_cipher_spec || type > ContentType.application_data) {
        fail(Alert.unexpected_message, `unknown record type ${type}`);
      }
      if (input.length < HEADER_LENGTH) return;
      const length = (input.at(3) << 8) | input.at(4);
      const limit = type === ContentType.application_data ? MAX_CIPHERTEXT : MAX_FRAGMENT;
      if (length > limit) fail(Alert.record_overflow, `record of ${length} bytes`);
      if (input.length < HEADER_LENGTH + length) return;
      const record = input.peek(HEADER_LENGTH + length);
      this.#record(type, record.subarray(0, HEADER_LENGTH), record.subarray(HEADER_LENGTH));
      input.consume(HEADER_LENGTH + length);
    }
  }

  #record(type: number, header: Uint8Array, body: Uint8Array): void {
    switch (type) {
      case ContentType.change_cipher_spec:
        // RFC 8446 §5: a plaintext 0x01 is dropped between the first ClientHello and the peer's Finished.
        if (!this.acceptChangeCipherSpec) fail(Alert.unexpected_message, "unexpected change_cipher_spec");
        if (body.length !== 1 || body[0] !== 1) {
          fail(Alert.unexpected_message, "malformed change_cipher_spec");
        }
        if (this.#handshake.length > 0) {
          fail(Alert.unexpected_message, "change_cipher_spec inside a handshake message");
        }
        return;
      case ContentType.application_data:
        return this.#protectedRecord(header, body);
      case ContentType.alert:
        // A peer that fails before it has keys alerts in plaintext; accept that during the handshake only.
        if (this.#read && this.#complete) {
          fail(Alert.unexpected_message, "plaintext alert after the handshake");
        }
        return this.#content(ContentType.alert, body.slice());
      default: // handshake
        if (this.#read) fail(Alert.unexpected_message, "plaintext handshake record after keys are in use");
        return this.#content(ContentType.handshake, body);
    }
  }

  #protectedRecord(header: Uint8Array, body: Uint8Array): void {
    if (!this.#read) {
      if (this.#skipEarlyData(body.length)) return;
      fail(Alert.unexpected_message, "protected record before keys are in use");
    }
    let opened: { type: number; content: Uint8Array };
    try {
      opened = this.#read.open(header, body);
    } catch (e) {
      if (e instanceof TlsError && e.alert === Alert.bad_record_mac && this.#skipEarlyData(body.length)) {
        return;
      }
      throw e;
    }
    this.earlyDataSkip = 0;
    this.#content(opened.type, opened.content);
  }

  /** While refusing 0-RTT, drops a record the server cannot read, within the skip limit. */
  #skipEarlyData(length: number): boolean {
    if (this.earlyDataSkip < length) return false;
    this.earlyDataSkip -= length;
    return true;
  }

  #content(type: number, content: Uint8Array): void {
    if (type !== ContentType.handshake && this.#handshake.length > 0) {
      fail(Alert.unexpected_message, "record interleaved with a fragmented handshake message");
    }
    switch (type) {
      case ContentType.handshake:
        if (content.length === 0) fail(Alert.unexpected_message, "empty handshake record");
        this.#handshake.push(content);
        return this.#processHandshake();
      case ContentType.alert:
        return this.#receiveAlert(content);
      case ContentType.application_data:
        if (!this.#complete) {
          fail(Alert.unexpected_message, "application data before the handshake completes");
        }
        if (content.length > 0) {
          this.#received.push(content);
          this.#updatesWithoutData = this.#requestsWithoutData = 0;
        }
        return;
      default:
        fail(Alert.unexpected_message, `unexpected protected record type ${type}`);
    }
  }

  #processHandshake(): void {
    const hs = this.#handshake;
    while (hs.length >= 4 && !this.#peerClosed) {
      const length = (hs.at(1) << 16) | (hs.at(2) << 8) | hs.at(3);
      if (length > MAX_HANDSHAKE_MESSAGE) fail(Alert.decode_error, `handshake message of ${length} bytes`);
      if (hs.length < 4 + length) return;
      const message = hs.peek(4 + length).slice();
      hs.consume(4 + length);
      const type = message[0], body = message.subarray(4);
      if (this.#complete) this.#postHandshake(type, body);
      else this.handleHandshake(type, body, message);
    }
  }

  /** Messages after the handshake (RFC 8446 §4.6): NewSessionTicket (ignored) and KeyUpdate. */
  #postHandshake(type: number, body: Uint8Array): void {
    if (type === HandshakeType.key_update) {
      const requested = parseKeyUpdate(body);
      this.#keyUpdatesReceived++;
      if (
        ++this.#updatesWithoutData > MAX_KEY_UPDATES_WITHOUT_DATA ||
        (requested && ++this.#requestsWithoutData > 1)
      ) {
        fail(Alert.unexpected_message, "KeyUpdates one after another without application data");
      }
      this.setReadSecret(this.#read!.suite, nextTrafficSecret(this.#read!.suite.hash, this.#read!.secret));
      if (requested && !this.#closed) this.#sendKeyUpdate(false);
      return;
    }
    if (type === HandshakeType.new_session_ticket && this.isClient()) return checkNewSessionTicket(body);
    fail(Alert.unexpected_message, `handshake message type ${type} after the handshake`);
  }

  /** True for the client role (only a client may receive NewSessionTicket). */
  protected abstract isClient(): boolean;

  #sendKeyUpdate(requestPeer: boolean): void {
    const w = this.#write!;
    this.#output.push(w.seal(ContentType.handshake, encodeKeyUpdate(requestPeer)));
    this.#write = new RecordProtection(w.suite, nextTrafficSecret(w.suite.hash, w.secret));
    w.wipe();
  }

  // ---- alerts and failure ----------------------------------------------------------------------------

  #receiveAlert(content: Uint8Array): void {
    // RFC 8446 §5.4: an Alert record with no content (padded or not) is an unexpected_message.
    if (content.length === 0) fail(Alert.unexpected_message, "empty alert record");
    if (content.length !== 2) fail(Alert.decode_error, "alert record must hold exactly one alert");
    const description = content[1];
    if (description === Alert.user_canceled) return; // a close_notify should follow (RFC 8446 §6.1)
    if (description === Alert.close_notify && this.#complete) {
      this.#peerClosed = true;
      return;
    }
    throw new TlsError(
      description,
      description === Alert.close_notify ? "peer closed during the handshake" : "peer aborted the connection",
      true,
    );
  }

  #sendAlert(level: number, description: number): void {
    const alert = Uint8Array.of(level, description);
    this.#output.push(
      this.#write ? this.#write.seal(ContentType.alert, alert) : plaintextRecord(ContentType.alert, alert),
    );
  }

  /** Records a fatal error, queues its alert unless it came from the peer, wipes keys and throws. */
  #abort(e: unknown): never {
    let error: TlsError;
    if (e instanceof TlsError) error = e;
    else if (e instanceof AuthenticationError) {
      error = new TlsError(Alert.bad_record_mac, "record does not authenticate");
    } else error = new TlsError(Alert.internal_error, e instanceof Error ? e.message : String(e));
    if (!error.remote && error.alert !== null && !this.#closed) {
      this.#pendingHandshake = [];
      try {
        this.#sendAlert(2, error.alert);
      } catch {
        // nothing more can be sent
      }
    }
    this.#closed = true;
    this.#error = error;
    this.#read?.wipe();
    this.#write?.wipe();
    this.#input.clear();
    this.#handshake.clear();
    throw error;
  }

  #check(): void {
    if (this.#error) throw this.#error;
  }
}
