// Array-based tree math (RFC 9420 §4, Appendix C): leaves at even node indices (leaf i at node 2i), parents
// at odd ones, trees always full with a power-of-two number of leaves. Arguments are node indices unless the
// name says "leaf"; `n` is the number of leaves. Values up to 2^31 keep within exact 32-bit arithmetic.

/** The level of a node: 0 for leaves, else the number of trailing one bits. */
export function level(x: number): number {
  if ((x & 1) === 0) return 0;
  let k = 0;
  while (((x >>> k) & 1) === 1) k++;
  return k;
}

/** Nodes in a tree of `n` leaves. */
export function nodeWidth(n: number): number {
  return n === 0 ? 0 : 2 * (n - 1) + 1;
}

/** The exponent of the largest power of two not above x (0 for 0). */
export function log2(x: number): number {
  if (x === 0) return 0;
  return 31 - Math.clz32(x);
}

/** The root of a tree of `n` leaves. */
export function root(n: number): number {
  return (1 << log2(nodeWidth(n))) - 1;
}

export function isLeaf(x: number): boolean {
  return (x & 1) === 0;
}

export function left(x: number): number {
  const k = level(x);
  if (k === 0) throw new RangeError("a leaf has no children");
  return x ^ (1 << (k - 1));
}

export function right(x: number): number {
  const k = level(x);
  if (k === 0) throw new RangeError("a leaf has no children");
  return x ^ (3 << (k - 1));
}

export function parent(x: number, n: number): number {
  if (x === root(n)) throw new RangeError("the root has no parent");
  const k = level(x);
  const b = (x >>> (k + 1)) & 1;
  return (x | (1 << k)) ^ (b << (k + 1));
}

export function sibling(x: number, n: number): number {
  const p = parent(x, n);
  return x < p ? right(p) : left(p);
}

/** The direct path of a node, from its parent up to the root (empty for the root). */
export function directPath(x: number, n: number): number[] {
  const r = root(n);
  const d: number[] = [];
  while (x !== r) {
    x = parent(x, n);
    d.push(x);
  }
  return d;
}

/** The copath of a node: the siblings of the node and of its direct path except the root. */
export function copath(x: number, n: number): number[] {
  const r = root(n);
  const out: number[] = [];
  while (x !== r) {
    out.push(sibling(x, n));
    x = parent(x, n);
  }
  return out;
}

/** True if node `d` is in the subtree under node `a` (a node is in its own subtree). */
export function isDescendant(d: number, a: number): boolean {
  const k = level(a);
  // The subtree of a covers the node indices [a − (2^k − 1), a + (2^k − 1)].
  return d >= a - ((1 << k) - 1) && d <= a + ((1 << k) - 1);
}

/** The lowest common ancestor of two nodes. */
export function commonAncestor(x: number, y: number): number {
  const lx = level(x) + 1, ly = level(y) + 1;
  if (lx <= ly && x >>> ly === y >>> ly) return y;
  if (ly <= lx && x >>> lx === y >>> lx) return x;
  let xn = x, yn = y, k = 0;
  while (xn !== yn) {
    xn >>>= 1;
    yn >>>= 1;
    k++;
  }
  return (xn << k) + (1 << (k - 1)) - 1;
}

export function leafToNode(leaf: number): number {
  return 2 * leaf;
}

export function nodeToLeaf(x: number): number {
  return x >>> 1;
}
