// Throughput of SHA-256/384/512 (FIPS 180-4), HMAC (RFC 2104) and HKDF (RFC 5869), each group with
// Web Crypto on the same input as its baseline.
import { systemRandom } from "../crypto/bytes.ts";
import { createHash, hash, type HashName } from "../crypto/sha2.ts";
import { createHmac, hmac } from "../crypto/hmac.ts";
import { hkdf } from "../crypto/hkdf.ts";

// A copy gives the ArrayBuffer-backed type that Web Crypto's signatures ask for.
const random = (n: number) => new Uint8Array(systemRandom(n));

const HASHES: HashName[] = ["SHA-256", "SHA-384", "SHA-512"];
const SIZES = [["64 B", 64], ["1 KiB", 1024], ["16 KiB", 16384], ["1 MiB", 1 << 20]] as const;

for (const name of HASHES) {
  for (const [label, size] of SIZES) {
    const data = random(size);
    const group = `${name} ${label}`;
    Deno.bench({
      name: `Web Crypto ${name} ${label}`,
      group,
      baseline: true,
      fn: async () => void await crypto.subtle.digest(name, data),
    });
    Deno.bench({ name: `${name} ${label}`, group, fn: () => void hash(name, data) });
    Deno.bench({
      name: `${name} ${label} in 1 KiB updates`,
      group,
      fn: () => {
        const h = createHash(name);
        for (let i = 0; i < size; i += 1024) h.update(data.subarray(i, i + 1024));
        h.digest();
      },
    });
  }
}

for (const name of HASHES) {
  const key = random(32);
  const webKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: name }, false, ["sign"]);
  const keyed = createHmac(name, key);
  for (const [label, size] of SIZES.slice(0, 3)) {
    const data = random(size);
    const group = `HMAC-${name} ${label}`;
    Deno.bench({
      name: `Web Crypto HMAC-${name} ${label}`,
      group,
      baseline: true,
      fn: async () => void await crypto.subtle.sign("HMAC", webKey, data),
    });
    Deno.bench({ name: `HMAC-${name} ${label}`, group, fn: () => void hmac(name, key, data) });
    Deno.bench({
      name: `HMAC-${name} ${label}, keyed state reused`,
      group,
      fn: () => void keyed.clone().update(data).digest(),
    });
  }
}

for (const name of HASHES) {
  const ikm = random(32), salt = random(32), info = random(20);
  const webKey = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  for (const length of [32, 1024]) {
    const group = `HKDF-${name} ${length} B output`;
    Deno.bench({
      name: `Web Crypto HKDF-${name} ${length} B`,
      group,
      baseline: true,
      fn: async () =>
        void await crypto.subtle.deriveBits({ name: "HKDF", hash: name, salt, info }, webKey, 8 * length),
    });
    Deno.bench({
      name: `HKDF-${name} ${length} B`,
      group,
      fn: () => void hkdf(name, ikm, salt, info, length),
    });
  }
}
