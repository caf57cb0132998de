// The server's side of a TLS 1.3 handshake, replayable: a client's flights are recorded once against a
// seeded server, then fed to fresh servers with the same seed, so each replay runs all of the server's CPU
// (parse, ephemeral key, ECDH or hybrid key exchange, CertificateVerify, key schedule, records) and none of
// the client's. Shared by bench/tls13_bench.ts, bench/handshake_contention.ts and bench/handshake_pq.ts.

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

/** Milliseconds per replay of each recording, measured side by side in one round. */
export type Round = number[];

/**
 * Times `perRound` replays of each recording per round, for `rounds` rounds after a warm-up. Inside a round
 * the recordings take turns one replay at a time (the order reversed every other turn), so that a slow
 * moment of a shared host falls on all of them alike.
 */
export function interleavedRounds(recordings: Recording[], rounds: number, perRound: number): Round[] {
  for (const r of recordings) for (let i = 0; i < 100; i++) replayServerHandshake(r);
  const forward = recordings.map((_, i) => i), backward = [...forward].reverse();
  const out: Round[] = [];
  for (let round = 0; round < rounds; round++) {
    const total = new Array<number>(recordings.length).fill(0);
    for (let n = 0; n < perRound; n++) {
      for (const i of n % 2 ? backward : forward) {
        const start = performance.now();
        replayServerHandshake(recordings[i]);
        total[i] += performance.now() - start;
      }
    }
    out.push(total.map((t) => t / perRound));
  }
  return out;
}
