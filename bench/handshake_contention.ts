// Why the server-handshake figure moves between runs: 80 rounds, each timing 10 replayed P-521 handshakes
// (as bench/tls13_bench.ts does) and three fixed reference loops: a register-only xorshift loop, a loop of
// 521-bit BigInt products and folds (what the curve code spends its time on), and a random walk over 4 MiB.
// Rounds are sorted by handshake time and averaged by quartile. If the handshake slows down together with a
// reference loop, the slow rounds come from the machine (other tenants of a shared host), not from the
// handshake itself. Usage: deno run bench/handshake_contention.ts

import { prepareServerCurves } from "../server/app.ts";
import { recordHandshake, replayServerHandshake } from "./_handshake.ts";

prepareServerCurves();
const direct = recordHandshake([0x19], [0x19]);

/** Register-only work: no memory traffic beyond the stack. */
function alu(): number {
  let x = 123456789 | 0, s = 0;
  for (let i = 0; i < 1_000_000; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s = (s + x) | 0;
  }
  return s;
}

const P521 = (1n << 521n) - 1n;
/** 3,000 products of 521-bit values, each folded mod 2^521 − 1, every result a fresh BigInt. */
function bigint(): bigint {
  let x = P521 / 3n;
  const y = P521 / 7n;
  for (let i = 0; i < 3000; i++) {
    x = x * y;
    x = (x & P521) + (x >> 521n);
  }
  return x;
}

const walk = new Uint8Array(1 << 22);
/** 65,536 reads at scattered cache lines of a 4 MiB array. */
function memory(): number {
  let s = 0;
  for (let i = 0; i < walk.length; i += 64) s += walk[(i * 2654435761) & (walk.length - 1)];
  return s;
}

function time(f: () => unknown, times = 1): number {
  const t = performance.now();
  for (let i = 0; i < times; i++) f();
  return (performance.now() - t) / times;
}

for (let i = 0; i < 200; i++) replayServerHandshake(direct);
for (let i = 0; i < 5; i++) alu(), bigint(), memory();

const rounds: { handshake: number; alu: number; bigint: number; memory: number }[] = [];
for (let r = 0; r < 80; r++) {
  rounds.push({
    alu: time(alu),
    bigint: time(bigint),
    memory: time(memory),
    handshake: time(() => replayServerHandshake(direct), 10),
  });
}
rounds.sort((a, b) => a.handshake - b.handshake);
console.log("quartile | handshake (ms) | BigInt loop (ms) | memory walk (ms) | register-only loop (ms)");
for (let q = 0; q < 4; q++) {
  const part = rounds.slice(q * 20, q * 20 + 20);
  const mean = (k: keyof typeof part[0]) => (part.reduce((s, x) => s + x[k], 0) / part.length).toFixed(2);
  console.log(`${q + 1} | ${mean("handshake")} | ${mean("bigint")} | ${mean("memory")} | ${mean("alu")}`);
}
