// The group payloads (protocol/group_payload.ts) and the client's group records (protocol/groupstate.ts):
// round trips, the 1:1 payload types carried unchanged inside groups, and refusals of malformed input.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import {
  decodeGroupInvite,
  decodeGroupPayload,
  encodeGroupInvite,
  encodeGroupPayload,
  type GroupPayload,
  isGroupChatPayload,
} from "../../protocol/group_payload.ts";
import {
  decodeGroupState,
  decodeInvitations,
  encodeGroupState,
  encodeInvitations,
  type GroupState,
} from "../../protocol/groupstate.ts";
import { encodePayload } from "../../protocol/payload.ts";

const id = () => systemRandom(20);

Deno.test("group payloads: 1:1 types pass through; names and blobs round-trip; invitations are told apart", () => {
  const cases: GroupPayload[] = [
    { type: "text", id: 7, text: "hello ☃" },
    { type: "nickname", name: "Al" },
    { type: "file-offer", fileId: systemRandom(16), name: "a.txt", size: 10, sha256: systemRandom(32) },
    { type: "file-chunk", fileId: systemRandom(16), index: 0, data: systemRandom(100) },
    { type: "file-end", fileId: systemRandom(16), status: "complete" },
    { type: "group-name", name: "Hikers 🥾" },
    {
      type: "group-file",
      fileId: systemRandom(16),
      blobId: systemRandom(16),
      size: 2_000_000,
      sha256: systemRandom(32),
      key: systemRandom(32),
      name: "big.bin",
    },
  ];
  for (const p of cases) {
    const bytes = encodeGroupPayload(p);
    assert.deepEqual(decodeGroupPayload(bytes), p);
    assert.equal(isGroupChatPayload(bytes), p.type.startsWith("group-"), p.type);
  }
  // A 1:1 payload's bytes are the same inside a group.
  const text = { type: "text", id: 1, text: "x" } as const;
  assert.deepEqual(encodeGroupPayload(text), encodePayload(text));

  const invite = {
    type: "group-invite",
    groupId: systemRandom(32),
    suite: 5,
    name: "club",
    creator: id(),
    members: [id(), id()],
  } as const;
  const bytes = encodeGroupInvite(invite);
  assert.ok(isGroupChatPayload(bytes));
  assert.deepEqual(decodeGroupInvite(bytes), invite);
  // An invitation is not a group message, nor a group message an invitation.
  assert.throws(() => decodeGroupPayload(bytes), ProtocolError);
  assert.throws(
    () => decodeGroupInvite(encodeGroupPayload({ type: "group-name", name: "x" })),
    ProtocolError,
  );
});

Deno.test("group payloads: malformed input is refused with a ProtocolError", () => {
  const bad = (bytes: Uint8Array, decode: (b: Uint8Array) => unknown = decodeGroupPayload) =>
    assert.throws(() => decode(bytes), ProtocolError);
  const name = encodeGroupPayload({ type: "group-name", name: "ok" });
  bad(name.slice(0, -1));
  bad(new Uint8Array([...name, 0]));
  bad(new Uint8Array([2, 0x41, 0, 1, 0x61])); // another version
  bad(new Uint8Array([1, 0x41, 0, 0])); // an empty name
  bad(new Uint8Array([1, 0x41, 0, 2, 0x61, 0x07])); // a control character
  bad(new Uint8Array([1, 0x4f])); // an unknown group type
  const invite = encodeGroupInvite({
    type: "group-invite",
    groupId: systemRandom(16),
    suite: 2,
    name: "g",
    creator: id(),
    members: [id()],
  });
  bad(invite.slice(0, -3), decodeGroupInvite);
  const twice = id();
  const dup = encodeGroupInvite({
    type: "group-invite",
    groupId: systemRandom(16),
    suite: 2,
    name: "g",
    creator: twice,
    members: [twice],
  });
  bad(new Uint8Array([...dup.slice(0, -22), 0, 2, ...twice, ...twice]), decodeGroupInvite); // a member twice
  const odd = new Uint8Array(invite);
  odd[2] = 20; // a group ID of 20 bytes
  bad(odd, decodeGroupInvite);
  assert.throws(() => encodeGroupPayload({ type: "group-name", name: "" }), RangeError);
  assert.throws(
    () =>
      encodeGroupInvite({
        type: "group-invite",
        groupId: systemRandom(20),
        suite: 2,
        name: "g",
        creator: id(),
        members: [id()],
      }),
    RangeError,
  );
});

