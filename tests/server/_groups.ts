// A scripted group client for tests through a real relay: a user (identity and prekeys, tests/server/
// _helpers.ts), its connection, and its MLS groups (protocol/mls, with handshake messages as PublicMessages,
// as the relay requires). It creates groups, accepts invitations with fresh KeyPackages, commits adds and
// removes, proposes, sends, and reads its groups' logs in order (joining from Welcomes, merging its own
// commits, processing everyone else's), acknowledging each entry once handled, as a real client must.
//
//   const [a, b, c] = await GroupUser.many(relay.port, 3);
//   const g = await a.createGroup();
//   await invite(a, g, [b, c]);                 // 1:1 chats, acceptances, one commit with the Welcome
//   await a.send(g, "hi"); await b.read(g);     // → [{ kind: "application", text: "hi", … }]

import assert from "node:assert/strict";
import { bytesToHex, equalBytes, type RandomSource, systemRandom } from "../../crypto/bytes.ts";
import {
  type CommitOptions,
  createKeyPackage,
  getSuite,
  type GroupConfig,
  type KeyPackageBundle,
  keyPackageMessage,
  MlsError,
  MlsGroup,
  type Received,
  sottoSigner,
  suiteForCurve,
  type SuiteId,
} from "../../protocol/mls/mod.ts";
import type { ServerFrame } from "../../protocol/wire.ts";
import { makeUser, TestClient, type TestUser } from "./_helpers.ts";

type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;
export type Deliver = Frame<"group-deliver">;
/** The answer to a group-propose, group-commit or group-send: GroupAccepted or a Result. */
export type Answer = Frame<"group-accepted"> | Frame<"result">;

/** What reading one entry of a group's log did. */
export type Read =
  | { kind: "application"; seq: number; from: Uint8Array; text: string }
  | { kind: "joined"; seq: number; from: Uint8Array; epoch: bigint }
  | { kind: "proposal" | "commit"; seq: number; from: Uint8Array; received: Received }
  /** One of our own entries, come back in order (a pending commit of ours is merged then). */
  | { kind: "own"; seq: number }
  | { kind: "admins"; seq: number; admins: Uint8Array[] }
  /** Something MLS refused (it is acknowledged all the same). */
  | { kind: "refused"; seq: number; from: Uint8Array; error: Error };

const encoder = new TextEncoder(), decoder = new TextDecoder();

/** A sotto user with a connection to the relay and MLS groups. */
export class GroupUser {
  readonly user: TestUser;
  client: TestClient;
  readonly suite: SuiteId;
  readonly random: RandomSource;
  readonly groups = new Map<string, MlsGroup>();
  /** KeyPackages made for acceptances, until a Welcome uses one. */
  readonly bundles = new Map<string, KeyPackageBundle>();

  private constructor(user: TestUser, client: TestClient, suite: SuiteId, random: RandomSource) {
    this.user = user;
    this.client = client;
    this.suite = suite;
    this.random = random;
  }

  /** A new user (one-time prekeys included), logged in, prekeys uploaded. Suite 2 (P-256) unless told. */
  static async login(port: number, suite: SuiteId = 2, user: TestUser = makeUser(1)): Promise<GroupUser> {
    const { client } = await TestClient.login(port, user);
    await client.upload(user);
    return new GroupUser(user, client, suite, systemRandom);
  }

  /** `n` users logged in together. */
  static many(port: number, n: number, suite: SuiteId = 2): Promise<GroupUser[]> {
    return Promise.all(Array.from({ length: n }, () => GroupUser.login(port, suite)));
  }

  get id(): Uint8Array {
    return this.user.identity.id;
  }

  get hex(): string {
    return this.user.hex;
  }

  /** The MLS configuration sotto's relay needs: handshake messages as PublicMessages. */
  get config(): GroupConfig {
    return { random: this.random, handshakeWireFormat: "public" };
  }

  get signer() {
    return sottoSigner(this.user.identity, getSuite(this.suite));
  }

