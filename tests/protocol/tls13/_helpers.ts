// Shared pieces of the TLS 1.3 tests: a seeded random source (the protocol tests'), a test certificate,
// wiring a client and a server state machine together in memory, expecting an alert, splitting records,
// key-log parsing, and starting OpenSSL on a free port.

import assert from "node:assert/strict";
import { concatBytes, hexToBytes } from "../../../crypto/bytes.ts";
import { p521 } from "../../../crypto/p521.ts";
import { TlsClient, type TlsClientOptions } from "../../../protocol/tls13/client.ts";
import type { TlsEngine } from "../../../protocol/tls13/engine.ts";
import { alertName, TlsError } from "../../../protocol/tls13/alert.ts";
import { TlsServer, type TlsServerOptions } from "../../../protocol/tls13/server.ts";
import { createSelfSignedCertificate } from "../../../protocol/tls13/x509.ts";
import { seededRandom } from "../_helpers.ts";

// The deterministic random source is the protocol tests' one.
export { seededRandom };

export interface TestIdentity {
  secretKey: Uint8Array;
  certificate: Uint8Array;
}

/** A P-521 key and a self-signed certificate for localhost and 127.0.0.1, valid from an hour ago for a day. */
export function testIdentity(seed = "server identity"): TestIdentity {
  const secretKey = p521.randomSecretKey(seededRandom(seed));
  const now = Date.now();
  const certificate = createSelfSignedCertificate({
    secretKey,
    hosts: ["localhost", "127.0.0.1"],
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 86400_000),
    serial: seededRandom(seed + " serial")(16),
  });
  return { secretKey, certificate };
}

/** Moves bytes between two state machines until neither has anything to send. */
export function pump(a: TlsEngine, b: TlsEngine): void {
  for (let i = 0; i < 100; i++) {
    const x = a.takeOutput();
    if (x.length) b.receive(x);
    const y = b.takeOutput();
    if (y.length) a.receive(y);
    if (!x.length && !y.length && !a.hasOutput && !b.hasOutput) return;
  }
  throw new Error("pump: no quiescence after 100 rounds");
}

/** Everything a client has received, concatenated. */
export function drain(e: TlsEngine): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let c; (c = e.read());) parts.push(c);
  return concatBytes(...parts);
}

export interface Pair {
  client: TlsClient;
  server: TlsServer;
  clientLog: string[];
  serverLog: string[];
}

/** A client and a server in memory, with key logs; the client's ClientHello is queued but not delivered. */
export function makePair(
  identity: TestIdentity,
  client: Partial<TlsClientOptions> = {},
  server: Partial<TlsServerOptions> = {},
  seed = "pair",
): Pair {
  const clientLog: string[] = [], serverLog: string[] = [];
  const c = new TlsClient({
    verifyPeer: () => {},
    random: seededRandom(seed + " client"),
    keyLog: (l) => clientLog.push(l),
    ...client,
  });
  const s = new TlsServer({
    certificateChain: [identity.certificate],
    secretKey: identity.secretKey,
    random: seededRandom(seed + " server"),
    keyLog: (l) => serverLog.push(l),
    ...server,
  });
  c.start();
  return { client: c, server: s, clientLog, serverLog };
}

/** Runs the handshake of a pair to completion. */
export function handshake(p: Pair): void {
  pump(p.client, p.server);
  if (!p.client.handshakeComplete || !p.server.handshakeComplete) {
    throw new Error("handshake did not complete");
  }
}

/** Runs `action`, which must make `engine` fail with `alert`; returns the alert record it queued. */
export function expectAlert(engine: TlsEngine, alert: number, action: () => void): Uint8Array {
  assert.throws(action, (e: unknown) => {
    assert.ok(e instanceof TlsError, `expected a TlsError, got ${e}`);
    assert.equal(alertName(e.alert ?? -1), alertName(alert), e.message);
    assert.equal(e.remote, false);
    return true;
  });
  assert.ok(engine.error, "the connection is dead");
  assert.throws(
    () => engine.receive(new Uint8Array(1)),
    (e) => e === engine.error,
    "later calls throw the same error",
  );
  const out = engine.takeOutput();
  assert.ok(out.length >= 7, "an alert record was queued");
  return out;
}

