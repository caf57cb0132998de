// An MLS group member (RFC 9420), sans I/O: create a group, join one from a Welcome, send proposals,
// commit (adds, removes, updates, pending proposals by reference), process every message received, encrypt
// and decrypt application data, export secrets, and serialise the whole state for the keystore.
//
// Every operation is transactional: it works on copies and replaces the state only when it has fully
// succeeded, so a refused message (MlsError) or a failed call leaves the group exactly as it was. A commit
// we create does not change the epoch (§14): it becomes pending until the delivery service accepts it
// (`mergePendingCommit`, or processing the same bytes back) or another commit for the epoch wins (any
// other commit processed drops it; `discardPendingCommit`).

import { bytesToHex, equalBytes, type RandomSource, systemRandom } from "../../crypto/bytes.ts";
import { decodeAll, encodeWith, type Reader, Writer } from "./codec.ts";
import { MlsError } from "./errors.ts";
import {
  confirmedTranscriptHash,
  deriveEpochSecrets,
  epochFromJoiner,
  type EpochSecrets,
  externalKeyPair,
  interimTranscriptHash,
  mlsExporter,
  pskSecret,
} from "./keyschedule.ts";
import { type KeyPackageBundle, newLeafNode } from "./keypackage.ts";
import {
  checkUniqueTypes,
  type CredentialPolicy,
  type LeafContext,
  signLeafNode,
  validateKeyPackage,
  validateLeafNode,
} from "./leafnode.ts";
import {
  type AuthenticatedContent,
  type Capabilities,
  type Commit,
  ContentType,
  type Credential,
  decodeMlsMessage,
  encodeAuthenticatedContent,
  encodeGroupContext,
  encodeMlsMessage,
  type Extension,
  ExtensionType,
  type FramedContent,
  type GroupContext,
  type GroupInfo,
  type KeyPackage,
  type LeafNode,
  LeafNodeSource,
  type Lifetime,
  type PreSharedKeyId,
  type PrivateMessage,
  type Proposal,
  type ProposalOrRef,
  ProposalType,
  PROTOCOL_VERSION_MLS10,
  PskType,
  type PublicMessage,
  readGroupContext,
  readProposal,
  readSender,
  type Sender,
  SenderType,
  WireFormat,
  writeGroupContext,
  writeKeyPackage,
  writeProposal,
  writeSender,
} from "./messages.ts";
import {
  applyProposals,
  checkGroupExtensions,
  type ProposalEnv,
  type SentProposal,
  validateProposal,
} from "./proposals.ts";
import { DEFAULT_RATCHET_LIMITS, type RatchetLimits, SecretTree } from "./secrettree.ts";
import { type CipherSuite, getSuite, type SuiteId } from "./suite.ts";
import { RatchetTree } from "./tree.ts";
import {
  createPath,
  decryptPath,
  encryptPath,
  implantPathSecret,
  mergePath,
  PrivateKeys,
} from "./treekem.ts";
import * as tm from "./treemath.ts";
import {
  createWelcome,
  joinEpoch,
  openGroupInfo,
  openGroupSecrets,
  signGroupInfo,
  verifyGroupInfo,
} from "./welcome.ts";
import {
  openSenderData,
  protectPrivate,
  protectPublic,
  signContent,
  unprotectPrivate,
  unprotectPublic,
  verifyContent,
} from "./framing.ts";
import { sottoCredentialPolicy } from "./credential.ts";

// ---- configuration -----------------------------------------------------------------------------------

/** How a group behaves; not part of its serialised state (pass the same config when deserialising). */
export interface GroupConfig {
  /** The Authentication Service: sotto identities by default; `basicCredentialPolicy` for foreign clients. */
  readonly policy?: CredentialPolicy;
  readonly random?: RandomSource;
  /** The current time in seconds, for KeyPackage lifetimes; without it they are not checked. */
  readonly now?: () => bigint;
  /** Longest KeyPackage lifetime accepted (seconds), checked with `now`. */
  readonly maxLifetime?: bigint;
  readonly ratchetLimits?: RatchetLimits;
  /** Past epochs whose application keys are kept for late messages (default 2; 0 keeps none). */
  readonly keepEpochs?: number;
  /** Past epochs whose resumption PSKs are kept (default 8). */
  readonly resumptionEpochs?: number;
  /** Zero bytes added to a PrivateMessage whose content and auth encode to `length` bytes. */
  readonly padding?: (length: number) => number;
  /** Wire format of proposals and commits we send (default private; application data is always private). */
  readonly handshakeWireFormat?: "private" | "public";
  /** External PSKs this member holds, by psk_id. */
  readonly externalPsk?: (pskId: Uint8Array) => Uint8Array | undefined;
  /** Most members a commit may leave in the group (default 1024). */
  readonly maxMembers?: number;
}

/**
 * Default padding: the content padded to 256 bytes, then to the next power of two up to 16 KiB, then to a
 * multiple of 16 KiB, so lengths reveal little (as sotto's 1:1 padding does).
 */
export function defaultPadding(length: number): number {
  let target = 256;
  if (length > 16384) target = Math.ceil(length / 16384) * 16384;
  else while (target < length) target *= 2;
  return target - length;
}

// ---- results -----------------------------------------------------------------------------------------

/** What processing a message gave. */
export type Received =
  | {
    readonly kind: "application";
    readonly sender: number;
    readonly epoch: bigint;
    readonly data: Uint8Array;
    readonly authenticatedData: Uint8Array;
  }
  | {
    readonly kind: "proposal";
    readonly sender: number;
    readonly proposal: Proposal;
    readonly ref: Uint8Array;
  }
  | CommitInfo;

/** A commit that took effect (ours or another member's). */
export interface CommitInfo {
  readonly kind: "commit";
  readonly sender: number;
  /** The new epoch. */
  readonly epoch: bigint;
  readonly added: readonly number[];
  readonly removed: readonly number[];
  readonly updated: readonly number[];
  /** True if the commit removed this member: the group is no longer usable. */
  readonly removedSelf: boolean;
  /** True if the commit was our own pending commit. */
  readonly own: boolean;
}

/** What `commit` gives: the messages to send. Nothing changes until the commit is merged. */
export interface CommitResult {
  /** The commit as an MLSMessage, for the group. */
  readonly commit: Uint8Array;
  /** The Welcome as an MLSMessage, for the added members (when the commit adds someone). */
  readonly welcome?: Uint8Array;
  /** The new epoch's ratchet tree (optional<Node> ratchet_tree<V>), for joiners without the extension. */
  readonly ratchetTree: Uint8Array;
  /** Leaves of the added members and their KeyPackageRefs. */
  readonly added: readonly { readonly leaf: number; readonly keyPackageRef: Uint8Array }[];
  readonly epoch: bigint;
}

