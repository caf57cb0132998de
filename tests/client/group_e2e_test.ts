// Groups end to end with real processes on 127.0.0.1 (client/driver.ts): a relay (`server.ts --port 0`)
// and clients in line mode with --json. Three clients make a group and talk, a fourth is added, one is
// removed (and reads nothing new), the relay is killed with SIGKILL in the middle of a burst and restarted
// (nothing is lost: every text reaches every member exactly once), an invitation declined leaves no
// trace, a member leaves, a member who is not an admin cannot remove, and a file over 1 MiB reaches every
// member byte-identical.

import assert from "node:assert/strict";
import { join } from "node:path";
import { systemRandom } from "../../crypto/bytes.ts";
import { ClientProcess, RelayProcess } from "../../client/driver.ts";
import type { ClientEvent } from "../../client/events.ts";

type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;

async function next<K extends ClientEvent["event"]>(
  c: ClientProcess,
  kind: K,
  test: (e: Ev<K>) => boolean = () => true,
  from = 0,
): Promise<Ev<K>> {
  return await c.waitFor((e) => e.event === kind && test(e as Ev<K>), kind, 90_000, from) as Ev<K>;
}

function all<K extends ClientEvent["event"]>(c: ClientProcess, kind: K): Ev<K>[] {
  return c.events.filter((e) => e.event === kind) as Ev<K>[];
}

interface Person {
  name: string;
  c: ClientProcess;
  id: string;
}

