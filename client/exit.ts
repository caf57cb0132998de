// The client's exit codes, one per kind of ending a script may want to tell apart (docs/client.md, "Exit
// codes"). A second Ctrl-C or SIGTERM while quitting forces the exit with the shell's usual 128 + signal.

/** Quit by the user (/quit, Ctrl-C, Ctrl-D, end of input, SIGINT or SIGTERM). */
export const EXIT_OK = 0;
/** An error: the keystore, the passphrase, or something unexpected (the sentence says which). */
export const EXIT_ERROR = 1;
/** The command line is wrong. */
export const EXIT_USAGE = 2;
/** Deno's permissions stop the client (the sentence lists the flags to add). */
export const EXIT_PERMISSIONS = 3;
/** The relay's key is not the one trusted: --pin differs, or it changed since the first connection. */
export const EXIT_PIN = 4;
/** The relay refused the login, or another client logged in with this identity. */
export const EXIT_LOGIN = 5;
/** --send: there is no open chat with that ID or nickname (unknown, closed, or not asked for by the peer). */
export const EXIT_NO_CHAT = 6;
/** --send: the relay refused the message (the sentence says why). */
export const EXIT_REFUSED = 7;
/**
 * --send: the relay did not confirm the message in time (unreachable, slow, or the client was
 * interrupted); a message already queued stays in the keystore and leaves with the next run.
 */
export const EXIT_NOT_CONFIRMED = 8;
/** Forced by a second SIGINT (128 + 2) or SIGTERM (128 + 15). */
export const EXIT_FORCED_SIGINT = 130;
export const EXIT_FORCED_SIGTERM = 143;
