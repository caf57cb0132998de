// Files in groups (docs/protocol.md, "Groups in sotto: files"). A file of at most 1 MiB travels as in a
// 1:1 chat — an offer, chunks and an end, each an MLS application message — except that the sender does not
// wait for answers (a group has many receivers): each member holds the chunks of an offer it has not
// accepted sealed in its group file (MAX_HELD_BYTES a group), and writes them out only once its user
// accepts. A larger file is encrypted once with a fresh random key (AES-256-GCM in segments, below) and
// uploaded once as a blob the relay keeps for the group; the key, the blob's id, the size and the SHA-256
// travel in one MLS message, and each member fetches the blob only if its user accepts (--accept-files
// accepts without asking, as in 1:1 chats). Nothing a member sends is written to disk before acceptance.
//
// Blob encryption: segment i of the plaintext (SEGMENT_BYTES each but the last) is sealed with AES-256-GCM
// under the file's key, nonce = 7 zero bytes ‖ u32 i ‖ u8 (1 for the last segment, else 0), associated
// data "sotto blob v1" ‖ blob id ‖ u64 size; a sealed segment is exactly one relay chunk (BLOB_CHUNK_BYTES)
// but the last. Reordering, truncating or extending the blob fails to authenticate.

import { bytesToHex, concatBytes, equalBytes, type RandomSource, utf8 } from "../crypto/bytes.ts";
import { AesGcm } from "../crypto/aes.ts";
import { createHash } from "../crypto/sha2.ts";
import { formatId } from "../protocol/identity.ts";
import type { IncomingFile } from "../protocol/keystore.ts";
import { type BlobOffer, type GroupPayload } from "../protocol/group_payload.ts";
import { type GroupIncomingFile, MAX_GROUP_INCOMING, MAX_HELD_BYTES } from "../protocol/groupstate.ts";
import { FILE_ID_BYTES } from "../protocol/payload.ts";
import { BLOB_CHUNK_BYTES } from "../protocol/wire.ts";
import type { Clock } from "./backoff.ts";
import type { ClientEvent } from "./events.ts";
import {
  CHUNK_BYTES,
  FileError,
  FILES_DIR,
  folderBytes,
  FREE_SPACE_MARGIN,
  freeBytes,
  IncomingFiles,
  inspectFile,
  MAX_FILE_BYTES,
  mib,
  readChunks,
} from "./files.ts";
import {
  GroupError,
  type GroupFileHandler,
  type GroupLink,
  type GroupManager,
  type LiveGroup,
} from "./groups.ts";

/** Files up to this size go in chunks; larger ones as one blob. */
export const SMALL_FILE_BYTES = 1024 * 1024;
/** Plaintext bytes of a blob segment: sealed (with its 16-byte tag) it is one relay chunk. */
export const SEGMENT_BYTES = BLOB_CHUNK_BYTES - 16;
/** Files being sent to groups at once. */
const MAX_SENDING = 4;
const BLOB_LABEL = utf8("sotto blob v1");

/** The nonce of segment `index` (`last`: the final one). */
export function segmentNonce(index: number, last: boolean): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(7, index);
  n[11] = last ? 1 : 0;
  return n;
}

/** The associated data of every segment of a blob. */
export function blobAad(blobId: Uint8Array, size: number): Uint8Array {
  const s = new Uint8Array(8);
  new DataView(s.buffer).setBigUint64(0, BigInt(size));
  return concatBytes(BLOB_LABEL, blobId, s);
}

/** Segments of a blob of `size` plaintext bytes, and its size at the relay. */
export function blobLayout(size: number): { segments: number; sealedSize: number } {
  const segments = Math.max(1, Math.ceil(size / SEGMENT_BYTES));
  return { segments, sealedSize: size + 16 * segments };
}

export interface GroupFilesOptions {
  manager: GroupManager;
  /** Our own ID: the `from` of the offers we make. */
  me: Uint8Array;
  files: IncomingFiles;
  dataDir: string;
  clock: Clock;
  random: RandomSource;
  emit(event: ClientEvent): void;
  run<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Files of at most this many bytes are accepted without asking (--accept-files). */
  autoAccept: number;
  filesQuota: number;
  freeBytes?(dir: string): Promise<number>;
}

