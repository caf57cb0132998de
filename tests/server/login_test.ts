// Login and registration against a real relay: the signature bound to the TLS session, keys that must
// hash to the ID, takeover by a second login, and prekey uploads with their low-water notices.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { CURVES } from "../../protocol/suite.ts";
import { EXPORTER_BYTES, EXPORTER_LABEL, signLogin, WIRE_VERSION } from "../../protocol/wire.ts";
import { bundleOf, makeUser, startRelay, TestClient } from "./_helpers.ts";

Deno.test("login: a new identity registers, logs in again, and gets Welcome and prekey notices", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(0);
    const { client, welcome } = await TestClient.login(relay.port, alice);
    assert.equal(client.pin, relay.app.pin);
    assert.equal(welcome.type, "welcome");
    if (welcome.type !== "welcome") return;
    assert.deepEqual(welcome.id, alice.identity.id);
    assert.deepEqual(welcome.chats, []);
    assert.deepEqual(welcome.requests, []);
    assert.equal(welcome.queued, 0);
    assert.ok(Math.abs(welcome.serverTime - Date.now()) < 60_000);
    // No prekeys yet: one notice per curve with nothing left.
    for (const curve of CURVES) {
      assert.deepEqual(await client.next("prekeys-low", (f) => f.curve === curve), {
        type: "prekeys-low",
        curve,
        remaining: 0,
      });
    }
    const pong = await client.request({ type: "ping", requestId: 0 });
    assert.equal(pong.code, "ok");
    await client.close();

    const again = await TestClient.login(relay.port, alice);
    assert.equal(again.welcome.type, "welcome");
    await again.client.close();
    assert.equal(relay.logs.length, 0);
  } finally {
    await relay.close();
  }
});

/** Connects, reads the Challenge, sends a Login built by `build`, and returns the Error that follows. */
async function refusedLogin(
  port: number,
  build: (client: TestClient, nonce: Uint8Array) => Promise<Parameters<TestClient["send"]>[0]>,
) {
  const client = await TestClient.connect(port);
  const challenge = await client.next("challenge");
  await client.send(await build(client, challenge.nonce));
  const error = await client.next("error");
  await client.done;
  assert.ok(client.ended);
  return error;
}

Deno.test("login: a bad signature, keys of another ID or another session's exporter are refused", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(0), mallory = makeUser(0);
    const exporterOf = (c: TestClient) =>
      c.conn.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), EXPORTER_BYTES);
    const login = (signature: Uint8Array, id = alice.identity.id, keys = alice.identity.publicKeys) => ({
      type: "login" as const,
      version: WIRE_VERSION,
      id,
      identity: keys,
      signature,
    });

    // A signature over the wrong nonce.
    let e = await refusedLogin(relay.port, async (c) => {
      await Promise.resolve();
      return login(signLogin(alice.identity, systemRandom(32), exporterOf(c)));
    });
    assert.equal(e.code, "login-failed");
    assert.match(e.message, /signature/);

    // A signature by another identity than the keys presented.
    e = await refusedLogin(
      relay.port,
      (c, nonce) => Promise.resolve(login(signLogin(mallory.identity, nonce, exporterOf(c)))),
    );
    assert.equal(e.code, "login-failed");

    // Mallory's keys under Alice's ID (properly signed by Mallory): the keys do not hash to the ID.
    e = await refusedLogin(
      relay.port,
      (c, nonce) =>
        Promise.resolve(
          login(
            signLogin(mallory.identity, nonce, exporterOf(c)),
            alice.identity.id,
            mallory.identity.publicKeys,
          ),
        ),
    );
    assert.equal(e.code, "login-failed");
    assert.match(e.message, /hash to the ID/);

    // A login signed for another TLS session (as a man in the middle relaying a challenge would get):
    // the nonce is this session's, the exporter the other session's.
    const other = await TestClient.connect(relay.port);
    const otherChallenge = await other.next("challenge");
    e = await refusedLogin(
      relay.port,
      (_c, nonce) => Promise.resolve(login(signLogin(alice.identity, nonce, exporterOf(other)))),
    );
    assert.equal(e.code, "login-failed");
    // And a complete login made for the other session, replayed here.
    e = await refusedLogin(
      relay.port,
      () => Promise.resolve(login(signLogin(alice.identity, otherChallenge.nonce, exporterOf(other)))),
    );
    assert.equal(e.code, "login-failed");
    await other.close();

    // Nothing was registered: Alice's first real login registers her and sees no prekey uploads.
    const { client, welcome } = await TestClient.login(relay.port, alice);
    assert.equal(welcome.type, "welcome");
    await client.close();
  } finally {
    await relay.close();
  }
});

