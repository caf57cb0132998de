// The Double Ratchet with header encryption (Signal's Double Ratchet specification, rev 1, §3 and §4) on
// P-256, P-384 or P-521: KDF_RK = HKDF-SHA-512, KDF_CK = HMAC-SHA-512 with 0x01 / 0x02, message keys
// expanded by HKDF-SHA-512 into a body key and nonce, bodies under AES-256-GCM or ChaCha20-Poly1305,
// headers under XChaCha20-Poly1305 with random 192-bit nonces. Version 2 sessions (from PQXDH) add a KEM
// to every DH ratchet step, as SimpleX's PQDR does: each sending chain's headers carry a fresh ML-KEM-768
// encapsulation key and a ciphertext to the peer's latest one, and the shared secret enters KDF_RK beside
// the DH output. Version 1 sessions (classical X3DH) run as they always did. Decryption is transactional:
// every new value is computed aside and committed only once the body has authenticated, so a message that
// fails changes nothing. Exact formulas and byte layouts: docs/protocol.md §6–§7.

import {
  checkBytes,
  concatBytes,
  equalBytes,
  type RandomSource,
  systemRandom,
  utf8,
  wipe,
} from "../crypto/bytes.ts";
import { aesGcmOpen, aesGcmSeal } from "../crypto/aes.ts";
import {
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  xchacha20Poly1305Open,
  xchacha20Poly1305Seal,
} from "../crypto/chacha20poly1305.ts";
import { AuthenticationError } from "../crypto/errors.ts";
import { hkdf, hkdfExpand } from "../crypto/hkdf.ts";
import { createHmac } from "../crypto/hmac.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";
import { ID_BYTES } from "./identity.ts";
import {
  decodeMessage,
  encodeMessage,
  encryptedHeaderLength,
  HEADER_NONCE_BYTES,
  MAX_PADDED,
  MAX_PREKEY_HEADER,
  MIN_PADDED,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_CLASSICAL,
  type ProtocolVersion,
  RATCHET_KEM,
} from "./message.ts";
import {
  type BodyCipher,
  cipherFromId,
  cipherId,
  curveFromId,
  curveId,
  type CurveName,
  curveOf,
  generateKeyPair,
  kemKeyIsValid,
  kemOf,
  type KeyPair,
  readPoint,
  readSecret,
  type Trace,
} from "./suite.ts";

/** Most message keys one incoming message may make us derive (skipped ones, both chains together). */
export const MAX_SKIP = 1000;
/** Most skipped message keys a session stores; the oldest are deleted first. */
export const MAX_SKIPPED_KEYS = 2000;
/** Most distinct receiving chains with stored skipped keys; the oldest chain's keys are deleted first. */
export const MAX_SKIPPED_CHAINS = 5;
/** A skipped key is deleted once this many messages have been decrypted after it was stored. */
export const MAX_SKIPPED_AGE = 2000;
/** Largest plaintext a message carries (it is padded to at most MAX_PADDED bytes). */
export const MAX_PLAINTEXT = MAX_PADDED - 1;
/** Version byte of the serialised session written for PQXDH sessions (it equals the protocol version). */
export const SESSION_VERSION = 0x02;
/** Bytes of the seed (d ‖ z) a ratchet KEM key pair is made from and stored as. */
export const KEM_SEED_BYTES = 64;
/** Bytes of the message ML-KEM.Encaps takes (m), drawn from the random source. */
export const KEM_MESSAGE_BYTES = 32;

const KEY_BYTES = 32;
const MAX_COUNTER = 0xffff_ffff;
const INFO_ROOT = utf8("sotto ratchet root v1");
const INFO_ROOT_PQ = utf8("sotto ratchet root v2");
const INFO_MESSAGE = utf8("sotto message key v1");
/** HKDF-Extract with the all-zero salt: the keyed HMAC is the same for every message key. */
const ZERO_SALT_HMAC = createHmac("SHA-512", new Uint8Array(64));

// ---- the KDFs ------------------------------------------------------------------------------------

/**
 * KDF_RK_HE: HKDF-SHA-512(salt = rk, IKM = dh, info = "sotto ratchet root v1") → RK ‖ CK ‖ NHK in version 1;
 * in version 2 IKM = dh ‖ ss (ss, the KEM shared secret, absent in the two steps that have none) and info =
 * "sotto ratchet root v2".
 */
function kdfRk(
  version: ProtocolVersion,
  rk: Uint8Array,
  dh: Uint8Array,
  ss: Uint8Array | null,
  trace?: Trace,
): [Uint8Array, Uint8Array, Uint8Array] {
  const ikm = ss === null ? dh : concatBytes(dh, ss);
  const okm = hkdf(
    "SHA-512",
    ikm,
    rk,
    version === PROTOCOL_VERSION ? INFO_ROOT_PQ : INFO_ROOT,
    3 * KEY_BYTES,
  );
  const out: [Uint8Array, Uint8Array, Uint8Array] = [okm.slice(0, 32), okm.slice(32, 64), okm.slice(64)];
  wipe(okm);
  if (ikm !== dh) wipe(ikm);
  trace?.("kdf_rk.dh", dh);
  if (ss !== null) trace?.("kdf_rk.ss", ss);
  trace?.("kdf_rk.rk", out[0]);
  trace?.("kdf_rk.ck", out[1]);
  trace?.("kdf_rk.nhk", out[2]);
  return out;
}

