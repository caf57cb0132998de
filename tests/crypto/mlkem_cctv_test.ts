// C2SP/CCTV ML-KEM vectors (../shared/vectors/cctv-mlkem, see its SOURCE):
// - intermediate values: every step of K-PKE.KeyGen from the given (ρ, σ), of Encaps from the given ek and m,
//   and of Decaps from the given dk. These files predate the final FIPS 203: their (ρ, σ) are the draft's G(d),
//   without the final standard's domain-separation byte, so KeyGen is checked from (ρ, σ) on, and the test
//   also shows that G(d) is the only difference;
// - strcmp: decapsulations whose implicit rejection a comparison stopping at a zero byte would miss;
// - unlucky sampling: keys whose SampleNTT needs more than 575 bytes of SHAKE128 (Encaps and Decaps only);
// - modulus: every invalid encapsulation key (a coefficient in q … 4095) must be refused.
// A missing folder skips these tests locally and fails under CI=true, as the Wycheproof folder does.

import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes } from "../../crypto/bytes.ts";
import { type MlKem, mlkem1024, mlkem768 } from "../../crypto/mlkem.ts";
import {
  byteDecode,
  byteEncode,
  canonical,
  compressEncode,
  decodeDecompress,
  invNtt,
  MONT_R2,
  montReduce,
  mulCache,
  multiplyAccumulate,
  N,
  ntt,
  Q,
  sampleNtt,
  samplePrfCbd2,
} from "../../crypto/mlkem_poly.ts";
import { sha3_256, sha3_512, shake256 } from "../../crypto/sha3.ts";
import { inCI } from "../_peers.ts";

const DIR = new URL("../../../shared/vectors/cctv-mlkem/", import.meta.url);
const PARAMS = [
  { kem: mlkem768, k: 3, du: 10, dv: 4 },
  { kem: mlkem1024, k: 4, du: 11, dv: 5 },
];

function readVector(file: string): string | null {
  try {
    return Deno.readTextFileSync(new URL(file, DIR));
  } catch (e) {
    if (inCI()) throw new Error(`CCTV vectors are required under CI but ${file} could not be read: ${e}`);
    return null;
  }
}

const present = readVector("SOURCE") !== null;

/**
 * The "label = value" lines of a CCTV file, in order (a label may repeat). A line may give several forms of
 * one value ("s[0] = {3328, 0, …} = 000d00…"): all are kept.
 */
function parseLines(text: string): [string, string[]][] {
  return text.trim().split("\n").map((line) => {
    const [label, ...values] = line.split(" = ");
    return [label, values];
  });
}

/** Looks values up by label, the last form of each (the hex); `nth` picks among repeated labels. */
function lookup(lines: [string, string[]][]) {
  return (label: string, nth = 0): string => forms(lines, label, nth).at(-1)!;
}

function forms(lines: [string, string[]][], label: string, nth: number): string[] {
  const found = lines.filter(([l]) => l === label);
  assert.ok(found.length > nth, `no ${label} #${nth}`);
  return found[nth][1];
}

/** The "{1, 2, …}" form of a value, as numbers. */
function lookupList(lines: [string, string[]][]) {
  return (label: string): number[] => {
    const text = forms(lines, label, 0).find((f) => f.startsWith("{"));
    assert.ok(text, `${label} has no list form`);
    return text.replace(/[{}]/g, "").split(",").map((x) => Number(x.trim()));
  };
}

const poly = () => new Int32Array(N);
const vec = (k: number) => Array.from({ length: k }, poly);

/** ByteEncode_12 of canonical (mod q) coefficients, as hex: how the files print polynomials. */
function enc12(...polys: Int32Array[]): string {
  const out = new Uint8Array(384 * polys.length);
  polys.forEach((p, i) => byteEncode(out, 384 * i, p.map(canonical), 12));
  return bytesToHex(out);
}

function dec12(hex: string, k: number): Int32Array[] {
  const bytes = hexToBytes(hex);
  assert.equal(bytes.length, 384 * k);
  return Array.from({ length: k }, (_, i) => {
    const p = poly();
    byteDecode(p, bytes, 384 * i, 12);
    return p;
  });
}

