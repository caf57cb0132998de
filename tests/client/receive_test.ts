// Payloads from a peer, one by one: texts count as unread unless their chat is on screen, announced
// nicknames are kept apart from ours, and file transfers that are too large, out of order, cancelled or
// stalled are refused or dropped with one sentence and their partial files deleted.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { sha256 } from "../../crypto/sha2.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import type { ChatRecord } from "../../protocol/keystore.ts";
import type { ClientEvent } from "../../client/events.ts";
import { CHUNK_BYTES, FILES_DIR, IncomingFiles, MAX_FILE_BYTES } from "../../client/files.ts";
import { MAX_INCOMING_FILES, Receiver } from "../../client/receive.ts";
import { clock } from "./_fake.ts";

function chat(): ChatRecord {
  return {
    peerId: generateIdentity().id,
    state: "open",
    role: "responder",
    curve: "P-256",
    nickname: "bob",
    peerNickname: "",
    peerIdentity: null,
    session: null,
    nextTextId: 1,
    unread: 0,
    updatedAt: 0,
    history: [],
    incoming: [],
  };
}

async function setup(
  fn: (r: Receiver, events: ClientEvent[], dir: string, active: { on: boolean }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "sotto-recv-" });
  const files = new IncomingFiles(dir);
  const events: ClientEvent[] = [];
  const active = { on: false };
  const closed: ChatRecord[] = [];
  const r = new Receiver({
    files,
    dataDir: dir,
    clock,
    emit: (e) => events.push(e),
    isActive: () => active.on,
    close: (c) => void closed.push(c),
  });
  try {
    await fn(r, events, dir, active);
  } finally {
    files.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("receive: texts, unread counts, nicknames, and the initiator's empty opening message", async () => {
  await setup(async (r, events, _dir, active) => {
    const c = chat();
    await r.handle(c, { type: "text", id: 0, text: "" }, 1000);
    assert.equal(events.length, 0);
    await r.handle(c, { type: "text", id: 1, text: "hi" }, 1000);
    active.on = true;
    await r.handle(c, { type: "text", id: 2, text: "again" }, 2000);
    assert.equal(c.unread, 1);
    assert.deepEqual(c.history.map((h) => [h.kind, h.text, h.time]), [["in", "hi", 1000], [
      "in",
      "again",
      2000,
    ]]);
    await r.handle(c, { type: "nickname", name: "Robert" }, 3000);
    assert.equal(c.nickname, "bob");
    assert.equal(c.peerNickname, "Robert");
    assert.deepEqual(events.map((e) => e.event), ["message", "message", "nickname"]);
    assert.equal(
      (events[0] as Extract<ClientEvent, { event: "message" }>).time,
      new Date(1000).toISOString(),
    );
  });
});

Deno.test("receive: bad transfers are refused or dropped, and their partial files deleted", async () => {
  await setup(async (r, events, dir) => {
    const c = chat();
    const offer = (n: number, size = 10) => ({
      type: "file-offer" as const,
      fileId: new Uint8Array(16).fill(n),
      name: `f${n}.txt`,
      size,
      sha256: sha256(new Uint8Array(size)),
    });
    await r.handle(c, offer(9, MAX_FILE_BYTES + 1), 0);
    assert.match((events.at(-1) as { message: string }).message, /files over 100 MiB are refused/);
    assert.equal(c.incoming.length, 0);

    for (let n = 1; n <= MAX_INCOMING_FILES + 1; n++) await r.handle(c, offer(n), 0);
    assert.deepEqual(c.incoming.map((f) => f.name), ["f2.txt", "f3.txt", "f4.txt", "f5.txt"]);
    assert.match(
      (events.at(-2) as { message: string }).message,
      /^The file "f1\.txt" from bob was not received: it stalled\.$/,
    );

    await r.handle(c, {
      type: "file-chunk",
      fileId: new Uint8Array(16).fill(2),
      index: 1,
      data: new Uint8Array(5),
    }, 0);
    assert.match((events.at(-1) as { message: string }).message, /"f2\.txt" .*chunks went missing/);
    await r.handle(c, { type: "file-end", fileId: new Uint8Array(16).fill(3), status: "cancelled" }, 0);
    assert.match((events.at(-1) as { message: string }).message, /"f3\.txt" .*the sender cancelled it/);

    // A complete one goes through; the rest are gone from the disk.
    const data = systemRandom(CHUNK_BYTES + 7);
    const good = { ...offer(7, data.length), sha256: sha256(data) };
    await r.handle(c, good, 0);
    await r.handle(c, {
      type: "file-chunk",
      fileId: good.fileId,
      index: 0,
      data: data.subarray(0, CHUNK_BYTES),
    }, 0);
    await r.handle(
      c,
      { type: "file-chunk", fileId: good.fileId, index: 1, data: data.subarray(CHUNK_BYTES) },
      0,
    );
    await r.handle(c, { type: "file-end", fileId: good.fileId, status: "complete" }, 0);
    const done = events.at(-1) as Extract<ClientEvent, { event: "file-received" }>;
    assert.equal(done.path, join(dir, FILES_DIR, "f7.txt"));
    assert.deepEqual(await Deno.readFile(done.path), data);
    const left = [];
    for await (const e of Deno.readDir(join(dir, FILES_DIR))) left.push(e.name);
    assert.deepEqual(left.sort(), [
      ".partial-04040404040404040404040404040404",
      ".partial-05050505050505050505050505050505",
      "f7.txt",
    ]);
    await r.dropAll(c);
    assert.equal(c.incoming.length, 0);
  });
});
