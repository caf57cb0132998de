// Payloads from a peer, one by one: texts count as unread unless their chat is on screen, announced
// nicknames are kept apart from ours, and file transfers that are too large, out of order, cancelled or
// stalled are refused or dropped with one sentence and their partial files deleted.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { sha256 } from "../../crypto/sha2.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { formatId } from "../../protocol/identity.ts";
import { type ChatRecord, newChatRecord } from "../../protocol/keystore.ts";
import type { Payload } from "../../protocol/payload.ts";
import type { ClientEvent } from "../../client/events.ts";
import { CHUNK_BYTES, FileError, FILES_DIR, IncomingFiles, MAX_FILE_BYTES } from "../../client/files.ts";
import { MAX_INCOMING_FILES, Receiver } from "../../client/receive.ts";
import { clock } from "./_fake.ts";

/** Every chat made by `chat()` in the current test (the receiver's quota counts them all). */
let made: ChatRecord[] = [];

function chat(): ChatRecord {
  const c: ChatRecord = {
    ...newChatRecord(generateIdentity().id, "P-256", "bob", 0),
    state: "open",
    role: "responder",
  };
  made.push(c);
  return c;
}

interface Setup {
  r: Receiver;
  events: ClientEvent[];
  dir: string;
  active: { on: boolean };
  /** Payloads the receiver queued for the peer (its answers). */
  sent: Payload[];
  /** What the fake file system reports free; and the quota. */
  disk: { free: number };
}

