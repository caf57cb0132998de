// Prekeys (X3DH §3.2, adapted to three curves): on every curve a signed prekey, rotated weekly and kept
// for a grace period after rotation, and one-time prekeys, each deleted on first use. The bundle is what
// the relay stores and hands out; the PrekeyStore is the owner's private side (with the replay cache that
// stops an initial message from being accepted twice). Byte layouts: docs/protocol.md §3.

import { equalBytes, type RandomSource, systemRandom, wipe } from "../crypto/bytes.ts";
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
  encodeKey,
  generateKeyPair,
  type KeyPair,
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
/** Initial messages remembered per signed prekey; when full, that prekey is rotated. */
export const MAX_REPLAY_ENTRIES = 2000;
/** Version byte of the bundle and store encodings. */
export const PREKEY_VERSION = 0x01;

const SIGNED_PREKEY_CONTEXT = "sotto signed prekey v1";

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

/** What the relay stores and hands out: the identity, a signed prekey per curve, one-time prekeys. */
export interface PrekeyBundle {
  readonly identity: IdentityPublic;
  readonly signedPrekeys: Readonly<Record<CurveName, SignedPrekey>>;
  /** Per curve, any number up to MAX_ONE_TIME_PREKEYS; a bundle handed to a peer holds at most one. */
  readonly oneTimePrekeys: Readonly<Record<CurveName, readonly OneTimePrekey[]>>;
}

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

/**
 * Checks a bundle: its identity hashes to `expectedId` (when given) and every signed prekey signature
 * verifies. ProtocolError "id-mismatch" or "bad-signature" otherwise.
 */
export function verifyBundle(bundle: PrekeyBundle, expectedId?: Uint8Array): void {
  if (expectedId !== undefined) checkId(expectedId, bundle.identity, "the bundle's identity keys");
  for (const c of CURVES) {
    if (!verifySignedPrekey(bundle.identity, c, bundle.signedPrekeys[c])) {
      throw new ProtocolError("bad-signature", `bundle: the ${c} signed prekey signature does not verify`);
    }
  }
}

/** Encodes a bundle: version ‖ identity ‖ per curve signed prekey ‖ per curve one-time prekeys. */
export function encodeBundle(bundle: PrekeyBundle): Uint8Array {
  const w = new Writer().u8(PREKEY_VERSION);
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
  return w.finish();
}

