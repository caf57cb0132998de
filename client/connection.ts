// The client's link to the relay: TCP (Deno.connect), TLS 1.3 (protocol/tls13/connection.ts), the pin
// check (client/pins.ts: --pin, or trust on first use with the pins in the keystore), the login (a P-521
// signature over the relay's challenge and the TLS exporter, protocol/wire.ts), then frames both ways
// with request ids, pings, and a deadline on every wait. A Connector keeps one such link up, reconnecting
// quickly while the relay has just gone and with backoff while it stays away (client/backoff.ts), saying
// so, and stops for good on what retrying cannot fix: a wrong pin, a refused login, or another client
// taking over this identity.

import type { Identity } from "../protocol/identity.ts";
import type { CurveName } from "../protocol/suite.ts";
import { TlsConnection, type Transport } from "../protocol/tls13/connection.ts";
import { spkiPin } from "../protocol/tls13/x509.ts";
import {
  type ClientFrame,
  decodeServerFrame,
  encodeFrame,
  EXPORTER_BYTES,
  EXPORTER_LABEL,
  FrameSplitter,
  MAX_EXPIRY_MS,
  PING_INTERVAL_MS,
  type ResultCode,
  type ServerFrame,
  signLogin,
  WIRE_VERSION,
  type WithdrawOutcome,
} from "../protocol/wire.ts";
import { Backoff, type Clock } from "./backoff.ts";
import { EXIT_LOGIN, EXIT_PIN } from "./exit.ts";
import type { ConnectionState } from "./events.ts";
import { checkPin, PinMismatchError, type PinStore } from "./pins.ts";

/** TLS group ids (RFC 8446 §4.2.7) for each curve. */
const GROUP_IDS: Record<CurveName, number> = { "P-256": 0x0017, "P-384": 0x0018, "P-521": 0x0019 };

/** The post-quantum hybrid TLS groups (draft-ietf-tls-ecdhe-mlkem): SecP384r1MLKEM1024, SecP256r1MLKEM768. */
const HYBRID_GROUP_IDS = [0x11ed, 0x11eb];

/**
 * The TLS groups a client offers: the post-quantum hybrids first, SecP384r1MLKEM1024 with the only key
 * share (the relay takes it), then the chosen curve and the others by strength, which a relay without the
 * hybrids asks for with a HelloRetryRequest.
 */
export function tlsGroupsFor(curve: CurveName): { groups: number[]; keyShareGroups: number[] } {
  const order = [curve, ...(["P-521", "P-384", "P-256"] as const).filter((c) => c !== curve)];
  return { groups: [...HYBRID_GROUP_IDS, ...order.map((c) => GROUP_IDS[c])], keyShareGroups: [0x11ed] };
}
/** Milliseconds for TCP + TLS + login before an attempt is abandoned. */
export const CONNECT_TIMEOUT_MS = 15_000;
/** Milliseconds an answer to a request may take before the link is considered dead. */
export const REPLY_TIMEOUT_MS = 30_000;
/** How long closing may wait for the relay to take our close_notify. */
const CLOSE_TIMEOUT_MS = 5_000;

/** A failure that retrying will not fix; the client stops, shows the sentence and exits with `exitCode`. */
export class FatalConnectionError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "FatalConnectionError";
    this.exitCode = exitCode;
  }
}

/** A request frame without its request id (the link assigns it). */
export type Request =
  | { type: "upload-prekeys"; bundle: Extract<ClientFrame, { type: "upload-prekeys" }>["bundle"] }
  | { type: "request-chat"; peerId: Uint8Array; curve: CurveName }
  | { type: "cancel-request" | "block" | "unblock" | "close-chat"; peerId: Uint8Array }
  /** Newer frames (issue 12): refused by an older relay, see RelayLink.everyday. */
  | { type: "set-options"; options: number }
  | { type: "dismiss-request"; peerId: Uint8Array };

/**
 * A frame that gets no direct answer: a Send — with `ttl`, the ms the relay may keep it before it lapses
 * (sent as SendExpiring; a relay without it gets a plain Send) — or an Ack.
 */
