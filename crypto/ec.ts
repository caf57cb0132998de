// Generic prime-field short-Weierstrass curves y² = x³ − 3x + b (every NIST prime curve has a = −3):
// field arithmetic, Jacobian points, scalar multiplication, SEC1 encoding with full validation, ECDH
// (SEC 1 §3.3.1) and ECDSA (FIPS 186-5, nonces per RFC 6979). crypto/p256.ts, p384.ts and p521.ts
// instantiate it.
//
// Secret scalars go through one path only, `mulSecret` / `mulBaseSecret`: regular signed fixed windows,
// every window does the same doublings and one addition, with no branch on the scalar's digits. Public
// inputs (verification) use faster variable-time code. The limits of these claims (bigint timing, table
// lookups indexed by secret digits, the exceptional-case branches) are in docs/security.md.

import {
  bigIntToBytes,
  bytesToBigInt,
  checkBytes,
  concatBytes,
  type RandomSource,
  systemRandom,
} from "./bytes.ts";
import { InvalidPointError } from "./errors.ts";
import { hash, type HashName } from "./sha2.ts";
import { createHmac, hmac } from "./hmac.ts";
import { derToSignature, signatureToDer } from "./der.ts";

/** The constants that define a curve with a = −3 over GF(p). */
export interface CurveParams {
  /** "P-256", "P-384" or "P-521": used in messages and by protocol code. */
  name: string;
  /** The dotted OID of the named curve (SEC 2 / RFC 5480), as SubjectPublicKeyInfo carries it. */
  oid: string;
  p: bigint;
  b: bigint;
  /** The (prime) order of the base point; the cofactor must be 1. */
  n: bigint;
  gx: bigint;
  gy: bigint;
  /** The hash ECDSA uses with this curve (FIPS 186-5 pairs P-256/SHA-256 and so on). */
  hash: HashName;
  /** Window width of the precomputed base-point table (bigger: faster signing, slower first use). */
  baseWindow: number;
}

/** A point in Jacobian coordinates (X/Z², Y/Z³); Z ≡ 0 is the point at infinity. */
interface Jacobian {
  x: bigint;
  y: bigint;
  z: bigint;
}

/** A point in affine coordinates, already validated (never infinity). */
export interface AffinePoint {
  x: bigint;
  y: bigint;
}

