// The history on disk: one encrypted, append-only file per chat in `<data>/history/`, named by an HMAC
// of the peer's ID (protocol/history.ts has the format). Each keystore write first appends what changed
// since the last one (client/history.ts keeps the journal) as one sealed block and fsyncs it, so what the
// client acknowledges to the relay is on disk before the acknowledgement leaves (the ack waits for the
// keystore write, which waits for this). When content has to go (a deleted or disappeared message, a
// cleared chat, lines past the retention) the file is rewritten without it: a new file, fsync, rename,
// fsync of the folder, so a crash leaves the old file or the new one. A crash during an append leaves a
// torn last block, which is cut off on the next start: it held nothing acknowledged. Files of chats the
// keystore no longer has (a /forget interrupted by a crash) are removed.

import { join } from "node:path";
import { type RandomSource, systemRandom, wipe } from "../crypto/bytes.ts";
import { ProtocolError } from "../protocol/codec.ts";
import {
  applyRecords,
  BLOCK_TARGET,
  encodeRecords,
  HISTORY_HEADER_BYTES,
  type HistoryEntry,
  historyFileName,
  type HistoryKeys,
  historyKeys,
  type HistoryRecord,
  newHeader,
  readHistoryFile,
  sealBlock,
} from "../protocol/history.ts";
import type { ChatRecord } from "../protocol/keystore.ts";
import { chatName, journalOf } from "./history.ts";

/** The history folder, inside the data folder. */
export const HISTORY_DIR = "history";
/** A history file larger than this is refused as damaged (100,000 lines of a few KiB fit). */
const MAX_FILE_BYTES = 2 * 2 ** 30;

/** How long lines are kept. */
export interface Retention {
  /** Most lines per chat. */
  lines: number;
  /** Most days a line is kept (0: no limit). */
  days: number;
}

/** A problem with the history files, in one sentence for the user. */
export class HistoryFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HistoryFileError";
  }
}

interface FileState {
  name: string;
  header: Uint8Array;
  /** Blocks in the file (the next one's index). */
  blocks: number;
  /** Records appended since the file was last written whole (to know when rewriting pays). */
  appended: number;
  exists: boolean;
}

