// A small virtual terminal for the UI tests: it applies the output of a program (text, CR/LF/BS, and the
// CSI sequences the UI uses: cursor position, erase, colours, cursor visibility, the alternate screen)
// to a grid of cells, so a test can read what a person would see. OSC strings (notifications) are kept
// aside in `osc`, and the bell counted.

import { charWidth } from "../../client/screen.ts";

export class VirtualTerminal {
  readonly width: number;
  readonly height: number;
  #main: string[][];
  #alt: string[][];
  #grid: string[][];
  #row = 0;
  #col = 0;
  #pending = "";
  /** The OSC strings received (without ESC ] and the terminator). */
  readonly osc: string[] = [];
  bells = 0;

  constructor(width: number, height: number) {
    this.width = width;
    this.height = height;
    this.#main = this.#blank();
    this.#alt = this.#blank();
    this.#grid = this.#main;
  }

  #blank(): string[][] {
    return Array.from({ length: this.height }, () => Array(this.width).fill(" "));
  }

  /** The cursor, 0-based. */
  get cursor(): { row: number; column: number } {
    return { row: this.#row, column: this.#col };
  }

  /** True while the program uses the alternate screen. */
  get alternate(): boolean {
    return this.#grid === this.#alt;
  }

  /** The screen's rows as strings (a wide character's second cell is not repeated). */
  lines(): string[] {
    return this.#grid.map((row) => row.join(""));
  }

  /** The whole screen as one string. */
  text(): string {
    return this.lines().join("\n");
  }

  /** Applies program output (may end in the middle of a sequence). */
  write(data: string): void {
    const s = this.#pending + data;
    this.#pending = "";
    let i = 0;
    while (i < s.length) {
      const ch = s[i];
      if (ch === "\x1b" && s[i + 1] === "]") {
        // deno-lint-ignore no-control-regex
        const osc = /^\x1b\]([^\x07\x1b]*)(\x07|\x1b\\)/.exec(s.slice(i));
        if (!osc) {
          this.#pending = s.slice(i);
          return;
        }
        this.osc.push(osc[1]);
        i += osc[0].length;
        continue;
      }
      if (ch === "\x1b") {
        // deno-lint-ignore no-control-regex
        const m = /^\x1b\[([?0-9;]*)([@-~])/.exec(s.slice(i));
        if (!m) {
          if (s.length - i < 32 && s[i + 1] !== undefined && s[i + 1] !== "[") {
            i += 2; // a two-byte escape we ignore
            continue;
          }
          this.#pending = s.slice(i);
          return;
        }
        this.#csi(m[1], m[2]);
        i += m[0].length;
        continue;
      }
      if (ch === "\x07") this.bells++;
      else if (ch === "\r") this.#col = 0;
      else if (ch === "\n") this.#lineFeed();
      else if (ch === "\b") this.#col = Math.max(0, this.#col - 1);
      else if (ch >= " ") {
        const cp = s.codePointAt(i)!;
        const glyph = String.fromCodePoint(cp);
        this.#put(glyph);
        i += glyph.length;
        continue;
      }
      i++;
    }
  }

  #put(glyph: string): void {
    const w = charWidth(glyph);
    if (w === 0) {
      const col = Math.max(0, this.#col - 1);
      this.#grid[this.#row][col] += glyph;
      return;
    }
    if (this.#col + w > this.width) {
      this.#col = 0;
      this.#lineFeed();
    }
    this.#grid[this.#row][this.#col] = glyph;
    if (w === 2 && this.#col + 1 < this.width) this.#grid[this.#row][this.#col + 1] = "";
    this.#col += w;
  }

  #lineFeed(): void {
    if (this.#row < this.height - 1) this.#row++;
    else {
      this.#grid.shift();
      this.#grid.push(Array(this.width).fill(" "));
    }
  }

  #csi(params: string, final: string): void {
    const nums = params.replace("?", "").split(";").map((p) => (p === "" ? 0 : Number(p)));
    switch (final) {
      case "H":
      case "f":
        this.#row = Math.min(this.height - 1, Math.max(0, (nums[0] || 1) - 1));
        this.#col = Math.min(this.width - 1, Math.max(0, (nums[1] || 1) - 1));
        return;
      case "K":
        for (let c = this.#col; c < this.width; c++) this.#grid[this.#row][c] = " ";
        return;
      case "J":
        if (nums[0] === 2) { for (const row of this.#grid) row.fill(" "); }
        return;
      case "h":
      case "l":
        if (params === "?1049") {
          this.#grid = final === "h" ? this.#alt : this.#main;
          if (final === "h") { for (const row of this.#alt) row.fill(" "); }
        }
        return;
      default:
        return; // colours and anything else do not change the text
    }
  }
}
