// RFC 8448 replayed through our codecs, transcript, key schedule and record layer, under our own
// TLS_AES_128_GCM_SHA256 (the suite RFC 8448 uses): §3's encrypted server flight, client Finished,
// NewSessionTicket, application data and close_notify records byte for byte, and the whole §3 handshake
// again from its wire bytes and the x25519 secret alone; our server's choice of suite for §3's
// ClientHello; §5's HelloRetryRequest with its cookie, the message_hash transcript, P-256 ECDH with the
// printed private keys, and the records that follow.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes } from "../../../crypto/bytes.ts";
import { p256 } from "../../../crypto/p256.ts";
import { hash } from "../../../crypto/sha2.ts";
import {
  AP_LABELS,
  deriveSecret,
  deriveSecrets,
  finishedVerifyData,
  handshakeSecret,
  HS_LABELS,
  masterSecret,
} from "../../../protocol/tls13/key_schedule.ts";
import {
  checkNewSessionTicket,
  encodeFinished,
  ExtensionType,
  HRR_RANDOM,
  parseCertificateMessage,
  parseCertificateVerify,
  parseClientHello,
  parseClientKeyShares,
  parseCookie,
  parseEncryptedExtensions,
  parseServerHello,
  parseServerKeyShare,
  parseU16,
  parseU16List,
} from "../../../protocol/tls13/messages.ts";
import { plaintextRecord, RecordProtection } from "../../../protocol/tls13/record.ts";
import { TlsServer } from "../../../protocol/tls13/server.ts";
import { CIPHER_SUITES, TLS_AES_128_GCM_SHA256 } from "../../../protocol/tls13/suites.ts";
import { Transcript } from "../../../protocol/tls13/transcript.ts";
import { seededRandom, testIdentity } from "./_helpers.ts";

const V = JSON.parse(
  Deno.readTextFileSync(new URL("../../../vectors/tls13_key_schedule.json", import.meta.url)),
);
const R = JSON.parse(Deno.readTextFileSync(new URL("../../../vectors/tls13_rfc8448.json", import.meta.url)));
const x = hexToBytes;
const hex = bytesToHex;

function open(rp: RecordProtection, recordHex: string): { type: number; content: Uint8Array } {
  const record = x(recordHex);
  assert.equal((record[3] << 8) | record[4], record.length - 5, "record length field");
  return rp.open(record.subarray(0, 5), record.subarray(5));
}

Deno.test("RFC 8448 §3: the server flight decrypts to EE, Certificate, CertificateVerify and Finished", () => {
  const v = V.sha256, m = R.simple_1rtt;
  const rp = new RecordProtection(TLS_AES_128_GCM_SHA256, x(v.server_handshake_traffic_secret));
  const { type, content } = open(rp, m.record_server_handshake_messages);
  assert.equal(type, 22);
  const messages = [
    m.message_encrypted_extensions,
    m.message_server_certificate,
    m.message_server_certificate_verify,
    m.message_server_finished,
  ];
  assert.equal(hex(content), messages.join(""));
  const ee = parseEncryptedExtensions(x(m.message_encrypted_extensions).subarray(4));
  assert.deepEqual([...ee.keys()], [ExtensionType.supported_groups, 28, ExtensionType.server_name]);
  const cert = parseCertificateMessage(x(m.message_server_certificate).subarray(4));
  assert.equal(cert.context.length, 0);
  assert.equal(cert.entries.length, 1);
  assert.equal(cert.entries[0].data.length, 0x1b0);
  assert.equal(parseCertificateVerify(x(m.message_server_certificate_verify).subarray(4)).scheme, 0x0804);
});

Deno.test("RFC 8448 §3: client Finished, NewSessionTicket, application data and close_notify records", () => {
  const v = V.sha256, m = R.simple_1rtt;
  const clientFinished = new RecordProtection(TLS_AES_128_GCM_SHA256, x(v.client_handshake_traffic_secret))
    .seal(22, encodeFinished(x(v.client_verify_data)));
  assert.equal(hex(clientFinished), m.record_client_finished);

  const serverAp = new RecordProtection(TLS_AES_128_GCM_SHA256, x(v.server_application_traffic_secret_0));
  const ticket = open(serverAp, m.record_new_session_ticket);
  assert.equal(ticket.type, 22);
  assert.equal(ticket.content[0], 4);
  checkNewSessionTicket(ticket.content.subarray(4));
  const data = open(serverAp, m.record_server_app_data);
  assert.deepEqual({ type: data.type, content: hex(data.content) }, { type: 23, content: m.client_app_data });
  const serverClose = open(serverAp, m.record_server_close_notify);
  assert.deepEqual([serverClose.type, ...serverClose.content], [21, 1, 0]);

  const clientAp = new RecordProtection(TLS_AES_128_GCM_SHA256, x(v.client_application_traffic_secret_0));
  assert.equal(hex(clientAp.seal(23, x(m.client_app_data))), m.record_client_app_data);
  assert.equal(hex(clientAp.seal(21, Uint8Array.of(1, 0))), m.record_client_close_notify);
});

