// Keyboard input: escape sequences and UTF-8 characters split across reads, control keys, and the line
// editor's movement, deletion and history.

import assert from "node:assert/strict";
import { type Key, KeyDecoder, LineEditor, MAX_PASTE_BYTES } from "../../client/input.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const names = (keys: Key[]) => keys.map((k) => (k.type === "text" ? `"${k.text}"` : k.type));

Deno.test("input: text, control keys and escape sequences", () => {
  const d = new KeyDecoder();
  assert.deepEqual(names(d.feed(bytes("hi\r"))), ['"hi"', "enter"]);
  assert.deepEqual(names(d.feed(bytes("a\r\nb\n"))), ['"a"', "enter", '"b"', "enter"]);
  assert.deepEqual(
    names(d.feed(bytes("\x1b[A\x1b[B\x1b[C\x1b[D\x1b[H\x1b[F\x1b[3~\x1b[5~\x1b[6~\x1b[Z\x1bOA\x1b[1;5C"))),
    [
      "up",
      "down",
      "right",
      "left",
      "home",
      "end",
      "delete",
      "page-up",
      "page-down",
      "back-tab",
      "up",
      "word-right",
    ],
  );
  assert.deepEqual(
    names(d.feed(Uint8Array.of(0x01, 0x05, 0x03, 0x04, 0x7f, 0x08, 0x0b, 0x15, 0x17, 0x0c, 0x09))),
    [
      "home",
      "end",
      "interrupt",
      "eof",
      "backspace",
      "backspace",
      "kill-end",
      "kill-start",
      "kill-word",
      "redraw",
      "tab",
    ],
  );
  // Unknown sequences vanish whole; Alt-b / Alt-f move by words.
  assert.deepEqual(names(d.feed(bytes("x\x1b[99;99qy\x1bb\x1bf"))), [
    '"x"',
    '"y"',
    "word-left",
    "word-right",
  ]);
});

Deno.test("input: sequences and characters split across reads", () => {
  const d = new KeyDecoder();
  assert.deepEqual(names(d.feed(bytes("\x1b"))), []);
  assert.deepEqual(names(d.feed(bytes("["))), []);
  assert.deepEqual(names(d.feed(bytes("A"))), ["up"]);
  const snow = bytes("☃");
  assert.deepEqual(names(d.feed(snow.subarray(0, 1))), []);
  assert.deepEqual(names(d.feed(snow.subarray(1))), ['"☃"']);
  assert.deepEqual(names(d.feed(bytes("\x1b"))), []);
  assert.deepEqual(names(d.flush()), ["escape"]);
  assert.deepEqual(names(d.flush()), []);
});

function type(editor: LineEditor, ...keys: (string | Key["type"])[]): string | null {
  let out: string | null = null;
  for (const k of keys) {
    const key: Key = k.startsWith('"')
      ? { type: "text", text: k.slice(1, -1) }
      : { type: k as Exclude<Key["type"], "text" | "paste"> };
    out = editor.apply(key) ?? out;
  }
  return out;
}

Deno.test("input: the line editor moves, deletes and inserts by character", () => {
  const e = new LineEditor();
  type(e, '"héllo wörld"', "home", "right", "right", "backspace", '"E"');
  assert.equal(e.text, "hEllo wörld");
  assert.equal(e.cursor, 2);
  type(e, "end", "kill-word");
  assert.equal(e.text, "hEllo ");
  type(e, '"there"', "word-left", "kill-start");
  assert.equal(e.text, "there");
  type(e, "home", "delete", "kill-end");
  assert.equal(e.text, "");
  type(e, '"tab\there"');
  assert.equal(e.text, "tab here", "tabs and newlines in pasted text become spaces");
  assert.equal(type(e, "enter"), "tab here");
  assert.equal(e.text, "");
});

Deno.test("input: history walks back and forth and keeps the draft", () => {
  const e = new LineEditor();
  assert.equal(type(e, '"one"', "enter"), "one");
  assert.equal(type(e, '"two"', "enter"), "two");
  type(e, "enter"); // an empty line is not kept
  type(e, '"dra"');
  type(e, "up");
  assert.equal(e.text, "two");
  type(e, "up", "up");
  assert.equal(e.text, "one");
  type(e, "down");
  assert.equal(e.text, "two");
  type(e, "down");
  assert.equal(e.text, "dra");
  assert.equal(e.cursor, 3);
});

Deno.test("input: Alt+Enter, and Shift+Enter where the terminal reports it, are a new line", () => {
  const d = new KeyDecoder();
  assert.deepEqual(names(d.feed(bytes("a\x1b\rb\x1b\nc"))), ['"a"', "newline", '"b"', "newline", '"c"']);
  assert.deepEqual(names(d.feed(bytes("\x1b[13;2u\x1b[27;2;13~\x1b[13;5u\r"))), [
    "newline",
    "newline",
    "newline",
    "enter",
  ]);
  assert.deepEqual(names(d.feed(bytes("\x1b[I\x1b[O\x1bu"))), ["focus-in", "focus-out", "jump-unread"]);
  const e = new LineEditor();
  type(e, '"first"', "newline", '"second"');
  assert.equal(e.text, "first\nsecond");
  assert.equal(type(e, "enter"), "first\nsecond");
});

Deno.test("input: a bracketed paste is one piece of text, whatever it holds, even split across reads", () => {
  const d = new KeyDecoder();
  const lines = Array.from({ length: 2000 }, (_, i) => `line ${i}`).join("\r");
  const all = bytes(`x\x1b[200~${lines}\x1b[201~y`);
  const keys: Key[] = [];
  for (let at = 0; at < all.length; at += 997) keys.push(...d.feed(all.subarray(at, at + 997)));
  assert.deepEqual(keys.map((k) => k.type), ["text", "paste", "text"]);
  const paste = keys[1] as Extract<Key, { type: "paste" }>;
  assert.equal(paste.text, lines);
  assert.equal(paste.truncated, false);
  // Inside a paste, Enter, Ctrl-C and escape sequences are text, not keys.
  const tricky = d.feed(bytes("\x1b[200~a\rb\x03\x1b[2Jc\x1b[201~"));
  assert.deepEqual(tricky.map((k) => k.type), ["paste"]);
  const e = new LineEditor();
  e.apply(paste);
  assert.equal(e.text.split("\n").length, 2000, "every line is kept, as one message");
  e.apply({ type: "kill-start" });
  e.apply(tricky[0]);
  assert.equal(e.text, "a\nb[2Jc", "controls are dropped, line breaks kept");
  // More than the limit is cut and marked.
  const big = d.feed(bytes(`\x1b[200~${"z".repeat(MAX_PASTE_BYTES + 10)}\x1b[201~`));
  assert.equal((big[0] as Extract<Key, { type: "paste" }>).truncated, true);
  assert.equal((big[0] as Extract<Key, { type: "paste" }>).text.length, MAX_PASTE_BYTES);
});
