// The history file format: lines round-trip through their records with every field, blocks are bound to
// their key, file, peer and position, a write cut short reads as "torn" (cut off, nothing lost before
// it) and anything altered as "damaged", and the file name does not show the peer's ID.

import assert from "node:assert/strict";
import { bytesToHex, concatBytes } from "../../crypto/bytes.ts";
import { ProtocolError, Reader, Writer } from "../../protocol/codec.ts";
import {
  applyRecords,
  decodeRecords,
  encodeRecords,
  HISTORY_HEADER_BYTES,
  type HistoryEntry,
  historyFileName,
  historyKeys,
  MAX_EDITS,
  newEntry,
  newHeader,
  readEntry,
  readHistoryFile,
  sealBlock,
  writeEntry,
} from "../../protocol/history.ts";
import { seededRandom, T0 } from "./_helpers.ts";

const random = seededRandom("history test");
const keys = historyKeys(random(32));
const peer = random(20), otherPeer = random(20);

const full: HistoryEntry = {
  seq: 7,
  kind: "out",
  status: "read",
  textId: 42,
  messageId: random(16),
  time: T0,
  text: "line one\nline two ✓",
  expiresAt: T0 + 30_000,
  ttl: 30,
  reply: { mine: false, id: 3 },
  myReaction: "👍",
  peerReaction: "❤️",
  versions: [{ text: "first", time: T0 + 1 }, { text: "second", time: T0 + 2 }],
  deleted: false,
};

Deno.test("history: a line round-trips with every field; records keep their order and kinds", () => {
  const w = new Writer();
  writeEntry(w, full);
  assert.deepEqual(readEntry(new Reader(w.finish(), "t")), full);
  const plain = newEntry({ seq: 1, kind: "system", time: T0, text: "the chat is open" });
  const records = [
    { op: "put" as const, entry: full },
    { op: "put" as const, entry: plain },
    { op: "drop" as const, seq: 9 },
    { op: "drop-upto" as const, seq: 3 },
  ];
  assert.deepEqual(decodeRecords(encodeRecords(records)), records);
  // Later records win: a put replaces the line with its seq, drops remove.
  const lines = applyRecords([], [
    { op: "put", entry: { ...plain, seq: 1 } },
    { op: "put", entry: { ...plain, seq: 2, text: "a" } },
    { op: "put", entry: { ...plain, seq: 5 } },
    { op: "put", entry: { ...plain, seq: 2, text: "b" } },
    { op: "drop", seq: 5 },
    { op: "put", entry: { ...plain, seq: 4 } },
    { op: "drop-upto", seq: 1 },
  ]);
  assert.deepEqual(lines.map((l) => [l.seq, l.text]), [[2, "b"], [4, "the chat is open"]]);
});

Deno.test("history: records that are not understood are refused", () => {
  const bytes = encodeRecords([{ op: "put", entry: full }]);
  assert.throws(() => decodeRecords(Uint8Array.of(9, 0, 0, 0, 1)), ProtocolError);
  assert.throws(() => decodeRecords(bytes.subarray(0, bytes.length - 1)), ProtocolError);
  const w = new Writer();
  assert.throws(() => writeEntry(w, { ...full, versions: new Array(MAX_EDITS + 1).fill(full.versions[0]) }));
  assert.throws(() => writeEntry(new Writer(), { ...full, messageId: new Uint8Array(3) }));
  const zero = new Writer();
  writeEntry(zero, { ...full, seq: 1 });
  const z = zero.finish();
  z[3] = 0; // seq 0
  assert.throws(() => readEntry(new Reader(z, "t")), /starts at 1/);
});

function file(...blocks: Uint8Array[][]): { bytes: Uint8Array; header: Uint8Array } {
  const header = newHeader(random);
  const sealed = blocks.map((records, n) =>
    sealBlock(keys.sealing, header, peer, n, concatBytes(...records), random)
  );
  return { bytes: concatBytes(header, ...sealed), header };
}