Deno.test("login: frames before Login, a second Login and silence are refused", async () => {
  const relay = await startRelay({ loginTimeoutMs: 300 });
  try {
    const client = await TestClient.connect(relay.port);
    await client.next("challenge");
    await client.send({ type: "ping", requestId: 1 });
    assert.equal((await client.next("error")).code, "unexpected");
    await client.done;

    const alice = makeUser(0);
    const { client: c2 } = await TestClient.login(relay.port, alice);
    await c2.send({
      type: "login",
      version: WIRE_VERSION,
      id: alice.identity.id,
      identity: alice.identity.publicKeys,
      signature: new Uint8Array(132),
    });
    assert.equal((await c2.next("error")).code, "unexpected");
    await c2.done;

    const silent = await TestClient.connect(relay.port);
    await silent.next("challenge");
    const e = await silent.next("error");
    assert.equal(e.code, "timeout");
    await silent.done;
  } finally {
    await relay.close();
  }
});

Deno.test("login: a second login for the same ID takes over; the old connection is told and closed", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser();
    const { client: first } = await TestClient.login(relay.port, alice);
    const { client: peer } = await TestClient.login(relay.port, bob);
    await first.upload(alice);
    await peer.upload(bob);
    await first.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
    await peer.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    await first.next("chat-opened");
    await peer.next("chat-opened");

    const { client: second } = await TestClient.login(relay.port, alice);
    await first.next("replaced");
    await first.done;
    assert.ok(first.ended);
    assert.equal(relay.app.relay.online, 2);
    // No ghost: the new connection is the one that receives, and the peer never saw Alice go offline.
    const q = await peer.sendMessage(alice.identity.id, new Uint8Array([1, 2, 3]));
    assert.equal(q.type, "queued");
    const d = await second.next("deliver");
    assert.deepEqual(d.body, new Uint8Array([1, 2, 3]));
    assert.ok(!peer.has("peer-offline"));
    // The unacknowledged chat-opened event is delivered again on the new connection.
    const opened = await second.next("chat-opened");
    assert.deepEqual(opened.peerId, bob.identity.id);
    await second.close();
    await peer.next("peer-offline");
    await peer.close();
  } finally {
    await relay.close();
  }
});