/** Decodes {@link encodeBundle}, validating every key; signatures are checked by {@link verifyBundle}. */
export function decodeBundle(bytes: Uint8Array): PrekeyBundle {
  const r = new Reader(bytes, "bundle");
  const version = r.u8("version");
  if (version !== PREKEY_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
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
  r.end();
  return {
    identity,
    signedPrekeys: signed as Record<CurveName, SignedPrekey>,
    oneTimePrekeys: oneTime as Record<CurveName, OneTimePrekey[]>,
  };
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

/** What the replay cache keeps of a base key (EK_A, uncompressed): SHA-256(EncodeEC(EK_A)). */
function replayEntry(curve: CurveName, baseKey: Uint8Array): Uint8Array {
  return sha256(encodeKey(curve, baseKey));
}

function checkTime(now: unknown): asserts now is number {
  if (typeof now !== "number" || !Number.isSafeInteger(now) || now < 0) {
    throw new TypeError("now must be a non-negative integer number of milliseconds");
  }
}

/**
 * The owner's prekeys on every curve: the signed ones (current and in grace), the unused one-time ones,
 * and the replay cache. Time comes in as `now` (milliseconds since the epoch); nothing here reads a clock.
 */
export class PrekeyStore {
  #nextId: number;
  readonly #signed: Record<CurveName, StoredSigned[]>;
  readonly #oneTime: Record<CurveName, StoredOneTime[]>;

  private constructor(
    nextId: number,
    signed: Record<CurveName, StoredSigned[]>,
    oneTime: Record<CurveName, StoredOneTime[]>,
  ) {
    this.#nextId = nextId;
    this.#signed = signed;
    this.#oneTime = oneTime;
  }

  /** A store with a fresh signed prekey on every curve and no one-time prekeys. */
  static create(identity: Identity, now: number, random: RandomSource = systemRandom): PrekeyStore {
    checkTime(now);
    const store = new PrekeyStore(1, { "P-256": [], "P-384": [], "P-521": [] }, {
      "P-256": [],
      "P-384": [],
      "P-521": [],
    });
    for (const c of CURVES) store.#newSigned(identity, c, now, random);
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

  #current(curve: CurveName): StoredSigned {
    return this.#signed[curve].find((s) => s.retiredAt === null)!;
  }

  /**
   * Replaces each signed prekey that is at least SIGNED_PREKEY_ROTATION_MS old or whose replay cache is
   * full, and deletes those retired at least SIGNED_PREKEY_GRACE_MS ago. Returns the curves whose
   * current signed prekey changed: when any did, upload a new bundle.
   */
  rotate(identity: Identity, now: number, random: RandomSource = systemRandom): CurveName[] {
    checkTime(now);
    const changed: CurveName[] = [];
    for (const c of CURVES) {
      const current = this.#current(c);
      if (now - current.createdAt >= SIGNED_PREKEY_ROTATION_MS || current.seen.length >= MAX_REPLAY_ENTRIES) {
        current.retiredAt = now;
        this.#newSigned(identity, c, now, random);
        changed.push(c);
      }
      // The cap keeps the newest ones should rotations come faster than the grace period.
      const keep = this.#signed[c]
        .filter((s) => s.retiredAt === null || now - s.retiredAt < SIGNED_PREKEY_GRACE_MS)
        .slice(-MAX_SIGNED_PREKEYS);
      for (const s of this.#signed[c]) if (!keep.includes(s)) wipe(s.pair.secretKey);
      this.#signed[c] = keep;
    }
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

  /** How many unused one-time prekeys the store holds on `curve`. */
  oneTimeCount(curve: CurveName): number {
    checkCurveName(curve);
    return this.#oneTime[curve].length;
  }

  /** The bundle to upload: the current signed prekeys and every unused one-time prekey. */
  bundle(identity: IdentityPublic): PrekeyBundle {
    const signed: Partial<Record<CurveName, SignedPrekey>> = {};
    const oneTime: Partial<Record<CurveName, OneTimePrekey[]>> = {};
    for (const c of CURVES) {
      const s = this.#current(c);
      signed[c] = { id: s.id, createdAt: s.createdAt, publicKey: s.pair.publicKey, signature: s.signature };
      oneTime[c] = this.#oneTime[c].map((k) => ({ id: k.id, publicKey: k.pair.publicKey }));
    }
    return {
      identity,
      signedPrekeys: signed as Record<CurveName, SignedPrekey>,
      oneTimePrekeys: oneTime as Record<CurveName, OneTimePrekey[]>,
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
   * one-time prekey it used. Call only after the message decrypted (respond does).
   */
  accept(curve: CurveName, spkId: number, oneTimeId: number | null, baseKey: Uint8Array): void {
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
  }

  /** The store as versioned bytes (secret keys included: keep it encrypted). */
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
    return w.finish();
  }

  /** Restores {@link serialize}; ProtocolError on anything malformed. Public keys are validated. */
  static deserialize(bytes: Uint8Array): PrekeyStore {
    const r = new Reader(bytes, "prekey store");
    const version = r.u8("version");
    if (version !== PREKEY_VERSION) r.fail(`version ${version} is not supported`, "unsupported");
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
        const flag = r.u8(`${c} signed prekey retired flag`);
        if (flag > 1) r.fail(`${c} signed prekey retired flag ${flag} is not 0 or 1`);
        const retiredAt = flag === 1 ? r.u64(`${c} signed prekey retirement time`) : null;
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
    r.end();
    return new PrekeyStore(lastId + 1, signed, oneTime);
  }
}
