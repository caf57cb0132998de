// SHA-256, SHA-384, SHA-512: the FIPS 180-4 example values, Web Crypto on random inputs and on lengths
// around the padding boundaries, incremental hashing in random pieces, clone(), the one-use rule and
// argument checks.
import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import {
  blockLength,
  createHash,
  hash,
  hashLength,
  type HashName,
  sha256,
  sha384,
  sha512,
} from "../../crypto/sha2.ts";

interface ShaVector {
  hash: HashName;
  comment: string;
  msg: string;
  repeat: number;
  digest: string;
}

const vectors: { tests: ShaVector[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/fips180-4.json", import.meta.url)),
);

const NAMES: HashName[] = ["SHA-256", "SHA-384", "SHA-512"];
const SHORTCUTS: Record<HashName, (data: Uint8Array) => Uint8Array> = {
  "SHA-256": sha256,
  "SHA-384": sha384,
  "SHA-512": sha512,
};
// Lengths on either side of where the padding needs one more block (55/56 and 111/112) and of block ends.
const BOUNDARY_LENGTHS = [
  0,
  1,
  55,
  56,
  57,
  63,
  64,
  65,
  111,
  112,
  113,
  119,
  120,
  127,
  128,
  129,
  191,
  192,
  255,
  256,
];

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);

async function webCrypto(name: HashName, data: Uint8Array<ArrayBuffer>): Promise<string> {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest(name, data)));
}

/** Feeds `data` to a new incremental hash in pieces of random lengths (empty pieces included). */
function hashInPieces(name: HashName, data: Uint8Array, maxPiece: number): Uint8Array {
  const h = createHash(name);
  let pos = 0;
  while (pos < data.length) {
    const end = Math.min(data.length, pos + randomInt(maxPiece + 1));
    h.update(data.subarray(pos, end));
    pos = end;
  }
  return h.digest();
}

function vectorMessage(v: ShaVector): Uint8Array {
  const unit = hexToBytes(v.msg);
  const msg = new Uint8Array(unit.length * v.repeat);
  for (let i = 0; i < v.repeat; i++) msg.set(unit, i * unit.length);
  return msg;
}

Deno.test("sha2: FIPS 180-4 example values, one-shot", () => {
  assert.equal(vectors.tests.length, 12);
  for (const v of vectors.tests) {
    const msg = vectorMessage(v);
    assert.equal(bytesToHex(hash(v.hash, msg)), v.digest, `${v.hash} ${v.comment}`);
    assert.equal(bytesToHex(SHORTCUTS[v.hash](msg)), v.digest, `${v.hash} ${v.comment}`);
  }
});

Deno.test("sha2: FIPS 180-4 example values, incremental", () => {
  for (const v of vectors.tests) {
    // The million-'a' case fed one unit at a time, as a stream would deliver it.
    const h = createHash(v.hash);
    const unit = hexToBytes(v.msg);
    for (let i = 0; i < v.repeat; i++) h.update(unit);
    assert.equal(bytesToHex(h.digest()), v.digest, `${v.hash} ${v.comment}`);
    assert.equal(bytesToHex(hashInPieces(v.hash, vectorMessage(v), 300)), v.digest, `${v.hash} ${v.comment}`);
  }
});

Deno.test("sha2: output and block lengths", () => {
  assert.deepEqual(NAMES.map(hashLength), [32, 48, 64]);
  assert.deepEqual(NAMES.map(blockLength), [64, 128, 128]);
  for (const name of NAMES) {
    const h = createHash(name);
    assert.equal(h.name, name);
    assert.equal(h.outputLength, hashLength(name));
    assert.equal(h.blockLength, blockLength(name));
    assert.equal(h.digest().length, hashLength(name));
  }
});

Deno.test("sha2: matches Web Crypto on lengths around the block and padding boundaries", async () => {
  for (const name of NAMES) {
    for (const n of BOUNDARY_LENGTHS) {
      const data = random(n);
      const want = await webCrypto(name, data);
      assert.equal(bytesToHex(hash(name, data)), want, `${name} length ${n}`);
      assert.equal(bytesToHex(hashInPieces(name, data, 70)), want, `${name} length ${n} in pieces`);
    }
  }
});

Deno.test("sha2: matches Web Crypto on random inputs of random lengths", async () => {
  for (const name of NAMES) {
    for (let i = 0; i < 150; i++) {
      const data = random(randomInt(i < 100 ? 300 : 5000));
      assert.equal(
        bytesToHex(hash(name, data)),
        await webCrypto(name, data),
        `${name} length ${data.length}`,
      );
    }
  }
});

