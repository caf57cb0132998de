// The scripted conversations behind vectors/protocol_kat.json, recorded through the trace hook with a
// fixed random source. Version 1 ("cases", classical X3DH, kept because such sessions still run): Alice
// starts a chat from Bob's bundle, sends two messages before any reply, Bob accepts and answers, Alice
// sends two more which arrive out of order. Version 2 ("pqxdh_cases"): the same start through PQXDH, then
// more turns so that the ratchet's KEM steps meet skipped and reordered messages, one of them from a chain
// older than the current one, and Alice ends holding a skipped key. tests/protocol/make_kat.ts writes the
// result; tests/protocol/kat_test.ts reproduces it.
import { bytesToHex } from "../../crypto/bytes.ts";
import { encodeIdentity, encodeIdentityPublic, formatId, generateIdentity } from "../../protocol/identity.ts";
import { encodePayload, type Payload } from "../../protocol/payload.ts";
import { decodeBundle, encodeBundle, PrekeyStore } from "../../protocol/prekeys.ts";
import type { Session } from "../../protocol/ratchet.ts";
import { safetyNumber } from "../../protocol/safety.ts";
import type { BodyCipher, CurveName, Trace } from "../../protocol/suite.ts";
import { initiate, respond } from "../../protocol/x3dh.ts";
import { classicalStore, initiateClassical, respondClassical } from "./_classical.ts";
import { seededRandom, T0 } from "./_helpers.ts";

/** One party's identity in a case: the ID in hex, written without and with its check character. */
interface Person {
  id: string;
  id_text: string;
  id_text_checked: string;
  identity_public: string;
  identity_secret: string;
}

