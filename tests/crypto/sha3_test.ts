// SHA3-256, SHA3-512, SHAKE128, SHAKE256: the FIPS 202 example values, `openssl dgst` on random inputs of
// every length from 0 to past three blocks of each rate (and SHAKE outputs of lengths around the rate),
// incremental absorbing and squeezing in random pieces, clone(), the one-use and absorb-before-squeeze rules,
// and argument checks.
import assert from "node:assert/strict";
import { bytesToHex, hexToBytes } from "../../crypto/bytes.ts";
import {
  createSha3,
  createShake,
  keccakF1600,
  KeccakSponge,
  sha3_256,
  sha3_512,
  type Sha3Name,
  shake128,
  shake256,
  type ShakeName,
} from "../../crypto/sha3.ts";
import { peerMissing, requirePeer } from "../_peers.ts";

type Name = Sha3Name | ShakeName;

interface Fips202Vector {
  hash: Name;
  comment: string;
  msg: string;
  repeat: number;
  outputLength: number;
  output: string;
}

const vectors: { tests: Fips202Vector[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../../vectors/fips202.json", import.meta.url)),
);

const RATE: Record<Name, number> = { "SHA3-256": 136, "SHA3-512": 72, SHAKE128: 168, SHAKE256: 136 };
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const randomInt = (n: number) => Math.floor(Math.random() * n);

/** The function `name` of data, one-shot; SHAKE gives `length` bytes. */
function oneShot(name: Name, data: Uint8Array, length = 0): Uint8Array {
  switch (name) {
    case "SHA3-256":
      return sha3_256(data);
    case "SHA3-512":
      return sha3_512(data);
    case "SHAKE128":
      return shake128(data, length);
    case "SHAKE256":
      return shake256(data, length);
  }
}

/** Feeds `data` in pieces of random lengths (empty ones included); SHAKE output squeezed in random pieces. */
function inPieces(name: Name, data: Uint8Array, maxPiece: number, length = 0): Uint8Array {
  const h = name.startsWith("SHAKE") ? createShake(name as ShakeName) : createSha3(name as Sha3Name);
  for (let pos = 0; pos < data.length;) {
    const end = Math.min(data.length, pos + randomInt(maxPiece + 1));
    h.update(data.subarray(pos, end));
    pos = end;
  }
  if ("digest" in h) return h.digest();
  const out = new Uint8Array(length);
  for (let pos = 0; pos < length;) {
    const n = Math.min(length - pos, randomInt(maxPiece + 1));
    if (randomInt(2)) h.squeezeInto(out, pos, n);
    else out.set(h.squeeze(n), pos);
    pos += n;
  }
  return out;
}

function vectorMessage(v: Fips202Vector): Uint8Array {
  const unit = hexToBytes(v.msg);
  const msg = new Uint8Array(unit.length * v.repeat);
  for (let i = 0; i < v.repeat; i++) msg.set(unit, i * unit.length);
  return msg;
}

Deno.test("sha3: FIPS 202 example values, one-shot and incremental", () => {
  assert.equal(vectors.tests.length, 10);
  for (const v of vectors.tests) {
    const msg = vectorMessage(v), label = `${v.hash} ${v.comment}`;
    assert.equal(bytesToHex(oneShot(v.hash, msg, v.outputLength)), v.output, label);
    for (const piece of [1, 7, 100, 300]) {
      assert.equal(
        bytesToHex(inPieces(v.hash, msg, piece, v.outputLength)),
        v.output,
        `${label}, pieces ≤ ${piece}`,
      );
    }
  }
});

Deno.test("sha3: Keccak-f[1600] on the zero state gives the published first lanes", () => {
  // The Keccak team's KeccakF-1600-IntermediateValues.txt: after one permutation of the all-zero state,
  // lane 0 is F1258F7940E1DDE7 and lane 1 is 84D5CCF933C0478A.
  const s = new Int32Array(50);
  keccakF1600(s);
  const lane = (i: number) =>
    (s[2 * i + 1] >>> 0).toString(16).padStart(8, "0") + (s[2 * i] >>> 0).toString(16).padStart(8, "0");
  assert.equal(lane(0), "f1258f7940e1dde7");
  assert.equal(lane(1), "84d5ccf933c0478a");
});

/** The hex outputs of `openssl dgst` over the files, in order. */
async function openssl(args: string[], files: string[]): Promise<string[]> {
  const { success, stdout, stderr } = await new Deno.Command(requirePeer("openssl"), {
    args: ["dgst", ...args, ...files],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, `openssl dgst ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`);
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  assert.equal(lines.length, files.length);
  return lines.map((l) => l.slice(l.lastIndexOf("= ") + 2));
}

Deno.test({
  name:
    "sha3: matches openssl dgst on random inputs of every length 0 … 3 blocks + 2, and SHAKE output lengths",
  ignore: peerMissing("openssl"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sotto-sha3-" });
    try {
      const maxLength = 3 * 168 + 2;
      const inputs: Uint8Array[] = [], files: string[] = [];
      for (let n = 0; n <= maxLength; n++) {
        inputs.push(random(n));
        files.push(`${dir}/${n}`);
        await Deno.writeFile(files[n], inputs[n]);
      }
      for (const name of ["SHA3-256", "SHA3-512", "SHAKE128", "SHAKE256"] as const) {
        const rate = RATE[name];
        const count = 3 * rate + 3; // lengths 0 … 3·rate + 2: every position of the padding in three blocks
        const flag = `-${name.toLowerCase()}`;
        const outputLengths = name.startsWith("SHAKE")
          ? [1, 32, rate - 1, rate, rate + 1, 2 * rate + 5]
          : [0];
        for (const length of outputLengths) {
          const args = name.startsWith("SHAKE") ? [flag, "-xoflen", String(length)] : [flag];
          const want = await openssl(args, files.slice(0, count));
          for (let n = 0; n < count; n++) {
            const label = `${name} input ${n} B, output ${length} B`;
            assert.equal(bytesToHex(oneShot(name, inputs[n], length)), want[n], label);
            assert.equal(
              bytesToHex(inPieces(name, inputs[n], 1 + randomInt(rate + 9), length)),
              want[n],
              label,
            );
          }
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("sha3: a long SHAKE stream squeezed in random pieces equals one squeeze", () => {
  for (const name of ["SHAKE128", "SHAKE256"] as const) {
    for (let i = 0; i < 20; i++) {
      const data = random(randomInt(1000)), length = randomInt(3000);
      const want = bytesToHex(oneShot(name, data, length));
      assert.equal(bytesToHex(inPieces(name, data, 1 + randomInt(400), length)), want, `${name} ${length}`);
    }
  }
});

Deno.test("sha3: reads views at any byte offset and leaves the input unchanged", () => {
  const backing = random(1200);
  const copy = backing.slice();
  for (let i = 0; i < 40; i++) {
    const start = randomInt(9), end = start + randomInt(1100);
    const view = backing.subarray(start, end);
    assert.equal(bytesToHex(sha3_256(view)), bytesToHex(sha3_256(view.slice())));
    assert.equal(bytesToHex(shake128(view, 50)), bytesToHex(shake128(view.slice(), 50)));
  }
  assert.deepEqual(backing, copy);
});

Deno.test("sha3: clone() forks an independent state, absorbing or squeezing", () => {
  const prefix = random(150), a = random(77), b = random(300);
  for (const name of ["SHA3-256", "SHA3-512"] as const) {
    const h = createSha3(name).update(prefix);
    const fork = h.clone();
    assert.equal(
      bytesToHex(h.update(a).digest()),
      bytesToHex(oneShot(name, Uint8Array.from([...prefix, ...a]))),
    );
    assert.equal(
      bytesToHex(fork.update(b).digest()),
      bytesToHex(oneShot(name, Uint8Array.from([...prefix, ...b]))),
    );
    assert.equal(h.outputLength, name === "SHA3-256" ? 32 : 64);
    assert.equal(h.blockLength, RATE[name]);
    assert.equal(h.name, name);
  }
  for (const name of ["SHAKE128", "SHAKE256"] as const) {
    const x = createShake(name).update(prefix);
    const fork = x.clone();
    const first = x.squeeze(100);
    const fork2 = x.clone();
    assert.equal(bytesToHex(fork.squeeze(100)), bytesToHex(first));
    assert.equal(bytesToHex(x.squeeze(300)), bytesToHex(fork2.squeeze(300)));
    assert.equal(
      bytesToHex(Uint8Array.from([...first, ...fork.squeeze(300)])),
      bytesToHex(oneShot(name, prefix, 400)),
    );
    assert.equal(x.blockLength, RATE[name]);
    assert.equal(x.name, name);
  }
});

Deno.test("sha3: a hash is used once; a SHAKE absorbs only before squeezing", () => {
  const h = createSha3("SHA3-256").update(random(10));
  h.digest();
  assert.throws(() => h.digest(), TypeError);
  assert.throws(() => h.update(random(1)), TypeError);
  assert.throws(() => h.clone(), TypeError);
  const x = createShake("SHAKE128").update(random(10));
  x.squeeze(0);
  assert.throws(() => x.update(random(1)), TypeError);
  x.squeeze(10);
});

Deno.test("sha3: digestInto and squeezeInto write at an offset and check the room", () => {
  const data = random(200);
  const out = new Uint8Array(42).fill(0xee);
  createSha3("SHA3-256").update(data).digestInto(out, 7);
  assert.equal(bytesToHex(out.subarray(7, 39)), bytesToHex(sha3_256(data)));
  assert.ok(out.subarray(0, 7).every((b) => b === 0xee) && out.subarray(39).every((b) => b === 0xee));
  assert.throws(() => createSha3("SHA3-512").digestInto(new Uint8Array(63)), RangeError);
  const x = createShake("SHAKE256").update(data);
  const buf = new Uint8Array(20).fill(0xee);
  x.squeezeInto(buf, 5, 10);
  x.squeezeInto(buf, 15);
  assert.equal(bytesToHex(buf.subarray(5)), bytesToHex(shake256(data, 15)));
  assert.throws(() => x.squeezeInto(buf, 15, 6), RangeError);
  assert.throws(() => x.squeezeInto(buf, 21), RangeError);
  assert.throws(() => x.squeeze(-1), RangeError);
  assert.throws(() => x.squeeze(1.5), TypeError);
});

Deno.test("sha3: argument checks", () => {
  for (const bad of ["SHA3-384", "sha3-256", "SHAKE128", "", "constructor", undefined, null]) {
    assert.throws(() => createSha3(bad as Sha3Name), { name: "TypeError", message: /^name must be/ });
  }
  for (const bad of ["SHAKE512", "shake128", "SHA3-256", "__proto__", undefined]) {
    assert.throws(() => createShake(bad as ShakeName), { name: "TypeError", message: /^name must be/ });
  }
  for (const bad of ["abc", [1, 2, 3], new ArrayBuffer(3), new Uint16Array(2), null, undefined, 7]) {
    const data = bad as unknown as Uint8Array;
    assert.throws(() => sha3_256(data), { name: "TypeError", message: /^data must be a Uint8Array/ });
    assert.throws(() => sha3_512(data), TypeError);
    assert.throws(() => shake128(data, 1), TypeError);
    assert.throws(() => createShake("SHAKE256").update(data), { name: "TypeError", message: /^data/ });
  }
});

Deno.test("sha3: KeccakSponge.squeezeWords gives the output bytes as little-endian words, block after block", () => {
  for (const [rate, words] of [[168, 42], [136, 32], [136, 34]]) {
    const input = random(randomInt(400));
    const a = new KeccakSponge(rate, 0x1f), b = new KeccakSponge(rate, 0x1f);
    a.absorb(input);
    b.absorb(input);
    for (let block = 0; block < 4; block++) {
      const got = new Int32Array(words);
      a.squeezeWords(got, words);
      // Bytes from a sponge squeezed the usual way, skipping what squeezeWords leaves of each block.
      const bytes = new Uint8Array(4 * words);
      b.squeezeInto(bytes, 0, bytes.length);
      if (4 * words < rate) b.squeezeInto(new Uint8Array(rate - 4 * words), 0, rate - 4 * words);
      const view = new DataView(bytes.buffer);
      const want = Int32Array.from({ length: words }, (_, i) => view.getInt32(4 * i, true));
      assert.deepEqual(got, want, `rate ${rate}, ${words} words, block ${block}`);
      if (4 * words < rate) a.pos = rate; // squeezeWords reads within one block; move to the next
    }
  }
});
