// HMAC-SHA-256/384/512: RFC 4231 test cases 1-7, every Wycheproof case (truncated tags compared by
// prefix), Web Crypto on random keys (shorter than, equal to and longer than the block) and data,
// incremental use, clone() for repeated use of one key, and argument checks.
import assert from "node:assert/strict";
import { bytesToHex, equalBytes, hexToBytes } from "../../crypto/bytes.ts";
import { blockLength, hashLength, type HashName } from "../../crypto/sha2.ts";
import { createHmac, hmac } from "../../crypto/hmac.ts";
import { loadWycheproof } from "../_wycheproof.ts";

interface Rfc4231Case {
  case: number;
  key: string;
  data: string;
  truncate?: number;
  hmacSha256: string;
  hmacSha384: string;
  hmacSha512: string;
}

const rfc4231: { tests: Rfc4231Case[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/rfc4231.json", import.meta.url)),
);

const SUITES: { hash: HashName; field: "hmacSha256" | "hmacSha384" | "hmacSha512"; wycheproof: string }[] = [
  { hash: "SHA-256", field: "hmacSha256", wycheproof: "hmac_sha256_test.json" },
  { hash: "SHA-384", field: "hmacSha384", wycheproof: "hmac_sha384_test.json" },
  { hash: "SHA-512", field: "hmacSha512", wycheproof: "hmac_sha512_test.json" },
];

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);

async function webCryptoHmac(hash: HashName, key: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash }, false, ["sign"]);
  return bytesToHex(new Uint8Array(await crypto.subtle.sign("HMAC", k, data)));
}

/** Lengths that matter for a key: empty, short, one below/at/above the block, and much longer. */
function keyLengths(hash: HashName): number[] {
  const b = blockLength(hash);
  return [1, 16, hashLength(hash), b - 1, b, b + 1, 2 * b + 3, 500];
}

Deno.test("hmac: RFC 4231 test cases 1-7", () => {
  assert.equal(rfc4231.tests.length, 7);
  for (const { hash, field } of SUITES) {
    for (const t of rfc4231.tests) {
      const tag = hmac(hash, hexToBytes(t.key), hexToBytes(t.data));
      assert.equal(tag.length, hashLength(hash));
      const got = t.truncate === undefined ? tag : tag.subarray(0, t.truncate);
      assert.equal(bytesToHex(got), t[field], `${hash} case ${t.case}`);
    }
  }
});

for (const { hash, wycheproof } of SUITES) {
  const file = loadWycheproof(wycheproof);
  Deno.test({
    name: `hmac: Wycheproof ${wycheproof}`,
    ignore: file === null,
    fn() {
      let valid = 0, invalid = 0;
      for (const group of file!.testGroups) {
        for (const t of group.tests) {
          const expected = hexToBytes(t.tag as string);
          const tag = hmac(hash, hexToBytes(t.key as string), hexToBytes(t.msg as string));
          const matches = equalBytes(tag.subarray(0, expected.length), expected);
          if (t.result === "valid") {
            assert.ok(matches, `tcId ${t.tcId}: ${t.comment}`);
            valid++;
          } else if (t.result === "invalid") {
            assert.ok(!matches, `tcId ${t.tcId}: ${t.comment}`);
            invalid++;
          }
        }
      }
      assert.equal(valid + invalid, file!.numberOfTests);
    },
  });
}

Deno.test("hmac: matches Web Crypto on random keys and data", async () => {
  for (const { hash } of SUITES) {
    const keys = keyLengths(hash);
    for (let i = 0; i < 120; i++) {
      const key = random(i < keys.length ? keys[i] : 1 + randomInt(300));
      const data = random(randomInt(i < 60 ? 300 : 4000));
      assert.equal(
        bytesToHex(hmac(hash, key, data)),
        await webCryptoHmac(hash, key, data),
        `${hash} key ${key.length} data ${data.length}`,
      );
    }
  }
});

Deno.test("hmac: an empty key is the all-zero key of any length up to the block", () => {
  for (const { hash } of SUITES) {
    const data = random(100);
    const want = bytesToHex(hmac(hash, new Uint8Array(0), data));
    assert.equal(bytesToHex(hmac(hash, new Uint8Array(hashLength(hash)), data)), want);
    assert.equal(bytesToHex(hmac(hash, new Uint8Array(blockLength(hash)), data)), want);
  }
});

Deno.test("hmac: incremental updates in random pieces equal one-shot", () => {
  for (const { hash } of SUITES) {
    for (let i = 0; i < 40; i++) {
      const key = random(randomInt(200)), data = random(randomInt(2000));
      const mac = createHmac(hash, key);
      assert.equal(mac.hash, hash);
      assert.equal(mac.outputLength, hashLength(hash));
      let pos = 0;
      while (pos < data.length) {
        const end = Math.min(data.length, pos + randomInt(150));
        assert.equal(mac.update(data.subarray(pos, end)), mac);
        pos = end;
      }
      assert.equal(bytesToHex(mac.digest()), bytesToHex(hmac(hash, key, data)));
    }
  }
});

