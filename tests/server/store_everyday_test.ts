// server/store.ts, the parts of issue 12: the asked index behind the requests inbox (kept with its request
// through every way a request ends, and built once for a store from before it), withdrawal by the sender
// with the counters back where they were, and per-message lifetimes with the earliest expiry.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { type QueueLimits, RelayStore } from "../../server/store.ts";

const LIMITS: QueueLimits = { maxCount: 10_000, maxBytes: 1 << 30, ttl: 30 * 24 * 3600_000 };
const NOW = 1_700_000_000_000;
const TTL = 1000;

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

/** Every key of the asked index. */
async function askedKeys(path: string): Promise<Deno.KvKey[]> {
  const kv = await Deno.openKv(path);
  try {
    const out: Deno.KvKey[] = [];
    for await (const e of kv.list({ prefix: ["asked"] })) out.push(e.key);
    return out;
  } finally {
    kv.close();
  }
}

const ids = (list: { peerId: Uint8Array }[]) => list.map((a) => a.peerId);

Deno.test("store: the asked index lists live requests newest first, without dismissed or blocked ones", async () => {
  await withStore(async (store) => {
    const target = systemRandom(20);
    const askers = Array.from({ length: 5 }, () => systemRandom(20));
    for (const [i, a] of askers.entries()) {
      const out = await store.requestChat(a, target, "P-256", NOW + i, TTL + i, 10);
      assert.deepEqual(out, { kind: "pending", expiresAt: NOW + i + TTL + i, announce: true });
    }
    assert.deepEqual(ids(await store.listAsked(target, NOW, 10)), [...askers].reverse());
    assert.deepEqual(ids(await store.listAsked(target, NOW, 2)), [askers[4], askers[3]], "the newest");
    const first = (await store.listAsked(target, NOW, 10)).at(-1)!;
    assert.deepEqual(first, { peerId: askers[0], curve: "P-256", at: NOW, expiresAt: NOW + TTL });
    // Dismissed: gone from the list, kept through a repeat, and the repeat is not to be announced.
    assert.equal(await store.dismissRequest(target, askers[1]), true);
    assert.equal(await store.dismissRequest(target, askers[1]), true);
    assert.equal(await store.dismissRequest(target, systemRandom(20)), false);
    const repeat = await store.requestChat(askers[1], target, "P-256", NOW + 10, TTL, 10);
    assert.equal(repeat.kind === "pending" && repeat.announce, false);
    // Blocked by the target: not listed, not to be announced.
    await store.block(target, askers[2], NOW);
    const blocked = await store.requestChat(askers[2], target, "P-256", NOW + 10, TTL, 10);
    assert.equal(blocked.kind === "pending" && blocked.announce, false);
    assert.deepEqual(ids(await store.listAsked(target, NOW, 10)), [askers[4], askers[3], askers[0]]);
    // Lapsed at `now`: not listed.
    assert.deepEqual(ids(await store.listAsked(target, NOW + TTL + 3, 10)), [askers[4], askers[3]]);
    // A request that lapsed and is asked again is a new one: announced even though it was dismissed.
    await store.sweep(NOW + 10 * TTL);
    const anew = await store.requestChat(askers[1], target, "P-256", NOW + 20 * TTL, TTL, 10);
    assert.equal(anew.kind === "pending" && anew.announce, true);
  });
});

Deno.test("store: the asked index goes with its request (cancel, chat opened, own block, lapse, expiry)", async () => {
  await withStore(async (store, path) => {
    const t = systemRandom(20), [a, b, c, d, e] = Array.from({ length: 5 }, () => systemRandom(20));
    for (const x of [a, b, c, d, e]) await store.requestChat(x, t, "P-384", NOW, TTL, 10);
    assert.equal((await askedKeys(path)).length, 5);
    await store.cancelRequest(a, t);
    assert.equal((await store.requestChat(t, b, "P-256", NOW, TTL, 10)).kind, "opened");
    await store.block(c, t, NOW); // c withdraws its own request by blocking t
    assert.deepEqual(ids(await store.listAsked(t, NOW, 10)).length, 2);
    assert.equal((await store.sweep(NOW + TTL)).requests, 2);
    assert.deepEqual(await askedKeys(path), []);
    // An identity that expires takes its requests, and their index entries, with it.
    await store.register(e, systemRandom(597), NOW);
    await store.requestChat(e, t, "P-521", NOW, 100 * 24 * 3600_000, 10);
    assert.equal((await askedKeys(path)).length, 1);
    assert.equal(
      (await store.expireIdentities(NOW + 200 * 24 * 3600_000, 180 * 24 * 3600_000)).identities,
      1,
    );
    assert.deepEqual(await askedKeys(path), []);
  });
});

