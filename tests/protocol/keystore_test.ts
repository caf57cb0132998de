// The sealed keystore: contents survive seal → unlock exactly, a wrong passphrase is told apart from a
// damaged file, any altered byte is refused, the KDF parameters are read from the header and held to
// the minimum, and malformed contents are refused by the decoder.

import assert from "node:assert/strict";
import { equalBytes, utf8 } from "../../crypto/bytes.ts";
import {
  type ChatRecord,
  decodeContents,
  DEFAULT_ITERATIONS,
  encodeContents,
  type KeystoreContents,
  KeystoreFormatError,
  KeystoreKey,
  keystoreParams,
  MIN_ITERATIONS,
  openKeystore,
  sealKeystore,
  unlockKeystore,
  WrongPassphraseError,
} from "../../protocol/keystore.ts";
import { newEntry } from "../../protocol/history.ts";
import { Writer } from "../../protocol/codec.ts";
import { encodeIdentity, encodeIdentityPublic } from "../../protocol/identity.ts";
import { curveId } from "../../protocol/suite.ts";
import { flip, makePair, seededRandom, T0 } from "./_helpers.ts";

const random = seededRandom("keystore test");

function sampleContents(): KeystoreContents {
  const pair = makePair("P-256", { random });
  const chat: ChatRecord = {
    peerId: pair.b.id,
    state: "open",
    role: "initiator",
    curve: "P-256",
    nickname: "bob",
    peerNickname: "Robert ☃",
    peerIdentity: pair.b.publicKeys,
    session: pair.alice,
    nextTextId: 7,
    unread: 2,
    updatedAt: T0 + 5,
    history: [
      newEntry({
        seq: 1,
        kind: "out",
        status: "delivered",
        textId: 1,
        messageId: random(16),
        time: T0,
        text: "hi",
      }),
      newEntry({ seq: 2, kind: "in", textId: 1, time: T0 + 1, text: "hello ✓" }),
      newEntry({ seq: 3, kind: "system", time: T0 + 2, text: "x" }),
    ],
    incoming: [{
      fileId: random(16),
      name: "notes.txt",
      path: "files/.partial-1",
      size: 70000,
      sha256: random(32),
      received: 32704,
      nextIndex: 1,
      accepted: true,
    }, {
      fileId: random(16),
      name: "offered.pdf",
      path: "files/.partial-2",
      size: 9000,
      sha256: random(32),
      received: 0,
      nextIndex: 0,
      accepted: false,
    }],
    verified: random(32),
    warning: "name-moved",
    muted: true,
    timer: 3600,
    timerEpoch: 4,
    timerBy: "peer",
    nextSeq: 4,
  };
  const requested: ChatRecord = {
    ...chat,
    peerId: random(20),
    state: "requested",
    role: "unknown",
    curve: "P-521",
    nickname: "",
    peerNickname: "",
    peerIdentity: null,
    session: null,
    history: [],
    incoming: [],
    verified: null,
    warning: "none",
    muted: false,
    timer: 0,
    timerEpoch: 0,
    timerBy: "nobody",
    nextSeq: 1,
  };
  return {
    identity: pair.a,
    prekeys: pair.store,
    createdAt: T0,
    pins: new Map([["127.0.0.1:6174", "A".repeat(42) + "A"]]),
    registered: new Set(["B".repeat(42) + "A"]),
    chats: [chat, requested],
    outbox: [
      {
        messageId: random(16),
        peerId: pair.b.id,
        kind: "message",
        bytes: random(200),
        textId: 3,
        createdAt: T0,
        expiresAt: T0 + 30_000,
      },
      {
        messageId: random(16),
        peerId: requested.peerId,
        kind: "payload",
        bytes: random(9),
        textId: 0,
        createdAt: 1,
        expiresAt: 0,
      },
    ],
    blocked: [random(20), random(20)],
    settings: new Map([["read-receipts", "on"], ["history-lines", "500"]]),
  };
}

