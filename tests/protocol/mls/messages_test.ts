// messages.json: all 300 cases (the file names no cipher suite: the checks are syntax only). Every field
// decodes with its structure and re-encodes to the same bytes; then every truncation of a few of them and
// a trailing byte are refused.
import assert from "node:assert/strict";
import { bytesToHex } from "../../../crypto/bytes.ts";
import type { Reader, Writer } from "../../../protocol/mls/codec.ts";
import { MlsError } from "../../../protocol/mls/errors.ts";
import * as m from "../../../protocol/mls/messages.ts";
import { hex, loadMlsVectors } from "./_vectors.ts";

type Case = Record<string, string>;
const vectors = loadMlsVectors<Case>("messages.json");

type Codec = [(r: Reader) => unknown, (w: Writer, v: never) => void];

const FIELDS: Record<string, Codec> = {
  mls_welcome: [m.readMlsMessage, m.writeMlsMessage],
  mls_group_info: [m.readMlsMessage, m.writeMlsMessage],
  mls_key_package: [m.readMlsMessage, m.writeMlsMessage],
  ratchet_tree: [m.readRatchetTree, m.writeRatchetTree],
  group_secrets: [m.readGroupSecrets, m.writeGroupSecrets],
  add_proposal: [m.readKeyPackage, m.writeKeyPackage],
  update_proposal: [m.readLeafNode, m.writeLeafNode],
  remove_proposal: [(r) => r.u32("removed"), (w, v: number) => w.u32(v)],
  pre_shared_key_proposal: [m.readPreSharedKeyId, m.writePreSharedKeyId],
  re_init_proposal: [
    (r) => ({
      groupId: r.opaque("group_id"),
      version: r.u16("version"),
      suite: r.u16("cipher_suite"),
      ext: m.readExtensions(r),
    }),
    (w, v: { groupId: Uint8Array; version: number; suite: number; ext: m.Extension[] }) => {
      w.opaque(v.groupId).u16(v.version).u16(v.suite);
      m.writeExtensions(w, v.ext);
    },
  ],
  external_init_proposal: [(r) => r.opaque("kem_output"), (w, v: Uint8Array) => w.opaque(v)],
  group_context_extensions_proposal: [m.readExtensions, m.writeExtensions],
  commit: [m.readCommit, m.writeCommit],
  public_message_application: [m.readMlsMessage, m.writeMlsMessage],
  public_message_proposal: [m.readMlsMessage, m.writeMlsMessage],
  public_message_commit: [m.readMlsMessage, m.writeMlsMessage],
  private_message: [m.readMlsMessage, m.writeMlsMessage],
};

const WIRE: Record<string, number> = {
  mls_welcome: m.WireFormat.Welcome,
  mls_group_info: m.WireFormat.GroupInfo,
  mls_key_package: m.WireFormat.KeyPackage,
  public_message_application: m.WireFormat.PublicMessage,
  public_message_proposal: m.WireFormat.PublicMessage,
  public_message_commit: m.WireFormat.PublicMessage,
  private_message: m.WireFormat.PrivateMessage,
};

Deno.test({
  name: "mls messages.json: every object of all 300 cases decodes and re-encodes byte for byte",
  ignore: vectors === null,
  fn() {
    assert.equal(vectors!.length, 300);
    let objects = 0;
    for (const [i, v] of vectors!.entries()) {
      for (const [field, [read, write]] of Object.entries(FIELDS)) {
        const bytes = hex(v[field]);
        const value = m.decode(read, bytes, field);
        if (WIRE[field] !== undefined) assert.equal((value as m.MlsMessage).wireFormat, WIRE[field], field);
        assert.equal(bytesToHex(m.encode(write, value as never)), v[field], `case ${i} ${field}`);
        objects++;
      }
      const content =
        (m.decodeMlsMessage(hex(v.public_message_application)) as { publicMessage: m.PublicMessage })
          .publicMessage.content.content;
      assert.equal(content.type, m.ContentType.Application);
    }
    assert.equal(objects, 300 * 17);
  },
});

Deno.test({
  name: "mls messages.json: truncations and trailing bytes are refused as malformed",
  ignore: vectors === null,
  fn() {
    for (const field of ["mls_welcome", "mls_key_package", "public_message_commit", "private_message"]) {
      const bytes = hex(vectors![0][field]);
      for (let n = 0; n < bytes.length; n++) {
        assert.throws(() => m.decodeMlsMessage(bytes.subarray(0, n)), MlsError, `${field} cut at ${n}`);
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      assert.throws(() => m.decodeMlsMessage(longer), /trailing/);
    }
    // An unknown version, wire format or proposal type is "unsupported".
    const kp = hex(vectors![0].mls_key_package);
    const v2 = kp.slice();
    v2[1] = 2;
    assert.throws(() => m.decodeMlsMessage(v2), (e: MlsError) => e.code === "unsupported");
    const wf = kp.slice();
    wf[3] = 9;
    assert.throws(() => m.decodeMlsMessage(wf), (e: MlsError) => e.code === "unsupported");
  },
});
