// /invite in the terminal UI, in a real pseudo-terminal of 80×24 (util-linux `script`) against a real
// relay: the invitation's screen shows the string on its first rows and a QR code that zbarimg reads back
// to it; any key returns to the chats; a second client started with that invitation asks for the chat.

import assert from "node:assert/strict";
import { join } from "node:path";
import { clientArgs, ClientProcess, denoCommand, RelayProcess } from "../../client/driver.ts";
import { parseInvitation } from "../../protocol/invite.ts";
import { peerMissing } from "../_peers.ts";
import { pgm, qrOnScreen, zbar } from "./_qrtext.ts";
import { VirtualTerminal } from "./_vt.ts";

const hasScript = await new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

/** Quotes a word for `sh -c`. */
const sh = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

Deno.test({
  name: "terminal UI in a pseudo-terminal: /invite shows the invitation and a QR code that reads back",
  ignore: !hasScript || peerMissing("zbarimg"),
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "sotto-invite-pty-" });
    const relay = await RelayProcess.start(join(root, "relay"));
    const spec = { dataDir: join(root, "alice"), port: relay.port, pin: relay.pin, passphrase: "alice pass" };
    const command = [denoCommand(), ...clientArgs(spec, false)].map(sh).join(" ");
    const tui = new Deno.Command("script", {
      args: ["-q", "-e", "-c", `stty cols 80 rows 24 && exec ${command}`, "/dev/null"],
      env: { SOTTO_PASSPHRASE: "alice pass", TERM: "xterm" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const vt = new VirtualTerminal(80, 24);
    let raw = "";
    const output = (async () => {
      for await (const chunk of tui.stdout.pipeThrough(new TextDecoderStream())) {
        raw += chunk;
        vt.write(chunk);
      }
    })();
    const errors = new Response(tui.stderr).text();
    const keys = tui.stdin.getWriter();
    const type = (s: string) => keys.write(new TextEncoder().encode(s));
    const screen = async (pattern: RegExp, what: string) => {
      for (let i = 0; i < 600 && !pattern.test(vt.text()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(vt.text(), pattern, `${what}; the screen:\n${vt.text()}`);
    };
    let bob: ClientProcess | null = null;
    try {
      await screen(/│ P-521 │ online/, "the status line");
      await type("/invite\r");
      await screen(/Any key/, "the invitation's screen");
      const lines = vt.lines();
      const invitation = lines.slice(0, 2).join("").trimEnd();
      assert.equal(parseInvitation(invitation).pin, relay.pin);
      assert.equal(await zbar(pgm(qrOnScreen(lines))), invitation, "the QR code on the screen");
      await type("x");
      await screen(/│ P-521 │ online/, "back to the chats");
      assert.doesNotMatch(vt.text(), /Any key/);
      assert.doesNotMatch(vt.text(), /> x/, "the key only closed the screen");
      // The invitation is kept among the notes, and works.
      await screen(/Your invitation: sotto:\/\//, "the note");
      bob = ClientProcess.start({
        dataDir: join(root, "bob"),
        port: relay.port,
        passphrase: "bob passphrase",
        host: invitation,
      });
      await bob.waitFor((e) => e.event === "chat-requested", "bob asks for alice", 60_000);
      await type("\x03");
      const status = await tui.status;
      await output;
      assert.equal(status.code, 0, raw.slice(-500));
      assert.equal(await errors, "");
    } finally {
      await keys.close().catch(() => {});
      try {
        tui.kill("SIGKILL");
      } catch {
        // already gone
      }
      await tui.status;
      await output;
      await errors;
      await bob?.kill();
      await relay.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