async function world(
  fn: (w: {
    root: string;
    start(name: string, extra?: string[]): Promise<Person>;
    restartRelay(): Promise<void>;
  }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-group-e2e-" });
  let relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  try {
    await fn({
      root,
      async start(name, extra = []) {
        const c = ClientProcess.start({
          dataDir: join(root, name),
          port: relay.port,
          pin: relay.pin,
          passphrase: `${name} passphrase`,
          curve: "P-256",
          readable: [root],
          extraArgs: extra,
        });
        clients.push(c);
        return { name, c, id: (await next(c, "ready")).id };
      },
      async restartRelay() {
        await relay.stop("SIGKILL");
        relay = await RelayProcess.start(join(root, "relay"), relay.port);
      },
    });
  } finally {
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
}

/** Opens a 1:1 chat between a and b. */
async function chat(a: Person, b: Person): Promise<void> {
  const fa = a.c.events.length, fb = b.c.events.length;
  await a.c.send(`/chat ${b.id} ${b.name}`);
  await next(a.c, "chat-requested", undefined, fa);
  await b.c.send(`/chat ${a.id} ${a.name}`);
  await next(a.c, "chat-open", undefined, fa);
  await next(b.c, "chat-open", undefined, fb);
}

/** `owner` adds `u` to its group `name` (a chat first if needed); resolves once `u` joined. */
async function add(owner: Person, u: Person, name: string, withChat = true): Promise<void> {
  if (withChat) await chat(owner, u);
  const from = u.c.events.length;
  await owner.c.send(`/switch ${name}`);
  await owner.c.send(`/group add ${u.name}`);
  await next(u.c, "group-invitation", (e) => e.name === name, from);
  await u.c.send(`/group accept ${name}`);
  await next(u.c, "group-joined", (e) => e.name === name, from);
  await u.c.send(`/switch ${name}`);
}

const texts = (c: ClientProcess) => all(c, "group-message").map((e) => e.text);

Deno.test("e2e groups: make, talk, add, remove, a relay killed with SIGKILL, nothing lost", async () => {
  await world(async (w) => {
    const [alice, bob, carol, dave] = await Promise.all(
      ["alice", "bob", "carol", "dave"].map((n) => w.start(n)),
    );
    await alice.c.send("/group new e2e");
    await next(alice.c, "group-created");
    await add(alice, bob, "e2e");
    await add(alice, carol, "e2e");
    await next(carol.c, "group-switched");

    await alice.c.send("one from alice");
    await bob.c.send("one from bob");
    await carol.c.send("one from carol");
    for (
      const [u, want] of [[alice, ["one from bob", "one from carol"]], [bob, [
        "one from alice",
        "one from carol",
      ]], [carol, ["one from alice", "one from bob"]]] as const
    ) {
      for (const t of want) await next(u.c, "group-message", (e) => e.text === t);
    }

    // A fourth member.
    await add(alice, dave, "e2e");
    await dave.c.send("dave joined");
    for (const u of [alice, bob, carol]) await next(u.c, "group-message", (e) => e.text === "dave joined");

    // The relay dies in the middle of a burst; what was typed reaches everyone once, after its return.
    const burst = Array.from({ length: 20 }, (_, i) => `burst ${i}`);
    const before = alice.c.events.length;
    for (const t of burst) await alice.c.send(t);
    await next(alice.c, "group-queued", (e) => e.at === "relay", before);
    await w.restartRelay();
    await bob.c.send("bob after the restart");
    for (const u of [bob, carol, dave]) {
      for (const t of burst) await next(u.c, "group-message", (e) => e.text === t);
      assert.deepEqual(
        texts(u.c).filter((t) => t.startsWith("burst ")),
        burst,
        `${u.name}: each once, in order`,
      );
    }
    for (const u of [alice, carol, dave]) {
      await next(u.c, "group-message", (e) => e.text === "bob after the restart");
    }

    // carol is removed by the creator and reads nothing new.
    await alice.c.send(`/group remove ${carol.id}`);
    await next(carol.c, "group-removed");
    for (const u of [bob, dave]) await next(u.c, "group-member-removed", (e) => e.member === carol.id);
    await bob.c.send("carol cannot read this");
    for (const u of [alice, dave]) {
      await next(u.c, "group-message", (e) => e.text === "carol cannot read this");
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!texts(carol.c).includes("carol cannot read this"));
    for (const u of [alice, bob, dave]) assert.deepEqual(all(u.c, "error"), [], `${u.name}: no errors`);
  });
});

Deno.test("e2e groups: declined leaves no trace, leaving, non-admins cannot remove, a file over 1 MiB", async () => {
  await world(async (w) => {
    const [alice, bob, carol, erin] = await Promise.all(
      ["alice", "bob", "carol", "erin"].map((n) => w.start(n)),
    );
    await alice.c.send("/group new second");
    await next(alice.c, "group-created");
    await add(alice, bob, "second");
    await add(alice, carol, "second");

    // erin declines: she keeps nothing, the members hear nothing.
    await chat(alice, erin);
    await alice.c.send("/switch second");
    await alice.c.send("/group add erin");
    await next(erin.c, "group-invitation");
    await erin.c.send("/group decline second");
    await next(erin.c, "group-declined");
    await alice.c.send("/group members");
    const members = await next(alice.c, "group-members");
    assert.deepEqual(members.members.map((m) => m.id).sort(), [alice.id, bob.id, carol.id].sort());
    assert.ok(![bob, carol].some((u) => JSON.stringify(u.c.events).includes(erin.id)), "no trace of erin");

    // bob, not an admin, cannot remove carol.
    const fb = bob.c.events.length;
    await bob.c.send("/group remove carol");
    assert.match((await next(bob.c, "error", undefined, fb)).message, /^Only the group's creator/);

    // A file over 1 MiB, uploaded once, received byte-identical by every member that accepts it.
    const data = systemRandom(1_500_000);
    const path = join(w.root, "big.bin");
    await Deno.writeFile(path, data);
    await alice.c.send(`/file ${path}`);
    for (const u of [bob, carol]) {
      const offer = await next(u.c, "group-file-offer", (e) => e.direction === "receive");
      assert.equal(offer.size, data.length);
      await u.c.send(`/accept ${offer.file.slice(0, 8)}`);
      const got = await next(u.c, "group-file-received");
      assert.deepEqual(await Deno.readFile(got.path), data, u.name);
    }
    await next(alice.c, "group-file-sent");

    // bob leaves; the others see it and he reads nothing new.
    await bob.c.send("/group leave");
    await next(bob.c, "group-left");
    for (const u of [alice, carol]) {
      await next(u.c, "group-member-removed", (e) => e.member === bob.id && e.left);
    }
    await carol.c.send("after bob");
    await next(alice.c, "group-message", (e) => e.text === "after bob");
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!texts(bob.c).includes("after bob"));
  });
});
