// Property tests on simulated groups of 3 to 20 sotto members, driven by a seeded random source (a failure
// names its seed and step, and reruns identically): random sequences of adds (by value and by reference),
// removes, Update proposals, empty commits, public and private handshakes and application messages keep every
// member's epoch, epoch authenticator, tree hash and exporter equal; and after every step a tampered copy
// (a flipped bit, a truncation, an appended byte) or a replay of the step's message is refused by a member
// with an MlsError and leaves that member's serialised state byte for byte unchanged.
import assert from "node:assert/strict";
import { bytesToHex, utf8 } from "../../../crypto/bytes.ts";
import { MlsError } from "../../../protocol/mls/errors.ts";
import type { SuiteId } from "../../../protocol/mls/suite.ts";
import { decisions } from "../_helpers.ts";
import { assertAgree, Person, seededRandom } from "./_group.ts";

interface Run {
  seed: number;
  suite: SuiteId;
  steps: number;
  /** Grow to 20 members first (adds only), then random steps. */
  grow?: boolean;
}

const RUNS: Run[] = [
  { seed: 1, suite: 2, steps: 60 },
  { seed: 2, suite: 2, steps: 60 },
  { seed: 3, suite: 2, steps: 60 },
  { seed: 4, suite: 7, steps: 30 },
  { seed: 5, suite: 5, steps: 25 },
  { seed: 6, suite: 2, steps: 25, grow: true },
];

const MIN = 3, MAX = 20;

