// Prekeys (X3DH §3.2 and PQXDH §3.2, adapted to three curves): on every curve a signed prekey, rotated
// weekly and kept for a grace period after rotation, and one-time prekeys, each deleted on first use; and,
// for PQXDH, a signed last-resort ML-KEM-1024 prekey rotated like the signed EC prekeys plus signed one-time
// ML-KEM-1024 prekeys, each KEM prekey signed by the identity's signing key on every curve. The bundle is
// what the relay stores and hands out; the PrekeyStore is the owner's private side (with the replay cache
// that stops an initial message from being accepted twice). Byte layouts: docs/protocol.md §3.

import { checkBytes, equalBytes, type RandomSource, systemRandom, wipe } from "../crypto/bytes.ts";
import { sha256 } from "../crypto/sha2.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";
import {
  checkId,
  type Identity,
  type IdentityPublic,
  readIdentityPublic,
  signWithContext,
  verifyWithContext,
  writeIdentityPublic,
} from "./identity.ts";
import {
  checkCurveName,
  type CurveName,
  curveOf,
  CURVES,
  encodedKemKeyLength,
  encodeKemKey,
  encodeKey,
  generateKeyPair,
  type KemName,
  kemOf,
  type KeyPair,
  readKemKey,
  readKey,
  readPoint,
  readSecret,
  writeKey,
} from "./suite.ts";

const DAY = 24 * 60 * 60 * 1000;

/** A signed prekey is replaced once it is this old (milliseconds): a week. */
export const SIGNED_PREKEY_ROTATION_MS = 7 * DAY;
/** A replaced signed prekey still opens initial messages for this long (milliseconds): 30 days. */
export const SIGNED_PREKEY_GRACE_MS = 30 * DAY;
/** Signed prekeys kept per curve (the current one and those in their grace period). */
export const MAX_SIGNED_PREKEYS = 16;
/** One-time prekeys held per curve (in the store, and in one bundle). */
export const MAX_ONE_TIME_PREKEYS = 200;
/** Signed one-time ML-KEM-1024 prekeys held (in the store, and in one bundle). */
export const MAX_ONE_TIME_KEM_PREKEYS = 32;
/** Initial messages remembered per signed prekey; when full, that prekey is rotated. */
export const MAX_REPLAY_ENTRIES = 2000;
/** Version byte of the bundle and store encodings written now (PQXDH). */
export const PREKEY_VERSION = 0x02;
/** Version byte of the classical (X3DH-only) bundle and store, still read. */
export const PREKEY_VERSION_CLASSICAL = 0x01;
/** The KEM of PQXDH prekeys. */
export const PREKEY_KEM = "ML-KEM-1024" satisfies KemName;
/** Bytes of the seed (d ‖ z, FIPS 203 ML-KEM.KeyGen) a KEM prekey's secret is stored as. */
export const KEM_SEED_BYTES = 64;

const SIGNED_PREKEY_CONTEXT = "sotto signed prekey v1";
const KEM_PREKEY_CONTEXT = "sotto kem prekey v1";

/** A signed prekey as published. */
export interface SignedPrekey {
  readonly id: number;
  /** When it was made, in milliseconds since the Unix epoch (signed with the key). */
  readonly createdAt: number;
  /** Uncompressed SEC1 point. */
  readonly publicKey: Uint8Array;
  /** ECDSA r ‖ s by the identity's signing key on the same curve, see {@link signedPrekeyMessage}. */
  readonly signature: Uint8Array;
}

