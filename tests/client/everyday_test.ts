// The client's plumbing for the relay frames of issue 12: the outbox gives the relay what is left of a
// disappearing message's lifetime and never sends a lapsed one; withdrawing a message drops it here if it
// has not left, asks the relay otherwise (now or at the next connection); the link sends SendExpiring and
// Withdraw and routes the answer; against an older relay (one that ends the connection on a frame type it
// does not know) the connector stops sending the newer frames. Through a real relay on 127.0.0.1.

import assert from "node:assert/strict";
import { bytesToHex, systemRandom } from "../../crypto/bytes.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import { formatId, generateIdentity, type Identity } from "../../protocol/identity.ts";
import type { ChatRecord, KeystoreContents } from "../../protocol/keystore.ts";
import { PrekeyStore } from "../../protocol/prekeys.ts";
import type { ClientFrame, ServerFrame, WithdrawOutcome } from "../../protocol/wire.ts";
import type { Clock } from "../../client/backoff.ts";
import {
  Connector,
  type ConnectorHandlers,
  type LinkOptions,
  RelayLink,
  UnsupportedByRelayError,
} from "../../client/connection.ts";
import { Outbox, type Sender } from "../../client/outbox.ts";
import { CommandError, HELP, parseLine } from "../../client/commands.ts";
import { eventToText } from "../../client/events.ts";
import { makeUser, startRelay, TestClient, type TestRelay } from "../server/_helpers.ts";

/** A clock whose sleeps last 5 ms of real time. */
const fastClock: Clock = {
  now: () => Date.now(),
  sleep: (_ms, signal) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 5);
      signal?.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    }),
};

/** Waits (at most 20 s) until `test` holds. */
async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A chat whose "session" passes bytes through: the outbox only needs `encrypt`. */
function chatWith(peerId: Uint8Array): ChatRecord {
  return { peerId, session: { encrypt: (b: Uint8Array) => b } } as unknown as ChatRecord;
}

/** An outbox over an empty queue, and what it sent. */
function outbox(now = () => Date.now()) {
  const contents = { outbox: [] } as unknown as KeystoreContents;
  const box = new Outbox({
    contents,
    save: () => Promise.resolve(),
    random: systemRandom,
    clock: { now, sleep: fastClock.sleep },
  });
  return { box, contents };
}

/** A sender that records what it is given and answers withdrawals with `answer`. */
function recorder(answer: () => Promise<WithdrawOutcome> = () => Promise.resolve("withdrawn")) {
  const sent: Parameters<Sender["send"]>[0][] = [], withdrawn: string[] = [];
  const sender: Sender = {
    send: (f) => void sent.push(f),
    withdraw: (to, messageId) => {
      withdrawn.push(`${bytesToHex(to)}:${bytesToHex(messageId)}`);
      return answer();
    },
  };
  return { sender, sent, withdrawn };
}

const text = (t: string) => ({ type: "text", id: 1, text: t }) as const;
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("outbox: a disappearing message leaves with what is left of its lifetime; a lapsed one never", async () => {
  let now = 1_000_000;
  const { box, contents } = outbox(() => now);
  const { sender, sent } = recorder();
  box.attach(sender);
  const peer = systemRandom(20), chat = chatWith(peer);
  box.add(chat, text("plain"), 1);
  const expiring = box.add(chat, text("vanishing"), 2, { expiresAt: now + 30_000 });
  assert.equal(expiring.expiresAt, now + 30_000);
  await settle();
  assert.deepEqual(sent.map((f) => f.type === "send" && f.ttl), [undefined, 30_000]);
  // Not answered; the link goes; by the next one 10 s have passed, and another entry has lapsed.
  box.detach();
  box.add(chat, text("too late"), 3, { expiresAt: now + 5_000 });
  now += 10_000;
  box.attach(sender);
  await settle();
  assert.deepEqual(sent.slice(2).map((f) => f.type === "send" && f.ttl), [undefined, 20_000]);
  assert.equal(contents.outbox.length, 2, "the lapsed entry was dropped, never sent");
  assert.throws(() => box.add(chat, text("x"), 4, { expiresAt: NaN }), RangeError);
  box.stop();
});

