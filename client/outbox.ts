// The outgoing queue and the acknowledgements: the two places where the order of "write the keystore"
// and "tell the relay" decides whether a crash can lose or break anything. A payload is encrypted into
// the queue (or kept as plaintext until its chat has a session), and the ratchet message leaves only once
// the keystore holding it (and the session that made it) is written: a crash can never reuse a message
// key. It stays queued until the relay says it stored it (Queued), and is sent again, with the same id,
// on every reconnect until then; the relay drops a repeat. Acks of received messages likewise wait for
// the keystore write that holds their effect, batched per write. An entry may carry when it lapses (a
// disappearing message): the relay is given what is left of its lifetime, and a lapsed entry is not sent.
// A sent message can be withdrawn from the relay's queue by its message id (delete for everyone).

import { bytesToHex, equalBytes, type RandomSource } from "../crypto/bytes.ts";
import {
  type ChatRecord,
  type KeystoreContents,
  MAX_OUTBOX,
  type OutboxEntry,
} from "../protocol/keystore.ts";
import { encodePayload, type Payload } from "../protocol/payload.ts";
import { MAX_ACK_IDS, type WithdrawOutcome } from "../protocol/wire.ts";
import type { Clock } from "./backoff.ts";

/** Milliseconds before messages the relay refused for a passing reason are sent again. */
export const RETRY_MS = 5_000;

/** Withdrawals waiting for a connection, at most (the oldest is forgotten beyond). */
export const MAX_PENDING_WITHDRAWALS = 1000;

/** What the outbox sends through (client/connection.ts RelayLink). */
export interface Sender {
  /** A Send (`ttl`: ms the relay may keep it; absent, the relay's own limit) or an Ack. */
  send(
    frame: { type: "send"; to: Uint8Array; messageId: Uint8Array; body: Uint8Array; ttl?: number } | {
      type: "ack";
      ids: Uint8Array[];
    },
  ): void;
  /** Withdraws a queued message at the relay (absent: a link that cannot; see RelayLink.withdraw). */
  withdraw?(to: Uint8Array, messageId: Uint8Array): Promise<WithdrawOutcome>;
}

/**
 * What became of a withdrawal: the relay's answer ("withdrawn", "sent", "not-found"); "unsent" (it had
 * not left this client: dropped here, nothing reached the relay); "pending" (not connected: it is asked
 * at the next connection); "unsupported" (the relay is older than Withdraw).
 */
export type WithdrawResult = WithdrawOutcome | "unsent" | "pending" | "unsupported";

/** What the outbox needs. */
export interface OutboxOptions {
  contents: KeystoreContents;
  /** Asks for a keystore write (coalesced); rejects if it failed. */
  save(): Promise<void>;
  random: RandomSource;
  clock: Clock;
}

/** The outgoing queue, kept in the keystore's `outbox`. */
export class Outbox {
  readonly #o: OutboxOptions;
  #sender: Sender | null = null;
  /** Entries whose keystore write has not finished: they must not leave yet. */
  readonly #unsaved = new Set<OutboxEntry>();
  /** Message ids sent on the current link and not yet answered. */
  readonly #inflight = new Set<string>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #ackBatch: { saved: Promise<void>; ids: Uint8Array[] } | null = null;
  /** Entries added by this process that have never been handed to a link: withdrawing them is local. */
  readonly #fresh = new WeakSet<OutboxEntry>();
  /** Withdrawals to ask at the next connection, by message id (hex). */
  readonly #pendingWithdrawals = new Map<string, { peerId: Uint8Array; messageId: Uint8Array }>();

  constructor(options: OutboxOptions) {
    this.#o = options;
  }

