// protocol/wire.ts: every frame round-trips; the decoders refuse what breaks the format or its limits
// (and nothing but ProtocolError escapes them on random input); the splitter reassembles any chunking and
// refuses an oversized length before buffering it; the login signature binds nonce and exporter.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { PrekeyStore } from "../../protocol/prekeys.ts";
import {
  type ClientFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeFrame,
  encodeFrameBody,
  type Frame,
  FrameSplitter,
  FrameType,
  MAX_ACK_IDS,
  MAX_BODY_BYTES,
  MAX_FRAME_BYTES,
  type ServerFrame,
  signLogin,
  verifyLogin,
  WIRE_VERSION,
} from "../../protocol/wire.ts";
import { decisions, seededRandom } from "./_helpers.ts";

const random = seededRandom("wire test");
const alice = generateIdentity(random);
const store = PrekeyStore.create(alice, 1_700_000_000_000, random);
store.addOneTimePrekeys("P-384", 2, random);
const fullBundle = store.bundle(alice.publicKeys);
const handedOut = {
  ...fullBundle,
  oneTimePrekeys: { "P-256": [], "P-384": [fullBundle.oneTimePrekeys["P-384"][0]], "P-521": [] },
};
const id = () => random(20);
const mid = () => random(16);

const clientFrames: ClientFrame[] = [
  { type: "login", version: WIRE_VERSION, id: alice.id, identity: alice.publicKeys, signature: random(132) },
  { type: "ping", requestId: 0 },
  { type: "upload-prekeys", requestId: 1, bundle: fullBundle },
  { type: "request-chat", requestId: 2, peerId: id(), curve: "P-521" },
  { type: "cancel-request", requestId: 3, peerId: id() },
  { type: "block", requestId: 4, peerId: id() },
  { type: "unblock", requestId: 5, peerId: id() },
  { type: "close-chat", requestId: 6, peerId: id() },
  { type: "send", requestId: 0xffff_ffff, to: id(), messageId: mid(), body: random(300) },
  { type: "send", requestId: 7, to: id(), messageId: mid(), body: random(MAX_BODY_BYTES) },
  { type: "ack", ids: [mid()] },
  { type: "ack", ids: Array.from({ length: MAX_ACK_IDS }, mid) },
];

const serverFrames: ServerFrame[] = [
  { type: "challenge", version: WIRE_VERSION, nonce: random(32) },
  {
    type: "welcome",
    id: alice.id,
    serverTime: 1_700_000_000_123,
    chats: [
      { peerId: id(), curve: "P-256", role: "initiator", online: true },
      { peerId: id(), curve: "P-521", role: "responder", online: false },
    ],
    requests: [{ peerId: id(), curve: "P-384", expiresAt: 1_702_592_000_000 }],
    queued: 42,
  },
  { type: "welcome", id: alice.id, serverTime: 0, chats: [], requests: [], queued: 0 },
  { type: "result", requestId: 9, code: "ok", detail: "" },
  { type: "result", requestId: 10, code: "rate-limited", detail: "slow down — ünïcödé" },
  { type: "queued", requestId: 11, messageId: mid() },
  { type: "refused", requestId: 12, messageId: mid(), reason: "over-quota" },
  { type: "deliver", from: id(), messageId: mid(), queuedAt: 1_700_000_000_000, body: random(1) },
  { type: "delivered", peerId: id(), messageId: mid() },
  {
    type: "chat-opened",
    eventId: mid(),
    peerId: alice.id,
    curve: "P-384",
    role: "initiator",
    online: true,
    identity: alice.publicKeys,
    bundle: handedOut,
  },
  {
    type: "chat-opened",
    eventId: mid(),
    peerId: alice.id,
    curve: "P-256",
    role: "responder",
    online: false,
    identity: alice.publicKeys,
    bundle: null,
  },
  { type: "chat-closed", eventId: mid(), peerId: id() },
  { type: "peer-online", peerId: id() },
  { type: "peer-offline", peerId: id() },
  { type: "prekeys-low", curve: "P-521", remaining: 3 },
  { type: "kem-prekeys-low", remaining: 7 },
  { type: "replaced" },
  { type: "shutdown" },
  { type: "error", code: "too-large", message: "frame: too large" },
];

