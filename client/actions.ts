// What each command does (the lines client/commands.ts parses), on the chats of client/chats.ts. Every
// command runs in the chats' one-at-a-time order; one that cannot be done throws a ChatError whose
// message is the sentence to show.

import { equalBytes } from "../crypto/bytes.ts";
import { type HistoryEntry, MAX_EDITS, newEntry } from "../protocol/history.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { formatInvitation, type Invitation } from "../protocol/invite.ts";
import { parseIpAddress } from "../protocol/tls13/x509.ts";
import { type ChatRecord, MAX_BLOCKED, MAX_CHATS } from "../protocol/keystore.ts";
import { safetyNumber } from "../protocol/safety.ts";
import { type ChatClient, identityFingerprint } from "./chats.ts";
import { type Command, HELP, type LineRef, MAX_RESULTS } from "./commands.ts";
import { type EventRef, type LineFields, timerText } from "./events.ts";
import { exportChat } from "./export.ts";
import { isPostQuantum } from "./handshake.ts";
import {
  addLine,
  addSystemLine,
  changed,
  chatName,
  chatRef,
  clearLines,
  findLine,
  findText,
} from "./history.ts";
import { EDIT_WINDOW_MS, fileKey, MAX_INCOMING_FILES, type Offer, quote, tombstone } from "./receive.ts";
import { mib } from "./files.ts";
import { groupAware, runGroupCommand } from "./group_commands.ts";
import { serverKey } from "./pins.ts";
import {
  DEFINITIONS,
  getSetting,
  isSettingName,
  setSetting,
  SETTING_NAMES,
  showSetting,
} from "./settings.ts";

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
  if (cmd.name === "forget") return await forget(client, cmd.target);
  if (cmd.name === "export") {
    const chat = await client.run(() => needActive(client));
    const lines = await exportChat(client, chat, cmd.path);
    client.options.emit({ event: "exported", ...chatRef(chat), path: cmd.path, lines });
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
    case "verify":
      return verify(client, cmd.action);
    case "reply":
    case "edit":
    case "react":
    case "delete":
    case "timer":
      return conversation(client, cmd);
    case "set":
      return set(client, cmd.setting, cmd.value);
    case "search":
      return search(client, cmd.query, cmd.all);
    case "history": {
      const chat = needActive(client);
      for (const h of chat.history.slice(-cmd.count)) {
        emit({ event: "history", ...chatRef(chat), ...lineFields(chat, h) });
      }
      return;
    }
    case "unread": {
      const chat = needActive(client);
      const marker = client.unreadMarker(chat);
      if (!marker) {
        emit({ event: "info", text: `Nothing unread in ${chatName(chat)}.` });
        return;
      }
      emit({ event: "unread", ...chatRef(chat), line: marker.line, count: marker.count });
      for (const h of chat.history.filter((h) => h.seq >= marker.line)) {
        emit({ event: "history", ...chatRef(chat), ...lineFields(chat, h) });
      }
      return;
    }
    case "clear": {
      const chat = needActive(client);
      if (!cmd.history) {
        emit({ event: "cleared", ...chatRef(chat), scope: "screen" });
        return;
      }
      const lines = clearLines(chat);
      client.clearMarker(chat);
      client.save();
      emit({ event: "cleared", ...chatRef(chat), scope: "history", lines });
      return;
    }
    case "mute":
    case "unmute": {
      const chat = needActive(client);
      chat.muted = cmd.name === "mute";
      client.save();
      emit({ event: "muted", ...chatRef(chat), muted: chat.muted });
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
        // The same as /set requests on|off: stored, and applied at once (the relay is told now if
        // connected, else at the next connection).
        setRequests(client, cmd.on);
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
    case "forget":
    case "export":
    case "quit":
    case "group":
      return;
  }
}

// ---- verification -----------------------------------------------------------------------------------

