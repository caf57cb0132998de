// Admission under attack, with the attacker on another loopback address (127.0.0.2, Node.js peers from
// _hostile.mjs) than the good client (127.0.0.1): idle connections that never send a byte, and a canned
// ClientHello replayed to force handshakes. The good client must keep getting in. These tests assert the
// outcome only; the latencies are measured by bench/relay_attacks.ts (docs/security.md).

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { TlsClient } from "../../protocol/tls13/client.ts";
import { peerMissing } from "../_peers.ts";
import { startHostile } from "./_attack.ts";
import { Admission, DEFAULT_ADMISSION, sourceKey } from "../../server/admission.ts";
import { assertNoIdsOrAddresses, makeUser, startRelay, TestClient } from "./_helpers.ts";

/** Logs in a fresh user, pings, closes; false if any step fails within `ms`. */
async function logsIn(port: number, ms: number): Promise<boolean> {
  let client: TestClient | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = (async () => {
    const r = await TestClient.login(port, makeUser(0));
    client = r.client;
    const pong = await client.request({ type: "ping", requestId: 0 });
    return pong.code === "ok";
  })();
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([attempt.catch(() => false), late]);
  } finally {
    clearTimeout(timer);
    const c = client as TestClient | null;
    if (c) await c.close().catch(() => {});
    else void attempt.then(() => (client as TestClient | null)?.close(), () => {});
  }
}

Deno.test({
  name:
    "admission: 3,000 idle connections from 127.0.0.2, reconnecting: a client from 127.0.0.1 logs in 10 of 10",
  ignore: peerMissing("node"),
  fn: async () => {
    const relay = await startRelay(DEFAULT_ADMISSION);
    const attack = await startHostile("idle", {
      target: `127.0.0.1:${relay.port}`,
      count: 3000,
      rate: 1000,
      seconds: 60,
    });
    try {
      await new Promise((r) => setTimeout(r, 4000)); // the attacker opens its connections
      let ok = 0;
      for (let i = 0; i < 10; i++) if (await logsIn(relay.port, 15_000)) ok++;
      assert.equal(ok, 10, `${ok} of 10 logins succeeded during the attack`);
      assert.deepEqual(relay.logs, [], "nothing logged (and so no address)");
    } finally {
      const stats = await attack.stop();
      await relay.close();
      assert.ok(stats.established > 0, "the attacker connected");
    }
    // The operator's log counts what was refused, and names no address.
    assertNoIdsOrAddresses(relay.lines);
    assert.match(relay.lines.join("\n"), /refused\.(admission|tls)\.\w+=\d+/);
  },
});

Deno.test({
  name:
    "admission: a canned ClientHello replayed from 127.0.0.2 gets at most its source's handshakes; 127.0.0.1 logs in",
  ignore: peerMissing("node"),
  fn: async () => {
    const relay = await startRelay(DEFAULT_ADMISSION);
    // A P-521 key share: the most the relay's side of a handshake can cost (key pair, ECDH, signature).
    const engine = new TlsClient({ verifyPeer: () => {}, groups: [0x0019], keyShareGroups: [0x0019] });
    engine.start();
    const hex = bytesToHex(engine.takeOutput());
    const started = performance.now();
    const attack = await startHostile("hello", {
      target: `127.0.0.1:${relay.port}`,
      hex,
      concurrency: 64,
      rate: 600,
      seconds: 60,
    });
    let stats;
    try {
      await new Promise((r) => setTimeout(r, 2000));
      let ok = 0;
      for (let i = 0; i < 5; i++) if (await logsIn(relay.port, 15_000)) ok++;
      assert.equal(ok, 5, `${ok} of 5 logins succeeded during the attack`);
      assert.deepEqual(relay.logs, [], "nothing logged (and so no address)");
    } finally {
      stats = await attack.stop();
      await relay.close();
    }
    assertNoIdsOrAddresses(relay.lines);
    const seconds = (performance.now() - started) / 1000;
    const { perSourceBurst, perSourceRate } = DEFAULT_ADMISSION;
    const allowed = perSourceBurst + perSourceRate * seconds;
    assert.ok(stats.attempts > 2 * allowed, `the attacker tried ${stats.attempts} times`);
    assert.ok(
      stats.answered <= allowed + 5,
      `the relay answered ${stats.answered} replayed ClientHellos in ${
        seconds.toFixed(1)
      } s (allowed ${allowed})`,
    );
  },
});

