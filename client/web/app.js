// The sotto web UI: a view of the client process that served it. State comes over one WebSocket (a
// snapshot, then the chats that changed and the client's events); what the user does goes back as
// requests that become the same commands the terminal runs. Everything a peer controls (texts, names,
// file names) is put into the page as text, never as markup, with control characters made visible and
// format characters (bidi marks, overrides, invisible characters) shown as escapes the way the terminal
// shows them; the server's Content-Security-Policy (Trusted Types) refuses any HTML sink.

import { showFormat } from "./format.js";
import { VirtualList } from "./vlist.js";

const $ = (id) => document.getElementById(id);

/** The page's model of the client. */
const state = {
  phase: "starting",
  me: null,
  connection: { state: "connecting", at: Date.now() },
  /** @type {Map<string, any>} chats by ID, each with `lines` (by seq) */
  chats: new Map(),
  /** The chat on screen (the client's active chat), or null. */
  selected: null,
  /** Messages that came while the tab was hidden, for the title. */
  unseen: 0,
  /** Files the page is uploading to its client (before they are offered), by key. */
  uploads: new Map(),
  /** Ids of transfers that have ended (a summary may still list them for a moment). */
  ended: new Set(),
  /** Offers being answered, and the sentence of an answer that failed, by file id. */
  answering: new Set(),
  offerErrors: new Map(),
  /** Ids of transfers this page cancelled: their end is news, not an error. */
  cancelled: new Set(),
  /** The names of files this page uploaded, by transfer id (the client names them once it has hashed them). */
  uploadNames: new Map(),
  lastRequest: 0,
  /** Invitations to groups received (client/webgroups.ts). */
  invitations: [],
  /** The message the composer answers ({chat, line}), or the one it edits, or null. */
  reply: null,
  editing: null,
  /** Peers typing: chat ID → until when (ms). */
  typing: new Map(),
  /** Chats whose older lines are being fetched. */
  paging: new Set(),
  /** The line to show once its chat is drawn ({chat, line}): a search result. */
  reveal: null,
};

// ---- text from peers ------------------------------------------------------------------------------------

// C0 controls but newline and tab, DEL, C1 controls.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Text shown as it is, with every control character visible (U+2400 pictures, C1 as �) and every format
 * character as an escape such as "<U+202E>" (format.js, the terminal's own function).
 */
function visible(text) {
  return showFormat(
    String(text).replace(CONTROL, (c) => {
      const n = c.charCodeAt(0);
      if (n < 0x20) return String.fromCharCode(0x2400 + n);
      if (n === 0x7f) return "\u2421";
      return "\ufffd";
    }),
  );
}

/** A one-line name: newlines and tabs shown too. */
function visibleName(text) {
  return visible(text).replace(/\n/g, "\u2424").replace(/\t/g, "\u2409");
}

/** The value if it is an array, else an empty one (a summary from an older or newer client). */
function array(v) {
  return Array.isArray(v) ? v : [];
}

/** An element with text content (never markup). */
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---- the socket -----------------------------------------------------------------------------------------

let socket = null;
let nextId = 1;
const pending = new Map();
let reconnectTimer = 0;
let failures = 0;

function connect() {
  socket = new WebSocket(`ws://${location.host}/ws`);
  socket.onopen = () => (failures = 0);
  socket.onmessage = (e) => {
    let m;
    try {
      m = JSON.parse(e.data);
    } catch {
      return;
    }
    receive(m);
  };
  socket.onclose = (e) => {
    for (const { reject } of pending.values()) {
      reject(new Error("The connection to your sotto client was lost."));
    }
    pending.clear();
    socket = null;
    failures++;
    const stopped = e.code === 1001 || failures > 3;
    showSplash(
      stopped
        ? "Your sotto client has stopped. Start it again, then open the address it prints."
        : "Lost the connection to your sotto client; trying again…",
    );
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, stopped ? 5000 : 1000);
  };
}

/** Sends a request; resolves with its data, rejects with an Error whose message is one sentence. */
function request(a, params = {}, quiet = false) {
  if (!quiet) state.lastRequest = Date.now();
  return new Promise((resolve, reject) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return reject(new Error("The page is not connected to your sotto client."));
    }
    const id = nextId++;
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify({ id, a, ...params }));
  });
}

function receive(m) {
  switch (m.t) {
    case "reply": {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (typeof m.error === "string") p.reject(new Error(m.error));
      else p.resolve(m.data);
      return;
    }
    case "starting":
      return showSplash("Starting…");
    case "opening":
      return showSplash("Opening your keystore…");
    case "locked":
      return showUnlock(m);
    case "failed":
      return showSplash(m.message);
    case "state":
      return applyState(m);
    case "me":
      if (state.phase !== "open") return;
      state.me = m.me;
      state.connection = m.connection;
      return renderMe();
    case "chat":
      if (state.phase !== "open") return;
      applyChat(m.chat, m.lines);
      // Files are drawn at once, so each step of a transfer (offered, accepted, progress) is seen.
      if (m.chat?.id === state.selected) renderTransfers();
      return scheduleRender();
    case "invitations":
      if (state.phase !== "open") return;
      state.invitations = array(m.list);
      return renderInvitations();
    case "active":
      if (state.phase !== "open") return;
      if (m.chat !== state.selected) select(m.chat, { tell: false });
      return;
    case "event":
      if (state.phase === "open" && m.e && typeof m.e.event === "string") onEvent(m.e);
      return;
    case "removed": {
      // Lines that are gone (disappeared, or the chat's history deleted).
      const chat = state.chats.get(m.chat);
      if (state.phase !== "open" || !chat) return;
      const gone = new Set(m.all ? chat.lines.map((l) => l.seq) : array(m.lines));
      chat.lines = chat.lines.filter((l) => !gone.has(l.seq));
      for (const seq of gone) chat.bySeq.delete(seq);
      chat.dirty = true;
      if (state.reply?.chat === m.chat && gone.has(state.reply.line)) setContext(null);
      if (state.editing?.chat === m.chat && gone.has(state.editing.line)) setContext(null);
      return scheduleRender();
    }
    case "requests":
      if (state.phase === "open") applyRequests(m);
      return;
    case "gone": {
      // A chat forgotten: it leaves the list.
      if (state.phase !== "open") return;
      state.chats.delete(m.chat);
      chatNodes.get(m.chat)?.remove();
      chatNodes.delete(m.chat);
      if (state.selected === m.chat) select(null, { tell: false });
      return scheduleRender();
    }
    default:
      // Something newer than this page: nothing to show.
      return;
  }
}

// ---- screens --------------------------------------------------------------------------------------------

function showSplash(text) {
  state.phase = "splash";
  $("splash-text").textContent = text;
  $("splash").hidden = false;
  $("unlock").hidden = true;
  $("app").hidden = true;
}

let unlockCreating = false;
let minChars = 8;

function showUnlock(m) {
  state.phase = "locked";
  unlockCreating = !!m.creating;
  minChars = m.minChars ?? 8;
  $("splash").hidden = true;
  $("app").hidden = true;
  $("unlock").hidden = false;
  $("unlock-title").textContent = unlockCreating ? "Welcome to sotto" : "Unlock sotto";
  $("unlock-intro").textContent = unlockCreating
    ? `Choose a passphrase for your new keystore: at least ${minChars} characters; a few unrelated words are best.`
    : "Type the passphrase of your keystore.";
  $("unlock-new-id").hidden = !(unlockCreating && m.id);
  $("unlock-id").textContent = m.id ?? "";
  $("again-field").hidden = !unlockCreating;
  $("passphrase").autocomplete = unlockCreating ? "new-password" : "current-password";
  $("unlock-button").textContent = unlockCreating ? "Create my keystore" : "Unlock";
  $("unlock-button").disabled = false;
  $("unlock-error").textContent = m.error ?? "";
  $("passphrase").value = "";
  $("passphrase-again").value = "";
  $("passphrase").focus();
}

$("unlock-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const p = $("passphrase").value, again = $("passphrase-again").value;
  const error = $("unlock-error");
  if (p === "") return (error.textContent = "Type your passphrase.");
  if (unlockCreating && [...p].length < minChars) {
    return (error.textContent = `Use at least ${minChars} characters; a few unrelated words are best.`);
  }
  if (unlockCreating && p !== again) return (error.textContent = "The two passphrases differ; try again.");
  error.textContent = "";
  $("unlock-button").disabled = true;
  $("unlock-button").textContent = "Opening…";
  try {
    await request("unlock", { passphrase: p });
  } catch (err) {
    error.textContent = err.message;
    $("unlock-button").disabled = false;
    $("unlock-button").textContent = unlockCreating ? "Create my keystore" : "Unlock";
  }
});

function applyState(m) {
  const first = state.phase !== "open";
  state.phase = "open";
  state.me = m.me;
  state.connection = m.connection;
  const old = state.chats;
  state.chats = new Map();
  for (const c of m.chats) {
    const kept = old.get(c.id);
    const lowest = c.lines.length > 0 ? c.lines[0].seq : Infinity;
    // Line numbers are stable: older lines this page had paged in stay, down to the oldest kept.
    const older = kept ? kept.lines.filter((l) => l.seq < lowest && l.seq >= (c.oldest ?? 0)) : [];
    const chat = { ...c, lines: older, bySeq: new Map() };
    for (const l of chat.lines) chat.bySeq.set(l.seq, l);
    state.chats.set(c.id, chat);
    applyChat(c, c.lines);
  }
  state.invitations = array(m.invitations);
  renderInvitations();
  $("splash").hidden = true;
  $("unlock").hidden = true;
  $("app").hidden = false;
  renderMe();
  applyRequests(m.requests, true);
  if (first || !state.chats.has(state.selected)) select(m.active, { tell: false });
  scheduleRender();
  performance.mark("sotto-ready");
}