function verify(client: ChatClient, action: "show" | "ok" | "off" | "accept"): void {
  const emit = client.options.emit, chat = needActive(client);
  if (!chat.peerIdentity) {
    throw new ChatError(`The safety number is known once the chat with ${chatName(chat)} is open.`);
  }
  const now = client.options.clock.now();
  const fingerprint = identityFingerprint(chat)!;
  const matches = chat.verified !== null && equalBytes(chat.verified, fingerprint);
  switch (action) {
    case "show":
      emit({
        event: "safety-number",
        ...chatRef(chat),
        number: safetyNumber(client.identity.publicKeys, chat.peerIdentity),
        pq: isPostQuantum(chat),
        verified: matches && chat.warning === "none",
      });
      emit({
        event: "info",
        text: chat.warning !== "none"
          ? "Sending is held: compare it with your peer's, then /verify ok if it matches (or /verify accept)."
          : "Compare it with your peer's in person or on a call: if they match, nobody is in between " +
            "(then /verify ok marks the chat verified).",
      });
      return;
    case "ok":
      chat.verified = fingerprint;
      chat.warning = "none";
      addSystemLine(chat, "you marked this chat as verified (the safety numbers match)", now);
      emit({ event: "verified", ...chatRef(chat), verified: true });
      break;
    case "off":
      chat.verified = null;
      addSystemLine(chat, "you took the verified mark off this chat", now);
      emit({ event: "verified", ...chatRef(chat), verified: false });
      break;
    case "accept":
      if (chat.warning === "none") throw new ChatError(`Nothing waits for an answer in ${chatName(chat)}.`);
      chat.warning = "none";
      // Accepting without comparing takes the verified mark off: it was for other keys or another ID.
      if (!matches) chat.verified = null;
      addSystemLine(chat, "you accepted the change without comparing the safety number", now);
      emit({ event: "verified", ...chatRef(chat), verified: chat.verified !== null });
      break;
  }
  client.save();
}

/**
 * A name given to a chat (`/chat ID name`) that a verified chat with another ID has: the new chat is
 * held until the user looks (a contact "moved" to a new ID is not the same person unless they say so).
 */
export function checkNameMove(client: ChatClient, chat: ChatRecord): void {
  const name = chat.nickname.toLowerCase();
  if (name === "") return;
  const other = client.chats.find((c) =>
    c !== chat && c.verified !== null && c.nickname.toLowerCase() === name &&
    !equalBytes(c.peerId, chat.peerId)
  );
  if (
    !other ||
    (chat.verified !== null && chat.warning === "none" &&
      equalBytes(chat.verified, identityFingerprint(chat) ?? new Uint8Array()))
  ) return;
  chat.warning = "name-moved";
  addSystemLine(
    chat,
    `WARNING: "${chat.nickname}" is the name of a verified chat with another ID (${
      formatId(other.peerId)
    }); ` +
      "sending is held until you look (/verify)",
    client.options.clock.now(),
  );
  client.options.emit({
    event: "identity-changed",
    ...chatRef(chat),
    reason: "name-moved",
    other: formatId(other.peerId),
  });
}

function notHeld(chat: ChatRecord): void {
  if (chat.warning === "none") return;
  throw new ChatError(
    chat.warning === "identity-changed"
      ? `Sending to ${chatName(chat)} is held: their identity keys differ from the ones you verified. ` +
        "Compare the safety number (/verify), then /verify ok if it matches, or /verify accept."
      : `Sending to ${chatName(chat)} is held: a verified chat has this name with another ID. Compare the ` +
        "safety number (/verify), then /verify ok if it matches, or /verify accept.",
  );
}

// ---- replies, reactions, edits, deletes, the timer ----------------------------------------------------

