// Which server keys the client trusts: a pin given with `--pin` must match exactly, and is then stored for
// that host:port (replacing a stored one: that is how a user accepts a relay's new key); a pin from an
// invitation must match exactly and is stored on first use, but a different stored pin is refused;
// otherwise the first pin seen for a host:port is stored in `known_servers.json` in the client's data
// folder (trust on first use, as SSH's known_hosts) and every later connection must present the same pin. The file is written
// atomically (a temporary file in the same folder, then a rename). The client passes its own `store`
// instead: the pins then live in the encrypted keystore (protocol/keystore.ts) and no file is touched.

import { join } from "node:path";
import { bytesToHex, checkLength, systemRandom } from "../crypto/bytes.ts";
import { formatIpAddress, isPin, parseIpAddress } from "../protocol/tls13/x509.ts";

export const KNOWN_SERVERS_FILE = "known_servers.json";
const MAX_FILE_BYTES = 1 << 20;

/** Where trusted pins are kept when not in `known_servers.json`: "host:port" → pin. */
export interface PinStore {
  get(server: string): string | undefined;
  /** Records a first-use pin; resolves once it is stored. */
  set(server: string, pin: string): Promise<void>;
}

/** What `checkPin` needs. */
export interface CheckPinOptions {
  /** The client's data folder (created with mode 0700 if missing). */
  dataDir: string;
  host: string;
  port: number;
  /** The pin of the key the server presented (see spkiPin in protocol/tls13/x509.ts). */
  pin: string;
  /** The pin the user gave (--pin, or in an invitation): the server's must equal it. */
  expected?: string;
  /**
   * Where `expected` comes from. "flag" (the default): --pin, stored for the server whatever was stored
   * before. "invitation": stored if nothing was; a different stored pin is refused, as on a change.
   */
  expectedFrom?: "flag" | "invitation";
  /** Keep pins here instead of in `known_servers.json` (`file` in the result is then "keystore"). */
  store?: PinStore;
}

/** How the server came to be trusted. */
export interface PinCheck {
  /**
   * "pinned": it matched --pin or an invitation's pin (now stored); "first-use": its pin is now stored;
   * "matched": it matched the stored pin (an invitation's pin too).
   */
  trusted: "pinned" | "first-use" | "matched";
  /** The store's path, for telling the user where a first-use pin went ("keystore" for a `store`). */
  file: string;
}

/** The server presented a different key than the one trusted for it. The message is one sentence. */
export class PinMismatchError extends Error {
  readonly server: string;
  readonly expected: string;
  readonly actual: string;
  constructor(server: string, expected: string, actual: string, message: string) {
    super(message);
    this.name = "PinMismatchError";
    this.server = server;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Checks the pin a server presented. Returns how it is trusted, or throws a PinMismatchError (a different
 * pin than --pin or than the stored one), a RangeError for a malformed pin or --pin, or an Error naming
 * the store file if it is damaged.
 */
export async function checkPin(options: CheckPinOptions): Promise<PinCheck> {
  const { dataDir, host, port, pin, expected, store } = options;
  const from = options.expectedFrom ?? "flag";
  if (typeof dataDir !== "string" || dataDir === "") {
    throw new TypeError("dataDir must be a non-empty string");
  }
  if (typeof host !== "string" || host === "") throw new TypeError("host must be a non-empty string");
  checkLength(port, "port", 1, 65535);
  if (!isPin(pin)) throw new RangeError("pin must be a 43-character base64url SPKI pin");
  const server = serverKey(host, port);
  const file = store ? "keystore" : join(dataDir, KNOWN_SERVERS_FILE);
  const given = from === "flag" ? "given with --pin" : "in the invitation";

  if (expected !== undefined) {
    if (!isPin(expected)) {
      throw new RangeError(`--pin must be the 43-character pin the server prints at start, got ${expected}`);
    }
    if (expected !== pin) {
      throw new PinMismatchError(
        server,
        expected,
        pin,
        `Refused to connect: the server at ${server} presented pin ${pin}, not the pin ${expected} ${given}; ` +
          `check the pin with the server's operator (the server prints it when it starts).`,
      );
    }
  }

  const servers = store ? null : await load(file);
  const stored = store ? store.get(server) : servers![server];
  const remember = async (): Promise<void> => {
    if (store) return await store.set(server, pin);
    servers![server] = pin;
    await save(dataDir, file, servers!);
  };
  if (expected !== undefined && from === "flag") {
    // The user's explicit word: stored as a first use would be, replacing what was stored.
    if (stored !== pin) await remember();
    return { trusted: "pinned", file };
  }
  if (stored === pin) return { trusted: "matched", file };
  if (stored !== undefined) {
    const where = store ? "your keystore" : file;
    const fix = store ? "connect" : `remove the "${server}" entry from that file or connect`;
    const also = expected !== undefined ? ", as the invitation says," : "";
    throw new PinMismatchError(
      server,
      stored,
      pin,
      `Refused to connect: the server at ${server} presented pin ${pin}${also} but ${where} records pin ` +
        `${stored} for it, so someone may be intercepting the connection; if the server's operator confirms ` +
        `that its key changed, ${fix} with --pin ${pin}.`,
    );
  }
  await remember();
  return { trusted: expected !== undefined ? "pinned" : "first-use", file };
}

/** "host:port" with the host lower-cased, an IP in its canonical form and IPv6 in brackets. */
export function serverKey(host: string, port: number): string {
  const ip = parseIpAddress(host);
  if (ip) return ip.length === 16 ? `[${formatIpAddress(ip)}]:${port}` : `${formatIpAddress(ip)}:${port}`;
  return `${host.toLowerCase().replace(/\.$/, "")}:${port}`;
}

async function load(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (!info.isFile || info.size > MAX_FILE_BYTES) throw new Error("not a file, or too large");
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return Object.create(null);
    throw damaged(file, e);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw damaged(file, e);
  }
  const servers = (data as { servers?: unknown })?.servers;
  if (
    typeof data !== "object" || data === null || (data as { version?: unknown }).version !== 1 ||
    typeof servers !== "object" || servers === null || Array.isArray(servers)
  ) {
    throw damaged(file, new Error('expected {"version": 1, "servers": {...}}'));
  }
  const out: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(servers)) {
    if (!isPin(value)) throw damaged(file, new Error(`the entry "${key}" is not a pin`));
    out[key] = value;
  }
  return out;
}

function damaged(file: string, cause: unknown): Error {
  return new Error(
    `${file} is damaged (${(cause as Error)?.message ?? cause}); fix it or remove it (servers are then ` +
      `trusted again on first use).`,
  );
}

async function save(dataDir: string, file: string, servers: Record<string, string>): Promise<void> {
  try {
    if (!(await Deno.stat(dataDir)).isDirectory) {
      throw new Error(`the data folder ${dataDir} is not a folder`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  }
  const sorted = Object.fromEntries(Object.keys(servers).sort().map((k) => [k, servers[k]]));
  const bytes = new TextEncoder().encode(`${JSON.stringify({ version: 1, servers: sorted }, null, 2)}\n`);
  const tmp = `${file}.${bytesToHex(systemRandom(8))}.tmp`;
  const out = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  try {
    try {
      for (let off = 0; off < bytes.length;) off += await out.write(bytes.subarray(off));
      await out.sync();
    } finally {
      out.close();
    }
    await Deno.rename(tmp, file);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