Deno.test("wire: every client frame round-trips, with the length prefix", () => {
  for (const f of clientFrames) {
    const framed = encodeFrame(f);
    const body = encodeFrameBody(f);
    assert.equal(new DataView(framed.buffer).getUint32(0), body.length);
    assert.deepEqual(framed.subarray(4), body);
    assert.deepEqual(decodeClientFrame(body), f, f.type);
  }
});

Deno.test("wire: every relay frame round-trips", () => {
  for (const f of serverFrames) assert.deepEqual(decodeServerFrame(encodeFrameBody(f)), f, f.type);
});

Deno.test("wire: the layouts are as documented (spot checks)", () => {
  const peer = new Uint8Array(20).fill(0xab);
  assert.deepEqual(
    encodeFrameBody({ type: "request-chat", requestId: 0x01020304, peerId: peer, curve: "P-384" }),
    Uint8Array.of(0x04, 1, 2, 3, 4, ...peer, 0x02),
  );
  assert.deepEqual(encodeFrameBody({ type: "ping", requestId: 7 }), Uint8Array.of(0x02, 0, 0, 0, 7));
  assert.deepEqual(encodeFrameBody({ type: "replaced" }), Uint8Array.of(0x4d));
  assert.deepEqual(
    encodeFrameBody({ type: "prekeys-low", curve: "P-256", remaining: 0x0102 }),
    Uint8Array.of(0x4c, 0x01, 0x01, 0x02),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "kem-prekeys-low", remaining: 0x0102 }),
    Uint8Array.of(0x58, 0x01, 0x02),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "result", requestId: 1, code: "no-chat", detail: "x" }),
    Uint8Array.of(0x43, 0, 0, 0, 1, 4, 0, 1, 0x78),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "error", code: "malformed", message: "" }),
    Uint8Array.of(0x4f, 1, 0, 0),
  );
  const ack = encodeFrameBody({ type: "ack", ids: [new Uint8Array(16).fill(1), new Uint8Array(16).fill(2)] });
  assert.deepEqual(ack.subarray(0, 3), Uint8Array.of(0x0a, 0, 2));
  assert.equal(ack.length, 3 + 32);
  assert.equal(FrameType.challenge, 0x41);
});

/** Asserts that decoding throws a ProtocolError with `code`. */
function refuses(decode: (b: Uint8Array) => unknown, body: Uint8Array, code: string, what: string): void {
  assert.throws(() => decode(body), (e) => e instanceof ProtocolError && e.code === code, what);
}

Deno.test("wire: the decoders refuse trailing bytes, truncation, unknown types and the wrong direction", () => {
  for (const f of clientFrames) {
    const body = encodeFrameBody(f);
    refuses(decodeClientFrame, Uint8Array.of(...body, 0), "malformed", `${f.type} + 1`);
    if (body.length > 1) {
      refuses(decodeClientFrame, body.subarray(0, body.length - 1), "malformed", `${f.type} − 1`);
    }
    refuses(decodeServerFrame, body, "unsupported", `${f.type} as a relay frame`);
  }
  for (const f of serverFrames) {
    const body = encodeFrameBody(f);
    refuses(decodeServerFrame, Uint8Array.of(...body, 0), "malformed", `${f.type} + 1`);
    if (body.length > 1) {
      refuses(decodeServerFrame, body.subarray(0, body.length - 1), "malformed", `${f.type} − 1`);
    }
    refuses(decodeClientFrame, body, "unsupported", `${f.type} as a client frame`);
  }
  for (const t of [0x00, 0x2f, 0x3f, 0x40, 0x7f, 0xff]) {
    refuses(decodeClientFrame, Uint8Array.of(t), "unsupported", `type ${t}`);
    refuses(decodeServerFrame, Uint8Array.of(t), "unsupported", `type ${t}`);
  }
  refuses(decodeClientFrame, new Uint8Array(0), "malformed", "empty");
  refuses(decodeClientFrame, new Uint8Array(MAX_FRAME_BYTES + 1), "exhausted", "too large");
});

