// The client's keystore as bytes: what a client holds (its identity, prekey secrets, chats with their
// sessions and settings, the outgoing queue, the server pins and the user's settings; the history is in
// its own files since version 3, protocol/history.ts) in a versioned binary encoding,
// sealed with a key from the user's passphrase: PBKDF2-HMAC-SHA-512 (RFC 8018 §5.2; at least 210,000
// iterations, OWASP's figure) and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) with a random nonce
// per write. The header carries every KDF parameter and a check value, so a wrong passphrase is told
// apart from a damaged or altered file. Pure: no files and no clock; randomness comes in as a parameter.
// Layout: docs/client.md, "The keystore file".

import {
  checkBytes,
  concatBytes,
  equalBytes,
  type RandomSource,
  systemRandom,
  utf8,
  wipe,
} from "../crypto/bytes.ts";
import { xchacha20Poly1305Open, xchacha20Poly1305Seal } from "../crypto/chacha20poly1305.ts";
import { AuthenticationError } from "../crypto/errors.ts";
import { hkdfExpand } from "../crypto/hkdf.ts";
import { pbkdf2, PBKDF2_MAX_ITERATIONS } from "../crypto/pbkdf2.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";
import {
  decodeIdentity,
  decodeIdentityPublic,
  encodeIdentity,
  encodeIdentityPublic,
  ID_BYTES,
  type Identity,
  type IdentityPublic,
} from "./identity.ts";
import { PrekeyStore } from "./prekeys.ts";
import { Session } from "./ratchet.ts";
import { curveFromId, curveId, type CurveName } from "./suite.ts";
import { MAX_MESSAGE_BYTES } from "./message.ts";
import { type DeliveryStatus, type HistoryEntry, type LineKind, newEntry } from "./history.ts";

export type { DeliveryStatus, HistoryEntry } from "./history.ts";
import { isPin } from "./tls13/x509.ts";

/** The first bytes of every sealed keystore. */
export const KEYSTORE_MAGIC = utf8("SOTTOKS\n");
/** Version of the sealed container (header layout). */
export const KEYSTORE_VERSION = 0x01;
/**
 * Version of the plaintext contents encoding. Versions 1 (without the block list and file answers) and
 * 2 (with the last 200 history lines of each chat inside) are read too.
 */
export const CONTENTS_VERSION = 0x03;
/** The fewest PBKDF2 iterations accepted when sealing or unsealing (OWASP's figure for HMAC-SHA-512). */
export const MIN_ITERATIONS = 210_000;
/** The iterations new keystores use. */
export const DEFAULT_ITERATIONS = 210_000;
/** Salt bytes of new keystores. */
export const SALT_BYTES = 32;
/** Most history entries a version 1 or 2 keystore held per chat (read when migrating). */
export const MAX_HISTORY = 200;
/** Most settings a keystore holds, and the longest name and value. */
export const MAX_SETTINGS = 64;
const MAX_SETTING_NAME = 32;
const MAX_SETTING_VALUE = 256;
/** Most chats a keystore holds. */
export const MAX_CHATS = 1000;
/** Most entries in the outgoing queue. */
export const MAX_OUTBOX = 4096;
/** Most IDs in the local block list. */
export const MAX_BLOCKED = 1000;

const KDF_PBKDF2_SHA512 = 0x01;
const AEAD_XCHACHA20_POLY1305 = 0x01;
const CHECK_BYTES = 16;
const NONCE_BYTES = 24;
const INFO_KEY = utf8("sotto keystore key v1");
const INFO_CHECK = utf8("sotto keystore check v1");
const INFO_HISTORY = utf8("sotto history key v1");
const MAX_TEXT = 32704;
const MAX_NAME = 255;
const MAX_PATH = 4096;
const MAX_SERVER = 300;
const MAX_SESSION_BYTES = 1 << 20;
const MAX_PREKEY_BYTES = 1 << 21;

/** The passphrase does not open this keystore. The message is one plain sentence. */
export class WrongPassphraseError extends Error {
  constructor() {
    super("That passphrase does not unlock this keystore.");
    this.name = "WrongPassphraseError";
  }
}

/** The keystore bytes are not a keystore, are damaged, were altered, or come from a newer version. */
export class KeystoreFormatError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeystoreFormatError";
  }
}

// ---- what a keystore holds ---------------------------------------------------------------------------

