// ChaCha20-Poly1305 and XChaCha20-Poly1305: RFC 8439 §2.8.2 and A.5, draft-irtf-cfrg-xchacha-03 A.3.1,
// every Wycheproof case, the construction rebuilt from ChaCha20 and Poly1305 on random inputs, round
// trips, tampering, length limits and argument checks. (Web Crypto has no ChaCha20 to compare against.)
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes } from "../../crypto/bytes.ts";
import { chacha20, chacha20Block, hchacha20 } from "../../crypto/chacha20.ts";
import {
  CHACHA20_POLY1305_MAX_PLAINTEXT,
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  xchacha20Poly1305Open,
  xchacha20Poly1305Seal,
} from "../../crypto/chacha20poly1305.ts";
import { AuthenticationError } from "../../crypto/errors.ts";
import { poly1305 } from "../../crypto/poly1305.ts";
import { loadWycheproof } from "../_wycheproof.ts";

type Aead = (key: Uint8Array, nonce: Uint8Array, data: Uint8Array, aad?: Uint8Array) => Uint8Array;
interface AeadVector {
  section: string;
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
  polyKey?: string;
}

const read = (name: string) =>
  JSON.parse(Deno.readTextFileSync(new URL(`../../vectors/${name}`, import.meta.url)));
const rfc: { aead: AeadVector[] } = read("rfc8439.json");
const xc: { aead: AeadVector[] } = read("xchacha20poly1305.json");

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);

const suites: { name: string; nonceLength: number; seal: Aead; open: Aead; wycheproof: string }[] = [
  {
    name: "ChaCha20-Poly1305",
    nonceLength: 12,
    seal: chacha20Poly1305Seal,
    open: chacha20Poly1305Open,
    wycheproof: "chacha20_poly1305_test.json",
  },
  {
    name: "XChaCha20-Poly1305",
    nonceLength: 24,
    seal: xchacha20Poly1305Seal,
    open: xchacha20Poly1305Open,
    wycheproof: "xchacha20_poly1305_test.json",
  },
];

function checkVector(seal: Aead, open: Aead, v: AeadVector) {
  const key = hexToBytes(v.key), nonce = hexToBytes(v.nonce), aad = hexToBytes(v.aad);
  const sealed = seal(key, nonce, hexToBytes(v.plaintext), aad);
  assert.equal(bytesToHex(sealed), v.ciphertext + v.tag, v.section);
  assert.equal(bytesToHex(open(key, nonce, hexToBytes(v.ciphertext + v.tag), aad)), v.plaintext, v.section);
}

Deno.test("ChaCha20-Poly1305: RFC 8439 §2.8.2 and A.5", () => {
  assert.equal(rfc.aead.length, 2);
  for (const v of rfc.aead) checkVector(chacha20Poly1305Seal, chacha20Poly1305Open, v);
});

Deno.test("XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 A.3.1", () => {
  assert.equal(xc.aead.length, 1);
  for (const v of xc.aead) {
    checkVector(xchacha20Poly1305Seal, xchacha20Poly1305Open, v);
    // The one-time Poly1305 key the draft prints: block 0 under the HChaCha20 subkey.
    const nonce = hexToBytes(v.nonce);
    const subkey = hchacha20(hexToBytes(v.key), nonce.subarray(0, 16));
    const n12 = concatBytes(new Uint8Array(4), nonce.subarray(16));
    assert.equal(bytesToHex(chacha20Block(subkey, n12, 0).subarray(0, 32)), v.polyKey, v.section);
  }
});

