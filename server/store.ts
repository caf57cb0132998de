// The relay's durable state in Deno KV, and the only module that touches it: identities, prekeys, chat
// requests, open chats, blocks and each user's queue of messages and chat events. Every operation that
// changes two things that must agree is one atomic transaction (optimistic: read, check versionstamps,
// commit, retry on conflict), so the store is consistent after any crash, `kill -9` included: what a
// commit returned is on disk. Keys and values: docs/store.md.
//
// Keys (ids are raw 20-byte user IDs; curve is the wire byte 1, 2, 3):
//   ["user", id]                        public identity (597 bytes)
//   ["prekeys", id, curve]              PrekeyRecord: the signed prekey and the unused one-time prekeys
//   ["kemprekeys", id]                  KemPrekeyRecord: the last-resort and unused one-time KEM prekeys
//   ["request", from, to]               RequestRecord: a pending chat request
//   ["asked", to, from]                 AskedRecord: the same request, found by its target (requests inbox)
//   ["block", blocker, blocked]         true
//   ["chat", user, peer]                ChatRecord: one side of an open chat (both sides always exist)
//   ["queue", user]                     QueueMeta: next sequence number, entries and bytes queued
//   ["inbox", user, seq]                InboxRecord: a queued message or chat event
//   ["body", user, seq, part]           a message body, in parts of at most 65,000 bytes
//   ["msgid", user, messageId]          MsgIdRecord: finds a queued entry by its id (for acks, duplicates)
//   ["expires", at, "inbox", user, seq] and ["expires", at, "request", from, to]: what lapses when
//   ["seen", id]                        the day (since the epoch) of the user's last login
//   ["idle", day, id]                   true: finds the users last seen on `day` (for expiry)
//   ["sent", id]                        KvU64: bytes of messages `id` has queued, over all recipients
//   ["meta", "usage"]                   KvU64: bytes the store holds, as counted (see "Quotas" below)
//   ["meta", "format"]                  3 once the counters and the asked index exist (an older store is
//                                       counted and indexed once)
//
// Quotas: the store keeps a running count of what it holds (exact for message bodies, a fixed cost per
// record otherwise: the *_COST constants below) and of what each sender has queued; both are updated in
// the transactions that change them (commutative `sum` mutations, so they never conflict) and mirrored
// in memory, which the quota checks read.

import {
  bytesToHex,
  checkBytes,
  concatBytes,
  equalBytes,
  type RandomSource,
  systemRandom,
} from "../crypto/bytes.ts";
import { Reader, Writer } from "../protocol/codec.ts";
import { decodeIdentityPublic, ID_BYTES } from "../protocol/identity.ts";
import {
  encodeBundle,
  KEM_PREKEY_ENTRY_BYTES,
  type KemPrekey,
  MAX_ONE_TIME_KEM_PREKEYS,
  type OneTimePrekey,
  packKemPrekeys,
  type PrekeyBundle,
  type SignedPrekey,
  takeOneTimeKemPrekey,
  unpackKemPrekeys,
} from "../protocol/prekeys.ts";
import { curveFromId, curveId, type CurveName, CURVES, pointLength } from "../protocol/suite.ts";
import { MESSAGE_ID_BYTES } from "../protocol/wire.ts";
import { GroupStore } from "./group_store.ts";
import { SerialByKey } from "./serial.ts";

/** Largest value Deno KV takes is 65,536 bytes; bodies are cut into parts below that. */
const BODY_PART = 65_000;
/** Commits retried on a conflict before giving up. */
const MAX_ATTEMPTS = 64;
/** Entries deleted per acknowledgement transaction (each costs up to five mutations and one check). */
const ACK_BATCH = 40;
/** Deno KV's limits on one atomic commit (checks, mutations), and the bytes we let one carry. */
const MAX_CHECKS = 100, MAX_MUTATIONS = 1000, MAX_COMMIT_BYTES = 640 * 1024;
/** Entries kept in each versionstamp cache (chats, queue meta records). */
const CACHE_ENTRIES = 100_000;
/** What each record counts for in the store's usage, besides message bodies (docs/store.md, "Quotas"). */
export const ENTRY_COST = 256, EVENT_COST = 2048 + ENTRY_COST, IDENTITY_COST = 1024, RECORD_COST = 128;
const PREKEY_COST = 512;
const USAGE_KEY = ["meta", "usage"], FORMAT_KEY = ["meta", "format"], FORMAT = 3;
/** The format that had the counters but not yet the asked index. */
const FORMAT_COUNTED = 2;
const DAY = 86_400_000;
/** Lapsed entries read from the expiry index at a time by the sweep (it goes on until none is left). */
const SWEEP_PAGE = 1000;

/** The signed prekey and the unused one-time prekeys of one user on one curve. */
interface PrekeyRecord {
  spkId: number;
  spkCreatedAt: number;
  spkPublic: Uint8Array;
  spkSignature: Uint8Array;
  /** The one-time prekeys packed: count × (u32 id ‖ uncompressed point). */
  opks: Uint8Array;
  /** The highest one-time prekey id ever stored on this curve: smaller ids are never taken again. */
  maxId: number;
}

/** A user's KEM prekeys (PQXDH), packed as protocol/prekeys.ts's packKemPrekeys does. */
interface KemPrekeyRecord {
  lastResort: Uint8Array;
  oneTime: Uint8Array;
  /** The highest one-time KEM prekey id ever stored: smaller ids are never taken again. */
  maxId: number;
}

/** What a KEM prekey record counts against the store quota. */
function kemPrekeyCost(r: KemPrekeyRecord): number {
  return PREKEY_COST + r.lastResort.length + r.oneTime.length;
}

interface RequestRecord {
  curve: number;
  expiresAt: number;
}

/** A pending request seen from its target: written and deleted with the request record. */
interface AskedRecord {
  curve: number;
  /** When it was made or last repeated. */
  at: number;
  expiresAt: number;
  /** The target dismissed it: it is not announced again (its sender is not told). */
  dismissed: boolean;
}

interface ChatRecord {
  curve: number;
  /** 1: this user is the initiator; 2: the responder. */
  role: number;
}

interface QueueMeta {
  next: number;
  count: number;
  bytes: number;
}

/** Kinds of queued entries. */
const KIND_MESSAGE = 1, KIND_OPENED = 2, KIND_CLOSED = 3, KIND_INVITE = 4;

/** What one transaction changes in the usage counters; applied to the memory mirror once it commits. */
class Usage {
  total = 0;
  readonly senders = new Map<string, { id: Uint8Array; bytes: number }>();

  /** Bytes queued by `id` change by `bytes` (and the total with them). */
  sender(id: Uint8Array, bytes: number): void {
    this.total += bytes;
    const key = bytesToHex(id);
    const e = this.senders.get(key);
    if (e) e.bytes += bytes;
    else this.senders.set(key, { id, bytes });
  }

  /** Adds the counters' mutations to `op`: sums, which never conflict with one another. */
  write(op: Deno.AtomicOperation): void {
    if (this.total !== 0) op.sum(USAGE_KEY, u64(this.total));
    for (const { id, bytes } of this.senders.values()) if (bytes !== 0) op.sum(["sent", id], u64(bytes));
  }
}

/** A change as a KvU64 addend (a negative one wraps around, as `sum` does). */
function u64(n: number): bigint {
  return n >= 0 ? BigInt(n) : (1n << 64n) + BigInt(n);
}

/** A KvU64 counter as a number (values past 2^63 are what wrapped below zero). */
function fromU64(v: Deno.KvU64 | null | undefined): number {
  if (!v) return 0;
  const n = v.value >= 1n << 63n ? v.value - (1n << 64n) : v.value;
  return Number(n);
}

interface InboxRecord {
  kind: number;
  /** The message id (from the sender) or the event id (random, from the relay). */
  id: Uint8Array;
  /** The sender (message) or the other side of the chat (events). */
  peer: Uint8Array;
  /** When it was queued. */
  at: number;
  /** When a message lapses; 0 for events, which wait until acknowledged. */
  expiresAt: number;
  /** Body bytes and parts (messages). */
  size: number;
  parts: number;
  /** Chat-opened events: the chat's curve byte and this user's role (1 initiator, 2 responder). */
  curve?: number;
  role?: number;
  /** Chat-opened events for the initiator: the peer's bundle, fixed at first delivery. */
  bundle?: Uint8Array | null;
  /** Invite-accepted events (peer = the invitee): the group and the invitee's KeyPackage. */
  group?: Uint8Array;
  keyPackage?: Uint8Array;
}

interface MsgIdRecord {
  seq: number;
  /** The sender, for messages; null for events. */
  from: Uint8Array | null;
}

/** A user's open chat. */
export interface StoredChat {
  peerId: Uint8Array;
  curve: CurveName;
  role: "initiator" | "responder";
}

/** A pending request for a user, as its requests inbox shows it. */
export interface AskedRequest {
  peerId: Uint8Array;
  curve: CurveName;
  /** When it was made or last repeated. */
  at: number;
  expiresAt: number;
}

/** A user's pending outgoing request. */
export interface StoredRequest {
  peerId: Uint8Array;
  curve: CurveName;
  expiresAt: number;
}

/**
 * What the relay keeps of an entry it delivered, so that the acknowledgement can delete it without
 * reading it again: where it is, the versionstamp it was read or written with, and what refers to it.
 */
