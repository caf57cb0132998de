// The everyday features end to end, with real processes on 127.0.0.1 (client/driver.ts): a relay and
// two or three clients in line mode with --json. Read receipts (opted in on both sides), a quoted reply,
// reactions, an edit and a delete for everyone, the disappearing-messages timer agreed by both, a
// multi-line message, verification and the warning that holds sending when a verified name points at
// another ID; then the history after a restart (encrypted on disk, with edits, reactions, tombstones,
// file, nickname and verification lines), search in a chat and across chats, export, and /forget.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientProcess, RelayProcess } from "../../client/driver.ts";
import type { ClientEvent } from "../../client/events.ts";
import { HISTORY_DIR } from "../../client/historystore.ts";
import { type Ev, next, on } from "./_world.ts";

/** Sends a line and waits for the first event after it that `kind`/`test` picks. */
async function ask<K extends ClientEvent["event"]>(
  c: ClientProcess,
  line: string,
  kind: K,
  test: (e: Ev<K>) => boolean = () => true,
): Promise<Ev<K>> {
  const from = c.events.length;
  await c.send(line);
  return await next(c, kind, test, from);
}

async function world(
  fn: (w: { root: string; client(name: string): ClientProcess }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-convo-e2e-" });
  const relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  try {
    await fn({
      root,
      client(name) {
        const c = ClientProcess.start({
          dataDir: join(root, name),
          port: relay.port,
          pin: relay.pin,
          passphrase: `${name} passphrase`,
          readable: [root],
          extraArgs: [],
        });
        clients.push(c);
        return c;
      },
    });
  } finally {
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
}

async function pair(a: ClientProcess, b: ClientProcess, aName: string, bName: string) {
  const [ra, rb] = [await next(a, "ready"), await next(b, "ready")];
  await ask(a, `/chat ${rb.id} ${bName}`, "chat-requested");
  await b.send(`/chat ${ra.id} ${aName}`);
  await Promise.all([
    next(a, "chat-open", (e) => e.chat === rb.id),
    next(b, "chat-open", (e) => e.chat === ra.id),
  ]);
  return { aId: ra.id, bId: rb.id };
}

Deno.test("e2e convo: receipts, a reply, reactions, an edit, a delete, the timer and a multi-line message", async () => {
  await world(async (w) => {
    const alice = w.client("alice"), bob = w.client("bob");
    await pair(alice, bob, "alice", "bob");
    await ask(alice, "/set read-receipts on", "setting");
    await ask(bob, "/set read-receipts on", "setting");
    const sent = await ask(alice, "are you coming tonight?", "sent");
    const question = await next(bob, "message", (e) => e.text === "are you coming tonight?");
    // Bob's chat with alice is on his screen: delivered, then read.
    await next(alice, "delivered", (e) => e.id === sent.id);
    await next(alice, "read", (e) => e.id === sent.id);

    await bob.send(`/reply ${question.line} yes, at eight`);
    const answer = await next(alice, "message", (e) => e.text === "yes, at eight");
    assert.deepEqual(answer.reply, {
      mine: true,
      id: sent.id,
      line: sent.line,
      quote: "are you coming tonight?",
    });

    await alice.send(`/react ${answer.line} 🎉`);
    await next(bob, "reaction", (e) => e.by === "peer" && e.emoji === "🎉");
    await alice.send(`/react ${answer.line} 👍`);
    const replaced = await next(bob, "reaction", (e) => e.emoji === "👍");
    assert.equal(replaced.target.mine, true);

    await bob.send("/edit yes, at nine");
    const edited = await next(alice, "edited", (e) => e.text === "yes, at nine");
    assert.deepEqual([edited.line, edited.mine, edited.edits], [answer.line, false, 1]);

    await ask(alice, "sorry, wrong chat", "sent");
    await next(bob, "message", (e) => e.text === "sorry, wrong chat");
    await alice.send("/delete");
    const deleted = await next(bob, "deleted", (e) => !e.mine);
    assert.equal(deleted.id, sent.id + 1);

    await alice.send("/timer 1h");
    assert.deepEqual(await next(bob, "timer").then((e) => [e.seconds, e.by]), [3600, "peer"]);
    await alice.send("/begin");
    await alice.send("this one disappears,");
    await alice.send("/and it has two lines");
    await alice.send("/end");
    const vanishing = await next(bob, "message", (e) => e.text.startsWith("this one"));
    assert.deepEqual([vanishing.text, vanishing.ttl], ["this one disappears,\n/and it has two lines", 3600]);
    await bob.send("/timer off");
    assert.equal((await next(alice, "timer", (e) => e.by === "peer")).seconds, 0);
    await bob.send("no timer on this one");
    assert.equal((await next(alice, "message", (e) => e.text === "no timer on this one")).ttl, undefined);

    for (const c of [alice, bob]) await c.send("/quit");
    for (const c of [alice, bob]) assert.equal((await c.end()).code, 0);
  });
});

Deno.test("e2e convo: the history survives a restart, encrypted; search, export, verify and forget", async () => {
  await world(async (w) => {
    const alice = w.client("alice"), bob = w.client("bob"), carol = w.client("carol");
    const { bId } = await pair(alice, bob, "alice", "bob");
    const { bId: carolId } = await pair(alice, carol, "alice", "carol");
    await alice.send(`/switch bob`);
    await next(alice, "switched", (e) => e.chat === bId);
    await ask(bob, "/nick Robert", "info");
    await ask(alice, "the secret word is swordfish", "sent");
    await next(bob, "message", (e) => e.text === "the secret word is swordfish");
    const typo = await ask(alice, "meet at the libary", "sent");
    await ask(alice, `/edit ${typo.line} meet at the library`, "edited");
    await ask(alice, "delete this one", "sent");
    await ask(alice, "/delete", "deleted");
    const m = await next(bob, "message", (e) => e.text === "meet at the libary");
    await bob.send(`/react ${m.line} 📚`);
    await next(alice, "reaction", (e) => e.emoji === "📚");
    await ask(alice, "/verify ok", "verified");
    const file = join(w.root, "notes.txt");
    await Deno.writeTextFile(file, "the notes\n");
    await alice.send(`/file ${file}`);
    await next(bob, "file-offer");
    await bob.send("/accept");
    await next(alice, "file-sent");
    await alice.send("/switch carol");
    await next(alice, "switched", (e) => e.chat === carolId);
    await ask(alice, "the library has a Swordfish poster", "sent");

    // Nothing of the texts is readable in the data folder.
    await alice.send("/quit");
    assert.equal((await alice.end()).code, 0);
    const dir = join(w.root, "alice");
    const names: string[] = [];
    for await (const e of Deno.readDir(join(dir, HISTORY_DIR))) names.push(e.name);
    assert.equal(names.length, 2, `one file per chat: ${names}`);
    for (const name of [...names.map((n) => join(HISTORY_DIR, n)), "keystore.sotto"]) {
      const bytes = await Deno.readFile(join(dir, name));
      const text = new TextDecoder("latin1").decode(bytes);
      for (const secret of ["swordfish", "library", "Robert", "bob"]) {
        assert.ok(!text.includes(secret), `${secret} in ${name}`);
      }
    }

    // A restart: the history is back, with its edits, reactions, tombstones and system lines.
    const again = w.client("alice");
    await next(again, "ready");
    await again.send("/switch bob");
    await next(again, "switched", (e) => e.chat === bId);
    await again.send("/history 40");
    const history = () => again.events.filter(on("history")) as Ev<"history">[];
    await again.waitFor(() => history().some((h) => h.text === 'sent "notes.txt"'), "the history", 60_000);
    const texts = history().map((h) => h.text);
    assert.ok(texts.includes("the secret word is swordfish"), JSON.stringify(texts));
    const edited = history().find((h) => h.text === "meet at the library")!;
    assert.deepEqual([edited.edits, edited.reactions], [1, [{ by: "peer", emoji: "📚" }]]);
    assert.ok(history().some((h) => h.deleted && h.text === ""), "the tombstone");
    assert.ok(texts.some((t) => t === 'they call themselves "Robert"'), "the nickname line");
    assert.ok(texts.some((t) => /marked this chat as verified/.test(t)), "the verification line");
    assert.ok(texts.some((t) => /notes\.txt/.test(t)), `the file line: ${JSON.stringify(texts)}`);

    // Search: this chat, then every chat (case and width folded).
    const found = await ask(again, "/search SWORDFISH", "info", (e) => /contain|is not in/.test(e.text));
    assert.match(found.text, /^1 line in bob contains "SWORDFISH"\.$/);
    const before = again.events.length;
    await ask(again, "/search -a swordfish", "info", (e) => /contain/.test(e.text));
    assert.deepEqual(
      again.events.slice(before).filter(on("found")).map((e) => (e as Ev<"found">).nick),
      ["bob", "carol"],
    );

    // Export: a readable file, and the verified state in its header (where the client may write).
    const out = join(dir, "bob.txt");
    await ask(again, `/export ${out}`, "exported");
    const exported = await Deno.readTextFile(out);
    assert.match(exported, /^sotto: the chat with bob \(/);
    assert.match(exported, /; verified;/);
    assert.match(exported, /you: meet at the library\n {4}earlier, until .*: meet at the libary/);

    // A verified name given to another ID holds sending, loudly, until the user looks.
    const dave = w.client("dave");
    const d = await next(dave, "ready");
    const warned = await ask(again, `/chat ${d.id} bob`, "identity-changed");
    assert.deepEqual([warned.reason, warned.other], ["name-moved", bId]);
    await dave.send(`/chat ${(await next(again, "ready")).id}`);
    await next(again, "chat-open", (e) => e.chat === d.id);
    const held = await ask(again, "hello?", "error");
    assert.match(held.message, /^Sending to bob is held: a verified chat has this name with another ID\./);
    await ask(again, "/verify accept", "verified");
    await ask(again, "hello now", "sent");
    await next(dave, "message", (e) => e.text === "hello now");

    // /forget: only a closed chat; its history file goes with its keys.
    await again.send("/switch carol");
    await next(again, "switched", (e) => e.chat === carolId);
    assert.match((await ask(again, "/forget", "error")).message, /^Close the chat with carol first/);
    await ask(again, "/close", "info", (e) => /Closed the chat/.test(e.text));
    await ask(again, "/forget carol", "forgotten");
    const left: string[] = [];
    for await (const e of Deno.readDir(join(dir, HISTORY_DIR))) left.push(e.name);
    assert.equal(left.length, 2, "bob's and dave's files; carol's is gone");
    assert.match((await ask(again, "/switch carol", "error")).message, /No chat is called "carol"/);
    for (const c of [again, bob, carol, dave]) await c.send("/quit");
    for (const c of [again, bob, carol, dave]) assert.equal((await c.end()).code, 0);
  });
});
