// What our state machines refuse, and with which alert (RFC 8446 §6; notes/tls13.md §2.9): corrupted
// records, a rejected pin, a bad signature or Finished, truncated and out-of-order messages, oversized
// records, a second HelloRetryRequest and malformed hellos. The alert must also reach the peer, which
// then reports it as received.
import assert from "node:assert/strict";
import { AesGcm } from "../../../crypto/aes.ts";
import { concatBytes, hexToBytes } from "../../../crypto/bytes.ts";
import { p256 } from "../../../crypto/p256.ts";
import { p521 } from "../../../crypto/p521.ts";
import { Alert, alertName, TlsError } from "../../../protocol/tls13/alert.ts";
import { trafficKeys } from "../../../protocol/tls13/key_schedule.ts";
import {
  type ClientHello,
  encodeClientHello,
  encodeClientKeyShares,
  encodeClientVersions,
  encodeServerHello,
  encodeServerKeyShare,
  encodeU16,
  encodeU16List,
  type Extensions,
  ExtensionType,
  handshakeMessage,
  HRR_RANDOM,
  parseClientHello,
  TLS13,
} from "../../../protocol/tls13/messages.ts";
import { plaintextRecord, RecordProtection } from "../../../protocol/tls13/record.ts";
import { TlsServer } from "../../../protocol/tls13/server.ts";
import { TLS_AES_256_GCM_SHA384 } from "../../../protocol/tls13/suites.ts";
import {
  expectAlert,
  expectRemoteAlert,
  flip,
  handshake,
  loggedSecret,
  makePair,
  pump,
  records,
  seededRandom,
  testIdentity,
} from "./_helpers.ts";

const identity = testIdentity();

/** A ClientHello of our own making, for the server to judge. */
function clientHello(extensions: Extensions, suites = [0x1302], sessionId = new Uint8Array(0)): Uint8Array {
  const hello: ClientHello = {
    random: new Uint8Array(32).fill(7),
    sessionId,
    cipherSuites: suites,
    extensions,
  };
  return plaintextRecord(22, encodeClientHello(hello));
}

const p256Share = p256.getPublicKey(p256.randomSecretKey(seededRandom("share")), false);
function goodExtensions(): Extensions {
  return [
    [ExtensionType.supported_groups, encodeU16List([0x17])],
    [ExtensionType.signature_algorithms, encodeU16List([0x0603])],
    [ExtensionType.supported_versions, encodeClientVersions([TLS13])],
    [ExtensionType.key_share, encodeClientKeyShares([{ group: 0x17, keyExchange: p256Share }])],
  ];
}
function newServer(): TlsServer {
  return new TlsServer({
    certificateChain: [identity.certificate],
    secretKey: identity.secretKey,
    random: seededRandom("s"),
  });
}

// ---- corrupted records --------------------------------------------------------------------------------

Deno.test("a flipped bit in an application data record: bad_record_mac, and the peer hears it", () => {
  const p = makePair(identity, {}, {}, "flip app");
  handshake(p);
  p.client.write(new Uint8Array(100));
  const record = p.client.takeOutput();
  const alert = expectAlert(p.server, Alert.bad_record_mac, () => p.server.receive(flip(record, 50)));
  expectRemoteAlert(p.client, alert, Alert.bad_record_mac);
});

Deno.test("a flipped bit in the server's encrypted flight: bad_record_mac", () => {
  const p = makePair(identity, {}, {}, "flip flight");
  p.server.receive(p.client.takeOutput());
  const flight = p.server.takeOutput();
  const alert = expectAlert(
    p.client,
    Alert.bad_record_mac,
    () => p.client.receive(flip(flight, flight.length - 20, 0x80)),
  );
  expectRemoteAlert(p.server, alert, Alert.bad_record_mac);
});

Deno.test("record protection rejects every one of 300 random single-bit flips (header, ciphertext, tag)", () => {
  const secret = seededRandom("flips")(48);
  const sealed = new RecordProtection(TLS_AES_256_GCM_SHA384, secret).seal(23, seededRandom("plain")(200));
  for (let i = 0; i < 300; i++) {
    const index = Math.floor(Math.random() * sealed.length), bit = 1 << Math.floor(Math.random() * 8);
    const bad = flip(sealed, index, bit);
    const reader = new RecordProtection(TLS_AES_256_GCM_SHA384, secret);
    assert.throws(() => reader.open(bad.subarray(0, 5), bad.subarray(5)), /bad_record_mac/);
  }
});