export type Outgoing =
  | { type: "send"; to: Uint8Array; messageId: Uint8Array; body: Uint8Array; ttl?: number }
  | { type: "ack"; ids: Uint8Array[] };

/** The client frames of issue 12, which an older relay ends the connection for (Error `unsupported`). */
const NEWER_FRAMES: ReadonlySet<ClientFrame["type"]> = new Set([
  "set-options",
  "send-expiring",
  "withdraw",
  "dismiss-request",
]);

/** The relay is older than a frame the client wanted to send (the frame was not sent). */
export class UnsupportedByRelayError extends Error {
  constructor() {
    super("the relay does not support this (it is older than this client)");
    this.name = "UnsupportedByRelayError";
  }
}

/** The relay's answer to a request. */
export interface Reply {
  code: ResultCode;
  detail: string;
}

/** What a link needs to come up. */
export interface LinkOptions {
  host: string;
  port: number;
  /** The curve offered first for the TLS key exchange. */
  curve: CurveName;
  identity: Identity;
  /** The client's data folder (for checkPin's messages). */
  dataDir: string;
  /** --pin or an invitation's pin, if given. */
  expectedPin?: string;
  /** Where expectedPin comes from (client/pins.ts): --pin replaces a stored pin, an invitation's does not. */
  expectedPinFrom?: "flag" | "invitation";
  pins: PinStore;
  clock: Clock;
  keyLog?: (line: string) => void;
  /** Opens the byte stream (default: Deno.connect over TCP); `signal` aborts it. */
  dial?: (host: string, port: number, signal?: AbortSignal) => Promise<Transport>;
  /** False: the relay refused a newer frame before, so none is sent (the Connector sets it). */
  everyday?: boolean;
}

/** A logged-in connection to the relay. */
export class RelayLink {
  readonly pin: string;
  readonly trust: "pinned" | "first-use" | "matched";
  readonly welcome: Extract<ServerFrame, { type: "welcome" }>;
  /**
   * True if the frames of issue 12 (SetOptions, SendExpiring, Withdraw, DismissRequest) may be sent: false
   * once a relay has refused one as unsupported (an older relay), and then requests for them reject with
   * UnsupportedByRelayError, and a Send with a ttl goes as a plain Send.
   */
  readonly everyday: boolean;
  readonly #tls: TlsConnection;
  readonly #reader: AsyncGenerator<ServerFrame>;
  readonly #clock: Clock;
  #nextRequest = 1;
  readonly #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  readonly #withdrawals = new Map<
    number,
    { resolve: (o: WithdrawOutcome) => void; reject: (e: Error) => void }
  >();
  #closed = false;
  #lastSent: number;
  #sentNewer = false;
  #refusedNewer = false;

  private constructor(
    tls: TlsConnection,
    reader: AsyncGenerator<ServerFrame>,
    clock: Clock,
    pin: string,
    trust: RelayLink["trust"],
    welcome: RelayLink["welcome"],
    everyday: boolean,
  ) {
    this.#tls = tls;
    this.#reader = reader;
    this.#clock = clock;
    this.pin = pin;
    this.trust = trust;
    this.welcome = welcome;
    this.everyday = everyday;
    this.#lastSent = clock.now();
  }

  /** The TLS key exchange group, by its IANA name (SecP384r1MLKEM1024 from our relay: post-quantum). */
  get group(): string {
    return this.#tls.info.group;
  }

  /** True once the relay ended this link refusing a frame after a newer frame was sent: it is older. */
  get refusedNewer(): boolean {
    return this.#refusedNewer;
  }

