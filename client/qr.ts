// A QR code encoder (ISO/IEC 18004:2015), pure: text or bytes in, the module matrix out. It picks the
// most compact mode for the whole input (numeric, alphanumeric or byte: no mixed segments), the smallest
// version (1–40) that holds it at the asked error-correction level, and the mask with the lowest penalty
// (§7.8.3), unless told which. The web UI draws the safety number with it; the terminal can draw the same
// matrix with half-block characters. Reed–Solomon over GF(256) with the polynomial 0x11d, generators
// built from α^0…α^(n−1) (§7.5.2); format and version information BCH-coded (§7.9, §7.10).

/** Error-correction level: recovers about 7%, 15%, 25% or 30% of the codewords. */
export type EcLevel = "L" | "M" | "Q" | "H";

/** An encoded symbol: `size`×`size` modules, row by row, 1 = dark. No quiet zone is included. */
export interface QrCode {
  version: number;
  size: number;
  ecLevel: EcLevel;
  mask: number;
  mode: "numeric" | "alphanumeric" | "byte";
  modules: Uint8Array;
}

export interface QrOptions {
  ecLevel?: EcLevel;
  /** 0–7 to force a mask (tests); default: the lowest penalty. */
  mask?: number;
  /** The smallest version to use (default 1). */
  minVersion?: number;
}

/** The input does not fit in a version-40 symbol at the asked level. */
export class QrTooLongError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QrTooLongError";
  }
}

const EC_INDEX: Record<EcLevel, number> = { L: 0, M: 1, Q: 2, H: 3 };
/** The two format bits of each level (§7.9.1, Table 12). */
const EC_BITS: Record<EcLevel, number> = { L: 1, M: 0, Q: 3, H: 2 };

