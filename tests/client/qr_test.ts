// The QR encoder (client/qr.ts) against known values from ISO/IEC 18004 (format and version information,
// alignment positions, the Reed–Solomon codewords of the standard's worked examples) and against an
// independent decoder run as a separate process: zbarimg (ZBar) reads symbols of every mode, level and
// mask drawn as images, and must give back exactly the input.

import assert from "node:assert/strict";
import { join } from "node:path";
import { type RandomSource, systemRandom } from "../../crypto/bytes.ts";
import {
  alignmentPositions,
  type EcLevel,
  encodeQr,
  formatBits,
  penalty,
  QrTooLongError,
  qrToRows,
  reedSolomon,
  versionBits,
} from "../../client/qr.ts";
import { peerMissing, requirePeer } from "../_peers.ts";
import { seededRandom } from "../protocol/_helpers.ts";

Deno.test("qr: format and version information (ISO/IEC 18004 Annex C)", () => {
  // Table C.1: level and mask → the 15 masked format bits.
  const table: [EcLevel, number, number][] = [
    ["L", 0, 0b111011111000100],
    ["L", 1, 0b111001011110011],
    ["L", 7, 0b110100101110110],
    ["M", 0, 0b101010000010010],
    ["M", 1, 0b101000100100101],
    ["M", 7, 0b100101010100000],
    ["Q", 0, 0b011010101011111],
    ["Q", 7, 0b010101111101101],
    ["H", 0, 0b001011010001001],
  ];
  for (const [level, mask, bits] of table) assert.equal(formatBits(level, mask), bits, `${level}${mask}`);
  // Table D.1: version → the 18 version bits.
  assert.equal(versionBits(7), 0x07c94);
  assert.equal(versionBits(8), 0x085bc);
  assert.equal(versionBits(21), 0x15683);
  assert.equal(versionBits(40), 0x28c69);
});

Deno.test("qr: alignment pattern centres (Annex E)", () => {
  assert.deepEqual(alignmentPositions(1), []);
  assert.deepEqual(alignmentPositions(2), [6, 18]);
  assert.deepEqual(alignmentPositions(7), [6, 22, 38]);
  assert.deepEqual(alignmentPositions(14), [6, 26, 46, 66]);
  assert.deepEqual(alignmentPositions(32), [6, 34, 60, 86, 112, 138]);
  assert.deepEqual(alignmentPositions(36), [6, 24, 50, 76, 102, 128, 154]);
  assert.deepEqual(alignmentPositions(40), [6, 30, 58, 86, 114, 142, 170]);
});

Deno.test("qr: Reed–Solomon codewords of the standard's examples", () => {
  // Annex I: "01234567" as 1-M.
  const data1 = Uint8Array.from([
    0x10,
    0x20,
    0x0c,
    0x56,
    0x61,
    0x80,
    0xec,
    0x11,
    0xec,
    0x11,
    0xec,
    0x11,
    0xec,
    0x11,
    0xec,
    0x11,
  ]);
  assert.deepEqual([...reedSolomon(data1, 10)], [0xa5, 0x24, 0xd4, 0xc1, 0xed, 0x36, 0xc7, 0x87, 0x2c, 0x55]);
  // "HELLO WORLD" as 1-Q.
  const data2 = Uint8Array.from([
    0x20,
    0x5b,
    0x0b,
    0x78,
    0xd1,
    0x72,
    0xdc,
    0x4d,
    0x43,
    0x40,
    0xec,
    0x11,
    0xec,
  ]);
  assert.deepEqual([...reedSolomon(data2, 13)], [168, 72, 22, 82, 217, 54, 156, 0, 46, 15, 180, 122, 16]);
});

Deno.test("qr: the symbol of Annex I's example (01234567, 1-M, mask 2)", () => {
  const code = encodeQr("01234567", { ecLevel: "M", mask: 2 });
  assert.equal(code.version, 1);
  assert.equal(code.mode, "numeric");
  const rows = qrToRows(code);
  assert.equal(rows.length, 21);
  // Finder patterns, timing patterns and the dark module are where §6.3 puts them.
  assert.equal(rows[0].slice(0, 7), "#######");
  assert.equal(rows[6].slice(0, 7), "#######");
  assert.equal(rows[2].slice(0, 7), "#.###.#");
  assert.equal(rows[6].slice(8, 13), "#.#.#");
  assert.equal(rows[13][8], "#");
  // The format information read back from around the top-left finder is 1-M, mask 2.
  let bits = 0;
  for (let i = 0; i <= 5; i++) bits |= (rows[i][8] === "#" ? 1 : 0) << i;
  bits |= (rows[7][8] === "#" ? 1 : 0) << 6;
  bits |= (rows[8][8] === "#" ? 1 : 0) << 7;
  bits |= (rows[8][7] === "#" ? 1 : 0) << 8;
  for (let i = 9; i < 15; i++) bits |= (rows[8][14 - i] === "#" ? 1 : 0) << i;
  assert.equal(bits, formatBits("M", 2));
});

