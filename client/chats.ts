// The client's chats: what the relay's frames do to the keystore. Sessions come from PQXDH in
// protocol/x3dh.ts (the relay decides who initiates), messages go through protocol/ratchet.ts as typed
// payloads, and every change is written to the keystore before it has an effect outside (client/outbox.ts:
// a message leaves only once its session is stored, a delivered one is acknowledged only once it is
// stored). Prekeys (EC and KEM) are published and replenished here. What payloads do is
// client/receive.ts; what commands do is client/actions.ts. One operation runs at a time (`run`).

import { bytesToHex, equalBytes, type RandomSource, systemRandom } from "../crypto/bytes.ts";
import { sha256 } from "../crypto/sha2.ts";
import { ProtocolError } from "../protocol/codec.ts";
import { checkId, encodeIdentityPublic, formatId, type Identity, idMatches } from "../protocol/identity.ts";
import type { HistoryEntry } from "../protocol/history.ts";
import { type ChatRecord, type KeystoreContents, MAX_BLOCKED, newChatRecord } from "../protocol/keystore.ts";
import { decodeMessage } from "../protocol/message.ts";
import { decodePayload, MAX_RECEIPT_IDS, type Payload } from "../protocol/payload.ts";
import { MAX_ONE_TIME_KEM_PREKEYS, MAX_ONE_TIME_PREKEYS } from "../protocol/prekeys.ts";
import type { CurveName } from "../protocol/suite.ts";
import { OPTION_REQUESTS_INBOX, type ResultCode, type ServerFrame } from "../protocol/wire.ts";
import { initiate, respond } from "../protocol/x3dh.ts";
import type { Clock } from "./backoff.ts";
import type { Reply, Request } from "./connection.ts";
import type { ClientEvent } from "./events.ts";
import { DEFAULT_FILES_QUOTA, type IncomingFiles } from "./files.ts";
import { isPostQuantum, readFailure, startFailure } from "./handshake.ts";
import { addSystemLine, changed, chatName, chatRef, dropLines } from "./history.ts";
import { Outbox, type Sender, type WithdrawResult } from "./outbox.ts";
import { advance, type Offer, Receiver } from "./receive.ts";
import { getSetting } from "./settings.ts";
import { Transfers } from "./transfers.ts";
import { isGroupChatPayload } from "../protocol/group_payload.ts";
import { groupsFor } from "./group_commands.ts";
import type { GroupFiles } from "./groupfiles.ts";
import { type GroupDisk, MemoryGroupDisk } from "./groupdisk.ts";
import type { GroupManager } from "./groups.ts";

/** One-time prekeys a relay should hold per curve (it asks for more below its low-water mark). */
export const ONE_TIME_PREKEYS = 100;
/** One-time ML-KEM-1024 prekeys a relay should hold (all a bundle takes; it asks for more below 8). */
export const ONE_TIME_KEM_PREKEYS = MAX_ONE_TIME_KEM_PREKEYS;
/** Refusals that pass: the message stays queued and is sent again later. */
const RETRYABLE: readonly ResultCode[] = ["over-quota", "rate-limited", "internal"];
/** Answers to RequestChat that leave no request at the relay (asking again would not help). */
const FINAL_REFUSALS: readonly ResultCode[] = ["not-allowed", "limit", "bad-request"];

/** Milliseconds between two typing indicators sent while the user keeps typing. */
export const TYPING_EVERY_MS = 5_000;
/** Milliseconds without a key after which "stopped typing" is sent. */
export const TYPING_IDLE_MS = 6_000;

/** What the chats need of a connection (client/connection.ts RelayLink). */
export interface Link extends Sender {
  readonly pin: string;
  readonly welcome: Extract<ServerFrame, { type: "welcome" }>;
  request(req: Request): Promise<Reply>;
  /** False if the relay is older than the frames of issue 12 (absent: it has them). */
  readonly everyday?: boolean;
}

/** Pending requests for us that the requests inbox remembers, at most (the oldest go first). */
export const MAX_ASKED = 200;

/** Someone who asked to chat with us (the requests inbox). */
export interface Asked {
  peerId: Uint8Array;
  curve: CurveName;
  /** When their request lapses at the relay (ms since the epoch). */
  expiresAt: number;
}

/** What a link offers groups besides (client/connection.ts RelayLink.groupRequest). */
type GroupLinkPart = Pick<import("./groups.ts").GroupLink, "groupRequest">;

/** What the chats need of the keystore (client/keystore.ts KeystoreFile). */
export interface Store {
  readonly dataDir: string;
  readonly contents: KeystoreContents;
  save(): Promise<void>;
}

export interface ChatClientOptions {
  store: Store;
  files: IncomingFiles;
  /** Files of at most this many bytes are accepted without asking (--accept-files; default 0: ask). */
  autoAccept?: number;
  /** Most bytes in the files folder, counting what accepted transfers will add (--files-quota). */
  filesQuota?: number;
  /** Bytes free for the data folder (tests replace client/files.ts freeBytes). */
  freeBytes?(dir: string): Promise<number>;
  /** The curve of the chats we ask for. */
  curve: CurveName;
  /** The relay (its host and port as given, and --pin or an invitation's pin): /invite and /chat INVITATION. */
  relay: { host: string; port: number; pin?: string };
  clock: Clock;
  emit(event: ClientEvent): void;
  /** The keystore could not be written: the client must stop (going on could lose messages). */
  fatal(error: Error): void;
  random?: RandomSource;
  /** Where the groups are kept (client/groupdisk.ts); in memory when absent. */
  groupDisk?: GroupDisk;
  /** The history files (client/historystore.ts); absent in tests that keep history in memory only. */
  history?: { forget(chat: ChatRecord): Promise<void> };
}

