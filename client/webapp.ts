// The web UI's backend: a third view of the one client, beside the terminal. It unlocks the keystore
// through the page when no passphrase was given, then mirrors the client's state into the page: a
// snapshot when a page connects (each chat's newest PAGE_LINES lines; older ones page in on request from
// the history store's lines), and after every event or command the chats whose summary or lines changed
// (lines carry their stable line numbers and a revision, so only what changed goes). A summary carries what the core knows, not a guess: the keystore's block list, the files
// offered to us and waiting for an answer, those arriving and those we send (with the peer's answer and
// the bytes the relay has stored). The core's events go to the page as they are, so a new event needs
// nothing here; the page's requests become the same commands the terminal runs (client/actions.ts, and
// the core's acceptFile and declineFile for /accept and /decline), and their failures the same
// sentences. Uploads are written to DATA/outgoing and offered as /file does, and removed once their
// transfer has ended; received files are offered for download from DATA/files, never opened.

import { join } from "node:path";
import { bytesToHex, systemRandom } from "../crypto/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import type { ChatRecord, HistoryEntry } from "../protocol/keystore.ts";
import { safetyNumber } from "../protocol/safety.ts";
import { ChatError, eventRef, makeInvitation, runCommand, searchLines, switchTo } from "./actions.ts";
import { type App, sentence } from "./app.ts";
import { type Clock, systemClock } from "./backoff.ts";
import { type Command, CommandError, parseLine } from "./commands.ts";
import type { ClientEvent, ConnectionState } from "./events.ts";
import { FILES_DIR, MAX_FILE_BYTES, sanitizeFileName } from "./files.ts";
import { chatName, findLine, revision } from "./history.ts";
import { type HistoryEntry as Line, MAX_EDITS } from "../protocol/history.ts";
import { EDIT_WINDOW_MS } from "./receive.ts";
import { duration } from "./commands.ts";
import { MIN_PASSPHRASE_CHARS, type PassphraseSource } from "./keystore.ts";
import { passphraseFromEnv, readPassphraseFile } from "./passphrase.ts";
import { encodeQr, type QrCode } from "./qr.ts";
import { looksLikeInvitation, parseInvitation } from "../protocol/invite.ts";
import { fileKey, MAX_INCOMING_FILES } from "./receive.ts";
import { type WebBackend, WebServer } from "./webserver.ts";
import { GROUP_PREFIX, WebGroups } from "./webgroups.ts";
import { WrongPassphraseError } from "../protocol/keystore.ts";

/** Where uploads wait while they are sent (inside the data folder). */
export const OUTGOING_DIR = "outgoing";
/** Milliseconds between a change and the page hearing of the chats it touched. */
const SYNC_MS = 15;

/** The system clock, with the reconnect backoff's waits cut short by the page's Retry button. */
export class RetryClock implements Clock {
  readonly #waiting = new Set<() => void>();

  now(): number {
    return systemClock.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    // Only the connector's backoff passes a signal; other short waits are left alone.
    if (!signal) return systemClock.sleep(ms);
    const retry = new AbortController();
    const wake = () => retry.abort();
    this.#waiting.add(wake);
    signal.addEventListener("abort", wake, { once: true });
    return systemClock.sleep(ms, retry.signal).finally(() => {
      this.#waiting.delete(wake);
      signal.removeEventListener("abort", wake);
    });
  }

