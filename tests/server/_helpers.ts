// Shared pieces of the relay tests: a relay started in-process on 127.0.0.1 (ephemeral port, temporary
// data folder, a clock the test can move), and a test client — TLS 1.3 from protocol/tls13, wire frames
// from protocol/wire.ts, an identity and prekeys from protocol/ — that logs in and exchanges frames.

import assert from "node:assert/strict";
import { bytesToHex, type RandomSource, systemRandom } from "../../crypto/bytes.ts";
import { formatId, generateIdentity, type Identity } from "../../protocol/identity.ts";
import { type PrekeyBundle, PrekeyStore } from "../../protocol/prekeys.ts";
import { CURVES } from "../../protocol/suite.ts";
import { TlsConnection } from "../../protocol/tls13/connection.ts";
import { spkiPin } from "../../protocol/tls13/x509.ts";
import {
  type ClientFrame,
  decodeServerFrame,
  encodeFrame,
  EXPORTER_BYTES,
  EXPORTER_LABEL,
  FrameSplitter,
  type ServerFrame,
  signLogin,
  WIRE_VERSION,
} from "../../protocol/wire.ts";
import { type App, type AppLimits, startApp } from "../../server/app.ts";
import { type LogFormat, OperatorLog } from "../../server/oplog.ts";

/** How long a test waits for a frame before failing (generous: the CI machine may be loaded). */
export const WAIT_MS = 20_000;

/** A relay running in this process. */
export interface TestRelay {
  app: App;
  dir: string;
  port: number;
  /** Moves the relay's wall clock forward. */
  advance(ms: number): void;
  /** Failures the relay logged. */
  logs: string[];
  /** The operator log's lines (server/oplog.ts): start, counts, shutdown. */
  lines: string[];
  /** Shuts the relay down (`reason` goes to the operator log). */
  close(reason?: string): Promise<void>;
}

/**
 * Limits the tests relax unless they test them: every test client comes from 127.0.0.1 and registers a
 * new identity, which the production limits per source would slow down; and the clients run in the
 * relay's own thread, so with 200 of them a ClientHello can take longer than 3 s to be sent
 * (tests/server/admission_test.ts and work_test.ts run with the production admission: DEFAULT_ADMISSION).
 */
export const TEST_LIMITS: Partial<AppLimits> = {
  // Generous deadlines: 200 clients in the relay's own process on a loaded host can take longer than the
  // production 10 s to finish their handshakes and logins (tests of the deadlines set their own).
  helloTimeoutMs: 30_000,
  handshakeTimeoutMs: 60_000,
  loginTimeoutMs: 60_000,
  perSourceConnections: 100_000,
  perSourceUnauthenticated: 10_000,
  perSourceRate: 100_000,
  perSourceBurst: 100_000,
  handshakesPerSecond: 100_000,
  handshakeBurst: 100_000,
  registrationBurstPerSource: 100_000,
  registrationBurst: 100_000,
};

/**
 * Starts a relay on 127.0.0.1 with an ephemeral port, a temporary data folder and a movable clock; its
 * limits are the defaults, then TEST_LIMITS, then `limits`.
 */
export async function startRelay(
  limits: Partial<AppLimits> = {},
  options: {
    dir?: string;
    onFrame?: (frame: ClientFrame) => void;
    logFormat?: LogFormat;
    statsIntervalMs?: number;
  } = {},
): Promise<TestRelay> {
  const dir = options.dir;
  const folder = dir ?? await Deno.makeTempDir({ prefix: "sotto-relay-" });
  let offset = 0;
  const logs: string[] = [], lines: string[] = [];
  const app = await startApp({
    host: "127.0.0.1",
    port: 0,
    dataDir: folder,
    limits: { ...TEST_LIMITS, ...limits },
    now: () => Date.now() + offset,
    log: (m) => logs.push(m),
    onFrame: options.onFrame,
    operatorLog: new OperatorLog({ write: (line) => lines.push(line), format: options.logFormat }),
    statsIntervalMs: options.statsIntervalMs,
  });
  return {
    app,
    dir: folder,
    port: app.addr.port,
    advance: (ms) => void (offset += ms),
    logs,
    lines,
    async close(reason?: string) {
      await app.close(reason);
      if (dir === undefined) await Deno.remove(folder, { recursive: true });
    },
  };
}

