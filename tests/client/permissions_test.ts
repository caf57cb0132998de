// `deno run client.ts HOST` as the design card writes it (issue 14, B7): in a terminal each permission the
// client needs is asked for through Deno's own prompt, after one line saying why (tested under `script`,
// a pseudo-terminal, answering the prompts); without a terminal one sentence lists the exact flags to add,
// and running again with those flags works.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { denoCommand, RelayProcess } from "../../client/driver.ts";
import { EXIT_OK, EXIT_PERMISSIONS } from "../../client/exit.ts";
import {
  flagsFor,
  netTarget,
  obtain,
  type Permission,
  type PermissionHost,
  preparePermissions,
} from "../../client/permissions.ts";
import { VirtualTerminal } from "./_vt.ts";

const CLIENT = fileURLToPath(new URL("../../client.ts", import.meta.url));

const hasScript = await new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

/** Permissions in memory: `granted` holds "name:value"; prompts answer with `answer`. */
function fakeHost(terminal: boolean, granted: string[], answer: Deno.PermissionState = "granted") {
  const log: string[] = [];
  const key = (p: Permission) => `${p.name}:${p.value}`;
  const host: PermissionHost = {
    terminal,
    query: (p) => (granted.includes(key(p)) ? "granted" : "prompt"),
    request: (p) => {
      log.push(`prompt ${key(p)}`);
      if (answer === "granted") granted.push(key(p));
      return answer;
    },
    say: (line) => void log.push(`say ${line}`),
  };
  return { host, log };
}

Deno.test("permissions: in a terminal, one line says why before each of Deno's prompts", () => {
  const { host, log } = fakeHost(true, ["read:/d"]);
  const result = preparePermissions({ host: "relay.example", port: 6174, data: "/d" }, host);
  assert.deepEqual(result, { dataDir: "/d" });
  assert.deepEqual(log, [
    "say sotto writes your keystore and received files in /d.",
    "prompt write:/d",
    "say sotto checks the free space of that folder before it accepts a file.",
    "prompt sys:statfs",
    "say sotto connects to the relay at relay.example:6174.",
    "prompt net:relay.example:6174",
  ]);
  // HOME comes first: the folder's path depends on it.
  const home = fakeHost(true, []);
  const found = preparePermissions({ host: "h", port: 1 }, home.host, () => "/home/me");
  assert.deepEqual(found, { dataDir: join("/home/me", ".sotto") });
  assert.match(home.log[0], /^say sotto reads HOME to find its data folder/);
  assert.equal(home.log[1], "prompt env:HOME");
  assert.equal(home.log[3], `prompt read:${join("/home/me", ".sotto")}`);
  // A denied prompt: the sentence names what is missing.
  const denied = fakeHost(true, [], "denied");
  const refused = preparePermissions({ host: "h", port: 1, data: "/d" }, denied.host);
  assert.deepEqual(refused, {
    error: "Deno's permissions stop the client: run it again with --allow-read=/d --allow-write=/d " +
      "--allow-sys=statfs --allow-net=h:1.",
  });
});

Deno.test("permissions: without a terminal, nothing is asked and one sentence lists the exact flags", () => {
  const { host, log } = fakeHost(false, []);
  assert.deepEqual(preparePermissions({ host: "127.0.0.1", port: 6174 }, host), {
    error: "Deno's permissions stop the client: run it again with --allow-env=HOME,SOTTO_PASSPHRASE " +
      "--allow-read=$HOME/.sotto --allow-write=$HOME/.sotto --allow-sys=statfs --allow-net=127.0.0.1:6174 " +
      "(or give --data DIR, with DIR in place of $HOME/.sotto).",
  });
  assert.deepEqual(log, []);
  const file = fakeHost(false, ["net:[::1]:7"]);
  assert.deepEqual(preparePermissions({ host: "::1", port: 7, data: "d", passphraseFile: "p" }, file.host), {
    error: "Deno's permissions stop the client: run it again with --allow-read=d,p --allow-write=d " +
      "--allow-sys=statfs.",
  });
  assert.deepEqual(preparePermissions({ host: "h", port: 1, probe: true }, fakeHost(false, []).host), {
    error: "Deno's permissions stop the client: run it again with --allow-net=h:1.",
  });
  assert.equal(netTarget("::1", 7), "[::1]:7");
  assert.equal(flagsFor([]), "");
  assert.deepEqual(obtain([{ name: "env", value: "X", why: "" }], fakeHost(false, ["env:X"]).host), []);
});

