// AES and AES-GCM: GHASH against the bit-serial algorithm of SP 800-38D, the FIPS 197 examples (cipher
// and inverse cipher), the 18 test cases of the GCM specification, every Wycheproof AES-GCM case,
// differential tests against Web Crypto (12- and 16-byte IVs, all key sizes) and node:crypto (IVs of 1 to
// 64 bytes), tampering, unaligned and reused buffers, length limits and argument checks.
import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import { Aes, AES_GCM_MAX_PLAINTEXT, AesGcm, aesGcmOpen, aesGcmSeal } from "../../crypto/aes.ts";
import { bytesToHex, concatBytes, hexToBytes } from "../../crypto/bytes.ts";
import { AuthenticationError } from "../../crypto/errors.ts";
import { Ghash } from "../../crypto/ghash.ts";
import { loadWycheproof } from "../_wycheproof.ts";

interface BlockVector {
  section: string;
  key: string;
  plaintext: string;
  ciphertext: string;
}
interface GcmVector {
  case: number;
  K: string;
  P: string;
  A: string;
  IV: string;
  C: string;
  T: string;
  H: string;
}

const read = (name: string) =>
  JSON.parse(Deno.readTextFileSync(new URL(`../../vectors/${name}`, import.meta.url)));
const fips: { blocks: BlockVector[] } = read("fips197.json");
const spec: { cases: GcmVector[] } = read("gcm-spec.json");

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);
/** A random length below `max`, with 0, block multiples and their neighbours more likely. */
const randomLength = (max: number) => {
  const pick = randomInt(4);
  if (pick === 0) return randomInt(3);
  if (pick === 1) return Math.max(0, 16 * randomInt(max / 16) + randomInt(3) - 1);
  return randomInt(max);
};
const KEY_SIZES = [16, 24, 32];
const rangeNaming = (name: string) => (e: unknown) => e instanceof RangeError && e.message.includes(name);
const typeNaming = (name: string) => (e: unknown) => e instanceof TypeError && e.message.includes(name);

type Bytes = Uint8Array<ArrayBuffer>;

async function webSeal(key: Bytes, iv: Bytes, pt: Bytes, aad: Bytes) {
  const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  return new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, k, pt));
}

async function webOpen(key: Bytes, iv: Bytes, sealed: Bytes, aad: Bytes) {
  const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, k, sealed));
}

function nodeSeal(key: Uint8Array, iv: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = createCipheriv(`aes-${key.length * 8}-gcm` as "aes-128-gcm" | "aes-256-gcm", key, iv);
  c.setAAD(aad);
  return concatBytes(c.update(pt), c.final(), c.getAuthTag());
}

// ---- GHASH ----

/** X·Y in GF(2^128), bit by bit (NIST SP 800-38D §6.3, Algorithm 1), on blocks as big-endian integers. */
function gfMultiply(x: bigint, y: bigint): bigint {
  let z = 0n, v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ (0xe1n << 120n) : v >> 1n;
  }
  return z;
}

/** GHASH (SP 800-38D §6.4) of A and C, each zero-padded, then the block of the given bit lengths. */
function referenceGhash(h: Uint8Array, a: Uint8Array, c: Uint8Array, aBits: bigint, cBits: bigint): string {
  const hv = BigInt("0x" + bytesToHex(h));
  let y = 0n;
  for (const data of [a, c]) {
    for (let i = 0; i < data.length; i += 16) {
      const block = new Uint8Array(16);
      block.set(data.subarray(i, i + 16));
      y = gfMultiply(y ^ BigInt("0x" + bytesToHex(block)), hv);
    }
  }
  y = gfMultiply(y ^ ((aBits << 64n) | cBits), hv);
  return y.toString(16).padStart(32, "0");
}

Deno.test("GHASH: matches the bit-serial algorithm of SP 800-38D, lengths beyond 2^32 bits included", () => {
  for (let i = 0; i < 60; i++) {
    const h = random(16), a = random(randomInt(70)), c = random(randomInt(70));
    // The length block is hashed from the lengths given, so large ones can be tried without the data.
    const aLength = i % 3 === 0 ? 2 ** 33 + randomInt(2 ** 20) : a.length;
    const cLength = i % 4 === 0 ? AES_GCM_MAX_PLAINTEXT - randomInt(100) : c.length;
    const out = new Uint32Array(4);
    new Ghash(h).reset().update(a).update(c).finish(aLength, cLength, out);
    const want = referenceGhash(h, a, c, BigInt(aLength) * 8n, BigInt(cLength) * 8n);
    assert.equal(bytesToHex(new Uint8Array(out.buffer)), want);
  }
});

// ---- The block cipher ----