  /** Our MLS state of group `groupId`. */
  group(groupId: Uint8Array): MlsGroup {
    const g = this.groups.get(bytesToHex(groupId));
    if (g === undefined) {
      throw new Error(`${this.hex.slice(0, 8)} is not in group ${bytesToHex(groupId).slice(0, 8)}`);
    }
    return g;
  }

  /** Logs in again on a new connection (the old one closed first). */
  async reconnect(port: number): Promise<void> {
    await this.client.close();
    this.client = (await TestClient.login(port, this.user)).client;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  // ---- requests ---------------------------------------------------------------------------------------

  /** Creates a group (a random 32-byte ID unless given) at the relay and in MLS. */
  async createGroup(groupId: Uint8Array = this.random(32)): Promise<Uint8Array> {
    const r = await this.client.request({ type: "create-group", requestId: 0, groupId, suite: this.suite });
    assert.equal(r.code, "ok", r.detail);
    const g = MlsGroup.create({ suite: this.suite, groupId, ...this.signer }, this.config);
    this.groups.set(bytesToHex(groupId), g);
    return groupId;
  }

  /** A fresh KeyPackage (an MLSMessage) of our suite; its secrets are kept for the Welcome. */
  keyPackage(suite: SuiteId = this.suite): Uint8Array {
    const now = BigInt(Math.floor(Date.now() / 1000));
    const b = createKeyPackage({
      suite: getSuite(suite),
      ...sottoSigner(this.user.identity, getSuite(suite)),
      lifetime: { notBefore: now - 3600n, notAfter: now + 90n * 86400n },
    }, this.random);
    this.bundles.set(bytesToHex(b.ref), b);
    return keyPackageMessage(b.keyPackage);
  }

  /** Accepts `inviter`'s invitation to `groupId` with a fresh KeyPackage (or `keyPackage`). */
  acceptInvite(
    groupId: Uint8Array,
    inviter: Uint8Array,
    keyPackage = this.keyPackage(),
  ): Promise<Frame<"result">> {
    return this.client.request({ type: "accept-invite", requestId: 0, groupId, inviter, keyPackage });
  }

  /** The next InviteAccepted (acknowledged). */
  async nextInvite(groupId?: Uint8Array): Promise<Frame<"invite-accepted">> {
    const f = await this.client.next(
      "invite-accepted",
      (x) => groupId === undefined || equalBytes(x.groupId, groupId),
    );
    await this.client.send({ type: "ack", ids: [f.eventId] });
    return f;
  }

  /** Sends a frame with a fresh request id and waits for its GroupAccepted or Result. */
  async #ask(
    frame:
      | { type: "group-propose" | "group-send"; groupId: Uint8Array; message: Uint8Array }
      | { type: "group-commit"; groupId: Uint8Array; commit: Uint8Array; welcome: Uint8Array | null },
    messageId: Uint8Array = this.random(16),
  ): Promise<Answer> {
    const requestId = this.client.requestId();
    await this.client.send({ ...frame, requestId, messageId });
    const fits = (f: ServerFrame) =>
      (f.type === "group-accepted" || f.type === "result") && f.requestId === requestId;
    const [accepted, result] = [
      this.client.next("group-accepted", fits),
      this.client.next("result", fits),
    ];
    const answer = await Promise.race([accepted, result]);
    // The other waiter ends when the connection does; keep it from failing the test.
    void accepted.catch(() => {});
    void result.catch(() => {});
    return answer;
  }

