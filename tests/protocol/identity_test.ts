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
  idCheckCharacter,
  idCheckDigit,
  idCheckFold,
  idMatches,
  IdTypoError,
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

Deno.test("IDs are written as 8 groups of 4 lower-case Crockford base32 characters and a check character", () => {
  const text = formatId(alice.id);
  assert.match(text, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){7}-[0-9a-hjkmnp-tv-z]$/);
  assert.equal(formatId(alice.id, { check: false }), text.slice(0, -2));
  assert.equal(text.at(-1), idCheckCharacter(alice.id));
  assert.equal(formatId(new Uint8Array(20)), "0000-0000-0000-0000-0000-0000-0000-0000-0");
  assert.equal(formatId(new Uint8Array(20), { check: false }), "0000-0000-0000-0000-0000-0000-0000-0000");
  assert.equal(
    formatId(new Uint8Array(20).fill(255), { check: false }),
    "zzzz-zzzz-zzzz-zzzz-zzzz-zzzz-zzzz-zzzz",
  );
  // 0x00 0x44 0x32 0x14 0xc7 = 00000 00001 00010 00011 00100 00101 00110 00111
  const counting = new Uint8Array(20);
  counting.set([0x00, 0x44, 0x32, 0x14, 0xc7]);
  assert.equal(formatId(counting).slice(0, 9), "0123-4567");
  assert.throws(() => formatId(new Uint8Array(19)), RangeError);
});

/** The check digit recomputed from docs/protocol.md §2 alone: Σ dᵢ·α^(32−i) over GF(2)[x]/(x⁵+x²+1). */
function checkFromTheDocument(digits: number[]): number {
  const mul = (a: number, b: number) => {
    let r = 0;
    for (let i = 0; i < 5; i++) if ((b >> i) & 1) r ^= a << i;
    for (let bit = 8; bit >= 5; bit--) if ((r >> bit) & 1) r ^= 0b100101 << (bit - 5);
    return r;
  };
  const power = (e: number) => {
    let r = 1;
    for (let i = 0; i < e; i++) r = mul(r, 2);
    return r;
  };
  let sum = 0;
  for (let i = 0; i < digits.length; i++) sum ^= mul(digits[i], power(digits.length - i));
  return sum;
}

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

Deno.test("the check character matches the document's definition", () => {
  for (let i = 0; i < 300; i++) {
    const id = crypto.getRandomValues(new Uint8Array(ID_BYTES));
    const digits = [...formatId(id, { check: false }).replaceAll("-", "")].map((ch) => ALPHABET.indexOf(ch));
    assert.equal(idCheckDigit(digits), checkFromTheDocument(digits));
    assert.equal(idCheckCharacter(id), ALPHABET[checkFromTheDocument(digits)]);
    assert.equal(idCheckFold([...digits, idCheckDigit(digits)]), 0);
  }
});

Deno.test("the check digit catches every single substitution and every adjacent transposition (exhaustive)", () => {
  // For every pair of neighbouring positions (the check digit included) and every ordered pair of distinct
  // digits (a, b) there, a valid 33-digit word: swapping them, or changing either to any other digit, is
  // caught. That covers every substitution (any position, any digit to any other) and every adjacent
  // transposition of distinct digits.
  const d = decisions(33);
  let words = 0;
  for (let p = 0; p < 32; p++) {
    for (let a = 0; a < 32; a++) {
      for (let b = 0; b < 32; b++) {
        if (a === b) continue;
        const word = Array.from({ length: 33 }, () => d.int(32));
        word[p] = a;
        word[p + 1] = b;
        if (p + 1 < 32) word[32] = idCheckDigit(word.slice(0, 32));
        else {
          // b is the check digit itself: choose the first digit so that the word is valid.
          const free = p === 0 ? 1 : 0;
          for (word[free] = 0; idCheckFold(word) !== 0; word[free]++);
        }
        assert.equal(idCheckFold(word), 0);
        words++;
        const swapped = word.slice();
        [swapped[p], swapped[p + 1]] = [b, a];
        assert.notEqual(idCheckFold(swapped), 0, `swap at ${p}: ${a} ${b}`);
        for (const q of [p, p + 1]) {
          for (let c = 0; c < 32; c++) {
            if (c === word[q]) continue;
            const changed = word.slice();
            changed[q] = c;
            assert.notEqual(idCheckFold(changed), 0, `position ${q}: ${word[q]} → ${c}`);
          }
        }
      }
    }
  }
  assert.equal(words, 32 * 32 * 31);
});