const CK_MESSAGE = Uint8Array.of(0x01), CK_CHAIN = Uint8Array.of(0x02);
/** HMAC outputs on their way to being truncated (typed arrays are costly to allocate); wiped after use. */
const MAC_SCRATCH = new Uint8Array(64);
/** The message-key HKDF info for each body cipher: "sotto message key v1" ‖ cipher id. */
const MESSAGE_INFO = new Map<BodyCipher, Uint8Array>();

/** KDF_CK: HMAC-SHA-512(ck, 0x02)[0..32] is the next chain key, HMAC-SHA-512(ck, 0x01)[0..32] the MK. */
function kdfCk(ck: Uint8Array, trace?: Trace): [next: Uint8Array, mk: Uint8Array] {
  const mac = createHmac("SHA-512", ck);
  mac.clone().update(CK_MESSAGE).digestInto(MAC_SCRATCH);
  const mk = MAC_SCRATCH.slice(0, KEY_BYTES);
  mac.update(CK_CHAIN).digestInto(MAC_SCRATCH);
  const next = MAC_SCRATCH.slice(0, KEY_BYTES);
  wipe(MAC_SCRATCH);
  trace?.("kdf_ck.ck", next);
  trace?.("kdf_ck.mk", mk);
  return [next, mk];
}

/**
 * HKDF-SHA-512(salt = 64 zero bytes, IKM = mk, info = "sotto message key v1" ‖ cipher id) → key ‖ nonce,
 * 44 bytes: the key is okm[0..32], the nonce okm[32..44]. The caller wipes okm.
 */
function bodyKey(mk: Uint8Array, cipher: BodyCipher, trace?: Trace): Uint8Array {
  ZERO_SALT_HMAC.clone().update(mk).digestInto(MAC_SCRATCH);
  let info = MESSAGE_INFO.get(cipher);
  if (info === undefined) {
    MESSAGE_INFO.set(cipher, info = concatBytes(INFO_MESSAGE, Uint8Array.of(cipherId(cipher))));
  }
  const okm = hkdfExpand("SHA-512", MAC_SCRATCH, info, 44);
  wipe(MAC_SCRATCH);
  trace?.("message.key", okm.slice(0, 32));
  trace?.("message.nonce", okm.slice(32));
  return okm;
}

function sealBody(cipher: BodyCipher, mk: Uint8Array, padded: Uint8Array, ad: Uint8Array, trace?: Trace) {
  const okm = bodyKey(mk, cipher, trace);
  const key = okm.subarray(0, 32), nonce = okm.subarray(32);
  try {
    return cipher === "AES-256-GCM"
      ? aesGcmSeal(key, nonce, padded, ad)
      : chacha20Poly1305Seal(key, nonce, padded, ad);
  } finally {
    wipe(okm);
  }
}

/** The padded plaintext, or null if the body does not authenticate under `mk`. */
function openBody(cipher: BodyCipher, mk: Uint8Array, body: Uint8Array, ad: Uint8Array): Uint8Array | null {
  const okm = bodyKey(mk, cipher);
  const key = okm.subarray(0, 32), nonce = okm.subarray(32);
  try {
    return cipher === "AES-256-GCM"
      ? aesGcmOpen(key, nonce, body, ad)
      : chacha20Poly1305Open(key, nonce, body, ad);
  } catch (e) {
    if (e instanceof AuthenticationError) return null;
    throw e;
  } finally {
    wipe(okm);
  }
}

function openHeader(hk: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  try {
    return xchacha20Poly1305Open(
      hk,
      sealed.subarray(0, HEADER_NONCE_BYTES),
      sealed.subarray(HEADER_NONCE_BYTES),
      ad,
    );
  } catch (e) {
    if (e instanceof AuthenticationError) return null;
    throw e;
  }
}

// ---- padding ---------------------------------------------------------------------------------------

/** The padded length of an n-byte plaintext: the smallest power of two ≥ max(n + 1, 64). */
export function paddedLength(n: number): number {
  let size = MIN_PADDED;
  while (size < n + 1) size *= 2;
  return size;
}

/** plaintext ‖ 0x80 ‖ 0x00 … up to {@link paddedLength} (ISO/IEC 7816-4 padding). */
function pad(plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(paddedLength(plaintext.length));
  out.set(plaintext);
  out[plaintext.length] = 0x80;
  return out;
}

function unpad(padded: Uint8Array): Uint8Array | null {
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  return i >= 0 && padded[i] === 0x80 ? padded.slice(0, i) : null;
}

// ---- state -----------------------------------------------------------------------------------------

interface Skipped {
  /** The header key of the chain the key belongs to. */
  hk: Uint8Array;
  n: number;
  mk: Uint8Array;
  /** The session's `received` count when the key was stored. */
  stamp: number;
}

