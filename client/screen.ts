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
  who: "you" | "peer" | "system";
  name: string;
  text: string;
  /** Delivery mark of our lines: "" none, "…" waiting here, "✓" at the relay, "✓✓" delivered, "✗" refused. */
  mark: string;
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
}

const ESC = "\x1b[";
const RESET = `${ESC}0m`;
const INVERSE = `${ESC}7m`;
const BOLD = `${ESC}1m`;
const DIM = `${ESC}2m`;
const RED = `${ESC}31m`;

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

/** The rows of the message pane for a chat, oldest first, each at most `width` columns. */
export function chatRows(lines: readonly ChatLine[], width: number): { text: string; style: string }[] {
  const rows: { text: string; style: string }[] = [];
  for (const line of lines) {
    const who = line.who === "you" ? "you" : line.who === "system" ? "*" : clean(line.name);
    const mark = line.mark ? ` ${line.mark}` : "";
    const body = `${hhmm(line.time)} ${who}: ${clean(line.text)}${mark}`;
    const style = line.who === "system" ? DIM : line.who === "peer" ? BOLD : "";
    for (const row of wrap(body, width)) rows.push({ text: row, style });
  }
  return rows;
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
  const listWidth = width >= 60 ? Math.min(26, Math.floor(width / 4)) : 0;
  const paneWidth = width - (listWidth > 0 ? listWidth + 1 : 0);
  const rows = chatRows(m.lines, paneWidth);
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
    out.push(row ? `${row.style}${pad(row.text, paneWidth)}${RESET}` : " ".repeat(paneWidth));
  }

  // Notice or progress line.
  out.push(at(height - 1));
  if (m.progress) out.push(pad(progressBar(m.progress, width), width));
  else if (m.notice) out.push((m.notice.error ? RED : DIM) + pad(clean(m.notice.text), width) + RESET);
  else if (scroll > 0) out.push(DIM + pad(`-- ${scroll} lines back; Page Down returns --`, width) + RESET);
  else out.push(DIM + pad("/help for commands · Tab switches chats · Ctrl-C quits", width) + RESET);

  // Input line, scrolled so the cursor stays visible.
  const prompt = "> ";
  const room = width - prompt.length - 1;
  const chars = m.input.chars.map((ch) => clean(ch));
  let start = 0;
  const widthBetween = (a: number, b: number) => textWidth(chars.slice(a, b).join(""));
  while (widthBetween(start, m.input.cursor) > room) start++;
  const shown = truncate(chars.slice(start).join(""), room);
  const cursorColumn = prompt.length + widthBetween(start, m.input.cursor) + 1;
  out.push(at(height), `${BOLD}${prompt}${RESET}`, pad(shown, width - prompt.length));
  out.push(`${ESC}${height};${cursorColumn}H`, `${ESC}?25h`);
  return out.join("");
}

/** Switches to the alternate screen (the user's scrollback is kept) and clears it. */
export const ENTER_SCREEN = `${ESC}?1049h${ESC}H${ESC}2J`;
/** Leaves the alternate screen and shows the cursor again. */
export const LEAVE_SCREEN = `${ESC}0m${ESC}?25h${ESC}?1049l`;