const put = (seq: number, text: string) =>
  encodeRecords([{ op: "put", entry: newEntry({ seq, kind: "in", time: T0, text }) }]);

Deno.test("history: blocks read back in order; a torn last block is reported and cut", () => {
  const { bytes } = file([put(1, "a")], [put(2, "b")], [put(3, "c")]);
  const all = readHistoryFile(keys.sealing, peer, bytes);
  assert.equal(all.stopped, null);
  assert.equal(all.blocks, 3);
  assert.equal(all.goodBytes, bytes.length);
  assert.deepEqual(applyRecords([], all.records).map((l) => l.text), ["a", "b", "c"]);
  const lastStart = bytes.length - (bytes.length - HISTORY_HEADER_BYTES) / 3;
  for (const cut of [bytes.length - 1, lastStart + 2, lastStart + 30]) {
    const torn = readHistoryFile(keys.sealing, peer, bytes.subarray(0, cut));
    assert.equal(torn.stopped, "torn", `cut at ${cut}`);
    assert.equal(torn.goodBytes, lastStart);
    assert.deepEqual(applyRecords([], torn.records).map((l) => l.text), ["a", "b"]);
  }
  // A last block whose length reached the disk and whose bytes did not (zeros) is torn too.
  const zeroed = bytes.slice();
  zeroed.fill(0, lastStart + 4);
  assert.equal(readHistoryFile(keys.sealing, peer, zeroed).stopped, "torn");
});

Deno.test("history: altered, reordered or moved blocks are damaged; other keys and peers read nothing", () => {
  const { bytes } = file([put(1, "a")], [put(2, "b")], [put(3, "c")]);
  const blockBytes = (bytes.length - HISTORY_HEADER_BYTES) / 3;
  const first = HISTORY_HEADER_BYTES, second = first + blockBytes;
  const flipped = bytes.slice();
  flipped[second + 40] ^= 1;
  const r = readHistoryFile(keys.sealing, peer, flipped);
  assert.equal(r.stopped, "damaged");
  assert.deepEqual(applyRecords([], r.records).map((l) => l.text), ["a"]);
  // Blocks swapped: each is bound to its position.
  const swapped = concatBytes(
    bytes.subarray(0, first),
    bytes.subarray(second, second + blockBytes),
    bytes.subarray(first, second),
    bytes.subarray(second + blockBytes),
  );
  assert.equal(readHistoryFile(keys.sealing, peer, swapped).records.length, 0);
  // Another chat's peer, another key: nothing authenticates.
  assert.equal(readHistoryFile(keys.sealing, otherPeer, bytes).records.length, 0);
  assert.equal(readHistoryFile(historyKeys(random(32)).sealing, peer, bytes).records.length, 0);
  // A block moved to another file (another header salt) fails too.
  const other = file([put(1, "z")]);
  const moved = concatBytes(other.bytes.subarray(0, HISTORY_HEADER_BYTES), bytes.subarray(first, second));
  assert.equal(readHistoryFile(keys.sealing, peer, moved).records.length, 0);
  // Headers that are not ours.
  assert.throws(() => readHistoryFile(keys.sealing, peer, bytes.subarray(0, 10)), ProtocolError);
  const newer = bytes.slice();
  newer[8] = 2;
  assert.throws(() => readHistoryFile(keys.sealing, peer, newer), /not supported/);
  const notOurs = bytes.slice();
  notOurs[0] = 0x41;
  assert.throws(() => readHistoryFile(keys.sealing, peer, notOurs), /not a sotto history file/);
});

Deno.test("history: file names are a keyed hash of the peer's ID", () => {
  const name = historyFileName(keys.naming, peer);
  assert.match(name, /^[0-9a-f]{32}\.hist$/);
  assert.ok(!name.includes(bytesToHex(peer).slice(0, 8)));
  assert.notEqual(historyFileName(keys.naming, otherPeer), name);
  assert.notEqual(historyFileName(historyKeys(random(32)).naming, peer), name);
  assert.equal(historyFileName(keys.naming, peer), name);
});
