// The relay's TLS identity on disk: a P-521 key (`server.key`, SEC1 PEM, mode 0600) and a self-signed
// certificate for it (`server.crt`, PEM) in the data folder. Created on first start, reused after, the
// certificate re-issued for the same key (so the pin stays) when it nears expiry or lacks the host;
// `-refreshkeys` replaces both. Files are written atomically: a temporary file in the same folder, then
// a rename.

import { join } from "node:path";
import { bytesToHex, equalBytes, type RandomSource, systemRandom } from "../crypto/bytes.ts";
import { p521 } from "../crypto/p521.ts";
import { decodePem, decodePrivateKeyPem, encodeEcPrivateKey, encodePem } from "../protocol/tls13/pem.ts";
import {
  type Certificate,
  certificateMatchesHost,
  createSelfSignedCertificate,
  parseCertificate,
  parseIpAddress,
  spkiPin,
  verifySelfSignature,
} from "../protocol/tls13/x509.ts";

export const KEY_FILE = "server.key";
export const CERT_FILE = "server.crt";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** notBefore is this far in the past, for clients whose clocks run slow. */
const BACKDATE = HOUR;
const VALIDITY = 365 * DAY;
/** A certificate with less than this left is re-issued at start. */
const RENEW_BEFORE = 30 * DAY;
const MAX_FILE_BYTES = 64 * 1024;

/** What `loadOrCreateServerIdentity` needs. */
export interface ServerIdentityOptions {
  /** The data folder (created with mode 0700 if missing). */
  dataDir: string;
  /** The `-host` value: a DNS name or IP literal added to the certificate (0.0.0.0 and :: are skipped). */
  host: string;
  /** `-refreshkeys`: replace both files with a new key and certificate (a new pin). */
  refresh?: boolean;
  now?: Date;
  /** Randomness for the key and the serial number (default: the system CSPRNG). */
  random?: RandomSource;
}

/** The key, the certificate and the pin clients check. */
export interface ServerIdentity {
  secretKey: Uint8Array;
  certificateDer: Uint8Array;
  certificatePem: string;
  keyPem: string;
  /** The SPKI pin (see spkiPin in protocol/tls13/x509.ts). */
  pin: string;
  /** True if a new key was made (first start or refresh). */
  created: boolean;
  /** True if a new certificate was issued for an existing key. */
  reissued: boolean;
}

/** A key or certificate file that cannot be used; the message names the file and what to do. */
export class KeyFileError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = "KeyFileError";
    this.path = path;
  }
}

/**
 * Loads the server's key and certificate from `dataDir`, creating, re-issuing or replacing them as
 * described in the file header. Throws a KeyFileError for a missing, damaged, too widely readable or
 * mismatched file, and a RangeError for a `host` that is neither a DNS name nor an IP address.
 */
export async function loadOrCreateServerIdentity(options: ServerIdentityOptions): Promise<ServerIdentity> {
  const { dataDir, host, refresh = false, now = new Date(), random = systemRandom } = options;
  if (typeof dataDir !== "string" || dataDir === "") {
    throw new TypeError("dataDir must be a non-empty string");
  }
  if (typeof host !== "string") throw new TypeError("host must be a string");
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError("now must be a valid Date");
  const hosts = certificateHosts(host);
  await ensureDataDir(dataDir);
  const keyPath = join(dataDir, KEY_FILE);
  const certPath = join(dataDir, CERT_FILE);
  const advice = "run the server with -refreshkeys to create a new key and certificate (clients will then " +
    "see a new pin and must trust it again)";

  if (refresh) return await create(keyPath, certPath, hosts, now, random);
  const keyText = await readIfExists(keyPath);
  const certText = await readIfExists(certPath);
  if (keyText === undefined) {
    if (certText === undefined) return await create(keyPath, certPath, hosts, now, random);
    throw new KeyFileError(
      keyPath,
      `${keyPath} is missing but ${certPath} exists; restore the key, or ${advice}.`,
    );
  }

  await checkKeyMode(keyPath);
  let secretKey: Uint8Array;
  try {
    secretKey = decodePrivateKeyPem(keyText);
  } catch (e) {
    throw new KeyFileError(
      keyPath,
      `${keyPath} is damaged or not a P-521 private key (${(e as Error).message}); ${advice}.`,
    );
  }
  const publicKey = p521.getPublicKey(secretKey, false);

  if (certText !== undefined) {
    let cert: Certificate;
    try {
      cert = parseCertificate(decodePem(certText, "CERTIFICATE"));
    } catch (e) {
      throw new KeyFileError(
        certPath,
        `${certPath} is damaged (${(e as Error).message}); delete it to have a new certificate issued for ` +
          `the same key (the pin stays), or ${advice}.`,
      );
    }
    if (
      cert.namedCurve !== p521.oid || !equalBytes(cert.publicKey, publicKey) || !verifySelfSignature(cert)
    ) {
      throw new KeyFileError(
        certPath,
        `${certPath} does not belong to ${keyPath} (or its signature is wrong); delete ${certPath} to have a ` +
          `new certificate issued for the key (the pin stays), or ${advice}.`,
      );
    }
    const t = now.getTime();
    const fresh = cert.notBefore.getTime() <= t && cert.notAfter.getTime() - t > RENEW_BEFORE &&
      hosts.every((h) => certificateMatchesHost(cert, h));
    if (fresh) return identity(secretKey, cert.der, false, false);
  }
  const certificateDer = issue(secretKey, hosts, now, random);
  await writeFilesAtomic([{ path: certPath, text: encodePem("CERTIFICATE", certificateDer), mode: 0o644 }]);
  return identity(secretKey, certificateDer, false, true);
}

