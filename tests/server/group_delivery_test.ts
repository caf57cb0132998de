// Delivery of group logs through a real relay: a member that was offline gets everything when it returns,
// in order, through the delivery window; what every member acknowledged is collected, and nothing before; a
// full log drops its oldest entries; entries lapse; the limits on members, groups and invitations; blobs
// (a file stored once, fetched by each member, deleted when all are done).

import assert from "node:assert/strict";
import { BLOB_CHUNK_BYTES } from "../../protocol/wire.ts";
import { startRelay } from "./_helpers.ts";
import { assertInSync, chat, GroupUser, invite, makeGroup } from "./_groups.ts";

const DAY = 86_400_000;

/**
 * Collects group logs until `n` entries went (or 30 s): members' acks reach the relay and their cursors are
 * written in the background, later on a loaded host. Returns how many went.
 */
async function collect(relay: Awaited<ReturnType<typeof startRelay>>, n: number): Promise<number> {
  let collected = 0;
  for (let i = 0; i < 300 && collected < n; i++) {
    await new Promise((r) => setTimeout(r, 100));
    collected += await relay.app.relay.collectGroups();
  }
  return collected;
}

Deno.test("groups: an offline member gets everything in order when it returns; then it is collected", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 3);
  try {
    const [a, b, c] = users;
    assert.equal(await collect(relay, 1), 1, "the commit everyone read");
    const usage = relay.app.relay.storeUsage;
    await b.close();
    // 150 messages (more than the delivery window of 64), a commit in the middle, from two senders.
    for (let i = 0; i < 150; i++) {
      const u = i % 2 === 0 ? a : c;
      assert.equal((await u.send(g, `m${i}`)).type, "group-accepted");
      if (i === 70) assert.equal((await c.commit(g)).type, "group-accepted");
    }
    for (const u of [a, c]) await u.read(g, 151);
    // Not collected while b has not read them.
    assert.equal(await relay.app.relay.collectGroups(), 0);
    await b.reconnect(relay.port);
    const got = await b.read(g, 151);
    const texts = got.flatMap((r) => r.kind === "application" ? [r.text] : []);
    assert.deepEqual(texts, Array.from({ length: 150 }, (_, i) => `m${i}`));
    assert.equal(got.filter((r) => r.kind === "commit").length, 1);
    for (let i = 1; i < got.length; i++) assert.equal(got[i].seq, got[i - 1].seq + 1, "in order");
    assertInSync(g, users);
    // Once every member acknowledged everything, the log is deleted. Cursors are written in the background,
    // and a's and c's acknowledgements wait behind their connections' budgets (spent on 75 sends each), so
    // collect until everything is gone (a bounded wait for a condition, not a timing assertion).
    assert.equal(await collect(relay, 151), 151);
    assert.ok(relay.app.relay.storeUsage <= usage, `usage ${relay.app.relay.storeUsage} back to ${usage}`);
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});

