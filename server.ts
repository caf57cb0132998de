// The relay's entry point: parses the flags and starts the server. The relay itself is not built yet
// (see README.md, "Status"); until then this only checks its flags.

import { parseArgs } from "node:util";

const USAGE = "usage: server.ts [-h] [-host HOST] [-port PORT] [-refreshkeys] [--data DIR]";

const { values } = parseArgs({
  args: Deno.args.map((a) => (/^-(host|port|refreshkeys)$/.test(a) ? `-${a}` : a)),
  options: {
    help: { type: "boolean", short: "h" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "6174" },
    refreshkeys: { type: "boolean", default: false },
    data: { type: "string", default: "./data" },
  },
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
console.error("sotto server: the relay is not built yet (see README.md, Status).");
Deno.exit(2);