export interface EntryRef {
  seq: number;
  id: Uint8Array;
  versionstamp: string;
  size: number;
  parts: number;
  expiresAt: number;
  /** The sender of a message; null for an event. */
  from: Uint8Array | null;
}

/** A queued entry as handed to the relay for delivery. */
export type QueuedItem =
  | { kind: "message"; ref: EntryRef; from: Uint8Array; at: number; body: Uint8Array }
  | {
    kind: "opened";
    ref: EntryRef;
    peer: Uint8Array;
    curve: CurveName;
    role: "initiator" | "responder";
    /** The initiator's bundle once fixed (see {@link RelayStore.fixBundle}), else null. */
    bundle: Uint8Array | null;
  }
  | { kind: "closed"; ref: EntryRef; peer: Uint8Array }
  | { kind: "invite"; ref: EntryRef; group: Uint8Array; invitee: Uint8Array; keyPackage: Uint8Array };

/** What an acknowledgement deleted. */
export interface AckedItem {
  id: Uint8Array;
  /** The sender of an acknowledged message, or null for an event. */
  from: Uint8Array | null;
}

/** What a chat request did. */
export type RequestOutcome =
  /** Stored; `announce` if the target may be told (it has not blocked the requester nor dismissed this). */
  | { kind: "pending"; expiresAt: number; announce: boolean }
  /** Both sides have asked: the chat is open and both queues hold a chat-opened event. */
  | { kind: "opened"; curve: CurveName }
  | { kind: "already-open" }
  /** The requester has blocked the target. */
  | { kind: "blocked" }
  /** The requester has too many open chats and pending requests. */
  | { kind: "limit" };

/** What a message enqueue did; a new entry comes with its reference. */
export type EnqueueOutcome =
  | { kind: "queued"; ref: EntryRef }
  | { kind: "already-queued" | "no-chat" | "over-quota" | "duplicate" };

/** Per-recipient queue limits, and the quotas of the sender and of the whole store (none if omitted). */
export interface QueueLimits {
  maxCount: number;
  maxBytes: number;
  /** Milliseconds a message waits before it lapses. */
  ttl: number;
  /** Bytes (as counted: body + ENTRY_COST each) the sender may have queued over all its recipients. */
  maxSenderBytes?: number;
  /** Bytes the store may hold as counted (`usage`). */
  maxStoreBytes?: number;
}

interface EnqueueOp {
  kind: "enqueue";
  from: Uint8Array;
  to: Uint8Array;
  messageId: Uint8Array;
  body: Uint8Array;
  now: number;
  limits: QueueLimits;
  /** The sender's own lifetime for the message (ms), if shorter than limits.ttl. */
  ttl?: number;
}

interface AckOp {
  kind: "ack";
  user: Uint8Array;
  refs: EntryRef[];
  /** Entries known only by id (slow path only). */
  ids?: Uint8Array[];
}

type FastOp = EnqueueOp | AckOp;
type FastResult<T extends FastOp> = T extends EnqueueOp ? EnqueueOutcome : AckedItem[];
interface Pending {
  op: FastOp;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Attempt<T> {
  result: T;
  op?: Deno.AtomicOperation;
  done?: (versionstamp: string) => void;
  /** Counter changes, written into `op` and mirrored in memory once it commits. */
  usage?: Usage;
}

/** Options of {@link RelayStore.open}. */
export interface StoreOptions {
  /** Source of event ids (default: the system CSPRNG). */
  random?: RandomSource;
}

/** The relay's store over one Deno KV database. */
export class RelayStore {
  readonly #kv: Deno.Kv;
  readonly #random: RandomSource;
  /** Versionstamps last seen of chat records ("from‖to" hex) and of queue meta records (user hex). */
  readonly #chats = new Map<string, string>();
  /** Bumped around every transaction that closes a chat (see #forgetChat). */
  #chatEpoch = 0;
  readonly #metas = new Map<string, { meta: QueueMeta; versionstamp: string }>();
  /** Slow-path operations on one queue run one at a time in this process instead of conflicting. */
  readonly #serial = new SerialByKey();
  /** Fast operations waiting for the next group commit. */
  #pending: Pending[] = [];
  #committing = false;
  #closed = false;
  /** The store's usage as counted (the memory mirror of ["meta", "usage"]). */
  #usage = 0;
  /** Bytes queued per sender (hex), with the versionstamp they were read or last changed at. */
  readonly #sent = new Map<string, { bytes: number; versionstamp: string }>();
  /** Senders whose counter is being read, with the changes committed meanwhile. */
  readonly #loadingSent = new Map<string, { deltas: [string, number][]; done: Promise<void> }>();

  /** Groups: their records, logs, members' cursors, invitations and blobs (server/group_store.ts). */
  readonly groups: GroupStore;

