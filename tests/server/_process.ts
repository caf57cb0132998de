// The relay as a child process for tests: `deno run server.ts` with the narrowest permissions on a data
// folder, its ready line read (address and pin), its other output collected until it exits.

import assert from "node:assert/strict";

export const ROOT = new URL("../../", import.meta.url).pathname;

export interface Server {
  child: Deno.ChildProcess;
  port: number;
  pin: string;
  /** Resolves to what the process wrote to stderr once it exits. */
  stderr: Promise<string>;
  /** Resolves to stdout after the first line, once the process exits. */
  rest: Promise<string>;
}

/** Runs `deno run server.ts` with the narrowest permissions and waits for its ready line. */
export async function spawnServer(dir: string, extra: string[] = []): Promise<Server> {
  const child = new Deno.Command("deno", {
    args: [
      "run",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "--allow-net=127.0.0.1",
      "server.ts",
      "--data",
      dir,
      "-port",
      "0",
      ...extra,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { stderr, reader, out } = await readUntil(child, "\n");
  const [first, ...more] = out.split("\n");
  const m = /^sotto relay listening on 127\.0\.0\.1:(\d+), pin (\S+)$/.exec(first);
  assert.ok(m, `unexpected first line: ${first}`);
  const rest = (async () => {
    let text = more.join("\n");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return { child, port: Number(m[1]), pin: m[2], stderr, rest };
}

/**
 * Reads the relay's stdout until it contains `marker` (its ready line); throws with its stderr if it exits
 * first. Returns what was read, the reader for the rest, and stderr as it will be once the process exits.
 */
export async function readUntil(child: Deno.ChildProcess, marker: string) {
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the relay exited before it was ready: ${await stderr}`);
    out += value;
  }
  return { stderr, reader, out };
}
