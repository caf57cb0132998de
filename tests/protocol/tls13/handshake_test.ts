// Our client with our server, in memory with fixed random sources: every suite × group, directly and
// through a HelloRetryRequest, with KeyUpdate each way and payloads of 0 B, 1 B, 16 KiB and 1 MiB; then
// the shapes the record layer must handle (messages spanning records, compatibility CCS on and off, an
// ignored NewSessionTicket, automatic KeyUpdate), the exporter, closure and the key log.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, equalBytes } from "../../../crypto/bytes.ts";
import {
  encodeServerHello,
  encodeU16,
  ExtensionType,
  HRR_RANDOM,
  parseClientHello,
  TLS13,
} from "../../../protocol/tls13/messages.ts";
import { plaintextRecord, RecordProtection } from "../../../protocol/tls13/record.ts";
import { TLS_AES_256_GCM_SHA384 } from "../../../protocol/tls13/suites.ts";
import {
  drain,
  handshake,
  KEY_LOG_LABELS,
  loggedSecret,
  makePair,
  type Pair,
  parseKeyLog,
  pump,
  seededRandom,
  testIdentity,
} from "./_helpers.ts";

const identity = testIdentity();
const SUITES = [
  [0x1302, "TLS_AES_256_GCM_SHA384"],
  [0x1303, "TLS_CHACHA20_POLY1305_SHA256"],
  [0x1301, "TLS_AES_128_GCM_SHA256"],
] as const;
const GROUPS = [
  [0x11ed, "SecP384r1MLKEM1024"],
  [0x11eb, "SecP256r1MLKEM768"],
  [0x19, "secp521r1"],
  [0x18, "secp384r1"],
  [0x17, "secp256r1"],
] as const;
// 0 B last: a KeyUpdate request is answered at most once until the peer has sent application data.
const PAYLOADS = [1, 16384, 1 << 20, 0];

function payload(n: number, seed: string): Uint8Array {
  return seededRandom(seed)(n);
}

/** Sends `data` from one side to the other (records of at most 2^14 bytes) and checks it arrives whole. */
function transfer(
  from: Pair["client"] | Pair["server"],
  to: Pair["client"] | Pair["server"],
  data: Uint8Array,
): void {
  from.write(data);
  const wire = from.takeOutput();
  assert.ok(wire.length >= data.length, "ciphertext at least as long as plaintext");
  to.receive(wire);
  const got = drain(to);
  assert.equal(got.length, data.length);
  assert.ok(equalBytes(got, data), "payload arrives intact");
}

for (const [suiteId, suiteName] of SUITES) {
  for (const [groupId, groupName] of GROUPS) {
    for (const retry of [false, true]) {
      Deno.test(`in memory: ${suiteName} ${groupName} ${retry ? "via HelloRetryRequest" : "direct"}, KeyUpdate both ways, 0 B to 1 MiB`, () => {
        const share = retry ? (groupId === 0x19 ? 0x17 : 0x19) : groupId;
        const p = makePair(
          identity,
          { keyShareGroups: [share] }, // the client offers its default suites
          { cipherSuites: [suiteId], groups: [groupId] },
          `${suiteId}-${groupId}-${retry}`,
        );
        handshake(p);
        for (const side of [p.client, p.server]) {
          assert.deepEqual(
            { suite: side.info!.cipherSuite, group: side.info!.group, hrr: side.info!.helloRetryRequest },
            { suite: suiteName, group: groupName, hrr: retry },
          );
        }
        assert.ok(equalBytes(p.client.info!.peerCertificate!, identity.certificate));
        const clientKeys = parseKeyLog(p.clientLog), serverKeys = parseKeyLog(p.serverLog);
        assert.equal(clientKeys.size, 5);
        assert.deepEqual(clientKeys, serverKeys);
        assert.ok(equalBytes(
          p.client.exportKeyingMaterial("EXPERIMENTAL sotto", Uint8Array.of(1, 2), 32),
          p.server.exportKeyingMaterial("EXPERIMENTAL sotto", Uint8Array.of(1, 2), 32),
        ));
        for (const n of PAYLOADS) {
          p.client.updateKeys(true);
          p.server.receive(p.client.takeOutput());
          assert.ok(p.server.hasOutput, "the server answers a KeyUpdate request with its own");
          pump(p.client, p.server);
          transfer(p.client, p.server, payload(n, `c${n}`));
          p.server.updateKeys(true);
          p.client.receive(p.server.takeOutput());
          assert.ok(p.client.hasOutput, "the client answers a KeyUpdate request with its own");
          pump(p.client, p.server);
          transfer(p.server, p.client, payload(n, `s${n}`));
        }
        p.client.close();
        pump(p.client, p.server);
        assert.ok(p.server.peerClosed);
        p.server.close();
        pump(p.client, p.server);
        assert.ok(p.client.peerClosed);
      });
    }
  }
}

