// P-256, P-384 and P-521: differential tests against Web Crypto (keys, ECDH, ECDSA both ways), an
// independent affine reference for edge-case scalars, properties, and the refusal of bad inputs.

import assert from "node:assert/strict";
import { bigIntToBytes, bytesToBigInt, bytesToHex } from "../../crypto/bytes.ts";
import type { Curve } from "../../crypto/ec.ts";
import { InvalidPointError } from "../../crypto/errors.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";

const CURVES: Curve[] = [p256, p384, p521];
const SIZES: Record<string, number> = { "P-256": 256, "P-384": 384, "P-521": 528 };

const b64u = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomLength = (max: number) => crypto.getRandomValues(new Uint32Array(1))[0] % (max + 1);

/** A Web Crypto key pair, with its secret scalar and uncompressed public key as bytes. */
async function webKeys(curve: Curve, usage: "ECDH" | "ECDSA") {
  const uses: KeyUsage[] = usage === "ECDH" ? ["deriveBits"] : ["sign", "verify"];
  const pair = await crypto.subtle.generateKey({ name: usage, namedCurve: curve.name }, true, uses);
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { pair, d: b64u(jwk.d!), pub: raw };
}

// ---- an independent reference: affine arithmetic straight from the group law ---------------------

type Pt = { x: bigint; y: bigint } | null;

/** A + B by the textbook affine group law (a = −3), with its own modular inverse. */
function refAdd(curve: Curve, A: Pt, B: Pt): Pt {
  const p = curve.p;
  const mod = (a: bigint) => ((a % p) + p) % p;
  const inv = (a: bigint) => {
    let [r0, r1, t0, t1] = [p, mod(a), 0n, 1n];
    while (r1) [r0, r1, t0, t1] = [r1, r0 % r1, t1, t0 - (r0 / r1) * t1];
    return mod(t0);
  };
  if (!A) return B;
  if (!B) return A;
  if (A.x === B.x && mod(A.y + B.y) === 0n) return null;
  const l = A.x === B.x ? mod((3n * A.x * A.x - 3n) * inv(2n * A.y)) : mod((B.y - A.y) * inv(B.x - A.x));
  const x = mod(l * l - A.x - B.x);
  return { x, y: mod(l * (A.x - x) - A.y) };
}

/** k·P by double-and-add over refAdd. */
function refMul(curve: Curve, k: bigint, P: Pt): Pt {
  let R: Pt = null;
  for (const bit of k.toString(2)) {
    R = refAdd(curve, R, R);
    if (bit === "1") R = refAdd(curve, R, P);
  }
  return R;
}

function generator(curve: Curve): { x: bigint; y: bigint } {
  // G is the public key of the secret key 1.
  return curve.decodePoint(curve.getPublicKey(bigIntToBytes(1n, curve.byteLength), false));
}