  get #queue(): OutboxEntry[] {
    return this.#o.contents.outbox;
  }

  /** Connected: sends every stored, encrypted entry, in order, and the withdrawals that waited. */
  attach(sender: Sender): void {
    this.#sender = sender;
    this.#inflight.clear();
    this.#sendAll();
    for (const { peerId, messageId } of [...this.#pendingWithdrawals.values()]) {
      this.withdraw(peerId, messageId).catch(() => {});
    }
  }

  /** Disconnected: what was not answered goes again on the next link. */
  detach(): void {
    this.#sender = null;
    this.#inflight.clear();
  }

  /**
   * Queues a payload for a chat: encrypted now if the chat has a session, else kept as plaintext until
   * {@link encryptWaiting}. It leaves once the keystore holding it is written. `expiresAt` (ms since the
   * epoch; 0 or absent: never) is when the message it carries disappears: the relay is given what is left
   * of it (SendExpiring), and a lapsed entry is not sent.
   */
  add(
    chat: ChatRecord,
    payload: Payload,
    textId: number,
    options: { expiresAt?: number } = {},
  ): OutboxEntry {
    return this.addBytes(chat, encodePayload(payload), textId, options);
  }

  /** {@link add} for a payload already encoded (a group invitation, protocol/group_payload.ts). */
  addBytes(
    chat: ChatRecord,
    bytes: Uint8Array,
    textId: number,
    options: { expiresAt?: number } = {},
  ): OutboxEntry {
    const expiresAt = options.expiresAt ?? 0;
    if (!Number.isFinite(expiresAt) || expiresAt < 0) throw new RangeError("expiresAt must be a time in ms");
    const entry: OutboxEntry = {
      messageId: this.#o.random(16),
      peerId: chat.peerId,
      kind: chat.session ? "message" : "payload",
      bytes: chat.session ? chat.session.encrypt(bytes) : bytes,
      textId,
      createdAt: this.#o.clock.now(),
      expiresAt,
    };
    this.#fresh.add(entry);
    this.#queue.push(entry);
    this.#afterSave([entry]);
    return entry;
  }

  /**
   * True if the entry with this message id is queued and has never left this client (added by this
   * process and not yet handed to a link, or still plaintext): withdrawing it is then only local.
   */
  unsent(messageId: Uint8Array): boolean {
    const entry = this.find(messageId);
    return entry !== undefined && (this.#fresh.has(entry) || entry.kind === "payload");
  }

  /** The queued entry with this message id, if it is still here. */
  find(messageId: Uint8Array): OutboxEntry | undefined {
    return this.#queue.find((e) => equalBytes(e.messageId, messageId));
  }

  /** True when the queue has no room for more texts (a little is kept for file ends and nicknames). */
  get full(): boolean {
    return this.#queue.length >= MAX_OUTBOX - 64;
  }

  /** True if anything is queued for the peer. */
  has(peerId: Uint8Array): boolean {
    return this.#queue.some((e) => equalBytes(e.peerId, peerId));
  }

  /** The chat has a session now: encrypts its waiting payloads, in order, and sends them once stored. */
  encryptWaiting(chat: ChatRecord): void {
    const session = chat.session;
    if (!session) return;
    const waiting = this.#queue.filter((e) => e.kind === "payload" && equalBytes(e.peerId, chat.peerId));
    for (const entry of waiting) {
      entry.bytes = session.encrypt(entry.bytes);
      entry.kind = "message";
    }
    if (waiting.length > 0) this.#afterSave(waiting);
  }

  #afterSave(entries: OutboxEntry[]): void {
    for (const e of entries) this.#unsaved.add(e);
    this.#o.save().then(() => {
      for (const e of entries) this.#unsaved.delete(e);
      for (const e of entries) this.#send(e);
    }, () => {});
  }

  #send(entry: OutboxEntry): void {
    const sender = this.#sender, id = bytesToHex(entry.messageId);
    if (!sender || entry.kind !== "message" || this.#unsaved.has(entry) || this.#inflight.has(id)) return;
    if (!this.#queue.includes(entry)) return;
    const frame = { type: "send", to: entry.peerId, messageId: entry.messageId, body: entry.bytes } as const;
    if (entry.expiresAt === 0) {
      this.#inflight.add(id);
      this.#fresh.delete(entry);
      return sender.send(frame);
    }
    const ttl = entry.expiresAt - this.#o.clock.now();
    if (ttl <= 0) {
      // Lapsed before it could leave: it never will (the keystore loses it with the next write).
      this.take(entry.messageId);
      this.#o.save().catch(() => {});
      return;
    }
    this.#inflight.add(id);
    this.#fresh.delete(entry);
    sender.send({ ...frame, ttl });
  }

  #sendAll(): void {
    for (const entry of [...this.#queue]) this.#send(entry);
  }

  /**
   * Withdraws our message `messageId` to `peerId` (delete for everyone): if it is still queued here it is
   * dropped, never to be sent (again); if it may have reached the relay, the relay is asked to delete it
   * from the peer's queue — now, or at the next connection if there is none. Resolves with what became of
   * it (see WithdrawResult). It does not tell the peer: that is an end-to-end payload.
   */
  async withdraw(peerId: Uint8Array, messageId: Uint8Array): Promise<WithdrawResult> {
    const id = bytesToHex(messageId);
    const entry = this.#queue.find((e) => equalBytes(e.messageId, messageId));
    if (entry !== undefined) {
      this.take(messageId);
      this.#unsaved.delete(entry);
      this.#o.save().catch(() => {});
      if (this.#fresh.has(entry) || entry.kind === "payload") return "unsent";
    }
    const sender = this.#sender;
    if (sender === null) {
      this.#pendingWithdrawals.delete(id);
      this.#pendingWithdrawals.set(id, { peerId, messageId });
      if (this.#pendingWithdrawals.size > MAX_PENDING_WITHDRAWALS) {
        this.#pendingWithdrawals.delete(this.#pendingWithdrawals.keys().next().value!);
      }
      return "pending";
    }
    if (sender.withdraw === undefined) {
      this.#pendingWithdrawals.delete(id);
      return "unsupported";
    }
    try {
      const outcome = await sender.withdraw(peerId, messageId);
      this.#pendingWithdrawals.delete(id);
      return outcome;
    } catch (e) {
      if ((e as Error).name === "UnsupportedByRelayError") {
        this.#pendingWithdrawals.delete(id);
        return "unsupported";
      }
      // The link ended before the answer: asked again on the next one.
      this.#pendingWithdrawals.set(id, { peerId, messageId });
      return "pending";
    }
  }

  /** Removes and returns the entry with this message id (stored by the relay, or refused for good). */
  take(messageId: Uint8Array): OutboxEntry | undefined {
    const at = this.#queue.findIndex((e) => equalBytes(e.messageId, messageId));
    this.#inflight.delete(bytesToHex(messageId));
    return at < 0 ? undefined : this.#queue.splice(at, 1)[0];
  }

  /** Removes and returns every entry for a peer (its chat closed). */
  takeAll(peerId: Uint8Array): OutboxEntry[] {
    const mine = this.#queue.filter((e) => equalBytes(e.peerId, peerId));
    for (const e of mine) this.take(e.messageId);
    return mine;
  }

  /** The relay refused a message for a passing reason: it stays queued and goes again in RETRY_MS. */
  retryLater(messageId: Uint8Array): void {
    this.#inflight.delete(bytesToHex(messageId));
    if (this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#sendAll();
    }, RETRY_MS);
  }

  /** Acknowledges a received message or event once the keystore holding its effect is written. */
  ack(id: Uint8Array): void {
    const saved = this.#o.save();
    if (this.#ackBatch?.saved === saved && this.#ackBatch.ids.length < MAX_ACK_IDS) {
      this.#ackBatch.ids.push(id);
      return;
    }
    const batch = { saved, ids: [id] };
    this.#ackBatch = batch;
    const sender = this.#sender;
    saved.then(() => {
      if (this.#ackBatch === batch) this.#ackBatch = null;
      if (sender && sender === this.#sender) sender.send({ type: "ack", ids: batch.ids });
    }, () => {});
  }

  /** True while something encrypted waits for the relay (or for its keystore write). */
  get busy(): boolean {
    return this.#unsaved.size > 0 || this.#queue.some((e) => e.kind === "message");
  }

  /**
   * Waits (at most `ms`, while connected or `hopeful`) until the relay has stored every encrypted
   * entry: a line typed just before quitting has then left. The rest goes on the next start.
   */
  async drain(ms: number, hopeful: () => boolean): Promise<void> {
    const until = this.#o.clock.now() + ms;
    while (this.busy && this.#o.clock.now() < until && (this.#sender !== null || hopeful())) {
      await this.#o.clock.sleep(20);
    }
  }

  /** Stops the retry timer. */
  stop(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }
}
