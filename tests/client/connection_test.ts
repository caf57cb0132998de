// The connection manager against a relay running in this process: TLS, the pin check (first use, then
// matched; a wrong --pin is fatal), login, reconnecting quickly then with backoff (on an injected clock, so
// no real waiting) when the relay goes away and comes back, and stopping for good when another client takes
// over the identity.

import assert from "node:assert/strict";
import { Backoff, type Clock } from "../../client/backoff.ts";
import {
  Connector,
  type ConnectorHandlers,
  type LinkOptions,
  type RelayLink,
} from "../../client/connection.ts";
import type { ConnectionState } from "../../client/events.ts";
import { generateIdentity, type Identity } from "../../protocol/identity.ts";
import { startApp } from "../../server/app.ts";

Deno.test("backoff: every 0.5–1 s for the first 30 s of an outage, then doubling to 30 s; reset starts again", () => {
  let now = 0;
  const at = (ms: number) => (now = ms);
  const low = new Backoff({ random: () => 0, now: () => now });
  // While the relay has been away less than 30 s: the fast step, whatever the number of attempts.
  const fast: number[] = [];
  for (let t = 0; t < 30_000; t += 500) {
    at(t);
    fast.push(low.next());
  }
  assert.ok(fast.every((d) => d === 500), JSON.stringify(fast));
  // Then it backs off: 2 s doubling to the 30 s cap (half of each step with random() = 0).
  at(30_000);
  assert.deepEqual(Array.from({ length: 7 }, () => low.next()), [
    1000,
    2000,
    4000,
    8000,
    15000,
    15000,
    15000,
  ]);
  low.reset();
  assert.equal(low.attempts, 0);
  at(999_000);
  assert.equal(low.next(), 500, "fast again after a connection that worked");
  // Jitter: each delay in [step/2, step).
  const high = new Backoff({ random: () => 0.999999, now: () => now });
  assert.equal(high.next(), 1000);
  at(2_000_000);
  for (let i = 0; i < 20; i++) high.next();
  assert.equal(high.next(), 30000);
  // fastFor: 0 is the schedule from before (0.5 s doubling to 30 s), kept for measuring against it.
  const before = new Backoff({ initial: 500, fastFor: 0, random: () => 0, now: () => now });
  assert.deepEqual(Array.from({ length: 9 }, () => before.next()), [
    250,
    500,
    1000,
    2000,
    4000,
    8000,
    15000,
    15000,
    15000,
  ]);
  assert.throws(() => new Backoff({ initial: 0 }), RangeError);
  assert.throws(() => new Backoff({ fastFor: -1 }), RangeError);
});

/** A clock whose sleeps are recorded and last 5 ms of real time. */
function fastClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Date.now(),
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        sleeps.push(ms);
        const t = setTimeout(resolve, 5);
        signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      }),
  };
}

interface Watch {
  handlers: ConnectorHandlers;
  states: { state: ConnectionState; reason?: string; retryInSeconds?: number }[];
  links: RelayLink[];
  fatal: Error[];
  /** Resolves once `n` links have come up (or a fatal error happened). */
  online(n: number): Promise<void>;
  until(test: () => boolean): Promise<void>;
}

function watch(): Watch {
  const states: Watch["states"] = [], links: RelayLink[] = [], fatal: Error[] = [];
  let wake = () => {};
  const until = async (test: () => boolean) => {
    const deadline = Date.now() + 20_000;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out; states: ${JSON.stringify(states)}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, 50);
      });
      clearTimeout(timer);
    }
  };
  return {
    states,
    links,
    fatal,
    handlers: {
      state: (state, detail) => {
        states.push({ state, ...detail });
        wake();
      },
      online: (link) => {
        links.push(link);
        wake();
        return Promise.resolve();
      },
      frame: () => Promise.resolve(),
      offline: () => wake(),
      fatal: (e) => {
        fatal.push(e);
        wake();
      },
    },
    online: (n) => until(() => links.length >= n || fatal.length > 0),
    until,
  };
}

function options(port: number, identity: Identity, pins: Map<string, string>, clock: Clock): LinkOptions {
  return {
    host: "127.0.0.1",
    port,
    curve: "P-256",
    identity,
    dataDir: "/nonexistent",
    pins: { get: (s) => pins.get(s), set: (s, p) => Promise.resolve(void pins.set(s, p)) },
    clock,
  };
}

