// The MLS key schedule (RFC 9420 §8): joiner, welcome and epoch secrets, the secrets derived from each
// epoch (sender data, encryption, exporter, external, confirmation, membership, resumption, epoch
// authenticator, next init), the PSK secret (§8.4), the exporter (§8.5) and the transcript hashes (§8.2).

import { wipe } from "../../crypto/bytes.ts";
import type { HpkeKeyPair } from "../../crypto/hpke.ts";
import { encodeWith, Writer } from "./codec.ts";
import {
  encodeGroupContext,
  type FramedContent,
  type GroupContext,
  type PreSharedKeyId,
  writeFramedContent,
  writePreSharedKeyId,
} from "./messages.ts";
import type { CipherSuite } from "./suite.ts";

/** The secrets of one epoch that a member keeps (the epoch secret itself is not kept). */
export interface EpochSecrets {
  readonly joinerSecret: Uint8Array;
  readonly welcomeSecret: Uint8Array;
  readonly senderDataSecret: Uint8Array;
  readonly encryptionSecret: Uint8Array;
  readonly exporterSecret: Uint8Array;
  readonly externalSecret: Uint8Array;
  readonly confirmationKey: Uint8Array;
  readonly membershipKey: Uint8Array;
  readonly resumptionPsk: Uint8Array;
  readonly epochAuthenticator: Uint8Array;
  /** init_secret of this epoch: the input of the next epoch's joiner secret. */
  readonly initSecret: Uint8Array;
}

/** joiner_secret = ExpandWithLabel(Extract(init_secret, commit_secret), "joiner", GroupContext, Nh). */
export function joinerSecret(
  suite: CipherSuite,
  initSecret: Uint8Array,
  commitSecret: Uint8Array,
  groupContext: GroupContext,
): Uint8Array {
  const prk = suite.extract(initSecret, commitSecret);
  const out = suite.expandWithLabel(prk, "joiner", encodeGroupContext(groupContext), suite.nh);
  wipe(prk);
  return out;
}

/** Every secret of an epoch from its joiner secret and PSK secret (the part a Welcome's joiner runs). */
export function epochFromJoiner(
  suite: CipherSuite,
  joiner: Uint8Array,
  pskSecret: Uint8Array,
  groupContext: GroupContext,
): EpochSecrets {
  const member = suite.extract(joiner, pskSecret);
  const welcomeSecret = suite.deriveSecret(member, "welcome");
  const epochSecret = suite.expandWithLabel(member, "epoch", encodeGroupContext(groupContext), suite.nh);
  wipe(member);
  const d = (label: string) => suite.deriveSecret(epochSecret, label);
  const secrets: EpochSecrets = {
    joinerSecret: joiner,
    welcomeSecret,
    senderDataSecret: d("sender data"),
    encryptionSecret: d("encryption"),
    exporterSecret: d("exporter"),
    externalSecret: d("external"),
    confirmationKey: d("confirm"),
    membershipKey: d("membership"),
    resumptionPsk: d("resumption"),
    epochAuthenticator: d("authentication"),
    initSecret: d("init"),
  };
  wipe(epochSecret);
  return secrets;
}

/** The full schedule from the previous init secret (§8, the figure of the key schedule). */
export function deriveEpochSecrets(
  suite: CipherSuite,
  initSecret: Uint8Array,
  commitSecret: Uint8Array,
  pskSecret: Uint8Array,
  groupContext: GroupContext,
): EpochSecrets {
  return epochFromJoiner(
    suite,
    joinerSecret(suite, initSecret, commitSecret, groupContext),
    pskSecret,
    groupContext,
  );
}

/** The key and nonce that encrypt a Welcome's GroupInfo (§12.4.3.1). */
export function welcomeKeyNonce(
  suite: CipherSuite,
  welcomeSecret: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  const empty = new Uint8Array(0);
  return {
    key: suite.expandWithLabel(welcomeSecret, "key", empty, suite.nk),
    nonce: suite.expandWithLabel(welcomeSecret, "nonce", empty, suite.nn),
  };
}

/** The external key pair (§8): DeriveKeyPair(external_secret). */
export function externalKeyPair(suite: CipherSuite, externalSecret: Uint8Array): HpkeKeyPair {
  return suite.deriveKeyPair(externalSecret);
}

/** MLS-Exporter(label, context, length) (§8.5). */
export function mlsExporter(
  suite: CipherSuite,
  exporterSecret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const derived = suite.deriveSecret(exporterSecret, label);
  const out = suite.expandWithLabel(derived, "exported", suite.hash(context), length);
  wipe(derived);
  return out;
}

/**
 * psk_secret (§8.4) of PSKs in order: each psk is extracted with a zero salt, expanded with its PSKLabel
 * (id, index, count), and chained into the running secret by Extract. No PSKs give the all-zero vector.
 */
export function pskSecret(
  suite: CipherSuite,
  psks: readonly { readonly id: PreSharedKeyId; readonly psk: Uint8Array }[],
): Uint8Array {
  const zero = new Uint8Array(suite.nh);
  let secret: Uint8Array = zero;
  psks.forEach(({ id, psk }, index) => {
    const extracted = suite.extract(zero, psk);
    const label = encodeWith((w) => {
      writePreSharedKeyId(w, id);
      w.u16(index).u16(psks.length);
    });
    const input = suite.expandWithLabel(extracted, "derived psk", label, suite.nh);
    secret = suite.extract(input, secret);
    wipe(extracted, input);
  });
  return secret;
}

/** confirmed_transcript_hash = Hash(interim_prev ‖ ConfirmedTranscriptHashInput{wire_format, content, signature}). */
export function confirmedTranscriptHash(
  suite: CipherSuite,
  interimBefore: Uint8Array,
  wireFormat: number,
  content: FramedContent,
  signature: Uint8Array,
): Uint8Array {
  const w = new Writer(1024).bytes(interimBefore).u16(wireFormat);
  writeFramedContent(w, content);
  w.opaque(signature);
  return suite.hash(w.finish());
}

/** interim_transcript_hash = Hash(confirmed ‖ InterimTranscriptHashInput{confirmation_tag}). */
export function interimTranscriptHash(
  suite: CipherSuite,
  confirmed: Uint8Array,
  confirmationTag: Uint8Array,
): Uint8Array {
  return suite.hash(
    new Writer(confirmed.length + confirmationTag.length + 4).bytes(confirmed).opaque(confirmationTag)
      .finish(),
  );
}
