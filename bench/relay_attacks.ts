// The attacks of issue 14 against a relay in a child process, measured from a good client (this process,
// 127.0.0.1) while the attacker (Node.js peers from 127.0.0.2, and Deno children speaking our TLS through
// a Node.js proxy on 127.0.0.2) runs. Linux only (reads /proc). Figures: docs/security.md. Usage:
//
//   deno run -A bench/relay_attacks.ts [root=PATH] [only=idle,keyupdate,interleaved,announce,prekeys,hello]
//
// root=PATH runs the relay of another checkout (for the "before" figures: `git archive 612e99f | tar -x`),
// which takes no limit flags. Each scenario prints one line.

import { bytesToHex } from "../crypto/bytes.ts";
import { TlsClient } from "../protocol/tls13/client.ts";
import {
  decodeServerFrame,
  encodeFrame,
  EXPORTER_BYTES,
  EXPORTER_LABEL,
  FrameSplitter,
  signLogin,
  WIRE_VERSION,
} from "../protocol/wire.ts";
import { RawTls, sleep, startHostile } from "../tests/server/_attack.ts";
import { bundleOf, makeUser, TestClient } from "../tests/server/_helpers.ts";
import {
  HERE,
  loadAverage,
  ONE_ADDRESS_FLAGS,
  quantile,
  type RelayChild,
  startRelayChild,
} from "./_relay.ts";

const args = Object.fromEntries(Deno.args.map((a) => a.split("=", 2)));

// ---- attacker roles, run as child processes of this script ---------------------------------------------

if (args.role) {
  const port = Number(args.port), seconds = Number(args.seconds ?? 10);
  const until = performance.now() + seconds * 1000;
  const counts = { connections: 0, records: 0, uploads: 0 };
  if (args.role === "keyupdate") {
    // Three connections, each flooding KeyUpdate(update_requested) before Login; again when cut.
    await Promise.all([0, 1, 2].map(async () => {
      while (performance.now() < until) {
        const a = await RawTls.connect(port).catch(() => null);
        if (a === null) {
          await sleep(20);
          continue;
        }
        counts.connections++;
        a.discard = true;
        while (!a.done && performance.now() < until) {
          for (let k = 0; k < 600; k++) a.engine.updateKeys(true);
          counts.records += 600;
          if (!await a.flush()) break;
        }
        a.close();
        await a.ended;
      }
    }));
  } else if (args.role === "interleaved") {
    // Three logged-in connections sending a 1-byte record and a KeyUpdate(update_requested) in turn: the
    // pattern that the rule "one request until application data" lets through; the record budget pays.
    await Promise.all([0, 1, 2].map(async () => {
      while (performance.now() < until) {
        const a = await RawTls.connect(port).catch(() => null);
        if (a === null) {
          await sleep(20);
          continue;
        }
        counts.connections++;
        await rawLogin(a);
        a.discard = true;
        a.engine.write(Uint8Array.of(0x00, 0x03, 0x00, 0x00)); // a 192 KiB frame, whose body then comes
        while (!a.done && performance.now() < until) {
          for (let k = 0; k < 300; k++) {
            a.engine.write(Uint8Array.of(0)); // one byte of that body
            a.engine.updateKeys(true);
          }
          counts.records += 600;
          if (!await a.flush()) break;
          await sleep(0);
        }
        a.close();
        await a.ended;
      }
    }));
  } else if (args.role === "announce") {
    // `count` connections that complete TLS and announce a 256 KiB frame before Login, then wait.
    const all: RawTls[] = [];
    for (let i = 0; i < Number(args.count); i += 25) {
      const batch = await Promise.all(
        Array.from({ length: 25 }, () => RawTls.connect(port).catch(() => null)),
      );
      for (const a of batch) {
        if (a === null) continue;
        a.engine.write(Uint8Array.of(0x00, 0x04, 0x00, 0x00, 0x01));
        await a.flush();
        all.push(a);
      }
    }
    counts.connections = all.length;
    console.log(JSON.stringify({ ready: all.length }));
    await sleep(Math.max(0, until - performance.now()));
    for (const a of all) a.close();
    await Promise.all(all.map((a) => a.ended));
  } else if (args.role === "prekeys") {
    // One logged-in connection uploading a full bundle (200 one-time prekeys a curve) over and over.
    const user = makeUser(200);
    const { client } = await TestClient.login(port, user);
    counts.connections = 1;
    const upload = encodeFrame({ type: "upload-prekeys", requestId: 1, bundle: bundleOf(user) });
    while (performance.now() < until) {
      await client.sendRaw(upload);
      await client.next("result");
      counts.uploads++;
    }
    await client.close();
  }
  console.log(JSON.stringify(counts));
  Deno.exit(0);
}

