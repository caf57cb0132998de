// `deno task server` and `deno task client`: Deno's permission flags come before the script in `deno run`,
// and a task's arguments are appended after it, so a task cannot narrow its permissions to the folder or
// address given with --data, --host or --port. This launcher reads those few flags, computes the narrow
// permissions, and runs `deno run FLAGS server.ts|client.ts ARGS` with the terminal handed over as it
// is; it exits with that process's code. Everything else about the arguments is left to the scripts.
//
//   server: --allow-read=DIR --allow-write=DIR --allow-net=HOST:PORT (server/permissions.ts, the flags the
//           relay itself names), DIR from --data (./data), HOST:PORT from --host and --port
//   client: --allow-net --allow-read --allow-write=DIR --allow-env=[HOME,]SOTTO_PASSPHRASE,SSLKEYLOGFILE
//           --allow-sys=statfs, DIR from --data ($HOME/.sotto, and HOME only then), and with --open the
//           browser opener (--allow-run=xdg-open, or open on macOS)
//
// Signals: a terminal's Ctrl-C reaches the script directly (it is in the same process group), so SIGINT
// is not passed on (it would arrive twice); SIGTERM and SIGHUP sent to this process are.

import { fileURLToPath } from "node:url";
import { relayPermissions } from "./server/permissions.ts";

const ROOT = fileURLToPath(new URL(".", import.meta.url));

/** The value of the last `name` flag in `args` (`name V` or `name=V`), before any "--". */
function flag(args: readonly string[], names: readonly string[]): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") break;
    for (const name of names) {
      if (a === name && i + 1 < args.length) value = args[++i];
      else if (a.startsWith(`${name}=`)) value = a.slice(name.length + 1);
    }
  }
  return value;
}

/** What to run: the script's `deno run` arguments (permissions first), for the task's arguments. */
export function launchArgs(
  script: "server" | "client",
  args: readonly string[],
  env: { home?: string; os: typeof Deno.build.os },
): string[] {
  if (script === "server") {
    const data = flag(args, ["--data"]) ?? "./data";
    const host = flag(args, ["--host", "-host"]) ?? "127.0.0.1";
    const portText = flag(args, ["--port", "-port"]) ?? "6174";
    // A port that is not a number is left for the relay to refuse with its own sentence.
    const port = /^\d{1,5}$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : 6174;
    const flags = relayPermissions(data, host, port).map((n) => n.flag);
    return ["run", "--unstable-kv", ...flags, `${ROOT}server.ts`, ...args];
  }
  const data = flag(args, ["--data"]);
  const dir = data ?? (env.home ? `${env.home}/.sotto` : undefined);
  const flags = [
    "--allow-net",
    "--allow-read",
    // Without HOME and --data the client says to give --data.
    ...(dir !== undefined ? [`--allow-write=${dir}`] : []),
    `--allow-env=${data === undefined ? "HOME," : ""}SOTTO_PASSPHRASE,SSLKEYLOGFILE`,
    "--allow-sys=statfs",
  ];
  if (args.includes("--open")) flags.push(`--allow-run=${env.os === "darwin" ? "open" : "xdg-open"}`);
  return ["run", ...flags, `${ROOT}client.ts`, ...args];
}

/** The deno binary: this one if allowed, else "deno" from PATH (--allow-run=deno names that one). */
function denoCommand(): string {
  const self = Deno.execPath();
  return Deno.permissions.querySync({ name: "run", command: self }).state === "granted" ? self : "deno";
}

if (import.meta.main) {
  const [script, ...args] = Deno.args;
  if (script !== "server" && script !== "client") {
    console.error("usage: launch.ts server|client [ARGS…] (the `server` and `client` tasks run it)");
    Deno.exit(2);
  }
  const home = Deno.permissions.querySync({ name: "env", variable: "HOME" }).state === "granted"
    ? Deno.env.get("HOME")
    : undefined;
  const child = new Deno.Command(denoCommand(), {
    args: launchArgs(script, args, { home, os: Deno.build.os }),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const pass = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch {
      // it has exited already
    }
  };
  const ignore = () => {};
  const listeners: [Deno.Signal, () => void][] = Deno.build.os === "windows"
    ? [["SIGINT", ignore]]
    : [["SIGINT", ignore], ["SIGTERM", pass("SIGTERM")], ["SIGHUP", pass("SIGHUP")]];
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  const status = await child.status;
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  Deno.exit(status.code); // 128 + the signal's number if one ended it
}