/** A ratchet KEM key pair (ML-KEM-768): the seed is what is stored; the pair is made from it when needed. */
interface RatchetKem {
  seed: Uint8Array;
  pair: KeyPair | null;
}

function kemPair(k: RatchetKem): KeyPair {
  if (k.pair === null) {
    const { publicKey, secretKey } = kemOf(RATCHET_KEM).keygen(k.seed);
    k.pair = { publicKey, secretKey };
  }
  return k.pair;
}

/** Draws a seed (64 bytes) from `random` and makes the ML-KEM-768 key pair. */
function newRatchetKem(random: RandomSource, trace?: Trace): RatchetKem {
  const seed = random(KEM_SEED_BYTES);
  checkBytes(seed, `random(${KEM_SEED_BYTES}) result`, KEM_SEED_BYTES);
  const k: RatchetKem = { seed: seed.slice(), pair: null };
  trace?.("ratchet.kem.seed", k.seed);
  trace?.("ratchet.kem.public", kemPair(k).publicKey);
  return k;
}

/** Everything a session holds (Double Ratchet §4 state plus what the handshake fixed). */
interface State {
  /** 2 (PQXDH, KEM steps) or 1 (classical). */
  version: ProtocolVersion;
  curve: CurveName;
  cipher: BodyCipher;
  initiator: boolean;
  localId: Uint8Array;
  remoteId: Uint8Array;
  /** The X3DH associated data (docs/protocol.md §4.3). */
  ad: Uint8Array;
  /** EK_A of the handshake this session came from (uncompressed): identifies repeated prekey messages. */
  baseKey: Uint8Array;
  /** The initiator's encoded prekey header, sent with every message until the first reply. */
  prekeyHeader: Uint8Array | null;
  dhs: KeyPair;
  dhr: Uint8Array;
  rk: Uint8Array;
  cks: Uint8Array;
  ckr: Uint8Array | null;
  ns: number;
  nr: number;
  pn: number;
  hks: Uint8Array;
  hkr: Uint8Array | null;
  nhks: Uint8Array;
  nhkr: Uint8Array;
  /** Version 2: our current KEM key pair, whose public key our sending chain carries; null until a fresh
   * responder's first step (and always in version 1). */
  kem: RatchetKem | null;
  /** Version 2: the KEM ciphertext our sending chain carries; null for the initiator's first chain. */
  kemCt: Uint8Array | null;
  /** Messages decrypted so far (the clock of the skipped-key deletion policy). */
  received: number;
  /** Skipped message keys, oldest first. */
  skipped: Skipped[];
}

/** Handshake results both factories take (from x3dh.ts). */
export interface SessionSetup {
  /** 2 for PQXDH (the ratchet with KEM steps), 1 for a classical X3DH session. */
  version: ProtocolVersion;
  curve: CurveName;
  cipher: BodyCipher;
  localId: Uint8Array;
  remoteId: Uint8Array;
  ad: Uint8Array;
  baseKey: Uint8Array;
  /** SK, the X3DH shared secret (32 bytes); not kept. */
  sk: Uint8Array;
  /** The initiator's first sending header key (32 bytes). */
  hka: Uint8Array;
  /** The responder's first sending header key (32 bytes). */
  nhkb: Uint8Array;
  random?: RandomSource;
  trace?: Trace;
}

/** What `decrypt` does to the state, computed before anything is committed. */
interface Plan {
  mk: Uint8Array;
  /** An existing skipped entry to remove, if the key came from there. */
  used: Skipped | null;
  /** Fields to assign on success. */
  assign: Partial<State>;
  /** New skipped keys (stamped on commit). */
  fresh: { hk: Uint8Array; n: number; mk: Uint8Array }[];
  /** Secrets the state drops on success: wiped after a commit. */
  replaced: Uint8Array[];
  /** Secrets computed for this plan: wiped if the message fails. */
  created: Uint8Array[];
}

/**
 * One end of a chat: the Double Ratchet with header encryption. `encrypt` and `decrypt` turn plaintext
 * into wire messages and back; `serialize` gives versioned bytes that {@link Session.deserialize} restores.
 */
export class Session {
  #s: State;
  #random: RandomSource;
  #trace?: Trace;

  private constructor(state: State, random: RandomSource, trace?: Trace) {
    this.#s = state;
    this.#random = random;
    this.#trace = trace;
  }

