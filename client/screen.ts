// Drawing the terminal UI: a pure function from what is to be shown (a ScreenModel) to the ANSI bytes
// that draw it, plus the helpers it needs: display width of characters, wrapping, and `clean`, which
// makes any text a peer controls (messages, names, file names) harmless to print: every control
// character and escape sequence is replaced, and every format character (direction marks and overrides,
// invisible characters) is shown as an escape, so a peer can never move the cursor, rewrite the screen,
// retitle the terminal, or reorder or hide what it shows.
//
// Layout: a status line (server, pin, curve, connection), the chat list on the left with unread counts,
// the active chat on the right with timestamps and delivery marks, a line for notices or a file's
// progress bar, and the input line.

import type { ConnectionState } from "./events.ts";
// The function the web page uses too (a plain JavaScript module, also served to the page).
import { showFormat } from "./web/format.js";

/** A chat in the list. */
export interface ChatItem {
  label: string;
  unread: number;
  /** "requested": waiting for the peer; "closed": ended. */
  state: "requested" | "open" | "closed";
  online: boolean;
}

/** A line of the active chat. */
export interface ChatLine {
  time: number;
  /** "marker": the unread line ("── 3 unread ──"), drawn across the pane. */
  who: "you" | "peer" | "system" | "marker";
  name: string;
  text: string;
  /**
   * Delivery mark of our lines: "" none, "…" waiting here, "✓" at the relay, "✓✓" delivered, "✓✓ read"
   * read, "✗" refused.
   */
  mark: string;
  /** The line's number, shown after the time (the commands take it). */
  seq?: number;
  /** The message it answers: "bob: first words…", drawn above it. */
  quote?: string;
  /** What follows the text: "(edited)", reactions, when it disappears. */
  extra?: string;
  /** Deleted for everyone: drawn as a tombstone. */
  deleted?: boolean;
}

/** Everything one frame shows. */
export interface ScreenModel {
  width: number;
  height: number;
  status: { server: string; pin: string; curve: string; connection: ConnectionState; detail?: string };
  chats: ChatItem[];
  /** Index of the active chat in `chats`, or −1. */
  active: number;
  /** The active chat's lines, or the notices when there is no active chat. */
  lines: ChatLine[];
  /** Lines scrolled back from the bottom. */
  scroll: number;
  notice: { text: string; error: boolean } | null;
  progress: { name: string; bytes: number; size: number; direction: "send" | "receive" } | null;
  input: { chars: readonly string[]; cursor: number };
  /** The active chat's name before the input ("bob ✓"), kept even on narrow terminals; none: "> ". */
  prompt?: string;
}

const ESC = "\x1b[";
const RESET = `${ESC}0m`;
const INVERSE = `${ESC}7m`;
const BOLD = `${ESC}1m`;
const DIM = `${ESC}2m`;
const RED = `${ESC}31m`;
const ITALIC = `${ESC}3m`;

// C0/C1 controls, DEL, line/paragraph separators.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/**
 * Text safe to print: every control character becomes "�" (tabs a space), and every format character is
 * shown as an escape such as "<U+202E>" instead of being applied (client/web/format.js, shared with the
 * web page), so a peer can neither move the cursor nor reorder or hide what is shown.
 */
export function clean(text: string): string {
  return showFormat(text.replace(/\t/g, " ").replace(UNSAFE, "\ufffd"));
}

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufe00-\ufe0f]$/u;
const WIDE =
  /^[\p{Extended_Pictographic}\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{3fffd}]$/u;

/** Columns a character takes: 0 for combining marks, 2 for wide East Asian characters and emoji, else 1. */
export function charWidth(ch: string): number {
  if (ZERO_WIDTH.test(ch)) return 0;
  if (ch.codePointAt(0)! < 0x2000) return 1;
  return WIDE.test(ch) ? 2 : 1;
}

/** Columns a string takes. */
export function textWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(ch);
  return w;
}

/** The longest prefix of `text` that fits in `width` columns. */
export function truncate(text: string, width: number): string {
  let w = 0, out = "";
  for (const ch of text) {
    const cw = charWidth(ch);
    if (w + cw > width) break;
    w += cw;
    out += ch;
  }
  return out;
}

