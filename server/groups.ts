// The relay's rules as the delivery service of MLS groups (RFC 9420 §14), as pure functions over the group
// record the store keeps: who may propose and commit what, which commit wins an epoch, and how a commit
// changes the membership (which leaf each added member takes, who leaves). The relay reads handshake
// messages with protocol/mls's inspectHandshake (they are PublicMessages: signed, not encrypted) and
// decides here; the store applies a decision in the same transaction as it logs the message.
// Rules in words: docs/protocol.md, "Groups: the relay as delivery service".

import { bytesToHex, equalBytes } from "../crypto/bytes.ts";
import {
  type HandshakeSummary,
  inspectMessage,
  MlsError,
  type ProposalSummary,
} from "../protocol/mls/mod.ts";
import type { GroupResultCode, ResultCode } from "../protocol/wire.ts";

/** A member as the relay records it. */
export interface MemberRecord {
  id: Uint8Array;
  /** Its leaf index in the group's ratchet tree. */
  leaf: number;
  /** Set once it proposed its own removal: the seq of that proposal, the last entry it receives. */
  end: number | null;
}

/** A proposal of the current epoch the relay logged (RFC 9420 §12.1), as far as membership goes. */
export interface ProposalRecord {
  ref: Uint8Array;
  /** The proposer's leaf. */
  sender: number;
  kind: ProposalSummary["kind"];
  /** Remove: the leaf removed. */
  leaf?: number;
  /** Add: the member added and its KeyPackageRef. */
  memberId?: Uint8Array;
  keyPackageRef?: Uint8Array;
}

/** A member removed (or gone after leaving) that is still owed the log up to `end` (its removal). */
export interface DepartedRecord {
  id: Uint8Array;
  end: number;
}

/** The relay's record of a group (docs/store.md, ["group", id]). */
export interface GroupRecord {
  /** The group ID (16 or 32 random bytes, the MLS group_id). */
  id: Uint8Array;
  /** The MLS cipher suite (2, 5 or 7). */
  suite: number;
  creator: Uint8Array;
  createdAt: number;
  /** The current epoch: commits for it are taken, the first one wins. */
  epoch: number;
  members: MemberRecord[];
  /** Members the creator named admins (the creator is always one). */
  admins: Uint8Array[];
  departed: DepartedRecord[];
  /** Proposals logged in the current epoch; a commit may take them by reference. */
  proposals: ProposalRecord[];
}

/** An accepted invitation: `invitee` agreed to be added by `inviter` with the KeyPackage of `keyPackageRef`. */
export interface Grant {
  inviter: Uint8Array;
  keyPackageRef: Uint8Array;
  expiresAt: number;
}

/** Proposals the relay logs per epoch at most (a commit takes them all at once). */
export const MAX_EPOCH_PROPOSALS = 64;

/** Why a handshake message is refused: a code of the Refused frame and one sentence. */
export interface Refusal {
  refuse: ResultCode & (GroupResultCode | "limit" | "bad-request");
  detail: string;
}

/** What an accepted commit changes. */
export interface CommitOutcome {
  record: GroupRecord;
  /** Members added, with their leaves: they receive the Welcome at this commit's seq. */
  added: MemberRecord[];
  /** Members removed: they receive up to this commit, then nothing. */
  removed: MemberRecord[];
  /** Invitees whose accepted invitations this commit used up. */
  granted: Uint8Array[];
}

function refuse(code: Refusal["refuse"], detail: string): Refusal {
  return { refuse: code, detail };
}

/** The member record of `id`, if it is a member. */
export function memberOf(record: GroupRecord, id: Uint8Array): MemberRecord | undefined {
  return record.members.find((m) => equalBytes(m.id, id));
}

/** True if `id` is the creator or an admin the creator named. */
export function isAdmin(record: GroupRecord, id: Uint8Array): boolean {
  return equalBytes(record.creator, id) || record.admins.some((a) => equalBytes(a, id));
}

/** The last seq `id` receives of the group (null: no end), or undefined if it receives nothing more. */
export function endOf(record: GroupRecord, id: Uint8Array): number | null | undefined {
  const m = memberOf(record, id);
  if (m !== undefined) return m.end;
  return record.departed.find((d) => equalBytes(d.id, id))?.end;
}

