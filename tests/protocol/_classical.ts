// The classical X3DH of protocol version 1, kept in the tests only: sessions it made before PQXDH still run
// (protocol/ratchet.ts reads and continues them), and the version 1 vectors and the bench's classical
// baseline need new ones. A client of this version never starts one (protocol/x3dh.ts refuses bundles and
// initial messages without a KEM part). This is the handshake docs/protocol.md §4 described before PQXDH,
// built on the production session, message and prekey code.
import { equalBytes, type RandomSource, systemRandom, utf8, wipe } from "../../crypto/bytes.ts";
import { hkdf } from "../../crypto/hkdf.ts";
import { sha512 } from "../../crypto/sha2.ts";
import { ProtocolError, Writer } from "../../protocol/codec.ts";
import {
  checkId,
  deriveId,
  type Identity,
  type IdentityPublic,
  signWithContext,
} from "../../protocol/identity.ts";
import { decodeMessage, encodePrekeyHeader, PROTOCOL_VERSION_CLASSICAL } from "../../protocol/message.ts";
import {
  type PrekeyBundle,
  PrekeyStore,
  signedPrekeyMessage,
  verifySignedPrekey,
} from "../../protocol/prekeys.ts";
import { Session, type SessionSetup } from "../../protocol/ratchet.ts";
import {
  type BodyCipher,
  cipherId,
  curveId,
  type CurveName,
  curveOf,
  CURVES,
  generateKeyPair,
  type Trace,
  writeKey,
} from "../../protocol/suite.ts";

interface Handshake {
  curve: CurveName;
  cipher: BodyCipher;
  initiator: IdentityPublic;
  initiatorId: Uint8Array;
  responder: IdentityPublic;
  responderId: Uint8Array;
  spkId: number;
  spk: Uint8Array;
  opkId: number | null;
  opk: Uint8Array | null;
  ek: Uint8Array;
}

function setupOf(h: Handshake, dhs: Uint8Array[], trace?: Trace): SessionSetup {
  dhs.forEach((dh, i) => trace?.(`x3dh.dh${i + 1}`, dh));
  const c = h.curve;
  const t = new Writer().bytes(utf8("sotto x3dh v1")).u8(curveId(c)).u8(cipherId(h.cipher));
  t.bytes(h.initiatorId).bytes(h.responderId);
  writeKey(t, c, h.initiator[c].dh);
  writeKey(t, c, h.responder[c].dh);
  writeKey(t.u32(h.spkId), c, h.spk);
  writeKey(t, c, h.ek);
  if (h.opk === null) t.u8(0);
  else writeKey(t.u8(1).u32(h.opkId!), c, h.opk);
  const transcript = t.finish();
  const th = sha512(transcript);
  const ikm = new Writer();
  for (const dh of dhs) ikm.bytes(dh);
  const okm = hkdf("SHA-512", ikm.finish(), new Uint8Array(64), th, 96);
  const ad = new Writer().u8(PROTOCOL_VERSION_CLASSICAL).u8(curveId(c)).u8(cipherId(h.cipher));
  ad.bytes(h.initiatorId).bytes(h.responderId);
  for (const keys of [h.initiator[c], h.responder[c]]) writeKey(writeKey(ad, c, keys.sign), c, keys.dh);
  const setup: SessionSetup = {
    version: PROTOCOL_VERSION_CLASSICAL,
    curve: c,
    cipher: h.cipher,
    localId: h.initiatorId,
    remoteId: h.responderId,
    ad: ad.finish(),
    baseKey: h.ek,
    sk: okm.slice(0, 32),
    hka: okm.slice(32, 64),
    nhkb: okm.slice(64),
    trace,
  };
  trace?.("x3dh.transcript", transcript);
  trace?.("x3dh.th", th);
  trace?.("x3dh.sk", setup.sk);
  trace?.("x3dh.hka", setup.hka);
  trace?.("x3dh.nhkb", setup.nhkb);
  trace?.("x3dh.ad", setup.ad);
  wipe(okm, ...dhs);
  return setup;
}

