// What each command does (the lines client/commands.ts parses), on the chats of client/chats.ts. Every
// command runs in the chats' one-at-a-time order; one that cannot be done throws a ChatError whose
// message is the sentence to show.

import { equalBytes } from "../crypto/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { formatInvitation, type Invitation } from "../protocol/invite.ts";
import { parseIpAddress } from "../protocol/tls13/x509.ts";
import { type ChatRecord, MAX_BLOCKED, MAX_CHATS } from "../protocol/keystore.ts";
import { safetyNumber } from "../protocol/safety.ts";
import type { ChatClient } from "./chats.ts";
import { type Command, HELP } from "./commands.ts";
import { isPostQuantum } from "./handshake.ts";
import { addLine, addSystemLine, chatName, chatRef } from "./history.ts";
import { fileKey, MAX_INCOMING_FILES, type Offer } from "./receive.ts";
import { mib } from "./files.ts";
import { groupAware, runGroupCommand } from "./group_commands.ts";
import { serverKey } from "./pins.ts";

/** A command that cannot be done now, in one sentence. */
export class ChatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChatError";
  }
}

/** Carries out a command (all but /quit). */
export async function runCommand(client: ChatClient, cmd: Command): Promise<void> {
  if (cmd.name === "group") return await runGroupCommand(client, cmd);
  if (await groupAware(client, cmd)) return;
  if (cmd.name === "file") {
    const chat = await client.run(() => openChat(client));
    if (!chat.session) {
      throw new ChatError(`Wait for ${chatName(chat)}'s first message before sending a file.`);
    }
    if (client.transfers.count(chat.peerId) >= MAX_INCOMING_FILES) {
      throw new ChatError(
        `${MAX_INCOMING_FILES} files are on their way to ${chatName(chat)}; wait until one has left.`,
      );
    }
    client.transfers.start(chat.peerId, cmd.path, client.random);
    return;
  }
  if (cmd.name === "accept" || cmd.name === "decline") {
    const offer = await client.run(() => findOffer(client, cmd.target));
    if (cmd.name === "accept") await client.acceptFile(offer);
    else await client.declineFile(offer);
    return;
  }
  await client.run(() => command(client, cmd));
}

/** The offer an /accept or /decline argument names: a file name, or the start of a file id. */
function findOffer(client: ChatClient, target: string): Offer {
  const offers = client.offers;
  if (offers.length === 0) throw new ChatError("No file waits for an answer.");
  const t = target.trim().toLowerCase();
  if (t === "") {
    const here = offers.filter((o) => o.chat === client.active);
    if (offers.length === 1 || here.length === 1) return here[0] ?? offers[0];
    throw new ChatError(`${offers.length} files wait for an answer; name one (/list shows them).`);
  }
  const byId = /^[0-9a-f]{4,32}$/.test(t) ? offers.filter((o) => fileKey(o.file.fileId).startsWith(t)) : [];
  const byName = offers.filter((o) => o.file.name.toLowerCase() === t);
  const found = byId.length > 0 ? byId : byName;
  if (found.length === 1) return found[0];
  if (found.length > 1) throw new ChatError(`"${target}" names several files; give more of the id (/list).`);
  throw new ChatError(`No file called "${target}" waits for an answer; /list shows them.`);
}

