// `deno task demo`. Until the relay and the client exist, the demo is the crypto self-check: every
// primitive against the standards' known answers, printed line by line. Exits 1 if any check fails.

import { runSelfCheck } from "./selfcheck.ts";

console.log("sotto crypto self-check (pure TypeScript, no dependencies)\n");
const failed = runSelfCheck();
console.log(failed === 0 ? "\nall checks passed" : `\n${failed} check(s) FAILED`);
if (failed > 0) Deno.exit(1);
