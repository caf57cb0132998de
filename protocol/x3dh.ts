// X3DH (Signal's X3DH specification, rev 1) on P-256, P-384 or P-521 with HKDF-SHA-512: the initiator
// (Alice) starts a chat from the responder's (Bob's) prekey bundle; Bob accepts it from the initial
// message. No 0xFF prefix (there is no XEdDSA here); instead the HKDF info is the hash of a transcript
// that binds both IDs, the chat's curve and cipher and every key of the handshake, and the associated
// data holds both IDs and both identities' keys on the curve. Exact formulas: docs/protocol.md §4.

import { checkBytes, equalBytes, type RandomSource, systemRandom, utf8, wipe } from "../crypto/bytes.ts";
import { hkdf } from "../crypto/hkdf.ts";
import { sha512 } from "../crypto/sha2.ts";
import { ProtocolError, Writer } from "./codec.ts";
import { checkId, deriveId, ID_BYTES, type Identity, type IdentityPublic } from "./identity.ts";
import { decodeMessage, encodePrekeyHeader, PROTOCOL_VERSION } from "./message.ts";
import { type PrekeyBundle, type PrekeyStore, verifySignedPrekey } from "./prekeys.ts";
import { Session, type SessionSetup } from "./ratchet.ts";
import {
  type BodyCipher,
  checkCipherName,
  checkCurveName,
  cipherId,
  curveId,
  type CurveName,
  curveOf,
  generateKeyPair,
  type Trace,
  writeKey,
} from "./suite.ts";

const TRANSCRIPT_LABEL = utf8("sotto x3dh v1");
const ZERO_SALT = new Uint8Array(64);

/** Options of {@link initiate}. */
export interface InitiateOptions {
  /** The curve the chat runs on (default P-521). */
  curve?: CurveName;
  /** The body cipher (default AES-256-GCM). */
  cipher?: BodyCipher;
  random?: RandomSource;
  trace?: Trace;
}

/** Options of {@link respond}. */
export interface RespondOptions {
  /** The current time in milliseconds since the epoch (decides whether a retired signed prekey still works). */
  now: number;
  random?: RandomSource;
  trace?: Trace;
}

/** What {@link respond} returns. */
export interface Responded {
  session: Session;
  /** The plaintext of the initial message. */
  plaintext: Uint8Array;
  /** The initiator's ID, derived from `peerIdentity`. */
  peerId: Uint8Array;
  peerIdentity: IdentityPublic;
}

interface Handshake {
  curve: CurveName;
  cipher: BodyCipher;
  initiator: IdentityPublic;
  initiatorId: Uint8Array;
  responder: IdentityPublic;
  responderId: Uint8Array;
  signedPrekeyId: number;
  signedPrekey: Uint8Array;
  oneTimePrekeyId: number | null;
  oneTimePrekey: Uint8Array | null;
  baseKey: Uint8Array;
}

/**
 * The transcript: "sotto x3dh v1" ‖ curve ‖ cipher ‖ ID_A ‖ ID_B ‖ EncodeEC(IKdh_A) ‖ EncodeEC(IKdh_B)
 * ‖ u32 spk id ‖ EncodeEC(SPK_B) ‖ EncodeEC(EK_A) ‖ 0x00, or 0x01 ‖ u32 opk id ‖ EncodeEC(OPK_B).
 */
function transcript(h: Handshake): Uint8Array {
  const c = h.curve;
  const w = new Writer().bytes(TRANSCRIPT_LABEL).u8(curveId(c)).u8(cipherId(h.cipher));
  w.bytes(h.initiatorId).bytes(h.responderId);
  writeKey(w, c, h.initiator[c].dh);
  writeKey(w, c, h.responder[c].dh);
  writeKey(w.u32(h.signedPrekeyId), c, h.signedPrekey);
  writeKey(w, c, h.baseKey);
  if (h.oneTimePrekey === null) w.u8(0);
  else writeKey(w.u8(1).u32(h.oneTimePrekeyId!), c, h.oneTimePrekey);
  return w.finish();
}

