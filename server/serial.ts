// One at a time per key: async work on the same key (a user's queue, a group's log) runs in the order it
// was asked for, each after the previous one has finished, in this process. Work on other keys is not held.

/** Serialises async work per key. */
export class SerialByKey {
  /** The last work queued per key (deleted once it is the last and has finished). */
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `fn` after every earlier `fn` for the same key has finished (or failed). */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const mine = before.then(() => gate);
    this.#tails.set(key, mine);
    await before;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === mine) this.#tails.delete(key);
    }
  }
}
