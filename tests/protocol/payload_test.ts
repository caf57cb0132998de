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
  MAX_RECEIPT_IDS,
  MAX_TEXT_BYTES,
  type Payload,
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
  throwsCode(() => decodePayload(Uint8Array.of(1, 9)), "unsupported");
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
