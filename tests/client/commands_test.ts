// Typed lines: every command and its arguments, texts (including "//" for a leading slash), and the one
// sentence each mistake gets.

import assert from "node:assert/strict";
import { generateIdentity } from "../../protocol/identity.ts";
import { formatId } from "../../protocol/identity.ts";
import { CommandError, HELP, parseLine } from "../../client/commands.ts";

const id = generateIdentity().id;
const written = formatId(id);

function fails(line: string, pattern: RegExp): void {
  assert.throws(() => parseLine(line), (e) => {
    assert.ok(e instanceof CommandError, `${line}: ${e}`);
    assert.match(e.message, pattern);
    assert.match(e.message, /^[A-Z/"].*\.$/, "one sentence");
    return true;
  });
}

Deno.test("commands: blank lines are nothing, other lines are texts", () => {
  assert.equal(parseLine(""), null);
  assert.equal(parseLine("   \t"), null);
  assert.deepEqual(parseLine("hello there"), { name: "text", text: "hello there" });
  assert.deepEqual(parseLine("  indented "), { name: "text", text: "  indented " });
  assert.deepEqual(parseLine("//help is a text"), { name: "text", text: "/help is a text" });
  assert.deepEqual(parseLine("KILLCONNECTION"), { name: "text", text: "KILLCONNECTION" });
  assert.deepEqual(parseLine("<FILE> /etc/passwd"), { name: "text", text: "<FILE> /etc/passwd" });
});

Deno.test("commands: each command without arguments", () => {
  for (const name of ["help", "id", "list", "close", "quit", "unread", "mute", "unmute"] as const) {
    assert.deepEqual(parseLine(`/${name}`), { name });
    assert.deepEqual(parseLine(`/${name.toUpperCase()}  `), { name });
    fails(`/${name} extra`, /takes no argument/);
  }
});

Deno.test("commands: /chat takes an ID in any case or grouping, and an optional nickname", () => {
  const plain = written.replace(/-/g, "");
  for (const form of [written, written.toUpperCase(), plain, written.replace(/-/g, " ").replace(/ /g, "_")]) {
    const cmd = parseLine(`/chat ${form}`);
    assert.equal(cmd?.name, "chat");
    if (cmd?.name === "chat") {
      assert.deepEqual(cmd.peerId, id);
      assert.equal(cmd.nickname, "");
    }
  }
  const named = parseLine(`/chat ${written}   Bob  the builder `);
  assert.ok(named?.name === "chat");
  assert.equal(named.nickname, "Bob the builder");
  fails("/chat", /Usage: \/chat ID/);
  fails("/chat not-an-id", /not an ID/);
  fails(`/chat ${written} ${"x".repeat(65)}`, /at most 64 bytes/);
});

Deno.test("commands: /switch, /nick, /file, /block, /unblock", () => {
  assert.deepEqual(parseLine("/switch bob"), { name: "switch", target: "bob" });
  fails("/switch", /Usage/);
  assert.deepEqual(parseLine("/nick Alice Smith"), { name: "nick", nickname: "Alice Smith" });
  fails("/nick", /Usage/);
  fails("/nick bad\x1b[2Jname", /control characters/);
  fails("/nick bidi\u202ename", /control characters/);
  assert.deepEqual(parseLine("/file /tmp/my notes.txt"), { name: "file", path: "/tmp/my notes.txt" });
  fails("/file", /Usage/);
  assert.deepEqual(parseLine(`/block ${written}`), { name: "block", peerId: id });
  assert.deepEqual(parseLine(`/unblock ${written}`), { name: "unblock", peerId: id });
  fails("/block", /Usage: \/block ID/);
});

Deno.test("commands: unknown commands and over-long texts are refused", () => {
  fails("/frobnicate", /no command \/frobnicate.*\/\//);
  fails("/", /no command/);
  fails("x".repeat(32705), /at most 32704 bytes.*send a file/);
  assert.equal(parseLine("é".repeat(16352))?.name, "text"); // 32704 bytes exactly
  assert.throws(() => parseLine(42 as unknown as string), TypeError);
});

Deno.test("commands: /help lists every command", () => {
  for (const name of ["help", "id", "chat", "switch", "nick", "verify", "file", "close", "block", "quit"]) {
    assert.ok(HELP.some((line) => line.startsWith(`/${name}`)), name);
  }
});
