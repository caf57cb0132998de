// HPKE (RFC 9180) base mode: the RFC's Appendix A vectors for every NIST-curve suite it has (DeriveKeyPair of
// both key pairs, the encapsulation, every encryption and export), a differential against an independent
// HPKE written in this file on Web Crypto (ECDH, HMAC, AES-GCM) for all three KEMs and both AES AEADs on
// random keys and messages, and the refusals: invalid public and secret keys, tampered ciphertexts, wrong
// roles.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes, utf8 } from "../../crypto/bytes.ts";
import { AuthenticationError } from "../../crypto/errors.ts";
import { AEAD, type AeadId, Hpke, HpkeError, KDF, type KdfId, KEM, type KemId } from "../../crypto/hpke.ts";

interface Vector {
  name: string;
  kem_id: KemId;
  kdf_id: KdfId;
  aead_id: AeadId;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  shared_secret: string;
  encryptions: { seq: number; pt: string; aad: string; nonce: string; ct: string }[];
  exports: { context: string; L: number; value: string }[];
}

const vectors: { tests: Vector[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/rfc9180_hpke.json", import.meta.url)),
);

/** A random source that returns `bytes` once (the RFC's ikmE), then fails. */
function fixed(bytes: Uint8Array): (n: number) => Uint8Array {
  let used = false;
  return (n) => {
    if (used || n !== bytes.length) throw new Error(`unexpected random request of ${n} bytes`);
    used = true;
    return bytes.slice();
  };
}

Deno.test("hpke: the RFC 9180 vectors (base mode, NIST curves) all pass", () => {
  assert.equal(vectors.tests.length, 4);
  for (const v of vectors.tests) {
    const hpke = new Hpke(v.kem_id, v.kdf_id, v.aead_id);
    const e = hpke.deriveKeyPair(hexToBytes(v.ikmE));
    assert.equal(bytesToHex(e.secretKey), v.skEm, v.name);
    assert.equal(bytesToHex(e.publicKey), v.pkEm, v.name);
    const r = hpke.deriveKeyPair(hexToBytes(v.ikmR));
    assert.equal(bytesToHex(r.secretKey), v.skRm, v.name);
    assert.equal(bytesToHex(r.publicKey), v.pkRm, v.name);

    const encap = hpke.encap(hexToBytes(v.pkRm), fixed(hexToBytes(v.ikmE)));
    assert.equal(bytesToHex(encap.enc), v.enc, v.name);
    assert.equal(bytesToHex(encap.sharedSecret), v.shared_secret, v.name);
    assert.equal(bytesToHex(hpke.decap(hexToBytes(v.enc), hexToBytes(v.skRm))), v.shared_secret, v.name);

    const info = hexToBytes(v.info);
    const { enc, context: sender } = hpke.setupBaseS(hexToBytes(v.pkRm), info, fixed(hexToBytes(v.ikmE)));
    assert.equal(bytesToHex(enc), v.enc);
    const recipient = hpke.setupBaseR(enc, hexToBytes(v.skRm), info);
    // The vectors list sequence numbers 0, 1, 2, 4, 255, 256: seal and open the gaps too.
    let next = 0;
    for (const c of v.encryptions) {
      while (next < c.seq) {
        const filler = sender.seal(utf8("gap"));
        recipient.open(filler);
        next++;
      }
      assert.equal(sender.sequence, c.seq);
      const ct = sender.seal(hexToBytes(c.pt), hexToBytes(c.aad));
      assert.equal(bytesToHex(ct), c.ct, `${v.name} seq ${c.seq}`);
      assert.equal(bytesToHex(recipient.open(ct, hexToBytes(c.aad))), c.pt);
      next++;
    }
    for (const x of v.exports) {
      assert.equal(bytesToHex(sender.export(hexToBytes(x.context), x.L)), x.value, `${v.name} export`);
      assert.equal(bytesToHex(recipient.export(hexToBytes(x.context), x.L)), x.value);
    }
    // The single-shot API gives the first encryption.
    const one = hpke.sealBase(
      hexToBytes(v.pkRm),
      info,
      hexToBytes(v.encryptions[0].aad),
      hexToBytes(v.encryptions[0].pt),
      fixed(hexToBytes(v.ikmE)),
    );
    assert.equal(bytesToHex(one.ciphertext), v.encryptions[0].ct);
    const pt = hpke.openBase(
      one.enc,
      hexToBytes(v.skRm),
      info,
      hexToBytes(v.encryptions[0].aad),
      one.ciphertext,
    );
    assert.equal(bytesToHex(pt), v.encryptions[0].pt);
    const ex = hpke.sendExport(
      hexToBytes(v.pkRm),
      info,
      hexToBytes(v.exports[0].context),
      32,
      fixed(hexToBytes(v.ikmE)),
    );
    assert.equal(bytesToHex(ex.secret), v.exports[0].value);
    assert.equal(
      bytesToHex(hpke.receiveExport(ex.enc, hexToBytes(v.skRm), info, hexToBytes(v.exports[0].context), 32)),
      v.exports[0].value,
    );
  }
});

// ---- an independent HPKE on Web Crypto ---------------------------------------------------------------

type Buf = Uint8Array<ArrayBuffer>;
const CURVES = { 0x10: "P-256", 0x11: "P-384", 0x12: "P-521" } as const;
const HASHES = { 1: "SHA-256", 2: "SHA-384", 3: "SHA-512" } as const;
const KEM_HASH = { 0x10: "SHA-256", 0x11: "SHA-384", 0x12: "SHA-512" } as const;
const HLEN = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 } as const;

