// Groups between whole clients (client/app.ts: keystore, link, chats and groups) through a relay in this
// process: a group made, members invited over their 1:1 chats and added once they accept, texts to
// everyone in order, a member removed (who then reads nothing new), leaving, declining (no trace), who may
// remove, admins, two commits racing for one epoch (the loser rebases), a client restart, and files.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { parseId } from "../../protocol/identity.ts";
import { addMembers, chat, type Member, waitFor, world } from "./_groups.ts";

/** Members of the group named `name` as `m` sees them (the MLS tree), as formatted IDs, sorted. */
function members(m: Member, name: string): string[] {
  const g = m.app.client.groups.list.find((x) => x.s.name === name && x.s.status === "active");
  if (!g) return [];
  return [...m.app.client.groups.memberViews(g)].map((v) => v.id).sort();
}

async function quiet(ms = 300): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

Deno.test("groups: three talk, a fourth is added, one removed reads nothing new, one leaves", async () => {
  await world(async (w) => {
    const [alice, bob, carol, dave] = await Promise.all(
      ["alice", "bob", "carol", "dave"].map((n) => w.member(n)),
    );
    await alice.line("/group new friends");
    assert.equal((await alice.next("group-created")).name, "friends");
    await addMembers(alice, "friends", [bob, carol]);
    const three = [alice.id, bob.id, carol.id].sort();
    for (const u of [alice, bob, carol]) assert.deepEqual(members(u, "friends"), three);

    for (const u of [bob, carol]) await u.line("/switch friends");
    await alice.line("hello group");
    await bob.line("hi from bob");
    for (
      const [u, texts] of [[alice, ["hi from bob"]], [bob, ["hello group"]], [carol, [
        "hello group",
        "hi from bob",
      ]]] as const
    ) {
      for (const t of texts) await u.next("group-message", (e) => e.text === t);
    }
    await alice.next("group-queued", (e) => e.at === "relay" && e.id === 1);

    // A fourth member, added by bob (any member may add someone who accepted their invitation).
    await addMembers(bob, "friends", [dave], [alice, carol]);
    await dave.line("/switch friends");
    await dave.line("dave here");
    for (const u of [alice, bob, carol]) await u.next("group-message", (e) => e.text === "dave here");
    const four = [alice.id, bob.id, carol.id, dave.id].sort();
    for (const u of [alice, bob, carol, dave]) assert.deepEqual(members(u, "friends"), four);

    // A non-admin cannot remove; the creator can; the removed member reads nothing new.
    await bob.line("/switch friends");
    await bob.line("/group remove carol");
    assert.match(
      bob.errors.at(-1)!,
      /^Only the group's creator and the admins it names can remove members\.$/,
    );
    await alice.line("/switch friends");
    await alice.line(`/group remove ${carol.id}`);
    const removed = await carol.next("group-removed");
    assert.equal(removed.by, alice.id);
    for (const u of [alice, bob, dave]) {
      const e = await u.next("group-member-removed", (e) => e.member === carol.id);
      assert.equal(e.left, false);
    }
    await alice.line("after carol");
    for (const u of [bob, dave]) await u.next("group-message", (e) => e.text === "after carol");
    await quiet();
    assert.ok(!carol.of("group-message").some((e) => e.text === "after carol"), "carol reads nothing new");
    await carol.line("still there?");
    assert.match(carol.errors.at(-1)!, /no longer in the group/);

    // dave leaves: the others see it, and dave reads nothing after.
    await dave.line("/group leave");
    await dave.next("group-left");
    for (const u of [alice, bob]) {
      const e = await u.next("group-member-removed", (e) => e.member === dave.id);
      assert.equal(e.left, true);
    }
    await bob.line("after dave");
    await alice.next("group-message", (e) => e.text === "after dave");
    await quiet();
    assert.ok(!dave.of("group-message").some((e) => e.text === "after dave"), "dave reads nothing new");
    for (const u of [alice, bob]) assert.deepEqual(members(u, "friends"), [alice.id, bob.id].sort());
    assert.deepEqual(
      [alice, bob, dave].flatMap((u) => u.errors.filter((m) => !/^Only the group/.test(m))),
      [],
    );

    // With a group active, the chats' conversation commands are refused: they would act on a chat that is
    // not on screen. Alice's last chat (bob's) keeps its history.
    await alice.line("/switch friends");
    const lines = alice.app.client.chats.map((c) => c.history.length);
    for (
      const cmd of ["/reply 1 hi", "/react 👍", "/edit again", "/delete", "/timer 30s", "/clear history"]
    ) {
      const before = alice.errors.length;
      await alice.line(cmd);
      assert.match(
        alice.errors.at(before) ?? "",
        /^Groups do not have \/\w+ yet; \/switch NICK returns to a chat\.$/,
      );
    }
    await alice.line("/search group");
    assert.match(alice.errors.at(-1)!, /^Search covers chats, not groups/);
    assert.deepEqual(alice.app.client.chats.map((c) => c.history.length), lines);
  });
});

