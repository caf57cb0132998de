// protocol/wire.ts, the frames of issue 12 (requests inbox, withdrawal, expiring sends): round trips, the
// byte layouts of docs/protocol.md, refusal of what breaks them, and random mutations (ProtocolError only).

import assert from "node:assert/strict";
import { ProtocolError } from "../../protocol/codec.ts";
import {
  type ClientFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeFrameBody,
  FrameType,
  MAX_EXPIRY_MS,
  OPTION_REQUESTS_INBOX,
  type ServerFrame,
} from "../../protocol/wire.ts";
import { decisions, seededRandom } from "./_helpers.ts";

const random = seededRandom("wire everyday test");
const id = () => random(20);
const mid = () => random(16);

const clientFrames: ClientFrame[] = [
  { type: "set-options", requestId: 1, options: OPTION_REQUESTS_INBOX },
  { type: "set-options", requestId: 2, options: 0 },
  { type: "set-options", requestId: 3, options: 0xff },
  { type: "send-expiring", requestId: 4, to: id(), messageId: mid(), ttl: 30_000, body: random(100) },
  { type: "send-expiring", requestId: 5, to: id(), messageId: mid(), ttl: 1, body: random(1) },
  { type: "send-expiring", requestId: 6, to: id(), messageId: mid(), ttl: MAX_EXPIRY_MS, body: random(9) },
  { type: "withdraw", requestId: 7, to: id(), messageId: mid() },
  { type: "dismiss-request", requestId: 8, peerId: id() },
];

const serverFrames: ServerFrame[] = [
  { type: "chat-asked", peerId: id(), curve: "P-521", expiresAt: 1_702_592_000_000 },
  { type: "withdrawn", requestId: 9, messageId: mid(), outcome: "withdrawn" },
  { type: "withdrawn", requestId: 10, messageId: mid(), outcome: "sent" },
  { type: "withdrawn", requestId: 11, messageId: mid(), outcome: "not-found" },
];

function refuses(decode: (b: Uint8Array) => unknown, body: Uint8Array, code: string, what: string): void {
  assert.throws(() => decode(body), (e) => e instanceof ProtocolError && e.code === code, what);
}

Deno.test("wire (issue 12): every new frame round-trips and stays in its direction", () => {
  for (const f of clientFrames) {
    const body = encodeFrameBody(f);
    assert.deepEqual(decodeClientFrame(body), f, f.type);
    refuses(decodeServerFrame, body, "unsupported", `${f.type} as a relay frame`);
    refuses(decodeClientFrame, Uint8Array.of(...body, 0), "malformed", `${f.type} + 1`);
    refuses(decodeClientFrame, body.subarray(0, body.length - 1), "malformed", `${f.type} − 1`);
  }
  for (const f of serverFrames) {
    const body = encodeFrameBody(f);
    assert.deepEqual(decodeServerFrame(body), f, f.type);
    refuses(decodeClientFrame, body, "unsupported", `${f.type} as a client frame`);
    refuses(decodeServerFrame, Uint8Array.of(...body, 0), "malformed", `${f.type} + 1`);
    refuses(decodeServerFrame, body.subarray(0, body.length - 1), "malformed", `${f.type} − 1`);
  }
});

Deno.test("wire (issue 12): the layouts are as docs/protocol.md says", () => {
  const peer = new Uint8Array(20).fill(0xab), m = new Uint8Array(16).fill(0xcd);
  assert.deepEqual(FrameType.setOptions, 0x0b);
  assert.deepEqual(
    encodeFrameBody({ type: "set-options", requestId: 0x01020304, options: 1 }),
    Uint8Array.of(0x0b, 1, 2, 3, 4, 1),
  );
  assert.deepEqual(
    encodeFrameBody({
      type: "send-expiring",
      requestId: 1,
      to: peer,
      messageId: m,
      ttl: 0x0a0b0c0d,
      body: Uint8Array.of(7),
    }),
    Uint8Array.of(0x0c, 0, 0, 0, 1, ...peer, ...m, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 1, 7),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "withdraw", requestId: 2, to: peer, messageId: m }),
    Uint8Array.of(0x0d, 0, 0, 0, 2, ...peer, ...m),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "dismiss-request", requestId: 3, peerId: peer }),
    Uint8Array.of(0x0e, 0, 0, 0, 3, ...peer),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "chat-asked", peerId: peer, curve: "P-384", expiresAt: 0x0102030405 }),
    Uint8Array.of(0x50, ...peer, 0x02, 0, 0, 0, 1, 2, 3, 4, 5),
  );
  for (const [outcome, byte] of [["withdrawn", 0], ["sent", 1], ["not-found", 2]] as const) {
    assert.deepEqual(
      encodeFrameBody({ type: "withdrawn", requestId: 4, messageId: m, outcome }),
      Uint8Array.of(0x51, 0, 0, 0, 4, ...m, byte),
    );
  }
});

Deno.test("wire (issue 12): limits and bad values are refused", () => {
  const peer = new Uint8Array(20), m = new Uint8Array(16);
  // A TTL of 0 does not parse; the encoder refuses it and anything above 2^32 − 1.
  refuses(
    decodeClientFrame,
    Uint8Array.of(0x0c, 0, 0, 0, 1, ...peer, ...m, 0, 0, 0, 0, 0, 0, 0, 1, 7),
    "malformed",
    "ttl 0",
  );
  refuses(
    decodeClientFrame,
    Uint8Array.of(0x0c, 0, 0, 0, 1, ...peer, ...m, 0, 0, 0, 1, 0, 0, 0, 0),
    "malformed",
    "empty body",
  );
  const send = {
    type: "send-expiring",
    requestId: 1,
    to: peer,
    messageId: m,
    body: Uint8Array.of(1),
  } as const;
  assert.throws(() => encodeFrameBody({ ...send, ttl: 0 }), RangeError);
  assert.throws(() => encodeFrameBody({ ...send, ttl: MAX_EXPIRY_MS + 1 }), RangeError);
  assert.throws(() => encodeFrameBody({ ...send, ttl: 1.5 }), RangeError);
  assert.throws(() => encodeFrameBody({ type: "set-options", requestId: 1, options: 256 }), RangeError);
  // An unknown outcome or curve.
  refuses(decodeServerFrame, Uint8Array.of(0x51, 0, 0, 0, 1, ...m, 3), "malformed", "outcome 3");
  refuses(
    decodeServerFrame,
    Uint8Array.of(0x50, ...peer, 0x07, 0, 0, 0, 0, 0, 0, 0, 0),
    "unsupported",
    "curve 7",
  );
  assert.throws(
    () => encodeFrameBody({ type: "withdrawn", requestId: 1, messageId: m, outcome: "gone" as "sent" }),
    TypeError,
  );
});

Deno.test("wire (issue 12): mutated new frames make the decoders throw ProtocolError and nothing else", () => {
  const d = decisions(12);
  const all = [...clientFrames.map(encodeFrameBody), ...serverFrames.map(encodeFrameBody)];
  for (let i = 0; i < 2000; i++) {
    let body = all[d.int(all.length)].slice();
    const flips = 1 + d.int(4);
    for (let k = 0; k < flips; k++) body[d.int(body.length)] ^= 1 << d.int(8);
    if (d.chance(0.2)) body = body.subarray(0, d.int(body.length + 1));
    for (const decode of [decodeClientFrame, decodeServerFrame]) {
      try {
        decode(body);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw new Error(`not a ProtocolError: ${e}`);
      }
    }
  }
});
