// Drawing: text a peer controls can never reach the terminal as control characters, widths of wide and
// combining characters, wrapping, and a whole frame laid out within the terminal's size.

import assert from "node:assert/strict";
import {
  charWidth,
  chatRows,
  clean,
  progressBar,
  render,
  type ScreenModel,
  textWidth,
  wrap,
} from "../../client/screen.ts";
import { VirtualTerminal } from "./_vt.ts";

Deno.test("screen: clean removes every control and direction override", () => {
  assert.equal(clean("a\x1b[2J\x1b]0;title\x07b"), "a\ufffd[2J\ufffd]0;title\ufffdb");
  assert.equal(clean("x\u009b31my\x7f"), "x\ufffd31my\ufffd");
  assert.equal(clean("line\nbreak\r\u2028\u2029"), "line\ufffdbreak\ufffd\ufffd\ufffd");
  assert.equal(clean("tab\there"), "tab here");
  assert.equal(clean("plain ✓ 日本"), "plain ✓ 日本");
});

Deno.test("screen: format characters (category Cf) are shown as escapes, never applied", () => {
  // Direction overrides and isolates, the bidi marks U+200E, U+200F and U+061C.
  assert.equal(clean("abc\u202edef\u2066"), "abc<U+202E>def<U+2066>");
  assert.equal(clean("invoice\u200fgpj.exe"), "invoice<U+200F>gpj.exe");
  assert.equal(clean("\u200eleft \u061carabic"), "<U+200E>left <U+061C>arabic");
  // The rest of Cf: zero-width space and joiners, word joiner, soft hyphen, BOM, tag characters.
  assert.equal(clean("a\u200bb\u200cc\u2060d\u00ade\ufeff"), "a<U+200B>b<U+200C>c<U+2060>d<U+00AD>e<U+FEFF>");
  assert.equal(clean("hi\u{e0041}\u{e007f}"), "hi<U+E0041><U+E007F>");
  assert.equal(clean("a\u200db"), "a<U+200D>b");
  // A zero-width joiner inside an emoji sequence is what draws it: kept.
  assert.equal(clean("👩\u200d💻 👨\u200d👩\u200d👧 👩🏽\u200d🚀"), "👩\u200d💻 👨\u200d👩\u200d👧 👩🏽\u200d🚀");
  for (const ch of ["\u200e", "\u200f", "\u061c", "\u2067", "\u{e0020}"]) {
    assert.doesNotMatch(clean(`x${ch}y`), /\p{Cf}/u, JSON.stringify(ch));
  }
});

