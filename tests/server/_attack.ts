// Starting the hostile peers of tests/server/_hostile.mjs (Node.js, from 127.0.0.2) and stopping them:
// shared by the attack tests and bench/relay_attacks.ts.

import type { TlsError } from "../../protocol/tls13/alert.ts";
import { TlsClient } from "../../protocol/tls13/client.ts";
import { requirePeer } from "../_peers.ts";

const SCRIPT = new URL("./_hostile.mjs", import.meta.url).pathname;

/** The counts a hostile peer reports when it ends. */
export interface HostileStats {
  attempts: number;
  established: number;
  closed: number;
  errors: number;
  answered: number;
  maxOpen: number;
}

/** A running hostile peer. */
export interface Hostile {
  /** What its ready line said ({ ready: true }, or { port } for a proxy). */
  ready: Record<string, unknown>;
  /** Ends it (closing its standard input) and returns its counts. */
  stop(): Promise<HostileStats>;
}

/** Starts `node _hostile.mjs MODE key=value…` and waits for its ready line. */
export async function startHostile(
  mode: "idle" | "hello" | "proxy",
  args: Record<string, string | number>,
): Promise<Hostile> {
  const node = requirePeer("node");
  const child = new Deno.Command(node, {
    args: [SCRIPT, mode, ...Object.entries({ local: "127.0.0.2", ...args }).map(([k, v]) => `${k}=${v}`)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const nextLine = async (): Promise<string> => {
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the hostile peer ended early: ${await errors}`);
      text += value;
    }
    const i = text.indexOf("\n");
    const line = text.slice(0, i);
    text = text.slice(i + 1);
    return line;
  };
  const ready = JSON.parse(await nextLine());
  let stopped: Promise<HostileStats> | null = null;
  return {
    ready,
    stop() {
      stopped ??= (async () => {
        await child.stdin.close().catch(() => {});
        const stats = JSON.parse(await nextLine()) as HostileStats;
        await lines.cancel().catch(() => {});
        await child.status;
        await errors;
        return stats;
      })();
      return stopped;
    },
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A TLS client driven by hand (the TlsClient state machine over a TCP connection), for attackers that
 * need what TlsConnection does not offer: many KeyUpdates in one write, frames split at will. It reads in
 * the background, feeding what arrives to the state machine; `ended` resolves with the error that ended
 * the connection (a TlsError carrying the relay's alert), or null at a plain close.
 */
export class RawTls {
  readonly engine: TlsClient;
  readonly tcp: Deno.Conn;
  /** Application data received (the relay's frames, unsplit). */
  readonly received: Uint8Array[] = [];
  readonly ended: Promise<TlsError | Error | null>;
  /** Set to drop what arrives unread (a flooder that must not choke on the answers it provokes). */
  discard = false;
  #done = false;

  private constructor(engine: TlsClient, tcp: Deno.Conn) {
    this.engine = engine;
    this.tcp = tcp;
    this.ended = this.#readLoop();
  }

  /** Connects to 127.0.0.1:`port` and completes the handshake (P-256 key exchange, as the tests do). */
  static async connect(port: number): Promise<RawTls> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    const engine = new TlsClient({ verifyPeer: () => {}, groups: [0x0017], keyShareGroups: [0x0017] });
    engine.start();
    await writeAll(tcp, engine.takeOutput());
    const buf = new Uint8Array(1 << 14);
    while (!engine.handshakeComplete) {
      const n = await tcp.read(buf);
      if (n === null) throw new Error("the relay closed the connection during the handshake");
      engine.receive(buf.subarray(0, n));
      await writeAll(tcp, engine.takeOutput());
    }
    return new RawTls(engine, tcp);
  }

  /** True once the connection has ended. */
  get done(): boolean {
    return this.#done;
  }

  /** Sends what the state machine has queued; false if the connection is gone. */
  async flush(): Promise<boolean> {
    try {
      await writeAll(this.tcp, this.engine.takeOutput());
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the TCP connection. */
  close(): void {
    try {
      this.tcp.close();
    } catch {
      // already closed
    }
  }

  async #readLoop(): Promise<TlsError | Error | null> {
    const buf = new Uint8Array(1 << 14);
    try {
      for (;;) {
        const n = await this.tcp.read(buf);
        if (n === null) return null;
        if (this.discard) continue;
        this.engine.receive(buf.subarray(0, n));
        for (let c = this.engine.read(); c; c = this.engine.read()) this.received.push(c);
        await writeAll(this.tcp, this.engine.takeOutput()).catch(() => {});
      }
    } catch (e) {
      return e as Error;
    } finally {
      this.#done = true;
      this.close();
    }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** `p`, or `fallback` if it has not settled within `ms` (the timer is cleared either way). */
export async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
