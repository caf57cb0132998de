// treekem.json for suites 2, 5 and 7 (11 trees each): every member's private state is consistent with the
// tree; every UpdatePath merges with a valid parent hash, decrypts for every other member to the listed
// path secret and commit secret, and gives the listed tree hash; and a new UpdatePath we create from each
// sender decrypts for every other member to our commit secret.
import assert from "node:assert/strict";
import { bytesToHex, equalBytes } from "../../../crypto/bytes.ts";
import { encodeGroupContext, type GroupContext, readUpdatePath } from "../../../protocol/mls/messages.ts";
import { decode } from "../../../protocol/mls/messages.ts";
import { getSuite } from "../../../protocol/mls/suite.ts";
import { RatchetTree } from "../../../protocol/mls/tree.ts";
import {
  createPath,
  decryptPath,
  encryptPath,
  mergePath,
  nodeKeyPair,
  PrivateKeys,
} from "../../../protocol/mls/treekem.ts";
import { hex, loadMlsVectors, ourSuites } from "./_vectors.ts";

interface Case {
  cipher_suite: number;
  group_id: string;
  epoch: number;
  confirmed_transcript_hash: string;
  ratchet_tree: string;
  leaves_private: {
    index: number;
    encryption_priv: string;
    signature_priv: string;
    path_secrets: { node: number; path_secret: string }[];
  }[];
  update_paths: {
    sender: number;
    update_path: string;
    path_secrets: (string | null)[];
    commit_secret: string;
    tree_hash_after: string;
  }[];
}

const all = loadMlsVectors<Case>("treekem.json");
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const none = new Set<number>();

Deno.test({
  name: "mls treekem.json: suites 2, 5 and 7",
  ignore: all === null,
  fn() {
    const { cases } = ourSuites(all!);
    assert.equal(cases.length, 33);
    let paths = 0, decryptions = 0;
    for (const [ci, v] of cases.entries()) {
      const s = getSuite(v.cipher_suite);
      const base = RatchetTree.decode(hex(v.ratchet_tree));
      const gc = (tree: RatchetTree): Uint8Array => {
        const g: GroupContext = {
          version: 1,
          cipherSuite: v.cipher_suite,
          groupId: hex(v.group_id),
          epoch: BigInt(v.epoch),
          treeHash: tree.treeHash(s),
          confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
          extensions: [],
        };
        return encodeGroupContext(g);
      };
      // Private states, each checked against the tree.
      const privs = new Map<number, PrivateKeys>();
      for (const lp of v.leaves_private) {
        const keys = new PrivateKeys();
        const sk = s.secretKey(hex(lp.encryption_priv));
        const pk = s.hpke.publicKeyOf(sk);
        assert.ok(equalBytes(pk, base.leaf(lp.index)!.encryptionKey), `case ${ci} leaf ${lp.index}`);
        keys.set(2 * lp.index, sk, pk);
        for (const p of lp.path_secrets) {
          const kp = nodeKeyPair(s, hex(p.path_secret));
          assert.ok(equalBytes(kp.pk, base.encryptionKey(p.node)!), `case ${ci} node ${p.node}`);
          keys.set(p.node, kp.sk, kp.pk);
        }
        privs.set(lp.index, keys);
      }
      for (const up of v.update_paths) {
        const path = decode(readUpdatePath, hex(up.update_path), "UpdatePath");
        const tree = base.clone();
        const fdp = mergePath(s, tree, up.sender, path);
        assert.equal(bytesToHex(tree.treeHash(s)), up.tree_hash_after, `case ${ci} sender ${up.sender}`);
        const context = gc(tree);
        for (const [j, keys] of privs) {
          if (j === up.sender) continue;
          const out = decryptPath(s, tree, up.sender, fdp, path, j, keys.clone(), none, context);
          assert.equal(
            bytesToHex(out.pathSecret),
            up.path_secrets[j],
            `case ${ci} sender ${up.sender} leaf ${j}`,
          );
          assert.equal(bytesToHex(out.commitSecret), up.commit_secret);
          decryptions++;
        }
        // A path of our own from the same sender.
        const mine = base.clone();
        const sigPriv = s.secretKey(hex(v.leaves_private.find((l) => l.index === up.sender)!.signature_priv));
        const old = base.leaf(up.sender)!;
        const created = createPath(s, mine, up.sender, old, sigPriv, hex(v.group_id), random);
        const ourPath = encryptPath(s, mine, up.sender, created, none, gc(mine), random);
        for (const [j, keys] of privs) {
          if (j === up.sender) continue;
          const t = base.clone();
          const f = mergePath(s, t, up.sender, ourPath);
          assert.equal(bytesToHex(t.treeHash(s)), bytesToHex(mine.treeHash(s)));
          const out = decryptPath(s, t, up.sender, f, ourPath, j, keys.clone(), none, gc(t));
          assert.ok(equalBytes(out.commitSecret, created.commitSecret), `case ${ci} our path to ${j}`);
        }
        parentHashValid(s, mine);
        paths++;
      }
    }
    assert.ok(paths > 30 && decryptions > 100, `${paths} paths, ${decryptions} decryptions`);
  },
});

function parentHashValid(s: ReturnType<typeof getSuite>, tree: RatchetTree) {
  tree.verifyParentHashes(s);
  tree.verifyStructure();
}
