// The end-to-end layer: the handshake on each curve (Alice's initiate with her first message, Bob's respond
// that reads it), PQXDH beside the classical X3DH of version 1 as the baseline, and the Double Ratchet per
// message (encrypt + decrypt of a 100-byte payload) within a chain and with a DH ratchet step on every
// message (the two sides strictly alternate), the ratchet with KEM steps (version 2) beside the classical
// one, on P-521 and P-256. The classical handshake lives in the tests (no client starts one any more).
// bench/pq_budget.ts measures the same pairs interleaved in rounds, which is steadier on a busy host.
import { generateIdentity } from "../protocol/identity.ts";
import { PrekeyStore } from "../protocol/prekeys.ts";
import type { CurveName } from "../protocol/suite.ts";
import { initiate, respond } from "../protocol/x3dh.ts";
import { classicalStore, initiateClassical, respondClassical } from "../tests/protocol/_classical.ts";
import { systemRandom } from "../crypto/bytes.ts";
import { pair } from "./_sessions.ts";

const T = 1_700_000_000_000;
const payload = new Uint8Array(100).fill(0x61);

for (const curve of ["P-256", "P-384", "P-521"] as CurveName[]) {
  const alice = generateIdentity(), bob = generateIdentity();
  let store = PrekeyStore.create(bob, T);
  let classical = classicalStore(bob, T, systemRandom);
  const bundle = store.bundle(bob.publicKeys), classicalBundle = classical.bundle(bob.publicKeys);
  let accepted = 0, acceptedClassical = 0;
  Deno.bench({
    name: `X3DH (classical) initiate + first message (Alice) ${curve}`,
    group: `handshake Alice ${curve}`,
    baseline: true,
    fn: () => void initiateClassical(alice, bob.id, classicalBundle, { curve }).encrypt(payload),
  });
  Deno.bench({
    name: `PQXDH initiate + first message (Alice) ${curve}`,
    group: `handshake Alice ${curve}`,
    fn: () => void initiate(alice, bob.id, bundle, { now: T, curve }).encrypt(payload),
  });
  Deno.bench({
    name: `X3DH (classical) respond + read first message (Bob) ${curve}`,
    group: `handshake Bob ${curve}`,
    baseline: true,
    fn: (b) => {
      // Every initial message is accepted once, so each iteration needs a fresh one (made untimed).
      if (++acceptedClassical % 1000 === 0) classical = classicalStore(bob, T, systemRandom);
      const first = initiateClassical(alice, bob.id, classical.bundle(bob.publicKeys), { curve }).encrypt(
        payload,
      );
      b.start();
      respondClassical(bob, classical, first, { now: T });
      b.end();
    },
  });
  Deno.bench({
    name: `PQXDH respond + read first message (Bob) ${curve}`,
    group: `handshake Bob ${curve}`,
    fn: (b) => {
      if (++accepted % 1000 === 0) store = PrekeyStore.create(bob, T);
      const first = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T, curve }).encrypt(payload);
      b.start();
      respond(bob, store, first, { now: T });
      b.end();
    },
  });
}

for (const curve of ["P-521", "P-256"] as CurveName[]) {
  for (const pq of [false, true]) {
    const kind = pq ? "DH + KEM (v2)" : "DH only (v1)";
    const chain = pair(curve, pq);
    Deno.bench({
      name: `ratchet ${curve} ${kind}: encrypt + decrypt, same chain`,
      group: `ratchet ${curve} same chain`,
      baseline: !pq,
      fn: () => void chain.bob.decrypt(chain.alice.encrypt(payload)),
    });
    const ping = pair(curve, pq);
    let turn = 0;
    Deno.bench({
      name: `ratchet ${curve} ${kind}: encrypt + decrypt, a ratchet step on every message`,
      group: `ratchet ${curve} step`,
      baseline: !pq,
      fn: () => {
        const [from, to] = turn++ % 2 === 0 ? [ping.alice, ping.bob] : [ping.bob, ping.alice];
        to.decrypt(from.encrypt(payload));
      },
    });
  }
}
