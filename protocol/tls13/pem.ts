// PEM text (RFC 7468) and EC private-key files: SEC1 `ECPrivateKey` (RFC 5915) and PKCS#8
// `PrivateKeyInfo` (RFC 5208 / RFC 5958, RFC 5480 parameters), so that OpenSSL and Deno.listenTls can
// read the keys we write and we can read theirs. Pure: no I/O.

import { checkBytes, equalBytes } from "../../crypto/bytes.ts";
import {
  encodeElement,
  encodeOid,
  OID_EC_PUBLIC_KEY,
  parseSingle,
  readChildren,
  readOid,
  TAG,
} from "../../crypto/der.ts";
import type { Curve } from "../../crypto/ec.ts";
import { p521 } from "../../crypto/p521.ts";

/** PEM bodies larger than this are refused (a P-521 certificate is under 1 KiB, its key 223 bytes). */
const MAX_PEM_TEXT = 1 << 20;

const LABEL = /^[A-Z0-9]+(?: [A-Z0-9]+)*$/;

/** One `-----BEGIN label-----` … `-----END label-----` block of a PEM text. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/** `der` as a PEM block: base64 in 64-character lines between BEGIN and END lines, ending in "\n". */
export function encodePem(label: string, der: Uint8Array): string {
  checkLabel(label);
  checkBytes(der, "der");
  const b64 = der.toBase64();
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}${lines.length ? "\n" : ""}-----END ${label}-----\n`;
}

/**
 * Every PEM block in `text`, in order. Text outside the blocks is ignored (RFC 7468 §2 explanatory text);
 * inside a block only base64 lines are allowed: no headers (encrypted PEM), strict padding, and the END
 * label must match the BEGIN label. Throws a RangeError saying what is wrong and on which line.
 */
export function decodePemBlocks(text: string): PemBlock[] {
  if (typeof text !== "string") throw new TypeError(`PEM text must be a string, got ${typeof text}`);
  if (text.length > MAX_PEM_TEXT) throw new RangeError(`PEM text is longer than ${MAX_PEM_TEXT} characters`);
  const lines = text.split(/\r?\n/);
  const blocks: PemBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trimEnd();
    if (line.startsWith("-----END ")) {
      throw new RangeError(`PEM: END line without a BEGIN line (line ${i + 1})`);
    }
    if (!line.startsWith("-----BEGIN ")) continue;
    const begin = /^-----BEGIN (.*)-----$/.exec(line);
    if (!begin || !LABEL.test(begin[1])) throw new RangeError(`PEM: malformed BEGIN line (line ${i + 1})`);
    const label = begin[1];
    const body: string[] = [];
    let j = i + 1;
    for (;; j++) {
      if (j >= lines.length) throw new RangeError(`PEM: "${label}" block has no END line`);
      const inner = lines[j].trim();
      if (inner.startsWith("-----")) break;
      if (inner.includes(":")) {
        throw new RangeError(
          `PEM: "${label}" block has headers (encrypted PEM is not supported), line ${j + 1}`,
        );
      }
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(inner)) {
        throw new RangeError(`PEM: "${label}" block has a non-base64 character on line ${j + 1}`);
      }
      body.push(inner);
    }
    if (lines[j].trim() !== `-----END ${label}-----`) {
      throw new RangeError(`PEM: expected "-----END ${label}-----" on line ${j + 1}`);
    }
    const b64 = body.join("");
    let der: Uint8Array;
    try {
      der = Uint8Array.fromBase64(b64, { lastChunkHandling: "strict" });
    } catch {
      throw new RangeError(`PEM: "${label}" block is not valid base64 (bad length or padding)`);
    }
    if (der.length === 0) throw new RangeError(`PEM: "${label}" block is empty`);
    blocks.push({ label, der });
    i = j;
  }
  return blocks;
}

/**
 * The DER bytes of the one PEM block in `text` (of the given label, when one is given: other blocks, such
 * as the "EC PARAMETERS" that `openssl ecparam -genkey` writes first, are then skipped). Throws a
 * RangeError when there is no such block or more than one.
 */
export function decodePem(text: string, label?: string): Uint8Array {
  if (label !== undefined) checkLabel(label);
  const all = decodePemBlocks(text);
  const blocks = label === undefined ? all : all.filter((b) => b.label === label);
  const what = label === undefined ? "PEM block" : `"${label}" PEM block`;
  if (blocks.length === 0) {
    const found = all.length ? ` (found ${all.map((b) => `"${b.label}"`).join(", ")})` : "";
    throw new RangeError(`PEM: no ${what}${found}`);
  }
  if (blocks.length > 1) throw new RangeError(`PEM: expected one ${what}, found ${blocks.length}`);
  return blocks[0].der;
}

// ---- EC private keys -------------------------------------------------------------------------------

/**
 * SEC1 `ECPrivateKey` DER (RFC 5915 §3): version 1, the secret key as a fixed-length OCTET STRING, the
 * named curve in [0] and the uncompressed public key in [1]. For P-521 this is 223 bytes. This is what
 * OpenSSL writes under "EC PRIVATE KEY".
 */
export function encodeEcPrivateKey(secretKey: Uint8Array, curve: Curve = p521): Uint8Array {
  checkBytes(secretKey, "secretKey", curve.byteLength);
  const publicKey = curve.getPublicKey(secretKey, false); // also checks 1 ≤ d ≤ n − 1
  return encodeElement(
    TAG.SEQUENCE,
    encodeElement(TAG.INTEGER, Uint8Array.of(1)),
    encodeElement(TAG.OCTET_STRING, secretKey),
    encodeElement(0xa0, encodeOid(curve.oid)),
    encodeElement(0xa1, encodeElement(TAG.BIT_STRING, Uint8Array.of(0), publicKey)),
  );
}

/**
 * The secret key of a SEC1 `ECPrivateKey` DER on `curve`. The named curve, when present, must be
 * `curve`'s (it may be absent only inside PKCS#8, which names the curve itself: pass `fromPkcs8`); the
 * public key, when present, must be the one the secret key gives. Throws a RangeError otherwise.
 */
export function decodeEcPrivateKey(der: Uint8Array, curve: Curve = p521, fromPkcs8 = false): Uint8Array {
  checkBytes(der, "der");
  const fail = (why: string) => new RangeError(`EC private key: ${why}`);
  const seq = wrapDer(() => parseSingle(der, TAG.SEQUENCE, "ECPrivateKey"));
  const [version, key, ...rest] = wrapDer(() => readChildren(seq.value));
  if (!version || version.tag !== TAG.INTEGER || version.value.length !== 1 || version.value[0] !== 1) {
    throw fail("not an ECPrivateKey (version must be 1)");
  }
  if (!key || key.tag !== TAG.OCTET_STRING) throw fail("the private key must be an OCTET STRING");
  if (key.value.length !== curve.byteLength) {
    throw fail(
      `the private key must be ${curve.byteLength} bytes for ${curve.name}, got ${key.value.length}`,
    );
  }
  let params: Uint8Array | undefined;
  let publicKey: Uint8Array | undefined;
  let i = 0;
  if (rest[i]?.tag === 0xa0) params = rest[i++].value;
  if (rest[i]?.tag === 0xa1) publicKey = rest[i++].value;
  if (i !== rest.length) throw fail("unexpected elements after the public key");
  if (params) {
    const oid = wrapDer(() => readOid(parseSingle(params, TAG.OID, "named curve")));
    if (oid !== curve.oid) throw fail(`the key is on curve ${oid}, expected ${curve.name} (${curve.oid})`);
  } else if (!fromPkcs8) {
    throw fail("the named curve is missing");
  }
  const secretKey = key.value.slice();
  let derived: Uint8Array;
  try {
    derived = curve.getPublicKey(secretKey, false);
  } catch {
    throw fail(`the private key is not in [1, n - 1] for ${curve.name}`);
  }
  if (publicKey) {
    const bits = wrapDer(() => parseSingle(publicKey, TAG.BIT_STRING, "public key"));
    if (bits.value[0] !== 0) throw fail("the public key BIT STRING has unused bits");
    const given = bits.value.subarray(1);
    const matches = given[0] === 0x04
      ? equalBytes(given, derived)
      : equalBytes(given, curve.getPublicKey(secretKey, true));
    if (!matches) throw fail("the public key does not belong to the private key");
  }
  return secretKey;
}

/**
 * The secret key of a PKCS#8 `PrivateKeyInfo` DER (RFC 5208; RFC 5958 version 1 is also accepted)
 * holding an id-ecPublicKey key on `curve`. This is what OpenSSL writes under "PRIVATE KEY".
 */
export function decodePkcs8EcPrivateKey(der: Uint8Array, curve: Curve = p521): Uint8Array {
  checkBytes(der, "der");
  const fail = (why: string) => new RangeError(`PKCS#8 private key: ${why}`);
  const seq = wrapDer(() => parseSingle(der, TAG.SEQUENCE, "PrivateKeyInfo"));
  const [version, alg, key, ...rest] = wrapDer(() => readChildren(seq.value));
  if (
    !version || version.tag !== TAG.INTEGER || version.value.length !== 1 || version.value[0] > 1
  ) {
    throw fail("not a PrivateKeyInfo (version must be 0 or 1)");
  }
  if (!alg || alg.tag !== TAG.SEQUENCE) throw fail("the AlgorithmIdentifier is missing");
  const [algOid, param, ...more] = wrapDer(() => readChildren(alg.value));
  if (!algOid || readOidSafe(algOid) !== OID_EC_PUBLIC_KEY) throw fail("not an EC key (id-ecPublicKey)");
  if (!param || param.tag !== TAG.OID || more.length) throw fail("the key has no named curve");
  const oid = readOidSafe(param);
  if (oid !== curve.oid) throw fail(`the key is on curve ${oid}, expected ${curve.name} (${curve.oid})`);
  if (!key || key.tag !== TAG.OCTET_STRING) throw fail("the privateKey must be an OCTET STRING");
  for (const el of rest) {
    if (el.tag !== 0xa0 && el.tag !== 0x81) throw fail("unexpected elements after the private key");
  }
  return decodeEcPrivateKey(key.value, curve, true);
}

