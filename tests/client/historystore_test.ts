// The history files on disk: lines, edits, reactions and tombstones survive a restart; each flush appends
// one block (nothing is rewritten) until content has to go, and then the file is rewritten without it
// (the deleted or lapsed text is in no record any more); a torn last write is cut off and loses nothing
// written before it; retention drops the oldest lines; /forget and chats the keystore no longer has
// leave no file; lines a version 2 keystore held are written to the new file.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { historyKeys, newEntry, readHistoryFile } from "../../protocol/history.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { type ChatRecord, newChatRecord } from "../../protocol/keystore.ts";
import { addLine, changed, clearLines, dropLines } from "../../client/history.ts";
import { HISTORY_DIR, HistoryStore } from "../../client/historystore.ts";
import { tombstone } from "../../client/receive.ts";

const T0 = 1_700_000_000_000;

function chat(): ChatRecord {
  return { ...newChatRecord(generateIdentity().id, "P-256", "bob", 0), state: "open", role: "initiator" };
}

/** A fresh copy of a chat's record as the keystore would give it back (without its lines). */
function reread(c: ChatRecord): ChatRecord {
  return { ...c, history: [] };
}

const forever = { lines: 10_000, days: 0 };

async function withDir(fn: (dir: string, secret: () => Uint8Array) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sotto-hist-" });
  const secret = systemRandom(32);
  try {
    await fn(dir, () => secret.slice());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function open(dir: string, secret: Uint8Array, chats: ChatRecord[]) {
  return await HistoryStore.open({ dataDir: dir, secret, chats });
}

/** Every record's text in a chat's file (what an attacker with the key could still read). */
async function textsOnDisk(
  dir: string,
  secret: Uint8Array,
  c: ChatRecord,
  store: HistoryStore,
): Promise<string[]> {
  const bytes = await Deno.readFile(join(dir, HISTORY_DIR, store.fileName(c.peerId)));
  const r = readHistoryFile(historyKeys(secret).sealing, c.peerId, bytes);
  return r.records.flatMap((rec) =>
    rec.op === "put" ? [rec.entry.text, ...rec.entry.versions.map((v) => v.text)] : []
  );
}

Deno.test("history store: lines, edits, reactions and tombstones survive a restart", async () => {
  await withDir(async (dir, secret) => {
    const c = chat();
    const { store } = await open(dir, secret(), [c]);
    addLine(c, newEntry({ kind: "out", status: "pending", textId: 1, time: T0, text: "hello\nworld" }));
    const b = addLine(
      c,
      newEntry({ kind: "in", textId: 1, time: T0 + 1, text: "hi", reply: { mine: true, id: 1 } }),
    );
    addLine(c, newEntry({ kind: "system", time: T0 + 2, text: `received "x.pdf", saved as /d/files/x.pdf` }));
    await store.flush([c], forever, T0);
    b.versions.push({ text: "hi", time: T0 + 3 });
    b.text = "hi there";
    b.peerReaction = "👍";
    changed(c, b);
    c.history[0].status = "read";
    changed(c, c.history[0]);
    await store.flush([c], forever, T0);
    await store.close();

    const again = reread(c);
    const { store: s2, problems } = await open(dir, secret(), [again]);
    assert.deepEqual(problems, []);
    assert.deepEqual(again.history, c.history);
    assert.equal(again.nextSeq, 4);
    await s2.close();
  });
});

Deno.test("history store: flushes append; removing content rewrites the file without it", async () => {
  await withDir(async (dir, secret) => {
    const c = chat();
    const { store } = await open(dir, secret(), [c]);
    const path = join(dir, HISTORY_DIR, store.fileName(c.peerId));
    addLine(c, newEntry({ kind: "out", textId: 1, time: T0, text: "keep me" }));
    await store.flush([c], forever, T0);
    const size1 = (await Deno.stat(path)).size;
    const secretLine = addLine(c, newEntry({ kind: "out", textId: 2, time: T0, text: "delete me" }));
    const lapsing = addLine(
      c,
      newEntry({ kind: "in", textId: 1, time: T0, text: "vanish", expiresAt: T0 + 1 }),
    );
    await store.flush([c], forever, T0);
    const size2 = (await Deno.stat(path)).size;
    assert.ok(size2 > size1);
    // An append leaves the first block as it was.
    const head1 = (await Deno.readFile(path)).subarray(0, size1);
    assert.deepEqual(head1, (await Deno.readFile(path)).subarray(0, size1));
    assert.deepEqual((await textsOnDisk(dir, secret(), c, store)).sort(), ["delete me", "keep me", "vanish"]);

    tombstone(c, secretLine);
    dropLines(c, (h) => h === lapsing);
    await store.flush([c], forever, T0);
    assert.deepEqual(await textsOnDisk(dir, secret(), c, store), ["keep me", ""]);
    await store.close();
    const again = reread(c);
    const { store: s2 } = await open(dir, secret(), [again]);
    assert.deepEqual(again.history.map((h) => [h.seq, h.text, h.deleted]), [[1, "keep me", false], [
      2,
      "",
      true,
    ]]);
    // Cleared: nothing of it is left in the file.
    clearLines(again);
    await s2.flush([again], forever, T0);
    assert.deepEqual(await textsOnDisk(dir, secret(), again, s2), []);
    const name = s2.fileName(c.peerId);
    await s2.close();
    const names = [];
    for await (const e of Deno.readDir(join(dir, HISTORY_DIR))) names.push(e.name);
    assert.deepEqual(names, [name], "no temporary file is left");
  });
});

Deno.test("history store: a torn last write is cut off; what came before it is kept", async () => {
  await withDir(async (dir, secret) => {
    const c = chat();
    const { store } = await open(dir, secret(), [c]);
    const path = join(dir, HISTORY_DIR, store.fileName(c.peerId));
    addLine(c, newEntry({ kind: "in", textId: 1, time: T0, text: "acknowledged" }));
    await store.flush([c], forever, T0);
    addLine(c, newEntry({ kind: "in", textId: 2, time: T0, text: "being written" }));
    await store.flush([c], forever, T0);
    await store.close();
    const whole = await Deno.readFile(path);
    // The crash: the second block's last bytes never reached the disk.
    await Deno.writeFile(path, whole.subarray(0, whole.length - 7));
    const again = reread(c);
    const { store: s2, problems } = await open(dir, secret(), [again]);
    assert.deepEqual(problems, []);
    assert.deepEqual(again.history.map((h) => h.text), ["acknowledged"]);
    // The next write follows the good part, and reads back.
    addLine(again, newEntry({ kind: "in", textId: 3, time: T0, text: "after the crash" }));
    await s2.flush([again], forever, T0);
    await s2.close();
    const third = reread(again);
    const { store: s3 } = await open(dir, secret(), [third]);
    assert.deepEqual(third.history.map((h) => h.text), ["acknowledged", "after the crash"]);
    await s3.close();
  });
});

Deno.test("history store: a damaged block is reported; a copy is kept and the good part stays", async () => {
  await withDir(async (dir, secret) => {
    const c = chat();
    const { store } = await open(dir, secret(), [c]);
    const path = join(dir, HISTORY_DIR, store.fileName(c.peerId));
    for (let i = 1; i <= 3; i++) {
      addLine(c, newEntry({ kind: "in", textId: i, time: T0, text: `line ${i}` }));
      await store.flush([c], forever, T0);
    }
    await store.close();
    const bytes = await Deno.readFile(path);
    const blockSize = (bytes.length - 25) / 3;
    bytes[25 + blockSize + 40] ^= 0xff; // in the middle block
    await Deno.writeFile(path, bytes);
    const again = reread(c);
    const { store: s2, problems } = await open(dir, secret(), [again]);
    assert.equal(problems.length, 1);
    assert.match(
      problems[0],
      /^Part of the history of bob is damaged: the lines after line 1 could not be read\./,
    );
    assert.deepEqual(again.history.map((h) => h.text), ["line 1"]);
    assert.ok((await Deno.stat(`${path}.damaged`)).isFile);
    // Not a history file at all: set aside whole, and the chat starts again.
    await s2.close();
    await Deno.writeFile(path, systemRandom(300));
    const other = reread(c);
    const { store: s3, problems: p3 } = await open(dir, secret(), [other]);
    assert.equal(other.history.length, 0);
    assert.match(p3[0], /could not be read .* set aside/);
    await s3.close();
  });
});

Deno.test("history store: retention drops the oldest lines past the count and the age", async () => {
  await withDir(async (dir, secret) => {
    const c = chat();
    const { store } = await open(dir, secret(), [c]);
    for (let i = 0; i < 200; i++) {
      addLine(c, newEntry({ kind: "in", textId: i + 1, time: T0 + i * 3600_000, text: `m${i}` }));
    }
    // 200 lines, a limit of 100: dropped only past 10% (at least 50) over, down to the limit.
    await store.flush([c], { lines: 160, days: 0 }, T0);
    assert.equal(c.history.length, 200);
    await store.flush([c], { lines: 100, days: 0 }, T0);
    assert.equal(c.history.length, 100);
    assert.equal(c.history[0].text, "m100");
    // Older than a day, at T0 + 199 h: lines before hour 175 go.
    await store.flush([c], { lines: 10_000, days: 1 }, T0 + 199 * 3600_000);
    assert.equal(c.history[0].text, "m175");
    await store.close();
    const again = reread(c);
    const { store: s2 } = await open(dir, secret(), [again]);
    assert.deepEqual(again.history.map((h) => h.text), c.history.map((h) => h.text));
    assert.equal(again.nextSeq, 201, "line numbers are never reused");
    await s2.close();
  });
});

Deno.test("history store: /forget deletes the file; files of chats the keystore lacks are removed", async () => {
  await withDir(async (dir, secret) => {
    const a = chat(), b = chat();
    const { store } = await open(dir, secret(), [a, b]);
    addLine(a, newEntry({ kind: "in", textId: 1, time: T0, text: "a" }));
    addLine(b, newEntry({ kind: "in", textId: 1, time: T0, text: "b" }));
    await store.flush([a, b], forever, T0);
    await store.forget(a);
    const names = async () => {
      const out = [];
      for await (const e of Deno.readDir(join(dir, HISTORY_DIR))) out.push(e.name);
      return out.sort();
    };
    assert.deepEqual(await names(), [store.fileName(b.peerId)]);
    await store.close();
    // A start where the keystore no longer has b (a /forget cut short): its file goes.
    const { store: s2 } = await open(dir, secret(), [reread(a)]);
    assert.deepEqual(await names(), []);
    await s2.close();
  });
});

Deno.test("history store: lines a version 2 keystore held are written to a new file", async () => {
  await withDir(async (dir, secret) => {
    const c = chat();
    c.history = [1, 2, 3].map((seq) =>
      newEntry({ seq, kind: "in", textId: seq, time: T0, text: `old ${seq}` })
    );
    c.nextSeq = 4;
    const { store } = await open(dir, secret(), [c]);
    await store.flush([c], forever, T0);
    await store.close();
    const again = reread(c);
    const { store: s2 } = await open(dir, secret(), [again]);
    assert.deepEqual(again.history.map((h) => h.text), ["old 1", "old 2", "old 3"]);
    await s2.close();
  });
});
