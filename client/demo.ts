// `deno task demo`: sotto end to end on this machine. A relay on an ephemeral port of 127.0.0.1 and two
// clients in line mode (alice and bob), all with their data in one temporary folder (a hidden folder in
// the project, so the demo needs no access beyond it): they create identities, bob uses alice's
// invitation (/invite) to reach her and she asks for him back, they connect over post-quantum hybrid TLS,
// chat both ways (PQXDH, then ML-KEM in every ratchet step) with a quoted reply, a reaction and an edit,
// compare safety numbers, send a disappearing message (it vanishes from both sides 30 s later, from the
// history on disk too), send a file, and bob goes offline and gets what alice sent meanwhile when he
// returns; then a group of three (client/demo_group.ts). Prints a short transcript, exits 0, and leaves
// nothing running or written outside the temporary folder, which it removes. The crypto self-check that
// used to be the demo is `deno task selfcheck`. `deno task demo --web` starts the two clients with their web
// UIs instead, opens a chat between them, prints the two addresses and waits for Ctrl-C.

import { fileURLToPath } from "node:url";
import { ClientProcess, RelayProcess } from "./driver.ts";
import { groupDemo } from "./demo_group.ts";
import type { ClientEvent } from "./events.ts";

type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;

const say = (who: string, text: string) => console.log(`${who.padEnd(6)} ${text}`);

function is<K extends ClientEvent["event"]>(kind: K, test: (e: Ev<K>) => boolean = () => true) {
  return (e: ClientEvent): boolean => e.event === kind && test(e as Ev<K>);
}

async function next<K extends ClientEvent["event"]>(
  c: ClientProcess,
  kind: K,
  test: (e: Ev<K>) => boolean = () => true,
): Promise<Ev<K>> {
  return await c.waitFor(is(kind, test), kind) as Ev<K>;
}

