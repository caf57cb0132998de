// The two user interfaces over a relay in memory (tests/client/_fake.ts): line mode reads commands and
// texts and prints plain lines or JSON events (peer-controlled text made harmless), ends with its input;
// the terminal UI, driven with keys on a fake terminal, shows the chat list, the conversation with
// delivery marks and the status line, and leaves the screen and raw mode cleanly on Ctrl-C.

import assert from "node:assert/strict";
import { formatId, generateIdentity } from "../../protocol/identity.ts";
import { type AppHandle, handleLine } from "../../client/app.ts";
import { eventToJson } from "../../client/events.ts";
import { lineSink, readLines, runLineMode } from "../../client/linemode.ts";
import { type TerminalIo, Tui } from "../../client/tui.ts";
import { type FakeRelay, type User, withWorld as sharedWorld } from "./_fake.ts";
import { VirtualTerminal } from "./_vt.ts";

/** A world (see _fake.ts) whose two users are already connected. */
function withWorld(fn: (relay: FakeRelay, alice: User, bob: User) => Promise<void>) {
  return sharedWorld("sotto-ui-", async (relay, alice, bob) => {
    await relay.connect(alice);
    await relay.connect(bob);
    await fn(relay, alice, bob);
  });
}

/** An app handle over a user's chats, showing events through `show`. */
function handle(user: User, show: (e: (typeof user.events)[number]) => void): AppHandle {
  let finish = (_: number) => {};
  const done = new Promise<number>((r) => (finish = r));
  user.show = show;
  const emit = user.client.options.emit;
  return {
    client: user.client,
    done,
    status: { connection: "online", pin: "P".repeat(43) },
    line: async (text) => {
      if ((await handleLine(user.client, emit, text)) !== "quit") return false;
      finish(0);
      return true;
    },
    quit: () => finish(0),
    error: (message) => emit({ event: "error", message }),
  };
}

Deno.test("line mode: commands and texts in, JSON events out, one per line; the end of input quits", async () => {
  await withWorld(async (relay, alice, bob) => {
    let out = "";
    const app = handle(alice, lineSink(true, (s) => (out += s)));
    async function* input() {
      yield `/chat ${formatId(bob.id)} bob`;
      await relay.settle();
      await handleLine(bob.client, (e) => bob.events.push(e), `/chat ${formatId(alice.id)}`);
      await relay.settle();
      yield "hello from a script";
      yield "/nonsense";
      await relay.settle();
    }
    await runLineMode(app, input());
    assert.equal(await app.done, 0);
    const events = out.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.event), [
      "chat-requested",
      "chat-open",
      "sent",
      "error",
      "queued",
      "delivered",
    ]);
    assert.match(events[3].message, /^There is no command \/nonsense/);
    assert.deepEqual(bob.of("message").map((m) => m.text), ["hello from a script"]);
  });
});

Deno.test("--json: C1 controls, DEL, U+2028/2029 and format characters are escaped; the text is kept", () => {
  const text = "a\x7fb\x85c\u2028d\u2029e\u200ff\u061cg\u202eh\u{e0041}i\x1bj";
  const line = eventToJson({ event: "message", chat: "x", id: 1, line: 1, text, time: "t" });
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f\u2028\u2029\p{Cf}]/u, line);
  assert.match(line, /a\\u007fb\\u0085c\\u2028d\\u2029e\\u200ff\\u061cg\\u202eh\\udb40\\udc41i\\u001bj/);
  assert.equal(JSON.parse(line).text, text, "a JSON reader gets the text exactly");
  let out = "";
  lineSink(true, (s) => (out += s))({ event: "nickname", chat: "x", name: "\u200fevil\u2029" });
  assert.equal(out, '{"v":1,"event":"nickname","chat":"x","name":"\\u200fevil\\u2029"}\n');
});