for (const suite of suites) {
  const file = loadWycheproof(suite.wycheproof);
  Deno.test({
    name: `${suite.name}: Wycheproof ${suite.wycheproof}, every case`,
    ignore: file === null,
    fn() {
      let count = 0;
      for (const group of file!.testGroups) {
        for (const t of group.tests) {
          const key = hexToBytes(t.key as string), nonce = hexToBytes(t.iv as string);
          const aad = hexToBytes(t.aad as string), msg = hexToBytes(t.msg as string);
          const sealed = hexToBytes((t.ct as string) + (t.tag as string));
          const what = `tcId ${t.tcId} (${t.comment})`;
          if (nonce.length !== suite.nonceLength) {
            assert.equal(t.result, "invalid", what);
            assert.throws(() => suite.seal(key, nonce, msg, aad), RangeError, what);
            assert.throws(() => suite.open(key, nonce, sealed, aad), RangeError, what);
          } else if (t.result === "valid") {
            assert.equal(bytesToHex(suite.seal(key, nonce, msg, aad)), bytesToHex(sealed), what);
            assert.equal(bytesToHex(suite.open(key, nonce, sealed, aad)), t.msg, what);
          } else {
            assert.throws(() => suite.open(key, nonce, sealed, aad), AuthenticationError, what);
          }
          count++;
        }
      }
      assert.equal(count, file!.numberOfTests);
    },
  });

  Deno.test(`${suite.name}: round trips at block boundaries and random lengths`, () => {
    const lengths = [
      0,
      1,
      15,
      16,
      17,
      63,
      64,
      65,
      127,
      128,
      129,
      255,
      256,
      257,
      1023,
      1024,
      4095,
      4096,
      4097,
    ];
    for (let i = 0; i < 100; i++) lengths.push(randomInt(3000));
    for (const n of lengths) {
      const key = random(32), nonce = random(suite.nonceLength), msg = random(n), aad = random(randomInt(40));
      const sealed = suite.seal(key, nonce, msg, aad);
      assert.equal(sealed.length, n + 16);
      assert.deepEqual(suite.open(key, nonce, sealed, aad), msg, `length ${n}`);
    }
    // Without associated data the argument may be left out; an empty one is the same thing.
    const key = random(32), nonce = random(suite.nonceLength), msg = random(70);
    const sealed = suite.seal(key, nonce, msg);
    assert.deepEqual(sealed, suite.seal(key, nonce, msg, new Uint8Array(0)));
    assert.deepEqual(suite.open(key, nonce, sealed), msg);
  });

  Deno.test(`${suite.name}: any flipped bit in ciphertext, tag, aad, nonce or key is refused`, () => {
    for (const n of [0, 1, 33, 64, 65, 200]) {
      const key = random(32),
        nonce = random(suite.nonceLength),
        msg = random(n),
        aad = random(1 + randomInt(30));
      const sealed = suite.seal(key, nonce, msg, aad);
      const before = sealed.slice();
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        const bad = sealed.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.throws(() => suite.open(key, nonce, bad, aad), AuthenticationError, `sealed bit ${bit}`);
      }
      for (let bit = 0; bit < aad.length * 8; bit++) {
        const bad = aad.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.throws(() => suite.open(key, nonce, sealed, bad), AuthenticationError, `aad bit ${bit}`);
      }
      for (let bit = 0; bit < nonce.length * 8; bit++) {
        const bad = nonce.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.throws(() => suite.open(key, bad, sealed, aad), AuthenticationError, `nonce bit ${bit}`);
      }
      for (let bit = 0; bit < 256; bit += 7) {
        const bad = key.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.throws(() => suite.open(bad, nonce, sealed, aad), AuthenticationError, `key bit ${bit}`);
      }
      assert.throws(
        () => suite.open(key, nonce, sealed.subarray(0, sealed.length - 1), aad),
        AuthenticationError,
      );
      assert.throws(
        () => suite.open(key, nonce, concatBytes(sealed, new Uint8Array(1)), aad),
        AuthenticationError,
      );
      assert.throws(
        () => suite.open(key, nonce, sealed, concatBytes(aad, new Uint8Array(1))),
        AuthenticationError,
      );
      assert.deepEqual(sealed, before, "open leaves its input alone");
    }
  });

  Deno.test(`${suite.name}: sealed input shorter than the tag is an authentication failure`, () => {
    const key = random(32), nonce = random(suite.nonceLength);
    for (let n = 0; n < 16; n++) {
      assert.throws(() => suite.open(key, nonce, random(n)), AuthenticationError, `length ${n}`);
    }
  });

  Deno.test(`${suite.name}: unaligned inputs give the same results`, () => {
    const key = random(32), nonce = random(suite.nonceLength), aad = random(21);
    for (const n of [5, 64, 100, 1000, 5000]) {
      const msg = random(n);
      const sealed = suite.seal(key, nonce, msg, aad);
      for (let shift = 1; shift < 4; shift++) {
        const m2 = new Uint8Array(n + shift),
          s2 = new Uint8Array(n + 16 + shift),
          a2 = new Uint8Array(21 + shift);
        m2.set(msg, shift), s2.set(sealed, shift), a2.set(aad, shift);
        assert.deepEqual(
          suite.seal(key, nonce, m2.subarray(shift), a2.subarray(shift)),
          sealed,
          `shift ${shift}`,
        );
        assert.deepEqual(
          suite.open(key, nonce, s2.subarray(shift), a2.subarray(shift)),
          msg,
          `shift ${shift}`,
        );
      }
    }
  });

  Deno.test(`${suite.name}: refuses plaintexts past the 32-bit block counter (RFC 8439 §2.8 P_MAX)`, () => {
    assert.equal(CHACHA20_POLY1305_MAX_PLAINTEXT, 274877906880);
    // An array that reports a huge length: the check must fire before any byte is touched.
    class Huge extends Uint8Array {
      constructor(private readonly reported: number) {
        super(0);
      }
      override get length() {
        return this.reported;
      }
    }
    const key = random(32), nonce = random(suite.nonceLength);
    assert.throws(() => suite.seal(key, nonce, new Huge(CHACHA20_POLY1305_MAX_PLAINTEXT + 1)), RangeError);
    assert.throws(
      () => suite.open(key, nonce, new Huge(CHACHA20_POLY1305_MAX_PLAINTEXT + 17)),
      AuthenticationError,
    );
  });

  Deno.test(`${suite.name}: checks argument types and lengths, naming the argument`, () => {
    const key = random(32), nonce = random(suite.nonceLength), msg = random(10);
    const sealed = suite.seal(key, nonce, msg);
    const not = (x: unknown) => x as Uint8Array;
    for (const f of [suite.seal, suite.open]) {
      const data = f === suite.seal ? msg : sealed;
      const dataName = f === suite.seal ? /plaintext/ : /sealed/;
      assert.throws(() => f(random(16), nonce, data), { name: "RangeError", message: /key/ });
      assert.throws(() => f(random(33), nonce, data), { name: "RangeError", message: /key/ });
      for (const n of [0, 8, 11, 12, 13, 16, 23, 24, 25, 32]) {
        if (n === suite.nonceLength) continue;
        assert.throws(() => f(key, random(n), data), { name: "RangeError", message: /nonce/ }, `nonce ${n}`);
      }
      assert.throws(() => f(not("key"), nonce, data), { name: "TypeError", message: /key/ });
      assert.throws(() => f(key, not([...nonce]), data), { name: "TypeError", message: /nonce/ });
      assert.throws(() => f(key, nonce, not("text")), { name: "TypeError", message: dataName });
      assert.throws(() => f(key, nonce, data, not(null)), { name: "TypeError", message: /aad/ });
      assert.throws(() => f(key, nonce, data, not("aad")), { name: "TypeError", message: /aad/ });
    }
  });
}

