// Reaching someone with real processes on 127.0.0.1 (client/driver.ts): an invitation from /invite used
// as `client.ts INVITATION` (the relay pinned on first use, the chat asked for) and with /chat; /msg to a
// chat that is not the active one; a relay whose stored pin differs from the invitation's refused; --pin
// stored as a first use would be; `--send` and its exit codes; and a client back within seconds of its
// relay's restart, retrying every second while it was away.

import assert from "node:assert/strict";
import { clientArgs, type ClientSpec, denoCommand } from "../../client/driver.ts";
import { EXIT_NO_CHAT, EXIT_NOT_CONFIRMED, EXIT_OK, EXIT_PIN, EXIT_USAGE } from "../../client/exit.ts";
import { formatInvitation, parseInvitation } from "../../protocol/invite.ts";
import { generateIdentity, parseId } from "../../protocol/identity.ts";
import { type Ev, next, on, pair, world } from "./_world.ts";

Deno.test("e2e: an invitation reaches someone: client.ts INVITATION and /chat INVITATION; /msg goes to the named chat", async () => {
  await world(async (w) => {
    const alice = w.client("alice");
    const a = await next(alice, "ready");
    await alice.send("/invite");
    const { invitation } = await next(alice, "invitation");
    assert.deepEqual(parseInvitation(invitation), {
      host: "127.0.0.1",
      port: w.relay.port,
      pin: w.relay.pin,
      id: parseId(a.id),
    });
    assert.match(
      (await next(alice, "info", (e) => /this machine only/.test(e.text))).text,
      /names 127\.0\.0\.1/,
    );

    // Bob has nothing but the invitation: no --pin, a new keystore. The relay's pin is the invitation's,
    // stored as a first use would store it, and the chat with alice is asked for.
    const bob = w.client("bob", { pin: undefined, host: invitation });
    const b = await next(bob, "ready");
    assert.equal(b.trust, "pinned");
    assert.equal(b.pin, w.relay.pin);
    assert.equal((await next(bob, "chat-requested")).chat, a.id);
    await alice.send(`/chat ${b.id} bob`);
    await Promise.all([next(alice, "chat-open"), next(bob, "chat-open")]);

    // Carol uses /chat with alice's invitation (and a nickname), on the same relay.
    const carol = w.client("carol");
    const c = await next(carol, "ready");
    await carol.send(`/chat ${invitation} alice`);
    assert.deepEqual(await next(carol, "chat-requested"), {
      event: "chat-requested",
      chat: a.id,
      nick: "alice",
    });
    // An invitation for another relay is not used here, and says how to use it.
    const elsewhere = formatInvitation({
      host: "127.0.0.1",
      port: w.relay.port + 1,
      pin: w.relay.pin,
      id: parseId(a.id),
    });
    await carol.send(`/chat ${elsewhere}`);
    assert.match(
      (await next(carol, "error")).message,
      /^That invitation is for the relay at 127\.0\.0\.1:\d+, and this client uses 127\.0\.0\.1:\d+; to use it, quit and start the client with the invitation in place of the relay's address/,
    );
    await alice.send(`/chat ${c.id} carol`);
    await next(alice, "chat-open", (e) => e.chat === c.id);
    await next(carol, "chat-open");

    // Carol's chat is alice's active one now; /msg bob still reaches bob only.
    await alice.send("/msg bob for bob's eyes");
    await alice.send("to the active chat");
    assert.equal((await next(bob, "message")).text, "for bob's eyes");
    assert.equal((await next(carol, "message")).text, "to the active chat");
    await alice.send("/msg nobody hello");
    assert.match(
      (await next(alice, "error", (e) => /nobody/.test(e.message))).message,
      /^No chat is called "nobody"/,
    );
    assert.ok(!bob.events.some(on("message", (m) => m.text !== "for bob's eyes")));
    assert.ok(!carol.events.some(on("message", (m) => m.text !== "to the active chat")));
  });
});

Deno.test("e2e: pins: --pin is stored as a first use; an invitation never overrides a stored pin", async () => {
  await world(async (w) => {
    const first = w.client("dave");
    assert.equal((await next(first, "ready")).trust, "pinned");
    await first.send("/quit");
    assert.equal((await first.end()).code, EXIT_OK);
    const again = w.client("dave", { pin: undefined });
    assert.equal((await next(again, "ready")).trust, "matched", "the --pin of the first run was stored");
    await again.send("/invite");
    const { invitation } = await next(again, "invitation");
    await again.send("/quit");
    assert.equal((await again.end()).code, EXIT_OK);

    // The relay gets a new key: dave's stored pin and the old invitation both disagree with it.
    await w.restartRelay("SIGTERM", ["--refreshkeys"]);
    const old = w.client("erin", { pin: undefined, host: invitation });
    assert.match(
      (await next(old, "error")).message,
      /^Refused to connect: .* not the pin \S+ in the invitation/,
    );
    assert.equal((await old.end()).code, EXIT_PIN);
    // A new invitation with the new pin, for someone who stored the old one: refused, as on any change.
    const fresh = formatInvitation({
      ...parseInvitation(invitation),
      pin: w.relay.pin,
      id: generateIdentity().id,
    });
    const stale = w.client("dave", { pin: undefined, host: fresh });
    assert.match(
      (await next(stale, "error")).message,
      /^Refused to connect: .*, as the invitation says, but your keystore records pin .* with --pin \S+\.$/,
    );
    assert.equal((await stale.end()).code, EXIT_PIN);
  });
});