Deno.test("wire: the decoders enforce every field's limits", () => {
  const login = encodeFrameBody(clientFrames[0]);
  const v2 = login.slice();
  v2[2] = 2;
  refuses(decodeClientFrame, v2, "unsupported", "login version 2");
  const challenge = encodeFrameBody(serverFrames[0]);
  const c0 = challenge.slice();
  c0[2] = 0;
  refuses(decodeServerFrame, c0, "unsupported", "challenge version 0");
  // A login signature longer than a P-521 one.
  const longSig = Uint8Array.of(...login.subarray(0, login.length - 134), 0, 133, ...new Uint8Array(133));
  refuses(decodeClientFrame, longSig, "malformed", "signature of 133 bytes");
  // Ack of 0 and of 257 ids.
  refuses(decodeClientFrame, Uint8Array.of(0x0a, 0, 0), "malformed", "ack of nothing");
  refuses(decodeClientFrame, Uint8Array.of(0x0a, 1, 1, ...new Uint8Array(257 * 16)), "malformed", "257 ids");
  // Send with an empty or oversized body.
  const head = Uint8Array.of(0x09, 0, 0, 0, 1, ...new Uint8Array(36));
  refuses(decodeClientFrame, Uint8Array.of(...head, 0, 0, 0, 0), "malformed", "empty body");
  const n = MAX_BODY_BYTES + 1;
  const big = new Uint8Array(head.length + 4 + n);
  big.set(head);
  new DataView(big.buffer).setUint32(head.length, n);
  refuses(decodeClientFrame, big, "malformed", "body over the limit");
  // An unknown curve, role, flag, result or error code.
  const peer = new Uint8Array(20);
  refuses(decodeClientFrame, Uint8Array.of(0x04, 0, 0, 0, 1, ...peer, 0x04), "unsupported", "curve 4");
  refuses(decodeServerFrame, Uint8Array.of(0x4c, 0x00, 0, 1), "unsupported", "curve 0");
  const welcome = (role: number, online: number) =>
    Uint8Array.of(0x42, ...peer, ...new Uint8Array(8), 0, 1, ...peer, 1, role, online, 0, 0, 0, 0, 0, 0);
  assert.equal(decodeServerFrame(welcome(1, 1)).type, "welcome");
  refuses(decodeServerFrame, welcome(3, 0), "malformed", "role 3");
  refuses(decodeServerFrame, welcome(1, 2), "malformed", "online 2");
  refuses(decodeServerFrame, Uint8Array.of(0x43, 0, 0, 0, 1, 12, 0, 0), "malformed", "result code 12");
  refuses(decodeServerFrame, Uint8Array.of(0x4f, 0, 0, 0), "malformed", "error code 0");
  refuses(decodeServerFrame, Uint8Array.of(0x4f, 10, 0, 0), "malformed", "error code 10");
  // Text that is not UTF-8.
  refuses(decodeServerFrame, Uint8Array.of(0x4f, 1, 0, 1, 0xff), "malformed", "bad UTF-8");
});

Deno.test("wire: the encoder checks its arguments and cuts long texts on a character boundary", () => {
  assert.throws(
    () => encodeFrame({ type: "close-chat", requestId: 1, peerId: new Uint8Array(19) }),
    (e) => e instanceof RangeError && /peerId/.test(e.message),
  );
  assert.throws(
    () => encodeFrame({ type: "send", requestId: 1, to: id(), messageId: mid(), body: new Uint8Array(0) }),
    (e) => e instanceof RangeError && /body/.test(e.message),
  );
  assert.throws(
    () =>
      encodeFrame({
        type: "send",
        requestId: 1,
        to: id(),
        messageId: "x" as unknown as Uint8Array,
        body: random(1),
      }),
    (e) => e instanceof TypeError && /messageId/.test(e.message),
  );
  assert.throws(() => encodeFrame({ type: "ack", ids: [] }), RangeError);
  assert.throws(() => encodeFrame({ type: "ping", requestId: -1 }), RangeError);
  assert.throws(() => encodeFrame({ type: "nope" } as unknown as Frame), TypeError);
  assert.throws(() => encodeFrame(null as unknown as Frame), TypeError);
  assert.throws(
    () => encodeFrame({ type: "request-chat", requestId: 1, peerId: id(), curve: "P-224" as "P-256" }),
    TypeError,
  );
  assert.throws(
    () => encodeFrame({ ...serverFrames[10], role: "initiator" } as ServerFrame),
    (e) => e instanceof TypeError && /bundle/.test(e.message),
  );
  const long = "é".repeat(300); // 600 bytes of UTF-8
  const f = decodeServerFrame(encodeFrameBody({ type: "error", code: "internal", message: long }));
  assert.equal(f.type === "error" && f.message, "é".repeat(256));
});

