// The store against abuse (issue 14): file modes even when the folder existed before, the chat limit on
// the side that completes a request, a Welcome that cannot make login fail, a sweep that catches up, the
// store's and each sender's quota, registrations per source and overall, and identities that expire.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { RelayStore } from "../../server/store.ts";
import { loginFrame, makeUser, openChat, startRelay, TestClient, type TestUser } from "./_helpers.ts";

const DAY = 86_400_000;
const unix = Deno.build.os !== "windows";

Deno.test({
  name: "storage: the data folder becomes 0700 and relay.kv, -wal and -shm 0600, even if they existed",
  ignore: !unix,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "sotto-modes-" });
    try {
      // A store made with the usual umask, in a folder anyone may read.
      const kv = await Deno.openKv(`${dir}/relay.kv`);
      await kv.set(["x"], 1);
      kv.close();
      await Deno.writeFile(`${dir}/relay.kv-wal`, new Uint8Array(0), { append: true });
      await Deno.writeFile(`${dir}/relay.kv-shm`, new Uint8Array(0), { append: true });
      for (const f of ["relay.kv", "relay.kv-wal", "relay.kv-shm"]) await Deno.chmod(`${dir}/${f}`, 0o644);
      await Deno.chmod(dir, 0o755);
      const relay = await startRelay({}, { dir });
      try {
        const { client } = await TestClient.login(relay.port, makeUser(1)); // the store is written
        await client.close();
        const mode = async (p: string) => (await Deno.stat(p)).mode! & 0o777;
        assert.equal(await mode(dir), 0o700);
        for (const f of ["relay.kv", "relay.kv-wal", "relay.kv-shm"]) {
          assert.equal(await mode(`${dir}/${f}`), 0o600, f);
        }
      } finally {
        await relay.close();
      }
      // A new store in a new folder: created so.
      const fresh = `${dir}/fresh`;
      const relay2 = await startRelay({}, { dir: fresh });
      try {
        const { client } = await TestClient.login(relay2.port, makeUser(1));
        await client.close();
        for await (const e of Deno.readDir(fresh)) {
          const m = (await Deno.stat(`${fresh}/${e.name}`)).mode! & 0o777;
          if (e.name.startsWith("relay.kv")) assert.equal(m, 0o600, e.name);
        }
        assert.equal((await Deno.stat(fresh)).mode! & 0o777, 0o700);
      } finally {
        await relay2.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** `user` logs in, uploads and asks for a chat with each of `peers`; returns the Result codes. */
async function askAll(port: number, user: TestUser, peers: TestUser[]): Promise<string[]> {
  const { client } = await TestClient.login(port, user);
  await client.upload(user);
  const codes: string[] = [];
  for (const p of peers) {
    codes.push(
      (await client.request({ type: "request-chat", requestId: 0, peerId: p.identity.id, curve: "P-256" }))
        .code,
    );
  }
  await client.close();
  return codes;
}

Deno.test("storage: the chat limit holds on the side that completes a request", async () => {
  const relay = await startRelay({ maxChatsAndRequests: 3 });
  try {
    const alice = makeUser(20);
    const others = Array.from({ length: 5 }, () => makeUser(1));
    for (const o of others) assert.deepEqual(await askAll(relay.port, o, [alice]), ["ok"]);
    // Five people asked Alice; she may complete three of them, not five.
    assert.deepEqual(await askAll(relay.port, alice, others), ["ok", "ok", "ok", "limit", "limit"]);
    const { client, welcome } = await TestClient.login(relay.port, alice);
    assert.equal(welcome.chats.length, 3);
    await client.close();
  } finally {
    await relay.close();
  }
});

Deno.test("storage: a store holding more chats than a Welcome lists still lets its user log in", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-welcome-" });
  try {
    const alice = makeUser(1);
    // 1,001 open chats written straight into the store's records (docs/store.md), as a relay before the
    // fix could have left them.
    const store = await RelayStore.open(`${dir}/relay.kv`);
    store.close();
    const kv = await Deno.openKv(`${dir}/relay.kv`);
    for (let i = 0; i < 1001; i += 250) {
      const op = kv.atomic();
      for (let j = i; j < Math.min(1001, i + 250); j++) {
        const peer = systemRandom(20);
        op.set(["chat", alice.identity.id, peer], { curve: 1, role: 2 });
        op.set(["chat", peer, alice.identity.id], { curve: 1, role: 1 });
      }
      assert.ok((await op.commit()).ok);
    }
    kv.close();
    const relay = await startRelay({}, { dir });
    try {
      const { client, welcome } = await TestClient.login(relay.port, alice);
      assert.equal(welcome.chats.length, 1000);
      assert.equal((await client.request({ type: "ping", requestId: 0 })).code, "ok");
      await client.close();
      assert.deepEqual(relay.logs, []);
    } finally {
      await relay.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage: one sweep deletes every lapsed message, however many", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-sweep-" });
  const store = await RelayStore.open(`${dir}/relay.kv`);
  try {
    const a = systemRandom(20), b = systemRandom(20), now = 1_700_000_000_000;
    await store.requestChat(a, b, "P-256", now, 1000, 10);
    await store.requestChat(b, a, "P-256", now, 1000, 10);
    const limits = { maxCount: 10_000, maxBytes: 1 << 30, ttl: 1000 };
    const usageBefore = store.usage;
    await Promise.all(
      Array.from(
        { length: 2500 },
        () => store.enqueue(a, b, systemRandom(16), new Uint8Array(10), now, limits),
      ),
    );
    assert.equal(await store.queuedCount(b), 2501); // and the chat-opened event
    assert.equal(await store.sentBytes(a), 2500 * (10 + 256));
    assert.deepEqual(await store.sweep(now + 1000), { messages: 2500, requests: 0 });
    assert.equal(await store.queuedCount(b), 1);
    assert.equal(await store.sentBytes(a), 0);
    assert.equal(store.usage, usageBefore);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage: past the store's quota new messages and identities are refused, and nothing is lost", async () => {
  const relay = await startRelay({ storeQuotaBytes: 120_000 });
  try {
    const alice = makeUser(1), bob = makeUser(1);
    const { ca, cb } = await openChat(relay.port, alice, bob);
    await cb.close();
    await ca.next("peer-offline");
    const body = new Uint8Array(10_000);
    let queued = 0;
    for (let i = 0; i < 100; i++) {
      const r = await ca.sendMessage(bob.identity.id, body);
      if (r.type === "refused") {
        assert.equal(r.reason, "over-quota");
        break;
      }
      queued++;
    }
    assert.ok(queued > 0 && queued < 12, `${queued} queued`);
    assert.ok(relay.app.relay.online === 1);
    // No new identity while the store is full; known ones still log in.
    const e = await attempt(relay.port, makeUser(0));
    assert.equal(e.code, "rate-limited");
    assert.match(e.message, /store is full/);
    // Bob gets every message that was queued; once he has acknowledged them, there is room again.
    const { client: bob2, welcome } = await TestClient.login(relay.port, bob);
    assert.equal(welcome.queued, queued);
    for (let i = 0; i < queued; i++) {
      const d = await bob2.next("deliver");
      await bob2.send({ type: "ack", ids: [d.messageId] });
      await ca.next("delivered");
    }
    assert.equal((await ca.sendMessage(bob.identity.id, body)).type, "queued");
    for (const x of [ca, bob2]) await x.close();
  } finally {
    await relay.close();
  }
});

Deno.test("storage: one sender's quota holds over all its recipients", async () => {
  const relay = await startRelay({ senderQuotaBytes: 50_000 });
  try {
    const alice = makeUser(2), bob = makeUser(1), carol = makeUser(1);
    const { ca, cb } = await openChat(relay.port, alice, bob);
    const { ca: ca2, cb: cc } = await openChat(relay.port, alice, carol);
    await ca.close(); // ca2 is Alice now
    for (const x of [cb, cc]) await x.close();
    const body = new Uint8Array(10_000);
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) {
      const to = i % 2 === 0 ? bob : carol;
      const r = await ca2.sendMessage(to.identity.id, body);
      answers.push(r.type === "queued" ? "queued" : r.reason);
    }
    // (10,000 + 256) × 4 fits in 50,000; a fifth does not, whoever it is for.
    assert.deepEqual(answers, ["queued", "queued", "queued", "queued", "over-quota", "over-quota"]);
    // Bob takes his two: Alice may send two more.
    const { client: bob2 } = await TestClient.login(relay.port, bob);
    for (let i = 0; i < 2; i++) {
      await bob2.send({ type: "ack", ids: [(await bob2.next("deliver")).messageId] });
    }
    for (let i = 0; i < 2; i++) await ca2.next("delivered");
    await bob2.close();
    await ca2.next("peer-offline");
    assert.equal((await ca2.sendMessage(carol.identity.id, body)).type, "queued");
    assert.equal((await ca2.sendMessage(bob.identity.id, body)).type, "queued");
    assert.equal((await ca2.sendMessage(bob.identity.id, body)).type, "refused");
    await ca2.close();
  } finally {
    await relay.close();
  }
});

/** Logs in as `user`; "ok" with a Welcome, else the code of the relay's Error (and its message). */
async function register(port: number, user = makeUser(0)): Promise<string> {
  return (await attempt(port, user)).code;
}

async function attempt(port: number, user: TestUser): Promise<{ code: string; message: string }> {
  const c = await TestClient.connect(port);
  try {
    const challenge = await c.next("challenge");
    await c.send(loginFrame(c.conn, user, challenge.nonce));
    const welcome = c.next("welcome").then(() => ({ code: "ok", message: "" }), () => null);
    const error = c.next("error").then((e) => ({ code: e.code, message: e.message }), () => null);
    return (await Promise.race([welcome, error]) ?? await welcome ?? await error)!;
  } finally {
    await c.close();
  }
}

Deno.test("storage: new identities are limited per source address and overall; known ones are not", async () => {
  const perSource = await startRelay({ registrationBurstPerSource: 3, registrationsPerSourcePerHour: 1 });
  try {
    const first = makeUser(0);
    const codes = [await register(perSource.port, first)];
    for (let i = 0; i < 4; i++) codes.push(await register(perSource.port));
    assert.deepEqual(codes, ["ok", "ok", "ok", "rate-limited", "rate-limited"]);
    assert.equal(await register(perSource.port, first), "ok", "a known identity logs in");
  } finally {
    await perSource.close();
  }
  const overall = await startRelay({ registrationBurst: 2, registrationsPerHour: 1 });
  try {
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push(await register(overall.port));
    assert.deepEqual(codes, ["ok", "ok", "rate-limited"]);
  } finally {
    await overall.close();
  }
});

Deno.test("storage: an identity without a login for N days expires with its prekeys, queue and chats", async () => {
  const relay = await startRelay({ identityTtlMs: 10 * DAY });
  try {
    const alice = makeUser(3), bob = makeUser(3);
    const { ca, cb: first } = await openChat(relay.port, alice, bob);
    await first.close();
    await ca.next("peer-offline");
    // Bob's next login is told he has no one-time KEM prekeys: the relay holds his KEM prekeys.
    const { client: cb } = await TestClient.login(relay.port, bob);
    assert.equal((await cb.next("kem-prekeys-low")).remaining, 0);
    await ca.next("peer-online");
    await cb.close();
    await ca.next("peer-offline");
    assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array(100))).type, "queued");
    const usageWith = relay.app.relay.storeUsage;
    relay.advance(6 * DAY);
    assert.deepEqual(await relay.app.relay.sweep(), { messages: 0, requests: 0, identities: 0 });
    relay.advance(5 * DAY); // Bob: 11 days without a login; Alice is online (she is kept).
    assert.deepEqual(await relay.app.relay.sweep(), { messages: 0, requests: 0, identities: 1 });
    const closed = await ca.next("chat-closed");
    assert.deepEqual(closed.peerId, bob.identity.id);
    await ca.send({ type: "ack", ids: [closed.eventId] });
    assert.ok(relay.app.relay.storeUsage < usageWith, "the store holds less");
    // Bob comes back: a new registration, with nothing waiting and no chat.
    const { client, welcome } = await TestClient.login(relay.port, bob);
    assert.deepEqual([welcome.chats.length, welcome.queued], [0, 0]);
    assert.equal((await client.next("prekeys-low")).remaining, 0, "his prekeys are gone");
    // His KEM prekeys too: KemPrekeysLow goes only to users whose KEM prekeys the relay holds (it would
    // follow the Welcome, before the answer to this Ping).
    assert.equal((await client.request({ type: "ping", requestId: 0 })).code, "ok");
    assert.ok(!client.has("kem-prekeys-low"), "his KEM prekeys are gone");
    await client.close();
    // Alice, online all along, did not expire; after she leaves for 11 days, she does.
    await ca.close();
    while (relay.app.relay.online > 0) await new Promise((r) => setTimeout(r, 10));
    relay.advance(11 * DAY);
    // Both go now: Alice, and Bob, who came back 11 days ago.
    assert.deepEqual(await relay.app.relay.sweep(), { messages: 0, requests: 0, identities: 2 });
  } finally {
    await relay.close();
  }
});