export interface CommitOptions {
  /** KeyPackages (MLSMessages) to add by value. */
  readonly add?: readonly Uint8Array[];
  /** Leaves to remove by value. */
  readonly remove?: readonly number[];
  /** Include the proposals received this epoch, by reference (default true). */
  readonly includePending?: boolean;
  /** Include an UpdatePath even when no proposal requires one (default true: forward secrecy, PCS). */
  readonly path?: boolean;
  /** Put the ratchet tree in the Welcome's GroupInfo (default true). */
  readonly ratchetTreeExtension?: boolean;
  readonly authenticatedData?: Uint8Array;
  /** External PSKs (by id) to inject, by value. */
  readonly psks?: readonly Uint8Array[];
  /** New GroupContext extensions, by value. */
  readonly groupContextExtensions?: readonly Extension[];
}

export interface CreateParams {
  readonly suite: CipherSuite | SuiteId;
  readonly groupId: Uint8Array;
  readonly signatureSecretKey: Uint8Array;
  readonly credential: Credential;
  readonly capabilities?: Capabilities;
  readonly leafExtensions?: readonly Extension[];
  /** GroupContext extensions (only required_capabilities and private-use types are supported). */
  readonly extensions?: readonly Extension[];
  readonly lifetime?: Lifetime;
}

export interface JoinParams {
  /** The Welcome as an MLSMessage. */
  readonly welcome: Uint8Array;
  readonly keyPackage: KeyPackageBundle;
  readonly signatureSecretKey: Uint8Array;
  /** The tree when the Welcome's GroupInfo has no ratchet_tree extension. */
  readonly ratchetTree?: Uint8Array;
}

/** One member as the tree shows it. */
export interface Member {
  readonly leaf: number;
  readonly credential: Credential;
  readonly signatureKey: Uint8Array;
  readonly encryptionKey: Uint8Array;
}

// ---- state -------------------------------------------------------------------------------------------

interface CachedProposal {
  readonly ref: Uint8Array;
  readonly proposal: Proposal;
  readonly sender: Sender;
}

interface PastEpoch {
  readonly context: GroupContext;
  readonly tree: RatchetTree;
  readonly senderDataSecret: Uint8Array;
  readonly secretTree: SecretTree;
}

interface State {
  readonly suite: CipherSuite;
  readonly context: GroupContext;
  readonly tree: RatchetTree;
  readonly interim: Uint8Array;
  readonly secrets: EpochSecrets;
  readonly secretTree: SecretTree;
  readonly keys: PrivateKeys;
  readonly ownLeaf: number;
  readonly signatureKey: Uint8Array;
  readonly proposals: readonly CachedProposal[];
  /** Leaf key pairs of our Update proposals this epoch. */
  readonly updateKeys: readonly { readonly sk: Uint8Array; readonly pk: Uint8Array }[];
  readonly resumption: readonly { readonly epoch: bigint; readonly psk: Uint8Array }[];
  readonly past: readonly PastEpoch[];
  readonly active: boolean;
}

interface Pending {
  readonly message: Uint8Array;
  readonly state: State;
  readonly info: CommitInfo;
}

const STATE_VERSION = 1;
const DEFAULT_MAX_MEMBERS = 1024;
const EMPTY = new Uint8Array(0);

/** An MLS group as one member sees it. */
export class MlsGroup {
  #s: State;
  #pending: Pending | undefined;
  readonly #cfg:
    & Required<Omit<GroupConfig, "now" | "maxLifetime">>
    & Pick<GroupConfig, "now" | "maxLifetime">;

