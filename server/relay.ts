// The relay: serves each TLS connection (server/tls_listener.ts hands them in) with the application
// frames of protocol/wire.ts — login bound to the TLS session, prekeys, mutual chat requests, the relay
// of end-to-end messages through durable per-recipient queues, presence between the two sides of an open
// chat — under per-connection limits. A bad frame, a slow reader or an exception ends that connection
// only. All state that must survive lives in the store (server/store.ts); here are only the connections.
// Frames and rules: docs/protocol.md, "Application frames (relay protocol)".

import { bytesToHex, equalBytes, type RandomSource, systemRandom } from "../crypto/bytes.ts";
import { ProtocolError } from "../protocol/codec.ts";
import { decodeIdentityPublic, deriveId, encodeIdentityPublic } from "../protocol/identity.ts";
import { decodeBundle, MAX_ONE_TIME_PREKEYS, verifyBundle } from "../protocol/prekeys.ts";
import type { TlsConnection } from "../protocol/tls13/connection.ts";
import { CURVES } from "../protocol/suite.ts";
import {
  type ClientFrame,
  decodeClientFrame,
  type ErrorCode,
  EXPORTER_BYTES,
  EXPORTER_LABEL,
  FrameSplitter,
  FrameType,
  MAX_BODY_BYTES,
  MAX_FRAME_BYTES,
  MAX_LOGIN_FRAME_BYTES,
  MAX_WELCOME_CHATS,
  MAX_WELCOME_REQUESTS,
  NONCE_BYTES,
  type ResultCode,
  type ServerFrame,
  verifyLogin,
  WIRE_VERSION,
} from "../protocol/wire.ts";
import type { Ticket } from "./admission.ts";
import {
  DEFAULT_GROUP_LIMITS,
  type GroupInflight,
  GroupRelay,
  type GroupRelayLimits,
  MAX_GROUP_MEMBERS_LIMIT,
  type SessionGroup,
} from "./group_relay.ts";
import { ConnectionBudget } from "./guard.ts";
import { KeyedLimiter, TokenBucket } from "./limits.ts";
import { Link } from "./link.ts";
import type { EntryRef, QueuedItem, RelayStore } from "./store.ts";

const SECOND = 1000, MINUTE = 60 * SECOND, HOUR = 60 * MINUTE, DAY = 24 * HOUR;

/** Every limit of the relay; the defaults are documented in docs/protocol.md. */
export interface RelayLimits extends GroupRelayLimits {
  /** Largest frame body accepted (at most MAX_FRAME_BYTES). */
  maxFrameBytes: number;
  /** Largest end-to-end message relayed (at most MAX_BODY_BYTES); larger ones are refused. */
  maxMessageBytes: number;
  /**
   * Cost units per second per connection after Login, sustained; beyond, the relay stops reading (TCP
   * pushes back). A Ping costs one unit; see FRAME_COST for the others, and recordCost for TLS records.
   */
  framesPerSecond: number;
  /** Cost units a connection may spend in a burst. */
  frameBurst: number;
  /** Cost units of each TLS record received after Login (KeyUpdates and alerts included). */
  recordCost: number;
  /** TLS records a connection may send before Login (used when no admission supplies the budget). */
  preLoginRecords: number;
  /** Prekey uploads per user per minute (also the burst). */
  prekeyUploadsPerMinute: number;
  /** Other costly requests (RequestChat, CancelRequest, Block, Unblock, CloseChat) per user per minute. */
  costlyFramesPerMinute: number;
  /** New identities registered, for all sources together: burst and per hour. */
  registrationBurst: number;
  registrationsPerHour: number;
  /** New identities registered from one source address: burst and per hour. */
  registrationBurstPerSource: number;
  registrationsPerSourcePerHour: number;
  /** Bytes waiting to be written to one connection before it is dropped as a slow reader. */
  maxQueuedBytes: number;
  /** Milliseconds one write may stall before the connection is dropped. */
  writeStallMs: number;
  /** Milliseconds from connect to Login. */
  loginTimeoutMs: number;
  /** Milliseconds without any frame before a connection is dropped (clients Ping every minute). */
  idleTimeoutMs: number;
  /** Entries sent to a connection and not yet acknowledged, at most. */
  deliveryWindow: number;
  /** Body bytes sent to a connection and not yet acknowledged, at most (one entry may pass it). */
  deliveryWindowBytes: number;
  /**
   * Milliseconds a message for an online, caught-up recipient is held in memory awaiting its
   * acknowledgement before it is written to the store (see "held messages" in docs/protocol.md).
   */
  holdMs: number;
  /** Entries (messages and events) queued per recipient. */
  maxQueuedMessages: number;
  /** Message bytes queued per recipient. */
  maxQueuedMessageBytes: number;
  /** Milliseconds a queued message waits before it lapses. */
  messageTtlMs: number;
  /** Milliseconds a chat request waits before it lapses. */
  requestTtlMs: number;
  /** Open chats plus pending requests per user. */
  maxChatsAndRequests: number;
  /** Chat requests per user: burst and sustained rate per hour. */
  chatRequestBurst: number;
  chatRequestsPerHour: number;
  /** One-time prekeys handed out per target and per requester: burst and rate per hour. */
  oneTimeBurst: number;
  oneTimePerHour: number;
  /** One-time prekeys kept per user and curve. */
  maxOneTimePrekeys: number;
  /** Below this many one-time prekeys on a curve, the owner is told (PrekeysLow). */
  prekeyLowWater: number;
  /** Milliseconds between sweeps of lapsed messages, requests and identities. */
  sweepIntervalMs: number;
  /** Bytes the store may hold (as the store counts them, docs/store.md); past it, new messages and new
   * identities are refused and nothing stored is lost. */
  storeQuotaBytes: number;
  /** Bytes of messages one sender may have queued, over all its recipients together. */
  senderQuotaBytes: number;
  /** Milliseconds without a login after which an identity expires, with its prekeys and its queue. */
  identityTtlMs: number;
}