/** A one-time prekey as published. */
export interface OneTimePrekey {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

/** The two kinds of KEM prekey: one kept until rotation, and ones deleted on first use. */
export type KemPrekeyKind = "last-resort" | "one-time";

/** A signed ML-KEM-1024 prekey as published (last-resort or one-time). */
export interface KemPrekey {
  readonly id: number;
  /** When it was made, in milliseconds since the Unix epoch (signed with the key). */
  readonly createdAt: number;
  /** The ML-KEM-1024 encapsulation key (1,568 bytes). */
  readonly publicKey: Uint8Array;
  /** ECDSA r ‖ s by the identity's signing key on each curve, see {@link kemPrekeyMessage}. */
  readonly signatures: Readonly<Record<CurveName, Uint8Array>>;
}

/** What the relay stores and hands out: the identity, EC prekeys per curve, KEM prekeys. */
export interface PrekeyBundle {
  readonly identity: IdentityPublic;
  readonly signedPrekeys: Readonly<Record<CurveName, SignedPrekey>>;
  /** Per curve, any number up to MAX_ONE_TIME_PREKEYS; a bundle handed to a peer holds at most one. */
  readonly oneTimePrekeys: Readonly<Record<CurveName, readonly OneTimePrekey[]>>;
  /** The signed last-resort ML-KEM-1024 prekey; null only in a classical (version 1) bundle. */
  readonly kemPrekey: KemPrekey | null;
  /** Up to MAX_ONE_TIME_KEM_PREKEYS; a bundle handed to a peer holds at most one. Empty in version 1. */
  readonly oneTimeKemPrekeys: readonly KemPrekey[];
}

/** Bytes of one KEM prekey in a bundle: u32 id ‖ u64 createdAt ‖ EncodeKEM ‖ a signature per curve (1,873). */
export const KEM_PREKEY_ENTRY_BYTES = 4 + 8 + encodedKemKeyLength(PREKEY_KEM) +
  CURVES.reduce((n, c) => n + 2 * curveOf(c).byteLength, 0);

/** The signed bytes: u32 id ‖ u64 createdAt ‖ EncodeEC(key), under context "sotto signed prekey v1". */
export function signedPrekeyMessage(
  curve: CurveName,
  id: number,
  createdAt: number,
  publicKey: Uint8Array,
): Uint8Array {
  const w = new Writer().u32(id).u64(createdAt);
  return writeKey(w, curve, publicKey).finish();
}

/** True if the signed prekey's signature verifies under the identity's signing key on `curve`. */
export function verifySignedPrekey(identity: IdentityPublic, curve: CurveName, spk: SignedPrekey): boolean {
  const message = signedPrekeyMessage(curve, spk.id, spk.createdAt, spk.publicKey);
  return verifyWithContext(identity, curve, SIGNED_PREKEY_CONTEXT, message, spk.signature);
}

const KEM_KIND_BYTE: Record<KemPrekeyKind, number> = { "last-resort": 0x01, "one-time": 0x02 };

/**
 * The signed bytes of a KEM prekey: u8 kind (0x01 last-resort, 0x02 one-time) ‖ u32 id ‖ u64 createdAt
 * ‖ EncodeKEM(key), under context "sotto kem prekey v1" (one signature per curve).
 */
export function kemPrekeyMessage(
  kind: KemPrekeyKind,
  id: number,
  createdAt: number,
  publicKey: Uint8Array,
): Uint8Array {
  return new Writer().u8(KEM_KIND_BYTE[kind]).u32(id).u64(createdAt).bytes(
    encodeKemKey(PREKEY_KEM, publicKey),
  )
    .finish();
}

/** True if the KEM prekey's signature on `curve` verifies under the identity's signing key there. */
export function verifyKemPrekey(
  identity: IdentityPublic,
  curve: CurveName,
  kind: KemPrekeyKind,
  prekey: KemPrekey,
): boolean {
  const message = kemPrekeyMessage(kind, prekey.id, prekey.createdAt, prekey.publicKey);
  return verifyWithContext(identity, curve, KEM_PREKEY_CONTEXT, message, prekey.signatures[curve]);
}

/** Options of {@link verifyBundle}. */
export interface VerifyBundleOptions {
  /**
   * Also verify every one-time KEM prekey on every curve (three signatures each; 96 for a full bundle).
   * Off by default: the relay need not pay for it, because an initiator verifies the one it is given.
   */
  oneTimeKem?: boolean;
}

/**
 * Checks a bundle: its identity hashes to `expectedId` (when given), every signed EC prekey signature
 * verifies, and so do the last-resort KEM prekey's signatures on every curve (and, if asked, every one-time
 * KEM prekey's). ProtocolError "id-mismatch" or "bad-signature" otherwise. A classical (version 1) bundle
 * passes if its EC signatures do: refusing it to start a chat is `initiate`'s job ("no-kem-prekey").
 */
export function verifyBundle(
  bundle: PrekeyBundle,
  expectedId?: Uint8Array,
  options: VerifyBundleOptions = {},
): void {
  if (expectedId !== undefined) checkId(expectedId, bundle.identity, "the bundle's identity keys");
  for (const c of CURVES) {
    if (!verifySignedPrekey(bundle.identity, c, bundle.signedPrekeys[c])) {
      throw new ProtocolError("bad-signature", `bundle: the ${c} signed prekey signature does not verify`);
    }
  }
  const kem: [KemPrekeyKind, KemPrekey][] = bundle.kemPrekey === null
    ? []
    : [["last-resort", bundle.kemPrekey]];
  if (options.oneTimeKem) { for (const k of bundle.oneTimeKemPrekeys) kem.push(["one-time", k]); }
  for (const [kind, k] of kem) {
    for (const c of CURVES) {
      if (!verifyKemPrekey(bundle.identity, c, kind, k)) {
        throw new ProtocolError(
          "bad-signature",
          `bundle: the ${c} signature of ${kind} KEM prekey ${k.id} does not verify`,
        );
      }
    }
  }
}

function writeKemPrekey(w: Writer, k: KemPrekey): Writer {
  w.u32(k.id).u64(k.createdAt).bytes(encodeKemKey(PREKEY_KEM, k.publicKey));
  for (const c of CURVES) w.bytes(checkSignature(c, k.signatures[c]));
  return w;
}

function checkSignature(curve: CurveName, signature: Uint8Array): Uint8Array {
  checkBytes(signature, `${curve} signature`, 2 * curveOf(curve).byteLength);
  return signature;
}

function readKemPrekey(r: Reader, what: string): KemPrekey {
  const id = r.u32(`${what} id`);
  const createdAt = r.u64(`${what} time`);
  const publicKey = readKemKey(r, PREKEY_KEM, what);
  const signatures: Partial<Record<CurveName, Uint8Array>> = {};
  for (const c of CURVES) signatures[c] = r.bytes(2 * curveOf(c).byteLength, `${what} ${c} signature`);
  return { id, createdAt, publicKey, signatures: signatures as Record<CurveName, Uint8Array> };
}

/**
 * Encodes a bundle: version ‖ identity ‖ per curve signed prekey ‖ per curve one-time prekeys, then (version
 * 2) the last-resort KEM prekey ‖ the one-time KEM prekeys. A bundle without a KEM prekey is written as
 * version 1 (classical), the only form it had.
 */
export function encodeBundle(bundle: PrekeyBundle): Uint8Array {
  const classical = bundle.kemPrekey === null;
  if (classical && bundle.oneTimeKemPrekeys.length > 0) {
    throw new RangeError("a bundle with one-time KEM prekeys needs a last-resort KEM prekey");
  }
  const w = new Writer().u8(classical ? PREKEY_VERSION_CLASSICAL : PREKEY_VERSION);
  writeIdentityPublic(w, bundle.identity);
  for (const c of CURVES) {
    const spk = bundle.signedPrekeys[c];
    w.u32(spk.id).u64(spk.createdAt);
    writeKey(w, c, spk.publicKey).bytes(spk.signature);
  }
  for (const c of CURVES) {
    const list = bundle.oneTimePrekeys[c];
    if (list.length > MAX_ONE_TIME_PREKEYS) throw new RangeError(`too many ${c} one-time prekeys`);
    w.u16(list.length);
    for (const opk of list) writeKey(w.u32(opk.id), c, opk.publicKey);
  }
  if (!classical) {
    writeKemPrekey(w, bundle.kemPrekey!);
    if (bundle.oneTimeKemPrekeys.length > MAX_ONE_TIME_KEM_PREKEYS) {
      throw new RangeError("too many one-time KEM prekeys");
    }
    w.u16(bundle.oneTimeKemPrekeys.length);
    for (const k of bundle.oneTimeKemPrekeys) writeKemPrekey(w, k);
  }
  return w.finish();
}

/**
 * Decodes {@link encodeBundle} (version 2, or a classical version 1), validating every key (EC points and
 * the ML-KEM modulus check) and refusing repeated ids; signatures are checked by {@link verifyBundle}.
 */
export function decodeBundle(bytes: Uint8Array): PrekeyBundle {
  const r = new Reader(bytes, "bundle");
  const version = r.u8("version");
  if (version !== PREKEY_VERSION && version !== PREKEY_VERSION_CLASSICAL) {
    r.fail(`version ${version} is not supported`, "unsupported");
  }
  const identity = readIdentityPublic(r);
  const signed: Partial<Record<CurveName, SignedPrekey>> = {};
  for (const c of CURVES) {
    const id = r.u32(`${c} signed prekey id`);
    const createdAt = r.u64(`${c} signed prekey time`);
    const publicKey = readKey(r, c, `${c} signed prekey`);
    const signature = r.bytes(2 * curveOf(c).byteLength, `${c} signed prekey signature`);
    signed[c] = { id, createdAt, publicKey, signature };
  }
  const oneTime: Partial<Record<CurveName, OneTimePrekey[]>> = {};
  for (const c of CURVES) {
    const count = r.u16(`${c} one-time prekey count`);
    if (count > MAX_ONE_TIME_PREKEYS) {
      r.fail(`${count} ${c} one-time prekeys, more than ${MAX_ONE_TIME_PREKEYS}`);
    }
    const list: OneTimePrekey[] = [];
    for (let i = 0; i < count; i++) {
      const id = r.u32(`${c} one-time prekey id`);
      if (list.some((k) => k.id === id)) r.fail(`${c} one-time prekey id ${id} appears twice`);
      list.push({ id, publicKey: readKey(r, c, `${c} one-time prekey`) });
    }
    oneTime[c] = list;
  }
  let kemPrekey: KemPrekey | null = null;
  const oneTimeKem: KemPrekey[] = [];
  if (version === PREKEY_VERSION) {
    kemPrekey = readKemPrekey(r, "last-resort KEM prekey");
    const count = r.u16("one-time KEM prekey count");
    if (count > MAX_ONE_TIME_KEM_PREKEYS) {
      r.fail(`${count} one-time KEM prekeys, more than ${MAX_ONE_TIME_KEM_PREKEYS}`);
    }
    for (let i = 0; i < count; i++) {
      const k = readKemPrekey(r, "one-time KEM prekey");
      if (k.id === kemPrekey.id || oneTimeKem.some((o) => o.id === k.id)) {
        r.fail(`KEM prekey id ${k.id} appears twice`);
      }
      oneTimeKem.push(k);
    }
  }
  r.end();
  return {
    identity,
    signedPrekeys: signed as Record<CurveName, SignedPrekey>,
    oneTimePrekeys: oneTime as Record<CurveName, OneTimePrekey[]>,
    kemPrekey,
    oneTimeKemPrekeys: oneTimeKem,
  };
}

// ---- the relay's side: one-time KEM prekeys stored packed ---------------------------------------------

/**
 * KEM prekeys packed as the relay may store them: their bundle entries (KEM_PREKEY_ENTRY_BYTES each)
 * back to back, no count. 32 of them are 59,936 bytes, under Deno KV's 64 KiB value limit.
 */
export function packKemPrekeys(list: readonly KemPrekey[]): Uint8Array {
  const w = new Writer(list.length * KEM_PREKEY_ENTRY_BYTES);
  for (const k of list) writeKemPrekey(w, k);
  return w.finish();
}

/** Unpacks {@link packKemPrekeys}, validating every key; ProtocolError on anything else. */
export function unpackKemPrekeys(packed: Uint8Array): KemPrekey[] {
  const r = new Reader(packed, "stored KEM prekeys");
  if (packed.length % KEM_PREKEY_ENTRY_BYTES !== 0) r.fail("the length is not a whole number of entries");
  const out: KemPrekey[] = [];
  while (r.remaining > 0) out.push(readKemPrekey(r, "KEM prekey"));
  return out;
}

/**
 * Takes the oldest one-time KEM prekey out of a packed list (what the relay does once per chat, as it does
 * with one-time EC prekeys): returns it (null if there is none) and the packed rest to store back.
 */
export function takeOneTimeKemPrekey(packed: Uint8Array): { prekey: KemPrekey | null; rest: Uint8Array } {
  if (packed.length === 0) return { prekey: null, rest: packed };
  const r = new Reader(packed, "stored KEM prekeys");
  if (packed.length % KEM_PREKEY_ENTRY_BYTES !== 0) r.fail("the length is not a whole number of entries");
  return { prekey: readKemPrekey(r, "KEM prekey"), rest: r.rest() };
}

// ---- the owner's side --------------------------------------------------------------------------------

interface StoredSigned {
  id: number;
  createdAt: number;
  /** When it stopped being the current one; null while current. */
  retiredAt: number | null;
  pair: KeyPair;
  signature: Uint8Array;
  /** The replay cache: SHA-256(EncodeEC(EK_A)) of every initial message accepted under this prekey. */
  seen: Uint8Array[];
}

interface StoredOneTime {
  id: number;
  pair: KeyPair;
}

/** A KEM prekey held by its owner: the 64-byte seed is the secret (the key pair is made from it on demand). */
interface StoredKem {
  id: number;
  createdAt: number;
  /** Last-resort keys: when it stopped being the current one; null while current (always null if one-time). */
  retiredAt: number | null;
  seed: Uint8Array;
  signatures: Record<CurveName, Uint8Array>;
  /** ML-KEM-1024 KeyGen(seed), made when first needed; not serialised. */
  pair: KeyPair | null;
}

/** A KEM prekey's key pair (made from its seed once, then kept in memory). */
function kemPair(k: StoredKem): KeyPair {
  if (k.pair === null) {
    const { publicKey, secretKey } = kemOf(PREKEY_KEM).keygen(k.seed);
    k.pair = { publicKey, secretKey };
  }
  return k.pair;
}

function wipeKem(k: StoredKem): void {
  wipe(k.seed);
  if (k.pair !== null) wipe(k.pair.secretKey);
}

/** What the replay cache keeps of a base key (EK_A, uncompressed): SHA-256(EncodeEC(EK_A)). */
function replayEntry(curve: CurveName, baseKey: Uint8Array): Uint8Array {
  return sha256(encodeKey(curve, baseKey));
}

function checkTime(now: unknown): asserts now is number {
  if (typeof now !== "number" || !Number.isSafeInteger(now) || now < 0) {
    throw new TypeError("now must be a non-negative integer number of milliseconds");
  }
}

/** What {@link PrekeyStore.rotate} replaced: a curve's signed EC prekey, or the last-resort KEM prekey. */
export type RotatedPrekey = CurveName | typeof PREKEY_KEM;

/**
 * The owner's prekeys: on every curve the signed ones (current and in grace), the unused one-time ones and
 * the replay cache; the last-resort KEM prekeys (current and in grace) and the unused one-time KEM prekeys.
 * Time comes in as `now` (milliseconds since the epoch); nothing here reads a clock.
 */
export class PrekeyStore {
  #nextId: number;
  readonly #signed: Record<CurveName, StoredSigned[]>;
  readonly #oneTime: Record<CurveName, StoredOneTime[]>;
  /** Last-resort KEM prekeys, oldest first; exactly one is current (none only in an upgraded version 1 store). */
  #kemSigned: StoredKem[];
  #kemOneTime: StoredKem[];

