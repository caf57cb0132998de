// The certificate, PEM and key-file code: round trips, the strict parser's refusals, dates across 2050,
// and the judgement of independent implementations: OpenSSL (x509, verify, pkey, ec, s_client) reads and
// accepts what we write, we read what it writes, and Deno's built-in TLS (rustls) serves and trusts our
// certificate and key. The OpenSSL tests are skipped when openssl cannot run, except in CI.

import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes, utf8 } from "../../../crypto/bytes.ts";
import { encodeElement, readChildren, readElement, TAG } from "../../../crypto/der.ts";
import { p256 } from "../../../crypto/p256.ts";
import { p384 } from "../../../crypto/p384.ts";
import { p521 } from "../../../crypto/p521.ts";
import { sha256 } from "../../../crypto/sha2.ts";
import {
  decodeEcPrivateKey,
  decodePem,
  decodePemBlocks,
  decodePkcs8EcPrivateKey,
  decodePrivateKeyPem,
  encodeEcPrivateKey,
  encodePem,
} from "../../../protocol/tls13/pem.ts";
import {
  certificateMatchesHost,
  certificatePin,
  createSelfSignedCertificate,
  formatIpAddress,
  isPin,
  OID_ECDSA_WITH_SHA256,
  OID_ECDSA_WITH_SHA512,
  parseCertificate,
  parseIpAddress,
  spkiPin,
  verifySelfSignature,
} from "../../../protocol/tls13/x509.ts";

const HOUR = 3600_000;

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

function makeCert(
  opts: { hosts?: string[]; notBefore?: Date; notAfter?: Date; secretKey?: Uint8Array } = {},
) {
  const secretKey = opts.secretKey ?? p521.randomSecretKey();
  const notBefore = opts.notBefore ?? new Date(Date.now() - HOUR);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 365 * 24 * HOUR);
  const der = createSelfSignedCertificate({
    secretKey,
    hosts: opts.hosts ?? ["localhost", "127.0.0.1"],
    notBefore,
    notAfter,
    serial: randomBytes(16),
  });
  return { secretKey, der };
}

/** Rebuilds a certificate after `edit` changes the list of tbsCertificate fields (whole TLVs). */
function editTbs(der: Uint8Array, edit: (fields: Uint8Array[]) => Uint8Array[]): Uint8Array {
  const [tbs, alg, sig] = readChildren(readElement(der).value);
  const outer = readElement(der).value;
  const fields = readChildren(tbs.value).map((f) => tbs.value.subarray(f.start, f.end));
  return encodeElement(
    TAG.SEQUENCE,
    encodeElement(TAG.SEQUENCE, ...edit(fields)),
    outer.subarray(alg.start, alg.end),
    outer.subarray(sig.start, sig.end),
  );
}

/** An extension TLV. */
function ext(oidDer: string, critical: boolean, value: Uint8Array): Uint8Array {
  return encodeElement(
    TAG.SEQUENCE,
    hexToBytes(oidDer),
    critical ? hexToBytes("0101ff") : new Uint8Array(0),
    encodeElement(TAG.OCTET_STRING, value),
  );
}

function replaceOnce(der: Uint8Array, from: string, to: string): Uint8Array {
  const hex = bytesToHex(der);
  const i = hex.indexOf(from);
  assert.ok(i >= 0 && i % 2 === 0, `pattern ${from} not found`);
  return hexToBytes(hex.slice(0, i) + to + hex.slice(i + from.length));
}

// ---- creating and parsing ------------------------------------------------------------------------------

