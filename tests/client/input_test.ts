// Keyboard input: escape sequences and UTF-8 characters split across reads, control keys, and the line
// editor's movement, deletion and history.

import assert from "node:assert/strict";
import { type Key, KeyDecoder, LineEditor } from "../../client/input.ts";

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
      : { type: k as Exclude<Key["type"], "text"> };
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