/** Where a chat stands: asked for (waiting for the peer to ask too), open, or closed by either side. */
export type ChatState = "requested" | "open" | "closed";

/** Which side of the chat's X3DH we are, once the relay has said. */
export type ChatRole = "unknown" | "initiator" | "responder";

/** Why sending to a chat waits for the user (see docs/client.md, "Verification"). */
export type ChatWarning = "none" | "identity-changed" | "name-moved";

/** Who made the last change to a chat's disappearing-messages timer. */
export type TimerSetter = "nobody" | "us" | "peer";

/**
 * A file offered to us: until it is accepted nothing of it is on disk; once accepted its chunks are
 * written to `path` (relative to the data folder) as they come.
 */
export interface IncomingFile {
  fileId: Uint8Array;
  /** The name the sender offered (already checked by the payload decoder). */
  name: string;
  /** The partial file, relative to the data folder. */
  path: string;
  size: number;
  sha256: Uint8Array;
  /** Bytes written so far. */
  received: number;
  /** The index of the next chunk expected. */
  nextIndex: number;
  /** True once the user (or --accept-files) accepted it; until then it only waits for an answer. */
  accepted: boolean;
}

/** A chat with one peer. */
export interface ChatRecord {
  peerId: Uint8Array;
  state: ChatState;
  role: ChatRole;
  /** The chat's curve: the one we asked on, then the one the relay says the chat runs on. */
  curve: CurveName;
  /** Our local name for the peer ("" for none). */
  nickname: string;
  /** The name the peer announced for itself ("" for none); shown marked, never in place of ours. */
  peerNickname: string;
  /** The peer's public identity, once the relay has handed it over (checked against peerId). */
  peerIdentity: IdentityPublic | null;
  session: Session | null;
  /** The next text id we use (ids start at 1; 0 is the opening message). */
  nextTextId: number;
  unread: number;
  /** Milliseconds since the epoch of the last activity, for ordering the chat list. */
  updatedAt: number;
  /** The chat's history, in line order (kept in its own file, client/historystore.ts; not in here). */
  history: HistoryEntry[];
  incoming: IncomingFile[];
  /** SHA-256 of the peer's public identity when the user marked the chat verified, or null. */
  verified: Uint8Array | null;
  /** Sending waits until the user acknowledges this. */
  warning: ChatWarning;
  /** No notifications for this chat. */
  muted: boolean;
  /** The disappearing-messages timer in seconds (0: off), the epoch of its last change, who made it. */
  timer: number;
  timerEpoch: number;
  timerBy: TimerSetter;
  /** The number the next history line gets. */
  nextSeq: number;
}

/** A chat with nothing in it yet: asked for by nobody, no session, no history (`now` is its updatedAt). */
export function newChatRecord(
  peerId: Uint8Array,
  curve: CurveName,
  nickname: string,
  now: number,
): ChatRecord {
  return {
    peerId,
    state: "requested",
    role: "unknown",
    curve,
    nickname,
    peerNickname: "",
    peerIdentity: null,
    session: null,
    nextTextId: 1,
    unread: 0,
    updatedAt: now,
    history: [],
    incoming: [],
    verified: null,
    warning: "none",
    muted: false,
    timer: 0,
    timerEpoch: 0,
    timerBy: "nobody",
    nextSeq: 1,
  };
}

/** An outgoing message: a payload waiting for a session, or a ratchet message ready to be relayed. */
export interface OutboxEntry {
  /** The relay message id, 16 random bytes, the same on every retry. */
  messageId: Uint8Array;
  peerId: Uint8Array;
  /** "payload": plaintext payload bytes not yet encrypted; "message": the end-to-end message. */
  kind: "payload" | "message";
  bytes: Uint8Array;
  /** The text id this entry carries (0 when it is not a text). */
  textId: number;
  createdAt: number;
  /**
   * When the message it carries disappears (ms, this client's clock), or 0. Kept so the relay can be
   * told to drop it from its queue then, once the relay protocol has a field for it.
   */
  expiresAt: number;
}

/** Everything a keystore holds. */
export interface KeystoreContents {
  identity: Identity;
  prekeys: PrekeyStore;
  /** Milliseconds since the epoch when the identity was made. */
  createdAt: number;
  /** Server pins for trust on first use: "host:port" → pin. */
  pins: Map<string, string>;
  /** Pins of the relays that have been given our prekeys. */
  registered: Set<string>;
  chats: ChatRecord[];
  outbox: OutboxEntry[];
  /** IDs the user blocked: no chat with them opens, whatever the relay says. */
  blocked: Uint8Array[];
  /** The user's settings by name (client/settings.ts gives them types); unknown ones are kept. */
  settings: Map<string, string>;
}