async function setup(fn: (s: Setup) => Promise<void>, options: { autoAccept?: number; quota?: number } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "sotto-recv-" });
  const files = new IncomingFiles(dir);
  const events: ClientEvent[] = [];
  const active = { on: false };
  const sent: Payload[] = [];
  const disk = { free: 2 ** 40 };
  made = [];
  const r = new Receiver({
    files,
    dataDir: dir,
    clock,
    emit: (e) => events.push(e),
    isActive: () => active.on,
    close: () => {},
    send: (_chat, p) => void sent.push(p),
    answered: () => false,
    incoming: () => made.flatMap((c) => c.incoming),
    autoAccept: options.autoAccept ?? 0,
    filesQuota: options.quota ?? 2 ** 40,
    freeBytes: () => Promise.resolve(disk.free),
  });
  try {
    await fn({ r, events, dir, active, sent, disk });
  } finally {
    files.closeAll();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("receive: texts, unread counts, nicknames, and the initiator's empty opening message", async () => {
  await setup(async ({ r, events, active }) => {
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

const offer = (n: number, size = 10) => ({
  type: "file-offer" as const,
  fileId: new Uint8Array(16).fill(n),
  name: `f${n}.txt`,
  size,
  sha256: size <= 1 << 20 ? sha256(new Uint8Array(size)) : new Uint8Array(32), // never completed
});

const last = <K extends ClientEvent["event"]>(events: ClientEvent[], kind: K) =>
  events.filter((e) => e.event === kind).at(-1) as Extract<ClientEvent, { event: K }>;

async function filesIn(dir: string): Promise<string[]> {
  const names = [];
  try {
    for await (const e of Deno.readDir(join(dir, FILES_DIR))) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

Deno.test("receive: an offer waits for an answer; chunks before /accept are dropped, nothing is written", async () => {
  await setup(async ({ r, events, dir, sent }) => {
    const c = chat();
    const data = systemRandom(CHUNK_BYTES + 7);
    const o = { ...offer(7, data.length), sha256: sha256(data) };
    await r.handle(c, o, 0);
    assert.deepEqual(last(events, "file-offer"), {
      event: "file-offer",
      chat: formatId(c.peerId),
      nick: "bob",
      direction: "receive",
      file: "07".repeat(16),
      name: "f7.txt",
      size: data.length,
    });
    assert.equal(c.incoming[0].accepted, false);
    // A sender that streams without waiting gets nowhere: its chunks never reach the disk.
    await r.handle(
      c,
      { type: "file-chunk", fileId: o.fileId, index: 0, data: data.subarray(0, CHUNK_BYTES) },
      0,
    );
    assert.deepEqual(await filesIn(dir), []);
    assert.equal(c.incoming[0].received, 0);
    assert.deepEqual(r.offers([c]).map((x) => x.file.name), ["f7.txt"]);

    await r.accept(c, c.incoming[0]);
    assert.deepEqual(sent, [{ type: "file-answer", fileId: o.fileId, accept: true }]);
    assert.deepEqual(r.offers([c]), []);
    await r.handle(
      c,
      { type: "file-chunk", fileId: o.fileId, index: 0, data: data.subarray(0, CHUNK_BYTES) },
      0,
    );
    await r.handle(
      c,
      { type: "file-chunk", fileId: o.fileId, index: 1, data: data.subarray(CHUNK_BYTES) },
      0,
    );
    await r.handle(c, { type: "file-end", fileId: o.fileId, status: "complete" }, 0);
    const done = last(events, "file-received");
    assert.equal(done.path, join(dir, FILES_DIR, "f7.txt"));
    assert.deepEqual(await Deno.readFile(done.path), data);
  });
});

Deno.test("receive: a declined file never touches the disk, and the sender is told", async () => {
  await setup(async ({ r, events, dir, sent }) => {
    const c = chat();
    await r.handle(c, offer(1, 5000), 0);
    r.decline(c, c.incoming[0]);
    assert.deepEqual(sent, [{ type: "file-answer", fileId: new Uint8Array(16).fill(1), accept: false }]);
    assert.equal(last(events, "file-declined").name, "f1.txt");
    await r.handle(c, {
      type: "file-chunk",
      fileId: new Uint8Array(16).fill(1),
      index: 0,
      data: new Uint8Array(9),
    }, 0);
    await r.handle(c, { type: "file-end", fileId: new Uint8Array(16).fill(1), status: "complete" }, 0);
    assert.equal(c.incoming.length, 0);
    assert.deepEqual(await filesIn(dir), []);
    // Over 100 MiB is declined at once, and so is a fifth offer while four wait.
    await r.handle(c, offer(9, MAX_FILE_BYTES + 1), 0);
    assert.match(last(events, "file-declined").reason!, /files over 100 MiB are refused/);
    for (let n = 2; n <= MAX_INCOMING_FILES + 2; n++) await r.handle(c, offer(n), 0);
    assert.deepEqual(c.incoming.map((f) => f.name), ["f2.txt", "f3.txt", "f4.txt", "f5.txt"]);
    assert.match(last(events, "file-declined").reason!, /4 files from them already wait for an answer/);
    assert.equal(sent.filter((p) => p.type === "file-answer" && !p.accept).length, 3);
    // A withdrawn offer goes quietly from the list, with one event.
    await r.handle(c, { type: "file-end", fileId: new Uint8Array(16).fill(2), status: "cancelled" }, 0);
    assert.equal(last(events, "file-failed").reason, "the sender withdrew it");
    assert.deepEqual(await filesIn(dir), []);
  });
});

Deno.test("receive: --accept-files accepts within its limit; the quotas and the free space hold", async () => {
  await setup(async ({ r, events, dir, sent, disk }) => {
    const c = chat();
    await r.handle(c, offer(1, 1000), 0);
    assert.equal(c.incoming[0].accepted, true, "small enough: accepted without asking");
    assert.equal(last(events, "file-accepted").name, "f1.txt");
    await r.handle(c, offer(2, 3000), 0);
    assert.equal(c.incoming[1].accepted, false, "too large for --accept-files: it waits");
    assert.equal(sent.length, 1);

    // The chat's quota: at most 256 MiB on their way from one chat at once.
    const big = (n: number) => ({ ...offer(n, 100 * 1024 * 1024) });
    const other = chat();
    for (const n of [3, 4, 5]) await r.handle(other, big(n), 0);
    await r.accept(other, other.incoming[0]);
    await r.accept(other, other.incoming[1]);
    await assert.rejects(() => r.accept(other, other.incoming[2]), (e) => {
      assert.ok(e instanceof FileError);
      assert.match(e.message, /one chat may send at most 256\.0 MiB at once/);
      return true;
    });
    assert.equal(other.incoming[2].accepted, false, "it still waits");

    // The free space: what is coming plus this file must leave the margin free.
    disk.free = 300 * 1024 * 1024;
    await assert.rejects(() => r.accept(c, c.incoming[1]), /not enough free space for "f2\.txt"/);
    disk.free = 2 ** 40;
    await r.accept(c, c.incoming[1]);
    assert.equal(c.incoming[1].accepted, true);
    assert.ok((await filesIn(dir)).length > 0);
  }, { autoAccept: 2000 });
  await setup(async ({ r, dir }) => {
    // The files quota counts what the folder holds already.
    await Deno.mkdir(join(dir, FILES_DIR));
    await Deno.writeFile(join(dir, FILES_DIR, "old.bin"), new Uint8Array(60_000));
    const c = chat();
    await r.handle(c, offer(1, 50_000), 0);
    await assert.rejects(() => r.accept(c, c.incoming[0]), /files folder would hold more than its quota/);
    await r.handle(c, offer(2, 30_000), 0);
    await r.accept(c, c.incoming[1]);
  }, { quota: 100_000 });
});

Deno.test("receive: bad transfers are dropped with one event, and their partial files deleted", async () => {
  await setup(async ({ r, events, dir }) => {
    const c = chat();
    for (let n = 1; n <= MAX_INCOMING_FILES; n++) {
      await r.handle(c, offer(n), 0);
      await r.accept(c, c.incoming.at(-1)!);
    }
    // A fifth offer while four run: the oldest has stalled (the sender forgot it) and makes room.
    await r.handle(c, offer(5), 0);
    assert.deepEqual(c.incoming.map((f) => f.name), ["f2.txt", "f3.txt", "f4.txt", "f5.txt"]);
    assert.deepEqual(
      events.filter((e) => e.event === "file-failed").map((e) => (e as { reason: string }).reason),
      [
        "it stalled",
      ],
    );

    await r.handle(c, {
      type: "file-chunk",
      fileId: new Uint8Array(16).fill(2),
      index: 1,
      data: new Uint8Array(5),
    }, 0);
    assert.match(last(events, "file-failed").reason, /chunks went missing/);
    const before = events.length;
    await r.handle(c, { type: "file-end", fileId: new Uint8Array(16).fill(3), status: "cancelled" }, 0);
    // B5: said once, as one event (and one history line).
    assert.deepEqual(events.slice(before).map((e) => e.event), ["file-failed"]);
    assert.equal(last(events, "file-failed").reason, "the sender cancelled it");
    assert.equal(c.history.filter((h) => /"f3\.txt" .*the sender cancelled it/.test(h.text)).length, 1);
    assert.deepEqual(await filesIn(dir), [".partial-04040404040404040404040404040404"]);
    await r.dropAll(c);
    assert.equal(c.incoming.length, 0);
    assert.deepEqual(await filesIn(dir), []);
  });
});

Deno.test("receive: an acceptance for a transfer the sender no longer runs is answered with its end", async () => {
  await setup(async ({ r, sent }) => {
    const c = chat();
    await r.handle(c, { type: "file-answer", fileId: new Uint8Array(16).fill(4), accept: true }, 0);
    assert.deepEqual(sent, [{ type: "file-end", fileId: new Uint8Array(16).fill(4), status: "cancelled" }]);
    await r.handle(c, { type: "file-answer", fileId: new Uint8Array(16).fill(5), accept: false }, 0);
    assert.equal(sent.length, 1);
  });
});