Deno.test("AES: FIPS 197 Appendix B and C.1–C.3, cipher and inverse cipher", () => {
  assert.equal(fips.blocks.length, 4);
  for (const v of fips.blocks) {
    const aes = new Aes(hexToBytes(v.key));
    assert.equal(aes.rounds, { 16: 10, 24: 12, 32: 14 }[v.key.length / 2], v.section);
    assert.equal(bytesToHex(aes.encryptBlock(hexToBytes(v.plaintext))), v.ciphertext, v.section);
    assert.equal(bytesToHex(aes.decryptBlock(hexToBytes(v.ciphertext))), v.plaintext, v.section);
  }
});

Deno.test("AES: the GCM hash subkeys H = E(K, 0^128) of the GCM specification", () => {
  for (const v of spec.cases) {
    assert.equal(
      bytesToHex(new Aes(hexToBytes(v.K)).encryptBlock(new Uint8Array(16))),
      v.H,
      `case ${v.case}`,
    );
  }
});

Deno.test("AES: decryptBlock inverts encryptBlock on random keys and blocks, in place too", () => {
  for (let i = 0; i < 150; i++) {
    const aes = new Aes(random(KEY_SIZES[i % 3]));
    const block = random(16), copy = block.slice();
    const out = new Uint8Array(16);
    assert.equal(aes.encryptBlock(block, out), out);
    assert.deepEqual(aes.decryptBlock(out), block);
    aes.encryptBlock(block, block);
    assert.deepEqual(block, out);
    aes.decryptBlock(block, block);
    assert.deepEqual(block, copy);
  }
});

Deno.test("AES: encryptBlock agrees with Web Crypto (an empty GCM message has tag E(K, J0))", async () => {
  // The tag of an empty message with no aad is E(K, IV ‖ 0^31 ‖ 1) since GHASH of nothing is zero.
  for (let i = 0; i < 60; i++) {
    const key = random(KEY_SIZES[i % 3]), iv = random(12);
    const j0 = concatBytes(iv, new Uint8Array([0, 0, 0, 1]));
    assert.deepEqual(
      new Aes(key).encryptBlock(j0),
      await webSeal(key, iv, new Uint8Array(0), new Uint8Array(0)),
    );
  }
});

Deno.test("AES: argument checks", () => {
  for (const n of [0, 8, 15, 17, 20, 31, 33, 64]) {
    assert.throws(() => new Aes(new Uint8Array(n)), rangeNaming("key"));
  }
  assert.throws(() => new Aes([1, 2, 3] as unknown as Uint8Array), typeNaming("key"));
  const aes = new Aes(new Uint8Array(16));
  for (const f of [aes.encryptBlock, aes.decryptBlock]) {
    assert.throws(() => f.call(aes, new Uint8Array(15)), rangeNaming("input"));
    assert.throws(() => f.call(aes, new Uint8Array(16), new Uint8Array(17)), rangeNaming("output"));
    assert.throws(() => f.call(aes, "0123456789abcdef" as unknown as Uint8Array), TypeError);
  }
});

// ---- GCM known answers ----

Deno.test("AES-GCM: the 18 test cases of the GCM specification, Appendix B", () => {
  assert.equal(spec.cases.length, 18);
  for (const v of spec.cases) {
    const key = hexToBytes(v.K), iv = hexToBytes(v.IV), aad = hexToBytes(v.A);
    const sealed = v.C + v.T, what = `case ${v.case}`;
    assert.equal(bytesToHex(aesGcmSeal(key, iv, hexToBytes(v.P), aad)), sealed, what);
    assert.equal(bytesToHex(aesGcmOpen(key, iv, hexToBytes(sealed), aad)), v.P, what);
    const gcm = new AesGcm(key);
    assert.equal(bytesToHex(gcm.seal(iv, hexToBytes(v.P), aad)), sealed, what);
    assert.equal(bytesToHex(gcm.open(iv, hexToBytes(sealed), aad)), v.P, what);
  }
});

const wycheproof = loadWycheproof("aes_gcm_test.json");

