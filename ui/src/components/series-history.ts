/** Points kept per chart: ten minutes at one poll a second. */
const POINTS_MAX = 600;

/**
 * The recent samples of a few series over time, for a chart: a timestamp
 * (seconds, as uPlot wants) and one value per series per sample, oldest
 * first, bounded to the last {@link POINTS_MAX}. Kept per chart key across
 * page changes (see {@link seriesHistory}), so going back to a page shows
 * what was drawn before.
 */
export class SeriesHistory {
  readonly times: number[] = [];
  readonly values: number[][];
  /** Changes on every push, so a chart knows to redraw. */
  version = 0;

  constructor(readonly seriesCount: number) {
    this.values = Array.from({ length: seriesCount }, () => []);
  }

  /** Adds one sample taken at `epochMs`. */
  push(epochMs: number, sample: readonly number[]): void {
    this.times.push(epochMs / 1_000);
    for (let index = 0; index < this.seriesCount; index++) this.values[index]!.push(sample[index] ?? 0);
    if (this.times.length > POINTS_MAX) {
      this.times.shift();
      for (const series of this.values) series.shift();
    }
    this.version++;
  }

  /** The newest value of a series, or undefined before the first sample. */
  latest(series: number): number | undefined {
    const values = this.values[series]!;
    return values.length === 0 ? undefined : values[values.length - 1];
  }
}

const histories = new Map<string, SeriesHistory>();

/** The history of one chart (`overview-rates`, `queue:/:orders:depth`), created on first use. */
export function seriesHistory(key: string, seriesCount: number): SeriesHistory {
  let history = histories.get(key);
  if (history === undefined || history.seriesCount !== seriesCount) {
    history = new SeriesHistory(seriesCount);
    histories.set(key, history);
    // Bounded: the charts of pages visited long ago go first.
    if (histories.size > 50) histories.delete(histories.keys().next().value!);
  }
  return history;
}
