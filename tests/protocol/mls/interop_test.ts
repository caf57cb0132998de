// Live interop with an independent MLS implementation: ../shared/tools/mls-peer.ts (ts-mls 1.6.4) in its own
// processes, for suites 2, 7 and 5. Two groups per suite:
//
//   A. we create: alice (ours) adds peer P1; P1 adds bob (ours); updates by P1 (public) and alice
//      (private); P1 proposes adding carol (ours), alice commits it by reference; bob proposes removing
//      carol, P1 commits it by reference; alice removes P1, who sees itself removed.
//   B. the peer creates: P1 adds alice; alice adds P2 (GREASE capabilities) and bob with the tree out of
//      band; P2 updates (private); P1 removes bob; alice removes P2.
//
// After every epoch every member, ours and theirs, agrees on the epoch, epoch authenticator, tree hash,
// GroupContext and an exporter value, and every member sends an application message that every other
// member reads. Our members are sotto identities; the peer's credentials are arbitrary basic ones, so our
// side runs the basic credential policy here.
import assert from "node:assert/strict";
import { utf8 } from "../../../crypto/bytes.ts";
import { basicCredentialPolicy } from "../../../protocol/mls/credential.ts";
import { MlsGroup } from "../../../protocol/mls/group.ts";
import type { SuiteId } from "../../../protocol/mls/suite.ts";
import { inCI } from "../../_peers.ts";
import { Person, seededRandom } from "./_group.ts";
import { hex, type Json, MlsPeer, peerAvailable, unhex } from "./_peer.ts";

const available = await peerAvailable();
if (!available && inCI()) throw new Error("mls-peer cannot run (bash .ci/run caches its packages)");

const LABEL = "sotto interop";
const CONTEXT = Uint8Array.of(9, 8, 7);

type Member = { kind: "ours"; p: Person } | { kind: "peer"; p: MlsPeer; name: string };

class World {
  members: Member[] = [];
  constructor(readonly suite: SuiteId) {}

  ours(p: Person): Member {
    const m: Member = { kind: "ours", p };
    this.members.push(m);
    return m;
  }

  peer(p: MlsPeer): Member {
    const m: Member = { kind: "peer", p, name: p.name };
    this.members.push(m);
    return m;
  }

  drop(m: Member): void {
    this.members = this.members.filter((x) => x !== m);
  }

  /** Delivers a handshake message from `from` to every other member. */
  async handshake(from: Member, message: Uint8Array): Promise<void> {
    for (const m of this.members) {
      if (m === from) continue;
      if (m.kind === "ours") m.p.g.process(message);
      else await m.p.call("process", { message: hex(message) });
    }
  }

  /** Every member agrees on the epoch's values. */
  async agree(): Promise<void> {
    const seen: { who: string; v: Json }[] = [];
    for (const m of this.members) {
      if (m.kind === "ours") {
        const g = m.p.g;
        seen.push({
          who: m.p.name,
          v: {
            epoch: Number(g.epoch),
            epoch_authenticator: hex(g.epochAuthenticator),
            tree_hash: hex(g.treeHash),
            group_context: hex(g.groupContext),
            secret: hex(g.export(LABEL, CONTEXT, 32)),
          },
        });
      } else {
        const s = await m.p.call("state");
        const e = await m.p.call("export", { label: LABEL, context: hex(CONTEXT), length: 32 });
        seen.push({
          who: m.name,
          v: {
            epoch: s.epoch,
            epoch_authenticator: s.epoch_authenticator,
            tree_hash: s.tree_hash,
            group_context: s.group_context,
            secret: e.secret,
          },
        });
      }
    }
    assert.ok(seen.length >= 2);
    for (const x of seen.slice(1)) assert.deepEqual(x.v, seen[0].v, `${x.who} disagrees with ${seen[0].who}`);
  }

  /** Every member sends one application message that every other member reads. */
  async talk(): Promise<void> {
    for (const from of this.members) {
      const text = `from ${from.kind === "ours" ? from.p.name : from.name} at epoch ${await this.#epoch()}`;
      const msg = from.kind === "ours"
        ? from.p.g.encrypt(utf8(text))
        : unhex((await from.p.call("send", { plaintext: hex(utf8(text)) })).message);
      for (const to of this.members) {
        if (to === from) continue;
        let got: string;
        if (to.kind === "ours") {
          const r = to.p.g.process(msg);
          assert.equal(r.kind, "application");
          got = new TextDecoder().decode((r as { data: Uint8Array }).data);
        } else {
          const r = await to.p.call("process", { message: hex(msg) });
          assert.equal(r.kind, "application");
          got = new TextDecoder().decode(unhex(r.plaintext));
        }
        assert.equal(got, text);
      }
    }
  }

  async #epoch(): Promise<number> {
    const m = this.members[0];
    return m.kind === "ours" ? Number(m.p.g.epoch) : Number((await m.p.call("state")).epoch);
  }

  async check(): Promise<void> {
    await this.agree();
    await this.talk();
  }
}

async function initPeer(name: string, suite: SuiteId, extra: Json = {}): Promise<MlsPeer> {
  const p = MlsPeer.start(name);
  await p.call("init", { suite, identity: hex(utf8(name)), ...extra });
  return p;
}

