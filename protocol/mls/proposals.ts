// Proposal lists (RFC 9420 §12.1–12.3): validating one proposal when it arrives, validating the list a
// Commit covers (§12.2, for a member's commit), and applying it in the RFC's order — GroupContextExtensions,
// Updates, Removes, Adds, then the PSKs — to a copy of the tree. The same code runs for the committer and
// for every receiver, so a list we would refuse we also never send.
//
// Supported proposal types: Add, Update, Remove, PreSharedKey (external PSKs the application supplies and
// resumption PSKs of this group's recent epochs, usage "application") and GroupContextExtensions. ReInit
// and ExternalInit are refused (sotto neither reinitialises groups nor accepts external joins), as are
// external senders.

import { equalBytes } from "../../crypto/bytes.ts";
import { encodeWith } from "./codec.ts";
import { MlsError } from "./errors.ts";
import {
  checkUniqueTypes,
  type CredentialPolicy,
  type LeafContext,
  requiredCapabilities,
  supportsExtension,
  supportsProposal,
  validateKeyPackage,
  validateLeafNode,
} from "./leafnode.ts";
import {
  type Extension,
  ExtensionType,
  type KeyPackage,
  LeafNodeSource,
  type PreSharedKeyId,
  type Proposal,
  ProposalType,
  PskType,
  ResumptionPskUsage,
  type Sender,
  SenderType,
  writePreSharedKeyId,
} from "./messages.ts";
import type { CipherSuite } from "./suite.ts";
import type { RatchetTree } from "./tree.ts";

/** A proposal with the sender that proposed it (the committer for proposals sent by value). */
export interface SentProposal {
  readonly proposal: Proposal;
  readonly sender: Sender;
  /** The ProposalRef when the proposal came by reference. */
  readonly ref?: Uint8Array;
}

/** What the proposal checks need to know about the group. */
export interface ProposalEnv {
  readonly suite: CipherSuite;
  readonly groupId: Uint8Array;
  /** The tree of the current epoch (before the commit). */
  readonly tree: RatchetTree;
  /** The current GroupContext extensions. */
  readonly extensions: readonly Extension[];
  readonly policy: CredentialPolicy;
  readonly now?: bigint;
  readonly maxLifetime?: bigint;
  /** The PSK for an id, or undefined when this member does not have it. */
  readonly psk: (id: PreSharedKeyId) => Uint8Array | undefined;
}

/** The result of applying a proposal list. */
export interface Applied {
  readonly tree: RatchetTree;
  readonly extensions: readonly Extension[];
  /** Leaves added, in proposal order, with their KeyPackages. */
  readonly added: readonly { readonly leaf: number; readonly keyPackage: KeyPackage }[];
  readonly removed: readonly number[];
  readonly updated: readonly number[];
  readonly psks: readonly { readonly id: PreSharedKeyId; readonly psk: Uint8Array }[];
  /** True if the commit must carry an UpdatePath (§12.4). */
  readonly pathRequired: boolean;
}

const PATH_REQUIRED = new Set<number>([
  ProposalType.Update,
  ProposalType.Remove,
  ProposalType.ExternalInit,
  ProposalType.GroupContextExtensions,
]);

function leafContext(env: ProposalEnv, extensions: readonly Extension[]): LeafContext {
  return {
    suite: env.suite,
    policy: env.policy,
    groupExtensions: extensions,
    now: env.now,
    maxLifetime: env.maxLifetime,
  };
}

function memberSender(p: SentProposal): number {
  if (p.sender.type !== SenderType.Member) {
    throw new MlsError("unknown-sender", "only members' proposals are accepted");
  }
  return p.sender.leafIndex;
}

/** Checks GroupContext extensions (a GroupContextExtensions proposal's, a joined group's, a new group's). */
export function checkGroupExtensions(list: readonly Extension[]): void {
  checkUniqueTypes(list, "the GroupContext's extensions");
  for (const e of list) {
    // Only these have meaning in a GroupContext for this implementation; the others it cannot honour.
    if (e.type !== ExtensionType.RequiredCapabilities && e.type < 0xf000) {
      throw new MlsError("unsupported", `GroupContext extension ${e.type} is not supported`);
    }
  }
  requiredCapabilities(list); // parses, so a malformed one is refused here
}

