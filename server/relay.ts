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
import { type CurveName, CURVES } from "../protocol/suite.ts";
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
  OPTION_REQUESTS_INBOX,
  type ResultCode,
  type ServerFrame,
  verifyLogin,
  WIRE_VERSION,
  type WithdrawOutcome,
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
  /** Below this many one-time KEM prekeys, the owner is told (KemPrekeysLow), if it has uploaded any. */
  kemPrekeyLowWater: number;
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
  kemPrekeyLowWater: 8,
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
  // Decoding (up to 600 points and 33 ML-KEM keys) and six signature verifications (the signed prekeys and
  // the last-resort KEM prekey on every curve): twice a classical bundle's CPU (bench/prekey_cost.ts,
  // about 9 ms); four KV transactions.
  [FrameType.uploadPrekeys, 200],
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
  [FrameType.sendExpiring, 2], // as Send
  [FrameType.withdraw, 5], // reads and a KV transaction
  [FrameType.setOptions, 10], // turning the inbox on reads up to 1,000 index entries
  [FrameType.dismissRequest, 5],
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
  "set-options",
  "dismiss-request",
]);

/** Pending requests announced (ChatAsked) when a connection turns its requests inbox on. */
export const MAX_ASKED_LISTED = 100;

/** Scheduled expiry sweeps run at most this often (ms): per-message expiry is that late at most. */
const EXPIRY_GAP_MS = 1000;

/**
 * What the relay did, counted since it started, for the operator's log (server/oplog.ts): counts only,
 * never an ID or an address.
 */
