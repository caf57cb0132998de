// A client's terminal UI in a real pseudo-terminal (util-linux `script`), read through a VirtualTerminal:
// what the pty tests share.

import assert from "node:assert/strict";
import { clientArgs, type ClientSpec, denoCommand } from "../../client/driver.ts";
import { VirtualTerminal } from "./_vt.ts";

/** Whether util-linux `script` is here (the pty tests are skipped without it). */
export const hasScript = await new Deno.Command("script", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);

/** Quotes a word for `sh -c`. */
export const sh = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** A client running in a pseudo-terminal of `cols` × `rows`. */
export class PtyClient {
  readonly vt: VirtualTerminal;
  readonly child: Deno.ChildProcess;
  /** Everything written to the terminal so far. */
  raw = "";
  /** Resolves once the terminal's output has ended. */
  readonly output: Promise<void>;
  /** The process's standard error, once it ends. */
  readonly errors: Promise<string>;
  readonly #keys: WritableStreamDefaultWriter<Uint8Array>;

  constructor(spec: ClientSpec, cols: number, rows: number) {
    const command = [denoCommand(), ...clientArgs(spec, false)].map(sh).join(" ");
    const child = new Deno.Command("script", {
      args: ["-q", "-e", "-c", `stty cols ${cols} rows ${rows} && exec ${command}`, "/dev/null"],
      env: { SOTTO_PASSPHRASE: spec.passphrase ?? "", TERM: "xterm" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const vt = new VirtualTerminal(cols, rows);
    this.child = child;
    this.vt = vt;
    this.output = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.raw += chunk;
        vt.write(chunk);
      }
    })();
    this.errors = new Response(child.stderr).text();
    this.#keys = child.stdin.getWriter();
  }

  /** Types `keys` (raw: "\r" is Enter, "\x03" Ctrl-C). */
  async type(keys: string): Promise<void> {
    await this.#keys.write(new TextEncoder().encode(keys));
  }

  /** Waits (at most 30 s) until the screen matches `pattern`; fails with the screen if it never does. */
  async screen(pattern: RegExp, what: string): Promise<RegExpExecArray> {
    for (let i = 0; i < 600 && !pattern.test(this.vt.text()); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(this.vt.text(), pattern, `${what}; the screen:\n${this.vt.text()}`);
    return pattern.exec(this.vt.text())!;
  }

  /** Waits for the client to exit by itself: its status, once its output has ended. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.output;
    return status;
  }

  /** Ends it whatever its state (SIGKILL if it still runs) and waits for everything it started. */
  async close(): Promise<void> {
    await this.#keys.close().catch(() => {});
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await this.child.status;
    await this.output;
    await this.errors;
  }
}
