// The algorithm suite of sotto's end-to-end layer: curve, KEM and body-cipher identifiers, the
// type-prefixed public-key encodings every format uses (EncodeEC and EncodeKEM of the PQXDH specification,
// adapted to SEC1 points and ML-KEM, with disjoint type bytes), key pairs, and the optional trace hook the
// known-answer tests use to record intermediate values.

import { bytesToBigInt, checkBytes, type RandomSource, systemRandom } from "../crypto/bytes.ts";
import type { Curve } from "../crypto/ec.ts";
import { InvalidPointError } from "../crypto/errors.ts";
import { type MlKem, mlkem1024, mlkem768 } from "../crypto/mlkem.ts";
import { p256 } from "../crypto/p256.ts";
import { p384 } from "../crypto/p384.ts";
import { p521 } from "../crypto/p521.ts";
import type { Reader, Writer } from "./codec.ts";

/** The curves an identity covers; a chat runs on one of them (the initiator's choice). */
export type CurveName = "P-256" | "P-384" | "P-521";

/** Every curve, in the order all encodings list them. */
export const CURVES: readonly CurveName[] = ["P-256", "P-384", "P-521"];

const BY_NAME: Record<CurveName, { curve: Curve; id: number }> = {
  "P-256": { curve: p256, id: 0x01 },
  "P-384": { curve: p384, id: 0x02 },
  "P-521": { curve: p521, id: 0x03 },
};

/** Throws a TypeError unless `value` names a supported curve. */
export function checkCurveName(value: unknown, name = "curve"): asserts value is CurveName {
  if (typeof value !== "string" || !(CURVES as readonly string[]).includes(value)) {
    throw new TypeError(`${name} must be one of ${CURVES.join(", ")}, got ${String(value)}`);
  }
}

/** The crypto/ implementation of a curve. */
export function curveOf(name: CurveName): Curve {
  return BY_NAME[name].curve;
}

/** The one-byte identifier of a curve on the wire (0x01 P-256, 0x02 P-384, 0x03 P-521). */
export function curveId(name: CurveName): number {
  return BY_NAME[name].id;
}

/** The curve a wire identifier names, or undefined. */
export function curveFromId(id: number): CurveName | undefined {
  return CURVES.find((c) => BY_NAME[c].id === id);
}

/** The cipher that encrypts message bodies, chosen by the initiator for the whole chat. */
export type BodyCipher = "AES-256-GCM" | "ChaCha20-Poly1305";

/** Every body cipher; the first is the default. */
export const BODY_CIPHERS: readonly BodyCipher[] = ["AES-256-GCM", "ChaCha20-Poly1305"];

/** The one-byte identifier of a body cipher (0x01 AES-256-GCM, 0x02 ChaCha20-Poly1305). */
export function cipherId(cipher: BodyCipher): number {
  return cipher === "AES-256-GCM" ? 0x01 : 0x02;
}

/** The cipher a wire identifier names, or undefined. */
export function cipherFromId(id: number): BodyCipher | undefined {
  return id === 0x01 ? "AES-256-GCM" : id === 0x02 ? "ChaCha20-Poly1305" : undefined;
}

/** Throws a TypeError unless `value` names a supported body cipher. */
export function checkCipherName(value: unknown, name = "cipher"): asserts value is BodyCipher {
  if (typeof value !== "string" || !(BODY_CIPHERS as readonly string[]).includes(value)) {
    throw new TypeError(`${name} must be one of ${BODY_CIPHERS.join(", ")}, got ${String(value)}`);
  }
}

/** Bytes of an uncompressed SEC1 point (0x04 ‖ X ‖ Y) on the curve: 65, 97 or 133. */
export function pointLength(curve: CurveName): number {
  return 2 * curveOf(curve).byteLength + 1;
}

/** Bytes of EncodeEC on the curve: the type byte plus the uncompressed point (66, 98 or 134). */
export function encodedKeyLength(curve: CurveName): number {
  return 1 + pointLength(curve);
}

/**
 * EncodeEC: the curve's type byte, then the public key as an uncompressed SEC1 point. `publicKey` must
 * already be that uncompressed point (every key this layer holds is).
 */
export function encodeKey(curve: CurveName, publicKey: Uint8Array): Uint8Array {
  checkBytes(publicKey, "publicKey", pointLength(curve));
  const out = new Uint8Array(1 + publicKey.length);
  out[0] = curveId(curve);
  out.set(publicKey, 1);
  return out;
}

/** Writes EncodeEC(publicKey) to `w`. */
export function writeKey(w: Writer, curve: CurveName, publicKey: Uint8Array): Writer {
  return w.bytes(encodeKey(curve, publicKey));
}

/**
 * Reads EncodeEC of a key that must be on `curve`, validates the point (SP 800-56A r3 §5.6.2.3.3:
 * coordinates below p, on the curve, not infinity) and returns the uncompressed SEC1 point.
 */