  /**
   * The initiator's session (RatchetInitAliceHE): a fresh ratchet key pair (then, in version 2, a fresh KEM
   * key pair), DHr = the responder's signed prekey, and a first sending chain (no KEM secret enters it: SK
   * already holds PQXDH's). `prekeyHeader` goes in front of every message until a reply.
   */
  static initiator(setup: SessionSetup, remoteRatchetKey: Uint8Array, prekeyHeader: Uint8Array): Session {
    const random = setup.random ?? systemRandom;
    const dhs = generateKeyPair(setup.curve, random);
    setup.trace?.("ratchet.dhs.secret", dhs.secretKey);
    setup.trace?.("ratchet.dhs.public", dhs.publicKey);
    const kem = setup.version === PROTOCOL_VERSION ? newRatchetKem(random, setup.trace) : null;
    const dh = curveOf(setup.curve).ecdh(dhs.secretKey, remoteRatchetKey);
    const [rk, cks, nhks] = kdfRk(setup.version, setup.sk, dh, null, setup.trace);
    wipe(dh);
    return new Session(
      {
        ...common(setup, true),
        prekeyHeader,
        dhs,
        dhr: remoteRatchetKey.slice(),
        rk,
        cks,
        ckr: null,
        hks: setup.hka.slice(),
        hkr: null,
        nhks,
        nhkr: setup.nhkb.slice(),
        kem,
        kemCt: null,
      },
      random,
      setup.trace,
    );
  }

  /**
   * The responder's session (RatchetInitBobHE): the signed prekey pair as the first ratchet key, RK = SK.
   * It cannot send until it has decrypted the initiator's first message (respond does that at once).
   */
  static responder(setup: SessionSetup, ratchetPair: KeyPair): Session {
    const none = new Uint8Array(KEY_BYTES); // replaced by the first DH ratchet step, never used before it
    return new Session(
      {
        ...common(setup, false),
        prekeyHeader: null,
        dhs: { secretKey: ratchetPair.secretKey.slice(), publicKey: ratchetPair.publicKey.slice() },
        dhr: new Uint8Array(0),
        rk: setup.sk.slice(),
        cks: none,
        ckr: null,
        hks: none.slice(),
        hkr: null,
        nhks: setup.nhkb.slice(),
        nhkr: setup.hka.slice(),
        kem: null,
        kemCt: null,
      },
      setup.random ?? systemRandom,
      setup.trace,
    );
  }

  /** 2 for a PQXDH session (KEM in every DH step), 1 for a classical session made before PQXDH. */
  get version(): ProtocolVersion {
    return this.#s.version;
  }

  /** The curve the chat runs on. */
  get curve(): CurveName {
    return this.#s.curve;
  }

  /** The body cipher the initiator chose. */
  get cipher(): BodyCipher {
    return this.#s.cipher;
  }

  /** Our ID (a copy). */
  get localId(): Uint8Array {
    return this.#s.localId.slice();
  }

  /** The peer's ID (a copy). */
  get remoteId(): Uint8Array {
    return this.#s.remoteId.slice();
  }

  /** True if we started the chat (ran X3DH as Alice). */
  get initiator(): boolean {
    return this.#s.initiator;
  }

  /** True while we are the initiator and have not yet decrypted any reply. */
  get awaitingReply(): boolean {
    return this.#s.prekeyHeader !== null;
  }

  /** EK_A of the handshake this session came from (a copy). */
  get baseKey(): Uint8Array {
    return this.#s.baseKey.slice();
  }

  /**
   * Encrypts `plaintext` (at most MAX_PLAINTEXT bytes) into a wire message and advances the sending chain.
   * While `awaitingReply`, the message carries the prekey header.
   */
  encrypt(plaintext: Uint8Array): Uint8Array {
    checkBytes(plaintext, "plaintext");
    if (plaintext.length > MAX_PLAINTEXT) {
      throw new RangeError(`plaintext must be at most ${MAX_PLAINTEXT} bytes, got ${plaintext.length}`);
    }
    const s = this.#s, trace = this.#trace;
    if (s.dhr.length === 0) {
      throw new Error("a responder session cannot send before it has decrypted a message");
    }
    if (s.ns >= MAX_COUNTER) {
      throw new ProtocolError("exhausted", "the sending chain has used every counter value");
    }
    const [next, mk] = kdfCk(s.cks, trace);
    const w = new Writer(2600).bytes(s.dhs.publicKey).u32(s.pn).u32(s.ns);
    if (s.kem !== null) w.bytes(kemPair(s.kem).publicKey);
    if (s.kemCt !== null) w.bytes(s.kemCt);
    const plainHeader = w.finish();
    const nonce = this.#random(HEADER_NONCE_BYTES);
    checkBytes(nonce, "random(24) result", HEADER_NONCE_BYTES);
    const header = concatBytes(nonce, xchacha20Poly1305Seal(s.hks, nonce, plainHeader, s.ad));
    trace?.("header.plain", plainHeader);
    trace?.("header.sealed", header);
    const padded = pad(plaintext);
    const body = sealBody(s.cipher, mk, padded, bodyAd(s.ad, s.prekeyHeader, header), trace);
    trace?.("body.padded", padded);
    trace?.("body.sealed", body);
    wipe(mk, padded, s.cks);
    s.cks = next;
    s.ns += 1;
    const wire = encodeMessage(s.version, s.prekeyHeader, header, body);
    trace?.("message", wire);
    return wire;
  }

