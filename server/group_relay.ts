// The relay as the delivery service of MLS groups: the group frames (protocol/wire.ts) handled for a
// logged-in connection, and the delivery of each group's log to its members' connections. A group's log is
// stored once (server/group_store.ts); each member reads it in order from where it joined, under the same
// per-connection delivery window as its 1:1 queue, and acknowledges with Ack like any entry; a member that
// is offline reads on from its cursor when it returns. Rules: server/groups.ts; frames and limits:
// docs/protocol.md, "Groups: the relay as delivery service".

import { bytesToHex, equalBytes } from "../crypto/bytes.ts";
import { Reader } from "../protocol/codec.ts";
import { checkKeyPackage, inspectHandshake, MlsError } from "../protocol/mls/mod.ts";
import {
  type GroupClientFrame,
  type GroupResultCode,
  MAX_GROUP_LIST,
  type ResultCode,
  type ServerFrame,
} from "../protocol/wire.ts";
import { type AppendOutcome, encodeAdmins, type LogEntry } from "./group_store.ts";
import {
  checkApplication,
  checkCommit,
  checkProposal,
  endOf,
  invitees,
  isAdmin,
  memberOf,
  type Refusal,
  setAdmin,
} from "./groups.ts";
import type { RelayStore } from "./store.ts";
import { RECORD_BYTES_PER_UNIT } from "./guard.ts";

const DAY = 86_400_000;
/** The MLS cipher suites a group may use (RFC 9420: 2, 5 and 7 are the NIST-curve suites sotto implements). */
const SUITES: ReadonlySet<number> = new Set([2, 5, 7]);
/**
 * What writing one entry to one member's connection costs the sender, in units of its connection's budget
 * (docs/protocol.md, "Limits of a connection"), besides its bytes (one unit per 64 KiB, as for a received
 * record): encoding the frame and a TLS record. So a message to a group of 100 costs its sender about 5 more
 * units, and a 255 KiB one about 400: a member cannot make the relay encrypt without bound.
 */
const DELIVERY_COST = 0.05;
/** KeyPackage lifetimes (not_after − not_before) the relay accepts: sotto's clients use 90 days and an hour. */
const MAX_KEY_PACKAGE_LIFETIME = 100n * 86_400n;

/** The group limits of the relay (docs/protocol.md, "Groups: limits"). */
export interface GroupRelayLimits {
  /** Members of one group at most (also counting accepted invitations not yet committed). */
  maxGroupMembers: number;
  /** Groups one user reads at most (member of, or removed and not yet caught up). */
  maxGroupsPerUser: number;
  /** Entries and bytes one group's log keeps; beyond, its oldest entries are dropped. */
  maxGroupLogEntries: number;
  maxGroupLogBytes: number;
  /** Milliseconds an accepted invitation waits for the inviter's commit. */
  inviteTtlMs: number;
  /** Largest blob (a file sent to a group once and fetched by each member). */
  maxBlobBytes: number;
  /** Milliseconds an unfinished blob upload is kept. */
  blobUploadTtlMs: number;
  /** Milliseconds between collections of the acknowledged part of busy groups' logs. */
  groupCollectMs: number;
}

/** The defaults. */
export const DEFAULT_GROUP_LIMITS: Readonly<GroupRelayLimits> = {
  maxGroupMembers: 100,
  maxGroupsPerUser: 100,
  maxGroupLogEntries: 10_000,
  maxGroupLogBytes: 256 * 1024 * 1024,
  inviteTtlMs: 7 * DAY,
  maxBlobBytes: 256 * 1024 * 1024,
  blobUploadTtlMs: DAY,
  groupCollectMs: 10_000,
};

/** The most members a group may have: MLS's own limit here (protocol/mls) and what GroupState can list. */
export const MAX_GROUP_MEMBERS_LIMIT = Math.min(1024, MAX_GROUP_LIST);

