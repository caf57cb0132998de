// Groups of sotto identities, in memory, for suites 2, 7 and 5: create, add by value and by reference,
// Update proposals and empty commits, removes (the removed member reads nothing new), public and private
// handshake messages, late application messages, concurrent commits (one wins, the other is discarded),
// serialisation mid-group; and the refusals, each leaving the state byte for byte unchanged: credentials
// that do not carry the signing key, duplicate members, tampered and replayed messages, wrong group or epoch,
// non-members, removed members.
import assert from "node:assert/strict";
import { bytesToHex, equalBytes, utf8 } from "../../../crypto/bytes.ts";
import { generateIdentity } from "../../../protocol/identity.ts";
import { memberId, sottoCredential } from "../../../protocol/mls/credential.ts";
import { MlsError, type MlsErrorCode } from "../../../protocol/mls/errors.ts";
import { MlsGroup } from "../../../protocol/mls/group.ts";
import { inspectMessage } from "../../../protocol/mls/inspect.ts";
import {
  createKeyPackage,
  decodeKeyPackageBundle,
  encodeKeyPackageBundle,
  keyPackageMessage,
} from "../../../protocol/mls/keypackage.ts";
import type { SuiteId } from "../../../protocol/mls/suite.ts";
import { assertAgree, deliver, Person, seededRandom } from "./_group.ts";