  private constructor(state: State, config: GroupConfig, pending?: Pending) {
    this.#s = state;
    this.#pending = pending;
    this.#cfg = {
      policy: config.policy ?? sottoCredentialPolicy,
      random: config.random ?? systemRandom,
      now: config.now,
      maxLifetime: config.maxLifetime,
      ratchetLimits: config.ratchetLimits ?? DEFAULT_RATCHET_LIMITS,
      keepEpochs: config.keepEpochs ?? 2,
      resumptionEpochs: config.resumptionEpochs ?? 8,
      padding: config.padding ?? defaultPadding,
      handshakeWireFormat: config.handshakeWireFormat ?? "private",
      externalPsk: config.externalPsk ?? (() => undefined),
      maxMembers: config.maxMembers ?? DEFAULT_MAX_MEMBERS,
    };
  }

  // ---- creating and joining ----------------------------------------------------------------------

  /** A new one-member group at epoch 0 (§11). */
  static create(p: CreateParams, config: GroupConfig = {}): MlsGroup {
    const suite = typeof p.suite === "number" ? getSuite(p.suite) : p.suite;
    if (p.groupId.length === 0 || p.groupId.length > 256) {
      throw new RangeError("groupId must be 1 to 256 bytes");
    }
    const random = config.random ?? systemRandom;
    const { leaf, encryption: enc } = newLeafNode({ ...p, suite }, random);
    const tree = RatchetTree.single(leaf);
    const policy = config.policy ?? sottoCredentialPolicy;
    const extensions = p.extensions ?? [];
    checkGroupExtensions(extensions);
    const ctx: LeafContext = { suite, policy, groupExtensions: extensions };
    validateLeafNode(ctx, leaf, LeafNodeSource.KeyPackage, undefined, undefined, undefined);
    const context: GroupContext = {
      version: PROTOCOL_VERSION_MLS10,
      cipherSuite: suite.id,
      groupId: p.groupId,
      epoch: 0n,
      treeHash: tree.treeHash(suite),
      confirmedTranscriptHash: EMPTY,
      extensions,
    };
    // §11: a random epoch secret. A random joiner secret (with no PSK) is the same thing one step earlier.
    const secrets = epochFromJoiner(suite, random(suite.nh), new Uint8Array(suite.nh), context);
    const tag = suite.mac(secrets.confirmationKey, EMPTY);
    const keys = new PrivateKeys();
    keys.set(0, enc.secretKey, enc.publicKey);
    return new MlsGroup({
      suite,
      context,
      tree,
      interim: interimTranscriptHash(suite, EMPTY, tag),
      secrets,
      secretTree: new SecretTree(suite, secrets.encryptionSecret, 1),
      keys,
      ownLeaf: 0,
      signatureKey: suite.secretKey(p.signatureSecretKey),
      proposals: [],
      updateKeys: [],
      resumption: [{ epoch: 0n, psk: secrets.resumptionPsk }],
      past: [],
      active: true,
    }, config);
  }

  /**
   * Joins from a Welcome (§12.4.3.1): decrypts our GroupSecrets and the GroupInfo, verifies its signature,
   * the whole tree (tree hash, parent hashes, every leaf, unmerged leaves, unique keys), our own leaf, the
   * path secret and the confirmation tag. MlsError with the reason if anything fails.
   */
  static join(p: JoinParams, config: GroupConfig = {}): MlsGroup {
    const msg = decodeMlsMessage(p.welcome);
    if (msg.wireFormat !== WireFormat.Welcome) {
      throw new MlsError("invalid-welcome", "the message is not a Welcome");
    }
    const welcome = msg.welcome;
    const kp = p.keyPackage.keyPackage;
    const suite = getSuite(kp.cipherSuite);
    const gs = openGroupSecrets(suite, welcome, p.keyPackage.ref, p.keyPackage.initSecretKey, kp.initKey);
    const externalPsk = config.externalPsk ?? (() => undefined);
    const psks = gs.psks.map((id) => {
      if (id.type !== PskType.External) {
        throw new MlsError(
          "invalid-welcome",
          "the Welcome needs a resumption PSK, which a new member cannot have",
        );
      }
      const psk = externalPsk(id.pskId);
      if (psk === undefined) {
        throw new MlsError("invalid-welcome", "the Welcome needs an external PSK this member does not have");
      }
      return { id, psk };
    });
    const psk = pskSecret(suite, psks);
    const { groupInfo } = openGroupInfo(suite, welcome, gs.joinerSecret, psk);
    const gc = groupInfo.groupContext;
    if (gc.version !== PROTOCOL_VERSION_MLS10 || gc.cipherSuite !== suite.id) {
      throw new MlsError(
        "invalid-welcome",
        "the GroupInfo's version or cipher suite differs from the KeyPackage's",
      );
    }
    // §13.4: no extension type twice in a list; every GroupContext extension must be one we implement.
    checkUniqueTypes(groupInfo.extensions, "the GroupInfo's extensions");
    checkGroupExtensions(gc.extensions);
    const treeExt = groupInfo.extensions.filter((e) => e.type === ExtensionType.RatchetTree);
    if (treeExt.length > 1) {
      throw new MlsError("invalid-welcome", "the GroupInfo has two ratchet_tree extensions");
    }
    const treeBytes = treeExt[0]?.data ?? p.ratchetTree;
    if (treeBytes === undefined) {
      throw new MlsError("invalid-welcome", "the Welcome has no ratchet tree and none was given");
    }
    const tree = RatchetTree.decode(treeBytes);
    checkSize(tree, config.maxMembers ?? DEFAULT_MAX_MEMBERS);
    if (!equalBytes(tree.treeHash(suite), gc.treeHash)) {
      throw new MlsError("invalid-tree", "the ratchet tree does not match the GroupInfo's tree hash");
    }
    const signer = groupInfo.signer < tree.leafCount ? tree.leaf(groupInfo.signer) : undefined;
    if (signer === undefined) throw new MlsError("invalid-welcome", "the GroupInfo's signer is not a member");
    if (!verifyGroupInfo(suite, groupInfo, signer.signatureKey)) {
      throw new MlsError("bad-signature", "the GroupInfo's signature does not verify");
    }
    const policy = config.policy ?? sottoCredentialPolicy;
    const ctx: LeafContext = { suite, policy, groupExtensions: gc.extensions };
    validateTree(ctx, tree, gc.groupId);
    const myIndex = tree.members().find((i) => sameLeaf(tree.leaf(i)!, kp.leafNode));
    if (myIndex === undefined) {
      throw new MlsError("invalid-welcome", "our KeyPackage's leaf is not in the tree");
    }
    const keys = new PrivateKeys();
    keys.set(2 * myIndex, p.keyPackage.encryptionSecretKey, kp.leafNode.encryptionKey);
    if (gs.pathSecret !== undefined) {
      implantPathSecret(suite, tree, groupInfo.signer, myIndex, gs.pathSecret, keys);
    }
    const secrets = joinEpoch(suite, gs.joinerSecret, psk, gc, groupInfo.confirmationTag);
    const signatureKey = suite.secretKey(p.signatureSecretKey);
    if (!equalBytes(suite.signaturePublicKey(signatureKey), kp.leafNode.signatureKey)) {
      throw new RangeError("signatureSecretKey is not the KeyPackage's signature key");
    }
    return new MlsGroup({
      suite,
      context: gc,
      tree,
      interim: interimTranscriptHash(suite, gc.confirmedTranscriptHash, groupInfo.confirmationTag),
      secrets,
      secretTree: new SecretTree(suite, secrets.encryptionSecret, tree.leafCount),
      keys,
      ownLeaf: myIndex,
      signatureKey,
      proposals: [],
      updateKeys: [],
      resumption: [{ epoch: gc.epoch, psk: secrets.resumptionPsk }],
      past: [],
      active: true,
    }, config);
  }

  // ---- reading the state ---------------------------------------------------------------------------

  get suite(): CipherSuite {
    return this.#s.suite;
  }

  get groupId(): Uint8Array {
    return this.#s.context.groupId.slice();
  }

  get epoch(): bigint {
    return this.#s.context.epoch;
  }

  get ownLeaf(): number {
    return this.#s.ownLeaf;
  }

  /** False once a commit removed us: every operation is then refused. */
  get active(): boolean {
    return this.#s.active;
  }

  get epochAuthenticator(): Uint8Array {
    return this.#s.secrets.epochAuthenticator.slice();
  }

  get treeHash(): Uint8Array {
    return this.#s.context.treeHash.slice();
  }

  get confirmedTranscriptHash(): Uint8Array {
    return this.#s.context.confirmedTranscriptHash.slice();
  }

  /** The GroupContext, TLS-encoded. */
  get groupContext(): Uint8Array {
    return encodeGroupContext(this.#s.context);
  }

  get hasPendingCommit(): boolean {
    return this.#pending !== undefined;
  }

  /** Proposals received (or sent) this epoch and not yet committed. */
  get pendingProposals(): readonly {
    readonly ref: Uint8Array;
    readonly proposal: Proposal;
    readonly sender: number;
  }[] {
    return this.#s.proposals.map((p) => ({
      ref: p.ref,
      proposal: p.proposal,
      sender: p.sender.type === SenderType.Member ? p.sender.leafIndex : -1,
    }));
  }

  members(): Member[] {
    const t = this.#s.tree;
    return t.members().map((leaf) => {
      const n = t.leaf(leaf)!;
      return { leaf, credential: n.credential, signatureKey: n.signatureKey, encryptionKey: n.encryptionKey };
    });
  }

  /** The ratchet tree (optional<Node> ratchet_tree<V>), e.g. for a joiner without the extension. */
  ratchetTree(): Uint8Array {
    return this.#s.tree.encode();
  }

  /** MLS-Exporter(label, context, length) of the current epoch (§8.5). */
  export(label: string, context: Uint8Array, length: number): Uint8Array {
    this.#requireActive();
    return mlsExporter(this.#s.suite, this.#s.secrets.exporterSecret, label, context, length);
  }

  /** A signed GroupInfo (MLSMessage) of the current epoch, with the ratchet tree and external_pub. */
  groupInfo(): Uint8Array {
    this.#requireActive();
    const s = this.#s;
    const ext: Extension[] = [
      { type: ExtensionType.RatchetTree, data: s.tree.encode() },
      {
        type: ExtensionType.ExternalPub,
        data: new Writer(160).opaque(externalKeyPair(s.suite, s.secrets.externalSecret).publicKey).finish(),
      },
    ];
    const gi = makeGroupInfo(s.suite, s.context, s.secrets, s.ownLeaf, s.signatureKey, ext);
    return encodeMlsMessage({ wireFormat: WireFormat.GroupInfo, groupInfo: gi });
  }

  // ---- sending -------------------------------------------------------------------------------------

  /** An application message (PrivateMessage). Refused while proposals are pending (§12.4: commit them first). */
  encrypt(data: Uint8Array, authenticatedData: Uint8Array = EMPTY): Uint8Array {
    this.#requireActive();
    if (this.#s.proposals.length > 0) {
      throw new MlsError("state", "proposals are pending: commit them before sending application data");
    }
    const s = this.#s;
    const tree = s.secretTree.clone();
    const msg = this.#frame(s, tree, WireFormat.PrivateMessage, {
      type: ContentType.Application,
      applicationData: data,
    }, authenticatedData);
    this.#s = { ...s, secretTree: tree };
    return msg.bytes;
  }

  /** An Add proposal for a KeyPackage (MLSMessage); validated first. Cached so a commit can refer to it. */
  proposeAdd(keyPackage: Uint8Array): Uint8Array {
    const kp = this.#readKeyPackage(keyPackage);
    validateKeyPackage(this.#leafContext(this.#s.context.extensions), kp, this.#s.tree);
    return this.#propose({ type: ProposalType.Add, keyPackage: kp });
  }

  /** A Remove proposal. */
  proposeRemove(leaf: number): Uint8Array {
    return this.#propose({ type: ProposalType.Remove, removed: leaf });
  }

  /** An Update proposal: a new leaf encryption key (the commit that covers it is another member's). */
  proposeUpdate(): Uint8Array {
    this.#requireActive();
    const s = this.#s;
    const old = s.tree.leaf(s.ownLeaf)!;
    const kp = s.suite.hpke.generateKeyPair(this.#cfg.random);
    const leaf = signLeafNode(
      s.suite,
      s.signatureKey,
      {
        encryptionKey: kp.publicKey,
        signatureKey: old.signatureKey,
        credential: old.credential,
        capabilities: old.capabilities,
        source: LeafNodeSource.Update,
        extensions: old.extensions,
      },
      s.context.groupId,
      s.ownLeaf,
    );
    const bytes = this.#propose({ type: ProposalType.Update, leafNode: leaf });
    this.#s = { ...this.#s, updateKeys: [...this.#s.updateKeys, { sk: kp.secretKey, pk: kp.publicKey }] };
    return bytes;
  }

  #propose(proposal: Proposal): Uint8Array {
    this.#requireActive();
    const s = this.#s;
    validateProposal(this.#env(s), { proposal, sender: { type: SenderType.Member, leafIndex: s.ownLeaf } });
    const tree = s.secretTree.clone();
    const wf = this.#cfg.handshakeWireFormat === "public"
      ? WireFormat.PublicMessage
      : WireFormat.PrivateMessage;
    const { bytes, ac } = this.#frame(s, tree, wf, { type: ContentType.Proposal, proposal }, EMPTY);
    const ref = s.suite.proposalRef(encodeAuthenticatedContent(ac));
    this.#s = {
      ...s,
      secretTree: tree,
      proposals: [...s.proposals, { ref, proposal, sender: ac.content.sender }],
    };
    return bytes;
  }

  /** Signs, then protects content of ours in the current epoch (`tree` is the secret tree to use). */
  #frame(
    s: State,
    tree: SecretTree,
    wireFormat: typeof WireFormat.PublicMessage | typeof WireFormat.PrivateMessage,
    body: FramedContent["content"],
    authenticatedData: Uint8Array,
    confirmationTag?: (signature: Uint8Array) => Uint8Array,
  ): { bytes: Uint8Array; ac: AuthenticatedContent } {
    const content: FramedContent = {
      groupId: s.context.groupId,
      epoch: s.context.epoch,
      sender: { type: SenderType.Member, leafIndex: s.ownLeaf },
      authenticatedData,
      content: body,
    };
    const signature = signContent(s.suite, s.signatureKey, wireFormat, content, s.context);
    const auth = confirmationTag ? { signature, confirmationTag: confirmationTag(signature) } : { signature };
    const ac: AuthenticatedContent = { wireFormat, content, auth };
    if (wireFormat === WireFormat.PublicMessage) {
      const pm = protectPublic(s.suite, ac, s.secrets.membershipKey, s.context);
      return { bytes: encodeMlsMessage({ wireFormat, publicMessage: pm }), ac };
    }
    const pm = protectPrivate(
      s.suite,
      ac,
      s.secrets.senderDataSecret,
      tree,
      this.#cfg.padding,
      this.#cfg.random,
    );
    return { bytes: encodeMlsMessage({ wireFormat, privateMessage: pm }), ac };
  }

  /**
   * A Commit (§12.4.1) of the proposals pending this epoch (by reference) and those given (by value), with
   * an UpdatePath unless `path: false` and none is required; and a Welcome when it adds members. The group
   * does not change until `mergePendingCommit` (or the commit coming back through `process`).
   */
  commit(options: CommitOptions = {}): CommitResult {
    this.#requireActive();
    if (this.#pending !== undefined) {
      throw new MlsError("state", "a commit is already pending: merge or discard it");
    }
    const s = this.#s;
    const suite = s.suite;
    const random = this.#cfg.random;
    const own: Sender = { type: SenderType.Member, leafIndex: s.ownLeaf };
    const byValue: Proposal[] = [];
    for (const k of options.add ?? []) {
      byValue.push({ type: ProposalType.Add, keyPackage: this.#readKeyPackage(k) });
    }
    for (const r of options.remove ?? []) byValue.push({ type: ProposalType.Remove, removed: r });
    for (const id of options.psks ?? []) {
      byValue.push({
        type: ProposalType.Psk,
        psk: { type: PskType.External, pskId: id, nonce: random(suite.nh) },
      });
    }
    if (options.groupContextExtensions) {
      byValue.push({ type: ProposalType.GroupContextExtensions, extensions: options.groupContextExtensions });
    }
    const list = selectProposals(s, options.includePending ?? true ? s.proposals : [], byValue, own);
    const env = this.#env(s);
    const applied = applyProposals(env, s.ownLeaf, list);
    checkSize(applied.tree, this.#cfg.maxMembers);
    const tree = applied.tree;
    const keys = s.keys.clone();
    const newEpoch = s.context.epoch + 1n;
    const provisional: GroupContext = {
      ...s.context,
      epoch: newEpoch,
      treeHash: EMPTY,
      extensions: applied.extensions,
    };
    let commitSecret: Uint8Array = new Uint8Array(suite.nh);
    let path: Commit["path"];
    const addedLeaves = new Set(applied.added.map((a) => a.leaf));
    let pathSecretFor: (leaf: number) => Uint8Array | undefined = () => undefined;
    if (applied.pathRequired || options.path !== false) {
      const old = tree.leaf(s.ownLeaf)!;
      const created = createPath(suite, tree, s.ownLeaf, old, s.signatureKey, s.context.groupId, random);
      const gcBytes = encodeGroupContext({ ...provisional, treeHash: tree.treeHash(suite) });
      path = encryptPath(suite, tree, s.ownLeaf, created, addedLeaves, gcBytes, random);
      for (const [x, k] of created.keys) keys.set(x, k.sk, k.pk);
      commitSecret = created.commitSecret;
      pathSecretFor = (leaf) => {
        const i = created.fdp.indexOf(tm.commonAncestor(2 * leaf, 2 * s.ownLeaf));
        return i < 0 ? undefined : created.pathSecrets[i];
      };
    }
    keys.prune(tree);
    const commit: Commit = {
      proposals: list.map((p): ProposalOrRef =>
        p.ref ? { type: 2, ref: p.ref } : { type: 1, proposal: p.proposal }
      ),
      ...(path ? { path } : {}),
    };
    const wf = this.#cfg.handshakeWireFormat === "public"
      ? WireFormat.PublicMessage
      : WireFormat.PrivateMessage;
    const secretTree = s.secretTree.clone();
    let next: { state: State; tag: Uint8Array } | undefined;
    const { bytes } = this.#frame(
      s,
      secretTree,
      wf,
      { type: ContentType.Commit, commit },
      options.authenticatedData ?? EMPTY,
      (signature) => {
        const content: FramedContent = {
          groupId: s.context.groupId,
          epoch: s.context.epoch,
          sender: own,
          authenticatedData: options.authenticatedData ?? EMPTY,
          content: { type: ContentType.Commit, commit },
        };
        next = this.#nextEpoch(
          s,
          secretTree,
          tree,
          keys,
          applied.extensions,
          commitSecret,
          applied.psks,
          wf,
          content,
          signature,
        );
        return next.tag;
      },
    );
    const nextState = next!.state;
    const added = applied.added.map((a) => ({
      leaf: a.leaf,
      keyPackageRef: suite.keyPackageRef(encodeWith((w) => writeKeyPackage(w, a.keyPackage))),
    }));
    let welcome: Uint8Array | undefined;
    if (applied.added.length > 0) {
      const ext: Extension[] = options.ratchetTreeExtension === false
        ? []
        : [{ type: ExtensionType.RatchetTree, data: tree.encode() }];
      const gi = makeGroupInfo(
        suite,
        nextState.context,
        nextState.secrets,
        s.ownLeaf,
        s.signatureKey,
        ext,
        next!.tag,
      );
      const w = createWelcome(
        suite,
        gi,
        nextState.secrets,
        applied.psks.map((p) => p.id),
        applied.added.map((a, i) => ({
          keyPackage: a.keyPackage,
          keyPackageRef: added[i].keyPackageRef,
          pathSecret: pathSecretFor(a.leaf),
        })),
        random,
      );
      welcome = encodeMlsMessage({ wireFormat: WireFormat.Welcome, welcome: w });
    }
    const info: CommitInfo = {
      kind: "commit",
      sender: s.ownLeaf,
      epoch: newEpoch,
      added: applied.added.map((a) => a.leaf),
      removed: applied.removed,
      updated: applied.updated,
      removedSelf: false,
      own: true,
    };
    // The old epoch's ratchet moved (a private commit used a handshake key): keep that even if the
    // commit is later discarded.
    this.#s = { ...s, secretTree };
    this.#pending = { message: bytes, state: nextState, info };
    return {
      commit: bytes,
      ...(welcome ? { welcome } : {}),
      ratchetTree: tree.encode(),
      added,
      epoch: newEpoch,
    };
  }

  /** Makes the pending commit the group's state (the delivery service accepted it). */
  mergePendingCommit(): CommitInfo {
    const p = this.#pending;
    if (p === undefined) throw new MlsError("state", "there is no pending commit");
    this.#s = p.state;
    this.#pending = undefined;
    return p.info;
  }

  /** Forgets the pending commit (another commit won the epoch); the group stays in its epoch. */
  discardPendingCommit(): void {
    this.#pending = undefined;
  }

  // ---- receiving -----------------------------------------------------------------------------------

  /**
   * Processes a PublicMessage or PrivateMessage (an MLSMessage): an application message, a proposal
   * (validated and cached) or a commit (validated and applied). MlsError, with the state unchanged, for
   * anything refused.
   */
  process(message: Uint8Array): Received {
    this.#requireActive();
    if (this.#pending !== undefined && equalBytes(message, this.#pending.message)) {
      return this.mergePendingCommit();
    }
    const msg = decodeMlsMessage(message);
    const s = this.#s;
    if (msg.wireFormat === WireFormat.PublicMessage) return this.#processPublic(s, msg.publicMessage);
    if (msg.wireFormat === WireFormat.PrivateMessage) return this.#processPrivate(s, msg.privateMessage);
    throw new MlsError("unsupported", "only PublicMessage and PrivateMessage can be processed in a group");
  }

  #checkGroup(s: State, groupId: Uint8Array): void {
    if (!equalBytes(groupId, s.context.groupId)) {
      throw new MlsError("wrong-group", "the message is for another group");
    }
  }

  #memberLeaf(tree: RatchetTree, leaf: number): LeafNode {
    const node = leaf < tree.leafCount ? tree.leaf(leaf) : undefined;
    if (node === undefined) throw new MlsError("unknown-sender", `the sender (leaf ${leaf}) is not a member`);
    return node;
  }

  #processPublic(s: State, pm: PublicMessage): Received {
    this.#checkGroup(s, pm.content.groupId);
    if (pm.content.epoch !== s.context.epoch) {
      throw new MlsError(
        "wrong-epoch",
        `the message is for epoch ${pm.content.epoch}, the group is at ${s.context.epoch}`,
      );
    }
    const sender = pm.content.sender;
    if (sender.type !== SenderType.Member) {
      throw new MlsError(
        "unknown-sender",
        "messages from non-members (external senders, external joins) are not accepted",
      );
    }
    if (sender.leafIndex === s.ownLeaf) throw new MlsError("replay", "the message is this member's own");
    const leaf = this.#memberLeaf(s.tree, sender.leafIndex);
    const ac = unprotectPublic(s.suite, pm, s.secrets.membershipKey, s.context);
    verifyContent(s.suite, leaf.signatureKey, ac, s.context);
    return this.#dispatch(s, ac, sender.leafIndex, s.secretTree);
  }

  #processPrivate(s: State, pm: PrivateMessage): Received {
    this.#checkGroup(s, pm.groupId);
    if (pm.epoch !== s.context.epoch) {
      const past = s.past.find((p) => p.context.epoch === pm.epoch);
      if (past === undefined || pm.contentType !== ContentType.Application) {
        throw new MlsError(
          "wrong-epoch",
          `the message is for epoch ${pm.epoch}, the group is at ${s.context.epoch}`,
        );
      }
      return this.#processLate(s, past, pm);
    }
    const sd = openSenderData(s.suite, pm, s.secrets.senderDataSecret);
    if (sd.leafIndex === s.ownLeaf) throw new MlsError("replay", "the message is this member's own");
    const leaf = this.#memberLeaf(s.tree, sd.leafIndex);
    const tree = s.secretTree.clone();
    const ac = unprotectPrivate(s.suite, pm, sd, tree, this.#cfg.ratchetLimits);
    verifyContent(s.suite, leaf.signatureKey, ac, s.context);
    return this.#dispatch(s, ac, sd.leafIndex, tree);
  }

  /** An application message of a kept past epoch. */
  #processLate(s: State, past: PastEpoch, pm: PrivateMessage): Received {
    const sd = openSenderData(s.suite, pm, past.senderDataSecret);
    if (sd.leafIndex === s.ownLeaf) throw new MlsError("replay", "the message is this member's own");
    const leaf = this.#memberLeaf(past.tree, sd.leafIndex);
    const tree = past.secretTree.clone();
    const ac = unprotectPrivate(s.suite, pm, sd, tree, this.#cfg.ratchetLimits);
    verifyContent(s.suite, leaf.signatureKey, ac, past.context);
    const c = ac.content.content;
    if (c.type !== ContentType.Application) throw new MlsError("malformed", "content type mismatch");
    this.#s = { ...s, past: s.past.map((p) => p === past ? { ...p, secretTree: tree } : p) };
    return {
      kind: "application",
      sender: sd.leafIndex,
      epoch: pm.epoch,
      data: c.applicationData,
      authenticatedData: pm.authenticatedData,
    };
  }

  #dispatch(s: State, ac: AuthenticatedContent, sender: number, secretTree: SecretTree): Received {
    const c = ac.content.content;
    if (c.type === ContentType.Application) {
      this.#s = { ...s, secretTree };
      return {
        kind: "application",
        sender,
        epoch: s.context.epoch,
        data: c.applicationData,
        authenticatedData: ac.content.authenticatedData,
      };
    }
    if (c.type === ContentType.Proposal) {
      const from: Sender = { type: SenderType.Member, leafIndex: sender };
      validateProposal(this.#env(s), { proposal: c.proposal, sender: from });
      const ref = s.suite.proposalRef(encodeAuthenticatedContent(ac));
      if (s.proposals.some((p) => equalBytes(p.ref, ref))) {
        throw new MlsError("replay", "this proposal was already received");
      }
      this.#s = {
        ...s,
        secretTree,
        proposals: [...s.proposals, { ref, proposal: c.proposal, sender: from }],
      };
      return { kind: "proposal", sender, proposal: c.proposal, ref };
    }
    const result = this.#processCommit(s, ac, sender, secretTree, c.commit);
    this.#s = result.state;
    this.#pending = undefined;
    return result.info;
  }

  #processCommit(
    s: State,
    ac: AuthenticatedContent,
    sender: number,
    secretTree: SecretTree,
    commit: Commit,
  ): { state: State; info: CommitInfo } {
    const suite = s.suite;
    const list: SentProposal[] = commit.proposals.map((p) => {
      if (p.type === 1) {
        return { proposal: p.proposal, sender: { type: SenderType.Member, leafIndex: sender } };
      }
      const cached = s.proposals.find((c) => equalBytes(c.ref, p.ref));
      if (cached === undefined) {
        throw new MlsError("invalid-commit", "the commit refers to a proposal this member has not received");
      }
      return { proposal: cached.proposal, sender: cached.sender, ref: cached.ref };
    });
    const applied = applyProposals(this.#env(s), sender, list);
    const base = {
      kind: "commit" as const,
      sender,
      epoch: s.context.epoch + 1n,
      added: applied.added.map((a) => a.leaf),
      removed: applied.removed,
      updated: applied.updated,
      own: false,
    };
    if (applied.removed.includes(s.ownLeaf)) {
      // We cannot derive the next epoch (its secrets are not sent to us), so the group ends here for us.
      return {
        state: { ...s, secretTree, active: false, proposals: [], updateKeys: [] },
        info: { ...base, removedSelf: true },
      };
    }
    if (commit.path === undefined && applied.pathRequired) {
      throw new MlsError("invalid-commit", "the commit has no UpdatePath but its proposals require one");
    }
    const tree = applied.tree;
    const keys = s.keys.clone();
    let commitSecret: Uint8Array = new Uint8Array(suite.nh);
    // Our own Update, if the commit covers it: our leaf now has the key we proposed (needed to decrypt).
    if (applied.updated.includes(s.ownLeaf)) {
      const pk = tree.leaf(s.ownLeaf)!.encryptionKey;
      const k = s.updateKeys.find((u) => equalBytes(u.pk, pk));
      if (k === undefined) {
        throw new MlsError("invalid-commit", "the commit applies an Update of ours we did not send");
      }
      keys.set(2 * s.ownLeaf, k.sk, k.pk);
    }
    if (commit.path !== undefined) {
      const path = commit.path;
      const old = tree.leaf(sender)!;
      validateLeafNode(
        this.#leafContext(applied.extensions),
        path.leafNode,
        LeafNodeSource.Commit,
        tree,
        sender,
        s.context.groupId,
        {
          replacing: sender,
        },
      );
      if (!this.#cfg.policy.sameMember(old.credential, path.leafNode.credential)) {
        throw new MlsError(
          "invalid-credential",
          "the committer's new credential does not belong to the same member",
        );
      }
      if (equalBytes(old.encryptionKey, path.leafNode.encryptionKey)) {
        throw new MlsError("invalid-commit", "the committer's new leaf keeps its old encryption key");
      }
      for (const n of path.nodes) {
        for (let x = 0; x < tree.width; x++) {
          const k = tree.encryptionKey(x);
          if (k !== undefined && equalBytes(k, n.encryptionKey)) {
            throw new MlsError("invalid-commit", "an UpdatePath key is already in the tree");
          }
        }
      }
      const fdp = mergePath(suite, tree, sender, path);
      const provisional = encodeGroupContext({
        ...s.context,
        epoch: s.context.epoch + 1n,
        treeHash: tree.treeHash(suite),
        extensions: applied.extensions,
      });
      const added = new Set(applied.added.map((a) => a.leaf));
      commitSecret =
        decryptPath(suite, tree, sender, fdp, path, s.ownLeaf, keys, added, provisional).commitSecret;
    }
    keys.prune(tree);
    checkSize(applied.tree, this.#cfg.maxMembers);
    const next = this.#nextEpoch(
      s,
      secretTree,
      tree,
      keys,
      applied.extensions,
      commitSecret,
      applied.psks,
      ac.wireFormat,
      ac.content,
      ac.auth.signature,
    );
    if (!equalBytes(next.tag, ac.auth.confirmationTag!)) {
      throw new MlsError("bad-mac", "the commit's confirmation tag does not match");
    }
    return { state: next.state, info: { ...base, removedSelf: false } };
  }

  /** The state of the next epoch, and the confirmation tag the commit must carry. */
  #nextEpoch(
    s: State,
    oldSecretTree: SecretTree,
    tree: RatchetTree,
    keys: PrivateKeys,
    extensions: readonly Extension[],
    commitSecret: Uint8Array,
    psks: readonly { id: PreSharedKeyId; psk: Uint8Array }[],
    wireFormat: number,
    content: FramedContent,
    signature: Uint8Array,
  ): { state: State; tag: Uint8Array } {
    const suite = s.suite;
    const confirmed = confirmedTranscriptHash(suite, s.interim, wireFormat, content, signature);
    const context: GroupContext = {
      ...s.context,
      epoch: s.context.epoch + 1n,
      treeHash: tree.treeHash(suite),
      confirmedTranscriptHash: confirmed,
      extensions,
    };
    const secrets = deriveEpochSecrets(
      suite,
      s.secrets.initSecret,
      commitSecret,
      pskSecret(suite, psks),
      context,
    );
    const tag = suite.mac(secrets.confirmationKey, confirmed);
    const keep = this.#cfg.keepEpochs;
    const past = keep === 0 ? [] : [
      ...s.past,
      {
        context: s.context,
        tree: s.tree,
        senderDataSecret: s.secrets.senderDataSecret,
        secretTree: oldSecretTree,
      },
    ].slice(-keep);
    const resumption = [...s.resumption, { epoch: context.epoch, psk: secrets.resumptionPsk }].slice(
      -this.#cfg.resumptionEpochs,
    );
    const state: State = {
      ...s,
      context,
      tree,
      interim: interimTranscriptHash(suite, confirmed, tag),
      secrets,
      secretTree: new SecretTree(suite, secrets.encryptionSecret, tree.leafCount),
      keys,
      proposals: [],
      updateKeys: [],
      resumption,
      past,
    };
    return { state, tag };
  }

  // ---- helpers -------------------------------------------------------------------------------------

  #requireActive(): void {
    if (!this.#s.active) throw new MlsError("state", "this member was removed from the group");
  }

  #leafContext(extensions: readonly Extension[]): LeafContext {
    return {
      suite: this.#s.suite,
      policy: this.#cfg.policy,
      groupExtensions: extensions,
      now: this.#cfg.now?.(),
      maxLifetime: this.#cfg.maxLifetime,
    };
  }

  #env(s: State): ProposalEnv {
    return {
      suite: s.suite,
      groupId: s.context.groupId,
      tree: s.tree,
      extensions: s.context.extensions,
      policy: this.#cfg.policy,
      now: this.#cfg.now?.(),
      maxLifetime: this.#cfg.maxLifetime,
      psk: (id) => {
        if (id.type === PskType.External) return this.#cfg.externalPsk(id.pskId);
        if (!equalBytes(id.groupId, s.context.groupId)) return undefined;
        return s.resumption.find((r) => r.epoch === id.epoch)?.psk;
      },
    };
  }

  #readKeyPackage(bytes: Uint8Array): KeyPackage {
    const m = decodeMlsMessage(bytes);
    if (m.wireFormat !== WireFormat.KeyPackage) {
      throw new MlsError("invalid-key-package", "the message is not a KeyPackage");
    }
    return m.keyPackage;
  }

  // ---- serialisation -------------------------------------------------------------------------------

  /** The whole state (secrets included) as bytes, for the encrypted keystore. */
  serialize(): Uint8Array {
    const w = new Writer(16384).u8(STATE_VERSION);
    writeState(w, this.#s);
    w.optional(this.#pending, (w, p) => {
      w.opaque(p.message);
      writeState(w, p.state);
      writeInfo(w, p.info);
    });
    return w.finish();
  }

  /** A group from `serialize`'s bytes; `config` as when it was created. */
  static deserialize(bytes: Uint8Array, config: GroupConfig = {}): MlsGroup {
    return decodeAll(bytes, "group state", (r) => {
      const v = r.u8("state version");
      if (v !== STATE_VERSION) r.fail(`group state version ${v} is not supported`, "unsupported");
      const state = readState(r);
      const pending = r.optional(
        "pending commit",
        (r) => ({ message: r.opaque("message"), state: readState(r), info: readInfo(r) }),
      );
      return new MlsGroup(state, config, pending);
    });
  }

  /** A short description for logs (no secrets). */
  toString(): string {
    const s = this.#s;
    return `MlsGroup(${
      bytesToHex(s.context.groupId).slice(0, 16)
    }…, epoch ${s.context.epoch}, leaf ${s.ownLeaf}, ${s.tree.members().length} members)`;
  }
}

