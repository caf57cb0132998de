// The web UI's local server (client/webserver.ts) at the HTTP level, with raw requests over TCP so every
// header is exactly what a hostile page or a DNS-rebinding attacker could send: no token, a wrong token, a
// foreign Origin or Host are refused; the token becomes an HttpOnly SameSite=Strict cookie that every
// later request and the WebSocket need; every response carries the security headers; downloads are
// attachments with a safe type; the WebSocket carries requests and replies.

import assert from "node:assert/strict";
import { contentDisposition, type WebBackend, WebServer } from "../../../client/webserver.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";

/** A backend that records what reaches it. */
function stub(): WebBackend & { requests: unknown[]; uploads: string[] } {
  const requests: unknown[] = [], uploads: string[] = [];
  return {
    requests,
    uploads,
    hello: () => [{ t: "hello" }],
    request: (m) => {
      requests.push(m);
      if (m.a === "fail") return Promise.reject(new Error("That did not work."));
      return Promise.resolve({ echo: m.a });
    },
    upload: async (chat, name, _size, body) => {
      uploads.push(`${chat}/${name}:${await new Response(body).text()}`);
    },
    download: (id) =>
      id === "known" ? { path: new URL(import.meta.url).pathname, name: 'a "b"; c.txt' } : null,
  };
}

interface Raw {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** One HTTP/1.1 request on its own connection, written byte for byte. */
async function raw(port: number, head: string, body = ""): Promise<Raw> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head.replace(/\n/g, "\r\n") + "\r\n" + body));
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    const text = new TextDecoder().decode(concat(chunks));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const length = /content-length: (\d+)/i.exec(text.slice(0, end));
      if (length && text.length - end - 4 >= Number(length[1])) break;
      if (/^HTTP\/1.1 101/.test(text)) break;
    }
  }
  conn.close();
  const text = new TextDecoder().decode(concat(chunks));
  const [headText, ...rest] = text.split("\r\n\r\n");
  const [statusLine, ...lines] = headText.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const at = line.indexOf(":");
    const name = line.slice(0, at).toLowerCase(), value = line.slice(at + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body: rest.join("\r\n\r\n") };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function get(path: string, headers: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, ...headers, "Connection: close", ""].join("\n");
}

function checkSecurityHeaders(r: Raw): void {
  const csp = r.headers.get("content-security-policy") ?? "";
  for (
    const part of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "require-trusted-types-for 'script'",
    ]
  ) assert.ok(csp.includes(part), `CSP lacks ${part}: ${csp}`);
  assert.ok(!csp.includes("unsafe"), csp);
  assert.equal(r.headers.get("x-content-type-options"), "nosniff");
  assert.equal(r.headers.get("referrer-policy"), "no-referrer");
  assert.equal(r.headers.get("cache-control"), "no-store");
}