function buf(b: Uint8Array): Buf {
  return new Uint8Array(b) as Buf;
}

function be(n: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--, n = Math.floor(n / 256)) out[i] = n & 0xff;
  return out;
}

async function hmacWc(hash: keyof typeof HLEN, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  // HMAC keys of zero length are refused by Web Crypto; HashLen zeros are the same key (RFC 5869 §2.2).
  const k = key.length === 0 ? new Uint8Array(HLEN[hash]) : key;
  const ck = await crypto.subtle.importKey("raw", buf(k), { name: "HMAC", hash }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", ck, buf(data)));
}

async function expandWc(hash: keyof typeof HLEN, prk: Uint8Array, info: Uint8Array, len: number) {
  let t: Uint8Array = new Uint8Array(0), out: Uint8Array = new Uint8Array(0);
  for (let i = 1; out.length < len; i++) {
    t = await hmacWc(hash, prk, concatBytes(t, info, Uint8Array.of(i)));
    out = concatBytes(out, t);
  }
  return out.slice(0, len);
}

class WebCryptoHpke {
  constructor(readonly kem: 0x10 | 0x11 | 0x12, readonly kdf: 1 | 2 | 3, readonly aead: 1 | 2) {}

  get #kemId() {
    return concatBytes(utf8("KEM"), be(this.kem, 2));
  }

  get #suiteId() {
    return concatBytes(utf8("HPKE"), be(this.kem, 2), be(this.kdf, 2), be(this.aead, 2));
  }

  #lx(hash: keyof typeof HLEN, sid: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) {
    return hmacWc(hash, salt, concatBytes(utf8("HPKE-v1"), sid, utf8(label), ikm));
  }

  #le(hash: keyof typeof HLEN, sid: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, l: number) {
    return expandWc(hash, prk, concatBytes(be(l, 2), utf8("HPKE-v1"), sid, utf8(label), info), l);
  }

  async #shared(dh: Uint8Array, kemContext: Uint8Array) {
    const h = KEM_HASH[this.kem];
    const prk = await this.#lx(h, this.#kemId, new Uint8Array(0), "eae_prk", dh);
    return this.#le(h, this.#kemId, prk, "shared_secret", kemContext, HLEN[h]);
  }

  async #schedule(shared: Uint8Array, info: Uint8Array) {
    const h = HASHES[this.kdf], sid = this.#suiteId, e = new Uint8Array(0);
    const ctx = concatBytes(
      Uint8Array.of(0),
      await this.#lx(h, sid, e, "psk_id_hash", e),
      await this.#lx(h, sid, e, "info_hash", info),
    );
    const secret = await this.#lx(h, sid, shared, "secret", e);
    return {
      key: await this.#le(h, sid, secret, "key", ctx, this.aead === 1 ? 16 : 32),
      nonce: await this.#le(h, sid, secret, "base_nonce", ctx, 12),
      exp: await this.#le(h, sid, secret, "exp", ctx, HLEN[h]),
    };
  }

  async generate(): Promise<{ jwk: JsonWebKey; pub: Uint8Array; priv: CryptoKey; secret: Uint8Array }> {
    const kp = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: CURVES[this.kem] }, true, [
      "deriveBits",
    ]) as CryptoKeyPair;
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
    const jwk = await crypto.subtle.exportKey("jwk", kp.privateKey);
    const d = jwk.d!.replaceAll("-", "+").replaceAll("_", "/");
    const secret = Uint8Array.from(atob(d + "=".repeat((4 - d.length % 4) % 4)), (c) => c.charCodeAt(0));
    return { jwk, pub, priv: kp.privateKey, secret };
  }

  async #dh(priv: CryptoKey, pub: Uint8Array) {
    const pk = await crypto.subtle.importKey(
      "raw",
      buf(pub),
      { name: "ECDH", namedCurve: CURVES[this.kem] },
      false,
      [],
    );
    const bits = { "P-256": 256, "P-384": 384, "P-521": 528 }[CURVES[this.kem]];
    return new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: pk }, priv, bits));
  }

  async #aeadSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array) {
    const k = await crypto.subtle.importKey("raw", buf(key), "AES-GCM", false, ["encrypt"]);
    return new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv: buf(nonce), additionalData: buf(aad) }, k, buf(pt)),
    );
  }

  async #aeadOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array) {
    const k = await crypto.subtle.importKey("raw", buf(key), "AES-GCM", false, ["decrypt"]);
    return new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: buf(nonce), additionalData: buf(aad) }, k, buf(ct)),
    );
  }

  async seal(pkR: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, expCtx: Uint8Array) {
    const eph = await this.generate();
    const shared = await this.#shared(await this.#dh(eph.priv, pkR), concatBytes(eph.pub, pkR));
    const s = await this.#schedule(shared, info);
    const ct = await this.#aeadSeal(s.key, s.nonce, aad, pt);
    const exported = await this.#le(HASHES[this.kdf], this.#suiteId, s.exp, "sec", expCtx, 32);
    return { enc: eph.pub, ct, exported };
  }

  async open(
    enc: Uint8Array,
    r: { priv: CryptoKey; pub: Uint8Array },
    info: Uint8Array,
    aad: Uint8Array,
    ct: Uint8Array,
    expCtx: Uint8Array,
  ) {
    const shared = await this.#shared(await this.#dh(r.priv, enc), concatBytes(enc, r.pub));
    const s = await this.#schedule(shared, info);
    const pt = await this.#aeadOpen(s.key, s.nonce, aad, ct);
    const exported = await this.#le(HASHES[this.kdf], this.#suiteId, s.exp, "sec", expCtx, 32);
    return { pt, exported };
  }
}

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

