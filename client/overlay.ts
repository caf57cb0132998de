// The terminal UI's invitation screen (/invite), shown until any key: the invitation first, as one
// logical line (written from the first column and left to the terminal's own wrapping, so that selecting
// it copies one line without breaks), then the QR code below it, black on white in Unicode half blocks,
// with a short help beside it. On a 24-row terminal the code's quiet zone shrinks from two modules to one
// so that both fit; a window too small for the code says how large it must be and shows the string
// alone. Pure: sizes and the invitation in, bytes out.

import { invitationQr, QR_COLOURS, QR_RESET } from "./linemode.ts";
import { textWidth, wrap } from "./screen.ts";

const ESC = "\x1b[";
const DIM = `${ESC}2m`;
const HELP =
  "Your invitation is above: select it (it is one line) and send it, or let them scan this code. " +
  "It holds the relay, its pin and your ID. Any key returns.";

/** The bytes that draw the invitation screen on a `width`×`height` terminal. */
export function renderInvitation(width: number, height: number, invitation: string): string {
  const w = Math.max(20, width), h = Math.max(6, height);
  const out: string[] = [`${ESC}?25l`, `${ESC}H`, `${ESC}2J`];
  const at = (row: number, col = 1) => `${ESC}${row};${col}H`;
  const textRows = Math.ceil(invitation.length / w);
  // The string, wrapped by the terminal (a soft wrap, which copying joins again); it must not scroll.
  out.push(at(1), invitation.slice(0, Math.min(textRows, h - 1) * w));
  const room = h - textRows;
  const qr = [2, 1].map((quiet) => invitationQr(invitation, quiet)).find((q) =>
    q.length <= room && textWidth(q[0]) <= w
  );
  if (!qr) {
    const big = invitationQr(invitation, 1);
    const need = `${Math.max(textWidth(big[0]), 40)}×${big.length + textRows}`;
    const text = `The window is too small for the QR code (it needs ${need}). Any key returns.`;
    out.push(at(Math.min(h, textRows + 2)), DIM, text.slice(0, w), QR_RESET);
    return out.join("");
  }
  const top = textRows + 1, qrWidth = textWidth(qr[0]);
  qr.forEach((line, i) => out.push(at(top + i), QR_COLOURS, line, QR_RESET));
  // The help beside the code if there is room for it, else below it.
  const side = w - qrWidth - 3;
  const help = side >= 20 ? wrap(HELP, side) : wrap(HELP, w);
  const [row, col] = side >= 20 ? [top, qrWidth + 4] : [top + qr.length, 1];
  help.slice(0, Math.max(0, h - row + 1)).forEach((line, i) =>
    out.push(at(row + i, col), DIM, line, QR_RESET)
  );
  return out.join("");
}
