// The group part of `deno task demo` (client/demo.ts): alice makes a group, invites bob over their chat (he
// accepts), then carol (a new client: a chat with alice first); the three talk over MLS through the relay;
// alice removes carol, who reads nothing sent after.

import type { ClientProcess } from "./driver.ts";
import type { ClientEvent } from "./events.ts";

type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;
type Next = <K extends ClientEvent["event"]>(
  c: ClientProcess,
  kind: K,
  test?: (e: Ev<K>) => boolean,
) => Promise<Ev<K>>;

export async function groupDemo(o: {
  say: (who: string, text: string) => void;
  next: Next;
  alice: ClientProcess;
  bob: ClientProcess;
  aliceId: string;
  start: (name: string) => ClientProcess;
}): Promise<void> {
  const { say, next, alice, bob } = o;
  const carol = o.start("carol");
  const c = await next(carol, "ready");
  say("carol", `new identity ${c.id}, logged in`);

  say("alice", "> /group new hikers");
  await alice.send("/group new hikers");
  const made = await next(alice, "group-created");
  say("relay", `records the group ${made.group.slice(0, 16)}… (MLS, alice the creator and first admin)`);

  const join = async (who: string, client: ClientProcess) => {
    say("alice", `> /switch hikers, then /group add ${who}`);
    await alice.send("/switch hikers");
    await alice.send(`/group add ${who}`);
    const inv = await next(client, "group-invitation");
    say(
      who,
      `is invited to "${inv.name}" (creator ${inv.creator.slice(0, 9)}…, ${inv.members.length} member(s))`,
    );
    say(who, "> /group accept   (a KeyPackage for this group goes to the relay, for alice only)");
    await client.send("/group accept");
    const joined = await next(client, "group-joined");
    say(who, `joined: ${joined.members.length} members, from the Welcome of alice's commit`);
    await client.send("/switch hikers");
  };
  await join("bob", bob);

  say("carol", `> /chat ${o.aliceId} alice   (alice can invite only people she has a chat with)`);
  await carol.send(`/chat ${o.aliceId} alice`);
  await next(carol, "chat-requested");
  await alice.send(`/chat ${c.id} carol`);
  await next(alice, "chat-open", (e) => e.chat === c.id);
  await join("carol", carol);

  const text = "Saturday, nine o'clock at the station?";
  say("alice", `> ${text}`);
  await alice.send("/switch hikers");
  await alice.send(text);
  for (const [who, client] of [["bob", bob], ["carol", carol]] as const) {
    const m = await next(client, "group-message", (e) => e.text === text);
    say(who, `#${m.name} ${m.nick ?? m.from.slice(0, 9)}: ${m.text}`);
  }

  say("alice", `> /group remove carol`);
  await alice.send("/group remove carol");
  const removed = await next(carol, "group-removed");
  say("carol", `was removed from "${removed.name}": a commit changed the group's keys`);
  await next(bob, "group-member-removed", (e) => e.member === c.id);
  const after = "Just the two of us now.";
  say("bob", `> ${after}`);
  await bob.send(after);
  await next(alice, "group-message", (e) => e.text === after);
  say("alice", `#hikers bob: ${after}`);
  await new Promise((r) => setTimeout(r, 300));
  const leaked = carol.events.some((e) => e.event === "group-message" && e.text === after);
  say("carol", leaked ? "READ IT" : "reads nothing sent after her removal");
  if (leaked) throw new Error("a removed member read a message");
  await carol.send("/quit");
  await carol.end();
}
