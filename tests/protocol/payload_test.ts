// Typed payloads: every type round-trips through its exact byte layout, text can never be read as a
// control message, names are checked, limits hold, and damaged input is always a ProtocolError.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes } from "../../crypto/bytes.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import {
  decodePayload,
  encodePayload,
  MAX_CHUNK_BYTES,
  MAX_NICKNAME_BYTES,
  MAX_REACTION_BYTES,
  MAX_RECEIPT_IDS,
  MAX_TEXT_BYTES,
  MAX_TIMER_SECONDS,
  type Payload,
  reactionProblem,
} from "../../protocol/payload.ts";
import { paddedLength } from "../../protocol/ratchet.ts";
import { decisions, flip, throwsCode } from "./_helpers.ts";

const fileId = Uint8Array.from({ length: 16 }, (_, i) => i);
const sha = new Uint8Array(32).fill(0xab);

const samples: [Payload, string][] = [
  [{ type: "text", id: 7, text: "hé" }, "0101" + "00000007" + "0003" + "68c3a9"],
  [{ type: "nickname", name: "Bob" }, "0102" + "0003" + "426f62"],
  [
    { type: "file-offer", fileId, name: "a.txt", size: 300, sha256: sha },
    "0103" + bytesToHex(fileId) + "000000000000012c" + "ab".repeat(32) + "0005" + "612e747874",
  ],
  [
    { type: "file-chunk", fileId, index: 2, data: Uint8Array.of(9, 8) },
    "0104" + bytesToHex(fileId) + "00000002" + "0002" + "0908",
  ],
  [{ type: "file-end", fileId, status: "complete" }, "0105" + bytesToHex(fileId) + "00"],
  [{ type: "file-end", fileId, status: "cancelled" }, "0105" + bytesToHex(fileId) + "01"],
  [{ type: "receipt", kind: "read", ids: [1, 0xffffffff] }, "0106" + "02" + "0002" + "00000001" + "ffffffff"],
  [{ type: "receipt", kind: "delivered", ids: [5] }, "0106" + "01" + "0001" + "00000005"],
  [{ type: "close" }, "0107"],
  [{ type: "file-answer", fileId, accept: true }, "0108" + bytesToHex(fileId) + "01"],
  [{ type: "file-answer", fileId, accept: false }, "0108" + bytesToHex(fileId) + "02"],
  // A text with options: u32 id ‖ u32 ttl ‖ u8 flags ‖ [u8 author ‖ u32 id] ‖ vec16 text.
  [
    { type: "text", id: 3, text: "ok", reply: { author: "recipient", id: 9 } },
    "0109" + "00000003" + "00000000" + "01" + "01" + "00000009" + "0002" + "6f6b",
  ],
  [{ type: "text", id: 4, text: "", ttl: 30 }, "0109" + "00000004" + "0000001e" + "00" + "0000"],
  [
    { type: "text", id: 5, text: "x", reply: { author: "sender", id: 1 }, ttl: MAX_TIMER_SECONDS },
    "0109" + "00000005" + "0024ea00" + "01" + "00" + "00000001" + "0001" + "78",
  ],
  [
    { type: "reaction", target: { author: "recipient", id: 2 }, emoji: "👍" },
    "010a" + "01" + "00000002" + "04" + "f09f918d",
  ],
  [{ type: "reaction", target: { author: "sender", id: 2 }, emoji: "" }, "010a" + "00" + "00000002" + "00"],
  [{ type: "edit", id: 7, text: "fixed" }, "010b" + "00000007" + "0005" + "6669786564"],
  [{ type: "delete", id: 0xfffffffe }, "010c" + "fffffffe"],
  [{ type: "timer", seconds: 3600, epoch: 2 }, "010d" + "00000e10" + "00000002"],
  [{ type: "timer", seconds: 0, epoch: 0 }, "010d" + "00000000" + "00000000"],
  [{ type: "typing", typing: true }, "010e01"],
  [{ type: "typing", typing: false }, "010e00"],
];

Deno.test("every payload type has the documented byte layout and round-trips", () => {
  for (const [payload, hex] of samples) {
    const bytes = encodePayload(payload);
    assert.equal(bytesToHex(bytes), hex, payload.type);
    assert.deepEqual(decodePayload(bytes), payload);
  }
});

