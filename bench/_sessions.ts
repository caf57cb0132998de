// Session pairs for the protocol benches: PQXDH (version 2) or the classical X3DH of version 1 (kept in the
// tests, as no client starts one any more), each having exchanged one message each way.
import { systemRandom } from "../crypto/bytes.ts";
import { generateIdentity } from "../protocol/identity.ts";
import { PrekeyStore } from "../protocol/prekeys.ts";
import type { Session } from "../protocol/ratchet.ts";
import type { CurveName } from "../protocol/suite.ts";
import { initiate, respond } from "../protocol/x3dh.ts";
import { classicalStore, initiateClassical, respondClassical } from "../tests/protocol/_classical.ts";

const T = 1_700_000_000_000;
const payload = new Uint8Array(100).fill(0x61);

/** A session pair that has exchanged one message each way: PQXDH (version 2) or classical (version 1). */
export function pair(curve: CurveName, pq: boolean): { alice: Session; bob: Session } {
  const a = generateIdentity(), b = generateIdentity();
  let alice: Session, bob: Session;
  if (pq) {
    const store = PrekeyStore.create(b, T);
    alice = initiate(a, b.id, store.bundle(b.publicKeys), { now: T, curve });
    bob = respond(b, store, alice.encrypt(payload), { now: T }).session;
  } else {
    const store = classicalStore(b, T, systemRandom);
    alice = initiateClassical(a, b.id, store.bundle(b.publicKeys), { curve });
    bob = respondClassical(b, store, alice.encrypt(payload), { now: T }).session;
  }
  alice.decrypt(bob.encrypt(payload));
  return { alice, bob };
}