/** A line as events give it. */
export function lineFields(chat: ChatRecord, h: HistoryEntry): LineFields {
  const f: LineFields = {
    line: h.seq,
    from: h.kind === "out" ? "you" : h.kind === "in" ? "peer" : "system",
    text: h.text,
    time: new Date(h.time).toISOString(),
  };
  if (h.kind === "out") f.status = h.status;
  if (h.versions.length > 0) f.edits = h.versions.length;
  if (h.deleted) f.deleted = true;
  if (h.reply) f.reply = eventRef(chat, h.reply);
  const reactions: { by: "you" | "peer"; emoji: string }[] = [];
  if (h.myReaction) reactions.push({ by: "you", emoji: h.myReaction });
  if (h.peerReaction) reactions.push({ by: "peer", emoji: h.peerReaction });
  if (reactions.length > 0) f.reactions = reactions;
  if (h.expiresAt > 0) f.expires = new Date(h.expiresAt).toISOString();
  return f;
}

/** A reference as events give it: with its line and a quote if the line is still here. */
export function eventRef(chat: ChatRecord, ref: { mine: boolean; id: number }): EventRef {
  const line = findText(chat, ref.mine, ref.id);
  return { ...ref, ...(line ? { line: line.seq, quote: quote(line) } : {}) };
}

/** The line a command names: its number, or the last one `last` picks. */
function pickLine(
  chat: ChatRecord,
  ref: LineRef,
  last: (h: HistoryEntry) => boolean,
  what: string,
): HistoryEntry {
  const line = ref === "last" ? chat.history.findLast(last) : findLine(chat, ref);
  if (!line) {
    throw new ChatError(
      ref === "last"
        ? `There is no ${what} in ${chatName(chat)}.`
        : `There is no line ${ref} in ${chatName(chat)}.`,
    );
  }
  return line;
}

const isText = (h: HistoryEntry) => h.kind !== "system" && h.textId > 0 && !h.deleted;

function conversation(
  client: ChatClient,
  cmd: Extract<Command, { name: "reply" | "edit" | "react" | "delete" | "timer" }>,
): void {
  const emit = client.options.emit, now = client.options.clock.now();
  const chat = notClosed(needActive(client));
  if (cmd.name === "timer" && cmd.seconds === null) {
    emit({ event: "info", text: `Disappearing messages in ${chatName(chat)}: ${timerText(chat.timer)}.` });
    return;
  }
  if (cmd.name === "reply") {
    const line = pickLine(chat, cmd.ref, (h) => isText(h) && h.kind === "in", "message from them");
    if (!isText(line)) throw new ChatError(`Line ${line.seq} is not a message you can answer.`);
    return void sendText(client, cmd.text, chat, line);
  }
  if (chat.state !== "open") throw new ChatError(`The chat with ${chatName(chat)} is not open yet.`);
  notHeld(chat);
  roomToSend(client);
  switch (cmd.name) {
    case "react": {
      const line = pickLine(chat, cmd.ref, (h) => isText(h) && h.kind === "in", "message from them");
      if (!isText(line)) throw new ChatError(`Line ${line.seq} is not a message you can react to.`);
      if (line.myReaction === cmd.emoji) return;
      const target = { author: line.kind === "out" ? "sender" : "recipient", id: line.textId } as const;
      client.outbox.add(chat, { type: "reaction", target, emoji: cmd.emoji }, 0);
      line.myReaction = cmd.emoji;
      changed(chat, line);
      emit({
        event: "reaction",
        ...chatRef(chat),
        line: line.seq,
        by: "you",
        emoji: cmd.emoji,
        target: eventRef(chat, { mine: line.kind === "out", id: line.textId }),
      });
      return;
    }
    case "edit": {
      const line = pickLine(chat, cmd.ref, (h) => isText(h) && h.kind === "out", "text of yours");
      if (line.kind !== "out" || !isText(line)) throw new ChatError("You can edit only your own texts.");
      if (now - line.time > EDIT_WINDOW_MS) {
        throw new ChatError("A text can be edited for 24 hours after it was sent.");
      }
      if (line.versions.length >= MAX_EDITS) {
        throw new ChatError(`A text can be edited ${MAX_EDITS} times at most.`);
      }
      if (line.text === cmd.text) return;
      client.outbox.add(chat, { type: "edit", id: line.textId, text: cmd.text }, 0, {
        expiresAt: line.expiresAt,
      });
      line.versions.push({ text: line.text, time: now });
      line.text = cmd.text;
      changed(chat, line);
      emit({
        event: "edited",
        ...chatRef(chat),
        line: line.seq,
        id: line.textId,
        mine: true,
        text: cmd.text,
        edits: line.versions.length,
      });
      return;
    }
    case "delete": {
      const line = pickLine(chat, cmd.ref, (h) => isText(h) && h.kind === "out", "text of yours");
      if (line.kind !== "out" || !isText(line)) {
        throw new ChatError("You can delete only your own texts, for everyone.");
      }
      // A text that never left is only taken back; one that may be at the relay is withdrawn there (so a
      // peer who has not fetched it never gets it) and the peer is told to delete it.
      const unsent = line.messageId.length > 0 && client.withdrawText(chat, line);
      if (!unsent) client.outbox.add(chat, { type: "delete", id: line.textId }, 0);
      if (line.status === "pending" && unsent) line.status = "failed";
      tombstone(chat, line);
      emit({ event: "deleted", ...chatRef(chat), line: line.seq, id: line.textId, mine: true });
      return;
    }
    case "timer": {
      const seconds = cmd.seconds!;
      if (seconds === chat.timer) {
        emit({
          event: "info",
          text: `Disappearing messages in ${chatName(chat)} are ${timerText(seconds)} already.`,
        });
        return;
      }
      const epoch = chat.timerEpoch + 1;
      client.outbox.add(chat, { type: "timer", seconds, epoch }, 0);
      chat.timer = seconds;
      chat.timerEpoch = epoch;
      chat.timerBy = "us";
      addSystemLine(chat, `you set disappearing messages to ${timerText(seconds)}`, now);
      emit({ event: "timer", ...chatRef(chat), seconds, by: "you" });
      return;
    }
  }
}

