// The relay's durable state of groups, in the store's Deno KV database (server/store.ts opens it and hands
// this module its transaction machinery): each group's record, its log of entries (stored once, read by
// every member from where it joined), each member's cursor in it, accepted invitations and blobs. Every
// change that must agree with another is one transaction; a message is acknowledged to its sender only
// after the transaction that logs it (and applies what it changes) has committed. Keys: docs/store.md.
//
//   ["group", g]                   GroupRecord (server/groups.ts): suite, creator, epoch, members, admins …
//   ["glog", g]                    LogMeta: next seq, entries and bytes in the log
//   ["gentry", g, seq]             EntryRecord: one logged entry (its body in ["gbody", g, seq, part])
//   ["gmid", g, messageId]         { seq, from, epoch }: finds a sender's retry
//   ["gcursor", g, user]           KvU64: the last seq `user` acknowledged (updated with `max`, never read-modified)
//   ["ugroup", user, g]            true: the groups whose log `user` reads (members, and removed members owed entries)
//   ["gjoin", g, invitee]          Grant: an accepted invitation, until used by a commit or lapsed
//   ["blob", g, blobId]            BlobRecord, its chunks in ["bpart", g, blobId, index, part]
//   ["expires", at, "gentry" | "gjoin" | "blob", g, …]   what lapses when

import { bytesToHex, concatBytes, equalBytes, type RandomSource } from "../crypto/bytes.ts";
import { Writer } from "../protocol/codec.ts";
import { BLOB_CHUNK_BYTES, MESSAGE_ID_BYTES } from "../protocol/wire.ts";
import { endOf, type Grant, type GroupRecord, memberOf, type MemberRecord, type Refusal } from "./groups.ts";
import { SerialByKey } from "./serial.ts";

/** Deno KV values are at most 64 KiB: bodies are stored in parts of this many bytes. */
const BODY_PART = 65_000;
/** What records count for in the store's usage besides bodies (docs/store.md, "Quotas"). */
export const GROUP_COST = 2048, GROUP_ENTRY_COST = 256, GROUP_RECORD_COST = 128;
/** Entries deleted per transaction by the collector and the sweep. */
const DELETE_BATCH = 40;
/** Blob parts deleted per transaction. */
const PART_BATCH = 400;
/** Cursor updates committed together at most, and how long the first one waits for others. */
const CURSOR_BATCH = 500, CURSOR_DELAY_MS = 20;
/** Oldest entries a full log drops to take one more. */
const MAX_DROPS = 8;

/** A change to the usage counters (server/store.ts's Usage). */
export interface UsageCounter {
  total: number;
  sender(id: Uint8Array, bytes: number): void;
}

/** One attempt of a transaction (server/store.ts's #atomically runs it until it commits). */
export interface GroupAttempt<T> {
  result: T;
  op?: Deno.AtomicOperation;
  done?: (versionstamp: string) => void;
  usage?: UsageCounter;
}

/** What the store lends this module. */
export interface StoreContext {
  kv: Deno.Kv;
  random: RandomSource;
  atomically<T>(attempt: () => Promise<GroupAttempt<T>>): Promise<T>;
  newUsage(): UsageCounter;
  /** Adds to `op` an InviteAccepted event queued for `user` (reads and checks its queue record). */
  queueInvite(
    op: Deno.AtomicOperation,
    usage: UsageCounter,
    user: Uint8Array,
    event: { group: Uint8Array; invitee: Uint8Array; keyPackage: Uint8Array; at: number },
  ): Promise<void>;
  /** Commits `op` with `usage`'s counter changes; its versionstamp, or null if a check failed. */
  commit(op: Deno.AtomicOperation, usage: UsageCounter): Promise<string | null>;
  /** The store's usage as counted, and a sender's queued bytes. */
  storeUsage(): number;
  senderUsage(id: Uint8Array): Promise<number>;
}

interface LogMeta {
  /** The seq the next entry takes (seqs start at 1). */
  next: number;
  /** Entries and body bytes in the log now. */
  count: number;
  bytes: number;
}

const KIND_MESSAGE = 1, KIND_ADMINS = 3;

interface EntryRecord {
  kind: number;
  /** The relay's id of the entry (what members acknowledge). */
  id: Uint8Array;
  /** The sender's message id (null for the relay's own entries). */
  mid: Uint8Array | null;
  from: Uint8Array;
  at: number;
  expiresAt: number;
  /** Bytes of the body, then of the Welcome (0 if none), stored one after the other in parts. */
  size: number;
  welcome: number;
  parts: number;
  /** Members this commit added: they receive the Welcome instead of the commit. */
  added: Uint8Array[];
}

interface MidRecord {
  seq: number;
  from: Uint8Array;
  epoch: number;
}

interface BlobRecord {
  uploader: Uint8Array;
  size: number;
  /** Chunks stored so far (they arrive in order). */
  chunks: number;
  complete: boolean;
  /** Members who have not yet said they are done with it (set when it completes). */
  pending: Uint8Array[];
  expiresAt: number;
}

/** An entry of a group's log as read for delivery. */
export interface LogEntry {
  seq: number;
  id: Uint8Array;
  from: Uint8Array;
  at: number;
  kind: "message" | "admins";
  body: Uint8Array;
  welcome: Uint8Array | null;
  added: Uint8Array[];
}

