// TreeKEM (RFC 9420 §7.4–7.6): the private keys a member holds, creating an UpdatePath (fresh leaf key,
// path secrets along the filtered direct path, parent hashes, the signed leaf, then each path secret
// encrypted to the resolution of the copath child minus the leaves this commit adds), merging a received
// UpdatePath into the tree (checking the committer's parent hash), decrypting it, and the joiner's
// derivation of its path keys from the Welcome's path secret.

import { equalBytes, type RandomSource, wipe } from "../../crypto/bytes.ts";
import { Reader, Writer } from "./codec.ts";
import { MlsError } from "./errors.ts";
import { signLeafNode } from "./leafnode.ts";
import { type LeafNode, LeafNodeSource, type UpdatePath, type UpdatePathNode } from "./messages.ts";
import type { CipherSuite } from "./suite.ts";
import { RatchetTree } from "./tree.ts";
import * as tm from "./treemath.ts";

/** The HPKE secret keys a member holds, by node index, each with the public key it belongs to. */
export class PrivateKeys {
  #keys: Map<number, { sk: Uint8Array; pk: Uint8Array }>;

  constructor(entries: Iterable<[number, { sk: Uint8Array; pk: Uint8Array }]> = []) {
    this.#keys = new Map(entries);
  }

  clone(): PrivateKeys {
    return new PrivateKeys(this.#keys);
  }

  set(node: number, sk: Uint8Array, pk: Uint8Array): void {
    this.#keys.set(node, { sk, pk });
  }

  /** The secret key of node `x` if we hold the one for the public key the tree has there now. */
  get(tree: RatchetTree, x: number): Uint8Array | undefined {
    const e = this.#keys.get(x);
    const pk = tree.encryptionKey(x);
    return e !== undefined && pk !== undefined && equalBytes(e.pk, pk) ? e.sk : undefined;
  }

  /** Drops keys whose node is blank, gone or holds another public key (§7.5: delete outdated keys). */
  prune(tree: RatchetTree): void {
    for (const [x, e] of this.#keys) {
      const pk = x < tree.width ? tree.encryptionKey(x) : undefined;
      if (pk === undefined || !equalBytes(pk, e.pk)) this.#keys.delete(x);
    }
  }

  get size(): number {
    return this.#keys.size;
  }

  write(w: Writer): void {
    w.list([...this.#keys], (w, [x, e]) => w.u32(x).opaque(e.sk).opaque(e.pk));
  }

  static read(r: Reader): PrivateKeys {
    return new PrivateKeys(r.vector("private keys", (s) => {
      return [s.u32("node"), { sk: s.opaque("secret key", 128), pk: s.opaque("public key", 256) }] as [
        number,
        { sk: Uint8Array; pk: Uint8Array },
      ];
    }, 64));
  }
}

/** The key pair of a path secret: DeriveKeyPair(DeriveSecret(path_secret, "node")). */
export function nodeKeyPair(suite: CipherSuite, pathSecret: Uint8Array): { sk: Uint8Array; pk: Uint8Array } {
  const nodeSecret = suite.deriveSecret(pathSecret, "node");
  const kp = suite.deriveKeyPair(nodeSecret);
  wipe(nodeSecret);
  return { sk: kp.secretKey, pk: kp.publicKey };
}

/** The fields of a member's leaf node that a commit path keeps (everything but keys, source and signature). */
export type LeafTemplate = Pick<LeafNode, "signatureKey" | "credential" | "capabilities" | "extensions">;

/** What creating an UpdatePath gives the committer. */
export interface CreatedPath {
  /** The filtered direct path (node indices, leaf to root). */
  readonly fdp: readonly number[];
  /** The path secret of each node of `fdp`. */
  readonly pathSecrets: readonly Uint8Array[];
  readonly commitSecret: Uint8Array;
  readonly leafNode: LeafNode;
  /** The new secret keys: the leaf's and those of `fdp`. */
  readonly keys: readonly [number, { sk: Uint8Array; pk: Uint8Array }][];
}

/**
 * Updates the committer's direct path in `tree` (after the commit's proposals) (§7.4–7.5): blanks it,
 * derives path secrets from a random leaf secret, sets each filtered-direct-path node's key, computes the
 * parent hashes, and signs and sets the new leaf (source commit). Encryption comes after, once the
 * provisional GroupContext (with this tree's hash) is known: {@link encryptPath}.
 */
export function createPath(
  suite: CipherSuite,
  tree: RatchetTree,
  leaf: number,
  template: LeafTemplate,
  signatureSecretKey: Uint8Array,
  groupId: Uint8Array,
  random: RandomSource,
): CreatedPath {
  tree.blankPath(leaf);
  const fdp = tree.filteredDirectPath(leaf);
  const leafSecret = random(suite.nh);
  const leafKeys = nodeKeyPair(suite, leafSecret);
  const keys: [number, { sk: Uint8Array; pk: Uint8Array }][] = [[2 * leaf, leafKeys]];
  const pathSecrets: Uint8Array[] = [];
  let ps = suite.deriveSecret(leafSecret, "path");
  wipe(leafSecret);
  for (const x of fdp) {
    pathSecrets.push(ps);
    const kp = nodeKeyPair(suite, ps);
    keys.push([x, kp]);
    tree.setParent(x, { encryptionKey: kp.pk, parentHash: new Uint8Array(0), unmergedLeaves: [] });
    ps = suite.deriveSecret(ps, "path");
  }
  const commitSecret = ps;
  const parentHash = tree.setPathParentHashes(suite, leaf, fdp);
  const leafNode = signLeafNode(
    suite,
    signatureSecretKey,
    {
      // Only the kept fields: a key_package leaf's lifetime, say, must not ride along.
      signatureKey: template.signatureKey,
      credential: template.credential,
      capabilities: template.capabilities,
      extensions: template.extensions,
      encryptionKey: leafKeys.pk,
      source: LeafNodeSource.Commit,
      parentHash,
    },
    groupId,
    leaf,
  );
  tree.setLeaf(leaf, leafNode);
  return { fdp, pathSecrets, commitSecret, leafNode, keys };
}

/**
 * Encrypts each path secret to the resolution of its node's copath child, leaving out the leaves this
 * commit adds (`exclude`), under the provisional GroupContext (§7.6).
 */
export function encryptPath(
  suite: CipherSuite,
  tree: RatchetTree,
  leaf: number,
  created: CreatedPath,
  exclude: ReadonlySet<number>,
  groupContext: Uint8Array,
  random: RandomSource,
): UpdatePath {
  const nodes: UpdatePathNode[] = created.fdp.map((x, i) => {
    const { copath } = RatchetTree.children(x, 2 * leaf);
    const targets = tree.resolution(copath).filter((y) => !(tm.isLeaf(y) && exclude.has(y / 2)));
    return {
      encryptionKey: tree.encryptionKey(x)!,
      encryptedPathSecret: targets.map((y) => {
        const c = suite.encryptWithLabel(
          tree.encryptionKey(y)!,
          "UpdatePathNode",
          groupContext,
          created.pathSecrets[i],
          random,
        );
        return { kemOutput: c.kemOutput, ciphertext: c.ciphertext };
      }),
    };
  });
  return { leafNode: created.leafNode, nodes };
}

/**
 * Merges a received UpdatePath into `tree` (after the commit's proposals) (§7.5): the node count must be
 * that of the sender's filtered direct path; the nodes are set with empty unmerged lists; the parent hashes
 * are recomputed and the leaf's must match. The leaf node must already be validated by the caller.
 * MlsError("invalid-commit" or "bad-mac") otherwise. Returns the filtered direct path.
 */
export function mergePath(suite: CipherSuite, tree: RatchetTree, sender: number, path: UpdatePath): number[] {
  tree.blankPath(sender);
  const fdp = tree.filteredDirectPath(sender);
  if (path.nodes.length !== fdp.length) {
    throw new MlsError(
      "invalid-commit",
      `the UpdatePath has ${path.nodes.length} nodes; the committer's filtered direct path has ${fdp.length}`,
    );
  }
  fdp.forEach((x, i) => {
    suite.validatePublicKey(path.nodes[i].encryptionKey, "an UpdatePath node's encryption key");
    tree.setParent(x, {
      encryptionKey: path.nodes[i].encryptionKey,
      parentHash: new Uint8Array(0),
      unmergedLeaves: [],
    });
  });
  const expected = tree.setPathParentHashes(suite, sender, fdp);
  if (path.leafNode.source !== LeafNodeSource.Commit || !equalBytes(path.leafNode.parentHash!, expected)) {
    throw new MlsError("bad-mac", "the committer's leaf does not carry the parent hash of its UpdatePath");
  }
  tree.setLeaf(sender, path.leafNode);
  return fdp;
}

/**
 * Decrypts a merged UpdatePath for the member at `own.leaf` (§7.5): finds the node whose copath child
 * covers us, the resolution entry we hold a key for, decrypts that path secret, derives the rest up to the
 * root checking every public key, and stores the new keys in `keys`. Returns the commit secret.
 */
export function decryptPath(
  suite: CipherSuite,
  tree: RatchetTree,
  sender: number,
  fdp: readonly number[],
  path: UpdatePath,
  ownLeaf: number,
  keys: PrivateKeys,
  exclude: ReadonlySet<number>,
  groupContext: Uint8Array,
): { commitSecret: Uint8Array; pathSecret: Uint8Array; node: number } {
  const me = 2 * ownLeaf;
  const i = fdp.findIndex((x) => tm.isDescendant(me, RatchetTree.children(x, 2 * sender).copath));
  if (i < 0) throw new MlsError("invalid-commit", "no node of the UpdatePath covers this member");
  const { copath } = RatchetTree.children(fdp[i], 2 * sender);
  const targets = tree.resolution(copath).filter((y) => !(tm.isLeaf(y) && exclude.has(y / 2)));
  const cts = path.nodes[i].encryptedPathSecret;
  if (cts.length !== targets.length) {
    throw new MlsError(
      "invalid-commit",
      `an UpdatePath node has ${cts.length} ciphertexts for ${targets.length} keys`,
    );
  }
  const j = targets.findIndex((y) => tm.isDescendant(me, y) && keys.get(tree, y) !== undefined);
  if (j < 0) throw new MlsError("undecryptable", "this member holds no key the UpdatePath was encrypted to");
  const y = targets[j];
  const ct = cts[j];
  const pathSecret = suite.decryptWithLabel(
    keys.get(tree, y)!,
    "UpdatePathNode",
    groupContext,
    ct.kemOutput,
    ct.ciphertext,
    tree.encryptionKey(y),
  );
  let ps = pathSecret;
  for (let k = i; k < fdp.length; k++) {
    const kp = nodeKeyPair(suite, ps);
    if (!equalBytes(kp.pk, path.nodes[k].encryptionKey)) {
      throw new MlsError("invalid-commit", `the path secret does not give the public key of node ${fdp[k]}`);
    }
    keys.set(fdp[k], kp.sk, kp.pk);
    ps = suite.deriveSecret(ps, "path");
  }
  return { commitSecret: ps, pathSecret, node: fdp[i] };
}

/**
 * The joiner's path keys (§12.4.3.1): from the path secret of the lowest common ancestor of its leaf and
 * the committer's, along the committer's filtered direct path up to the root; every derived public key
 * must be the one in the tree. Returns nothing; fills `keys`.
 */
export function implantPathSecret(
  suite: CipherSuite,
  tree: RatchetTree,
  committer: number,
  ownLeaf: number,
  pathSecret: Uint8Array,
  keys: PrivateKeys,
): void {
  const ancestor = tm.commonAncestor(2 * ownLeaf, 2 * committer);
  const fdp = tree.filteredDirectPath(committer);
  const start = fdp.indexOf(ancestor);
  if (start < 0) {
    throw new MlsError("invalid-welcome", "the Welcome's path secret is for a node off the committer's path");
  }
  let ps = pathSecret;
  for (let k = start; k < fdp.length; k++) {
    const kp = nodeKeyPair(suite, ps);
    if (!equalBytes(kp.pk, tree.encryptionKey(fdp[k]) ?? new Uint8Array(0))) {
      throw new MlsError("invalid-welcome", `the Welcome's path secret does not give node ${fdp[k]}'s key`);
    }
    keys.set(fdp[k], kp.sk, kp.pk);
    ps = suite.deriveSecret(ps, "path");
  }
}

/** Readers for PrivateKeys in serialised group state. */
export function readPrivateKeys(bytes: Uint8Array): PrivateKeys {
  const r = new Reader(bytes, "private keys");
  const k = PrivateKeys.read(r);
  r.end();
  return k;
}
