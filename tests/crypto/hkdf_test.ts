// HKDF-SHA-256/384/512: RFC 5869 A.1-A.3 (PRK and OKM), every Wycheproof case (too-long outputs must
// throw a RangeError), Web Crypto on random ikm/salt/info/lengths, the output-length and PRK limits, and
// argument checks.
import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import { createHkdfExpand, hkdf, hkdfExpand, hkdfExtract } from "../../crypto/hkdf.ts";
import { hmac } from "../../crypto/hmac.ts";
import { hashLength, type HashName } from "../../crypto/sha2.ts";
import { loadWycheproof } from "../_wycheproof.ts";

interface Rfc5869Case {
  case: number;
  hash: HashName;
  ikm: string;
  salt: string;
  info: string;
  length: number;
  prk: string;
  okm: string;
}

const rfc5869: { tests: Rfc5869Case[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/rfc5869.json", import.meta.url)),
);

const SUITES: { hash: HashName; wycheproof: string }[] = [
  { hash: "SHA-256", wycheproof: "hkdf_sha256_test.json" },
  { hash: "SHA-384", wycheproof: "hkdf_sha384_test.json" },
  { hash: "SHA-512", wycheproof: "hkdf_sha512_test.json" },
];

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);

async function webCryptoHkdf(
  hash: HashName,
  ikm: Uint8Array<ArrayBuffer>,
  salt: Uint8Array<ArrayBuffer>,
  info: Uint8Array<ArrayBuffer>,
  length: number,
): Promise<string> {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return bytesToHex(
    new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash, salt, info }, key, 8 * length)),
  );
}

Deno.test("hkdf: RFC 5869 test cases A.1-A.3", () => {
  assert.equal(rfc5869.tests.length, 3);
  for (const t of rfc5869.tests) {
    const ikm = hexToBytes(t.ikm), salt = hexToBytes(t.salt), info = hexToBytes(t.info);
    const prk = hkdfExtract(t.hash, salt, ikm);
    assert.equal(bytesToHex(prk), t.prk, `case ${t.case} PRK`);
    assert.equal(bytesToHex(hkdfExpand(t.hash, prk, info, t.length)), t.okm, `case ${t.case} OKM`);
    assert.equal(bytesToHex(hkdf(t.hash, ikm, salt, info, t.length)), t.okm, `case ${t.case} hkdf`);
  }
});

for (const { hash, wycheproof } of SUITES) {
  const file = loadWycheproof(wycheproof);
  Deno.test({
    name: `hkdf: Wycheproof ${wycheproof}`,
    ignore: file === null,
    fn() {
      let valid = 0, invalid = 0;
      for (const group of file!.testGroups) {
        for (const t of group.tests) {
          const run = () =>
            hkdf(
              hash,
              hexToBytes(t.ikm as string),
              hexToBytes(t.salt as string),
              hexToBytes(t.info as string),
              t.size as number,
            );
          if (t.result === "valid") {
            assert.equal(bytesToHex(run()), t.okm, `tcId ${t.tcId}: ${t.comment}`);
            valid++;
          } else {
            assert.throws(run, RangeError, `tcId ${t.tcId}: ${t.comment}`);
            invalid++;
          }
        }
      }
      assert.equal(valid + invalid, file!.numberOfTests);
      assert.ok(invalid >= 3);
    },
  });
}

Deno.test("hkdf: matches Web Crypto on random ikm, salt, info and lengths", async () => {
  for (const { hash } of SUITES) {
    const maxLength = 255 * hashLength(hash);
    for (let i = 0; i < 80; i++) {
      const ikm = random(randomInt(200)), salt = random(randomInt(200)), info = random(randomInt(300));
      const lengths = [1, hashLength(hash) - 1, hashLength(hash), hashLength(hash) + 1, maxLength];
      const length = i < lengths.length ? lengths[i] : 1 + randomInt(i < 70 ? 300 : maxLength);
      assert.equal(
        bytesToHex(hkdf(hash, ikm, salt, info, length)),
        await webCryptoHkdf(hash, ikm, salt, info, length),
        `${hash} ikm ${ikm.length} salt ${salt.length} info ${info.length} length ${length}`,
      );
    }
  }
});

Deno.test("hkdf: extract is HMAC(salt, ikm); an empty salt is hash-length zeros", () => {
  for (const { hash } of SUITES) {
    const ikm = random(40), salt = random(20);
    assert.deepEqual(hkdfExtract(hash, salt, ikm), hmac(hash, salt, ikm));
    assert.deepEqual(
      hkdfExtract(hash, new Uint8Array(0), ikm),
      hkdfExtract(hash, new Uint8Array(hashLength(hash)), ikm),
    );
  }
});