Deno.test("x509: create → parse round trip, self-signature verifies, profile of notes §3.1", () => {
  const notBefore = new Date(Date.UTC(2030, 5, 15, 12, 30, 45, 999));
  const notAfter = new Date(Date.UTC(2031, 5, 15, 12, 30, 45));
  const secretKey = p521.randomSecretKey();
  const serial = randomBytes(16);
  serial[0] |= 0x81; // the top bit must be cleared to keep the serial positive (and a low bit set: a
  // first byte of zero would be dropped from the minimal DER integer)
  const der = createSelfSignedCertificate({
    secretKey,
    hosts: ["LocalHost.", "127.0.0.1", "example.org", "::1", "localhost"],
    notBefore,
    notAfter,
    serial,
  });
  const cert = parseCertificate(der);
  assert.deepEqual(cert.der, der);
  assert.deepEqual(cert.dnsNames, ["localhost", "example.org"]);
  assert.deepEqual(cert.ipAddresses, ["127.0.0.1", "::1"]);
  assert.equal(cert.notBefore.toISOString(), "2030-06-15T12:30:45.000Z");
  assert.equal(cert.notAfter.toISOString(), "2031-06-15T12:30:45.000Z");
  assert.equal(cert.isCA, false);
  assert.equal(cert.namedCurve, "1.3.132.0.35");
  assert.equal(cert.signatureAlgorithm, OID_ECDSA_WITH_SHA512);
  assert.deepEqual(cert.publicKey, p521.getPublicKey(secretKey, false));
  assert.equal(cert.serialNumber[0], serial[0] & 0x7f);
  assert.equal(cert.serialNumber.length, 16);
  assert.deepEqual(cert.issuer, cert.subject);
  assert.ok(bytesToHex(cert.subject).includes(bytesToHex(utf8("localhost"))));
  assert.ok(verifySelfSignature(cert));
  // The exact bytes notes §3.1 shows for the fixed parts.
  const hex = bytesToHex(der);
  assert.ok(hex.includes("a003020102"), "version v3");
  assert.ok(hex.includes("300a06082a8648ce3d040304"), "ecdsa-with-SHA512 without parameters");
  assert.ok(
    bytesToHex(cert.spki).startsWith("30819b301006072a8648ce3d020106052b81040023038186000"),
    "P-521 SPKI",
  );
  assert.equal(cert.spki.length, 158);
  assert.ok(hex.includes("300c0603551d130101ff04023000"), "basicConstraints critical, CA:FALSE");
});

Deno.test("x509: lengths are computed (many keys, signatures of varying length all parse)", () => {
  const lengths = new Set<number>();
  for (let i = 0; i < 12; i++) {
    const { der, secretKey } = makeCert({ hosts: ["localhost", `x${"y".repeat(i * 5)}.test`] });
    lengths.add(der.length);
    const cert = parseCertificate(der);
    assert.ok(verifySelfSignature(cert));
    assert.deepEqual(cert.publicKey, p521.getPublicKey(secretKey, false));
  }
  assert.ok(lengths.size > 6);
});

Deno.test("x509: a changed certificate no longer verifies", () => {
  const { der } = makeCert();
  const cert = parseCertificate(der);
  for (let i = 0; i < 40; i++) {
    const bad = der.slice();
    const pos = cert.tbs.byteOffset + Math.floor(Math.random() * cert.tbs.length);
    bad[pos] ^= 1 << Math.floor(Math.random() * 8);
    let c;
    try {
      c = parseCertificate(bad);
    } catch (e) {
      assert.ok(e instanceof RangeError);
      continue;
    }
    assert.equal(verifySelfSignature(c), false);
  }
  // Issuer and subject must be identical for a self-signature.
  const other = editTbs(der, (f) => {
    f[5] = encodeElement(TAG.SEQUENCE);
    return f;
  });
  assert.equal(verifySelfSignature(parseCertificate(other)), false);
});

Deno.test("x509: UTCTime before 2050, GeneralizedTime from 2050 (and back)", () => {
  const cases: [Date, Date, string, string][] = [
    [
      new Date("2049-12-31T23:59:59Z"),
      new Date("2050-01-01T00:00:00Z"),
      "170d3439313233313233353935395a",
      "180f32303530303130313030303030305a",
    ],
    [
      new Date("1950-01-01T00:00:00Z"),
      new Date("2049-12-31T23:59:59.999Z"),
      "170d3530303130313030303030305a",
      "170d3439313233313233353935395a",
    ],
    [
      new Date("2050-06-30T10:00:00Z"),
      new Date("9999-12-31T23:59:59Z"),
      "180f32303530303633303130303030305a",
      "180f39393939313233313233353935395a",
    ],
  ];
  for (const [notBefore, notAfter, before, after] of cases) {
    const { der } = makeCert({ notBefore, notAfter });
    assert.ok(bytesToHex(der).includes(before + after), notBefore.toISOString());
    const cert = parseCertificate(der);
    assert.equal(cert.notBefore.getTime(), Math.floor(notBefore.getTime() / 1000) * 1000);
    assert.equal(cert.notAfter.getTime(), Math.floor(notAfter.getTime() / 1000) * 1000);
  }
});

