// The chats against a relay in memory (tests/client/_fake.ts): mutual requests open a chat, texts go
// both ways with their delivery marks and JSON events, nothing leaves before the keystore holds the
// session that made it, nothing is acknowledged before the keystore holds it, the queue survives being
// offline and a restart, texts typed before the chat opens are kept, duplicates and garbage are dropped,
// files arrive intact, and closing tells the peer.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { formatId } from "../../protocol/identity.ts";
import { ChatError, runCommand } from "../../client/actions.ts";
import { parseLine } from "../../client/commands.ts";
import { eventToJson } from "../../client/events.ts";
import { type FakeRelay, reloaded, User, withWorld as sharedWorld } from "./_fake.ts";

function withWorld(fn: (relay: FakeRelay, alice: User, bob: User, dir: string) => Promise<void>) {
  return sharedWorld("sotto-chats-", fn);
}

async function type(user: User, line: string): Promise<void> {
  await runCommand(user.client, parseLine(line)!);
}

async function open(relay: FakeRelay, alice: User, bob: User): Promise<void> {
  await relay.connect(alice);
  await relay.connect(bob);
  await type(alice, `/chat ${formatId(bob.id)} bob`);
  await relay.settle();
  await type(bob, `/chat ${formatId(alice.id)} alice`);
  await relay.settle();
}

Deno.test("chats: a mutual request opens the chat; texts go both ways with marks and JSON events", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    assert.deepEqual(alice.of("chat-open").map((e) => [e.role, e.nick]), [["initiator", "bob"]]);
    assert.deepEqual(bob.of("chat-open").map((e) => [e.role, e.nick]), [["responder", "alice"]]);
    await type(alice, "hello bob");
    await relay.settle();
    await type(bob, "hi alice ☃");
    await relay.settle();
    const got = bob.of("message");
    assert.deepEqual(got.map((m) => [m.text, m.id, m.nick, m.chat]), [[
      "hello bob",
      1,
      "alice",
      formatId(alice.id),
    ]]);
    assert.deepEqual(alice.of("message").map((m) => m.text), ["hi alice ☃"]);
    assert.deepEqual(alice.of("queued").map((e) => [e.id, e.at]), [[1, "relay"]]);
    assert.deepEqual(alice.of("delivered").map((e) => e.id), [1]);
    const history = alice.client.chat(bob.id)!.history.filter((h) => h.kind !== "system");
    assert.deepEqual(history.map((h) => [h.kind, h.text, h.status]), [
      ["out", "hello bob", "delivered"],
      ["in", "hi alice ☃", "read"],
    ]);
    // Every event is one line of JSON that parses back to itself.
    for (const e of [...alice.events, ...bob.events]) {
      const line = eventToJson(e);
      assert.ok(!line.includes("\n"));
      assert.deepEqual(JSON.parse(line), { v: 1, ...e });
    }
    assert.equal(relay.queued(alice) + relay.queued(bob), 0, "everything was acknowledged");
    // The safety numbers agree.
    await type(alice, "/verify");
    await type(bob, "/verify");
    assert.equal(alice.of("safety-number")[0].number, bob.of("safety-number")[0].number);
    assert.match(alice.of("safety-number")[0].number, /^(\d{5} ){11}\d{5}$/);
  });
});

Deno.test("chats: a message leaves only once the keystore holds the session that made it", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    const before = alice.link!.sent.length;
    alice.store.hold();
    await type(alice, "not yet");
    await relay.settle();
    assert.equal(alice.link!.sent.length, before, "nothing was sent before the write");
    const writes = alice.store.writes;
    alice.store.release();
    await relay.settle();
    assert.ok(alice.store.writes > writes);
    assert.equal(alice.link!.sent.filter((f) => f.type === "send").length, 2); // the opening and "not yet"
    assert.deepEqual(bob.of("message").map((m) => m.text), ["not yet"]);
  });
});

Deno.test("chats: a message is acknowledged only once the keystore holds it", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    bob.store.hold();
    await type(alice, "keep me");
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["keep me"]);
    const acks = () => bob.link!.sent.filter((f) => f.type === "ack").length;
    const acked = acks();
    assert.equal(relay.queued(bob), 1, "the relay still holds it");
    bob.store.release();
    await relay.settle();
    assert.equal(acks(), acked + 1);
    assert.equal(relay.queued(bob), 0);
    assert.deepEqual(alice.of("delivered").map((e) => e.id), [1]);
  });
});

