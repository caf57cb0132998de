// Identities: key structure, the self-certifying ID (derivation, written form, parsing), the public and
// secret encodings with their validation, and context-separated signatures.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, equalBytes, utf8 } from "../../crypto/bytes.ts";
import { sha512 } from "../../crypto/sha2.ts";
import { p256 } from "../../crypto/p256.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import {
  checkId,
  decodeIdentity,
  decodeIdentityPublic,
  deriveId,
  encodeIdentity,
  encodeIdentityPublic,
  formatId,
  generateIdentity,
  ID_BYTES,
  idMatches,
  parseId,
  signWithContext,
  verifyWithContext,
} from "../../protocol/identity.ts";
import { curveOf, CURVES } from "../../protocol/suite.ts";
import { decisions, flip, seededRandom, throwsCode } from "./_helpers.ts";

const alice = generateIdentity(seededRandom("identity alice"));
const bob = generateIdentity(seededRandom("identity bob"));

Deno.test("an identity has a signing key and a separate DH key on every curve", () => {
  for (const c of CURVES) {
    const curve = curveOf(c);
    const { sign, dh } = alice.secretKeys[c];
    assert.ok(!equalBytes(sign, dh));
    assert.ok(equalBytes(curve.getPublicKey(sign, false), alice.publicKeys[c].sign));
    assert.ok(equalBytes(curve.getPublicKey(dh, false), alice.publicKeys[c].dh));
  }
  assert.equal(encodeIdentityPublic(alice.publicKeys).length, 1 + 2 * (66 + 98 + 134));
});

Deno.test("the ID is the first 20 bytes of SHA-512(label ‖ public identity)", () => {
  const expected = sha512(concatBytes(utf8("sotto id v1"), encodeIdentityPublic(alice.publicKeys))).slice(
    0,
    20,
  );
  assert.equal(bytesToHex(alice.id), bytesToHex(expected));
  assert.ok(equalBytes(deriveId(alice.publicKeys), alice.id));
  assert.ok(idMatches(alice.id, alice.publicKeys));
  assert.ok(!idMatches(bob.id, alice.publicKeys));
  checkId(alice.id, alice.publicKeys);
  throwsCode(() => checkId(bob.id, alice.publicKeys), "id-mismatch");
  // Any one key swapped changes the ID.
  for (const c of CURVES) {
    for (const k of ["sign", "dh"] as const) {
      const keys = { ...alice.publicKeys, [c]: { ...alice.publicKeys[c], [k]: bob.publicKeys[c][k] } };
      assert.ok(!idMatches(alice.id, keys), `${c} ${k}`);
    }
  }
});

Deno.test("IDs are written as 8 groups of 4 lower-case Crockford base32 characters", () => {
  const text = formatId(alice.id);
  assert.match(text, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){7}$/);
  assert.equal(formatId(new Uint8Array(20)), "0000-0000-0000-0000-0000-0000-0000-0000");
  assert.equal(formatId(new Uint8Array(20).fill(255)), "zzzz-zzzz-zzzz-zzzz-zzzz-zzzz-zzzz-zzzz");
  // 0x00 0x44 0x32 0x14 0xc7 = 00000 00001 00010 00011 00100 00101 00110 00111
  const counting = new Uint8Array(20);
  counting.set([0x00, 0x44, 0x32, 0x14, 0xc7]);
  assert.equal(formatId(counting).slice(0, 9), "0123-4567");
  assert.throws(() => formatId(new Uint8Array(19)), RangeError);
});

Deno.test("IDs parse whatever the case and separators, with Crockford's look-alikes", () => {
  const d = decisions(9);
  for (let i = 0; i < 200; i++) {
    const id = crypto.getRandomValues(new Uint8Array(ID_BYTES));
    const canonical = formatId(id);
    assert.ok(equalBytes(parseId(canonical), id));
    const plain = canonical.replaceAll("-", "");
    let messy = "";
    for (const ch of plain) {
      messy += d.chance(0.5) ? ch.toUpperCase() : ch;
      if (d.chance(0.2)) messy += [" ", "-", "_", ".", ":", "\t"][d.int(6)];
    }
    assert.ok(equalBytes(parseId(messy), id));
  }
  const id = parseId("1000-0000-0000-0000-0000-0000-0000-0000");
  assert.ok(equalBytes(parseId("i000 OOOO 0000 0000 0000 0000 0000 0000"), id));
  assert.ok(equalBytes(parseId("L000.0000.0000.0000.0000.0000.0000.000o"), id));
  for (
    const bad of [
      "",
      "0".repeat(31),
      "0".repeat(33),
      "u" + "0".repeat(31),
      "0".repeat(31) + "!",
      "0".repeat(31) + "é",
    ]
  ) {
    throwsCode(() => parseId(bad), "malformed");
  }
  assert.throws(() => parseId(42 as unknown as string), TypeError);
});

