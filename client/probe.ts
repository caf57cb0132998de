// `client.ts HOST -p PORT --probe`: one TLS 1.3 handshake with the relay and one line of output, for
// checking a server and reading its pin. Success prints `TLS1.3 <suite> <group> pin=<pin>`, the group by
// its IANA name (SecP384r1MLKEM1024, the post-quantum hybrid, from our relay); failure prints one line
// with the reason (and the TLS alert, when there is one). It stores nothing: no keystore, no pin. With
// --pin, a server presenting another key fails with bad_certificate.
import { TlsError } from "../protocol/tls13/alert.ts";
import { TlsConnection, type Transport } from "../protocol/tls13/connection.ts";
import { spkiPin } from "../protocol/tls13/x509.ts";
import type { CurveName } from "../protocol/suite.ts";
import { tlsGroupsFor } from "./connection.ts";
import { keyLogFromEnv } from "../io/keylog.ts";

const TIMEOUT_MS = 15_000;

export interface ProbeOptions {
  host: string;
  port: number;
  /** The classical group offered first, after the post-quantum hybrids (client/connection.ts). */
  curve: CurveName;
  /** If set, the server's pin must equal it. */
  pin?: string;
  /** How to open the TCP connection (tests may replace it). */
  dial?: (host: string, port: number) => Promise<Transport>;
}

/** Runs the probe; resolves with the line to print and the exit code (0 or 1). Never throws. */
export async function probe(o: ProbeOptions): Promise<{ line: string; code: number }> {
  const dial = o.dial ?? ((hostname, port) => Deno.connect({ hostname, port }));
  let transport: Transport | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer within ${TIMEOUT_MS / 1000} s`));
        try {
          transport?.close();
        } catch {
          // already closed
        }
      }, TIMEOUT_MS);
    });
    const handshake = (async () => {
      transport = await dial(o.host, o.port);
      let pin = "";
      const tls = await TlsConnection.connect(transport, {
        serverName: o.host,
        ...tlsGroupsFor(o.curve),
        keyLog: keyLogFromEnv(),
        verifyPeer: (_cert, spki) => {
          pin = spkiPin(spki);
          if (o.pin !== undefined && pin !== o.pin) {
            throw new Error(`the server's pin is ${pin}, not the ${o.pin} given with --pin`);
          }
        },
      });
      const { cipherSuite, group } = tls.info;
      await tls.close();
      return `TLS1.3 ${cipherSuite} ${group} pin=${pin}`;
    })();
    return { line: await Promise.race([handshake, timeout]), code: 0 };
  } catch (e) {
    try {
      (transport as Transport | null)?.close();
    } catch {
      // already closed
    }
    return { line: `probe failed: ${describe(e)}`, code: 1 };
  } finally {
    clearTimeout(timer);
  }
}

function describe(e: unknown): string {
  if (e instanceof TlsError) return e.message; // names the alert, sent or received
  if (e instanceof Deno.errors.ConnectionRefused) return "connection refused (is the relay running there?)";
  if (e instanceof Deno.errors.NotCapable) return `permission denied: ${(e as Error).message}`;
  if (e instanceof Error) return e.message.split("\n")[0];
  return String(e);
}
