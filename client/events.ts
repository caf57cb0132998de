// What the client tells its user: one typed event per thing that happened. The terminal UI draws them,
// line mode prints them as plain lines, and `--json` prints each as one JSON object per line, so scripts
// and tests can drive the client. Chats are named by the peer's formatted ID; `nick` is our local name
// for the peer when we gave one.

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
  }
  | { event: "connection"; state: ConnectionState; retryInSeconds?: number; reason?: string }
  | { event: "chat-requested"; chat: string; nick?: string }
  | { event: "chat-open"; chat: string; nick?: string; role: "initiator" | "responder"; curve: string }
  | { event: "message"; chat: string; nick?: string; id: number; text: string; time: string }
  | { event: "queued"; chat: string; id: number; at: "client" | "relay" }
  | { event: "delivered"; chat: string; id: number }
  | { event: "refused"; chat: string; id: number; reason: string }
  | {
    event: "file-progress";
    chat: string;
    direction: "send" | "receive";
    name: string;
    bytes: number;
    size: number;
  }
  | { event: "file-sent"; chat: string; name: string; size: number }
  | { event: "file-received"; chat: string; name: string; path: string; size: number }
  | { event: "presence"; chat: string; online: boolean }
  | { event: "peer-closed"; chat: string; nick?: string }
  | { event: "nickname"; chat: string; name: string }
  | { event: "switched"; chat: string; nick?: string }
  | { event: "safety-number"; chat: string; number: string }
  | { event: "info"; text: string }
  /** The web UI is served at `url` (with its token): --web. */
  | { event: "web"; url: string }
  | { event: "error"; message: string; chat?: string };

/** The event as one line of JSON (no newline). */
export function eventToJson(e: ClientEvent): string {
  return JSON.stringify(e);
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

/** The event as one plain line for line mode, or null for events that need no line there. */
export function eventToText(e: ClientEvent): string | null {
  switch (e.event) {
    case "ready":
      return `ready: you are ${e.id} on ${e.server} (pin ${e.pin}, ${e.trust}, ${e.curve})`;
    case "connection":
      if (e.state === "online") return "* connected";
      if (e.state === "connecting") return null;
      return `* offline${e.reason ? `: ${e.reason}` : ""}` +
        (e.retryInSeconds !== undefined ? `; reconnecting in ${e.retryInSeconds} s` : "");
    case "chat-requested":
      return `* asked for a chat with ${chatLabel(e.chat, e.nick)}; it opens when they ask for you too`;
    case "chat-open":
      return `* chat with ${chatLabel(e.chat, e.nick)} is open (${e.curve})`;
    case "message":
      return `[${clock(e.time)}] ${e.nick ?? e.chat}: ${e.text}`;
    case "queued":
      return e.at === "client" ? `* message ${e.id} waits here until it can be sent` : null;
    case "delivered":
      return null;
    case "refused":
      return `* message ${e.id} to ${e.chat} was refused: ${e.reason}`;
    case "file-progress":
      return null;
    case "file-sent":
      return `* sent "${e.name}" (${e.size} bytes) to ${e.chat}`;
    case "file-received":
      return `* received "${e.name}" (${e.size} bytes) from ${e.chat}, saved as ${e.path} (not opened)`;
    case "presence":
      return `* ${e.chat} is ${e.online ? "online" : "offline"}`;
    case "peer-closed":
      return `* ${chatLabel(e.chat, e.nick)} has closed the chat`;
    case "nickname":
      return `* ${e.chat} calls themselves "${e.name}"`;
    case "switched":
      return `* now talking to ${chatLabel(e.chat, e.nick)}`;
    case "safety-number":
      return `* safety number with ${e.chat}: ${e.number}`;
    case "info":
      return e.text;
    case "web":
      return `web UI: ${e.url}`;
    case "error":
      return `error: ${e.message}`;
  }
}
