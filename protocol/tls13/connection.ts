// The one asynchronous adapter of the TLS 1.3 state machines: it runs a TlsClient or TlsServer over an
// injected byte stream (a structural subset of Deno.Conn), with a write-all loop and buffered reads, and
// gives the application a connection with read/write/close, the exporter and what was negotiated. It
// calls no Deno API itself: server/ and client/ pass in the transport and own timeouts (closing the
// transport aborts whatever is pending).

import { checkBytes } from "../../crypto/bytes.ts";
import { TlsError } from "./alert.ts";
import { TlsClient, type TlsClientOptions } from "./client.ts";
import type { SessionInfo, TlsEngine } from "./engine.ts";
import { TlsServer, type TlsServerOptions } from "./server.ts";

/** The byte stream TLS runs over: what Deno.Conn offers (read may return fewer bytes, write too). */
export interface Transport {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/**
 * Bytes read from the transport at a time: little during the handshake, so a client that never completes
 * one costs little; then little again while the connection is quiet (every idle connection holds its
 * buffer in a pending read), and room for a full record once a read fills the small buffer, until a read
 * brings less than the small buffer holds (records may also arrive over several reads).
 */
const HANDSHAKE_READ_SIZE = 1 << 12;
const SMALL_READ_SIZE = 1 << 11;
const READ_SIZE = (1 << 14) + 256 + 5;
/** Plaintext handed to the state machine per step of `write`, so records go out while others are sealed. */
const WRITE_STEP = 1 << 16;

/** An established TLS 1.3 connection. */
export class TlsConnection {
  readonly #engine: TlsEngine;
  readonly #transport: Transport;
  #buffer = new Uint8Array(HANDSHAKE_READ_SIZE);
  /** The full-record buffer, while data comes in bulk (see READ_SIZE). */
  #bulk: Uint8Array | null = null;
  #leftover: Uint8Array | null = null;
  /** Bytes handed to the transport, in order. */
  #writes: Promise<void> = Promise.resolve();
  /** Whole `write` calls, one after another, so two writers never interleave their records. */
  #writers: Promise<unknown> = Promise.resolve();
  #reads: Promise<unknown> = Promise.resolve();
  #closing = false;

  private constructor(engine: TlsEngine, transport: Transport) {
    this.#engine = engine;
    this.#transport = transport;
  }

