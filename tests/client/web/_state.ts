// A stand-in for the client's state as the page receives it (client/webapp.ts's "state" message): one chat
// of N messages (one in seven long enough to wrap), delivered ones among ours, and 20 small chats. For the
// page's own tests and bench/web_load.ts, which serve the real page without a relay.

/** The ID of the big chat. */
export const BIG_CHAT = "9nrb-xnv1-rfe9-ne0g-cmfx-j34r-2sjh-r3qz";

/** The "state" message with a chat of `n` messages, one a minute up to now. */
export function snapshot(n: number): unknown {
  const start = Date.now() - n * 60_000;
  const id = BIG_CHAT;
  const lines = Array.from({ length: n }, (_, i) => ({
    seq: i + 1,
    kind: i % 3 === 0 ? "out" : "in",
    status: i % 3 === 0 ? "delivered" : "none",
    time: start + i * 60_000,
    text: i % 7 === 0
      ? `Message ${i}: a longer one that wraps over a few lines in a normal window, as real chats have now and then, with a second sentence for good measure.`
      : `Message ${i}`,
  }));
  const chat = (cid: string, name: string, ls: unknown[]) => ({
    id: cid,
    name,
    nickname: name,
    peerNickname: "",
    state: "open",
    blocked: false,
    online: true,
    unread: 0,
    updatedAt: Date.now(),
    curve: "P-521",
    verifiable: true,
    offers: [],
    receiving: [],
    sending: [],
    last: { kind: "in", text: "hello", time: Date.now() },
    lines: ls,
  });
  const others = Array.from(
    { length: 20 },
    (_, i) => chat(`${id.slice(0, -4)}${String(i).padStart(4, "0")}`, `Friend ${i}`, []),
  );
  return {
    t: "state",
    me: {
      id: "k3v9-abcd-efgh-jkmn-pqrs-tvwx-yz01-2345",
      server: "127.0.0.1:6174",
      curve: "P-521",
      pin: "x",
      trust: "pinned",
    },
    connection: { state: "online", at: Date.now() },
    active: id,
    chats: [chat(id, "Bob", lines), ...others],
  };
}
