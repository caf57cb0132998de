// The JSON event stream (`--json`) as a versioned API: the schema of every event, its version, and a
// checker. docs/client.md ("The JSON API") renders this table, and a test keeps the two the same; another
// checks, in every end-to-end test that runs a client process, that each line it prints matches (client/driver.ts).
//
// Stability within a version: events, fields and enumeration values may be added (a reader ignores what it
// does not know), an optional field may become always present; nothing is removed, renamed or given another
// type or meaning. Anything else is a new version.

import type { ClientEvent } from "./events.ts";

/** The version of the event stream, in every JSON line as `v`. */
export const API_VERSION = 1;

/** A field's type: JSON scalars, an ISO 8601 time (UTC), one of some strings, or an array of a type. */
export type FieldType =
  | "string"
  | "integer"
  | "boolean"
  | "time"
  | { readonly oneOf: readonly string[] }
  | { readonly arrayOf: FieldType }
  | { readonly object: string };

/** One field of an event: its type, whether it may be absent, and what it says. */
export interface Field {
  readonly type: FieldType;
  readonly optional?: true;
  readonly doc: string;
}

type Fields<E extends ClientEvent["event"]> = Exclude<keyof Extract<ClientEvent, { event: E }>, "event">;

/** What every event is: a sentence, and its fields (the compiler holds the names to ClientEvent's). */
export type EventSchema = {
  readonly [E in ClientEvent["event"]]: { readonly doc: string; readonly fields: Record<Fields<E>, Field> };
};

const str = (doc: string): Field => ({ type: "string", doc });
const opt = (f: Field): Field => ({ ...f, optional: true });
const int = (doc: string): Field => ({ type: "integer", doc });
const bool = (doc: string): Field => ({ type: "boolean", doc });
const time = (doc: string): Field => ({ type: "time", doc });
const oneOf = (values: readonly string[], doc: string): Field => ({ type: { oneOf: values }, doc });

const CHAT = str("the peer's ID (formatted, with its check character)");
const NICK = opt(str("your nickname for the peer, when you gave one"));
const PEER_NICK = opt(str("the name the peer announced (`/nick`), when they did"));
/** The fields that name a chat in most events. */
const names = <T extends Record<string, Field>>(fields: T) => ({
  chat: CHAT,
  nick: NICK,
  peerNick: PEER_NICK,
  ...fields,
});
const DIRECTION = oneOf(["send", "receive"], "`send`: you offer it; `receive`: it is offered to you");
const FILE = str("the file's id (hex); `/accept` and `/decline` take it or its first characters");
const FILE_NAME = str("the file's name (as the sender gave it; saved under a sanitised one)");
const SIZE = int("its size in bytes");
const GROUP = str("the group's ID (hex)");
const GROUP_NAME = str("the group's name");
const MEMBER = str("the member's ID");
const BY_MEMBER = str("the ID of the member who did it");
const IDS = (doc: string): Field => ({ type: { arrayOf: "string" }, doc });
const LINE = int("the line's number in this chat (stable; `/reply`, `/react`, `/edit`, `/delete` take it)");
const TEXT_LINE = opt(int("the text's line, when it is still here"));
const REF: Field = { type: { object: "EventRef" }, doc: "the text it answers" };
const BY = oneOf(["you", "peer"], "who did it");

/** Shared object types, by name. */
export const OBJECTS: Readonly<Record<string, Record<string, Field>>> = {
  EventRef: {
    mine: bool("the text is yours"),
    id: int("its sender's number for it"),
    line: opt(int("its line here, if it is still here")),
    quote: opt(str("its first characters, if it is still here")),
  },
  Reaction: { by: BY, emoji: str("the emoji") },
  member: {
    id: str("the member's ID"),
    nick: opt(str("your nickname for them (their chat's), when you gave one")),
    groupNick: opt(str("the name they announced in the group, if any")),
    admin: bool("an admin (the creator is one)"),
    creator: bool("the group's creator"),
    you: bool("this is you"),
  },
};