Deno.test("groups: a full log drops its oldest entries; entries lapse after the message TTL", async () => {
  const relay = await startRelay({ maxGroupLogEntries: 10 });
  const { users, groupId: g } = await makeGroup(relay.port, 2);
  try {
    const [a, b] = users;
    await b.close();
    let last = 0;
    for (let i = 0; i < 25; i++) {
      const r = await a.send(g, `m${i}`);
      assert.equal(r.type, "group-accepted");
      last = (r as { seq: number }).seq;
    }
    await a.read(g, 25);
    await b.reconnect(relay.port);
    const got = await b.read(g, 10);
    assert.deepEqual(
      got.map((r) => r.seq),
      Array.from({ length: 10 }, (_, i) => last - 9 + i),
      "the newest ten",
    );
    // The member sees the gap in seq; MLS copes with missing application messages (not with a missed commit).
    assert.deepEqual(
      got.map((r) => r.kind === "application" && r.text),
      Array.from({ length: 10 }, (_, i) => `m${15 + i}`),
    );

    // Lapse: b offline, a sends, 31 days pass, the sweep deletes it; b returns to nothing.
    await b.close();
    assert.equal((await a.send(g, "old news")).type, "group-accepted");
    await a.read(g);
    relay.advance(31 * DAY);
    await relay.app.relay.sweep();
    await b.reconnect(relay.port);
    assert.equal((await a.send(g, "fresh")).type, "group-accepted");
    const [r] = await b.read(g);
    assert.ok(r.kind === "application" && r.text === "fresh");
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});

Deno.test("groups: members per group, groups per user, the invitation limit", async () => {
  const relay = await startRelay({ maxGroupMembers: 3, maxGroupsPerUser: 2 });
  const users = await GroupUser.many(relay.port, 5);
  try {
    const [a, b, c, d, e] = users;
    const g = await a.createGroup();
    await invite(a, g, [b]);
    await chat(a, c);
    await chat(a, d);
    assert.equal((await c.acceptInvite(g, a.id)).code, "ok");
    // Two members and one acceptance waiting: the group is full.
    const full = await d.acceptInvite(g, a.id);
    assert.equal(full.code, "limit", full.detail);
    const kp = (await a.nextInvite(g)).keyPackage;
    assert.equal((await a.commit(g, { add: [kp] })).type, "group-accepted");
    // Groups per user: a creates a second group, then no third; c (in one) may accept one more only.
    const g2 = await a.createGroup();
    const third = await a.client.request({
      type: "create-group",
      requestId: 0,
      groupId: crypto.getRandomValues(new Uint8Array(32)),
      suite: 2,
    });
    assert.equal(third.code, "limit");
    await invite(a, g2, [c], [], false);
    const h = await e.createGroup();
    const h2 = await e.createGroup();
    await chat(e, c);
    assert.equal((await c.acceptInvite(h, e.id)).code, "limit");
    assert.ok(h2);
    // The suite must be one of 2, 5, 7; the ID must be free.
    const badSuite = await e.client.request({
      type: "create-group",
      requestId: 0,
      groupId: crypto.getRandomValues(new Uint8Array(16)),
      suite: 1,
    });
    assert.equal(badSuite.code, "bad-request");
    const taken = await d.client.request({ type: "create-group", requestId: 0, groupId: g, suite: 2 });
    assert.equal(taken.code, "bad-request");
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});

Deno.test("groups: a member of more groups than one store read takes gets every group's log at login", async () => {
  const relay = await startRelay();
  const a = await GroupUser.login(relay.port);
  try {
    // Seven groups: their records and cursors are fourteen keys, more than Deno KV's ten per read.
    const groups: Uint8Array[] = [];
    for (let i = 0; i < 7; i++) groups.push(await a.createGroup());
    for (const g of groups) assert.equal((await a.send(g, "before")).type, "group-accepted");
    // Not acknowledged on this connection: the next login delivers every group's entry again.
    await a.reconnect(relay.port);
    for (const g of groups) assert.equal((await a.read(g))[0].kind, "own");
    assert.deepEqual(relay.logs, []);
  } finally {
    await a.close();
    await relay.close();
  }
});

Deno.test("groups: a 1:1 message held back by a window full of group entries comes once they are acknowledged", async () => {
  const relay = await startRelay({ deliveryWindow: 4 });
  const { users, groupId: g } = await makeGroup(relay.port, 2);
  try {
    const [a, b] = users;
    for (let i = 0; i < 4; i++) assert.equal((await a.send(g, `m${i}`)).type, "group-accepted");
    // b's window (shared by its groups and its 1:1 queue) is full of group entries it has not acknowledged.
    const body = new TextEncoder().encode("one to one");
    const queued = a.client.sendMessage(b.id, body);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!b.client.has("deliver"), "delivered past a full window");
    // Acknowledging group entries (and nothing else) makes room: the 1:1 message follows.
    await b.read(g, 4);
    const d = await b.client.next("deliver");
    assert.deepEqual(d.body, body);
    await b.client.send({ type: "ack", ids: [d.messageId] });
    assert.equal((await queued).type, "queued");
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});

Deno.test("groups: a blob is stored once, fetched by each member, and deleted when all are done", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 3);
  const [outsider] = await GroupUser.many(relay.port, 1);
  try {
    const [a, b, c] = users;
    const size = 2 * BLOB_CHUNK_BYTES + 1000;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
    const blobId = crypto.getRandomValues(new Uint8Array(16));
    const chunk = (i: number) =>
      data.subarray(i * BLOB_CHUNK_BYTES, Math.min(size, (i + 1) * BLOB_CHUNK_BYTES));
    const put = (u: GroupUser, index: number, bytes = chunk(index)) =>
      u.client.request({ type: "blob-upload", requestId: 0, groupId: g, blobId, size, index, data: bytes });
    // Out of order, a wrong length, a non-member: refused.
    assert.equal((await put(a, 1)).code, "bad-request");
    assert.equal((await put(a, 0, chunk(0).subarray(1))).code, "bad-request");
    assert.equal((await put(outsider, 0)).code, "not-member");
    assert.equal((await put(a, 0)).code, "ok");
    assert.equal((await put(a, 0)).code, "ok", "a repeated chunk is taken again");
    assert.equal((await put(b, 1)).code, "duplicate");
    // Not fetchable until complete.
    const early = await b.client.request({ type: "blob-fetch", requestId: 0, groupId: g, blobId, index: 0 });
    assert.equal(early.code, "bad-request");
    assert.equal((await put(a, 1)).code, "ok");
    const done = await put(a, 2);
    assert.equal(done.code, "ok");
    assert.equal(done.detail, "blob complete");
    const fetch = async (u: GroupUser) => {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) {
        const requestId = u.client.requestId();
        await u.client.send({ type: "blob-fetch", requestId, groupId: g, blobId, index: i });
        const f = await u.client.next("blob-data", (x) => x.requestId === requestId);
        assert.equal(f.size, size);
        parts.push(f.data);
      }
      const all = new Uint8Array(size);
      let at = 0;
      for (const p of parts) (all.set(p, at), at += p.length);
      return all;
    };
    assert.deepEqual(await fetch(b), data);
    const byOutsider = await outsider.client.request({
      type: "blob-fetch",
      requestId: 0,
      groupId: g,
      blobId,
      index: 0,
    });
    assert.equal(byOutsider.code, "not-member");
    const finish = (u: GroupUser) =>
      u.client.request({ type: "blob-done", requestId: 0, groupId: g, blobId });
    assert.equal((await finish(b)).code, "ok");
    assert.deepEqual(await fetch(c), data);
    assert.equal((await finish(c)).code, "ok");
    // Everyone but the uploader is done: it is gone.
    const gone = await c.client.request({ type: "blob-fetch", requestId: 0, groupId: g, blobId, index: 0 });
    assert.equal(gone.code, "bad-request");
    assert.equal((await finish(a)).code, "bad-request");
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of [...users, outsider]) await u.close();
    await relay.close();
  }
});

