// MLS speed and size (issue 13), run by hand:
//   deno run --allow-run=deno --allow-read --allow-sys=loadavg bench/mls_figures.ts [rounds=2] [suites=5,2]
//
// For P-521 (suite 5) and P-256 (suite 2), in one process and one run:
//   1. sotto alone, in a group of sotto identities (sotto's credential policy):
//      - a full group of 100 created from scratch: the creator's one commit adding 99 members (time; commit
//        and Welcome sizes), and one joiner processing that Welcome (tree of 100 leaves, all validated);
//      - a commit adding one member to a group of 99 (so the group has 100): creating it, another member
//        processing it, the Welcome's size and the new member's join;
//      - an application message of 100 bytes in the group of 100: encrypt, decrypt;
//      - beside them, the curve's ECDH and ECDSA verify in the same process, so every figure also reads as
//        a count of these (robust to the host's load, which moves absolute times by ±30%).
//   2. sotto beside ts-mls 1.6.4 (../shared/tools/mls-peer.ts, @noble/curves and Web Crypto, its own
//      process, timed inside the peer by its --verbose log), in one mixed group of 99 created by the peer:
//      a commit adding one member (ours, then the peer's), processing it (the peer, one of ours), an
//      application message (send and process both ways), and the full group of 100 from scratch (the peer
//      adding 99 of our KeyPackages at once).
// Medians of `rounds` runs; the host's load average is printed before and after.
import { bytesToHex, type RandomSource } from "../crypto/bytes.ts";
import { generateIdentity, type Identity } from "../protocol/identity.ts";
import { basicCredentialPolicy, sottoCredentialPolicy, sottoSigner } from "../protocol/mls/credential.ts";
import { type GroupConfig, MlsGroup } from "../protocol/mls/group.ts";
import { createKeyPackage, type KeyPackageBundle, keyPackageMessage } from "../protocol/mls/keypackage.ts";
import { ContentType, decodeMlsMessage, WireFormat } from "../protocol/mls/messages.ts";
import { type CipherSuite, getSuite, type SuiteId } from "../protocol/mls/suite.ts";

const args = Object.fromEntries(Deno.args.map((a) => a.split("=")));
const ROUNDS = Number(args.rounds ?? 2);
const SUITES = (args.suites ?? "5,2").split(",").map(Number) as SuiteId[];
const PEER = new URL("../../shared/tools/mls-peer.ts", import.meta.url).pathname;

const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const time = <T>(f: () => T): [T, number] => {
  const t = performance.now();
  const r = f();
  return [r, performance.now() - t];
};

// ---- sotto members -----------------------------------------------------------------------------------

class Member {
  readonly identity: Identity;
  bundle?: KeyPackageBundle;
  group?: MlsGroup;
  constructor(readonly suite: CipherSuite, readonly random: RandomSource, readonly cfg: GroupConfig) {
    this.identity = generateIdentity(random);
  }
  get signer() {
    return sottoSigner(this.identity, this.suite);
  }
  keyPackage(): Uint8Array {
    this.bundle = createKeyPackage({ suite: this.suite, ...this.signer }, this.random);
    return keyPackageMessage(this.bundle.keyPackage);
  }
  join(welcome: Uint8Array): MlsGroup {
    this.group = MlsGroup.join({
      welcome,
      keyPackage: this.bundle!,
      signatureSecretKey: this.signer.signatureSecretKey,
    }, this.cfg);
    return this.group;
  }
}

function people(n: number, suite: CipherSuite, cfg: GroupConfig): Member[] {
  return Array.from(
    { length: n },
    () => new Member(suite, cfg.random ?? crypto.getRandomValues.bind(crypto) as RandomSource, cfg),
  );
}

const random: RandomSource = (n) => crypto.getRandomValues(new Uint8Array(n));

// ---- the peer ----------------------------------------------------------------------------------------

class Peer {
  readonly #child: Deno.ChildProcess;
  readonly #w: WritableStreamDefaultWriter<Uint8Array>;
  readonly #out: ReadableStreamDefaultReader<string>;
  readonly #timings: { cmd: string; ms: number }[] = [];
  #buf = "";
  #done: Promise<void>;