// Table 9: per version (index 1–40) and level (L, M, Q, H), the EC codewords per block and the blocks.
// prettier-ignore
const EC_PER_BLOCK = [
  [],
  [7, 10, 13, 17],
  [10, 16, 22, 28],
  [15, 26, 18, 22],
  [20, 18, 26, 16],
  [26, 24, 18, 22],
  [18, 16, 24, 28],
  [20, 18, 18, 26],
  [24, 22, 22, 26],
  [30, 22, 20, 24],
  [18, 26, 24, 28],
  [20, 30, 28, 24],
  [24, 22, 26, 28],
  [26, 22, 24, 22],
  [30, 24, 20, 24],
  [22, 24, 30, 24],
  [24, 28, 24, 30],
  [28, 28, 28, 28],
  [30, 26, 28, 28],
  [28, 26, 26, 26],
  [28, 26, 30, 28],
  [28, 26, 28, 30],
  [28, 28, 30, 24],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [26, 28, 30, 30],
  [28, 28, 28, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
  [30, 28, 30, 30],
];
// prettier-ignore
const BLOCKS = [
  [],
  [1, 1, 1, 1],
  [1, 1, 1, 1],
  [1, 1, 2, 2],
  [1, 2, 2, 4],
  [1, 2, 4, 4],
  [2, 4, 4, 4],
  [2, 4, 6, 5],
  [2, 4, 6, 6],
  [2, 5, 8, 8],
  [4, 5, 8, 8],
  [4, 5, 8, 11],
  [4, 8, 10, 11],
  [4, 9, 12, 16],
  [4, 9, 16, 16],
  [6, 10, 12, 18],
  [6, 10, 17, 16],
  [6, 11, 16, 19],
  [6, 13, 18, 21],
  [7, 14, 21, 25],
  [8, 16, 20, 25],
  [8, 17, 23, 25],
  [9, 17, 23, 34],
  [9, 18, 25, 30],
  [10, 20, 27, 32],
  [12, 21, 29, 35],
  [12, 23, 34, 37],
  [12, 25, 34, 40],
  [13, 26, 35, 42],
  [14, 28, 38, 45],
  [15, 29, 40, 48],
  [16, 31, 43, 51],
  [17, 33, 45, 54],
  [18, 35, 48, 57],
  [19, 37, 51, 60],
  [19, 38, 53, 63],
  [20, 40, 56, 66],
  [21, 43, 59, 70],
  [22, 45, 62, 74],
  [24, 47, 65, 77],
  [25, 49, 68, 81],
];

const ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/** Modules that carry data and EC codewords in a symbol of `version` (§7.1, counting what is left). */
function rawDataModules(version: number): number {
  const size = version * 4 + 17;
  let n = size * size - 3 * 64 - 2 * (size - 16) - 31; // finders+separators+format, timing, format/dark
  if (version >= 2) {
    const count = Math.floor(version / 7) + 2;
    n -= (count * count - 3) * 25 - 10 * (count - 2); // alignment patterns, less their overlap with timing
    if (version >= 7) n -= 36; // version information
  }
  return n;
}

/** Data codewords of a symbol (all codewords less the EC ones). */
function dataCodewords(version: number, ec: EcLevel): number {
  const i = EC_INDEX[ec];
  return Math.floor(rawDataModules(version) / 8) - EC_PER_BLOCK[version][i] * BLOCKS[version][i];
}

/** Bits of the character count indicator (§7.4.1, Table 3). */
function countBits(mode: QrCode["mode"], version: number): number {
  const band = version <= 9 ? 0 : version <= 26 ? 1 : 2;
  return { numeric: [10, 12, 14], alphanumeric: [9, 11, 13], byte: [8, 16, 16] }[mode][band];
}

class BitBuffer {
  readonly bits: number[] = [];
  put(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.bits.push((value >>> i) & 1);
  }
}

/** The data bits of the whole input in one segment of `mode` (without terminator or padding). */
function segmentBits(mode: QrCode["mode"], chars: string, bytes: Uint8Array, version: number): number[] {
  const b = new BitBuffer();
  b.put({ numeric: 1, alphanumeric: 2, byte: 4 }[mode], 4);
  const count = mode === "byte" ? bytes.length : chars.length;
  if (count >= 1 << countBits(mode, version)) return [];
  b.put(count, countBits(mode, version));
  if (mode === "numeric") {
    for (let i = 0; i < chars.length; i += 3) {
      const group = chars.slice(i, i + 3);
      b.put(Number(group), group.length * 3 + 1);
    }
  } else if (mode === "alphanumeric") {
    for (let i = 0; i < chars.length; i += 2) {
      if (i + 1 < chars.length) {
        b.put(ALPHANUMERIC.indexOf(chars[i]) * 45 + ALPHANUMERIC.indexOf(chars[i + 1]), 11);
      } else b.put(ALPHANUMERIC.indexOf(chars[i]), 6);
    }
  } else {
    for (const byte of bytes) b.put(byte, 8);
  }
  return b.bits;
}

// ---- Reed–Solomon over GF(256) ------------------------------------------------------------------------

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
}

function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}

/** The generator polynomial of degree n, highest coefficient first (the leading 1 left out). */
function generator(n: number): Uint8Array {
  let poly = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= gfMul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return Uint8Array.from(poly.slice(1));
}

/** The n EC codewords of a block: the remainder of data·x^n divided by the generator. */
export function reedSolomon(data: Uint8Array, n: number): Uint8Array {
  const gen = generator(n);
  const rem = new Uint8Array(n);
  for (const d of data) {
    const factor = d ^ rem[0];
    rem.copyWithin(0, 1);
    rem[n - 1] = 0;
    for (let i = 0; i < n; i++) rem[i] ^= gfMul(gen[i], factor);
  }
  return rem;
}