/**
 * Asserts that no operator log line holds an ID (raw hex or formatted), a message id, an address or a
 * port other than the relay's own: every field is a count, a word or a time.
 */
export function assertNoIdsOrAddresses(lines: readonly string[], ids: readonly Uint8Array[] = []): void {
  for (const line of lines) {
    assert.doesNotMatch(line, /[0-9a-f]{16,}/i, `a hex string in: ${line}`);
    assert.doesNotMatch(line, /\b(?:\d{1,3}\.){3}\d{1,3}\b/, `an IPv4 address in: ${line}`);
    assert.doesNotMatch(line, /::|localhost/i, `an address in: ${line}`);
    for (const id of ids) {
      assert.ok(!line.includes(bytesToHex(id)), `an ID in: ${line}`);
      assert.ok(
        !line.includes(formatId(id)) && !line.includes(formatId(id).slice(0, 9)),
        `an ID in: ${line}`,
      );
    }
  }
}

/** A user: an identity and its prekeys (a signed prekey on every curve and `oneTime` one-time ones each). */
export interface TestUser {
  identity: Identity;
  prekeys: PrekeyStore;
  hex: string;
}

/** A new user with `oneTime` one-time prekeys per curve. */
export function makeUser(oneTime = 5, random: RandomSource = systemRandom): TestUser {
  const identity = generateIdentity(random);
  const prekeys = PrekeyStore.create(identity, Date.now(), random);
  for (const c of CURVES) prekeys.addOneTimePrekeys(c, oneTime, random);
  return { identity, prekeys, hex: bytesToHex(identity.id) };
}

/** The bundle a user uploads. */
export function bundleOf(user: TestUser): PrekeyBundle {
  return user.prekeys.bundle(user.identity.publicKeys);
}

type Waiter = { match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void };

/** The Login answering a Challenge's `nonce` on `conn`: `user`'s signature bound to the TLS exporter. */
export function loginFrame(conn: TlsConnection, user: TestUser, nonce: Uint8Array): ClientFrame {
  const exporter = conn.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), EXPORTER_BYTES);
  return {
    type: "login",
    version: WIRE_VERSION,
    id: user.identity.id,
    identity: user.identity.publicKeys,
    signature: signLogin(user.identity, nonce, exporter),
  };
}

/** A connection to the relay speaking wire frames. */
export class TestClient {
  readonly conn: TlsConnection;
  readonly pin: string;
  /** Frames received and not yet taken by `next`. */
  readonly inbox: ServerFrame[] = [];
  /** Resolves when the relay closes the connection (or it breaks). */
  readonly done: Promise<void>;
  /** True once the read loop has ended. */
  ended = false;
  #waiters: Waiter[] = [];
  #writes: Promise<void> = Promise.resolve();
  #nextRequest = 1;
  #reading: boolean;

  private constructor(conn: TlsConnection, pin: string, read: boolean) {
    this.conn = conn;
    this.pin = pin;
    this.#reading = read;
    this.done = read ? this.#readLoop() : Promise.resolve();
  }

