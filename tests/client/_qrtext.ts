// QR codes drawn as text (client/qr.ts qrHalfBlocks), read back for the tests: the modules of half-block
// rows or of a screen, an image of them, and what zbarimg (ZBar, an independent decoder run as a process)
// reads in it.

import { join } from "node:path";
import { requirePeer } from "../_peers.ts";

/** Reads half-block rows back into modules (the quiet zone included). */
export function modulesOf(rows: string[]): number[][] {
  const out: number[][] = [];
  for (const row of rows) {
    const top: number[] = [], bottom: number[] = [];
    for (const ch of row) {
      top.push(ch === "▀" || ch === "█" ? 1 : 0);
      bottom.push(ch === "▄" || ch === "█" ? 1 : 0);
    }
    out.push(top, bottom);
  }
  return out;
}

/** A PGM image of module rows, `scale` pixels a module, with a margin of four light modules. */
export function pgm(grid: number[][], scale = 4): Uint8Array {
  const n = grid[0].length + 8, m = grid.length + 8;
  const header = new TextEncoder().encode(`P5 ${n * scale} ${m * scale} 255\n`);
  const out = new Uint8Array(header.length + n * m * scale * scale).fill(255);
  out.set(header);
  grid.forEach((row, r) =>
    row.forEach((v, c) => {
      if (!v) return;
      for (let y = 0; y < scale; y++) {
        const at = header.length + ((r + 4) * scale + y) * n * scale + (c + 4) * scale;
        out.fill(0, at, at + scale);
      }
    })
  );
  return out;
}

/** What zbarimg reads in the image (null: nothing). */
export async function zbar(image: Uint8Array): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "sotto-qrtext-" });
  try {
    const file = join(dir, "code.pgm");
    await Deno.writeFile(file, image);
    const out = await new Deno.Command(requirePeer("zbarimg"), {
      args: ["-q", "--raw", "-Sbinary", file],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.code === 0 ? new TextDecoder().decode(out.stdout) : null;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The modules of the QR code drawn on a screen (its half-block rows, from the leftmost block on). */
export function qrOnScreen(screen: string[]): number[][] {
  const drawn = screen.filter((l) => /[▀▄█]/.test(l));
  const left = Math.min(...drawn.map((l) => l.search(/[▀▄█]/)));
  // The code ends where other text (the help beside it) begins.
  const rows = drawn.map((l) => [...l.slice(left)].join("").replace(/ {3,}[^ ▀▄█].*$/, "").trimEnd());
  const width = Math.max(...rows.map((l) => [...l].length));
  return modulesOf(rows.map((l) => l.padEnd(width)));
}
