// server/store.ts on its own (a Deno KV file in a temporary folder): requests and chats, queues under
// concurrency (group commits and their fallback), the bookkeeping of counts and bytes, the caches after a
// chat closes, prekeys, the sweep, reopening the file, and argument checks.

import assert from "node:assert/strict";
import { bytesToHex, systemRandom } from "../../crypto/bytes.ts";
import { encodeIdentityPublic } from "../../protocol/identity.ts";
import { decodeBundle } from "../../protocol/prekeys.ts";
import { CURVES } from "../../protocol/suite.ts";
import { type EntryRef, type QueueLimits, RelayStore } from "../../server/store.ts";
import { bundleOf, makeUser } from "./_helpers.ts";

const LIMITS: QueueLimits = { maxCount: 10_000, maxBytes: 1 << 30, ttl: 30 * 24 * 3600_000 };
const NOW = 1_700_000_000_000;

async function withStore(fn: (store: RelayStore, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sotto-store-" });
  const store = await RelayStore.open(`${dir}/relay.kv`);
  try {
    await fn(store, `${dir}/relay.kv`);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function open(store: RelayStore, a: Uint8Array, b: Uint8Array): Promise<void> {
  assert.equal((await store.requestChat(a, b, "P-256", NOW, 1000, 10)).kind, "pending");
  assert.deepEqual(await store.requestChat(b, a, "P-521", NOW, 1000, 10), { kind: "opened", curve: "P-256" });
}

async function drain(store: RelayStore, user: Uint8Array): Promise<EntryRef[]> {
  const { items } = await store.readQueue(user, -1, 10_000, NOW);
  return items.map((i) => i.ref);
}

Deno.test("store: a mutual request opens the chat once, with roles, curve and an event for each side", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20), b = systemRandom(20);
    await open(store, a, b);
    assert.deepEqual(await store.listChats(a), [{ peerId: b, curve: "P-256", role: "initiator" }]);
    assert.deepEqual(await store.listChats(b), [{ peerId: a, curve: "P-256", role: "responder" }]);
    assert.deepEqual(await store.listRequests(a, NOW), []);
    assert.equal((await store.requestChat(a, b, "P-256", NOW, 1000, 10)).kind, "already-open");
    const [ea] = (await store.readQueue(a, -1, 10, NOW)).items;
    assert.equal(ea.kind === "opened" && ea.role, "initiator");
    assert.equal(await store.queuedCount(b), 1);
    assert.ok(await store.closeChat(b, a, NOW));
    assert.ok(!await store.hasChat(a, b));
    assert.equal(await store.queuedCount(a), 2); // opened, then closed
  });
});