Deno.test("hpke: agrees with an HPKE on Web Crypto both ways, for P-256, P-384 and P-521", async () => {
  const suites: [0x10 | 0x11 | 0x12, 1 | 2 | 3, 1 | 2][] = [
    [0x10, 1, 1],
    [0x10, 3, 2],
    [0x11, 2, 2],
    [0x11, 2, 1],
    [0x12, 3, 2],
    [0x12, 1, 1],
  ];
  for (const [kem, kdf, aead] of suites) {
    const ours = new Hpke(kem, kdf, aead);
    const theirs = new WebCryptoHpke(kem, kdf, aead);
    for (let i = 0; i < 4; i++) {
      const r = await theirs.generate();
      assert.equal(bytesToHex(ours.publicKeyOf(r.secret)), bytesToHex(r.pub));
      const info = random(i * 7), aad = random(i * 3), pt = random(1 + i * 50), expCtx = random(i);
      // Web Crypto seals, we open.
      const w = await theirs.seal(r.pub, info, aad, pt, expCtx);
      const ctx = ours.setupBaseR(w.enc, r.secret, info);
      assert.equal(bytesToHex(ctx.open(w.ct, aad)), bytesToHex(pt), `${kem}/${kdf}/${aead}`);
      assert.equal(bytesToHex(ctx.export(expCtx, 32)), bytesToHex(w.exported));
      // We seal, Web Crypto opens.
      const s = ours.setupBaseS(r.pub, info);
      const ct = s.context.seal(pt, aad);
      const o = await theirs.open(s.enc, r, info, aad, ct, expCtx);
      assert.equal(bytesToHex(o.pt), bytesToHex(pt));
      assert.equal(bytesToHex(o.exported), bytesToHex(s.context.export(expCtx, 32)));
    }
  }
});

