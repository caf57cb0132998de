// What a client keeps of its groups, as bytes (docs/client.md, "Group files"): one record per group (its
// name, creator and admins, the MLS state, the last log entry handled, what waits to be sent, the commit
// it means to make, the history and the files offered to it) and one record of the invitations received.
// Each is sealed by the client with the keystore's key into its own file (client/groupdisk.ts), so a
// message to one group rewrites that group's file, not every group's. Pure: no files, no clock.

import { checkBytes, utf8 } from "../crypto/bytes.ts";
import { ProtocolError, Reader, Writer } from "./codec.ts";
import { ID_BYTES } from "./identity.ts";

/**
 * The first bytes of a group record's and of the invitations record's plaintext. A group record of v1 (before
 * the periodic self-update) is read too: it has no update flag, last update or count of messages since.
 */
const GROUP_MAGIC = utf8("sotto group v2");
const GROUP_MAGIC_V1 = utf8("sotto group v1");
const INVITES_MAGIC = utf8("sotto invitations v1");

/** Most history lines a group keeps (as a 1:1 chat). */
export const MAX_GROUP_HISTORY = 200;
/** Most entries waiting to be sent in one group. */
export const MAX_GROUP_OUTBOX = 1024;
/** Most invitations kept; the oldest go first. */
export const MAX_INVITATIONS = 100;
/** Most people invited and not yet added, per group. */
export const MAX_INVITED = 100;
/** Most files offered to a group waiting for an answer or running. */
export const MAX_GROUP_INCOMING = 8;
/** Most bytes of small files a group holds (sealed, in its record) until they are accepted. */
export const MAX_HELD_BYTES = 2 * 1024 * 1024;

const MAX_TEXT = 32704;
const MAX_NAME = 255;
const MAX_MLS_STATE = 16 << 20;
const MAX_OUT_BYTES = 512 * 1024;
const MAX_KEY_PACKAGE = 16 * 1024;
const MAX_PATH = 4096;
const MAX_MEMBERS = 1024;

/** Where a group stands for us. */
export type GroupStatus = "creating" | "active" | "left" | "removed";
const STATUSES: readonly GroupStatus[] = ["creating", "active", "left", "removed"];

/** A history line of a group. */
export interface GroupLine {
  kind: "in" | "out" | "system";
  /** Ours: "pending" (here), "queued" (logged by the relay), "failed"; others "none". */
  status: "none" | "pending" | "queued" | "failed";
  /** The text's id (the sender's number; 0 for system lines). */
  textId: number;
  /** The sender of an "in" line (20 bytes), else empty. */
  sender: Uint8Array;
  time: number;
  text: string;
}
const LINE_KINDS = ["in", "out", "system"] as const;
const LINE_STATUSES = ["none", "pending", "queued", "failed"] as const;

/** Something of ours waiting for the relay. */
export interface GroupOutgoing {
  /** The relay message id (16 random bytes), the same on every retry. */
  messageId: Uint8Array;
  /**
   * "payload": a group payload not yet encrypted (proposals are pending, or a commit of ours is in flight);
   * "message": an MLS application message; "commit": our commit (with `welcome` when it adds someone);
   * "leave": the proposal of our own removal.
   */
  kind: "payload" | "message" | "commit" | "leave";
  bytes: Uint8Array;
  welcome: Uint8Array | null;
  /** The epoch it was made in (0 for a payload). */
  epoch: number;
  /** The text id it carries (0 if none). */
  textId: number;
  createdAt: number;
}
const OUT_KINDS = ["payload", "message", "commit", "leave"] as const;

/** A file offered to the group by a member. */
export interface GroupIncomingFile {
  fileId: Uint8Array;
  from: Uint8Array;
  name: string;
  size: number;
  sha256: Uint8Array;
  /** For a file sent as one upload (over 1 MiB): the relay's blob and its key; null for one sent in chunks. */
  blob: { blobId: Uint8Array; key: Uint8Array } | null;
  accepted: boolean;
  /** Chunks: bytes written to the partial file, the next index expected, and whether the end came. */
  received: number;
  nextIndex: number;
  complete: boolean;
  /** Chunks received before the user answered, held here (sealed) until then. */
  held: Uint8Array[];
  /** The partial file, relative to the data folder. */
  path: string;
}

/** A commit we mean to make: members to add (with their KeyPackages) and to remove. */
export interface GroupIntent {
  adds: { id: Uint8Array; keyPackage: Uint8Array }[];
  removes: Uint8Array[];
  /** We asked to leave: our proposal to remove ourselves is to be sent. */
  leave: boolean;
  /** Our leaf keys are due for a refresh: our next commit is made even with nothing else in it. */
  update: boolean;
}