function simulate(run: Run): { epochs: number; messages: number; attacks: number; largest: number } {
  const random = seededRandom(`mls property ${run.seed}`);
  const d = decisions(run.seed);
  let counter = 0;
  const newPerson = () => new Person(`m${counter++}`, run.suite, random);
  const pick = <T>(xs: T[]): T => xs[d.int(xs.length)];
  const stats = { epochs: 0, messages: 0, attacks: 0, largest: 0 };

  // Start with 3 members.
  const first = newPerson();
  first.create(random(32), { handshakeWireFormat: d.chance(0.5) ? "public" : "private" });
  let members = [first];
  const joiners = [newPerson(), newPerson()];
  const c0 = first.g.commit({ add: joiners.map((p) => p.keyPackage()) });
  first.g.mergePendingCommit();
  for (const p of joiners) p.join(c0.welcome!, { handshakeWireFormat: d.chance(0.5) ? "public" : "private" });
  members.push(...joiners);
  assertAgree(members);

  /** Hands `msg` from `from` to everyone else; commits are merged by their sender. */
  const broadcast = (from: Person, msg: Uint8Array) => {
    for (const p of members) if (p !== from) p.g.process(msg);
  };

  /** A member that did not send `msg` tries tampered copies and a replay: all refused, state unchanged. */
  const attack = (sender: Person, msg: Uint8Array, replayable: boolean) => {
    const others = members.filter((p) => p !== sender && p.group?.active);
    if (others.length === 0) return;
    const victim = pick(others);
    const before = bytesToHex(victim.g.serialize());
    const variants: Uint8Array[] = [];
    const flip = msg.slice();
    const bit = d.int(msg.length * 8);
    flip[bit >> 3] ^= 1 << (bit & 7);
    variants.push(flip, msg.subarray(0, d.int(msg.length)), Uint8Array.of(...msg, d.int(256)));
    if (replayable) variants.push(msg);
    for (const v of variants) {
      assert.throws(
        () => victim.g.process(v),
        MlsError,
        `seed ${run.seed}: a tampered or replayed message was accepted`,
      );
      assert.equal(
        bytesToHex(victim.g.serialize()),
        before,
        `seed ${run.seed}: a refused message changed the state`,
      );
      stats.attacks++;
    }
  };

  const commitBy = (p: Person, options: Parameters<Person["g"]["commit"]>[0]) => {
    const c = p.g.commit(options);
    p.g.mergePendingCommit();
    broadcast(p, c.commit);
    stats.epochs++;
    return c;
  };

  for (let step = 0; step < run.steps; step++) {
    const at = `seed ${run.seed} step ${step}`;
    const action = run.grow && members.length < MAX ? 0 : d.int(6);
    try {
      if (action === 0 && members.length < MAX) {
        // Add 1 to 3 members by value.
        const committer = pick(members);
        const n = Math.min(1 + d.int(3), MAX - members.length);
        const fresh = Array.from({ length: n }, newPerson);
        const c = commitBy(committer, {
          add: fresh.map((p) => p.keyPackage()),
          ratchetTreeExtension: d.chance(0.7),
        });
        for (const p of fresh) p.join(c.welcome!, {}, c.ratchetTree);
        members.push(...fresh);
        attack(committer, c.commit, true);
      } else if (action === 1 && members.length > MIN) {
        // Remove one or two members by value.
        const committer = pick(members);
        const victims = members.filter((p) => p !== committer).sort(() => d.int(3) - 1).slice(
          0,
          1 + d.int(2),
        );
        if (members.length - victims.length < MIN) victims.length = 1;
        const c = commitBy(committer, { remove: victims.map((p) => p.g.ownLeaf) });
        for (const v of victims) assert.equal(v.g.active, false, at);
        members = members.filter((p) => !victims.includes(p));
        attack(committer, c.commit, true);
      } else if (action === 2) {
        // An Update proposal, committed by reference by someone else.
        const proposer = pick(members);
        const prop = proposer.g.proposeUpdate();
        broadcast(proposer, prop);
        attack(proposer, prop, true);
        const committer = pick(members.filter((p) => p !== proposer));
        const c = commitBy(committer, {});
        attack(committer, c.commit, true);
      } else if (action === 3) {
        // A proposal by reference: add (if room) or remove, committed by another member.
        const proposer = pick(members);
        let joiner: Person | undefined, target: Person | undefined;
        let prop: Uint8Array;
        if (members.length < MAX && d.chance(0.5)) {
          joiner = newPerson();
          prop = proposer.g.proposeAdd(joiner.keyPackage());
        } else if (members.length > MIN) {
          target = pick(members.filter((p) => p !== proposer));
          prop = proposer.g.proposeRemove(target.g.ownLeaf);
        } else {
          continue;
        }
        broadcast(proposer, prop);
        const committer = pick(members.filter((p) => p !== proposer && p !== target));
        const c = commitBy(committer, {});
        if (joiner) {
          joiner.join(c.welcome!);
          members.push(joiner);
        }
        members = members.filter((p) => p.g.active);
        attack(committer, c.commit, true);
      } else if (action === 4) {
        // An empty commit (path only), public or private at the member's choice.
        const committer = pick(members);
        const c = commitBy(committer, {});
        attack(committer, c.commit, true);
      } else {
        // Application messages from 1 to 3 members.
        for (let i = 0, n = 1 + d.int(3); i < n; i++) {
          const from = pick(members);
          const text = `${at} #${i} from ${from.name}`;
          const msg = from.g.encrypt(utf8(text), utf8(at));
          for (const p of members) {
            if (p === from) continue;
            const r = p.g.process(msg);
            assert.ok(r.kind === "application" && new TextDecoder().decode(r.data) === text, at);
          }
          stats.messages++;
          attack(from, msg, true);
        }
      }
      assertAgree(members);
      stats.largest = Math.max(stats.largest, members.length);
      assert.ok(members.length >= MIN && members.length <= MAX, at);
    } catch (e) {
      throw new Error(
        `${at} (action ${action}, ${members.length} members): ${e instanceof Error ? e.message : e}`,
        { cause: e },
      );
    }
  }
  return stats;
}

for (const run of RUNS) {
  Deno.test(`mls property: ${run.steps} random steps, 3 to 20 members, suite ${run.suite}, seed ${run.seed}`, () => {
    const s = simulate(run);
    assert.ok(s.epochs > run.steps / 4, `only ${s.epochs} epochs`);
    assert.ok(s.attacks > run.steps, `only ${s.attacks} attacks`);
    if (run.grow) assert.equal(s.largest, MAX);
  });
}
