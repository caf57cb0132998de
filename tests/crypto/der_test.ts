// The strict DER reader and writer: SubjectPublicKeyInfo against Web Crypto's exports, ECDSA signature
// encodings, and the refusal of every BER liberty (indefinite or non-minimal lengths, padded integers).

import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import {
  derToSignature,
  encodeEcSpki,
  encodeOid,
  encodeUnsignedInteger,
  OID_EC_PUBLIC_KEY,
  parseSpki,
  readElement,
  readOid,
  readUnsignedInteger,
  signatureToDer,
} from "../../crypto/der.ts";
import { p256 } from "../../crypto/p256.ts";
import { p384 } from "../../crypto/p384.ts";
import { p521 } from "../../crypto/p521.ts";

for (const curve of [p256, p384, p521]) {
  Deno.test(`DER: ${curve.name} SubjectPublicKeyInfo matches Web Crypto both ways`, async () => {
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: curve.name }, true, [
      "deriveBits",
    ]);
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const info = parseSpki(spki);
    assert.equal(info.algorithm, OID_EC_PUBLIC_KEY);
    assert.equal(info.namedCurve, curve.oid);
    assert.equal(bytesToHex(info.publicKey), bytesToHex(raw));
    assert.equal(bytesToHex(encodeEcSpki(curve.oid, raw)), bytesToHex(spki));
    assert.throws(() => parseSpki(new Uint8Array([...spki, 0])), /trailing/);
    assert.throws(() => parseSpki(spki.subarray(0, spki.length - 1)), /truncated/);
  });
}

Deno.test("DER: OIDs round-trip and non-minimal arcs are refused", () => {
  for (
    const oid of [
      "1.2.840.10045.2.1",
      "1.2.840.10045.3.1.7",
      "1.3.132.0.34",
      "1.3.132.0.35",
      "2.5.29.17",
      "2.999.3",
    ]
  ) {
    assert.equal(readOid(readElement(encodeOid(oid))), oid);
  }
  assert.equal(bytesToHex(encodeOid("1.2.840.10045.2.1")), "06072a8648ce3d0201");
  assert.throws(() => readOid(readElement(hexToBytes("0603808101"))), /not minimal/);
  assert.throws(() => readOid(readElement(hexToBytes("06022a86"))), /truncated/);
  assert.throws(() => readOid(readElement(hexToBytes("0600"))), /bad length/);
});

Deno.test("DER: lengths must be definite, minimal and within the input", () => {
  assert.equal(readElement(hexToBytes("0403010203")).value.length, 3);
  assert.equal(readElement(hexToBytes("048180" + "00".repeat(128))).value.length, 128);
  const refused: [string, RegExp][] = [
    ["3080", /indefinite/],
    ["04810100", /not minimal/],
    ["0482000100", /not minimal/],
    ["04850000000001", /too large/],
    ["0403ab", /truncated/],
    ["04", /truncated/],
    ["1f0100", /high tag/],
    ["0482", /truncated length/],
  ];
  for (const [hex, why] of refused) assert.throws(() => readElement(hexToBytes(hex)), why, hex);
});

Deno.test("DER: INTEGERs are minimal and non-negative", () => {
  assert.equal(bytesToHex(readUnsignedInteger(readElement(hexToBytes("020100")))), "00");
  assert.equal(bytesToHex(readUnsignedInteger(readElement(hexToBytes("02020080")))), "80");
  assert.throws(() => readUnsignedInteger(readElement(hexToBytes("02020001"))), /not minimal/);
  assert.throws(() => readUnsignedInteger(readElement(hexToBytes("020180"))), /negative/);
  assert.throws(() => readUnsignedInteger(readElement(hexToBytes("0200"))), /empty/);
  assert.equal(bytesToHex(encodeUnsignedInteger(hexToBytes("000080"))), "02020080");
  assert.equal(bytesToHex(encodeUnsignedInteger(hexToBytes("0000"))), "020100");
  assert.equal(bytesToHex(encodeUnsignedInteger(hexToBytes("7f"))), "02017f");
});

Deno.test("DER: ECDSA signatures convert both ways and BER forms are refused", () => {
  const r = hexToBytes("00".repeat(31) + "01"), s = hexToBytes("ff".repeat(32));
  const der = signatureToDer(r, s);
  assert.equal(bytesToHex(der), "3026020101022100" + "ff".repeat(32));
  assert.equal(bytesToHex(derToSignature(der, 32)), bytesToHex(r) + bytesToHex(s));
  assert.throws(() => derToSignature(der, 31), /wider than 31 bytes/);
  assert.throws(() => derToSignature(hexToBytes("3006020101020101" + "00"), 32), /trailing/);
  assert.throws(() => derToSignature(hexToBytes("3003020101"), 32), /2 INTEGERs/);
  assert.throws(() => derToSignature(hexToBytes("3009020101020101020101"), 32), /2 INTEGERs/);
  assert.throws(() => derToSignature(hexToBytes("308006020101020101" + "0000"), 32), /indefinite/);
  assert.throws(() => derToSignature(hexToBytes("31060201010201 01".replace(" ", "")), 32), /expected/);
  assert.throws(() => derToSignature(hexToBytes("3006020101040101"), 32), /INTEGER/);
  assert.throws(() => derToSignature("30" as unknown as Uint8Array, 32), TypeError);
});
