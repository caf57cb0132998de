// Tree math (RFC 9420 Appendix C): tree-math.json (trees of 1 to 512 leaves: node count, root, left, right,
// parent and sibling of every node), plus direct paths, copaths and common ancestors checked against the
// definitions built from parent().
import assert from "node:assert/strict";
import * as tm from "../../../protocol/mls/treemath.ts";
import { loadMlsVectors } from "./_vectors.ts";

interface TreeMath {
  n_leaves: number;
  n_nodes: number;
  root: number;
  left: (number | null)[];
  right: (number | null)[];
  parent: (number | null)[];
  sibling: (number | null)[];
}

const vectors = loadMlsVectors<TreeMath>("tree-math.json");

function orNull(f: () => number): number | null {
  try {
    return f();
  } catch {
    return null;
  }
}

Deno.test({
  name: "mls tree math: every case of tree-math.json",
  ignore: vectors === null,
  fn() {
    assert.equal(vectors!.length, 10);
    for (const v of vectors!) {
      const n = v.n_leaves;
      assert.equal(tm.nodeWidth(n), v.n_nodes);
      assert.equal(tm.root(n), v.root);
      for (let i = 0; i < v.n_nodes; i++) {
        assert.equal(orNull(() => tm.left(i)), v.left[i], `left(${i}) for ${n} leaves`);
        assert.equal(orNull(() => tm.right(i)), v.right[i], `right(${i})`);
        assert.equal(orNull(() => tm.parent(i, n)), v.parent[i], `parent(${i})`);
        assert.equal(orNull(() => tm.sibling(i, n)), v.sibling[i], `sibling(${i})`);
      }
    }
  },
});

Deno.test("mls tree math: paths and common ancestors agree with their definitions", () => {
  for (const n of [1, 2, 4, 8, 64]) {
    const w = tm.nodeWidth(n);
    for (let x = 0; x < w; x++) {
      const dp: number[] = [];
      for (let y = x; y !== tm.root(n);) dp.push(y = tm.parent(y, n));
      assert.deepEqual(tm.directPath(x, n), dp);
      assert.deepEqual(
        tm.copath(x, n),
        [x, ...dp.slice(0, -1)].slice(0, dp.length).map((y) => tm.sibling(y, n)),
      );
      for (let y = 0; y < w; y++) {
        const ax = new Set([x, ...dp]);
        const common = [y, ...tm.directPath(y, n)].find((a) => ax.has(a));
        assert.equal(tm.commonAncestor(x, y), common, `ca(${x}, ${y})`);
        assert.equal(tm.isDescendant(x, y), [x, ...dp].includes(y), `desc(${x}, ${y})`);
      }
    }
  }
});
