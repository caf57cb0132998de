// The two user interfaces over a relay in memory (tests/client/_fake.ts): line mode reads commands and
// texts and prints plain lines or JSON events (peer-controlled text made harmless), ends with its input;
// the terminal UI, driven with keys on a fake terminal, shows the chat list, the conversation with
// delivery marks and the status line, and leaves the screen and raw mode cleanly on Ctrl-C.

import assert from "node:assert/strict";
import { formatId } from "../../protocol/identity.ts";
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
  assert.equal(out, '{"event":"nickname","chat":"x","name":"\\u200fevil\\u2029"}\n');
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
    assert.match(out, /\* chat with bob \(.*\) is open \(P-256\)/);
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
      p.set(chunk);
      return chunk.length;
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
  for (let i = 0; i < 200 && !test(); i++) await new Promise((r) => setTimeout(r, 10));
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
      await Deno.writeFile(path, new Uint8Array(1 << 20).fill(7));
      await handleLine(alice.client, () => {}, `/file ${path}`);
      await until(
        () => /alice offers "big\.bin" \(1\.0 MiB\): \/accept or \/decline/.test(screen()),
        "the prompt",
        term.vt,
      );
      // Alice's writes are held: what she streams waits in her queue until she has cancelled.
      alice.store.hold();
      term.type("/accept\r");
      for (let i = 0; i < 50 && !alice.events.some((e) => e.event === "file-accepted"); i++) {
        await relay.settle();
      }
      await alice.client.transfers.stop();
      alice.store.release();
      await until(() => bob.of("file-failed").length === 1, "the cancellation", term.vt);
      assert.equal(bob.of("file-failed")[0].reason, "the sender cancelled it");
      await relay.settle();
      await until(() => /was not received \(the chat says why\)/.test(screen()), "the notice", term.vt);
      assert.equal(screen().split("was not received: the sender").length - 1, 1, `said once:\n${screen()}`);
      assert.doesNotMatch(screen(), /receiving big\.bin \[/, "no progress bar is left");
      assert.ok(bob.of("file-progress").some((e) => e.bytes > 0), "some of it had arrived");
      term.type("\x03");
      await running;
    } finally {
      tui.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
