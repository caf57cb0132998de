// `deno task server` and `deno task client` through launch.ts: the permissions follow --data, --host and
// --port (and stay what they were without them), and both tasks run for real with a folder of their own:
// a relay on a free port that stops on SIGTERM sent to `deno task`, and a client that makes its keystore
// in its --data folder and no other.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { denoCommand, lines } from "../../client/driver.ts";
import { launchArgs } from "../../launch.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
type Env = Parameters<typeof launchArgs>[2];
const linux: Env = { home: "/home/me", os: "linux" };

/** The permission flags of a launch (what comes between "run" and the script). */
function flags(script: "server" | "client", args: string[], env: Env = linux): string[] {
  const all = launchArgs(script, args, env);
  const at = all.findIndex((a) => a.endsWith(`${script}.ts`));
  assert.deepEqual(all.slice(at + 1), args, "the arguments follow the script unchanged");
  return all.slice(1, at);
}

Deno.test("launch: the server's permissions follow --data, --host and --port", () => {
  // No arguments: what the task granted before, as the README says.
  assert.deepEqual(flags("server", []), [
    "--unstable-kv",
    "--allow-read=./data",
    "--allow-write=./data",
    "--allow-net=127.0.0.1:6174",
  ]);
  assert.deepEqual(flags("server", ["--data", "/srv/sotto", "-host", "0.0.0.0", "-port", "7000"]), [
    "--unstable-kv",
    "--allow-read=/srv/sotto",
    "--allow-write=/srv/sotto",
    "--allow-net=0.0.0.0:7000",
  ]);
  assert.deepEqual(flags("server", ["--data=/d", "--host=::1", "--port=0", "--refreshkeys"]).slice(1), [
    "--allow-read=/d",
    "--allow-write=/d",
    "--allow-net=[::1]",
  ]);
  // A port that is not one is the relay's to refuse.
  assert.equal(flags("server", ["--port", "x"]).at(-1), "--allow-net=127.0.0.1:6174");
});

Deno.test("launch: the client's permissions follow --data (HOME only without it) and --open", () => {
  assert.deepEqual(flags("client", ["127.0.0.1"]), [
    "--allow-net",
    "--allow-read",
    "--allow-write=/home/me/.sotto",
    "--allow-env=HOME,SOTTO_PASSPHRASE,SSLKEYLOGFILE",
    "--allow-sys=statfs",
  ]);
  assert.deepEqual(flags("client", ["--data", "/tmp/alice", "--json", "127.0.0.1"]), [
    "--allow-net",
    "--allow-read",
    "--allow-write=/tmp/alice",
    "--allow-env=SOTTO_PASSPHRASE,SSLKEYLOGFILE",
    "--allow-sys=statfs",
  ]);
  assert.equal(flags("client", ["--data=/a", "--data", "/b", "h"])[2], "--allow-write=/b", "the last one");
  assert.equal(flags("client", ["--", "--data", "/x"])[2], "--allow-write=/home/me/.sotto", "after --");
  assert.ok(!flags("client", ["h"], { os: "linux" }).some((f) => f.startsWith("--allow-write")), "no HOME");
  assert.equal(flags("client", ["--web", "--open", "h"]).at(-1), "--allow-run=xdg-open");
  assert.equal(
    flags("client", ["--web", "--open", "h"], { ...linux, os: "darwin" }).at(-1),
    "--allow-run=open",
  );
});

Deno.test("launch: deno task server --data DIR --port 0 runs a relay there; deno task client --data uses its folder", async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-launch-" });
  const relayDir = join(root, "relay"), aliceDir = join(root, "alice");
  const server = new Deno.Command(denoCommand(), {
    args: ["task", "-q", "server", "--data", relayDir, "--port", "0"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const serverErr = new Response(server.stderr).text();
  const out = lines(server.stdout);
  try {
    const first = await out.next();
    const m = /^sotto relay listening on 127\.0\.0\.1:(\d+), pin (\S+)$/.exec(first.done ? "" : first.value);
    assert.ok(m, `the relay's line; stderr: ${await Promise.race([serverErr, Promise.resolve("")])}`);
    assert.ok((await Deno.stat(join(relayDir, "server.key"))).isFile, "its key is in --data");

    const client = new Deno.Command(denoCommand(), {
      args: ["task", "-q", "client", "--data", aliceDir, "--json", "-p", m[1], "--pin", m[2], "127.0.0.1"],
      cwd: ROOT,
      env: { SOTTO_PASSPHRASE: "alice's passphrase" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = client.stdin.getWriter();
    await w.write(new TextEncoder().encode("/id\n/quit\n"));
    await w.close();
    const result = await client.output();
    const events = new TextDecoder().decode(result.stdout).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    assert.equal(events.find((e) => e.event === "ready")?.trust, "pinned");
    assert.ok((await Deno.stat(join(aliceDir, "keystore.sotto"))).isFile, "the keystore is in --data");
  } finally {
    // SIGTERM to `deno task`: passed to the launcher, which passes it to the relay, which stops cleanly.
    server.kill("SIGTERM");
    const status = await server.status;
    for await (const _ of out);
    await serverErr;
    await Deno.remove(root, { recursive: true });
    assert.equal(status.code, 0, "a clean stop");
  }
});