export function readKey(r: Reader, curve: CurveName, field: string): Uint8Array {
  const type = r.u8(field);
  if (type !== curveId(curve)) {
    const named = curveFromId(type);
    r.fail(`${field} must be a ${curve} key, got ${named ?? `type 0x${type.toString(16).padStart(2, "0")}`}`);
  }
  return readPoint(r, curve, field);
}

/** Reads an uncompressed SEC1 point on `curve` (no type byte) and validates it. */
export function readPoint(r: Reader, curve: CurveName, field: string): Uint8Array {
  const point = r.bytes(pointLength(curve), field);
  try {
    curveOf(curve).decodePoint(point, field);
  } catch (e) {
    if (e instanceof InvalidPointError) r.fail(e.message, "malformed", e);
    throw e;
  }
  return point;
}

/** Reads a secret scalar for `curve` and checks it is in [1, n − 1]. */
export function readSecret(r: Reader, curve: CurveName, field: string): Uint8Array {
  const c = curveOf(curve);
  const bytes = r.bytes(c.byteLength, field);
  const k = bytesToBigInt(bytes);
  if (k === 0n || k >= c.n) r.fail(`${field} is not a valid ${curve} secret key`);
  return bytes;
}

// ---- KEMs ------------------------------------------------------------------------------------------

/** The post-quantum KEMs: ML-KEM-1024 for PQXDH prekeys, ML-KEM-768 in the ratchet (FIPS 203). */
export type KemName = "ML-KEM-768" | "ML-KEM-1024";

const KEMS: Record<KemName, { kem: MlKem; id: number }> = {
  "ML-KEM-768": { kem: mlkem768, id: 0x11 },
  "ML-KEM-1024": { kem: mlkem1024, id: 0x12 },
};

/** The crypto/ implementation of a KEM. */
export function kemOf(name: KemName): MlKem {
  return KEMS[name].kem;
}

/**
 * The type byte of EncodeKEM: 0x11 ML-KEM-768, 0x12 ML-KEM-1024. Curves use 0x01–0x03 and 0x10 and
 * above are KEM types, so no EncodeEC output is ever an EncodeKEM output (PQXDH §2.3's disjointness).
 */
export function kemId(name: KemName): number {
  return KEMS[name].id;
}

/** Bytes of EncodeKEM: the type byte plus the encapsulation key (1,185 or 1,569). */
export function encodedKemKeyLength(name: KemName): number {
  return 1 + KEMS[name].kem.publicKeyBytes;
}

/** True if every 12-bit coefficient of the encapsulation key is below q = 3329 (FIPS 203 §7.2's check). */
export function kemKeyIsValid(name: KemName, publicKey: Uint8Array): boolean {
  const kem = KEMS[name].kem;
  if (publicKey.length !== kem.publicKeyBytes) return false;
  // The last 32 bytes are the seed ρ; before it, each 3 bytes pack two little-endian 12-bit coefficients.
  const end = kem.publicKeyBytes - 32;
  for (let i = 0; i < end; i += 3) {
    const b1 = publicKey[i + 1];
    if ((publicKey[i] | ((b1 & 0x0f) << 8)) >= 3329 || ((b1 >> 4) | (publicKey[i + 2] << 4)) >= 3329) {
      return false;
    }
  }
  return true;
}

/** EncodeKEM: the KEM's type byte, then the encapsulation key (FIPS 203 byte order). */
export function encodeKemKey(name: KemName, publicKey: Uint8Array): Uint8Array {
  checkBytes(publicKey, "publicKey", KEMS[name].kem.publicKeyBytes);
  const out = new Uint8Array(1 + publicKey.length);
  out[0] = KEMS[name].id;
  out.set(publicKey, 1);
  return out;
}

/** Reads an encapsulation key of `name` without a type byte and applies the modulus check. */
export function readKemPublic(r: Reader, name: KemName, field: string): Uint8Array {
  const key = r.bytes(KEMS[name].kem.publicKeyBytes, field);
  if (!kemKeyIsValid(name, key)) r.fail(`${field} is not a valid ${name} encapsulation key`);
  return key;
}

/** Reads EncodeKEM of a key that must be of `name` and applies the modulus check. */
export function readKemKey(r: Reader, name: KemName, field: string): Uint8Array {
  const type = r.u8(field);
  if (type !== KEMS[name].id) {
    r.fail(`${field} must be an ${name} key, got type 0x${type.toString(16).padStart(2, "0")}`);
  }
  return readKemPublic(r, name, field);
}

// ---- key pairs -------------------------------------------------------------------------------------

/** An EC key pair; the public key is an uncompressed SEC1 point. */
export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A fresh key pair on `curve`: one random secret scalar (`byteLength` bytes drawn from `random`). */
export function generateKeyPair(curve: CurveName, random: RandomSource = systemRandom): KeyPair {
  const c = curveOf(curve);
  const secretKey = c.randomSecretKey(random);
  return { secretKey, publicKey: c.getPublicKey(secretKey, false) };
}

/**
 * Receives named intermediate values (secrets included) as they are computed. Only for known-answer
 * tests and debugging: never pass one in production, and copy what you keep (arrays may be wiped later).
 */
export type Trace = (label: string, value: Uint8Array) => void;
