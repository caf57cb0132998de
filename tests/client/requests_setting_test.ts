// The requests inbox as a saved setting (client/settings.ts `requests`), against the relay in memory
// (tests/client/_fake.ts): `/requests on|off` and `/set requests on|off` store the same value and apply it
// at once (a SetOptions to the relay when connected, at the next connection when not), and a restarted
// client starts with what was stored.

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCommand } from "../../client/actions.ts";
import { parseLine } from "../../client/commands.ts";
import { getSetting } from "../../client/settings.ts";
import { OPTION_REQUESTS_INBOX } from "../../protocol/wire.ts";
import { reloaded, User, withWorld } from "./_fake.ts";

async function type(user: User, line: string): Promise<void> {
  await runCommand(user.client, parseLine(line)!);
}

/** The SetOptions the user's current link sent, in order (the relay's view of the inbox). */
function options(user: User): number[] {
  return user.link!.requests.flatMap((r) => (r.type === "set-options" ? [r.options] : []));
}

/** What `/set requests` answers. */
async function shown(user: User): Promise<string> {
  const from = user.events.length;
  await type(user, "/set requests");
  const e = user.events.slice(from).find((e) => e.event === "setting");
  assert.ok(e?.event === "setting" && e.name === "requests");
  return e.value;
}

Deno.test("requests setting: /requests and /set agree, apply at once and are stored", async () => {
  await withWorld("sotto-reqset-", async (relay, alice) => {
    await relay.connect(alice);
    assert.equal(alice.client.requestsInbox, false, "off by default");
    assert.equal(await shown(alice), "off");
    assert.deepEqual(options(alice), [], "nothing asked of the relay while off");

    await type(alice, "/requests on");
    await relay.settle();
    assert.equal(alice.client.requestsInbox, true);
    assert.equal(alice.store.contents.settings.get("requests"), "on");
    assert.equal(await shown(alice), "on", "/set sees what /requests stored");
    assert.deepEqual(options(alice), [OPTION_REQUESTS_INBOX]);

    await type(alice, "/set requests off");
    await relay.settle();
    assert.equal(alice.client.requestsInbox, false, "/set applies it at once");
    assert.equal(alice.store.contents.settings.has("requests"), false, "the default is not stored");
    assert.deepEqual(options(alice), [OPTION_REQUESTS_INBOX, 0]);
    const from = alice.events.length;
    await type(alice, "/requests");
    assert.ok(alice.events.slice(from).some((e) => e.event === "info" && /inbox is off/.test(e.text)));

    await type(alice, "/set requests ON");
    await relay.settle();
    assert.equal(alice.client.requestsInbox, true);
    assert.equal(getSetting(alice.store.contents, "requests"), true);
    assert.deepEqual(options(alice), [OPTION_REQUESTS_INBOX, 0, OPTION_REQUESTS_INBOX]);
    await assert.rejects(() => type(alice, "/set requests maybe"), /requests takes on\|off/);
    assert.equal(alice.client.requestsInbox, true, "a bad value changes nothing");
  });
});

Deno.test("requests setting: a restart keeps it, and the relay is told at each connection", async () => {
  await withWorld("sotto-reqset-", async (relay, alice, _bob, dir) => {
    await relay.connect(alice);
    await type(alice, "/requests on");
    await relay.settle();
    await alice.client.shutdown();

    // A restart: the keystore as written, decoded into a new client, which asks the relay on its own.
    let again = relay.replace(alice, new User("alice", join(dir, "alice"), reloaded(alice.store.contents)));
    assert.equal(again.client.requestsInbox, true, "the stored value, before any connection");
    await relay.connect(again);
    assert.deepEqual(options(again), [OPTION_REQUESTS_INBOX], "told at the connection");
    assert.equal(await shown(again), "on");

    // Offline, /requests off is stored too (nothing to tell the relay until the next connection).
    relay.disconnect(again);
    await type(again, "/requests off");
    assert.equal(again.client.requestsInbox, false);
    await again.client.shutdown();
    again = relay.replace(again, new User("alice", join(dir, "alice"), reloaded(again.store.contents)));
    assert.equal(again.client.requestsInbox, false);
    await relay.connect(again);
    assert.deepEqual(options(again), [], "off: the relay is not asked");
    assert.equal(await shown(again), "off");
  });
});
