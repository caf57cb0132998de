// Leaf nodes and KeyPackages: signing them (LeafNodeTBS with the group ID and leaf index for the update
// and commit sources, KeyPackageTBS), and their validation (RFC 9420 §7.3 and §10.1) against the group's
// parameters and its credential policy: credential, signature, capabilities (required capabilities, the
// credential types of every member), lifetime when the caller has a clock, extensions listed in the
// capabilities, the source, and keys that are valid points and unique in the group.

import { MlsError } from "./errors.ts";
import {
  type Capabilities,
  type Credential,
  encodeKeyPackageTbs,
  encodeLeafNodeTbs,
  type Extension,
  ExtensionType,
  type KeyPackage,
  type LeafNode,
  LeafNodeSource,
  type LeafNodeSourceValue,
  ProposalType,
  PROTOCOL_VERSION_MLS10,
} from "./messages.ts";
import type { CipherSuite } from "./suite.ts";
import type { RatchetTree } from "./tree.ts";
import { Reader } from "./codec.ts";

/**
 * The Authentication Service of a group (RFC 9420 §5.3.1): decides whether a credential legitimately
 * binds a signature key, and whether a member may replace its credential with another.
 */
export interface CredentialPolicy {
  /** A short name, for messages. */
  readonly name: string;
  /** Throws MlsError("invalid-credential") unless `credential` is acceptable with `signatureKey`. */
  validate(credential: Credential, signatureKey: Uint8Array, suite: CipherSuite): void;
  /** True if `next` may succeed `previous` for the same member (both already accepted by `validate`). */
  sameMember(previous: Credential, next: Credential): boolean;
}

/** What leaf-node validation needs to know about the group. */
export interface LeafContext {
  readonly suite: CipherSuite;
  readonly policy: CredentialPolicy;
  /** The GroupContext extensions (for required_capabilities); none for a KeyPackage checked alone. */
  readonly groupExtensions: readonly Extension[];
  /** Current Unix time in seconds; without it lifetimes are not checked (the layer has no clock). */
  readonly now?: bigint;
  /** The longest lifetime (not_after − not_before) accepted, in seconds, when `now` is given. */
  readonly maxLifetime?: bigint;
}

const DEFAULT_PROPOSALS = new Set<number>([1, 2, 3, 4, 5, 6, 7]);
const DEFAULT_EXTENSIONS = new Set<number>([1, 2, 3, 4, 5]);

/** Signs a leaf node (its `signature` field is ignored). */
export function signLeafNode(
  suite: CipherSuite,
  signatureSecretKey: Uint8Array,
  leaf: Omit<LeafNode, "signature">,
  groupId?: Uint8Array,
  leafIndex?: number,
): LeafNode {
  const unsigned = { ...leaf, signature: new Uint8Array(0) } as LeafNode;
  const tbs = encodeLeafNodeTbs(unsigned, groupId, leafIndex);
  return { ...unsigned, signature: suite.signWithLabel(signatureSecretKey, "LeafNodeTBS", tbs) };
}

/** True if the leaf node's signature verifies (group ID and index matter for the update/commit sources). */
export function verifyLeafNodeSignature(
  suite: CipherSuite,
  leaf: LeafNode,
  groupId?: Uint8Array,
  leafIndex?: number,
): boolean {
  if (leaf.source !== LeafNodeSource.KeyPackage && (groupId === undefined || leafIndex === undefined)) {
    return false;
  }
  return suite.verifyWithLabel(
    leaf.signatureKey,
    "LeafNodeTBS",
    encodeLeafNodeTbs(leaf, groupId, leafIndex),
    leaf.signature,
  );
}

/** Signs a KeyPackage (its `signature` field is ignored). */
export function signKeyPackage(
  suite: CipherSuite,
  signatureSecretKey: Uint8Array,
  kp: Omit<KeyPackage, "signature">,
): KeyPackage {
  const unsigned = { ...kp, signature: new Uint8Array(0) } as KeyPackage;
  return {
    ...unsigned,
    signature: suite.signWithLabel(signatureSecretKey, "KeyPackageTBS", encodeKeyPackageTbs(unsigned)),
  };
}

