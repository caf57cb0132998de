// invModPublic (crypto/ec.ts, Lehmer's extended Euclid) against the plain extended Euclid below, and
// against the definition (a·x ≡ 1 mod m, x in [0, m)), on random values, edge values, worst cases for
// the leading-digit quotient test (long runs of equal quotients, huge quotients, Fibonacci pairs) and
// values without an inverse.

import assert from "node:assert/strict";
import { invModPublic } from "../../crypto/ec.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";

/** Textbook extended Euclid, one bigint division per step; undefined when gcd(a mod m, m) ≠ 1. */
function reference(a: bigint, m: bigint): bigint | undefined {
  let r0 = m, r1 = ((a % m) + m) % m;
  let t0 = 0n, t1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  if (r0 !== 1n) return undefined;
  return t0 < 0n ? t0 + m : t0;
}

/** invModPublic(a, m) equals the reference, and is a⁻¹ in [0, m); or both say there is no inverse. */
function check(a: bigint, m: bigint): void {
  const expected = reference(a, m);
  if (expected === undefined) {
    assert.throws(() => invModPublic(a, m), RangeError, `no inverse of ${a} mod ${m}`);
    return;
  }
  const x = invModPublic(a, m);
  assert.equal(x, expected, `inverse of ${a} mod ${m}`);
  assert.ok(x >= 0n && x < m, "result in [0, m)");
  assert.equal((((a % m) * x) % m + m) % m, 1n % m, "a·x ≡ 1");
}

/** A uniformly random value of `bits` bits (top bit not forced). */
function randomBits(bits: number): bigint {
  const bytes = new Uint8Array(Math.ceil(bits / 8) + 1);
  crypto.getRandomValues(bytes);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return BigInt.asUintN(bits, v);
}

/** A random value in [0, m), with a random bit length below m's (so small values come up too). */
function randomBelow(m: bigint): bigint {
  const bits = m.toString(2).length;
  const b = Math.random() < 0.75 ? bits + 64 : 1 + Math.floor(Math.random() * bits);
  return randomBits(b) % m;
}

const moduli: [string, bigint][] = [];
for (const c of [p256, p384, p521]) moduli.push([`${c.name} p`, c.p], [`${c.name} n`, c.n]);

for (const [name, m] of moduli) {
  Deno.test(`invModPublic mod ${name}: 2000 random values match the plain extended Euclid`, () => {
    for (let i = 0; i < 2000; i++) check(randomBelow(m), m);
  });

  Deno.test(`invModPublic mod ${name}: edge values, small values and values at or above m`, () => {
    assert.equal(invModPublic(1n, m), 1n);
    assert.equal(invModPublic(m - 1n, m), m - 1n);
    assert.equal(invModPublic(2n, m), (m + 1n) / 2n);
    assert.equal(invModPublic(m + 1n, m), 1n);
    assert.equal(invModPublic(-1n, m), m - 1n);
    for (let a = 1n; a <= 300n; a++) check(a, m);
    for (let a = 1n; a <= 50n; a++) check(m - a, m);
    for (const k of [1n, 2n, 7n, 1n << 600n, m]) {
      for (let i = 0; i < 20; i++) {
        const a = randomBelow(m - 1n) + 1n;
        const x = invModPublic(k * m + a, m);
        assert.equal(x, invModPublic(a, m));
      }
    }
    // Powers of two and their neighbours: remainders just below and at 2^k test the digit scaling.
    for (let k = 0n; k < BigInt(m.toString(2).length); k++) {
      for (const a of [1n << k, (1n << k) - 1n, (1n << k) + 1n]) if (a > 0n) check(a, m);
    }
    // Quotients far beyond a double's reach: a tiny a, or m's top bits.
    for (let s = 1n; s < 520n; s += 37n) {
      check(m >> s, m);
      check((m >> s) + 1n, m);
    }
  });

  Deno.test(`invModPublic mod ${name}: long runs of equal quotients`, () => {
    // a/m ≈ 1/c^j or (c^j − 1)/c^j: continued fractions with many equal partial quotients.
    for (const c of [2n, 3n, 10n, 255n, 65537n]) {
      for (let j = 1n; c ** j < m; j += 3n) {
        check(m / c ** j, m);
        check(m - m / c ** j, m);
        check((m / c ** j) * (c - 1n), m);
      }
    }
  });

  Deno.test(`invModPublic mod ${name}: no inverse of 0 or of multiples of m`, () => {
    for (const a of [0n, m, 2n * m, -m, m << 300n]) {
      assert.throws(() => invModPublic(a, m), { name: "RangeError", message: "value has no inverse" });
    }
  });
}