const STATES: readonly ChatState[] = ["requested", "open", "closed"];
const ROLES: readonly ChatRole[] = ["unknown", "initiator", "responder"];
const KINDS: readonly LineKind[] = ["in", "out", "system"];
const STATUSES: readonly DeliveryStatus[] = ["none", "pending", "queued", "delivered", "failed"];
const WARNINGS: readonly ChatWarning[] = ["none", "identity-changed", "name-moved"];
const SETTERS: readonly TimerSetter[] = ["nobody", "us", "peer"];

function code<T>(list: readonly T[], value: T, what: string): number {
  const i = list.indexOf(value);
  if (i < 0) throw new TypeError(`${what} ${String(value)} is not known`);
  return i;
}

function pick<T>(r: Reader, list: readonly T[], field: string): T {
  const i = r.u8(field);
  if (i >= list.length) r.fail(`${field} ${i} is not known`);
  return list[i];
}

function flag(r: Reader, field: string): boolean {
  const v = r.u8(field);
  if (v > 1) r.fail(`${field} ${v} is not 0 or 1`);
  return v === 1;
}

/** Encodes the contents (version 3; docs/client.md). Secrets included: seal the result. */
export function encodeContents(c: KeystoreContents): Uint8Array {
  if (c.chats.length > MAX_CHATS) throw new RangeError(`a keystore holds at most ${MAX_CHATS} chats`);
  if (c.outbox.length > MAX_OUTBOX) throw new RangeError(`the outgoing queue holds at most ${MAX_OUTBOX}`);
  if (c.blocked.length > MAX_BLOCKED) throw new RangeError(`the block list holds at most ${MAX_BLOCKED}`);
  if (c.settings.size > MAX_SETTINGS) {
    throw new RangeError(`a keystore holds at most ${MAX_SETTINGS} settings`);
  }
  const w = new Writer(1 << 16).u8(CONTENTS_VERSION);
  w.vec16(encodeIdentity(c.identity)).u64(c.createdAt).vec32(c.prekeys.serialize());
  w.u16(c.pins.size);
  for (const [server, pin] of c.pins) w.vec16(utf8(server)).vec16(utf8(pin));
  w.u16(c.registered.size);
  for (const pin of c.registered) w.vec16(utf8(pin));
  w.u16(c.chats.length);
  for (const chat of c.chats) writeChat(w, chat);
  w.u32(c.outbox.length);
  for (const e of c.outbox) {
    checkBytes(e.messageId, "messageId", 16);
    checkBytes(e.peerId, "peerId", ID_BYTES);
    w.bytes(e.messageId).bytes(e.peerId).u8(e.kind === "payload" ? 0 : 1).vec32(e.bytes);
    w.u32(e.textId).u64(e.createdAt).u64(e.expiresAt);
  }
  w.u16(c.blocked.length);
  for (const id of c.blocked) {
    checkBytes(id, "blocked ID", ID_BYTES);
    w.bytes(id);
  }
  w.u16(c.settings.size);
  for (const [name, value] of c.settings) {
    const n = utf8(name), v = utf8(value);
    if (n.length === 0 || n.length > MAX_SETTING_NAME || v.length > MAX_SETTING_VALUE) {
      throw new RangeError(`setting ${name} is too long`);
    }
    w.vec8(n).vec16(v);
  }
  return w.finish();
}

