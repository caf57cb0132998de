// The key schedule and its neighbours for suites 2, 5 and 7: key-schedule.json (every secret of every epoch,
// the GroupContext, external_pub and the exporter), psk_secret.json (0 to 10 external PSKs),
// transcript-hashes.json (confirmation tag, confirmed and interim hashes) and secret-tree.json (sender data
// key and nonce, handshake and application keys and nonces at generations 0 and 15 of every leaf).
import assert from "node:assert/strict";
import { bytesToHex, equalBytes, utf8 } from "../../../crypto/bytes.ts";
import { decodeAll } from "../../../protocol/mls/codec.ts";
import { MlsError } from "../../../protocol/mls/errors.ts";
import * as ks from "../../../protocol/mls/keyschedule.ts";
import { encodeGroupContext, PskType, readAuthenticatedContent } from "../../../protocol/mls/messages.ts";
import { readSecretTree, SecretTree, senderDataKeyNonce } from "../../../protocol/mls/secrettree.ts";
import { getSuite } from "../../../protocol/mls/suite.ts";
import { Writer } from "../../../protocol/mls/codec.ts";
import { hex, loadMlsVectors, ourSuites } from "./_vectors.ts";

interface Epoch {
  tree_hash: string;
  commit_secret: string;
  psk_secret: string;
  confirmed_transcript_hash: string;
  group_context: string;
  joiner_secret: string;
  welcome_secret: string;
  init_secret: string;
  sender_data_secret: string;
  encryption_secret: string;
  exporter_secret: string;
  epoch_authenticator: string;
  external_secret: string;
  confirmation_key: string;
  membership_key: string;
  resumption_psk: string;
  external_pub: string;
  exporter: { label: string; context: string; length: number; secret: string };
}

const keySchedule = loadMlsVectors<
  { cipher_suite: number; group_id: string; initial_init_secret: string; epochs: Epoch[] }
>(
  "key-schedule.json",
);

Deno.test({
  name: "mls key-schedule.json: suites 2, 5 and 7, every epoch",
  ignore: keySchedule === null,
  fn() {
    const { cases } = ourSuites(keySchedule!);
    assert.equal(cases.length, 3);
    for (const v of cases) {
      const s = getSuite(v.cipher_suite);
      let init = hex(v.initial_init_secret);
      v.epochs.forEach((e, i) => {
        const gc = {
          version: 1,
          cipherSuite: v.cipher_suite,
          groupId: hex(v.group_id),
          epoch: BigInt(i),
          treeHash: hex(e.tree_hash),
          confirmedTranscriptHash: hex(e.confirmed_transcript_hash),
          extensions: [],
        };
        assert.equal(bytesToHex(encodeGroupContext(gc)), e.group_context);
        const x = ks.deriveEpochSecrets(s, init, hex(e.commit_secret), hex(e.psk_secret), gc);
        const at = `suite ${v.cipher_suite} epoch ${i}`;
        assert.equal(bytesToHex(x.joinerSecret), e.joiner_secret, at);
        assert.equal(bytesToHex(x.welcomeSecret), e.welcome_secret, at);
        assert.equal(bytesToHex(x.initSecret), e.init_secret, at);
        assert.equal(bytesToHex(x.senderDataSecret), e.sender_data_secret, at);
        assert.equal(bytesToHex(x.encryptionSecret), e.encryption_secret, at);
        assert.equal(bytesToHex(x.exporterSecret), e.exporter_secret, at);
        assert.equal(bytesToHex(x.epochAuthenticator), e.epoch_authenticator, at);
        assert.equal(bytesToHex(x.externalSecret), e.external_secret, at);
        assert.equal(bytesToHex(x.confirmationKey), e.confirmation_key, at);
        assert.equal(bytesToHex(x.membershipKey), e.membership_key, at);
        assert.equal(bytesToHex(x.resumptionPsk), e.resumption_psk, at);
        assert.equal(bytesToHex(ks.externalKeyPair(s, x.externalSecret).publicKey), e.external_pub, at);
        const ex = e.exporter;
        assert.equal(
          bytesToHex(ks.mlsExporter(s, x.exporterSecret, ex.label, hex(ex.context), ex.length)),
          ex.secret,
          at,
        );
        init = x.initSecret;
      });
    }
  },
});

const psks = loadMlsVectors<{
  cipher_suite: number;
  psks: { psk_id: string; psk: string; psk_nonce: string }[];
  psk_secret: string;
}>("psk_secret.json");

Deno.test({
  name: "mls psk_secret.json: suites 2, 5 and 7, 0 to 10 PSKs",
  ignore: psks === null,
  fn() {
    const { cases } = ourSuites(psks!);
    assert.equal(cases.length, 33);
    for (const v of cases) {
      const list = v.psks.map((p) => ({
        id: { type: PskType.External, pskId: hex(p.psk_id), nonce: hex(p.psk_nonce) } as const,
        psk: hex(p.psk),
      }));
      assert.equal(bytesToHex(ks.pskSecret(getSuite(v.cipher_suite), list)), v.psk_secret);
    }
  },
});

