// The post-quantum hybrid groups live against OpenSSL 3.5 (Node 26's `tls` module, run as a separate
// process on 127.0.0.1 and stopped by pid): our server with Node's client and our client with Node's
// server, for SecP384r1MLKEM1024 and SecP256r1MLKEM768, directly and through a HelloRetryRequest, and with
// Node's default groups (X25519MLKEM768 and X25519 shares, which we do not implement) falling back to
// ECDHE. Both sides' key logs must agree secret for secret, and so must the exporter: that proves the
// share layout, the ECDH ‖ ML-KEM order of the shared secret and the transcript against OpenSSL.
import assert from "node:assert/strict";
import { bytesToHex } from "../../../crypto/bytes.ts";
import { TlsConnection } from "../../../protocol/tls13/connection.ts";
import { encodeEcPrivateKey, encodePem } from "../../../protocol/tls13/pem.ts";
import { TlsListener } from "../../../server/tls_listener.ts";
import { peerMissing } from "../../_peers.ts";
import { NodePeer } from "./_node_peer.ts";
import { assertKeyLogsMatch, deadline, seededRandom, testIdentity } from "./_helpers.ts";

const identity = testIdentity("hybrid interop identity");
const certPem = encodePem("CERTIFICATE", identity.certificate);
const keyPem = encodePem("EC PRIVATE KEY", encodeEcPrivateKey(identity.secretKey));
const EXPORTER_LABEL = "EXPERIMENTAL-sotto-hybrid";
const STEP_MS = 20_000;
const MESSAGE = bytesToHex(seededRandom("hybrid interop message")(50_000)); // 100 KB: several records
const ignore = peerMissing("node26");
const common = { label: EXPORTER_LABEL, cert: certPem };

interface NodeCase {
  groups: string | null;
  group: string;
  hrr: boolean;
}

/** A case's test name: which side is ours, Node's groups, and what must come of them. */
function caseName(ours: "server" | "client", c: NodeCase): string {
  const node = ours === "server" ? "Node 26's client" : "Node 26's server";
  const retry = c.hrr ? " through a HelloRetryRequest" : "";
  return `hybrid interop: our ${ours} with ${node} (${
    c.groups ?? "its default groups"
  }): ${c.group}${retry}, ` +
    "KeyUpdate, exporter, key logs";
}

const NODE_CLIENT_CASES: NodeCase[] = [
  { groups: "SecP384r1MLKEM1024", group: "SecP384r1MLKEM1024", hrr: false },
  { groups: "SecP256r1MLKEM768", group: "SecP256r1MLKEM768", hrr: false },
  // Node shares the first group only; we do not implement X25519MLKEM768, so we ask for the next hybrid.
  { groups: "X25519MLKEM768:SecP256r1MLKEM768", group: "SecP256r1MLKEM768", hrr: true },
  // Node's defaults: shares for X25519MLKEM768 and X25519, neither ours; P-521 through a retry, as before.
  { groups: null, group: "secp521r1", hrr: true },
];

for (const c of NODE_CLIENT_CASES) {
  Deno.test({
    name: caseName("server", c),
    ignore,
    async fn() {
      const ourLog: string[] = [];
      let seen: { group: string; hrr: boolean; exporter: string } | null = null;
      const listener = new TlsListener({
        port: 0,
        tls: {
          certificateChain: [identity.certificate],
          secretKey: identity.secretKey,
          keyLog: (line) => ourLog.push(line),
        },
        handler: async (conn) => {
          seen = {
            group: conn.info.group,
            hrr: conn.info.helloRetryRequest,
            exporter: bytesToHex(conn.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), 32)),
          };
          await conn.updateKeys(true); // OpenSSL answers with its own KeyUpdate
          for (let chunk; (chunk = await conn.readChunk());) await conn.write(chunk);
        },
      });
      const node = new NodePeer({
        ...common,
        role: "client",
        port: listener.addr.port,
        groups: c.groups,
        message: MESSAGE,
      });
      const limit = deadline(3 * STEP_MS, "the Node client");
      try {
        const secure = await Promise.race([node.waitFor("secure"), limit.promise]);
        const echo = await Promise.race([node.waitFor("echo"), limit.promise]);
        assert.ok(echo.same, "the echo came back whole");
        assert.equal((await node.stop()).code, 0, node.stderr);
        assert.deepEqual([secure.group, secure.cipher], [c.group, "TLS_AES_256_GCM_SHA384"]);
        assert.deepEqual([seen!.group, seen!.hrr], [c.group, c.hrr]);
        assert.equal(secure.exporter, seen!.exporter, "exporter");
        assertKeyLogsMatch(ourLog, node.keyLog());
      } finally {
        limit.clear();
        await node.stop();
        await listener.close();
      }
    },
  });
}

const NODE_SERVER_CASES: NodeCase[] = [
  { groups: "SecP384r1MLKEM1024", group: "SecP384r1MLKEM1024", hrr: false },
  // We share SecP384r1MLKEM1024 only: Node asks for the hybrid it takes.
  { groups: "SecP256r1MLKEM768", group: "SecP256r1MLKEM768", hrr: true },
  { groups: "SecP256r1MLKEM768:SecP384r1MLKEM1024", group: "SecP384r1MLKEM1024", hrr: false },
  // Node's defaults have no NIST hybrid: it picks an ECDHE group of ours through a retry.
  { groups: null, group: "secp256r1", hrr: true },
];

for (const c of NODE_SERVER_CASES) {
  Deno.test({
    name: caseName("client", c),
    ignore,
    async fn() {
      const node = new NodePeer({ ...common, role: "server", key: keyPem, groups: c.groups });
      const ourLog: string[] = [];
      const limit = deadline(3 * STEP_MS, "the Node server");
      try {
        const { port } = await Promise.race([node.waitFor("listening"), limit.promise]);
        const tcp = await Deno.connect({ hostname: "127.0.0.1", port: port! });
        const conn = await TlsConnection.connect(tcp, {
          verifyPeer: () => {},
          serverName: "localhost",
          keyLog: (line) => ourLog.push(line),
        });
        let exporter = "";
        try {
          assert.deepEqual([conn.info.group, conn.info.helloRetryRequest], [c.group, c.hrr]);
          exporter = bytesToHex(conn.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), 32));
          const data = new TextEncoder().encode(MESSAGE);
          await conn.write(data.subarray(0, 1000));
          await conn.updateKeys(true);
          await conn.write(data.subarray(1000));
          let back = "";
          while (back.length < MESSAGE.length) {
            const chunk = await Promise.race([conn.readChunk(), limit.promise]);
            assert.ok(chunk, "the echo ended early");
            back += new TextDecoder().decode(chunk);
          }
          assert.ok(back === MESSAGE, "the echo came back whole");
        } finally {
          await conn.close();
        }
        assert.equal((await node.stop()).code, 0, node.stderr);
        const secure = await node.waitFor("secure");
        assert.equal(secure.exporter, exporter, "exporter");
        assertKeyLogsMatch(ourLog, node.keyLog());
      } finally {
        limit.clear();
        await node.stop();
      }
    },
  });
}