async function weCreate(suite: SuiteId): Promise<void> {
  const random = seededRandom(`interop A ${suite}`);
  const cfg = { policy: basicCredentialPolicy };
  const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => new Person(n, suite, random));
  const p1 = await initPeer("P1", suite);
  try {
    const w = new World(suite);
    const a = w.ours(alice);
    alice.create(random(32), { ...cfg, handshakeWireFormat: "public" });

    // alice adds P1.
    const kp1 = unhex((await p1.call("key_package")).key_package);
    const c1 = alice.g.commit({ add: [kp1] });
    alice.g.mergePendingCommit();
    const j = await p1.call("join", { welcome: hex(c1.welcome!) });
    assert.equal(j.own_leaf, 1);
    const P1 = w.peer(p1);
    await w.check();

    // P1 adds bob (public commit, tree in the Welcome).
    const r2 = await p1.call("add", { key_packages: [hex(bob.keyPackage())] });
    alice.g.process(unhex(r2.commit));
    bob.join(unhex(r2.welcome), cfg);
    const b = w.ours(bob);
    await w.check();

    // Updates: P1 (public), then alice (private).
    const u1 = await p1.call("update", { wire: "public" });
    await w.handshake(P1, unhex(u1.commit));
    await w.check();
    // alice's state goes through serialisation, and her handshakes switch to PrivateMessage.
    alice.group = MlsGroup.deserialize(alice.g.serialize(), {
      ...cfg,
      handshakeWireFormat: "private",
      random,
    });
    const u2 = alice.g.commit();
    alice.g.mergePendingCommit();
    await w.handshake(a, u2.commit);
    await w.check();

    // P1 proposes adding carol; alice commits it by reference.
    const pr = await p1.call("propose_add", { key_package: hex(carol.keyPackage()) });
    await w.handshake(P1, unhex(pr.proposal));
    const c3 = alice.g.commit();
    alice.g.mergePendingCommit();
    await w.handshake(a, c3.commit);
    carol.join(c3.welcome!, cfg);
    w.ours(carol);
    await w.check();

    // bob proposes removing carol; P1 commits it by reference.
    const pr2 = bob.g.proposeRemove(carol.g.ownLeaf);
    await w.handshake(b, pr2);
    const c4 = await p1.call("commit", { wire: "private" });
    for (const m of w.members) if (m.kind === "ours") m.p.g.process(unhex(c4.commit));
    assert.equal(carol.g.active, false);
    w.drop(w.members.find((m) => m.kind === "ours" && m.p === carol)!);
    await w.check();

    // alice removes P1.
    const c5 = alice.g.commit({ remove: [1] });
    alice.g.mergePendingCommit();
    const r5 = await p1.call("process", { message: hex(c5.commit) });
    assert.equal(r5.removed, true);
    w.drop(P1);
    bob.g.process(c5.commit);
    await w.check();
  } finally {
    await p1.close();
  }
}

async function peerCreates(suite: SuiteId): Promise<void> {
  const random = seededRandom(`interop B ${suite}`);
  const cfg = { policy: basicCredentialPolicy, handshakeWireFormat: "private" as const };
  const [alice, bob] = ["alice", "bob"].map((n) => new Person(n, suite, random));
  const p1 = await initPeer("P1", suite);
  const p2 = await initPeer("P2", suite, { grease: true, wire: "private" });
  try {
    const w = new World(suite);
    await p1.call("create_group", { group_id: hex(random(16)) });
    const P1 = w.peer(p1);

    // P1 adds alice.
    const r1 = await p1.call("add", { key_packages: [hex(alice.keyPackage())] });
    alice.join(unhex(r1.welcome), cfg);
    w.ours(alice);
    await w.check();

    // alice adds P2 (GREASE) and bob, with the tree out of band for both.
    const kp2 = unhex((await p2.call("key_package")).key_package);
    const c2 = alice.g.commit({ add: [kp2, bob.keyPackage()], ratchetTreeExtension: false });
    alice.g.mergePendingCommit();
    await p1.call("process", { message: hex(c2.commit) });
    await p2.call("join", { welcome: hex(c2.welcome!), ratchet_tree: hex(c2.ratchetTree) });
    bob.join(c2.welcome!, cfg, c2.ratchetTree);
    const P2 = w.peer(p2);
    w.ours(bob);
    await w.check();

    // P2 updates (private).
    const u = await p2.call("update");
    await w.handshake(P2, unhex(u.commit));
    await w.check();

    // P1 removes bob.
    const r3 = await p1.call("remove", { leaf_indices: [bob.g.ownLeaf] });
    await w.handshake(P1, unhex(r3.commit));
    assert.equal(bob.g.active, false);
    w.drop(w.members.find((m) => m.kind === "ours" && m.p === bob)!);
    await w.check();

    // alice removes P2.
    const leafP2 = alice.g.members().find((m) =>
      new TextDecoder().decode((m.credential as { identity: Uint8Array }).identity) === "P2"
    )!
      .leaf;
    const c4 = alice.g.commit({ remove: [leafP2] });
    alice.g.mergePendingCommit();
    const r4 = await p2.call("process", { message: hex(c4.commit) });
    assert.equal(r4.removed, true);
    w.drop(P2);
    await p1.call("process", { message: hex(c4.commit) });
    await w.check();
  } finally {
    await p1.close();
    await p2.close();
  }
}

for (const suite of [2, 7, 5] as SuiteId[]) {
  Deno.test({
    name: `mls interop with ts-mls (mls-peer), suite ${suite}: we create; the peer creates`,
    ignore: !available,
    async fn() {
      await weCreate(suite);
      await peerCreates(suite);
    },
  });
}
