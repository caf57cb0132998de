// The CCTV accumulated test for ML-KEM-1024 over 10,000 tests (procedure in _mlkem_accumulated.ts). No value
// is published upstream; this one is typed from ../shared/vectors/cctv-mlkem/SOURCE, where two independent
// JavaScript implementations agree on it.

import assert from "node:assert/strict";
import { mlkem1024 } from "../../crypto/mlkem.ts";
import { accumulated } from "./_mlkem_accumulated.ts";

Deno.test("CCTV accumulated ML-KEM-1024: 10,000 tests", () => {
  assert.equal(
    accumulated(mlkem1024, 10000),
    "f1a3925c9cf8538bb104c56efb2f5ecb74cc3df25087460b73f6c873e96bcb6a",
  );
});
