// Real processes for the end-to-end tests (client/driver.ts): a relay in a temporary folder, clients
// started against it and all stopped at the end, waiting for events, and two clients with an open chat.

import { join } from "node:path";
import { ClientProcess, type ClientSpec, RelayProcess } from "../../client/driver.ts";
import type { ClientEvent } from "../../client/events.ts";

export type Ev<K extends ClientEvent["event"]> = Extract<ClientEvent, { event: K }>;

export function on<K extends ClientEvent["event"]>(kind: K, test: (e: Ev<K>) => boolean = () => true) {
  return (e: ClientEvent) => e.event === kind && test(e as Ev<K>);
}

export async function next<K extends ClientEvent["event"]>(
  c: ClientProcess,
  kind: K,
  test: (e: Ev<K>) => boolean = () => true,
  from = 0,
): Promise<Ev<K>> {
  return await c.waitFor(on(kind, test), kind, 60_000, from) as Ev<K>;
}

/** A relay in a temporary folder; every process started through it is stopped at the end. */
export async function world(
  fn: (w: {
    root: string;
    relay: RelayProcess;
    client(name: string, extra?: Partial<ClientSpec>): ClientProcess;
    restartRelay(signal: "SIGTERM" | "SIGKILL", extraArgs?: string[], awayMs?: number): Promise<RelayProcess>;
  }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-e2e-" });
  let relay = await RelayProcess.start(join(root, "relay"));
  const clients: ClientProcess[] = [];
  try {
    await fn({
      root,
      get relay() {
        return relay;
      },
      client(name, extra = {}) {
        const c = ClientProcess.start({
          dataDir: join(root, name),
          port: relay.port,
          pin: relay.pin,
          passphrase: `${name} passphrase`,
          ...extra,
        });
        clients.push(c);
        return c;
      },
      async restartRelay(signal, extraArgs = [], awayMs = 0) {
        await relay.stop(signal);
        await new Promise((r) => setTimeout(r, awayMs));
        relay = await RelayProcess.start(join(root, "relay"), relay.port, extraArgs);
        return relay;
      },
    });
  } finally {
    for (const c of clients) await c.kill();
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
}

/** What `world` hands its function. */
export type World = Parameters<Parameters<typeof world>[0]>[0];

/** Two ready clients with an open chat: alice asked for bob, then bob for alice. */
export async function pair(w: World) {
  const alice = w.client("alice"), bob = w.client("bob");
  const [a, b] = await Promise.all([next(alice, "ready"), next(bob, "ready")]);
  await alice.send(`/chat ${b.id} bob`);
  await next(alice, "chat-requested");
  await bob.send(`/chat ${a.id} alice`);
  await Promise.all([next(alice, "chat-open"), next(bob, "chat-open")]);
  return { alice, bob, a, b };
}
