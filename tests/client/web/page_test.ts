// The page on its own in headless Chromium, served by the real server (client/webserver.ts) with a
// stand-in backend: a chat of 10,000 messages keeps only the rows near the screen in the document and
// still reaches its first and last message; messages and events the page does not know (a newer client's)
// are ignored without an error; a request's error is shown as its one sentence.

import assert from "node:assert/strict";
import { WebServer } from "../../../client/webserver.ts";
import { peerMissing } from "../../_peers.ts";
import { Browser } from "./_cdp.ts";
import { BIG_CHAT, snapshot } from "./_state.ts";

Deno.test({
  name: "web page: 10,000 messages, unknown events, errors",
  ignore: peerMissing("chromium"),
}, async () => {
  const requests: Record<string, unknown>[] = [];
  const server = new WebServer({
    port: 0,
    maxUpload: 1,
    backend: {
      hello: () => [
        snapshot(10_000),
        {
          t: "event",
          e: { event: "from-a-newer-client", chat: BIG_CHAT, text: "<img src=x onerror=alert(1)>" },
        },
        { t: "event", e: { event: "message", chat: "no-such-chat", id: 1, text: "<b>x</b>", time: "" } },
        { t: "something-new", html: "<script>alert(2)</script>" },
        { t: "chat", chat: { id: BIG_CHAT, name: "<i>Bob</i>" } },
        "not an object",
      ],
      request: (m) => {
        requests.push(m);
        return m.a === "send"
          ? Promise.reject(new Error("The chat with Bob is closed."))
          : Promise.resolve(null);
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
    await tab.waitFor(`document.getElementById("chat-name").textContent === "<i>Bob</i>"`, "the big chat");
    const last = `[...document.querySelectorAll("#messages .text")].map((e) => e.textContent)`;
    await tab.waitFor(`${last}.includes("Message 9999")`, "the newest message");
    const rows = await tab.eval<number>(`document.querySelectorAll("#messages .vrow").length`);
    assert.ok(rows > 5 && rows < 100, `${rows} rows in the document`);
    // To the top: estimates give way to measured heights as rows come in; the first message is reachable.
    await tab.waitFor(
      `(document.getElementById("messages").scrollTop = 0, ${last}.some((t) => t.startsWith("Message 0:")))`,
      "the oldest message",
    );
    assert.ok(await tab.eval<number>(`document.querySelectorAll("#messages .vrow").length`) < 100);
    // A request that fails shows its sentence under the composer and keeps the text.
    await tab.eval(`document.getElementById("text").value = "hello"`);
    await tab.click("#send");
    await tab.waitFor(
      `document.getElementById("composer-error").textContent === "The chat with Bob is closed."`,
      "the error",
    );
    assert.equal(await tab.eval(`document.getElementById("text").value`), "hello");
    assert.deepEqual(requests.find((r) => r.a === "send"), {
      id: requests.at(-1)!.id,
      a: "send",
      chat: BIG_CHAT,
      text: "hello",
    });
    assert.equal(await tab.eval(`document.querySelectorAll("#app b, #app i, #app script").length`), 0);
    assert.deepEqual(tab.dialogs, []);
    assert.deepEqual(tab.errors, []);
  } finally {
    await browser.close();
    await server.stop();
    await Deno.remove(downloads, { recursive: true });
  }
});