  /** Connects (TLS 1.3) and starts reading frames, unless `read` is false (a client that never reads). */
  static async connect(port: number, read = true, groups = [0x0017]): Promise<TestClient> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    tcp.setNoDelay(true);
    let pin = "";
    const conn = await TlsConnection.connect(tcp, {
      verifyPeer: (_cert, spki) => void (pin = spkiPin(spki)),
      // P-256 key exchange (by default) keeps 200-client tests fast; the certificate is P-521 either way.
      groups,
      keyShareGroups: groups.slice(0, 1),
    });
    return new TestClient(conn, pin, read);
  }

  /** Connects and logs in as `user`; returns the client and the Welcome frame. */
  static async login(
    port: number,
    user: TestUser,
    groups?: number[],
  ): Promise<{ client: TestClient; welcome: Extract<ServerFrame, { type: "welcome" }> }> {
    const client = await TestClient.connect(port, true, groups);
    const welcome = await client.login(user);
    return { client, welcome };
  }

  async #readLoop(): Promise<void> {
    const splitter = new FrameSplitter();
    try {
      for (;;) {
        const chunk = await this.conn.readChunk();
        if (chunk === null) break;
        for (const body of splitter.push(chunk)) this.#deliver(decodeServerFrame(body));
      }
    } catch {
      // the relay closed the connection without close_notify, or sent something bad: the test sees `ended`
    } finally {
      this.ended = true;
      await this.conn.close();
      for (const w of this.#waiters) {
        w.resolve({ type: "error", code: "internal", message: "connection ended" });
      }
      this.#waiters = [];
    }
  }

  #deliver(f: ServerFrame): void {
    const i = this.#waiters.findIndex((w) => w.match(f));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w.resolve(f);
    } else {
      this.inbox.push(f);
    }
  }

  /** Sends a frame. */
  async send(frame: ClientFrame): Promise<void> {
    await this.sendRaw(encodeFrame(frame));
  }

  /**
   * Sends raw bytes inside TLS. Writes are chained: TlsConnection.write interleaves concurrent calls
   * larger than its 64 KiB step.
   */
  sendRaw(bytes: Uint8Array): Promise<void> {
    const next = this.#writes.then(() => this.conn.write(bytes)).then(() => {});
    this.#writes = next.catch(() => {});
    return next;
  }

  /** The next frame of `type` (matching `match`), waiting up to WAIT_MS. */
  next<T extends ServerFrame["type"]>(
    type: T,
    match: (f: Extract<ServerFrame, { type: T }>) => boolean = () => true,
  ): Promise<Extract<ServerFrame, { type: T }>> {
    const fits = (f: ServerFrame) => f.type === type && match(f as Extract<ServerFrame, { type: T }>);
    const i = this.inbox.findIndex(fits);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Extract<ServerFrame, { type: T }>);
    if (this.ended) return Promise.reject(new Error(`connection ended while waiting for ${type}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${type} frame within ${WAIT_MS} ms; have ${this.inbox.map((f) => f.type)}`));
      }, WAIT_MS);
      const waiter: Waiter = {
        match: fits,
        resolve: (f) => {
          clearTimeout(timer);
          if (f.type === type) resolve(f as Extract<ServerFrame, { type: T }>);
          else reject(new Error(`connection ended while waiting for ${type}`));
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** True if a frame of `type` is already in the inbox (without waiting). */
  has(type: ServerFrame["type"]): boolean {
    return this.inbox.some((f) => f.type === type);
  }

  /** Answers the Challenge with a Login for `user` and waits for Welcome. */
  async login(user: TestUser): Promise<Extract<ServerFrame, { type: "welcome" }>> {
    const challenge = await this.next("challenge");
    await this.send(loginFrame(this.conn, user, challenge.nonce));
    return await this.next("welcome");
  }

  /** A fresh request id. */
  requestId(): number {
    return this.#nextRequest++;
  }

  /** Sends a request (its requestId is filled in) and waits for its Result. */
  async request(
    frame: ClientFrame & { requestId: number },
  ): Promise<Extract<ServerFrame, { type: "result" }>> {
    const requestId = this.requestId();
    await this.send({ ...frame, requestId } as ClientFrame);
    return await this.next("result", (r) => r.requestId === requestId);
  }

  /** Uploads `user`'s bundle and checks the relay took it. */
  async upload(user: TestUser): Promise<void> {
    const r = await this.request({ type: "upload-prekeys", requestId: 0, bundle: bundleOf(user) });
    assert.equal(r.code, "ok", r.detail);
  }

  /** Sends a message and waits for Queued or Refused. */
  async sendMessage(
    to: Uint8Array,
    body: Uint8Array,
    messageId: Uint8Array = systemRandom(16),
  ): Promise<Extract<ServerFrame, { type: "queued" | "refused" }>> {
    const requestId = this.requestId();
    await this.send({ type: "send", requestId, to, messageId, body });
    const fits = (f: ServerFrame) =>
      (f.type === "queued" || f.type === "refused") && f.requestId === requestId;
    const i = this.inbox.findIndex(fits);
    if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<ServerFrame, { type: "queued" | "refused" }>;
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no answer to Send")), WAIT_MS);
      this.#waiters.push({
        match: fits,
        resolve: (f) => {
          clearTimeout(timer);
          if (f.type === "queued" || f.type === "refused") resolve(f);
          else reject(new Error("connection ended while waiting for Queued"));
        },
      });
    });
  }

  /** Closes the connection and waits for the read loop. */
  async close(): Promise<void> {
    await this.conn.close();
    if (this.#reading) await this.done;
  }
}

