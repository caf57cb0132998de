// The group commands (`/group …`) and what the everyday commands do when a group is the active
// conversation: a line of text, /nick and /file go to the group, /accept and /decline answer files offered
// in it, /switch finds groups by name, /list shows groups and invitations, and /block says that blocking
// does not take anyone out of a group. The group logic is client/groups.ts; this parses and dispatches.
// Also here: how the chats (client/chats.ts) make their GroupManager.

import { bytesToHex, equalBytes } from "../crypto/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import type { ChatClient } from "./chats.ts";
import type { Command } from "./commands.ts";
import type { GroupCommand } from "./group_parse.ts";
import { mib } from "./files.ts";
import { GroupFiles } from "./groupfiles.ts";
import type { GroupDisk } from "./groupdisk.ts";
import { GroupError, GroupManager, type LiveGroup } from "./groups.ts";

/** Carries out a `/group …` command. */
export async function runGroupCommand(client: ChatClient, cmd: GroupCommand): Promise<void> {
  const groups = client.groups;
  await groups.ready;
  switch (cmd.sub) {
    case "new":
      return await client.run(() => void groups.create(cmd.groupName));
    case "add":
      return await client.run(() => groups.invite(groups.find(""), cmd.target));
    case "remove":
      return await client.run(() => groups.remove(groups.find(""), cmd.target));
    case "leave":
      return await client.run(() => groups.leave(groups.find(cmd.target)));
    case "members":
      return await client.run(() => groups.showMembers(groups.find(cmd.target)));
    case "admin":
    case "unadmin": {
      const g = await client.run(() => groups.find(""));
      await groups.setAdmin(g, cmd.target, cmd.sub === "admin");
      client.options.emit({
        event: "info",
        text: cmd.sub === "admin" ? `${cmd.target} is now an admin.` : `${cmd.target} is no longer an admin.`,
      });
      return;
    }
    case "accept":
      return await groups.accept(cmd.target);
    case "decline":
      return await client.run(() => groups.decline(cmd.target));
    case "name":
      return await client.run(() => groups.rename(groups.find(""), cmd.groupName));
  }
}

/**
 * What an everyday command does when it concerns groups; true if it was handled here (the active
 * conversation is a group, or the argument names one), false to let client/actions.ts carry it out.
 */
export async function groupAware(client: ChatClient, cmd: Command): Promise<boolean> {
  const groups = client.groups, files = client.groupFiles;
  await groups.ready;
  const g = groups.focused;
  switch (cmd.name) {
    case "text":
      if (!g) return false;
      await client.run(() => groups.sendText(g, cmd.text));
      return true;
    case "nick":
      if (!g) return false;
      await client.run(() => groups.sendNickname(g, cmd.nickname));
      return true;
    case "file":
      if (!g) return false;
      await client.run(() => {
        if (g.s.status !== "active") throw new GroupError(`You are no longer in the group "${g.s.name}".`);
        files.send(g, cmd.path);
      });
      return true;
    case "accept":
    case "decline": {
      const offer = await client.run(() => {
        const offers = files.offers;
        const t = cmd.target.trim().toLowerCase();
        const here = t === ""
          ? offers.filter((o) => o.g === g)
          : offers.filter((o) =>
            (/^[0-9a-f]{4,32}$/.test(t) && bytesToHex(o.file.fileId).startsWith(t)) ||
            o.file.name.toLowerCase() === t
          );
        // An offer of a 1:1 chat is the chats' to answer.
        if (here.length === 0) return null;
        if (here.length > 1) {
          throw new GroupError(`"${cmd.target}" names several files; give more of the id.`);
        }
        return here[0];
      });
      if (!offer) return false;
      if (cmd.name === "accept") await client.run(() => files.accept(offer.g, offer.file));
      else await client.run(() => files.decline(offer.g, offer.file));
      return true;
    }
    case "switch": {
      const chatNamed = client.chats.some((c) =>
        c.nickname.toLowerCase() === cmd.target.trim().toLowerCase()
      );
      if (chatNamed) return false;
      const found = await client.run(() => groups.findOrNull(cmd.target));
      if (!found) return false;
      await client.run(() => groups.focus(found));
      return true;
    }
    case "close":
      if (!g) return false;
      throw new GroupError("To leave the group, type /group leave; /switch NICK returns to a chat.");
    case "verify":
      if (!g) return false;
      throw new GroupError(
        "Safety numbers are per person: compare them in your 1:1 chat with each member (/group members lists them).",
      );
    // The 1:1 conversation features groups do not have (docs/client.md, "What it does not do"): with a group
    // active they would act on the last active chat, which is not on screen, so they are refused.
    case "reply":
    case "react":
    case "edit":
    case "delete":
    case "timer":
    case "history":
    case "unread":
    case "clear":
    case "export":
    case "mute":
    case "unmute":
      if (!g) return false;
      throw new GroupError(
        `Groups do not have /${cmd.name} yet; /switch NICK returns to a chat.`,
      );
    case "search":
      if (!g || cmd.all) return false;
      throw new GroupError("Search covers chats, not groups: /search -a TEXT searches every chat.");
    case "list":
      await client.run(() => listGroups(client));
      return false; // the chats list themselves too
    case "block": {
      const shared = groups.list.filter((x) =>
        x.s.status === "active" && [...groups.members(x).values()].some((m) => equalBytes(m, cmd.peerId))
      );
      if (shared.length > 0) {
        client.options.emit({
          event: "info",
          text: `Blocking does not remove ${formatId(cmd.peerId)} from the groups you share (${
            shared.map((x) => `"${x.s.name}"`).join(", ")
          }): leave them, or ask an admin to remove them.`,
        });
      }
      return false;
    }
    default:
      return false;
  }
}