Deno.test("x509: creation refuses bad arguments with TypeError/RangeError", () => {
  const secretKey = p521.randomSecretKey();
  const base = {
    secretKey,
    hosts: ["localhost"],
    notBefore: new Date(),
    notAfter: new Date(Date.now() + HOUR),
    serial: randomBytes(16),
  };
  assert.throws(() => createSelfSignedCertificate({ ...base, secretKey: new Uint8Array(65) }), RangeError);
  assert.throws(() => createSelfSignedCertificate({ ...base, secretKey: new Uint8Array(66) }), RangeError);
  assert.throws(
    () => createSelfSignedCertificate({ ...base, secretKey: "x" as unknown as Uint8Array }),
    TypeError,
  );
  assert.throws(
    () => createSelfSignedCertificate({ ...base, serial: new Uint8Array(16) }),
    /serial must not be zero/,
  );
  assert.throws(() => createSelfSignedCertificate({ ...base, serial: randomBytes(21) }), RangeError);
  assert.throws(() => createSelfSignedCertificate({ ...base, hosts: [] }), TypeError);
  for (
    const host of [
      "",
      "*.example.org",
      "a..b",
      "-a.test",
      "a b",
      "1.2.3",
      "256.1.1.1",
      "01.2.3.4",
      "::1::2",
      "fe80::1%eth0",
      "x".repeat(64) + ".test",
    ]
  ) {
    assert.throws(() => createSelfSignedCertificate({ ...base, hosts: [host] }), RangeError, host);
  }
  assert.throws(
    () => createSelfSignedCertificate({ ...base, notAfter: base.notBefore }),
    /notAfter must be after/,
  );
  assert.throws(() => createSelfSignedCertificate({ ...base, notBefore: new Date(NaN) }), RangeError);
  assert.throws(
    () => createSelfSignedCertificate({ ...base, notBefore: new Date("1949-12-31T23:59:59Z") }),
    RangeError,
  );
  assert.throws(() => createSelfSignedCertificate({ ...base, notAfter: 5 as unknown as Date }), TypeError);
});

Deno.test("x509: IP literals parse and print canonically (RFC 5952), hosts match SANs exactly", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::1", "::1"],
    ["[::1]", "::1"],
    ["::", "::"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["fe80::", "fe80::"],
  ];
  for (const [text, canonical] of cases) {
    const ip = parseIpAddress(text);
    assert.ok(ip, text);
    assert.equal(formatIpAddress(ip), canonical, text);
  }
  for (
    const text of [
      "1.2.3",
      "1.2.3.4.5",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      ":1",
      "example.org",
      "12345::",
      "::1.2.3",
    ]
  ) {
    assert.equal(parseIpAddress(text), undefined, text);
  }
  const cert = parseCertificate(makeCert({ hosts: ["localhost", "127.0.0.1", "::1", "relay.example"] }).der);
  for (const h of ["localhost", "LOCALHOST.", "127.0.0.1", "[::1]", "0:0::1", "relay.example"]) {
    assert.ok(certificateMatchesHost(cert, h), h);
  }
  for (const h of ["127.0.0.2", "example", "x.relay.example", "::2"]) {
    assert.ok(!certificateMatchesHost(cert, h), h);
  }
});