Deno.test({
  name: "AES-GCM: every Wycheproof aes_gcm_test.json case",
  ignore: wycheproof === null,
  fn() {
    let valid = 0, invalid = 0;
    for (const group of wycheproof!.testGroups) {
      for (const t of group.tests) {
        const key = hexToBytes(t.key as string), iv = hexToBytes(t.iv as string);
        const aad = hexToBytes(t.aad as string), msg = hexToBytes(t.msg as string);
        const sealed = hexToBytes((t.ct as string) + (t.tag as string));
        const what = `tcId ${t.tcId} (${t.comment}; ${t.flags.join(", ")})`;
        if (t.result === "valid") {
          assert.equal(bytesToHex(aesGcmSeal(key, iv, msg, aad)), bytesToHex(sealed), what);
          assert.deepEqual(aesGcmOpen(key, iv, sealed, aad), msg, what);
          valid++;
        } else {
          // Invalid cases are modified tags (AuthenticationError) and empty IVs (RangeError).
          const error = iv.length === 0 ? RangeError : AuthenticationError;
          assert.throws(() => aesGcmOpen(key, iv, sealed, aad), error, what);
          if (iv.length === 0) assert.throws(() => aesGcmSeal(key, iv, msg, aad), RangeError, what);
          invalid++;
        }
      }
    }
    assert.equal(valid + invalid, wycheproof!.numberOfTests);
    assert.ok(valid > 200 && invalid > 80, `${valid} valid, ${invalid} invalid`);
  },
});

// ---- Differential tests ----

Deno.test("AES-GCM: agrees with Web Crypto on random keys, 12- and 16-byte IVs, random lengths", async () => {
  for (let i = 0; i < 240; i++) {
    const key = random(KEY_SIZES[i % 3]), iv = random(i % 2 === 0 ? 12 : 16);
    const pt = random(randomLength(i % 40 === 0 ? 20000 : 600)), aad = random(randomLength(80));
    const sealed = aesGcmSeal(key, iv, pt, aad);
    const what = `key ${key.length}, iv ${iv.length}, pt ${pt.length}, aad ${aad.length}`;
    assert.deepEqual(sealed, await webSeal(key, iv, pt, aad), what);
    assert.deepEqual(await webOpen(key, iv, sealed as Bytes, aad), pt, what);
    assert.deepEqual(aesGcmOpen(key, iv, sealed, aad), pt, what);
  }
});

Deno.test("AES-GCM: agrees with node:crypto on IVs of 1 to 64 bytes (128- and 256-bit keys)", () => {
  // Deno's Web Crypto takes only 12- and 16-byte IVs and its node:crypto has no AES-192-GCM; AES-192
  // with other IV lengths is covered by the specification cases and Wycheproof.
  for (let i = 0; i < 256; i++) {
    const key = random(i % 2 === 0 ? 16 : 32), iv = random(1 + (i % 64));
    const pt = random(randomLength(i % 32 === 0 ? 9000 : 300)), aad = random(randomLength(50));
    const sealed = aesGcmSeal(key, iv, pt, aad);
    assert.deepEqual(
      sealed,
      nodeSeal(key, iv, pt, aad),
      `key ${key.length}, iv ${iv.length}, pt ${pt.length}`,
    );
    assert.deepEqual(aesGcmOpen(key, iv, sealed, aad), pt);
  }
});

// ---- Properties ----

Deno.test("AES-GCM: any flipped bit in ciphertext, tag, IV or aad is refused", () => {
  for (let i = 0; i < 200; i++) {
    const key = random(KEY_SIZES[i % 3]), iv = random(i % 4 === 0 ? 1 + randomInt(40) : 12);
    const pt = random(randomInt(100)), aad = random(1 + randomInt(30));
    const sealed = aesGcmSeal(key, iv, pt, aad);
    const flip = (a: Uint8Array) => {
      const b = a.slice(), bit = randomInt(8 * b.length);
      b[bit >> 3] ^= 1 << (bit & 7);
      return b;
    };
    // Half the time a bit of the tag itself, otherwise anywhere in ciphertext ‖ tag.
    const bad = i % 2 === 0
      ? concatBytes(sealed.subarray(0, pt.length), flip(sealed.subarray(pt.length)))
      : flip(sealed);
    assert.throws(() => aesGcmOpen(key, iv, bad, aad), AuthenticationError);
    assert.throws(() => aesGcmOpen(key, flip(iv), sealed, aad), AuthenticationError);
    assert.throws(() => aesGcmOpen(key, iv, sealed, flip(aad)), AuthenticationError);
    assert.throws(() => aesGcmOpen(flip(key), iv, sealed, aad), AuthenticationError);
    assert.deepEqual(aesGcmOpen(key, iv, sealed, aad), pt);
  }
});

