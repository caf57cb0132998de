// What a decrypted payload from a peer does: a text joins the chat's history (and its unread count), a
// nickname is remembered as theirs (shown with a "~", never in place of ours), a file offer starts a
// partial file, chunks are written in order, and the file end checks and saves it (client/files.ts).
// Nothing a peer sends is ever interpreted beyond its payload type: no text is a command.

import { bytesToHex, equalBytes } from "../crypto/bytes.ts";
import type { ChatRecord, IncomingFile } from "../protocol/keystore.ts";
import type { Payload } from "../protocol/payload.ts";
import type { Clock } from "./backoff.ts";
import type { ClientEvent } from "./events.ts";
import { FileError, IncomingFiles, MAX_FILE_BYTES, mib } from "./files.ts";
import { addLine, addSystemLine, chatName, chatRef } from "./history.ts";

/** File transfers one chat runs at once in each direction. */
export const MAX_INCOMING_FILES = 4;

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
        if (p.id === 0 && p.text === "") return; // the initiator's opening message
        addLine(chat, {
          kind: "in",
          status: "none",
          textId: p.id,
          messageId: new Uint8Array(0),
          time,
          text: p.text,
        });
        if (!o.isActive(chat)) chat.unread++;
        o.emit({ event: "message", ...ref, id: p.id, text: p.text, time: new Date(time).toISOString() });
        return;
      case "nickname":
        chat.peerNickname = p.name;
        addSystemLine(chat, `they call themselves "${p.name}"`, now);
        o.emit({ event: "nickname", chat: ref.chat, name: p.name });
        return;
      case "file-offer":
        return await this.#offer(chat, p);
      case "file-chunk":
        return await this.#chunk(chat, p);
      case "file-end": {
        const record = chat.incoming.find((r) => equalBytes(r.fileId, p.fileId));
        if (!record) return;
        if (p.status === "cancelled") return await this.#drop(chat, record, "the sender cancelled it");
        this.#forget(chat, record);
        try {
          const full = `${o.dataDir}/${await o.files.finish(record)}`;
          addSystemLine(chat, `received "${record.name}", saved as ${full} (not opened)`, now);
          o.emit({
            event: "file-received",
            chat: ref.chat,
            name: record.name,
            path: full,
            size: record.size,
          });
        } catch (e) {
          const message = e instanceof FileError
            ? e.message
            : `Saving "${record.name}" failed: ${(e as Error).message}.`;
          addSystemLine(chat, message, now);
          o.emit({ event: "error", chat: ref.chat, message });
        }
        return;
      }
      case "close":
        if (chat.state === "closed") return;
        o.close(chat);
        addSystemLine(chat, "they closed the chat", now);
        o.emit({ event: "peer-closed", ...ref });
        return;
      case "receipt":
        if (p.kind !== "delivered") return; // read receipts are not sent; they would say more than needed
        for (const id of p.ids) {
          const line = chat.history.find((h) => h.kind === "out" && h.textId === id && id > 0);
          if (!line || line.status === "delivered") continue;
          line.status = "delivered";
          o.emit({ event: "delivered", chat: ref.chat, id });
        }
        return;
    }
  }

  async #offer(chat: ChatRecord, p: Extract<Payload, { type: "file-offer" }>): Promise<void> {
    const o = this.#o;
    if (p.size > MAX_FILE_BYTES) {
      const message = `${chatName(chat)} offered "${p.name}" of ${
        mib(p.size)
      }; files over 100 MiB are refused.`;
      o.emit({ event: "error", chat: chatRef(chat).chat, message });
      return;
    }
    // A sender runs at most MAX_INCOMING_FILES transfers at once, so the oldest one here has stalled
    // (its sender stopped without saying so): it makes room.
    if (chat.incoming.length >= MAX_INCOMING_FILES) await this.#drop(chat, chat.incoming[0], "it stalled");
    const record: IncomingFile = {
      fileId: p.fileId,
      name: p.name,
      path: IncomingFiles.partialPath(p.fileId),
      size: p.size,
      sha256: p.sha256,
      received: 0,
      nextIndex: 0,
      accepted: true,
    };
    await o.files.start(record);
    chat.incoming.push(record);
    addSystemLine(chat, `receiving "${p.name}" (${mib(p.size)})`, o.clock.now());
    o.emit({
      event: "file-progress",
      chat: chatRef(chat).chat,
      direction: "receive",
      name: p.name,
      bytes: 0,
      size: p.size,
    });
  }

  async #chunk(chat: ChatRecord, p: Extract<Payload, { type: "file-chunk" }>): Promise<void> {
    const record = chat.incoming.find((r) => equalBytes(r.fileId, p.fileId));
    if (!record || p.index < record.nextIndex) return; // unknown, refused, or a repeat
    if (p.index > record.nextIndex) return await this.#drop(chat, record, "chunks went missing");
    try {
      await this.#o.files.write(record, p.index, p.data);
    } catch (e) {
      return await this.#drop(chat, record, (e as Error).message.replace(/\.$/, ""));
    }
    record.received += p.data.length;
    record.nextIndex++;
    const key = bytesToHex(record.fileId), last = this.#reported.get(key) ?? 0;
    if (record.received - last >= record.size / 20 || record.received === record.size) {
      this.#reported.set(key, record.received);
      this.#o.emit({
        event: "file-progress",
        chat: chatRef(chat).chat,
        direction: "receive",
        name: record.name,
        bytes: record.received,
        size: record.size,
      });
    }
  }

  #forget(chat: ChatRecord, record: IncomingFile): void {
    chat.incoming.splice(chat.incoming.indexOf(record), 1);
    this.#reported.delete(bytesToHex(record.fileId));
  }

  async #drop(chat: ChatRecord, record: IncomingFile, why: string): Promise<void> {
    this.#forget(chat, record);
    await this.#o.files.discard(record);
    const message = `The file "${record.name}" from ${chatName(chat)} was not received: ${why}.`;
    addSystemLine(chat, message, this.#o.clock.now());
    this.#o.emit({ event: "error", chat: chatRef(chat).chat, message });
  }

  /** Deletes the partial files of a closed chat's transfers. */
  async dropAll(chat: ChatRecord): Promise<void> {
    for (const record of [...chat.incoming]) {
      this.#forget(chat, record);
      await this.#o.files.discard(record);
    }
  }
}