/** `text` cut into rows of at most `width` columns, breaking at spaces where a row allows it. */
export function wrap(text: string, width: number): string[] {
  if (width < 1) return [];
  const rows: string[] = [];
  let rest = text;
  while (textWidth(rest) > width) {
    let row = truncate(rest, width);
    if (row === "") row = [...rest][0]; // a wide character in a one-column pane
    const space = row.lastIndexOf(" ");
    if (space > row.length / 2) row = row.slice(0, space + 1);
    rows.push(row.trimEnd());
    rest = rest.slice(row.length);
  }
  rows.push(rest);
  return rows;
}

function pad(text: string, width: number): string {
  const t = truncate(text, width);
  return t + " ".repeat(Math.max(0, width - textWidth(t)));
}

function hhmm(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** A progress bar: "name [#####.....] 52% 1.2/2.3 MiB". */
export function progressBar(p: NonNullable<ScreenModel["progress"]>, width: number): string {
  const fraction = p.size === 0 ? 1 : Math.min(1, p.bytes / p.size);
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const amount = `${(p.bytes / 1048576).toFixed(1)}/${(p.size / 1048576).toFixed(1)} MiB`;
  const head = `${p.direction === "send" ? "sending" : "receiving"} ${clean(p.name)}`;
  const barWidth = Math.max(10, Math.min(40, width - textWidth(head) - amount.length - 10));
  const filled = Math.round(fraction * barWidth);
  return `${head} [${"#".repeat(filled)}${".".repeat(barWidth - filled)}] ${pct} ${amount}`;
}

/** The pane's width for a terminal `width` columns wide (the chat list takes the rest). */
export function paneWidth(width: number): number {
  const w = Math.max(20, width);
  const listWidth = w >= 60 ? Math.min(26, Math.floor(w / 4)) : 0;
  return w - (listWidth > 0 ? listWidth + 1 : 0);
}

/**
 * The rows of the message pane for a chat, oldest first, each at most `width` columns, and for each
 * row the index of the line it belongs to. A multi-line text continues under its first row, indented;
 * a reply's quote is a dim row above it.
 */
export function chatRows(
  lines: readonly ChatLine[],
  width: number,
): { text: string; style: string; line: number }[] {
  const rows: { text: string; style: string; line: number }[] = [];
  lines.forEach((line, index) => lineRows(rows, line, index, width));
  return rows;
}

/**
 * The last `need` rows of the pane (fewer if the chat is shorter), drawn from the newest line back, so a
 * frame costs what is on screen, not the whole history.
 */
export function tailRows(
  lines: readonly ChatLine[],
  width: number,
  need: number,
): { text: string; style: string; line: number }[] {
  const parts: { text: string; style: string; line: number }[][] = [];
  let count = 0;
  for (let i = lines.length - 1; i >= 0 && count < need; i--) {
    const rows: { text: string; style: string; line: number }[] = [];
    lineRows(rows, lines[i], i, width);
    parts.push(rows);
    count += rows.length;
  }
  return parts.reverse().flat();
}

function lineRows(
  rows: { text: string; style: string; line: number }[],
  line: ChatLine,
  index: number,
  width: number,
): void {
  {
    if (line.who === "marker") {
      const label = ` ${clean(line.text)} `;
      const side = Math.max(1, Math.floor((width - textWidth(label)) / 2));
      rows.push({
        text: truncate("─".repeat(side) + label + "─".repeat(side), width),
        style: RED,
        line: index,
      });
      return;
    }
    const who = line.who === "you" ? "you" : line.who === "system" ? "*" : clean(line.name);
    const number = line.seq !== undefined && line.who !== "system" ? `#${line.seq} ` : "";
    const head = `${hhmm(line.time)} ${number}`;
    const indent = " ".repeat(6);
    const style = line.who === "system" ? DIM : line.who === "peer" ? BOLD : "";
    if (line.quote !== undefined) {
      for (const row of wrap(`${indent}↪ ${clean(line.quote)}`, width)) {
        rows.push({ text: row, style: DIM, line: index });
      }
    }
    const parts = line.deleted ? ["(deleted)"] : line.text.split(/\r\n?|\n/);
    const tail = `${line.extra ? ` ${clean(line.extra)}` : ""}${line.mark ? ` ${line.mark}` : ""}`;
    parts.forEach((part, i) => {
      const text = (i === 0 ? `${head}${who}: ` : indent) + clean(part) +
        (i === parts.length - 1 ? tail : "");
      const rowStyle = line.deleted ? DIM + ITALIC : style;
      for (const row of wrap(text, width)) rows.push({ text: row, style: rowStyle, line: index });
    });
  }
}

/** The ANSI bytes that draw a whole frame (hiding the cursor while drawing, then placing it). */
export function render(m: ScreenModel): string {
  const width = Math.max(20, m.width), height = Math.max(6, m.height);
  const out: string[] = [`${ESC}?25l`];
  const at = (row: number) => `${ESC}${row};1H`;

  // Status line.
  const s = m.status;
  const state = s.connection === "online"
    ? "online"
    : s.connection === "connecting"
    ? "connecting…"
    : "offline";
  const status = ` sotto │ ${s.server} │ pin ${s.pin.slice(0, 8)}… │ ${s.curve} │ ${state}` +
    (s.detail ? ` (${clean(s.detail)})` : "");
  out.push(at(1), INVERSE, pad(status, width), RESET);

  // Panes.
  const bodyRows = height - 3;
  const pane = paneWidth(width);
  const listWidth = pane === width ? 0 : width - pane - 1;
  const rows = tailRows(m.lines, pane, bodyRows + Math.max(0, m.scroll));
  const maxScroll = Math.max(0, rows.length - bodyRows);
  const scroll = Math.min(Math.max(0, m.scroll), maxScroll);
  const visible = rows.slice(Math.max(0, rows.length - bodyRows - scroll), rows.length - scroll);
  for (let r = 0; r < bodyRows; r++) {
    out.push(at(r + 2));
    if (listWidth > 0) {
      const chat = m.chats[r];
      if (chat) {
        const marker = r === m.active ? ">" : " ";
        const dot = chat.state === "requested"
          ? "?"
          : chat.state === "closed"
          ? "x"
          : chat.online
          ? "●"
          : "○";
        const unread = chat.unread > 0 ? ` (${chat.unread})` : "";
        const label = truncate(clean(chat.label), listWidth - 3 - unread.length);
        const text = pad(`${marker}${dot} ${label}${unread}`, listWidth);
        out.push(r === m.active ? INVERSE + text + RESET : chat.unread > 0 ? BOLD + text + RESET : text);
      } else out.push(" ".repeat(listWidth));
      out.push(`${DIM}│${RESET}`);
    }
    const row = visible[r];
    out.push(row ? `${row.style}${pad(row.text, pane)}${RESET}` : " ".repeat(pane));
  }

  // Notice or progress line.
  out.push(at(height - 1));
  if (m.progress) out.push(pad(progressBar(m.progress, width), width));
  else if (m.notice) out.push((m.notice.error ? RED : DIM) + pad(clean(m.notice.text), width) + RESET);
  else if (scroll > 0) out.push(DIM + pad(`-- ${scroll} lines back; Page Down returns --`, width) + RESET);
  else out.push(DIM + pad("/help for commands · Tab switches chats · Ctrl-C quits", width) + RESET);

  // Input line, scrolled so the cursor stays visible, after the active chat's name (at most a third of
  // the width, so it shows even on a narrow terminal). Line breaks in the input show as "↵".
  const name = m.prompt ? clean(m.prompt) : "";
  const prompt = name ? `${truncate(name, Math.max(4, Math.floor(width / 3) - 2))}> ` : "> ";
  const promptWidth = textWidth(prompt);
  const room = width - promptWidth - 1;
  const chars = m.input.chars.map((ch) => (ch === "\n" ? "↵" : clean(ch)));
  // From the cursor back, as far as fits (a long paste costs the width of the screen, not its length).
  let start = m.input.cursor, before = 0;
  while (start > 0 && before + textWidth(chars[start - 1]) <= room) before += textWidth(chars[--start]);
  const shown = truncate(chars.slice(start, start + room + 1).join(""), room);
  const cursorColumn = promptWidth + before + 1;
  out.push(at(height), `${BOLD}${prompt}${RESET}`, pad(shown, width - promptWidth));
  out.push(`${ESC}${height};${cursorColumn}H`, `${ESC}?25h`);
  return out.join("");
}

/**
 * Switches to the alternate screen (the user's scrollback is kept) and clears it, with bracketed paste
 * (a paste arrives as one piece, never as typed Enters) and focus reports (for notifications) on.
 */
export const ENTER_SCREEN = `${ESC}?1049h${ESC}H${ESC}2J${ESC}?2004h${ESC}?1004h`;
/** Turns them off, leaves the alternate screen and shows the cursor again. */
export const LEAVE_SCREEN = `${ESC}0m${ESC}?1004l${ESC}?2004l${ESC}?25h${ESC}?1049l`;