/** localhost, 127.0.0.1 and the host value (unless it is an unspecified address, or one of those two). */
function certificateHosts(host: string): string[] {
  const hosts = ["localhost", "127.0.0.1"];
  const h = host.trim();
  const ip = parseIpAddress(h);
  const unspecified = ip !== undefined && ip.every((b) => b === 0);
  if (h !== "" && !unspecified && !hosts.includes(h.toLowerCase())) hosts.push(h);
  return hosts;
}

async function create(
  keyPath: string,
  certPath: string,
  hosts: string[],
  now: Date,
  random: RandomSource,
): Promise<ServerIdentity> {
  const secretKey = p521.randomSecretKey(random);
  const certificateDer = issue(secretKey, hosts, now, random);
  await writeFilesAtomic([
    { path: keyPath, text: encodePem("EC PRIVATE KEY", encodeEcPrivateKey(secretKey)), mode: 0o600 },
    { path: certPath, text: encodePem("CERTIFICATE", certificateDer), mode: 0o644 },
  ]);
  return identity(secretKey, certificateDer, true, false);
}

function issue(secretKey: Uint8Array, hosts: string[], now: Date, random: RandomSource): Uint8Array {
  try {
    return createSelfSignedCertificate({
      secretKey,
      hosts,
      notBefore: new Date(now.getTime() - BACKDATE),
      notAfter: new Date(now.getTime() - BACKDATE + VALIDITY),
      serial: random(16),
    });
  } catch (e) {
    if (e instanceof RangeError && /^hosts\[/.test(e.message)) {
      throw new RangeError(
        `the host value ${JSON.stringify(hosts[2])} is neither a DNS name nor an IP address`,
      );
    }
    throw e;
  }
}

function identity(
  secretKey: Uint8Array,
  certificateDer: Uint8Array,
  created: boolean,
  reissued: boolean,
): ServerIdentity {
  return {
    secretKey,
    certificateDer,
    certificatePem: encodePem("CERTIFICATE", certificateDer),
    keyPem: encodePem("EC PRIVATE KEY", encodeEcPrivateKey(secretKey)),
    pin: spkiPin(parseCertificate(certificateDer).spki),
    created,
    reissued,
  };
}

/**
 * Creates the data folder with mode 0700, or tightens an existing one to 0700: it holds the key and the
 * store (who talks to whom), which no other local user should read.
 */
async function ensureDataDir(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return;
  }
  if (!info.isDirectory) throw new KeyFileError(dir, `the data folder ${dir} is not a folder`);
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    try {
      await Deno.chmod(dir, 0o700);
    } catch (e) {
      throw new KeyFileError(
        dir,
        `the data folder ${dir} can be read by other users and its mode cannot be changed ` +
          `(${(e as Error).message}); run "chmod 700 ${dir}" and start again.`,
      );
    }
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    const info = await file.stat();
    if (!info.isFile || info.size > MAX_FILE_BYTES) {
      throw new KeyFileError(path, `${path} is not a key or certificate file (too large or not a file)`);
    }
    const bytes = new Uint8Array(info.size);
    let off = 0;
    while (off < bytes.length) {
      const n = await file.read(bytes.subarray(off));
      if (n === null) break;
      off += n;
    }
    return new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, off));
  } finally {
    file.close();
  }
}

/** Refuses a key file that others can read (as ssh does), on systems with Unix modes. */
async function checkKeyMode(path: string): Promise<void> {
  const { mode } = await Deno.stat(path);
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new KeyFileError(
      path,
      `${path} can be read by other users (mode ${
        (mode & 0o777).toString(8)
      }); run "chmod 600 ${path}" and ` +
        `start again.`,
    );
  }
}

/**
 * Writes each file atomically: every text goes first to a new temporary file in the same folder, created
 * with its mode before anything is written and flushed to disk; then the temporary files are renamed over
 * their targets one after the other (so a refresh leaves the old pair or the new pair, barring a crash
 * between two renames). Temporary files are removed on error.
 */
async function writeFilesAtomic(entries: { path: string; text: string; mode: number }[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const { path, text, mode } of entries) {
      const tmp = `${path}.${bytesToHex(systemRandom(8))}.tmp`;
      const file = await Deno.open(tmp, { write: true, createNew: true, mode });
      temps.push(tmp);
      try {
        const bytes = new TextEncoder().encode(text);
        for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
        await file.sync();
      } finally {
        file.close();
      }
    }
    for (let i = 0; i < entries.length; i++) await Deno.rename(temps[i], entries[i].path);
  } catch (e) {
    for (const tmp of temps) await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