Deno.test("ChaCha20-Poly1305 equals its construction from ChaCha20 and Poly1305 (RFC 8439 §2.8.1)", () => {
  const pad16 = (n: number) => new Uint8Array((16 - (n % 16)) % 16);
  for (let i = 0; i < 150; i++) {
    const key = random(32), nonce = random(12);
    const msg = random(i < 70 ? i : randomInt(1500)), aad = random(randomInt(50));
    const otk = chacha20Block(key, nonce, 0).subarray(0, 32);
    const ct = chacha20(key, nonce, 1, msg);
    const lengths = new Uint8Array(16);
    new DataView(lengths.buffer).setUint32(0, aad.length, true);
    new DataView(lengths.buffer).setUint32(8, ct.length, true);
    const tag = poly1305(otk, concatBytes(aad, pad16(aad.length), ct, pad16(ct.length), lengths));
    const what = `message ${msg.length}, aad ${aad.length}`;
    assert.equal(
      bytesToHex(chacha20Poly1305Seal(key, nonce, msg, aad)),
      bytesToHex(concatBytes(ct, tag)),
      what,
    );
  }
});

Deno.test("XChaCha20-Poly1305 equals ChaCha20-Poly1305 under the HChaCha20 subkey (draft-irtf-cfrg-xchacha-03 §2)", () => {
  for (let i = 0; i < 50; i++) {
    const key = random(32), nonce = random(24), msg = random(randomInt(300)), aad = random(randomInt(20));
    const subkey = hchacha20(key, nonce.subarray(0, 16));
    const n12 = concatBytes(new Uint8Array(4), nonce.subarray(16));
    assert.deepEqual(
      xchacha20Poly1305Seal(key, nonce, msg, aad),
      chacha20Poly1305Seal(subkey, n12, msg, aad),
    );
  }
});
