// TlsConnection, the async adapter, over an in-memory transport that accepts at most a few bytes per
// write and returns reads in pieces: the write-all loop, buffered reads, read(p) with a small buffer,
// truncation (EOF without close_notify), close, failed handshakes closing the transport, KeyUpdate and the
// exporter; then our client and server over real loopback TCP.
import assert from "node:assert/strict";
import { equalBytes } from "../../../crypto/bytes.ts";
import { TlsError } from "../../../protocol/tls13/alert.ts";
import { TlsConnection, type Transport } from "../../../protocol/tls13/connection.ts";
import { TlsListener } from "../../../server/tls_listener.ts";
import { seededRandom, testIdentity } from "./_helpers.ts";

const identity = testIdentity();
const serverOptions = { certificateChain: [identity.certificate], secretKey: identity.secretKey };
const clientOptions = { verifyPeer: () => {}, serverName: "localhost" };

/** One direction of an in-memory stream. */
class Pipe {
  chunks: Uint8Array[] = [];
  eof = false;
  wake: (() => void) | null = null;
  push(data: Uint8Array | null) {
    if (data) this.chunks.push(data);
    else this.eof = true;
    this.wake?.();
    this.wake = null;
  }
}

/** Two connected transports; each write takes at most `maxWrite` bytes, each read gives at most `maxRead`. */
function duplex(
  maxWrite = 1000,
  maxRead = 700,
): [Transport & { closed: boolean }, Transport & { closed: boolean }] {
  const ab = new Pipe(), ba = new Pipe();
  const end = (inbox: Pipe, outbox: Pipe) => {
    const t = {
      closed: false,
      async read(p: Uint8Array): Promise<number | null> {
        while (inbox.chunks.length === 0 && !inbox.eof) {
          if (t.closed) throw new Deno.errors.BadResource("closed");
          await new Promise<void>((resolve) => inbox.wake = resolve);
        }
        if (t.closed) throw new Deno.errors.BadResource("closed");
        if (inbox.chunks.length === 0) return null;
        const chunk = inbox.chunks[0];
        const n = Math.min(chunk.length, p.length, maxRead);
        p.set(chunk.subarray(0, n));
        if (n === chunk.length) inbox.chunks.shift();
        else inbox.chunks[0] = chunk.subarray(n);
        return n;
      },
      write(p: Uint8Array): Promise<number> {
        if (t.closed || outbox.eof) return Promise.reject(new Deno.errors.BrokenPipe("closed"));
        const n = Math.min(p.length, maxWrite);
        outbox.push(p.slice(0, n));
        return Promise.resolve(n);
      },
      close() {
        if (t.closed) throw new Deno.errors.BadResource("already closed");
        t.closed = true;
        outbox.push(null);
        inbox.wake?.();
      },
    };
    return t;
  };
  return [end(ba, ab), end(ab, ba)];
}

async function connectPair(maxWrite?: number, maxRead?: number) {
  const [a, b] = duplex(maxWrite, maxRead);
  const [client, server] = await Promise.all([
    TlsConnection.connect(a, { ...clientOptions, random: seededRandom("conn client") }),
    TlsConnection.accept(b, { ...serverOptions, random: seededRandom("conn server") }),
  ]);
  return { client, server, a, b };
}

async function readAll(conn: TlsConnection, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const chunk = await conn.readChunk();
    if (!chunk) break;
    out.set(chunk, got);
    got += chunk.length;
  }
  assert.equal(got, n);
  return out;
}

Deno.test("connection: handshake and data over a transport that takes 1000 bytes per write and reads in pieces", async () => {
  const { client, server } = await connectPair();
  assert.equal(client.info.cipherSuite, "TLS_AES_256_GCM_SHA384");
  assert.equal(server.info.serverName, "localhost");
  const data = seededRandom("conn data")(300_000);
  const [, got] = await Promise.all([client.write(data), readAll(server, data.length)]);
  assert.ok(equalBytes(got, data));
  assert.ok(
    equalBytes(
      client.exportKeyingMaterial("x", new Uint8Array(0), 20),
      server.exportKeyingMaterial("x", new Uint8Array(0), 20),
    ),
  );
  await client.updateKeys(true);
  await server.write(Uint8Array.of(1, 2, 3));
  assert.deepEqual([...await client.readChunk() ?? []], [1, 2, 3]);
  await client.write(Uint8Array.of(4));
  assert.deepEqual([...await server.readChunk() ?? []], [4]);
  await client.close();
  assert.equal(await server.readChunk(), null, "close_notify reads as the end of the stream");
  await server.close();
});

