// The algorithms of our TLS 1.3 profile (RFC 8446 §B.4, §4.2.3): three cipher suites and one signature
// scheme, with the small adapters that bind them to the crypto core. The key exchange groups are in
// groups.ts.

import { AesGcm } from "../../crypto/aes.ts";
import { concatBytes } from "../../crypto/bytes.ts";
import { chacha20Poly1305Open, chacha20Poly1305Seal } from "../../crypto/chacha20poly1305.ts";
import { hashLength, type HashName } from "../../crypto/sha2.ts";

// engine.ts names the negotiated group by this type.
export type { NamedGroup } from "./groups.ts";

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

/** The one signature scheme of the profile: ECDSA over P-521 with SHA-512, DER signatures. */
export const ECDSA_SECP521R1_SHA512 = 0x0603;

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