  /**
   * Decrypts a wire message from the peer and returns the plaintext. On any failure it throws a
   * ProtocolError and the session is exactly as before: "malformed", "new-session" (a prekey message
   * from another handshake: give it to `respond`), "undecryptable" (not ours, forged or tampered with),
   * "duplicate" (already read, or its key was deleted) or "too-many-skipped".
   */
  decrypt(message: Uint8Array): Uint8Array {
    const s = this.#s;
    const m = decodeMessage(message);
    if (
      m.prekey !== null &&
      (m.version !== s.version || m.prekey.curve !== s.curve || !equalBytes(m.prekey.baseKey, s.baseKey))
    ) {
      throw new ProtocolError("new-session", "message: a prekey message from another handshake");
    }
    if (
      m.version !== s.version ||
      m.header.length !== encryptedHeaderLength(s.curve, s.version, m.prekey !== null)
    ) {
      throw new ProtocolError("undecryptable", "message: the header does not fit this session");
    }
    const plan = this.#plan(m.header);
    const ad = bodyAd(s.ad, m.prekeyBytes, m.header);
    const padded = openBody(s.cipher, plan.mk, m.body, ad);
    const plaintext = padded === null ? null : unpad(padded);
    if (plaintext === null) {
      wipe(plan.mk, ...plan.created, ...plan.fresh.map((f) => f.mk));
      throw padded === null
        ? new ProtocolError("undecryptable", "message: the body does not authenticate")
        : new ProtocolError("malformed", "message: the body's padding is invalid");
    }
    wipe(padded!);
    this.#commit(plan);
    return plaintext;
  }

  /** Works out the message key and the state change for an encrypted header, changing nothing. */
  #plan(sealed: Uint8Array): Plan {
    const s = this.#s;
    let plain: Uint8Array | null = null;
    let kind: "current" | "next" | "old" = "current";
    let hk: Uint8Array | null = null;
    if (s.hkr !== null) plain = openHeader(s.hkr, sealed, s.ad);
    if (plain === null) {
      plain = openHeader(s.nhkr, sealed, s.ad);
      kind = "next";
    }
    if (plain === null) {
      kind = "old";
      for (const k of distinctChains(s.skipped)) {
        if (s.hkr !== null && sameKey(k, s.hkr)) continue;
        plain = openHeader(k, sealed, s.ad);
        if (plain !== null) {
          hk = k;
          break;
        }
      }
    }
    if (plain === null) {
      throw new ProtocolError("undecryptable", "message: no header key of this session opens it");
    }
    const r = new Reader(plain, "message header");
    // The peer's current ratchet key was validated when it was first accepted; only a new one needs it.
    const known = s.dhr.length > 0 && equalBytes(plain.subarray(0, s.dhr.length), s.dhr);
    const dh = known ? r.bytes(s.dhr.length, "ratchet key") : readPoint(r, s.curve, "ratchet key");
    const pn = r.u32("previous chain length");
    const n = r.u32("message number");
    // Version 2: the sender's KEM public key, and (on all but the initiator's first chain) a ciphertext to
    // ours. Only a DH ratchet step reads them; the header's length was checked against the message kind.
    const kemr = s.version === PROTOCOL_VERSION
      ? r.bytes(kemOf(RATCHET_KEM).publicKeyBytes, "KEM key")
      : null;
    const ctr = s.version === PROTOCOL_VERSION && r.remaining > 0 ? r.rest() : null;
    r.end();