Deno.test("chats: typed while offline goes out on reconnect, even after a restart", async () => {
  await withWorld(async (relay, alice, bob, dir) => {
    await open(relay, alice, bob);
    relay.disconnect(alice);
    await type(alice, "one");
    await type(alice, "two");
    assert.deepEqual(alice.of("queued").map((e) => [e.id, e.at]), [[1, "client"], [2, "client"]]);
    await alice.client.shutdown();
    // A restart: the keystore as written, decoded into a new client.
    const contents = reloaded(alice.store.contents);
    const restarted = relay.replace(alice, new User("alice", join(dir, "alice"), contents));
    assert.equal(restarted.store.contents.outbox.length, 2);
    await relay.connect(restarted);
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["one", "two"]);
    assert.deepEqual(restarted.of("delivered").map((e) => e.id), [1, 2]);
    assert.equal(restarted.store.contents.outbox.length, 0);
  });
});

Deno.test("B4: ✓✓ reaches a sender who was offline when the message was delivered", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    relay.disconnect(bob);
    await type(alice, "while you were away");
    await relay.settle();
    assert.deepEqual(alice.of("queued").map((e) => [e.id, e.at]), [[1, "relay"]]);
    relay.disconnect(alice);
    await relay.connect(bob); // bob reads and acknowledges it while alice is offline
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["while you were away"]);
    assert.equal(relay.queued(bob), 0);
    await relay.connect(alice);
    await relay.settle();
    assert.deepEqual(alice.of("delivered").map((e) => e.id), [1]);
    const line = alice.client.chat(bob.id)!.history.find((h) => h.kind === "out")!;
    assert.equal(line.status, "delivered");
  });
});

Deno.test("B4: ✓✓ is the peer's end-to-end receipt, not the relay's word", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    relay.disconnect(bob);
    await type(alice, "not read yet");
    await relay.settle();
    const line = alice.client.chat(bob.id)!.history.find((h) => h.kind === "out")!;
    // A relay claiming delivery of a message bob never got changes nothing.
    await alice.client.frame({ type: "delivered", peerId: bob.id, messageId: line.messageId });
    assert.equal(line.status, "queued");
    assert.equal(alice.of("delivered").length, 0);
    // Nor can it forge the receipt: it would have to be a ratchet message from bob.
    await relay.connect(bob);
    await relay.settle();
    assert.equal(line.status, "delivered");
    assert.ok(bob.link!.sent.some((f) => f.type === "send"), "bob's receipt went through the relay");
  });
});

Deno.test("chats: texts typed before the chat opens are kept and sent first", async () => {
  await withWorld(async (relay, alice, bob) => {
    await relay.connect(alice);
    await relay.connect(bob);
    await type(alice, `/chat ${formatId(bob.id)}`);
    await type(alice, "are you there?");
    assert.deepEqual(alice.of("queued").map((e) => e.at), ["client"]);
    await relay.settle();
    await type(bob, `/chat ${formatId(alice.id)}`);
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["are you there?"]);
    assert.deepEqual(alice.of("delivered").map((e) => e.id), [1]);
  });
});

Deno.test("chats: repeats are dropped quietly, garbage with one sentence, both acknowledged", async () => {
  await withWorld(async (relay, alice, bob) => {
    await open(relay, alice, bob);
    await type(alice, "once");
    await relay.settle();
    const send = alice.link!.sent.filter((f) => f.type === "send").at(-1)!;
    assert.equal(send.type, "send");
    if (send.type !== "send") return;
    // The same message again (a resend after a lost Queued), then bytes that are no message.
    await bob.client.frame({
      type: "deliver",
      from: alice.id,
      messageId: systemRandom(16),
      queuedAt: 0,
      body: send.body,
    });
    const garbage = new Uint8Array(200).fill(7);
    await bob.client.frame({
      type: "deliver",
      from: alice.id,
      messageId: systemRandom(16),
      queuedAt: 0,
      body: garbage,
    });
    await relay.settle();
    assert.deepEqual(bob.of("message").map((m) => m.text), ["once"]);
    const errors = bob.of("error");
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /^A message from alice could not be read and was dropped \(.*\)\.$/);
    const acked = bob.link!.sent.filter((f) => f.type === "ack").flatMap((
      f,
    ) => (f.type === "ack" ? f.ids : []));
    assert.ok(acked.length >= 4);
  });
});

