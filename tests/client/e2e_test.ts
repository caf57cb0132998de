// End to end with real processes on 127.0.0.1 (client/driver.ts): a relay (`server.ts --port 0`) and
// clients in line mode with --json. Two clients chat both ways, send a file, and one gets its messages
// after being offline; a relay killed with SIGKILL and restarted loses nothing the clients sent; a wrong
// passphrase and a wrong or changed pin are refused with one sentence; a blocked ID is never matched.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { ClientProcess, type ClientSpec, RelayProcess } from "../../client/driver.ts";
import { EXIT_PIN } from "../../client/exit.ts";
import { type Ev, next, on } from "./_world.ts";

/** A temporary folder with a relay; every process started through it is stopped at the end. */
async function world(
  fn: (w: {
    root: string;
    relay: RelayProcess;
    client(name: string, extra?: Partial<ClientSpec>): ClientProcess;
    restartRelay(signal: "SIGTERM" | "SIGKILL", extraArgs?: string[]): Promise<RelayProcess>;
  }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-e2e-" });
  let relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  try {
    await fn({
      root,
      get relay() {
        return relay;
      },
      client(name, extra = {}) {
        const c = ClientProcess.start({
          dataDir: join(root, name),
          port: relay.port,
          pin: relay.pin,
          passphrase: `${name} passphrase`,
          readable: [root],
          ...extra,
        });
        clients.push(c);
        return c;
      },
      async restartRelay(signal, extraArgs = []) {
        await relay.stop(signal);
        relay = await RelayProcess.start(join(root, "relay"), relay.port, extraArgs);
        return relay;
      },
    });
  } finally {
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
}

/** Two ready clients with an open chat: [alice, bob, alice's ID, bob's ID]. */
async function pair(w: Parameters<Parameters<typeof world>[0]>[0]) {
  const alice = w.client("alice"), bob = w.client("bob");
  const [a, b] = await Promise.all([next(alice, "ready"), next(bob, "ready")]);
  await alice.send(`/chat ${b.id} bob`);
  await next(alice, "chat-requested");
  await bob.send(`/chat ${a.id} alice`);
  await Promise.all([next(alice, "chat-open"), next(bob, "chat-open")]);
  return { alice, bob, aliceId: a.id, bobId: b.id };
}

Deno.test("e2e: chat both ways, a file, and offline messages delivered on return", async () => {
  await world(async (w) => {
    const { alice, bob } = await pair(w);
    await alice.send("hello bob");
    assert.equal((await next(bob, "message")).text, "hello bob");
    await next(alice, "delivered", (e) => e.id === 1);
    await bob.send("hello alice");
    assert.equal((await next(alice, "message")).text, "hello alice");

    const data = systemRandom(200_000);
    const path = join(w.root, "payload.bin");
    await Deno.writeFile(path, data);
    await alice.send(`/file ${path}`);
    const offer = await next(bob, "file-offer");
    assert.equal(offer.name, "payload.bin");
    await bob.send(`/accept ${offer.file.slice(0, 8)}`);
    const got = await next(bob, "file-received");
    assert.equal(got.name, "payload.bin");
    assert.deepEqual(await Deno.readFile(got.path), data);
    assert.equal((await Deno.stat(got.path)).mode! & 0o111, 0, "never executable");

    await bob.send("/quit");
    assert.equal((await bob.end()).code, 0);
    await next(alice, "presence", (e) => !e.online);
    const from = alice.events.length;
    await alice.send("while you were away");
    await alice.send("and another");
    await alice.waitFor(on("queued", (e) => e.id === 3 && e.at === "relay"), "queued", 60_000, from);
    const back = w.client("bob");
    await next(back, "message", (e) => e.text === "and another");
    assert.deepEqual(back.events.filter(on("message")).map((e) => (e as Ev<"message">).text), [
      "while you were away",
      "and another",
    ]);
    await next(alice, "delivered", (e) => e.id === 3);
  });
});

Deno.test("e2e: a relay killed with SIGKILL and restarted loses nothing; clients reconnect", async () => {
  await world(async (w) => {
    const { alice, bob } = await pair(w);
    await alice.send("before");
    await next(bob, "message", (e) => e.text === "before");
    await w.restartRelay("SIGKILL");
    const offline = alice.events.length;
    await alice.send("typed while the relay was down");
    await next(alice, "connection", (e) => e.state === "online", offline);
    await next(bob, "message", (e) => e.text === "typed while the relay was down");
    await bob.send("and back");
    await next(alice, "message", (e) => e.text === "and back");
    assert.ok(
      alice.events.some(on("connection", (e) => e.state === "offline" && e.retryInSeconds !== undefined)),
    );
  });
});

Deno.test("e2e: a wrong passphrase and a wrong or changed pin are refused in one sentence", async () => {
  await world(async (w) => {
    const first = w.client("carol", { pin: undefined });
    assert.equal((await next(first, "ready")).trust, "first-use");
    await first.send("/quit");
    assert.equal((await first.end()).code, 0);

    const wrong = w.client("carol", { pin: undefined, passphrase: "not carol's passphrase" });
    assert.deepEqual((await next(wrong, "error")).message, "That passphrase does not unlock this keystore.");
    assert.deepEqual(await wrong.end(), { code: 1, stderr: "" });

    const pinned = w.client("dave", { pin: "A".repeat(43) });
    assert.match(
      (await next(pinned, "error")).message,
      /^Refused to connect: .* not the pin A{43} given with --pin/,
    );
    assert.equal((await pinned.end()).code, EXIT_PIN);

    await w.restartRelay("SIGTERM", ["--refreshkeys"]);
    const changed = w.client("carol", { pin: undefined });
    assert.match(
      (await next(changed, "error")).message,
      /^Refused to connect: .* but your keystore records pin/,
    );
    assert.equal((await changed.end()).code, EXIT_PIN);
  });
});

Deno.test("e2e: a blocked ID is never matched, until unblocked", async () => {
  await world(async (w) => {
    const alice = w.client("alice"), mallory = w.client("mallory");
    const [a, m] = await Promise.all([next(alice, "ready"), next(mallory, "ready")]);
    await alice.send(`/block ${m.id}`);
    await next(alice, "info", (e) => e.text.startsWith("Blocked"));
    await mallory.send(`/chat ${a.id}`);
    await next(mallory, "chat-requested");
    await alice.send(`/chat ${m.id}`);
    assert.match(
      (await next(alice, "error")).message,
      /^You have blocked [0-9a-z-]+; \/unblock it first\.$/,
    );
    await alice.send(`/unblock ${m.id}`);
    await next(alice, "info", (e) => e.text.startsWith("Unblocked"));
    assert.ok(!mallory.events.some(on("chat-open")), "mallory learned nothing");
    await alice.send(`/chat ${m.id}`);
    await Promise.all([next(alice, "chat-open"), next(mallory, "chat-open")]);
  });
});
