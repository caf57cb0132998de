// Line mode, for when stdin is not a terminal (scripts, tests, pipes): each input line is a command or a
// text for the active chat, exactly as typed in the terminal UI; each event is printed as one plain line,
// or with `--json` as one JSON object per line. The end of the input quits, like Ctrl-D.

import type { AppHandle } from "./app.ts";
import { type ClientEvent, eventToJson, eventToText } from "./events.ts";
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
  for (;;) {
    const next = await Promise.race([iterator.next(), stopped]);
    if (next === null) break;
    if (next.done) {
      app.quit();
      break;
    }
    if (await app.line(next.value)) break;
  }
  await app.done;
}
