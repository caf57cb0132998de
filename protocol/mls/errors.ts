// The one error class of the MLS code: every refusal of received bytes, keys, proposals, commits or
// Welcomes throws an MlsError whose `code` says why and whose message says what and where, in one sentence.
// A refused input never changes a group's state (see group.ts).

/** Why MLS code refused something: stable strings that callers may switch on. */
export type MlsErrorCode =
  /** Bytes that do not follow the RFC 9420 encoding: truncated, trailing bytes, a bad length or tag. */
  | "malformed"
  /** A version, cipher suite, wire format, credential, proposal or extension type this code does not use. */
  | "unsupported"
  /** A size or count above this implementation's limits (tree width, proposals, ratchet steps). */
  | "limit"
  /** A message for another group. */
  | "wrong-group"
  /** A message for an epoch other than the current one (or one too old to keep keys for). */
  | "wrong-epoch"
  /** A signature that does not verify. */
  | "bad-signature"
  /** A membership tag, confirmation tag or parent hash that does not match. */
  | "bad-mac"
  /** A ciphertext that no key we hold opens (AEAD or HPKE failure, or a key we no longer hold). */
  | "undecryptable"
  /** A generation of a sender's ratchet that was already used (a replay or duplicate). */
  | "replay"
  /** A public key that is not a valid point of the suite's curve. */
  | "invalid-key"
  /** A credential the group's credential policy does not accept for its signature key. */
  | "invalid-credential"
  /** A leaf node that fails RFC 9420 §7.3 validation (capabilities, lifetime, source, uniqueness). */
  | "invalid-leaf"
  /** A ratchet tree that fails validation (tree hash, parent hashes, unmerged leaves, node types). */
  | "invalid-tree"
  /** A KeyPackage that fails RFC 9420 §10.1 validation. */
  | "invalid-key-package"
  /** A proposal or proposal list that RFC 9420 §12.1–12.2 (or sotto's policy) does not allow. */
  | "invalid-proposal"
  /** A Commit that fails RFC 9420 §12.4.2 (path rules, sender, unknown proposal references). */
  | "invalid-commit"
  /** A Welcome or GroupInfo that fails RFC 9420 §12.4.3. */
  | "invalid-welcome"
  /** A sender that is not a member (blank leaf, unknown index) or a sender type we do not accept. */
  | "unknown-sender"
  /** An operation the group's state does not allow (removed from the group, a commit pending, …). */
  | "state";

/** The error MLS code throws for refused input or a refused operation. */
export class MlsError extends Error {
  readonly code: MlsErrorCode;

  constructor(code: MlsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MlsError";
    this.code = code;
  }
}

/** Throws MlsError(code, message) unless `condition` holds. */
export function check(condition: unknown, code: MlsErrorCode, message: string): asserts condition {
  if (!condition) throw new MlsError(code, message);
}
