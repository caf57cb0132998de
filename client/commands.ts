// What a typed line means, the same in the terminal UI and in line mode: a command (a line starting
// with "/") or a text for the active chat. "//" at the start sends a text that begins with "/". Commands
// are parsed here only; client/chats.ts carries them out. Nothing typed is ever a control message on the
// wire: text always travels as a text payload (protocol/payload.ts).

import { utf8 } from "../crypto/bytes.ts";
import { ProtocolError } from "../protocol/codec.ts";
import { IdTypoError, parseId } from "../protocol/identity.ts";
import {
  type Invitation,
  InvitationError,
  looksLikeInvitation,
  parseInvitation,
} from "../protocol/invite.ts";
import { MAX_NICKNAME_BYTES, MAX_TEXT_BYTES, reactionProblem, timerProblem } from "../protocol/payload.ts";
import { GROUP_HELP, type GroupCommand, parseGroupCommand } from "./group_parse.ts";

/** A message named in a command: its line number, or "last" (the newest one the command can take). */
export type LineRef = number | "last";

/** Most lines /history replays, and most results /search gives. */
export const MAX_REPLAY = 1000;
export const MAX_RESULTS = 100;

/** A parsed line. */
export type Command =
  | { readonly name: "help" }
  | { readonly name: "id" }
  | { readonly name: "list" }
  | {
    readonly name: "chat";
    readonly peerId: Uint8Array;
    readonly nickname: string;
    /** Set when the chat was asked for with an invitation (its ID is `peerId`). */
    readonly invitation?: Invitation;
  }
  | { readonly name: "invite" }
  | { readonly name: "msg"; readonly target: string; readonly text: string }
  | { readonly name: "switch"; readonly target: string }
  | { readonly name: "nick"; readonly nickname: string }
  | { readonly name: "verify"; readonly action: "show" | "ok" | "off" | "accept" }
  | { readonly name: "reply"; readonly ref: LineRef; readonly text: string }
  | { readonly name: "react"; readonly ref: LineRef; readonly emoji: string }
  | { readonly name: "edit"; readonly ref: LineRef; readonly text: string }
  | { readonly name: "delete"; readonly ref: LineRef }
  | { readonly name: "timer"; readonly seconds: number | null }
  | { readonly name: "set"; readonly setting: string | null; readonly value: string | null }
  | { readonly name: "search"; readonly all: boolean; readonly query: string }
  | { readonly name: "history"; readonly count: number }
  | { readonly name: "unread" }
  | { readonly name: "forget"; readonly target: string }
  | { readonly name: "clear"; readonly history: boolean }
  | { readonly name: "export"; readonly path: string }
  | { readonly name: "mute" | "unmute" }
  | { readonly name: "file"; readonly path: string }
  | { readonly name: "accept" | "decline"; readonly target: string }
  | { readonly name: "close" }
  | { readonly name: "block"; readonly peerId: Uint8Array }
  | { readonly name: "unblock"; readonly peerId: Uint8Array }
  /** Lists who asks to chat (no argument), or turns the requests inbox on or off. */
  | { readonly name: "requests"; readonly on?: boolean }
  | { readonly name: "ignore"; readonly peerId: Uint8Array }
  | { readonly name: "quit" }
  | { readonly name: "text"; readonly text: string }
  | GroupCommand;

/** A line that is not a valid command; the message is one sentence for the user. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/** One line per command, for /help. */
export const HELP: readonly string[] = [
  "/help               this list",
  "/id                 your ID (give it to the people you want to talk to)",
  "/chat ID [nickname] ask for a chat with ID (it opens when they ask for you too); renames an existing one",
  "/chat INVITATION    the same with an invitation (sotto://…) someone gave you; a nickname may follow",
  "/invite             your invitation (relay, pin and ID in one string) and its QR code",
  "/msg ID|NICK TEXT   send TEXT to that chat, whichever is active (for scripts)",
  "/switch NICK|ID     make another chat the active one",
  "/list               your chats, with unread counts",
  "/nick NAME          tell the active chat's peer what to call you",
  "/verify [ok|off|accept] the safety number (compare it with your peer's); ok marks the chat verified",
  "/reply N TEXT       answer line N (its number, #N; ^ for their last message) with a quote",
  "/react [N] EMOJI    react to line N (default: their last message); /react [N] - takes it back",
  "/edit [N] TEXT      change a text of yours (default: your last), within 24 h, 10 times at most",
  "/delete [N]         delete a text of yours for everyone (default: your last)",
  "/timer [TIME|off]   disappearing messages in this chat: 30s to 4w (s, m, h, d, w), or off",
  "/history [N]        the last N lines of the active chat (20); /unread: from the first unread",
  "/search [-a] TEXT   search the active chat (-a: every chat)",
  "/clear [history]    clear the screen (the history stays); /clear history deletes this chat's history",
  "/export PATH        write the active chat's history to a new text file",
  "/forget [NICK|ID]   delete a closed chat: its history and keys",
  "/mute, /unmute      no notifications for the active chat, or again",
  "/set [NAME VALUE]   settings: read-receipts, typing, requests, notify, history-lines, history-days",
  "/file PATH          offer a file (at most 100 MiB) to the active chat; it is sent once they accept",
  "/accept [FILE]      receive a file offered to you (its name or the start of its id; alone: the one waiting)",
  "/decline [FILE]     refuse a file offered to you (nothing of it is ever written)",
  "/close              close the active chat (your peer is told)",
  "/block ID           never be matched with ID; /unblock ID undoes it",
  "/requests [on|off]  who asks to chat with you; on/off: be told (saved; off by default; they are never told)",
  "/ignore ID          ignore ID's request to chat (they are not told); /chat ID accepts it",
  ...GROUP_HELP,
  "/quit               leave (Ctrl-C and Ctrl-D too)",
  "anything else       is sent to the active chat; start a line with // to send a text that starts with /",
];

