// The relay under bad input and bad behaviour: garbage (before and inside TLS), oversized and unknown
// frames, an exception in a handler, a slow reader, a flood of requests, and shutdown. Each ends that
// connection only (or slows it); the relay keeps serving everyone else.

import assert from "node:assert/strict";
import { systemRandom } from "../../crypto/bytes.ts";
import { decodeServerFrame, encodeFrame, FrameSplitter, type ServerFrame } from "../../protocol/wire.ts";
import {
  loginFrame,
  makeUser,
  openChat,
  startRelay,
  TestClient,
  type TestRelay,
  type TestUser,
} from "./_helpers.ts";

/** Two logged-in users with an open chat exchange a message both ways. */
async function stillServing(relay: TestRelay): Promise<void> {
  const a = makeUser(1), b = makeUser(1);
  const { ca, cb } = await openChat(relay.port, a, b);
  assert.equal((await ca.sendMessage(b.identity.id, new Uint8Array([1]))).type, "queued");
  assert.deepEqual((await cb.next("deliver")).body, new Uint8Array([1]));
  assert.equal((await cb.sendMessage(a.identity.id, new Uint8Array([2]))).type, "queued");
  assert.deepEqual((await ca.next("deliver")).body, new Uint8Array([2]));
  await ca.close();
  await cb.close();
}

/** Connects, sends `bytes` inside TLS, and returns the Error the relay answers with. */
async function errorFor(relay: TestRelay, bytes: Uint8Array, login = false) {
  const client = login
    ? (await TestClient.login(relay.port, makeUser(0))).client
    : await TestClient.connect(relay.port);
  if (!login) await client.next("challenge");
  await client.sendRaw(bytes);
  const e = await client.next("error");
  await client.done;
  return e;
}

function frame(type: number, ...fields: number[]): Uint8Array {
  const body = Uint8Array.of(type, ...fields);
  return Uint8Array.of(0, 0, body.length >>> 8, body.length & 0xff, ...body);
}

Deno.test("robustness: garbage, oversized, empty, unknown and misdirected frames end that connection only", async () => {
  const relay = await startRelay();
  try {
    // Not TLS at all.
    for (const junk of [systemRandom(3000), new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]) {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: relay.port });
      await tcp.write(junk).catch(() => {});
      const buf = new Uint8Array(1024);
      for (;;) {
        const n = await tcp.read(buf).catch(() => null);
        if (n === null) break;
      }
      tcp.close();
    }
    // Inside TLS.
    assert.equal((await errorFor(relay, frame(0xff, 1, 2, 3))).code, "unsupported");
    assert.equal((await errorFor(relay, frame(0x41, 0, 1))).code, "unsupported"); // a relay frame
    assert.equal((await errorFor(relay, frame(0x01, 0, 1, 2))).code, "malformed"); // truncated Login
    assert.equal((await errorFor(relay, frame(0x01, 0, 9, ...new Uint8Array(20)))).code, "unsupported"); // version 9
    assert.equal((await errorFor(relay, Uint8Array.of(0, 0, 0, 0))).code, "malformed");
    assert.equal((await errorFor(relay, frame(0x02, 0, 0, 0, 1, 0xaa), true)).code, "malformed"); // trailing byte
    assert.equal((await errorFor(relay, frame(0x0a, 0, 0), true)).code, "malformed"); // Ack of nothing
    // A length above 256 KiB is refused as soon as it is seen, without waiting for (or buffering) the body.
    const tooLarge = await errorFor(relay, Uint8Array.of(0x00, 0x04, 0x00, 0x01), true);
    assert.equal(tooLarge.code, "too-large");
    assert.equal((await errorFor(relay, Uint8Array.of(0xff, 0xff, 0xff, 0xff))).code, "too-large");
    // Random garbage: whatever it is, the answer is an Error frame and the connection ends.
    for (let i = 0; i < 5; i++) {
      const garbage = systemRandom(64);
      garbage.set([0, 0, 0, 60]);
      assert.ok(["malformed", "unsupported"].includes((await errorFor(relay, garbage, i % 2 === 0)).code));
    }
    await stillServing(relay);
    assert.deepEqual(relay.logs, []);
  } finally {
    await relay.close();
  }
});

Deno.test("robustness: an exception in one handler ends that connection only", async () => {
  const relay = await startRelay({}, {
    onFrame: (f) => {
      if (f.type === "ping" && f.requestId === 666) throw new Error("injected fault");
    },
  });
  try {
    const bystander = makeUser(1), victim = makeUser(1);
    const { ca, cb } = await openChat(relay.port, bystander, victim);
    await cb.send({ type: "ping", requestId: 666 });
    const e = await cb.next("error");
    assert.equal(e.code, "internal");
    assert.doesNotMatch(e.message, /injected/); // internals are not shown to clients
    await cb.done;
    await ca.next("peer-offline");
    assert.equal(relay.logs.length, 1);
    assert.match(relay.logs[0], /injected fault/);
    // The queue survives: the victim logs in again and gets what was sent meanwhile.
    assert.equal((await ca.sendMessage(victim.identity.id, new Uint8Array([9]))).type, "queued");
    const { client } = await TestClient.login(relay.port, victim);
    assert.deepEqual((await client.next("deliver")).body, new Uint8Array([9]));
    await client.close();
    await ca.close();
    await stillServing(relay);
  } finally {
    await relay.close();
  }
});