Deno.test("groups: a removed member that is offline holds back only what it is owed, up to its removal", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 3);
  try {
    const [a, b, c] = users;
    await c.close();
    assert.equal((await a.send(g, "before")).type, "group-accepted");
    const removal = await a.commit(g, { remove: [c.group(g).ownLeaf] });
    assert.equal(removal.type, "group-accepted");
    const end = (removal as { seq: number }).seq;
    for (let i = 0; i < 10; i++) assert.equal((await b.send(g, `after ${i}`)).type, "group-accepted");
    for (const u of [a, b]) await u.readUntil(g, end + 10);
    // Everything after c's removal is collected; what c is owed stays.
    assert.equal(await collect(relay, 11), 11, "the ten after the removal, and the first commit");
    await c.reconnect(relay.port);
    const got = await c.readUntil(g, end);
    assert.deepEqual(got.map((r) => r.kind), ["application", "commit"]);
    assert.ok(got[1].kind === "commit" && got[1].received.kind === "commit" && got[1].received.removedSelf);
    assert.equal(await collect(relay, 2), 2);
    assert.ok(!c.client.has("group-deliver"));
    // c's place in the group is gone: after a new login it reads nothing of it.
    await c.reconnect(relay.port);
    assert.equal((await a.send(g, "later")).type, "group-accepted");
    await b.read(g);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!c.client.has("group-deliver"));
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});
