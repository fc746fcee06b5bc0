/** Number, byte, rate and time formatting for display, in the browser's locale. */

const countFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const rateFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, minimumFractionDigits: 0 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

/** 12345 → "12,345". */
export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : countFormat.format(value);
}

/** 1, 'message' → "1 message"; 3, 'message' → "3 messages". */
export function formatQuantity(count: number, noun: string): string {
  return `${formatCount(count)} ${count === 1 ? noun : `${noun}s`}`;
}

/** 12.345 → "12.3/s". */
export function formatRate(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : `${rateFormat.format(value)}/s`;
}

/** 12345 → "12K", for chart axes. */
export function formatCompact(value: number): string {
  return compactFormat.format(value);
}

/** 1536 → "1.5 KiB". */
export function formatBytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let amount = value;
  let unit = 0;
  while (amount >= 1024 && unit < units.length - 1) {
    amount /= 1024;
    unit++;
  }
  return `${unit === 0 ? amount : amount.toFixed(amount < 10 ? 1 : 0)} ${units[unit]}`;
}

/** 93_784_000 → "1 d 2 h"; the two largest units only. */
export function formatDuration(milliseconds: number | null | undefined): string {
  if (milliseconds === null || milliseconds === undefined) return '–';
  if (milliseconds < 1_000) return `${Math.round(milliseconds)} ms`;
  const parts: string[] = [];
  let rest = Math.floor(milliseconds / 1_000);
  for (const [size, unit] of [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'min'],
    [1, 's'],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join(' ');
}

/** Milliseconds since the epoch → local date and time. */
export function formatTime(epochMs: number | null | undefined): string {
  return epochMs === null || epochMs === undefined ? '–' : new Date(epochMs).toLocaleString();
}