  constructor() {
    const child = new Deno.Command("deno", {
      args: ["run", "--quiet", "--no-config", "--no-prompt", PEER, "--verbose"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#w = this.#child.stdin.getWriter();
    this.#out = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#done = (async () => {
      let rest = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        rest += chunk;
        let nl;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const m = /^\[mls-peer\] (\w+) ([\d.]+) ms$/.exec(rest.slice(0, nl));
          if (m) this.#timings.push({ cmd: m[1], ms: Number(m[2]) });
          rest = rest.slice(nl + 1);
        }
      }
    })();
  }

  async call(cmd: string, fields: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    await this.#w.write(new TextEncoder().encode(JSON.stringify({ cmd, ...fields }) + "\n"));
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const r = JSON.parse(this.#buf.slice(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
        if (r.ok !== true) throw new Error(`peer ${cmd}: ${r.error}`);
        return r;
      }
      const { value, done } = await this.#out.read();
      if (done) throw new Error("the peer exited");
      this.#buf += value;
    }
  }

  /** The peer's own time for its last `cmd` (from its --verbose log). */
  async timed(cmd: string, fields: Record<string, unknown> = {}): Promise<[Record<string, unknown>, number]> {
    const before = this.#timings.length;
    const r = await this.call(cmd, fields);
    for (let i = 0; i < 200 && this.#timings.length === before; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const t = this.#timings.slice(before).find((x) => x.cmd === cmd);
    if (!t) throw new Error(`no timing logged for ${cmd}`);
    return [r, t.ms];
  }

  async close(): Promise<void> {
    await this.#w.close();
    await this.#child.status;
    await this.#done;
  }
}

const hex = bytesToHex;
const unhex = (v: unknown) => Uint8Array.from((String(v).match(/../g) ?? []).map((b) => parseInt(b, 16)));

// ---- measurements ------------------------------------------------------------------------------------

type Row = Record<string, number[]>;
const push = (row: Row, key: string, v: number) => (row[key] ??= []).push(v);

function baseline(suite: CipherSuite, row: Row): void {
  const c = suite.curve;
  const sk = c.randomSecretKey(), pk = c.getPublicKey(c.randomSecretKey(), false);
  const msg = new Uint8Array(100), sig = c.sign(sk, msg), spk = c.getPublicKey(sk, false);
  for (let i = 0; i < 5; i++) c.ecdh(sk, pk); // warm up
  const n = suite.id === 5 ? 40 : 100;
  const [, te] = time(() => {
    for (let i = 0; i < n; i++) c.ecdh(sk, pk);
  });
  const [, tv] = time(() => {
    for (let i = 0; i < n; i++) c.verify(spk, msg, sig);
  });
  push(row, "ECDH (baseline)", te / n);
  push(row, "ECDSA verify (baseline)", tv / n);
}

