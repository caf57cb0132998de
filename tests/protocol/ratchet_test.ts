// The Double Ratchet beyond the scenarios: forward secrecy (a read message's key is gone from the state)
// and healing (a copy of Bob's state stops working after the next DH ratchet step), the skipped-key
// deletion policy (count, chains, age), padding, limits, every curve and cipher, and the session decoder.
import assert from "node:assert/strict";
import { equalBytes, utf8 } from "../../crypto/bytes.ts";
import { sha512 } from "../../crypto/sha2.ts";
import { generateIdentity } from "../../protocol/identity.ts";
import { PrekeyStore } from "../../protocol/prekeys.ts";
import { initiate, respond } from "../../protocol/x3dh.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import {
  MAX_PLAINTEXT,
  MAX_SKIP,
  MAX_SKIPPED_AGE,
  MAX_SKIPPED_CHAINS,
  MAX_SKIPPED_KEYS,
  paddedLength,
  Session,
} from "../../protocol/ratchet.ts";
import { decodeMessage, MAX_MESSAGE_BYTES, TAG_BYTES } from "../../protocol/message.ts";
import { type BodyCipher, CURVES } from "../../protocol/suite.ts";
import { contains, decisions, flip, makePair, rejects, str, T0, text, throwsCode } from "./_helpers.ts";

/** Encrypts with a trace attached and returns the message and its message key. */
function encryptWithKey(sender: Session, plaintext: string): { message: Uint8Array; mk: Uint8Array } {
  let mk = new Uint8Array(0);
  const traced = Session.deserialize(sender.serialize(), {
    trace: (label, v) => label === "kdf_ck.mk" && (mk = v.slice()),
  });
  const message = traced.encrypt(text(plaintext));
  // Keep the caller's session in step with the traced copy.
  sender.encrypt(text(plaintext));
  return { message, mk };
}

Deno.test("forward secrecy: a message key is gone from the state once the message is read", () => {
  const { alice, bob } = makePair("P-521");
  alice.decrypt(bob.encrypt(text("reply")));
  const late = encryptWithKey(alice, "late");
  const now = encryptWithKey(alice, "now");
  assert.equal(str(bob.decrypt(now.message)), "now");
  assert.ok(!contains(bob.serialize(), now.mk), "the key of a read message is still stored");
  // While a message is missing its key must be kept (the control for the check above) …
  assert.ok(contains(bob.serialize(), late.mk));
  assert.equal(str(bob.decrypt(late.message)), "late");
  // … and once it is read, it goes too.
  assert.ok(!contains(bob.serialize(), late.mk));
  // The sender never keeps a message key either.
  assert.ok(!contains(alice.serialize(), late.mk) && !contains(alice.serialize(), now.mk));
});

Deno.test("healing: a copy of Bob's state taken before a DH step cannot read messages after the next one", () => {
  for (const curve of ["P-256", "P-521"] as const) {
    const { alice, bob } = makePair(curve);
    alice.decrypt(bob.encrypt(text("reply")));
    const stolen = Session.deserialize(bob.serialize());
    // Alice's next chain still uses Bob's compromised ratchet key: the thief reads it (no healing yet).
    const a1 = alice.encrypt(text("a1"));
    assert.equal(str(bob.decrypt(a1)), "a1");
    assert.equal(str(stolen.decrypt(a1)), "a1");
    // Bob's reply carries a ratchet key the thief never saw; Alice's answer to it is out of reach.
    assert.equal(str(alice.decrypt(bob.encrypt(text("b1")))), "b1");
    for (let i = 0; i < 3; i++) {
      const m = alice.encrypt(text(`a2.${i}`));
      rejects(stolen, m, "undecryptable");
      assert.equal(str(bob.decrypt(m)), `a2.${i}`);
    }
    // Messages of the chain the thief could follow are still readable by him; later chains are not.
    assert.equal(str(alice.decrypt(bob.encrypt(text("b2")))), "b2");
    rejects(stolen, alice.encrypt(text("a3")), "undecryptable");
  }
});

Deno.test("every curve with every body cipher, messages of many sizes, padded to power-of-two buckets", () => {
  const ciphers: BodyCipher[] = ["AES-256-GCM", "ChaCha20-Poly1305"];
  for (const curve of CURVES) {
    for (const cipher of ciphers) {
      const { alice, bob } = makePair(curve, { cipher });
      assert.equal(bob.curve, curve);
      assert.equal(bob.cipher, cipher);
      for (const size of [0, 1, 62, 63, 64, 200, 1000, 5000]) {
        const pt = crypto.getRandomValues(new Uint8Array(size));
        const m = alice.encrypt(pt);
        assert.equal(decodeMessage(m).body.length, paddedLength(size) + TAG_BYTES);
        assert.ok(equalBytes(bob.decrypt(m), pt));
        assert.ok(equalBytes(alice.decrypt(bob.encrypt(pt)), pt));
      }
    }
  }
  assert.deepEqual([0, 63, 64, 127, 128, 65535].map(paddedLength), [64, 64, 128, 128, 256, 65536]);
});

