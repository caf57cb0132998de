// The JSON API's schema (client/api.ts): docs/client.md's table is the schema, and the checker refuses what
// does not match. (Every end-to-end test that runs a client process checks each line against it too:
// client/driver.ts.)

import assert from "node:assert/strict";
import { API_VERSION, checkEventLine, EVENTS, schemaRows } from "../../client/api.ts";
import { HELP } from "../../client/commands.ts";
import { type ClientEvent, eventToJson } from "../../client/events.ts";

const DOCS = new URL("../../docs/client.md", import.meta.url);

/** The rows of the table under "The JSON API" heading, as trimmed cells. */
async function docsRows(): Promise<string[][]> {
  const text = await Deno.readTextFile(DOCS);
  const start = text.indexOf("### The JSON API");
  assert.ok(start >= 0, "docs/client.md has the JSON API section");
  const lines = text.slice(start).split("\n");
  const first = lines.findIndex((l) => l.startsWith("| event"));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    // Cells split at pipes that are not escaped.
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|")));
  }
  return rows;
}

Deno.test("JSON API: docs/client.md's table is the schema, row by row", async () => {
  assert.deepEqual(await docsRows(), schemaRows());
});

Deno.test("JSON API: every line carries the version; sample events match", () => {
  const samples: ClientEvent[] = [
    {
      event: "ready",
      id: "emky-a97y-t58q-wmz6-nhzq-8ak3-yszh-xy77-4",
      server: "127.0.0.1:6174",
      pin: "foK4WunZecd6p4wuvqlOsHq1PTmfUm13BsgFiIXkG7w",
      trust: "first-use",
      curve: "P-521",
      tls: "SecP384r1MLKEM1024",
    },
    { event: "connection", state: "offline", retryInSeconds: 2, reason: "the relay went away" },
    { event: "message", chat: "x", id: 1, line: 3, text: "hi\u202e there", time: new Date(0).toISOString() },
    { event: "error", message: "That is not a valid ID." },
  ];
  for (const e of samples) {
    const line = JSON.parse(eventToJson(e));
    assert.equal(line.v, API_VERSION);
    assert.equal(checkEventLine(line), undefined, JSON.stringify(line));
  }
});

Deno.test("JSON API: the checker refuses what the schema does not say", () => {
  const ok = { v: 1, event: "delivered", chat: "x", id: 3 };
  assert.equal(checkEventLine(ok), undefined);
  const bad: [unknown, RegExp][] = [
    [[], /not an object/],
    [{ ...ok, v: 2 }, /version is 2/],
    [{ event: "delivered", chat: "x", id: 3 }, /version is undefined/],
    [{ ...ok, event: "nope" }, /no event "nope"/],
    [{ ...ok, extra: 1 }, /does not know: extra/],
    [{ v: 1, event: "delivered", chat: "x" }, /lacks its field id/],
    [{ ...ok, id: 1.5 }, /delivered\.id is not an integer/],
    [{ ...ok, id: "3" }, /not an integer/],
    [{ v: 1, event: "queued", chat: "x", id: 1, at: "moon" }, /not one of client, relay/],
    [{ v: 1, event: "chat-asked", chat: "x", curve: "P-256", expires: "tomorrow" }, /ISO 8601/],
    [{ v: 1, event: "presence", chat: "x", online: "yes" }, /not a boolean/],
  ];
  for (const [value, problem] of bad) {
    assert.match(checkEventLine(value) ?? "", problem, JSON.stringify(value));
  }
});

Deno.test("JSON API: every event has a sentence and every field says what it is", () => {
  for (const [name, schema] of Object.entries(EVENTS)) {
    assert.ok(schema.doc.length > 0, name);
    for (const [field, f] of Object.entries(schema.fields)) {
      assert.ok((f as { doc: string }).doc, `${name}.${field}`);
    }
  }
});

Deno.test("JSON API: every command of /help is in docs/client.md's command table", async () => {
  const text = await Deno.readTextFile(DOCS);
  const table = text.slice(text.indexOf("| command"), text.indexOf("\n\n", text.indexOf("| command")));
  for (const line of HELP) {
    const command = line.match(/^\/[a-z]+/)?.[0];
    if (command === undefined) continue;
    assert.ok(table.includes(`\`${command}`), `${command} is documented`);
  }
});
