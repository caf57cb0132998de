// `client.ts --probe`: one handshake, one line, nothing stored. Run against our own TLS listener (and a
// wrong pin, a closed port, a peer that is not TLS), and once as a real process.

import assert from "node:assert/strict";
import { probe } from "../../client/probe.ts";
import { TlsListener } from "../../server/tls_listener.ts";
import { parseCertificate, spkiPin } from "../../protocol/tls13/x509.ts";
import { testIdentity } from "../protocol/tls13/_helpers.ts";

const identity = testIdentity("probe test");
const pin = spkiPin(parseCertificate(identity.certificate).spki);

async function withListener(fn: (port: number) => Promise<void>, groups?: number[]) {
  const listener = new TlsListener({
    port: 0,
    tls: { certificateChain: [identity.certificate], secretKey: identity.secretKey, groups },
    handler: async (conn) => {
      await conn.readChunk().catch(() => null); // until the client closes
    },
  });
  try {
    await fn(listener.addr.port);
  } finally {
    await listener.close();
  }
}

Deno.test("probe: prints TLS1.3, the suite, the group (post-quantum hybrid) and the pin, and exits 0", async () => {
  await withListener(async (port) => {
    const r = await probe({ host: "127.0.0.1", port, curve: "P-521" });
    assert.equal(r.code, 0);
    assert.equal(r.line, `TLS1.3 TLS_AES_256_GCM_SHA384 SecP384r1MLKEM1024 pin=${pin}`);
    // The curve orders the classical groups only: the hybrid goes first whatever it is.
    const r384 = await probe({ host: "localhost", port, curve: "P-384", pin });
    assert.equal(r384.line, `TLS1.3 TLS_AES_256_GCM_SHA384 SecP384r1MLKEM1024 pin=${pin}`);
  });
});

Deno.test("probe: a relay without the hybrid groups: the group it asks for with a HelloRetryRequest", async () => {
  await withListener(async (port) => {
    const r = await probe({ host: "127.0.0.1", port, curve: "P-384" });
    assert.equal(r.line, `TLS1.3 TLS_AES_256_GCM_SHA384 secp521r1 pin=${pin}`);
  }, [0x19, 0x18, 0x17]);
  await withListener(async (port) => {
    const r = await probe({ host: "127.0.0.1", port, curve: "P-384" });
    assert.equal(r.line, `TLS1.3 TLS_AES_256_GCM_SHA384 secp384r1 pin=${pin}`);
  }, [0x18]);
});

Deno.test("probe: a wrong --pin fails with bad_certificate, naming both pins", async () => {
  await withListener(async (port) => {
    const other = "A".repeat(43);
    const r = await probe({ host: "127.0.0.1", port, curve: "P-521", pin: other });
    assert.equal(r.code, 1);
    assert.match(r.line, /^probe failed: sent bad_certificate: /);
    assert.ok(r.line.includes(pin) && r.line.includes(other));
    assert.ok(!r.line.includes("\n"));
  });
});

Deno.test("probe: a closed port and a peer that does not speak TLS fail with one line", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const refused = await probe({ host: "127.0.0.1", port, curve: "P-521" });
  assert.deepEqual(refused, {
    line: "probe failed: connection refused (is the relay running there?)",
    code: 1,
  });

  const plain = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = (async () => {
    const conn = await plain.accept();
    await conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
    conn.close();
  })();
  const garbage = await probe({ host: "127.0.0.1", port: plain.addr.port, curve: "P-521" });
  await serve;
  plain.close();
  assert.equal(garbage.code, 1);
  assert.match(garbage.line, /^probe failed: .*(decode_error|record|alert|unexpected|closed)/);
  assert.ok(!garbage.line.includes("\n"));
});

Deno.test("probe: the real entry point prints one line and writes no files", async () => {
  const data = await Deno.makeTempDir();
  try {
    await withListener(async (port) => {
      const out = await new Deno.Command("deno", {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          "--allow-env",
          "client.ts",
          "127.0.0.1",
          "-p",
          String(port),
          "--probe",
          "--data",
          data,
        ],
        cwd: new URL("../..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.deepEqual(lines, [`TLS1.3 TLS_AES_256_GCM_SHA384 SecP384r1MLKEM1024 pin=${pin}`]);
    });
    assert.deepEqual([...Deno.readDirSync(data)], [], "nothing stored");
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});