/** Version 1 `initiate`: X3DH from a bundle's EC prekeys only (its KEM prekeys, if any, are ignored). */
export function initiateClassical(
  identity: Identity,
  peerId: Uint8Array,
  bundle: PrekeyBundle,
  options: { curve?: CurveName; cipher?: BodyCipher; random?: RandomSource; trace?: Trace } = {},
): Session {
  const curve = options.curve ?? "P-521", cipher = options.cipher ?? "AES-256-GCM";
  const random = options.random ?? systemRandom;
  checkId(peerId, bundle.identity);
  const spk = bundle.signedPrekeys[curve];
  if (!verifySignedPrekey(bundle.identity, curve, spk)) throw new ProtocolError("bad-signature", "bad SPK");
  const opk = bundle.oneTimePrekeys[curve][0] ?? null;
  const ek = generateKeyPair(curve, random);
  options.trace?.("x3dh.ek.secret", ek.secretKey);
  const c = curveOf(curve);
  const dhs = [
    c.ecdh(identity.secretKeys[curve].dh, spk.publicKey),
    c.ecdh(ek.secretKey, bundle.identity[curve].dh),
    c.ecdh(ek.secretKey, spk.publicKey),
  ];
  if (opk !== null) dhs.push(c.ecdh(ek.secretKey, opk.publicKey));
  const setup = setupOf(
    {
      curve,
      cipher,
      initiator: identity.publicKeys,
      initiatorId: identity.id,
      responder: bundle.identity,
      responderId: peerId,
      spkId: spk.id,
      spk: spk.publicKey,
      opkId: opk?.id ?? null,
      opk: opk?.publicKey ?? null,
      ek: ek.publicKey,
    },
    dhs,
    options.trace,
  );
  setup.random = random;
  const p = encodePrekeyHeader({
    version: PROTOCOL_VERSION_CLASSICAL,
    curve,
    cipher,
    recipientId: peerId,
    identity: identity.publicKeys,
    signedPrekeyId: spk.id,
    oneTimePrekeyId: opk?.id ?? null,
    baseKey: ek.publicKey,
    kem: null,
  });
  return Session.initiator(setup, spk.publicKey, p);
}

/** Version 1 `respond`: accepts a classical initial message with the store's EC prekeys. */
export function respondClassical(
  identity: Identity,
  store: PrekeyStore,
  message: Uint8Array,
  options: { now: number; random?: RandomSource; trace?: Trace },
): { session: Session; plaintext: Uint8Array; peerId: Uint8Array } {
  const p = decodeMessage(message).prekey!;
  if (p.version !== PROTOCOL_VERSION_CLASSICAL) throw new ProtocolError("unsupported", "not classical");
  if (!equalBytes(p.recipientId, identity.id)) throw new ProtocolError("wrong-recipient", "not for us");
  const spk = store.signedPrekey(p.curve, p.signedPrekeyId, options.now);
  if (spk === undefined) throw new ProtocolError("unknown-prekey", "no such signed prekey");
  store.checkFresh(p.curve, p.signedPrekeyId, p.baseKey);
  const opk = p.oneTimePrekeyId === null ? null : store.oneTimePrekey(p.curve, p.oneTimePrekeyId);
  if (opk === undefined) throw new ProtocolError("unknown-prekey", "no such one-time prekey");
  const peerId = deriveId(p.identity);
  const c = curveOf(p.curve);
  const dhs = [
    c.ecdh(spk.secretKey, p.identity[p.curve].dh),
    c.ecdh(identity.secretKeys[p.curve].dh, p.baseKey),
    c.ecdh(spk.secretKey, p.baseKey),
  ];
  if (opk !== null) dhs.push(c.ecdh(opk.secretKey, p.baseKey));
  const setup = setupOf(
    {
      curve: p.curve,
      cipher: p.cipher,
      initiator: p.identity,
      initiatorId: peerId,
      responder: identity.publicKeys,
      responderId: identity.id,
      spkId: p.signedPrekeyId,
      spk: spk.publicKey,
      opkId: p.oneTimePrekeyId,
      opk: opk?.publicKey ?? null,
      ek: p.baseKey,
    },
    dhs,
    options.trace,
  );
  setup.localId = identity.id;
  setup.remoteId = peerId;
  setup.random = options.random ?? systemRandom;
  const session = Session.responder(setup, spk);
  const plaintext = session.decrypt(message);
  store.accept(p.curve, p.signedPrekeyId, p.oneTimePrekeyId, p.baseKey);
  return { session, plaintext, peerId };
}

/**
 * A version 1 prekey store as the code before PQXDH made it (signed prekeys of P-256, P-384, P-521, then
 * `oneTime` one-time prekeys on `curve`, drawn in that order), restored through the current
 * `PrekeyStore.deserialize`: an upgraded store with no KEM prekey, as a client has after updating.
 */
export function classicalStore(
  identity: Identity,
  now: number,
  random: RandomSource,
  oneTime: { curve: CurveName; count: number } = { curve: "P-521", count: 0 },
): PrekeyStore {
  let id = 0;
  const signed = CURVES.map((c) => {
    const pair = generateKeyPair(c, random);
    const spkId = ++id;
    const context = "sotto signed prekey v1";
    const signature = signWithContext(
      identity,
      c,
      context,
      signedPrekeyMessage(c, spkId, now, pair.publicKey),
    );
    return { c, spkId, pair, signature };
  });
  const opks = Array.from(
    { length: oneTime.count },
    () => ({ id: ++id, pair: generateKeyPair(oneTime.curve, random) }),
  );
  const w = new Writer().u8(0x01).u32(id);
  for (const s of signed) {
    w.u8(1).u32(s.spkId).u64(now).u8(0).bytes(s.pair.secretKey).bytes(s.pair.publicKey).bytes(s.signature)
      .u16(0);
    const list = s.c === oneTime.curve ? opks : [];
    w.u16(list.length);
    for (const k of list) w.u32(k.id).bytes(k.pair.secretKey).bytes(k.pair.publicKey);
  }
  return PrekeyStore.deserialize(w.finish());
}