export interface RelayStats {
  /** Connections served (after TLS). */
  connections: number;
  logins: number;
  /** Logins that registered a new identity. */
  registrations: number;
  /** Messages accepted (answered Queued for the first time). */
  queued: number;
  /** Messages acknowledged by their recipient. */
  delivered: number;
  /** Messages their sender withdrew before delivery. */
  withdrawn: number;
  /** Messages deleted because they lapsed. */
  expired: number;
  /** Refusals by "what.reason": error.* (connection ended), send.* (Refused), request.* (a Result not ok). */
  refused: Map<string, number>;
}

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
  /** The recipient's connection, which was sent the message. */
  recipient: Session;
  requestId: number;
  from: Uint8Array;
  to: Uint8Array;
  messageId: Uint8Array;
  body: Uint8Array;
  at: number;
  /** The sender's lifetime for it (SendExpiring), if any. */
  ttl: number | undefined;
  timer: ReturnType<typeof setTimeout>;
  /** Being written to the store (or written: see `done`). */
  persisting: boolean;
  /** The write to the store has finished (whatever its outcome). */
  done: boolean;
  /** Acknowledged (or withdrawn) while being written: delete it once written. */
  ackedMeanwhile: boolean;
  /** Settles when the write (and a deletion for ackedMeanwhile) is over; set by #persist. */
  written: Promise<void> | null;
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
  /** The connection asked for ChatAsked (SetOptions with OPTION_REQUESTS_INBOX). */
  inbox = false;
  /** Entries withdrawn while a pump ran: the pump may have read them before, and must not send them. */
  readonly skip = new Set<string>();
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
  /** ChatAsked sent live per target (the burst and rate of chat requests). */
  readonly #askedLimiter: KeyedLimiter;
  /** Messages held in memory (see Held) by recipient hex ‖ message id hex, until stored or acknowledged. */
  readonly #held = new Map<string, Held>();
  readonly #ticker: ReturnType<typeof setInterval>;
  readonly #groups: GroupRelay;
  #lastSweep: number;
  #sweeping = false;
  #closing = false;
  /** The scheduled expiry sweep: its timer and when it fires (monotonic; Infinity: none). */
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #expiryFires = Infinity;
  /** When the last scheduled expiry sweep started (monotonic). */
  #lastExpirySweep = -Infinity;
  /** Counts for the operator's log. */
  readonly stats: RelayStats = {
    connections: 0,
    logins: 0,
    registrations: 0,
    queued: 0,
    delivered: 0,
    withdrawn: 0,
    expired: 0,
    refused: new Map(),
  };

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
    this.#askedLimiter = new KeyedLimiter(
      limits.chatRequestBurst,
      limits.chatRequestsPerHour / 3600,
      this.#monotonic,
    );
    this.#lastSweep = this.#monotonic();
    const tick = Math.max(250, Math.min(30 * SECOND, limits.idleTimeoutMs / 4));
    this.#ticker = setInterval(() => this.#tick(), tick);
    this.#track(this.#rearmExpiry());
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
    this.stats.connections++;
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
    this.#count(`error.${code}`);
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
        if (f.bundle.kemPrekey === null) {
          // A classical (version 1) bundle comes from a client before PQXDH, with which no new chat can
          // start: its user is told in one sentence, instead of chats that open and never work.
          const why = "this relay needs post-quantum (PQXDH) prekeys, so your client must be updated";
          return this.#result(s, f.requestId, "bad-prekeys", why);
        }
        try {
          verifyBundle(f.bundle, user);
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw e;
          return this.#result(s, f.requestId, "bad-prekeys", e.message);
        }
        const counts = await this.#store.putPrekeys(user, f.bundle, this.#limits.maxOneTimePrekeys);
        const held = CURVES.map((c) => `${c}: ${counts[c]}`).join(", ");
        const kem = await this.#store.kemPrekeyCount(user);
        return this.#result(s, f.requestId, "ok", `one-time prekeys held: ${held}, ML-KEM-1024: ${kem}`);
      }
      case "request-chat": {
        if (equalBytes(f.peerId, user)) {
          return this.#result(s, f.requestId, "bad-request", "that is your own ID");
        }
        if (!this.#requestLimiter.tryTake(s.key)) {
          return this.#result(s, f.requestId, "rate-limited", "too many chat requests; try again later");
        }
        const [counts, kem] = await Promise.all([
          this.#store.prekeyCounts(user),
          this.#store.kemPrekeyCount(user),
        ]);
        // KEM prekeys too: every chat is PQXDH, whichever side initiates.
        if (CURVES.some((c) => counts[c] === null) || kem === null) {
          return this.#result(s, f.requestId, "no-prekeys", "upload prekeys before asking for a chat");
        }
        // A request from a peer whose KEM prekeys the relay does not hold (made by a client from before
        // PQXDH) is dropped, not matched: that client could not read the bundle its ChatOpened would carry.
        // Once updated, it asks again. The answer is the same as for any pending request.
        if (await this.#store.kemPrekeyCount(f.peerId) === null) {
          await this.#store.cancelRequest(f.peerId, user);
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
            this.#result(s, f.requestId, "ok", "request recorded");
            if (out.announce) this.#announce(f.peerId, user, f.curve, out.expiresAt);
            return;
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
      case "send-expiring":
        return await this.#send(s, user, f);
      case "ack":
        return await this.#ack(s, user, f.ids);
      case "withdraw":
        return await this.#withdraw(s, user, f);
      case "set-options":
        return await this.#setOptions(s, user, f.requestId, f.options);
      case "dismiss-request": {
        const had = await this.#store.dismissRequest(user, f.peerId);
        return this.#result(s, f.requestId, "ok", had ? "request dismissed" : "there was no such request");
      }
      default:
        return await this.#groups.handle(s, f);
    }
  }

  #result(s: Session, requestId: number, code: ResultCode, detail: string): void {
    if (code !== "ok") this.#count(`request.${code}`);
    s.link.send({ type: "result", requestId, code, detail });
  }

  /** Counts a refusal for the operator's log. */
  #count(reason: string): void {
    this.stats.refused.set(reason, (this.stats.refused.get(reason) ?? 0) + 1);
  }

  // ---- the requests inbox -----------------------------------------------------------------------------
  //
  // Only a connection that asked for it (SetOptions) is told who asks to chat with its user, and the
  // requester's side never changes: its Result, its Welcome and its frames are the same whether the target
  // has the inbox on, is online, has dismissed the request or has blocked it (then it is never announced).

  async #setOptions(s: Session, user: Uint8Array, requestId: number, options: number): Promise<void> {
    if ((options & ~OPTION_REQUESTS_INBOX) !== 0) {
      return this.#result(s, requestId, "bad-request", "unknown options; nothing was changed");
    }
    const inbox = (options & OPTION_REQUESTS_INBOX) !== 0;
    const was = s.inbox;
    s.inbox = inbox;
    this.#result(s, requestId, "ok", inbox ? "requests inbox on" : "requests inbox off");
    if (!inbox || was) return;
    const asked = await this.#store.listAsked(user, this.#now(), MAX_ASKED_LISTED);
    // Oldest first, so that the newest is the last a client shows.
    for (const a of asked.reverse()) {
      if (s.link.closed || !s.inbox) return;
      s.link.send({ type: "chat-asked", peerId: a.peerId, curve: a.curve, expiresAt: a.expiresAt });
    }
  }

  /** Tells `target`, if it is connected with its inbox on, that `from` asked (within its rate limit). */
  #announce(target: Uint8Array, from: Uint8Array, curve: CurveName, expiresAt: number): void {
    const key = bytesToHex(target);
    const t = this.#online.get(key);
    if (t === undefined || !t.inbox || t.link.closed || !this.#askedLimiter.tryTake(key)) return;
    t.link.send({ type: "chat-asked", peerId: from, curve, expiresAt });
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
    const registered = await this.#store.register(f.id, identity, this.#now());
    if (registered === "conflict") {
      throw new Refusal("login-failed", "another identity is registered under this ID");
    }
    this.stats.logins++;
    if (registered === "registered") this.stats.registrations++;
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
    const [chats, requests, queued, counts, kem] = await Promise.all([
      this.#store.listChats(f.id, MAX_WELCOME_CHATS),
      this.#store.listRequests(f.id, this.#now(), MAX_WELCOME_REQUESTS),
      this.#store.queuedCount(f.id),
      this.#store.prekeyCounts(f.id),
      this.#store.kemPrekeyCount(f.id),
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
    // Only to users who have uploaded KEM prekeys: a client from before PQXDH would not know the frame (a
    // new user uploads them anyway on the PrekeysLow above).
    if (kem !== null && kem < this.#limits.kemPrekeyLowWater) {
      s.link.send({ type: "kem-prekeys-low", remaining: kem });
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

  async #send(
    s: Session,
    user: Uint8Array,
    f: Extract<ClientFrame, { type: "send" | "send-expiring" }>,
  ): Promise<void> {
    const refuse = (reason: ResultCode) => {
      this.#count(`send.${reason}`);
      s.link.send({ type: "refused", requestId: f.requestId, messageId: f.messageId, reason });
    };
    const ttl = f.type === "send-expiring" ? Math.min(f.ttl, this.#limits.messageTtlMs) : undefined;
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
          recipient: r,
          requestId: f.requestId,
          from: user,
          to: f.to,
          messageId: f.messageId,
          body: f.body,
          at: now,
          ttl,
          timer: setTimeout(() => this.#persist(r, idKey), this.#limits.holdMs),
          persisting: false,
          done: false,
          ackedMeanwhile: false,
          written: null,
        };
        this.#held.set(toKey + idKey, held);
        r.inflight.set(idKey, { ref: null, held, size: f.body.length });
        r.inflightBytes += f.body.length;
        r.link.send(frame);
        return;
      }
    }
    const out = await this.#enqueue(user, f.to, f.messageId, f.body, now, ttl);
    if (out.kind === "queued" || out.kind === "already-queued") {
      s.link.send({ type: "queued", requestId: f.requestId, messageId: f.messageId });
      if (out.kind === "queued") {
        this.stats.queued++;
        this.#armExpiry(out.ref.expiresAt);
        this.#deliverNow(toKey, out.ref, frame);
      }
    } else {
      refuse(out.kind);
    }
  }

  #enqueue(
    from: Uint8Array,
    to: Uint8Array,
    messageId: Uint8Array,
    body: Uint8Array,
    now: number,
    ttl: number | undefined,
  ) {
    const limits = {
      maxCount: this.#limits.maxQueuedMessages,
      maxBytes: this.#limits.maxQueuedMessageBytes,
      ttl: this.#limits.messageTtlMs,
      maxSenderBytes: this.#limits.senderQuotaBytes,
      maxStoreBytes: this.#limits.storeQuotaBytes,
    };
    return this.#store.enqueue(from, to, messageId, body, now, limits, ttl);
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
        out = await this.#enqueue(held.from, held.to, held.messageId, held.body, held.at, held.ttl);
      } finally {
        held.done = true;
        this.#forgetHeld(held);
      }
      const { sender, requestId, messageId } = held;
      if (out.kind === "queued" || out.kind === "already-queued") {
        sender.link.send({ type: "queued", requestId, messageId });
        if (out.kind === "queued") {
          this.stats.queued++;
          this.#armExpiry(out.ref.expiresAt);
        }
      } else {
        this.#count(`send.${out.kind}`);
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
    held.written = task;
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
        this.stats.delivered++;
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
      this.stats.delivered++;
      if (held.persisting) {
        held.sender.link.send({ type: "delivered", peerId: user, messageId: id }); // it was not stored
      } else {
        clearTimeout(held.timer);
        this.#forgetHeld(held);
        this.stats.queued++;
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
        this.stats.delivered++;
        this.#online.get(bytesToHex(a.from))?.link.send({ type: "delivered", peerId: user, messageId: a.id });
      }
    }
    if (groupEntries.length > 0) this.#groups.acked(s, groupEntries);
    // Acknowledgements of group entries only wake 1:1 delivery if the window held some back (a read of the
    // queue otherwise: a hundred per group message, one for each member's Ack).
    if (groupEntries.length < ids.length || s.backlog) this.#wake(s.key);
    this.#groups.resume(s);
  }

  /** Drops a held message from the index of held messages (it was stored, acknowledged or withdrawn). */
  #forgetHeld(held: Held): void {
    const key = bytesToHex(held.to) + bytesToHex(held.messageId);
    if (this.#held.get(key) === held) this.#held.delete(key);
  }

  // ---- withdrawal -------------------------------------------------------------------------------------

  /**
   * The sender withdraws its own message: deleted from the recipient's queue if it is still there. The
   * answer says whether the relay had already sent it to the recipient's connection ("sent": it may have
   * arrived) or not ("withdrawn"), or that no such message of this sender is queued ("not-found").
   */
  async #withdraw(
    s: Session,
    user: Uint8Array,
    f: Extract<ClientFrame, { type: "withdraw" }>,
  ): Promise<void> {
    const answer = (outcome: WithdrawOutcome) => {
      if (outcome !== "not-found") this.stats.withdrawn++;
      s.link.send({ type: "withdrawn", requestId: f.requestId, messageId: f.messageId, outcome });
    };
    const toKey = bytesToHex(f.to), idKey = bytesToHex(f.messageId);
    const held = this.#held.get(toKey + idKey);
    if (held !== undefined && equalBytes(held.from, user)) {
      if (!held.persisting) {
        // Sent to the recipient and never stored: it is forgotten; the Send still gets its answer.
        clearTimeout(held.timer);
        this.#forgetHeld(held);
        const r = held.recipient, entry = r.inflight.get(idKey);
        if (entry?.held === held) {
          r.inflight.delete(idKey);
          r.inflightBytes -= entry.size;
          this.#wake(r.key);
        }
        this.stats.queued++;
        held.sender.link.send({ type: "queued", requestId: held.requestId, messageId: f.messageId });
        return answer("sent");
      }
      if (!held.done) {
        // Being written: #persist deletes the stored copy once it is written, as for an ack meanwhile;
        // the answer waits for that, so that a crash after it cannot bring the message back.
        held.ackedMeanwhile = true;
        await held.written;
        return answer("sent");
      }
    }
    const before = this.#online.get(toKey)?.inflight.get(idKey);
    if (!await this.#store.withdraw(user, f.to, f.messageId)) return answer("not-found");
    const r = this.#online.get(toKey);
    const entry = r?.inflight.get(idKey);
    if (r !== undefined && entry !== undefined && entry.held === null) {
      // Sent and not yet acknowledged: its ack will find nothing to delete.
      r.inflight.delete(idKey);
      r.inflightBytes -= entry.size;
      this.#wake(r.key);
      return answer("sent");
    }
    // A pump running now may have read the entry before it was deleted.
    if (r?.pumping) r.skip.add(idKey);
    return answer(before !== undefined && before.held === null ? "sent" : "withdrawn");
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
        s.skip.clear(); // the next pump reads afresh: what was withdrawn is gone from the store
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
          if (s.inflight.has(k) || s.skip.has(k)) continue;
          const frame = await this.#frameFor(s, item);
          if (frame === null || s.skip.has(k)) continue;
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
          if (fixed.tookKem && fixed.kemRemaining < this.#limits.kemPrekeyLowWater) {
            this.#online.get(peerKey)?.link.send({ type: "kem-prekeys-low", remaining: fixed.kemRemaining });
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
    this.#askedLimiter.prune();
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
      this.stats.expired += lapsed.messages;
      const online = (id: Uint8Array) => this.#online.has(bytesToHex(id));
      const expired = await this.#store.expireIdentities(now, this.#limits.identityTtlMs, online);
      for (const peer of expired.peers) this.#wake(bytesToHex(peer));
      await this.#groups.collectAll();
      return { ...lapsed, identities: expired.identities };
    } finally {
      this.#sweeping = false;
      this.#track(this.#rearmExpiry());
    }
  }

  // A message that lapses sooner than the next periodic sweep (SendExpiring) gets a sweep of its own at
  // its time (at most one every EXPIRY_GAP_MS), so it leaves the store within about a second of lapsing.
  // readQueue never hands out a lapsed message meanwhile.

  /** Schedules an expiry sweep at `at` (wall time) if that is sooner than the one planned and the next
   * periodic sweep. */
  #armExpiry(at: number): void {
    if (this.#closing) return;
    const wait = at - this.#now();
    if (wait > this.#limits.sweepIntervalMs) return; // the periodic sweep comes first and re-arms
    // Compared on the monotonic clock, so that a jump of the wall clock cannot leave a late timer in place.
    const mono = this.#monotonic();
    const delay = Math.max(wait + 1, EXPIRY_GAP_MS - (mono - this.#lastExpirySweep), 0);
    if (mono + delay >= this.#expiryFires) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryFires = mono + delay;
    this.#expiryTimer = setTimeout(() => this.#expireDue(), delay);
  }

  /** Plans the next expiry sweep from the store's earliest expiry. */
  async #rearmExpiry(): Promise<void> {
    if (this.#closing) return;
    const next = await this.#store.nextExpiry();
    if (next !== null) this.#armExpiry(next);
  }

  /** The scheduled expiry sweep: lapsed messages and requests only (identities wait for the periodic one). */
  #expireDue(): void {
    this.#expiryTimer = undefined;
    this.#expiryFires = Infinity;
    if (this.#closing || this.#sweeping) return; // a sweep is running: it re-arms when it ends
    this.#sweeping = true;
    this.#lastExpirySweep = this.#monotonic();
    this.#track((async () => {
      try {
        this.stats.expired += (await this.#store.sweep(this.#now())).messages;
      } finally {
        this.#sweeping = false;
      }
      await this.#rearmExpiry();
    })());
  }

  /** Runs background work that shutdown waits for; a failure is logged. */
  #track(work: Promise<void>): void {
    const task: Promise<void> = work.catch((e) =>
      this.#log(`background work failed: ${(e as Error).message}`)
    )
      .finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
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
    clearTimeout(this.#expiryTimer);
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
