// Every RFC 9420 structure sotto sends or receives, as TypeScript values, with its encoder and its strict
// decoder. Decoding is purely syntactic (keys, signatures and credentials are checked later, where their
// meaning is known) but bounded: each field and list has a limit, and an unknown code point in a `select`
// (proposal, credential, sender, content or wire type) is refused as "unsupported" because what follows it
// cannot be parsed. Encoding is canonical (minimal varints), so decode-then-encode gives the same bytes,
// which RefHash, the tree hash and the transcript hash rely on.

import { decodeAll, encodeWith, type Reader, type Writer } from "./codec.ts";

// ---- code points -------------------------------------------------------------------------------------

export const PROTOCOL_VERSION_MLS10 = 1;

export const WireFormat = {
  PublicMessage: 1,
  PrivateMessage: 2,
  Welcome: 3,
  GroupInfo: 4,
  KeyPackage: 5,
} as const;
export type WireFormatValue = (typeof WireFormat)[keyof typeof WireFormat];

export const ContentType = { Application: 1, Proposal: 2, Commit: 3 } as const;
export type ContentTypeValue = (typeof ContentType)[keyof typeof ContentType];

export const SenderType = { Member: 1, External: 2, NewMemberProposal: 3, NewMemberCommit: 4 } as const;

export const ProposalType = {
  Add: 1,
  Update: 2,
  Remove: 3,
  Psk: 4,
  ReInit: 5,
  ExternalInit: 6,
  GroupContextExtensions: 7,
} as const;

export const ExtensionType = {
  ApplicationId: 1,
  RatchetTree: 2,
  RequiredCapabilities: 3,
  ExternalPub: 4,
  ExternalSenders: 5,
} as const;

export const CredentialType = { Basic: 1, X509: 2 } as const;

export const LeafNodeSource = { KeyPackage: 1, Update: 2, Commit: 3 } as const;
export type LeafNodeSourceValue = (typeof LeafNodeSource)[keyof typeof LeafNodeSource];

export const PskType = { External: 1, Resumption: 2 } as const;
export const ResumptionPskUsage = { Application: 1, ReInit: 2, Branch: 3 } as const;

export const NodeType = { Leaf: 1, Parent: 2 } as const;

// ---- limits ------------------------------------------------------------------------------------------

/**
 * Hard limits of the decoder. They are far above what sotto's groups (at most 100 members) need and far
 * below what would let one message cost unbounded memory or work.
 */
export const LIMITS = {
  /** group_id bytes. */
  groupId: 256,
  /** An HPKE or signature public key, a signature, a MAC, a hash, a secret or a nonce. */
  key: 1024,
  /** A basic credential's identity. */
  identity: 64 * 1024,
  /** X.509 certificates in one credential, and bytes of one certificate. */
  certificates: 16,
  certificate: 64 * 1024,
  /** Entries of each capabilities list. */
  capabilities: 256,
  /** Extensions in one list, and bytes of one extension's data. */
  extensions: 64,
  extensionData: 16 * 1024 * 1024,
  /** Leaves of a ratchet tree (so at most 2 × 2^14 − 1 nodes). */
  leaves: 1 << 14,
  /** Proposals in one commit. */
  proposals: 1024,
  /** Nodes of an UpdatePath (tree depth). */
  pathNodes: 32,
  /** An HPKE ciphertext (a path secret, or GroupSecrets with their PSK list). */
  hpkeCiphertext: 1024 * 1024,
  /** PSKs in one GroupSecrets. */
  psks: 64,
  /** Bytes of authenticated_data and of application data. */
  data: 16 * 1024 * 1024,
} as const;

// ---- types -------------------------------------------------------------------------------------------

export type Credential =
  | { readonly type: typeof CredentialType.Basic; readonly identity: Uint8Array }
  | { readonly type: typeof CredentialType.X509; readonly certificates: readonly Uint8Array[] };

export interface Capabilities {
  readonly versions: readonly number[];
  readonly cipherSuites: readonly number[];
  readonly extensions: readonly number[];
  readonly proposals: readonly number[];
  readonly credentials: readonly number[];
}

export interface Lifetime {
  readonly notBefore: bigint;
  readonly notAfter: bigint;
}