function writeChat(w: Writer, chat: ChatRecord): void {
  checkBytes(chat.peerId, "peerId", ID_BYTES);
  w.bytes(chat.peerId).u8(code(STATES, chat.state, "state")).u8(code(ROLES, chat.role, "role"));
  w.u8(curveId(chat.curve)).vec16(utf8(chat.nickname)).vec16(utf8(chat.peerNickname));
  if (chat.peerIdentity === null) w.u8(0);
  else w.u8(1).vec16(encodeIdentityPublic(chat.peerIdentity));
  if (chat.session === null) w.u8(0);
  else w.u8(1).vec32(chat.session.serialize());
  w.u32(chat.nextTextId).u32(chat.unread).u64(chat.updatedAt);
  w.u16(chat.incoming.length);
  for (const f of chat.incoming) {
    checkBytes(f.fileId, "fileId", 16);
    checkBytes(f.sha256, "sha256", 32);
    w.bytes(f.fileId).vec16(utf8(f.name)).vec16(utf8(f.path)).u64(f.size).bytes(f.sha256);
    w.u64(f.received).u32(f.nextIndex).u8(f.accepted ? 1 : 0);
  }
  if (chat.verified !== null) checkBytes(chat.verified, "verified", 32);
  w.u8(chat.muted ? 1 : 0).vec8(chat.verified ?? new Uint8Array(0)).u8(
    code(WARNINGS, chat.warning, "warning"),
  );
  w.u32(chat.timer).u32(chat.timerEpoch).u8(code(SETTERS, chat.timerBy, "timer setter")).u32(chat.nextSeq);
}

/** Decodes {@link encodeContents}, validating every key; ProtocolError on anything malformed. */
export function decodeContents(bytes: Uint8Array): KeystoreContents {
  const r = new Reader(bytes, "keystore contents");
  const version = r.u8("version");
  if (version < 1 || version > CONTENTS_VERSION) {
    r.fail(`version ${version} is not supported`, "unsupported");
  }
  const identity = decodeIdentity(r.vec16("identity"));
  const createdAt = r.u64("creation time");
  const prekeys = PrekeyStore.deserialize(r.vec32("prekeys", MAX_PREKEY_BYTES));
  const pins = new Map<string, string>();
  const pinCount = r.u16("pin count");
  for (let i = 0; i < pinCount; i++) {
    const server = r.string16("server", MAX_SERVER);
    const pin = r.string16("pin", 64);
    if (!isPin(pin)) r.fail(`the pin for ${server} is not a pin`);
    pins.set(server, pin);
  }
  const registered = new Set<string>();
  const registeredCount = r.u16("registered count");
  for (let i = 0; i < registeredCount; i++) {
    const pin = r.string16("registered pin", 64);
    if (!isPin(pin)) r.fail("a registered relay is not named by a pin");
    registered.add(pin);
  }
  const chatCount = r.u16("chat count");
  if (chatCount > MAX_CHATS) r.fail(`${chatCount} chats, more than ${MAX_CHATS}`);
  const chats: ChatRecord[] = [];
  for (let i = 0; i < chatCount; i++) {
    const chat = readChat(r, version);
    if (chats.some((c) => equalBytes(c.peerId, chat.peerId))) r.fail("a peer has two chats");
    chats.push(chat);
  }
  const outCount = r.u32("outbox count");
  if (outCount > MAX_OUTBOX) r.fail(`${outCount} queued messages, more than ${MAX_OUTBOX}`);
  const outbox: OutboxEntry[] = [];
  for (let i = 0; i < outCount; i++) {
    const messageId = r.bytes(16, "message id"), peerId = r.bytes(ID_BYTES, "peer ID");
    const kind = flag(r, "entry kind") ? "message" : "payload";
    const body = r.vec32("entry", MAX_MESSAGE_BYTES);
    const textId = r.u32("text id"), createdAt = r.u64("time");
    const expiresAt = version >= 3 ? r.u64("expiry") : 0;
    outbox.push({ messageId, peerId, kind, bytes: body, textId, createdAt, expiresAt });
  }
  const blocked: Uint8Array[] = [];
  const blockedCount = version === 1 ? 0 : r.u16("blocked count");
  if (blockedCount > MAX_BLOCKED) r.fail(`${blockedCount} blocked IDs, more than ${MAX_BLOCKED}`);
  for (let i = 0; i < blockedCount; i++) {
    const id = r.bytes(ID_BYTES, "blocked ID");
    if (blocked.some((b) => equalBytes(b, id))) r.fail("an ID is blocked twice");
    blocked.push(id);
  }
  const settings = new Map<string, string>();
  const settingCount = version >= 3 ? r.u16("setting count") : 0;
  if (settingCount > MAX_SETTINGS) r.fail(`${settingCount} settings, more than ${MAX_SETTINGS}`);
  for (let i = 0; i < settingCount; i++) {
    const raw = r.vec8("setting name", MAX_SETTING_NAME);
    const name = new TextDecoder().decode(raw);
    if (!/^[a-z0-9-]+$/.test(name)) r.fail("a setting name is not lowercase letters, digits and hyphens");
    if (settings.has(name)) r.fail(`setting ${name} is there twice`);
    settings.set(name, r.string16("setting value", MAX_SETTING_VALUE));
  }
  r.end();
  return { identity, prekeys, createdAt, pins, registered, chats, outbox, blocked, settings };
}