/** SHA-256 of a peer's public identity: what a verified mark records. */
export function identityFingerprint(chat: ChatRecord): Uint8Array | null {
  return chat.peerIdentity ? sha256(encodeIdentityPublic(chat.peerIdentity)) : null;
}

/** The chats of one identity, driven by relay frames (here) and commands (client/actions.ts). */
export class ChatClient {
  readonly options: ChatClientOptions;
  readonly contents: KeystoreContents;
  readonly random: RandomSource;
  readonly outbox: Outbox;
  readonly transfers: Transfers;
  /** The groups (client/groups.ts) and their files (client/groupfiles.ts). */
  readonly groups: GroupManager;
  readonly groupFiles: GroupFiles;
  readonly #receiver: Receiver;
  #link: Link | null = null;
  #active: Uint8Array | null = null;
  #online = new Set<string>();
  #serial: Promise<unknown> = Promise.resolve();
  #uploadQueued = false;
  #requests = 0;
  /** Ids of received texts whose receipt has not been queued yet, by peer (hex). */
  readonly #receipts = new Map<string, number[]>();
  #receiptTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #afterUpload: (() => void)[] = [];
  /** The first unread line of the chats opened with unread messages, by peer (hex), this session. */
  readonly #markers = new Map<string, { line: number; count: number }>();
  /** Typing indicators: when one was last sent, and the timer that sends "stopped", by peer (hex). */
  readonly #typing = new Map<string, { sentAt: number; idle: ReturnType<typeof setTimeout> }>();
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #nextExpiry = Infinity;
  #inbox: boolean;
  /** Who asked to chat with us and is waiting for an answer (requests inbox), by hex ID. */
  readonly #asked = new Map<string, Asked>();