export interface Extension {
  readonly type: number;
  readonly data: Uint8Array;
}

export interface LeafNode {
  readonly encryptionKey: Uint8Array;
  readonly signatureKey: Uint8Array;
  readonly credential: Credential;
  readonly capabilities: Capabilities;
  readonly source: LeafNodeSourceValue;
  /** Present exactly when source is key_package. */
  readonly lifetime?: Lifetime;
  /** Present exactly when source is commit. */
  readonly parentHash?: Uint8Array;
  readonly extensions: readonly Extension[];
  readonly signature: Uint8Array;
}

export interface ParentNode {
  readonly encryptionKey: Uint8Array;
  readonly parentHash: Uint8Array;
  readonly unmergedLeaves: readonly number[];
}

export type Node =
  | { readonly type: typeof NodeType.Leaf; readonly leaf: LeafNode }
  | { readonly type: typeof NodeType.Parent; readonly parent: ParentNode };

export interface KeyPackage {
  readonly version: number;
  readonly cipherSuite: number;
  readonly initKey: Uint8Array;
  readonly leafNode: LeafNode;
  readonly extensions: readonly Extension[];
  readonly signature: Uint8Array;
}

export type PreSharedKeyId =
  | { readonly type: typeof PskType.External; readonly pskId: Uint8Array; readonly nonce: Uint8Array }
  | {
    readonly type: typeof PskType.Resumption;
    readonly usage: number;
    readonly groupId: Uint8Array;
    readonly epoch: bigint;
    readonly nonce: Uint8Array;
  };

export type Proposal =
  | { readonly type: typeof ProposalType.Add; readonly keyPackage: KeyPackage }
  | { readonly type: typeof ProposalType.Update; readonly leafNode: LeafNode }
  | { readonly type: typeof ProposalType.Remove; readonly removed: number }
  | { readonly type: typeof ProposalType.Psk; readonly psk: PreSharedKeyId }
  | {
    readonly type: typeof ProposalType.ReInit;
    readonly groupId: Uint8Array;
    readonly version: number;
    readonly cipherSuite: number;
    readonly extensions: readonly Extension[];
  }
  | { readonly type: typeof ProposalType.ExternalInit; readonly kemOutput: Uint8Array }
  | { readonly type: typeof ProposalType.GroupContextExtensions; readonly extensions: readonly Extension[] };

export type ProposalOrRef =
  | { readonly type: 1; readonly proposal: Proposal }
  | { readonly type: 2; readonly ref: Uint8Array };

export interface HpkeCiphertext {
  readonly kemOutput: Uint8Array;
  readonly ciphertext: Uint8Array;
}

export interface UpdatePathNode {
  readonly encryptionKey: Uint8Array;
  readonly encryptedPathSecret: readonly HpkeCiphertext[];
}

export interface UpdatePath {
  readonly leafNode: LeafNode;
  readonly nodes: readonly UpdatePathNode[];
}

export interface Commit {
  readonly proposals: readonly ProposalOrRef[];
  readonly path?: UpdatePath;
}

export type Sender =
  | { readonly type: typeof SenderType.Member; readonly leafIndex: number }
  | { readonly type: typeof SenderType.External; readonly senderIndex: number }
  | { readonly type: typeof SenderType.NewMemberProposal }
  | { readonly type: typeof SenderType.NewMemberCommit };

export type Content =
  | { readonly type: typeof ContentType.Application; readonly applicationData: Uint8Array }
  | { readonly type: typeof ContentType.Proposal; readonly proposal: Proposal }
  | { readonly type: typeof ContentType.Commit; readonly commit: Commit };

export interface FramedContent {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly sender: Sender;
  readonly authenticatedData: Uint8Array;
  readonly content: Content;
}

export interface FramedContentAuthData {
  readonly signature: Uint8Array;
  /** Present exactly for commits. */
  readonly confirmationTag?: Uint8Array;
}

export interface AuthenticatedContent {
  readonly wireFormat: WireFormatValue;
  readonly content: FramedContent;
  readonly auth: FramedContentAuthData;
}

export interface PublicMessage {
  readonly content: FramedContent;
  readonly auth: FramedContentAuthData;
  /** Present exactly when the sender is a member. */
  readonly membershipTag?: Uint8Array;
}

