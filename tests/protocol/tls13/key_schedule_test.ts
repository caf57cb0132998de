// The TLS 1.3 key schedule and record protection against known answers: the SHA-384 schedule of the
// Illustrated TLS 1.3 trace (notes/tls13.md §5.2) with its AES-256-GCM EncryptedExtensions record, the
// SHA-256 schedule of RFC 8448 §3, HkdfLabel layouts, and HKDF-Expand-Label against `openssl kdf` on
// random inputs.
import assert from "node:assert/strict";
import { AesGcm } from "../../../crypto/aes.ts";
import { bytesToHex, concatBytes, hexToBytes, utf8 } from "../../../crypto/bytes.ts";
import { hash, type HashName } from "../../../crypto/sha2.ts";
import {
  AP_LABELS,
  deriveSecret,
  deriveSecrets,
  earlySecret,
  emptyHash,
  finishedKey,
  finishedVerifyData,
  handshakeSecret,
  hkdfExpandLabel,
  hkdfLabel,
  HS_LABELS,
  masterSecret,
  nextTrafficSecret,
  trafficKeys,
} from "../../../protocol/tls13/key_schedule.ts";
import { RecordProtection } from "../../../protocol/tls13/record.ts";
import { TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 } from "../../../protocol/tls13/suites.ts";
import { skipOpenssl } from "./_helpers.ts";

const V = JSON.parse(
  Deno.readTextFileSync(new URL("../../../vectors/tls13_key_schedule.json", import.meta.url)),
);
const R = JSON.parse(Deno.readTextFileSync(new URL("../../../vectors/tls13_rfc8448.json", import.meta.url)));
const x = hexToBytes;
const hex = bytesToHex;

Deno.test("key schedule: SHA-384 (Illustrated TLS 1.3) early, handshake and master secrets", () => {
  const v = V.sha384;
  const h: HashName = "SHA-384";
  assert.equal(hex(earlySecret(h)), v.early_secret);
  assert.equal(hex(deriveSecret(h, earlySecret(h), "derived", emptyHash(h))), v.derived);
  const hs = handshakeSecret(h, x(v.shared_secret));
  assert.equal(hex(hs), v.handshake_secret);
  const sHs = deriveSecret(h, hs, "s hs traffic", x(v.hello_hash));
  const cHs = deriveSecret(h, hs, "c hs traffic", x(v.hello_hash));
  assert.equal(hex(sHs), v.server_handshake_traffic_secret);
  assert.equal(hex(cHs), v.client_handshake_traffic_secret);
  assert.equal(hex(finishedKey(h, sHs)), v.server_finished_key);
  const master = masterSecret(h, hs);
  assert.equal(hex(master), v.master_secret);
  const sAp = deriveSecret(h, master, "s ap traffic", x(v.handshake_hash));
  const cAp = deriveSecret(h, master, "c ap traffic", x(v.handshake_hash));
  assert.equal(hex(sAp), v.server_application_traffic_secret_0);
  assert.equal(hex(cAp), v.client_application_traffic_secret_0);
  assert.equal(hex(nextTrafficSecret(h, sAp)), v.server_application_traffic_secret_1);
});

Deno.test("key schedule: SHA-384 traffic keys and IVs for AES-256-GCM", () => {
  const v = V.sha384;
  const cases: [string, string, string][] = [
    ["server_handshake_traffic_secret", "server_handshake_key", "server_handshake_iv"],
    ["client_handshake_traffic_secret", "client_handshake_key", "client_handshake_iv"],
    ["server_application_traffic_secret_0", "server_application_key", "server_application_iv"],
    ["client_application_traffic_secret_0", "client_application_key", "client_application_iv"],
  ];
  for (const [secret, key, iv] of cases) {
    const k = trafficKeys(TLS_AES_256_GCM_SHA384, x(v[secret]));
    assert.equal(hex(k.key), v[key], key);
    assert.equal(hex(k.iv), v[iv], iv);
  }
});

