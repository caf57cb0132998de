// The relay side of issue 12 through a real relay on 127.0.0.1: the opt-in requests inbox (the target is
// told, the requester learns nothing in any case), withdrawal of a queued message by its sender only,
// per-message expiry (never delivered once lapsed, deleted at its time), and the operator's log (counts,
// no IDs or addresses, start and shutdown said).

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import type { ClientFrame, ServerFrame } from "../../protocol/wire.ts";
import { OPTION_REQUESTS_INBOX } from "../../protocol/wire.ts";
import {
  assertNoIdsOrAddresses,
  makeUser,
  openChat,
  startRelay,
  TestClient,
  type TestUser,
  WAIT_MS,
} from "./_helpers.ts";

const DAY = 24 * 3600_000;

/** Sets the connection's options; returns the Result. */
function setOptions(c: TestClient, options: number) {
  return c.request({ type: "set-options", requestId: 0, options });
}

/** Sends a Withdraw and waits for its answer. */
async function withdraw(c: TestClient, to: Uint8Array, messageId: Uint8Array) {
  const requestId = c.requestId();
  await c.send({ type: "withdraw", requestId, to, messageId });
  return (await c.next("withdrawn", (f) => f.requestId === requestId)).outcome;
}

/** Frames no test here looks at: prekey warnings and presence. */
const NOISE: readonly string[] = ["prekeys-low", "kem-prekeys-low", "peer-online", "peer-offline"];

/**
 * Frames the client got that a test did not take, after a Ping round trip (so that anything the relay
 * sent before it has arrived), without prekey warnings and presence.
 */
async function leftover(c: TestClient): Promise<string[]> {
  assert.equal((await c.request({ type: "ping", requestId: 0 })).code, "ok");
  return c.inbox.filter((f) => !NOISE.includes(f.type)).map((f) => f.type);
}

/** Waits (at most WAIT_MS) until `test` holds. */
async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("requests inbox: off by default; on, the target is told who asked; the requester's view never changes", async () => {
  const relay = await startRelay();
  try {
    /** One requester asks one target in the given situation; returns what the requester saw. */
    const view = async (situation: "offline" | "off" | "on" | "blocked" | "dismissed") => {
      const requester = makeUser(), target = makeUser();
      const { client: cr } = await TestClient.login(relay.port, requester);
      await cr.upload(requester);
      let ct: TestClient | null = null;
      if (situation !== "offline") {
        ct = (await TestClient.login(relay.port, target)).client;
        if (situation !== "off") assert.equal((await setOptions(ct, OPTION_REQUESTS_INBOX)).code, "ok");
        if (situation === "blocked") {
          assert.equal(
            (await ct.request({ type: "block", requestId: 0, peerId: requester.identity.id })).code,
            "ok",
          );
        }
      }
      const ask = { type: "request-chat", requestId: 0, peerId: target.identity.id, curve: "P-384" } as const;
      const first = await cr.request(ask);
      if (situation === "dismissed") {
        const told = await ct!.next("chat-asked");
        assert.deepEqual(told.peerId, requester.identity.id);
        const r = await ct!.request({ type: "dismiss-request", requestId: 0, peerId: requester.identity.id });
        assert.equal(r.code, "ok");
      }
      const again = await cr.request(ask); // a repeat, as a client sends at every login
      const rest = await leftover(cr);
      await cr.close();
      const { client: back, welcome } = await TestClient.login(relay.port, requester);
      await back.close();
      if (ct !== null) {
        const announced = (await leftover(ct)).filter((t) => t === "chat-asked").length;
        if (situation === "on") {
          assert.equal(announced, 2, "each request is announced");
          const told = ct.inbox.find((f) => f.type === "chat-asked") as Extract<
            ServerFrame,
            { type: "chat-asked" }
          >;
          assert.deepEqual(told.peerId, requester.identity.id);
          assert.equal(told.curve, "P-384");
          assert.ok(Math.abs(told.expiresAt - (Date.now() + 30 * DAY)) < 60_000);
        } else {
          assert.equal(announced, 0, `${situation}: the target is not told`);
        }
        await ct.close();
      }
      return {
        first: [first.code, first.detail],
        again: [again.code, again.detail],
        rest,
        pending: welcome.requests.length,
        chats: welcome.chats.length,
      };
    };
    const off = await view("off");
    assert.deepEqual(off, {
      first: ["ok", "request recorded"],
      again: ["ok", "request recorded"],
      rest: [],
      pending: 1,
      chats: 0,
    });
    for (const situation of ["offline", "on", "blocked", "dismissed"] as const) {
      assert.deepEqual(await view(situation), off, situation);
    }
    assert.deepEqual(relay.logs, []);
  } finally {
    await relay.close();
  }
});