Deno.test("groups: a declined or ignored invitation leaves no trace; consent and admins", async () => {
  await world(async (w) => {
    const [alice, bob, carol, erin] = await Promise.all(
      ["alice", "bob", "carol", "erin"].map((n) => w.member(n)),
    );
    await alice.line("/group new club");
    await alice.next("group-created");
    await addMembers(alice, "club", [bob]);

    // No chat with erin: she cannot be added.
    await alice.line("/switch club");
    await alice.line(`/group add ${erin.id}`);
    assert.match(alice.errors.at(-1)!, /only people with whom you have an open chat|no chat with/);

    // carol declines: nobody is told, the group does not change.
    await chat(alice, carol);
    await alice.line("/switch club");
    await alice.line("/group add carol");
    const inv = await carol.next("group-invitation");
    assert.equal(inv.name, "club");
    assert.equal(inv.creator, alice.id);
    assert.deepEqual([...inv.members].sort(), [alice.id, bob.id].sort());
    await carol.line("/group decline club");
    await carol.next("group-declined");
    await quiet();
    assert.deepEqual(carol.app.client.groups.invitations, []);
    for (const u of [alice, bob]) assert.deepEqual(members(u, "club"), [alice.id, bob.id].sort());
    const gid = alice.app.client.groups.list[0].s.groupId;
    const info = await alice.app.client.groups.request({ type: "group-info", groupId: gid });
    assert.ok(info.frame?.type === "group-state");
    assert.deepEqual(
      info.frame.members.map((m) => m.id.join()).sort(),
      [parseId(alice.id), parseId(bob.id)].map((x) => x.join()).sort(),
    );
    assert.equal(carol.app.client.groups.list.length, 0);
    assert.ok(!bob.events.some((e) => JSON.stringify(e).includes(carol.id)), "bob hears nothing of carol");

    // The creator names bob an admin: then bob may remove.
    await alice.line(`/group admin ${bob.id}`);
    await bob.next("group-admins", (e) => e.admins.includes(bob.id));
    await chat(bob, carol);
    await bob.line("/switch club");
    const from = carol.events.length;
    await bob.line("/group add carol");
    await carol.next("group-invitation", undefined, from);
    await carol.line("/group accept");
    await carol.next("group-joined");
    await bob.line("/group remove carol");
    await carol.next("group-removed", (e) => e.by === bob.id);
    await alice.next("group-member-removed", (e) => e.member === carol.id && e.by === bob.id);
  });
});

Deno.test("groups: two commits race for one epoch; the loser makes its change again on the winner's", async () => {
  await world(async (w) => {
    const [alice, bob, carol, dave] = await Promise.all(
      ["alice", "bob", "carol", "dave"].map((n) => w.member(n)),
    );
    await alice.line("/group new race");
    await alice.next("group-created");
    await addMembers(alice, "race", [bob]);
    await chat(alice, carol);
    await chat(bob, dave);
    await alice.line("/switch race");
    await bob.line("/switch race");
    await alice.line("/group add carol");
    await bob.line("/group add dave");
    await carol.next("group-invitation");
    await dave.next("group-invitation");
    // Both accept at once: alice and bob each commit an Add for the same epoch.
    await Promise.all([carol.line("/group accept"), dave.line("/group accept")]);
    await carol.next("group-joined");
    await dave.next("group-joined");
    const all = [alice.id, bob.id, carol.id, dave.id].sort();
    for (const u of [alice, bob, carol, dave]) {
      await waitFor(() => members(u, "race").length === 4, "four members");
    }
    for (const u of [alice, bob, carol, dave]) assert.deepEqual(members(u, "race"), all);
    await carol.line("/switch race");
    await carol.line("all four?");
    for (const u of [alice, bob, dave]) await u.next("group-message", (e) => e.text === "all four?");
    const epochs = [alice, bob, carol, dave].map((u) =>
      u.app.client.groups.list[0].mls!.epochAuthenticator.join()
    );
    assert.equal(new Set(epochs).size, 1, "every member agrees on the epoch");
  });
});