  /** Ends every backoff wait now. */
  retry(): void {
    for (const wake of [...this.#waiting]) wake();
  }
}

export interface WebAppOptions {
  /** --web=PORT (0: a free port). */
  port: number;
  dataDir: string;
  /** "host:port" of the relay, and the curve, for the page's header. */
  server: string;
  curve: string;
  passphraseFile?: string;
  clock: RetryClock;
}

/** Lines a page gets per chat at first, and per request for older ones. */
export const PAGE_LINES = 200;

/** A history line as the page sees it. */
interface LineView {
  seq: number;
  /** Bumps whenever the line changes (the page redraws it). */
  rev: number;
  kind: HistoryEntry["kind"];
  status: HistoryEntry["status"];
  time: number;
  text: string;
  download?: string;
  reply?: { mine: boolean; id: number; line?: number; quote?: string };
  /** Our reaction and theirs. */
  reactions?: { mine?: string; theirs?: string };
  /** Earlier versions (edits), oldest first. */
  versions?: { text: string; time: number }[];
  deleted?: true;
  /** When it disappears (ms). */
  expires?: number;
  /** One of ours that can still be edited (within 24 hours, fewer than 10 edits). */
  editable?: true;
}

type Phase =
  | { kind: "starting" }
  | { kind: "locked"; creating: boolean; id?: string; error?: string }
  | { kind: "opening" }
  | { kind: "open" };

/** The web UI of one client: the local server and the state it mirrors. */
export class WebApp implements WebBackend {
  readonly options: WebAppOptions;
  readonly server: WebServer;
  #app: App | null = null;
  #phase: Phase = { kind: "starting" };
  #unlock: ((passphrase: string) => void) | null = null;
  #askedPage = false;
  #newId: string | undefined;
  #connection: { state: ConnectionState; reason?: string; retryInSeconds?: number; at: number } = {
    state: "connecting",
    at: Date.now(),
  };
  #trust = "";
  /** The revision of each line the pages have. */
  readonly #revSent = new WeakMap<HistoryEntry, number>();
  /** The lowest line number the pages have of each chat (older lines are sent only when asked for). */
  readonly #floor = new Map<string, number>();
  readonly #downloadOf = new WeakMap<{ kind: string; text: string }, string | null>();
  readonly #summarySent = new Map<string, string>();
  #activeSent: string | null | undefined = undefined;
  /** The requests inbox as the pages last heard of it (JSON). */
  #requestsSent = "";
  readonly #downloads = new Map<string, { path: string; name: string }>();
  readonly #downloadByPath = new Map<string, string>();
  /** Files uploaded by the page, in DATA/outgoing/ until their transfer has ended. */
  #uploads: { peerId: Uint8Array; file: string; dir: string }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** The groups' part of the page (client/webgroups.ts). */
  readonly #groups: WebGroups;

  constructor(options: WebAppOptions) {
    this.options = options;
    this.#groups = new WebGroups({
      dataDir: options.dataDir,
      outgoing: OUTGOING_DIR,
      broadcast: (m) => this.server.broadcast(m),
      linkFor: (line) => this.#downloadFor(line),
    });
    this.server = new WebServer({ port: options.port, backend: this, maxUpload: MAX_FILE_BYTES });
  }

  /** The address with the token. */
  get url(): string {
    return this.server.url;
  }

  // ---- unlocking ----------------------------------------------------------------------------------------

  /** The passphrase: --passphrase-file, then SOTTO_PASSPHRASE, then the page. */
  passphrase: PassphraseSource = async (creating) => {
    if (this.options.passphraseFile !== undefined) {
      return await readPassphraseFile(this.options.passphraseFile);
    }
    const env = passphraseFromEnv();
    if (env !== undefined) return env;
    this.#askedPage = true;
    const error = this.#phase.kind === "locked" ? this.#phase.error : undefined;
    this.#setPhase({ kind: "locked", creating, id: creating ? this.#newId : undefined, error });
    const passphrase = await new Promise<string>((resolve) => (this.#unlock = resolve));
    this.#setPhase({ kind: "opening" });
    return passphrase;
  };

  /** A new identity was made (first run): the page shows its ID while asking for a passphrase. */
  newIdentity(id: string): void {
    this.#newId = id;
  }

  /** Opening the keystore failed: true if the page should be asked again (a wrong passphrase it gave). */
  retryUnlock(e: unknown): boolean {
    if (!this.#askedPage || !(e instanceof WrongPassphraseError)) {
      this.server.broadcast({ t: "failed", message: sentence(e) });
      return false;
    }
    this.#phase = { kind: "locked", creating: false, error: sentence(e) };
    return true;
  }

  #setPhase(phase: Phase): void {
    this.#phase = phase;
    for (const m of this.#phaseMessages()) this.server.broadcast(m);
  }

  #phaseMessages(): unknown[] {
    const p = this.#phase;
    if (p.kind === "locked") {
      return [{
        t: "locked",
        creating: p.creating,
        id: p.id,
        error: p.error,
        minChars: MIN_PASSPHRASE_CHARS,
      }];
    }
    if (p.kind === "open") return [this.#snapshot()];
    return [{ t: p.kind }];
  }

  /** The keystore is open: the page shows the client. */
  attach(app: App): void {
    this.#app = app;
    this.#groups.attach(app);
    // Uploads a killed client left behind (the keystore's lock is ours now, so no other client uses them).
    Deno.remove(join(this.options.dataDir, OUTGOING_DIR), { recursive: true }).catch(() => {});
    this.#connection = { state: app.status.connection, at: Date.now() };
    this.#setPhase({ kind: "open" });
  }

  /** Stops the server (pages are told) and removes what waited in the outgoing folder. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.server.stop();
    await Deno.remove(join(this.options.dataDir, OUTGOING_DIR), { recursive: true }).catch(() => {});
  }

  // ---- events and state ---------------------------------------------------------------------------------

  /** An event from the client (the app's sink feeds every view). */
  event = (e: ClientEvent): void => {
    switch (e.event) {
      case "ready":
        this.#trust = e.trust;
        this.#connection = { state: "online", at: Date.now() };
        break;
      case "connection":
        this.#connection = {
          state: e.state,
          reason: e.reason,
          retryInSeconds: e.retryInSeconds,
          at: Date.now(),
        };
        break;
    }
    if (!this.#app) return;
    if (e.event === "ready" || e.event === "connection") this.server.broadcast(this.#meMessage());
    // Lines that are gone: the pages drop them (a chat forgotten goes from the list).
    if (e.event === "expired") this.server.broadcast({ t: "removed", chat: e.chat, lines: e.lines });
    if (e.event === "cleared" && e.scope === "history") {
      this.server.broadcast({ t: "removed", chat: e.chat, all: true });
    }
    if (e.event === "forgotten") {
      this.#summarySent.delete(e.chat);
      this.server.broadcast({ t: "gone", chat: e.chat });
    }
    if ("chat" in e && typeof e.chat === "string" && e.event !== "forgotten") this.#sync(e.chat);
    if ("group" in e && typeof e.group === "string") {
      if (e.event === "group-file-sent" || e.event === "group-file-failed") {
        this.#groups.ended(e.group, e.name);
      }
      this.#groups.sync();
    }
    const forwarded = e.event === "file-received" ? { ...e, download: this.#register(e.path) } : e;
    this.server.broadcast({ t: "event", e: forwarded });
    this.#schedule();
  };

  #meMessage(): unknown {
    const app = this.#app!;
    return {
      t: "me",
      me: {
        id: formatId(app.client.identity.id),
        server: this.options.server,
        curve: this.options.curve,
        pin: app.status.pin,
        trust: this.#trust,
      },
      connection: this.#connection,
    };
  }

  #snapshot(): unknown {
    const client = this.#app!.client;
    this.#sync(); // what changed goes to the pages already there; the new one gets it all below
    return {
      ...(this.#meMessage() as object),
      t: "state",
      active: this.#groups.active() ?? (client.active ? formatId(client.active.peerId) : null),
      requests: this.#requests(),
      chats: [
        ...client.chats.map((c) => {
          const lines = c.history.slice(-PAGE_LINES);
          const id = formatId(c.peerId), lowest = lines[0]?.seq ?? c.nextSeq;
          this.#floor.set(id, Math.min(this.#floor.get(id) ?? Infinity, lowest));
          return { ...this.#summary(c), lines: lines.map((h) => this.#line(c, h)) };
        }),
        ...this.#groups.snapshot(),
      ],
      invitations: this.#groups.invitations(),
    };
  }

  #summary(chat: ChatRecord) {
    const client = this.#app!.client, id = formatId(chat.peerId);
    const last = chat.history.findLast((h) => h.kind !== "system") ?? chat.history.at(-1);
    const incoming = (accepted: boolean) =>
      chat.incoming.filter((f) => f.accepted === accepted).map((f) => ({
        file: fileKey(f.fileId),
        name: f.name,
        size: f.size,
        bytes: f.received,
      }));
    return {
      id,
      name: chatName(chat),
      nickname: chat.nickname,
      peerNickname: chat.peerNickname,
      state: chat.state,
      // The keystore's own block list: the relay's answer does not decide it.
      blocked: client.isBlocked(chat.peerId),
      online: chat.state === "open" && client.isOnline(chat),
      unread: chat.unread,
      updatedAt: chat.updatedAt,
      curve: chat.curve,
      verifiable: chat.peerIdentity !== null,
      // Files offered to us that wait for an answer; files arriving; files we send (client/transfers.ts).
      offers: incoming(false),
      receiving: incoming(true),
      sending: client.transfers.list(chat.peerId),
      last: last
        ? { kind: last.kind, text: last.deleted ? "" : last.text.slice(0, 200), time: last.time }
        : null,
      verified: chat.verified !== null && chat.warning === "none",
      warning: chat.warning,
      muted: chat.muted,
      timer: chat.timer,
      unreadFrom: client.unreadMarker(chat)?.line ?? null,
      /** The oldest line the history has: the page asks for older pages down to it. */
      oldest: chat.history[0]?.seq ?? chat.nextSeq,
    };
  }

  #line(chat: ChatRecord, h: HistoryEntry): LineView {
    const rev = revision(h);
    this.#revSent.set(h, rev);
    const view: LineView = { seq: h.seq, rev, kind: h.kind, status: h.status, time: h.time, text: h.text };
    const download = this.#downloadFor(h);
    if (download) view.download = download;
    if (h.reply) view.reply = eventRef(chat, h.reply);
    if (h.myReaction || h.peerReaction) {
      view.reactions = {};
      if (h.myReaction) view.reactions.mine = h.myReaction;
      if (h.peerReaction) view.reactions.theirs = h.peerReaction;
    }
    if (h.versions.length > 0) view.versions = h.versions.map((v) => ({ ...v }));
    if (h.deleted) view.deleted = true;
    if (h.expiresAt > 0) view.expires = h.expiresAt;
    if (editable(h, Date.now())) view.editable = true;
    return view;
  }

  /** Sends the pages what changed in one chat (or all), and the active chat if it changed. */
  #sync(only?: string): void {
    const client = this.#app?.client;
    if (!client || this.server.pages === 0) return;
    for (const chat of client.chats) {
      const id = formatId(chat.peerId);
      if (only !== undefined && id !== only) continue;
      const summary = this.#summary(chat), json = JSON.stringify(summary);
      // Only lines at or above what the pages hold: older ones are sent when a page asks for them. A chat
      // that came after the snapshot is sent whole (it is new).
      const floor = this.#floor.get(id) ?? 0;
      if (!this.#floor.has(id)) this.#floor.set(id, chat.history.at(-PAGE_LINES)?.seq ?? 0);
      const lines: LineView[] = [];
      for (let i = chat.history.length - 1; i >= 0 && chat.history[i].seq >= floor; i--) {
        const h = chat.history[i];
        if (this.#revSent.get(h) !== revision(h)) lines.push(this.#line(chat, h));
      }
      lines.reverse();
      if (json === this.#summarySent.get(id) && lines.length === 0) continue;
      this.#summarySent.set(id, json);
      this.server.broadcast({ t: "chat", chat: summary, lines });
    }
    if (only === undefined) this.#groups.sync();
    const active = this.#groups.active() ?? (client.active ? formatId(client.active.peerId) : null);
    if (active !== this.#activeSent) {
      this.#activeSent = active;
      this.server.broadcast({ t: "active", chat: active });
    }
    const requests = this.#requests(), json = JSON.stringify(requests);
    if (json !== this.#requestsSent) {
      this.#requestsSent = json;
      this.server.broadcast({ t: "requests", ...requests });
    }
  }

  /**
   * The requests inbox: whether it is on, and who waits for an answer, oldest first (the core's list, less
   * those we asked for since: that chat opens by itself). A lapsed request the page drops by its time.
   */
  #requests(): { on: boolean; asked: { id: string; curve: string; expires: number }[] } {
    const client = this.#app!.client;
    const waiting = client.asked.filter((a) => {
      const chat = client.chat(a.peerId);
      return chat === undefined || chat.state === "closed";
    });
    return {
      on: client.requestsInbox,
      asked: waiting.map((a) => ({ id: formatId(a.peerId), curve: a.curve, expires: a.expiresAt })),
    };
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#sync();
      this.#removeUploads();
    }, SYNC_MS);
  }

  // ---- downloads and uploads ----------------------------------------------------------------------------

  /** A download link for a received file's path (inside DATA/files only). */
  #register(path: string): string | undefined {
    const dir = `${this.options.dataDir}/${FILES_DIR}/`;
    const name = path.slice(dir.length);
    if (!path.startsWith(dir) || name === "" || /[/\\]/.test(name) || name.startsWith(".")) return undefined;
    let id = this.#downloadByPath.get(path);
    if (id === undefined) {
      id = bytesToHex(systemRandom(16));
      this.#downloads.set(id, { path, name });
      this.#downloadByPath.set(path, id);
    }
    return `/download/${id}`;
  }

  /** The download link of a "received …, saved as PATH (not opened)" line, if that file is ours. */
  #downloadFor(h: { kind: string; text: string }): string | undefined {
    if (h.kind !== "system" || !h.text.startsWith("received ")) return undefined;
    if (this.#downloadOf.has(h)) return this.#downloadOf.get(h) ?? undefined;
    const marker = `, saved as ${this.options.dataDir}/${FILES_DIR}/`, end = " (not opened)";
    const at = h.text.lastIndexOf(marker);
    const link = at > 0 && h.text.endsWith(end)
      ? this.#register(h.text.slice(at + ", saved as ".length, -end.length))
      : undefined;
    this.#downloadOf.set(h, link ?? null);
    return link;
  }

  download(id: string): { path: string; name: string } | null {
    return this.#downloads.get(id) ?? null;
  }

  /**
   * Sends an uploaded file to a chat as /file does (offered first; sent once the peer accepts). Returns the
   * transfer's id, by which the chat's summary lists it.
   */
  async upload(
    chatId: string,
    name: string,
    _size: number,
    body: ReadableStream<Uint8Array>,
  ): Promise<string> {
    if (chatId.startsWith(GROUP_PREFIX)) {
      try {
        return await this.#groups.upload(chatId, name, body);
      } catch (e) {
        throw new Error(sentence(e));
      } finally {
        this.#schedule();
      }
    }
    const client = this.#need().client, chat = this.#chat(chatId);
    const check = () => {
      if (!chat.session || chat.state !== "open") {
        throw new ChatError(`Wait for ${chatName(chat)}'s first message before sending a file.`);
      }
      if (client.transfers.count(chat.peerId) >= MAX_INCOMING_FILES) {
        throw new ChatError(
          `${MAX_INCOMING_FILES} files are on their way to ${chatName(chat)}; wait until one has left.`,
        );
      }
    };
    check();
    const dir = join(this.options.dataDir, OUTGOING_DIR, bytesToHex(systemRandom(8)));
    const path = join(dir, sanitizeFileName(name));
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
      await body.pipeTo(file.writable);
      // What runCommand does for /file, in one step, so the page learns the transfer's id.
      const id = await client.run(() => {
        check();
        this.#activate(chat);
        return client.transfers.start(chat.peerId, path, client.random);
      });
      this.#uploads.push({ peerId: chat.peerId, file: id, dir });
      // The pages list the transfer before the upload's answer reaches the one that sent it.
      this.#sync(formatId(chat.peerId));
      return id;
    } catch (e) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(e instanceof Error && e.message.startsWith("The upload") ? e.message : sentence(e));
    } finally {
      this.#schedule();
    }
  }

  /** Removes the uploads whose transfer has ended (sent, declined, failed or cancelled). */
  #removeUploads(): void {
    const transfers = this.#app?.client.transfers;
    if (!transfers) return;
    this.#uploads = this.#uploads.filter((u) => {
      if (transfers.list(u.peerId).some((t) => t.file === u.file)) return true;
      Deno.remove(u.dir, { recursive: true }).catch(() => {});
      return false;
    });
  }

  // ---- requests from the page ---------------------------------------------------------------------------

  hello(): unknown[] {
    return this.#phaseMessages();
  }

  #need(): App {
    if (!this.#app) throw new Error("The keystore is not open yet.");
    return this.#app;
  }

  #chat(id: unknown): ChatRecord {
    const client = this.#need().client;
    let chat: ChatRecord | undefined;
    try {
      chat = typeof id === "string" ? client.chat(parseId(id)) : undefined;
    } catch {
      chat = undefined;
    }
    if (!chat) throw new Error("There is no such chat.");
    return chat;
  }

  /** Makes the chat the active one (as the terminal's /switch does) unless it is. */
  #activate(chat: ChatRecord): void {
    const client = this.#app!.client;
    if (client.active !== chat) switchTo(client, chat);
    else client.setActive(chat);
  }

  async request(m: Record<string, unknown>): Promise<unknown> {
    try {
      const data = await this.#request(m);
      this.#sync(); // the page hears of what changed before the answer
      return data;
    } catch (e) {
      throw new Error(sentence(e));
    } finally {
      this.#schedule();
    }
  }

  async #request(m: Record<string, unknown>): Promise<unknown> {
    const str = (v: unknown): string => typeof v === "string" ? v : "";
    if (m.a === "unlock") {
      const p = this.#phase, passphrase = str(m.passphrase);
      if (p.kind !== "locked" || !this.#unlock) {
        throw new Error("The keystore is not waiting for a passphrase.");
      }
      if (p.creating && [...passphrase].length < MIN_PASSPHRASE_CHARS) {
        throw new Error(`Use at least ${MIN_PASSPHRASE_CHARS} characters; a few unrelated words are best.`);
      }
      if (passphrase === "") throw new Error("Type your passphrase.");
      const unlock = this.#unlock;
      this.#unlock = null;
      unlock(passphrase);
      return null;
    }
    const app = this.#need(), client = app.client;
    if (this.#groups.handles(m)) return await this.#groups.request(m);
    const command = async (chat: ChatRecord | null, line: string) => {
      const cmd: Command | null = parseLine(line);
      if (chat) await client.run(() => this.#activate(chat));
      if (cmd) await runCommand(client, cmd);
    };
    const peer = (v: unknown) => {
      const id = str(v).replace(/\s+/g, "");
      if (id === "") throw new CommandError("Paste the ID of the person you want to talk to.");
      return id;
    };
    const line = (chat: ChatRecord, v: unknown): number => {
      const seq = typeof v === "number" && Number.isSafeInteger(v) ? v : -1;
      if (!findLine(chat, seq)) throw new ChatError("That message is not here any more.");
      return seq;
    };
    switch (m.a) {
      case "send": {
        const chat = this.#chat(m.chat), text = str(m.text);
        // A reply is /reply N TEXT; a text never becomes a command.
        if (m.reply !== undefined && m.reply !== null) {
          return await command(chat, `/reply ${line(chat, m.reply)} ${text}`);
        }
        return await command(chat, text.startsWith("/") ? `/${text}` : text);
      }
      case "edit": {
        const chat = this.#chat(m.chat);
        return await command(chat, `/edit ${line(chat, m.line)} ${str(m.text)}`);
      }
      case "delete": {
        const chat = this.#chat(m.chat);
        return await command(chat, `/delete ${line(chat, m.line)}`);
      }
      case "react": {
        const chat = this.#chat(m.chat), emoji = str(m.emoji);
        return await command(chat, `/react ${line(chat, m.line)} ${emoji === "" ? "-" : emoji}`);
      }
      case "timer": {
        const chat = this.#chat(m.chat);
        const seconds = typeof m.seconds === "number" ? m.seconds : duration(str(m.seconds));
        return await command(chat, `/timer ${seconds === 0 ? "off" : `${seconds ?? "?"}s`}`);
      }
      case "mark": {
        const chat = this.#chat(m.chat), action = str(m.action);
        if (!["ok", "off", "accept"].includes(action)) {
          throw new ChatError("The page asked for something unknown.");
        }
        return await command(chat, `/verify ${action}`);
      }
      case "mute": {
        const chat = this.#chat(m.chat);
        return await command(chat, m.muted === true ? "/mute" : "/unmute");
      }
      case "clear": {
        const chat = this.#chat(m.chat);
        return await command(chat, "/clear history");
      }
      case "forget": {
        const chat = this.#chat(m.chat);
        return await command(null, `/forget ${formatId(chat.peerId)}`);
      }
      case "typing": {
        const chat = this.#chat(m.chat);
        return await client.run(() => client.typing(chat));
      }
      case "search": {
        const query = str(m.query).trim();
        if (query === "") throw new CommandError("Type what to search for.");
        const only = m.chat ? this.#chat(m.chat) : null;
        const { hits, total } = await client.run(() => searchLines(client, query, only));
        return {
          total,
          hits: hits.map(([chat, h]) => ({
            chat: formatId(chat.peerId),
            name: chatName(chat),
            line: h.seq,
            kind: h.kind,
            text: h.text.slice(0, 500),
            time: h.time,
          })),
        };
      }
      case "history": {
        // Older lines: those below `before` (the page's lowest), down to `from` if given, a page at most.
        const chat = this.#chat(m.chat), id = formatId(chat.peerId);
        const before = typeof m.before === "number" ? m.before : chat.nextSeq;
        const from = typeof m.from === "number" ? m.from : -Infinity;
        const older = chat.history.filter((h) => h.seq < before && h.seq >= from);
        const page = from === -Infinity ? older.slice(-PAGE_LINES) : older.slice(-10 * PAGE_LINES);
        if (page.length > 0) this.#floor.set(id, Math.min(this.#floor.get(id) ?? Infinity, page[0].seq));
        return {
          lines: page.map((h) => this.#line(chat, h)),
          more: (chat.history[0]?.seq ?? before) < (page[0]?.seq ?? before),
        };
      }
      case "open": {
        const chat = this.#chat(m.chat);
        return await client.run(() => this.#activate(chat));
      }
      case "chat": {
        // An ID, or an invitation for this relay (the same sentences as /chat for anything else).
        const id = peer(m.peer);
        await command(null, `/chat ${id} ${str(m.nickname)}`);
        return { chat: formatId(looksLikeInvitation(id) ? parseInvitation(id).id : parseId(id)) };
      }
      case "invite": {
        const { invitation, note } = await client.run(() => makeInvitation(client));
        return { invitation, note, qr: qrBits(encodeQr(invitation, { ecLevel: "L" })) };
      }
      case "rename": {
        const chat = this.#chat(m.chat);
        const cmd = parseLine(`/chat ${formatId(chat.peerId)} ${str(m.nickname)}`);
        if (cmd?.name !== "chat") return null;
        return await client.run(() => {
          chat.nickname = cmd.nickname;
          client.save();
        });
      }
      case "nick": {
        const name = str(m.name).trim();
        if (name === "") throw new CommandError("Type the name your peer should see.");
        return await command(this.#chat(m.chat), `/nick ${name}`);
      }
      case "verify": {
        const chat = this.#chat(m.chat);
        if (!chat.peerIdentity) {
          throw new ChatError(`The safety number is known once the chat with ${chatName(chat)} is open.`);
        }
        const number = safetyNumber(client.identity.publicKeys, chat.peerIdentity);
        return { number, qr: qrBits(encodeQr(number.replace(/ /g, ""), { ecLevel: "M" })) };
      }
      case "close":
        return await command(this.#chat(m.chat), "/close");
      case "block":
      case "unblock":
        return await command(null, `/${m.a} ${peer(m.peer)}`);
      case "requests":
        // The requests inbox on or off (the saved setting, as /requests on|off); accepting is "chat".
        return await command(null, m.on === true ? "/requests on" : "/requests off");
      case "ignore":
        return await command(null, `/ignore ${peer(m.peer)}`);
      case "cancel": {
        const chat = this.#chat(m.chat);
        if (!client.transfers.cancel(chat.peerId, str(m.file), "you cancelled it")) {
          throw new ChatError("That file is not on its way any more.");
        }
        return null;
      }
      case "accept":
      case "decline": {
        const chat = this.#chat(m.chat), file = str(m.file);
        const offer = client.offers.find((o) => o.chat === chat && fileKey(o.file.fileId) === file);
        if (!offer) throw new ChatError("That file no longer waits for an answer.");
        if (m.a === "accept") await client.acceptFile(offer);
        else await client.declineFile(offer);
        return null;
      }
      case "retry":
        this.options.clock.retry();
        return null;
      default:
        throw new Error("The page asked for something this client does not know.");
    }
  }
}

/** True for a line of ours the user can still edit: within 24 hours, fewer than 10 edits, not deleted. */
function editable(h: Line, now: number): boolean {
  return h.kind === "out" && !h.deleted && h.textId > 0 && now - h.time <= EDIT_WINDOW_MS &&
    h.versions.length < MAX_EDITS;
}

/** A QR code as the page draws it: its size and its modules as a string of "0" and "1", row by row. */
function qrBits(qr: QrCode): { size: number; bits: string } {
  let bits = "";
  for (const v of qr.modules) bits += v;
  return { size: qr.size, bits };
}

/** Opens the URL in the default browser; a sentence if that cannot be done. */
export async function openBrowser(url: string): Promise<string | null> {
  const os = Deno.build.os;
  const [cmd, args] = os === "darwin"
    ? ["open", [url]]
    : os === "windows"
    ? ["rundll32", ["url.dll,FileProtocolHandler", url]]
    : ["xdg-open", [url]];
  try {
    const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" }).spawn();
    const status = await child.status;
    return status.success ? null : `Could not open a browser (${cmd} failed); open the address yourself.`;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      return `Could not open a browser: allow it with --allow-run=${cmd}, or open the address yourself.`;
    }
    return `Could not open a browser (${cmd}: ${
      (e as Error).message.replace(/\.$/, "")
    }); open the address yourself.`;
  }
}

/** Input lines that never end: with --web, the end of stdin does not stop the client (Ctrl-C does). */
export async function* keepOpen(lines: AsyncIterable<string>): AsyncGenerator<string> {
  yield* lines;
  await new Promise(() => {});
}
