// HPKE (RFC 9180) in base mode: DHKEM(P-256, HKDF-SHA256), DHKEM(P-384, HKDF-SHA384) and
// DHKEM(P-521, HKDF-SHA512); HKDF-SHA256/384/512; AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305. Single-shot
// seal/open, the sender and recipient contexts, and the secret export interface. MLS (RFC 9420) runs on it.
//
// Key pairs come from DeriveKeyPair (§7.1.3, rejection sampling with the curve's bit mask), and
// GenerateKeyPair is DeriveKeyPair over Nsk random bytes, which the RFC allows; so a test that feeds the
// RFC's ikmE through the random source reproduces its ephemeral key. Every public key is validated when it
// is deserialized (uncompressed SEC1 only, coordinates below p, on the curve, not infinity), every secret key
// is checked to be in [1, n − 1], and a DH result that is the point at infinity cannot occur (prime-order
// curves, validated points, non-zero scalars).

import {
  bytesToBigInt,
  checkBytes,
  concatBytes,
  type RandomSource,
  systemRandom,
  utf8,
  wipe,
} from "./bytes.ts";
import type { Curve } from "./ec.ts";
import { hkdfExpand, hkdfExtract } from "./hkdf.ts";
import { hashLength, type HashName } from "./sha2.ts";
import { AesGcm } from "./aes.ts";
import { chacha20Poly1305Open, chacha20Poly1305Seal } from "./chacha20poly1305.ts";
import { p256 } from "./p256.ts";
import { p384 } from "./p384.ts";
import { p521 } from "./p521.ts";

/** KEM identifiers (RFC 9180 §7.1). */
export const KEM = { P256_SHA256: 0x0010, P384_SHA384: 0x0011, P521_SHA512: 0x0012 } as const;
/** KDF identifiers (RFC 9180 §7.2). */
export const KDF = { HKDF_SHA256: 0x0001, HKDF_SHA384: 0x0002, HKDF_SHA512: 0x0003 } as const;
/** AEAD identifiers (RFC 9180 §7.3). */
export const AEAD = { AES_128_GCM: 0x0001, AES_256_GCM: 0x0002, CHACHA20_POLY1305: 0x0003 } as const;

export type KemId = (typeof KEM)[keyof typeof KEM];
export type KdfId = (typeof KDF)[keyof typeof KDF];
export type AeadId = (typeof AEAD)[keyof typeof AEAD];

const MODE_BASE = 0x00;
const VERSION_LABEL = utf8("HPKE-v1");
const EMPTY = new Uint8Array(0);

/** An HPKE key pair: the secret scalar (Nsk bytes, big-endian) and the uncompressed SEC1 public key. */
export interface HpkeKeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

interface KemParams {
  curve: Curve;
  hash: HashName;
  /** The bit mask DeriveKeyPair applies to the first candidate byte. */
  bitmask: number;
}

const KEMS: Record<KemId, KemParams> = {
  [KEM.P256_SHA256]: { curve: p256, hash: "SHA-256", bitmask: 0xff },
  [KEM.P384_SHA384]: { curve: p384, hash: "SHA-384", bitmask: 0xff },
  [KEM.P521_SHA512]: { curve: p521, hash: "SHA-512", bitmask: 0x01 },
};

const KDFS: Record<KdfId, HashName> = {
  [KDF.HKDF_SHA256]: "SHA-256",
  [KDF.HKDF_SHA384]: "SHA-384",
  [KDF.HKDF_SHA512]: "SHA-512",
};

const AEADS: Record<AeadId, { nk: number; nn: number }> = {
  [AEAD.AES_128_GCM]: { nk: 16, nn: 12 },
  [AEAD.AES_256_GCM]: { nk: 32, nn: 12 },
  [AEAD.CHACHA20_POLY1305]: { nk: 32, nn: 12 },
};

/** The error HPKE throws for a key that fails validation or a DeriveKeyPair that runs out of candidates. */
export class HpkeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HpkeError";
  }
}

function i2osp(n: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = n & 0xff;
    n = Math.floor(n / 256);
  }
  return out;
}

/** LabeledExtract and LabeledExpand (§4) under one suite_id and hash. */
class Labeled {
  readonly hash: HashName;
  readonly nh: number;
  readonly #prefix: Uint8Array;

  constructor(hash: HashName, suiteId: Uint8Array) {
    this.hash = hash;
    this.nh = hashLength(hash);
    this.#prefix = concatBytes(VERSION_LABEL, suiteId);
  }