// ---- free helpers ------------------------------------------------------------------------------------

/** MlsError("limit") if `tree` has more than `max` members. */
function checkSize(tree: RatchetTree, max: number): void {
  if (tree.members().length > max) throw new MlsError("limit", `a group has at most ${max} members`);
}

/** Validates every leaf of a joined tree and its structure (§12.4.3.1). */
function validateTree(ctx: LeafContext, tree: RatchetTree, groupId: Uint8Array): void {
  tree.verifyStructure();
  tree.verifyParentHashes(ctx.suite);
  for (const i of tree.members()) {
    const leaf = tree.leaf(i)!;
    validateLeafNode(
      ctx,
      leaf,
      leaf.source,
      tree,
      i,
      leaf.source === LeafNodeSource.KeyPackage ? undefined : groupId,
    );
  }
}

function sameLeaf(a: LeafNode, b: LeafNode): boolean {
  return equalBytes(a.signature, b.signature) && equalBytes(a.encryptionKey, b.encryptionKey) &&
    equalBytes(a.signatureKey, b.signatureKey);
}

function makeGroupInfo(
  suite: CipherSuite,
  context: GroupContext,
  secrets: EpochSecrets,
  signer: number,
  signatureKey: Uint8Array,
  extensions: readonly Extension[],
  tag?: Uint8Array,
): GroupInfo {
  return signGroupInfo(suite, signatureKey, {
    groupContext: context,
    extensions,
    confirmationTag: tag ?? suite.mac(secrets.confirmationKey, context.confirmedTranscriptHash),
    signer,
  });
}

