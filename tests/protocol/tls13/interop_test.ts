// Live interoperability on 127.0.0.1 with real peers started here and stopped by pid: our server with
// `openssl s_client` (P-521 directly, x25519 → P-521 through a HelloRetryRequest, ChaCha20-Poly1305,
// AES-128-GCM, strict certificate verification, KeyUpdate), our client with `openssl s_server` (P-521,
// P-384 through a HelloRetryRequest, session tickets, a CertificateRequest, AES-128-GCM), our server with
// Deno.connectTls and our client with Deno.listenTls (rustls, P-384 through a HelloRetryRequest). Key logs on both sides
// (SSLKEYLOGFILE for ours, -keylogfile for OpenSSL's) must agree secret for secret, and so must the
// exporter (-keymatexport).
import assert from "node:assert/strict";
import { bytesToHex, equalBytes, hexToBytes } from "../../../crypto/bytes.ts";
import { keyLogFromEnv } from "../../../io/keylog.ts";
import { TlsConnection } from "../../../protocol/tls13/connection.ts";
import { nextTrafficSecret } from "../../../protocol/tls13/key_schedule.ts";
import { encodeEcPrivateKey, encodePem } from "../../../protocol/tls13/pem.ts";
import { TlsListener } from "../../../server/tls_listener.ts";
import { assertKeyLogsMatch, randomPort, seededRandom, skipOpenssl, testIdentity } from "./_helpers.ts";

const identity = testIdentity("interop identity");
const certPem = encodePem("CERTIFICATE", identity.certificate);
const keyPem = encodePem("EC PRIVATE KEY", encodeEcPrivateKey(identity.secretKey));
const EXPORTER_LABEL = "EXPERIMENTAL-sotto-test";
const STEP_MS = 20_000;
const ignore = skipOpenssl();

/** A temporary folder with server.crt and server.key, and SSLKEYLOGFILE pointing into it. */
async function withFiles(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sotto-tls-" });
  const previous = Deno.env.get("SSLKEYLOGFILE");
  try {
    await Deno.writeTextFile(`${dir}/server.crt`, certPem);
    await Deno.writeTextFile(`${dir}/server.key`, keyPem, { mode: 0o600 });
    Deno.env.set("SSLKEYLOGFILE", `${dir}/ours.keylog`);
    await fn(dir);
  } finally {
    if (previous === undefined) Deno.env.delete("SSLKEYLOGFILE");
    else Deno.env.set("SSLKEYLOGFILE", previous);
    await Deno.remove(dir, { recursive: true });
  }
}

/** An openssl process with piped stdio whose output is collected as it comes. */
class OpensslProcess {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #collected: Promise<void>;
  #status: Deno.CommandStatus | null = null;
  out = "";