Deno.test("requests inbox: turning it on lists live requests, not dismissed or blocked ones; asking back opens the chat", async () => {
  const relay = await startRelay();
  const clients: TestClient[] = [];
  const login = async (u: TestUser) => {
    const { client } = await TestClient.login(relay.port, u);
    clients.push(client);
    await client.upload(u);
    return client;
  };
  try {
    const bob = makeUser(), alice = makeUser(), carol = makeUser(), dave = makeUser();
    const cb = await login(bob);
    assert.equal((await cb.request({ type: "block", requestId: 0, peerId: dave.identity.id })).code, "ok");
    assert.equal((await setOptions(cb, 0x02)).code, "bad-request", "unknown option bits are refused");
    await cb.close();
    for (const u of [alice, carol, dave]) {
      const c = await login(u);
      const r = await c.request({
        type: "request-chat",
        requestId: 0,
        peerId: bob.identity.id,
        curve: "P-256",
      });
      assert.equal(r.code, "ok");
      await new Promise((res) => setTimeout(res, 5)); // distinct times of asking
    }
    // Bob comes back with the inbox off: nothing; on: Alice's and Carol's requests, oldest first.
    const cb2 = await login(bob);
    assert.deepEqual(await leftover(cb2), []);
    assert.equal((await setOptions(cb2, OPTION_REQUESTS_INBOX)).code, "ok");
    const first = await cb2.next("chat-asked"), second = await cb2.next("chat-asked");
    assert.deepEqual([first.peerId, second.peerId], [alice.identity.id, carol.identity.id]);
    assert.deepEqual(await leftover(cb2), [], "Dave, whom Bob blocked, is not listed");
    // Turning it on again while on lists nothing more; dismissing Carol's request stops it for good.
    assert.equal((await setOptions(cb2, OPTION_REQUESTS_INBOX)).code, "ok");
    const dismissed = await cb2.request({ type: "dismiss-request", requestId: 0, peerId: carol.identity.id });
    assert.deepEqual([dismissed.code, dismissed.detail], ["ok", "request dismissed"]);
    const none = await cb2.request({ type: "dismiss-request", requestId: 0, peerId: dave.identity.id });
    assert.deepEqual([none.code, none.detail], ["ok", "request dismissed"], "a blocked requester's too");
    const unknown = await cb2.request({
      type: "dismiss-request",
      requestId: 0,
      peerId: makeUser().identity.id,
    });
    assert.equal(unknown.detail, "there was no such request");
    const carolAgain = await clients[2].request({
      type: "request-chat",
      requestId: 0,
      peerId: bob.identity.id,
      curve: "P-256",
    });
    assert.equal(carolAgain.code, "ok");
    assert.deepEqual(await leftover(cb2), [], "a dismissed request is not announced when repeated");
    assert.equal((await setOptions(cb2, 0)).code, "ok");
    assert.equal((await setOptions(cb2, OPTION_REQUESTS_INBOX)).code, "ok");
    assert.deepEqual((await cb2.next("chat-asked")).peerId, alice.identity.id);
    assert.deepEqual(await leftover(cb2), []);
    // Accepting is asking back: the chat opens for both.
    const ask = await cb2.request({
      type: "request-chat",
      requestId: 0,
      peerId: alice.identity.id,
      curve: "P-521",
    });
    assert.equal(ask.code, "ok");
    const opened = await cb2.next("chat-opened");
    assert.deepEqual([opened.peerId, opened.role, opened.curve], [alice.identity.id, "responder", "P-256"]);
    assert.deepEqual((await clients[1].next("chat-opened")).peerId, bob.identity.id);
    await cb2.send({ type: "ack", ids: [opened.eventId] });
    // Lapsed requests are not listed.
    relay.advance(31 * DAY);
    assert.equal((await setOptions(cb2, 0)).code, "ok");
    assert.equal((await setOptions(cb2, OPTION_REQUESTS_INBOX)).code, "ok");
    assert.deepEqual(await leftover(cb2), []);
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const c of clients) await c.close();
    await relay.close();
  }
});

