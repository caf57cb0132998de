// The web UI in a real headless Chromium, driven over the DevTools protocol (tests/client/web/_cdp.ts):
// two clients started with --web (no passphrase: the page asks) through a real relay on 127.0.0.1, one
// browser with a tab each. First-run unlock, consent from both sides (bob's side by keyboard only),
// messages both ways with delivery marks; files: one dropped on the page, offered to bob (waiting for his
// answer on alice's page), accepted with progress on both and downloaded byte-identical, one from the
// picker declined (nothing of it on bob's disk), one withdrawn while it waits; equal safety numbers, the
// relay restarted and both pages reconnecting, a hostile peer's markup, escape sequences and bidi marks
// (text, nickname, offered file name) shown literally with nothing run, close and block; screenshots of
// the main screens (light and dark, narrow and wide) are written under a temporary folder whose path is
// printed.

import assert from "node:assert/strict";
import { join } from "node:path";
import { equalBytes, systemRandom } from "../../../crypto/bytes.ts";
import { createHash } from "../../../crypto/sha2.ts";
import { formatId, generateIdentity } from "../../../protocol/identity.ts";
import { FILE_ID_BYTES } from "../../../protocol/payload.ts";
import { App } from "../../../client/app.ts";
import { ClientProcess, RelayProcess } from "../../../client/driver.ts";
import type { ClientEvent } from "../../../client/events.ts";
import { showFormat } from "../../../client/web/format.js";
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

/** Text as the page shows it: control characters as U+2400 pictures, format characters as <U+XXXX>. */
const shown = (s: string) =>
  // deno-lint-ignore no-control-regex
  showFormat(s.replace(/[\x00-\x08\x0b-\x1f]/g, (c) => String.fromCharCode(0x2400 + c.charCodeAt(0))));

/** Sets an input's value as typing would, and submits its form. */
async function fill(tab: Tab, fields: Record<string, string>, form: string): Promise<void> {
  await tab.eval(`(() => {
    for (const [id, value] of Object.entries(${js(fields)})) {
      const el = document.getElementById(id);
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }
    document.getElementById(${js(form)}).requestSubmit();
  })()`);
}

/** Selects a chat in the list by its ID. */
async function open(tab: Tab, id: string): Promise<void> {
  await tab.click(`.chat-item[data-id="${id}"] button`);
  await tab.waitFor(`document.getElementById("chat-status").textContent.includes(${js(id)})`, `chat ${id}`);
}

/** The texts of the message bubbles on screen. */
const bubbles = (dir: "in" | "out" | "") =>
  `[...document.querySelectorAll("#messages .msg${dir ? "." + dir : ""} .text")].map((e) => e.textContent)`;

