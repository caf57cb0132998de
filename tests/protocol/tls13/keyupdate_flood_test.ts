// KeyUpdate floods (issue 14): each KeyUpdate costs the receiver a key derivation, and one that asks for an
// answer a second derivation and a record back. A peer may ask for an answer once until it has sent
// application data, and send at most four KeyUpdates in a row; beyond that the connection ends with
// unexpected_message. Application data in between resets both counts.

import assert from "node:assert/strict";
import { Alert, TlsError } from "../../../protocol/tls13/alert.ts";
import { handshake, makePair, testIdentity } from "./_helpers.ts";

const identity = testIdentity();

function refused(f: () => void): TlsError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof TlsError);
    return e;
  }
  throw new Error("not refused");
}

Deno.test("KeyUpdate: a second request before any application data is unexpected_message", () => {
  const p = makePair(identity, {}, {}, "ku-requests");
  handshake(p);
  p.client.updateKeys(true);
  p.server.receive(p.client.takeOutput());
  assert.ok(p.server.hasOutput, "the first request is answered");
  p.server.takeOutput();
  p.client.updateKeys(true);
  const e = refused(() => p.server.receive(p.client.takeOutput()));
  assert.equal(e.alert, Alert.unexpected_message);
  assert.ok(!e.remote);
  assert.throws(() => p.server.receive(new Uint8Array(1)), TlsError, "the connection is dead");
});

Deno.test("KeyUpdate: at most four in a row without application data, answered or not", () => {
  const p = makePair(identity, {}, {}, "ku-plain");
  handshake(p);
  for (let i = 0; i < 4; i++) p.client.updateKeys(false);
  p.server.receive(p.client.takeOutput());
  assert.ok(!p.server.hasOutput);
  p.client.updateKeys(false);
  assert.equal(refused(() => p.server.receive(p.client.takeOutput())).alert, Alert.unexpected_message);
});

Deno.test("KeyUpdate: application data in between resets the counts (one 1-byte record suffices)", () => {
  const p = makePair(identity, {}, {}, "ku-data");
  handshake(p);
  for (let round = 0; round < 50; round++) {
    p.client.updateKeys(true);
    p.client.updateKeys(false);
    p.client.write(Uint8Array.of(round));
    p.server.receive(p.client.takeOutput());
    assert.deepEqual(p.server.read(), Uint8Array.of(round));
    p.server.write(Uint8Array.of(round));
    p.client.receive(p.server.takeOutput()); // the answer (a KeyUpdate without a request), then data
    assert.deepEqual(p.client.read(), Uint8Array.of(round));
  }
  p.client.updateKeys(true);
  p.client.updateKeys(true);
  assert.equal(refused(() => p.server.receive(p.client.takeOutput())).alert, Alert.unexpected_message);
});
