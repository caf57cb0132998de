// Safety numbers: 60 digits in groups of five, the same on both sides, recomputed here from the
// documented definition with SHA-512 alone, and different as soon as any identity key differs.
import assert from "node:assert/strict";
import { bytesToBigInt, concatBytes, utf8 } from "../../crypto/bytes.ts";
import { sha512 } from "../../crypto/sha2.ts";
import { encodeIdentityPublic, generateIdentity, type IdentityPublic } from "../../protocol/identity.ts";
import { fingerprintDigits, SAFETY_ITERATIONS, safetyNumber } from "../../protocol/safety.ts";
import { seededRandom } from "./_helpers.ts";

const random = seededRandom("safety");
const alice = generateIdentity(random), bob = generateIdentity(random), carol = generateIdentity(random);

/** docs/protocol.md §9, written out independently of protocol/safety.ts. */
function reference(keys: IdentityPublic, id: Uint8Array): string {
  const enc = encodeIdentityPublic(keys);
  let h = sha512(concatBytes(utf8("sotto safety number v1"), id, enc));
  for (let i = 0; i < SAFETY_ITERATIONS; i++) h = sha512(concatBytes(h, enc));
  let out = "";
  for (let i = 0; i < 6; i++) {
    out += String(bytesToBigInt(h.slice(5 * i, 5 * i + 5)) % 100000n).padStart(5, "0");
  }
  return out;
}

Deno.test("safety number: 60 digits in 12 groups of five, the same on both sides", () => {
  const ab = safetyNumber(alice.publicKeys, bob.publicKeys);
  assert.match(ab, /^\d{5}( \d{5}){11}$/);
  assert.equal(safetyNumber(bob.publicKeys, alice.publicKeys), ab);
  const halves = [reference(alice.publicKeys, alice.id), reference(bob.publicKeys, bob.id)].sort();
  assert.equal(ab.replaceAll(" ", ""), halves.join(""));
  assert.equal(fingerprintDigits(alice.publicKeys), reference(alice.publicKeys, alice.id));
});

Deno.test("safety number: changes when any key of either identity changes", () => {
  const ab = safetyNumber(alice.publicKeys, bob.publicKeys);
  assert.notEqual(safetyNumber(alice.publicKeys, carol.publicKeys), ab);
  const swapped = {
    ...bob.publicKeys,
    "P-384": { ...bob.publicKeys["P-384"], dh: carol.publicKeys["P-384"].dh },
  };
  const other = safetyNumber(alice.publicKeys, swapped);
  assert.notEqual(other, ab);
  // Alice's half is unchanged: the change shows in Bob's half only.
  const mine = fingerprintDigits(alice.publicKeys);
  assert.ok(ab.replaceAll(" ", "").includes(mine) && other.replaceAll(" ", "").includes(mine));
});
