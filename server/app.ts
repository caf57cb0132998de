// The relay application: loads (or creates) the TLS key and certificate, opens the store, starts the
// TLS listener with the relay as its handler, and shuts all of it down cleanly — connections told, the
// listener closed, the store closed — on `close`, Ctrl-C, SIGTERM, or `q` + Enter on a terminal.

import { join } from "node:path";
import { p256 } from "../crypto/p256.ts";
import { p384 } from "../crypto/p384.ts";
import { p521 } from "../crypto/p521.ts";
import { Admission, type AdmissionLimits, DEFAULT_ADMISSION } from "./admission.ts";
import { loadOrCreateServerIdentity } from "./keys.ts";
import { type OperatorLog, StatsReporter } from "./oplog.ts";
import { DEFAULT_LIMITS, Relay, type RelayLimits, type RelayOptions } from "./relay.ts";
import { RelayStore } from "./store.ts";
import { TlsListener } from "./tls_listener.ts";
import { keyLogFromEnv } from "../io/keylog.ts";

/** The store's file in the data folder. */
export const STORE_FILE = "relay.kv";

/**
 * Builds 8-bit base-point tables for the three curves (about 150 ms and 5 MB, once): every TLS handshake
 * makes an ephemeral key and a P-521 signature, and every login verifies a signature, each a walk over the
 * table, and the wider window takes a third of the additions out of it (docs/performance.md).
 */
export function prepareServerCurves(): void {
  for (const curve of [p521, p384, p256]) curve.precomputeBase(8);
}

/** What {@link startApp} needs. */
export interface AppOptions {
  /** Address to listen on. */
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** The data folder: key, certificate and store. */
  dataDir: string;
  /** Replace the key and certificate (a new pin). */
  refreshKeys?: boolean;
  /** The relay's and admission's limits (the defaults: DEFAULT_LIMITS, DEFAULT_ADMISSION). */
  limits?: Partial<AppLimits>;
  /** Wall clock (ms since the epoch); tests move it to exercise expiry. */
  now?: () => number;
  /** Failures of the relay itself (no IDs or addresses); default: the operator log, else standard error. */
  log?: (message: string) => void;
  /**
   * The operator's log (server/oplog.ts): start, a line of counts every `statsIntervalMs`, shutdown.
   * None if omitted.
   */
  operatorLog?: OperatorLog;
  /** Milliseconds between the operator log's counts (default a minute). */
  statsIntervalMs?: number;
  /** Test hook: sees every frame of a logged-in client before it is handled (see RelayOptions). */
  onFrame?: RelayOptions["onFrame"];
}

/** Every limit of a running relay: the relay's, admission's, and the TLS handshake's deadline. */
export interface AppLimits extends RelayLimits, AdmissionLimits {
  /** Milliseconds from accept to the end of the TLS handshake. */
  handshakeTimeoutMs: number;
}

/** The defaults of every limit. */
export const DEFAULT_APP_LIMITS: Readonly<AppLimits> = {
  ...DEFAULT_LIMITS,
  ...DEFAULT_ADMISSION,
  handshakeTimeoutMs: 10_000,
};

/** A running relay. */
export interface App {
  readonly addr: Deno.NetAddr;
  /** The SPKI pin clients check. */
  readonly pin: string;
  readonly relay: Relay;
  readonly admission: Admission;
  /** Shuts everything down (`reason` goes to the operator log); idempotent, resolves when done. */
  close(reason?: string): Promise<void>;
}

/** Starts the relay; resolves once it listens. */
export async function startApp(options: AppOptions): Promise<App> {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  const { host, port, dataDir } = options;
  if (typeof host !== "string" || host === "") throw new TypeError("host must be a non-empty string");
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in [0, 65535], got ${port}`);
  }
  const oplog = options.operatorLog;
  const log = options.log ??
    (oplog ? (m: string) => oplog.error(m) : (m: string) => console.error(`sotto relay: ${m}`));
  prepareServerCurves();
  const identity = await loadOrCreateServerIdentity({ dataDir, host, refresh: options.refreshKeys ?? false });
  const store = await RelayStore.open(join(dataDir, STORE_FILE));
  let relay: Relay | undefined;
  let listener: TlsListener;
  let admission: Admission;
  /** Handshakes that failed or timed out (the listener's errors: counted, never logged with addresses). */
  let tlsFailures = 0;
  try {
    const all = { ...DEFAULT_APP_LIMITS, ...options.limits };
    const { handshakeTimeoutMs, ...limits } = all;
    relay = new Relay({ store, limits, now: options.now, log, onFrame: options.onFrame });
    admission = new Admission(limits);
    listener = new TlsListener({
      hostname: host,
      port,
      tls: {
        certificateChain: [identity.certificateDer],
        secretKey: identity.secretKey,
        keyLog: keyLogFromEnv(), // SSLKEYLOGFILE, for Wireshark and tests; nothing when unset
      },
      handler: relay.handle,
      handshakeTimeout: handshakeTimeoutMs,
      admission,
      onError: () => void tlsFailures++,
    });
  } catch (e) {
    await relay?.shutdown();
    store.close();
    throw e;
  }
  let closing: Promise<void> | null = null;
  const running = relay, admitted = admission!, listening = listener;
  const reporter = oplog === undefined ? null : new StatsReporter(oplog, () => {
    const r = running.stats, a = admitted.stats;
    return {
      now: { open: listening.connections, online: running.online, store: running.storeUsage },
      totals: {
        connections: r.connections,
        logins: r.logins,
        registrations: r.registrations,
        queued: r.queued,
        delivered: r.delivered,
        withdrawn: r.withdrawn,
        expired: r.expired,
      },
      refused: {
        ...Object.fromEntries(r.refused),
        "admission.rate": a.refusedRate,
        "admission.source": a.refusedSource,
        "admission.evicted": a.evicted,
        "tls.failed": tlsFailures,
      },
    };
  }, options.statsIntervalMs);
  oplog?.event("start", { store: running.storeUsage });
  return {
    addr: listener.addr,
    pin: identity.pin,
    relay: running,
    admission: admitted,
    close(reason?: string) {
      closing ??= (async () => {
        oplog?.event("stopping", reason ? { reason } : {});
        await running.shutdown();
        await listening.close();
        reporter?.stop();
        store.close();
        oplog?.event("stopped");
      })();
      return closing;
    },
  };
}

/**
 * Resolves once the user asks the relay to stop: SIGINT (Ctrl-C), SIGTERM, or a line "q" on standard
 * input when it is a terminal. Removes its signal handlers before resolving.
 */
export function waitForStop(): Promise<string> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const h = () => finish(signal);
      Deno.addSignalListener(signal, h);
      return h;
    });
    let done = false;
    function finish(why: string) {
      if (done) return;
      done = true;
      signals.forEach((signal, i) => Deno.removeSignalListener(signal, handlers[i]));
      resolve(why);
    }
    if (Deno.stdin.isTerminal()) {
      void (async () => {
        const decoder = new TextDecoder();
        let line = "";
        for await (const chunk of Deno.stdin.readable) {
          line += decoder.decode(chunk, { stream: true });
          const lines = line.split("\n");
          line = lines.pop()!;
          if (lines.some((l) => l.trim().toLowerCase() === "q")) return finish("q");
          if (done) return;
        }
      })();
    }
  });
}
