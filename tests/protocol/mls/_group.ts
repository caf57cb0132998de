// Helpers for the group tests: sotto members (an identity, its KeyPackages), a seeded random source, and
// a small "delivery service" that hands one member's commit to every other member in order.
import assert from "node:assert/strict";
import { bytesToHex, type RandomSource } from "../../../crypto/bytes.ts";
import { generateIdentity, type Identity } from "../../../protocol/identity.ts";
import { sottoCredentialPolicy, sottoSigner } from "../../../protocol/mls/credential.ts";
import { type GroupConfig, MlsGroup } from "../../../protocol/mls/group.ts";
import {
  createKeyPackage,
  type KeyPackageBundle,
  keyPackageMessage,
} from "../../../protocol/mls/keypackage.ts";
import { type CipherSuite, getSuite, type SuiteId } from "../../../protocol/mls/suite.ts";
import { seededRandom } from "../_helpers.ts";

export { seededRandom };

/** A sotto user able to join groups of one suite. */
export class Person {
  readonly identity: Identity;
  readonly suite: CipherSuite;
  readonly random: RandomSource;
  readonly bundles = new Map<string, KeyPackageBundle>();
  group: MlsGroup | undefined;

  constructor(readonly name: string, suite: SuiteId, random: RandomSource, identity?: Identity) {
    this.suite = getSuite(suite);
    this.random = random;
    this.identity = identity ?? generateIdentity(random);
  }

  get signer() {
    return sottoSigner(this.identity, this.suite);
  }

  config(extra: GroupConfig = {}): GroupConfig {
    return { policy: sottoCredentialPolicy, random: this.random, ...extra };
  }

  /** A fresh KeyPackage (MLSMessage); its secrets are kept for the Welcome. */
  keyPackage(): Uint8Array {
    const b = createKeyPackage({ suite: this.suite, ...this.signer }, this.random);
    this.bundles.set(bytesToHex(b.ref), b);
    return keyPackageMessage(b.keyPackage);
  }

  create(groupId: Uint8Array, extra: GroupConfig = {}): MlsGroup {
    this.group = MlsGroup.create({ suite: this.suite, groupId, ...this.signer }, this.config(extra));
    return this.group;
  }

  /** Joins with whichever of our KeyPackages the Welcome names. */
  join(welcome: Uint8Array, extra: GroupConfig = {}, ratchetTree?: Uint8Array): MlsGroup {
    for (const b of this.bundles.values()) {
      try {
        this.group = MlsGroup.join({
          welcome,
          keyPackage: b,
          signatureSecretKey: this.signer.signatureSecretKey,
          ...(ratchetTree ? { ratchetTree } : {}),
        }, this.config(extra));
        this.bundles.delete(bytesToHex(b.ref));
        return this.group;
      } catch (e) {
        if (!(e instanceof Error) || !/not for this KeyPackage/.test(e.message)) throw e;
      }
    }
    throw new Error(`${this.name} holds no KeyPackage the Welcome names`);
  }

  get g(): MlsGroup {
    if (!this.group) throw new Error(`${this.name} has no group`);
    return this.group;
  }
}

/** Asserts every active member agrees on epoch, epoch authenticator, tree hash and an exporter value. */
export function assertAgree(people: Person[]): void {
  const active = people.filter((p) => p.group?.active);
  const first = active[0].g;
  const exp = (g: MlsGroup) => bytesToHex(g.export("sotto test", new Uint8Array([1, 2, 3]), 32));
  for (const p of active.slice(1)) {
    assert.equal(p.g.epoch, first.epoch, `${p.name}'s epoch`);
    assert.equal(
      bytesToHex(p.g.epochAuthenticator),
      bytesToHex(first.epochAuthenticator),
      `${p.name}'s epoch authenticator`,
    );
    assert.equal(bytesToHex(p.g.treeHash), bytesToHex(first.treeHash), `${p.name}'s tree hash`);
    assert.equal(bytesToHex(p.g.groupContext), bytesToHex(first.groupContext), `${p.name}'s group context`);
    assert.equal(exp(p.g), exp(first), `${p.name}'s exporter`);
  }
}

/** Delivers `message` from `from` to every other active member of `people`. */
export function deliver(from: Person, people: Person[], message: Uint8Array): void {
  for (const p of people) {
    if (p === from || !p.group?.active) continue;
    p.g.process(message);
  }
}
