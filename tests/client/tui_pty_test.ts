// The terminal UI in a real pseudo-terminal (util-linux `script`), against a real relay and a peer in
// line mode: it starts (identity made, status line shown), sends, receives, and quits on Ctrl-C,
// restoring the terminal, with no stack trace anywhere in its output.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientProcess, RelayProcess } from "../../client/driver.ts";
import type { ClientEvent } from "../../client/events.ts";
import { hasScript, PtyClient } from "./_pty.ts";

Deno.test({
  name: "terminal UI in a pseudo-terminal: start, send, receive, quit",
  ignore: !hasScript,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "sotto-pty-" });
    const relay = await RelayProcess.start(join(root, "relay"));
    const bob = ClientProcess.start({
      dataDir: join(root, "bob"),
      port: relay.port,
      pin: relay.pin,
      passphrase: "bob passphrase",
    });
    const spec = { dataDir: join(root, "alice"), port: relay.port, pin: relay.pin, passphrase: "alice pass" };
    const pty = new PtyClient(spec, 100, 24);
    const vt = pty.vt;
    const type = (keys: string) => pty.type(keys);
    const screen = (pattern: RegExp, what: string) => pty.screen(pattern, what);
    const event = async <K extends ClientEvent["event"]>(kind: K) =>
      await bob.waitFor((e) => e.event === kind, kind, 30_000) as Extract<ClientEvent, { event: K }>;
    try {
      const me = await screen(/You are ([0-9a-z]{4}(?:-[0-9a-z]{4}){7}-[0-9a-z])\./, "the ID after start");
      await screen(/│ P-521 │ online/, "the status line");
      const b = await event("ready");
      await type(`/chat ${b.id} bob\r`);
      await screen(/\? bob/, "the requested chat");
      await bob.send(`/chat ${me[1]} alice`);
      await screen(/● bob/, "the open chat");
      await type("hello from the terminal\r");
      assert.equal((await event("message")).text, "hello from the terminal");
      await screen(/you: hello from the terminal ✓✓/, "delivered mark");
      await bob.send("hello back");
      await screen(/bob: hello back/, "the reply");
      await type("\x03");
      const status = await pty.exited();
      assert.equal(status.code, 0, pty.raw.slice(-500));
      assert.ok(!vt.alternate, "the alternate screen was left");
      assert.ok(pty.raw.endsWith("\x1b[?1049l"), "the terminal was restored last");
      assert.equal(await pty.errors, "");
      assert.doesNotMatch(pty.raw, /\bat .*\.ts:\d+/, "no stack trace");
    } finally {
      await pty.close();
      await bob.kill();
      await relay.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "terminal UI in a pseudo-terminal: Alt+Enter, a bracketed paste, a reply, a reaction, the bell",
  ignore: !hasScript,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "sotto-pty-" });
    const relay = await RelayProcess.start(join(root, "relay"));
    const bob = ClientProcess.start({
      dataDir: join(root, "bob"),
      port: relay.port,
      pin: relay.pin,
      passphrase: "bob passphrase",
    });
    const spec = { dataDir: join(root, "alice"), port: relay.port, pin: relay.pin, passphrase: "alice pass" };
    const pty = new PtyClient(spec, 100, 30);
    const vt = pty.vt;
    const type = (keys: string) => pty.type(keys);
    const screen = (pattern: RegExp, what: string) => pty.screen(pattern, what);
    const event = async <K extends ClientEvent["event"]>(
      kind: K,
      test: (e: Extract<ClientEvent, { event: K }>) => boolean = () => true,
    ) =>
      await bob.waitFor(
        (e) => e.event === kind && test(e as Extract<ClientEvent, { event: K }>),
        kind,
        30_000,
      ) as Extract<ClientEvent, { event: K }>;
    try {
      const me = await screen(/You are ([0-9a-z]{4}(?:-[0-9a-z]{4}){7}-[0-9a-z])\./, "the ID after start");
      assert.ok(pty.raw.includes("\x1b[?2004h"), "bracketed paste was turned on");
      const b = await event("ready");
      await type(`/chat ${b.id} bob\r`);
      await bob.send(`/chat ${me[1]} alice`);
      await screen(/● bob/, "the open chat");
      await type("/verify ok\r");
      await screen(/^bob ✓> /m, "the verified chat in the prompt");
      // Alt+Enter is ESC CR: a new line in the message, not Enter.
      await type("two\x1b\rlines\r");
      assert.equal((await event("message")).text, "two\nlines");
      // A paste of 300 lines arrives as one message, announced before Enter sends it.
      const pasted = Array.from({ length: 300 }, (_, i) => `pasted ${i}`).join("\r");
      await type(`\x1b[200~${pasted}\x1b[201~`);
      await screen(/Pasted 300 lines: Enter sends them as one message/, "the paste notice");
      await type("\r");
      const big = await event("message", (e) => e.text.startsWith("pasted 0"));
      assert.equal(big.text.split("\n").length, 300);
      // Bob answers the first message and reacts to it; the bell rings while alice's terminal is away.
      await type("/set notify bell\r");
      await type("\x1b[O");
      const first = bob.events.find((e) => e.event === "message") as Extract<
        ClientEvent,
        { event: "message" }
      >;
      await bob.send(`/reply ${first.line} got it`);
      await bob.send(`/react ${first.line} 👍`);
      await screen(/↪ you #\d+: two lines/, "the quote above the reply");
      await screen(/bob: got it/, "the reply");
      await type("/history 3\r");
      await screen(/#\d+ \d\d:\d\d you: two lines/, "the history line");
      assert.ok(vt.bells > 0, "the bell rang");
      await type("\x03");
      const status = await pty.exited();
      assert.equal(status.code, 0, pty.raw.slice(-500));
      assert.ok(!vt.alternate, "the alternate screen was left");
      assert.ok(pty.raw.includes("\x1b[?2004l"), "bracketed paste was turned off");
      assert.equal(await pty.errors, "");
    } finally {
      await pty.close();
      await bob.kill();
      await relay.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