function command(client: ChatClient, cmd: Command): void {
  const emit = client.options.emit, now = client.options.clock.now();
  switch (cmd.name) {
    case "help":
      for (const text of HELP) emit({ event: "info", text });
      return;
    case "id":
      emit({ event: "info", text: `Your ID: ${formatId(client.identity.id)}` });
      return;
    case "list": {
      if (client.chats.length === 0) emit({ event: "info", text: "No chats yet: /chat ID asks for one." });
      const active = client.active;
      for (const chat of client.chats) {
        const unread = chat.unread > 0 ? `, ${chat.unread} unread` : "";
        const text = `${chat === active ? ">" : " "} ${chatName(chat)}  ${
          formatId(chat.peerId)
        }  (${chat.state}${unread})`;
        emit({ event: "info", text });
      }
      for (const { chat, file } of client.offers) {
        const text = `  ${chatName(chat)} offers "${file.name}" (${mib(file.size)}), id ${
          fileKey(file.fileId).slice(0, 8)
        }: /accept or /decline it`;
        emit({ event: "info", text });
      }
      return;
    }
    case "chat":
      if (cmd.invitation) checkInvitation(client, cmd.invitation);
      return requestChat(client, cmd.peerId, cmd.nickname);
    case "invite":
      return invite(client);
    case "msg":
      return void sendText(client, cmd.text, find(client, cmd.target));
    case "switch":
      return switchTo(client, find(client, cmd.target));
    case "nick": {
      const chat = openChat(client);
      roomToSend(client);
      client.outbox.add(chat, { type: "nickname", name: cmd.nickname }, 0);
      emit({ event: "info", text: `${chatName(chat)} will see you as "${cmd.nickname}".` });
      return;
    }
    case "verify": {
      const chat = needActive(client);
      if (!chat.peerIdentity) {
        throw new ChatError(`The safety number is known once the chat with ${chatName(chat)} is open.`);
      }
      emit({
        event: "safety-number",
        chat: formatId(chat.peerId),
        number: safetyNumber(client.identity.publicKeys, chat.peerIdentity),
        pq: isPostQuantum(chat),
      });
      emit({
        event: "info",
        text: "Compare it with your peer's in person or on a call: if they match, nobody is in between.",
      });
      return;
    }
    case "close": {
      const chat = needActive(client);
      if (chat.state === "closed") throw new ChatError("That chat is already closed.");
      needLink(client);
      client.request(
        { type: chat.state === "open" ? "close-chat" : "cancel-request", peerId: chat.peerId },
        chat,
      );
      client.close(chat);
      addSystemLine(chat, "you closed the chat", now);
      emit({ event: "info", text: `Closed the chat with ${chatName(chat)}.` });
      client.save();
      return;
    }
    case "block":
    case "unblock": {
      if (equalBytes(cmd.peerId, client.identity.id)) throw new ChatError("That is your own ID.");
      needLink(client);
      const { name, peerId } = cmd;
      // The local list holds at once, whatever the relay answers: no chat with a blocked ID opens here.
      if (!client.setBlocked(peerId, name === "block")) {
        throw new ChatError(`You have blocked ${MAX_BLOCKED} IDs, the most a keystore holds.`);
      }
      const chat = client.chat(peerId);
      if (name === "block" && chat && chat.state !== "closed") {
        client.close(chat);
        addSystemLine(chat, "you blocked this ID", now);
      }
      client.save();
      client.request({ type: name, peerId }, undefined, () => {
        emit({ event: "info", text: `${name === "block" ? "Blocked" : "Unblocked"} ${formatId(peerId)}.` });
      });
      return;
    }
    case "requests": {
      if (cmd.on !== undefined) {
        needLink(client);
        client.setRequestsInbox(cmd.on);
        const text = cmd.on
          ? "Requests inbox on: you are told who asks to chat with you (they are not told you know)."
          : "Requests inbox off: a request shows only once you ask for that ID too.";
        emit({ event: "info", text });
        return;
      }
      if (!client.requestsInbox) {
        emit({ event: "info", text: "The requests inbox is off: /requests on to be told who asks to chat." });
        return;
      }
      const asked = client.asked;
      if (asked.length === 0) emit({ event: "info", text: "Nobody is waiting for an answer." });
      for (const a of asked) {
        const id = formatId(a.peerId);
        emit({ event: "info", text: `  ${id} asks to chat (${a.curve}): /chat ${id}, /ignore or /block` });
      }
      return;
    }
    case "ignore":
      needLink(client);
      client.ignoreRequest(cmd.peerId);
      emit({ event: "info", text: `Ignored ${formatId(cmd.peerId)}'s request; they are not told.` });
      return;
    case "text":
      return void sendText(client, cmd.text, needActive(client));
    case "file":
    case "accept":
    case "decline":
    case "quit":
    case "group":
      return;
  }
}

