// Memory of logged-in idle connections (issue 14: 10,000 of them must fit in one relay process). The relay
// runs in this process, so that its heap can be collected and split (V8 heap, ArrayBuffers outside it,
// the rest of RSS); the clients run in child processes (this script, role=clients), each holding its
// share of the connections, logged in, until told to stop. Linux only (RSS from Deno.memoryUsage). Usage:
//
//   deno run -A --v8-flags=--expose-gc bench/relay_idle.ts clients=10000 procs=4 [root=PATH] [pre=1]
//
// root=PATH measures another checkout's relay (its own limits apply: before issue 14, 1,000 connections
// at most). pre=1 stops the clients after TLS, before Login (connections that have not logged in).

import { makeUser, TestClient } from "../tests/server/_helpers.ts";
import { HERE, loadAverage } from "./_relay.ts";

const args = Object.fromEntries(Deno.args.map((a) => a.split("=", 2)));

if (args.role === "clients") {
  const port = Number(args.port), n = Number(args.n);
  const held: TestClient[] = [];
  for (let i = 0; i < n; i += 20) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, n - i) }, async () => {
      if (args.pre === "1") {
        const c = await TestClient.connect(port);
        await c.next("challenge");
        return c;
      }
      return (await TestClient.login(port, makeUser(0))).client;
    }));
    held.push(...batch);
  }
  console.log(JSON.stringify({ ready: held.length }));
  // Hold them, pinging once a minute as clients do, until standard input closes.
  const pinger = setInterval(() => {
    for (const c of held) if (args.pre !== "1") void c.send({ type: "ping", requestId: 0 }).catch(() => {});
  }, 60_000);
  for await (const _ of Deno.stdin.readable);
  clearInterval(pinger);
  await Promise.all(held.map((c) => c.close().catch(() => {})));
  Deno.exit(0);
}

const total = Number(args.clients ?? 10_000), procs = Number(args.procs ?? 4);
const root = args.root ?? HERE;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const { startApp } = await import(new URL("server/app.ts", `file://${root.replace(/\/?$/, "/")}`).href);
const dir = await Deno.makeTempDir({ prefix: "sotto-idle-" });
const limits = root === HERE
  ? {
    perSourceConnections: 100_000,
    perSourceUnauthenticated: 20_000,
    maxUnauthenticated: 20_000,
    perSourceRate: 100_000,
    perSourceBurst: 100_000,
    handshakesPerSecond: 100_000,
    handshakeBurst: 100_000,
    registrationBurstPerSource: 1_000_000,
    registrationBurst: 1_000_000,
    helloTimeoutMs: 120_000,
    loginTimeoutMs: 600_000,
    handshakeTimeoutMs: 120_000,
  }
  : { loginTimeoutMs: 600_000 };
const app = await startApp({ host: "127.0.0.1", port: 0, dataDir: dir, limits, log: () => {} });

function memory() {
  gc!();
  const m = Deno.memoryUsage();
  return {
    rss: m.rss / 2 ** 20,
    heap: m.heapUsed / 2 ** 20,
    committed: m.heapTotal / 2 ** 20,
    external: m.external / 2 ** 20,
  };
}
await new Promise((r) => setTimeout(r, 1000));
const before = memory();
const t0 = performance.now();
const children = Array.from({ length: procs }, (_, i) => {
  const n = Math.floor(total / procs) + (i < total % procs ? 1 : 0);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "role=clients", `port=${app.addr.port}`, `n=${n}`]
      .concat(args.pre === "1" ? ["pre=1"] : []),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const ready = child.stdout.pipeThrough(new TextDecoderStream()).getReader().read();
  return { child, ready };
});
let held = 0;
for (const c of children) held += JSON.parse((await c.ready).value!).ready;
const seconds = (performance.now() - t0) / 1000;
// Let V8 return the room the logins' garbage took (its memory reducer runs when the process is idle).
for (let i = 0; i < 10; i++) {
  await new Promise((r) => setTimeout(r, 2000));
  memory();
}
const after = memory();
const per = (k: "rss" | "heap" | "committed" | "external") =>
  ((after[k] - before[k]) * 1024 / held).toFixed(1);
console.log(
  `${held} ${
    args.pre === "1" ? "connections before Login" : "logged-in idle connections"
  } (${app.relay.online} online) in ${seconds.toFixed(0)} s; host load ${loadAverage()}`,
);
console.log(
  `relay memory after a full GC: RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB (${
    per("rss")
  } KiB per connection); V8 heap ${before.heap.toFixed(0)} -> ${after.heap.toFixed(0)} MiB (${
    per("heap")
  } KiB; committed ${before.committed.toFixed(0)} -> ${after.committed.toFixed(0)} MiB, ${
    per("committed")
  } KiB); ArrayBuffers outside the heap ${before.external.toFixed(0)} -> ${after.external.toFixed(0)} MiB (${
    per("external")
  } KiB)`,
);
for (const c of children) await c.child.stdin.close();
for (const c of children) await c.child.status;
await app.close();
await Deno.remove(dir, { recursive: true });