Deno.test("qr: the chosen mask has the lowest penalty; modes and versions", () => {
  for (const text of ["01234567", "HELLO WORLD", "sotto safety", "x".repeat(300)]) {
    const auto = encodeQr(text);
    const scores = Array.from(
      { length: 8 },
      (_, m) => penalty(encodeQr(text, { mask: m }).modules, auto.size),
    );
    assert.equal(penalty(auto.modules, auto.size), Math.min(...scores), text);
  }
  assert.equal(encodeQr("123456789012").mode, "numeric");
  assert.equal(encodeQr("HELLO WORLD $%*+-./:").mode, "alphanumeric");
  assert.equal(encodeQr("hello").mode, "byte");
  // A safety number (60 digits) fits version 2 at level M (63 digits), not version 1 (34).
  assert.equal(encodeQr("1".repeat(60), { ecLevel: "M" }).version, 2);
  assert.equal(encodeQr("1".repeat(34), { ecLevel: "M" }).version, 1);
  assert.equal(encodeQr("1".repeat(35), { ecLevel: "M" }).version, 2);
  // Capacity limits at version 40-L: 7089 digits, 2953 bytes; one more does not fit.
  assert.equal(encodeQr("7".repeat(7089), { ecLevel: "L" }).version, 40);
  assert.throws(() => encodeQr("7".repeat(7090), { ecLevel: "L" }), QrTooLongError);
  assert.equal(encodeQr(new Uint8Array(2953), { ecLevel: "L" }).version, 40);
  assert.throws(() => encodeQr(new Uint8Array(2954), { ecLevel: "L" }), QrTooLongError);
  assert.equal(encodeQr("A", { minVersion: 5 }).version, 5);
});

/** The symbol as a binary PGM image: `scale` pixels a module and a quiet zone of four modules. */
function pgm(modules: Uint8Array, size: number, scale = 3): Uint8Array {
  const n = (size + 8) * scale;
  const header = new TextEncoder().encode(`P5 ${n} ${n} 255\n`);
  const out = new Uint8Array(header.length + n * n).fill(255);
  out.set(header);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (!modules[r * size + c]) continue;
      for (let y = 0; y < scale; y++) {
        const at = header.length + ((r + 4) * scale + y) * n + (c + 4) * scale;
        out.fill(0, at, at + scale);
      }
    }
  }
  return out;
}

Deno.test({
  name: "qr: zbarimg decodes every mode, level and mask back to the input",
  ignore: peerMissing("zbarimg"),
}, async () => {
  const zbarimg = requirePeer("zbarimg");
  const dir = await Deno.makeTempDir({ prefix: "sotto-qr-" });
  const random: RandomSource = seededRandom("qr");
  const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const pick = (chars: string, n: number) => [...random(n)].map((b) => chars[b % chars.length]).join("");
  const cases: { input: string | Uint8Array; ecLevel: EcLevel; mask?: number }[] = [
    {
      input: "34575 26965 45609 79249 78922 44187 50406 90530 37913 40862 41337 60574".replace(/ /g, ""),
      ecLevel: "M",
    },
    { input: `sotto:chat/${"9nrb-xnv1-rfe9-ne0g-cmfx-j34r-2sjh-r3qz"}`, ecLevel: "Q" },
  ];
  const levels: EcLevel[] = ["L", "M", "Q", "H"];
  for (let i = 0; i < 32; i++) {
    const ecLevel = levels[i % 4], mask = Math.floor(i / 4), len = 1 + (random(1)[0] * (i + 1)) % 400;
    const kind = i % 3;
    const input = kind === 0 ? pick("0123456789", len) : kind === 1 ? pick(alnum, len) : random(len);
    cases.push({ input, ecLevel, mask });
  }
  try {
    for (const [i, c] of cases.entries()) {
      const code = encodeQr(c.input, { ecLevel: c.ecLevel, mask: c.mask });
      const file = join(dir, `${i}.pgm`);
      await Deno.writeFile(file, pgm(code.modules, code.size));
      const out = await new Deno.Command(zbarimg, {
        args: ["-q", "--raw", "-Sbinary", file],
        stdout: "piped",
        stderr: "null",
      }).output();
      const expected = typeof c.input === "string" ? new TextEncoder().encode(c.input) : c.input;
      const label = `case ${i}: ${code.mode} ${code.version}-${code.ecLevel} mask ${code.mask}`;
      assert.equal(out.code, 0, `${label}: zbarimg found no symbol`);
      assert.deepEqual(out.stdout, expected, label);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("qr: random inputs are deterministic and the right size", () => {
  for (let i = 0; i < 20; i++) {
    const input = systemRandom(1 + i * 37);
    const a = encodeQr(input), b = encodeQr(input);
    assert.deepEqual(a.modules, b.modules);
    assert.equal(a.modules.length, a.size * a.size);
    assert.equal(a.size, a.version * 4 + 17);
  }
});
