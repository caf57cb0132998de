// Line mode, for when stdin is not a terminal (scripts, tests, pipes): each input line is a command or a
// text for the active chat, exactly as typed in the terminal UI; each event is printed as one plain line
// (a multi-line text continues on lines marked "  | "), or with `--json` as one JSON object per line.
// Several lines make one message between a line "/begin" and a line "/end" (inside, "//" at the start of
// a line stands for "/", so "//end" is a line "/end"). The end of the input quits, like Ctrl-D.

import type { AppHandle } from "./app.ts";
import { type ClientEvent, eventToJson, eventToText } from "./events.ts";
import { MAX_TEXT_BYTES } from "../protocol/payload.ts";
import { encodeQr, qrHalfBlocks } from "./qr.ts";
import { clean } from "./screen.ts";

/** Longest input line kept (longer ones are cut: no command or text is that long). */
const MAX_LINE = 256 * 1024;

/** Black on white, for a QR code on a terminal of any colours; and back. */
export const QR_COLOURS = "\x1b[30;107m", QR_RESET = "\x1b[0m";

/**
 * An invitation's QR code in half blocks (docs/client.md, "Invitations"): level L keeps it small (a
 * screen is clean), in a quiet zone of `quiet` modules.
 */
export function invitationQr(invitation: string, quiet = 2): string[] {
  return qrHalfBlocks(encodeQr(invitation, { ecLevel: "L" }), quiet);
}

/**
 * Prints events: JSON objects, or plain lines with anything a peer controls made harmless. An invitation
 * is followed, in plain lines, by its QR code (`colour`: drawn black on white, for a terminal).
 */
export function lineSink(
  json: boolean,
  write: (text: string) => void,
  options: { colour?: boolean } = {},
): (e: ClientEvent) => void {
  return (e) => {
    if (json) return write(eventToJson(e) + "\n");
    const text = eventToText(e);
    // Each line is cleaned on its own: the breaks are ours (multi-line texts), never a peer's controls.
    if (text !== null) write(text.split("\n").map((line) => clean(line) + "\n").join(""));
    if (e.event === "invitation") {
      const paint = (row: string) => (options.colour ? `${QR_COLOURS}${row}${QR_RESET}` : row);
      write(invitationQr(e.invitation).map((row) => paint(row) + "\n").join(""));
    }
  };
}

/** The lines of a byte stream (UTF-8, "\n" or "\r\n" endings). */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let at: number;
    while ((at = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, at).replace(/\r$/, "");
      buffer = buffer.slice(at + 1);
    }
    if (buffer.length > MAX_LINE) buffer = buffer.slice(0, MAX_LINE);
  }
  if (buffer !== "") yield buffer.replace(/\r$/, "");
}

/**
 * Feeds lines to the app until /quit, the end of the input, or a fatal error; resolves once the app is
 * done (after /quit or the end of input it may first let what was typed reach the relay).
 */
export async function runLineMode(app: AppHandle, lines: AsyncIterable<string>): Promise<void> {
  const iterator = lines[Symbol.asyncIterator]();
  const stopped = app.done.then(() => null);
  const block = new Block();
  for (;;) {
    const next = await Promise.race([iterator.next(), stopped]);
    if (next === null) break;
    if (next.done) {
      app.quit();
      break;
    }
    const line = block.take(next.value);
    if (line instanceof Error) app.error(line.message);
    else if (line !== null && await app.line(line)) break;
  }
  await app.done;
}

/** "/begin" … "/end": the lines between make one message. */
export class Block {
  #lines: string[] | null = null;
  #bytes = 0;

  /**
   * Takes an input line; returns the line to handle (a whole block as one text), null (nothing yet), or
   * an Error whose message says why a block was not sent.
   */
  take(line: string): string | null | Error {
    if (this.#lines === null) {
      if (line.trim().toLowerCase() !== "/begin") return line;
      this.#lines = [];
      this.#bytes = 0;
      return null;
    }
    if (line.trim().toLowerCase() === "/end") {
      const text = this.#lines.join("\n");
      const bytes = this.#bytes;
      this.#lines = null;
      if (bytes > MAX_TEXT_BYTES + 1) {
        return new Error(
          `A message can be at most ${MAX_TEXT_BYTES} bytes (this block has more); send a file.`,
        );
      }
      // A text, never a command, even if its first line starts with "/".
      return text.startsWith("/") ? `/${text}` : text === "" ? null : text;
    }
    const kept = line.startsWith("//") ? line.slice(1) : line;
    this.#bytes += new TextEncoder().encode(kept).length + 1;
    // Past what a message can hold the rest is not kept (the block is refused at its end).
    if (this.#bytes <= MAX_TEXT_BYTES + 1) this.#lines.push(kept);
    return null;
  }
}
