// What a decrypted payload from a peer does: a text joins the chat's history (and its unread count, with
// its quoted reply and its disappearing timer), a nickname is remembered as theirs (shown with a "~",
// never in place of ours), a receipt marks our texts ✓✓ (or read), reactions, edits and deletes change
// the line they name (only the peer's own texts can be edited or deleted, edits within EDIT_WINDOW_MS
// and MAX_EDITS), a timer change is applied by the rule both sides share, typing is shown if the user
// opted in, and files go through an answer: an offer waits for the user (/accept or /decline, or --accept-files
// within its limit) and nothing of it touches the disk until it is accepted; then chunks are written in
// order and the file end checks and saves it (client/files.ts). The sender streams only after our
// acceptance (docs/protocol.md §8). Nothing a peer sends is ever interpreted beyond its payload type: no
// text is a command.

import { bytesToHex, equalBytes } from "../crypto/bytes.ts";
import { type DeliveryStatus, type HistoryEntry, MAX_EDITS, newEntry } from "../protocol/history.ts";
import type { ChatRecord, IncomingFile } from "../protocol/keystore.ts";
import type { MessageRef, Payload } from "../protocol/payload.ts";
import type { Clock } from "./backoff.ts";
import { type ClientEvent, timerText } from "./events.ts";
import {
  CHAT_QUOTA_BYTES,
  FileError,
  FILES_DIR,
  folderBytes,
  FREE_SPACE_MARGIN,
  freeBytes,
  IncomingFiles,
  MAX_FILE_BYTES,
  mib,
} from "./files.ts";
import { addLine, addSystemLine, changed, chatName, chatRef, findText, journalOf } from "./history.ts";

/** The chat's file is rewritten at the next write, without what was removed. */
function journalCompact(chat: ChatRecord): void {
  journalOf(chat).compact = true;
}

/** File transfers one chat runs at once in each direction (offers waiting for an answer included). */
export const MAX_INCOMING_FILES = 4;
/** A text can be edited for this long after it was sent (and a peer's edit is taken this long after). */
export const EDIT_WINDOW_MS = 24 * 3600_000;
/** What a peer's edit may be late by (its time is the relay's, the text's was the relay's too). */
const EDIT_SLACK_MS = 5 * 60_000;
/** A typing indicator older than this when it arrives (it waited at the relay) is ignored. */
export const TYPING_STALE_MS = 10_000;
/** How many recent lines are checked for a text received twice (after a crash before the keystore write). */
const DUPLICATE_WINDOW = 256;

/** Where a delivery status stands: a receipt never takes a line back (read stays read). */
const RANK: Record<DeliveryStatus, number> = {
  none: 0,
  failed: 0,
  pending: 1,
  queued: 2,
  delivered: 3,
  read: 4,
};

/** Moves an outgoing line on to `status` unless it is there or further; true if it moved. */
export function advance(line: HistoryEntry, status: DeliveryStatus): boolean {
  if (RANK[line.status] >= RANK[status] && line.status !== "failed") return false;
  if (line.status === "failed" && status === "queued") return false;
  line.status = status;
  return true;
}

/** A reference from the peer's point of view, in ours: their "sender" is them, their "recipient" us. */
export function refFromPeer(ref: MessageRef): { mine: boolean; id: number } {
  return { mine: ref.author === "recipient", id: ref.id };
}

/**
 * Which timer change wins: the higher epoch, and of two with the same epoch, the one made by the side
 * whose ID is lower (compared byte by byte): both sides reach the same answer whatever the order.
 */
export function timerWins(
  incoming: { epoch: number; by: Uint8Array },
  current: { epoch: number; by: Uint8Array | null },
): boolean {
  if (incoming.epoch !== current.epoch) return incoming.epoch > current.epoch;
  if (current.by === null) return true;
  for (let i = 0; i < incoming.by.length; i++) {
    if (incoming.by[i] !== current.by[i]) return incoming.by[i] < current.by[i];
  }
  return false;
}

