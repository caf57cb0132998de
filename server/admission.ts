// Admission of connections, by source address and in memory only (no address is stored or logged): how
// many connections one source may hold and open per second, separate budgets for connections before and
// after Login (pressure drops the oldest connection that has not logged in, never the newcomer), and the
// handshake gate that decides when a ClientHello's costly crypto runs: at a global rate, one at a time
// between other work, taking sources in turn. Why each limit and its default: docs/security.md, "Attacks
// on the relay".

import { parseIpAddress } from "../protocol/tls13/x509.ts";
import { ConnectionBudget, type ConnectionBudgetLimits } from "./guard.ts";
import { type Clock, TokenBucket } from "./limits.ts";

/** The limits of {@link Admission}. */
export interface AdmissionLimits extends ConnectionBudgetLimits {
  /** Logged-in connections at once; a Login beyond is refused ("the relay is full"). */
  maxClients: number;
  /** Connections that have not logged in (handshake or waiting for Login); beyond, the oldest is dropped. */
  maxUnauthenticated: number;
  /** Connections one source holds at once, logged in or not. */
  perSourceConnections: number;
  /** Connections one source holds that have not logged in; beyond, its oldest is dropped. */
  perSourceUnauthenticated: number;
  /** New connections per second one source may open, sustained, and in a burst. */
  perSourceRate: number;
  perSourceBurst: number;
  /** Milliseconds from accept to the end of the ClientHello's first record. */
  helloTimeoutMs: number;
  /** Handshakes (ClientHellos processed) per second for all sources together, sustained and in a burst. */
  handshakesPerSecond: number;
  handshakeBurst: number;
}

/** The defaults (docs/security.md and the README list them with their flags). */
export const DEFAULT_ADMISSION: Readonly<AdmissionLimits> = {
  maxClients: 12_000,
  maxUnauthenticated: 1_000,
  perSourceConnections: 256,
  perSourceUnauthenticated: 32,
  perSourceRate: 16,
  perSourceBurst: 64,
  helloTimeoutMs: 3_000,
  handshakesPerSecond: 120,
  handshakeBurst: 60,
  preLoginRecords: 64,
  framesPerSecond: 200,
  frameBurst: 400,
  recordCost: 0.25,
};

/** What admission did, counted since start (no addresses). */
export interface AdmissionStats {
  admitted: number;
  /** Refused at accept: the source opened connections too fast. */
  refusedRate: number;
  /** Refused at accept: the source holds its maximum of logged-in connections. */
  refusedSource: number;
  /** Dropped to make room for a newer connection (per source or overall). */
  evicted: number;
  /** Logins refused because the relay holds its maximum of logged-in connections. */
  refusedLogins: number;
  /** ClientHellos let through the handshake gate. */
  handshakes: number;
}

/**
 * The key of a source: an IPv4 address, or the /64 prefix of an IPv6 address (one subscriber usually has
 * a whole /64); an IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function sourceKey(addr: Deno.NetAddr): string {
  const host = addr.hostname.replace(/%.*$/, "");
  const ip = parseIpAddress(host);
  if (ip === undefined) return host;
  if (ip.length === 4) return ip.join(".");
  const mapped = ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
  if (mapped) return [...ip.subarray(12)].join(".");
  let prefix = "";
  for (let i = 0; i < 8; i += 2) prefix += ((ip[i] << 8) | ip[i + 1]).toString(16) + ":";
  return prefix + ":/64";
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** One admitted connection: its source, its state and its budget of work. */
export class Ticket {
  readonly source: string;
  readonly budget: ConnectionBudget;
  readonly #drop: () => void;
  readonly #admission: Admission;
  authenticated = false;
  released = false;
  /** Set while the connection waits at the handshake gate. */
  waiter: Waiter | null = null;

  constructor(admission: Admission, source: string, budget: ConnectionBudget, drop: () => void) {
    this.#admission = admission;
    this.source = source;
    this.budget = budget;
    this.#drop = drop;
  }

  /** The connection has logged in (see Admission.promote); false if the relay is full. */
  promote(): boolean {
    return this.#admission.promote(this);
  }

  /** Ends the connection (it was evicted); safe to call more than once. */
  drop(): void {
    try {
      this.#drop();
    } catch {
      // already gone
    }
  }
}

interface Source {
  connections: number;
  /** Its connections that have not logged in, oldest first. */
  unauthenticated: Set<Ticket>;
  bucket: TokenBucket;
}

/** Admission for one listener. Memory follows the sources seen in the last few seconds. */
export class Admission {
  readonly limits: Readonly<AdmissionLimits>;
  readonly #clock: Clock;
  readonly #sources = new Map<string, Source>();
  /** Every connection that has not logged in, oldest first. */
  readonly #unauthenticated = new Set<Ticket>();
  #clients = 0;
  readonly #handshakes: TokenBucket;
  /** Connections waiting at the handshake gate, by source, in the order sources take turns. */
  readonly #waiting = new Map<string, Ticket[]>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  #admits = 0;
  readonly stats: AdmissionStats = {
    admitted: 0,
    refusedRate: 0,
    refusedSource: 0,
    evicted: 0,
    refusedLogins: 0,
    handshakes: 0,
  };