/** Everything a client keeps of one group. */
export interface GroupState {
  groupId: Uint8Array;
  suite: number;
  name: string;
  creator: Uint8Array;
  status: GroupStatus;
  /** MlsGroup.serialize(), or null once we are no longer a member. */
  mls: Uint8Array | null;
  /** The seq of the last log entry handled (0 before any). */
  lastSeq: number;
  /** The creator and the admins it named, as the relay last said. */
  admins: Uint8Array[];
  /** Names members announced for themselves in this group. */
  nicknames: { id: Uint8Array; name: string }[];
  /** People we invited who have not been added yet, and when. */
  invited: { id: Uint8Array; at: number }[];
  intent: GroupIntent;
  outbox: GroupOutgoing[];
  nextTextId: number;
  unread: number;
  updatedAt: number;
  /**
   * When our own last commit (or our joining) refreshed our leaf keys, or a refresh was last refused, and
   * the messages we sent since: the refresh is due at 100 messages or 7 days (client/groups.ts).
   */
  lastUpdate: number;
  sentSinceUpdate: number;
  history: GroupLine[];
  incoming: GroupIncomingFile[];
}

/** An invitation received in a 1:1 chat. */
export interface InvitationRecord {
  groupId: Uint8Array;
  suite: number;
  name: string;
  creator: Uint8Array;
  members: Uint8Array[];
  inviter: Uint8Array;
  receivedAt: number;
  /** Set once we accepted at the relay: the KeyPackage's secrets (encodeKeyPackageBundle), until the Welcome. */
  bundle: Uint8Array | null;
  acceptedAt: number;
}

function pick<T>(r: Reader, list: readonly T[], field: string): T {
  const i = r.u8(field);
  if (i >= list.length) r.fail(`${field} ${i} is not known`);
  return list[i];
}

function code<T>(list: readonly T[], v: T, what: string): number {
  const i = list.indexOf(v);
  if (i < 0) throw new TypeError(`${what} ${String(v)} is not known`);
  return i;
}

function flag(r: Reader, field: string): boolean {
  const v = r.u8(field);
  if (v > 1) r.fail(`${field} ${v} is not 0 or 1`);
  return v === 1;
}

function writeIds(w: Writer, ids: readonly Uint8Array[], what: string): void {
  if (ids.length > MAX_MEMBERS) throw new RangeError(`at most ${MAX_MEMBERS} ${what}`);
  w.u16(ids.length);
  for (const id of ids) {
    checkBytes(id, what, ID_BYTES);
    w.bytes(id);
  }
}

