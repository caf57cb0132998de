// Shared helpers for the end-to-end protocol tests: a deterministic random source, a two-party setup,
// and assertions about ProtocolError codes and unchanged session state.
import assert from "node:assert/strict";
import { concatBytes, equalBytes, type RandomSource, utf8 } from "../../crypto/bytes.ts";
import { sha512 } from "../../crypto/sha2.ts";
import { ProtocolError, type ProtocolErrorCode } from "../../protocol/codec.ts";
import { generateIdentity, type Identity } from "../../protocol/identity.ts";
import { PrekeyStore } from "../../protocol/prekeys.ts";
import type { Session } from "../../protocol/ratchet.ts";
import type { BodyCipher, CurveName } from "../../protocol/suite.ts";
import { initiate, respond } from "../../protocol/x3dh.ts";

/**
 * A deterministic random source: the stream SHA-512(seed ‖ u32 counter) for counter = 0, 1, 2, …, each
 * block used in full before the next. Only for tests and known answers.
 */
export function seededRandom(seed: string): RandomSource {
  const label = utf8(seed);
  let counter = 0;
  let pool: Uint8Array = new Uint8Array(0);
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n;) {
      if (pool.length === 0) {
        pool = sha512(
          concatBytes(label, Uint8Array.of(counter >>> 24, counter >>> 16, counter >>> 8, counter)),
        );
        counter++;
      }
      const k = Math.min(pool.length, n - off);
      out.set(pool.subarray(0, k), off);
      pool = pool.subarray(k);
      off += k;
    }
    return out;
  };
}

/** A small deterministic PRNG for test decisions (xorshift32). */
export function decisions(seed: number): { int(n: number): number; chance(p: number): boolean } {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  return { int: (n) => Math.floor(next() * n), chance: (p) => next() < p };
}

const decoder = new TextDecoder();
export const text = (s: string): Uint8Array => utf8(s);
export const str = (b: Uint8Array): string => decoder.decode(b);

/** Fixed times for prekey stores. */
export const T0 = 1_700_000_000_000;

export interface Pair {
  a: Identity;
  b: Identity;
  store: PrekeyStore;
  alice: Session;
  bob: Session;
}

/** Alice starts a chat with Bob and her first message ("hello") is accepted by Bob. */
export function makePair(
  curve: CurveName = "P-256",
  options: { cipher?: BodyCipher; oneTime?: boolean; random?: RandomSource } = {},
): Pair {
  const a = generateIdentity(options.random), b = generateIdentity(options.random);
  const store = PrekeyStore.create(b, T0, options.random);
  if (options.oneTime !== false) store.addOneTimePrekeys(curve, 1, options.random);
  const alice = initiate(a, b.id, store.bundle(b.publicKeys), {
    now: T0,
    curve,
    cipher: options.cipher,
    random: options.random,
  });
  const { session: bob, plaintext } = respond(b, store, alice.encrypt(text("hello")), {
    now: T0,
    random: options.random,
  });
  assert.equal(str(plaintext), "hello");
  return { a, b, store, alice, bob };
}

/** Asserts that `fn` throws a ProtocolError with `code`. */
export function throwsCode(fn: () => unknown, code: ProtocolErrorCode | ProtocolErrorCode[]): ProtocolError {
  const codes = Array.isArray(code) ? code : [code];
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${e}`);
    assert.ok(codes.includes(e.code), `expected ${codes.join(" or ")}, got ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail(`expected a ProtocolError (${codes.join(" or ")}), nothing was thrown`);
}

/** Asserts that decrypting `message` fails with `code` and leaves the session byte-identical. */
export function rejects(
  session: Session,
  message: Uint8Array,
  code: ProtocolErrorCode | ProtocolErrorCode[],
): ProtocolError {
  const before = session.serialize();
  const e = throwsCode(() => session.decrypt(message), code);
  assert.ok(equalBytes(before, session.serialize()), "a failed decryption changed the session");
  return e;
}

/** True if `needle` occurs anywhere in `haystack`. */
export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** A copy of `bytes` with bit `bit` of byte `at` flipped. */
export function flip(bytes: Uint8Array, at: number, bit = 0): Uint8Array {
  const out = bytes.slice();
  out[at] ^= 1 << bit;
  return out;
}