/** The peer, fed the alert record, reports the same alert as received. */
export function expectRemoteAlert(peer: TlsEngine, record: Uint8Array, alert: number): void {
  assert.throws(() => peer.receive(record), (e: unknown) => {
    assert.ok(e instanceof TlsError);
    assert.equal(alertName(e.alert ?? -1), alertName(alert));
    assert.equal(e.remote, true);
    return true;
  });
  assert.equal(peer.takeOutput().length, 0, "no alert is sent in answer to an alert");
}

/** A copy of `bytes` with bit(s) `bit` of byte `index` flipped. */
export function flip(bytes: Uint8Array, index: number, bit = 1): Uint8Array {
  const copy = bytes.slice();
  copy[index] ^= bit;
  return copy;
}

/** Splits a byte stream into records. */
export function records(wire: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < wire.length;) {
    const end = off + 5 + ((wire[off + 3] << 8) | wire[off + 4]);
    out.push(wire.subarray(off, end));
    off = end;
  }
  return out;
}

/** NSS key-log lines as a map "LABEL client_random" → secret (hex). */
export function parseKeyLog(lines: string[] | string): Map<string, string> {
  const list = typeof lines === "string" ? lines.split("\n") : lines;
  const out = new Map<string, string>();
  for (const line of list) {
    const m = /^([A-Z_0-9]+) ([0-9a-f]{64}) ([0-9a-f]+)$/i.exec(line.trim());
    if (m) out.set(`${m[1]} ${m[2].toLowerCase()}`, m[3].toLowerCase());
  }
  return out;
}

/** The five labels our state machines log, per handshake. */
export const KEY_LOG_LABELS = [
  "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
  "SERVER_HANDSHAKE_TRAFFIC_SECRET",
  "CLIENT_TRAFFIC_SECRET_0",
  "SERVER_TRAFFIC_SECRET_0",
  "EXPORTER_SECRET",
];

/** Our key log and a peer's (OpenSSL's) agree on every secret we log, for our one handshake. */
export function assertKeyLogsMatch(ours: string[] | string, theirs: string[] | string): void {
  const a = parseKeyLog(ours), b = parseKeyLog(theirs);
  const randoms = new Set([...a.keys()].map((k) => k.split(" ")[1]));
  assert.equal(randoms.size, 1, "one handshake in our key log");
  const [random] = randoms;
  for (const label of KEY_LOG_LABELS) {
    const key = `${label} ${random}`;
    assert.ok(a.has(key), `we logged ${label}`);
    assert.equal(a.get(key), b.get(key), `${label} matches the peer's`);
  }
}

/** The secret logged under `label` (for the only handshake in the log). */
export function loggedSecret(lines: string[], label: string): Uint8Array {
  const line = lines.find((l) => l.startsWith(label + " "));
  if (!line) throw new Error(`no ${label} in the key log`);
  return hexToBytes(line.split(" ")[2]);
}

/** True if an `openssl` binary can be started (and we may start it). */
export function hasOpenssl(): boolean {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** Whether to skip OpenSSL tests: only when it is missing and we are not in CI (where missing fails). */
export function skipOpenssl(): boolean {
  const env = Deno.permissions.querySync({ name: "env", variable: "CI" }).state === "granted";
  return !hasOpenssl() && !(env && Deno.env.get("CI") === "true");
}

/** A random high port for a server we start (retried by the caller on EADDRINUSE). */
export function randomPort(): number {
  return 20000 + Math.floor(Math.random() * 40000);
}

/** Rejects after `ms` with a message, for racing a step that must not hang; `clear` cancels the timer. */
export function deadline(ms: number, what: string): { promise: Promise<never>; clear: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  promise.catch(() => {});
  return { promise, clear: () => clearTimeout(timer) };
}
