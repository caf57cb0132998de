// A fixed P-521 workload for instruction counting, where the host's load drowns small wall-clock
// differences: after a warm-up of 40 operations, N more (the first argument) of one kind (the second:
// ecdh, sign or keygen). Count it with N = 0 and N = 200 and take the difference over 200:
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//     deno run --v8-flags=--single-threaded bench/ec_instructions.ts 200 ecdh
//
// (--single-threaded keeps the garbage collector and the compiler on the main thread, so counts repeat
// within about 1%; run each count twice.)

import { p521 } from "../crypto/p521.ts";

const n = Number(Deno.args[0] ?? 0);
const kind = Deno.args[1] ?? "ecdh";
const secretKey = new Uint8Array(66).fill(7);
secretKey[0] = 0; // below n
const peer = p521.getPublicKey(secretKey.map((b, i) => i === 0 ? 0 : b ^ 5), false);
const message = new Uint8Array(100);
const ops: Record<string, () => unknown> = {
  ecdh: () => p521.ecdh(secretKey, peer),
  sign: () => p521.sign(secretKey, message),
  keygen: () => p521.getPublicKey(secretKey, false),
};
const op = ops[kind];
if (!op) throw new RangeError(`kind must be one of ${Object.keys(ops).join(", ")}, got ${kind}`);
for (let i = 0; i < 40 + n; i++) op();