/** Logs a RawTls connection in as a new user. */
async function rawLogin(a: RawTls): Promise<void> {
  const splitter = new FrameSplitter();
  for (let i = 0; i < 200 && a.received.length === 0; i++) await sleep(10);
  const first = splitter.push(a.received.shift()!).map(decodeServerFrame)[0];
  if (first?.type !== "challenge") throw new Error("no challenge");
  const user = makeUser(0);
  const exporter = a.engine.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), EXPORTER_BYTES);
  a.engine.write(encodeFrame({
    type: "login",
    version: WIRE_VERSION,
    id: user.identity.id,
    identity: user.identity.publicKeys,
    signature: signLogin(user.identity, first.nonce, exporter),
  }));
  await a.flush();
  await sleep(200);
}

/** Runs this script as an attacker role against `port`; resolves with its counts when it ends. */
function attacker(role: string, port: number, more: Record<string, string | number> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      `role=${role}`,
      `port=${port}`,
      ...Object.entries(more).map(([k, v]) => `${k}=${v}`),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const next = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`attacker ${role} ended early`);
      text += value;
    }
    const i = text.indexOf("\n");
    const line = text.slice(0, i);
    text = text.slice(i + 1);
    return JSON.parse(line);
  };
  return { next, done: child.status };
}

// ---- the good client ------------------------------------------------------------------------------------

/** Times connect + TLS + login of a new user; null if it fails or takes over 15 s. */
async function timedLogin(port: number): Promise<number | null> {
  const t = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = TestClient.login(port, makeUser(0)).then(async ({ client }) => {
    const pong = await client.request({ type: "ping", requestId: 0 });
    await client.close();
    return pong.code === "ok" ? performance.now() - t : null;
  }, () => null);
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), 15_000)));
  const out = await Promise.race([attempt, late]);
  clearTimeout(timer);
  return out;
}

/** A logged-in client pings every 50 ms for `seconds`; the sorted round trips (ms). */
async function pings(client: TestClient, seconds: number): Promise<number[]> {
  const out: number[] = [];
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const t = performance.now();
    await client.request({ type: "ping", requestId: 0 });
    out.push(performance.now() - t);
    await sleep(50);
  }
  return out.sort((a, b) => a - b);
}

const ms = (v: number | null) => (v === null ? "failed" : `${v.toFixed(0)} ms`);
const summary = (xs: number[]) =>
  `p50 ${quantile(xs, 0.5).toFixed(1)} ms, p99 ${quantile(xs, 0.99).toFixed(1)} ms, max ${
    xs[xs.length - 1].toFixed(1)
  } ms (${xs.length} pings)`;

const root = args.root ?? HERE;
const current = root === HERE;
const only = new Set((args.only ?? "idle,keyupdate,interleaved,announce,prekeys,hello").split(","));
console.log(`relay from ${root}; host load ${loadAverage()}`);

async function withRelay<T>(flags: string[], run: (relay: RelayChild) => Promise<T>): Promise<T> {
  const relay = await startRelayChild(root, current ? flags : []);
  try {
    await sleep(500);
    return await run(relay);
  } finally {
    await relay.stop();
  }
}

if (only.has("idle")) {
  await withRelay([], async (relay) => {
    const attack = await startHostile("idle", {
      target: `127.0.0.1:${relay.port}`,
      count: 3000,
      rate: 1000,
      seconds: 25,
    });
    await sleep(3000);
    const times: (number | null)[] = [];
    for (let i = 0; i < 10; i++) {
      times.push(await timedLogin(relay.port));
      await sleep(1500);
    }
    const stats = await attack.stop();
    const ok = times.filter((t) => t !== null) as number[];
    console.log(
      `idle: 3,000 idle connections from 127.0.0.2 (${stats.attempts} attempts in 25 s): ` +
        `${ok.length}/10 logins from 127.0.0.1, each ${times.map(ms).join(", ")}; slowest ${
          ok.length ? Math.max(...ok).toFixed(0) : "-"
        } ms`,
    );
  });
}

