// The relay's delivery-service rules for groups, through a real relay: the first commit of an epoch wins and
// the other is refused (its sender rebases), only members may send, handshake messages must be readable
// PublicMessages from the sender's own leaf, Adds need the invitee's acceptance of that inviter with that
// KeyPackage over an open 1:1 chat, only admins remove, a commit must take the pending Removes, and retries
// are answered without logging twice.

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { memberId, MlsGroup } from "../../protocol/mls/mod.ts";
import { startRelay } from "./_helpers.ts";
import { type Answer, assertInSync, chat, GroupUser, invite, makeGroup } from "./_groups.ts";

function refusedWith(a: Answer, code: string): void {
  assert.ok(a.type === "result", `expected a refusal (${code}), got ${a.type}`);
  assert.equal(a.code, code, a.detail);
}

Deno.test("groups: two commits race for an epoch; one wins, the other is refused and rebases", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 4);
  try {
    const [a, b, c, d] = users;
    for (let round = 0; round < 3; round++) {
      const epoch = b.group(g).epoch;
      const [rb, rc] = await Promise.all([b.commit(g), c.commit(g)]);
      const winners = [rb, rc].filter((r) => r.type === "group-accepted");
      assert.equal(winners.length, 1, "exactly one commit wins the epoch");
      const [loser, answer] = rb.type === "group-accepted" ? [c, rc] : [b, rb];
      refusedWith(answer, "wrong-epoch");
      assert.equal(loser.group(g).epoch, epoch, "the loser's group did not move");
      // Everyone reads the winner; the loser processes it and commits again in the new epoch.
      const win = winners[0] as Extract<Answer, { type: "group-accepted" }>;
      assert.equal(win.epoch, Number(epoch) + 1);
      for (const u of users) await u.readUntil(g, win.seq);
      assertInSync(g, users);
      const again = await loser.commit(g);
      assert.equal(again.type, "group-accepted");
      for (const u of users) await u.readUntil(g, (again as { seq: number }).seq);
      assertInSync(g, users);
    }
    // A commit for an old epoch is refused, a proposal too.
    const stale = MlsGroup.deserialize(a.group(g).serialize(), a.config);
    assert.equal((await d.commit(g)).type, "group-accepted");
    for (const u of users) await u.read(g);
    refusedWith(await a.sendCommitBytes(g, stale.commit().commit), "wrong-epoch");
    refusedWith(await a.propose(g, () => stale.proposeUpdate()), "wrong-epoch");
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});

Deno.test("groups: non-members are refused; handshake messages must be the sender's own PublicMessages", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 3);
  const [outsider] = await GroupUser.many(relay.port, 1);
  try {
    const [a, b, c] = users;
    const message = a.group(g).encrypt(new TextEncoder().encode("x"));
    refusedWith(await outsider.sendBytes(g, message), "not-member");
    refusedWith(await outsider.sendCommitBytes(g, b.group(g).commit().commit), "not-member");
    b.group(g).discardPendingCommit();
    const info = await outsider.info(g);
    assert.ok(info.type === "result" && info.code === "not-member");
    refusedWith(await outsider.sendBytes(crypto.getRandomValues(new Uint8Array(32)), message), "not-member");
    // A member sending another member's commit (its sender leaf is not the sender's).
    const cs = c.group(g).commit();
    c.group(g).discardPendingCommit();
    refusedWith(await b.sendCommitBytes(g, cs.commit), "bad-mls");
    // A commit as a PrivateMessage: the relay cannot read it.
    const hidden = MlsGroup.deserialize(b.group(g).serialize(), {
      ...b.config,
      handshakeWireFormat: "private",
    });
    refusedWith(await b.sendCommitBytes(g, hidden.commit().commit), "bad-mls");
    // An application message that is not one (a commit sent as group-send), and bytes that are not MLS.
    refusedWith(await b.sendBytes(g, b.group(g).commit().commit), "bad-mls");
    b.group(g).discardPendingCommit();
    refusedWith(await b.sendBytes(g, new Uint8Array([1, 2, 3])), "bad-mls");
    // A Welcome with a commit that adds nobody.
    const w = b.group(g).commit();
    b.group(g).discardPendingCommit();
    refusedWith(await b.sendCommitBytes(g, w.commit, new Uint8Array([0, 1, 0, 3, 0, 2])), "bad-mls");
    // Nothing refused reached anyone: the next entry everyone reads is this message.
    const ok = await a.send(g, "still fine");
    assert.equal(ok.type, "group-accepted");
    for (const u of [b, c]) {
      assert.deepEqual((await u.read(g)).map((r) => r.kind === "application" && r.text), ["still fine"]);
    }
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of [...users, outsider]) await u.close();
    await relay.close();
  }
});

