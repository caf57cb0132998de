// The frame splitter against a peer that announces more than it sends (issue 14): the buffer of a frame
// grows with the bytes that arrive, never to the announced length up front; the limit can be lowered
// (the relay does, until Login) and raised between chunks; any chunking gives the same frames.

import assert from "node:assert/strict";
import { ProtocolError } from "../../protocol/codec.ts";
import { FrameSplitter, MAX_FRAME_BYTES, MAX_LOGIN_FRAME_BYTES } from "../../protocol/wire.ts";
import { seededRandom } from "./_helpers.ts";

function header(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

Deno.test("splitter: 256 KiB announced and 10 bytes sent hold 1 KiB, not 256 KiB", () => {
  const s = new FrameSplitter();
  assert.deepEqual(s.push(header(MAX_FRAME_BYTES)), []);
  assert.deepEqual(s.push(new Uint8Array(10)), []);
  assert.equal(s.buffered, 10);
  assert.ok(s.capacity <= 1024, `allocated ${s.capacity} bytes`);
});

Deno.test("splitter: the buffer grows with what arrives, at most doubling, and the frame comes out whole", () => {
  const s = new FrameSplitter();
  const body = seededRandom("grow")(200_000);
  s.push(header(body.length));
  let sent = 0;
  const random = seededRandom("grow pieces");
  while (sent < body.length) {
    const n = Math.min(body.length - sent, 1 + (random(2)[0] << 4));
    const out = s.push(body.subarray(sent, sent + n));
    sent += n;
    if (sent < body.length) {
      assert.deepEqual(out, []);
      assert.ok(s.capacity <= Math.max(1024, 2 * sent), `${s.capacity} allocated for ${sent} received`);
    } else {
      assert.equal(out.length, 1);
      assert.deepEqual(out[0], body);
    }
  }
  assert.equal(s.buffered, 0);
});

Deno.test("splitter: the limit can be lowered and raised between chunks", () => {
  const s = new FrameSplitter(MAX_LOGIN_FRAME_BYTES);
  assert.equal(s.maxBody, MAX_LOGIN_FRAME_BYTES);
  // A frame whose length was read before the limit changed keeps it.
  s.push(header(600));
  s.maxBody = 100;
  assert.equal(s.push(new Uint8Array(600)).length, 1);
  s.maxBody = MAX_FRAME_BYTES;
  assert.equal(s.push(Uint8Array.of(...header(5000), ...new Uint8Array(5000))).length, 1);
  s.maxBody = MAX_LOGIN_FRAME_BYTES;
  assert.throws(
    () => s.push(header(MAX_LOGIN_FRAME_BYTES + 1)),
    (e) => e instanceof ProtocolError && e.code === "exhausted",
  );
  assert.throws(() => (new FrameSplitter().maxBody = MAX_FRAME_BYTES + 1), RangeError);
});

Deno.test("splitter: any chunking of a stream of frames gives the same frames", () => {
  const random = seededRandom("chunking");
  const frames = Array.from({ length: 40 }, (_, i) => random(1 + ((i * 7919) % 3000)));
  const stream = Uint8Array.from(frames.flatMap((f) => [...header(f.length), ...f]));
  for (let trial = 0; trial < 20; trial++) {
    const s = new FrameSplitter();
    const out: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const n = 1 + (random(2)[0] % (trial === 0 ? 1 : 5000));
      out.push(...s.push(stream.subarray(at, at + n)));
      at += n;
    }
    assert.deepEqual(out, frames);
  }
});
