// What the client tells its user: one typed event per thing that happened. The terminal UI draws them,
// line mode prints them as plain lines, and `--json` prints each as one JSON object per line, so scripts
// and tests can drive the client. Chats are named by the peer's formatted ID; `nick` is our local name
// for the peer when we gave one.

import { type GroupEvent, groupEventToText } from "./group_events.ts";
import { API_VERSION } from "./api.ts";

/** How the connection to the relay stands. */
export type ConnectionState = "connecting" | "online" | "offline";

/** How events name a chat: the peer's ID, our nickname for them, the name they announced. */
export interface ChatNames {
  chat: string;
  nick?: string;
  peerNick?: string;
}

/** A message named from our side: one of ours (`mine`) or the peer's, by its text id. */
export interface EventRef {
  mine: boolean;
  id: number;
  /** Its line number here, if we still have it. */
  line?: number;
  /** Its first characters, if we still have it. */
  quote?: string;
}

/** One line of a chat's history, as `history` and `found` events give it. */
export interface LineFields {
  /** The line number (stable in this chat; the commands take it). */
  line: number;
  from: "you" | "peer" | "system";
  text: string;
  time: string;
  /** Our texts: pending, queued, delivered, read or failed. */
  status?: string;
  /** Earlier versions it has (edits). */
  edits?: number;
  deleted?: boolean;
  reply?: EventRef;
  /** Reactions: ours and theirs. */
  reactions?: { by: "you" | "peer"; emoji: string }[];
  /** When it disappears (ISO 8601). */
  expires?: string;
}

