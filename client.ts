// The client's entry point: parses the flags and starts the client. The client itself is not built yet
// (see README.md, "Status"); until then this only checks its flags.

import { parseArgs } from "node:util";

const USAGE = "usage: client.ts [-h] [-p PORT] [-c CURVE] [--pin PIN] [--data DIR] host";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    help: { type: "boolean", short: "h" },
    port: { type: "string", short: "p", default: "6174" },
    curve: { type: "string", short: "c", default: "P-521" },
    pin: { type: "string" },
    data: { type: "string" },
  },
  allowPositionals: true,
  strict: true,
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
console.error("sotto client: the client is not built yet (see README.md, Status).");
Deno.exit(2);