Deno.test("groups: a member's own leaf keys are refreshed by a commit of its own when they are due", async () => {
  await world(async (w) => {
    const [alice, bob] = await Promise.all(["alice", "bob"].map((n) => w.member(n)));
    await alice.line("/group new fresh");
    await alice.next("group-created");
    await addMembers(alice, "fresh", [bob]);
    await bob.line("/switch fresh");
    const group = (m: Member) => m.app.client.groups.list[0];
    const epoch = () => group(bob).mls!.epoch;
    // bob's leaf key as `m` sees it in its tree.
    const bobKey = (m: Member) => {
      const mls = group(m).mls!;
      const id = parseId(bob.id).join();
      const leaf = [...m.app.client.groups.members(group(m))].find(([, x]) => x.join() === id)![0];
      return mls.members().find((x) => x.leaf === leaf)!.encryptionKey.join();
    };
    // A threshold of 3 messages instead of 100 (the rule is the same).
    bob.app.client.groups.updateEvery = { messages: 3, ms: 7 * 86_400_000 };
    const start = [epoch(), bobKey(bob)] as const;
    for (const t of ["one", "two", "three"]) {
      await bob.line(t);
      await alice.next("group-message", (e) => e.text === t);
    }
    assert.equal(epoch(), start[0], "no commit before the threshold");
    assert.equal(bobKey(bob), start[1]);
    assert.equal(group(bob).s.sentSinceUpdate, 3);

    await bob.line("four");
    await alice.next("group-message", (e) => e.text === "four");
    assert.equal(epoch(), start[0] + 1n, "an empty commit of bob's came before the fourth message");
    assert.notEqual(bobKey(bob), start[1], "bob's leaf has new keys");
    assert.equal(bobKey(alice), bobKey(bob), "alice's tree has bob's new leaf key");
    assert.equal(group(alice).mls!.epoch, epoch());
    assert.equal(group(bob).s.sentSinceUpdate, 1);
    assert.equal(group(bob).s.intent.update, false);

    // Time: a refresh more than the period ago is due at the next message too.
    const before = bobKey(bob);
    await bob.app.client.run(() => void (group(bob).s.lastUpdate = 0)); // a week and more ago
    await bob.line("five");
    await alice.next("group-message", (e) => e.text === "five");
    assert.equal(epoch(), start[0] + 2n);
    assert.notEqual(bobKey(bob), before);
    assert.equal(bobKey(alice), bobKey(bob));
    assert.deepEqual([alice, bob].flatMap((u) => u.errors), []);
  });
});

Deno.test("groups: a client restarted keeps its groups and reads what it missed", async () => {
  await world(async (w) => {
    const [alice, bob] = await Promise.all(["alice", "bob"].map((n) => w.member(n)));
    await alice.line("/group new keep");
    await alice.next("group-created");
    await addMembers(alice, "keep", [bob]);
    await bob.stop();
    await alice.line("/switch keep");
    await alice.line("while you were away");
    await alice.next("group-queued", (e) => e.at === "relay");
    await bob.start(w.relay.port);
    await bob.next("group-message", (e) => e.text === "while you were away");
    await bob.line("/switch keep");
    await bob.line("back");
    await alice.next("group-message", (e) => e.text === "back");
  });
});

Deno.test("groups: files, small in chunks and large as one upload, arrive byte-identical once accepted", async () => {
  await world(async (w) => {
    const alice = await w.member("alice");
    const bob = await w.member("bob");
    const carol = await w.member("carol", { acceptFiles: 8 * 1024 * 1024 });
    await alice.line("/group new files");
    await alice.next("group-created");
    await addMembers(alice, "files", [bob, carol]);
    const small = systemRandom(300_000), large = systemRandom(2_500_000);
    const dir = `${w.root}/outgoing`;
    await Deno.mkdir(dir);
    await Deno.writeFile(`${dir}/small.bin`, small);
    await Deno.writeFile(`${dir}/large.bin`, large);
    await alice.line("/switch files");
    await alice.line(`/file ${dir}/small.bin`);
    await alice.line(`/file ${dir}/large.bin`);
    for (const name of ["small.bin", "large.bin"]) {
      const own = await alice.next("group-file-offer", (e) => e.name === name);
      assert.equal(own.direction, "send");
      assert.equal(own.from, alice.id, "our own offer names us");
      await alice.next(
        "group-file-sent",
        (e) => e.name === name,
        0,
        60_000,
      );
    }

    // bob answers: nothing of either is on disk before.
    for (const name of ["small.bin", "large.bin"]) {
      const offer = await bob.next("group-file-offer", (e) => e.name === name && e.direction === "receive");
      assert.equal(offer.from, alice.id);
      await bob.line(`/accept ${offer.file.slice(0, 8)}`);
    }
    for (const [name, data] of [["small.bin", small], ["large.bin", large]] as const) {
      for (const u of [bob, carol]) {
        const got = await u.next("group-file-received", (e) => e.name === name, 0, 60_000);
        assert.deepEqual(await Deno.readFile(got.path), data, `${u.name}: ${name}`);
      }
    }
    assert.deepEqual([alice, bob, carol].flatMap((u) => u.errors), []);
  });
});
