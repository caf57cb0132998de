// Work a connection can make the relay do, with the attacker on 127.0.0.2 (through the Node.js proxy of
// _hostile.mjs, so that it speaks our TLS from another source address) and the good client on 127.0.0.1:
// a KeyUpdate flood before Login, frames announcing 256 KiB before Login, and prekey uploads in a loop.
// Each attack is refused the way docs/security.md says, and the good client keeps being served. The
// latencies are measured by bench/relay_attacks.ts, not here.

import assert from "node:assert/strict";
import { Alert, TlsError } from "../../protocol/tls13/alert.ts";
import { decodeServerFrame, encodeFrame, FrameSplitter } from "../../protocol/wire.ts";
import { peerMissing } from "../_peers.ts";
import { RawTls, sleep, startHostile, within } from "./_attack.ts";
import { DEFAULT_ADMISSION } from "../../server/admission.ts";
import { assertNoIdsOrAddresses, bundleOf, makeUser, startRelay, TestClient } from "./_helpers.ts";

/** A logged-in good client on 127.0.0.1 pings `n` times; resolves when all were answered. */
async function goodClientPings(port: number, n: number): Promise<void> {
  const { client } = await TestClient.login(port, makeUser(0));
  try {
    for (let i = 0; i < n; i++) {
      assert.equal((await client.request({ type: "ping", requestId: 0 })).code, "ok");
      await sleep(20);
    }
  } finally {
    await client.close();
  }
}

Deno.test({
  name: "work: KeyUpdate floods before Login from 127.0.0.2 end in unexpected_message; 127.0.0.1 is served",
  ignore: peerMissing("node"),
  fn: async () => {
    const relay = await startRelay(DEFAULT_ADMISSION);
    const proxy = await startHostile("proxy", { target: `127.0.0.1:${relay.port}` });
    const attackers: RawTls[] = [];
    try {
      const port = proxy.ready.port as number;
      for (let i = 0; i < 3; i++) attackers.push(await RawTls.connect(port));
      const floods = attackers.map(async (a) => {
        // 50 KeyUpdate(update_requested) records in one write, then nothing more (writing on after the
        // relay hung up would make it reset the connection before the alert is read).
        for (let k = 0; k < 50; k++) a.engine.updateKeys(true);
        await a.flush();
        return await within(a.ended, 20_000, new Error("still open"));
      });
      await goodClientPings(relay.port, 20);
      for (const end of await Promise.all(floods)) {
        assert.ok(end instanceof TlsError, `the flood ended with ${end}`);
        assert.equal(end.alert, Alert.unexpected_message, end.message);
        assert.ok(end.remote, "the relay sent the alert");
      }
      assert.deepEqual(relay.logs, []);
    } finally {
      for (const a of attackers) a.close();
      await Promise.all(attackers.map((a) => a.ended));
      await proxy.stop();
      await relay.close();
    }
    assertNoIdsOrAddresses(relay.lines);
  },
});

Deno.test({
  name: "work: before Login, a frame longer than the largest Login is refused at its length",
  ignore: peerMissing("node"),
  fn: async () => {
    const relay = await startRelay(DEFAULT_ADMISSION);
    const proxy = await startHostile("proxy", { target: `127.0.0.1:${relay.port}` });
    const attackers: RawTls[] = [];
    try {
      const port = proxy.ready.port as number;
      for (let i = 0; i < 5; i++) {
        const a = await RawTls.connect(port);
        attackers.push(a);
        a.engine.write(Uint8Array.of(0x00, 0x04, 0x00, 0x00, 0x01)); // 256 KiB announced, one byte sent
        await a.flush();
      }
      await goodClientPings(relay.port, 5);
      for (const a of attackers) {
        await within(a.ended, 20_000, null);
        const splitter = new FrameSplitter();
        const frames = a.received.flatMap((c) => splitter.push(c)).map(decodeServerFrame);
        assert.deepEqual(frames.map((f) => f.type), ["challenge", "error"]);
        const error = frames[1];
        assert.ok(error.type === "error" && error.code === "too-large", JSON.stringify(error));
      }
    } finally {
      for (const a of attackers) a.close();
      await Promise.all(attackers.map((a) => a.ended));
      await proxy.stop();
      await relay.close();
    }
  },
});

Deno.test({
  name: "work: prekey uploads in a loop from 127.0.0.2 are rate-limited; 127.0.0.1 is served",
  ignore: peerMissing("node"),
  fn: async () => {
    const relay = await startRelay(DEFAULT_ADMISSION);
    const proxy = await startHostile("proxy", { target: `127.0.0.1:${relay.port}` });
    const spammer = makeUser(200);
    try {
      const { client } = await TestClient.login(proxy.ready.port as number, spammer);
      const upload = encodeFrame({ type: "upload-prekeys", requestId: 7, bundle: bundleOf(spammer) });
      const codes = new Map<string, number>();
      const spam = (async () => {
        for (let i = 0; i < 15; i++) {
          await client.sendRaw(upload);
          const r = await client.next("result");
          codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        }
      })();
      await goodClientPings(relay.port, 20);
      await spam;
      await client.close();
      assert.ok((codes.get("ok") ?? 0) >= 1, `answers: ${[...codes]}`);
      assert.ok((codes.get("rate-limited") ?? 0) >= 5, `answers: ${[...codes]}`);
      assert.deepEqual(relay.logs, []);
    } finally {
      await proxy.stop();
      await relay.close();
    }
    assertNoIdsOrAddresses(relay.lines, [spammer.identity.id]);
    assert.match(relay.lines.join("\n"), /refused\.request\.rate-limited=\d+/);
  },
});