function applyChat(summary, lines) {
  let chat = state.chats.get(summary.id);
  if (!chat) {
    chat = { lines: [], bySeq: new Map() };
    state.chats.set(summary.id, chat);
  }
  const { lines: _l, ...rest } = summary;
  Object.assign(chat, rest);
  // Lines below the oldest the history keeps went by retention.
  if (typeof summary.oldest === "number" && chat.lines.length > 0 && chat.lines[0].seq < summary.oldest) {
    chat.lines = chat.lines.filter((l) => l.seq >= summary.oldest);
    chat.bySeq = new Map(chat.lines.map((l) => [l.seq, l]));
  }
  let unordered = false;
  for (const line of lines ?? []) {
    const old = chat.bySeq.get(line.seq);
    if (old) Object.assign(old, line);
    else {
      if (chat.lines.length > 0 && chat.lines[chat.lines.length - 1].seq > line.seq) unordered = true;
      chat.lines.push(line);
      chat.bySeq.set(line.seq, line);
    }
  }
  if (unordered) chat.lines.sort((a, b) => a.seq - b.seq);
  chat.dirty = true;
}

// ---- events ---------------------------------------------------------------------------------------------

function chatLabel(id) {
  const chat = state.chats.get(id);
  return chat ? visibleName(chat.name) : id;
}

function onEvent(e) {
  switch (e.event) {
    case "connection":
    case "ready":
      return renderMe();
    case "message": {
      state.typing.delete(e.chat);
      if (document.hidden) {
        state.unseen++;
        notify(e);
      }
      renderTitle();
      return scheduleRender();
    }
    case "typing":
      if (e.typing) {
        state.typing.set(e.chat, Date.now() + 8000);
        setTimeout(scheduleRender, 8100);
      } else state.typing.delete(e.chat);
      return scheduleRender();
    case "identity-changed":
      return toast(
        e.reason === "keys"
          ? `${chatLabel(e.chat)}'s identity keys differ from the ones you verified: sending is held.`
          : `${chatLabel(e.chat)} has the name of a verified chat with another ID: sending is held.`,
        true,
      );
    case "timer":
      if (e.by === "peer") {
        toast(`${chatLabel(e.chat)} set disappearing messages to ${timerLabel(e.seconds)}.`);
      }
      return;
    case "file-offer":
      // The offer itself is drawn from the chat's state (renderTransfers); elsewhere it is told.
      if (e.direction === "receive") {
        if (e.chat !== state.selected) {
          toast(
            `${chatLabel(e.chat)} offers "${visibleName(e.name)}" (${size(e.size)}); answer in the chat.`,
          );
        }
        if (document.hidden) notify({ chat: e.chat, text: `offers a file: ${e.name} (${size(e.size)})` });
      }
      return renderTransfers();
    case "file-declined":
      fileEnded(e.file);
      if (e.direction === "send") toast(`${chatLabel(e.chat)} declined "${visibleName(e.name)}".`);
      else if (e.reason) {
        toast(`Declined "${visibleName(e.name)}" from ${chatLabel(e.chat)}: ${visible(e.reason)}.`);
      }
      return;
    case "file-sent":
      fileEnded(e.file);
      return toast(`Sent "${visibleName(e.name)}" to ${chatLabel(e.chat)}.`);
    case "file-received":
      fileEnded(e.file);
      toast(`Received "${visibleName(e.name)}" from ${chatLabel(e.chat)}; download it from the chat.`);
      if (document.hidden) notify({ chat: e.chat, text: `sent you a file: ${e.name}` });
      return;
    case "file-failed":
      // One notice; the chat's history says it too, and the progress bar goes.
      fileEnded(e.file);
      if (state.cancelled.delete(e.file)) return toast(`Cancelled "${visibleName(e.name)}".`);
      return toast(
        e.direction === "send"
          ? `"${visibleName(e.name)}" was not sent to ${chatLabel(e.chat)}: ${visible(e.reason)}.`
          : `"${visibleName(e.name)}" from ${chatLabel(e.chat)} was not received: ${visible(e.reason)}.`,
        true,
      );
    case "chat-open":
      if (e.chat !== state.selected) toast(`The chat with ${chatLabel(e.chat)} is open.`);
      return;
    case "chat-asked":
      return requestAsked(e);
    case "chat-refused":
      // A relay that opens a chat nobody asked for, or one closed or blocked here, is refused by the core.
      return toast(
        `The relay opened a chat with ${chatLabel(e.chat)}${REFUSED[e.reason] ?? ""}; it was refused.`,
      );
    case "refused":
      return toast(`A message to ${chatLabel(e.chat)} was refused: ${visible(e.reason)}.`, true);
    case "peer-closed":
      return toast(`${chatLabel(e.chat)} closed the chat.`);
    case "withdrawn":
      // A message of ours taken back at the relay (a delete for everyone, a lapsed one): said when it
      // made a difference the page cannot show otherwise.
      if (e.outcome === "withdrawn") toast(`Withdrawn from the relay: ${chatLabel(e.chat)} never got it.`);
      return;
    case "error":
      return toast(visible(e.message), true);
    case "group-message":
      if (document.hidden) {
        state.unseen++;
        notify({ chat: `g:${e.group}`, text: `${e.nick ?? e.from.slice(0, 14)}: ${e.text}` });
      }
      return renderTitle();
    case "group-invitation":
      return toast(
        `${visibleName(e.nick ?? e.from.slice(0, 14))} invites you to the group “${visibleName(e.name)}”.`,
      );
    case "group-created":
    case "group-joined":
      return toast(`You are in the group “${visibleName(e.name)}”.`);
    case "group-removed":
      return toast(`You were removed from “${visibleName(e.name)}”.`);
    case "group-file-offer":
      if (e.direction === "receive" && `g:${e.group}` !== state.selected) {
        toast(`A file is offered in a group: "${visibleName(e.name)}" (${size(e.size)}).`);
      }
      return renderTransfers();
    case "group-file-received":
      fileEnded(e.file);
      return toast(`Received "${visibleName(e.name)}" in a group; download it from the conversation.`);
    case "group-file-sent":
      return toast(`Sent "${visibleName(e.name)}" to the group.`);
    case "group-file-failed":
    case "group-file-declined":
      fileEnded(e.file);
      return;
    case "info":
      // Command output the terminal asked for is the terminal's; what this page just asked for is shown.
      if (Date.now() - state.lastRequest < 3000) toast(visible(e.text));
      return;
    default:
      // The rest (chat-requested, queued, delivered, presence, nickname, switched, file-accepted,
      // file-progress…) and events this page does not know yet are shown nowhere: the state that follows
      // them is.
      return;
  }
}

const REFUSED = {
  "not-asked": " that you did not ask for",
  closed: ", which you had closed",
  blocked: ", whom you blocked",
};

/** A transfer is over: its row goes at once, whatever a summary still says. */
function fileEnded(file) {
  if (typeof file !== "string") return;
  state.ended.add(file);
  state.uploadNames.delete(file);
  state.answering.delete(file);
  state.offerErrors.delete(file);
  renderTransfers();
}

// ---- notifications and the title -----------------------------------------------------------------------

function notify(e) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (state.chats.get(e.chat)?.muted) return;
  try {
    const n = new Notification(chatLabel(e.chat), { body: visible(e.text).slice(0, 160), tag: e.chat });
    n.onclick = () => {
      globalThis.focus();
      select(e.chat);
    };
  } catch {
    // some browsers allow notifications only from a service worker
  }
}

function renderTitle() {
  let unread = state.unseen;
  for (const c of state.chats.values()) unread += c.unread;
  document.title = unread > 0 ? `(${unread}) sotto` : "sotto";
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    state.unseen = 0;
    renderTitle();
  }
});

function renderNotifyButton() {
  const b = $("notify");
  b.hidden = !("Notification" in window) || Notification.permission !== "default";
}

$("notify").addEventListener("click", async () => {
  await Notification.requestPermission();
  renderNotifyButton();
});

// ---- me and the connection ------------------------------------------------------------------------------

let countdown = 0;

function renderMe() {
  if (!state.me) return;
  $("my-id").textContent = state.me.id;
  const c = state.connection, conn = $("conn");
  conn.dataset.state = c.state;
  $("conn-text").textContent = c.state === "online"
    ? "Online"
    : c.state === "offline"
    ? "Offline"
    : "Connecting…";
  conn.title = `${state.me.server} · ${state.me.curve}${state.me.pin ? ` · pin ${state.me.pin}` : ""}`;
  clearInterval(countdown);
  const banner = $("offline");
  banner.hidden = c.state !== "offline";
  if (c.state === "offline") {
    const tick = () => {
      const left = c.retryInSeconds === undefined
        ? null
        : Math.max(0, Math.ceil((c.at + c.retryInSeconds * 1000 - Date.now()) / 1000));
      $("offline-text").textContent = `Offline: ${visible(c.reason ?? "disconnected")}.` +
        (left === null ? "" : left > 0 ? ` Trying again in ${left} s.` : " Trying again…");
    };
    tick();
    countdown = setInterval(tick, 1000);
  }
  renderNotifyButton();
}

$("retry").addEventListener("click", () => request("retry").catch((e) => toast(e.message, true)));

$("copy-id").addEventListener("click", () => copy(state.me?.id ?? "", "Copied your ID."));

async function copy(text, done) {
  try {
    await navigator.clipboard.writeText(text);
    toast(done);
  } catch {
    toast("The browser did not allow copying; select the text and copy it yourself.", true);
  }
}

// ---- the chat list --------------------------------------------------------------------------------------

let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderChats();
    renderConversation();
    renderTitle();
  });
}

