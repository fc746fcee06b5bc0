import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram } from './latency-histogram.js';

test('an empty histogram reports zeros', () => {
  assert.deepEqual(new LatencyHistogram().summary(), { p50: 0, p95: 0, p99: 0, max: 0 });
});

test('percentiles of 1 to 1000 ms are within 1% of the exact values', () => {
  const histogram = new LatencyHistogram();
  for (let value = 1; value <= 1_000; value++) histogram.record(value);
  assert.equal(histogram.count, 1_000);
  const { p50, p95, p99, max } = histogram.summary();
  for (const [actual, exact] of [[p50, 500], [p95, 950], [p99, 990]] as const) {
    assert.ok(Math.abs(actual - exact) <= exact * 0.01, `${actual} is within 1% of ${exact}`);
  }
  assert.equal(max, 1_000);
});

test('the maximum is exact and caps every percentile, also beyond the last bucket', () => {
  const histogram = new LatencyHistogram();
  histogram.record(0.2);
  histogram.record(5_000_000);
  assert.equal(histogram.percentileMs(100), 5_000_000);
  assert.ok(histogram.percentileMs(50) <= 0.2 * 1.01);
  histogram.record(-3);
  assert.equal(histogram.count, 3, 'a negative latency counts as 0');
});
