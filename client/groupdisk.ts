// Where a client keeps its groups: `<data>/groups/<group id in hex>.sotto` for each group and
// `<data>/groups/invitations.sotto` for the invitations received, each sealed with the keystore's key
// (KeystoreFile.sealFile: PBKDF2-derived, XChaCha20-Poly1305, the same key as the keystore) and written
// atomically. One file per group keeps a message to one group from rewriting the others: a group of 100
// members has an MLS state of about 110 KB on P-521. Writes are coalesced per file like the keystore's:
// a caller awaits a write that started after it asked, which is how the group code acknowledges an entry
// only once its effect is on disk, and sends a message only once the state that made it is.

import { join } from "node:path";
import { bytesToHex, hexToBytes } from "../crypto/bytes.ts";
import {
  decodeGroupState,
  decodeInvitations,
  encodeGroupState,
  encodeInvitations,
  type GroupState,
  type InvitationRecord,
} from "../protocol/groupstate.ts";
import { writeAtomically } from "./keystore.ts";

/** The folder of the group files, inside the data folder. */
export const GROUPS_DIR = "groups";
const INVITATIONS = "invitations.sotto";
/** A group file larger than this is refused as damaged. */
const MAX_FILE_BYTES = 64 << 20;

/** A group file that cannot be read or written, in one sentence. */
export class GroupDiskError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GroupDiskError";
  }
}

/** What the group code needs of its storage. */
export interface GroupDisk {
  /** Every group record and the invitations; a damaged group file is reported, not fatal. */
  load(): Promise<{ groups: GroupState[]; invitations: InvitationRecord[]; problems: string[] }>;
  /** Writes a group's record as `current()` returns it when the write starts (coalesced per group). */
  saveGroup(groupId: Uint8Array, current: () => GroupState): Promise<void>;
  saveInvitations(current: () => readonly InvitationRecord[]): Promise<void>;
  /** Deletes a group's file. */
  removeGroup(groupId: Uint8Array): Promise<void>;
}

/** One file's writes, coalesced: a call resolves once a write that started after it is on disk. */
class CoalescedWrite {
  #chain: Promise<void> = Promise.resolve();
  #queued: Promise<void> | null = null;

  save(write: () => Promise<void>): Promise<void> {
    if (this.#queued) return this.#queued;
    const next = this.#chain.catch(() => {}).then(() => {
      this.#queued = null;
      return write();
    });
    this.#queued = next;
    this.#chain = next;
    return next;
  }

  /** Waits for the writes asked for so far. */
  async idle(): Promise<void> {
    await this.#chain.catch(() => {});
  }
}

/** The sealed files in `<data>/groups/`. */
export class SealedGroupDisk implements GroupDisk {
  readonly #dir: string;
  readonly #seal: (plaintext: Uint8Array) => Uint8Array;
  readonly #open: (sealed: Uint8Array) => Uint8Array;
  readonly #writers = new Map<string, CoalescedWrite>();

  constructor(
    dataDir: string,
    sealer: { seal(plaintext: Uint8Array): Uint8Array; open(sealed: Uint8Array): Uint8Array },
  ) {
    this.#dir = join(dataDir, GROUPS_DIR);
    this.#seal = sealer.seal;
    this.#open = sealer.open;
  }

  async load(): Promise<{ groups: GroupState[]; invitations: InvitationRecord[]; problems: string[] }> {
    const groups: GroupState[] = [], problems: string[] = [];
    let invitations: InvitationRecord[] = [];
    let entries: Deno.DirEntry[] = [];
    try {
      for await (const e of Deno.readDir(this.#dir)) entries.push(e);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new GroupDiskError(`Cannot read the groups folder ${this.#dir}: ${(e as Error).message}.`);
      }
      entries = [];
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(this.#dir, e.name);
      if (e.name.endsWith(".tmp")) {
        await Deno.remove(path).catch(() => {}); // a write a crash interrupted: the old file stands
        continue;
      }
      if (!e.isFile) continue;
      if (e.name === INVITATIONS) {
        try {
          invitations = decodeInvitations(await this.#read(path));
        } catch (err) {
          problems.push(
            `The invitations file ${path} is damaged (${(err as Error).message}); it was set aside.`,
          );
          await Deno.rename(path, `${path}.damaged`).catch(() => {});
        }
        continue;
      }
      const m = /^([0-9a-f]{32}|[0-9a-f]{64})\.sotto$/.exec(e.name);
      if (!m) continue;
      try {
        const id = hexToBytes(m[1]);
        groups.push(decodeGroupState(await this.#read(path), id));
      } catch (err) {
        problems.push(`The group file ${path} is damaged (${(err as Error).message}); it was set aside.`);
        await Deno.rename(path, `${path}.damaged`).catch(() => {});
      }
    }
    return { groups, invitations, problems };
  }

  async #read(path: string): Promise<Uint8Array> {
    const info = await Deno.stat(path);
    if (info.size > MAX_FILE_BYTES) throw new GroupDiskError("it is far too large");
    return this.#open(await Deno.readFile(path));
  }

  #writer(name: string): CoalescedWrite {
    let w = this.#writers.get(name);
    if (w === undefined) this.#writers.set(name, w = new CoalescedWrite());
    return w;
  }

  async #write(name: string, plaintext: () => Uint8Array): Promise<void> {
    const path = join(this.#dir, name);
    try {
      await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await writeAtomically(this.#dir, path, this.#seal(plaintext()));
    } catch (e) {
      throw new GroupDiskError(`Cannot write ${path}: ${(e as Error).message}.`, { cause: e });
    }
  }

  saveGroup(groupId: Uint8Array, current: () => GroupState): Promise<void> {
    const name = `${bytesToHex(groupId)}.sotto`;
    return this.#writer(name).save(() => this.#write(name, () => encodeGroupState(current())));
  }

  saveInvitations(current: () => readonly InvitationRecord[]): Promise<void> {
    return this.#writer(INVITATIONS).save(() => this.#write(INVITATIONS, () => encodeInvitations(current())));
  }

  async removeGroup(groupId: Uint8Array): Promise<void> {
    const name = `${bytesToHex(groupId)}.sotto`;
    await this.#writer(name).idle();
    await Deno.remove(join(this.#dir, name)).catch(() => {});
  }
}

/** Group records in memory only (tests of the chats that do not use groups; nothing survives a restart). */
export class MemoryGroupDisk implements GroupDisk {
  readonly groups = new Map<string, Uint8Array>();
  invitations: Uint8Array | null = null;

  load(): Promise<{ groups: GroupState[]; invitations: InvitationRecord[]; problems: string[] }> {
    return Promise.resolve({
      groups: [...this.groups.entries()].map(([k, v]) => decodeGroupState(v, hexToBytes(k))),
      invitations: this.invitations ? decodeInvitations(this.invitations) : [],
      problems: [],
    });
  }

  saveGroup(groupId: Uint8Array, current: () => GroupState): Promise<void> {
    return new Promise((resolve) =>
      queueMicrotask(() => {
        this.groups.set(bytesToHex(groupId), encodeGroupState(current()));
        resolve();
      })
    );
  }

  saveInvitations(current: () => readonly InvitationRecord[]): Promise<void> {
    return new Promise((resolve) =>
      queueMicrotask(() => {
        this.invitations = encodeInvitations(current());
        resolve();
      })
    );
  }

  removeGroup(groupId: Uint8Array): Promise<void> {
    this.groups.delete(bytesToHex(groupId));
    return Promise.resolve();
  }
}
