// SerialByKey (server/serial.ts): work on one key runs one at a time in order; other keys are not held;
// a failure releases the next.

import assert from "node:assert/strict";
import { SerialByKey } from "../../server/serial.ts";

Deno.test("SerialByKey: one key in order, one at a time; other keys not held; a failure releases the next", async () => {
  const serial = new SerialByKey();
  const log: string[] = [];
  let running = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const job = (name: string, wait?: Promise<void>) => async () => {
    running++;
    assert.equal(running, 1, "one at a time on key a");
    log.push(`start ${name}`);
    await wait;
    log.push(`end ${name}`);
    running--;
    if (name === "a2") throw new Error("a2 failed");
    return name;
  };
  const a1 = serial.run("a", job("a1", held));
  const a2 = serial.run("a", job("a2"));
  const a3 = serial.run("a", job("a3"));
  // Key b runs while a1 is held.
  assert.equal(await serial.run("b", () => Promise.resolve("b1")), "b1");
  assert.deepEqual(log, ["start a1"]);
  release();
  assert.equal(await a1, "a1");
  await assert.rejects(a2, /a2 failed/);
  assert.equal(await a3, "a3");
  assert.deepEqual(log, ["start a1", "end a1", "start a2", "end a2", "start a3", "end a3"]);
});
