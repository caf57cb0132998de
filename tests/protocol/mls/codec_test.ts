// The MLS codec (RFC 9420 §2.1): deserialization.json (variable-length headers), the RFC's examples, the
// refusal of non-minimal and 0b11-prefixed lengths, optional<T> presence bytes, limits and trailing bytes.
import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../../crypto/bytes.ts";
import { decodeAll, Reader, Writer } from "../../../protocol/mls/codec.ts";
import { MlsError } from "../../../protocol/mls/errors.ts";
import { loadMlsVectors } from "./_vectors.ts";

const vectors = loadMlsVectors<{ vlbytes_header: string; length: number }>("deserialization.json");

Deno.test({
  name: "mls codec: deserialization.json headers decode to their lengths and re-encode",
  ignore: vectors === null,
  fn() {
    assert.equal(vectors!.length, 14);
    for (const v of vectors!) {
      assert.equal(new Reader(hexToBytes(v.vlbytes_header), "header").varint("length"), v.length);
      assert.equal(bytesToHex(new Writer().varint(v.length).finish()), v.vlbytes_header);
    }
  },
});

Deno.test("mls codec: the RFC's varint examples, minimality and the invalid prefix", () => {
  assert.equal(new Reader(hexToBytes("9d7f3e7d"), "x").varint("v"), 494878333);
  assert.equal(new Reader(hexToBytes("7bbd"), "x").varint("v"), 15293);
  assert.equal(new Reader(hexToBytes("25"), "x").varint("v"), 37);
  for (const bad of ["4025", "80003fff", "c000000000000001", "40"]) {
    assert.throws(() => new Reader(hexToBytes(bad), "x").varint("v"), MlsError, bad);
  }
  for (const n of [0, 63, 64, 16383, 16384, 2 ** 30 - 1]) {
    const b = new Writer().varint(n).finish();
    assert.equal(b.length, n < 64 ? 1 : n < 16384 ? 2 : 4);
    assert.equal(new Reader(b, "x").varint("v"), n);
  }
  assert.throws(() => new Writer().varint(2 ** 30), RangeError);
});

Deno.test("mls codec: vectors, optionals, limits and trailing bytes", () => {
  for (const size of [0, 1, 63, 64, 300, 20000]) {
    const items = Array.from({ length: size }, (_, i) => i & 0xff);
    const b = new Writer().u8(7).list(items, (w, v) => w.u8(v)).u16(9).finish();
    const r = new Reader(b, "t");
    assert.equal(r.u8("a"), 7);
    assert.deepEqual(r.vector("items", (s) => s.u8("item"), 1e6), items);
    assert.equal(r.u16("b"), 9);
    r.end();
  }
  const opt = new Writer().optional(5, (w, v) => w.u32(v)).optional<number>(undefined, (w, v) => w.u32(v))
    .finish();
  assert.equal(bytesToHex(opt), "01000000050" + "0");
  assert.throws(() => new Reader(Uint8Array.of(2), "t").optional("o", (r) => r.u8("x")), /presence byte 2/);
  // A vector whose items overrun its length, too many items, an opaque over its limit, trailing bytes.
  assert.throws(() => new Reader(Uint8Array.of(1, 0), "t").vector("v", (r) => r.u16("x"), 10), MlsError);
  assert.throws(
    () => new Reader(Uint8Array.of(3, 1, 2, 3), "t").vector("v", (r) => r.u8("x"), 2),
    (e: MlsError) => e.code === "limit",
  );
  assert.throws(
    () => new Reader(Uint8Array.of(3, 1, 2, 3), "t").opaque("o", 2),
    (e: MlsError) => e.code === "limit",
  );
  assert.throws(() => new Reader(Uint8Array.of(5, 1), "t").opaque("o"), /truncated/);
  assert.throws(() => decodeAll(Uint8Array.of(1, 2), "t", (r) => r.u8("x")), /trailing/);
  const u64 = new Writer().u64(0xffff_ffff_ffff_ffffn).finish();
  assert.equal(new Reader(u64, "t").u64("x"), 0xffff_ffff_ffff_ffffn);
});