  private constructor(kv: Deno.Kv, random: RandomSource) {
    this.#kv = kv;
    this.#random = random;
    this.groups = new GroupStore({
      kv,
      random,
      atomically: (attempt) => this.#atomically(attempt as () => Promise<Attempt<never>>),
      newUsage: () => new Usage(),
      queueInvite: (op, usage, user, e) =>
        this.#queueEvent(op, usage as Usage, user, {
          kind: KIND_INVITE,
          peer: e.invitee,
          at: e.at,
          group: e.group,
          keyPackage: e.keyPackage,
        }),
      commit: async (op, usage) => {
        (usage as Usage).write(op);
        const c = await op.commit();
        if (!c.ok) return null;
        this.#applied(usage as Usage, c.versionstamp);
        return c.versionstamp;
      },
      storeUsage: () => this.#usage,
      senderUsage: (id) => this.#senderUsage(id),
    });
  }

  /**
   * Opens (creating if needed) the database at `path`: the file and its -wal and -shm companions are
   * made readable by the relay's user only (0600), whatever their mode was. A store from before the
   * counters is counted once (and every identity in it is taken as seen today).
   */
  static async open(path: string, options: StoreOptions = {}): Promise<RelayStore> {
    if (typeof path !== "string" || path === "") throw new TypeError("path must be a non-empty string");
    // Who talks to whom is in here. SQLite creates the -wal and -shm files with the mode of the database
    // file, so that one is created (or tightened) first; existing companions are tightened after.
    const unix = Deno.build.os !== "windows";
    if (unix) {
      const f = await Deno.open(path, { create: true, write: true, mode: 0o600 });
      f.close();
      await Deno.chmod(path, 0o600);
    }
    const kv = await Deno.openKv(path);
    const store = new RelayStore(kv, options.random ?? systemRandom);
    try {
      await store.#loadCounters(Date.now());
      if (unix) {
        for (const companion of [`${path}-wal`, `${path}-shm`]) {
          await Deno.chmod(companion, 0o600).catch((e) => {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
          });
        }
      }
    } catch (e) {
      kv.close();
      throw e;
    }
    return store;
  }

  /** Bytes the store holds, as counted (docs/store.md, "Quotas"). */
  get usage(): number {
    return this.#usage;
  }

  /** Bytes of messages `id` has queued over all its recipients, as counted. */
  async sentBytes(id: Uint8Array): Promise<number> {
    checkId(id, "id");
    return await this.#senderUsage(id);
  }

  /** Closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#kv.close();
  }

  // ---- identities -------------------------------------------------------------------------------------

  /**
   * Registers `identity` (the 597-byte public encoding) under `id`, whose derivation the caller has
   * checked. "registered" the first time, "known" if the same keys are stored, "conflict" if other keys
   * are (which a correct ID derivation makes impossible short of a hash collision).
   */
  async register(
    id: Uint8Array,
    identity: Uint8Array,
    now = Date.now(),
  ): Promise<"registered" | "known" | "conflict"> {
    checkId(id, "id");
    const today = Math.floor(now / DAY);
    return await this.#atomically(async () => {
      const [entry, seen] = await this.#kv.getMany<[Uint8Array, number]>([["user", id], ["seen", id]]);
      if (entry.value !== null && !equalBytes(entry.value, identity)) return { result: "conflict" };
      const result = entry.value === null ? "registered" : "known";
      if (entry.value !== null && seen.value === today) return { result };
      // A login: the day it happened (not the time: identities expire by the day, docs/store.md).
      const op = this.#kv.atomic().check(entry, seen).set(["seen", id], today).set(["idle", today, id], true);
      if (seen.value !== null) op.delete(["idle", seen.value, id]);
      const usage = new Usage();
      if (entry.value === null) {
        op.set(["user", id], identity);
        usage.total += IDENTITY_COST;
      }
      return { result, op, usage };
    });
  }

  /** The stored public identity encoding of `id`, or null. */
  async identity(id: Uint8Array): Promise<Uint8Array | null> {
    checkId(id, "id");
    return (await this.#kv.get<Uint8Array>(["user", id])).value;
  }

  // ---- prekeys ----------------------------------------------------------------------------------------

  /**
   * Stores an uploaded (already verified) bundle: on each curve the signed prekey replaces the stored one,
   * and the one-time prekeys become those of the upload that are either new (id above every id stored
   * before) or still unused here, at most `maxOneTime`. So a one-time prekey handed out is never stored
   * again, and one the owner no longer holds is dropped. Returns the one-time prekeys now held per curve.
   */
  async putPrekeys(
    id: Uint8Array,
    bundle: PrekeyBundle,
    maxOneTime: number,
  ): Promise<Record<CurveName, number>> {
    checkId(id, "id");
    const counts = {} as Record<CurveName, number>;
    for (const curve of CURVES) {
      counts[curve] = await this.#atomically(async () => {
        const key = ["prekeys", id, curveId(curve)];
        const entry = await this.#kv.get<PrekeyRecord>(key);
        const old = entry.value;
        const held = new Set(old ? unpackOneTime(curve, old.opks).map((k) => k.id) : []);
        const maxId = old?.maxId ?? 0;
        const keep = bundle.oneTimePrekeys[curve].filter((k) => k.id > maxId || held.has(k.id)).slice(
          0,
          maxOneTime,
        );
        const spk: SignedPrekey = bundle.signedPrekeys[curve];
        const record: PrekeyRecord = {
          spkId: spk.id,
          spkCreatedAt: spk.createdAt,
          spkPublic: spk.publicKey,
          spkSignature: spk.signature,
          opks: packOneTime(curve, keep),
          maxId: Math.max(maxId, ...keep.map((k) => k.id)),
        };
        const usage = new Usage();
        usage.total = PREKEY_COST + record.opks.length - (old ? PREKEY_COST + old.opks.length : 0);
        return { result: keep.length, op: this.#kv.atomic().check(entry).set(key, record), usage };
      });
    }
    // The KEM prekeys (a classical bundle has none), kept by the same rule as the one-time EC prekeys.
    const lastResort = bundle.kemPrekey;
    if (lastResort !== null) {
      await this.#atomically(async () => {
        const key = ["kemprekeys", id];
        const entry = await this.#kv.get<KemPrekeyRecord>(key);
        const old = entry.value;
        const held = new Set(old ? unpackKemPrekeys(old.oneTime).map((k) => k.id) : []);
        const maxId = old?.maxId ?? 0;
        const keep = bundle.oneTimeKemPrekeys.filter((k) => k.id > maxId || held.has(k.id))
          .slice(0, MAX_ONE_TIME_KEM_PREKEYS);
        const record: KemPrekeyRecord = {
          lastResort: packKemPrekeys([lastResort]),
          oneTime: packKemPrekeys(keep),
          maxId: Math.max(maxId, ...keep.map((k) => k.id)),
        };
        const usage = new Usage();
        usage.total = kemPrekeyCost(record) - (old ? kemPrekeyCost(old) : 0);
        return { result: undefined, op: this.#kv.atomic().check(entry).set(key, record), usage };
      });
    }
    return counts;
  }

  /** One-time prekeys held per curve, or null for a curve with no upload yet. */
  async prekeyCounts(id: Uint8Array): Promise<Record<CurveName, number | null>> {
    checkId(id, "id");
    const entries = await this.#kv.getMany<PrekeyRecord[]>(CURVES.map((c) => ["prekeys", id, curveId(c)]));
    const out = {} as Record<CurveName, number | null>;
    CURVES.forEach((c, i) => {
      const v = entries[i].value;
      out[c] = v === null ? null : v.opks.length / (4 + pointLength(c));
    });
    return out;
  }

  /** One-time KEM prekeys held, or null for a user whose relay holds no KEM prekey (no version 2 upload). */
  async kemPrekeyCount(id: Uint8Array): Promise<number | null> {
    checkId(id, "id");
    const v = (await this.#kv.get<KemPrekeyRecord>(["kemprekeys", id])).value;
    return v === null ? null : v.oneTime.length / KEM_PREKEY_ENTRY_BYTES;
  }

  /**
   * Fixes the bundle of a queued chat-opened event for the initiator `user`: the peer's identity, its
   * signed prekeys on every curve and, when `allowOneTime` and one is left, one one-time prekey on the
   * chat's curve, which is deleted in the same transaction (likewise one one-time KEM prekey). Later calls
   * return the same bundle. Returns null if the event is gone; `tookOneTime` and `remaining` (the peer's
   * one-time prekeys left on that curve), `tookKem` and `kemRemaining` (one-time KEM prekeys left) tell
   * the relay whether to warn the peer.
   */
  async fixBundle(
    user: Uint8Array,
    seq: number,
    allowOneTime: boolean,
  ): Promise<
    | { bundle: Uint8Array; tookOneTime: boolean; remaining: number; tookKem: boolean; kemRemaining: number }
    | null
  > {
    checkId(user, "user");
    return await this.#atomically(async () => {
      const entry = await this.#kv.get<InboxRecord>(["inbox", user, seq]);
      const rec = entry.value;
      if (rec === null || rec.kind !== KIND_OPENED) return { result: null };
      if (rec.bundle) {
        return {
          result: { bundle: rec.bundle, tookOneTime: false, remaining: -1, tookKem: false, kemRemaining: -1 },
        };
      }
      const peer = rec.peer;
      const curve = curveFromId(rec.curve!)!;
      const [identity, kemEntry, ...records] = await this.#kv.getMany<
        [Uint8Array, KemPrekeyRecord, ...PrekeyRecord[]]
      >([
        ["user", peer],
        ["kemprekeys", peer],
        ...CURVES.map((c) => ["prekeys", peer, curveId(c)]),
      ]);
      if (identity.value === null || records.some((r) => r.value === null)) {
        throw new Error("a chat peer has no identity or prekeys in the store");
      }
      const signed = {} as Record<CurveName, SignedPrekey>;
      const oneTime = {} as Record<CurveName, OneTimePrekey[]>;
      CURVES.forEach((c, i) => {
        const r = (records[i] as Deno.KvEntry<PrekeyRecord>).value;
        signed[c] = {
          id: r.spkId,
          createdAt: r.spkCreatedAt,
          publicKey: r.spkPublic,
          signature: r.spkSignature,
        };
        oneTime[c] = [];
      });
      const at = CURVES.indexOf(curve);
      const chatRecord = records[at] as Deno.KvEntry<PrekeyRecord>;
      const available = unpackOneTime(curve, chatRecord.value.opks);
      const take = allowOneTime && available.length > 0;
      if (take) oneTime[curve] = [available[0]];
      // One one-time KEM prekey per chat too, under the same allowance (none: the last-resort one serves).
      const kem = kemEntry.value;
      const kemTaken = kem !== null && allowOneTime ? takeOneTimeKemPrekey(kem.oneTime) : null;
      const oneTimeKem: KemPrekey[] = kemTaken?.prekey ? [kemTaken.prekey] : [];
      const bundle = encodeBundle({
        identity: decodeIdentityPublic(identity.value),
        signedPrekeys: signed,
        oneTimePrekeys: oneTime,
        kemPrekey: kem === null ? null : unpackKemPrekeys(kem.lastResort)[0],
        oneTimeKemPrekeys: oneTimeKem,
      });
      const op = this.#kv.atomic().check(entry).set(["inbox", user, seq], { ...rec, bundle });
      // What leaves the prekey records no longer counts against the quota.
      const usage = new Usage();
      if (kemTaken?.prekey) {
        op.check(kemEntry).set(kemEntry.key, { ...kem!, oneTime: kemTaken.rest });
        usage.total -= kem!.oneTime.length - kemTaken.rest.length;
      }
      if (take) {
        const opks = packOneTime(curve, available.slice(1));
        op.check(chatRecord).set(chatRecord.key, { ...chatRecord.value, opks });
        usage.total -= chatRecord.value.opks.length - opks.length;
      }
      const remaining = take ? available.length - 1 : available.length;
      const tookKem = Boolean(kemTaken?.prekey);
      const kemLeft = tookKem ? kemTaken!.rest : kem?.oneTime;
      const kemRemaining = (kemLeft?.length ?? 0) / KEM_PREKEY_ENTRY_BYTES;
      return { result: { bundle, tookOneTime: take, remaining, tookKem, kemRemaining }, op, usage };
    });
  }

  // ---- requests, chats and blocks ----------------------------------------------------------------------

  /**
   * `from` asks for a chat with `to` on `curve`. If `to` has a live request for `from` (and has not blocked
   * `from`), the chat opens in one transaction: both requests deleted, both chat records written
   * (`to`, who asked first, is the initiator, on the curve it asked for) and a chat-opened event queued
   * for each side. Otherwise the request is stored (or refreshed) until `now + ttl`. A request from a user
   * with `maxPending` open chats and pending requests is refused ("limit").
   */
  async requestChat(
    from: Uint8Array,
    to: Uint8Array,
    curve: CurveName,
    now: number,
    ttl: number,
    maxPending: number,
  ): Promise<RequestOutcome> {
    checkId(from, "from");
    checkId(to, "to");
    return await this.#atomically<RequestOutcome>(async () => {
      const [chat, mine, theirs, iBlocked, theyBlocked, asked] = await this.#kv.getMany<
        [ChatRecord, RequestRecord, RequestRecord, boolean, boolean, AskedRecord]
      >([
        ["chat", from, to],
        ["request", from, to],
        ["request", to, from],
        ["block", from, to],
        ["block", to, from],
        ["asked", to, from],
      ]);
      if (chat.value !== null) return { result: { kind: "already-open" } };
      if (iBlocked.value !== null) return { result: { kind: "blocked" } };
      const op = this.#kv.atomic().check(chat, mine, theirs, iBlocked, theyBlocked, asked);
      const live = theirs.value !== null && theirs.value.expiresAt > now;
      // Opening a chat adds one to the requester's chats and requests unless it turns its own request
      // into the chat: the limit holds on the side that completes a request too (else a user asked by
      // many could pass it, and past what a Welcome can list, never log in again).
      const grows = mine.value === null;
      if (grows && await this.#pendingCount(from, maxPending) >= maxPending) {
        return { result: { kind: "limit" } };
      }
      const usage = new Usage();
      if (live && theyBlocked.value === null) {
        const chatCurve = curveFromId(theirs.value!.curve)!;
        const c = theirs.value!.curve;
        deleteRequest(op, to, from, theirs.value!);
        if (mine.value !== null) deleteRequest(op, from, to, mine.value);
        op.set(["chat", from, to], { curve: c, role: 2 } satisfies ChatRecord);
        op.set(["chat", to, from], { curve: c, role: 1 } satisfies ChatRecord);
        usage.total += RECORD_COST * (grows ? 1 : 0); // two requests (or one) became two chat records
        await this.#queueEvent(op, usage, from, {
          kind: KIND_OPENED,
          peer: to,
          at: now,
          curve: c,
          role: 2,
          bundle: null,
        });
        await this.#queueEvent(op, usage, to, {
          kind: KIND_OPENED,
          peer: from,
          at: now,
          curve: c,
          role: 1,
          bundle: null,
        });
        return { result: { kind: "opened", curve: chatCurve }, op, usage };
      }
      if (mine.value !== null) deleteRequest(op, from, to, mine.value);
      else usage.total += RECORD_COST;
      const expiresAt = now + ttl;
      op.set(["request", from, to], { curve: curveId(curve), expiresAt } satisfies RequestRecord);
      op.set(["expires", expiresAt, "request", from, to], true);
      // A repeat keeps the target's dismissal (a live request only: one that lapsed is a new one).
      const dismissed = mine.value !== null && asked.value !== null && asked.value.dismissed;
      op.set(
        ["asked", to, from],
        { curve: curveId(curve), at: now, expiresAt, dismissed } satisfies AskedRecord,
      );
      const announce = theyBlocked.value === null && !dismissed;
      return { result: { kind: "pending", expiresAt, announce }, op, usage };
    });
  }

  /** Open chats plus pending requests of `user`, counted up to `limit`. */
  async #pendingCount(user: Uint8Array, limit: number): Promise<number> {
    let n = 0;
    for (const prefix of ["chat", "request"]) {
      for await (const _ of this.#kv.list({ prefix: [prefix, user] }, { limit: limit - n })) n++;
      if (n >= limit) break;
    }
    return n;
  }

  /** Withdraws `from`'s request for `to`; false if there was none. */
  async cancelRequest(from: Uint8Array, to: Uint8Array): Promise<boolean> {
    checkId(from, "from");
    checkId(to, "to");
    return await this.#atomically(async () => {
      const mine = await this.#kv.get<RequestRecord>(["request", from, to]);
      if (mine.value === null) return { result: false };
      const op = this.#kv.atomic().check(mine);
      deleteRequest(op, from, to, mine.value);
      const usage = new Usage();
      usage.total -= RECORD_COST;
      return { result: true, op, usage };
    });
  }

  /** `user`'s pending requests that have not lapsed at `now`, at most `limit` of them. */
  async listRequests(user: Uint8Array, now: number, limit = Infinity): Promise<StoredRequest[]> {
    checkId(user, "user");
    const out: StoredRequest[] = [];
    for await (const e of this.#kv.list<RequestRecord>({ prefix: ["request", user] })) {
      if (e.value.expiresAt <= now) continue;
      if (out.length >= limit) break;
      out.push({
        peerId: e.key[2] as Uint8Array,
        curve: curveFromId(e.value.curve)!,
        expiresAt: e.value.expiresAt,
      });
    }
    return out;
  }

  /**
   * The pending requests for `user` its requests inbox shows: live at `now`, not dismissed, not from an ID
   * `user` has blocked. At most `scan` index entries are read, and of those the `limit` made (or repeated)
   * last are returned, newest first.
   */
  async listAsked(user: Uint8Array, now: number, limit: number, scan = 1000): Promise<AskedRequest[]> {
    checkId(user, "user");
    const live: AskedRequest[] = [];
    for await (const e of this.#kv.list<AskedRecord>({ prefix: ["asked", user] }, { limit: scan })) {
      if (e.value.expiresAt <= now || e.value.dismissed) continue;
      live.push({
        peerId: e.key[2] as Uint8Array,
        curve: curveFromId(e.value.curve)!,
        at: e.value.at,
        expiresAt: e.value.expiresAt,
      });
    }
    live.sort((a, b) => b.at - a.at);
    const newest = live.slice(0, limit);
    const blocks = await this.#getMany<boolean>(newest.map((a) => ["block", user, a.peerId]));
    return newest.filter((_, i) => blocks[i].value === null);
  }

  /** `user` dismisses `peer`'s pending request: it is not announced again. False if there is none. */
  async dismissRequest(user: Uint8Array, peer: Uint8Array): Promise<boolean> {
    checkId(user, "user");
    checkId(peer, "peer");
    return await this.#atomically(async () => {
      const asked = await this.#kv.get<AskedRecord>(["asked", user, peer]);
      if (asked.value === null) return { result: false };
      if (asked.value.dismissed) return { result: true };
      return {
        result: true,
        op: this.#kv.atomic().check(asked).set(asked.key, { ...asked.value, dismissed: true }),
      };
    });
  }

  /** `user`'s open chats, at most `limit` of them. */
  async listChats(user: Uint8Array, limit?: number): Promise<StoredChat[]> {
    checkId(user, "user");
    const out: StoredChat[] = [];
    for await (const e of this.#kv.list<ChatRecord>({ prefix: ["chat", user] }, { limit })) {
      out.push({
        peerId: e.key[2] as Uint8Array,
        curve: curveFromId(e.value.curve)!,
        role: e.value.role === 1 ? "initiator" : "responder",
      });
    }
    return out;
  }

  /**
   * True if `user` and `peer` have an open chat. Answered from the cache when it can be: an entry is only
   * added by a read that no chat closing overlapped (see #forgetChat), so a closed chat never reads as
   * open once its closing has committed.
   */
  async hasChat(user: Uint8Array, peer: Uint8Array): Promise<boolean> {
    checkId(user, "user");
    checkId(peer, "peer");
    const key = pairKey(user, peer);
    if (this.#chats.has(key)) return true;
    const epoch = this.#chatEpoch;
    const chat = await this.#kv.get(["chat", user, peer]);
    if (chat.value === null) return false;
    if (epoch === this.#chatEpoch) remember(this.#chats, key, chat.versionstamp);
    return true;
  }

  /** Closes the chat of `user` with `peer` for both and queues a chat-closed event for `peer`. */
  async closeChat(user: Uint8Array, peer: Uint8Array, now: number): Promise<boolean> {
    checkId(user, "user");
    checkId(peer, "peer");
    return await this.#atomically(async () => {
      const [mine, theirs] = await this.#kv.getMany([["chat", user, peer], ["chat", peer, user]]);
      if (mine.value === null) return { result: false };
      this.#forgetChat(user, peer);
      const op = this.#kv.atomic().check(mine, theirs).delete(mine.key).delete(theirs.key);
      const usage = new Usage();
      usage.total -= 2 * RECORD_COST;
      await this.#queueEvent(op, usage, peer, { kind: KIND_CLOSED, peer: user, at: now });
      return { result: true, op, usage, done: () => this.#forgetChat(user, peer) };
    });
  }

  /**
   * `blocker` blocks `blocked`: the block is stored, `blocker`'s own request for `blocked` is withdrawn
   * and an open chat between them is closed (the blocked side gets a chat-closed event, as for a close).
   * A request from `blocked` stays, silently never matched. Returns whether a chat was closed.
   */
  async block(blocker: Uint8Array, blocked: Uint8Array, now: number): Promise<boolean> {
    checkId(blocker, "blocker");
    checkId(blocked, "blocked");
    return await this.#atomically(async () => {
      const [mine, chat, theirChat, had] = await this.#kv.getMany<
        [RequestRecord, ChatRecord, ChatRecord, boolean]
      >([
        ["request", blocker, blocked],
        ["chat", blocker, blocked],
        ["chat", blocked, blocker],
        ["block", blocker, blocked],
      ]);
      const op = this.#kv.atomic().check(mine, chat, theirChat, had).set(["block", blocker, blocked], true);
      const usage = new Usage();
      if (had.value === null) usage.total += RECORD_COST;
      if (mine.value !== null) {
        deleteRequest(op, blocker, blocked, mine.value);
        usage.total -= RECORD_COST;
      }
      const closing = chat.value !== null;
      if (closing) {
        this.#forgetChat(blocker, blocked);
        op.delete(chat.key).delete(theirChat.key);
        usage.total -= 2 * RECORD_COST;
        await this.#queueEvent(op, usage, blocked, { kind: KIND_CLOSED, peer: blocker, at: now });
      }
      return { result: closing, op, usage, done: () => closing && this.#forgetChat(blocker, blocked) };
    });
  }

  /** Lifts a block. */
  async unblock(blocker: Uint8Array, blocked: Uint8Array): Promise<void> {
    checkId(blocker, "blocker");
    checkId(blocked, "blocked");
    await this.#atomically(async () => {
      const had = await this.#kv.get(["block", blocker, blocked]);
      if (had.value === null) return { result: undefined };
      const usage = new Usage();
      usage.total -= RECORD_COST;
      return { result: undefined, op: this.#kv.atomic().check(had).delete(had.key), usage };
    });
  }

  // ---- queues -----------------------------------------------------------------------------------------
  //
  // Enqueues and acknowledgements are the hot path. Each first tries the fast path: no reads, using the
  // versionstamps this process last saw for the chat and the queue's meta record, and committed together
  // with whatever other fast operations are waiting (one KV commit for many messages). Every write is
  // still guarded by versionstamp checks, so a stale guess only makes the commit fail; the operations of a
  // failed batch are then redone one by one on the slow path, which reads first.

  /**
   * Queues a message from `from` to `to` if they have an open chat and `to`'s queue has room; the commit
   * is durable when this resolves with "queued". A message id already queued for `to` by the same sender
   * gives "already-queued" (a retry: nothing changes), by another sender "duplicate". It lapses `ttl` ms
   * after `now` if given and shorter than limits.ttl.
   */
  async enqueue(
    from: Uint8Array,
    to: Uint8Array,
    messageId: Uint8Array,
    body: Uint8Array,
    now: number,
    limits: QueueLimits,
    ttl?: number,
  ): Promise<EnqueueOutcome> {
    checkId(from, "from");
    checkId(to, "to");
    checkMessageId(messageId);
    checkBytes(body, "body");
    if (ttl !== undefined && !(ttl > 0)) throw new RangeError("ttl must be positive");
    const op: EnqueueOp = { kind: "enqueue", from, to, messageId, body, now, limits, ttl };
    const cached = () =>
      this.#chats.has(pairKey(from, to)) && this.#metas.has(bytesToHex(to)) &&
      (limits.maxSenderBytes === undefined || this.#sent.has(bytesToHex(from)));
    if (cached()) return await this.#fast(op);
    return await this.#serial.run(bytesToHex(to), () => cached() ? this.#fast(op) : this.#enqueueSlow(op));
  }

  async #enqueueSlow(op: EnqueueOp): Promise<EnqueueOutcome> {
    const { from, to, messageId, body, limits } = op;
    const pair = pairKey(from, to), toKey = bytesToHex(to);
    return await this.#atomically<EnqueueOutcome>(async () => {
      const epoch = this.#chatEpoch;
      const [chat, meta, known] = await this.#kv.getMany<[ChatRecord, QueueMeta, MsgIdRecord]>([
        ["chat", from, to],
        ["queue", to],
        ["msgid", to, messageId],
      ]);
      if (chat.value === null) {
        this.#chats.delete(pair);
        return { result: { kind: "no-chat" } };
      }
      if (epoch === this.#chatEpoch) remember(this.#chats, pair, chat.versionstamp);
      if (meta.versionstamp !== null) {
        remember(this.#metas, toKey, { meta: meta.value!, versionstamp: meta.versionstamp });
      }
      if (known.value !== null) {
        const same = known.value.from !== null && equalBytes(known.value.from, from);
        return { result: { kind: same ? "already-queued" : "duplicate" } };
      }
      // A copy: the record just read is also in the cache, which must keep what is committed.
      const q: QueueMeta = { ...(meta.value ?? { next: 0, count: 0, bytes: 0 }) };
      if (q.count + 1 > limits.maxCount || q.bytes + body.length > limits.maxBytes) {
        return { result: { kind: "over-quota" } };
      }
      const cost = body.length + ENTRY_COST;
      if (limits.maxStoreBytes !== undefined && this.#usage + cost > limits.maxStoreBytes) {
        return { result: { kind: "over-quota" } };
      }
      if (
        limits.maxSenderBytes !== undefined && await this.#senderUsage(from) + cost > limits.maxSenderBytes
      ) {
        return { result: { kind: "over-quota" } };
      }
      const atomic = this.#kv.atomic().check(chat, meta, known);
      const usage = new Usage();
      const ref = addMessage(atomic, op, q, usage);
      atomic.set(["queue", to], q);
      return {
        result: { kind: "queued", ref },
        op: atomic,
        usage,
        done: (versionstamp) => {
          ref.versionstamp = versionstamp;
          remember(this.#metas, toKey, { meta: q, versionstamp });
        },
      };
    });
  }

  /** Entries queued for `user` (messages and events). */
  async queuedCount(user: Uint8Array): Promise<number> {
    checkId(user, "user");
    return (await this.#kv.get<QueueMeta>(["queue", user])).value?.count ?? 0;
  }

  /**
   * The next `limit` queued entries of `user` after sequence number `after`, oldest first, bodies
   * included; messages lapsed at `now` are left out (the sweep deletes them). `last` is the sequence
   * number of the last entry looked at (to continue from), `listed` how many were looked at: fewer than
   * `limit` means the queue was read to its end.
   */
  async readQueue(
    user: Uint8Array,
    after: number,
    limit: number,
    now: number,
  ): Promise<{ items: QueuedItem[]; last: number; listed: number }> {
    checkId(user, "user");
    const entries: Deno.KvEntry<InboxRecord>[] = [];
    const iter = this.#kv.list<InboxRecord>(
      { prefix: ["inbox", user], start: ["inbox", user, after + 1] },
      { limit },
    );
    for await (const e of iter) entries.push(e);
    const bodyKeys = entries.flatMap((e) =>
      e.value.kind === KIND_MESSAGE
        ? Array.from({ length: e.value.parts }, (_, i) => ["body", user, e.key[2], i])
        : []
    );
    const parts = await this.#getMany<Uint8Array>(bodyKeys);
    let at = 0;
    const out: QueuedItem[] = [];
    for (const e of entries) {
      const r = e.value;
      const ref = toRef(e);
      if (r.kind === KIND_MESSAGE) {
        const mine = parts.slice(at, at + r.parts);
        at += r.parts;
        // Lapsed ones wait for the sweep; parts missing means it was deleted meanwhile.
        if (r.expiresAt <= now || mine.some((p) => p.value === null)) continue;
        out.push({
          kind: "message",
          ref,
          from: r.peer,
          at: r.at,
          body: concatBytes(...mine.map((p) => p.value!)),
        });
      } else if (r.kind === KIND_INVITE) {
        out.push({ kind: "invite", ref, group: r.group!, invitee: r.peer, keyPackage: r.keyPackage! });
      } else if (r.kind === KIND_OPENED) {
        out.push({
          kind: "opened",
          ref,
          peer: r.peer,
          curve: curveFromId(r.curve!)!,
          role: r.role === 1 ? "initiator" : "responder",
          bundle: r.bundle ?? null,
        });
      } else {
        out.push({ kind: "closed", ref, peer: r.peer });
      }
    }
    const last = entries.length > 0 ? entries[entries.length - 1].key[2] as number : after;
    return { items: out, last, listed: entries.length };
  }

  /**
   * Deletes queued entries of `user`, with everything that refers to them: those given by reference (as
   * delivered, the fast path) and those given only by id (unknown ids are ignored). Returns what was
   * deleted.
   */
  async ack(user: Uint8Array, refs: EntryRef[], ids: Uint8Array[] = []): Promise<AckedItem[]> {
    checkId(user, "user");
    ids.forEach((id) => checkMessageId(id));
    const out: AckedItem[] = [];
    const key = bytesToHex(user);
    for (let i = 0; i < refs.length; i += ACK_BATCH) {
      const op: AckOp = { kind: "ack", user, refs: refs.slice(i, i + ACK_BATCH) };
      out.push(
        ...this.#metas.has(key)
          ? await this.#fast(op)
          : await this.#serial.run(key, () => this.#metas.has(key) ? this.#fast(op) : this.#ackSlow(op)),
      );
    }
    for (let i = 0; i < ids.length; i += ACK_BATCH) {
      const op: AckOp = { kind: "ack", user, refs: [], ids: ids.slice(i, i + ACK_BATCH) };
      out.push(...await this.#serial.run(key, () => this.#ackSlow(op)));
    }
    return out;
  }

  async #ackSlow(op: AckOp): Promise<AckedItem[]> {
    const { user } = op;
    const ids = [...op.refs.map((r) => r.id), ...op.ids ?? []];
    return await this.#atomically(async () => {
      const meta = await this.#kv.get<QueueMeta>(["queue", user]);
      const found = (await this.#getMany<MsgIdRecord>(ids.map((id) => ["msgid", user, id])))
        .filter((e) => e.value !== null);
      if (found.length === 0 || meta.value === null) return { result: [] };
      const seqs = [...new Set(found.map((e) => e.value!.seq))];
      const entries = await this.#getMany<InboxRecord>(seqs.map((seq) => ["inbox", user, seq]));
      const atomic = this.#kv.atomic().check(meta);
      const q = { ...meta.value };
      const acked: AckedItem[] = [];
      const usage = new Usage();
      for (const e of entries) {
        atomic.check(e);
        if (e.value === null) continue;
        deleteEntry(atomic, user, toRef(e as Deno.KvEntry<InboxRecord>), q, usage);
        acked.push({ id: e.value.id, from: e.value.kind === KIND_MESSAGE ? e.value.peer : null });
      }
      atomic.set(["queue", user], q);
      return {
        result: acked,
        op: atomic,
        usage,
        done: (versionstamp) => remember(this.#metas, bytesToHex(user), { meta: q, versionstamp }),
      };
    });
  }

  /**
   * Deletes the message `messageId` that `from` queued for `to`, with everything that refers to it, in one
   * transaction. False if no such message of that sender is queued (never was, acknowledged, lapsed, or
   * another sender's: the caller cannot tell which).
   */
  async withdraw(from: Uint8Array, to: Uint8Array, messageId: Uint8Array): Promise<boolean> {
    checkId(from, "from");
    checkId(to, "to");
    checkMessageId(messageId);
    const key = bytesToHex(to);
    return await this.#serial.run(key, () =>
      this.#atomically(async () => {
        const [meta, known] = await this.#kv.getMany<[QueueMeta, MsgIdRecord]>([
          ["queue", to],
          ["msgid", to, messageId],
        ]);
        const sender = known.value?.from ?? null;
        if (meta.value === null || sender === null || !equalBytes(sender, from)) return { result: false };
        const entry = await this.#kv.get<InboxRecord>(["inbox", to, known.value!.seq]);
        if (entry.value === null) return { result: false };
        const op = this.#kv.atomic().check(meta, known, entry);
        const q = { ...meta.value };
        const usage = new Usage();
        deleteEntry(op, to, toRef(entry as Deno.KvEntry<InboxRecord>), q, usage);
        op.set(["queue", to], q);
        return {
          result: true,
          op,
          usage,
          done: (versionstamp) => remember(this.#metas, key, { meta: q, versionstamp }),
        };
      }));
  }

  /** The earliest time anything in the store lapses (a message or a request), or null if nothing does. */
  async nextExpiry(): Promise<number | null> {
    for await (const e of this.#kv.list({ prefix: ["expires"] }, { limit: 1 })) return e.key[1] as number;
    return null;
  }

  /** Queues a fast operation for the next group commit. */
  #fast<T extends FastOp>(op: T): Promise<FastResult<T>> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ op, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#committing) void this.#commitLoop();
    });
  }

  /** Commits waiting fast operations in groups while there are any. */
  async #commitLoop(): Promise<void> {
    this.#committing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#takeBatch();
        try {
          await this.#commitBatch(batch);
        } catch (e) {
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.#committing = false;
    }
  }

  /** The waiting operations that fit in one KV commit (its limits on checks, mutations and bytes). */
  #takeBatch(): Pending[] {
    // One mutation is kept for the store's usage counter; each operation adds one per sender counter.
    let checks = 0, mutations = 1, bytes = 0, n = 0;
    const users = new Set<string>();
    for (; n < this.#pending.length; n++) {
      const op = this.#pending[n].op;
      const user = bytesToHex(op.kind === "enqueue" ? op.to : op.user);
      const meta = users.has(user) ? 0 : 1;
      const c = (op.kind === "enqueue" ? 2 : op.refs.length) + meta;
      const m = op.kind === "enqueue" ? 6 + Math.ceil(op.body.length / BODY_PART) : 5 * op.refs.length + 2;
      const b = op.kind === "enqueue" ? op.body.length + 512 : 256 * op.refs.length;
      if (
        n > 0 && (checks + c > MAX_CHECKS || mutations + m > MAX_MUTATIONS || bytes + b > MAX_COMMIT_BYTES)
      ) break;
      checks += c;
      mutations += m;
      bytes += b;
      users.add(user);
    }
    return this.#pending.splice(0, n);
  }

  /**
   * One commit for a batch of fast operations, computed from the cached versionstamps; on a conflict
   * (or a cache miss) every operation of the batch is redone on the slow path.
   */
  async #commitBatch(batch: Pending[]): Promise<void> {
    const atomic = this.#kv.atomic();
    const metas = new Map<string, { user: Uint8Array; q: QueueMeta }>();
    const queued = new Set<string>(), deleted = new Set<string>();
    const results: unknown[] = [];
    const after: ((versionstamp: string) => void)[] = [];
    const usage = new Usage();
    let ok = true;
    const metaOf = (user: Uint8Array) => {
      const key = bytesToHex(user);
      let m = metas.get(key);
      if (m === undefined) {
        const cached = this.#metas.get(key);
        if (cached === undefined) return undefined;
        atomic.check({ key: ["queue", user], versionstamp: cached.versionstamp });
        m = { user, q: { ...cached.meta } };
        metas.set(key, m);
      }
      return m.q;
    };
    for (const { op } of batch) {
      if (op.kind === "enqueue") {
        const chat = this.#chats.get(pairKey(op.from, op.to));
        const q = metaOf(op.to);
        const dedupe = bytesToHex(op.to) + bytesToHex(op.messageId);
        if (chat === undefined || q === undefined || queued.has(dedupe)) {
          ok = false;
          break;
        }
        queued.add(dedupe);
        const { limits } = op, cost = op.body.length + ENTRY_COST;
        const fromKey = bytesToHex(op.from);
        const sent = this.#sent.get(fromKey);
        if (limits.maxSenderBytes !== undefined && sent === undefined) {
          ok = false;
          break;
        }
        const sentNow = (sent?.bytes ?? 0) + (usage.senders.get(fromKey)?.bytes ?? 0);
        if (
          q.count + 1 > limits.maxCount || q.bytes + op.body.length > limits.maxBytes ||
          (limits.maxStoreBytes !== undefined && this.#usage + usage.total + cost > limits.maxStoreBytes) ||
          (limits.maxSenderBytes !== undefined && sentNow + cost > limits.maxSenderBytes)
        ) {
          results.push({ kind: "over-quota" });
          continue;
        }
        atomic.check({ key: ["chat", op.from, op.to], versionstamp: chat });
        atomic.check({ key: ["msgid", op.to, op.messageId], versionstamp: null });
        const ref = addMessage(atomic, op, q, usage);
        results.push({ kind: "queued", ref });
        after.push((v) => void (ref.versionstamp = v));
      } else {
        const q = metaOf(op.user);
        if (q === undefined) {
          ok = false;
          break;
        }
        const acked: AckedItem[] = [];
        for (const ref of op.refs) {
          const key = bytesToHex(op.user) + ":" + ref.seq;
          if (deleted.has(key)) continue;
          deleted.add(key);
          atomic.check({ key: ["inbox", op.user, ref.seq], versionstamp: ref.versionstamp });
          deleteEntry(atomic, op.user, ref, q, usage);
          acked.push({ id: ref.id, from: ref.from });
        }
        results.push(acked);
      }
    }
    for (const { user, q } of metas.values()) atomic.set(["queue", user], q);
    usage.write(atomic);
    const commit = ok ? await atomic.commit() : { ok: false as const };
    if (commit.ok) {
      this.#applied(usage, commit.versionstamp);
      for (const f of after) f(commit.versionstamp);
      for (const [key, { q }] of metas) {
        remember(this.#metas, key, { meta: q, versionstamp: commit.versionstamp });
      }
      batch.forEach((p, i) => p.resolve(results[i]));
      return;
    }
    // Something was stale: forget what this batch relied on and redo each operation carefully.
    for (const { op } of batch) {
      if (op.kind === "enqueue") {
        this.#chats.delete(pairKey(op.from, op.to));
        this.#metas.delete(bytesToHex(op.to));
      } else {
        this.#metas.delete(bytesToHex(op.user));
      }
    }
    for (const p of batch) {
      try {
        p.resolve(p.op.kind === "enqueue" ? await this.#enqueueSlow(p.op) : await this.#ackSlow(p.op));
      } catch (e) {
        p.reject(e);
      }
    }
  }

  /**
   * Deletes everything that lapsed at `now`: messages waiting longer than their TTL and chat requests past
   * their expiry, going on until nothing due is left (a page of SWEEP_PAGE index entries at a time; one
   * transaction per user for up to ACK_BATCH of its messages). Returns how many of each.
   */
  async sweep(now: number): Promise<{ messages: number; requests: number }> {
    const counts = { messages: 0, requests: 0 };
    for (;;) {
      const due: Deno.KvKey[] = [];
      const page = this.#kv.list({ prefix: ["expires"], end: ["expires", now + 1] }, { limit: SWEEP_PAGE });
      for await (const e of page) due.push(e.key);
      const inboxes = new Map<string, { user: Uint8Array; due: [number, Deno.KvKey][] }>();
      for (const key of due) {
        const [, at, what, a, b] = key as [string, number, string, Uint8Array, Uint8Array | number];
        if (await this.groups.expire(key)) continue; // a group's entry, acceptance or blob
        if (what === "inbox") {
          const k = bytesToHex(a);
          const box = inboxes.get(k) ?? { user: a, due: [] };
          box.due.push([b as number, key]);
          inboxes.set(k, box);
          continue;
        }
        const from = a, to = b as Uint8Array;
        counts.requests += await this.#atomically(async () => {
          const req = await this.#kv.get<RequestRecord>(["request", from, to]);
          const op = this.#kv.atomic().check(req).delete(key);
          if (req.value === null || req.value.expiresAt !== at) return { result: 0, op };
          const usage = new Usage();
          usage.total -= RECORD_COST;
          deleteRequest(op, from, to, req.value);
          return { result: 1, op, usage };
        });
      }
      for (const { user, due } of inboxes.values()) {
        for (let i = 0; i < due.length; i += ACK_BATCH) {
          counts.messages += await this.#sweepInbox(user, due.slice(i, i + ACK_BATCH));
        }
      }
      if (due.length < SWEEP_PAGE) return counts;
    }
  }

  /** Deletes lapsed messages of one user (seq and expiry index key each) in one transaction. */
  async #sweepInbox(user: Uint8Array, due: [number, Deno.KvKey][]): Promise<number> {
    return await this.#atomically(async () => {
      const meta = await this.#kv.get<QueueMeta>(["queue", user]);
      const entries = await this.#getMany<InboxRecord>(due.map(([seq]) => ["inbox", user, seq]));
      const op = this.#kv.atomic().check(meta);
      const q = meta.value === null ? null : { ...meta.value };
      const usage = new Usage();
      let n = 0;
      entries.forEach((entry, i) => {
        op.check(entry);
        if (entry.value === null || q === null) op.delete(due[i][1]);
        else {
          deleteEntry(op, user, toRef(entry as Deno.KvEntry<InboxRecord>), q, usage);
          n++;
        }
      });
      if (q !== null) op.set(["queue", user], q);
      return { result: n, op, usage, done: () => this.#metas.delete(bytesToHex(user)) };
    });
  }

  // ---- expiry of identities ---------------------------------------------------------------------------

  /**
   * Expires the identities whose last login was `ttl` ms or more before `now` (by the day): each one's
   * open chats are closed (the peer is queued ChatClosed, as for a close), its pending requests, blocks,
   * queue, prekeys and identity are deleted. An identity for which `keep` is true (logged in right now)
   * is marked as seen today instead. Every step checks that the identity has not logged in meanwhile.
   * Returns how many expired and the peers that were told of a closed chat.
   */
  async expireIdentities(
    now: number,
    ttl: number,
    keep: (id: Uint8Array) => boolean = () => false,
  ): Promise<{ identities: number; peers: Uint8Array[] }> {
    const cutoff = Math.floor((now - ttl) / DAY);
    const out = { identities: 0, peers: [] as Uint8Array[] };
    for (;;) {
      const page: [number, Uint8Array][] = [];
      for await (const e of this.#kv.list({ prefix: ["idle"], end: ["idle", cutoff + 1] }, { limit: 100 })) {
        page.push([e.key[1] as number, e.key[2] as Uint8Array]);
      }
      for (const [day, id] of page) {
        if (keep(id)) await this.#touch(id, now);
        else if (await this.#expire(id, day, cutoff, now, out.peers)) out.identities++;
      }
      if (page.length < 100) return out;
    }
  }

  /** Marks `id` as seen on `now`'s day. */
  async #touch(id: Uint8Array, now: number): Promise<void> {
    const today = Math.floor(now / DAY);
    await this.#atomically(async () => {
      const seen = await this.#kv.get<number>(["seen", id]);
      if (seen.value === today) return { result: undefined };
      const op = this.#kv.atomic().check(seen).set(["seen", id], today).set(["idle", today, id], true);
      if (seen.value !== null) op.delete(["idle", seen.value, id]);
      return { result: undefined, op };
    });
  }

  /** Deletes `id` and everything it owns, step by step (see expireIdentities); false if it logged in. */
  async #expire(
    id: Uint8Array,
    day: number,
    cutoff: number,
    now: number,
    peers: Uint8Array[],
  ): Promise<boolean> {
    /** The seen record if the identity is still due, else null (and a stale index entry is dropped). */
    const due = async (): Promise<Deno.KvEntryMaybe<number> | null> => {
      const seen = await this.#kv.get<number>(["seen", id]);
      if (seen.value !== null && seen.value <= cutoff) return seen;
      if (seen.value !== day) await this.#kv.delete(["idle", day, id]);
      return null;
    };
    const step = async (
      list: Deno.KvListSelector,
      limit: number,
      change: (
        op: Deno.AtomicOperation,
        usage: Usage,
        entries: Deno.KvEntry<unknown>[],
      ) => Promise<void> | void,
    ): Promise<"more" | "done" | "aborted"> => {
      return await this.#atomically(async () => {
        const seen = await due();
        if (seen === null) return { result: "aborted" as const };
        const entries: Deno.KvEntry<unknown>[] = [];
        for await (const e of this.#kv.list(list, { limit })) entries.push(e);
        if (entries.length === 0) return { result: "done" as const };
        const op = this.#kv.atomic().check(seen, ...entries);
        const usage = new Usage();
        await change(op, usage, entries);
        return { result: "more" as const, op, usage };
      });
    };
    let r: "more" | "done" | "aborted";
    // Its requests first (so that no chat can open with it any more), and its blocks.
    for (const prefix of ["request", "block"]) {
      do {
        r = await step({ prefix: [prefix, id] }, 90, (op, usage, entries) => {
          for (const e of entries) {
            if (prefix === "request") deleteRequest(op, id, e.key[2] as Uint8Array, e.value as RequestRecord);
            else op.delete(e.key);
            usage.total -= RECORD_COST;
          }
        });
      } while (r === "more");
      if (r === "aborted") return false;
    }
    // Its places in groups' logs (the groups keep it as a member until someone removes it).
    await this.groups.forgetUser(id);
    // Its open chats, one at a time (each queues ChatClosed for the peer).
    do {
      let peer: Uint8Array | null = null;
      r = await step({ prefix: ["chat", id] }, 1, async (op, usage, [chat]) => {
        peer = chat.key[2] as Uint8Array;
        this.#forgetChat(id, peer);
        const theirs = await this.#kv.get(["chat", peer, id]);
        op.check(theirs).delete(chat.key).delete(theirs.key);
        usage.total -= 2 * RECORD_COST;
        await this.#queueEvent(op, usage, peer, { kind: KIND_CLOSED, peer: id, at: now });
      });
      if (r === "more" && peer !== null) {
        this.#forgetChat(id, peer);
        peers.push(peer);
      }
    } while (r === "more");
    if (r === "aborted") return false;
    // The queue, ACK_BATCH entries at a time.
    this.#metas.delete(bytesToHex(id));
    do {
      r = await step({ prefix: ["inbox", id] }, ACK_BATCH, (op, usage, entries) => {
        const q: QueueMeta = { next: 0, count: 0, bytes: 0 };
        for (const e of entries) deleteEntry(op, id, toRef(e as Deno.KvEntry<InboxRecord>), q, usage);
      });
    } while (r === "more");
    if (r === "aborted") return false;
    // Last, the identity itself, its prekeys and its bookkeeping.
    return await this.#atomically(async () => {
      const seen = await due();
      if (seen === null) return { result: false };
      const [user, meta, sent, kem, ...prekeys] = await this.#kv.getMany<
        [Uint8Array, QueueMeta, Deno.KvU64, KemPrekeyRecord, ...PrekeyRecord[]]
      >([
        ["user", id],
        ["queue", id],
        ["sent", id],
        ["kemprekeys", id],
        ...CURVES.map((c) => ["prekeys", id, curveId(c)]),
      ]);
      const op = this.#kv.atomic().check(seen, user, meta, sent, kem, ...prekeys);
      op.delete(["seen", id]).delete(["idle", seen.value!, id]).delete(user.key).delete(meta.key);
      const usage = new Usage();
      if (user.value !== null) usage.total -= IDENTITY_COST;
      if (kem.value !== null) usage.total -= kemPrekeyCost(kem.value);
      op.delete(kem.key);
      for (const p of prekeys) {
        if (p.value !== null) usage.total -= PREKEY_COST + p.value.opks.length;
        op.delete(p.key);
      }
      // The count of what it sent stays while others' queues hold its messages (they lapse in their time).
      if (fromU64(sent.value) === 0) op.delete(sent.key);
      return { result: true, op, usage, done: () => this.#metas.delete(bytesToHex(id)) };
    });
  }

  // ---- internals --------------------------------------------------------------------------------------

  /** Mirrors a committed transaction's counter changes in memory. */
  #applied(usage: Usage, versionstamp: string): void {
    this.#usage += usage.total;
    for (const [key, { bytes }] of usage.senders) {
      const e = this.#sent.get(key);
      if (e === undefined) this.#loadingSent.get(key)?.deltas.push([versionstamp, bytes]);
      else if (versionstamp > e.versionstamp) {
        e.bytes += bytes;
        e.versionstamp = versionstamp;
      }
    }
  }

  /**
   * Bytes `id` has queued, from memory or read once. Changes committed while it is read are applied if
   * they are newer than what was read (versionstamps order commits).
   */
  async #senderUsage(id: Uint8Array): Promise<number> {
    const key = bytesToHex(id);
    const known = this.#sent.get(key);
    if (known !== undefined) return known.bytes;
    let loading = this.#loadingSent.get(key);
    if (loading === undefined) {
      const deltas: [string, number][] = [];
      loading = {
        deltas,
        done: (async () => {
          try {
            const e = await this.#kv.get<Deno.KvU64>(["sent", id]);
            let bytes = fromU64(e.value), versionstamp = e.versionstamp ?? "";
            for (const [v, d] of deltas) {
              if (v > versionstamp) {
                bytes += d;
                versionstamp = v;
              }
            }
            remember(this.#sent, key, { bytes, versionstamp });
          } finally {
            this.#loadingSent.delete(key);
          }
        })(),
      };
      this.#loadingSent.set(key, loading);
    }
    await loading.done;
    return this.#sent.get(key)?.bytes ?? 0;
  }

  /**
   * Reads the usage counter; a store without one (from before the counters) is counted once: every
   * record, every sender's queued bytes, and a seen day (today) for every identity.
   */
  async #loadCounters(now: number): Promise<void> {
    const [format, usage] = await this.#kv.getMany<[number, Deno.KvU64]>([FORMAT_KEY, USAGE_KEY]);
    if (format.value === FORMAT) {
      this.#usage = fromU64(usage.value);
      return;
    }
    if (format.value === FORMAT_COUNTED) {
      this.#usage = fromU64(usage.value);
      await this.#indexAsked();
      return;
    }
    let total = 0;
    const senders = new Map<string, { id: Uint8Array; bytes: number }>();
    const today = Math.floor(now / DAY);
    let batch = this.#kv.atomic(), mutations = 0;
    const flush = async () => {
      if (mutations > 0) await commitOrThrow(batch);
      batch = this.#kv.atomic();
      mutations = 0;
    };
    for await (const e of this.#kv.list<unknown>({ prefix: [] })) {
      const kind = e.key[0];
      if (kind === "user") {
        total += IDENTITY_COST;
        const id = e.key[1] as Uint8Array;
        batch.set(["seen", id], today).set(["idle", today, id], true);
        if ((mutations += 2) >= 500) await flush();
      } else if (kind === "prekeys") {
        total += PREKEY_COST + (e.value as PrekeyRecord).opks.length;
      } else if (kind === "kemprekeys") {
        total += kemPrekeyCost(e.value as KemPrekeyRecord);
      } else if (kind === "request" || kind === "chat" || kind === "block") {
        total += RECORD_COST;
      } else if (kind === "inbox") {
        const r = e.value as InboxRecord;
        if (r.kind === KIND_MESSAGE) {
          total += r.size + ENTRY_COST;
          const k = bytesToHex(r.peer);
          const s = senders.get(k) ?? { id: r.peer, bytes: 0 };
          s.bytes += r.size + ENTRY_COST;
          senders.set(k, s);
        } else total += EVENT_COST;
      }
    }
    for (const { id, bytes } of senders.values()) {
      batch.set(["sent", id], new Deno.KvU64(BigInt(bytes)));
      if (++mutations >= 500) await flush();
    }
    batch.set(USAGE_KEY, new Deno.KvU64(BigInt(total))).set(FORMAT_KEY, FORMAT_COUNTED);
    mutations += 2;
    await flush();
    this.#usage = total;
    await this.#indexAsked();
  }

  /**
   * Writes the asked index of every pending request (a store from before it), then the format. Its time
   * of asking is unknown: 0, so those come last in an inbox.
   */
  async #indexAsked(): Promise<void> {
    let batch = this.#kv.atomic(), mutations = 0;
    for await (const e of this.#kv.list<RequestRecord>({ prefix: ["request"] })) {
      const [, from, to] = e.key as [string, Uint8Array, Uint8Array];
      const { curve, expiresAt } = e.value;
      batch.set(["asked", to, from], { curve, at: 0, expiresAt, dismissed: false } satisfies AskedRecord);
      if (++mutations >= 500) {
        await commitOrThrow(batch);
        batch = this.#kv.atomic();
        mutations = 0;
      }
    }
    await commitOrThrow(batch.set(FORMAT_KEY, FORMAT));
  }

  /** Adds to `op` an event queued for `user` (reads and checks the queue's meta record). */
  async #queueEvent(
    op: Deno.AtomicOperation,
    usage: Usage,
    user: Uint8Array,
    event: Omit<InboxRecord, "id" | "expiresAt" | "size" | "parts">,
  ): Promise<void> {
    this.#metas.delete(bytesToHex(user));
    const meta = await this.#kv.get<QueueMeta>(["queue", user]);
    const q = meta.value ?? { next: 0, count: 0, bytes: 0 };
    const id = this.#random(MESSAGE_ID_BYTES);
    const seq = q.next;
    op.check(meta);
    op.set(["inbox", user, seq], { ...event, id, expiresAt: 0, size: 0, parts: 0 } satisfies InboxRecord);
    op.set(["msgid", user, id], { seq, from: null } satisfies MsgIdRecord);
    op.set(["queue", user], { next: seq + 1, count: q.count + 1, bytes: q.bytes } satisfies QueueMeta);
    usage.total += EVENT_COST;
  }

  /**
   * Drops both sides of a chat from the cache and starts a new epoch, so that no read that overlapped
   * can put them back. Called before a transaction that deletes a chat and again after it commits.
   */
  #forgetChat(a: Uint8Array, b: Uint8Array): void {
    this.#chatEpoch++;
    this.#chats.delete(pairKey(a, b));
    this.#chats.delete(pairKey(b, a));
  }

  /** kv.getMany in groups of ten (its limit). */
  async #getMany<T>(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
    const out: Deno.KvEntryMaybe<T>[] = [];
    for (let i = 0; i < keys.length; i += 10) out.push(...await this.#kv.getMany<T[]>(keys.slice(i, i + 10)));
    return out;
  }

  /**
   * Runs `attempt` until its operation commits (or it returns no operation), retrying on a versionstamp
   * conflict; then `done` gets the commit's versionstamp. Each attempt reads afresh.
   */
  async #atomically<T>(attempt: () => Promise<Attempt<T>>): Promise<T> {
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      // After a conflict, wait a random moment (up to 1, 2, 4 … 64 ms) so that two writers retrying
      // against each other, or against a stream of group commits, stop colliding in lockstep.
      if (i > 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(64, 2 ** (i - 1))));
      }
      const { result, op, done, usage } = await attempt();
      if (op === undefined) return result;
      usage?.write(op);
      const commit = await op.commit();
      if (commit.ok) {
        if (usage) this.#applied(usage, commit.versionstamp);
        done?.(commit.versionstamp);
        return result;
      }
    }
    throw new Error("the store is too busy: a transaction kept conflicting");
  }
}

