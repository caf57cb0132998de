// The MLS API the client and the relay use (the other modules are its parts):
//
//   const suite = suiteForCurve("P-521");                      // a group's suite follows its creator's curve
//   const { signatureSecretKey, credential } = sottoSigner(identity, suite);
//   const bundle = createKeyPackage({ suite, signatureSecretKey, credential, lifetime }, random);
//   publish(keyPackageMessage(bundle.keyPackage)); keep(encodeKeyPackageBundle(bundle));
//
//   const g = MlsGroup.create({ suite, groupId, signatureSecretKey, credential }, config);
//   const { commit, welcome } = g.commit({ add: [theirKeyPackage] });   // pending until the relay accepts it
//   g.mergePendingCommit();
//   const b = MlsGroup.join({ welcome, keyPackage: bundle, signatureSecretKey }, config);
//   b.process(message);   // application data, a proposal, or a commit; MlsError if refused (state unchanged)
//   g.encrypt(data); g.export(label, context, length); g.epochAuthenticator; g.serialize();
//
// The relay reads only what inspectMessage shows (group ID, epoch, content type, Welcome recipients).
export { MlsError, type MlsErrorCode } from "./errors.ts";
export {
  type CommitInfo,
  type CommitOptions,
  type CommitResult,
  type CreateParams,
  defaultPadding,
  type GroupConfig,
  type JoinParams,
  type Member,
  MlsGroup,
  type Received,
} from "./group.ts";
export {
  createKeyPackage,
  decodeKeyPackageBundle,
  encodeKeyPackageBundle,
  type KeyPackageBundle,
  keyPackageMessage,
  type KeyPackageParams,
} from "./keypackage.ts";
export {
  basicCredentialPolicy,
  identityOfCredential,
  memberId,
  sottoCredential,
  sottoCredentialPolicy,
  sottoSigner,
} from "./credential.ts";
export type { CredentialPolicy } from "./leafnode.ts";
export { inspectMessage, type MessageSummary } from "./inspect.ts";
export { type CipherSuite, getSuite, SUITE_IDS, suiteForCurve, type SuiteId } from "./suite.ts";
export type { Credential, Lifetime, Proposal } from "./messages.ts";