/**
 * Checks one proposal as it arrives (§12.1): what can be checked against the current epoch alone. The
 * list checks of {@link applyProposals} run again at commit time.
 */
export function validateProposal(env: ProposalEnv, p: SentProposal): void {
  const sender = memberSender(p);
  const prop = p.proposal;
  switch (prop.type) {
    case ProposalType.Add:
      validateKeyPackage(leafContext(env, env.extensions), prop.keyPackage);
      return;
    case ProposalType.Update: {
      const old = env.tree.leaf(sender);
      if (old === undefined) throw new MlsError("unknown-sender", "an Update from a blank leaf");
      validateLeafNode(
        leafContext(env, env.extensions),
        prop.leafNode,
        LeafNodeSource.Update,
        env.tree,
        sender,
        env.groupId,
        {
          replacing: sender,
        },
      );
      checkSuccessor(env.policy, old.credential, prop.leafNode.credential);
      if (equalBytes(old.encryptionKey, prop.leafNode.encryptionKey)) {
        throw new MlsError("invalid-leaf", "an Update must change the leaf's encryption key");
      }
      return;
    }
    case ProposalType.Remove:
      if (prop.removed >= env.tree.leafCount || env.tree.leaf(prop.removed) === undefined) {
        throw new MlsError("invalid-proposal", `a Remove of leaf ${prop.removed}, which is blank`);
      }
      return;
    case ProposalType.Psk:
      checkPsk(env, prop.psk);
      return;
    case ProposalType.GroupContextExtensions:
      checkGroupExtensions(prop.extensions);
      return;
    case ProposalType.ReInit:
      throw new MlsError("unsupported", "ReInit proposals are not supported");
    case ProposalType.ExternalInit:
      throw new MlsError("invalid-proposal", "an ExternalInit proposal outside an external commit");
  }
}

function checkSuccessor(
  policy: CredentialPolicy,
  previous: KeyPackage["leafNode"]["credential"],
  next: typeof previous,
) {
  if (!policy.sameMember(previous, next)) {
    throw new MlsError("invalid-credential", "the new credential does not belong to the same member");
  }
}

function checkPsk(env: ProposalEnv, id: PreSharedKeyId): Uint8Array {
  if (id.nonce.length !== env.suite.nh) {
    throw new MlsError("invalid-proposal", `a PSK nonce must be ${env.suite.nh} bytes`);
  }
  if (id.type === PskType.Resumption && id.usage !== ResumptionPskUsage.Application) {
    throw new MlsError(
      "invalid-proposal",
      "resumption PSKs for reinit or branch are not allowed in a proposal",
    );
  }
  const psk = env.psk(id);
  if (psk === undefined) throw new MlsError("invalid-proposal", "a PSK this member does not have");
  return psk;
}

/**
 * Validates the proposal list of a member's commit from `committer` (§12.2) and applies it (§12.3) to a copy
 * of the tree. MlsError with the first reason the list is invalid.
 */
