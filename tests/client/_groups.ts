// Clients (client/app.ts, the whole client: keystore, link, chats and groups) against a relay running in
// this process (tests/server/_helpers.ts), driven by typed lines and read through their events, for the
// group tests. Each client has its own data folder under one temporary folder; `world` stops everything.

import { join } from "node:path";
import { App } from "../../client/app.ts";
import { parseId } from "../../protocol/identity.ts";
import type { ClientEvent } from "../../client/events.ts";
import { startRelay, type TestRelay } from "../server/_helpers.ts";

export type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;

/** One running client. */
export class Member {
  readonly name: string;
  readonly dir: string;
  readonly events: ClientEvent[] = [];
  app!: App;
  id = "";
  #waiters: (() => void)[] = [];

  constructor(name: string, dir: string) {
    this.name = name;
    this.dir = dir;
  }

  async start(port: number, options: { acceptFiles?: number } = {}): Promise<this> {
    this.app = await App.start(
      {
        host: "127.0.0.1",
        port,
        curve: "P-256",
        dataDir: this.dir,
        acceptFiles: options.acceptFiles,
        // A disk with room to spare (the real check needs --allow-sys=statfs, which the test task lacks).
        freeBytes: () => Promise.resolve(2 ** 40),
      },
      (e) => {
        this.events.push(e);
        for (const wake of this.#waiters.splice(0)) wake();
      },
      () => Promise.resolve(`${this.name} passphrase`),
      () => {},
    );
    this.id = (await this.next("ready")).id;
    return this;
  }

  /** Types a line (a command or a text), as a user would. */
  async line(text: string): Promise<void> {
    await this.app.line(text);
  }

  /** The first event of `kind` (from index `from`) passing `test`, waiting up to `ms`. */
  async next<K extends ClientEvent["event"]>(
    kind: K,
    test: (e: Ev<K>) => boolean = () => true,
    from = 0,
    ms = 30_000,
  ): Promise<Ev<K>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.slice(from).find((e) => e.event === kind && test(e as Ev<K>));
      if (found) return found as Ev<K>;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${this.name}: no ${kind} event; events: ${JSON.stringify(this.events.slice(-30))}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  of<K extends ClientEvent["event"]>(kind: K): Ev<K>[] {
    return this.events.filter((e) => e.event === kind) as Ev<K>[];
  }

  /** Errors reported so far. */
  get errors(): string[] {
    return this.of("error").map((e) => e.message);
  }

  async stop(): Promise<void> {
    this.app.quitNow();
    await this.app.stop();
  }
}

/** A relay in this process and clients of it in one temporary folder; everything is stopped at the end. */
export async function world(
  fn: (w: {
    relay: TestRelay;
    root: string;
    member(name: string, options?: { acceptFiles?: number }): Promise<Member>;
  }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-groups-" });
  const relay = await startRelay();
  const members: Member[] = [];
  try {
    await fn({
      relay,
      root,
      async member(name, options = {}) {
        const m = new Member(name, join(root, name));
        members.push(m);
        return await m.start(relay.port, options);
      },
    });
  } finally {
    for (const m of members) await m.stop().catch(() => {});
    await relay.close();
    await Deno.remove(root, { recursive: true });
  }
}

/** Opens a 1:1 chat between two members (each names the other). */
export async function chat(a: Member, b: Member): Promise<void> {
  const fa = a.events.length, fb = b.events.length;
  await a.line(`/chat ${b.id} ${b.name}`);
  await a.next("chat-requested", undefined, fa);
  await b.line(`/chat ${a.id} ${a.name}`);
  await a.next("chat-open", (e) => e.chat === b.id, fa);
  await b.next("chat-open", (e) => e.chat === a.id, fb);
  // The initiator's first message gives the responder its session: texts can go both ways then.
  await waitFor(() => {
    const sa = a.app.client.chat(parseId(b.id))?.session;
    const sb = b.app.client.chat(parseId(a.id))?.session;
    return sa != null && sb != null;
  }, `a session between ${a.name} and ${b.name}`);
}

/** Polls `test` until it holds (every 20 ms, up to `ms`). */
export async function waitFor(test: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * `owner` invites each of `invitees` (a chat is opened first) to the group `name`, which must be its
 * active group; each accepts; resolves once every invitee has joined and everyone saw them added.
 */
export async function addMembers(owner: Member, name: string, invitees: Member[], others: Member[] = []) {
  for (const u of invitees) {
    if (!owner.app.client.chat(parseId(u.id))) await chat(owner, u);
    const from = u.events.length;
    await owner.line(`/switch ${name}`);
    await owner.line(`/group add ${u.name}`);
    await u.next("group-invitation", (e) => e.name === name, from);
    await u.line(`/group accept ${name}`);
    await u.next("group-joined", (e) => e.name === name, from);
  }
  for (const u of [owner, ...others]) {
    for (const i of invitees) await u.next("group-member-added", (e) => e.member === i.id);
  }
}
