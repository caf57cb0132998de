// Throughput of SHA3-256 and SHA3-512 beside Web Crypto (Deno implements both natively), and of SHAKE128 and
// SHAKE256 beside node:crypto's createHash (Web Crypto has no SHAKE), each group with the native code on the
// same input as its baseline; and the Keccak-f[1600] permutation alone.
import createNodeHash from "node:crypto";
import { systemRandom } from "../crypto/bytes.ts";
import { createShake, keccakF1600, sha3_256, sha3_512, shake128, shake256 } from "../crypto/sha3.ts";

// A copy gives the ArrayBuffer-backed type that Web Crypto's signatures ask for.
const random = (n: number) => new Uint8Array(systemRandom(n));
const SIZES = [["64 B", 64], ["1 KiB", 1024], ["16 KiB", 16384], ["1 MiB", 1 << 20]] as const;

for (const [name, ours] of [["SHA3-256", sha3_256], ["SHA3-512", sha3_512]] as const) {
  for (const [label, size] of SIZES) {
    const data = random(size), group = `${name} ${label}`;
    Deno.bench({
      name: `Web Crypto ${name} ${label}`,
      group,
      baseline: true,
      fn: async () => void await crypto.subtle.digest(name, data),
    });
    Deno.bench({ name: `${name} ${label}`, group, fn: () => void ours(data) });
  }
}

for (const [name, ours] of [["SHAKE128", shake128], ["SHAKE256", shake256]] as const) {
  const nodeName = name.toLowerCase();
  for (const [label, size] of SIZES.slice(0, 3)) {
    const data = random(size), group = `${name} ${label} → 32 B`;
    Deno.bench({
      name: `node:crypto ${name} ${label}`,
      group,
      baseline: true,
      fn: () => void createNodeHash.createHash(nodeName, { outputLength: 32 }).update(data).digest(),
    });
    Deno.bench({ name: `${name} ${label}`, group, fn: () => void ours(data, 32) });
  }
  // Squeezing: what ML-KEM's matrix sampling does (34 bytes in, 504 bytes out).
  const seed = random(34), group = `${name} 34 B → 504 B`;
  Deno.bench({
    name: `node:crypto ${name} 34 B → 504 B`,
    group,
    baseline: true,
    fn: () => void createNodeHash.createHash(nodeName, { outputLength: 504 }).update(seed).digest(),
  });
  Deno.bench({ name: `${name} 34 B → 504 B`, group, fn: () => void ours(seed, 504) });
  Deno.bench({
    name: `${name} 34 B → 504 B, three 168-byte squeezes`,
    group,
    fn: () => {
      const x = createShake(name).update(seed);
      for (let i = 0; i < 3; i++) x.squeeze(168);
    },
  });
}

const state = new Int32Array(50);
Deno.bench({ name: "Keccak-f[1600] (plain lanes, converted in and out)", fn: () => keccakF1600(state) });
