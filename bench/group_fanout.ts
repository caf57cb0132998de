// Group fan-out through the relay (run by hand; Linux: reads /proc): the relay in a child process, a group
// of `members` sotto users in this process (100 client processes do not fit on two cores), each with its
// own TLS connection. Measures, for application messages sent to the group, the time from a member's
// GroupSend to each other member's GroupDeliver (the relay logs the message once, then writes it to every
// connection), and beside it, in the same run and interleaved, the same for a 1:1 message between two
// other users (Send to Deliver): the baseline. Usage:
//   deno run -A bench/group_fanout.ts members=100 rate=5 seconds=100 senders=5 suite=2
//
// The group is built the way sotto builds one: the creator invites 9 members (1:1 chats, acceptances with
// KeyPackages, one commit with the Welcome), each of whom invites about a tenth of the rest in turn. The
// messages are real MLS PrivateMessages (100 bytes of text, padded to 350); members do not decrypt them
// during the measurement (that cost is in docs/performance.md's MLS table), they acknowledge each entry as
// it arrives, as a client does once it has stored it.

import { bytesToHex, equalBytes } from "../crypto/bytes.ts";
import type { SuiteId } from "../protocol/mls/mod.ts";
import { chat, GroupUser } from "../tests/server/_groups.ts";
import { makeUser, TestClient } from "../tests/server/_helpers.ts";
import { ONE_ADDRESS_FLAGS, startRelayChild } from "./_relay.ts";

const args = Object.fromEntries(Deno.args.map((a) => a.split("=")));
const MEMBERS = Number(args.members ?? 100);
const RATE = Number(args.rate ?? 5); // group messages per second (and as many 1:1 messages)
const SECONDS = Number(args.seconds ?? 100); // 500 messages: p99 of the last member is its 5th worst
const SENDERS = Math.min(Number(args.senders ?? 5), Math.round(Math.sqrt(MEMBERS - 1)));
const SUITE = Number(args.suite ?? 2) as SuiteId;

const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`host load before: ${load()} (1, 5, 15 min; ${navigator.hardwareConcurrency} cores)`);
const relay = await startRelayChild(undefined, [...ONE_ADDRESS_FLAGS, "--group-members", String(MEMBERS)]);
const users = await loginAll(MEMBERS);
const t0 = performance.now();
const groupId = await build(users);
console.log(
  `group of ${MEMBERS} built in ${((performance.now() - t0) / 1000).toFixed(1)} s (suite ${SUITE})`,
);

// The baseline pair.
const [p, q] = [makeUser(1), makeUser(1)];
const { client: cp } = await TestClient.login(relay.port, p);
const { client: cq } = await TestClient.login(relay.port, q);
await cp.upload(p);
await cq.upload(q);
await cp.request({ type: "request-chat", requestId: 0, peerId: q.identity.id, curve: "P-256" });
await cq.request({ type: "request-chat", requestId: 0, peerId: p.identity.id, curve: "P-256" });
for (const c of [cp, cq]) await c.send({ type: "ack", ids: [(await c.next("chat-opened")).eventId] });

// Receivers: every member acknowledges each group entry as it arrives and notes when.
const sentAt = new Map<string, number>();
const groupLatency: number[] = [], lastMember: number[] = [], pairLatency: number[] = [];
const arrivals = new Map<string, number>();
let stopping = false;
const readers = users.map((u) =>
  (async () => {
    for (;;) {
      const f = await u.client.next("group-deliver", (x) => equalBytes(x.groupId, groupId)).catch(() => null);
      if (f === null || stopping) return;
      const now = performance.now();
      void u.client.send({ type: "ack", ids: [f.entryId] }).catch(() => {});
      if (f.kind !== "message" || equalBytes(f.from, u.id)) continue;
      const key = tagOf(f.body);
      const at = sentAt.get(key);
      if (at === undefined) continue;
      groupLatency.push(now - at);
      const n = (arrivals.get(key) ?? 0) + 1;
      arrivals.set(key, n);
      if (n === MEMBERS - 1) lastMember.push(now - at);
    }
  })()
);
const pairReader = (async () => {
  for (;;) {
    const d = await cq.next("deliver").catch(() => null);
    if (d === null || stopping) return;
    const at = sentAt.get(bytesToHex(d.messageId));
    if (at !== undefined) pairLatency.push(performance.now() - at);
    await cq.send({ type: "ack", ids: [d.messageId] });
  }
})();

