// crypto-basics.json for suites 2, 5 and 7: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret,
// SignWithLabel/VerifyWithLabel (theirs verifies, ours verifies, a changed content does not) and
// EncryptWithLabel/DecryptWithLabel (theirs decrypts, ours round-trips). Suites 1, 3, 4 and 6 (X25519,
// X448, Ed25519, Ed448) are not ours and are skipped.
import assert from "node:assert/strict";
import { bytesToHex, utf8 } from "../../../crypto/bytes.ts";
import { getSuite } from "../../../protocol/mls/suite.ts";
import { hex, loadMlsVectors, ourSuites } from "./_vectors.ts";

interface CryptoBasics {
  cipher_suite: number;
  ref_hash: { label: string; value: string; out: string };
  expand_with_label: { secret: string; label: string; context: string; length: number; out: string };
  derive_secret: { secret: string; label: string; out: string };
  derive_tree_secret: { secret: string; label: string; generation: number; length: number; out: string };
  sign_with_label: { priv: string; pub: string; content: string; label: string; signature: string };
  encrypt_with_label: {
    priv: string;
    pub: string;
    label: string;
    context: string;
    plaintext: string;
    kem_output: string;
    ciphertext: string;
  };
}

const all = loadMlsVectors<CryptoBasics>("crypto-basics.json");

Deno.test({
  name: "mls crypto-basics.json: suites 2, 5 and 7",
  ignore: all === null,
  fn() {
    const { cases, skipped } = ourSuites(all!);
    assert.equal(cases.length, 3);
    assert.equal(skipped, 4);
    for (const v of cases) {
      const s = getSuite(v.cipher_suite);
      const at = `suite ${v.cipher_suite}`;
      const r = v.ref_hash;
      assert.equal(bytesToHex(s.refHash(r.label, hex(r.value))), r.out, at);
      const e = v.expand_with_label;
      assert.equal(
        bytesToHex(s.expandWithLabel(hex(e.secret), e.label, hex(e.context), e.length)),
        e.out,
        at,
      );
      const d = v.derive_secret;
      assert.equal(bytesToHex(s.deriveSecret(hex(d.secret), d.label)), d.out, at);
      const t = v.derive_tree_secret;
      assert.equal(bytesToHex(s.deriveTreeSecret(hex(t.secret), t.label, t.generation, t.length)), t.out, at);

      const g = v.sign_with_label;
      assert.equal(bytesToHex(s.signaturePublicKey(hex(g.priv))), g.pub, at);
      assert.ok(s.verifyWithLabel(hex(g.pub), g.label, hex(g.content), hex(g.signature)), at);
      const ours = s.signWithLabel(hex(g.priv), g.label, hex(g.content));
      assert.ok(s.verifyWithLabel(hex(g.pub), g.label, hex(g.content), ours), at);
      assert.ok(!s.verifyWithLabel(hex(g.pub), g.label + "x", hex(g.content), hex(g.signature)), at);
      assert.ok(!s.verifyWithLabel(hex(g.pub), g.label, utf8("other"), hex(g.signature)), at);
      assert.ok(!s.verifyWithLabel(hex(g.pub), g.label, hex(g.content), hex(g.signature).subarray(1)), at);

      const x = v.encrypt_with_label;
      assert.equal(bytesToHex(s.hpke.publicKeyOf(hex(x.priv))), x.pub, at);
      const pt = s.decryptWithLabel(
        hex(x.priv),
        x.label,
        hex(x.context),
        hex(x.kem_output),
        hex(x.ciphertext),
      );
      assert.equal(bytesToHex(pt), x.plaintext, at);
      const c = s.encryptWithLabel(hex(x.pub), x.label, hex(x.context), hex(x.plaintext));
      assert.equal(
        bytesToHex(s.decryptWithLabel(hex(x.priv), x.label, hex(x.context), c.kemOutput, c.ciphertext)),
        x.plaintext,
      );
      assert.throws(
        () => s.decryptWithLabel(hex(x.priv), x.label, utf8("other"), c.kemOutput, c.ciphertext),
        /cannot decrypt/,
      );
    }
  },
});