/** Everything the client reports. Times are ISO 8601 strings (UTC). */
export type ClientEvent =
  | {
    event: "ready";
    id: string;
    server: string;
    pin: string;
    trust: "pinned" | "first-use" | "matched";
    curve: string;
    /** The TLS key exchange group (SecP384r1MLKEM1024 with our relay: post-quantum hybrid). */
    tls: string;
  }
  | { event: "connection"; state: ConnectionState; retryInSeconds?: number; reason?: string }
  | ({ event: "chat-requested" } & ChatNames)
  | ({
    event: "chat-open";
    role: "initiator" | "responder";
    curve: string;
    /** The chat is post-quantum: PQXDH, then ML-KEM in every ratchet step (every new chat is). */
    pq: boolean;
  } & ChatNames)
  /** Someone asked to chat with us (requests inbox, /requests on): /chat accepts, /ignore, /block. */
  | { event: "chat-asked"; chat: string; curve: string; expires: string }
  | { event: "chat-refused"; chat: string; reason: "not-asked" | "closed" | "blocked" }
  | ({
    event: "message";
    id: number;
    line: number;
    text: string;
    time: string;
    reply?: EventRef;
    /** Seconds it lives from now (a disappearing message). */
    ttl?: number;
  } & ChatNames)
  /** A text of ours was added to the chat (`line` is its number, for /edit, /delete and /reply). */
  | ({ event: "sent"; id: number; line: number; text: string; reply?: EventRef; ttl?: number } & ChatNames)
  | ({ event: "queued"; id: number; at: "client" | "relay"; line?: number } & ChatNames)
  | ({ event: "delivered"; id: number; line?: number } & ChatNames)
  /** The peer's client showed our text `id` (their read receipt; both sides opted in). */
  | ({ event: "read"; id: number; line?: number } & ChatNames)
  | ({ event: "refused"; id: number; reason: string; line?: number } & ChatNames)
  /** A reaction to line `line` by us or the peer; "" means it was taken back. */
  | ({ event: "reaction"; line: number; by: "you" | "peer"; emoji: string; target: EventRef } & ChatNames)
  | ({ event: "edited"; line: number; id: number; mine: boolean; text: string; edits: number } & ChatNames)
  | ({ event: "deleted"; line: number; id: number; mine: boolean } & ChatNames)
  /**
   * What became of taking a message of ours back at the relay (a delete for everyone, a disappearing one
   * that lapsed before the peer confirmed it), as client/outbox.ts WithdrawResult: `withdrawn` (the peer
   * never gets it), `sent` (it had gone to the peer's client), `not-found`, `unsent` (it never left this
   * client), `pending` (asked at the next connection), `unsupported` (an older relay). `line`: the text.
   */
  | ({
    event: "withdrawn";
    outcome: "withdrawn" | "sent" | "not-found" | "unsent" | "pending" | "unsupported";
    line?: number;
  } & ChatNames)
  /** Disappearing messages whose time ran out: these lines are gone. */
  | ({ event: "expired"; lines: number[] } & ChatNames)
  /** The chat's disappearing-messages timer (seconds; 0: off) and who set it. */
  | ({ event: "timer"; seconds: number; by: "you" | "peer" } & ChatNames)
  | ({ event: "typing"; typing: boolean } & ChatNames)
  /** The first unread line of the chat just opened (or asked for with /unread). */
  | ({ event: "unread"; line: number; count: number } & ChatNames)
  /** A line of the history, replayed (/history, /unread in line mode). */
  | ({ event: "history" } & LineFields & ChatNames)
  /** A line /search found. */
  | ({ event: "found"; query: string } & LineFields & ChatNames)
  | ({ event: "verified"; verified: boolean } & ChatNames)
  /**
   * Sending to the chat is held until the user looks: its identity keys differ from the ones verified
   * ("keys"), or it was given the name of a verified chat with another ID ("name-moved", `other`).
   */
  | ({ event: "identity-changed"; reason: "keys" | "name-moved"; other?: string } & ChatNames)
  | ({ event: "muted"; muted: boolean } & ChatNames)
  /** The screen was cleared (views forget what they show), or the chat's history deleted. */
  | ({ event: "cleared"; scope: "screen" | "history"; lines?: number } & ChatNames)
  /** A closed chat was forgotten: its history and keys are gone. */
  | ({ event: "forgotten" } & ChatNames)
  | ({ event: "exported"; path: string; lines: number } & ChatNames)
  | { event: "setting"; name: string; value: string }
  | ({
    event: "file-offer";
    direction: "send" | "receive";
    /** The file's id (hex); /accept and /decline take it, or its first characters. */
    file: string;
    name: string;
    size: number;
  } & ChatNames)
  | ({
    event: "file-accepted";
    direction: "send" | "receive";
    file: string;
    name: string;
    size: number;
  } & ChatNames)
  | ({
    event: "file-declined";
    direction: "send" | "receive";
    file: string;
    name: string;
    reason?: string;
  } & ChatNames)
  | ({
    event: "file-progress";
    direction: "send" | "receive";
    file: string;
    name: string;
    bytes: number;
    size: number;
  } & ChatNames)
  | ({ event: "file-sent"; file: string; name: string; size: number } & ChatNames)
  | ({ event: "file-received"; file: string; name: string; path: string; size: number } & ChatNames)
  | ({
    event: "file-failed";
    direction: "send" | "receive";
    file: string;
    name: string;
    reason: string;
  } & ChatNames)
  | ({ event: "presence"; online: boolean } & ChatNames)
  | ({ event: "peer-closed" } & ChatNames)
  | ({ event: "nickname"; name: string; warning?: string } & ChatNames)
  | ({ event: "switched" } & ChatNames)
  /** `pq`: the chat's session is post-quantum (false for a classical X3DH session made before PQXDH). */
  | ({ event: "safety-number"; number: string; pq: boolean; verified?: boolean } & ChatNames)
  | { event: "info"; text: string }
  /** /invite: our invitation (docs/protocol.md §2.1), our ID and the relay's "host:port". */
  | { event: "invitation"; invitation: string; id: string; server: string }
  /** The web UI is served at `url` (with its token): --web. */
  | { event: "web"; url: string }
  | { event: "error"; message: string; chat?: string; nick?: string; peerNick?: string }
  | GroupEvent;

// What JSON.stringify leaves as it is but a terminal or a JavaScript reader may act on: DEL, the C1
// controls, U+2028 and U+2029 (line breaks to JavaScript before ES2019), and format characters.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\p{Cf}]/gu;

/**
 * The event as one line of JSON (no newline), pure ASCII wherever a peer could hide something: every
 * control character (C0, C1, DEL), U+2028/2029 and every format character (category Cf: bidi marks,
 * overrides, invisible characters) is written as a \u escape, so a reader gets the text exactly while the
 * line itself shows them.
 */
export function eventToJson(e: ClientEvent): string {
  return JSON.stringify({ v: API_VERSION, ...e }).replace(JSON_UNSAFE, (ch) => {
    let out = "";
    for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
    return out;
  });
}

/** "nick (k3v9-…)", "~theirs (k3v9-…)" or the ID alone. */
export function chatLabel(chat: string, nick?: string, peerNick?: string): string {
  const name = nick ?? (peerNick ? `~${peerNick}` : undefined);
  return name ? `${name} (${chat.slice(0, 9)}…)` : chat;
}

/** The short name of a chat in a notice: our nickname, their announced one, or the ID's start. */
export function shortName(e: ChatNames): string {
  return e.nick ?? (e.peerNick ? `~${e.peerNick}` : e.chat.slice(0, 14));
}