/** Where a member is in one group's log, on one connection. */
export interface SessionGroup {
  readonly id: Uint8Array;
  readonly key: string;
  /** The last seq acknowledged (as far as this connection knows; written to the store as it moves). */
  acked: number;
  /** The last seq sent (or passed over) on this connection. */
  sent: number;
  /** The last seq this member receives (it left, or was removed), or null. */
  end: number | null;
  /** Entries sent and not yet acknowledged, in seq order. */
  readonly outstanding: { seq: number; done: boolean }[];
  /** The store may hold entries beyond `sent` that were not sent. */
  backlog: boolean;
  pumping: boolean;
  again: boolean;
}

/** A group entry in a connection's delivery window (server/relay.ts's Inflight). */
export interface GroupInflight {
  key: string;
  seq: number;
}

/** What this module needs of a connection (server/relay.ts's Session). */
export interface GroupSession {
  readonly id: Uint8Array | null;
  readonly key: string;
  readonly link: { readonly closed: boolean; send(frame: ServerFrame): boolean };
  readonly inflight: Map<string, { ref: unknown; held: unknown; size: number; group?: GroupInflight | null }>;
  inflightBytes: number;
  readonly groups: Map<string, SessionGroup>;
  /** The connection's work budget (server/guard.ts): the fan-out of what it sends is charged to it. */
  readonly budget: { charge(units: number): void };
}

/** What this module needs of the relay. */
export interface GroupRelayOptions {
  store: RelayStore;
  limits: GroupRelayLimits & {
    deliveryWindow: number;
    deliveryWindowBytes: number;
    messageTtlMs: number;
    storeQuotaBytes: number;
    senderQuotaBytes: number;
    maxMessageBytes?: number;
  };
  now: () => number;
  /** The logged-in connection of a user (by hex ID), if any. */
  online: (key: string) => GroupSession | undefined;
  /** Wakes the 1:1 queue delivery of a user (an InviteAccepted was queued for it). */
  wakeQueue: (key: string) => void;
  /** Runs background work the relay waits for at shutdown. */
  track: (task: Promise<void>) => void;
  /** Ends a connection after an internal failure. */
  fail: (s: GroupSession, error: unknown) => void;
  log: (message: string) => void;
}

/** The group side of the relay. */
export class GroupRelay {
  readonly #o: GroupRelayOptions;
  /** Online connections reading each group (by hex group ID). */
  readonly #readers = new Map<string, Set<GroupSession>>();
  /** Groups with acknowledgements since their last collection. */
  readonly #dirty = new Map<string, Uint8Array>();
  readonly #timer: ReturnType<typeof setInterval>;
  #collecting = false;

  constructor(options: GroupRelayOptions) {
    this.#o = options;
    this.#timer = setInterval(() => this.#collectDirty(), options.limits.groupCollectMs);
  }

