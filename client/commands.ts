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
import { MAX_NICKNAME_BYTES, MAX_TEXT_BYTES } from "../protocol/payload.ts";
import { GROUP_HELP, type GroupCommand, parseGroupCommand } from "./group_parse.ts";

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
  | { readonly name: "verify" }
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
  "/verify             the active chat's safety number: compare it with your peer's",
  "/file PATH          offer a file (at most 100 MiB) to the active chat; it is sent once they accept",
  "/accept [FILE]      receive a file offered to you (its name or the start of its id; alone: the one waiting)",
  "/decline [FILE]     refuse a file offered to you (nothing of it is ever written)",
  "/close              close the active chat (your peer is told)",
  "/block ID           never be matched with ID; /unblock ID undoes it",
  "/requests [on|off]  who asks to chat with you; on/off: be told (off by default; they are never told)",
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

/** A text to send, within the payload's limit. */
function text(body: string): string {
  const bytes = utf8(body).length;
  if (bytes > MAX_TEXT_BYTES) {
    throw new CommandError(
      `A message can be at most ${MAX_TEXT_BYTES} bytes (this one has ${bytes}); send a file.`,
    );
  }
  return body;
}

/** `/msg TARGET TEXT`: the target is one word, or a nickname in double quotes. */
function msg(rest: string): Command {
  const usage = 'Usage: /msg ID|NICK TEXT (a nickname with spaces in double quotes: /msg "bob smith" hi).';
  const m = /^"([^"]+)"\s+(.+)$/s.exec(rest) ?? /^(\S+)\s+(.+)$/s.exec(rest);
  if (!m) throw new CommandError(usage);
  return { name: "msg", target: m[1], text: text(m[2]) };
}

function noArgument(
  name: "help" | "id" | "list" | "verify" | "close" | "quit" | "invite",
  rest: string,
): Command {
  if (rest !== "") throw new CommandError(`/${name} takes no argument.`);
  return { name };
}

/**
 * Parses one typed line. Returns null for a blank line, a Command otherwise; throws a CommandError (one
 * sentence) for an unknown command, a missing or bad argument, or a text too long to send.
 */
export function parseLine(line: string): Command | null {
  if (typeof line !== "string") throw new TypeError("line must be a string");
  if (line.trim() === "") return null;
  if (!line.startsWith("/") || line.startsWith("//")) {
    return { name: "text", text: text(line.startsWith("//") ? line.slice(1) : line) };
  }
  const match = /^\/(\S*)\s*(.*)$/s.exec(line)!;
  const name = match[1].toLowerCase(), rest = match[2].trim();
  switch (name) {
    case "help":
    case "id":
    case "list":
    case "verify":
    case "close":
    case "quit":
    case "invite":
      return noArgument(name, rest);
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