Deno.test("the largest plaintext goes through; one byte more is a RangeError", () => {
  const { alice, bob } = makePair("P-256", { cipher: "ChaCha20-Poly1305" });
  const big = new Uint8Array(MAX_PLAINTEXT).fill(7);
  assert.ok(equalBytes(bob.decrypt(alice.encrypt(big)), big));
  const before = alice.serialize();
  assert.throws(() => alice.encrypt(new Uint8Array(MAX_PLAINTEXT + 1)), RangeError);
  assert.throws(() => alice.encrypt("text" as unknown as Uint8Array), TypeError);
  assert.ok(equalBytes(before, alice.serialize()));
});

Deno.test("skipped keys: at most MAX_SKIPPED_KEYS, the oldest deleted first", () => {
  const { alice, bob } = makePair("P-256");
  const kept: Uint8Array[] = [];
  // Three jumps of MAX_SKIP: 3,000 skipped keys offered, 2,000 kept.
  for (let jump = 0; jump < 3; jump++) {
    for (let i = 0; i < MAX_SKIP; i++) kept.push(alice.encrypt(text(`${jump}.${i}`)));
    bob.decrypt(alice.encrypt(text(`end ${jump}`)));
  }
  assert.equal(bob.skippedKeyCount, MAX_SKIPPED_KEYS);
  rejects(bob, kept[0], "duplicate"); // deleted: the oldest thousand
  rejects(bob, kept[MAX_SKIP - 1], "duplicate");
  assert.equal(str(bob.decrypt(kept[MAX_SKIP])), "1.0");
  assert.equal(str(bob.decrypt(kept[3 * MAX_SKIP - 1])), `2.${MAX_SKIP - 1}`);
});

Deno.test("skipped keys: at most MAX_SKIPPED_CHAINS chains keep keys, the oldest chain goes first", () => {
  const { alice, bob } = makePair("P-256");
  alice.decrypt(bob.encrypt(text("start")));
  const lost: Uint8Array[] = [];
  for (let chain = 0; chain < MAX_SKIPPED_CHAINS + 1; chain++) {
    lost.push(alice.encrypt(text(`lost in chain ${chain}`)));
    bob.decrypt(alice.encrypt(text(`chain ${chain}`)));
    alice.decrypt(bob.encrypt(text(`turn ${chain}`)));
  }
  assert.equal(bob.skippedKeyCount, MAX_SKIPPED_CHAINS);
  rejects(bob, lost[0], "undecryptable"); // its chain's keys were deleted
  for (let chain = 1; chain <= MAX_SKIPPED_CHAINS; chain++) {
    assert.equal(str(bob.decrypt(lost[chain])), `lost in chain ${chain}`);
  }
  assert.equal(bob.skippedKeyCount, 0);
});

Deno.test("skipped keys: deleted after MAX_SKIPPED_AGE further messages were read", () => {
  const { alice, bob } = makePair("P-256", { cipher: "ChaCha20-Poly1305" });
  const old = alice.encrypt(text("old"));
  bob.decrypt(alice.encrypt(text("skips old"))); // stores old's key: 1 message read since
  for (let i = 1; i < MAX_SKIPPED_AGE; i++) bob.decrypt(alice.encrypt(new Uint8Array(0)));
  assert.equal(bob.skippedKeyCount, 1); // MAX_SKIPPED_AGE messages read since it was stored: still kept
  const copy = Session.deserialize(bob.serialize());
  assert.equal(str(copy.decrypt(old)), "old");
  bob.decrypt(alice.encrypt(new Uint8Array(0)));
  assert.equal(bob.skippedKeyCount, 0);
  rejects(bob, old, "duplicate");
});

/** A random source whose i-th call returns SHA-512(seed/i/0) ‖ SHA-512(seed/i/1) ‖ … cut to length. */
function countingRandom(seed: string, start = 0): { random: (n: number) => Uint8Array; calls: () => number } {
  let call = start;
  const random = (n: number) => {
    const out = new Uint8Array(n);
    for (let off = 0, j = 0; off < n; off += 64, j++) {
      out.set(sha512(utf8(`${seed}/${call}/${j}`)).subarray(0, Math.min(64, n - off)), off);
    }
    call++;
    return out;
  };
  return { random, calls: () => call };
}