  get #groups() {
    return this.#o.store.groups;
  }

  // ---- connections ------------------------------------------------------------------------------------

  /** A user logged in on `s`: its groups are loaded and their logs delivered from its cursors. */
  async login(s: GroupSession): Promise<void> {
    const list = await this.#groups.userGroups(s.id!);
    if (s.link.closed) return;
    for (const g of list) {
      const key = bytesToHex(g.record.id);
      if (s.groups.has(key)) continue; // joined meanwhile (a commit added it while this was loading)
      this.#attach(s, g.record.id, g.cursor, g.end);
    }
    for (const g of s.groups.values()) this.#pump(s, g);
  }

  /** A connection ended: it reads no group any more. */
  ended(s: GroupSession): void {
    for (const key of s.groups.keys()) this.#readers.get(key)?.delete(s);
    for (const key of s.groups.keys()) if (this.#readers.get(key)?.size === 0) this.#readers.delete(key);
  }

  /** The window of `s` has room again: groups with entries waiting are delivered on. */
  resume(s: GroupSession): void {
    for (const g of s.groups.values()) if (g.backlog) this.#pump(s, g);
  }

  /** `s` acknowledged these group entries (taken out of its window by the relay). */
  acked(s: GroupSession, entries: GroupInflight[]): void {
    const touched = new Set<SessionGroup>();
    for (const e of entries) {
      const g = s.groups.get(e.key);
      const o = g?.outstanding.find((x) => x.seq === e.seq);
      if (g === undefined || o === undefined) continue;
      o.done = true;
      touched.add(g);
    }
    for (const g of touched) this.#advance(s, g);
  }

  /** Moves `g`'s cursor past every entry acknowledged in order; forgets a group read to its end. */
  #advance(s: GroupSession, g: SessionGroup): void {
    while (g.outstanding.length > 0 && g.outstanding[0].done) g.outstanding.shift();
    const acked = g.outstanding.length > 0 ? g.outstanding[0].seq - 1 : g.sent;
    if (acked > g.acked) {
      g.acked = acked;
      this.#dirty.set(g.key, g.id);
      const user = s.id!;
      this.#o.track(
        this.#groups.advanceCursor(user, g.id, acked).catch((e) =>
          this.#o.log(`writing a group cursor failed: ${(e as Error).message}`)
        ),
      );
    }
    if (g.end !== null && g.acked >= g.end) this.#detach(s, g);
  }

  #attach(s: GroupSession, id: Uint8Array, cursor: number, end: number | null): SessionGroup {
    const key = bytesToHex(id);
    const g: SessionGroup = {
      id,
      key,
      acked: cursor,
      sent: cursor,
      end,
      outstanding: [],
      backlog: true,
      pumping: false,
      again: false,
    };
    s.groups.set(key, g);
    let readers = this.#readers.get(key);
    if (readers === undefined) this.#readers.set(key, readers = new Set());
    readers.add(s);
    return g;
  }

  #detach(s: GroupSession, g: SessionGroup): void {
    if (s.groups.get(g.key) !== g) return;
    s.groups.delete(g.key);
    const readers = this.#readers.get(g.key);
    readers?.delete(s);
    if (readers?.size === 0) this.#readers.delete(g.key);
  }

  // ---- frames -----------------------------------------------------------------------------------------

  /** Serves one group frame of the logged-in user of `s`. */
  async handle(s: GroupSession, f: GroupClientFrame): Promise<void> {
    const user = s.id!;
    switch (f.type) {
      case "create-group":
        return await this.#create(s, user, f);
      case "accept-invite":
        return await this.#acceptInvite(s, user, f);
      case "group-propose":
      case "group-commit":
        return await this.#handshake(s, user, f);
      case "group-send":
        return await this.#send(s, user, f);
      case "set-admin":
        return await this.#setAdmin(s, user, f);
      case "group-info":
        return await this.#info(s, user, f);
      case "blob-upload":
        return await this.#blobUpload(s, user, f);
      case "blob-fetch":
        return await this.#blobFetch(s, user, f);
      case "blob-done": {
        const r = await this.#groups.blobDone(f.groupId, user, f.blobId);
        if (r === "not-member") return this.#result(s, f.requestId, "not-member", NOT_MEMBER);
        return this.#result(s, f.requestId, r ? "ok" : "bad-request", r ? "done" : "there is no such blob");
      }
    }
  }

  #result(s: GroupSession, requestId: number, code: ResultCode, detail: string): void {
    s.link.send({ type: "result", requestId, code, detail });
  }

  async #create(s: GroupSession, user: Uint8Array, f: Extract<GroupClientFrame, { type: "create-group" }>) {
    if (!SUITES.has(f.suite)) {
      return this.#result(
        s,
        f.requestId,
        "bad-request",
        `cipher suite ${f.suite} is not supported (2, 5 or 7)`,
      );
    }
    const L = this.#o.limits;
    const out = await this.#groups.create(user, f.groupId, f.suite, this.#o.now(), L.maxGroupsPerUser);
    if (out === "exists") return this.#result(s, f.requestId, "bad-request", "that group ID is taken");
    if (out === "limit") {
      return this.#result(s, f.requestId, "limit", `you are in ${L.maxGroupsPerUser} groups already`);
    }
    if (!s.groups.has(bytesToHex(f.groupId))) this.#attach(s, f.groupId, 0, null).backlog = false;
    this.#result(s, f.requestId, "ok", "group created");
  }

  async #acceptInvite(
    s: GroupSession,
    user: Uint8Array,
    f: Extract<GroupClientFrame, { type: "accept-invite" }>,
  ) {
    if (equalBytes(f.inviter, user)) {
      return this.#result(s, f.requestId, "bad-request", "that is your own ID");
    }
    let kp;
    try {
      kp = checkKeyPackage(f.keyPackage, {
        now: BigInt(Math.floor(this.#o.now() / 1000)),
        maxLifetime: MAX_KEY_PACKAGE_LIFETIME,
      });
    } catch (e) {
      if (!(e instanceof MlsError)) throw e;
      return this.#result(s, f.requestId, "bad-request", `the KeyPackage is not valid: ${e.message}`);
    }
    if (!equalBytes(kp.memberId, user)) {
      return this.#result(s, f.requestId, "bad-request", "the KeyPackage's credential is not your identity");
    }
    const L = this.#o.limits;
    const out = await this.#groups.acceptInvite(
      user,
      f.groupId,
      f.inviter,
      { bytes: f.keyPackage, ref: kp.keyPackageRef, suite: kp.cipherSuite },
      this.#o.now(),
      { ttl: L.inviteTtlMs, maxMembers: L.maxGroupMembers, maxGroups: L.maxGroupsPerUser },
    );
    switch (out) {
      case "ok":
        this.#o.wakeQueue(bytesToHex(f.inviter));
        return this.#result(s, f.requestId, "ok", "accepted: the inviter can now add you");
      case "not-allowed":
        // One answer whether the group exists or the inviter is in it: no oracle for group IDs.
        return this.#result(
          s,
          f.requestId,
          "not-allowed",
          "you can accept only the invitation of a group member with whom you have an open chat",
        );
      case "member":
        return this.#result(s, f.requestId, "bad-request", "you are a member of this group already");
      case "pending":
        return this.#result(
          s,
          f.requestId,
          "bad-request",
          "you accepted already: the inviter has your KeyPackage until it adds you or 7 days pass",
        );
      case "wrong-suite":
        return this.#result(
          s,
          f.requestId,
          "bad-request",
          "the KeyPackage is not of the group's cipher suite",
        );
      case "full":
        return this.#result(
          s,
          f.requestId,
          "limit",
          `the group has ${L.maxGroupMembers} members (or invitees)`,
        );
      case "limit":
        return this.#result(s, f.requestId, "limit", `you are in ${L.maxGroupsPerUser} groups already`);
    }
  }

  /** A proposal or commit: read (it must be a PublicMessage), decided on and logged in one transaction. */
  async #handshake(
    s: GroupSession,
    user: Uint8Array,
    f: Extract<GroupClientFrame, { type: "group-propose" | "group-commit" }>,
  ) {
    const record = await this.#groups.get(f.groupId);
    if (record === null || memberOf(record, user) === undefined) {
      return this.#result(s, f.requestId, "not-member", NOT_MEMBER);
    }
    const bytes = f.type === "group-commit" ? f.commit : f.message;
    let summary;
    try {
      summary = inspectHandshake(bytes, record.suite);
    } catch (e) {
      if (!(e instanceof MlsError)) throw e;
      return this.#result(
        s,
        f.requestId,
        "bad-mls",
        `the message cannot be read as the relay needs: ${e.message}`,
      );
    }
    const want = f.type === "group-commit" ? "commit" : "proposal";
    if (summary.contentType !== want) {
      return this.#result(s, f.requestId, "bad-mls", `the message is not a ${want}`);
    }
    const L = this.#o.limits;
    const welcome = f.type === "group-commit" ? f.welcome : null;
    const out = await this.#append(
      user,
      f.groupId,
      f.messageId,
      bytes,
      welcome,
      invitees(summary),
      (rec, grants, seq) => {
        if (f.type === "group-propose") {
          const r = checkProposal(rec, user, summary, grants, seq);
          return "refuse" in r ? r : { record: r };
        }
        return checkCommit(rec, user, summary, welcome, grants, seq, L.maxGroupMembers);
      },
    );
    this.#answer(s, f.requestId, f.messageId, out);
    if (out.kind === "accepted") this.#applied(s, out);
  }

  async #send(s: GroupSession, user: Uint8Array, f: Extract<GroupClientFrame, { type: "group-send" }>) {
    const out = await this.#append(user, f.groupId, f.messageId, f.message, null, [], (rec) => {
      return checkApplication(rec, user, f.message) ?? { record: null };
    });
    this.#answer(s, f.requestId, f.messageId, out);
    if (out.kind === "accepted") this.#applied(s, out);
  }

  async #setAdmin(s: GroupSession, user: Uint8Array, f: Extract<GroupClientFrame, { type: "set-admin" }>) {
    const out = await this.#groups.append({
      group: f.groupId,
      from: user,
      messageId: null,
      kind: "admins",
      body: new Uint8Array(2),
      welcome: null,
      now: this.#o.now(),
      invitees: [],
      limits: this.#logLimits(),
      decide: (rec) => {
        const next = setAdmin(rec, user, f.member, f.admin);
        return "refuse" in next ? next : { record: next, body: encodeAdmins(next.admins) };
      },
    });
    if (out.kind !== "accepted") return this.#answer(s, f.requestId, null, out);
    this.#result(s, f.requestId, "ok", f.admin ? "admin named" : "admin removed");
    this.#applied(s, out);
  }

  async #info(s: GroupSession, user: Uint8Array, f: Extract<GroupClientFrame, { type: "group-info" }>) {
    const record = await this.#groups.get(f.groupId);
    if (record === null || memberOf(record, user) === undefined) {
      return this.#result(s, f.requestId, "not-member", NOT_MEMBER);
    }
    s.link.send({
      type: "group-state",
      requestId: f.requestId,
      groupId: f.groupId,
      suite: record.suite,
      creator: record.creator,
      epoch: record.epoch,
      seq: await this.#groups.lastSeq(f.groupId),
      members: record.members.map((m) => ({
        id: m.id,
        leaf: m.leaf,
        admin: isAdmin(record, m.id),
        leaving: m.end !== null,
      })),
    });
  }

  async #blobUpload(
    s: GroupSession,
    user: Uint8Array,
    f: Extract<GroupClientFrame, { type: "blob-upload" }>,
  ) {
    const L = this.#o.limits;
    const out = await this.#groups.blobPut(
      f.groupId,
      user,
      f.blobId,
      f.size,
      f.index,
      f.data,
      this.#o.now(),
      {
        maxBlobBytes: L.maxBlobBytes,
        uploadTtl: L.blobUploadTtlMs,
        ttl: L.messageTtlMs,
        maxStoreBytes: L.storeQuotaBytes,
        maxSenderBytes: L.senderQuotaBytes,
      },
    );
    switch (out) {
      case "stored":
        return this.#result(s, f.requestId, "ok", `chunk ${f.index} stored`);
      case "complete":
        return this.#result(s, f.requestId, "ok", "blob complete");
      case "not-member":
        return this.#result(s, f.requestId, "not-member", NOT_MEMBER);
      case "duplicate":
        return this.#result(s, f.requestId, "duplicate", "another blob has that id");
      case "over-quota":
        return this.#result(s, f.requestId, "over-quota", "the relay cannot store this now");
      case "bad-request":
        return this.#result(
          s,
          f.requestId,
          "bad-request",
          `chunks come in order, each of 128 KiB but the last, for a blob of at most ${L.maxBlobBytes} bytes`,
        );
    }
  }

  async #blobFetch(s: GroupSession, user: Uint8Array, f: Extract<GroupClientFrame, { type: "blob-fetch" }>) {
    const out = await this.#groups.blobGet(f.groupId, user, f.blobId, f.index);
    if (out === "not-member") return this.#result(s, f.requestId, "not-member", NOT_MEMBER);
    if (out === null) {
      return this.#result(s, f.requestId, "bad-request", "there is no such complete blob or chunk");
    }
    s.link.send({
      type: "blob-data",
      requestId: f.requestId,
      blobId: f.blobId,
      size: out.size,
      index: f.index,
      data: out.data,
    });
  }

  #logLimits() {
    const L = this.#o.limits;
    return {
      maxLogEntries: L.maxGroupLogEntries,
      maxLogBytes: L.maxGroupLogBytes,
      ttl: L.messageTtlMs,
      maxStoreBytes: L.storeQuotaBytes,
      maxSenderBytes: L.senderQuotaBytes,
    };
  }

  #append(
    user: Uint8Array,
    group: Uint8Array,
    messageId: Uint8Array,
    body: Uint8Array,
    welcome: Uint8Array | null,
    invited: Uint8Array[],
    decide: Parameters<RelayStore["groups"]["append"]>[0]["decide"],
  ): Promise<AppendOutcome> {
    return this.#groups.append({
      group,
      from: user,
      messageId,
      kind: "message",
      body,
      welcome,
      now: this.#o.now(),
      invitees: invited,
      limits: this.#logLimits(),
      decide,
    });
  }

  /** Answers a logged (or refused) entry: GroupAccepted, or a Result saying why not. */
  #answer(s: GroupSession, requestId: number, messageId: Uint8Array | null, out: AppendOutcome): void {
    switch (out.kind) {
      case "accepted":
      case "already":
        if (messageId !== null) {
          s.link.send({ type: "group-accepted", requestId, messageId, seq: out.seq, epoch: out.epoch });
        }
        return;
      case "refused":
        return this.#result(s, requestId, out.refusal.refuse, out.refusal.detail);
      case "no-group":
        return this.#result(s, requestId, "not-member", NOT_MEMBER);
      case "duplicate":
        return this.#result(s, requestId, "duplicate", "another member sent a message with this id");
      case "over-quota":
        return this.#result(s, requestId, "over-quota", "the relay cannot store this now; try again later");
    }
  }

  // ---- fan-out ----------------------------------------------------------------------------------------

  /**
   * A logged entry takes effect: membership changes reach the online readers, then the entry fans out; its
   * sender `s` pays for the fan-out.
   */
  #applied(s: GroupSession, out: Extract<AppendOutcome, { kind: "accepted" }>): void {
    const { record, entry } = out;
    const bytes = entry.body.length + (entry.welcome?.length ?? 0);
    const readers = record.members.length + record.departed.length;
    s.budget.charge(readers * (DELIVERY_COST + bytes / RECORD_BYTES_PER_UNIT));
    const key = bytesToHex(record.id);
    for (const a of out.added) {
      const r = this.#o.online(bytesToHex(a.id));
      if (r === undefined || r.link.closed) continue;
      const old = r.groups.get(key);
      if (old !== undefined) this.#detach(r, old); // removed earlier and re-added: it starts again here
      this.#attach(r, record.id, entry.seq - 1, null).backlog = false;
    }
    for (const reader of this.#readers.get(key) ?? []) {
      const g = reader.groups.get(key);
      if (g === undefined || reader.id === null) continue;
      const end = endOf(record, reader.id);
      // A member that left, or was removed, reads up to its end; one no longer listed reads nothing new.
      g.end = end === undefined ? Math.min(g.sent, entry.seq - 1) : end;
      this.#deliverNow(reader, g, entry);
    }
  }

  /** Sends `entry` at once if `g` is caught up and the window has room; otherwise leaves it to the pump. */
  #deliverNow(s: GroupSession, g: SessionGroup, entry: LogEntry): void {
    if (s.link.closed || (g.end !== null && entry.seq > g.end)) return this.#endCheck(s, g);
    if (g.pumping || g.backlog || g.sent !== entry.seq - 1 || !this.#room(s)) {
      g.backlog = true;
      return this.#pump(s, g);
    }
    this.#sendEntry(s, g, entry);
  }

  /** Forgets `g` on `s` if everything up to its end was acknowledged. */
  #endCheck(s: GroupSession, g: SessionGroup): void {
    if (g.end !== null && g.sent >= g.end && g.outstanding.length === 0) this.#advance(s, g);
  }

  #room(s: GroupSession): boolean {
    const L = this.#o.limits;
    return s.inflight.size < L.deliveryWindow && s.inflightBytes < L.deliveryWindowBytes;
  }

  #sendEntry(s: GroupSession, g: SessionGroup, e: LogEntry): void {
    const user = s.id!;
    const base = {
      type: "group-deliver",
      entryId: e.id,
      groupId: g.id,
      seq: e.seq,
      from: e.from,
      queuedAt: e.at,
    } as const;
    let frame: ServerFrame;
    if (e.kind === "admins") frame = { ...base, kind: "admins", admins: decodeAdmins(e.body) };
    else if (e.welcome !== null && e.added.some((a) => equalBytes(a, user))) {
      frame = { ...base, kind: "welcome", body: e.welcome };
    } else frame = { ...base, kind: "message", body: e.body };
    const size = frame.kind === "welcome" ? e.welcome!.length : e.body.length;
    g.sent = e.seq;
    g.outstanding.push({ seq: e.seq, done: false });
    s.inflight.set(bytesToHex(e.id), { ref: null, held: null, size, group: { key: g.key, seq: e.seq } });
    s.inflightBytes += size;
    s.link.send(frame);
  }

  /** Delivers `g`'s log to `s` from `g.sent` while the window has room (one pump per group and connection). */
  #pump(s: GroupSession, g: SessionGroup): void {
    if (g.pumping) {
      g.again = true;
      return;
    }
    g.pumping = true;
    const task = (async () => {
      const L = this.#o.limits;
      do {
        g.again = false;
        g.backlog = true;
        while (!s.link.closed && this.#room(s) && (g.end === null || g.sent < g.end)) {
          const want = Math.max(1, L.deliveryWindow - s.inflight.size);
          const { entries, last, listed } = await this.#groups.readLog(g.id, g.sent, want, this.#o.now());
          if (s.link.closed || s.groups.get(g.key) !== g) return;
          for (const e of entries) {
            if (g.end !== null && e.seq > g.end) break;
            if (e.seq <= g.sent) continue;
            this.#sendEntry(s, g, e);
          }
          // Entries that lapsed or were dropped are passed over.
          g.sent = Math.max(g.sent, g.end === null ? last : Math.min(last, g.end));
          if (listed < want) {
            g.backlog = g.again;
            break;
          }
        }
        if (g.end !== null && g.sent >= g.end) g.backlog = false;
      } while (g.again && !s.link.closed);
      this.#endCheck(s, g);
    })().catch((e) => this.#o.fail(s, e)).finally(() => {
      g.pumping = false;
      if (g.again && !s.link.closed) this.#pump(s, g);
    });
    this.#o.track(task);
  }

  // ---- collection -------------------------------------------------------------------------------------

  #collectDirty(): void {
    if (this.#collecting || this.#dirty.size === 0) return;
    const groups = [...this.#dirty.values()];
    this.#dirty.clear();
    this.#collecting = true;
    const task = (async () => {
      for (const id of groups) await this.#groups.collect(id);
    })().catch((e) => this.#o.log(`collecting group logs failed: ${(e as Error).message}`))
      .finally(() => (this.#collecting = false));
    this.#o.track(task);
  }

  /** Collects every group's acknowledged entries (the sweep; after a restart nothing is known dirty). */
  async collectAll(): Promise<number> {
    let n = 0;
    for (const id of await this.#groups.groupsWithEntries()) n += await this.#groups.collect(id);
    return n;
  }

  /** Stops the collection timer and waits for cursor writes. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#groups.flush().catch(() => {});
  }
}

const NOT_MEMBER = "you are not a member of that group";

/** The IDs of an admins entry's body (group_store.ts's encodeAdmins). */
function decodeAdmins(body: Uint8Array): Uint8Array[] {
  const r = new Reader(body, "admins entry");
  const n = r.u16("count");
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(r.bytes(20, "admin"));
  r.end();
  return out;
}

export type { GroupResultCode, Refusal };
