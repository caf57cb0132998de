// The CCTV "accumulated" procedure (as Go's crypto/mlkem TestAccumulated runs it for the final FIPS 203; see
// ../shared/vectors/cctv-mlkem/SOURCE): key generations, encapsulations and decapsulations, including one
// implicit rejection each, with inputs drawn from one SHAKE128 stream and every output absorbed into
// another. Each size has its own test file so that the two run in parallel.

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import type { MlKem } from "../../crypto/mlkem.ts";
import { createShake } from "../../crypto/sha3.ts";

/** The first 32 bytes of the accumulator after `count` tests. */
export function accumulated(kem: MlKem, count: number): string {
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