function hue(id) {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

function fillAvatar(node, chat) {
  const name = visibleName(chat.name).replace(/^~/, "");
  node.textContent = chat.kind === "group" ? "#" : ([...name][0] ?? "?").toUpperCase();
  node.dataset.hue = String(Math.round(hue(chat.id) / 30) % 12);
  node.classList.toggle("online", !!chat.online);
}

// Formatters are made once: making one per row costs more than drawing the row.
const TIME = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
const WEEKDAY = new Intl.DateTimeFormat([], { weekday: "short" });
const DAY_MONTH = new Intl.DateTimeFormat([], { day: "numeric", month: "short" });
const LONG_DAY = new Intl.DateTimeFormat([], { weekday: "long", day: "numeric", month: "long" });
const LONG_DAY_YEAR = new Intl.DateTimeFormat([], {
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});

function shortTime(ms) {
  const d = new Date(ms), now = new Date();
  if (d.toDateString() === now.toDateString()) return TIME.format(d);
  if (now - d < 6 * 86400e3) return WEEKDAY.format(d);
  return DAY_MONTH.format(d);
}

function chatStatus(chat) {
  if (chat.kind === "group") {
    if (chat.status === "left") return "You left this group";
    if (chat.status === "removed") return "You were removed from this group";
    if (chat.status === "creating") return "Creating the group…";
    const n = array(chat.members).length;
    return `Group · ${n} member${n === 1 ? "" : "s"}${
      chat.creator ? " · you created it" : chat.admin ? " · you are an admin" : ""
    }`;
  }
  if (chat.blocked) return "Blocked";
  if (chat.state === "closed") return "Closed";
  if (chat.state === "requested") return "Waiting for them to ask for you too";
  return chat.online ? "Online" : "Offline";
}

function sortedChats() {
  return [...state.chats.values()].sort((a, b) => b.updatedAt - a.updatedAt || a.id.localeCompare(b.id));
}

const chatNodes = new Map();

function renderChats() {
  const list = $("chats");
  const chats = sortedChats();
  $("no-chats").hidden = chats.length > 0;
  const focused = document.activeElement?.closest?.(".chat-item")?.dataset.id;
  const template = $("chat-item");
  chats.forEach((chat, i) => {
    let node = chatNodes.get(chat.id);
    if (!node) {
      node = template.content.firstElementChild.cloneNode(true);
      node.dataset.id = chat.id;
      node.querySelector("button").addEventListener("click", () => select(chat.id, { focus: true }));
      chatNodes.set(chat.id, node);
    }
    const button = node.querySelector("button");
    fillAvatar(node.querySelector(".avatar"), chat);
    const name = visibleName(chat.name);
    node.querySelector(".chat-name").textContent = name;
    node.querySelector(".chat-time").textContent = chat.last ? shortTime(chat.last.time) : "";
    const last = node.querySelector(".chat-last");
    const status = chatStatus(chat);
    const offers = array(chat.offers).filter((o) => !state.ended.has(o.file));
    const offering = offers.length === 1
      ? `Offers "${visibleName(offers[0].name)}"`
      : offers.length > 1
      ? `Offers ${offers.length} files`
      : "";
    if (offering) last.textContent = offering;
    else if (chat.state !== "open" || !chat.last) last.textContent = status;
    else {
      const preview = visibleName(chat.last.text.replace(/\s+/g, " ")).slice(0, 120);
      const from = chat.last.kind === "out"
        ? "You: "
        : chat.last.from
        ? `${visibleName(chat.last.from)}: `
        : "";
      last.textContent = from + preview;
    }
    last.classList.toggle("offering", offering !== "");
    node.dataset.state = chat.blocked ? "blocked" : chat.state;
    const badge = node.querySelector(".badge");
    badge.textContent = chat.unread > 0 ? String(chat.unread) : "";
    badge.hidden = chat.unread === 0;
    button.setAttribute(
      "aria-label",
      `${name}, ${status}${chat.unread > 0 ? `, ${chat.unread} unread` : ""}${
        offering ? `, ${offering.toLowerCase()}` : ""
      }`,
    );
    if (chat.id === state.selected) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
  if (focused && document.activeElement === document.body) {
    chatNodes.get(focused)?.querySelector("button").focus();
  }
}

function select(id, { tell = true, focus = false } = {}) {
  const changed = id !== state.selected;
  state.selected = id ?? null;
  document.body.classList.toggle(
    "showing-chat",
    !!id && (tell || document.body.classList.contains("showing-chat")),
  );
  if (tell && id) request("open", { chat: id }).catch((e) => toast(e.message, true));
  if (changed) {
    $("composer-error").textContent = "";
    closeMenu();
    closeMsgMenu();
    if (state.editing) text.value = "";
    setContext(null);
    const chat = state.chats.get(id);
    if (chat) chat.dirty = true;
    list.setItems([], true);
  }
  scheduleRender();
  if (focus) {
    // To the composer once drawn, unless the user has moved the focus meanwhile (opened the menu, say).
    const from = document.activeElement;
    requestAnimationFrame(() => {
      if (document.activeElement === from || document.activeElement === document.body) $("text").focus();
    });
  }
}

// ---- the conversation -----------------------------------------------------------------------------------

const MARKS = {
  pending: ["…", "waiting to be sent"],
  queued: ["✓", "sent"],
  delivered: ["✓✓", "delivered"],
  read: ["✓✓", "read"],
  failed: ["✗", "not sent"],
};

const TIMERS = [[604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];

/** "1 hour", "30 seconds", "off". */
function timerLabel(seconds) {
  if (!seconds) return "off";
  for (const [unit, name] of TIMERS) {
    if (seconds % unit === 0) return `${seconds / unit} ${name}${seconds / unit === 1 ? "" : "s"}`;
  }
  return `${seconds} seconds`;
}

/** The first words of a line, for a quote. */
function quoteOf(text) {
  const flat = visibleName(String(text).replace(/\s+/g, " ").trim());
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}

function dayLabel(ms) {
  const d = new Date(ms), today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return (d.getFullYear() === today.getFullYear() ? LONG_DAY : LONG_DAY_YEAR).format(d);
}

const ANSWER_HINT = /: \/accept [0-9a-f]+ or \/decline [0-9a-f]+$/;

function renderRow(item) {
  if (item.type === "unread") {
    const row = el("div", "unread-line");
    row.setAttribute("role", "separator");
    row.append(el("span", "", "New messages"));
    return row;
  }
  if (item.type === "day") {
    const row = el("div", "day");
    row.setAttribute("role", "separator");
    row.append(el("span", "", item.label));
    return row;
  }
  const line = item.line;
  if (line.kind === "system") {
    const row = el("div", "system");
    // The terminal's hint ("/accept 1a2b3c4d or /decline 1a2b3c4d"): here the offer has its buttons.
    row.append(el("span", "system-text", visible(line.text.replace(ANSWER_HINT, ""))));
    if (line.download) {
      const a = el("a", "download", "Download");
      a.href = line.download;
      a.setAttribute("download", "");
      a.setAttribute("aria-label", `Download: ${visible(line.text)}`);
      row.append(a);
    }
    return row;
  }
  const chat = state.chats.get(state.selected);
  const who = line.kind === "out" ? "you" : visibleName(chat?.name ?? "");
  const row = el("div", `msg ${line.kind}${item.grouped ? " grouped" : ""}${line.deleted ? " deleted" : ""}`);
  row.dataset.seq = String(line.seq);
  const bubble = el("div", "bubble");
  // In a group, who wrote it (as this client names them), above the first of a run of their lines.
  if (line.from && !item.grouped) bubble.append(el("span", "sender", visibleName(line.from)));
  if (line.reply) {
    const q = el("blockquote", "quote");
    const to = line.reply.mine ? "you" : visibleName(chat?.name ?? "");
    q.append(el("span", "quote-who", to));
    q.append(
      el(
        "span",
        "quote-text",
        line.reply.quote !== undefined ? quoteOf(line.reply.quote) : "a message no longer here",
      ),
    );
    q.setAttribute("aria-label", `Replying to ${to}`);
    bubble.append(q);
  }
  if (line.deleted) bubble.append(el("p", "text tombstone", "This message was deleted."));
  else bubble.append(el("p", "text", visible(line.text)));
  const reactions = [];
  if (line.reactions?.mine) reactions.push([line.reactions.mine, "you"]);
  if (line.reactions?.theirs) reactions.push([line.reactions.theirs, visibleName(chat?.name ?? "")]);
  const meta = el("span", "meta");
  if (line.expires) {
    const t = el("span", "expires", `⏱ ${TIME.format(line.expires)}`);
    t.title = `Disappears at ${TIME.format(line.expires)}`;
    t.setAttribute("aria-label", t.title);
    meta.append(t);
  }
  if (line.versions?.length) {
    const e = el("span", "edited", "edited");
    e.title = `Edited ${line.versions.length} time${line.versions.length === 1 ? "" : "s"}`;
    meta.append(e);
  }
  const time = el("time", "", TIME.format(line.time));
  time.dateTime = new Date(line.time).toISOString();
  meta.append(time);
  if (line.kind === "out" && MARKS[line.status]) {
    const [mark, label] = MARKS[line.status];
    const m = el("span", "mark", mark);
    m.dataset.status = line.status;
    m.setAttribute("aria-label", label);
    m.title = label;
    meta.append(m);
  }
  bubble.append(meta);
  if (reactions.length > 0) {
    const box = el("div", "reactions");
    for (const [emoji, by] of reactions) {
      const r = el("span", "reaction", visibleName(emoji));
      r.setAttribute("aria-label", `${by} reacted ${visibleName(emoji)}`);
      r.title = by;
      box.append(r);
    }
    bubble.append(box);
  }
  row.append(bubble);
  // Groups have no replies, reactions, edits or deletes (yet): their lines have no actions.
  if (!line.deleted && chat?.kind !== "group") {
    const actions = el("button", "icon-button msg-actions", "⋯");
    actions.type = "button";
    // Not a Tab stop (a long chat would be hundreds): ↑/↓ in the message log reach them.
    actions.tabIndex = -1;
    actions.setAttribute("aria-haspopup", "menu");
    actions.setAttribute("aria-label", `Actions for the message from ${who} at ${TIME.format(line.time)}`);
    actions.addEventListener("click", () => openMsgMenu(actions, line.seq));
    row.append(actions);
  }
  return row;
}

function estimate(item, width) {
  if (item.type === "day" || item.type === "unread") return 44;
  const text = item.line.text;
  const perLine = Math.max(16, Math.floor((Math.min(width * 0.75, 640) - 32) / 8));
  let lines = 0;
  for (const part of text.split("\n")) lines += Math.max(1, Math.ceil(part.length / perLine));
  return (item.grouped ? 4 : 10) + 34 + (lines - 1) * 21 + (item.line.from && !item.grouped ? 18 : 0);
}

const list = new VirtualList($("messages"), $("messages-inner"), renderRow, estimate);
list.onNearTop = () => loadOlder(state.selected);

/** Fetches the page of lines before the oldest this page has of a chat (down to `from`, if given). */
async function loadOlder(id, from) {
  const chat = state.chats.get(id);
  if (!chat || chat.kind === "group" || state.paging.has(id)) return;
  const lowest = chat.lines[0]?.seq;
  if (lowest === undefined || lowest <= (chat.oldest ?? 0)) return;
  state.paging.add(id);
  try {
    const data = await request("history", { chat: id, before: lowest, ...(from ? { from } : {}) }, true);
    applyChat({ id }, array(data?.lines));
    scheduleRender();
  } catch {
    // the next scroll asks again
  } finally {
    state.paging.delete(id);
  }
}

function itemsOf(chat) {
  const items = [];
  let lastDay = "", prev = null;
  for (const line of chat.lines) {
    const day = new Date(line.time).toDateString();
    if (day !== lastDay) {
      items.push({ key: `d${day}`, type: "day", label: dayLabel(line.time), sig: "" });
      lastDay = day;
      prev = null;
    }
    if (chat.unreadFrom === line.seq) {
      items.push({ key: "unread", type: "unread", sig: "" });
      prev = null;
    }
    const grouped = prev !== null && prev.kind === line.kind && line.kind !== "system" &&
      prev.from === line.from && line.time - prev.time < 5 * 60e3;
    items.push({
      key: `l${line.seq}`,
      type: "line",
      line,
      grouped,
      sig: `${line.rev ?? 0}|${line.status}|${grouped}|${line.download ?? ""}`,
    });
    prev = line;
  }
  return items;
}

function renderConversation() {
  const chat = state.chats.get(state.selected);
  $("welcome").hidden = !!chat;
  $("chat").hidden = !chat;
  if (!chat) return;
  fillAvatar($("chat-avatar"), chat);
  $("chat-name").textContent = visibleName(chat.name);
  const status = chatStatus(chat);
  const extra = chat.peerNickname && chat.nickname
    ? ` · calls themselves ~${visibleName(chat.peerNickname)}`
    : "";
  const typing = (state.typing.get(chat.id) ?? 0) > Date.now();
  $("chat-status").textContent = `${typing ? "typing… · " : ""}${status}${extra}${
    chat.muted ? " · muted" : ""
  } · ${chat.id}`;
  $("chat-verified").hidden = !chat.verified;
  const timer = $("chat-timer");
  timer.hidden = !chat.timer;
  timer.textContent = chat.timer ? `⏱ ${timerLabel(chat.timer)}` : "";
  timer.title = chat.timer ? `New messages disappear after ${timerLabel(chat.timer)}` : "";
  const warning = $("chat-warning");
  warning.hidden = !chat.warning || chat.warning === "none";
  $("chat-warning-text").textContent = chat.warning === "identity-changed"
    ? `${
      visibleName(chat.name)
    }'s identity keys differ from the ones you verified. Sending is held until you compare the safety number again.`
    : `"${
      visibleName(chat.name)
    }" is the name of a verified chat with another ID. This is not the same person unless they tell you so; sending is held until you look.`;
  $("chat").dataset.state = chat.blocked ? "blocked" : chat.state;
  const group = chat.kind === "group";
  $("verify").hidden = group;
  $("members").hidden = !group;
  $("verify").disabled = !chat.verifiable;
  const note = $("chat-note");
  note.hidden = chat.state === "open";
  note.textContent = group
    ? chatStatus(chat) + "."
    : chat.blocked
    ? "You blocked this ID: no chat with it opens here again, whatever the relay does. Unblock it from the menu."
    : chat.state === "closed"
    ? "This chat is closed. “Ask again” in the menu asks for a new one."
    : "The chat opens when they ask for yours too. What you write now is sent then.";
  const closed = chat.state === "closed";
  $("text").disabled = closed;
  $("text").placeholder = closed
    ? (group ? "You are no longer in this group" : "This chat is closed")
    : "Message";
  $("attach").disabled = chat.state !== "open";
  $("send").disabled = closed;
  if (chat.dirty) {
    chat.dirty = false;
    list.setItems(itemsOf(chat));
  }
  if (state.reveal?.chat === chat.id && list.scrollToKey(`l${state.reveal.line}`)) {
    const seq = state.reveal.line;
    state.reveal = null;
    requestAnimationFrame(() => {
      const row = document.querySelector(`#messages .msg[data-seq="${seq}"], #messages .system`);
      row?.classList.add("found");
      setTimeout(() => row?.classList.remove("found"), 2500);
    });
  }
  renderJump(chat);
  renderMenu(chat);
  renderTransfers();
  if ($("members-dialog").open) renderMembers(chat);
}

/** "New messages ↑": shown while the first unread line is above the view. */
function renderJump(chat) {
  const offset = chat.unreadFrom ? list.offsetOf("unread") : null;
  $("jump-unread").hidden = offset === null || offset >= 0;
}

// In the message log, ↑ and ↓ move between the messages' action buttons (Enter opens one); Escape goes
// back to the log.
$("messages").addEventListener("keydown", (e) => {
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown" && e.key !== "Escape") return;
  const here = document.activeElement;
  if (e.key === "Escape") {
    if (here?.classList.contains("msg-actions")) {
      e.preventDefault();
      $("messages").focus();
    }
    return;
  }
  const buttons = [...$("messages").querySelectorAll(".msg-actions")]
    .sort((a, b) => Number(a.closest(".msg").dataset.seq) - Number(b.closest(".msg").dataset.seq));
  if (buttons.length === 0) return;
  e.preventDefault();
  const at = buttons.indexOf(here);
  const next = at < 0
    ? buttons[e.key === "ArrowUp" ? buttons.length - 1 : 0]
    : buttons[Math.max(0, Math.min(buttons.length - 1, at + (e.key === "ArrowUp" ? -1 : 1)))];
  next.focus();
});

$("jump-unread").addEventListener("click", () => {
  list.scrollToKey("unread");
  $("jump-unread").hidden = true;
  $("messages").focus();
});
$("messages").addEventListener("scroll", () => {
  const chat = state.chats.get(state.selected);
  if (chat) renderJump(chat);
}, { passive: true });

// ---- composing ------------------------------------------------------------------------------------------

const text = $("text");

function autosize() {
  text.style.height = "auto";
  text.style.height = `${Math.min(text.scrollHeight, Math.round(innerHeight * 0.4))}px`;
}

let typingSent = 0;
text.addEventListener("input", () => {
  autosize();
  // The client sends "typing" only if the user opted in, and at most every 5 s; asked at most every 3 s.
  if (state.selected && text.value !== "" && !state.editing && Date.now() - typingSent > 3000) {
    typingSent = Date.now();
    request("typing", { chat: state.selected }, true).catch(() => {});
  }
});
text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("composer").requestSubmit();
  } else if (e.key === "Escape" && (state.reply || state.editing)) {
    e.preventDefault();
    e.stopPropagation();
    setContext(null);
  } else if (e.key === "ArrowUp" && text.value === "" && !state.editing) {
    // Up in an empty composer edits your last message, if it still can be.
    const chat = state.chats.get(state.selected);
    const last = chat?.lines.findLast((l) => l.kind === "out" && !l.deleted);
    if (last?.editable) {
      e.preventDefault();
      startEdit(chat, last);
    }
  }
});

/** What the composer is doing besides a new message: answering a line, editing one, or nothing. */
function setContext(context) {
  state.reply = context?.reply ?? null;
  state.editing = context?.edit ?? null;
  const box = $("composer-context");
  const target = state.reply ?? state.editing;
  box.hidden = !target;
  if (!target) {
    $("send").setAttribute("aria-label", "Send");
    return;
  }
  const chat = state.chats.get(target.chat), line = chat?.bySeq.get(target.line);
  const who = line?.kind === "out" ? "you" : visibleName(chat?.name ?? "");
  $("composer-context-text").textContent = state.reply
    ? `Replying to ${who}: ${quoteOf(line?.text ?? "")}`
    : "Editing your message (Escape cancels)";
  $("send").setAttribute("aria-label", state.reply ? "Send the reply" : "Save the edit");
}

function startEdit(chat, line) {
  setContext({ edit: { chat: chat.id, line: line.seq } });
  text.value = line.text;
  autosize();
  text.focus();
}

$("composer-context-cancel").addEventListener("click", () => {
  const editing = state.editing;
  setContext(null);
  if (editing) text.value = "";
  autosize();
  text.focus();
});

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const value = text.value, chat = state.selected;
  if (value.trim() === "" || !chat) return;
  $("composer-error").textContent = "";
  const reply = state.reply?.chat === chat ? state.reply.line : null;
  const editing = state.editing?.chat === chat ? state.editing.line : null;
  text.value = "";
  autosize();
  // The text ends the peer's "typing…" (the client sends no "stopped"): the next key may say it again at once.
  typingSent = 0;
  try {
    if (editing !== null) await request("edit", { chat, line: editing, text: value });
    else await request("send", { chat, text: value, ...(reply !== null ? { reply } : {}) });
    setContext(null);
    if (editing === null) list.toBottom();
  } catch (err) {
    if (text.value === "") text.value = value;
    autosize();
    $("composer-error").textContent = err.message;
  }
});

