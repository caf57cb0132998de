// protocol/wire.ts, the group frames: each round-trips, the layouts are as docs/protocol.md shows them, the
// decoders refuse group IDs of other lengths, empty or oversized MLS messages, unknown kinds and flags, and
// the group result codes encode from 64 up.

import assert from "node:assert/strict";
import { ProtocolError } from "../../protocol/codec.ts";
import {
  BLOB_CHUNK_BYTES,
  type ClientFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeFrameBody,
  MAX_FRAME_BYTES,
  MAX_GROUP_MESSAGE_BYTES,
  type ServerFrame,
} from "../../protocol/wire.ts";
import { seededRandom } from "./_helpers.ts";

const random = seededRandom("wire group test");
const id = () => random(20);
const mid = () => random(16);
const gid = random(32);

const clientFrames: ClientFrame[] = [
  { type: "create-group", requestId: 1, groupId: gid, suite: 5 },
  { type: "create-group", requestId: 2, groupId: random(16), suite: 0xffff },
  { type: "accept-invite", requestId: 3, groupId: gid, inviter: id(), keyPackage: random(1400) },
  { type: "group-propose", requestId: 4, groupId: gid, messageId: mid(), message: random(500) },
  { type: "group-commit", requestId: 5, groupId: gid, messageId: mid(), commit: random(800), welcome: null },
  {
    type: "group-commit",
    requestId: 6,
    groupId: gid,
    messageId: mid(),
    commit: random(80),
    welcome: random(900),
  },
  {
    type: "group-send",
    requestId: 7,
    groupId: gid,
    messageId: mid(),
    message: random(MAX_GROUP_MESSAGE_BYTES),
  },
  { type: "set-admin", requestId: 8, groupId: gid, member: id(), admin: true },
  { type: "set-admin", requestId: 9, groupId: gid, member: id(), admin: false },
  { type: "group-info", requestId: 10, groupId: gid },
  {
    type: "blob-upload",
    requestId: 11,
    groupId: gid,
    blobId: mid(),
    size: 3e9,
    index: 7,
    data: random(BLOB_CHUNK_BYTES),
  },
  { type: "blob-fetch", requestId: 12, groupId: gid, blobId: mid(), index: 0 },
  { type: "blob-done", requestId: 13, groupId: gid, blobId: mid() },
];

const serverFrames: ServerFrame[] = [
  { type: "group-accepted", requestId: 1, messageId: mid(), seq: 12, epoch: 3 },
  {
    type: "group-deliver",
    entryId: mid(),
    groupId: gid,
    seq: 1,
    from: id(),
    queuedAt: 1_700_000_000_000,
    kind: "message",
    body: random(300),
  },
  {
    type: "group-deliver",
    entryId: mid(),
    groupId: gid,
    seq: 2,
    from: id(),
    queuedAt: 0,
    kind: "welcome",
    body: random(9),
  },
  {
    type: "group-deliver",
    entryId: mid(),
    groupId: gid,
    seq: 3,
    from: id(),
    queuedAt: 5,
    kind: "admins",
    admins: [id(), id()],
  },
  {
    type: "group-deliver",
    entryId: mid(),
    groupId: gid,
    seq: 4,
    from: id(),
    queuedAt: 5,
    kind: "admins",
    admins: [],
  },
  { type: "invite-accepted", eventId: mid(), groupId: gid, invitee: id(), keyPackage: random(1300) },
  {
    type: "group-state",
    requestId: 14,
    groupId: gid,
    suite: 2,
    creator: id(),
    epoch: 9,
    seq: 100,
    members: [
      { id: id(), leaf: 0, admin: true, leaving: false },
      { id: id(), leaf: 3, admin: false, leaving: true },
    ],
  },
  { type: "blob-data", requestId: 15, blobId: mid(), size: 10, index: 0, data: random(10) },
  { type: "refused", requestId: 16, messageId: mid(), reason: "missing-proposals" },
  { type: "result", requestId: 17, code: "not-member", detail: "" },
];

/** `body` with one zero byte appended. */
function plusOne(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  return out;
}

function refuses(decode: (b: Uint8Array) => unknown, body: Uint8Array, code: string, what: string): void {
  assert.throws(() => decode(body), (e) => e instanceof ProtocolError && e.code === code, what);
}

Deno.test("wire groups: every frame round-trips and refuses truncation, trailing bytes, the wrong direction", () => {
  for (const f of clientFrames) {
    const body = encodeFrameBody(f);
    assert.ok(body.length <= MAX_FRAME_BYTES);
    assert.deepEqual(decodeClientFrame(body), f, f.type);
    refuses(decodeClientFrame, plusOne(body), "malformed", `${f.type} + 1`);
    refuses(decodeClientFrame, body.subarray(0, body.length - 1), "malformed", `${f.type} − 1`);
    refuses(decodeServerFrame, body, "unsupported", `${f.type} as a relay frame`);
  }
  for (const f of serverFrames) {
    const body = encodeFrameBody(f);
    assert.deepEqual(decodeServerFrame(body), f, f.type);
    refuses(decodeServerFrame, plusOne(body), "malformed", `${f.type} + 1`);
    refuses(decodeServerFrame, body.subarray(0, body.length - 1), "malformed", `${f.type} − 1`);
    refuses(decodeClientFrame, body, "unsupported", `${f.type} as a client frame`);
  }
});