  /** Runs a client handshake over `transport`; resolves once it is complete, rejects (and closes) if not. */
  static async connect(transport: Transport, options: TlsClientOptions): Promise<TlsConnection> {
    checkTransport(transport);
    const client = new TlsClient(options);
    const conn = new TlsConnection(client, transport);
    await conn.#run(async () => {
      client.start();
      await conn.#handshake();
    });
    return conn;
  }

  /** Runs a server handshake over `transport`; resolves once it is complete, rejects (and closes) if not. */
  static async accept(transport: Transport, options: TlsServerOptions): Promise<TlsConnection> {
    checkTransport(transport);
    const conn = new TlsConnection(new TlsServer(options), transport);
    await conn.#run(() => conn.#handshake());
    return conn;
  }

  /** KeyUpdates received so far (see TlsEngine.keyUpdatesReceived). */
  get keyUpdatesReceived(): number {
    return this.#engine.keyUpdatesReceived;
  }

  /** What was negotiated: suite, group, whether a HelloRetryRequest happened, the peer's certificate. */
  get info(): SessionInfo {
    return this.#engine.info!;
  }

  /**
   * The next chunk of application data as it arrived (at most 16 KiB), or null once the peer has sent
   * close_notify (or after `close`). A transport EOF without close_notify is a truncation: TlsError.
   */
  readChunk(): Promise<Uint8Array | null> {
    return this.#serialRead(() => this.#nextChunk());
  }

  /** Reads into `p` like Deno.Conn.read: the number of bytes read, or null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null> {
    checkBytes(p, "p");
    return this.#serialRead(async () => {
      const chunk = await this.#nextChunk();
      if (chunk === null) return null;
      const n = Math.min(chunk.length, p.length);
      p.set(chunk.subarray(0, n));
      if (n < chunk.length) this.#leftover = chunk.subarray(n);
      return n;
    });
  }

  /**
   * Encrypts and sends all of `p`; resolves with p.length once the transport has taken every byte.
   * Concurrent calls are sent one after another, each whole, in the order they were made.
   */
  write(p: Uint8Array): Promise<number> {
    checkBytes(p, "p");
    const done = this.#writers.then(() =>
      this.#run(async () => {
        for (let off = 0; off < p.length; off += WRITE_STEP) {
          this.#engine.write(p.subarray(off, off + WRITE_STEP));
          await this.#flush();
        }
      })
    );
    this.#writers = done.catch(() => {});
    return done.then(() => p.length);
  }

  /** Sends a KeyUpdate now (RFC 8446 §4.6.3); with `requestPeer` the peer updates its keys too. */
  async updateKeys(requestPeer = true): Promise<void> {
    await this.#run(async () => {
      this.#engine.updateKeys(requestPeer);
      await this.#flush();
    });
  }

  /** TLS-Exporter (RFC 8446 §7.5): `length` bytes bound to this session, `label` and `context`. */
  exportKeyingMaterial(label: string, context: Uint8Array, length: number): Uint8Array {
    return this.#engine.exportKeyingMaterial(label, context, length);
  }

  /**
   * Closes the transport at once, without close_notify and without waiting for pending writes (which
   * reject): for a peer that stopped reading, or a deadline. Pending reads end with null.
   */
  abort(): void {
    this.#closing = true;
    this.#closeTransport();
  }

  /**
   * Sends close_notify after any pending writes, then closes the transport. Idempotent; pending reads end
   * with null. It waits for the peer to take the bytes: callers with a deadline follow it with `abort`.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    try {
      await this.#writers; // writes made before close go out first
      this.#engine.close();
      await this.#flush();
    } catch {
      // the peer may be gone already; closing goes on
    } finally {
      this.#closeTransport();
    }
  }

  // ---- internals -------------------------------------------------------------------------------------

  async #handshake(): Promise<void> {
    await this.#flush();
    while (!this.#engine.handshakeComplete) {
      const n = await this.#transport.read(this.#buffer);
      if (n === null) throw new TlsError(null, "the peer closed the connection during the handshake");
      this.#engine.receive(this.#buffer.subarray(0, n));
      await this.#flush();
    }
    this.#buffer = new Uint8Array(SMALL_READ_SIZE);
  }

  async #nextChunk(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#leftover) {
        const rest = this.#leftover;
        this.#leftover = null;
        return rest;
      }
      const chunk = this.#engine.read();
      if (chunk) return chunk;
      if (this.#engine.error) throw this.#engine.error;
      if (this.#engine.peerClosed || this.#closing) return null;
      let n: number | null;
      const buffer = this.#bulk ?? this.#buffer;
      try {
        n = await this.#transport.read(buffer);
      } catch (e) {
        if (this.#closing) return null;
        throw e;
      }
      if (n === null) {
        if (this.#closing) return null;
        throw new TlsError(null, "the peer closed the connection without close_notify (truncated)");
      }
      if (buffer === this.#buffer && n === buffer.length) this.#bulk = new Uint8Array(READ_SIZE);
      else if (buffer === this.#bulk && n < SMALL_READ_SIZE) this.#bulk = null;
      await this.#run(() => {
        this.#engine.receive(buffer.subarray(0, n));
        // Replies (a KeyUpdate) go out in the background; a failure shows in the next write.
        void this.#flush().catch(() => {});
      });
    }
  }

  /** Queues what the state machine has produced behind earlier writes; resolves when it is all sent. */
  #flush(): Promise<void> {
    const out = this.#engine.takeOutput();
    if (out.length > 0) {
      this.#writes = this.#writes.then(() => writeAll(this.#transport, out));
      this.#writes.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    }
    return this.#writes;
  }

  /**
   * Runs an action; if it fails, sends whatever alert the state machine queued, closes the transport
   * and rethrows.
   */
  async #run(action: () => void | Promise<void>): Promise<void> {
    try {
      await action();
    } catch (e) {
      if (this.#engine.error) {
        try {
          await this.#flush();
        } catch {
          // the alert could not be delivered
        }
      }
      this.#closing = true;
      this.#closeTransport();
      throw e;
    }
  }

  #serialRead<T>(action: () => Promise<T>): Promise<T> {
    const next = this.#reads.then(action);
    this.#reads = next.catch(() => {});
    return next;
  }

  #closeTransport(): void {
    try {
      this.#transport.close();
    } catch {
      // already closed
    }
  }
}

async function writeAll(transport: Transport, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) {
    const n = await transport.write(data.subarray(off));
    if (!(n > 0)) throw new Error("transport write made no progress");
    off += n;
  }
}

function checkTransport(transport: Transport): void {
  if (
    typeof transport !== "object" || transport === null || typeof transport.read !== "function" ||
    typeof transport.write !== "function" || typeof transport.close !== "function"
  ) {
    throw new TypeError("transport must have read, write and close methods");
  }
}