export interface PrivateMessage {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly contentType: ContentTypeValue;
  readonly authenticatedData: Uint8Array;
  readonly encryptedSenderData: Uint8Array;
  readonly ciphertext: Uint8Array;
}

export interface GroupContext {
  readonly version: number;
  readonly cipherSuite: number;
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly treeHash: Uint8Array;
  readonly confirmedTranscriptHash: Uint8Array;
  readonly extensions: readonly Extension[];
}

export interface GroupInfo {
  readonly groupContext: GroupContext;
  readonly extensions: readonly Extension[];
  readonly confirmationTag: Uint8Array;
  readonly signer: number;
  readonly signature: Uint8Array;
}

export interface GroupSecrets {
  readonly joinerSecret: Uint8Array;
  readonly pathSecret?: Uint8Array;
  readonly psks: readonly PreSharedKeyId[];
}

export interface EncryptedGroupSecrets {
  readonly newMember: Uint8Array;
  readonly encryptedGroupSecrets: HpkeCiphertext;
}

export interface Welcome {
  readonly cipherSuite: number;
  readonly secrets: readonly EncryptedGroupSecrets[];
  readonly encryptedGroupInfo: Uint8Array;
}

export type MlsMessage =
  | { readonly wireFormat: typeof WireFormat.PublicMessage; readonly publicMessage: PublicMessage }
  | { readonly wireFormat: typeof WireFormat.PrivateMessage; readonly privateMessage: PrivateMessage }
  | { readonly wireFormat: typeof WireFormat.Welcome; readonly welcome: Welcome }
  | { readonly wireFormat: typeof WireFormat.GroupInfo; readonly groupInfo: GroupInfo }
  | { readonly wireFormat: typeof WireFormat.KeyPackage; readonly keyPackage: KeyPackage };

// ---- small pieces ------------------------------------------------------------------------------------

function readKeyBytes(r: Reader, field: string): Uint8Array {
  return r.opaque(field, LIMITS.key);
}

function readU16List(r: Reader, field: string): number[] {
  return r.vector(field, (s) => s.u16(field), LIMITS.capabilities);
}

export function writeCredential(w: Writer, c: Credential): void {
  w.u16(c.type);
  if (c.type === CredentialType.Basic) w.opaque(c.identity);
  else w.list(c.certificates, (w, cert) => w.opaque(cert));
}

export function readCredential(r: Reader): Credential {
  const type = r.u16("credential_type");
  if (type === CredentialType.Basic) return { type, identity: r.opaque("identity", LIMITS.identity) };
  if (type === CredentialType.X509) {
    return {
      type,
      certificates: r.vector(
        "certificates",
        (s) => s.opaque("cert_data", LIMITS.certificate),
        LIMITS.certificates,
      ),
    };
  }
  return r.fail(`credential type ${type} is not supported`, "unsupported");
}

export function writeCapabilities(w: Writer, c: Capabilities): void {
  for (const list of [c.versions, c.cipherSuites, c.extensions, c.proposals, c.credentials]) {
    w.list(list, (w, v) => w.u16(v));
  }
}

export function readCapabilities(r: Reader): Capabilities {
  return {
    versions: readU16List(r, "versions"),
    cipherSuites: readU16List(r, "cipher_suites"),
    extensions: readU16List(r, "extensions"),
    proposals: readU16List(r, "proposals"),
    credentials: readU16List(r, "credentials"),
  };
}

export function writeExtensions(w: Writer, list: readonly Extension[]): void {
  w.list(list, (w, e) => w.u16(e.type).opaque(e.data));
}

export function readExtensions(r: Reader, field = "extensions"): Extension[] {
  return r.vector(
    field,
    (s) => ({ type: s.u16("extension_type"), data: s.opaque("extension_data", LIMITS.extensionData) }),
    LIMITS.extensions,
  );
}

// ---- leaf and parent nodes ---------------------------------------------------------------------------

