// Relay load (run by hand, Linux: reads /proc): the relay in a child process, 2 × pairs clients from this
// process. Measures server CPU per login (TLS handshake + login), memory per idle connection, throughput
// and latency with N chats. Usage:
//   deno run -A bench/relay_load.ts pairs=100 rate=10 seconds=10 idle=500
// (rate = messages per second per client, 0 = as fast as possible; group=521 makes logins use P-521
// key exchange). Latency is measured from the sender's Send to the recipient's Deliver, through the relay.
import { makeUser, TestClient, type TestUser } from "../tests/server/_helpers.ts";
import { ONE_ADDRESS_FLAGS } from "./_relay.ts";

const args = Object.fromEntries(Deno.args.map((a) => a.split("=")));
const PAIRS = Number(args.pairs ?? 100);
const RATE = Number(args.rate ?? 10); // messages per second per client direction (0 = as fast as possible)
const SECONDS = Number(args.seconds ?? 10);
const IDLE = Number(args.idle ?? 0);
const SIZE = Number(args.size ?? 200);

const dir = await Deno.makeTempDir({ prefix: "sotto-load-" });
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
    "--allow-net=127.0.0.1",
    new URL("../server.ts", import.meta.url).pathname,
    "--data",
    dir,
    "-port",
    "0",
    ...ONE_ADDRESS_FLAGS, // every client comes from 127.0.0.1
  ],
  cwd: new URL("..", import.meta.url).pathname,
  stdout: "piped",
  stderr: "inherit",
  stdin: "null",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let line = "";
while (!line.includes("\n")) line += (await reader.read()).value ?? "";
const port = Number(/:(\d+),/.exec(line)![1]);
const pid = child.pid;
function cpuMs(): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime in clock ticks (100 Hz)
}
function selfCpuMs(): number {
  const f = Deno.readTextFileSync(`/proc/self/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}
function rssKiB(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]);
}
await new Promise((r) => setTimeout(r, 500));

// Logins.
const users: TestUser[] = Array.from({ length: 2 * PAIRS }, () => makeUser(1));
let c0 = cpuMs(), t0 = performance.now();
const clients: TestClient[] = [];
for (let i = 0; i < users.length; i += 20) {
  const batch = await Promise.all(
    users.slice(i, i + 20).map((u) => TestClient.login(port, u, args.group === "521" ? [0x0019] : undefined)),
  );
  clients.push(...batch.map((b) => b.client));
}
let c1 = cpuMs(), t1 = performance.now();
console.log(
  `logins: ${users.length} in ${(t1 - t0).toFixed(0)} ms; server CPU ${
    ((c1 - c0) / users.length).toFixed(2)
  } ms per login (TLS handshake + login)`,
);
await Promise.all(clients.map((c, i) => c.upload(users[i])));
await Promise.all(
  clients.map((c, i) =>
    c.request({ type: "request-chat", requestId: 0, peerId: users[i ^ 1].identity.id, curve: "P-256" })
  ),
);
await Promise.all(clients.map(async (c) => {
  const o = await c.next("chat-opened");
  await c.send({ type: "ack", ids: [o.eventId] });
}));

// Idle connections memory.
if (IDLE > 0) {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssKiB();
  const idle: TestClient[] = [];
  const idleUsers = Array.from({ length: IDLE }, () => makeUser(0));
  for (let i = 0; i < IDLE; i += 25) {
    const batch = await Promise.all(idleUsers.slice(i, i + 25).map((u) => TestClient.login(port, u)));
    idle.push(...batch.map((b) => b.client));
  }
  await new Promise((r) => setTimeout(r, 3000));
  const after = rssKiB();
  console.log(
    `idle: ${IDLE} logged-in connections, server RSS ${before} -> ${after} KiB: ${
      ((after - before) / IDLE).toFixed(1)
    } KiB per connection`,
  );
  await Promise.all(idle.map((c) => c.close()));
}

// Traffic.
const latencies: number[] = [];
let delivered = 0, stop = false;
c0 = cpuMs();
t0 = performance.now();
const s0 = selfCpuMs();
await Promise.all(clients.map(async (c, i) => {
  const to = users[i ^ 1].identity.id;
  const recv = (async () => {
    while (!stop) {
      const d = await c.next("deliver").catch(() => null);
      if (d === null) return;
      const sent = new DataView(d.body.buffer, d.body.byteOffset).getFloat64(0);
      if (sent - t0 > 2000) latencies.push(performance.now() - sent);
      delivered++;
      await c.send({ type: "ack", ids: [d.messageId] });
    }
  })();
  const start = performance.now() + (RATE > 0 ? Math.random() * 1000 / RATE : 0);
  let n = 0;
  while (performance.now() - start < SECONDS * 1000) {
    if (RATE > 0) {
      const due = start + (n * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const body = new Uint8Array(SIZE);
    new DataView(body.buffer).setFloat64(0, performance.now());
    await c.sendMessage(to, body);
    n++;
  }
  void recv;
}));
await new Promise((r) => setTimeout(r, 2000));
stop = true;
c1 = cpuMs();
t1 = performance.now();
latencies.sort((a, b) => a - b);
const q = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
const secs = (t1 - t0 - 2000) / 1000;
console.log(
  `traffic: ${PAIRS} chats, ${delivered} messages of ${SIZE} B in ${secs.toFixed(1)} s = ${
    (delivered / secs).toFixed(0)
  } msg/s; latency after 2 s: p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${q(1)} ms; server CPU ${
    (((c1 - c0) / (t1 - t0)) * 100).toFixed(0)
  }%, load generator CPU ${(((selfCpuMs() - s0) / (t1 - t0)) * 100).toFixed(0)}%`,
);
await Promise.all(clients.map((c) => c.close().catch(() => {})));
child.kill("SIGTERM");
await child.status;
await Deno.remove(dir, { recursive: true });
Deno.exit(0);
