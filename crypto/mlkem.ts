// ML-KEM-768 and ML-KEM-1024 (FIPS 203, August 2024): key generation, encapsulation, decapsulation.
//
// Polynomials live in Int32Arrays of 256 coefficients. Products use Montgomery reduction with R = 2^16
// (as the Kyber reference code does) and additions are brought back into range with Barrett reduction, so
// nothing divides by q. All scratch space is allocated once, at module load, and sized for k = 4; the
// operations are synchronous, so the two parameter sets share it. Hashing goes through KeccakSponge
// instances that are reset rather than reallocated.
//
// Secret data never selects a branch or a table index; the exceptions (none in this file) and what is not
// constant time are listed in docs/security.md. Rejection sampling of the matrix A depends only on the
// public seed ρ.

import { checkBytes, systemRandom } from "./bytes.ts";
import { KeccakSponge } from "./sha3.ts";

/** One ML-KEM parameter set (FIPS 203 §8). */
export interface MlKem {
  readonly name: "ML-KEM-768" | "ML-KEM-1024";
  /** Bytes in an encapsulation key: 1,184 or 1,568. */
  readonly publicKeyBytes: number;
  /** Bytes in a decapsulation key: 2,400 or 3,168. */
  readonly secretKeyBytes: number;
  /** Bytes in a ciphertext: 1,088 or 1,568. */
  readonly cipherTextBytes: number;
  /** Bytes in a shared secret. */
  readonly sharedSecretBytes: 32;
  /**
   * ML-KEM.KeyGen (FIPS 203 Algorithm 19; Algorithm 16 when `seed` = d ‖ z, 64 bytes, is given: the same
   * seed always gives the same keys). A RangeError if the seed is not 64 bytes.
   */
  keygen(seed?: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  /**
   * ML-KEM.Encaps (Algorithm 20; Algorithm 17 when the 32-byte `m` is given). Checks the key first (§7.2):
   * a RangeError if its length is wrong or a coefficient is not below q.
   */
  encapsulate(publicKey: Uint8Array, m?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  /**
   * ML-KEM.Decaps (Algorithm 21). Checks the lengths and the hash of the encapsulation key inside the
   * secret key (§7.3), a RangeError if any fails; a ciphertext that does not re-encrypt identically gives
   * the implicit-rejection key J(z ‖ c), chosen in constant time (no error, by design).
   */
  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

const N = 256;
const Q = 3329;
const QINV = -3327; // q⁻¹ mod 2^16, as a signed 16-bit value: q · QINV ≡ 1 (mod 2^16)
const MAX_K = 4;

// ---------------------------------------------------------------------------------------------------------
// Arithmetic mod q

/** a · 2^-16 mod q, in (−q, q), for |a| < q · 2^15 (Montgomery reduction). */
function montReduce(a: number): number {
  const t = (Math.imul(a, QINV) << 16) >> 16; // a · q⁻¹ mod 2^16, signed
  return (a - Math.imul(t, Q)) >> 16; // exact: a − t·q ≡ 0 (mod 2^16)
}

/** The representative of a mod q in [−(q − 1)/2, (q − 1)/2], for |a| < 2^15 (Barrett reduction). */
function barrett(a: number): number {
  const t = (Math.imul(20159, a) + (1 << 25)) >> 26; // 20159 = round(2^26 / q)
  return a - Math.imul(t, Q);
}

/** a mod q in [0, q), for |a| < 2^15: Barrett, then q added back under a mask if negative. */
function canonical(a: number): number {
  const r = barrett(a);
  return r + ((r >> 31) & Q);
}

function powMod(b: number, e: number): number {
  let r = 1;
  for (let i = 0; i < e; i++) r = (r * b) % Q;
  return r;
}

function bitRev7(i: number): number {
  let r = 0;
  for (let b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b);
  return r;
}

/** x · 2^16 mod q, centred in (−q/2, q/2]: the Montgomery form that montReduce(x' · y) = x · y expects. */
function toMont(x: number): number {
  const r = (x * 65536) % Q;
  return r > Q >> 1 ? r - Q : r;
}

// FIPS 203 §4.3: ζ = 17 is a primitive 256th root of unity mod q. ZETAS[i] = ζ^BitRev7(i) (NTT, Algorithms
// 9 and 10); GAMMAS[i] = ζ^(2·BitRev7(i) + 1) (BaseCaseMultiply, Algorithm 11). Both in Montgomery form.
const ZETAS = Int32Array.from({ length: 128 }, (_, i) => toMont(powMod(17, bitRev7(i))));
const GAMMAS = Int32Array.from({ length: 128 }, (_, i) => toMont(powMod(17, 2 * bitRev7(i) + 1)));
const INV_NTT_F = 1441; // 2^32 / 128 mod q: montReduce(x · F) = x · 2^16 / 128
const MONT_R2 = 1353; // 2^32 mod q: montReduce(x · R2) = x · 2^16

/** NTT (Algorithm 9) in place; input |coefficients| < q, output in [−(q − 1)/2, (q − 1)/2]. */
function ntt(r: Int32Array): void {
  let k = 1;
  for (let len = 128; len >= 2; len >>= 1) {
    for (let start = 0; start < N; start += 2 * len) {
      const zeta = ZETAS[k++];
      for (let j = start; j < start + len; j++) {
        const t = montReduce(Math.imul(zeta, r[j + len]));
        r[j + len] = r[j] - t;
        r[j] = r[j] + t;
      }
    }
  }
  for (let j = 0; j < N; j++) r[j] = barrett(r[j]);
}

/**
 * Inverse NTT (Algorithm 10) in place, times 2^16 (it undoes the 2^-16 that multiplyAccumulate leaves);
 * input |coefficients| < q, output |coefficients| < q.
 */
function invNtt(r: Int32Array): void {
  let k = 127;
  for (let len = 2; len <= 128; len <<= 1) {
    for (let start = 0; start < N; start += 2 * len) {
      const zeta = ZETAS[k--];
      for (let j = start; j < start + len; j++) {
        const t = r[j];
        r[j] = barrett(t + r[j + len]);
        r[j + len] = montReduce(Math.imul(zeta, r[j + len] - t));
      }
    }
  }
  for (let j = 0; j < N; j++) r[j] = montReduce(Math.imul(r[j], INV_NTT_F));
}

/**
 * out = Σ_j a[j] × b[j] in the NTT domain (MultiplyNTTs, Algorithm 11, summed over j < k), times 2^-16,
 * with |out| < q. Inputs |coefficients| ≤ (q − 1)/2 or canonical.
 */
function multiplyAccumulate(out: Int32Array, a: Int32Array[], b: Int32Array[], k: number): void {
  for (let i = 0; i < 128; i++) {
    const gamma = GAMMAS[i], i0 = 2 * i, i1 = i0 + 1;
    // Each term is below 2q² in absolute value and k ≤ 4, so the sums stay inside montReduce's range.
    let c0 = 0, c1 = 0;
    for (let j = 0; j < k; j++) {
      const aj = a[j], bj = b[j];
      const a0 = aj[i0], a1 = aj[i1], b0 = bj[i0], b1 = bj[i1];
      c0 += Math.imul(a0, b0) + Math.imul(montReduce(Math.imul(a1, b1)), gamma);
      c1 += Math.imul(a0, b1) + Math.imul(a1, b0);
    }
    out[i0] = montReduce(c0);
    out[i1] = montReduce(c1);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encodings (FIPS 203 §4.2.1)

/** ByteEncode_d of 256 coefficients in [0, 2^d) to out[off, off + 32d). */
function byteEncode(out: Uint8Array, off: number, f: Int32Array, d: number): void {
  if (d === 12) {
    for (let i = 0, o = off; i < N; i += 2, o += 3) {
      const a = f[i], b = f[i + 1];
      out[o] = a;
      out[o + 1] = (a >> 8) | (b << 4);
      out[o + 2] = b >> 4;
    }
    return;
  }
  let acc = 0, bits = 0, o = off;
  for (let i = 0; i < N; i++) {
    acc |= f[i] << bits;
    bits += d;
    while (bits >= 8) {
      out[o++] = acc;
      acc >>>= 8;
      bits -= 8;
    }
  }
}

/** ByteDecode_d of in[off, off + 32d) into 256 coefficients in [0, 2^d) (no reduction mod q). */
function byteDecode(f: Int32Array, inp: Uint8Array, off: number, d: number): void {
  if (d === 12) {
    for (let i = 0, o = off; i < N; i += 2, o += 3) {
      const b1 = inp[o + 1];
      f[i] = inp[o] | ((b1 & 15) << 8);
      f[i + 1] = (b1 >> 4) | (inp[o + 2] << 4);
    }
    return;
  }
  const mask = (1 << d) - 1;
  let acc = 0, bits = 0, o = off;
  for (let i = 0; i < N; i++) {
    while (bits < d) {
      acc |= inp[o++] << bits;
      bits += 8;
    }
    f[i] = acc & mask;
    acc >>>= d;
    bits -= d;
  }
}

/** ByteDecode_12 as FIPS 203 defines it for d = 12: each coefficient reduced mod q (one masked subtraction). */
function byteDecode12ModQ(f: Int32Array, inp: Uint8Array, off: number): void {
  byteDecode(f, inp, off, 12);
  for (let i = 0; i < N; i++) {
    const x = f[i];
    f[i] = x - (Q & ~((x - Q) >> 31));
  }
}

// Compress_d(x) = ⌈(2^d / q) · x⌋ mod 2^d = ⌊(2^d·x + 1664) / q⌋ mod 2^d for x in [0, q) (q is odd, so there
// are no ties). The division is a multiplication by ⌈2^35 / q⌉ / 2^35 in doubles: the numerator is below 2^23,
// the product below 2^47 (exact), and the error below 2^-12 < 1/q, so the floor is exact (tested for every x
// and d). No integer division, whose time can depend on its operands.
const COMPRESS_M = Math.ceil(2 ** 35 / Q) / 2 ** 35;

/** Compress_d then ByteEncode_d of a polynomial with canonical coefficients. */
function compressEncode(out: Uint8Array, off: number, f: Int32Array, d: number, tmp: Int32Array): void {
  const mask = (1 << d) - 1;
  for (let i = 0; i < N; i++) tmp[i] = Math.floor(((f[i] << d) + 1664) * COMPRESS_M) & mask;
  byteEncode(out, off, tmp, d);
}

/** ByteDecode_d then Decompress_d: y ↦ ⌈(q / 2^d) · y⌋ = ⌊(q·y + 2^(d−1)) / 2^d⌋. */
function decodeDecompress(f: Int32Array, inp: Uint8Array, off: number, d: number): void {
  byteDecode(f, inp, off, d);
  const half = 1 << (d - 1);
  for (let i = 0; i < N; i++) f[i] = (Math.imul(Q, f[i]) + half) >> d;
}

// ---------------------------------------------------------------------------------------------------------
// Sampling (FIPS 203 §4.2.2) and the hash functions (§4.1)

const H = new KeccakSponge(136, 0x06); // SHA3-256
const G = new KeccakSponge(72, 0x06); // SHA3-512
const SHAKE128 = new KeccakSponge(168, 0x1f);
const SHAKE256 = new KeccakSponge(136, 0x1f); // PRF and J
const SAMPLE_BUF = new Uint8Array(3 * 168);
const PRF_BUF = new Uint8Array(128);

/** SampleNTT (Algorithm 7): a uniform polynomial of the NTT domain from SHAKE128(ρ ‖ x ‖ y). */
function sampleNtt(f: Int32Array, rho: Uint8Array, rhoOff: number, x: number, y: number): void {
  const xof = SHAKE128.reset();
  xof.absorb(rho, rhoOff, rhoOff + 32);
  xof.absorbByte(x);
  xof.absorbByte(y);
  const buf = SAMPLE_BUF;
  xof.squeezeInto(buf, 0, 3 * 168);
  let j = 0, len = 3 * 168;
  for (;;) {
    for (let p = 0; p < len && j < N; p += 3) {
      const b1 = buf[p + 1];
      const d1 = buf[p] | ((b1 & 15) << 8), d2 = (b1 >> 4) | (buf[p + 2] << 4);
      // Rejection depends only on the public seed ρ.
      if (d1 < Q) f[j++] = d1;
      if (d2 < Q && j < N) f[j++] = d2;
    }
    if (j === N) return;
    xof.squeezeInto(buf, 0, 168);
    len = 168;
  }
}

/** SamplePolyCBD_2 (Algorithm 8, η = 2) of PRF_2(σ, b) = SHAKE256(σ ‖ b, 128 bytes) (§4.1). */
function samplePrfCbd2(f: Int32Array, sigma: Uint8Array, sigmaOff: number, b: number): void {
  const prf = SHAKE256.reset();
  prf.absorb(sigma, sigmaOff, sigmaOff + 32);
  prf.absorbByte(b);
  const buf = PRF_BUF;
  prf.squeezeInto(buf, 0, 128);
  for (let w = 0; w < 32; w++) {
    const t = buf[4 * w] | (buf[4 * w + 1] << 8) | (buf[4 * w + 2] << 16) | (buf[4 * w + 3] << 24);
    // Each 2-bit field of d is the sum of two adjacent bits; coefficient i is x − y of the fields 2i, 2i + 1.
    const d = (t & 0x55555555) + ((t >>> 1) & 0x55555555);
    for (let j = 0; j < 8; j++) f[8 * w + j] = ((d >>> (4 * j)) & 3) - ((d >>> (4 * j + 2)) & 3);
  }
}

/** H(data) = SHA3-256 into out[off, off + 32). */
function hashH(out: Uint8Array, off: number, data: Uint8Array, start: number, end: number): void {
  const h = H.reset();
  h.absorb(data, start, end);
  h.squeezeInto(out, off, 32);
}

// ---------------------------------------------------------------------------------------------------------
// Scratch space, shared by both parameter sets (sized for k = 4)

const poly = () => new Int32Array(N);
const vec = () => Array.from({ length: MAX_K }, poly);
const MATRIX = Array.from({ length: MAX_K }, vec); // Â (or its transpose), row by row
const S_HAT = vec(); // ŝ in KeyGen and Decrypt
const T_HAT = vec(); // t̂
const E = vec(); // e in KeyGen, e1 in Encrypt
const Y_HAT = vec(); // ŷ in Encrypt, NTT(u') in Decrypt
const U = vec(); // u in Encrypt
const P = poly(); // v, w, e2
const TMP = poly();
const SEEDS = new Uint8Array(64); // ρ ‖ σ from G(d ‖ k), or K ‖ r from G(m ‖ H(ek))
const HASH_EK = new Uint8Array(32);
const MSG = new Uint8Array(32); // m' in Decaps
const C_PRIME = new Uint8Array(1568); // re-encryption in Decaps
const K_BAR = new Uint8Array(32);

function wipeScratch(): void {
  for (const v of [S_HAT, E, Y_HAT, U]) for (const p of v) p.fill(0);
  P.fill(0);
  TMP.fill(0);
  SEEDS.fill(0);
  MSG.fill(0);
  C_PRIME.fill(0);
  K_BAR.fill(0);
  G.reset();
  SHAKE256.reset();
}

/** Â into MATRIX, with MATRIX[i][j] = Â[i][j] = SampleNTT(ρ ‖ j ‖ i), or its transpose. */
function sampleMatrix(rho: Uint8Array, rhoOff: number, k: number, transposed: boolean): void {
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      if (transposed) sampleNtt(MATRIX[i][j], rho, rhoOff, i, j);
      else sampleNtt(MATRIX[i][j], rho, rhoOff, j, i);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The parameter sets

interface Params {
  name: "ML-KEM-768" | "ML-KEM-1024";
  k: number;
  du: number;
  dv: number;
}

function createMlKem({ name, k, du, dv }: Params): MlKem {
  const ekLength = 384 * k + 32;
  const dkLength = 768 * k + 96;
  const c1Length = 32 * du * k;
  const ctLength = c1Length + 32 * dv;

  /** K-PKE.KeyGen (Algorithm 13) from d, writing ek_PKE and dk_PKE into ek and dk. */
  function pkeKeyGen(d: Uint8Array, dOff: number, ek: Uint8Array, dk: Uint8Array): void {
    const g = G.reset();
    g.absorb(d, dOff, dOff + 32);
    g.absorbByte(k); // the final standard's domain separation: G(d ‖ k)
    g.squeezeInto(SEEDS, 0, 64); // ρ ‖ σ
    sampleMatrix(SEEDS, 0, k, false);
    for (let i = 0; i < k; i++) samplePrfCbd2(S_HAT[i], SEEDS, 32, i);
    for (let i = 0; i < k; i++) samplePrfCbd2(E[i], SEEDS, 32, k + i);
    for (let i = 0; i < k; i++) {
      ntt(S_HAT[i]);
      ntt(E[i]);
    }
    for (let i = 0; i < k; i++) {
      const t = T_HAT[i], e = E[i];
      multiplyAccumulate(t, MATRIX[i], S_HAT, k);
      // Back from 2^-16 to the plain domain, plus ê.
      for (let j = 0; j < N; j++) t[j] = canonical(montReduce(Math.imul(t[j], MONT_R2)) + e[j]);
      byteEncode(ek, 384 * i, t, 12);
    }
    ek.set(SEEDS.subarray(0, 32), 384 * k);
    for (let i = 0; i < k; i++) {
      const s = S_HAT[i];
      for (let j = 0; j < N; j++) s[j] = canonical(s[j]);
      byteEncode(dk, 384 * i, s, 12);
    }
  }

  /**
   * K-PKE.Encrypt (Algorithm 14) of m (32 bytes at mOff) with randomness r (32 bytes at rOff), under t̂
   * already in T_HAT and ρ at ek[384k]; writes the ciphertext to c.
   */
  function pkeEncrypt(
    ek: Uint8Array,
    m: Uint8Array,
    mOff: number,
    r: Uint8Array,
    rOff: number,
    c: Uint8Array,
  ) {
    sampleMatrix(ek, 384 * k, k, true);
    for (let i = 0; i < k; i++) samplePrfCbd2(Y_HAT[i], r, rOff, i);
    for (let i = 0; i < k; i++) samplePrfCbd2(E[i], r, rOff, k + i);
    samplePrfCbd2(P, r, rOff, 2 * k); // e2
    for (let i = 0; i < k; i++) ntt(Y_HAT[i]);
    for (let i = 0; i < k; i++) {
      const u = U[i], e1 = E[i];
      multiplyAccumulate(u, MATRIX[i], Y_HAT, k);
      invNtt(u);
      for (let j = 0; j < N; j++) u[j] = canonical(u[j] + e1[j]);
      compressEncode(c, 32 * du * i, u, du, TMP);
    }
    multiplyAccumulate(TMP, T_HAT, Y_HAT, k);
    invNtt(TMP);
    for (let j = 0; j < N; j++) {
      // μ = Decompress_1(ByteDecode_1(m)): bit b ↦ b · 1665, selected by a mask.
      const bit = (m[mOff + (j >> 3)] >> (j & 7)) & 1;
      P[j] = canonical(TMP[j] + P[j] + (-bit & 1665));
    }
    compressEncode(c, c1Length, P, dv, TMP);
  }

  /** K-PKE.Decrypt (Algorithm 15) of c under ŝ = dk[0, 384k); writes m to MSG. */
  function pkeDecrypt(dk: Uint8Array, c: Uint8Array): void {
    for (let i = 0; i < k; i++) {
      decodeDecompress(Y_HAT[i], c, 32 * du * i, du);
      ntt(Y_HAT[i]);
      byteDecode12ModQ(S_HAT[i], dk, 384 * i);
    }
    multiplyAccumulate(TMP, S_HAT, Y_HAT, k);
    invNtt(TMP);
    decodeDecompress(P, c, c1Length, dv);
    MSG.fill(0);
    for (let j = 0; j < N; j++) {
      const w = canonical(P[j] - TMP[j]);
      const bit = Math.floor(((w << 1) + 1664) * COMPRESS_M) & 1; // Compress_1
      MSG[j >> 3] |= bit << (j & 7);
    }
  }

  function keygen(seed?: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
    if (seed === undefined) seed = systemRandom(64);
    checkBytes(seed, "seed", 64);
    const ek = new Uint8Array(ekLength), dk = new Uint8Array(dkLength);
    try {
      pkeKeyGen(seed, 0, ek, dk);
      // dk = dk_PKE ‖ ek ‖ H(ek) ‖ z (Algorithm 16).
      dk.set(ek, 384 * k);
      hashH(dk, 768 * k + 32, ek, 0, ekLength);
      dk.set(seed.subarray(32, 64), 768 * k + 64);
    } finally {
      wipeScratch();
    }
    return { publicKey: ek, secretKey: dk };
  }

  /** t̂ = ByteDecode_12(ek[0, 384k)) into T_HAT; false if a coefficient is not below q (§7.2). */
  function decodeEk(ek: Uint8Array, off: number): boolean {
    let bad = 0;
    for (let i = 0; i < k; i++) {
      const t = T_HAT[i];
      byteDecode(t, ek, off + 384 * i, 12);
      for (let j = 0; j < N; j++) bad |= Q - 1 - t[j]; // negative iff t[j] ≥ q
    }
    return bad >= 0;
  }

  function encapsulate(
    publicKey: Uint8Array,
    m?: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
    checkBytes(publicKey, "publicKey", ekLength);
    if (m === undefined) m = systemRandom(32);
    checkBytes(m, "m", 32);
    if (!decodeEk(publicKey, 0)) {
      throw new RangeError(
        `publicKey is not a valid ${name} encapsulation key: a coefficient is not below q`,
      );
    }
    const cipherText = new Uint8Array(ctLength), sharedSecret = new Uint8Array(32);
    try {
      // (K, r) = G(m ‖ H(ek)) (Algorithm 17).
      hashH(HASH_EK, 0, publicKey, 0, ekLength);
      const g = G.reset();
      g.absorb(m);
      g.absorb(HASH_EK);
      g.squeezeInto(SEEDS, 0, 64);
      pkeEncrypt(publicKey, m, 0, SEEDS, 32, cipherText);
      sharedSecret.set(SEEDS.subarray(0, 32));
    } finally {
      wipeScratch();
    }
    return { cipherText, sharedSecret };
  }

  function decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array {
    checkBytes(cipherText, "cipherText", ctLength);
    checkBytes(secretKey, "secretKey", dkLength);
    const ekOff = 384 * k, hOff = 768 * k + 32, zOff = 768 * k + 64;
    // §7.3 hash check: H(ek) stored in dk must be the hash of the ek stored in dk. Both are part of the key,
    // not secret-dependent on the ciphertext, so a plain comparison is fine.
    hashH(HASH_EK, 0, secretKey, ekOff, hOff);
    for (let i = 0; i < 32; i++) {
      if (HASH_EK[i] !== secretKey[hOff + i]) {
        throw new RangeError(
          `secretKey is not a valid ${name} decapsulation key: its key hash does not match`,
        );
      }
    }
    const sharedSecret = new Uint8Array(32);
    try {
      pkeDecrypt(secretKey, cipherText);
      // (K', r') = G(m' ‖ h) (Algorithm 18).
      const g = G.reset();
      g.absorb(MSG);
      g.absorb(secretKey, hOff, zOff);
      g.squeezeInto(SEEDS, 0, 64);
      // K̄ = J(z ‖ c) = SHAKE256(z ‖ c, 32).
      const j = SHAKE256.reset();
      j.absorb(secretKey, zOff, zOff + 32);
      j.absorb(cipherText);
      j.squeezeInto(K_BAR, 0, 32);
      // c' = K-PKE.Encrypt(ek_PKE, m', r'), with ByteDecode_12 reducing mod q as the standard defines it.
      for (let i = 0; i < k; i++) byteDecode12ModQ(T_HAT[i], secretKey, ekOff + 384 * i);
      pkeEncrypt(secretKey.subarray(ekOff, hOff), MSG, 0, SEEDS, 32, C_PRIME);
      // Constant-time comparison of c and c', and selection of K' (equal) or K̄ (different).
      let diff = 0;
      for (let i = 0; i < ctLength; i++) diff |= cipherText[i] ^ C_PRIME[i];
      const equal = -((diff - 1) >>> 31); // −1 if diff = 0, else 0
      for (let i = 0; i < 32; i++) sharedSecret[i] = K_BAR[i] ^ (equal & (SEEDS[i] ^ K_BAR[i]));
    } finally {
      wipeScratch();
    }
    return sharedSecret;
  }

  return Object.freeze({
    name,
    publicKeyBytes: ekLength,
    secretKeyBytes: dkLength,
    cipherTextBytes: ctLength,
    sharedSecretBytes: 32 as const,
    keygen,
    encapsulate,
    decapsulate,
  });
}

/** ML-KEM-768 (FIPS 203, security category 3): k = 3, η1 = η2 = 2, du = 10, dv = 4. */
export const mlkem768: MlKem = createMlKem({ name: "ML-KEM-768", k: 3, du: 10, dv: 4 });

/** ML-KEM-1024 (FIPS 203, security category 5): k = 4, η1 = η2 = 2, du = 11, dv = 5. */
export const mlkem1024: MlKem = createMlKem({ name: "ML-KEM-1024", k: 4, du: 11, dv: 5 });