// ---- authentication ---------------------------------------------------------------------------------

Deno.test("a pin the client rejects: bad_certificate, before any Finished", () => {
  const p = makePair(
    identity,
    {
      verifyPeer: () => {
        throw new Error("pin mismatch");
      },
    },
    {},
    "pin",
  );
  p.server.receive(p.client.takeOutput());
  const alert = expectAlert(p.client, Alert.bad_certificate, () => p.client.receive(p.server.takeOutput()));
  assert.equal(records(alert).length, 2, "the compatibility CCS, then the alert: no Finished");
  expectRemoteAlert(p.server, alert, Alert.bad_certificate);
  assert.ok(!p.client.handshakeComplete);
});

Deno.test("the client hands verifyPeer the certificate and its SPKI, and still checks the CertificateVerify", () => {
  let seen: Uint8Array[] = [];
  const other = testIdentity("another key");
  // The server presents our certificate but signs with another key: the pin passes, the signature fails.
  const p = makePair(identity, { verifyPeer: (cert, spki) => void (seen = [cert, spki]) }, {
    secretKey: other.secretKey,
  }, "cv");
  p.server.receive(p.client.takeOutput());
  const alert = expectAlert(p.client, Alert.decrypt_error, () => p.client.receive(p.server.takeOutput()));
  assert.deepEqual(seen[0], identity.certificate);
  assert.equal(seen[1].length, 158);
  expectRemoteAlert(p.server, alert, Alert.decrypt_error);
});

Deno.test("an unparsable server certificate: bad_certificate", () => {
  const p = makePair(identity, {}, { certificateChain: [Uint8Array.of(0x30, 3, 1, 2, 3)] }, "junk cert");
  p.server.receive(p.client.takeOutput());
  expectAlert(p.client, Alert.bad_certificate, () => p.client.receive(p.server.takeOutput()));
});

Deno.test("a wrong server Finished: decrypt_error", () => {
  const p = makePair(identity, {}, {}, "bad server finished");
  p.server.receive(p.client.takeOutput());
  const [sh, ccs, flight] = records(p.server.takeOutput());
  const sHs = loggedSecret(p.serverLog, "SERVER_HANDSHAKE_TRAFFIC_SECRET");
  const { content } = new RecordProtection(TLS_AES_256_GCM_SHA384, sHs).open(
    flight.subarray(0, 5),
    flight.subarray(5),
  );
  const forged = new RecordProtection(TLS_AES_256_GCM_SHA384, sHs).seal(
    22,
    flip(content, content.length - 1),
  );
  expectAlert(p.client, Alert.decrypt_error, () => p.client.receive(concatBytes(sh, ccs, forged)));
});

Deno.test("a wrong client Finished: decrypt_error", () => {
  const p = makePair(identity, {}, {}, "bad client finished");
  p.server.receive(p.client.takeOutput());
  p.client.receive(p.server.takeOutput());
  const [ccs, fin] = records(p.client.takeOutput());
  const cHs = loggedSecret(p.clientLog, "CLIENT_HANDSHAKE_TRAFFIC_SECRET");
  const { content } = new RecordProtection(TLS_AES_256_GCM_SHA384, cHs).open(
    fin.subarray(0, 5),
    fin.subarray(5),
  );
  const forged = new RecordProtection(TLS_AES_256_GCM_SHA384, cHs).seal(22, flip(content, 10));
  expectAlert(p.server, Alert.decrypt_error, () => p.server.receive(concatBytes(ccs, forged)));
});

// ---- malformed, truncated and out-of-order messages ---------------------------------------------------

