// Poly1305: RFC 8439 §2.5.2 and A.3 #1-#11, a BigInt reference from the RFC pseudocode (§2.5.1) on random
// and extreme inputs, incremental updates in random pieces, and argument checks.
import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import { Poly1305, poly1305 } from "../../crypto/poly1305.ts";

interface Rfc8439 {
  poly1305: { section: string; key: string; message: string; tag: string }[];
}
const rfc: Rfc8439 = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/rfc8439.json", import.meta.url)),
);

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);

function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** poly1305_mac exactly as the RFC pseudocode states it (§2.5.1). */
function referenceMac(key: Uint8Array, msg: Uint8Array): string {
  const r = leToBigInt(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leToBigInt(key.subarray(16, 32));
  const p = (1n << 130n) - 5n;
  let a = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    a = ((a + leToBigInt(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  a = (a + s) & ((1n << 128n) - 1n);
  let hex = "";
  for (let i = 0; i < 16; i++) hex += Number((a >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, "0");
  return hex;
}

Deno.test("Poly1305: RFC 8439 §2.5.2 and A.3 #1-#11", () => {
  assert.equal(rfc.poly1305.length, 12);
  for (const v of rfc.poly1305) {
    const key = hexToBytes(v.key), msg = hexToBytes(v.message);
    assert.equal(bytesToHex(poly1305(key, msg)), v.tag, v.section);
    assert.equal(referenceMac(key, msg), v.tag, `${v.section} (reference)`);
  }
});

Deno.test("Poly1305 equals the RFC pseudocode on random keys and messages of random lengths", () => {
  for (let i = 0; i < 300; i++) {
    const key = random(32), msg = random(i < 100 ? i : randomInt(2000));
    assert.equal(bytesToHex(poly1305(key, msg)), referenceMac(key, msg), `length ${msg.length}`);
  }
});

Deno.test("Poly1305 equals the RFC pseudocode on extreme keys and messages (carries, h near p, s overflow)", () => {
  const ones = (n: number) => new Uint8Array(n).fill(0xff);
  const keys = [ones(32), new Uint8Array(32), random(32)];
  const mixed = new Uint8Array(32);
  mixed.fill(0xff, 0, 16); // largest clamped r, s = 0
  keys.push(mixed);
  const msgs = [ones(16), ones(17), ones(64), ones(1000), ones(15), new Uint8Array(48), random(333)];
  for (const key of keys) {
    for (const msg of msgs) {
      assert.equal(bytesToHex(poly1305(key, msg)), referenceMac(key, msg), `length ${msg.length}`);
    }
  }
});

Deno.test("Poly1305 incremental updates in random pieces equal the one-shot tag", () => {
  for (let i = 0; i < 200; i++) {
    const key = random(32), msg = random(randomInt(700));
    const expected = bytesToHex(poly1305(key, msg));
    const mac = new Poly1305(key);
    let off = 0;
    while (off < msg.length) {
      const take = randomInt(4) === 0 ? 0 : randomInt(Math.min(100, msg.length - off) + 1);
      mac.update(msg.subarray(off, off + take));
      off += take;
    }
    assert.equal(bytesToHex(mac.digest()), expected, `length ${msg.length}`);
  }
});

Deno.test("Poly1305 updatePadded equals update followed by zero bytes up to a multiple of 16", () => {
  for (let i = 0; i < 200; i++) {
    const key = random(32);
    const pieces = Array.from({ length: 1 + randomInt(4) }, () => random(randomInt(60)));
    const padded = new Poly1305(key);
    const plain = new Poly1305(key);
    let total = 0;
    for (const piece of pieces) {
      if (randomInt(2)) {
        padded.update(piece), plain.update(piece);
        total += piece.length;
      } else {
        padded.updatePadded(piece);
        total += piece.length;
        const pad = new Uint8Array((16 - (total % 16)) % 16);
        plain.update(piece).update(pad);
        total += pad.length;
      }
    }
    assert.equal(
      bytesToHex(padded.digest()),
      bytesToHex(plain.digest()),
      `pieces ${pieces.map((p) => p.length)}`,
    );
  }
});

Deno.test("Poly1305 gives the same tag for unaligned input", () => {
  const key = random(32);
  for (const n of [16, 64, 100, 1024, 4096]) {
    const msg = random(n);
    const expected = bytesToHex(poly1305(key, msg));
    for (let shift = 1; shift < 4; shift++) {
      const backing = new Uint8Array(n + shift);
      backing.set(msg, shift);
      assert.equal(
        bytesToHex(poly1305(key, backing.subarray(shift))),
        expected,
        `length ${n}, shift ${shift}`,
      );
    }
  }
});

Deno.test("Poly1305 refuses use after digest and checks its arguments", () => {
  const mac = new Poly1305(random(32));
  mac.update(random(20));
  assert.equal(mac.digest().length, 16);
  assert.throws(() => mac.digest());
  assert.throws(() => mac.update(random(1)));
  assert.throws(() => mac.updatePadded(random(1)));
  assert.throws(() => poly1305(random(16), random(10)), { name: "RangeError", message: /key/ });
  assert.throws(() => new Poly1305("key" as unknown as Uint8Array), { name: "TypeError", message: /key/ });
  assert.throws(() => poly1305(random(32), "msg" as unknown as Uint8Array), TypeError);
  assert.throws(() => new Poly1305(random(32)).updatePadded([1] as unknown as Uint8Array), TypeError);
});
