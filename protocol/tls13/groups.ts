// The key exchange groups of our TLS 1.3 profile (RFC 8446 §4.2.7, §4.2.8): the post-quantum hybrids
// SecP384r1MLKEM1024 and SecP256r1MLKEM768 (draft-ietf-tls-ecdhe-mlkem), and ECDHE on P-521, P-384 and
// P-256. Each is seen as a small KEM so that the state machines treat every group alike: the client makes
// a key share, the server answers it with its own share and the shared secret, and the client completes
// the shared secret from the server's share. Every peer share is checked before it is used; a bad one is
// an illegal_parameter.

import { checkBytes, concatBytes, type RandomSource, wipe } from "../../crypto/bytes.ts";
import type { Curve } from "../../crypto/ec.ts";
import { type MlKem, mlkem1024, mlkem768 } from "../../crypto/mlkem.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { Alert, fail } from "./alert.ts";

/** A key exchange group (RFC 8446 §4.2.7) as a KEM over key_share bytes. */
export interface NamedGroup {
  readonly id: number;
  /** The IANA name, e.g. "secp521r1" or "SecP384r1MLKEM1024". */
  readonly name: string;
  /** True for a post-quantum hybrid: ECDHE and ML-KEM, the key safe while either one holds. */
  readonly hybrid: boolean;
  /** Bytes of the client's key_share and of the server's (for ECDHE both are 1 + 2 × the field size). */
  readonly clientShareLength: number;
  readonly serverShareLength: number;
  /** The client's ephemeral secret (for `complete` only; the caller wipes it) and its key_share. */
  keyShare(random: RandomSource): { secretKey: Uint8Array; share: Uint8Array };
  /** The server's side: checks the client's share, then gives the server's share and the shared secret. */
  respond(clientShare: Uint8Array, random: RandomSource): { share: Uint8Array; shared: Uint8Array };
  /** The client's side: checks the server's share, then gives the shared secret. */
  complete(secretKey: Uint8Array, serverShare: Uint8Array): Uint8Array;
}

/** An ECDHE key pair: the secret scalar and the uncompressed point 04 ‖ X ‖ Y. */
function ecKeyPair(curve: Curve, random: RandomSource): { secretKey: Uint8Array; share: Uint8Array } {
  const secretKey = curve.randomSecretKey(random);
  return { secretKey, share: curve.getPublicKey(secretKey, false) };
}

/**
 * The ECDHE shared secret (the x-coordinate, fixed length, RFC 8446 §7.4.2) with a peer's point, which
 * must be uncompressed, of the exact length and on the curve (§4.2.8.2); anything else is an
 * illegal_parameter naming `what`.
 */
function ecdh(curve: Curve, what: string, secretKey: Uint8Array, point: Uint8Array): Uint8Array {
  const length = 1 + 2 * curve.byteLength;
  if (point.length !== length || point[0] !== 0x04) {
    fail(Alert.illegal_parameter, `${what} must be an uncompressed point of ${length} bytes`);
  }
  try {
    return curve.ecdh(secretKey, point);
  } catch {
    return fail(Alert.illegal_parameter, `${what} is not a valid point`);
  }
}

function ecdheGroup(id: number, name: string, curve: Curve): NamedGroup {
  const length = 1 + 2 * curve.byteLength;
  const what = `${name} key_share`;
  return Object.freeze({
    id,
    name,
    hybrid: false,
    clientShareLength: length,
    serverShareLength: length,
    keyShare: (random: RandomSource) => ecKeyPair(curve, random),
    respond(clientShare: Uint8Array, random: RandomSource) {
      const mine = ecKeyPair(curve, random);
      const shared = ecdh(curve, what, mine.secretKey, clientShare);
      wipe(mine.secretKey);
      return { share: mine.share, shared };
    },
    complete: (secretKey: Uint8Array, serverShare: Uint8Array) => ecdh(curve, what, secretKey, serverShare),
  });
}

export const SECP256R1: NamedGroup = ecdheGroup(0x0017, "secp256r1", p256);
export const SECP384R1: NamedGroup = ecdheGroup(0x0018, "secp384r1", p384);
export const SECP521R1: NamedGroup = ecdheGroup(0x0019, "secp521r1", p521);

/** `n` bytes from a caller-supplied random source, checked. */
function randomBytes(random: RandomSource, n: number): Uint8Array {
  const bytes = random(n);
  checkBytes(bytes, `random(${n}) result`, n);
  return bytes;
}

