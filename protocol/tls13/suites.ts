// The algorithms of our TLS 1.3 profile (RFC 8446 §B.4, §4.2.7, §4.2.3): three cipher suites, three
// ECDHE groups and one signature scheme, with the small adapters that bind them to the crypto core.

import { AesGcm } from "../../crypto/aes.ts";
import { concatBytes, type RandomSource } from "../../crypto/bytes.ts";
import { chacha20Poly1305Open, chacha20Poly1305Seal } from "../../crypto/chacha20poly1305.ts";
import type { Curve } from "../../crypto/ec.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { hashLength, type HashName } from "../../crypto/sha2.ts";
import { Alert, fail } from "./alert.ts";

/** An AEAD under one key (RFC 5116 interface, 12-byte nonces, 16-byte tags). */
export interface Aead {
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Throws AuthenticationError, releasing nothing, if the input does not authenticate. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array;
  wipe(): void;
}

/** A TLS 1.3 cipher suite: an AEAD with its key length, and the hash of HKDF and the transcript. */
export interface CipherSuite {
  readonly id: number;
  readonly name: string;
  readonly hash: HashName;
  readonly hashLength: number;
  readonly keyLength: number;
  createAead(key: Uint8Array): Aead;
}

class ChaChaPoly implements Aead {
  readonly #key: Uint8Array;
  constructor(key: Uint8Array) {
    this.#key = key.slice();
  }
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    return chacha20Poly1305Seal(this.#key, nonce, plaintext, aad);
  }
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
    return chacha20Poly1305Open(this.#key, nonce, sealed, aad);
  }
  wipe(): void {
    this.#key.fill(0);
  }
}

export const TLS_AES_256_GCM_SHA384: CipherSuite = Object.freeze({
  id: 0x1302,
  name: "TLS_AES_256_GCM_SHA384",
  hash: "SHA-384",
  hashLength: hashLength("SHA-384"),
  keyLength: 32,
  createAead: (key: Uint8Array): Aead => new AesGcm(key),
});

/** The one suite RFC 8446 §9.1 makes mandatory to implement; offered last (see CIPHER_SUITES). */
export const TLS_AES_128_GCM_SHA256: CipherSuite = Object.freeze({
  id: 0x1301,
  name: "TLS_AES_128_GCM_SHA256",
  hash: "SHA-256",
  hashLength: hashLength("SHA-256"),
  keyLength: 16,
  createAead: (key: Uint8Array): Aead => new AesGcm(key),
});

export const TLS_CHACHA20_POLY1305_SHA256: CipherSuite = Object.freeze({
  id: 0x1303,
  name: "TLS_CHACHA20_POLY1305_SHA256",
  hash: "SHA-256",
  hashLength: hashLength("SHA-256"),
  keyLength: 32,
  createAead: (key: Uint8Array): Aead => new ChaChaPoly(key),
});

/**
 * The suites we implement, by code point, in our order of preference: the 256-bit keys first (against a
 * quantum attacker, Grover's search halves a key's strength, leaving AES-128 with 64 bits), then
 * AES-128-GCM, which RFC 8446 §9.1 requires us to have for peers that offer nothing else.
 */
export const CIPHER_SUITES: ReadonlyMap<number, CipherSuite> = new Map(
  [TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256].map((s) => [s.id, s]),
);

/** An ECDHE group (RFC 8446 §4.2.7) over one of our curves; shares are uncompressed points. */
export interface NamedGroup {
  readonly id: number;
  readonly name: string;
  readonly curve: Curve;
  /** Bytes in a key_share: 1 + 2 × the field size (133 for secp521r1). */
  readonly shareLength: number;
}

function group(id: number, name: string, curve: Curve): NamedGroup {
  return Object.freeze({ id, name, curve, shareLength: 1 + 2 * curve.byteLength });
}

export const SECP256R1: NamedGroup = group(0x0017, "secp256r1", p256);
export const SECP384R1: NamedGroup = group(0x0018, "secp384r1", p384);
export const SECP521R1: NamedGroup = group(0x0019, "secp521r1", p521);

/** The groups we implement, by code point, in our order of preference. */
export const GROUPS: ReadonlyMap<number, NamedGroup> = new Map(
  [SECP521R1, SECP384R1, SECP256R1].map((g) => [g.id, g]),
);

/** The one signature scheme of the profile: ECDSA over P-521 with SHA-512, DER signatures. */
export const ECDSA_SECP521R1_SHA512 = 0x0603;

/** An ephemeral key pair for a group: the secret key and the key_share bytes (04 ‖ X ‖ Y). */
export function generateKeyShare(
  g: NamedGroup,
  random: RandomSource,
): { secretKey: Uint8Array; share: Uint8Array } {
  const secretKey = g.curve.randomSecretKey(random);
  return { secretKey, share: g.curve.getPublicKey(secretKey, false) };
}

/**
 * The ECDHE shared secret (the x-coordinate, fixed length) with the peer's key_share. The share must be
 * an uncompressed point of the exact length, on the curve (RFC 8446 §4.2.8.2); anything else is an
 * illegal_parameter.
 */
export function sharedSecret(g: NamedGroup, secretKey: Uint8Array, peerShare: Uint8Array): Uint8Array {
  if (peerShare.length !== g.shareLength || peerShare[0] !== 0x04) {
    fail(
      Alert.illegal_parameter,
      `${g.name} key_share must be an uncompressed point of ${g.shareLength} bytes`,
    );
  }
  try {
    return g.curve.ecdh(secretKey, peerShare);
  } catch {
    return fail(Alert.illegal_parameter, `${g.name} key_share is not a valid point`);
  }
}

/** The content a CertificateVerify signs (RFC 8446 §4.4.3): 64 spaces, the context string, 0, the hash. */
export function certificateVerifyContent(transcriptHash: Uint8Array, server: boolean): Uint8Array {
  const context = server ? "TLS 1.3, server CertificateVerify" : "TLS 1.3, client CertificateVerify";
  const prefix = new Uint8Array(64).fill(0x20);
  return concatBytes(prefix, new TextEncoder().encode(context), Uint8Array.of(0), transcriptHash);
}

/** Resolves a list of code points against what we implement; unknown or repeated ones are a RangeError. */
export function pick<T>(ids: number[] | undefined, known: ReadonlyMap<number, T>, name: string): T[] {
  if (ids === undefined) return [...known.values()];
  if (!Array.isArray(ids) || ids.length === 0) throw new TypeError(`${name} must be a non-empty array`);
  return ids.map((id, i) => {
    const v = known.get(id);
    if (v === undefined || ids.indexOf(id) !== i) {
      throw new RangeError(
        `${name}: ${typeof id === "number" ? `0x${id.toString(16)}` : String(id)} is not supported`,
      );
    }
    return v;
  });
}