Deno.test("text can never imitate a control message", () => {
  for (
    const t of ["KILLCONNECTION", "<STARTFILENAME>x<ENDFILENAME>", "\x01\x07", "\x01\x05" + "x".repeat(17)]
  ) {
    const p = decodePayload(encodePayload({ type: "text", id: 1, text: t }));
    assert.deepEqual(p, { type: "text", id: 1, text: t });
  }
  // Raw text bytes (no version and type) are refused rather than guessed at.
  throwsCode(() => decodePayload(new TextEncoder().encode("KILLCONNECTION")), "unsupported");
});

Deno.test("limits: the largest text and chunk fit a 32 KiB bucket; more is refused on both sides", () => {
  const text = "x".repeat(MAX_TEXT_BYTES);
  assert.equal(paddedLength(encodePayload({ type: "text", id: 0, text }).length), 32768);
  const data = new Uint8Array(MAX_CHUNK_BYTES);
  assert.equal(paddedLength(encodePayload({ type: "file-chunk", fileId, index: 0, data }).length), 32768);
  assert.throws(() => encodePayload({ type: "text", id: 0, text: text + "x" }), RangeError);
  assert.throws(
    () => encodePayload({ type: "file-chunk", fileId, index: 0, data: new Uint8Array(MAX_CHUNK_BYTES + 1) }),
    RangeError,
  );
  const tooLong = concatBytes(
    Uint8Array.of(1, 1, 0, 0, 0, 0, 0x7f, 0xc1),
    new Uint8Array(MAX_TEXT_BYTES + 1),
  );
  throwsCode(() => decodePayload(tooLong), "malformed");
  assert.throws(() => encodePayload({ type: "receipt", kind: "read", ids: [] }), RangeError);
  assert.throws(
    () => encodePayload({ type: "receipt", kind: "read", ids: new Array(MAX_RECEIPT_IDS + 1).fill(1) }),
    RangeError,
  );
  assert.throws(() => encodePayload({ type: "text", id: -1, text: "" }), RangeError);
  assert.throws(() => encodePayload({ type: "text", id: 2 ** 32, text: "" }), RangeError);
  assert.throws(
    () => encodePayload({ type: "file-end", fileId: new Uint8Array(15), status: "complete" }),
    RangeError,
  );
  assert.throws(() => encodePayload({ type: "nope" } as unknown as Payload), TypeError);
});

Deno.test("nicknames and file names: no control characters, direction overrides or paths", () => {
  const badNames = ["", "a\nb", "a\u0000", "\u202eexe.txt", "x".repeat(MAX_NICKNAME_BYTES + 1)];
  for (const name of badNames) {
    assert.throws(() => encodePayload({ type: "nickname", name }), RangeError, JSON.stringify(name));
  }
  for (const name of ["../etc/passwd", "a/b", "a\\b", "..", ".", "", "a\tb"]) {
    assert.throws(
      () => encodePayload({ type: "file-offer", fileId, name, size: 1, sha256: sha }),
      RangeError,
    );
  }
  // The decoder applies the same checks to what a peer sends.
  const good = encodePayload({ type: "file-offer", fileId, name: "a.b", size: 1, sha256: sha });
  const slash = good.slice();
  slash[slash.length - 2] = 0x2f; // "a/b"
  throwsCode(() => decodePayload(slash), "malformed");
  const nick = encodePayload({ type: "nickname", name: "ab" });
  nick[nick.length - 1] = 0x0a;
  throwsCode(() => decodePayload(nick), "malformed");
  // Invalid UTF-8 is refused, not replaced.
  const text = encodePayload({ type: "text", id: 1, text: "ab" });
  text[text.length - 1] = 0xff;
  throwsCode(() => decodePayload(text), "malformed");
});

Deno.test("damaged payloads are ProtocolErrors", () => {
  throwsCode(() => decodePayload(new Uint8Array(0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(2, 1)), "unsupported");
  throwsCode(() => decodePayload(Uint8Array.of(1, 0)), "unsupported");
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0f)), "unsupported");
  throwsCode(() => decodePayload(Uint8Array.of(1, 0xff)), "unsupported");
  throwsCode(() => decodePayload(Uint8Array.of(1, 8, ...fileId, 3)), "unsupported");
  throwsCode(() => decodePayload(Uint8Array.of(1, 7, 0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 5, ...fileId, 2)), "unsupported");
  throwsCode(() => decodePayload(Uint8Array.of(1, 6, 3, 0, 1, 0, 0, 0, 1)), "unsupported");
  throwsCode(() => decodePayload(Uint8Array.of(1, 6, 1, 0, 0)), "malformed");
  const d = decisions(3);
  for (const [payload] of samples) {
    const bytes = encodePayload(payload);
    for (let cut = 0; cut < bytes.length; cut++) {
      throwsCode(() => decodePayload(bytes.slice(0, cut)), ["malformed", "unsupported"]);
    }
    for (let i = 0; i < 40; i++) {
      try {
        decodePayload(flip(bytes, d.int(bytes.length), d.int(8)));
      } catch (e) {
        assert.ok(e instanceof ProtocolError, String(e));
      }
    }
  }
});

