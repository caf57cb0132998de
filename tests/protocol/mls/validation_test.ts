// The validation rules one by one, on crafted inputs against a real group's tree (suite 2): the proposal-list
// rules of RFC 9420 §12.2 (applyProposals), leaf-node validation §7.3 (validateLeafNode), KeyPackage
// validation §10.1, and the UpdatePath checks of §7.5 and §12.4.2 (mergePath, decryptPath). Each refusal names
// its code.
import assert from "node:assert/strict";
import { encodeIdentityPublic } from "../../../protocol/identity.ts";
import { sottoCredentialPolicy } from "../../../protocol/mls/credential.ts";
import { MlsError, type MlsErrorCode } from "../../../protocol/mls/errors.ts";
import {
  type LeafContext,
  signKeyPackage,
  signLeafNode,
  validateKeyPackage,
  validateLeafNode,
} from "../../../protocol/mls/leafnode.ts";
import {
  decodeMlsMessage,
  type Extension,
  type KeyPackage,
  type LeafNode,
  type Proposal,
  type Sender,
} from "../../../protocol/mls/messages.ts";
import { applyProposals, type ProposalEnv, type SentProposal } from "../../../protocol/mls/proposals.ts";
import { MlsGroup } from "../../../protocol/mls/group.ts";
import { RatchetTree } from "../../../protocol/mls/tree.ts";
import {
  createPath,
  decryptPath,
  encryptPath,
  mergePath,
  PrivateKeys,
} from "../../../protocol/mls/treekem.ts";
import { Person, seededRandom } from "./_group.ts";

function code(c: MlsErrorCode) {
  return (e: unknown) => e instanceof MlsError && e.code === c;
}