/** The sending member, if `user` may send to the group in `epoch` as leaf `leaf` (when given). */
function activeSender(
  record: GroupRecord,
  user: Uint8Array,
  leaf?: number,
): MemberRecord | Refusal {
  const m = memberOf(record, user);
  if (m === undefined) return refuse("not-member", "you are not a member of this group");
  if (m.end !== null) return refuse("not-member", "you have left this group");
  if (leaf !== undefined && leaf !== m.leaf) {
    return refuse("bad-mls", `the message's sender is leaf ${leaf}, but yours is ${m.leaf}`);
  }
  return m;
}

function isRefusal(x: unknown): x is Refusal {
  return typeof x === "object" && x !== null && "refuse" in x;
}

function checkEpoch(record: GroupRecord, summary: HandshakeSummary): Refusal | null {
  if (!equalBytes(summary.groupId, record.id)) return refuse("bad-mls", "the message is for another group");
  const epoch = summary.epoch;
  if (epoch !== BigInt(record.epoch)) {
    return refuse("wrong-epoch", `the message is for epoch ${epoch}; the group is at epoch ${record.epoch}`);
  }
  return null;
}

/** Checks an application message (an MLS PrivateMessage) from `user`: a member, not leaving. */
export function checkApplication(record: GroupRecord, user: Uint8Array, body: Uint8Array): Refusal | null {
  const m = activeSender(record, user);
  if (isRefusal(m)) return m;
  let summary;
  try {
    summary = inspectMessage(body);
  } catch (e) {
    if (e instanceof MlsError) return refuse("bad-mls", `the message is not MLS: ${e.message}`);
    throw e;
  }
  if (summary.wireFormat !== "private" || summary.contentType !== "application") {
    return refuse("bad-mls", "an application message must be a PrivateMessage with application data");
  }
  if (!equalBytes(summary.groupId, record.id)) return refuse("bad-mls", "the message is for another group");
  if (summary.epoch > BigInt(record.epoch)) {
    return refuse(
      "wrong-epoch",
      `the message is for epoch ${summary.epoch}; the group is at ${record.epoch}`,
    );
  }
  return null;
}

/**
 * Checks a proposal from `user` and returns the record with it logged, or why it is refused. A Remove of
 * the proposer's own leaf is a leave: the proposer receives nothing after it (`seq`), and the next commit
 * must include it. A Remove of another member needs an admin; an Add needs the invitee's acceptance of
 * this proposer with this KeyPackage (`grants`).
 */
export function checkProposal(
  record: GroupRecord,
  user: Uint8Array,
  summary: HandshakeSummary,
  grants: ReadonlyMap<string, Grant>,
  seq: number,
): GroupRecord | Refusal {
  if (summary.contentType !== "proposal") return refuse("bad-mls", "the message is not a proposal");
  const bad = checkEpoch(record, summary);
  if (bad) return bad;
  const m = activeSender(record, user, summary.senderLeaf);
  if (isRefusal(m)) return m;
  if (record.proposals.length >= MAX_EPOCH_PROPOSALS) {
    return refuse("limit", `at most ${MAX_EPOCH_PROPOSALS} proposals per epoch: commit them first`);
  }
  const p = summary.proposals[0];
  const entry: ProposalRecord = { ref: summary.proposalRef!, sender: m.leaf, kind: p.kind };
  if (record.proposals.some((q) => equalBytes(q.ref, entry.ref))) {
    return refuse("bad-mls", "this proposal was already logged");
  }
  let members = record.members;
  switch (p.kind) {
    case "add": {
      const why = checkAdd(record, user, p, grants);
      if (why) return why;
      if (record.proposals.some((q) => q.kind === "add" && equalBytes(q.memberId!, p.memberId))) {
        return refuse("bad-mls", "an Add of this member is already proposed");
      }
      entry.memberId = p.memberId;
      entry.keyPackageRef = p.keyPackageRef;
      break;
    }
    case "remove": {
      const target = record.members.find((x) => x.leaf === p.leaf);
      if (target === undefined) return refuse("bad-mls", `leaf ${p.leaf} is not a member`);
      if (record.proposals.some((q) => q.kind === "remove" && q.leaf === p.leaf)) {
        return refuse("bad-mls", `a Remove of leaf ${p.leaf} is already proposed`);
      }
      if (p.leaf === m.leaf) {
        members = record.members.map((x) => x === m ? { ...x, end: seq } : x);
      } else if (!isAdmin(record, user)) {
        return refuse("not-admin", "only the creator and its admins may remove members");
      }
      entry.leaf = p.leaf;
      break;
    }
    case "update":
      break;
    case "psk":
    case "group-context-extensions":
      if (!isAdmin(record, user)) return refuse("not-admin", "only the creator and its admins may do this");
      break;
    default:
      return refuse("bad-mls", `${p.kind} proposals are not allowed`);
  }
  return { ...record, members, proposals: [...record.proposals, entry] };
}

