// The relay's log for its operator: one line per event — start, a summary each minute (connections,
// logins, messages queued and delivered, refusals by reason), shutdown, and failures of the relay itself —
// as text (`time event key=value …`) or JSON (one object a line). It carries counts and reasons only:
// never an ID, an address, a key or a message id (docs/security.md); the one free text, a failure's
// message, has anything shaped like those masked before it is written.

/** How lines are written. */
export type LogFormat = "text" | "json";

/** A field of an event: a count, a word, or counts by reason. */
export type LogValue = number | string | Readonly<Record<string, number>>;

/** What {@link OperatorLog} needs. */
export interface OperatorLogOptions {
  /** Writes one line (without its newline). */
  write(line: string): void;
  format?: LogFormat;
  /** Wall clock for the time stamps (ms since the epoch); default Date.now. */
  now?: () => number;
}

/** Writes operator events, one line each. */
export class OperatorLog {
  readonly format: LogFormat;
  readonly #write: (line: string) => void;
  readonly #now: () => number;

  constructor(options: OperatorLogOptions) {
    if (typeof options?.write !== "function") throw new TypeError("write must be a function");
    const format = options.format ?? "text";
    if (format !== "text" && format !== "json") throw new RangeError(`unknown log format ${String(format)}`);
    this.format = format;
    this.#write = options.write;
    this.#now = options.now ?? Date.now;
  }

  /** Writes one event. A failing writer is ignored: the log must never take the relay down. */
  event(name: string, fields: Readonly<Record<string, LogValue>> = {}): void {
    const time = new Date(this.#now()).toISOString();
    let line: string;
    if (this.format === "json") {
      line = JSON.stringify({ time, event: name, ...fields });
    } else {
      const parts = [time, name];
      for (const [key, value] of Object.entries(fields)) {
        if (typeof value === "object") {
          for (const [reason, n] of Object.entries(value)) parts.push(`${key}.${reason}=${n}`);
        } else if (typeof value === "string") {
          parts.push(`${key}=${/^[\w.:/+-]+$/.test(value) ? value : JSON.stringify(value)}`);
        } else {
          parts.push(`${key}=${value}`);
        }
      }
      line = parts.join(" ");
    }
    try {
      this.#write(line);
    } catch {
      // nowhere left to say it
    }
  }

  /**
   * A failure of the relay itself. The message is the relay's own sentence; anything in it that looks
   * like an ID, a key, a message id or an address is masked before it is written.
   */
  error(message: string): void {
    const safe = message
      .replace(/\b[0-9a-f]{16,}\b/gi, "…")
      .replace(/\b(?:\d{1,3}\.){3}\d{1,3}\b/g, "…")
      .replace(/\[?[0-9a-f]*:[0-9a-f:]{2,}[0-9a-f]*\]?/gi, "…")
      .replace(/\b[a-z0-9]{4}(?:-[a-z0-9]{4}){3,}\b/gi, "…");
    // deno-lint-ignore no-control-regex
    this.event("error", { message: safe.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").slice(0, 500) });
  }
}

/** Counts that only grow (since start) and values read as they are now. */
export interface StatsSnapshot {
  /** Gauges: shown as they are. */
  now: Record<string, number>;
  /** Counters since start: shown as what they grew by since the last line. */
  totals: Record<string, number>;
  /** Counters since start by reason: shown as what each grew by, the nonzero ones only. */
  refused: Record<string, number>;
}

/**
 * Writes a "stats" line every `intervalMs` (a minute by default) with what changed since the last one;
 * a minute in which nothing happened and no gauge moved writes nothing. `flush` writes the last partial
 * interval (at shutdown).
 */
export class StatsReporter {
  readonly #log: OperatorLog;
  readonly #read: () => StatsSnapshot;
  readonly #timer: ReturnType<typeof setInterval>;
  #last: StatsSnapshot;

  constructor(log: OperatorLog, read: () => StatsSnapshot, intervalMs = 60_000) {
    if (!(intervalMs > 0)) throw new RangeError("intervalMs must be positive");
    this.#log = log;
    this.#read = read;
    this.#last = read();
    this.#timer = setInterval(() => this.report(), intervalMs);
  }

  /** Writes the line for what happened since the last one, if anything did; `force` writes it anyway. */
  report(force = false): void {
    const next = this.#read(), last = this.#last;
    this.#last = next;
    const fields: Record<string, LogValue> = { ...next.now };
    let moved = Object.entries(next.now).some(([k, v]) => last.now[k] !== v);
    for (const [k, v] of Object.entries(next.totals)) {
      fields[k] = v - (last.totals[k] ?? 0);
      if (fields[k] !== 0) moved = true;
    }
    const refused: Record<string, number> = {};
    for (const [k, v] of Object.entries(next.refused)) {
      const d = v - (last.refused[k] ?? 0);
      if (d !== 0) refused[k] = d;
    }
    if (Object.keys(refused).length > 0) {
      fields.refused = refused;
      moved = true;
    }
    if (moved || force) this.#log.event("stats", fields);
  }

  /** Stops the timer and writes the last partial interval. */
  stop(): void {
    clearInterval(this.#timer);
    this.report();
  }
}
