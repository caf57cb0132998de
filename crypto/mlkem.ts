// ML-KEM-768 and ML-KEM-1024 (FIPS 203, August 2024): key generation, encapsulation, decapsulation.
//
// K-PKE and the KEM on top of the polynomial layer in mlkem_poly.ts. All scratch space is allocated once, at
// module load, and sized for k = 4; the operations are synchronous, so the two parameter sets share it, and
// it is zeroed after each operation. Hashing goes through KeccakSponge instances that are reset rather than
// reallocated.
//
// Secret data never selects a branch or a table index (docs/security.md lists what is and is not constant
// time). The branches on the key checks depend only on the key, not on a ciphertext.

import { checkBytes, systemRandom } from "./bytes.ts";
import { KeccakSponge } from "./sha3.ts";
import {
  byteDecode,
  byteDecode12ModQ,
  byteEncode,
  canonical,
  COMPRESS_M,
  compressEncode,
  decodeDecompress,
  invNtt,
  MONT_R2,
  montReduce,
  mulCache,
  multiplyAccumulate,
  N,
  ntt,
  Q,
  sampleNtt,
  samplePrfCbd2,
} from "./mlkem_poly.ts";

const MAX_K = 4;
const H = new KeccakSponge(136, 0x06); // SHA3-256
const G = new KeccakSponge(72, 0x06); // SHA3-512
const J = new KeccakSponge(136, 0x1f); // SHAKE256

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
const B_CACHE = Array.from({ length: MAX_K }, () => new Int32Array(128)); // mulCache of ŝ, ŷ or NTT(u')
const P = poly(); // v, w, e2
const TMP = poly();
const SEEDS = new Uint8Array(64); // ρ ‖ σ from G(d ‖ k), or K ‖ r from G(m ‖ H(ek))
const HASH_EK = new Uint8Array(32);
const MSG = new Uint8Array(32); // m' in Decaps
const C_PRIME = new Uint8Array(1568); // re-encryption in Decaps
const K_BAR = new Uint8Array(32);

function wipeScratch(): void {
  for (const v of [S_HAT, E, Y_HAT, U, B_CACHE]) for (const p of v) p.fill(0);
  P.fill(0);
  TMP.fill(0);
  SEEDS.fill(0);
  MSG.fill(0);
  C_PRIME.fill(0);
  K_BAR.fill(0);
  G.reset();
  J.reset();
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
      mulCache(B_CACHE[i], S_HAT[i]);
    }
    for (let i = 0; i < k; i++) {
      const t = T_HAT[i], e = E[i];
      multiplyAccumulate(t, MATRIX[i], S_HAT, B_CACHE, k);
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
    for (let i = 0; i < k; i++) {
      ntt(Y_HAT[i]);
      mulCache(B_CACHE[i], Y_HAT[i]);
    }
    for (let i = 0; i < k; i++) {
      const u = U[i], e1 = E[i];
      multiplyAccumulate(u, MATRIX[i], Y_HAT, B_CACHE, k);
      invNtt(u);
      for (let j = 0; j < N; j++) u[j] = canonical(u[j] + e1[j]);
      compressEncode(c, 32 * du * i, u, du, TMP);
    }
    multiplyAccumulate(TMP, T_HAT, Y_HAT, B_CACHE, k);
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
      mulCache(B_CACHE[i], Y_HAT[i]);
      byteDecode12ModQ(S_HAT[i], dk, 384 * i);
    }
    multiplyAccumulate(TMP, S_HAT, Y_HAT, B_CACHE, k);
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
    const drawn = seed === undefined; // a seed we drew is ours to wipe (its d is secret)
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
      if (drawn) seed.fill(0);
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
    const drawn = m === undefined; // a message we drew is ours to wipe (it determines the shared secret)
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
      if (drawn) m.fill(0);
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
      const j = J.reset();
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
