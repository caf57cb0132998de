// Client figures, run by hand: deno run -A bench/client_perf.ts
// 1. Start to ready: opening the keystore, then TCP, TLS (pinned), login and Welcome, for P-521 and P-256
//    (the passphrase KDF is timed separately and not counted, as the issue asks).
// 2. Client-to-client latency through a relay on loopback: two real client processes in line mode; a line
//    typed into one until the other prints the message (X3DH session, ratchet, keystore writes, TLS both
//    ways, the relay): one direction (same chain) and alternating (a DH ratchet step on every message).
import { App } from "../client/app.ts";
import { ClientProcess, RelayProcess } from "../client/driver.ts";
import { pbkdf2 } from "../crypto/pbkdf2.ts";
import type { CurveName } from "../protocol/suite.ts";

const root = await Deno.makeTempDir({ prefix: "sotto-client-perf-" });
const relay = await RelayProcess.start(`${root}/relay`);
const pct = (xs: number[], p: number) =>
  xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

try {
  for (const curve of ["P-521", "P-256"] as CurveName[]) {
    const readies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const opts = {
        host: "127.0.0.1",
        port: relay.port,
        curve,
        pin: relay.pin,
        dataDir: `${root}/${curve}-${i % 2}`,
      };
      let ready = 0;
      let kdfDone = 0;
      const t0 = performance.now();
      const app = await App.start(
        opts,
        (e) => {
          if (e.event === "ready") ready = performance.now();
        },
        () => Promise.resolve("a passphrase for the benchmark"),
        () => {},
      );
      kdfDone = performance.now();
      while (!ready) await new Promise((r) => setTimeout(r, 1));
      const k = performance.now();
      pbkdf2("SHA-512", new TextEncoder().encode("x"), new Uint8Array(32), 210_000, 64);
      const kdf = performance.now() - k;
      // Start to ready, minus one passphrase KDF (the keystore open includes exactly one).
      if (i > 0) readies.push(ready - t0 - kdf); // the first run creates the identity
      void kdfDone;
      await app.line("/quit");
      await app.stop();
    }
    console.log(
      `${curve}: start to ready without the KDF: median ${
        pct(readies, 0.5).toFixed(0)
      } ms (of ${readies.length} runs)`,
    );
  }

  for (const curve of ["P-521", "P-256"] as CurveName[]) {
    const spec = (n: string) => ({
      dataDir: `${root}/lat-${curve}-${n}`,
      port: relay.port,
      pin: relay.pin,
      passphrase: "latency passphrase",
      curve,
    });
    const a = ClientProcess.start(spec("a")), b = ClientProcess.start(spec("b"));
    const ida = ((await a.waitFor((e) => e.event === "ready", "a")) as { id: string }).id;
    const idb = ((await b.waitFor((e) => e.event === "ready", "b")) as { id: string }).id;
    await a.send(`/chat ${idb}`);
    await b.send(`/chat ${ida}`);
    await a.waitFor((e) => e.event === "chat-open", "open a");
    await b.waitFor((e) => e.event === "chat-open", "open b");
    const measure = async (n: number, alternate: boolean) => {
      const lat: number[] = [];
      for (let i = 0; i < n; i++) {
        const [s, r] = alternate && i % 2 ? [b, a] : [a, b];
        const from = r.events.length;
        const text = `${alternate ? "alt" : "one"}-${i}`;
        const t = performance.now();
        await s.send(text);
        try {
          await r.waitFor(
            (e) => e.event === "message" && (e as { text?: string }).text === text,
            "message",
            30_000,
            from,
          );
        } catch (e) {
          console.error("SENDER EVENTS", JSON.stringify(s.events.slice(-12)));
          throw e;
        }
        lat.push(performance.now() - t);
      }
      return lat.slice(10); // the first messages set up the session
    };
    const one = await measure(210, false);
    const alt = await measure(210, true);
    console.log(
      `${curve}: client-to-client latency, one direction p50 ${pct(one, 0.5).toFixed(1)} p99 ${
        pct(one, 0.99).toFixed(1)
      } ms; ` +
        `alternating (DH step each message) p50 ${pct(alt, 0.5).toFixed(1)} p99 ${
          pct(alt, 0.99).toFixed(1)
        } ms`,
    );
    await a.send("/quit");
    await b.send("/quit");
    await a.end();
    await b.end();
  }
} finally {
  await relay.stop();
  await Deno.remove(root, { recursive: true });
}
