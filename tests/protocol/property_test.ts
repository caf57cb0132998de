// The property test of issue 4: thousands of random steps between two parties — sends, deliveries in a
// random order within a window, drops, duplicates, tampered copies and save/restore — where every
// delivered message decrypts exactly once to what was sent, and every rejected one (duplicate, tampered)
// leaves the receiver byte-identical. P-256 carries the long runs; P-521 a shorter one.
import assert from "node:assert/strict";
import type { ProtocolErrorCode } from "../../protocol/codec.ts";
import { Session } from "../../protocol/ratchet.ts";
import type { CurveName } from "../../protocol/suite.ts";
import { decisions, flip, makePair, rejects, seededRandom, str, text } from "./_helpers.ts";

type Side = "alice" | "bob";

interface Sent {
  to: Side;
  wire: Uint8Array;
  text: string;
}

const ANY: ProtocolErrorCode[] = ["malformed", "unsupported", "new-session", "undecryptable", "duplicate"];
/** Most messages in flight towards one side (beyond it, a send becomes a delivery). */
const WINDOW = 4;

function run(curve: CurveName, steps: number, seed: number, drops: boolean) {
  const d = decisions(seed);
  const pair = makePair(curve, { random: seededRandom(`property ${seed}`) });
  const parties: Record<Side, Session> = { alice: pair.alice, bob: pair.bob };
  const queues: Record<Side, Sent[]> = { alice: [], bob: [] };
  const delivered: Sent[] = [];
  const stats = { sent: 0, delivered: 0, duplicates: 0, tampered: 0, dropped: 0, restored: 0 };

  const deliver = (to: Side) => {
    const q = queues[to];
    if (q.length === 0) return;
    const [m] = q.splice(d.int(Math.min(3, q.length)), 1);
    assert.equal(str(parties[to].decrypt(m.wire)), m.text, `step: delivery of ${m.text}`);
    delivered.push(m);
    stats.delivered++;
  };

  for (let step = 0; step < steps; step++) {
    const to: Side = d.chance(0.5) ? "alice" : "bob";
    const from: Side = to === "alice" ? "bob" : "alice";
    const action = d.int(100);
    if (action < 40) {
      if (queues[to].length >= WINDOW) {
        deliver(to);
        continue;
      }
      const t = `${from}#${stats.sent++}`;
      queues[to].push({ to, wire: parties[from].encrypt(text(t)), text: t });
    } else if (action < 78) {
      deliver(to);
    } else if (action < 86) {
      const old = delivered.filter((m) => m.to === to);
      if (old.length === 0) continue;
      rejects(parties[to], old[d.int(old.length)].wire, ["duplicate", "undecryptable"]);
      stats.duplicates++;
    } else if (action < 92) {
      const pool = [...queues[to], ...delivered.filter((m) => m.to === to)];
      if (pool.length === 0) continue;
      const m = pool[d.int(pool.length)];
      rejects(parties[to], flip(m.wire, d.int(m.wire.length), d.int(8)), ANY);
      stats.tampered++;
    } else if (action < 96) {
      if (!drops || queues[to].length === 0) continue;
      queues[to].splice(d.int(queues[to].length), 1);
      stats.dropped++;
    } else {
      const bytes = parties[to].serialize();
      parties[to] = Session.deserialize(bytes, { random: seededRandom(`restore ${seed} ${step}`) });
      assert.deepEqual(parties[to].serialize(), bytes);
      stats.restored++;
    }
  }
  while (queues.alice.length + queues.bob.length > 0) deliver(queues.alice.length > 0 ? "alice" : "bob");
  // Nothing is read twice, and the conversation still works both ways.
  for (const m of delivered.slice(-20)) rejects(parties[m.to], m.wire, ["duplicate", "undecryptable"]);
  assert.equal(str(parties.bob.decrypt(parties.alice.encrypt(text("end a")))), "end a");
  assert.equal(str(parties.alice.decrypt(parties.bob.encrypt(text("end b")))), "end b");
  assert.ok(stats.delivered > steps / 4 && stats.duplicates > 0 && stats.tampered > 0, JSON.stringify(stats));
  return stats;
}

Deno.test("property: random sends, reorders, duplicates, tampering and restores (P-256)", async (t) => {
  for (const seed of [1, 2]) {
    await t.step(`seed ${seed}, no drops, 2000 steps`, () => void run("P-256", 2000, seed, false));
  }
  for (const seed of [3, 4]) {
    await t.step(`seed ${seed}, with drops, 2000 steps`, () => void run("P-256", 2000, seed, true));
  }
});

Deno.test("property: random steps on P-521", async (t) => {
  await t.step("seed 5, with drops, 800 steps", () => void run("P-521", 800, 5, true));
});
