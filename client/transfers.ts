// Sending files: each transfer is a background task that hashes the file, offers it (name, size,
// SHA-256), waits for the peer's answer (nothing is streamed to someone who did not accept), then sends it
// in chunks as ratchet messages, with at most WINDOW chunks not yet stored by the relay (so a large file
// neither fills the keystore's queue nor the relay's), and ends with a file-end. Progress counts the bytes
// the relay has stored. A transfer stops, telling the peer, when the chat closes, the relay refuses a
// chunk, the file changes underneath, or the client quits; an interrupted transfer is not resumed.

import { bytesToHex, equalBytes, type RandomSource } from "../crypto/bytes.ts";
import { FILE_ID_BYTES, type Payload } from "../protocol/payload.ts";
import type { ChatNames, ClientEvent } from "./events.ts";
import { FileError, inspectFile, readChunks } from "./files.ts";

/** Chunks (of 32 KiB) sent but not yet stored by the relay, per transfer. */
export const WINDOW = 16;

/** What transfers need of the chats. */
export interface TransferHooks {
  /** Runs `fn` in the chats' one-at-a-time order. */
  run<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Queues a payload for the peer's open chat; its message id (hex), or null if the chat cannot send. */
  enqueue(peerId: Uint8Array, payload: Payload): string | null;
  emit(event: ClientEvent): void;
  /** The peer's formatted ID. */
  label(peerId: Uint8Array): ChatNames;
  /** Adds a line to the chat's history (what became of a file). */
  note(peerId: Uint8Array, text: string): void;
}

/** An outgoing transfer as a view shows it. */
export interface OutgoingFile {
  file: string;
  name: string;
  size: number;
  bytes: number;
  answer: "waiting" | "accepted" | "declined";
}

interface Transfer {
  peerId: Uint8Array;
  fileId: Uint8Array;
  name: string;
  size: number;
  /** Bytes the relay has stored. */
  queuedBytes: number;
  /** Message ids not yet stored by the relay → the file bytes they carry. */
  pending: Map<string, number>;
  cancelled: string | null;
  /** The peer's answer to the offer. */
  answer: "waiting" | "accepted" | "declined";
  wake: (() => void) | null;
  reported: number;
  done: Promise<void>;
}

/** Outgoing file transfers. */
export class Transfers {
  readonly #hooks: TransferHooks;
  readonly #running = new Set<Transfer>();

  constructor(hooks: TransferHooks) {
    this.#hooks = hooks;
  }

