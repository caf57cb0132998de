// Hostile peers for the relay's attack tests and the attack measurements (bench/relay_attacks.ts), in
// Node.js because Deno cannot choose the local address of a connection: they connect from another loopback
// address (127.0.0.2) than the good clients (127.0.0.1), so the relay sees two sources. Usage:
//
//   node _hostile.mjs idle  target=127.0.0.1:PORT local=127.0.0.2 count=3000 rate=200 seconds=20
//     keeps `count` TCP connections open that never send a byte; each one the relay closes (or refuses) is
//     opened again, at most `rate` connection attempts per second in all.
//   node _hostile.mjs hello target=… local=… hex=CLIENTHELLO concurrency=64 rate=600 seconds=10
//     replays a canned ClientHello on new connections: the relay does a handshake's crypto, the attacker
//     none. A connection is dropped once the relay answers (or after a second).
//   node _hostile.mjs proxy target=… local=…
//     forwards every connection made to it (on 127.0.0.1, port printed) to the target from `local`: lets a
//     Deno attacker, which speaks our TLS, appear from another source address.
//
// Prints one JSON line when ready ({"ready":true} or {"port":N}) and one with its counts when it ends
// (after `seconds`, or when its standard input closes, or on SIGTERM).

import net from "node:net";

const [mode, ...rest] = process.argv.slice(2);
const args = Object.fromEntries(rest.map((a) => a.split("=", 2)));
const [targetHost, targetPort] = (args.target ?? "127.0.0.1:6174").split(":");
const local = args.local ?? "127.0.0.2";
const seconds = Number(args.seconds ?? 3600);
const stats = { attempts: 0, established: 0, closed: 0, errors: 0, answered: 0, maxOpen: 0 };
let open = 0;
let running = true;
const sockets = new Set();

/** At most `perSecond` calls of `fn` per second, queued in order. */
function limiter(perSecond) {
  const queue = [];
  let tokens = Math.min(perSecond, 100), last = Date.now(), timer = null;
  const pump = () => {
    timer = null;
    const now = Date.now();
    tokens = Math.min(perSecond, tokens + (now - last) * perSecond / 1000);
    last = now;
    while (queue.length > 0 && tokens >= 1 && running) {
      tokens -= 1;
      queue.shift()();
    }
    if (queue.length > 0 && running) timer = setTimeout(pump, Math.max(1, 1000 / perSecond));
  };
  return (fn) => {
    queue.push(fn);
    if (timer === null) pump();
  };
}

function dial(onConnect) {
  stats.attempts++;
  const s = net.connect({ host: targetHost, port: Number(targetPort), localAddress: local });
  sockets.add(s);
  s.on("connect", () => {
    stats.established++;
    open++;
    s.once("close", () => void open--);
    stats.maxOpen = Math.max(stats.maxOpen, open);
    onConnect?.(s);
  });
  s.on("error", () => void stats.errors++);
  return s;
}

function finish() {
  if (!running) return;
  running = false;
  for (const s of sockets) s.destroy();
  process.stdout.write(JSON.stringify(stats) + "\n", () => process.exit(0));
}

setTimeout(finish, seconds * 1000);
process.on("SIGTERM", finish);
process.stdin.on("end", finish);
process.stdin.on("error", finish);
process.stdin.resume();

if (mode === "idle") {
  const count = Number(args.count ?? 3000);
  const schedule = limiter(Number(args.rate ?? 200));
  const one = () => {
    if (!running) return;
    const s = dial();
    s.on("close", () => {
      sockets.delete(s);
      stats.closed++;
      if (running) schedule(one);
    });
  };
  for (let i = 0; i < count; i++) schedule(one);
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
} else if (mode === "hello") {
  const hello = Buffer.from(args.hex, "hex");
  const schedule = limiter(Number(args.rate ?? 600));
  const one = () => {
    if (!running) return;
    let closed = false;
    const s = dial((sock) => {
      sock.write(hello);
      setTimeout(() => sock.destroy(), 1000);
    });
    s.on("data", () => {
      stats.answered++;
      s.destroy();
    });
    s.on("close", () => {
      if (closed) return;
      closed = true;
      sockets.delete(s);
      stats.closed++;
      if (running) schedule(one);
    });
  };
  for (let i = 0; i < Number(args.concurrency ?? 64); i++) schedule(one);
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
} else if (mode === "proxy") {
  const server = net.createServer((inbound) => {
    const outbound = dial();
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(outbound);
    };
    inbound.on("close", end);
    outbound.on("close", end);
    inbound.on("error", end);
    outbound.on("error", end);
  });
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
  });
  process.on("exit", () => server.close());
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
