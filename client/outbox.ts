// The outgoing queue and the acknowledgements: the two places where the order of "write the keystore"
// and "tell the relay" decides whether a crash can lose or break anything. A payload is encrypted into
// the queue (or kept as plaintext until its chat has a session), and the ratchet message leaves only once
// the keystore holding it (and the session that made it) is written: a crash can never reuse a message
// key. It stays queued until the relay says it stored it (Queued), and is sent again, with the same id,
// on every reconnect until then; the relay drops a repeat. Acks of received messages likewise wait for
// the keystore write that holds their effect, batched per write.

import { bytesToHex, equalBytes, type RandomSource } from "../crypto/bytes.ts";
import {
  type ChatRecord,
  type KeystoreContents,
  MAX_OUTBOX,
  type OutboxEntry,
} from "../protocol/keystore.ts";
import { encodePayload, type Payload } from "../protocol/payload.ts";
import { MAX_ACK_IDS } from "../protocol/wire.ts";
import type { Clock } from "./backoff.ts";

/** Milliseconds before messages the relay refused for a passing reason are sent again. */
export const RETRY_MS = 5_000;

/** What the outbox sends through (client/connection.ts RelayLink). */
export interface Sender {
  send(
    frame: { type: "send"; to: Uint8Array; messageId: Uint8Array; body: Uint8Array } | {
      type: "ack";
      ids: Uint8Array[];
    },
  ): void;
}

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
  /** Entries added by this process that have never been handed to a link: they can be taken back. */
  readonly #unsent = new WeakSet<OutboxEntry>();
  #ackBatch: { saved: Promise<void>; ids: Uint8Array[] } | null = null;

  constructor(options: OutboxOptions) {
    this.#o = options;
  }

  get #queue(): OutboxEntry[] {
    return this.#o.contents.outbox;
  }

  /** Connected: sends every stored, encrypted entry, in order. */
  attach(sender: Sender): void {
    this.#sender = sender;
    this.#inflight.clear();
    this.#sendAll();
  }

  /** Disconnected: what was not answered goes again on the next link. */
  detach(): void {
    this.#sender = null;
    this.#inflight.clear();
  }

  /**
   * Queues a payload for a chat: encrypted now if the chat has a session, else kept as plaintext until
   * {@link encryptWaiting}. It leaves once the keystore holding it is written. `expiresAt` (ms, or 0) is
   * when the message it carries disappears: kept with it so the relay can be told (once its protocol can
   * carry it), and so it is not sent once it has lapsed.
   */
  add(chat: ChatRecord, payload: Payload, textId: number, expiresAt = 0): OutboxEntry {
    const bytes = encodePayload(payload);
    const entry: OutboxEntry = {
      messageId: this.#o.random(16),
      peerId: chat.peerId,
      kind: chat.session ? "message" : "payload",
      bytes: chat.session ? chat.session.encrypt(bytes) : bytes,
      textId,
      createdAt: this.#o.clock.now(),
      expiresAt,
    };
    this.#queue.push(entry);
    this.#unsent.add(entry);
    this.#afterSave([entry]);
    return entry;
  }

  /**
   * Takes a message back (a delete, or a disappearing message that lapsed): "removed" if it never left
   * this client (it is dropped here and the peer never sees it; a ratchet message that never arrives is
   * only a skipped key to them), "sent" if it may be at the relay already (it stays queued until the
   * relay answers; the caller asks the relay to withdraw it and tells the peer), "gone" if the relay has
   * stored it (or it was never here).
   */
  withdraw(messageId: Uint8Array): "removed" | "sent" | "gone" {
    const entry = this.#queue.find((e) => equalBytes(e.messageId, messageId));
    if (!entry) return "gone";
    if (entry.kind === "payload" || this.#unsent.has(entry)) {
      this.take(messageId);
      this.#unsaved.delete(entry);
      return "removed";
    }
    return "sent";
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
    this.#unsent.delete(entry);
    this.#inflight.add(id);
    sender.send({ type: "send", to: entry.peerId, messageId: entry.messageId, body: entry.bytes });
  }

  #sendAll(): void {
    for (const entry of this.#queue) this.#send(entry);
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