function deleteRequest(op: Deno.AtomicOperation, from: Uint8Array, to: Uint8Array, r: RequestRecord): void {
  op.delete(["request", from, to]).delete(["expires", r.expiresAt, "request", from, to]);
  op.delete(["asked", to, from]);
}

/** Adds to `op` a new message entry, with its body parts, id index and expiry; advances `q` and `usage`. */
function addMessage(op: Deno.AtomicOperation, m: EnqueueOp, q: QueueMeta, usage: Usage): EntryRef {
  const { from, to, messageId, body, now } = m;
  const seq = q.next;
  const parts = Math.ceil(body.length / BODY_PART);
  const expiresAt = now + Math.min(m.ttl ?? m.limits.ttl, m.limits.ttl);
  const record: InboxRecord = {
    kind: KIND_MESSAGE,
    id: messageId,
    peer: from,
    at: now,
    expiresAt,
    size: body.length,
    parts,
  };
  op.set(["inbox", to, seq], record);
  for (let i = 0; i < parts; i++) {
    op.set(["body", to, seq, i], body.slice(i * BODY_PART, (i + 1) * BODY_PART));
  }
  op.set(["msgid", to, messageId], { seq, from } satisfies MsgIdRecord);
  op.set(["expires", expiresAt, "inbox", to, seq], true);
  q.next = seq + 1;
  q.count += 1;
  q.bytes += body.length;
  usage.sender(from, body.length + ENTRY_COST);
  return { seq, id: messageId, versionstamp: "", size: body.length, parts, expiresAt, from };
}