function checkAdd(
  record: GroupRecord,
  adder: Uint8Array,
  p: Extract<ProposalSummary, { kind: "add" }>,
  grants: ReadonlyMap<string, Grant>,
): Refusal | null {
  const g = grants.get(bytesToHex(p.memberId));
  if (g === undefined || !equalBytes(g.inviter, adder) || !equalBytes(g.keyPackageRef, p.keyPackageRef)) {
    return refuse(
      "no-consent",
      "that member has not accepted your invitation with this KeyPackage (or the acceptance lapsed)",
    );
  }
  if (memberOf(record, p.memberId) !== undefined) {
    return refuse("bad-mls", "that member is already in the group");
  }
  return null;
}

/** The IDs whose acceptances a proposal or commit needs (its Adds by value). */
export function invitees(summary: HandshakeSummary): Uint8Array[] {
  return summary.proposals.flatMap((p) => p.kind === "add" ? [p.memberId] : []);
}

/**
 * Checks a commit from `user` for the group's epoch and returns what it changes, or why it is refused.
 * `welcome` is the Welcome sent with it (null if none); `seq` the log position it would take. The commit
 * must take by reference every pending Remove (leaves and admins' removals), may take any other logged
 * proposal, and by value may Add members who accepted the committer's invitation, Remove members (admins
 * only) and change group settings (admins only). Adds take the leftmost free leaves after the removals, as
 * RFC 9420 §12.1.1 places them.
 */
export function checkCommit(
  record: GroupRecord,
  user: Uint8Array,
  summary: HandshakeSummary,
  welcome: Uint8Array | null,
  grants: ReadonlyMap<string, Grant>,
  seq: number,
  maxMembers: number,
): CommitOutcome | Refusal {
  if (summary.contentType !== "commit") return refuse("bad-mls", "the message is not a commit");
  const bad = checkEpoch(record, summary);
  if (bad) return bad;
  const m = activeSender(record, user, summary.senderLeaf);
  if (isRefusal(m)) return m;
  const admin = isAdmin(record, user);

  // Resolve references; collect what the commit does.
  const removes: number[] = [];
  const adds: { memberId: Uint8Array; keyPackageRef: Uint8Array }[] = [];
  const used = new Set<string>();
  let pathRequired = summary.proposals.length === 0;
  for (const p of summary.proposals) {
    if (p.kind === "ref") {
      const key = bytesToHex(p.ref);
      const q = record.proposals.find((x) => bytesToHex(x.ref) === key);
      if (q === undefined) return refuse("bad-mls", "the commit refers to a proposal the relay did not log");
      if (used.has(key)) return refuse("bad-mls", "the commit refers to one proposal twice");
      used.add(key);
      if (q.kind === "remove") removes.push(q.leaf!);
      if (q.kind === "add") adds.push({ memberId: q.memberId!, keyPackageRef: q.keyPackageRef! });
      if (q.kind !== "add" && q.kind !== "psk") pathRequired = true;
      continue;
    }
    switch (p.kind) {
      case "add": {
        const why = checkAdd(record, user, p, grants);
        if (why) return why;
        adds.push({ memberId: p.memberId, keyPackageRef: p.keyPackageRef });
        break;
      }
      case "remove":
        if (p.leaf === m.leaf) return refuse("bad-mls", "a member cannot commit its own removal");
        if (!record.members.some((x) => x.leaf === p.leaf)) {
          return refuse("bad-mls", `leaf ${p.leaf} is not a member`);
        }
        if (!admin) return refuse("not-admin", "only the creator and its admins may remove members");
        removes.push(p.leaf);
        pathRequired = true;
        break;
      case "psk":
      case "group-context-extensions":
        if (!admin) return refuse("not-admin", "only the creator and its admins may do this");
        pathRequired ||= p.kind === "group-context-extensions";
        break;
      default:
        return refuse("bad-mls", `a commit may not carry ${p.kind} proposals by value`);
    }
  }
  if (pathRequired && !summary.path) return refuse("bad-mls", "the commit needs an UpdatePath");
  for (const q of record.proposals) {
    if (q.kind === "remove" && !used.has(bytesToHex(q.ref))) {
      return refuse("missing-proposals", `the commit must include the pending Remove of leaf ${q.leaf}`);
    }
  }
  if (new Set(removes).size !== removes.length) return refuse("bad-mls", "the commit removes a leaf twice");
  if (removes.includes(m.leaf)) return refuse("bad-mls", "a member cannot commit its own removal");

  // Apply: removes, then adds in order at the leftmost free leaves.
  const removed = record.members.filter((x) => removes.includes(x.leaf));
  const staying = record.members.filter((x) => !removes.includes(x.leaf));
  const taken = new Set(staying.map((x) => x.leaf));
  const added: MemberRecord[] = [];
  const seen = new Set<string>();
  for (const a of adds) {
    const key = bytesToHex(a.memberId);
    if (seen.has(key)) return refuse("bad-mls", "the commit adds one member twice");
    seen.add(key);
    if (staying.some((x) => equalBytes(x.id, a.memberId))) {
      return refuse("bad-mls", "the commit adds a member already in the group");
    }
    let leaf = 0;
    while (taken.has(leaf)) leaf++;
    taken.add(leaf);
    added.push({ id: a.memberId, leaf, end: null });
  }
  const members = [...staying, ...added].sort((a, b) => a.leaf - b.leaf);
  if (members.length > maxMembers) return refuse("limit", `a group has at most ${maxMembers} members`);
  const why = checkWelcome(record, adds.map((a) => a.keyPackageRef), welcome);
  if (why) return why;

  const addedKeys = new Set(added.map((a) => bytesToHex(a.id)));
  const gone = removed.filter((x) => !addedKeys.has(bytesToHex(x.id)));
  const goneKeys = new Set(gone.map((x) => bytesToHex(x.id)));
  return {
    record: {
      ...record,
      epoch: record.epoch + 1,
      members,
      admins: record.admins.filter((a) => !goneKeys.has(bytesToHex(a))),
      departed: [
        ...record.departed.filter((d) => !addedKeys.has(bytesToHex(d.id)) && !goneKeys.has(bytesToHex(d.id))),
        // A member that had left stops at its proposal; one removed now receives this commit.
        ...gone.map((x) => ({ id: x.id, end: x.end ?? seq })),
      ],
      proposals: [],
    },
    added,
    removed: gone,
    granted: added.map((a) => a.id),
  };
}