async function run(root: string): Promise<void> {
  const relay = await RelayProcess.start(`${root}/relay`);
  const clients: ClientProcess[] = [];
  try {
    say("relay", `listening on 127.0.0.1:${relay.port}, pin ${relay.pin}`);
    // Started with an invitation, a client has no --pin: the invitation's pin is the one it trusts.
    const start = (name: string, invitation?: string) => {
      const c = ClientProcess.start({
        dataDir: `${root}/${name}`,
        port: relay.port,
        pin: invitation ? undefined : relay.pin,
        passphrase: `${name}'s demo passphrase`,
        readable: [root],
        host: invitation,
      });
      clients.push(c);
      return c;
    };
    const alice = start("alice");
    const a = await next(alice, "ready");
    say("alice", `new identity ${a.id}, logged in (keystore sealed with PBKDF2-SHA-512)`);
    const hybrid = a.tls === "SecP384r1MLKEM1024"
      ? ": P-384 ECDHE and ML-KEM-1024, a post-quantum hybrid"
      : "";
    say("alice", `TLS 1.3 to the relay with ${a.tls}${hybrid}`);
    say("alice", "> /invite");
    await alice.send("/invite");
    const { invitation } = await next(alice, "invitation");
    say("alice", `her invitation (the relay, its pin and her ID, with a checksum): ${invitation}`);
    say("bob", "$ client.ts '<alice's invitation>'   (no host, no pin, no ID to type)");
    let bob = start("bob", invitation);
    const b = await next(bob, "ready");
    await next(bob, "chat-requested");
    say(
      "bob",
      `new identity ${b.id}; the relay's pin taken from the invitation, a chat with alice asked for`,
    );
    say("bob", `> /chat ${a.id} alice   (names her)`);
    await bob.send(`/chat ${a.id} alice`);
    await next(bob, "chat-requested", (e) => e.nick === "alice");
    say("alice", `> /chat ${b.id} bob`);
    await alice.send(`/chat ${b.id} bob`);
    const opened = await next(alice, "chat-open");
    const joined = await next(bob, "chat-open");
    if (!opened.pq || !joined.pq) throw new Error("the chat is not post-quantum");
    say("relay", `both asked: the chat is open; alice initiates PQXDH on ${opened.curve} with ML-KEM-1024`);
    say("both", "post-quantum chat: every ratchet step adds ML-KEM-768 beside ECDH, headers encrypted");

    const line = "Hi Bob! This travels end to end: the relay only sees ciphertext.";
    say("alice", `> ${line}`);
    await alice.send(line);
    const got = await next(bob, "message");
    say("bob", `received from ${got.nick}: ${got.text}`);
    await next(alice, "delivered", (e) => e.id === 1);
    say("alice", "✓✓ delivered");
    const reply = `/reply ${got.line} Hello Alice, loud and clear.`;
    say("bob", `> ${reply}`);
    await bob.send(reply);
    const back = await next(alice, "message");
    say("alice", `received from ${back.nick}: ${back.text}  (a reply to "${back.reply?.quote}")`);
    say("alice", `> /react ${back.line} 👍`);
    await alice.send(`/react ${back.line} 👍`);
    const reaction = await next(bob, "reaction");
    say("bob", `sees ${reaction.nick} react ${reaction.emoji} to his line #${reaction.line}`);
    say("alice", "> /edit Hi Bob! This travels end to end: the relay sees only ciphertext, even of edits.");
    await alice.send("/edit Hi Bob! This travels end to end: the relay sees only ciphertext, even of edits.");
    const edited = await next(bob, "edited");
    say("bob", `sees line #${edited.line} edited: ${edited.text}`);

    await alice.send("/verify");
    await bob.send("/verify");
    const sa = await next(alice, "safety-number"), sb = await next(bob, "safety-number");
    say("both", `safety numbers ${sa.number === sb.number ? "match" : "DIFFER"}: ${sa.number.slice(0, 23)}…`);
    if (sa.number !== sb.number) throw new Error("the safety numbers differ");
    if (!sa.pq || !sb.pq) throw new Error("the session is not post-quantum");
    say("both", "the session is post-quantum; identity keys and safety numbers stay classical (NIST curves)");
    await alice.send("/verify ok");
    await bob.send("/verify ok");
    await next(alice, "verified");
    say("both", "> /verify ok   (each marks the chat verified: a change would hold sending, loudly)");

    say("alice", "> /timer 30s");
    await alice.send("/timer 30s");
    const timer = await next(bob, "timer");
    say("bob", `sees ${timer.nick} set disappearing messages to ${timer.seconds} s`);
    const secret = "This one disappears 30 seconds after it arrives.";
    say("alice", `> ${secret}`);
    await alice.send(secret);
    const vanishing = await next(bob, "message", (e) => e.text === secret);
    say("bob", `received: ${vanishing.text}  (it lives ${vanishing.ttl} s)`);
    await alice.send("/timer off");
    await next(bob, "timer", (e) => e.seconds === 0);
    say("alice", "> /timer off   (what follows stays)");

    const notes = `${root}/notes.txt`;
    const content = Array.from({ length: 3000 }, (_, i) => `line ${i}: sotto sends files in 32 KiB chunks\n`)
      .join("");
    await Deno.writeTextFile(notes, content);
    say("alice", `> /file ${notes}`);
    await alice.send(`/file ${notes}`);
    const offer = await next(bob, "file-offer");
    say("bob", `is offered "${offer.name}" (${offer.size} bytes); nothing is written until he accepts`);
    say("bob", "> /accept");
    await bob.send("/accept");
    const file = await next(bob, "file-received");
    const same = (await Deno.readTextFile(file.path)) === content;
    say(
      "bob",
      `received "${file.name}" (${file.size} bytes), saved as ${file.path}, ${
        same ? "identical" : "DIFFERENT"
      }`,
    );
    if (!same) throw new Error("the received file differs");
    await next(alice, "file-sent");

    say("bob", "> /quit   (goes offline)");
    await bob.send("/quit");
    await bob.end();
    await next(alice, "presence", (e) => !e.online);
    say("alice", "sees bob go offline");
    for (const text of ["Are you there?", "I'll leave this with the relay."]) {
      say("alice", `> ${text}`);
      const from = alice.events.length;
      await alice.send(text);
      await alice.waitFor(is("queued", (e) => e.at === "relay"), "queued", 30_000, from);
    }
    say("relay", "holds both messages, encrypted, until bob acknowledges them");
    bob = start("bob");
    await next(bob, "ready");
    say("bob", "is back (same keystore, same passphrase)");
    for (const text of ["Are you there?", "I'll leave this with the relay."]) {
      const m = await next(bob, "message", (e) => e.text === text);
      say("bob", `received from ${m.nick}: ${m.text}`);
    }
    await next(alice, "delivered", (e) => e.id === 4);
    say("alice", "✓✓ both delivered");

    // The disappearing message: gone from bob's screen and history (he restarted meanwhile) and alice's.
    await next(bob, "expired");
    await next(alice, "expired");
    say("both", "the disappearing message lapsed: gone from both screens and both history files");
    await bob.send("/search disappears");
    const none = await next(bob, "info", (e) => e.text.includes("disappears"));
    say("bob", `> /search disappears   → ${none.text}`);

    await groupDemo({ say, next, alice, bob, aliceId: a.id, start });

    for (const c of [alice, bob]) await c.send("/quit");
    for (const c of [alice, bob]) {
      const { code } = await c.end();
      if (code !== 0) throw new Error(`a client exited with ${code}`);
    }
  } finally {
    for (const c of clients) await c.kill();
    await relay.stop();
  }
}