Deno.test("a truncated ClientHello (lengths fixed up so only the contents run short): decode_error", () => {
  const record = makePair(identity, {}, {}, "trunc").client.takeOutput();
  const cut = 10;
  const msgLen = ((record[6] << 16) | (record[7] << 8) | record[8]) - cut;
  const short = record.slice(0, record.length - cut);
  short[3] = (msgLen + 4) >> 8, short[4] = (msgLen + 4) & 0xff;
  short[6] = msgLen >> 16, short[7] = (msgLen >> 8) & 0xff, short[8] = msgLen & 0xff;
  const server = newServer();
  const alert = expectAlert(server, Alert.decode_error, () => server.receive(short));
  assert.equal(alert[0], 21, "a plaintext alert before keys");
});

Deno.test("messages out of order: unexpected_message", () => {
  const server = newServer();
  expectAlert(
    server,
    Alert.unexpected_message,
    () => server.receive(plaintextRecord(22, handshakeMessage(20, new Uint8Array(48)))),
  );
  const early = newServer();
  expectAlert(early, Alert.unexpected_message, () => early.receive(plaintextRecord(20, Uint8Array.of(1))));
  const data = newServer();
  expectAlert(data, Alert.unexpected_message, () => data.receive(plaintextRecord(23, new Uint8Array(20))));

  const p = makePair(identity, {}, {}, "order");
  expectAlert(
    p.client,
    Alert.unexpected_message,
    () => p.client.receive(plaintextRecord(22, handshakeMessage(11, new Uint8Array(4)))),
  );
});

Deno.test("after the handshake: a ClientHello, a bad KeyUpdate, a plaintext record: refused", () => {
  const cases: [
    number,
    (p: ReturnType<typeof makePair>, seal: (type: number, c: Uint8Array) => Uint8Array) => Uint8Array,
  ][] = [
    [Alert.unexpected_message, (_p, seal) => seal(22, handshakeMessage(1, new Uint8Array(40)))],
    [Alert.illegal_parameter, (_p, seal) => seal(22, handshakeMessage(24, Uint8Array.of(2)))],
    [Alert.decode_error, (_p, seal) => seal(22, handshakeMessage(24, Uint8Array.of(0, 0)))],
    [Alert.unexpected_message, () => plaintextRecord(22, handshakeMessage(24, Uint8Array.of(0)))],
    [Alert.unexpected_message, (_p, seal) => seal(20, Uint8Array.of(1))],
    [Alert.unexpected_message, (_p, seal) => seal(0, new Uint8Array(0))],
  ];
  cases.forEach(([alert, make], i) => {
    const p = makePair(identity, {}, {}, `post ${i}`);
    handshake(p);
    const rp = new RecordProtection(
      TLS_AES_256_GCM_SHA384,
      loggedSecret(p.clientLog, "CLIENT_TRAFFIC_SECRET_0"),
    );
    const record = make(p, (type, content) => type === 0 ? rawSeal(rp, content) : rp.seal(type, content));
    expectAlert(p.server, alert, () => p.server.receive(record));
  });
});

/** A record whose inner plaintext is all zeros (no content type), sealed by hand. */
function rawSeal(rp: RecordProtection, _content: Uint8Array): Uint8Array {
  const { key, iv } = trafficKeys(TLS_AES_256_GCM_SHA384, rp.secret);
  const header = Uint8Array.of(23, 3, 3, 0, 4 + 16);
  return concatBytes(header, new AesGcm(key).seal(iv, new Uint8Array(4), header));
}

// ---- sizes --------------------------------------------------------------------------------------------

Deno.test("oversized records: record_overflow (plaintext, ciphertext, and inner plaintext)", () => {
  const big = newServer();
  expectAlert(big, Alert.record_overflow, () => big.receive(Uint8Array.of(22, 3, 1, 0x40, 0x01)));
  const p = makePair(identity, {}, {}, "overflow");
  handshake(p);
  expectAlert(p.server, Alert.record_overflow, () => p.server.receive(Uint8Array.of(23, 3, 3, 0x41, 0x01)));

  // 2^14 + 2 bytes of inner plaintext that authenticate: the limit is on the plaintext, after decryption.
  const q = makePair(identity, {}, {}, "overflow inner");
  handshake(q);
  const { key, iv } = trafficKeys(
    TLS_AES_256_GCM_SHA384,
    loggedSecret(q.clientLog, "CLIENT_TRAFFIC_SECRET_0"),
  );
  const inner = new Uint8Array(16384 + 2).fill(1);
  const header = Uint8Array.of(23, 3, 3, (inner.length + 16) >> 8, (inner.length + 16) & 0xff);
  const record = concatBytes(header, new AesGcm(key).seal(iv, inner, header));
  expectAlert(q.server, Alert.record_overflow, () => q.server.receive(record));
});

