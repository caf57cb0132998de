// The client's entry point: parses the flags and starts the client (client/main.ts). Nothing else.

import { parseArgs } from "node:util";
import { main } from "./client/main.ts";
import { probe } from "./client/probe.ts";
import { parseSize } from "./client/files.ts";
import { EXIT_PERMISSIONS, EXIT_USAGE } from "./client/exit.ts";
import { denoPermissions, preparePermissions } from "./client/permissions.ts";
import type { CurveName } from "./protocol/suite.ts";

const USAGE =
  `usage: client.ts [-h] [-p PORT] [-c CURVE] [--pin PIN] [--data DIR] [--json] [--passphrase-file F]
                 [--accept-files SIZE] [--files-quota SIZE] [--web[=PORT]] [--open] [--probe] host

  host                 the relay's host name or IP address
  -p, --port PORT      the relay's port (default 6174)
  -c, --curve CURVE    P-521 (default), P-384 or P-256: for the chats you ask for (and the TLS groups
                       after the post-quantum hybrids, which come first)
  --pin PIN            the relay's key pin (it prints it when it starts); without it, the first pin seen is
                       trusted for this host and port and every later one must match
  --data DIR           the folder of your keystore and received files (default ~/.sotto)
  --json               print every event as one JSON object per line (for scripts)
  --passphrase-file F  read the keystore passphrase from F (or set SOTTO_PASSPHRASE)
  --accept-files SIZE  accept files of at most SIZE (e.g. 10M) without asking, within the quotas and the
                       free space (for scripts); larger ones wait for /accept or /decline
  --files-quota SIZE   most the files folder may hold, counting files being received (default 2G)
  --web[=PORT]         also serve the web UI on 127.0.0.1 (default: a free port) and print its address,
                       which carries a random key; the terminal stays in line mode beside it
  --open               with --web: open the web UI in the default browser (needs --allow-run=xdg-open)
  --probe              only do a TLS handshake with the relay and print one line: the suite, the group
                       and the relay's pin (exit 0), or the reason it failed (exit 1); stores nothing
  -h, --help           this help`;

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  port: { type: "string", short: "p", default: "6174" },
  curve: { type: "string", short: "c", default: "P-521" },
  pin: { type: "string" },
  data: { type: "string" },
  json: { type: "boolean", default: false },
  "passphrase-file": { type: "string" },
  "accept-files": { type: "string" },
  "files-quota": { type: "string" },
  probe: { type: "boolean", default: false },
  web: { type: "boolean", default: false },
  open: { type: "boolean", default: false },
} as const;

function usage(problem: string): never {
  console.error(`client.ts: ${problem}\n${USAGE}`);
  Deno.exit(EXIT_USAGE);
}

/**
 * A pin may begin with "-", which parseArgs would take for an option: `--pin -x…` is joined into
 * `--pin=-x…` when the value has a pin's shape (43 base64url characters).
 */
function joinPinValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--pin" && /^[A-Za-z0-9_-]{43}$/.test(args[i + 1] ?? "")) out.push(`--pin=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

/** `--web=PORT` is taken out before parsing (`--web` alone is a flag): its port, or undefined. */
function webPort(args: string[]): { args: string[]; port?: string } {
  let port: string | undefined;
  const rest = args.filter((a) => {
    const m = /^--web=(.*)$/.exec(a);
    if (m) port = m[1];
    return !m;
  });
  return { args: port === undefined ? rest : [...rest, "--web"], port };
}

const web = webPort(Deno.args);
let parsed;
try {
  parsed = parseArgs({
    args: joinPinValues(web.args),
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
} catch (e) {
  usage((e as Error).message);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (positionals.length !== 1) {
  usage(positionals.length === 0 ? "the relay's host is missing" : "give one host");
}
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port < 1 || port > 65535) {
  usage(`port must be 1 to 65535, got ${values.port}`);
}
const curve = ({
  "P-521": "P-521",
  "P521": "P-521",
  "P-384": "P-384",
  "P384": "P-384",
  "P-256": "P-256",
  "P256": "P-256",
} as Record<string, CurveName>)[values.curve.toUpperCase()];
if (curve === undefined) usage(`curve must be P-521, P-384 or P-256, got ${values.curve}`);
const size = (flag: "accept-files" | "files-quota"): number | undefined => {
  const text = values[flag];
  if (text === undefined) return undefined;
  const bytes = parseSize(text);
  if (bytes === null) usage(`--${flag} takes a size such as 500K, 10M or 1G, got ${text}`);
  return bytes;
};
const acceptFiles = size("accept-files"), filesQuota = size("files-quota");

const webAt = web.port === undefined ? 0 : Number(web.port);
if (web.port !== undefined && (!/^\d+$/.test(web.port) || webAt > 65535)) {
  usage(`--web port must be 0 to 65535, got ${web.port}`);
}
if (values.open && !values.web) usage("--open needs --web");

// Deno's permissions: asked for in a terminal (one line says why), else listed in one sentence.
const prepared = preparePermissions({
  host: positionals[0],
  port,
  data: values.data,
  passphraseFile: values["passphrase-file"],
  probe: values.probe,
  web: values.web ? webAt : undefined,
}, denoPermissions());
if ("error" in prepared) {
  console.error(`client.ts: ${prepared.error}`);
  Deno.exit(EXIT_PERMISSIONS);
}

if (values.probe) {
  const { line, code } = await probe({ host: positionals[0], port, curve, pin: values.pin });
  console.log(line);
  Deno.exit(code);
}

Deno.exit(
  await main({
    host: positionals[0],
    port,
    curve,
    pin: values.pin,
    dataDir: prepared.dataDir,
    json: values.json,
    passphraseFile: values["passphrase-file"],
    acceptFiles,
    filesQuota,
    web: values.web ? webAt : undefined,
    open: values.open,
  }),
);
