// Throughput of ChaCha20, Poly1305, ChaCha20-Poly1305 and XChaCha20-Poly1305 (RFC 8439,
// draft-irtf-cfrg-xchacha-03). Web Crypto has no ChaCha20, so each group compares the parts with the
// ChaCha20-Poly1305 seal of the same size as its baseline.
import { chacha20 } from "../crypto/chacha20.ts";
import {
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  xchacha20Poly1305Open,
  xchacha20Poly1305Seal,
} from "../crypto/chacha20poly1305.ts";
import { poly1305 } from "../crypto/poly1305.ts";

const key = crypto.getRandomValues(new Uint8Array(32));
const nonce = crypto.getRandomValues(new Uint8Array(12));
const xnonce = crypto.getRandomValues(new Uint8Array(24));
const aad = crypto.getRandomValues(new Uint8Array(13));

for (const [label, size] of [["64 B", 64], ["1 KiB", 1024], ["16 KiB", 16384], ["1 MiB", 1 << 20]] as const) {
  const data = new Uint8Array(size).fill(0x5a);
  const sealed = chacha20Poly1305Seal(key, nonce, data, aad);
  const xsealed = xchacha20Poly1305Seal(key, xnonce, data, aad);
  const group = `chacha20poly1305 ${label}`;
  Deno.bench({
    name: `ChaCha20-Poly1305 seal ${label}`,
    group,
    baseline: true,
    fn: () => void chacha20Poly1305Seal(key, nonce, data, aad),
  });
  Deno.bench({
    name: `ChaCha20-Poly1305 open ${label}`,
    group,
    fn: () => void chacha20Poly1305Open(key, nonce, sealed, aad),
  });
  Deno.bench({
    name: `XChaCha20-Poly1305 seal ${label}`,
    group,
    fn: () => void xchacha20Poly1305Seal(key, xnonce, data, aad),
  });
  Deno.bench({
    name: `XChaCha20-Poly1305 open ${label}`,
    group,
    fn: () => void xchacha20Poly1305Open(key, xnonce, xsealed, aad),
  });
  Deno.bench({ name: `ChaCha20 ${label}`, group, fn: () => void chacha20(key, nonce, 1, data) });
  Deno.bench({ name: `Poly1305 ${label}`, group, fn: () => void poly1305(key, data) });
}
