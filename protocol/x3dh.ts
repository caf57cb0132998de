// PQXDH (Signal's PQXDH specification, rev 2, over X3DH rev 1) on P-256, P-384 or P-521 with HKDF-SHA-512
// and ML-KEM-1024: the initiator (Alice) starts a chat from the responder's (Bob's) prekey bundle,
// encapsulating to his one-time KEM prekey if the bundle has one, else to his last-resort KEM prekey; Bob
// accepts it from the initial message. No 0xFF prefix (there is no XEdDSA here); instead the HKDF info names
// the curve and the KEM and ends with the hash of a transcript that binds both IDs, the chat's curve and
// cipher and every key of the handshake, the KEM public key and ciphertext included; the associated data
// holds both IDs, both identities' keys on the curve and that hash. New chats are always PQXDH: a bundle
// without a KEM prekey is refused, and so is a classical initial message. Sessions made by the classical
// X3DH of version 1 keep running (protocol/ratchet.ts). Exact formulas: docs/protocol.md §4.

import { checkBytes, equalBytes, type RandomSource, systemRandom, utf8, wipe } from "../crypto/bytes.ts";
import { hkdf } from "../crypto/hkdf.ts";
import { sha512 } from "../crypto/sha2.ts";
import { ProtocolError, Writer } from "./codec.ts";
import { checkId, deriveId, ID_BYTES, type Identity, type IdentityPublic } from "./identity.ts";
import {
  decodeMessage,
  encodePrekeyHeader,
  HANDSHAKE_KEM,
  type PrekeyKem,
  PROTOCOL_VERSION,
} from "./message.ts";
import {
  type KemPrekey,
  type KemPrekeyKind,
  type PrekeyBundle,
  type PrekeyStore,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATION_MS,
  verifyKemPrekey,
  verifySignedPrekey,
} from "./prekeys.ts";
import { Session, type SessionSetup } from "./ratchet.ts";
import {
  type BodyCipher,
  checkCipherName,
  checkCurveName,
  cipherId,
  curveId,
  type CurveName,
  curveOf,
  encodeKemKey,
  generateKeyPair,
  kemKeyIsValid,
  kemOf,
  type Trace,
  writeKey,
} from "./suite.ts";

const TRANSCRIPT_LABEL = utf8("sotto pqxdh v1");
const ZERO_SALT = new Uint8Array(64);
/** A signed prekey (EC or KEM) older than this is refused by `initiate`: its owner has deleted it by now. */
export const MAX_SIGNED_PREKEY_AGE_MS = SIGNED_PREKEY_ROTATION_MS + SIGNED_PREKEY_GRACE_MS;
/** Bytes of the message ML-KEM.Encaps takes (m), drawn from the random source. */
const KEM_MESSAGE_BYTES = 32;

/** The HKDF info's fixed part: it names the protocol, the curve, the hash and the KEM. */
export function pqxdhInfoLabel(curve: CurveName): Uint8Array {
  return utf8(`sotto_PQXDH_${curve}_SHA-512_${HANDSHAKE_KEM}`);
}

/** Options of {@link initiate}. */
export interface InitiateOptions {
  /** The current time in milliseconds since the epoch (a signed prekey older than rotation plus grace is refused). */
  now: number;
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
  kemKind: KemPrekeyKind;
  kemId: number;
  /** The ML-KEM-1024 encapsulation key used. */
  kemKey: Uint8Array;
  kemCipherText: Uint8Array;
}

/**
 * The transcript: "sotto pqxdh v1" ‖ curve ‖ cipher ‖ ID_A ‖ ID_B ‖ EncodeEC(IKdh_A) ‖ EncodeEC(IKdh_B)
 * ‖ u32 spk id ‖ EncodeEC(SPK_B) ‖ EncodeEC(EK_A) ‖ (0x01 ‖ u32 opk id ‖ EncodeEC(OPK_B) | 0x00)
 * ‖ u8 KEM kind ‖ u32 KEM prekey id ‖ EncodeKEM(PQPK_B) ‖ CT.
 */
function transcript(h: Handshake): Uint8Array {
  const c = h.curve;
  const w = new Writer(4096).bytes(TRANSCRIPT_LABEL).u8(curveId(c)).u8(cipherId(h.cipher));
  w.bytes(h.initiatorId).bytes(h.responderId);
  writeKey(w, c, h.initiator[c].dh);
  writeKey(w, c, h.responder[c].dh);
  writeKey(w.u32(h.signedPrekeyId), c, h.signedPrekey);
  writeKey(w, c, h.baseKey);
  if (h.oneTimePrekey === null) w.u8(0);
  else writeKey(w.u8(1).u32(h.oneTimePrekeyId!), c, h.oneTimePrekey);
  w.u8(h.kemKind === "last-resort" ? 0x01 : 0x02).u32(h.kemId);
  return w.bytes(encodeKemKey(HANDSHAKE_KEM, h.kemKey)).bytes(h.kemCipherText).finish();
}