const random = seededRandom("validation");
const [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map((n) => new Person(n, 2, random));
const groupId = random(32);
alice.create(groupId);
const c = alice.g.commit({ add: [bob.keyPackage(), carol.keyPackage()] });
alice.g.mergePendingCommit();
bob.join(c.welcome!);
const tree = RatchetTree.decode(alice.g.ratchetTree());
const suite = alice.suite;
const psks = new Map<string, Uint8Array>();
const env = (extensions: readonly Extension[] = []): ProposalEnv => ({
  suite,
  groupId,
  tree,
  extensions,
  policy: sottoCredentialPolicy,
  psk: (id) => id.type === 1 ? psks.get(new TextDecoder().decode(id.pskId)) : undefined,
});
const member = (leaf: number): Sender => ({ type: 1, leafIndex: leaf });
const kpOf = (bytes: Uint8Array): KeyPackage => {
  const m = decodeMlsMessage(bytes);
  if (m.wireFormat !== 5) throw new Error("not a KeyPackage");
  return m.keyPackage;
};
const byValue = (proposal: Proposal, from = 0): SentProposal => ({ proposal, sender: member(from) });
const update = (who: Person, leaf: number, changes: Partial<LeafNode> = {}): Proposal => ({
  type: 2,
  leafNode: signLeafNode(
    suite,
    who.signer.signatureSecretKey,
    {
      ...tree.leaf(leaf)!,
      encryptionKey: suite.hpke.generateKeyPair(random).publicKey,
      source: 2,
      ...changes,
    },
    groupId,
    leaf,
  ),
});

Deno.test("mls validation: proposal lists (RFC 9420 §12.2)", () => {
  const e = env();
  // Valid: an Update from bob, a Remove of carol, an Add of dave, by alice.
  const ok = applyProposals(e, 0, [
    byValue(update(bob, 1), 1),
    byValue({ type: 3, removed: 2 }),
    byValue({ type: 1, keyPackage: kpOf(dave.keyPackage()) }),
  ]);
  assert.deepEqual([ok.updated, ok.removed, ok.added.map((a) => a.leaf), ok.pathRequired], [
    [1],
    [2],
    [2],
    true,
  ]);
  assert.equal(
    applyProposals(e, 0, [byValue({ type: 1, keyPackage: kpOf(dave.keyPackage()) })]).pathRequired,
    false,
  );
  assert.equal(applyProposals(e, 0, []).pathRequired, true);

  const refused: [MlsErrorCode, SentProposal[]][] = [
    ["invalid-proposal", [byValue(update(alice, 0), 0)]], // the committer's own Update
    ["invalid-proposal", [byValue({ type: 3, removed: 0 })]], // removing the committer
    ["invalid-proposal", [byValue({ type: 3, removed: 2 }), byValue({ type: 3, removed: 2 }, 1)]],
    ["invalid-proposal", [byValue(update(bob, 1), 1), byValue({ type: 3, removed: 1 })]],
    ["invalid-proposal", [byValue({ type: 3, removed: 3 })]], // a blank leaf
    ["invalid-proposal", [byValue({ type: 3, removed: 99 })]], // beyond the tree
    ["invalid-leaf", [byValue({ type: 1, keyPackage: kpOf(carol.keyPackage()) })]], // already a member
    ["invalid-proposal", [
      byValue({ type: 7, extensions: [] }),
      byValue({ type: 7, extensions: [] }, 1),
    ]],
    ["unsupported", [byValue({ type: 5, groupId, version: 1, cipherSuite: 2, extensions: [] })]],
    ["invalid-proposal", [byValue({ type: 6, kemOutput: new Uint8Array(65) })]],
    ["invalid-proposal", [
      byValue({ type: 4, psk: { type: 1, pskId: new TextEncoder().encode("none"), nonce: random(32) } }),
    ]],
    ["unsupported", [byValue({ type: 7, extensions: [{ type: 5, data: new Uint8Array(1) }] })]], // external_senders
    ["unknown-sender", [{ proposal: { type: 3, removed: 2 }, sender: { type: 2, senderIndex: 0 } }]],
  ];
  for (const [want, list] of refused) assert.throws(() => applyProposals(e, 0, list), code(want), want);

  // PSKs: a held external PSK works; a wrong nonce length, a reinit resumption PSK and a repeat do not.
  psks.set("k", random(32));
  const id = { type: 1 as const, pskId: new TextEncoder().encode("k"), nonce: random(32) };
  assert.equal(applyProposals(e, 0, [byValue({ type: 4, psk: id })]).psks.length, 1);
  assert.throws(
    () => applyProposals(e, 0, [byValue({ type: 4, psk: { ...id, nonce: random(16) } })]),
    code("invalid-proposal"),
  );
  assert.throws(
    () => applyProposals(e, 0, [byValue({ type: 4, psk: id }), byValue({ type: 4, psk: id }, 1)]),
    code("invalid-proposal"),
  );
  assert.throws(
    () =>
      applyProposals(e, 0, [
        byValue({ type: 4, psk: { type: 2, usage: 2, groupId, epoch: 0n, nonce: random(32) } }),
      ]),
    code("invalid-proposal"),
  );
  // A GroupContextExtensions requiring a capability nobody has.
  const required = { type: 3, data: Uint8Array.of(2, 0xf0, 0x01, 0, 0) }; // extension_types [0xF001]
  assert.throws(
    () => applyProposals(e, 0, [byValue({ type: 7, extensions: [required] })]),
    code("invalid-proposal"),
  );
});

Deno.test("mls validation: leaf nodes and KeyPackages (RFC 9420 §7.3, §10.1)", () => {
  const ctx: LeafContext = { suite, policy: sottoCredentialPolicy, groupExtensions: [] };
  const bobLeaf = tree.leaf(1)!;
  const sk = bob.signer.signatureSecretKey;
  const check = (leaf: LeafNode, source = 2) =>
    validateLeafNode(ctx, leaf, source as 2, tree, 1, groupId, { replacing: 1 });
  const fresh = (changes: Partial<LeafNode>) =>
    signLeafNode(
      suite,
      sk,
      {
        ...bobLeaf,
        encryptionKey: suite.hpke.generateKeyPair(random).publicKey,
        source: 2,
        ...changes,
      },
      groupId,
      1,
    );
  check(fresh({}));
  assert.throws(() => check(fresh({}), 3), code("invalid-leaf")); // wrong source for its context
  assert.throws(() => check({ ...fresh({}), signature: fresh({}).signature }), code("bad-signature"));
  assert.throws(
    () => validateLeafNode(ctx, fresh({}), 2, tree, 1, random(32), { replacing: 1 }),
    code("bad-signature"),
  );
  assert.throws(
    () => check(fresh({ capabilities: { ...bobLeaf.capabilities, cipherSuites: [5] } })),
    code("invalid-leaf"),
  );
  assert.throws(
    () => check(fresh({ capabilities: { ...bobLeaf.capabilities, versions: [2] } })),
    code("invalid-leaf"),
  );
  assert.throws(
    () => check(fresh({ capabilities: { ...bobLeaf.capabilities, credentials: [2] } })),
    code("invalid-leaf"),
  );
  assert.throws(
    () => check(fresh({ extensions: [{ type: 0xf00f, data: new Uint8Array(0) }] })),
    code("invalid-leaf"),
  );
  assert.throws(() => check(fresh({ encryptionKey: tree.leaf(2)!.encryptionKey })), code("invalid-leaf"));
  assert.throws(
    () => check(fresh({ encryptionKey: Uint8Array.of(2, ...bobLeaf.encryptionKey.subarray(1, 33)) })),
    code("invalid-key"),
  );
  // Credentials: another identity's bytes with bob's key; a key that is not the identity's IKsig.
  assert.throws(
    () =>
      check(fresh({ credential: { type: 1, identity: encodeIdentityPublic(carol.identity.publicKeys) } })),
    code("invalid-credential"),
  );
  const mallory = new Person("mallory", 2, random);
  assert.throws(
    () =>
      check(signLeafNode(
        suite,
        mallory.signer.signatureSecretKey,
        {
          ...fresh({}),
          signatureKey: suite.signaturePublicKey(mallory.signer.signatureSecretKey),
        },
        groupId,
        1,
      )),
    code("invalid-credential"),
  );
  // Lifetimes, when the caller has a clock.
  const kp = kpOf(dave.keyPackage());
  const timed = (now: bigint, maxLifetime?: bigint) => validateKeyPackage({ ...ctx, now, maxLifetime }, kp);
  timed(1_000n);
  assert.throws(() => timed(1_000n, 86_400n), code("invalid-leaf"));
  const dated = signLeafNode(suite, dave.signer.signatureSecretKey, {
    ...kp.leafNode,
    lifetime: { notBefore: 100n, notAfter: 200n },
  });
  const datedKp = signKeyPackage(suite, dave.signer.signatureSecretKey, { ...kp, leafNode: dated });
  validateKeyPackage({ ...ctx, now: 150n }, datedKp);
  assert.throws(() => validateKeyPackage({ ...ctx, now: 250n }, datedKp), code("invalid-leaf"));
  // KeyPackages: init key equal to the encryption key, another suite, a bad signature.
  assert.throws(
    () =>
      validateKeyPackage(
        ctx,
        signKeyPackage(suite, dave.signer.signatureSecretKey, { ...kp, initKey: kp.leafNode.encryptionKey }),
      ),
    code("invalid-key-package"),
  );
  assert.throws(() => validateKeyPackage(ctx, { ...kp, cipherSuite: 5 }), code("invalid-key-package"));
  assert.throws(
    () => validateKeyPackage(ctx, { ...kp, signature: datedKp.signature }),
    code("bad-signature"),
  );
  assert.throws(
    () =>
      validateKeyPackage(
        ctx,
        signKeyPackage(suite, dave.signer.signatureSecretKey, {
          ...kp,
          extensions: [{ type: 9, data: new Uint8Array(0) }, { type: 9, data: new Uint8Array(0) }],
        }),
      ),
    code("malformed"),
  );
});

Deno.test("mls validation: UpdatePaths (node count, parent hash, ciphertext count, wrong keys)", () => {
  // alice builds a path over the 3-member tree (its decryption is what treekem.json and the group tests check).
  const t = tree.clone();
  const created = createPath(suite, t, 0, t.leaf(0)!, alice.signer.signatureSecretKey, groupId, random);
  const context = new Uint8Array(8);
  const path = encryptPath(suite, t, 0, created, new Set(), context, random);
  // Node count.
  assert.throws(
    () => mergePath(suite, tree.clone(), 0, { ...path, nodes: path.nodes.slice(1) }),
    code("invalid-commit"),
  );
  // A leaf whose parent hash does not match.
  const badLeaf = signLeafNode(
    suite,
    alice.signer.signatureSecretKey,
    { ...path.leafNode, parentHash: new Uint8Array(32) },
    groupId,
    0,
  );
  assert.throws(() => mergePath(suite, tree.clone(), 0, { ...path, leafNode: badLeaf }), code("bad-mac"));
  // A node key that is not a point.
  const badNode = { ...path.nodes[0], encryptionKey: new Uint8Array(65) };
  assert.throws(
    () => mergePath(suite, tree.clone(), 0, { ...path, nodes: [badNode, ...path.nodes.slice(1)] }),
    code("invalid-key"),
  );
  // The genuine path merges; decrypting with no key for it, or with a ciphertext missing, is refused.
  const merged = tree.clone();
  const fdp = mergePath(suite, merged, 0, path);
  assert.throws(
    () => decryptPath(suite, merged, 0, fdp, path, 1, new PrivateKeys(), new Set(), context),
    code("undecryptable"),
  );
  const short = { ...path, nodes: path.nodes.map((n) => ({ ...n, encryptedPathSecret: [] })) };
  assert.throws(
    () => decryptPath(suite, merged, 0, fdp, short, 1, new PrivateKeys(), new Set(), context),
    code("invalid-commit"),
  );
});

Deno.test("mls validation: GroupContext extensions a group is created with", () => {
  const p = new Person("erin", 2, random);
  const params = { suite: 2 as const, groupId: random(32), ...p.signer };
  assert.throws(
    () => MlsGroup.create({ ...params, extensions: [{ type: 5, data: Uint8Array.of(0) }] }),
    code("unsupported"),
  );
  const dup = { type: 3, data: Uint8Array.of(0, 0, 0) };
  assert.throws(() => MlsGroup.create({ ...params, extensions: [dup, dup] }), code("malformed"));
  // Requiring an extension type the creator itself does not support.
  const required = { type: 3, data: Uint8Array.of(2, 0xf0, 0x01, 0, 0) };
  assert.throws(() => MlsGroup.create({ ...params, extensions: [required] }), code("invalid-leaf"));
  const g = MlsGroup.create({ ...params, extensions: [{ type: 3, data: Uint8Array.of(0, 0, 0) }] });
  assert.equal(g.epoch, 0n);
});
