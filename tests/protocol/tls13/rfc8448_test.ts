// RFC 8448 replayed through our codecs, transcript and record layer (TLS_AES_128_GCM_SHA256, defined in
// _helpers.ts for the replay only): §3's encrypted server flight, client Finished, NewSessionTicket,
// application data and close_notify records byte for byte; §5's HelloRetryRequest with its cookie, the
// message_hash transcript, P-256 ECDH with the printed private keys, and the records that follow.
import assert from "node:assert/strict";
import { bytesToHex, concatBytes, hexToBytes } from "../../../crypto/bytes.ts";
import { p256 } from "../../../crypto/p256.ts";
import { hash } from "../../../crypto/sha2.ts";
import {
  deriveSecret,
  finishedVerifyData,
  handshakeSecret,
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
import { RecordProtection } from "../../../protocol/tls13/record.ts";
import { AES_128_GCM_SHA256 } from "./_helpers.ts";
import { Transcript } from "../../../protocol/tls13/transcript.ts";

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
  const rp = new RecordProtection(AES_128_GCM_SHA256, x(v.server_handshake_traffic_secret));
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
  const clientFinished = new RecordProtection(AES_128_GCM_SHA256, x(v.client_handshake_traffic_secret))
    .seal(22, encodeFinished(x(v.client_verify_data)));
  assert.equal(hex(clientFinished), m.record_client_finished);

  const serverAp = new RecordProtection(AES_128_GCM_SHA256, x(v.server_application_traffic_secret_0));
  const ticket = open(serverAp, m.record_new_session_ticket);
  assert.equal(ticket.type, 22);
  assert.equal(ticket.content[0], 4);
  checkNewSessionTicket(ticket.content.subarray(4));
  const data = open(serverAp, m.record_server_app_data);
  assert.deepEqual({ type: data.type, content: hex(data.content) }, { type: 23, content: m.client_app_data });
  const serverClose = open(serverAp, m.record_server_close_notify);
  assert.deepEqual([serverClose.type, ...serverClose.content], [21, 1, 0]);

  const clientAp = new RecordProtection(AES_128_GCM_SHA256, x(v.client_application_traffic_secret_0));
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
  const flight = new RecordProtection(AES_128_GCM_SHA256, sHs);
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
  const clientFinished = new RecordProtection(AES_128_GCM_SHA256, cHs)
    .seal(22, encodeFinished(finishedVerifyData("SHA-256", cHs, t.digest())));
  assert.equal(hex(clientFinished), m.record_client_finished);

  const master = masterSecret("SHA-256", hs);
  const cAp = new RecordProtection(
    AES_128_GCM_SHA256,
    deriveSecret("SHA-256", master, "c ap traffic", t.digest()),
  );
  assert.equal(hex(cAp.seal(21, Uint8Array.of(1, 0))), m.record_client_close_notify);
  const sAp = new RecordProtection(
    AES_128_GCM_SHA256,
    deriveSecret("SHA-256", master, "s ap traffic", t.digest()),
  );
  const close = open(sAp, m.record_server_close_notify);
  assert.deepEqual([close.type, ...close.content], [21, 1, 0]);
});