  /**
   * Commits in `groupId` (by default every pending proposal, with a path): sends the commit (and its
   * Welcome), merges it if the relay accepts it, discards it if not. Returns the relay's answer.
   */
  async commit(groupId: Uint8Array, options: CommitOptions = {}): Promise<Answer> {
    const g = this.group(groupId);
    const c = g.commit(options);
    const answer = await this.#ask({
      type: "group-commit",
      groupId,
      commit: c.commit,
      welcome: c.welcome ?? null,
    });
    if (answer.type === "group-accepted") g.mergePendingCommit();
    else g.discardPendingCommit();
    return answer;
  }

  /** Sends bytes as a commit as they are (for tests of what the relay refuses). */
  sendCommitBytes(
    groupId: Uint8Array,
    commit: Uint8Array,
    welcome: Uint8Array | null = null,
  ): Promise<Answer> {
    return this.#ask({ type: "group-commit", groupId, commit, welcome });
  }

  /**
   * Proposes (the MLS proposal message `make` returns) and returns the relay's answer. A refused proposal
   * is forgotten: the group goes back to its state before it (safe for a PublicMessage proposal, which
   * uses no key of the secret tree; never do this for an application message).
   */
  async propose(groupId: Uint8Array, make: (g: MlsGroup) => Uint8Array): Promise<Answer> {
    const g = this.group(groupId);
    const before = g.serialize();
    const answer = await this.#ask({ type: "group-propose", groupId, message: make(g) });
    if (answer.type === "result") {
      this.groups.set(bytesToHex(groupId), MlsGroup.deserialize(before, this.config));
    }
    return answer;
  }

  /** Proposes our own removal (leaving the group). */
  leave(groupId: Uint8Array): Promise<Answer> {
    return this.propose(groupId, (g) => g.proposeRemove(g.ownLeaf));
  }

  /** Sends `text` as an application message; `messageId` for retries. */
  send(groupId: Uint8Array, text: string, messageId?: Uint8Array): Promise<Answer> {
    const message = this.group(groupId).encrypt(encoder.encode(text));
    return this.#ask({ type: "group-send", groupId, message }, messageId);
  }

  /** Sends bytes as an application message as they are. */
  sendBytes(groupId: Uint8Array, message: Uint8Array, messageId?: Uint8Array): Promise<Answer> {
    return this.#ask({ type: "group-send", groupId, message }, messageId);
  }

  async setAdmin(groupId: Uint8Array, member: Uint8Array, admin = true): Promise<Frame<"result">> {
    return await this.client.request({ type: "set-admin", requestId: 0, groupId, member, admin });
  }

  async info(groupId: Uint8Array): Promise<Frame<"group-state"> | Frame<"result">> {
    const requestId = this.client.requestId();
    await this.client.send({ type: "group-info", requestId, groupId });
    const fits = (f: ServerFrame) =>
      (f.type === "group-state" || f.type === "result") && f.requestId === requestId;
    const a = this.client.next("group-state", fits), b = this.client.next("result", fits);
    const answer = await Promise.race([a, b]);
    void a.catch(() => {});
    void b.catch(() => {});
    return answer;
  }

  // ---- reading ----------------------------------------------------------------------------------------

  /** The next entry of `groupId`'s log (waiting for it), not yet handled. */
  nextEntry(groupId: Uint8Array): Promise<Deliver> {
    return this.client.next("group-deliver", (f) => equalBytes(f.groupId, groupId));
  }

  /** Handles one entry as a client does (join, merge, process), then acknowledges it. */
  async handle(f: Deliver): Promise<Read> {
    const key = bytesToHex(f.groupId);
    let out: Read;
    if (f.kind === "admins") out = { kind: "admins", seq: f.seq, admins: f.admins };
    else if (f.kind === "welcome") {
      const g = this.#join(f.body);
      this.groups.set(key, g);
      out = { kind: "joined", seq: f.seq, from: f.from, epoch: g.epoch };
    } else if (equalBytes(f.from, this.id)) {
      const g = this.groups.get(key);
      // Our commit, back in the log: merged now if the answer had not come (the relay's order decides).
      if (g?.hasPendingCommit) g.process(f.body);
      out = { kind: "own", seq: f.seq };
    } else {
      const g = this.group(f.groupId);
      try {
        const r = g.process(f.body);
        if (r.kind === "application") {
          out = { kind: "application", seq: f.seq, from: f.from, text: decoder.decode(r.data) };
        } else out = { kind: r.kind, seq: f.seq, from: f.from, received: r };
      } catch (e) {
        out = { kind: "refused", seq: f.seq, from: f.from, error: e as Error };
      }
    }
    await this.client.send({ type: "ack", ids: [f.entryId] });
    return out;
  }

  /** Reads and handles the next `n` entries of `groupId` (default 1). */
  async read(groupId: Uint8Array, n = 1): Promise<Read[]> {
    const out: Read[] = [];
    for (let i = 0; i < n; i++) out.push(await this.handle(await this.nextEntry(groupId)));
    return out;
  }

  /** Reads entries of `groupId` until one with seq ≥ `seq` has been handled. */
  async readUntil(groupId: Uint8Array, seq: number): Promise<Read[]> {
    const out: Read[] = [];
    for (;;) {
      const r = await this.handle(await this.nextEntry(groupId));
      out.push(r);
      if (r.seq >= seq) return out;
    }
  }

  #join(welcome: Uint8Array): MlsGroup {
    for (const [ref, b] of this.bundles) {
      try {
        const g = MlsGroup.join({
          welcome,
          keyPackage: b,
          signatureSecretKey: this.signer.signatureSecretKey,
        }, this.config);
        this.bundles.delete(ref);
        return g;
      } catch (e) {
        // Another KeyPackage of ours (not named, or of another suite): try the next.
        if (!(e instanceof MlsError) || e.code !== "invalid-welcome") throw e;
      }
    }
    throw new Error("no KeyPackage of ours is named in the Welcome");
  }
}

