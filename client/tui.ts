// The terminal UI: raw keyboard input (client/input.ts) edited on the input line, the chat list, the
// active chat and the status line drawn by client/screen.ts on the alternate screen, redrawn as events
// arrive. Enter sends the line (a command or a text); Alt+Enter (or Shift+Enter where the terminal
// reports it) starts a new line in it; a paste is inserted whole (bracketed paste), never sent by
// itself; Tab and Shift-Tab switch chats; Page Up/Down scroll, Alt-U jumps to the first unread line;
// Ctrl-L redraws; Ctrl-C, Ctrl-D on an empty line, or /quit leave and restore the terminal. New
// messages ring the bell or raise a desktop notification (OSC 9 or OSC 777) if the user asked for it
// (/set notify), unless their chat is muted or on screen in a focused terminal.

import { formatId } from "../protocol/identity.ts";
import type { DeliveryStatus, HistoryEntry } from "../protocol/history.ts";
import type { ChatRecord } from "../protocol/keystore.ts";
import { MAX_TEXT_BYTES } from "../protocol/payload.ts";
import { cycle } from "./actions.ts";
import type { AppHandle } from "./app.ts";
import { type ClientEvent, eventToText, shortName } from "./events.ts";
import { mib } from "./files.ts";
import { chatName, findText } from "./history.ts";
import { type Key, KeyDecoder, LineEditor } from "./input.ts";
import { renderInvitation } from "./overlay.ts";
import { quote } from "./receive.ts";
import {
  type ChatLine,
  chatRows,
  ENTER_SCREEN,
  LEAVE_SCREEN,
  paneWidth,
  render,
  type ScreenModel,
} from "./screen.ts";
import { groupItems, groupLines, groupPrompt } from "./group_view.ts";
import { getSetting } from "./settings.ts";

/** The terminal the UI runs on (Deno.stdin/stdout in the app, a fake in tests). */
export interface TerminalIo {
  read(p: Uint8Array): Promise<number | null>;
  write(text: string): void;
  setRaw(raw: boolean): void;
  size(): { columns: number; rows: number };
  /** Calls `listener` when the window is resized; returns a function that stops it. */
  onResize(listener: () => void): () => void;
}

const MARKS: Record<DeliveryStatus, string> = {
  none: "",
  pending: "…",
  queued: "✓",
  delivered: "✓✓",
  read: "✓✓ read",
  failed: "✗",
};
/** Notes (command output, errors) kept for display. */
const MAX_NOTES = 200;
/** Milliseconds between redraws at most. */
const FRAME_MS = 16;
/** A paste of more lines than this (or more than a message holds) is announced before it can be sent. */
export const PASTE_ASK_LINES = 100;
/** Milliseconds a "typing" indicator is shown without a new one. */
const TYPING_SHOWN_MS = 8_000;