/** The defaults. */
export const DEFAULT_LIMITS: Readonly<RelayLimits> = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxMessageBytes: MAX_BODY_BYTES,
  framesPerSecond: 200,
  frameBurst: 400,
  recordCost: 0.25,
  preLoginRecords: 64,
  prekeyUploadsPerMinute: 6,
  costlyFramesPerMinute: 60,
  registrationBurst: 100,
  registrationsPerHour: 1000,
  registrationBurstPerSource: 20,
  registrationsPerSourcePerHour: 60,
  maxQueuedBytes: 4 * 1024 * 1024,
  writeStallMs: 30 * SECOND,
  loginTimeoutMs: 10 * SECOND,
  idleTimeoutMs: 15 * MINUTE,
  deliveryWindow: 64,
  deliveryWindowBytes: 1024 * 1024,
  holdMs: 1000,
  maxQueuedMessages: 8192,
  maxQueuedMessageBytes: 128 * 1024 * 1024,
  messageTtlMs: 30 * DAY,
  requestTtlMs: 30 * DAY,
  maxChatsAndRequests: 500,
  chatRequestBurst: 30,
  chatRequestsPerHour: 120,
  oneTimeBurst: 20,
  oneTimePerHour: 60,
  maxOneTimePrekeys: MAX_ONE_TIME_PREKEYS,
  prekeyLowWater: 20,
  sweepIntervalMs: 10 * MINUTE,
  storeQuotaBytes: 8 * 1024 ** 3,
  senderQuotaBytes: 512 * 1024 ** 2,
  identityTtlMs: 180 * DAY,
  ...DEFAULT_GROUP_LIMITS,
};

/**
 * What each client frame costs, in units of the connection's budget (a Ping is one): about the CPU and
 * store work it makes, measured on this machine (docs/security.md). Charged by the type byte, before the
 * frame is decoded (decoding a full prekey bundle validates 600 points, about 2.5 ms).
 */
const FRAME_COST: ReadonlyMap<number, number> = new Map([
  [FrameType.ping, 1],
  [FrameType.ack, 2], // a KV transaction, grouped with others
  [FrameType.send, 2], // a KV transaction (or a message held in memory), grouped with others
  [FrameType.uploadPrekeys, 100], // decoding and three signature verifications (about 8 ms), three KV transactions
  [FrameType.requestChat, 10], // reads and a KV transaction
  [FrameType.cancelRequest, 5],
  [FrameType.block, 5],
  [FrameType.unblock, 5],
  [FrameType.closeChat, 5],
  // Groups: a message is logged once and fanned out to up to maxGroupMembers connections.
  [FrameType.createGroup, 10],
  [FrameType.acceptInvite, 100], // a KeyPackage: two signature verifications, six identity points
  [FrameType.groupPropose, 10],
  [FrameType.groupCommit, 50], // reading a commit and a Welcome (up to 255 KiB each), one transaction
  [FrameType.groupSend, 10],
  [FrameType.setAdmin, 10],
  [FrameType.groupInfo, 5],
  [FrameType.blobUpload, 5], // plus its bytes, as every TLS record is charged
  [FrameType.blobFetch, 8], // a chunk of 128 KiB read and sent back
  [FrameType.blobDone, 5],
]);

/** What a KeyUpdate from the peer costs: two key derivations and a record back (about 100 µs here). */
const KEY_UPDATE_COST = 5;

/** What the store must have room for before it takes a new identity: the identity and its prekeys. */
const NEW_IDENTITY_BYTES = 64 * 1024;

/** Requests limited together per user and minute (costlyFramesPerMinute). */
const COSTLY: ReadonlySet<ClientFrame["type"]> = new Set([
  "request-chat",
  "cancel-request",
  "block",
  "unblock",
  "close-chat",
  "create-group",
  "accept-invite",
  "set-admin",
]);

/** What {@link Relay} needs. */
export interface RelayOptions {
  store: RelayStore;
  limits?: Partial<RelayLimits>;
  /** Wall clock in ms since the epoch (request and message expiry, timestamps). Default Date.now. */
  now?: () => number;
  /** Monotonic clock in ms for rate limits and timeouts. Default performance.now. */
  monotonic?: () => number;
  /** Source of login nonces (default: the system CSPRNG). */
  random?: RandomSource;
  /** Told about failures of the relay itself (never IDs or addresses). Default: silent. */
  log?: (message: string) => void;
  /** Called with every frame of a logged-in client before it is handled; for tests (a throw is a fault). */
  onFrame?: (frame: ClientFrame) => void;
}

/** Ends a connection with an Error frame of this code. */
class Refusal extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * A message delivered to an online recipient before it was stored. The recipient's acknowledgement makes
 * it durable (the recipient has it), and the sender is told Queued and Delivered; without one in time, or
 * if the recipient goes away, it is written to the store and only then is the sender told Queued.
 */
