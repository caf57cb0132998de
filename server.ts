// The relay's entry point: parses the flags, makes sure it has the permissions it needs (asking in a
// terminal, naming the flags to add otherwise), and runs the relay until Ctrl-C, SIGTERM or `q` + Enter.
// Prints one line on standard output when ready (the address and the key pin clients check); the
// operator's log (server/oplog.ts: start, counts each minute, shutdown) goes to standard error, as text or
// JSON, unless -q.

import { parseArgs } from "node:util";
import { type AppLimits, DEFAULT_APP_LIMITS, startApp, waitForStop } from "./server/app.ts";
import { type LogFormat, OperatorLog } from "./server/oplog.ts";
import { missingSentence, obtainPermissions, relayPermissions } from "./server/permissions.ts";

type Unit = "count" | "rate" | "seconds" | "days" | "bytes";

/** The limits that are flags: name, the limit it sets, its unit, and what it means. */
const LIMIT_FLAGS: [string, keyof AppLimits, Unit, string][] = [
  ["max-clients", "maxClients", "count", "logged-in connections at once"],
  [
    "max-unauthenticated",
    "maxUnauthenticated",
    "count",
    "connections not yet logged in (the oldest goes first)",
  ],
  ["per-source-connections", "perSourceConnections", "count", "connections from one address"],
  ["per-source-unauthenticated", "perSourceUnauthenticated", "count", "of those, not yet logged in"],
  ["per-source-rate", "perSourceRate", "rate", "new connections per second from one address"],
  ["per-source-burst", "perSourceBurst", "count", "… of which at once"],
  ["handshake-rate", "handshakesPerSecond", "rate", "TLS handshakes per second, all addresses"],
  ["handshake-burst", "handshakeBurst", "count", "… of which at once"],
  ["hello-timeout", "helloTimeoutMs", "seconds", "seconds from connect to the ClientHello"],
  ["handshake-timeout", "handshakeTimeoutMs", "seconds", "seconds from connect to the end of TLS"],
  ["login-timeout", "loginTimeoutMs", "seconds", "seconds from connect to Login"],
  ["pre-login-records", "preLoginRecords", "count", "TLS records a connection may send before Login"],
  ["idle-timeout", "idleTimeoutMs", "seconds", "seconds of silence before a connection is dropped"],
  ["frame-rate", "framesPerSecond", "rate", "cost units per second per connection (a Ping is 1)"],
  ["frame-burst", "frameBurst", "count", "… of which at once"],
  ["prekey-uploads-per-minute", "prekeyUploadsPerMinute", "count", "prekey uploads per user"],
  ["requests-per-minute", "costlyFramesPerMinute", "count", "chat requests, blocks, closes per user"],
  ["registrations-per-hour", "registrationsPerHour", "rate", "new identities per hour, all addresses"],
  ["registration-burst", "registrationBurst", "count", "… of which at once"],
  [
    "registrations-per-source",
    "registrationsPerSourcePerHour",
    "rate",
    "new identities per hour, one address",
  ],
  ["registration-burst-per-source", "registrationBurstPerSource", "count", "… of which at once"],
  ["store-quota", "storeQuotaBytes", "bytes", "store size past which new messages and IDs are refused"],
  ["sender-quota", "senderQuotaBytes", "bytes", "messages one sender may have queued in all"],
  ["expire-days", "identityTtlMs", "days", "days without a login before an ID and its data go"],
];

const SCALE: Record<Unit, number> = { count: 1, rate: 1, seconds: 1000, days: 86_400_000, bytes: 1 };