/** The RequiredCapabilities of a GroupContext's extensions, if any. */
export function requiredCapabilities(
  extensions: readonly Extension[],
): { extensions: number[]; proposals: number[]; credentials: number[] } | undefined {
  const e = extensions.find((x) => x.type === ExtensionType.RequiredCapabilities);
  if (e === undefined) return undefined;
  const r = new Reader(e.data, "required_capabilities");
  const list = (field: string) => r.vector(field, (s) => s.u16(field), 256);
  const out = {
    extensions: list("extension_types"),
    proposals: list("proposal_types"),
    credentials: list("credential_types"),
  };
  r.end();
  return out;
}

/** True if `caps` supports the extension type (default types always are). */
export function supportsExtension(caps: Capabilities, type: number): boolean {
  return DEFAULT_EXTENSIONS.has(type) || caps.extensions.includes(type);
}

/** True if `caps` supports the proposal type (default types always are). */
export function supportsProposal(caps: Capabilities, type: number): boolean {
  return DEFAULT_PROPOSALS.has(type) || caps.proposals.includes(type);
}

/**
 * Validates a leaf node (§7.3) that is to sit at `leafIndex` of `tree` (or, for a KeyPackage, is checked
 * before use: pass `leafIndex` undefined). `expectedSource` is the source its context demands;
 * `replacing` is the leaf index it replaces (an Update or commit path), whose own keys do not count as
 * duplicates. `ignoreLeaves` are leaves removed by the same commit. Throws MlsError with the reason.
 */
export function validateLeafNode(
  ctx: LeafContext,
  leaf: LeafNode,
  expectedSource: LeafNodeSourceValue,
  tree: RatchetTree | undefined,
  leafIndex: number | undefined,
  groupId: Uint8Array | undefined,
  options: { replacing?: number; ignoreLeaves?: ReadonlySet<number> } = {},
): void {
  const { suite } = ctx;
  suite.validatePublicKey(leaf.signatureKey, "the leaf's signature key");
  suite.validatePublicKey(leaf.encryptionKey, "the leaf's encryption key");
  ctx.policy.validate(leaf.credential, leaf.signatureKey, suite);
  if (leaf.source !== expectedSource) {
    throw new MlsError(
      "invalid-leaf",
      `a leaf node here must have source ${expectedSource}, not ${leaf.source}`,
    );
  }
  if (!verifyLeafNodeSignature(suite, leaf, groupId, leafIndex)) {
    throw new MlsError("bad-signature", "the leaf node's signature does not verify");
  }
  const caps = leaf.capabilities;
  if (!caps.versions.includes(PROTOCOL_VERSION_MLS10)) {
    throw new MlsError("invalid-leaf", "the leaf node does not support MLS 1.0");
  }
  if (!caps.cipherSuites.includes(suite.id)) {
    throw new MlsError("invalid-leaf", `the leaf node does not support cipher suite ${suite.id}`);
  }
  if (!caps.credentials.includes(leaf.credential.type)) {
    throw new MlsError("invalid-leaf", "the leaf node's capabilities do not list its own credential type");
  }
  for (const e of leaf.extensions) {
    if (!supportsExtension(caps, e.type)) {
      throw new MlsError(
        "invalid-leaf",
        `the leaf node carries extension ${e.type} that its capabilities omit`,
      );
    }
  }
  checkUniqueTypes(leaf.extensions, "the leaf node's extensions");
  const required = requiredCapabilities(ctx.groupExtensions);
  if (required) {
    const missing = required.extensions.find((t) => !supportsExtension(caps, t)) ??
      required.proposals.find((t) => !supportsProposal(caps, t)) ??
      required.credentials.find((t) => !caps.credentials.includes(t));
    if (missing !== undefined) {
      throw new MlsError("invalid-leaf", `the leaf node lacks the group's required capability ${missing}`);
    }
  }
  for (const e of ctx.groupExtensions) {
    if (!supportsExtension(caps, e.type)) {
      throw new MlsError("invalid-leaf", `the leaf node does not support the group's extension ${e.type}`);
    }
  }
  if (leaf.source === LeafNodeSource.KeyPackage && ctx.now !== undefined) {
    const lt = leaf.lifetime!;
    if (ctx.now < lt.notBefore || ctx.now > lt.notAfter) {
      throw new MlsError("invalid-leaf", "the leaf node is outside its lifetime");
    }
    if (ctx.maxLifetime !== undefined && lt.notAfter - lt.notBefore > ctx.maxLifetime) {
      throw new MlsError("invalid-leaf", "the leaf node's lifetime is longer than this group accepts");
    }
  }
  if (tree === undefined) return;
  // Credential types: ours must be supported by every member, and we must support every member's.
  const ignore = options.ignoreLeaves;
  for (const i of tree.members()) {
    if (i === leafIndex || i === options.replacing || ignore?.has(i)) continue;
    const other = tree.leaf(i)!;
    if (!other.capabilities.credentials.includes(leaf.credential.type)) {
      throw new MlsError("invalid-leaf", `member ${i} does not support the leaf node's credential type`);
    }
    if (!caps.credentials.includes(other.credential.type)) {
      throw new MlsError("invalid-leaf", `the leaf node does not support member ${i}'s credential type`);
    }
    if (equalKeys(other.signatureKey, leaf.signatureKey)) {
      throw new MlsError("invalid-leaf", `the leaf node's signature key is already member ${i}'s`);
    }
  }
  // Encryption keys are unique across every node of the tree.
  for (let x = 0; x < tree.width; x++) {
    if (x === 2 * (options.replacing ?? -1) || x === 2 * (leafIndex ?? -1)) continue;
    if (x % 2 === 0 && ignore?.has(x / 2)) continue;
    const k = tree.encryptionKey(x);
    if (k !== undefined && equalKeys(k, leaf.encryptionKey)) {
      throw new MlsError("invalid-leaf", `the leaf node's encryption key is already used by node ${x}`);
    }
  }
}