/**
 * The associated data: version ‖ curve ‖ cipher ‖ ID_A ‖ ID_B ‖ EncodeEC(IKsig_A) ‖ EncodeEC(IKdh_A)
 * ‖ EncodeEC(IKsig_B) ‖ EncodeEC(IKdh_B) ‖ th, the identity keys being those on the chat's curve and th the
 * transcript's hash (so the AD binds the KEM key and ciphertext too).
 */
function associatedData(h: Handshake, th: Uint8Array): Uint8Array {
  const c = h.curve;
  const w = new Writer().u8(PROTOCOL_VERSION).u8(curveId(c)).u8(cipherId(h.cipher));
  w.bytes(h.initiatorId).bytes(h.responderId);
  for (const keys of [h.initiator[c], h.responder[c]]) writeKey(writeKey(w, c, keys.sign), c, keys.dh);
  return w.bytes(th).finish();
}

/**
 * SK, HK_A and NHK_B: HKDF-SHA-512(IKM = DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, salt = 0^64,
 * info = "sotto_PQXDH_<curve>_SHA-512_ML-KEM-1024" ‖ th). Wipes the DH outputs and SS.
 */
function deriveSecrets(h: Handshake, dhs: Uint8Array[], ss: Uint8Array, trace?: Trace): SessionSetup {
  dhs.forEach((dh, i) => trace?.(`pqxdh.dh${i + 1}`, dh));
  trace?.("pqxdh.kem.ss", ss);
  const t = transcript(h);
  const th = sha512(t);
  const ikm = new Writer(5 * 66 + 32);
  for (const dh of dhs) ikm.bytes(dh);
  const ikmBytes = ikm.bytes(ss).finish();
  const info = new Writer().bytes(pqxdhInfoLabel(h.curve)).bytes(th).finish();
  const okm = hkdf("SHA-512", ikmBytes, ZERO_SALT, info, 96);
  const setup: SessionSetup = {
    version: PROTOCOL_VERSION,
    curve: h.curve,
    cipher: h.cipher,
    localId: h.initiatorId,
    remoteId: h.responderId,
    ad: associatedData(h, th),
    baseKey: h.baseKey,
    sk: okm.slice(0, 32),
    hka: okm.slice(32, 64),
    nhkb: okm.slice(64),
    trace,
  };
  trace?.("pqxdh.transcript", t);
  trace?.("pqxdh.th", th);
  trace?.("pqxdh.sk", setup.sk);
  trace?.("pqxdh.hka", setup.hka);
  trace?.("pqxdh.nhkb", setup.nhkb);
  trace?.("pqxdh.ad", setup.ad);
  wipe(ikmBytes, okm, ss, ...dhs);
  return setup;
}

function checkNow(now: unknown): asserts now is number {
  if (typeof now !== "number" || !Number.isSafeInteger(now) || now < 0) {
    throw new TypeError("now must be a non-negative integer number of milliseconds");
  }
}

function checkAge(createdAt: number, now: number, what: string): void {
  if (now - createdAt > MAX_SIGNED_PREKEY_AGE_MS) {
    const days = Math.floor((now - createdAt) / 86_400_000);
    throw new ProtocolError(
      "stale-prekey",
      `bundle: the ${what} is ${days} days old, past rotation and grace: its owner has to come online first`,
    );
  }
}

/**
 * Alice's side: checks that `bundle` belongs to `peerId` and has a KEM prekey ("no-kem-prekey": no chat
 * is ever started without one), verifies the signed prekey on the chosen curve and the KEM prekey to be used
 * ("bad-signature" aborts), refuses signed prekeys older than rotation plus grace ("stale-prekey"), runs
 * PQXDH with the bundle's first one-time prekey on that curve if it has one and its first one-time KEM
 * prekey if it has one (else the last-resort KEM prekey), and returns a session whose messages carry the
 * prekey header until Bob replies. Random draws, in order: EK_A, the KEM message m (32 bytes), then the
 * session's first ratchet key and KEM seed.
 */