Deno.test("withdraw: only the sender, only while queued; after delivery nothing", async () => {
  const relay = await startRelay({ holdMs: 30_000 });
  const clients: TestClient[] = [];
  try {
    const alice = makeUser(), bob = makeUser(), carol = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    const { client: cc } = await TestClient.login(relay.port, carol);
    clients.push(ca, cc);
    await cb.close();
    const m1 = systemRandom(16), m2 = systemRandom(16);
    assert.equal((await ca.sendMessage(bob.identity.id, Uint8Array.of(1), m1)).type, "queued");
    assert.equal((await ca.sendMessage(bob.identity.id, Uint8Array.of(2), m2)).type, "queued");
    assert.equal(await withdraw(ca, bob.identity.id, m1), "withdrawn");
    assert.equal(await withdraw(ca, bob.identity.id, m1), "not-found", "only once");
    assert.equal(await withdraw(cc, bob.identity.id, m2), "not-found", "not by someone else");
    assert.equal(await withdraw(ca, bob.identity.id, systemRandom(16)), "not-found");
    assert.equal(await withdraw(ca, carol.identity.id, m2), "not-found", "not from another queue");
    const { client: cb2, welcome } = await TestClient.login(relay.port, bob);
    clients.push(cb2);
    assert.equal(welcome.queued, 1);
    const d = await cb2.next("deliver");
    assert.deepEqual([d.messageId, d.body], [m2, Uint8Array.of(2)]);
    assert.equal(await withdraw(cb2, bob.identity.id, m2), "not-found", "not by the recipient");
    await cb2.send({ type: "ack", ids: [m2] });
    assert.deepEqual((await ca.next("delivered")).messageId, m2);
    assert.equal(await withdraw(ca, bob.identity.id, m2), "not-found", "after delivery nothing");
    assert.deepEqual(await leftover(cb2), []);

    // Sent to the recipient's connection and not acknowledged: "sent", and it never comes again.
    const m3 = systemRandom(16);
    await ca.send({
      type: "send",
      requestId: 77,
      to: bob.identity.id,
      messageId: m3,
      body: Uint8Array.of(3),
    });
    assert.deepEqual((await cb2.next("deliver")).messageId, m3); // held in memory: not stored
    assert.equal(await withdraw(ca, bob.identity.id, m3), "sent");
    assert.deepEqual(
      (await ca.next("queued", (q) => q.requestId === 77)).messageId,
      m3,
      "the Send is answered",
    );
    await cb2.send({ type: "ack", ids: [m3] });
    assert.deepEqual(await leftover(ca), [], "no Delivered for a withdrawn message");
    await cb2.close();
    const m4 = systemRandom(16);
    assert.equal((await ca.sendMessage(bob.identity.id, Uint8Array.of(4), m4)).type, "queued");
    const { client: cb3 } = await TestClient.login(relay.port, bob);
    clients.push(cb3);
    assert.deepEqual((await cb3.next("deliver")).messageId, m4); // stored, sent, not acknowledged
    assert.equal(await withdraw(ca, bob.identity.id, m4), "sent");
    await cb3.close();
    const { client: cb4, welcome: w4 } = await TestClient.login(relay.port, bob);
    clients.push(cb4);
    assert.equal(w4.queued, 0);
    assert.deepEqual(await leftover(cb4), [], "neither comes again");
    assert.equal(relay.app.relay.stats.withdrawn, 3);
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const c of clients) await c.close();
    await relay.close();
  }
});

Deno.test("expiry: a message with its own TTL is never delivered once lapsed and is deleted at its time", async () => {
  const relay = await startRelay();
  const clients: TestClient[] = [];
  try {
    const alice = makeUser(), bob = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    clients.push(ca);
    await cb.close();
    const sendExpiring = async (ttl: number, body: number) => {
      const requestId = ca.requestId(), messageId = systemRandom(16);
      const f: ClientFrame = {
        type: "send-expiring",
        requestId,
        to: bob.identity.id,
        messageId,
        ttl,
        body: Uint8Array.of(body),
      };
      await ca.send(f);
      assert.equal((await ca.next("queued", (q) => q.requestId === requestId)).type, "queued");
      return messageId;
    };
    await sendExpiring(60_000, 1);
    const keep = (await ca.sendMessage(bob.identity.id, Uint8Array.of(2))).messageId;
    await sendExpiring(0xffff_ffff, 3); // longer than the relay keeps anything: 30 days
    relay.advance(61_000);
    // Lapsed and not yet swept: not delivered.
    const { client: cb2 } = await TestClient.login(relay.port, bob);
    const d = await cb2.next("deliver");
    assert.deepEqual(d.messageId, keep);
    await cb2.send({ type: "ack", ids: [keep] });
    const third = await cb2.next("deliver");
    assert.deepEqual(third.body, Uint8Array.of(3));
    await cb2.close();
    assert.equal((await relay.app.relay.sweep()).messages, 1);
    relay.advance(30 * DAY);
    assert.equal((await relay.app.relay.sweep()).messages, 1, "capped at the relay's own 30 days");

    // A short TTL: the relay deletes it at its time by itself (a scheduled sweep, not the periodic one).
    const before = relay.app.relay.stats.expired;
    await sendExpiring(1500, 4);
    await until(() => relay.app.relay.stats.expired > before, "the scheduled expiry");
    const { client: cb3, welcome } = await TestClient.login(relay.port, bob);
    clients.push(cb3);
    assert.equal(welcome.queued, 0);
    assert.deepEqual(await leftover(cb3), []);
    assert.deepEqual(relay.logs, []);
  } finally {
    for (const c of clients) await c.close();
    await relay.close();
  }
});

