// The post-quantum speed budget of the end-to-end layer (issue 15), measured interleaved in one process so
// that a shared host's load falls on both sides of each ratio alike: on P-521, session setup (Alice's
// initiate with her first message, Bob's respond that reads it) by PQXDH against classical X3DH, and a
// ratchet step on every message (the two sides alternate: each message is encrypt + decrypt with a DH step)
// with KEM steps against without; the same chain for reference. Each round times a batch of each variant
// back to back; the figures are medians over the rounds, the ratios medians of the per-round ratios.
//
//   deno run --allow-sys=loadavg bench/pq_budget.ts [rounds=15]
import { systemRandom } from "../crypto/bytes.ts";
import { generateIdentity } from "../protocol/identity.ts";
import { PrekeyStore } from "../protocol/prekeys.ts";
import type { CurveName } from "../protocol/suite.ts";
import { initiate, respond } from "../protocol/x3dh.ts";
import { classicalStore, initiateClassical, respondClassical } from "../tests/protocol/_classical.ts";
import { pair } from "./_sessions.ts";

const rounds = Number(Deno.args.find((a) => a.startsWith("rounds="))?.slice(7) ?? 15);
const T = 1_700_000_000_000;
const curve: CurveName = "P-521";
const payload = new Uint8Array(100).fill(0x61);
const alice = generateIdentity(), bob = generateIdentity();

/** Milliseconds per operation of `n` runs of `op`. */
function time(n: number, op: () => void): number {
  const t = performance.now();
  for (let i = 0; i < n; i++) op();
  return (performance.now() - t) / n;
}

/** Alice's and Bob's handshake times (ms) for a batch of `n` fresh sessions. */
function setup(pq: boolean, n: number): [number, number] {
  let a = 0, b = 0;
  for (let i = 0; i < n; i++) {
    if (pq) {
      const store = PrekeyStore.create(bob, T);
      const bundle = store.bundle(bob.publicKeys);
      let first: Uint8Array = new Uint8Array(0);
      a += time(1, () => void (first = initiate(alice, bob.id, bundle, { now: T, curve }).encrypt(payload)));
      b += time(1, () => void respond(bob, store, first, { now: T }));
    } else {
      const store = classicalStore(bob, T, systemRandom);
      const bundle = store.bundle(bob.publicKeys);
      let first: Uint8Array = new Uint8Array(0);
      a += time(1, () => void (first = initiateClassical(alice, bob.id, bundle, { curve }).encrypt(payload)));
      b += time(1, () => void respondClassical(bob, store, first, { now: T }));
    }
  }
  return [a / n, b / n];
}

const pairs = { v1: pair(curve, false), v2: pair(curve, true) };
const chains = { v1: pair(curve, false), v2: pair(curve, true) };
const turns = { v1: 0, v2: 0 };
const step = (v: "v1" | "v2") => () => {
  const p = pairs[v];
  const [from, to] = turns[v]++ % 2 === 0 ? [p.alice, p.bob] : [p.bob, p.alice];
  to.decrypt(from.encrypt(payload));
};
const same = (v: "v1" | "v2") => () => void chains[v].bob.decrypt(chains[v].alice.encrypt(payload));

const series: Record<string, number[]> = {};
const push = (k: string, v: number) => (series[k] ??= []).push(v);
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const loadBefore = load();
// Warm-up: compile every path once.
setup(false, 2),
  setup(true, 2),
  time(20, step("v1")),
  time(20, step("v2")),
  time(50, same("v1")),
  time(50, same("v2"));
for (let r = 0; r < rounds; r++) {
  const [ca, cb] = setup(false, 4), [pa, pb] = setup(true, 4);
  push("setup.classical.alice", ca), push("setup.classical.bob", cb);
  push("setup.pq.alice", pa), push("setup.pq.bob", pb);
  push("setup.ratio", (ca + cb) / (pa + pb));
  const s1 = time(40, step("v1")), s2 = time(40, step("v2"));
  push("step.v1", s1), push("step.v2", s2), push("step.ratio", s1 / s2);
  const c1 = time(300, same("v1")), c2 = time(300, same("v2"));
  push("same.v1", c1), push("same.v2", c2), push("same.ratio", c1 / c2);
}
const med = (k: string) => {
  const v = [...series[k]].sort((x, y) => x - y);
  return v[v.length >> 1];
};
const range = (k: string) => `${Math.min(...series[k]).toFixed(2)}–${Math.max(...series[k]).toFixed(2)}`;
const ms = (k: string) => `${med(k).toFixed(2)} ms`;
const rate = (k: string) => `${(1000 / med(k)).toFixed(0)}/s`;
console.log(`P-521, ${rounds} rounds; load average before ${loadBefore}, after ${load()}`);
console.log(
  `session setup, classical X3DH: Alice ${ms("setup.classical.alice")}, Bob ${ms("setup.classical.bob")}`,
);
console.log(`session setup, PQXDH:          Alice ${ms("setup.pq.alice")}, Bob ${ms("setup.pq.bob")}`);
console.log(
  `  classical ÷ PQXDH (both sides): ${med("setup.ratio").toFixed(3)} (rounds ${range("setup.ratio")})`,
);
console.log(`ratchet step on every message, DH only:  ${ms("step.v1")} (${rate("step.v1")})`);
console.log(`ratchet step on every message, DH + KEM: ${ms("step.v2")} (${rate("step.v2")})`);
console.log(
  `  DH + KEM rate ÷ DH-only rate: ${med("step.ratio").toFixed(3)} (rounds ${
    range("step.ratio")
  }; need ≥ 0.75)`,
);
console.log(
  `same chain, v1: ${ms("same.v1")} (${rate("same.v1")}); v2: ${ms("same.v2")} (${rate("same.v2")})`,
);
console.log(`  v2 rate ÷ v1 rate: ${med("same.ratio").toFixed(3)} (rounds ${range("same.ratio")})`);
