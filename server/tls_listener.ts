// The server side of TLS I/O: a TCP listener whose connections each run a TLS 1.3 handshake (with a
// deadline) and then a handler. Every connection is isolated: bad bytes, a stalled client or an exception
// in its handler end that connection only. `close` stops accepting and closes everything it started.
// With an Admission (server/admission.ts), each connection is admitted by its source address first, its
// bytes go through a GuardedTransport (server/guard.ts) and its ClientHello through the handshake gate.

import type { TlsServerOptions } from "../protocol/tls13/server.ts";
import { TlsConnection, type Transport } from "../protocol/tls13/connection.ts";
import type { Admission, Ticket } from "./admission.ts";
import { GuardedTransport } from "./guard.ts";

export interface TlsListenerOptions {
  /** Address to listen on (default 127.0.0.1). */
  hostname?: string;
  /** Port to listen on; 0 picks a free one (see `addr`). */
  port: number;
  /** The TLS configuration, or a function giving it per connection (to rotate certificates). */
  tls: TlsServerOptions | (() => TlsServerOptions);
  /**
   * Runs for each established connection; the connection is closed when it returns or throws. With an
   * admission, `ticket` is the connection's (its source, budget and state).
   */
  handler: (conn: TlsConnection, remote: Deno.NetAddr, ticket: Ticket | null) => void | Promise<void>;
  /** Milliseconds a client has to complete the handshake (default 10,000). */
  handshakeTimeout?: number;
  /**
   * Connections served at once; further ones are closed on arrival (default 1,000, or with an admission
   * its logged-in and unauthenticated budgets together).
   */
  maxConnections?: number;
  /** Admission by source address, budgets and the handshake gate (none if omitted). */
  admission?: Admission;
  /** Told about each connection that fails (handshake errors, timeouts, handler exceptions). */
  onError?: (error: unknown, remote: Deno.NetAddr) => void;
}

/** How long `close` lets connections send close_notify before cutting them. */
const CLOSE_GRACE_MS = 2000;

/** A running TLS listener. */
export class TlsListener {
  readonly #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  readonly #options: TlsListenerOptions;
  readonly #timeout: number;
  readonly #max: number;
  /** Open TCP connections, with their TLS connection once the handshake is done. */
  readonly #open = new Map<Deno.TcpConn, TlsConnection | null>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed = false;

  constructor(options: TlsListenerOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    if (typeof options.handler !== "function") throw new TypeError("handler must be a function");
    this.#options = options;
    this.#timeout = options.handshakeTimeout ?? 10_000;
    const a = options.admission?.limits;
    this.#max = options.maxConnections ?? (a ? a.maxClients + a.maxUnauthenticated : 1000);
    if (!(this.#timeout > 0)) throw new RangeError("handshakeTimeout must be positive");
    if (!(this.#max >= 1)) throw new RangeError("maxConnections must be at least 1");
    this.#listener = Deno.listen({ hostname: options.hostname ?? "127.0.0.1", port: options.port });
    this.#accepting = this.#acceptLoop();
  }

  /** The address actually listened on. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** Connections currently open (in the handshake or in the handler). */
  get connections(): number {
    return this.#open.size;
  }

  /** Stops accepting, closes every connection (close_notify where established) and waits for all tasks. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#options.admission?.close();
      try {
        this.#listener.close();
      } catch {
        // already closed
      }
      for (const [tcp, tls] of this.#open) {
        if (tls) void tls.close();
        else closeQuietly(tcp);
      }
    }
    await this.#accepting;
    // A peer that stopped reading would hold its close_notify (and so this close) forever: after a grace
    // period the remaining connections are cut.
    const grace = setTimeout(() => {
      for (const tls of this.#open.values()) tls?.abort();
    }, CLOSE_GRACE_MS);
    try {
      await Promise.allSettled([...this.#tasks]);
    } finally {
      clearTimeout(grace);
    }
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let tcp: Deno.TcpConn;
      try {
        tcp = await this.#listener.accept();
      } catch (e) {
        if (this.#closed) return;
        // A failed accept (e.g. too many open files) must not stop the server: pause and go on.
        this.#report(e, this.#listener.addr);
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (this.#closed || this.#open.size >= this.#max) {
        closeQuietly(tcp);
        continue;
      }
      let ticket: Ticket | null = null;
      if (this.#options.admission) {
        ticket = this.#options.admission.admit(tcp.remoteAddr, () => {
          const tls = this.#open.get(tcp);
          if (tls) tls.abort();
          else closeQuietly(tcp);
        });
        if (ticket === null) {
          closeQuietly(tcp);
          continue;
        }
      }
      this.#open.set(tcp, null);
      const task: Promise<void> = this.#serve(tcp, ticket).finally(() => {
        this.#open.delete(tcp);
        this.#tasks.delete(task);
        if (ticket) this.#options.admission!.release(ticket);
      });
      this.#tasks.add(task);
    }
  }

  async #serve(tcp: Deno.TcpConn, ticket: Ticket | null): Promise<void> {
    const remote = tcp.remoteAddr;
    const admission = this.#options.admission;
    const transport: Transport = ticket === null ? tcp : new GuardedTransport(tcp, {
      budget: ticket.budget,
      helloTimeoutMs: admission!.limits.helloTimeoutMs,
      beforeHello: () => admission!.handshake(ticket),
    });
    let tls: TlsConnection;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(tcp);
    }, this.#timeout);
    try {
      tcp.setNoDelay(true);
      const config = typeof this.#options.tls === "function" ? this.#options.tls() : this.#options.tls;
      tls = await TlsConnection.accept(transport, config);
    } catch (e) {
      closeQuietly(transport);
      this.#report(timedOut ? new Error("TLS handshake timed out") : e, remote);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (this.#closed) return void await tls.close();
    this.#open.set(tcp, tls);
    try {
      await this.#options.handler(tls, remote, ticket);
    } catch (e) {
      if (!this.#closed) this.#report(e, remote);
    } finally {
      await tls.close();
    }
  }

  #report(error: unknown, remote: Deno.NetAddr): void {
    try {
      this.#options.onError?.(error, remote);
    } catch {
      // a logging failure must not take the server down
    }
  }
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