Deno.test("our side never sends a record longer than 2^14 bytes of plaintext", () => {
  const p = makePair(identity, {}, {}, "split");
  handshake(p);
  p.client.write(new Uint8Array(50000));
  const lengths = records(p.client.takeOutput()).map((r) => r.length - 5);
  assert.deepEqual(lengths, [16401, 16401, 16401, 50000 - 3 * 16384 + 17]);
});

// ---- HelloRetryRequest ----------------------------------------------------------------------------------

Deno.test("a second HelloRetryRequest: the client sends unexpected_message (RFC 8446 §4.1.4)", () => {
  const p = makePair(identity, { keyShareGroups: [0x17] }, { groups: [0x19] }, "hrr twice");
  p.server.receive(p.client.takeOutput());
  const hrr = p.server.takeOutput();
  p.client.receive(hrr);
  p.client.takeOutput();
  expectAlert(p.client, Alert.unexpected_message, () => p.client.receive(records(hrr)[0]));
});

Deno.test("a second ClientHello without the share asked for (a second HRR would be needed): illegal_parameter", () => {
  const p = makePair(identity, { keyShareGroups: [0x17] }, { groups: [0x19, 0x17] }, "hrr ignored");
  const first = p.client.takeOutput();
  p.server.receive(first);
  assert.ok(p.server.takeOutput().length > 0, "a HelloRetryRequest for secp521r1");
  const alert = expectAlert(p.server, Alert.illegal_parameter, () => p.server.receive(first));
  expectRemoteAlert(p.client, alert, Alert.illegal_parameter);
});

Deno.test("a HelloRetryRequest for a group the client already shared, or changing nothing: illegal_parameter", () => {
  for (const extensions of [[[51, encodeU16(0x11ed)]], []] as Extensions[]) {
    const p = makePair(identity, {}, {}, "hrr same group");
    const hello = parseClientHello(p.client.takeOutput().subarray(9));
    const hrr = encodeServerHello({
      random: HRR_RANDOM,
      sessionId: hello.sessionId,
      cipherSuite: 0x1302,
      extensions: [[ExtensionType.supported_versions, encodeU16(TLS13)], ...extensions],
    });
    expectAlert(p.client, Alert.illegal_parameter, () => p.client.receive(plaintextRecord(22, hrr)));
  }
});

// ---- ServerHello checks on the client -------------------------------------------------------------------