    if (kind === "old" || (kind === "current" && n < s.nr)) {
      const chain = kind === "old" ? hk! : s.hkr!;
      const used = s.skipped.find((e) => e.n === n && equalBytes(e.hk, chain));
      if (used === undefined) throw new ProtocolError("duplicate", `message: message ${n} was already read`);
      return { mk: used.mk.slice(), used, assign: {}, fresh: [], replaced: [], created: [] };
    }
    const trace = this.#trace;
    const fresh: Plan["fresh"] = [];
    if (kind === "current") {
      if (n - s.nr > MAX_SKIP) throw tooMany(n - s.nr);
      const [ckr, mk] = chainStep(skip(s.ckr!, s.nr, n, s.hkr!, fresh, trace), s.ckr!, trace);
      return { mk, used: null, assign: { ckr, nr: n + 1 }, fresh, replaced: [s.ckr!], created: [ckr] };
    }
    // A new ratchet key: finish the old receiving chain up to pn, then DHRatchetHE, then skip to n.
    const oldCount = s.ckr !== null ? Math.max(0, pn - s.nr) : 0;
    if (oldCount + n > MAX_SKIP) throw tooMany(oldCount + n);
    if (kemr !== null) {
      // The peer's ciphertext is to our current KEM key: there is one iff we have one (a fresh responder
      // has none, and the initiator's first chain, the only chain without a ciphertext, reaches only it).
      if ((ctr === null) !== (s.kem === null)) {
        throw new ProtocolError("malformed", "message: the KEM ciphertext does not fit this session's state");
      }
      if (!kemKeyIsValid(RATCHET_KEM, kemr)) {
        throw new ProtocolError("malformed", `message: the ${RATCHET_KEM} key is not valid`);
      }
    }
    const replaced = [s.rk, s.cks, s.hks, s.dhs.secretKey];
    if (s.ckr !== null) {
      const end = skip(s.ckr, s.nr, pn, s.hkr!, fresh, trace);
      if (end !== s.ckr) wipe(end);
      replaced.push(s.ckr);
    }
    // DH(old DHs, new DHr) opens the receiving chain, DH(new DHs, new DHr) the sending one: both against
    // the same new key, so it is validated and tabulated once. In version 2 the receiving chain also takes
    // the secret of the peer's ciphertext to our KEM key, and the sending chain that of a ciphertext we make
    // to the peer's new KEM key (with a KEM key pair of our own for its next step).
    const dhs = generateKeyPair(s.curve, this.#random);
    let kem: RatchetKem | null = null, kemCt: Uint8Array | null = null, ssr: Uint8Array | null = null;
    let sss: Uint8Array | null = null, m: Uint8Array | null = null;
    if (kemr !== null) {
      kem = { seed: this.#random(KEM_SEED_BYTES).slice(), pair: null };
      checkBytes(kem.seed, `random(${KEM_SEED_BYTES}) result`, KEM_SEED_BYTES);
      m = this.#random(KEM_MESSAGE_BYTES).slice();
      checkBytes(m, `random(${KEM_MESSAGE_BYTES}) result`, KEM_MESSAGE_BYTES);
      if (s.kem !== null) ssr = kemOf(RATCHET_KEM).decapsulate(ctr!, kemPair(s.kem).secretKey);
      ({ cipherText: kemCt, sharedSecret: sss } = kemOf(RATCHET_KEM).encapsulate(kemr, m));
    }
    const [dh1, dh2] = curveOf(s.curve).ecdhMany([s.dhs.secretKey, dhs.secretKey], dh);
    const [rk1, ckr0, nhkr] = kdfRk(s.version, s.rk, dh1, ssr, trace);
    trace?.("ratchet.dhs.secret", dhs.secretKey);
    trace?.("ratchet.dhs.public", dhs.publicKey);
    if (kem !== null) {
      trace?.("ratchet.kem.seed", kem.seed);
      trace?.("ratchet.kem.public", kemPair(kem).publicKey);
      trace?.("ratchet.kem.m", m!);
      trace?.("ratchet.kem.ct", kemCt!);
    }
    const [rk, cks, nhks] = kdfRk(s.version, rk1, dh2, sss, trace);
    wipe(dh1, dh2, rk1);
    if (ssr !== null) wipe(ssr);
    if (sss !== null) wipe(sss, m!);
    const [ckr, mk] = chainStep(skip(ckr0, 0, n, s.nhkr, fresh, trace), ckr0, trace);
    wipe(ckr0);
    const created = [rk, ckr, nhkr, cks, nhks, dhs.secretKey];
    if (kem !== null) {
      created.push(kem.seed, kemPair(kem).secretKey);
      if (s.kem !== null) replaced.push(s.kem.seed, ...(s.kem.pair ? [s.kem.pair.secretKey] : []));
    }
    return {
      mk,
      used: null,
      fresh,
      replaced,
      created,
      assign: {
        pn: s.ns,
        ns: 0,
        nr: n + 1,
        hks: s.nhks,
        hkr: s.nhkr,
        dhr: dh,
        rk,
        ckr,
        nhkr,
        dhs,
        cks,
        nhks,
        ...(kem === null ? {} : { kem, kemCt }),
      },
    };
  }

  /** Applies a plan after its message authenticated, then the deletion policy. */
  #commit(plan: Plan): void {
    const s = this.#s;
    wipe(plan.mk, ...plan.replaced);
    if (plan.used !== null) {
      wipe(plan.used.mk);
      s.skipped = s.skipped.filter((e) => e !== plan.used);
    }
    Object.assign(s, plan.assign);
    for (const f of plan.fresh) s.skipped.push({ ...f, stamp: s.received });
    s.received += 1;
    s.prekeyHeader = null;
    this.#prune();
  }