Deno.test("in memory: the client offers 0x1302, 0x1303 and the mandatory 0x1301, in that order; the server picks by its own order", () => {
  const p = makePair(identity, {}, {}, "suite order");
  assert.deepEqual(parseClientHello(p.client.takeOutput().subarray(9)).cipherSuites, [
    0x1302,
    0x1303,
    0x1301,
  ]);
  for (
    const [client, expected] of [
      [[0x1301, 0x1303, 0x1302], "TLS_AES_256_GCM_SHA384"],
      [[0x1301, 0x1303], "TLS_CHACHA20_POLY1305_SHA256"],
      [[0x1301], "TLS_AES_128_GCM_SHA256"],
    ] as const
  ) {
    const q = makePair(identity, { cipherSuites: [...client] }, {}, `suite ${client}`);
    handshake(q);
    assert.equal(q.server.info!.cipherSuite, expected);
  }
});

Deno.test("in memory: the same seeds give the same bytes on the wire (the state machines are deterministic)", () => {
  const run = () => {
    const p = makePair(identity, {}, {}, "deterministic");
    const first = p.client.takeOutput();
    p.server.receive(first);
    return bytesToHex(concatBytes(first, p.server.takeOutput()));
  };
  assert.equal(run(), run());
});

Deno.test("in memory: handshake messages spanning many records, and application data in small records", () => {
  const p = makePair(
    identity,
    { maxFragmentLength: 7, keyShareGroups: [0x18] },
    { maxFragmentLength: 13 },
    "small",
  );
  handshake(p);
  assert.ok(p.server.info!.helloRetryRequest);
  transfer(p.client, p.server, payload(1000, "small c"));
  transfer(p.server, p.client, payload(1000, "small s"));
});

Deno.test("in memory: bytes delivered one at a time", () => {
  const p = makePair(identity, {}, {}, "bytewise");
  for (let round = 0; round < 10 && !(p.client.handshakeComplete && p.server.handshakeComplete); round++) {
    for (const [from, to] of [[p.client, p.server], [p.server, p.client]] as const) {
      const out = from.takeOutput();
      for (let i = 0; i < out.length; i++) to.receive(out.subarray(i, i + 1));
    }
  }
  assert.ok(p.client.handshakeComplete && p.server.handshakeComplete);
  p.client.write(payload(40000, "bytewise data"));
  const wire = p.client.takeOutput();
  for (let i = 0; i < wire.length; i += 997) p.server.receive(wire.subarray(i, i + 997));
  assert.ok(equalBytes(drain(p.server), payload(40000, "bytewise data")));
});

Deno.test("in memory: without compatibility mode there is no session id and no change_cipher_spec", () => {
  const p = makePair(identity, { compatibilityMode: false }, {}, "nocompat");
  const hello = p.client.takeOutput();
  assert.equal(parseClientHello(hello.subarray(9)).sessionId.length, 0);
  p.server.receive(hello);
  const flight = p.server.takeOutput();
  assert.equal(flight[0], 22); // ServerHello
  const next = 5 + ((flight[3] << 8) | flight[4]);
  assert.equal(flight[next], 23, "no CCS after the ServerHello");
  p.client.receive(flight);
  const fin = p.client.takeOutput();
  assert.equal(fin[0], 23, "no CCS before the client's Finished");
  p.server.receive(fin);
  assert.ok(p.server.handshakeComplete);
});

Deno.test("in memory: compatibility change_cipher_spec is sent once each way, in plaintext, and dropped", () => {
  const p = makePair(identity, { keyShareGroups: [0x17] }, {}, "ccs");
  const ch1 = p.client.takeOutput();
  assert.equal(ch1[1] * 256 + ch1[2], 0x0301, "first ClientHello record version");
  p.server.receive(ch1);
  const hrr = p.server.takeOutput();
  const ccsAt = 5 + ((hrr[3] << 8) | hrr[4]);
  assert.equal(bytesToHex(hrr.subarray(ccsAt)), "140303000101");
  p.client.receive(hrr);
  const ch2 = p.client.takeOutput();
  assert.equal(bytesToHex(ch2.subarray(0, 6)), "140303000101");
  assert.equal(ch2[7] * 256 + ch2[8], 0x0303, "second ClientHello record version");
  p.server.receive(ch2);
  p.client.receive(p.server.takeOutput());
  const fin = p.client.takeOutput();
  assert.equal(fin[0], 23, "the client sent its CCS before the second ClientHello only");
  p.server.receive(fin);
  assert.ok(p.server.handshakeComplete);
});

