// Regression: with a hold time of 1 ms every message delivered "held" is also written to the store while
// its acknowledgement races the write, and acks race the delivery pump. The relay used to send such a
// message a second time (out of order) when the pump read the stored copy in that window. 20 pairs
// exchanging 30 messages each must see every message exactly once, in order.

import { exchangeInPairs, startRelay } from "./_helpers.ts";

Deno.test("relay: acknowledgements racing the store never make a message arrive twice", async () => {
  const relay = await startRelay({ holdMs: 1 });
  try {
    await exchangeInPairs(relay, 20, 30);
  } finally {
    await relay.close();
  }
});
