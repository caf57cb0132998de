// The relay's side of PQXDH, against a real relay on 127.0.0.1: classical (version 1) uploads are refused
// in one sentence and RequestChat needs KEM prekeys; KemPrekeysLow (0x58) comes at login and when a
// hand-out leaves fewer than 8 one-time KEM prekeys, and never to a user whose KEM prekeys the relay does
// not hold (a client from before PQXDH would not know the frame); a one-time KEM prekey goes out once;
// the store's KEM prekeys go with an expired identity.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { encodeIdentityPublic } from "../../protocol/identity.ts";
import { RelayStore } from "../../server/store.ts";
import { bundleOf, makeUser, startRelay, TestClient, type TestUser } from "./_helpers.ts";

const DAY = 86_400_000;

/** `user` with `n` one-time KEM prekeys. */
function withKem(user: TestUser, n: number): TestUser {
  user.prekeys.addOneTimeKemPrekeys(user.identity, n, Date.now());
  return user;
}

/** Everything the relay sent after Login up to the answer to a Ping (frames come in order). */
async function settled(client: TestClient): Promise<string[]> {
  assert.equal((await client.request({ type: "ping", requestId: 0 })).code, "ok");
  return client.inbox.map((f) => f.type);
}

Deno.test("pq: a classical upload is refused in one sentence, and chats need KEM prekeys", async () => {
  const relay = await startRelay();
  try {
    const old = makeUser(2), peer = makeUser(2);
    const { client } = await TestClient.login(relay.port, old);
    const classical = { ...bundleOf(old), kemPrekey: null, oneTimeKemPrekeys: [] };
    const r = await client.request({ type: "upload-prekeys", requestId: 0, bundle: classical });
    assert.equal(r.code, "bad-prekeys");
    assert.equal(r.detail, "this relay needs post-quantum (PQXDH) prekeys, so your client must be updated");
    const ask = await client.request({
      type: "request-chat",
      requestId: 0,
      peerId: peer.identity.id,
      curve: "P-256",
    });
    assert.equal(ask.code, "no-prekeys");
    // The same user with a version 2 bundle is served.
    const ok = await client.request({ type: "upload-prekeys", requestId: 0, bundle: bundleOf(old) });
    assert.equal(ok.code, "ok");
    assert.match(ok.detail, /ML-KEM-1024: 0$/);
    await client.close();
    assert.deepEqual(relay.logs, []);
  } finally {
    await relay.close();
  }
});

Deno.test("pq: KemPrekeysLow at login and after a hand-out below 8, never without KEM prekeys", async () => {
  const relay = await startRelay();
  try {
    const bob = withKem(makeUser(2), 9);
    // A new user: PrekeysLow for each curve, but no KemPrekeysLow before its first upload.
    const first = await TestClient.login(relay.port, bob);
    const cb0 = first.client;
    assert.deepEqual((await settled(cb0)).sort(), ["prekeys-low", "prekeys-low", "prekeys-low"]);
    const up = await cb0.request({ type: "upload-prekeys", requestId: 0, bundle: bundleOf(bob) });
    assert.match(up.detail, /ML-KEM-1024: 9$/);
    await cb0.close();
    // Nine held: nothing to say at login (but PrekeysLow: two EC ones on each curve).
    const { client: cb } = await TestClient.login(relay.port, bob);
    assert.ok(!(await settled(cb)).includes("kem-prekeys-low"));

    const handed: number[] = [];
    for (const expectLow of [false, true]) {
      const peer = makeUser(1);
      const { client } = await TestClient.login(relay.port, peer);
      await client.upload(peer);
      await client.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-384" });
      await cb.request({ type: "request-chat", requestId: 0, peerId: peer.identity.id, curve: "P-384" });
      const opened = await client.next("chat-opened");
      assert.equal(opened.bundle!.oneTimeKemPrekeys.length, 1);
      assert.ok(opened.bundle!.kemPrekey);
      handed.push(opened.bundle!.oneTimeKemPrekeys[0].id);
      await client.send({ type: "ack", ids: [opened.eventId] });
      await cb.send({ type: "ack", ids: [(await cb.next("chat-opened")).eventId] });
      await client.close();
      // 8 left after the first (not below 8), 7 after the second.
      const types = await settled(cb);
      assert.equal(types.includes("kem-prekeys-low"), expectLow, types.join());
    }
    assert.equal((await cb.next("kem-prekeys-low")).remaining, 7);
    // Oldest first, each once.
    assert.deepEqual(handed, bundleOf(bob).oneTimeKemPrekeys.slice(0, 2).map((k) => k.id));
    await cb.close();
    // And at the next login.
    const { client: again } = await TestClient.login(relay.port, bob);
    assert.equal((await again.next("kem-prekeys-low")).remaining, 7);
    // Re-uploading the same set brings no handed-out key back.
    const re = await again.request({ type: "upload-prekeys", requestId: 0, bundle: bundleOf(bob) });
    assert.match(re.detail, /ML-KEM-1024: 7$/);
    await again.close();
    assert.deepEqual(relay.logs, []);
  } finally {
    await relay.close();
  }
});