/** "14:05". */
function hhmm(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** A text on one line, cut at 100 characters (a note about a line, not the line). */
function short(text: string): string {
  const flat = [...text.replace(/\s+/g, " ")];
  return flat.length > 100 ? `${flat.slice(0, 99).join("")}…` : flat.join("");
}

/** A chat's name made fit for a terminal notification: no controls, no separators, short. */
export function notificationName(name: string): string {
  // deno-lint-ignore no-control-regex
  return [...name.replace(/[\u0000-\u001f\u007f-\u009f;\p{Cf}]/gu, "?")].slice(0, 40).join("");
}

/** The bytes that announce a new message from `name`: the bell, OSC 9 or OSC 777 (a notification). */
export function notification(mode: "bell" | "osc" | "osc777", name: string): string {
  const who = notificationName(name);
  if (mode === "bell") return "\x07";
  if (mode === "osc") return `\x1b]9;sotto: a new message from ${who}\x07`;
  return `\x1b]777;notify;sotto;a new message from ${who}\x07`;
}

interface Note extends ChatLine {
  /** The chat it was shown in (hex of nothing: global). */
  chat: string | null;
}

/** The terminal UI. Create it before the app starts so early events are kept; then `run`. */
export class Tui {
  readonly #io: TerminalIo;
  readonly #server: string;
  readonly #curve: string;
  readonly #editor = new LineEditor();
  readonly #decoder = new KeyDecoder();
  readonly #notes: Note[] = [];
  #app: AppHandle | null = null;
  #notice: ScreenModel["notice"] = null;
  #detail: string | undefined;
  #scroll = 0;
  #receiving = new Map<string, { name: string; bytes: number; size: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #entered = false;
  /** Peers typing (formatted ID → until when). */
  readonly #typing = new Map<string, number>();
  /** Chats whose screen was cleared: lines up to this number are not drawn (this session). */
  readonly #clearedAt = new Map<string, { seq: number; time: number }>();
  /** False once the terminal reported it lost the focus (until it reports it back). */
  #focused = true;
  /** Scroll to the unread marker at the next draw. */
  #toMarker = false;
  /** The invitation shown over everything (/invite) until a key is pressed. */
  #invitation: string | null = null;

  constructor(io: TerminalIo, options: { server: string; curve: string }) {
    this.#io = io;
    this.#server = options.server;
    this.#curve = options.curve;
  }

  /** Takes an event from the app (the app's sink). */
  event = (e: ClientEvent): void => {
    const active = this.#app?.client.active, focused = this.#app?.client.groups.focused;
    const here = focused ? focused.key : active ? formatId(active.peerId) : null;
    switch (e.event) {
      case "ready":
        this.#note(
          `You are ${e.id}. Give this ID to the people you want to talk to; /help lists commands.`,
          null,
        );
        if (e.trust === "first-use") {
          this.#note(`First connection to ${e.server}: its pin ${e.pin} is now trusted for it.`, null);
        }
        this.#detail = undefined;
        break;
      case "connection":
        this.#detail = e.state === "offline"
          ? `${e.reason ?? "disconnected"}${
            e.retryInSeconds !== undefined ? `; retry in ${e.retryInSeconds} s` : ""
          }`
          : undefined;
        break;
      case "info":
        this.#note(e.text, here);
        break;
      case "safety-number":
        this.#note(`Safety number: ${e.number}`, here);
        break;
      case "invitation":
        this.#invitation = e.invitation;
        this.#note(`Your invitation: ${e.invitation}`, null);
        break;
      case "error":
        this.#notice = { text: e.message, error: true };
        this.#note(e.message, e.chat ?? here);
        break;
      case "presence":
        this.#notice = { text: `${shortName(e)} is ${e.online ? "online" : "offline"}`, error: false };
        if (!e.online) this.#typing.delete(e.chat);
        break;
      case "refused":
        this.#notice = { text: `A message was refused: ${e.reason}.`, error: true };
        break;
      case "file-progress":
        if (e.direction === "receive") this.#receiving.set(e.file, e);
        break;
      case "file-received":
        this.#receiving.delete(e.file);
        this.#notice = { text: `Received "${e.name}": ${e.path} (not opened).`, error: false };
        break;
      // What became of a file is in its chat's history already: here only the notice, and the progress
      // bar goes (B5: a cancelled transfer was shown twice and its bar stayed).
      case "file-failed":
        this.#receiving.delete(e.file);
        this.#notice = {
          text: `"${e.name}" was not ${e.direction === "receive" ? "received" : "sent"} (the chat says why).`,
          error: true,
        };
        break;
      case "file-declined":
        this.#receiving.delete(e.file);
        if (e.direction === "send") this.#notice = { text: `"${e.name}" was declined.`, error: false };
        break;
      case "switched":
      case "group-switched":
        this.#scroll = 0;
        this.#toMarker = true;
        break;
      case "unread":
        this.#toMarker = true;
        break;
      case "message":
        this.#typing.delete(e.chat);
        this.#notify(e.chat);
        break;
      case "typing":
        if (e.typing) {
          this.#typing.set(e.chat, Date.now() + TYPING_SHOWN_MS);
          setTimeout(() => this.#schedule(), TYPING_SHOWN_MS + 10);
        } else this.#typing.delete(e.chat);
        break;
      case "cleared":
        if (e.scope === "screen") {
          const chat = this.#findChat(e.chat);
          this.#clearedAt.set(e.chat, { seq: chat ? chat.nextSeq - 1 : 0, time: Date.now() });
          this.#scroll = 0;
        }
        break;
      case "found":
        this.#note(
          `${shortName(e)} #${e.line} ${hhmm(Date.parse(e.time))} ${
            e.from === "you" ? "you" : e.from === "peer" ? shortName(e) : "*"
          }: ${short(e.text)}`,
          here,
        );
        break;
      case "history":
        this.#note(
          `#${e.line} ${hhmm(Date.parse(e.time))} ${
            e.from === "you" ? "you" : e.from === "peer" ? shortName(e) : "*"
          }: ${e.deleted ? "(deleted)" : short(e.text)}`,
          here,
        );
        break;
      case "setting":
        this.#note(`${e.name}: ${e.value}`, here);
        break;
      case "identity-changed":
        this.#notice = {
          text: `WARNING: ${shortName(e)} ${
            e.reason === "keys"
              ? "has other identity keys than you verified"
              : "has the name of a verified chat"
          }; sending is held (/verify)`,
          error: true,
        };
        break;
      case "verified":
        this.#notice = {
          text: `${shortName(e)} is ${e.verified ? "marked verified" : "not marked verified"}.`,
          error: false,
        };
        break;
      case "exported":
        this.#notice = { text: `Exported ${e.lines} lines to ${e.path}.`, error: false };
        break;
      case "forgotten":
        this.#notice = { text: `${shortName(e)} was forgotten.`, error: false };
        break;
      case "muted":
        this.#notice = { text: `${shortName(e)} is ${e.muted ? "muted" : "no longer muted"}.`, error: false };
        break;
      case "withdrawn": {
        // What became of a delete for everyone (or a lapsed text) at the relay: said as in line mode.
        const text = eventToText(e);
        if (text !== null) {
          this.#notice = { text: text.replace(/^\* /, ""), error: e.outcome === "unsupported" };
        }
        break;
      }
      case "chat-asked":
        this.#notice = { text: `${e.chat.slice(0, 14)} asks to chat with you (/requests).`, error: false };
        this.#note(`${e.chat} asks to chat with you: /chat ${e.chat} accepts, /ignore or /block it.`, null);
        break;
    }
    this.#schedule();
  };

  #findChat(id: string): ChatRecord | undefined {
    return this.#app?.client.chats.find((c) => formatId(c.peerId) === id);
  }

  /** A new message: the bell or a notification, if asked for and not muted or in plain sight. */
  #notify(id: string): void {
    const client = this.#app?.client;
    if (!client || !this.#entered) return;
    const mode = getSetting(client.contents, "notify");
    const chat = this.#findChat(id);
    if (mode === "off" || !chat || chat.muted) return;
    if (this.#focused && client.active === chat) return;
    this.#io.write(notification(mode, chatName(chat)));
  }

  #note(text: string, chat: string | null): void {
    this.#notes.push({ time: Date.now(), who: "system", name: "", text, mark: "", chat });
    if (this.#notes.length > MAX_NOTES) this.#notes.shift();
  }

  /** Runs the UI until the user leaves or the app stops; the terminal is restored in every case. */
  async run(app: AppHandle): Promise<void> {
    this.#app = app;
    this.#io.write(ENTER_SCREEN);
    this.#entered = true;
    this.#io.setRaw(true);
    const stopResize = this.#io.onResize(() => this.#schedule());
    this.#draw();
    const stopped = app.done.then(() => null);
    const buf = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await Promise.race([this.#io.read(buf), stopped]);
        if (n === null) {
          app.quit();
          break;
        }
        if (await this.#keys(app, this.#decoder.feed(buf.subarray(0, n)))) break;
      }
    } finally {
      stopResize();
      this.close();
    }
  }

  /** Handles keys; true when the user leaves. */
  async #keys(app: AppHandle, keys: Key[]): Promise<boolean> {
    for (const key of keys) {
      if (this.#invitation !== null && key.type !== "interrupt") {
        // Any key leaves the invitation screen, and does nothing else (a focus report is no key).
        if (key.type === "focus-in" || key.type === "focus-out") {
          this.#focused = key.type === "focus-in";
          continue;
        }
        this.#invitation = null;
        continue;
      }
      if (key.type !== "text" && key.type !== "focus-in" && key.type !== "focus-out") this.#notice = null;
      switch (key.type) {
        case "focus-in":
        case "focus-out":
          this.#focused = key.type === "focus-in";
          break;
        case "jump-unread":
          this.#toMarker = true;
          if (app.client.active && !app.client.unreadMarker(app.client.active)) {
            this.#notice = { text: "Nothing unread here.", error: false };
          }
          break;
        case "interrupt":
          app.quit();
          return true;
        case "eof":
          if (this.#editor.text === "") {
            app.quit();
            return true;
          }
          this.#editor.apply({ type: "delete" });
          break;
        case "tab":
        case "back-tab":
          await cycle(app.client, key.type === "tab" ? 1 : -1);
          break;
        case "page-up":
        case "page-down":
          this.#scroll = Math.max(0, this.#scroll + (key.type === "page-up" ? 1 : -1) * this.#page());
          break;
        case "redraw":
          this.#io.write(ENTER_SCREEN);
          break;
        default: {
          const line = this.#editor.apply(key);
          if (key.type === "paste") this.#pasted(key.text, key.truncated);
          if (line === null) {
            const active = app.client.active;
            const edits = key.type === "text" || key.type === "paste" || key.type === "newline";
            if (edits && active && !this.#editor.text.startsWith("/")) {
              app.client.run(() => app.client.typing(active)).catch(() => {});
            }
            break;
          }
          this.#scroll = 0;
          this.#draw();
          if (await app.line(line)) return true;
        }
      }
    }
    this.#draw();
    return false;
  }

  /** A large paste is said before it can be sent: it is one message, or too much for one. */
  #pasted(text: string, truncated: boolean): void {
    const lines = text.split(/\r\n?|\n/).length;
    const bytes = new TextEncoder().encode(this.#editor.text).length;
    if (truncated || bytes > MAX_TEXT_BYTES) {
      this.#notice = {
        text: `The input holds ${Math.ceil(bytes / 1024)} KiB, more than a message (32 KiB): Ctrl-U clears ` +
          "it; send a file with /file instead.",
        error: true,
      };
    } else if (lines > PASTE_ASK_LINES) {
      this.#notice = {
        text: `Pasted ${lines} lines: Enter sends them as one message; Ctrl-U clears the input.`,
        error: false,
      };
    }
  }

  /** Scrolls so the unread marker is at the top of the pane (if it is above the bottom page). */
  #scrollToMarker(model: ScreenModel): void {
    const rows = chatRows(model.lines, paneWidth(model.width));
    const marker = model.lines.findIndex((l) => l.who === "marker");
    if (marker < 0) return;
    const first = rows.findIndex((r) => r.line === marker);
    const page = Math.max(1, Math.max(6, model.height) - 3);
    this.#scroll = Math.max(0, rows.length - first - page);
  }

  #page(): number {
    return Math.max(1, this.#io.size().rows - 5);
  }

  #schedule(): void {
    if (!this.#entered || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, FRAME_MS);
  }

  #draw(): void {
    if (!this.#entered || !this.#app) return;
    if (this.#invitation !== null) {
      const { columns, rows } = this.#io.size();
      return this.#io.write(renderInvitation(columns, rows, this.#invitation));
    }
    let model = this.model();
    if (this.#toMarker) {
      this.#toMarker = false;
      this.#scrollToMarker(this.model(true));
      model = this.model();
    }
    this.#io.write(render(model));
  }

  /** A history line as the screen draws it. */
  #line(chat: ChatRecord, h: HistoryEntry): ChatLine {
    const extra: string[] = [];
    if (h.versions.length > 0) extra.push("(edited)");
    const reactions = [
      h.myReaction && `${h.myReaction} you`,
      h.peerReaction && `${h.peerReaction} ${chatName(chat)}`,
    ]
      .filter((r) => r);
    if (reactions.length > 0) extra.push(`[${reactions.join(", ")}]`);
    if (h.expiresAt > 0) extra.push(`(disappears ${hhmm(h.expiresAt)})`);
    const line: ChatLine = {
      time: h.time,
      who: h.kind === "in" ? "peer" : h.kind === "out" ? "you" : "system",
      name: chatName(chat),
      text: h.text,
      mark: h.kind === "out" ? MARKS[h.status] : "",
      seq: h.seq,
      deleted: h.deleted,
    };
    if (extra.length > 0) line.extra = extra.join(" ");
    if (h.reply) {
      const to = findText(chat, h.reply.mine, h.reply.id);
      line.quote = to
        ? `${to.kind === "out" ? "you" : chatName(chat)} #${to.seq}: ${quote(to)}`
        : "a message no longer here";
    }
    return line;
  }

  /**
   * What the screen shows now. Only the newest lines that can reach the screen (at the current scroll)
   * are drawn, unless `all`.
   */
  model(all = false): ScreenModel {
    const app = this.#app!, client = app.client, { columns, rows } = this.#io.size();
    const focused = client.groups.focused, active = focused ? null : client.active;
    const key = focused ? focused.key : active ? formatId(active.peerId) : null;
    const cleared = active && key ? this.#clearedAt.get(key) : undefined;
    // A group's lines (client/group_view.ts) have none of the chats' markers, quotes or numbers.
    const lines: ChatLine[] = focused ? groupLines(client, focused) : [];
    const marker = active ? client.unreadMarker(active) : null;
    const history = active?.history ?? [];
    const from = all ? 0 : Math.max(0, history.length - (rows + this.#scroll + 64));
    for (const h of history.slice(from)) {
      if (cleared && h.seq <= cleared.seq) continue;
      if (marker && h.seq === marker.line) {
        lines.push({ time: h.time, who: "marker", name: "", text: `${marker.count} unread`, mark: "" });
      }
      lines.push(this.#line(active!, h));
    }
    // The notes go between the lines by time; the lines keep their own order (a peer's line carries the
    // relay's time, which need not follow ours).
    const notes = this.#notes.filter((n) =>
      (n.chat === null || n.chat === key) && !(cleared && n.time <= cleared.time)
    );
    const merged: ChatLine[] = [];
    let n = 0;
    for (const line of lines) {
      while (n < notes.length && notes[n].time < line.time) merged.push(notes[n++]);
      merged.push(line);
    }
    merged.push(...notes.slice(n));
    lines.splice(0, lines.length, ...merged);
    const sending = client.transfers.active[0];
    const receiving = [...this.#receiving.values()].find((r) => r.bytes < r.size);
    // A file offered to us waits for an answer: the prompt stays until it is given.
    const offer = client.offers.find((o) => o.chat === active) ?? client.offers[0];
    const groupAsk = groupPrompt(client);
    const prompt = offer
      ? {
        text: `${chatName(offer.chat)} offers "${offer.file.name}" (${
          mib(offer.file.size)
        }): /accept or /decline`,
        error: false,
      }
      : groupAsk
      ? { text: groupAsk, error: false }
      : null;
    const { connection, pin } = app.status;
    const typing = key !== null && (this.#typing.get(key) ?? 0) > Date.now();
    const promptName = focused
      ? `#${focused.s.name}`
      : active
      ? `${chatName(active)}${active.verified && active.warning === "none" ? " ✓" : ""}${
        active.warning !== "none" ? " !" : ""
      }`
      : "";
    return {
      width: columns,
      height: rows,
      status: { server: this.#server, pin: pin || "?", curve: this.#curve, connection, detail: this.#detail },
      chats: [
        ...client.chats.map((c) => ({
          label: `${chatName(c)}${c.verified && c.warning === "none" ? " ✓" : ""}${
            c.warning !== "none" ? " !" : ""
          }${c.muted ? " (muted)" : ""}`,
          unread: c.unread,
          state: c.state,
          online: client.isOnline(c),
        })),
        ...groupItems(client),
      ],
      active: focused
        ? client.chats.length + client.groups.list.indexOf(focused)
        : active
        ? client.chats.indexOf(active)
        : -1,
      lines,
      scroll: this.#scroll,
      notice: this.#notice ?? prompt ??
        (typing && active ? { text: `${chatName(active)} is typing…`, error: false } : null),
      progress: prompt && !this.#notice
        ? null
        : sending
        ? { ...sending, direction: "send" }
        : receiving
        ? { ...receiving, direction: "receive" }
        : null,
      input: { chars: this.#editor.chars, cursor: this.#editor.cursor },
      prompt: promptName,
    };
  }

  /** Leaves the alternate screen and raw mode (idempotent). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#entered) return;
    this.#entered = false;
    try {
      this.#io.setRaw(false);
    } finally {
      this.#io.write(LEAVE_SCREEN);
    }
  }
}
