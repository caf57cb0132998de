// Files on disk for the client: checking and hashing a file before it is offered, reading it in chunks,
// and receiving one: once accepted, chunks go into a partial file in `<data>/files/`, which on completion
// is checked against the offered size and SHA-256 and renamed to a sanitised, unique name. A received file
// is never opened, executed or given an execute bit (mode 0600): the original's shell `open` of
// peer-supplied names (ORIGINAL.md §6.10) has no counterpart here. What may be accepted is bounded here
// too: the quotas, and the free space of the data folder's file system.

import { statfs } from "node:fs";
import { join } from "node:path";
import { bytesToHex, equalBytes } from "../crypto/bytes.ts";
import { createHash } from "../crypto/sha2.ts";
import { MAX_CHUNK_BYTES } from "../protocol/payload.ts";
import type { IncomingFile } from "../protocol/keystore.ts";

/** The largest file sent or accepted: 100 MiB, as in the original. */
export const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** The folder, inside the data folder, that received files go to. */
export const FILES_DIR = "files";
/** Bytes of file data per chunk payload. */
export const CHUNK_BYTES = MAX_CHUNK_BYTES;
/** Most bytes being received from one chat at once (accepted transfers not yet complete). */
export const CHAT_QUOTA_BYTES = 256 * 1024 * 1024;
/** Default of --files-quota: most bytes in the files folder, counting what accepted transfers will add. */
export const DEFAULT_FILES_QUOTA = 2 * 1024 * 1024 * 1024;
/** Bytes that must stay free on the data folder's file system once an accepted file has arrived. */
export const FREE_SPACE_MARGIN = 256 * 1024 * 1024;

const MAX_NAME_CHARS = 120;
const MAX_EXTENSION_CHARS = 16;
// Controls, DEL, format characters (bidirectional marks, overrides and isolates, zero-width and invisible
// characters, tags) and the characters some file systems refuse.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\p{Cf}<>:"/\\|?*]/gu;
const RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)$/i;

/** A file problem, said in one sentence for the user. */
export class FileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileError";
  }
}

/**
 * A name that is safe to create in the files folder, whatever the peer offered: only the last path
 * component, no control or format characters (direction marks and overrides, invisible characters),
 * nothing a file system refuses, no leading
 * dot (no hidden files, no ".."), no trailing dot or space, not a reserved device name, at most 120
 * characters with the extension kept; "file" if nothing is left.
 */
export function sanitizeFileName(name: string): string {
  if (typeof name !== "string") throw new TypeError("name must be a string");
  let s = name.normalize("NFC").split(/[/\\]/).pop()!.replace(UNSAFE, "_");
  s = s.replace(/^[\s.]+/, "").replace(/[\s.]+$/, "");
  const chars = [...s];
  if (chars.length > MAX_NAME_CHARS) {
    const dot = s.lastIndexOf(".");
    const ext = dot > 0 ? [...s.slice(dot)] : [];
    const keep = ext.length > 1 && ext.length <= MAX_EXTENSION_CHARS ? ext : [];
    s = chars.slice(0, MAX_NAME_CHARS - keep.length).join("").replace(/[\s.]+$/, "") + keep.join("");
  }
  const stem = s.split(".")[0];
  if (RESERVED.test(stem)) s = `_${s}`;
  return s === "" ? "file" : s;
}

/** What a file to send is: its name as offered, size and SHA-256. */
export interface FileInfo {
  name: string;
  size: number;
  sha256: Uint8Array;
}

/**
 * Checks a file before it is offered (a regular file of at most MAX_FILE_BYTES that we may read) and
 * hashes it. FileError in one sentence otherwise.
 */
export async function inspectFile(path: string): Promise<FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new FileError(`Cannot send ${path}: ${reason(e)}.`, { cause: e });
  }
  if (!info.isFile) throw new FileError(`Cannot send ${path}: it is not a regular file.`);
  if (info.size > MAX_FILE_BYTES) {
    throw new FileError(`Cannot send ${path}: it is ${mib(info.size)}, and files can be at most 100 MiB.`);
  }
  const h = createHash("SHA-256");
  let size = 0;
  for await (const chunk of readChunks(path)) {
    h.update(chunk);
    size += chunk.length;
  }
  if (size !== info.size) throw new FileError(`Cannot send ${path}: it changed while it was being read.`);
  const base = path.split(/[/\\]/).pop() ?? "";
  return { name: sanitizeFileName(base), size, sha256: h.digest() };
}