/** /list's group lines: the groups, the invitations, and files offered in groups. */
function listGroups(client: ChatClient): void {
  const groups = client.groups, emit = client.options.emit, focused = groups.focused;
  for (const g of groups.list) {
    const unread = g.s.unread > 0 ? `, ${g.s.unread} unread` : "";
    const members = g.mls ? `${g.mls.members().length} members` : g.s.status;
    emit({
      event: "info",
      text: `${g === focused ? ">" : " "} #${g.s.name}  group ${g.key.slice(0, 8)}  (${members}${unread})`,
    });
  }
  for (const v of groups.invitations) {
    const by = client.chat(v.inviter)?.nickname || formatId(v.inviter).slice(0, 14);
    emit({
      event: "info",
      text: v.bundle
        ? `  accepted the invitation of ${by} to "${v.name}": waiting to be added`
        : `  ${by} invites you to "${v.name}" (${v.members.length} members): /group accept or /group decline`,
    });
  }
  for (const { g, file } of client.groupFiles.offers) {
    emit({
      event: "info",
      text: `  #${g.s.name}: "${file.name}" (${mib(file.size)}), id ${
        bytesToHex(file.fileId).slice(0, 8)
      }: /accept or /decline it`,
    });
  }
}

/** The groups of a chat client: hooks into its chats, its outbox and its files. */
export function groupsFor(client: ChatClient, disk: GroupDisk): { groups: GroupManager; files: GroupFiles } {
  const o = client.options;
  const openChat = (peerId: Uint8Array) => {
    const chat = client.chat(peerId);
    // Open is enough: what is queued before the session exists is encrypted once it does (client/outbox.ts).
    return chat && chat.state === "open" && !client.isBlocked(peerId) ? chat : null;
  };
  const groups = new GroupManager({
    identity: client.contents.identity,
    curve: o.curve,
    clock: o.clock,
    random: client.random,
    disk,
    emit: o.emit,
    fatal: o.fatal,
    run: (fn) => client.run(fn),
    canTalkTo: (peerId) => openChat(peerId) !== null,
    nickOf: (peerId) => client.chat(peerId)?.nickname ?? "",
    findPeer: (target) => findPeer(client, target),
    sendToChat: (peerId, bytes) => {
      const chat = openChat(peerId);
      if (!chat || client.outbox.full) return false;
      client.outbox.addBytes(chat, bytes, 0);
      return true;
    },
    isBlocked: (peerId) => client.isBlocked(peerId),
  });
  const files = new GroupFiles({
    manager: groups,
    me: client.identity.id,
    files: o.files,
    dataDir: o.store.dataDir,
    clock: o.clock,
    random: client.random,
    emit: o.emit,
    run: (fn) => client.run(fn),
    autoAccept: o.autoAccept ?? 0,
    filesQuota: o.filesQuota ?? 2 * 1024 ** 3,
    freeBytes: o.freeBytes,
  });
  groups.files = files;
  return { groups, files };
}

/** The peer a /group add argument names among the chats: our nickname, an ID or its start, their nickname. */
function findPeer(client: ChatClient, target: string): Uint8Array | null {
  const t = target.trim().toLowerCase(), chats = client.chats;
  const byNick = chats.filter((c) => c.nickname.toLowerCase() === t);
  if (byNick.length === 1) return byNick[0].peerId;
  try {
    return parseId(target);
  } catch {
    // not a whole ID
  }
  const prefix = t.replace(/[\s\-_.:]/g, "");
  if (prefix.length >= 4) {
    const byId = chats.filter((c) => formatId(c.peerId).replace(/-/g, "").startsWith(prefix));
    if (byId.length === 1) return byId[0].peerId;
  }
  const theirs = chats.filter((c) => c.peerNickname.toLowerCase() === t.replace(/^~/, ""));
  return theirs.length === 1 ? theirs[0].peerId : null;
}

export type { LiveGroup };