Deno.test("store: concurrent enqueues keep order, counts and bytes; acks bring them back to zero", async () => {
  await withStore(async (store) => {
    const senders = Array.from({ length: 8 }, () => systemRandom(20)), bob = systemRandom(20);
    for (const s of senders) await open(store, s, bob);
    await store.ack(bob, await drain(store, bob));
    assert.equal(await store.queuedCount(bob), 0);
    // 8 senders × 40 messages at once: group commits, with slow-path fallbacks where they conflict.
    let bytes = 0;
    await Promise.all(senders.map(async (s, k) => {
      for (let i = 0; i < 40; i++) {
        const body = new Uint8Array(1 + (i * 37 + k) % 500).fill(k);
        bytes += body.length;
        const out = await store.enqueue(s, bob, systemRandom(16), body, NOW, LIMITS);
        assert.equal(out.kind, "queued");
      }
    }));
    const { items } = await store.readQueue(bob, -1, 1000, NOW);
    assert.equal(items.length, 320);
    const seqs = items.map((i) => i.ref.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    assert.equal(new Set(seqs).size, 320);
    // Per sender, the order of its messages is kept.
    for (let k = 0; k < senders.length; k++) {
      const mine = items.filter((i) => i.kind === "message" && i.body[0] === k);
      assert.deepEqual(
        mine.map((i) => (i.kind === "message" ? i.body.length : 0)),
        [...Array(40).keys()].map((i) => 1 + (i * 37 + k) % 500),
      );
    }
    assert.equal(await store.queuedCount(bob), 320);
    // Acknowledge half by reference and half by id, concurrently.
    const refs = items.map((i) => i.ref);
    const acked = await Promise.all([
      store.ack(bob, refs.slice(0, 160)),
      store.ack(bob, [], refs.slice(160).map((r) => r.id)),
    ]);
    assert.equal(acked[0].length + acked[1].length, 320);
    assert.equal(await store.queuedCount(bob), 0);
    assert.deepEqual((await store.readQueue(bob, -1, 10, NOW)).items, []);
    // Acknowledging again changes nothing; the bytes are back to zero (a full-size quota fits again).
    assert.deepEqual(await store.ack(bob, [], refs.slice(0, 3).map((r) => r.id)), []);
    const tight = { ...LIMITS, maxBytes: bytes };
    assert.equal(
      (await store.enqueue(senders[0], bob, systemRandom(16), new Uint8Array(bytes), NOW, tight)).kind,
      "queued",
    );
  });
});

Deno.test("store: duplicates, retries, quotas and closed chats", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20), b = systemRandom(20), c = systemRandom(20);
    await open(store, a, b);
    await open(store, c, b);
    const id = systemRandom(16);
    const body = new Uint8Array(10);
    assert.equal((await store.enqueue(a, b, id, body, NOW, LIMITS)).kind, "queued");
    // Retries and clashes, at once (in one group commit) and later.
    const again = await Promise.all([
      store.enqueue(a, b, id, body, NOW, LIMITS),
      store.enqueue(c, b, id, body, NOW, LIMITS),
    ]);
    assert.deepEqual(again.map((o) => o.kind), ["already-queued", "duplicate"]);
    const id2 = systemRandom(16);
    const both = await Promise.all([
      store.enqueue(a, b, id2, body, NOW, LIMITS),
      store.enqueue(a, b, id2, body, NOW, LIMITS),
    ]);
    assert.deepEqual(both.map((o) => o.kind).sort(), ["already-queued", "queued"]);
    assert.equal(await store.queuedCount(b), 4); // two events, two messages
    const small = { ...LIMITS, maxCount: 5 };
    assert.equal((await store.enqueue(a, b, systemRandom(16), body, NOW, small)).kind, "queued");
    assert.equal((await store.enqueue(a, b, systemRandom(16), body, NOW, small)).kind, "over-quota");
    // A closed chat refuses at once, even with the chat cached by earlier sends.
    assert.ok(await store.hasChat(a, b));
    assert.ok(await store.closeChat(b, a, NOW));
    assert.ok(!await store.hasChat(a, b));
    assert.equal((await store.enqueue(a, b, systemRandom(16), body, NOW, LIMITS)).kind, "no-chat");
    assert.equal((await store.enqueue(c, b, systemRandom(16), body, NOW, LIMITS)).kind, "queued");
  });
});

Deno.test("store: a chat closed while it is being looked up is never cached as open", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20), b = systemRandom(20);
    for (let round = 0; round < 20; round++) {
      await open(store, a, b);
      const lookups = Array.from({ length: 10 }, () => store.hasChat(a, b));
      const closing = store.block(b, a, NOW);
      await Promise.all(lookups);
      assert.ok(await closing);
      assert.ok(!await store.hasChat(a, b), `round ${round}`);
      await store.unblock(b, a);
    }
  });
});

Deno.test("store: blocks, cancellation, limits and the sweep of lapsed requests and messages", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20), b = systemRandom(20), c = systemRandom(20);
    await store.block(b, a, NOW);
    assert.equal((await store.requestChat(a, b, "P-256", NOW, 1000, 10)).kind, "pending");
    assert.equal((await store.requestChat(b, a, "P-256", NOW, 1000, 10)).kind, "blocked");
    await store.unblock(b, a);
    assert.ok(await store.cancelRequest(a, b));
    assert.ok(!await store.cancelRequest(a, b));
    assert.equal((await store.requestChat(b, a, "P-256", NOW, 1000, 10)).kind, "pending");
    assert.equal((await store.requestChat(b, c, "P-256", NOW, 1000, 1)).kind, "limit");
    // Refreshing a request keeps one record and moves its expiry.
    assert.equal((await store.requestChat(b, a, "P-384", NOW + 500, 1000, 2)).kind, "pending");
    assert.deepEqual(await store.listRequests(b, NOW), [{
      peerId: a,
      curve: "P-384",
      expiresAt: NOW + 1500,
    }]);
    assert.deepEqual(await store.sweep(NOW + 1499), { messages: 0, requests: 0 });
    assert.deepEqual(await store.listRequests(b, NOW + 1500), []);
    assert.deepEqual(await store.sweep(NOW + 1500), { messages: 0, requests: 1 });
    // Messages lapse after their TTL; chat events never do.
    await open(store, a, c);
    await store.enqueue(a, c, systemRandom(16), new Uint8Array(5), NOW, { ...LIMITS, ttl: 100 });
    await store.enqueue(a, c, systemRandom(16), new Uint8Array(7), NOW, { ...LIMITS, ttl: 300 });
    assert.equal((await store.readQueue(c, -1, 10, NOW + 200)).items.length, 2); // the event and one message
    assert.deepEqual(await store.sweep(NOW + 200), { messages: 1, requests: 0 });
    assert.deepEqual(await store.sweep(NOW + 10_000), { messages: 1, requests: 0 });
    assert.equal(await store.queuedCount(c), 1);
  });
});

