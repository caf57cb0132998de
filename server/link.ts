// One client connection as the relay sees it: frames out through a bounded queue drained by a single
// writer, so a slow reader never blocks the relay; when the queue would pass its limit, or a write makes
// no progress for too long, the connection is aborted. Reading stays with the caller (relay.ts).

import { concatBytes } from "../crypto/bytes.ts";
import type { TlsConnection } from "../protocol/tls13/connection.ts";
import { encodeFrame, type ServerFrame } from "../protocol/wire.ts";

/** Bytes written to TLS at a time at most (small frames queued together go out in one write). */
const BATCH_BYTES = 64 * 1024;

/** Limits of a link. */
export interface LinkLimits {
  /** Encoded frames waiting to be written, in bytes, beyond which the link is aborted. */
  maxQueuedBytes: number;
  /** Milliseconds one write may take before the link is aborted. */
  writeStallMs: number;
}

/** The sending side of a connection. */
export class Link {
  readonly #conn: TlsConnection;
  readonly #limits: LinkLimits;
  readonly #onEnd: () => void;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #draining: Promise<void> | null = null;
  #closed = false;
  #aborted = false;

  /** `onEnd` runs once, when the link is closed or aborted. */
  constructor(conn: TlsConnection, limits: LinkLimits, onEnd: () => void) {
    this.#conn = conn;
    this.#limits = limits;
    this.#onEnd = onEnd;
  }

  /** The TLS connection (for the exporter). */
  get conn(): TlsConnection {
    return this.#conn;
  }

  /** True once `close` or `abort` was called: nothing more is sent. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True if the link was aborted (queue overflow, stalled write, or an explicit abort). */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Bytes queued and not yet written. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Queues a frame; false if the link is closed or the frame overflowed the queue (which aborts it). */
  send(frame: ServerFrame): boolean {
    if (this.#closed) return false;
    const bytes = encodeFrame(frame);
    if (this.#queued + bytes.length > this.#limits.maxQueuedBytes) {
      this.abort();
      return false;
    }
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#draining ??= this.#drain();
    return true;
  }

  /** Stops sending: what is queued is still written (within the stall limit), then TLS is closed. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#onEnd();
    }
    if (this.#draining) await this.#draining;
    if (this.#aborted) return;
    // close_notify waits for the peer to take the bytes: bounded like any other write.
    const timer = setTimeout(() => this.abort(), this.#limits.writeStallMs);
    try {
      await this.#conn.close();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops whatever is queued and closes the connection at once. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#queue = [];
    this.#queued = 0;
    if (!this.#closed) {
      this.#closed = true;
      this.#onEnd();
    }
    this.#conn.abort();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#aborted) {
        let n = 0, count = 0;
        while (count < this.#queue.length && (count === 0 || n + this.#queue[count].length <= BATCH_BYTES)) {
          n += this.#queue[count++].length;
        }
        const parts = this.#queue.splice(0, count);
        const batch = count === 1 ? parts[0] : concatBytes(...parts);
        const timer = setTimeout(() => this.abort(), this.#limits.writeStallMs);
        try {
          await this.#conn.write(batch);
        } finally {
          clearTimeout(timer);
        }
        if (!this.#aborted) this.#queued -= n;
      }
    } catch {
      this.abort();
    } finally {
      this.#draining = null;
    }
  }
}