// ---- a message's actions: react, reply, edit, delete -----------------------------------------------------

let msgTarget = null;

function msgItems() {
  return [...$("msg-menu").querySelectorAll("button")].filter((b) => !b.hidden && !b.closest("[hidden]"));
}

function openMsgMenu(button, seq) {
  const chat = state.chats.get(state.selected), line = chat?.bySeq.get(seq);
  if (!chat || !line) return;
  msgTarget = { chat: chat.id, seq, button };
  const open = chat.state === "open" && (!chat.warning || chat.warning === "none");
  const menu = $("msg-menu");
  const isText = line.kind !== "system" && !line.deleted;
  menu.querySelector(".reaction-row").hidden = !(open && isText);
  const show = {
    unreact: open && !!line.reactions?.mine,
    reply: chat.state !== "closed" && isText,
    edit: open && !!line.editable,
    versions: !!line.versions?.length,
    delete: open && line.kind === "out" && isText,
  };
  for (const b of menu.querySelectorAll("[data-msg]")) b.hidden = !show[b.dataset.msg];
  for (const b of menu.querySelectorAll("[data-emoji]")) {
    b.setAttribute("aria-pressed", String(line.reactions?.mine === b.dataset.emoji));
  }
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  const r = button.getBoundingClientRect(), w = menu.offsetWidth, h = menu.offsetHeight;
  menu.style.left = `${Math.max(8, Math.min(innerWidth - w - 8, r.right - w))}px`;
  menu.style.top = `${r.bottom + h + 8 > innerHeight ? Math.max(8, r.top - h - 4) : r.bottom + 4}px`;
  msgItems()[0]?.focus();
}