Deno.test("chats: a file arrives intact, saved under a safe name, never opened", async () => {
  await withWorld(async (relay, alice, bob, dir) => {
    await open(relay, alice, bob);
    const data = systemRandom(100_000);
    const path = join(dir, "a photo.jpg");
    await Deno.writeFile(path, data);
    await type(alice, `/file ${path}`);
    for (let i = 0; i < 200 && bob.of("file-offer").length === 0; i++) await relay.settle();
    await type(bob, "/accept");
    for (let i = 0; i < 200 && alice.of("file-sent").length === 0; i++) await relay.settle();
    const received = bob.of("file-received");
    assert.equal(received.length, 1);
    assert.equal(received[0].name, "a photo.jpg");
    assert.equal(received[0].path, join(dir, "bob", "files", "a photo.jpg"));
    assert.deepEqual(await Deno.readFile(received[0].path), data);
    assert.ok(bob.of("file-progress").at(-1)!.bytes === data.length);
    assert.ok(alice.of("file-progress").some((e) => e.direction === "send" && e.bytes === data.length));
    assert.equal(bob.client.chat(alice.id)!.incoming.length, 0);
  });
});

Deno.test("files: nothing is streamed before the peer accepts; a declined file ends the transfer", async () => {
  await withWorld(async (relay, alice, bob, dir) => {
    await open(relay, alice, bob);
    const path = join(dir, "big.bin");
    await Deno.writeFile(path, systemRandom(300_000));
    const sends = () => alice.link!.sent.filter((f) => f.type === "send").length;
    const before = sends();
    await type(alice, `/file ${path}`);
    for (let i = 0; i < 200 && bob.of("file-offer").length === 0; i++) await relay.settle();
    await relay.settle();
    assert.equal(sends() - before, 1, "only the offer left");
    assert.deepEqual(alice.of("file-offer").map((e) => e.direction), ["send"]);
    assert.equal(alice.client.transfers.active.length, 0, "no progress bar before an answer");
    await assert.rejects(() => Deno.stat(join(dir, "bob", "files")), Deno.errors.NotFound);
    await type(bob, "/decline big.bin");
    for (let i = 0; i < 200 && alice.of("file-declined").length === 0; i++) await relay.settle();
    assert.deepEqual(alice.of("file-declined").map((e) => [e.direction, e.name]), [["send", "big.bin"]]);
    assert.equal(alice.client.transfers.count(bob.id), 0);
    assert.equal(sends() - before, 1, "still only the offer: a declined file is never streamed");
    await assert.rejects(() => Deno.stat(join(dir, "bob", "files")), Deno.errors.NotFound);
    await assert.rejects(() => type(bob, "/accept"), /No file waits for an answer/);
  });
});

Deno.test("chats: commands that cannot be done say why; closing tells the peer", async () => {
  await withWorld(async (relay, alice, bob) => {
    await relay.connect(alice);
    await assert.rejects(
      () => type(alice, "hello"),
      (e) => e instanceof ChatError && /no active chat/.test(e.message),
    );
    await assert.rejects(() => type(alice, "/verify"), /no active chat/);
    await assert.rejects(() => type(alice, `/chat ${formatId(alice.id)}`), /your own ID/);
    await assert.rejects(() => type(alice, "/switch nobody"), /No chat is called "nobody"/);
    await relay.connect(bob);
    await type(alice, `/chat ${formatId(bob.id)} bob`);
    await assert.rejects(() => type(alice, "/nick Al"), /not open yet/);
    await assert.rejects(() => type(alice, "/file /etc/hostname"), /not open yet/);
    await type(bob, `/chat ${formatId(alice.id)}`);
    await relay.settle();
    await type(alice, "/nick Al");
    await relay.settle();
    assert.deepEqual(bob.of("nickname").map((e) => e.name), ["Al"]);
    assert.equal(bob.client.chats[0].peerNickname, "Al");
    await type(bob, "/switch ~al");
    await type(bob, `/switch ${formatId(alice.id).slice(0, 6)}`);
    assert.equal(bob.of("switched").length, 2);
    await type(alice, "/close");
    assert.equal(alice.client.chat(bob.id)!.state, "closed");
    assert.deepEqual(alice.link!.requests.at(-1), { type: "close-chat", peerId: bob.id });
    await bob.client.frame({ type: "chat-closed", eventId: systemRandom(16), peerId: alice.id });
    assert.deepEqual(bob.of("peer-closed").map((e) => e.chat), [formatId(alice.id)]);
    await assert.rejects(() => type(alice, "still there?"), /is closed; \/chat .* asks again/);
    relay.disconnect(alice);
    await assert.rejects(() => type(alice, `/block ${formatId(bob.id)}`), /offline/);
  });
});
