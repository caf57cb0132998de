// A relay in memory for the chat tests: clients (client/chats.ts) attached through fake links, with
// mutual chat requests, durable queues delivered in order, Queued / Delivered answers and event acks,
// and keystores whose writes a test can hold back to check what waits for them; and `withWorld`, which
// sets up and tears down a relay with two users for a test.

import assert from "node:assert/strict";
import { join } from "node:path";
import { bytesToHex, equalBytes } from "../../crypto/bytes.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { decodeContents, encodeContents, type KeystoreContents } from "../../protocol/keystore.ts";
import { PrekeyStore } from "../../protocol/prekeys.ts";
import type { CurveName } from "../../protocol/suite.ts";
import type { ResultCode, ServerFrame } from "../../protocol/wire.ts";
import { ChatClient, type ChatClientOptions, type Link, type Store } from "../../client/chats.ts";
import type { Reply, Request } from "../../client/connection.ts";
import type { ClientEvent } from "../../client/events.ts";
import { IncomingFiles } from "../../client/files.ts";
import type { Clock } from "../../client/backoff.ts";

export const PIN = "P".repeat(42) + "A";

/**
 * Fresh keystore contents: a new identity with `oneTime` one-time prekeys per curve and one one-time KEM
 * prekey (a client makes 32; one keeps these tests quick, and a login with none would make them).
 */
export function newContents(oneTime = 3): KeystoreContents {
  const identity = generateIdentity();
  const prekeys = PrekeyStore.create(identity, Date.now());
  for (const c of ["P-256", "P-384", "P-521"] as const) prekeys.addOneTimePrekeys(c, oneTime);
  prekeys.addOneTimeKemPrekeys(identity, 1, Date.now());
  return {
    identity,
    prekeys,
    createdAt: Date.now(),
    pins: new Map(),
    registered: new Set([PIN]),
    chats: [],
    outbox: [],
    blocked: [],
    settings: new Map(),
  };
}

/**
 * The contents as a restart reads them: the keystore decoded from its encoding, and each chat's
 * history as the history store would load it (its lines, written whole).
 */
export function reloaded(contents: KeystoreContents): KeystoreContents {
  const back = decodeContents(encodeContents(contents));
  for (const chat of back.chats) {
    const old = contents.chats.find((c) => equalBytes(c.peerId, chat.peerId));
    chat.history = (old?.history ?? []).map((h) => ({ ...h, versions: [...h.versions] }));
  }
  return back;
}

/** A keystore in memory whose writes can be held back. */
export class FakeStore implements Store {
  readonly dataDir: string;
  readonly contents: KeystoreContents;
  writes = 0;
  #held: (() => void)[] | null = null;

  constructor(dataDir: string, contents: KeystoreContents) {
    this.dataDir = dataDir;
    this.contents = contents;
  }

  save(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.writes++;
        resolve();
      };
      if (this.#held) this.#held.push(done);
      else queueMicrotask(done);
    });
  }

  /** From now on writes wait for `release`. */
  hold(): void {
    this.#held ??= [];
  }

  /** Finishes the held writes and stops holding. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const done of held) done();
  }
}

export const clock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** One user of the fake relay: a chat client, its store, its events and what its link sent. */
export class User {
  readonly name: string;
  readonly store: FakeStore;
  readonly files: IncomingFiles;
  readonly events: ClientEvent[] = [];
  client: ChatClient;
  link: FakeLink | null = null;
  /** Also receives every event (a user interface under test). */
  show: (e: ClientEvent) => void = () => {};

  constructor(
    name: string,
    dataDir: string,
    contents: KeystoreContents,
    curve: CurveName = "P-256",
    options: Partial<ChatClientOptions> = {},
  ) {
    this.name = name;
    Deno.mkdirSync(dataDir, { recursive: true }); // as the keystore would
    this.store = new FakeStore(dataDir, contents);
    this.files = new IncomingFiles(dataDir);
    this.client = this.#newClient(curve, options);
  }

  #newClient(curve: CurveName, options: Partial<ChatClientOptions>): ChatClient {
    return new ChatClient({
      // A disk with room to spare (the real check needs --allow-sys=statfs, which the test task lacks).
      freeBytes: () => Promise.resolve(2 ** 40),
      relay: { host: "relay.test", port: 6174 },
      ...options,
      store: this.store,
      files: this.files,
      curve,
      clock,
      emit: (e) => {
        this.events.push(e);
        this.show(e);
      },
      fatal: (e) => {
        throw e;
      },
    });
  }

  get id(): Uint8Array {
    return this.store.contents.identity.id;
  }

  /** Events of one kind. */
  of<K extends ClientEvent["event"]>(kind: K): Extract<ClientEvent, { event: K }>[] {
    return this.events.filter((e) => e.event === kind) as Extract<ClientEvent, { event: K }>[];
  }
}

