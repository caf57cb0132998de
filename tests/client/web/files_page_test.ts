// The page's view of the hardened core, served by the real server with a stand-in backend (no relay): an
// incoming file offer as a card with Accept and Decline reached by keyboard, an answer that fails said on
// the card, the sender's rows (waiting for an answer, then progress), file-failed as one notice with its
// row gone, chat-refused as a notice, the blocked state as the summary gives it; and the page shows
// format characters exactly as the terminal does (client/web/format.js, run by Chromium, against
// client/screen.ts's clean run by Deno on the same tricky inputs).

import assert from "node:assert/strict";
import { clean } from "../../../client/screen.ts";
import { showFormat } from "../../../client/web/format.js";
import { WebServer } from "../../../client/webserver.ts";
import { peerMissing } from "../../_peers.ts";
import { Browser, type Tab } from "./_cdp.ts";
import { BIG_CHAT, snapshot } from "./_state.ts";

const js = (v: unknown) => JSON.stringify(v);

/** Inputs a peer could send: bidi marks and overrides, invisible characters, tags, emoji sequences. */
const TRICKY = [
  "invoice\u202egpj.exe",
  "\u200eleft \u200fright \u061carabic",
  "a\u2066b\u2067c\u2068d\u2069e \u202a\u202b\u202c\u202d",
  "zero\u200bwidth\u200cnon\u200djoiner\u2060word\u00adsoft\ufeffbom",
  "tags\u{e0001}\u{e0041}\u{e007f}",
  "👩\u200d💻 and 👩🏽\u200d💻 and ❤\ufe0f\u200d🔥",
  "\u200d👩 👩\u200d \u200d\u200d",
  "a\u200db",
  "\u0600\u0605\u06dd\u070f\u08e2\u180e\u2061\u2064\u206a\u206f\ufff9\ufffb",
  "\u{110bd}\u{110cd}\u{13430}\u{1343f}\u{1bca0}\u{1d173}\u{1d17a}",
  "plain ✓ 日本 café",
];

/** A chat's summary as client/webapp.ts sends it. */
function chat(id: string, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    name,
    nickname: name,
    peerNickname: "",
    state: "open",
    blocked: false,
    online: true,
    unread: 0,
    updatedAt: Date.now(),
    curve: "P-256",
    verifiable: true,
    offers: [],
    receiving: [],
    sending: [],
    last: null,
    lines: [],
    ...extra,
  };
}

const MALLORY = `${BIG_CHAT.slice(0, -4)}mmmm`;
const OFFER = "aa".repeat(16),
  REFUSED = "ab".repeat(16),
  WAITING = "cc".repeat(16),
  SENDING = "dd".repeat(16),
  DRAFT = "ee".repeat(16);