/** Adds to `op` the deletion of a queued entry and everything referring to it; updates `q` and `usage`. */
function deleteEntry(
  op: Deno.AtomicOperation,
  user: Uint8Array,
  r: EntryRef,
  q: QueueMeta,
  usage: Usage,
): void {
  op.delete(["inbox", user, r.seq]).delete(["msgid", user, r.id]);
  for (let i = 0; i < r.parts; i++) op.delete(["body", user, r.seq, i]);
  if (r.expiresAt !== 0) op.delete(["expires", r.expiresAt, "inbox", user, r.seq]);
  q.count -= 1;
  q.bytes -= r.size;
  if (r.from !== null) usage.sender(r.from, -(r.size + ENTRY_COST));
  else usage.total -= EVENT_COST;
}

async function commitOrThrow(op: Deno.AtomicOperation): Promise<void> {
  if (!(await op.commit()).ok) throw new Error("the store changed while it was being counted");
}

/** The reference of a stored entry. */
function toRef(e: Deno.KvEntry<InboxRecord>): EntryRef {
  const r = e.value;
  return {
    seq: e.key[2] as number,
    id: r.id,
    versionstamp: e.versionstamp,
    size: r.size,
    parts: r.parts,
    expiresAt: r.expiresAt,
    from: r.kind === KIND_MESSAGE ? r.peer : null,
  };
}

/** The cache key of one side of a chat. */
function pairKey(from: Uint8Array, to: Uint8Array): string {
  return bytesToHex(from) + bytesToHex(to);
}

/** Sets a cache entry, most recent last, dropping the oldest beyond CACHE_ENTRIES. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
}

function packOneTime(curve: CurveName, keys: readonly OneTimePrekey[]): Uint8Array {
  const w = new Writer(keys.length * (4 + pointLength(curve)));
  for (const k of keys) w.u32(k.id).bytes(k.publicKey);
  return w.finish();
}

function unpackOneTime(curve: CurveName, packed: Uint8Array): OneTimePrekey[] {
  const r = new Reader(packed, "stored one-time prekeys");
  const out: OneTimePrekey[] = [];
  while (r.remaining > 0) out.push({ id: r.u32("id"), publicKey: r.bytes(pointLength(curve), "point") });
  return out;
}

function checkId(v: unknown, name: string): asserts v is Uint8Array {
  checkBytes(v, name, ID_BYTES);
}

function checkMessageId(v: unknown): asserts v is Uint8Array {
  checkBytes(v, "messageId", MESSAGE_ID_BYTES);
}
