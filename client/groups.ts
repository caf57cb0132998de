// The client's groups: MLS (protocol/mls) with the relay as its delivery service (docs/protocol.md,
// "Groups in sotto"). What client/chats.ts is for 1:1 chats, this is for groups: the MLS state of each
// group, kept sealed in its own file (client/groupdisk.ts), every group frame from the relay, the group
// commands (client/group_commands.ts) and the invitations that travel in 1:1 chats.
//
// The rules it keeps:
// - Transactional: an entry of a group's log that MLS refuses changes nothing; an entry is acknowledged
//   only once the group's file holding its effect is written, and a message, commit or proposal leaves
//   only once the file holding the state that made it is (the storage rules of docs/protocol.md §7).
// - Consent: we invite only people with whom we have an open chat, over that chat; an invitee joins only
//   through an invitation it accepted (it makes a KeyPackage for that and nothing else), and a Welcome
//   for anything else is refused. Declining or ignoring an invitation tells nobody anything.
// - One commit of ours at a time: adds, removes and other members' pending proposals go into it; if the
//   relay refuses it because another commit won the epoch (or a proposal it must include came first), it
//   is made again on the new epoch once that arrives (the rebase). While proposals are pending or our
//   commit is in flight, what we send waits unencrypted and goes after.
// - Who commits a member's leaving: the remaining member with the lowest leaf at once, anyone else when it
//   has something to send; the relay takes the first commit and refuses the others.

import { bytesToHex, concatBytes, equalBytes, type RandomSource, utf8 } from "../crypto/bytes.ts";
import { sha512 } from "../crypto/sha2.ts";
import { formatId, ID_BYTES, type Identity, parseId } from "../protocol/identity.ts";
import {
  checkKeyPackage,
  type CommitInfo,
  createKeyPackage,
  decodeKeyPackageBundle,
  encodeKeyPackageBundle,
  getSuite,
  type GroupConfig,
  inspectMessage,
  keyPackageMessage,
  MlsError,
  MlsGroup,
  sottoSigner,
  suiteForCurve,
} from "../protocol/mls/mod.ts";
import {
  decodeGroupInvite,
  decodeGroupPayload,
  encodeGroupInvite,
  encodeGroupPayload,
  groupNameProblem,
  type GroupPayload,
} from "../protocol/group_payload.ts";
import {
  type GroupLine,
  type GroupOutgoing,
  type GroupState,
  type InvitationRecord,
  MAX_GROUP_HISTORY,
  MAX_GROUP_OUTBOX,
  MAX_INVITATIONS,
  MAX_INVITED,
} from "../protocol/groupstate.ts";
import type { CurveName } from "../protocol/suite.ts";
import { MAX_FRAME_BYTES, type ResultCode, type ServerFrame } from "../protocol/wire.ts";
import type { Clock } from "./backoff.ts";
import type { GroupRequest, Reply } from "./connection.ts";
import type { ClientEvent } from "./events.ts";
import type { GroupMemberView } from "./group_events.ts";
import type { GroupDisk } from "./groupdisk.ts";

/** Refusals that pass: the entry stays queued and is sent again later. */
const RETRYABLE: readonly ResultCode[] = ["over-quota", "rate-limited", "internal"];
/** Milliseconds before entries refused for a passing reason go again. */
const RETRY_MS = 5_000;
/** KeyPackages we make are valid from an hour ago (clocks differ) to 90 days ahead. */
const KEY_PACKAGE_PAST_S = 3600n, KEY_PACKAGE_FUTURE_S = 90n * 86_400n;
/** Longest KeyPackage lifetime we accept from an invitee (the relay's limit). */
const MAX_KEY_PACKAGE_LIFETIME_S = 100n * 86_400n;
/** An unanswered invitation is forgotten after 30 days; an accepted one 8 days after (the relay's 7). */
const INVITATION_TTL_MS = 30 * 86_400_000, ACCEPTED_TTL_MS = 8 * 86_400_000;
/** A commit and its Welcome at most (one GroupCommit frame of 256 KiB, less its other fields). */
const MAX_COMMIT_BYTES = MAX_FRAME_BYTES - 1024;
/** Our own leaf is refreshed by a commit of ours after this many messages sent, or this long (7 days). */
export const UPDATE_EVERY_MESSAGES = 100, UPDATE_EVERY_MS = 7 * 86_400_000;
/** Most groups a client keeps (the relay's default for a user). */
export const MAX_GROUPS = 100;

/** A group command that cannot be done now, in one sentence. */
export class GroupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GroupError";
  }
}

/** What the groups need of a connection (client/connection.ts RelayLink). */
export interface GroupLink {
  send(frame: { type: "ack"; ids: Uint8Array[] }): void;
  groupRequest(req: GroupRequest): Promise<Reply>;
}

/** What the groups need of the rest of the client (client/chats.ts provides it). */
export interface GroupHooks {
  identity: Identity;
  /** Our curve: new groups use its MLS suite. */
  curve: CurveName;
  clock: Clock;
  random: RandomSource;
  disk: GroupDisk;
  emit(event: ClientEvent): void;
  /** A group file could not be written: the client must stop (going on could lose messages). */
  fatal(error: Error): void;
  /** Runs `fn` in the client's one-at-a-time order (ChatClient.run). */
  run<T>(fn: () => T | Promise<T>): Promise<T>;
  /** True if we have an open chat with `peerId`, not blocked (we may invite them; they may invite us). */
  canTalkTo(peerId: Uint8Array): boolean;
  /** Our local name for an ID (its 1:1 chat's nickname), or "". */
  nickOf(peerId: Uint8Array): string;
  /** The ID a /group argument names among our 1:1 chats (nickname, ID or its start), or null. */
  findPeer(target: string): Uint8Array | null;
  /** Queues encoded group payload bytes (an invitation) in the open chat with `peerId`; false if none. */
  sendToChat(peerId: Uint8Array, bytes: Uint8Array): boolean;
  isBlocked(peerId: Uint8Array): boolean;
}

/** Receiving and sending files in groups (client/groupfiles.ts). */
export interface GroupFileHandler {
  /** A file payload from `from` (offer, chunk, end, or a blob offer). */
  received(g: LiveGroup, from: Uint8Array, p: GroupPayload, time: number): Promise<void>;
  /** The group is gone for us (left, removed): its transfers stop, its partial files go. */
  dropped(g: LiveGroup): Promise<void>;
  /** The link is up (again). */
  attach(link: GroupLink): void;
  /** The relay logged (`ok`) or refused for good one of our application messages (`messageId` in hex). */
  answered(g: LiveGroup, messageId: string, ok: boolean, reason: string): void;
}

/** A group as the client holds it. */
export interface LiveGroup {
  /** The group ID in hex: how events and the UIs name it. */
  readonly key: string;
  s: GroupState;
  mls: MlsGroup | null;
  /** Message ids sent on the current link and not yet answered. */
  readonly inflight: Set<string>;
  /** A commit or leave of ours was refused for an older epoch: made again once the group moves on. */
  rebase: boolean;
  /** Members who proposed to leave in this epoch (not kept across restarts: only for how lines read). */
  leaving: Set<string>;
}

/** A log entry carrying an MLS message (a member's, or the Welcome that adds us). */
type MessageEntry = Extract<ServerFrame, { type: "group-deliver"; kind: "message" | "welcome" }>;