// C0 and C1 controls, DEL and the bidirectional overrides: never part of a name.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function nickname(text: string, what: string): string {
  const name = text.trim();
  const bytes = utf8(name).length;
  if (bytes > MAX_NICKNAME_BYTES) {
    throw new CommandError(`A ${what} can be at most ${MAX_NICKNAME_BYTES} bytes long.`);
  }
  if (CONTROL.test(name)) throw new CommandError(`A ${what} cannot contain control characters.`);
  return name;
}

function peer(text: string, usage: string): Uint8Array {
  if (text === "") throw new CommandError(`Usage: ${usage}.`);
  try {
    return parseId(text);
  } catch (e) {
    if (e instanceof IdTypoError) throw new CommandError(`That is not a valid ID: ${e.message}.`);
    if (e instanceof ProtocolError) {
      throw new CommandError(`That is not an ID (${e.message}); an ID looks like the one /id shows.`);
    }
    throw e;
  }
}

/** `/msg TARGET TEXT`: the target is one word, or a nickname in double quotes. */
function msg(rest: string): Command {
  const usage = 'Usage: /msg ID|NICK TEXT (a nickname with spaces in double quotes: /msg "bob smith" hi).';
  const m = /^"([^"]+)"\s+(.+)$/s.exec(rest) ?? /^(\S+)\s+(.+)$/s.exec(rest);
  if (!m) throw new CommandError(usage);
  return { name: "msg", target: m[1], text: checkText(m[2]) };
}

function noArgument(
  name: "help" | "id" | "list" | "close" | "quit" | "unread" | "mute" | "unmute" | "invite",
  rest: string,
): Command {
  if (rest !== "") throw new CommandError(`/${name} takes no argument.`);
  return { name };
}

/** A line number ("41", "#41") or "^" (the last one), else null. */
export function lineRef(word: string): LineRef | null {
  if (word === "^") return "last";
  const m = /^#?(\d{1,9})$/.exec(word);
  return m && Number(m[1]) > 0 ? Number(m[1]) : null;
}

/**
 * Splits "N rest" into a line reference and the rest. With `required` the first word must be one;
 * otherwise it is taken as one only when more follows (so "/edit 42" makes your last text read "42").
 */
function splitRef(text: string, required: boolean): [LineRef | null, string] {
  const m = /^\s*(\S+)(?:[ \t]+([\s\S]*))?$/.exec(text);
  if (!m) return [null, ""];
  const ref = lineRef(m[1]);
  if (ref !== null && (required || (m[2] ?? "").trim() !== "")) return [ref, m[2] ?? ""];
  return [null, required ? "" : text.replace(/^\s+/, "")];
}

/** A text within the limit. */
function checkText(text: string): string {
  const bytes = utf8(text).length;
  if (bytes > MAX_TEXT_BYTES) {
    throw new CommandError(
      `A message can be at most ${MAX_TEXT_BYTES} bytes (this one has ${bytes}); send a file.`,
    );
  }
  return text;
}

/** "30s", "5m", "1h", "2d", "1w", "90" (seconds), "off" → seconds; null if it is none of these. */
export function duration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === "off" || t === "0") return 0;
  const m = /^(\d{1,7})\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)?$/.exec(t);
  if (!m) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m[2] ?? "s")[0] as "s" | "m" | "h" | "d" | "w"];
  return Number(m[1]) * unit;
}

/**
 * Parses one typed line. Returns null for a blank line, a Command otherwise; throws a CommandError (one
 * sentence) for an unknown command, a missing or bad argument, or a text too long to send.
 */