/** The fields of a LeafNode up to (not including) the signature, shared by LeafNode and LeafNodeTBS. */
function writeLeafNodeFields(w: Writer, n: LeafNode): void {
  w.opaque(n.encryptionKey).opaque(n.signatureKey);
  writeCredential(w, n.credential);
  writeCapabilities(w, n.capabilities);
  w.u8(n.source);
  if (n.source === LeafNodeSource.KeyPackage) {
    const lt = n.lifetime!;
    w.u64(lt.notBefore).u64(lt.notAfter);
  } else if (n.source === LeafNodeSource.Commit) {
    w.opaque(n.parentHash!);
  }
  writeExtensions(w, n.extensions);
}

export function writeLeafNode(w: Writer, n: LeafNode): void {
  writeLeafNodeFields(w, n);
  w.opaque(n.signature);
}

/** LeafNodeTBS (§7.2): the fields, then group_id and leaf_index for the update and commit sources. */
export function encodeLeafNodeTbs(n: LeafNode, groupId?: Uint8Array, leafIndex?: number): Uint8Array {
  return encodeWith((w) => {
    writeLeafNodeFields(w, n);
    if (n.source !== LeafNodeSource.KeyPackage) {
      if (groupId === undefined || leafIndex === undefined) {
        throw new RangeError("an update or commit leaf node is signed with its group ID and leaf index");
      }
      w.opaque(groupId).u32(leafIndex);
    }
  });
}

export function readLeafNode(r: Reader): LeafNode {
  const encryptionKey = readKeyBytes(r, "encryption_key");
  const signatureKey = readKeyBytes(r, "signature_key");
  const credential = readCredential(r);
  const capabilities = readCapabilities(r);
  const source = r.u8("leaf_node_source");
  let lifetime: Lifetime | undefined, parentHash: Uint8Array | undefined;
  if (source === LeafNodeSource.KeyPackage) {
    lifetime = { notBefore: r.u64("not_before"), notAfter: r.u64("not_after") };
  } else if (source === LeafNodeSource.Commit) {
    parentHash = r.opaque("parent_hash", LIMITS.key);
  } else if (source !== LeafNodeSource.Update) {
    r.fail(`leaf_node_source ${source} is not defined`);
  }
  const extensions = readExtensions(r);
  const signature = r.opaque("signature", LIMITS.key);
  return {
    encryptionKey,
    signatureKey,
    credential,
    capabilities,
    source: source as LeafNodeSourceValue,
    ...(lifetime ? { lifetime } : {}),
    ...(parentHash ? { parentHash } : {}),
    extensions,
    signature,
  };
}

export function writeParentNode(w: Writer, p: ParentNode): void {
  w.opaque(p.encryptionKey).opaque(p.parentHash).list(p.unmergedLeaves, (w, l) => w.u32(l));
}

export function readParentNode(r: Reader): ParentNode {
  return {
    encryptionKey: readKeyBytes(r, "encryption_key"),
    parentHash: r.opaque("parent_hash", LIMITS.key),
    unmergedLeaves: r.vector("unmerged_leaves", (s) => s.u32("unmerged leaf"), LIMITS.leaves),
  };
}

export function writeNode(w: Writer, n: Node): void {
  w.u8(n.type);
  if (n.type === NodeType.Leaf) writeLeafNode(w, n.leaf);
  else writeParentNode(w, n.parent);
}

export function readNode(r: Reader): Node {
  const type = r.u8("node_type");
  if (type === NodeType.Leaf) return { type, leaf: readLeafNode(r) };
  if (type === NodeType.Parent) return { type, parent: readParentNode(r) };
  return r.fail(`node_type ${type} is not defined`);
}

/** optional<Node> ratchet_tree<V> (§12.4.3.3), as given (trailing blanks are the caller's concern). */
export function writeRatchetTree(w: Writer, nodes: readonly (Node | undefined)[]): void {
  w.list(nodes, (w, n) => w.optional(n, writeNode));
}

export function readRatchetTree(r: Reader): (Node | undefined)[] {
  return r.vector("ratchet_tree", (s) => s.optional("node", readNode), 2 * LIMITS.leaves - 1);
}

// ---- key packages --------------------------------------------------------------------------------------

function writeKeyPackageFields(w: Writer, k: KeyPackage): void {
  w.u16(k.version).u16(k.cipherSuite).opaque(k.initKey);
  writeLeafNode(w, k.leafNode);
  writeExtensions(w, k.extensions);
}

export function writeKeyPackage(w: Writer, k: KeyPackage): void {
  writeKeyPackageFields(w, k);
  w.opaque(k.signature);
}