function closeMsgMenu(focus = false) {
  if ($("msg-menu").hidden) return;
  $("msg-menu").hidden = true;
  msgTarget?.button?.setAttribute("aria-expanded", "false");
  if (focus) msgTarget?.button?.focus();
}

$("msg-menu").addEventListener("keydown", (e) => {
  const items = msgItems(), at = items.indexOf(document.activeElement);
  if (["ArrowDown", "ArrowUp", "ArrowLeft", "ArrowRight"].includes(e.key)) {
    e.preventDefault();
    const step = e.key === "ArrowDown" || e.key === "ArrowRight" ? 1 : items.length - 1;
    items[(at + step) % items.length]?.focus();
  } else if (e.key === "Home" || e.key === "End") {
    e.preventDefault();
    items[e.key === "Home" ? 0 : items.length - 1]?.focus();
  } else if (e.key === "Escape") {
    e.preventDefault();
    e.stopPropagation();
    closeMsgMenu(true);
  } else if (e.key === "Tab") closeMsgMenu();
});
document.addEventListener("click", (e) => {
  if (!e.target.closest?.("#msg-menu, .msg-actions")) closeMsgMenu();
});

$("msg-menu").addEventListener("click", async (e) => {
  const b = e.target.closest?.("button");
  const target = msgTarget, chat = state.chats.get(target?.chat), line = chat?.bySeq.get(target?.seq);
  if (!b || !chat || !line) return;
  closeMsgMenu(!b.dataset.msg || b.dataset.msg === "unreact");
  const run = (a, params) =>
    request(a, { chat: chat.id, line: line.seq, ...params }).catch((err) => toast(err.message, true));
  if (b.dataset.emoji) {
    const emoji = line.reactions?.mine === b.dataset.emoji ? "" : b.dataset.emoji;
    return await run("react", { emoji });
  }
  switch (b.dataset.msg) {
    case "unreact":
      return await run("react", { emoji: "" });
    case "reply":
      setContext({ reply: { chat: chat.id, line: line.seq } });
      return text.focus();
    case "edit":
      return startEdit(chat, line);
    case "versions":
      await ask({
        title: "Earlier versions",
        text: line.versions.map((v) => `${TIME.format(v.time)}: ${visible(v.text)}`).join("\n"),
        ok: "Done",
      });
      return;
    case "delete":
      if (
        await ask({
          title: "Delete for everyone?",
          text: `The message goes from this chat here and from ${visibleName(chat.name)}'s client; a copy ` +
            "they made is out of reach.",
          ok: "Delete",
          danger: true,
        }) !== null
      ) await run("delete");
      return;
  }
});

// ---- files ----------------------------------------------------------------------------------------------

$("attach").addEventListener("click", () => $("file-input").click());
$("file-input").addEventListener("change", () => {
  for (const file of $("file-input").files) upload(file);
  $("file-input").value = "";
});

let dragDepth = 0;
const chatSection = $("chat");
const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
chatSection.addEventListener("dragenter", (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth++;
  $("drop").hidden = false;
});
chatSection.addEventListener("dragover", (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = "copy";
});
chatSection.addEventListener("dragleave", () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    $("drop").hidden = true;
  }
});
chatSection.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  $("drop").hidden = true;
  for (const file of e.dataTransfer?.files ?? []) upload(file);
});