/**
 * The proposals a commit covers: pending ones (by reference) and new ones (by value), with conflicts
 * settled as §12.2 suggests (a Remove wins over an Update of the same leaf, the latest Update wins, one
 * GroupContextExtensions: the latest), our own Updates and Removes of ourselves left out.
 */
function selectProposals(
  s: State,
  pending: readonly CachedProposal[],
  byValue: readonly Proposal[],
  own: Sender,
): SentProposal[] {
  const all: SentProposal[] = [
    ...pending.map((p) => ({ proposal: p.proposal, sender: p.sender, ref: p.ref })),
    ...byValue.map((proposal) => ({ proposal, sender: own })),
  ];
  const removed = new Set<number>();
  for (const p of all) if (p.proposal.type === ProposalType.Remove) removed.add(p.proposal.removed);
  const lastUpdate = new Map<number, SentProposal>();
  let lastGce: SentProposal | undefined;
  for (const p of all) {
    if (p.proposal.type === ProposalType.Update && p.sender.type === SenderType.Member) {
      lastUpdate.set(p.sender.leafIndex, p);
    }
    if (p.proposal.type === ProposalType.GroupContextExtensions) lastGce = p;
  }
  const seenRemove = new Set<number>();
  const out: SentProposal[] = [];
  for (const p of all) {
    const prop = p.proposal;
    if (prop.type === ProposalType.Update) {
      const leaf = p.sender.type === SenderType.Member ? p.sender.leafIndex : -1;
      if (leaf === s.ownLeaf || removed.has(leaf) || lastUpdate.get(leaf) !== p) continue;
    } else if (prop.type === ProposalType.Remove) {
      // A pending Remove of ourselves is someone else's to commit; one we pass by value is refused later.
      if ((prop.removed === s.ownLeaf && p.ref) || seenRemove.has(prop.removed)) continue;
      seenRemove.add(prop.removed);
    } else if (prop.type === ProposalType.GroupContextExtensions && p !== lastGce) {
      continue;
    }
    out.push(p);
  }
  return out;
}

