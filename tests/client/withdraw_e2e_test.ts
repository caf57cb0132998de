// Delete for everyone and disappearing messages at the relay, end to end: real client processes in --json
// mode and a real relay on 127.0.0.1. A deleted text still queued for an offline peer is withdrawn there
// (Withdraw) and never reaches the peer; a disappearing text sent to an offline peer goes as SendExpiring
// and lapses at the relay, which never delivers it. The relay's own log (its counts, written when it stops)
// says it did the work: the peer's client dropping a lapsed text on arrival would look the same to it.

import assert from "node:assert/strict";
import type { ClientProcess } from "../../client/driver.ts";
import { next, pair, world } from "./_world.ts";

/** Sums one count over the relay's `stats` lines (text format: `… stats key=value …`). */
function count(log: string, key: string): number {
  let total = 0;
  for (const line of log.split("\n")) {
    if (!/\bstats\b/.test(line)) continue;
    const m = new RegExp(`\\b${key}=(\\d+)`).exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}

/** Quits a client and waits until it has gone (its peer sees it offline). */
async function quit(c: ClientProcess, peer: ClientProcess, from: number): Promise<void> {
  await c.send("/quit");
  assert.equal((await c.end()).code, 0);
  await next(peer, "presence", (e) => !e.online, from);
}

Deno.test("e2e: a text deleted while queued for an offline peer is withdrawn at the relay and never delivered", async () => {
  await world(async (w) => {
    const { alice, bob } = await pair(w);
    await quit(bob, alice, 0);

    await alice.send("meet at the old place");
    const secret = await next(alice, "sent", (e) => e.text === "meet at the old place");
    await next(alice, "queued", (e) => e.id === secret.id && e.at === "relay");
    await alice.send(`/delete ${secret.line}`);
    await next(alice, "deleted", (e) => e.line === secret.line);
    const withdrawn = await next(alice, "withdrawn", (e) => e.line === secret.line);
    assert.equal(withdrawn.outcome, "withdrawn", "it was still in bob's queue at the relay");
    await alice.send("ignore what I said");
    const after = await next(alice, "sent", (e) => e.text === "ignore what I said");
    await next(alice, "queued", (e) => e.id === after.id && e.at === "relay");

    // Bob comes back: the later text arrives, the withdrawn one never did.
    const back = w.client("bob");
    await next(back, "message", (e) => e.text === "ignore what I said");
    assert.ok(
      !back.events.some((e) => e.event === "message" && e.id === secret.id),
      "the deleted text arrived",
    );
    // The delete that followed it names a text bob never had: nothing to show.
    assert.ok(!back.events.some((e) => e.event === "deleted"));

    for (const c of [alice, back]) await c.send("/quit");
    for (const c of [alice, back]) assert.equal((await c.end()).code, 0);
    const log = await w.relay.stop();
    assert.equal(count(log, "withdrawn"), 1, log);
  });
});

Deno.test("e2e: a disappearing text to an offline peer lapses at the relay and is never delivered", async () => {
  await world(async (w) => {
    const { alice, bob } = await pair(w);
    await alice.send("/timer 30s");
    await next(bob, "timer", (e) => e.seconds === 30);
    await quit(bob, alice, 0);

    await alice.send("this lapses before bob is back");
    const vanishing = await next(alice, "sent", (e) => e.text === "this lapses before bob is back");
    assert.equal(vanishing.ttl, 30);
    await next(alice, "queued", (e) => e.id === vanishing.id && e.at === "relay");
    await alice.send("/timer off");
    await alice.send("this one stays");
    const stays = await next(alice, "sent", (e) => e.text === "this one stays");
    assert.equal(stays.ttl, undefined);
    await next(alice, "queued", (e) => e.id === stays.id && e.at === "relay");
    // Alice leaves before her copy lapses: she cannot withdraw it, so only the relay's expiry can drop it.
    await alice.send("/quit");
    assert.equal((await alice.end()).code, 0);

    // Past the text's 30 s (a wait for the lapse, not a measurement).
    await new Promise((r) => setTimeout(r, 35_000));
    const back = w.client("bob");
    await next(back, "message", (e) => e.text === "this one stays");
    assert.ok(
      !back.events.some((e) => e.event === "message" && e.id === vanishing.id),
      "the lapsed text arrived",
    );
    await back.send("/quit");
    assert.equal((await back.end()).code, 0);
    const log = await w.relay.stop();
    assert.equal(count(log, "expired"), 1, `the relay dropped the lapsed text itself:\n${log}`);
  });
});
