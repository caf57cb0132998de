// Records vectors/tls13_hybrid.json: handshakes between our deterministic state machines and OpenSSL 3.5
// (Node 26) with the hybrid groups, so that hybrid_test.ts can replay them offline, where Node is absent,
// and check our key schedule against the secrets OpenSSL logged. In each, our side's randomness comes from
// seededRandom(seed), so replaying the peer's bytes to a fresh state machine with the same seed makes the
// same handshake. Run by hand: deno run -A tests/protocol/tls13/_record_hybrid_vectors.ts

import { bytesToHex, concatBytes } from "../../../crypto/bytes.ts";
import { TlsClient } from "../../../protocol/tls13/client.ts";
import type { TlsEngine } from "../../../protocol/tls13/engine.ts";
import { encodeEcPrivateKey, encodePem } from "../../../protocol/tls13/pem.ts";
import { TlsServer } from "../../../protocol/tls13/server.ts";
import { seededRandom, testIdentity } from "./_helpers.ts";
import { NodePeer } from "./_node_peer.ts";

/** The options the replay must use too (they fix the ClientHello). */
export const KAT_CLIENT_OPTIONS = {
  serverName: "localhost",
  cipherSuites: [0x1302, 0x1303, 0x1301],
  groups: [0x11ed, 0x11eb, 0x19, 0x18, 0x17],
  keyShareGroups: [0x11ed],
};

const identity = testIdentity("hybrid kat identity");
const common = { label: "EXPERIMENTAL-sotto-kat", cert: encodePem("CERTIFICATE", identity.certificate) };

/** Runs `engine` over `conn` until its handshake completes; returns every byte the peer sent until then. */
async function drive(engine: TlsEngine, conn: Deno.Conn): Promise<Uint8Array> {
  const received: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  const flush = async () => {
    const out = engine.takeOutput();
    for (let off = 0; off < out.length;) off += await conn.write(out.subarray(off));
  };
  await flush();
  while (!engine.handshakeComplete) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("the peer closed during the handshake");
    received.push(buf.slice(0, n));
    engine.receive(buf.subarray(0, n));
    await flush();
  }
  return concatBytes(...received);
}

async function asClient(groups: string, seed: string) {
  const node = new NodePeer({
    ...common,
    role: "server",
    key: encodePem("EC PRIVATE KEY", encodeEcPrivateKey(identity.secretKey)),
    groups,
  });
  try {
    const { port } = await node.waitFor("listening");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: port! });
    const client = new TlsClient({ ...KAT_CLIENT_OPTIONS, verifyPeer: () => {}, random: seededRandom(seed) });
    client.start();
    const fromServer = await drive(client, conn);
    const info = client.info!;
    client.close();
    await conn.write(client.takeOutput());
    conn.close();
    await node.waitFor("secure");
    await node.stop();
    return {
      role: "client",
      node_groups: groups,
      seed,
      group: info.group,
      hello_retry_request: info.helloRetryRequest,
      from_peer: bytesToHex(fromServer),
      openssl_keylog: node.keyLog(),
    };
  } finally {
    await node.stop();
  }
}

async function asServer(groups: string, seed: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const node = new NodePeer({
    ...common,
    role: "client",
    port: listener.addr.port,
    groups,
    message: "kat\n",
  });
  try {
    const conn = await listener.accept();
    const server = new TlsServer({
      certificateChain: [identity.certificate],
      secretKey: identity.secretKey,
      random: seededRandom(seed),
    });
    const fromClient = await drive(server, conn);
    const info = server.info!;
    // Echo until Node has its message back and closes (what came with its Finished first).
    const buf = new Uint8Array(65536);
    for (;;) {
      for (let chunk; (chunk = server.read());) server.write(chunk);
      const out = server.takeOutput();
      if (out.length) await conn.write(out);
      if (server.peerClosed) break;
      const n = await conn.read(buf);
      if (n === null) break;
      server.receive(buf.subarray(0, n));
    }
    conn.close();
    await node.waitFor("echo");
    await node.stop();
    return {
      role: "server",
      node_groups: groups,
      seed,
      group: info.group,
      hello_retry_request: info.helloRetryRequest,
      from_peer: bytesToHex(fromClient),
      openssl_keylog: node.keyLog(),
    };
  } finally {
    listener.close();
    await node.stop();
  }
}

if (import.meta.main) {
  const handshakes = [
    await asClient("SecP384r1MLKEM1024", "kat client 1024"),
    await asClient("SecP256r1MLKEM768", "kat client 768 retry"),
    await asServer("SecP384r1MLKEM1024", "kat server 1024"),
    await asServer("X25519MLKEM768:SecP256r1MLKEM768", "kat server 768 retry"),
  ];
  const vectors = {
    source:
      "Handshakes of sotto's TLS state machines (seeded randomness) with OpenSSL 3.5.8 (Node 26.10.0 tls) using " +
      "the hybrid groups of draft-ietf-tls-ecdhe-mlkem, recorded by tests/protocol/tls13/_record_hybrid_vectors.ts. " +
      "from_peer: every byte OpenSSL sent until our side's handshake completed; openssl_keylog: the secrets OpenSSL logged.",
    server_certificate: bytesToHex(identity.certificate),
    server_secret_key: bytesToHex(identity.secretKey),
    client_options: KAT_CLIENT_OPTIONS,
    handshakes,
  };
  const path = new URL("../../../vectors/tls13_hybrid.json", import.meta.url);
  Deno.writeTextFileSync(path, JSON.stringify(vectors, null, 2) + "\n");
  console.log(
    `wrote ${path.pathname}: ${
      handshakes.map((h) => `${h.role} ${h.group}${h.hello_retry_request ? " (HRR)" : ""}`).join(", ")
    }`,
  );
}
