// Mutual chat requests against a real relay: a one-sided request reveals nothing, a mutual one opens the
// chat for both (with the initiator's curve and bundle), an offline side learns at its next login;
// requests are cancelled, lapse after 30 days, and blocks are silent; presence only inside open chats.

import assert from "node:assert/strict";
import { verifyBundle } from "../../protocol/prekeys.ts";
import { makeUser, openChat, startRelay, TestClient, type TestUser } from "./_helpers.ts";

const DAY = 24 * 3600_000;

async function loginWithPrekeys(port: number, user: TestUser): Promise<TestClient> {
  const { client } = await TestClient.login(port, user);
  await client.upload(user);
  return client;
}

/** Sends a Ping and waits for its answer: every frame the relay meant to send before it has arrived. */
async function settle(client: TestClient): Promise<void> {
  assert.equal((await client.request({ type: "ping", requestId: 0 })).code, "ok");
}

Deno.test("requests: one side asking reveals nothing; both asking opens the chat for both", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser(), carol = makeUser();
    const ca = await loginWithPrekeys(relay.port, alice);
    const cb = await loginWithPrekeys(relay.port, bob);
    const cc = await loginWithPrekeys(relay.port, carol);
    for (const c of [ca, cb, cc]) await settle(c);
    const before = cb.inbox.length, carolBefore = cc.inbox.length;

    const r = await ca.request({
      type: "request-chat",
      requestId: 0,
      peerId: bob.identity.id,
      curve: "P-384",
    });
    assert.equal(r.code, "ok");
    // A request for an ID nobody has registered looks exactly the same (no registration oracle).
    const ghost = await ca.request({
      type: "request-chat",
      requestId: 0,
      peerId: new Uint8Array(20),
      curve: "P-256",
    });
    assert.equal(ghost.code, r.code);
    assert.equal(ghost.detail, r.detail);
    await settle(cb);
    assert.equal(cb.inbox.length, before, "Bob learned nothing");
    // Asking oneself is refused.
    const self = await ca.request({
      type: "request-chat",
      requestId: 0,
      peerId: alice.identity.id,
      curve: "P-256",
    });
    assert.equal(self.code, "bad-request");

    // Bob asks too (on another curve): the chat opens on Alice's curve; Alice, who asked first, initiates.
    assert.equal(
      (await cb.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-521" }))
        .code,
      "ok",
    );
    const oa = await ca.next("chat-opened");
    const ob = await cb.next("chat-opened");
    assert.equal(oa.role, "initiator");
    assert.equal(ob.role, "responder");
    assert.equal(oa.curve, "P-384");
    assert.equal(ob.curve, "P-384");
    assert.ok(oa.online && ob.online);
    assert.deepEqual(oa.peerId, bob.identity.id);
    assert.deepEqual(ob.peerId, alice.identity.id);
    verifyBundle(oa.bundle!, bob.identity.id);
    assert.equal(oa.bundle!.oneTimePrekeys["P-384"].length, 1);
    assert.deepEqual(ob.identity, alice.identity.publicKeys);
    assert.equal(ob.bundle, null);
    // Asking again changes nothing.
    const again = await ca.request({
      type: "request-chat",
      requestId: 0,
      peerId: bob.identity.id,
      curve: "P-256",
    });
    assert.match(again.detail, /already open/);
    // Carol, a stranger, saw none of it.
    await settle(cc);
    assert.equal(cc.inbox.length, carolBefore);
    for (const c of [ca, cb, cc]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("requests: an offline side learns at its next login, and the event stops once acknowledged", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser();
    const ca = await loginWithPrekeys(relay.port, alice);
    await ca.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
    await ca.close();

    const cb = await loginWithPrekeys(relay.port, bob);
    await cb.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    const ob = await cb.next("chat-opened");
    assert.equal(ob.online, false);
    await cb.send({ type: "ack", ids: [ob.eventId] });

    const { client: ca2, welcome } = await TestClient.login(relay.port, alice);
    assert.equal(welcome.type, "welcome");
    if (welcome.type !== "welcome") return;
    assert.equal(welcome.chats.length, 1);
    assert.deepEqual(welcome.chats[0], {
      peerId: bob.identity.id,
      curve: "P-256",
      role: "initiator",
      online: true,
    });
    assert.equal(welcome.queued, 1);
    const oa = await ca2.next("chat-opened");
    assert.equal(oa.online, true);
    await cb.next("peer-online");
    await ca2.send({ type: "ack", ids: [oa.eventId] });
    await settle(ca2);
    await ca2.close();
    await cb.next("peer-offline");

    const { client: ca3, welcome: w3 } = await TestClient.login(relay.port, alice);
    await settle(ca3);
    assert.ok(!ca3.has("chat-opened"));
    assert.equal(w3.type === "welcome" && w3.queued, 0);
    await ca3.close();
    await cb.close();
  } finally {
    await relay.close();
  }
});

Deno.test("requests: a cancelled request is never matched; Welcome lists pending requests", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser();
    const ca = await loginWithPrekeys(relay.port, alice);
    await ca.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-521" });
    await ca.close();
    const { client: ca2, welcome } = await TestClient.login(relay.port, alice);
    assert.equal(welcome.type, "welcome");
    if (welcome.type !== "welcome") return;
    assert.equal(welcome.requests.length, 1);
    assert.deepEqual(welcome.requests[0].peerId, bob.identity.id);
    assert.equal(welcome.requests[0].curve, "P-521");
    assert.ok(welcome.requests[0].expiresAt > Date.now() + 29 * DAY);
    assert.match(
      (await ca2.request({ type: "cancel-request", requestId: 0, peerId: bob.identity.id })).detail,
      /cancelled/,
    );

    const cb = await loginWithPrekeys(relay.port, bob);
    assert.equal(
      (await cb.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" }))
        .code,
      "ok",
    );
    await settle(ca2);
    await settle(cb);
    assert.ok(!ca2.has("chat-opened") && !cb.has("chat-opened"));
    await ca2.close();
    await cb.close();
  } finally {
    await relay.close();
  }
});

