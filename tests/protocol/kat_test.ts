// Known answers for the end-to-end layer (vectors/protocol_kat.json). Two checks per case:
// 1. the scripted conversation, rerun with the same fixed random source, reproduces the file exactly;
// 2. an independent reading of docs/protocol.md, written here with crypto/ primitives only (no protocol/
//    code). Version 1 (classical X3DH): the IDs, the signed-prekey signature, X3DH, both DH ratchet steps
//    and every message, byte for byte, from the recorded secret keys and nonces. Version 2 (PQXDH): every
//    random value redrawn from the seed in the documented order, the identities, the prekeys and their
//    signatures, the bundle, PQXDH, every ratchet step with its KEM step, every message and both final
//    session states.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes, utf8 } from "../../crypto/bytes.ts";
import { aesGcmSeal } from "../../crypto/aes.ts";
import { chacha20Poly1305Seal, xchacha20Poly1305Seal } from "../../crypto/chacha20poly1305.ts";
import type { Curve } from "../../crypto/ec.ts";
import { hkdf } from "../../crypto/hkdf.ts";
import { hmac } from "../../crypto/hmac.ts";
import { mlkem1024, mlkem768 } from "../../crypto/mlkem.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { sha512 } from "../../crypto/sha2.ts";
import { KAT_CASES, type KatCase, PQ_KAT_CASES, type PqKatCase, runKatCase, runPqKatCase } from "./_kat.ts";

