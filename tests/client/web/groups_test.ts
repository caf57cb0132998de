// Groups in the web UI, in a real headless Chromium (tests/client/web/_cdp.ts) through a real relay: alice
// makes a group with the New group button, invites bob from the members panel (only people she has a chat
// with are offered), bob joins with the invitation's button, carol (in line mode) joins too; a text shows
// its sender's name on the other pages; the members panel lists everyone with the creator marked and says
// that blocking does not remove anyone; alice removes carol from it; bob leaves from the menu.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientProcess, RelayProcess } from "../../../client/driver.ts";
import type { ClientEvent } from "../../../client/events.ts";
import { peerMissing } from "../../_peers.ts";
import { Browser, type Tab } from "./_cdp.ts";

type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;

async function next<K extends ClientEvent["event"]>(
  c: ClientProcess,
  kind: K,
  test: (e: Ev<K>) => boolean = () => true,
): Promise<Ev<K>> {
  return await c.waitFor((e) => e.event === kind && test(e as Ev<K>), kind, 60_000) as Ev<K>;
}

const js = (v: unknown) => JSON.stringify(v);

Deno.test({
  name: "web UI: groups — create, invite from the members panel, join, talk, remove, leave",
  ignore: peerMissing("chromium"),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-web-groups-" });
  const relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  let browser: Browser | null = null;
  try {
    const start = (name: string, web: boolean) => {
      const c = ClientProcess.start({
        dataDir: join(root, name),
        port: relay.port,
        pin: relay.pin,
        passphrase: `${name} passphrase`,
        curve: "P-256",
        extraArgs: web ? ["--web"] : [],
      });
      clients.push(c);
      return c;
    };
    const alice = start("alice", true), bob = start("bob", true), carol = start("carol", false);
    const [a, b, c] = await Promise.all([alice, bob, carol].map((x) => next(x, "ready")));
    const chat = async (
      x: ClientProcess,
      xid: string,
      xname: string,
      y: ClientProcess,
      yid: string,
      yname: string,
    ) => {
      await x.send(`/chat ${yid} ${yname}`);
      await next(x, "chat-requested", (e) => e.chat === yid);
      await y.send(`/chat ${xid} ${xname}`);
      await next(x, "chat-open", (e) => e.chat === yid);
      await next(y, "chat-open", (e) => e.chat === xid);
    };
    await chat(alice, a.id, "alice", bob, b.id, "bob");
    await chat(alice, a.id, "alice", carol, c.id, "carol");

    browser = await Browser.start(join(root, "downloads"));
    const [pa, pb] = await Promise.all([browser.tab(), browser.tab()]);
    const [wa, wb] = await Promise.all([next(alice, "web"), next(bob, "web")]);
    await Promise.all([pa.view(1280, 800), pb.view(1280, 800)]);
    await Promise.all([pa.navigate(wa.url), pb.navigate(wb.url)]);
    for (const tab of [pa, pb]) {
      await tab.waitFor(`document.getElementById("conn").dataset.state === "online"`, "online");
    }

    // alice makes the group from the page.
    await pa.click("#new-group");
    await pa.waitFor(`document.getElementById("prompt-dialog").open`, "the name dialog");
    await pa.eval(`document.getElementById("prompt-input").value = "Hikers"`);
    await pa.eval(`document.getElementById("prompt-form").requestSubmit()`);
    const created = await next(alice, "group-created");
    const gid = `g:${created.group}`;
    await pa.waitFor(
      `document.getElementById("chat-status").textContent.startsWith("Group · 1 member")`,
      "the new group on screen",
    );
    assert.ok(await pa.eval(`document.getElementById("verify").hidden`), "no safety number for a group");

    // The members panel offers the people alice has a chat with; she invites bob; bob joins in his page.
    await pa.click("#members");
    await pa.waitFor(`document.getElementById("members-dialog").open`, "the members panel");
    const options = await pa.eval<string[]>(
      `[...document.querySelectorAll("#add-member option")].map((o) => o.value)`,
    );
    assert.deepEqual(options.sort(), [b.id, c.id].sort());
    assert.match(
      await pa.eval<string>(`document.getElementById("members-dialog").textContent`),
      /Blocking someone does not remove them from this group/,
    );
    await pa.eval(`document.getElementById("add-member").value = ${js(b.id)}`);
    await pa.eval(`document.getElementById("add-member-form").requestSubmit()`);
    await pb.waitFor(`document.querySelector(".invitation button.accept") !== null`, "bob's invitation");
    assert.match(await pb.eval<string>(`document.getElementById("invitations").textContent`), /Hikers/);
    await pb.click(".invitation button.accept");
    await next(bob, "group-joined");
    await pb.waitFor(
      `document.querySelector('.chat-item[data-id="${gid}"]') !== null`,
      "the group in bob's list",
    );

    // carol, in line mode, is invited from the page too and accepts.
    await pa.eval(`document.getElementById("add-member").value = ${js(c.id)}`);
    await pa.eval(`document.getElementById("add-member-form").requestSubmit()`);
    await next(carol, "group-invitation");
    await carol.send("/group accept");
    await next(carol, "group-joined");
    await pa.waitFor(`document.querySelectorAll("#member-list .member").length === 3`, "three members");
    assert.match(await pa.eval<string>(`document.getElementById("member-list").textContent`), /creator/);
    await pa.key("Escape");

    // A text from the page reaches everyone; bob's page shows who wrote it.
    await pa.eval(`document.getElementById("text").value = "Saturday at nine?"`);
    await pa.click("#send");
    await next(carol, "group-message", (e) => e.text === "Saturday at nine?");
    await pb.click(`.chat-item[data-id="${gid}"] button`);
    await pb.waitFor(
      `[...document.querySelectorAll("#messages .msg.in")].some((m) => m.textContent.includes("Saturday at nine?") && m.querySelector(".sender")?.textContent === "alice")`,
      "the text with its sender on bob's page",
    );
    await carol.send("/switch Hikers");
    await carol.send("Count me in");
    await pb.waitFor(
      `[...document.querySelectorAll("#messages .msg.in .sender")].some((s) => s.textContent.startsWith("${
        c.id.slice(0, 14)
      }"))`,
      "carol's text, named by her ID's start (bob has no chat with her)",
    );

    // alice removes carol from the panel.
    await pa.click("#members");
    await pa.waitFor(`document.getElementById("members-dialog").open`, "the members panel");
    await pa.eval(
      `[...document.querySelectorAll("#member-list .member")].find((m) => m.textContent.includes(${
        js(c.id)
      })).querySelector("button[aria-label^='Remove:']").click()`,
    );
    await next(carol, "group-removed");
    await pa.waitFor(`document.querySelectorAll("#member-list .member").length === 2`, "two members");
    await pa.key("Escape");

    // bob leaves from the menu.
    await pb.click("#menu-button");
    await pb.click(`#chat-menu [data-action="group-leave"]`);
    await pb.waitFor(`document.getElementById("prompt-dialog").open`, "the confirmation");
    await pb.click("#prompt-ok");
    await next(bob, "group-left");
    await pb.waitFor(
      `document.getElementById("chat-status").textContent.startsWith("You left this group")`,
      "bob's page says he left",
    );
    await next(alice, "group-member-removed", (e) => e.member === b.id && e.left);
  } finally {
    await browser?.close();
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
});

export type { Tab };
