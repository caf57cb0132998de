// ChaCha20 and HChaCha20: RFC 8439 §2.1.1, §2.2.1, §2.3.2, §2.4.2, §2.6.2, A.1, A.2, A.4 and
// draft-irtf-cfrg-xchacha-03 §2.2.1, A.3.2; a slow reference from the RFC pseudocode on random inputs;
// counter limits and argument checks.
import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import { chacha20, chacha20Block, hchacha20, quarterRound } from "../../crypto/chacha20.ts";

interface Rfc8439 {
  quarterRound: { section: string; input: string[]; output: string[] }[];
  quarterRoundOnState: { section: string; indices: number[]; state: string[]; output: string[] }[];
  block: { section: string; key: string; nonce: string; counter: number; keystream: string }[];
  encryption: {
    section: string;
    key: string;
    nonce: string;
    counter: number;
    plaintext: string;
    ciphertext: string;
  }[];
  keyGeneration: { section: string; key: string; nonce: string; otk: string }[];
}
interface XChaCha {
  hchacha20: { section: string; key: string; nonce: string; subkey: string }[];
  xchacha20: {
    section: string;
    key: string;
    nonce: string;
    counter: number;
    plaintext: string;
    ciphertext: string;
  }[];
}

const rfc: Rfc8439 = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/rfc8439.json", import.meta.url)),
);
const xc: XChaCha = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/xchacha20poly1305.json", import.meta.url)),
);

const words = (hex: string[]) => Uint32Array.from(hex, (w) => parseInt(w, 16));
const wordsHex = (ws: Uint32Array) => Array.from(ws, (w) => w.toString(16).padStart(8, "0"));
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);

/** The block function exactly as the RFC pseudocode states it (§2.3.1), for differential tests. */
function referenceBlock(key: Uint8Array, counter: number, nonce: Uint8Array): Uint8Array {
  const kv = new DataView(key.buffer, key.byteOffset, 32),
    nv = new DataView(nonce.buffer, nonce.byteOffset, 12);
  const state = new Uint32Array(16);
  state.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let i = 0; i < 8; i++) state[4 + i] = kv.getUint32(4 * i, true);
  state[12] = counter;
  for (let i = 0; i < 3; i++) state[13 + i] = nv.getUint32(4 * i, true);
  const working = state.slice();
  for (let i = 0; i < 10; i++) {
    quarterRound(working, 0, 4, 8, 12);
    quarterRound(working, 1, 5, 9, 13);
    quarterRound(working, 2, 6, 10, 14);
    quarterRound(working, 3, 7, 11, 15);
    quarterRound(working, 0, 5, 10, 15);
    quarterRound(working, 1, 6, 11, 12);
    quarterRound(working, 2, 7, 8, 13);
    quarterRound(working, 3, 4, 9, 14);
  }
  const out = new Uint8Array(64);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 16; i++) ov.setUint32(4 * i, (working[i] + state[i]) >>> 0, true);
  return out;
}

function referenceEncrypt(key: Uint8Array, counter: number, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let j = 0; j * 64 < data.length; j++) {
    const ks = referenceBlock(key, counter + j, nonce);
    for (let i = j * 64; i < Math.min(data.length, j * 64 + 64); i++) out[i] = data[i] ^ ks[i - j * 64];
  }
  return out;
}

Deno.test("quarter round: RFC 8439 §2.1.1", () => {
  for (const v of rfc.quarterRound) {
    const s = words(v.input);
    quarterRound(s, 0, 1, 2, 3);
    assert.deepEqual(wordsHex(s), v.output, v.section);
  }
});

Deno.test("quarter round on the ChaCha state: RFC 8439 §2.2.1", () => {
  for (const v of rfc.quarterRoundOnState) {
    const s = words(v.state);
    const [a, b, c, d] = v.indices;
    quarterRound(s, a, b, c, d);
    assert.deepEqual(wordsHex(s), v.output, v.section);
  }
});

Deno.test("block function: RFC 8439 §2.3.2 and A.1 #1-#5", () => {
  assert.equal(rfc.block.length, 6);
  for (const v of rfc.block) {
    const key = hexToBytes(v.key), nonce = hexToBytes(v.nonce);
    assert.equal(bytesToHex(chacha20Block(key, nonce, v.counter)), v.keystream, v.section);
    assert.equal(bytesToHex(referenceBlock(key, v.counter, nonce)), v.keystream, `${v.section} (reference)`);
  }
});

Deno.test("encryption: RFC 8439 §2.4.2 and A.2 #1-#3, both directions", () => {
  assert.equal(rfc.encryption.length, 4);
  for (const v of rfc.encryption) {
    const key = hexToBytes(v.key), nonce = hexToBytes(v.nonce);
    assert.equal(
      bytesToHex(chacha20(key, nonce, v.counter, hexToBytes(v.plaintext))),
      v.ciphertext,
      v.section,
    );
    assert.equal(
      bytesToHex(chacha20(key, nonce, v.counter, hexToBytes(v.ciphertext))),
      v.plaintext,
      v.section,
    );
  }
});

Deno.test("Poly1305 key generation (block 0, first 32 bytes): RFC 8439 §2.6.2, §2.8.2, A.4 #1-#3, A.5", () => {
  assert.equal(rfc.keyGeneration.length, 6);
  for (const v of rfc.keyGeneration) {
    const block = chacha20Block(hexToBytes(v.key), hexToBytes(v.nonce), 0);
    assert.equal(bytesToHex(block.subarray(0, 32)), v.otk, v.section);
  }
});

