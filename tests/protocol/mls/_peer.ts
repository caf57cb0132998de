// Drives ../shared/tools/mls-peer.ts (ts-mls 1.6.4, an independent MLS implementation) as a separate
// process speaking JSON lines, as the TLS tests drive openssl. `.ci/run` caches its packages; a peer that
// cannot start is a skip locally and a failure under CI=true.
import { bytesToHex, hexToBytes } from "../../../crypto/bytes.ts";

const PEER = new URL("../../../../shared/tools/mls-peer.ts", import.meta.url).pathname;
const TIMEOUT_MS = 120_000;

export type Json = Record<string, unknown>;

/** One mls-peer process: one client, at most one group. */
export class MlsPeer {
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #closed = false;

  private constructor(name: string) {
    this.name = name;
    this.#child = new Deno.Command("deno", {
      args: ["run", "--quiet", "--no-config", "--no-prompt", PEER],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  static start(name: string): MlsPeer {
    return new MlsPeer(name);
  }

  async #line(): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name}: no answer in ${TIMEOUT_MS / 1000} s`)),
        TIMEOUT_MS,
      );
    });
    try {
      for (;;) {
        const nl = this.#buffer.indexOf("\n");
        if (nl >= 0) {
          const line = this.#buffer.slice(0, nl);
          this.#buffer = this.#buffer.slice(nl + 1);
          return line;
        }
        const { value, done } = await Promise.race([this.#reader.read(), timeout]);
        if (done) throw new Error(`${this.name}: the peer exited`);
        this.#buffer += value;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one request; returns the response, or throws with the peer's error when it fails. */
  async call(cmd: string, fields: Json = {}): Promise<Json> {
    const r = await this.tryCall(cmd, fields);
    if (r.ok !== true) throw new Error(`${this.name} ${cmd}: ${r.error}`);
    return r;
  }

  /** Sends one request; returns the response whether it succeeded or not. */
  async tryCall(cmd: string, fields: Json = {}): Promise<Json> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify({ cmd, ...fields }) + "\n"));
    return JSON.parse(await this.#line()) as Json;
  }

  /** Ends the peer (EOF on its stdin) and waits for it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#writer.close();
    } catch {
      // already gone
    }
    const status = await within(this.#child.status, 10_000);
    if (status === undefined) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
    }
    await this.#reader.cancel().catch(() => {});
  }
}

/** True if the peer answers `info` (its packages are cached and Deno can run it). */
export async function peerAvailable(): Promise<boolean> {
  const p = MlsPeer.start("probe");
  try {
    const r = await within(p.tryCall("info"), 60_000);
    return r?.ok === true;
  } catch {
    return false;
  } finally {
    await p.close();
  }
}

/** `promise`'s value, or undefined if it takes longer than `ms` (the timer is always cleared). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const hex = bytesToHex;
export const unhex = (v: unknown): Uint8Array => hexToBytes(String(v));
