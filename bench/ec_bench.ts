// P-256, P-384 and P-521 beside Web Crypto: key generation, ECDH, ECDSA sign and verify. Each group's
// baseline is Web Crypto doing the same operation on the same curve (its async API included, as callers
// pay it). Key generation compares randomSecretKey + getPublicKey with generateKey.
import type { Curve } from "../crypto/ec.ts";
import { p256 } from "../crypto/p256.ts";
import { p384 } from "../crypto/p384.ts";
import { p521 } from "../crypto/p521.ts";

const msg = new Uint8Array(64).fill(7);
const BITS: Record<string, number> = { "P-256": 256, "P-384": 384, "P-521": 528 };

for (const curve of [p256, p384, p521] as Curve[]) {
  const c = curve.name;
  const sk = curve.randomSecretKey(), pk = curve.getPublicKey(sk, false);
  const peer = curve.getPublicKey(curve.randomSecretKey(), false);
  const sig = curve.sign(sk, msg);
  const dh = { name: "ECDH", namedCurve: c };
  const ds = { name: "ECDSA", namedCurve: c };
  const wDh = await crypto.subtle.generateKey(dh, false, ["deriveBits"]);
  const wPeer = await crypto.subtle.generateKey(dh, false, ["deriveBits"]);
  const wSig = await crypto.subtle.generateKey(ds, false, ["sign", "verify"]);
  const algo = { name: "ECDSA", hash: curve.hash };
  const wSignature = await crypto.subtle.sign(algo, wSig.privateKey, msg);

  Deno.bench({
    name: `${c} Web Crypto generateKey`,
    group: `${c} keygen`,
    baseline: true,
    fn: async () => void await crypto.subtle.generateKey(dh, false, ["deriveBits"]),
  });
  Deno.bench({
    name: `${c} randomSecretKey + getPublicKey`,
    group: `${c} keygen`,
    fn: () => void curve.getPublicKey(curve.randomSecretKey()),
  });
  Deno.bench({
    name: `${c} Web Crypto deriveBits`,
    group: `${c} ecdh`,
    baseline: true,
    fn: async () =>
      void await crypto.subtle.deriveBits({ name: "ECDH", public: wPeer.publicKey }, wDh.privateKey, BITS[c]),
  });
  Deno.bench({ name: `${c} ecdh`, group: `${c} ecdh`, fn: () => void curve.ecdh(sk, peer) });
  Deno.bench({
    name: `${c} Web Crypto sign`,
    group: `${c} sign`,
    baseline: true,
    fn: async () => void await crypto.subtle.sign(algo, wSig.privateKey, msg),
  });
  Deno.bench({ name: `${c} sign`, group: `${c} sign`, fn: () => void curve.sign(sk, msg) });
  Deno.bench({
    name: `${c} Web Crypto verify`,
    group: `${c} verify`,
    baseline: true,
    fn: async () => void await crypto.subtle.verify(algo, wSig.publicKey, wSignature, msg),
  });
  Deno.bench({ name: `${c} verify`, group: `${c} verify`, fn: () => void curve.verify(pk, msg, sig) });
}