interface Sending {
  g: LiveGroup;
  name: string;
  size: number;
  /** Message ids (hex) not yet logged by the relay. */
  pending: Set<string>;
  failed: string | null;
  done: () => void;
}

/** A file offered to a group, with its group. */
export interface GroupOffer {
  g: LiveGroup;
  file: GroupIncomingFile;
}

/** Files sent to and received in groups. */
export class GroupFiles implements GroupFileHandler {
  readonly #o: GroupFilesOptions;
  readonly #sending = new Set<Sending>();
  /** Blobs being fetched (by file id in hex). */
  readonly #fetching = new Set<string>();
  #link: GroupLink | null = null;
  #stopped = false;

  constructor(options: GroupFilesOptions) {
    this.#o = options;
  }

  get #m(): GroupManager {
    return this.#o.manager;
  }

  attach(link: GroupLink): void {
    this.#link = link;
    // Accepted blobs are fetched from the start again (a fetch is not resumed).
    for (const g of this.#m.list) {
      for (const f of g.s.incoming) if (f.blob && f.accepted) this.#fetch(g, f);
    }
  }

  /** Offers in groups waiting for an answer. */
  get offers(): GroupOffer[] {
    return this.#m.list.flatMap((g) => g.s.incoming.filter((f) => !f.accepted).map((file) => ({ g, file })));
  }

  /** Sends of ours still running. */
  get sending(): number {
    return this.#sending.size;
  }

  // ---- sending ----------------------------------------------------------------------------------------

  /** /file PATH in a group: checked and hashed, then sent in the background. */
  send(g: LiveGroup, path: string): void {
    if (this.#sending.size >= MAX_SENDING) {
      throw new GroupError(`${MAX_SENDING} files are on their way to groups; wait until one has left.`);
    }
    const t: Sending = { g, name: "", size: 0, pending: new Set(), failed: null, done: () => {} };
    this.#sending.add(t);
    this.#send(t, path).catch((e) => {
      const message = e instanceof FileError || e instanceof GroupError
        ? e.message
        : `Sending ${path} failed: ${(e as Error).message}.`;
      this.#o.emit({ event: "error", message });
    }).finally(() => this.#sending.delete(t));
  }

  async #send(t: Sending, path: string): Promise<void> {
    const info = await inspectFile(path);
    t.name = info.name;
    t.size = info.size;
    const fileId = this.#o.random(FILE_ID_BYTES), file = bytesToHex(fileId), g = t.g;
    const base = { group: g.key, file, name: info.name };
    this.#o.emit({
      event: "group-file-offer",
      ...base,
      direction: "send",
      from: formatId(this.#o.me),
      size: info.size,
    });
    if (info.size <= SMALL_FILE_BYTES) {
      await this.#queue(t, {
        type: "file-offer",
        fileId,
        name: info.name,
        size: info.size,
        sha256: info.sha256,
      });
      let index = 0, read = 0;
      for await (const data of readChunks(path)) {
        read += data.length;
        if (read > info.size) throw new FileError(`"${info.name}" changed while it was being sent.`);
        await this.#queue(t, { type: "file-chunk", fileId, index: index++, data });
      }
      const status = read === info.size ? "complete" : "cancelled";
      await this.#queue(t, { type: "file-end", fileId, status });
      if (status === "cancelled") throw new FileError(`"${info.name}" changed while it was being sent.`);
    } else {
      const key = this.#o.random(32), blobId = this.#o.random(16);
      await this.#upload(t, path, blobId, key, info.size, info.sha256);
      await this.#queue(t, {
        type: "group-file",
        fileId,
        blobId,
        size: info.size,
        sha256: info.sha256,
        key,
        name: info.name,
      });
    }
    await new Promise<void>((resolve) => {
      t.done = resolve;
      if (t.pending.size === 0 || t.failed) resolve();
    });
    await this.#o.run(() => {
      if (t.failed) {
        this.#m.note(g, `"${t.name}" was not sent: ${t.failed}`);
        this.#o.emit({ event: "group-file-failed", ...base, direction: "send", reason: t.failed });
        return;
      }
      this.#m.note(g, `you sent "${t.name}"`);
      this.#m.save(g);
      this.#o.emit({ event: "group-file-sent", group: g.key, file, name: t.name, size: t.size });
    });
  }

  /** Queues one payload of a transfer (waiting while the group's queue is nearly full). */
  async #queue(t: Sending, p: GroupPayload): Promise<void> {
    for (;;) {
      if (this.#stopped) throw new FileError(`"${t.name}" was not sent: the client was closed.`);
      const id = await this.#o.run(() => {
        if (this.#m.outboxRoom(t.g) < 64) return null;
        return bytesToHex(this.#m.queuePayload(t.g, p).messageId);
      });
      if (id !== null) {
        t.pending.add(id);
        return;
      }
      await this.#o.clock.sleep(50);
    }
  }

  /** Encrypts the file segment by segment and uploads it as a blob of the group. */
  async #upload(
    t: Sending,
    path: string,
    blobId: Uint8Array,
    key: Uint8Array,
    size: number,
    sha256: Uint8Array,
  ): Promise<void> {
    const { segments, sealedSize } = blobLayout(size);
    const aead = new AesGcm(key), aad = blobAad(blobId, size), hash = createHash("SHA-256");
    let index = 0, buffered: Uint8Array[] = [], have = 0, read = 0;
    const base = { group: t.g.key, file: bytesToHex(blobId), name: t.name, direction: "send" as const };
    const flush = async (last: boolean) => {
      const plain = concatBytes(...buffered);
      const data = aead.seal(segmentNonce(index, last), plain, aad);
      const reply = await this.#needLink().groupRequest({
        type: "blob-upload",
        groupId: t.g.s.groupId,
        blobId,
        size: sealedSize,
        index,
        data,
      });
      if (reply.code !== "ok") {
        throw new FileError(
          `The relay refused "${t.name}": ${reply.detail.replace(/\.$/, "") || reply.code}.`,
        );
      }
      index++;
      buffered = [];
      have = 0;
      this.#o.emit({
        event: "group-file-progress",
        ...base,
        bytes: Math.min(size, index * SEGMENT_BYTES),
        size,
      });
    };
    try {
      for await (const chunk of readChunks(path)) {
        read += chunk.length;
        if (read > size) throw new FileError(`"${t.name}" changed while it was being sent.`);
        hash.update(chunk);
        let at = 0;
        while (at < chunk.length) {
          const take = Math.min(SEGMENT_BYTES - have, chunk.length - at);
          buffered.push(chunk.subarray(at, at + take));
          have += take;
          at += take;
          if (have === SEGMENT_BYTES && index < segments - 1) await flush(false);
        }
      }
      if (read !== size || !equalBytes(hash.digest(), sha256)) {
        throw new FileError(`"${t.name}" changed while it was being sent.`);
      }
      await flush(true);
    } finally {
      aead.wipe();
    }
  }

  #needLink(): GroupLink {
    if (!this.#link || this.#m.link !== this.#link) {
      throw new FileError("The connection to the relay was lost.");
    }
    return this.#link;
  }

  answered(_g: LiveGroup, messageId: string, ok: boolean, reason: string): void {
    for (const t of this.#sending) {
      if (!t.pending.delete(messageId)) continue;
      if (!ok) t.failed ??= reason;
      if (t.pending.size === 0 || t.failed) t.done();
    }
  }

  // ---- receiving --------------------------------------------------------------------------------------

  async received(g: LiveGroup, from: Uint8Array, p: GroupPayload, _time: number): Promise<void> {
    switch (p.type) {
      case "file-offer":
        if (p.size > SMALL_FILE_BYTES) {
          return this.#refuse(g, from, p.fileId, p.name, "it is over 1 MiB and was not sent as one upload");
        }
        return await this.#offer(g, from, { ...p, blob: null });
      case "group-file":
        if (p.size > MAX_FILE_BYTES) {
          return this.#refuse(g, from, p.fileId, p.name, "files over 100 MiB are refused");
        }
        return await this.#offer(g, from, { ...p, blob: { blobId: p.blobId, key: p.key } });
      case "file-chunk": {
        const f = this.#find(g, from, p.fileId);
        if (!f || f.blob || p.index !== f.nextIndex) {
          if (f && !f.blob && p.index > f.nextIndex) await this.#drop(g, f, "chunks went missing");
          return;
        }
        if (f.accepted) {
          try {
            await this.#o.files.write(asIncoming(f), p.index, p.data);
          } catch (e) {
            return await this.#drop(g, f, (e as Error).message.replace(/\.$/, ""));
          }
          f.received += p.data.length;
        } else {
          const held = g.s.incoming.reduce((n, x) => n + x.held.reduce((m, c) => m + c.length, 0), 0);
          if (held + p.data.length > MAX_HELD_BYTES || f.received + p.data.length > f.size) {
            return await this.#drop(g, f, "too much is waiting for an answer in this group");
          }
          f.held.push(p.data);
          f.received += p.data.length;
        }
        f.nextIndex++;
        return;
      }
      case "file-end": {
        const f = this.#find(g, from, p.fileId);
        if (!f || f.blob) return;
        if (p.status === "cancelled") return await this.#drop(g, f, "the sender cancelled it");
        f.complete = true;
        if (f.accepted) await this.#finish(g, f);
        return;
      }
    }
  }

  #find(g: LiveGroup, from: Uint8Array, fileId: Uint8Array): GroupIncomingFile | undefined {
    return g.s.incoming.find((f) => equalBytes(f.fileId, fileId) && equalBytes(f.from, from));
  }

  #refuse(g: LiveGroup, from: Uint8Array, fileId: Uint8Array, name: string, why: string): void {
    this.#m.note(g, `"${name}" from ${this.#m.nameOf(g, from)} was refused: ${why}`);
    this.#o.emit({
      event: "group-file-failed",
      group: g.key,
      direction: "receive",
      file: bytesToHex(fileId),
      name,
      reason: why,
    });
  }

  async #offer(
    g: LiveGroup,
    from: Uint8Array,
    p: {
      fileId: Uint8Array;
      name: string;
      size: number;
      sha256: Uint8Array;
      blob: GroupIncomingFile["blob"];
    },
  ): Promise<void> {
    if (this.#find(g, from, p.fileId)) return; // a repeat
    if (g.s.incoming.length >= MAX_GROUP_INCOMING) {
      return this.#refuse(
        g,
        from,
        p.fileId,
        p.name,
        `${MAX_GROUP_INCOMING} files of this group wait already`,
      );
    }
    const f: GroupIncomingFile = {
      fileId: p.fileId,
      from,
      name: p.name,
      size: p.size,
      sha256: p.sha256,
      blob: p.blob,
      accepted: false,
      received: 0,
      nextIndex: 0,
      complete: false,
      held: [],
      path: IncomingFiles.partialPath(p.fileId),
    };
    g.s.incoming.push(f);
    const file = bytesToHex(f.fileId);
    if (this.#o.autoAccept > 0 && p.size <= this.#o.autoAccept) {
      try {
        return await this.accept(g, f);
      } catch (e) {
        if (!(e instanceof FileError)) throw e;
        this.#m.note(g, `"${p.name}" was not accepted automatically: ${e.message}`);
      }
    }
    this.#m.note(
      g,
      `${this.#m.nameOf(g, from)} offers "${p.name}" (${mib(p.size)}): /accept ${
        file.slice(0, 8)
      } or /decline ${file.slice(0, 8)}`,
    );
    this.#o.emit({
      event: "group-file-offer",
      group: g.key,
      direction: "receive",
      from: formatId(from),
      file,
      name: p.name,
      size: p.size,
    });
  }

  /** Accepts an offer: chunks held are written out (and the file finished if it is all here); a blob is fetched. */
  async accept(g: LiveGroup, f: GroupIncomingFile): Promise<void> {
    if (f.accepted || !g.s.incoming.includes(f)) return;
    await this.#checkRoom(f);
    f.accepted = true;
    const record = asIncoming(f);
    await this.#o.files.start(record);
    this.#o.emit({
      event: "group-file-progress",
      group: g.key,
      direction: "receive",
      file: bytesToHex(f.fileId),
      name: f.name,
      bytes: 0,
      size: f.size,
    });
    if (f.blob) {
      this.#m.note(g, `receiving "${f.name}" (${mib(f.size)})`);
      this.#m.save(g);
      return this.#fetch(g, f);
    }
    const held = f.held;
    f.held = [];
    for (const [i, data] of held.entries()) await this.#o.files.write(record, i, data);
    if (f.complete) await this.#finish(g, f);
    else this.#m.note(g, `receiving "${f.name}" (${mib(f.size)})`);
    this.#m.save(g);
  }

  /** Declines an offer: what was held goes; a blob is let go at the relay. Nobody is told. */
  decline(g: LiveGroup, f: GroupIncomingFile): void {
    if (f.accepted || !g.s.incoming.includes(f)) return;
    g.s.incoming.splice(g.s.incoming.indexOf(f), 1);
    if (f.blob) this.#blobDone(g, f);
    this.#m.note(g, `declined "${f.name}"`);
    this.#m.save(g);
    this.#o.emit({ event: "group-file-declined", group: g.key, file: bytesToHex(f.fileId), name: f.name });
  }

  #blobDone(g: LiveGroup, f: GroupIncomingFile): void {
    if (!f.blob || !this.#link) return;
    this.#m.request({ type: "blob-done", groupId: g.s.groupId, blobId: f.blob.blobId }).catch(() => {});
  }

  /** FileError unless the file fits the files quota and the free space. */
  async #checkRoom(f: GroupIncomingFile): Promise<void> {
    const o = this.#o;
    const coming = this.#m.list.flatMap((g) => g.s.incoming).filter((x) => x.accepted)
      .reduce((n, x) => n + x.size - (x.blob ? 0 : x.received), 0);
    const stored = await folderBytes(`${o.dataDir}/${FILES_DIR}`);
    if (stored + coming + f.size > o.filesQuota) {
      throw new FileError(
        `The files folder would hold more than its quota of ${
          mib(o.filesQuota)
        }; make room in it, or raise --files-quota.`,
      );
    }
    const free = await (o.freeBytes ?? freeBytes)(o.dataDir);
    if (free - coming - f.size < FREE_SPACE_MARGIN) {
      throw new FileError(`There is not enough free space for "${f.name}" (${mib(free)} free).`);
    }
  }

  /** Fetches an accepted blob's chunks in order, decrypting and writing each; then checks and keeps it. */
  #fetch(g: LiveGroup, f: GroupIncomingFile): void {
    const key = bytesToHex(f.fileId);
    if (this.#fetching.has(key) || !this.#link) return;
    this.#fetching.add(key);
    this.#fetchAll(g, f).catch((e) =>
      this.#o.run(() => this.#drop(g, f, e instanceof FileError ? e.message.replace(/\.$/, "") : `${e}`))
    ).finally(() => this.#fetching.delete(key));
  }

  async #fetchAll(g: LiveGroup, f: GroupIncomingFile): Promise<void> {
    const blob = f.blob!, link = this.#needLink();
    const { segments, sealedSize } = blobLayout(f.size);
    const aead = new AesGcm(blob.key), aad = blobAad(blob.blobId, f.size), record = asIncoming(f);
    const file = bytesToHex(f.fileId);
    await this.#o.files.start(record);
    let written = 0, pending: Uint8Array = new Uint8Array(0), index = 0;
    try {
      for (let i = 0; i < segments; i++) {
        if (this.#stopped || !g.s.incoming.includes(f)) return;
        const reply = await link.groupRequest({
          type: "blob-fetch",
          groupId: g.s.groupId,
          blobId: blob.blobId,
          index: i,
        });
        const data = reply.frame?.type === "blob-data" ? reply.frame : null;
        if (!data || data.size !== sealedSize || data.index !== i) {
          throw new FileError(
            `the relay does not have it (${reply.detail.replace(/\.$/, "") || reply.code})`,
          );
        }
        let plain: Uint8Array;
        try {
          plain = aead.open(segmentNonce(i, i === segments - 1), data.data, aad);
        } catch {
          throw new FileError("it arrived damaged");
        }
        // Written in the chunk size IncomingFiles places by index.
        pending = concatBytes(pending, plain);
        while (pending.length >= CHUNK_BYTES || (i === segments - 1 && pending.length > 0)) {
          const piece = pending.subarray(0, Math.min(CHUNK_BYTES, pending.length));
          await this.#o.files.write(record, index++, piece);
          written += piece.length;
          pending = pending.slice(piece.length);
        }
        this.#o.emit({
          event: "group-file-progress",
          group: g.key,
          direction: "receive",
          file,
          name: f.name,
          bytes: written,
          size: f.size,
        });
      }
    } finally {
      aead.wipe();
    }
    await this.#o.run(() => this.#finish(g, f));
  }

  /** All of an accepted file is here: its size and hash are checked and it is kept under a safe name. */
  async #finish(g: LiveGroup, f: GroupIncomingFile): Promise<void> {
    if (!g.s.incoming.includes(f)) return;
    g.s.incoming.splice(g.s.incoming.indexOf(f), 1);
    const file = bytesToHex(f.fileId);
    try {
      const path = `${this.#o.dataDir}/${await this.#o.files.finish(asIncoming(f))}`;
      this.#m.note(
        g,
        `received "${f.name}" from ${this.#m.nameOf(g, f.from)}, saved as ${path} (not opened)`,
      );
      this.#o.emit({
        event: "group-file-received",
        group: g.key,
        from: formatId(f.from),
        file,
        name: f.name,
        path,
        size: f.size,
      });
    } catch (e) {
      const why = e instanceof FileError ? e.message.replace(/\.$/, "") : (e as Error).message;
      this.#failed(g, f, why);
    }
    if (f.blob) this.#blobDone(g, f);
    this.#m.save(g);
  }

  async #drop(g: LiveGroup, f: GroupIncomingFile, why: string): Promise<void> {
    const at = g.s.incoming.indexOf(f);
    if (at < 0) return;
    g.s.incoming.splice(at, 1);
    if (f.accepted) await this.#o.files.discard(asIncoming(f));
    if (f.blob) this.#blobDone(g, f);
    this.#failed(g, f, why);
    this.#m.save(g);
  }

  #failed(g: LiveGroup, f: GroupIncomingFile, why: string): void {
    this.#m.note(g, `"${f.name}" from ${this.#m.nameOf(g, f.from)} was not received: ${why}`);
    this.#o.emit({
      event: "group-file-failed",
      group: g.key,
      direction: "receive",
      file: bytesToHex(f.fileId),
      name: f.name,
      reason: why,
    });
  }

  async dropped(g: LiveGroup): Promise<void> {
    for (const f of [...g.s.incoming]) {
      g.s.incoming.splice(g.s.incoming.indexOf(f), 1);
      if (f.accepted) await this.#o.files.discard(asIncoming(f));
    }
    for (const t of this.#sending) {
      if (t.g !== g) continue;
      t.failed ??= "you are no longer in the group";
      t.done();
    }
  }

  /** Stops sending and fetching (the client is quitting). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#sending) {
      t.failed ??= "the client was closed";
      t.done();
    }
  }
}

/** The shape client/files.ts writes partial files by. */
function asIncoming(f: GroupIncomingFile): IncomingFile {
  return {
    fileId: f.fileId,
    name: f.name,
    path: f.path,
    size: f.size,
    sha256: f.sha256,
    received: f.received,
    nextIndex: f.nextIndex,
    accepted: f.accepted,
  };
}

export type { BlobOffer };