export function initiate(
  identity: Identity,
  peerId: Uint8Array,
  bundle: PrekeyBundle,
  options: InitiateOptions,
): Session {
  const curve = options.curve ?? "P-521";
  const cipher = options.cipher ?? "AES-256-GCM";
  checkCurveName(curve);
  checkCipherName(cipher);
  checkBytes(peerId, "peerId", ID_BYTES);
  checkNow(options.now);
  const random = options.random ?? systemRandom;
  checkId(peerId, bundle.identity, "the bundle's identity keys");
  if (bundle.kemPrekey === null) {
    throw new ProtocolError(
      "no-kem-prekey",
      "bundle: it has no post-quantum prekey, so the peer's client must be updated before a chat can start",
    );
  }
  const spk = bundle.signedPrekeys[curve];
  if (!verifySignedPrekey(bundle.identity, curve, spk)) {
    throw new ProtocolError("bad-signature", `bundle: the ${curve} signed prekey signature does not verify`);
  }
  checkAge(spk.createdAt, options.now, `${curve} signed prekey`);
  const oneTimeKem = bundle.oneTimeKemPrekeys[0];
  const [kemKind, kemPrekey]: [KemPrekeyKind, KemPrekey] = oneTimeKem === undefined
    ? ["last-resort", bundle.kemPrekey]
    : ["one-time", oneTimeKem];
  if (!verifyKemPrekey(bundle.identity, curve, kemKind, kemPrekey)) {
    throw new ProtocolError(
      "bad-signature",
      `bundle: the ${curve} signature of the ${kemKind} KEM prekey does not verify`,
    );
  }
  if (kemKind === "last-resort") checkAge(kemPrekey.createdAt, options.now, "last-resort KEM prekey");
  if (!kemKeyIsValid(HANDSHAKE_KEM, kemPrekey.publicKey)) {
    throw new ProtocolError(
      "malformed",
      `bundle: the ${kemKind} KEM prekey is not a valid ${HANDSHAKE_KEM} key`,
    );
  }
  const opk = bundle.oneTimePrekeys[curve][0] ?? null;
  const trace = options.trace;
  const ek = generateKeyPair(curve, random);
  trace?.("pqxdh.ek.secret", ek.secretKey);
  const m = random(KEM_MESSAGE_BYTES);
  checkBytes(m, `random(${KEM_MESSAGE_BYTES}) result`, KEM_MESSAGE_BYTES);
  trace?.("pqxdh.kem.m", m);
  const { cipherText, sharedSecret } = kemOf(HANDSHAKE_KEM).encapsulate(kemPrekey.publicKey, m);
  wipe(m);
  trace?.("pqxdh.kem.ct", cipherText);
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
    kemKind,
    kemId: kemPrekey.id,
    kemKey: kemPrekey.publicKey,
    kemCipherText: cipherText,
  };
  const c = curveOf(curve);
  const dhs = [
    c.ecdh(identity.secretKeys[curve].dh, spk.publicKey),
    c.ecdh(ek.secretKey, bundle.identity[curve].dh),
    c.ecdh(ek.secretKey, spk.publicKey),
  ];
  if (opk !== null) dhs.push(c.ecdh(ek.secretKey, opk.publicKey));
  wipe(ek.secretKey);
  const setup = deriveSecrets(h, dhs, sharedSecret, trace);
  setup.random = random;
  const kem: PrekeyKem = { kind: kemKind, id: kemPrekey.id, cipherText };
  const prekeyHeader = encodePrekeyHeader({
    version: PROTOCOL_VERSION,
    curve,
    cipher,
    recipientId: peerId,
    identity: identity.publicKeys,
    signedPrekeyId: spk.id,
    oneTimePrekeyId: h.oneTimePrekeyId,
    baseKey: ek.publicKey,
    kem,
  });
  try {
    return Session.initiator(setup, spk.publicKey, prekeyHeader);
  } finally {
    wipe(setup.sk, setup.hka, setup.nhkb);
  }
}

/**
 * Bob's side: accepts a PQXDH initial (prekey) message. Refuses, changing nothing, a classical (version 1)
 * one ("unsupported"), one for another ID ("wrong-recipient"), one naming a prekey he no longer holds
 * ("unknown-prekey", EC or KEM), one already accepted ("replay") or one that does not decrypt
 * ("undecryptable", …). On success the one-time prekeys it used (EC and KEM) are deleted and the base key
 * remembered, so the same message never opens a second session.
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
  if (p.kem === null) {
    throw new ProtocolError(
      "unsupported",
      "message: a classical X3DH initial message; new chats need PQXDH, so the peer's client must be updated",
    );
  }
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
  const kemPair = store.kemPrekey(p.kem.kind, p.kem.id, now);
  if (kemPair === undefined) {
    throw new ProtocolError("unknown-prekey", `message: no usable ${p.kem.kind} KEM prekey ${p.kem.id}`);
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
    kemKind: p.kem.kind,
    kemId: p.kem.id,
    kemKey: kemPair.publicKey,
    kemCipherText: p.kem.cipherText,
  };
  const c = curveOf(curve);
  const dhs = [
    c.ecdh(spk.secretKey, p.identity[curve].dh),
    c.ecdh(identity.secretKeys[curve].dh, p.baseKey),
    c.ecdh(spk.secretKey, p.baseKey),
  ];
  if (opk !== null) dhs.push(c.ecdh(opk.secretKey, p.baseKey));
  // ML-KEM rejects implicitly: a forged ciphertext gives a pseudorandom secret, and the body then fails.
  const ss = kemOf(HANDSHAKE_KEM).decapsulate(p.kem.cipherText, kemPair.secretKey);
  const setup = deriveSecrets(h, dhs, ss, options.trace);
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
  store.accept(
    curve,
    p.signedPrekeyId,
    p.oneTimePrekeyId,
    p.baseKey,
    p.kem.kind === "one-time" ? p.kem.id : null,
  );
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