// ---- state encoding ----------------------------------------------------------------------------------

function writeSecrets(w: Writer, x: EpochSecrets): void {
  for (
    const v of [
      x.joinerSecret,
      x.welcomeSecret,
      x.senderDataSecret,
      x.encryptionSecret,
      x.exporterSecret,
      x.externalSecret,
      x.confirmationKey,
      x.membershipKey,
      x.resumptionPsk,
      x.epochAuthenticator,
      x.initSecret,
    ]
  ) w.opaque(v);
}

function readSecrets(r: Reader): EpochSecrets {
  const v = () => r.opaque("secret", 64);
  return {
    joinerSecret: v(),
    welcomeSecret: v(),
    senderDataSecret: v(),
    encryptionSecret: v(),
    exporterSecret: v(),
    externalSecret: v(),
    confirmationKey: v(),
    membershipKey: v(),
    resumptionPsk: v(),
    epochAuthenticator: v(),
    initSecret: v(),
  };
}

function writeState(w: Writer, s: State): void {
  writeGroupContext(w, s.context);
  w.opaque(s.tree.encode()).opaque(s.interim);
  writeSecrets(w, s.secrets);
  s.secretTree.write(w);
  s.keys.write(w);
  w.u32(s.ownLeaf).opaque(s.signatureKey);
  w.list(s.proposals, (w, p) => {
    w.opaque(p.ref);
    writeSender(w, p.sender);
    writeProposal(w, p.proposal);
  });
  w.list(s.updateKeys, (w, k) => w.opaque(k.sk).opaque(k.pk));
  w.list(s.resumption, (w, k) => w.u64(k.epoch).opaque(k.psk));
  w.list(s.past, (w, p) => {
    writeGroupContext(w, p.context);
    w.opaque(p.tree.encode()).opaque(p.senderDataSecret);
    p.secretTree.write(w);
  });
  w.u8(s.active ? 1 : 0);
}