function upload(file) {
  const chat = state.selected;
  if (!chat) return;
  const key = `${chat}|${file.name}|${Date.now()}|${Math.random()}`;
  const xhr = new XMLHttpRequest();
  const u = { chat, name: file.name, bytes: 0, size: file.size, xhr, file: null, at: 0 };
  state.uploads.set(key, u);
  renderTransfers();
  xhr.upload.onprogress = (e) => {
    u.bytes = e.loaded;
    renderTransfers();
  };
  xhr.onload = () => {
    let body = {};
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      // not JSON: the status says enough
    }
    if (xhr.status !== 200 || typeof body.file !== "string") {
      state.uploads.delete(key);
      toast(body.error ?? `The file "${visibleName(file.name)}" could not be sent.`, true);
    } else {
      // The client lists the transfer in the chat's summary from now on; the row stays until it does.
      Object.assign(u, { xhr: null, file: body.file, at: Date.now() });
      state.uploadNames.set(body.file, file.name);
    }
    renderTransfers();
  };
  xhr.onerror = xhr.onabort = () => {
    state.uploads.delete(key);
    renderTransfers();
  };
  xhr.open("POST", `/upload?chat=${encodeURIComponent(chat)}&name=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.send(file);
}

/** The rows of the selected chat's files: offers to answer, files arriving, files on their way out. */
function transferRows(chat) {
  const rows = [];
  const ended = (t) => state.ended.has(t.file);
  const peer = visibleName(chat.name), id = chat.id;
  for (const o of array(chat.offers)) {
    // In a group, the member who offers it.
    const by = typeof o.from === "string" ? visibleName(o.from) : peer;
    if (!ended(o)) rows.push({ key: `offer|${o.file}`, kind: "offer", peer: by, id, ...o });
  }
  for (const r of array(chat.receiving)) {
    if (!ended(r)) rows.push({ key: `recv|${r.file}`, kind: "receiving", peer, id, ...r });
  }
  const listed = new Set();
  const uploads = [...state.uploads.values()].filter((u) => u.chat === chat.id);
  for (const t of array(chat.sending)) {
    listed.add(t.file);
    if (ended(t) || t.answer === "declined") continue;
    // A file still being read and hashed has no name yet: an upload's own row stands for it until the
    // upload's answer names its transfer.
    const uploaded = state.uploadNames.get(t.file);
    if (t.name === "" && uploaded === undefined && uploads.some((u) => u.file === null)) continue;
    const kind = t.name === "" ? "preparing" : t.answer === "waiting" ? "waiting" : "sending";
    rows.push({ key: `send|${t.file}`, kind, peer, id, ...t, name: t.name || uploaded || "a file" });
  }
  for (const [key, u] of state.uploads) {
    // An upload's row gives way to the transfer's once the client lists it (or it has ended).
    if (u.file && (listed.has(u.file) || state.ended.has(u.file) || Date.now() - u.at > 10_000)) {
      state.uploads.delete(key);
      continue;
    }
    if (u.chat !== chat.id) continue;
    const { name, size, bytes } = u;
    rows.push({ key: `up|${key}`, kind: "preparing", peer, id, name, size, bytes, upload: key });
  }
  return rows;
}

const transferNodes = new Map();

/** Draws the file rows, reusing each row's node so focus stays on the button it was on. */
function renderTransfers() {
  const ul = $("transfers");
  const chat = state.chats.get(state.selected);
  const rows = chat ? transferRows(chat) : [];
  const focusedKey = document.activeElement?.closest?.(".transfer")?.dataset.key;
  const keep = new Set();
  rows.forEach((row, i) => {
    let node = transferNodes.get(row.key), refocus = false;
    if (!node || node.dataset.kind !== row.kind) {
      // A row that changes kind (waiting → sending) is drawn anew; its button keeps the focus it had.
      refocus = !!node?.contains(document.activeElement);
      node?.remove();
      node = makeTransferNode(row);
      transferNodes.set(row.key, node);
    }
    fillTransferNode(node, row);
    keep.add(row.key);
    if (ul.children[i] !== node) ul.insertBefore(node, ul.children[i] ?? null);
    if (refocus) (node.querySelector("button") ?? $("text")).focus();
  });
  for (const [key, node] of transferNodes) {
    if (keep.has(key)) continue;
    node.remove();
    transferNodes.delete(key);
  }
  ul.hidden = rows.length === 0;
  // The row with the focus went (answered, sent): the focus goes to the next offer, or the composer.
  if (focusedKey && !keep.has(focusedKey) && document.activeElement === document.body) {
    (ul.querySelector(".transfer.offer button.accept") ?? $("text")).focus();
  }
}

const FILE_ICON = "M6 2h8l5 5v15H6z M14 2v5h5";

function makeTransferNode(row) {
  const li = el("li", row.kind === "offer" ? "transfer offer" : "transfer");
  li.dataset.key = row.key;
  li.dataset.kind = row.kind;
  li.dataset.chat = row.id;
  const ns = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(ns, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  icon.classList.add("file-icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", FILE_ICON);
  icon.append(path);
  const text = el("span", "transfer-text");
  text.append(el("span", "transfer-name"));
  if (row.kind !== "offer") text.append(el("progress"));
  text.append(el("span", "transfer-detail"));
  li.append(icon, text);
  if (row.kind === "offer") {
    li.setAttribute("role", "group");
    const actions = el("span", "transfer-actions");
    const decline = el("button", "subtle decline", "Decline");
    const accept = el("button", "primary accept", "Accept");
    for (const [b, a] of [[decline, "decline"], [accept, "accept"]]) {
      b.type = "button";
      b.addEventListener("click", () => answer(row.id, row.file, a));
    }
    actions.append(decline, accept);
    li.append(actions, el("p", "form-error offer-error"));
    li.lastElementChild.setAttribute("role", "alert");
  } else if (row.kind !== "receiving") {
    const cancel = el("button", "subtle cancel", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => cancelTransfer(row.id, row.key));
    li.append(cancel);
  }
  return li;
}

function fillTransferNode(li, row) {
  const name = visibleName(row.name);
  li.querySelector(".transfer-name").textContent = name;
  const of = `${size(row.bytes ?? 0)} of ${size(row.size)}`;
  const detail = {
    offer: `${row.peer} offers this file · ${size(row.size)}`,
    waiting: `Waiting for ${row.peer} to accept · ${size(row.size)}`,
    preparing: row.upload ? `Preparing · ${of}` : "Preparing",
    sending: `Sending · ${of}`,
    receiving: `Receiving · ${of}`,
  }[row.kind];
  li.querySelector(".transfer-detail").textContent = detail;
  li.dataset.file = row.file ?? "";
  if (row.kind === "offer") {
    li.setAttribute("aria-label", `${row.peer} offers the file ${name}, ${size(row.size)}`);
    // Busy buttons are marked, not disabled: a disabled button would lose the keyboard's focus.
    const busy = String(state.answering.has(row.file));
    for (const b of li.querySelectorAll("button")) b.setAttribute("aria-disabled", busy);
    li.querySelector(".accept").setAttribute("aria-label", `Accept ${name} from ${row.peer}`);
    li.querySelector(".decline").setAttribute("aria-label", `Decline ${name} from ${row.peer}`);
    li.querySelector(".offer-error").textContent = state.offerErrors.get(row.file) ?? "";
    return;
  }
  const bar = li.querySelector("progress");
  // No bar while a person decides; an indeterminate one while the client reads and hashes the file.
  bar.hidden = row.kind === "waiting";
  if (row.kind === "preparing" && !row.upload) bar.removeAttribute("value");
  else {
    bar.max = Math.max(1, row.size);
    bar.value = row.bytes ?? 0;
  }
  bar.setAttribute("aria-label", `${detail.split(" · ")[0]}: ${name}`);
  li.querySelector(".cancel")?.setAttribute(
    "aria-label",
    row.kind === "waiting" ? `Withdraw the offer of ${name}` : `Cancel sending ${name}`,
  );
}

/** Accepts or declines an offered file; a refusal (no room for it) is said on the offer. */
async function answer(chat, file, a) {
  if (state.answering.has(file)) return;
  state.answering.add(file);
  state.offerErrors.delete(file);
  renderTransfers();
  try {
    await request(a, { chat, file });
  } catch (err) {
    state.offerErrors.set(file, err.message);
  } finally {
    state.answering.delete(file);
    renderTransfers();
  }
}

/** Cancels an upload (in the browser) or a transfer (in the client: the peer is told). */
function cancelTransfer(chat, key) {
  const at = key.indexOf("|"), kind = key.slice(0, at), id = key.slice(at + 1);
  const cancel = (file) => {
    state.cancelled.add(file);
    request("cancel", { chat, file }).catch((e) => {
      state.cancelled.delete(file);
      toast(e.message, true);
    });
  };
  if (kind === "up") {
    const u = state.uploads.get(id);
    if (u?.xhr) u.xhr.abort();
    else if (u?.file) cancel(u.file);
    state.uploads.delete(id);
  } else if (kind === "send") cancel(id);
  renderTransfers();
}

/** A size for people, its number and unit kept on one line. */
function size(n) {
  if (n < 1024) return `${n}\u00a0B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}\u00a0KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)}\u00a0MiB`;
}

// ---- dialogs and the menu -------------------------------------------------------------------------------

for (const b of document.querySelectorAll("[data-close]")) {
  b.addEventListener("click", () => b.closest("dialog").close());
}

function openNewChat() {
  $("new-chat-error").textContent = "";
  $("peer-id").value = "";
  $("peer-nick").value = "";
  $("new-chat-dialog").showModal();
  $("peer-id").focus();
}

$("new-chat").addEventListener("click", openNewChat);
$("welcome-new").addEventListener("click", openNewChat);
$("new-chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const peer = $("peer-id").value.trim();
  if (peer === "") {
    return ($("new-chat-error").textContent =
      "Paste the invitation or the ID of the person you want to talk to.");
  }
  try {
    const data = await request("chat", { peer, nickname: $("peer-nick").value });
    $("new-chat-dialog").close();
    if (data?.chat) select(data.chat, { focus: true });
  } catch (err) {
    $("new-chat-error").textContent = err.message;
  }
});

/** A small dialog: a question, optionally with one text field. Resolves with the text (or "") or null. */
function ask({ title, text, label, value = "", ok, danger = false }) {
  const dialog = $("prompt-dialog");
  $("prompt-title").textContent = title;
  $("prompt-text").textContent = text ?? "";
  $("prompt-field").hidden = !label;
  $("prompt-label").textContent = label ?? "";
  $("prompt-input").value = value;
  $("prompt-error").textContent = "";
  $("prompt-ok").textContent = ok;
  $("prompt-ok").classList.toggle("danger", danger);
  return new Promise((resolve) => {
    const form = $("prompt-form");
    const submit = (e) => {
      e.preventDefault();
      cleanup();
      dialog.close();
      resolve(label ? $("prompt-input").value : "");
    };
    const closed = () => {
      cleanup();
      resolve(null);
    };
    const cleanup = () => {
      form.removeEventListener("submit", submit);
      dialog.removeEventListener("close", closed);
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("close", closed);
    dialog.showModal();
    (label ? $("prompt-input") : $("prompt-ok")).focus();
  });
}

$("verify").addEventListener("click", async () => {
  const chat = state.chats.get(state.selected);
  if (!chat) return;
  try {
    const data = await request("verify", { chat: chat.id });
    showSafety(chat, data);
  } catch (e) {
    toast(e.message, true);
  }
});

function showSafety(chat, data) {
  $("verify-intro").textContent = `Your safety number with ${visibleName(chat.name)}:`;
  const digits = $("safety-digits");
  digits.replaceChildren(...data.number.split(" ").map((g) => el("span", "", g)));
  digits.dataset.number = data.number;
  $("safety-qr").replaceChildren(qrSvg(data.qr, "The safety number as a QR code"));
  $("verify-state").textContent = chat.verified
    ? "You marked this chat as verified."
    : "If the numbers match, mark the chat as verified: you will be warned if that ever stops being true.";
  $("verify-mark").textContent = chat.verified ? "Remove the verified mark" : "Mark as verified";
  $("verify-dialog").showModal();
}

/** A QR code ({ size, bits }: its modules, row by row, "1" dark) as an SVG with a light quiet zone. */
function qrSvg({ size, bits }, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `-4 -4 ${size + 8} ${size + 8}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("shape-rendering", "crispEdges");
  const bg = document.createElementNS(ns, "rect");
  for (const [k, v] of [["x", -4], ["y", -4], ["width", size + 8], ["height", size + 8], ["fill", "#fff"]]) {
    bg.setAttribute(k, String(v));
  }
  let d = "";
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) if (bits[r * size + c] === "1") d += `M${c} ${r}h1v1h-1z`;
  }
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(bg, path);
  return svg;
}

$("invite").addEventListener("click", async () => {
  try {
    const data = await request("invite");
    $("invitation").textContent = data.invitation;
    $("invite-note").textContent = data.note ?? "";
    $("invite-note").hidden = !data.note;
    $("invite-qr").replaceChildren(qrSvg(data.qr, "Your invitation as a QR code"));
    $("invite-dialog").showModal();
  } catch (e) {
    toast(e.message, true);
  }
});
$("copy-invitation").addEventListener(
  "click",
  () => copy($("invitation").textContent, "Copied your invitation."),
);

function renderMenu(chat) {
  const group = chat.kind === "group", inGroup = group && chat.status === "active";
  if (group) {
    const show = {
      "group-members": inGroup,
      "group-rename": inGroup,
      "group-nick": inGroup,
      "group-leave": inGroup,
    };
    for (const b of $("chat-menu").querySelectorAll("[data-action]")) b.hidden = !show[b.dataset.action];
    $("menu-button").hidden = !inGroup;
    return;
  }
  $("menu-button").hidden = false;
  const show = {
    rename: true,
    nick: chat.state === "open",
    copy: true,
    reopen: chat.state === "closed" && !chat.blocked,
    close: chat.state !== "closed",
    block: !chat.blocked,
    unblock: chat.blocked,
    timer: chat.state === "open",
    mute: !chat.muted,
    unmute: !!chat.muted,
    clear: true,
    forget: chat.state === "closed",
  };
  for (const b of $("chat-menu").querySelectorAll("[data-action]")) b.hidden = !show[b.dataset.action];
}

