// Our ML-KEM beside Node 26's native ML-KEM (OpenSSL 3.5 through node:crypto), measured alternately in one
// run: a Node 26 process started once answers "measure this operation for N ms" requests on stdin, and
// between its answers this process measures ours for the same time. Key generation is random on both sides
// (kem.keygen() and crypto.generateKeyPairSync); Node's figures include its JavaScript call overhead, as a
// Node caller pays it. Prints a table (median of the rounds) and the load average.
// Usage: deno run --allow-run --allow-env=HOME,SOTTO_NODE26 --allow-read --allow-sys bench/mlkem_native.ts
//        [rounds] [ms per measurement]

import { type MlKem, mlkem1024, mlkem768 } from "../crypto/mlkem.ts";
import { requirePeer } from "../tests/_peers.ts";

const rounds = Number(Deno.args[0] ?? 7), ms = Number(Deno.args[1] ?? 300);

// The Node side: one line per request ("<type> <op> <ms>"), one line per answer (operations per second).
const NODE_SCRIPT = `
const crypto = require("node:crypto");
const readline = require("node:readline");
const keys = {};
for (const type of ["ml-kem-768", "ml-kem-1024"]) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync(type);
  keys[type] = { publicKey, privateKey, ct: crypto.encapsulate(publicKey).ciphertext };
}
const OPS = {
  keygen: (k, type) => crypto.generateKeyPairSync(type),
  encapsulate: (k) => crypto.encapsulate(k.publicKey),
  decapsulate: (k) => crypto.decapsulate(k.privateKey, k.ct),
};
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [type, op, ms] = line.split(" ");
  const f = OPS[op], k = keys[type];
  for (let i = 0; i < 50; i++) f(k, type);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < Number(ms)) { f(k, type); n++; }
  process.stdout.write((n / ((performance.now() - t0) / 1000)) + "\\n");
});
`;

const child = new Deno.Command(requirePeer("node26"), {
  args: ["-e", NODE_SCRIPT],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const writer = child.stdin.getWriter();
const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let pending = "";

async function node(type: string, op: string): Promise<number> {
  await writer.write(new TextEncoder().encode(`${type} ${op} ${ms}\n`));
  while (!pending.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("node exited");
    pending += value;
  }
  const line = pending.slice(0, pending.indexOf("\n"));
  pending = pending.slice(pending.indexOf("\n") + 1);
  return Number(line);
}

function ours(fn: () => unknown): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(", ");

console.log(`load average before: ${load()}`);
console.log("operation | sotto (ops/s) | Node 26 native (ops/s) | native ÷ sotto");
for (const [kem, type] of [[mlkem768, "ml-kem-768"], [mlkem1024, "ml-kem-1024"]] as [MlKem, string][]) {
  const { publicKey, secretKey } = kem.keygen();
  const { cipherText } = kem.encapsulate(publicKey);
  const ops: [string, () => unknown][] = [
    ["keygen", () => kem.keygen()],
    ["encapsulate", () => kem.encapsulate(publicKey)],
    ["decapsulate", () => kem.decapsulate(cipherText, secretKey)],
  ];
  for (const [op, fn] of ops) {
    const a: number[] = [], b: number[] = [], ratio: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const x = ours(fn), y = await node(type, op);
      a.push(x);
      b.push(y);
      ratio.push(y / x);
    }
    console.log(
      `${kem.name} ${op} | ${median(a).toFixed(0)} | ${median(b).toFixed(0)} | ${median(ratio).toFixed(2)}`,
    );
  }
}
console.log(`load average after: ${load()}`);
await writer.close();
await child.status;