/** What the receiver needs. */
export interface ReceiverOptions {
  files: IncomingFiles;
  dataDir: string;
  clock: Clock;
  emit(event: ClientEvent): void;
  /** True if the chat is the one on screen (its messages are not counted unread). */
  isActive(chat: ChatRecord): boolean;
  /** Closes the chat (the peer said so). */
  close(chat: ChatRecord): void;
  /** Queues a payload for the chat's peer (our answers to its offers). */
  send(chat: ChatRecord, payload: Payload): void;
  /** The peer answered one of our offers; false if no such transfer runs here. */
  answered(chat: ChatRecord, fileId: Uint8Array, accept: boolean): boolean;
  /** Files of at most this many bytes are accepted without asking (--accept-files; 0: always ask). */
  autoAccept: number;
  /** Most bytes in the files folder, counting what accepted transfers will add (--files-quota). */
  filesQuota: number;
  /** Every chat's incoming files (for the quota over all of them). */
  incoming(): IncomingFile[];
  /** Bytes free on the data folder's file system (client/files.ts freeBytes; replaced in tests). */
  freeBytes?(dir: string): Promise<number>;
  /** Our own ID (the timer's tie-break). */
  selfId?: Uint8Array;
  /** The user's opt-ins: read receipts and typing are shown only to those who send them. */
  optIn?(): { readReceipts: boolean; typing: boolean };
  /** A line will disappear at `at` (ms): the chats schedule the sweep. */
  expires?(at: number): void;
}

/** A file offered to us that waits for an answer, with its chat. */
export interface Offer {
  chat: ChatRecord;
  file: IncomingFile;
}

/** Makes a line a tombstone: its text, earlier versions and reactions are gone (and leave the file). */
export function tombstone(chat: ChatRecord, line: HistoryEntry): void {
  line.deleted = true;
  line.text = "";
  line.versions = [];
  line.myReaction = "";
  line.peerReaction = "";
  changed(chat, line);
  journalCompact(chat);
}

/** The first characters of a line, for a quoted reply. */
export function quote(line: HistoryEntry, max = 60): string {
  if (line.deleted) return "(deleted)";
  const flat = line.text.replace(/\s+/g, " ").trim();
  const chars = [...flat];
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : flat;
}

/** The hex id by which events and /accept name a file. */
export function fileKey(fileId: Uint8Array): string {
  return bytesToHex(fileId);
}

/** Applies payloads from peers to their chats. */
export class Receiver {
  readonly #o: ReceiverOptions;
  /** Incoming transfers: bytes at the last progress event, to report about every 5%. */
  readonly #reported = new Map<string, number>();

  constructor(options: ReceiverOptions) {
    this.#o = options;
  }