Deno.test({
  name: "web page: file offers, transfers, notices, blocked state, format characters",
  ignore: peerMissing("chromium"),
}, async () => {
  const requests: Record<string, unknown>[] = [];
  const start = snapshot(0) as Record<string, unknown>;
  const now = Date.now();
  const bob = chat(BIG_CHAT, "Bob", {
    offers: [
      { file: OFFER, name: "report\u202efdp.exe", size: 150_000, bytes: 0 },
      { file: REFUSED, name: "huge.iso", size: 90_000_000, bytes: 0 },
    ],
    sending: [
      { file: WAITING, name: "notes.txt", size: 20, bytes: 0, answer: "waiting" },
      { file: SENDING, name: "photo.jpg", size: 100_000, bytes: 40_000, answer: "accepted" },
      { file: DRAFT, name: "draft.txt", size: 5, bytes: 0, answer: "waiting" },
    ],
    lines: TRICKY.map((text, i) => ({ seq: i + 1, kind: "in", status: "none", time: now, text })),
  });
  const mallory = chat(MALLORY, "Mallory", { state: "closed", blocked: true, online: false });
  let server: WebServer | null = null;
  server = new WebServer({
    port: 0,
    maxUpload: 1,
    backend: {
      hello: () => [{ ...start, active: BIG_CHAT, chats: [bob, mallory] }],
      request: (m) => {
        requests.push(m);
        if (m.a === "accept" && m.file === REFUSED) {
          return Promise.reject(new Error('There is not enough free space for "huge.iso".'));
        }
        if (m.a === "accept") {
          // What the core does: the offer becomes a file arriving, and the page hears it first.
          const accepted = {
            ...bob,
            offers: (bob.offers as { file: string }[]).filter((o) => o.file !== m.file),
            receiving: [{ file: OFFER, name: "report\u202efdp.exe", size: 150_000, bytes: 0 }],
          };
          server!.broadcast({ t: "chat", chat: accepted, lines: [] });
        }
        return Promise.resolve(null);
      },
      upload: () => Promise.reject(new Error("no uploads here")),
      download: () => null,
    },
  });
  const downloads = await Deno.makeTempDir();
  const browser = await Browser.start(downloads);
  try {
    const tab = await browser.tab();
    await tab.view(1280, 800);
    await tab.navigate(server.url);
    await tab.waitFor(`document.querySelector('.transfer.offer[data-file="${OFFER}"]')`, "the offer card");

    // The offer: its name as the terminal shows it, its size and sender, buttons labelled for readers.
    const card = `document.querySelector('.transfer.offer[data-file="${OFFER}"]')`;
    assert.equal(
      await tab.eval(`${card}.querySelector(".transfer-name").textContent`),
      "report<U+202E>fdp.exe",
    );
    assert.match(
      await tab.eval<string>(`${card}.querySelector(".transfer-detail").textContent`),
      /^Bob offers/,
    );
    assert.equal(
      await tab.eval(`${card}.getAttribute("aria-label")`),
      "Bob offers the file report<U+202E>fdp.exe, 146.5\u00a0KiB",
    );
    assert.equal(await tab.eval(`${card}.getAttribute("role")`), "group");
    assert.equal(
      await tab.eval(`${card}.querySelector(".accept").getAttribute("aria-label")`),
      "Accept report<U+202E>fdp.exe from Bob",
    );
    // The chat list says a file waits.
    assert.match(
      await tab.eval<string>(
        `document.querySelector('.chat-item[data-id="${BIG_CHAT}"] .chat-last').textContent`,
      ),
      /^Offers 2 files$/,
    );

    // The sender's side: one offer waiting for its answer (no bar), one file on its way with its progress.
    const row = (file: string) => `document.querySelector('.transfer[data-file="${file}"]')`;
    assert.equal(await tab.eval(`${row(WAITING)}.dataset.kind`), "waiting");
    assert.match(await tab.eval<string>(`${row(WAITING)}.textContent`), /Waiting for Bob to accept/);
    assert.ok(await tab.eval(`${row(WAITING)}.querySelector("progress").hidden`));
    assert.equal(
      await tab.eval(`${row(WAITING)}.querySelector(".cancel").getAttribute("aria-label")`),
      "Withdraw the offer of notes.txt",
    );
    assert.equal(await tab.eval(`${row(SENDING)}.dataset.kind`), "sending");
    assert.equal(await tab.eval(`${row(SENDING)}.querySelector("progress").value`), 40_000);

    // Keyboard only: from the message log, Tab reaches the offer's Decline, then Accept; Enter accepts.
    await tab.eval(`document.getElementById("messages").focus()`);
    await tab.key("Tab");
    assert.equal(await tab.eval(`document.activeElement.textContent`), "Decline");
    await tab.key("Tab");
    assert.equal(
      await tab.eval(`document.activeElement.getAttribute("aria-label")`),
      "Accept report<U+202E>fdp.exe from Bob",
    );
    await tab.key("Enter");
    await tab.waitFor(`${row(OFFER)}?.dataset.kind === "receiving"`, "the accepted file arriving");
    assert.deepEqual(requests.find((r) => r.a === "accept"), {
      id: requests.find((r) => r.a === "accept")!.id,
      a: "accept",
      chat: BIG_CHAT,
      file: OFFER,
    });
    // The focus went on to the next offer's Accept.
    assert.equal(
      await tab.eval(`document.activeElement.getAttribute("aria-label")`),
      "Accept huge.iso from Bob",
    );
    // An answer the client cannot carry out is said on the card, which stays.
    await tab.key("Enter");
    await tab.waitFor(
      `${
        row(REFUSED)
      }.querySelector(".offer-error").textContent === 'There is not enough free space for "huge.iso".'`,
      "the refusal on the card",
    );
    await tab.click(`.transfer[data-file="${REFUSED}"] .decline`);
    for (let i = 0; i < 200 && !requests.some((r) => r.a === "decline"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(requests.some((r) => r.a === "decline" && r.file === REFUSED && r.chat === BIG_CHAT));

    // A transfer that fails: one notice, and its row goes.
    const toasts = `[...document.querySelectorAll("#toasts .toast span")].map((e) => e.textContent)`;
    await tab.eval(`document.getElementById("toasts").replaceChildren()`);
    server.broadcast({
      t: "event",
      e: {
        event: "file-failed",
        chat: BIG_CHAT,
        direction: "send",
        file: SENDING,
        name: "photo.jpg",
        reason: "the chat was closed",
      },
    });
    await tab.waitFor(`!${row(SENDING)}`, "the failed transfer's row gone");
    assert.deepEqual(await tab.eval(toasts), ['"photo.jpg" was not sent to Bob: the chat was closed.']);
    assert.equal(await tab.eval(`document.querySelector("#toasts .toast").getAttribute("role")`), "alert");

    // The peer declines ours; a relay opens a chat nobody asked for.
    server.broadcast({
      t: "event",
      e: { event: "file-declined", chat: BIG_CHAT, direction: "send", file: WAITING, name: "notes.txt" },
    });
    await tab.waitFor(`!${row(WAITING)}`, "the declined offer's row gone");
    server.broadcast({ t: "event", e: { event: "chat-refused", chat: MALLORY, reason: "blocked" } });
    await tab.waitFor(`${toasts}.length === 3`, "three notices");
    assert.deepEqual((await tab.eval<string[]>(toasts)).slice(1), [
      'Bob declined "notes.txt".',
      "The relay opened a chat with Mallory, whom you blocked; it was refused.",
    ]);

    // Ours withdrawn with its Cancel: the client is asked to stop that one file, and its end is no error.
    await tab.eval(`document.getElementById("toasts").replaceChildren()`);
    await tab.click(`.transfer[data-file="${DRAFT}"] .cancel`);
    for (let i = 0; i < 200 && !requests.some((r) => r.a === "cancel"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(requests.some((r) => r.a === "cancel" && r.file === DRAFT && r.chat === BIG_CHAT));
    server.broadcast({
      t: "event",
      e: {
        event: "file-failed",
        chat: BIG_CHAT,
        direction: "send",
        file: DRAFT,
        name: "draft.txt",
        reason: "you cancelled it",
      },
    });
    await tab.waitFor(`${toasts}.length === 1`, "the cancel's notice");
    assert.deepEqual(await tab.eval(toasts), ['Cancelled "draft.txt".']);
    assert.equal(await tab.eval(`document.querySelector("#toasts .toast").getAttribute("role")`), "status");
    assert.ok(await tab.eval(`!${row(DRAFT)}`));

    // The blocked state is the summary's (the core's block list), whatever the chat's last line says.
    assert.equal(
      await tab.eval(`document.querySelector('.chat-item[data-id="${MALLORY}"]').dataset.state`),
      "blocked",
    );

    // Format characters: the page's copy of the function (as Chromium runs it) agrees with Deno's, and
    // the page's text equals the terminal's wherever there is no control character to picture.
    const inBrowser = await tab.eval<string[]>(
      `import("/format.js").then((m) => ${js(TRICKY)}.map((t) => m.showFormat(t)))`,
    );
    assert.deepEqual(inBrowser, TRICKY.map((t) => showFormat(t)));
    assert.deepEqual(inBrowser, TRICKY.map((t) => clean(t)));
    await checkBubbles(tab);

    assert.deepEqual(tab.dialogs, []);
    assert.deepEqual(tab.errors, []);
  } finally {
    await browser.close();
    await server.stop();
    await Deno.remove(downloads, { recursive: true });
  }
});

/** The message bubbles show every tricky input as the terminal's clean does. */
async function checkBubbles(tab: Tab): Promise<void> {
  const texts = await tab.waitFor<string[]>(
    `(() => {
      const t = [...document.querySelectorAll("#messages .msg.in .text")].map((e) => e.textContent);
      return t.length === ${TRICKY.length} && t;
    })()`,
    "every tricky message",
  );
  assert.deepEqual(texts, TRICKY.map((t) => clean(t)));
}
