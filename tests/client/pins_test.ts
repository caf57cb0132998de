// Trust on first use and --pin: the first pin for a host:port is stored, later ones must match, a
// mismatch is refused with one sentence naming both pins and what to do; --pin is exact and stored (it
// replaces a stored pin); an invitation's pin is exact, stored on first use, and never replaces one.

import assert from "node:assert/strict";
import { checkPin, KNOWN_SERVERS_FILE, PinMismatchError } from "../../client/pins.ts";
import { spkiPin } from "../../protocol/tls13/x509.ts";
import { encodeEcSpki } from "../../crypto/der.ts";
import { p521 } from "../../crypto/p521.ts";

function randomPin(): string {
  return spkiPin(encodeEcSpki(p521.oid, p521.getPublicKey(p521.randomSecretKey(), false)));
}

async function withDataDir(fn: (dataDir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-pins-" });
  try {
    await fn(`${root}/client`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function stored(dataDir: string): Promise<Record<string, string>> {
  return JSON.parse(await Deno.readTextFile(`${dataDir}/${KNOWN_SERVERS_FILE}`)).servers;
}

Deno.test("pins: first use stores the pin, the same pin then matches", async () => {
  await withDataDir(async (dataDir) => {
    const pin = randomPin();
    const first = await checkPin({ dataDir, host: "127.0.0.1", port: 6174, pin });
    assert.equal(first.trusted, "first-use");
    assert.equal(first.file, `${dataDir}/${KNOWN_SERVERS_FILE}`);
    assert.deepEqual(await stored(dataDir), { "127.0.0.1:6174": pin });
    assert.equal((await Deno.stat(first.file)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    assert.equal((await checkPin({ dataDir, host: "127.0.0.1", port: 6174, pin })).trusted, "matched");
    // Pins are per host:port; names are case-insensitive and IPv6 literals canonical.
    const other = randomPin();
    assert.equal(
      (await checkPin({ dataDir, host: "127.0.0.1", port: 6175, pin: other })).trusted,
      "first-use",
    );
    assert.equal((await checkPin({ dataDir, host: "Relay.Example.", port: 1, pin })).trusted, "first-use");
    assert.equal((await checkPin({ dataDir, host: "relay.example", port: 1, pin })).trusted, "matched");
    assert.equal((await checkPin({ dataDir, host: "0:0::1", port: 2, pin })).trusted, "first-use");
    assert.equal((await checkPin({ dataDir, host: "[::1]", port: 2, pin })).trusted, "matched");
    assert.deepEqual(await stored(dataDir), {
      "127.0.0.1:6174": pin,
      "127.0.0.1:6175": other,
      "[::1]:2": pin,
      "relay.example:1": pin,
    });
    const names: string[] = [];
    for await (const e of Deno.readDir(dataDir)) names.push(e.name);
    assert.deepEqual(names, [KNOWN_SERVERS_FILE], "no temporary files are left");
  });
});

Deno.test("pins: a different pin is refused with one sentence naming both pins and how to proceed", async () => {
  await withDataDir(async (dataDir) => {
    const pin = randomPin(), changed = randomPin();
    await checkPin({ dataDir, host: "localhost", port: 6174, pin });
    await assert.rejects(checkPin({ dataDir, host: "localhost", port: 6174, pin: changed }), (e) => {
      assert.ok(e instanceof PinMismatchError);
      assert.equal(e.expected, pin);
      assert.equal(e.actual, changed);
      assert.equal(e.server, "localhost:6174");
      assert.ok(e.message.includes(pin) && e.message.includes(changed), e.message);
      assert.match(e.message, /remove the "localhost:6174" entry/);
      assert.match(e.message, /--pin/);
      assert.ok(!e.message.includes("\n"));
      assert.equal(e.message.split(/[.!?](\s|$)/).filter((s) => s?.trim()).length, 1, e.message);
      return true;
    });
    // Nothing was changed: the stored pin still matches, the new one is still refused.
    assert.deepEqual(await stored(dataDir), { "localhost:6174": pin });
    assert.equal((await checkPin({ dataDir, host: "localhost", port: 6174, pin })).trusted, "matched");
  });
});

Deno.test("pins: --pin must match exactly, is stored as a first use would be, and overrides the store", async () => {
  await withDataDir(async (dataDir) => {
    const pin = randomPin(), wrong = randomPin();
    await assert.rejects(checkPin({ dataDir, host: "127.0.0.1", port: 6174, pin, expected: wrong }), (e) => {
      assert.ok(e instanceof PinMismatchError);
      assert.ok(e.message.includes(pin) && e.message.includes(wrong), e.message);
      assert.match(e.message, /given with --pin/);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
    await assert.rejects(
      Deno.stat(`${dataDir}/${KNOWN_SERVERS_FILE}`),
      Deno.errors.NotFound,
      "nothing stored",
    );
    const ok = await checkPin({ dataDir, host: "127.0.0.1", port: 6174, pin, expected: pin });
    assert.equal(ok.trusted, "pinned");
    assert.deepEqual(await stored(dataDir), { "127.0.0.1:6174": pin });
    // Later connections without --pin match it.
    assert.equal((await checkPin({ dataDir, host: "127.0.0.1", port: 6174, pin })).trusted, "matched");
    // A stored pin does not outvote an explicit --pin: the new one replaces it (a relay's changed key).
    await checkPin({ dataDir, host: "127.0.0.1", port: 6175, pin: wrong });
    assert.equal(
      (await checkPin({ dataDir, host: "127.0.0.1", port: 6175, pin, expected: pin })).trusted,
      "pinned",
    );
    assert.deepEqual(await stored(dataDir), { "127.0.0.1:6174": pin, "127.0.0.1:6175": pin });
    // The same with the pins kept in the keystore.
    const kept = new Map<string, string>();
    const store = {
      get: (s: string) => kept.get(s),
      set: (s: string, p: string) => Promise.resolve(void kept.set(s, p)),
    };
    await checkPin({ dataDir, host: "h", port: 1, pin, expected: pin, store });
    assert.deepEqual([...kept], [["h:1", pin]]);
    // Malformed pins.
    await assert.rejects(
      checkPin({ dataDir, host: "h", port: 1, pin, expected: pin.slice(1) }),
      /--pin must be/,
    );
    await assert.rejects(
      checkPin({ dataDir, host: "h", port: 1, pin, expected: pin + "=" }),
      /--pin must be/,
    );
    await assert.rejects(checkPin({ dataDir, host: "h", port: 1, pin: "x" }), RangeError);
    await assert.rejects(checkPin({ dataDir, host: "h", port: 0, pin }), RangeError);
    await assert.rejects(checkPin({ dataDir, host: "h", port: 1.5, pin }), TypeError);
  });
});

Deno.test("pins: a damaged store is an error naming the file", async () => {
  await withDataDir(async (dataDir) => {
    const pin = randomPin();
    await checkPin({ dataDir, host: "h", port: 1, pin });
    const file = `${dataDir}/${KNOWN_SERVERS_FILE}`;
    for (
      const text of [
        "{",
        "[]",
        '{"version": 2, "servers": {}}',
        '{"version": 1, "servers": {"h:1": "short"}}',
      ]
    ) {
      await Deno.writeTextFile(file, text);
      await assert.rejects(
        checkPin({ dataDir, host: "h", port: 1, pin }),
        (e) =>
          e instanceof Error && e.message.startsWith(`${file} is damaged`) && /remove it/.test(e.message),
      );
    }
  });
});

Deno.test("pins: an invitation's pin must match, is stored on first use, and never replaces a stored pin", async () => {
  await withDataDir(async (dataDir) => {
    const pin = randomPin(), other = randomPin();
    const invitation = {
      dataDir,
      host: "relay.example",
      port: 6174,
      expected: pin,
      expectedFrom: "invitation" as const,
    };
    await assert.rejects(checkPin({ ...invitation, pin: other }), (e) => {
      assert.ok(e instanceof PinMismatchError);
      assert.match(e.message, /not the pin .* in the invitation/);
      return true;
    });
    await assert.rejects(Deno.stat(`${dataDir}/${KNOWN_SERVERS_FILE}`), Deno.errors.NotFound);
    assert.equal((await checkPin({ ...invitation, pin })).trusted, "pinned");
    assert.deepEqual(await stored(dataDir), { "relay.example:6174": pin });
    assert.equal((await checkPin({ ...invitation, pin })).trusted, "matched");
    assert.equal((await checkPin({ dataDir, host: "relay.example", port: 6174, pin })).trusted, "matched");
    // A relay whose stored pin differs from the invitation's: refused, whatever the invitation says.
    await checkPin({ dataDir, host: "relay.example", port: 1, pin: other });
    await assert.rejects(checkPin({ ...invitation, port: 1, pin }), (e) => {
      assert.ok(e instanceof PinMismatchError);
      assert.equal(e.expected, other);
      assert.match(e.message, /as the invitation says, but .* records pin/);
      assert.match(e.message, new RegExp(`with --pin ${pin.replace(/-/g, "\\-")}\\.$`));
      return true;
    });
    assert.equal((await stored(dataDir))["relay.example:1"], other, "unchanged");
  });
});