/** Terms of x_{k+1} = c·x_k + x_{k−1} from 0, 1: consecutive terms have every Euclid quotient equal to c. */
function recurrence(c: bigint, count: number): bigint[] {
  const xs = [0n, 1n];
  while (xs.length < count) xs.push(c * xs[xs.length - 1] + xs[xs.length - 2]);
  return xs;
}

Deno.test("invModPublic: consecutive Fibonacci numbers up to 1500 bits (all quotients 1)", () => {
  const fib = recurrence(1n, 2160);
  for (let k = 3; k + 1 < fib.length; k++) {
    if (k > 100 && k % 7 !== 0 && k + 2 < fib.length) continue; // every size class, in reasonable time
    check(fib[k], fib[k + 1]);
    check(fib[k - 1], fib[k + 1]);
    // Cassini: F_k·F_k − F_{k+1}·F_{k−1} = (−1)^(k−1), so F_k⁻¹ mod F_{k+1} is ±F_k.
    const x = invModPublic(fib[k], fib[k + 1]);
    assert.equal(x, k % 2 === 1 ? fib[k] : fib[k + 1] - fib[k]);
  }
});

Deno.test("invModPublic: consecutive terms with all quotients 2, 3, 1000, 2^40, 2^60 and 2^200", () => {
  for (const c of [2n, 3n, 1000n, 1n << 40n, 1n << 60n, 1n << 200n]) {
    const xs = recurrence(c, 1200);
    for (let k = 2; k + 1 < xs.length && xs[k].toString(2).length < 1500; k++) check(xs[k], xs[k + 1]);
  }
});

Deno.test("invModPublic: random moduli of every size up to 2100 bits (including past 2^1024)", () => {
  for (let bits = 1; bits <= 2100; bits += bits < 130 ? 1 : 17) {
    for (let i = 0; i < 4; i++) {
      const m = randomBits(bits) | 1n;
      check(randomBelow(m) | 1n, m);
      check(randomBits(bits + 40), m);
    }
  }
});

Deno.test("invModPublic: composite moduli refuse values sharing a factor", () => {
  const m = p256.p * p384.n;
  for (const a of [p256.p, p384.n, 5n * p256.p, m - p384.n, 0n]) {
    assert.throws(() => invModPublic(a, m), { name: "RangeError", message: "value has no inverse" });
  }
  const even = p521.p * 1024n;
  assert.throws(() => invModPublic(6n, even), RangeError);
  assert.throws(() => invModPublic(p521.p * 3n, p521.p * 9n), RangeError);
  for (let i = 0; i < 200; i++) check(randomBelow(m), m); // mostly invertible; either way, as the reference
  for (let i = 0; i < 200; i++) check(randomBits(20) * 6n, 2n ** 300n * 3n ** 100n);
});

Deno.test("invModPublic: modulus 1 gives 0, a modulus below 1 is refused", () => {
  assert.equal(invModPublic(0n, 1n), 0n);
  assert.equal(invModPublic(12345n, 1n), 0n);
  assert.throws(() => invModPublic(3n, 0n), RangeError);
  assert.throws(() => invModPublic(3n, -7n), RangeError);
  assert.equal(invModPublic(3n, 7n), 5n);
  assert.equal(invModPublic(1n, 2n), 1n);
});
