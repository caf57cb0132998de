// SSLKEYLOGFILE support for both roles: when the variable names a file, NSS key-log lines (the format
// Wireshark and OpenSSL's -keylogfile use) are appended to it, so a capture of our TLS can be decrypted
// for debugging and tests can compare our secrets with OpenSSL's. When it is unset, or the process may
// not read it, nothing is written.
//
// io/ holds the few I/O helpers that both server/ and client/ need. They may call Deno's APIs and import
// crypto/ and protocol/; server/ and client/ may import them, and they import neither (so the two sides
// still never import each other).

/** A key-log callback for the TLS state machines, or undefined when SSLKEYLOGFILE is not set. */
export function keyLogFromEnv(): ((line: string) => void) | undefined {
  // Ask without prompting: without --allow-env for this variable, there is no key log.
  if (Deno.permissions.querySync({ name: "env", variable: "SSLKEYLOGFILE" }).state !== "granted") {
    return undefined;
  }
  const path = Deno.env.get("SSLKEYLOGFILE");
  if (!path) return undefined;
  let warned = false;
  return (line: string) => {
    try {
      Deno.writeTextFileSync(path, line + "\n", { append: true, mode: 0o600 });
    } catch (e) {
      if (!warned) console.error(`SSLKEYLOGFILE: cannot append to ${path}: ${(e as Error).message}`);
      warned = true;
    }
  };
}