/**
 * The secret key in a PEM private-key file on `curve`: "EC PRIVATE KEY" (SEC1) or "PRIVATE KEY" (PKCS#8),
 * whichever the text holds (exactly one). Encrypted keys are refused.
 */
export function decodePrivateKeyPem(text: string, curve: Curve = p521): Uint8Array {
  const keys = decodePemBlocks(text).filter((b) => b.label === "EC PRIVATE KEY" || b.label === "PRIVATE KEY");
  if (keys.length !== 1) {
    throw new RangeError(
      keys.length
        ? `PEM: expected one private key, found ${keys.length}`
        : 'PEM: no "EC PRIVATE KEY" or "PRIVATE KEY" block (encrypted keys are not supported)',
    );
  }
  const [{ label, der }] = keys;
  return label === "EC PRIVATE KEY" ? decodeEcPrivateKey(der, curve) : decodePkcs8EcPrivateKey(der, curve);
}

function checkLabel(label: unknown): asserts label is string {
  if (typeof label !== "string") throw new TypeError(`label must be a string, got ${typeof label}`);
  if (!LABEL.test(label)) throw new RangeError(`label must be upper-case words such as "CERTIFICATE"`);
}

function readOidSafe(el: Parameters<typeof readOid>[0]): string {
  return wrapDer(() => readOid(el));
}

/** Runs a DER step, prefixing its RangeError so the message says what was being read. */
function wrapDer<T>(step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`private key: ${e.message}`);
    throw e;
  }
}