/** Limits of group logs and blobs (the relay's flags). */
export interface GroupLimits {
  /** Entries and bytes a group's log keeps; past them the oldest entries are dropped. */
  maxLogEntries: number;
  maxLogBytes: number;
  /** Milliseconds an entry waits before it lapses. */
  ttl: number;
  /** The store's quota and the per-sender quota (server/store.ts). */
  maxStoreBytes: number;
  maxSenderBytes: number;
}

/** What appending to a log decided. */
export type AppendOutcome =
  | {
    kind: "accepted";
    seq: number;
    epoch: number;
    entry: LogEntry;
    record: GroupRecord;
    added: MemberRecord[];
    removed: MemberRecord[];
  }
  /** The sender's retry of a logged message: its seq and the epoch after it. */
  | { kind: "already"; seq: number; epoch: number }
  | { kind: "refused"; refusal: Refusal }
  | { kind: "no-group" | "duplicate" | "over-quota" };

/** What a decision on an appended entry changes (server/groups.ts). */
export interface Decision {
  /** The new record, or null if unchanged. */
  record: GroupRecord | null;
  added?: MemberRecord[];
  removed?: MemberRecord[];
  /** Invitees whose invitations are used up. */
  granted?: Uint8Array[];
  /** The entry's body, if the decision sets it (an admins entry lists the admins after the change). */
  body?: Uint8Array;
}

/** What to append, and how to decide on it. */
export interface AppendInput {
  group: Uint8Array;
  from: Uint8Array;
  /** The sender's message id (retries are answered "already"); null for the relay's own entries. */
  messageId: Uint8Array | null;
  kind: "message" | "admins";
  body: Uint8Array;
  welcome: Uint8Array | null;
  now: number;
  /** Invitees whose acceptances the decision needs (Adds by value). */
  invitees: Uint8Array[];
  limits: GroupLimits;
  /** Decides against the current record, the live acceptances and the seq the entry would take. */
  decide: (record: GroupRecord, grants: ReadonlyMap<string, Grant>, seq: number) => Decision | Refusal;
}

/** A group a user reads, with its place in the log. */
export interface UserGroup {
  record: GroupRecord;
  cursor: number;
  /** The last seq it receives (a member that left, or was removed), or null. */
  end: number | null;
}

/** Blob limits. */
export interface BlobLimits {
  maxBlobBytes: number;
  /** Milliseconds an unfinished upload, and a finished blob, are kept. */
  uploadTtl: number;
  ttl: number;
  maxStoreBytes: number;
  maxSenderBytes: number;
}

export type BlobPutOutcome =
  | "stored"
  | "complete"
  | "not-member"
  | "bad-request"
  | "over-quota"
  | "duplicate";

/** A group's record and log meta as this process last committed them. */
interface CachedLog {
  record: GroupRecord;
  recordVersion: string;
  meta: LogMeta;
  metaVersion: string;
}

/** Groups whose record and log meta are kept in memory, at most (the least recently used go). */
const CACHE_GROUPS = 10_000;

/** Sets a cache entry, most recent last, dropping the oldest beyond CACHE_GROUPS. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > CACHE_GROUPS) cache.delete(cache.keys().next().value!);
}

/** The groups part of the relay's store. */
export class GroupStore {
  readonly #c: StoreContext;
  /** Appends to one group run one at a time, in order, in this process. */
  readonly #serial = new SerialByKey();
  /** Cursor updates waiting to be committed, by "group:user", and whether a commit loop runs. */
  #cursors = new Map<string, { group: Uint8Array; user: Uint8Array; seq: number }>();
  #flushing: Promise<void> | null = null;
  /** Each group's record and log meta as last committed here, with their versionstamps (see append). */
  readonly #cache = new Map<string, CachedLog>();

  constructor(context: StoreContext) {
    this.#c = context;
  }

  // ---- records ----------------------------------------------------------------------------------------