  constructor(args: string[]) {
    this.#child = new Deno.Command("openssl", { args, stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    this.#stdin = this.#child.stdin.getWriter();
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) this.out += text;
    };
    this.#collected = Promise.all([collect(this.#child.stdout), collect(this.#child.stderr)]).then(() => {});
    this.#child.status.then((s) => this.#status = s);
  }

  get exited(): boolean {
    return this.#status !== null;
  }

  /** Waits until the output matches `pattern` (or throws with the output if the process exits first). */
  async waitFor(pattern: RegExp, ms = STEP_MS): Promise<void> {
    const until = Date.now() + ms;
    while (!pattern.test(this.out)) {
      if (this.exited || Date.now() > until) {
        await new Promise((r) => setTimeout(r, 50));
        if (pattern.test(this.out)) return;
        throw new Error(`openssl did not print ${pattern}${this.exited ? " (it exited)" : ""}:\n${this.out}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async send(text: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  /** Waits for the process to exit (closing stdin first); kills it by pid after `ms`. */
  async stop(ms = STEP_MS): Promise<Deno.CommandStatus> {
    try {
      await this.#stdin.close();
    } catch {
      // the process has gone already
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
        resolve();
      }, ms);
    });
    await Promise.race([this.#child.status, killed]);
    clearTimeout(timer);
    const status = await this.#child.status;
    await this.#collected;
    return status;
  }
}

/** Starts `openssl s_server` on a random free port (retried if taken) and waits for its ACCEPT line. */
async function startServer(args: string[]): Promise<{ server: OpensslProcess; port: number }> {
  let last = "";
  for (let attempt = 0; attempt < 8; attempt++) {
    const port = randomPort();
    const server = new OpensslProcess(["s_server", "-accept", `127.0.0.1:${port}`, ...args]);
    try {
      await server.waitFor(/^ACCEPT$/m);
      return { server, port };
    } catch (e) {
      last = (e as Error).message;
      await server.stop(1000);
    }
  }
  throw new Error(`s_server did not start: ${last}`);
}

/** OpenSSL logs each updated secret as *_TRAFFIC_SECRET_N: every one must be "traffic upd" of the one before. */
function assertUpdatedSecrets(theirs: string, hashName: "SHA-384" | "SHA-256"): void {
  for (const side of ["CLIENT", "SERVER"]) {
    const secrets = theirs.split("\n").filter((l) => new RegExp(`^${side}_TRAFFIC_SECRET_[0N] `).test(l))
      .map((l) => l.split(" ")[2].toLowerCase());
    assert.ok(secrets.length >= 2, `OpenSSL logged a ${side} KeyUpdate`);
    for (let i = 1; i < secrets.length; i++) {
      assert.equal(
        bytesToHex(nextTrafficSecret(hashName, hexToBytes(secrets[i - 1]))),
        secrets[i],
        `${side} update ${i}`,
      );
    }
  }
}

const S_CLIENT_CASES = [
  {
    name: "P-521 key share",
    args: ["-groups", "P-521"],
    hrr: false,
    suite: "TLS_AES_256_GCM_SHA384",
    hash: "SHA-384",
  },
  {
    name: "default x25519 share, HelloRetryRequest to P-521",
    args: [],
    hrr: true,
    suite: "TLS_AES_256_GCM_SHA384",
    hash: "SHA-384",
  },
  {
    name: "ChaCha20-Poly1305",
    args: ["-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
    hrr: true,
    suite: "TLS_CHACHA20_POLY1305_SHA256",
    hash: "SHA-256",
  },
  {
    name: "AES-128-GCM, the mandatory suite",
    args: ["-ciphersuites", "TLS_AES_128_GCM_SHA256", "-groups", "P-521"],
    hrr: false,
    suite: "TLS_AES_128_GCM_SHA256",
    hash: "SHA-256",
  },
] as const;

for (const c of S_CLIENT_CASES) {
  Deno.test({
    name: `interop: our server with openssl s_client (${c.name}), verified, KeyUpdate, exporter, key logs`,
    ignore,
    async fn() {
      await withFiles(async (dir) => {
        const seen: { hrr?: boolean; suite?: string; group?: string; exporter?: string; lines: string[] } = {
          lines: [],
        };
        const listener = new TlsListener({
          port: 0,
          tls: () => ({
            certificateChain: [identity.certificate],
            secretKey: identity.secretKey,
            keyLog: keyLogFromEnv(),
          }),
          handler: async (conn) => {
            seen.hrr = conn.info.helloRetryRequest;
            seen.suite = conn.info.cipherSuite;
            seen.group = conn.info.group;
            seen.exporter = bytesToHex(conn.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), 32));
            let text = "";
            for (let chunk; (chunk = await conn.readChunk());) {
              text += new TextDecoder().decode(chunk);
              for (let nl; (nl = text.indexOf("\n")) >= 0;) {
                const line = text.slice(0, nl);
                text = text.slice(nl + 1);
                seen.lines.push(line);
                await conn.write(new TextEncoder().encode(`echo:${line}\n`));
                if (line === "after") return; // the listener closes with close_notify; s_client then exits
              }
            }
          },
        });
        const client = new OpensslProcess([
          "s_client",
          "-connect",
          `127.0.0.1:${listener.addr.port}`,
          "-servername",
          "localhost",
          "-verify_hostname",
          "localhost",
          "-CAfile",
          `${dir}/server.crt`,
          "-verify_return_error",
          "-tls1_3",
          "-keylogfile",
          `${dir}/openssl.keylog`,
          "-keymatexport",
          EXPORTER_LABEL,
          "-keymatexportlen",
          "32",
          ...c.args,
        ]);
        try {
          await client.waitFor(/Verify return code: 0 \(ok\)/);
          await client.send("hello\n");
          await client.waitFor(/echo:hello/);
          await client.send("K\n"); // s_client: KeyUpdate(update_requested)
          await client.waitFor(/KEYUPDATE/);
          await new Promise((r) => setTimeout(r, 200));
          await client.send("after\n");
          await client.waitFor(/echo:after/);
        } finally {
          await client.stop();
          await listener.close();
        }
        const out = client.out;
        assert.match(out, /Server Temp Key: ECDH, secp521r1, 521 bits/);
        assert.match(out, /Peer signing digest: SHA512/);
        assert.match(out, /Verify return code: 0 \(ok\)/);
        assert.match(out, new RegExp(`New, TLSv1\\.3, Cipher is ${c.suite}`));
        assert.deepEqual(seen.lines, ["hello", "after"]);
        assert.deepEqual([seen.hrr, seen.suite, seen.group], [c.hrr, c.suite, "secp521r1"]);
        assert.equal(/Keying material: ([0-9A-F]+)/.exec(out)?.[1].toLowerCase(), seen.exporter, "exporter");
        const theirs = await Deno.readTextFile(`${dir}/openssl.keylog`);
        assertKeyLogsMatch(await Deno.readTextFile(`${dir}/ours.keylog`), theirs);
        assertUpdatedSecrets(theirs, c.hash);
      });
    },
  });
}

const AES256 = { suite: "TLS_AES_256_GCM_SHA384", hash: "SHA-384" } as const;
// OpenSSL 3.0 has no hybrid group: our client's only key share is SecP384r1MLKEM1024, so every case goes
// through a HelloRetryRequest.
const S_SERVER_CASES = [
  {
    name: "P-521 through a HelloRetryRequest",
    args: ["-groups", "P-521"],
    group: "secp521r1",
    hrr: true,
    ...AES256,
  },
  {
    name: "P-384 through a HelloRetryRequest",
    args: ["-groups", "P-384"],
    group: "secp384r1",
    hrr: true,
    ...AES256,
  },
  {
    name: "P-521, asking for an optional client certificate",
    args: ["-groups", "P-521", "-verify", "1"],
    group: "secp521r1",
    hrr: true,
    ...AES256,
  },
  {
    name: "AES-128-GCM, the mandatory suite, the only one it takes",
    args: ["-groups", "P-521", "-ciphersuites", "TLS_AES_128_GCM_SHA256"],
    group: "secp521r1",
    hrr: true,
    suite: "TLS_AES_128_GCM_SHA256",
    hash: "SHA-256",
  },
  {
    // It picks by its own order (x25519, secp256r1, x448, secp521r1, ...), not by ours.
    name: "its default groups: HelloRetryRequest to secp256r1, its first choice among ours",
    args: [],
    group: "secp256r1",
    hrr: true,
    ...AES256,
  },
] as const;

for (const c of S_SERVER_CASES) {
  Deno.test({
    name:
      `interop: our client with openssl s_server (${c.name}), session tickets, KeyUpdate both ways, exporter, key logs`,
    ignore,
    async fn() {
      await withFiles(async (dir) => {
        const { server, port } = await startServer([
          "-tls1_3",
          "-cert",
          `${dir}/server.crt`,
          "-key",
          `${dir}/server.key`,
          "-naccept",
          "1",
          "-num_tickets",
          "2",
          "-keylogfile",
          `${dir}/openssl.keylog`,
          "-keymatexport",
          EXPORTER_LABEL,
          "-keymatexportlen",
          "32",
          ...c.args,
        ]);
        let exporter = "";
        try {
          const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
          const conn = await TlsConnection.connect(tcp, {
            verifyPeer: (cert) => assert.ok(equalBytes(cert, identity.certificate), "the pinned certificate"),
            serverName: "localhost",
            keyLog: keyLogFromEnv(),
          });
          try {
            assert.deepEqual(
              [conn.info.cipherSuite, conn.info.group, conn.info.helloRetryRequest],
              [c.suite, c.group, c.hrr],
            );
            exporter = bytesToHex(conn.exportKeyingMaterial(EXPORTER_LABEL, new Uint8Array(0), 32));
            const readLine = async () => {
              let text = "";
              while (!text.endsWith("\n")) text += new TextDecoder().decode((await conn.readChunk())!);
              return text;
            };
            await conn.write(new TextEncoder().encode("hello from sotto\n"));
            await server.waitFor(/hello from sotto/);
            await server.send("reply\n");
            assert.equal(await readLine(), "reply\n");
            await server.send("K\n"); // s_server: KeyUpdate(update_requested), which we answer
            await new Promise((r) => setTimeout(r, 300)); // s_server reads "K" alone (its output is buffered)
            await conn.updateKeys(true);
            await conn.write(new TextEncoder().encode("after the updates\n"));
            await server.waitFor(/after the updates/);
            await server.send("bye\n");
            assert.equal(await readLine(), "bye\n");
          } finally {
            await conn.close();
          }
        } finally {
          await server.stop();
        }
        assert.match(server.out, new RegExp(`CIPHER is ${c.suite}`));
        assert.equal(
          /Keying material: ([0-9A-F]+)/.exec(server.out)?.[1].toLowerCase(),
          exporter,
          "exporter",
        );
        const theirs = await Deno.readTextFile(`${dir}/openssl.keylog`);
        assertKeyLogsMatch(await Deno.readTextFile(`${dir}/ours.keylog`), theirs);
        assertUpdatedSecrets(theirs, c.hash);
      });
    },
  });
}

Deno.test("interop: our server with Deno.connectTls (rustls): HelloRetryRequest to P-384, KeyUpdate, 300 KB echo", async () => {
  let info: TlsConnection["info"] | null = null;
  const listener = new TlsListener({
    port: 0,
    tls: { certificateChain: [identity.certificate], secretKey: identity.secretKey },
    handler: async (conn) => {
      info = conn.info;
      await conn.updateKeys(true); // rustls answers with its own KeyUpdate
      for (let chunk; (chunk = await conn.readChunk());) await conn.write(chunk);
    },
  });
  try {
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port: listener.addr.port,
      caCerts: [certPem],
    });
    try {
      const data = seededRandom("rustls echo")(300_000);
      const writing = (async () => {
        for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
      })();
      const back = new Uint8Array(data.length), buf = new Uint8Array(65536);
      for (let got = 0; got < data.length;) {
        const n = await conn.read(buf);
        assert.ok(n !== null, "echo ended early");
        back.set(buf.subarray(0, n), got);
        got += n;
      }
      await writing;
      assert.ok(equalBytes(back, data));
    } finally {
      conn.close();
    }
  } finally {
    await listener.close();
  }
  assert.deepEqual(
    [info!.cipherSuite, info!.group, info!.helloRetryRequest, info!.serverName],
    ["TLS_AES_256_GCM_SHA384", "secp384r1", true, "localhost"],
  );
});

Deno.test("interop: our client with Deno.listenTls (rustls): HelloRetryRequest to P-384, KeyUpdate, 200 KB echo", async () => {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem });
  const serving = (async () => {
    const conn = await listener.accept();
    try {
      const buf = new Uint8Array(65536);
      for (let n; (n = await conn.read(buf)) !== null;) {
        for (let off = 0; off < n;) off += await conn.write(buf.subarray(off, n));
      }
    } finally {
      conn.close();
    }
  })();
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const conn = await TlsConnection.connect(tcp, { verifyPeer: () => {}, serverName: "localhost" });
    try {
      assert.deepEqual([conn.info.group, conn.info.helloRetryRequest], ["secp384r1", true]);
      const data = seededRandom("rustls server echo")(200_000);
      const read = async (n: number) => {
        const out: number[] = [];
        while (out.length < n) out.push(...(await conn.readChunk())!);
        return Uint8Array.from(out);
      };
      const [, back] = await Promise.all([conn.write(data), read(data.length)]);
      assert.ok(equalBytes(back, data));
      await conn.updateKeys(true);
      await conn.write(Uint8Array.of(1, 2, 3));
      assert.deepEqual([...await read(3)], [1, 2, 3]);
    } finally {
      await conn.close();
    }
    await serving;
  } finally {
    listener.close();
  }
});