/**
 * Validates a KeyPackage (§10.1) for a group of `suite`: version and suite, the leaf node (source
 * key_package; against `tree` too when given), the signature, and an init key distinct from the leaf's
 * encryption key.
 */
export function validateKeyPackage(ctx: LeafContext, kp: KeyPackage, tree?: RatchetTree): void {
  if (kp.version !== PROTOCOL_VERSION_MLS10) {
    throw new MlsError("invalid-key-package", `the KeyPackage is for protocol version ${kp.version}`);
  }
  if (kp.cipherSuite !== ctx.suite.id) {
    throw new MlsError(
      "invalid-key-package",
      `the KeyPackage is for cipher suite ${kp.cipherSuite}, not ${ctx.suite.id}`,
    );
  }
  ctx.suite.validatePublicKey(kp.initKey, "the KeyPackage's init key");
  if (equalKeys(kp.initKey, kp.leafNode.encryptionKey)) {
    throw new MlsError("invalid-key-package", "the KeyPackage's init key equals its encryption key");
  }
  checkUniqueTypes(kp.extensions, "the KeyPackage's extensions");
  validateLeafNode(ctx, kp.leafNode, LeafNodeSource.KeyPackage, tree, undefined, undefined);
  if (
    !ctx.suite.verifyWithLabel(
      kp.leafNode.signatureKey,
      "KeyPackageTBS",
      encodeKeyPackageTbs(kp),
      kp.signature,
    )
  ) {
    throw new MlsError("bad-signature", "the KeyPackage's signature does not verify");
  }
}

/** Throws MlsError("malformed") if a list of extensions has a type twice (§13.4). */
export function checkUniqueTypes(list: readonly Extension[], what: string): void {
  const seen = new Set<number>();
  for (const e of list) {
    if (seen.has(e.type)) throw new MlsError("malformed", `${what} list extension type ${e.type} twice`);
    seen.add(e.type);
  }
}

function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Capabilities of this implementation for one suite (no extensions or proposals beyond the defaults). */
export function ourCapabilities(suite: CipherSuite, credentials: readonly number[] = [1]): Capabilities {
  return {
    versions: [PROTOCOL_VERSION_MLS10],
    cipherSuites: [suite.id],
    extensions: [],
    proposals: [],
    credentials,
  };
}

/** Proposal types this implementation applies. */
export const SUPPORTED_PROPOSALS: ReadonlySet<number> = new Set([
  ProposalType.Add,
  ProposalType.Update,
  ProposalType.Remove,
  ProposalType.Psk,
  ProposalType.GroupContextExtensions,
]);
