// Rate limits of the relay: a token bucket (a burst of `capacity`, refilled at `perSecond`) and a keyed
// set of them (per user ID, for chat requests and one-time prekey hand-outs). Time comes from an injected
// monotonic clock in milliseconds. Kept in memory only: a restart resets them, which costs an attacker
// a restart of the relay it cannot cause.

/** A monotonic clock in milliseconds. */
export type Clock = () => number;

/** A token bucket. */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  constructor(capacity: number, perSecond: number, clock: Clock = () => performance.now()) {
    if (!(Number.isFinite(capacity) && capacity >= 1)) throw new RangeError("capacity must be at least 1");
    if (!(Number.isFinite(perSecond) && perSecond > 0)) throw new RangeError("perSecond must be positive");
    if (typeof clock !== "function") throw new TypeError("clock must be a function");
    this.#capacity = capacity;
    this.#perMs = perSecond / 1000;
    this.#clock = clock;
    this.#tokens = capacity;
    this.#at = clock();
  }

  #refill(): void {
    const now = this.#clock();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
  }

  /** True if the bucket is full (nothing to remember about it). */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.#capacity;
  }

  /** Takes a token if there is one. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * Takes `n` tokens even if that leaves the bucket in debt: for costs that are known only once the work is
   * done (the records of a read) or that exceed what one token stands for (a costly frame).
   */
  charge(n: number): void {
    this.#refill();
    this.#tokens -= n;
  }

  /** Milliseconds until the bucket is out of debt: 0 if it holds any tokens (see `charge`). */
  debtMs(): number {
    this.#refill();
    return this.#tokens >= 0 ? 0 : Math.max(1, Math.ceil(-this.#tokens / this.#perMs));
  }

  /** Takes a token now if there is one and returns 0; otherwise returns the milliseconds until there is. */
  takeOrWait(): number {
    if (this.tryTake()) return 0;
    return Math.max(1, Math.ceil((1 - this.#tokens) / this.#perMs));
  }
}

/** One token bucket per key, created full on first use; `prune` forgets the full ones. */
export class KeyedLimiter {
  readonly #capacity: number;
  readonly #perSecond: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(capacity: number, perSecond: number, clock: Clock = () => performance.now()) {
    new TokenBucket(capacity, perSecond, clock); // checks the arguments
    this.#capacity = capacity;
    this.#perSecond = perSecond;
    this.#clock = clock;
  }

  /** Takes a token from `key`'s bucket if there is one. */
  tryTake(key: string): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#capacity, this.#perSecond, this.#clock);
      this.#buckets.set(key, bucket);
    }
    return bucket.tryTake();
  }

  /** Drops the buckets that have refilled, so memory follows activity. */
  prune(): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full) this.#buckets.delete(key);
  }

  /** Keys currently remembered. */
  get size(): number {
    return this.#buckets.size;
  }
}
