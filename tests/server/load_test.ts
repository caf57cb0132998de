// 200 clients at once against a real relay: all log in, upload prekeys, open 100 chats in pairs, and
// exchange messages both ways with acknowledgements; nothing is lost and nothing fails.

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { makeUser, startRelay, TestClient, type TestUser } from "./_helpers.ts";

const PAIRS = 100;
const MESSAGES = 5;

Deno.test("load: 200 concurrent clients log in, open 100 chats and exchange messages", async () => {
  const relay = await startRelay();
  const clients: TestClient[] = [];
  try {
    const users: TestUser[] = Array.from({ length: 2 * PAIRS }, () => makeUser(1));
    const t0 = performance.now();
    const logged = await Promise.all(users.map((u) => TestClient.login(relay.port, u)));
    clients.push(...logged.map((l) => l.client));
    const t1 = performance.now();
    assert.equal(relay.app.relay.online, 2 * PAIRS);
    await Promise.all(clients.map((c, i) => c.upload(users[i])));

    // Pair 2k with 2k + 1: both ask, both get chat-opened, then each sends MESSAGES to the other.
    const peerOf = (i: number) => i ^ 1;
    await Promise.all(clients.map(async (c, i) => {
      const peer = users[peerOf(i)];
      const r = await c.request({
        type: "request-chat",
        requestId: 0,
        peerId: peer.identity.id,
        curve: "P-256",
      });
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
        for (let m = 0; m < MESSAGES; m++) {
          const q = await c.sendMessage(to, new TextEncoder().encode(`${i}:${m}`));
          assert.equal(q.type, "queued");
        }
      })();
      for (let m = 0; m < MESSAGES; m++) {
        const d = await c.next("deliver");
        assert.equal(new TextDecoder().decode(d.body), `${peerOf(i)}:${m}`);
        assert.equal(bytesToHex(d.from), users[peerOf(i)].hex);
        await c.send({ type: "ack", ids: [d.messageId] });
      }
      await sending;
      for (let m = 0; m < MESSAGES; m++) await c.next("delivered");
    }));
    const t3 = performance.now();
    console.log(
      `200 logins ${(t1 - t0).toFixed(0)} ms; prekeys and 100 chats ${(t2 - t1).toFixed(0)} ms; ` +
        `${2 * PAIRS * MESSAGES} messages with acks ${(t3 - t2).toFixed(0)} ms`,
    );
    assert.deepEqual(relay.logs, []);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await relay.close();
  }
});
