/** Smallest latency told apart from zero: 1 µs. */
const LOWEST_MS = 0.001;
/** Each bucket is 1% wider than the one before, so a percentile is off by at most 1%. */
const BUCKET_RATIO = 1.01;
/** Buckets up to ten minutes; anything longer lands in the last one (the exact maximum is kept apart). */
const HIGHEST_MS = 600_000;
const BUCKET_COUNT = Math.ceil(Math.log(HIGHEST_MS / LOWEST_MS) / Math.log(BUCKET_RATIO)) + 2;

/** Percentiles of a {@link LatencyHistogram}, in milliseconds (0 when nothing was recorded). */
export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Latencies in a fixed set of logarithmic buckets (about 2,000 counters,
 * whatever the number of samples), so memory does not grow with a long
 * benchmark. Percentiles are within 1% of the exact value; the maximum is exact.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private maxMs = 0;

  /** How many latencies were recorded. */
  get count(): number {
    return this.total;
  }

  /** Records one latency; negative values (clock skew) count as 0. */
  record(latencyMs: number): void {
    const value = Math.max(0, latencyMs);
    this.counts[bucketOf(value)]!++;
    this.total++;
    if (value > this.maxMs) this.maxMs = value;
  }

  /** The latency that `percentile` % of the samples do not exceed (the bucket's upper edge, capped at the maximum). */
  percentileMs(percentile: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.total));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKET_COUNT; bucket++) {
      seen += this.counts[bucket]!;
      // The last bucket has no upper edge: it holds everything beyond HIGHEST_MS.
      if (seen >= rank) return bucket === BUCKET_COUNT - 1 ? this.maxMs : Math.min(upperEdgeOf(bucket), this.maxMs);
    }
    return this.maxMs;
  }

  summary(): LatencySummary {
    return { p50: this.percentileMs(50), p95: this.percentileMs(95), p99: this.percentileMs(99), max: this.maxMs };
  }
}

/** Bucket 0 holds [0, LOWEST_MS); bucket i ≥ 1 holds [LOWEST_MS·r^(i−1), LOWEST_MS·r^i). */
function bucketOf(valueMs: number): number {
  if (valueMs < LOWEST_MS) return 0;
  const bucket = Math.floor(Math.log(valueMs / LOWEST_MS) / Math.log(BUCKET_RATIO)) + 1;
  return Math.min(bucket, BUCKET_COUNT - 1);
}

function upperEdgeOf(bucket: number): number {
  return LOWEST_MS * BUCKET_RATIO ** bucket;
}