Deno.test("groups: consent — an open chat, the invitee's acceptance of that inviter, that KeyPackage", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 2);
  const [e, f, x] = await GroupUser.many(relay.port, 3);
  try {
    const [a, b] = users;
    // No open chat with the inviter: refused, and the same answer for a group that does not exist.
    const noChat = await e.acceptInvite(g, a.id);
    assert.equal(noChat.code, "not-allowed");
    await chat(a, e);
    const noGroup = await e.acceptInvite(crypto.getRandomValues(new Uint8Array(32)), a.id);
    assert.equal(noGroup.code, "not-allowed");
    assert.equal(noGroup.detail, noChat.detail, "no oracle for group IDs");
    // A KeyPackage that is not the invitee's, or of another suite.
    assert.equal((await e.acceptInvite(g, a.id, f.keyPackage())).code, "bad-request");
    assert.equal((await e.acceptInvite(g, a.id, e.keyPackage(5))).code, "bad-request");
    assert.equal((await e.acceptInvite(g, e.id)).code, "bad-request");
    // Without an acceptance a member cannot add e, whatever KeyPackage it holds.
    refusedWith(await a.commit(g, { add: [e.keyPackage()] }), "no-consent");
    // e accepts a's invitation: only a, and only with that KeyPackage, may add e.
    assert.equal((await e.acceptInvite(g, a.id)).code, "ok");
    const again = await e.acceptInvite(g, a.id);
    assert.equal(again.code, "bad-request", "one live acceptance per group: each queues an event");
    const accepted = await a.nextInvite(g);
    assert.ok(!a.client.has("invite-accepted"));
    refusedWith(await a.commit(g, { add: [e.keyPackage()] }), "no-consent");
    await chat(b, e);
    refusedWith(await b.commit(g, { add: [accepted.keyPackage] }), "no-consent");
    // An Add proposal by b with e's KeyPackage is refused too; a's proposal is taken, and b may commit it.
    refusedWith(await b.propose(g, (grp) => grp.proposeAdd(accepted.keyPackage)), "no-consent");
    const proposed = await a.propose(g, (grp) => grp.proposeAdd(accepted.keyPackage));
    assert.equal(proposed.type, "group-accepted");
    await b.read(g);
    await a.read(g);
    const committed = await b.commit(g);
    assert.equal(committed.type, "group-accepted", committed.type === "result" ? committed.detail : "");
    for (const u of [a, b, e]) await u.readUntil(g, (committed as { seq: number }).seq);
    assertInSync(g, [a, b, e]);
    // The acceptance is used up: e, removed, cannot be added back without accepting again.
    assert.equal((await a.commit(g, { remove: [e.group(g).ownLeaf] })).type, "group-accepted");
    for (const u of [a, b, e]) await u.read(g);
    refusedWith(await a.commit(g, { add: [accepted.keyPackage] }), "no-consent");
    // x, who never chatted with anyone here, cannot even accept; f can once a chats with it.
    assert.equal((await x.acceptInvite(g, a.id)).code, "not-allowed");
    await invite(a, g, [f], [b]);
    assertInSync(g, [a, b, f]);
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of [...users, e, f, x]) await u.close();
    await relay.close();
  }
});