/** The file's contents in CHUNK_BYTES pieces (the last may be shorter). FileError if it cannot be read. */
export async function* readChunks(path: string): AsyncGenerator<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new FileError(`Cannot read ${path}: ${reason(e)}.`, { cause: e });
  }
  try {
    for (;;) {
      const buf = new Uint8Array(CHUNK_BYTES);
      let filled = 0;
      while (filled < buf.length) {
        const n = await file.read(buf.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      if (filled > 0) yield buf.subarray(0, filled);
      if (filled < buf.length) return;
    }
  } finally {
    file.close();
  }
}

/**
 * Received files: the partial files being written (kept open while a transfer runs) and their
 * completion. Paths in IncomingFile records are relative to the data folder.
 */
export class IncomingFiles {
  readonly #dataDir: string;
  readonly #open = new Map<string, Deno.FsFile>();
  readonly #dirty = new Set<Deno.FsFile>();

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
  }

  /** The partial file's path (relative to the data folder) for a new transfer. */
  static partialPath(fileId: Uint8Array): string {
    return join(FILES_DIR, `.partial-${bytesToHex(fileId)}`);
  }

  async #handle(record: IncomingFile): Promise<Deno.FsFile> {
    let file = this.#open.get(record.path);
    if (file === undefined) {
      await Deno.mkdir(join(this.#dataDir, FILES_DIR), { recursive: true, mode: 0o700 });
      file = await Deno.open(join(this.#dataDir, record.path), {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
      this.#open.set(record.path, file);
    }
    return file;
  }

  /** Starts a transfer: creates (or empties) its partial file. */
  async start(record: IncomingFile): Promise<void> {
    const file = await this.#handle(record);
    await file.truncate(0);
  }

  /**
   * Writes chunk `index` of a transfer at its place (chunks are CHUNK_BYTES each but the last), so a
   * repeated chunk changes nothing. Not yet durable: {@link sync} before acknowledging.
   */
  async write(record: IncomingFile, index: number, data: Uint8Array): Promise<void> {
    const offset = index * CHUNK_BYTES;
    if (offset + data.length > record.size) {
      throw new FileError(`The file "${record.name}" sent more data than it announced.`);
    }
    const file = await this.#handle(record);
    await file.seek(offset, Deno.SeekMode.Start);
    for (let off = 0; off < data.length;) off += await file.write(data.subarray(off));
    this.#dirty.add(file);
  }

  /** Makes every written chunk durable (before the keystore records it and the messages are acked). */
  async sync(): Promise<void> {
    for (const file of this.#dirty) await file.syncData();
    this.#dirty.clear();
  }

  /**
   * Completes a transfer: checks the size and SHA-256, then renames the partial file to a sanitised,
   * unique name in the files folder. Returns that path (relative to the data folder). FileError if the
   * contents do not match the offer (the partial file is then deleted).
   */
  async finish(record: IncomingFile): Promise<string> {
    const file = await this.#handle(record);
    await file.syncData();
    this.#dirty.delete(file);
    const h = createHash("SHA-256");
    let size = 0;
    await file.seek(0, Deno.SeekMode.Start);
    const buf = new Uint8Array(1 << 16);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      h.update(buf.subarray(0, n));
      size += n;
    }
    this.#close(record.path);
    if (size !== record.size || !equalBytes(h.digest(), record.sha256)) {
      await this.discard(record);
      throw new FileError(
        `The file "${record.name}" arrived damaged (its size or SHA-256 is wrong) and was deleted.`,
      );
    }
    const name = await this.#claimName(sanitizeFileName(record.name));
    await Deno.rename(join(this.#dataDir, record.path), join(this.#dataDir, name));
    return name;
  }

  /** Deletes a transfer's partial file (cancelled, damaged or refused). */
  async discard(record: IncomingFile): Promise<void> {
    this.#close(record.path);
    await Deno.remove(join(this.#dataDir, record.path)).catch(() => {});
  }

  /** Closes every open partial file (they stay on disk for the transfer to go on after a restart). */
  closeAll(): void {
    for (const path of [...this.#open.keys()]) this.#close(path);
  }

  #close(path: string): void {
    const file = this.#open.get(path);
    if (file === undefined) return;
    this.#open.delete(path);
    this.#dirty.delete(file);
    file.close();
  }

  /** Creates an empty file under `name`, or "stem (n).ext" if taken, and returns its relative path. */
  async #claimName(name: string): Promise<string> {
    const dot = name.lastIndexOf(".");
    const stem = dot > 0 ? name.slice(0, dot) : name, ext = dot > 0 ? name.slice(dot) : "";
    for (let n = 0; n < 10_000; n++) {
      const candidate = join(FILES_DIR, n === 0 ? name : `${stem} (${n})${ext}`);
      try {
        (await Deno.open(join(this.#dataDir, candidate), { write: true, createNew: true, mode: 0o600 }))
          .close();
        return candidate;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
    throw new FileError(`There are too many files named "${name}" in the files folder.`);
  }
}

/**
 * Bytes free for us on the file system holding `dir` (node:fs statfs: needs --allow-sys=statfs and read
 * access to `dir`). FileError in one sentence if it cannot be known.
 */
export async function freeBytes(dir: string): Promise<number> {
  try {
    const s = await new Promise<{ bavail: number; bsize: number }>((resolve, reject) =>
      statfs(dir, (e, stats) => (e ? reject(e) : resolve(stats)))
    );
    return s.bavail * s.bsize;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      throw new FileError(
        "Deno's permissions stop the free-space check: run the client with --allow-sys=statfs.",
        {
          cause: e,
        },
      );
    }
    throw new FileError(`The free space of ${dir} cannot be known: ${reason(e)}.`, { cause: e });
  }
}

/** Bytes of the regular files in a folder (0 if it does not exist). */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile) continue;
      total += await Deno.stat(join(dir, entry.name)).then((i) => i.size, () => 0);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return total;
}

/** A size as typed on the command line: bytes, or a number with K, M or G (binary units: 10M = 10 MiB). */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return null;
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** A size in MiB with one decimal, for messages. */
export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function reason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "there is no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a folder";
  return e instanceof Error ? e.message : String(e);
}