export function encodeKeyPackageTbs(k: KeyPackage): Uint8Array {
  return encodeWith((w) => writeKeyPackageFields(w, k));
}

export function readKeyPackage(r: Reader): KeyPackage {
  return {
    version: r.u16("version"),
    cipherSuite: r.u16("cipher_suite"),
    initKey: readKeyBytes(r, "init_key"),
    leafNode: readLeafNode(r),
    extensions: readExtensions(r),
    signature: r.opaque("signature", LIMITS.key),
  };
}

// ---- proposals and commits -------------------------------------------------------------------------------

export function writePreSharedKeyId(w: Writer, p: PreSharedKeyId): void {
  w.u8(p.type);
  if (p.type === PskType.External) w.opaque(p.pskId);
  else w.u8(p.usage).opaque(p.groupId).u64(p.epoch);
  w.opaque(p.nonce);
}

export function readPreSharedKeyId(r: Reader): PreSharedKeyId {
  const type = r.u8("psktype");
  if (type === PskType.External) {
    return { type, pskId: r.opaque("psk_id", LIMITS.identity), nonce: r.opaque("psk_nonce", LIMITS.key) };
  }
  if (type === PskType.Resumption) {
    return {
      type,
      usage: r.u8("usage"),
      groupId: r.opaque("psk_group_id", LIMITS.groupId),
      epoch: r.u64("psk_epoch"),
      nonce: r.opaque("psk_nonce", LIMITS.key),
    };
  }
  return r.fail(`psktype ${type} is not defined`);
}

export function writeProposal(w: Writer, p: Proposal): void {
  w.u16(p.type);
  switch (p.type) {
    case ProposalType.Add:
      return writeKeyPackage(w, p.keyPackage);
    case ProposalType.Update:
      return writeLeafNode(w, p.leafNode);
    case ProposalType.Remove:
      w.u32(p.removed);
      return;
    case ProposalType.Psk:
      return writePreSharedKeyId(w, p.psk);
    case ProposalType.ReInit:
      w.opaque(p.groupId).u16(p.version).u16(p.cipherSuite);
      return writeExtensions(w, p.extensions);
    case ProposalType.ExternalInit:
      w.opaque(p.kemOutput);
      return;
    case ProposalType.GroupContextExtensions:
      return writeExtensions(w, p.extensions);
  }
}

export function readProposal(r: Reader): Proposal {
  const type = r.u16("proposal_type");
  switch (type) {
    case ProposalType.Add:
      return { type, keyPackage: readKeyPackage(r) };
    case ProposalType.Update:
      return { type, leafNode: readLeafNode(r) };
    case ProposalType.Remove:
      return { type, removed: r.u32("removed") };
    case ProposalType.Psk:
      return { type, psk: readPreSharedKeyId(r) };
    case ProposalType.ReInit:
      return {
        type,
        groupId: r.opaque("group_id", LIMITS.groupId),
        version: r.u16("version"),
        cipherSuite: r.u16("cipher_suite"),
        extensions: readExtensions(r),
      };
    case ProposalType.ExternalInit:
      return { type, kemOutput: readKeyBytes(r, "kem_output") };
    case ProposalType.GroupContextExtensions:
      return { type, extensions: readExtensions(r) };
  }
  return r.fail(`proposal type ${type} is not supported`, "unsupported");
}

function writeHpkeCiphertext(w: Writer, c: HpkeCiphertext): void {
  w.opaque(c.kemOutput).opaque(c.ciphertext);
}

function readHpkeCiphertext(r: Reader): HpkeCiphertext {
  // A path secret is Nh + 16 bytes, but GroupSecrets grow with their PSK list.
  return {
    kemOutput: readKeyBytes(r, "kem_output"),
    ciphertext: r.opaque("ciphertext", LIMITS.hpkeCiphertext),
  };
}

export function writeUpdatePath(w: Writer, p: UpdatePath): void {
  writeLeafNode(w, p.leafNode);
  w.list(p.nodes, (w, n) => {
    w.opaque(n.encryptionKey).list(n.encryptedPathSecret, writeHpkeCiphertext);
  });
}

