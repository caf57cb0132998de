// The keystore on disk and the passphrase: created with mode 0600 in a 0700 folder, written atomically
// (no temporary file left), locked against a second client, reopened with the right passphrase (queue
// included), refused with one sentence for a wrong one or a damaged file; passphrases from a file, the
// environment or a prompt that echoes nothing.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { KeystoreFormatError, WrongPassphraseError } from "../../protocol/keystore.ts";
import { KEYSTORE_FILE, KeystoreFile, KeystoreFileError } from "../../client/keystore.ts";
import {
  PassphraseError,
  passphraseSource,
  PromptCancelled,
  promptHidden,
  type PromptTerminal,
  readPassphraseFile,
} from "../../client/passphrase.ts";

const PASS = "correct horse battery";

function open(dataDir: string, passphrase: string, onNewIdentity?: (id: Uint8Array) => void) {
  return KeystoreFile.open({
    dataDir,
    passphrase: () => Promise.resolve(passphrase),
    now: Date.now(),
    oneTimePrekeys: 2,
    onNewIdentity,
  });
}

Deno.test("keystore file: create, lock, reopen with its queue, wrong passphrase, damage", async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-ks-" });
  const dataDir = join(root, "me");
  try {
    await assert.rejects(() => open(dataDir, "short"), (e) => {
      assert.ok(e instanceof KeystoreFileError);
      assert.equal(e.message, "Choose a passphrase of at least 8 characters.");
      return true;
    });
    let announced: Uint8Array | null = null;
    const { store, created } = await open(dataDir, PASS, (id) => (announced = id));
    assert.ok(created);
    assert.deepEqual(announced, store.contents.identity.id);
    assert.equal((await Deno.stat(join(dataDir, KEYSTORE_FILE))).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    await assert.rejects(() => open(dataDir, PASS), /Another sotto client is using .*--data/);

    const entry = {
      messageId: systemRandom(16),
      peerId: systemRandom(20),
      kind: "payload" as const,
      bytes: systemRandom(40),
      textId: 1,
      createdAt: 1,
      expiresAt: 0,
    };
    store.contents.outbox.push(entry);
    await Promise.all([store.save(), store.save(), store.save()]);
    await store.close();
    const names = [];
    for await (const e of Deno.readDir(dataDir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["keystore.lock", KEYSTORE_FILE], "no temporary file is left");

    const again = await open(dataDir, PASS);
    assert.ok(!again.created);
    assert.deepEqual(again.store.contents.identity.id, store.contents.identity.id);
    assert.deepEqual(again.store.contents.outbox, [entry]);
    await again.store.close();

    await assert.rejects(() => open(dataDir, "not the passphrase"), WrongPassphraseError);
    const file = join(dataDir, KEYSTORE_FILE);
    const bytes = await Deno.readFile(file);
    bytes[0] ^= 1;
    await Deno.writeFile(file, bytes);
    await assert.rejects(
      () => open(dataDir, PASS),
      (e) => e instanceof KeystoreFormatError && /not a sotto keystore/.test(e.message),
    );
    await Deno.writeTextFile(join(root, "plain"), "x");
    await assert.rejects(() => open(join(root, "plain"), PASS), /is not a folder/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** A terminal that types `input` and records what was written and the raw-mode switches. */
function fakeTerminal(input: string | Uint8Array): PromptTerminal & { out: string; raw: boolean[] } {
  let data = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const t = {
    out: "",
    raw: [] as boolean[],
    read(p: Uint8Array): Promise<number | null> {
      if (data.length === 0) return Promise.resolve(null);
      const n = Math.min(3, p.length, data.length);
      p.set(data.subarray(0, n));
      data = data.subarray(n);
      return Promise.resolve(n);
    },
    write(s: string) {
      t.out += s;
    },
    setRaw(raw: boolean) {
      t.raw.push(raw);
    },
  };
  return t;
}

Deno.test("keystore file: a new identity is announced only once its keystore is written (B3)", async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-ks-" });
  const dataDir = join(root, "me");
  try {
    const announced: Uint8Array[] = [];
    // No passphrase to be had (no terminal, no file, no SOTTO_PASSPHRASE), then one that is too short.
    const none = () => Promise.reject(new PassphraseError("No passphrase."));
    await assert.rejects(
      () =>
        KeystoreFile.open({
          dataDir,
          passphrase: none,
          now: Date.now(),
          oneTimePrekeys: 2,
          onNewIdentity: (id) => announced.push(id),
        }),
      PassphraseError,
    );
    await assert.rejects(() => open(dataDir, "short", (id) => announced.push(id)), KeystoreFileError);
    assert.equal(announced.length, 0, "no identity was announced");
    await assert.rejects(() => Deno.stat(join(dataDir, KEYSTORE_FILE)), Deno.errors.NotFound);
    const { store } = await open(dataDir, PASS, (id) => {
      announced.push(id);
    });
    assert.deepEqual(announced, [store.contents.identity.id]);
    await store.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("passphrase: the prompt echoes nothing, edits, and can be cancelled", async () => {
  const t = fakeTerminal("sekr\x7fret é\x7fe\r");
  assert.equal(await promptHidden(t, "Passphrase: "), "sekret e");
  assert.equal(t.out, "Passphrase: \r\n");
  assert.deepEqual(t.raw, [true, false]);
  assert.equal(await promptHidden(fakeTerminal("junk\x15good one\n"), "> "), "good one");
  await assert.rejects(() => promptHidden(fakeTerminal("abc\x03"), "> "), PromptCancelled);
  await assert.rejects(() => promptHidden(fakeTerminal("\x04"), "> "), PromptCancelled);
  await assert.rejects(() => promptHidden(fakeTerminal("no end"), "> "), PromptCancelled);
});

Deno.test("passphrase: file first, then the environment, then the terminal, else one sentence", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-pass-" });
  try {
    const file = join(dir, "pass");
    await Deno.writeTextFile(file, "from the file\nsecond line\n");
    assert.equal(await readPassphraseFile(file), "from the file");
    await Deno.writeTextFile(join(dir, "empty"), "\n");
    await assert.rejects(() => readPassphraseFile(join(dir, "empty")), /is empty/);
    await assert.rejects(() => readPassphraseFile(join(dir, "missing")), PassphraseError);
    assert.equal(await passphraseSource({ file, terminal: null })(false), "from the file");
    const envAllowed =
      Deno.permissions.querySync({ name: "env", variable: "SOTTO_PASSPHRASE" }).state === "granted";
    const saved = envAllowed ? Deno.env.get("SOTTO_PASSPHRASE") : undefined;
    if (envAllowed) Deno.env.delete("SOTTO_PASSPHRASE");
    try {
      await assert.rejects(
        () => passphraseSource({ terminal: null })(false),
        /set SOTTO_PASSPHRASE or use --passphrase-file/,
      );
      const t = fakeTerminal("short\rlong enough\rdifferent\rlong enough\rlong enough\r");
      assert.equal(await passphraseSource({ terminal: t })(true), "long enough");
      assert.match(t.out, /at least 8 characters/);
      assert.match(t.out, /The two passphrases differ/);
      if (envAllowed) {
        Deno.env.set("SOTTO_PASSPHRASE", "from the environment");
        assert.equal(await passphraseSource({ terminal: t })(false), "from the environment");
      }
    } finally {
      if (envAllowed) {
        if (saved === undefined) Deno.env.delete("SOTTO_PASSPHRASE");
        else Deno.env.set("SOTTO_PASSPHRASE", saved);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