Deno.test("prekeys: uploads are verified, low-water notices follow, one-time prekeys are handed out once", async () => {
  const relay = await startRelay({ prekeyLowWater: 3 });
  try {
    const bob = makeUser(4), alice = makeUser(0), carol = makeUser(0), dave = makeUser(0);
    const { client: cb } = await TestClient.login(relay.port, bob);
    for (let i = 0; i < 3; i++) await cb.next("prekeys-low");
    // Someone else's bundle is refused.
    const bad = await cb.request({ type: "upload-prekeys", requestId: 0, bundle: bundleOf(alice) });
    assert.equal(bad.code, "bad-prekeys");
    // Asking for a chat before uploading is refused.
    const early = await cb.request({
      type: "request-chat",
      requestId: 0,
      peerId: alice.identity.id,
      curve: "P-256",
    });
    assert.equal(early.code, "no-prekeys");
    await cb.upload(bob);

    const opkIds = bundleOf(bob).oneTimePrekeys["P-256"].map((k) => k.id);
    const seen: number[] = [];
    for (const user of [alice, carol, dave]) {
      const { client } = await TestClient.login(relay.port, user);
      await client.upload(user);
      await client.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
      await cb.request({ type: "request-chat", requestId: 0, peerId: user.identity.id, curve: "P-384" });
      const opened = await client.next("chat-opened");
      assert.equal(opened.role, "initiator");
      assert.equal(opened.curve, "P-256");
      assert.ok(opened.bundle);
      assert.deepEqual(opened.bundle!.signedPrekeys, bundleOf(bob).signedPrekeys);
      for (const c of CURVES) if (c !== "P-256") assert.equal(opened.bundle!.oneTimePrekeys[c].length, 0);
      const opk = opened.bundle!.oneTimePrekeys["P-256"];
      assert.equal(opk.length, 1);
      seen.push(opk[0].id);
      const resp = await cb.next("chat-opened");
      assert.equal(resp.role, "responder");
      assert.deepEqual(resp.identity, user.identity.publicKeys);
      await client.send({ type: "ack", ids: [opened.eventId] });
      await cb.send({ type: "ack", ids: [resp.eventId] });
      await client.close();
      // Re-uploading the whole bundle (as a client that has not yet seen the initial message does)
      // never brings back a one-time prekey already handed out.
      await cb.upload(bob);
    }
    assert.deepEqual(seen, opkIds.slice(0, 3));
    // 4 − 3 = 1 left, below the low-water mark of 3: Bob was told when the second one went.
    const low = await cb.next("prekeys-low", (f) => f.curve === "P-256");
    assert.ok(low.remaining < 3);
    await cb.close();

    // The same bundle fetched again after a reconnect is the same one (no second one-time prekey).
    const eve = makeUser(0);
    const { client: ce } = await TestClient.login(relay.port, eve);
    await ce.upload(eve);
    await ce.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
    const { client: cb2 } = await TestClient.login(relay.port, bob);
    await cb2.request({ type: "request-chat", requestId: 0, peerId: eve.identity.id, curve: "P-256" });
    const first = await ce.next("chat-opened");
    await ce.close();
    const { client: ce2 } = await TestClient.login(relay.port, eve);
    const repeat = await ce2.next("chat-opened");
    assert.deepEqual(repeat.eventId, first.eventId);
    assert.deepEqual(repeat.bundle, first.bundle);
    assert.equal(first.bundle!.oneTimePrekeys["P-256"][0].id, opkIds[3]);
    await ce2.close();
    // All four are used now: the next initiator gets a bundle without a one-time prekey.
    const fred = makeUser(0);
    const { client: cf } = await TestClient.login(relay.port, fred);
    await cf.upload(fred);
    await cf.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
    await cb2.request({ type: "request-chat", requestId: 0, peerId: fred.identity.id, curve: "P-256" });
    const none = await cf.next("chat-opened");
    assert.equal(none.bundle!.oneTimePrekeys["P-256"].length, 0);
    await cf.close();
    await cb2.close();
  } finally {
    await relay.close();
  }
});

Deno.test("prekeys: one-time prekey hand-outs are rate-limited per target", async () => {
  const relay = await startRelay({ oneTimeBurst: 2, oneTimePerHour: 1 });
  try {
    const bob = makeUser(10);
    const { client: cb } = await TestClient.login(relay.port, bob);
    await cb.upload(bob);
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const user = makeUser(0);
      const { client } = await TestClient.login(relay.port, user);
      await client.upload(user);
      await client.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
      await cb.request({ type: "request-chat", requestId: 0, peerId: user.identity.id, curve: "P-256" });
      counts.push((await client.next("chat-opened")).bundle!.oneTimePrekeys["P-256"].length);
      await client.close();
    }
    assert.deepEqual(counts, [1, 1, 0, 0]);
    await cb.close();
  } finally {
    await relay.close();
  }
});
