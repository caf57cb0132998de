// Ratchet trees for suites 2, 5 and 7: tree-validation.json (the resolution and tree hash of every node,
// parent hashes verified as on join, every leaf's signature with the group ID, the structural checks) and
// tree-operations.json (add, update and remove applied to a tree give the expected tree and tree hashes; the
// file has suite 1 only, whose hash is SHA-256 like suite 2's, and these checks use no other primitive of
// the suite: they run with suite 2's hash). Then tampering: a changed parent hash or unmerged list fails.
import assert from "node:assert/strict";
import { bytesToHex } from "../../../crypto/bytes.ts";
import { MlsError } from "../../../protocol/mls/errors.ts";
import { verifyLeafNodeSignature } from "../../../protocol/mls/leafnode.ts";
import { decode, type Node, readProposal } from "../../../protocol/mls/messages.ts";
import { getSuite } from "../../../protocol/mls/suite.ts";
import { RatchetTree } from "../../../protocol/mls/tree.ts";
import { hex, loadMlsVectors, ourSuites } from "./_vectors.ts";

const validation = loadMlsVectors<{
  cipher_suite: number;
  tree: string;
  group_id: string;
  resolutions: number[][];
  tree_hashes: string[];
}>("tree-validation.json");

Deno.test({
  name: "mls tree-validation.json: suites 2, 5 and 7 (14 trees each)",
  ignore: validation === null,
  fn() {
    const { cases } = ourSuites(validation!);
    assert.equal(cases.length, 42);
    for (const [i, v] of cases.entries()) {
      const s = getSuite(v.cipher_suite);
      const tree = RatchetTree.decode(hex(v.tree));
      assert.equal(bytesToHex(tree.encode()), v.tree, `case ${i} re-encodes`);
      assert.equal(tree.width, v.resolutions.length);
      for (let x = 0; x < tree.width; x++) {
        assert.deepEqual(tree.resolution(x), v.resolutions[x], `case ${i} node ${x}`);
      }
      assert.deepEqual(tree.allTreeHashes(s).map(bytesToHex), v.tree_hashes, `case ${i}`);
      tree.verifyParentHashes(s);
      tree.verifyStructure();
      for (const l of tree.members()) {
        assert.ok(verifyLeafNodeSignature(s, tree.leaf(l)!, hex(v.group_id), l), `case ${i} leaf ${l}`);
      }
    }
  },
});

Deno.test({
  name: "mls tree validation: a changed parent hash, key or unmerged list is refused",
  ignore: validation === null,
  fn() {
    const { cases } = ourSuites(validation!);
    const s = getSuite(cases[0].cipher_suite);
    let checked = 0;
    for (const v of cases.filter((c) => c.cipher_suite === 2)) {
      const tree = RatchetTree.decode(hex(v.tree));
      for (let x = 1; x < tree.width; x += 2) {
        const p = tree.parentNode(x);
        if (!p) continue;
        const t1 = tree.clone();
        const ph = p.parentHash.length > 0 ? p.parentHash.slice() : new Uint8Array(1);
        ph[0] ^= 1;
        t1.setParent(x, { ...p, parentHash: ph });
        const t2 = tree.clone();
        const key = p.encryptionKey.slice();
        key[5] ^= 1;
        t2.setParent(x, { ...p, encryptionKey: key });
        // Either the changed node or the node below it loses its parent-hash chain.
        assert.throws(() => t1.verifyParentHashes(s), (e: MlsError) => e.code === "invalid-tree");
        assert.throws(() => t2.verifyParentHashes(s), (e: MlsError) => e.code === "invalid-tree");
        if (p.unmergedLeaves.length > 0) {
          const t3 = tree.clone();
          t3.setParent(x, { ...p, unmergedLeaves: p.unmergedLeaves.slice(1) });
          assert.throws(() => {
            t3.verifyStructure();
            t3.verifyParentHashes(s);
          }, MlsError);
        }
        checked++;
      }
    }
    assert.ok(checked > 50);
  },
});

Deno.test("mls ratchet tree decoding: blank last node and wrong node types are refused", () => {
  const leaf = (): Node => ({
    type: 1,
    leaf: {
      encryptionKey: new Uint8Array(1),
      signatureKey: new Uint8Array(1),
      credential: { type: 1, identity: new Uint8Array(0) },
      capabilities: { versions: [], cipherSuites: [], extensions: [], proposals: [], credentials: [] },
      source: 2,
      extensions: [],
      signature: new Uint8Array(0),
    },
  });
  assert.throws(() => RatchetTree.fromList([leaf(), undefined]), /blank node/);
  assert.throws(() => RatchetTree.fromList([leaf(), leaf()]), /must be a parent/);
  assert.throws(() => RatchetTree.fromList([]), /empty/);
  assert.equal(RatchetTree.fromList([leaf(), undefined, leaf()]).leafCount, 2);
  assert.equal(RatchetTree.fromList([leaf(), undefined, undefined, undefined, leaf()]).leafCount, 4);
});

const operations = loadMlsVectors<{
  cipher_suite: number;
  tree_before: string;
  proposal: string;
  proposal_sender: number;
  tree_hash_before: string;
  tree_after: string;
  tree_hash_after: string;
}>("tree-operations.json");

Deno.test({
  name: "mls tree-operations.json: all 5 cases (add, update, remove) with SHA-256",
  ignore: operations === null,
  fn() {
    assert.equal(operations!.length, 5);
    const s = getSuite(2); // the same hash (SHA-256) as the file's suite 1; nothing else is used
    for (const v of operations!) {
      assert.equal(v.cipher_suite, 1);
      const tree = RatchetTree.decode(hex(v.tree_before));
      assert.equal(bytesToHex(tree.treeHash(s)), v.tree_hash_before);
      const p = decode(readProposal, hex(v.proposal), "Proposal");
      if (p.type === 1) tree.addLeaf(p.keyPackage.leafNode);
      else if (p.type === 2) tree.updateLeaf(v.proposal_sender, p.leafNode);
      else if (p.type === 3) tree.removeLeaf(p.removed);
      else throw new Error(`unexpected proposal type ${p.type}`);
      assert.equal(bytesToHex(tree.encode()), v.tree_after);
      assert.equal(bytesToHex(tree.treeHash(s)), v.tree_hash_after);
    }
  },
});