function readChat(r: Reader, version: number): ChatRecord {
  const peerId = r.bytes(ID_BYTES, "peer ID");
  const state = pick(r, STATES, "chat state"), role = pick(r, ROLES, "chat role");
  const cid = r.u8("curve");
  const curve = curveFromId(cid);
  if (curve === undefined) return r.fail(`curve ${cid} is not supported`, "unsupported");
  const nickname = r.string16("nickname", MAX_NAME), peerNickname = r.string16("peer nickname", MAX_NAME);
  const peerIdentity = flag(r, "peer identity flag") ? decodeIdentityPublic(r.vec16("peer identity")) : null;
  const session = flag(r, "session flag") ? Session.deserialize(r.vec32("session", MAX_SESSION_BYTES)) : null;
  const nextTextId = r.u32("next text id"), unread = r.u32("unread"), updatedAt = r.u64("updated");
  // Versions 1 and 2 kept the last lines of the history here: they are moved to the history file.
  const history: HistoryEntry[] = [];
  const historyCount = version >= 3 ? 0 : r.u16("history count");
  if (historyCount > MAX_HISTORY) r.fail(`${historyCount} history entries, more than ${MAX_HISTORY}`);
  for (let i = 0; i < historyCount; i++) {
    const kind = pick(r, KINDS, "history kind"), status = pick(r, STATUSES, "delivery status");
    const textId = r.u32("text id");
    const messageId = r.vec8("message id", 16);
    if (messageId.length !== 0 && messageId.length !== 16) r.fail("message id is not 16 bytes");
    const time = r.u64("time"), text = r.string16("text", MAX_TEXT);
    history.push(newEntry({ seq: i + 1, kind, status, textId, messageId, time, text }));
  }
  const fileCount = r.u16("incoming file count");
  const incoming: IncomingFile[] = [];
  for (let i = 0; i < fileCount; i++) {
    const fileId = r.bytes(16, "file id");
    const name = r.string16("file name", MAX_NAME), path = r.string16("file path", MAX_PATH);
    const size = r.u64("file size"), sha256 = r.bytes(32, "file hash");
    incoming.push({
      fileId,
      name,
      path,
      size,
      sha256,
      received: r.u64("received"),
      nextIndex: r.u32("index"),
      // Version 1 had no offers waiting for an answer: every transfer it holds was running.
      accepted: version === 1 ? true : flag(r, "accepted flag"),
    });
  }
  let muted = false, verified: Uint8Array | null = null, warning: ChatWarning = "none";
  let timer = 0, timerEpoch = 0, timerBy: TimerSetter = "nobody", nextSeq = historyCount + 1;
  if (version >= 3) {
    muted = flag(r, "muted flag");
    const v = r.vec8("verified", 32);
    if (v.length !== 0 && v.length !== 32) r.fail("a verified mark is 32 bytes");
    verified = v.length === 32 ? v : null;
    warning = pick(r, WARNINGS, "warning");
    timer = r.u32("timer");
    timerEpoch = r.u32("timer epoch");
    timerBy = pick(r, SETTERS, "timer setter");
    nextSeq = r.u32("next line");
    if (nextSeq === 0) r.fail("line numbers start at 1");
  }
  return {
    peerId,
    state,
    role,
    curve,
    nickname,
    peerNickname,
    peerIdentity,
    session,
    nextTextId,
    unread,
    updatedAt,
    history,
    incoming,
    verified,
    warning,
    muted,
    timer,
    timerEpoch,
    timerBy,
    nextSeq,
  };
}

// ---- sealing -----------------------------------------------------------------------------------------

/** The KDF parameters a sealed keystore records in its header. */
export interface KdfParams {
  iterations: number;
  salt: Uint8Array;
}

/**
 * The key a passphrase gives for one set of KDF parameters: derived once (the slow part), then used for
 * every write. {@link KeystoreKey.wipe} when done.
 */
export class KeystoreKey {
  readonly params: KdfParams;
  readonly #key: Uint8Array;
  readonly #check: Uint8Array;
  readonly #history: Uint8Array;