/** A version 2 encoding (the layout before the history moved out), written here as the old code did. */
function encodeV2(c: KeystoreContents): Uint8Array {
  const w = new Writer(1 << 16).u8(2);
  w.vec16(encodeIdentity(c.identity)).u64(c.createdAt).vec32(c.prekeys.serialize());
  w.u16(c.pins.size);
  for (const [server, pin] of c.pins) w.vec16(utf8(server)).vec16(utf8(pin));
  w.u16(c.registered.size);
  for (const pin of c.registered) w.vec16(utf8(pin));
  w.u16(c.chats.length);
  for (const chat of c.chats) {
    w.bytes(chat.peerId).u8(["requested", "open", "closed"].indexOf(chat.state));
    w.u8(["unknown", "initiator", "responder"].indexOf(chat.role)).u8(curveId(chat.curve));
    w.vec16(utf8(chat.nickname)).vec16(utf8(chat.peerNickname));
    if (chat.peerIdentity === null) w.u8(0);
    else w.u8(1).vec16(encodeIdentityPublic(chat.peerIdentity));
    if (chat.session === null) w.u8(0);
    else w.u8(1).vec32(chat.session.serialize());
    w.u32(chat.nextTextId).u32(chat.unread).u64(chat.updatedAt);
    w.u16(chat.history.length);
    for (const h of chat.history) {
      w.u8(["in", "out", "system"].indexOf(h.kind)).u8(
        ["none", "pending", "queued", "delivered", "failed"].indexOf(h.status),
      );
      w.u32(h.textId).vec8(h.messageId).u64(h.time).vec16(utf8(h.text));
    }
    w.u16(chat.incoming.length);
    for (const f of chat.incoming) {
      w.bytes(f.fileId).vec16(utf8(f.name)).vec16(utf8(f.path)).u64(f.size).bytes(f.sha256);
      w.u64(f.received).u32(f.nextIndex).u8(f.accepted ? 1 : 0);
    }
  }
  w.u32(c.outbox.length);
  for (const e of c.outbox) {
    w.bytes(e.messageId).bytes(e.peerId).u8(e.kind === "payload" ? 0 : 1).vec32(e.bytes).u32(e.textId).u64(
      e.createdAt,
    );
  }
  w.u16(c.blocked.length);
  for (const id of c.blocked) w.bytes(id);
  return w.finish();
}

/** What a version 1 or 2 keystore cannot hold: the new chat fields, expiries and settings at their defaults. */
function asOld(c: KeystoreContents): KeystoreContents {
  return {
    ...c,
    chats: c.chats.map((chat) => ({
      ...chat,
      verified: null,
      warning: "none",
      muted: false,
      timer: 0,
      timerEpoch: 0,
      timerBy: "nobody",
      nextSeq: chat.history.length + 1,
    })),
    outbox: c.outbox.map((e) => ({ ...e, expiresAt: 0 })),
    settings: new Map(),
  };
}

// One key derivation per passphrase costs about a second, so the slow tests share these.
const PASSPHRASE = "correct horse battery staple é"; // "é" precomposed (NFC)
const contents = sampleContents();
const key = KeystoreKey.create(PASSPHRASE, { random });
const sealed = sealKeystore(key, contents, random);

Deno.test("keystore: contents round-trip through seal and unlock (passphrase compared after NFC)", () => {
  const decomposed = "correct horse battery staple e\u0301";
  assert.notEqual(decomposed, PASSPHRASE);
  const { key: again, contents: back } = unlockKeystore(decomposed, sealed);
  assert.ok(equalBytes(encodeContents(back), encodeContents(contents)));
  assert.equal(back.chats[0].session!.serialize().length > 0, true);
  assert.ok(equalBytes(back.identity.id, contents.identity.id));
  assert.equal(back.pins.get("127.0.0.1:6174"), contents.pins.get("127.0.0.1:6174"));
  // The derived key seals again without another derivation, and opens its own output.
  const resealed = sealKeystore(again, back, random);
  assert.ok(equalBytes(encodeContents(openKeystore(key, resealed)), encodeContents(contents)));
  again.wipe();
});

Deno.test("keystore: version 1 contents (no block list, no file answers) still decode", () => {
  const c = sampleContents();
  for (const chat of c.chats) chat.incoming = [];
  c.blocked = [];
  const v2 = encodeV2(c);
  // Version 1 is version 2 without the trailing u16 count of blocked IDs (and no per-file answer byte).
  const v1 = Uint8Array.of(1, ...v2.subarray(1, v2.length - 2));
  assert.ok(equalBytes(encodeContents(decodeContents(v1)), encodeContents(asOld(c))));
  assert.deepEqual(decodeContents(v1).blocked, []);
});

Deno.test("keystore: version 2 contents decode with their history lines, numbered, for the history file", () => {
  const c = sampleContents();
  const back = decodeContents(encodeV2(c));
  assert.ok(equalBytes(encodeContents(back), encodeContents(asOld(c))));
  assert.deepEqual(back.chats[0].history.map((h) => [h.seq, h.kind, h.status, h.text]), [
    [1, "out", "delivered", "hi"],
    [2, "in", "none", "hello ✓"],
    [3, "system", "none", "x"],
  ]);
  assert.equal(back.chats[0].nextSeq, 4);
  // Version 3 keeps no history inside: it lives in its own file.
  assert.deepEqual(decodeContents(encodeContents(c)).chats[0].history, []);
  assert.equal(decodeContents(encodeContents(c)).chats[0].nextSeq, 4);
});