/**
 * The associated data: version ‖ curve ‖ cipher ‖ ID_A ‖ ID_B ‖ EncodeEC(IKsig_A) ‖ EncodeEC(IKdh_A)
 * ‖ EncodeEC(IKsig_B) ‖ EncodeEC(IKdh_B), the identity keys being those on the chat's curve.
 */
function associatedData(h: Handshake): Uint8Array {
  const c = h.curve;
  const w = new Writer().u8(PROTOCOL_VERSION).u8(curveId(c)).u8(cipherId(h.cipher));
  w.bytes(h.initiatorId).bytes(h.responderId);
  for (const keys of [h.initiator[c], h.responder[c]]) writeKey(writeKey(w, c, keys.sign), c, keys.dh);
  return w.finish();
}

/** SK, HK_A and NHK_B from the DH outputs: HKDF-SHA-512(IKM = DH1‖DH2‖DH3[‖DH4], salt = 0^64, info = th). */
function deriveSecrets(h: Handshake, dhs: Uint8Array[], trace?: Trace): SessionSetup {
  dhs.forEach((dh, i) => trace?.(`x3dh.dh${i + 1}`, dh));
  const t = transcript(h);
  const th = sha512(t);
  const ikm = new Writer();
  for (const dh of dhs) ikm.bytes(dh);
  const ikmBytes = ikm.finish();
  const okm = hkdf("SHA-512", ikmBytes, ZERO_SALT, th, 96);
  const setup: SessionSetup = {
    curve: h.curve,
    cipher: h.cipher,
    localId: h.initiatorId,
    remoteId: h.responderId,
    ad: associatedData(h),
    baseKey: h.baseKey,
    sk: okm.slice(0, 32),
    hka: okm.slice(32, 64),
    nhkb: okm.slice(64),
    trace,
  };
  trace?.("x3dh.transcript", t);
  trace?.("x3dh.th", th);
  trace?.("x3dh.sk", setup.sk);
  trace?.("x3dh.hka", setup.hka);
  trace?.("x3dh.nhkb", setup.nhkb);
  trace?.("x3dh.ad", setup.ad);
  wipe(ikmBytes, okm, ...dhs);
  return setup;
}

/**
 * Alice's side: checks that `bundle` belongs to `peerId`, verifies the signed prekey on the chosen curve
 * (ProtocolError "bad-signature" aborts), runs X3DH with the bundle's first one-time prekey on that curve
 * if it has one, and returns a session whose messages carry the prekey header until Bob replies.
 */
export function initiate(
  identity: Identity,
  peerId: Uint8Array,
  bundle: PrekeyBundle,
  options: InitiateOptions = {},
): Session {
  const curve = options.curve ?? "P-521";
  const cipher = options.cipher ?? "AES-256-GCM";
  checkCurveName(curve);
  checkCipherName(cipher);
  checkBytes(peerId, "peerId", ID_BYTES);
  const random = options.random ?? systemRandom;
  checkId(peerId, bundle.identity, "the bundle's identity keys");
  const spk = bundle.signedPrekeys[curve];
  if (!verifySignedPrekey(bundle.identity, curve, spk)) {
    throw new ProtocolError("bad-signature", `bundle: the ${curve} signed prekey signature does not verify`);
  }
  const opk = bundle.oneTimePrekeys[curve][0] ?? null;
  const ek = generateKeyPair(curve, random);
  options.trace?.("x3dh.ek.secret", ek.secretKey);
  const h: Handshake = {
    curve,
    cipher,
    initiator: identity.publicKeys,
    initiatorId: identity.id,
    responder: bundle.identity,
    responderId: peerId,
    signedPrekeyId: spk.id,
    signedPrekey: spk.publicKey,
    oneTimePrekeyId: opk?.id ?? null,
    oneTimePrekey: opk?.publicKey ?? null,
    baseKey: ek.publicKey,
  };
  const c = curveOf(curve);
  const dhs = [
    c.ecdh(identity.secretKeys[curve].dh, spk.publicKey),
    c.ecdh(ek.secretKey, bundle.identity[curve].dh),
    c.ecdh(ek.secretKey, spk.publicKey),
  ];
  if (opk !== null) dhs.push(c.ecdh(ek.secretKey, opk.publicKey));
  wipe(ek.secretKey);
  const setup = deriveSecrets(h, dhs, options.trace);
  setup.random = random;
  const prekeyHeader = encodePrekeyHeader({
    curve,
    cipher,
    recipientId: peerId,
    identity: identity.publicKeys,
    signedPrekeyId: spk.id,
    oneTimePrekeyId: h.oneTimePrekeyId,
    baseKey: ek.publicKey,
  });
  try {
    return Session.initiator(setup, spk.publicKey, prekeyHeader);
  } finally {
    wipe(setup.sk, setup.hka, setup.nhkb);
  }
}

