// Credentials. A sotto member is a sotto identity (protocol/identity.ts): its MLS credential is a *basic*
// credential (RFC 9420 §5.3) whose `identity` is the public identity encoding (597 bytes: version, then for
// P-256, P-384 and P-521 the signing and DH keys), and its MLS signature key must be the identity's signing
// key (IKsig) on the group's curve. Anyone holding the credential can hash it to the sotto ID
// (identity.deriveId) and compare with the ID they know, so the ID shared out of band authenticates the
// member, as it does for 1:1 chats.
//
// Why basic rather than a new credential type: a basic credential's identity is application-defined, which
// is exactly this; it needs no registry code point, every MLS implementation can carry it (the interop peer
// supports only basic and x509), and the binding to the signature key is checked by this policy (the
// Authentication Service of §5.3.1) just as a new type would be. What a basic credential does not do by
// itself, the policy does: the identity must decode (every point validated), re-encode to the same bytes,
// and contain the leaf's signature key.
//
// `basicCredentialPolicy` accepts any basic credential (used with the working group's vectors and the
// independent peer, whose identities are arbitrary); sotto's groups use `sottoCredentialPolicy`.

import { equalBytes } from "../../crypto/bytes.ts";
import {
  decodeIdentityPublic,
  deriveId,
  encodeIdentityPublic,
  formatId,
  type Identity,
  type IdentityPublic,
} from "../identity.ts";
import { ProtocolError } from "../codec.ts";
import { MlsError } from "./errors.ts";
import type { CredentialPolicy } from "./leafnode.ts";
import { type Credential, CredentialType } from "./messages.ts";
import type { CipherSuite } from "./suite.ts";

/** The credential of a sotto identity. */
export function sottoCredential(keys: IdentityPublic): Credential {
  return { type: CredentialType.Basic, identity: encodeIdentityPublic(keys) };
}

/** What a sotto identity signs with in a group of `suite`: its IKsig on the suite's curve, and its credential. */
export function sottoSigner(
  identity: Identity,
  suite: CipherSuite,
): { signatureSecretKey: Uint8Array; credential: Credential } {
  return {
    signatureSecretKey: identity.secretKeys[suite.curveName].sign,
    credential: sottoCredential(identity.publicKeys),
  };
}

/** The identity keys of a sotto credential, every point validated; MlsError("invalid-credential") if not one. */
export function identityOfCredential(credential: Credential): IdentityPublic {
  if (credential.type !== CredentialType.Basic) {
    throw new MlsError("invalid-credential", "a sotto member's credential must be a basic credential");
  }
  let keys: IdentityPublic;
  try {
    keys = decodeIdentityPublic(credential.identity);
  } catch (e) {
    if (e instanceof ProtocolError) {
      throw new MlsError("invalid-credential", `the credential is not a sotto identity (${e.message})`, {
        cause: e,
      });
    }
    throw e;
  }
  // The encoding is fixed-length and canonical; checking the round trip keeps one identity, one encoding.
  if (!equalBytes(encodeIdentityPublic(keys), credential.identity)) {
    throw new MlsError("invalid-credential", "the credential's identity is not in canonical form");
  }
  return keys;
}

/** The sotto ID (20 bytes) of a member's credential. */
export function memberId(credential: Credential): Uint8Array {
  return deriveId(identityOfCredential(credential));
}

/** sotto's Authentication Service: basic credentials carrying a sotto identity whose IKsig is the leaf's key. */
export const sottoCredentialPolicy: CredentialPolicy = {
  name: "sotto",
  validate(credential: Credential, signatureKey: Uint8Array, suite: CipherSuite): void {
    const keys = identityOfCredential(credential);
    if (!equalBytes(keys[suite.curveName].sign, signatureKey)) {
      throw new MlsError(
        "invalid-credential",
        `the signature key is not the ${suite.curveName} signing key of ${formatId(deriveId(keys))}`,
      );
    }
  },
  // Called only on credentials `validate` accepted, whose identity encodings are canonical: equal bytes
  // are the same identity (and the same ID), without decoding six points again for every comparison.
  sameMember(previous: Credential, next: Credential): boolean {
    return previous.type === CredentialType.Basic && next.type === CredentialType.Basic &&
      equalBytes(previous.identity, next.identity);
  },
};

/** Any basic credential; a member keeps its identity bytes. For interop tests and the MLS vectors. */
export const basicCredentialPolicy: CredentialPolicy = {
  name: "basic",
  validate(credential: Credential): void {
    if (credential.type !== CredentialType.Basic) {
      throw new MlsError("invalid-credential", "only basic credentials are accepted");
    }
  },
  sameMember(previous: Credential, next: Credential): boolean {
    return previous.type === CredentialType.Basic && next.type === CredentialType.Basic &&
      equalBytes(previous.identity, next.identity);
  },
};