Deno.test("e2e: client.ts HOST --send ID|NICK TEXT and its exit codes", async () => {
  await world(async (w) => {
    const { alice, bob, b } = await pair(w);
    await alice.send("/quit");
    assert.equal((await alice.end()).code, EXIT_OK);

    const send = async (target: string, words: string[], extra: Partial<ClientSpec> = {}) => {
      const c = w.client("alice", { extraArgs: ["--send", target], trailing: words, ...extra });
      const { code, stderr } = await c.end();
      return { code, stderr, events: c.events };
    };
    const byNick = await send("bob", ["hello", "from", "cron"]);
    assert.equal(byNick.code, EXIT_OK, JSON.stringify(byNick));
    assert.ok(byNick.events.some(on("queued", (e) => e.at === "relay")));
    assert.equal((await next(bob, "message")).text, "hello from cron");
    assert.equal((await send(b.id, ["/quit is a text here"])).code, EXIT_OK);
    assert.equal(
      (await next(bob, "message", (m) => m.text.startsWith("/quit"))).text,
      "/quit is a text here",
    );

    const unknown = await send("carol", ["hi"]);
    assert.equal(unknown.code, EXIT_NO_CHAT);
    assert.match(
      unknown.events.filter(on("error")).map((e) => (e as Ev<"error">).message).join(),
      /No chat is called "carol"/,
    );

    // No relay on that port: not confirmed (and nothing sent) once the timeout has passed.
    const away = await send("bob", ["lost?"], {
      port: 1,
      pin: undefined,
      extraArgs: ["--send", "bob", "--timeout", "2"],
    });
    assert.equal(away.code, EXIT_NOT_CONFIRMED);
    assert.match(
      away.events.filter(on("error")).map((e) => (e as Ev<"error">).message).join(),
      /not reached within 2 s; nothing was sent/,
    );

    const usage = await send("bob", []);
    assert.equal(usage.code, EXIT_USAGE);
    assert.match(usage.stderr, /--send needs the text to send/);
    assert.ok(!bob.events.some(on("message", (m) => m.text === "lost?")));
  });
});

Deno.test("e2e: after a relay restart the client is back within seconds, having retried every second", async () => {
  await world(async (w) => {
    const { alice, bob } = await pair(w);
    const from = alice.events.length;
    // Away for 6 s: with the old schedule the retries would have reached 2 and 4 s apart.
    await w.restartRelay("SIGKILL", [], 6000);
    const back = Date.now();
    await next(alice, "connection", (e) => e.state === "online", from);
    const took = Date.now() - back;
    const retries = alice.events.slice(from).filter(on("connection", (e) => e.state === "offline")) as Ev<
      "connection"
    >[];
    assert.ok(retries.length >= 3, JSON.stringify(retries));
    assert.ok(
      retries.every((e) => e.retryInSeconds === 1),
      `every retry within a second: ${JSON.stringify(retries)}`,
    );
    await alice.send("after the restart");
    assert.equal((await next(bob, "message")).text, "after the restart");
    console.log(
      `    (back ${(took / 1000).toFixed(2)} s after the relay's ready line; ${retries.length} retries)`,
    );
  });
});

Deno.test("e2e: a signal as soon as the client has connected quits it with code 0 (handlers are set before)", async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-signal-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    for (const signal of ["SIGTERM", "SIGINT", "SIGTERM", "SIGINT"] as const) {
      const dataDir = await Deno.makeTempDir({ dir: root });
      const child = new Deno.Command(denoCommand(), {
        args: clientArgs({ dataDir, port, passphrase: "a passphrase" }, true),
        env: { SOTTO_PASSPHRASE: "a passphrase" },
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      const conn = await listener.accept();
      // Before, the relay's connection could come before the handlers, and the signal killed the client.
      child.kill(signal);
      const status = await child.status;
      conn.close();
      await child.stdin.close().catch(() => {});
      assert.equal(status.code, EXIT_OK, `${signal}: ${await stderr}`);
    }
  } finally {
    listener.close();
    await Deno.remove(root, { recursive: true });
  }
});