  /**
   * Connects, checks the pin, logs in and waits for Welcome. Throws FatalConnectionError for a wrong pin
   * or a refused login, and other errors (worth a retry) for everything else; closes what it opened.
   */
  static async open(o: LinkOptions, signal?: AbortSignal): Promise<RelayLink> {
    const dial = o.dial ?? (async (hostname, port, signal) => {
      const conn = await Deno.connect({ hostname, port, signal });
      // Small frames go at once (Nagle's delay plus delayed ACKs would add 40 ms to a reply).
      conn.setNoDelay(true);
      return conn;
    });
    let transport: Transport | null = null;
    let timedOut = false;
    // A timeout or a stop closes the byte stream under whatever step is waiting on it.
    const cut = new AbortController();
    const closeTransport = () => {
      cut.abort();
      try {
        transport?.close();
      } catch {
        // already closed
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      closeTransport();
    }, CONNECT_TIMEOUT_MS);
    signal?.addEventListener("abort", closeTransport, { once: true });
    let tls: TlsConnection | null = null;
    try {
      if (signal?.aborted) throw new Error("stopped");
      transport = await dial(o.host, o.port, cut.signal);
      if (timedOut || signal?.aborted) throw new Error("stopped");
      let presented = "";
      tls = await TlsConnection.connect(transport, {
        serverName: o.host,
        ...tlsGroupsFor(o.curve),
        keyLog: o.keyLog,
        // The pin is checked once the handshake has proved the server holds the key (below).
        verifyPeer: (_cert, spki) => {
          presented = spkiPin(spki);
        },
      });
      let check;
      try {
        check = await checkPin({
          dataDir: o.dataDir,
          host: o.host,
          port: o.port,
          pin: presented,
          expected: o.expectedPin,
          expectedFrom: o.expectedPinFrom,
          store: o.pins,
        });
      } catch (e) {
        if (e instanceof PinMismatchError || e instanceof RangeError) {
          throw new FatalConnectionError(e.message, EXIT_PIN, { cause: e });
        }
        throw e;
      }
      const reader = frameReader(tls, new FrameSplitter());
      const challenge = await reader.next();
      if (challenge.done || challenge.value.type !== "challenge") throw unexpected(challenge.value);
      const exporter = tls.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), EXPORTER_BYTES);
      await tls.write(encodeFrame({
        type: "login",
        version: WIRE_VERSION,
        id: o.identity.id,
        identity: o.identity.publicKeys,
        signature: signLogin(o.identity, challenge.value.nonce, exporter),
      }));
      const welcome = await reader.next();
      if (welcome.done || welcome.value.type !== "welcome") throw unexpected(welcome.value);
      if (signal?.aborted) throw new Error("stopped");
      return new RelayLink(tls, reader, o.clock, presented, check.trusted, welcome.value, o.everyday ?? true);
    } catch (e) {
      if (tls) tls.abort();
      else {
        try {
          transport?.close();
        } catch {
          // already closed
        }
      }
      if (timedOut) throw new Error("the relay did not answer in time");
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", closeTransport);
    }
  }

  /**
   * Sends a frame that gets no direct answer: an Ack, or a Send (Queued or Refused follow as frames); a
   * Send with `ttl` goes as SendExpiring (the ttl clamped to 1 … MAX_EXPIRY_MS) when the relay has it.
   * Errors end the link (see `frames`).
   */
  send(frame: Outgoing): void {
    if (this.#closed) return;
    if (frame.type === "ack") return this.#write(frame);
    const { ttl, ...send } = frame;
    const requestId = this.#takeId();
    if (ttl === undefined || !this.everyday) return this.#write({ ...send, requestId });
    const clamped = Math.min(MAX_EXPIRY_MS, Math.max(1, Math.ceil(ttl)));
    this.#write({ ...send, type: "send-expiring", requestId, ttl: clamped });
  }

  /** Sends a request; resolves with the relay's Result (rejects if the link ends first or it times out). */
  request(req: Request): Promise<Reply> {
    if (this.#closed) return Promise.reject(new Error("not connected"));
    if (!this.everyday && NEWER_FRAMES.has(req.type)) return Promise.reject(new UnsupportedByRelayError());
    const requestId = this.#takeId();
    const reply = new Promise<Reply>((resolve, reject) => this.#waiting.set(requestId, { resolve, reject }));
    this.#write({ ...req, requestId } as ClientFrame);
    return reply;
  }

  /**
   * Withdraws our message `messageId` to `to` from the relay's queue: resolves with the relay's answer
   * (docs/protocol.md, Withdraw); rejects if the link ends first, or with UnsupportedByRelayError.
   */
  withdraw(to: Uint8Array, messageId: Uint8Array): Promise<WithdrawOutcome> {
    if (this.#closed) return Promise.reject(new Error("not connected"));
    if (!this.everyday) return Promise.reject(new UnsupportedByRelayError());
    const requestId = this.#takeId();
    const answer = new Promise<WithdrawOutcome>((resolve, reject) => {
      this.#withdrawals.set(requestId, { resolve, reject });
    });
    this.#write({ type: "withdraw", requestId, to, messageId });
    return answer;
  }

  #takeId(): number {
    const id = this.#nextRequest;
    this.#nextRequest = id >= 0xffff_ffff ? 1 : id + 1;
    return id;
  }

  #write(frame: ClientFrame): void {
    this.#lastSent = this.#clock.now();
    if (NEWER_FRAMES.has(frame.type)) this.#sentNewer = true;
    this.#tls.write(encodeFrame(frame)).catch(() => this.close());
  }

  /**
   * The relay's frames, in order, until the link ends (Results are routed to their requests and not
   * yielded). Sends a Ping when idle and ends the link if a Ping goes unanswered. Returns why it ended.
   */
  async *frames(): AsyncGenerator<ServerFrame, string> {
    const pinger = setInterval(() => {
      if (this.#clock.now() - this.#lastSent < PING_INTERVAL_MS / 2) return;
      const ping = this.#ping();
      ping.catch(() => {});
    }, Math.min(PING_INTERVAL_MS / 4, 15_000));
    try {
      for await (const frame of this.#reader) {
        if (frame.type === "result") {
          const w = this.#waiting.get(frame.requestId);
          this.#waiting.delete(frame.requestId);
          w?.resolve({ code: frame.code, detail: frame.detail });
          continue;
        }
        if (frame.type === "withdrawn") {
          const w = this.#withdrawals.get(frame.requestId);
          this.#withdrawals.delete(frame.requestId);
          w?.resolve(frame.outcome);
          continue;
        }
        // An older relay ends the connection on a frame type it does not know: then it is one.
        if (frame.type === "error" && frame.code === "unsupported" && this.#sentNewer) {
          this.#refusedNewer = true;
        }
        yield frame;
        if (frame.type === "replaced" || frame.type === "error" || frame.type === "shutdown") {
          return frame.type === "error" ? frame.message : frame.type;
        }
      }
      return "the relay closed the connection";
    } catch (e) {
      return this.#closed ? "closed" : (e as Error).message;
    } finally {
      clearInterval(pinger);
      await this.close();
    }
  }

  async #ping(): Promise<void> {
    const requestId = this.#takeId();
    const reply = new Promise<Reply>((resolve, reject) => this.#waiting.set(requestId, { resolve, reject }));
    this.#write({ type: "ping", requestId });
    const timer = new Promise<"late">((resolve) => {
      const t = setTimeout(() => resolve("late"), REPLY_TIMEOUT_MS);
      reply.finally(() => clearTimeout(t)).catch(() => {});
    });
    if ((await Promise.race([reply, timer])) === "late") await this.close();
  }

  /** Ends the link (close_notify, then the socket); pending requests fail. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#waiting.values(), ...this.#withdrawals.values()]) {
      w.reject(new Error("the connection to the relay ended"));
    }
    this.#waiting.clear();
    this.#withdrawals.clear();
    // close_notify waits for the relay to take the bytes; a relay that stopped reading gets cut off.
    const timer = setTimeout(() => this.#tls.abort(), CLOSE_TIMEOUT_MS);
    try {
      await this.#tls.close();
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Frames as they come off the TLS stream (ProtocolError on a bad one). */
async function* frameReader(tls: TlsConnection, splitter: FrameSplitter): AsyncGenerator<ServerFrame> {
  for (;;) {
    const chunk = await tls.readChunk();
    if (chunk === null) return;
    for (const body of splitter.push(chunk)) yield decodeServerFrame(body);
  }
}

function unexpected(frame: ServerFrame | void): Error {
  if (frame === undefined) return new Error("the relay closed the connection during login");
  if (frame.type === "error") {
    const message = `The relay refused the login: ${frame.message}.`;
    return frame.code === "login-failed" ? new FatalConnectionError(message, EXIT_LOGIN) : new Error(message);
  }
  return new Error(`the relay sent ${frame.type} during login`);
}

/** What the connector tells its owner. */
export interface ConnectorHandlers {
  state(state: ConnectionState, detail: { reason?: string; retryInSeconds?: number }): void;
  /** A link is up: attach to it. Frames follow through `frame`. */
  online(link: RelayLink): Promise<void>;
  frame(frame: ServerFrame): Promise<void>;
  /** The link is gone (a reconnect may follow). */
  offline(): void;
  /** Retrying cannot help: the connector has stopped. */
  fatal(error: Error): void;
}

/** Keeps one link to the relay up, with backoff between attempts. */
export class Connector {
  readonly #options: LinkOptions;
  readonly #handlers: ConnectorHandlers;
  readonly #backoff: Backoff;
  readonly #stop = new AbortController();
  #link: RelayLink | null = null;
  #running: Promise<void> | null = null;
  /** False once the relay refused a newer frame: later links send none (until the client restarts). */
  #everyday = true;

  constructor(options: LinkOptions, handlers: ConnectorHandlers, backoff?: Backoff) {
    this.#options = options;
    this.#handlers = handlers;
    this.#backoff = backoff ?? new Backoff({ now: () => options.clock.now() });
  }

  /** Starts the loop (once). */
  start(): void {
    this.#running ??= this.#loop();
  }

  async #loop(): Promise<void> {
    const h = this.#handlers, clock = this.#options.clock;
    while (!this.#stop.signal.aborted) {
      h.state("connecting", {});
      let reason: string;
      try {
        this.#link = await RelayLink.open({ ...this.#options, everyday: this.#everyday }, this.#stop.signal);
      } catch (e) {
        if (this.#stop.signal.aborted) return;
        if (e instanceof FatalConnectionError) return h.fatal(e);
        reason = plain(e);
        const delay = this.#backoff.next();
        h.state("offline", { reason, retryInSeconds: Math.ceil(delay / 1000) });
        await clock.sleep(delay, this.#stop.signal);
        continue;
      }
      const link = this.#link;
      if (this.#stop.signal.aborted) {
        // Stopped while the link was coming up: nobody is left to use it.
        this.#link = null;
        return await link.close();
      }
      try {
        this.#backoff.reset();
        await h.online(link);
        const frames = link.frames();
        for (;;) {
          const next = await frames.next();
          if (next.done) {
            reason = next.value;
            break;
          }
          await h.frame(next.value);
        }
      } catch (e) {
        reason = plain(e);
      } finally {
        await link.close();
        if (link.refusedNewer) this.#everyday = false;
        this.#link = null;
        h.offline();
      }
      if (this.#stop.signal.aborted) return;
      if (reason === "replaced") {
        return h.fatal(
          new FatalConnectionError(
            "Another client logged in with this identity, so this one stopped.",
            EXIT_LOGIN,
          ),
        );
      }
      const delay = this.#backoff.next();
      h.state("offline", { reason, retryInSeconds: Math.ceil(delay / 1000) });
      await clock.sleep(delay, this.#stop.signal);
    }
  }

  /** Stops reconnecting, closes the link and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#link?.close();
    await this.#running;
  }
}

/** An error as a short reason for the status line. */
function plain(e: unknown): string {
  if (e instanceof Deno.errors.ConnectionRefused) return "the relay is not reachable (connection refused)";
  if (e instanceof Error) return e.message.replace(/\.$/, "");
  return String(e);
}