Deno.test("record protection: the Illustrated TLS 1.3 EncryptedExtensions record opens and reseals byte for byte", () => {
  const v = V.sha384;
  const record = x(v.encrypted_extensions_record);
  const opened = new RecordProtection(TLS_AES_256_GCM_SHA384, x(v.server_handshake_traffic_secret))
    .open(record.subarray(0, 5), record.subarray(5));
  const inner = x(v.encrypted_extensions_inner_plaintext);
  assert.equal(opened.type, inner.at(-1));
  assert.equal(hex(opened.content), hex(inner.subarray(0, -1)));
  const sealed = new RecordProtection(TLS_AES_256_GCM_SHA384, x(v.server_handshake_traffic_secret))
    .seal(22, inner.subarray(0, -1));
  assert.equal(hex(sealed), v.encrypted_extensions_record);
});

Deno.test("record protection: the nonce of sequence number 3 is iv XOR 3", () => {
  const v = V.sha384;
  const rp = new RecordProtection(TLS_AES_256_GCM_SHA384, x(v.server_handshake_traffic_secret));
  for (let i = 0; i < 3; i++) rp.seal(23, new Uint8Array(1));
  const content = utf8("fourth record");
  const record = rp.seal(23, content);
  const expected = new AesGcm(x(v.server_handshake_key)).seal(
    x(v.nonce_seq3),
    concatBytes(content, Uint8Array.of(23)),
    record.subarray(0, 5),
  );
  assert.equal(hex(record.subarray(5)), hex(expected));
  assert.equal(rp.sequenceNumber, 4);
});

Deno.test("record protection: a record fails to open under the wrong sequence number, and does not advance it", () => {
  const v = V.sha384;
  const record = x(v.encrypted_extensions_record);
  const rp = new RecordProtection(TLS_AES_256_GCM_SHA384, x(v.server_handshake_traffic_secret));
  rp.seal(23, new Uint8Array(0)); // a reader would now be at sequence number 1
  assert.throws(() => rp.open(record.subarray(0, 5), record.subarray(5)), /bad_record_mac/);
  assert.equal(rp.sequenceNumber, 1);
});

Deno.test("key schedule: SHA-256 (RFC 8448 §3) every secret, key, IV, finished key and verify_data", () => {
  const v = V.sha256, m = R.simple_1rtt;
  const h: HashName = "SHA-256";
  assert.equal(hex(earlySecret(h)), v.early_secret);
  assert.equal(hex(deriveSecret(h, earlySecret(h), "derived", emptyHash(h))), v.derived);
  const hs = handshakeSecret(h, x(v.shared_secret));
  assert.equal(hex(hs), v.handshake_secret);
  const helloHash = hash(h, concatBytes(x(v.client_hello), x(v.server_hello)));
  assert.equal(hex(helloHash), v.hello_hash);
  const cHs = deriveSecret(h, hs, "c hs traffic", helloHash);
  const sHs = deriveSecret(h, hs, "s hs traffic", helloHash);
  assert.equal(hex(cHs), v.client_handshake_traffic_secret);
  assert.equal(hex(sHs), v.server_handshake_traffic_secret);
  assert.equal(hex(deriveSecret(h, hs, "derived", emptyHash(h))), v.master_derived);
  const master = masterSecret(h, hs);
  assert.equal(hex(master), v.master_secret);
  for (
    const [secret, key, iv] of [
      [sHs, "server_handshake_key", "server_handshake_iv"],
      [cHs, "client_handshake_key", "client_handshake_iv"],
    ] as const
  ) {
    const k = trafficKeys(TLS_AES_128_GCM_SHA256, secret);
    assert.equal(hex(k.key), v[key]);
    assert.equal(hex(k.iv), v[iv]);
  }
  assert.equal(hex(finishedKey(h, sHs)), v.server_finished_key);
  assert.equal(hex(finishedKey(h, cHs)), v.client_finished_key);
  const toCv = concatBytes(
    x(v.client_hello),
    x(v.server_hello),
    x(m.message_encrypted_extensions),
    x(m.message_server_certificate),
    x(m.message_server_certificate_verify),
  );
  assert.equal(hex(finishedVerifyData(h, sHs, hash(h, toCv))), v.server_verify_data);
  const handshakeHash = hash(h, concatBytes(toCv, x(m.message_server_finished)));
  assert.equal(hex(handshakeHash), v.handshake_hash);
  assert.equal(hex(finishedVerifyData(h, cHs, handshakeHash)), v.client_verify_data);
  const cAp = deriveSecret(h, master, "c ap traffic", handshakeHash);
  const sAp = deriveSecret(h, master, "s ap traffic", handshakeHash);
  assert.equal(hex(cAp), v.client_application_traffic_secret_0);
  assert.equal(hex(sAp), v.server_application_traffic_secret_0);
  assert.equal(hex(deriveSecret(h, master, "exp master", handshakeHash)), v.exporter_master_secret);
  const sk = trafficKeys(TLS_AES_128_GCM_SHA256, sAp), ck = trafficKeys(TLS_AES_128_GCM_SHA256, cAp);
  assert.equal(hex(sk.key), v.server_application_key);
  assert.equal(hex(sk.iv), v.server_application_iv);
  assert.equal(hex(ck.key), v.client_application_key);
  assert.equal(hex(ck.iv), v.client_application_iv);
});

