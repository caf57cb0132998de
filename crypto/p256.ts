// NIST P-256 (secp256r1; FIPS 186-5 / SP 800-186 §3.2.1.3), ECDSA with SHA-256.

import { createCurve } from "./ec.ts";

export const p256 = createCurve({
  name: "P-256",
  oid: "1.2.840.10045.3.1.7",
  p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
  b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  hash: "SHA-256",
  baseWindow: 5,
});