  /** The record of group `id`, or null. */
  async get(id: Uint8Array): Promise<GroupRecord | null> {
    return (await this.#c.kv.get<GroupRecord>(["group", id])).value;
  }

  /** The seq of the last entry of group `id` (0 before any). */
  async lastSeq(id: Uint8Array): Promise<number> {
    return ((await this.#c.kv.get<LogMeta>(["glog", id])).value?.next ?? 1) - 1;
  }

  /**
   * Creates group `id` with `creator` as its only member (leaf 0) at epoch 0. "exists" if the ID is taken
   * (also by a group whose members all left), "limit" if the creator reads `maxGroups` groups already.
   */
  async create(
    creator: Uint8Array,
    id: Uint8Array,
    suite: number,
    now: number,
    maxGroups: number,
  ): Promise<"created" | "exists" | "limit"> {
    return await this.#c.atomically(async () => {
      const [group, meta] = await this.#c.kv.getMany([["group", id], ["glog", id]]);
      if (group.value !== null || meta.value !== null) return { result: "exists" as const };
      if (await this.#groupCount(creator, maxGroups) >= maxGroups) return { result: "limit" as const };
      const record: GroupRecord = {
        id,
        suite,
        creator,
        createdAt: now,
        epoch: 0,
        members: [{ id: creator, leaf: 0, end: null }],
        admins: [],
        departed: [],
        proposals: [],
      };
      const usage = this.#c.newUsage();
      usage.total += GROUP_COST + 2 * GROUP_RECORD_COST;
      const op = this.#c.kv.atomic().check(group, meta)
        .set(["group", id], record)
        .set(["glog", id], { next: 1, count: 0, bytes: 0 } satisfies LogMeta)
        .set(["ugroup", creator, id], true)
        .set(["gcursor", id, creator], new Deno.KvU64(0n));
      return { result: "created" as const, op, usage };
    });
  }

  /** Groups `user` reads, counted up to `limit`. */
  async #groupCount(user: Uint8Array, limit: number): Promise<number> {
    let n = 0;
    for await (const _ of this.#c.kv.list({ prefix: ["ugroup", user] }, { limit })) n++;
    return n;
  }

  /** The groups `user` reads (as a member, or removed and still owed entries), with its cursor in each. */
  async userGroups(user: Uint8Array): Promise<UserGroup[]> {
    const ids: Uint8Array[] = [];
    for await (const e of this.#c.kv.list({ prefix: ["ugroup", user] })) ids.push(e.key[2] as Uint8Array);
    // Each group's record and cursor side by side: getMany reads ten keys at a time, so a pair is never
    // split across two reads (each pair is one consistent snapshot, as with one getMany per group).
    const entries = await getMany<unknown>(
      this.#c.kv,
      ids.flatMap((id) => [["group", id], ["gcursor", id, user]]),
    );
    const out: UserGroup[] = [];
    ids.forEach((_, i) => {
      const record = entries[2 * i].value as GroupRecord | null;
      const cursor = entries[2 * i + 1].value as Deno.KvU64 | null;
      if (record === null) return;
      const end = endOf(record, user);
      if (end === undefined) return; // a stale index entry: the collector deletes it
      out.push({ record, cursor: Number(cursor?.value ?? 0n), end });
    });
    return out;
  }

  // ---- invitations ------------------------------------------------------------------------------------

  /**
   * `invitee` accepts `inviter`'s invitation to group `id` with a validated KeyPackage (`keyPackage`,
   * whose KeyPackageRef is `ref`): the acceptance is kept until `now + ttl` (replacing a lapsed one;
   * "pending" while one is live), and
   * the inviter is queued InviteAccepted with the KeyPackage, in one transaction. "not-allowed" unless the
   * group exists, the inviter is a member that is not leaving, and the two have an open chat; "member" if
   * the invitee is in the group already; "wrong-suite" for a KeyPackage of another cipher suite than the
   * group's; "full" if members and live acceptances reach `maxMembers`;
   * "limit" if the invitee reads `maxGroups` groups already.
   */
  async acceptInvite(
    invitee: Uint8Array,
    id: Uint8Array,
    inviter: Uint8Array,
    keyPackage: { bytes: Uint8Array; ref: Uint8Array; suite: number },
    now: number,
    limits: { ttl: number; maxMembers: number; maxGroups: number },
  ): Promise<"ok" | "not-allowed" | "member" | "full" | "limit" | "wrong-suite" | "pending"> {
    return await this.#serial.run(bytesToHex(id), () =>
      this.#c.atomically(async () => {
        const [group, chat, old] = await this.#c.kv.getMany<[GroupRecord, unknown, Grant]>([
          ["group", id],
          ["chat", invitee, inviter],
          ["gjoin", id, invitee],
        ]);
        const record = group.value;
        const by = record === null ? undefined : memberOf(record, inviter);
        if (record === null || by === undefined || by.end !== null || chat.value === null) {
          return { result: "not-allowed" as const };
        }
        if (memberOf(record, invitee) !== undefined) return { result: "member" as const };
        if (record.suite !== keyPackage.suite) return { result: "wrong-suite" as const };
        // One live acceptance per group and invitee: each one queues an event for the inviter.
        if (old.value !== null && old.value.expiresAt > now) return { result: "pending" as const };
        let live = 0;
        for await (
          const e of this.#c.kv.list<Grant>({ prefix: ["gjoin", id] }, { limit: limits.maxMembers })
        ) {
          if (e.value.expiresAt > now && !equalBytes(e.key[2] as Uint8Array, invitee)) live++;
        }
        if (record.members.length + live >= limits.maxMembers) return { result: "full" as const };
        if (await this.#groupCount(invitee, limits.maxGroups) >= limits.maxGroups) {
          return { result: "limit" as const };
        }
        const grant: Grant = { inviter, keyPackageRef: keyPackage.ref, expiresAt: now + limits.ttl };
        const op = this.#c.kv.atomic().check(group, chat, old);
        const usage = this.#c.newUsage();
        if (old.value !== null) op.delete(["expires", old.value.expiresAt, "gjoin", id, invitee]);
        else usage.total += GROUP_RECORD_COST;
        op.set(["gjoin", id, invitee], grant).set(["expires", grant.expiresAt, "gjoin", id, invitee], true);
        await this.#c.queueInvite(op, usage, inviter, {
          group: id,
          invitee,
          keyPackage: keyPackage.bytes,
          at: now,
        });
        return { result: "ok" as const, op, usage };
      }));
  }

  // ---- the log ----------------------------------------------------------------------------------------

  /**
   * Logs an entry in a group, deciding on it in the same transaction (`input.decide` against the current
   * record, acceptances and seq). A full log drops its oldest entries first. One entry is logged at a
   * time per group in this process.
   */
  async append(input: AppendInput): Promise<AppendOutcome> {
    const key = bytesToHex(input.group);
    return await this.#serial.run(key, async () => {
      // The fast path: no reads, the record and log meta as this process last wrote or read them, every
      // write guarded by their versionstamps; anything unusual, or a stale guess, goes the careful way.
      const cached = this.#cache.get(key);
      if (cached !== undefined && input.invitees.length === 0) {
        const attempt = await this.#appendAttempt(input, cached);
        if (attempt !== null && attempt.op !== undefined) {
          const versionstamp = await this.#c.commit(attempt.op, attempt.usage!);
          if (versionstamp !== null) {
            attempt.done?.(versionstamp);
            return attempt.result;
          }
        }
        this.#cache.delete(key);
      }
      return await this.#c.atomically(async () => (await this.#appendAttempt(input))!);
    });
  }

  /**
   * One attempt at logging `input`: read (or, given `cached`, take from memory) what it depends on,
   * decide, and build the transaction. With `cached`, null when the careful way must decide (a refusal,
   * Adds, a full log, a quota).
   */
  async #appendAttempt(input: AppendInput, cached?: CachedLog): Promise<GroupAttempt<AppendOutcome> | null> {
    const { kv } = this.#c;
    const g = input.group;
    const midKey = ["gmid", g, input.messageId ?? new Uint8Array(MESSAGE_ID_BYTES)];
    let group: { key: Deno.KvKey; versionstamp: string | null; value: GroupRecord | null };
    let metaEntry: { key: Deno.KvKey; versionstamp: string | null; value: LogMeta | null };
    let known: { key: Deno.KvKey; versionstamp: string | null; value: MidRecord | null };
    if (cached !== undefined) {
      group = { key: ["group", g], versionstamp: cached.recordVersion, value: cached.record };
      metaEntry = { key: ["glog", g], versionstamp: cached.metaVersion, value: cached.meta };
      known = { key: midKey, versionstamp: null, value: null }; // a retry fails the check: then read
    } else {
      [group, metaEntry, known] = await kv.getMany<[GroupRecord, LogMeta, MidRecord]>([
        ["group", g],
        ["glog", g],
        midKey,
      ]);
    }
    const record = group.value, meta = metaEntry.value;
    if (record === null || meta === null) return { result: { kind: "no-group" } };
    if (input.messageId !== null && known.value !== null) {
      if (!equalBytes(known.value.from, input.from)) return { result: { kind: "duplicate" } };
      return { result: { kind: "already", seq: known.value.seq, epoch: known.value.epoch } };
    }
    const grantEntries = await getMany<Grant>(kv, input.invitees.map((i) => ["gjoin", g, i]));
    const grants = new Map<string, Grant>();
    input.invitees.forEach((i, n) => {
      const v = grantEntries[n].value;
      if (v !== null && v.expiresAt > input.now) grants.set(bytesToHex(i), v);
    });
    const seq = meta.next;
    const decision = input.decide(record, grants, seq);
    if ("refuse" in decision) return cached ? null : { result: { kind: "refused", refusal: decision } };
    if (cached && ((decision.added?.length ?? 0) > 0 || (decision.granted?.length ?? 0) > 0)) return null;

    const { limits, now } = input;
    const body = decision.body ?? input.body;
    const size = body.length + (input.welcome?.length ?? 0);
    const cost = size + GROUP_ENTRY_COST;
    if (this.#c.storeUsage() + cost > limits.maxStoreBytes) {
      return cached ? null : { result: { kind: "over-quota" } };
    }
    if (await this.#c.senderUsage(input.from) + cost > limits.maxSenderBytes) {
      return cached ? null : { result: { kind: "over-quota" } };
    }
    const op = kv.atomic().check(group, metaEntry, known, ...grantEntries);
    const usage = this.#c.newUsage();
    const m: LogMeta = { ...meta };
    // A full log drops its oldest entries: a member that far behind has missed them (docs/protocol.md).
    if (m.count + 1 > limits.maxLogEntries || m.bytes + size > limits.maxLogBytes) {
      if (cached) return null;
      const old: Deno.KvEntry<EntryRecord>[] = [];
      for await (const e of kv.list<EntryRecord>({ prefix: ["gentry", g] }, { limit: MAX_DROPS })) {
        old.push(e);
      }
      for (const e of old) {
        if (m.count + 1 <= limits.maxLogEntries && m.bytes + size <= limits.maxLogBytes) break;
        op.check(e);
        deleteEntry(op, g, e.key[2] as number, e.value, m, usage);
      }
      if (m.count + 1 > limits.maxLogEntries || m.bytes + size > limits.maxLogBytes) {
        return { result: { kind: "over-quota" } };
      }
    }
    const entryId = this.#c.random(MESSAGE_ID_BYTES);
    const added = decision.added ?? [];
    const parts = Math.ceil(size / BODY_PART);
    const stored = input.welcome === null ? body : concatBytes(body, input.welcome);
    const expiresAt = now + limits.ttl;
    const entry: EntryRecord = {
      kind: input.kind === "admins" ? KIND_ADMINS : KIND_MESSAGE,
      id: entryId,
      mid: input.messageId,
      from: input.from,
      at: now,
      expiresAt,
      size: body.length,
      welcome: input.welcome?.length ?? 0,
      parts,
      added: added.map((a) => a.id),
    };
    op.set(["gentry", g, seq], entry);
    for (let i = 0; i < parts; i++) {
      op.set(["gbody", g, seq, i], stored.slice(i * BODY_PART, (i + 1) * BODY_PART));
    }
    op.set(["expires", expiresAt, "gentry", g, seq], true);
    const next = decision.record ?? record;
    if (input.messageId !== null) {
      op.set(["gmid", g, input.messageId], { seq, from: input.from, epoch: next.epoch } satisfies MidRecord);
    }
    m.next = seq + 1;
    m.count += 1;
    m.bytes += size;
    op.set(["glog", g], m);
    usage.sender(input.from, cost);
    if (decision.record !== null) op.set(["group", g], decision.record);
    // Added members read the log from this entry (their Welcome) on; their index and cursor are new.
    const indexes = await getMany(kv, added.map((a) => ["ugroup", a.id, g]));
    added.forEach((a, i) => {
      op.check(indexes[i]);
      if (indexes[i].value === null) usage.total += 2 * GROUP_RECORD_COST;
      op.set(["ugroup", a.id, g], true).set(["gcursor", g, a.id], new Deno.KvU64(BigInt(seq - 1)));
    });
    // Acceptances used up, also those of members added by reference (not read above).
    const granted = decision.granted ?? [];
    const more = await getMany<Grant>(kv, granted.map((id) => ["gjoin", g, id]));
    granted.forEach((id, i) => {
      const grant = more[i].value;
      op.check(more[i]);
      if (grant === null) return;
      op.delete(["gjoin", g, id]).delete(["expires", grant.expiresAt, "gjoin", g, id]);
      usage.total -= GROUP_RECORD_COST;
    });
    return {
      result: {
        kind: "accepted",
        seq,
        epoch: next.epoch,
        entry: {
          seq,
          id: entryId,
          from: input.from,
          at: now,
          kind: input.kind,
          body,
          welcome: input.welcome,
          added: entry.added,
        },
        record: next,
        added,
        removed: decision.removed ?? [],
      },
      op,
      usage,
      done: (versionstamp) =>
        remember(this.#cache, bytesToHex(g), {
          record: next,
          recordVersion: decision.record !== null ? versionstamp : group.versionstamp!,
          meta: m,
          metaVersion: versionstamp,
        }),
    };
  }

  /**
   * The next `limit` entries of group `id` after seq `after`, oldest first, bodies included; entries
   * lapsed at `now` are left out. `listed` tells how many were looked at (fewer than `limit`: the end).
   */
  async readLog(
    id: Uint8Array,
    after: number,
    limit: number,
    now: number,
  ): Promise<{ entries: LogEntry[]; last: number; listed: number }> {
    const { kv } = this.#c;
    const records: Deno.KvEntry<EntryRecord>[] = [];
    const iter = kv.list<EntryRecord>({ prefix: ["gentry", id], start: ["gentry", id, after + 1] }, {
      limit,
    });
    for await (const e of iter) records.push(e);
    const keys = records.flatMap((e) =>
      Array.from({ length: e.value.parts }, (_, i) => ["gbody", id, e.key[2], i])
    );
    const parts = await getMany<Uint8Array>(kv, keys);
    let at = 0;
    const entries: LogEntry[] = [];
    for (const e of records) {
      const r = e.value;
      const mine = parts.slice(at, at + r.parts);
      at += r.parts;
      if (r.expiresAt <= now || mine.some((p) => p.value === null)) continue;
      const all = concatBytes(...mine.map((p) => p.value!));
      entries.push({
        seq: e.key[2] as number,
        id: r.id,
        from: r.from,
        at: r.at,
        kind: r.kind === KIND_ADMINS ? "admins" : "message",
        body: all.subarray(0, r.size),
        welcome: r.welcome > 0 ? all.subarray(r.size) : null,
        added: r.added,
      });
    }
    const last = records.length > 0 ? records[records.length - 1].key[2] as number : after;
    return { entries, last, listed: records.length };
  }

  /**
   * `user` acknowledged group `id`'s log up to `seq`. Written with Deno KV's `max` (no read, no conflict),
   * several at once; the returned promise resolves once this one is on disk (and rejects if the commit
   * failed: the member then receives those entries again after its next login).
   */
  advanceCursor(user: Uint8Array, id: Uint8Array, seq: number): Promise<void> {
    const key = `${bytesToHex(id)}:${bytesToHex(user)}`;
    const known = this.#cursors.get(key);
    if (known === undefined || known.seq < seq) this.#cursors.set(key, { group: id, user, seq });
    this.#flushing ??= this.#flushCursors();
    return this.#flushing;
  }

  /** Waits until every cursor update asked for so far is on disk. */
  async flush(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
  }

  async #flushCursors(): Promise<void> {
    try {
      // Acknowledgements of one entry by a hundred members come a few ms apart: wait a moment so that one
      // commit takes them all (a crash before it only makes members read those entries again).
      await new Promise((resolve) => setTimeout(resolve, CURSOR_DELAY_MS));
      while (this.#cursors.size > 0) {
        const batch = [...this.#cursors.values()].slice(0, CURSOR_BATCH);
        const op = this.#c.kv.atomic();
        for (const c of batch) {
          op.max(["gcursor", c.group, c.user], BigInt(c.seq));
          const key = `${bytesToHex(c.group)}:${bytesToHex(c.user)}`;
          if (this.#cursors.get(key) === c) this.#cursors.delete(key);
        }
        await op.commit();
      }
    } catch (e) {
      this.#cursors.clear();
      throw e;
    } finally {
      this.#flushing = null;
    }
  }

  /**
   * Deletes what every reader of group `id`'s log has acknowledged, and the bookkeeping of removed members
   * that have read up to their removal, or for which nothing up to it is left (their index and cursor). A
   * cursor left by someone who is no longer a reader is deleted. Returns the entries deleted.
   *
   * A member without an end needs every entry after its cursor; one that left, or was removed, only those
   * after its cursor up to its end: so the entries kept are those after the least cursor of the first, and
   * the windows (cursor, end] of the second.
   */
  async collect(id: Uint8Array): Promise<number> {
    const { kv } = this.#c;
    await this.flush();
    const cursors = new Map<string, { user: Uint8Array; seq: number }>();
    for await (const e of kv.list<Deno.KvU64>({ prefix: ["gcursor", id] })) {
      const user = e.key[2] as Uint8Array;
      cursors.set(bytesToHex(user), { user, seq: Number(e.value.value) });
    }
    const cursorOf = (user: Uint8Array) => cursors.get(bytesToHex(user))?.seq;
    /** True if the log still holds an entry in (after, end]. */
    const owed = async (after: number, end: number) => {
      if (after >= end) return false;
      const iter = kv.list({ start: ["gentry", id, after + 1], end: ["gentry", id, end + 1] }, { limit: 1 });
      for await (const _ of iter) return true;
      return false;
    };
    const departed = (await kv.get<GroupRecord>(["group", id])).value?.departed ?? [];
    const done = new Set<string>();
    for (const d of departed) {
      const c = cursorOf(d.id);
      if (c === undefined || !await owed(c, d.end)) done.add(bytesToHex(d.id));
    }
    // Removed members that are done, and cursors of nobody, go first (with their record change).
    const cleaned = await this.#serial.run(bytesToHex(id), () =>
      this.#c.atomically(async () => {
        this.#cache.delete(bytesToHex(id));
        const group = await kv.get<GroupRecord>(["group", id]);
        const record = group.value;
        if (record === null) return { result: null };
        const finished = record.departed.filter((d) => done.has(bytesToHex(d.id)));
        const readers = new Set([
          ...record.members.map((m) => bytesToHex(m.id)),
          ...record.departed.map((d) => bytesToHex(d.id)),
        ]);
        const strays = [...cursors.entries()].filter(([k]) => !readers.has(k)).map(([, c]) => c.user);
        if (finished.length === 0 && strays.length === 0) return { result: record };
        const op = kv.atomic().check(group);
        const usage = this.#c.newUsage();
        const next = { ...record, departed: record.departed.filter((d) => !finished.includes(d)) };
        op.set(["group", id], next);
        for (const user of [...finished.map((d) => d.id), ...strays].slice(0, 200)) {
          // A user removed and re-added keeps its index: the member record decides.
          if (memberOf(next, user) !== undefined) continue;
          op.delete(["ugroup", user, id]).delete(["gcursor", id, user]);
          usage.total -= 2 * GROUP_RECORD_COST;
        }
        return { result: next, op, usage };
      }));
    if (cleaned === null) return 0;
    const meta = (await kv.get<LogMeta>(["glog", id])).value;
    if (meta === null) return 0;
    let low = meta.next - 1;
    const windows: [number, number][] = [];
    for (const m of cleaned.members) {
      const c = cursorOf(m.id);
      if (c === undefined) continue; // a member whose identity expired holds nothing back
      if (m.end === null) low = Math.min(low, c);
      else if (c < m.end) windows.push([c, m.end]);
    }
    for (const d of cleaned.departed) {
      const c = cursorOf(d.id);
      if (c !== undefined && c < d.end) windows.push([c, d.end]);
    }
    // The ranges of seqs ≤ low outside every window, deleted in turn.
    windows.sort((a, b) => a[0] - b[0]);
    const ranges: [number, number][] = [];
    let from = 0;
    for (const [c, e] of windows) {
      if (c >= low) break;
      if (c >= from) ranges.push([from, c]);
      from = Math.max(from, e + 1);
    }
    if (from <= low) ranges.push([from, low]);
    let deleted = 0;
    for (const [a, b] of ranges) {
      for (;;) {
        const n = await this.#serial.run(bytesToHex(id), () => {
          this.#cache.delete(bytesToHex(id));
          return this.#deleteRange(id, a, b);
        });
        deleted += n;
        if (n < DELETE_BATCH) break;
      }
    }
    return deleted;
  }

  /** Deletes up to DELETE_BATCH entries of group `id` with `from` ≤ seq ≤ `to` (oldest first). */
  async #deleteRange(id: Uint8Array, from: number, to: number): Promise<number> {
    const { kv } = this.#c;
    return await this.#c.atomically(async () => {
      const meta = await kv.get<LogMeta>(["glog", id]);
      if (meta.value === null) return { result: 0 };
      const due: Deno.KvEntry<EntryRecord>[] = [];
      const iter = kv.list<EntryRecord>({ start: ["gentry", id, from], end: ["gentry", id, to + 1] }, {
        limit: DELETE_BATCH,
      });
      for await (const e of iter) due.push(e);
      if (due.length === 0) return { result: 0 };
      const op = kv.atomic().check(meta);
      const m = { ...meta.value };
      const usage = this.#c.newUsage();
      for (const e of due) {
        op.check(e);
        deleteEntry(op, id, e.key[2] as number, e.value, m, usage);
      }
      op.set(["glog", id], m);
      return { result: due.length, op, usage };
    });
  }

  /** Groups with entries in their logs (the sweep collects them all after a restart). */
  async groupsWithEntries(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for await (const e of this.#c.kv.list<LogMeta>({ prefix: ["glog"] })) {
      if (e.value.count > 0) out.push(e.key[1] as Uint8Array);
    }
    return out;
  }

  // ---- expiry -----------------------------------------------------------------------------------------

  /**
   * Handles one lapsed index key of the sweep (["expires", at, kind, …]) of the kinds this module owns;
   * false if the key is not one of them. An entry lapses from its log, an acceptance is dropped, a blob
   * deleted.
   */
  async expire(key: Deno.KvKey): Promise<boolean> {
    const [, at, what, g, sub] = key as [string, number, string, Uint8Array, number | Uint8Array];
    const { kv } = this.#c;
    if (what === "gentry") {
      const seq = sub as number;
      await this.#serial.run(bytesToHex(g), () =>
        this.#c.atomically(async () => {
          this.#cache.delete(bytesToHex(g));
          const [meta, entry] = await kv.getMany<[LogMeta, EntryRecord]>([["glog", g], ["gentry", g, seq]]);
          const op = kv.atomic().check(meta, entry).delete(key);
          if (meta.value === null || entry.value === null || entry.value.expiresAt !== at) {
            return { result: 0, op };
          }
          const m = { ...meta.value };
          const usage = this.#c.newUsage();
          deleteEntry(op, g, seq, entry.value, m, usage);
          op.set(["glog", g], m);
          return { result: 1, op, usage };
        }));
      return true;
    }
    if (what === "gjoin") {
      const invitee = sub as Uint8Array;
      await this.#c.atomically(async () => {
        const grant = await kv.get<Grant>(["gjoin", g, invitee]);
        const op = kv.atomic().check(grant).delete(key);
        if (grant.value === null || grant.value.expiresAt !== at) return { result: 0, op };
        const usage = this.#c.newUsage();
        usage.total -= GROUP_RECORD_COST;
        return { result: 1, op: op.delete(grant.key), usage };
      });
      return true;
    }
    if (what === "blob") {
      const blob = await kv.get<BlobRecord>(["blob", g, sub as Uint8Array]);
      if (blob.value === null || blob.value.expiresAt !== at) await kv.delete(key);
      else await this.#deleteBlob(g, sub as Uint8Array);
      return true;
    }
    return false;
  }

  /** Forgets where an expiring identity was in every group it read (its index entries and cursors). */
  async forgetUser(user: Uint8Array): Promise<void> {
    const ids: Uint8Array[] = [];
    for await (const e of this.#c.kv.list({ prefix: ["ugroup", user] })) ids.push(e.key[2] as Uint8Array);
    for (const id of ids) {
      await this.#c.atomically(async () => {
        const index = await this.#c.kv.get(["ugroup", user, id]);
        if (index.value === null) return { result: undefined };
        const usage = this.#c.newUsage();
        usage.total -= 2 * GROUP_RECORD_COST;
        const op = this.#c.kv.atomic().check(index).delete(index.key).delete(["gcursor", id, user]);
        return { result: undefined, op, usage };
      });
    }
  }

  // ---- blobs ------------------------------------------------------------------------------------------

  /**
   * Stores chunk `index` of blob `blobId` (of `size` bytes) from member `user`. Chunks come in order; the
   * first creates the blob, a repeat of a stored chunk is accepted again, the last completes it: then every
   * other member at that moment is to fetch it, and it is kept until they all said they are done or it
   * lapses.
   */
  async blobPut(
    id: Uint8Array,
    user: Uint8Array,
    blobId: Uint8Array,
    size: number,
    index: number,
    data: Uint8Array,
    now: number,
    limits: BlobLimits,
  ): Promise<BlobPutOutcome> {
    const { kv } = this.#c;
    const total = Math.ceil(size / BLOB_CHUNK_BYTES);
    if (size < 1 || size > limits.maxBlobBytes || index >= total) return "bad-request";
    const want = index < total - 1 ? BLOB_CHUNK_BYTES : size - (total - 1) * BLOB_CHUNK_BYTES;
    if (data.length !== want) return "bad-request";
    return await this.#c.atomically<BlobPutOutcome>(async () => {
      const [group, blob] = await kv.getMany<[GroupRecord, BlobRecord]>([["group", id], [
        "blob",
        id,
        blobId,
      ]]);
      const m = group.value === null ? undefined : memberOf(group.value, user);
      if (m === undefined || m.end !== null) return { result: "not-member" };
      const b = blob.value;
      if (b !== null && (!equalBytes(b.uploader, user) || b.size !== size)) return { result: "duplicate" };
      if (b === null && index !== 0) return { result: "bad-request" };
      const have = b?.chunks ?? 0;
      if (index < have) return { result: b!.complete ? "complete" : "stored" };
      if (index > have) return { result: "bad-request" };
      const cost = data.length + (b === null ? GROUP_ENTRY_COST : 0);
      if (this.#c.storeUsage() + cost > limits.maxStoreBytes) return { result: "over-quota" };
      if (b === null && await this.#c.senderUsage(user) + size > limits.maxSenderBytes) {
        return { result: "over-quota" };
      }
      const op = kv.atomic().check(group, blob);
      const usage = this.#c.newUsage();
      usage.sender(user, cost);
      for (let p = 0; p * BODY_PART < data.length; p++) {
        op.set(["bpart", id, blobId, index, p], data.slice(p * BODY_PART, (p + 1) * BODY_PART));
      }
      const complete = index === total - 1;
      const expiresAt = now + (complete ? limits.ttl : limits.uploadTtl);
      if (b !== null) op.delete(["expires", b.expiresAt, "blob", id, blobId]);
      const pending = complete
        ? group.value!.members.filter((x) => x.end === null && !equalBytes(x.id, user)).map((x) => x.id)
        : [];
      const record: BlobRecord = { uploader: user, size, chunks: index + 1, complete, pending, expiresAt };
      op.set(["blob", id, blobId], record).set(["expires", expiresAt, "blob", id, blobId], true);
      return { result: complete ? "complete" : "stored", op, usage };
    });
  }

  /** Chunk `index` of a complete blob of group `id`, for a member; null if there is none (or not for `user`). */
  async blobGet(
    id: Uint8Array,
    user: Uint8Array,
    blobId: Uint8Array,
    index: number,
  ): Promise<{ size: number; data: Uint8Array } | "not-member" | null> {
    const { kv } = this.#c;
    const [group, blob] = await kv.getMany<[GroupRecord, BlobRecord]>([["group", id], ["blob", id, blobId]]);
    if (group.value === null || memberOf(group.value, user) === undefined) return "not-member";
    const b = blob.value;
    if (b === null || !b.complete || index >= b.chunks) return null;
    const length = Math.min(BLOB_CHUNK_BYTES, b.size - index * BLOB_CHUNK_BYTES);
    const keys = Array.from(
      { length: Math.ceil(length / BODY_PART) },
      (_, p) => ["bpart", id, blobId, index, p],
    );
    const parts = await getMany<Uint8Array>(kv, keys);
    if (parts.some((p) => p.value === null)) return null;
    return { size: b.size, data: concatBytes(...parts.map((p) => p.value!)) };
  }

  /**
   * `user` is done with blob `blobId` (has it, or does not want it). When no current member is left to
   * fetch it, it is deleted. False if there is no such blob.
   */
  async blobDone(id: Uint8Array, user: Uint8Array, blobId: Uint8Array): Promise<boolean | "not-member"> {
    const { kv } = this.#c;
    const last = await this.#c.atomically<boolean | "not-member" | "last">(async () => {
      const [group, blob] = await kv.getMany<[GroupRecord, BlobRecord]>([["group", id], [
        "blob",
        id,
        blobId,
      ]]);
      const record = group.value;
      if (record === null || memberOf(record, user) === undefined) return { result: "not-member" };
      const b = blob.value;
      if (b === null || !b.complete) return { result: false };
      const pending = b.pending.filter((p) => !equalBytes(p, user) && memberOf(record, p) !== undefined);
      if (pending.length === 0) return { result: "last" };
      return { result: true, op: kv.atomic().check(group, blob).set(blob.key, { ...b, pending }) };
    });
    if (last !== "last") return last;
    await this.#deleteBlob(id, blobId);
    return true;
  }

  /** Deletes a blob: its chunks in batches, then its record (a crash between leaves it to lapse). */
  async #deleteBlob(id: Uint8Array, blobId: Uint8Array): Promise<void> {
    const { kv } = this.#c;
    const blob = await kv.get<BlobRecord>(["blob", id, blobId]);
    if (blob.value === null) return;
    const b = blob.value;
    for (;;) {
      const keys: Deno.KvKey[] = [];
      for await (const e of kv.list({ prefix: ["bpart", id, blobId] }, { limit: PART_BATCH })) {
        keys.push(e.key);
      }
      if (keys.length === 0) break;
      const op = kv.atomic();
      for (const k of keys) op.delete(k);
      await op.commit();
    }
    // Only the stored chunks counted (b.chunks of them); the record once.
    const stored = Math.min(b.size, b.chunks * BLOB_CHUNK_BYTES);
    await this.#c.atomically(async () => {
      const again = await kv.get<BlobRecord>(blob.key);
      if (again.value === null) return { result: undefined };
      const usage = this.#c.newUsage();
      usage.sender(b.uploader, -(stored + GROUP_ENTRY_COST));
      const op = kv.atomic().check(again).delete(blob.key).delete([
        "expires",
        again.value.expiresAt,
        "blob",
        id,
        blobId,
      ]);
      return { result: undefined, op, usage };
    });
  }
}