Deno.test("AES-GCM: truncated, extended or empty sealed data is refused", () => {
  const key = random(32), iv = random(12), aad = random(5);
  const sealed = aesGcmSeal(key, iv, random(40), aad);
  for (const n of [0, 1, 15, 16, 17, 39, 55]) {
    assert.throws(() => aesGcmOpen(key, iv, sealed.subarray(0, n), aad), AuthenticationError);
  }
  assert.throws(() => aesGcmOpen(key, iv, concatBytes(sealed, new Uint8Array(1)), aad), AuthenticationError);
  assert.throws(() => aesGcmOpen(key, iv, sealed, new Uint8Array(0)), AuthenticationError);
  // An empty message still has a tag that must match.
  const empty = aesGcmSeal(key, iv, new Uint8Array(0));
  assert.equal(empty.length, 16);
  assert.deepEqual(aesGcmOpen(key, iv, empty), new Uint8Array(0));
  empty[15] ^= 0x80;
  assert.throws(() => aesGcmOpen(key, iv, empty), AuthenticationError);
});

Deno.test("AES-GCM: a keyed AesGcm seals many messages as the one-shot functions do", () => {
  for (const size of KEY_SIZES) {
    const key = random(size), gcm = new AesGcm(key);
    for (let i = 0; i < 40; i++) {
      const iv = random(i % 5 === 0 ? 1 + randomInt(30) : 12),
        pt = random(randomInt(300)),
        aad = random(randomInt(20));
      const sealed = gcm.seal(iv, pt, aad);
      assert.deepEqual(sealed, aesGcmSeal(key, iv, pt, aad));
      assert.deepEqual(gcm.open(iv, sealed, aad), pt);
      // A failed open leaves the object usable.
      assert.throws(() => gcm.open(iv, sealed, concatBytes(aad, new Uint8Array(1))), AuthenticationError);
    }
    gcm.wipe();
  }
});

Deno.test("AES-GCM: unaligned subarrays give the same results and inputs are left unchanged", () => {
  for (let i = 0; i < 60; i++) {
    const key = random(KEY_SIZES[i % 3]), iv = random(i % 3 === 0 ? 12 : 1 + randomInt(30));
    const pt = random(randomInt(200)), aad = random(randomInt(40));
    const sealed = aesGcmSeal(key, iv, pt, aad);
    const shift = (a: Uint8Array) => {
      const o = 1 + randomInt(3), b = new Uint8Array(a.length + o + 2).fill(0xee);
      b.set(a, o);
      return b.subarray(o, o + a.length);
    };
    const [sKey, sIv, sPt, sAad] = [shift(key), shift(iv), shift(pt), shift(aad)];
    assert.deepEqual(aesGcmSeal(sKey, sIv, sPt, sAad), sealed);
    assert.deepEqual(sPt, pt);
    const sSealed = shift(sealed);
    assert.deepEqual(aesGcmOpen(sKey, sIv, sSealed, sAad), pt);
    assert.deepEqual(sSealed, sealed);
  }
});

Deno.test("AES-GCM: argument checks", () => {
  const key = new Uint8Array(16), iv = new Uint8Array(12), data = new Uint8Array(20);
  for (const f of [aesGcmSeal, aesGcmOpen]) {
    for (const n of [0, 15, 17, 31, 33]) {
      assert.throws(() => f(new Uint8Array(n), iv, data), rangeNaming("key"));
    }
    assert.throws(() => f(key, new Uint8Array(0), data), rangeNaming("iv"));
    assert.throws(() => f("k" as unknown as Uint8Array, iv, data), typeNaming("key"));
    assert.throws(() => f(key, [0] as unknown as Uint8Array, data), typeNaming("iv"));
    assert.throws(() => f(key, iv, null as unknown as Uint8Array), TypeError);
    assert.throws(() => f(key, iv, data, "aad" as unknown as Uint8Array), typeNaming("aad"));
    assert.throws(() => f(key, iv, new Uint16Array(20) as unknown as Uint8Array), TypeError);
  }
  assert.throws(() => new AesGcm(new Uint8Array(20)), rangeNaming("key"));
  assert.throws(() => new AesGcm(key).seal(new Uint8Array(0), data), rangeNaming("iv"));
  assert.throws(() => new AesGcm(key).open(iv, "x" as unknown as Uint8Array), typeNaming("sealed"));
});

Deno.test("AES-GCM: the plaintext length limit of 2^39 − 256 bits", () => {
  assert.equal(AES_GCM_MAX_PLAINTEXT, (2 ** 39 - 256) / 8);
  // A Uint8Array that claims to be that long: the check comes before any byte is read.
  const huge = (n: number) => Object.defineProperty(new Uint8Array(0), "length", { value: n }) as Uint8Array;
  const key = new Uint8Array(32), iv = new Uint8Array(12);
  assert.throws(() => aesGcmSeal(key, iv, huge(AES_GCM_MAX_PLAINTEXT + 1)), rangeNaming("plaintext"));
  assert.throws(() => aesGcmOpen(key, iv, huge(AES_GCM_MAX_PLAINTEXT + 17)), AuthenticationError);
});