/** Logs in both users, uploads their prekeys and opens a chat between them (a asks first). */
export async function openChat(
  port: number,
  a: TestUser,
  b: TestUser,
  curve: "P-256" | "P-384" | "P-521" = "P-256",
): Promise<{ ca: TestClient; cb: TestClient }> {
  const { client: ca } = await TestClient.login(port, a);
  const { client: cb } = await TestClient.login(port, b);
  await ca.upload(a);
  await cb.upload(b);
  assert.equal(
    (await ca.request({ type: "request-chat", requestId: 0, peerId: b.identity.id, curve })).code,
    "ok",
  );
  assert.equal(
    (await cb.request({ type: "request-chat", requestId: 0, peerId: a.identity.id, curve })).code,
    "ok",
  );
  const oa = await ca.next("chat-opened");
  const ob = await cb.next("chat-opened");
  await ca.send({ type: "ack", ids: [oa.eventId] });
  await cb.send({ type: "ack", ids: [ob.eventId] });
  return { ca, cb };
}

/** What {@link exchangeInPairs} measured: milliseconds for logins, for opening the chats, for the messages. */
export interface PairsTiming {
  logins: number;
  chats: number;
  messages: number;
}

/**
 * 2 × `pairs` clients log in, upload prekeys and open chats in pairs (2k with 2k + 1); then each sends
 * `messages` texts to its peer while reading its peer's, acknowledging each. Asserts that every message
 * arrives exactly once, in order, from the right sender, that every send is Queued and Delivered, and that
 * the relay logged nothing. Closes every client it opened.
 */
export async function exchangeInPairs(
  relay: TestRelay,
  pairs: number,
  messages: number,
): Promise<PairsTiming> {
  const clients: TestClient[] = [];
  try {
    const users: TestUser[] = Array.from({ length: 2 * pairs }, () => makeUser(1));
    const t0 = performance.now();
    const logged = await Promise.all(users.map((u) => TestClient.login(relay.port, u)));
    clients.push(...logged.map((l) => l.client));
    const t1 = performance.now();
    assert.equal(relay.app.relay.online, 2 * pairs);
    await Promise.all(clients.map((c, i) => c.upload(users[i])));
    const peerOf = (i: number) => i ^ 1;
    await Promise.all(clients.map(async (c, i) => {
      const peerId = users[peerOf(i)].identity.id;
      const r = await c.request({ type: "request-chat", requestId: 0, peerId, curve: "P-256" });
      assert.equal(r.code, "ok");
    }));
    await Promise.all(clients.map(async (c) => {
      const opened = await c.next("chat-opened");
      await c.send({ type: "ack", ids: [opened.eventId] });
    }));
    const t2 = performance.now();
    await Promise.all(clients.map(async (c, i) => {
      const to = users[peerOf(i)].identity.id;
      const sending = (async () => {
        for (let m = 0; m < messages; m++) {
          const q = await c.sendMessage(to, new TextEncoder().encode(`${i}:${m}`));
          assert.equal(q.type, "queued");
        }
      })();
      for (let m = 0; m < messages; m++) {
        const d = await c.next("deliver");
        assert.equal(new TextDecoder().decode(d.body), `${peerOf(i)}:${m}`);
        assert.equal(bytesToHex(d.from), users[peerOf(i)].hex);
        await c.send({ type: "ack", ids: [d.messageId] });
      }
      await sending;
      for (let m = 0; m < messages; m++) await c.next("delivered");
    }));
    const t3 = performance.now();
    assert.deepEqual(relay.logs, []);
    return { logins: t1 - t0, chats: t2 - t1, messages: t3 - t2 };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}
