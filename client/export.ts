// `/export PATH`: one chat's history as a plain text file, for reading or archiving: a header naming the
// chat, then one entry per line with its time (UTC), who wrote it and its text, and under it what
// happened to it (replies, earlier versions, reactions, deleted, when it disappears). Everything a peer
// controls goes through `clean` (client/screen.ts), so printing the file on a terminal is as safe as the
// terminal UI; multi-line texts are indented. The file is new (an existing one is never overwritten),
// mode 0600.

import { formatId } from "../protocol/identity.ts";
import type { HistoryEntry } from "../protocol/history.ts";
import type { ChatRecord } from "../protocol/keystore.ts";
import { ChatError } from "./actions.ts";
import type { ChatClient } from "./chats.ts";
import { timerText } from "./events.ts";
import { chatName, findText } from "./history.ts";
import { quote } from "./receive.ts";
import { clean } from "./screen.ts";

/** "2025-01-31 14:05:09Z". */
function utc(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** Text of any length, each line cleaned, continuation lines indented. */
function body(text: string, indent: string): string {
  return text.split(/\r\n?|\n/).map((l) => clean(l)).join(`\n${indent}`);
}

/** The chat as text. */
export function renderChat(chat: ChatRecord, now: number, verified: boolean): string {
  const name = clean(chatName(chat));
  const out = [
    `sotto: the chat with ${name} (${formatId(chat.peerId)})`,
    `exported ${utc(now)}; ${chat.history.length} lines; ${verified ? "verified" : "not verified"}; ` +
    `disappearing messages ${timerText(chat.timer)}`,
    "",
  ];
  for (const h of chat.history) out.push(entry(chat, h, name));
  return out.join("\n") + "\n";
}

function entry(chat: ChatRecord, h: HistoryEntry, name: string): string {
  const who = h.kind === "out" ? "you" : h.kind === "in" ? name : "*";
  const lines = [`[${utc(h.time)}] #${h.seq} ${who}: ${h.deleted ? "(deleted)" : body(h.text, "    ")}`];
  if (h.reply) {
    const to = findText(chat, h.reply.mine, h.reply.id);
    lines.push(
      to
        ? `    replying to #${to.seq} (${to.kind === "out" ? "you" : name}): "${clean(quote(to))}"`
        : "    replying to a message no longer here",
    );
  }
  for (const v of h.versions) lines.push(`    earlier, until ${utc(v.time)}: ${body(v.text, "      ")}`);
  if (h.versions.length > 0) {
    lines.push(`    (edited ${h.versions.length} time${h.versions.length === 1 ? "" : "s"})`);
  }
  const reactions = [
    h.myReaction && `${h.myReaction} you`,
    h.peerReaction && `${clean(h.peerReaction)} ${name}`,
  ]
    .filter((r) => r);
  if (reactions.length > 0) lines.push(`    reactions: ${reactions.join(", ")}`);
  if (h.kind === "out" && h.status !== "none") lines.push(`    ${h.status}`);
  if (h.expiresAt > 0) lines.push(`    disappears ${utc(h.expiresAt)}`);
  return lines.join("\n");
}

/** Writes the chat to a new file at `path`; resolves with the number of lines. */
export async function exportChat(client: ChatClient, chat: ChatRecord, path: string): Promise<number> {
  const text = await client.run(() =>
    renderChat(chat, client.options.clock.now(), chat.verified !== null && chat.warning === "none")
  );
  try {
    const f = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
    } finally {
      f.close();
    }
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new ChatError(`${path} exists already; choose a new file name.`);
    }
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new ChatError(`Cannot write ${path}: ${(e as Error).message.replace(/\.$/, "")}.`);
  }
  return chat.history.length;
}
