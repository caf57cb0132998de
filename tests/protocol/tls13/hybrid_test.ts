// The post-quantum hybrid groups SecP384r1MLKEM1024 and SecP256r1MLKEM768 (draft-ietf-tls-ecdhe-mlkem),
// in memory: the sizes and byte order the draft gives, the shared secret rebuilt from its parts with the
// primitives alone, what our client offers and how our server chooses, every malformed share refused with
// the alert the draft names, and handshakes recorded with OpenSSL 3.5 replayed offline (their secrets must
// be OpenSSL's). Live interop with OpenSSL 3.5 is in hybrid_interop_test.ts.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes } from "../../../crypto/bytes.ts";
import { mlkem1024, mlkem768 } from "../../../crypto/mlkem.ts";
import { p256 } from "../../../crypto/p256.ts";
import { p384 } from "../../../crypto/p384.ts";
import { Alert } from "../../../protocol/tls13/alert.ts";
import {
  GROUPS,
  type NamedGroup,
  SECP256R1MLKEM768,
  SECP384R1MLKEM1024,
} from "../../../protocol/tls13/groups.ts";
import {
  encodeClientHello,
  encodeClientKeyShares,
  encodeClientVersions,
  encodeServerHello,
  encodeServerKeyShare,
  encodeU16List,
  ExtensionType,
  parseClientHello,
  parseClientKeyShares,
  parseServerHello,
  parseServerKeyShare,
  parseU16List,
  TLS13,
} from "../../../protocol/tls13/messages.ts";
import { plaintextRecord } from "../../../protocol/tls13/record.ts";
import { TlsClient } from "../../../protocol/tls13/client.ts";
import { TlsServer } from "../../../protocol/tls13/server.ts";
import {
  assertKeyLogsMatch,
  expectAlert,
  flip,
  handshake,
  makePair,
  records,
  seededRandom,
  testIdentity,
} from "./_helpers.ts";

const identity = testIdentity("hybrid identity");
const hex = bytesToHex;

const CASES = [
  { group: SECP384R1MLKEM1024, curve: p384, kem: mlkem1024, point: 97, k: 4 },
  { group: SECP256R1MLKEM768, curve: p256, kem: mlkem768, point: 65, k: 3 },
] as const;

Deno.test("hybrid groups: code points, names and the share sizes of the draft", () => {
  const sizes = (g: NamedGroup) => [g.id, g.name, g.hybrid, g.clientShareLength, g.serverShareLength];
  assert.deepEqual(sizes(SECP384R1MLKEM1024), [0x11ed, "SecP384r1MLKEM1024", true, 97 + 1568, 97 + 1568]);
  assert.deepEqual(sizes(SECP256R1MLKEM768), [0x11eb, "SecP256r1MLKEM768", true, 65 + 1184, 65 + 1088]);
  assert.deepEqual([...GROUPS.keys()], [0x11ed, 0x11eb, 0x19, 0x18, 0x17], "our order of preference");
  assert.deepEqual([...GROUPS.values()].map((g) => g.hybrid), [true, true, false, false, false]);
});

for (const { group, curve, kem, point, k } of CASES) {
  Deno.test(`${group.name}: point ‖ key, point ‖ ciphertext, and the secret ECDH x ‖ ML-KEM secret, rebuilt from the parts`, () => {
    const client = group.keyShare(seededRandom(`${group.name} client`));
    const { share, shared } = group.respond(client.share, seededRandom(`${group.name} server`));
    assert.equal(client.share.length, group.clientShareLength);
    assert.equal(share.length, group.serverShareLength);
    assert.equal(shared.length, curve.byteLength + 32);

    // The client's secret is its EC scalar ‖ its ML-KEM decapsulation key; the share's EC part is the
    // scalar's uncompressed point, and its ML-KEM part is the encapsulation key that FIPS 203 stores inside
    // the decapsulation key (after the 384·k bytes of the PKE secret).
    const ecSecret = client.secretKey.subarray(0, curve.byteLength);
    const dk = client.secretKey.subarray(curve.byteLength);
    assert.equal(dk.length, kem.secretKeyBytes);
    assert.equal(hex(client.share.subarray(0, point)), hex(curve.getPublicKey(ecSecret, false)));
    const ek = client.share.subarray(point);
    assert.equal(hex(ek), hex(dk.subarray(384 * k, 384 * k + kem.publicKeyBytes)));

    // The server's share: its point, then the ciphertext. The secret, EC part first.
    assert.equal(share[0], 0x04);
    const ecShared = curve.ecdh(ecSecret, share.subarray(0, point));
    const kemShared = kem.decapsulate(share.subarray(point), dk);
    assert.equal(hex(shared), hex(concatBytes(ecShared, kemShared)));
    assert.equal(hex(group.complete(client.secretKey, share)), hex(shared));
  });
}

