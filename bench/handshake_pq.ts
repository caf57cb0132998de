// Server CPU of a TLS handshake with the post-quantum hybrid against P-521, measured side by side: the
// server's side of recorded handshakes replayed (bench/_handshake.ts) for SecP384r1MLKEM1024 (what our
// client and relay agree on), P-521 ECDHE (what they agreed on before) and SecP256r1MLKEM768, all with the
// relay's P-521 CertificateVerify, interleaved round by round in one process. Prints each configuration's
// median and quartiles and the median of the per-round ratios, with the host's load before and after.
// Usage: deno run --allow-sys=loadavg bench/handshake_pq.ts [rounds]

import { prepareServerCurves } from "../server/app.ts";
import { interleavedRounds, recordHandshake } from "./_handshake.ts";

const ROUNDS = Number(Deno.args[0] ?? 60);
const PER_ROUND = 10;

function load(): string {
  try {
    return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  } catch {
    return "unknown (run with --allow-sys=loadavg)";
  }
}

prepareServerCurves(); // the relay's 8-bit base tables, as server/app.ts builds them
const configs = [
  { name: "SecP384r1MLKEM1024", recording: recordHandshake([0x11ed], [0x11ed]) },
  { name: "secp521r1", recording: recordHandshake([0x19], [0x19]) },
  { name: "SecP256r1MLKEM768", recording: recordHandshake([0x11eb], [0x11eb]) },
];

const before = load();
const rounds = interleavedRounds(configs.map((c) => c.recording), ROUNDS, PER_ROUND);
const after = load();

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const fmt = (x: number) => x.toFixed(2);
console.log(`${ROUNDS} rounds of ${PER_ROUND} replays each; load average before ${before}, after ${after}`);
console.log("configuration | median ms | quartiles ms | median ratio to secp521r1 (per round)");
configs.forEach((c, i) => {
  const ms = rounds.map((r) => r[i]);
  const ratio = rounds.map((r) => r[i] / r[1]);
  console.log(
    `${c.name} | ${fmt(quantile(ms, 0.5))} | ${fmt(quantile(ms, 0.25))}–${fmt(quantile(ms, 0.75))} | ` +
      `${quantile(ratio, 0.5).toFixed(3)} (${quantile(ratio, 0.25).toFixed(3)}–${
        quantile(ratio, 0.75).toFixed(3)
      })`,
  );
});
