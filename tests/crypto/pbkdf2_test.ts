// PBKDF2-HMAC-SHA-256/384/512: RFC 7914 §11's vectors, Web Crypto on random inputs, argument checks.

import assert from "node:assert/strict";
import { bytesToHex, utf8 } from "../../crypto/bytes.ts";
import { pbkdf2 } from "../../crypto/pbkdf2.ts";
import type { HashName } from "../../crypto/sha2.ts";

const vectors = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/rfc7914_pbkdf2.json", import.meta.url)),
);

Deno.test("PBKDF2: RFC 7914 section 11 vectors (HMAC-SHA-256)", () => {
  for (const t of vectors.tests) {
    const dk = pbkdf2(t.hash, utf8(t.password), utf8(t.salt), t.iterations, t.length);
    assert.equal(bytesToHex(dk), t.dk, `${t.password}/${t.salt}/${t.iterations}`);
  }
});

Deno.test("PBKDF2: agrees with Web Crypto on random passwords, salts, counts and lengths", async () => {
  const rnd = (max: number) => crypto.getRandomValues(new Uint32Array(1))[0] % (max + 1);
  for (let i = 0; i < 60; i++) {
    const hash = (["SHA-256", "SHA-384", "SHA-512"] as HashName[])[i % 3];
    const password = crypto.getRandomValues(new Uint8Array(rnd(200)));
    const salt = crypto.getRandomValues(new Uint8Array(rnd(64)));
    const iterations = 1 + rnd(300);
    const length = 1 + rnd(150); // crosses block boundaries for every hash
    const key = await crypto.subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
    const want = new Uint8Array(
      await crypto.subtle.deriveBits({ name: "PBKDF2", hash, salt, iterations }, key, length * 8),
    );
    assert.equal(bytesToHex(pbkdf2(hash, password, salt, iterations, length)), bytesToHex(want));
  }
});

Deno.test("PBKDF2: bad arguments get a TypeError or RangeError naming them", () => {
  const p = utf8("pw"), s = utf8("salt");
  assert.equal(pbkdf2("SHA-256", p, s, 1, 0).length, 0);
  assert.throws(() => pbkdf2("SHA-1" as HashName, p, s, 1, 32), /hash/);
  assert.throws(() => pbkdf2("SHA-256", "pw" as unknown as Uint8Array, s, 1, 32), TypeError);
  assert.throws(() => pbkdf2("SHA-256", p, null as unknown as Uint8Array, 1, 32), /salt/);
  assert.throws(() => pbkdf2("SHA-256", p, s, 0, 32), /iterations/);
  assert.throws(() => pbkdf2("SHA-256", p, s, 1.5, 32), /iterations/);
  assert.throws(() => pbkdf2("SHA-256", p, s, 1, -1), /length/);
  assert.throws(() => pbkdf2("SHA-256", p, s, 1e9, 32), RangeError);
});