interface Held {
  sender: Session;
  requestId: number;
  from: Uint8Array;
  to: Uint8Array;
  messageId: Uint8Array;
  body: Uint8Array;
  at: number;
  timer: ReturnType<typeof setTimeout>;
  /** Being written to the store (or written: see `done`). */
  persisting: boolean;
  /** The write to the store has finished (whatever its outcome). */
  done: boolean;
  /** Acknowledged while being written: delete it once written. */
  ackedMeanwhile: boolean;
}

/** A delivered entry not yet acknowledged: stored (ref) or held in memory (held). */
interface Inflight {
  ref: EntryRef | null;
  held: Held | null;
  size: number;
  /** A group's log entry (server/group_relay.ts). */
  group?: GroupInflight | null;
}

/** One connection. */
class Session {
  readonly link: Link;
  readonly nonce: Uint8Array;
  readonly budget: ConnectionBudget;
  readonly ticket: Ticket | null;
  readonly ended: Promise<void>;
  id: Uint8Array | null = null;
  key = "";
  lastFrame: number;
  /** KeyUpdates received on this connection and already charged. */
  keyUpdates = 0;
  /** Highest queue sequence number sent on this connection. */
  cursor = -1;
  /** Entries sent and not yet acknowledged, by hex id. */
  readonly inflight = new Map<string, Inflight>();
  /** The store may hold entries for this user beyond `cursor` (false only right after a full read). */
  backlog = true;
  inflightBytes = 0;
  /** The groups whose logs this connection reads (server/group_relay.ts). */
  readonly groups = new Map<string, SessionGroup>();
  pumping = false;
  pumpAgain = false;
  #unpause: () => void = () => {};

  constructor(
    link: (onEnd: () => void) => Link,
    nonce: Uint8Array,
    budget: ConnectionBudget,
    ticket: Ticket | null,
    now: number,
  ) {
    let resolve!: () => void;
    this.ended = new Promise((r) => (resolve = r));
    this.link = link(() => {
      resolve();
      this.#unpause();
    });
    this.nonce = nonce;
    this.budget = budget;
    this.ticket = ticket;
    this.lastFrame = now;
  }

  /** Waits `ms`, or less if the connection ends meanwhile. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#unpause = () => {};
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#unpause = done;
    });
  }
}

/** The relay. Create it, pass `handle` to a TlsListener, and call `shutdown` then `close` at the end. */
export class Relay {
  readonly #store: RelayStore;
  readonly #limits: RelayLimits;
  readonly #now: () => number;
  readonly #monotonic: () => number;
  readonly #random: RandomSource;
  readonly #log: (message: string) => void;
  readonly #onFrame?: (frame: ClientFrame) => void;
  /** Every connection, logged in or not. */
  readonly #sessions = new Set<Session>();
  /** Logged-in connections by hex ID. */
  readonly #online = new Map<string, Session>();
  /** Background work (deliveries, notices) to wait for at shutdown. */
  readonly #tasks = new Set<Promise<void>>();
  readonly #requestLimiter: KeyedLimiter;
  readonly #oneTimeLimiter: KeyedLimiter;
  readonly #uploadLimiter: KeyedLimiter;
  readonly #costlyLimiter: KeyedLimiter;
  readonly #registrations: TokenBucket;
  readonly #sourceRegistrations: KeyedLimiter;
  readonly #ticker: ReturnType<typeof setInterval>;
  readonly #groups: GroupRelay;
  #lastSweep: number;
  #sweeping = false;
  #closing = false;

