// Welcome and GroupInfo (RFC 9420 §12.4.3): signing and verifying a GroupInfo, encrypting it under the
// welcome key and nonce, encrypting each new member's GroupSecrets to its KeyPackage's init key
// (EncryptWithLabel "Welcome" with the encrypted GroupInfo as context), and the reverse for a joiner.

import { equalBytes, type RandomSource } from "../../crypto/bytes.ts";
import { decodeAll, encodeWith } from "./codec.ts";
import { MlsError } from "./errors.ts";
import { epochFromJoiner, type EpochSecrets, welcomeKeyNonce } from "./keyschedule.ts";
import {
  encodeGroupInfoTbs,
  type GroupContext,
  type GroupInfo,
  type GroupSecrets,
  type KeyPackage,
  readGroupInfo,
  readGroupSecrets,
  type Welcome,
  writeGroupInfo,
  writeGroupSecrets,
} from "./messages.ts";
import type { CipherSuite } from "./suite.ts";

/** Signs a GroupInfo (its `signature` field is ignored). */
export function signGroupInfo(
  suite: CipherSuite,
  signatureSecretKey: Uint8Array,
  gi: Omit<GroupInfo, "signature">,
): GroupInfo {
  const unsigned = { ...gi, signature: new Uint8Array(0) };
  return {
    ...unsigned,
    signature: suite.signWithLabel(signatureSecretKey, "GroupInfoTBS", encodeGroupInfoTbs(unsigned)),
  };
}

/** True if the GroupInfo's signature verifies under the signer's key. */
export function verifyGroupInfo(suite: CipherSuite, gi: GroupInfo, signerKey: Uint8Array): boolean {
  return suite.verifyWithLabel(signerKey, "GroupInfoTBS", encodeGroupInfoTbs(gi), gi.signature);
}

/** One new member of a Welcome: its KeyPackage, and the path secret of its common ancestor with us. */
export interface WelcomeRecipient {
  readonly keyPackage: KeyPackage;
  readonly keyPackageRef: Uint8Array;
  readonly pathSecret?: Uint8Array;
}

/** Builds a Welcome for `recipients` (§12.4.3.1). */
export function createWelcome(
  suite: CipherSuite,
  groupInfo: GroupInfo,
  secrets: EpochSecrets,
  psks: GroupSecrets["psks"],
  recipients: readonly WelcomeRecipient[],
  random: RandomSource,
): Welcome {
  const { key, nonce } = welcomeKeyNonce(suite, secrets.welcomeSecret);
  const encryptedGroupInfo = suite.aeadSeal(
    key,
    nonce,
    new Uint8Array(0),
    encodeWith((w) => writeGroupInfo(w, groupInfo)),
  );
  return {
    cipherSuite: suite.id,
    secrets: recipients.map((r) => {
      const gs: GroupSecrets = r.pathSecret
        ? { joinerSecret: secrets.joinerSecret, pathSecret: r.pathSecret, psks }
        : { joinerSecret: secrets.joinerSecret, psks };
      const c = suite.encryptWithLabel(
        r.keyPackage.initKey,
        "Welcome",
        encryptedGroupInfo,
        encodeWith((w) => writeGroupSecrets(w, gs)),
        random,
      );
      return {
        newMember: r.keyPackageRef,
        encryptedGroupSecrets: { kemOutput: c.kemOutput, ciphertext: c.ciphertext },
      };
    }),
    encryptedGroupInfo,
  };
}

/** The GroupSecrets a Welcome holds for the KeyPackage `keyPackageRef`, decrypted with its init key. */
export function openGroupSecrets(
  suite: CipherSuite,
  welcome: Welcome,
  keyPackageRef: Uint8Array,
  initSecretKey: Uint8Array,
  initPublicKey?: Uint8Array,
): GroupSecrets {
  if (welcome.cipherSuite !== suite.id) {
    throw new MlsError(
      "invalid-welcome",
      `the Welcome is for cipher suite ${welcome.cipherSuite}, not ${suite.id}`,
    );
  }
  const entry = welcome.secrets.find((s) => equalBytes(s.newMember, keyPackageRef));
  if (entry === undefined) throw new MlsError("invalid-welcome", "the Welcome is not for this KeyPackage");
  const c = entry.encryptedGroupSecrets;
  const plain = suite.decryptWithLabel(
    initSecretKey,
    "Welcome",
    welcome.encryptedGroupInfo,
    c.kemOutput,
    c.ciphertext,
    initPublicKey,
  );
  return decodeAll(plain, "GroupSecrets", readGroupSecrets);
}

/** Decrypts the GroupInfo with the joiner secret and PSK secret; returns it with the epoch's secrets. */
export function openGroupInfo(
  suite: CipherSuite,
  welcome: Welcome,
  joinerSecret: Uint8Array,
  pskSecret: Uint8Array,
): { groupInfo: GroupInfo; welcomeSecret: Uint8Array } {
  // The welcome secret depends only on the joiner and PSK secrets; the epoch's other secrets need the
  // GroupContext, which is inside the GroupInfo.
  const member = suite.extract(joinerSecret, pskSecret);
  const welcomeSecret = suite.deriveSecret(member, "welcome");
  const { key, nonce } = welcomeKeyNonce(suite, welcomeSecret);
  const plain = suite.aeadOpen(
    key,
    nonce,
    new Uint8Array(0),
    welcome.encryptedGroupInfo,
    "the Welcome's GroupInfo",
  );
  return { groupInfo: decodeAll(plain, "GroupInfo", readGroupInfo), welcomeSecret };
}

/**
 * The epoch secrets of a joined GroupContext, after checking the GroupInfo's confirmation tag against
 * them (§12.4.3.1). MlsError("bad-mac") if it does not match.
 */
export function joinEpoch(
  suite: CipherSuite,
  joinerSecret: Uint8Array,
  pskSecret: Uint8Array,
  groupContext: GroupContext,
  confirmationTag: Uint8Array,
): EpochSecrets {
  const secrets = epochFromJoiner(suite, joinerSecret, pskSecret, groupContext);
  const expected = suite.mac(secrets.confirmationKey, groupContext.confirmedTranscriptHash);
  if (!equalBytes(expected, confirmationTag)) {
    throw new MlsError("bad-mac", "the GroupInfo's confirmation tag does not match the joiner secret");
  }
  return secrets;
}
