// SIGINT and SIGTERM while the client runs: the first asks it to quit (it stops cleanly, telling its peers
// and writing its keystore); a second forces the exit at once, because quitting must always work, even if
// something the clean stop waits for never answers.

import { EXIT_FORCED_SIGINT, EXIT_FORCED_SIGTERM } from "./exit.ts";

/** How signals reach the client (Deno's listeners in the app, a fake in tests). */
export interface SignalHost {
  add(signal: Deno.Signal, listener: () => void): void;
  remove(signal: Deno.Signal, listener: () => void): void;
}

const deno: SignalHost = {
  add: (s, l) => Deno.addSignalListener(s, l),
  remove: (s, l) => Deno.removeSignalListener(s, l),
};

/**
 * Listens for SIGINT and SIGTERM (SIGINT only on Windows): the first calls `quit`, any later one calls
 * `force` with 130 or 143. Returns a function that stops listening.
 */
export function quitOnSignals(
  quit: () => void,
  force: (code: number) => void,
  host: SignalHost = deno,
): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  let seen = 0;
  const listeners = signals.map((s) => {
    const listener = () => {
      if (seen++ === 0) quit();
      else force(s === "SIGINT" ? EXIT_FORCED_SIGINT : EXIT_FORCED_SIGTERM);
    };
    host.add(s, listener);
    return [s, listener] as const;
  });
  return () => {
    for (const [s, l] of listeners) host.remove(s, l);
  };
}
