import { assert } from '../lib/assert.js';
import type { StoredRecord } from '../core/ports.js';
import { compactBatch, encodeGapBatch, readBatchHeader } from './record-batch.js';

/** A run of offsets whose batches were emptied, waiting to be written as one gap batch. */
interface PendingGap {
  readonly baseOffset: number;
  span: number;
  readonly firstTimestampMs: number;
  maxTimestampMs: number;
  /** The one source batch the gap stands for, while it is one already-empty batch (written back unchanged). */
  source: Uint8Array | null;
}

/** A gap batch covers at most this many offsets (its count is a u32). */
const GAP_SPAN_MAX = 0xffff_ffff;

/**
 * Compacts the batches of one segment, fed in offset order: each batch keeps
 * its place with holes for its removed records (see `compactBatch`), and a
 * run of batches left with no live record becomes one gap batch, so removing
 * many small batches also removes their headers. Both stores use it, so a
 * compacted segment has the same bytes in memory and on disk.
 */
export class BatchCompactor {
  /** Records removed so far (holes already in the input are not counted). */
  recordsRemoved = 0;
  private gap: PendingGap | null = null;

  constructor(
    private readonly keep: (record: StoredRecord) => boolean,
    /** Records below this offset are kept without asking `keep` (they are gone for readers anyway). */
    private readonly startOffset: number,
  ) {}

  /** Compacts the next batch; returns the batches that replace everything pushed so far and not yet returned. */
  push(bytes: Uint8Array): Uint8Array[] {
    const header = readBatchHeader(bytes);
    if (header.baseOffset + header.recordCount <= this.startOffset) return this.withGapFirst(bytes);
    const result = compactBatch(bytes, this.keep, this.startOffset);
    switch (result.kind) {
      case 'unchanged':
        return this.withGapFirst(bytes);
      case 'rewritten':
        this.recordsRemoved += result.recordsRemoved;
        return this.withGapFirst(result.bytes);
      case 'emptied': {
        this.recordsRemoved += result.recordsRemoved;
        const out: Uint8Array[] = [];
        const gap = this.gap;
        if (gap !== null) {
          assert(gap.baseOffset + gap.span === header.baseOffset, 'batches are pushed in offset order, without gaps');
          if (gap.span + header.recordCount > GAP_SPAN_MAX) out.push(...this.finish());
        }
        if (this.gap === null) {
          // An empty batch from an earlier run is written back as it is, unless another joins it.
          this.gap = {
            baseOffset: header.baseOffset,
            span: header.recordCount,
            firstTimestampMs: header.firstTimestampMs,
            maxTimestampMs: header.maxTimestampMs,
            source: result.recordsRemoved === 0 ? bytes : null,
          };
        } else {
          this.gap.span += header.recordCount;
          this.gap.maxTimestampMs = Math.max(this.gap.maxTimestampMs, header.maxTimestampMs);
          this.gap.source = null;
        }
        return out;
      }
    }
  }

  /** The pending gap batch, if any: call after the last push. */
  finish(): Uint8Array[] {
    const gap = this.gap;
    if (gap === null) return [];
    this.gap = null;
    return [gap.source ?? encodeGapBatch(gap.baseOffset, gap.span, gap.firstTimestampMs, gap.maxTimestampMs)];
  }

  private withGapFirst(bytes: Uint8Array): Uint8Array[] {
    if (this.gap === null) return [bytes];
    return [...this.finish(), bytes];
  }
}
