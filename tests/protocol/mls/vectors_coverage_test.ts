// Which of the MLS working group's vectors (../shared/vectors/mls) run, and which are skipped and why. The
// other test files run every case counted here as "ours"; this file pins the counts, so a vector file that
// changes is noticed.
//
// Skipped, in every file that names a cipher suite: suites 1 (X25519, AES-128-GCM, Ed25519), 3 (X25519,
// ChaCha20-Poly1305, Ed25519), 4 (X448, AES-256-GCM, Ed448) and 6 (X448, ChaCha20-Poly1305, Ed448). sotto
// implements only the NIST-curve suites 2, 5 and 7 (issue 13); it has no X25519, X448 or EdDSA.
//
// Run although their suite is not ours: tree-operations.json has only suite-1 cases; applying an Add,
// Update or Remove to a tree and hashing it uses nothing of the suite but its hash, SHA-256, which suite 2
// shares, so all 5 cases run with suite 2's hash (no signature or HPKE operation is involved).
//
// Files without a suite run in full: tree-math.json (10 trees), messages.json (300 cases, 17 objects each),
// deserialization.json (14 headers).
import assert from "node:assert/strict";
import { loadMlsVectors } from "./_vectors.ts";

const EXPECTED: Record<string, { ours: number; others: number }> = {
  "crypto-basics.json": { ours: 3, others: 4 },
  "secret-tree.json": { ours: 9, others: 12 },
  "message-protection.json": { ours: 3, others: 4 },
  "key-schedule.json": { ours: 3, others: 4 },
  "psk_secret.json": { ours: 33, others: 44 },
  "transcript-hashes.json": { ours: 3, others: 4 },
  "welcome.json": { ours: 3, others: 4 },
  "tree-validation.json": { ours: 42, others: 56 },
  "treekem.json": { ours: 33, others: 44 },
  "passive-client-welcome.json": { ours: 24, others: 32 },
  "passive-client-handling-commit.json": { ours: 39, others: 52 },
};

const files = Object.fromEntries(
  Object.keys(EXPECTED).map((f) => [f, loadMlsVectors<{ cipher_suite: number }>(f)]),
);

Deno.test({
  name: "mls vectors: cases for suites 2, 5 and 7 run; suites 1, 3, 4 and 6 are counted as skipped",
  ignore: Object.values(files).some((v) => v === null),
  fn() {
    for (const [file, want] of Object.entries(EXPECTED)) {
      const all = files[file]!;
      const ours = all.filter((c) => [2, 5, 7].includes(c.cipher_suite)).length;
      const others = all.filter((c) => [1, 3, 4, 6].includes(c.cipher_suite)).length;
      assert.deepEqual({ ours, others }, want, file);
      assert.equal(ours + others, all.length, `${file} has a suite that is neither ours nor skipped`);
    }
  },
});