export function readUpdatePath(r: Reader): UpdatePath {
  return {
    leafNode: readLeafNode(r),
    nodes: r.vector("nodes", (s) => ({
      encryptionKey: readKeyBytes(s, "encryption_key"),
      encryptedPathSecret: s.vector("encrypted_path_secret", readHpkeCiphertext, LIMITS.leaves),
    }), LIMITS.pathNodes),
  };
}

export function writeCommit(w: Writer, c: Commit): void {
  w.list(c.proposals, (w, p) => {
    w.u8(p.type);
    if (p.type === 1) writeProposal(w, p.proposal);
    else w.opaque(p.ref);
  });
  w.optional(c.path, writeUpdatePath);
}

export function readCommit(r: Reader): Commit {
  const proposals = r.vector("proposals", (s): ProposalOrRef => {
    const type = s.u8("ProposalOrRefType");
    if (type === 1) return { type, proposal: readProposal(s) };
    if (type === 2) return { type, ref: s.opaque("reference", LIMITS.key) };
    return s.fail(`ProposalOrRefType ${type} is not defined`);
  }, LIMITS.proposals);
  const path = r.optional("path", readUpdatePath);
  return path ? { proposals, path } : { proposals };
}

// ---- framing -------------------------------------------------------------------------------------------

export function writeSender(w: Writer, s: Sender): void {
  w.u8(s.type);
  if (s.type === SenderType.Member) w.u32(s.leafIndex);
  else if (s.type === SenderType.External) w.u32(s.senderIndex);
}

export function readSender(r: Reader): Sender {
  const type = r.u8("sender_type");
  switch (type) {
    case SenderType.Member:
      return { type, leafIndex: r.u32("leaf_index") };
    case SenderType.External:
      return { type, senderIndex: r.u32("sender_index") };
    case SenderType.NewMemberProposal:
    case SenderType.NewMemberCommit:
      return { type };
  }
  return r.fail(`sender_type ${type} is not defined`);
}

/** The content-type-dependent body (application_data, Proposal or Commit). */
export function writeContentBody(w: Writer, c: Content): void {
  if (c.type === ContentType.Application) w.opaque(c.applicationData);
  else if (c.type === ContentType.Proposal) writeProposal(w, c.proposal);
  else writeCommit(w, c.commit);
}

export function readContentBody(r: Reader, type: number): Content {
  switch (type) {
    case ContentType.Application:
      return { type, applicationData: r.opaque("application_data", LIMITS.data) };
    case ContentType.Proposal:
      return { type, proposal: readProposal(r) };
    case ContentType.Commit:
      return { type, commit: readCommit(r) };
  }
  return r.fail(`content_type ${type} is not defined`);
}

export function writeFramedContent(w: Writer, c: FramedContent): void {
  w.opaque(c.groupId).u64(c.epoch);
  writeSender(w, c.sender);
  w.opaque(c.authenticatedData).u8(c.content.type);
  writeContentBody(w, c.content);
}

export function readFramedContent(r: Reader): FramedContent {
  const groupId = r.opaque("group_id", LIMITS.groupId);
  const epoch = r.u64("epoch");
  const sender = readSender(r);
  const authenticatedData = r.opaque("authenticated_data", LIMITS.data);
  const content = readContentBody(r, r.u8("content_type"));
  return { groupId, epoch, sender, authenticatedData, content };
}

export function writeAuthData(w: Writer, a: FramedContentAuthData, contentType: number): void {
  w.opaque(a.signature);
  if (contentType === ContentType.Commit) w.opaque(a.confirmationTag!);
}

export function readAuthData(r: Reader, contentType: number): FramedContentAuthData {
  const signature = r.opaque("signature", LIMITS.key);
  if (contentType !== ContentType.Commit) return { signature };
  return { signature, confirmationTag: r.opaque("confirmation_tag", LIMITS.key) };
}

/** FramedContentTBS (§6.1): the GroupContext is included for member and new_member_commit senders. */
export function encodeFramedContentTbs(
  wireFormat: number,
  content: FramedContent,
  groupContext: GroupContext | undefined,
): Uint8Array {
  return encodeWith((w) => {
    w.u16(PROTOCOL_VERSION_MLS10).u16(wireFormat);
    writeFramedContent(w, content);
    const t = content.sender.type;
    if (t === SenderType.Member || t === SenderType.NewMemberCommit) {
      if (groupContext === undefined) {
        throw new RangeError("a member's content is signed with the GroupContext");
      }
      writeGroupContext(w, groupContext);
    }
  });
}