/** The history files of one data folder. */
export class HistoryStore {
  readonly dir: string;
  readonly #keys: HistoryKeys;
  readonly #random: RandomSource;
  readonly #files = new Map<ChatRecord, FileState>();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(dir: string, keys: HistoryKeys, random: RandomSource) {
    this.dir = dir;
    this.#keys = keys;
    this.#random = random;
  }

  /**
   * Opens the history folder (made with mode 0700 if missing) and loads every chat's lines into
   * `chat.history`. A chat whose lines are still in the keystore (version 1 or 2) and has no file yet is
   * migrated: its lines are written at the first flush. Returns the store and one sentence per problem
   * found (a damaged file set aside, a torn last write cut off).
   */
  static async open(options: {
    dataDir: string;
    /** KeystoreKey.historySecret(); wiped here once the keys are derived. */
    secret: Uint8Array;
    chats: readonly ChatRecord[];
    random?: RandomSource;
  }): Promise<{ store: HistoryStore; problems: string[] }> {
    const dir = join(options.dataDir, HISTORY_DIR);
    const keys = historyKeys(options.secret);
    wipe(options.secret);
    const store = new HistoryStore(dir, keys, options.random ?? systemRandom);
    const problems: string[] = [];
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      const names = new Set<string>();
      for (const chat of options.chats) {
        const name = historyFileName(keys.naming, chat.peerId);
        names.add(name);
        const problem = await store.#load(chat, name);
        if (problem) problems.push(problem);
      }
      for await (const e of Deno.readDir(dir)) {
        // A forgotten chat's file, or a rewrite a crash interrupted.
        if (e.isFile && /^[0-9a-f]{32}\.hist(\.[0-9a-f]{16}\.tmp)?$/.test(e.name) && !names.has(e.name)) {
          await Deno.remove(join(dir, e.name)).catch(() => {});
        }
      }
    } catch (e) {
      if (e instanceof HistoryFileError) throw e;
      throw new HistoryFileError(`Cannot use the history folder ${dir}: ${(e as Error).message}.`, {
        cause: e,
      });
    }
    return { store, problems };
  }

  async #load(chat: ChatRecord, name: string): Promise<string | null> {
    const path = join(this.dir, name);
    let bytes: Uint8Array;
    try {
      const info = await Deno.stat(path);
      if (!info.isFile || info.size > MAX_FILE_BYTES) {
        throw new HistoryFileError(`${path} is not a history file (not a regular file, or far too large).`);
      }
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      // No file yet: a new chat, or one whose lines a version 2 keystore held (written at the next flush).
      this.#files.set(chat, { name, header: newHeader(this.#random), blocks: 0, appended: 0, exists: false });
      const j = journalOf(chat);
      for (const h of chat.history) j.dirty.add(h);
      return null;
    }
    let result;
    try {
      result = readHistoryFile(this.#keys.sealing, chat.peerId, bytes);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      result = null;
    }
    if (result === null) {
      await Deno.rename(path, `${path}.damaged`).catch(() => {});
      this.#files.set(chat, { name, header: newHeader(this.#random), blocks: 0, appended: 0, exists: false });
      return `The history of ${chatName(chat)} could not be read (${name} is not a history file of this ` +
        `keystore); it was set aside as ${name}.damaged and starts again.`;
    }
    // Lines a version 2 keystore still held are older than the file (it was written first): the file wins.
    chat.history = applyRecords([], result.records);
    const last = chat.history.at(-1);
    if (last) chat.nextSeq = Math.max(chat.nextSeq, last.seq + 1);
    const state: FileState = {
      name,
      header: bytes.slice(0, HISTORY_HEADER_BYTES),
      blocks: result.blocks,
      appended: result.records.length,
      exists: true,
    };
    this.#files.set(chat, state);
    if (result.stopped === "torn") {
      // A write cut short by a crash: it was never acknowledged. Cut it off so the next block follows.
      await Deno.truncate(path, result.goodBytes);
      return null;
    }
    if (result.stopped === "damaged") {
      await Deno.writeFile(`${path}.damaged`, bytes, { mode: 0o600 }).catch(() => {});
      journalOf(chat).compact = true;
      return `Part of the history of ${chatName(chat)} is damaged: the lines after line ${
        last?.seq ?? 0
      } could not be read. A copy of the file was kept as ${name}.damaged.`;
    }
    return null;
  }

  /**
   * Writes what changed in every chat (lines past `retention` are dropped first) and makes it durable.
   * Serialized with /forget; rejects with a HistoryFileError if a write failed.
   */
  flush(chats: readonly ChatRecord[], retention: Retention, now: number): Promise<void> {
    const next = this.#chain.catch(() => {}).then(() => this.#flush(chats, retention, now));
    this.#chain = next;
    return next;
  }

  async #flush(chats: readonly ChatRecord[], retention: Retention, now: number): Promise<void> {
    if (this.#closed) return;
    // Everything is encoded now, before the first await: later changes belong to the next flush.
    const work: { chat: ChatRecord; file: FileState; whole: boolean; records: HistoryRecord[] }[] = [];
    for (const chat of chats) {
      applyRetention(chat, retention, now);
      const j = journalOf(chat);
      let file = this.#files.get(chat);
      if (!file) {
        file = {
          name: historyFileName(this.#keys.naming, chat.peerId),
          header: newHeader(this.#random),
          blocks: 0,
          appended: 0,
          exists: false,
        };
        this.#files.set(chat, file);
      }
      if (j.dirty.size === 0 && j.drops.length === 0 && !j.compact) continue;
      const whole = j.compact || (file.exists && file.appended > 2 * chat.history.length + 1000);
      const records: HistoryRecord[] = whole
        ? chat.history.map((entry) => ({ op: "put", entry: snapshot(entry) }))
        : [
          ...j.drops,
          ...[...j.dirty].sort((a, b) => a.seq - b.seq).map((e) => ({
            op: "put" as const,
            entry: snapshot(e),
          })),
        ];
      j.dirty.clear();
      j.drops = [];
      j.compact = false;
      work.push({ chat, file, whole, records });
    }
    let dirChanged = false;
    for (const w of work) {
      try {
        if (w.whole || !w.file.exists) {
          await this.#rewrite(w.chat, w.file, w.records);
          dirChanged = true;
        } else await this.#append(w.chat, w.file, w.records);
      } catch (e) {
        throw new HistoryFileError(
          `Cannot write the history file ${join(this.dir, w.file.name)}: ${(e as Error).message}.`,
          { cause: e },
        );
      }
    }
    if (dirChanged) await syncDir(this.dir);
  }

  /** Seals records into blocks of about BLOCK_TARGET bytes, numbered from `first`. */
  #blocks(chat: ChatRecord, header: Uint8Array, first: number, records: HistoryRecord[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    let batch: HistoryRecord[] = [], size = 0;
    const seal = () => {
      out.push(
        sealBlock(
          this.#keys.sealing,
          header,
          chat.peerId,
          first + out.length,
          encodeRecords(batch),
          this.#random,
        ),
      );
      batch = [];
      size = 0;
    };
    for (const r of records) {
      batch.push(r);
      size += r.op === "put"
        ? 64 + r.entry.text.length * 3 + r.entry.versions.reduce((n, v) => n + v.text.length * 3 + 10, 0)
        : 5;
      if (size >= BLOCK_TARGET) seal();
    }
    if (batch.length > 0 || out.length === 0) seal();
    return out;
  }

  async #append(chat: ChatRecord, file: FileState, records: HistoryRecord[]): Promise<void> {
    const blocks = this.#blocks(chat, file.header, file.blocks, records);
    const f = await Deno.open(join(this.dir, file.name), { append: true });
    try {
      for (const b of blocks) await writeAll(f, b);
      await f.syncData();
    } finally {
      f.close();
    }
    file.blocks += blocks.length;
    file.appended += records.length;
  }

  /** Writes the file whole (new, or without removed content): temporary file, fsync, rename. */
  async #rewrite(chat: ChatRecord, file: FileState, records: HistoryRecord[]): Promise<void> {
    const header = newHeader(this.#random);
    const blocks = this.#blocks(chat, header, 0, records);
    const path = join(this.dir, file.name);
    const tmp = `${path}.${hex(this.#random(8))}.tmp`;
    try {
      const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
      try {
        await writeAll(f, header);
        for (const b of blocks) await writeAll(f, b);
        await f.sync();
      } finally {
        f.close();
      }
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
    file.header = header;
    file.blocks = blocks.length;
    file.appended = records.length;
    file.exists = true;
  }

  /** Deletes a chat's history file (/forget); its lines must already be gone from the chat. */
  forget(chat: ChatRecord): Promise<void> {
    const next = this.#chain.catch(() => {}).then(async () => {
      const name = this.#files.get(chat)?.name ?? historyFileName(this.#keys.naming, chat.peerId);
      this.#files.delete(chat);
      try {
        await Deno.remove(join(this.dir, name));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          throw new HistoryFileError(
            `Cannot delete the history file ${join(this.dir, name)}: ${(e as Error).message}.`,
          );
        }
      }
      await syncDir(this.dir);
    });
    this.#chain = next;
    return next;
  }

  /** The name of a chat's file (tests). */
  fileName(peerId: Uint8Array): string {
    return historyFileName(this.#keys.naming, peerId);
  }

  /** Waits for the writes under way, then wipes the keys. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#chain.catch(() => {});
    this.#closed = true;
    wipe(this.#keys.sealing, this.#keys.naming);
  }
}

/** Drops the lines past the retention: the oldest beyond `lines` (in batches), and those older than `days`. */
export function applyRetention(chat: ChatRecord, retention: Retention, now: number): void {
  const h = chat.history;
  // Dropping happens once a chat is 10% over, so a full chat is not rewritten at every new line.
  const slack = Math.max(50, Math.floor(retention.lines / 10));
  let cut = h.length > retention.lines + slack ? h.length - retention.lines : 0;
  if (retention.days > 0) {
    const oldest = now - retention.days * 86_400_000;
    while (cut < h.length && h[cut].time < oldest) cut++;
  }
  if (cut === 0) return;
  const upto = h[cut - 1].seq;
  chat.history = h.slice(cut);
  const j = journalOf(chat);
  for (let i = 0; i < cut; i++) j.dirty.delete(h[i]);
  j.drops.push({ op: "drop-upto", seq: upto });
  j.compact = true;
}

/** A copy of a line as it is now (the chat may change it while the write is under way). */
function snapshot(e: HistoryEntry): HistoryEntry {
  return { ...e, reply: e.reply ? { ...e.reply } : null, versions: e.versions.map((v) => ({ ...v })) };
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
}

async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}