/**
 * A hybrid of ECDHE on `curve` and `kem` as draft-ietf-tls-ecdhe-mlkem defines SecP256r1MLKEM768 and
 * SecP384r1MLKEM1024: the client's share is its uncompressed point ‖ the ML-KEM encapsulation key, the
 * server's is its point ‖ the ML-KEM ciphertext, and the shared secret is the ECDH x-coordinate ‖ the
 * ML-KEM shared secret (the EC part first for these two; X25519MLKEM768, which we do not implement, puts
 * ML-KEM first).
 */
function hybridGroup(id: number, name: string, curve: Curve, kem: MlKem): NamedGroup {
  const point = 1 + 2 * curve.byteLength;
  const clientShareLength = point + kem.publicKeyBytes;
  const serverShareLength = point + kem.cipherTextBytes;
  return Object.freeze({
    id,
    name,
    hybrid: true,
    clientShareLength,
    serverShareLength,
    keyShare(random: RandomSource) {
      const ec = ecKeyPair(curve, random);
      const seed = randomBytes(random, 64); // d ‖ z (FIPS 203 Algorithm 16)
      const kp = kem.keygen(seed);
      const secretKey = concatBytes(ec.secretKey, kp.secretKey);
      wipe(seed, ec.secretKey, kp.secretKey);
      return { secretKey, share: concatBytes(ec.share, kp.publicKey) };
    },
    respond(clientShare: Uint8Array, random: RandomSource) {
      if (clientShare.length !== clientShareLength) {
        fail(Alert.illegal_parameter, `${name} key_share must be ${clientShareLength} bytes`);
      }
      // The draft: the encapsulation key check of FIPS 203 §7.2 (every coefficient below q), failing with
      // illegal_parameter. It is the cheaper half, so it goes first.
      const m = randomBytes(random, 32);
      let kemPart: { cipherText: Uint8Array; sharedSecret: Uint8Array };
      try {
        kemPart = kem.encapsulate(clientShare.subarray(point), m);
      } catch (e) {
        if (e instanceof RangeError) {
          fail(Alert.illegal_parameter, `${name} key_share holds an invalid ${kem.name} encapsulation key`);
        }
        throw e;
      } finally {
        wipe(m);
      }
      const mine = ecKeyPair(curve, random);
      try {
        const what = `${name} key_share's ${curve.name} point`;
        const ecShared = ecdh(curve, what, mine.secretKey, clientShare.subarray(0, point));
        const shared = concatBytes(ecShared, kemPart.sharedSecret);
        wipe(ecShared);
        return { share: concatBytes(mine.share, kemPart.cipherText), shared };
      } finally {
        wipe(mine.secretKey, kemPart.sharedSecret); // also when the point is refused
      }
    },
    complete(secretKey: Uint8Array, serverShare: Uint8Array) {
      // The draft: a ciphertext of the wrong length is an illegal_parameter, as is a bad EC point.
      if (serverShare.length !== serverShareLength) {
        fail(Alert.illegal_parameter, `${name} key_share must be ${serverShareLength} bytes`);
      }
      const what = `${name} key_share's ${curve.name} point`;
      const ecShared = ecdh(
        curve,
        what,
        secretKey.subarray(0, curve.byteLength),
        serverShare.subarray(0, point),
      );
      let kemShared: Uint8Array;
      try {
        kemShared = kem.decapsulate(serverShare.subarray(point), secretKey.subarray(curve.byteLength));
      } catch {
        // Lengths are checked above and our own key is well formed, so this cannot happen; the draft asks
        // for internal_error if ML-KEM decapsulation fails for any other reason.
        wipe(ecShared);
        return fail(Alert.internal_error, `${kem.name} decapsulation failed`);
      }
      const shared = concatBytes(ecShared, kemShared);
      wipe(ecShared, kemShared);
      return shared;
    },
  });
}

export const SECP256R1MLKEM768: NamedGroup = hybridGroup(0x11eb, "SecP256r1MLKEM768", p256, mlkem768);
export const SECP384R1MLKEM1024: NamedGroup = hybridGroup(0x11ed, "SecP384r1MLKEM1024", p384, mlkem1024);

/**
 * The groups we implement, by code point, in our order of preference: the post-quantum hybrids first (a
 * recorded session stays secret unless both P-384 and ML-KEM-1024 fall), then ECDHE.
 */
export const GROUPS: ReadonlyMap<number, NamedGroup> = new Map(
  [SECP384R1MLKEM1024, SECP256R1MLKEM768, SECP521R1, SECP384R1, SECP256R1].map((g) => [g.id, g]),
);