Deno.test("screen: widths and wrapping", () => {
  assert.equal(charWidth("a"), 1);
  assert.equal(charWidth("日"), 2);
  assert.equal(charWidth("😀"), 2);
  assert.equal(charWidth("\u0301"), 0);
  assert.equal(textWidth("e\u0301日"), 3);
  assert.deepEqual(wrap("the quick brown fox", 10), ["the quick", "brown fox"]);
  assert.deepEqual(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
  assert.deepEqual(wrap("日本語", 3), ["日", "本", "語"]);
  for (const row of wrap("word ".repeat(40), 17)) assert.ok(textWidth(row) <= 17);
});

Deno.test("screen: chat rows show time, sender, text and marks, cleaned", () => {
  const t = new Date(2026, 0, 2, 9, 5).getTime();
  const rows = chatRows([
    { time: t, who: "you", name: "", text: "hi", mark: "✓✓" },
    { time: t, who: "peer", name: "bo\x1bb", text: "evil\x1b[2J", mark: "" },
  ], 80);
  assert.equal(rows[0].text, "09:05 you: hi ✓✓");
  assert.equal(rows[1].text, "09:05 bo\ufffdb: evil\ufffd[2J");
  // A reply's quote above it, its number, a multi-line text under its first row, reactions and marks.
  const more = chatRows([
    {
      time: t,
      who: "peer",
      name: "bob",
      text: "one\ntwo\x1b",
      mark: "",
      seq: 41,
      quote: "you #40: hello",
      extra: "(edited) [👍 you]",
    },
    { time: t, who: "marker", name: "", text: "2 unread", mark: "" },
    { time: t, who: "you", name: "", text: "gone", mark: "✓✓", seq: 42, deleted: true },
  ], 40);
  assert.deepEqual(more.map((r) => r.text), [
    "      ↪ you #40: hello",
    "09:05 #41 bob: one",
    "      two\ufffd (edited) [👍 you]",
    "─".repeat(15) + " 2 unread " + "─".repeat(15),
    "09:05 #42 you: (deleted) ✓✓",
  ]);
  assert.deepEqual(more.map((r) => r.line), [0, 0, 0, 1, 2]);
  assert.equal(
    progressBar({ name: "a.bin", bytes: 512 * 1024, size: 1024 * 1024, direction: "send" }, 60),
    "sending a.bin [#############.............]  50% 0.5/1.0 MiB",
  );
});

function model(over: Partial<ScreenModel> = {}): ScreenModel {
  return {
    width: 80,
    height: 12,
    status: { server: "127.0.0.1:6174", pin: "AbCdEfGhIjKl", curve: "P-521", connection: "online" },
    chats: [
      { label: "bob", unread: 0, state: "open", online: true },
      { label: "carol\x1b[31m", unread: 3, state: "requested", online: false },
    ],
    active: 0,
    lines: [{ time: 0, who: "peer", name: "bob", text: "hello \x1b]0;pwned\x07", mark: "" }],
    scroll: 0,
    notice: null,
    progress: null,
    input: { chars: [..."typing"], cursor: 6 },
    ...over,
  };
}

Deno.test("screen: a frame fits the terminal and shows status, list, chat and input", () => {
  const frame = render(model());
  // The only escape sequences are ours: cursor moves, colours, cursor visibility.
  // deno-lint-ignore no-control-regex
  const stripped = frame.replace(/\x1b\[(\d+;\d+H|\d*m|\?25[hl])/g, "");
  assert.ok(!stripped.includes("\x1b"), "no escape sequence came from the data");
  const vt = new VirtualTerminal(80, 12);
  vt.write(frame);
  const screen = vt.lines();
  assert.match(screen[0], /sotto │ 127\.0\.0\.1:6174 │ pin AbCdEfGh… │ P-521 │ online/);
  assert.match(screen[1], /^>● bob/);
  assert.match(screen[2], /^ \? carol\ufffd\[31m \(3\)/);
  assert.ok(screen.some((l) => l.includes("bob: hello \ufffd]0;pwned\ufffd")));
  assert.match(screen[10], /Tab switches chats/);
  assert.equal(screen[11].trimEnd(), "> typing");
  assert.deepEqual(vt.cursor, { row: 11, column: 8 });
  for (const line of screen) assert.ok(textWidth(line) <= 80);
});

Deno.test("screen: narrow terminals hide the list; long input scrolls to the cursor", () => {
  const vt = new VirtualTerminal(40, 8);
  vt.write(render(model({ width: 40, height: 8, input: { chars: [..."x".repeat(100)], cursor: 100 } })));
  const screen = vt.lines();
  assert.ok(!screen.some((l) => l.includes("carol")));
  assert.equal(screen[7], "> " + "x".repeat(37) + " ");
  assert.equal(vt.cursor.column, 39);
  // The active chat stays in sight in the prompt, cut to a third of the width; line breaks show as ↵.
  const narrow = new VirtualTerminal(30, 8);
  narrow.write(
    render(
      model({
        width: 30,
        height: 8,
        prompt: "a very long nickname ✓",
        input: { chars: [..."a\nb"], cursor: 3 },
      }),
    ),
  );
  assert.equal(narrow.lines()[7].trimEnd(), "a very l> a↵b");
  vt.write(render(model({
    width: 40,
    height: 8,
    progress: { name: "big.iso", bytes: 1, size: 4, direction: "receive" },
  })));
  assert.match(vt.lines()[6], /^receiving big\.iso \[#+\.+\] {2}25%/);
});
