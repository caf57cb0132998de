// Relaying end-to-end messages through a real relay: only within open chats; to an online peer at once,
// to an offline one through the durable queue, delivered at login, deleted on acknowledgement (the sender
// told); retries, duplicates, quotas, the size limit, the 30-day expiry and the delivery window.

import assert from "node:assert/strict";
import { bytesToHex, systemRandom } from "../../crypto/bytes.ts";
import { MAX_BODY_BYTES } from "../../protocol/wire.ts";
import { makeUser, openChat, startRelay, TestClient } from "./_helpers.ts";

const DAY = 24 * 3600_000;

Deno.test("relay: only within open chats", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser(), carol = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    const { client: cc } = await TestClient.login(relay.port, carol);
    for (
      const [client, to, reason] of [
        [cc, bob.identity.id, "no-chat"],
        [ca, carol.identity.id, "no-chat"],
        [ca, alice.identity.id, "bad-request"],
      ] as const
    ) {
      const r = await client.sendMessage(to, new Uint8Array([1]));
      assert.equal(r.type, "refused");
      assert.equal(r.type === "refused" && r.reason, reason);
    }
    assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array([2]))).type, "queued");
    assert.deepEqual((await cb.next("deliver")).body, new Uint8Array([2]));
    for (const c of [ca, cb, cc]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("relay: an online peer gets messages at once and in order; acks tell the sender", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    const ids: Uint8Array[] = [];
    const sizes = [1, 100, 65_000, 65_001, MAX_BODY_BYTES, 5];
    const answers = sizes.map((n, i) => {
      const id = systemRandom(16);
      ids.push(id);
      const body = new Uint8Array(n).fill(i + 1);
      body[n - 1] = 0xee;
      return ca.sendMessage(bob.identity.id, body, id);
    });
    for (const [i, n] of sizes.entries()) {
      const d = await cb.next("deliver");
      assert.deepEqual(d.messageId, ids[i]);
      assert.deepEqual(d.from, alice.identity.id);
      assert.equal(d.body.length, n);
      assert.equal(d.body[0], n === 1 ? 0xee : i + 1);
      assert.equal(d.body[n - 1], 0xee);
      assert.ok(Math.abs(d.queuedAt - Date.now()) < 60_000);
    }
    await cb.send({ type: "ack", ids });
    for (const [i, q] of (await Promise.all(answers)).entries()) {
      assert.equal(q.type, "queued");
      assert.deepEqual(q.messageId, ids[i]);
    }
    const told = new Set<string>();
    for (let i = 0; i < ids.length; i++) {
      const d = await ca.next("delivered");
      assert.deepEqual(d.peerId, bob.identity.id);
      told.add(bytesToHex(d.messageId));
    }
    assert.deepEqual(told, new Set(ids.map(bytesToHex)));
    for (const c of [ca, cb]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("relay: an offline peer's queue is delivered at login and deleted only on acknowledgement", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    await cb.close();
    await ca.next("peer-offline");
    const ids: Uint8Array[] = [];
    for (let i = 0; i < 150; i++) {
      const q = await ca.sendMessage(bob.identity.id, new Uint8Array([i, i]));
      assert.equal(q.type, "queued");
      ids.push(q.messageId);
    }
    // Bob comes back: 150 waiting, more than one delivery window (64), in order.
    const first = await TestClient.login(relay.port, bob);
    assert.equal(first.welcome.type === "welcome" && first.welcome.queued, 150);
    const got: number[] = [];
    for (let i = 0; i < 64; i++) got.push((await first.client.next("deliver")).body[0]);
    assert.deepEqual(got, [...Array(64).keys()]);
    // The window is full until something is acknowledged.
    assert.equal((await first.client.request({ type: "ping", requestId: 0 })).code, "ok");
    assert.ok(!first.client.has("deliver"));
    await first.client.send({ type: "ack", ids: ids.slice(0, 40) });
    for (let i = 64; i < 104; i++) assert.equal((await first.client.next("deliver")).body[0], i);
    for (let i = 0; i < 40; i++) await ca.next("delivered");
    // Bob drops the connection: the 110 unacknowledged ones are still queued, and come again.
    await first.client.close();
    const second = await TestClient.login(relay.port, bob);
    assert.equal(second.welcome.type === "welcome" && second.welcome.queued, 110);
    for (let start = 40; start < 150; start += 55) {
      const batch: Uint8Array[] = [];
      for (let i = start; i < Math.min(150, start + 55); i++) {
        const d = await second.client.next("deliver");
        assert.equal(d.body[0], i);
        batch.push(d.messageId);
      }
      await second.client.send({ type: "ack", ids: batch });
    }
    assert.equal((await second.client.request({ type: "ping", requestId: 0 })).code, "ok");
    await second.client.close();
    const third = await TestClient.login(relay.port, bob);
    assert.equal(third.welcome.type === "welcome" && third.welcome.queued, 0);
    await third.client.close();
    await ca.close();
  } finally {
    await relay.close();
  }
});

Deno.test("relay: a retried Send is queued once; another sender's id clash is refused", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser(), carol = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    await cb.close();
    const { ca: cc, cb: cb2 } = await openChat(relay.port, carol, bob);
    await cb2.close();
    const id = systemRandom(16);
    assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array([1]), id)).type, "queued");
    assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array([1]), id)).type, "queued");
    const clash = await cc.sendMessage(bob.identity.id, new Uint8Array([2]), id);
    assert.equal(clash.type === "refused" && clash.reason, "duplicate");
    const { client, welcome } = await TestClient.login(relay.port, bob);
    assert.equal(welcome.type === "welcome" && welcome.queued, 1);
    assert.deepEqual((await client.next("deliver")).messageId, id);
    for (const c of [ca, cc, client]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("relay: quotas per recipient (count and bytes) and the message size limit", async () => {
  const relay = await startRelay({
    maxQueuedMessages: 4,
    maxQueuedMessageBytes: 3000,
    maxMessageBytes: 2000,
  });
  try {
    const alice = makeUser(), bob = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    await cb.close();
    const big = await ca.sendMessage(bob.identity.id, new Uint8Array(2001));
    assert.equal(big.type === "refused" && big.reason, "too-large");
    assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array(2000))).type, "queued");
    const bytes = await ca.sendMessage(bob.identity.id, new Uint8Array(1001));
    assert.equal(bytes.type === "refused" && bytes.reason, "over-quota");
    for (let i = 0; i < 3; i++) {
      assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array(10))).type, "queued");
    }
    const count = await ca.sendMessage(bob.identity.id, new Uint8Array(10));
    assert.equal(count.type === "refused" && count.reason, "over-quota");
    // Acknowledging frees room.
    const { client } = await TestClient.login(relay.port, bob);
    const d = await client.next("deliver");
    await client.send({ type: "ack", ids: [d.messageId] });
    await ca.next("delivered");
    assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array(10))).type, "queued");
    for (const c of [ca, client]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("relay: queued messages lapse after 30 days; chat events do not", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    await cb.close();
    await ca.sendMessage(bob.identity.id, new Uint8Array([1]));
    relay.advance(10 * DAY);
    await ca.sendMessage(bob.identity.id, new Uint8Array([2]));
    await ca.request({ type: "close-chat", requestId: 0, peerId: bob.identity.id });
    relay.advance(20 * DAY + 1000);
    // Lapsed but not yet swept: not delivered.
    const first = await TestClient.login(relay.port, bob);
    const d = await first.client.next("deliver");
    assert.deepEqual(d.body, new Uint8Array([2]));
    await first.client.next("chat-closed");
    await first.client.close();
    assert.deepEqual(await relay.app.relay.sweep(), { messages: 1, requests: 0, identities: 0 });
    relay.advance(10 * DAY);
    assert.deepEqual(await relay.app.relay.sweep(), { messages: 1, requests: 0, identities: 0 });
    const second = await TestClient.login(relay.port, bob);
    assert.equal(second.welcome.type === "welcome" && second.welcome.queued, 1); // the chat-closed event
    await second.client.next("chat-closed");
    await second.client.close();
    await ca.close();
  } finally {
    await relay.close();
  }
});