/** A link to the fake relay for one user. */
export class FakeLink implements Link {
  readonly pin = PIN;
  readonly welcome: Extract<ServerFrame, { type: "welcome" }>;
  readonly sent: Parameters<Link["send"]>[0][] = [];
  readonly requests: Request[] = [];
  readonly #relay: FakeRelay;
  readonly #user: User;

  constructor(relay: FakeRelay, user: User, welcome: FakeLink["welcome"]) {
    this.#relay = relay;
    this.#user = user;
    this.welcome = welcome;
  }

  send(frame: Parameters<Link["send"]>[0]): void {
    this.sent.push(frame);
    this.#relay.take(this.#user, frame);
  }

  request(req: Request): Promise<Reply> {
    this.requests.push(req);
    return Promise.resolve(this.#relay.answer(this.#user, req));
  }
}

interface Item {
  id: Uint8Array;
  frame: ServerFrame;
  from: User | null;
}

/** The relay: requests, open chats, queues. */
export class FakeRelay {
  readonly users: User[] = [];
  /** Errors thrown while handling frames (a test fails if any). */
  readonly errors: unknown[] = [];
  readonly #asked = new Set<string>();
  /** "a>b": a blocked b. */
  readonly #blocks = new Set<string>();
  readonly #open = new Set<string>();
  /** When set, every Send is refused with this reason (nothing is queued). */
  refuseSends: ResultCode | null = null;
  readonly #queues = new Map<User, Item[]>();
  readonly #sentTo = new Map<User, Set<string>>();
  #work: Promise<unknown> = Promise.resolve();

  add(user: User): User {
    this.users.push(user);
    this.#queues.set(user, []);
    return user;
  }

  /** Puts `next` in the place of `user` (the same identity, restarted), with its queue. */
  replace(user: User, next: User): User {
    this.users[this.users.indexOf(user)] = next;
    this.#queues.set(next, this.#queues.get(user)!);
    this.#queues.delete(user);
    return next;
  }

  #pair(a: Uint8Array, b: Uint8Array): string {
    return [bytesToHex(a), bytesToHex(b)].sort().join(":");
  }

