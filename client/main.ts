// Starting the client for real: picks the terminal UI (stdin and stdout are terminals, no --json) or
// line mode, wires them to the process's stdin/stdout and signals, runs the app and returns the exit
// code. Everything that goes wrong reaches the user as one sentence: no stack trace is ever printed.

import { App, type AppOptions, sentence } from "./app.ts";
import type { ClientEvent } from "./events.ts";
import { lineSink, readLines, runLineMode } from "./linemode.ts";
import { passphraseSource, type PromptTerminal } from "./passphrase.ts";
import { quitOnSignals } from "./signals.ts";
import { EXIT_ERROR, EXIT_OK, EXIT_PERMISSIONS } from "./exit.ts";
import { type TerminalIo, Tui } from "./tui.ts";
import { keepOpen, openBrowser, RetryClock, WebApp } from "./webapp.ts";
import { type Clock, systemClock } from "./backoff.ts";
import { formatId } from "../protocol/identity.ts";
import { type SendOnce, sendOnce } from "./oneshot.ts";

/** The command line's settings. */
export interface MainOptions extends AppOptions {
  json: boolean;
  passphraseFile?: string;
  /** --web[=PORT]: serve the web UI on 127.0.0.1 (0: a free port); the terminal stays in line mode. */
  web?: number;
  /** --open: open the web UI in the default browser. */
  open?: boolean;
  /** An invitation's ID (`client.ts INVITATION`): the chat asked for once the keystore is open. */
  askFor?: Uint8Array;
  /** --send: send one text, wait for the relay to store it, exit (client/oneshot.ts). */
  send?: SendOnce;
}

const encoder = new TextEncoder();

function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}

const out = (text: string) => writeAll(Deno.stdout, text);
const err = (text: string) => writeAll(Deno.stderr, text);

const terminal: TerminalIo = {
  read: (p) => Deno.stdin.read(p),
  write: out,
  setRaw: (raw) => Deno.stdin.setRaw(raw),
  size: () => Deno.consoleSize(),
  onResize: (listener) => {
    Deno.addSignalListener("SIGWINCH", listener);
    return () => Deno.removeSignalListener("SIGWINCH", listener);
  },
};

const prompt: PromptTerminal = {
  read: (p) => Deno.stdin.read(p),
  write: err,
  setRaw: (raw) => Deno.stdin.setRaw(raw),
};

/** Runs the client; resolves with the exit code (client/exit.ts: 0 after /quit, Ctrl-C or Ctrl-D). */
export async function main(options: MainOptions): Promise<number> {
  const guard = (e: Event) => {
    e.preventDefault();
    const reason = (e as PromiseRejectionEvent).reason ?? (e as ErrorEvent).error;
    err(`sotto: ${sentence(reason)}\n`);
  };
  globalThis.addEventListener("unhandledrejection", guard);
  globalThis.addEventListener("error", guard);
  let web: WebApp | null = null;
  if (options.web !== undefined) {
    const clock = new RetryClock(), port = options.web;
    options = { ...options, clock };
    try {
      web = new WebApp({ ...options, port, server: `${options.host}:${options.port}`, clock });
    } catch (e) {
      const taken =
        `Port ${port} of 127.0.0.1 is taken; give another with --web=PORT, or --web for a free one.`;
      err(`sotto: ${e instanceof Deno.errors.AddrInUse ? taken : sentence(e)}\n`);
      return 1;
    }
  }
  const tty = !web && !options.send && !options.json && Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
  const server = `${options.host}:${options.port}`;
  const tui = tty ? new Tui(terminal, { server, curve: options.curve }) : null;
  const show = tui ? tui.event : lineSink(options.json, out, { colour: Deno.stdout.isTerminal() });
  let lastError: string | null = null;
  const sink = (e: ClientEvent) => {
    if (e.event === "error") lastError = e.message;
    show(e);
    web?.event(e);
  };
  if (web) {
    sink({ event: "web", url: web.url });
    if (options.open) {
      openBrowser(web.url).then((problem) => problem && sink({ event: "error", message: problem }));
    }
  }
  const passphrase = web?.passphrase ?? passphraseSource({
    file: options.passphraseFile,
    terminal: Deno.stdin.isTerminal() ? prompt : null,
  });
  const announce = (id: string) => {
    web?.newIdentity(id);
    if (options.json) sink({ event: "info", text: `created a new identity: ${id}` });
    else err(`Created a new identity. Your ID is ${id}\n`);
  };
  // Signals are heard from here on: before the app exists there is nothing to save (the keystore is
  // written atomically), so a signal then ends the process at once; afterwards it asks the app to quit.
  let app: App | null = null;
  const unlisten = quitOnSignals(() => {
    if (app) return app.quitNow();
    tui?.close();
    try {
      if (Deno.stdin.isTerminal()) Deno.stdin.setRaw(false); // a passphrase prompt may have set it
    } catch {
      // not ours to restore
    }
    Deno.exit(EXIT_OK);
  }, (code) => {
    tui?.close();
    err("sotto: forced to quit.\n");
    Deno.exit(code);
  });
  for (;;) {
    try {
      app = await App.start({ ...options, lingerOnQuit: !tui && !options.send }, sink, passphrase, announce);
      break;
    } catch (e) {
      if (web?.retryUnlock(e)) continue;
      if (options.json) sink({ event: "error", message: sentence(e) });
      else err(`sotto: ${sentence(e)}\n`);
      await web?.stop();
      unlisten();
      return e instanceof Deno.errors.NotCapable ? EXIT_PERMISSIONS : EXIT_ERROR;
    }
  }
  web?.attach(app);
  if (options.askFor) await app.line(`/chat ${formatId(options.askFor)}`);
  if (options.send) return await sendAndStop(app, options.send, options.clock ?? systemClock, sink, unlisten);
  try {
    if (tui) await tui.run(app);
    else if (web) await runLineMode(app, keepOpen(readLines(Deno.stdin.readable)));
    else await runLineMode(app, readLines(Deno.stdin.readable));
    await app.done;
  } finally {
    await app.stop();
    await web?.stop();
    unlisten();
  }
  const code = app.exitCode;
  if (tui && code !== 0 && lastError) err(`sotto: ${lastError}\n`);
  return code;
}

/** --send: the one message, then a clean stop; the exit code says how it went. */
async function sendAndStop(
  app: App,
  send: SendOnce,
  clock: Clock,
  sink: (e: ClientEvent) => void,
  unlisten: () => void,
): Promise<number> {
  try {
    return await sendOnce(app, send, clock, sink);
  } finally {
    app.quitNow();
    await app.stop();
    unlisten();
  }
}