  /** Handles one payload from the chat's peer; `time` is when it was sent (the relay's queue time). */
  async handle(chat: ChatRecord, p: Payload, time: number): Promise<void> {
    const o = this.#o, ref = chatRef(chat), now = o.clock.now();
    switch (p.type) {
      case "text":
        return this.#text(chat, p, time);
      case "reaction": {
        const target = refFromPeer(p.target);
        const line = findText(chat, target.mine, target.id);
        if (!line || line.deleted || line.peerReaction === p.emoji) return;
        line.peerReaction = p.emoji;
        changed(chat, line);
        o.emit({ event: "reaction", ...ref, line: line.seq, by: "peer", emoji: p.emoji, target });
        return;
      }
      case "edit": {
        const line = findText(chat, false, p.id);
        if (!line || line.deleted || line.text === p.text) return;
        if (line.versions.length >= MAX_EDITS || time - line.time > EDIT_WINDOW_MS + EDIT_SLACK_MS) {
          // Only a modified client sends these: the line stays as it is, and the user is told once.
          addSystemLine(
            chat,
            `${chatName(chat)} tried to change line ${line.seq} after the limit; it was not changed`,
            now,
          );
          return;
        }
        line.versions.push({ text: line.text, time });
        line.text = p.text;
        changed(chat, line);
        o.emit({
          event: "edited",
          ...ref,
          line: line.seq,
          id: p.id,
          mine: false,
          text: p.text,
          edits: line.versions.length,
        });
        return;
      }
      case "delete": {
        const line = findText(chat, false, p.id);
        if (!line || line.deleted) return;
        tombstone(chat, line);
        o.emit({ event: "deleted", ...ref, line: line.seq, id: p.id, mine: false });
        return;
      }
      case "timer": {
        const by = o.selfId && chat.timerBy === "us"
          ? o.selfId
          : chat.timerBy === "peer"
          ? chat.peerId
          : null;
        if (!timerWins({ epoch: p.epoch, by: chat.peerId }, { epoch: chat.timerEpoch, by })) {
          addSystemLine(chat, `${chatName(chat)}'s change of the timer crossed yours; yours stands`, now);
          return;
        }
        chat.timer = p.seconds;
        chat.timerEpoch = p.epoch;
        chat.timerBy = "peer";
        addSystemLine(chat, `${chatName(chat)} set disappearing messages to ${timerText(p.seconds)}`, now);
        o.emit({ event: "timer", ...ref, seconds: p.seconds, by: "peer" });
        return;
      }
      case "typing":
        if (!o.optIn?.().typing || now - time > TYPING_STALE_MS) return;
        o.emit({ event: "typing", ...ref, typing: p.typing });
        return;
      case "nickname":
        chat.peerNickname = p.name;
        addSystemLine(chat, `they call themselves "${p.name}"`, now);
        o.emit({ event: "nickname", ...chatRef(chat), name: p.name });
        return;
      case "file-offer":
        return await this.#offer(chat, p);
      case "file-chunk":
        return await this.#chunk(chat, p);
      case "file-end": {
        const record = this.#find(chat, p.fileId);
        if (!record) return;
        if (p.status === "cancelled") {
          return await this.#drop(
            chat,
            record,
            record.accepted ? "the sender cancelled it" : "the sender withdrew it",
          );
        }
        if (!record.accepted) return await this.#drop(chat, record, "it was sent without being accepted");
        this.#forget(chat, record);
        try {
          const full = `${o.dataDir}/${await o.files.finish(record)}`;
          addSystemLine(chat, `received "${record.name}", saved as ${full} (not opened)`, now);
          o.emit({
            event: "file-received",
            ...ref,
            file: fileKey(record.fileId),
            name: record.name,
            path: full,
            size: record.size,
          });
        } catch (e) {
          const why = e instanceof FileError
            ? e.message.replace(/\.$/, "")
            : `saving it failed: ${(e as Error).message.replace(/\.$/, "")}`;
          this.#failed(chat, record, why);
        }
        return;
      }
      case "file-answer":
        // For a transfer we no longer run (we restarted), the answer is told so: it must not wait forever.
        if (!o.answered(chat, p.fileId, p.accept) && p.accept) {
          o.send(chat, { type: "file-end", fileId: p.fileId, status: "cancelled" });
        }
        return;
      case "close":
        if (chat.state === "closed") return;
        o.close(chat);
        addSystemLine(chat, "they closed the chat", now);
        o.emit({ event: "peer-closed", ...ref });
        return;
      case "receipt": {
        // Read marks are shown only to those who send them (docs/client.md, "Receipts").
        if (p.kind === "read" && !o.optIn?.().readReceipts) return;
        for (const id of p.ids) {
          const line = findText(chat, true, id);
          if (!line || line.deleted || !advance(line, p.kind)) continue;
          changed(chat, line);
          o.emit({ event: p.kind, ...ref, id, line: line.seq });
        }
        return;
      }
    }
  }

  /** A text from the peer (`time`: when the relay queued it). */
  #text(chat: ChatRecord, p: Extract<Payload, { type: "text" }>, time: number): void {
    const o = this.#o, now = o.clock.now();
    if (p.id === 0 && p.text === "") return; // the initiator's opening message
    const recent = chat.history.slice(-DUPLICATE_WINDOW);
    // Stored before, and the keystore (its ratchet) not written when the client stopped: not again.
    if (p.id > 0 && recent.some((h) => h.kind === "in" && h.textId === p.id && h.time === time)) return;
    const ttl = p.ttl ?? 0;
    // A disappearing message that lapsed while the relay held it is gone already for its sender.
    if (ttl > 0 && time + ttl * 1000 <= now) return;
    const reply = p.reply ? refFromPeer(p.reply) : null;
    const line = addLine(
      chat,
      newEntry({
        kind: "in",
        textId: p.id,
        time,
        text: p.text,
        ttl,
        expiresAt: ttl > 0 ? now + ttl * 1000 : 0,
        reply,
      }),
    );
    if (line.expiresAt > 0) o.expires?.(line.expiresAt);
    if (!o.isActive(chat)) chat.unread++;
    const quoted = reply ? findText(chat, reply.mine, reply.id) : undefined;
    o.emit({
      event: "message",
      ...chatRef(chat),
      id: p.id,
      line: line.seq,
      text: p.text,
      time: new Date(time).toISOString(),
      ...(reply
        ? { reply: { ...reply, ...(quoted ? { line: quoted.seq, quote: quote(quoted) } : {}) } }
        : {}),
      ...(ttl > 0 ? { ttl } : {}),
    });
  }

  #find(chat: ChatRecord, fileId: Uint8Array): IncomingFile | undefined {
    return chat.incoming.find((r) => equalBytes(r.fileId, fileId));
  }

  async #offer(chat: ChatRecord, p: Extract<Payload, { type: "file-offer" }>): Promise<void> {
    const o = this.#o;
    if (this.#find(chat, p.fileId)) return; // a repeat
    const record: IncomingFile = {
      fileId: p.fileId,
      name: p.name,
      path: IncomingFiles.partialPath(p.fileId),
      size: p.size,
      sha256: p.sha256,
      received: 0,
      nextIndex: 0,
      accepted: false,
    };
    if (p.size > MAX_FILE_BYTES) {
      return this.#decline(chat, record, `it is ${mib(p.size)}, and files over 100 MiB are refused`);
    }
    if (chat.incoming.length >= MAX_INCOMING_FILES) {
      // A sender runs at most MAX_INCOMING_FILES transfers at once, so if one of ours is running the
      // oldest has stalled (its sender stopped without saying so): it makes room. Offers that wait for
      // the user do not: the new one is declined.
      const stalled = chat.incoming.find((r) => r.accepted);
      if (!stalled) {
        return this.#decline(
          chat,
          record,
          `${MAX_INCOMING_FILES} files from them already wait for an answer`,
        );
      }
      await this.#drop(chat, stalled, "it stalled");
    }
    chat.incoming.push(record);
    const file = fileKey(record.fileId);
    if (o.autoAccept > 0 && p.size <= o.autoAccept) {
      try {
        return await this.accept(chat, record);
      } catch (e) {
        if (!(e instanceof FileError)) throw e;
        // Beyond a quota or the free space: the user decides.
        addSystemLine(chat, `"${p.name}" was not accepted automatically: ${e.message}`, o.clock.now());
      }
    }
    addSystemLine(
      chat,
      `offers "${p.name}" (${mib(p.size)}): /accept ${file.slice(0, 8)} or /decline ${file.slice(0, 8)}`,
      o.clock.now(),
    );
    o.emit({ event: "file-offer", ...chatRef(chat), direction: "receive", file, name: p.name, size: p.size });
  }

  /** Offers waiting for an answer, chat by chat in the order they came. */
  offers(chats: readonly ChatRecord[]): Offer[] {
    return chats.flatMap((chat) => chat.incoming.filter((f) => !f.accepted).map((file) => ({ chat, file })));
  }

  /**
   * Accepts an offer: checks the quotas and the free space (FileError in one sentence if it does not fit;
   * it then still waits), creates its partial file and tells the sender to go ahead.
   */
  async accept(chat: ChatRecord, record: IncomingFile): Promise<void> {
    const o = this.#o;
    if (record.accepted || !chat.incoming.includes(record)) return;
    await this.#checkRoom(chat, record);
    record.accepted = true;
    await o.files.start(record);
    o.send(chat, { type: "file-answer", fileId: record.fileId, accept: true });
    addSystemLine(chat, `receiving "${record.name}" (${mib(record.size)})`, o.clock.now());
    const ref = chatRef(chat), file = fileKey(record.fileId);
    o.emit({
      event: "file-accepted",
      ...ref,
      direction: "receive",
      file,
      name: record.name,
      size: record.size,
    });
    o.emit({
      event: "file-progress",
      ...ref,
      direction: "receive",
      file,
      name: record.name,
      bytes: 0,
      size: record.size,
    });
  }

  /** Declines an offer: the sender is told, and nothing of it was ever written. */
  decline(chat: ChatRecord, record: IncomingFile): void {
    if (record.accepted || !chat.incoming.includes(record)) return;
    this.#forget(chat, record);
    this.#decline(chat, record);
  }

  #decline(chat: ChatRecord, record: IncomingFile, reason?: string): void {
    const o = this.#o;
    o.send(chat, { type: "file-answer", fileId: record.fileId, accept: false });
    addSystemLine(chat, `declined "${record.name}"${reason ? `: ${reason}` : ""}`, o.clock.now());
    o.emit({
      event: "file-declined",
      ...chatRef(chat),
      direction: "receive",
      file: fileKey(record.fileId),
      name: record.name,
      ...(reason ? { reason } : {}),
    });
  }

  /** FileError unless the file fits the chat's quota, the files quota and the free space. */
  async #checkRoom(chat: ChatRecord, record: IncomingFile): Promise<void> {
    const o = this.#o;
    const left = (r: IncomingFile) => (r.accepted ? r.size - r.received : 0);
    const chatBytes = chat.incoming.reduce((n, r) => n + left(r), 0);
    if (chatBytes + record.size > CHAT_QUOTA_BYTES) {
      throw new FileError(
        `${mib(chatBytes)} are on their way from ${chatName(chat)} already, and one chat may send at most ` +
          `${mib(CHAT_QUOTA_BYTES)} at once; accept it once those have arrived.`,
      );
    }
    const coming = o.incoming().reduce((n, r) => n + left(r), 0);
    const stored = await folderBytes(`${o.dataDir}/${FILES_DIR}`);
    if (stored + coming + record.size > o.filesQuota) {
      throw new FileError(
        `The files folder would hold more than its quota of ${mib(o.filesQuota)} (it holds ${mib(stored)}, ` +
          `${mib(coming)} more are coming); make room in it, or raise --files-quota.`,
      );
    }
    const free = await (o.freeBytes ?? freeBytes)(o.dataDir);
    if (free - coming - record.size < FREE_SPACE_MARGIN) {
      throw new FileError(
        `There is not enough free space for "${record.name}" (${mib(free)} free, ` +
          `${mib(FREE_SPACE_MARGIN)} must stay free).`,
      );
    }
  }

  async #chunk(chat: ChatRecord, p: Extract<Payload, { type: "file-chunk" }>): Promise<void> {
    const record = this.#find(chat, p.fileId);
    // Unknown, declined, not accepted (never written), or a repeat.
    if (!record || !record.accepted || p.index < record.nextIndex) return;
    if (p.index > record.nextIndex) return await this.#drop(chat, record, "chunks went missing");
    try {
      await this.#o.files.write(record, p.index, p.data);
    } catch (e) {
      return await this.#drop(chat, record, (e as Error).message.replace(/\.$/, ""));
    }
    record.received += p.data.length;
    record.nextIndex++;
    const key = fileKey(record.fileId), last = this.#reported.get(key) ?? 0;
    if (record.received - last >= record.size / 20 || record.received === record.size) {
      this.#reported.set(key, record.received);
      this.#o.emit({
        event: "file-progress",
        ...chatRef(chat),
        direction: "receive",
        file: key,
        name: record.name,
        bytes: record.received,
        size: record.size,
      });
    }
  }

  #forget(chat: ChatRecord, record: IncomingFile): void {
    chat.incoming.splice(chat.incoming.indexOf(record), 1);
    this.#reported.delete(fileKey(record.fileId));
  }

  async #drop(chat: ChatRecord, record: IncomingFile, why: string): Promise<void> {
    this.#forget(chat, record);
    if (record.accepted) await this.#o.files.discard(record);
    this.#failed(chat, record, why);
  }

  /** Says once (a history line and one event) that a file did not arrive. */
  #failed(chat: ChatRecord, record: IncomingFile, why: string): void {
    const message = `"${record.name}" from ${chatName(chat)} was not received: ${why}`;
    addSystemLine(chat, message, this.#o.clock.now());
    this.#o.emit({
      event: "file-failed",
      ...chatRef(chat),
      direction: "receive",
      file: fileKey(record.fileId),
      name: record.name,
      reason: why,
    });
  }

  /** Deletes the partial files of a closed chat's transfers and forgets its offers. */
  async dropAll(chat: ChatRecord): Promise<void> {
    for (const record of [...chat.incoming]) {
      this.#forget(chat, record);
      if (record.accepted) await this.#o.files.discard(record);
    }
  }
}
