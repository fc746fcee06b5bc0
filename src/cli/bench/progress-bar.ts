/** Erases from the cursor to the end of the line. */
const ERASE_LINE_END = '\u001b[K';

/**
 * One status line redrawn in place (carriage return, no newline) on a
 * terminal: `[########------------]  40%  4.0 s  …`. Draw it only when the
 * stream is a terminal; `clear()` removes it before the final output.
 */
export class ProgressBar {
  private drawn = false;

  constructor(
    private readonly write: (text: string) => void,
    /** Characters between the brackets. */
    private readonly widthColumns = 24,
  ) {}

  /** Redraws the line: a bar filled to `fraction` (0 to 1; null draws no bar), then `text`. */
  draw(fraction: number | null, text: string): void {
    let bar = '';
    if (fraction !== null) {
      const clamped = Math.min(1, Math.max(0, fraction));
      const filled = Math.round(clamped * this.widthColumns);
      bar = `[${'#'.repeat(filled)}${'-'.repeat(this.widthColumns - filled)}] ${String(Math.floor(clamped * 100)).padStart(3)}%  `;
    }
    this.write(`\r${bar}${text}${ERASE_LINE_END}`);
    this.drawn = true;
  }

  /** Removes the line, leaving the cursor at its start. */
  clear(): void {
    if (this.drawn) this.write(`\r${ERASE_LINE_END}`);
    this.drawn = false;
  }
}