function sottoAlone(suite: CipherSuite, row: Row, sizes: Row): void {
  const cfg: GroupConfig = { policy: sottoCredentialPolicy, random };
  // A full group of 100 from scratch: one commit with 99 adds.
  const all = people(100, suite, cfg);
  const creator = all[0];
  creator.group = MlsGroup.create({ suite, groupId: random(32), ...creator.signer }, cfg);
  const kps = all.slice(1).map((m) => m.keyPackage());
  const [c, tc] = time(() => creator.group!.commit({ add: kps }));
  creator.group.mergePendingCommit();
  push(row, "full group of 100 from scratch: the creator's commit (99 adds)", tc);
  push(sizes, "full group of 100: commit", c.commit.length);
  push(sizes, "full group of 100: Welcome (99 recipients, tree included)", c.welcome!.length);
  const joins: number[] = [];
  for (const m of all.slice(1)) joins.push(time(() => m.join(c.welcome!))[1]);
  push(row, "full group of 100 from scratch: one joiner processes the Welcome (median of 99)", median(joins));
  push(
    row,
    "full group of 100 from scratch: all 99 joins, one after another",
    joins.reduce((a, b) => a + b, 0),
  );

  // A group of 99, then a commit adding the 100th member: first in the fresh tree (only the creator's path
  // is set, so the path secrets go to every leaf of each copath subtree: the worst case), then after the
  // members at even leaves have each committed once (every parent node set: the steady state).
  const g99 = people(99, suite, cfg);
  const a = g99[0];
  a.group = MlsGroup.create({ suite, groupId: random(32), ...a.signer }, cfg);
  const c99 = a.group.commit({ add: g99.slice(1).map((m) => m.keyPackage()) });
  a.group.mergePendingCommit();
  const b = g99[1];
  const committers = g99.filter((_, i) => i > 0 && i % 2 === 0);
  for (const m of [b, ...committers]) m.join(c99.welcome!);
  const addOne = (label: string) => {
    const saved = b.group!.serialize();
    const newcomer = new Member(suite, random, cfg);
    const kp = newcomer.keyPackage();
    const tries: number[] = [];
    let last: ReturnType<MlsGroup["commit"]> | undefined;
    for (let i = 0; i < 5; i++) {
      if (last) a.group!.discardPendingCommit();
      const [r, t] = time(() => a.group!.commit({ add: [kp] }));
      last = r;
      tries.push(t);
    }
    push(row, `commit adding one member to a group of 99 (→ 100), ${label}: create`, median(tries));
    push(sizes, `commit adding the 100th member, ${label}`, last!.commit.length);
    push(sizes, `Welcome for the 100th member (tree of 100 included), ${label}`, last!.welcome!.length);
    const proc: number[] = [];
    for (let i = 0; i < 5; i++) {
      const copy = MlsGroup.deserialize(saved, cfg);
      proc.push(time(() => copy.process(last!.commit))[1]);
    }
    push(
      row,
      `commit adding one member to a group of 99 (→ 100), ${label}: another member processes it`,
      median(proc),
    );
    push(
      row,
      `commit adding one member, ${label}: the new member joins (tree of 100 validated)`,
      time(() => newcomer.join(last!.welcome!))[1],
    );
    a.group!.discardPendingCommit();
    return last!;
  };
  addOne("fresh tree");
  for (const [i, m] of committers.entries()) {
    const c = m.group!.commit();
    m.group!.mergePendingCommit();
    for (const x of [a, b, ...committers.slice(i + 1)]) x.group!.process(c.commit);
  }
  const last = addOne("every parent node set");
  push(sizes, "the ratchet tree of 100 members (every parent node set)", last.ratchetTree.length);
  // The group of 100 for the messages below: merge the last add.
  const final = a.group.commit({ add: [new Member(suite, random, cfg).keyPackage()] });
  a.group.mergePendingCommit();
  b.group!.process(final.commit);

  // Application messages in the group of 100.
  const body = random(100);
  const enc: number[] = [], dec: number[] = [];
  for (let i = 0; i < 100; i++) {
    const [m, te] = time(() => a.group!.encrypt(body));
    enc.push(te);
    dec.push(time(() => b.group!.process(m))[1]);
    if (i === 0) push(sizes, "application message of 100 bytes (padded to 256)", m.length);
  }
  push(row, "application message (100 B) in the group of 100: encrypt", median(enc));
  push(row, "application message (100 B) in the group of 100: decrypt", median(dec));
}