/** Σ a[j] × b[j] in the NTT domain, times 2^-16, as multiplyAccumulate computes it. */
function multiply(a: Int32Array[], b: Int32Array[]): Int32Array {
  const out = poly();
  const cache = b.map((p) => {
    const c = new Int32Array(128);
    mulCache(c, p);
    return c;
  });
  multiplyAccumulate(out, a, b, cache, a.length);
  return out;
}

/** Σ a[j] × b[j] in the NTT domain, in the plain domain (multiplyAccumulate leaves a factor 2^-16). */
function dot(a: Int32Array[], b: Int32Array[]): Int32Array {
  const out = multiply(a, b);
  return out.map((x) => montReduce(Math.imul(x, MONT_R2)));
}

/** Σ a[j] × b[j], then NTT⁻¹ (invNtt's factor 2^16 cancels multiplyAccumulate's 2^-16). */
function dotInv(a: Int32Array[], b: Int32Array[]): Int32Array {
  const out = multiply(a, b);
  invNtt(out);
  return out;
}

// Compress_d and Decompress_d computed exactly with integers, independently of mlkem_poly.ts:
// ⌈2^d·x / q⌋ mod 2^d = ⌊(2^(d+1)·x + q) / 2q⌋ mod 2^d, and ⌈q·y / 2^d⌋ = ⌊(2q·y + 2^d) / 2^(d+1)⌋.
const compress = (x: number, d: number) => Math.floor((2 ** (d + 1) * x + Q) / (2 * Q)) % 2 ** d;
const decompress = (y: number, d: number) => Math.floor((2 * Q * y + 2 ** d) / 2 ** (d + 1));

Deno.test("ML-KEM compression: compressEncode and decodeDecompress are exact for every input", () => {
  const tmp = poly(), f = poly(), out = new Uint8Array(32 * 12);
  for (const d of [1, 4, 5, 10, 11]) {
    for (let base = 0; base < Q; base += N) {
      for (let i = 0; i < N; i++) f[i] = (base + i) % Q;
      compressEncode(out, 0, f, d, tmp);
      byteDecode(tmp, out, 0, d);
      for (let i = 0; i < N; i++) assert.equal(tmp[i], compress(f[i], d), `Compress_${d}(${f[i]})`);
    }
    for (let base = 0; base < 2 ** d; base += N) {
      for (let i = 0; i < N; i++) f[i] = (base + i) % 2 ** d;
      byteEncode(out, 0, f, d);
      decodeDecompress(tmp, out, 0, d);
      for (let i = 0; i < N; i++) assert.equal(tmp[i], decompress(f[i], d), `Decompress_${d}(${f[i]})`);
    }
  }
});