/** Logs in on a connection that then stops reading; returns it. */
async function loginThenStopReading(port: number, user: TestUser): Promise<TestClient> {
  const client = await TestClient.connect(port, false);
  const splitter = new FrameSplitter();
  const frames: ServerFrame[] = [];
  const read = async () => {
    while (frames.length === 0) {
      const chunk = await client.conn.readChunk();
      if (chunk === null) throw new Error("closed");
      frames.push(...splitter.push(chunk).map(decodeServerFrame));
    }
    return frames.shift()!;
  };
  const challenge = await read();
  assert.equal(challenge.type, "challenge");
  if (challenge.type !== "challenge") throw new Error("no challenge");
  await client.send(loginFrame(client.conn, user, challenge.nonce));
  for (let f = await read(); f.type !== "welcome"; f = await read());
  return client;
}

Deno.test("robustness: a slow reader is dropped and does not stall anyone else", async () => {
  const relay = await startRelay({
    deliveryWindow: 100_000,
    deliveryWindowBytes: 1 << 30,
    maxQueuedBytes: 256 * 1024,
    writeStallMs: 2000,
  });
  try {
    const alice = makeUser(1), bob = makeUser(1), carol = makeUser(1);
    const { ca, cb } = await openChat(relay.port, alice, bob);
    const { client: cc } = await TestClient.login(relay.port, carol);
    await cc.upload(carol);
    await ca.request({ type: "request-chat", requestId: 0, peerId: carol.identity.id, curve: "P-256" });
    await cc.request({ type: "request-chat", requestId: 0, peerId: alice.identity.id, curve: "P-256" });
    await ca.next("chat-opened");
    await cc.next("chat-opened");
    await cb.close();
    await ca.next("peer-offline");
    const slow = await loginThenStopReading(relay.port, bob);
    await ca.next("peer-online");
    const body = new Uint8Array(60_000);
    let sent = 0, dropped = false;
    const offline = ca.next("peer-offline").then(() => void (dropped = true));
    const answers: Promise<{ type: string }>[] = [];
    const flood = (async () => {
      // Until the relay drops Bob (Alice sees him go offline), or 24 MB at most; a Ping every ten
      // messages waits until the relay has taken them (it reads each connection's frames in order).
      for (; sent < 400 && !dropped; sent++) {
        answers.push(ca.sendMessage(bob.identity.id, body));
        if (sent % 10 === 9) await ca.request({ type: "ping", requestId: 0 });
      }
    })();
    // Meanwhile Carol and Alice chat, unhindered.
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const queued = cc.sendMessage(alice.identity.id, Uint8Array.of(i));
      const d = await ca.next("deliver");
      assert.deepEqual(d.body, Uint8Array.of(i));
      await ca.send({ type: "ack", ids: [d.messageId] });
      assert.equal((await queued).type, "queued");
      assert.ok(performance.now() - t < 5000, "a round trip took more than 5 s");
    }
    await offline;
    await flood;
    assert.ok(sent < 400, "the slow reader was never dropped");
    // Every message is accepted: held ones are stored when their recipient is dropped.
    for (const a of await Promise.all(answers)) assert.equal(a.type, "queued");
    await slow.close();
    // Nothing acknowledged was lost: it is all still queued for Bob.
    const { client, welcome } = await TestClient.login(relay.port, bob);
    assert.equal(welcome.type === "welcome" && welcome.queued, sent);
    for (const c of [client, ca, cc]) await c.close();
  } finally {
    await relay.close();
  }
});

Deno.test("robustness: a flood of requests is slowed to the frame rate, without errors", async () => {
  const relay = await startRelay({ framesPerSecond: 100, frameBurst: 10 });
  try {
    const { client } = await TestClient.login(relay.port, makeUser(0));
    const t = performance.now();
    const pings = [];
    for (let i = 0; i < 60; i++) pings.push(encodeFrame({ type: "ping", requestId: 1000 + i }));
    await client.sendRaw(new Uint8Array(pings.flatMap((p) => [...p])));
    for (let i = 0; i < 60; i++) {
      assert.equal((await client.next("result", (r) => r.requestId === 1000 + i)).code, "ok");
    }
    // 10 at once, then 100 per second: at least 0.4 s for the other 50.
    assert.ok(performance.now() - t >= 400, `60 pings took only ${performance.now() - t} ms`);
    await client.close();
  } finally {
    await relay.close();
  }
});

Deno.test("robustness: shutdown tells every connection and closes it", async () => {
  const relay = await startRelay();
  const a = makeUser(0), b = makeUser(0);
  const { client: ca } = await TestClient.login(relay.port, a);
  const { client: cb } = await TestClient.login(relay.port, b);
  const raw = await TestClient.connect(relay.port);
  await raw.next("challenge");
  await relay.close();
  for (const c of [ca, cb, raw]) {
    await c.next("shutdown");
    await c.done;
  }
});
