// SSLKEYLOGFILE on the real processes: the relay (server.ts) and the client (client.ts --probe) each append
// NSS key-log lines when it is set, and the two logs hold the same secrets for the same client random.
// Without the variable, nothing is written.

import assert from "node:assert/strict";
import { RelayProcess } from "../../client/driver.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LABELS = [
  "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
  "SERVER_HANDSHAKE_TRAFFIC_SECRET",
  "CLIENT_TRAFFIC_SECRET_0",
  "SERVER_TRAFFIC_SECRET_0",
];

function parse(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.trim().split("\n")) {
    const [label, random, secret] = line.split(" ");
    assert.match(random, /^[0-9a-f]{64}$/);
    assert.match(secret, /^[0-9a-f]{64,128}$/);
    m.set(`${label} ${random}`, secret);
  }
  return m;
}

Deno.test("SSLKEYLOGFILE: relay and client log the same secrets; unset, nothing is written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sotto-keylog-" });
  // The relay may write only its data folder, so its log goes there.
  const serverLog = `${dir}/data/server.keys`, clientLog = `${dir}/client.keys`;
  const relay = await RelayProcess.start(`${dir}/data`, 0, [], { SSLKEYLOGFILE: serverLog });
  try {
    const port = String(relay.port);
    const probe = (env: Record<string, string>) =>
      new Deno.Command("deno", {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          `--allow-write=${dir}`,
          "--allow-env",
          "client.ts",
          "127.0.0.1",
          "-p",
          port,
          "--probe",
        ],
        cwd: ROOT,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
    const out = await probe({ SSLKEYLOGFILE: clientLog, PATH: Deno.env.get("PATH") ?? "" });
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const client = parse(await Deno.readTextFile(clientLog));
    const server = parse(await Deno.readTextFile(serverLog));
    assert.equal(client.size, LABELS.length + 1, "four traffic secrets and the exporter secret");
    for (const [key, secret] of client) {
      assert.ok(LABELS.some((l) => key.startsWith(l)) || key.startsWith("EXPORTER_SECRET"), key);
      assert.equal(server.get(key), secret, `${key} matches`);
    }
    // Without the variable the client writes nothing.
    const before = (await Deno.readTextFile(clientLog)).length;
    const quiet = await probe({ PATH: Deno.env.get("PATH") ?? "" });
    assert.equal(quiet.code, 0);
    assert.equal((await Deno.readTextFile(clientLog)).length, before);
  } finally {
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