/** The groups of one identity. */
export class GroupManager {
  readonly #h: GroupHooks;
  readonly #groups = new Map<string, LiveGroup>();
  #invitations: InvitationRecord[] = [];
  #link: GroupLink | null = null;
  #focused: string | null = null;
  /** Entries whose file write has not finished: they must not leave yet. */
  readonly #unsaved = new Set<GroupOutgoing>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #ackBatch: { saved: Promise<void>; ids: Uint8Array[] } | null = null;
  #requests = 0;
  files: GroupFileHandler | null = null;
  /** When our leaf is due for a refresh (tests lower it). */
  updateEvery: { messages: number; ms: number } = { messages: UPDATE_EVERY_MESSAGES, ms: UPDATE_EVERY_MS };
  /** Resolves once the group files are read. */
  readonly ready: Promise<void>;

  constructor(hooks: GroupHooks) {
    this.#h = hooks;
    this.ready = this.#load();
  }

  async #load(): Promise<void> {
    const { groups, invitations, problems } = await this.#h.disk.load();
    for (const s of groups) {
      let mls: MlsGroup | null = null;
      if (s.mls !== null && s.status !== "left" && s.status !== "removed") {
        try {
          mls = MlsGroup.deserialize(s.mls, this.#config());
        } catch (e) {
          problems.push(`The state of the group "${s.name}" cannot be read (${(e as Error).message}).`);
          continue;
        }
      }
      const g: LiveGroup = {
        key: bytesToHex(s.groupId),
        s,
        mls,
        inflight: new Set(),
        rebase: false,
        leaving: new Set(),
      };
      this.#groups.set(g.key, g);
    }
    const now = this.#h.clock.now();
    this.#invitations = invitations.filter((v) =>
      now - (v.bundle ? v.acceptedAt : v.receivedAt) < (v.bundle ? ACCEPTED_TTL_MS : INVITATION_TTL_MS)
    );
    for (const message of problems) this.#h.emit({ event: "error", message });
  }

  // ---- views ------------------------------------------------------------------------------------------

  /** The groups, most recently active first among those we are in, then those we left. */
  get list(): LiveGroup[] {
    return [...this.#groups.values()];
  }

  /** Invitations received and not yet answered (or accepted and waiting to be added). */
  get invitations(): readonly InvitationRecord[] {
    return this.#invitations;
  }

  /** The group lines go to, or null (then the active 1:1 chat). */
  get focused(): LiveGroup | null {
    return this.#focused === null ? null : this.#groups.get(this.#focused) ?? null;
  }

  /** The group with this key (hex ID), if any. */
  get(key: string): LiveGroup | undefined {
    return this.#groups.get(key);
  }

  /** Makes a group the one lines go to. */
  focus(g: LiveGroup): void {
    this.#focused = g.key;
    if (g.s.unread > 0) {
      g.s.unread = 0;
      this.#save(g);
    }
    this.#h.emit({ event: "group-switched", group: g.key, name: g.s.name });
  }

  /** Lines go to the active 1:1 chat again. */
  unfocus(): void {
    this.#focused = null;
  }

  /** True while requests or entries of ours wait for the relay. */
  get busy(): boolean {
    if (this.#requests > 0 || this.#unsaved.size > 0) return true;
    for (const g of this.#groups.values()) {
      if (g.s.status === "active" && g.s.outbox.some((e) => e.kind !== "payload")) return true;
    }
    return false;
  }

  /** The sotto ID of each member, by leaf. */
  members(g: LiveGroup): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    for (const m of g.mls?.members() ?? []) {
      // The sotto policy admits basic credentials only (protocol/mls/credential.ts).
      if (m.credential.type === BASIC) out.set(m.leaf, this.#idOf(m.credential.identity));
    }
    return out;
  }

  /**
   * The sotto ID of a member's credential: SHA-512("sotto id v1" ‖ identity)[0..20] (§2), hashed from the
   * bytes, which MLS's credential policy checked to be a canonical identity when the leaf entered the tree
   * (decoding its six points again for every lookup would cost milliseconds per member).
   */
  #idOf(identity: Uint8Array): Uint8Array {
    return sha512(concatBytes(ID_LABEL, identity)).slice(0, ID_BYTES);
  }

  /** True if `id` is the creator or an admin of the group (as the relay last said). */
  isAdmin(g: LiveGroup, id: Uint8Array): boolean {
    return equalBytes(g.s.creator, id) || g.s.admins.some((a) => equalBytes(a, id));
  }

  /** How a member is shown: "you", our nickname for them, "~" and theirs in the group, or their ID's start. */
  nameOf(g: LiveGroup, id: Uint8Array): string {
    if (equalBytes(id, this.#h.identity.id)) return "you";
    const nick = this.#h.nickOf(id);
    if (nick) return nick;
    const theirs = g.s.nicknames.find((n) => equalBytes(n.id, id));
    return theirs ? `~${theirs.name}` : formatId(id).slice(0, 14);
  }

  /** The member list as `/group members` shows it. */
  memberViews(g: LiveGroup): GroupMemberView[] {
    return [...this.members(g).values()].map((id) => {
      const view: GroupMemberView = {
        id: formatId(id),
        admin: this.isAdmin(g, id),
        creator: equalBytes(g.s.creator, id),
        you: equalBytes(id, this.#h.identity.id),
      };
      const nick = this.#h.nickOf(id);
      if (nick) view.nick = nick;
      const theirs = g.s.nicknames.find((n) => equalBytes(n.id, id));
      if (theirs) view.groupNick = theirs.name;
      return view;
    });
  }

  /** The group a command names: its name, or the start of its ID in hex; the focused one if `target` is "". */
  find(target: string, active = true): LiveGroup {
    const t = target.trim().toLowerCase();
    if (t === "") {
      const f = this.focused;
      if (!f) throw new GroupError("No group is active: /switch NAME picks one, /group new NAME makes one.");
      return f;
    }
    const all = this.list.filter((g) => !active || g.s.status === "active" || g.s.status === "creating");
    const byName = all.filter((g) => g.s.name.toLowerCase() === t);
    if (byName.length === 1) return byName[0];
    const byId = /^[0-9a-f]{4,64}$/.test(t) ? all.filter((g) => g.key.startsWith(t)) : [];
    if (byId.length === 1) return byId[0];
    if (byName.length + byId.length > 1) {
      throw new GroupError(`"${target}" names several groups; give the start of its ID (/list shows them).`);
    }
    throw new GroupError(`No group is called "${target}"; /list shows them.`);
  }

  /** The group a line goes to if it names one, or null (no group of that name: not an error here). */
  findOrNull(target: string): LiveGroup | null {
    try {
      return this.find(target, false);
    } catch {
      return null;
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------------

  #config(): GroupConfig {
    return {
      random: this.#h.random,
      // The relay reads proposals and commits (who is added and removed, which commit wins an epoch).
      handshakeWireFormat: "public",
      now: () => BigInt(Math.floor(this.#h.clock.now() / 1000)),
      maxLifetime: MAX_KEY_PACKAGE_LIFETIME_S,
    };
  }

  #now(): number {
    return this.#h.clock.now();
  }

  #me(): Uint8Array {
    return this.#h.identity.id;
  }

  /** Writes the group's file (for client/groupfiles.ts). */
  save(g: LiveGroup): Promise<void> {
    return this.#save(g);
  }

  /** Writes the group's file (the MLS state as it is when the write starts); a failure stops the client. */
  #save(g: LiveGroup): Promise<void> {
    const saved = this.#h.disk.saveGroup(g.s.groupId, () => {
      g.s.mls = g.mls ? g.mls.serialize() : null;
      return g.s;
    });
    saved.catch((e) => this.#h.fatal(e));
    return saved;
  }

  #saveInvitations(): Promise<void> {
    const saved = this.#h.disk.saveInvitations(() => this.#invitations);
    saved.catch((e) => this.#h.fatal(e));
    return saved;
  }

  /** Acknowledges a log entry or event once `saved` (the write holding its effect) is done. */
  #ack(id: Uint8Array, saved: Promise<void>): void {
    if (this.#ackBatch?.saved === saved && this.#ackBatch.ids.length < 256) {
      this.#ackBatch.ids.push(id);
      return;
    }
    const batch = { saved, ids: [id] };
    this.#ackBatch = batch;
    const link = this.#link;
    saved.then(() => {
      if (this.#ackBatch === batch) this.#ackBatch = null;
      if (link && link === this.#link) link.send({ type: "ack", ids: batch.ids });
    }, () => {});
  }

  /** Appends a history line; the oldest go beyond MAX_GROUP_HISTORY. */
  #line(g: LiveGroup, line: Omit<GroupLine, "sender"> & { sender?: Uint8Array }): GroupLine {
    const full: GroupLine = { ...line, sender: line.sender ?? new Uint8Array(0) };
    g.s.history.push(full);
    if (g.s.history.length > MAX_GROUP_HISTORY) g.s.history.splice(0, g.s.history.length - MAX_GROUP_HISTORY);
    g.s.updatedAt = Math.max(g.s.updatedAt, line.time);
    return full;
  }

  /** A system line ("alice was added"). */
  note(g: LiveGroup, text: string): void {
    this.#line(g, { kind: "system", status: "none", textId: 0, time: this.#now(), text });
  }

  #ref(id: Uint8Array): { member: string; nick?: string } {
    const nick = this.#h.nickOf(id);
    return nick ? { member: formatId(id), nick } : { member: formatId(id) };
  }

  /** Sends a group request (blobs: client/groupfiles.ts). */
  request(req: GroupRequest): Promise<Reply> {
    return this.#request(req);
  }

  #request(req: GroupRequest): Promise<Reply> {
    const link = this.#link;
    if (!link) return Promise.reject(new GroupError("You are offline; try again once connected."));
    this.#requests++;
    return link.groupRequest(req).finally(() => this.#requests--);
  }

  #needLink(): void {
    if (!this.#link) throw new GroupError("You are offline; try again once connected.");
  }

  #needActive(g: LiveGroup): MlsGroup {
    if (g.s.status === "creating") throw new GroupError(`The group "${g.s.name}" is still being created.`);
    if (g.s.status !== "active" || !g.mls) {
      throw new GroupError(`You are no longer in the group "${g.s.name}".`);
    }
    return g.mls;
  }

  // ---- the link ---------------------------------------------------------------------------------------

  /** A link is up: groups being created are created, every waiting entry goes again, commits are made. */
  async attach(link: GroupLink): Promise<void> {
    await this.ready;
    this.#link = link;
    this.files?.attach(link);
    for (const g of this.#groups.values()) {
      g.inflight.clear();
      if (g.s.status === "creating") {
        this.#create(g);
        continue;
      }
      if (g.s.status !== "active") continue;
      this.#refreshInfo(g);
      for (const e of g.s.outbox) this.#send(g, e);
      this.#dueForUpdate(g);
      this.#kick(g);
    }
  }

  /** The link is gone: what was not answered goes again on the next. */
  detach(): void {
    this.#link = null;
    for (const g of this.#groups.values()) g.inflight.clear();
  }

  /** The link, or null while offline. */
  get link(): GroupLink | null {
    return this.#link;
  }

  /** Asks the relay for the group's creator and admins (the relay enforces them). */
  #refreshInfo(g: LiveGroup): void {
    this.#request({ type: "group-info", groupId: g.s.groupId }).then((reply) =>
      this.#h.run(() => {
        const f = reply.frame;
        if (f?.type !== "group-state" || g.s.status !== "active") return;
        const admins = f.members.filter((m) => m.admin && !equalBytes(m.id, f.creator)).map((m) => m.id);
        const changed = !equalBytes(g.s.creator, f.creator) || admins.length !== g.s.admins.length ||
          admins.some((a, i) => !equalBytes(a, g.s.admins[i]));
        if (!changed) return;
        g.s.creator = f.creator;
        g.s.admins = admins;
        this.#save(g);
      })
    ).catch(() => {});
  }

  // ---- sending what waits -----------------------------------------------------------------------------

  /** Sends an entry of the group's outbox (once its file is written, and unless already in flight). */
  #send(g: LiveGroup, e: GroupOutgoing): void {
    const link = this.#link, id = bytesToHex(e.messageId);
    if (!link || e.kind === "payload" || this.#unsaved.has(e) || g.inflight.has(id)) return;
    if (!g.s.outbox.includes(e) || g.s.status !== "active") return;
    g.inflight.add(id);
    const { groupId } = g.s, messageId = e.messageId;
    const req: GroupRequest = e.kind === "commit"
      ? { type: "group-commit", groupId, messageId, commit: e.bytes, welcome: e.welcome }
      : e.kind === "leave"
      ? { type: "group-propose", groupId, messageId, message: e.bytes }
      : { type: "group-send", groupId, messageId, message: e.bytes };
    this.#requests++;
    link.groupRequest(req).then(
      (reply) => this.#h.run(() => this.#answered(g, e, reply)),
      () => {/* the link ended: sent again on the next */},
    ).finally(() => this.#requests--);
  }

  /** Sends `entries` once the group's file holding them is written. */
  #afterSave(g: LiveGroup, entries: GroupOutgoing[]): Promise<void> {
    for (const e of entries) this.#unsaved.add(e);
    const saved = this.#save(g);
    saved.then(() => {
      for (const e of entries) this.#unsaved.delete(e);
      for (const e of entries) this.#send(g, e);
    }, () => {});
    return saved;
  }

  #retryLater(): void {
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#h.run(() => {
        for (const g of this.#groups.values()) for (const e of g.s.outbox) this.#send(g, e);
      }).catch(() => {});
    }, RETRY_MS);
  }

  #take(g: LiveGroup, e: GroupOutgoing): boolean {
    const at = g.s.outbox.indexOf(e);
    if (at < 0) return false;
    g.s.outbox.splice(at, 1);
    return true;
  }

  /** The relay answered one of our entries. */
  #answered(g: LiveGroup, e: GroupOutgoing, reply: Reply): void {
    g.inflight.delete(bytesToHex(e.messageId));
    if (!g.s.outbox.includes(e) || g.s.status !== "active") return;
    if (reply.frame?.type === "group-accepted") return this.#accepted(g, e);
    if (RETRYABLE.includes(reply.code)) return this.#retryLater();
    this.#take(g, e);
    const detail = reply.detail.replace(/\.$/, "") || reply.code;
    switch (e.kind) {
      case "message": {
        const line = g.s.history.find((h) => h.kind === "out" && h.textId === e.textId && e.textId > 0);
        if (line) line.status = "failed";
        if (e.textId > 0) {
          this.#h.emit({ event: "group-refused", group: g.key, id: e.textId, reason: detail });
        }
        this.files?.answered(g, bytesToHex(e.messageId), false, detail);
        this.#save(g);
        return;
      }
      case "commit":
        g.mls?.discardPendingCommit();
        if (reply.code === "wrong-epoch" || reply.code === "missing-proposals") {
          // Another commit won the epoch, or a proposal it must take came first: once we have it, again.
          g.rebase = true;
          this.#save(g);
          if (g.mls && BigInt(e.epoch) < g.mls.epoch) this.#kick(g);
          return;
        }
        if (g.s.intent.update) this.#updateTried(g);
        g.s.intent = { adds: [], removes: [], leave: g.s.intent.leave, update: false };
        this.note(g, `the change was refused: ${detail}`);
        this.#h.emit({
          event: "error",
          message: `The relay refused the change to "${g.s.name}": ${detail}.`,
        });
        this.#save(g);
        this.#flush(g);
        this.#kick(g);
        return;
      case "leave":
        if (reply.code === "wrong-epoch") {
          g.rebase = true;
          this.#save(g);
          if (g.mls && BigInt(e.epoch) < g.mls.epoch) this.#kick(g);
          return;
        }
        g.s.intent.leave = false;
        this.#h.emit({ event: "error", message: `Leaving "${g.s.name}" failed: ${detail}.` });
        this.#save(g);
        return;
    }
  }

  /** The relay logged our entry for every member. */
  #accepted(g: LiveGroup, e: GroupOutgoing): void {
    this.#take(g, e);
    switch (e.kind) {
      case "message": {
        const line = g.s.history.find((h) => h.kind === "out" && h.textId === e.textId && e.textId > 0);
        if (line && line.status === "pending") line.status = "queued";
        if (e.textId > 0) this.#h.emit({ event: "group-queued", group: g.key, id: e.textId, at: "relay" });
        this.files?.answered(g, bytesToHex(e.messageId), true, "");
        this.#save(g);
        return;
      }
      case "commit": {
        // Merged here, unless our commit came back in the log first and was merged then.
        if (g.mls?.hasPendingCommit) {
          const before = this.members(g);
          const info = g.mls.mergePendingCommit();
          this.#committed(g, info, before, this.#me());
        }
        this.#save(g);
        this.#flush(g);
        this.#kick(g);
        return;
      }
      case "leave":
        return this.#gone(g, "left", this.#me());
    }
  }

  /**
   * Makes the commit or proposal we mean to make, if any and if none of ours is in flight: leaving; else
   * the adds and removes asked for, with the proposals pending (a member leaving) when we are the one to
   * commit them or have something to send.
   */
  #kick(g: LiveGroup): void {
    const mls = g.mls;
    if (!this.#link || g.s.status !== "active" || !mls) return;
    if (g.s.outbox.some((e) => e.kind === "commit" || e.kind === "leave")) return;
    g.rebase = false;
    const me = this.#me();
    if (g.s.intent.leave) {
      // Made on a copy: if the relay refuses it we are still a member with the state as it was.
      const copy = MlsGroup.deserialize(mls.serialize(), this.#config());
      if (copy.hasPendingCommit) copy.discardPendingCommit();
      const bytes = copy.proposeRemove(mls.ownLeaf);
      this.#queueEntry(g, { kind: "leave", bytes, welcome: null, epoch: Number(mls.epoch), textId: 0 });
      return;
    }
    const members = this.members(g);
    const leafOf = new Map([...members].map(([leaf, id]) => [bytesToHex(id), leaf]));
    const adds = g.s.intent.adds.filter((a) => !leafOf.has(bytesToHex(a.id)));
    const removes = g.s.intent.removes.filter((id) => leafOf.has(bytesToHex(id)) && !equalBytes(id, me));
    const update = g.s.intent.update;
    g.s.intent = { adds, removes, leave: false, update };
    const pending = mls.pendingProposals.length > 0;
    const waiting = g.s.outbox.some((e) => e.kind === "payload");
    const others = pending && (waiting || this.#designated(g));
    if (adds.length === 0 && removes.length === 0 && !update && !others) {
      if (!pending) this.#flush(g);
      return;
    }
    let c;
    try {
      // A commit and its Welcome share one frame: with many adds at once, fewer go now, the rest next.
      for (let take = adds.length;; take = Math.floor(take / 2)) {
        c = mls.commit({
          add: adds.slice(0, take).map((a) => a.keyPackage),
          remove: removes.map((id) => leafOf.get(bytesToHex(id))!),
        });
        if (take <= 1 || c.commit.length + (c.welcome?.length ?? 0) <= MAX_COMMIT_BYTES) break;
        mls.discardPendingCommit();
      }
    } catch (e) {
      if (!(e instanceof MlsError)) throw e;
      if (g.s.intent.update) this.#updateTried(g);
      g.s.intent = { adds: [], removes: [], leave: false, update: false };
      this.#h.emit({ event: "error", message: `The change to "${g.s.name}" cannot be made: ${e.message}.` });
      this.#save(g);
      this.#flush(g); // what waited for a refresh of our leaf goes without it
      return;
    }
    this.#queueEntry(g, {
      kind: "commit",
      bytes: c.commit,
      welcome: c.welcome ?? null,
      epoch: Number(mls.epoch),
      textId: 0,
    });
  }

  /**
   * Post-compromise security for our own leaf: a commit of ours refreshes it (every commit carries an
   * UpdatePath) after `updateEvery.messages` messages sent or `updateEvery.ms` since the last, before the
   * message that finds it due, or when the link comes up (for members who do not send). Not on others'
   * commits: members due at about the same time would all commit at once and race. Marks the intent; #kick
   * makes the commit.
   */
  #dueForUpdate(g: LiveGroup): void {
    const due = this.updateEvery;
    if (g.s.sentSinceUpdate >= due.messages || this.#now() - g.s.lastUpdate > due.ms) {
      g.s.intent.update = true;
    }
  }

  /** A refresh failed for good (refused, not raced): the next is due a full period from now, not at once. */
  #updateTried(g: LiveGroup): void {
    g.s.lastUpdate = this.#now();
    g.s.sentSinceUpdate = 0;
  }

  /** True if we are the remaining member with the lowest leaf: the one to commit others' proposals. */
  #designated(g: LiveGroup): boolean {
    const mls = g.mls!;
    const going = new Set(
      mls.pendingProposals.flatMap((p) => p.proposal.type === REMOVE ? [p.proposal.removed] : []),
    );
    const leaves = mls.members().map((m) => m.leaf).filter((l) => !going.has(l));
    return leaves.length > 0 && Math.min(...leaves) === mls.ownLeaf;
  }

  #queueEntry(g: LiveGroup, e: Omit<GroupOutgoing, "messageId" | "createdAt">): GroupOutgoing {
    const entry: GroupOutgoing = { ...e, messageId: this.#h.random(16), createdAt: this.#now() };
    g.s.outbox.push(entry);
    this.#afterSave(g, [entry]);
    return entry;
  }

  /** Encrypts what waits unencrypted, in order, once nothing of ours is in flight and no proposal pends. */
  #flush(g: LiveGroup): void {
    const mls = g.mls;
    if (!mls || g.s.status !== "active" || mls.pendingProposals.length > 0) return;
    if (g.s.outbox.some((e) => e.kind === "commit" || e.kind === "leave") || mls.hasPendingCommit) return;
    const waiting = g.s.outbox.filter((e) => e.kind === "payload");
    if (waiting.length === 0) return;
    if (g.s.intent.update) return;
    for (const e of waiting) {
      g.s.sentSinceUpdate++;
      e.bytes = mls.encrypt(e.bytes);
      e.kind = "message";
      e.epoch = Number(mls.epoch);
    }
    this.#afterSave(g, waiting);
  }

  /** Queues a group payload of ours: encrypted now if it can be, else once proposals are committed. */
  queuePayload(g: LiveGroup, p: GroupPayload, textId = 0): GroupOutgoing {
    const mls = this.#needActive(g);
    if (g.s.outbox.length >= MAX_GROUP_OUTBOX) {
      throw new GroupError(
        "Too many messages are waiting to be sent to this group; wait until they have left.",
      );
    }
    const plain = encodeGroupPayload(p);
    this.#dueForUpdate(g);
    const blocked = mls.pendingProposals.length > 0 || mls.hasPendingCommit || g.s.intent.update ||
      g.s.outbox.some((e) => e.kind === "payload" || e.kind === "commit" || e.kind === "leave");
    if (blocked) {
      const entry: GroupOutgoing = {
        messageId: this.#h.random(16),
        kind: "payload",
        bytes: plain,
        welcome: null,
        epoch: 0,
        textId,
        createdAt: this.#now(),
      };
      g.s.outbox.push(entry);
      this.#save(g);
      this.#kick(g);
      return entry;
    }
    g.s.sentSinceUpdate++;
    return this.#queueEntry(g, {
      kind: "message",
      bytes: mls.encrypt(plain),
      welcome: null,
      epoch: Number(mls.epoch),
      textId,
    });
  }

  /** Room left in the group's outbox (file transfers keep some for others). */
  outboxRoom(g: LiveGroup): number {
    return MAX_GROUP_OUTBOX - g.s.outbox.length;
  }

  // ---- frames from the relay --------------------------------------------------------------------------

  /** Handles a group frame (GroupDeliver, InviteAccepted) in the client's order. */
  async frame(f: Extract<ServerFrame, { type: "group-deliver" | "invite-accepted" }>): Promise<void> {
    await this.ready;
    if (f.type === "invite-accepted") return this.#inviteAccepted(f);
    return await this.#entry(f);
  }

  async #entry(f: Extract<ServerFrame, { type: "group-deliver" }>): Promise<void> {
    const g = this.#groups.get(bytesToHex(f.groupId));
    if (f.kind === "welcome") return this.#welcome(f, g);
    if (!g || g.s.status !== "active" || !g.mls) return this.#ack(f.entryId, Promise.resolve());
    if (f.seq <= g.s.lastSeq) return this.#ack(f.entryId, Promise.resolve());
    if (f.kind === "admins") {
      g.s.admins = f.admins.filter((a) => !equalBytes(a, g.s.creator));
      this.note(g, `admins: ${[g.s.creator, ...g.s.admins].map((a) => this.nameOf(g, a)).join(", ")}`);
      this.#h.emit({
        event: "group-admins",
        group: g.key,
        name: g.s.name,
        admins: [g.s.creator, ...g.s.admins].map((id) => formatId(id)),
      });
    } else if (equalBytes(f.from, this.#me())) this.#own(g, f);
    else await this.#process(g, f);
    if (g.s.status === "active") g.s.lastSeq = f.seq;
    this.#ack(f.entryId, this.#save(g));
  }

  /** One of our own entries, back in the log: a commit of ours is merged if the answer has not come. */
  #own(g: LiveGroup, f: MessageEntry): void {
    let summary;
    try {
      summary = inspectMessage(f.body);
    } catch {
      return;
    }
    if (summary.wireFormat !== "public") return;
    const mls = g.mls!;
    if (summary.contentType === "commit" && mls.hasPendingCommit && summary.epoch === mls.epoch) {
      const before = this.members(g);
      try {
        const info = mls.process(f.body);
        if (info.kind === "commit") {
          const entry = g.s.outbox.find((e) => e.kind === "commit" && equalBytes(e.bytes, f.body));
          if (entry) this.#take(g, entry);
          this.#committed(g, info, before, this.#me());
          this.#flush(g);
          this.#kick(g);
        }
      } catch (e) {
        if (!(e instanceof MlsError)) throw e;
      }
      return;
    }
    if (summary.contentType === "proposal" && g.s.outbox.some((e) => e.kind === "leave")) {
      // Our leaving is logged (its answer may have been lost): this is the last entry we receive.
      this.#gone(g, "left", this.#me());
    }
  }

  /** Another member's entry: MLS processes it (a refusal changes nothing) and we apply what it says. */
  async #process(g: LiveGroup, f: MessageEntry): Promise<void> {
    const mls = g.mls!;
    const before = this.members(g);
    let r;
    try {
      r = mls.process(f.body);
    } catch (e) {
      if (!(e instanceof MlsError)) throw e;
      const message = `A message in "${g.s.name}" from ${
        this.nameOf(g, f.from)
      } could not be read (${e.message}).`;
      this.#h.emit({ event: "error", message });
      return;
    }
    // MLS authenticated the sender's leaf. The relay checks the leaf of proposals and commits against
    // who sent them, but cannot read application messages: one it names wrongly is dropped.
    const from = before.get(r.sender) ?? f.from;
    switch (r.kind) {
      case "application": {
        if (!equalBytes(from, f.from)) {
          const message =
            `A message in "${g.s.name}" came from another member than the relay said; it was dropped.`;
          this.#h.emit({ event: "error", message });
          return;
        }
        let p: GroupPayload;
        try {
          p = decodeGroupPayload(r.data);
        } catch (e) {
          const message = `A message in "${g.s.name}" from ${this.nameOf(g, from)} could not be read (${
            (e as Error).message
          }).`;
          this.#h.emit({ event: "error", message });
          return;
        }
        const now = this.#now();
        await this.#payload(g, from, p, f.queuedAt > 0 && f.queuedAt <= now ? f.queuedAt : now);
        return;
      }
      case "proposal": {
        const p = r.proposal;
        if (p.type === REMOVE) {
          const leaf = p.removed, who = before.get(leaf);
          if (who && leaf === r.sender) {
            g.leaving.add(bytesToHex(who));
            this.note(g, `${this.nameOf(g, who)} is leaving`);
            this.#h.emit({ event: "group-member-leaving", group: g.key, name: g.s.name, ...this.#ref(who) });
          }
        }
        this.#kick(g);
        return;
      }
      case "commit":
        this.#committed(g, r, before, from);
        if (g.s.status !== "active") return;
        this.#flush(g);
        this.#kick(g);
        return;
    }
  }

  /** A commit took effect (`before`: the members by leaf before it): lines, events, what it settles. */
  #committed(g: LiveGroup, info: CommitInfo, before: Map<number, Uint8Array>, by: Uint8Array): void {
    if (info.removedSelf) return this.#gone(g, "removed", by);
    if (equalBytes(by, this.#me())) {
      // Our commit's path gave our leaf new keys.
      g.s.lastUpdate = this.#now();
      g.s.sentSinceUpdate = 0;
      g.s.intent.update = false;
    }
    const after = this.members(g);
    for (const leaf of info.removed) {
      const id = before.get(leaf);
      if (!id) continue;
      const left = g.leaving.has(bytesToHex(id));
      this.note(
        g,
        left ? `${this.nameOf(g, id)} left` : `${this.nameOf(g, by)} removed ${this.nameOf(g, id)}`,
      );
      this.#h.emit({
        event: "group-member-removed",
        group: g.key,
        name: g.s.name,
        ...this.#ref(id),
        by: formatId(by),
        left,
      });
      g.s.admins = g.s.admins.filter((a) => !equalBytes(a, id));
    }
    const added: Uint8Array[] = [];
    for (const leaf of info.added) {
      const id = after.get(leaf);
      if (!id) continue;
      added.push(id);
      this.note(g, `${this.nameOf(g, by)} added ${this.nameOf(g, id)}`);
      this.#h.emit({
        event: "group-member-added",
        group: g.key,
        name: g.s.name,
        ...this.#ref(id),
        by: formatId(by),
      });
    }
    g.leaving.clear();
    const gone = (id: Uint8Array) => added.some((a) => equalBytes(a, id));
    g.s.invited = g.s.invited.filter((i) => !gone(i.id));
    g.s.intent.adds = g.s.intent.adds.filter((a) => !gone(a.id));
    const present = new Set([...after.values()].map(bytesToHex));
    g.s.intent.removes = g.s.intent.removes.filter((id) => present.has(bytesToHex(id)));
    if (added.length > 0 && equalBytes(by, this.#me())) {
      // New members know the name from the invitation; a rename since would not have reached them.
      this.queuePayload(g, { type: "group-name", name: g.s.name });
    }
  }

  /** We are out of the group: left (our proposal is logged) or removed by a commit. */
  #gone(g: LiveGroup, how: "left" | "removed", by: Uint8Array): void {
    for (const e of g.s.outbox) {
      const line = g.s.history.find((h) => h.kind === "out" && h.textId === e.textId && e.textId > 0);
      if (line && line.status === "pending") line.status = "failed";
    }
    g.s.outbox = [];
    g.s.intent = { adds: [], removes: [], leave: false, update: false };
    g.s.invited = [];
    g.s.status = how;
    g.mls = null;
    if (how === "left") {
      this.note(g, "you left the group");
      this.#h.emit({ event: "group-left", group: g.key, name: g.s.name });
    } else {
      this.note(g, `${this.nameOf(g, by)} removed you from the group; nothing more of it reaches you`);
      this.#h.emit({ event: "group-removed", group: g.key, name: g.s.name, by: formatId(by) });
    }
    this.files?.dropped(g).catch(() => {});
    this.#save(g);
  }

  /** What a member's application message says. */
  async #payload(g: LiveGroup, from: Uint8Array, p: GroupPayload, time: number): Promise<void> {
    switch (p.type) {
      case "text": {
        if (p.text === "") return;
        this.#line(g, { kind: "in", status: "none", textId: p.id, sender: from, time, text: p.text });
        if (this.#focused !== g.key) g.s.unread++;
        const nick = this.#h.nickOf(from);
        this.#h.emit({
          event: "group-message",
          group: g.key,
          name: g.s.name,
          from: formatId(from),
          ...(nick ? { nick } : {}),
          id: p.id,
          text: p.text,
          time: new Date(time).toISOString(),
        });
        return;
      }
      case "nickname": {
        const at = g.s.nicknames.findIndex((n) => equalBytes(n.id, from));
        if (at >= 0) g.s.nicknames.splice(at, 1);
        g.s.nicknames.push({ id: from, name: p.name });
        this.note(g, `${formatId(from).slice(0, 14)} calls themselves "${p.name}"`);
        this.#h.emit({ event: "group-nickname", group: g.key, member: formatId(from), name: p.name });
        return;
      }
      case "group-name":
        if (p.name === g.s.name) return;
        g.s.name = p.name;
        this.note(g, `${this.nameOf(g, from)} named the group "${p.name}"`);
        this.#h.emit({ event: "group-renamed", group: g.key, name: p.name, by: formatId(from) });
        return;
      case "file-offer":
      case "file-chunk":
      case "file-end":
      case "group-file":
        await this.files?.received(g, from, p, time);
        return;
      default:
        // Receipts, closes and file answers mean nothing in a group; later 1:1 types are not shown yet.
        return;
    }
  }

  // ---- creating ---------------------------------------------------------------------------------------

  /** /group new NAME: the group is made here and at the relay, and becomes the active one. */
  create(name: string): LiveGroup {
    const problem = groupNameProblem(name);
    if (problem) throw new GroupError(`${problem[0].toUpperCase()}${problem.slice(1)}.`);
    this.#needLink();
    if (this.list.filter((g) => g.s.status === "active" || g.s.status === "creating").length >= MAX_GROUPS) {
      throw new GroupError(`You are in ${MAX_GROUPS} groups, the most a client keeps.`);
    }
    const suite = suiteForCurve(this.#h.curve);
    const groupId = this.#h.random(32);
    const mls = MlsGroup.create({ suite, groupId, ...sottoSigner(this.#h.identity, suite) }, this.#config());
    const s: GroupState = {
      groupId,
      suite: suite.id,
      name,
      creator: this.#me(),
      status: "creating",
      mls: null,
      lastSeq: 0,
      admins: [],
      nicknames: [],
      invited: [],
      intent: { adds: [], removes: [], leave: false, update: false },
      outbox: [],
      nextTextId: 1,
      unread: 0,
      updatedAt: this.#now(),
      lastUpdate: this.#now(),
      sentSinceUpdate: 0,
      history: [],
      incoming: [],
    };
    const g: LiveGroup = {
      key: bytesToHex(groupId),
      s,
      mls,
      inflight: new Set(),
      rebase: false,
      leaving: new Set(),
    };
    this.#groups.set(g.key, g);
    this.#focused = g.key;
    // Kept here first: a crash after the relay made it would otherwise leave a group nobody can use.
    this.#save(g).then(() => this.#h.run(() => this.#create(g)), () => {});
    return g;
  }

  /** Asks the relay to create the group (again, after a restart: a group already ours counts as made). */
  #create(g: LiveGroup): void {
    if (!this.#link || g.s.status !== "creating") return;
    this.#request({ type: "create-group", groupId: g.s.groupId, suite: g.s.suite }).then(async (reply) => {
      let ours = reply.code === "ok";
      if (!ours && reply.code === "bad-request") {
        const info = await this.#request({ type: "group-info", groupId: g.s.groupId }).catch(() => null);
        ours = info?.frame?.type === "group-state" && equalBytes(info.frame.creator, this.#me());
      }
      await this.#h.run(async () => {
        if (g.s.status !== "creating") return;
        if (!ours) {
          this.#groups.delete(g.key);
          if (this.#focused === g.key) this.#focused = null;
          await this.#h.disk.removeGroup(g.s.groupId);
          const why = reply.detail.replace(/\.$/, "") || reply.code;
          this.#h.emit({ event: "error", message: `The group "${g.s.name}" could not be created: ${why}.` });
          return;
        }
        g.s.status = "active";
        this.note(g, "you created the group");
        this.#save(g);
        this.#h.emit({ event: "group-created", group: g.key, name: g.s.name });
      });
    }, () => {/* offline: asked again on the next link */});
  }

  // ---- inviting and adding ----------------------------------------------------------------------------

  /** /group add ID|NICK: invites someone we have an open chat with, over that chat. */
  invite(g: LiveGroup, target: string): void {
    const mls = this.#needActive(g);
    const peerId = this.#h.findPeer(target);
    if (!peerId) throw new GroupError(`You have no chat with "${target}"; /chat ID asks for one.`);
    if (equalBytes(peerId, this.#me())) throw new GroupError("You are in the group already.");
    const name = this.nameOf(g, peerId);
    if (!this.#h.canTalkTo(peerId)) {
      throw new GroupError(
        `You can add only people with whom you have an open chat, and the one with ${name} is not open (yet).`,
      );
    }
    const members = [...this.members(g).values()];
    if (members.some((m) => equalBytes(m, peerId))) throw new GroupError(`${name} is in the group already.`);
    g.s.invited = g.s.invited.filter((i) => !equalBytes(i.id, peerId));
    if (g.s.invited.length >= MAX_INVITED) g.s.invited.shift();
    g.s.invited.push({ id: peerId, at: this.#now() });
    const bytes = encodeGroupInvite({
      type: "group-invite",
      groupId: g.s.groupId,
      suite: mls.suite.id,
      name: g.s.name,
      creator: g.s.creator,
      members,
    });
    // Recorded first: their acceptance is taken only from someone we invited.
    this.#save(g).then(() =>
      this.#h.run(() => {
        if (!this.#h.sendToChat(peerId, bytes)) {
          this.#h.emit({ event: "error", message: `The invitation to ${name} could not be sent.` });
        }
      }), () => {});
    this.note(g, `you invited ${name}; they are added once they accept`);
    this.#h.emit({ event: "group-invited", group: g.key, name: g.s.name, ...this.#ref(peerId) });
  }

  /** InviteAccepted: someone we invited accepted with a KeyPackage; we add them (a commit). */
  #inviteAccepted(f: Extract<ServerFrame, { type: "invite-accepted" }>): void {
    const g = this.#groups.get(bytesToHex(f.groupId));
    const ignore = (why: string) => {
      this.#h.emit({ event: "info", text: `An acceptance of an invitation was ignored: ${why}.` });
      this.#ack(f.eventId, Promise.resolve());
    };
    if (!g || g.s.status !== "active" || !g.mls) return ignore("you are no longer in that group");
    if ([...this.members(g).values()].some((m) => equalBytes(m, f.invitee))) {
      return this.#ack(f.eventId, Promise.resolve()); // added already (the event came again)
    }
    const invited = g.s.invited.find((i) => equalBytes(i.id, f.invitee));
    if (!invited) return ignore(`you did not invite ${formatId(f.invitee)} to "${g.s.name}"`);
    if (!this.#h.canTalkTo(f.invitee) || this.#h.isBlocked(f.invitee)) {
      return ignore(`your chat with ${this.nameOf(g, f.invitee)} is not open any more`);
    }
    try {
      const kp = checkKeyPackage(f.keyPackage, { now: BigInt(Math.floor(this.#now() / 1000)) });
      if (!equalBytes(kp.memberId, f.invitee) || kp.cipherSuite !== g.s.suite) {
        return ignore("its KeyPackage is not the invitee's for this group");
      }
    } catch (e) {
      if (!(e instanceof MlsError)) throw e;
      return ignore(`its KeyPackage is not valid (${e.message})`);
    }
    g.s.intent.adds = g.s.intent.adds.filter((a) => !equalBytes(a.id, f.invitee));
    g.s.intent.adds.push({ id: f.invitee, keyPackage: f.keyPackage });
    this.#ack(f.eventId, this.#save(g));
    this.#kick(g);
  }

  /** /group remove ID|NICK (the creator and admins): a commit that removes the member. */
  remove(g: LiveGroup, target: string): void {
    this.#needActive(g);
    if (!this.isAdmin(g, this.#me())) {
      throw new GroupError("Only the group's creator and the admins it names can remove members.");
    }
    const id = this.#member(g, target);
    if (equalBytes(id, this.#me())) throw new GroupError("To leave the group, type /group leave.");
    if (!g.s.intent.removes.some((r) => equalBytes(r, id))) g.s.intent.removes.push(id);
    this.note(g, `removing ${this.nameOf(g, id)}…`);
    this.#save(g);
    this.#kick(g);
  }

  /** A member a command names: our nickname for them, theirs in the group, their ID or its start. */
  #member(g: LiveGroup, target: string): Uint8Array {
    const members = [...this.members(g).values()];
    const t = target.trim().toLowerCase().replace(/^~/, "");
    const by = (test: (id: Uint8Array) => boolean) => members.filter(test);
    const checks: ((id: Uint8Array) => boolean)[] = [
      (id) => this.#h.nickOf(id).toLowerCase() === t,
      (id) => g.s.nicknames.some((n) => equalBytes(n.id, id) && n.name.toLowerCase() === t),
    ];
    try {
      const exact = parseId(target);
      checks.unshift((id) => equalBytes(id, exact));
    } catch {
      const prefix = t.replace(/[\s\-_.:]/g, "");
      if (prefix.length >= 4) checks.push((id) => formatId(id).replace(/-/g, "").startsWith(prefix));
    }
    for (const check of checks) {
      const found = by(check);
      if (found.length === 1) return found[0];
      if (found.length > 1) throw new GroupError(`"${target}" names several members; give more of the ID.`);
    }
    throw new GroupError(`Nobody in "${g.s.name}" is called "${target}"; /group members lists them.`);
  }

  /** /group leave: the proposal of our own removal (another member commits it). */
  leave(g: LiveGroup): void {
    this.#needActive(g);
    this.#needLink();
    g.s.intent = { adds: [], removes: [], leave: true, update: false };
    this.#save(g);
    this.#kick(g);
  }

  /** /group admin ID|NICK, /group unadmin ID|NICK (the creator only). */
  async setAdmin(g: LiveGroup, target: string, admin: boolean): Promise<void> {
    this.#needActive(g);
    if (!equalBytes(g.s.creator, this.#me())) throw new GroupError("Only the group's creator names admins.");
    const id = this.#member(g, target);
    if (equalBytes(id, this.#me())) throw new GroupError("The creator is always an admin.");
    const reply = await this.#request({ type: "set-admin", groupId: g.s.groupId, member: id, admin });
    if (reply.code !== "ok") {
      throw new GroupError(`The relay refused: ${reply.detail.replace(/\.$/, "") || reply.code}.`);
    }
  }

  /** /group members: who is in the group (from the MLS tree), with admins marked. */
  showMembers(g: LiveGroup): void {
    this.#needActive(g);
    const members = this.memberViews(g);
    this.#h.emit({ event: "group-members", group: g.key, name: g.s.name, members });
    for (const m of members) {
      const tags = [m.you ? "you" : "", m.creator ? "creator" : m.admin ? "admin" : ""].filter(Boolean);
      const label = m.nick ?? (m.groupNick ? `~${m.groupNick}` : "");
      this.#h.emit({
        event: "info",
        text: `  ${label ? `${label} ` : ""}${m.id}${tags.length ? ` (${tags.join(", ")})` : ""}`,
      });
    }
  }

  /** /group name NAME: renames the group for everyone. */
  rename(g: LiveGroup, name: string): void {
    const problem = groupNameProblem(name);
    if (problem) throw new GroupError(`${problem[0].toUpperCase()}${problem.slice(1)}.`);
    this.queuePayload(g, { type: "group-name", name });
    g.s.name = name;
    this.note(g, `you named the group "${name}"`);
    this.#h.emit({ event: "group-renamed", group: g.key, name, by: formatId(this.#me()) });
  }

  /** A text to the group. */
  sendText(g: LiveGroup, text: string): void {
    this.#needActive(g);
    const id = g.s.nextTextId;
    g.s.nextTextId = id >= 0xffff_ffff ? 1 : id + 1;
    this.#line(g, { kind: "out", status: "pending", textId: id, time: this.#now(), text });
    const entry = this.queuePayload(g, { type: "text", id, text }, id);
    if (!this.#link || entry.kind === "payload") {
      this.#h.emit({ event: "group-queued", group: g.key, id, at: "client" });
    }
  }

  /** /nick NAME in a group: what the group's members see us as. */
  sendNickname(g: LiveGroup, name: string): void {
    this.queuePayload(g, { type: "nickname", name });
    this.note(g, `the group will see you as "${name}"`);
  }

  // ---- invitations received ---------------------------------------------------------------------------

  /** A group payload in the 1:1 chat with `from` (an invitation): kept until answered. */
  async fromChat(from: Uint8Array, bytes: Uint8Array): Promise<void> {
    await this.ready;
    const inv = decodeGroupInvite(bytes);
    const name = this.#h.nickOf(from) || formatId(from).slice(0, 14);
    if (!inv.members.some((m) => equalBytes(m, from))) {
      this.#h.emit({
        event: "error",
        message: `${name} sent an invitation to a group they are not in; ignored.`,
      });
      return;
    }
    if (![2, 5, 7].includes(inv.suite)) {
      this.#h.emit({
        event: "error",
        message: `${name} sent an invitation to a group this client cannot join.`,
      });
      return;
    }
    const mine = this.#groups.get(bytesToHex(inv.groupId));
    if (mine && (mine.s.status === "active" || mine.s.status === "creating")) return; // in it already
    const old = this.#invitations.find((v) =>
      equalBytes(v.groupId, inv.groupId) && equalBytes(v.inviter, from)
    );
    const record: InvitationRecord = {
      groupId: inv.groupId,
      suite: inv.suite,
      name: inv.name,
      creator: inv.creator,
      members: [...inv.members],
      inviter: from,
      receivedAt: this.#now(),
      bundle: old?.bundle ?? null,
      acceptedAt: old?.acceptedAt ?? 0,
    };
    this.#invitations = this.#invitations.filter((v) => v !== old);
    if (this.#invitations.length >= MAX_INVITATIONS) {
      const at = this.#invitations.findIndex((v) => v.bundle === null);
      this.#invitations.splice(at < 0 ? 0 : at, 1);
    }
    this.#invitations.push(record);
    await this.#saveInvitations();
    const nick = this.#h.nickOf(from);
    this.#h.emit({
      event: "group-invitation",
      group: bytesToHex(inv.groupId),
      name: inv.name,
      from: formatId(from),
      ...(nick ? { nick } : {}),
      creator: formatId(inv.creator),
      members: inv.members.map((id) => formatId(id)),
    });
  }

  /** The invitation a /group accept or decline argument names (a group name, its ID's start, the inviter). */
  #invitation(target: string, open: boolean): InvitationRecord {
    const list = this.#invitations.filter((v) => !open || v.bundle === null);
    if (list.length === 0) throw new GroupError("No invitation to a group waits for an answer.");
    const t = target.trim().toLowerCase();
    if (t === "") {
      if (list.length === 1) return list[0];
      throw new GroupError(
        `${list.length} invitations wait for an answer; name the group (/list shows them).`,
      );
    }
    const tests: ((v: InvitationRecord) => boolean)[] = [
      (v) => v.name.toLowerCase() === t,
      (v) => /^[0-9a-f]{4,64}$/.test(t) && bytesToHex(v.groupId).startsWith(t),
      (v) => this.#h.nickOf(v.inviter).toLowerCase() === t,
    ];
    for (const test of tests) {
      const found = list.filter(test);
      if (found.length === 1) return found[0];
      if (found.length > 1) {
        throw new GroupError(`"${target}" names several invitations; give the group's ID.`);
      }
    }
    throw new GroupError(`No invitation to a group called "${target}" waits; /list shows them.`);
  }

  /** /group accept [NAME]: a KeyPackage for this group only, kept here, then the acceptance at the relay. */
  async accept(target: string): Promise<void> {
    await this.ready;
    const inv = this.#invitation(target, true);
    this.#needLink();
    if (!this.#h.canTalkTo(inv.inviter)) {
      throw new GroupError("Your chat with the one who invited you is not open any more; ask them again.");
    }
    const suite = getSuite(inv.suite);
    const now = BigInt(Math.floor(this.#now() / 1000));
    const bundle = createKeyPackage({
      suite,
      ...sottoSigner(this.#h.identity, suite),
      lifetime: { notBefore: now - KEY_PACKAGE_PAST_S, notAfter: now + KEY_PACKAGE_FUTURE_S },
    }, this.#h.random);
    inv.bundle = encodeKeyPackageBundle(bundle);
    inv.acceptedAt = this.#now();
    // Kept before the relay hears of it: the Welcome can come at once, and only this bundle opens it.
    await this.#saveInvitations();
    const reply = await this.#request({
      type: "accept-invite",
      groupId: inv.groupId,
      inviter: inv.inviter,
      keyPackage: keyPackageMessage(bundle.keyPackage),
    });
    if (reply.code !== "ok") {
      inv.bundle = null;
      inv.acceptedAt = 0;
      await this.#saveInvitations();
      throw new GroupError(
        `The relay refused the acceptance: ${reply.detail.replace(/\.$/, "") || reply.code}.`,
      );
    }
    this.#h.emit({
      event: "group-invitation-accepted",
      group: bytesToHex(inv.groupId),
      name: inv.name,
      inviter: formatId(inv.inviter),
    });
  }

  /** /group decline [NAME]: the invitation is forgotten; nobody (inviter, relay, group) hears of it. */
  async decline(target: string): Promise<void> {
    await this.ready;
    const inv = this.#invitation(target, false);
    if (inv.bundle !== null) {
      throw new GroupError(`You accepted the invitation to "${inv.name}" already; once added, /group leave.`);
    }
    this.#invitations = this.#invitations.filter((v) => v !== inv);
    await this.#saveInvitations();
    this.#h.emit({ event: "group-declined", group: bytesToHex(inv.groupId), name: inv.name });
  }

  /** A Welcome: joined only with the KeyPackage of an invitation we accepted for that very group. */
  #welcome(f: MessageEntry, old: LiveGroup | undefined): void {
    if (old && old.s.status === "active" && f.seq <= old.s.lastSeq) {
      return this.#ack(f.entryId, Promise.resolve());
    }
    let refs: readonly Uint8Array[] = [];
    try {
      const s = inspectMessage(f.body);
      if (s.wireFormat === "welcome") refs = s.keyPackageRefs;
    } catch {
      refs = [];
    }
    const inv = this.#invitations.find((v) =>
      v.bundle !== null && equalBytes(v.groupId, f.groupId) &&
      refs.some((r) => equalBytes(r, decodeKeyPackageBundle(v.bundle!).ref))
    );
    if (!inv) {
      const message = "The relay delivered an invitation to a group you did not accept; it was refused.";
      this.#h.emit({ event: "error", message });
      return this.#ack(f.entryId, Promise.resolve());
    }
    const bundle = decodeKeyPackageBundle(inv.bundle!);
    let mls: MlsGroup;
    try {
      mls = MlsGroup.join({
        welcome: f.body,
        keyPackage: bundle,
        signatureSecretKey: sottoSigner(this.#h.identity, getSuite(inv.suite)).signatureSecretKey,
      }, this.#config());
      if (!equalBytes(mls.groupId, f.groupId)) {
        throw new MlsError("invalid-welcome", "it is for another group");
      }
    } catch (e) {
      if (!(e instanceof MlsError)) throw e;
      this.#h.emit({ event: "error", message: `Joining "${inv.name}" failed: ${e.message}.` });
      return this.#ack(f.entryId, Promise.resolve());
    }
    const s: GroupState = {
      groupId: f.groupId,
      suite: inv.suite,
      name: inv.name,
      creator: inv.creator,
      status: "active",
      mls: null,
      lastSeq: f.seq,
      admins: [],
      nicknames: [],
      invited: [],
      intent: { adds: [], removes: [], leave: false, update: false },
      outbox: [],
      nextTextId: old?.s.nextTextId ?? 1,
      unread: 0,
      updatedAt: this.#now(),
      lastUpdate: this.#now(),
      sentSinceUpdate: 0,
      history: old?.s.history ?? [],
      incoming: [],
    };
    const g: LiveGroup = {
      key: bytesToHex(f.groupId),
      s,
      mls,
      inflight: new Set(),
      rebase: false,
      leaving: new Set(),
    };
    this.#groups.set(g.key, g);
    const members = [...this.members(g).values()];
    this.note(
      g,
      `you joined; ${members.length} members: ${members.map((m) => this.nameOf(g, m)).join(", ")}`,
    );
    const saved = this.#save(g);
    this.#invitations = this.#invitations.filter((v) => !equalBytes(v.groupId, f.groupId));
    // The group's file first, then the invitation goes: a crash between leaves an invitation the Welcome
    // (delivered again) finds already used, and nothing is lost.
    this.#ack(f.entryId, saved.then(() => this.#saveInvitations()));
    this.#h.emit({
      event: "group-joined",
      group: g.key,
      name: s.name,
      members: members.map((id) => formatId(id)),
    });
    this.#refreshInfo(g);
  }

  /** Writes everything once more (quitting). */
  async shutdown(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.ready.catch(() => {});
    await Promise.all([...this.#groups.values()].map((g) => this.#save(g).catch(() => {})));
  }
}

/** "sotto id v1": the label of the ID hash (docs/protocol.md §2). */
const ID_LABEL = utf8("sotto id v1");
/** MLS's basic credential type (RFC 9420 §5.3). */
const BASIC = 1;
/** MLS's Remove proposal type (RFC 9420 §12.1.3). */
const REMOVE = 3;
