// What the terminal UI (client/tui.ts) shows of groups: a list item per group after the chats ("#name",
// unread count), the active group's lines with each sender's name, and the prompt of an invitation or a
// file waiting for an answer. Pure functions over the client's state.

import type { ChatClient } from "./chats.ts";
import { mib } from "./files.ts";
import type { LiveGroup } from "./groups.ts";
import type { ChatItem, ChatLine } from "./screen.ts";

const MARKS = { none: "", pending: "…", queued: "✓", failed: "✗" } as const;

/** The groups as chat-list items ("#name"; a group we are no longer in shows as closed). */
export function groupItems(client: ChatClient): ChatItem[] {
  return client.groups.list.map((g) => ({
    label: `#${g.s.name}`,
    unread: g.s.unread,
    state: g.s.status === "active" ? "open" : g.s.status === "creating" ? "requested" : "closed",
    online: g.s.status === "active",
  }));
}

/** The lines of a group, each with its sender's name as this client shows it. */
export function groupLines(client: ChatClient, g: LiveGroup): ChatLine[] {
  return g.s.history.map((h) => ({
    time: h.time,
    who: h.kind === "in" ? "peer" : h.kind === "out" ? "you" : "system",
    name: h.kind === "in" ? client.groups.nameOf(g, h.sender) : "",
    text: h.text,
    mark: h.kind === "out" ? MARKS[h.status] : "",
  }));
}

/** What waits for the user's answer in groups: an invitation, or a file offered in the active group. */
export function groupPrompt(client: ChatClient): string | null {
  const inv = client.groups.invitations.find((v) => v.bundle === null);
  if (inv) {
    const by = client.chat(inv.inviter)?.nickname || "someone";
    return `${by} invites you to the group "${inv.name}": /group accept or /group decline`;
  }
  const focused = client.groups.focused;
  const offer = client.groupFiles.offers.find((o) => o.g === focused);
  if (offer) {
    return `#${offer.g.s.name}: "${offer.file.name}" (${
      mib(offer.file.size)
    }) is offered: /accept or /decline`;
  }
  return null;
}