Deno.test({
  name: "web UI: two clients in Chromium through a real relay",
  ignore: peerMissing("chromium"),
}, async (t) => {
  const root = await Deno.makeTempDir({ prefix: "sotto-web-" });
  const shots = await Deno.makeTempDir({ prefix: "sotto-web-screenshots-" });
  const downloads = join(root, "downloads");
  await Deno.mkdir(downloads);
  let relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  let browser: Browser | null = null;
  const hostile: { app: App | null } = { app: null };
  // Each step needs the one before: the first that fails ends the test.
  const step = async (name: string, fn: () => Promise<void>) => {
    if (!(await t.step(name, fn))) throw new Error(`the step "${name}" failed`);
  };
  const shot = async (tab: Tab, name: string, width: number, height: number, scheme: "light" | "dark") => {
    await tab.view(width, height, scheme);
    await tab.eval(`document.getElementById("toasts").replaceChildren(); document.activeElement?.blur()`);
    const path = join(shots, `${name}-${scheme}-${width}.png`);
    await tab.screenshot(path);
    console.log(`screenshot: ${path}`);
  };
  try {
    const start = (name: string) => {
      const c = ClientProcess.start({
        dataDir: join(root, name),
        port: relay.port,
        pin: relay.pin,
        extraArgs: ["--web"],
      });
      clients.push(c);
      return c;
    };
    const alice = start("alice"), bob = start("bob");
    browser = await Browser.start(downloads);
    const [a, b] = await Promise.all([browser.tab(), browser.tab()]);
    const [wa, wb] = await Promise.all([next(alice, "web"), next(bob, "web")]);
    assert.match(wa.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
    await Promise.all([a.view(1280, 800), b.view(1280, 800)]);
    await Promise.all([a.navigate(wa.url), b.navigate(wb.url)]);
    let aliceId = "", bobId = "", malloryId = "";

    await step("first-run unlock in the page", async () => {
      for (const tab of [a, b]) {
        await tab.waitFor(`!document.getElementById("again-field").hidden`, "the new-keystore form");
      }
      // A new identity is announced only once its keystore is written (issue 14, B3): after the unlock.
      await shot(a, "unlock", 1280, 800, "light");
      await shot(a, "unlock", 360, 740, "dark");
      await a.view(1280, 800);
      // The page keeps the terminal's rules: two equal passphrases of at least 8 characters.
      await fill(a, { passphrase: "short", "passphrase-again": "short" }, "unlock-form");
      assert.match(await a.eval<string>(`document.getElementById("unlock-error").textContent`), /at least 8/);
      await fill(
        a,
        { passphrase: "alice passphrase", "passphrase-again": "alice passphrase!" },
        "unlock-form",
      );
      assert.match(await a.eval<string>(`document.getElementById("unlock-error").textContent`), /differ/);
      await fill(
        a,
        { passphrase: "alice passphrase", "passphrase-again": "alice passphrase" },
        "unlock-form",
      );
      await fill(b, { passphrase: "bob passphrase", "passphrase-again": "bob passphrase" }, "unlock-form");
      aliceId = (await next(alice, "info", (e) => e.text.startsWith("created"))).text.split(": ")[1];
      bobId = (await next(bob, "info", (e) => e.text.startsWith("created"))).text.split(": ")[1];
      for (const [tab, id] of [[a, aliceId], [b, bobId]] as const) {
        await tab.waitFor(`document.getElementById("my-id").textContent === ${js(id)}`, "the unlocked page");
        await tab.waitFor(`document.getElementById("conn").dataset.state === "online"`, "online");
      }
      await Promise.all([next(alice, "ready"), next(bob, "ready")]);
    });

    await step("consent from both sides; bob uses only the keyboard", async () => {
      await a.click("#new-chat");
      await a.waitFor(`document.getElementById("new-chat-dialog").open`, "the new-chat dialog");
      await fill(a, { "peer-id": bobId, "peer-nick": "Bob" }, "new-chat-form");
      await a.waitFor(
        `document.querySelector('.chat-item[data-id="${bobId}"]')?.dataset.state === "requested"`,
        "alice's request",
      );
      await next(alice, "chat-requested");

      // Keyboard only: Tab to "New chat", Enter, type the ID, Tab, a name, Enter; then a message and Enter.
      for (let i = 0; i < 12 && await b.eval(`document.activeElement?.id`) !== "new-chat"; i++) {
        await b.key("Tab");
      }
      assert.equal(await b.eval(`document.activeElement?.id`), "new-chat");
      await b.key("Enter");
      await b.waitFor(`document.activeElement?.id === "peer-id"`, "focus in the ID field");
      await b.type(aliceId);
      await b.key("Tab");
      await b.type("Alice");
      await b.key("Enter");
      await b.waitFor(`document.activeElement?.id === "text"`, "focus in the composer");
      await b.type("Hello Alice, typed without a mouse.");
      await b.key("Enter");
      await b.waitFor(`${bubbles("out")}.includes("Hello Alice, typed without a mouse.")`, "bob's message");
      // Ctrl+K opens the same dialog; Escape closes it.
      await b.key("k", 2);
      await b.waitFor(`document.getElementById("new-chat-dialog").open`, "Ctrl+K");
      await b.key("Escape");
      await b.waitFor(`!document.getElementById("new-chat-dialog").open`, "Escape");

      await Promise.all([next(alice, "chat-open"), next(bob, "chat-open")]);
      for (const [tab, id] of [[a, bobId], [b, aliceId]] as const) {
        await tab.waitFor(
          `document.querySelector('.chat-item[data-id="${id}"]')?.dataset.state === "open"`,
          "open",
        );
      }
    });

    await step("messages both ways with delivery marks", async () => {
      await a.waitFor(
        `${bubbles("in")}.includes("Hello Alice, typed without a mouse.")`,
        "bob's text at alice",
      );
      await b.waitFor(
        `document.querySelector("#messages .msg.out .mark")?.dataset.status === "delivered"`,
        "✓✓",
      );
      const text = "Hi Bob!\nA second line, and <b>not bold</b> & déjà vu.";
      await a.eval(`document.getElementById("text").value = ${js(text)}`);
      await a.click("#send");
      await b.waitFor(`${bubbles("in")}.includes(${js(text)})`, "alice's text at bob");
      await a.waitFor(
        `[...document.querySelectorAll("#messages .msg.out .mark")].at(-1)?.dataset.status === "delivered"`,
        "✓✓ at alice",
      );
      assert.equal(await b.eval(`document.querySelector("#messages b")`), null);
      const title = await b.eval<string>("document.title");
      assert.equal(title, "sotto");
    });

    await step(
      "files by drop and by picker: one accepted and downloaded byte-identical, one declined",
      async () => {
        // Each page records the kinds of file rows it shows, in order (offer, waiting, sending, receiving).
        for (const tab of [a, b]) {
          await tab.eval(`(() => {
          const seen = window.sottoRows = [];
          const note = () => {
            for (const li of document.querySelectorAll("#transfers .transfer")) {
              const row = li.dataset.kind + " " + li.querySelector(".transfer-name").textContent;
              if (!seen.includes(row)) seen.push(row);
            }
          };
          new MutationObserver(note).observe(document.getElementById("transfers"), {
            childList: true, subtree: true, attributes: true, characterData: true,
          });
        })()`);
        }
        const rows = (tab: Tab) => tab.eval<string[]>(`window.sottoRows`);
        const bobFiles = join(root, "bob", "files");
        const onDisk = async () => {
          try {
            return (await Array.fromAsync(Deno.readDir(bobFiles))).map((e) => e.name).sort();
          } catch {
            return [];
          }
        };
        const content = systemRandom(1_500_000);
        const path = join(root, "holiday photo.bin");
        await Deno.writeFile(path, content);
        const box = await a.eval<{ x: number; y: number }>(`(() => {
        const r = document.getElementById("messages").getBoundingClientRect();
        return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
      })()`);
        const data = { items: [], files: [path], dragOperationsMask: 1 };
        for (const type of ["dragEnter", "dragOver", "drop"]) {
          await a.session.send("Input.dispatchDragEvent", { type, x: box.x, y: box.y, data });
        }
        // Bob's page offers it (name, size, sender) with Accept and Decline; alice's waits for his answer.
        const offer = `document.querySelector('#transfers .transfer.offer')`;
        await b.waitFor(
          `${offer}?.querySelector(".transfer-name").textContent === "holiday photo.bin"`,
          "the offer",
        );
        assert.equal(
          await b.eval(`${offer}.querySelector(".transfer-detail").textContent`),
          "Alice offers this file · 1.4\u00a0MiB",
        );
        assert.equal(
          await b.eval(`${offer}.querySelector(".accept").getAttribute("aria-label")`),
          "Accept holiday photo.bin from Alice",
        );
        await a.waitFor(
          `document.querySelector('#transfers .transfer[data-kind="waiting"] .transfer-detail')?.textContent`,
          "alice's offer waiting for an answer",
        );
        assert.deepEqual(await onDisk(), [], "nothing is written before the answer");
        await shot(b, "file-offer", 1280, 800, "light");
        await shot(b, "file-offer", 1280, 800, "dark");
        await shot(b, "file-offer", 360, 740, "light");
        await shot(b, "file-offer", 360, 740, "dark");
        await shot(a, "file-offered", 1280, 800, "light");
        await b.view(1280, 800);
        await a.view(1280, 800);
        await b.click(`#transfers .transfer.offer .accept`);
        await next(alice, "file-sent", (e) => e.name === "holiday photo.bin");
        const link = await b.waitFor<string>(
          `[...document.querySelectorAll("#messages a.download")].map((a) => a.getAttribute("href")).at(-1)`,
          "the download link",
        );
        assert.match(link, /^\/download\/[0-9a-f]{32}$/);
        // Both pages showed each step: offered and waiting, then on its way with progress; then gone.
        assert.deepEqual(await rows(a), [
          "preparing holiday photo.bin",
          "waiting holiday photo.bin",
          "sending holiday photo.bin",
        ]);
        await a.waitFor(`document.querySelectorAll("#transfers .transfer").length === 0`, "alice's row gone");
        await b.waitFor(`document.querySelectorAll("#transfers .transfer").length === 0`, "bob's row gone");
        assert.deepEqual(await rows(b), ["offer holiday photo.bin", "receiving holiday photo.bin"]);
        await b.click("#messages a.download");
        const saved = join(downloads, "holiday photo.bin");
        for (let i = 0; i < 200; i++) {
          try {
            if ((await Deno.stat(saved)).size === content.length) break;
          } catch {
            // not there yet
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(await Deno.readFile(saved), content);

        // The paper clip's file picker, given a file the way the DevTools protocol does without a dialog;
        // bob declines it, and nothing of it reaches his disk.
        const picked = join(root, "notes.txt");
        await Deno.writeTextFile(picked, "picked, not dropped\n");
        const { root: doc } = await a.session.send("DOM.getDocument") as { root: { nodeId: number } };
        const { nodeId } = await a.session.send("DOM.querySelector", {
          nodeId: doc.nodeId,
          selector: "#file-input",
        }) as { nodeId: number };
        await a.session.send("DOM.setFileInputFiles", { files: [picked], nodeId });
        await b.waitFor(
          `${offer}?.querySelector(".transfer-name").textContent === "notes.txt"`,
          "the second offer",
        );
        await b.click(`#transfers .transfer.offer .decline`);
        await next(bob, "file-declined", (e) => e.name === "notes.txt");
        await next(alice, "file-declined", (e) => e.name === "notes.txt" && e.direction === "send");
        await a.waitFor(
          `[...document.querySelectorAll("#messages .system-text")].some((e) => e.textContent === 'they declined "notes.txt"')`,
          "alice's page says it was declined",
        );
        await a.waitFor(`document.querySelectorAll("#transfers .transfer").length === 0`, "alice's row gone");
        await b.waitFor(`document.querySelectorAll("#transfers .transfer").length === 0`, "bob's card gone");
        // A third, withdrawn by alice while it waits: bob's offer goes with one notice, alice's with one.
        await a.session.send("DOM.setFileInputFiles", { files: [picked], nodeId });
        await b.waitFor(
          `${offer}?.querySelector(".transfer-name").textContent === "notes.txt"`,
          "a third offer",
        );
        await a.waitFor(
          `document.querySelector('#transfers .transfer[data-kind="waiting"]')`,
          "alice's offer",
        );
        await a.eval(`document.getElementById("toasts").replaceChildren()`);
        await a.click(`#transfers .transfer[data-kind="waiting"] .cancel`);
        await next(alice, "file-failed", (e) => e.name === "notes.txt" && e.direction === "send");
        await next(bob, "file-failed", (e) => e.name === "notes.txt" && e.direction === "receive");
        await b.waitFor(
          `document.querySelectorAll("#transfers .transfer").length === 0`,
          "the offer withdrawn",
        );
        await b.waitFor(
          `[...document.querySelectorAll("#toasts .toast.error span")].some((e) => e.textContent.includes("withdrew"))`,
          "bob's notice",
        );
        await a.waitFor(
          `[...document.querySelectorAll("#toasts .toast span")].map((e) => e.textContent).join() === 'Cancelled "notes.txt".'`,
          "alice's notice",
        );
        assert.deepEqual(await onDisk(), ["holiday photo.bin"]);
        // The uploads left alice's outgoing folder once their transfers ended.
        const outgoing = join(root, "alice", "outgoing");
        for (let i = 0; i < 100 && (await Array.fromAsync(Deno.readDir(outgoing))).length > 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(await Array.fromAsync(Deno.readDir(outgoing)), []);
      },
    );

    await step("the safety numbers are equal in both pages", async () => {
      const numbers: string[] = [];
      for (const tab of [a, b]) {
        await tab.click("#verify");
        numbers.push(
          await tab.waitFor<string>(`document.getElementById("safety-digits").dataset.number`, "digits"),
        );
        assert.ok(
          await tab.eval(`document.querySelector("#safety-qr svg path").getAttribute("d").length > 1000`),
        );
      }
      assert.match(numbers[0], /^(\d{5} ){11}\d{5}$/);
      assert.equal(numbers[0], numbers[1]);
      await shot(a, "safety-number", 1280, 800, "light");
      await shot(b, "safety-number", 360, 740, "dark");
      for (const tab of [a, b]) {
        await tab.key("Escape");
        await tab.waitFor(`!document.getElementById("verify-dialog").open`, "the dialog closed");
        await tab.view(1280, 800);
      }
    });

    await step(
      "replies, reactions, an edit, a delete, the timer, read marks, typing, the unread line, search",
      async () => {
        // Read receipts and typing are opt-in: both turn them on (in the terminal, the same client).
        for (const c of [alice, bob]) {
          await c.send("/set read-receipts on");
          await c.send("/set typing on");
          await next(c, "setting", (e) => e.name === "typing");
        }
        const last = (dir: string, what: string) =>
          `[...document.querySelectorAll("#messages .msg${dir}")].sort((x, y) => x.dataset.seq - y.dataset.seq).at(-1)?.${what}`;
        await a.eval(`document.getElementById("text").value = "Shall we meet at noon?"`);
        await a.click("#send");
        await b.waitFor(`${bubbles("in")}.includes("Shall we meet at noon?")`, "the question at bob");
        // Bob's page shows alice's chat: read at once, and alice sees the read mark.
        await a.waitFor(
          `${last(".out", 'querySelector(".mark").dataset.status')} === "read"`,
          "the read mark",
        );
        assert.equal(await a.eval(last(".out", 'querySelector(".mark").getAttribute("aria-label")')), "read");

        // Bob reacts by keyboard: the log, ↑ to the last message's actions, Enter, Enter (👍).
        await b.eval(`document.getElementById("messages").focus()`);
        await b.key("ArrowUp");
        assert.match(
          await b.eval<string>(`document.activeElement.getAttribute("aria-label")`),
          /^Actions for the message from Alice at /,
        );
        await b.key("Enter");
        await b.waitFor(`!document.getElementById("msg-menu").hidden`, "the message menu");
        assert.equal(await b.eval(`document.activeElement.dataset.emoji`), "👍");
        await b.key("Enter");
        await a.waitFor(
          `${last(".out", 'querySelector(".reaction")?.textContent')} === "👍"`,
          "bob's reaction at alice",
        );
        // Bob replies (menu by mouse), typing first: alice sees "typing…", then the quote.
        await b.eval(`${last(".in", 'querySelector(".msg-actions").click()')}`);
        await b.click('#msg-menu [data-msg="reply"]');
        await b.waitFor(
          `document.getElementById("composer-context-text").textContent === "Replying to Alice: Shall we meet at noon?"`,
          "the reply context",
        );
        await b.type("Yes, at the fountain.");
        await a.waitFor(`document.getElementById("chat-status").textContent.startsWith("typing…")`, "typing");
        await b.key("Enter");
        await a.waitFor(
          `${last(".in", 'querySelector(".quote-text")?.textContent')} === "Shall we meet at noon?"`,
          "the quote",
        );
        assert.equal(
          await a.eval(last(".in", 'querySelector(".text").textContent')),
          "Yes, at the fountain.",
        );

        // Alice edits with ↑ in the empty composer; bob sees the new text marked edited.
        await a.eval(`document.getElementById("text").focus()`);
        await a.key("ArrowUp");
        await a.waitFor(`document.getElementById("text").value === "Shall we meet at noon?"`, "the edit");
        await a.eval(`document.getElementById("text").value = "Shall we meet at one?"`);
        await a.key("Enter");
        await b.waitFor(`${bubbles("in")}.includes("Shall we meet at one?")`, "the edited text at bob");
        await b.waitFor(
          `document.querySelector("#messages .msg.in .edited")?.textContent === "edited"`,
          "edited",
        );

        // Alice deletes a message for everyone; bob's page shows the tombstone.
        await a.eval(`document.getElementById("text").value = "Oops, wrong chat"`);
        await a.click("#send");
        await b.waitFor(`${bubbles("in")}.includes("Oops, wrong chat")`, "the mistake at bob");
        await a.eval(`${last(".out", 'querySelector(".msg-actions").click()')}`);
        await a.click('#msg-menu [data-msg="delete"]');
        await a.waitFor(`document.getElementById("prompt-dialog").open`, "the confirmation");
        await a.click("#prompt-ok");
        await b.waitFor(
          `${last(".in", 'querySelector(".text").textContent')} === "This message was deleted."`,
          "the tombstone",
        );
        assert.ok(!(await b.eval<string[]>(bubbles("in"))).includes("Oops, wrong chat"));

        // The timer, from the menu: both headers show it; messages carry it.
        await a.click("#menu-button");
        await a.click('#chat-menu [data-action="timer"]');
        await a.eval(`document.getElementById("timer-select").value = "3600"`);
        await a.eval(`document.getElementById("timer-form").requestSubmit()`);
        await b.waitFor(
          `document.getElementById("chat-timer").textContent === "⏱ 1 hour"`,
          "the timer at bob",
        );
        await a.eval(`document.getElementById("text").value = "This one disappears in an hour."`);
        await a.click("#send");
        await b.waitFor(
          `${last(".in", 'querySelector(".expires")?.title')}?.startsWith("Disappears at")`,
          "its timer",
        );
        await a.click("#menu-button");
        await a.click('#chat-menu [data-action="timer"]');
        await a.eval(`document.getElementById("timer-select").value = "0"`);
        await a.eval(`document.getElementById("timer-form").requestSubmit()`);
        await b.waitFor(`document.getElementById("chat-timer").hidden`, "the timer off at bob");

        // Verified: the safety number dialog marks it, the header says so.
        await a.click("#verify");
        await a.waitFor(`document.getElementById("verify-dialog").open`, "the safety number");
        await a.click("#verify-mark");
        await a.waitFor(`!document.getElementById("chat-verified").hidden`, "the verified badge");
        await next(alice, "verified", (e) => e.verified);

        // The unread line: bob looks at another chat while alice writes, then comes back.
        await bob.send(`/chat ${formatId(generateIdentity().id)} elsewhere`);
        await next(bob, "chat-requested");
        await b.waitFor(
          `!document.getElementById("chat-status").textContent.includes(${js(aliceId)})`,
          "elsewhere",
        );
        for (const t of ["one", "two", "three"]) {
          await a.eval(`document.getElementById("text").value = ${js(`unread ${t}`)}`);
          await a.click("#send");
        }
        await b.waitFor(
          `document.querySelector('.chat-item[data-id="${aliceId}"] .badge').textContent === "3"`,
          "3 unread",
        );
        await open(b, aliceId);
        await b.waitFor(
          `document.querySelector("#messages .unread-line")?.textContent === "New messages"`,
          "the unread line",
        );
        const order = await b.eval<string[]>(`[...document.querySelectorAll("#messages .vrow")]
          .sort((x, y) => parseFloat(x.style.transform.slice(11)) - parseFloat(y.style.transform.slice(11)))
          .map((r) => r.classList.contains("unread-line") ? "|" : r.querySelector(".text")?.textContent ?? "")
          .filter((t) => t === "|" || t.startsWith("unread"))`);
        assert.deepEqual(order, ["|", "unread one", "unread two", "unread three"]);
        await shot(b, "conversation-features", 1280, 800, "light");
        await shot(a, "conversation-features", 360, 740, "dark");
        await a.view(1280, 800);

        // Search: Ctrl+Shift+F, a word, the result brings its line into view.
        await a.key("f", 2 | 8);
        await a.waitFor(`document.getElementById("search-dialog").open`, "the search dialog");
        await a.type("fountain");
        await a.key("Enter");
        await a.waitFor(
          `document.querySelectorAll("#search-results .search-hit").length === 1`,
          "one result",
        );
        assert.match(
          await a.eval<string>(`document.querySelector("#search-results .hit-text").textContent`),
          /fountain/,
        );
        await a.click("#search-results .search-hit");
        await a.waitFor(`!document.getElementById("search-dialog").open`, "the dialog closed");
      },
    );

    await step("screenshots: the conversation, light and dark, wide and narrow", async () => {
      await b.eval(`document.getElementById("text").value = "A draft"`);
      await shot(a, "conversation", 1280, 800, "light");
      await shot(a, "conversation", 1280, 800, "dark");
      await shot(b, "conversation", 360, 740, "light");
      await shot(b, "conversation", 360, 740, "dark");
      await b.click("#back");
      await shot(b, "chats", 360, 740, "light");
      await shot(b, "chats", 360, 740, "dark");
      await b.view(1280, 800);
      await b.eval(`document.getElementById("text").value = ""`);
    });

    await step("the relay restarts and both pages reconnect", async () => {
      await relay.stop();
      for (const tab of [a, b]) {
        await tab.waitFor(`!document.getElementById("offline").hidden`, "the offline banner");
      }
      await shot(a, "offline", 1280, 800, "light");
      relay = await RelayProcess.start(join(root, "relay"), relay.port);
      for (const tab of [a, b]) {
        await tab.click("#retry");
        await tab.waitFor(`document.getElementById("conn").dataset.state === "online"`, "online again");
        assert.ok(await tab.eval(`document.getElementById("offline").hidden`));
      }
      await a.eval(`document.getElementById("text").value = "Still here after the restart."`);
      await a.click("#send");
      await b.waitFor(
        `${bubbles("in")}.includes("Still here after the restart.")`,
        "a text after the restart",
      );
    });

    await t.step(
      "a hostile peer's markup and escape sequences are shown literally, nothing runs",
      async () => {
        const events: ClientEvent[] = [];
        const m = hostile.app = await App.start(
          {
            host: "127.0.0.1",
            port: relay.port,
            pin: relay.pin,
            curve: "P-256",
            dataDir: join(root, "mallory"),
          },
          (e) => events.push(e),
          () => Promise.resolve("mallory passphrase"),
          () => {},
        );
        malloryId = (await waitEvent(events, "ready")).id;
        await m.line(`/chat ${bobId}`);
        await b.click("#new-chat");
        await fill(b, { "peer-id": malloryId, "peer-nick": "" }, "new-chat-form");
        await waitEvent(events, "chat-open");
        await b.waitFor(
          `document.getElementById("chat-status").textContent.startsWith("Online")`,
          "mallory online",
        );
        await b.eval(`document.getElementById("text").value = "who are you?"`);
        await b.click("#send");
        await waitEvent(events, "message");

        const markup =
          `<img src=x onerror=alert(1)> <script>alert(2)</script> <a href="javascript:alert(3)">x</a>`;
        const text =
          `${markup} javascript:alert(4) \x1b[2J\x1b]0;pwned\x07\x1b[31mred\x1b[0m invoice\u202egpj.exe`;
        const nick = `<img src=x onerror=alert(5)>\u200f`;
        const fileName = `<img src=x onerror=alert(6)> javascript:alert(7)\u200btxt\u200f.exe`;
        const fileData = new TextEncoder().encode("<script>alert(8)</script>");
        const fileId = systemRandom(FILE_ID_BYTES);
        await m.client.run(() => {
          const chat = m.client.chat(m.client.chats[0].peerId)!;
          const sha256 = createHash("SHA-256").update(fileData).digest();
          m.client.outbox.add(chat, { type: "nickname", name: nick }, 0);
          m.client.outbox.add(chat, { type: "text", id: 7, text }, 0);
          m.client.outbox.add(chat, {
            type: "file-offer",
            fileId,
            name: fileName,
            size: fileData.length,
            sha256,
          }, 0);
          // Mallory sends the file once bob accepts it (her client runs no transfer of its own for it).
          m.client.transfers.answered = (_peer, id, accept) => {
            if (accept && equalBytes(id, fileId)) {
              m.client.outbox.add(chat, { type: "file-chunk", fileId, index: 0, data: fileData }, 0);
              m.client.outbox.add(chat, { type: "file-end", fileId, status: "complete" }, 0);
            }
            return true;
          };
        });
        await b.waitFor(`${bubbles("in")}.includes(${js(shown(text))})`, "the hostile text, literally");
        await b.waitFor(
          `document.querySelector('.chat-item[data-id="${malloryId}"] .chat-name').textContent === ${
            js(`~${shown(nick)}`)
          }`,
          "the hostile nickname, literally",
        );
        await b.waitFor(
          `document.querySelector("#transfers .transfer.offer .transfer-name")?.textContent === ${
            js(shown(fileName))
          }`,
          "the hostile file name offered, literally",
        );
        await b.click(`#transfers .transfer.offer .accept`);
        await b.waitFor(
          `[...document.querySelectorAll("#messages .system-text")].some((e) => e.textContent.startsWith(${
            js(`received "${shown(fileName)}"`)
          }))`,
          "the hostile file name, literally",
        );
        await b.waitFor(`document.title === "sotto"`, "the title untouched");
        // Nothing the peer sent became an element, a link or a dialog, and nothing failed in the page.
        assert.equal(
          await b.eval(`document.querySelectorAll("#app img:not([src='/icon.svg']), #app script").length`),
          0,
        );
        assert.ok(
          await b.eval(
            `[...document.querySelectorAll("a")].every((a) => /^\\/download\\/[0-9a-f]{32}$/.test(a.getAttribute("href")))`,
          ),
        );
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(b.dialogs, []);
        assert.deepEqual(b.errors, []);
        await shot(b, "hostile", 1280, 800, "light");
        // A message in another chat: its unread count in the list and in the tab's title.
        await a.eval(`document.getElementById("text").value = "Are you there, Bob?"`);
        await a.click("#send");
        await b.waitFor(`document.title === "(1) sotto"`, "the unread count in the title");
        const badge = `document.querySelector('.chat-item[data-id="${aliceId}"] .badge').textContent`;
        assert.equal(await b.eval(badge), "1");
        // 200% zoom of a 1280 × 800 window: a 640 × 400 viewport at twice the pixels.
        await b.session.send("Emulation.setDeviceMetricsOverride", {
          width: 640,
          height: 400,
          deviceScaleFactor: 2,
          mobile: false,
        });
        await b.eval(`document.getElementById("toasts").replaceChildren()`);
        await b.screenshot(join(shots, "zoom-200-light.png"));
        console.log(`screenshot: ${join(shots, "zoom-200-light.png")}`);
        await b.view(1280, 800);
      },
    );

    await step("close and block", async () => {
      // Alice closes her chat with bob through the menu; bob's page shows it closed.
      await open(a, bobId);
      await a.click("#menu-button");
      await a.waitFor(`document.activeElement?.dataset.action === "rename"`, "focus in the menu");
      await a.click(`#chat-menu [data-action="close"]`);
      await a.waitFor(`document.getElementById("prompt-dialog").open`, "the confirmation");
      await a.click("#prompt-ok");
      await a.waitFor(
        `document.querySelector('.chat-item[data-id="${bobId}"]').dataset.state === "closed"`,
        "closed",
      );
      await next(bob, "peer-closed");
      await b.waitFor(
        `document.querySelector('.chat-item[data-id="${aliceId}"]').dataset.state === "closed"`,
        "closed",
      );
      // Bob blocks mallory.
      await open(b, malloryId);
      await b.click("#menu-button");
      await b.click(`#chat-menu [data-action="block"]`);
      await b.waitFor(`document.getElementById("prompt-dialog").open`, "the confirmation");
      await b.click("#prompt-ok");
      await b.waitFor(`document.getElementById("chat").dataset.state === "blocked"`, "blocked");
      assert.match(await b.eval<string>(`document.getElementById("chat-note").textContent`), /blocked/);
      await shot(b, "blocked", 1280, 800, "light");
      for (const tab of [a, b]) {
        assert.deepEqual(tab.dialogs, []);
        assert.deepEqual(tab.errors, []);
      }
    });
    await step(
      "a restarted client is unlocked in the page; a wrong passphrase is said and asked again",
      async () => {
        await alice.kill();
        await a.waitFor(`!document.getElementById("splash").hidden`, "the page sees its client stop");
        const again = start("alice");
        const web = await next(again, "web");
        await a.navigate(web.url);
        a.errors.length = 0; // the old page's reconnect attempts to the stopped client, refused
        await a.waitFor(`!document.getElementById("unlock").hidden`, "the unlock form");
        assert.ok(
          await a.eval(`document.getElementById("again-field").hidden`),
          "one field for an existing keystore",
        );
        assert.equal(await a.eval(`document.getElementById("unlock-title").textContent`), "Unlock sotto");
        await fill(a, { passphrase: "not alice's passphrase" }, "unlock-form");
        await a.waitFor(
          `document.getElementById("unlock-error").textContent === "That passphrase does not unlock this keystore."`,
          "the wrong passphrase, in one sentence",
        );
        await fill(a, { passphrase: "alice passphrase" }, "unlock-form");
        await a.waitFor(`document.getElementById("my-id").textContent === ${js(aliceId)}`, "unlocked");
        await a.waitFor(
          `document.querySelector('.chat-item[data-id="${bobId}"]')?.dataset.state === "closed"`,
          "the chats kept",
        );
        await open(a, bobId);
        await a.waitFor(
          `${bubbles("in")}.includes("Hello Alice, typed without a mouse.")`,
          "the history kept",
        );
        assert.deepEqual(a.errors, []);
      },
    );
    console.log(`screenshots are in ${shots}`);
  } finally {
    await browser?.close();
    await hostile.app?.stop();
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
});

/** The first event of a kind in an in-process client's list, waiting for it. */
async function waitEvent<K extends ClientEvent["event"]>(events: ClientEvent[], kind: K): Promise<Ev<K>> {
  for (let i = 0; i < 600; i++) {
    const found = events.find((e) => e.event === kind);
    if (found) return found as Ev<K>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${kind}: ${JSON.stringify(events)}`);
}