Deno.test("hmac: clone() reuses one keyed state for many messages", () => {
  for (const { hash } of SUITES) {
    const key = random(blockLength(hash) + 10);
    const keyed = createHmac(hash, key);
    for (let i = 0; i < 20; i++) {
      const data = random(randomInt(400));
      assert.equal(bytesToHex(keyed.clone().update(data).digest()), bytesToHex(hmac(hash, key, data)));
    }
    // A clone taken after some data carries that data along.
    const prefix = random(70), rest = random(90);
    const partial = createHmac(hash, key).update(prefix);
    const fork = partial.clone();
    assert.equal(
      bytesToHex(fork.update(rest).digest()),
      bytesToHex(hmac(hash, key, Uint8Array.from([...prefix, ...rest]))),
    );
    assert.equal(bytesToHex(partial.digest()), bytesToHex(hmac(hash, key, prefix)));
    assert.equal(bytesToHex(keyed.digest()), bytesToHex(hmac(hash, key, new Uint8Array(0))));
  }
});

Deno.test("hmac: digestInto writes the tag at an offset and checks the room", () => {
  for (const { hash } of SUITES) {
    const key = random(40), data = random(90), n = hashLength(hash);
    const out = new Uint8Array(n + 5);
    createHmac(hash, key).update(data).digestInto(out, 5);
    assert.equal(bytesToHex(out.subarray(5)), bytesToHex(hmac(hash, key, data)));
    assert.ok(out.subarray(0, 5).every((b) => b === 0));
    assert.throws(() => createHmac(hash, key).digestInto(new Uint8Array(n), 1), RangeError);
    assert.throws(() => createHmac(hash, key).digestInto(new Uint8Array(n - 1)), RangeError);
    assert.throws(() => createHmac(hash, key).digestInto({} as Uint8Array), {
      name: "TypeError",
      message: /^out/,
    });
  }
});

Deno.test("hmac: interleaved HMACs under different keys and hashes do not interfere", () => {
  const k1 = random(20), k2 = random(200), d1 = random(300), d2 = random(150);
  const a = createHmac("SHA-256", k1).update(d1.subarray(0, 100));
  const b = createHmac("SHA-512", k2).update(d2.subarray(0, 70));
  const c = a.clone();
  hmac("SHA-384", random(10), random(500));
  a.update(d1.subarray(100));
  b.update(d2.subarray(70));
  assert.equal(bytesToHex(b.digest()), bytesToHex(hmac("SHA-512", k2, d2)));
  assert.equal(bytesToHex(c.update(d1.subarray(100)).digest()), bytesToHex(hmac("SHA-256", k1, d1)));
  assert.equal(bytesToHex(a.digest()), bytesToHex(hmac("SHA-256", k1, d1)));
});

Deno.test("hmac: the key and data arrays are left unchanged", () => {
  const key = random(200), data = random(300);
  const keyCopy = key.slice(), dataCopy = data.slice();
  for (const { hash } of SUITES) hmac(hash, key, data);
  assert.deepEqual(key, keyCopy);
  assert.deepEqual(data, dataCopy);
});

Deno.test("hmac: an incremental HMAC is used once", () => {
  const mac = createHmac("SHA-256", random(32)).update(random(5));
  mac.digest();
  assert.throws(() => mac.digest(), Error);
  assert.throws(() => mac.digestInto(new Uint8Array(32)), Error);
  assert.throws(() => mac.update(random(1)), Error);
  assert.throws(() => mac.clone(), Error);
});

Deno.test("hmac: argument checks", () => {
  const key = random(32), data = random(10);
  for (const bad of ["SHA-1", "sha-256", "HMAC-SHA-256", "", undefined, null]) {
    const hash = bad as HashName;
    assert.throws(() => hmac(hash, key, data), { name: "TypeError", message: /^hash must be/ });
    assert.throws(() => createHmac(hash, key), { name: "TypeError", message: /^hash must be/ });
  }
  for (const bad of ["key", [1, 2], new ArrayBuffer(4), new Int8Array(4), null, undefined]) {
    const value = bad as unknown as Uint8Array;
    assert.throws(() => hmac("SHA-256", value, data), {
      name: "TypeError",
      message: /^key must be a Uint8Array/,
    });
    assert.throws(() => createHmac("SHA-384", value), { name: "TypeError", message: /^key/ });
    assert.throws(() => hmac("SHA-512", key, value), {
      name: "TypeError",
      message: /^data must be a Uint8Array/,
    });
    assert.throws(() => createHmac("SHA-256", key).update(value), { name: "TypeError", message: /^data/ });
  }
});
