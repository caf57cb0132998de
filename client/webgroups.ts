// The web UI's groups (client/webapp.ts hands them to this): each group is listed among the chats with the
// id "g:" and its ID in hex and `kind: "group"`, with its members, the open chats that could be invited, the
// files offered in it, and its lines (numbered like the chats' lines, each with its sender's name); the
// invitations received go to the page as their own list. The page's group requests become the same
// operations the /group commands run (client/groups.ts), and their failures the same sentences.

import { join } from "node:path";
import { bytesToHex, equalBytes, systemRandom } from "../crypto/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import type { GroupLine } from "../protocol/groupstate.ts";
import type { App } from "./app.ts";
import { chatName } from "./history.ts";
import { sanitizeFileName } from "./files.ts";
import { GroupError, type LiveGroup } from "./groups.ts";

/** The prefix of a group's id in the page. */
export const GROUP_PREFIX = "g:";

interface GroupLineView {
  seq: number;
  kind: GroupLine["kind"];
  status: GroupLine["status"];
  time: number;
  text: string;
  /** The sender's name, for lines from other members. */
  from?: string;
  download?: string;
}

export interface WebGroupsOptions {
  dataDir: string;
  /** The folder uploads wait in (webapp.ts's OUTGOING_DIR). */
  outgoing: string;
  broadcast(message: unknown): void;
  /** The download link of a "received …, saved as PATH (not opened)" line (webapp.ts's own). */
  linkFor(line: { kind: string; text: string }): string | undefined;
}

/** The groups part of the web UI's backend. */
export class WebGroups {
  readonly #o: WebGroupsOptions;
  #app: App | null = null;
  /** Line numbers for the page, given as lines are first sent (a chat's lines carry their own, h.seq). */
  #seq = 0;
  readonly #seqOf = new WeakMap<GroupLine, number>();
  readonly #statusSent = new WeakMap<GroupLine, string>();
  readonly #summarySent = new Map<string, string>();
  #invitationsSent = "";
  /** Folders of uploads sent to groups, removed once their file is sent or failed. */
  #uploads: { group: string; name: string; dir: string }[] = [];

  constructor(options: WebGroupsOptions) {
    this.#o = options;
  }

  attach(app: App): void {
    this.#app = app;
  }

  get #client() {
    if (!this.#app) throw new Error("The keystore is not open yet.");
    return this.#app.client;
  }

  /** The page's id of the active group, or null. */
  active(): string | null {
    const g = this.#app?.client.groups.focused;
    return g ? GROUP_PREFIX + g.key : null;
  }

  /** Every group with its lines, for a page's snapshot. */
  snapshot(): unknown[] {
    const client = this.#app?.client;
    if (!client) return [];
    return client.groups.list.map((g) => ({
      ...this.#summary(g),
      lines: g.s.history.map((h) => this.#line(g, h)),
    }));
  }

  /** The invitations as the page lists them. */
  invitations(): unknown[] {
    const client = this.#app?.client;
    if (!client) return [];
    return client.groups.invitations.map((v) => ({
      group: bytesToHex(v.groupId),
      name: v.name,
      from: formatId(v.inviter),
      fromName: client.chat(v.inviter) ? chatName(client.chat(v.inviter)!) : formatId(v.inviter).slice(0, 14),
      creator: formatId(v.creator),
      members: v.members.length,
      accepted: v.bundle !== null,
    }));
  }

  #summary(g: LiveGroup) {
    const client = this.#client, groups = client.groups, me = client.identity.id;
    const last = g.s.history.findLast((h) => h.kind !== "system") ?? g.s.history.at(-1);
    const members = g.mls ? groups.memberViews(g) : [];
    const inGroup = (id: Uint8Array) => members.some((m) => m.id === formatId(id));
    return {
      id: GROUP_PREFIX + g.key,
      kind: "group",
      name: g.s.name,
      nickname: "",
      peerNickname: "",
      state: g.s.status === "active" ? "open" : g.s.status === "creating" ? "requested" : "closed",
      status: g.s.status,
      blocked: false,
      online: false,
      unread: g.s.unread,
      updatedAt: g.s.updatedAt,
      curve: `MLS suite ${g.s.suite}`,
      verifiable: false,
      admin: groups.isAdmin(g, me),
      creator: equalBytes(g.s.creator, me),
      members: members.map((m) => ({
        ...m,
        name: m.you ? "you" : groups.nameOf(g, parseId(m.id)),
      })),
      // The open chats whose peer is not in the group: who may be invited.
      candidates: client.chats.filter((c) =>
        c.state === "open" && !client.isBlocked(c.peerId) && !inGroup(c.peerId)
      )
        .map((c) => ({ id: formatId(c.peerId), name: chatName(c) })),
      invited: g.s.invited.map((i) => ({ id: formatId(i.id), name: groups.nameOf(g, i.id) })),
      offers: client.groupFiles.offers.filter((o) => o.g === g).map((o) => ({
        file: bytesToHex(o.file.fileId),
        name: o.file.name,
        size: o.file.size,
        from: groups.nameOf(g, o.file.from),
      })),
      receiving: g.s.incoming.filter((f) => f.accepted).map((f) => ({
        file: bytesToHex(f.fileId),
        name: f.name,
        size: f.size,
        bytes: f.received,
      })),
      sending: [],
      last: last
        ? {
          kind: last.kind,
          text: last.text.slice(0, 200),
          time: last.time,
          ...(last.kind === "in" ? { from: groups.nameOf(g, last.sender) } : {}),
        }
        : null,
    };
  }