Deno.test("hkdf: a shorter output is a prefix of a longer one, and length 0 is empty", () => {
  for (const { hash } of SUITES) {
    const prk = random(hashLength(hash)), info = random(12);
    const long = hkdfExpand(hash, prk, info, 5 * hashLength(hash) + 7);
    for (const n of [0, 1, hashLength(hash), 2 * hashLength(hash) + 3]) {
      assert.deepEqual(hkdfExpand(hash, prk, info, n), long.subarray(0, n));
    }
    assert.equal(hkdf(hash, random(10), random(10), info, 0).length, 0);
  }
});

Deno.test("hkdf: output length limits", () => {
  for (const { hash } of SUITES) {
    const max = 255 * hashLength(hash);
    const prk = random(hashLength(hash)), empty = new Uint8Array(0);
    assert.equal(hkdfExpand(hash, prk, empty, max).length, max);
    for (const bad of [max + 1, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
      assert.throws(() => hkdfExpand(hash, prk, empty, bad), { name: "RangeError", message: /^length/ });
      assert.throws(() => hkdf(hash, prk, empty, empty, bad), { name: "RangeError", message: /^length/ });
    }
    for (const bad of ["32", null, undefined, 32n, {}]) {
      const length = bad as unknown as number;
      assert.throws(() => hkdfExpand(hash, prk, empty, length), { name: "TypeError", message: /^length/ });
      assert.throws(() => hkdf(hash, prk, empty, empty, length), { name: "TypeError", message: /^length/ });
    }
  }
});

Deno.test("hkdf: a PRK shorter than the hash output is refused; a longer one is accepted", () => {
  for (const { hash } of SUITES) {
    const n = hashLength(hash), info = random(5);
    for (const short of [0, 1, n - 1]) {
      assert.throws(() => hkdfExpand(hash, random(short), info, 16), { name: "RangeError", message: /^prk/ });
    }
    const longPrk = random(n + 30);
    assert.equal(hkdfExpand(hash, longPrk, info, 100).length, 100);
  }
});

Deno.test("hkdf: argument checks", () => {
  const b = random(32);
  for (const bad of ["SHA-1", "sha-256", "", undefined, null, 256]) {
    const hash = bad as HashName;
    assert.throws(() => hkdf(hash, b, b, b, 32), { name: "TypeError", message: /^hash must be/ });
    assert.throws(() => hkdfExtract(hash, b, b), { name: "TypeError", message: /^hash must be/ });
    assert.throws(() => hkdfExpand(hash, b, b, 32), { name: "TypeError", message: /^hash must be/ });
  }
  for (const bad of ["x", [1], new ArrayBuffer(32), new Uint32Array(8), null, undefined]) {
    const v = bad as unknown as Uint8Array;
    assert.throws(() => hkdf("SHA-256", v, b, b, 32), { name: "TypeError", message: /^ikm/ });
    assert.throws(() => hkdf("SHA-256", b, v, b, 32), { name: "TypeError", message: /^salt/ });
    assert.throws(() => hkdf("SHA-256", b, b, v, 32), { name: "TypeError", message: /^info/ });
    assert.throws(() => hkdfExtract("SHA-384", v, b), { name: "TypeError", message: /^salt/ });
    assert.throws(() => hkdfExtract("SHA-384", b, v), { name: "TypeError", message: /^ikm/ });
    assert.throws(() => hkdfExpand("SHA-512", v, b, 32), { name: "TypeError", message: /^prk/ });
    assert.throws(() => hkdfExpand("SHA-512", random(64), v, 32), { name: "TypeError", message: /^info/ });
  }
});

Deno.test("createHkdfExpand: one keyed PRK gives what hkdfExpand gives, for many infos and lengths", () => {
  for (const h of ["SHA-256", "SHA-384", "SHA-512"] as HashName[]) {
    const prk = crypto.getRandomValues(new Uint8Array(hashLength(h) + 7));
    const expand = createHkdfExpand(h, prk);
    for (let i = 0; i < 20; i++) {
      const info = crypto.getRandomValues(new Uint8Array(i * 13));
      const length = (i * 37) % (3 * hashLength(h)) + 1;
      assert.equal(bytesToHex(expand(info, length)), bytesToHex(hkdfExpand(h, prk, info, length)));
    }
    assert.throws(() => expand(new Uint8Array(0), 255 * hashLength(h) + 1), RangeError);
    assert.throws(() => expand("info" as unknown as Uint8Array, 8), TypeError);
    assert.throws(() => createHkdfExpand(h, new Uint8Array(hashLength(h) - 1)), RangeError);
  }
  assert.throws(() => createHkdfExpand("SHA-1" as HashName, new Uint8Array(64)), TypeError);
});