Deno.test("requests: a request lapses after 30 days (swept, or not yet swept)", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser(), carol = makeUser();
    const ca = await loginWithPrekeys(relay.port, alice);
    await ca.request({ type: "request-chat", requestId: 0, peerId: bob.identity.id, curve: "P-256" });
    await ca.request({ type: "request-chat", requestId: 0, peerId: carol.identity.id, curve: "P-256" });
    relay.advance(30 * DAY + 1000);
    // Not swept yet: the lapsed request still does not match.
    const cb = await loginWithPrekeys(relay.port, bob);
    await cb.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    await settle(ca);
    assert.ok(!ca.has("chat-opened"));
    // Swept: it is gone (Bob's fresh request stays, it has 30 days).
    assert.deepEqual(await relay.app.relay.sweep(), { messages: 0, requests: 2, identities: 0 });
    const cc = await loginWithPrekeys(relay.port, carol);
    await cc.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    await settle(ca);
    assert.ok(!ca.has("chat-opened"));
    await ca.close();
    const { welcome } = await TestClient.login(relay.port, alice).then(async (x) => {
      await x.client.close();
      return x;
    });
    assert.equal(welcome.type === "welcome" && welcome.requests.length, 0);
    for (const c of [cb, cc]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("blocks: silent to the blocked side, close an open chat, and can be lifted", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser();
    const ca = await loginWithPrekeys(relay.port, alice);
    const cb = await loginWithPrekeys(relay.port, bob);
    assert.equal((await cb.request({ type: "block", requestId: 0, peerId: alice.identity.id })).code, "ok");
    // Alice's request looks as usual, and is never matched.
    const r = await ca.request({
      type: "request-chat",
      requestId: 0,
      peerId: bob.identity.id,
      curve: "P-256",
    });
    assert.equal(r.code, "ok");
    assert.equal(r.detail, "request recorded");
    const refused = await cb.request({
      type: "request-chat",
      requestId: 0,
      peerId: alice.identity.id,
      curve: "P-256",
    });
    assert.equal(refused.code, "not-allowed");
    await settle(ca);
    assert.ok(!ca.has("chat-opened"));
    // Unblocked, Bob's request meets Alice's pending one.
    await cb.request({ type: "unblock", requestId: 0, peerId: alice.identity.id });
    await cb.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    const oa = await ca.next("chat-opened");
    const ob = await cb.next("chat-opened");
    assert.equal(oa.role, "initiator");
    await ca.send({ type: "ack", ids: [oa.eventId] });
    await cb.send({ type: "ack", ids: [ob.eventId] });
    assert.equal((await ca.sendMessage(bob.identity.id, new Uint8Array([7]))).type, "queued");
    // Blocking during an open chat closes it: Alice is told as for a close, and can no longer send.
    await cb.request({ type: "block", requestId: 0, peerId: alice.identity.id });
    const closed = await ca.next("chat-closed");
    assert.deepEqual(closed.peerId, bob.identity.id);
    const after = await ca.sendMessage(bob.identity.id, new Uint8Array([8]));
    assert.equal(after.type, "refused");
    assert.equal(after.type === "refused" && after.reason, "no-chat");
    for (const c of [ca, cb]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("chats: close ends the chat for both; presence is shown only between the two sides", async () => {
  const relay = await startRelay();
  try {
    const alice = makeUser(), bob = makeUser(), carol = makeUser();
    const { ca, cb } = await openChat(relay.port, alice, bob);
    const cc = await loginWithPrekeys(relay.port, carol);
    // Carol asked for Alice, who did not ask back: Carol sees none of Alice's comings and goings.
    await cc.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    await ca.close();
    assert.deepEqual((await cb.next("peer-offline")).peerId, alice.identity.id);
    const { client: ca2 } = await TestClient.login(relay.port, alice);
    assert.deepEqual((await cb.next("peer-online")).peerId, alice.identity.id);
    await settle(cc);
    assert.ok(!cc.has("peer-online") && !cc.has("peer-offline"));

    const r = await ca2.request({ type: "close-chat", requestId: 0, peerId: bob.identity.id });
    assert.equal(r.code, "ok");
    const closed = await cb.next("chat-closed");
    assert.deepEqual(closed.peerId, alice.identity.id);
    await cb.send({ type: "ack", ids: [closed.eventId] });
    assert.equal(
      (await ca2.request({ type: "close-chat", requestId: 0, peerId: bob.identity.id })).code,
      "no-chat",
    );
    // Closed: no more presence between them either.
    await ca2.close();
    await settle(cb);
    assert.ok(!cb.has("peer-offline"));
    for (const c of [cb, cc]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("requests: per-user limits on pending requests and on the request rate", async () => {
  const relay = await startRelay({ maxChatsAndRequests: 3, chatRequestBurst: 5, chatRequestsPerHour: 1 });
  try {
    const alice = makeUser();
    const ca = await loginWithPrekeys(relay.port, alice);
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const peerId = new Uint8Array(20).fill(i + 1);
      codes.push((await ca.request({ type: "request-chat", requestId: 0, peerId, curve: "P-256" })).code);
    }
    assert.deepEqual(codes, ["ok", "ok", "ok", "limit", "limit", "rate-limited"]);
    await ca.close();
  } finally {
    await relay.close();
  }
});