for (const { kem, k, du, dv } of PARAMS) {
  Deno.test({
    name: `CCTV ${kem.name}: intermediate values of K-PKE.KeyGen (from ρ, σ), Encaps and Decaps`,
    ignore: !present,
    fn() {
      const lines = parseLines(readVector(`intermediate-${kem.name}.txt`)!);
      const v = lookup(lines), list = lookupList(lines);
      const rho = hexToBytes(v("ρ")), sigma = hexToBytes(v("σ")), d = hexToBytes(v("d"));

      // The draft's (ρ, σ) = G(d); the final standard's is G(d ‖ k), which we use.
      assert.equal(bytesToHex(sha3_512(d)), v("ρ") + v("σ"), "the draft's G(d)");
      assert.notEqual(bytesToHex(sha3_512(concatBytes(d, Uint8Array.of(k)))), v("ρ") + v("σ"));

      // K-PKE.KeyGen: Â[i][j] = SampleNTT(ρ ‖ j ‖ i), s and e from PRF(σ, ·), t̂ = Â ∘ ŝ + ê.
      const A = Array.from({ length: k }, (_, i) =>
        Array.from({ length: k }, (_, j) => {
          const p = poly();
          sampleNtt(p, rho, 0, j, i);
          return p;
        }));
      assert.deepEqual(Array.from(A[0][0]), list("A[0, 0]"), "A[0, 0]");
      assert.equal(enc12(...A.flat()), v("A"), "A");
      const s = vec(k), e = vec(k);
      for (let i = 0; i < k; i++) samplePrfCbd2(s[i], sigma, 0, i);
      for (let i = 0; i < k; i++) samplePrfCbd2(e[i], sigma, 0, k + i);
      assert.deepEqual(Array.from(s[0], (x) => canonical(x)), list("s[0]"), "s[0]");
      assert.equal(enc12(...s), v("s"), "s");
      assert.equal(enc12(...e), v("e"), "e");
      s.forEach(ntt);
      e.forEach(ntt);
      assert.deepEqual(Array.from(s[0], (x) => canonical(x)), list("NTT(s[0])"), "NTT(s[0])");
      assert.equal(enc12(...s), v("dkPKE"), "NTT(s) = dkPKE");
      assert.equal(enc12(...e), v("NTT(e)"), "NTT(e)");
      const t = A.map((row, i) => dot(row, s).map((x, c) => x + e[i][c]));
      assert.equal(enc12(...t), v("t"), "t");
      const ek = v("t") + v("ρ");
      assert.equal(v("ek"), ek, "ek = t ‖ ρ");
      assert.equal(bytesToHex(sha3_256(hexToBytes(ek))), v("H(ek)"), "H(ek)");
      assert.equal(v("dk"), v("dkPKE") + ek + v("H(ek)") + v("z"), "dk = dkPKE ‖ ek ‖ H(ek) ‖ z");

      // Encaps(ek, m): (K, r) = G(m ‖ H(ek)), then K-PKE.Encrypt.
      const m = hexToBytes(v("m"));
      const kr = sha3_512(concatBytes(m, hexToBytes(v("H(ek)"))));
      assert.equal(bytesToHex(kr.subarray(0, 32)), v("K"), "K");
      assert.equal(bytesToHex(kr.subarray(32)), v("r"), "r");
      const r = kr.subarray(32);
      const mu = poly().map((_, j) => ((m[j >> 3] >> (j & 7)) & 1) * 1665);
      assert.equal(enc12(mu), v("μ"), "μ");
      const At = Array.from({ length: k }, (_, i) =>
        Array.from({ length: k }, (_, j) => {
          const p = poly();
          sampleNtt(p, rho, 0, i, j); // Âᵀ[i][j] = Â[j][i]
          return p;
        }));
      assert.equal(enc12(...At.flat()), v("A^T"), "A^T");
      const y = vec(k), e1 = vec(k), e2 = poly();
      for (let i = 0; i < k; i++) samplePrfCbd2(y[i], r, 0, i);
      for (let i = 0; i < k; i++) samplePrfCbd2(e1[i], r, 0, k + i);
      samplePrfCbd2(e2, r, 0, 2 * k);
      assert.equal(enc12(...y), v("r", 1), "the vector r (y)");
      assert.equal(enc12(...e1), v("e1"), "e1");
      assert.equal(enc12(e2), v("e2"), "e2");
      y.forEach(ntt);
      assert.equal(enc12(...y), v("NTT(r)"), "NTT(r)");
      const u = At.map((row, i) => dotInv(row, y).map((x, c) => canonical(x + e1[i][c])));
      assert.equal(enc12(...u), v("u"), "u");
      assert.deepEqual(Array.from(u[0]), list("u[0]"), "u[0]");
      assert.deepEqual(Array.from(u[0], (x) => compress(x, du)), list("compress(u[0])"), "compress(u[0])");
      const tHat = dec12(v("t"), k);
      const vPoly = dotInv(tHat, y).map((x, c) => canonical(x + e2[c] + mu[c]));
      assert.deepEqual(Array.from(vPoly), list("v"), "v");
      assert.deepEqual(Array.from(vPoly, (x) => compress(x, dv)), list("compress(v)"), "compress(v)");
      const c1 = new Uint8Array(32 * du * k), c2 = new Uint8Array(32 * dv);
      u.forEach((p, i) => byteEncode(c1, 32 * du * i, p.map((x) => compress(x, du)), du));
      byteEncode(c2, 0, vPoly.map((x) => compress(x, dv)), dv);
      assert.equal(bytesToHex(c1), v("c1"), "c1");
      assert.equal(bytesToHex(c2), v("c2"), "c2");
      assert.equal(v("c"), v("c1") + v("c2"), "c = c1 ‖ c2");

      // The KEM itself, through the public API.
      const enc = kem.encapsulate(hexToBytes(ek), m);
      assert.equal(bytesToHex(enc.cipherText), v("c"), "encapsulate: c");
      assert.equal(bytesToHex(enc.sharedSecret), v("K"), "encapsulate: K");

      // Decaps: u' and v' decompressed, w = v' − NTT⁻¹(ŝ ∘ NTT(u')), K̄ = J(z ‖ c).
      const c = hexToBytes(v("c"));
      const ud = vec(k), vd = poly();
      for (let i = 0; i < k; i++) {
        byteDecode(ud[i], c, 32 * du * i, du);
        ud[i] = ud[i].map((x) => decompress(x, du));
      }
      byteDecode(vd, c, 32 * du * k, dv);
      vd.set(vd.map((x) => decompress(x, dv)));
      assert.equal(enc12(...ud), v("uᵈ"), "uᵈ");
      assert.equal(enc12(vd), v("vᵈ"), "vᵈ");
      ud.forEach(ntt);
      assert.equal(enc12(...ud), v("NTT(uᵈ)"), "NTT(uᵈ)");
      const w = dotInv(s, ud).map((x, i) => canonical(vd[i] - x));
      assert.equal(enc12(w), v("w"), "w");
      const mPrime = new Uint8Array(32);
      w.forEach((x, j) => (mPrime[j >> 3] |= compress(x, 1) << (j & 7)));
      assert.equal(bytesToHex(mPrime), v("m"), "m' = m");
      const z = hexToBytes(v("z"));
      assert.equal(bytesToHex(shake256(concatBytes(z, c), 32)), v("KBar"), "KBar");
      assert.equal(bytesToHex(kem.decapsulate(c, hexToBytes(v("dk")))), v("K"), "decapsulate: K");
      // A ciphertext with one bit flipped is rejected implicitly: the result is J(z ‖ c').
      const flipped = c.slice();
      flipped[5] ^= 0x10;
      assert.equal(
        bytesToHex(kem.decapsulate(flipped, hexToBytes(v("dk")))),
        bytesToHex(shake256(concatBytes(z, flipped), 32)),
        "implicit rejection",
      );
    },
  });

  Deno.test({
    name: `CCTV ${kem.name}: strcmp and unlucky-sampling vectors`,
    ignore: !present,
    fn() {
      const strcmp = lookup(parseLines(readVector(`strcmp-${kem.name}.txt`)!));
      const dk = hexToBytes(strcmp("dk"));
      assert.equal(bytesToHex(kem.decapsulate(hexToBytes(strcmp("c")), dk)), strcmp("K"), "strcmp");

      const unlucky = lookup(parseLines(readVector(`unluckysample-${kem.name}.txt`)!));
      const enc = kem.encapsulate(hexToBytes(unlucky("ek")), hexToBytes(unlucky("m")));
      assert.equal(bytesToHex(enc.cipherText), unlucky("c"), "unlucky: c");
      assert.equal(bytesToHex(enc.sharedSecret), unlucky("K"), "unlucky: K");
      assert.equal(bytesToHex(kem.decapsulate(enc.cipherText, hexToBytes(unlucky("dk")))), unlucky("K"));
    },
  });

  Deno.test({
    name: `CCTV ${kem.name}: every key of the modulus file is refused`,
    ignore: !present,
    async fn() {
      const lines = await gunzipLines(`modulus-${kem.name}.txt.gz`);
      assert.ok(lines.length >= 780, `${lines.length} keys`);
      for (const [n, line] of lines.entries()) {
        const ek = hexToBytes(line);
        assert.equal(ek.length, kem.publicKeyBytes);
        assert.throws(() => kem.encapsulate(ek), {
          name: "RangeError",
          message: `publicKey is not a valid ${kem.name} encapsulation key: a coefficient is not below q`,
        }, `key ${n + 1}`);
        // The same key with every coefficient reduced mod q is valid, so only the modulus check refuses it.
        assert.equal(encapsulateReduced(kem, ek, k).cipherText.length, kem.cipherTextBytes);
      }
    },
  });
}

/** Encapsulates to `ek` with each coefficient reduced mod q (the key that ByteDecode_12 would give). */
function encapsulateReduced(kem: MlKem, ek: Uint8Array, k: number) {
  const fixed = ek.slice(), p = poly();
  for (let i = 0; i < k; i++) {
    byteDecode(p, ek, 384 * i, 12);
    byteEncode(fixed, 384 * i, p.map((x) => x % Q), 12);
  }
  return kem.encapsulate(fixed);
}

async function gunzipLines(file: string): Promise<string[]> {
  const bytes = await Deno.readFile(new URL(file, DIR));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const text = await new Response(stream).text();
  return text.trim().split("\n");
}
