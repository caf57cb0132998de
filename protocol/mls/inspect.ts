// What anyone can read of an MLSMessage without keys (RFC 9420 §6): the delivery service orders and routes
// handshake messages by these fields, and a client finds which of its KeyPackages a Welcome is for. The
// decoding is the strict one of messages.ts (so a message that passes here is well formed), but nothing
// here authenticates anything: a relay must treat these values as claims.
//
// For the relay, two more: `inspectHandshake` reads a PublicMessage proposal or commit far enough to keep
// the group's membership (who is added with which KeyPackage, which leaves are removed, which proposals a
// commit takes by reference), and `checkKeyPackage` validates a KeyPackage on its own (RFC 9420 §10.1 with
// sotto's credential policy) and names the member it is for.

import { MlsError } from "./errors.ts";
import {
  ContentType,
  type ContentTypeValue,
  decodeMlsMessage,
  encodeAuthenticatedContent,
  type KeyPackage,
  type Proposal,
  ProposalType,
  SenderType,
  WireFormat,
  writeKeyPackage,
} from "./messages.ts";
import { encodeWith } from "./codec.ts";
import { type CipherSuite, getSuite } from "./suite.ts";
import { memberId, sottoCredentialPolicy } from "./credential.ts";
import { validateKeyPackage } from "./leafnode.ts";

export type MessageSummary =
  | {
    readonly wireFormat: "public" | "private";
    readonly groupId: Uint8Array;
    readonly epoch: bigint;
    readonly contentType: "application" | "proposal" | "commit";
    /** A PublicMessage's sender leaf (PrivateMessages encrypt it). */
    readonly senderLeaf?: number;
  }
  | {
    readonly wireFormat: "welcome";
    readonly cipherSuite: number;
    /** The KeyPackageRefs of the new members the Welcome is for. */
    readonly keyPackageRefs: readonly Uint8Array[];
  }
  | { readonly wireFormat: "group-info"; readonly groupId: Uint8Array; readonly epoch: bigint }
  | { readonly wireFormat: "key-package"; readonly cipherSuite: number; readonly keyPackageRef?: Uint8Array };

const CONTENT: Record<ContentTypeValue, "application" | "proposal" | "commit"> = {
  [ContentType.Application]: "application",
  [ContentType.Proposal]: "proposal",
  [ContentType.Commit]: "commit",
};

/** The clear fields of an MLSMessage; MlsError("malformed" or "unsupported") if it is not one. */
export function inspectMessage(bytes: Uint8Array): MessageSummary {
  const m = decodeMlsMessage(bytes);
  switch (m.wireFormat) {
    case WireFormat.PublicMessage: {
      const c = m.publicMessage.content;
      return {
        wireFormat: "public",
        groupId: c.groupId,
        epoch: c.epoch,
        contentType: CONTENT[c.content.type],
        ...(c.sender.type === SenderType.Member ? { senderLeaf: c.sender.leafIndex } : {}),
      };
    }
    case WireFormat.PrivateMessage: {
      const p = m.privateMessage;
      return {
        wireFormat: "private",
        groupId: p.groupId,
        epoch: p.epoch,
        contentType: CONTENT[p.contentType],
      };
    }
    case WireFormat.Welcome:
      return {
        wireFormat: "welcome",
        cipherSuite: m.welcome.cipherSuite,
        keyPackageRefs: m.welcome.secrets.map((s) => s.newMember),
      };
    case WireFormat.GroupInfo:
      return {
        wireFormat: "group-info",
        groupId: m.groupInfo.groupContext.groupId,
        epoch: m.groupInfo.groupContext.epoch,
      };
    case WireFormat.KeyPackage: {
      let keyPackageRef: Uint8Array | undefined;
      try {
        keyPackageRef = getSuite(m.keyPackage.cipherSuite).keyPackageRef(
          encodeWith((w) => writeKeyPackage(w, m.keyPackage)),
        );
      } catch (e) {
        if (!(e instanceof MlsError)) throw e;
      }
      return {
        wireFormat: "key-package",
        cipherSuite: m.keyPackage.cipherSuite,
        ...(keyPackageRef ? { keyPackageRef } : {}),
      };
    }
  }
}

/** A proposal as the relay sees it in a PublicMessage: enough to follow the group's membership. */
export type ProposalSummary =
  /** A proposal a commit takes by reference (RFC 9420 §12.4): its ProposalRef. */
  | { readonly kind: "ref"; readonly ref: Uint8Array }
  /** An Add: the sotto ID of the KeyPackage's credential and the KeyPackageRef under the group's suite. */
  | { readonly kind: "add"; readonly memberId: Uint8Array; readonly keyPackageRef: Uint8Array }
  | { readonly kind: "remove"; readonly leaf: number }
  | { readonly kind: "update" | "psk" | "reinit" | "external-init" | "group-context-extensions" };

