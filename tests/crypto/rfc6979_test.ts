// RFC 6979 appendix A.2.5–A.2.7: deterministic ECDSA on P-256, P-384 and P-521 with every hash the RFC
// lists. Matching r and s for a given key and message proves the nonce k was derived exactly as §3.2 says.

import assert from "node:assert/strict";
import { bytesToHex, hexToBytes, utf8 } from "../../crypto/bytes.ts";
import type { Curve, NonceMac } from "../../crypto/ec.ts";
import { hash, type HashName } from "../../crypto/sha2.ts";
import { createHmac, hmac } from "../../crypto/hmac.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { legacyHmac, sha1, sha224 } from "../_legacy_hash.ts";

interface Vector {
  hash: string;
  message: string;
  k: string;
  r: string;
  s: string;
}
interface CurveVectors {
  curve: string;
  privateKey: string;
  publicX: string;
  publicY: string;
  signatures: Vector[];
}

const data = JSON.parse(Deno.readTextFileSync(new URL("../../vectors/rfc6979.json", import.meta.url))) as {
  curves: CurveVectors[];
};
const curves: Record<string, Curve> = { "P-256": p256, "P-384": p384, "P-521": p521 };

/** The message hash and the RFC 6979 HMAC for one of the RFC's hash names. */
function hashFor(name: string): { digest: (m: Uint8Array) => Uint8Array; mac: NonceMac } {
  if (name === "SHA-1" || name === "SHA-224") {
    const h = name === "SHA-1" ? sha1 : sha224;
    return {
      digest: h,
      mac: { outputLength: name === "SHA-1" ? 20 : 28, mac: (k, d) => legacyHmac(h, k, d) },
    };
  }
  const hn = name as HashName;
  return {
    digest: (m) => hash(hn, m),
    mac: { outputLength: hash(hn, new Uint8Array(0)).length, mac: (k, d) => hmac(hn, k, d) },
  };
}

Deno.test("test-only SHA-1 and SHA-224 match FIPS 180-4's abc examples", () => {
  assert.equal(bytesToHex(sha1(utf8("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert.equal(
    bytesToHex(sha224(utf8("abc"))),
    "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
  );
  assert.equal(
    bytesToHex(sha224(utf8("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525",
  );
});

for (const cv of data.curves) {
  const curve = curves[cv.curve];
  Deno.test(`RFC 6979 ${cv.curve}: the public key of the appendix's private key`, () => {
    const pub = curve.getPublicKey(hexToBytes(cv.privateKey), false);
    assert.equal(bytesToHex(pub), "04" + cv.publicX + cv.publicY);
  });
  Deno.test(`RFC 6979 ${cv.curve}: all ${cv.signatures.length} signatures (5 hashes × 2 messages)`, () => {
    const sk = hexToBytes(cv.privateKey);
    const pk = hexToBytes("04" + cv.publicX + cv.publicY);
    for (const v of cv.signatures) {
      const { digest, mac } = hashFor(v.hash);
      const d = digest(utf8(v.message));
      const sig = curve.signDigest(sk, d, mac);
      assert.equal(bytesToHex(sig), v.r + v.s, `${cv.curve} ${v.hash} "${v.message}"`);
      assert.ok(curve.verifyDigest(pk, d, sig), `${cv.curve} ${v.hash} "${v.message}" verifies`);
    }
  });
  Deno.test(`RFC 6979 ${cv.curve}: sign() uses ${curve.hash} and matches the appendix`, () => {
    const sk = hexToBytes(cv.privateKey);
    for (const v of cv.signatures.filter((s) => s.hash === curve.hash)) {
      assert.equal(bytesToHex(curve.sign(sk, utf8(v.message))), v.r + v.s);
    }
  });
}

/** A NonceMac over one of our hashes with `keyed` (via createHmac), counting keyings and calls. */
function countingMac(hn: HashName): { mac: NonceMac; keyings: number; calls: number; plainCalls: number } {
  const counts = { keyings: 0, calls: 0, plainCalls: 0 };
  const mac: NonceMac = {
    outputLength: hash(hn, new Uint8Array(0)).length,
    mac: (k, d) => {
      counts.plainCalls++;
      return hmac(hn, k, d);
    },
    keyed: (k) => {
      counts.keyings++;
      const state = createHmac(hn, k);
      return (d) => {
        counts.calls++;
        return state.clone().update(d).digest();
      };
    },
  };
  return Object.assign(counts, { mac });
}

for (const cv of data.curves) {
  const curve = curves[cv.curve];
  Deno.test(`RFC 6979 ${cv.curve}: a NonceMac with keyed() keys once per K and matches the appendix`, () => {
    const sk = hexToBytes(cv.privateKey);
    const ours = cv.signatures.filter((s) => ["SHA-256", "SHA-384", "SHA-512"].includes(s.hash));
    assert.equal(ours.length, 6);
    for (const v of ours) {
      const counter = countingMac(v.hash as HashName);
      const sig = curve.signDigest(sk, hash(v.hash as HashName, utf8(v.message)), counter.mac);
      assert.equal(bytesToHex(sig), v.r + v.s, `${cv.curve} ${v.hash} "${v.message}"`);
      // K = 0, then the two K's of §3.2 steps d and f (no retry for these vectors); mac() is never used.
      assert.equal(counter.keyings, 3);
      assert.equal(counter.plainCalls, 0);
      assert.ok(counter.calls > counter.keyings);
    }
  });

  Deno.test(`RFC 6979 ${cv.curve}: default MAC, mac()-only MAC and keyed MAC agree on random inputs`, () => {
    const plain: NonceMac = {
      outputLength: hash(curve.hash, new Uint8Array(0)).length,
      mac: (k, d) => hmac(curve.hash, k, d),
    };
    for (let i = 0; i < 8; i++) {
      const sk = curve.randomSecretKey();
      const digest = crypto.getRandomValues(new Uint8Array(1 + Math.floor(Math.random() * 80)));
      const expected = bytesToHex(curve.signDigest(sk, digest, plain));
      assert.equal(bytesToHex(curve.signDigest(sk, digest)), expected);
      assert.equal(bytesToHex(curve.signDigest(sk, digest, countingMac(curve.hash).mac)), expected);
    }
  });
}