  /** The deletion policy: by age in decrypted messages, then by chain count, then by total count. */
  #prune(): void {
    const s = this.#s;
    if (s.skipped.length === 0) return;
    const drop = (keep: (e: Skipped) => boolean) => {
      const kept: Skipped[] = [];
      for (const e of s.skipped) {
        if (keep(e)) kept.push(e);
        else wipe(e.mk);
      }
      s.skipped = kept;
    };
    drop((e) => s.received - e.stamp <= MAX_SKIPPED_AGE);
    const chains = distinctChains(s.skipped);
    if (chains.length > MAX_SKIPPED_CHAINS) {
      const gone = chains.slice(0, chains.length - MAX_SKIPPED_CHAINS);
      drop((e) => !gone.some((k) => sameKey(k, e.hk)));
    }
    if (s.skipped.length > MAX_SKIPPED_KEYS) {
      const excess = s.skipped.length - MAX_SKIPPED_KEYS;
      for (const e of s.skipped.slice(0, excess)) wipe(e.mk);
      s.skipped = s.skipped.slice(excess);
    }
  }

  /** The number of skipped message keys held (for tests and diagnostics). */
  get skippedKeyCount(): number {
    return this.#s.skipped.length;
  }

  /** Overwrites every secret this session holds; the session cannot be used afterwards. */
  destroy(): void {
    const s = this.#s;
    wipe(s.rk, s.cks, s.hks, s.nhks, s.nhkr, s.dhs.secretKey);
    if (s.kem) wipe(s.kem.seed, ...(s.kem.pair ? [s.kem.pair.secretKey] : []));
    if (s.ckr) wipe(s.ckr);
    if (s.hkr) wipe(s.hkr);
    for (const e of s.skipped) wipe(e.mk, e.hk);
    s.skipped = [];
    s.dhr = new Uint8Array(0);
  }

  /**
   * The session as versioned bytes, secrets included (store it encrypted): version 2 for a PQXDH session,
   * version 1, exactly as before, for a classical one. Layout: docs/protocol.md §7.
   */
  serialize(): Uint8Array {
    const s = this.#s;
    const w = new Writer(s.version === PROTOCOL_VERSION ? 4096 : 1024).u8(s.version).u8(curveId(s.curve))
      .u8(cipherId(s.cipher));
    w.u8(s.initiator ? 1 : 0).bytes(s.localId).bytes(s.remoteId).vec16(s.ad).bytes(s.baseKey);
    if (s.prekeyHeader === null) w.u8(0);
    else w.u8(1).vec16(s.prekeyHeader);
    w.bytes(s.dhs.secretKey).bytes(s.dhs.publicKey);
    if (s.dhr.length === 0) w.u8(0);
    else w.u8(1).bytes(s.dhr);
    w.bytes(s.rk).bytes(s.cks).bytes(s.hks).bytes(s.nhks).bytes(s.nhkr);
    if (s.ckr === null) w.u8(0);
    else w.u8(1).bytes(s.ckr).bytes(s.hkr!);
    if (s.version === PROTOCOL_VERSION) {
      if (s.kem === null) w.u8(0);
      else w.u8(1).bytes(s.kem.seed);
      if (s.kemCt === null) w.u8(0);
      else w.u8(1).bytes(s.kemCt);
    }
    w.u32(s.ns).u32(s.nr).u32(s.pn).u64(s.received).u16(s.skipped.length);
    for (const e of s.skipped) w.bytes(e.hk).u32(e.n).bytes(e.mk).u64(e.stamp);
    return w.finish();
  }

  /**
   * Restores {@link serialize} (version 2, or a classical version 1 session); ProtocolError on anything
   * malformed. Points and scalars are validated; a KEM key pair is stored as its seed (valid by construction)
   * and made again when first used.
   */
  static deserialize(bytes: Uint8Array, options: { random?: RandomSource; trace?: Trace } = {}): Session {
    const r = new Reader(bytes, "session");
    const version = r.u8("version");
    if (version !== PROTOCOL_VERSION && version !== PROTOCOL_VERSION_CLASSICAL) {
      r.fail(`version ${version} is not supported`, "unsupported");
    }
    const curve = curveFromId(r.u8("curve"));
    if (curve === undefined) return r.fail("unknown curve", "unsupported");
    const cipher = cipherFromId(r.u8("cipher"));
    if (cipher === undefined) return r.fail("unknown cipher", "unsupported");
    const initiator = flag(r, "initiator flag");
    const localId = r.bytes(ID_BYTES, "local ID"), remoteId = r.bytes(ID_BYTES, "remote ID");
    const ad = r.vec16("associated data", 1024);
    const baseKey = readPoint(r, curve, "base key");
    const prekeyHeader = flag(r, "prekey header flag")
      ? r.vec16("prekey header", version === PROTOCOL_VERSION ? MAX_PREKEY_HEADER : 1024)
      : null;
    if (prekeyHeader !== null && !initiator) r.fail("only the initiator keeps a prekey header");
    const dhs = { secretKey: readSecret(r, curve, "DHs secret"), publicKey: readPoint(r, curve, "DHs") };
    const dhr = flag(r, "DHr flag") ? readPoint(r, curve, "DHr") : new Uint8Array(0);
    const key = (field: string) => r.bytes(KEY_BYTES, field);
    const rk = key("RK"), cks = key("CKs"), hks = key("HKs"), nhks = key("NHKs"), nhkr = key("NHKr");
    const hasCkr = flag(r, "CKr flag");
    const ckr = hasCkr ? key("CKr") : null, hkr = hasCkr ? key("HKr") : null;
    let kem: RatchetKem | null = null, kemCt: Uint8Array | null = null;
    if (version === PROTOCOL_VERSION) {
      if (flag(r, "KEM key flag")) kem = { seed: r.bytes(KEM_SEED_BYTES, "KEM seed"), pair: null };
      if (flag(r, "KEM ciphertext flag")) {
        kemCt = r.bytes(kemOf(RATCHET_KEM).cipherTextBytes, "KEM ciphertext");
      }
    }
    const ns = r.u32("Ns"), nr = r.u32("Nr"), pn = r.u32("PN"), received = r.u64("received");
    const count = r.u16("skipped key count");
    if (count > MAX_SKIPPED_KEYS) r.fail(`${count} skipped keys, more than ${MAX_SKIPPED_KEYS}`);
    const skipped: Skipped[] = [];
    for (let i = 0; i < count; i++) {
      const hk = key("skipped HK"), n = r.u32("skipped n"), mk = key("skipped MK"), stamp = r.u64("stamp");
      if (stamp > received) r.fail("a skipped key is stamped in the future");
      // Entries of one chain share one array (the state's HKr for the current chain), as in a live session.
      const same = hkr !== null && equalBytes(hkr, hk) ? hkr : skipped.find((e) => equalBytes(e.hk, hk))?.hk;
      skipped.push({ hk: same ?? hk, n, mk, stamp });
    }
    r.end();
    if (distinctChains(skipped).length > MAX_SKIPPED_CHAINS) r.fail("skipped keys from too many chains");
    if (dhr.length === 0 && (initiator || hasCkr)) r.fail("only a fresh responder session has no DHr");
    if (version === PROTOCOL_VERSION) {
      // Only a fresh responder lacks a KEM key pair; only it and an initiator awaiting its first reply (whose
      // first chain has no ciphertext) lack a ciphertext.
      if ((kem === null) !== (dhr.length === 0)) r.fail("only a fresh responder session has no KEM key");
      if ((kemCt === null) !== (dhr.length === 0 || prekeyHeader !== null)) {
        r.fail("the KEM ciphertext does not fit the session's state");
      }
    }
    const state: State = {
      version: version as ProtocolVersion,
      curve,
      cipher,
      initiator,
      localId,
      remoteId,
      ad,
      baseKey,
      prekeyHeader,
      dhs,
      dhr,
      rk,
      cks,
      ckr,
      ns,
      nr,
      pn,
      hks,
      hkr,
      nhks,
      nhkr,
      kem,
      kemCt,
      received,
      skipped,
    };
    return new Session(state, options.random ?? systemRandom, options.trace);
  }
}