/** What `inspectHandshake` reads of a member's PublicMessage proposal or commit. */
export interface HandshakeSummary {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly senderLeaf: number;
  readonly contentType: "proposal" | "commit";
  /** For a proposal: its ProposalRef (RefHash of its AuthenticatedContent, §5.2), as a commit names it. */
  readonly proposalRef?: Uint8Array;
  /** The proposal (one, for a proposal message) or the commit's proposals, in order. */
  readonly proposals: readonly ProposalSummary[];
  /** A commit with an UpdatePath. */
  readonly path: boolean;
}

const SIMPLE_KINDS: Record<
  number,
  "update" | "psk" | "reinit" | "external-init" | "group-context-extensions"
> = {
  [ProposalType.Update]: "update",
  [ProposalType.Psk]: "psk",
  [ProposalType.ReInit]: "reinit",
  [ProposalType.ExternalInit]: "external-init",
  [ProposalType.GroupContextExtensions]: "group-context-extensions",
};

function summarise(suite: CipherSuite, p: Proposal): ProposalSummary {
  if (p.type === ProposalType.Add) return summariseAdd(suite, p.keyPackage);
  if (p.type === ProposalType.Remove) return { kind: "remove", leaf: p.removed };
  return { kind: SIMPLE_KINDS[p.type] };
}

function summariseAdd(suite: CipherSuite, kp: KeyPackage): ProposalSummary {
  return {
    kind: "add",
    memberId: memberId(kp.leafNode.credential),
    keyPackageRef: suite.keyPackageRef(encodeWith((w) => writeKeyPackage(w, kp))),
  };
}

/**
 * Reads a member's PublicMessage proposal or commit in a group of suite `suiteId` (nothing is verified: no
 * signature, no membership tag). MlsError "malformed" for bytes that do not decode, "unsupported" for any
 * other wire format or content type, "unknown-sender" for a sender that is not a member, and
 * "invalid-credential" for an Add whose credential is not a sotto identity.
 */
export function inspectHandshake(bytes: Uint8Array, suiteId: number): HandshakeSummary {
  const suite = getSuite(suiteId);
  const m = decodeMlsMessage(bytes);
  if (m.wireFormat !== WireFormat.PublicMessage) {
    throw new MlsError("unsupported", "a handshake message for the relay must be a PublicMessage");
  }
  const { content, auth } = m.publicMessage;
  if (content.sender.type !== SenderType.Member) {
    throw new MlsError("unknown-sender", "only members may send proposals and commits");
  }
  const base = { groupId: content.groupId, epoch: content.epoch, senderLeaf: content.sender.leafIndex };
  const body = content.content;
  if (body.type === ContentType.Proposal) {
    const proposalRef = suite.proposalRef(
      encodeAuthenticatedContent({ wireFormat: WireFormat.PublicMessage, content, auth }),
    );
    return {
      ...base,
      contentType: "proposal",
      proposalRef,
      proposals: [summarise(suite, body.proposal)],
      path: false,
    };
  }
  if (body.type === ContentType.Commit) {
    const proposals = body.commit.proposals.map((p): ProposalSummary =>
      p.type === 2 ? { kind: "ref", ref: p.ref } : summarise(suite, p.proposal)
    );
    return { ...base, contentType: "commit", proposals, path: body.commit.path !== undefined };
  }
  throw new MlsError("unsupported", "application data must be a PrivateMessage");
}

/**
 * Validates a KeyPackage (an MLSMessage) on its own, as RFC 9420 §10.1 and sotto's credential policy ask:
 * version, a suite of this implementation, valid keys, the leaf node and its signature, the credential (a
 * sotto identity whose signing key on the suite's curve is the leaf's), the KeyPackage's signature; and
 * its lifetime when `now` (Unix seconds) is given. Returns its suite, KeyPackageRef and member's sotto ID.
 */
export function checkKeyPackage(
  bytes: Uint8Array,
  options: { now?: bigint; maxLifetime?: bigint } = {},
): { cipherSuite: number; keyPackageRef: Uint8Array; memberId: Uint8Array } {
  const m = decodeMlsMessage(bytes);
  if (m.wireFormat !== WireFormat.KeyPackage) {
    throw new MlsError("invalid-key-package", "the message is not a KeyPackage");
  }
  const kp = m.keyPackage;
  const suite = getSuite(kp.cipherSuite);
  validateKeyPackage(
    {
      suite,
      policy: sottoCredentialPolicy,
      groupExtensions: [],
      now: options.now,
      maxLifetime: options.maxLifetime,
    },
    kp,
  );
  const summary = summariseAdd(suite, kp) as Extract<ProposalSummary, { kind: "add" }>;
  return { cipherSuite: suite.id, keyPackageRef: summary.keyPackageRef, memberId: summary.memberId };
}
