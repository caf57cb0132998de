// The permissions the relay needs before it starts (bug B7): read and write its data folder, and listen on
// its address. In a terminal each missing one is requested through Deno's own prompt, after one line that
// says why; without a terminal (or if one is refused) one sentence says exactly which flags to add.

/** One permission the relay needs: what to ask Deno for, the flag that grants it, and why (short, long). */
export interface Needed {
  descriptor: Deno.PermissionDescriptor;
  flag: string;
  why: string;
  because: string;
}

/** What the relay needs for its data folder `dataDir` and its address. */
export function relayPermissions(dataDir: string, host: string, port: number): Needed[] {
  const address = host.includes(":") ? `[${host}]` : host;
  return [
    {
      descriptor: { name: "read", path: dataDir },
      flag: `--allow-read=${dataDir}`,
      why: `read its data folder ${dataDir}`,
      because: "where its key, certificate and store are",
    },
    {
      descriptor: { name: "write", path: dataDir },
      flag: `--allow-write=${dataDir}`,
      why: `write its data folder ${dataDir}`,
      because: "to create its key and certificate the first time, and to keep its store",
    },
    {
      descriptor: { name: "net", host: `${address}:${port}` },
      flag: `--allow-net=${port === 0 ? address : `${address}:${port}`}`,
      why: port === 0 ? `listen on ${address}` : `listen on ${address}:${port}`,
      because: "where clients connect",
    },
  ];
}

/** How {@link obtainPermissions} talks to the user. */
export interface PermissionIo {
  /** True if Deno can prompt: standard input and standard error are terminals. */
  interactive: boolean;
  /** Prints one line to the user (standard error). */
  say: (line: string) => void;
}

/**
 * Makes sure every permission in `needed` is granted: those already granted are left alone; in a terminal
 * each other one is requested through Deno's prompt after a line saying why. Returns those still missing
 * (all of the ungranted ones without a terminal).
 */
export async function obtainPermissions(needed: Needed[], io: PermissionIo): Promise<Needed[]> {
  const missing: Needed[] = [];
  for (const n of needed) {
    if ((await Deno.permissions.query(n.descriptor)).state === "granted") continue;
    if (io.interactive) {
      io.say(`sotto relay: Deno will now ask whether the relay may ${n.why}, ${n.because}.`);
      if ((await Deno.permissions.request(n.descriptor)).state === "granted") continue;
    }
    missing.push(n);
  }
  return missing;
}

/** The one sentence that tells a user without a terminal what to add (empty `missing`: ""). */
export function missingSentence(missing: Needed[]): string {
  if (missing.length === 0) return "";
  const whys = missing.map((n) => n.why);
  const needs = whys.length === 1 ? whys[0] : `${whys.slice(0, -1).join(", ")} and ${whys[whys.length - 1]}`;
  return `sotto relay: run it again with ${missing.map((n) => n.flag).join(" ")} added to "deno run": ` +
    `it needs to ${needs}.`;
}
