// TLS 1.3 benchmarks: the server's CPU per full P-521 handshake (target ≤ 3.3 ms) and per post-quantum
// hybrid handshake (SecP384r1MLKEM1024, SecP256r1MLKEM768), with their breakdown (ephemeral key generation,
// ECDH, ML-KEM encapsulation, the CertificateVerify signature, transcript hashing), and bulk throughput over
// loopback TCP for each suite beside Deno's built-in TLS (rustls) moving the same bytes. For the hybrid
// against P-521 measured interleaved, see bench/handshake_pq.ts.
// (Deno.bench awaits only functions declared async, hence `async fn`.)
// Run: deno bench --allow-read=. --allow-net=127.0.0.1,localhost bench/tls13_bench.ts

import { mlkem1024 } from "../crypto/mlkem.ts";
import { p384 } from "../crypto/p384.ts";
import { p521 } from "../crypto/p521.ts";
import { createHash } from "../crypto/sha2.ts";
import { TlsConnection } from "../protocol/tls13/connection.ts";
import { encodeEcPrivateKey, encodePem } from "../protocol/tls13/pem.ts";
import { certificateVerifyContent } from "../protocol/tls13/suites.ts";
import { prepareServerCurves } from "../server/app.ts";
import { TlsListener } from "../server/tls_listener.ts";
import { seededRandom } from "../tests/protocol/_helpers.ts";
import {
  certificate,
  recordHandshake,
  replayServerHandshake,
  secretKey,
  serverOptions,
} from "./_handshake.ts";

// The relay builds its wider base-point tables at startup (server/app.ts); measure what it runs.
prepareServerCurves();

const direct = recordHandshake([0x19], [0x19]);
// The path of Deno's client: no share for a group we take, so a HelloRetryRequest, then P-384.
const viaRetry = recordHandshake([0x17], [0x18]);

Deno.bench({
  name: "server handshake, P-521 ECDHE + P-521 signature (full CPU)",
  group: "handshake",
  baseline: true,
  fn: () => replayServerHandshake(direct),
});
Deno.bench({
  name: "server handshake, HelloRetryRequest, P-384 ECDHE + P-521 signature",
  group: "handshake",
  fn: () => replayServerHandshake(viaRetry),
});
// What our client and relay agree on now, and the smaller hybrid.
const hybrid = recordHandshake([0x11ed], [0x11ed]);
const hybrid768 = recordHandshake([0x11eb], [0x11eb]);
Deno.bench({
  name: "server handshake, SecP384r1MLKEM1024 + P-521 signature",
  group: "handshake",
  fn: () => replayServerHandshake(hybrid),
});
Deno.bench({
  name: "server handshake, SecP256r1MLKEM768 + P-521 signature",
  group: "handshake",
  fn: () => replayServerHandshake(hybrid768),
});

const peerShare = p521.getPublicKey(p521.randomSecretKey(seededRandom("peer")), false);
const ephemeral = p521.randomSecretKey(seededRandom("eph"));
const content = certificateVerifyContent(new Uint8Array(48), true);
const transcriptBytes = new Uint8Array(1800);
Deno.bench({
  name: "  part: P-521 ephemeral key (random scalar + public point)",
  group: "handshake",
  fn: () => void p521.getPublicKey(p521.randomSecretKey(), false),
});
Deno.bench({
  name: "  part: P-521 ECDH",
  group: "handshake",
  fn: () => void p521.ecdh(ephemeral, peerShare),
});
Deno.bench({
  name: "  part: P-521 ECDSA sign (CertificateVerify)",
  group: "handshake",
  fn: () => void p521.signatureToDer(p521.sign(secretKey, content)),
});
Deno.bench({
  name: "  part: transcript SHA-384 (1.8 KB, 6 digests)",
  group: "handshake",
  fn: () => {
    const h = createHash("SHA-384");
    for (let i = 0; i < 6; i++) h.update(transcriptBytes.subarray(i * 300, i * 300 + 300)).clone().digest();
  },
});
const p384Share = p384.getPublicKey(p384.randomSecretKey(seededRandom("peer384")), false);
const ephemeral384 = p384.randomSecretKey(seededRandom("eph384"));
Deno.bench({
  name: "  part: P-384 ECDH",
  group: "handshake",
  fn: () => void p384.ecdh(ephemeral384, p384Share),
});
Deno.bench({
  name: "  part: P-384 ephemeral key (random scalar + public point)",
  group: "handshake",
  fn: () => void p384.getPublicKey(p384.randomSecretKey(), false),
});
const encapsulationKey = mlkem1024.keygen(seededRandom("kem")(64)).publicKey;
Deno.bench({
  name: "  part: ML-KEM-1024 encapsulation (with the key's modulus check)",
  group: "handshake",
  fn: () => void mlkem1024.encapsulate(encapsulationKey),
});

// ---- bulk throughput over loopback ----------------------------------------------------------------------

const CHUNK = 1 << 20;
const data = seededRandom("bulk")(CHUNK);

/** A byte sink on the server side; `until(n)` resolves once n bytes have arrived in total. */
function sink() {
  let received = 0;
  let waiter: { target: number; resolve: () => void } | null = null;
  return {
    add(n: number) {
      received += n;
      if (waiter && received >= waiter.target) waiter.resolve(), waiter = null;
    },
    until(extra: number): Promise<void> {
      const target = received + extra;
      return new Promise((resolve) => waiter = { target, resolve });
    },
  };
}

async function ourPair(suite: number) {
  const s = sink();
  const listener = new TlsListener({
    port: 0,
    tls: { ...serverOptions, cipherSuites: [suite] },
    handler: async (conn) => {
      for (let chunk; (chunk = await conn.readChunk());) s.add(chunk.length);
    },
  });
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const client = await TlsConnection.connect(tcp, { verifyPeer: () => {} });
  return { send: async () => void await Promise.all([s.until(CHUNK), client.write(data)]) };
}

async function denoPair() {
  const s = sink();
  const certPem = encodePem("CERTIFICATE", certificate);
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certPem,
    key: encodePem("EC PRIVATE KEY", encodeEcPrivateKey(secretKey)),
  });
  (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(1 << 16);
    for (let n; (n = await conn.read(buf)) !== null;) s.add(n);
  })();
  const client = await Deno.connectTls({
    hostname: "localhost",
    port: listener.addr.port,
    caCerts: [certPem],
  });
  const writeAll = async () => {
    for (let off = 0; off < data.length;) off += await client.write(data.subarray(off));
  };
  return { send: async () => void await Promise.all([s.until(CHUNK), writeAll()]) };
}

const ourAes = await ourPair(0x1302);
const ourChaCha = await ourPair(0x1303);
const ourAes128 = await ourPair(0x1301);
const deno = await denoPair();

Deno.bench({
  name: "Deno built-in TLS (rustls, AES-256-GCM), 1 MiB over loopback",
  group: "bulk",
  baseline: true,
  async fn() {
    await deno.send();
  },
});
Deno.bench({
  name: "sotto TLS_AES_256_GCM_SHA384, 1 MiB over loopback",
  group: "bulk",
  async fn() {
    await ourAes.send();
  },
});
Deno.bench({
  name: "sotto TLS_CHACHA20_POLY1305_SHA256, 1 MiB over loopback",
  group: "bulk",
  async fn() {
    await ourChaCha.send();
  },
});
Deno.bench({
  name: "sotto TLS_AES_128_GCM_SHA256, 1 MiB over loopback",
  group: "bulk",
  async fn() {
    await ourAes128.send();
  },
});
