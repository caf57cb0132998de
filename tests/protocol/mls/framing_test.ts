// message-protection.json for suites 2, 5 and 7: the PublicMessage proposal and commit verify (membership
// tag and signature) and carry the raw values; protecting them again gives messages that verify; an
// application message cannot be a PublicMessage; the PrivateMessages decrypt (2-member secret tree, sender
// leaf 1) and our own encryptions of the three values decrypt again. Then the refusals: every flipped bit of
// a PrivateMessage, non-zero padding, a replay.
import assert from "node:assert/strict";
import { bytesToHex, equalBytes } from "../../../crypto/bytes.ts";
import { MlsError } from "../../../protocol/mls/errors.ts";
import * as f from "../../../protocol/mls/framing.ts";
import * as m from "../../../protocol/mls/messages.ts";
import { SecretTree, senderDataKeyNonce } from "../../../protocol/mls/secrettree.ts";
import { getSuite } from "../../../protocol/mls/suite.ts";
import { hex, loadMlsVectors, ourSuites } from "./_vectors.ts";

interface Case {
  cipher_suite: number;
  group_id: string;
  epoch: number;
  tree_hash: string;
  confirmed_transcript_hash: string;
  signature_priv: string;
  signature_pub: string;
  encryption_secret: string;
  sender_data_secret: string;
  membership_key: string;
  proposal: string;
  proposal_pub: string;
  proposal_priv: string;
  commit: string;
  commit_pub: string;
  commit_priv: string;
  application: string;
  application_priv: string;
}

const all = loadMlsVectors<Case>("message-protection.json");
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

function body(c: m.Content): Uint8Array {
  if (c.type === 1) return c.applicationData;
  if (c.type === 2) return m.encode(m.writeProposal, c.proposal);
  return m.encode(m.writeCommit, c.commit);
}

function openPrivate(v: Case, bytes: Uint8Array, tree: SecretTree): m.AuthenticatedContent {
  const s = getSuite(v.cipher_suite);
  const msg = m.decodeMlsMessage(bytes);
  assert.equal(msg.wireFormat, m.WireFormat.PrivateMessage);
  const pm = (msg as { privateMessage: m.PrivateMessage }).privateMessage;
  const sender = f.openSenderData(s, pm, hex(v.sender_data_secret));
  assert.equal(sender.leafIndex, 1);
  return f.unprotectPrivate(s, pm, sender, tree);
}

Deno.test({
  name: "mls message-protection.json: suites 2, 5 and 7",
  ignore: all === null,
  fn() {
    const { cases } = ourSuites(all!);
    assert.equal(cases.length, 3);
    for (const v of cases) {
      const s = getSuite(v.cipher_suite);
      const gc: m.GroupContext = {
        version: 1,
        cipherSuite: v.cipher_suite,
        groupId: hex(v.group_id),
        epoch: BigInt(v.epoch),
        treeHash: hex(v.tree_hash),
        confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
        extensions: [],
      };
      const pub = hex(v.signature_pub), priv = hex(v.signature_priv), mk = hex(v.membership_key);
      for (const kind of ["proposal", "commit", "application"] as const) {
        const raw = hex(v[kind]);
        // The vector's PublicMessage (proposal, commit).
        if (kind !== "application") {
          const msg = m.decodeMlsMessage(hex(v[`${kind}_pub`])) as { publicMessage: m.PublicMessage };
          const ac = f.unprotectPublic(s, msg.publicMessage, mk, gc);
          f.verifyContent(s, pub, ac, gc);
          assert.equal(bytesToHex(body(ac.content.content)), v[kind], kind);
          // Ours, protected again, verifies too; a wrong membership key does not.
          const content = ac.content;
          const signature = f.signContent(s, priv, m.WireFormat.PublicMessage, content, gc);
          const mine = f.protectPublic(
            s,
            { wireFormat: 1, content, auth: { ...ac.auth, signature } },
            mk,
            gc,
          );
          const back = m.decodeMlsMessage(m.encodeMlsMessage({ wireFormat: 1, publicMessage: mine })) as {
            publicMessage: m.PublicMessage;
          };
          f.verifyContent(s, pub, f.unprotectPublic(s, back.publicMessage, mk, gc), gc);
          assert.throws(
            () => f.unprotectPublic(s, back.publicMessage, new Uint8Array(s.nh), gc),
            /membership tag/,
          );
        } else {
          const content: m.FramedContent = {
            groupId: gc.groupId,
            epoch: gc.epoch,
            sender: { type: 1, leafIndex: 1 },
            authenticatedData: new Uint8Array(0),
            content: { type: 1, applicationData: raw },
          };
          assert.throws(
            () => f.protectPublic(s, { wireFormat: 1, content, auth: { signature: raw } }, mk, gc),
            RangeError,
          );
        }
        // The vector's PrivateMessage.
        const ac = openPrivate(v, hex(v[`${kind}_priv`]), new SecretTree(s, hex(v.encryption_secret), 2));
        f.verifyContent(s, pub, ac, gc);
        assert.equal(bytesToHex(body(ac.content.content)), v[kind], `${kind} private`);
        // Ours: protect with one tree, unprotect with another.
        const content = { ...ac.content };
        const auth = { ...ac.auth, signature: f.signContent(s, priv, 2, content, gc) };
        const pm = f.protectPrivate(
          s,
          { wireFormat: 2, content, auth },
          hex(v.sender_data_secret),
          new SecretTree(s, hex(v.encryption_secret), 2),
          37,
          random,
        );
        const bytes = m.encodeMlsMessage({ wireFormat: 2, privateMessage: pm });
        const again = openPrivate(v, bytes, new SecretTree(s, hex(v.encryption_secret), 2));
        f.verifyContent(s, pub, again, gc);
        assert.ok(equalBytes(body(again.content.content), raw));
      }
    }
  },
});