Deno.test("RFC 8448 §5: HelloRetryRequest, cookie echo, message_hash transcript and P-256 key exchange", () => {
  const m = R.hello_retry_request;
  const body = (recordHex: string) => x(recordHex).subarray(5);
  const ch1 = body(m.record_client_hello_1), hrr = body(m.record_hello_retry_request);
  const ch2 = body(m.record_client_hello_2), sh = body(m.record_server_hello);

  const first = parseClientHello(ch1.subarray(4));
  assert.deepEqual(parseU16List(first.extensionMap.get(ExtensionType.supported_groups)!, "groups"), [
    0x1d,
    0x17,
    0x18,
  ]);
  assert.deepEqual(
    parseClientKeyShares(first.extensionMap.get(ExtensionType.key_share)!).map((e) => e.group),
    [0x1d],
  );

  const retry = parseServerHello(hrr.subarray(4));
  assert.ok(retry.isRetry);
  assert.equal(hex(retry.random), hex(HRR_RANDOM));
  assert.equal(retry.cipherSuite, 0x1301);
  assert.equal(parseU16(retry.extensionMap.get(ExtensionType.key_share)!, "key_share"), 0x17);
  const cookie = parseCookie(retry.extensionMap.get(ExtensionType.cookie)!);
  assert.equal(cookie.length, 0x72);

  const second = parseClientHello(ch2.subarray(4));
  assert.equal(hex(second.random), hex(first.random));
  assert.equal(hex(parseCookie(second.extensionMap.get(ExtensionType.cookie)!)), hex(cookie));
  const [clientShare] = parseClientKeyShares(second.extensionMap.get(ExtensionType.key_share)!);
  assert.equal(clientShare.group, 0x17);
  assert.equal(hex(clientShare.keyExchange), hex(p256.getPublicKey(x(m.client_p256_private_key), false)));

  const hello = parseServerHello(sh.subarray(4));
  assert.ok(!hello.isRetry);
  const serverShare = parseServerKeyShare(hello.extensionMap.get(ExtensionType.key_share)!);
  assert.equal(hex(serverShare.keyExchange), hex(p256.getPublicKey(x(m.server_p256_private_key), false)));
  const shared = p256.ecdh(x(m.client_p256_private_key), serverShare.keyExchange);
  assert.equal(hex(shared), hex(p256.ecdh(x(m.server_p256_private_key), clientShare.keyExchange)));

  // Transcript-Hash(message_hash(CH1), HRR, CH2, SH), then the handshake keys open the server's flight.
  const t = new Transcript();
  t.add(ch1);
  t.restartWithMessageHash("SHA-256", ch1);
  for (const msg of [hrr, ch2, sh]) t.add(msg);
  const expected = hash(
    "SHA-256",
    concatBytes(Uint8Array.of(254, 0, 0, 32), hash("SHA-256", ch1), hrr, ch2, sh),
  );
  assert.equal(hex(t.digest()), hex(expected));

  const hs = handshakeSecret("SHA-256", shared);
  const sHs = deriveSecret("SHA-256", hs, "s hs traffic", t.digest());
  const cHs = deriveSecret("SHA-256", hs, "c hs traffic", t.digest());
  const flight = new RecordProtection(TLS_AES_128_GCM_SHA256, sHs);
  const { type, content } = open(flight, m.record_server_handshake_messages);
  assert.equal(type, 22);
  assert.ok(hex(content).startsWith(m.message_encrypted_extensions));
  assert.ok(hex(content).endsWith(m.message_server_finished));
  const beforeFinished = content.subarray(0, content.length - 36);
  t.add(beforeFinished);
  assert.equal(
    hex(encodeFinished(finishedVerifyData("SHA-256", sHs, t.digest()))),
    m.message_server_finished,
    "server Finished over the HRR transcript",
  );
  t.add(x(m.message_server_finished));
  const clientFinished = new RecordProtection(TLS_AES_128_GCM_SHA256, cHs)
    .seal(22, encodeFinished(finishedVerifyData("SHA-256", cHs, t.digest())));
  assert.equal(hex(clientFinished), m.record_client_finished);

  const master = masterSecret("SHA-256", hs);
  const cAp = new RecordProtection(
    TLS_AES_128_GCM_SHA256,
    deriveSecret("SHA-256", master, "c ap traffic", t.digest()),
  );
  assert.equal(hex(cAp.seal(21, Uint8Array.of(1, 0))), m.record_client_close_notify);
  const sAp = new RecordProtection(
    TLS_AES_128_GCM_SHA256,
    deriveSecret("SHA-256", master, "s ap traffic", t.digest()),
  );
  const close = open(sAp, m.record_server_close_notify);
  assert.deepEqual([close.type, ...close.content], [21, 1, 0]);
});