export function writeAuthenticatedContent(w: Writer, a: AuthenticatedContent): void {
  w.u16(a.wireFormat);
  writeFramedContent(w, a.content);
  writeAuthData(w, a.auth, a.content.content.type);
}

export function encodeAuthenticatedContent(a: AuthenticatedContent): Uint8Array {
  return encodeWith((w) => writeAuthenticatedContent(w, a));
}

export function readAuthenticatedContent(r: Reader): AuthenticatedContent {
  const wireFormat = r.u16("wire_format");
  if (wireFormat !== WireFormat.PublicMessage && wireFormat !== WireFormat.PrivateMessage) {
    r.fail(`wire_format ${wireFormat} does not carry content`);
  }
  const content = readFramedContent(r);
  return { wireFormat: wireFormat as WireFormatValue, content, auth: readAuthData(r, content.content.type) };
}

export function writePublicMessage(w: Writer, m: PublicMessage): void {
  writeFramedContent(w, m.content);
  writeAuthData(w, m.auth, m.content.content.type);
  if (m.content.sender.type === SenderType.Member) w.opaque(m.membershipTag!);
}

export function readPublicMessage(r: Reader): PublicMessage {
  const content = readFramedContent(r);
  const auth = readAuthData(r, content.content.type);
  if (content.sender.type !== SenderType.Member) return { content, auth };
  return { content, auth, membershipTag: r.opaque("membership_tag", LIMITS.key) };
}

export function writePrivateMessage(w: Writer, m: PrivateMessage): void {
  w.opaque(m.groupId).u64(m.epoch).u8(m.contentType).opaque(m.authenticatedData).opaque(m.encryptedSenderData)
    .opaque(m.ciphertext);
}

export function readPrivateMessage(r: Reader): PrivateMessage {
  const groupId = r.opaque("group_id", LIMITS.groupId);
  const epoch = r.u64("epoch");
  const contentType = r.u8("content_type");
  if (contentType < 1 || contentType > 3) r.fail(`content_type ${contentType} is not defined`);
  return {
    groupId,
    epoch,
    contentType: contentType as ContentTypeValue,
    authenticatedData: r.opaque("authenticated_data", LIMITS.data),
    encryptedSenderData: r.opaque("encrypted_sender_data", LIMITS.key),
    ciphertext: r.opaque("ciphertext", LIMITS.data + 1024 * 1024),
  };
}

// ---- group context, group info, welcome -------------------------------------------------------------------

export function writeGroupContext(w: Writer, g: GroupContext): void {
  w.u16(g.version).u16(g.cipherSuite).opaque(g.groupId).u64(g.epoch).opaque(g.treeHash)
    .opaque(g.confirmedTranscriptHash);
  writeExtensions(w, g.extensions);
}

export function encodeGroupContext(g: GroupContext): Uint8Array {
  return encodeWith((w) => writeGroupContext(w, g));
}

export function readGroupContext(r: Reader): GroupContext {
  return {
    version: r.u16("version"),
    cipherSuite: r.u16("cipher_suite"),
    groupId: r.opaque("group_id", LIMITS.groupId),
    epoch: r.u64("epoch"),
    treeHash: r.opaque("tree_hash", LIMITS.key),
    confirmedTranscriptHash: r.opaque("confirmed_transcript_hash", LIMITS.key),
    extensions: readExtensions(r),
  };
}

function writeGroupInfoFields(w: Writer, g: GroupInfo): void {
  writeGroupContext(w, g.groupContext);
  writeExtensions(w, g.extensions);
  w.opaque(g.confirmationTag).u32(g.signer);
}

export function writeGroupInfo(w: Writer, g: GroupInfo): void {
  writeGroupInfoFields(w, g);
  w.opaque(g.signature);
}

export function encodeGroupInfoTbs(g: GroupInfo): Uint8Array {
  return encodeWith((w) => writeGroupInfoFields(w, g));
}

