// The client's entry point: parses the flags and starts the client (client/main.ts). Nothing else.

import { parseArgs } from "node:util";
import { main } from "./client/main.ts";
import { probe } from "./client/probe.ts";
import { parseSize } from "./client/files.ts";
import { EXIT_PERMISSIONS, EXIT_USAGE } from "./client/exit.ts";
import { type Invitation, InvitationError, looksLikeInvitation, parseInvitation } from "./protocol/invite.ts";
import { denoPermissions, preparePermissions } from "./client/permissions.ts";
import type { CurveName } from "./protocol/suite.ts";

const USAGE =
  `usage: client.ts [-h] [-p PORT] [-c CURVE] [--pin PIN] [--data DIR] [--json] [--passphrase-file F]
                 [--accept-files SIZE] [--files-quota SIZE] [--web[=PORT]] [--open] [--probe]
                 [--send ID|NICK [--timeout S]] HOST|INVITATION [TEXT…]

  HOST                 the relay's host name or IP address
  INVITATION           an invitation someone gave you (sotto://…, quoted): connects to its relay, trusts
                       the relay's pin it carries (a different pin stored for that relay is refused), and
                       asks for a chat with its ID
  -p, --port PORT      the relay's port (default 6174)
  -c, --curve CURVE    P-521 (default), P-384 or P-256: for the chats you ask for (and the TLS groups
                       after the post-quantum hybrids, which come first)
  --pin PIN            the relay's key pin (it prints it when it starts); it is then stored for this host
                       and port; without it, the first pin seen is trusted for this host and port and
                       every later one must match
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
  --send ID|NICK       connect, send TEXT (the words after HOST) to that open chat, wait until the relay
                       has stored it and exit: 0 stored, 6 no open chat, 7 refused, 8 not confirmed in
                       time (it stays queued), 4/5 pin or login (docs/client.md, "Exit codes")
  --timeout S          with --send: seconds to wait for the relay's confirmation (default 30)
  -h, --help           this help`;

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  port: { type: "string", short: "p" },
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
  send: { type: "string" },
  timeout: { type: "string" },
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
const sending = values.send !== undefined;
if (positionals.length === 0) usage("the relay's host (or an invitation) is missing");
if (!sending && positionals.length > 1) usage("give one host (or one invitation)");
if (sending && positionals.length < 2) usage("--send needs the text to send after the host");
if (!sending && values.timeout !== undefined) usage("--timeout goes with --send");
if (sending && (values.web || values.probe)) usage("--send cannot go with --web or --probe");

// HOST, or an invitation in its place: the relay, its pin and someone to ask for.
let invitation: Invitation | undefined;
if (looksLikeInvitation(positionals[0])) {
  try {
    invitation = parseInvitation(positionals[0]);
  } catch (e) {
    if (!(e instanceof InvitationError)) throw e;
    console.error(`client.ts: ${e.message}`);
    Deno.exit(EXIT_USAGE);
  }
}
const host = invitation?.host ?? positionals[0];
const portText = values.port ?? String(invitation?.port ?? 6174);
const port = Number(portText);
if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
  usage(`port must be 1 to 65535, got ${portText}`);
}
if (invitation && port !== invitation.port) {
  usage(`the invitation's relay listens on port ${invitation.port}`);
}
if (invitation && values.pin !== undefined && values.pin !== invitation.pin) {
  usage("--pin differs from the pin in the invitation; give one of them");
}
const pin = values.pin ?? invitation?.pin;
let timeoutSeconds = 30;
if (values.timeout !== undefined) {
  timeoutSeconds = Number(values.timeout);
  if (!/^\d+$/.test(values.timeout) || timeoutSeconds < 1 || timeoutSeconds > 3600) {
    usage(`--timeout must be 1 to 3600 seconds, got ${values.timeout}`);
  }
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
  host,
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
  const { line, code } = await probe({ host, port, curve, pin });
  console.log(line);
  Deno.exit(code);
}

Deno.exit(
  await main({
    host,
    port,
    curve,
    pin,
    pinFrom: values.pin !== undefined ? "flag" : "invitation",
    askFor: sending ? undefined : invitation?.id,
    send: sending
      ? { target: values.send!, text: positionals.slice(1).join(" "), timeoutSeconds }
      : undefined,
    dataDir: prepared.dataDir,
    json: values.json,
    passphraseFile: values["passphrase-file"],
    acceptFiles,
    filesQuota,
    web: values.web ? webAt : undefined,
    open: values.open,
  }),
);