  #user(id: Uint8Array): User | undefined {
    return this.users.find((u) => equalBytes(u.id, id));
  }

  /** Connects a user (a Welcome listing its open chats and requests). */
  async connect(user: User): Promise<FakeLink> {
    const chats = this.users.filter((u) => u !== user && this.#open.has(this.#pair(u.id, user.id))).map((
      u,
    ) => ({
      peerId: u.id,
      curve: "P-256" as CurveName,
      role: "initiator" as const,
      online: u.link !== null,
    }));
    const link = new FakeLink(this, user, {
      type: "welcome",
      id: user.id,
      serverTime: Date.now(),
      chats,
      requests: [],
      queued: this.#queues.get(user)!.length,
    });
    user.link = link;
    this.#sentTo.set(user, new Set());
    await user.client.attach(link);
    this.#pump(user);
    await this.settle();
    return link;
  }

  /** Disconnects a user. */
  disconnect(user: User): void {
    user.link = null;
    user.client.detach();
  }

  answer(user: User, req: Request): Reply {
    const edge = (a: Uint8Array, b: Uint8Array) => `${bytesToHex(a)}>${bytesToHex(b)}`;
    if (req.type === "block" || req.type === "unblock") {
      if (req.type === "block") this.#blocks.add(edge(user.id, req.peerId));
      else this.#blocks.delete(edge(user.id, req.peerId));
      return { code: "ok", detail: "" };
    }
    if (req.type !== "request-chat") return { code: "ok", detail: "" };
    if (this.#blocks.has(edge(user.id, req.peerId))) {
      return { code: "not-allowed", detail: "you have blocked this ID; unblock it first" };
    }
    const peer = this.#user(req.peerId);
    if (!peer) return { code: "ok", detail: "pending" }; // nobody with that ID has come yet
    const pair = this.#pair(user.id, peer.id);
    if (this.#open.has(pair)) return { code: "ok", detail: "already open" };
    if (!this.#asked.has(edge(peer.id, user.id)) || this.#blocks.has(edge(peer.id, user.id))) {
      this.#asked.add(`${bytesToHex(user.id)}>${bytesToHex(peer.id)}`);
      return { code: "ok", detail: "pending" };
    }
    this.#open.add(pair);
    // The peer asked first: it initiates, on its curve, with our bundle (one one-time prekey at most).
    const bundle = user.store.contents.prekeys.bundle(user.store.contents.identity.publicKeys);
    const one = {
      ...bundle,
      oneTimePrekeys: { "P-256": bundle.oneTimePrekeys["P-256"].slice(0, 1), "P-384": [], "P-521": [] },
    };
    const id = () => crypto.getRandomValues(new Uint8Array(16));
    const opened = { type: "chat-opened", curve: "P-256", online: true } as const;
    this.#enqueue(peer, {
      id: id(),
      from: null,
      frame: {
        ...opened,
        eventId: new Uint8Array(16),
        peerId: user.id,
        role: "initiator",
        identity: bundle.identity,
        bundle: one,
      },
    });
    this.#enqueue(user, {
      id: id(),
      from: null,
      frame: {
        ...opened,
        eventId: new Uint8Array(16),
        peerId: peer.id,
        role: "responder",
        identity: peer.store.contents.identity.publicKeys,
        bundle: null,
      },
    });
    return { code: "ok", detail: "open" };
  }

  /** A frame from a client. */
  take(user: User, frame: Parameters<Link["send"]>[0]): void {
    if (frame.type === "send" && this.refuseSends) {
      this.#tell(user, {
        type: "refused",
        requestId: 0,
        messageId: frame.messageId,
        reason: this.refuseSends,
      });
      return;
    }
    if (frame.type === "send") {
      const to = this.#user(frame.to)!;
      this.#enqueue(to, {
        id: frame.messageId,
        from: user,
        frame: {
          type: "deliver",
          from: user.id,
          messageId: frame.messageId,
          queuedAt: Date.now(),
          body: frame.body,
        },
      });
      this.#tell(user, { type: "queued", requestId: 0, messageId: frame.messageId });
      return;
    }
    const queue = this.#queues.get(user)!;
    for (const id of frame.ids) {
      const at = queue.findIndex((i) => equalBytes(i.id, id));
      if (at < 0) continue;
      const [item] = queue.splice(at, 1);
      if (item.from?.link) this.#tell(item.from, { type: "delivered", peerId: user.id, messageId: item.id });
    }
  }

  #enqueue(user: User, item: Item): void {
    if (item.frame.type === "chat-opened") item.frame = { ...item.frame, eventId: item.id };
    this.#queues.get(user)!.push(item);
    this.#pump(user);
  }

  #pump(user: User): void {
    if (!user.link) return;
    const sent = this.#sentTo.get(user)!;
    for (const item of this.#queues.get(user)!) {
      const key = bytesToHex(item.id);
      if (sent.has(key)) continue;
      sent.add(key);
      this.#tell(user, item.frame);
    }
  }

  #tell(user: User, frame: ServerFrame): void {
    const client = user.client;
    this.#work = this.#work.then(() => (user.link ? client.frame(frame) : undefined)).catch((e) => {
      this.errors.push(e);
    });
  }

  /** Frames still queued (not acknowledged) for a user. */
  queued(user: User): number {
    return this.#queues.get(user)!.length;
  }

  /** Waits until no work is left (frames handled, keystore writes done, acks sent). */
  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 5;) {
      const before = this.#work;
      await before;
      await new Promise((r) => setTimeout(r, 1));
      quiet = this.#work === before ? quiet + 1 : 0;
    }
  }
}

/**
 * Runs `fn` with a fake relay and two users, alice and bob, keeping their data in a temporary folder
 * named after `prefix`; then checks that the relay saw no errors, shuts both clients down and removes the
 * folder.
 */
export async function withWorld(
  prefix: string,
  fn: (relay: FakeRelay, alice: User, bob: User, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const relay = new FakeRelay();
  const alice = relay.add(new User("alice", join(dir, "alice"), newContents()));
  const bob = relay.add(new User("bob", join(dir, "bob"), newContents()));
  try {
    await fn(relay, alice, bob, dir);
    assert.deepEqual(relay.errors, []);
  } finally {
    for (const u of relay.users) {
      await u.client.shutdown();
      u.files.closeAll();
    }
    await Deno.remove(dir, { recursive: true });
  }
}
