// 200 clients at once against a real relay: all log in, upload prekeys, open 100 chats in pairs, and
// exchange messages both ways with acknowledgements; nothing is lost and nothing fails.

import { exchangeInPairs, startRelay } from "./_helpers.ts";

Deno.test("load: 200 concurrent clients log in, open 100 chats and exchange messages", async () => {
  const relay = await startRelay();
  try {
    const t = await exchangeInPairs(relay, 100, 5);
    console.log(
      `200 logins ${t.logins.toFixed(0)} ms; prekeys and 100 chats ${t.chats.toFixed(0)} ms; ` +
        `1000 messages with acks ${t.messages.toFixed(0)} ms`,
    );
  } finally {
    await relay.close();
  }
});
