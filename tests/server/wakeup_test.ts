// Regression: a message queued while the recipient's delivery pump was finishing used to wait in the store
// until something else woke the pump (the wake only set "pump again" on a pump that had already made its
// last check). In a ping-pong of sends and acknowledgements that was about one message in a few hundred,
// stuck for good (the window is a few microtasks wide, so this test catches the old code only sometimes).
// 1,000 messages, each sent right after the previous one was acknowledged, must all arrive.

import assert from "node:assert/strict";
import { makeUser, openChat, startRelay } from "./_helpers.ts";

Deno.test("relay: a message sent as the delivery pump finishes is still delivered", async () => {
  const relay = await startRelay();
  const a = makeUser(), b = makeUser();
  const { ca, cb } = await openChat(relay.port, a, b);
  try {
    for (let i = 0; i < 1000; i++) {
      const queued = ca.sendMessage(b.identity.id, Uint8Array.of(i & 0xff, i >> 8));
      const d = await cb.next("deliver");
      assert.deepEqual([...d.body], [i & 0xff, i >> 8]);
      await cb.send({ type: "ack", ids: [d.messageId] });
      assert.equal((await queued).type, "queued");
    }
  } finally {
    await ca.close();
    await cb.close();
    await relay.close();
  }
});