/** A line of history, as `history` and `found` give it. */
const LINE_FIELDS = {
  line: LINE,
  from: oneOf(["you", "peer", "system"], "who wrote it (`system`: a note of the client's)"),
  text: str("its text (the latest version)"),
  time: time("when it was sent or received"),
  status: opt(
    oneOf(["none", "pending", "queued", "delivered", "failed", "read"], "yours: how far it got"),
  ),
  edits: opt(int("how many earlier versions it has")),
  deleted: opt(bool("deleted for everyone (its text is gone)")),
  reply: opt(REF),
  reactions: opt({ type: { arrayOf: { object: "Reaction" } }, doc: "yours and the peer's" }),
  expires: opt(time("when it disappears")),
};

/** Every event of the JSON stream. */
export const EVENTS = {
  ready: {
    doc: "logged in to the relay (once per run)",
    fields: {
      id: str("your ID"),
      server: str("the relay, as `host:port`"),
      pin: str("the relay's key pin (base64url SHA-256 of its key)"),
      trust: oneOf(
        ["pinned", "first-use", "matched"],
        "`pinned`: given by `--pin` or an invitation; `first-use`: stored now; `matched`: the stored pin",
      ),
      curve: str("the curve of the chats you ask for (`P-256`, `P-384`, `P-521`)"),
      tls: str("the TLS key exchange group (`SecP384r1MLKEM1024` from a sotto relay: post-quantum hybrid)"),
    },
  },
  connection: {
    doc: "the link to the relay changed",
    fields: {
      state: oneOf(["connecting", "online", "offline"], "how the link stands"),
      retryInSeconds: opt(int("when offline: seconds until the next attempt")),
      reason: opt(str("when offline: why, in one sentence")),
    },
  },
  "chat-requested": { doc: "you asked for a chat; it opens when the peer asks too", fields: names({}) },
  "chat-open": {
    doc: "a chat opened (both sides asked)",
    fields: names({
      role: oneOf(["initiator", "responder"], "`initiator`: your request came first and you start PQXDH"),
      curve: str("the chat's curve"),
      pq: bool("post-quantum: PQXDH, then ML-KEM in every ratchet step (every new chat is)"),
    }),
  },
  "chat-asked": {
    doc: "someone asked to chat with you (only with `/requests on`): `/chat` accepts, `/ignore`, `/block`",
    fields: {
      chat: str("who asks (their ID)"),
      curve: str("the curve they asked for"),
      expires: time("when their request lapses"),
    },
  },
  "chat-refused": {
    doc: "the relay opened a chat you did not want; it was refused and closed",
    fields: {
      chat: CHAT,
      reason: oneOf(["not-asked", "closed", "blocked"], "you never asked, closed it, or blocked the peer"),
    },
  },
  message: {
    doc: "a text from a peer",
    fields: names({
      id: int("the sender's number for this text"),
      line: LINE,
      text: str("the text (exactly as sent; may hold several lines)"),
      time: time("when it was received"),
      reply: opt(REF),
      ttl: opt(int("a disappearing message: seconds it lives from now")),
    }),
  },
  sent: {
    doc: "a text of yours was added to the chat",
    fields: names({
      id: int("your number for the text"),
      line: LINE,
      text: str("the text"),
      reply: opt(REF),
      ttl: opt(int("a disappearing message: seconds it lives")),
    }),
  },
  queued: {
    doc: "your text is on its way",
    fields: names({
      id: int("your number for the text"),
      at: oneOf(["client", "relay"], "`client`: it waits here to be sent; `relay`: the relay stored it"),
      line: TEXT_LINE,
    }),
  },
  delivered: {
    doc: "your peer's client confirmed your text (end to end)",
    fields: names({ id: int("your number for the text"), line: TEXT_LINE }),
  },
  read: {
    doc: "your peer's client showed your text (read receipts: both sides turned them on)",
    fields: names({ id: int("your number for the text"), line: TEXT_LINE }),
  },
  refused: {
    doc: "the relay refused your text",
    fields: names({
      id: int("your number for the text"),
      reason: str("why, in one sentence"),
      line: TEXT_LINE,
    }),
  },
  reaction: {
    doc: "a reaction to a line, by you or the peer",
    fields: names({
      line: LINE,
      by: BY,
      emoji: str("the emoji; empty: the reaction was taken back"),
      target: { type: { object: "EventRef" }, doc: "the text reacted to" },
    }),
  },
  edited: {
    doc: "a text was edited",
    fields: names({
      line: LINE,
      id: int("its sender's number for it"),
      mine: bool("the text is yours"),
      text: str("its new text"),
      edits: int("how many times it has been edited"),
    }),
  },
  deleted: {
    doc: "a text was deleted for everyone",
    fields: names({ line: LINE, id: int("its sender's number for it"), mine: bool("the text is yours") }),
  },
  withdrawn: {
    doc: "what became of taking your text back at the relay (a delete for everyone, or a lapsed one)",
    fields: names({
      outcome: oneOf(
        ["withdrawn", "sent", "not-found", "unsent", "pending", "unsupported"],
        "`withdrawn`: the peer never gets it; `sent`: it had reached their client; `not-found`; " +
          "`unsent`: it never left; `pending`: asked at the next connection; `unsupported`: an older relay",
      ),
      line: TEXT_LINE,
    }),
  },
  expired: {
    doc: "disappearing messages whose time ran out: these lines are gone",
    fields: names({ lines: { type: { arrayOf: "integer" }, doc: "their line numbers" } }),
  },
  timer: {
    doc: "the chat's disappearing-messages timer",
    fields: names({ seconds: int("how long a message lives; 0: off"), by: BY }),
  },
  typing: {
    doc: "the peer started or stopped typing (both opted in)",
    fields: names({ typing: bool("typing now") }),
  },
  unread: {
    doc: "the first unread line of the chat just opened (or asked for with `/unread`)",
    fields: names({ line: LINE, count: int("how many are unread") }),
  },
  history: { doc: "a line of the history, replayed (`/history`, `/unread`)", fields: names(LINE_FIELDS) },
  found: {
    doc: "a line `/search` found",
    fields: names({ query: str("what was searched for"), ...LINE_FIELDS }),
  },
  verified: {
    doc: "the chat was marked verified, or not",
    fields: names({ verified: bool("verified now") }),
  },
  "identity-changed": {
    doc: "sending to the chat is held until you compare the safety number",
    fields: names({
      reason: oneOf(
        ["keys", "name-moved"],
        "`keys`: their identity keys differ from the verified ones; `name-moved`: a verified chat's name " +
          "was given to another ID",
      ),
      other: opt(str("`name-moved`: the other chat's ID")),
    }),
  },
  muted: {
    doc: "the chat's notifications were turned off or on",
    fields: names({ muted: bool("muted now") }),
  },
  cleared: {
    doc: "the screen was cleared, or the chat's history deleted",
    fields: names({
      scope: oneOf(["screen", "history"], "what was cleared"),
      lines: opt(int("`history`: how many lines were deleted")),
    }),
  },
  forgotten: { doc: "a closed chat was forgotten: its history and keys are gone", fields: names({}) },
  exported: {
    doc: "a chat was exported to a text file",
    fields: names({ path: str("the file written"), lines: int("how many lines it holds") }),
  },
  setting: {
    doc: "a setting's value (`/set`)",
    fields: { name: str("the setting"), value: str("its value, as `/set` takes it") },
  },
  "file-offer": {
    doc: "a file offer waits for an answer (`receive`: yours, `/accept`; `send`: your peer's)",
    fields: names({ direction: DIRECTION, file: FILE, name: FILE_NAME, size: SIZE }),
  },
  "file-accepted": {
    doc: "an offer was accepted; the transfer starts",
    fields: names({ direction: DIRECTION, file: FILE, name: FILE_NAME, size: SIZE }),
  },
  "file-declined": {
    doc: "an offer was declined",
    fields: names({
      direction: DIRECTION,
      file: FILE,
      name: FILE_NAME,
      reason: opt(str("why, when it was declined automatically")),
    }),
  },
  "file-progress": {
    doc: "bytes of a transfer have gone through",
    fields: names({
      direction: DIRECTION,
      file: FILE,
      name: FILE_NAME,
      bytes: int("bytes so far"),
      size: SIZE,
    }),
  },
  "file-sent": {
    doc: "your peer has the whole file",
    fields: names({ file: FILE, name: FILE_NAME, size: SIZE }),
  },
  "file-received": {
    doc: "a file arrived whole and checked; it was saved, never opened",
    fields: names({ file: FILE, name: FILE_NAME, path: str("where it was saved"), size: SIZE }),
  },
  "file-failed": {
    doc: "a transfer ended without the file (cancelled by either side, damaged, stalled, the chat closed)",
    fields: names({ direction: DIRECTION, file: FILE, name: FILE_NAME, reason: str("why, in one sentence") }),
  },
  presence: { doc: "a peer came online or went offline", fields: names({ online: bool("online now") }) },
  "peer-closed": { doc: "the peer closed the chat", fields: names({}) },
  nickname: {
    doc: "the peer said what to call them",
    fields: names({
      name: str("the name they gave"),
      warning: opt(str("why the name deserves a second look (it imitates another chat's, say)")),
    }),
  },
  switched: { doc: "another chat is the active one", fields: names({}) },
  "safety-number": {
    doc: "a chat's safety number (`/verify`): compare it with your peer's",
    fields: names({
      number: str("12 groups of 5 digits"),
      pq: bool("false for a classical session made before PQXDH"),
      verified: opt(bool("the chat is marked verified")),
    }),
  },
  info: { doc: "command output", fields: { text: str("the text (may hold several lines)") } },
  invitation: {
    doc: "your invitation (`/invite`)",
    fields: {
      invitation: str("the invitation (`sotto://…`)"),
      id: str("your ID"),
      server: str("the relay, as `host:port`"),
    },
  },
  web: { doc: "the web UI is served (`--web`)", fields: { url: str("its address, with its token") } },
  error: {
    doc: "something went wrong, in one sentence",
    fields: {
      message: str("the sentence"),
      chat: opt(str("the chat it concerns, when one")),
      nick: NICK,
      peerNick: PEER_NICK,
    },
  },
  "group-created": {
    doc: "you made a group (`/group new`); it is the active conversation",
    fields: { group: GROUP, name: GROUP_NAME },
  },
  "group-invitation": {
    doc: "an invitation to a group came in a chat: `/group accept` or `/group decline`",
    fields: {
      group: GROUP,
      name: GROUP_NAME,
      from: str("the inviter's ID"),
      nick: opt(str("your nickname for the inviter, when you gave one")),
      creator: str("the group's creator's ID"),
      members: IDS("the members' IDs, as the inviter sees them"),
    },
  },
  "group-invited": {
    doc: "your invitation left (`/group add`); they are added once they accept",
    fields: { group: GROUP, name: GROUP_NAME, member: str("the invitee's ID"), nick: NICK },
  },
  "group-invitation-accepted": {
    doc: "you accepted an invitation at the relay; the inviter's client adds you next",
    fields: { group: GROUP, name: GROUP_NAME, inviter: str("the inviter's ID") },
  },
  "group-declined": {
    doc: "you declined an invitation (nobody is told)",
    fields: { group: GROUP, name: GROUP_NAME },
  },
  "group-joined": {
    doc: "you were added to a group and are in it now",
    fields: { group: GROUP, name: GROUP_NAME, members: IDS("the members' IDs (from the group's MLS tree)") },
  },
  "group-member-added": {
    doc: "someone was added to a group",
    fields: { group: GROUP, name: GROUP_NAME, member: MEMBER, nick: NICK, by: BY_MEMBER },
  },
  "group-member-removed": {
    doc: "someone left or was removed from a group",
    fields: {
      group: GROUP,
      name: GROUP_NAME,
      member: MEMBER,
      nick: NICK,
      by: BY_MEMBER,
      left: bool("true: they left; false: they were removed"),
    },
  },
  "group-member-leaving": {
    doc: "a member left: they receive nothing more, and the next commit takes them out",
    fields: { group: GROUP, name: GROUP_NAME, member: MEMBER, nick: NICK },
  },
  "group-removed": {
    doc: "you were removed from a group: nothing more of it reaches you",
    fields: { group: GROUP, name: GROUP_NAME, by: BY_MEMBER },
  },
  "group-left": { doc: "you left a group (`/group leave`)", fields: { group: GROUP, name: GROUP_NAME } },
  "group-message": {
    doc: "a text in a group",
    fields: {
      group: GROUP,
      name: GROUP_NAME,
      from: str("the sender's ID"),
      nick: opt(str("your nickname for the sender, when you gave one")),
      id: int("the sender's number for this text"),
      text: str("the text (exactly as sent; may hold several lines)"),
      time: time("when it was received"),
    },
  },
  "group-queued": {
    doc: "your text to a group is on its way (there are no delivered receipts in groups)",
    fields: {
      group: GROUP,
      id: int("your number for the text"),
      at: oneOf(["client", "relay"], "`client`: it waits here to be sent; `relay`: logged for every member"),
    },
  },
  "group-refused": {
    doc: "the relay refused your text to a group",
    fields: { group: GROUP, id: int("your number for the text"), reason: str("why, in one sentence") },
  },
  "group-renamed": {
    doc: "a group was renamed (`/group name`)",
    fields: { group: GROUP, name: str("its new name"), by: BY_MEMBER },
  },
  "group-nickname": {
    doc: "a member said what to call them in a group",
    fields: { group: GROUP, member: MEMBER, name: str("the name they gave") },
  },
  "group-admins": {
    doc: "a group's admins changed",
    fields: { group: GROUP, name: GROUP_NAME, admins: IDS("the admins' IDs, the creator first") },
  },
  "group-members": {
    doc: "who is in a group (`/group members`), from its MLS tree",
    fields: {
      group: GROUP,
      name: GROUP_NAME,
      members: { type: { arrayOf: { object: "member" } }, doc: "the members" },
    },
  },
  "group-switched": {
    doc: "a group is the active conversation",
    fields: { group: GROUP, name: GROUP_NAME },
  },
  "group-file-offer": {
    doc: "a file offered in a group (`receive`: `/accept` or `/decline` it; `send`: yours, sent at once)",
    fields: {
      group: GROUP,
      direction: DIRECTION,
      from: str("the sender's ID (yours for `send`)"),
      file: FILE,
      name: FILE_NAME,
      size: SIZE,
    },
  },
  "group-file-progress": {
    doc: "bytes of a group file have gone through",
    fields: {
      group: GROUP,
      direction: DIRECTION,
      file: FILE,
      name: FILE_NAME,
      bytes: int("bytes so far"),
      size: SIZE,
    },
  },
  "group-file-received": {
    doc: "a group file arrived whole and checked; it was saved, never opened",
    fields: {
      group: GROUP,
      from: str("the sender's ID"),
      file: FILE,
      name: FILE_NAME,
      path: str("where it was saved"),
      size: SIZE,
    },
  },
  "group-file-sent": {
    doc: "your file went to the group (logged by the relay for every member)",
    fields: { group: GROUP, file: FILE, name: FILE_NAME, size: SIZE },
  },
  "group-file-declined": {
    doc: "you declined a file offered in a group",
    fields: { group: GROUP, file: FILE, name: FILE_NAME },
  },
  "group-file-failed": {
    doc: "a group file transfer ended without the file",
    fields: {
      group: GROUP,
      direction: DIRECTION,
      file: FILE,
      name: FILE_NAME,
      reason: str("why, in one sentence"),
    },
  },
} satisfies EventSchema;