Deno.test("ServerHello errors: no supported_versions, session id not echoed, suite not offered, extra extension", () => {
  const share = p521.getPublicKey(p521.randomSecretKey(seededRandom("sh")), false);
  const cases: [number, (id: Uint8Array) => Parameters<typeof encodeServerHello>[0]][] = [
    [
      Alert.protocol_version,
      (id) => ({ random: new Uint8Array(32), sessionId: id, cipherSuite: 0x1302, extensions: [] }),
    ],
    [
      Alert.illegal_parameter,
      () => ({
        random: new Uint8Array(32),
        sessionId: new Uint8Array(32),
        cipherSuite: 0x1302,
        extensions: [[43, encodeU16(TLS13)]],
      }),
    ],
    [
      Alert.illegal_parameter,
      (id) => ({
        random: new Uint8Array(32),
        sessionId: id,
        cipherSuite: 0x1304,
        extensions: [[43, encodeU16(TLS13)]],
      }),
    ],
    [
      Alert.illegal_parameter,
      (id) => ({
        random: new Uint8Array(32),
        sessionId: id,
        cipherSuite: 0x1302,
        extensions: [[43, encodeU16(0x0303)]],
      }),
    ],
    [
      Alert.unsupported_extension,
      (id) => ({
        random: new Uint8Array(32),
        sessionId: id,
        cipherSuite: 0x1302,
        extensions: [[43, encodeU16(TLS13)], [0, new Uint8Array(0)]],
      }),
    ],
    [
      Alert.missing_extension,
      (id) => ({
        random: new Uint8Array(32),
        sessionId: id,
        cipherSuite: 0x1302,
        extensions: [[43, encodeU16(TLS13)]],
      }),
    ],
    [
      Alert.illegal_parameter,
      (id) => ({
        random: new Uint8Array(32),
        sessionId: id,
        cipherSuite: 0x1302,
        extensions: [[43, encodeU16(TLS13)], [51, encodeServerKeyShare({ group: 0x18, keyExchange: share })]],
      }),
    ],
    [
      Alert.illegal_parameter,
      (id) => ({
        random: new Uint8Array(32),
        sessionId: id,
        cipherSuite: 0x1302,
        extensions: [[43, encodeU16(TLS13)], [
          51,
          encodeServerKeyShare({ group: 0x19, keyExchange: flip(share, 100) }),
        ]],
      }),
    ],
  ];
  cases.forEach(([alert, make], i) => {
    const p = makePair(identity, {}, {}, `sh ${i}`);
    const hello = parseClientHello(p.client.takeOutput().subarray(9));
    expectAlert(
      p.client,
      alert,
      () => p.client.receive(plaintextRecord(22, encodeServerHello(make(hello.sessionId)))),
    );
  });
});

// ---- ClientHello checks on the server -------------------------------------------------------------------

Deno.test("ClientHello errors: versions, suites, groups, signature schemes, missing extensions, bad points", () => {
  const without = (type: number) => goodExtensions().filter(([t]) => t !== type);
  const replace = (type: number, data: Uint8Array) =>
    goodExtensions().map(([t, d]) => [t, t === type ? data : d]) as Extensions;
  const cases: [number, Uint8Array][] = [
    [Alert.protocol_version, clientHello(without(ExtensionType.supported_versions))],
    [
      Alert.protocol_version,
      clientHello(replace(ExtensionType.supported_versions, encodeClientVersions([0x0303]))),
    ],
    [Alert.handshake_failure, clientHello(goodExtensions(), [0x1304, 0xc02c])],
    [
      Alert.handshake_failure,
      clientHello(replace(ExtensionType.signature_algorithms, encodeU16List([0x0403, 0x0804]))),
    ],
    [
      Alert.handshake_failure,
      clientHello(
        replace(ExtensionType.supported_groups, encodeU16List([0x1d])).map((
          [t, d],
        ) => [t, t === ExtensionType.key_share ? encodeClientKeyShares([]) : d]) as Extensions,
      ),
    ],
    [Alert.missing_extension, clientHello(without(ExtensionType.signature_algorithms))],
    [Alert.missing_extension, clientHello(without(ExtensionType.supported_groups))],
    [Alert.missing_extension, clientHello(without(ExtensionType.key_share))],
    [
      Alert.illegal_parameter,
      clientHello(
        replace(
          ExtensionType.key_share,
          encodeClientKeyShares([{ group: 0x17, keyExchange: flip(p256Share, 40) }]),
        ),
      ),
    ],
    [
      Alert.illegal_parameter,
      clientHello(
        replace(
          ExtensionType.key_share,
          encodeClientKeyShares([{ group: 0x17, keyExchange: p256Share.subarray(0, 33) }]),
        ),
      ),
    ],
    [
      Alert.illegal_parameter,
      clientHello(
        replace(ExtensionType.key_share, encodeClientKeyShares([{ group: 0x18, keyExchange: p256Share }])),
      ),
    ],
    [
      Alert.illegal_parameter,
      clientHello([...goodExtensions(), [ExtensionType.supported_groups, encodeU16List([0x17])]]),
    ],
    [
      Alert.illegal_parameter,
      clientHello([[ExtensionType.pre_shared_key, Uint8Array.of(0, 0, 0, 0)], ...goodExtensions()]),
    ],
    [
      Alert.decode_error,
      clientHello(replace(ExtensionType.supported_groups, Uint8Array.of(0, 3, 0, 0x17, 0))),
    ],
  ];
  cases.forEach(([alert, record], i) => {
    const server = newServer();
    assert.doesNotThrow(() => {
      try {
        server.receive(record);
      } catch (e) {
        assert.equal(
          alertName((e as TlsError).alert ?? -1),
          alertName(alert),
          `case ${i}: ${(e as Error).message}`,
        );
        return;
      }
      assert.fail(`case ${i}: accepted`);
    });
  });
  // Compression methods other than [null]: illegal_parameter.
  const hello = encodeClientHello({
    random: new Uint8Array(32),
    sessionId: new Uint8Array(0),
    cipherSuites: [0x1302],
    extensions: goodExtensions(),
  });
  const body = hello.slice();
  const at = 4 + 2 + 32 + 1 + 2 + 2; // version, random, empty session id, suites length, one suite
  assert.deepEqual([...body.subarray(at, at + 2)], [1, 0]);
  body[at + 1] = 1;
  const server = newServer();
  expectAlert(server, Alert.illegal_parameter, () => server.receive(plaintextRecord(22, body)));
});