function readState(r: Reader): State {
  const context = readGroupContext(r);
  const suite = getSuite(context.cipherSuite);
  const tree = RatchetTree.decode(r.opaque("tree"));
  const interim = r.opaque("interim transcript hash", 64);
  const secrets = readSecrets(r);
  const secretTree = SecretTree.read(r, suite);
  const keys = PrivateKeys.read(r);
  const ownLeaf = r.u32("own leaf");
  const signatureKey = r.opaque("signature key", 128);
  const proposals = r.vector(
    "proposals",
    (r) => ({ ref: r.opaque("ref", 64), sender: readSender(r), proposal: readProposal(r) }),
    1024,
  );
  const updateKeys = r.vector(
    "update keys",
    (r) => ({ sk: r.opaque("sk", 128), pk: r.opaque("pk", 256) }),
    64,
  );
  const resumption = r.vector(
    "resumption",
    (r) => ({ epoch: r.u64("epoch"), psk: r.opaque("psk", 64) }),
    1024,
  );
  const past = r.vector("past epochs", (r) => {
    const context = readGroupContext(r);
    return {
      context,
      tree: RatchetTree.decode(r.opaque("tree")),
      senderDataSecret: r.opaque("secret", 64),
      secretTree: SecretTree.read(r, suite),
    };
  }, 64);
  const active = r.u8("active") === 1;
  if (ownLeaf >= tree.leafCount || (active && tree.leaf(ownLeaf) === undefined)) {
    r.fail("own leaf is not in the tree");
  }
  return {
    suite,
    context,
    tree,
    interim,
    secrets,
    secretTree,
    keys,
    ownLeaf,
    signatureKey,
    proposals,
    updateKeys,
    resumption,
    past,
    active,
  };
}

function writeInfo(w: Writer, i: CommitInfo): void {
  w.u32(i.sender).u64(i.epoch);
  for (const list of [i.added, i.removed, i.updated]) w.list(list, (w, x) => w.u32(x));
}

function readInfo(r: Reader): CommitInfo {
  const sender = r.u32("sender"), epoch = r.u64("epoch");
  const list = () => r.vector("leaves", (r) => r.u32("leaf"), 1 << 14);
  return {
    kind: "commit",
    sender,
    epoch,
    added: list(),
    removed: list(),
    updated: list(),
    removedSelf: false,
    own: true,
  };
}