/** A group record with something in every field. */
function groupRecord(groupId: Uint8Array): GroupState {
  return {
    groupId,
    suite: 5,
    name: "hikers",
    creator: id(),
    status: "active",
    mls: systemRandom(1000),
    lastSeq: 42,
    admins: [id()],
    nicknames: [{ id: id(), name: "~bo" }],
    invited: [{ id: id(), at: 1_700_000_000_000 }],
    intent: {
      adds: [{ id: id(), keyPackage: systemRandom(300) }],
      removes: [id()],
      leave: false,
      update: true,
    },
    outbox: [{
      messageId: systemRandom(16),
      kind: "commit",
      bytes: systemRandom(500),
      welcome: systemRandom(700),
      epoch: 3,
      textId: 0,
      createdAt: 1_700_000_000_001,
    }, {
      messageId: systemRandom(16),
      kind: "payload",
      bytes: systemRandom(50),
      welcome: null,
      epoch: 0,
      textId: 9,
      createdAt: 1_700_000_000_002,
    }],
    nextTextId: 10,
    unread: 2,
    updatedAt: 1_700_000_000_003,
    lastUpdate: 1_700_000_000_000,
    sentSinceUpdate: 12,
    history: [
      { kind: "in", status: "none", textId: 4, sender: id(), time: 1, text: "hi" },
      { kind: "out", status: "queued", textId: 9, sender: new Uint8Array(0), time: 2, text: "yo" },
      { kind: "system", status: "none", textId: 0, sender: new Uint8Array(0), time: 3, text: "bob joined" },
    ],
    incoming: [{
      fileId: systemRandom(16),
      from: id(),
      name: "a.txt",
      size: 200,
      sha256: systemRandom(32),
      blob: null,
      accepted: false,
      received: 100,
      nextIndex: 1,
      complete: false,
      held: [systemRandom(100)],
      path: "files/.partial-x",
    }],
  };
}

Deno.test("group records and invitations round-trip; another group's record is refused", () => {
  const groupId = systemRandom(32);
  const s = groupRecord(groupId);
  const bytes = encodeGroupState(s);
  assert.deepEqual(decodeGroupState(bytes, groupId), s);
  assert.throws(() => decodeGroupState(bytes, systemRandom(32)), ProtocolError);
  assert.throws(() => decodeGroupState(bytes.slice(0, -1)), ProtocolError);
  assert.throws(() => decodeGroupState(new Uint8Array([...bytes, 0])), ProtocolError);

  const list = [{
    groupId,
    suite: 5,
    name: "hikers",
    creator: id(),
    members: [id(), id()],
    inviter: id(),
    receivedAt: 5,
    bundle: systemRandom(400),
    acceptedAt: 6,
  }];
  assert.deepEqual(decodeInvitations(encodeInvitations(list)), list);
  assert.throws(() => decodeInvitations(bytes), ProtocolError, "a group record is not the invitations");
});

Deno.test("a group record of v1 (before the periodic self-update) is read with the refresh due", () => {
  const groupId = systemRandom(32);
  const s = groupRecord(groupId);
  s.intent.removes = [new Uint8Array(20).fill(0xab)];
  s.intent.update = false;
  // v1 is v2 without the update flag (after leave) and without the last update and count (after updated).
  const v2 = encodeGroupState(s);
  const find = (needle: Uint8Array) => {
    const at = v2.findIndex((_, i) => needle.every((b, j) => v2[i + j] === b));
    assert.ok(at > 0);
    return at;
  };
  const tail = new Uint8Array(20);
  const dv = new DataView(tail.buffer);
  dv.setBigUint64(0, BigInt(s.updatedAt));
  dv.setBigUint64(8, BigInt(s.lastUpdate));
  dv.setUint32(16, s.sentSinceUpdate);
  const times = find(tail) + 8, flagAt = find(s.intent.removes[0]) + 20 + 1;
  const v1 = new Uint8Array([
    ...new TextEncoder().encode("sotto group v1"),
    ...v2.subarray(14, flagAt),
    ...v2.subarray(flagAt + 1, times),
    ...v2.subarray(times + 12),
  ]);
  assert.equal(v1.length, v2.length - 13);
  assert.deepEqual(decodeGroupState(v1, groupId), { ...s, lastUpdate: 0, sentSinceUpdate: 0 });
  assert.throws(() => decodeGroupState(v1.slice(0, -1)), ProtocolError);
  // Written again, it is v2.
  const again = encodeGroupState(decodeGroupState(v1, groupId));
  assert.equal(new TextDecoder().decode(again.subarray(0, 14)), "sotto group v2");
  const wrong = v2.slice();
  wrong[13] = 0x33; // "sotto group v3"
  assert.throws(() => decodeGroupState(wrong), /not a group record/);
});