const file: { source: string; random: string; cases: KatCase[]; pqxdh_cases: PqKatCase[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/protocol_kat.json", import.meta.url)),
);

for (const [i, spec] of KAT_CASES.entries()) {
  Deno.test(`KAT ${spec.name}: the scripted conversation reproduces the file exactly`, () => {
    assert.deepEqual(runKatCase(spec), file.cases[i]);
  });
}

for (const [i, spec] of PQ_KAT_CASES.entries()) {
  Deno.test(`KAT ${spec.name}: the scripted conversation reproduces the file exactly`, () => {
    assert.deepEqual(runPqKatCase(spec), file.pqxdh_cases[i]);
  });
}

// ---- an independent reading of docs/protocol.md ---------------------------------------------------

/**
 * §2's written form: the 160 bits as 32 Crockford base32 digits in groups of four, and the check digit
 * c = Σ dᵢ·α^(32−i) (i = 0…31) in GF(2⁵) with x⁵ + x² + 1, α = x, as a ninth group.
 */
function writtenId(id: Uint8Array): { plain: string; checked: string } {
  const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
  const bits = [...id].map((b) => b.toString(2).padStart(8, "0")).join("");
  const digits = Array.from({ length: 32 }, (_, i) => parseInt(bits.slice(5 * i, 5 * i + 5), 2));
  const mul = (a: number, b: number): number => {
    let r = 0;
    for (; b > 0; b >>= 1, a = a & 16 ? ((a << 1) ^ 0b100101) : a << 1) if (b & 1) r ^= a;
    return r;
  };
  let c = 0;
  for (let i = 0; i < 32; i++) {
    let power = 1;
    for (let j = 0; j < 32 - i; j++) power = mul(power, 2);
    c ^= mul(digits[i], power);
  }
  const plain = digits.map((d) => alphabet[d]).join("").match(/.{4}/g)!.join("-");
  return { plain, checked: `${plain}-${alphabet[c]}` };
}

const CURVE: Record<string, { c: Curve; id: number }> = {
  "P-256": { c: p256, id: 1 },
  "P-384": { c: p384, id: 2 },
  "P-521": { c: p521, id: 3 },
};
const h = hexToBytes;
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const u64 = (n: number) => concatBytes(u32(Math.floor(n / 2 ** 32)), u32(n % 2 ** 32));

/** The public identity encoding: version, then per curve EncodeEC(sign) ‖ EncodeEC(dh). */
function keysOf(identityPublic: Uint8Array, curve: string): { sign: Uint8Array; dh: Uint8Array } {
  let off = 1;
  for (const name of ["P-256", "P-384", "P-521"]) {
    const len = 1 + 2 * CURVE[name].c.byteLength + 1;
    if (name === curve) {
      return {
        sign: identityPublic.slice(off + 1, off + len),
        dh: identityPublic.slice(off + len + 1, off + 2 * len),
      };
    }
    off += 2 * len;
  }
  throw new Error("unknown curve");
}

function traceValues(list: [string, string][], label: string): Uint8Array[] {
  return list.filter(([l]) => l === label).map(([, v]) => h(v));
}

Deno.test("KAT: every value follows from docs/protocol.md, rebuilt with crypto/ primitives only", () => {
  for (const k of file.cases) {
    const { c, id: cid } = CURVE[k.curve];
    const xid = k.cipher === "AES-256-GCM" ? 1 : 2;
    const enc = (pub: Uint8Array) => concatBytes(Uint8Array.of(cid), pub);
    const aPub = h(k.alice.identity_public), bPub = h(k.bob.identity_public);
    const idA = h(k.alice.id), idB = h(k.bob.id);
    const A = keysOf(aPub, k.curve), B = keysOf(bPub, k.curve);

    // §2: IDs, and the secret identity encoding (version, then sign ‖ dh secret per curve).
    for (const [pub, id] of [[aPub, idA], [bPub, idB]]) {
      assert.equal(bytesToHex(sha512(concatBytes(utf8("sotto id v1"), pub)).slice(0, 20)), bytesToHex(id));
    }
    for (const person of [k.alice, k.bob]) {
      const written = writtenId(h(person.id));
      assert.equal(person.id_text, written.plain);
      assert.equal(person.id_text_checked, written.checked);
    }
    const secretOffset = 1 + { "P-256": 0, "P-384": 64, "P-521": 160 }[k.curve]!;
    const L = c.byteLength;
    const aDhSecret = h(k.alice.identity_secret).slice(secretOffset + L, secretOffset + 2 * L);
    const bDhSecret = h(k.bob.identity_secret).slice(secretOffset + L, secretOffset + 2 * L);
    const bSignSecret = h(k.bob.identity_secret).slice(secretOffset, secretOffset + L);
    assert.equal(bytesToHex(c.getPublicKey(aDhSecret, false)), bytesToHex(A.dh));

    // §3: the signed prekey signature (RFC 6979, so reproducible).
    const spk = k.signed_prekey, spkPub = h(spk.public), spkSecret = h(spk.secret);
    const ctx = utf8("sotto signed prekey v1");
    const signed = concatBytes(Uint8Array.of(ctx.length), ctx, u32(spk.id), u64(spk.created_at), enc(spkPub));
    assert.equal(bytesToHex(c.sign(bSignSecret, signed)), spk.signature);
    assert.ok(c.verify(B.sign, signed, h(spk.signature)));

    // §4: X3DH on both sides.
    const ekSecret = traceValues(k.trace.alice, "x3dh.ek.secret")[0];
    const ek = c.getPublicKey(ekSecret, false);
    const opk = k.one_time_prekey;
    const dhA = [c.ecdh(aDhSecret, spkPub), c.ecdh(ekSecret, B.dh), c.ecdh(ekSecret, spkPub)];
    const dhB = [c.ecdh(spkSecret, A.dh), c.ecdh(bDhSecret, ek), c.ecdh(spkSecret, ek)];
    if (opk) {
      dhA.push(c.ecdh(ekSecret, h(opk.public)));
      dhB.push(c.ecdh(h(opk.secret), ek));
    }
    dhA.forEach((dh, i) => {
      assert.equal(bytesToHex(dh), bytesToHex(dhB[i]));
      assert.equal(bytesToHex(dh), bytesToHex(traceValues(k.trace.bob, `x3dh.dh${i + 1}`)[0]));
    });
    const transcript = concatBytes(
      utf8("sotto x3dh v1"),
      Uint8Array.of(cid, xid),
      idA,
      idB,
      enc(A.dh),
      enc(B.dh),
      u32(spk.id),
      enc(spkPub),
      enc(ek),
      opk ? concatBytes(Uint8Array.of(1), u32(opk.id), enc(h(opk.public))) : Uint8Array.of(0),
    );
    const okm = hkdf("SHA-512", concatBytes(...dhA), new Uint8Array(64), sha512(transcript), 96);
    const [sk, hka, nhkb] = [okm.slice(0, 32), okm.slice(32, 64), okm.slice(64)];
    assert.equal(bytesToHex(sk), bytesToHex(traceValues(k.trace.bob, "x3dh.sk")[0]));
    const ad = concatBytes(
      Uint8Array.of(1, cid, xid),
      idA,
      idB,
      enc(A.sign),
      enc(A.dh),
      enc(B.sign),
      enc(B.dh),
    );
    assert.equal(bytesToHex(ad), bytesToHex(traceValues(k.trace.alice, "x3dh.ad")[0]));
    const prekeyHeader = concatBytes(
      Uint8Array.of(cid, xid),
      idB,
      aPub,
      u32(spk.id),
      opk ? concatBytes(Uint8Array.of(1), u32(opk.id)) : Uint8Array.of(0),
      enc(ek),
    );

    // §6: the ratchet. KDF_RK, KDF_CK and the message construction, exactly as documented.
    const kdfRk = (rk: Uint8Array, dh: Uint8Array) => {
      const o = hkdf("SHA-512", dh, rk, utf8("sotto ratchet root v1"), 96);
      return [o.slice(0, 32), o.slice(32, 64), o.slice(64)];
    };
    const wires = k.messages.map((m) => h(m.wire));
    let wireIndex = 0;
    const build = (
      ck: Uint8Array,
      hk: Uint8Array,
      ratchetPub: Uint8Array,
      pn: number,
      n: number,
      withP: boolean,
    ) => {
      const mk = hmac("SHA-512", ck, Uint8Array.of(1)).slice(0, 32);
      const next = hmac("SHA-512", ck, Uint8Array.of(2)).slice(0, 32);
      const expected = wires[wireIndex], payload = h(k.messages[wireIndex].payload);
      wireIndex++;
      const P = withP ? prekeyHeader : new Uint8Array(0);
      const nonce = expected.slice(2 + P.length + 2, 2 + P.length + 2 + 24); // recorded random
      const header = concatBytes(
        nonce,
        xchacha20Poly1305Seal(hk, nonce, concatBytes(ratchetPub, u32(pn), u32(n)), ad),
      );
      const kn = hkdf(
        "SHA-512",
        mk,
        new Uint8Array(64),
        concatBytes(utf8("sotto message key v1"), Uint8Array.of(xid)),
        44,
      );
      let size = 64;
      while (size < payload.length + 1) size *= 2;
      const padded = new Uint8Array(size);
      padded.set(payload);
      padded[payload.length] = 0x80;
      const bodyAd = concatBytes(u16(ad.length), ad, u16(P.length), P, header);
      const seal = xid === 1 ? aesGcmSeal : chacha20Poly1305Seal;
      const body = seal(kn.slice(0, 32), kn.slice(32), padded, bodyAd);
      const wire = concatBytes(
        Uint8Array.of(1, withP ? 2 : 1),
        P,
        u16(header.length),
        header,
        body,
      );
      assert.equal(bytesToHex(wire), bytesToHex(expected), `${k.name}: message ${wireIndex - 1}`);
      return next;
    };

    // Alice: RatchetInitAliceHE, then two messages with the prekey header.
    const [aRatchet1, aRatchet2] = traceValues(k.trace.alice, "ratchet.dhs.secret");
    const aR1 = c.getPublicKey(aRatchet1, false);
    const [rkA, cksA, nhksA] = kdfRk(sk, c.ecdh(aRatchet1, spkPub));
    let ck = build(cksA, hka, aR1, 0, 0, true);
    build(ck, hka, aR1, 0, 1, true);
    // Bob: his signed prekey is his first ratchet key; DHRatchetHE on Alice's first message, then a reply.
    const [bRatchet1] = traceValues(k.trace.bob, "ratchet.dhs.secret");
    const bR1 = c.getPublicKey(bRatchet1, false);
    const [rkB1, ckrB] = kdfRk(sk, c.ecdh(spkSecret, aR1));
    assert.equal(bytesToHex(ckrB), bytesToHex(cksA));
    const [rkB2, cksB] = kdfRk(rkB1, c.ecdh(bRatchet1, aR1));
    build(cksB, nhkb, bR1, 0, 0, false);
    // Alice: DHRatchetHE on the reply (her HKs becomes her NHKs), then two messages on the new chain.
    const [rkA2, ckrA] = kdfRk(rkA, c.ecdh(aRatchet1, bR1));
    assert.equal(bytesToHex(rkA2), bytesToHex(rkB2));
    assert.equal(bytesToHex(ckrA), bytesToHex(cksB));
    const aR2 = c.getPublicKey(aRatchet2, false);
    const [, cksA2] = kdfRk(rkA2, c.ecdh(aRatchet2, bR1));
    ck = build(cksA2, nhksA, aR2, 2, 0, false);
    build(ck, nhksA, aR2, 2, 1, false);
    assert.equal(wireIndex, wires.length);
  }
});

// ---- version 2: PQXDH and the ratchet with KEM steps, from the document alone ----------------------

/** §11's random stream: SHA-512(seed ‖ u32 counter) blocks, consumed byte by byte, nothing skipped. */
function stream(seed: string): (n: number) => Uint8Array {
  let counter = 0, pool: Uint8Array = new Uint8Array(0);
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n;) {
      if (pool.length === 0) pool = sha512(concatBytes(utf8(seed), u32(counter++)));
      const k = Math.min(pool.length, n - off);
      out.set(pool.subarray(0, k), off);
      pool = pool.subarray(k);
      off += k;
    }
    return out;
  };
}

