// Node 26 (OpenSSL 3.5) as a TLS peer in a separate process, for the hybrid interop tests and for
// recording the hybrid known-answer vectors (vectors/tls13_hybrid.json): one connection in either role,
// reported as JSON lines.

import { requirePeer } from "../../_peers.ts";

const STEP_MS = 20_000;

/**
 * The Node side, one connection in either role, reporting JSON lines on stdout: `listening` (server),
 * `secure` (with the group the client saw, the suite and the exporter), `keylog`, `echo` (client) and
 * `error`. The server echoes what it reads; the client sends `message` and waits for it to come back.
 */
export const NODE_PEER = `
const tls = require("node:tls");
const cfg = JSON.parse(process.argv[1]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const secure = (sock, group) => out({
  event: "secure",
  group,
  cipher: sock.getCipher().standardName,
  exporter: sock.exportKeyingMaterial(32, cfg.label).toString("hex"),
});
const options = { minVersion: "TLSv1.3", ...(cfg.groups ? { ecdhCurve: cfg.groups } : {}) };
if (cfg.role === "server") {
  const server = tls.createServer({ ...options, key: cfg.key, cert: cfg.cert }, (sock) => {
    secure(sock, null);
    sock.on("data", (d) => sock.write(d));
    sock.on("end", () => sock.end(() => server.close()));
    sock.on("error", (e) => out({ event: "error", message: e.message }));
  });
  server.on("keylog", (line) => out({ event: "keylog", line: line.toString().trim() }));
  server.on("tlsClientError", (e) => { out({ event: "error", message: e.message }); server.close(); });
  server.listen(0, "127.0.0.1", () => out({ event: "listening", port: server.address().port }));
} else {
  const sock = tls.connect({ ...options, host: "127.0.0.1", port: cfg.port, servername: "localhost", ca: cfg.cert }, () => {
    secure(sock, sock.getEphemeralKeyInfo().name);
    sock.write(cfg.message);
  });
  sock.on("keylog", (line) => out({ event: "keylog", line: line.toString().trim() }));
  let got = "";
  sock.on("data", (d) => {
    got += d;
    if (got.length >= cfg.message.length) { out({ event: "echo", same: got === cfg.message }); sock.end(); }
  });
  sock.on("error", (e) => { out({ event: "error", message: e.message }); process.exitCode = 1; });
}
`;

export interface NodeEvent {
  event: "listening" | "secure" | "keylog" | "echo" | "error";
  port?: number;
  group?: string | null;
  cipher?: string;
  exporter?: string;
  line?: string;
  same?: boolean;
  message?: string;
}

/** Node 26 running NODE_PEER, its JSON lines collected as they come. */
export class NodePeer {
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<void>;
  readonly events: NodeEvent[] = [];
  stderr = "";

  /**
   * `config`: role "server" (with key and cert PEM) or "client" (with port, cert PEM as the trusted CA and
   * message); groups (Node's ecdhCurve, or null for its defaults); label (the exporter's).
   */
  constructor(config: Record<string, unknown>) {
    this.#child = new Deno.Command(requirePeer("node26"), {
      args: ["-e", NODE_PEER, JSON.stringify(config)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = async () => {
      let buffer = "";
      for await (const text of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += text;
        for (let nl; (nl = buffer.indexOf("\n")) >= 0;) {
          this.events.push(JSON.parse(buffer.slice(0, nl)));
          buffer = buffer.slice(nl + 1);
        }
      }
    };
    const errors = async () => {
      for await (const text of this.#child.stderr.pipeThrough(new TextDecoderStream())) this.stderr += text;
    };
    this.#done = Promise.all([lines(), errors(), this.#child.status]).then(() => {});
  }

  /** The first event named `name`; throws with what Node said if it exits or errs first. */
  async waitFor(name: NodeEvent["event"]): Promise<NodeEvent> {
    const until = Date.now() + STEP_MS;
    for (;;) {
      const found = this.events.find((e) => e.event === name);
      if (found) return found;
      const error = this.events.find((e) => e.event === "error");
      if (error || Date.now() > until) {
        throw new Error(`node: no ${name}: ${error?.message ?? "timed out"}\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  keyLog(): string[] {
    return this.events.filter((e) => e.event === "keylog").map((e) => e.line!);
  }

  /** Waits for Node to exit; kills it by pid after `ms`. */
  async stop(ms = STEP_MS): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }, ms);
    try {
      await this.#done;
      return await this.#child.status;
    } finally {
      clearTimeout(timer);
    }
  }
}
