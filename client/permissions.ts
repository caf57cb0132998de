// Deno's permissions for the client, asked for up front so `deno run client.ts HOST` works as written. In a
// terminal, each permission it lacks is requested through Deno's own prompt, after one line saying why;
// without a terminal (scripts) nothing can be asked, so one sentence lists the exact flags to add, paths
// included. The permissions: HOME (to find ~/.sotto, unless --data is given), reading and writing the data
// folder, the relay's host and port, statfs (the free-space check before a file is accepted), and, without
// a terminal, SOTTO_PASSPHRASE or the --passphrase-file.

import { join } from "node:path";

/** One permission the client needs, and why. */
export interface Permission {
  name: "env" | "read" | "write" | "sys" | "net";
  /** The variable, path, sys kind or host:port. */
  value: string;
  /** One line for the user, said before Deno's prompt. */
  why: string;
}

/** How permissions are looked at and asked for (Deno.permissions in the app, a fake in tests). */
export interface PermissionHost {
  /** True when Deno can prompt (stdin and stderr are terminals). */
  readonly terminal: boolean;
  query(p: Permission): Deno.PermissionState;
  /** Deno's prompt; the state after it. */
  request(p: Permission): Deno.PermissionState;
  /** Writes one line to the user (stderr). */
  say(line: string): void;
}

function descriptor(p: Permission): Deno.PermissionDescriptor {
  switch (p.name) {
    case "env":
      return { name: "env", variable: p.value };
    case "read":
    case "write":
      return { name: p.name, path: p.value };
    case "sys":
      return { name: "sys", kind: p.value as "statfs" };
    case "net":
      return { name: "net", host: p.value };
  }
}

/** The permissions of Deno itself. */
export function denoPermissions(): PermissionHost {
  return {
    terminal: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
    query: (p) => Deno.permissions.querySync(descriptor(p)).state,
    request: (p) => Deno.permissions.requestSync(descriptor(p)).state,
    say: (line) => console.error(line),
  };
}

/** `host:port` as Deno's --allow-net takes it (an IPv6 address in brackets). */
export function netTarget(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The --allow-* flags that grant `missing`, one per kind, in a fixed order. */
export function flagsFor(missing: readonly Permission[]): string {
  const order: Permission["name"][] = ["env", "read", "write", "sys", "net"];
  return order.flatMap((name) => {
    const values = [...new Set(missing.filter((p) => p.name === name).map((p) => p.value))];
    return values.length === 0 ? [] : [`--allow-${name}=${values.join(",")}`];
  }).join(" ");
}

/**
 * Makes sure of each permission: granted already, or (in a terminal) granted at Deno's prompt after the
 * line saying why. Returns those still missing (all that are not granted, without a terminal).
 */
export function obtain(needed: readonly Permission[], host: PermissionHost): Permission[] {
  const missing: Permission[] = [];
  for (const p of needed) {
    let state = host.query(p);
    if (state === "prompt" && host.terminal) {
      host.say(p.why);
      state = host.request(p);
    }
    if (state !== "granted") missing.push(p);
  }
  return missing;
}

/** The one sentence for permissions that are missing. */
export function missingSentence(missing: readonly Permission[], note = ""): string {
  return `Deno's permissions stop the client: run it again with ${flagsFor(missing)}${note}.`;
}

/** What the client needs for a run with these settings. */
export interface Needs {
  host: string;
  port: number;
  /** --data, or undefined for ~/.sotto. */
  data?: string;
  passphraseFile?: string;
  /** --probe: only the network. */
  probe?: boolean;
  /** --web: the port the web UI listens on, on 127.0.0.1 (0: a free one). */
  web?: number;
}

/**
 * The data folder, and the permissions a run needs: HOME first (asked for alone, since the folder's path
 * depends on it), then the rest. Returns the data folder, or the sentence to stop with.
 */
export function preparePermissions(
  o: Needs,
  host: PermissionHost,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): { dataDir: string } | { error: string } {
  const net: Permission = {
    name: "net",
    value: netTarget(o.host, o.port),
    why: `sotto connects to the relay at ${netTarget(o.host, o.port)}.`,
  };
  if (o.probe) {
    const missing = obtain([net], host);
    return missing.length === 0 ? { dataDir: "" } : { error: missingSentence(missing) };
  }
  const homeVar = Deno.build.os === "windows" ? "USERPROFILE" : "HOME";
  let dataDir = o.data;
  const missing: Permission[] = [];
  if (dataDir === undefined) {
    const home: Permission = {
      name: "env",
      value: homeVar,
      why: `sotto reads ${homeVar} to find its data folder, ~/.sotto (give --data DIR to choose another).`,
    };
    missing.push(...obtain([home], host));
    const value = missing.length === 0 ? env(homeVar) : undefined;
    if (missing.length === 0 && !value) return { error: `Give --data DIR: ${homeVar} is not set.` };
    // Without HOME the folder is named as the shell will expand it.
    dataDir = value ? join(value, ".sotto") : `$${homeVar}/.sotto`;
  }
  const needed: Permission[] = [
    {
      name: "read",
      value: dataDir,
      why: `sotto keeps your encrypted keystore and the files you receive in ${dataDir}` +
        " (answer A to let it also read the files you send with /file).",
    },
    { name: "write", value: dataDir, why: `sotto writes your keystore and received files in ${dataDir}.` },
    {
      name: "sys",
      value: "statfs",
      why: "sotto checks the free space of that folder before it accepts a file.",
    },
    net,
  ];
  if (o.web !== undefined) {
    const at = o.web === 0 ? "127.0.0.1" : `127.0.0.1:${o.web}`;
    needed.push({ name: "net", value: at, why: `sotto serves its web UI on ${at}, for this machine only.` });
  }
  if (o.passphraseFile !== undefined) {
    needed.push({
      name: "read",
      value: o.passphraseFile,
      why: `sotto reads your passphrase from ${o.passphraseFile}.`,
    });
  } else if (!host.terminal && o.web === undefined) {
    // (With --web the page asks for the passphrase.)
    needed.push({
      name: "env",
      value: "SOTTO_PASSPHRASE",
      why: "sotto reads your passphrase from SOTTO_PASSPHRASE (there is no terminal to ask on).",
    });
  }
  // Without HOME nothing else can be checked against the right path: list everything that is not granted.
  missing.push(
    ...(missing.length > 0
      ? needed.filter((p) => p.value.startsWith("$") || host.query(p) !== "granted")
      : obtain(needed, host)),
  );
  if (missing.length === 0) return { dataDir };
  const note = dataDir.startsWith("$") ? ` (or give --data DIR, with DIR in place of ${dataDir})` : "";
  return { error: missingSentence(missing, note) };
}