Deno.test("a text keeps type 0x01 unless it has a reply or a timer; one encoding per text", () => {
  assert.equal(encodePayload({ type: "text", id: 1, text: "a", ttl: 0 })[1], 0x01);
  // 0x09 without any option, or with id 0, is not a canonical text.
  throwsCode(() => decodePayload(Uint8Array.of(1, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 9, 0, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 9, 0, 0, 0, 1, 0, 0, 0, 30, 2, 0, 0)), "unsupported");
  // A reply names a text id from 1, by an author that is known.
  throwsCode(
    () => decodePayload(Uint8Array.of(1, 9, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)),
    "malformed",
  );
  throwsCode(
    () => decodePayload(Uint8Array.of(1, 9, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0, 0)),
    "unsupported",
  );
  assert.throws(() => encodePayload({ type: "text", id: 0, text: "", ttl: 60 }), RangeError);
  assert.throws(
    () => encodePayload({ type: "text", id: 1, text: "", reply: { author: "sender", id: 0 } }),
    RangeError,
  );
});

Deno.test("timers are off or 30 s to four weeks, on both sides", () => {
  for (const seconds of [1, 29, MAX_TIMER_SECONDS + 1, 0.5, -1]) {
    assert.throws(() => encodePayload({ type: "timer", seconds, epoch: 1 }), RangeError, String(seconds));
    if (Number.isInteger(seconds) && seconds > 0) {
      assert.throws(() => encodePayload({ type: "text", id: 1, text: "", ttl: seconds }), RangeError);
    }
  }
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0d, 0, 0, 0, 29, 0, 0, 0, 0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0d, 0, 0x24, 0xea, 1, 0, 0, 0, 0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 9, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0e, 2)), "unsupported");
});

Deno.test("a reaction is one emoji of at most 32 bytes, or empty", () => {
  for (const ok of ["👍", "❤️", "👩‍💻", "👍🏽", "🇫🇷", "1️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👨‍👩‍👧‍👦", ""]) {
    assert.equal(reactionProblem(ok), null, ok);
    assert.deepEqual(
      decodePayload(encodePayload({ type: "reaction", target: { author: "sender", id: 1 }, emoji: ok })),
      { type: "reaction", target: { author: "sender", id: 1 }, emoji: ok },
    );
  }
  for (const bad of ["a", "ok", " ", "👍 ", "\u202e👍", "👍\n", "1", "<b>", "👍".repeat(9), "\u200d"]) {
    assert.notEqual(reactionProblem(bad), null, JSON.stringify(bad));
    assert.throws(
      () => encodePayload({ type: "reaction", target: { author: "sender", id: 1 }, emoji: bad }),
      RangeError,
    );
  }
  // The decoder applies the same checks, and refuses more than 32 bytes or invalid UTF-8 outright.
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0a, 0, 0, 0, 0, 1, 1, 0x61)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0a, 0, 0, 0, 0, 1, 1, 0xff)), "malformed");
  const long = Uint8Array.of(1, 0x0a, 0, 0, 0, 0, 1, MAX_REACTION_BYTES + 1, ...new Uint8Array(33));
  throwsCode(() => decodePayload(long), "malformed");
});

Deno.test("edits and deletes name a text id from 1; an edit is 1 to 32,704 bytes", () => {
  assert.throws(() => encodePayload({ type: "edit", id: 1, text: "" }), RangeError);
  assert.throws(() => encodePayload({ type: "edit", id: 0, text: "a" }), RangeError);
  assert.throws(() => encodePayload({ type: "delete", id: 0 }), RangeError);
  assert.throws(
    () => encodePayload({ type: "edit", id: 1, text: "x".repeat(MAX_TEXT_BYTES + 1) }),
    RangeError,
  );
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0b, 0, 0, 0, 1, 0, 0)), "malformed");
  throwsCode(() => decodePayload(Uint8Array.of(1, 0x0c, 0, 0, 0, 0)), "malformed");
  assert.equal(
    paddedLength(encodePayload({ type: "edit", id: 1, text: "x".repeat(MAX_TEXT_BYTES) }).length),
    32768,
  );
});
