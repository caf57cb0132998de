// The handshake transcript hash (RFC 8446 §4.4.1): a running hash of every handshake message, whose
// algorithm is known only once the cipher suite is chosen, with the message_hash substitution that a
// HelloRetryRequest requires.

import { createHash, type Hash, hash, type HashName } from "../../crypto/sha2.ts";
import { messageHash } from "./messages.ts";

export class Transcript {
  #hash: Hash | null = null;
  #pending: Uint8Array[] = [];

  /** Appends a whole handshake message (header included). */
  add(message: Uint8Array): void {
    if (this.#hash) this.#hash.update(message);
    else this.#pending.push(message);
  }

  /** Fixes the hash algorithm (once the suite is known) and hashes the messages buffered so far. */
  start(name: HashName): void {
    if (this.#hash) throw new Error("transcript hash already started");
    this.#hash = createHash(name);
    for (const m of this.#pending) this.#hash.update(m);
    this.#pending = [];
  }

  /** Transcript-Hash of the messages so far; the running hash goes on. */
  digest(): Uint8Array {
    if (!this.#hash) throw new Error("transcript hash not started");
    return this.#hash.clone().digest();
  }

  /**
   * After a HelloRetryRequest: restarts the hash with `name` over message_hash(Hash(ClientHello1)) in
   * place of ClientHello1, which must be the only message so far (§4.4.1).
   */
  restartWithMessageHash(name: HashName, clientHello1: Uint8Array): void {
    this.#pending = [];
    this.#hash = createHash(name).update(messageHash(hash(name, clientHello1)));
  }
}