// ---- settings, search, forget -------------------------------------------------------------------------

function set(client: ChatClient, name: string | null, value: string | null): void {
  const emit = client.options.emit, contents = client.contents;
  if (name === null) {
    for (const n of SETTING_NAMES) emit({ event: "setting", name: n, value: showSetting(contents, n) });
    return;
  }
  const n = name.toLowerCase();
  if (!isSettingName(n)) {
    throw new ChatError(`There is no setting "${name}"; /set lists them (${SETTING_NAMES.join(", ")}).`);
  }
  if (value === null) {
    emit({ event: "setting", name: n, value: showSetting(contents, n) });
    return;
  }
  const shown = setSetting(contents, n, value);
  if (shown === null) throw new ChatError(`${n} takes ${DEFINITIONS[n].values}.`);
  client.save();
  if (n === "requests") client.setRequestsInbox(getSetting(contents, "requests"));
  emit({ event: "setting", name: n, value: shown });
}

/** /requests on|off: the saved setting, applied to this run (as /set requests on|off does). */
function setRequests(client: ChatClient, on: boolean): void {
  setSetting(client.contents, "requests", on ? "on" : "off");
  client.save();
  client.setRequestsInbox(on);
}

/** Text folded for searching: compatibility forms, case. */
function fold(text: string): string {
  return text.normalize("NFKC").toLocaleLowerCase();
}

/**
 * The lines of `only` (or of every chat) whose text contains `query`, case and compatibility forms
 * folded: the newest MAX_RESULTS in time order, and how many there were.
 */
export function searchLines(
  client: ChatClient,
  query: string,
  only: ChatRecord | null,
): { hits: [ChatRecord, HistoryEntry][]; total: number } {
  const q = fold(query);
  const hits: [ChatRecord, HistoryEntry][] = [];
  for (const chat of only ? [only] : client.chats) {
    for (const h of chat.history) if (!h.deleted && fold(h.text).includes(q)) hits.push([chat, h]);
  }
  hits.sort((a, b) => a[1].time - b[1].time);
  return { hits: hits.slice(-MAX_RESULTS), total: hits.length };
}