function readIds(r: Reader, what: string): Uint8Array[] {
  const n = r.u16(`${what} count`);
  if (n > MAX_MEMBERS) r.fail(`${n} ${what}, more than ${MAX_MEMBERS}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(r.bytes(ID_BYTES, what));
  return out;
}

function writeOpt(w: Writer, b: Uint8Array | null): void {
  if (b === null) w.u8(0);
  else w.u8(1).vec32(b);
}

function readOpt(r: Reader, field: string, max: number): Uint8Array | null {
  return flag(r, `${field} flag`) ? r.vec32(field, max) : null;
}

/** Encodes a group record (its secrets included: seal the result). */
export function encodeGroupState(g: GroupState): Uint8Array {
  if (g.outbox.length > MAX_GROUP_OUTBOX) throw new RangeError(`at most ${MAX_GROUP_OUTBOX} queued entries`);
  if (g.incoming.length > MAX_GROUP_INCOMING) throw new RangeError(`at most ${MAX_GROUP_INCOMING} files`);
  checkBytes(g.creator, "creator", ID_BYTES);
  const w = new Writer(1 << 16).bytes(GROUP_MAGIC).vec8(g.groupId).u16(g.suite).vec16(utf8(g.name));
  w.bytes(g.creator).u8(code(STATUSES, g.status, "status"));
  writeOpt(w, g.mls);
  w.u64(g.lastSeq);
  writeIds(w, g.admins, "admins");
  w.u16(g.nicknames.length);
  for (const n of g.nicknames) w.bytes(n.id).vec16(utf8(n.name));
  w.u16(g.invited.length);
  for (const i of g.invited) w.bytes(i.id).u64(i.at);
  w.u16(g.intent.adds.length);
  for (const a of g.intent.adds) w.bytes(a.id).vec32(a.keyPackage);
  writeIds(w, g.intent.removes, "removes");
  w.u8(g.intent.leave ? 1 : 0).u8(g.intent.update ? 1 : 0);
  w.u16(g.outbox.length);
  for (const e of g.outbox) {
    checkBytes(e.messageId, "messageId", 16);
    w.bytes(e.messageId).u8(code(OUT_KINDS, e.kind, "kind")).vec32(e.bytes);
    writeOpt(w, e.welcome);
    w.u64(e.epoch).u32(e.textId).u64(e.createdAt);
  }
  w.u32(g.nextTextId).u32(g.unread).u64(g.updatedAt).u64(g.lastUpdate).u32(g.sentSinceUpdate);
  const history = g.history.slice(-MAX_GROUP_HISTORY);
  w.u16(history.length);
  for (const h of history) {
    w.u8(code(LINE_KINDS, h.kind, "kind")).u8(code(LINE_STATUSES, h.status, "status")).u32(h.textId);
    checkBytes(h.sender, "sender", 0, ID_BYTES);
    w.vec8(h.sender).u64(h.time).vec16(utf8(h.text));
  }
  w.u16(g.incoming.length);
  for (const f of g.incoming) {
    w.bytes(f.fileId).bytes(f.from).vec16(utf8(f.name)).u64(f.size).bytes(f.sha256);
    if (f.blob === null) w.u8(0);
    else w.u8(1).bytes(f.blob.blobId).bytes(f.blob.key);
    w.u8(f.accepted ? 1 : 0).u64(f.received).u32(f.nextIndex).u8(f.complete ? 1 : 0);
    w.u16(f.held.length);
    for (const c of f.held) w.vec16(c);
    w.vec16(utf8(f.path));
  }
  return w.finish();
}

/** Decodes {@link encodeGroupState}; ProtocolError on anything malformed. `groupId`: the one expected. */
export function decodeGroupState(bytes: Uint8Array, groupId?: Uint8Array): GroupState {
  const r = new Reader(bytes, "group record");
  const magic = r.bytes(GROUP_MAGIC.length, "magic");
  const v1 = magic.every((b, i) => b === GROUP_MAGIC_V1[i]);
  if (!v1 && !magic.every((b, i) => b === GROUP_MAGIC[i])) {
    r.fail("this is not a group record", "unsupported");
  }
  const id = r.vec8("group id", 32);
  if (groupId && (id.length !== groupId.length || !id.every((b, i) => b === groupId[i]))) {
    r.fail("the record is another group's");
  }
  const suite = r.u16("suite");
  const name = r.string16("name", MAX_NAME);
  const creator = r.bytes(ID_BYTES, "creator");
  const status = pick(r, STATUSES, "status");
  const mls = readOpt(r, "MLS state", MAX_MLS_STATE);
  const lastSeq = r.u64("last seq");
  const admins = readIds(r, "admins");
  const nicknames: GroupState["nicknames"] = [];
  const nn = r.u16("nickname count");
  if (nn > MAX_MEMBERS) r.fail(`${nn} nicknames`);
  for (let i = 0; i < nn; i++) {
    nicknames.push({ id: r.bytes(ID_BYTES, "id"), name: r.string16("nickname", 64) });
  }
  const invited: GroupState["invited"] = [];
  const ni = r.u16("invited count");
  if (ni > MAX_INVITED) r.fail(`${ni} invited, more than ${MAX_INVITED}`);
  for (let i = 0; i < ni; i++) invited.push({ id: r.bytes(ID_BYTES, "invited"), at: r.u64("invited at") });
  const adds: GroupIntent["adds"] = [];
  const na = r.u16("add count");
  if (na > MAX_INVITED) r.fail(`${na} adds`);
  for (let i = 0; i < na; i++) {
    adds.push({ id: r.bytes(ID_BYTES, "added"), keyPackage: r.vec32("key package", MAX_KEY_PACKAGE) });
  }
  const removes = readIds(r, "removes");
  const leave = flag(r, "leave"), update = v1 ? false : flag(r, "update");
  const outbox: GroupOutgoing[] = [];
  const no = r.u16("outbox count");
  if (no > MAX_GROUP_OUTBOX) r.fail(`${no} queued entries, more than ${MAX_GROUP_OUTBOX}`);
  for (let i = 0; i < no; i++) {
    const messageId = r.bytes(16, "message id");
    const kind = pick(r, OUT_KINDS, "entry kind");
    const body = r.vec32("entry", MAX_OUT_BYTES);
    const welcome = readOpt(r, "welcome", MAX_OUT_BYTES);
    outbox.push({
      messageId,
      kind,
      bytes: body,
      welcome,
      epoch: r.u64("epoch"),
      textId: r.u32("text id"),
      createdAt: r.u64("time"),
    });
  }
  const nextTextId = r.u32("next text id"), unread = r.u32("unread"), updatedAt = r.u64("updated");
  // A v1 record does not say when our leaf was last refreshed: 0 makes it due, so a commit of ours refreshes
  // it once the link is up (one empty commit per group after the upgrade).
  const lastUpdate = v1 ? 0 : r.u64("last update"), sentSinceUpdate = v1 ? 0 : r.u32("sent since update");
  const history: GroupLine[] = [];
  const nh = r.u16("history count");
  if (nh > MAX_GROUP_HISTORY) r.fail(`${nh} history lines, more than ${MAX_GROUP_HISTORY}`);
  for (let i = 0; i < nh; i++) {
    const kind = pick(r, LINE_KINDS, "line kind"), status = pick(r, LINE_STATUSES, "line status");
    const textId = r.u32("text id");
    const sender = r.vec8("sender", ID_BYTES);
    if (sender.length !== 0 && sender.length !== ID_BYTES) r.fail("a sender is not an ID");
    history.push({ kind, status, textId, sender, time: r.u64("time"), text: r.string16("text", MAX_TEXT) });
  }
  const incoming: GroupIncomingFile[] = [];
  const nf = r.u16("file count");
  if (nf > MAX_GROUP_INCOMING) r.fail(`${nf} files, more than ${MAX_GROUP_INCOMING}`);
  let heldBytes = 0;
  for (let i = 0; i < nf; i++) {
    const fileId = r.bytes(16, "file id"), from = r.bytes(ID_BYTES, "from");
    const fname = r.string16("file name", MAX_NAME), size = r.u64("size"), sha256 = r.bytes(32, "sha256");
    const blob = flag(r, "blob flag")
      ? { blobId: r.bytes(16, "blob id"), key: r.bytes(32, "blob key") }
      : null;
    const accepted = flag(r, "accepted"), received = r.u64("received"), nextIndex = r.u32("next index");
    const complete = flag(r, "complete");
    const held: Uint8Array[] = [];
    const nc = r.u16("held chunks");
    for (let j = 0; j < nc; j++) {
      const c = r.vec16("held chunk");
      heldBytes += c.length;
      if (heldBytes > MAX_HELD_BYTES) r.fail(`more than ${MAX_HELD_BYTES} bytes held`);
      held.push(c);
    }
    const path = r.string16("path", MAX_PATH);
    incoming.push({
      fileId,
      from,
      name: fname,
      size,
      sha256,
      blob,
      accepted,
      received,
      nextIndex,
      complete,
      held,
      path,
    });
  }
  r.end();
  return {
    groupId: id,
    suite,
    name,
    creator,
    status,
    mls,
    lastSeq,
    admins,
    nicknames,
    invited,
    intent: { adds, removes, leave, update },
    outbox,
    nextTextId,
    unread,
    updatedAt,
    lastUpdate,
    sentSinceUpdate,
    history,
    incoming,
  };
}

/** Encodes the invitations received (secrets included: seal the result). */
export function encodeInvitations(list: readonly InvitationRecord[]): Uint8Array {
  if (list.length > MAX_INVITATIONS) throw new RangeError(`at most ${MAX_INVITATIONS} invitations`);
  const w = new Writer(1024).bytes(INVITES_MAGIC).u16(list.length);
  for (const v of list) {
    w.vec8(v.groupId).u16(v.suite).vec16(utf8(v.name)).bytes(v.creator);
    writeIds(w, v.members, "members");
    w.bytes(v.inviter).u64(v.receivedAt);
    if (v.bundle === null) w.u8(0);
    else w.u8(1).vec32(v.bundle);
    w.u64(v.acceptedAt);
  }
  return w.finish();
}

/** Decodes {@link encodeInvitations}. */
export function decodeInvitations(bytes: Uint8Array): InvitationRecord[] {
  const r = new Reader(bytes, "invitations");
  const magic = r.bytes(INVITES_MAGIC.length, "magic");
  if (!magic.every((b, i) => b === INVITES_MAGIC[i])) {
    r.fail("this is not an invitations record", "unsupported");
  }
  const n = r.u16("count");
  if (n > MAX_INVITATIONS) r.fail(`${n} invitations, more than ${MAX_INVITATIONS}`);
  const out: InvitationRecord[] = [];
  for (let i = 0; i < n; i++) {
    const groupId = r.vec8("group id", 32), suite = r.u16("suite"), name = r.string16("name", MAX_NAME);
    const creator = r.bytes(ID_BYTES, "creator"), members = readIds(r, "members");
    const inviter = r.bytes(ID_BYTES, "inviter"), receivedAt = r.u64("received");
    const bundle = flag(r, "bundle flag") ? r.vec32("bundle", MAX_KEY_PACKAGE) : null;
    out.push({
      groupId,
      suite,
      name,
      creator,
      members,
      inviter,
      receivedAt,
      bundle,
      acceptedAt: r.u64("accepted"),
    });
  }
  r.end();
  return out;
}

export { ProtocolError };