Deno.test("our client offers the hybrids first and shares SecP384r1MLKEM1024 only; our server takes it in one round trip", () => {
  const p = makePair(identity, {}, {}, "hybrid default");
  const hello = p.client.takeOutput();
  const ch = parseClientHello(hello.subarray(9));
  assert.deepEqual(
    parseU16List(ch.extensionMap.get(ExtensionType.supported_groups)!, "groups"),
    [0x11ed, 0x11eb, 0x19, 0x18, 0x17],
  );
  const shares = parseClientKeyShares(ch.extensionMap.get(ExtensionType.key_share)!);
  assert.deepEqual(shares.map((s) => [s.group, s.keyExchange.length]), [[0x11ed, 1665]]);
  p.server.receive(hello);
  const sh = parseServerHello(records(p.server.takeOutput())[0].subarray(9));
  const entry = parseServerKeyShare(sh.extensionMap.get(ExtensionType.key_share)!);
  assert.deepEqual([entry.group, entry.keyExchange.length], [0x11ed, 1665]);

  const q = makePair(identity, {}, {}, "hybrid default");
  handshake(q);
  for (const side of [q.client, q.server]) {
    assert.deepEqual([side.info!.group, side.info!.helloRetryRequest], ["SecP384r1MLKEM1024", false]);
  }
});

Deno.test("our server: a hybrid the client shared beats a better one that needs a HelloRetryRequest; otherwise hybrids first", () => {
  const cases: [Parameters<typeof makePair>[1], string, boolean][] = [
    [{ keyShareGroups: [0x11eb] }, "SecP256r1MLKEM768", false],
    [{ keyShareGroups: [0x11eb, 0x11ed] }, "SecP384r1MLKEM1024", false],
    [{ keyShareGroups: [0x19] }, "SecP384r1MLKEM1024", true],
    [{ groups: [0x18, 0x11eb], keyShareGroups: [0x18] }, "SecP256r1MLKEM768", true],
    [{ groups: [0x19, 0x18, 0x17] }, "secp521r1", false], // a client without the hybrids, as before
    [{ groups: [0x17, 0x19], keyShareGroups: [0x17] }, "secp521r1", true],
  ];
  cases.forEach(([client, group, hrr], i) => {
    const p = makePair(identity, client, {}, `hybrid choice ${i}`);
    handshake(p);
    assert.deepEqual([p.server.info!.group, p.server.info!.helloRetryRequest], [group, hrr], `case ${i}`);
  });
  // A server configured without the hybrids answers the default client with a HelloRetryRequest.
  const old = makePair(identity, {}, { groups: [0x19, 0x18, 0x17] }, "hybrid old server");
  handshake(old);
  assert.deepEqual([old.client.info!.group, old.client.info!.helloRetryRequest], ["secp521r1", true]);
});

// ---- malformed shares -------------------------------------------------------------------------------

/** A ClientHello with one key share for `group` (and the hybrid groups in supported_groups). */
function helloWithShare(group: number, keyExchange: Uint8Array): Uint8Array {
  return plaintextRecord(
    22,
    encodeClientHello({
      random: new Uint8Array(32).fill(9),
      sessionId: new Uint8Array(0),
      cipherSuites: [0x1302],
      extensions: [
        [ExtensionType.supported_groups, encodeU16List([0x11ed, 0x11eb])],
        [ExtensionType.signature_algorithms, encodeU16List([0x0603])],
        [ExtensionType.supported_versions, encodeClientVersions([TLS13])],
        [ExtensionType.key_share, encodeClientKeyShares([{ group, keyExchange }])],
      ],
    }),
  );
}

function newServer(): TlsServer {
  return new TlsServer({
    certificateChain: [identity.certificate],
    secretKey: identity.secretKey,
    random: seededRandom("hybrid server"),
  });
}

for (const { group, point } of CASES) {
  Deno.test(`${group.name} from a client: wrong lengths, a bad point, a key failing the modulus check: illegal_parameter`, () => {
    const good = group.keyShare(seededRandom(`${group.name} bad client`)).share;
    // An encapsulation key whose first coefficient is 4095 ≥ q (FIPS 203 §7.2 modulus check).
    const overQ = good.slice();
    overQ[point] = 0xff;
    overQ[point + 1] |= 0x0f;
    const bad: [string, Uint8Array][] = [
      ["one byte short", good.subarray(0, good.length - 1)],
      ["one byte long", concatBytes(good, Uint8Array.of(0))],
      ["the EC point alone", good.subarray(0, point)],
      ["a compressed-point prefix", flip(good, 0, 0x06)],
      ["a point off the curve", flip(good, point - 1)],
      ["a key failing the modulus check", overQ],
    ];
    for (const [what, share] of bad) {
      const server = newServer();
      const alert = expectAlert(
        server,
        Alert.illegal_parameter,
        () => server.receive(helloWithShare(group.id, share)),
      );
      assert.equal(alert[0], 21, `${what}: a plaintext alert`);
    }
    // The untouched share is accepted.
    const server = newServer();
    server.receive(helloWithShare(group.id, good));
    assert.ok(!server.error && server.takeOutput()[0] === 22);
  });
}

