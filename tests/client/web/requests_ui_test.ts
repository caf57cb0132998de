// The requests inbox in the web UI, in a real headless Chromium (tests/client/web/_cdp.ts) with alice
// started with --web and bob, carol and dave in line mode with --json, through a real relay on 127.0.0.1.
// Alice turns the inbox on with the sidebar's switch (the saved setting: /set sees it); bob's request shows
// in her page as text (his ID, the curve, when it lapses) and Accept, by keyboard, opens the chat on both
// sides; carol's Ignore takes hers off the list, and turning the inbox off and on again relists dave's and
// not hers (the relay stopped announcing it); Block takes dave's off. The requesters see none of it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientProcess, RelayProcess } from "../../../client/driver.ts";
import type { ClientEvent } from "../../../client/events.ts";
import { peerMissing } from "../../_peers.ts";
import { Browser } from "./_cdp.ts";

type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;

async function next<K extends ClientEvent["event"]>(
  c: ClientProcess,
  kind: K,
  test: (e: Ev<K>) => boolean = () => true,
  from = 0,
): Promise<Ev<K>> {
  return await c.waitFor((e) => e.event === kind && test(e as Ev<K>), kind, 60_000, from) as Ev<K>;
}

const js = (v: unknown) => JSON.stringify(v);
const item = (id: string) => `.request-item[data-id=${js(id)}]`;
/** The IDs the page lists as asking, in order. */
const listed = `[...document.querySelectorAll("#requests-list .request-item")].map((li) => li.dataset.id)`;

Deno.test({
  name: "web UI: the requests inbox — switch, accept, ignore and block in the sidebar",
  ignore: peerMissing("chromium"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-web-requests-" });
  const relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  let browser: Browser | null = null;
  try {
    const start = (name: string, extraArgs: string[] = []) => {
      const c = ClientProcess.start({
        dataDir: join(root, name),
        port: relay.port,
        pin: relay.pin,
        passphrase: `${name} passphrase`,
        extraArgs,
      });
      clients.push(c);
      return c;
    };
    const alice = start("alice", ["--web"]), bob = start("bob"), carol = start("carol"), dave = start("dave");
    const [ra, rb, rc, rd] = await Promise.all([alice, bob, carol, dave].map((c) => next(c, "ready")));
    const web = await next(alice, "web");
    browser = await Browser.start(join(root, "downloads"));
    const a = await browser.tab();
    await a.view(1280, 900);
    await a.navigate(web.url);
    await a.waitFor(`document.getElementById("conn").dataset.state === "online"`, "online");

    // Off by default: no section, the switch off and labelled, with its sentence on the trade-off.
    assert.deepEqual(
      await a.eval(`(() => {
        const t = document.getElementById("requests-toggle");
        return [document.getElementById("requests").hidden, t.checked, t.getAttribute("role"),
          t.labels[0].textContent.trim(), document.getElementById(t.getAttribute("aria-describedby")).textContent];
      })()`),
      [
        true,
        false,
        "switch",
        "Tell me who asks to chat",
        "\n            Anyone who knows your ID can then show you theirs; they are never told whether you saw it.\n          ",
      ],
    );

    // Alice turns it on in the page: stored as the setting, applied at once.
    await a.click("#requests-toggle");
    await a.waitFor(`!document.getElementById("requests").hidden`, "the Requests section");
    await next(alice, "info", (e) => /^Requests inbox on/.test(e.text));
    let from = alice.events.length;
    await alice.send("/set requests");
    assert.equal((await next(alice, "setting", (e) => e.name === "requests", from)).value, "on");
    assert.equal(await a.eval(`document.getElementById("requests-toggle").checked`), true);

    // Bob asks: his request shows as text, with the curve and when it lapses.
    await bob.send(`/chat ${ra.id}`);
    await next(alice, "chat-asked", (e) => e.chat === rb.id);
    await a.waitFor(`document.querySelector(${js(item(rb.id))})`, "bob's request");
    const row = await a.eval<{ id: string; elements: number; meta: string; labels: string[] }>(`(() => {
      const li = document.querySelector(${js(item(rb.id))});
      const id = li.querySelector(".request-id");
      return {
        id: id.textContent,
        elements: id.childElementCount,
        meta: li.querySelector(".request-meta").textContent,
        labels: [...li.querySelectorAll("button")].map((b) => b.getAttribute("aria-label")),
      };
    })()`);
    assert.equal(row.id, rb.id);
    assert.equal(row.elements, 0, "the ID is text, not markup");
    assert.match(row.meta, /^P-521 · lapses in \d+ (min|h|days)$/);
    assert.deepEqual(row.labels, [
      `Accept the request from ${rb.id}: ask for a chat back`,
      `Ignore the request from ${rb.id}`,
      `Block ${rb.id}`,
    ]);
    assert.equal(await a.eval(`document.getElementById("requests-count").textContent`), "1");

    // Accept, by keyboard: the chat opens on both sides and the request leaves the list.
    await a.eval(`document.querySelector(${js(item(rb.id) + " button.primary")}).focus()`);
    await a.key("Enter");
    await Promise.all([next(alice, "chat-open", (e) => e.chat === rb.id), next(bob, "chat-open")]);
    await a.waitFor(`document.querySelector('.chat-item[data-id=${js(rb.id)}]')`, "bob's chat in the list");
    await a.waitFor(`${listed}.length === 0`, "the request gone");
    assert.equal(await a.eval(`document.getElementById("requests-empty").hidden`), false);

    // Carol and then dave ask; carol's is ignored.
    await carol.send(`/chat ${ra.id}`);
    await next(alice, "chat-asked", (e) => e.chat === rc.id);
    await dave.send(`/chat ${ra.id}`);
    await next(alice, "chat-asked", (e) => e.chat === rd.id);
    await a.waitFor(`${listed}.join() === ${js([rc.id, rd.id].join())}`, "carol's and dave's requests");
    await a.click(`${item(rc.id)} button:nth-of-type(2)`);
    await next(alice, "info", (e) => e.text.startsWith(`Ignored ${rc.id}`));
    await a.waitFor(`${listed}.join() === ${js(rd.id)}`, "carol's request gone");

    // Off and on again: the relay lists what is pending, oldest first in one go: dave, not carol.
    await a.click("#requests-toggle");
    await a.waitFor(`document.getElementById("requests").hidden`, "the section hidden while off");
    from = alice.events.length;
    await a.click("#requests-toggle");
    await next(alice, "chat-asked", (e) => e.chat === rd.id, from);
    await a.waitFor(`${listed}.join() === ${js(rd.id)}`, "dave's request listed again");
    assert.ok(
      !alice.events.slice(from).some((e) => e.event === "chat-asked" && e.chat === rc.id),
      "carol's ignored request is not announced again",
    );

    // Block dave, after the confirmation.
    await a.click(`${item(rd.id)} button:nth-of-type(3)`);
    await a.waitFor(`document.getElementById("prompt-dialog").open`, "the confirmation");
    await a.click("#prompt-ok");
    await next(alice, "info", (e) => e.text === `Blocked ${rd.id}.`);
    await a.waitFor(`${listed}.length === 0`, "dave's request gone");

    // The requesters learnt nothing; nothing opened but bob's chat; the page ran nothing odd.
    for (const requester of [bob, carol, dave]) {
      assert.ok(!requester.events.some((e) => e.event === "chat-asked" || e.event === "error"));
    }
    assert.ok(![carol, dave].some((c) => c.events.some((e) => e.event === "chat-open")));
    assert.deepEqual(a.dialogs, []);
    assert.deepEqual(a.errors, []);
  } finally {
    await browser?.close();
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
});
