// Wycheproof ML-KEM-768 and ML-KEM-1024 (FIPS 203 final): each valid case derives the key pair from its
// 64-byte seed d ‖ z (the encapsulation key must match) and decapsulates its ciphertext to the expected key,
// including the implicit-rejection cases (random and bit-flipped ciphertexts, the strcmp case). Invalid cases
// (seeds and ciphertexts of the wrong length) must be refused with a RangeError.

import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import { type MlKem, mlkem1024, mlkem768 } from "../../crypto/mlkem.ts";
import { loadWycheproof, type WycheproofTest } from "../_wycheproof.ts";

type KemTest = WycheproofTest & { seed: string; ek?: string; c: string; K: string };

for (const [file, kem] of [["mlkem_768_test.json", mlkem768], ["mlkem_1024_test.json", mlkem1024]] as const) {
  const wp = loadWycheproof(file);
  Deno.test({
    name: `Wycheproof ${file}: ${wp?.numberOfTests ?? 0} cases`,
    ignore: wp === null,
    fn() {
      let valid = 0, refused = 0;
      for (const g of wp!.testGroups) {
        assert.equal(g.parameterSet, kem.name);
        for (const t of g.tests as KemTest[]) {
          const label = `tcId ${t.tcId} (${t.comment || t.flags.join(", ")})`;
          let out: Uint8Array | undefined;
          try {
            out = run(kem, t);
          } catch (e) {
            assert.ok(e instanceof RangeError, `${label}: refused with ${e}`);
          }
          if (t.result === "valid") {
            assert.ok(out, `${label}: a valid case was refused`);
            assert.equal(bytesToHex(out), t.K, label);
            valid++;
          } else {
            assert.equal(t.result, "invalid");
            assert.equal(out, undefined, `${label}: an invalid case was accepted`);
            refused++;
          }
        }
      }
      assert.equal(valid + refused, wp!.numberOfTests);
      assert.ok(valid > 0 && refused > 0);
    },
  });
}

function run(kem: MlKem, t: KemTest): Uint8Array {
  const { publicKey, secretKey } = kem.keygen(hexToBytes(t.seed));
  if (t.ek !== undefined) assert.equal(bytesToHex(publicKey), t.ek, `tcId ${t.tcId}: encapsulation key`);
  return kem.decapsulate(hexToBytes(t.c), secretKey);
}