/** §11: L bytes, the bits above n's bit length cleared, drawn again until in [1, n − 1]. */
function drawScalar(draw: (n: number) => Uint8Array, c: Curve): Uint8Array {
  const bits = c.n.toString(2).length;
  for (;;) {
    const b = draw(c.byteLength);
    b[0] &= 0xff >> (8 * c.byteLength - bits);
    const k = BigInt("0x" + bytesToHex(b));
    if (k !== 0n && k < c.n) return b;
  }
}

interface SentMeta {
  hk: Uint8Array;
  n: number;
  pn: number;
  dh: Uint8Array;
  ek: Uint8Array;
  ct: Uint8Array | null;
  mk: Uint8Array;
}

interface Party {
  initiator: boolean;
  localId: Uint8Array;
  remoteId: Uint8Array;
  P: Uint8Array | null;
  dhs: { sk: Uint8Array; pk: Uint8Array };
  dhr: Uint8Array | null;
  kem: { seed: Uint8Array; ek: Uint8Array; dk: Uint8Array } | null;
  ct: Uint8Array | null;
  rk: Uint8Array;
  cks: Uint8Array;
  ckr: Uint8Array | null;
  hks: Uint8Array;
  hkr: Uint8Array | null;
  nhks: Uint8Array;
  nhkr: Uint8Array;
  ns: number;
  nr: number;
  pn: number;
  received: number;
  skipped: { hk: Uint8Array; n: number; mk: Uint8Array; stamp: number }[];
}

