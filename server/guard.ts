// The work one connection may make the relay do, counted where it enters: every TLS record read from the
// socket (so KeyUpdates, alerts and empty records, which never become frames, are paid for too) and every
// frame, weighted by its cost. Before Login a connection has a small fixed allowance of records; after,
// a rate: a connection in debt is not read until it has paid, which TCP turns into back-pressure.
//
// GuardedTransport sits between the TCP connection and TlsConnection: it finds the TLS record boundaries
// in the bytes it passes on (without decrypting anything), charges the records, holds the ClientHello
// until the handshake gate lets it through, and enforces the deadline for the ClientHello's first record.

import type { Transport } from "../protocol/tls13/connection.ts";
import { type Clock, TokenBucket } from "./limits.ts";

/** The limits of a {@link ConnectionBudget}. */
export interface ConnectionBudgetLimits {
  /** TLS records a connection may send before it has logged in (a handshake and a Login take about six). */
  preLoginRecords: number;
  /** Cost units per second after Login, sustained (a Ping costs one), and in a burst. */
  framesPerSecond: number;
  frameBurst: number;
  /** Cost units of one TLS record after Login, besides its bytes (RECORD_BYTES_PER_UNIT). */
  recordCost: number;
}

/**
 * Record bytes that cost one unit after Login: decrypting them is most of what bulk data costs (64 KiB
 * take about 1.4 ms here). Light on purpose: it bounds floods of garbage, while a 64 KiB message still
 * costs four units in all (docs/security.md).
 */
export const RECORD_BYTES_PER_UNIT = 64 * 1024;

/** One connection's budget of work. */
export class ConnectionBudget {
  readonly #limits: ConnectionBudgetLimits;
  readonly #bucket: TokenBucket;
  #recordsLeft: number;
  #loggedIn = false;

  constructor(limits: ConnectionBudgetLimits, clock: Clock = () => performance.now()) {
    this.#limits = limits;
    this.#recordsLeft = limits.preLoginRecords;
    this.#bucket = new TokenBucket(limits.frameBurst, limits.framesPerSecond, clock);
  }

  /** The connection has logged in: it pays by rate from now on. */
  markLoggedIn(): void {
    this.#loggedIn = true;
  }

  /**
   * `n` records of `bytes` bytes in all arrived. False if that overdraws the pre-login allowance: the
   * connection must end.
   */
  records(n: number, bytes: number): boolean {
    if (this.#loggedIn) {
      this.#bucket.charge(n * this.#limits.recordCost + bytes / RECORD_BYTES_PER_UNIT);
      return true;
    }
    this.#recordsLeft -= n;
    return this.#recordsLeft >= 0;
  }

  /** Work of `units` was done (or is about to be) for this connection. */
  charge(units: number): void {
    this.#bucket.charge(units);
  }

  /** Milliseconds until the connection has paid for what it did (0: serve it now). */
  debtMs(): number {
    return this.#bucket.debtMs();
  }
}

/** What a {@link GuardedTransport} needs. */
export interface GuardOptions {
  budget: ConnectionBudget;
  /** Milliseconds until the ClientHello's first record must be complete (none if omitted). */
  helloTimeoutMs?: number;
  /** Awaited once the first record (the ClientHello) is complete, before it is handed on. */
  beforeHello?: () => Promise<void>;
}

const HEADER = 5;
/** See GuardedTransport.read. */
const SMALL_RECORD = 512, SMALL_READ = 2048;

/** A TCP connection seen through the budget (see the module comment). */
export class GuardedTransport implements Transport {
  readonly #tcp: Deno.TcpConn;
  readonly #budget: ConnectionBudget;
  readonly #beforeHello?: () => Promise<void>;
  #helloTimer: ReturnType<typeof setTimeout> | null = null;
  /** Record parsing across reads: header bytes seen of the current header, body bytes still to skip. */
  #headerSeen = 0;
  readonly #header = new Uint8Array(HEADER);
  #bodyLeft = 0;
  #records = 0;
  /** Bytes of the records begun so far (as their headers announce). */
  #recordBytes = 0;
  #helloDone = false;
  /** Bytes the next read may take: small while the records are small (see `read`). */
  #readCap = Infinity;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(tcp: Deno.TcpConn, options: GuardOptions) {
    this.#tcp = tcp;
    this.#budget = options.budget;
    this.#beforeHello = options.beforeHello;
    if (options.helloTimeoutMs !== undefined) {
      this.#helloTimer = setTimeout(() => this.close(), options.helloTimeoutMs);
    }
  }

  /** TLS records begun so far. */
  get records(): number {
    return this.#records;
  }

  async read(p: Uint8Array): Promise<number | null> {
    for (let wait = this.#budget.debtMs(); wait > 0 && !this.#closed; wait = this.#budget.debtMs()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    if (this.#closed) return null;
    // A read's records are processed in one go: while they average under 512 bytes (small records can
    // carry KeyUpdates, each a key derivation), reads are kept to 2 KiB, so that one read does a bounded
    // amount of work before others are served; a stream of full records is read whole.
    const n = await this.#tcp.read(p.length > this.#readCap ? p.subarray(0, this.#readCap) : p);
    if (n === null || n === 0) return n;
    const before = this.#records, beforeBytes = this.#recordBytes, wasHello = this.#helloDone;
    this.#scan(p.subarray(0, n));
    this.#readCap = (this.#records - before) * SMALL_RECORD > n ? SMALL_READ : Infinity;
    if (!this.#budget.records(this.#records - before, this.#recordBytes - beforeBytes)) {
      this.close();
      throw new Error("too many TLS records before Login");
    }
    if (this.#helloDone && !wasHello) {
      this.#clearHelloTimer();
      await this.#beforeHello?.();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return this.#tcp.write(p);
  }

  close(): void {
    this.#closed = true;
    this.#clearHelloTimer();
    this.#wake?.();
    try {
      this.#tcp.close();
    } catch {
      // already closed
    }
  }

  #clearHelloTimer(): void {
    if (this.#helloTimer !== null) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
  }

  /** Follows record boundaries through `bytes` (record headers only; nothing is decrypted). */
  #scan(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.#bodyLeft > 0) {
        const skip = Math.min(this.#bodyLeft, bytes.length - at);
        this.#bodyLeft -= skip;
        at += skip;
        if (this.#bodyLeft === 0) this.#recordDone();
        continue;
      }
      const take = Math.min(HEADER - this.#headerSeen, bytes.length - at);
      this.#header.set(bytes.subarray(at, at + take), this.#headerSeen);
      this.#headerSeen += take;
      at += take;
      if (this.#headerSeen < HEADER) break;
      this.#headerSeen = 0;
      this.#records++;
      this.#bodyLeft = (this.#header[3] << 8) | this.#header[4];
      this.#recordBytes += HEADER + this.#bodyLeft;
      if (this.#bodyLeft === 0) this.#recordDone();
    }
  }

  #recordDone(): void {
    this.#helloDone = true;
  }
}
