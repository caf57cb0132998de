// The web UI's local HTTP server: serves the page (client/web/, embedded by client/webassets.ts) on
// 127.0.0.1 only, to a browser that holds the key. The printed URL carries a random 128-bit token; the
// first load exchanges it for an HttpOnly, SameSite=Strict session cookie, and every later request and the
// WebSocket need that cookie. The Host header must name the loopback address and our port (against DNS
// rebinding), a foreign Origin is refused (and a missing one on anything that changes state), and every
// response carries a strict Content-Security-Policy with Trusted Types, nosniff, no-referrer and
// frame-ancestors 'none'. What the page can do is the backend's business (client/webapp.ts); this module
// only guards the door and carries messages: JSON over one WebSocket, uploads as POST bodies, downloads
// as attachments.

import { bytesToHex, systemRandom } from "../crypto/bytes.ts";
import { ASSETS } from "./webassets.ts";

/** What the page talks to (client/webapp.ts for a real client, a fake in measurements). */
export interface WebBackend {
  /** The messages a page gets first when it connects: the state now. */
  hello(): unknown[];
  /** One request from a page; resolves to the reply's data, or throws an Error whose message is a sentence. */
  request(message: Record<string, unknown>): Promise<unknown>;
  /**
   * An uploaded file for a chat: the body is at most `size` bytes (checked here). Resolves with the
   * transfer's id, which the page gets back as `file`.
   */
  upload(chat: string, name: string, size: number, body: ReadableStream<Uint8Array>): Promise<string | void>;
  /** The file behind a download link, or null. */
  download(id: string): { path: string; name: string } | null;
}

export interface WebServerOptions {
  /** The port on 127.0.0.1; 0 picks a free one. */
  port: number;
  backend: WebBackend;
  /** The largest upload accepted, in bytes. */
  maxUpload: number;
  /** The token for the URL (tests); default 128 random bits. */
  token?: string;
}

/** Pages connected at once, at most. */
const MAX_SOCKETS = 16;
/** The largest message a page may send on the WebSocket (a text is at most 32 KiB). */
const MAX_MESSAGE_CHARS = 256 * 1024;

const HEADERS_ALWAYS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
};

/** Equal strings, compared in time that depends only on their lengths. */
function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The value of cookie `name` in a Cookie header, or null. */
function cookie(header: string | null, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}

/** `filename*` of a Content-Disposition header (RFC 6266, RFC 8187), with a plain ASCII fallback. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, "_");
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** The local web server. */
export class WebServer {
  readonly port: number;
  /** The address to open: http://127.0.0.1:PORT/?token=… */
  readonly url: string;
  readonly #token: string;
  readonly #session = bytesToHex(systemRandom(32));
  readonly #cookieName: string;
  readonly #backend: WebBackend;
  readonly #maxUpload: number;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #sockets = new Set<WebSocket>();