  private constructor(
    nextId: number,
    signed: Record<CurveName, StoredSigned[]>,
    oneTime: Record<CurveName, StoredOneTime[]>,
    kemSigned: StoredKem[],
    kemOneTime: StoredKem[],
  ) {
    this.#nextId = nextId;
    this.#signed = signed;
    this.#oneTime = oneTime;
    this.#kemSigned = kemSigned;
    this.#kemOneTime = kemOneTime;
  }

  /**
   * A store with a fresh signed prekey on every curve (P-256, P-384, P-521: one secret key drawn each), then
   * a last-resort KEM prekey (a 64-byte seed drawn), and no one-time prekeys.
   */
  static create(identity: Identity, now: number, random: RandomSource = systemRandom): PrekeyStore {
    checkTime(now);
    const store = new PrekeyStore(
      1,
      { "P-256": [], "P-384": [], "P-521": [] },
      {
        "P-256": [],
        "P-384": [],
        "P-521": [],
      },
      [],
      [],
    );
    for (const c of CURVES) store.#newSigned(identity, c, now, random);
    store.#kemSigned.push(store.#newKem(identity, "last-resort", now, random));
    return store;
  }

  #takeId(): number {
    if (this.#nextId > 0xffff_ffff) throw new ProtocolError("exhausted", "prekey ids are exhausted");
    return this.#nextId++;
  }