Deno.test("relay: a message for an online peer is held until acknowledged, or stored if it is not", async () => {
  const relay = await startRelay({ holdMs: 300 });
  try {
    const alice = makeUser(), bob = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    // Acknowledged at once: Queued and Delivered together; nothing was stored.
    const first = ca.sendMessage(bob.identity.id, new Uint8Array([1]));
    const d1 = await cb.next("deliver");
    await cb.send({ type: "ack", ids: [d1.messageId] });
    assert.equal((await first).type, "queued");
    assert.deepEqual((await ca.next("delivered")).messageId, d1.messageId);
    // Not acknowledged within the hold: stored, then Queued; the late ack deletes the stored copy.
    const second = ca.sendMessage(bob.identity.id, new Uint8Array([2]));
    const d2 = await cb.next("deliver");
    assert.equal((await second).type, "queued");
    assert.ok(!ca.has("delivered"));
    await cb.send({ type: "ack", ids: [d2.messageId] });
    assert.deepEqual((await ca.next("delivered")).messageId, d2.messageId);
    // Held when the recipient goes away: stored, Queued, and delivered again at the next login.
    const third = ca.sendMessage(bob.identity.id, new Uint8Array([3]));
    await cb.next("deliver");
    await cb.close();
    assert.equal((await third).type, "queued");
    const again = await TestClient.login(relay.port, bob);
    assert.equal(again.welcome.type === "welcome" && again.welcome.queued, 1);
    const d3 = await again.client.next("deliver");
    assert.deepEqual(d3.body, new Uint8Array([3]));
    await again.client.send({ type: "ack", ids: [d3.messageId] });
    await ca.next("delivered");
    await again.client.close();
    const last = await TestClient.login(relay.port, bob);
    assert.equal(last.welcome.type === "welcome" && last.welcome.queued, 0);
    for (const c of [ca, last.client]) await c.close();
  } finally {
    await relay.close();
  }
});