Deno.test("store: a store from before the asked index gets one at its next opening", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-store-" });
  const path = `${dir}/relay.kv`;
  try {
    const t = systemRandom(20), a = systemRandom(20), b = systemRandom(20);
    let store = await RelayStore.open(path);
    await store.requestChat(a, t, "P-256", NOW, TTL, 10);
    await store.requestChat(b, t, "P-521", NOW, TTL, 10);
    const usage = store.usage;
    store.close();
    // Make it look like format 2: the counters without the index.
    const kv = await Deno.openKv(path);
    for (const key of await askedKeys(path)) await kv.delete(key);
    await kv.set(["meta", "format"], 2);
    kv.close();
    store = await RelayStore.open(path);
    try {
      assert.equal(store.usage, usage, "the counters are kept");
      const listed = await store.listAsked(t, NOW, 10);
      assert.equal(listed.length, 2);
      assert.ok(listed.every((x) => x.at === 0), "the time of asking is unknown: 0");
      const curves = new Map(listed.map((x) => [x.peerId.join(), x.curve]));
      assert.equal(curves.get(a.join()), "P-256");
      assert.equal(curves.get(b.join()), "P-521");
    } finally {
      store.close();
    }
    const kv2 = await Deno.openKv(path);
    assert.equal((await kv2.get(["meta", "format"])).value, 3);
    kv2.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: withdrawal by the sender only, in one transaction, with the counters back", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20), b = systemRandom(20), c = systemRandom(20);
    assert.equal((await store.requestChat(a, b, "P-256", NOW, TTL, 10)).kind, "pending");
    assert.equal((await store.requestChat(b, a, "P-256", NOW, TTL, 10)).kind, "opened");
    const usage = store.usage, count = await store.queuedCount(b);
    const m = systemRandom(16);
    const out = await store.enqueue(a, b, m, systemRandom(70_000), NOW, LIMITS);
    assert.equal(out.kind, "queued");
    assert.ok(store.usage > usage);
    assert.equal(await store.withdraw(c, b, m), false, "not another sender");
    assert.equal(await store.withdraw(b, b, m), false, "not the recipient");
    assert.equal(await store.withdraw(a, c, m), false, "not another queue");
    assert.equal(await store.withdraw(a, b, m), true);
    assert.equal(await store.withdraw(a, b, m), false, "once");
    assert.equal(store.usage, usage);
    assert.equal(await store.sentBytes(a), 0);
    assert.equal(await store.queuedCount(b), count);
    const { items } = await store.readQueue(b, -1, 100, NOW);
    assert.ok(items.every((i) => i.kind !== "message"));
    // The fast path still works after the slow one changed the queue (its cache was kept up to date).
    assert.equal((await store.enqueue(a, b, systemRandom(16), Uint8Array.of(1), NOW, LIMITS)).kind, "queued");
    assert.equal(await store.queuedCount(b), count + 1);
  });
});

Deno.test("store: a message's own lifetime, capped by the queue's; the earliest expiry", async () => {
  await withStore(async (store) => {
    const a = systemRandom(20), b = systemRandom(20);
    assert.equal(await store.nextExpiry(), null);
    await store.requestChat(a, b, "P-256", NOW, 10 * TTL, 10);
    await store.requestChat(b, a, "P-256", NOW, 10 * TTL, 10);
    const short = await store.enqueue(a, b, systemRandom(16), Uint8Array.of(1), NOW, LIMITS, 500);
    const long = await store.enqueue(a, b, systemRandom(16), Uint8Array.of(2), NOW, LIMITS, LIMITS.ttl * 2);
    const plain = await store.enqueue(a, b, systemRandom(16), Uint8Array.of(3), NOW, LIMITS);
    assert.equal(short.kind === "queued" && short.ref.expiresAt, NOW + 500);
    assert.equal(long.kind === "queued" && long.ref.expiresAt, NOW + LIMITS.ttl);
    assert.equal(plain.kind === "queued" && plain.ref.expiresAt, NOW + LIMITS.ttl);
    assert.equal(await store.nextExpiry(), NOW + 500);
    const { items } = await store.readQueue(b, -1, 100, NOW + 500);
    assert.deepEqual(
      items.filter((i) => i.kind === "message").map((i) => i.kind === "message" && i.body[0]),
      [2, 3],
    );
    assert.equal((await store.sweep(NOW + 500)).messages, 1);
    assert.equal(await store.nextExpiry(), NOW + LIMITS.ttl);
    await assert.rejects(
      () => store.enqueue(a, b, systemRandom(16), Uint8Array.of(1), NOW, LIMITS, 0),
      RangeError,
    );
  });
});
