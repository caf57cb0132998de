// The secret tree and its per-sender hash ratchets (RFC 9420 §9): node secrets derived lazily from the
// encryption secret towards the leaves ("tree" with "left"/"right"), each leaf starting a handshake and an
// application ratchet, each generation giving one key and nonce (DeriveTreeSecret "key", "nonce", "secret").
//
// Deletion (§9.2): a node's secret is dropped once both children are derived, a ratchet secret once the
// next one is, and a key once it is used. Keys of generations skipped by out-of-order delivery are kept, at
// most `window` per ratchet (the oldest go first), and a ratchet never moves more than `maxForward`
// generations for one message (a hostile generation number costs bounded work). A used or dropped
// generation is refused as a replay. The tree is copied before each attempt so a refused message changes
// nothing (`clone`), and it serialises for the keystore.

import { Reader, Writer } from "./codec.ts";
import { MlsError } from "./errors.ts";
import type { CipherSuite } from "./suite.ts";
import { left, nodeWidth, right, root } from "./treemath.ts";

/** Which ratchet of a leaf: handshake (proposals, commits) or application. */
export type RatchetType = "handshake" | "application";

export interface MessageKey {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly generation: number;
}

/** Limits of the receiving ratchets. */
export interface RatchetLimits {
  /** Most generations a ratchet moves forward for one message. */
  readonly maxForward: number;
  /** Most skipped keys kept per ratchet for out-of-order messages. */
  readonly window: number;
}

export const DEFAULT_RATCHET_LIMITS: RatchetLimits = { maxForward: 1024, window: 64 };

interface Ratchet {
  secret: Uint8Array;
  generation: number;
  /** Keys of skipped generations, oldest first (Map keeps insertion order). */
  skipped: Map<number, { key: Uint8Array; nonce: Uint8Array }>;
}

function cloneRatchet(r: Ratchet): Ratchet {
  return { secret: r.secret, generation: r.generation, skipped: new Map(r.skipped) };
}

/** The secret tree of one epoch. */
export class SecretTree {
  readonly suite: CipherSuite;
  readonly leafCount: number;
  /** Node secrets not yet consumed, by node index. */
  #nodes: Map<number, Uint8Array>;
  /** Ratchets by leaf index. */
  #ratchets: Map<number, { handshake: Ratchet; application: Ratchet }>;

  constructor(suite: CipherSuite, encryptionSecret: Uint8Array, leafCount: number) {
    this.suite = suite;
    this.leafCount = leafCount;
    this.#nodes = new Map([[root(leafCount), encryptionSecret]]);
    this.#ratchets = new Map();
  }