for (const curve of CURVES) {
  const L = curve.byteLength;

  Deno.test(`${curve.name}: public keys and ECDH agree with Web Crypto`, async () => {
    for (let i = 0; i < 12; i++) {
      const a = await webKeys(curve, "ECDH"), b = await webKeys(curve, "ECDH");
      assert.equal(bytesToHex(curve.getPublicKey(a.d, false)), bytesToHex(a.pub));
      assert.equal(
        bytesToHex(curve.getPublicKey(a.d)),
        bytesToHex(curve.encodePoint(curve.decodePoint(a.pub))),
      );
      const want = new Uint8Array(
        await crypto.subtle.deriveBits(
          { name: "ECDH", public: b.pair.publicKey },
          a.pair.privateKey,
          SIZES[curve.name],
        ),
      );
      assert.equal(bytesToHex(curve.ecdh(a.d, b.pub)), bytesToHex(want));
      // Our keys, Web Crypto's computation.
      const ours = curve.randomSecretKey();
      const oursPub = await crypto.subtle.importKey(
        "raw",
        curve.getPublicKey(ours, false) as Uint8Array<ArrayBuffer>,
        { name: "ECDH", namedCurve: curve.name },
        false,
        [],
      );
      const theirs = new Uint8Array(
        await crypto.subtle.deriveBits(
          { name: "ECDH", public: oursPub },
          b.pair.privateKey,
          SIZES[curve.name],
        ),
      );
      assert.equal(bytesToHex(curve.ecdh(ours, curve.getPublicKey(b.d))), bytesToHex(theirs));
    }
  });

  Deno.test(`${curve.name}: ECDSA both ways with Web Crypto on random messages`, async () => {
    const algo = { name: "ECDSA", hash: curve.hash };
    for (let i = 0; i < 12; i++) {
      const k = await webKeys(curve, "ECDSA");
      const msg = randomBytes(randomLength(300));
      // Web Crypto signs, we verify.
      const theirSig = new Uint8Array(await crypto.subtle.sign(algo, k.pair.privateKey, msg));
      assert.ok(curve.verify(k.pub, msg, theirSig), "our verify accepts Web Crypto's signature");
      assert.ok(curve.verify(curve.getPublicKey(k.d), msg, theirSig), "with a compressed key too");
      // We sign, Web Crypto verifies.
      const ourSig = curve.sign(k.d, msg);
      assert.equal(ourSig.length, 2 * L);
      assert.ok(
        await crypto.subtle.verify(algo, k.pair.publicKey, ourSig as Uint8Array<ArrayBuffer>, msg),
        "Web Crypto accepts ours",
      );
      assert.ok(curve.verify(k.pub, msg, ourSig));
      assert.equal(bytesToHex(curve.sign(k.d, msg)), bytesToHex(ourSig), "deterministic");
    }
  });

  Deno.test(`${curve.name}: edge-case scalars match an independent affine reference`, () => {
    // Small k and n − k hit the rare branches of the addition formulas (P = ±Q, infinity) in both scalar
    // multiplications; the reference builds i·P by repeated affine addition and n − i as its negation.
    const G = generator(curve);
    const Q = refMul(curve, 0xdeadbeefn, G)!; // a second base point, for ECDH
    const Qbytes = curve.encodePoint(Q, false);
    const check = (k: bigint, kG: Pt, kQ: Pt) => {
      const sk = bigIntToBytes(k, L);
      assert.equal(
        bytesToHex(curve.getPublicKey(sk, false)),
        bytesToHex(curve.encodePoint(kG!, false)),
        `k = ${k}`,
      );
      assert.equal(bytesToHex(curve.ecdh(sk, Qbytes)), bytesToHex(bigIntToBytes(kQ!.x, L)), `ecdh k = ${k}`);
    };
    let iG: Pt = null, iQ: Pt = null;
    for (let i = 1n; i <= 130n; i++) {
      iG = refAdd(curve, iG, G);
      iQ = refAdd(curve, iQ, Q);
      check(i, iG, iQ);
      check(curve.n - i, { x: iG!.x, y: curve.p - iG!.y }, { x: iQ!.x, y: curve.p - iQ!.y });
    }
    const n = curve.n;
    for (const k of [(n - 1n) / 2n, (n + 1n) / 2n, 1n << BigInt(L * 8 - 9), n >> 1n]) {
      check(k, refMul(curve, k, G), refMul(curve, k, Q));
    }
  });

  Deno.test(`${curve.name}: k1·(k2·G) = k2·(k1·G), and the two scalar multiplications agree`, () => {
    const G = curve.getPublicKey(bigIntToBytes(1n, L));
    for (let i = 0; i < 10; i++) {
      const k1 = curve.randomSecretKey(), k2 = curve.randomSecretKey();
      const a = curve.ecdh(k1, curve.getPublicKey(k2)), b = curve.ecdh(k2, curve.getPublicKey(k1, false));
      assert.equal(bytesToHex(a), bytesToHex(b));
      // fixed-base comb and variable-base windows compute the same point
      assert.equal(bytesToHex(curve.ecdh(k1, G)), bytesToHex(curve.getPublicKey(k1).subarray(1)));
    }
  });

  Deno.test(`${curve.name}: encodings round-trip; decoding validates`, () => {
    for (let i = 0; i < 10; i++) {
      const sk = curve.randomSecretKey();
      const c = curve.getPublicKey(sk), u = curve.getPublicKey(sk, false);
      assert.equal(c.length, L + 1);
      assert.equal(u.length, 2 * L + 1);
      assert.deepEqual(curve.decodePoint(c), curve.decodePoint(u));
      assert.equal(bytesToHex(curve.encodePoint(curve.decodePoint(c), false)), bytesToHex(u));
      assert.equal(bytesToHex(curve.encodePoint(curve.decodePoint(u), true)), bytesToHex(c));
      assert.equal(
        bytesToHex(curve.signatureFromDer(curve.signatureToDer(curve.sign(sk, u)))),
        bytesToHex(curve.sign(sk, u)),
      );
    }
    const pt = curve.decodePoint(curve.getPublicKey(curve.randomSecretKey(), false));
    const bad: [string, Uint8Array][] = [
      ["empty", new Uint8Array(0)],
      ["infinity", Uint8Array.of(0)],
      ["hybrid prefix", Uint8Array.of(0x06, ...curve.encodePoint(pt, false).subarray(1))],
      ["wrong prefix", Uint8Array.of(0x05, ...curve.encodePoint(pt, false).subarray(1))],
      ["truncated", curve.encodePoint(pt, false).subarray(0, 2 * L)],
      ["off the curve", curve.encodePoint({ x: pt.x, y: (pt.y + 1n) % curve.p }, false)],
      ["x = p", Uint8Array.of(0x02, ...bigIntToBytes(curve.p, L))],
      [
        "y ≥ p",
        Uint8Array.of(0x04, ...bigIntToBytes(pt.x, L), ...bigIntToBytes(pt.y + curve.p, L + 1).subarray(1)),
      ],
    ];
    for (const [what, bytes] of bad) {
      if (what === "y ≥ p" && pt.y + curve.p >= 1n << BigInt(8 * L)) continue;
      assert.throws(() => curve.decodePoint(bytes), InvalidPointError, what);
      assert.throws(() => curve.ecdh(curve.randomSecretKey(), bytes), InvalidPointError, what);
      assert.equal(curve.isValidPublicKey(bytes), false, what);
    }
    // An x with no point on the curve, compressed: found by search, refused.
    for (let x = 1n;; x++) {
      const c = Uint8Array.of(0x02, ...bigIntToBytes(x, L));
      if (!curve.isValidPublicKey(c)) {
        assert.throws(() => curve.decodePoint(c), /not on the curve/);
        break;
      }
    }
  });

  Deno.test(`${curve.name}: every flipped bit of a signature, message or key is refused`, () => {
    const sk = curve.randomSecretKey();
    const pk = curve.getPublicKey(sk, false);
    const msg = randomBytes(40);
    const sig = curve.sign(sk, msg);
    const flip = (a: Uint8Array, bit: number) => {
      const c = a.slice();
      c[bit >> 3] ^= 1 << (bit & 7);
      return c;
    };
    // a sample of bit positions across r and s (all bits would take too long on P-521)
    for (let i = 0; i < 48; i++) {
      const bit = crypto.getRandomValues(new Uint32Array(1))[0] % (sig.length * 8);
      assert.equal(curve.verify(pk, msg, flip(sig, bit)), false, `signature bit ${bit}`);
    }
    for (const bit of [0, 7, 8 * L - 1, 8 * (2 * L) - 1]) {
      assert.equal(curve.verify(pk, msg, flip(sig, bit)), false, `signature bit ${bit}`);
    }
    for (let bit = 0; bit < msg.length * 8; bit += 13) {
      assert.equal(curve.verify(pk, flip(msg, bit), sig), false);
    }
    for (let bit = 8; bit < pk.length * 8; bit += 61) {
      assert.equal(curve.verify(flip(pk, bit), msg, sig), false);
    }
  });

  Deno.test(`${curve.name}: bad arguments get a TypeError or RangeError naming them; verify never throws`, () => {
    const sk = curve.randomSecretKey();
    const pk = curve.getPublicKey(sk);
    const msg = new Uint8Array(3);
    const sig = curve.sign(sk, msg);
    assert.throws(() => curve.getPublicKey(new Uint8Array(L)), /secretKey must be in \[1, n - 1\]/);
    assert.throws(() => curve.getPublicKey(bigIntToBytes(curve.n, L)), /secretKey must be in/);
    assert.throws(() => curve.getPublicKey(new Uint8Array(L - 1)), RangeError);
    assert.throws(() => curve.getPublicKey(new Uint8Array(L + 1)), /secretKey must be/);
    assert.throws(() => curve.getPublicKey("key" as unknown as Uint8Array), TypeError);
    assert.throws(() => curve.ecdh(sk, [1, 2] as unknown as Uint8Array), /publicKey must be a Uint8Array/);
    assert.throws(() => curve.sign(sk, "hi" as unknown as Uint8Array), /message must be a Uint8Array/);
    assert.throws(() => curve.sign(new Uint8Array(L), msg), RangeError);
    assert.throws(() => curve.signatureToDer(sig.subarray(1)), /signature must be/);
    for (
      const [p, m, s] of [
        [pk, msg, new Uint8Array(0)],
        [pk, msg, sig.subarray(1)],
        [pk, msg, new Uint8Array(2 * L)],
        [pk, msg, Uint8Array.of(...bigIntToBytes(curve.n, L), ...sig.subarray(L))],
        [pk, msg, Uint8Array.of(...sig.subarray(0, L), ...bigIntToBytes(curve.n, L))],
        [new Uint8Array(0), msg, sig],
        [Uint8Array.of(0), msg, sig],
        [null, msg, sig],
        [pk, "abc", sig],
        [pk, msg, "sig"],
        [pk, undefined, undefined],
      ] as unknown as [Uint8Array, Uint8Array, Uint8Array][]
    ) {
      assert.equal(curve.verify(p, m, s), false);
    }
  });

  Deno.test(`${curve.name}: random secret keys are in range, of fixed length, and use the given source`, () => {
    for (let i = 0; i < 50; i++) {
      const k = curve.randomSecretKey();
      assert.equal(k.length, L);
      const v = bytesToBigInt(k);
      assert.ok(v > 0n && v < curve.n);
    }
    // A source that first returns an out-of-range value (all ones) and then 1: the draw is rejected.
    let calls = 0;
    const k = curve.randomSecretKey((
      n,
    ) => (calls++ === 0 ? new Uint8Array(n).fill(0xff) : bigIntToBytes(1n, n)));
    assert.equal(bytesToBigInt(k), 1n);
    assert.equal(calls, 2);
  });
}

