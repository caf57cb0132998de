// Keyboard input for the terminal UI: a decoder from the raw bytes a terminal sends in raw mode to keys
// (UTF-8 text, control keys, the common ANSI/VT escape sequences, bracketed paste and focus reports), and
// a line editor with cursor movement, word and line deletion, new lines, and history. Pure: bytes in,
// state out.
//
// A new line inside a message: Alt+Enter, which every terminal sends as ESC CR (ESC LF on some). Shift+
// Enter sends a plain CR in most terminals, the same as Enter, so it cannot be told apart there; the
// terminals that report it (xterm with modifyOtherKeys: CSI 27;2;13~; kitty, foot, WezTerm and others
// with the CSI u protocol: CSI 13;2u) are understood, as are Ctrl+Enter and Alt+Enter in those forms.

/** A key that is not text. */
export type KeyName =
  | "enter"
  | "backspace"
  | "delete"
  | "left"
  | "right"
  | "up"
  | "down"
  | "home"
  | "end"
  | "word-left"
  | "word-right"
  | "kill-start"
  | "kill-end"
  | "kill-word"
  | "tab"
  | "back-tab"
  | "page-up"
  | "page-down"
  | "redraw"
  | "interrupt"
  | "eof"
  | "escape"
  | "newline"
  | "jump-unread"
  | "focus-in"
  | "focus-out";

/** A decoded key: typed text, pasted text (bracketed paste), or a key. */
export type Key =
  | { type: "text"; text: string }
  | { type: "paste"; text: string; truncated: boolean }
  | { type: KeyName };

// Controls dropped from a paste: C0 but the line feed, and DEL.
// deno-lint-ignore no-control-regex
const PASTE_CONTROLS = /[\x00-\x09\x0b-\x1f\x7f]/g;

/** Most bytes of one paste kept (the rest is dropped and the paste marked truncated). */
export const MAX_PASTE_BYTES = 1 << 20;
const PASTE_END = [0x1b, 0x5b, 0x32, 0x30, 0x31, 0x7e]; // ESC [ 2 0 1 ~

const CONTROL_KEYS: Record<number, KeyName> = {
  0x01: "home",
  0x02: "left",
  0x03: "interrupt",
  0x04: "eof",
  0x05: "end",
  0x06: "right",
  0x08: "backspace",
  0x09: "tab",
  0x0a: "enter",
  0x0b: "kill-end",
  0x0c: "redraw",
  0x0d: "enter",
  0x0e: "down",
  0x10: "up",
  0x15: "kill-start",
  0x17: "kill-word",
  0x7f: "backspace",
};

/** The final byte (and parameter) of CSI and SS3 sequences we know. */
const SEQUENCES: Record<string, KeyName> = {
  "A": "up",
  "B": "down",
  "C": "right",
  "D": "left",
  "H": "home",
  "F": "end",
  "Z": "back-tab",
  "1~": "home",
  "7~": "home",
  "4~": "end",
  "8~": "end",
  "3~": "delete",
  "5~": "page-up",
  "6~": "page-down",
  "1;5C": "word-right",
  "1;5D": "word-left",
  "1;3C": "word-right",
  "1;3D": "word-left",
  // Shift, Alt or Ctrl with Enter, where the terminal reports them (modifyOtherKeys, CSI u).
  "27;2;13~": "newline",
  "27;3;13~": "newline",
  "27;5;13~": "newline",
  "13;2u": "newline",
  "13;3u": "newline",
  "13;5u": "newline",
  // Focus reports (CSI ? 1004 h).
  "I": "focus-in",
  "O": "focus-out",
};

/**
 * Turns terminal bytes into keys. Feed it whatever each read returns: an escape sequence or a UTF-8
 * character split across reads is completed by the next feed; unknown sequences are dropped whole.
 */
export class KeyDecoder {
  #pending: number[] = [];
  readonly #utf8 = new TextDecoder("utf-8", { fatal: false });
  /** A paste under way (its bytes so far), or null. */
  #paste: number[] | null = null;
  #pasteTruncated = false;