function menuItems() {
  return [...$("chat-menu").querySelectorAll("[data-action]")].filter((b) => !b.hidden);
}

function openMenu() {
  $("chat-menu").hidden = false;
  $("menu-button").setAttribute("aria-expanded", "true");
  menuItems()[0]?.focus();
}

function closeMenu(focusButton = false) {
  if ($("chat-menu").hidden) return;
  $("chat-menu").hidden = true;
  $("menu-button").setAttribute("aria-expanded", "false");
  if (focusButton) $("menu-button").focus();
}

$("menu-button").addEventListener("click", () => ($("chat-menu").hidden ? openMenu() : closeMenu()));
$("chat-menu").addEventListener("keydown", (e) => {
  const items = menuItems(), at = items.indexOf(document.activeElement);
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    items[(at + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length]?.focus();
  } else if (e.key === "Home" || e.key === "End") {
    e.preventDefault();
    items[e.key === "Home" ? 0 : items.length - 1]?.focus();
  } else if (e.key === "Escape") {
    e.preventDefault();
    closeMenu(true);
  } else if (e.key === "Tab") closeMenu();
});
document.addEventListener("click", (e) => {
  if (!e.target.closest?.(".menu-wrap")) closeMenu();
});

$("chat-menu").addEventListener("click", async (e) => {
  const action = e.target.closest?.("[data-action]")?.dataset.action;
  const chat = state.chats.get(state.selected);
  if (!action || !chat) return;
  closeMenu(true);
  const name = visibleName(chat.name);
  const run = (a, params) => request(a, params).catch((err) => toast(err.message, true));
  switch (action) {
    case "group-members":
      return openMembers();
    case "group-rename": {
      const groupName = await ask({
        title: "Rename the group",
        text: "Every member sees the new name.",
        label: "Name",
        value: chat.name,
        ok: "Rename",
      });
      if (groupName) await run("group-rename", { chat: chat.id, name: groupName });
      return;
    }
    case "group-nick": {
      const nick = await ask({
        title: "Your name in the group",
        text: "The members see this name next to your messages, marked with ~, unless they named you.",
        label: "Your name",
        ok: "Tell them",
      });
      if (nick) await run("nick", { chat: chat.id, name: nick });
      return;
    }
    case "group-leave":
      return leaveGroup(chat);
    case "rename": {
      const nickname = await ask({
        title: "Rename",
        text: "Only you see this name.",
        label: "Name",
        value: chat.nickname,
        ok: "Rename",
      });
      if (nickname !== null) await run("rename", { chat: chat.id, nickname });
      return;
    }
    case "nick": {
      const nick = await ask({
        title: "Your name for them",
        text: `${name} will see this name next to your messages, marked with ~.`,
        label: "Your name",
        ok: "Tell them",
      });
      if (nick) await run("nick", { chat: chat.id, name: nick });
      return;
    }
    case "copy":
      return copy(chat.id, "Copied their ID.");
    case "reopen":
      return run("chat", { peer: chat.id, nickname: chat.nickname });
    case "close":
      if (
        await ask({
          title: "Close this chat?",
          text: `${name} is told, and the chat's keys are destroyed. You can ask for a new chat later.`,
          ok: "Close chat",
          danger: true,
        }) !== null
      ) await run("close", { chat: chat.id });
      return;
    case "block":
      if (
        await ask({
          title: `Block ${name}?`,
          text:
            "No chat with this ID opens again (this client refuses it, and the relay is told), and an open " +
            "chat with it closes.",
          ok: "Block",
          danger: true,
        }) !== null
      ) await run("block", { peer: chat.id });
      return;
    case "unblock":
      return run("unblock", { peer: chat.id });
    case "timer":
      $("timer-select").value = String(chat.timer ?? 0);
      $("timer-error").textContent = "";
      $("timer-dialog").showModal();
      return $("timer-select").focus();
    case "mute":
    case "unmute":
      return run("mute", { chat: chat.id, muted: action === "mute" });
    case "clear":
      if (
        await ask({
          title: "Delete this chat's history?",
          text: `Every line of the chat with ${name} goes from this computer. ${name} keeps theirs.`,
          ok: "Delete the history",
          danger: true,
        }) !== null
      ) await run("clear", { chat: chat.id });
      return;
    case "forget":
      if (
        await ask({
          title: `Forget ${name}?`,
          text: "The chat, its history and its keys are deleted here. To talk again, ask for a new chat.",
          ok: "Forget",
          danger: true,
        }) !== null
      ) await run("forget", { chat: chat.id });
      return;
  }
});

$("timer-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await request("timer", { chat: state.selected, seconds: Number($("timer-select").value) });
    $("timer-dialog").close();
  } catch (err) {
    $("timer-error").textContent = err.message;
  }
});

// ---- verification --------------------------------------------------------------------------------------

$("verify-mark").addEventListener("click", async () => {
  const chat = state.chats.get(state.selected);
  if (!chat) return;
  try {
    await request("mark", { chat: chat.id, action: chat.verified ? "off" : "ok" });
    $("verify-dialog").close();
  } catch (err) {
    toast(err.message, true);
  }
});

$("warning-compare").addEventListener("click", () => $("verify").click());
$("warning-accept").addEventListener("click", async () => {
  const chat = state.chats.get(state.selected);
  if (!chat) return;
  const ok = await ask({
    title: "Send without comparing?",
    text: "If this is not the person you verified, they read what you send. Comparing the safety number " +
      "takes a minute.",
    ok: "Send anyway",
    danger: true,
  });
  if (ok !== null) {
    request("mark", { chat: chat.id, action: "accept" }).catch((err) => toast(err.message, true));
  }
});

// ---- search --------------------------------------------------------------------------------------------

function openSearch() {
  $("search-summary").textContent = "";
  $("search-results").replaceChildren();
  $("search-dialog").showModal();
  $("search-input").select();
}

$("search-button").addEventListener("click", openSearch);
$("search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const query = $("search-input").value.trim(), all = $("search-all").checked;
  if (query === "") return ($("search-summary").textContent = "Type what to search for.");
  try {
    const data = await request("search", { query, ...(all ? {} : { chat: state.selected }) });
    const hits = array(data?.hits);
    $("search-summary").textContent = hits.length === 0
      ? "Nothing found."
      : `${data.total} found${data.total > hits.length ? `; the newest ${hits.length} are shown` : ""}.`;
    $("search-results").replaceChildren(
      ...hits.reverse().map((h) => {
        const li = el("li");
        const b = el("button", "search-hit");
        b.type = "button";
        b.append(
          el("span", "hit-where", `${visibleName(h.name)} · ${shortTime(h.time)} ${TIME.format(h.time)}`),
        );
        b.append(el("span", "hit-text", quoteOf(h.text)));
        b.addEventListener("click", async () => {
          $("search-dialog").close();
          select(h.chat, { focus: false });
          const chat = state.chats.get(h.chat);
          if (chat && !chat.bySeq.has(h.line)) await loadOlder(h.chat, h.line);
          state.reveal = { chat: h.chat, line: h.line };
          scheduleRender();
        });
        li.append(b);
        return li;
      }),
    );
  } catch (err) {
    $("search-summary").textContent = err.message;
  }
});

$("back").addEventListener("click", () => {
  document.body.classList.remove("showing-chat");
  chatNodes.get(state.selected)?.querySelector("button").focus();
});

// ---- groups ---------------------------------------------------------------------------------------------

$("new-group").addEventListener("click", async () => {
  const name = await ask({
    title: "New group",
    text: "You are its creator and first admin. Invite people you have a chat with from its Members.",
    label: "Name of the group",
    ok: "Create",
  });
  if (!name) return;
  try {
    const data = await request("group-new", { name });
    if (data?.chat) select(data.chat, { focus: true });
  } catch (err) {
    toast(err.message, true);
  }
});

/** The invitations to groups, each with Accept and Decline (declining tells nobody). */
function renderInvitations() {
  const ul = $("invitations");
  ul.replaceChildren(...state.invitations.map((v) => {
    const li = el("li", "invitation");
    li.dataset.group = v.group;
    const text = el("span", "invitation-text");
    text.append(el("strong", "", `“${visibleName(v.name)}”`));
    text.append(
      el(
        "span",
        "",
        v.accepted
          ? ` · accepted; ${visibleName(v.fromName)} adds you next`
          : ` · ${visibleName(v.fromName)} invites you (${v.members} member${v.members === 1 ? "" : "s"})`,
      ),
    );
    li.append(text);
    if (!v.accepted) {
      const decline = el("button", "subtle decline", "Decline"),
        accept = el("button", "primary accept", "Join");
      for (const [b, a] of [[decline, "group-decline"], [accept, "group-accept"]]) {
        b.type = "button";
        b.setAttribute("aria-label", `${b.textContent} the invitation to ${visibleName(v.name)}`);
        b.addEventListener(
          "click",
          () => request(a, { group: v.group }).catch((e) => toast(e.message, true)),
        );
      }
      li.append(el("span", "transfer-actions"));
      li.lastElementChild.append(decline, accept);
    }
    return li;
  }));
  ul.hidden = state.invitations.length === 0;
}

$("members").addEventListener("click", openMembers);

function openMembers() {
  const chat = state.chats.get(state.selected);
  if (!chat || chat.kind !== "group") return;
  $("members-error").textContent = "";
  renderMembers(chat);
  $("members-dialog").showModal();
}