Deno.test("signatures are fixed length, and DER drops leading zeros, when r has a zero top byte", () => {
  // On P-256 one signature in 256 has r < 2^248; 3,000 tries miss one with probability below 10^-5.
  const sk = p256.randomSecretKey();
  for (let i = 0;; i++) {
    assert.ok(i < 3000, "no signature with a short r found");
    const msg = Uint8Array.of(i & 0xff, i >> 8);
    const sig = p256.sign(sk, msg);
    assert.equal(sig.length, 64);
    if (sig[0] !== 0) continue;
    const der = p256.signatureToDer(sig);
    assert.ok(der[3] <= 32, "DER r is minimal");
    assert.equal(bytesToHex(p256.signatureFromDer(der)), bytesToHex(sig));
    assert.ok(p256.verify(p256.getPublicKey(sk), msg, sig));
    break;
  }
});

Deno.test("ecdhMany: each result equals ecdh with that key; bad keys and points are refused", () => {
  for (const curve of CURVES) {
    const peer = curve.getPublicKey(curve.randomSecretKey(), false);
    const keys = [curve.randomSecretKey(), curve.randomSecretKey(), curve.randomSecretKey()];
    const many = curve.ecdhMany(keys, peer);
    assert.deepEqual(many.map(bytesToHex), keys.map((k) => bytesToHex(curve.ecdh(k, peer))));
    assert.deepEqual(curve.ecdhMany([], peer), []);
    const zero = new Uint8Array(curve.byteLength);
    assert.throws(() => curve.ecdhMany([keys[0], zero], peer), /secretKeys\[1\] must be in \[1, n - 1\]/);
    assert.throws(() => curve.ecdhMany(keys[0] as unknown as Uint8Array[], peer), TypeError);
    const offCurve = peer.slice();
    offCurve[offCurve.length - 1] ^= 1;
    assert.throws(() => curve.ecdhMany(keys, offCurve), InvalidPointError);
  }
});