/** Splits a run of handshake messages (type ‖ uint24 length ‖ body) into whole messages. */
function splitMessages(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length;) {
    const end = off + 4 + ((bytes[off + 1] << 16) | (bytes[off + 2] << 8) | bytes[off + 3]);
    assert.ok(end <= bytes.length, "a whole message");
    out.push(bytes.subarray(off, end));
    off = end;
  }
  return out;
}

Deno.test("RFC 8448 §3 end to end: from the wire bytes and the x25519 secret alone, every record of the trace", () => {
  // Nothing precomputed goes in but the (EC)DHE secret, which needs x25519 (not ours): the suite is the
  // one our state machines negotiate, the transcript is hashed from the messages as they come off the
  // wire, and each secret is derived as client.ts and server.ts derive it.
  const v = V.sha256, m = R.simple_1rtt;
  const ch = x(v.client_hello), sh = x(v.server_hello);
  const hello = parseClientHello(ch.subarray(4));
  assert.deepEqual(hello.cipherSuites, [0x1301, 0x1303, 0x1302]);
  const serverHello = parseServerHello(sh.subarray(4));
  assert.ok(!serverHello.isRetry);
  const suite = CIPHER_SUITES.get(serverHello.cipherSuite)!;
  assert.equal(suite, TLS_AES_128_GCM_SHA256, "the ServerHello's suite is one we implement");
  assert.equal(suite.keyLength, 16);
  const h = suite.hash;

  const t = new Transcript();
  t.add(ch);
  t.start(h);
  t.add(sh);
  const hs = handshakeSecret(h, x(v.shared_secret));
  const [cHs, sHs] = deriveSecrets(h, hs, HS_LABELS, t.digest());

  // The server's flight: EncryptedExtensions, Certificate, CertificateVerify, and a Finished that must
  // verify over the transcript up to the CertificateVerify.
  const flight = open(new RecordProtection(suite, sHs), m.record_server_handshake_messages);
  assert.equal(flight.type, 22);
  const messages = splitMessages(flight.content);
  assert.deepEqual(messages.map((msg) => msg[0]), [8, 11, 15, 20]);
  for (const msg of messages.slice(0, 3)) t.add(msg);
  assert.equal(hex(messages[3].subarray(4)), hex(finishedVerifyData(h, sHs, t.digest())), "server Finished");
  t.add(messages[3]);

  const master = masterSecret(h, hs);
  const [cAp, sAp, exporter] = deriveSecrets(h, master, AP_LABELS, t.digest());
  assert.equal(hex(exporter), v.exporter_master_secret);
  const clientFinished = encodeFinished(finishedVerifyData(h, cHs, t.digest()));
  assert.equal(hex(new RecordProtection(suite, cHs).seal(22, clientFinished)), m.record_client_finished);

  const serverAp = new RecordProtection(suite, sAp);
  const ticket = open(serverAp, m.record_new_session_ticket);
  assert.deepEqual([ticket.type, ticket.content[0]], [22, 4]);
  const data = open(serverAp, m.record_server_app_data);
  assert.deepEqual([data.type, hex(data.content)], [23, m.client_app_data]);
  const close = open(serverAp, m.record_server_close_notify);
  assert.deepEqual([close.type, ...close.content], [21, 1, 0]);
  const clientAp = new RecordProtection(suite, cAp);
  assert.equal(hex(clientAp.seal(23, x(m.client_app_data))), m.record_client_app_data);
  assert.equal(hex(clientAp.seal(21, Uint8Array.of(1, 0))), m.record_client_close_notify);
});

Deno.test("RFC 8448 §3's ClientHello to our server: AES-256-GCM by our preference, AES-128-GCM when it is all we take", () => {
  // The trace's client shares x25519 only, which we do not implement, so our server answers with a
  // HelloRetryRequest for its own first group; the suite it names is the one it chose.
  const identity = testIdentity("rfc8448 server");
  const record = plaintextRecord(22, x(V.sha256.client_hello), 0x0301);
  for (
    const [cipherSuites, expected] of [
      [undefined, 0x1302],
      [[0x1301], 0x1301],
      [[0x1301, 0x1302], 0x1301],
    ] as const
  ) {
    const server = new TlsServer({
      certificateChain: [identity.certificate],
      secretKey: identity.secretKey,
      random: seededRandom("rfc8448 server"),
      cipherSuites: cipherSuites ? [...cipherSuites] : undefined,
    });
    server.receive(record);
    const out = server.takeOutput();
    assert.equal(out[0], 22);
    const hrr = parseServerHello(out.subarray(9, 5 + ((out[3] << 8) | out[4])));
    assert.ok(hrr.isRetry);
    assert.equal(hrr.cipherSuite, expected, `configured ${cipherSuites}`);
    assert.equal(parseU16(hrr.extensionMap.get(ExtensionType.key_share)!, "key_share"), 0x19);
  }
});
