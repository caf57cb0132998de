// Admission under attack, with the attacker on another loopback address (127.0.0.2, Node.js peers from
// _hostile.mjs) than the good client (127.0.0.1): idle connections that never send a byte, and a canned
// ClientHello replayed to force handshakes. The good client must keep getting in. These tests assert the
// outcome only; the latencies are measured by bench/relay_attacks.ts (docs/security.md).

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { TlsClient } from "../../protocol/tls13/client.ts";
import { peerMissing } from "../_peers.ts";
import { startHostile } from "./_attack.ts";
import { DEFAULT_ADMISSION } from "../../server/admission.ts";
import { makeUser, startRelay, TestClient } from "./_helpers.ts";

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