  /** What is being sent (accepted by the peer), for progress bars. */
  get active(): { name: string; bytes: number; size: number }[] {
    return [...this.#running].filter((t) => t.size > 0 && t.answer === "accepted").map((t) => ({
      name: t.name,
      bytes: t.queuedBytes,
      size: t.size,
    }));
  }

  /**
   * The transfers to a peer, for a view that lists them (the web UI): `name` is "" while the file is being
   * read and hashed, `answer` the peer's answer to the offer, `bytes` what the relay has stored.
   */
  list(peerId: Uint8Array): OutgoingFile[] {
    return [...this.#running].filter((t) => equalBytes(t.peerId, peerId)).map((t) => ({
      file: bytesToHex(t.fileId),
      name: t.name,
      size: t.size,
      bytes: t.queuedBytes,
      answer: t.answer,
    }));
  }

  /** Transfers running to a peer. */
  count(peerId: Uint8Array): number {
    const key = bytesToHex(peerId);
    return [...this.#running].filter((t) => bytesToHex(t.peerId) === key).length;
  }

  /** Starts sending the file at `path` to the peer's open chat, in the background; returns its id (hex). */
  start(peerId: Uint8Array, path: string, random: RandomSource): string {
    const t: Transfer = {
      peerId,
      fileId: random(FILE_ID_BYTES),
      name: "",
      size: 0,
      queuedBytes: 0,
      pending: new Map(),
      cancelled: null,
      answer: "waiting",
      wake: null,
      reported: 0,
      done: Promise.resolve(),
    };
    this.#running.add(t);
    t.done = this.#send(t, path).finally(() => this.#running.delete(t));
    return bytesToHex(t.fileId);
  }

  async #send(t: Transfer, path: string): Promise<void> {
    // Named at each event: the chat's names may change while the file goes.
    const names = () => this.#hooks.label(t.peerId);
    try {
      const info = await inspectFile(path);
      if (t.cancelled) return;
      t.name = info.name;
      t.size = info.size;
      const offer: Payload = {
        type: "file-offer",
        fileId: t.fileId,
        name: info.name,
        size: info.size,
        sha256: info.sha256,
      };
      if (!(await this.#enqueue(t, offer, 0))) return this.#failed(t);
      const file = bytesToHex(t.fileId);
      this.#hooks.note(t.peerId, `you offered "${t.name}"; it is sent once they accept`);
      this.#hooks.emit({
        event: "file-offer",
        ...names(),
        direction: "send",
        file,
        name: t.name,
        size: t.size,
      });
      while (t.answer === "waiting" && !t.cancelled) await new Promise<void>((resolve) => (t.wake = resolve));
      if (t.answer === "declined") {
        this.#hooks.note(t.peerId, `they declined "${t.name}"`);
        this.#hooks.emit({ event: "file-declined", ...names(), direction: "send", file, name: t.name });
        return;
      }
      if (!t.cancelled) {
        this.#hooks.emit({
          event: "file-accepted",
          ...names(),
          direction: "send",
          file,
          name: t.name,
          size: t.size,
        });
      }
      let index = 0, read = 0;
      // A transfer cancelled while it waited for the answer sends no chunk, only the end that withdraws it.
      const chunks = t.cancelled ? [] : readChunks(path);
      for await (const data of chunks) {
        await this.#window(t, WINDOW);
        read += data.length;
        if (read > t.size) t.cancelled ??= "the file changed while it was being sent";
        if (t.cancelled) break;
        if (!(await this.#enqueue(t, { type: "file-chunk", fileId: t.fileId, index, data }, data.length))) {
          break;
        }
        index++;
      }
      if (!t.cancelled && read !== t.size) t.cancelled = "the file changed while it was being sent";
      // Accepted, the peer holds a partial file; waiting, it holds an offer: either way it is told.
      const status = t.cancelled ? "cancelled" : "complete";
      await this.#enqueue(t, { type: "file-end", fileId: t.fileId, status }, 0);
      if (t.cancelled) return this.#failed(t);
      await this.#window(t, 0);
      if (t.cancelled) return this.#failed(t);
      this.#hooks.note(t.peerId, `sent "${t.name}"`);
      this.#hooks.emit({
        event: "file-sent",
        ...names(),
        file: bytesToHex(t.fileId),
        name: t.name,
        size: t.size,
      });
    } catch (e) {
      const message = e instanceof FileError ? e.message : `Sending ${path} failed: ${(e as Error).message}.`;
      this.#hooks.emit({ event: "error", ...names(), message });
    }
  }

  /** Says once (a history line and one event) that a file was not sent. */
  #failed(t: Transfer): void {
    const reason = t.cancelled ?? "the chat is not open";
    this.#hooks.note(t.peerId, `"${t.name}" was not sent: ${reason}`);
    this.#hooks.emit({
      event: "file-failed",
      ...this.#hooks.label(t.peerId),
      direction: "send",
      file: bytesToHex(t.fileId),
      name: t.name,
      reason,
    });
  }

  /** The peer answered our offer of `fileId`; false if no transfer of ours waits for that answer. */
  answered(peerId: Uint8Array, fileId: Uint8Array, accept: boolean): boolean {
    for (const t of this.#running) {
      if (!equalBytes(t.peerId, peerId) || !equalBytes(t.fileId, fileId)) continue;
      if (t.answer !== "waiting") return true;
      t.answer = accept ? "accepted" : "declined";
      this.#wake(t);
      return true;
    }
    return false;
  }

  async #enqueue(t: Transfer, payload: Payload, bytes: number): Promise<boolean> {
    const id = await this.#hooks.run(() => this.#hooks.enqueue(t.peerId, payload));
    if (id === null) {
      t.cancelled ??= "the chat is not open, or too much is waiting to be sent";
      return false;
    }
    t.pending.set(id, bytes);
    return true;
  }

  /** Waits until at most `limit` messages of the transfer are unstored, or it is cancelled. */
  async #window(t: Transfer, limit: number): Promise<void> {
    while (t.pending.size > limit && !t.cancelled) await new Promise<void>((resolve) => (t.wake = resolve));
  }

  #wake(t: Transfer): void {
    const wake = t.wake;
    t.wake = null;
    wake?.();
  }

  /** The relay stored message `id` (hex). */
  queued(id: string): void {
    for (const t of this.#running) {
      const bytes = t.pending.get(id);
      if (bytes === undefined) continue;
      t.pending.delete(id);
      t.queuedBytes += bytes;
      if (bytes > 0 && (t.queuedBytes - t.reported >= t.size / 20 || t.queuedBytes === t.size)) {
        t.reported = t.queuedBytes;
        this.#hooks.emit({
          event: "file-progress",
          ...this.#hooks.label(t.peerId),
          direction: "send",
          file: bytesToHex(t.fileId),
          name: t.name,
          bytes: t.queuedBytes,
          size: t.size,
        });
      }
      this.#wake(t);
    }
  }

  /** The relay refused message `id` (hex) for good: its transfer stops. */
  refused(id: string, reason: string): void {
    for (const t of this.#running) {
      if (!t.pending.has(id)) continue;
      t.pending.delete(id);
      t.cancelled ??= reason;
      this.#wake(t);
    }
  }

  /** Stops every transfer to a peer (its chat closed). */
  cancelChat(peerId: Uint8Array, reason: string): void {
    const key = bytesToHex(peerId);
    for (const t of this.#running) {
      if (bytesToHex(t.peerId) !== key) continue;
      t.cancelled ??= reason;
      this.#wake(t);
    }
  }

  /** Stops one transfer to a peer (`file`: its id in hex); false if no such transfer runs. */
  cancel(peerId: Uint8Array, file: string, reason: string): boolean {
    for (const t of this.#running) {
      if (!equalBytes(t.peerId, peerId) || bytesToHex(t.fileId) !== file) continue;
      t.cancelled ??= reason;
      this.#wake(t);
      return true;
    }
    return false;
  }

  /** Stops every transfer (the client is quitting) and waits for them to end. */
  async stop(): Promise<void> {
    for (const t of this.#running) {
      t.cancelled ??= "the client was closed";
      this.#wake(t);
    }
    await Promise.all([...this.#running].map((t) => t.done));
  }
}
