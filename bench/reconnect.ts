// How soon a client is back once its relay is: a real relay process (client/driver.ts) is killed with
// SIGKILL, stays away for a while, and is started again on the same port; two connectors in this process
// (client/connection.ts), one with the reconnect schedule from before (0.5 s doubling to 30 s) and one with
// today's (every 0.5-1 s for the first 30 s, then doubling from 2 s), measure the time from the relay's
// ready line to their next login. Both run side by side in every round, so the ratio holds whatever the
// machine's load. Run:
//
//   deno run --allow-read --allow-write --allow-net=127.0.0.1 --allow-run --allow-sys=loadavg \
//     bench/reconnect.ts [rounds=3]
//
// It prints one line per round and a table for docs/client.md.

import { Backoff, systemClock } from "../client/backoff.ts";
import { Connector } from "../client/connection.ts";
import { RelayProcess } from "../client/driver.ts";
import { generateIdentity } from "../protocol/identity.ts";

const rounds = Number(Deno.args.find((a) => a.startsWith("rounds="))?.slice(7) ?? 3);
/** Seconds the relay stays away (before its restart, which itself takes a second or two). */
const AWAY = [1, 3, 6, 12, 25, 40];

interface Watched {
  name: string;
  connector: Connector;
  logins: number[];
}

function watched(name: string, port: number, backoff: Backoff): Watched {
  const logins: number[] = [];
  const pins = new Map<string, string>();
  const connector = new Connector({
    host: "127.0.0.1",
    port,
    curve: "P-256",
    identity: generateIdentity(),
    dataDir: "/nonexistent",
    pins: { get: (s) => pins.get(s), set: (s, p) => Promise.resolve(void pins.set(s, p)) },
    clock: systemClock,
  }, {
    state: () => {},
    online: () => {
      logins.push(performance.now());
      return Promise.resolve();
    },
    frame: () => Promise.resolve(),
    offline: () => {},
    fatal: (e) => console.error(`${name}: ${e.message}`),
  }, backoff);
  connector.start();
  return { name, connector, logins };
}

async function until(test: () => boolean, ms = 120_000): Promise<void> {
  const end = performance.now() + ms;
  while (!test()) {
    if (performance.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const load = () => Deno.loadavg().map((v) => v.toFixed(1)).join(" ");
const dir = await Deno.makeTempDir({ prefix: "sotto-reconnect-" });
let relay = await RelayProcess.start(`${dir}/relay`);
const port = relay.port;
const before = watched("before", port, new Backoff({ initial: 500, fastFor: 0 }));
const today = watched("today", port, new Backoff());
const clients = [before, today];
const results: { away: number; before: number; today: number }[] = [];
console.log(`load average at the start: ${load()}`);
try {
  await until(() => clients.every((c) => c.logins.length === 1));
  for (let round = 0; round < rounds; round++) {
    for (const away of AWAY) {
      const seen = clients.map((c) => c.logins.length);
      await relay.stop("SIGKILL");
      await new Promise((r) => setTimeout(r, away * 1000));
      relay = await RelayProcess.start(`${dir}/relay`, port);
      const back = performance.now();
      await until(() => clients.every((c, i) => c.logins.length > seen[i]));
      const [b, t] = clients.map((c, i) => (c.logins[seen[i]] - back) / 1000);
      results.push({ away, before: b, today: t });
      console.log(`round ${round + 1}, away ${away} s: before ${b.toFixed(2)} s, today ${t.toFixed(2)} s`);
    }
  }
} finally {
  for (const c of clients) await c.connector.stop();
  await relay.stop();
  await Deno.remove(dir, { recursive: true });
}
console.log(`load average at the end: ${load()}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(
  "| relay away (s) | before: median (max), s | today: median (max), s | before ÷ today (median) |",
);
console.log("| -------------: | ----------------------: | ---------------------: | ---------------------: |");
for (const away of AWAY) {
  const rows = results.filter((r) => r.away === away);
  const b = rows.map((r) => r.before), t = rows.map((r) => r.today);
  const cell = (xs: number[]) => `${median(xs).toFixed(2)} (${Math.max(...xs).toFixed(2)})`;
  console.log(
    `| ${away} | ${cell(b)} | ${cell(t)} | ${(median(b) / Math.max(median(t), 0.001)).toFixed(1)} |`,
  );
}
