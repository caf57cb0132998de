// Regression: with a hold time of 1 ms every message delivered "held" is also written to the store while
// its acknowledgement races the write, and acks race the delivery pump. The relay used to send such a
// message a second time (out of order) when the pump read the stored copy in that window. 20 pairs
// exchanging 30 messages each must see every message exactly once, in order.

import assert from "node:assert/strict";
import { bytesToHex } from "../../crypto/bytes.ts";
import { makeUser, startRelay, TestClient, type TestUser } from "./_helpers.ts";

const PAIRS = 20;
const MESSAGES = 30;

Deno.test("relay: acknowledgements racing the store never make a message arrive twice", async () => {
  const relay = await startRelay({ holdMs: 1 });
  const clients: TestClient[] = [];
  try {
    const users: TestUser[] = Array.from({ length: 2 * PAIRS }, () => makeUser(1));
    const logged = await Promise.all(users.map((u) => TestClient.login(relay.port, u)));
    clients.push(...logged.map((l) => l.client));
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
    assert.deepEqual(relay.logs, []);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await relay.close();
  }
});
