// Creating KeyPackages (RFC 9420 §10) and keeping their secrets: a fresh init key pair and leaf encryption
// key pair, the leaf node (source key_package) and the KeyPackage both signed with the member's signature
// key. The bundle of secrets serialises for the keystore until a Welcome uses it (then it is deleted: a
// KeyPackage is used once).

import { type RandomSource, systemRandom } from "../../crypto/bytes.ts";
import type { HpkeKeyPair } from "../../crypto/hpke.ts";
import { decodeAll, encodeWith, type Reader, type Writer } from "./codec.ts";
import { MlsError } from "./errors.ts";
import { ourCapabilities, signKeyPackage, signLeafNode } from "./leafnode.ts";
import {
  type Capabilities,
  type Credential,
  encodeMlsMessage,
  type Extension,
  type KeyPackage,
  type LeafNode,
  LeafNodeSource,
  type Lifetime,
  PROTOCOL_VERSION_MLS10,
  readKeyPackage,
  WireFormat,
  writeKeyPackage,
} from "./messages.ts";
import { type CipherSuite, getSuite } from "./suite.ts";

/** A KeyPackage with the secrets its owner needs to join with it. */
export interface KeyPackageBundle {
  readonly keyPackage: KeyPackage;
  /** KeyPackageRef: how a Welcome names it. */
  readonly ref: Uint8Array;
  readonly initSecretKey: Uint8Array;
  readonly encryptionSecretKey: Uint8Array;
}

export interface KeyPackageParams {
  readonly suite: CipherSuite;
  /** The member's signature secret key (a sotto member's IKsig on the suite's curve). */
  readonly signatureSecretKey: Uint8Array;
  readonly credential: Credential;
  /**
   * Seconds since the Unix epoch between which the KeyPackage is valid. The protocol layer has no clock:
   * sotto's client passes now − 1 h … now + 90 days; without it, the whole uint64 range.
   */
  readonly lifetime?: Lifetime;
  readonly capabilities?: Capabilities;
  readonly extensions?: readonly Extension[];
  readonly leafExtensions?: readonly Extension[];
}

/** What a member's first leaf node needs (in a KeyPackage, or as a group's creator). */
export type LeafParams = Omit<KeyPackageParams, "extensions">;

/**
 * A fresh leaf node of source key_package (signed) and its encryption key pair: the leaf of a KeyPackage,
 * or the creator's leaf in a new group.
 */
export function newLeafNode(
  p: LeafParams,
  random: RandomSource = systemRandom,
): { leaf: LeafNode; encryption: HpkeKeyPair } {
  const s = p.suite;
  const encryption = s.hpke.generateKeyPair(random);
  const leaf = signLeafNode(s, p.signatureSecretKey, {
    encryptionKey: encryption.publicKey,
    signatureKey: s.signaturePublicKey(p.signatureSecretKey),
    credential: p.credential,
    capabilities: p.capabilities ?? ourCapabilities(s, [p.credential.type]),
    source: LeafNodeSource.KeyPackage,
    lifetime: p.lifetime ?? { notBefore: 0n, notAfter: 0xffff_ffff_ffff_ffffn },
    extensions: p.leafExtensions ?? [],
  });
  return { leaf, encryption };
}

/** A new KeyPackage and its secrets. */
export function createKeyPackage(p: KeyPackageParams, random: RandomSource = systemRandom): KeyPackageBundle {
  const s = p.suite;
  const init = s.hpke.generateKeyPair(random);
  const { leaf: leafNode, encryption: enc } = newLeafNode(p, random);
  const keyPackage = signKeyPackage(s, p.signatureSecretKey, {
    version: PROTOCOL_VERSION_MLS10,
    cipherSuite: s.id,
    initKey: init.publicKey,
    leafNode,
    extensions: p.extensions ?? [],
  });
  return {
    keyPackage,
    ref: s.keyPackageRef(encodeWith((w) => writeKeyPackage(w, keyPackage))),
    initSecretKey: init.secretKey,
    encryptionSecretKey: enc.secretKey,
  };
}

/** The KeyPackage as an MLSMessage (what is published and what `add` takes). */
export function keyPackageMessage(kp: KeyPackage): Uint8Array {
  return encodeMlsMessage({ wireFormat: WireFormat.KeyPackage, keyPackage: kp });
}

const BUNDLE_VERSION = 1;

export function writeKeyPackageBundle(w: Writer, b: KeyPackageBundle): void {
  w.u8(BUNDLE_VERSION);
  writeKeyPackage(w, b.keyPackage);
  w.opaque(b.initSecretKey).opaque(b.encryptionSecretKey);
}

export function readKeyPackageBundle(r: Reader): KeyPackageBundle {
  const v = r.u8("bundle version");
  if (v !== BUNDLE_VERSION) r.fail(`KeyPackage bundle version ${v} is not supported`, "unsupported");
  const keyPackage = readKeyPackage(r);
  const s = getSuite(keyPackage.cipherSuite);
  const initSecretKey = r.opaque("init secret key", 128);
  const encryptionSecretKey = r.opaque("encryption secret key", 128);
  for (
    const [sk, pk, what] of [
      [initSecretKey, keyPackage.initKey, "init"],
      [encryptionSecretKey, keyPackage.leafNode.encryptionKey, "encryption"],
    ] as const
  ) {
    let derived: Uint8Array;
    try {
      derived = s.hpke.publicKeyOf(sk);
    } catch (e) {
      throw new MlsError("invalid-key", `the bundle's ${what} secret key is invalid`, { cause: e });
    }
    if (!sameBytes(derived, pk)) {
      throw new MlsError("invalid-key", `the bundle's ${what} key pair does not match`);
    }
  }
  return {
    keyPackage,
    ref: s.keyPackageRef(encodeWith((w) => writeKeyPackage(w, keyPackage))),
    initSecretKey,
    encryptionSecretKey,
  };
}

/** The bundle as bytes for the keystore. */
export function encodeKeyPackageBundle(b: KeyPackageBundle): Uint8Array {
  return encodeWith((w) => writeKeyPackageBundle(w, b));
}

export function decodeKeyPackageBundle(bytes: Uint8Array): KeyPackageBundle {
  return decodeAll(bytes, "KeyPackage bundle", readKeyPackageBundle);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
