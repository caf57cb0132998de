// Small helpers over a chat record (protocol/keystore.ts ChatRecord): its history, the name it is shown
// by, and how events name it. Every change to a history line goes through here, so the history store
// (client/historystore.ts) knows what to write at the next keystore write, and the views know what to
// redraw: `addLine` for a new line, `changed` after changing one in place, `dropLines` and
// `clearLines` to remove some (their content is then rewritten out of the file, not only marked).

import { formatId } from "../protocol/identity.ts";
import type { ChatRecord } from "../protocol/keystore.ts";
import { type HistoryEntry, type HistoryRecord, newEntry } from "../protocol/history.ts";

/** What changed in a chat's history since the history store last wrote it. */
export interface Journal {
  /** Lines added or changed (written whole). */
  dirty: Set<HistoryEntry>;
  /** Lines removed. */
  drops: HistoryRecord[];
  /** Content was removed: the file is rewritten without it. */
  compact: boolean;
}

const journals = new WeakMap<ChatRecord, Journal>();
const revisions = new WeakMap<HistoryEntry, number>();

/** The chat's journal (made on first use). */
export function journalOf(chat: ChatRecord): Journal {
  let j = journals.get(chat);
  if (!j) journals.set(chat, j = { dirty: new Set(), drops: [], compact: false });
  return j;
}

/** How many times a line has changed in this process (the views redraw a line when it moves on). */
export function revision(entry: HistoryEntry): number {
  return revisions.get(entry) ?? 0;
}

/** Records that a line changed in place (status, text, reactions …): it is written again. */
export function changed(chat: ChatRecord, entry: HistoryEntry): void {
  revisions.set(entry, revision(entry) + 1);
  journalOf(chat).dirty.add(entry);
}

/** Appends a line (it gets the chat's next line number) and marks the chat active at its time. */
export function addLine(chat: ChatRecord, entry: HistoryEntry): HistoryEntry {
  entry.seq = chat.nextSeq++;
  chat.history.push(entry);
  chat.updatedAt = Math.max(chat.updatedAt, entry.time);
  changed(chat, entry);
  return entry;
}

/** Appends a system line ("the chat is open", "received …"). */
export function addSystemLine(chat: ChatRecord, text: string, time: number): HistoryEntry {
  return addLine(chat, newEntry({ kind: "system", time, text }));
}

/** Removes the lines `test` picks (their content leaves the file too); returns them. */
export function dropLines(chat: ChatRecord, test: (e: HistoryEntry) => boolean): HistoryEntry[] {
  const gone = chat.history.filter(test);
  if (gone.length === 0) return gone;
  const j = journalOf(chat);
  chat.history = chat.history.filter((e) => !test(e));
  for (const e of gone) {
    j.dirty.delete(e);
    j.drops.push({ op: "drop", seq: e.seq });
  }
  j.compact = true;
  return gone;
}

/** Removes every line up to and including `seq` (all of them by default). */
export function clearLines(chat: ChatRecord, seq = chat.nextSeq - 1): number {
  const gone = chat.history.filter((e) => e.seq <= seq);
  const j = journalOf(chat);
  for (const e of gone) j.dirty.delete(e);
  chat.history = chat.history.filter((e) => e.seq > seq);
  j.drops.push({ op: "drop-upto", seq });
  j.compact = true;
  return gone.length;
}

/** Our text `id` (mine) or the peer's, the newest line with it. */
export function findText(chat: ChatRecord, mine: boolean, id: number): HistoryEntry | undefined {
  if (id === 0) return undefined;
  const kind = mine ? "out" : "in";
  return chat.history.findLast((h) => h.kind === kind && h.textId === id);
}

/** The line with this number. */
export function findLine(chat: ChatRecord, seq: number): HistoryEntry | undefined {
  const h = chat.history;
  let lo = 0, hi = h.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (h[mid].seq === seq) return h[mid];
    if (h[mid].seq < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** The name shown for a chat: our nickname, else "~" and the one they announced, else the ID's start. */
export function chatName(chat: ChatRecord): string {
  if (chat.nickname) return chat.nickname;
  if (chat.peerNickname) return `~${chat.peerNickname}`;
  return formatId(chat.peerId).slice(0, 14);
}

/**
 * How events name a chat: the peer's formatted ID, our nickname for them if we gave one, and the name
 * they announced if they did (so every notice can name them without the ID).
 */
export function chatRef(chat: ChatRecord): { chat: string; nick?: string; peerNick?: string } {
  const ref: { chat: string; nick?: string; peerNick?: string } = { chat: formatId(chat.peerId) };
  if (chat.nickname) ref.nick = chat.nickname;
  if (chat.peerNickname) ref.peerNick = chat.peerNickname;
  return ref;
}