// The measurement: RATE group messages a second from SENDERS members in turn, each beside a 1:1 message.
const text = new TextEncoder().encode("x".repeat(100));
const cpu0 = relay.cpuMs(), self0 = selfCpuMs(), w0 = performance.now();
const total = Math.round(RATE * SECONDS);
const pending: Promise<void>[] = [];
for (let i = 0; i < total; i++) {
  const due = w0 + (i * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const sender = users[i % SENDERS]; // the creator and the first inviters keep MLS state
  const message = sender.group(groupId).encrypt(text);
  const requestId = sender.client.requestId();
  const messageId = crypto.getRandomValues(new Uint8Array(16));
  sentAt.set(tagOf(message), performance.now());
  await sender.client.send({ type: "group-send", requestId, groupId, messageId, message });
  pending.push(sender.client.next("group-accepted", (f) => f.requestId === requestId).then(() => {}));
  const mid = crypto.getRandomValues(new Uint8Array(16));
  sentAt.set(bytesToHex(mid), performance.now());
  await cp.send({ type: "send", requestId: cp.requestId(), to: q.identity.id, messageId: mid, body: text });
}
await Promise.all(pending);
await new Promise((r) => setTimeout(r, 2000));
const cpu = relay.cpuMs() - cpu0, selfCpu = selfCpuMs() - self0, wall = performance.now() - w0;
console.log(`host load after: ${load()}`);
stopping = true;

const missing = total * (MEMBERS - 1) - groupLatency.length;
report(`group of ${MEMBERS}, GroupSend → GroupDeliver, each member`, groupLatency);
report(`group of ${MEMBERS}, GroupSend → the last of ${MEMBERS - 1} members`, lastMember);
report("1:1 baseline, Send → Deliver", pairLatency);
const ratio = (a: number[], b: number[], q: number) => (pct(a, q) / pct(b, q)).toFixed(1);
console.log(
  `ratio group (each member) ÷ 1:1: p50 ${ratio(groupLatency, pairLatency, 0.5)}, ` +
    `p99 ${ratio(groupLatency, pairLatency, 0.99)}; deliveries missing: ${missing}`,
);
console.log(
  `relay CPU ${(cpu / 1000).toFixed(2)} s over ${(wall / 1000).toFixed(1)} s ` +
    `(${((100 * cpu) / wall).toFixed(0)}% of a core) for ${total} group messages ` +
    `(${total * (MEMBERS - 1)} deliveries) and ${total} 1:1 messages; RSS ${relay.rssKiB()} KiB; ` +
    `this process (the ${MEMBERS + 2} clients) ${((100 * selfCpu) / wall).toFixed(0)}% of a core`,
);

for (const u of users) await u.close();
await cp.close();
await cq.close();
await Promise.allSettled([...readers, pairReader]);
await relay.stop();

// ---- helpers -------------------------------------------------------------------------------------------

async function loginAll(n: number): Promise<GroupUser[]> {
  const out: GroupUser[] = [];
  for (let i = 0; i < n; i += 20) {
    out.push(
      ...await Promise.all(
        Array.from({ length: Math.min(20, n - i) }, () => GroupUser.login(relay.port, SUITE)),
      ),
    );
  }
  return out;
}

/**
 * The creator invites about √n members; each of them, once in, invites its share of the rest. Only the
 * inviters keep MLS state up to date (they must, to commit); the others just acknowledge what they get.
 */
async function build(all: GroupUser[]): Promise<Uint8Array> {
  const [creator, ...rest] = all;
  const g = await creator.createGroup();
  const fanout = Math.max(1, Math.round(Math.sqrt(rest.length)) - 1);
  const first = rest.slice(0, fanout);
  const inviters = [creator, ...first];
  const plan: [GroupUser, GroupUser[]][] = [[creator, first]];
  const others = rest.slice(fanout);
  const share = Math.ceil(others.length / first.length);
  first.forEach((u, i) => plan.push([u, others.slice(i * share, (i + 1) * share)]));
  const joined = new Set<GroupUser>([creator]);
  for (const [inviter, invitees] of plan) {
    if (invitees.length === 0) continue;
    for (const u of invitees) await chat(inviter, u);
    for (const u of invitees) {
      const r = await u.acceptInvite(g, inviter.id);
      if (r.code !== "ok") throw new Error(`accept: ${r.code} ${r.detail}`);
    }
    const kps: Uint8Array[] = [];
    for (const _ of invitees) kps.push((await inviter.nextInvite(g)).keyPackage);
    const answer = await inviter.commit(g, { add: kps });
    if (answer.type !== "group-accepted") throw new Error(`commit: ${answer.code} ${answer.detail}`);
    for (const u of invitees) joined.add(u);
    // Inviters follow the group in MLS (they must, to commit); everyone acknowledges.
    for (const u of joined) {
      if (inviters.includes(u)) await u.readUntil(g, answer.seq);
      else await drain(u, g, answer.seq);
    }
  }
  return g;
}

/** Acknowledges entries of `g` up to `seq` without processing them. */
async function drain(u: GroupUser, g: Uint8Array, seq: number): Promise<void> {
  for (;;) {
    const f = await u.nextEntry(g);
    await u.client.send({ type: "ack", ids: [f.entryId] });
    if (f.seq >= seq) return;
  }
}

/** This process's user + system CPU time so far, in ms. */
function selfCpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** A message's identity for timing: its last 32 bytes (AEAD ciphertext and tag, unique per message). */
function tagOf(body: Uint8Array): string {
  return bytesToHex(body.subarray(body.length - 32));
}

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function report(what: string, xs: number[]): void {
  if (xs.length === 0) return console.log(`${what}: no samples`);
  const f = (q: number) => pct(xs, q).toFixed(1);
  console.log(
    `${what} (${xs.length}): p50 ${f(0.5)} ms, p90 ${f(0.9)} ms, p99 ${f(0.99)} ms, max ${f(1)} ms`,
  );
}