/** The final codeword sequence: blocks' data interleaved, then their EC codewords (§7.6). */
function interleave(data: Uint8Array, version: number, ec: EcLevel): Uint8Array {
  const i = EC_INDEX[ec];
  const blocks = BLOCKS[version][i], ecLen = EC_PER_BLOCK[version][i];
  const total = Math.floor(rawDataModules(version) / 8);
  const shortBlocks = blocks - (total % blocks), shortLen = Math.floor(total / blocks) - ecLen;
  const dataBlocks: Uint8Array[] = [], ecBlocks: Uint8Array[] = [];
  for (let b = 0, at = 0; b < blocks; b++) {
    const len = shortLen + (b < shortBlocks ? 0 : 1);
    const block = data.subarray(at, at + len);
    at += len;
    dataBlocks.push(block);
    ecBlocks.push(reedSolomon(block, ecLen));
  }
  const out: number[] = [];
  for (let k = 0; k <= shortLen; k++) {
    for (const block of dataBlocks) if (k < block.length) out.push(block[k]);
  }
  for (let k = 0; k < ecLen; k++) for (const block of ecBlocks) out.push(block[k]);
  return Uint8Array.from(out);
}

// ---- the matrix ---------------------------------------------------------------------------------------

/** Centres of the alignment patterns on each axis (§6.3.6, Annex E). */
export function alignmentPositions(version: number): number[] {
  if (version === 1) return [];
  const count = Math.floor(version / 7) + 2, size = version * 4 + 17;
  const step = version === 32 ? 26 : Math.ceil((size - 13) / (count * 2 - 2)) * 2;
  const out = [6];
  for (let pos = size - 7; out.length < count; pos -= step) out.splice(1, 0, pos);
  return out;
}

/** The BCH code of `value` (its bits shifted up by the generator's degree) with generator `poly`. */
function bch(value: number, poly: number, degree: number): number {
  let rem = value << degree;
  for (let bit = 31 - Math.clz32(rem); bit >= degree; bit--) {
    if ((rem >>> bit) & 1) rem ^= poly << (bit - degree);
  }
  return (value << degree) | rem;
}

/** The 15 format bits of a level and mask, masked with 101010000010010 (§7.9.1). */
export function formatBits(ec: EcLevel, mask: number): number {
  return bch((EC_BITS[ec] << 3) | mask, 0x537, 10) ^ 0x5412;
}

/** The 18 version bits (§7.10), for versions 7 and up. */
export function versionBits(version: number): number {
  return bch(version, 0x1f25, 12);
}

