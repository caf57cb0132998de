// The three MLS cipher suites sotto implements (RFC 9420 §17.1) and the labelled functions every part of
// MLS derives from them (§5.1–5.2, §8): ExpandWithLabel, DeriveSecret, DeriveTreeSecret, RefHash,
// SignWithLabel / VerifyWithLabel (ECDSA with DER signatures, uncompressed SEC1 keys) and
// EncryptWithLabel / DecryptWithLabel (HPKE base mode).
//
//   2  MLS_128_DHKEMP256_AES128GCM_SHA256_P256
//   7  MLS_256_DHKEMP384_AES256GCM_SHA384_P384
//   5  MLS_256_DHKEMP521_AES256GCM_SHA512_P521

import { aesGcmOpen, aesGcmSeal } from "../../crypto/aes.ts";
import { type RandomSource, systemRandom, utf8 } from "../../crypto/bytes.ts";
import type { Curve } from "../../crypto/ec.ts";
import { hkdfExpand, hkdfExtract } from "../../crypto/hkdf.ts";
import { hmac } from "../../crypto/hmac.ts";
import { AEAD, Hpke, HpkeError, type HpkeKeyPair, KDF, KEM } from "../../crypto/hpke.ts";
import { hash, hashLength, type HashName } from "../../crypto/sha2.ts";
import { AuthenticationError } from "../../crypto/errors.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import type { CurveName } from "../suite.ts";
import { Writer } from "./codec.ts";
import { MlsError } from "./errors.ts";

/** The cipher suites of this implementation. */
export type SuiteId = 2 | 5 | 7;

/** Every suite, in the order sotto prefers them when it must choose (P-521, P-384, P-256). */
export const SUITE_IDS: readonly SuiteId[] = [5, 7, 2];

const LABEL_PREFIX = "MLS 1.0 ";
const EMPTY = new Uint8Array(0);

interface SuiteParams {
  name: string;
  curveName: CurveName;
  curve: Curve;
  hash: HashName;
  hpke: Hpke;
}

const PARAMS: Record<SuiteId, () => SuiteParams> = {
  2: () => ({
    name: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
    curveName: "P-256",
    curve: p256,
    hash: "SHA-256",
    hpke: new Hpke(KEM.P256_SHA256, KDF.HKDF_SHA256, AEAD.AES_128_GCM),
  }),
  7: () => ({
    name: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
    curveName: "P-384",
    curve: p384,
    hash: "SHA-384",
    hpke: new Hpke(KEM.P384_SHA384, KDF.HKDF_SHA384, AEAD.AES_256_GCM),
  }),
  5: () => ({
    name: "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
    curveName: "P-521",
    curve: p521,
    hash: "SHA-512",
    hpke: new Hpke(KEM.P521_SHA512, KDF.HKDF_SHA512, AEAD.AES_256_GCM),
  }),
};

const cache = new Map<SuiteId, CipherSuite>();

/** True if `id` is a suite this implementation supports. */
export function isSuiteId(id: number): id is SuiteId {
  return id === 2 || id === 5 || id === 7;
}

/** The suite object for an identifier; MlsError("unsupported") for any other suite. */
export function getSuite(id: number): CipherSuite {
  if (!isSuiteId(id)) {
    throw new MlsError("unsupported", `cipher suite ${id} is not supported (only 2, 5 and 7)`);
  }
  let s = cache.get(id);
  if (s === undefined) {
    s = new CipherSuite(id, PARAMS[id]());
    cache.set(id, s);
  }
  return s;
}

/** The suite whose signature curve is `curve` (a group's default follows its creator's curve). */
export function suiteForCurve(curve: CurveName): CipherSuite {
  return getSuite(curve === "P-256" ? 2 : curve === "P-384" ? 7 : 5);
}

function labelled(label: string, content: Uint8Array): Uint8Array {
  return new Writer(content.length + 40).opaque(utf8(LABEL_PREFIX + label)).opaque(content).finish();
}