Deno.test("x509: parsing refuses truncated inputs, trailing bytes and every BER liberty", () => {
  const { der } = makeCert();
  for (let n = 0; n < der.length; n++) {
    assert.throws(() => parseCertificate(der.subarray(0, n)), RangeError, `prefix ${n}`);
  }
  assert.throws(() => parseCertificate(concatBytes(der, Uint8Array.of(0))), /trailing/);
  assert.throws(() => parseCertificate("x" as unknown as Uint8Array), TypeError);
  // A non-minimal outer length (0x83 00 LL LL instead of 0x82 LL LL).
  const body = readElement(der).value;
  const longForm = concatBytes(Uint8Array.of(0x30, 0x83, 0, body.length >> 8, body.length & 0xff), body);
  assert.throws(() => parseCertificate(longForm), /not minimal/);
  // Indefinite length.
  assert.throws(
    () => parseCertificate(concatBytes(Uint8Array.of(0x30, 0x80), body, Uint8Array.of(0, 0))),
    /indefinite/,
  );
  // critical encoded as BER TRUE (0x01) instead of 0xff.
  assert.throws(() => parseCertificate(replaceOnce(der, "0101ff", "010101")), /critical/);
  // The inner and outer signature algorithms differ.
  const sha256Alg = hexToBytes("300a06082a8648ce3d040302");
  assert.throws(() => parseCertificate(editTbs(der, (f) => (f[2] = sha256Alg, f))), /differ/);
  // NULL parameters after an ECDSA OID.
  assert.throws(
    () => parseCertificate(replaceOnce(der, "300a06082a8648ce3d040304", "300c06082a8648ce3d0403040500")),
    RangeError,
  );
  // A version other than v3; a missing version.
  assert.throws(() => parseCertificate(replaceOnce(der, "a003020102", "a003020101")), /v3/);
  assert.throws(() => parseCertificate(editTbs(der, (f) => f.slice(1))), /v3/);
  // A non-minimal or negative serial number, or one longer than 20 octets.
  assert.throws(
    () => parseCertificate(editTbs(der, (f) => (f[1] = hexToBytes("020200" + "01"), f))),
    /not minimal/,
  );
  assert.throws(() => parseCertificate(editTbs(der, (f) => (f[1] = hexToBytes("0201ff"), f))), /negative/);
  assert.throws(
    () => parseCertificate(editTbs(der, (f) => (f[1] = hexToBytes("0215" + "01".repeat(21)), f))),
    /20 octets/,
  );
  // Times: bad forms and impossible dates.
  for (
    const t of [
      "170b3235303232393030303030",
      "170d3235303233303030303030305a",
      "170f32303235303130313030303030305a",
      "180d3235303130313030303030305a",
      "170d3235313331303030303030305a",
    ]
  ) {
    const validity = encodeElement(TAG.SEQUENCE, hexToBytes(t), hexToBytes("170d3335303130313030303030305a"));
    assert.throws(() => parseCertificate(editTbs(der, (f) => (f[4] = validity, f))), /notBefore/, t);
  }
  // Extensions: duplicates, an unknown critical one, an empty SAN, an iPAddress of 5 bytes, cA = FALSE spelt out.
  const san = ext("0603551d11", false, encodeElement(TAG.SEQUENCE, hexToBytes("8209"), utf8("localhost")));
  const withExts = (...exts: Uint8Array[]) =>
    editTbs(der, (f) => (f[7] = encodeElement(0xa3, encodeElement(TAG.SEQUENCE, ...exts)), f));
  assert.ok(parseCertificate(withExts(san)).dnsNames.includes("localhost"));
  assert.throws(() => parseCertificate(withExts(san, san)), /twice/);
  assert.throws(
    () => parseCertificate(withExts(san, ext("0603551d1e", true, encodeElement(TAG.SEQUENCE)))),
    /critical extension 2.5.29.30/,
  );
  assert.ok(parseCertificate(withExts(san, ext("0603551d1e", false, encodeElement(TAG.SEQUENCE)))));
  assert.throws(
    () => parseCertificate(withExts(ext("0603551d11", false, encodeElement(TAG.SEQUENCE)))),
    /empty/,
  );
  assert.throws(
    () =>
      parseCertificate(
        withExts(ext("0603551d11", false, encodeElement(TAG.SEQUENCE, hexToBytes("87057f00000101")))),
      ),
    /4 or 16/,
  );
  assert.throws(
    () => parseCertificate(withExts(san, ext("0603551d13", true, hexToBytes("3003010100")))),
    /cA/,
  );
  assert.throws(() => parseCertificate(withExts()), /empty/);
  const ca = parseCertificate(withExts(san, ext("0603551d13", true, hexToBytes("30030101ff"))));
  assert.equal(ca.isCA, true);
  // Unsupported keys: an RSA algorithm, an unknown curve, a point not on the curve.
  const spki = readElement(parseCertificate(der).spki).value;
  const swapCurve = (curveOid: string) =>
    editTbs(der, (f) => (f[6] = hexToBytes(bytesToHex(f[6]).replace("06052b81040023", curveOid)), f));
  assert.throws(() => parseCertificate(swapCurve("06052b8104000a")), /unsupported key parameters/);
  const offCurve = spki.slice();
  offCurve[offCurve.length - 1] ^= 1;
  assert.throws(
    () => parseCertificate(editTbs(der, (f) => (f[6] = encodeElement(TAG.SEQUENCE, offCurve), f))),
    /not on the curve/,
  );
  // Unique identifiers and extra elements.
  assert.throws(
    () => parseCertificate(editTbs(der, (f) => [...f.slice(0, 7), hexToBytes("810100"), f[7]])),
    /unique/,
  );
  assert.throws(
    () => parseCertificate(editTbs(der, (f) => [...f, hexToBytes("0500")])),
    /unexpected element/,
  );
  // The limit on size.
  assert.throws(() => parseCertificate(new Uint8Array(20000)), /longer than/);
});