Deno.test("wire groups: the layouts are as documented (spot checks)", () => {
  const g = new Uint8Array(16).fill(0xcd);
  assert.deepEqual(
    encodeFrameBody({ type: "create-group", requestId: 0x01020304, groupId: g, suite: 5 }),
    Uint8Array.of(0x10, 1, 2, 3, 4, 16, ...g, 0, 5),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "group-info", requestId: 1, groupId: g }),
    Uint8Array.of(0x16, 0, 0, 0, 1, 16, ...g),
  );
  const m = new Uint8Array(16).fill(1);
  assert.deepEqual(
    encodeFrameBody({
      type: "group-commit",
      requestId: 2,
      groupId: g,
      messageId: m,
      commit: Uint8Array.of(9),
      welcome: null,
    }),
    Uint8Array.of(0x13, 0, 0, 0, 2, 16, ...g, ...m, 0, 0, 0, 1, 9, 0, 0, 0, 0),
  );
  assert.deepEqual(
    encodeFrameBody({ type: "group-accepted", requestId: 3, messageId: m, seq: 258, epoch: 1 }),
    Uint8Array.of(0x60, 0, 0, 0, 3, ...m, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1),
  );
  // Group result codes from 64: not-member 64 … missing-proposals 69.
  assert.deepEqual(
    encodeFrameBody({ type: "result", requestId: 1, code: "not-member", detail: "" }),
    Uint8Array.of(0x43, 0, 0, 0, 1, 64, 0, 0),
  );
  assert.equal(
    encodeFrameBody({ type: "refused", requestId: 1, messageId: m, reason: "missing-proposals" })[21],
    69,
  );
  const a = new Uint8Array(20).fill(7);
  const admins = encodeFrameBody({
    type: "group-deliver",
    entryId: m,
    groupId: g,
    seq: 1,
    from: a,
    queuedAt: 2,
    kind: "admins",
    admins: [a],
  });
  assert.deepEqual(admins.subarray(admins.length - 27), Uint8Array.of(3, 0, 0, 0, 22, 0, 1, ...a));
});

Deno.test("wire groups: the decoders enforce the group fields' limits", () => {
  const g = new Uint8Array(20);
  refuses(decodeClientFrame, Uint8Array.of(0x16, 0, 0, 0, 1, 20, ...g), "malformed", "group id of 20 bytes");
  refuses(decodeClientFrame, Uint8Array.of(0x16, 0, 0, 0, 1, 0), "malformed", "empty group id");
  const g16 = new Uint8Array(16);
  const head = Uint8Array.of(0x14, 0, 0, 0, 1, 16, ...g16, ...new Uint8Array(16));
  refuses(decodeClientFrame, Uint8Array.of(...head, 0, 0, 0, 0), "malformed", "empty message");
  const over = Uint8Array.of(...head, 0, 3, 0xfc, 1); // MAX_GROUP_MESSAGE_BYTES + 1, announced
  refuses(decodeClientFrame, over, "malformed", "message over the limit");
  // A commit whose Welcome is empty is a commit without one; an admin flag must be 0 or 1.
  refuses(
    decodeClientFrame,
    Uint8Array.of(0x15, 0, 0, 0, 1, 16, ...g16, ...new Uint8Array(20), 2),
    "malformed",
    "flag 2",
  );
  // An unknown deliver kind, unknown member flags.
  const deliver = encodeFrameBody(serverFrames[1]);
  const kindAt = 1 + 16 + 1 + 32 + 8 + 20 + 8;
  const bad = deliver.slice();
  bad[kindAt] = 4;
  refuses(decodeServerFrame, bad, "malformed", "kind 4");
  const state = encodeFrameBody(serverFrames[6]);
  const flags = state.slice();
  flags[flags.length - 1] = 4;
  refuses(decodeServerFrame, flags, "malformed", "member flags 4");
  // A blob chunk over the chunk size; an unknown group result code.
  assert.throws(() =>
    encodeFrameBody({
      type: "blob-upload",
      requestId: 1,
      groupId: g16,
      blobId: g16,
      size: 1,
      index: 0,
      data: new Uint8Array(BLOB_CHUNK_BYTES + 1),
    })
  );
  refuses(decodeServerFrame, Uint8Array.of(0x43, 0, 0, 0, 1, 70, 0, 0), "malformed", "result 70");
  refuses(decodeServerFrame, Uint8Array.of(0x43, 0, 0, 0, 1, 12, 0, 0), "malformed", "result 12");
});