  /** Listens on 127.0.0.1 (only); throws if the port is taken. */
  constructor(options: WebServerOptions) {
    this.#token = options.token ?? bytesToHex(systemRandom(16));
    this.#backend = options.backend;
    this.#maxUpload = options.maxUpload;
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: options.port,
      onListen: () => {},
      onError: () => new Response("Something went wrong.\n", { status: 500, headers: HEADERS_ALWAYS }),
    }, (req) => this.#handle(req));
    this.port = this.#server.addr.port;
    // Cookies do not tell ports apart: each client's cookie has its own name, so two UIs in one browser work.
    this.#cookieName = `sotto-${this.port}`;
    this.url = `http://127.0.0.1:${this.port}/?token=${this.#token}`;
  }

  /** Sends a message to every connected page. */
  broadcast(message: unknown): void {
    const text = JSON.stringify(message);
    for (const ws of this.#sockets) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  }

  /** How many pages are connected. */
  get pages(): number {
    return this.#sockets.size;
  }

  /** Closes every page's socket and stops listening. */
  async stop(): Promise<void> {
    for (const ws of this.#sockets) ws.close(1001, "the client stopped");
    this.#sockets.clear();
    await this.#server.shutdown();
  }

  #headers(host: string, extra: Record<string, string> = {}): Headers {
    const csp = [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data: blob:",
      `connect-src 'self' ws://${host}`,
      "manifest-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
      "require-trusted-types-for 'script'",
      "trusted-types 'none'",
    ].join("; ");
    return new Headers({ ...HEADERS_ALWAYS, "Content-Security-Policy": csp, ...extra });
  }

  #text(status: number, text: string, host = `127.0.0.1:${this.port}`): Response {
    return new Response(text + "\n", {
      status,
      headers: this.#headers(host, { "Content-Type": "text/plain; charset=utf-8" }),
    });
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const host = req.headers.get("host") ?? "";
    if (host !== `127.0.0.1:${this.port}` && host !== `localhost:${this.port}`) {
      return this.#text(421, "This address is not served here.");
    }
    const origin = req.headers.get("origin");
    const ownOrigin = origin === `http://${host}`;
    if (origin !== null && !ownOrigin) return this.#text(403, "Requests from other sites are refused.", host);
    const site = req.headers.get("sec-fetch-site");
    const writes = req.method !== "GET" && req.method !== "HEAD";
    const upgrade = (req.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
    if ((writes || upgrade) && (!ownOrigin || (site !== null && site !== "same-origin"))) {
      return this.#text(403, "Requests from other sites are refused.", host);
    }
    if (req.method === "GET" && url.pathname === "/" && url.searchParams.has("token")) {
      if (!sameSecret(url.searchParams.get("token")!, this.#token)) {
        return this.#text(403, "That link's token is wrong: open the address the client printed.", host);
      }
      return new Response(null, {
        status: 303,
        headers: this.#headers(host, {
          "Location": "/",
          "Set-Cookie": `${this.#cookieName}=${this.#session}; Path=/; HttpOnly; SameSite=Strict`,
        }),
      });
    }
    const session = cookie(req.headers.get("cookie"), this.#cookieName);
    if (session === null || !sameSecret(session, this.#session)) {
      return this.#text(401, "Open the address the client printed: it carries the key to this page.", host);
    }
    if (url.pathname === "/ws" && req.method === "GET") return this.#socket(req, host);
    if (url.pathname === "/upload" && req.method === "POST") return await this.#upload(req, url, host);
    if (url.pathname.startsWith("/download/") && req.method === "GET") return await this.#download(url, host);
    const asset = ASSETS.get(url.pathname === "/" ? "/index.html" : url.pathname);
    if (asset && (req.method === "GET" || req.method === "HEAD")) {
      return new Response(req.method === "HEAD" ? null : asset.body, {
        headers: this.#headers(host, { "Content-Type": asset.type }),
      });
    }
    if (asset || url.pathname === "/ws" || url.pathname === "/upload") {
      return this.#text(405, "That method is not allowed here.", host);
    }
    return this.#text(404, "There is nothing here.", host);
  }

  #socket(req: Request, host: string): Response {
    if ((req.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      return this.#text(400, "This address takes a WebSocket.", host);
    }
    if (this.#sockets.size >= MAX_SOCKETS) return this.#text(503, "Too many pages are open.", host);
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 60 });
    this.#sockets.add(socket);
    socket.onopen = () => {
      for (const message of this.#backend.hello()) socket.send(JSON.stringify(message));
    };
    socket.onclose = () => this.#sockets.delete(socket);
    socket.onerror = () => this.#sockets.delete(socket);
    socket.onmessage = (e) => {
      if (typeof e.data !== "string" || e.data.length > MAX_MESSAGE_CHARS) {
        return socket.close(1009, "message too large");
      }
      let message: unknown;
      try {
        message = JSON.parse(e.data);
      } catch {
        return socket.close(1007, "not JSON");
      }
      if (typeof message !== "object" || message === null || Array.isArray(message)) return;
      const id = (message as { id?: unknown }).id;
      if (typeof id !== "number" || !Number.isSafeInteger(id)) return;
      this.#backend.request(message as Record<string, unknown>).then(
        (data) => ({ t: "reply", id, data: data ?? null }),
        (err) => ({ t: "reply", id, error: err instanceof Error ? err.message : String(err) }),
      ).then((reply) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(reply));
      });
    };
    return response;
  }

  async #upload(req: Request, url: URL, host: string): Promise<Response> {
    const chat = url.searchParams.get("chat") ?? "", name = url.searchParams.get("name") ?? "";
    const size = Number(req.headers.get("content-length") ?? "NaN");
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), {
        status,
        headers: this.#headers(host, { "Content-Type": "application/json" }),
      });
    if (!Number.isSafeInteger(size) || size < 0 || !req.body) {
      await req.body?.cancel();
      return json(411, { error: "The upload gave no length." });
    }
    if (size > this.#maxUpload) {
      await req.body.cancel();
      return json(413, { error: `Files can be at most ${this.#maxUpload / (1024 * 1024)} MiB.` });
    }
    try {
      const file = await this.#backend.upload(chat, name, size, limited(req.body, size));
      return json(200, { ok: true, file });
    } catch (e) {
      await req.body.cancel().catch(() => {});
      return json(400, { error: e instanceof Error ? e.message : String(e) });
    }
  }

  async #download(url: URL, host: string): Promise<Response> {
    const target = this.#backend.download(decodeURIComponent(url.pathname.slice("/download/".length)));
    if (!target) return this.#text(404, "That file is not here (any more).", host);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(target.path, { read: true });
    } catch {
      return this.#text(404, "That file is not here (any more).", host);
    }
    const size = (await file.stat()).size;
    return new Response(file.readable, {
      headers: this.#headers(host, {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": contentDisposition(target.name),
        "Content-Length": String(size),
      }),
    });
  }
}

/** The stream, failing once it carries more than `size` bytes. */
function limited(body: ReadableStream<Uint8Array>, size: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > size) controller.error(new Error("The upload is longer than it said."));
        else controller.enqueue(chunk);
      },
      flush(controller) {
        if (seen !== size) controller.error(new Error("The upload ended early."));
      },
    }),
  );
}