Deno.test("store: prekeys — uploads merge, a one-time prekey is handed out once, bundles are fixed", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20), real = makeUser(3), id = real.identity.id;
    const kem = real.prekeys.addOneTimeKemPrekeys(real.identity, 2, NOW);
    assert.deepEqual(await store.prekeyCounts(id), { "P-256": null, "P-384": null, "P-521": null });
    const encoded = encodeIdentityPublic(real.identity.publicKeys);
    assert.equal(await store.register(id, encoded), "registered");
    assert.equal(await store.register(id, encoded), "known");
    assert.equal(await store.register(id, new Uint8Array(597)), "conflict");
    // A cap of two: the third key of each curve is not stored (yet).
    assert.deepEqual(await store.putPrekeys(real.identity.id, bundleOf(real), 2), {
      "P-256": 2,
      "P-384": 2,
      "P-521": 2,
    });
    await open(store, a, real.identity.id);
    const [opened] = (await store.readQueue(a, -1, 10, NOW)).items;
    const fixed = await store.fixBundle(a, opened.ref.seq, true);
    assert.ok(fixed && fixed.tookOneTime);
    assert.equal(fixed.remaining, 1);
    // PQXDH: the last-resort KEM prekey and the first one-time KEM prekey go out with it.
    const handed = decodeBundle(fixed.bundle);
    assert.equal(handed.kemPrekey?.id, bundleOf(real).kemPrekey?.id);
    assert.deepEqual(handed.oneTimeKemPrekeys.map((k) => k.id), [kem[0].id]);
    const again = await store.fixBundle(a, opened.ref.seq, true);
    assert.deepEqual(again?.bundle, fixed.bundle);
    assert.equal(again?.tookOneTime, false);
    // Re-uploading everything (the handed-out key included) does not bring it back; the key left out by
    // the cap and a new one are added.
    real.prekeys.addOneTimePrekeys("P-256", 1);
    const counts = await store.putPrekeys(real.identity.id, bundleOf(real), 200);
    assert.deepEqual(counts, { "P-256": 3, "P-384": 3, "P-521": 3 });
    for (const c of CURVES) assert.equal((await store.prekeyCounts(real.identity.id))[c], counts[c]);
  });
});

Deno.test("store: everything survives closing and reopening the file", async () => {
  await withStore(async (first, path) => {
    const a = systemRandom(20), b = systemRandom(20);
    await open(first, a, b);
    const id = systemRandom(16);
    await first.enqueue(a, b, id, new Uint8Array([1, 2, 3]), NOW, LIMITS);
    first.close();
    const second = await RelayStore.open(path);
    try {
      assert.ok(await second.hasChat(a, b));
      const { items } = await second.readQueue(b, -1, 10, NOW);
      assert.equal(items.length, 2);
      const m = items[1];
      assert.equal(m.kind === "message" && bytesToHex(m.body), "010203");
      assert.deepEqual(m.ref.id, id);
    } finally {
      second.close();
    }
  });
});

Deno.test("store: arguments are checked", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20);
    await assert.rejects(
      () => store.hasChat(a, new Uint8Array(19)),
      (e) => e instanceof RangeError && /peer/.test(e.message),
    );
    await assert.rejects(
      () => store.enqueue(a, a, new Uint8Array(15), new Uint8Array(1), NOW, LIMITS),
      RangeError,
    );
    await assert.rejects(() => store.ack("x" as unknown as Uint8Array, []), TypeError);
    await assert.rejects(() => RelayStore.open(""), TypeError);
  });
});