function needLink(client: ChatClient): void {
  if (!client.link) throw new ChatError("You are offline; try again once connected.");
}

function needActive(client: ChatClient): ChatRecord {
  const chat = client.active;
  if (!chat) throw new ChatError("There is no active chat: /chat ID asks for one, /switch picks one.");
  return chat;
}

function notClosed(chat: ChatRecord): ChatRecord {
  if (chat.state === "closed") {
    throw new ChatError(
      `The chat with ${chatName(chat)} is closed; /chat ${formatId(chat.peerId)} asks again.`,
    );
  }
  return chat;
}

function openChat(client: ChatClient): ChatRecord {
  const chat = notClosed(needActive(client));
  if (chat.state !== "open") throw new ChatError(`The chat with ${chatName(chat)} is not open yet.`);
  return chat;
}

function requestChat(client: ChatClient, peerId: Uint8Array, nickname: string): void {
  if (equalBytes(peerId, client.identity.id)) throw new ChatError("That is your own ID: give it to others.");
  if (client.isBlocked(peerId)) {
    throw new ChatError(`You have blocked ${formatId(peerId)}; /unblock it first.`);
  }
  let chat = client.chat(peerId);
  if (!chat && client.chats.length >= MAX_CHATS) {
    throw new ChatError(`You have ${MAX_CHATS} chats, the most a keystore holds.`);
  }
  if (chat && nickname) chat.nickname = nickname;
  if (chat?.state === "open") {
    client.save();
    return switchTo(client, chat);
  }
  if (chat) {
    chat.state = "requested";
    chat.role = "unknown";
    chat.curve = client.options.curve;
  } else {
    chat = client.newChat(peerId, nickname, client.options.curve);
    client.contents.chats.push(chat);
  }
  const asked = chat;
  client.setActive(asked);
  addSystemLine(asked, "you asked for this chat", client.options.clock.now());
  client.save().then(() => client.run(() => client.askFor(asked)), () => {});
  client.options.emit({ event: "chat-requested", ...chatRef(asked) });
}

/** The chat a /switch or /msg argument names: our nickname, then an ID or its start, then their nickname. */
export function find(client: ChatClient, target: string): ChatRecord {
  const t = target.trim().toLowerCase(), chats = client.chats;
  const byNick = chats.filter((c) => c.nickname.toLowerCase() === t);
  if (byNick.length === 1) return byNick[0];
  if (byNick.length > 1) throw new ChatError(`Several chats are called "${target}"; give the ID.`);
  try {
    const exact = client.chat(parseId(target));
    if (exact) return exact;
  } catch {
    // not a whole ID
  }
  const prefix = t.replace(/[\s\-_.:]/g, "");
  if (prefix.length >= 4) {
    const byId = chats.filter((c) => formatId(c.peerId).replace(/-/g, "").startsWith(prefix));
    if (byId.length === 1) return byId[0];
    if (byId.length > 1) throw new ChatError(`"${target}" matches several chats; type more of the ID.`);
  }
  const theirs = chats.filter((c) => c.peerNickname.toLowerCase() === t.replace(/^~/, ""));
  if (theirs.length === 1) return theirs[0];
  throw new ChatError(`No chat is called "${target}"; /list shows them.`);
}

/** Makes a chat the active one and says so. */
export function switchTo(client: ChatClient, chat: ChatRecord): void {
  client.setActive(chat);
  client.options.emit({ event: "switched", ...chatRef(chat) });
}

/** Switches to the next (+1) or previous (−1) chat in the list (Tab and Shift-Tab). */
export function cycle(client: ChatClient, step: 1 | -1): Promise<void> {
  return client.run(() => {
    // The chats, then the groups (client/groups.ts), as the list shows them.
    const chats: unknown[] = [...client.chats, ...client.groups.list];
    if (chats.length === 0) return;
    const current = client.groups.focused ?? client.active;
    const at = current ? chats.indexOf(current) : -1;
    const next = chats[(at + step + chats.length) % chats.length];
    if (client.chats.includes(next as ChatRecord)) switchTo(client, next as ChatRecord);
    else client.groups.focus(next as Parameters<typeof client.groups.focus>[0]);
  });
}

