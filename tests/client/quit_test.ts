// Quitting always works, and says how it went (issue 14, B1 and B2), with real processes on 127.0.0.1:
// `printf '/chat ID\nhi\n' | client` exits once the request has reached the relay even when the input
// ends before the link is up; a signal ends a client whose relay never answers; a second signal forces
// the exit; a refused pin gives a non-zero exit code even when the input ended at once.

import assert from "node:assert/strict";
import { join } from "node:path";
import { clientArgs, ClientProcess, denoCommand, RelayProcess } from "../../client/driver.ts";
import type { ClientEvent } from "../../client/events.ts";
import { EXIT_FORCED_SIGINT, EXIT_FORCED_SIGTERM, EXIT_OK, EXIT_PIN } from "../../client/exit.ts";
import { quitOnSignals, type SignalHost } from "../../client/signals.ts";

/** Resolves with "hung" if `p` has not settled after `ms` (a hang detector, not a timing assertion). */
async function orHang<T>(p: Promise<T>, ms: number): Promise<T | "hung"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), ms)));
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A TCP listener on 127.0.0.1 that holds every connection until `release()`, then joins it to `target`
 * (or, without a target, never answers).
 */
function holdingProxy(target?: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const pipes: Promise<unknown>[] = [];
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  let accepted = 0;
  const serving = (async () => {
    for await (const c of listener) {
      accepted++;
      conns.push(c);
      if (target === undefined) continue;
      pipes.push(
        (async () => {
          await gate;
          const up = await Deno.connect({ hostname: "127.0.0.1", port: target });
          conns.push(up);
          await Promise.all([c.readable.pipeTo(up.writable), up.readable.pipeTo(c.writable)]).catch(() => {});
        })().catch(() => {}),
      );
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    release,
    get accepted() {
      return accepted;
    },
    async close() {
      release();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await serving;
      await Promise.all(pipes);
    },
  };
}

/** A client process in line mode (--json) whose stdin the test controls. */
function spawnClient(root: string, name: string, port: number, pin: string | undefined) {
  const args = clientArgs({ dataDir: join(root, name), port, pin, passphrase: `${name} passphrase` }, true);
  const child = new Deno.Command(denoCommand(), {
    args,
    env: { SOTTO_PASSPHRASE: `${name} passphrase` },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const events: ClientEvent[] = [];
  const stdout = (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let at: number;
      while ((at = buffer.indexOf("\n")) >= 0) {
        events.push(JSON.parse(buffer.slice(0, at)));
        buffer = buffer.slice(at + 1);
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  const stdin = child.stdin.getWriter();
  return {
    child,
    events,
    async write(text: string) {
      await stdin.write(new TextEncoder().encode(text));
    },
    async endInput() {
      await stdin.close().catch(() => {});
    },
    async until(test: (e: ClientEvent) => boolean, what: string) {
      for (let i = 0; i < 600 && !events.some(test); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(events.some(test), `${what}; events: ${JSON.stringify(events)}`);
    },
    /** The exit code, or "hung". */
    async exit(ms = 30_000): Promise<number | "hung"> {
      const status = await orHang(child.status, ms);
      return status === "hung" ? status : status.code;
    },
    async kill() {
      await stdin.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      await stdout;
      return await stderr;
    },
  };
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "sotto-quit-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("B1: `printf '/chat ID\\nhi\\n' | client` exits, after the request reached the relay", async () => {
  await withRoot(async (root) => {
    const relay = await RelayProcess.start(join(root, "relay"));
    const bob = ClientProcess.start({
      dataDir: join(root, "bob"),
      port: relay.port,
      pin: relay.pin,
      passphrase: "bob passphrase",
    });
    // Alice reaches the relay through a proxy that holds her connection until her input has ended.
    const proxy = holdingProxy(relay.port);
    const alice = spawnClient(root, "alice", proxy.port, relay.pin);
    try {
      const b = await bob.waitFor((e) => e.event === "ready", "bob ready") as { id: string };
      await alice.write(`/chat ${b.id}\nhi\n`);
      await alice.endInput();
      await alice.until((e) => e.event === "queued", "alice's text waits for the chat");
      await new Promise((r) => setTimeout(r, 300)); // the end of input is read meanwhile
      proxy.release();
      assert.equal(await alice.exit(), EXIT_OK);
      assert.ok(alice.events.some((e) => e.event === "ready"), JSON.stringify(alice.events));
      // Her request is at the relay: bob's opens the chat at once, and her text is waiting for her return.
      const a = alice.events.find((e) => e.event === "ready") as { id: string };
      await bob.send(`/chat ${a.id}`);
      await bob.waitFor((e) => e.event === "chat-open", "bob's chat opens");
    } finally {
      await alice.kill();
      await bob.kill();
      await proxy.close();
      await relay.stop();
    }
  });
});

Deno.test("B1: SIGTERM or SIGINT ends a client whose relay never answers, with exit code 0", async () => {
  await withRoot(async (root) => {
    const silent = holdingProxy();
    try {
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        const client = spawnClient(root, "alice", silent.port, undefined);
        try {
          const before = silent.accepted;
          for (let i = 0; i < 600 && silent.accepted === before; i++) {
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.ok(silent.accepted > before, "the client connected");
          client.child.kill(signal);
          assert.equal(await client.exit(10_000), EXIT_OK, signal);
        } finally {
          await client.kill();
        }
      }
    } finally {
      await silent.close();
    }
  });
});

Deno.test("B1: the first signal asks to quit, a second forces the exit (130 for SIGINT, 143 for SIGTERM)", () => {
  const listeners = new Map<Deno.Signal, () => void>();
  const host: SignalHost = {
    add: (s, l) => void listeners.set(s, l),
    remove: (s) => void listeners.delete(s),
  };
  const calls: (string | number)[] = [];
  const stop = quitOnSignals(() => calls.push("quit"), (code) => calls.push(code), host);
  listeners.get("SIGTERM")!();
  listeners.get("SIGINT")!();
  listeners.get("SIGTERM")!();
  assert.deepEqual(calls, ["quit", EXIT_FORCED_SIGINT, EXIT_FORCED_SIGTERM]);
  stop();
  assert.equal(listeners.size, 0);
});

Deno.test("B2: a refused pin exits with code 4 in line mode, even when the input ends at once", async () => {
  await withRoot(async (root) => {
    const relay = await RelayProcess.start(join(root, "relay"));
    const client = spawnClient(root, "dave", relay.port, "A".repeat(43));
    try {
      await client.endInput();
      assert.equal(await client.exit(), EXIT_PIN);
      const error = client.events.find((e) => e.event === "error") as { message: string } | undefined;
      assert.match(error?.message ?? "", /^Refused to connect: .* not the pin A{43} given with --pin/);
    } finally {
      await client.kill();
      await relay.stop();
    }
  });
});