  constructor(limits: Partial<AdmissionLimits> = {}, clock: Clock = () => performance.now()) {
    const all = { ...DEFAULT_ADMISSION, ...limits };
    for (const [name, value] of Object.entries(all)) {
      if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
        throw new RangeError(`limits.${name} must be a positive number`);
      }
    }
    if (all.perSourceUnauthenticated > all.perSourceConnections) {
      throw new RangeError("limits.perSourceUnauthenticated must not exceed perSourceConnections");
    }
    this.limits = Object.freeze(all);
    this.#clock = clock;
    this.#handshakes = new TokenBucket(all.handshakeBurst, all.handshakesPerSecond, clock);
  }

  /** Logged-in connections now. */
  get clients(): number {
    return this.#clients;
  }

  /** Connections that have not logged in now. */
  get unauthenticated(): number {
    return this.#unauthenticated.size;
  }

  /** Sources remembered now (with connections, or a rate bucket still refilling). */
  get sources(): number {
    return this.#sources.size;
  }

  /**
   * Admits a new connection from `remote`, or returns null (the caller closes it at once). To make room it
   * may drop older connections that have not logged in (their `drop` is called). `drop` ends this one.
   */
  admit(remote: Deno.NetAddr, drop: () => void): Ticket | null {
    if (this.#closed) return null;
    if (++this.#admits % 256 === 0) this.#prune();
    const L = this.limits;
    const key = sourceKey(remote);
    let source = this.#sources.get(key);
    if (source === undefined) {
      source = {
        connections: 0,
        unauthenticated: new Set(),
        bucket: new TokenBucket(L.perSourceBurst, L.perSourceRate, this.#clock),
      };
      this.#sources.set(key, source);
    }
    if (!source.bucket.tryTake()) {
      this.stats.refusedRate++;
      return null;
    }
    if (source.connections >= L.perSourceConnections && source.unauthenticated.size === 0) {
      this.stats.refusedSource++;
      return null;
    }
    if (
      source.connections >= L.perSourceConnections ||
      source.unauthenticated.size >= L.perSourceUnauthenticated
    ) {
      this.#evict(source.unauthenticated.values().next().value!);
    }
    if (this.#unauthenticated.size >= L.maxUnauthenticated) {
      this.#evict(this.#unauthenticated.values().next().value!);
    }
    const ticket = new Ticket(this, key, new ConnectionBudget(L, this.#clock), drop);
    source.connections++;
    source.unauthenticated.add(ticket);
    this.#unauthenticated.add(ticket);
    this.stats.admitted++;
    return ticket;
  }

  /** The connection has logged in: it moves to the logged-in budget. False if that is full. */
  promote(ticket: Ticket): boolean {
    if (ticket.released || ticket.authenticated) return !ticket.released;
    if (this.#clients >= this.limits.maxClients) {
      this.stats.refusedLogins++;
      return false;
    }
    this.#unauthenticated.delete(ticket);
    this.#sources.get(ticket.source)?.unauthenticated.delete(ticket);
    ticket.authenticated = true;
    ticket.budget.markLoggedIn();
    this.#clients++;
    return true;
  }

  /** The connection has ended (or was dropped): forgets it. Idempotent. */
  release(ticket: Ticket): void {
    if (ticket.released) return;
    ticket.released = true;
    if (ticket.waiter) this.#leaveGate(ticket, new Error("the connection ended at the handshake gate"));
    const source = this.#sources.get(ticket.source);
    if (ticket.authenticated) this.#clients--;
    else {
      this.#unauthenticated.delete(ticket);
      source?.unauthenticated.delete(ticket);
    }
    if (source && --source.connections === 0 && source.bucket.full) this.#sources.delete(ticket.source);
  }

  /**
   * Waits for this connection's turn to have its ClientHello processed: the gate lets handshakes through
   * at the global rate, one per task so that logged-in connections are served in between, taking the
   * waiting sources in turn so that a flooding source delays its own handshakes, not everyone's.
   */
  handshake(ticket: Ticket): Promise<void> {
    if (ticket.released || this.#closed) return Promise.reject(new Error("the connection has ended"));
    if (this.#waiting.size === 0 && this.#handshakes.tryTake()) {
      this.stats.handshakes++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      ticket.waiter = { resolve, reject };
      const queue = this.#waiting.get(ticket.source);
      if (queue) queue.push(ticket);
      else this.#waiting.set(ticket.source, [ticket]);
      this.#schedule(0);
    });
  }

  /** Stops admitting; connections waiting at the gate are refused. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const queue of [...this.#waiting.values()]) {
      for (const t of queue) this.#leaveGate(t, new Error("the relay is shutting down"));
    }
  }

  #evict(ticket: Ticket): void {
    this.stats.evicted++;
    this.release(ticket);
    ticket.drop();
  }

  #leaveGate(ticket: Ticket, error: Error): void {
    const waiter = ticket.waiter!;
    ticket.waiter = null;
    const queue = this.#waiting.get(ticket.source);
    if (queue) {
      queue.splice(queue.indexOf(ticket), 1);
      if (queue.length === 0) this.#waiting.delete(ticket.source);
    }
    waiter.reject(error);
  }

  #schedule(ms: number): void {
    if (this.#timer === null && !this.#closed) this.#timer = setTimeout(this.#pump, ms);
  }

  #pump = (): void => {
    this.#timer = null;
    if (this.#waiting.size === 0 || this.#closed) return;
    const wait = this.#handshakes.takeOrWait();
    if (wait > 0) return this.#schedule(wait);
    // The source at the front takes one turn, then goes to the back.
    const [key, queue] = this.#waiting.entries().next().value!;
    const ticket = queue.shift()!;
    this.#waiting.delete(key);
    if (queue.length > 0) this.#waiting.set(key, queue);
    const waiter = ticket.waiter!;
    ticket.waiter = null;
    this.stats.handshakes++;
    waiter.resolve();
    if (this.#waiting.size > 0) this.#schedule(0);
  };

  /** Forgets sources without connections whose rate bucket has refilled. */
  #prune(): void {
    for (const [key, source] of this.#sources) {
      if (source.connections === 0 && source.bucket.full) this.#sources.delete(key);
    }
  }
}