const text = (s: string) => utf8(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

function refused(code: MlsErrorCode, f: () => unknown, groups: MlsGroup[] = []): void {
  const before = groups.map((g) => bytesToHex(g.serialize()));
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof MlsError, `expected MlsError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
  groups.forEach((g, i) =>
    assert.equal(bytesToHex(g.serialize()), before[i], "a refused call changed the state")
  );
}

function threeMembers(suite: SuiteId, seed: string) {
  const random = seededRandom(seed);
  const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => new Person(n, suite, random));
  alice.create(random(32));
  const c = alice.g.commit({ add: [bob.keyPackage(), carol.keyPackage()] });
  alice.g.mergePendingCommit();
  bob.join(c.welcome!);
  carol.join(c.welcome!);
  return { random, alice, bob, carol, all: [alice, bob, carol] };
}

for (const suite of [2, 7, 5] as SuiteId[]) {
  Deno.test(`mls group (suite ${suite}): a full life: adds, messages, proposals, updates, removes, serialisation`, () => {
    const { random, alice, bob, carol, all } = threeMembers(suite, `life ${suite}`);
    assertAgree(all);
    assert.equal(alice.g.epoch, 1n);
    assert.deepEqual(alice.g.members().map((m) => m.leaf), [0, 1, 2]);
    assert.ok(equalBytes(memberId(bob.g.members()[1].credential), bob.identity.id));

    // Messages both ways.
    for (const from of all) {
      const m = from.g.encrypt(text(`hi from ${from.name}`), text("ad"));
      for (const to of all) {
        if (to === from) continue;
        const r = to.g.process(m);
        assert.ok(
          r.kind === "application" && str(r.data) === `hi from ${from.name}` &&
            str(r.authenticatedData) === "ad",
        );
        assert.equal(r.sender, from.g.ownLeaf);
      }
    }

    // bob proposes adding dave (public wire format), carol commits it by reference, privately.
    const dave = new Person("dave", suite, random);
    const prop = bob.g.proposeAdd(dave.keyPackage());
    for (const p of [alice, carol]) assert.equal(p.g.process(prop).kind, "proposal");
    refused("state", () => alice.g.encrypt(text("too early")), [alice.g]);
    const c1 = carol.g.commit();
    carol.g.mergePendingCommit();
    deliver(carol, all, c1.commit);
    dave.join(c1.welcome!);
    all.push(dave);
    assertAgree(all);
    assert.equal(dave.g.ownLeaf, 3);

    // An Update proposal from dave, committed by alice together with an empty path.
    const up = dave.g.proposeUpdate();
    deliver(dave, all, up);
    const c2 = alice.g.commit();
    alice.g.mergePendingCommit();
    deliver(alice, all, c2.commit);
    assertAgree(all);

    // Serialise everyone mid-group and carry on with the copies.
    for (const p of all) p.group = MlsGroup.deserialize(p.g.serialize(), p.config());
    assertAgree(all);

    // alice removes bob; bob learns it and can read nothing new, nor can a copy of his state that ignores the
    // removal: nothing in the commit is encrypted to him.
    const c3 = alice.g.commit({ remove: [1] });
    alice.g.mergePendingCommit();
    const bobIgnoring = MlsGroup.deserialize(bob.g.serialize(), bob.config());
    const r = bob.g.process(c3.commit);
    assert.ok(r.kind === "commit" && r.removedSelf);
    assert.equal(bob.g.active, false);
    deliver(alice, all, c3.commit);
    assertAgree(all);
    const secret = carol.g.encrypt(text("bob is gone"));
    refused("state", () => bob.g.process(secret));
    refused("wrong-epoch", () => bobIgnoring.process(secret), [bobIgnoring]);
    assert.equal(str((alice.g.process(secret) as { data: Uint8Array }).data), "bob is gone");
    assert.deepEqual(alice.g.members().map((m) => m.leaf), [0, 2, 3]);

    // Empty commits (updates) by each remaining member.
    for (const p of [alice, carol, dave]) {
      const c = p.g.commit();
      p.g.mergePendingCommit();
      deliver(p, all, c.commit);
      assertAgree(all);
    }
    // The tree shrinks when the last leaf goes.
    const c4 = carol.g.commit({ remove: [3] });
    carol.g.mergePendingCommit();
    deliver(carol, all, c4.commit);
    assert.equal(dave.g.active, false);
    assertAgree(all);
    assert.deepEqual(alice.g.members().map((m) => m.leaf), [0, 2]);
  });
}

Deno.test("mls group: public handshake messages, a tree out of band, the commit processed back", () => {
  const random = seededRandom("public");
  const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => new Person(n, 2, random));
  alice.create(random(16), { handshakeWireFormat: "public" });
  const c = alice.g.commit({ add: [bob.keyPackage()], ratchetTreeExtension: false });
  alice.g.process(c.commit); // our own commit coming back merges it
  assert.equal(alice.g.epoch, 1n);
  refused("invalid-welcome", () => bob.join(c.welcome!));
  bob.join(c.welcome!, {}, c.ratchetTree);
  const p = bob.g.proposeRemove(0);
  assert.equal(alice.g.process(p).kind, "proposal");
  const c2 = alice.g.commit({ add: [carol.keyPackage()] }); // bob's proposal to remove alice is left out
  alice.g.mergePendingCommit();
  assert.equal(bob.g.process(c2.commit).kind, "commit");
  carol.join(c2.welcome!);
  assertAgree([alice, bob, carol]);
});

Deno.test("mls group: concurrent commits — the delivery service picks one, the other committer drops its own", () => {
  const { alice, bob, carol, all } = threeMembers(2, "race");
  const a = alice.g.commit();
  const b = bob.g.commit();
  assert.ok(alice.g.hasPendingCommit && bob.g.hasPendingCommit);
  // The DS accepts bob's: everyone processes it; alice's pending commit is dropped by doing so.
  carol.g.process(b.commit);
  alice.g.process(b.commit);
  bob.g.process(b.commit);
  assert.ok(!alice.g.hasPendingCommit && !bob.g.hasPendingCommit);
  assertAgree(all);
  refused("wrong-epoch", () => carol.g.process(a.commit), [carol.g]);
  // Discarding explicitly also works, and a new commit can follow.
  alice.g.commit();
  alice.g.discardPendingCommit();
  const c = alice.g.commit({ path: false, add: [] });
  alice.g.mergePendingCommit();
  deliver(alice, all, c.commit);
  assertAgree(all);
});

Deno.test("mls group: late application messages from the previous epoch decrypt; older ones do not", () => {
  const { alice, bob, carol, all } = threeMembers(7, "late");
  const m1 = bob.g.encrypt(text("sent in epoch 1"));
  const c = alice.g.commit();
  alice.g.mergePendingCommit();
  deliver(alice, all, c.commit);
  assert.equal(str((carol.g.process(m1) as { data: Uint8Array }).data), "sent in epoch 1");
  refused("replay", () => carol.g.process(m1), [carol.g]);
  for (let i = 0; i < 2; i++) {
    const c = carol.g.commit();
    carol.g.mergePendingCommit();
    deliver(carol, all, c.commit);
  }
  refused("wrong-epoch", () => alice.g.process(m1), [alice.g]);
});

Deno.test("mls group: sotto's credential policy refuses a leaf whose signature key is not the identity's IKsig", () => {
  const random = seededRandom("policy");
  const alice = new Person("alice", 5, random), mallory = new Person("mallory", 5, random);
  alice.create(random(32));
  // mallory presents alice's identity with her own P-521 signing key.
  const forged = createKeyPackage({
    suite: mallory.suite,
    signatureSecretKey: mallory.signer.signatureSecretKey,
    credential: sottoCredential(alice.identity.publicKeys),
  }, random);
  refused("invalid-credential", () => alice.g.commit({ add: [keyPackageMessage(forged.keyPackage)] }), [
    alice.g,
  ]);
  refused("invalid-credential", () => alice.g.proposeAdd(keyPackageMessage(forged.keyPackage)), [alice.g]);
  // A basic credential that is not an identity encoding at all.
  const junk = createKeyPackage({
    suite: mallory.suite,
    signatureSecretKey: mallory.signer.signatureSecretKey,
    credential: { type: 1, identity: text("mallory") },
  }, random);
  refused("invalid-credential", () => alice.g.commit({ add: [keyPackageMessage(junk.keyPackage)] }), [
    alice.g,
  ]);
  // The same person twice, and a KeyPackage of another suite.
  const bob = new Person("bob", 5, random);
  refused("invalid-leaf", () => alice.g.commit({ add: [bob.keyPackage(), bob.keyPackage()] }), [alice.g]);
  refused(
    "invalid-leaf",
    () => alice.g.commit({ add: [new Person("alice2", 5, random, alice.identity).keyPackage()] }),
    [
      alice.g,
    ],
  );
  refused(
    "invalid-key-package",
    () => alice.g.commit({ add: [new Person("p256", 2, random).keyPackage()] }),
    [alice.g],
  );
  refused("invalid-proposal", () => alice.g.commit({ remove: [0] }).commit, [alice.g]);
  refused("invalid-proposal", () => alice.g.commit({ remove: [5] }), [alice.g]);
  refused("state", () => alice.g.mergePendingCommit(), [alice.g]);
});

Deno.test("mls group: tampered, replayed, misdirected and non-member messages are refused without a state change", () => {
  const { random, alice, bob, carol, all } = threeMembers(2, "tamper");
  const app = bob.g.encrypt(text("hello"));
  const prop = bob.g.proposeUpdate();
  const commit = (() => {
    const c = bob.g.commit();
    return c.commit;
  })();
  for (const msg of [app, prop, commit]) {
    for (let i = 0; i < msg.length; i += Math.max(1, Math.floor(msg.length / 97))) {
      const t = msg.slice();
      t[i] ^= 0x40;
      assert.throws(() => carol.g.process(t), MlsError);
    }
  }
  // After all that, the genuine ones still go through, once.
  assert.equal(carol.g.process(app).kind, "application");
  refused("replay", () => carol.g.process(app), [carol.g]);
  assert.equal(carol.g.process(prop).kind, "proposal");
  refused("replay", () => carol.g.process(prop), [carol.g]);
  assert.equal(carol.g.process(commit).kind, "commit");
  assert.equal(alice.g.process(prop).kind, "proposal");
  alice.g.process(commit);
  bob.g.mergePendingCommit();
  assertAgree(all);
  refused("wrong-epoch", () => alice.g.process(commit), [alice.g]);
  // Another group's message, and one of our own.
  const other = new Person("eve", 2, random);
  other.create(random(32));
  const ec = other.g.commit();
  refused("wrong-group", () => alice.g.process(ec.commit), [alice.g]);
  const mine = alice.g.encrypt(text("self"));
  refused("replay", () => alice.g.process(mine), [alice.g]);
  refused("unsupported", () => alice.g.process(bob.keyPackage()), [alice.g]);
  refused("unsupported", () => alice.g.process(text("not mls")), [alice.g]);
  refused("malformed", () => alice.g.process(Uint8Array.of(0, 1, 0, 2, 7)), [alice.g]);
  // A message carol sent in the epoch she was removed in still reads (a late message of that epoch); after
  // processing her removal she can send nothing.
  const c = alice.g.commit({ remove: [2] });
  alice.g.mergePendingCommit();
  bob.g.process(c.commit);
  const late = carol.g.encrypt(text("am I still here?"));
  assert.equal(str((bob.g.process(late) as { data: Uint8Array }).data), "am I still here?");
  assert.ok((carol.g.process(c.commit) as { removedSelf: boolean }).removedSelf);
  refused("state", () => carol.g.encrypt(text("and now?")), [carol.g]);
  refused("state", () => carol.g.commit(), [carol.g]);
});

Deno.test("mls group: a joiner refuses a Welcome whose tree was altered or that is not for it", () => {
  const random = seededRandom("welcome");
  const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => new Person(n, 2, random));
  alice.create(random(32));
  bob.keyPackage();
  const c = alice.g.commit({ add: [bob.keyPackage()], ratchetTreeExtension: false });
  const tree = c.ratchetTree.slice();
  tree[tree.length - 3] ^= 1;
  assert.throws(() => bob.join(c.welcome!, {}, tree), MlsError);
  assert.throws(() => carol.join(c.welcome!, {}, c.ratchetTree), /no KeyPackage/);
  bob.join(c.welcome!, {}, c.ratchetTree);
  assert.equal(bob.g.epoch, 1n);
  // The other KeyPackage bob made is still his to use.
  assert.equal(bob.bundles.size, 1);
  void generateIdentity;
});

Deno.test("mls inspect: the clear fields a delivery service orders and routes by", () => {
  const random = seededRandom("inspect");
  const [alice, bob] = ["alice", "bob"].map((n) => new Person(n, 2, random));
  const gid = random(32);
  alice.create(gid);
  const kp = bob.keyPackage();
  const k = inspectMessage(kp);
  assert.ok(k.wireFormat === "key-package" && k.cipherSuite === 2 && k.keyPackageRef !== undefined);
  const c = alice.g.commit({ add: [kp] });
  const ci = inspectMessage(c.commit);
  assert.ok(
    ci.wireFormat === "private" && ci.contentType === "commit" && ci.epoch === 0n &&
      equalBytes(ci.groupId, gid),
  );
  const wi = inspectMessage(c.welcome!);
  assert.ok(wi.wireFormat === "welcome" && equalBytes(wi.keyPackageRefs[0], k.keyPackageRef!));
  alice.g.mergePendingCommit();
  bob.join(c.welcome!);
  const pub = MlsGroup.deserialize(bob.g.serialize(), bob.config({ handshakeWireFormat: "public" }));
  const pi = inspectMessage(pub.proposeUpdate());
  assert.ok(
    pi.wireFormat === "public" && pi.contentType === "proposal" && pi.senderLeaf === 1 && pi.epoch === 1n,
  );
  const gi = inspectMessage(alice.g.groupInfo());
  assert.ok(gi.wireFormat === "group-info" && gi.epoch === 1n);
  assert.throws(() => inspectMessage(Uint8Array.of(0, 1)), MlsError);
});

Deno.test("mls group: padding hides lengths within a bucket; KeyPackage bundles round-trip and are checked", () => {
  const { alice, bob } = threeMembers(2, "padding");
  const short = alice.g.encrypt(text("a"));
  const longer = alice.g.encrypt(text("x".repeat(120)));
  assert.equal(short.length, longer.length);
  assert.ok(alice.g.encrypt(text("y".repeat(300))).length > short.length);
  for (const m of [short, longer]) bob.g.process(m);
  const b = createKeyPackage({ suite: bob.suite, ...bob.signer }, seededRandom("bundle"));
  const back = decodeKeyPackageBundle(encodeKeyPackageBundle(b));
  assert.ok(equalBytes(back.ref, b.ref) && equalBytes(back.initSecretKey, b.initSecretKey));
  const swapped = encodeKeyPackageBundle({ ...b, initSecretKey: b.encryptionSecretKey });
  assert.throws(() => decodeKeyPackageBundle(swapped), (e: MlsError) => e.code === "invalid-key");
});

Deno.test("mls group: member limits hold for commits and joins", () => {
  const random = seededRandom("limits");
  const people = ["a", "b", "c", "d"].map((n) => new Person(n, 2, random));
  const [a, b, c, d] = people;
  a.create(random(32), { maxMembers: 3 });
  refused("limit", () => a.g.commit({ add: [b.keyPackage(), c.keyPackage(), d.keyPackage()] }), [a.g]);
  const ok = a.g.commit({ add: [b.keyPackage(), c.keyPackage()] });
  a.g.mergePendingCommit();
  assert.throws(() => b.join(ok.welcome!, { maxMembers: 2 }), (e: MlsError) => e.code === "limit");
  b.join(ok.welcome!, { maxMembers: 3 });
  assert.equal(b.g.members().length, 3);
});

Deno.test("mls group: a pending commit survives serialisation and merges afterwards", () => {
  const { alice, bob, carol, all } = threeMembers(5, "pending");
  const c = alice.g.commit({ remove: [2] });
  const restored = MlsGroup.deserialize(alice.g.serialize(), alice.config());
  assert.ok(restored.hasPendingCommit);
  assert.equal(restored.epoch, 1n);
  const info = restored.process(c.commit); // the commit coming back from the relay
  assert.ok(info.kind === "commit" && info.own && info.removed[0] === 2);
  alice.group = restored;
  bob.g.process(c.commit);
  carol.g.process(c.commit);
  assertAgree(all);
  assert.equal(carol.g.active, false);
});