const MASKS: ((r: number, c: number) => boolean)[] = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (_, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

class Matrix {
  readonly size: number;
  readonly dark: Uint8Array;
  /** Function patterns and reserved areas (never masked, never data). */
  readonly fixed: Uint8Array;

  constructor(version: number) {
    this.size = version * 4 + 17;
    this.dark = new Uint8Array(this.size * this.size);
    this.fixed = new Uint8Array(this.size * this.size);
    this.#functionPatterns(version);
  }

  set(r: number, c: number, dark: boolean, fixed = true): void {
    this.dark[r * this.size + c] = dark ? 1 : 0;
    if (fixed) this.fixed[r * this.size + c] = 1;
  }

  #functionPatterns(version: number): void {
    const n = this.size;
    for (let i = 0; i < n; i++) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [r0, c0] of [[3, 3], [3, n - 4], [n - 4, 3]]) {
      for (let dr = -4; dr <= 4; dr++) {
        for (let dc = -4; dc <= 4; dc++) {
          const r = r0 + dr, c = c0 + dc;
          if (r < 0 || r >= n || c < 0 || c >= n) continue;
          const d = Math.max(Math.abs(dr), Math.abs(dc));
          this.set(r, c, d !== 2 && d !== 4);
        }
      }
    }
    const centres = alignmentPositions(version);
    for (const r0 of centres) {
      for (const c0 of centres) {
        if ((r0 === 6 && c0 === 6) || (r0 === 6 && c0 === n - 7) || (r0 === n - 7 && c0 === 6)) continue;
        for (let dr = -2; dr <= 2; dr++) {
          for (let dc = -2; dc <= 2; dc++) {
            this.set(r0 + dr, c0 + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
          }
        }
      }
    }
    this.drawFormat(0); // reserves the format areas; drawn again with the real bits
    if (version >= 7) {
      const bits = versionBits(version);
      for (let i = 0; i < 18; i++) {
        const dark = ((bits >>> i) & 1) === 1, a = n - 11 + (i % 3), b = Math.floor(i / 3);
        this.set(a, b, dark);
        this.set(b, a, dark);
      }
    }
  }

  /** Both copies of the format information, and the dark module (§7.9.1, Figure 25). */
  drawFormat(bits: number): void {
    const n = this.size, bit = (i: number) => ((bits >>> i) & 1) === 1;
    for (let i = 0; i <= 5; i++) this.set(i, 8, bit(i));
    this.set(7, 8, bit(6));
    this.set(8, 8, bit(7));
    this.set(8, 7, bit(8));
    for (let i = 9; i < 15; i++) this.set(8, 14 - i, bit(i));
    for (let i = 0; i < 8; i++) this.set(8, n - 1 - i, bit(i));
    for (let i = 8; i < 15; i++) this.set(n - 15 + i, 8, bit(i));
    this.set(n - 8, 8, true);
  }

  /** Places the codewords in the zigzag order of §7.7.3, column pairs from the right. */
  placeData(codewords: Uint8Array): void {
    const n = this.size;
    let i = 0;
    for (let right = n - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (let k = 0; k < n; k++) {
        for (let j = 0; j < 2; j++) {
          const c = right - j, upward = ((right + 1) & 2) === 0, r = upward ? n - 1 - k : k;
          if (this.fixed[r * n + c]) continue;
          const dark = i < codewords.length * 8 && ((codewords[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
          this.set(r, c, dark, false);
          i++;
        }
      }
    }
  }

  applyMask(mask: number): void {
    const n = this.size, test = MASKS[mask];
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) if (!this.fixed[r * n + c] && test(r, c)) this.dark[r * n + c] ^= 1;
    }
  }
}

/** The penalty score of a finished symbol (§7.8.3.1, N1 = 3, N2 = 3, N3 = 40, N4 = 10). */
export function penalty(modules: Uint8Array, size: number): number {
  let score = 0;
  const at = (r: number, c: number) => modules[r * size + c];
  for (const horizontal of [true, false]) {
    for (let a = 0; a < size; a++) {
      let run = 0, last = -1;
      const line: number[] = [];
      for (let b = 0; b < size; b++) {
        const v = horizontal ? at(a, b) : at(b, a);
        line.push(v);
        if (v === last) run++;
        else {
          if (run >= 5) score += run - 2;
          run = 1;
          last = v;
        }
      }
      if (run >= 5) score += run - 2;
      // 1:1:3:1:1 finder-like patterns with four light modules on either side (the light beyond the edge
      // counts, as the quiet zone).
      const px = (k: number) => (k < 0 || k >= size ? 0 : line[k]);
      for (let k = -4; k < size; k++) {
        const core = px(k) === 1 && px(k + 1) === 0 && px(k + 2) === 1 && px(k + 3) === 1 &&
          px(k + 4) === 1 && px(k + 5) === 0 && px(k + 6) === 1;
        if (!core) continue;
        const before = px(k - 1) + px(k - 2) + px(k - 3) + px(k - 4) === 0;
        const after = px(k + 7) + px(k + 8) + px(k + 9) + px(k + 10) === 0;
        if (before) score += 40;
        if (after) score += 40;
      }
    }
  }
  for (let r = 0; r < size - 1; r++) {
    for (let c = 0; c < size - 1; c++) {
      const v = at(r, c);
      if (v === at(r, c + 1) && v === at(r + 1, c) && v === at(r + 1, c + 1)) score += 3;
    }
  }
  let dark = 0;
  for (const v of modules) dark += v;
  score += Math.floor(Math.abs(dark * 20 - modules.length * 10) / modules.length) * 10;
  return score;
}

/** Encodes text (UTF-8 in byte mode unless it is all digits or all QR alphanumerics) or bytes. */
export function encodeQr(input: string | Uint8Array, options: QrOptions = {}): QrCode {
  const ec = options.ecLevel ?? "M";
  const chars = typeof input === "string" ? input : "";
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const mode: QrCode["mode"] = typeof input !== "string"
    ? "byte"
    : /^[0-9]*$/.test(chars)
    ? "numeric"
    : [...chars].every((ch) => ALPHANUMERIC.includes(ch))
    ? "alphanumeric"
    : "byte";
  for (let version = Math.max(1, options.minVersion ?? 1); version <= 40; version++) {
    const bits = segmentBits(mode, chars, bytes, version);
    const capacity = dataCodewords(version, ec) * 8;
    if (bits.length === 0 || bits.length > capacity) continue;
    return build(version, ec, mode, bits, capacity, options.mask);
  }
  throw new QrTooLongError(`That is too long for a QR code at level ${ec}.`);
}

function build(
  version: number,
  ec: EcLevel,
  mode: QrCode["mode"],
  bits: number[],
  capacity: number,
  forcedMask: number | undefined,
): QrCode {
  const all = bits.slice();
  for (let i = 0; i < 4 && all.length < capacity; i++) all.push(0); // terminator
  while (all.length % 8 !== 0) all.push(0);
  const data = new Uint8Array(capacity / 8);
  for (let i = 0; i < all.length; i++) data[i >>> 3] |= all[i] << (7 - (i & 7));
  for (let i = all.length / 8, pad = 0; i < data.length; i++, pad ^= 1) data[i] = pad ? 0x11 : 0xec;
  const matrix = new Matrix(version);
  matrix.placeData(interleave(data, version, ec));
  const unmasked = matrix.dark.slice();
  let best: { mask: number; modules: Uint8Array; score: number } | null = null;
  for (let mask = 0; mask < 8; mask++) {
    if (forcedMask !== undefined && mask !== forcedMask) continue;
    matrix.dark.set(unmasked);
    matrix.applyMask(mask);
    matrix.drawFormat(formatBits(ec, mask));
    const score = forcedMask !== undefined ? 0 : penalty(matrix.dark, matrix.size);
    if (best === null || score < best.score) best = { mask, modules: matrix.dark.slice(), score };
  }
  if (best === null) throw new RangeError("mask must be 0 to 7");
  return { version, size: matrix.size, ecLevel: ec, mask: best.mask, mode, modules: best.modules };
}

/** The symbol as text rows of "#" and "." (tests, debugging). */
export function qrToRows(code: QrCode): string[] {
  const rows: string[] = [];
  for (let r = 0; r < code.size; r++) {
    let row = "";
    for (let c = 0; c < code.size; c++) row += code.modules[r * code.size + c] ? "#" : ".";
    rows.push(row);
  }
  return rows;
}

/**
 * The symbol as text for a terminal, two modules a character cell with Unicode half blocks ("▀" the
 * top one dark, "▄" the bottom one, "█" both, " " neither), in a quiet zone of `quiet` light modules
 * (ISO/IEC 18004 asks for 4; on a screen 2 read as well and keep a version 6 symbol within 24 rows).
 * Dark modules are the ones drawn: show the rows in a dark colour on a light background.
 */
export function qrHalfBlocks(code: QrCode, quiet = 2): string[] {
  const n = code.size + 2 * quiet;
  const dark = (r: number, c: number) => {
    const y = r - quiet, x = c - quiet;
    return y >= 0 && x >= 0 && y < code.size && x < code.size && code.modules[y * code.size + x] === 1;
  };
  const rows: string[] = [];
  for (let r = 0; r < n; r += 2) {
    let row = "";
    for (let c = 0; c < n; c++) {
      const top = dark(r, c), bottom = r + 1 < n && dark(r + 1, c);
      row += top ? (bottom ? "█" : "▀") : bottom ? "▄" : " ";
    }
    rows.push(row);
  }
  return rows;
}
