// Time for the client, injectable so tests run reconnects without waiting: a clock with an abortable
// sleep, and the delays between attempts to reach the relay: while it has been away less than 30 s, an
// attempt every 0.5–1 s (a refused connection costs one round trip, and a relay that restarts is back
// within seconds: the client should be too); after that, backoff doubling from 2 s to 30 s. Each delay is
// drawn between half and all of the current step (jitter, so that clients do not come back in step), and
// the schedule starts again once a connection has been made.

/** Milliseconds since the epoch, and a sleep that ends early (resolving) when `signal` aborts. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    }),
};

/** Backoff settings (milliseconds). */
export interface BackoffOptions {
  /** The step while the relay has been away less than `fastFor` (default 1000). */
  initial?: number;
  /**
   * Milliseconds from the first failure during which every step is `initial` (default 30,000); then the
   * step doubles from 2 × initial. 0: it doubles from `initial` at once (the schedule before 2 s reconnects).
   */
  fastFor?: number;
  max?: number;
  /** A uniform number in [0, 1); the default uses crypto.getRandomValues. */
  random?: () => number;
  /** The time (default Date.now). */
  now?: () => number;
}

function secureUnit(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32;
}

/** Retry quickly while the relay has just gone, then back off, with jitter: `next()` gives each delay. */
export class Backoff {
  readonly #initial: number;
  readonly #fastFor: number;
  readonly #max: number;
  readonly #random: () => number;
  readonly #now: () => number;
  #attempt = 0;
  #slow = 0;
  #since: number | null = null;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initial ?? 1000;
    this.#fastFor = options.fastFor ?? 30_000;
    this.#max = options.max ?? 30_000;
    this.#random = options.random ?? secureUnit;
    this.#now = options.now ?? Date.now;
    if (!(this.#initial > 0) || !(this.#max >= this.#initial) || !(this.#fastFor >= 0)) {
      throw new RangeError("backoff needs 0 < initial ≤ max and fastFor ≥ 0");
    }
  }

  /**
   * The delay before the next attempt, step · [0.5, 1): the step is `initial` for `fastFor` ms from the
   * first failure, then doubles each attempt (from 2 × initial, or from `initial` when fastFor is 0) up to
   * `max`.
   */
  next(): number {
    const now = this.#now();
    this.#since ??= now;
    let step = this.#initial;
    if (now - this.#since >= this.#fastFor) {
      const doublings = Math.min(this.#slow + (this.#fastFor > 0 ? 1 : 0), 30);
      step = Math.min(this.#max, this.#initial * 2 ** doublings);
      this.#slow++;
    }
    this.#attempt++;
    return Math.round(step * (0.5 + this.#random() / 2));
  }

  /** Starts again from the fast steps (after a connection that worked). */
  reset(): void {
    this.#attempt = 0;
    this.#slow = 0;
    this.#since = null;
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }
}