Deno.test("public identity encoding: round trip, and every bad key or length refused", () => {
  const bytes = encodeIdentityPublic(alice.publicKeys);
  const back = decodeIdentityPublic(bytes);
  assert.ok(equalBytes(deriveId(back), alice.id));
  throwsCode(() => decodeIdentityPublic(flip(bytes, 0)), "unsupported");
  throwsCode(() => decodeIdentityPublic(bytes.slice(0, -1)), "malformed");
  throwsCode(() => decodeIdentityPublic(concatBytes(bytes, new Uint8Array(1))), "malformed");
  // A wrong curve type byte, and points off the curve, in every key.
  let off = 1;
  for (const c of CURVES) {
    const len = 1 + 2 * curveOf(c).byteLength + 1;
    for (let k = 0; k < 2; k++) {
      const e1 = throwsCode(() => decodeIdentityPublic(flip(bytes, off, 2)), "malformed");
      assert.match(e1.message, /must be a P-/);
      const e2 = throwsCode(() => decodeIdentityPublic(flip(bytes, off + len - 1)), "malformed");
      assert.match(e2.message, /not on the curve|not below p/);
      off += len;
    }
  }
  // The point at infinity and compressed points are refused.
  const compressed = concatBytes(
    bytes.subarray(0, 2),
    p256.getPublicKey(alice.secretKeys["P-256"].sign, true),
  );
  throwsCode(() => decodeIdentityPublic(compressed), "malformed");
});

Deno.test("secret identity encoding: round trip recomputes the public keys; bad scalars refused", () => {
  const bytes = encodeIdentity(alice);
  assert.equal(bytes.length, 1 + 2 * (32 + 48 + 66));
  const back = decodeIdentity(bytes);
  assert.ok(equalBytes(back.id, alice.id));
  assert.ok(equalBytes(encodeIdentityPublic(back.publicKeys), encodeIdentityPublic(alice.publicKeys)));
  const zero = bytes.slice();
  zero.fill(0, 1, 33);
  throwsCode(() => decodeIdentity(zero), "malformed");
  const big = bytes.slice();
  big.fill(0xff, 1, 33); // ≥ n
  throwsCode(() => decodeIdentity(big), "malformed");
  throwsCode(() => decodeIdentity(bytes.slice(0, -1)), "malformed");
  throwsCode(() => decodeIdentity(flip(bytes, 0, 1)), "unsupported");
});

Deno.test("signatures with a context: bound to the context, the message, the curve and the key", () => {
  const msg = utf8("challenge");
  for (const c of CURVES) {
    const sig = signWithContext(alice, c, "sotto test", msg);
    assert.ok(verifyWithContext(alice.publicKeys, c, "sotto test", msg, sig));
    assert.ok(!verifyWithContext(alice.publicKeys, c, "sotto other", msg, sig));
    assert.ok(!verifyWithContext(alice.publicKeys, c, "sotto test", utf8("challengf"), sig));
    assert.ok(!verifyWithContext(bob.publicKeys, c, "sotto test", msg, sig));
    // Not a plain signature of the message either.
    assert.ok(!curveOf(c).verify(alice.publicKeys[c].sign, msg, sig));
  }
  assert.throws(() => signWithContext(alice, "P-256", "", msg), RangeError);
  assert.throws(() => signWithContext(alice, "P-224" as "P-256", "x", msg), TypeError);
});

Deno.test("decoders never throw anything but ProtocolError on random damage", () => {
  const pub = encodeIdentityPublic(bob.publicKeys), sec = encodeIdentity(bob);
  const d = decisions(11);
  for (let i = 0; i < 150; i++) {
    for (const [bytes, decode] of [[pub, decodeIdentityPublic], [sec, decodeIdentity]] as const) {
      const damaged = d.chance(0.5)
        ? flip(bytes, d.int(bytes.length), d.int(8))
        : bytes.slice(0, d.int(bytes.length));
      try {
        decode(damaged);
      } catch (e) {
        assert.ok(e instanceof ProtocolError, String(e));
      }
    }
  }
});