/** "30 seconds", "5 minutes", "1 hour", "4 weeks", "off". */
export function timerText(seconds: number): string {
  if (seconds === 0) return "off";
  const units: [number, string][] = [[604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"], [
    1,
    "second",
  ]];
  for (const [size, name] of units) {
    if (seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${seconds} seconds`;
}

/** HH:MM of an ISO time, in local time. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Continuation lines of a multi-line text, marked so a peer's text cannot pass for another line. */
function lines(text: string): string {
  return text.replace(/\r\n?|\n/g, "\n  | ");
}

function refText(r: EventRef): string {
  const who = r.mine ? "you" : "them";
  if (r.line === undefined) return `a message of ${r.mine ? "yours" : "theirs"} no longer here`;
  return `#${r.line} ${who}: "${r.quote ?? ""}"`;
}

/** A replayed or found line: "[12:03 #41] bob: text (edited) [👍 you]". */
function lineText(e: LineFields & ChatNames): string {
  const who = e.from === "you" ? "you" : e.from === "peer" ? shortName(e) : "*";
  const body = e.deleted ? "(deleted)" : lines(e.text);
  const extra = [
    e.reply ? ` (replying to ${refText(e.reply)})` : "",
    e.edits ? " (edited)" : "",
    e.expires ? ` (disappears ${clock(e.expires)})` : "",
    e.status && e.status !== "queued" ? ` [${e.status}]` : "",
    ...(e.reactions ?? []).map((r) => ` [${r.emoji} ${r.by === "you" ? "you" : shortName(e)}]`),
  ].join("");
  return `[${clock(e.time)} #${e.line}] ${who}:${extra} ${body}`;
}

/** The event as plain text for line mode (one line; an invitation two), or null for events that need none. */
export function eventToText(e: ClientEvent): string | null {
  switch (e.event) {
    case "ready":
      return `ready: you are ${e.id} on ${e.server} (pin ${e.pin}, ${e.trust}, ${e.curve}, TLS ${e.tls})`;
    case "connection":
      if (e.state === "online") return "* connected";
      if (e.state === "connecting") return null;
      return `* offline${e.reason ? `: ${e.reason}` : ""}` +
        (e.retryInSeconds !== undefined ? `; reconnecting in ${e.retryInSeconds} s` : "");
    case "chat-requested":
      return `* asked for a chat with ${
        chatLabel(e.chat, e.nick, e.peerNick)
      }; it opens when they ask for you too`;
    case "chat-asked":
      return `* ${e.chat} asks to chat with you: /chat ${e.chat} accepts, /ignore ${e.chat} ignores, /block ${e.chat} blocks`;
    case "chat-open":
      return `* chat with ${chatLabel(e.chat, e.nick, e.peerNick)} is open (${e.curve}${
        e.pq ? ", post-quantum" : ""
      })`;
    case "chat-refused":
      return `* the relay opened a chat with ${e.chat} ${
        e.reason === "blocked"
          ? "whom you blocked"
          : e.reason === "closed"
          ? "that you closed"
          : "that you did not ask for"
      }; it was refused`;
    case "message":
      return `[${clock(e.time)} #${e.line}] ${shortName(e)}:${
        e.reply ? ` (replying to ${refText(e.reply)})` : ""
      }${e.ttl ? ` (disappears in ${e.ttl} s)` : ""} ${lines(e.text)}`;
    case "sent":
      return null;
    case "queued":
      return e.at === "client" ? `* message ${e.id} waits here until it can be sent` : null;
    case "delivered":
    case "read":
    case "typing":
      return null;
    case "refused":
      return `* message ${e.id} to ${shortName(e)} was refused: ${e.reason}`;
    case "reaction":
      return e.emoji === ""
        ? `* ${e.by === "you" ? "you" : shortName(e)} took back a reaction to #${e.line}`
        : `* ${e.by === "you" ? "you" : shortName(e)} reacted ${e.emoji} to #${e.line}`;
    case "edited":
      return `* ${e.mine ? "you" : shortName(e)} edited #${e.line}: ${lines(e.text)}`;
    case "deleted":
      return `* ${e.mine ? "you" : shortName(e)} deleted #${e.line} for everyone`;
    case "withdrawn": {
      const what = e.line ? `#${e.line}` : "a message";
      if (e.outcome === "withdrawn") {
        return `* ${what} was withdrawn from the relay: ${shortName(e)} never got it`;
      }
      if (e.outcome === "unsupported") return `* the relay is too old to withdraw ${what}`;
      return null;
    }
    case "expired":
      return `* ${
        e.lines.length === 1 ? "a disappearing message" : `${e.lines.length} disappearing messages`
      } ` +
        `with ${shortName(e)} lapsed (${e.lines.map((l) => `#${l}`).join(", ")})`;
    case "timer":
      return `* ${e.by === "you" ? "you" : shortName(e)} set disappearing messages with ${shortName(e)} to ${
        timerText(e.seconds)
      }`;
    case "unread":
      return `* ${e.count} unread in ${shortName(e)}, from #${e.line}`;
    case "history":
      return lineText(e);
    case "found":
      return `${shortName(e)} ${lineText(e)}`;
    case "verified":
      return e.verified
        ? `* ${chatLabel(e.chat, e.nick, e.peerNick)} is marked verified`
        : `* ${chatLabel(e.chat, e.nick, e.peerNick)} is no longer marked verified`;
    case "identity-changed":
      return e.reason === "keys"
        ? `! WARNING: the identity keys of ${chatLabel(e.chat, e.nick, e.peerNick)} differ from the ones ` +
          `you verified. Sending is held: compare the safety number (/verify), then /verify ok or /verify accept.`
        : `! WARNING: ${
          chatLabel(e.chat, e.nick, e.peerNick)
        } has the name of a verified chat with another ID ` +
          `(${e.other ?? "?"}): it is not the same person unless they say so. Sending is held: compare the ` +
          `safety number (/verify), then /verify ok or /verify accept.`;
    case "muted":
      return `* ${shortName(e)} is ${e.muted ? "muted" : "no longer muted"}`;
    case "cleared":
      return e.scope === "screen"
        ? "* the screen was cleared (the history is kept; /clear history deletes it)"
        : `* the history with ${shortName(e)} was deleted here (${e.lines ?? 0} lines)`;
    case "forgotten":
      return `* ${chatLabel(e.chat, e.nick, e.peerNick)} was forgotten: its history and keys are gone`;
    case "exported":
      return `* ${e.lines} lines with ${shortName(e)} exported to ${e.path}`;
    case "setting":
      return `* ${e.name}: ${e.value}`;
    case "file-offer":
      return e.direction === "receive"
        ? `* ${chatLabel(e.chat, e.nick, e.peerNick)} offers "${e.name}" (${e.size} bytes): /accept ${
          e.file.slice(0, 8)
        } or /decline ${e.file.slice(0, 8)}`
        : `* offered "${e.name}" (${e.size} bytes) to ${shortName(e)}; it is sent once they accept`;
    case "file-accepted":
      return e.direction === "receive"
        ? `* receiving "${e.name}" (${e.size} bytes) from ${shortName(e)}`
        : `* ${shortName(e)} accepted "${e.name}"; sending it`;
    case "file-declined":
      return e.direction === "receive"
        ? `* declined "${e.name}" from ${shortName(e)}${e.reason ? `: ${e.reason}` : ""}`
        : `* ${shortName(e)} declined "${e.name}"`;
    case "file-progress":
      return null;
    case "file-sent":
      return `* sent "${e.name}" (${e.size} bytes) to ${shortName(e)}`;
    case "file-received":
      return `* received "${e.name}" (${e.size} bytes) from ${shortName(e)}, saved as ${e.path} (not opened)`;
    case "file-failed":
      return e.direction === "receive"
        ? `* "${e.name}" from ${shortName(e)} was not received: ${e.reason}`
        : `* "${e.name}" was not sent to ${shortName(e)}: ${e.reason}`;
    case "presence":
      return `* ${shortName(e)} is ${e.online ? "online" : "offline"}`;
    case "peer-closed":
      return `* ${chatLabel(e.chat, e.nick, e.peerNick)} has closed the chat`;
    case "nickname":
      return `* ${e.nick ?? e.chat} calls themselves "${e.name}"${e.warning ? ` (${e.warning})` : ""}`;
    case "switched":
      return `* now talking to ${chatLabel(e.chat, e.nick, e.peerNick)}`;
    case "safety-number":
      return `* safety number with ${shortName(e)}: ${e.number}${
        e.pq ? "" : " (a classical session: not post-quantum)"
      }${e.verified ? " (marked verified)" : ""}`;
    case "info":
      return e.text;
    case "invitation":
      // The invitation on a line of its own, to copy whole.
      return `Your invitation (the relay, its pin and your ID in one string):\n${e.invitation}`;
    case "web":
      return `web UI: ${e.url}`;
    case "error":
      return `error: ${e.message}`;
    default:
      return groupEventToText(e);
  }
}
