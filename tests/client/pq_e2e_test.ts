// Post-quantum end to end: two client processes (client.ts --json, client/driver.ts) through a relay on
// 127.0.0.1 — the relay's own code (server/app.ts, as server.ts runs it) in this process, so that the test
// sees every frame the clients send it (`onFrame`): the bundles they upload and the end-to-end messages
// exactly as they travel. It checks that the link is the hybrid TLS group, that a new chat starts with a
// version 2 (PQXDH) prekey message carrying an ML-KEM-1024 ciphertext to one of the responder's one-time
// KEM prekeys, that every later message of either side carries an ML-KEM-768 ciphertext in its header (a
// KEM step in every DH step) across several round trips, that both clients say the chat is post-quantum,
// and that the one-time KEM prekey used is gone and replaced at the responder's next login.
// The relay runs with a KemPrekeysLow mark of 32 (8 by default) so that one hand-out makes it speak.

import assert from "node:assert/strict";
import { join } from "node:path";
import { bytesToHex } from "../../crypto/bytes.ts";
import { deriveId, parseId } from "../../protocol/identity.ts";
import { decodeMessage, encryptedHeaderLength, PROTOCOL_VERSION } from "../../protocol/message.ts";
import type { PrekeyBundle } from "../../protocol/prekeys.ts";
import type { ClientFrame } from "../../protocol/wire.ts";
import { ClientProcess } from "../../client/driver.ts";
import { startRelay } from "../server/_helpers.ts";
import { next } from "./_world.ts";

/** Waits until `test` holds (the relay's frames arrive in its own time). */
async function until(test: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !test(); waited += 20) {
    if (waited > 60_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("e2e: a new chat is PQXDH with a KEM in every step; a used one-time KEM prekey is replaced", async () => {
  const frames: ClientFrame[] = [];
  const relay = await startRelay({ kemPrekeyLowWater: 32 }, { onFrame: (f) => frames.push(f) });
  const root = await Deno.makeTempDir({ prefix: "sotto-pq-e2e-" });
  const clients: ClientProcess[] = [];
  const start = (name: string) => {
    const c = ClientProcess.start({
      dataDir: join(root, name),
      port: relay.port,
      pin: relay.app.pin,
      passphrase: `${name} passphrase`,
    });
    clients.push(c);
    return c;
  };
  /** The bundles `id` has uploaded, in order. */
  const uploads = (id: Uint8Array): PrekeyBundle[] =>
    frames.flatMap((f) =>
      f.type === "upload-prekeys" && bytesToHex(deriveId(f.bundle.identity)) === bytesToHex(id)
        ? [f.bundle]
        : []
    );
  /** The end-to-end messages sent to `id`, in order, decoded (nothing is decrypted). */
  const sentTo = (id: Uint8Array) =>
    frames.flatMap((
      f,
    ) => (f.type === "send" && bytesToHex(f.to) === bytesToHex(id) ? [decodeMessage(f.body)] : []));
  try {
    const clientA = start("alice"), clientB = start("bob");
    const [a, b] = await Promise.all([next(clientA, "ready"), next(clientB, "ready")]);
    // The link to the relay is the post-quantum hybrid.
    assert.deepEqual([a.tls, b.tls], ["SecP384r1MLKEM1024", "SecP384r1MLKEM1024"]);
    await until(() => uploads(parseId(a.id)).length > 0 && uploads(parseId(b.id)).length > 0, "uploads");

    await clientA.send(`/chat ${b.id} bob`);
    await next(clientA, "chat-requested");
    await clientB.send(`/chat ${a.id} alice`);
    const [oa, ob] = await Promise.all([next(clientA, "chat-open"), next(clientB, "chat-open")]);
    assert.deepEqual([oa.pq, ob.pq], [true, true]);
    assert.deepEqual([oa.role, ob.role].sort(), ["initiator", "responder"]);
    // Whoever asked first initiates (usually Alice; the two requests may cross on their way).
    const [ini, res] = oa.role === "initiator" ? [clientA, clientB] : [clientB, clientA];
    const [iniId, resId] = (oa.role === "initiator" ? [a.id, b.id] : [b.id, a.id]).map(parseId);
    const resFirst = uploads(resId)[0];
    assert.ok(resFirst.kemPrekey);
    assert.equal(resFirst.oneTimeKemPrekeys.length, 32);

    // Three round trips: each reply is a DH step with a KEM step on both sides.
    for (let i = 1; i <= 3; i++) {
      await ini.send(`ping ${i}`);
      await next(res, "message", (e) => e.text === `ping ${i}`);
      await res.send(`pong ${i}`);
      await next(ini, "message", (e) => e.text === `pong ${i}`);
    }

    // On the wire: the first message is PQXDH, to the responder's oldest one-time KEM prekey.
    const toRes = sentTo(resId), toIni = sentTo(iniId);
    const first = toRes[0];
    assert.equal(first.version, PROTOCOL_VERSION);
    assert.ok(first.prekey?.kem, "a prekey message with a KEM part");
    assert.equal(first.prekey.kem.kind, "one-time");
    assert.equal(first.prekey.kem.id, resFirst.oneTimeKemPrekeys[0].id);
    assert.equal(first.prekey.kem.cipherText.length, 1568);
    // Every message after the first reply, each way, carries a KEM ciphertext (ML-KEM-768) in its header.
    const kemStep = encryptedHeaderLength("P-521", PROTOCOL_VERSION, false);
    const later = [...toRes.filter((m) => m.prekey === null), ...toIni];
    assert.ok(toIni.length >= 3 && toRes.filter((m) => m.prekey === null).length >= 2, "several steps");
    for (const m of later) {
      assert.equal(m.version, PROTOCOL_VERSION);
      assert.equal(m.header.length, kemStep);
    }
    assert.ok(toIni.every((m) => m.prekey === null));

    await ini.send("/verify");
    await res.send("/verify");
    const [va, vb] = await Promise.all([next(ini, "safety-number"), next(res, "safety-number")]);
    assert.deepEqual([va.pq, vb.pq], [true, true]);
    assert.equal(va.number, vb.number);

    // The responder comes back: the relay holds 31 of its one-time KEM prekeys (below this relay's mark
    // of 32), so it makes one and uploads them all; the one used is gone from its keystore.
    await res.send("/quit");
    assert.equal((await res.end()).code, 0);
    const before = uploads(resId).length;
    const again = start(res === clientA ? "alice" : "bob");
    await next(again, "ready");
    await until(() => uploads(resId).length > before, "the responder's new upload");
    const ids = uploads(resId).at(-1)!.oneTimeKemPrekeys.map((k) => k.id);
    assert.equal(ids.length, 32);
    assert.ok(!ids.includes(first.prekey.kem.id), "the used one-time KEM prekey is deleted");
    const maxBefore = Math.max(...resFirst.oneTimeKemPrekeys.map((k) => k.id));
    assert.equal(ids.filter((id) => id > maxBefore).length, 1, "one new one-time KEM prekey");

    // The chat goes on after the restart.
    await ini.send("still there?");
    await next(again, "message", (e) => e.text === "still there?");

    for (const c of [ini, again]) await c.send("/quit");
    for (const c of [ini, again]) assert.equal((await c.end()).code, 0);
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const c of clients) await c.kill();
    await relay.close();
    await Deno.remove(root, { recursive: true });
  }
});
