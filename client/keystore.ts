// The keystore on disk: `<data>/keystore.sotto`, sealed by protocol/keystore.ts, written atomically (a
// temporary file in the same folder, fsync, rename, fsync of the folder) so a crash leaves either the old
// or the new keystore, never a mix. A lock on `<data>/keystore.lock` keeps a second client off the same
// data folder (two writers would fork the ratchet state). Writes are coalesced: callers await a write
// that started after they asked, which is how the client acknowledges a message only once it is stored.

import { join } from "node:path";
import { bytesToHex, systemRandom } from "../crypto/bytes.ts";
import { generateIdentity } from "../protocol/identity.ts";
import {
  type KeystoreContents,
  KeystoreKey,
  keystoreParams,
  openKeystore,
  sealKeystore,
} from "../protocol/keystore.ts";
import { PrekeyStore } from "../protocol/prekeys.ts";

export const KEYSTORE_FILE = "keystore.sotto";
export const LOCK_FILE = "keystore.lock";
/** A keystore larger than this is refused as damaged (history and queue are capped far below it). */
const MAX_KEYSTORE_BYTES = 256 << 20;
/** Fewest characters in the passphrase of a new keystore. */
export const MIN_PASSPHRASE_CHARS = 8;

/** A problem with the data folder or the keystore file, in one sentence for the user. */
export class KeystoreFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeystoreFileError";
  }
}

/** Asks for the passphrase; `creating` is true for a new keystore (ask twice, check its strength). */
export type PassphraseSource = (creating: boolean) => Promise<string>;

/** How {@link KeystoreFile.open} went. */
export interface Opened {
  store: KeystoreFile;
  /** True if the identity was created now. */
  created: boolean;
}

/** The open keystore: its contents in memory, the derived key, the lock, and the coalescing writer. */
export class KeystoreFile {
  readonly dataDir: string;
  readonly contents: KeystoreContents;
  readonly #key: KeystoreKey;
  readonly #lock: Deno.FsFile;
  #chain: Promise<void> = Promise.resolve();
  #queued: Promise<void> | null = null;
  #closed = false;
  /** Runs before each write (client/files.ts makes received chunks durable first). */
  beforeWrite: () => Promise<void> = () => Promise.resolve();

  private constructor(dataDir: string, contents: KeystoreContents, key: KeystoreKey, lock: Deno.FsFile) {
    this.dataDir = dataDir;
    this.contents = contents;
    this.#key = key;
    this.#lock = lock;
  }

  /**
   * Opens the keystore in `dataDir` (created with mode 0700 if missing), or creates one with a new
   * identity: `onNewIdentity` is told the identity once its keystore is written (never for an identity
   * that was not kept: no passphrase, too short a one). Throws WrongPassphraseError, KeystoreFormatError or KeystoreFileError (one sentence).
   */
  static async open(options: {
    dataDir: string;
    passphrase: PassphraseSource;
    now: number;
    /** One-time prekeys to make per curve for a new identity. */
    oneTimePrekeys: number;
    /** One-time ML-KEM-1024 prekeys (PQXDH) to make for a new identity (default none). */
    oneTimeKemPrekeys?: number;
    onNewIdentity?: (id: Uint8Array) => void;
  }): Promise<Opened> {
    const { dataDir } = options;
    if (typeof dataDir !== "string" || dataDir === "") {
      throw new TypeError("dataDir must be a non-empty string");
    }
    await ensureDir(dataDir);
    const lock = await takeLock(dataDir);
    try {
      const path = join(dataDir, KEYSTORE_FILE);
      const sealed = await readIfExists(path);
      if (sealed !== null) {
        const passphrase = await options.passphrase(false);
        const key = KeystoreKey.derive(passphrase, keystoreParams(sealed));
        try {
          return { store: new KeystoreFile(dataDir, openKeystore(key, sealed), key, lock), created: false };
        } catch (e) {
          key.wipe();
          throw e;
        }
      }
      const identity = generateIdentity();
      const passphrase = await options.passphrase(true);
      if ([...passphrase].length < MIN_PASSPHRASE_CHARS) {
        throw new KeystoreFileError(`Choose a passphrase of at least ${MIN_PASSPHRASE_CHARS} characters.`);
      }
      const key = KeystoreKey.create(passphrase);
      const prekeys = PrekeyStore.create(identity, options.now);
      for (const curve of ["P-256", "P-384", "P-521"] as const) {
        prekeys.addOneTimePrekeys(curve, options.oneTimePrekeys);
      }
      prekeys.addOneTimeKemPrekeys(identity, options.oneTimeKemPrekeys ?? 0, options.now);
      const contents: KeystoreContents = {
        identity,
        prekeys,
        createdAt: options.now,
        pins: new Map(),
        registered: new Set(),
        chats: [],
        outbox: [],
        blocked: [],
        settings: new Map(),
      };
      const store = new KeystoreFile(dataDir, contents, key, lock);
      await store.save();
      // Only now does the identity exist: an ID announced before would be lost with a missing passphrase.
      options.onNewIdentity?.(identity.id);
      return { store, created: true };
    } catch (e) {
      lock.close();
      throw e;
    }
  }

