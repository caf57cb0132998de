// Time for the client, injectable so tests run reconnects without waiting: a clock with an abortable
// sleep, and exponential backoff with jitter for reconnecting to the relay (0.5 s doubling to 30 s, each
// delay drawn between half and all of the current step, reset once a connection has lasted).

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
  initial?: number;
  max?: number;
  /** A uniform number in [0, 1); the default uses crypto.getRandomValues. */
  random?: () => number;
}

function secureUnit(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32;
}

/** Exponential backoff with jitter: each `next()` gives the delay before the next attempt. */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initial ?? 500;
    this.#max = options.max ?? 30_000;
    this.#random = options.random ?? secureUnit;
    if (!(this.#initial > 0) || !(this.#max >= this.#initial)) {
      throw new RangeError("backoff needs 0 < initial ≤ max");
    }
  }

  /** The delay before the next attempt: min(max, initial · 2^attempts) · [0.5, 1). */
  next(): number {
    const step = Math.min(this.#max, this.#initial * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.round(step * (0.5 + this.#random() / 2));
  }

  /** Starts again from the initial delay (after a connection that worked). */
  reset(): void {
    this.#attempt = 0;
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }
}