  /** An independent copy (byte arrays are shared: nothing here writes into one). */
  clone(): SecretTree {
    const c = new SecretTree(this.suite, EMPTY, this.leafCount);
    c.#nodes = new Map(this.#nodes);
    c.#ratchets = new Map();
    for (const [leaf, r] of this.#ratchets) {
      c.#ratchets.set(leaf, {
        handshake: cloneRatchet(r.handshake),
        application: cloneRatchet(r.application),
      });
    }
    return c;
  }

  #leafRatchets(leaf: number): { handshake: Ratchet; application: Ratchet } {
    if (!Number.isInteger(leaf) || leaf < 0 || leaf >= this.leafCount) {
      throw new MlsError("unknown-sender", `leaf ${leaf} is outside the group's tree`);
    }
    const have = this.#ratchets.get(leaf);
    if (have) return have;
    // Walk down from the root to the leaf, deriving both children of each node on the way.
    const target = 2 * leaf;
    const path: number[] = [];
    let x = root(this.leafCount);
    for (;;) {
      path.push(x);
      if (x === target) break;
      x = target < x ? left(x) : right(x);
    }
    let start = path.length - 1;
    while (!this.#nodes.has(path[start])) {
      start--;
      if (start < 0) throw new MlsError("replay", `the secrets of leaf ${leaf} were already consumed`);
    }
    const s = this.suite;
    for (let i = start; i < path.length - 1; i++) {
      const node = path[i], secret = this.#nodes.get(node)!;
      this.#nodes.set(left(node), s.expandWithLabel(secret, "tree", utf8Left, s.nh));
      this.#nodes.set(right(node), s.expandWithLabel(secret, "tree", utf8Right, s.nh));
      this.#nodes.delete(node);
    }
    const leafSecret = this.#nodes.get(target)!;
    this.#nodes.delete(target);
    const empty = new Uint8Array(0);
    const r = {
      handshake: {
        secret: s.expandWithLabel(leafSecret, "handshake", empty, s.nh),
        generation: 0,
        skipped: new Map(),
      },
      application: {
        secret: s.expandWithLabel(leafSecret, "application", empty, s.nh),
        generation: 0,
        skipped: new Map(),
      },
    };
    this.#ratchets.set(leaf, r);
    return r;
  }

  #keyAt(r: Ratchet): MessageKey {
    const s = this.suite, g = r.generation;
    return {
      key: s.deriveTreeSecret(r.secret, "key", g, s.nk),
      nonce: s.deriveTreeSecret(r.secret, "nonce", g, s.nn),
      generation: g,
    };
  }

  #advance(r: Ratchet): void {
    r.secret = this.suite.deriveTreeSecret(r.secret, "secret", r.generation, this.suite.nh);
    r.generation++;
  }

  /** The next key of our own ratchet, for sending; the ratchet moves past it. */
  next(leaf: number, type: RatchetType): MessageKey {
    const r = this.#leafRatchets(leaf)[type];
    if (r.generation >= 0xffff_ffff) throw new MlsError("limit", "the sender ratchet is exhausted");
    const k = this.#keyAt(r);
    this.#advance(r);
    return k;
  }

  /**
   * The key of `generation` in a sender's ratchet, for receiving; it is consumed. MlsError("replay") for a
   * used or dropped generation, "limit" for one more than `maxForward` ahead.
   */
  get(
    leaf: number,
    type: RatchetType,
    generation: number,
    limits: RatchetLimits = DEFAULT_RATCHET_LIMITS,
  ): MessageKey {
    const r = this.#leafRatchets(leaf)[type];
    if (generation < r.generation) {
      const k = r.skipped.get(generation);
      if (k === undefined) {
        throw new MlsError(
          "replay",
          `generation ${generation} of leaf ${leaf} was already used or is too old`,
        );
      }
      r.skipped.delete(generation);
      return { ...k, generation };
    }
    if (generation - r.generation > limits.maxForward) {
      throw new MlsError("limit", `generation ${generation} is too far ahead of ${r.generation}`);
    }
    while (r.generation < generation) {
      const k = this.#keyAt(r);
      r.skipped.set(k.generation, { key: k.key, nonce: k.nonce });
      if (r.skipped.size > limits.window) r.skipped.delete(r.skipped.keys().next().value!);
      this.#advance(r);
    }
    const k = this.#keyAt(r);
    this.#advance(r);
    return k;
  }

  /** The state as bytes (for the keystore). */
  write(w: Writer): void {
    w.u32(this.leafCount);
    w.list([...this.#nodes], (w, [node, secret]) => w.u32(node).opaque(secret));
    w.list([...this.#ratchets], (w, [leaf, r]) => {
      w.u32(leaf);
      for (const x of [r.handshake, r.application]) {
        w.opaque(x.secret).u32(x.generation);
        w.list([...x.skipped], (w, [g, k]) => w.u32(g).opaque(k.key).opaque(k.nonce));
      }
    });
  }

  static read(r: Reader, suite: CipherSuite): SecretTree {
    const leafCount = r.u32("leaf count");
    if (leafCount === 0 || (leafCount & (leafCount - 1)) !== 0) {
      r.fail("secret tree width is not a power of two");
    }
    const t = new SecretTree(suite, new Uint8Array(suite.nh), leafCount);
    const width = nodeWidth(leafCount);
    t.#nodes = new Map(r.vector("nodes", (s) => {
      const node = s.u32("node");
      if (node >= width) s.fail("secret tree node out of range");
      return [node, s.opaque("secret", 64)] as [number, Uint8Array];
    }, width));
    const ratchet = (s: Reader): Ratchet => ({
      secret: s.opaque("ratchet secret", 64),
      generation: s.u32("generation"),
      skipped: new Map(s.vector("skipped", (t) => {
        return [t.u32("generation"), { key: t.opaque("key", 64), nonce: t.opaque("nonce", 64) }] as const;
      }, 1 << 16)),
    });
    t.#ratchets = new Map(r.vector("ratchets", (s) => {
      const leaf = s.u32("leaf");
      if (leaf >= leafCount) s.fail("ratchet leaf out of range");
      return [leaf, { handshake: ratchet(s), application: ratchet(s) }] as const;
    }, leafCount));
    return t;
  }
}

const EMPTY = new Uint8Array(0);
const utf8Left = new TextEncoder().encode("left");
const utf8Right = new TextEncoder().encode("right");

/** The key and nonce that protect SenderData (§6.3.2), from the first Nh bytes of the content ciphertext. */
export function senderDataKeyNonce(
  suite: CipherSuite,
  senderDataSecret: Uint8Array,
  ciphertext: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  const sample = ciphertext.subarray(0, suite.nh);
  return {
    key: suite.expandWithLabel(senderDataSecret, "key", sample, suite.nk),
    nonce: suite.expandWithLabel(senderDataSecret, "nonce", sample, suite.nn),
  };
}

/** Decodes a serialised secret tree. */
export function readSecretTree(bytes: Uint8Array, suite: CipherSuite): SecretTree {
  const r = new Reader(bytes, "secret tree");
  const t = SecretTree.read(r, suite);
  r.end();
  return t;
}
