// The relay's entry point: parses the flags and runs the relay until Ctrl-C, SIGTERM or `q` + Enter.
// Prints one line when ready (the address and the key pin clients check), and nothing else.

import { parseArgs } from "node:util";
import { startApp, waitForStop } from "./server/app.ts";

const USAGE = `usage: server.ts [-h] [-host HOST] [-port PORT] [-refreshkeys] [--data DIR]

  -h, --help                 show this help and exit
  -host, --host HOST         address to listen on (default 127.0.0.1)
  -port, --port PORT         port to listen on (default 6174)
  -refreshkeys, --refreshkeys
                             replace the server's key and certificate (clients will see a new pin)
  --data DIR                 data folder: key, certificate and store (default ./data)`;

/** Milliseconds shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;

function fail(message: string): never {
  console.error(`sotto relay: ${message}`);
  console.error(USAGE.split("\n")[0]);
  Deno.exit(2);
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
if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
  fail(`the port must be a number from 0 to 65535, got ${JSON.stringify(values.port)}`);
}

let app;
try {
  app = await startApp({
    host: values.host,
    port: Number(values.port),
    dataDir: values.data,
    refreshKeys: values.refreshkeys,
  });
} catch (e) {
  console.error(`sotto relay: cannot start: ${(e as Error).message}`);
  Deno.exit(1);
}
const stop = waitForStop(); // before the ready line, so that a signal right after it is handled
const { hostname, port } = app.addr;
const shown = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
console.log(`sotto relay listening on ${shown}, pin ${app.pin}`);
await stop;
// Everything acknowledged is already committed; the deadline only guards against a peer that stalls
// the closing of its connection.
const deadline = new Promise((resolve) => setTimeout(resolve, SHUTDOWN_DEADLINE_MS));
await Promise.race([app.close(), deadline]);
Deno.exit(0);