Deno.test("keystore: a wrong passphrase is reported as such, in one sentence", () => {
  assert.throws(() => unlockKeystore("correct horse battery stapler", sealed), (e) => {
    assert.ok(e instanceof WrongPassphraseError);
    assert.match(e.message, /^[A-Z][^\n]*\.$/);
    return true;
  });
});

Deno.test("keystore: the header records the KDF parameters; each write has a fresh nonce", () => {
  const params = keystoreParams(sealed);
  assert.equal(params.iterations, DEFAULT_ITERATIONS);
  assert.ok(params.iterations >= 210_000);
  assert.equal(params.salt.length, 32);
  assert.ok(equalBytes(params.salt, key.params.salt));
  const again = key.seal(utf8("x"), random);
  const other = key.seal(utf8("x"), random);
  assert.ok(!equalBytes(again, other));
  assert.equal(new TextDecoder().decode(key.open(again)), "x");
});

Deno.test("keystore: every altered byte is refused; the check value decides a wrong passphrase", () => {
  const small = key.seal(utf8("secret contents"), random);
  const headerLength = small.length - "secret contents".length - 16;
  for (let at = 0; at < small.length; at++) {
    const bad = flip(small, at, at % 8);
    assert.throws(() => key.open(bad), (e) => {
      // The check value (16 bytes before the cipher byte and nonce) makes a wrong passphrase; the magic,
      // version, KDF, parameters, cipher, nonce and ciphertext make a format error.
      const inCheck = at >= headerLength - 25 - 16 && at < headerLength - 25;
      assert.ok(
        inCheck ? e instanceof WrongPassphraseError : e instanceof KeystoreFormatError,
        `byte ${at}: ${e}`,
      );
      return true;
    });
  }
  assert.throws(() => key.open(small.subarray(0, headerLength + 15)), KeystoreFormatError);
  assert.throws(() => key.open(new Uint8Array(3)), KeystoreFormatError);
  assert.throws(() => keystoreParams(utf8('{"version": 1}')), /not a sotto keystore/);
});

Deno.test("keystore: too few iterations are refused in the header and as an argument", () => {
  // Rewrite the iteration count (after the 8-byte magic, version and KDF bytes) to the minimum minus one.
  const bad = sealed.slice();
  new DataView(bad.buffer).setUint32(10, MIN_ITERATIONS - 1);
  assert.throws(() => keystoreParams(bad), KeystoreFormatError);
  const salt = new Uint8Array(32);
  assert.throws(
    () => KeystoreKey.derive("pass phrase", { iterations: MIN_ITERATIONS - 1, salt }),
    RangeError,
  );
  assert.throws(() => KeystoreKey.derive("pass phrase", { iterations: 1.5, salt }), TypeError);
  assert.throws(
    () => KeystoreKey.derive("pass", { iterations: MIN_ITERATIONS, salt: salt.subarray(20) }),
    RangeError,
  );
  assert.throws(() => KeystoreKey.derive("", { iterations: MIN_ITERATIONS, salt }), RangeError);
  assert.throws(
    () => KeystoreKey.derive(42 as unknown as string, { iterations: MIN_ITERATIONS, salt }),
    TypeError,
  );
});

Deno.test("keystore: malformed contents are refused", () => {
  const good = encodeContents(contents);
  assert.throws(() => decodeContents(new Uint8Array([...good, 0])), /trailing/);
  assert.throws(() => decodeContents(good.subarray(0, good.length - 1)), /truncated/);
  assert.throws(() => decodeContents(new Uint8Array([4, ...good.subarray(1)])), /not supported/);
  const blockedTwice = { ...contents, blocked: [contents.blocked[0], contents.blocked[0]] };
  assert.throws(() => decodeContents(encodeContents(blockedTwice)), /blocked twice/);
  const twice = { ...contents, chats: [contents.chats[0], contents.chats[0]] };
  assert.throws(() => decodeContents(encodeContents(twice)), /two chats/);
  const badPin = { ...contents, pins: new Map([["host:1", "not a pin"]]) };
  assert.throws(() => decodeContents(encodeContents(badPin)), /not a pin/);
  // Sealed garbage that authenticates is still checked: a format error, not a crash.
  assert.throws(() => openKeystore(key, key.seal(utf8("garbage"), random)), KeystoreFormatError);
});

Deno.test("keystore: settings keep their names and values; bad names and too many are refused", () => {
  const back = decodeContents(encodeContents(contents));
  assert.deepEqual([...back.settings], [["read-receipts", "on"], ["history-lines", "500"]]);
  const many = { ...contents, settings: new Map(Array.from({ length: 65 }, (_, i) => [`s${i}`, "x"])) };
  assert.throws(() => encodeContents(many), RangeError);
  const bad = { ...contents, settings: new Map([["Bad Name", "x"]]) };
  assert.throws(() => decodeContents(encodeContents(bad)), /setting name/);
});