/** The Welcome must be there exactly when members are added, of the group's suite, for exactly them. */
function checkWelcome(record: GroupRecord, refs: Uint8Array[], welcome: Uint8Array | null): Refusal | null {
  if (refs.length === 0) {
    return welcome === null
      ? null
      : refuse("bad-mls", "a Welcome comes only with a commit that adds members");
  }
  if (welcome === null) return refuse("bad-mls", "a commit that adds members needs its Welcome");
  let w;
  try {
    w = inspectMessage(welcome);
  } catch (e) {
    if (e instanceof MlsError) return refuse("bad-mls", `the Welcome is not MLS: ${e.message}`);
    throw e;
  }
  if (w.wireFormat !== "welcome" || w.cipherSuite !== record.suite) {
    return refuse("bad-mls", "the Welcome is not a Welcome of the group's cipher suite");
  }
  const want = new Set(refs.map(bytesToHex));
  const got = new Set(w.keyPackageRefs.map(bytesToHex));
  if (got.size !== w.keyPackageRefs.length || got.size !== want.size || [...want].some((r) => !got.has(r))) {
    return refuse("bad-mls", "the Welcome is not for exactly the members the commit adds");
  }
  return null;
}

/** The record after the creator names (or un-names) `member` an admin; a Refusal if not allowed. */
export function setAdmin(
  record: GroupRecord,
  user: Uint8Array,
  member: Uint8Array,
  admin: boolean,
): GroupRecord | Refusal {
  const m = activeSender(record, user);
  if (isRefusal(m)) return m;
  if (!equalBytes(record.creator, user)) return refuse("not-admin", "only the creator names admins");
  if (memberOf(record, member) === undefined) return refuse("bad-request", "that ID is not a member");
  if (equalBytes(member, record.creator)) return refuse("bad-request", "the creator is always an admin");
  const admins = record.admins.filter((a) => !equalBytes(a, member));
  if (admin) admins.push(member);
  return { ...record, admins };
}