  /** The secret the history files are keyed from (a copy: the history store wipes it). */
  historySecret(): Uint8Array {
    return this.#key.historySecret();
  }

  /**
   * Writes the contents as they are when the write starts. Resolves once a write that started after
   * this call is on disk; rejects with a KeystoreFileError if that write failed.
   */
  save(): Promise<void> {
    if (this.#closed) return Promise.reject(new KeystoreFileError("The keystore is closed."));
    if (this.#queued) return this.#queued;
    const next = this.#chain.catch(() => {}).then(() => {
      this.#queued = null;
      return this.#write();
    });
    this.#queued = next;
    this.#chain = next;
    return next;
  }

  async #write(): Promise<void> {
    await this.beforeWrite();
    const bytes = sealKeystore(this.#key, this.contents);
    const path = join(this.dataDir, KEYSTORE_FILE);
    try {
      await writeAtomically(this.dataDir, path, bytes);
    } catch (e) {
      throw new KeystoreFileError(`Cannot write the keystore ${path}: ${(e as Error).message}.`, {
        cause: e,
      });
    }
  }

  /** Seals bytes under the keystore's key: the files kept beside it (the groups, client/groupdisk.ts). */
  sealFile(plaintext: Uint8Array): Uint8Array {
    return this.#key.seal(plaintext);
  }

  /** Opens what {@link sealFile} sealed (KeystoreFormatError if damaged or altered). */
  openFile(sealed: Uint8Array): Uint8Array {
    return this.#key.open(sealed);
  }

  /** Waits for pending writes, wipes the key and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#chain.catch(() => {});
    this.#key.wipe();
    this.#lock.close();
  }
}

/**
 * Writes `bytes` to `path` (in folder `dir`) so that a crash leaves the old file or the new one, never a
 * mix: a temporary file in the same folder, fsync, rename over `path`, fsync of the folder.
 */
export async function writeAtomically(dir: string, path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${bytesToHex(systemRandom(8))}.tmp`;
  try {
    const out = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      for (let off = 0; off < bytes.length;) off += await out.write(bytes.subarray(off));
      await out.sync();
    } finally {
      out.close();
    }
    await Deno.rename(tmp, path);
    const folder = await Deno.open(dir, { read: true });
    try {
      await folder.sync();
    } finally {
      folder.close();
    }
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function ensureDir(dataDir: string): Promise<void> {
  try {
    const info = await Deno.stat(dataDir);
    if (!info.isDirectory) throw new KeystoreFileError(`The data folder ${dataDir} is not a folder.`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      if (e instanceof KeystoreFileError) throw e;
      throw new KeystoreFileError(`Cannot use the data folder ${dataDir}: ${(e as Error).message}.`, {
        cause: e,
      });
    }
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  }
}

async function takeLock(dataDir: string): Promise<Deno.FsFile> {
  const lock = await Deno.open(join(dataDir, LOCK_FILE), { write: true, create: true, mode: 0o600 });
  if (!(await lock.tryLock(true))) {
    lock.close();
    throw new KeystoreFileError(
      `Another sotto client is using ${dataDir}; quit it first, or give this one its own folder with --data.`,
    );
  }
  return lock;
}

async function readIfExists(path: string): Promise<Uint8Array | null> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile || info.size > MAX_KEYSTORE_BYTES) {
      throw new KeystoreFileError(`${path} is not a keystore file (not a regular file, or far too large).`);
    }
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    if (e instanceof KeystoreFileError) throw e;
    throw new KeystoreFileError(`Cannot read ${path}: ${(e as Error).message}.`, { cause: e });
  }
}