/** One MLS cipher suite: its primitives and the labelled functions of RFC 9420. */
export class CipherSuite {
  readonly id: SuiteId;
  readonly name: string;
  /** The signature curve, which is also the KEM's curve. */
  readonly curveName: CurveName;
  readonly curve: Curve;
  readonly hashName: HashName;
  /** KDF.Nh: bytes of a hash, of an Extract output and of every secret. */
  readonly nh: number;
  /** AEAD.Nk and AEAD.Nn. */
  readonly nk: number;
  readonly nn: number;
  readonly hpke: Hpke;
  /** Bytes of a SEC1 uncompressed public key of the curve (HPKE and signature keys alike). */
  readonly publicKeyLength: number;

  constructor(id: SuiteId, p: SuiteParams) {
    this.id = id;
    this.name = p.name;
    this.curveName = p.curveName;
    this.curve = p.curve;
    this.hashName = p.hash;
    this.nh = hashLength(p.hash);
    this.hpke = p.hpke;
    this.nk = p.hpke.nk;
    this.nn = p.hpke.nn;
    this.publicKeyLength = p.hpke.nPk;
  }

  hash(data: Uint8Array): Uint8Array {
    return hash(this.hashName, data);
  }

  mac(key: Uint8Array, data: Uint8Array): Uint8Array {
    return hmac(this.hashName, key, data);
  }

