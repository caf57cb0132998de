// The TLS 1.3 key schedule (RFC 8446 §7): HKDF-Expand-Label, Derive-Secret, the early, handshake and
// master secrets, traffic keys, Finished, KeyUpdate's "traffic upd" and the exporter (§7.5). No PSK:
// the early secret is always HKDF-Extract(0, 0).

import { concatBytes, utf8 } from "../../crypto/bytes.ts";
import { createHkdfExpand, hkdfExpand, hkdfExtract } from "../../crypto/hkdf.ts";
import { hmac } from "../../crypto/hmac.ts";
import { hash, hashLength, type HashName } from "../../crypto/sha2.ts";
import type { CipherSuite } from "./suites.ts";

const LABEL_PREFIX = utf8("tls13 ");
const EMPTY = new Uint8Array(0);

/** "tls13 " ‖ label, by label: the handful of labels TLS uses are encoded once. */
const FULL_LABELS = new Map<string, Uint8Array>();

/** The HkdfLabel structure (RFC 8446 §7.1): uint16 length ‖ opaque label<7..255> ‖ opaque context<0..255>. */
export function hkdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  let full = FULL_LABELS.get(label);
  if (full === undefined) {
    full = concatBytes(LABEL_PREFIX, utf8(label));
    if (full.length > 255) throw new RangeError(`label must be at most 249 bytes, got ${full.length - 6}`);
    if (FULL_LABELS.size < 64) FULL_LABELS.set(label, full);
  }
  if (context.length > 255) throw new RangeError(`context must be at most 255 bytes, got ${context.length}`);
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new RangeError(`length must be an integer in [0, 65535], got ${length}`);
  }
  const out = new Uint8Array(4 + full.length + context.length);
  out[0] = length >> 8, out[1] = length & 0xff, out[2] = full.length;
  out.set(full, 3);
  out[3 + full.length] = context.length;
  out.set(context, 4 + full.length);
  return out;
}

/** HKDF-Expand-Label(Secret, Label, Context, Length) (RFC 8446 §7.1). */
export function hkdfExpandLabel(
  hashName: HashName,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  return hkdfExpand(hashName, secret, hkdfLabel(label, context, length), length);
}

const EMPTY_HASHES = new Map<HashName, Uint8Array>();

/** Hash(""), the transcript hash of no messages. */
export function emptyHash(hashName: HashName): Uint8Array {
  let h = EMPTY_HASHES.get(hashName);
  if (!h) EMPTY_HASHES.set(hashName, h = hash(hashName, new Uint8Array(0)));
  return h;
}

/** Derive-Secret(Secret, Label, Messages), given Transcript-Hash(Messages) (RFC 8446 §7.1). */
export function deriveSecret(
  hashName: HashName,
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Uint8Array {
  return hkdfExpandLabel(hashName, secret, label, transcriptHash, hashLength(hashName));
}

/** The handshake traffic secrets' labels, client first (RFC 8446 §7.1). */
export const HS_LABELS: readonly string[] = Object.freeze(["c hs traffic", "s hs traffic"]);
/** The application traffic and exporter secrets' labels (RFC 8446 §7.1). */
export const AP_LABELS: readonly string[] = Object.freeze(["c ap traffic", "s ap traffic", "exp master"]);

/**
 * Derive-Secret(Secret, label, Messages) for each label, given Transcript-Hash(Messages): the same values
 * as calling {@link deriveSecret} for each, with HMAC keyed by `secret` once.
 */
export function deriveSecrets(
  hashName: HashName,
  secret: Uint8Array,
  labels: readonly string[],
  transcriptHash: Uint8Array,
): Uint8Array[] {
  const expand = createHkdfExpand(hashName, secret);
  const length = hashLength(hashName);
  return labels.map((label) => expand(hkdfLabel(label, transcriptHash, length), length));
}

/** The early secret without a PSK: HKDF-Extract(0^H, 0^H). */
export function earlySecret(hashName: HashName): Uint8Array {
  const zeros = new Uint8Array(hashLength(hashName));
  return hkdfExtract(hashName, zeros, zeros);
}

const HANDSHAKE_SALTS = new Map<HashName, Uint8Array>();

/**
 * The handshake secret: HKDF-Extract(Derive-Secret(early, "derived", ""), the (EC)DHE shared secret). Without
 * a PSK the salt is a constant of the hash, computed once.
 */
export function handshakeSecret(hashName: HashName, shared: Uint8Array): Uint8Array {
  let salt = HANDSHAKE_SALTS.get(hashName);
  if (!salt) {
    HANDSHAKE_SALTS.set(
      hashName,
      salt = deriveSecret(hashName, earlySecret(hashName), "derived", emptyHash(hashName)),
    );
  }
  return hkdfExtract(hashName, salt, shared);
}

/** The master secret: HKDF-Extract(Derive-Secret(handshake, "derived", ""), 0^H). */
export function masterSecret(hashName: HashName, handshake: Uint8Array): Uint8Array {
  const salt = deriveSecret(hashName, handshake, "derived", emptyHash(hashName));
  return hkdfExtract(hashName, salt, new Uint8Array(hashLength(hashName)));
}

/** The record key and IV of a traffic secret (RFC 8446 §7.3). */
export function trafficKeys(suite: CipherSuite, secret: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  const expand = createHkdfExpand(suite.hash, secret);
  return {
    key: expand(hkdfLabel("key", EMPTY, suite.keyLength), suite.keyLength),
    iv: expand(hkdfLabel("iv", EMPTY, 12), 12),
  };
}

/** finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length) (RFC 8446 §4.4.4). */
export function finishedKey(hashName: HashName, baseKey: Uint8Array): Uint8Array {
  return hkdfExpandLabel(hashName, baseKey, "finished", new Uint8Array(0), hashLength(hashName));
}

/** verify_data = HMAC(finished_key, Transcript-Hash(...)) (RFC 8446 §4.4.4). */
export function finishedVerifyData(
  hashName: HashName,
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
): Uint8Array {
  return hmac(hashName, finishedKey(hashName, baseKey), transcriptHash);
}

/** application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length) (§7.2). */
export function nextTrafficSecret(hashName: HashName, secret: Uint8Array): Uint8Array {
  return hkdfExpandLabel(hashName, secret, "traffic upd", new Uint8Array(0), hashLength(hashName));
}

/**
 * TLS-Exporter(label, context_value, key_length) = HKDF-Expand-Label(Derive-Secret(exporter_master_secret,
 * label, ""), "exporter", Hash(context_value), key_length) (RFC 8446 §7.5). No context and an empty
 * context give the same value in TLS 1.3.
 */
export function exportKeyingMaterial(
  hashName: HashName,
  exporterMasterSecret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const secret = deriveSecret(hashName, exporterMasterSecret, label, emptyHash(hashName));
  return hkdfExpandLabel(hashName, secret, "exporter", hash(hashName, context), length);
}
