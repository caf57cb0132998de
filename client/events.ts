// What the client tells its user: one typed event per thing that happened. The terminal UI draws them,
// line mode prints them as plain lines, and `--json` prints each as one JSON object per line, so scripts
// and tests can drive the client. Chats are named by the peer's formatted ID; `nick` is our local name
// for the peer when we gave one.

import { type GroupEvent, groupEventToText } from "./group_events.ts";
import { API_VERSION } from "./api.ts";

/** How the connection to the relay stands. */
export type ConnectionState = "connecting" | "online" | "offline";

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
  | { event: "chat-requested"; chat: string; nick?: string }
  | {
    event: "chat-open";
    chat: string;
    nick?: string;
    role: "initiator" | "responder";
    curve: string;
    /** The chat is post-quantum: PQXDH, then ML-KEM in every ratchet step (every new chat is). */
    pq: boolean;
  }
  /** Someone asked to chat with us (requests inbox, /requests on): /chat accepts, /ignore, /block. */
  | { event: "chat-asked"; chat: string; curve: string; expires: string }
  | { event: "chat-refused"; chat: string; reason: "not-asked" | "closed" | "blocked" }
  | { event: "message"; chat: string; nick?: string; id: number; text: string; time: string }
  | { event: "queued"; chat: string; id: number; at: "client" | "relay" }
  | { event: "delivered"; chat: string; id: number }
  | { event: "refused"; chat: string; id: number; reason: string }
  | {
    event: "file-offer";
    chat: string;
    nick?: string;
    direction: "send" | "receive";
    /** The file's id (hex); /accept and /decline take it, or its first characters. */
    file: string;
    name: string;
    size: number;
  }
  | {
    event: "file-accepted";
    chat: string;
    direction: "send" | "receive";
    file: string;
    name: string;
    size: number;
  }
  | {
    event: "file-declined";
    chat: string;
    direction: "send" | "receive";
    file: string;
    name: string;
    reason?: string;
  }
  | {
    event: "file-progress";
    chat: string;
    direction: "send" | "receive";
    file: string;
    name: string;
    bytes: number;
    size: number;
  }
  | { event: "file-sent"; chat: string; file: string; name: string; size: number }
  | { event: "file-received"; chat: string; file: string; name: string; path: string; size: number }
  | {
    event: "file-failed";
    chat: string;
    direction: "send" | "receive";
    file: string;
    name: string;
    reason: string;
  }
  | { event: "presence"; chat: string; online: boolean }
  | { event: "peer-closed"; chat: string; nick?: string }
  | { event: "nickname"; chat: string; name: string }
  | { event: "switched"; chat: string; nick?: string }
  /** `pq`: the chat's session is post-quantum (false for a classical X3DH session made before PQXDH). */
  | { event: "safety-number"; chat: string; number: string; pq: boolean }
  | { event: "info"; text: string }
  /** /invite: our invitation (docs/protocol.md §2.1), our ID and the relay's "host:port". */
  | { event: "invitation"; invitation: string; id: string; server: string }
  /** The web UI is served at `url` (with its token): --web. */
  | { event: "web"; url: string }
  | { event: "error"; message: string; chat?: string }
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

/** "nick (k3v9-…)" or the ID alone. */
export function chatLabel(chat: string, nick?: string): string {
  return nick ? `${nick} (${chat.slice(0, 9)}…)` : chat;
}

/** HH:MM of an ISO time, in local time. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
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
      return `* asked for a chat with ${chatLabel(e.chat, e.nick)}; it opens when they ask for you too`;
    case "chat-asked":
      return `* ${e.chat} asks to chat with you: /chat ${e.chat} accepts, /ignore ${e.chat} ignores, /block ${e.chat} blocks`;
    case "chat-open":
      return `* chat with ${chatLabel(e.chat, e.nick)} is open (${e.curve}${e.pq ? ", post-quantum" : ""})`;
    case "chat-refused":
      return `* the relay opened a chat with ${e.chat} ${
        e.reason === "blocked"
          ? "whom you blocked"
          : e.reason === "closed"
          ? "that you closed"
          : "that you did not ask for"
      }; it was refused`;
    case "message":
      return `[${clock(e.time)}] ${e.nick ?? e.chat}: ${e.text}`;
    case "queued":
      return e.at === "client" ? `* message ${e.id} waits here until it can be sent` : null;
    case "delivered":
      return null;
    case "refused":
      return `* message ${e.id} to ${e.chat} was refused: ${e.reason}`;
    case "file-offer":
      return e.direction === "receive"
        ? `* ${chatLabel(e.chat, e.nick)} offers "${e.name}" (${e.size} bytes): /accept ${
          e.file.slice(0, 8)
        } or /decline ${e.file.slice(0, 8)}`
        : `* offered "${e.name}" (${e.size} bytes) to ${e.chat}; it is sent once they accept`;
    case "file-accepted":
      return e.direction === "receive"
        ? `* receiving "${e.name}" (${e.size} bytes) from ${e.chat}`
        : `* ${e.chat} accepted "${e.name}"; sending it`;
    case "file-declined":
      return e.direction === "receive"
        ? `* declined "${e.name}" from ${e.chat}${e.reason ? `: ${e.reason}` : ""}`
        : `* ${e.chat} declined "${e.name}"`;
    case "file-progress":
      return null;
    case "file-sent":
      return `* sent "${e.name}" (${e.size} bytes) to ${e.chat}`;
    case "file-received":
      return `* received "${e.name}" (${e.size} bytes) from ${e.chat}, saved as ${e.path} (not opened)`;
    case "file-failed":
      return e.direction === "receive"
        ? `* "${e.name}" from ${e.chat} was not received: ${e.reason}`
        : `* "${e.name}" was not sent to ${e.chat}: ${e.reason}`;
    case "presence":
      return `* ${e.chat} is ${e.online ? "online" : "offline"}`;
    case "peer-closed":
      return `* ${chatLabel(e.chat, e.nick)} has closed the chat`;
    case "nickname":
      return `* ${e.chat} calls themselves "${e.name}"`;
    case "switched":
      return `* now talking to ${chatLabel(e.chat, e.nick)}`;
    case "safety-number":
      return `* safety number with ${e.chat}: ${e.number}${
        e.pq ? "" : " (a classical session: not post-quantum)"
      }`;
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
