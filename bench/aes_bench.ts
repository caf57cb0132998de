// Throughput of AES-GCM (NIST SP 800-38D) and the AES block cipher (FIPS 197) beside Web Crypto. Each
// AES-GCM group has Web Crypto's AES-256-GCM seal of the same size as its baseline; the block cipher is
// compared with a one-block Web Crypto AES-CTR encryption (one AES call behind an async API).
import { Aes, AesGcm, aesGcmOpen, aesGcmSeal } from "../crypto/aes.ts";

const key16 = crypto.getRandomValues(new Uint8Array(16));
const key32 = crypto.getRandomValues(new Uint8Array(32));
const iv = crypto.getRandomValues(new Uint8Array(12));
const aad = crypto.getRandomValues(new Uint8Array(13));
const web32 = await crypto.subtle.importKey("raw", key32, "AES-GCM", false, ["encrypt", "decrypt"]);
const keyed32 = new AesGcm(key32);

for (const [label, size] of [["64 B", 64], ["1 KiB", 1024], ["16 KiB", 16384], ["1 MiB", 1 << 20]] as const) {
  const data = new Uint8Array(size).fill(0x5a);
  const group = `aes-gcm ${label}`;
  const params = { name: "AES-GCM", iv, additionalData: aad };
  const sealed = new Uint8Array(await crypto.subtle.encrypt(params, web32, data));
  Deno.bench({
    name: `Web Crypto AES-256-GCM seal ${label}`,
    group,
    baseline: true,
    fn: async () => void await crypto.subtle.encrypt(params, web32, data),
  });
  Deno.bench({
    name: `Web Crypto AES-256-GCM open ${label}`,
    group,
    fn: async () => void await crypto.subtle.decrypt(params, web32, sealed),
  });
  Deno.bench({ name: `AES-256-GCM seal ${label}`, group, fn: () => void aesGcmSeal(key32, iv, data, aad) });
  Deno.bench({ name: `AES-256-GCM open ${label}`, group, fn: () => void aesGcmOpen(key32, iv, sealed, aad) });
  Deno.bench({ name: `AES-128-GCM seal ${label}`, group, fn: () => void aesGcmSeal(key16, iv, data, aad) });
  Deno.bench({
    name: `AesGcm (keyed) AES-256 seal ${label}`,
    group,
    fn: () => void keyed32.seal(iv, data, aad),
  });
}

const block = new Uint8Array(16).fill(0x5a), out = new Uint8Array(16);
const webCtr = await crypto.subtle.importKey("raw", key32, "AES-CTR", false, ["encrypt"]);
const ctrParams = { name: "AES-CTR", counter: new Uint8Array(16), length: 64 };
const aes32 = new Aes(key32);
Deno.bench({
  name: "Web Crypto AES-256-CTR, one block",
  group: "aes block",
  baseline: true,
  fn: async () => void await crypto.subtle.encrypt(ctrParams, webCtr, block),
});
Deno.bench({
  name: "AES-256 encryptBlock",
  group: "aes block",
  fn: () => void aes32.encryptBlock(block, out),
});
Deno.bench({
  name: "AES-256 decryptBlock",
  group: "aes block",
  fn: () => void aes32.decryptBlock(block, out),
});
Deno.bench({ name: "AES-256 key schedule", group: "aes block", fn: () => void new Aes(key32) });