  #newSigned(identity: Identity, curve: CurveName, now: number, random: RandomSource): void {
    const id = this.#takeId();
    const pair = generateKeyPair(curve, random);
    const message = signedPrekeyMessage(curve, id, now, pair.publicKey);
    const signature = signWithContext(identity, curve, SIGNED_PREKEY_CONTEXT, message);
    this.#signed[curve].push({ id, createdAt: now, retiredAt: null, pair, signature, seen: [] });
  }

  /** A new KEM prekey: a 64-byte seed drawn, ML-KEM-1024 KeyGen, a signature on every curve. */
  #newKem(identity: Identity, kind: KemPrekeyKind, now: number, random: RandomSource): StoredKem {
    const id = this.#takeId();
    const seed = random(KEM_SEED_BYTES);
    checkBytes(seed, `random(${KEM_SEED_BYTES}) result`, KEM_SEED_BYTES);
    const { publicKey, secretKey } = kemOf(PREKEY_KEM).keygen(seed);
    const message = kemPrekeyMessage(kind, id, now, publicKey);
    const signatures = {} as Record<CurveName, Uint8Array>;
    for (const c of CURVES) signatures[c] = signWithContext(identity, c, KEM_PREKEY_CONTEXT, message);
    return {
      id,
      createdAt: now,
      retiredAt: null,
      seed: seed.slice(),
      signatures,
      pair: { publicKey, secretKey },
    };
  }

  #current(curve: CurveName): StoredSigned {
    return this.#signed[curve].find((s) => s.retiredAt === null)!;
  }

  #currentKem(): StoredKem | undefined {
    return this.#kemSigned.find((k) => k.retiredAt === null);
  }

  /**
   * Replaces each signed EC prekey that is at least SIGNED_PREKEY_ROTATION_MS old or whose replay cache is
   * full, and the last-resort KEM prekey once it is that old (or makes one if the store has none: a store
   * from before PQXDH); deletes those retired at least SIGNED_PREKEY_GRACE_MS ago. Returns what changed
   * (curves, and "ML-KEM-1024" for the KEM prekey): when anything did, upload a new bundle. New keys are
   * made in the order of the list (P-256, P-384, P-521, then the KEM prekey).
   */
  rotate(identity: Identity, now: number, random: RandomSource = systemRandom): RotatedPrekey[] {
    checkTime(now);
    const changed: RotatedPrekey[] = [];
    const inGrace = (retiredAt: number | null) =>
      retiredAt === null || now - retiredAt < SIGNED_PREKEY_GRACE_MS;
    for (const c of CURVES) {
      const current = this.#current(c);
      if (now - current.createdAt >= SIGNED_PREKEY_ROTATION_MS || current.seen.length >= MAX_REPLAY_ENTRIES) {
        current.retiredAt = now;
        this.#newSigned(identity, c, now, random);
        changed.push(c);
      }
      // The cap keeps the newest ones should rotations come faster than the grace period.
      const keep = this.#signed[c].filter((s) => inGrace(s.retiredAt)).slice(-MAX_SIGNED_PREKEYS);
      for (const s of this.#signed[c]) if (!keep.includes(s)) wipe(s.pair.secretKey);
      this.#signed[c] = keep;
    }
    const kem = this.#currentKem();
    if (kem === undefined || now - kem.createdAt >= SIGNED_PREKEY_ROTATION_MS) {
      if (kem !== undefined) kem.retiredAt = now;
      this.#kemSigned.push(this.#newKem(identity, "last-resort", now, random));
      changed.push(PREKEY_KEM);
    }
    const keep = this.#kemSigned.filter((k) => inGrace(k.retiredAt)).slice(-MAX_SIGNED_PREKEYS);
    for (const k of this.#kemSigned) if (!keep.includes(k)) wipeKem(k);
    this.#kemSigned = keep;
    return changed;
  }

  /** Makes `count` new one-time prekeys on `curve` and returns their public halves to upload. */
  addOneTimePrekeys(curve: CurveName, count: number, random: RandomSource = systemRandom): OneTimePrekey[] {
    checkCurveName(curve);
    const room = MAX_ONE_TIME_PREKEYS - this.#oneTime[curve].length;
    if (!Number.isSafeInteger(count) || count < 0 || count > room) {
      throw new RangeError(`count must be an integer in [0, ${room}] for ${curve}`);
    }
    const added: OneTimePrekey[] = [];
    for (let i = 0; i < count; i++) {
      const entry = { id: this.#takeId(), pair: generateKeyPair(curve, random) };
      this.#oneTime[curve].push(entry);
      added.push({ id: entry.id, publicKey: entry.pair.publicKey });
    }
    return added;
  }

  /**
   * Makes `count` new signed one-time KEM prekeys (each: a 64-byte seed drawn, three signatures) at time
   * `now` and returns their public halves to upload.
   */
  addOneTimeKemPrekeys(
    identity: Identity,
    count: number,
    now: number,
    random: RandomSource = systemRandom,
  ): KemPrekey[] {
    checkTime(now);
    const room = MAX_ONE_TIME_KEM_PREKEYS - this.#kemOneTime.length;
    if (!Number.isSafeInteger(count) || count < 0 || count > room) {
      throw new RangeError(`count must be an integer in [0, ${room}] for one-time KEM prekeys`);
    }
    const added: KemPrekey[] = [];
    for (let i = 0; i < count; i++) {
      const k = this.#newKem(identity, "one-time", now, random);
      this.#kemOneTime.push(k);
      added.push(publicKem(k));
    }
    return added;
  }

  /** How many unused one-time prekeys the store holds on `curve`. */
  oneTimeCount(curve: CurveName): number {
    checkCurveName(curve);
    return this.#oneTime[curve].length;
  }

  /** How many unused one-time KEM prekeys the store holds. */
  oneTimeKemCount(): number {
    return this.#kemOneTime.length;
  }

  /**
   * The bundle to upload: the current signed prekeys, every unused one-time prekey, the current last-resort
   * KEM prekey and every unused one-time KEM prekey. A store from before PQXDH that has not been rotated
   * yet has no KEM prekey, and gives a classical bundle that initiators refuse: call `rotate` first.
   */
  bundle(identity: IdentityPublic): PrekeyBundle {
    const signed: Partial<Record<CurveName, SignedPrekey>> = {};
    const oneTime: Partial<Record<CurveName, OneTimePrekey[]>> = {};
    for (const c of CURVES) {
      const s = this.#current(c);
      signed[c] = { id: s.id, createdAt: s.createdAt, publicKey: s.pair.publicKey, signature: s.signature };
      oneTime[c] = this.#oneTime[c].map((k) => ({ id: k.id, publicKey: k.pair.publicKey }));
    }
    const kem = this.#currentKem();
    return {
      identity,
      signedPrekeys: signed as Record<CurveName, SignedPrekey>,
      oneTimePrekeys: oneTime as Record<CurveName, OneTimePrekey[]>,
      kemPrekey: kem === undefined ? null : publicKem(kem),
      oneTimeKemPrekeys: kem === undefined ? [] : this.#kemOneTime.map(publicKem),
    };
  }

  /**
   * The signed prekey `id` on `curve` if it is current or retired less than the grace period before
   * `now`; otherwise undefined. Used by `respond`.
   */
  signedPrekey(curve: CurveName, id: number, now: number): KeyPair | undefined {
    checkTime(now);
    const s = this.#signed[curve].find((k) => k.id === id);
    if (s === undefined || (s.retiredAt !== null && now - s.retiredAt >= SIGNED_PREKEY_GRACE_MS)) {
      return undefined;
    }
    return s.pair;
  }

  /** The unused one-time prekey `id` on `curve`, or undefined. Used by `respond`. */
  oneTimePrekey(curve: CurveName, id: number): KeyPair | undefined {
    return this.#oneTime[curve].find((k) => k.id === id)?.pair;
  }

  /**
   * The ML-KEM-1024 key pair of KEM prekey `id` of `kind`: a last-resort one if it is current or retired
   * less than the grace period before `now`, a one-time one if it is unused; otherwise undefined. Used by
   * `respond`.
   */
  kemPrekey(kind: KemPrekeyKind, id: number, now: number): KeyPair | undefined {
    checkTime(now);
    if (kind === "one-time") {
      const k = this.#kemOneTime.find((e) => e.id === id);
      return k === undefined ? undefined : kemPair(k);
    }
    const k = this.#kemSigned.find((e) => e.id === id);
    if (k === undefined || (k.retiredAt !== null && now - k.retiredAt >= SIGNED_PREKEY_GRACE_MS)) {
      return undefined;
    }
    return kemPair(k);
  }

  /**
   * Refuses an initial message that cannot be accepted under signed prekey `spkId`: ProtocolError
   * "replay" if its base key was seen before, "exhausted" if the replay cache is full. Used by `respond`.
   */
  checkFresh(curve: CurveName, spkId: number, baseKey: Uint8Array): void {
    const s = this.#signed[curve].find((k) => k.id === spkId);
    if (s === undefined) throw new ProtocolError("unknown-prekey", `no ${curve} signed prekey ${spkId}`);
    const entry = replayEntry(curve, baseKey);
    if (s.seen.some((k) => equalBytes(k, entry))) {
      throw new ProtocolError("replay", "this initial message was already accepted");
    }
    if (s.seen.length >= MAX_REPLAY_ENTRIES) {
      throw new ProtocolError("exhausted", `${curve} signed prekey ${spkId} takes no more initial messages`);
    }
  }

  /**
   * Records an accepted initial message: remembers its base key under the signed prekey and deletes the
   * one-time prekey and the one-time KEM prekey it used. Call only after the message decrypted (respond
   * does).
   */
  accept(
    curve: CurveName,
    spkId: number,
    oneTimeId: number | null,
    baseKey: Uint8Array,
    oneTimeKemId: number | null = null,
  ): void {
    this.checkFresh(curve, spkId, baseKey);
    this.#signed[curve].find((k) => k.id === spkId)!.seen.push(replayEntry(curve, baseKey));
    if (oneTimeId !== null) {
      const list = this.#oneTime[curve];
      const at = list.findIndex((k) => k.id === oneTimeId);
      if (at >= 0) {
        wipe(list[at].pair.secretKey);
        list.splice(at, 1);
      }
    }
    if (oneTimeKemId !== null) {
      const at = this.#kemOneTime.findIndex((k) => k.id === oneTimeKemId);
      if (at >= 0) {
        wipeKem(this.#kemOneTime[at]);
        this.#kemOneTime.splice(at, 1);
      }
    }
  }

  /** The store as versioned bytes (version 2; secret keys included: keep it encrypted). */
  serialize(): Uint8Array {
    const w = new Writer().u8(PREKEY_VERSION).u32(this.#nextId - 1);
    for (const c of CURVES) {
      w.u8(this.#signed[c].length);
      for (const s of this.#signed[c]) {
        w.u32(s.id).u64(s.createdAt);
        if (s.retiredAt === null) w.u8(0);
        else w.u8(1).u64(s.retiredAt);
        w.bytes(s.pair.secretKey).bytes(s.pair.publicKey).bytes(s.signature).u16(s.seen.length);
        for (const k of s.seen) w.bytes(k);
      }
      w.u16(this.#oneTime[c].length);
      for (const k of this.#oneTime[c]) w.u32(k.id).bytes(k.pair.secretKey).bytes(k.pair.publicKey);
    }
    const writeKem = (k: StoredKem) => {
      for (const c of CURVES) w.bytes(k.signatures[c]);
    };
    w.u8(this.#kemSigned.length);
    for (const k of this.#kemSigned) {
      w.u32(k.id).u64(k.createdAt);
      if (k.retiredAt === null) w.u8(0);
      else w.u8(1).u64(k.retiredAt);
      w.bytes(k.seed);
      writeKem(k);
    }
    w.u16(this.#kemOneTime.length);
    for (const k of this.#kemOneTime) {
      w.u32(k.id).u64(k.createdAt).bytes(k.seed);
      writeKem(k);
    }
    return w.finish();
  }

  /**
   * Restores {@link serialize} (version 2) or a classical version 1 store (which then holds no KEM prekey
   * until `rotate` makes one); ProtocolError on anything malformed. EC public keys are validated; a KEM
   * prekey is stored as its seed, so it is valid by construction.
   */
  static deserialize(bytes: Uint8Array): PrekeyStore {
    const r = new Reader(bytes, "prekey store");
    const version = r.u8("version");
    if (version !== PREKEY_VERSION && version !== PREKEY_VERSION_CLASSICAL) {
      r.fail(`version ${version} is not supported`, "unsupported");
    }
    const lastId = r.u32("last id");
    const signed = {} as Record<CurveName, StoredSigned[]>;
    const oneTime = {} as Record<CurveName, StoredOneTime[]>;
    const ids = new Set<number>();
    const checkNewId = (id: number, what: string) => {
      if (id === 0 || id > lastId || ids.has(id)) r.fail(`${what} has a bad or repeated id ${id}`);
      ids.add(id);
    };
    for (const c of CURVES) {
      const n = r.u8(`${c} signed prekey count`);
      if (n < 1 || n > MAX_SIGNED_PREKEYS) r.fail(`${c} signed prekey count ${n} is out of range`);
      signed[c] = [];
      for (let i = 0; i < n; i++) {
        const id = r.u32(`${c} signed prekey id`);
        checkNewId(id, `${c} signed prekey`);
        const createdAt = r.u64(`${c} signed prekey time`);
        const retiredAt = readRetired(r, `${c} signed prekey`);
        const secretKey = readSecret(r, c, `${c} signed prekey secret`);
        const publicKey = readPoint(r, c, `${c} signed prekey`);
        const signature = r.bytes(2 * curveOf(c).byteLength, `${c} signed prekey signature`);
        const count = r.u16(`${c} replay cache size`);
        if (count > MAX_REPLAY_ENTRIES) r.fail(`${c} replay cache holds ${count} entries, too many`);
        const seen: Uint8Array[] = [];
        for (let j = 0; j < count; j++) seen.push(r.bytes(32, `${c} replay cache entry`));
        signed[c].push({ id, createdAt, retiredAt, pair: { secretKey, publicKey }, signature, seen });
      }
      if (signed[c].filter((s) => s.retiredAt === null).length !== 1) {
        r.fail(`${c} must have exactly one current signed prekey`);
      }
      const m = r.u16(`${c} one-time prekey count`);
      if (m > MAX_ONE_TIME_PREKEYS) r.fail(`${c} one-time prekey count ${m} is too large`);
      oneTime[c] = [];
      for (let i = 0; i < m; i++) {
        const id = r.u32(`${c} one-time prekey id`);
        checkNewId(id, `${c} one-time prekey`);
        const secretKey = readSecret(r, c, `${c} one-time prekey secret`);
        oneTime[c].push({ id, pair: { secretKey, publicKey: readPoint(r, c, `${c} one-time prekey`) } });
      }
    }
    const kemSigned: StoredKem[] = [], kemOneTime: StoredKem[] = [];
    if (version === PREKEY_VERSION) {
      const readSignatures = (what: string) => {
        const out = {} as Record<CurveName, Uint8Array>;
        for (const c of CURVES) out[c] = r.bytes(2 * curveOf(c).byteLength, `${what} ${c} signature`);
        return out;
      };
      const n = r.u8("last-resort KEM prekey count");
      if (n > MAX_SIGNED_PREKEYS) r.fail(`last-resort KEM prekey count ${n} is out of range`);
      for (let i = 0; i < n; i++) {
        const id = r.u32("last-resort KEM prekey id");
        checkNewId(id, "last-resort KEM prekey");
        const createdAt = r.u64("last-resort KEM prekey time");
        const retiredAt = readRetired(r, "last-resort KEM prekey");
        const seed = r.bytes(KEM_SEED_BYTES, "last-resort KEM prekey seed");
        kemSigned.push({
          id,
          createdAt,
          retiredAt,
          seed,
          signatures: readSignatures("last-resort KEM prekey"),
          pair: null,
        });
      }
      if (n > 0 && kemSigned.filter((k) => k.retiredAt === null).length !== 1) {
        r.fail("there must be exactly one current last-resort KEM prekey");
      }
      const m = r.u16("one-time KEM prekey count");
      if (m > MAX_ONE_TIME_KEM_PREKEYS) r.fail(`one-time KEM prekey count ${m} is too large`);
      for (let i = 0; i < m; i++) {
        const id = r.u32("one-time KEM prekey id");
        checkNewId(id, "one-time KEM prekey");
        const createdAt = r.u64("one-time KEM prekey time");
        const seed = r.bytes(KEM_SEED_BYTES, "one-time KEM prekey seed");
        kemOneTime.push({
          id,
          createdAt,
          retiredAt: null,
          seed,
          signatures: readSignatures("one-time KEM prekey"),
          pair: null,
        });
      }
      if (n === 0 && m > 0) r.fail("one-time KEM prekeys need a last-resort KEM prekey");
    }
    r.end();
    return new PrekeyStore(lastId + 1, signed, oneTime, kemSigned, kemOneTime);
  }
}

function readRetired(r: Reader, what: string): number | null {
  const flag = r.u8(`${what} retired flag`);
  if (flag > 1) r.fail(`${what} retired flag ${flag} is not 0 or 1`);
  return flag === 1 ? r.u64(`${what} retirement time`) : null;
}

function publicKem(k: StoredKem): KemPrekey {
  return {
    id: k.id,
    createdAt: k.createdAt,
    publicKey: kemPair(k).publicKey,
    signatures: { ...k.signatures },
  };
}