Deno.test("operator log: start, counts and refusals by reason, shutdown; no IDs or addresses; text and JSON", async () => {
  for (const format of ["text", "json"] as const) {
    const relay = await startRelay({}, { logFormat: format });
    const alice = makeUser(), bob = makeUser(), carol = makeUser();
    const clients: TestClient[] = [];
    try {
      const { ca, cb } = await openChat(relay.port, alice, bob);
      clients.push(ca, cb);
      const { client: cc } = await TestClient.login(relay.port, carol);
      clients.push(cc);
      assert.equal((await cc.sendMessage(bob.identity.id, Uint8Array.of(1))).type, "refused"); // no chat
      const m = systemRandom(16);
      assert.equal((await ca.sendMessage(bob.identity.id, Uint8Array.of(2), m)).type, "queued");
      await cb.send({ type: "ack", ids: [(await cb.next("deliver")).messageId] });
      await ca.next("delivered");
      assert.equal(await withdraw(ca, bob.identity.id, m), "not-found");
      // A login with someone else's keys is refused.
      const thief = await TestClient.connect(relay.port);
      const challenge = await thief.next("challenge");
      await thief.send({
        type: "login",
        version: 1,
        id: alice.identity.id,
        identity: alice.identity.publicKeys,
        signature: systemRandom(132),
      });
      void challenge;
      assert.equal((await thief.next("error")).code, "login-failed");
      await thief.close();
    } finally {
      for (const c of clients) await c.close();
      await relay.close("a test");
    }
    const lines = relay.lines;
    assertNoIdsOrAddresses(lines, [alice.identity.id, bob.identity.id, carol.identity.id]);
    if (format === "json") {
      const events = lines.map((l) => JSON.parse(l));
      for (const e of events) {
        assert.ok(typeof e.time === "string" && typeof e.event === "string", JSON.stringify(e));
      }
      assert.deepEqual(events.map((e) => e.event), ["start", "stopping", "stats", "stopped"]);
      const stats = events[2];
      assert.equal(stats.logins, 3);
      assert.equal(stats.registrations, 3);
      assert.equal(stats.queued, 1);
      assert.equal(stats.delivered, 1);
      assert.equal(stats.connections, 4);
      assert.deepEqual(stats.refused, { "send.no-chat": 1, "error.login-failed": 1 });
      assert.equal(events[1].reason, "a test");
    } else {
      assert.match(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z start store=\d+$/);
      assert.match(lines[1], / stopping reason="a test"$/);
      assert.match(
        lines[2],
        / stats open=\d+ online=0 store=\d+ connections=4 logins=3 registrations=3 queued=1 delivered=1 withdrawn=0 expired=0 refused\.send\.no-chat=1 refused\.error\.login-failed=1$/,
      );
      assert.match(lines[3], / stopped$/);
    }
    assert.deepEqual(relay.logs, []);
  }
});

Deno.test("operator log: a line of counts each interval while something happens, none when idle", async () => {
  const relay = await startRelay({}, { statsIntervalMs: 100 });
  try {
    const user = makeUser();
    await until(() => relay.lines.length === 1, "the start line");
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(relay.lines.length, 1, "idle: nothing but the start line");
    const { client } = await TestClient.login(relay.port, user);
    await until(() => relay.lines.some((l) => / stats .*logins=1/.test(l)), "a stats line with the login");
    await client.close();
    assertNoIdsOrAddresses(relay.lines, [user.identity.id]);
  } finally {
    await relay.close();
  }
});