Deno.test("groups: the creator and the admins it names remove; leaves and removals must be committed", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 5);
  try {
    const [a, b, c, d, e] = users;
    const leaf = (u: GroupUser) => u.group(g).ownLeaf;
    // b is not an admin: it cannot remove, by value or by proposal, nor name admins.
    refusedWith(await b.commit(g, { remove: [leaf(c)] }), "not-admin");
    refusedWith(await b.propose(g, (grp) => grp.proposeRemove(leaf(c))), "not-admin");
    assert.equal((await b.setAdmin(g, c.id)).code, "not-admin");
    // The creator names b an admin; every member learns it in order.
    assert.equal((await a.setAdmin(g, b.id)).code, "ok");
    for (const u of users) {
      const [r] = await u.read(g);
      assert.ok(r.kind === "admins" && r.admins.length === 1);
    }
    const info = await c.info(g);
    assert.ok(info.type === "group-state" && info.members.filter((m) => m.admin).length === 2);
    // Now b removes c by value.
    const byB = await b.commit(g, { remove: [leaf(c)] });
    assert.equal(byB.type, "group-accepted", byB.type === "result" ? byB.detail : "");
    for (const u of users) await u.read(g);
    // An admin's Remove proposal may be committed by anyone; a commit that leaves it out is refused.
    assert.equal((await b.propose(g, (grp) => grp.proposeRemove(leaf(d)))).type, "group-accepted");
    const loose = MlsGroup.deserialize(e.group(g).serialize(), e.config);
    for (const u of [a, b, d, e]) await u.read(g);
    refusedWith(await e.sendCommitBytes(g, loose.commit().commit), "missing-proposals");
    assert.equal((await e.commit(g)).type, "group-accepted");
    for (const u of [a, b, d, e]) await u.read(g);
    assert.equal(a.group(g).members().length, 3);
    // e leaves: nobody may commit without its Remove; e cannot commit it itself, nor send anything more.
    const late = e.group(g).encrypt(new TextEncoder().encode("still here?"));
    assert.equal((await e.leave(g)).type, "group-accepted");
    for (const u of [a, b, e]) await u.read(g);
    refusedWith(await e.sendBytes(g, late), "not-member");
    refusedWith(await e.commit(g), "not-member");
    refusedWith(
      await a.sendCommitBytes(
        g,
        MlsGroup.deserialize(a.group(g).serialize(), a.config).commit({ includePending: false }).commit,
      ),
      "missing-proposals",
    );
    assert.equal((await a.commit(g)).type, "group-accepted");
    for (const u of [a, b]) await u.read(g);
    assertInSync(g, [a, b]);
    // An admin removed loses its rights: b is removed by a, then cannot remove anyone.
    assert.equal((await a.commit(g, { remove: [leaf(b)] })).type, "group-accepted");
    await a.read(g);
    const after = await a.info(g);
    assert.ok(after.type === "group-state" && after.members.length === 1 && after.members[0].admin);
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});

Deno.test("groups: a retried message is answered again, not logged twice; another sender's id is a duplicate", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 3);
  try {
    const [a, b, c] = users;
    const id = crypto.getRandomValues(new Uint8Array(16));
    const message = a.group(g).encrypt(new TextEncoder().encode("once"));
    const first = await a.sendBytes(g, message, id);
    const again = await a.sendBytes(g, message, id);
    assert.ok(first.type === "group-accepted" && again.type === "group-accepted");
    assert.equal(again.seq, first.seq);
    refusedWith(await b.sendBytes(g, b.group(g).encrypt(new TextEncoder().encode("x")), id), "duplicate");
    assert.equal((await b.send(g, "next")).type, "group-accepted");
    const read = await c.read(g, 2);
    assert.deepEqual(read.map((r) => r.kind === "application" && r.text), ["once", "next"]);
  } finally {
    for (const u of users) await u.close();
    await relay.close();
  }
});

Deno.test("groups: the relay's record of leaves follows MLS through removes and adds in one commit", async () => {
  const relay = await startRelay();
  const { users, groupId: g } = await makeGroup(relay.port, 5);
  const [e, f] = await GroupUser.many(relay.port, 2);
  try {
    const [a, b, c, d] = users;
    const leaves = async () => {
      const info = await a.info(g);
      assert.ok(info.type === "group-state");
      return info.members.map((m) => `${m.leaf}:${bytesToHex(m.id)}`).sort();
    };
    const mls = () =>
      a.group(g).members().map((m) => `${m.leaf}:${bytesToHex(memberId(m.credential))}`).sort();
    assert.deepEqual(await leaves(), mls());
    // b (leaf 1) and d (leaf 3) removed, e and f added in the same commit: they take leaves 1 and 3.
    for (const u of [e, f]) {
      await chat(a, u);
      assert.equal((await u.acceptInvite(g, a.id)).code, "ok");
    }
    const kps = [(await a.nextInvite(g)).keyPackage, (await a.nextInvite(g)).keyPackage];
    const r = await a.commit(g, { remove: [b.group(g).ownLeaf, d.group(g).ownLeaf], add: kps });
    assert.equal(r.type, "group-accepted", r.type === "result" ? r.detail : "");
    for (const u of [a, c, e, f]) await u.readUntil(g, (r as { seq: number }).seq);
    assert.deepEqual(await leaves(), mls());
    assert.deepEqual([e.group(g).ownLeaf, f.group(g).ownLeaf].sort(), [1, 3]);
    // e (now at leaf 1) sends a commit as itself: the relay knows the leaf.
    assert.equal((await e.commit(g)).type, "group-accepted");
    assertInSync(g, [e]);
  } finally {
    for (const u of [...users, e, f]) await u.close();
    await relay.close();
  }
});