function roomToSend(client: ChatClient): void {
  if (client.outbox.full) {
    throw new ChatError("Too many messages are waiting to be sent; wait until they have left.");
  }
}

/** Queues a text for `chat` (the active one, or the one /msg names); returns its text id. */
export function sendText(client: ChatClient, text: string, target: ChatRecord): number {
  const chat = notClosed(target);
  roomToSend(client);
  const id = chat.nextTextId;
  chat.nextTextId = id >= 0xffff_ffff ? 1 : id + 1;
  const entry = client.outbox.add(chat, { type: "text", id, text }, id);
  const time = client.options.clock.now();
  addLine(chat, { kind: "out", status: "pending", textId: id, messageId: entry.messageId, time, text });
  if (!client.link || entry.kind === "payload") {
    client.options.emit({ event: "queued", chat: formatId(chat.peerId), id, at: "client" });
  }
  return id;
}

/** The relay this client uses, as "host:port", and the pin it trusts for it (if one is known yet). */
function relayOf(client: ChatClient): { key: string; shown: string; pin?: string } {
  const { host, port, pin } = client.options.relay;
  const key = serverKey(host, port);
  return { key, shown: key, pin: client.link?.pin ?? pin ?? client.contents.pins.get(key) };
}

/**
 * An invitation given to /chat must name the relay this client uses, with the pin it trusts for it; a
 * pin not known yet is taken from the invitation (stored as a first use would store it).
 */
function checkInvitation(client: ChatClient, inv: Invitation): void {
  const relay = relayOf(client), theirs = serverKey(inv.host, inv.port);
  if (theirs !== relay.key) {
    throw new ChatError(
      `That invitation is for the relay at ${theirs}, and this client uses ${relay.shown}; to use it, quit and ` +
        `start the client with the invitation in place of the relay's address (client.ts 'sotto://…').`,
    );
  }
  if (relay.pin !== undefined && relay.pin !== inv.pin) {
    throw new ChatError(
      `That invitation gives the relay at ${theirs} the pin ${inv.pin}, but this client trusts ${relay.pin} ` +
        `for it: the invitation may have been altered, or the relay's key changed; check with its sender.`,
    );
  }
  if (relay.pin === undefined) client.contents.pins.set(relay.key, inv.pin);
}

/** True for addresses only this machine reaches. */
function isLoopback(host: string): boolean {
  const ip = parseIpAddress(host);
  if (!ip) return /^localhost\.?$/i.test(host);
  return ip.length === 4 ? ip[0] === 127 : ip.every((b, i) => b === (i === 15 ? 1 : 0));
}

/**
 * The invitation for our ID on this relay, and a sentence when only this machine reaches the relay by the
 * address the client was given. ChatError before the relay's pin is known.
 */
export function makeInvitation(client: ChatClient): { invitation: string; note?: string } {
  const { host, port } = client.options.relay, relay = relayOf(client);
  if (relay.pin === undefined) {
    throw new ChatError("The invitation carries the relay's pin: wait until the client has connected once.");
  }
  const invitation = formatInvitation({ host, port, pin: relay.pin, id: client.identity.id });
  if (!isLoopback(host)) return { invitation };
  return {
    invitation,
    note: `This invitation names ${host}, which reaches the relay from this machine only; for people ` +
      `elsewhere, start the client with the relay's public name or address.`,
  };
}

/** /invite: the invitation (an event the views show with its QR code). */
function invite(client: ChatClient): void {
  const { invitation, note } = makeInvitation(client);
  const emit = client.options.emit;
  emit({ event: "invitation", invitation, id: formatId(client.identity.id), server: relayOf(client).key });
  if (note) emit({ event: "info", text: note });
}