export interface KatCase {
  name: string;
  curve: CurveName;
  cipher: BodyCipher;
  seed: string;
  now: number;
  alice: Person;
  bob: Person;
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

/** Runs the version 1 (classical) script for one case. */
export function runKatCase(spec: (typeof KAT_CASES)[number]): KatCase {
  const seed = `sotto protocol kat ${spec.curve}`;
  const random = seededRandom(seed);
  const record = (list: [string, string][]): Trace => (label, value) =>
    void list.push([label, bytesToHex(value)]);
  const trace = { alice: [] as [string, string][], bob: [] as [string, string][] };

  const a = generateIdentity(random), b = generateIdentity(random);
  const store = classicalStore(b, T0, random, { curve: spec.curve, count: spec.oneTime ? 1 : 0 });
  const bundle = store.bundle(b.publicKeys);
  const spk = bundle.signedPrekeys[spec.curve];
  // Copied now: the store wipes a one-time prekey's secret when it is used.
  const spkSecret = bytesToHex(store.signedPrekey(spec.curve, spk.id, T0)!.secretKey);
  const added = bundle.oneTimePrekeys[spec.curve];
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

  const alice = initiateClassical(a, b.id, decodeBundle(bundleBytes), {
    curve: spec.curve,
    cipher: spec.cipher,
    random,
    trace: record(trace.alice),
  });
  const a0 = send("alice", alice, text(1, "Hello Bob"));
  const a1 = send("alice", alice, text(2, "Second, before any reply"));
  const now = T0 + 60_000;
  const { session: bob } = respondClassical(b, store, a0, { now, random, trace: record(trace.bob) });
  bob.decrypt(a1);
  const b0 = send("bob", bob, text(1, "Hi Alice"));
  alice.decrypt(b0);
  const a2 = send("alice", alice, text(3, "Third"));
  const a3 = send("alice", alice, encodePayload({ type: "receipt", kind: "read", ids: [1] }));
  bob.decrypt(a3);
  bob.decrypt(a2);

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

const person = (p: ReturnType<typeof generateIdentity>) => ({
  id: bytesToHex(p.id),
  id_text: formatId(p.id, { check: false }),
  id_text_checked: formatId(p.id),
  identity_public: bytesToHex(encodeIdentityPublic(p.publicKeys)),
  identity_secret: bytesToHex(encodeIdentity(p)),
});

// ---- version 2: PQXDH and the ratchet with KEM steps -------------------------------------------------

interface KemPrekeyRecord {
  id: number;
  created_at: number;
  seed: string;
  public: string;
  signatures: Record<CurveName, string>;
}

export interface PqKatCase extends Omit<KatCase, "messages"> {
  kem_prekey: KemPrekeyRecord;
  one_time_kem_prekey: KemPrekeyRecord | null;
  /** What happened, in order: a party sends message i, or receives message i. */
  events: ["send" | "receive", "alice" | "bob", number][];
  messages: { from: "alice" | "bob"; payload: string; wire: string }[];
}

export const PQ_KAT_CASES: {
  name: string;
  curve: CurveName;
  cipher: BodyCipher;
  oneTime: boolean;
  oneTimeKem: boolean;
}[] = [
  {
    name: "PQXDH P-521, AES-256-GCM, one-time EC and KEM prekeys",
    curve: "P-521",
    cipher: "AES-256-GCM",
    oneTime: true,
    oneTimeKem: true,
  },
  {
    name: "PQXDH P-384, ChaCha20-Poly1305, no one-time prekeys (last-resort KEM prekey)",
    curve: "P-384",
    cipher: "ChaCha20-Poly1305",
    oneTime: false,
    oneTimeKem: false,
  },
  {
    name: "PQXDH P-256, AES-256-GCM, a one-time KEM prekey but no one-time EC prekey",
    curve: "P-256",
    cipher: "AES-256-GCM",
    oneTime: false,
    oneTimeKem: true,
  },
];

/** Runs the version 2 script for one case. */
export function runPqKatCase(spec: (typeof PQ_KAT_CASES)[number]): PqKatCase {
  const seed = `sotto pqxdh kat ${spec.curve}`;
  const random = seededRandom(seed);
  const record = (list: [string, string][]): Trace => (label, value) =>
    void list.push([label, bytesToHex(value)]);
  const trace = { alice: [] as [string, string][], bob: [] as [string, string][] };

  const a = generateIdentity(random), b = generateIdentity(random);
  // KEM prekey secrets are 64-byte seeds, the only 64-byte draws while the store is made: tap them.
  const drawn: Uint8Array[] = [];
  const tap = (n: number) => {
    const v = random(n);
    if (n === 64) drawn.push(v.slice());
    return v;
  };
  const store = PrekeyStore.create(b, T0, tap);
  const added = spec.oneTime ? store.addOneTimePrekeys(spec.curve, 1, tap) : [];
  const addedKem = spec.oneTimeKem ? store.addOneTimeKemPrekeys(b, 1, T0, tap) : [];
  const bundle = store.bundle(b.publicKeys);
  const spk = bundle.signedPrekeys[spec.curve];
  // Copied now: the store wipes one-time secrets when they are used.
  const spkSecret = bytesToHex(store.signedPrekey(spec.curve, spk.id, T0)!.secretKey);
  const opk = added[0]
    ? {
      id: added[0].id,
      secret: bytesToHex(store.oneTimePrekey(spec.curve, added[0].id)!.secretKey),
      public: bytesToHex(added[0].publicKey),
    }
    : null;
  const kemRecord = (k: NonNullable<typeof bundle.kemPrekey>, seed: Uint8Array): KemPrekeyRecord => ({
    id: k.id,
    created_at: k.createdAt,
    seed: bytesToHex(seed),
    public: bytesToHex(k.publicKey),
    signatures: {
      "P-256": bytesToHex(k.signatures["P-256"]),
      "P-384": bytesToHex(k.signatures["P-384"]),
      "P-521": bytesToHex(k.signatures["P-521"]),
    },
  });
  const bundleBytes = encodeBundle(bundle);
  const now = T0 + 60_000;

  const messages: PqKatCase["messages"] = [];
  const events: PqKatCase["events"] = [];
  const wires: Uint8Array[] = [];
  const text = (id: number, s: string) => encodePayload({ type: "text", id, text: s } satisfies Payload);
  const sessions: { alice?: Session; bob?: Session } = {};
  const send = (from: "alice" | "bob", payload: Uint8Array) => {
    const wire = sessions[from]!.encrypt(payload);
    events.push(["send", from, messages.length]);
    messages.push({ from, payload: bytesToHex(payload), wire: bytesToHex(wire) });
    wires.push(wire);
  };
  const receive = (to: "alice" | "bob", i: number) => {
    events.push(["receive", to, i]);
    if (sessions[to] === undefined) {
      sessions.bob = respond(b, store, wires[i], { now, random, trace: record(trace.bob) }).session;
    } else sessions[to]!.decrypt(wires[i]);
  };

  sessions.alice = initiate(a, b.id, decodeBundle(bundleBytes), {
    now,
    curve: spec.curve,
    cipher: spec.cipher,
    random,
    trace: record(trace.alice),
  });
  send("alice", text(1, "Hello Bob")); // 0: a prekey message (the first chain has no KEM ciphertext)
  send("alice", text(2, "Second, before any reply")); // 1
  receive("bob", 0); // respond: a DH step with an encapsulation to Alice's first KEM key
  receive("bob", 1);
  send("bob", text(1, "Hi Alice")); // 2
  receive("alice", 2); // a DH step: decapsulation, then a new KEM key and an encapsulation
  send("alice", text(3, "Third")); // 3
  send("alice", encodePayload({ type: "receipt", kind: "read", ids: [1] })); // 4
  receive("bob", 4); // a DH step; message 3 is skipped
  receive("bob", 3); // its skipped key
  send("bob", text(2, "Two")); // 5
  send("bob", text(3, "Three")); // 6
  receive("alice", 6); // a DH step; message 5 is skipped
  send("alice", text(4, "Four")); // 7
  receive("bob", 7); // a DH step
  send("bob", text(4, "Five")); // 8
  send("bob", text(5, "Six")); // 9
  receive("alice", 9); // a DH step; message 8 is skipped and stays
  receive("alice", 5); // the skipped key of an older chain, found by trial decryption of the header

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
    kem_prekey: kemRecord(bundle.kemPrekey!, drawn[0]),
    one_time_kem_prekey: addedKem[0] ? kemRecord(addedKem[0], drawn[1]) : null,
    bundle: bytesToHex(bundleBytes),
    events,
    messages,
    trace,
    final_state: {
      alice: bytesToHex(sessions.alice.serialize()),
      bob: bytesToHex(sessions.bob!.serialize()),
    },
    safety_number: safetyNumber(a.publicKeys, b.publicKeys),
  };
}

/** The whole vector file. */
export function makeKat() {
  return {
    source: "sotto docs/protocol.md (PQXDH §4, the Double Ratchet with header encryption and KEM steps §6, " +
      "encodings §3–§8, safety number §9); generated by tests/protocol/make_kat.ts. `cases`: protocol " +
      "version 1 (classical X3DH, sessions made before PQXDH); `pqxdh_cases`: protocol version 2",
    random:
      "each case draws from the stream SHA-512(seed ‖ u32 counter), counter = 0, 1, 2, … (big-endian), " +
      "every 64-byte block used in full before the next; secret keys and nonces drawn are also recorded below",
    cases: KAT_CASES.map(runKatCase),
    pqxdh_cases: PQ_KAT_CASES.map(runPqKatCase),
  };
}