  extract(salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
    return hkdfExtract(this.hash, salt, concatBytes(this.#prefix, utf8(label), ikm));
  }

  expand(prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
    return hkdfExpand(this.hash, prk, concatBytes(i2osp(length, 2), this.#prefix, utf8(label), info), length);
  }
}

/** One HPKE configuration (KEM, KDF, AEAD), with its KEM operations and the base-mode setup. */
export class Hpke {
  readonly kemId: KemId;
  readonly kdfId: KdfId;
  readonly aeadId: AeadId;
  /** Bytes of the KEM shared secret, of an encapsulated key, of a public key and of a secret key. */
  readonly nSecret: number;
  readonly nEnc: number;
  readonly nPk: number;
  readonly nSk: number;
  /** Bytes of the AEAD key and nonce, and of the KDF's output. */
  readonly nk: number;
  readonly nn: number;
  readonly nh: number;
  readonly curve: Curve;
  readonly #kem: KemParams;
  readonly #kemLabels: Labeled;
  readonly #labels: Labeled;

  constructor(kemId: KemId, kdfId: KdfId, aeadId: AeadId) {
    const kem = KEMS[kemId], kdf = KDFS[kdfId], aead = AEADS[aeadId];
    if (kem === undefined) throw new RangeError(`unsupported HPKE KEM 0x${Number(kemId).toString(16)}`);
    if (kdf === undefined) throw new RangeError(`unsupported HPKE KDF 0x${Number(kdfId).toString(16)}`);
    if (aead === undefined) throw new RangeError(`unsupported HPKE AEAD 0x${Number(aeadId).toString(16)}`);
    this.kemId = kemId;
    this.kdfId = kdfId;
    this.aeadId = aeadId;
    this.#kem = kem;
    this.curve = kem.curve;
    this.nSecret = hashLength(kem.hash);
    this.nSk = kem.curve.byteLength;
    this.nPk = 2 * kem.curve.byteLength + 1;
    this.nEnc = this.nPk;
    this.nk = aead.nk;
    this.nn = aead.nn;
    this.nh = hashLength(kdf);
    this.#kemLabels = new Labeled(kem.hash, concatBytes(utf8("KEM"), i2osp(kemId, 2)));
    this.#labels = new Labeled(
      kdf,
      concatBytes(utf8("HPKE"), i2osp(kemId, 2), i2osp(kdfId, 2), i2osp(aeadId, 2)),
    );
  }

  // ---- keys --------------------------------------------------------------------------------------

  /**
   * DeriveKeyPair (§7.1.3): a key pair from input keying material, which SHOULD have Nsk bytes of entropy
   * (MLS passes Nh bytes: 64 for P-521's 66-byte keys). Fewer than 32 bytes are refused.
   */
  deriveKeyPair(ikm: Uint8Array): HpkeKeyPair {
    checkBytes(ikm, "ikm");
    if (ikm.length < 32) throw new RangeError(`ikm must be at least 32 bytes, got ${ikm.length}`);
    const prk = this.#kemLabels.extract(EMPTY, "dkp_prk", ikm);
    const n = this.curve.n;
    try {
      for (let counter = 0; counter <= 255; counter++) {
        const bytes = this.#kemLabels.expand(prk, "candidate", Uint8Array.of(counter), this.nSk);
        bytes[0] &= this.#kem.bitmask;
        const sk = bytesToBigInt(bytes);
        if (sk !== 0n && sk < n) {
          return { secretKey: bytes, publicKey: this.curve.getPublicKey(bytes, false) };
        }
        wipe(bytes);
      }
    } finally {
      wipe(prk);
    }
    throw new HpkeError("DeriveKeyPair found no valid secret key in 256 candidates");
  }

  /** GenerateKeyPair: DeriveKeyPair over Nsk fresh random bytes. */
  generateKeyPair(random: RandomSource = systemRandom): HpkeKeyPair {
    const ikm = random(this.nSk);
    checkBytes(ikm, "random output", this.nSk);
    try {
      return this.deriveKeyPair(ikm);
    } finally {
      wipe(ikm);
    }
  }

  /** Throws HpkeError unless `publicKey` is a valid uncompressed point (DeserializePublicKey). */
  validatePublicKey(publicKey: Uint8Array, name = "public key"): void {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== this.nPk || publicKey[0] !== 0x04) {
      throw new HpkeError(`${name} must be an uncompressed ${this.curve.name} point of ${this.nPk} bytes`);
    }
    try {
      this.curve.decodePoint(publicKey, name);
    } catch (e) {
      throw new HpkeError(e instanceof Error ? e.message : String(e));
    }
  }

  /** Throws HpkeError unless `secretKey` is Nsk bytes encoding a scalar in [1, n − 1] (DeserializePrivateKey). */
  validateSecretKey(secretKey: Uint8Array, name = "secret key"): void {
    if (!(secretKey instanceof Uint8Array) || secretKey.length !== this.nSk) {
      throw new HpkeError(`${name} must be ${this.nSk} bytes`);
    }
    const k = bytesToBigInt(secretKey);
    if (k === 0n || k >= this.curve.n) {
      throw new HpkeError(`${name} is not a valid ${this.curve.name} scalar`);
    }
  }

  /** The public key of a secret key (validated first). */
  publicKeyOf(secretKey: Uint8Array): Uint8Array {
    this.validateSecretKey(secretKey);
    return this.curve.getPublicKey(secretKey, false);
  }

  // ---- DHKEM (§4.1) -------------------------------------------------------------------------------

  #extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
    const prk = this.#kemLabels.extract(EMPTY, "eae_prk", dh);
    const secret = this.#kemLabels.expand(prk, "shared_secret", kemContext, this.nSecret);
    wipe(prk);
    return secret;
  }

  /** Encap(pkR): the shared secret and the encapsulated key (the ephemeral public key). */
  encap(
    publicKeyR: Uint8Array,
    random: RandomSource = systemRandom,
  ): { sharedSecret: Uint8Array; enc: Uint8Array } {
    this.validatePublicKey(publicKeyR, "recipient public key");
    const eph = this.generateKeyPair(random);
    const dh = this.curve.ecdh(eph.secretKey, publicKeyR);
    const sharedSecret = this.#extractAndExpand(dh, concatBytes(eph.publicKey, publicKeyR));
    wipe(dh, eph.secretKey);
    return { sharedSecret, enc: eph.publicKey };
  }

  /**
   * Decap(enc, skR): the shared secret; HpkeError if `enc` is not a valid public key. `publicKeyR` saves
   * recomputing the recipient's public key when the caller holds it (it must be the one of `secretKeyR`).
   */
  decap(enc: Uint8Array, secretKeyR: Uint8Array, publicKeyR?: Uint8Array): Uint8Array {
    this.validatePublicKey(enc, "encapsulated key");
    this.validateSecretKey(secretKeyR, "recipient secret key");
    const pkR = publicKeyR ?? this.curve.getPublicKey(secretKeyR, false);
    const dh = this.curve.ecdh(secretKeyR, enc);
    const sharedSecret = this.#extractAndExpand(dh, concatBytes(enc, pkR));
    wipe(dh);
    return sharedSecret;
  }

  // ---- key schedule (§5.1), base mode ---------------------------------------------------------------

  #keySchedule(sharedSecret: Uint8Array, info: Uint8Array, role: "S" | "R"): HpkeContext {
    const l = this.#labels;
    const pskIdHash = l.extract(EMPTY, "psk_id_hash", EMPTY);
    const infoHash = l.extract(EMPTY, "info_hash", info);
    const context = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
    const secret = l.extract(sharedSecret, "secret", EMPTY);
    const key = l.expand(secret, "key", context, this.nk);
    const baseNonce = l.expand(secret, "base_nonce", context, this.nn);
    const exporterSecret = l.expand(secret, "exp", context, this.nh);
    wipe(secret, sharedSecret);
    return new HpkeContext(this.aeadId, key, baseNonce, exporterSecret, l, role);
  }

