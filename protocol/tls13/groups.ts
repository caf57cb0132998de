// The key exchange groups of our TLS 1.3 profile (RFC 8446 §4.2.7, §4.2.8): ECDHE on P-521, P-384 and
// P-256, each seen as a small KEM so that the state machines treat every group alike: the client makes a
// key share, the server answers it with its own share and the shared secret, and the client completes the
// shared secret from the server's share. Every peer share is checked before it is used; a bad one is an
// illegal_parameter.

import { type RandomSource, wipe } from "../../crypto/bytes.ts";
import type { Curve } from "../../crypto/ec.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { Alert, fail } from "./alert.ts";

/** A key exchange group (RFC 8446 §4.2.7) as a KEM over key_share bytes. */
export interface NamedGroup {
  readonly id: number;
  /** The IANA name, e.g. "secp521r1". */
  readonly name: string;
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

/** The groups we implement, by code point, in our order of preference. */
export const GROUPS: ReadonlyMap<number, NamedGroup> = new Map(
  [SECP521R1, SECP384R1, SECP256R1].map((g) => [g.id, g]),
);
