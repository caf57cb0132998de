// The public ratchet tree (RFC 9420 §4, §7): an array of optional nodes of width 2n − 1 for n leaves (a
// power of two), with resolutions, filtered direct paths, tree hashes (§7.8), parent hashes (§7.9) and
// their verification on join (§7.9.2), the structural checks of §12.4.3.1 (node types, unmerged leaves,
// unique keys), and the edits proposals make: add (leftmost blank leaf or extend), update, remove (then
// truncate). Nodes are immutable values; an edit replaces them, so `clone` is a cheap array copy.

import { equalBytes } from "../../crypto/bytes.ts";
import { Writer } from "./codec.ts";
import { MlsError } from "./errors.ts";
import {
  type LeafNode,
  LeafNodeSource,
  LIMITS,
  type Node,
  NodeType,
  type ParentNode,
  readRatchetTree,
  writeLeafNode,
  writeParentNode,
  writeRatchetTree,
} from "./messages.ts";
import type { CipherSuite } from "./suite.ts";
import * as tm from "./treemath.ts";
import { Reader } from "./codec.ts";

const EMPTY = new Uint8Array(0);

export class RatchetTree {
  #nodes: (Node | undefined)[];

  /** A tree from nodes in array order; the width must be 2n − 1 for a power of two n. */
  constructor(nodes: (Node | undefined)[]) {
    const n = (nodes.length + 1) / 2;
    if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0) {
      throw new RangeError("tree width must be 2n − 1");
    }
    this.#nodes = nodes;
  }

  /** A one-leaf tree (a group's creator). */
  static single(leaf: LeafNode): RatchetTree {
    return new RatchetTree([{ type: NodeType.Leaf, leaf }]);
  }

  /**
   * The tree of a `ratchet_tree` extension or out-of-band copy (§12.4.3.3): the last node must be non-blank;
   * blanks are added to the right up to a full width; leaves must sit at even and parents at odd indices.
   */
  static decode(bytes: Uint8Array): RatchetTree {
    const r = new Reader(bytes, "ratchet tree");
    const list = readRatchetTree(r);
    r.end();
    return RatchetTree.fromList(list);
  }

  static fromList(list: (Node | undefined)[]): RatchetTree {
    if (list.length === 0) throw new MlsError("invalid-tree", "the ratchet tree is empty");
    if (list[list.length - 1] === undefined) {
      throw new MlsError("invalid-tree", "the ratchet tree ends with a blank node");
    }
    let n = 1;
    while (2 * n - 1 < list.length) n *= 2;
    if (n > LIMITS.leaves) {
      throw new MlsError("limit", `the ratchet tree has more than ${LIMITS.leaves} leaves`);
    }
    const nodes = list.slice();
    while (nodes.length < 2 * n - 1) nodes.push(undefined);
    nodes.forEach((node, i) => {
      if (node === undefined) return;
      const want = i % 2 === 0 ? NodeType.Leaf : NodeType.Parent;
      if (node.type !== want) {
        throw new MlsError(
          "invalid-tree",
          `node ${i} must be a ${want === NodeType.Leaf ? "leaf" : "parent"} node`,
        );
      }
    });
    return new RatchetTree(nodes);
  }

  /** optional<Node> ratchet_tree<V> without trailing blanks. */
  encode(): Uint8Array {
    let end = this.#nodes.length;
    while (end > 0 && this.#nodes[end - 1] === undefined) end--;
    const w = new Writer(4096);
    writeRatchetTree(w, this.#nodes.slice(0, end));
    return w.finish();
  }

  clone(): RatchetTree {
    return new RatchetTree(this.#nodes.slice());
  }

  get leafCount(): number {
    return (this.#nodes.length + 1) / 2;
  }

  get width(): number {
    return this.#nodes.length;
  }

  node(x: number): Node | undefined {
    return this.#nodes[x];
  }

  leaf(leaf: number): LeafNode | undefined {
    const n = this.#nodes[2 * leaf];
    return n?.type === NodeType.Leaf ? n.leaf : undefined;
  }

  parentNode(x: number): ParentNode | undefined {
    const n = this.#nodes[x];
    return n?.type === NodeType.Parent ? n.parent : undefined;
  }

  /** The encryption key of a non-blank node. */
  encryptionKey(x: number): Uint8Array | undefined {
    const n = this.#nodes[x];
    if (n === undefined) return undefined;
    return n.type === NodeType.Leaf ? n.leaf.encryptionKey : n.parent.encryptionKey;
  }

  /** Indices of the non-blank leaves, ascending. */
  members(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.leafCount; i++) if (this.#nodes[2 * i] !== undefined) out.push(i);
    return out;
  }

  setLeaf(leaf: number, node: LeafNode | undefined): void {
    this.#nodes[2 * leaf] = node === undefined ? undefined : { type: NodeType.Leaf, leaf: node };
  }

  setParent(x: number, node: ParentNode | undefined): void {
    this.#nodes[x] = node === undefined ? undefined : { type: NodeType.Parent, parent: node };
  }

  // ---- structure ---------------------------------------------------------------------------------

  /** The resolution of a node (§4.1.1): node indices, depth-first, left first, with unmerged leaves. */
  resolution(x: number, out: number[] = []): number[] {
    const n = this.#nodes[x];
    if (n !== undefined) {
      out.push(x);
      if (n.type === NodeType.Parent) { for (const l of n.parent.unmergedLeaves) out.push(2 * l); }
      return out;
    }
    if (tm.isLeaf(x)) return out;
    this.resolution(tm.left(x), out);
    return this.resolution(tm.right(x), out);
  }

  /** The filtered direct path of a leaf (§4.1.2): ancestors whose copath child has a non-empty resolution. */
  filteredDirectPath(leaf: number): number[] {
    const n = this.leafCount, out: number[] = [];
    let x = 2 * leaf;
    const r = tm.root(n);
    while (x !== r) {
      const s = tm.sibling(x, n);
      x = tm.parent(x, n);
      if (this.resolution(s).length > 0) out.push(x);
    }
    return out;
  }

  /** The child of ancestor `p` on the path to node `x`, and the other child (the copath child). */
  static children(p: number, x: number): { onPath: number; copath: number } {
    const l = tm.left(p), r = tm.right(p);
    return x < p ? { onPath: l, copath: r } : { onPath: r, copath: l };
  }

  // ---- edits -------------------------------------------------------------------------------------

  /** Blanks the direct path of a leaf (§7.4). */
  blankPath(leaf: number): void {
    for (const x of tm.directPath(2 * leaf, this.leafCount)) this.#nodes[x] = undefined;
  }

  /**
   * Add (§12.1.1): the leftmost blank leaf, or the first new leaf of a doubled tree; the leaf joins the
   * unmerged leaves of every non-blank parent above it. Returns its leaf index.
   */
  addLeaf(leafNode: LeafNode): number {
    let leaf = this.members().length === this.leafCount ? this.leafCount : -1;
    if (leaf < 0) {
      for (let i = 0; i < this.leafCount; i++) {
        if (this.#nodes[2 * i] === undefined) {
          leaf = i;
          break;
        }
      }
    }
    if (leaf >= this.leafCount) {
      if (2 * this.leafCount > LIMITS.leaves) {
        throw new MlsError("limit", `a group has at most ${LIMITS.leaves} leaves`);
      }
      const extra = this.#nodes.length + 1;
      for (let i = 0; i < extra; i++) this.#nodes.push(undefined);
    }
    for (const x of tm.directPath(2 * leaf, this.leafCount)) {
      const p = this.parentNode(x);
      if (p === undefined) continue;
      const unmerged = [...p.unmergedLeaves, leaf].sort((a, b) => a - b);
      this.setParent(x, { ...p, unmergedLeaves: unmerged });
    }
    this.setLeaf(leaf, leafNode);
    return leaf;
  }

  /** Update (§12.1.2): replaces the leaf and blanks its direct path. */
  updateLeaf(leaf: number, leafNode: LeafNode): void {
    this.setLeaf(leaf, leafNode);
    this.blankPath(leaf);
  }

  /** Remove (§12.1.3): blanks the leaf and its direct path, then truncates. */
  removeLeaf(leaf: number): void {
    this.setLeaf(leaf, undefined);
    this.blankPath(leaf);
    this.truncate();
  }

  /** Halves the tree while its right half has no non-blank leaf (and it has more than one leaf). */
  truncate(): void {
    for (;;) {
      const n = this.leafCount;
      if (n === 1) return;
      let empty = true;
      for (let i = n / 2; i < n && empty; i++) if (this.#nodes[2 * i] !== undefined) empty = false;
      if (!empty) return;
      this.#nodes.length = (this.#nodes.length - 1) / 2;
    }
  }

  // ---- hashes ------------------------------------------------------------------------------------

  /**
   * The tree hash of node `x` (§7.8). `exclude` blanks those leaves and drops them from unmerged lists
   * (the "original sibling tree hash" of §7.9); `cache` keeps hashes computed without exclusions.
   */
  treeHash(
    suite: CipherSuite,
    x = tm.root(this.leafCount),
    exclude?: ReadonlySet<number>,
    cache?: Map<number, Uint8Array>,
  ): Uint8Array {
    const cached = exclude === undefined ? cache?.get(x) : undefined;
    if (cached) return cached;
    const node = this.#nodes[x];
    const w = new Writer(512);
    if (tm.isLeaf(x)) {
      const leaf = x / 2;
      w.u8(NodeType.Leaf).u32(leaf);
      const ln = exclude?.has(leaf) ? undefined : (node?.type === NodeType.Leaf ? node.leaf : undefined);
      w.optional(ln, writeLeafNode);
    } else {
      w.u8(NodeType.Parent);
      let p = node?.type === NodeType.Parent ? node.parent : undefined;
      if (p && exclude && p.unmergedLeaves.some((l) => exclude.has(l))) {
        p = { ...p, unmergedLeaves: p.unmergedLeaves.filter((l) => !exclude.has(l)) };
      }
      w.optional(p, writeParentNode);
      const sub = exclude && this.#intersects(x, exclude) ? exclude : undefined;
      w.opaque(this.treeHash(suite, tm.left(x), sub, cache)).opaque(
        this.treeHash(suite, tm.right(x), sub, cache),
      );
    }
    const h = suite.hash(w.finish());
    if (exclude === undefined) cache?.set(x, h);
    return h;
  }

  /** True if some leaf of `set` lies under node `x`. */
  #intersects(x: number, set: ReadonlySet<number>): boolean {
    for (const l of set) if (tm.isDescendant(2 * l, x)) return true;
    return false;
  }

  /** Tree hashes of every node, in array order (tests). */
  allTreeHashes(suite: CipherSuite): Uint8Array[] {
    const cache = new Map<number, Uint8Array>();
    this.treeHash(suite, tm.root(this.leafCount), undefined, cache);
    return this.#nodes.map((_, i) => cache.get(i)!);
  }

  /** The parent hash of P (§7.9): Hash(ParentHashInput{encryption_key, parent_hash, sibling tree hash}). */
  static parentHash(suite: CipherSuite, p: ParentNode, siblingTreeHash: Uint8Array): Uint8Array {
    return suite.hash(
      new Writer(256).opaque(p.encryptionKey).opaque(p.parentHash).opaque(siblingTreeHash).finish(),
    );
  }

  /**
   * Sets the parent_hash fields along a leaf's filtered direct path `fdp` (whose nodes were just set by an
   * UpdatePath, unmerged lists empty), from the root down, and returns the parent hash the leaf must carry.
   */
  setPathParentHashes(suite: CipherSuite, leaf: number, fdp: readonly number[]): Uint8Array {
    const cache = new Map<number, Uint8Array>();
    let ph: Uint8Array = EMPTY;
    for (let i = fdp.length - 1; i >= 0; i--) {
      const x = fdp[i];
      const p = { ...this.parentNode(x)!, parentHash: ph };
      this.setParent(x, p);
      const { copath } = RatchetTree.children(x, 2 * leaf);
      ph = RatchetTree.parentHash(suite, p, this.treeHash(suite, copath, undefined, cache));
    }
    return ph;
  }

  /**
   * Verifies every non-blank parent node is parent-hash valid (§7.9.2, top down): exactly one descendant D
   * in the resolution of one child C carries P's parent hash (computed over the original sibling tree),
   * with the rest of C's resolution equal to P's unmerged leaves under C. MlsError("invalid-tree") if not.
   */
  verifyParentHashes(suite: CipherSuite): void {
    const cache = new Map<number, Uint8Array>();
    for (let x = 1; x < this.#nodes.length; x += 2) {
      const p = this.parentNode(x);
      if (p === undefined) continue;
      const unmerged = new Set(p.unmergedLeaves);
      let found = 0;
      for (const [c, s] of [[tm.left(x), tm.right(x)], [tm.right(x), tm.left(x)]]) {
        const sibling = this.#intersects(s, unmerged)
          ? this.treeHash(suite, s, unmerged)
          : this.treeHash(suite, s, undefined, cache);
        const ph = RatchetTree.parentHash(suite, p, sibling);
        const res = this.resolution(c);
        const expectedRest = p.unmergedLeaves.filter((l) => tm.isDescendant(2 * l, c)).map((l) => 2 * l);
        for (const d of res) {
          const dh = this.#parentHashField(d);
          if (dh === undefined || !equalBytes(dh, ph)) continue;
          const rest = res.filter((y) => y !== d);
          if (rest.length === expectedRest.length && rest.every((y) => expectedRest.includes(y))) found++;
        }
      }
      if (found !== 1) {
        throw new MlsError("invalid-tree", `parent node ${x} is not parent-hash valid`);
      }
    }
  }

  #parentHashField(x: number): Uint8Array | undefined {
    const n = this.#nodes[x];
    if (n === undefined) return undefined;
    if (n.type === NodeType.Parent) return n.parent.parentHash;
    return n.leaf.source === LeafNodeSource.Commit ? n.leaf.parentHash : undefined;
  }

  /**
   * The structural checks a joiner makes (§12.4.3.1) besides hashes and leaf validation: unmerged leaves
   * sorted, non-blank, below their parent and listed by every non-blank node between; no encryption key in
   * two nodes. MlsError("invalid-tree") if one fails.
   */
  verifyStructure(): void {
    const n = this.leafCount;
    const keys = new Set<string>();
    for (let x = 0; x < this.#nodes.length; x++) {
      const key = this.encryptionKey(x);
      if (key === undefined) continue;
      const hex = toHex(key);
      if (keys.has(hex)) {
        throw new MlsError("invalid-tree", `node ${x} repeats another node's encryption key`);
      }
      keys.add(hex);
      const p = this.parentNode(x);
      if (p === undefined) continue;
      let last = -1;
      for (const l of p.unmergedLeaves) {
        if (l <= last) throw new MlsError("invalid-tree", `node ${x}'s unmerged leaves are not sorted`);
        last = l;
        if (l >= n || this.leaf(l) === undefined || !tm.isDescendant(2 * l, x)) {
          throw new MlsError("invalid-tree", `node ${x} lists leaf ${l}, which is blank or not below it`);
        }
        for (const y of tm.directPath(2 * l, n)) {
          if (y === x) break;
          const q = this.parentNode(y);
          if (q !== undefined && !q.unmergedLeaves.includes(l)) {
            throw new MlsError(
              "invalid-tree",
              `node ${y} does not list unmerged leaf ${l} that node ${x} lists`,
            );
          }
        }
      }
    }
  }
}

function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