/** The two clients with --web and a chat between them, until Ctrl-C. */
async function runWeb(root: string): Promise<void> {
  const relay = await RelayProcess.start(`${root}/relay`);
  const clients: ClientProcess[] = [];
  try {
    const start = (name: string) => {
      const c = ClientProcess.start({
        dataDir: `${root}/${name}`,
        port: relay.port,
        pin: relay.pin,
        passphrase: `${name}'s demo passphrase`,
        extraArgs: ["--web"],
      });
      clients.push(c);
      return c;
    };
    const alice = start("alice"), bob = start("bob");
    const [a, b] = [await next(alice, "ready"), await next(bob, "ready")];
    await alice.send(`/chat ${b.id} bob`);
    await next(alice, "chat-requested");
    await bob.send(`/chat ${a.id} alice`);
    await Promise.all([next(alice, "chat-open"), next(bob, "chat-open")]);
    await alice.send(
      "Hi Bob! This is the web UI: try a file, the safety number, or both windows side by side.",
    );
    await next(bob, "message");
    await bob.send("Hello Alice, loud and clear.");
    await next(alice, "message");
    say("relay", `listening on 127.0.0.1:${relay.port}`);
    say("alice", (await next(alice, "web")).url);
    say("bob", (await next(bob, "web")).url);
    console.log("\nOpen both addresses in a browser. Ctrl-C stops the demo.");
    await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
    // Ctrl-C on a terminal reaches the clients too (they quit by themselves); else they are asked to.
    for (const c of clients) await c.send("/quit").catch(() => {});
    for (const c of clients) await c.end().catch(() => {});
  } finally {
    for (const c of clients) await c.kill();
    await relay.stop();
  }
}

if (import.meta.main) {
  const project = fileURLToPath(new URL("..", import.meta.url));
  const root = await Deno.makeTempDir({ dir: project, prefix: ".sotto-demo-" });
  console.log(`sotto demo: a relay and its clients on 127.0.0.1, all data in ${root}\n`);
  let failure: string | null = null;
  try {
    await (Deno.args.includes("--web") ? runWeb(root) : run(root));
  } catch (e) {
    failure = (e as Error).message;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  if (failure !== null) {
    console.error(`\ndemo failed: ${failure}`);
    Deno.exit(1);
  }
  console.log("\ndone: the relay and the clients have stopped and the temporary folder is removed.");
}
