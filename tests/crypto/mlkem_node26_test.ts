// Differential test of ML-KEM-768 and ML-KEM-1024 against Node 26's native ML-KEM (OpenSSL 3.5), run as a
// separate process (tests/crypto/_mlkem_node26.mjs) so that the project imports nothing. On random seeds and
// messages, both directions: Node derives the key pairs from our seeds and must export our public keys;
// Node decapsulates our ciphertexts and random ones (implicit rejection) to our keys; we decapsulate Node's
// encapsulations; Node's own key pairs, exported as seeds, give the same public keys here; and both refuse
// encapsulation keys with a coefficient not below q. Skipped when Node 26 is missing, a failure under CI.

import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import { type MlKem, mlkem1024, mlkem768 } from "../../crypto/mlkem.ts";
import { peerMissing, requirePeer } from "../_peers.ts";

const COUNT = 40;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

interface Answer {
  publicKeys: string[];
  decapsulated: string[];
  rejected: string[];
  encapsulated: { cipherText: string; sharedSecret: string }[];
  generated: { seed: string; publicKey: string; cipherText: string; sharedSecret: string }[];
  refused: boolean[];
}

/** A valid key with coefficient `index` of t̂ (256·k of them, 1.5 bytes each) set to a value in q … 4095. */
function invalidKey(publicKey: Uint8Array, index: number): Uint8Array {
  const ek = publicKey.slice(), bad = 3329 + Math.floor(Math.random() * (4096 - 3329));
  const o = 3 * (index >> 1);
  if (index & 1) {
    ek[o + 1] = (ek[o + 1] & 0x0f) | ((bad & 0x0f) << 4);
    ek[o + 2] = bad >> 4;
  } else {
    ek[o] = bad & 0xff;
    ek[o + 1] = (ek[o + 1] & 0xf0) | (bad >> 8);
  }
  return ek;
}

Deno.test({
  name: `ML-KEM agrees with Node 26 (OpenSSL 3.5) in both directions on ${COUNT} random keys per size`,
  ignore: peerMissing("node26"),
  async fn() {
    const kems: [MlKem, string][] = [[mlkem768, "ml-kem-768"], [mlkem1024, "ml-kem-1024"]];
    const mine = kems.map(([kem, type]) => {
      const seeds = Array.from({ length: COUNT }, () => random(64));
      const keys = seeds.map((s) => kem.keygen(s));
      const encs = keys.map((k) => kem.encapsulate(k.publicKey, random(32)));
      const garbage = keys.map(() => random(kem.cipherTextBytes));
      const invalid = keys.slice(0, 10).map((k) =>
        invalidKey(k.publicKey, Math.floor(Math.random() * (kem.publicKeyBytes - 32) / 1.5))
      );
      for (const ek of invalid) assert.throws(() => kem.encapsulate(ek), RangeError);
      return { kem, type, seeds, keys, encs, garbage, invalid };
    });
    const request = mine.map((m) => ({
      type: m.type,
      seeds: m.seeds.map(bytesToHex),
      cipherTexts: m.encs.map((e) => bytesToHex(e.cipherText)),
      garbage: m.garbage.map(bytesToHex),
      invalidKeys: m.invalid.map(bytesToHex),
      generate: 10,
    }));
    const child = new Deno.Command(requirePeer("node26"), {
      args: [new URL("./_mlkem_node26.mjs", import.meta.url).pathname],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(request)));
    await writer.close();
    const { success, stdout, stderr } = await child.output();
    assert.ok(success, `node failed: ${new TextDecoder().decode(stderr)}`);
    const answers: Answer[] = JSON.parse(new TextDecoder().decode(stdout));

    for (const [n, m] of mine.entries()) {
      const a = answers[n], name = m.kem.name;
      for (let i = 0; i < COUNT; i++) {
        const { publicKey, secretKey } = m.keys[i];
        assert.equal(a.publicKeys[i], bytesToHex(publicKey), `${name} #${i}: public key from the seed`);
        assert.equal(
          a.decapsulated[i],
          bytesToHex(m.encs[i].sharedSecret),
          `${name} #${i}: Node decapsulates ours`,
        );
        assert.equal(
          a.rejected[i],
          bytesToHex(m.kem.decapsulate(m.garbage[i], secretKey)),
          `${name} #${i}: implicit rejection of a random ciphertext`,
        );
        const theirs = a.encapsulated[i];
        assert.equal(
          bytesToHex(m.kem.decapsulate(hexToBytes(theirs.cipherText), secretKey)),
          theirs.sharedSecret,
          `${name} #${i}: we decapsulate Node's encapsulation`,
        );
      }
      assert.equal(a.generated.length, 10);
      for (const [i, g] of a.generated.entries()) {
        const { publicKey, secretKey } = m.kem.keygen(hexToBytes(g.seed));
        assert.equal(bytesToHex(publicKey), g.publicKey, `${name}: Node's key pair #${i} from its seed`);
        assert.equal(bytesToHex(m.kem.decapsulate(hexToBytes(g.cipherText), secretKey)), g.sharedSecret);
      }
      assert.deepEqual(a.refused, m.invalid.map(() => true), `${name}: Node refuses the invalid keys too`);
    }
  },
});