Deno.test({
  name: "mls framing: tampered, padded-with-garbage and replayed PrivateMessages are refused",
  ignore: all === null,
  fn() {
    const v = ourSuites(all!).cases[0];
    const s = getSuite(v.cipher_suite);
    const bytes = hex(v.application_priv);
    // Every single-bit flip is refused (malformed, unsupported or undecryptable), never accepted.
    for (let i = 0; i < bytes.length; i++) {
      const t = bytes.slice();
      t[i] ^= 1 << (i % 8);
      assert.throws(
        () => openPrivate(v, t, new SecretTree(s, hex(v.encryption_secret), 2)),
        MlsError,
        `byte ${i}`,
      );
    }
    const tree = new SecretTree(s, hex(v.encryption_secret), 2);
    openPrivate(v, bytes, tree);
    assert.throws(() => openPrivate(v, bytes, tree), (e: MlsError) => e.code === "replay");
    // Non-zero padding, encrypted under a valid key, is malformed.
    const senderTree = new SecretTree(s, hex(v.encryption_secret), 2);
    const k = senderTree.next(1, "application");
    const pm: m.PrivateMessage = (() => {
      const header = { groupId: hex(v.group_id), epoch: BigInt(v.epoch), contentType: 1 as const };
      const aad = m.encode(
        (w, h: typeof header) => w.opaque(h.groupId).u64(h.epoch).u8(1).opaque(new Uint8Array(0)),
        header,
      );
      // application_data "a", signature 0x00, then padding 00 00 07.
      const ciphertext = s.aeadSeal(k.key, k.nonce, aad, Uint8Array.of(1, 0x61, 1, 0x00, 0, 0, 7));
      const sd = senderDataKeyNonce(s, hex(v.sender_data_secret), ciphertext);
      const sdAad = m.encode((w, h: typeof header) => w.opaque(h.groupId).u64(h.epoch).u8(1), header);
      const senderData = Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0);
      const encryptedSenderData = s.aeadSeal(sd.key, sd.nonce, sdAad, senderData);
      return { ...header, authenticatedData: new Uint8Array(0), encryptedSenderData, ciphertext };
    })();
    const padded = m.encodeMlsMessage({ wireFormat: 2, privateMessage: pm });
    assert.throws(
      () => openPrivate(v, padded, new SecretTree(s, hex(v.encryption_secret), 2)),
      (e: MlsError) => e.code === "malformed" && /padding/.test(e.message),
    );
  },
});