/** A ClientHello record whose legacy_version is `version` (our encoder always writes 0x0303). */
function withLegacyVersion(record: Uint8Array, version: number): Uint8Array {
  const copy = record.slice();
  copy[9] = version >> 8, copy[10] = version & 0xff; // record header (5), message header (4)
  return copy;
}

Deno.test("ClientHello legacy_version other than 0x0303, 0x0300 (RFC 8446 §D.5) first: protocol_version", () => {
  // tlsfuzzer's test-tls13-legacy-version values (with the same value beside TLS 1.3 in supported_versions),
  // then the values OpenSSL lets through but RFC 8446 §4.1.2 forbids a client to send.
  const tlsfuzzer = [0x0300, 0x0000, 0x0200, 0x0002, 0x0100, 0x0103, 0x0102, 0x0001];
  for (const version of [...tlsfuzzer, 0x0301, 0x0302, 0x0304, 0x0305, 0x0403, 0xffff]) {
    for (const versions of [[TLS13], [TLS13, version]]) {
      const extensions = goodExtensions().map((
        [t, d],
      ) => [t, t === ExtensionType.supported_versions ? encodeClientVersions(versions) : d]) as Extensions;
      const server = newServer();
      const alert = expectAlert(
        server,
        Alert.protocol_version,
        () => server.receive(withLegacyVersion(clientHello(extensions), version)),
      );
      assert.equal(alert[0], 21, "a plaintext alert");
    }
  }
  // In the second ClientHello too, after a HelloRetryRequest.
  const p = makePair(identity, { keyShareGroups: [0x17] }, {}, "legacy version retry");
  p.server.receive(p.client.takeOutput());
  p.client.receive(p.server.takeOutput());
  const [ccs, ch2] = records(p.client.takeOutput());
  assert.equal(ccs[0], 20);
  expectAlert(p.server, Alert.protocol_version, () => p.server.receive(withLegacyVersion(ch2, 0x0300)));
});

Deno.test("ServerHello legacy_version other than 0x0303 (0x0300: RFC 8446 §D.5): the client sends protocol_version", () => {
  for (const version of [0x0300, 0x0301, 0x0304]) {
    const p = makePair(identity, {}, {}, `sh legacy ${version}`);
    p.server.receive(p.client.takeOutput());
    const sh = records(p.server.takeOutput())[0];
    expectAlert(p.client, Alert.protocol_version, () => p.client.receive(withLegacyVersion(sh, version)));
  }
});

Deno.test("a server ignores unknown extensions and GREASE, and answers the client's groups by its own preference", () => {
  const server = newServer();
  server.receive(
    clientHello([[0x0a0a, new Uint8Array(0)], ...goodExtensions(), [0xfe0d, Uint8Array.of(1, 2, 3)]], [
      0x1a1a,
      0x1302,
    ]),
  );
  assert.equal(server.takeOutput()[0], 22, "a ServerHello");
  assert.ok(!server.error);
});

// ---- alerts, closure and random input -----------------------------------------------------------------