Deno.test("KAT PQXDH: every value follows from docs/protocol.md, rebuilt with crypto/ primitives only", () => {
  const CURVES = ["P-256", "P-384", "P-521"];
  const eq = (a: Uint8Array, b: Uint8Array | string, what: string) =>
    assert.equal(bytesToHex(a), typeof b === "string" ? b : bytesToHex(b), what);
  const same = (a: Uint8Array | null, b: Uint8Array | null) =>
    a !== null && b !== null && bytesToHex(a) === bytesToHex(b);

  for (const k of file.pqxdh_cases) {
    const { c, id: cid } = CURVE[k.curve];
    const xid = k.cipher === "AES-256-GCM" ? 1 : 2;
    const enc = (pub: Uint8Array) => concatBytes(Uint8Array.of(cid), pub);
    const draw = stream(k.seed);

    // §2 and §11: identities, drawn sign then DH key per curve, Alice's then Bob's.
    const identity = () => {
      const sec: Record<string, { sign: Uint8Array; dh: Uint8Array }> = {};
      for (const name of CURVES) {
        sec[name] = { sign: drawScalar(draw, CURVE[name].c), dh: drawScalar(draw, CURVE[name].c) };
      }
      const pub = concatBytes(
        Uint8Array.of(1),
        ...CURVES.flatMap((name) => {
          const cc = CURVE[name];
          return [sec[name].sign, sec[name].dh].map((s) =>
            concatBytes(Uint8Array.of(cc.id), cc.c.getPublicKey(s, false))
          );
        }),
      );
      const secret = concatBytes(
        Uint8Array.of(1),
        ...CURVES.flatMap((name) => [sec[name].sign, sec[name].dh]),
      );
      const id = sha512(concatBytes(utf8("sotto id v1"), pub)).slice(0, 20);
      return { sec, pub, secret, id };
    };
    const A = identity(), B = identity();
    eq(A.pub, k.alice.identity_public, "Alice's public identity");
    eq(A.secret, k.alice.identity_secret, "Alice's secret identity");
    eq(B.pub, k.bob.identity_public, "Bob's public identity");
    eq(A.id, k.alice.id, "ID_A");
    eq(B.id, k.bob.id, "ID_B");
    const Akeys = keysOf(A.pub, k.curve), Bkeys = keysOf(B.pub, k.curve);

    // §3: Bob's store: signed prekeys of P-256, P-384, P-521 (ids 1–3), the last-resort KEM prekey (id 4),
    // then a one-time EC prekey on the chat's curve and a one-time KEM prekey, if the case has them.
    const created = k.signed_prekey.created_at;
    const spks = CURVES.map((name, i) => {
      const sk = drawScalar(draw, CURVE[name].c);
      const pk = CURVE[name].c.getPublicKey(sk, false);
      const ctx = utf8("sotto signed prekey v1");
      const msg = concatBytes(u32(i + 1), u64(created), concatBytes(Uint8Array.of(CURVE[name].id), pk));
      const sig = CURVE[name].c.sign(B.sec[name].sign, concatBytes(Uint8Array.of(ctx.length), ctx, msg));
      return { id: i + 1, sk, pk, sig };
    });
    let nextId = 4;
    const kemPrekey = (kind: number, time: number) => {
      const id = nextId++;
      const seed = draw(64);
      const { publicKey, secretKey } = mlkem1024.keygen(seed);
      const ctx = utf8("sotto kem prekey v1");
      const msg = concatBytes(Uint8Array.of(kind), u32(id), u64(time), Uint8Array.of(0x12), publicKey);
      const sigs = CURVES.map((name) =>
        CURVE[name].c.sign(B.sec[name].sign, concatBytes(Uint8Array.of(ctx.length), ctx, msg))
      );
      return { id, seed, ek: publicKey, dk: secretKey, sigs, time };
    };
    const lastResort = kemPrekey(1, created);
    const opk = k.one_time_prekey
      ? (() => {
        const sk = drawScalar(draw, c);
        return { id: nextId++, sk, pk: c.getPublicKey(sk, false) };
      })()
      : null;
    const oneTimeKem = k.one_time_kem_prekey ? kemPrekey(2, created) : null;
    const spk = spks[CURVES.indexOf(k.curve)];
    eq(spk.sk, k.signed_prekey.secret, "SPK secret");
    eq(spk.sig, k.signed_prekey.signature, "SPK signature");
    for (const [mine, rec] of [[lastResort, k.kem_prekey], [oneTimeKem, k.one_time_kem_prekey]] as const) {
      if (mine === null || rec === null) {
        assert.equal(mine, rec);
        continue;
      }
      assert.equal(mine.id, rec.id);
      eq(mine.seed, rec.seed, "KEM prekey seed");
      eq(mine.ek, rec.public, "KEM prekey");
      CURVES.forEach((name, i) =>
        eq(mine.sigs[i], rec.signatures[name as "P-256"], `KEM prekey ${name} signature`)
      );
    }
    if (opk) eq(opk.sk, k.one_time_prekey!.secret, "OPK secret");

    // §3: the bundle of version 2 as Bob uploads it.
    const kemEntry = (e: typeof lastResort) =>
      concatBytes(u32(e.id), u64(e.time), Uint8Array.of(0x12), e.ek, ...e.sigs);
    const bundle = concatBytes(
      Uint8Array.of(2),
      B.pub,
      ...spks.map((s, i) =>
        concatBytes(u32(s.id), u64(created), Uint8Array.of(CURVE[CURVES[i]].id), s.pk, s.sig)
      ),
      ...CURVES.map((name) =>
        name === k.curve && opk ? concatBytes(u16(1), u32(opk.id), enc(opk.pk)) : u16(0)
      ),
      kemEntry(lastResort),
      oneTimeKem ? concatBytes(u16(1), kemEntry(oneTimeKem)) : u16(0),
    );
    eq(bundle, k.bundle, "bundle");

    // §4: PQXDH. Alice draws EK_A and the KEM message m, in that order.
    const ekSecret = drawScalar(draw, c);
    const ek = c.getPublicKey(ekSecret, false);
    const m = draw(32);
    const used = oneTimeKem ?? lastResort;
    const kind = oneTimeKem ? 2 : 1;
    const { cipherText: CT, sharedSecret: SS } = mlkem1024.encapsulate(used.ek, m);
    eq(mlkem1024.decapsulate(CT, used.dk), SS, "Bob's KEM secret");
    const dhA = [c.ecdh(A.sec[k.curve].dh, spk.pk), c.ecdh(ekSecret, Bkeys.dh), c.ecdh(ekSecret, spk.pk)];
    const dhB = [c.ecdh(spk.sk, Akeys.dh), c.ecdh(B.sec[k.curve].dh, ek), c.ecdh(spk.sk, ek)];
    if (opk) {
      dhA.push(c.ecdh(ekSecret, opk.pk));
      dhB.push(c.ecdh(opk.sk, ek));
    }
    dhA.forEach((dh, i) => eq(dh, dhB[i], `DH${i + 1}`));
    const transcript = concatBytes(
      utf8("sotto pqxdh v1"),
      Uint8Array.of(cid, xid),
      A.id,
      B.id,
      enc(Akeys.dh),
      enc(Bkeys.dh),
      u32(spk.id),
      enc(spk.pk),
      enc(ek),
      opk ? concatBytes(Uint8Array.of(1), u32(opk.id), enc(opk.pk)) : Uint8Array.of(0),
      Uint8Array.of(kind),
      u32(used.id),
      Uint8Array.of(0x12),
      used.ek,
      CT,
    );
    eq(transcript, traceValues(k.trace.alice, "pqxdh.transcript")[0], "transcript");
    const th = sha512(transcript);
    const info = concatBytes(utf8(`sotto_PQXDH_${k.curve}_SHA-512_ML-KEM-1024`), th);
    const okm = hkdf("SHA-512", concatBytes(...dhA, SS), new Uint8Array(64), info, 96);
    const [sk, hka, nhkb] = [okm.slice(0, 32), okm.slice(32, 64), okm.slice(64)];
    eq(sk, traceValues(k.trace.bob, "pqxdh.sk")[0], "SK");
    const ad = concatBytes(
      Uint8Array.of(2, cid, xid),
      A.id,
      B.id,
      enc(Akeys.sign),
      enc(Akeys.dh),
      enc(Bkeys.sign),
      enc(Bkeys.dh),
      th,
    );
    const P = concatBytes(
      Uint8Array.of(cid, xid),
      B.id,
      A.pub,
      u32(spk.id),
      opk ? concatBytes(Uint8Array.of(1), u32(opk.id)) : Uint8Array.of(0),
      enc(ek),
      Uint8Array.of(kind),
      u32(used.id),
      CT,
    );

    // §6: the ratchet with KEM steps.
    const kdfRk = (rk: Uint8Array, dh: Uint8Array, ss: Uint8Array | null) => {
      const o = hkdf("SHA-512", ss ? concatBytes(dh, ss) : dh, rk, utf8("sotto ratchet root v2"), 96);
      return [o.slice(0, 32), o.slice(32, 64), o.slice(64)];
    };
    const kdfCk = (ck: Uint8Array) => [
      hmac("SHA-512", ck, Uint8Array.of(2)).slice(0, 32),
      hmac("SHA-512", ck, Uint8Array.of(1)).slice(0, 32),
    ];
    const newKem = () => {
      const seed = draw(64);
      const { publicKey, secretKey } = mlkem768.keygen(seed);
      return { seed, ek: publicKey, dk: secretKey };
    };
    const newDh = () => {
      const sk = drawScalar(draw, c);
      return { sk, pk: c.getPublicKey(sk, false) };
    };
    // Alice (§6.2): her first ratchet key, then her first KEM key; no KEM secret in her first chain.
    const aliceDhs = newDh();
    const aliceKem = newKem();
    const [rkA, cksA, nhksA] = kdfRk(sk, c.ecdh(aliceDhs.sk, spk.pk), null);
    const common = { ns: 0, nr: 0, pn: 0, received: 0, skipped: [], ckr: null, hkr: null };
    const alice: Party = {
      ...common,
      initiator: true,
      localId: A.id,
      remoteId: B.id,
      P,
      dhs: aliceDhs,
      dhr: spk.pk,
      kem: aliceKem,
      ct: null,
      rk: rkA,
      cks: cksA,
      hks: hka,
      nhks: nhksA,
      nhkr: nhkb,
    };
    const bob: Party = {
      ...common,
      skipped: [],
      initiator: false,
      localId: B.id,
      remoteId: A.id,
      P: null,
      dhs: { sk: spk.sk, pk: spk.pk },
      dhr: null,
      kem: null,
      ct: null,
      rk: sk,
      cks: new Uint8Array(32),
      hks: new Uint8Array(32),
      nhks: nhkb,
      nhkr: hka,
    };

    const sent: SentMeta[] = [];
    const send = (p: Party, index: number) => {
      const msg = k.messages[index];
      const expected = h(msg.wire), payload = h(msg.payload);
      const [next, mk] = kdfCk(p.cks);
      const plain = concatBytes(p.dhs.pk, u32(p.pn), u32(p.ns), p.kem!.ek, p.ct ?? new Uint8Array(0));
      const pBytes = p.P ?? new Uint8Array(0);
      const nonce = draw(24);
      const header = concatBytes(nonce, xchacha20Poly1305Seal(p.hks, nonce, plain, ad));
      const kn = hkdf(
        "SHA-512",
        mk,
        new Uint8Array(64),
        concatBytes(utf8("sotto message key v1"), Uint8Array.of(xid)),
        44,
      );
      let size = 64;
      while (size < payload.length + 1) size *= 2;
      const padded = new Uint8Array(size);
      padded.set(payload);
      padded[payload.length] = 0x80;
      const seal = xid === 1 ? aesGcmSeal : chacha20Poly1305Seal;
      const body = seal(
        kn.slice(0, 32),
        kn.slice(32),
        padded,
        concatBytes(u16(ad.length), ad, u16(pBytes.length), pBytes, header),
      );
      const wire = concatBytes(Uint8Array.of(2, p.P ? 2 : 1), pBytes, u16(header.length), header, body);
      eq(wire, expected, `${k.name}: message ${index}`);
      sent[index] = { hk: p.hks, n: p.ns, pn: p.pn, dh: p.dhs.pk, ek: p.kem!.ek, ct: p.ct, mk };
      p.cks = next;
      p.ns += 1;
    };
    const skipTo = (p: Party, until: number, fresh: Party["skipped"]) => {
      while (p.nr < until) {
        const [next, mk] = kdfCk(p.ckr!);
        fresh.push({ hk: p.hkr!, n: p.nr, mk, stamp: p.received });
        p.ckr = next;
        p.nr += 1;
      }
    };
    const receive = (p: Party, index: number) => {
      const s = sent[index];
      const fresh: Party["skipped"] = [];
      let mk: Uint8Array;
      const stored = p.skipped.findIndex((e) => same(e.hk, s.hk) && e.n === s.n);
      if (stored >= 0) {
        mk = p.skipped[stored].mk; // a skipped key (§6.4 step 3)
        p.skipped.splice(stored, 1);
      } else if (same(p.hkr, s.hk)) {
        skipTo(p, s.n, fresh); // the current chain (step 4)
        [p.ckr, mk] = kdfCk(p.ckr!);
        p.nr += 1;
      } else {
        assert.ok(same(p.nhkr, s.hk), "a DH ratchet step opens with NHKr");
        if (p.ckr !== null) skipTo(p, s.pn, fresh); // step 5: the rest of the old chain
        p.pn = p.ns;
        p.ns = p.nr = 0;
        p.hks = p.nhks;
        p.hkr = p.nhkr;
        p.dhr = s.dh;
        // The KEM step: decapsulate the peer's ciphertext (if we have a KEM key), then draw DHs, our new
        // KEM seed and m, in that order, and encapsulate to the peer's new key.
        const ssr = p.kem ? mlkem768.decapsulate(s.ct!, p.kem.dk) : null;
        assert.equal(s.ct === null, p.kem === null);
        [p.rk, p.ckr, p.nhkr] = kdfRk(p.rk, c.ecdh(p.dhs.sk, s.dh), ssr);
        p.dhs = newDh();
        p.kem = newKem();
        const { cipherText, sharedSecret } = mlkem768.encapsulate(s.ek, draw(32));
        p.ct = cipherText;
        [p.rk, p.cks, p.nhks] = kdfRk(p.rk, c.ecdh(p.dhs.sk, s.dh), sharedSecret);
        skipTo(p, s.n, fresh);
        [p.ckr, mk] = kdfCk(p.ckr!);
        p.nr += 1;
      }
      eq(mk, s.mk, `${k.name}: the receiver's key of message ${index}`);
      p.skipped.push(...fresh);
      p.received += 1;
      p.P = null;
    };
    for (const [what, who, index] of k.events) {
      const p = who === "alice" ? alice : bob;
      if (what === "send") send(p, index);
      else receive(p, index);
    }

    // §7: both final states, version 2.
    const serialize = (p: Party) =>
      concatBytes(
        Uint8Array.of(2, cid, xid, p.initiator ? 1 : 0),
        p.localId,
        p.remoteId,
        u16(ad.length),
        ad,
        ek,
        p.P ? concatBytes(Uint8Array.of(1), u16(p.P.length), p.P) : Uint8Array.of(0),
        p.dhs.sk,
        p.dhs.pk,
        p.dhr ? concatBytes(Uint8Array.of(1), p.dhr) : Uint8Array.of(0),
        p.rk,
        p.cks,
        p.hks,
        p.nhks,
        p.nhkr,
        p.ckr ? concatBytes(Uint8Array.of(1), p.ckr, p.hkr!) : Uint8Array.of(0),
        p.kem ? concatBytes(Uint8Array.of(1), p.kem.seed) : Uint8Array.of(0),
        p.ct ? concatBytes(Uint8Array.of(1), p.ct) : Uint8Array.of(0),
        u32(p.ns),
        u32(p.nr),
        u32(p.pn),
        u64(p.received),
        u16(p.skipped.length),
        ...p.skipped.map((e) => concatBytes(e.hk, u32(e.n), e.mk, u64(e.stamp))),
      );
    eq(serialize(alice), k.final_state.alice, `${k.name}: Alice's final state`);
    eq(serialize(bob), k.final_state.bob, `${k.name}: Bob's final state`);
    assert.equal(alice.skipped.length, 1, "Alice ends holding a skipped key");
  }
});