/** The members panel: who is in, admins marked; remove and admin buttons for who may use them; invite. */
function renderMembers(chat) {
  $("members-title").textContent = `Members of ${visibleName(chat.name)}`;
  const active = chat.status === "active";
  $("member-list").replaceChildren(
    ...array(chat.members).map((m) => {
      const li = el("li", "member");
      const who = el("span", "member-text");
      who.append(el("strong", "", m.you ? "You" : visibleName(m.name)));
      const tags = [m.creator ? "creator" : m.admin ? "admin" : ""].filter(Boolean);
      who.append(el("span", "fine", ` ${m.id}${tags.length ? ` · ${tags[0]}` : ""}`));
      li.append(who);
      const act = (label, a, params) => {
        const b = el("button", "subtle", label);
        b.type = "button";
        b.setAttribute("aria-label", `${label}: ${m.you ? "you" : visibleName(m.name)}`);
        b.addEventListener("click", async () => {
          try {
            await request(a, { chat: chat.id, member: m.id, ...params });
          } catch (err) {
            $("members-error").textContent = err.message;
          }
        });
        li.append(b);
      };
      if (active && !m.you && chat.creator && !m.creator) {
        act(m.admin ? "Remove admin" : "Make admin", "group-admin", { admin: !m.admin });
      }
      if (active && !m.you && chat.admin) act("Remove", "group-remove", {});
      return li;
    }),
  );
  const invited = array(chat.invited);
  $("invited-list").hidden = invited.length === 0;
  $("invited-list").textContent = invited.length
    ? `Invited, not yet joined: ${invited.map((i) => visibleName(i.name)).join(", ")}.`
    : "";
  const select = $("add-member");
  const chosen = select.value;
  select.replaceChildren(
    ...array(chat.candidates).map((c) => {
      const o = el("option", "", `${visibleName(c.name)} (${c.id.slice(0, 9)}…)`);
      o.value = c.id;
      return o;
    }),
  );
  if (chosen) select.value = chosen;
  $("add-member-form").hidden = !active || array(chat.candidates).length === 0;
  $("leave-group").hidden = !active;
}

$("add-member-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const chat = state.chats.get(state.selected), peer = $("add-member").value;
  if (!chat || !peer) return;
  try {
    await request("group-add", { chat: chat.id, peer });
    toast("Invited; they join once they accept.");
  } catch (err) {
    $("members-error").textContent = err.message;
  }
});

$("leave-group").addEventListener("click", () => {
  const chat = state.chats.get(state.selected);
  if (chat) leaveGroup(chat);
});

async function leaveGroup(chat) {
  if (
    await ask({
      title: `Leave ${visibleName(chat.name)}?`,
      text: "You receive nothing more from it; to come back, someone must invite you again.",
      ok: "Leave group",
      danger: true,
    }) === null
  ) return;
  $("members-dialog").close();
  await request("group-leave", { chat: chat.id }).catch((err) => toast(err.message, true));
}
// ---- the requests inbox ---------------------------------------------------------------------------------
//
// Who asks to chat with us (only while the inbox is on: the saved setting, as /requests on|off). The
// backend sends {on, asked: [{id, curve, expires}]} with the snapshot and whenever it changes. Accept is
// asking back (the new-chat path), Ignore makes the relay stop announcing it, Block is /block; the asker
// is told none of it. IDs come from the client, but are still put in as text.

let requests = { on: false, asked: [] };
const requestNodes = new Map();
/** IDs this page has already announced (a reconnection lists the pending requests again). */
const announced = new Set();
/** Until when the relay may be listing what was pending when the inbox was turned on (the list shows it). */
let listingUntil = 0;

/** The inbox from the client; `snapshot`: a page (re)loaded, so those listed are not news. */
function applyRequests(m, snapshot = false) {
  if (!m || typeof m !== "object") return;
  if (m.on === true && !requests.on) listingUntil = Date.now() + 3000;
  requests = {
    on: m.on === true,
    asked: array(m.asked).filter((a) => typeof a?.id === "string" && typeof a.expires === "number"),
  };
  if (!requests.on) announced.clear();
  if (snapshot) { for (const a of requests.asked) announced.add(a.id); }
  renderRequests();
}

/** The requests that have not lapsed. */
function waitingRequests() {
  const now = Date.now();
  return requests.asked.filter((a) => a.expires > now);
}

/** "lapses in 3 days": when a request stops being pending at the relay. */
function lapses(ms) {
  const left = Math.max(0, ms - Date.now()), minutes = Math.ceil(left / 60e3);
  if (minutes < 60) return `lapses in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `lapses in ${hours} h`;
  return `lapses in ${Math.round(hours / 24)} days`;
}

function renderRequests() {
  const waiting = waitingRequests();
  $("requests-toggle").checked = requests.on;
  $("requests").hidden = !requests.on && waiting.length === 0;
  $("requests-empty").hidden = waiting.length > 0;
  const count = $("requests-count");
  count.textContent = String(waiting.length);
  count.hidden = waiting.length === 0;
  const list = $("requests-list");
  // A focused row that goes hands the focus to the next one (or the switch), for keyboard users.
  const focusedId = document.activeElement?.closest?.(".request-item")?.dataset.id;
  const ids = new Set(waiting.map((a) => a.id));
  let focusNext = null;
  for (const [id, node] of requestNodes) {
    if (ids.has(id)) continue;
    if (id === focusedId) focusNext = node.nextElementSibling ?? node.previousElementSibling;
    node.remove();
    requestNodes.delete(id);
  }
  waiting.forEach((a, i) => {
    let node = requestNodes.get(a.id);
    if (!node) {
      node = makeRequestNode(a.id);
      requestNodes.set(a.id, node);
    }
    node.querySelector(".request-meta").textContent = `${visibleName(String(a.curve))} · ${
      lapses(a.expires)
    }`;
    node.querySelector(".request-meta").title = new Date(a.expires).toLocaleString();
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
  if (focusedId && !ids.has(focusedId)) {
    (focusNext?.isConnected ? focusNext.querySelector("button") : $("requests-toggle")).focus();
  }
}

function makeRequestNode(id) {
  const li = el("li", "request-item");
  li.dataset.id = id;
  const label = `the request from ${id}`;
  li.append(el("code", "request-id", id), el("span", "request-meta"));
  const buttons = el("div", "request-buttons");
  buttons.setAttribute("role", "group");
  buttons.setAttribute("aria-label", `Answer ${label}`);
  const button = (text, className, aria, act) => {
    const b = el("button", className, text);
    b.type = "button";
    b.setAttribute("aria-label", aria);
    b.addEventListener("click", () => act(b));
    buttons.append(b);
  };
  button("Accept", "primary", `Accept ${label}: ask for a chat back`, (b) => acceptRequest(id, b));
  button("Ignore", "subtle", `Ignore ${label}`, (b) => answerRequest("ignore", id, b));
  button("Block…", "subtle danger", `Block ${id}`, (b) => blockRequest(id, b));
  li.append(buttons);
  return li;
}

async function answerRequest(a, id, b) {
  b.disabled = true;
  try {
    return await request(a, { peer: id });
  } catch (err) {
    toast(err.message, true);
    return null;
  } finally {
    b.disabled = false;
  }
}

async function acceptRequest(id, b) {
  const data = await answerRequest("chat", id, b);
  if (data?.chat) select(data.chat, { focus: true });
}

async function blockRequest(id, b) {
  const ok = await ask({
    title: `Block ${id}?`,
    text: "No chat with this ID opens, this client refuses it and the relay is told. They are not told.",
    ok: "Block",
    danger: true,
  });
  if (ok !== null) await answerRequest("block", id, b);
  else b.focus();
}

/**
 * A new request: a notice, once per ID, and not for those the relay lists just after the user turned the
 * inbox on (the list shows them).
 */
function requestAsked(e) {
  if (typeof e.chat !== "string" || announced.has(e.chat)) return;
  announced.add(e.chat);
  if (Date.now() >= listingUntil) toast(`${e.chat} asks to chat with you: see Requests.`);
}

$("requests-toggle").addEventListener("change", async (e) => {
  const on = e.target.checked;
  if (on) listingUntil = Date.now() + 3000;
  try {
    await request("requests", { on });
  } catch (err) {
    e.target.checked = requests.on;
    toast(err.message, true);
  }
});

// Lapsed requests leave the list without a message from the client.
setInterval(() => requests.asked.length > 0 && renderRequests(), 60_000);

// ---- toasts ---------------------------------------------------------------------------------------------

function toast(message, error = false) {
  const box = $("toasts");
  while (box.children.length >= 4) box.firstElementChild.remove();
  const t = el("div", `toast${error ? " error" : ""}`);
  t.setAttribute("role", error ? "alert" : "status");
  t.append(el("span", "", message));
  const close = el("button", "toast-close", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss");
  close.addEventListener("click", () => t.remove());
  t.append(close);
  box.append(t);
  setTimeout(() => t.remove(), error ? 9000 : 5000);
}

// ---- keyboard -------------------------------------------------------------------------------------------

document.addEventListener("keydown", (e) => {
  if (state.phase !== "open") return;
  if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") {
    e.preventDefault();
    if (!document.querySelector("dialog[open]")) openNewChat();
  } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
    e.preventDefault();
    const chats = sortedChats();
    if (chats.length === 0) return;
    const at = chats.findIndex((c) => c.id === state.selected);
    const next =
      chats[(at + (e.key === "ArrowDown" ? 1 : chats.length - 1) + (at < 0 ? 1 : 0)) % chats.length];
    select(next.id);
  } else if ((e.ctrlKey || e.metaKey) && e.shiftKey && e.key.toLowerCase() === "f") {
    e.preventDefault();
    if (!document.querySelector("dialog[open]")) openSearch();
  } else if (e.key === "Escape" && !document.querySelector("dialog[open]") && $("chat-menu").hidden) {
    if (document.body.classList.contains("showing-chat")) $("back").click();
  }
});

connect();