async function besideTsMls(suite: CipherSuite, row: Row): Promise<void> {
  const cfg: GroupConfig = { policy: basicCredentialPolicy, random };
  const peer = new Peer();
  try {
    await peer.call("init", { suite: suite.id, identity: hex(new TextEncoder().encode("ts-mls")) });
    // A mixed group of 99, created by the peer with 98 of ours.
    await peer.call("create_group", { group_id: hex(random(16)) });
    const ours = people(98, suite, cfg);
    const [r, tAdd98] = await peer.timed("add", { key_packages: ours.map((m) => hex(m.keyPackage())) });
    void tAdd98;
    for (const m of ours) m.join(unhex(r.welcome));
    const [x, z] = ours;
    const hasPath = (bytes: Uint8Array) => {
      const m = decodeMlsMessage(bytes);
      return m.wireFormat === WireFormat.PublicMessage &&
        m.publicMessage.content.content.type === ContentType.Commit &&
        m.publicMessage.content.content.commit.path !== undefined;
    };
    const others = ours.slice(2);
    // 1. Our member adds one (→ 100) without a path, as ts-mls does by default: the peer and one of ours
    //    process it.
    const y = new Member(suite, random, cfg);
    const [c1, tOurs] = time(() => x.group!.commit({ add: [y.keyPackage()], path: false }));
    x.group!.mergePendingCommit();
    push(row, "1. commit adding one member (99 → 100), no path: sotto creates", tOurs);
    push(
      row,
      "1. … ts-mls processes it",
      (await peer.timed("process", { message: hex(c1.commit) }))[1],
    );
    push(row, "1. … sotto processes it", time(() => z.group!.process(c1.commit))[1]);
    for (const m of others) m.group!.process(c1.commit);
    y.join(c1.welcome!);
    // 2. The peer adds one (→ 101); one of ours processes it.
    const y2 = new Member(suite, random, cfg);
    const [c2, tPeerAdd] = await peer.timed("add", { key_packages: [hex(y2.keyPackage())] });
    const p2 = hasPath(unhex(c2.commit)) ? "with" : "no";
    push(row, `2. commit adding one member (100 → 101), ${p2} path: ts-mls creates`, tPeerAdd);
    push(row, "2. … sotto processes it", time(() => z.group!.process(unhex(c2.commit)))[1]);
    for (const m of [x, ...others, y]) m.group!.process(unhex(c2.commit));
    // 3. Our member commits with a path and no proposals (101 members): the peer and one of ours process it.
    const [c3, t3] = time(() => x.group!.commit());
    x.group!.mergePendingCommit();
    push(row, "3. empty commit with a path (101 members): sotto creates", t3);
    push(
      row,
      "3. … ts-mls processes it",
      (await peer.timed("process", { message: hex(c3.commit) }))[1],
    );
    push(row, "3. … sotto processes it", time(() => z.group!.process(c3.commit))[1]);
    for (const m of [...others, y]) m.group!.process(c3.commit);
    // 4. The peer does the same; one of ours processes it.
    const [c4, t4] = await peer.timed("update");
    push(row, "4. empty commit with a path (101 members): ts-mls creates", t4);
    push(row, "4. … sotto processes it", time(() => z.group!.process(unhex(c4.commit)))[1]);
    // Application messages both ways.
    const body = hex(random(100));
    const sends: number[] = [], procs: number[] = [], ourEnc: number[] = [], ourDec: number[] = [];
    for (let i = 0; i < 20; i++) {
      const [s, ts] = await peer.timed("send", { plaintext: body });
      sends.push(ts);
      ourDec.push(time(() => z.group!.process(unhex(s.message)))[1]);
      const [m, te] = time(() => z.group!.encrypt(unhex(body)));
      ourEnc.push(te);
      procs.push((await peer.timed("process", { message: hex(m) }))[1]);
    }
    push(row, "application message (100 B): ts-mls encrypts", median(sends));
    push(row, "application message (100 B): sotto encrypts", median(ourEnc));
    push(row, "application message (100 B): ts-mls decrypts", median(procs));
    push(row, "application message (100 B): sotto decrypts", median(ourDec));
  } finally {
    await peer.close();
  }
  // The full group of 100 from scratch, by the peer: one add of 99 KeyPackages.
  const peer2 = new Peer();
  try {
    await peer2.call("init", { suite: suite.id, identity: hex(new TextEncoder().encode("ts-mls")) });
    await peer2.call("create_group", { group_id: hex(random(16)) });
    const ours = people(99, suite, cfg);
    const [r, t] = await peer2.timed("add", { key_packages: ours.map((m) => hex(m.keyPackage())) });
    push(row, "full group of 100 from scratch (99 adds): ts-mls creates the commit", t);
    push(
      row,
      "full group of 100 from scratch: sotto joins from ts-mls's Welcome",
      time(() => ours[0].join(unhex(r.welcome)))[1],
    );
  } finally {
    await peer2.close();
  }
}

// ---- run ---------------------------------------------------------------------------------------------

console.log(`load before: ${load()}; ${ROUNDS} rounds; Deno ${Deno.version.deno}`);
for (const id of SUITES) {
  const suite = getSuite(id);
  const row: Row = {}, sizes: Row = {}, side: Row = {};
  for (let round = 0; round < ROUNDS; round++) {
    baseline(suite, row);
    sottoAlone(suite, row, sizes);
    await besideTsMls(suite, side);
  }
  const ecdh = median(row["ECDH (baseline)"]);
  console.log(`\n## ${suite.curveName} (suite ${id}), medians of ${ROUNDS}; load now ${load()}\n`);
  console.log("| measure | sotto | in ECDH |\n| --- | ---: | ---: |");
  for (const [k, v] of Object.entries(row)) {
    console.log(`| ${k} | ${median(v).toFixed(2)} ms | ${(median(v) / ecdh).toFixed(1)} |`);
  }
  console.log("\n| size | bytes |\n| --- | ---: |");
  for (const [k, v] of Object.entries(sizes)) console.log(`| ${k} | ${median(v)} |`);
  console.log("\n| beside ts-mls 1.6.4 | ms |\n| --- | ---: |");
  for (const [k, v] of Object.entries(side)) console.log(`| ${k} | ${median(v).toFixed(2)} |`);
}
console.log(`\nload after: ${load()}`);