  /**
   * SetupBaseS (§5.1.1): the encapsulated key and the sender's context. `random` supplies the ephemeral
   * key's Nsk bytes of input keying material.
   */
  setupBaseS(
    publicKeyR: Uint8Array,
    info: Uint8Array = EMPTY,
    random: RandomSource = systemRandom,
  ): { enc: Uint8Array; context: HpkeContext } {
    checkBytes(info, "info");
    const { sharedSecret, enc } = this.encap(publicKeyR, random);
    return { enc, context: this.#keySchedule(sharedSecret, info, "S") };
  }

  /** SetupBaseR (§5.1.1): the recipient's context for an encapsulated key (`publicKeyR` as for decap). */
  setupBaseR(
    enc: Uint8Array,
    secretKeyR: Uint8Array,
    info: Uint8Array = EMPTY,
    publicKeyR?: Uint8Array,
  ): HpkeContext {
    checkBytes(enc, "enc");
    checkBytes(info, "info");
    return this.#keySchedule(this.decap(enc, secretKeyR, publicKeyR), info, "R");
  }

  /** SealBase (§6.1): single-shot encryption to `publicKeyR`. */
  sealBase(
    publicKeyR: Uint8Array,
    info: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    random: RandomSource = systemRandom,
  ): { enc: Uint8Array; ciphertext: Uint8Array } {
    const { enc, context } = this.setupBaseS(publicKeyR, info, random);
    const ciphertext = context.seal(plaintext, aad);
    context.destroy();
    return { enc, ciphertext };
  }

  /** OpenBase (§6.1): single-shot decryption; AuthenticationError (from the AEAD) if it does not open. */
  openBase(
    enc: Uint8Array,
    secretKeyR: Uint8Array,
    info: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    publicKeyR?: Uint8Array,
  ): Uint8Array {
    const context = this.setupBaseR(enc, secretKeyR, info, publicKeyR);
    try {
      return context.open(ciphertext, aad);
    } finally {
      context.destroy();
    }
  }

  /** The export-only path of the sender (§6.2): enc and Export(exporterContext, length). */
  sendExport(
    publicKeyR: Uint8Array,
    info: Uint8Array,
    exporterContext: Uint8Array,
    length: number,
    random: RandomSource = systemRandom,
  ): { enc: Uint8Array; secret: Uint8Array } {
    const { enc, context } = this.setupBaseS(publicKeyR, info, random);
    const secret = context.export(exporterContext, length);
    context.destroy();
    return { enc, secret };
  }

  /** The export-only path of the recipient (§6.2). */
  receiveExport(
    enc: Uint8Array,
    secretKeyR: Uint8Array,
    info: Uint8Array,
    exporterContext: Uint8Array,
    length: number,
  ): Uint8Array {
    const context = this.setupBaseR(enc, secretKeyR, info);
    const secret = context.export(exporterContext, length);
    context.destroy();
    return secret;
  }
}

/**
 * An encryption context (§5.2): a sender's seals or a recipient's opens under one key, the nonce being the
 * base nonce XOR the sequence number, plus Export (§5.3). A context refuses to wrap its sequence number.
 */
export class HpkeContext {
  readonly #aeadId: AeadId;
  readonly #key: Uint8Array;
  readonly #baseNonce: Uint8Array;
  readonly #exporterSecret: Uint8Array;
  readonly #labels: Labeled;
  readonly #role: "S" | "R";
  #gcm: AesGcm | undefined;
  #seq = 0;

