// Groups survive a relay killed with `kill -9` in the middle of traffic: after a restart on the same data
// folder, every member gets every message the relay had answered GroupAccepted for (and had not been
// acknowledged by that member), in the log's order, and the group goes on (a commit, messages).

import assert from "node:assert/strict";
import { assertInSync, GroupUser, invite, type Read } from "./_groups.ts";
import { spawnServer } from "./_process.ts";

Deno.test("groups: a relay killed with kill -9 during group traffic loses nothing it acknowledged", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-group-kill-" });
  let users: GroupUser[] = [];
  try {
    let server = await spawnServer(dir, ["-q"]);
    users = await GroupUser.many(server.port, 3);
    const [a, b, c] = users;
    const g = await a.createGroup();
    await invite(a, g, [b, c]);

    // b reads and acknowledges as entries come; c reads nothing (its cursor stays); a sends without waiting
    // for each answer (up to 40 in flight), and the relay is killed once 120 were accepted: some read by b,
    // some not, some in flight.
    const accepted = new Set<string>();
    const seen = new Map<GroupUser, Set<string>>([[b, new Set()], [c, new Set()]]);
    const note = (u: GroupUser, reads: Read[]) => {
      for (const r of reads) if (r.kind === "application") seen.get(u)!.add(r.text);
    };
    const bReads = (async () => {
      for (;;) {
        const f = await b.nextEntry(g).catch(() => null);
        if (f === null) return;
        note(b, [await b.handle(f).catch(() => ({ kind: "own", seq: 0 }) as Read)]);
      }
    })();
    // Up to 30 sends are in flight at once: the relay serves a's connection at its budget's rate (a GroupSend
    // costs 10 units), however fast or loaded the machine is, so a waits for answers rather than for time.
    let killed = false;
    const sending: Promise<void>[] = [];
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < 2000 && !killed; i++) {
      const text = `m${i}`;
      const p: Promise<void> = a.send(g, text).then((r) => {
        if (r.type === "group-accepted") accepted.add(text);
        if (accepted.size === 120 && !killed) {
          killed = true;
          server.child.kill("SIGKILL");
        }
      }, () => {}).finally(() => inFlight.delete(p));
      sending.push(p);
      inFlight.add(p);
      if (inFlight.size >= 30) await Promise.race(inFlight);
    }
    assert.ok(killed, "traffic ended before the relay was killed");
    assert.equal((await server.child.status).signal, "SIGKILL");
    await server.rest;
    await server.stderr;
    await Promise.all(sending);
    await bReads;
    const beforeB = seen.get(b)!.size;
    assert.equal(seen.get(c)!.size, 0);

    // Restart: both get everything accepted, in order; then the group goes on.
    server = await spawnServer(dir, ["-q"]);
    for (const u of users) await u.reconnect(server.port);
    for (const u of [b, c]) {
      const got = seen.get(u)!;
      let last = 0;
      while ([...accepted].some((t) => !got.has(t))) {
        const f = await u.nextEntry(g);
        assert.ok(f.seq > last, "in order");
        last = f.seq;
        note(u, [await u.handle(f)]);
      }
    }
    // b had read (and acknowledged) some before the kill, c none: both a moved cursor and a whole log.
    assert.ok(beforeB > 0, "b read messages before the kill");
    // a reads its own entries back (up to the last accepted), then everyone moves on together.
    const commit = await c.commit(g);
    assert.equal(commit.type, "group-accepted");
    const seq = (commit as { seq: number }).seq;
    for (const u of users) await u.readUntil(g, seq);
    assertInSync(g, users);
    assert.equal((await b.send(g, "after the restart")).type, "group-accepted");
    for (const u of [a, c]) {
      const reads = await u.readUntil(g, seq + 1);
      assert.ok(reads.some((r) => r.kind === "application" && r.text === "after the restart"));
    }
    for (const u of users) await u.close();
    users = [];
    server.child.kill("SIGTERM");
    assert.equal((await server.child.status).code, 0);
    await server.rest;
    assert.equal(await server.stderr, "");
  } finally {
    for (const u of users) await u.close();
    await Deno.remove(dir, { recursive: true });
  }
});