/** The public API of a curve, as p256, p384 and p521 export it. Keys and signatures are bytes. */
export interface Curve {
  readonly name: string;
  readonly oid: string;
  readonly hash: HashName;
  /** Bytes in a field element, a scalar and a secret key (66 for P-521). */
  readonly byteLength: number;
  readonly p: bigint;
  readonly n: bigint;
  /** A uniformly random secret key in [1, n − 1], `byteLength` bytes. */
  randomSecretKey(random?: RandomSource): Uint8Array;
  /** The SEC1 public key of a secret key: compressed (0x02/0x03 ‖ x) by default, else 0x04 ‖ x ‖ y. */
  getPublicKey(secretKey: Uint8Array, compressed?: boolean): Uint8Array;
  /** The x-coordinate of secretKey · publicKey, `byteLength` bytes; throws on an invalid public key. */
  ecdh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /**
   * `ecdh(k, publicKey)` for each k of `secretKeys`, validating the public key and building its table of
   * multiples once (a Double Ratchet step agrees with one new peer key twice).
   */
  ecdhMany(secretKeys: Uint8Array[], publicKey: Uint8Array): Uint8Array[];
  /** ECDSA over hash(message) with the curve's hash; r ‖ s, each `byteLength` bytes; RFC 6979 nonce. */
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** ECDSA over a digest the caller computed (any length; leftmost bits of n's size are used). */
  signDigest(secretKey: Uint8Array, digest: Uint8Array, nonceHash?: NonceMac): Uint8Array;
  /** True only for a valid r ‖ s signature of message under publicKey; never throws. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** As verify, over a digest the caller computed; never throws. */
  verifyDigest(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean;
  /** r ‖ s → DER `SEQUENCE { INTEGER r, INTEGER s }`. */
  signatureToDer(signature: Uint8Array): Uint8Array;
  /** Strict DER → r ‖ s; throws a RangeError on anything but minimal DER with r, s of at most n's size. */
  signatureFromDer(der: Uint8Array): Uint8Array;
  /** Decodes and validates a SEC1 public key; throws InvalidPointError naming the reason. */
  decodePoint(publicKey: Uint8Array, name?: string): AffinePoint;
  /** SEC1 encoding of a point. */
  encodePoint(point: AffinePoint, compressed?: boolean): Uint8Array;
  /** True if `publicKey` is a valid SEC1 encoding of a point on this curve. */
  isValidPublicKey(publicKey: Uint8Array): boolean;
  /**
   * Builds the base-point table with a wider window (5 to 8 bits) now, for a long-running process that
   * makes many keys and signatures: each window saved is one point addition per `getPublicKey` or `sign`.
   * P-521 with 8 bits: about 80 ms and 2.5 MB once, then 66 additions instead of 105. A width no larger
   * than the current table's does nothing. A RangeError for other widths.
   */
  precomputeBase(window: number): void;
}

/** The HMAC that RFC 6979 runs: normally the curve's hash, replaceable so tests can use the RFC's others. */
export interface NonceMac {
  outputLength: number;
  mac(key: Uint8Array, data: Uint8Array): Uint8Array;
  /**
   * Optional: the MAC under one key as a function of the data, equal to `(data) => mac(key, data)` but
   * keying once. RFC 6979 MACs several times under each key K; without this, every call keys afresh.
   * signDigest drops the function before it returns.
   */
  keyed?(key: Uint8Array): (data: Uint8Array) => Uint8Array;
}

/** Builds a curve from its constants. Tables for the base point are built on first use. */
export function createCurve(params: CurveParams): Curve {
  const { p, b, n, name } = params;
  const L = Math.ceil(bitLength(p) / 8);
  const nBits = bitLength(n);
  if (bitLength(n) > 8 * L) throw new RangeError(`${name}: n must fit in a field element's bytes`);
  const f = makeField(p);
  const { red1, red2, isZero } = f;

  // ---- point arithmetic (Jacobian, a = −3) -------------------------------------------------------
  // Values may be negative: the reductions work for either sign (see makeField). Stored coordinates go
  // through red2; values consumed by the next multiplication only go through the cheaper red1, and a
  // product that is only subtracted inside a final red2 is not reduced at all. For P-521, with stored
  // values below 2^(k + 1) in magnitude, every factor stays below 2^(k + 20) and every product below
  // 2^(2k + 29) (the Y of a general addition is the largest), so values keep to nine 64-bit digits and
  // red2 returns stored values in [−2^30, p + 2^30).

  /** 2·P (dbl-2001-b). Infinity doubles to infinity without a branch: Z3 = 2·Y·Z. */
  function dbl(P: Jacobian): Jacobian {
    const { x, y, z } = P;
    const delta = red1(z * z);
    const gamma = red1(y * y);
    const beta = red1(x * gamma);
    const alpha = red1((x - delta) * (x + delta)) * 3n;
    const x3 = red2(alpha * alpha - (beta << 3n));
    const z3 = red2((y * z) << 1n);
    const y3 = red2(alpha * ((beta << 2n) - x3) - ((gamma * gamma) << 3n));
    return { x: x3, y: y3, z: z3 };
  }

  /**
   * P + Q for Jacobian points (add-1998-cmo-2). The branches handle infinity and P = ±Q; with a secret
   * scalar they are taken only by scalars of a special form (see docs/security.md).
   */
  function add(P: Jacobian, Q: Jacobian): Jacobian {
    if (isZero(P.z)) return Q;
    if (isZero(Q.z)) return P;
    const z1z1 = red1(P.z * P.z), z2z2 = red1(Q.z * Q.z);
    const u1 = red1(P.x * z2z2), u2 = red1(Q.x * z1z1);
    const s1 = red1(P.y * red1(Q.z * z2z2)), s2 = red1(Q.y * red1(P.z * z1z1));
    const h = u2 - u1, r = s2 - s1;
    const z3 = red2(red1(P.z * Q.z) * h);
    if (isZero(z3)) return f.mod(r) === 0n ? dbl(P) : INFINITY; // h ≡ 0: P = ±Q
    const hh = red1(h * h);
    const hhh = red1(h * hh);
    const v = red1(u1 * hh);
    const x3 = red2(r * r - hhh - (v << 1n));
    const y3 = red2(r * (v - x3) - s1 * hhh);
    return { x: x3, y: y3, z: z3 };
  }

  /** P + (x2, y2) with the second point affine (madd-2004-hmv shape); same branches as add. */
  function addAffine(P: Jacobian, x2: bigint, y2: bigint): Jacobian {
    if (isZero(P.z)) return { x: x2, y: y2, z: 1n };
    const z1z1 = red1(P.z * P.z);
    const h = red1(x2 * z1z1) - P.x;
    const r = red1(y2 * red1(P.z * z1z1)) - P.y;
    const z3 = red2(P.z * h);
    if (isZero(z3)) return f.mod(r) === 0n ? dbl(P) : INFINITY;
    const hh = red1(h * h);
    const hhh = red1(h * hh);
    const v = red1(P.x * hh);
    const x3 = red2(r * r - hhh - (v << 1n));
    const y3 = red2(r * (v - x3) - P.y * hhh);
    return { x: x3, y: y3, z: z3 };
  }

  const INFINITY: Jacobian = { x: 1n, y: 1n, z: 0n };

  /**
   * Z⁻¹ for a secret Z: a blinded variable-time inversion, (Z·β)⁻¹·β with β uniformly random, so the
   * inversion's timing depends on Z·β, which is independent of Z.
   */
  function invBlinded(z: bigint): bigint {
    const beta = bytesToBigInt(systemRandom(L + 16)) % (p - 1n) + 1n;
    return f.mod(red2(f.invPublic(red2(z * beta)) * beta));
  }

  /** Affine x of a Jacobian point that may be secret. */
  function affineXSecret(P: Jacobian): bigint {
    if (isZero(P.z)) throw new RangeError(`${name}: result is the point at infinity`);
    const zi = invBlinded(P.z);
    return f.mod(P.x * red2(zi * zi));
  }

  /** Affine coordinates of a Jacobian point that may be secret. */
  function toAffineSecret(P: Jacobian): AffinePoint {
    if (isZero(P.z)) throw new RangeError(`${name}: result is the point at infinity`);
    const zi = invBlinded(P.z);
    const zi2 = red2(zi * zi);
    return { x: f.mod(P.x * zi2), y: f.mod(P.y * red2(zi2 * zi)) };
  }

  /** Affine coordinates of many public points with one inversion (Montgomery's trick). */
  function batchToAffine(points: Jacobian[]): AffinePoint[] {
    const prefix: bigint[] = new Array(points.length);
    let acc = 1n;
    for (let i = 0; i < points.length; i++) {
      prefix[i] = acc;
      acc = red2(acc * points[i].z);
    }
    let inv = f.invPublic(acc);
    const out: AffinePoint[] = new Array(points.length);
    for (let i = points.length - 1; i >= 0; i--) {
      const zi = red2(inv * prefix[i]);
      inv = red2(inv * points[i].z);
      const zi2 = red2(zi * zi);
      out[i] = { x: f.mod(points[i].x * zi2), y: f.mod(points[i].y * red2(zi2 * zi)) };
    }
    return out;
  }

  /**
   * The odd multiples P, 3P, …, (2m − 1)P of a public point, affine, by co-Z additions (N. Meloni, "New
   * point addition formulae for ECC applications", WAIFI 2007; the precomputation of P. Longa and A. Miri,
   * PKC 2008). 2P is computed sharing its Z with a copy of P; then each step adds 2P to the last multiple
   * with both sharing one Z, and leaves 2P sharing Z with the sum (ZADDU, 5M + 2S, where a general addition
   * costs 12M + 4S). The multiple of step j has Z_j = Z_(j−1)·d_j for that step's X difference d_j, so one
   * inversion of the last Z and one multiplication per step walk back to every Z⁻¹. P has prime order
   * n > 2m, so no step meets P = ±Q (d_j ≢ 0) and no multiple is infinity.
   */
  function oddMultiples(P: AffinePoint, m: number): AffinePoint[] {
    const out: AffinePoint[] = new Array(m);
    out[0] = P;
    if (m === 1) return out;
    // DBLU for Z = 1 and a = −3: with S = 4·X·Y², L = Y⁴, M = 3·(X² − 1), 2P = (M² − 2S, M·(S − X₂) − 8L)
    // and P = (S, 8L), both with Z = 2Y.
    const yy = red1(P.y * P.y);
    const s = red2((P.x * yy) << 2n);
    const mm = red1(P.x * P.x - 1n) * 3n;
    const l8 = (yy * yy) << 3n;
    let tx = red2(mm * mm - (s << 1n));
    let ty = red2(mm * (s - tx) - l8);
    let cx = s, cy = red2(l8);
    let z = red2(P.y << 1n);
    const xs: bigint[] = new Array(m), ys: bigint[] = new Array(m), ds: bigint[] = new Array(m);
    for (let j = 1; j < m; j++) {
      // ZADDU(2P, current): current ← current + 2P, and 2P re-expressed with the sum's Z.
      const d = tx - cx, e = ty - cy;
      const c = red1(d * d);
      const w1 = red2(tx * c), w2 = red1(cx * c);
      const x3 = red2(e * e - w1 - w2);
      const a1 = red2(ty * (w1 - w2));
      cy = red2(e * (w1 - x3) - a1);
      cx = x3;
      tx = w1;
      ty = a1;
      z = red2(z * d);
      xs[j] = cx, ys[j] = cy, ds[j] = d;
    }
    let zi = f.invPublic(z); // 1 / Z_(m−1)
    for (let j = m - 1; j >= 1; j--) {
      const zi2 = red2(zi * zi);
      out[j] = { x: f.mod(xs[j] * zi2), y: f.mod(ys[j] * red2(zi2 * zi)) };
      zi = red2(zi * ds[j]); // 1 / Z_(j−1)
    }
    return out;
  }

  // ---- scalar multiplication -----------------------------------------------------------------------

  const VAR_WINDOW = 5; // odd multiples ±1P … ±31P for the variable base
  const varWindows = windowsFor(nBits + 1, VAR_WINDOW);

  /**
   * k·P for a secret k in [1, n − 1]: k is made odd (k or k + n, chosen arithmetically), recoded into
   * signed odd digits, and each window costs VAR_WINDOW doublings and one addition whatever the digits.
   * The table of multiples depends only on the public P.
   */
  function mulSecret(P: AffinePoint, k: bigint): Jacobian {
    return mulSecretWith(varTable(P), k);
  }

  /** ±1P … ±31P for the variable-base windows: xs[2j] = xs[2j + 1] = x((2j + 1)·P), ys[2j] = y, ys[2j + 1] = −y. */
  function varTable(P: AffinePoint): { xs: bigint[]; ys: bigint[] } {
    const half = 1 << (VAR_WINDOW - 1);
    const xs: bigint[] = new Array(2 * half), ys: bigint[] = new Array(2 * half);
    oddMultiples(P, half).forEach((pt, j) => {
      xs[2 * j] = xs[2 * j + 1] = pt.x;
      ys[2 * j] = pt.y;
      ys[2 * j + 1] = p - pt.y;
    });
    return { xs, ys };
  }

  /** k·P as mulSecret, over a table of P built by varTable. */
  function mulSecretWith({ xs, ys }: { xs: bigint[]; ys: bigint[] }, k: bigint): Jacobian {
    const digits = recodeRegular(k, n, VAR_WINDOW, varWindows);
    let idx = digitIndex(digits[varWindows - 1]);
    let acc: Jacobian = { x: xs[idx], y: ys[idx], z: 1n };
    for (let i = varWindows - 2; i >= 0; i--) {
      for (let j = 0; j < VAR_WINDOW; j++) acc = dbl(acc);
      idx = digitIndex(digits[i]);
      acc = addAffine(acc, xs[idx], ys[idx]);
    }
    return acc;
  }

  // Base-point comb: for window i, the odd multiples (2j + 1)·2^(w·i)·G and their negations, affine.
  interface BaseTable {
    /** Window width w. */
    w: number;
    /** Number of windows. */
    count: number;
    windows: { xs: bigint[]; ys: bigint[] }[];
  }
  let baseTable: BaseTable | null = null;

  function buildBaseTable(w: number): BaseTable {
    const count = windowsFor(nBits + 1, w);
    const half = 1 << (w - 1);
    const jac: Jacobian[] = [];
    let B: Jacobian = { x: params.gx, y: params.gy, z: 1n };
    for (let i = 0; i < count; i++) {
      const twice = dbl(B);
      let cur = B;
      for (let j = 0; j < half; j++) {
        jac.push(cur);
        cur = add(cur, twice);
      }
      // cur = (2·half + 1)·B, so the next window's base 2^w·B is cur − B.
      B = add(cur, { x: B.x, y: -B.y, z: B.z });
    }
    const aff = batchToAffine(jac);
    const windows: { xs: bigint[]; ys: bigint[] }[] = [];
    for (let i = 0; i < count; i++) {
      const xs: bigint[] = new Array(2 * half), ys: bigint[] = new Array(2 * half);
      for (let j = 0; j < half; j++) {
        const pt = aff[i * half + j];
        xs[2 * j] = xs[2 * j + 1] = pt.x;
        ys[2 * j] = pt.y;
        ys[2 * j + 1] = p - pt.y;
      }
      windows.push({ xs, ys });
    }
    return { w, count, windows };
  }

  function getBaseTable(): BaseTable {
    return baseTable ??= buildBaseTable(params.baseWindow);
  }

  function precomputeBase(window: number): void {
    if (!Number.isInteger(window) || window < 5 || window > 8) {
      throw new RangeError(`window must be an integer from 5 to 8, got ${window}`);
    }
    if (baseTable === null || window > baseTable.w) baseTable = buildBaseTable(window);
  }

  /** k·G for a secret k in [1, n − 1]: one affine addition per window, no doublings, uniform sequence. */
  function mulBaseSecret(k: bigint): Jacobian {
    const { w, count, windows } = getBaseTable();
    const digits = recodeRegular(k, n, w, count);
    let idx = digitIndex(digits[count - 1]);
    let acc: Jacobian = { x: windows[count - 1].xs[idx], y: windows[count - 1].ys[idx], z: 1n };
    for (let i = count - 2; i >= 0; i--) {
      idx = digitIndex(digits[i]);
      acc = addAffine(acc, windows[i].xs[idx], windows[i].ys[idx]);
    }
    return acc;
  }

  /** u1·G + u2·Q for public scalars (verification): base comb plus a sliding window on Q. */
  function mulDoublePublic(u1: bigint, Q: AffinePoint, u2: bigint): Jacobian {
    let acc = INFINITY;
    if (u2 !== 0n) {
      const table = oddMultiples(Q, 1 << (VAR_WINDOW - 1)); // Q, 3Q, …, (2^w − 1)Q
      const bits = u2.toString(2);
      let i = 0;
      while (i < bits.length) {
        if (bits[i] === "0") {
          acc = dbl(acc);
          i++;
          continue;
        }
        // the longest window of at most VAR_WINDOW bits starting here and ending in a 1
        let end = Math.min(i + VAR_WINDOW, bits.length);
        while (bits[end - 1] === "0") end--;
        const value = parseInt(bits.slice(i, end), 2);
        for (let j = i; j < end; j++) acc = dbl(acc);
        const pt = table[value >> 1];
        acc = addAffine(acc, pt.x, pt.y);
        i = end;
      }
    }
    if (u1 !== 0n) {
      const { w, count, windows } = getBaseTable();
      const digits = recodeRegular(u1, n, w, count);
      for (let i = count - 1; i >= 0; i--) {
        const idx = digitIndex(digits[i]);
        acc = addAffine(acc, windows[i].xs[idx], windows[i].ys[idx]);
      }
    }
    return acc;
  }

  // ---- encodings and validation ---------------------------------------------------------------------

  /** x³ − 3x + b, canonical. */
  function rhsOf(x: bigint): bigint {
    return f.mod(red2(x * x) * x - 3n * x + b);
  }

  function onCurve(x: bigint, y: bigint): boolean {
    return f.mod(y * y) === rhsOf(x);
  }

  function decodePoint(bytes: Uint8Array, argName = "publicKey"): AffinePoint {
    checkBytes(bytes, argName);
    const fail = (why: string) => new InvalidPointError(`${argName} is not a valid ${name} point: ${why}`);
    if (bytes.length === 2 * L + 1 && bytes[0] === 0x04) {
      const x = bytesToBigInt(bytes.subarray(1, 1 + L));
      const y = bytesToBigInt(bytes.subarray(1 + L));
      if (x >= p || y >= p) throw fail("a coordinate is not below p");
      if (!onCurve(x, y)) throw fail("not on the curve");
      return { x, y };
    }
    if (bytes.length === L + 1 && (bytes[0] === 0x02 || bytes[0] === 0x03)) {
      const x = bytesToBigInt(bytes.subarray(1));
      if (x >= p) throw fail("x is not below p");
      let y = f.sqrt(rhsOf(x));
      if (y === undefined) throw fail("not on the curve (no square root)");
      if ((y & 1n) !== BigInt(bytes[0] & 1)) y = p - y; // y ≠ 0: a prime-order curve has no point of order 2
      return { x, y };
    }
    if (bytes.length === 1 && bytes[0] === 0x00) throw fail("the point at infinity");
    throw fail(`expected ${L + 1} (compressed) or ${2 * L + 1} (uncompressed) bytes, got ${bytes.length}`);
  }

  function encodePoint(pt: AffinePoint, compressed = true): Uint8Array {
    const x = bigIntToBytes(pt.x, L);
    if (compressed) return concatBytes(Uint8Array.of(pt.y & 1n ? 0x03 : 0x02), x);
    return concatBytes(Uint8Array.of(0x04), x, bigIntToBytes(pt.y, L));
  }

  // ---- keys ------------------------------------------------------------------------------------------

  function secretScalar(secretKey: Uint8Array, argName = "secretKey"): bigint {
    checkBytes(secretKey, argName, L);
    const k = bytesToBigInt(secretKey);
    if (k === 0n || k >= n) throw new RangeError(`${argName} must be in [1, n - 1] for ${name}`);
    return k;
  }

  const topMask = (1 << (nBits - 8 * (L - 1))) - 1; // keeps nBits bits of an L-byte draw

  function randomSecretKey(random: RandomSource = systemRandom): Uint8Array {
    for (;;) {
      const bytes = random(L);
      checkBytes(bytes, "random(n) result", L);
      bytes[0] &= topMask;
      const k = bytesToBigInt(bytes);
      if (k !== 0n && k < n) return bytes;
    }
  }

  function getPublicKey(secretKey: Uint8Array, compressed = true): Uint8Array {
    const k = secretScalar(secretKey);
    if (typeof compressed !== "boolean") throw new TypeError("compressed must be a boolean");
    return encodePoint(toAffineSecret(mulBaseSecret(k)), compressed);
  }

  function ecdh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    const k = secretScalar(secretKey);
    const Q = decodePoint(publicKey);
    return bigIntToBytes(affineXSecret(mulSecret(Q, k)), L);
  }

  function ecdhMany(secretKeys: Uint8Array[], publicKey: Uint8Array): Uint8Array[] {
    if (!Array.isArray(secretKeys)) throw new TypeError("secretKeys must be an array of secret keys");
    const ks = secretKeys.map((key, i) => secretScalar(key, `secretKeys[${i}]`));
    const table = varTable(decodePoint(publicKey));
    return ks.map((k) => bigIntToBytes(affineXSecret(mulSecretWith(table, k)), L));
  }

  // ---- ECDSA -----------------------------------------------------------------------------------------

  const defaultMac: NonceMac = {
    outputLength: hashLengthOf(params.hash),
    mac: (key, data) => hmac(params.hash, key, data),
    keyed: (key) => {
      const keyedState = createHmac(params.hash, key);
      return (data) => keyedState.clone().update(data).digest();
    },
  };

  /** bits2int (RFC 6979 §2.3.2): the leftmost nBits bits of a byte string, as an integer. */
  function bits2int(bytes: Uint8Array): bigint {
    const v = bytesToBigInt(bytes);
    const extra = bytes.length * 8 - nBits;
    return extra > 0 ? v >> BigInt(extra) : v;
  }

  function signDigest(
    secretKey: Uint8Array,
    digest: Uint8Array,
    nonceMac: NonceMac = defaultMac,
  ): Uint8Array {
    const d = secretScalar(secretKey);
    checkBytes(digest, "digest");
    const e = bits2int(digest);
    // RFC 6979 §3.2 HMAC-DRBG, seeded with the key and the reduced digest. `macK` is HMAC_K, keyed
    // once for each new K.
    const hlen = nonceMac.outputLength;
    const seed = concatBytes(bigIntToBytes(d, L), bigIntToBytes(e % n, L));
    let V: Uint8Array = new Uint8Array(hlen).fill(1);
    let macK = keyedMac(nonceMac, new Uint8Array(hlen));
    macK = keyedMac(nonceMac, macK(concatBytes(V, Uint8Array.of(0), seed)));
    V = macK(V);
    macK = keyedMac(nonceMac, macK(concatBytes(V, Uint8Array.of(1), seed)));
    V = macK(V);
    const next = (): bigint => {
      const parts: Uint8Array[] = [];
      for (let len = 0; len < L; len += hlen) {
        V = macK(V);
        parts.push(V);
      }
      return bits2int(concatBytes(...parts).subarray(0, L));
    };
    const reseed = () => {
      macK = keyedMac(nonceMac, macK(concatBytes(V, Uint8Array.of(0))));
      V = macK(V);
    };
    for (;;) {
      const k = next();
      if (k === 0n || k >= n) {
        reseed();
        continue;
      }
      const r = affineXSecret(mulBaseSecret(k)) % n;
      // k⁻¹ through a blinded variable-time inversion: (k·β)⁻¹·β, with β derived from the DRBG state
      // (without advancing it), so the inversion's timing depends on k·β, which is independent of k.
      const beta = blindingFactor(macK, hlen, V);
      const kInv = (invModPublic((k * beta) % n, n) * beta) % n;
      const s = (kInv * ((e + r * d) % n)) % n;
      if (r === 0n || s === 0n) {
        reseed();
        continue;
      }
      return concatBytes(bigIntToBytes(r, L), bigIntToBytes(s, L));
    }
  }

  /** A secret value in [1, n − 1] from the DRBG state: HMAC_K(V ‖ 0x02 ‖ i) blocks reduced mod n − 1, + 1. */
  function blindingFactor(macK: (data: Uint8Array) => Uint8Array, hlen: number, V: Uint8Array): bigint {
    const parts: Uint8Array[] = [];
    for (let i = 0, len = 0; len < L + 16; i++, len += hlen) {
      parts.push(macK(concatBytes(V, Uint8Array.of(2, i))));
    }
    return bytesToBigInt(concatBytes(...parts)) % (n - 1n) + 1n;
  }

  function verifyDigest(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
    try {
      if (!(signature instanceof Uint8Array) || signature.length !== 2 * L) return false;
      if (!(digest instanceof Uint8Array)) return false;
      const r = bytesToBigInt(signature.subarray(0, L));
      const s = bytesToBigInt(signature.subarray(L));
      if (r === 0n || r >= n || s === 0n || s >= n) return false;
      const Q = decodePoint(publicKey);
      const e = bits2int(digest);
      const w = invModPublic(s, n);
      const R = mulDoublePublic((e * w) % n, Q, (r * w) % n);
      if (isZero(R.z)) return false;
      // x(R) mod n = r  ⇔  X ≡ r'·Z² (mod p) for r' = r or r + n (< p): no inversion needed.
      const zz = red2(R.z * R.z);
      const X = f.mod(R.x);
      if (f.mod(r * zz) === X) return true;
      return r + n < p && f.mod((r + n) * zz) === X;
    } catch {
      return false;
    }
  }

  const curve: Curve = {
    name,
    oid: params.oid,
    hash: params.hash,
    byteLength: L,
    p,
    n,
    randomSecretKey,
    getPublicKey,
    ecdh,
    ecdhMany,
    sign: (secretKey, message) => {
      checkBytes(message, "message");
      return signDigest(secretKey, hash(params.hash, message));
    },
    signDigest,
    verify: (publicKey, message, signature) => {
      if (!(message instanceof Uint8Array)) return false;
      return verifyDigest(publicKey, hash(params.hash, message), signature);
    },
    verifyDigest,
    signatureToDer: (signature) => {
      checkBytes(signature, "signature", 2 * L);
      return signatureToDer(signature.subarray(0, L), signature.subarray(L));
    },
    signatureFromDer: (der) => derToSignature(der, L),
    decodePoint,
    encodePoint,
    isValidPublicKey: (publicKey) => {
      try {
        decodePoint(publicKey);
        return true;
      } catch {
        return false;
      }
    },
    precomputeBase,
  };
  return Object.freeze(curve);
}

// ---- the field ---------------------------------------------------------------------------------------

interface Field {
  /**
   * One cheap reduction step, for a value about to be multiplied again: for |x| < 2^(2k + c) the result
   * is congruent to x and below 2^(k + c + 1) in magnitude (exact `x % p` for a general p).
   */
  red1(x: bigint): bigint;
  /**
   * A reduction for stored values: for |x| < 2^(2k + c) with c < k − 2, congruent to x and in
   * [−2^(c + 1), p + 2^(c + 1)), so ≡ 0 only as 0 or p (in (−p, p) for a general p).
   */
  red2(x: bigint): bigint;
  /** True if a value returned by red2 is ≡ 0 (mod p). */
  isZero(v: bigint): boolean;
  /** The canonical representative in [0, p) of any integer. */
  mod(x: bigint): bigint;
  /** a⁻¹ by the extended Euclidean algorithm: variable time, for public (or blinded) values only. */
  invPublic(a: bigint): bigint;
  /** A square root (p ≡ 3 mod 4), or undefined when a is not a square. */
  sqrt(a: bigint): bigint | undefined;
}

function makeField(p: bigint): Field {
  const k = bitLength(p);
  const mersenne = p === (1n << BigInt(k)) - 1n;
  if (p % 4n !== 3n) throw new RangeError("only primes p ≡ 3 (mod 4) are supported");
  const K = BigInt(k);
  const mod = (x: bigint) => {
    const r = x % p;
    return r < 0n ? r + p : r;
  };
  // For p = 2^k − 1, 2^k ≡ 1, so x ≡ (x mod 2^k) + ⌊x / 2^k⌋; & and >> on bigints implement exactly that
  // floor split for negative values too. One fold takes |x| < 2^(2k + c) into [−2^(k + c), 2^k + 2^(k + c));
  // a second fold brings that into [−2^(c + 1), 2^k + 2^(c + 1)).
  const fold = (x: bigint) => (x & p) + (x >> K);
  const red1 = mersenne ? fold : (x: bigint) => x % p;
  const red2 = mersenne ? (x: bigint) => fold(fold(x)) : red1;
  const mul = (a: bigint, b: bigint) => red2(a * b);
  const sqr = (a: bigint) => red2(a * a);
  return {
    red1,
    red2,
    isZero: mersenne ? (v) => v === 0n || v === p : (v) => v === 0n,
    mod,
    invPublic: (a) => invModPublic(mod(a), p),
    sqrt: (a) => {
      const r = mod(powFixed(a, (p + 1n) >> 2n, mul, sqr));
      return mod(r * r) === mod(a) ? r : undefined;
    },
  };
}

/** HMAC under one key, as a function of the data: keyed once if the MAC can do that. */
function keyedMac(nonceMac: NonceMac, key: Uint8Array): (data: Uint8Array) => Uint8Array {
  return nonceMac.keyed ? nonceMac.keyed(key) : (data) => nonceMac.mac(key, data);
}

/** a^e for a public exponent e, by fixed 4-bit windows (the sequence depends only on e). */
function powFixed(
  a: bigint,
  e: bigint,
  mul: (x: bigint, y: bigint) => bigint,
  sqr: (x: bigint) => bigint,
): bigint {
  const table: bigint[] = [1n, a];
  for (let i = 2; i < 16; i++) table.push(mul(table[i - 1], a));
  const hex = e.toString(16);
  let r = table[parseInt(hex[0], 16)];
  for (let i = 1; i < hex.length; i++) {
    r = sqr(sqr(sqr(sqr(r))));
    const d = parseInt(hex[i], 16);
    if (d !== 0) r = mul(r, table[d]);
  }
  return r;
}

// ---- modular inversion (Lehmer's extended Euclid) ---------------------------------------------------

// Doubles hold every integer of magnitude up to 2^53 exactly, and for integers P ≥ Q > 0 with P + Q < 2^53,
// Math.floor(P / Q) is exactly ⌊P/Q⌋: with k = ⌊P/Q⌋, P/Q is at least 1/Q below k + 1, while rounding it
// up to k + 1 would need that gap to be at most half a unit in the last place of k + 1, ≤ (k + 1)·2^-53,
// that is Q·(k + 1) ≥ 2^53; but Q·(k + 1) ≤ P + Q.

/** Below this, remainders are exact doubles and Euclid on them can run in doubles (their sum < 2^53). */
const EXACT_BELOW = 2 ** 52;
/** Doubles hold every integer of magnitude below this exactly. */
const DOUBLE_EXACT = 2 ** 53;

/**
 * a⁻¹ mod m (m ≥ 1). Variable time: only for a public or already-blinded a, as the running time depends
 * on a. Any a is reduced mod m first; the result is in [0, m). Throws a RangeError when gcd(a, m) ≠ 1
 * (so also for a ≡ 0).
 *
 * Lehmer's algorithm (Knuth, TAOCP vol. 2, §4.5.2, Algorithm L): Euclid's quotients depend mostly on the
 * leading bits, so each round runs Euclid on ~51-bit leading digits of the remainders r0 > r1 in doubles,
 * for as long as the quotients provably equal the full-precision ones, then applies the resulting 2×2
 * cofactor matrix to (r0, r1) with a few bigint multiplications. That matrix, applied to the Bézout
 * pair (t0, t1) with r_i ≡ t_i·a (mod m), is kept in doubles and merged with the next one while its entries
 * stay exact, so (t0, t1) is updated about every other round. A round does about a dozen Euclid steps.
 */
export function invModPublic(a: bigint, m: bigint): bigint {
  if (m < 1n) throw new RangeError("modulus must be positive");
  let r0 = m, r1 = a % m;
  if (r1 < 0n) r1 += m;
  let t0 = 0n, t1 = 1n;
  // Invariant: (r0, r1) ≡ N·(t0, t1)·a (mod m), where N = [n00 n01; n10 n11] holds the cofactor matrices
  // not yet applied to (t0, t1). Initially m ≡ 0·a and a ≡ 1·a.
  let n00 = 1, n01 = 0, n10 = 0, n11 = 1;
  let x = Number(r0);
  while (x >= EXACT_BELOW) {
    if (r1 === 0n) throw new RangeError("value has no inverse");
    // Leading digits u ≥ v of r0, r1 at one scale 2^h, u in [2^50, 2^51): r_i / 2^h lies in
    // (digit − 1, digit + 2), as Number() rounds to 53 bits (an error below 1/4 at this scale) and the
    // floor drops less than 1. Past 2^1024 (Number gives Infinity) the digits come from exact shifts
    // (then u is in [2^47, 2^51)).
    let u: number, v: number;
    if (x < Infinity) {
      const scale = digitScale(x);
      u = Math.floor(x / scale);
      v = Math.floor(Number(r1) / scale);
    } else {
      const h = BigInt(r0.toString(16).length * 4 - 51);
      u = Number(r0 >> h);
      v = Number(r1 >> h);
    }
    // Euclid steps on the digits (Algorithm L, with that wider interval): after steps with cofactor matrix
    // [A B; C D] (A, D of one sign, B, C of the other), the scaled remainders A·r0 + B·r1 and C·r0 + D·r1
    // lie between P and R and between Q and S. While Q, S > 0 and ⌊P/Q⌋ = ⌊R/S⌋, that common quotient is
    // the true next quotient. P, Q, R, S and the cofactors (Euclid's on P, Q) stay below 2^51 + 2 in
    // magnitude, and so does every product except q·S in a failing test, where a product past 2^53 still
    // leaves T far below 0.
    let P = u + 2, Q = v - 1, R = u - 1, S = v + 2;
    let A = 1, B = 0, C = 0, D = 1;
    while (Q > 0 && S > 0) {
      const q = Math.floor(P / Q);
      const T = R - q * S;
      if (T < 0 || T >= S) break;
      const Pn = P - q * Q;
      P = Q;
      Q = Pn;
      R = S;
      S = T;
      const Cn = A - q * C;
      A = C;
      C = Cn;
      const Dn = B - q * D;
      B = D;
      D = Dn;
    }
    if (B === 0) {
      // Not even the first quotient was certain (r1 far smaller than r0, or a tie): one bigint step.
      [t0, t1] = applyMatrix(n00, n01, n10, n11, t0, t1);
      [n00, n01, n10, n11] = [1, 0, 0, 1];
      const q = r0 / r1;
      [r0, r1, t0, t1] = [r1, r0 - q * r1, t1, t0 - q * t1];
    } else {
      [r0, r1] = applyMatrix(A, B, C, D, r0, r1);
      // Merge into N if every entry of [A B; C D]·N stays exact. In both matrices the signs alternate
      // along rows and columns, so each entry of the product adds two products of one sign: a sum below
      // 2^53 means both products were below 2^53, and exact.
      const e00 = A * n00 + B * n10, e01 = A * n01 + B * n11;
      const e10 = C * n00 + D * n10, e11 = C * n01 + D * n11;
      if (
        Math.abs(e00) < DOUBLE_EXACT && Math.abs(e01) < DOUBLE_EXACT &&
        Math.abs(e10) < DOUBLE_EXACT && Math.abs(e11) < DOUBLE_EXACT
      ) {
        [n00, n01, n10, n11] = [e00, e01, e10, e11];
      } else {
        [t0, t1] = applyMatrix(n00, n01, n10, n11, t0, t1);
        [n00, n01, n10, n11] = [A, B, C, D];
      }
    }
    x = Number(r0);
  }
  // r0 < 2^52: finish Euclid exactly in doubles. u ends as gcd(a, m) ≡ [A B]·N·(t0, t1)·a (mod m).
  let u = x, v = Number(r1), A = 1, B = 0, C = 0, D = 1;
  while (v !== 0) {
    const q = Math.floor(u / v);
    const w = u - q * v;
    u = v;
    v = w;
    const Cn = A - q * C;
    A = C;
    C = Cn;
    const Dn = B - q * D;
    B = D;
    D = Dn;
  }
  if (u !== 1) throw new RangeError("value has no inverse");
  const e0 = A * n00 + B * n10, e1 = A * n01 + B * n11;
  let t: bigint;
  if (Math.abs(e0) < DOUBLE_EXACT && Math.abs(e1) < DOUBLE_EXACT) {
    t = BigInt(e0) * t0 + BigInt(e1) * t1;
  } else {
    [t0, t1] = applyMatrix(n00, n01, n10, n11, t0, t1);
    t = BigInt(A) * t0 + BigInt(B) * t1;
  }
  return t < 0n ? t + m : t;
}

/** Scratch space for reading and writing a double's exponent field. */
const DOUBLE_BITS = new DataView(new ArrayBuffer(8));

/** 2^(e − 50) for a double x in [2^52, 2^1024) with e = ⌊log2 x⌋, read from x's exponent field. */
function digitScale(x: number): number {
  DOUBLE_BITS.setFloat64(0, x);
  const biasedExponent = DOUBLE_BITS.getUint16(0) >> 4; // below the (zero) sign bit
  DOUBLE_BITS.setFloat64(0, 0);
  DOUBLE_BITS.setUint16(0, (biasedExponent - 50) << 4);
  return DOUBLE_BITS.getFloat64(0);
}

/** [a b; c d]·(x, y) for an integer matrix held in doubles. */
function applyMatrix(a: number, b: number, c: number, d: number, x: bigint, y: bigint): [bigint, bigint] {
  const ba = BigInt(a), bb = BigInt(b), bc = BigInt(c), bd = BigInt(d);
  return [ba * x + bb * y, bc * x + bd * y];
}

// ---- scalar recoding ---------------------------------------------------------------------------------

/**
 * How many w-bit signed windows a regular recoding of a value below 2^bits needs: after the lower
 * windows the remainder v satisfies 1 ≤ v < 2^w + 1 and is odd, so it fits the top digit.
 */
function windowsFor(bits: number, w: number): number {
  return Math.ceil(bits / w);
}

/**
 * Regular signed-window recoding: k (in [0, n)) is replaced by the odd one of k and k + n (same point,
 * since n·P = O), then written as Σ d_i·2^(w·i) with every d_i odd in [−(2^w − 1), 2^w − 1] and the top
 * digit positive. The digits depend on k, but the work does not: `count` windows, no branches.
 *
 * The textbook loop (d = (v mod 2^(w+1)) − 2^w, v ← (v − d)/2^w) leaves v = 2·⌊v₀ / 2^(w·i + 1)⌋ + 1
 * after step i, so every digit is a fixed bit field of v₀: d₀ = (v₀ mod 2^(w+1)) − 2^w, then
 * d_i = 2·(bits w·i + 1 … w·i + w of v₀) + 1 − 2^w, and the top digit 2·⌊v₀ / 2^(w·(count−1) + 1)⌋ + 1.
 * They are read from v₀'s hexadecimal digits with number arithmetic instead of a bigint step per window.
 * Exported for its test (tests/crypto/ec_recode_test.ts); not part of the curve API.
 */
export function recodeRegular(k: bigint, n: bigint, w: number, count: number): Int32Array {
  const v = k + n * (1n - (k & 1n));
  const hex = v.toString(16);
  const h = hex.length, nib = NIBBLES;
  if (w * count + 16 > 4 * nib.length) throw new RangeError("scalar too large to recode");
  // nib[i] = hex digit i from the right, without a branch on the (secret) character: '0'–'9' are 0x30–0x39,
  // 'a'–'f' are 0x61–0x66.
  for (let i = 0; i < h; i++) {
    const c = hex.charCodeAt(h - 1 - i);
    nib[i] = (c & 15) + 9 * (c >> 6);
  }
  const half = 1 << w;
  const digits = new Int32Array(count);
  digits[0] = bitField(nib, 0, w + 1) - half;
  for (let i = 1; i < count - 1; i++) digits[i] = 2 * bitField(nib, w * i + 1, w) + 1 - half;
  digits[count - 1] = 2 * bitField(nib, w * (count - 1) + 1, w) + 1;
  nib.fill(0, 0, h);
  return digits;
}

/** Hexadecimal digits of the scalar being recoded, least significant first; zero beyond its length. */
const NIBBLES = new Uint8Array(256);

/** Bits pos … pos + len − 1 (len ≤ 9) of the number whose hex digits `nib` holds. */
function bitField(nib: Uint8Array, pos: number, len: number): number {
  const q = pos >> 2;
  const window = nib[q] | (nib[q + 1] << 4) | (nib[q + 2] << 8) | (nib[q + 3] << 12);
  return (window >> (pos & 3)) & ((1 << len) - 1);
}

/** Index into a table laid out as [1P, −1P, 3P, −3P, …] for an odd digit d: 2·((|d| − 1)/2) + sign. */
function digitIndex(d: number): number {
  const s = d >> 31; // −1 for negative digits, 0 otherwise
  const abs = (d ^ s) - s;
  return (abs - 1) + (s & 1);
}

function bitLength(v: bigint): number {
  return v.toString(2).length;
}

function hashLengthOf(h: HashName): number {
  return h === "SHA-256" ? 32 : h === "SHA-384" ? 48 : 64;
}