/** Runs the real client as `deno run [flags] client.ts ARGS`, stdin from `input`. */
async function run(flags: string[], args: string[], env: Record<string, string>, input = "") {
  const child = new Deno.Command(denoCommand(), {
    args: ["run", "--quiet", ...flags, CLIENT, ...args],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("B7: without a terminal the client names the exact flags, and works with them", async () => {
  const root = await Deno.makeTempDir({ prefix: "sotto-perm-" });
  const relay = await RelayProcess.start(join(root, "relay"));
  try {
    const env = { HOME: join(root, "home"), SOTTO_PASSPHRASE: "scripted passphrase" };
    const args = ["-p", String(relay.port), `--pin=${relay.pin}`, "127.0.0.1"];
    const first = await run([], args, env);
    assert.equal(first.code, EXIT_PERMISSIONS);
    assert.equal(first.stdout, "");
    const sentence = first.stderr.trim();
    assert.equal(sentence.split("\n").length, 1, "one sentence");
    assert.match(
      sentence,
      /^client\.ts: Deno's permissions stop the client: run it again with --allow-env=HOME/,
    );
    // Given HOME, the sentence names the folder itself.
    const second = await run(["--allow-env=HOME"], args, env);
    assert.equal(second.code, EXIT_PERMISSIONS);
    const dataDir = join(root, "home", ".sotto");
    assert.equal(
      second.stderr.trim(),
      `client.ts: Deno's permissions stop the client: run it again with --allow-env=SOTTO_PASSPHRASE ` +
        `--allow-read=${dataDir} --allow-write=${dataDir} --allow-sys=statfs --allow-net=127.0.0.1:${relay.port}.`,
    );
    // Exactly those flags (and HOME's) make it run.
    const flags = [
      "--allow-env=HOME",
      ...second.stderr.trim().replace(/^.*run it again with /, "").replace(/\.$/, "")
        .split(" "),
    ];
    // B3: without a passphrase nothing is kept, so no new identity is announced either.
    const nopass = await run(flags, args, { HOME: env.HOME, SOTTO_PASSPHRASE: "" });
    assert.equal(nopass.code, 1);
    assert.equal(
      nopass.stderr,
      "sotto: No passphrase: without a terminal, set SOTTO_PASSPHRASE or use --passphrase-file FILE.\n",
    );
    const third = await run(flags, [...args, "--json"], env, "/id\n");
    assert.equal(third.code, EXIT_OK, third.stderr);
    assert.match(third.stdout, /"event":"ready"/);
  } finally {
    await relay.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "B7: in a terminal, `deno run client.ts HOST` asks for each permission after one line saying why",
  ignore: !hasScript,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "sotto-perm-pty-" });
    const relay = await RelayProcess.start(join(root, "relay"));
    const home = join(root, "home");
    const command =
      `stty cols 100 rows 24 && exec '${denoCommand()}' run '${CLIENT}' -p ${relay.port} 127.0.0.1`;
    const child = new Deno.Command("script", {
      args: ["-q", "-e", "-c", command, "/dev/null"],
      env: { HOME: home, TERM: "xterm" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const vt = new VirtualTerminal(100, 24);
    let raw = "";
    const output = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        raw += chunk;
        vt.write(chunk);
      }
    })();
    const errors = new Response(child.stderr).text();
    const keys = child.stdin.getWriter();
    const type = (s: string) => keys.write(new TextEncoder().encode(s));
    // deno-lint-ignore no-control-regex
    const plain = () => raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
    const seen = async (count: (text: string) => number, n: number, what: string) => {
      for (let i = 0; i < 600 && count(plain()) < n; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(count(plain()) >= n, `${what}; the output:\n${plain()}`);
    };
    const occurrences = (needle: string) => (text: string) => text.split(needle).length - 1;
    try {
      const whys = [
        ["sotto reads HOME to find its data folder", 'env access to "HOME"'],
        ["sotto keeps your encrypted keystore", `read access to "${join(home, ".sotto")}"`],
        ["sotto writes your keystore", `write access to "${join(home, ".sotto")}"`],
        ["sotto checks the free space", 'sys access to "statfs"'],
        ["sotto connects to the relay", `net access to "127.0.0.1:${relay.port}"`],
      ];
      for (let i = 0; i < whys.length; i++) {
        await seen(occurrences("Allow?"), i + 1, `prompt ${i + 1}`);
        // Deno empties the terminal's input as it prompts: answer once the prompt is drawn.
        await new Promise((r) => setTimeout(r, 500));
        await type("y\r");
        await seen(occurrences("✅ Granted"), i + 1, `grant ${i + 1}`);
      }
      // Each prompt comes right after the line saying why.
      const text = plain();
      for (const [why, what] of whys) {
        const at = text.indexOf(why);
        assert.ok(at >= 0, why);
        assert.match(
          text.slice(at),
          new RegExp(
            `^${why}[^\\n]*\\r?\\n┏ ⚠️ +Deno requests ${what.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`,
          ),
        );
      }
      await seen(occurrences("New passphrase:"), 1, "the passphrase prompt");
      await type("a terminal passphrase\r");
      await seen(occurrences("Again:"), 1, "the second passphrase prompt");
      await type("a terminal passphrase\r");
      for (let i = 0; i < 600 && !/You are [0-9a-z-]+\./.test(vt.text()); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(vt.text(), /You are [0-9a-z-]+\./, vt.text());
      await type("\x03");
      const status = await child.status;
      await output;
      assert.equal(status.code, EXIT_OK, plain().slice(-500));
      assert.equal(await errors, "");
      assert.doesNotMatch(raw, /\bat .*\.ts:\d+/, "no stack trace");
    } finally {
      await keys.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      await output;
      await errors;
      await relay.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
