// Driving real relay and client processes on 127.0.0.1, for `deno task demo` and the end-to-end tests:
// a relay started as `deno run server.ts --port 0` in a data folder (its address and pin read from the
// line it prints), and clients started in line mode with `--json`, fed lines on stdin and read as events.
// Each process gets the narrowest permissions it needs (its folder, 127.0.0.1) and is stopped by its
// own handle, never by name.

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClientEvent } from "./events.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVER = join(ROOT, "server.ts");
const CLIENT = join(ROOT, "client.ts");

/** The deno binary to run: this one if allowed, else "deno" from PATH (--allow-run=deno names that one). */
export function denoCommand(): string {
  const self = Deno.execPath();
  return Deno.permissions.querySync({ name: "run", command: self }).state === "granted" ? self : "deno";
}

/** The lines of a byte stream (UTF-8, "\n" endings; the last one even without). */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let at: number;
    while ((at = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

/** A relay process. */
export class RelayProcess {
  readonly dataDir: string;
  readonly port: number;
  readonly pin: string;
  readonly #child: Deno.ChildProcess;
  readonly #log: Promise<string>;

  private constructor(
    dataDir: string,
    port: number,
    pin: string,
    child: Deno.ChildProcess,
    log: Promise<string>,
  ) {
    this.dataDir = dataDir;
    this.port = port;
    this.pin = pin;
    this.#child = child;
    this.#log = log;
  }

  /**
   * Starts a relay on 127.0.0.1 (port 0: any free port) with its data in `dataDir`. `env` adds environment
   * variables (SSLKEYLOGFILE, say), and the permission to read just those.
   */
  static async start(
    dataDir: string,
    port = 0,
    extraArgs: string[] = [],
    env: Record<string, string> = {},
  ): Promise<RelayProcess> {
    const names = Object.keys(env);
    const child = new Deno.Command(denoCommand(), {
      args: [
        "run",
        "--quiet",
        "--unstable-kv",
        `--allow-read=${dataDir}`,
        `--allow-write=${dataDir}`,
        "--allow-net=127.0.0.1",
        ...(names.length > 0 ? [`--allow-env=${names.join(",")}`] : []),
        SERVER,
        "--port",
        String(port),
        "--data",
        dataDir,
        ...extraArgs,
      ],
      cwd: ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const log = new Response(child.stderr).text();
    const out = lines(child.stdout);
    const first = await out.next();
    const match = /listening on 127\.0\.0\.1:(\d+), pin (\S+)/.exec(first.done ? "" : first.value);
    // Drain the rest of stdout so the relay never blocks on a full pipe.
    const drained = (async () => {
      for await (const _ of out);
    })();
    if (!match) {
      try {
        child.kill("SIGKILL");
      } catch {
        // it has exited already
      }
      await child.status;
      await drained;
      throw new Error(`the relay did not start: ${await log}`);
    }
    const relay = new RelayProcess(dataDir, Number(match[1]), match[2], child, log.finally(() => drained));
    return relay;
  }

  /** Stops the relay: SIGTERM (a clean shutdown) or SIGKILL (`kill -9`). Resolves with its stderr. */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<string> {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
    await this.#child.status;
    return await this.#log;
  }
}

/** How to start a client. */
export interface ClientSpec {
  dataDir: string;
  port: number;
  /** The relay's pin (--pin), or undefined for trust on first use. */
  pin?: string;
  /** SOTTO_PASSPHRASE; without it the client asks (the web UI's page, with --web). */
  passphrase?: string;
  curve?: "P-521" | "P-384" | "P-256";
  /** Folders the client may read besides its own (files it sends). */
  readable?: string[];
  /** More arguments before the host. */
  extraArgs?: string[];
  /** In place of 127.0.0.1: another host, or an invitation (with `-p` its port, and no `--pin`). */
  host?: string;
  /** Arguments after the host (--send's text). */
  trailing?: string[];
}

/** The arguments of `deno run` for a client (`--json` for line mode with JSON events). */
export function clientArgs(spec: ClientSpec, json: boolean): string[] {
  return [
    "run",
    "--quiet",
    `--allow-read=${[spec.dataDir, ...(spec.readable ?? [])].join(",")}`,
    `--allow-write=${spec.dataDir}`,
    "--allow-net=127.0.0.1",
    "--allow-env=SOTTO_PASSPHRASE",
    "--allow-sys=statfs",
    CLIENT,
    ...(json ? ["--json"] : []),
    "--data",
    spec.dataDir,
    "-p",
    String(spec.port),
    "-c",
    spec.curve ?? "P-521",
    ...(spec.pin ? [`--pin=${spec.pin}`] : []),
    ...(spec.extraArgs ?? []),
    spec.host ?? "127.0.0.1",
    ...(spec.trailing ?? []),
  ];
}

/** A client process in line mode with --json. */
export class ClientProcess {
  /** Every event so far, in order. */
  readonly events: ClientEvent[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: Promise<void>;
  readonly #stderr: Promise<string>;
  #waiters: (() => void)[] = [];
  #stdinClosed = false;
  #ended = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#stderr = new Response(child.stderr).text();
    this.#stdout = (async () => {
      for await (const line of lines(child.stdout)) {
        try {
          this.events.push(JSON.parse(line));
        } catch {
          this.events.push({ event: "error", message: `not JSON: ${line}` });
        }
        for (const wake of this.#waiters.splice(0)) wake();
      }
      this.#ended = true;
      for (const wake of this.#waiters.splice(0)) wake();
    })();
  }

  /** Starts `client.ts --json` against the relay on 127.0.0.1. */
  static start(spec: ClientSpec): ClientProcess {
    const args = clientArgs(spec, true);
    const child = new Deno.Command(denoCommand(), {
      args,
      cwd: ROOT,
      env: spec.passphrase === undefined ? {} : { SOTTO_PASSPHRASE: spec.passphrase },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new ClientProcess(child);
  }

  /** Sends one line (a command or a text for the active chat). */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /**
   * The first event (from index `from`) matching `test`, waiting up to `timeoutMs`; throws with `what`
   * and the events so far if none comes.
   */
  async waitFor(
    test: (e: ClientEvent) => boolean,
    what: string,
    timeoutMs = 30_000,
    from = 0,
  ): Promise<ClientEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(test);
      if (found) return found;
      if (this.#ended) {
        const stderr = (await this.#stderr).trim();
        throw new Error(
          `the client exited while waiting for ${what}; events: ${JSON.stringify(this.events)}; ` +
            `stderr: ${stderr}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** Closes stdin (the client quits as on Ctrl-D) and waits for it: its exit code and stderr. */
  async end(): Promise<{ code: number; stderr: string }> {
    if (!this.#stdinClosed) {
      this.#stdinClosed = true;
      await this.#stdin.close().catch(() => {});
    }
    const status = await this.#child.status;
    await this.#stdout;
    return { code: status.code, stderr: await this.#stderr };
  }

  /** Kills the client (SIGKILL: no clean shutdown) and waits for it. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
    this.#stdinClosed = true;
    await this.#stdin.close().catch(() => {});
    await this.#child.status;
    await this.#stdout;
    await this.#stderr;
  }
}