function shown(key: keyof AppLimits, unit: Unit): string {
  const v = DEFAULT_APP_LIMITS[key] / SCALE[unit];
  if (unit !== "bytes") return String(v);
  for (const [suffix, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const) {
    if (v % size === 0) return `${v / size}${suffix}`;
  }
  return String(v);
}

const USAGE =
  `usage: server.ts [-h] [-host HOST] [-port PORT] [-refreshkeys] [--data DIR] [-q] [--log-format F] \
[--LIMIT VALUE …]

  -h, --help                 show this help and exit
  -host, --host HOST         address to listen on (default 127.0.0.1)
  -port, --port PORT         port to listen on (default 6174)
  -refreshkeys, --refreshkeys
                             replace the server's key and certificate (clients will see a new pin)
  --data DIR                 data folder: key, certificate and store (default ./data)
  -q, --quiet                no log on standard error (start, counts each minute, shutdown), failures only
  --log-format text|json     the log's lines: text (time event key=value …, the default) or JSON objects

limits (docs/security.md says why each exists; sizes take KiB, MiB, GiB, TiB):
${
    LIMIT_FLAGS.map(([flag, key, unit, help]) =>
      `  --${flag} ${unit === "bytes" ? "SIZE" : "N"}`.padEnd(45) + `${help} (${shown(key, unit)})`
    ).join("\n")
  }`;

/** Milliseconds shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;

function fail(message: string): never {
  console.error(`sotto relay: ${message}`);
  console.error(USAGE.split("\n")[0]);
  Deno.exit(2);
}

/** A limit's value from its flag's text, in the limit's own unit (ms, bytes, …). */
function parseLimit(flag: string, unit: Unit, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\s*(KiB|MiB|GiB|TiB))?$/i.exec(text.trim());
  const suffix = m?.[2]?.toLowerCase();
  if (!m || (suffix && unit !== "bytes")) {
    fail(`--${flag} must be a positive number${unit === "bytes" ? " of bytes (KiB, MiB, GiB, TiB)" : ""}`);
  }
  const factor = suffix ? 1024 ** (["kib", "mib", "gib", "tib"].indexOf(suffix) + 1) : 1;
  const value = Number(m[1]) * factor * SCALE[unit];
  const whole = unit === "count" || unit === "bytes";
  if (!(value > 0) || !Number.isFinite(value) || (whole && !Number.isSafeInteger(value))) {
    fail(`--${flag} must be a positive ${whole ? "whole " : ""}number, got ${JSON.stringify(text)}`);
  }
  return value;
}

let values;
try {
  ({ values } = parseArgs({
    // The original's single-dash long flags (-host, -port, -refreshkeys) are accepted as they were.
    args: Deno.args.map((a) => (/^-(host|port|refreshkeys)(=|$)/.test(a) ? `-${a}` : a)),
    options: {
      help: { type: "boolean", short: "h" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "6174" },
      refreshkeys: { type: "boolean", default: false },
      data: { type: "string", default: "./data" },
      quiet: { type: "boolean", short: "q", default: false },
      "log-format": { type: "string", default: "text" },
      ...Object.fromEntries(LIMIT_FLAGS.map(([flag]) => [flag, { type: "string" as const }])),
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  fail((e as Error).message);
}
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const host = values.host as string, data = values.data as string, portText = values.port as string;
if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
  fail(`the port must be a number from 0 to 65535, got ${JSON.stringify(portText)}`);
}
const port = Number(portText);
const format = values["log-format"] as string;
if (format !== "text" && format !== "json") {
  fail(`--log-format must be text or json, got ${JSON.stringify(format)}`);
}
const operatorLog = values.quiet
  ? undefined
  : new OperatorLog({ write: (line) => console.error(line), format: format as LogFormat });
const limits: Partial<AppLimits> = {};
for (const [flag, key, unit] of LIMIT_FLAGS) {
  const text = (values as Record<string, unknown>)[flag];
  if (typeof text === "string") limits[key] = parseLimit(flag, unit, text);
}

const missing = await obtainPermissions(relayPermissions(data, host, port), {
  interactive: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
  say: (line) => console.error(line),
});
if (missing.length > 0) {
  console.error(missingSentence(missing));
  Deno.exit(1);
}

let app;
try {
  app = await startApp({
    host,
    port,
    dataDir: data,
    refreshKeys: values.refreshkeys as boolean,
    limits,
    operatorLog,
  });
} catch (e) {
  console.error(`sotto relay: cannot start: ${(e as Error).message}`);
  Deno.exit(1);
}
const stop = waitForStop(); // before the ready line, so that a signal right after it is handled
const { hostname, port: bound } = app.addr;
const shownAddress = hostname.includes(":") ? `[${hostname}]:${bound}` : `${hostname}:${bound}`;
console.log(`sotto relay listening on ${shownAddress}, pin ${app.pin}`);
const why = await stop;
// Everything acknowledged is already committed; the deadline only guards against a peer that stalls
// the closing of its connection.
const deadline = new Promise<"late">((resolve) => setTimeout(() => resolve("late"), SHUTDOWN_DEADLINE_MS));
if (await Promise.race([app.close(why), deadline]) === "late") operatorLog?.event("stopped", { forced: 1 });
Deno.exit(0);
