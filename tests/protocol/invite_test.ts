// Invitations (protocol/invite.ts): the round trip for every kind of host, the CRC-32 against its check
// value and against Python's zlib on random inputs, every single-character substitution, adjacent swap,
// loss and addition refused, and the strict parser's limits and sentences.
import assert from "node:assert/strict";
import { bytesToHex, equalBytes } from "../../crypto/bytes.ts";
import { formatId, ID_BYTES } from "../../protocol/identity.ts";
import {
  crc32,
  formatInvitation,
  INVITATION_PREFIX,
  invitationCheck,
  InvitationError,
  looksLikeInvitation,
  MAX_INVITATION_CHARS,
  parseInvitation,
} from "../../protocol/invite.ts";
import { findPeer, peerMissing } from "../_peers.ts";
import { decisions, seededRandom } from "./_helpers.ts";

const random = seededRandom("invitations");
const PIN = "foK4WunZecd6p4wuvqlOsHq1PTmfUm13BsgFiIXkG7w";
const id = random(ID_BYTES);

/** An invitation with a right checksum around any body (to reach the checks after the checksum). */
const signed = (body: string) => `${body}/${invitationCheck(body)}`;

function refused(text: string, pattern?: RegExp): InvitationError {
  try {
    parseInvitation(text);
  } catch (e) {
    assert.ok(e instanceof InvitationError, `${text}: ${e}`);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`accepted ${JSON.stringify(text)}`);
}

Deno.test("invitation: round trip for a name, IPv4 and IPv6, and the written form", () => {
  const cases: [string, string][] = [
    ["relay.example.org", "relay.example.org"],
    ["Relay.Example.ORG.", "relay.example.org"],
    ["127.0.0.1", "127.0.0.1"],
    ["localhost", "localhost"],
    ["::1", "::1"],
    ["[2001:DB8:0:0:0:0:0:1]", "2001:db8::1"],
  ];
  for (const [host, canonical] of cases) {
    for (const port of [1, 6174, 65535]) {
      const text = formatInvitation({ host, port, pin: PIN, id });
      const back = parseInvitation(text);
      assert.equal(back.host, canonical);
      assert.equal(back.port, port);
      assert.equal(back.pin, PIN);
      assert.ok(equalBytes(back.id, id));
      assert.ok(looksLikeInvitation(text));
      assert.ok(text.length <= MAX_INVITATION_CHARS);
      assert.deepEqual(parseInvitation(`  ${text}\n`), back, "surrounding white space");
    }
  }
  const text = formatInvitation({ host: "relay.example.org", port: 6174, pin: PIN, id });
  assert.match(
    text,
    /^sotto:\/\/relay\.example\.org:6174\/[0-9a-z-]{41}\/[A-Za-z0-9_-]{43}\/[0-3][0-9a-z]{6}$/,
  );
  assert.ok(text.includes(`/${formatId(id)}/`), "the ID is written as everywhere else");
  assert.equal(
    formatInvitation({ host: "::1", port: 6174, pin: PIN, id }).slice(0, 20),
    "sotto://[::1]:6174/" + formatId(id)[0],
  );
  const longest = formatInvitation({
    host: `${"a".repeat(63)}.`.repeat(3) + "a".repeat(61),
    port: 65535,
    pin: PIN,
    id,
  });
  assert.equal(longest.length, 361);
  assert.ok(!looksLikeInvitation(formatId(id)));
  assert.throws(() => formatInvitation({ host: "bad host", port: 6174, pin: PIN, id }), RangeError);
  assert.throws(() => formatInvitation({ host: "a", port: 0, pin: PIN, id }), RangeError);
  assert.throws(() => formatInvitation({ host: "a", port: 1, pin: "x", id }), RangeError);
  assert.throws(() => formatInvitation({ host: "a", port: 1, pin: PIN, id: id.slice(1) }), RangeError);
});

Deno.test("invitation: CRC-32 is zlib's (the check value, and Python's zlib on random inputs)", async () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const inputs = Array.from({ length: 200 }, (_, i) => random(i * 3));
  const mine = inputs.map((b) => crc32(b).toString());
  const python = findPeer("python3");
  if (python === null) {
    assert.ok(peerMissing("python3"), "python3 is required under CI=true");
    return;
  }
  const script = "import sys, zlib\nfor line in sys.stdin.read().split():\n" +
    "    print(zlib.crc32(bytes.fromhex(line[1:])))\n";
  const child = new Deno.Command(python, { args: ["-c", script], stdin: "piped", stdout: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(inputs.map((b) => `x${bytesToHex(b)}`).join("\n")));
  await w.close();
  const out = new TextDecoder().decode((await child.output()).stdout).trim().split("\n");
  assert.deepEqual(out, mine);
});

