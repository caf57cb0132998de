// The requests inbox end to end with real processes (client/driver.ts): a relay and clients in line mode
// with --json. Off by default; `/requests on` makes the client show who asks (a `chat-asked` event),
// `/requests` lists them, `/chat ID` accepts (the chat opens for both), `/ignore ID` dismisses one, which
// stays dismissed across a restart; the requester sees nothing of any of it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientProcess, RelayProcess } from "../../client/driver.ts";
import { next } from "./_world.ts";

Deno.test("e2e: the requests inbox — told when on, accept by asking back, ignore, the requester sees nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-requests-" });
  const relay = await RelayProcess.start(join(root, "relay"), 0, ["-q"]);
  const clients: ClientProcess[] = [];
  const start = (name: string) => {
    const c = ClientProcess.start({
      dataDir: join(root, name),
      port: relay.port,
      pin: relay.pin,
      passphrase: `${name} passphrase`,
    });
    clients.push(c);
    return c;
  };
  try {
    const alice = start("alice"), bob = start("bob"), carol = start("carol");
    const [a, b, c] = await Promise.all([next(alice, "ready"), next(bob, "ready"), next(carol, "ready")]);
    // Off by default: Alice's request shows nothing to Bob.
    await alice.send(`/chat ${b.id}`);
    await next(alice, "chat-requested");
    await bob.send("/requests");
    await next(bob, "info", (e) => /requests inbox is off/.test(e.text));
    // On: the pending request is listed, and Carol's new one is shown as it comes.
    await bob.send("/requests on");
    const fromAlice = await next(bob, "chat-asked", (e) => e.chat === a.id);
    assert.equal(fromAlice.curve, "P-521");
    assert.ok(Date.parse(fromAlice.expires) > Date.now());
    await carol.send(`/chat ${b.id}`);
    await next(bob, "chat-asked", (e) => e.chat === c.id);
    const listed = bob.events.length;
    await bob.send("/requests");
    await next(bob, "info", (e) => e.text.includes(a.id), listed);
    await next(bob, "info", (e) => e.text.includes(c.id), listed);
    // Ignore Carol; accept Alice by asking back.
    await bob.send(`/ignore ${c.id}`);
    await next(bob, "info", (e) => e.text.startsWith(`Ignored ${c.id}`));
    await bob.send(`/chat ${a.id}`);
    await Promise.all([next(alice, "chat-open"), next(bob, "chat-open")]);
    // Carol's request stays dismissed after Bob restarts; the requesters saw nothing but their own lines.
    assert.equal((await bob.end()).code, 0);
    const back = start("bob");
    await next(back, "ready");
    await back.send("/requests on");
    await next(back, "info", (e) => /Requests inbox on/.test(e.text));
    const probe = back.events.length;
    await back.send("/requests");
    await next(back, "info", (e) => /Nobody is waiting/.test(e.text), probe);
    assert.ok(!back.events.some((e) => e.event === "chat-asked"), "nothing announced");
    for (const requester of [alice, carol]) {
      assert.ok(!requester.events.some((e) => e.event === "chat-asked" || e.event === "error"));
    }
    assert.ok(carol.events.every((e) => e.event !== "chat-open"));
  } finally {
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
});
