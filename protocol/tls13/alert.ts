// TLS 1.3 alerts (RFC 8446 §6): the descriptions this implementation sends or understands, and the error
// that carries one. Every failure of a handshake or a record ends in a TlsError naming the alert that was
// sent to the peer (or received from it).

/** Alert descriptions (RFC 8446 §6). */
export const Alert = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_unknown: 46,
  illegal_parameter: 47,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;

const NAMES = new Map<number, string>(Object.entries(Alert).map(([name, code]) => [code, name]));

/** The name of an alert description ("alert 123" for one this module does not know). */
export function alertName(code: number): string {
  return NAMES.get(code) ?? `alert ${code}`;
}

/**
 * A fatal TLS failure. `alert` is the alert description that was sent to the peer (`remote` false) or
 * received from it (`remote` true); it is null when the connection ended without any alert (the transport
 * closed early, or the peer cut the connection without close_notify).
 */
export class TlsError extends Error {
  readonly alert: number | null;
  readonly remote: boolean;

  constructor(alert: number | null, message: string, remote = false) {
    const prefix = alert === null ? "" : `${remote ? "received" : "sent"} ${alertName(alert)}: `;
    super(prefix + message);
    this.name = "TlsError";
    this.alert = alert;
    this.remote = remote;
  }
}

/** Shorthand for throwing a TlsError that will be sent to the peer as `alert`. */
export function fail(alert: number, message: string): never {
  throw new TlsError(alert, message);
}
