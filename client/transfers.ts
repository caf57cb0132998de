// Sending files: each transfer is a background task that hashes the file, offers it (name, size,
// SHA-256), then sends it in chunks as ratchet messages, with at most WINDOW chunks not yet stored by the
// relay (so a large file neither fills the keystore's queue nor the relay's), and ends with a file-end.
// Progress counts the bytes the relay has stored. A transfer stops, telling the peer, when the chat
// closes, the relay refuses a chunk, the file changes underneath, or the client quits; an interrupted
// transfer is not resumed.

import { bytesToHex, type RandomSource } from "../crypto/bytes.ts";
import { FILE_ID_BYTES, type Payload } from "../protocol/payload.ts";
import type { ClientEvent } from "./events.ts";
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
  label(peerId: Uint8Array): string;
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

  /** What is being sent, for progress bars. */
  get active(): { name: string; bytes: number; size: number }[] {
    return [...this.#running].filter((t) => t.size > 0).map((t) => ({
      name: t.name,
      bytes: t.queuedBytes,
      size: t.size,
    }));
  }

  /** Transfers running to a peer. */
  count(peerId: Uint8Array): number {
    const key = bytesToHex(peerId);
    return [...this.#running].filter((t) => bytesToHex(t.peerId) === key).length;
  }

  /** Starts sending the file at `path` to the peer's open chat, in the background. */
  start(peerId: Uint8Array, path: string, random: RandomSource): void {
    const t: Transfer = {
      peerId,
      fileId: random(FILE_ID_BYTES),
      name: "",
      size: 0,
      queuedBytes: 0,
      pending: new Map(),
      cancelled: null,
      wake: null,
      reported: 0,
      done: Promise.resolve(),
    };
    this.#running.add(t);
    t.done = this.#send(t, path).finally(() => this.#running.delete(t));
  }

  async #send(t: Transfer, path: string): Promise<void> {
    const chat = this.#hooks.label(t.peerId);
    try {
      const info = await inspectFile(path);
      if (t.cancelled) return;
      t.name = info.name;
      t.size = info.size;
      this.#hooks.emit({ event: "info", text: `Sending "${info.name}" (${info.size} bytes) to ${chat}.` });
      const offer: Payload = {
        type: "file-offer",
        fileId: t.fileId,
        name: info.name,
        size: info.size,
        sha256: info.sha256,
      };
      if (!(await this.#enqueue(t, offer, 0))) return this.#failed(t);
      let index = 0, read = 0;
      for await (const data of readChunks(path)) {
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
      const status = t.cancelled ? "cancelled" : "complete";
      await this.#enqueue(t, { type: "file-end", fileId: t.fileId, status }, 0);
      if (t.cancelled) return this.#failed(t);
      await this.#window(t, 0);
      if (t.cancelled) return this.#failed(t);
      this.#hooks.emit({ event: "file-sent", chat, name: t.name, size: t.size });
    } catch (e) {
      const message = e instanceof FileError ? e.message : `Sending ${path} failed: ${(e as Error).message}.`;
      this.#hooks.emit({ event: "error", chat, message });
    }
  }

  #failed(t: Transfer): void {
    this.#hooks.emit({
      event: "error",
      chat: this.#hooks.label(t.peerId),
      message: `"${t.name}" was not sent: ${t.cancelled ?? "the chat is not open"}.`,
    });
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
          chat: this.#hooks.label(t.peerId),
          direction: "send",
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

  /** Stops every transfer (the client is quitting) and waits for them to end. */
  async stop(): Promise<void> {
    for (const t of this.#running) {
      t.cancelled ??= "the client was closed";
      this.#wake(t);
    }
    await Promise.all([...this.#running].map((t) => t.done));
  }
}