  /** KDF.Extract(salt, ikm). */
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
    return hkdfExtract(this.hashName, salt, ikm);
  }

  /** ExpandWithLabel (§8): KDF.Expand(secret, KDFLabel{length, "MLS 1.0 " + label, context}, length). */
  expandWithLabel(secret: Uint8Array, label: string, context: Uint8Array, length: number): Uint8Array {
    const info = new Writer(context.length + 40).u16(length).opaque(utf8(LABEL_PREFIX + label)).opaque(
      context,
    )
      .finish();
    return hkdfExpand(this.hashName, secret, info, length);
  }

  /** DeriveSecret(secret, label) = ExpandWithLabel(secret, label, "", Nh). */
  deriveSecret(secret: Uint8Array, label: string): Uint8Array {
    return this.expandWithLabel(secret, label, EMPTY, this.nh);
  }

  /** DeriveTreeSecret (§9.1): ExpandWithLabel with the generation as a big-endian uint32 context. */
  deriveTreeSecret(secret: Uint8Array, label: string, generation: number, length: number): Uint8Array {
    return this.expandWithLabel(secret, label, new Writer(4).u32(generation).finish(), length);
  }

  /** RefHash (§5.2): Hash(RefHashInput{label, value}); `label` is used as given (it carries "MLS 1.0 "). */
  refHash(label: string, value: Uint8Array): Uint8Array {
    return this.hash(new Writer(value.length + 40).opaque(utf8(label)).opaque(value).finish());
  }

  /** MakeKeyPackageRef (§5.2). */
  keyPackageRef(keyPackage: Uint8Array): Uint8Array {
    return this.refHash("MLS 1.0 KeyPackage Reference", keyPackage);
  }

  /** MakeProposalRef (§5.2) of an encoded AuthenticatedContent. */
  proposalRef(authenticatedContent: Uint8Array): Uint8Array {
    return this.refHash("MLS 1.0 Proposal Reference", authenticatedContent);
  }

  // ---- signatures ----------------------------------------------------------------------------------

  /**
   * A secret scalar as exactly `byteLength` bytes: some encoders drop leading zero bytes (a 65-byte P-521
   * key), which Field-Element-to-Octet-String keeps. Longer values are refused.
   */
  secretKey(bytes: Uint8Array): Uint8Array {
    const n = this.curve.byteLength;
    if (bytes.length === n) return bytes;
    if (bytes.length > n) {
      throw new MlsError("invalid-key", `a ${this.curveName} secret key has at most ${n} bytes`);
    }
    const out = new Uint8Array(n);
    out.set(bytes, n - bytes.length);
    return out;
  }

  /** SignWithLabel (§5.1.2): DER-encoded ECDSA (RFC 6979 nonces) over SignContent. */
  signWithLabel(secretKey: Uint8Array, label: string, content: Uint8Array): Uint8Array {
    return this.curve.signatureToDer(this.curve.sign(this.secretKey(secretKey), labelled(label, content)));
  }

  /** VerifyWithLabel (§5.1.2): false for any bad signature or key; never throws. */
  verifyWithLabel(publicKey: Uint8Array, label: string, content: Uint8Array, signature: Uint8Array): boolean {
    let raw: Uint8Array;
    try {
      raw = this.curve.signatureFromDer(signature);
    } catch {
      return false;
    }
    return this.curve.verify(publicKey, labelled(label, content), raw);
  }

  /** The signature public key of a secret key (uncompressed SEC1). */
  signaturePublicKey(secretKey: Uint8Array): Uint8Array {
    return this.curve.getPublicKey(this.secretKey(secretKey), false);
  }

  /** A fresh signature key pair (tests and key packages of non-sotto clients). */
  generateSignatureKeyPair(
    random: RandomSource = systemRandom,
  ): { secretKey: Uint8Array; publicKey: Uint8Array } {
    const secretKey = this.curve.randomSecretKey(random);
    return { secretKey, publicKey: this.curve.getPublicKey(secretKey, false) };
  }

  /**
   * Throws MlsError("invalid-key") unless `key` is an uncompressed SEC1 point on the suite's curve
   * (§5.1.1: signature and HPKE keys are UncompressedPointRepresentation).
   */
  validatePublicKey(key: Uint8Array, what: string): void {
    try {
      this.hpke.validatePublicKey(key, what);
    } catch (e) {
      throw new MlsError("invalid-key", `${what} is not a valid ${this.curveName} public key`, { cause: e });
    }
  }

  // ---- public-key encryption -----------------------------------------------------------------------

  /** DeriveKeyPair of the suite's KEM. */
  deriveKeyPair(secret: Uint8Array): HpkeKeyPair {
    return this.hpke.deriveKeyPair(secret);
  }

  /** EncryptWithLabel (§5.1.3): SealBase(pk, EncryptContext{"MLS 1.0 " + label, context}, "", plaintext). */
  encryptWithLabel(
    publicKey: Uint8Array,
    label: string,
    context: Uint8Array,
    plaintext: Uint8Array,
    random: RandomSource = systemRandom,
  ): { kemOutput: Uint8Array; ciphertext: Uint8Array } {
    const { enc, ciphertext } = this.hpke.sealBase(
      publicKey,
      labelled(label, context),
      EMPTY,
      plaintext,
      random,
    );
    return { kemOutput: enc, ciphertext };
  }

  /**
   * DecryptWithLabel (§5.1.3); MlsError("undecryptable") for a ciphertext that does not open or a KEM
   * output that is not a valid point. `publicKey` (that of `secretKey`) saves a scalar multiplication.
   */
  decryptWithLabel(
    secretKey: Uint8Array,
    label: string,
    context: Uint8Array,
    kemOutput: Uint8Array,
    ciphertext: Uint8Array,
    publicKey?: Uint8Array,
  ): Uint8Array {
    try {
      const sk = this.secretKey(secretKey);
      return this.hpke.openBase(kemOutput, sk, labelled(label, context), EMPTY, ciphertext, publicKey);
    } catch (e) {
      if (e instanceof AuthenticationError || e instanceof HpkeError) {
        throw new MlsError("undecryptable", `cannot decrypt the ${label} ciphertext`, { cause: e });
      }
      throw e;
    }
  }

  // ---- AEAD ----------------------------------------------------------------------------------------

  aeadSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return aesGcmSeal(key, nonce, plaintext, aad);
  }

  /** AEAD open; MlsError("undecryptable") when it does not authenticate. */
  aeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    what: string,
  ): Uint8Array {
    try {
      return aesGcmOpen(key, nonce, ciphertext, aad);
    } catch (e) {
      if (e instanceof AuthenticationError || e instanceof RangeError) {
        throw new MlsError("undecryptable", `${what} does not decrypt`, { cause: e });
      }
      throw e;
    }
  }
}
