// The end-to-end layer: X3DH on each curve (Alice's initiate with her first message, Bob's respond that
// reads it), and the Double Ratchet per message (encrypt + decrypt of a 100-byte payload) within a chain
// and with a DH ratchet step on every message (the two sides strictly alternate), on P-521 and P-256.
// Web Crypto has no X3DH or ratchet, so there is no baseline beside these.
import { generateIdentity } from "../protocol/identity.ts";
import { PrekeyStore } from "../protocol/prekeys.ts";
import type { Session } from "../protocol/ratchet.ts";
import type { CurveName } from "../protocol/suite.ts";
import { initiate, respond } from "../protocol/x3dh.ts";

const T = 1_700_000_000_000;
const payload = new Uint8Array(100).fill(0x61);

for (const curve of ["P-256", "P-384", "P-521"] as CurveName[]) {
  const alice = generateIdentity(), bob = generateIdentity();
  let store = PrekeyStore.create(bob, T);
  const bundle = store.bundle(bob.publicKeys);
  let accepted = 0;
  Deno.bench({
    name: `X3DH initiate + first message (Alice) ${curve}`,
    group: `x3dh ${curve}`,
    baseline: true,
    fn: () => void initiate(alice, bob.id, bundle, { now: T, curve }).encrypt(payload),
  });
  Deno.bench({
    name: `X3DH respond + read first message (Bob) ${curve}`,
    group: `x3dh ${curve}`,
    fn: (b) => {
      // Every initial message is accepted once, so each iteration needs a fresh one (made untimed).
      if (++accepted % 1000 === 0) store = PrekeyStore.create(bob, T);
      const first = initiate(alice, bob.id, store.bundle(bob.publicKeys), { now: T, curve }).encrypt(
        payload,
      );
      b.start();
      respond(bob, store, first, { now: T });
      b.end();
    },
  });
}

function pair(curve: CurveName): { alice: Session; bob: Session } {
  const a = generateIdentity(), b = generateIdentity();
  const store = PrekeyStore.create(b, T);
  const alice = initiate(a, b.id, store.bundle(b.publicKeys), { now: T, curve });
  const { session: bob } = respond(b, store, alice.encrypt(payload), { now: T });
  alice.decrypt(bob.encrypt(payload));
  return { alice, bob };
}

for (const curve of ["P-521", "P-256"] as CurveName[]) {
  const chain = pair(curve);
  Deno.bench({
    name: `ratchet ${curve}: encrypt + decrypt, same chain`,
    group: `ratchet ${curve}`,
    baseline: true,
    fn: () => void chain.bob.decrypt(chain.alice.encrypt(payload)),
  });
  const ping = pair(curve);
  let turn = 0;
  Deno.bench({
    name: `ratchet ${curve}: encrypt + decrypt, DH step on every message`,
    group: `ratchet ${curve}`,
    fn: () => {
      const [from, to] = turn++ % 2 === 0 ? [ping.alice, ping.bob] : [ping.bob, ping.alice];
      to.decrypt(from.encrypt(payload));
    },
  });
}