for (const role of ["keyupdate", "interleaved"]) {
  if (!only.has(role)) continue;
  await withRelay([], async (relay) => {
    const proxy = await startHostile("proxy", { target: `127.0.0.1:${relay.port}` });
    const { client } = await TestClient.login(relay.port, makeUser(0));
    const base = await pings(client, 3);
    const cpu0 = relay.cpuMs(), t0 = performance.now();
    const a = attacker(role, proxy.ready.port as number, { seconds: 10 });
    await sleep(500);
    const during = pings(client, 8);
    const logins: (number | null)[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(1500);
      logins.push(await timedLogin(relay.port));
    }
    const under = await during;
    const counts = await a.next();
    await a.done;
    const cpu = (relay.cpuMs() - cpu0) / (performance.now() - t0);
    await client.close();
    await proxy.stop();
    console.log(
      `${role}: 3 connections from 127.0.0.2 for 10 s (${counts.connections} connections, ${counts.records} ` +
        `records sent); relay CPU ${(100 * cpu).toFixed(0)}%; ping before ${summary(base)}; during ${
          summary(under)
        }; connect+login during ${logins.map(ms).join(", ")}`,
    );
  });
}

for (const lifted of [false, true]) {
  if (!only.has("announce") || (lifted && !current)) continue;
  // With the default limits 32 of the 800 get in (the rest are refused or pushed out); with the limits
  // per address lifted (and a longer Login deadline) all 800 reach the frame splitter and stay.
  const flags = lifted ? [...ONE_ADDRESS_FLAGS, "--login-timeout", "60"] : [];
  await withRelay(flags, async (relay) => {
    const proxy = await startHostile("proxy", { target: `127.0.0.1:${relay.port}` });
    await sleep(2000);
    const before = relay.rssKiB();
    const a = attacker("announce", proxy.ready.port as number, { count: 800, seconds: lifted ? 20 : 2 });
    const ready = await a.next();
    await sleep(1000);
    const after = relay.rssKiB();
    let settled = "";
    if (lifted) {
      await sleep(15_000); // V8 gives back the room the 800 handshakes' garbage took
      settled = `, ${((relay.rssKiB() - before) / 1024).toFixed(1)} MiB once settled (15 s later)`;
    }
    const counts = await a.next();
    await a.done;
    await proxy.stop();
    console.log(
      `announce${lifted ? " (per-address limits lifted)" : ""}: ${ready.ready} pre-login connections ` +
        `(TLS done) each announcing 256 KiB: relay RSS ${(before / 1024).toFixed(1)} MiB, +${
          ((after - before) / 1024).toFixed(1)
        } MiB a second after the last${settled}`,
    );
    void counts;
  });
}

if (only.has("prekeys")) {
  await withRelay([], async (relay) => {
    const proxy = await startHostile("proxy", { target: `127.0.0.1:${relay.port}` });
    const { client } = await TestClient.login(relay.port, makeUser(0));
    const base = await pings(client, 3);
    const cpu0 = relay.cpuMs(), t0 = performance.now();
    const a = attacker("prekeys", proxy.ready.port as number, { seconds: 10 });
    await sleep(1000);
    const under = await pings(client, 8);
    const counts = await a.next();
    await a.done;
    const cpu = (relay.cpuMs() - cpu0) / (performance.now() - t0);
    await client.close();
    await proxy.stop();
    console.log(
      `prekeys: one connection from 127.0.0.2 uploading prekeys for 10 s (${counts.uploads} answered); ` +
        `relay CPU ${(100 * cpu).toFixed(0)}%; ping before ${summary(base)}; during ${summary(under)}`,
    );
  });
}

if (only.has("hello")) {
  await withRelay([], async (relay) => {
    const engine = new TlsClient({ verifyPeer: () => {}, groups: [0x0019], keyShareGroups: [0x0019] });
    engine.start();
    const { client } = await TestClient.login(relay.port, makeUser(0));
    const base = await pings(client, 3);
    const cpu0 = relay.cpuMs(), t0 = performance.now();
    const attack = await startHostile("hello", {
      target: `127.0.0.1:${relay.port}`,
      hex: bytesToHex(engine.takeOutput()),
      concurrency: 64,
      rate: 2000,
      seconds: 12,
    });
    await sleep(1000);
    const during = pings(client, 8);
    const logins: (number | null)[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(1500);
      logins.push(await timedLogin(relay.port));
    }
    const under = await during;
    const stats = await attack.stop();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (relay.cpuMs() - cpu0) / (performance.now() - t0);
    await client.close();
    console.log(
      `hello: a canned P-521 ClientHello from 127.0.0.2 (${stats.attempts} connections, ${
        (stats.answered / seconds).toFixed(0)
      } handshakes/s answered); relay CPU ${(100 * cpu).toFixed(0)}%; ping before ${summary(base)}; during ${
        summary(under)
      }; connect+login during ${logins.map(ms).join(", ")}`,
    );
  });
}
console.log(`host load after: ${loadAverage()}`);