Deno.test("a written ID with a typo is refused as one: substitutions, swaps, a character lost or added", () => {
  const d = decisions(34);
  for (let i = 0; i < 40; i++) {
    const id = crypto.getRandomValues(new Uint8Array(ID_BYTES));
    const text = formatId(id);
    assert.ok(equalBytes(parseId(text), id));
    const look = (ch: string) => (ch === "i" || ch === "l" ? "1" : ch === "o" ? "0" : ch);
    for (let at = 0; at < text.length; at++) {
      if (text[at] === "-") continue;
      for (const ch of ALPHABET + "ilo") {
        if (look(ch) === text[at]) continue;
        const typo = text.slice(0, at) + ch + text.slice(at + 1);
        assert.throws(() => parseId(typo), IdTypoError, typo);
      }
    }
    for (let at = 0; at + 1 < text.length; at++) {
      if (text[at] === text[at + 1]) continue;
      const swapped = text.slice(0, at) + text[at + 1] + text[at] + text.slice(at + 2);
      // A separator moved past the check character leaves the same characters: the same ID.
      if (swapped === text.slice(0, -2) + text.at(-1) + "-") assert.ok(equalBytes(parseId(swapped), id));
      else assert.throws(() => parseId(swapped), IdTypoError, swapped);
    }
    for (let at = 0; at < text.length; at++) {
      const lost = text.slice(0, at) + text.slice(at + 1);
      // Losing a separator or the check character itself leaves the right ID; anything else is refused.
      if (text[at] === "-" || at === text.length - 1) assert.ok(equalBytes(parseId(lost), id), lost);
      else assert.throws(() => parseId(lost), ProtocolError, lost);
    }
    // One character too many: always refused in the written form; in the old form (no check character)
    // whenever it lands in any group but the last.
    for (let at = 0; at <= text.length; at++) {
      const added = text.slice(0, at) + ALPHABET[d.int(32)] + text.slice(at);
      assert.throws(() => parseId(added), ProtocolError, added);
    }
    const old = formatId(id, { check: false });
    for (let at = 0; at < 34; at++) {
      if (old[at] === "-") continue;
      const added = old.slice(0, at) + ALPHABET[d.int(32)] + old.slice(at);
      assert.throws(() => parseId(added), IdTypoError, added);
    }
  }
  assert.match(
    (() => {
      try {
        parseId(formatId(alice.id).slice(0, -1) + (formatId(alice.id).endsWith("0") ? "1" : "0"));
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })(),
    /check character does not match, so it is probably a typo/,
  );
});

Deno.test("IDs parse whatever the case and separators, with Crockford's look-alikes; the old form too", () => {
  const d = decisions(9);
  for (let i = 0; i < 200; i++) {
    const id = crypto.getRandomValues(new Uint8Array(ID_BYTES));
    for (const canonical of [formatId(id), formatId(id, { check: false })]) {
      assert.ok(equalBytes(parseId(canonical), id));
      assert.ok(equalBytes(parseId(canonical.replaceAll("-", "")), id), "ungrouped");
      // Any case, and any run of separators between the groups (or none).
      let messy = "";
      for (const group of canonical.split("-")) {
        for (const ch of group) messy += d.chance(0.5) ? ch.toUpperCase() : ch;
        if (d.chance(0.8)) {
          messy += Array.from({ length: 1 + d.int(2) }, () => [" ", "-", "_", ".", ":", "\t"][d.int(6)]).join(
            "",
          );
        }
      }
      assert.ok(equalBytes(parseId(messy), id), messy);
    }
  }
  const id = parseId("1000-0000-0000-0000-0000-0000-0000-0000");
  assert.ok(equalBytes(parseId("i000 OOOO 0000 0000 0000 0000 0000 0000"), id));
  assert.ok(equalBytes(parseId("L000.0000.0000.0000.0000.0000.0000.000o"), id));
  assert.ok(equalBytes(parseId("10000000 00000000 00000000 00000000"), id), "groups of eight");
  assert.ok(equalBytes(parseId(formatId(id)), id));
  for (
    const bad of [
      "",
      "0".repeat(31),
      "0".repeat(34),
      "u" + "0".repeat(31),
      "0".repeat(31) + "!",
      "0".repeat(31) + "é",
      " ".repeat(129),
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