export function readGroupInfo(r: Reader): GroupInfo {
  return {
    groupContext: readGroupContext(r),
    extensions: readExtensions(r),
    confirmationTag: r.opaque("confirmation_tag", LIMITS.key),
    signer: r.u32("signer"),
    signature: r.opaque("signature", LIMITS.key),
  };
}

export function writeGroupSecrets(w: Writer, g: GroupSecrets): void {
  w.opaque(g.joinerSecret).optional(g.pathSecret, (w, p) => w.opaque(p)).list(g.psks, writePreSharedKeyId);
}

export function readGroupSecrets(r: Reader): GroupSecrets {
  const joinerSecret = r.opaque("joiner_secret", LIMITS.key);
  const pathSecret = r.optional("path_secret", (s) => s.opaque("path_secret", LIMITS.key));
  const psks = r.vector("psks", readPreSharedKeyId, LIMITS.psks);
  return pathSecret ? { joinerSecret, pathSecret, psks } : { joinerSecret, psks };
}

export function writeWelcome(w: Writer, m: Welcome): void {
  w.u16(m.cipherSuite).list(m.secrets, (w, s) => {
    w.opaque(s.newMember);
    writeHpkeCiphertext(w, s.encryptedGroupSecrets);
  }).opaque(m.encryptedGroupInfo);
}

export function readWelcome(r: Reader): Welcome {
  return {
    cipherSuite: r.u16("cipher_suite"),
    secrets: r.vector("secrets", (s) => ({
      newMember: s.opaque("new_member", LIMITS.key),
      encryptedGroupSecrets: readHpkeCiphertext(s),
    }), LIMITS.leaves),
    encryptedGroupInfo: r.opaque("encrypted_group_info", LIMITS.extensionData + 1024 * 1024),
  };
}

// ---- MLSMessage -------------------------------------------------------------------------------------------

export function writeMlsMessage(w: Writer, m: MlsMessage): void {
  w.u16(PROTOCOL_VERSION_MLS10).u16(m.wireFormat);
  switch (m.wireFormat) {
    case WireFormat.PublicMessage:
      return writePublicMessage(w, m.publicMessage);
    case WireFormat.PrivateMessage:
      return writePrivateMessage(w, m.privateMessage);
    case WireFormat.Welcome:
      return writeWelcome(w, m.welcome);
    case WireFormat.GroupInfo:
      return writeGroupInfo(w, m.groupInfo);
    case WireFormat.KeyPackage:
      return writeKeyPackage(w, m.keyPackage);
  }
}

export function encodeMlsMessage(m: MlsMessage): Uint8Array {
  return encodeWith((w) => writeMlsMessage(w, m));
}

export function readMlsMessage(r: Reader): MlsMessage {
  const version = r.u16("version");
  if (version !== PROTOCOL_VERSION_MLS10) {
    r.fail(`protocol version ${version} is not supported`, "unsupported");
  }
  const wireFormat = r.u16("wire_format");
  switch (wireFormat) {
    case WireFormat.PublicMessage:
      return { wireFormat, publicMessage: readPublicMessage(r) };
    case WireFormat.PrivateMessage:
      return { wireFormat, privateMessage: readPrivateMessage(r) };
    case WireFormat.Welcome:
      return { wireFormat, welcome: readWelcome(r) };
    case WireFormat.GroupInfo:
      return { wireFormat, groupInfo: readGroupInfo(r) };
    case WireFormat.KeyPackage: {
      const keyPackage = readKeyPackage(r);
      // §10: a KeyPackage's version must be that of the MLSMessage carrying it.
      if (keyPackage.version !== version) r.fail("the KeyPackage's version differs from its MLSMessage's");
      return { wireFormat, keyPackage };
    }
  }
  return r.fail(`wire format ${wireFormat} is not supported`, "unsupported");
}

export function decodeMlsMessage(bytes: Uint8Array): MlsMessage {
  return decodeAll(bytes, "MLSMessage", readMlsMessage);
}

/** Encodes any structure with its writer. */
export function encode<T>(write: (w: Writer, v: T) => void, v: T): Uint8Array {
  return encodeWith((w) => write(w, v));
}

/** Decodes a whole byte string as one structure. */
export function decode<T>(read: (r: Reader) => T, bytes: Uint8Array, what: string): T {
  return decodeAll(bytes, what, read);
}
