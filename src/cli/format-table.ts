import { visibleLength, type TerminalStyle } from './terminal-style.js';

/** One column of {@link formatTable}. */
export interface Column<Row> {
  /** Printed in upper case, bold when colour is on. */
  readonly header: string;
  /** The cell's value; numbers are right-aligned and get thousands separators. */
  readonly value: (row: Row) => string | number;
  /** Colours a cell after it is padded; the text passed in is already printable. */
  readonly colour?: (text: string, row: Row, style: TerminalStyle) => string;
}

/**
 * Rows as an aligned plain-text table, columns two spaces apart, the way
 * `kubectl get` and `docker ps` print: no borders, so the output stays
 * greppable and cut-able. Control characters in values are escaped so a
 * name cannot break the layout. Ends with a newline.
 */
export function formatTable<Row>(columns: ReadonlyArray<Column<Row>>, rows: readonly Row[], style: TerminalStyle): string {
  const cells = rows.map((row) => columns.map((column) => cellText(column.value(row))));
  const rightAligned = columns.map((column) => rows.length > 0 && rows.every((row) => typeof column.value(row) === 'number'));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((line) => visibleLength(line[index]!))));
  const lastIndex = columns.length - 1;
  const pad = (text: string, index: number): string => {
    const gap = ' '.repeat(widths[index]! - visibleLength(text));
    if (rightAligned[index]) return gap + text;
    return index === lastIndex ? text : text + gap;
  };
  const header = columns.map((column, index) => style.bold(pad(column.header.toUpperCase(), index))).join('  ');
  const lines = cells.map((line, rowIndex) =>
    line
      .map((text, index) => {
        const padded = pad(text, index);
        const colour = columns[index]!.colour;
        return colour ? colour(padded, rows[rowIndex]!, style) : padded;
      })
      .join('  '),
  );
  return [header, ...lines].map((line) => line.trimEnd()).join('\n') + '\n';
}

/** Rows of label and value, for one object (such as `ferry status`); values are printed as given, colour included. */
export function formatPairs(pairs: ReadonlyArray<readonly [string, string]>, style: TerminalStyle): string {
  const width = Math.max(0, ...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${style.bold(label.padEnd(width))}  ${value}`.trimEnd()).join('\n') + '\n';
}

/** A count with thousands separators: 1234567 → `1,234,567`; fractions keep up to two decimals. */
export function formatNumber(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

function cellText(value: string | number): string {
  if (typeof value === 'number') return formatNumber(value);
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f]/g, (character) => JSON.stringify(character).slice(1, -1));
}
