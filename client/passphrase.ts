// Where the keystore passphrase comes from: `--passphrase-file F` (its first line), the SOTTO_PASSPHRASE
// environment variable, or a prompt on the terminal with nothing echoed (asked twice for a new keystore).
// Without a terminal and without either of the others, the client stops with one sentence saying how to
// give it one.

import { MIN_PASSPHRASE_CHARS, type PassphraseSource } from "./keystore.ts";

/** The variable non-interactive runs set. */
export const PASSPHRASE_ENV = "SOTTO_PASSPHRASE";

/** The user left the prompt (Ctrl-C or Ctrl-D). */
export class PromptCancelled extends Error {
  constructor() {
    super("No passphrase was entered.");
    this.name = "PromptCancelled";
  }
}

/** A terminal to prompt on: raw byte input, output, and raw mode. */
export interface PromptTerminal {
  read(p: Uint8Array): Promise<number | null>;
  write(text: string): void;
  setRaw(raw: boolean): void;
}

/** Why no passphrase could be had, in one sentence. */
export class PassphraseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PassphraseError";
  }
}

/** Reads a passphrase without echo; Enter ends it, Backspace edits, Ctrl-C or Ctrl-D cancel. */
export async function promptHidden(term: PromptTerminal, prompt: string): Promise<string> {
  term.write(prompt);
  term.setRaw(true);
  const chars: number[] = [];
  // One byte at a time, so nothing typed after Enter is taken from whoever reads next.
  const buf = new Uint8Array(1);
  try {
    for (;;) {
      if ((await term.read(buf)) === null) throw new PromptCancelled();
      const b = buf[0];
      if (b === 0x0d || b === 0x0a) return new TextDecoder().decode(Uint8Array.from(chars));
      if (b === 0x03 || (b === 0x04 && chars.length === 0)) throw new PromptCancelled();
      if (b === 0x7f || b === 0x08) {
        // Remove one UTF-8 character: its continuation bytes, then its lead byte.
        while (chars.length > 0 && (chars[chars.length - 1] & 0xc0) === 0x80) chars.pop();
        chars.pop();
      } else if (b === 0x15) chars.length = 0; // Ctrl-U
      else if (b >= 0x20 || b === 0x09) chars.push(b);
    }
  } finally {
    term.setRaw(false);
    term.write("\r\n");
  }
}

/** The first line of a passphrase file (a trailing newline is not part of the passphrase). */
export async function readPassphraseFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new PassphraseError(`Cannot read the passphrase file ${path}: ${(e as Error).message}.`, {
      cause: e,
    });
  }
  const line = text.split(/\r?\n/)[0];
  if (line === "") throw new PassphraseError(`The passphrase file ${path} is empty.`);
  return line;
}

/** SOTTO_PASSPHRASE if it is set and readable (asked without prompting for permission). */
export function passphraseFromEnv(): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: PASSPHRASE_ENV }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(PASSPHRASE_ENV) || undefined;
}

/** The source the client uses: file, then environment, then the terminal (if there is one). */
export function passphraseSource(
  options: { file?: string; terminal: PromptTerminal | null },
): PassphraseSource {
  return async (creating: boolean) => {
    if (options.file !== undefined) return await readPassphraseFile(options.file);
    const env = passphraseFromEnv();
    if (env !== undefined) return env;
    const term = options.terminal;
    if (term === null) {
      throw new PassphraseError(
        `No passphrase: without a terminal, set ${PASSPHRASE_ENV} or use --passphrase-file FILE.`,
      );
    }
    if (!creating) return await promptHidden(term, "Passphrase: ");
    term.write(
      "Choose a passphrase for your keystore (it is never sent anywhere; nothing is shown as you type).\r\n",
    );
    for (;;) {
      const first = await promptHidden(term, "New passphrase: ");
      if ([...first].length < MIN_PASSPHRASE_CHARS) {
        term.write(`Use at least ${MIN_PASSPHRASE_CHARS} characters; a few unrelated words are best.\r\n`);
        continue;
      }
      const second = await promptHidden(term, "Again: ");
      if (first === second) return first;
      term.write("The two passphrases differ; try again.\r\n");
    }
  };
}
