// The terminal UI's invitation screen (/invite): the QR code, black on white in Unicode half blocks, and
// the invitation as one logical line (written from the first column and left to the terminal's own
// wrapping, so that selecting it copies one line without breaks), until any key. When the window is too
// small for the code it says how large it must be and shows the string alone. Pure: model in, bytes out.

import { invitationQr, QR_COLOURS, QR_RESET } from "./linemode.ts";
import { textWidth } from "./screen.ts";

const ESC = "\x1b[";

/** The bytes that draw the invitation screen on a `width`×`height` terminal. */
export function renderInvitation(width: number, height: number, invitation: string): string {
  const w = Math.max(20, width), h = Math.max(6, height);
  const out: string[] = [`${ESC}?25l`, `${ESC}H`, `${ESC}2J`];
  const at = (row: number, col = 1) => `${ESC}${row};${col}H`;
  const title = " sotto │ your invitation │ any key returns";
  out.push(at(1), `${ESC}7m`, title.slice(0, w).padEnd(w), `${ESC}0m`);
  const qr = invitationQr(invitation);
  const qrWidth = textWidth(qr[0]);
  const textRows = Math.ceil(invitation.length / w);
  const help = "Give them this string (select it: it is one line), or let them scan the code.";
  // Rows: title, blank, the code, blank, the string, blank, the help.
  const fits = qrWidth <= w && 2 + qr.length + 1 + textRows + 2 <= h;
  let row = 3;
  if (fits) {
    const col = 1 + Math.floor((w - qrWidth) / 2);
    for (const line of qr) out.push(at(row++, col), QR_COLOURS, line, QR_RESET);
    row++;
  } else {
    const need = `${Math.max(w, qrWidth)}×${qr.length + textRows + 5}`;
    out.push(
      at(row),
      `${ESC}2m`,
      `The window is too small for the QR code (it needs ${need}).`.slice(0, w),
      QR_RESET,
    );
    row += 2;
  }
  // The terminal wraps the string itself (a soft wrap, which copying joins again); it must not scroll.
  if (row + textRows - 1 > h) row = Math.max(2, h - textRows + 1);
  out.push(at(row), invitation.slice(0, (h - row + 1) * w));
  row += textRows + 1;
  if (row <= h) out.push(at(row), `${ESC}2m`, help.slice(0, w), QR_RESET);
  return out.join("");
}
