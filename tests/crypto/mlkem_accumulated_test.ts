// The CCTV "accumulated" test (as Go's crypto/mlkem TestAccumulated runs it for the final FIPS 203; see
// ../shared/vectors/cctv-mlkem/SOURCE): 10,000 key generations, encapsulations and decapsulations, including
// one implicit rejection each, with inputs drawn from one SHAKE128 stream and every output absorbed into
// another. The expected hashes are typed here from that SOURCE (Go's published value for ML-KEM-768).

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { type MlKem, mlkem1024, mlkem768 } from "../../crypto/mlkem.ts";
import { createShake } from "../../crypto/sha3.ts";

/** The first 32 bytes of the accumulator after `count` tests. */
function accumulated(kem: MlKem, count: number): string {
  const r = createShake("SHAKE128"), a = createShake("SHAKE128");
  const seed = new Uint8Array(64), m = new Uint8Array(32), cBad = new Uint8Array(kem.cipherTextBytes);
  for (let i = 0; i < count; i++) {
    r.squeezeInto(seed); // d ‖ z
    const { publicKey, secretKey } = kem.keygen(seed);
    a.update(publicKey);
    r.squeezeInto(m);
    const { cipherText, sharedSecret } = kem.encapsulate(publicKey, m);
    a.update(cipherText).update(sharedSecret);
    assert.deepEqual(kem.decapsulate(cipherText, secretKey), sharedSecret, `test ${i}`);
    r.squeezeInto(cBad);
    a.update(kem.decapsulate(cBad, secretKey));
  }
  return bytesToHex(a.squeeze(32));
}

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

Deno.test("CCTV accumulated ML-KEM-1024: 10,000 tests", () => {
  assert.equal(
    accumulated(mlkem1024, 10000),
    "f1a3925c9cf8538bb104c56efb2f5ecb74cc3df25087460b73f6c873e96bcb6a",
  );
});