Deno.test("HChaCha20: draft-irtf-cfrg-xchacha-03 §2.2.1", () => {
  for (const v of xc.hchacha20) {
    assert.equal(bytesToHex(hchacha20(hexToBytes(v.key), hexToBytes(v.nonce))), v.subkey, v.section);
  }
});

Deno.test("XChaCha20 = ChaCha20(HChaCha20 subkey, 0^4 ‖ nonce[16..24]): draft-irtf-cfrg-xchacha-03 A.3.2", () => {
  assert.equal(xc.xchacha20.length, 2);
  for (const v of xc.xchacha20) {
    const key = hexToBytes(v.key), nonce = hexToBytes(v.nonce);
    const subkey = hchacha20(key, nonce.subarray(0, 16));
    const n12 = new Uint8Array(12);
    n12.set(nonce.subarray(16), 4);
    assert.equal(
      bytesToHex(chacha20(subkey, n12, v.counter, hexToBytes(v.plaintext))),
      v.ciphertext,
      v.section,
    );
  }
});

Deno.test("ChaCha20 equals the RFC pseudocode on random keys, nonces, counters and lengths", () => {
  const lengths = [0, 1, 15, 16, 63, 64, 65, 127, 128, 129, 191, 192, 193, 1000, 4095, 4096, 4097];
  for (let i = 0; i < 200; i++) lengths.push(randomInt(1200));
  for (const n of lengths) {
    const key = random(32), nonce = random(12), data = random(n);
    const counter = randomInt(2)
      ? randomInt(1000)
      : Math.min(0xffffffff, 0xffffffff - Math.ceil(n / 64) + 1 - randomInt(3));
    assert.equal(
      bytesToHex(chacha20(key, nonce, counter, data)),
      bytesToHex(referenceEncrypt(key, counter, nonce, data)),
      `length ${n}, counter ${counter}`,
    );
  }
});

Deno.test("ChaCha20 gives the same output for unaligned input and for input split at block boundaries", () => {
  const key = random(32), nonce = random(12);
  for (const n of [1, 63, 64, 65, 200, 1024, 4097]) {
    const data = random(n);
    const copy = data.slice();
    const expected = bytesToHex(chacha20(key, nonce, 5, data));
    for (let shift = 1; shift < 4; shift++) {
      const backing = new Uint8Array(n + shift);
      backing.set(data, shift);
      assert.equal(bytesToHex(chacha20(key, nonce, 5, backing.subarray(shift))), expected, `shift ${shift}`);
    }
    let joined = "";
    for (let off = 0; off < n; off += 128) {
      joined += bytesToHex(chacha20(key, nonce, 5 + off / 64, data.subarray(off, off + 128)));
    }
    assert.equal(joined, expected, `length ${n} in 128-byte pieces`);
    assert.deepEqual(data, copy, "input left untouched");
  }
});

Deno.test("ChaCha20 uses counters up to 2^32 - 1 and refuses to wrap the 32-bit counter", () => {
  const key = random(32), nonce = random(12);
  const last = chacha20Block(key, nonce, 0xffffffff);
  assert.equal(bytesToHex(last), bytesToHex(referenceBlock(key, 0xffffffff, nonce)));
  assert.equal(bytesToHex(chacha20(key, nonce, 0xffffffff, new Uint8Array(64))), bytesToHex(last));
  assert.equal(chacha20(key, nonce, 0xfffffffe, new Uint8Array(128)).length, 128);
  assert.equal(chacha20(key, nonce, 0xffffffff, new Uint8Array(0)).length, 0);
  assert.throws(() => chacha20(key, nonce, 0xffffffff, new Uint8Array(65)), RangeError);
  assert.throws(() => chacha20(key, nonce, 0xfffffffe, new Uint8Array(129)), RangeError);
  assert.throws(() => chacha20(key, nonce, 2 ** 32, new Uint8Array(1)), RangeError);
  assert.throws(() => chacha20(key, nonce, -1, new Uint8Array(1)), RangeError);
  assert.throws(() => chacha20(key, nonce, 1.5, new Uint8Array(1)), TypeError);
});

Deno.test("ChaCha20 and HChaCha20 check their arguments", () => {
  const key = random(32), nonce = random(12), data = random(10);
  assert.throws(() => chacha20(random(31), nonce, 0, data), { name: "RangeError", message: /key/ });
  assert.throws(() => chacha20(random(33), nonce, 0, data), { name: "RangeError", message: /key/ });
  assert.throws(() => chacha20(key, random(8), 0, data), { name: "RangeError", message: /nonce/ });
  assert.throws(() => chacha20(key, random(24), 0, data), { name: "RangeError", message: /nonce/ });
  assert.throws(() => chacha20(key, nonce, 0, [1, 2] as unknown as Uint8Array), {
    name: "TypeError",
    message: /data/,
  });
  assert.throws(() => chacha20("k" as unknown as Uint8Array, nonce, 0, data), {
    name: "TypeError",
    message: /key/,
  });
  assert.throws(() => chacha20Block(key, random(16), 0), { name: "RangeError", message: /nonce/ });
  assert.throws(() => hchacha20(key, random(12)), { name: "RangeError", message: /nonce/ });
  assert.throws(() => hchacha20(random(16), random(16)), { name: "RangeError", message: /key/ });
  assert.throws(() => hchacha20(key, null as unknown as Uint8Array), { name: "TypeError", message: /nonce/ });
});