  private constructor(params: KdfParams, key: Uint8Array, check: Uint8Array, history: Uint8Array) {
    this.params = params;
    this.#key = key;
    this.#check = check;
    this.#history = history;
  }

  /**
   * The secret the history files are keyed from (protocol/history.ts historyKeys): HKDF-Expand(SHA-512,
   * master, "sotto history key v1", 32), so only the passphrase opens them too. A copy.
   */
  historySecret(): Uint8Array {
    return this.#history.slice();
  }

  /**
   * master = PBKDF2-HMAC-SHA-512(NFC(passphrase), salt, iterations, 64); the sealing key and the check
   * value are HKDF-Expand(SHA-512, master, "sotto keystore key v1" / "sotto keystore check v1").
   */
  static derive(passphrase: string, params: KdfParams): KeystoreKey {
    checkPassphrase(passphrase);
    checkParams(params);
    const secret = utf8(passphrase.normalize("NFC"));
    const master = pbkdf2("SHA-512", secret, params.salt, params.iterations, 64);
    const key = hkdfExpand("SHA-512", master, INFO_KEY, 32);
    const check = hkdfExpand("SHA-512", master, INFO_CHECK, CHECK_BYTES);
    const history = hkdfExpand("SHA-512", master, INFO_HISTORY, 32);
    wipe(secret, master);
    return new KeystoreKey({ iterations: params.iterations, salt: params.salt.slice() }, key, check, history);
  }

  /** A key with fresh parameters for a new keystore (a random salt, DEFAULT_ITERATIONS unless given). */
  static create(
    passphrase: string,
    options: { iterations?: number; random?: RandomSource } = {},
  ): KeystoreKey {
    const random = options.random ?? systemRandom;
    return KeystoreKey.derive(passphrase, {
      iterations: options.iterations ?? DEFAULT_ITERATIONS,
      salt: random(SALT_BYTES),
    });
  }

