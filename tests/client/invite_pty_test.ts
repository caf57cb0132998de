// /invite in the terminal UI, in a real pseudo-terminal of 80×24 (util-linux `script`) against a real
// relay: the invitation's screen shows the string on its first rows and a QR code that zbarimg reads back
// to it; any key returns to the chats; a second client started with that invitation asks for the chat.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientProcess, RelayProcess } from "../../client/driver.ts";
import { parseInvitation } from "../../protocol/invite.ts";
import { peerMissing } from "../_peers.ts";
import { pgm, qrOnScreen, zbar } from "./_qrtext.ts";
import { hasScript, PtyClient } from "./_pty.ts";

Deno.test({
  name: "terminal UI in a pseudo-terminal: /invite shows the invitation and a QR code that reads back",
  ignore: !hasScript || peerMissing("zbarimg"),
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "sotto-invite-pty-" });
    const relay = await RelayProcess.start(join(root, "relay"));
    const spec = { dataDir: join(root, "alice"), port: relay.port, pin: relay.pin, passphrase: "alice pass" };
    const pty = new PtyClient(spec, 80, 24);
    const vt = pty.vt;
    const type = (keys: string) => pty.type(keys);
    const screen = (pattern: RegExp, what: string) => pty.screen(pattern, what);
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
      const status = await pty.exited();
      assert.equal(status.code, 0, pty.raw.slice(-500));
      assert.equal(await pty.errors, "");
    } finally {
      await pty.close();
      await bob?.kill();
      await relay.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