Deno.test("outbox: withdraw drops an entry that has not left, asks the relay for one that may have", async () => {
  const { box, contents } = outbox();
  const peer = systemRandom(20), chat = chatWith(peer);
  // Never handed to a link: dropped here, the relay is not asked.
  const early = box.add(chat, text("never sent"), 1);
  assert.equal(await box.withdraw(peer, early.messageId), "unsent");
  const r = recorder(() => Promise.resolve("sent"));
  box.attach(r.sender);
  await settle();
  assert.deepEqual(r.sent, [], "it never leaves");
  // Sent and not yet answered: dropped here (not sent again) and withdrawn at the relay.
  const m = box.add(chat, text("sent"), 2);
  await settle();
  assert.equal(r.sent.length, 1);
  assert.equal(await box.withdraw(peer, m.messageId), "sent");
  assert.deepEqual(r.withdrawn, [`${bytesToHex(peer)}:${bytesToHex(m.messageId)}`]);
  box.detach();
  box.attach(r.sender);
  await settle();
  assert.equal(r.sent.length, 1, "not sent again on the next link");
  assert.equal(contents.outbox.length, 0);
  // Already taken by the relay (Queued): only the relay can withdraw it; offline it waits for a link.
  const q = box.add(chat, text("queued"), 3);
  await settle();
  assert.ok(box.take(q.messageId));
  box.detach();
  assert.equal(await box.withdraw(peer, q.messageId), "pending");
  const later = recorder(() => Promise.resolve("withdrawn"));
  box.attach(later.sender);
  await until(() => later.withdrawn.length === 1, "the withdrawal at the next connection");
  box.detach();
  const again = recorder();
  box.attach(again.sender);
  await settle();
  assert.deepEqual(again.withdrawn, [], "asked once it was answered");
  // A link that ends before the answer: asked again on the next; an older relay: "unsupported".
  const dying = recorder(() => Promise.reject(new Error("the connection to the relay ended")));
  box.detach();
  box.attach(dying.sender);
  assert.equal(await box.withdraw(peer, q.messageId), "pending");
  box.detach();
  const old = recorder(() => Promise.reject(new UnsupportedByRelayError()));
  box.attach(old.sender);
  await until(() => old.withdrawn.length === 1, "the retried withdrawal");
  assert.equal(await box.withdraw(peer, q.messageId), "unsupported");
  box.detach();
  box.attach({ send: () => {} });
  assert.equal(await box.withdraw(peer, q.messageId), "unsupported", "a link without withdraw");
  box.stop();
});

/** A logged-in RelayLink for `identity`, with its frames collected in the background. */
async function link(relay: TestRelay, identity: Identity, everyday = true) {
  const options: LinkOptions = {
    host: "127.0.0.1",
    port: relay.port,
    curve: "P-256",
    identity,
    dataDir: "/nonexistent",
    pins: { get: () => undefined, set: () => Promise.resolve() },
    clock: fastClock,
    everyday,
  };
  const l = await RelayLink.open(options);
  const frames: ServerFrame[] = [];
  const reading = (async () => {
    for await (const f of l.frames()) frames.push(f);
  })();
  return { link: l, frames, reading };
}

Deno.test("link: SendExpiring carries the ttl, Withdraw its answer, SetOptions brings ChatAsked", async () => {
  const seen: ClientFrame[] = [];
  const relay = await startRelay({}, { onFrame: (f) => void seen.push(f) });
  const identity = generateIdentity();
  const prekeys = PrekeyStore.create(identity, Date.now());
  const bob = makeUser();
  let a: Awaited<ReturnType<typeof link>> | null = null;
  try {
    a = await link(relay, identity);
    const { client: cb } = await TestClient.login(relay.port, bob);
    await cb.upload(bob);
    assert.equal(
      (await a.link.request({ type: "upload-prekeys", bundle: prekeys.bundle(identity.publicKeys) })).code,
      "ok",
    );
    // The requests inbox: Bob asks first and Alice, with the inbox on, is told.
    assert.equal((await a.link.request({ type: "set-options", options: 1 })).code, "ok");
    await cb.request({ type: "request-chat", requestId: 0, peerId: identity.id, curve: "P-256" });
    await until(() => a!.frames.some((f) => f.type === "chat-asked"), "ChatAsked");
    const asked = a.frames.find((f) => f.type === "chat-asked")!;
    assert.deepEqual(asked.type === "chat-asked" && asked.peerId, bob.identity.id);
    assert.equal(
      (await a.link.request({ type: "request-chat", peerId: bob.identity.id, curve: "P-256" })).code,
      "ok",
    );
    await until(() => a!.frames.some((f) => f.type === "chat-opened"), "ChatOpened");
    const opened = a.frames.find((f) => f.type === "chat-opened")!;
    a.link.send({ type: "ack", ids: [opened.type === "chat-opened" ? opened.eventId : new Uint8Array(16)] });
    await cb.send({ type: "ack", ids: [(await cb.next("chat-opened")).eventId] });
    await cb.close();

    // Through the outbox: a disappearing message goes as SendExpiring, then is withdrawn.
    const box = new Outbox({
      contents: { outbox: [] } as unknown as KeystoreContents,
      save: () => Promise.resolve(),
      random: systemRandom,
      clock: fastClock,
    });
    box.attach(a.link);
    const entry = box.add(chatWith(bob.identity.id), text("vanishing"), 1, {
      expiresAt: Date.now() + 60_000,
    });
    await until(() => a!.frames.some((f) => f.type === "queued"), "Queued");
    const sent = seen.find((f) => f.type === "send-expiring");
    assert.ok(sent && sent.type === "send-expiring", "sent as SendExpiring");
    assert.deepEqual(sent.messageId, entry.messageId);
    assert.ok(sent.ttl > 50_000 && sent.ttl <= 60_000, `ttl ${sent.ttl}`);
    assert.ok(box.take(entry.messageId));
    assert.equal(await box.withdraw(bob.identity.id, entry.messageId), "withdrawn");
    assert.equal(await a.link.withdraw(bob.identity.id, entry.messageId), "not-found");
    const { client: cb2, welcome } = await TestClient.login(relay.port, bob);
    assert.equal(welcome.queued, 0, "withdrawn at the relay");
    await cb2.close();
    box.stop();
    assert.deepEqual(relay.logs, []);
  } finally {
    await a?.link.close();
    await a?.reading;
    await relay.close();
  }
});