Deno.test("connection: read(p) with a small buffer returns the data in order, then null", async () => {
  const { client, server } = await connectPair(5000, 5000);
  await client.write(new Uint8Array(100).map((_, i) => i));
  await client.close();
  const buf = new Uint8Array(7), seen: number[] = [];
  for (let n; (n = await server.read(buf)) !== null;) seen.push(...buf.subarray(0, n));
  assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i));
  await server.close();
});

Deno.test("connection: EOF without close_notify is a truncation error", async () => {
  const { client, server, a } = await connectPair();
  await client.write(Uint8Array.of(1));
  a.close(); // the client's transport goes away without close_notify
  assert.deepEqual([...await server.readChunk() ?? []], [1]);
  await assert.rejects(
    server.readChunk(),
    (e) => e instanceof TlsError && e.alert === null && /truncated/.test(e.message),
  );
  await server.close();
  await client.close();
});

Deno.test("connection: close() ends a pending read with null", async () => {
  const { client, server } = await connectPair();
  const pending = server.readChunk();
  await server.close();
  assert.equal(await pending, null);
  assert.equal(await client.readChunk(), null);
  await client.close();
});

Deno.test("connection: a failed handshake sends its alert, closes the transport and rejects on both sides", async () => {
  const [a, b] = duplex();
  const results = await Promise.allSettled([
    TlsConnection.connect(a, {
      verifyPeer: () => {
        throw new Error("wrong pin");
      },
    }),
    TlsConnection.accept(b, serverOptions),
  ]);
  const [c, s] = results.map((r) => r.status === "rejected" ? r.reason : null);
  assert.ok(c instanceof TlsError && c.alert === 42 && !c.remote, String(c));
  assert.ok(s instanceof TlsError && s.alert === 42 && s.remote, String(s));
  assert.ok(a.closed && b.closed);
});

Deno.test("connection: a peer that closes during the handshake", async () => {
  const [a, b] = duplex();
  const accepting = TlsConnection.accept(b, serverOptions);
  a.close();
  await assert.rejects(accepting, (e) => e instanceof TlsError && /during the handshake/.test(e.message));
  assert.ok(b.closed);
});

Deno.test("connection: our client and server over loopback TCP, with a 1 MiB echo", async () => {
  const listener = new TlsListener({
    port: 0,
    tls: serverOptions,
    handler: async (conn) => {
      for (let chunk; (chunk = await conn.readChunk());) await conn.write(chunk);
    },
  });
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const conn = await TlsConnection.connect(tcp, clientOptions);
    const data = seededRandom("tcp echo")(1 << 20);
    const [, echoed] = await Promise.all([conn.write(data), readAll(conn, data.length)]);
    assert.ok(equalBytes(echoed, data));
    await conn.close();
  } finally {
    await listener.close();
  }
});

Deno.test("connection: concurrent writes go out whole, one after another, never interleaved", async () => {
  const { client, server } = await connectPair(5000, 3000);
  const big = (fill: number) => new Uint8Array(200_000).fill(fill);
  const sends = [client.write(big(1)), client.write(Uint8Array.of(2, 2, 2)), client.write(big(3))];
  const got = await readAll(server, 400_003);
  await Promise.all(sends);
  assert.ok(got.subarray(0, 200_000).every((b) => b === 1));
  assert.ok(got.subarray(200_000, 200_003).every((b) => b === 2));
  assert.ok(got.subarray(200_003).every((b) => b === 3));
  await client.close();
  await server.close();
});

Deno.test("connection: abort cuts a connection whose peer stopped reading, where close would wait", async () => {
  // A transport whose writes never complete once the handshake is done: a peer that stopped reading.
  // Like a socket, a stalled write fails when the transport is closed.
  const [a, b] = duplex();
  let stalled = false;
  const stuck: ((e: Error) => void)[] = [];
  const write = a.write.bind(a), close = a.close.bind(a);
  a.write = (p: Uint8Array) => stalled ? new Promise<number>((_, reject) => stuck.push(reject)) : write(p);
  a.close = () => {
    close();
    for (const reject of stuck) reject(new Deno.errors.BadResource("closed"));
  };
  const [client, server] = await Promise.all([
    TlsConnection.connect(a, { ...clientOptions, random: seededRandom("abort client") }),
    TlsConnection.accept(b, { ...serverOptions, random: seededRandom("abort server") }),
  ]);
  stalled = true;
  const pending = client.write(new Uint8Array(100)).then(() => "sent", () => "failed");
  let closed = false;
  const closing = client.close().then(() => closed = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(closed, false, "close waits for the stalled write");
  client.abort();
  await closing;
  assert.ok(a.closed, "abort closed the transport");
  assert.equal(await pending, "failed");
  assert.equal(await server.readChunk().catch(() => null), null);
  await server.close();
});