const addr = (hostname: string): Deno.NetAddr => ({ transport: "tcp", hostname, port: 1 });

Deno.test("admission: sources are IPv4 addresses and IPv6 /64 prefixes", () => {
  assert.equal(sourceKey(addr("127.0.0.2")), "127.0.0.2");
  assert.equal(sourceKey(addr("::ffff:10.0.0.1")), "10.0.0.1");
  assert.equal(sourceKey(addr("2001:db8:1:2:aaaa::1")), sourceKey(addr("2001:db8:1:2:bbbb::2")));
  assert.notEqual(sourceKey(addr("2001:db8:1:2::1")), sourceKey(addr("2001:db8:1:3::1")));
  assert.equal(sourceKey(addr("fe80::1%eth0")), sourceKey(addr("fe80::2")));
});

Deno.test("admission: under pressure the oldest unauthenticated connection goes, not the newcomer", () => {
  const t = 0;
  const a = new Admission({
    maxClients: 2,
    maxUnauthenticated: 3,
    perSourceConnections: 4,
    perSourceUnauthenticated: 2,
    perSourceRate: 1000,
    perSourceBurst: 1000,
  }, () => t);
  const dropped: string[] = [];
  const admit = (host: string, name: string) => a.admit(addr(host), () => dropped.push(name));
  const x1 = admit("10.0.0.1", "x1")!, x2 = admit("10.0.0.1", "x2")!;
  admit("10.0.0.1", "x3"); // its source holds two unauthenticated: x1, its oldest, goes
  assert.deepEqual(dropped, ["x1"]);
  assert.ok(x1.released && !x2.released);
  admit("10.0.0.2", "y1");
  admit("10.0.0.3", "z1"); // three unauthenticated in all: the oldest of everyone (x2) goes
  assert.deepEqual(dropped, ["x1", "x2"]);
  assert.equal(a.unauthenticated, 3);
  // Logged-in connections are never pushed out; the logged-in budget refuses the Login instead.
  const w1 = admit("10.0.0.4", "w1")!;
  assert.ok(w1.promote());
  const w3 = admit("10.0.0.4", "w3")!;
  assert.ok(!w3.released);
  assert.equal(a.clients, 1);
  assert.ok(w3.promote());
  assert.ok(!admit("10.0.0.5", "v1")!.promote(), "the relay is full");
  assert.equal(a.stats.refusedLogins, 1);
  a.release(w1);
  assert.equal(a.clients, 1);
  a.close();
});

Deno.test("admission: a source may open its burst, then its rate; others are not affected", () => {
  let t = 0;
  const a = new Admission({ perSourceRate: 2, perSourceBurst: 3 }, () => t);
  const got = () => a.admit(addr("10.0.0.9"), () => {}) !== null;
  assert.deepEqual([got(), got(), got(), got()], [true, true, true, false]);
  assert.ok(a.admit(addr("10.0.0.10"), () => {}) !== null);
  t += 500;
  assert.deepEqual([got(), got()], [true, false]);
  assert.equal(a.stats.refusedRate, 2);
  a.close();
});

Deno.test("admission: the handshake gate takes waiting sources in turn", async () => {
  let t = 0;
  const a = new Admission(
    { handshakesPerSecond: 1000, handshakeBurst: 1, perSourceUnauthenticated: 10 },
    () => t,
  );
  const order: string[] = [];
  const waits: Promise<void>[] = [];
  const first = a.admit(addr("10.0.0.1"), () => {})!;
  await a.handshake(first); // the burst
  for (const [host, n] of [["10.0.0.1", 4], ["10.0.0.2", 1], ["10.0.0.3", 1]] as const) {
    for (let i = 0; i < n; i++) {
      const ticket = a.admit(addr(host), () => {})!;
      waits.push(a.handshake(ticket).then(() => void order.push(host)));
    }
  }
  for (let i = 0; i < 200 && order.length < 6; i++) {
    t += 10;
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(waits);
  // The flooding source (10.0.0.1) gets one turn in each round, not its four in a row.
  assert.deepEqual(order.slice(0, 3).sort(), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  a.close();
});
