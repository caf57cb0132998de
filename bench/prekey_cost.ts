// What PQXDH's prekeys cost. First, what checking a prekey upload costs the relay (decodeBundle, which
// validates every point and ML-KEM key, then verifyBundle as the relay calls it), for the cost table in
// server/relay.ts: a PQXDH (version 2)
// bundle as our client uploads it (100 one-time prekeys per curve, the last-resort and 32 one-time KEM
// prekeys), the largest one the relay takes (200 per curve), and the same EC keys as a classical (version
// 1) bundle, which is what an upload cost before PQXDH. Measured interleaved in one process, one of each in
// turn per round; medians over the rounds, the ratios medians of the per-round ratios, wall time and this
// process's CPU time (user + system), which other processes' load disturbs less. Then, the same way, what a
// client's new keystore costs to make: the prekey store (signed prekeys, the last-resort KEM prekey) with
// 100 one-time prekeys per curve, as before, and the 32 one-time KEM prekeys the client adds now.
//
//   deno run --allow-sys=loadavg bench/prekey_cost.ts [rounds=40]
import process from "node:process";
import { generateIdentity } from "../protocol/identity.ts";
import {
  decodeBundle,
  encodeBundle,
  type PrekeyBundle,
  PrekeyStore,
  verifyBundle,
} from "../protocol/prekeys.ts";
import { CURVES } from "../protocol/suite.ts";

const rounds = Number(Deno.args.find((a) => a.startsWith("rounds="))?.slice(7) ?? 40);
const now = Date.now();
const identity = generateIdentity();

function bundleWith(oneTime: number): PrekeyBundle {
  const store = PrekeyStore.create(identity, now);
  for (const c of CURVES) store.addOneTimePrekeys(c, oneTime);
  store.addOneTimeKemPrekeys(identity, 32, now);
  return store.bundle(identity.publicKeys);
}

const client = bundleWith(100), largest = bundleWith(200);
const classical = (b: PrekeyBundle) => encodeBundle({ ...b, kemPrekey: null, oneTimeKemPrekeys: [] });
/** Name, bytes, and the variant it is compared with (the classical bundle with the same EC keys). */
const variants: [string, Uint8Array, number][] = [
  ["classical (v1), 100 per curve", classical(client), 0],
  ["PQXDH (v2), 100 per curve + 32 KEM", encodeBundle(client), 0],
  ["classical (v1), 200 per curve", classical(largest), 2],
  ["PQXDH (v2), 200 per curve + 32 KEM", encodeBundle(largest), 2],
];

function check(bytes: Uint8Array): void {
  verifyBundle(decodeBundle(bytes), identity.id);
}

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];
const wall: number[][] = variants.map(() => []), cpu: number[][] = variants.map(() => []);
for (const [, bytes] of variants) check(bytes); // warm up
for (let r = 0; r < rounds; r++) {
  variants.forEach(([, bytes], i) => {
    const c = process.cpuUsage(), t = performance.now();
    check(bytes);
    wall[i].push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu[i].push((d.user + d.system) / 1000);
  });
}
console.log(`load ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}, ${rounds} rounds`);
variants.forEach(([name, bytes, base], i) => {
  const ratio = (xs: number[][]) => median(xs[i].map((x, r) => x / xs[base][r])).toFixed(2);
  console.log(
    `${name.padEnd(36)} ${String(bytes.length).padStart(7)} B  wall ${median(wall[i]).toFixed(1)} ms ` +
      `(×${ratio(wall)})  cpu ${median(cpu[i]).toFixed(1)} ms (×${ratio(cpu)})`,
  );
});

// A new keystore's prekeys: what the client makes at its first run (client/keystore.ts).
const made: number[][] = [[], []];
for (let r = 0; r < Math.max(3, Math.floor(rounds / 10)); r++) {
  const c0 = process.cpuUsage();
  const store = PrekeyStore.create(identity, now);
  for (const c of CURVES) store.addOneTimePrekeys(c, 100);
  const c1 = process.cpuUsage(c0);
  made[0].push((c1.user + c1.system) / 1000);
  const c2 = process.cpuUsage();
  store.addOneTimeKemPrekeys(identity, 32, now);
  const c3 = process.cpuUsage(c2);
  made[1].push((c3.user + c3.system) / 1000);
}
console.log(
  `new keystore: signed and last-resort KEM prekeys + 300 one-time prekeys cpu ${
    median(made[0]).toFixed(0)
  } ms; ` +
    `+ 32 one-time KEM prekeys cpu ${median(made[1]).toFixed(0)} ms ` +
    `(×${median(made[1].map((x, r) => x / made[0][r])).toFixed(2)})`,
);
