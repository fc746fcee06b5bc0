import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatCompact, formatCount, formatRate } from './format.js';
import type { SeriesHistory } from './series-history.js';

/** One line of a chart. */
export interface ChartSeries {
  readonly label: string;
  /** A CSS colour; also the legend's swatch. */
  readonly color: string;
}

/** Settings of a {@link RateChart}. */
export interface RateChartProps {
  readonly title: string;
  readonly series: readonly ChartSeries[];
  readonly history: SeriesHistory;
  /** `rate`: messages per second; `count`: messages. */
  readonly unit: 'rate' | 'count';
  /** Bumped by the page on each new sample, so the chart redraws. */
  readonly version: number;
  readonly testId?: string;
}

const HEIGHT_PX = 180;

/** The chart shows the last three minutes, scrolling left as samples arrive. */
const WINDOW_SECONDS = 180;

/** Time ticks at whole seconds or more, at least this many pixels apart. */
const TIME_TICK_SECONDS = [1, 5, 10, 15, 30, 60, 120, 300, 600];
const TIME_TICK_SPACE_PX = 72;

/** Message counts are whole: 1, 2, 5, 10, 20, 50, … */
const COUNT_TICKS = Array.from({ length: 13 }, (_, power) => [1, 2, 5].map((step) => step * 10 ** power)).flat();

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

/**
 * A live line chart of recent samples, drawn on canvas by uPlot (small, and
 * fast enough to redraw every second). The legend under it shows each
 * series' newest value. The chart fits its container's width.
 */
export function RateChart({ title, series, history, unit, version, testId }: RateChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const format = unit === 'rate' ? formatRate : formatCount;

  useEffect(() => {
    const element = container.current;
    if (element === null) return;
    const style = getComputedStyle(element);
    const axisColor = style.getPropertyValue('--text-muted').trim() || '#666';
    const gridColor = style.getPropertyValue('--border').trim() || '#ddd';
    const axis: uPlot.Axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 } };
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height: HEIGHT_PX,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: {
          time: true,
          range: (_plot, _min, max) => {
            const end = Number.isFinite(max) ? max : Date.now() / 1_000;
            return [end - WINDOW_SECONDS, end];
          },
        },
        // From zero, and never a flat line at the top when everything is 0.
        y: { range: (_plot, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
      },
      axes: [
        { ...axis, space: TIME_TICK_SPACE_PX, incrs: TIME_TICK_SECONDS, values: (_plot, ticks) => ticks.map((tick) => timeFormat.format(new Date(tick * 1_000))) },
        { ...axis, size: 56, ...(unit === 'count' ? { incrs: COUNT_TICKS } : {}), values: (_plot, ticks) => ticks.map((tick) => formatCompact(tick)) },
      ],
      series: [{}, ...series.map((line) => ({ label: line.label, stroke: line.color, width: 2, fill: `${line.color}1f`, points: { show: false } }))],
    };
    const chart = new uPlot(options, [history.times, ...history.values], element);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, element.clientWidth), height: HEIGHT_PX }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // The series and unit are fixed for a chart's life; the history object identifies the chart.
  }, [history]);

  useEffect(() => {
    plot.current?.setData([history.times, ...history.values]);
  }, [version, history]);

  return (
    <figure class="chart" data-testid={testId} data-points={history.times.length}>
      <figcaption>{title}</figcaption>
      <div class="chart-canvas" ref={container} />
      <ul class="chart-legend">
        {series.map((line, index) => (
          <li key={line.label}>
            <span class="swatch" style={{ background: line.color }} aria-hidden="true" />
            {line.label}{' '}
            <strong data-testid={testId ? `${testId}-${line.label.toLowerCase().replace(/\W+/g, '-')}` : undefined} data-value={history.latest(index) ?? 0}>
              {format(history.latest(index) ?? 0)}
            </strong>
          </li>
        ))}
      </ul>
    </figure>
  );
}