Deno.test("a fatal alert from the peer ends the connection without an answer; close_notify during the handshake too", () => {
  const server = newServer();
  expectRemoteAlert(
    server,
    plaintextRecord(21, Uint8Array.of(2, Alert.handshake_failure)),
    Alert.handshake_failure,
  );
  const p = makePair(identity, {}, {}, "early close");
  p.client.takeOutput();
  expectRemoteAlert(p.client, plaintextRecord(21, Uint8Array.of(1, 0)), Alert.close_notify);
  const q = makePair(identity, {}, {}, "alert length");
  expectAlert(
    q.client,
    Alert.decode_error,
    () => q.client.receive(plaintextRecord(21, Uint8Array.of(1, 0, 1, 0))),
  );
});

/** A protected record with sequence number 0 whose inner plaintext is content ‖ type ‖ `padding` zeros. */
function sealPadded(secret: Uint8Array, type: number, content: Uint8Array, padding: number): Uint8Array {
  const { key, iv } = trafficKeys(TLS_AES_256_GCM_SHA384, secret);
  const inner = concatBytes(content, Uint8Array.of(type), new Uint8Array(padding));
  const length = inner.length + 16;
  const header = Uint8Array.of(23, 3, 3, length >> 8, length & 0xff);
  return concatBytes(header, new AesGcm(key).seal(iv, inner, header)); // seq 0: the nonce is the IV
}

Deno.test("an encrypted alert record with empty content, padded or not, under handshake or application keys: unexpected_message (RFC 8446 §5.4)", () => {
  for (const padding of [0, 5]) {
    // Handshake keys, the server reading: in place of the client's Finished.
    const a = makePair(identity, {}, {}, `empty alert c_hs ${padding}`);
    a.server.receive(a.client.takeOutput());
    a.client.receive(a.server.takeOutput());
    a.client.takeOutput();
    const cHs = loggedSecret(a.clientLog, "CLIENT_HANDSHAKE_TRAFFIC_SECRET");
    let alert = expectAlert(
      a.server,
      Alert.unexpected_message,
      () => a.server.receive(sealPadded(cHs, 21, new Uint8Array(0), padding)),
    );
    expectRemoteAlert(a.client, alert, Alert.unexpected_message);

    // Handshake keys, the client reading: in place of the server's EncryptedExtensions.
    const b = makePair(identity, {}, {}, `empty alert s_hs ${padding}`);
    b.server.receive(b.client.takeOutput());
    const [sh, ccs] = records(b.server.takeOutput());
    const sHs = loggedSecret(b.serverLog, "SERVER_HANDSHAKE_TRAFFIC_SECRET");
    alert = expectAlert(
      b.client,
      Alert.unexpected_message,
      () => b.client.receive(concatBytes(sh, ccs, sealPadded(sHs, 21, new Uint8Array(0), padding))),
    );
    assert.equal(records(alert).at(-1)![0], 23, "the alert is encrypted under the client's handshake key");

    // Application keys, in both directions.
    for (const side of ["server", "client"] as const) {
      const p = makePair(identity, {}, {}, `empty alert ap ${side} ${padding}`);
      handshake(p);
      const [reader, writer, label] = side === "server"
        ? [p.server, p.client, "CLIENT_TRAFFIC_SECRET_0"]
        : [p.client, p.server, "SERVER_TRAFFIC_SECRET_0"];
      const secret = loggedSecret(p.clientLog, label);
      alert = expectAlert(
        reader,
        Alert.unexpected_message,
        () => reader.receive(sealPadded(secret, 21, new Uint8Array(0), padding)),
      );
      expectRemoteAlert(writer, alert, Alert.unexpected_message);
    }
  }
  // In plaintext too (before keys), as for an empty handshake record; a record of 1 or 3+ bytes stays a
  // decode_error (tested above).
  const server = newServer();
  expectAlert(server, Alert.unexpected_message, () => server.receive(plaintextRecord(21, new Uint8Array(0))));
});

