// The binary codec: big-endian integers, length-prefixed fields with limits, UTF-8 strings, and clear
// ProtocolErrors naming the input and the field for anything short, long or trailing.
import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { ProtocolError, Reader, Writer } from "../../protocol/codec.ts";

Deno.test("Writer and Reader: every field type round-trips in big-endian", () => {
  const w = new Writer().u8(0xab).u16(0x1234).u32(0xdeadbeef).u64(2 ** 53 - 1).vec8(Uint8Array.of(1))
    .vec16(new TextEncoder().encode("hé")).vec32(Uint8Array.of(7, 8)).bytes(Uint8Array.of(9));
  const bytes = w.finish();
  assert.equal(w.length, bytes.length);
  assert.equal(
    bytesToHex(bytes),
    "ab" + "1234" + "deadbeef" + "001fffffffffffff" + "0101" + "000368c3a9" + "000000020708" + "09",
  );
  const r = new Reader(bytes, "sample");
  assert.equal(r.u8("a"), 0xab);
  assert.equal(r.u16("b"), 0x1234);
  assert.equal(r.u32("c"), 0xdeadbeef);
  assert.equal(r.u64("d"), 2 ** 53 - 1);
  assert.deepEqual(r.vec8("e"), Uint8Array.of(1));
  assert.equal(r.string16("f", 3), "hé");
  assert.deepEqual(r.vec32("g", 2), Uint8Array.of(7, 8));
  assert.equal(r.remaining, 1);
  assert.deepEqual(r.rest(), Uint8Array.of(9));
  r.end();
});

Deno.test("Writer grows past its first buffer", () => {
  const big = new Uint8Array(100_000).fill(3);
  const out = new Writer().u8(1).bytes(big).u8(2).finish();
  assert.equal(out.length, 100_002);
  assert.equal(out[0] + out[100_001] + out[50_000], 6);
});

Deno.test("Writer: out-of-range values are RangeErrors", () => {
  assert.throws(() => new Writer().u8(256), RangeError);
  assert.throws(() => new Writer().u16(-1), RangeError);
  assert.throws(() => new Writer().u32(2 ** 32), RangeError);
  assert.throws(() => new Writer().u64(2 ** 53), RangeError);
  assert.throws(() => new Writer().u8(1.5), RangeError);
  assert.throws(() => new Writer().vec8(new Uint8Array(256)), RangeError);
});

Deno.test("Reader: short input, limits, bad UTF-8, big u64 and trailing bytes are ProtocolErrors", () => {
  const check = (fn: () => unknown, pattern: RegExp) => {
    assert.throws(
      fn,
      (e: unknown) => e instanceof ProtocolError && e.code === "malformed" && pattern.test(e.message),
    );
  };
  check(() => new Reader(Uint8Array.of(1), "thing").u16("length"), /^thing: length is truncated/);
  check(
    () => new Reader(Uint8Array.of(0, 5, 1, 2), "thing").vec16("name", 4),
    /name is 5 bytes, more than the limit of 4/,
  );
  check(() => new Reader(Uint8Array.of(0, 4, 1, 2), "thing").vec16("name"), /name is truncated/);
  check(() => new Reader(Uint8Array.of(0, 1, 0xff), "thing").string16("nick", 10), /nick is not valid UTF-8/);
  check(() => new Reader(new Uint8Array(8).fill(0xff), "thing").u64("time"), /time is too large/);
  check(() => new Reader(Uint8Array.of(1, 2), "thing").end(), /2 unexpected trailing bytes/);
  assert.throws(() => new Reader("x" as unknown as Uint8Array, "thing"), TypeError);
  const e = new ProtocolError("replay", "m", { cause: 1 });
  assert.equal(e.name, "ProtocolError");
  assert.equal(e.code, "replay");
  assert.equal(e.cause, 1);
});