Deno.test("connection: first use, login, reconnect with backoff after the relay restarts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-conn-" });
  let relay = await startApp({ host: "127.0.0.1", port: 0, dataDir: dir, log: () => {} });
  const port = relay.addr.port, pin = relay.pin;
  const pins = new Map<string, string>(), clock = fastClock(), w = watch();
  const identity = generateIdentity();
  const connector = new Connector(
    options(port, identity, pins, clock),
    w.handlers,
    new Backoff({ random: () => 0 }),
  );
  try {
    connector.start();
    await w.online(1);
    assert.equal(w.links[0].trust, "first-use");
    assert.equal(w.links[0].pin, pin);
    assert.equal(pins.get(`127.0.0.1:${port}`), pin);
    assert.deepEqual(w.links[0].welcome.id, identity.id);

    await relay.close();
    await w.until(() => w.states.filter((s) => s.state === "offline").length >= 3);
    const offline = w.states.filter((s) => s.state === "offline");
    assert.ok(offline.every((s) => s.reason && s.retryInSeconds !== undefined), JSON.stringify(offline));
    assert.deepEqual(clock.sleeps.slice(0, 3), [500, 500, 500], "fast while the relay has just gone");

    relay = await startApp({ host: "127.0.0.1", port, dataDir: dir, log: () => {} });
    await w.online(2);
    assert.equal(w.links[1].trust, "matched");
    assert.equal(w.fatal.length, 0);
  } finally {
    await connector.stop();
    await relay.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connection: a wrong --pin is fatal, and so is another client taking over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-conn-" });
  const relay = await startApp({ host: "127.0.0.1", port: 0, dataDir: dir, log: () => {} });
  const clock = fastClock(), identity = generateIdentity();
  const wrong = watch();
  const pinned = new Connector(
    { ...options(relay.addr.port, identity, new Map(), clock), expectedPin: "A".repeat(43) },
    wrong.handlers,
  );
  const first = watch(), second = watch();
  const one = new Connector(options(relay.addr.port, identity, new Map(), clock), first.handlers);
  const two = new Connector(options(relay.addr.port, identity, new Map(), clock), second.handlers);
  try {
    pinned.start();
    await wrong.until(() => wrong.fatal.length > 0);
    assert.match(wrong.fatal[0].message, /^Refused to connect: .* not the pin A{43} given with --pin/);
    assert.equal(wrong.links.length, 0);

    one.start();
    await first.online(1);
    two.start();
    await second.online(1);
    await first.until(() => first.fatal.length > 0);
    assert.equal(first.fatal[0].message, "Another client logged in with this identity, so this one stopped.");
    assert.equal(second.fatal.length, 0);
  } finally {
    await Promise.all([pinned.stop(), one.stop(), two.stop()]);
    await relay.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Resolves with "hung" if `p` has not settled after `ms` (a hang detector, not a timing assertion). */
async function orHang<T>(p: Promise<T>, ms = 15_000): Promise<T | "hung"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), ms)));
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("connection: stopping while the link comes up ends the connector (B1: /quit before online)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-conn-" });
  const relay = await startApp({ host: "127.0.0.1", port: 0, dataDir: dir, log: () => {} });
  const w = watch();
  // The TCP connection opens only once the test lets it: the client is stopped before that.
  let open = () => {};
  const gate = new Promise<void>((r) => (open = r));
  const connector = new Connector({
    ...options(relay.addr.port, generateIdentity(), new Map(), fastClock()),
    dial: async (hostname, port) => {
      await gate;
      return await Deno.connect({ hostname, port });
    },
  }, w.handlers);
  try {
    connector.start();
    await w.until(() => w.states.some((s) => s.state === "connecting"));
    const stopped = connector.stop();
    open();
    assert.notEqual(await orHang(stopped), "hung", "stop() must return");
    assert.equal(w.links.length, 0, "no link was handed over after the stop");
    assert.equal(w.fatal.length, 0);
  } finally {
    open();
    await connector.stop();
    await relay.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connection: a stop aborts a TLS handshake the relay never answers", async () => {
  // A listener that accepts and says nothing: the handshake waits for bytes that never come.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) accepted.push(c);
  })();
  const w = watch();
  const connector = new Connector(
    options((silent.addr as Deno.NetAddr).port, generateIdentity(), new Map(), fastClock()),
    w.handlers,
  );
  try {
    connector.start();
    await w.until(() => accepted.length > 0);
    assert.notEqual(
      await orHang(connector.stop(), 5_000),
      "hung",
      "stop() did not wait for the 15 s deadline",
    );
  } finally {
    await connector.stop();
    silent.close();
    await accepting.catch(() => {});
    for (const c of accepted) c.close();
  }
});