export function parseLine(line: string): Command | null {
  if (typeof line !== "string") throw new TypeError("line must be a string");
  if (line.trim() === "") return null;
  if (!line.startsWith("/") || line.startsWith("//")) {
    return { name: "text", text: checkText(line.startsWith("//") ? line.slice(1) : line) };
  }
  const match = /^\/(\S*)\s*(.*)$/s.exec(line)!;
  const name = match[1].toLowerCase(), rest = match[2].trim();
  switch (name) {
    case "help":
    case "id":
    case "list":
    case "close":
    case "quit":
    case "unread":
    case "mute":
    case "unmute":
    case "invite":
      return noArgument(name, rest);
    case "verify": {
      const action = rest === "" ? "show" : rest.toLowerCase();
      if (action !== "show" && action !== "ok" && action !== "off" && action !== "accept") {
        throw new CommandError(
          "Usage: /verify, /verify ok (you compared it), /verify off or /verify accept.",
        );
      }
      return { name, action };
    }
    case "reply": {
      const [ref, text] = splitRef(match[2], true);
      if (ref === null || text.trim() === "") {
        throw new CommandError("Usage: /reply N TEXT (N: the line's number, or ^ for their last message).");
      }
      return { name, ref, text: checkText(text) };
    }
    case "edit": {
      const [ref, text] = splitRef(match[2], false);
      if (text.trim() === "") throw new CommandError("Usage: /edit [N] TEXT (without N: your last text).");
      return { name, ref: ref ?? "last", text: checkText(text) };
    }
    case "react": {
      const [ref, emoji] = splitRef(rest, false);
      const e = emoji.trim() === "-" ? "" : emoji.trim();
      if (emoji.trim() === "") {
        throw new CommandError("Usage: /react [N] EMOJI, or /react [N] - to take it back.");
      }
      if (reactionProblem(e) !== null) throw new CommandError("A reaction is one emoji, such as 👍.");
      return { name, ref: ref ?? "last", emoji: e };
    }
    case "delete": {
      if (rest === "") return { name, ref: "last" };
      const ref = lineRef(rest);
      if (ref === null) throw new CommandError("Usage: /delete [N] (without N: your last text).");
      return { name, ref };
    }
    case "timer": {
      if (rest === "") return { name, seconds: null };
      const seconds = duration(rest);
      if (seconds === null || timerProblem(seconds) !== null) {
        throw new CommandError("Usage: /timer 30s, 5m, 1h, 1d, 1w … up to 4w, or /timer off.");
      }
      return { name, seconds };
    }
    case "set": {
      const [setting, ...value] = rest.split(/\s+/);
      return { name, setting: setting || null, value: value.length > 0 ? value.join(" ") : null };
    }
    case "search": {
      const all = /^(-a|--all)(\s|$)/.test(rest);
      const query = (all ? rest.replace(/^\S+\s*/, "") : rest).trim();
      if (query === "") throw new CommandError("Usage: /search TEXT, or /search -a TEXT in every chat.");
      return { name, all, query };
    }
    case "history": {
      if (rest === "") return { name, count: 20 };
      if (!/^\d{1,4}$/.test(rest) || Number(rest) < 1 || Number(rest) > MAX_REPLAY) {
        throw new CommandError(`Usage: /history [N], N from 1 to ${MAX_REPLAY}.`);
      }
      return { name, count: Number(rest) };
    }
    case "forget":
      return { name, target: rest };
    case "clear":
      if (rest !== "" && rest.toLowerCase() !== "history") {
        throw new CommandError("Usage: /clear (the screen) or /clear history (this chat's history, here).");
      }
      return { name, history: rest !== "" };
    case "export":
      if (rest === "") throw new CommandError("Usage: /export PATH.");
      return { name, path: rest };
    case "chat": {
      const [id, ...nick] = rest.split(/\s+/);
      if (looksLikeInvitation(id)) {
        let invitation: Invitation;
        try {
          invitation = parseInvitation(id);
        } catch (e) {
          if (e instanceof InvitationError) throw new CommandError(e.message);
          throw e;
        }
        return { name, peerId: invitation.id, nickname: nickname(nick.join(" "), "nickname"), invitation };
      }
      return {
        name,
        peerId: peer(id, "/chat ID [nickname]"),
        nickname: nickname(nick.join(" "), "nickname"),
      };
    }
    case "msg":
      return msg(rest);
    case "switch":
      if (rest === "") throw new CommandError("Usage: /switch NICK|ID.");
      return { name, target: rest };
    case "nick": {
      const nick = nickname(rest, "name");
      if (nick === "") throw new CommandError("Usage: /nick NAME.");
      return { name, nickname: nick };
    }
    case "file":
      if (rest === "") throw new CommandError("Usage: /file PATH.");
      return { name, path: rest };
    case "accept":
    case "decline":
      return { name, target: rest };
    case "block":
    case "unblock":
    case "ignore":
      return { name, peerId: peer(rest, `/${name} ID`) };
    case "group": {
      const parsed = parseGroupCommand(rest);
      if (typeof parsed === "string") throw new CommandError(parsed);
      return parsed;
    }
    case "requests": {
      const arg = rest.toLowerCase();
      if (arg === "") return { name };
      if (arg !== "on" && arg !== "off") throw new CommandError("Usage: /requests [on|off].");
      return { name, on: arg === "on" };
    }
    default:
      throw new CommandError(
        `There is no command /${name}; /help lists them (start with // to send a text).`,
      );
  }
}