function search(client: ChatClient, query: string, all: boolean): void {
  const emit = client.options.emit;
  const only = all ? null : needActive(client);
  const { hits, total } = searchLines(client, query, only);
  for (const [chat, h] of hits) emit({ event: "found", query, ...chatRef(chat), ...lineFields(chat, h) });
  const where = only ? chatName(only) : "your chats";
  emit({
    event: "info",
    text: total === 0
      ? `"${query}" is not in ${where}.`
      : `${total} line${total === 1 ? "" : "s"} in ${where} ${
        total === 1 ? "contains" : "contain"
      } "${query}"${total > hits.length ? ` (the newest ${hits.length} are shown)` : ""}.`,
  });
}

/** /forget: a closed chat's record (its keys) and history file are deleted. */
async function forget(client: ChatClient, target: string): Promise<void> {
  const chat = await client.run(() => {
    const c = target.trim() === "" ? needActive(client) : find(client, target);
    if (c.state !== "closed") {
      throw new ChatError(
        `Close the chat with ${chatName(c)} first (/close); only a closed chat can be forgotten.`,
      );
    }
    if (client.transfers.count(c.peerId) > 0) {
      throw new ChatError("Files are still on their way; wait a moment.");
    }
    return c;
  });
  await client.forget(chat);
  client.options.emit({ event: "forgotten", ...chatRef(chat) });
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
  if (chat && nickname) {
    chat.nickname = nickname;
    checkNameMove(client, chat);
  }
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
    checkNameMove(client, chat);
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

/** Makes a chat the active one and says so (and where its unread messages start). */
export function switchTo(client: ChatClient, chat: ChatRecord): void {
  client.setActive(chat);
  client.options.emit({ event: "switched", ...chatRef(chat) });
  const marker = client.unreadMarker(chat);
  if (marker) {
    client.options.emit({ event: "unread", ...chatRef(chat), line: marker.line, count: marker.count });
  }
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

/**
 * Queues a text for `target` (the active chat, or the one /msg names), answering `to`, a line of it, if
 * given, with the chat's timer; returns its text id.
 */
export function sendText(client: ChatClient, text: string, target: ChatRecord, to?: HistoryEntry): number {
  const chat = notClosed(target);
  notHeld(chat);
  roomToSend(client);
  const id = chat.nextTextId;
  chat.nextTextId = id >= 0xffff_ffff ? 1 : id + 1;
  const time = client.options.clock.now();
  const ttl = chat.timer, expiresAt = ttl > 0 ? time + ttl * 1000 : 0;
  const reply = to ? { mine: to.kind === "out", id: to.textId } : null;
  const entry = client.outbox.add(
    chat,
    {
      type: "text",
      id,
      text,
      ...(reply ? { reply: { author: reply.mine ? "sender" : "recipient", id: reply.id } } : {}),
      ...(ttl > 0 ? { ttl } : {}),
    },
    id,
    { expiresAt },
  );
  const line = addLine(
    chat,
    newEntry({
      kind: "out",
      status: "pending",
      textId: id,
      messageId: entry.messageId,
      time,
      text,
      ttl,
      expiresAt,
      reply,
    }),
  );
  client.stoppedTyping(chat);
  client.clearMarker(chat);
  client.expiring(expiresAt);
  const ref = chatRef(chat);
  client.options.emit({
    event: "sent",
    ...ref,
    id,
    line: line.seq,
    text,
    ...(reply ? { reply: eventRef(chat, reply) } : {}),
    ...(ttl > 0 ? { ttl } : {}),
  });
  if (!client.link || entry.kind === "payload") {
    client.options.emit({ event: "queued", ...ref, id, at: "client", line: line.seq });
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
