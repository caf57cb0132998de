// protocol/mls/inspect.ts, what the relay reads: inspectHandshake on PublicMessage proposals and commits
// (sender leaf, epoch, Adds with the member's ID and KeyPackageRef, Removes, references that match the
// receivers' ProposalRefs, the path flag) and checkKeyPackage (RFC 9420 §10.1 with sotto's credentials).

import assert from "node:assert/strict";
import { bytesToHex } from "../../../crypto/bytes.ts";
import { checkKeyPackage, inspectHandshake, MlsError } from "../../../protocol/mls/mod.ts";
import { Person, seededRandom } from "./_group.ts";

Deno.test("inspectHandshake: proposals and commits as the relay sees them", () => {
  const random = seededRandom("relay inspect");
  const [a, b, c] = ["a", "b", "c"].map((n) => new Person(n, 2, random));
  const cfg = { handshakeWireFormat: "public" as const };
  const ga = a.create(random(32), cfg);
  const kb = b.keyPackage();
  const added = ga.commit({ add: [kb] });
  ga.mergePendingCommit();
  const gb = b.join(added.welcome!, cfg);
  const s0 = inspectHandshake(added.commit, 2);
  assert.equal(s0.contentType, "commit");
  assert.equal(s0.senderLeaf, 0);
  assert.equal(s0.epoch, 0n);
  assert.ok(s0.path);
  assert.equal(s0.proposals.length, 1);
  const add = s0.proposals[0];
  assert.ok(add.kind === "add");
  assert.equal(bytesToHex(add.memberId), bytesToHex(b.identity.id));
  assert.equal(bytesToHex(add.keyPackageRef), bytesToHex(added.added[0].keyPackageRef));

  // A proposal's ref is the one receivers cache and commits name.
  const kc = c.keyPackage();
  const p = gb.proposeAdd(kc);
  const sp = inspectHandshake(p, 2);
  assert.equal(sp.contentType, "proposal");
  assert.equal(sp.senderLeaf, 1);
  ga.process(p);
  assert.equal(bytesToHex(sp.proposalRef!), bytesToHex(ga.pendingProposals[0].ref));
  const r = inspectHandshake(gb.proposeRemove(0), 2);
  assert.deepEqual(r.proposals, [{ kind: "remove", leaf: 0 }]);
  const committed = inspectHandshake(ga.commit().commit, 2);
  assert.equal(committed.proposals[0].kind, "ref");
  assert.equal(bytesToHex((committed.proposals[0] as { ref: Uint8Array }).ref), bytesToHex(sp.proposalRef!));

  // Not for the relay: application data, PrivateMessage handshakes, garbage.
  const privateGroup = a.create(random(32));
  assert.throws(
    () => inspectHandshake(privateGroup.commit().commit, 2),
    (e) => e instanceof MlsError && e.code === "unsupported",
  );
  assert.throws(
    () => inspectHandshake(ga.groupInfo(), 2),
    (e) => e instanceof MlsError && e.code === "unsupported",
  );
  assert.throws(() => inspectHandshake(new Uint8Array([0, 1, 0, 1]), 2), MlsError);
  assert.throws(
    () => inspectHandshake(added.commit, 3),
    (e) => e instanceof MlsError && e.code === "unsupported",
  );
});

Deno.test("checkKeyPackage: a valid sotto KeyPackage names its member; anything else is refused", () => {
  const random = seededRandom("relay keypackage");
  const b = new Person("b", 5, random);
  const kp = b.keyPackage();
  const ok = checkKeyPackage(kp);
  assert.equal(ok.cipherSuite, 5);
  assert.equal(bytesToHex(ok.memberId), bytesToHex(b.identity.id));
  assert.equal(bytesToHex(ok.keyPackageRef), [...b.bundles.keys()][0]);
  // A flipped bit in the signature (the last bytes) or in a key; another message type; a lifetime check.
  const bad = kp.slice();
  bad[bad.length - 5] ^= 1;
  assert.throws(() => checkKeyPackage(bad), MlsError);
  assert.throws(() => checkKeyPackage(new Uint8Array([0, 1, 0, 5])), MlsError);
  assert.throws(
    () => checkKeyPackage(kp, { now: 1n, maxLifetime: 86_400n }),
    (e) => e instanceof MlsError && e.code === "invalid-leaf",
  );
});
