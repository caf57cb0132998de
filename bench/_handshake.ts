// The server's side of a TLS 1.3 handshake, replayable: a client's flights are recorded once against a
// seeded server, then fed to fresh servers with the same seed, so each replay runs all of the server's CPU
// (parse, ephemeral key, ECDH, CertificateVerify, key schedule, records) and none of the client's. Shared by
// bench/tls13_bench.ts and bench/handshake_contention.ts.

import { p521 } from "../crypto/p521.ts";
import { TlsClient } from "../protocol/tls13/client.ts";
import { TlsServer } from "../protocol/tls13/server.ts";
import { createSelfSignedCertificate } from "../protocol/tls13/x509.ts";
// A deterministic random source, so one recorded client flight fits every server run.
import { seededRandom } from "../tests/protocol/_helpers.ts";

export const secretKey = p521.randomSecretKey(seededRandom("bench key"));
export const certificate = createSelfSignedCertificate({
  secretKey,
  hosts: ["localhost", "127.0.0.1"],
  notBefore: new Date(Date.now() - 3600_000),
  notAfter: new Date(Date.now() + 86400_000),
  serial: seededRandom("serial")(16),
});
export const serverOptions = { certificateChain: [certificate], secretKey };

export interface Recording {
  flights: Uint8Array[];
  seed: string;
  groups: number[];
}

/** Runs a handshake once and keeps the client's flights (the server's random is seeded, so they replay). */
export function recordHandshake(keyShareGroups: number[], groups: number[]): Recording {
  const seed = `server ${groups}`;
  const client = new TlsClient({ verifyPeer: () => {}, random: seededRandom("client"), keyShareGroups });
  const server = new TlsServer({ ...serverOptions, groups, random: seededRandom(seed) });
  client.start();
  const flights: Uint8Array[] = [];
  while (!server.handshakeComplete) {
    const flight = client.takeOutput();
    flights.push(flight);
    server.receive(flight);
    client.receive(server.takeOutput());
  }
  return { flights, seed, groups };
}

/** The server's whole side of a recorded handshake, replayed to a fresh server. */
export function replayServerHandshake(r: Recording): void {
  const server = new TlsServer({ ...serverOptions, groups: r.groups, random: seededRandom(r.seed) });
  for (const flight of r.flights) {
    server.receive(flight);
    server.takeOutput();
  }
  if (!server.handshakeComplete) throw new Error("replayed handshake did not complete");
}
