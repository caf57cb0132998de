// The errors the crypto core throws besides TypeError and RangeError for bad arguments.

/**
 * The one error every AEAD `open` throws when a ciphertext, tag, nonce or associated data is wrong. It
 * carries no detail on purpose: which check failed, or where, must not be observable.
 */
export class AuthenticationError extends Error {
  constructor() {
    super("authentication failed");
    this.name = "AuthenticationError";
  }
}

/**
 * A public key (or other encoded point) that fails validation: wrong length or prefix, a coordinate not
 * below p, not on the curve, or the point at infinity. A RangeError, so callers that treat bad values as
 * range errors keep working; the message names the argument and the reason.
 */
export class InvalidPointError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "InvalidPointError";
  }
}