Deno.test("invitation: every substitution, adjacent swap, lost or added character is refused", () => {
  const d = decisions(12);
  const hosts = ["relay.example.org", "10.0.0.7", "2001:db8::7"];
  const printable = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i));
  for (const host of hosts) {
    const text = formatInvitation({ host, port: 6174, pin: PIN, id: random(ID_BYTES) });
    let typos = 0;
    for (let at = 0; at < text.length; at++) {
      for (const ch of printable) {
        if (ch === text[at]) continue;
        // The check characters are read in any case: an upper-case one is the same character.
        if (at >= text.length - 7 && ch.toLowerCase() === text[at]) continue;
        refused(text.slice(0, at) + ch + text.slice(at + 1));
        typos++;
      }
    }
    for (let at = 0; at + 1 < text.length; at++) {
      if (text[at] === text[at + 1]) continue;
      refused(text.slice(0, at) + text[at + 1] + text[at] + text.slice(at + 2));
    }
    for (let at = 0; at < text.length; at++) {
      refused(text.slice(0, at) + text.slice(at + 1));
      refused(text.slice(0, at) + printable[d.int(94)] + text.slice(at));
    }
    assert.ok(typos > 90 * text.length);
    // A typo in the body or the checksum says so.
    const body = text.lastIndexOf("/") - 3;
    const typo = refused(text.slice(0, body) + (text[body] === "a" ? "b" : "a") + text.slice(body + 1));
    assert.ok(typo.typo);
    assert.match(
      typo.message,
      /checksum does not match: it was probably mistyped or cut short; copy it again\.$/,
    );
    assert.ok(refused(text.slice(0, -10)).typo, "cut short");
  }
});

Deno.test("invitation: the strict parser's limits and sentences", () => {
  const good = formatInvitation({ host: "relay.example.org", port: 6174, pin: PIN, id });
  const idText = formatId(id);
  refused("x".repeat(MAX_INVITATION_CHARS + 1), /too long/);
  refused("https://relay.example.org", /starts with sotto:\/\//);
  refused("sotto:relay.example.org:6174", /starts with sotto:\/\//);
  // White space anywhere is ignored: an invitation broken across lines still reads.
  const broken = good.match(/.{1,30}/g)!.join("\n  ") + "\r\n";
  assert.deepEqual(parseInvitation(broken), parseInvitation(good));
  refused(" ".repeat(2 * MAX_INVITATION_CHARS + 1), /too long/);
  refused(good.slice(0, 20) + "é" + good.slice(21), /characters no invitation has/);
  refused(good.slice(0, good.lastIndexOf("/")), /not complete/);
  refused(`${INVITATION_PREFIX}a:1/${idText}/${PIN}/zzzzzzz`, /checksum does not match/); // above 2^32
  const body = `${INVITATION_PREFIX}relay.example.org:6174/${idText}/${PIN}`;
  assert.ok(parseInvitation(signed(body)));
  assert.ok(parseInvitation(signed(body).toUpperCase().slice(-7).replace(/^/, signed(body).slice(0, -7))));
  for (const port of ["0", "65536", "06174", "", "x"]) {
    refused(signed(`${INVITATION_PREFIX}relay.example.org:${port}/${idText}/${PIN}`), /port/);
  }
  refused(signed(`${INVITATION_PREFIX}relay.example.org/${idText}/${PIN}`), /port/);
  for (
    const host of ["-a.org", "a..org", "a_b.org", "[1.2.3.4]", "[::1", "999.1.1.1", `${"a".repeat(64)}.org`]
  ) {
    refused(signed(`${INVITATION_PREFIX}${host}:6174/${idText}/${PIN}`), /relay is wrong/);
  }
  refused(signed(`${INVITATION_PREFIX}a:6174/${idText}/${PIN.slice(1)}`), /pin is not a pin/);
  refused(
    signed(`${INVITATION_PREFIX}a:6174/${idText.slice(0, -2)}/${PIN}`),
    /not written as sotto writes IDs/,
  );
  refused(signed(`${INVITATION_PREFIX}a:6174/${idText.replaceAll("-", "")}/${PIN}`), /not written as sotto/);
  const wrongCheck = idText.slice(0, -1) + (idText.endsWith("0") ? "1" : "0");
  assert.ok(refused(signed(`${INVITATION_PREFIX}a:6174/${wrongCheck}/${PIN}`), /probably a typo/).typo);
  refused(signed(`${INVITATION_PREFIX}a:6174/${idText}/${PIN}/extra`), /not complete/);
  assert.throws(() => parseInvitation(7 as unknown as string), TypeError);
});
