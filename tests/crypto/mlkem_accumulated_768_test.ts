// The CCTV accumulated test for ML-KEM-768 over 100 and 10,000 tests (procedure in _mlkem_accumulated.ts).
// The expected values are typed from ../shared/vectors/cctv-mlkem/SOURCE (Go's published values).

import assert from "node:assert/strict";
import { mlkem768 } from "../../crypto/mlkem.ts";
import { accumulated } from "./_mlkem_accumulated.ts";

Deno.test("CCTV accumulated ML-KEM-768: 100 tests", () => {
  assert.equal(
    accumulated(mlkem768, 100),
    "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415",
  );
});

Deno.test("CCTV accumulated ML-KEM-768: 10,000 tests", () => {
  assert.equal(
    accumulated(mlkem768, 10000),
    "8a518cc63da366322a8e7a818c7a0d63483cb3528d34a4cf42f35d5ad73f22fc",
  );
});
