// Wycheproof ECDH (raw SEC1 points and SubjectPublicKeyInfo DER) and ECDSA (r ‖ s and DER) for P-256,
// P-384 and P-521. Valid cases must give the expected output, invalid ones must be refused; acceptable
// ones may go either way but must not crash the process or return a wrong shared secret.

import assert from "node:assert/strict";
import { bigIntToBytes, bytesToBigInt, bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import type { Curve } from "../../crypto/ec.ts";
import { OID_EC_PUBLIC_KEY, parseSpki } from "../../crypto/der.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { loadWycheproof, type WycheproofTest } from "../_wycheproof.ts";

const CURVES: [string, Curve][] = [["secp256r1", p256], ["secp384r1", p384], ["secp521r1", p521]];

/** A Wycheproof private key (a big-endian integer, maybe with a sign byte) as our fixed-length bytes. */
function secretKey(curve: Curve, hex: string): Uint8Array {
  return bigIntToBytes(bytesToBigInt(hexToBytes(hex)), curve.byteLength);
}

/** ECDH with an SPKI public key: id-ecPublicKey on this named curve only, then the point. */
function ecdhSpki(curve: Curve, sk: Uint8Array, spki: Uint8Array): Uint8Array {
  const info = parseSpki(spki);
  if (info.algorithm !== OID_EC_PUBLIC_KEY) throw new RangeError("not an EC public key");
  if (info.namedCurve !== curve.oid) throw new RangeError("public key is on another curve");
  return curve.ecdh(sk, info.publicKey);
}

function checkEcdh(file: string, curve: Curve, run: (sk: Uint8Array, pub: Uint8Array) => Uint8Array) {
  const wp = loadWycheproof(file);
  Deno.test({
    name: `Wycheproof ${file}: ${wp?.numberOfTests ?? 0} cases`,
    ignore: wp === null,
    fn() {
      let valid = 0, refused = 0;
      for (const g of wp!.testGroups) {
        for (const t of g.tests as (WycheproofTest & { public: string; private: string; shared: string })[]) {
          const label = `tcId ${t.tcId} (${t.comment})`;
          let out: Uint8Array | undefined;
          try {
            out = run(secretKey(curve, t.private), hexToBytes(t.public));
          } catch (e) {
            assert.ok(e instanceof RangeError, `${label}: refused with ${e}`);
          }
          if (t.result === "valid") {
            assert.ok(out, `${label}: a valid case was refused`);
            assert.equal(bytesToHex(out), t.shared, label);
            valid++;
          } else if (t.result === "invalid") {
            assert.equal(out, undefined, `${label}: an invalid case was accepted`);
            refused++;
          } else if (out) {
            assert.equal(bytesToHex(out), t.shared, `${label}: acceptable case gave a wrong secret`);
          }
        }
      }
      assert.ok(valid > 0 && refused > 0);
    },
  });
}

function checkEcdsa(file: string, curve: Curve, der: boolean) {
  const wp = loadWycheproof(file);
  Deno.test({
    name: `Wycheproof ${file}: ${wp?.numberOfTests ?? 0} cases`,
    ignore: wp === null,
    fn() {
      for (const g of wp!.testGroups) {
        const pk = hexToBytes((g.publicKey as { uncompressed: string }).uncompressed);
        assert.equal(g.sha, curve.hash);
        for (const t of g.tests as (WycheproofTest & { msg: string; sig: string })[]) {
          const msg = hexToBytes(t.msg);
          let ok: boolean;
          if (der) {
            let rs: Uint8Array | undefined;
            try {
              rs = curve.signatureFromDer(hexToBytes(t.sig));
            } catch (e) {
              assert.ok(e instanceof RangeError, `tcId ${t.tcId}: ${e}`);
            }
            ok = rs !== undefined && curve.verify(pk, msg, rs);
            // What we accept must round-trip to the same DER: there is one encoding per signature.
            if (ok) {
              assert.equal(bytesToHex(curve.signatureToDer(rs!)), t.sig, `tcId ${t.tcId}: DER round trip`);
            }
          } else {
            ok = curve.verify(pk, msg, hexToBytes(t.sig));
          }
          if (t.result === "valid") assert.ok(ok, `tcId ${t.tcId} (${t.comment}): valid signature refused`);
          if (t.result === "invalid") {
            assert.ok(!ok, `tcId ${t.tcId} (${t.comment}): invalid signature accepted`);
          }
        }
      }
    },
  });
}

for (const [name, curve] of CURVES) {
  checkEcdh(`ecdh_${name}_ecpoint_test.json`, curve, (sk, pub) => curve.ecdh(sk, pub));
  checkEcdh(`ecdh_${name}_test.json`, curve, (sk, pub) => ecdhSpki(curve, sk, pub));
}
checkEcdsa("ecdsa_secp256r1_sha256_p1363_test.json", p256, false);
checkEcdsa("ecdsa_secp384r1_sha384_p1363_test.json", p384, false);
checkEcdsa("ecdsa_secp521r1_sha512_p1363_test.json", p521, false);
checkEcdsa("ecdsa_secp521r1_sha512_test.json", p521, true);
