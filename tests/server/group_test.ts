// Groups through a real relay on 127.0.0.1: created, members added with their consent, messages fanned out
// in order to every member, a fourth added, one removed (who then receives nothing new), one leaving.

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { startRelay } from "./_helpers.ts";
import { assertInSync, GroupUser, invite, makeGroup } from "./_groups.ts";

Deno.test("groups: three members, messages in order to all, a fourth added, one removed, one leaving", async () => {
  const relay = await startRelay();
  const users: GroupUser[] = [];
  try {
    const made = await makeGroup(relay.port, 3);
    users.push(...made.users);
    const [a, b, c] = made.users;
    const g = made.groupId;
    assertInSync(g, [a, b, c]);

    // Everyone sends; everyone (the sender too, as "own") reads every message in the same order.
    for (const [i, u] of [a, b, c, a, b].entries()) {
      const r = await u.send(g, `m${i}`);
      assert.equal(r.type, "group-accepted");
    }
    const texts = ["m0", "m1", "m2", "m3", "m4"], senders = [a, b, c, a, b];
    for (const u of [a, b, c]) {
      const got = await u.read(g, 5);
      const first = got[0].seq;
      assert.deepEqual(got.map((x) => x.seq), [0, 1, 2, 3, 4].map((n) => first + n), "in the log's order");
      got.forEach((x, n) => {
        if (senders[n] === u) assert.equal(x.kind, "own");
        else assert.ok(x.kind === "application" && x.text === texts[n], `${x.kind} ${n}`);
      });
    }

    // A fourth member.
    const [d] = await GroupUser.many(relay.port, 1);
    users.push(d);
    await invite(a, g, [d], [b, c]);
    assertInSync(g, [a, b, c, d]);
    assert.equal((await d.send(g, "hello from d")).type, "group-accepted");
    for (const u of [a, b, c]) {
      assert.deepEqual((await u.read(g)).map((x) => x.kind === "application" && x.text), ["hello from d"]);
    }
    await d.read(g);

    // The creator removes c: c receives the commit (and learns it was removed), then nothing new.
    const cLeaf = c.group(g).ownLeaf;
    const removal = await a.commit(g, { remove: [cLeaf] });
    assert.equal(removal.type, "group-accepted");
    for (const u of [b, d]) {
      const [r] = await u.read(g);
      assert.equal(r.kind, "commit");
    }
    const [gone] = await c.read(g);
    assert.ok(gone.kind === "commit" && gone.received.kind === "commit" && gone.received.removedSelf);
    await a.read(g);
    assert.equal((await b.send(g, "after c left")).type, "group-accepted");
    for (const u of [a, d]) assert.equal((await u.read(g))[0].kind, "application");
    await b.read(g);
    const refused = await c.sendBytes(g, b.group(g).encrypt(new TextEncoder().encode("x")));
    assert.ok(refused.type === "result" && refused.code === "not-member");
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!c.client.has("group-deliver"), "a removed member receives nothing new");

    // d leaves: it proposes its own removal; b commits it (the next commit must include it).
    const leave = await d.leave(g);
    assert.equal(leave.type, "group-accepted");
    for (const u of [a, b]) assert.equal((await u.read(g))[0].kind, "proposal");
    await d.read(g); // its own proposal, the last entry it receives
    const commit = await b.commit(g);
    assert.equal(commit.type, "group-accepted");
    await a.read(g);
    await b.read(g);
    assertInSync(g, [a, b]);
    assert.equal(a.group(g).members().length, 2);
    const info = await a.info(g);
    assert.ok(info.type === "group-state");
    assert.deepEqual(info.members.map((m) => bytesToHex(m.id)).sort(), [a.hex, b.hex].sort());
    assert.equal(info.epoch, Number(a.group(g).epoch));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!d.client.has("group-deliver"), "a member that left receives nothing new");
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});
