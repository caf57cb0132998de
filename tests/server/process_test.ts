// The relay as a process: `server.ts` flags and its one line of output, SIGTERM, and `kill -9` in the
// middle of traffic followed by a restart on the same data folder: nothing the relay acknowledged is lost.

import assert from "node:assert/strict";
import { bytesToHex, systemRandom } from "../../crypto/bytes.ts";
import { makeUser, TestClient } from "./_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Server {
  child: Deno.ChildProcess;
  port: number;
  pin: string;
  /** Resolves to what the process wrote to stderr once it exits. */
  stderr: Promise<string>;
  /** Resolves to stdout after the first line, once the process exits. */
  rest: Promise<string>;
}

/** Runs `deno run server.ts` with the narrowest permissions and waits for its ready line. */
async function spawnServer(dir: string, extra: string[] = []): Promise<Server> {
  const child = new Deno.Command("deno", {
    args: [
      "run",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "--allow-net=127.0.0.1",
      "server.ts",
      "--data",
      dir,
      "-port",
      "0",
      ...extra,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { stderr, reader, out } = await readUntil(child, "\n");
  const [first, ...more] = out.split("\n");
  const m = /^sotto relay listening on 127\.0\.0\.1:(\d+), pin (\S+)$/.exec(first);
  assert.ok(m, `unexpected first line: ${first}`);
  const rest = (async () => {
    let text = more.join("\n");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return { child, port: Number(m[1]), pin: m[2], stderr, rest };
}

/**
 * Reads the relay's stdout until it contains `marker` (its ready line); throws with its stderr if it exits
 * first. Returns what was read, the reader for the rest, and stderr as it will be once the process exits.
 */
async function readUntil(child: Deno.ChildProcess, marker: string) {
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the relay exited before it was ready: ${await stderr}`);
    out += value;
  }
  return { stderr, reader, out };
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("deno", { args: ["run", ...args], cwd: ROOT, stdin: "null" }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("server.ts: -h, bad flags, one line when ready, the log (-q, text, JSON), SIGTERM, -refreshkeys", async () => {
  const help = await run(["server.ts", "-h"]);
  assert.equal(help.code, 0);
  assert.match(
    help.stdout,
    /^usage: server\.ts \[-h\] \[-host HOST\] \[-port PORT\] \[-refreshkeys\] \[--data DIR\]/,
  );
  const badPort = await run(["server.ts", "-port", "70000"]);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /port must be a number from 0 to 65535/);
  const badFlag = await run(["server.ts", "--bogus"]);
  assert.equal(badFlag.code, 2);
  assert.doesNotMatch(badFlag.stderr, /\n\s+at /, "no stack trace");

  const badFormat = await run(["server.ts", "--log-format", "xml"]);
  assert.equal(badFormat.code, 2);
  assert.match(badFormat.stderr, /--log-format must be text or json/);

  const dir = await Deno.makeTempDir({ prefix: "sotto-cli-" });
  try {
    // -q: nothing but the ready line.
    const first = await spawnServer(dir, ["-q"]);
    first.child.kill("SIGTERM");
    assert.equal((await first.child.status).code, 0);
    assert.equal(await first.rest, "");
    assert.equal(await first.stderr, "");
    // By default the operator's log on standard error: start, and that it shuts down and why.
    const again = await spawnServer(dir);
    assert.equal(again.pin, first.pin, "the pin survives a restart");
    again.child.kill("SIGINT");
    assert.equal((await again.child.status).code, 0);
    assert.equal(await again.rest, "");
    const log = (await again.stderr).trimEnd().split("\n");
    assert.equal(log.length, 3, log.join("\n"));
    assert.match(log[0], /^\S+Z start store=\d+$/);
    assert.match(log[1], /^\S+Z stopping reason=SIGINT$/);
    assert.match(log[2], /^\S+Z stopped$/);
    const fresh = await spawnServer(dir, ["-refreshkeys", "--log-format", "json"]);
    assert.notEqual(fresh.pin, first.pin);
    fresh.child.kill("SIGTERM");
    assert.equal((await fresh.child.status).code, 0);
    await fresh.rest;
    const events = (await fresh.stderr).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => [e.event, e.reason]), [
      ["start", undefined],
      ["stopping", "SIGTERM"],
      ["stopped", undefined],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("durability: a relay killed with kill -9 during traffic loses nothing it acknowledged", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-kill-" });
  const alice = makeUser(1), bob = makeUser(1);
  const clients: TestClient[] = [];
  try {
    let server = await spawnServer(dir);
    const { client: ca } = await TestClient.login(server.port, alice);
    const { client: cb } = await TestClient.login(server.port, bob);
    clients.push(ca, cb);
    await ca.upload(alice);
    await cb.upload(bob);
    await ca.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
    await cb.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    await cb.send({ type: "ack", ids: [(await cb.next("chat-opened")).eventId] });
    await ca.send({ type: "ack", ids: [(await ca.next("chat-opened")).eventId] });

    // Bob reads everything but acknowledges nothing until Alice has 100 messages queued (so his window
    // fills and messages are stored), then in batches of ten until 200 are queued, then nothing again;
    // Alice sends without waiting. The relay is killed once 250 were queued: some stored, some held in
    // memory, some in flight.
    const received = new Set<string>();
    const queued = new Set<string>();
    let unacked: Uint8Array[] = [];
    const ackAll = () => {
      const ids = unacked;
      unacked = [];
      for (let i = 0; i < ids.length; i += 256) {
        void cb.send({ type: "ack", ids: ids.slice(i, i + 256) }).catch(() => {});
      }
    };
    const bobReads = (async () => {
      for (;;) {
        const d = await cb.next("deliver").catch(() => null);
        if (d === null) return;
        received.add(bytesToHex(d.messageId));
        unacked.push(d.messageId);
        if (queued.size >= 100 && queued.size < 200 && unacked.length >= 10) ackAll();
      }
    })();
    let killed = false;
    const sending: Promise<void>[] = [];
    for (let i = 0; i < 3000 && !killed; i++) {
      const body = systemRandom(1 + (i * 7919) % 3000);
      sending.push(
        ca.sendMessage(bob.identity.id, body).then((q) => {
          if (q.type === "queued") queued.add(bytesToHex(q.messageId));
          if (queued.size === 100) ackAll();
          if (queued.size === 250 && !killed) {
            killed = true;
            server.child.kill("SIGKILL");
          }
        }, () => {}),
      );
      if (i % 20 === 19) await ca.request({ type: "ping", requestId: 0 }).catch(() => {});
    }
    assert.ok(killed, "traffic ended before the relay was killed");
    assert.equal((await server.child.status).signal, "SIGKILL");
    await server.rest;
    await server.stderr;
    await Promise.all(sending);
    await bobReads;
    for (const c of clients) await c.close();
    clients.length = 0;

    // Restart on the same folder: Bob gets everything Alice was told was queued and he had not received.
    server = await spawnServer(dir);
    const { client: cb2, welcome } = await TestClient.login(server.port, bob);
    clients.push(cb2);
    assert.equal(welcome.type === "welcome" && welcome.chats.length, 1);
    const waiting = welcome.type === "welcome" ? welcome.queued : 0;
    const before = received.size;
    for (let i = 0; i < waiting; i++) {
      const d = await cb2.next("deliver");
      received.add(bytesToHex(d.messageId));
      await cb2.send({ type: "ack", ids: [d.messageId] });
    }
    assert.ok(waiting > 0 && before > 0, "both stored and delivered messages were in play");
    const lost = [...queued].filter((id) => !received.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${queued.size} acknowledged messages were lost`);
    for (const c of clients) await c.close();
    clients.length = 0;
    server.child.kill("SIGTERM");
    assert.equal((await server.child.status).code, 0);
    await server.rest;
    await server.stderr;
  } finally {
    for (const c of clients) await c.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("durability: a withdrawal and a dismissal the relay answered survive kill -9", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-kill-" });
  const alice = makeUser(1), bob = makeUser(1), carol = makeUser(1);
  const clients: TestClient[] = [];
  try {
    let server = await spawnServer(dir, ["-q"]);
    const login = async (u: typeof alice) => {
      const { client } = await TestClient.login(server.port, u);
      clients.push(client);
      await client.upload(u);
      return client;
    };
    const ca = await login(alice), cb = await login(bob), cc = await login(carol);
    const ask = (c: TestClient, peer: typeof alice) =>
      c.request({ type: "request-chat", requestId: 0, peerId: peer.identity.id, curve: "P-256" });
    await ask(ca, bob);
    await ask(cb, alice);
    await cb.send({ type: "ack", ids: [(await cb.next("chat-opened")).eventId] });
    await ca.send({ type: "ack", ids: [(await ca.next("chat-opened")).eventId] });
    await cb.close();
    const [m1, m2] = [systemRandom(16), systemRandom(16)];
    assert.equal((await ca.sendMessage(bob.identity.id, Uint8Array.of(1), m1)).type, "queued");
    assert.equal((await ca.sendMessage(bob.identity.id, Uint8Array.of(2), m2)).type, "queued");
    await ca.send({ type: "withdraw", requestId: 5, to: bob.identity.id, messageId: m1 });
    assert.equal((await ca.next("withdrawn")).outcome, "withdrawn");
    await ask(cc, bob);
    const cb2 = await login(bob);
    assert.equal((await cb2.request({ type: "set-options", requestId: 0, options: 1 })).code, "ok");
    assert.deepEqual((await cb2.next("chat-asked")).peerId, carol.identity.id);
    const dismissed = await cb2.request({ type: "dismiss-request", requestId: 0, peerId: carol.identity.id });
    assert.equal(dismissed.code, "ok");
    await cb2.close(); // the message waits, unacknowledged
    server.child.kill("SIGKILL");
    assert.equal((await server.child.status).signal, "SIGKILL");
    await server.rest;
    await server.stderr;
    for (const c of clients) await c.close();
    clients.length = 0;

    server = await spawnServer(dir, ["-q"]);
    const { client: cb3, welcome } = await TestClient.login(server.port, bob);
    clients.push(cb3);
    assert.equal(welcome.queued, 1);
    assert.deepEqual((await cb3.next("deliver")).messageId, m2, "the withdrawn message stays gone");
    assert.equal((await cb3.request({ type: "set-options", requestId: 0, options: 1 })).code, "ok");
    assert.equal((await cb3.request({ type: "ping", requestId: 0 })).code, "ok");
    assert.ok(!cb3.has("chat-asked"), "the dismissal stays");
    for (const c of clients) await c.close();
    clients.length = 0;
    server.child.kill("SIGTERM");
    assert.equal((await server.child.status).code, 0);
    await server.rest;
    await server.stderr;
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts: `q` + Enter on a terminal shuts the relay down cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-tty-" });
  try {
    // `script` gives the relay a pseudo-terminal as its standard input.
    const command = `deno run --allow-read=${dir} --allow-write=${dir} --allow-net=127.0.0.1 server.ts ` +
      `--data ${dir} -port 0`;
    const child = new Deno.Command("script", {
      args: ["-qfec", command, "/dev/null"],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { stderr, reader } = await readUntil(child, "pin ");
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("q\n"));
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    assert.equal((await child.status).code, 0);
    await writer.close().catch(() => {});
    await stderr;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `deno run ARGS` under `script` (a pseudo-terminal): what it prints, typing into it, its exit code. */
function inTerminal(args: string[]) {
  const command = ["deno", "run", ...args].map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let screen = "";
  const output = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) screen += chunk;
  })();
  const errors = new Response(child.stderr).text();
  const keys = child.stdin.getWriter();
  return {
    get screen() {
      return screen.replace(new RegExp(String.fromCharCode(27) + "\\[[0-9;]*[A-Za-z]", "g"), "");
    },
    /** Waits until the screen (without escape sequences) has matched `pattern` `count` times. */
    async waitFor(pattern: RegExp, count = 1): Promise<void> {
      const global = new RegExp(pattern.source, "g");
      for (let i = 0; i < 600; i++) {
        if ((this.screen.match(global)?.length ?? 0) >= count) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no ${pattern} on the screen:\n${this.screen}`);
    },
    /** Types `text`, a moment after the prompt appeared (Deno empties the terminal's input as it asks). */
    async type(text: string): Promise<void> {
      await new Promise((r) => setTimeout(r, 300));
      await keys.write(new TextEncoder().encode(text));
    },
    async end(): Promise<number> {
      const { code } = await child.status;
      await output;
      await keys.close().catch(() => {});
      await errors;
      return code;
    },
  };
}

Deno.test("B7: `deno run --allow-net server.ts` in a terminal asks for each permission, saying why first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-b7-" });
  const data = `${dir}/data`;
  try {
    const t = inTerminal(["--allow-net=127.0.0.1", "server.ts", "--data", data, "-port", "0"]);
    await t.waitFor(/Allow\?/);
    const whyRead = `sotto relay: Deno will now ask whether the relay may read its data folder ${data}, `;
    assert.ok(
      t.screen.indexOf(whyRead) >= 0 && t.screen.indexOf(whyRead) < t.screen.indexOf("Deno requests read"),
    );
    await t.type("y\r");
    await t.waitFor(/Allow\?/, 2);
    assert.match(t.screen, /relay may write its data folder [^\n]*\n[^]*Deno requests write access/);
    await t.type("y\r");
    await t.waitFor(/sotto relay listening on 127\.0\.0\.1:\d+, pin /);
    await t.type("q\r");
    assert.equal(await t.end(), 0, t.screen);
    assert.ok((await Deno.stat(`${data}/relay.kv`)).isFile, "the relay kept its store where it was allowed");

    // Refused in the terminal: the one sentence naming the flags, and nothing started.
    const other = `${dir}/other`;
    const refused = inTerminal(["--allow-net=127.0.0.1", "server.ts", "--data", other, "-port", "0"]);
    await refused.waitFor(/Allow\?/);
    await refused.type("n\r");
    await refused.waitFor(/Allow\?/, 2);
    await refused.type("n\r");
    assert.equal(await refused.end(), 1, refused.screen);
    assert.match(
      refused.screen,
      new RegExp(`run it again with --allow-read=${other} --allow-write=${other} added to "deno run"`),
    );
    await assert.rejects(Deno.stat(other), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("B7: without a terminal, one sentence lists the exact flags to add, paths included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-b7-" });
  try {
    const data = `${dir}/data`;
    const out = await run(["--allow-net=127.0.0.1", "server.ts", "--data", data, "-port", "0"]);
    assert.equal(out.code, 1);
    assert.equal(out.stdout, "");
    assert.equal(
      out.stderr,
      `sotto relay: run it again with --allow-read=${data} --allow-write=${data} added to "deno run": it ` +
        `needs to read its data folder ${data} and write its data folder ${data}.\n`,
    );
    const none = await run(["server.ts", "--data", data, "-port", "6174"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--allow-read=\S+ --allow-write=\S+ --allow-net=127\.0\.0\.1:6174 added/);
    assert.equal(none.stderr.split("\n").length, 2, "one line");
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts: limit flags are checked and given to the relay", async () => {
  const bad = await run(["server.ts", "--store-quota", "lots"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--store-quota must be a positive number of bytes/);
  const zero = await run(["server.ts", "--expire-days", "0"]);
  assert.equal(zero.code, 2);
  const dir = await Deno.makeTempDir({ prefix: "sotto-flags-" });
  try {
    // One connection per address at most: a second one from 127.0.0.1 is closed at once.
    const server = await spawnServer(dir, [
      "--per-source-connections",
      "1",
      "--per-source-unauthenticated",
      "1",
    ]);
    const { client } = await TestClient.login(server.port, makeUser(0));
    await assert.rejects(TestClient.connect(server.port));
    await client.close();
    server.child.kill("SIGTERM");
    assert.equal((await server.child.status).code, 0);
    await server.rest;
    await server.stderr;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
