// Safety numbers: 60 digits that two people compare (read aloud or side by side) to check that each
// holds the other's real identity keys. Modelled on Signal's numeric fingerprints: each identity gives
// 30 digits from an iterated SHA-512 over its ID and all its public keys; the two halves are sorted so
// both sides show the same number. Exact definition: docs/protocol.md §9.

import { bytesToBigInt, concatBytes, utf8 } from "../crypto/bytes.ts";
import { sha512 } from "../crypto/sha2.ts";
import { deriveId, encodeIdentityPublic, type IdentityPublic } from "./identity.ts";

/** SHA-512 iterations per identity (Signal's figure): it multiplies the cost of searching for a collision. */
export const SAFETY_ITERATIONS = 5200;

const LABEL = utf8("sotto safety number v1");

/**
 * The 30 digits of one identity: h = SHA-512(label ‖ ID ‖ keys), then SAFETY_ITERATIONS times
 * h = SHA-512(h ‖ keys); the first 30 bytes of h as six 5-byte big-endian numbers, each mod 100000 and
 * written as 5 digits.
 */
export function fingerprintDigits(keys: IdentityPublic): string {
  const encoded = encodeIdentityPublic(keys);
  let h = sha512(concatBytes(LABEL, deriveId(keys), encoded));
  const buf = new Uint8Array(h.length + encoded.length);
  buf.set(encoded, h.length);
  for (let i = 0; i < SAFETY_ITERATIONS; i++) {
    buf.set(h, 0);
    h = sha512(buf);
  }
  let digits = "";
  for (let i = 0; i < 30; i += 5) {
    digits += (bytesToBigInt(h.subarray(i, i + 5)) % 100000n).toString().padStart(5, "0");
  }
  return digits;
}

/**
 * The safety number of two identities: their two 30-digit halves in ascending order, as 12 groups of 5
 * digits separated by spaces. The same whichever side computes it.
 */
export function safetyNumber(a: IdentityPublic, b: IdentityPublic): string {
  const halves = [fingerprintDigits(a), fingerprintDigits(b)].sort();
  return (halves[0] + halves[1]).match(/\d{5}/g)!.join(" ");
}