// No schema field that the event's type lacks (the compiler checks the other direction above).
type ExtraFields = {
  [E in keyof typeof EVENTS]: Exclude<keyof (typeof EVENTS)[E]["fields"], Fields<E>>;
}[keyof typeof EVENTS];
const _noExtraFields: [ExtraFields] extends [never] ? true : false = true;

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

function checkValue(type: FieldType, value: unknown, where: string): string | undefined {
  if (type === "string") return typeof value === "string" ? undefined : `${where} is not a string`;
  if (type === "integer") return Number.isSafeInteger(value) ? undefined : `${where} is not an integer`;
  if (type === "boolean") return typeof value === "boolean" ? undefined : `${where} is not a boolean`;
  if (type === "time") {
    return typeof value === "string" && TIME.test(value) && !Number.isNaN(Date.parse(value))
      ? undefined
      : `${where} is not an ISO 8601 UTC time`;
  }
  if ("oneOf" in type) {
    return typeof value === "string" && type.oneOf.includes(value)
      ? undefined
      : `${where} is not one of ${type.oneOf.join(", ")}`;
  }
  if ("arrayOf" in type) {
    if (!Array.isArray(value)) return `${where} is not an array`;
    for (let i = 0; i < value.length; i++) {
      const problem = checkValue(type.arrayOf, value[i], `${where}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  const fields = OBJECTS[type.object];
  if (fields === undefined) return `${where}: no object type ${type.object}`;
  return checkFields(fields, value, where);
}

function checkFields(fields: Record<string, Field>, value: unknown, where: string): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return `${where} is not an object`;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(fields, key)) return `${where} has a field the schema does not know: ${key}`;
  }
  for (const [name, field] of Object.entries(fields)) {
    if (record[name] === undefined) {
      if (field.optional) continue;
      return `${where} lacks its field ${name}`;
    }
    const problem = checkValue(field.type, record[name], `${where}.${name}`);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Checks one parsed JSON line against this version's schema, strictly (a field or event the schema does
 * not know is a fault here, though a reader must ignore them): undefined when it matches, else the problem.
 */
export function checkEventLine(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the line is not an object";
  const { v, event, ...fields } = value as Record<string, unknown>;
  if (v !== API_VERSION) return `the line's version is ${JSON.stringify(v)}, not ${API_VERSION}`;
  if (typeof event !== "string" || !Object.hasOwn(EVENTS, event)) {
    return `the schema has no event ${JSON.stringify(event)}`;
  }
  const schema = EVENTS[event as ClientEvent["event"]];
  return checkFields(schema.fields as Record<string, Field>, fields, event);
}

/** A field type as docs/client.md writes it. */
export function typeToText(type: FieldType): string {
  if (typeof type === "string") return type;
  if ("oneOf" in type) return type.oneOf.map((v) => `\`${v}\``).join(" / ");
  if ("arrayOf" in type) return `array of ${typeToText(type.arrayOf)}`;
  return type.object;
}

/**
 * The schema as the rows of docs/client.md's table (event, field, type, what): a row naming the event
 * and saying what it is, then one per field.
 */
export function schemaRows(): string[][] {
  const rows: string[][] = [];
  for (const [name, schema] of Object.entries(EVENTS) as [string, EventSchema[keyof EventSchema]][]) {
    rows.push([`\`${name}\``, "", "", schema.doc]);
    for (const [field, f] of Object.entries(schema.fields) as [string, Field][]) {
      rows.push(["", `\`${field}\``, typeToText(f.type) + (f.optional ? " (optional)" : ""), f.doc]);
    }
  }
  for (const [name, fields] of Object.entries(OBJECTS)) {
    rows.push([name, "", "", "an object (a field's type names it)"]);
    for (const [field, f] of Object.entries(fields)) {
      rows.push(["", `\`${field}\``, typeToText(f.type) + (f.optional ? " (optional)" : ""), f.doc]);
    }
  }
  return rows;
}