Deno.test("a restored session behaves exactly as the live one, through skips, DH steps and chain deletion", () => {
  const a = generateIdentity(), b = generateIdentity();
  const store = PrekeyStore.create(b, T0);
  const source = countingRandom("live");
  const alice = initiate(a, b.id, store.bundle(b.publicKeys), { now: T0, curve: "P-256" });
  const live = respond(b, store, alice.encrypt(text("hi")), { now: T0, random: source.random }).session;
  alice.encrypt(text("lost"));
  live.decrypt(alice.encrypt(text("skips one")));
  const restored = Session.deserialize(live.serialize(), {
    random: countingRandom("live", source.calls()).random,
  });
  for (let round = 0; round < MAX_SKIPPED_CHAINS + 3; round++) {
    const sent = [0, 1, 2].map((i) => alice.encrypt(text(`${round}.${i}`)));
    for (const bob of [live, restored]) {
      assert.equal(str(bob.decrypt(sent[2])), `${round}.2`); // skips two
      assert.equal(str(bob.decrypt(sent[0])), `${round}.0`); // one stays skipped
    }
    assert.ok(equalBytes(live.serialize(), restored.serialize()), `round ${round}`);
    const replies = [live.encrypt(text("r")), restored.encrypt(text("r"))];
    assert.ok(equalBytes(replies[0], replies[1]));
    alice.decrypt(replies[0]);
  }
  assert.equal(live.skippedKeyCount, MAX_SKIPPED_CHAINS);
  assert.ok(equalBytes(live.serialize(), restored.serialize()));
});

Deno.test("the prekey header is repeated until the first reply, and authenticated", () => {
  const { alice, bob } = makePair("P-384");
  const before = alice.encrypt(text("before"));
  assert.ok(decodeMessage(before).prekey !== null);
  // Dropping the prekey header (version ‖ kind 1 ‖ ratchet message) is a different message: refused (by
  // the decoder in version 2, where only a prekey message has a header without a KEM ciphertext).
  const m = decodeMessage(before);
  const stripped = new Uint8Array(4 + m.header.length + m.body.length);
  stripped.set([m.version, 1, m.header.length >> 8, m.header.length & 0xff]);
  stripped.set(m.header, 4);
  stripped.set(m.body, 4 + m.header.length);
  rejects(bob, stripped, ["malformed", "undecryptable"]);
  assert.equal(str(bob.decrypt(before)), "before");
  assert.equal(str(alice.decrypt(bob.encrypt(text("reply")))), "reply");
  assert.equal(decodeMessage(alice.encrypt(text("after"))).prekey, null);
});

Deno.test("a destroyed session can neither read nor send", () => {
  const { alice, bob } = makePair("P-256");
  const m = alice.encrypt(text("x"));
  bob.destroy();
  assert.throws(() => bob.decrypt(m));
  assert.throws(() => bob.encrypt(text("y")));
});

Deno.test("session decoder: the serialisation round-trips, and any damage is a ProtocolError", () => {
  const { alice, bob } = makePair("P-521");
  alice.encrypt(text("skipped"));
  bob.decrypt(alice.encrypt(text("read")));
  const bytes = bob.serialize();
  assert.ok(equalBytes(Session.deserialize(bytes).serialize(), bytes));
  for (let cut = 0; cut < bytes.length; cut += 13) {
    throwsCode(() => Session.deserialize(bytes.slice(0, cut)), ["malformed", "unsupported"]);
  }
  throwsCode(() => Session.deserialize(new Uint8Array([...bytes, 0])), "malformed");
  throwsCode(() => Session.deserialize(flip(bytes, 0)), "unsupported");
  throwsCode(() => Session.deserialize(flip(bytes, 1, 2)), "unsupported");
  // Random bit flips: each one either decodes to some state or is a ProtocolError, never anything else.
  const d = decisions(4);
  for (let i = 0; i < 300; i++) {
    const damaged = flip(bytes, d.int(bytes.length), d.int(8));
    try {
      Session.deserialize(damaged);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, String(e));
    }
  }
});

Deno.test("message decoder: truncations, extensions and random bytes are ProtocolErrors", () => {
  const { alice } = makePair("P-521");
  const m = alice.encrypt(text("decode me"));
  for (let cut = 0; cut < m.length; cut++) {
    throwsCode(() => decodeMessage(m.slice(0, cut)), ["malformed", "unsupported"]);
  }
  throwsCode(() => decodeMessage(new Uint8Array([...m, 0])), "malformed");
  for (let i = 0; i < 200; i++) {
    const junk = crypto.getRandomValues(new Uint8Array(1 + (i * 37) % 1500));
    junk[0] = 1;
    junk[1] = 1 + (i % 2);
    throwsCode(() => decodeMessage(junk), ["malformed", "unsupported"]);
  }
  throwsCode(() => decodeMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1)), "malformed");
});