  /** Seals `plaintext` under this key with a fresh random nonce: the whole keystore file. */
  seal(plaintext: Uint8Array, random: RandomSource = systemRandom): Uint8Array {
    checkBytes(plaintext, "plaintext");
    const nonce = random(NONCE_BYTES);
    checkBytes(nonce, "random(24) result", NONCE_BYTES);
    const header = writeHeader(this.params, this.#check, nonce);
    return concatBytes(header, xchacha20Poly1305Seal(this.#key, nonce, plaintext, header));
  }

  /**
   * Opens a sealed keystore made with these parameters: WrongPassphraseError if its check value is not
   * ours, KeystoreFormatError if it is damaged or altered.
   */
  open(sealed: Uint8Array): Uint8Array {
    const h = readHeader(sealed);
    if (h.params.iterations !== this.params.iterations || !equalBytes(h.params.salt, this.params.salt)) {
      throw new KeystoreFormatError("the keystore was sealed with other KDF parameters than this key's");
    }
    if (!equalBytes(h.check, this.#check)) throw new WrongPassphraseError();
    try {
      return xchacha20Poly1305Open(
        this.#key,
        h.nonce,
        sealed.subarray(h.length),
        sealed.subarray(0, h.length),
      );
    } catch (e) {
      if (e instanceof AuthenticationError) {
        throw new KeystoreFormatError(
          "The keystore file is damaged or was altered: it does not authenticate under this passphrase.",
        );
      }
      throw e;
    }
  }

  /** Overwrites the key material. */
  wipe(): void {
    wipe(this.#key, this.#check, this.#history);
  }
}

function checkPassphrase(passphrase: unknown): asserts passphrase is string {
  if (typeof passphrase !== "string") throw new TypeError("passphrase must be a string");
  if (passphrase.length === 0) throw new RangeError("passphrase must not be empty");
}

function checkParams(params: KdfParams): void {
  if (typeof params !== "object" || params === null) throw new TypeError("params must be an object");
  if (typeof params.iterations !== "number" || !Number.isSafeInteger(params.iterations)) {
    throw new TypeError("params.iterations must be an integer");
  }
  if (params.iterations < MIN_ITERATIONS || params.iterations > PBKDF2_MAX_ITERATIONS) {
    throw new RangeError(`params.iterations must be in [${MIN_ITERATIONS}, ${PBKDF2_MAX_ITERATIONS}]`);
  }
  checkBytes(params.salt, "params.salt");
  if (params.salt.length < 16 || params.salt.length > 64) {
    throw new RangeError(`params.salt must be 16 to 64 bytes long, got ${params.salt.length}`);
  }
}

/** The sealed header: magic ‖ version ‖ kdf ‖ u32 iterations ‖ vec8 salt ‖ check(16) ‖ aead ‖ nonce(24). */
function writeHeader(params: KdfParams, check: Uint8Array, nonce: Uint8Array): Uint8Array {
  return new Writer(128).bytes(KEYSTORE_MAGIC).u8(KEYSTORE_VERSION).u8(KDF_PBKDF2_SHA512)
    .u32(params.iterations).vec8(params.salt).bytes(check).u8(AEAD_XCHACHA20_POLY1305).bytes(nonce)
    .finish();
}

interface Header {
  params: KdfParams;
  check: Uint8Array;
  nonce: Uint8Array;
  /** Header bytes (the associated data); the ciphertext follows. */
  length: number;
}

function readHeader(sealed: Uint8Array): Header {
  checkBytes(sealed, "sealed");
  const r = new Reader(sealed, "keystore");
  try {
    const magic = r.bytes(KEYSTORE_MAGIC.length, "magic");
    if (!equalBytes(magic, KEYSTORE_MAGIC)) r.fail("this is not a sotto keystore");
    const version = r.u8("version");
    if (version !== KEYSTORE_VERSION) r.fail(`version ${version} is newer than this client`, "unsupported");
    const kdf = r.u8("KDF");
    if (kdf !== KDF_PBKDF2_SHA512) r.fail(`KDF ${kdf} is not supported`, "unsupported");
    const iterations = r.u32("iterations");
    if (iterations < MIN_ITERATIONS || iterations > PBKDF2_MAX_ITERATIONS) {
      r.fail(`${iterations} iterations is outside [${MIN_ITERATIONS}, ${PBKDF2_MAX_ITERATIONS}]`);
    }
    const salt = r.vec8("salt", 64);
    if (salt.length < 16) r.fail(`a salt of ${salt.length} bytes is too short`);
    const check = r.bytes(CHECK_BYTES, "check value");
    const aead = r.u8("cipher");
    if (aead !== AEAD_XCHACHA20_POLY1305) r.fail(`cipher ${aead} is not supported`, "unsupported");
    const nonce = r.bytes(NONCE_BYTES, "nonce");
    if (r.remaining < 16) r.fail("the ciphertext is truncated");
    return { params: { iterations, salt }, check, nonce, length: sealed.length - r.remaining };
  } catch (e) {
    if (e instanceof ProtocolError) {
      throw new KeystoreFormatError(`The keystore file is not usable: ${e.message}.`, { cause: e });
    }
    throw e;
  }
}

/** The KDF parameters of a sealed keystore (to derive its key); KeystoreFormatError if it is not one. */
export function keystoreParams(sealed: Uint8Array): KdfParams {
  return readHeader(sealed).params;
}

/** Seals contents: encode, then {@link KeystoreKey.seal}. */
export function sealKeystore(
  key: KeystoreKey,
  contents: KeystoreContents,
  random: RandomSource = systemRandom,
): Uint8Array {
  const plain = encodeContents(contents);
  try {
    return key.seal(plain, random);
  } finally {
    wipe(plain);
  }
}

/**
 * Opens a sealed keystore with its passphrase: derives the key (the slow part; keep the returned key for
 * later writes) and decodes the contents. WrongPassphraseError for a wrong passphrase, KeystoreFormatError
 * for a damaged, altered or unsupported file.
 */
export function unlockKeystore(
  passphrase: string,
  sealed: Uint8Array,
): { key: KeystoreKey; contents: KeystoreContents } {
  const key = KeystoreKey.derive(passphrase, keystoreParams(sealed));
  try {
    return { key, contents: openKeystore(key, sealed) };
  } catch (e) {
    key.wipe();
    throw e;
  }
}

/** Opens and decodes a sealed keystore with a key already derived for its parameters. */
export function openKeystore(key: KeystoreKey, sealed: Uint8Array): KeystoreContents {
  const plain = key.open(sealed);
  try {
    return decodeContents(plain);
  } catch (e) {
    if (e instanceof ProtocolError) {
      throw new KeystoreFormatError(`The keystore's contents are not usable: ${e.message}.`, { cause: e });
    }
    throw e;
  } finally {
    wipe(plain);
  }
}