Deno.test("hpke: ChaCha20-Poly1305 and every KEM round-trip; sizes follow the suite", () => {
  for (const kem of [KEM.P256_SHA256, KEM.P384_SHA384, KEM.P521_SHA512]) {
    for (const aead of [AEAD.AES_128_GCM, AEAD.AES_256_GCM, AEAD.CHACHA20_POLY1305]) {
      const hpke = new Hpke(kem, KDF.HKDF_SHA384, aead);
      const r = hpke.generateKeyPair();
      assert.equal(r.publicKey.length, hpke.nPk);
      assert.equal(r.secretKey.length, hpke.nSk);
      const { enc, ciphertext } = hpke.sealBase(r.publicKey, utf8("info"), utf8("aad"), utf8("hello"));
      assert.equal(enc.length, hpke.nEnc);
      assert.equal(ciphertext.length, 5 + 16);
      assert.equal(
        bytesToHex(hpke.openBase(enc, r.secretKey, utf8("info"), utf8("aad"), ciphertext, r.publicKey)),
        bytesToHex(utf8("hello")),
      );
    }
  }
});

Deno.test("hpke: refuses invalid keys, forged ciphertexts and misuse", () => {
  const hpke = new Hpke(KEM.P256_SHA256, KDF.HKDF_SHA256, AEAD.AES_128_GCM);
  const r = hpke.generateKeyPair();
  const { enc, ciphertext } = hpke.sealBase(r.publicKey, utf8("i"), utf8("a"), utf8("secret"));
  // Compressed, truncated, off-curve and identity encodings are refused as recipient keys and as enc.
  const compressed = hpke.curve.getPublicKey(r.secretKey, true);
  const offCurve = r.publicKey.slice();
  offCurve[64] ^= 1;
  const bad = [compressed, r.publicKey.subarray(0, 64), offCurve, Uint8Array.of(0), new Uint8Array(65)];
  for (const pk of bad) {
    assert.throws(() => hpke.sealBase(pk, utf8("i"), utf8("a"), utf8("x")), HpkeError);
    assert.throws(() => hpke.openBase(pk, r.secretKey, utf8("i"), utf8("a"), ciphertext), HpkeError);
  }
  // Secret keys 0 and n, and wrong lengths.
  const n = hexToBytes(hpke.curve.n.toString(16).padStart(64, "0"));
  for (const sk of [new Uint8Array(32), n, new Uint8Array(31)]) {
    assert.throws(() => hpke.openBase(enc, sk, utf8("i"), utf8("a"), ciphertext), HpkeError);
  }
  assert.throws(() => hpke.deriveKeyPair(new Uint8Array(31)), RangeError);
  // Any change to the ciphertext, aad, info or enc fails authentication.
  const flipped = ciphertext.slice();
  flipped[0] ^= 1;
  assert.throws(() => hpke.openBase(enc, r.secretKey, utf8("i"), utf8("a"), flipped), AuthenticationError);
  assert.throws(() => hpke.openBase(enc, r.secretKey, utf8("i"), utf8("b"), ciphertext), AuthenticationError);
  assert.throws(() => hpke.openBase(enc, r.secretKey, utf8("j"), utf8("a"), ciphertext), AuthenticationError);
  const other = hpke.generateKeyPair();
  assert.throws(
    () => hpke.openBase(other.publicKey, r.secretKey, utf8("i"), utf8("a"), ciphertext),
    AuthenticationError,
  );
  // Roles: a sender cannot open, a recipient cannot seal; a failed open does not advance the sequence.
  const s = hpke.setupBaseS(r.publicKey, utf8("i"));
  const rc = hpke.setupBaseR(s.enc, r.secretKey, utf8("i"));
  assert.throws(() => s.context.open(ciphertext), HpkeError);
  assert.throws(() => rc.seal(utf8("x")), HpkeError);
  const c0 = s.context.seal(utf8("zero"));
  assert.throws(() => rc.open(flipped), AuthenticationError);
  assert.equal(rc.sequence, 0);
  assert.equal(new TextDecoder().decode(rc.open(c0)), "zero");
  assert.throws(() => rc.open(c0), AuthenticationError, "a replayed ciphertext meets the next nonce");
  assert.throws(() => new Hpke(0x20 as KemId, KDF.HKDF_SHA256, AEAD.AES_128_GCM), RangeError);
});
