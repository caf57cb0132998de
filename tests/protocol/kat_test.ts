// Known answers for the end-to-end layer (vectors/protocol_kat.json). Two checks per case:
// 1. the scripted conversation, rerun with the same fixed random source, reproduces the file exactly;
// 2. an independent reading of docs/protocol.md, written here with crypto/ primitives only (no protocol/
//    code), rebuilds the IDs, the signed-prekey signature, X3DH, both DH ratchet steps and every message
//    byte for byte from the recorded secret keys and nonces.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes, utf8 } from "../../crypto/bytes.ts";
import { aesGcmSeal } from "../../crypto/aes.ts";
import { chacha20Poly1305Seal, xchacha20Poly1305Seal } from "../../crypto/chacha20poly1305.ts";
import type { Curve } from "../../crypto/ec.ts";
import { hkdf } from "../../crypto/hkdf.ts";
import { hmac } from "../../crypto/hmac.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";
import { sha512 } from "../../crypto/sha2.ts";
import { KAT_CASES, type KatCase, runKatCase } from "./_kat.ts";

const file: { source: string; random: string; cases: KatCase[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/protocol_kat.json", import.meta.url)),
);

for (const [i, spec] of KAT_CASES.entries()) {
  Deno.test(`KAT ${spec.name}: the scripted conversation reproduces the file exactly`, () => {
    assert.deepEqual(runKatCase(spec), file.cases[i]);
  });
}

// ---- an independent reading of docs/protocol.md ---------------------------------------------------

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