Deno.test("x509: random corruption gives a RangeError or a certificate that fails verification", () => {
  const { der } = makeCert({ hosts: ["localhost", "127.0.0.1", "::1"] });
  for (let i = 0; i < 400; i++) {
    const bad = der.slice();
    for (let k = 1 + (i % 3); k > 0; k--) {
      bad[Math.floor(Math.random() * bad.length)] = Math.floor(Math.random() * 256);
    }
    try {
      const c = parseCertificate(bad);
      if (bytesToHex(bad) !== bytesToHex(der)) assert.equal(verifySelfSignature(c), false);
    } catch (e) {
      assert.ok(e instanceof RangeError, String(e));
    }
  }
});

// ---- pins -----------------------------------------------------------------------------------------------

Deno.test("x509: the pin is unpadded base64url SHA-256 of the SPKI DER", () => {
  const { der, secretKey } = makeCert();
  const cert = parseCertificate(der);
  const pin = spkiPin(cert.spki);
  assert.equal(pin.length, 43);
  assert.ok(isPin(pin));
  assert.equal(
    pin,
    btoa(String.fromCharCode(...sha256(cert.spki))).replace(/\+/g, "-").replace(/\//g, "_").replace(
      /=+$/,
      "",
    ),
  );
  assert.equal(certificatePin(der), pin);
  // Re-issuing for the same key keeps the pin; a new key changes it.
  const again = makeCert({ secretKey, hosts: ["other.example"] }).der;
  assert.equal(certificatePin(again), pin);
  assert.notEqual(certificatePin(makeCert().der), pin);
  assert.throws(() => spkiPin(concatBytes(cert.spki, Uint8Array.of(0))), RangeError);
  assert.ok(
    !isPin(pin.slice(1)) && !isPin(pin + "A") && !isPin(pin.slice(0, 42) + "B") &&
      !isPin(pin.replace(/./, "+")),
  );
});

// ---- PEM and key files ----------------------------------------------------------------------------------

