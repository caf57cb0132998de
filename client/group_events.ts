// What the client tells its user about groups (client/groups.ts): typed events like client/events.ts's,
// printed as one JSON object per line with --json, as plain lines in line mode, and drawn by the terminal
// and web UIs. A group is named by its ID in hex (`group`) and its name; people by their formatted sotto
// ID, with `nick` our local name for them (their 1:1 chat's nickname) when we gave one.

import { chatLabel, clock } from "./events.ts";

/** One member as `/group members` lists it. */
export interface GroupMemberView {
  id: string;
  nick?: string;
  /** The name the member announced in the group, if any. */
  groupNick?: string;
  admin: boolean;
  creator: boolean;
  you: boolean;
}

/** Everything the client reports about groups. Times are ISO 8601 strings (UTC). */
export type GroupEvent =
  | { event: "group-created"; group: string; name: string }
  /** An invitation came in a 1:1 chat: /group accept or /group decline. */
  | {
    event: "group-invitation";
    group: string;
    name: string;
    from: string;
    nick?: string;
    creator: string;
    members: string[];
  }
  /** We sent an invitation; they are added once they accept. */
  | { event: "group-invited"; group: string; name: string; member: string; nick?: string }
  /** We accepted an invitation at the relay; the inviter adds us next. */
  | { event: "group-invitation-accepted"; group: string; name: string; inviter: string }
  | { event: "group-declined"; group: string; name: string }
  | { event: "group-joined"; group: string; name: string; members: string[] }
  | { event: "group-member-added"; group: string; name: string; member: string; nick?: string; by: string }
  | {
    event: "group-member-removed";
    group: string;
    name: string;
    member: string;
    nick?: string;
    by: string;
    /** True if the member left (proposed its own removal). */
    left: boolean;
  }
  /** A member proposed its own removal: it receives nothing more; the next commit takes it out. */
  | { event: "group-member-leaving"; group: string; name: string; member: string; nick?: string }
  /** We were removed: nothing more of the group reaches us. */
  | { event: "group-removed"; group: string; name: string; by: string }
  | { event: "group-left"; group: string; name: string }
  | {
    event: "group-message";
    group: string;
    name: string;
    from: string;
    nick?: string;
    id: number;
    text: string;
    time: string;
  }
  /** Our text `id` waits here ("client") or was logged by the relay for every member ("relay"). */
  | { event: "group-queued"; group: string; id: number; at: "client" | "relay" }
  | { event: "group-refused"; group: string; id: number; reason: string }
  | { event: "group-renamed"; group: string; name: string; by: string }
  | { event: "group-nickname"; group: string; member: string; name: string }
  | { event: "group-admins"; group: string; name: string; admins: string[] }
  | { event: "group-members"; group: string; name: string; members: GroupMemberView[] }
  | { event: "group-switched"; group: string; name: string }
  | {
    event: "group-file-offer";
    group: string;
    direction: "send" | "receive";
    from: string;
    file: string;
    name: string;
    size: number;
  }
  | {
    event: "group-file-progress";
    group: string;
    direction: "send" | "receive";
    file: string;
    name: string;
    bytes: number;
    size: number;
  }
  | {
    event: "group-file-received";
    group: string;
    from: string;
    file: string;
    name: string;
    path: string;
    size: number;
  }
  | { event: "group-file-sent"; group: string; file: string; name: string; size: number }
  | { event: "group-file-declined"; group: string; file: string; name: string }
  | {
    event: "group-file-failed";
    group: string;
    direction: "send" | "receive";
    file: string;
    name: string;
    reason: string;
  };

/** "name" in quotes for lines. */
function g(name: string): string {
  return `"${name}"`;
}

/** The event as one plain line for line mode, or null for events that need no line there. */
export function groupEventToText(e: GroupEvent): string | null {
  switch (e.event) {
    case "group-created":
      return `* created the group ${g(e.name)}; /group add ID|NICK invites someone you have a chat with`;
    case "group-invitation":
      return `* ${chatLabel(e.from, e.nick)} invites you to the group ${g(e.name)} (created by ${
        e.creator.slice(0, 14)
      }; ${e.members.length} member${e.members.length === 1 ? "" : "s"}): /group accept or /group decline`;
    case "group-invited":
      return `* invited ${chatLabel(e.member, e.nick)} to ${g(e.name)}; they are added once they accept`;
    case "group-invitation-accepted":
      return `* accepted the invitation to ${g(e.name)}; ${e.inviter.slice(0, 14)} adds you next`;
    case "group-declined":
      return `* declined the invitation to ${g(e.name)} (nobody is told)`;
    case "group-joined":
      return `* joined the group ${g(e.name)} (${e.members.length} members)`;
    case "group-member-added":
      return `* ${chatLabel(e.member, e.nick)} was added to ${g(e.name)}`;
    case "group-member-removed":
      return e.left
        ? `* ${chatLabel(e.member, e.nick)} left ${g(e.name)}`
        : `* ${chatLabel(e.member, e.nick)} was removed from ${g(e.name)}`;
    case "group-member-leaving":
      return `* ${chatLabel(e.member, e.nick)} is leaving ${g(e.name)}`;
    case "group-removed":
      return `* you were removed from ${g(e.name)}; nothing more of it reaches you`;
    case "group-left":
      return `* you left ${g(e.name)}`;
    case "group-message":
      return `[${clock(e.time)}] ${e.name} / ${e.nick ?? e.from.slice(0, 14)}: ${e.text}`;
    case "group-queued":
      return e.at === "client" ? `* group message ${e.id} waits here until it can be sent` : null;
    case "group-refused":
      return `* group message ${e.id} was refused: ${e.reason}`;
    case "group-renamed":
      return `* the group is now called ${g(e.name)}`;
    case "group-nickname":
      return `* ${e.member.slice(0, 14)} calls themselves "${e.name}" in the group`;
    case "group-admins":
      return `* admins of ${g(e.name)}: ${e.admins.map((a) => a.slice(0, 14)).join(", ")}`;
    case "group-members":
      return `* ${g(e.name)}: ${e.members.length} member${e.members.length === 1 ? "" : "s"}`;
    case "group-switched":
      return `* now talking in the group ${g(e.name)}`;
    case "group-file-offer":
      return e.direction === "receive"
        ? `* ${e.from.slice(0, 14)} offers "${e.name}" (${e.size} bytes) to the group: /accept ${
          e.file.slice(0, 8)
        } or /decline ${e.file.slice(0, 8)}`
        : `* offered "${e.name}" (${e.size} bytes) to the group`;
    case "group-file-progress":
      return null;
    case "group-file-received":
      return `* received "${e.name}" (${e.size} bytes) in the group, saved as ${e.path} (not opened)`;
    case "group-file-sent":
      return `* sent "${e.name}" (${e.size} bytes) to the group`;
    case "group-file-declined":
      return `* declined "${e.name}"`;
    case "group-file-failed":
      return `* "${e.name}" was not ${e.direction === "receive" ? "received" : "sent"}: ${e.reason}`;
  }
}
