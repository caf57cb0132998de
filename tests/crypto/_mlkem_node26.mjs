// The Node 26 side of tests/crypto/mlkem_node26_test.ts, run as a separate process: native ML-KEM from
// OpenSSL 3.5 through node:crypto. Reads one JSON request on stdin and writes one JSON answer on stdout.
//
// For each parameter set it derives key pairs from our seeds (raw-seed import), exports the public keys,
// decapsulates our ciphertexts and random ones, encapsulates to its own keys, generates key pairs of its own
// (exporting their seeds), and reports which of the given invalid public keys it refuses.
import crypto from "node:crypto";
import { Buffer } from "node:buffer";
import process from "node:process";

const hex = (b) => Buffer.from(b).toString("hex");
const bytes = (h) => Buffer.from(h, "hex");

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const answer = request.map(({ type, seeds, cipherTexts, garbage, invalidKeys, generate }) => {
  const privateKeys = seeds.map((s) =>
    crypto.createPrivateKey({ key: bytes(s), format: "raw-seed", asymmetricKeyType: type })
  );
  const publicKeys = privateKeys.map((k) => hex(crypto.createPublicKey(k).export({ format: "raw-public" })));
  const decapsulated = cipherTexts.map((c, i) => hex(crypto.decapsulate(privateKeys[i], bytes(c))));
  const rejected = garbage.map((c, i) => hex(crypto.decapsulate(privateKeys[i], bytes(c))));
  const encapsulated = privateKeys.map((k) => {
    const pub = crypto.createPublicKey({
      key: bytes(publicKeys[privateKeys.indexOf(k)]),
      format: "raw-public",
      asymmetricKeyType: type,
    });
    const { ciphertext, sharedKey } = crypto.encapsulate(pub);
    return { cipherText: hex(ciphertext), sharedSecret: hex(sharedKey) };
  });
  const generated = Array.from({ length: generate }, () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync(type);
    const { ciphertext, sharedKey } = crypto.encapsulate(publicKey);
    return {
      seed: hex(privateKey.export({ format: "raw-seed" })),
      publicKey: hex(publicKey.export({ format: "raw-public" })),
      cipherText: hex(ciphertext),
      sharedSecret: hex(sharedKey),
    };
  });
  const refused = invalidKeys.map((k) => {
    try {
      crypto.encapsulate(
        crypto.createPublicKey({ key: bytes(k), format: "raw-public", asymmetricKeyType: type }),
      );
      return false;
    } catch {
      return true;
    }
  });
  return { publicKeys, decapsulated, rejected, encapsulated, generated, refused };
});
process.stdout.write(JSON.stringify(answer));
