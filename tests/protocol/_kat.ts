// The scripted conversation behind vectors/protocol_kat.json: with a fixed random source, Alice starts
// a chat from Bob's bundle, sends two messages before any reply, Bob accepts and answers, Alice sends two
// more which arrive out of order. Every intermediate value is recorded through the trace hook.
// tests/protocol/make_kat.ts writes the result; tests/protocol/kat_test.ts reproduces it.
import { bytesToHex } from "../../crypto/bytes.ts";
import { encodeIdentity, encodeIdentityPublic, formatId, generateIdentity } from "../../protocol/identity.ts";
import { encodePayload, type Payload } from "../../protocol/payload.ts";
import { decodeBundle, encodeBundle, PrekeyStore } from "../../protocol/prekeys.ts";
import { safetyNumber } from "../../protocol/safety.ts";
import type { BodyCipher, CurveName, Trace } from "../../protocol/suite.ts";
import { initiate, respond } from "../../protocol/x3dh.ts";
import { seededRandom, T0 } from "./_helpers.ts";

export interface KatCase {
  name: string;
  curve: CurveName;
  cipher: BodyCipher;
  seed: string;
  now: number;
  alice: { id: string; id_text: string; identity_public: string; identity_secret: string };
  bob: { id: string; id_text: string; identity_public: string; identity_secret: string };
  signed_prekey: { id: number; created_at: number; secret: string; public: string; signature: string };
  one_time_prekey: { id: number; secret: string; public: string } | null;
  bundle: string;
  messages: { from: "alice" | "bob"; payload: string; wire: string }[];
  trace: { alice: [string, string][]; bob: [string, string][] };
  final_state: { alice: string; bob: string };
  safety_number: string;
}

export const KAT_CASES: { name: string; curve: CurveName; cipher: BodyCipher; oneTime: boolean }[] = [
  { name: "P-521, AES-256-GCM, one-time prekey", curve: "P-521", cipher: "AES-256-GCM", oneTime: true },
  {
    name: "P-384, ChaCha20-Poly1305, no one-time prekey",
    curve: "P-384",
    cipher: "ChaCha20-Poly1305",
    oneTime: false,
  },
  { name: "P-256, AES-256-GCM, one-time prekey", curve: "P-256", cipher: "AES-256-GCM", oneTime: true },
];

/** Runs the script for one case. */
export function runKatCase(spec: (typeof KAT_CASES)[number]): KatCase {
  const seed = `sotto protocol kat ${spec.curve}`;
  const random = seededRandom(seed);
  const record = (list: [string, string][]): Trace => (label, value) =>
    void list.push([label, bytesToHex(value)]);
  const trace = { alice: [] as [string, string][], bob: [] as [string, string][] };

  const a = generateIdentity(random), b = generateIdentity(random);
  const store = PrekeyStore.create(b, T0, random);
  const added = spec.oneTime ? store.addOneTimePrekeys(spec.curve, 1, random) : [];
  const bundle = store.bundle(b.publicKeys);
  const spk = bundle.signedPrekeys[spec.curve];
  // Copied now: the store wipes a one-time prekey's secret when it is used.
  const spkSecret = bytesToHex(store.signedPrekey(spec.curve, spk.id, T0)!.secretKey);
  const opk = added[0]
    ? {
      id: added[0].id,
      secret: bytesToHex(store.oneTimePrekey(spec.curve, added[0].id)!.secretKey),
      public: bytesToHex(added[0].publicKey),
    }
    : null;
  const bundleBytes = encodeBundle(bundle);

  const messages: KatCase["messages"] = [];
  const text = (id: number, s: string) => encodePayload({ type: "text", id, text: s } satisfies Payload);
  const send = (
    from: "alice" | "bob",
    session: { encrypt(p: Uint8Array): Uint8Array },
    payload: Uint8Array,
  ) => {
    const wire = session.encrypt(payload);
    messages.push({ from, payload: bytesToHex(payload), wire: bytesToHex(wire) });
    return wire;
  };

  const alice = initiate(a, b.id, decodeBundle(bundleBytes), {
    curve: spec.curve,
    cipher: spec.cipher,
    random,
    trace: record(trace.alice),
  });
  const a0 = send("alice", alice, text(1, "Hello Bob"));
  const a1 = send("alice", alice, text(2, "Second, before any reply"));
  const now = T0 + 60_000;
  const { session: bob } = respond(b, store, a0, { now, random, trace: record(trace.bob) });
  bob.decrypt(a1);
  const b0 = send("bob", bob, text(1, "Hi Alice"));
  alice.decrypt(b0);
  const a2 = send("alice", alice, text(3, "Third"));
  const a3 = send("alice", alice, encodePayload({ type: "receipt", kind: "read", ids: [1] }));
  bob.decrypt(a3);
  bob.decrypt(a2);

  const person = (p: typeof a) => ({
    id: bytesToHex(p.id),
    id_text: formatId(p.id),
    identity_public: bytesToHex(encodeIdentityPublic(p.publicKeys)),
    identity_secret: bytesToHex(encodeIdentity(p)),
  });
  return {
    name: spec.name,
    curve: spec.curve,
    cipher: spec.cipher,
    seed,
    now,
    alice: person(a),
    bob: person(b),
    signed_prekey: {
      id: spk.id,
      created_at: spk.createdAt,
      secret: spkSecret,
      public: bytesToHex(spk.publicKey),
      signature: bytesToHex(spk.signature),
    },
    one_time_prekey: opk,
    bundle: bytesToHex(bundleBytes),
    messages,
    trace,
    final_state: { alice: bytesToHex(alice.serialize()), bob: bytesToHex(bob.serialize()) },
    safety_number: safetyNumber(a.publicKeys, b.publicKeys),
  };
}

/** The whole vector file. */
export function makeKat() {
  return {
    source: "sotto docs/protocol.md (X3DH §4, Double Ratchet with header encryption §6, encodings §3–§8, " +
      "safety number §9); generated by tests/protocol/make_kat.ts",
    random:
      "each case draws from the stream SHA-512(seed ‖ u32 counter), counter = 0, 1, 2, … (big-endian), " +
      "every 64-byte block used in full before the next; secret keys and nonces drawn are also recorded below",
    cases: KAT_CASES.map(runKatCase),
  };
}