Deno.test("line mode: plain lines, with anything the peer controls made harmless; /quit stops", async () => {
  await withWorld(async (relay, alice, bob) => {
    let out = "";
    const app = handle(alice, lineSink(false, (s) => (out += s)));
    const lines = readLines(ReadableStream.from([
      new TextEncoder().encode(`/chat ${formatId(bob.id)} bob\r\n`),
    ]));
    await runLineMode(app, lines);
    await handleLine(bob.client, () => {}, `/chat ${formatId(alice.id)}`);
    await relay.settle();
    await handleLine(bob.client, () => {}, "look: \x1b[2J\x1b]0;owned\x07");
    await handleLine(bob.client, () => {}, "pay to \u202eRAB\u202c or \u200fthis\u200e");
    await relay.settle();
    assert.ok(!out.includes("\x1b"), JSON.stringify(out));
    assert.doesNotMatch(out, /\p{Cf}/u);
    assert.match(out, /bob: pay to <U\+202E>RAB<U\+202C> or <U\+200F>this<U\+200E>\n/);
    assert.match(out, /\* asked for a chat with bob/);
    assert.match(out, /\* chat with bob \(.*\) is open \(P-256, post-quantum\)/);
    assert.match(out, /\[\d\d:\d\d #\d+\] bob: look: \ufffd\[2J\ufffd\]0;owned\ufffd\n/);
    const quitting = handle(alice, () => {});
    await runLineMode(
      quitting,
      (async function* () {
        yield "/quit";
        yield "never read";
      })(),
    );
    assert.equal(await quitting.done, 0);
  });
});

/** A terminal of 90×16 that the test types into and reads through a virtual terminal. */
function fakeTerminal() {
  const vt = new VirtualTerminal(90, 16);
  const queue: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  const raw: boolean[] = [];
  const io: TerminalIo = {
    read: async (p) => {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      const chunk = queue.shift()!;
      if (chunk.length > p.length) queue.unshift(chunk.subarray(p.length));
      p.set(chunk.subarray(0, p.length));
      return Math.min(chunk.length, p.length);
    },
    write: (s) => vt.write(s),
    setRaw: (on) => void raw.push(on),
    size: () => ({ columns: 90, rows: 16 }),
    onResize: () => () => {},
  };
  return {
    io,
    vt,
    raw,
    type(text: string) {
      queue.push(new TextEncoder().encode(text));
      wake?.();
    },
  };
}

async function until(test: () => boolean, what: string, vt: VirtualTerminal) {
  for (let i = 0; i < 3000 && !test(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(test(), `${what}; the screen:\n${vt.text()}`);
}

Deno.test("terminal UI: start, ask, send, receive, switch and quit with Ctrl-C", async () => {
  await withWorld(async (relay, alice, bob) => {
    const term = fakeTerminal();
    const tui = new Tui(term.io, { server: "127.0.0.1:6174", curve: "P-521" });
    const app = handle(alice, tui.event);
    const running = tui.run(app);
    const screen = () => term.vt.text();
    await until(
      () => /sotto │ 127\.0\.0\.1:6174 │ pin PPPPPPPP… │ P-521 │ online/.test(screen()),
      "status",
      term.vt,
    );
    assert.ok(term.vt.alternate);
    term.type(`/chat ${formatId(bob.id)} bob\r`);
    await until(() => /\? bob/.test(screen()), "the requested chat in the list", term.vt);
    await handleLine(bob.client, () => {}, `/chat ${formatId(alice.id)}`);
    await relay.settle();
    await until(() => /● bob/.test(screen()), "the open chat", term.vt);
    term.type("hel");
    term.type("lo\x1b[D\x1b[C");
    term.type("\r");
    await relay.settle();
    await until(() => /you: hello ✓✓/.test(screen()), "our line, delivered", term.vt);
    await handleLine(bob.client, () => {}, "hi \x1b[31malice");
    await relay.settle();
    await until(() => /bob: hi \ufffd\[31malice/.test(screen()), "their line, cleaned", term.vt);
    await handleLine(bob.client, () => {}, "/nick \u200fdoB");
    await handleLine(bob.client, () => {}, "reversed: \u202eolleh");
    await relay.settle();
    await until(
      () => /bob: reversed: <U\+202E>olleh/.test(screen()),
      "an override shown, not applied",
      term.vt,
    );
    await until(() => /they call themselves "<U\+200F>doB"/.test(screen()), "a bidi mark in a name", term.vt);
    assert.doesNotMatch(screen(), /\p{Cf}/u);
    term.type("/help\r");
    await until(() => /\/quit +leave \(Ctrl-C and Ctrl-D too\)/.test(screen()), "help", term.vt);
    term.type("\t");
    term.type("\x03");
    await running;
    assert.equal(await app.done, 0);
    assert.ok(!term.vt.alternate, "the main screen is back");
    assert.deepEqual(term.raw, [true, false]);
    assert.deepEqual(bob.of("message").map((m) => m.text), ["hello"]);
  });
});

Deno.test("terminal UI: an offer prompts; a transfer the sender cancels is said once and its bar goes (B5)", async () => {
  await withWorld(async (relay, alice, bob) => {
    await handleLine(alice.client, () => {}, `/chat ${formatId(bob.id)}`);
    await relay.settle();
    await handleLine(bob.client, () => {}, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    const term = fakeTerminal();
    const tui = new Tui(term.io, { server: "127.0.0.1:6174", curve: "P-521" });
    const app = handle(bob, tui.event);
    const running = tui.run(app);
    const screen = () => term.vt.text();
    const dir = await Deno.makeTempDir({ prefix: "sotto-ui-file-" });
    try {
      const path = `${dir}/big.bin`;
      // 8 MiB (256 chunks). Alice stops the transfer the moment bob reports the first part of it: her
      // cancel then comes in the middle of the file, however fast or slow the host is.
      await Deno.writeFile(path, new Uint8Array(8 << 20).fill(7));
      await handleLine(alice.client, () => {}, `/file ${path}`);
      await until(
        () => /alice offers "big\.bin" \(8\.0 MiB\): \/accept or \/decline/.test(screen()),
        "the prompt",
        term.vt,
      );
      let stopped: Promise<void> | null = null;
      const push = bob.events.push.bind(bob.events);
      bob.events.push = (...events) => {
        for (const e of events) {
          if (e.event === "file-progress" && e.bytes > 0) stopped ??= alice.client.transfers.stop();
        }
        return push(...events);
      };
      term.type("/accept\r");
      await until(() => stopped !== null, "some of it has arrived", term.vt);
      await stopped;
      await until(() => bob.of("file-failed").length === 1, "the cancellation", term.vt);
      assert.equal(bob.of("file-failed")[0].reason, "the sender cancelled it");
      await relay.settle();
      await until(() => /was not received \(the chat says why\)/.test(screen()), "the notice", term.vt);
      assert.equal(screen().split("was not received: the sender").length - 1, 1, `said once:\n${screen()}`);
      assert.doesNotMatch(screen(), /receiving big\.bin \[/, "no progress bar is left");
      term.type("\x03");
      await running;
    } finally {
      tui.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("line mode: /begin … /end sends the lines between as one message; it prints marked", async () => {
  await withWorld(async (relay, alice, bob) => {
    let out = "";
    await handleLine(bob.client, () => {}, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    const app = handle(alice, lineSink(false, (s) => (out += s)));
    await runLineMode(
      app,
      (async function* () {
        yield `/chat ${formatId(bob.id)} bob`;
        await relay.settle();
        yield "/begin";
        yield "/nick is not a command here";
        yield "//end is a line too";
        yield "";
        yield "last line";
        yield "/end";
        await relay.settle();
      })(),
    );
    assert.deepEqual(bob.of("message").map((m) => m.text), [
      "/nick is not a command here\n/end is a line too\n\nlast line",
    ]);
    await handleLine(bob.client, () => {}, "one\ntwo\x1b[2J");
    await relay.settle();
    assert.match(out, /\[\d\d:\d\d #\d+\] bob: one\n {2}\| two\ufffd\[2J\n/);
    const long = handle(alice, () => {});
    const lines = ["/begin", ...Array.from({ length: 40 }, () => "x".repeat(1000)), "/end"];
    await runLineMode(
      long,
      (async function* () {
        yield* lines;
      })(),
    );
    assert.match(alice.of("error").at(-1)!.message, /at most 32704 bytes \(this block has more\)/);
  });
});

Deno.test("terminal UI: Alt+Enter and pastes make one message; replies, reactions, edits, marks, withdrawals show", async () => {
  await withWorld(async (relay, alice, bob) => {
    await handleLine(alice.client, () => {}, `/chat ${formatId(bob.id)} bob`);
    await relay.settle();
    await handleLine(bob.client, () => {}, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    await handleLine(alice.client, () => {}, "/verify ok");
    await handleLine(alice.client, () => {}, "/set notify osc");
    await handleLine(alice.client, () => {}, "/set read-receipts on");
    await handleLine(bob.client, () => {}, "/set read-receipts on");
    const term = fakeTerminal();
    let written = "";
    const write = term.io.write;
    term.io.write = (s) => {
      written += s;
      write(s);
    };
    const tui = new Tui(term.io, { server: "127.0.0.1:6174", curve: "P-521" });
    const app = handle(alice, tui.event);
    const running = tui.run(app);
    const screen = () => term.vt.text();
    try {
      await until(() => /^bob ✓> /m.test(screen()), "the verified chat in the prompt", term.vt);
      assert.ok(written.includes("\x1b[?2004h"), "bracketed paste is on");
      term.type("first line\x1b\rsecond line");
      await until(() => /first line↵second line/.test(screen()), "the new line in the input", term.vt);
      term.type("\r");
      await relay.settle();
      assert.deepEqual(bob.of("message").map((m) => m.text), ["first line\nsecond line"]);
      await until(
        () => /#\d+ you: first line *\n.*│ +second line ✓✓ read/.test(screen()),
        "two rows, read",
        term.vt,
      );
      // A paste of 2,000 lines is one message, said before Enter sends it.
      const pasted = Array.from({ length: 2000 }, (_, i) => `row ${i}`).join("\r\n");
      term.type(`\x1b[200~${pasted}\x1b[201~`);
      await until(
        () => /Pasted 2000 lines: Enter sends them as one message/.test(screen()),
        "the paste",
        term.vt,
      );
      term.type("\r");
      await relay.settle();
      await until(() => bob.of("message").length === 2, "one message", term.vt);
      assert.equal(bob.of("message")[1].text.split("\n").length, 2000);
      // A reply, a reaction and an edit from bob, and a notification while the terminal is not focused.
      term.type("\x1b[O");
      const first = bob.of("message")[0].line;
      await handleLine(bob.client, () => {}, `/reply ${first} got both lines`);
      await handleLine(bob.client, () => {}, `/react ${first} 👍`);
      await handleLine(bob.client, () => {}, "/edit got both lines, thanks");
      await relay.settle();
      await until(() => /↪ you #\d+: first line second line/.test(screen()), "the quote", term.vt);
      await until(() => /got both lines, thanks \(edited\)/.test(screen()), "the edit", term.vt);
      const reacted = tui.model().lines.find((l) => l.text === "first line\nsecond line");
      assert.deepEqual([reacted?.extra, reacted?.mark], ["[👍 bob]", "✓✓ read"]);
      assert.ok(written.includes("\x1b]9;sotto: a new message from bob\x07"), "an OSC 9 notification");
      assert.deepEqual([...new Set(term.vt.osc)], ["9;sotto: a new message from bob"]);
      // What a delete for everyone did at the relay is said on the status line.
      tui.event({ event: "withdrawn", chat: formatId(bob.id), nick: "bob", outcome: "withdrawn", line: 7 });
      await until(
        () => /#7 was withdrawn from the relay: bob never got it/.test(screen()),
        "withdrawn",
        term.vt,
      );
      // /clear clears the screen only.
      term.type("/clear\r");
      await until(() => !/got both lines/.test(screen()), "a clear screen", term.vt);
      assert.ok(alice.client.chat(bob.id)!.history.some((h) => h.text === "got both lines, thanks"));
      term.type("\x03");
      await running;
    } finally {
      tui.close();
    }
  });
});

Deno.test("terminal UI: the unread line marks where unread messages start, Alt-U goes back to it", async () => {
  await withWorld(async (relay, alice, bob) => {
    await handleLine(alice.client, () => {}, `/chat ${formatId(bob.id)} bob`);
    await relay.settle();
    await handleLine(bob.client, () => {}, `/chat ${formatId(alice.id)} alice`);
    await relay.settle();
    await handleLine(alice.client, () => {}, `/chat ${formatId(generateIdentity().id)} carol`);
    for (let i = 1; i <= 30; i++) await handleLine(bob.client, () => {}, `unread ${i}`);
    await relay.settle();
    const term = fakeTerminal();
    const tui = new Tui(term.io, { server: "127.0.0.1:6174", curve: "P-521" });
    const app = handle(alice, tui.event);
    const running = tui.run(app);
    const screen = () => term.vt.text();
    try {
      await until(() => /bob \(30\)/.test(screen()), "the unread count", term.vt);
      term.type("/switch bob\r");
      // Thirty lines do not fit: the pane opens at the marker.
      await until(() => /─ 30 unread ─/.test(screen()), "the unread line", term.vt);
      assert.match(screen(), /bob: unread 1\b/);
      term.type("\x1b[6~\x1b[6~\x1b[6~");
      await until(() => /bob: unread 30/.test(screen()), "the bottom", term.vt);
      term.type("\x1bu");
      await until(() => /─ 30 unread ─/.test(screen()), "back at the marker", term.vt);
      term.type("\x03");
      await running;
    } finally {
      tui.close();
    }
  });
});