Deno.test("after close_notify, the reader sees EOF and ignores anything more; user_canceled is not fatal", () => {
  const p = makePair(identity, {}, {}, "close");
  handshake(p);
  const rp = new RecordProtection(
    TLS_AES_256_GCM_SHA384,
    loggedSecret(p.clientLog, "CLIENT_TRAFFIC_SECRET_0"),
  );
  p.server.receive(rp.seal(21, Uint8Array.of(1, Alert.user_canceled)));
  p.server.receive(rp.seal(23, Uint8Array.of(5)));
  p.server.receive(rp.seal(21, Uint8Array.of(1, 0)));
  p.server.receive(rp.seal(23, Uint8Array.of(6)));
  p.server.receive(hexToBytes("ffffffff"));
  assert.ok(p.server.peerClosed);
  assert.deepEqual([...p.server.read()!], [5]);
  assert.equal(p.server.read(), null);
  // The server may still write after the client's close_notify (half-close), then close.
  p.server.write(Uint8Array.of(9));
  p.server.close();
  assert.throws(() => p.server.write(Uint8Array.of(1)), /after close/);
  pump(p.client, p.server);
  assert.deepEqual([...p.client.read()!], [9]);
  assert.ok(p.client.peerClosed);
});

Deno.test("random bytes sent to a server are refused at once with an alert", () => {
  for (let i = 0; i < 200; i++) {
    const server = newServer();
    const junk = crypto.getRandomValues(new Uint8Array(1 + Math.floor(Math.random() * 300)));
    try {
      server.receive(junk);
    } catch (e) {
      assert.ok(e instanceof TlsError && !e.remote && e.alert !== null, String(e));
      assert.ok(server.takeOutput().length === 7, "one plaintext alert");
      continue;
    }
    // Only a prefix of a plausible record can be waiting for more bytes.
    assert.ok(junk[0] >= 20 && junk[0] <= 23 && !server.error, "waiting for the rest of a record");
  }
});

Deno.test("bad options are TypeErrors and RangeErrors", () => {
  const base = { certificateChain: [identity.certificate], secretKey: identity.secretKey };
  assert.throws(() => new TlsServer({ ...base, certificateChain: [] }), TypeError);
  assert.throws(() => new TlsServer({ ...base, secretKey: new Uint8Array(32) }), RangeError);
  assert.throws(() => new TlsServer({ ...base, cipherSuites: [0x1304] }), RangeError);
  assert.throws(() => new TlsServer({ ...base, groups: [0x1d] }), RangeError);
  assert.throws(() => new TlsServer({ ...base, maxFragmentLength: 16385 }), RangeError);
  assert.throws(() => new TlsServer({ ...base, keyUpdateInterval: 0 }), RangeError);
  assert.throws(() => makePair(identity, { verifyPeer: undefined as never }), TypeError);
  assert.throws(() => makePair(identity, { keyShareGroups: [0x17], groups: [0x19] }), RangeError);
});

Deno.test("0-RTT offered: the server ignores it, skips early records it cannot read (up to a limit)", () => {
  const withEarlyData: Extensions = [...goodExtensions(), [ExtensionType.early_data, new Uint8Array(0)]];
  const early = (n: number) =>
    concatBytes(Uint8Array.of(23, 3, 3, (n + 16) >> 8, (n + 16) & 0xff), seededRandom(`early ${n}`)(n + 16));

  const server = newServer();
  server.receive(clientHello(withEarlyData));
  assert.equal(server.takeOutput()[0], 22, "a full handshake: ServerHello");
  for (let i = 0; i < 3; i++) server.receive(early(16000));
  assert.ok(!server.error, "early data skipped");
  expectAlert(server, Alert.bad_record_mac, () => {
    for (let i = 0; i < 2; i++) server.receive(early(16000)); // past 64 KiB: no longer early data
  });

  // After a HelloRetryRequest the early records are skipped unread, and the second hello may not offer 0-RTT.
  const retry = newServer();
  const sharesP256Only = withEarlyData.map((
    [t, d],
  ) => [t, t === ExtensionType.supported_groups ? encodeU16List([0x19, 0x17]) : d]) as Extensions;
  retry.receive(clientHello(sharesP256Only));
  assert.ok(retry.takeOutput().length > 0, "a HelloRetryRequest");
  retry.receive(early(100));
  assert.ok(!retry.error);
  expectAlert(retry, Alert.illegal_parameter, () => retry.receive(clientHello(sharesP256Only)));
});
