// `deno task selfcheck`: a short self-check of the crypto core, for anyone who wants to see the primitives
// work on their machine: each primitive against the standard's own known answers (the files in vectors/),
// plus round trips. Prints one line per check; exits 1 if any fails.

import { bytesToHex, hexToBytes, utf8 } from "../crypto/bytes.ts";
import { aesGcmOpen, aesGcmSeal } from "../crypto/aes.ts";
import {
  chacha20Poly1305Seal,
  xchacha20Poly1305Open,
  xchacha20Poly1305Seal,
} from "../crypto/chacha20poly1305.ts";
import { hash, type HashName } from "../crypto/sha2.ts";
import { hmac } from "../crypto/hmac.ts";
import { hkdf } from "../crypto/hkdf.ts";
import { p256 } from "../crypto/p256.ts";
import { p384 } from "../crypto/p384.ts";
import { p521 } from "../crypto/p521.ts";
import sha2Vectors from "../vectors/fips180-4.json" with { type: "json" };
import hmacVectors from "../vectors/rfc4231.json" with { type: "json" };
import hkdfVectors from "../vectors/rfc5869.json" with { type: "json" };
import gcmVectors from "../vectors/gcm-spec.json" with { type: "json" };
import chachaVectors from "../vectors/rfc8439.json" with { type: "json" };
import xchachaVectors from "../vectors/xchacha20poly1305.json" with { type: "json" };
import ecdsaVectors from "../vectors/rfc6979.json" with { type: "json" };

type Check = [label: string, run: () => number];

const repeat = (hex: string, times: number) => {
  const one = hexToBytes(hex);
  const out = new Uint8Array(one.length * times);
  for (let i = 0; i < times; i++) out.set(one, i * one.length);
  return out;
};

const checks: Check[] = [
  ["SHA-256/384/512: FIPS 180-4 examples", () => {
    for (const t of sha2Vectors.tests) {
      if (bytesToHex(hash(t.hash as HashName, repeat(t.msg, t.repeat))) !== t.digest) {
        throw new Error(t.comment);
      }
    }
    return sha2Vectors.tests.length;
  }],
  ["HMAC-SHA-256/384/512: RFC 4231 test cases", () => {
    let n = 0;
    for (const t of hmacVectors.tests) {
      const tags: [HashName, string][] = [["SHA-256", t.hmacSha256], ["SHA-384", t.hmacSha384], [
        "SHA-512",
        t.hmacSha512,
      ]];
      for (const [h, want] of tags) {
        const got = bytesToHex(hmac(h, hexToBytes(t.key), hexToBytes(t.data)));
        if (!got.startsWith(want)) throw new Error(`case ${t.case} ${h}`);
        n++;
      }
    }
    return n;
  }],
  ["HKDF-SHA-256: RFC 5869 appendix A", () => {
    for (const t of hkdfVectors.tests) {
      const okm = hkdf(
        t.hash as HashName,
        hexToBytes(t.ikm),
        hexToBytes(t.salt),
        hexToBytes(t.info),
        t.length,
      );
      if (bytesToHex(okm) !== t.okm) throw new Error(`case ${t.case}`);
    }
    return hkdfVectors.tests.length;
  }],
  ["AES-GCM: the GCM specification's test cases", () => {
    for (const t of gcmVectors.cases) {
      const [k, iv, p, a] = [t.K, t.IV, t.P, t.A].map(hexToBytes);
      const sealed = aesGcmSeal(k, iv, p, a);
      if (bytesToHex(sealed) !== t.C + t.T) throw new Error(`case ${t.case}`);
      if (bytesToHex(aesGcmOpen(k, iv, sealed, a)) !== t.P) throw new Error(`case ${t.case} open`);
    }
    return gcmVectors.cases.length;
  }],
  ["ChaCha20-Poly1305 and XChaCha20-Poly1305: RFC 8439 §2.8.2, draft A.3.1", () => {
    const c = chachaVectors.aead[0], x = xchachaVectors.aead[0];
    const sealed = chacha20Poly1305Seal(
      hexToBytes(c.key),
      hexToBytes(c.nonce),
      hexToBytes(c.plaintext),
      hexToBytes(c.aad),
    );
    if (bytesToHex(sealed) !== c.ciphertext + c.tag) throw new Error("RFC 8439 2.8.2");
    const [k, nonce, pt, aad] = [x.key, x.nonce, x.plaintext, x.aad].map(hexToBytes);
    const xs = xchacha20Poly1305Seal(k, nonce, pt, aad);
    if (bytesToHex(xs) !== x.ciphertext + x.tag) throw new Error("XChaCha A.3.1");
    if (bytesToHex(xchacha20Poly1305Open(k, nonce, xs, aad)) !== x.plaintext) throw new Error("XChaCha open");
    return 2;
  }],
  ["ECDSA P-256/P-384/P-521: RFC 6979 signatures with the curve's hash", () => {
    let n = 0;
    for (const cv of ecdsaVectors.curves) {
      const curve = { "P-256": p256, "P-384": p384, "P-521": p521 }[cv.curve]!;
      const sk = hexToBytes(cv.privateKey);
      for (const v of cv.signatures.filter((s) => s.hash === curve.hash)) {
        const sig = curve.sign(sk, utf8(v.message));
        if (bytesToHex(sig) !== v.r + v.s) throw new Error(`${cv.curve} "${v.message}"`);
        if (!curve.verify(curve.getPublicKey(sk), utf8(v.message), sig)) {
          throw new Error(`${cv.curve} verify`);
        }
        n++;
      }
    }
    return n;
  }],
  ["ECDH P-256/P-384/P-521: both sides agree on fresh keys; a bad point is refused", () => {
    for (const curve of [p256, p384, p521]) {
      const a = curve.randomSecretKey(), b = curve.randomSecretKey();
      const ab = curve.ecdh(a, curve.getPublicKey(b)), ba = curve.ecdh(b, curve.getPublicKey(a, false));
      if (bytesToHex(ab) !== bytesToHex(ba) || ab.length !== curve.byteLength) throw new Error(curve.name);
      const bad = curve.getPublicKey(b, false);
      bad[bad.length - 1] ^= 1;
      if (curve.isValidPublicKey(bad)) throw new Error(`${curve.name} accepted a point off the curve`);
    }
    return 3;
  }],
];

/** Runs every check, printing one line each; returns the number that failed. */
export function runSelfCheck(print: (line: string) => void = console.log): number {
  let failed = 0;
  for (const [label, run] of checks) {
    try {
      const n = run();
      print(`ok    ${label} (${n} checked)`);
    } catch (e) {
      failed++;
      print(`FAIL  ${label}: ${e instanceof Error ? e.message : e}`);
    }
  }
  return failed;
}

if (import.meta.main) {
  console.log("sotto crypto self-check (pure TypeScript, no dependencies)\n");
  const failed = runSelfCheck();
  console.log(failed === 0 ? "\nall checks passed" : `\n${failed} check(s) FAILED`);
  if (failed > 0) Deno.exit(1);
}