Deno.test("pq: an expired identity's KEM prekeys are deleted with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-pq-store-" });
  const store = await RelayStore.open(`${dir}/relay.kv`);
  try {
    const user = withKem(makeUser(1), 3), id = user.identity.id;
    const now = Date.now();
    await store.register(id, encodeIdentityPublic(user.identity.publicKeys), now);
    assert.equal(await store.kemPrekeyCount(id), null);
    await store.putPrekeys(id, bundleOf(user), 200);
    assert.equal(await store.kemPrekeyCount(id), 3);
    const usage = store.usage;
    assert.deepEqual(await store.expireIdentities(now + 11 * DAY, 10 * DAY), { identities: 1, peers: [] });
    assert.equal(await store.kemPrekeyCount(id), null);
    assert.equal(await store.identity(id), null);
    assert.ok(store.usage < usage - 3 * 1873, "their bytes no longer count");
    assert.equal(await store.kemPrekeyCount(systemRandom(20)), null);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pq: a pending request from a client before PQXDH is dropped, not matched, until it updates", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-pq-old-" });
  const old = makeUser(1), peer = makeUser(1);
  const now = Date.now();
  // The relay's store as a relay before PQXDH left it: the old user's classical bundle and its request.
  const store = await RelayStore.open(`${dir}/relay.kv`);
  await store.register(old.identity.id, encodeIdentityPublic(old.identity.publicKeys), now);
  await store.putPrekeys(old.identity.id, { ...bundleOf(old), kemPrekey: null, oneTimeKemPrekeys: [] }, 200);
  await store.requestChat(old.identity.id, peer.identity.id, "P-256", now, 30 * DAY, 500);
  store.close();
  const relay = await startRelay({}, { dir });
  try {
    const { client: co } = await TestClient.login(relay.port, old);
    const { client: cp } = await TestClient.login(relay.port, peer);
    await cp.upload(peer);
    const ask = await cp.request({
      type: "request-chat",
      requestId: 0,
      peerId: old.identity.id,
      curve: "P-384",
    });
    assert.deepEqual([ask.code, ask.detail], ["ok", "request recorded"]);
    // No chat opened on either side: the old client would have got a bundle it cannot read.
    assert.ok(!(await settled(co)).includes("chat-opened"));
    assert.ok(!(await settled(cp)).includes("chat-opened"));
    // Updated, the old user's client uploads a PQXDH bundle and asks again: the chat opens, and the peer,
    // who asked first now, initiates with its KEM prekeys.
    await co.upload(old);
    await co.request({ type: "request-chat", requestId: 0, peerId: peer.identity.id, curve: "P-256" });
    const opened = await cp.next("chat-opened");
    assert.equal(opened.role, "initiator");
    assert.equal(opened.curve, "P-384");
    assert.ok(opened.bundle?.kemPrekey);
    assert.equal((await co.next("chat-opened")).role, "responder");
    for (const c of [co, cp]) await c.close();
    assert.deepEqual(relay.logs, []);
  } finally {
    await relay.close();
    await Deno.remove(dir, { recursive: true });
  }
});