  constructor(
    aeadId: AeadId,
    key: Uint8Array,
    baseNonce: Uint8Array,
    exporterSecret: Uint8Array,
    labels: Labeled,
    role: "S" | "R",
  ) {
    this.#aeadId = aeadId;
    this.#key = key;
    this.#baseNonce = baseNonce;
    this.#exporterSecret = exporterSecret;
    this.#labels = labels;
    this.#role = role;
  }

  /** The sequence number of the next seal or open. */
  get sequence(): number {
    return this.#seq;
  }

  #nonce(): Uint8Array {
    // Sequence numbers stay below 2^53 here (a JavaScript integer), far from the 2^96 − 1 limit of §5.2.
    if (this.#seq >= Number.MAX_SAFE_INTEGER) throw new HpkeError("HPKE message limit reached");
    const nonce = this.#baseNonce.slice();
    const seq = i2osp(this.#seq, 8);
    for (let i = 0; i < 8; i++) nonce[nonce.length - 8 + i] ^= seq[i];
    return nonce;
  }

  #aead(): AesGcm | undefined {
    if (this.#aeadId === AEAD.CHACHA20_POLY1305) return undefined;
    return this.#gcm ??= new AesGcm(this.#key);
  }

  /** Seal (sender only): ciphertext ‖ tag of `plaintext` with `aad`, then the sequence number advances. */
  seal(plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    if (this.#role !== "S") throw new HpkeError("a recipient context cannot seal");
    checkBytes(plaintext, "plaintext");
    checkBytes(aad, "aad");
    const nonce = this.#nonce();
    const gcm = this.#aead();
    const out = gcm
      ? gcm.seal(nonce, plaintext, aad)
      : chacha20Poly1305Seal(this.#key, nonce, plaintext, aad);
    this.#seq++;
    return out;
  }

  /** Open (recipient only): the plaintext, or AuthenticationError; the sequence number advances on success. */
  open(ciphertext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    if (this.#role !== "R") throw new HpkeError("a sender context cannot open");
    checkBytes(ciphertext, "ciphertext");
    checkBytes(aad, "aad");
    const nonce = this.#nonce();
    const gcm = this.#aead();
    const out = gcm
      ? gcm.open(nonce, ciphertext, aad)
      : chacha20Poly1305Open(this.#key, nonce, ciphertext, aad);
    this.#seq++;
    return out;
  }

  /** Export (§5.3): `length` bytes (at most 255 × Nh) bound to `exporterContext`. */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    checkBytes(exporterContext, "exporterContext");
    return this.#labels.expand(this.#exporterSecret, "sec", exporterContext, length);
  }

  /** Wipes the key material (best effort); the context is unusable afterwards. */
  destroy(): void {
    wipe(this.#key, this.#baseNonce, this.#exporterSecret);
    this.#gcm?.wipe();
    this.#gcm = undefined;
  }
}
