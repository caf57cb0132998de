// The passive-client vectors for suites 2, 5 and 7: join from the Welcome (with the ratchet tree in the
// GroupInfo or given out of band, with or without an external PSK), check the epoch authenticator, then
// follow every commit (proposals by reference and by value: Add, Update, Remove, external and resumption
// PSKs, GroupContextExtensions; commits with and without a path), checking the epoch authenticator after
// each. passive-client-welcome.json and passive-client-handling-commit.json; credentials are arbitrary
// basic credentials, so the permissive basic policy applies.
import assert from "node:assert/strict";
import { bytesToHex, equalBytes } from "../../../crypto/bytes.ts";
import { basicCredentialPolicy } from "../../../protocol/mls/credential.ts";
import { MlsGroup } from "../../../protocol/mls/group.ts";
import { decodeMlsMessage, encode, writeKeyPackage } from "../../../protocol/mls/messages.ts";
import { getSuite } from "../../../protocol/mls/suite.ts";
import { hex, loadMlsVectors, ourSuites } from "./_vectors.ts";

export interface PassiveCase {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

/** Runs one passive-client case; returns the number of epochs followed. */
export function runPassive(v: PassiveCase): number {
  const s = getSuite(v.cipher_suite);
  const kpMsg = decodeMlsMessage(hex(v.key_package));
  if (kpMsg.wireFormat !== 5) throw new Error("key_package is not a KeyPackage");
  const kp = kpMsg.keyPackage;
  const sig = s.secretKey(hex(v.signature_priv));
  assert.ok(equalBytes(s.signaturePublicKey(sig), kp.leafNode.signatureKey));
  const enc = s.secretKey(hex(v.encryption_priv)), init = s.secretKey(hex(v.init_priv));
  assert.ok(equalBytes(s.hpke.publicKeyOf(enc), kp.leafNode.encryptionKey));
  assert.ok(equalBytes(s.hpke.publicKeyOf(init), kp.initKey));
  const psks = new Map(v.external_psks.map((p) => [p.psk_id, hex(p.psk)]));
  const group = MlsGroup.join({
    welcome: hex(v.welcome),
    keyPackage: {
      keyPackage: kp,
      ref: s.keyPackageRef(encode(writeKeyPackage, kp)),
      initSecretKey: init,
      encryptionSecretKey: enc,
    },
    signatureSecretKey: sig,
    ...(v.ratchet_tree ? { ratchetTree: hex(v.ratchet_tree) } : {}),
  }, { policy: basicCredentialPolicy, externalPsk: (id) => psks.get(bytesToHex(id)), keepEpochs: 0 });
  assert.equal(bytesToHex(group.epochAuthenticator), v.initial_epoch_authenticator);
  v.epochs.forEach((e, i) => {
    for (const p of e.proposals) assert.equal(group.process(hex(p)).kind, "proposal");
    const r = group.process(hex(e.commit));
    assert.equal(r.kind, "commit");
    assert.equal(bytesToHex(group.epochAuthenticator), e.epoch_authenticator, `epoch ${i}`);
  });
  return v.epochs.length;
}

for (const file of ["passive-client-welcome.json", "passive-client-handling-commit.json"]) {
  const all = loadMlsVectors<PassiveCase>(file);
  Deno.test({
    name: `mls ${file}: suites 2, 5 and 7`,
    ignore: all === null,
    fn() {
      const { cases } = ourSuites(all!);
      assert.equal(cases.length, file.includes("welcome") ? 24 : 39);
      let epochs = 0;
      for (const [i, v] of cases.entries()) {
        try {
          epochs += runPassive(v);
        } catch (e) {
          throw new Error(
            `${file} case ${i} (suite ${v.cipher_suite}): ${e instanceof Error ? e.message : e}`,
            { cause: e },
          );
        }
      }
      if (!file.includes("welcome")) assert.ok(epochs >= 39);
    },
  });
}
