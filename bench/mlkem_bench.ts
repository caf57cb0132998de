// ML-KEM-768 and ML-KEM-1024: key generation, encapsulation and decapsulation. Web Crypto has no ML-KEM, so
// each group's baseline is the elliptic-curve half of the hybrid TLS group the KEM sits in (draft-ietf-tls-
// ecdhe-mlkem): Web Crypto's P-256 beside ML-KEM-768, P-384 beside ML-KEM-1024 (generateKey for key
// generation, deriveBits for both encapsulation and decapsulation). Node 26's native ML-KEM is measured by
// bench/mlkem_native.ts; the pure-JavaScript packages by ../shared/tools/bench-mlkem.ts.
import { mlkem1024, mlkem768 } from "../crypto/mlkem.ts";

for (const [kem, curve] of [[mlkem768, "P-256"], [mlkem1024, "P-384"]] as const) {
  const dh = { name: "ECDH", namedCurve: curve };
  const mine = await crypto.subtle.generateKey(dh, false, ["deriveBits"]);
  const peer = await crypto.subtle.generateKey(dh, false, ["deriveBits"]);
  const bits = curve === "P-256" ? 256 : 384;
  const { publicKey, secretKey } = kem.keygen();
  const { cipherText } = kem.encapsulate(publicKey);
  const derive = async () =>
    void await crypto.subtle.deriveBits({ name: "ECDH", public: peer.publicKey }, mine.privateKey, bits);

  Deno.bench({
    name: `${curve} Web Crypto generateKey`,
    group: `${kem.name} keygen`,
    baseline: true,
    fn: async () => void await crypto.subtle.generateKey(dh, false, ["deriveBits"]),
  });
  Deno.bench({ name: `${kem.name} keygen`, group: `${kem.name} keygen`, fn: () => void kem.keygen() });
  Deno.bench({
    name: `${curve} Web Crypto deriveBits`,
    group: `${kem.name} encapsulate`,
    baseline: true,
    fn: derive,
  });
  Deno.bench({
    name: `${kem.name} encapsulate`,
    group: `${kem.name} encapsulate`,
    fn: () => void kem.encapsulate(publicKey),
  });
  Deno.bench({
    name: `${curve} Web Crypto deriveBits `,
    group: `${kem.name} decapsulate`,
    baseline: true,
    fn: derive,
  });
  Deno.bench({
    name: `${kem.name} decapsulate`,
    group: `${kem.name} decapsulate`,
    fn: () => void kem.decapsulate(cipherText, secretKey),
  });
}