/** Opens a 1:1 chat between two logged-in users (both must have uploaded prekeys). */
export async function chat(a: GroupUser, b: GroupUser): Promise<void> {
  const ra = await a.client.request({ type: "request-chat", requestId: 0, peerId: b.id, curve: "P-256" });
  assert.equal(ra.code, "ok", ra.detail);
  const rb = await b.client.request({ type: "request-chat", requestId: 0, peerId: a.id, curve: "P-256" });
  assert.equal(rb.code, "ok", rb.detail);
  for (const [x, y] of [[a, b], [b, a]]) {
    const opened = await x.client.next("chat-opened", (f) => equalBytes(f.peerId, y.id));
    await x.client.send({ type: "ack", ids: [opened.eventId] });
  }
}

/**
 * `inviter` adds `invitees` to `groupId` the way sotto does it: a 1:1 chat with each (unless `chats` is
 * false), each accepts with a KeyPackage, the inviter receives them and commits all the Adds at once with
 * their Welcome; then every member (inviter included) reads the log up to that commit and the invitees
 * join. Returns the commit's answer (GroupAccepted).
 */
export async function invite(
  inviter: GroupUser,
  groupId: Uint8Array,
  invitees: GroupUser[],
  members: GroupUser[] = [],
  chats = true,
): Promise<Frame<"group-accepted">> {
  if (chats) { for (const u of invitees) await chat(inviter, u); }
  for (const u of invitees) {
    const r = await u.acceptInvite(groupId, inviter.id);
    assert.equal(r.code, "ok", r.detail);
  }
  const keyPackages: Uint8Array[] = [];
  for (const _ of invitees) keyPackages.push((await inviter.nextInvite(groupId)).keyPackage);
  const answer = await inviter.commit(groupId, { add: keyPackages });
  assert.equal(
    answer.type,
    "group-accepted",
    answer.type === "result" ? `${answer.code}: ${answer.detail}` : "",
  );
  const accepted = answer as Frame<"group-accepted">;
  for (const u of [inviter, ...members, ...invitees]) await u.readUntil(groupId, accepted.seq);
  return accepted;
}

/** A group of `n` members (the first creates it and invites the rest), everyone caught up. */
export async function makeGroup(port: number, n: number, suite: SuiteId = 2) {
  const users = await GroupUser.many(port, n, suite);
  const groupId = await users[0].createGroup();
  if (n > 1) await invite(users[0], groupId, users.slice(1));
  return { users, groupId };
}

/** Asserts that every listed member is at the same epoch with the same epoch authenticator. */
export function assertInSync(groupId: Uint8Array, users: GroupUser[]): void {
  const first = users[0].group(groupId);
  for (const u of users.slice(1)) {
    const g = u.group(groupId);
    assert.equal(g.epoch, first.epoch, "epoch");
    assert.deepEqual(g.epochAuthenticator, first.epochAuthenticator, "epoch authenticator");
  }
}

export { suiteForCurve };