/** Adds to `op` the deletion of a logged entry and what refers to it; updates `m` and `usage`. */
function deleteEntry(
  op: Deno.AtomicOperation,
  g: Uint8Array,
  seq: number,
  r: EntryRecord,
  m: LogMeta,
  usage: UsageCounter,
): void {
  op.delete(["gentry", g, seq]).delete(["expires", r.expiresAt, "gentry", g, seq]);
  for (let i = 0; i < r.parts; i++) op.delete(["gbody", g, seq, i]);
  if (r.mid !== null) op.delete(["gmid", g, r.mid]);
  const size = r.size + r.welcome;
  m.count -= 1;
  m.bytes -= size;
  usage.sender(r.from, -(size + GROUP_ENTRY_COST));
}

/** kv.getMany in groups of ten (its limit). */
async function getMany<T>(kv: Deno.Kv, keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<T>[]> {
  const out: Deno.KvEntryMaybe<T>[] = [];
  for (let i = 0; i < keys.length; i += 10) out.push(...await kv.getMany<T[]>(keys.slice(i, i + 10)));
  return out;
}

/** The body of an admins entry: u16 count ‖ count × ID (docs/protocol.md, GroupDeliver). */
export function encodeAdmins(admins: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(2 + 20 * admins.length).u16(admins.length);
  for (const a of admins) w.bytes(a);
  return w.finish();
}