Deno.test("wire: random and mutated input makes the decoders throw ProtocolError and nothing else", () => {
  const d = decisions(5);
  const all = [...clientFrames.map(encodeFrameBody), ...serverFrames.map(encodeFrameBody)];
  for (let i = 0; i < 3000; i++) {
    let body: Uint8Array;
    if (i % 3 === 0) {
      body = systemRandom(d.int(200));
    } else {
      body = all[d.int(all.length)].slice();
      const flips = 1 + d.int(4);
      for (let k = 0; k < flips && body.length > 0; k++) body[d.int(body.length)] ^= 1 << d.int(8);
      if (d.chance(0.2)) body = body.subarray(0, d.int(body.length + 1));
    }
    for (const decode of [decodeClientFrame, decodeServerFrame]) {
      try {
        decode(body);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw new Error(`not a ProtocolError: ${e}`);
      }
    }
  }
});

Deno.test("wire: the splitter reassembles frames from any chunking", () => {
  const frames = [...clientFrames, ...serverFrames.slice(0, 6)];
  const stream = new Uint8Array(frames.reduce((n, f) => n + encodeFrame(f).length, 0));
  let off = 0;
  for (const f of frames) {
    const b = encodeFrame(f);
    stream.set(b, off);
    off += b.length;
  }
  const d = decisions(11);
  for (const maxChunk of [1, 3, 7, 100, 16384, stream.length]) {
    const splitter = new FrameSplitter();
    const got: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const n = 1 + d.int(maxChunk);
      got.push(...splitter.push(stream.subarray(at, at + n)));
      at += n;
    }
    assert.equal(splitter.buffered, 0);
    assert.equal(got.length, frames.length);
    got.forEach((body, i) => assert.deepEqual(body, encodeFrameBody(frames[i])));
  }
  const s = new FrameSplitter();
  assert.deepEqual(s.push(new Uint8Array(0)), []);
  assert.deepEqual(s.push(Uint8Array.of(0, 0)), []);
  assert.equal(s.buffered, 2);
});

Deno.test("wire: the splitter refuses a zero or oversized length before buffering the body", () => {
  const s = new FrameSplitter();
  assert.throws(
    () => s.push(Uint8Array.of(0x00, 0x04, 0x00, 0x01, 0xaa, 0xbb)),
    (e) => e instanceof ProtocolError && e.code === "exhausted",
  );
  assert.throws(() => s.push(Uint8Array.of(1)), /unusable/);
  const small = new FrameSplitter(10);
  assert.deepEqual(small.push(Uint8Array.of(0, 0, 0, 10, ...new Uint8Array(10))), [new Uint8Array(10)]);
  assert.throws(
    () => small.push(Uint8Array.of(0, 0, 0, 11)),
    (e) => e instanceof ProtocolError && e.code === "exhausted",
  );
  assert.equal(small.buffered, 0);
  assert.throws(
    () => new FrameSplitter().push(Uint8Array.of(0, 0, 0, 0)),
    (e) => e instanceof ProtocolError && e.code === "malformed",
  );
  assert.throws(() => new FrameSplitter(0), RangeError);
  assert.throws(() => new FrameSplitter(MAX_FRAME_BYTES + 1), RangeError);
  assert.throws(() => new FrameSplitter(1.5), TypeError);
  assert.throws(() => new FrameSplitter().push("x" as unknown as Uint8Array), TypeError);
});

Deno.test("wire: the login signature binds the nonce, the exporter and the identity", () => {
  const nonce = random(32), exporter = random(32);
  const sig = signLogin(alice, nonce, exporter);
  assert.equal(sig.length, 132);
  assert.ok(verifyLogin(alice.publicKeys, nonce, exporter, sig));
  assert.ok(!verifyLogin(alice.publicKeys, random(32), exporter, sig));
  assert.ok(!verifyLogin(alice.publicKeys, nonce, random(32), sig));
  const mallory = generateIdentity(random);
  assert.ok(!verifyLogin(mallory.publicKeys, nonce, exporter, sig));
  assert.ok(!verifyLogin(alice.publicKeys, nonce, exporter, sig.subarray(1)));
  const flipped = sig.slice();
  flipped[5] ^= 1;
  assert.ok(!verifyLogin(alice.publicKeys, nonce, exporter, flipped));
  assert.throws(
    () => signLogin(alice, random(31), exporter),
    (e) => e instanceof RangeError && /nonce/.test(e.message),
  );
  assert.throws(() => verifyLogin(alice.publicKeys, nonce, random(16), sig), RangeError);
});