export function applyProposals(env: ProposalEnv, committer: number, list: readonly SentProposal[]): Applied {
  const tree = env.tree.clone();
  let extensions = env.extensions;
  const gce = list.filter((p) => p.proposal.type === ProposalType.GroupContextExtensions);
  if (gce.length > 1) {
    throw new MlsError("invalid-proposal", "a commit with two GroupContextExtensions proposals");
  }
  for (const p of list) {
    memberSender(p);
    if (p.proposal.type === ProposalType.ReInit) {
      throw new MlsError("unsupported", "ReInit proposals are not supported");
    }
    if (p.proposal.type === ProposalType.ExternalInit) {
      throw new MlsError("invalid-proposal", "an ExternalInit proposal in a member's commit");
    }
  }
  if (gce.length === 1) {
    const next = (gce[0].proposal as { extensions: readonly Extension[] }).extensions;
    checkGroupExtensions(next);
    extensions = next;
  }
  const ctx = leafContext(env, extensions);

  // Updates and Removes: at most one per leaf, none by or of the committer.
  const touched = new Set<number>();
  const updates: { leaf: number; node: KeyPackage["leafNode"] }[] = [];
  const removes: number[] = [];
  for (const p of list) {
    const prop = p.proposal;
    if (prop.type === ProposalType.Update) {
      const sender = memberSender(p);
      if (sender === committer) {
        throw new MlsError("invalid-proposal", "a commit covering the committer's own Update");
      }
      if (touched.has(sender)) {
        throw new MlsError("invalid-proposal", `two Updates or Removes of leaf ${sender}`);
      }
      touched.add(sender);
      updates.push({ leaf: sender, node: prop.leafNode });
    } else if (prop.type === ProposalType.Remove) {
      if (prop.removed === committer) {
        throw new MlsError("invalid-proposal", "a commit removing the committer");
      }
      if (touched.has(prop.removed)) {
        throw new MlsError("invalid-proposal", `two Updates or Removes of leaf ${prop.removed}`);
      }
      if (prop.removed >= env.tree.leafCount || env.tree.leaf(prop.removed) === undefined) {
        throw new MlsError("invalid-proposal", `a Remove of leaf ${prop.removed}, which is blank`);
      }
      touched.add(prop.removed);
      removes.push(prop.removed);
    }
  }
  const removedSet = new Set(removes);
  for (const u of updates) {
    const old = env.tree.leaf(u.leaf);
    if (old === undefined) throw new MlsError("unknown-sender", "an Update from a blank leaf");
    validateLeafNode(ctx, u.node, LeafNodeSource.Update, env.tree, u.leaf, env.groupId, {
      replacing: u.leaf,
      ignoreLeaves: removedSet,
    });
    checkSuccessor(env.policy, old.credential, u.node.credential);
    if (equalBytes(old.encryptionKey, u.node.encryptionKey)) {
      throw new MlsError("invalid-leaf", "an Update must change the leaf's encryption key");
    }
    tree.updateLeaf(u.leaf, u.node);
  }
  for (const r of removes) tree.removeLeaf(r);

  // Adds, in order: valid KeyPackages of clients not in the group (unless removed here) nor added twice.
  const added: { leaf: number; keyPackage: KeyPackage }[] = [];
  for (const p of list) {
    if (p.proposal.type !== ProposalType.Add) continue;
    const kp = p.proposal.keyPackage;
    validateKeyPackage(ctx, kp, tree);
    for (const m of tree.members()) {
      const leaf = tree.leaf(m)!;
      if (
        equalBytes(leaf.signatureKey, kp.leafNode.signatureKey) ||
        env.policy.sameMember(leaf.credential, kp.leafNode.credential)
      ) {
        throw new MlsError("invalid-proposal", `an Add of a client already in the group (leaf ${m})`);
      }
    }
    added.push({ leaf: tree.addLeaf(kp.leafNode), keyPackage: kp });
  }

  // GroupContextExtensions: every member after this commit must support the new extensions.
  if (gce.length === 1) {
    const required = requiredCapabilities(extensions);
    for (const m of tree.members()) {
      const caps = tree.leaf(m)!.capabilities;
      for (const e of extensions) {
        if (!supportsExtension(caps, e.type)) {
          throw new MlsError(
            "invalid-proposal",
            `member ${m} does not support GroupContext extension ${e.type}`,
          );
        }
      }
      if (required) {
        const missing = required.extensions.find((t) => !supportsExtension(caps, t)) ??
          required.proposals.find((t) => !supportsProposal(caps, t)) ??
          required.credentials.find((t) => !caps.credentials.includes(t));
        if (missing !== undefined) {
          throw new MlsError("invalid-proposal", `member ${m} lacks the required capability ${missing}`);
        }
      }
    }
  }

  // PSKs, in order, each once.
  const psks: { id: PreSharedKeyId; psk: Uint8Array }[] = [];
  const seen = new Set<string>();
  for (const p of list) {
    const prop = p.proposal;
    if (prop.type !== ProposalType.Psk) continue;
    const key = hexOf(encodeWith((w) => writePreSharedKeyId(w, prop.psk)));
    if (seen.has(key)) throw new MlsError("invalid-proposal", "a commit naming one PSK twice");
    seen.add(key);
    psks.push({ id: prop.psk, psk: checkPsk(env, prop.psk) });
  }

  const pathRequired = list.length === 0 || list.some((p) => PATH_REQUIRED.has(p.proposal.type));
  return {
    tree,
    extensions,
    added,
    removed: removes,
    updated: updates.map((u) => u.leaf),
    psks,
    pathRequired,
  };
}

function hexOf(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