Deno.test("HkdfLabel: the byte layouts of notes §2.6", () => {
  const h48 = emptyHash("SHA-384");
  assert.equal(hex(hkdfLabel("key", new Uint8Array(0), 32)), "0020" + "09" + hex(utf8("tls13 key")) + "00");
  assert.equal(hex(hkdfLabel("iv", new Uint8Array(0), 12)), "000c" + "08" + hex(utf8("tls13 iv")) + "00");
  assert.equal(
    hex(hkdfLabel("finished", new Uint8Array(0), 48)),
    "0030" + "0e" + hex(utf8("tls13 finished")) + "00",
  );
  assert.equal(
    hex(hkdfLabel("traffic upd", new Uint8Array(0), 48)),
    "0030" + "11" + hex(utf8("tls13 traffic upd")) + "00",
  );
  assert.equal(
    hex(hkdfLabel("derived", h48, 48)),
    "0030" + "0d" + hex(utf8("tls13 derived")) + "30" + hex(h48),
  );
  assert.throws(() => hkdfLabel("x".repeat(250), new Uint8Array(0), 32), RangeError);
  assert.throws(() => hkdfLabel("key", new Uint8Array(256), 32), RangeError);
});

Deno.test({
  name: "HKDF-Expand-Label agrees with `openssl kdf` on random secrets, labels, contexts and lengths",
  ignore: skipOpenssl(),
  async fn() {
    const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    const int = (n: number) => Math.floor(Math.random() * n);
    const jobs = Array.from({ length: 16 }, async (_, i) => {
      const h: HashName = i % 2 ? "SHA-256" : "SHA-384";
      const hl = h === "SHA-256" ? 32 : 48;
      const secret = rand(hl);
      const label =
        ["key", "iv", "finished", "traffic upd", "exp master", "c ap traffic", "x".repeat(int(40))][int(7)];
      const context = rand(int(2) ? hl : int(64));
      const length = 1 + int(3 * hl);
      const ours = hkdfExpandLabel(h, secret, label, context, length);
      const { stdout, success } = await new Deno.Command("openssl", {
        args: [
          "kdf",
          "-keylen",
          String(length),
          "-kdfopt",
          `digest:${h.replace("-", "")}`,
          "-kdfopt",
          "mode:EXPAND_ONLY",
          "-kdfopt",
          `hexkey:${hex(secret)}`,
          "-kdfopt",
          `hexinfo:${hex(hkdfLabel(label, context, length))}`,
          "HKDF",
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      assert.ok(success, "openssl kdf failed");
      const theirs = new TextDecoder().decode(stdout).trim().replaceAll(":", "").toLowerCase();
      assert.equal(hex(ours), theirs, `${h} ${label} ${length}`);
    });
    await Promise.all(jobs);
  },
});

Deno.test("deriveSecrets: the same secrets as deriveSecret label by label; the label lists are frozen", () => {
  assert.ok(Object.isFrozen(HS_LABELS) && Object.isFrozen(AP_LABELS));
  for (const h of ["SHA-256", "SHA-384"] as HashName[]) {
    const secret = crypto.getRandomValues(new Uint8Array(h === "SHA-256" ? 32 : 48));
    const th = hash(h, crypto.getRandomValues(new Uint8Array(100)));
    const many = deriveSecrets(h, secret, AP_LABELS, th);
    assert.deepEqual(
      many.map(bytesToHex),
      AP_LABELS.map((label) => bytesToHex(deriveSecret(h, secret, label, th))),
    );
  }
});