function common(setup: SessionSetup, initiator: boolean) {
  return {
    version: setup.version,
    curve: setup.curve,
    cipher: setup.cipher,
    initiator,
    localId: setup.localId.slice(),
    remoteId: setup.remoteId.slice(),
    ad: setup.ad.slice(),
    baseKey: setup.baseKey.slice(),
    ns: 0,
    nr: 0,
    pn: 0,
    received: 0,
    skipped: [],
  };
}

function flag(r: Reader, field: string): boolean {
  const v = r.u8(field);
  if (v > 1) r.fail(`${field} must be 0 or 1, got ${v}`);
  return v === 1;
}

function tooMany(count: number): ProtocolError {
  return new ProtocolError(
    "too-many-skipped",
    `message: it would skip ${count} message keys, over ${MAX_SKIP}`,
  );
}

/**
 * The body's associated data: u16 len(AD) ‖ AD ‖ u16 len(P) ‖ P ‖ encrypted header, where P is the
 * prekey header the message carries (empty if none), so every byte of a message is authenticated.
 */
function bodyAd(ad: Uint8Array, prekeyHeader: Uint8Array | null, header: Uint8Array): Uint8Array {
  const p = prekeyHeader ?? new Uint8Array(0);
  const out = new Uint8Array(4 + ad.length + p.length + header.length);
  out[0] = ad.length >> 8;
  out[1] = ad.length & 0xff;
  out.set(ad, 2);
  out[2 + ad.length] = p.length >> 8;
  out[3 + ad.length] = p.length & 0xff;
  out.set(p, 4 + ad.length);
  out.set(header, 4 + ad.length + p.length);
  return out;
}

/**
 * Runs the chain from `ck` at position `from` up to position `until`, pushing each skipped message key
 * under `hk` onto `fresh`; returns the chain key at `until` (`ck` itself when there is nothing to skip).
 */
function skip(
  ck: Uint8Array,
  from: number,
  until: number,
  hk: Uint8Array,
  fresh: Plan["fresh"],
  trace?: Trace,
): Uint8Array {
  let chain = ck;
  for (let i = from; i < until; i++) {
    const [next, mk] = kdfCk(chain, trace);
    if (chain !== ck) wipe(chain);
    fresh.push({ hk, n: i, mk });
    chain = next;
  }
  return chain;
}

/** KDF_CK on `chain`, wiping it unless it is `keep` (a key the state still holds). */
function chainStep(chain: Uint8Array, keep: Uint8Array, trace?: Trace): [Uint8Array, Uint8Array] {
  const out = kdfCk(chain, trace);
  if (chain !== keep) wipe(chain);
  return out;
}

/** The distinct header keys among skipped entries, in order of first appearance (oldest chain first). */
function distinctChains(skipped: Skipped[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const e of skipped) if (!out.some((k) => sameKey(k, e.hk))) out.push(e.hk);
  return out;
}

/** Equal header keys (entries of one chain usually share one array, so identity is checked first). */
function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || equalBytes(a, b);
}