  #line(g: LiveGroup, h: GroupLine): GroupLineView {
    let seq = this.#seqOf.get(h);
    if (seq === undefined) this.#seqOf.set(h, seq = ++this.#seq);
    this.#statusSent.set(h, h.status);
    const view: GroupLineView = { seq, kind: h.kind, status: h.status, time: h.time, text: h.text };
    if (h.kind === "in") view.from = this.#client.groups.nameOf(g, h.sender);
    const download = this.#o.linkFor(h);
    if (download) view.download = download;
    return view;
  }

  /** Sends the pages the groups (and invitations) that changed. */
  sync(): void {
    const client = this.#app?.client;
    if (!client) return;
    for (const g of client.groups.list) {
      const summary = this.#summary(g), json = JSON.stringify(summary);
      const lines = g.s.history.filter((h) => !this.#seqOf.has(h) || this.#statusSent.get(h) !== h.status)
        .map((h) => this.#line(g, h));
      if (json === this.#summarySent.get(g.key) && lines.length === 0) continue;
      this.#summarySent.set(g.key, json);
      this.#o.broadcast({ t: "chat", chat: summary, lines });
    }
    const invitations = this.invitations(), json = JSON.stringify(invitations);
    if (json !== this.#invitationsSent) {
      this.#invitationsSent = json;
      this.#o.broadcast({ t: "invitations", list: invitations });
    }
  }

  /** True if a request from the page is about groups. */
  handles(m: Record<string, unknown>): boolean {
    return (typeof m.a === "string" && m.a.startsWith("group-")) ||
      (typeof m.chat === "string" && m.chat.startsWith(GROUP_PREFIX));
  }

  #group(id: unknown): LiveGroup {
    const key = typeof id === "string" && id.startsWith(GROUP_PREFIX) ? id.slice(GROUP_PREFIX.length) : "";
    const g = this.#client.groups.get(key);
    if (!g) throw new GroupError("There is no such group.");
    return g;
  }

  /** A group request from the page. */
  async request(m: Record<string, unknown>): Promise<unknown> {
    const client = this.#client, groups = client.groups;
    const str = (v: unknown): string => typeof v === "string" ? v : "";
    await groups.ready;
    const inGroup = <T>(fn: (g: LiveGroup) => T) => client.run(() => fn(this.#group(m.chat)));
    switch (m.a) {
      case "open":
        return await inGroup((g) => groups.focus(g));
      case "send": {
        const text = str(m.text);
        if (text.trim() === "") return null;
        return await inGroup((g) => groups.sendText(g, text));
      }
      case "nick": {
        const name = str(m.name).trim();
        if (name === "") throw new GroupError("Type the name the group should see.");
        return await inGroup((g) => groups.sendNickname(g, name));
      }
      case "accept":
      case "decline": {
        const offer = client.groupFiles.offers.find((o) =>
          GROUP_PREFIX + o.g.key === m.chat && bytesToHex(o.file.fileId) === m.file
        );
        if (!offer) throw new GroupError("That file no longer waits for an answer.");
        if (m.a === "accept") return await client.run(() => client.groupFiles.accept(offer.g, offer.file));
        return await client.run(() => client.groupFiles.decline(offer.g, offer.file));
      }
      case "cancel":
        throw new GroupError("A file sent to a group cannot be stopped once it is on its way.");
      // The chats' conversation features that groups do not have (docs/client.md): the page has every line
      // of a group already, and groups send no typing notices.
      case "history":
        return { lines: [], more: false };
      case "typing":
        return null;
      case "search":
        throw new GroupError("Search covers chats, not groups.");
      case "group-new": {
        const g = await client.run(() => groups.create(str(m.name).trim()));
        return { chat: GROUP_PREFIX + g.key };
      }
      case "group-add":
        return await inGroup((g) => groups.invite(g, str(m.peer)));
      case "group-remove":
        return await inGroup((g) => groups.remove(g, str(m.member)));
      case "group-admin": {
        const g = this.#group(m.chat);
        return await groups.setAdmin(g, str(m.member), m.admin === true);
      }
      case "group-leave":
        return await inGroup((g) => groups.leave(g));
      case "group-rename":
        return await inGroup((g) => groups.rename(g, str(m.name).trim()));
      case "group-accept":
      case "group-decline": {
        // The invitation by its group's ID (the page lists them so).
        const target = str(m.group);
        if (!/^[0-9a-f]{32,64}$/.test(target)) throw new GroupError("There is no such invitation.");
        if (m.a === "group-accept") return await groups.accept(target);
        return await client.run(() => groups.decline(target));
      }
      default:
        throw new Error("The page asked for something this client does not know.");
    }
  }

  /** A file the page uploaded for a group: written to the outgoing folder, then sent as /file sends it. */
  async upload(chatId: string, name: string, body: ReadableStream<Uint8Array>): Promise<string> {
    const client = this.#client, g = this.#group(chatId);
    if (g.s.status !== "active") throw new GroupError(`You are no longer in the group "${g.s.name}".`);
    const dir = join(this.#o.dataDir, this.#o.outgoing, bytesToHex(systemRandom(8)));
    const safe = sanitizeFileName(name);
    const path = join(dir, safe);
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
      await body.pipeTo(file.writable);
      await client.run(() => client.groupFiles.send(g, path));
      this.#uploads.push({ group: g.key, name: safe, dir });
      return "";
    } catch (e) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** A group file of ours ended (sent or failed): its upload folder goes. */
  ended(group: string, name: string): void {
    const at = this.#uploads.findIndex((u) => u.group === group && u.name === name);
    if (at < 0) return;
    const [u] = this.#uploads.splice(at, 1);
    Deno.remove(u.dir, { recursive: true }).catch(() => {});
  }
}
