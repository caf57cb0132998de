// Small helpers over a chat record (protocol/keystore.ts ChatRecord): its bounded history, the name it
// is shown by, and how events name it.

import { formatId } from "../protocol/identity.ts";
import { type ChatRecord, type HistoryEntry, MAX_HISTORY } from "../protocol/keystore.ts";

/** Appends a history line (the oldest go beyond MAX_HISTORY) and marks the chat active at `time`. */
export function addLine(chat: ChatRecord, entry: HistoryEntry): void {
  chat.history.push(entry);
  if (chat.history.length > MAX_HISTORY) chat.history.splice(0, chat.history.length - MAX_HISTORY);
  chat.updatedAt = Math.max(chat.updatedAt, entry.time);
}

/** Appends a system line ("the chat is open", "received …"). */
export function addSystemLine(chat: ChatRecord, text: string, time: number): void {
  addLine(chat, { kind: "system", status: "none", textId: 0, messageId: new Uint8Array(0), time, text });
}

/** The name shown for a chat: our nickname, else "~" and the one they announced, else the ID's start. */
export function chatName(chat: ChatRecord): string {
  if (chat.nickname) return chat.nickname;
  if (chat.peerNickname) return `~${chat.peerNickname}`;
  return formatId(chat.peerId).slice(0, 14);
}

/** How events name a chat: the peer's formatted ID, and our nickname for them if we gave one. */
export function chatRef(chat: ChatRecord): { chat: string; nick?: string } {
  const ref: { chat: string; nick?: string } = { chat: formatId(chat.peerId) };
  if (chat.nickname) ref.nick = chat.nickname;
  return ref;
}