  constructor(options: ChatClientOptions) {
    this.options = options;
    this.contents = options.store.contents;
    this.random = options.random ?? systemRandom;
    this.outbox = new Outbox({
      contents: this.contents,
      save: () => this.save(),
      random: this.random,
      clock: options.clock,
    });
    this.transfers = new Transfers({
      run: (fn) => this.run(fn),
      enqueue: (peerId, payload) => {
        const chat = this.chat(peerId);
        if (!chat || chat.state !== "open" || !chat.session) return null;
        if (payload.type === "file-chunk" && this.outbox.full) return null;
        return bytesToHex(this.outbox.add(chat, payload, 0).messageId);
      },
      emit: options.emit,
      label: (peerId) => {
        const chat = this.chat(peerId);
        return chat ? chatRef(chat) : { chat: formatId(peerId) };
      },
      note: (peerId, text) => {
        const chat = this.chat(peerId);
        if (chat) addSystemLine(chat, text, this.#now());
      },
    });
    this.#receiver = new Receiver({
      files: options.files,
      dataDir: options.store.dataDir,
      clock: options.clock,
      emit: options.emit,
      isActive: (chat) => this.#active !== null && equalBytes(this.#active, chat.peerId),
      close: (chat) => this.close(chat),
      send: (chat, payload) => {
        if (chat.state === "open" && !this.outbox.full) this.outbox.add(chat, payload, 0);
      },
      answered: (chat, fileId, accept) => this.transfers.answered(chat.peerId, fileId, accept),
      incoming: () => this.contents.chats.flatMap((c) => c.incoming),
      autoAccept: options.autoAccept ?? 0,
      filesQuota: options.filesQuota ?? DEFAULT_FILES_QUOTA,
      freeBytes: options.freeBytes,
      selfId: this.contents.identity.id,
      optIn: () => ({
        readReceipts: getSetting(this.contents, "read-receipts"),
        typing: getSetting(this.contents, "typing"),
      }),
      expires: (at) => this.expiring(at),
    });
    this.#active = this.contents.chats.find((c) => c.state !== "closed")?.peerId ?? null;
    ({ groups: this.groups, files: this.groupFiles } = groupsFor(
      this,
      options.groupDisk ?? new MemoryGroupDisk(),
    ));
    // The saved setting (/requests on|off, /set requests): off unless the user turned it on.
    this.#inbox = getSetting(this.contents, "requests");
    this.#reconcile();
    this.sweep();
  }

  /**
   * After a crash between the history's write and the keystore's, a line of ours may say "pending" for
   * a message the keystore's queue never got: it was not sent, and says so.
   */
  #reconcile(): void {
    for (const chat of this.contents.chats) {
      for (const line of chat.history) {
        if (line.kind !== "out" || line.status !== "pending" || line.messageId.length === 0) continue;
        if (this.outbox.find(line.messageId)) continue;
        line.status = "failed";
        changed(chat, line);
      }
    }
  }

  /** Our identity. */
  get identity(): Identity {
    return this.contents.identity;
  }

  /** The chats, in the order they were made. */
  get chats(): readonly ChatRecord[] {
    return this.contents.chats;
  }

  /** The active chat, or null. */
  get active(): ChatRecord | null {
    return this.#active ? this.chat(this.#active) ?? null : null;
  }

  /** Files offered to us that wait for an answer, chat by chat. */
  get offers(): Offer[] {
    return this.#receiver.offers(this.contents.chats);
  }

  /** Accepts an offer (FileError in one sentence if it does not fit the quotas or the free space). */
  acceptFile(offer: Offer): Promise<void> {
    return this.run(async () => {
      await this.#receiver.accept(offer.chat, offer.file);
      this.save();
    });
  }

  /** Declines an offer: the sender is told; nothing of the file was written. */
  declineFile(offer: Offer): Promise<void> {
    return this.run(() => {
      this.#receiver.decline(offer.chat, offer.file);
      this.save();
    });
  }

  /**
   * Makes a chat the active one: its unread messages are read now (their read receipts go if the user
   * opted in) and its first unread line is remembered for this session (`unreadMarker`).
   */
  setActive(chat: ChatRecord): void {
    if (!this.#active || !equalBytes(this.#active, chat.peerId)) {
      this.#markers.delete(this.#active ? bytesToHex(this.#active) : "");
    }
    this.#active = chat.peerId;
    this.groups.unfocus();
    const first = chat.history.find((h) => h.kind === "in" && h.status === "none" && h.textId > 0);
    if (first) {
      const count = chat.history.filter((h) => h.kind === "in" && h.status === "none" && h.textId > 0).length;
      this.#markers.set(bytesToHex(chat.peerId), { line: first.seq, count });
    }
    const read = this.markRead(chat);
    if (chat.unread > 0 || read) {
      chat.unread = 0;
      this.save();
    }
  }

  /** The first unread line of a chat when it was opened (this session), or null. */
  unreadMarker(chat: ChatRecord): { line: number; count: number } | null {
    return this.#markers.get(bytesToHex(chat.peerId)) ?? null;
  }

  /** Forgets a chat's unread marker (the user answered, or has seen it). */
  clearMarker(chat: ChatRecord): void {
    this.#markers.delete(bytesToHex(chat.peerId));
  }

  /**
   * Marks the chat's unread texts read; their read receipts go if the user opted in (never for texts
   * read before opting in). True if any was unread.
   */
  markRead(chat: ChatRecord): boolean {
    const ids: number[] = [];
    for (const h of chat.history) {
      if (h.kind !== "in" || h.status !== "none" || h.textId === 0) continue;
      h.status = "read";
      changed(chat, h);
      if (!h.deleted) ids.push(h.textId);
    }
    if (ids.length === 0) return false;
    if (getSetting(this.contents, "read-receipts") && chat.state === "open" && chat.session) {
      for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
        if (this.outbox.full) break;
        this.outbox.add(chat, { type: "receipt", kind: "read", ids: ids.slice(i, i + MAX_RECEIPT_IDS) }, 0);
      }
    }
    return true;
  }

  /**
   * The user is typing in a chat: if they opted in and the peer is online, "typing" goes at most every
   * TYPING_EVERY_MS, and "stopped" after TYPING_IDLE_MS without a key (or nothing, once they send).
   */
  typing(chat: ChatRecord): void {
    if (!getSetting(this.contents, "typing") || chat.state !== "open" || !chat.session) return;
    if (!this.isOnline(chat) || this.outbox.full) return;
    const key = bytesToHex(chat.peerId), now = this.#now(), t = this.#typing.get(key);
    if (t) clearTimeout(t.idle);
    const idle = setTimeout(() => {
      this.#typing.delete(key);
      this.run(() => {
        if (chat.state === "open" && chat.session && !this.outbox.full) {
          this.outbox.add(chat, { type: "typing", typing: false }, 0);
        }
      }).catch(() => {});
    }, TYPING_IDLE_MS);
    if (t && now - t.sentAt < TYPING_EVERY_MS) {
      t.idle = idle;
      return;
    }
    this.#typing.set(key, { sentAt: now, idle });
    this.outbox.add(chat, { type: "typing", typing: true }, 0);
  }

  /** The user sent something: no "stopped typing" follows (the text tells the peer). */
  stoppedTyping(chat: ChatRecord): void {
    const key = bytesToHex(chat.peerId), t = this.#typing.get(key);
    if (!t) return;
    clearTimeout(t.idle);
    this.#typing.delete(key);
  }

  // ---- disappearing messages ---------------------------------------------------------------------------

  /** A line disappears at `at` (0: never): the sweep runs then (or sooner, for another). */
  expiring(at: number): void {
    if (at <= 0 || at >= this.#nextExpiry) return;
    this.#nextExpiry = at;
    clearTimeout(this.#expiryTimer);
    // setTimeout holds at most 2^31 − 1 ms; a longer wait is cut and the sweep schedules the rest.
    const wait = Math.min(Math.max(0, at - this.#now()), 2 ** 31 - 1);
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = undefined;
      this.#nextExpiry = Infinity;
      this.run(() => this.sweep()).catch(() => {});
    }, wait);
  }

  /**
   * Removes the lines whose time ran out (from the screen and the history file) and the queued messages
   * that lapsed before they could leave; schedules the next sweep. Runs at start too.
   */
  sweep(): void {
    const now = this.#now();
    let next = Infinity, removed = false;
    for (const chat of this.contents.chats) {
      const gone = dropLines(chat, (h) => h.expiresAt > 0 && h.expiresAt <= now);
      for (const h of chat.history) if (h.expiresAt > 0) next = Math.min(next, h.expiresAt);
      if (gone.length === 0) continue;
      removed = true;
      for (const h of gone) {
        // A text the peer's client confirmed has left the relay's queue: nothing to withdraw. The others
        // were sent with a ttl (SendExpiring), so the relay drops them too; withdrawing covers the clocks'
        // difference and a text that went before the chat had its timer.
        const atRelay = h.status === "pending" || h.status === "queued";
        if (h.kind === "out" && h.messageId.length > 0 && atRelay) this.#withdraw(chat, h.messageId, h.seq);
      }
      this.#emit({ event: "expired", ...chatRef(chat), lines: gone.map((h) => h.seq) });
    }
    for (const e of [...this.contents.outbox]) {
      const chat = this.chat(e.peerId);
      if (chat && e.expiresAt > 0 && e.expiresAt <= now) this.#withdraw(chat, e.messageId);
    }
    if (removed) this.save();
    if (next < Infinity) this.expiring(next);
  }

  /**
   * Takes a message of ours to `peerId` back (deleted for everyone, or a disappearing one that lapsed): if
   * it never left this client it is dropped here; else the relay is asked to withdraw it from the peer's
   * queue with a Withdraw frame, now or at the next connection (client/outbox.ts withdraw; an older relay
   * cannot, and the delete payload or the peer's own timer is then all there is). True if it never left.
   * A `withdrawn` event says what became of it (a withdrawal left for the next connection says "pending"
   * and no more).
   */
  #withdraw(chat: ChatRecord, messageId: Uint8Array, line?: number): boolean {
    const unsent = this.outbox.unsent(messageId);
    this.outbox.withdraw(chat.peerId, messageId).then(
      (outcome) => this.#emit({ event: "withdrawn", ...chatRef(chat), outcome, ...(line ? { line } : {}) }),
      () => {},
    );
    return unsent;
  }

  /**
   * Forgets a closed chat: its record (the peer's keys, our names, settings) leaves the keystore, which
   * is written, and then its history file is deleted (a crash in between leaves a file nobody names,
   * which the next start removes).
   */
  async forget(chat: ChatRecord): Promise<void> {
    await this.run(() => {
      const at = this.contents.chats.indexOf(chat);
      if (at < 0) return;
      this.contents.chats.splice(at, 1);
      chat.history = [];
      this.#markers.delete(bytesToHex(chat.peerId));
      if (this.#active && equalBytes(this.#active, chat.peerId)) {
        this.#active = this.contents.chats.find((c) => c.state !== "closed")?.peerId ?? null;
      }
    });
    await this.save();
    await this.options.history?.forget(chat);
  }

  /** Takes back one of our texts (delete for everyone); true if it never left this client. */
  withdrawText(chat: ChatRecord, line: HistoryEntry): boolean {
    return this.#withdraw(chat, line.messageId, line.seq);
  }

  /** The link to the relay, or null while offline. */
  get link(): Link | null {
    return this.#link;
  }

  /** True if the peer is connected to the relay (known only for open chats). */
  isOnline(chat: ChatRecord): boolean {
    return this.#online.has(bytesToHex(chat.peerId));
  }

  /** The chat with a peer. */
  chat(peerId: Uint8Array): ChatRecord | undefined {
    return this.contents.chats.find((c) => equalBytes(c.peerId, peerId));
  }

  /** True if the user blocked this ID (the local list: whatever the relay says, no chat with it opens). */
  isBlocked(peerId: Uint8Array): boolean {
    return this.contents.blocked.some((id) => equalBytes(id, peerId));
  }

  /** Adds an ID to the local block list (false if the list is full) or takes it off. */
  setBlocked(peerId: Uint8Array, blocked: boolean): boolean {
    const list = this.contents.blocked;
    const at = list.findIndex((id) => equalBytes(id, peerId));
    if (!blocked) {
      if (at >= 0) list.splice(at, 1);
      return true;
    }
    if (at >= 0) return true;
    if (list.length >= MAX_BLOCKED) return false;
    list.push(peerId);
    return true;
  }

  /** Runs `fn` after every operation queued before it; one at a time. */
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.#serial.then(fn);
    this.#serial = next.catch(() => {});
    return next;
  }

  /** Asks for a keystore write; a failure stops the client. */
  save(): Promise<void> {
    const saved = this.options.store.save();
    saved.catch((e) => this.options.fatal(e));
    return saved;
  }

  #emit(event: ClientEvent): void {
    this.options.emit(event);
  }

  #now(): number {
    return this.options.clock.now();
  }

  /** A new chat record, not yet asked for. */
  newChat(peerId: Uint8Array, nickname: string, curve: CurveName): ChatRecord {
    return newChatRecord(peerId, curve, nickname, this.#now());
  }

  /** Closes a chat here: its session is destroyed, its queue and transfers dropped. */
  close(chat: ChatRecord): void {
    chat.state = "closed";
    chat.session?.destroy();
    chat.session = null;
    this.#online.delete(bytesToHex(chat.peerId));
    for (const e of this.outbox.takeAll(chat.peerId)) {
      const line = chat.history.find((h) => h.kind === "out" && h.textId === e.textId && e.textId > 0);
      if (line && (line.status === "pending" || line.status === "queued")) {
        line.status = "failed";
        changed(chat, line);
      }
    }
    this.stoppedTyping(chat);
    this.transfers.cancelChat(chat.peerId, "the chat was closed");
    this.#receiver.dropAll(chat).catch(() => {});
  }

  // ---- the link ---------------------------------------------------------------------------------------

  /** A link is up: reconciles with the relay's Welcome, rotates prekeys if due, sends the queue. */
  attach(link: Link): Promise<void> {
    return this.run(() => {
      this.#link = link;
      const w = link.welcome;
      this.#online = new Set(w.chats.filter((c) => c.online).map((c) => bytesToHex(c.peerId)));
      for (const chat of this.contents.chats) {
        const open = w.chats.some((c) => equalBytes(c.peerId, chat.peerId));
        const asked = w.requests.some((r) => equalBytes(r.peerId, chat.peerId));
        if (chat.state === "closed" && open) this.request({ type: "close-chat", peerId: chat.peerId }, chat);
        if (chat.state === "requested" && !open && !asked) this.askFor(chat);
      }
      const rotated = this.contents.prekeys.rotate(this.identity, this.#now(), this.random);
      // A keystore from before PQXDH got its last-resort KEM prekey from `rotate`; it (or one whose
      // one-time KEM prekeys were all used) needs one-time ones too: no relay asks a client that has never
      // uploaded any.
      const kem = this.contents.prekeys.oneTimeKemCount() > 0 ? false : this.#addKemPrekeys(0);
      if (rotated.length > 0 || kem) this.#upload(link);
      this.outbox.attach(link);
      this.#asked.clear(); // the relay lists them again
      if (this.#inbox) this.#sendOptions(link);
      if ("groupRequest" in link) return this.groups.attach(link as Link & GroupLinkPart);
    });
  }

  // ---- the requests inbox -----------------------------------------------------------------------------
  //
  // Off by default. On, the relay tells this connection who has a pending request for us (ChatAsked); the
  // requester learns nothing of it. Accepting is asking back (/chat ID), ignoring is DismissRequest (the
  // relay stops announcing it; the requester is not told), blocking is /block.

  /** True while we ask the relay to tell us who asks to chat. */
  get requestsInbox(): boolean {
    return this.#inbox;
  }

  /**
   * Turns the requests inbox on or off, telling the relay if connected (and at each connection). The
   * caller stores the setting (client/actions.ts): this is what the run does with it.
   */
  setRequestsInbox(on: boolean): void {
    this.#inbox = on;
    if (!on) this.#asked.clear();
    if (this.#link) this.#sendOptions(this.#link);
  }

  /** Who asked to chat with us and waits for an answer, oldest first (requests inbox). */
  get asked(): Asked[] {
    const now = this.#now();
    return [...this.#asked.values()].filter((a) => a.expiresAt > now && !this.isBlocked(a.peerId));
  }

  /** Ignores `peerId`'s request: forgotten here, and the relay announces it no more. */
  ignoreRequest(peerId: Uint8Array): void {
    this.#asked.delete(bytesToHex(peerId));
    if (this.#link?.everyday === false) return;
    this.request({ type: "dismiss-request", peerId }, undefined, undefined, true);
  }

  #sendOptions(link: Link): void {
    if (link.everyday === false) {
      if (this.#inbox) {
        this.#inbox = false;
        this.#emit({
          event: "error",
          message: "This relay is too old for the requests inbox; it stays off.",
        });
      }
      return;
    }
    this.request({ type: "set-options", options: this.#inbox ? OPTION_REQUESTS_INBOX : 0 });
  }

  /** The relay says `f.peerId` asked to chat with us. */
  #chatAsked(f: Extract<ServerFrame, { type: "chat-asked" }>): void {
    if (!this.#inbox || this.isBlocked(f.peerId) || equalBytes(f.peerId, this.identity.id)) return;
    const chat = this.chat(f.peerId);
    if (chat !== undefined && chat.state !== "closed") return; // we asked too: it opens by itself
    const key = bytesToHex(f.peerId);
    this.#asked.delete(key);
    this.#asked.set(key, { peerId: f.peerId, curve: f.curve, expiresAt: f.expiresAt });
    if (this.#asked.size > MAX_ASKED) this.#asked.delete(this.#asked.keys().next().value!);
    this.#emit({
      event: "chat-asked",
      chat: formatId(f.peerId),
      curve: f.curve,
      expires: new Date(f.expiresAt).toISOString(),
    });
  }

  // ---- withdrawal -------------------------------------------------------------------------------------

  /**
   * Delete for everyone, at the relay: withdraws our message `messageId` (an outbox entry's id) to
   * `peerId` from the relay's queue, or drops it here if it has not left (client/outbox.ts withdraw).
   */
  withdraw(peerId: Uint8Array, messageId: Uint8Array): Promise<WithdrawResult> {
    return this.outbox.withdraw(peerId, messageId);
  }

  /** The link is gone. */
  detach(): void {
    this.#link = null;
    this.groups.detach();
    this.outbox.detach();
    this.#online.clear();
  }

  /** True while a request to the relay (or a prekey upload) has not been answered and handled. */
  get busy(): boolean {
    return this.#requests > 0 || this.#uploadQueued || this.groups.busy;
  }

  /**
   * Sends a request in the background; `ok` runs (in order) if it succeeds, a failure is reported (unless
   * `quiet`: the answer does not matter to the user).
   */
  request(req: Request, chat?: ChatRecord, ok?: () => void, quiet = false): void {
    const link = this.#link;
    if (!link) return;
    this.#requests++;
    link.request(req).then((reply) => {
      if (reply.code === "ok") return ok && this.run(ok);
      if (reply.code === "no-prekeys" && req.type === "request-chat") {
        return this.run(() => this.#upload(link, () => this.request(req, chat, ok)));
      }
      if (quiet) return;
      const message = refusal(req.type, reply);
      if (chat && req.type === "request-chat" && FINAL_REFUSALS.includes(reply.code)) {
        // The request is not stored at the relay: the chat must not look as if it were waiting (B6).
        this.run(() => {
          if (chat.state !== "requested") return;
          chat.state = "closed";
          addSystemLine(chat, message, this.#now());
          this.save();
        });
      }
      this.#emit(
        chat ? { event: "error", chat: formatId(chat.peerId), message } : { event: "error", message },
      );
    }, () => {/* the link ended: it is asked again on the next one */}).finally(() => this.#requests--);
  }

  /** Asks the relay for the chat (again: requests are idempotent). */
  askFor(chat: ChatRecord): void {
    this.request({ type: "request-chat", peerId: chat.peerId, curve: chat.curve }, chat);
  }

  // ---- prekeys ----------------------------------------------------------------------------------------
  //
  // The relay replaces what it holds with each upload, keeping only one-time prekeys it still holds or has
  // never seen (by id), so every upload carries all our unused ones and a handed-out key is never served
  // twice. After login the relay says PrekeysLow while it holds none of ours (first login) or few.

  /** The relay holds few one-time prekeys on `curve`: make more (unless it never had ours) and publish. */
  #replenish(curve: CurveName, remaining: number): void {
    const link = this.#link;
    if (!link) return;
    if (this.contents.registered.has(link.pin)) {
      const room = MAX_ONE_TIME_PREKEYS - this.contents.prekeys.oneTimeCount(curve);
      const count = Math.max(0, Math.min(room, ONE_TIME_PREKEYS - remaining));
      if (count > 0) this.contents.prekeys.addOneTimePrekeys(curve, count, this.random);
    }
    this.#upload(link);
  }

  /**
   * Makes one-time KEM prekeys until the relay would hold ONE_TIME_KEM_PREKEYS (it holds `remaining`), as
   * far as the prekey store has room (handed-out keys stay in it until used); true if it made any.
   */
  #addKemPrekeys(remaining: number): boolean {
    const room = MAX_ONE_TIME_KEM_PREKEYS - this.contents.prekeys.oneTimeKemCount();
    const count = Math.max(0, Math.min(room, ONE_TIME_KEM_PREKEYS - remaining));
    if (count > 0) this.contents.prekeys.addOneTimeKemPrekeys(this.identity, count, this.#now(), this.random);
    return count > 0;
  }

  /**
   * Publishes the current signed prekeys and every unused one-time prekey once the keystore holding
   * them is written; requests made meanwhile share one upload. `then` runs once it is accepted.
   */
  #upload(link: Link, then?: () => void): void {
    if (then) this.#afterUpload.push(then);
    if (this.#uploadQueued) return;
    this.#uploadQueued = true;
    this.save().then(() =>
      this.run(() => {
        this.#uploadQueued = false;
        const waiting = this.#afterUpload.splice(0);
        if (this.#link !== link) return;
        const bundle = this.contents.prekeys.bundle(this.identity.publicKeys);
        this.request({ type: "upload-prekeys", bundle }, undefined, () => {
          this.contents.registered.add(link.pin);
          this.save();
          for (const f of waiting) f();
        });
      }), () => {});
  }

  // ---- frames from the relay --------------------------------------------------------------------------

  /** Handles one frame from the relay (after login). */
  frame(f: ServerFrame): Promise<void> {
    return this.run(() => this.#frame(f));
  }

  async #frame(f: ServerFrame): Promise<void> {
    switch (f.type) {
      case "queued": {
        const entry = this.outbox.take(f.messageId);
        if (!entry) return;
        const marked = this.#mark(entry.peerId, entry.textId, "queued");
        if (marked) {
          const [chat, line] = marked;
          this.#emit({ event: "queued", ...chatRef(chat), id: entry.textId, at: "relay", line: line.seq });
        }
        this.transfers.queued(bytesToHex(f.messageId));
        this.save();
        return;
      }
      case "refused": {
        if (RETRYABLE.includes(f.reason)) return this.outbox.retryLater(f.messageId);
        const entry = this.outbox.take(f.messageId);
        if (!entry) return;
        const marked = this.#mark(entry.peerId, entry.textId, "failed");
        const reason = refusalReason(f.reason);
        if (marked) {
          const [chat, line] = marked;
          this.#emit({ event: "refused", ...chatRef(chat), id: entry.textId, reason, line: line.seq });
        }
        this.transfers.refused(bytesToHex(f.messageId), reason);
        this.save();
        return;
      }
      case "delivered":
        // Only the relay's word, and sent only if we are connected then: ✓✓ comes from the peer's own
        // end-to-end receipt instead (client/receive.ts), which waits in our queue if we are offline.
        return;
      case "deliver":
        return await this.#deliver(f);
      case "chat-opened": {
        const refused = this.#opened(f);
        if (refused) {
          // Acknowledged all the same, so a relay that insists cannot make the client fail at every login.
          this.#emit({ event: "chat-refused", chat: formatId(f.peerId), reason: refused });
          this.request({ type: "close-chat", peerId: f.peerId }, undefined, undefined, true);
        }
        return this.outbox.ack(f.eventId);
      }
      case "chat-closed": {
        const chat = this.chat(f.peerId);
        if (chat && chat.state !== "closed") {
          this.close(chat);
          addSystemLine(chat, "the chat was closed", this.#now());
          this.#emit({ event: "peer-closed", ...chatRef(chat) });
        }
        return this.outbox.ack(f.eventId);
      }
      case "peer-online":
      case "peer-offline": {
        const chat = this.chat(f.peerId);
        if (!chat) return;
        const online = f.type === "peer-online";
        if (online) this.#online.add(bytesToHex(f.peerId));
        else this.#online.delete(bytesToHex(f.peerId));
        this.#emit({ event: "presence", ...chatRef(chat), online });
        return;
      }
      case "prekeys-low":
        return this.#replenish(f.curve, f.remaining);
      case "kem-prekeys-low":
        // Sent only once the relay holds our KEM prekeys; nothing to publish if the store has no room.
        if (this.#link && this.#addKemPrekeys(f.remaining)) this.#upload(this.#link);
        return;
      case "chat-asked":
        return this.#chatAsked(f);
      case "error":
        this.#emit({ event: "error", message: `The relay reported: ${f.message}.` });
        return;
      case "group-deliver":
      case "invite-accepted":
        return await this.groups.frame(f);
    }
  }

  /** Sets the delivery status of our text `textId` to a peer; the chat and line if it is a text. */
  #mark(
    peerId: Uint8Array,
    textId: number,
    status: "queued" | "failed",
  ): [ChatRecord, HistoryEntry] | undefined {
    const chat = this.chat(peerId);
    const line = chat?.history.findLast((h) => h.kind === "out" && h.textId === textId);
    if (!chat || textId === 0 || !line) return undefined;
    if (status === "failed" ? line.status === "pending" || line.status === "queued" : advance(line, status)) {
      line.status = status;
      changed(chat, line);
    }
    return [chat, line];
  }

  /**
   * Checks a chat's identity against its verified mark: keys that differ from the ones the user
   * verified hold sending until the user looks (the loud warning of docs/client.md, "Verification").
   */
  #checkIdentity(chat: ChatRecord): void {
    const fingerprint = identityFingerprint(chat);
    if (!chat.verified || !fingerprint || equalBytes(fingerprint, chat.verified)) return;
    if (chat.warning === "identity-changed") return;
    chat.warning = "identity-changed";
    addSystemLine(
      chat,
      "WARNING: these identity keys differ from the ones you verified; sending is held until you look (/verify)",
      this.#now(),
    );
    this.#emit({ event: "identity-changed", ...chatRef(chat), reason: "keys" });
  }

  /**
   * A chat opened at the relay. It is taken only if the user asked for it (the chat is "requested") or it
   * was open already (a repeat), and never for a blocked ID: a relay cannot open chats nobody asked for,
   * reopen closed or blocked ones, or grow the keystore past its limit. Returns why it was refused, or
   * null.
   */
  #opened(f: Extract<ServerFrame, { type: "chat-opened" }>): "not-asked" | "closed" | "blocked" | null {
    const chat = this.chat(f.peerId);
    if (this.isBlocked(f.peerId)) return "blocked";
    if (!chat) return "not-asked";
    if (chat.state === "closed") return "closed";
    try {
      checkId(f.peerId, f.identity, "the identity keys the relay sent");
    } catch {
      const message = `The relay sent keys for ${
        formatId(f.peerId)
      } that are not theirs; the chat was not started.`;
      this.#emit({ event: "error", message });
      return null;
    }
    if (chat.state === "open" && chat.role === f.role && (f.role === "responder" || chat.session)) {
      return null;
    }
    this.#asked.delete(bytesToHex(f.peerId));
    chat.state = "open";
    chat.role = f.role;
    chat.curve = f.curve;
    chat.peerIdentity = f.identity;
    this.#checkIdentity(chat);
    if (f.online) this.#online.add(bytesToHex(f.peerId));
    if (f.role === "initiator") {
      try {
        chat.session?.destroy();
        chat.session = initiate(this.identity, f.peerId, f.bundle!, {
          now: this.#now(),
          curve: f.curve,
          random: this.random,
        });
      } catch (e) {
        chat.session = null;
        this.#emit({ event: "error", ...chatRef(chat), message: startFailure(e, chatName(chat)) });
        return null;
      }
      // The responder can answer only once it has our first message: send one now if nothing waits.
      if (!this.outbox.has(f.peerId)) this.outbox.add(chat, { type: "text", id: 0, text: "" }, 0);
      this.outbox.encryptWaiting(chat);
    }
    addSystemLine(chat, `the chat is open (${f.curve}, post-quantum: PQXDH)`, this.#now());
    this.#active ??= chat.peerId;
    this.#emit({
      event: "chat-open",
      ...chatRef(chat),
      role: f.role,
      curve: f.curve,
      pq: isPostQuantum(chat),
    });
    return null;
  }

  async #deliver(f: Extract<ServerFrame, { type: "deliver" }>): Promise<void> {
    const chat = this.chat(f.from);
    if (!chat || chat.state !== "open") return this.outbox.ack(f.messageId);
    let payload: Payload;
    try {
      const plain = this.#decrypt(chat, f.body);
      if (isGroupChatPayload(plain)) {
        // An invitation to a group (client/groups.ts): acknowledged once it is kept.
        await this.groups.fromChat(chat.peerId, plain);
        return this.outbox.ack(f.messageId);
      }
      payload = decodePayload(plain);
    } catch (e) {
      if (!(e instanceof ProtocolError && e.code === "duplicate")) {
        const message = e instanceof ProtocolError && e.code === "unsupported" && /^payload:/.test(e.message)
          ? `${chatName(chat)} sent something this client does not know (${
            (e as Error).message
          }); it was skipped.`
          : readFailure(e, chatName(chat), f.body);
        this.#emit({ event: "error", ...chatRef(chat), message });
      }
      return this.outbox.ack(f.messageId);
    }
    const now = this.#now();
    const before = chat.history.at(-1);
    await this.#receiver.handle(chat, payload, f.queuedAt > 0 && f.queuedAt <= now ? f.queuedAt : now);
    if (payload.type === "text" && payload.id !== 0 && chat.history.at(-1) !== before) {
      this.#receipt(chat, payload.id);
      // On screen now: read (its receipt goes after the delivery receipt, if the user opted in).
      if (this.#active && equalBytes(this.#active, chat.peerId)) {
        this.#sendReceipts();
        this.markRead(chat);
      }
    }
    this.outbox.ack(f.messageId);
  }

  /**
   * Tells the peer, end to end, that its text `id` is here (stored before the receipt leaves): its ✓✓.
   * Receipts for the messages of one burst go together, up to MAX_RECEIPT_IDS ids in one.
   */
  #receipt(chat: ChatRecord, id: number): void {
    const key = bytesToHex(chat.peerId);
    const ids = this.#receipts.get(key) ?? [];
    ids.push(id);
    this.#receipts.set(key, ids);
    if (ids.length >= MAX_RECEIPT_IDS) this.#sendReceipts();
    else this.#receiptTimer ??= setTimeout(() => this.run(() => this.#sendReceipts()).catch(() => {}), 0);
  }

  #sendReceipts(): void {
    clearTimeout(this.#receiptTimer);
    this.#receiptTimer = undefined;
    for (const [key, ids] of this.#receipts) {
      const chat = this.contents.chats.find((c) => bytesToHex(c.peerId) === key);
      // A full queue drops the receipt: the peer's text stays at ✓, which is all that is lost.
      if (chat?.state === "open" && chat.session && !this.outbox.full) {
        this.outbox.add(chat, { type: "receipt", kind: "delivered", ids }, 0);
      }
    }
    this.#receipts.clear();
  }

  /** Decrypts with the chat's session, or accepts a new session from an initial message. */
  #decrypt(chat: ChatRecord, body: Uint8Array): Uint8Array {
    const m = decodeMessage(body);
    if (chat.session) {
      try {
        return chat.session.decrypt(body);
      } catch (e) {
        if (!(e instanceof ProtocolError && e.code === "new-session")) throw e;
      }
    }
    if (m.prekey === null) {
      throw new ProtocolError("undecryptable", "there is no session to read it with yet");
    }
    // ID_A, the initiator named in the handshake, must be the relay's `from` and the chat's peer (the one
    // ChatOpened named): checked before anything of the handshake is used, so a relay that passes one
    // person's initial message off as another's changes nothing here (not even a one-time prekey).
    if (!idMatches(chat.peerId, m.prekey.identity)) {
      throw new ProtocolError("id-mismatch", "it was started by another identity than the sender's");
    }
    const r = respond(this.identity, this.contents.prekeys, body, { now: this.#now(), random: this.random });
    if (!equalBytes(r.peerId, chat.peerId)) {
      r.session.destroy();
      throw new ProtocolError("wrong-recipient", "it was started by another identity");
    }
    chat.session?.destroy();
    chat.session = r.session;
    chat.peerIdentity = r.peerIdentity;
    this.#checkIdentity(chat);
    this.outbox.encryptWaiting(chat);
    return r.plaintext;
  }

  /** Stops the transfers (their peers are told) and waits for the last keystore write. */
  async shutdown(): Promise<void> {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#nextExpiry = -Infinity; // no sweep is scheduled any more
    for (const t of this.#typing.values()) clearTimeout(t.idle);
    this.#typing.clear();
    this.outbox.stop();
    this.groupFiles.stop();
    await this.transfers.stop();
    await this.groups.shutdown();
    await this.run(() => this.#sendReceipts());
    await this.options.store.save().catch(() => {});
  }
}

function refusalReason(code: ResultCode): string {
  switch (code) {
    case "no-chat":
      return "the chat is not open at the relay";
    case "too-large":
      return "it is too large";
    case "not-allowed":
      return "the relay does not allow it";
    default:
      return `the relay refused it (${code})`;
  }
}

function refusal(type: Request["type"], reply: Reply): string {
  const what = {
    "upload-prekeys": "Publishing your prekeys",
    "request-chat": "Asking for the chat",
    "cancel-request": "Cancelling the request",
    "block": "Blocking",
    "unblock": "Unblocking",
    "close-chat": "Closing the chat",
    "set-options": "Changing the requests inbox",
    "dismiss-request": "Ignoring the request",
  }[type];
  const why: Partial<Record<ResultCode, string>> = {
    "rate-limited": "too many requests; try again in a minute",
    "not-allowed": "not allowed (have you blocked this ID? /unblock ID)",
    "limit": "you have reached the relay's limit of chats and requests",
    "bad-request": "the relay says it does not make sense",
    "no-chat": "there is no such chat at the relay",
  };
  // The relay's own detail is a sentence fragment saying why; ours stands in when it gives none.
  const reason = reply.detail.replace(/\.$/, "") || why[reply.code] || `the relay answered ${reply.code}`;
  return `${what} failed: ${reason}.`;
}
