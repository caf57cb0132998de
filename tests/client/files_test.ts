// Files: names a peer offers are made safe (no path, no hidden or reserved names, no control or
// direction-override characters, bounded length), received files get unique names with mode 0600 and
// are checked against the offered size and SHA-256, and files over 100 MiB are refused before sending.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { sha256 } from "../../crypto/sha2.ts";
import type { IncomingFile } from "../../protocol/keystore.ts";
import {
  CHUNK_BYTES,
  FileError,
  FILES_DIR,
  freeBytes,
  IncomingFiles,
  inspectFile,
  MAX_FILE_BYTES,
  parseSize,
  readChunks,
  sanitizeFileName,
} from "../../client/files.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sotto-files-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("files: offered names are sanitised", () => {
  const cases: [string, string][] = [
    ["notes.txt", "notes.txt"],
    ["../../etc/passwd", "passwd"],
    ["..\\..\\boot.ini", "boot.ini"],
    ["..", "file"],
    [".", "file"],
    [".bashrc", "bashrc"],
    ["...hidden", "hidden"],
    ["", "file"],
    ["a\x1b[31mred", "a_[31mred"],
    ["evil\u202etxt.exe", "evil_txt.exe"],
    ["invoice\u200fgpj.exe", "invoice_gpj.exe"],
    ["a\u200bb\u2060c\u{e0041}.txt", "a_b_c_.txt"],
    ['what?<>:"|*.txt', "what_______.txt"],
    ["trailing. . ", "trailing"],
    ["CON", "_CON"],
    ["com1.txt", "_com1.txt"],
    ["résumé.pdf", "résumé.pdf"],
    ["e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"],
  ];
  for (const [offered, safe] of cases) assert.equal(sanitizeFileName(offered), safe, JSON.stringify(offered));
  const long = sanitizeFileName("a".repeat(300) + ".tar.gz");
  assert.equal([...long].length, 120);
  assert.ok(long.endsWith(".gz"));
  assert.equal([...sanitizeFileName("b".repeat(300))].length, 120);
  assert.throws(() => sanitizeFileName(7 as unknown as string), TypeError);
});

function record(fileId: number, data: Uint8Array, name = "report.pdf"): IncomingFile {
  const id = new Uint8Array(16).fill(fileId);
  return {
    fileId: id,
    name,
    path: IncomingFiles.partialPath(id),
    size: data.length,
    sha256: sha256(data),
    received: 0,
    nextIndex: 0,
    accepted: true,
  };
}

async function receive(files: IncomingFiles, r: IncomingFile, data: Uint8Array): Promise<void> {
  await files.start(r);
  for (let i = 0; i * CHUNK_BYTES < data.length; i++) {
    await files.write(r, i, data.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
  }
  await files.sync();
}

Deno.test("files: a received file is checked, saved under a unique name with mode 0600", async () => {
  await withDir(async (dir) => {
    const files = new IncomingFiles(dir);
    const data = systemRandom(CHUNK_BYTES * 2 + 100);
    const first = record(1, data);
    await receive(files, first, data);
    // A chunk written twice changes nothing.
    await files.write(first, 1, data.subarray(CHUNK_BYTES, 2 * CHUNK_BYTES));
    assert.equal(await files.finish(first), join(FILES_DIR, "report.pdf"));
    const second = record(2, data);
    await receive(files, second, data);
    assert.equal(await files.finish(second), join(FILES_DIR, "report (1).pdf"));
    const saved = join(dir, FILES_DIR, "report (1).pdf");
    assert.deepEqual(await Deno.readFile(saved), data);
    assert.equal((await Deno.stat(saved)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(dir, FILES_DIR))).mode! & 0o777, 0o700);
    const names = [];
    for await (const e of Deno.readDir(join(dir, FILES_DIR))) names.push(e.name);
    assert.deepEqual(names.sort(), ["report (1).pdf", "report.pdf"]);
    files.closeAll();
  });
});

Deno.test("files: a damaged or oversized transfer is refused and its partial file deleted", async () => {
  await withDir(async (dir) => {
    const files = new IncomingFiles(dir);
    const data = systemRandom(5000);
    const r = record(3, data, "../../escape.sh");
    await files.start(r);
    const bad = data.slice();
    bad[10] ^= 1;
    await files.write(r, 0, bad);
    await assert.rejects(() => files.finish(r), (e) => e instanceof FileError && /damaged/.test(e.message));
    await assert.rejects(() => Deno.stat(join(dir, r.path)), Deno.errors.NotFound);
    const small = record(4, data.subarray(0, 10));
    await files.start(small);
    await assert.rejects(() => files.write(small, 0, data), /more data than it announced/);
    await files.discard(small);
    // Nothing was ever written outside the files folder.
    const top = [];
    for await (const e of Deno.readDir(dir)) top.push(e.name);
    assert.deepEqual(top, [FILES_DIR]);
    files.closeAll();
  });
});

Deno.test("files: inspectFile hashes, and refuses folders, missing and over-100-MiB files", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "sub dir", "data.bin");
    await Deno.mkdir(join(dir, "sub dir"));
    const data = systemRandom(70_000);
    await Deno.writeFile(path, data);
    const info = await inspectFile(path);
    assert.deepEqual(info, { name: "data.bin", size: data.length, sha256: sha256(data) });
    const chunks = [];
    for await (const c of readChunks(path)) chunks.push(c.length);
    assert.deepEqual(chunks, [CHUNK_BYTES, CHUNK_BYTES, 70_000 - 2 * CHUNK_BYTES]);
    await assert.rejects(() => inspectFile(join(dir, "nope")), /no such file/);
    await assert.rejects(() => inspectFile(dir), /not a regular file/);
    const huge = join(dir, "huge.iso");
    const f = await Deno.open(huge, { write: true, create: true });
    await f.truncate(MAX_FILE_BYTES + 1); // sparse: no 100 MiB written
    f.close();
    await assert.rejects(() => inspectFile(huge), /100\.0 MiB, and files can be at most 100 MiB/);
  });
});

Deno.test("files: sizes on the command line, and the free space of a folder", async () => {
  assert.equal(parseSize("1000"), 1000);
  assert.equal(parseSize("10M"), 10 * 1024 * 1024);
  assert.equal(parseSize("1.5k"), 1536);
  assert.equal(parseSize("2G"), 2 * 1024 ** 3);
  assert.equal(parseSize("10MiB"), 10 * 1024 * 1024);
  for (const bad of ["", "ten", "-1", "1T", "1e9"]) assert.equal(parseSize(bad), null, bad);
  await withDir(async (dir) => {
    if (Deno.permissions.querySync({ name: "sys", kind: "statfs" }).state === "granted") {
      assert.ok((await freeBytes(dir)) > 0);
      await assert.rejects(() => freeBytes(join(dir, "nope")), FileError);
    } else {
      // `deno task test` does not grant it: the client then says which flag it needs.
      await assert.rejects(() => freeBytes(dir), (e) => {
        assert.ok(e instanceof FileError);
        assert.equal(
          e.message,
          "Deno's permissions stop the free-space check: run the client with --allow-sys=statfs.",
        );
        return true;
      });
    }
  });
});