  constructor(options: RelayOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    if (typeof options.store !== "object" || options.store === null) throw new TypeError("store is required");
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const [name, value] of Object.entries(limits)) {
      if (typeof value !== "number" || !(value > 0)) throw new RangeError(`limits.${name} must be positive`);
    }
    if (limits.maxFrameBytes > MAX_FRAME_BYTES) throw new RangeError("limits.maxFrameBytes is too large");
    if (limits.maxMessageBytes > MAX_BODY_BYTES) throw new RangeError("limits.maxMessageBytes is too large");
    if (limits.maxChatsAndRequests > Math.min(MAX_WELCOME_CHATS, MAX_WELCOME_REQUESTS)) {
      throw new RangeError("limits.maxChatsAndRequests must fit in a Welcome frame");
    }
    if (limits.maxGroupMembers > MAX_GROUP_MEMBERS_LIMIT || !Number.isInteger(limits.maxGroupMembers)) {
      throw new RangeError(`limits.maxGroupMembers must be an integer of at most ${MAX_GROUP_MEMBERS_LIMIT}`);
    }
    this.#store = options.store;
    this.#limits = limits;
    this.#now = options.now ?? Date.now;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#random = options.random ?? systemRandom;
    this.#log = options.log ?? (() => {});
    this.#onFrame = options.onFrame;
    this.#requestLimiter = new KeyedLimiter(
      limits.chatRequestBurst,
      limits.chatRequestsPerHour / 3600,
      this.#monotonic,
    );
    this.#oneTimeLimiter = new KeyedLimiter(
      limits.oneTimeBurst,
      limits.oneTimePerHour / 3600,
      this.#monotonic,
    );
    this.#uploadLimiter = new KeyedLimiter(
      limits.prekeyUploadsPerMinute,
      limits.prekeyUploadsPerMinute / 60,
      this.#monotonic,
    );
    this.#costlyLimiter = new KeyedLimiter(
      limits.costlyFramesPerMinute,
      limits.costlyFramesPerMinute / 60,
      this.#monotonic,
    );
    this.#registrations = new TokenBucket(
      limits.registrationBurst,
      limits.registrationsPerHour / 3600,
      this.#monotonic,
    );
    this.#sourceRegistrations = new KeyedLimiter(
      limits.registrationBurstPerSource,
      limits.registrationsPerSourcePerHour / 3600,
      this.#monotonic,
    );
    this.#groups = new GroupRelay({
      store: this.#store,
      limits,
      now: this.#now,
      online: (key) => this.#online.get(key),
      wakeQueue: (key) => this.#wake(key),
      track: (task) => {
        this.#tasks.add(task);
        void task.finally(() => this.#tasks.delete(task)).catch(() => {});
      },
      fail: (s, e) => this.#fail(s as Session, e),
      log: this.#log,
    });
    this.#lastSweep = this.#monotonic();
    const tick = Math.max(250, Math.min(30 * SECOND, limits.idleTimeoutMs / 4));
    this.#ticker = setInterval(() => this.#tick(), tick);
  }

  /** Connections served now (logged in or not). */
  get connections(): number {
    return this.#sessions.size;
  }

  /** Users logged in now. */
  get online(): number {
    return this.#online.size;
  }

  /** Bytes the store holds, as it counts them (docs/store.md, "Quotas"). */
  get storeUsage(): number {
    return this.#store.usage;
  }

  /**
   * Serves one TLS connection until it ends; never throws. For TlsListenerOptions.handler: `ticket` (from
   * the listener's admission) brings the connection's source and budget; without one it gets a budget of
   * its own and no per-source limits.
   */
  handle = async (
    conn: TlsConnection,
    _remote?: Deno.NetAddr,
    ticket: Ticket | null = null,
  ): Promise<void> => {
    const session = new Session(
      (onEnd) => new Link(conn, this.#limits, onEnd),
      this.#random(NONCE_BYTES),
      ticket?.budget ?? new ConnectionBudget(this.#limits, this.#monotonic),
      ticket,
      this.#monotonic(),
    );
    if (this.#closing) {
      session.link.send({ type: "shutdown" });
      return void await session.link.close();
    }
    this.#sessions.add(session);
    void session.ended.then(() => this.#ended(session));
    const timer = setTimeout(() => {
      if (session.id === null) this.#fail(session, new Refusal("timeout", "no login in time"));
    }, this.#limits.loginTimeoutMs);
    try {
      session.link.send({ type: "challenge", version: WIRE_VERSION, nonce: session.nonce });
      await this.#readLoop(session);
    } catch (e) {
      this.#fail(session, e);
    } finally {
      clearTimeout(timer);
      await session.link.close();
      await this.#ended(session);
    }
  };

  async #readLoop(s: Session): Promise<void> {
    // Until Login, no frame may be longer than the largest Login.
    const splitter = new FrameSplitter(Math.min(this.#limits.maxFrameBytes, MAX_LOGIN_FRAME_BYTES));
    while (!s.link.closed) {
      let chunk: Uint8Array | null;
      try {
        chunk = await s.link.conn.readChunk();
      } catch {
        return; // the peer vanished or broke TLS: nothing to tell it
      }
      if (chunk === null) return;
      // KeyUpdates come between chunks of data (at most four in a row, then TLS itself ends the
      // connection): each is charged here, before the connection is read again.
      const updates = s.link.conn.keyUpdatesReceived;
      s.budget.charge((updates - s.keyUpdates) * KEY_UPDATE_COST);
      s.keyUpdates = updates;
      for (const body of splitter.push(chunk)) {
        if (s.id !== null) {
          for (let wait = s.budget.debtMs(); wait > 0 && !s.link.closed; wait = s.budget.debtMs()) {
            await s.pause(wait);
          }
          if (s.link.closed) return;
          s.budget.charge(FRAME_COST.get(body[0]) ?? 1); // served or refused: its bytes were read
          if (body[0] === FrameType.uploadPrekeys && !this.#uploadLimiter.tryTake(s.key)) {
            // Refused before the bundle is decoded (a large part of its cost).
            s.lastFrame = this.#monotonic();
            const id = body.length >= 5 ? new DataView(body.buffer, body.byteOffset + 1, 4).getUint32(0) : 0;
            this.#result(s, id, "rate-limited", "too many prekey uploads; try again in a minute");
            continue;
          }
        }
        s.lastFrame = this.#monotonic();
        await this.#dispatch(s, decodeClientFrame(body));
        if (s.id !== null) splitter.maxBody = this.#limits.maxFrameBytes;
      }
    }
  }

  /** Ends a connection for `error`: an Error frame saying why, then close. */
  #fail(s: Session, error: unknown): void {
    let code: ErrorCode = "internal", message = "the relay failed while serving this connection";
    if (error instanceof Refusal) {
      code = error.code;
      message = error.message;
    } else if (error instanceof ProtocolError) {
      code = error.code === "unsupported"
        ? "unsupported"
        : error.code === "exhausted"
        ? "too-large"
        : "malformed";
      message = error.message;
    } else {
      this.#log(`internal error on a connection: ${error instanceof Error ? error.message : String(error)}`);
    }
    s.link.send({ type: "error", code, message });
    void s.link.close();
  }

  async #dispatch(s: Session, f: ClientFrame): Promise<void> {
    if (s.id === null) {
      if (f.type !== "login") throw new Refusal("unexpected", `expected Login, got ${f.type}`);
      return await this.#login(s, f);
    }
    this.#onFrame?.(f);
    const user = s.id;
    if (COSTLY.has(f.type) && !this.#costlyLimiter.tryTake(s.key)) {
      const requestId = (f as { requestId: number }).requestId;
      return this.#result(
        s,
        requestId,
        "rate-limited",
        "too many requests of this kind; try again in a minute",
      );
    }
    switch (f.type) {
      case "login":
        throw new Refusal("unexpected", "already logged in");
      case "ping":
        return this.#result(s, f.requestId, "ok", "");
      case "upload-prekeys": {
        try {
          verifyBundle(f.bundle, user);
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
          return this.#result(s, f.requestId, "bad-prekeys", e.message);
        }
        const counts = await this.#store.putPrekeys(user, f.bundle, this.#limits.maxOneTimePrekeys);
        const held = CURVES.map((c) => `${c}: ${counts[c]}`).join(", ");
        return this.#result(s, f.requestId, "ok", `one-time prekeys held: ${held}`);
      }
      case "request-chat": {
        if (equalBytes(f.peerId, user)) {
          return this.#result(s, f.requestId, "bad-request", "that is your own ID");
        }
        if (!this.#requestLimiter.tryTake(s.key)) {
          return this.#result(s, f.requestId, "rate-limited", "too many chat requests; try again later");
        }
        const counts = await this.#store.prekeyCounts(user);
        if (CURVES.some((c) => counts[c] === null)) {
          return this.#result(s, f.requestId, "no-prekeys", "upload prekeys before asking for a chat");
        }
        const now = this.#now();
        const out = await this.#store.requestChat(
          user,
          f.peerId,
          f.curve,
          now,
          this.#limits.requestTtlMs,
          this.#limits.maxChatsAndRequests,
        );
        switch (out.kind) {
          case "pending":
            return this.#result(s, f.requestId, "ok", "request recorded");
          case "already-open":
            return this.#result(s, f.requestId, "ok", "the chat is already open");
          case "blocked":
            return this.#result(s, f.requestId, "not-allowed", "you have blocked this ID; unblock it first");
          case "limit":
            return this.#result(s, f.requestId, "limit", "too many open chats and pending requests");
          case "opened":
            this.#result(s, f.requestId, "ok", "the chat is open");
            this.#wake(bytesToHex(f.peerId));
            this.#wake(s.key);
            return;
        }
        return;
      }
      case "cancel-request": {
        const had = await this.#store.cancelRequest(user, f.peerId);
        return this.#result(s, f.requestId, "ok", had ? "request cancelled" : "there was no such request");
      }
      case "block": {
        if (equalBytes(f.peerId, user)) {
          return this.#result(s, f.requestId, "bad-request", "that is your own ID");
        }
        if (await this.#store.block(user, f.peerId, this.#now())) this.#wake(bytesToHex(f.peerId));
        return this.#result(s, f.requestId, "ok", "blocked");
      }
      case "unblock":
        await this.#store.unblock(user, f.peerId);
        return this.#result(s, f.requestId, "ok", "unblocked");
      case "close-chat": {
        if (!await this.#store.closeChat(user, f.peerId, this.#now())) {
          return this.#result(s, f.requestId, "no-chat", "there is no open chat with this ID");
        }
        this.#wake(bytesToHex(f.peerId));
        return this.#result(s, f.requestId, "ok", "chat closed");
      }
      case "send":
        return await this.#send(s, user, f);
      case "ack":
        return await this.#ack(s, user, f.ids);
      default:
        return await this.#groups.handle(s, f);
    }
  }

  #result(s: Session, requestId: number, code: ResultCode, detail: string): void {
    s.link.send({ type: "result", requestId, code, detail });
  }

  async #login(s: Session, f: Extract<ClientFrame, { type: "login" }>): Promise<void> {
    if (!equalBytes(deriveId(f.identity), f.id)) {
      throw new Refusal("login-failed", "the identity keys do not hash to the ID");
    }
    const exporter = s.link.conn.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), EXPORTER_BYTES);
    if (!verifyLogin(f.identity, s.nonce, exporter, f.signature)) {
      throw new Refusal("login-failed", "the login signature does not verify for this session");
    }
    const identity = encodeIdentityPublic(f.identity);
    const known = await this.#store.identity(f.id);
    if (known !== null && !equalBytes(known, identity)) {
      throw new Refusal("login-failed", "another identity is registered under this ID");
    }
    if (known === null) this.#mayRegister(s);
    if (s.ticket !== null && !s.ticket.promote()) {
      throw new Refusal("rate-limited", "the relay is full; try again later");
    }
    s.budget.markLoggedIn();
    if (await this.#store.register(f.id, identity, this.#now()) === "conflict") {
      throw new Refusal("login-failed", "another identity is registered under this ID");
    }
    if (s.link.closed) return;
    const key = bytesToHex(f.id);
    const old = this.#online.get(key);
    if (old !== undefined) {
      old.link.send({ type: "replaced" });
      void old.link.close();
    }
    s.id = f.id;
    s.key = key;
    this.#online.set(key, s);

    // At most what a Welcome can carry, so that no store content can make a login fail (the relay keeps
    // fewer: maxChatsAndRequests); a client learns of any others as they change.
    const [chats, requests, queued, counts] = await Promise.all([
      this.#store.listChats(f.id, MAX_WELCOME_CHATS),
      this.#store.listRequests(f.id, this.#now(), MAX_WELCOME_REQUESTS),
      this.#store.queuedCount(f.id),
      this.#store.prekeyCounts(f.id),
    ]);
    s.link.send({
      type: "welcome",
      id: f.id,
      serverTime: this.#now(),
      chats: chats.map((c) => ({ ...c, online: this.#online.has(bytesToHex(c.peerId)) })),
      requests,
      queued,
    });
    for (const curve of CURVES) {
      const n = counts[curve];
      if (n === null || n < this.#limits.prekeyLowWater) {
        s.link.send({ type: "prekeys-low", curve, remaining: n ?? 0 });
      }
    }
    for (const c of chats) {
      this.#online.get(bytesToHex(c.peerId))?.link.send({ type: "peer-online", peerId: f.id });
    }
    this.#wake(key);
    await this.#groups.login(s);
  }

  /** Throws a Refusal unless a new identity may be registered now (from this connection's source). */
  #mayRegister(s: Session): void {
    // Room for the identity and the prekeys it will upload (three full sets are about 64 KiB).
    if (this.#store.usage + NEW_IDENTITY_BYTES > this.#limits.storeQuotaBytes) {
      throw new Refusal("rate-limited", "the relay's store is full; it takes no new identities for now");
    }
    const source = s.ticket?.source ?? "";
    if (!this.#sourceRegistrations.tryTake(source) || !this.#registrations.tryTake()) {
      throw new Refusal("rate-limited", "too many new identities; try again later");
    }
  }

  async #send(s: Session, user: Uint8Array, f: Extract<ClientFrame, { type: "send" }>): Promise<void> {
    const refuse = (reason: ResultCode) =>
      void s.link.send({ type: "refused", requestId: f.requestId, messageId: f.messageId, reason });
    if (equalBytes(f.to, user)) return refuse("bad-request");
    if (f.body.length > this.#limits.maxMessageBytes) return refuse("too-large");
    const now = this.#now();
    const toKey = bytesToHex(f.to), idKey = bytesToHex(f.messageId);
    const frame: ServerFrame = {
      type: "deliver",
      from: user,
      messageId: f.messageId,
      queuedAt: now,
      body: f.body,
    };
    const r = this.#online.get(toKey);
    if (r !== undefined && this.#caughtUp(r) && !r.inflight.has(idKey)) {
      if (!await this.#store.hasChat(user, f.to)) return refuse("no-chat");
      if (this.#caughtUp(r) && !r.inflight.has(idKey)) {
        const held: Held = {
          sender: s,
          requestId: f.requestId,
          from: user,
          to: f.to,
          messageId: f.messageId,
          body: f.body,
          at: now,
          timer: setTimeout(() => this.#persist(r, idKey), this.#limits.holdMs),
          persisting: false,
          done: false,
          ackedMeanwhile: false,
        };
        r.inflight.set(idKey, { ref: null, held, size: f.body.length });
        r.inflightBytes += f.body.length;
        r.link.send(frame);
        return;
      }
    }
    const out = await this.#enqueue(user, f.to, f.messageId, f.body, now);
    if (out.kind === "queued" || out.kind === "already-queued") {
      s.link.send({ type: "queued", requestId: f.requestId, messageId: f.messageId });
      if (out.kind === "queued") this.#deliverNow(toKey, out.ref, frame);
    } else {
      refuse(out.kind);
    }
  }

  #enqueue(from: Uint8Array, to: Uint8Array, messageId: Uint8Array, body: Uint8Array, now: number) {
    return this.#store.enqueue(from, to, messageId, body, now, {
      maxCount: this.#limits.maxQueuedMessages,
      maxBytes: this.#limits.maxQueuedMessageBytes,
      ttl: this.#limits.messageTtlMs,
      maxSenderBytes: this.#limits.senderQuotaBytes,
      maxStoreBytes: this.#limits.storeQuotaBytes,
    });
  }

  /** True if everything stored for `r` was sent, nothing is being read, and the window has room. */
  #caughtUp(r: Session): boolean {
    const L = this.#limits;
    return !r.link.closed && !r.backlog && !r.pumping && r.inflight.size < L.deliveryWindow &&
      r.inflightBytes < L.deliveryWindowBytes;
  }

  /**
   * Writes a held message to the store (its hold expired, or its recipient `r` left) and tells the
   * sender. If `r` is still connected, its in-flight entry then refers to the stored copy.
   */
  #persist(r: Session, idKey: string): void {
    const entry = r.inflight.get(idKey);
    const held = entry?.held;
    if (entry === undefined || held == null || held.persisting) return;
    clearTimeout(held.timer);
    held.persisting = true;
    const task: Promise<void> = (async () => {
      let out;
      try {
        out = await this.#enqueue(held.from, held.to, held.messageId, held.body, held.at);
      } finally {
        held.done = true;
      }
      const { sender, requestId, messageId } = held;
      if (out.kind === "queued" || out.kind === "already-queued") {
        sender.link.send({ type: "queued", requestId, messageId });
      } else {
        sender.link.send({ type: "refused", requestId, messageId, reason: out.kind });
      }
      if (held.ackedMeanwhile) {
        // Acknowledged while it was being written: delete the stored copy, and only then let go of the
        // in-flight entry, which until now kept the delivery pump from sending that copy again.
        if (out.kind === "queued") await this.#store.ack(held.to, [out.ref]);
        if (r.inflight.get(idKey) === entry) {
          r.inflight.delete(idKey);
          r.inflightBytes -= entry.size;
          this.#wake(r.key);
        }
        return;
      }
      if (out.kind !== "queued") return;
      if (!r.link.closed && r.inflight.get(idKey) === entry) {
        entry.ref = out.ref;
        entry.held = null;
        if (!r.pumping && r.cursor === out.ref.seq - 1) r.cursor = out.ref.seq;
      } else {
        this.#wake(bytesToHex(held.to)); // the recipient left: it gets the stored copy at its next login
      }
    })().catch((e) => this.#log(`storing a held message failed: ${(e as Error).message}`))
      .finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  async #ack(s: Session, user: Uint8Array, ids: Uint8Array[]): Promise<void> {
    const refs: EntryRef[] = [], unknown: Uint8Array[] = [];
    /** Stored entries: they stay in flight until the store has deleted them, so no pump resends them. */
    const storedEntries: [string, Inflight][] = [];
    const groupEntries: GroupInflight[] = [];
    for (const id of ids) {
      const k = bytesToHex(id);
      const sent = s.inflight.get(k);
      if (sent === undefined) {
        unknown.push(id);
        continue;
      }
      if (sent.group) {
        s.inflight.delete(k);
        s.inflightBytes -= sent.size;
        groupEntries.push(sent.group);
        continue;
      }
      const held = sent.held;
      if (held !== null && held.persisting && !held.done) {
        // Being written right now: #persist deletes the stored copy, then the in-flight entry.
        held.ackedMeanwhile = true;
        held.sender.link.send({ type: "delivered", peerId: user, messageId: id });
        continue;
      }
      if (held === null) {
        refs.push(sent.ref!);
        storedEntries.push([k, sent]);
        continue;
      }
      s.inflight.delete(k);
      s.inflightBytes -= sent.size;
      if (held.persisting) {
        held.sender.link.send({ type: "delivered", peerId: user, messageId: id }); // it was not stored
      } else {
        clearTimeout(held.timer);
        held.sender.link.send({ type: "queued", requestId: held.requestId, messageId: id });
        held.sender.link.send({ type: "delivered", peerId: user, messageId: id });
      }
    }
    let acked;
    try {
      acked = await this.#store.ack(user, refs, unknown);
    } finally {
      for (const [k, entry] of storedEntries) {
        if (s.inflight.get(k) === entry) {
          s.inflight.delete(k);
          s.inflightBytes -= entry.size;
        }
      }
    }
    for (const a of acked) {
      if (a.from !== null) {
        this.#online.get(bytesToHex(a.from))?.link.send({ type: "delivered", peerId: user, messageId: a.id });
      }
    }
    if (groupEntries.length > 0) this.#groups.acked(s, groupEntries);
    // Acknowledgements of group entries only wake 1:1 delivery if the window held some back (a read of the
    // queue otherwise: a hundred per group message, one for each member's Ack).
    if (groupEntries.length < ids.length || s.backlog) this.#wake(s.key);
    this.#groups.resume(s);
  }

  // ---- delivery ---------------------------------------------------------------------------------------

  /** Starts (or re-runs) delivery to the user `key` if it is online. */
  #wake(key: string): void {
    const s = this.#online.get(key);
    if (s === undefined || s.link.closed) return;
    s.backlog = true;
    if (s.pumping) {
      s.pumpAgain = true;
      return;
    }
    s.pumping = true;
    const task: Promise<void> = this.#pump(s)
      .catch((e) => this.#fail(s, e))
      .finally(() => {
        s.pumping = false;
        this.#tasks.delete(task);
        // A wake that came after the pump's last check (it only set pumpAgain) must not be lost.
        if (s.pumpAgain) this.#wake(key);
      });
    this.#tasks.add(task);
  }

  /**
   * A message just queued for `key`: sent at once, without reading it back, if the recipient is online
   * and caught up (everything before it was sent) with room in its window; otherwise left to the pump.
   */
  #deliverNow(key: string, ref: EntryRef, frame: ServerFrame): void {
    const r = this.#online.get(key);
    if (r === undefined || r.link.closed) return;
    const L = this.#limits;
    const room = r.inflight.size < L.deliveryWindow && r.inflightBytes < L.deliveryWindowBytes;
    if (r.pumping || r.cursor !== ref.seq - 1 || !room) return this.#wake(key);
    r.backlog = false;
    r.cursor = ref.seq;
    r.inflight.set(bytesToHex(ref.id), { ref, held: null, size: ref.size });
    r.inflightBytes += ref.size;
    r.link.send(frame);
  }

  /** Sends queued entries in order while the delivery window has room. */
  async #pump(s: Session): Promise<void> {
    const L = this.#limits;
    do {
      s.pumpAgain = false;
      while (
        !s.link.closed && s.inflight.size < L.deliveryWindow && s.inflightBytes < L.deliveryWindowBytes
      ) {
        const want = L.deliveryWindow - s.inflight.size;
        const { items, last, listed } = await this.#store.readQueue(s.id!, s.cursor, want, this.#now());
        for (const item of items) {
          if (s.link.closed) return;
          s.cursor = item.ref.seq;
          const k = bytesToHex(item.ref.id);
          if (s.inflight.has(k)) continue;
          const frame = await this.#frameFor(s, item);
          if (frame === null) continue;
          const size = item.kind === "message" ? item.body.length : 1024;
          s.inflight.set(k, { ref: item.ref, held: null, size });
          s.inflightBytes += size;
          s.link.send(frame);
        }
        if (!s.link.closed) s.cursor = Math.max(s.cursor, last);
        if (listed < want) {
          s.backlog = s.pumpAgain;
          break;
        }
      }
    } while (s.pumpAgain && !s.link.closed);
  }

  async #frameFor(s: Session, item: QueuedItem): Promise<ServerFrame | null> {
    switch (item.kind) {
      case "message":
        return {
          type: "deliver",
          from: item.from,
          messageId: item.ref.id,
          queuedAt: item.at,
          body: item.body,
        };
      case "closed":
        return { type: "chat-closed", eventId: item.ref.id, peerId: item.peer };
      case "invite":
        return {
          type: "invite-accepted",
          eventId: item.ref.id,
          groupId: item.group,
          invitee: item.invitee,
          keyPackage: item.keyPackage,
        };
      case "opened": {
        const peerKey = bytesToHex(item.peer);
        const online = this.#online.has(peerKey);
        const base = {
          type: "chat-opened",
          eventId: item.ref.id,
          peerId: item.peer,
          curve: item.curve,
          online,
        } as const;
        if (item.role === "responder") {
          const identity = await this.#store.identity(item.peer);
          if (identity === null) throw new Error("a chat peer has no stored identity");
          return { ...base, role: "responder", identity: decodeIdentityPublic(identity), bundle: null };
        }
        let bytes = item.bundle;
        if (bytes === null) {
          const allow = this.#oneTimeLimiter.tryTake(`t${peerKey}`) &&
            this.#oneTimeLimiter.tryTake(`r${s.key}`);
          const fixed = await this.#store.fixBundle(s.id!, item.ref.seq, allow);
          if (fixed === null) return null;
          bytes = fixed.bundle;
          if (fixed.tookOneTime && fixed.remaining < this.#limits.prekeyLowWater) {
            this.#online.get(peerKey)?.link.send({
              type: "prekeys-low",
              curve: item.curve,
              remaining: fixed.remaining,
            });
          }
        }
        const bundle = decodeBundle(bytes);
        return { ...base, role: "initiator", identity: bundle.identity, bundle };
      }
    }
  }

  // ---- ends, timers, shutdown -------------------------------------------------------------------------

  /** Forgets a connection that ended; tells its chat peers it is offline unless another took over. */
  async #ended(s: Session): Promise<void> {
    if (!this.#sessions.delete(s)) return;
    for (const [k, entry] of s.inflight) if (entry.held !== null) this.#persist(s, k);
    this.#groups.ended(s);
    if (s.id === null || this.#online.get(s.key) !== s) return;
    this.#online.delete(s.key);
    if (this.#closing) return;
    const user = s.id;
    const task = (async () => {
      const chats = await this.#store.listChats(user);
      if (this.#online.has(s.key)) return; // logged in again meanwhile
      for (const c of chats) {
        this.#online.get(bytesToHex(c.peerId))?.link.send({ type: "peer-offline", peerId: user });
      }
    })().catch((e) => this.#log(`presence update failed: ${(e as Error).message}`));
    this.#tasks.add(task);
    await task;
    this.#tasks.delete(task);
  }

  #tick(): void {
    const now = this.#monotonic();
    for (const s of this.#sessions) {
      if (now - s.lastFrame > this.#limits.idleTimeoutMs) {
        this.#fail(s, new Refusal("timeout", "idle for too long"));
      }
    }
    this.#requestLimiter.prune();
    this.#oneTimeLimiter.prune();
    this.#uploadLimiter.prune();
    this.#costlyLimiter.prune();
    this.#sourceRegistrations.prune();
    if (now - this.#lastSweep >= this.#limits.sweepIntervalMs && !this.#sweeping) {
      this.#lastSweep = now;
      const task: Promise<void> = this.sweep().then(() => {}, (e) => this.#log(`sweep failed: ${e.message}`))
        .finally(() => this.#tasks.delete(task));
      this.#tasks.add(task);
    }
  }

  /**
   * Deletes lapsed messages and requests, and expires identities without a login for identityTtlMs,
   * until nothing due is left (it also runs every sweepIntervalMs). Peers of an expired identity are told
   * their chat closed.
   */
  async sweep(): Promise<{ messages: number; requests: number; identities: number }> {
    this.#sweeping = true;
    try {
      const now = this.#now();
      const lapsed = await this.#store.sweep(now);
      const online = (id: Uint8Array) => this.#online.has(bytesToHex(id));
      const expired = await this.#store.expireIdentities(now, this.#limits.identityTtlMs, online);
      for (const peer of expired.peers) this.#wake(bytesToHex(peer));
      await this.#groups.collectAll();
      return { ...lapsed, identities: expired.identities };
    } finally {
      this.#sweeping = false;
    }
  }

  /**
   * Deletes the entries of every group's log that all its readers have acknowledged (also done for busy
   * groups every groupCollectMs, and by the sweep). Returns how many.
   */
  async collectGroups(): Promise<number> {
    return await this.#groups.collectAll();
  }

  /**
   * Tells every connection the relay is shutting down, closes them (writing what is queued, within the
   * stall limit) and waits for background work. New connections are refused from now on.
   */
  async shutdown(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#ticker);
    const closing: Promise<void>[] = [];
    for (const s of this.#sessions) {
      s.link.send({ type: "shutdown" });
      closing.push(s.link.close());
    }
    await Promise.allSettled(closing);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    await this.#groups.close();
  }
}