Deno.test("in memory: a NewSessionTicket is parsed and ignored, and data after it arrives", () => {
  const p = makePair(identity, {}, {}, "ticket");
  handshake(p);
  // Seal a ticket under the server's traffic key, as OpenSSL would after the handshake.
  const serverAp = new RecordProtection(
    TLS_AES_256_GCM_SHA384,
    loggedSecret(p.serverLog, "SERVER_TRAFFIC_SECRET_0"),
  );
  const ticket = Uint8Array.of(4, 0, 0, 16, 0, 0, 0x1c, 0x20, 1, 2, 3, 4, 1, 0, 0, 2, 0xaa, 0xbb, 0, 0);
  p.client.receive(serverAp.seal(22, ticket));
  p.client.receive(serverAp.seal(23, Uint8Array.of(42)));
  assert.deepEqual([...drain(p.client)], [42]);
  assert.ok(!p.client.error);
});

Deno.test("in memory: automatic KeyUpdate after keyUpdateInterval records, in both directions", () => {
  const p = makePair(
    identity,
    { keyUpdateInterval: 2, maxFragmentLength: 100 },
    { keyUpdateInterval: 3 },
    "auto",
  );
  handshake(p);
  const data = payload(5000, "auto");
  p.client.write(data);
  const wire = p.client.takeOutput();
  // 50 records of 100 bytes, with a KeyUpdate record before every second one.
  assert.equal(wire.length, 50 * (5 + 101 + 16) + 24 * (5 + 4 + 1 + 1 + 16));
  p.server.receive(wire);
  assert.ok(equalBytes(drain(p.server), data));
  for (let i = 0; i < 10; i++) transfer(p.server, p.client, payload(100, `auto ${i}`));
});

Deno.test("in memory: exporter values differ by label, context and length prefix, and need a handshake", () => {
  const p = makePair(identity, {}, {}, "exporter");
  assert.throws(() => p.client.exportKeyingMaterial("a", new Uint8Array(0), 32), /before the handshake/);
  handshake(p);
  const e = (label: string, ctx: number[], n: number) =>
    bytesToHex(p.client.exportKeyingMaterial(label, Uint8Array.from(ctx), n));
  assert.notEqual(e("a", [], 32), e("b", [], 32));
  assert.notEqual(e("a", [], 32), e("a", [0], 32));
  assert.notEqual(e("a", [], 32), e("a", [], 48).slice(0, 64)); // the length is part of HkdfLabel
  assert.equal(e("a", [], 32), bytesToHex(p.server.exportKeyingMaterial("a", new Uint8Array(0), 32)));
  assert.throws(() => p.client.exportKeyingMaterial("a", new Uint8Array(0), 255 * 48 + 1), RangeError);
});

Deno.test("in memory: the key log has the five NSS labels, keyed by the client random", () => {
  const p = makePair(identity, {}, {}, "keylog");
  const hello = p.client.takeOutput();
  const random = bytesToHex(parseClientHello(hello.subarray(9)).random);
  p.server.receive(hello);
  pump(p.client, p.server);
  assert.deepEqual(p.clientLog.map((l) => l.split(" ")[0]).sort(), [...KEY_LOG_LABELS].sort());
  for (const line of p.clientLog) assert.equal(line.split(" ")[1], random);
});

Deno.test("in memory: a HelloRetryRequest with a cookie is answered with the cookie echoed", () => {
  const p = makePair(identity, { keyShareGroups: [0x17] }, {}, "cookie");
  const hello = parseClientHello(p.client.takeOutput().subarray(9));
  const hrr = encodeServerHello({
    random: HRR_RANDOM,
    sessionId: hello.sessionId,
    cipherSuite: 0x1302,
    extensions: [
      [ExtensionType.supported_versions, encodeU16(TLS13)],
      [ExtensionType.key_share, encodeU16(0x19)],
      [ExtensionType.cookie, Uint8Array.of(0, 3, 7, 8, 9)],
    ],
  });
  p.client.receive(plaintextRecord(22, hrr));
  const out = p.client.takeOutput();
  const second = parseClientHello(out.subarray(6 + 9)); // after the CCS record
  assert.equal(bytesToHex(second.extensionMap.get(ExtensionType.cookie)!), "0003070809");
  assert.equal(bytesToHex(second.random), bytesToHex(hello.random));
});