Deno.test("web server: the token, the cookie, Host and Origin", async () => {
  const backend = stub();
  const server = new WebServer({ port: 0, backend, maxUpload: 1024, token: TOKEN });
  const host = `Host: 127.0.0.1:${server.port}`;
  try {
    assert.equal(server.url, `http://127.0.0.1:${server.port}/?token=${TOKEN}`);

    // No token, no cookie: refused, for the page, its files and the socket.
    for (const path of ["/", "/app.js", "/style.css", "/ws", "/download/known"]) {
      const r = await raw(server.port, get(path, [host]));
      assert.equal(r.status, 401, path);
      checkSecurityHeaders(r);
      assert.ok(!r.headers.has("set-cookie"));
    }
    // A wrong token (one character off, shorter, longer): refused, no cookie.
    for (const token of [TOKEN.slice(0, -1) + "0", TOKEN.slice(1), TOKEN + "0", ""]) {
      const r = await raw(server.port, get(`/?token=${token}`, [host]));
      assert.equal(r.status, 403, token);
      assert.ok(!r.headers.has("set-cookie"));
    }
    // The right token: a redirect that drops it from the address, and the cookie.
    const ok = await raw(server.port, get(`/?token=${TOKEN}`, [host]));
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get("location"), "/");
    checkSecurityHeaders(ok);
    const setCookie = ok.headers.get("set-cookie")!;
    assert.match(
      setCookie,
      new RegExp(`^sotto-${server.port}=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict$`),
    );
    assert.ok(!setCookie.includes(TOKEN), "the cookie is not the token");
    const cookie = `Cookie: other=1; ${setCookie.split(";")[0]}`;

    const page = await raw(server.port, get("/", [host, cookie]));
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /^text\/html/);
    checkSecurityHeaders(page);
    assert.ok(page.body.includes('<script type="module" src="/app.js">'));
    assert.ok(!/<script>|\son\w+=/.test(page.body), "no inline script or handler in the page");
    const js = await raw(server.port, get("/app.js", [host, cookie]));
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type")!, /^text\/javascript/);
    assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/.test(js.body));

    // localhost with our port is ours too (its cookie jar is its own, so it needs the token again).
    assert.equal((await raw(server.port, get("/", [`Host: localhost:${server.port}`, cookie]))).status, 200);
    // A foreign Host (DNS rebinding: evil.example resolving to 127.0.0.1), another port, none: refused.
    for (
      const h of [
        "Host: evil.example",
        `Host: evil.example:${server.port}`,
        "Host: 127.0.0.1:1",
        "Host: 127.0.0.1",
      ]
    ) {
      const r = await raw(server.port, get("/", [h, cookie]));
      assert.equal(r.status, 421, h);
      checkSecurityHeaders(r);
    }
    const noHost = await raw(server.port, ["GET / HTTP/1.0", cookie, "", ""].join("\n"));
    assert.notEqual(noHost.status, 200);
    // A foreign Origin is refused even with the cookie (a page elsewhere making the browser send it).
    for (
      const o of [
        "Origin: http://evil.example",
        `Origin: http://127.0.0.1:${server.port + 1}`,
        "Origin: null",
      ]
    ) {
      assert.equal((await raw(server.port, get("/", [host, cookie, o]))).status, 403, o);
    }
    // The WebSocket: a foreign Origin, no Origin, a cross-site fetch, no cookie: refused; ours: switched.
    const upgrade = (extra: string[]) =>
      get("/ws", [
        host,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ...extra,
      ]).replace("Connection: close\n", "");
    assert.equal((await raw(server.port, upgrade([cookie, "Origin: http://evil.example"]))).status, 403);
    assert.equal((await raw(server.port, upgrade([cookie]))).status, 403);
    const own = `Origin: http://127.0.0.1:${server.port}`;
    assert.equal((await raw(server.port, upgrade([cookie, own, "Sec-Fetch-Site: cross-site"]))).status, 403);
    assert.equal((await raw(server.port, upgrade([own]))).status, 401);
    assert.equal((await raw(server.port, upgrade([cookie, own]))).status, 101);

    // Uploads: a foreign or missing Origin refused; ours reaches the backend.
    const post = (extra: string[], body: string) =>
      raw(
        server.port,
        [
          `POST /upload?chat=c&name=n.txt HTTP/1.1`,
          host,
          `Content-Length: ${body.length}`,
          ...extra,
          "Connection: close",
          "",
        ]
          .join("\n"),
        body,
      );
    assert.equal((await post([cookie], "abc")).status, 403);
    assert.equal((await post([cookie, "Origin: http://evil.example"], "abc")).status, 403);
    assert.equal((await post([own], "abc")).status, 401);
    assert.deepEqual(backend.uploads, []);
    assert.equal((await post([cookie, own], "abc")).status, 200);
    assert.deepEqual(backend.uploads, ["c/n.txt:abc"]);
    assert.equal((await post([cookie, own], "x".repeat(2000))).status, 413);

    // Downloads: attachments, octet-stream, the name sanitised for the header.
    const dl = await raw(server.port, get("/download/known", [host, cookie]));
    assert.equal(dl.status, 200);
    assert.equal(dl.headers.get("content-type"), "application/octet-stream");
    assert.equal(dl.headers.get("content-disposition"), contentDisposition('a "b"; c.txt'));
    assert.equal((await raw(server.port, get("/download/unknown", [host, cookie]))).status, 404);
    assert.equal((await raw(server.port, get("/nothing", [host, cookie]))).status, 404);
  } finally {
    await server.stop();
  }
});

Deno.test("web server: Content-Disposition names", () => {
  assert.equal(
    contentDisposition("report.pdf"),
    `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
  );
  assert.equal(
    contentDisposition('ö "x";\r\n.txt'),
    `attachment; filename="_ _x____.txt"; filename*=UTF-8''%C3%B6%20%22x%22%3B%0D%0A.txt`,
  );
});

Deno.test("web server: requests and replies over the WebSocket", async () => {
  const backend = stub();
  const server = new WebServer({ port: 0, backend, maxUpload: 1024, token: TOKEN });
  try {
    const ok = await raw(server.port, get(`/?token=${TOKEN}`, [`Host: 127.0.0.1:${server.port}`]));
    const cookie = ok.headers.get("set-cookie")!.split(";")[0];
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, {
      headers: { Cookie: cookie, Origin: `http://127.0.0.1:${server.port}` },
    });
    const messages: unknown[] = [];
    let wake = () => {};
    ws.onmessage = (e) => {
      messages.push(JSON.parse(e.data));
      wake();
    };
    const until = async (n: number) => {
      while (messages.length < n) await new Promise<void>((r) => (wake = r));
    };
    await new Promise((r) => (ws.onopen = r));
    await until(1);
    assert.deepEqual(messages[0], { t: "hello" });
    ws.send(JSON.stringify({ id: 1, a: "ping" }));
    ws.send(JSON.stringify({ id: 2, a: "fail" }));
    ws.send(JSON.stringify({ a: "no id: ignored" }));
    await until(3);
    assert.deepEqual(messages.slice(1), [{ t: "reply", id: 1, data: { echo: "ping" } }, {
      t: "reply",
      id: 2,
      error: "That did not work.",
    }]);
    server.broadcast({ t: "x" });
    await until(4);
    assert.deepEqual(messages[3], { t: "x" });
    const closed = new Promise((r) => (ws.onclose = r));
    ws.send("not JSON: the server closes the socket");
    await closed;
    assert.equal(backend.requests.length, 2);
  } finally {
    await server.stop();
  }
});
