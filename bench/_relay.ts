// A relay in a child process for the measurement scripts (Linux: reads /proc): started from a project
// tree (this one, or an older checkout given as root=PATH to measure "before"), with limit flags, in a
// temporary data folder; its RSS and CPU time read from /proc.

/** Flags that lift the per-address limits: every load generator connects from 127.0.0.1. */
export const ONE_ADDRESS_FLAGS = [
  "--per-source-connections",
  "100000",
  "--per-source-unauthenticated",
  "20000",
  "--max-unauthenticated",
  "20000",
  "--per-source-rate",
  "100000",
  "--per-source-burst",
  "100000",
  "--handshake-rate",
  "100000",
  "--handshake-burst",
  "100000",
  "--registrations-per-source",
  "1000000",
  "--registration-burst-per-source",
  "1000000",
  "--registrations-per-hour",
  "1000000",
  "--registration-burst",
  "1000000",
  "--hello-timeout",
  "60",
];

/** A relay process. */
export interface RelayChild {
  port: number;
  pid: number;
  /** Resident set size now, in KiB. */
  rssKiB(): number;
  /** User + system CPU time so far, in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** This project's root. */
export const HERE = new URL("..", import.meta.url).pathname;

/** Starts `root`/server.ts on 127.0.0.1 with `flags`; resolves once it listens. */
export async function startRelayChild(root = HERE, flags: string[] = []): Promise<RelayChild> {
  const dir = await Deno.makeTempDir({ prefix: "sotto-bench-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "--allow-net=127.0.0.1",
      "--v8-flags=--max-old-space-size=4096",
      "server.ts",
      "--data",
      dir,
      "-port",
      "0",
      ...flags,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the relay in ${root} did not start`);
    line += value;
  }
  const drained = (async () => {
    while (!(await reader.read()).done);
  })();
  const port = Number(/:(\d+),/.exec(line)![1]);
  const pid = child.pid;
  return {
    port,
    pid,
    rssKiB: () => Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]),
    cpuMs: () => {
      const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) * 10;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The host's load averages (1, 5, 15 minutes), for the record. */
export function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

/** The p-quantile of sorted numbers. */
export function quantile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