Deno.test("connector: after an older relay refuses a newer frame, later links send none", async () => {
  const newer = new Set(["set-options", "send-expiring", "withdraw", "dismiss-request"]);
  const seen: string[] = [];
  // A relay that behaves as one from before these frames: Error `unsupported`, and the connection ends.
  const relay = await startRelay({}, {
    onFrame: (f) => {
      seen.push(f.type);
      if (newer.has(f.type)) throw new ProtocolError("unsupported", "frame type 0x0b is not a client frame");
    },
  });
  const links: RelayLink[] = [], errors: ServerFrame[] = [];
  const handlers: ConnectorHandlers = {
    state: () => {},
    online: (l) => {
      links.push(l);
      return Promise.resolve();
    },
    frame: (f) => {
      if (f.type === "error") errors.push(f);
      return Promise.resolve();
    },
    offline: () => {},
    fatal: (e) => {
      throw e;
    },
  };
  const identity = generateIdentity();
  const connector = new Connector({
    host: "127.0.0.1",
    port: relay.port,
    curve: "P-256",
    identity,
    dataDir: "/nonexistent",
    pins: { get: () => undefined, set: () => Promise.resolve() },
    clock: fastClock,
  }, handlers);
  try {
    connector.start();
    await until(() => links.length === 1, "the first link");
    assert.equal(links[0].everyday, true);
    await assert.rejects(links[0].request({ type: "set-options", options: 1 }), /ended/);
    await until(() => links.length === 2, "the second link");
    assert.equal(errors[0]?.type === "error" && errors[0].code, "unsupported");
    const second = links[1];
    assert.equal(second.everyday, false);
    await assert.rejects(second.request({ type: "set-options", options: 1 }), UnsupportedByRelayError);
    await assert.rejects(second.withdraw(systemRandom(20), systemRandom(16)), UnsupportedByRelayError);
    second.send({
      type: "send",
      to: systemRandom(20),
      messageId: systemRandom(16),
      body: Uint8Array.of(1),
      ttl: 9,
    });
    assert.equal((await second.request({ type: "cancel-request", peerId: systemRandom(20) })).code, "ok");
    assert.deepEqual(seen, ["set-options", "send", "cancel-request"], "a plain Send, and nothing newer");
    assert.equal(links.length, 2);
  } finally {
    await connector.stop();
    await relay.close();
  }
});

Deno.test("commands: /requests [on|off] and /ignore ID", () => {
  const id = formatId(generateIdentity().id);
  assert.deepEqual(parseLine("/requests"), { name: "requests" });
  assert.deepEqual(parseLine("/requests ON"), { name: "requests", on: true });
  assert.deepEqual(parseLine("/requests off"), { name: "requests", on: false });
  assert.throws(() => parseLine("/requests maybe"), CommandError);
  const ignore = parseLine(`/ignore ${id}`);
  assert.equal(ignore?.name === "ignore" && formatId(ignore.peerId), id);
  assert.throws(() => parseLine("/ignore"), CommandError);
  assert.throws(() => parseLine("/ignore nonsense"), CommandError);
  assert.ok(HELP.some((l) => l.startsWith("/requests")) && HELP.some((l) => l.startsWith("/ignore")));
  const asked = eventToText({
    event: "chat-asked",
    chat: id,
    curve: "P-256",
    expires: "2030-01-01T00:00:00.000Z",
  });
  assert.equal(
    asked,
    `* ${id} asks to chat with you: /chat ${id} accepts, /ignore ${id} ignores, /block ${id} blocks`,
  );
});