/**
 * Bob's side: accepts an initial (prekey) message. Refuses, changing nothing, a message for another ID
 * ("wrong-recipient"), one naming a prekey he no longer holds ("unknown-prekey"), one already accepted
 * ("replay") or one that does not decrypt ("undecryptable", …). On success the one-time prekey is deleted
 * and the base key remembered, so the same message never opens a second session.
 */
export function respond(
  identity: Identity,
  store: PrekeyStore,
  message: Uint8Array,
  options: RespondOptions,
): Responded {
  const { now } = options;
  const m = decodeMessage(message);
  const p = m.prekey;
  if (p === null) throw new ProtocolError("malformed", "message: respond needs an initial (prekey) message");
  if (!equalBytes(p.recipientId, identity.id)) {
    throw new ProtocolError("wrong-recipient", "message: this initial message is addressed to another ID");
  }
  const curve = p.curve;
  const spk = store.signedPrekey(curve, p.signedPrekeyId, now);
  if (spk === undefined) {
    throw new ProtocolError(
      "unknown-prekey",
      `message: no usable ${curve} signed prekey ${p.signedPrekeyId}`,
    );
  }
  store.checkFresh(curve, p.signedPrekeyId, p.baseKey);
  const opk = p.oneTimePrekeyId === null ? null : store.oneTimePrekey(curve, p.oneTimePrekeyId);
  if (opk === undefined) {
    throw new ProtocolError("unknown-prekey", `message: no ${curve} one-time prekey ${p.oneTimePrekeyId}`);
  }
  const peerId = deriveId(p.identity);
  const h: Handshake = {
    curve,
    cipher: p.cipher,
    initiator: p.identity,
    initiatorId: peerId,
    responder: identity.publicKeys,
    responderId: identity.id,
    signedPrekeyId: p.signedPrekeyId,
    signedPrekey: spk.publicKey,
    oneTimePrekeyId: p.oneTimePrekeyId,
    oneTimePrekey: opk?.publicKey ?? null,
    baseKey: p.baseKey,
  };
  const c = curveOf(curve);
  const dhs = [
    c.ecdh(spk.secretKey, p.identity[curve].dh),
    c.ecdh(identity.secretKeys[curve].dh, p.baseKey),
    c.ecdh(spk.secretKey, p.baseKey),
  ];
  if (opk !== null) dhs.push(c.ecdh(opk.secretKey, p.baseKey));
  const setup = deriveSecrets(h, dhs, options.trace);
  setup.localId = identity.id;
  setup.remoteId = peerId;
  setup.random = options.random ?? systemRandom;
  const session = Session.responder(setup, spk);
  wipe(setup.sk, setup.hka, setup.nhkb);
  let plaintext: Uint8Array;
  try {
    plaintext = session.decrypt(message);
  } catch (e) {
    session.destroy();
    throw e;
  }
  store.accept(curve, p.signedPrekeyId, p.oneTimePrekeyId, p.baseKey);
  return { session, plaintext, peerId, peerIdentity: p.identity };
}

/**
 * When both sides started a chat at the same time, both apply this rule: the handshake started by the
 * smaller ID (bytewise) is kept. True if our own initiation wins, so the peer's initial message is to be
 * ignored; false if we drop our session and `respond` to theirs.
 */
export function preferOwnInitiation(ownId: Uint8Array, peerId: Uint8Array): boolean {
  checkBytes(ownId, "ownId", ID_BYTES);
  checkBytes(peerId, "peerId", ID_BYTES);
  for (let i = 0; i < ID_BYTES; i++) if (ownId[i] !== peerId[i]) return ownId[i] < peerId[i];
  return false;
}