Deno.test("SecP384r1MLKEM1024 from a server: wrong lengths or a bad point: illegal_parameter; a corrupted ciphertext: another key, bad_record_mac", () => {
  const start = (seed: string) => {
    const p = makePair(identity, {}, {}, seed);
    const hello = parseClientHello(p.client.takeOutput().subarray(9));
    return { p, sessionId: hello.sessionId };
  };
  const serverHello = (sessionId: Uint8Array, keyExchange: Uint8Array) =>
    plaintextRecord(
      22,
      encodeServerHello({
        random: new Uint8Array(32).fill(3),
        sessionId,
        cipherSuite: 0x1302,
        extensions: [
          [ExtensionType.supported_versions, Uint8Array.of(3, 4)],
          [ExtensionType.key_share, encodeServerKeyShare({ group: 0x11ed, keyExchange })],
        ],
      }),
    );
  const answer = SECP384R1MLKEM1024.respond(
    SECP384R1MLKEM1024.keyShare(seededRandom("other client")).share,
    seededRandom("other server"),
  ).share;
  const bad: [string, Uint8Array][] = [
    ["a ciphertext one byte short", answer.subarray(0, answer.length - 1)],
    ["a ciphertext one byte long", concatBytes(answer, Uint8Array.of(0))],
    ["the EC point alone", answer.subarray(0, 97)],
    ["a point off the curve", flip(answer, 96)],
  ];
  bad.forEach(([what, share], i) => {
    const { p, sessionId } = start(`hybrid bad server ${i}`);
    const alert = expectAlert(
      p.client,
      Alert.illegal_parameter,
      () => p.client.receive(serverHello(sessionId, share)),
    );
    assert.ok(alert.length > 0, what);
  });

  // A flipped ciphertext bit decapsulates (implicit rejection) to another secret: the server's encrypted
  // flight then fails to authenticate. The client's alert goes out under its own (wrong) handshake key,
  // which the server cannot read either: it fails with bad_record_mac too.
  const p = makePair(identity, {}, {}, "hybrid flipped ciphertext");
  p.server.receive(p.client.takeOutput());
  const [sh, ...rest] = records(p.server.takeOutput());
  const at = sh.length - 100; // inside the ML-KEM ciphertext, the last part of the ServerHello
  const alert = expectAlert(
    p.client,
    Alert.bad_record_mac,
    () => p.client.receive(concatBytes(flip(sh, at), ...rest)),
  );
  expectAlert(p.server, Alert.bad_record_mac, () => p.server.receive(alert));
});

// ---- replayed against OpenSSL 3.5 -------------------------------------------------------------------

const KAT = JSON.parse(Deno.readTextFileSync(new URL("../../../vectors/tls13_hybrid.json", import.meta.url)));

for (const h of KAT.handshakes) {
  Deno.test(
    `OpenSSL 3.5 replayed (vectors/tls13_hybrid.json): our ${h.role}, ${h.group}${
      h.hello_retry_request ? " through a HelloRetryRequest" : ""
    }: every secret as OpenSSL logged it`,
    () => {
      // Our side with the recorded seed makes the same messages as in the recording, so the peer's recorded
      // bytes fit it; its secrets come from our key schedule and must be the ones OpenSSL derived.
      const log: string[] = [];
      const engine = h.role === "client"
        ? new TlsClient({
          ...KAT.client_options,
          verifyPeer: () => {},
          random: seededRandom(h.seed),
          keyLog: (l) => log.push(l),
        })
        : new TlsServer({
          certificateChain: [hexToBytes(KAT.server_certificate)],
          secretKey: hexToBytes(KAT.server_secret_key),
          random: seededRandom(h.seed),
          keyLog: (l) => log.push(l),
        });
      if (engine instanceof TlsClient) engine.start();
      engine.takeOutput();
      engine.receive(hexToBytes(h.from_peer));
      assert.ok(engine.handshakeComplete);
      assert.deepEqual([engine.info!.group, engine.info!.helloRetryRequest], [
        h.group,
        h.hello_retry_request,
      ]);
      assertKeyLogsMatch(log, h.openssl_keylog);
    },
  );
}