  /** The keys completed by these bytes. */
  feed(bytes: Uint8Array): Key[] {
    const keys: Key[] = [];
    let data: number[];
    if (this.#paste !== null) {
      const rest = this.#pasteMore(bytes, keys);
      if (rest === null) return keys;
      data = rest;
    } else {
      data = [...this.#pending, ...bytes];
    }
    this.#pending = [];
    let text: number[] = [];
    const flushText = () => {
      if (text.length > 0) keys.push({ type: "text", text: this.#utf8.decode(Uint8Array.from(text)) });
      text = [];
    };
    let i = 0;
    while (i < data.length) {
      const b = data[i];
      if (b === 0x1b) {
        flushText();
        const end = sequenceEnd(data, i);
        if (end === -1) {
          this.#pending = data.slice(i);
          break;
        }
        const seq = data.slice(i, end);
        if (String.fromCharCode(...seq) === "\x1b[200~") {
          // Bracketed paste: everything up to ESC [ 201 ~ is text, whatever it contains.
          this.#paste = [];
          this.#pasteTruncated = false;
          const rest = this.#pasteMore(Uint8Array.from(data.slice(end)), keys);
          if (rest === null) return keys;
          data = rest;
          i = 0;
          continue;
        }
        const key = decodeSequence(seq);
        if (key) keys.push({ type: key });
        i = end;
      } else if (b < 0x20 || b === 0x7f) {
        flushText();
        const type = CONTROL_KEYS[b];
        // A CR LF pair is one Enter.
        if (type && !(b === 0x0a && data[i - 1] === 0x0d)) keys.push({ type });
        i++;
      } else {
        const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
        if (i + len > data.length) {
          flushText();
          this.#pending = data.slice(i);
          break;
        }
        text.push(...data.slice(i, i + len));
        i += len;
      }
    }
    flushText();
    return keys;
  }

  /** Adds bytes to the paste under way; the bytes after its end (it ended), or null (it goes on). */
  #pasteMore(bytes: Uint8Array, keys: Key[]): number[] | null {
    const paste = this.#paste!;
    const from = Math.max(0, paste.length - PASTE_END.length + 1);
    for (const b of bytes) paste.push(b);
    let end = -1;
    for (let j = from; j + PASTE_END.length <= paste.length; j++) {
      if (PASTE_END.every((c, k) => paste[j + k] === c)) {
        end = j;
        break;
      }
    }
    if (end < 0) {
      // Keep at most the limit (and enough to see the end marker).
      if (paste.length > MAX_PASTE_BYTES + PASTE_END.length) {
        paste.splice(MAX_PASTE_BYTES, paste.length - MAX_PASTE_BYTES - PASTE_END.length);
        this.#pasteTruncated = true;
      }
      return null;
    }
    const rest = paste.slice(end + PASTE_END.length);
    let body = paste.slice(0, end);
    if (body.length > MAX_PASTE_BYTES) {
      body = body.slice(0, MAX_PASTE_BYTES);
      this.#pasteTruncated = true;
    }
    keys.push({
      type: "paste",
      text: this.#utf8.decode(Uint8Array.from(body)),
      truncated: this.#pasteTruncated,
    });
    this.#paste = null;
    return rest;
  }

  /** A lone Escape left pending (no more bytes came): report it. */
  flush(): Key[] {
    const had = this.#pending.length > 0;
    this.#pending = [];
    return had ? [{ type: "escape" }] : [];
  }
}

/** Index just past the escape sequence starting at `i`, or -1 if it is not complete yet. */
function sequenceEnd(data: number[], i: number): number {
  if (i + 1 >= data.length) return -1;
  const second = data[i + 1];
  if (second === 0x5b) { // CSI: parameters and intermediates, then a final byte in 0x40–0x7e
    for (let j = i + 2; j < data.length; j++) {
      if (data[j] >= 0x40 && data[j] <= 0x7e) return j + 1;
      if (j - i > 32) return j + 1; // runaway: drop it
    }
    return -1;
  }
  if (second === 0x4f) return i + 2 < data.length ? i + 3 : -1; // SS3 and one byte
  return i + 2; // Alt+key: ESC and one byte
}

function decodeSequence(seq: number[]): KeyName | null {
  const body = String.fromCharCode(...seq.slice(2));
  if (seq[1] === 0x5b || seq[1] === 0x4f) return SEQUENCES[body] ?? null;
  if (seq[1] === 0x0d || seq[1] === 0x0a) return "newline"; // Alt-Enter
  if (seq[1] === 0x62) return "word-left"; // Alt-b
  if (seq[1] === 0x66) return "word-right"; // Alt-f
  if (seq[1] === 0x75) return "jump-unread"; // Alt-u
  if (seq[1] === 0x7f) return "kill-word"; // Alt-Backspace
  return null;
}

/** Most lines kept in the input history. */
export const MAX_HISTORY = 500;

/**
 * The input line: text as an array of characters (code points), a cursor between them, and a history
 * of entered lines that Up and Down walk through (the line being typed is kept aside meanwhile).
 */
export class LineEditor {
  #chars: string[] = [];
  #cursor = 0;
  #history: string[] = [];
  #browsing = -1;
  #draft: string[] = [];

  /** The text being typed. */
  get text(): string {
    return this.#chars.join("");
  }

  /** The cursor position, in characters. */
  get cursor(): number {
    return this.#cursor;
  }

  /** The characters, for drawing. */
  get chars(): readonly string[] {
    return this.#chars;
  }

  /**
   * Applies an editing key. Returns the entered line on Enter (and clears the input), else null. Keys
   * that do not edit (Tab, paging, Ctrl-C …) are ignored here.
   */
  apply(key: Key): string | null {
    const c = this.#chars;
    switch (key.type) {
      case "text": {
        const add = [...key.text.replace(/[\r\n\t]/g, " ")];
        c.splice(this.#cursor, 0, ...add);
        this.#cursor += add.length;
        break;
      }
      case "paste": {
        // Line breaks are kept (one message of many lines); other controls go, tabs become spaces.
        const clean = key.text.replace(/\r\n?/g, "\n").replace(/\t/g, "    ").replace(PASTE_CONTROLS, "");
        const add = [...clean];
        c.splice(this.#cursor, 0, ...add);
        this.#cursor += add.length;
        break;
      }
      case "newline":
        c.splice(this.#cursor++, 0, "\n");
        break;
      case "enter": {
        const line = this.text;
        if (line.trim() !== "" && this.#history[this.#history.length - 1] !== line) {
          this.#history.push(line);
          if (this.#history.length > MAX_HISTORY) this.#history.shift();
        }
        this.#chars = [];
        this.#cursor = 0;
        this.#browsing = -1;
        return line;
      }
      case "backspace":
        if (this.#cursor > 0) c.splice(--this.#cursor, 1);
        break;
      case "delete":
        c.splice(this.#cursor, 1);
        break;
      case "left":
        this.#cursor = Math.max(0, this.#cursor - 1);
        break;
      case "right":
        this.#cursor = Math.min(c.length, this.#cursor + 1);
        break;
      case "home":
        this.#cursor = 0;
        break;
      case "end":
        this.#cursor = c.length;
        break;
      case "word-left":
        this.#cursor = wordStart(c, this.#cursor);
        break;
      case "word-right": {
        let i = this.#cursor;
        while (i < c.length && c[i] === " ") i++;
        while (i < c.length && c[i] !== " ") i++;
        this.#cursor = i;
        break;
      }
      case "kill-start":
        c.splice(0, this.#cursor);
        this.#cursor = 0;
        break;
      case "kill-end":
        c.splice(this.#cursor);
        break;
      case "kill-word": {
        const start = wordStart(c, this.#cursor);
        c.splice(start, this.#cursor - start);
        this.#cursor = start;
        break;
      }
      case "up":
        this.#browse(1);
        break;
      case "down":
        this.#browse(-1);
        break;
    }
    return null;
  }

  /** Moves through the history: +1 older, −1 newer (back to the draft). */
  #browse(step: number): void {
    const next = this.#browsing + step;
    if (next < -1 || next >= this.#history.length) return;
    if (this.#browsing === -1) this.#draft = this.#chars;
    this.#browsing = next;
    this.#chars = next === -1 ? this.#draft : [...this.#history[this.#history.length - 1 - next]];
    this.#cursor = this.#chars.length;
  }
}

function wordStart(c: string[], from: number): number {
  let i = from;
  while (i > 0 && c[i - 1] === " ") i--;
  while (i > 0 && c[i - 1] !== " ") i--;
  return i;
}
