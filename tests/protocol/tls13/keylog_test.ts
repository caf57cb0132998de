// io/keylog.ts: SSLKEYLOGFILE set → NSS key-log lines appended to that file (created 0600), one per
// secret, as the state machines emit them; unset → no key log at all.
import assert from "node:assert/strict";
import { keyLogFromEnv } from "../../../io/keylog.ts";
import { handshake, KEY_LOG_LABELS, makePair, testIdentity } from "./_helpers.ts";

Deno.test("key log: unset SSLKEYLOGFILE gives no callback, so nothing is written", () => {
  const previous = Deno.env.get("SSLKEYLOGFILE");
  Deno.env.delete("SSLKEYLOGFILE");
  try {
    assert.equal(keyLogFromEnv(), undefined);
  } finally {
    if (previous !== undefined) Deno.env.set("SSLKEYLOGFILE", previous);
  }
});

Deno.test("key log: SSLKEYLOGFILE collects both sides' lines of a handshake, appended", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-keylog-" });
  const previous = Deno.env.get("SSLKEYLOGFILE");
  try {
    const path = `${dir}/keys.log`;
    Deno.env.set("SSLKEYLOGFILE", path);
    const keyLog = keyLogFromEnv();
    assert.ok(keyLog);
    const p = makePair(testIdentity(), { keyLog }, { keyLog }, "keylog file");
    handshake(p);
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    assert.equal(lines.length, 10, "five secrets from each side");
    for (const label of KEY_LOG_LABELS) {
      const mine = lines.filter((l) => l.startsWith(label + " "));
      assert.equal(mine.length, 2);
      assert.equal(mine[0], mine[1], `${label}: client and server agree`);
      assert.match(mine[0], /^[A-Z_0]+ [0-9a-f]{64} [0-9a-f]{96}$/);
    }
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    if (previous === undefined) Deno.env.delete("SSLKEYLOGFILE");
    else Deno.env.set("SSLKEYLOGFILE", previous);
    await Deno.remove(dir, { recursive: true });
  }
});
