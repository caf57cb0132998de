// The terminal UI: raw keyboard input (client/input.ts) edited on the input line, the chat list, the
// active chat and the status line drawn by client/screen.ts on the alternate screen, redrawn as events
// arrive. Enter sends the line (a command or a text); Tab and Shift-Tab switch chats; Page Up/Down
// scroll; Ctrl-L redraws; Ctrl-C, Ctrl-D on an empty line, or /quit leave and restore the terminal.

import { formatId } from "../protocol/identity.ts";
import type { DeliveryStatus } from "../protocol/keystore.ts";
import { cycle } from "./actions.ts";
import type { AppHandle } from "./app.ts";
import type { ClientEvent } from "./events.ts";
import { mib } from "./files.ts";
import { chatName } from "./history.ts";
import { type Key, KeyDecoder, LineEditor } from "./input.ts";
import { type ChatLine, ENTER_SCREEN, LEAVE_SCREEN, render, type ScreenModel } from "./screen.ts";

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

  constructor(io: TerminalIo, options: { server: string; curve: string }) {
    this.#io = io;
    this.#server = options.server;
    this.#curve = options.curve;
  }

  /** Takes an event from the app (the app's sink). */
  event = (e: ClientEvent): void => {
    const active = this.#app?.client.active;
    const here = active ? formatId(active.peerId) : null;
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
      case "error":
        this.#notice = { text: e.message, error: true };
        this.#note(e.message, e.chat ?? here);
        break;
      case "presence":
        this.#notice = { text: `${e.chat.slice(0, 14)} is ${e.online ? "online" : "offline"}`, error: false };
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
        this.#scroll = 0;
        break;
    }
    this.#schedule();
  };

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
      if (key.type !== "text") this.#notice = null;
      switch (key.type) {
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
          if (line === null) break;
          this.#scroll = 0;
          this.#draw();
          if (await app.line(line)) return true;
        }
      }
    }
    this.#draw();
    return false;
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
    this.#io.write(render(this.model()));
  }

  /** What the screen shows now. */
  model(): ScreenModel {
    const app = this.#app!, client = app.client, { columns, rows } = this.#io.size();
    const active = client.active;
    const key = active ? formatId(active.peerId) : null;
    const lines: ChatLine[] = active
      ? active.history.map((h) => ({
        time: h.time,
        who: h.kind === "in" ? "peer" : h.kind === "out" ? "you" : "system",
        name: chatName(active),
        text: h.text,
        mark: h.kind === "out" ? MARKS[h.status] : "",
      }))
      : [];
    for (const note of this.#notes) if (note.chat === null || note.chat === key) lines.push(note);
    lines.sort((a, b) => a.time - b.time);
    const sending = client.transfers.active[0];
    const receiving = [...this.#receiving.values()].find((r) => r.bytes < r.size);
    // A file offered to us waits for an answer: the prompt stays until it is given.
    const offer = client.offers.find((o) => o.chat === active) ?? client.offers[0];
    const prompt = offer
      ? {
        text: `${chatName(offer.chat)} offers "${offer.file.name}" (${
          mib(offer.file.size)
        }): /accept or /decline`,
        error: false,
      }
      : null;
    const { connection, pin } = app.status;
    return {
      width: columns,
      height: rows,
      status: { server: this.#server, pin: pin || "?", curve: this.#curve, connection, detail: this.#detail },
      chats: client.chats.map((c) => ({
        label: chatName(c),
        unread: c.unread,
        state: c.state,
        online: client.isOnline(c),
      })),
      active: active ? client.chats.indexOf(active) : -1,
      lines,
      scroll: this.#scroll,
      notice: this.#notice ?? prompt,
      progress: prompt && !this.#notice
        ? null
        : sending
        ? { ...sending, direction: "send" }
        : receiving
        ? { ...receiving, direction: "receive" }
        : null,
      input: { chars: this.#editor.chars, cursor: this.#editor.cursor },
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