Deno.test("pem: encode → decode round trip, 64-character lines, strict errors", () => {
  for (const n of [1, 2, 3, 47, 48, 49, 223, 500]) {
    const der = randomBytes(n);
    const pem = encodePem("CERTIFICATE", der);
    const lines = pem.split("\n");
    assert.equal(lines[0], "-----BEGIN CERTIFICATE-----");
    assert.equal(lines.at(-2), "-----END CERTIFICATE-----");
    assert.equal(lines.at(-1), "");
    for (const l of lines.slice(1, -3)) assert.equal(l.length, 64);
    assert.ok(lines.at(-3)!.length <= 64 && lines.at(-3)!.length > 0);
    assert.deepEqual(decodePem(pem), der);
    assert.deepEqual(decodePem(pem.replace(/\n/g, "\r\n"), "CERTIFICATE"), der);
    assert.deepEqual(decodePem(`explanatory text\n${pem}trailing text\n`), der);
  }
  const pem = encodePem("EC PRIVATE KEY", randomBytes(100));
  assert.throws(() => decodePem(pem, "CERTIFICATE"), /no "CERTIFICATE" PEM block \(found "EC PRIVATE KEY"\)/);
  assert.throws(() => decodePem(""), /no PEM block/);
  assert.throws(() => decodePem(pem + pem), /expected one PEM block, found 2/);
  assert.throws(() => decodePem(pem.replace("-----END EC PRIVATE KEY-----\n", "")), /no END line/);
  assert.throws(
    () => decodePem(pem.replace("END EC PRIVATE", "END RSA PRIVATE")),
    /expected "-----END EC PRIVATE KEY-----"/,
  );
  assert.throws(() => decodePem(pem.replace(/\n(.)/, "\n*")), /non-base64/);
  assert.throws(() => decodePem(pem.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n")), /encrypted PEM/);
  assert.throws(() => decodePem("-----BEGIN X-----\nAAA\n-----END X-----\n"), /not valid base64/);
  assert.throws(() => decodePem("-----BEGIN X-----\nAB==\n-----END X-----\n"), /not valid base64/); // non-zero pad bits
  assert.throws(() => decodePem("-----BEGIN X-----\n-----END X-----\n"), /empty/);
  assert.throws(() => decodePem("-----END X-----\n"), /END line without/);
  assert.throws(() => decodePem("-----BEGIN x-----\nAA==\n-----END x-----\n"), /malformed BEGIN/);
  assert.throws(() => encodePem("lower", randomBytes(3)), RangeError);
  assert.throws(() => encodePem("X", "no" as unknown as Uint8Array), TypeError);
  assert.deepEqual(decodePemBlocks(pem + encodePem("CERTIFICATE", Uint8Array.of(1))).map((b) => b.label), [
    "EC PRIVATE KEY",
    "CERTIFICATE",
  ]);
});

Deno.test("pem: SEC1 ECPrivateKey has the notes §3.4 layout and decodes back; bad keys are refused", () => {
  const secretKey = p521.randomSecretKey();
  const der = encodeEcPrivateKey(secretKey);
  assert.equal(der.length, 223);
  const hex = bytesToHex(der);
  assert.ok(
    hex.startsWith("3081dc0201010442" + bytesToHex(secretKey) + "a00706052b81040023a181890381860004"),
  );
  assert.ok(hex.endsWith(bytesToHex(p521.getPublicKey(secretKey, false)).slice(2)));
  assert.deepEqual(decodeEcPrivateKey(der), secretKey);
  assert.deepEqual(decodePrivateKeyPem(encodePem("EC PRIVATE KEY", der)), secretKey);
  for (const curve of [p256, p384]) {
    const sk = curve.randomSecretKey();
    assert.deepEqual(decodeEcPrivateKey(encodeEcPrivateKey(sk, curve), curve), sk);
    assert.throws(() => decodeEcPrivateKey(encodeEcPrivateKey(sk, curve)), /must be 66 bytes|curve/);
  }
  const other = p521.getPublicKey(p521.randomSecretKey(), false);
  const wrongPub = hexToBytes(hex.slice(0, hex.length - 266) + bytesToHex(other));
  assert.throws(() => decodeEcPrivateKey(wrongPub), /does not belong/);
  const n = p521.n.toString(16).padStart(132, "0");
  assert.throws(() => decodeEcPrivateKey(hexToBytes(hex.replace(bytesToHex(secretKey), n))), /\[1, n - 1\]/);
  assert.throws(
    () => decodeEcPrivateKey(hexToBytes(hex.replace(bytesToHex(secretKey), "00".repeat(66)))),
    /\[1, n - 1\]/,
  );
  assert.throws(() => decodeEcPrivateKey(concatBytes(der, Uint8Array.of(0))), /trailing/);
  assert.throws(() => decodeEcPrivateKey(der.subarray(0, 100)), RangeError);
  assert.throws(() => decodeEcPrivateKey(hexToBytes(hex.replace("020101", "020100"))), /version must be 1/);
  assert.throws(
    () => decodeEcPrivateKey(hexToBytes(hex.replace("06052b81040023", "06052b81040022"))),
    /curve 1.3.132.0.34/,
  );
  // Without the [0] curve a bare SEC1 key is refused; the public key alone is optional.
  const noParams = encodeElement(
    TAG.SEQUENCE,
    hexToBytes("020101"),
    encodeElement(TAG.OCTET_STRING, secretKey),
  );
  assert.throws(() => decodeEcPrivateKey(noParams), /named curve is missing/);
  assert.deepEqual(decodeEcPrivateKey(noParams, p521, true), secretKey);
  assert.throws(() => decodeEcPrivateKey(new Uint8Array(0)), RangeError);
  assert.throws(() => encodeEcPrivateKey(new Uint8Array(66)), RangeError);
  assert.throws(
    () => decodePrivateKeyPem(encodePem("CERTIFICATE", der)),
    /no "EC PRIVATE KEY" or "PRIVATE KEY"/,
  );
  assert.throws(() => decodePrivateKeyPem(encodePem("PRIVATE KEY", der)), /PKCS#8/);
  assert.throws(() => decodePkcs8EcPrivateKey(der), /PKCS#8/);
});

// ---- OpenSSL ----------------------------------------------------------------------------------------------

async function opensslWorks(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}
const inCI = Deno.env.get("CI") !== undefined;
const noOpenssl = !(await opensslWorks()) && !inCI;

async function openssl(
  args: string[],
  stdin?: Uint8Array | string,
): Promise<{ out: Uint8Array; text: string }> {
  const child = new Deno.Command("openssl", { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  if (stdin !== undefined) await writer.write(typeof stdin === "string" ? utf8(stdin) : stdin);
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(`openssl ${args.join(" ")} failed (${code}): ${new TextDecoder().decode(stderr)}`);
  }
  return { out: stdout, text };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sotto-x509-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "x509/openssl: x509 -text parses it; verify -x509_strict accepts it for localhost and 127.0.0.1",
  ignore: noOpenssl,
  fn: () =>
    withTempDir(async (dir) => {
      const { der } = makeCert({ hosts: ["localhost", "127.0.0.1", "::1"] });
      const c = `${dir}/c.pem`;
      await Deno.writeTextFile(c, encodePem("CERTIFICATE", der));
      const { text } = await openssl(["x509", "-in", c, "-noout", "-text"]);
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA512/);
      assert.match(text, /NIST CURVE: P-521/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
      const base = ["verify", "-CAfile", c, "-x509_strict"];
      assert.match((await openssl([...base, "-verify_hostname", "localhost", c])).text, /: OK/);
      assert.match((await openssl([...base, "-verify_ip", "127.0.0.1", c])).text, /: OK/);
      assert.match((await openssl([...base, "-verify_ip", "::1", c])).text, /: OK/);
      await assert.rejects(openssl([...base, "-verify_hostname", "example.org", c]), /hostname mismatch/);
      // DER in, DER out: openssl re-encodes it byte for byte.
      const { out } = await openssl(["x509", "-inform", "DER", "-outform", "DER"], der);
      assert.deepEqual(out, der);
    }),
});

Deno.test({
  name: "x509/openssl: dates across 2050 read back the same",
  ignore: noOpenssl,
  fn: async () => {
    const { der } = makeCert({
      notBefore: new Date("2049-12-31T23:59:59Z"),
      notAfter: new Date("2050-01-01T00:00:01Z"),
    });
    const { text } = await openssl(["x509", "-inform", "DER", "-noout", "-dates"], der);
    assert.match(text, /notBefore=Dec 31 23:59:59 2049 GMT/);
    assert.match(text, /notAfter=Jan {2}1 00:00:01 2050 GMT/);
  },
});

Deno.test({
  name: "x509/openssl: our pin equals openssl's SPKI SHA-256 in base64url",
  ignore: noOpenssl,
  fn: async () => {
    const { der } = makeCert();
    const pubkey = (await openssl(["x509", "-inform", "DER", "-pubkey", "-noout"], der)).out;
    const spkiDer = (await openssl(["pkey", "-pubin", "-outform", "DER"], pubkey)).out;
    const digest = (await openssl(["dgst", "-sha256", "-binary"], spkiDer)).out;
    const b64 = (await openssl(["base64"], digest)).text.trim();
    assert.equal(certificatePin(der), b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
    assert.deepEqual(spkiDer, parseCertificate(der).spki);
  },
});

Deno.test({
  name: "pem/openssl: openssl reads our key file (same public key), we read openssl's SEC1 and PKCS#8 keys",
  ignore: noOpenssl,
  fn: () =>
    withTempDir(async (dir) => {
      const { der, secretKey } = makeCert();
      const k = `${dir}/server.key`;
      await Deno.writeTextFile(k, encodePem("EC PRIVATE KEY", encodeEcPrivateKey(secretKey)));
      await openssl(["pkey", "-in", k, "-noout"]);
      await openssl(["ec", "-in", k, "-check", "-noout"]);
      const pub = (await openssl(["ec", "-in", k, "-pubout", "-outform", "DER"])).out;
      assert.deepEqual(pub, parseCertificate(der).spki);
      // openssl's conversions of our key, and its own keys, decode to the same secret.
      const pkcs8 = (await openssl(["pkcs8", "-topk8", "-nocrypt", "-in", k])).text;
      assert.match(pkcs8, /BEGIN PRIVATE KEY/);
      assert.deepEqual(decodePrivateKeyPem(pkcs8), secretKey);
      const sec1 = (await openssl(["ec", "-in", k])).text;
      assert.deepEqual(decodePrivateKeyPem(sec1), secretKey);
      const generated = (await openssl(["ecparam", "-name", "secp521r1", "-genkey"])).text;
      assert.match(generated, /BEGIN EC PARAMETERS[\s\S]*BEGIN EC PRIVATE KEY/);
      const sk = decodePrivateKeyPem(generated);
      const theirPub = (await openssl(["ec", "-pubout", "-outform", "DER"], generated)).out;
      assert.deepEqual(
        readChildren(readElement(theirPub).value)[1].value.subarray(1),
        p521.getPublicKey(sk, false),
      );
      const p384Key =
        (await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"])).text;
      assert.throws(() => decodePrivateKeyPem(p384Key), /curve 1.3.132.0.34/);
      assert.equal(decodePrivateKeyPem(p384Key, p384).length, 48);
    }),
});

Deno.test({
  name: "x509/openssl: certificates made by openssl req -x509 (P-521, P-384, P-256) parse and verify",
  ignore: noOpenssl,
  fn: () =>
    withTempDir(async (dir) => {
      for (const [curve, name] of [[p521, "P-521"], [p384, "P-384"], [p256, "P-256"]] as const) {
        await openssl([
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          `ec_paramgen_curve:${name}`,
          "-nodes",
          "-keyout",
          `${dir}/k.pem`,
          "-out",
          `${dir}/c.pem`,
          "-subj",
          "/CN=localhost",
          "-days",
          "30",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
        ]);
        const cert = parseCertificate(decodePem(await Deno.readTextFile(`${dir}/c.pem`), "CERTIFICATE"));
        assert.equal(cert.namedCurve, curve.oid);
        assert.equal(cert.signatureAlgorithm, OID_ECDSA_WITH_SHA256); // openssl's default digest
        assert.equal(cert.isCA, true); // openssl's default v3_ca section
        assert.deepEqual(cert.dnsNames, ["localhost"]);
        assert.deepEqual(cert.ipAddresses, ["127.0.0.1", "::1"]);
        assert.equal(Math.round((cert.notAfter.getTime() - cert.notBefore.getTime()) / 86400_000), 30);
        assert.ok(verifySelfSignature(cert));
        const sk = decodePrivateKeyPem(await Deno.readTextFile(`${dir}/k.pem`), curve);
        assert.deepEqual(cert.publicKey, curve.getPublicKey(sk, false));
      }
    }),
});

// ---- Deno's built-in TLS (rustls) and openssl s_client as peers -------------------------------------------

Deno.test("x509/deno: Deno.listenTls serves our cert+key; Deno.connectTls trusts it for localhost and 127.0.0.1", async () => {
  const { der, secretKey } = makeCert({ hosts: ["localhost", "127.0.0.1"] });
  const cert = encodePem("CERTIFICATE", der);
  const key = encodePem("EC PRIVATE KEY", encodeEcPrivateKey(secretKey));
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  const port = (listener.addr as Deno.NetAddr).port;
  const served = (async () => {
    for (let i = 0; i < 3; i++) {
      const conn = await listener.accept();
      try {
        await conn.handshake();
        await conn.write(utf8("hello"));
      } catch {
        // The third client refuses the certificate.
      } finally {
        conn.close();
      }
    }
  })();
  try {
    for (const hostname of ["localhost", "127.0.0.1"]) {
      const conn = await Deno.connectTls({ hostname, port, caCerts: [cert] });
      try {
        await conn.handshake();
        const buf = new Uint8Array(16);
        const n = await conn.read(buf);
        assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "hello", hostname);
      } finally {
        conn.close();
      }
    }
    // A name the certificate does not carry is refused by rustls: the SAN is what it checks.
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    const tls = await Deno.startTls(tcp, { hostname: "not-in-the-cert.test", caCerts: [cert] });
    try {
      await assert.rejects(tls.handshake(), /NotValidForName|certificate/i);
    } finally {
      tls.close();
    }
  } finally {
    await served;
    listener.close();
  }
});

Deno.test({
  name: "x509/openssl: s_client -verify_return_error accepts our certificate served by Deno.listenTls",
  ignore: noOpenssl,
  fn: () =>
    withTempDir(async (dir) => {
      const { der, secretKey } = makeCert();
      const cert = encodePem("CERTIFICATE", der);
      await Deno.writeTextFile(`${dir}/c.pem`, cert);
      const key = encodePem("EC PRIVATE KEY", encodeEcPrivateKey(secretKey));
      const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
      const port = (listener.addr as Deno.NetAddr).port;
      const served = (async () => {
        const conn = await listener.accept();
        try {
          await conn.handshake();
          await conn.write(utf8("hello\n"));
        } finally {
          conn.close();
        }
      })();
      try {
        const { text } = await openssl([
          "s_client",
          "-connect",
          `127.0.0.1:${port}`,
          "-servername",
          "localhost",
          "-verify_hostname",
          "localhost",
          "-CAfile",
          `${dir}/c.pem`,
          "-verify_return_error",
          "-tls1_3",
        ]);
        assert.match(text, /Verify return code: 0 \(ok\)/);
        assert.match(text, /Peer signature type: ECDSA/);
      } finally {
        await served;
        listener.close();
      }
    }),
});
