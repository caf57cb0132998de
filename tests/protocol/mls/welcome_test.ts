// welcome.json for suites 2, 5 and 7: find our entry by KeyPackageRef, decrypt the GroupSecrets with the
// init key and the GroupInfo with the joiner secret (no PSKs), verify its signature with the signer's key
// and its confirmation tag with the epoch's confirmation key. A wrong init key or a changed byte fails.
import assert from "node:assert/strict";
import { MlsError } from "../../../protocol/mls/errors.ts";
import { pskSecret } from "../../../protocol/mls/keyschedule.ts";
import { decodeMlsMessage, encode, writeKeyPackage } from "../../../protocol/mls/messages.ts";
import { getSuite } from "../../../protocol/mls/suite.ts";
import {
  joinEpoch,
  openGroupInfo,
  openGroupSecrets,
  verifyGroupInfo,
} from "../../../protocol/mls/welcome.ts";
import { hex, loadMlsVectors, ourSuites } from "./_vectors.ts";

const all = loadMlsVectors<
  { cipher_suite: number; init_priv: string; signer_pub: string; key_package: string; welcome: string }
>(
  "welcome.json",
);

Deno.test({
  name: "mls welcome.json: suites 2, 5 and 7",
  ignore: all === null,
  fn() {
    const { cases } = ourSuites(all!);
    assert.equal(cases.length, 3);
    for (const v of cases) {
      const s = getSuite(v.cipher_suite);
      const kpMsg = decodeMlsMessage(hex(v.key_package));
      const wMsg = decodeMlsMessage(hex(v.welcome));
      if (kpMsg.wireFormat !== 5 || wMsg.wireFormat !== 3) throw new Error("unexpected wire formats");
      const ref = s.keyPackageRef(encode(writeKeyPackage, kpMsg.keyPackage));
      const gs = openGroupSecrets(s, wMsg.welcome, ref, hex(v.init_priv));
      assert.equal(gs.psks.length, 0);
      const psk = pskSecret(s, []);
      const { groupInfo } = openGroupInfo(s, wMsg.welcome, gs.joinerSecret, psk);
      assert.ok(verifyGroupInfo(s, groupInfo, hex(v.signer_pub)));
      joinEpoch(s, gs.joinerSecret, psk, groupInfo.groupContext, groupInfo.confirmationTag);
      assert.throws(
        () =>
          joinEpoch(
            s,
            gs.joinerSecret,
            psk,
            groupInfo.groupContext,
            groupInfo.confirmationTag.map((b, i) => i ? b : b ^ 1),
          ),
        (e: MlsError) => e.code === "bad-mac",
      );
      assert.throws(
        () => openGroupSecrets(s, wMsg.welcome, ref, s.hpke.generateKeyPair().secretKey),
        /cannot decrypt/,
      );
      assert.throws(
        () => openGroupSecrets(s, wMsg.welcome, ref.map((b) => b ^ 1), hex(v.init_priv)),
        /not for this/,
      );
      const tampered = {
        ...wMsg.welcome,
        encryptedGroupInfo: wMsg.welcome.encryptedGroupInfo.map((b, i) => i === 3 ? b ^ 1 : b),
      };
      assert.throws(
        () => openGroupSecrets(s, tampered, ref, hex(v.init_priv)),
        (e: MlsError) => e.code === "undecryptable",
      );
    }
  },
});
