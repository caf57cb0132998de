// Writes vectors/protocol_kat.json from the scripted conversation in _kat.ts (run by hand:
// `deno run --allow-write=vectors tests/protocol/make_kat.ts`). kat_test.ts checks the file.
import { makeKat } from "./_kat.ts";

const path = new URL("../../vectors/protocol_kat.json", import.meta.url);
Deno.writeTextFileSync(path, JSON.stringify(makeKat(), null, 1) + "\n");
console.log(`wrote ${path.pathname}`);