Deno.test("sha2: incremental hashing in random pieces equals one-shot", () => {
  for (const name of NAMES) {
    for (let i = 0; i < 60; i++) {
      const data = random(randomInt(3000));
      const want = bytesToHex(hash(name, data));
      assert.equal(bytesToHex(hashInPieces(name, data, 1 + randomInt(300))), want, `${name} ${data.length}`);
    }
  }
});

Deno.test("sha2: reads views at any byte offset and leaves the input unchanged", async () => {
  const backing = random(2000);
  const copy = backing.slice();
  for (const name of NAMES) {
    for (let i = 0; i < 40; i++) {
      const start = randomInt(20), end = start + randomInt(1900);
      const view = backing.subarray(start, end);
      assert.equal(
        bytesToHex(hash(name, view)),
        await webCrypto(name, view.slice()),
        `${name} [${start}, ${end})`,
      );
    }
  }
  assert.deepEqual(backing, copy);
});

Deno.test("sha2: update chains, and clone() forks an independent state", () => {
  for (const name of NAMES) {
    const prefix = random(150), a = random(77), b = random(300);
    const h = createHash(name).update(prefix);
    const fork = h.clone();
    assert.equal(
      bytesToHex(h.update(a).digest()),
      bytesToHex(hash(name, Uint8Array.from([...prefix, ...a]))),
    );
    assert.equal(
      bytesToHex(fork.update(b).digest()),
      bytesToHex(hash(name, Uint8Array.from([...prefix, ...b]))),
    );
    // A clone of a fresh hash and of a hash with a partial block.
    assert.equal(bytesToHex(createHash(name).clone().digest()), bytesToHex(hash(name, new Uint8Array(0))));
  }
});

Deno.test("sha2: digestInto writes the digest at an offset and checks the room", () => {
  for (const name of NAMES) {
    const data = random(200), n = hashLength(name);
    const out = new Uint8Array(n + 10).fill(0xee);
    createHash(name).update(data).digestInto(out, 7);
    assert.equal(bytesToHex(out.subarray(7, 7 + n)), bytesToHex(hash(name, data)));
    assert.ok(out.subarray(0, 7).every((b) => b === 0xee) && out.subarray(7 + n).every((b) => b === 0xee));
    for (const [length, offset] of [[n - 1, 0], [n, 1], [n + 10, 11], [n + 10, -1]]) {
      assert.throws(() => createHash(name).digestInto(new Uint8Array(length), offset), RangeError);
    }
    for (const offset of [0.5, NaN, "1"]) {
      const h = createHash(name);
      assert.throws(() => h.digestInto(new Uint8Array(n + 10), offset as number), {
        name: "TypeError",
        message: /^offset/,
      });
    }
    assert.throws(() => createHash(name).digestInto([] as unknown as Uint8Array), {
      name: "TypeError",
      message: /^out/,
    });
    // A refused digestInto leaves the hash usable.
    const h = createHash(name).update(data);
    assert.throws(() => h.digestInto(new Uint8Array(1)), RangeError);
    assert.equal(bytesToHex(h.digest()), bytesToHex(hash(name, data)));
  }
});

Deno.test("sha2: an incremental hash is used once", () => {
  for (const name of NAMES) {
    const h = createHash(name).update(random(10));
    h.digest();
    assert.throws(() => h.digest(), Error);
    assert.throws(() => h.digestInto(new Uint8Array(64)), Error);
    assert.throws(() => h.update(random(1)), Error);
    assert.throws(() => h.clone(), Error);
  }
});

Deno.test("sha2: one-shot calls do not disturb a hash in progress", () => {
  const data = random(1000);
  const h = createHash("SHA-512").update(data.subarray(0, 300));
  sha512(random(500));
  sha256(random(100));
  h.update(data.subarray(300));
  assert.equal(bytesToHex(h.digest()), bytesToHex(sha512(data)));
});

Deno.test("sha2: argument checks", () => {
  for (const bad of ["SHA-1", "sha256", "SHA256", "", undefined, null, 256]) {
    assert.throws(() => createHash(bad as HashName), { name: "TypeError", message: /^name must be/ });
    assert.throws(() => hash(bad as HashName, new Uint8Array(1)), { name: "TypeError", message: /^name/ });
    assert.throws(() => hashLength(bad as HashName), TypeError);
    assert.throws(() => blockLength(bad as HashName), TypeError);
  }
  for (const bad of ["abc", [1, 2, 3], new ArrayBuffer(3), new Uint16Array(2), null, undefined, 7]) {
    const data = bad as unknown as Uint8Array;
    assert.throws(() => sha256(data), { name: "TypeError", message: /^data must be a Uint8Array/ });
    assert.throws(() => sha384(data), TypeError);
    assert.throws(() => sha512(data), TypeError);
    assert.throws(() => hash("SHA-256", data), TypeError);
    assert.throws(() => createHash("SHA-512").update(data), { name: "TypeError", message: /^data/ });
  }
});
