// The post-quantum speed budget of the end-to-end layer (issue 15), measured interleaved in one process so
// that a shared host's load falls on both sides of each ratio alike: on P-521, session setup (Alice's
// initiate with her first message, Bob's respond that reads it) by PQXDH against classical X3DH, and a
// ratchet step on every message (the two sides alternate: each message is encrypt + decrypt with a DH step)
// with KEM steps against without; the same chain for reference. Each round times a batch of each variant
// one operation of each variant in turn; the figures are medians over the rounds, the ratios medians of the
// per-round ratios. Two clocks: wall time, and this process's CPU time (user + system, from getrusage via
// node:process), which other processes' load on a shared host disturbs much less.
//
//   deno run --allow-sys=loadavg,cpuUsage bench/pq_budget.ts [rounds=15]
import process from "node:process";
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

/** Wall and CPU milliseconds `op` takes once. */
function once(op: () => void): [number, number] {
  const c = process.cpuUsage(), t = performance.now();
  op();
  const wall = performance.now() - t, cpu = process.cpuUsage(c);
  return [wall, (cpu.user + cpu.system) / 1000];
}

/** A fresh initial message for each side of a handshake and the step that reads it. */
function handshake(pq: boolean): { alice: () => void; bob: () => void } {
  let first: Uint8Array = new Uint8Array(0);
  if (pq) {
    const store = PrekeyStore.create(bob, T);
    const bundle = store.bundle(bob.publicKeys);
    return {
      alice: () => void (first = initiate(alice, bob.id, bundle, { now: T, curve }).encrypt(payload)),
      bob: () => void respond(bob, store, first, { now: T }),
    };
  }
  const store = classicalStore(bob, T, systemRandom);
  const bundle = store.bundle(bob.publicKeys);
  return {
    alice: () => void (first = initiateClassical(alice, bob.id, bundle, { curve }).encrypt(payload)),
    bob: () => void respondClassical(bob, store, first, { now: T }),
  };
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

/**
 * One round: `n` operations of each of the two variants, alternating one by one (a, b, a, b, …), so that
 * a burst of load on the host falls on both alike. Returns the mean wall and CPU milliseconds of each.
 */
function alternate(n: number, a: () => () => void, b: () => () => void): number[] {
  const sum = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const [wa, ca] = once(a()), [wb, cb] = once(b());
    sum[0] += wa, sum[1] += ca, sum[2] += wb, sum[3] += cb;
  }
  return sum.map((x) => x / n);
}

const series: Record<string, number[]> = {};
const push = (k: string, v: number) => (series[k] ??= []).push(v);
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const loadBefore = load();
// Warm-up: compile every path.
for (let i = 0; i < 3; i++) {
  for (const pq of [false, true]) {
    const h = handshake(pq);
    h.alice(), h.bob();
  }
}
alternate(20, () => step("v1"), () => step("v2"));
alternate(100, () => same("v1"), () => same("v2"));
for (let r = 0; r < rounds; r++) {
  const t = { ca: [0, 0], cb: [0, 0], pa: [0, 0], pb: [0, 0] };
  const add = (k: keyof typeof t, v: [number, number]) => (t[k][0] += v[0], t[k][1] += v[1]);
  const n = 8;
  for (let i = 0; i < n; i++) {
    const c = handshake(false), p = handshake(true);
    add("ca", once(c.alice)), add("pa", once(p.alice)), add("cb", once(c.bob)), add("pb", once(p.bob));
  }
  for (const [clock, i] of [["wall", 0], ["cpu", 1]] as const) {
    push(`${clock}.setup.classical.alice`, t.ca[i] / n), push(`${clock}.setup.classical.bob`, t.cb[i] / n);
    push(`${clock}.setup.pq.alice`, t.pa[i] / n), push(`${clock}.setup.pq.bob`, t.pb[i] / n);
    push(`${clock}.setup.ratio`, (t.ca[i] + t.cb[i]) / (t.pa[i] + t.pb[i]));
  }
  const s = alternate(60, () => step("v1"), () => step("v2"));
  const c = alternate(300, () => same("v1"), () => same("v2"));
  for (const [clock, i] of [["wall", 0], ["cpu", 1]] as const) {
    push(`${clock}.step.v1`, s[i]),
      push(`${clock}.step.v2`, s[i + 2]),
      push(`${clock}.step.ratio`, s[i] / s[i + 2]);
    push(`${clock}.same.v1`, c[i]),
      push(`${clock}.same.v2`, c[i + 2]),
      push(`${clock}.same.ratio`, c[i] / c[i + 2]);
  }
}
const med = (k: string) => {
  const v = [...series[k]].sort((x, y) => x - y);
  return v[v.length >> 1];
};
/** The sum of a series over all rounds (every round runs the same number of operations). */
const total = (k: string) => series[k].reduce((a, b) => a + b, 0);
const range = (k: string) => `${Math.min(...series[k]).toFixed(2)}–${Math.max(...series[k]).toFixed(2)}`;
console.log(`P-521, ${rounds} rounds; load average before ${loadBefore}, after ${load()}`);
for (const clock of ["wall", "cpu"]) {
  const ms = (k: string) => `${med(`${clock}.${k}`).toFixed(2)} ms`;
  const rate = (k: string) => `${(1000 / med(`${clock}.${k}`)).toFixed(0)}/s`;
  const ratio = (k: string) => `${med(`${clock}.${k}`).toFixed(3)} (rounds ${range(`${clock}.${k}`)})`;
  const overall = (a: string, b: string) =>
    `ratio of the totals ${(total(`${clock}.${a}`) / total(`${clock}.${b}`)).toFixed(3)}`;
  console.log(`-- ${clock} time`);
  console.log(
    `session setup, classical X3DH: Alice ${ms("setup.classical.alice")}, Bob ${ms("setup.classical.bob")}`,
  );
  console.log(`session setup, PQXDH:          Alice ${ms("setup.pq.alice")}, Bob ${ms("setup.pq.bob")}`);
  console.log(`  classical ÷ PQXDH (both sides): ${ratio("setup.ratio")}`);
  const sum = (v: string) =>
    series[`${clock}.setup.${v}.alice`].map((x, i) => x + series[`${clock}.setup.${v}.bob`][i]);
  console.log(
    `    ratio of the totals ${
      (sum("classical").reduce((a, b) => a + b) / sum("pq").reduce((a, b) => a + b)).toFixed(3)
    }`,
  );
  console.log(`ratchet step on every message, DH only:  ${ms("step.v1")} (${rate("step.v1")})`);
  console.log(`ratchet step on every message, DH + KEM: ${ms("step.v2")} (${rate("step.v2")})`);
  console.log(
    `  DH + KEM rate ÷ DH-only rate: ${ratio("step.ratio")}; ${overall("step.v1", "step.v2")}; need ≥ 0.75`,
  );
  console.log(
    `same chain, v1: ${ms("same.v1")} (${rate("same.v1")}); v2: ${ms("same.v2")} (${rate("same.v2")})`,
  );
  console.log(`  v2 rate ÷ v1 rate: ${ratio("same.ratio")}; ${overall("same.v1", "same.v2")}`);
}