const transcripts = loadMlsVectors<{
  cipher_suite: number;
  confirmation_key: string;
  authenticated_content: string;
  interim_transcript_hash_before: string;
  confirmed_transcript_hash_after: string;
  interim_transcript_hash_after: string;
}>("transcript-hashes.json");

Deno.test({
  name: "mls transcript-hashes.json: suites 2, 5 and 7",
  ignore: transcripts === null,
  fn() {
    const { cases } = ourSuites(transcripts!);
    assert.equal(cases.length, 3);
    for (const v of cases) {
      const s = getSuite(v.cipher_suite);
      const ac = decodeAll(hex(v.authenticated_content), "AuthenticatedContent", readAuthenticatedContent);
      assert.equal(ac.content.content.type, 3);
      const confirmed = ks.confirmedTranscriptHash(
        s,
        hex(v.interim_transcript_hash_before),
        ac.wireFormat,
        ac.content,
        ac.auth.signature,
      );
      assert.equal(bytesToHex(confirmed), v.confirmed_transcript_hash_after);
      assert.ok(equalBytes(s.mac(hex(v.confirmation_key), confirmed), ac.auth.confirmationTag!));
      assert.equal(
        bytesToHex(ks.interimTranscriptHash(s, confirmed, ac.auth.confirmationTag!)),
        v.interim_transcript_hash_after,
      );
    }
  },
});

interface SecretTreeCase {
  cipher_suite: number;
  sender_data: { sender_data_secret: string; ciphertext: string; key: string; nonce: string };
  encryption_secret: string;
  leaves: {
    generation: number;
    handshake_key: string;
    handshake_nonce: string;
    application_key: string;
    application_nonce: string;
  }[][];
}

const secretTrees = loadMlsVectors<SecretTreeCase>("secret-tree.json");

Deno.test({
  name: "mls secret-tree.json: suites 2, 5 and 7 (1, 8 and 32 leaves)",
  ignore: secretTrees === null,
  fn() {
    const { cases } = ourSuites(secretTrees!);
    assert.equal(cases.length, 9);
    for (const v of cases) {
      const s = getSuite(v.cipher_suite);
      const sd = senderDataKeyNonce(s, hex(v.sender_data.sender_data_secret), hex(v.sender_data.ciphertext));
      assert.equal(bytesToHex(sd.key), v.sender_data.key);
      assert.equal(bytesToHex(sd.nonce), v.sender_data.nonce);
      const tree = new SecretTree(s, hex(v.encryption_secret), v.leaves.length);
      v.leaves.forEach((gens, leaf) => {
        for (const g of gens) {
          const h = tree.get(leaf, "handshake", g.generation);
          const a = tree.get(leaf, "application", g.generation);
          assert.equal(bytesToHex(h.key), g.handshake_key, `leaf ${leaf} gen ${g.generation}`);
          assert.equal(bytesToHex(h.nonce), g.handshake_nonce);
          assert.equal(bytesToHex(a.key), g.application_key);
          assert.equal(bytesToHex(a.nonce), g.application_nonce);
        }
      });
    }
  },
});

Deno.test("mls secret tree: replays, limits, the out-of-order window, clones and serialisation", () => {
  const s = getSuite(2);
  const t = new SecretTree(s, new Uint8Array(32).fill(7), 4);
  const sender = t.clone();
  const sent = Array.from({ length: 5 }, () => sender.next(1, "application"));
  // Out of order: 3, then 0, 4, then the replays of 3 and 0 are refused.
  assert.ok(equalBytes(t.get(1, "application", 3).key, sent[3].key));
  assert.ok(equalBytes(t.get(1, "application", 0).key, sent[0].key));
  assert.ok(equalBytes(t.get(1, "application", 4).key, sent[4].key));
  for (const g of [3, 0, 4]) {
    assert.throws(() => t.get(1, "application", g), (e: MlsError) => e.code === "replay");
  }
  // A clone moves on alone; the original still has generation 1.
  const c = t.clone();
  assert.ok(equalBytes(c.get(1, "application", 1).key, sent[1].key));
  assert.ok(equalBytes(t.get(1, "application", 1).key, sent[1].key));
  // Too far ahead, and beyond the window.
  assert.throws(() => t.get(2, "handshake", 1025), (e: MlsError) => e.code === "limit");
  t.get(2, "handshake", 1000);
  assert.throws(() => t.get(2, "handshake", 10), (e: MlsError) => e.code === "replay");
  assert.throws(() => t.get(4, "handshake", 0), (e: MlsError) => e.code === "unknown-sender");
  // Serialisation keeps everything: generation 2 of leaf 1 still opens after a round trip.
  const w = new Writer();
  t.write(w);
  const back = readSecretTree(w.finish(), s);
  assert.ok(equalBytes(back.get(1, "application", 2).key, sent[2].key));
  assert.ok(equalBytes(back.get(0, "application", 0).key, t.clone().get(0, "application", 0).key));
  assert.throws(() => readSecretTree(utf8("x"), s), MlsError);
});
