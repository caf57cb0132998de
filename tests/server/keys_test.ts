// The relay's key and certificate files: first start, reuse, re-issue for the same key (near expiry, new
// host), -refreshkeys, clear errors for damaged, mismatched or exposed files, and atomic writes.

import assert from "node:assert/strict";
import { p521 } from "../../crypto/p521.ts";
import { decodePem, decodePrivateKeyPem, encodePem } from "../../protocol/tls13/pem.ts";
import { certificatePin, parseCertificate, verifySelfSignature } from "../../protocol/tls13/x509.ts";
import { CERT_FILE, KEY_FILE, KeyFileError, loadOrCreateServerIdentity } from "../../server/keys.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const NOW = new Date("2026-03-01T12:00:00Z");

async function withDataDir(fn: (dataDir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-keys-" });
  try {
    await fn(`${root}/data`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function files(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function certOnDisk(dataDir: string) {
  return parseCertificate(decodePem(await Deno.readTextFile(`${dataDir}/${CERT_FILE}`), "CERTIFICATE"));
}

Deno.test("keys: first start creates server.key (0600) and server.crt in a new 0700 data folder", async () => {
  await withDataDir(async (dataDir) => {
    const id = await loadOrCreateServerIdentity({ dataDir, host: "relay.example", refresh: false, now: NOW });
    assert.equal(id.created, true);
    assert.equal(id.reissued, false);
    assert.deepEqual(await files(dataDir), [CERT_FILE, KEY_FILE]);
    assert.equal((await Deno.stat(`${dataDir}/${KEY_FILE}`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    const keyText = await Deno.readTextFile(`${dataDir}/${KEY_FILE}`);
    assert.match(keyText, /^-----BEGIN EC PRIVATE KEY-----\n/);
    assert.equal(keyText, id.keyPem);
    assert.deepEqual(decodePrivateKeyPem(keyText), id.secretKey);
    const cert = await certOnDisk(dataDir);
    assert.deepEqual(cert.der, id.certificateDer);
    assert.equal(await Deno.readTextFile(`${dataDir}/${CERT_FILE}`), id.certificatePem);
    assert.deepEqual(cert.dnsNames, ["localhost", "relay.example"]);
    assert.deepEqual(cert.ipAddresses, ["127.0.0.1"]);
    assert.equal(cert.isCA, false);
    assert.equal(cert.notBefore.getTime(), NOW.getTime() - HOUR);
    assert.equal(cert.notAfter.getTime(), NOW.getTime() - HOUR + 365 * DAY);
    assert.deepEqual(cert.publicKey, p521.getPublicKey(id.secretKey, false));
    assert.ok(verifySelfSignature(cert));
    assert.equal(id.pin, certificatePin(cert.der));
    assert.equal(id.pin.length, 43);
  });
});

Deno.test("keys: a second start reuses both files (same pin, nothing rewritten)", async () => {
  await withDataDir(async (dataDir) => {
    const first = await loadOrCreateServerIdentity({ dataDir, host: "127.0.0.1", refresh: false, now: NOW });
    const before = await Deno.readTextFile(`${dataDir}/${CERT_FILE}`);
    const later = new Date(NOW.getTime() + 300 * DAY);
    const second = await loadOrCreateServerIdentity({
      dataDir,
      host: "127.0.0.1",
      refresh: false,
      now: later,
    });
    assert.equal(second.created, false);
    assert.equal(second.reissued, false);
    assert.equal(second.pin, first.pin);
    assert.deepEqual(second.secretKey, first.secretKey);
    assert.deepEqual(second.certificateDer, first.certificateDer);
    assert.equal(await Deno.readTextFile(`${dataDir}/${CERT_FILE}`), before);
    // 0.0.0.0 (listen everywhere) is no name a client connects to: it is not added and causes no re-issue.
    const third = await loadOrCreateServerIdentity({ dataDir, host: "0.0.0.0", refresh: false, now: later });
    assert.equal(third.reissued, false);
  });
});

Deno.test("keys: within 30 days of expiry the certificate is re-issued for the same key", async () => {
  await withDataDir(async (dataDir) => {
    const first = await loadOrCreateServerIdentity({ dataDir, host: "localhost", refresh: false, now: NOW });
    const notAfter = (await certOnDisk(dataDir)).notAfter.getTime();
    const early = new Date(notAfter - 31 * DAY);
    assert.equal(
      (await loadOrCreateServerIdentity({ dataDir, host: "localhost", now: early })).reissued,
      false,
    );
    const late = new Date(notAfter - 29 * DAY);
    const renewed = await loadOrCreateServerIdentity({ dataDir, host: "localhost", now: late });
    assert.equal(renewed.reissued, true);
    assert.equal(renewed.created, false);
    assert.equal(renewed.pin, first.pin);
    const cert = await certOnDisk(dataDir);
    assert.deepEqual(cert.der, renewed.certificateDer);
    assert.equal(cert.notBefore.getTime(), late.getTime() - HOUR);
    assert.equal(cert.notAfter.getTime(), late.getTime() - HOUR + 365 * DAY);
    assert.notDeepEqual(cert.serialNumber, parseCertificate(first.certificateDer).serialNumber);
    // An expired certificate, and one not yet valid (the clock went back), are re-issued too.
    const expired = new Date(cert.notAfter.getTime() + DAY);
    assert.equal(
      (await loadOrCreateServerIdentity({ dataDir, host: "localhost", now: expired })).reissued,
      true,
    );
    assert.equal((await loadOrCreateServerIdentity({ dataDir, host: "localhost", now: NOW })).reissued, true);
    assert.deepEqual(await files(dataDir), [CERT_FILE, KEY_FILE]);
  });
});

Deno.test("keys: a host missing from the SANs re-issues the certificate (same pin)", async () => {
  await withDataDir(async (dataDir) => {
    const first = await loadOrCreateServerIdentity({ dataDir, host: "localhost", refresh: false, now: NOW });
    const moved = await loadOrCreateServerIdentity({ dataDir, host: "::1", refresh: false, now: NOW });
    assert.equal(moved.reissued, true);
    assert.equal(moved.pin, first.pin);
    assert.deepEqual((await certOnDisk(dataDir)).ipAddresses, ["127.0.0.1", "::1"]);
    const again = await loadOrCreateServerIdentity({ dataDir, host: "[::1]", refresh: false, now: NOW });
    assert.equal(again.reissued, false);
    await assert.rejects(
      loadOrCreateServerIdentity({ dataDir, host: "not a host", refresh: false, now: NOW }),
      (e) => e instanceof RangeError && /host value "not a host"/.test(e.message),
    );
  });
});

Deno.test("keys: refresh replaces both files with a new key (a new pin)", async () => {
  await withDataDir(async (dataDir) => {
    const first = await loadOrCreateServerIdentity({ dataDir, host: "localhost", refresh: false, now: NOW });
    const fresh = await loadOrCreateServerIdentity({ dataDir, host: "localhost", refresh: true, now: NOW });
    assert.equal(fresh.created, true);
    assert.notEqual(fresh.pin, first.pin);
    assert.notDeepEqual(fresh.secretKey, first.secretKey);
    const after = await loadOrCreateServerIdentity({ dataDir, host: "localhost", refresh: false, now: NOW });
    assert.equal(after.pin, fresh.pin);
    assert.equal((await Deno.stat(`${dataDir}/${KEY_FILE}`)).mode! & 0o777, 0o600);
    assert.deepEqual(await files(dataDir), [CERT_FILE, KEY_FILE]);
  });
});

Deno.test("keys: damaged, mismatched, missing or exposed files give an error naming the file", async () => {
  await withDataDir(async (dataDir) => {
    const opts = { dataDir, host: "localhost", refresh: false, now: NOW };
    await loadOrCreateServerIdentity(opts);
    const keyPath = `${dataDir}/${KEY_FILE}`, certPath = `${dataDir}/${CERT_FILE}`;
    const key = await Deno.readTextFile(keyPath), cert = await Deno.readTextFile(certPath);
    const expectError = async (path: string, pattern: RegExp) => {
      await assert.rejects(loadOrCreateServerIdentity(opts), (e) => {
        assert.ok(e instanceof KeyFileError, String(e));
        assert.equal(e.path, path);
        assert.ok(e.message.includes(path), e.message);
        assert.match(e.message, pattern);
        return true;
      });
    };
    // A damaged key.
    await Deno.writeTextFile(keyPath, key.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!"));
    await expectError(keyPath, /damaged.*-refreshkeys/);
    await Deno.writeTextFile(keyPath, key.slice(0, 100));
    await expectError(keyPath, /damaged.*-refreshkeys/);
    // A damaged certificate.
    await Deno.writeTextFile(keyPath, key);
    await Deno.writeTextFile(certPath, cert.slice(0, cert.length - 90) + "-----END CERTIFICATE-----\n");
    await expectError(certPath, /damaged.*delete it.*-refreshkeys/);
    await Deno.writeTextFile(certPath, encodePem("CERTIFICATE", new Uint8Array(10)));
    await expectError(certPath, /damaged/);
    // A certificate of another key.
    const other = await loadOrCreateServerIdentity({ ...opts, dataDir: `${dataDir}/other` });
    await Deno.writeTextFile(certPath, other.certificatePem);
    await expectError(certPath, /does not belong to .*server\.key.*-refreshkeys/);
    // A certificate without its key.
    await Deno.writeTextFile(certPath, cert);
    await Deno.remove(keyPath);
    await expectError(keyPath, /missing.*-refreshkeys/);
    // A key others can read.
    await Deno.writeTextFile(keyPath, key, { mode: 0o600 });
    await Deno.chmod(keyPath, 0o644);
    await expectError(keyPath, /chmod 600/);
    await Deno.chmod(keyPath, 0o600);
    assert.equal((await loadOrCreateServerIdentity(opts)).reissued, false);
    // -refreshkeys recovers from all of these.
    await Deno.writeTextFile(keyPath, "garbage");
    assert.equal((await loadOrCreateServerIdentity({ ...opts, refresh: true })).created, true);
  });
});

Deno.test("keys: writes are atomic: no temporary file is left, even when the rename fails", async () => {
  await withDataDir(async (dataDir) => {
    await loadOrCreateServerIdentity({ dataDir, host: "localhost", refresh: false, now: NOW });
    assert.deepEqual(await files(dataDir), [CERT_FILE, KEY_FILE]);
    // Make the certificate's rename fail: a non-empty folder is in the way.
    await Deno.remove(`${dataDir}/${CERT_FILE}`);
    await Deno.mkdir(`${dataDir}/${CERT_FILE}/blocker`, { recursive: true });
    await assert.rejects(loadOrCreateServerIdentity({ dataDir, host: "localhost", refresh: true, now: NOW }));
    assert.deepEqual(await files(dataDir), [CERT_FILE, KEY_FILE]);
    assert.equal((await Deno.stat(`${dataDir}/${KEY_FILE}`)).mode! & 0o777, 0o600);
  });
});
