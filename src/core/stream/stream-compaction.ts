import { FerryError } from '../../lib/ferry-error.js';
import { decodeMessage } from '../message/message-codec.js';
import type { CompactionResult, Log, StoredRecord } from '../ports.js';

/** Options of {@link compactByKey}. */
export interface CompactByKeyOptions {
  /**
   * Distinct keys remembered at most (default 1,000,000, roughly 100–150 MB for short keys).
   * When the scan meets one key more, it stops there: records from that offset on are all
   * kept this time and a later run, once older segments have shrunk, goes further.
   */
  readonly keysMax?: number;
  /** Bytes asked of each read of the scan (default 1 MiB). */
  readonly readBytesMax?: number;
}

const KEYS_MAX_DEFAULT = 1_000_000;
const READ_BYTES_MAX_DEFAULT = 1024 * 1024;

/**
 * Compaction by key of one stream partition (ports' `Log.compact`): keeps the
 * latest message of each key, where the key is the message property `key`
 * (`decodeMessage(record).properties.key`), and every message without one.
 *
 * How: one scan from the start offset to the end offset of the moment builds a
 * Map from key to its latest offset; then `log.compact` removes, in the sealed
 * segments, each keyed message whose key has a later message. Memory is one
 * Map entry per distinct key, bounded by `keysMax` (see there); the records
 * themselves are never held.
 *
 * Durable: `Log.compact` makes every record appended before it durable first,
 * so no message is removed unless the newer one that replaces it survives a crash.
 *
 * Kept on purpose:
 * - Tombstones (a key with an empty body) are kept, as the latest value of their
 *   key: removing them needs a grace period, so that a slow consumer still sees
 *   the deletion; not done yet.
 * - Every message of the last batch of each producer id: an idempotent producer's
 *   sequence state, and a transaction's "already written" check, are rebuilt at
 *   restart from stamped batches, which must therefore stay whole (Kafka keeps the
 *   last batch of each producer for the same reason). All transactions share one
 *   producer id, so only the latest transaction's batch is protected this way.
 * - Records that are not messages (no envelope) count as having no key.
 */
export async function compactByKey(log: Log, options: CompactByKeyOptions = {}): Promise<CompactionResult> {
  if (!log.compact) throw new FerryError('INVALID_ARGUMENT', `log ${log.name} cannot be compacted (a read-only view)`);
  const keysMax = options.keysMax ?? KEYS_MAX_DEFAULT;
  const readBytesMax = options.readBytesMax ?? READ_BYTES_MAX_DEFAULT;
  if (!(keysMax >= 1)) throw new FerryError('INVALID_ARGUMENT', `keysMax must be at least 1, got ${keysMax}`);

  const latest = new Map<string, number>();
  /** Per producer id, the offsets of the live records of its last batch. */
  const lastBatchOfProducer = new Map<number, { first: number; last: number }>();
  const end = log.endOffset();
  /** Records from here on were not scanned, so they are all kept. */
  let scanEnd = end;
  let offset = log.startOffset();
  scan: while (offset < end) {
    const batches = await log.readBatches(offset, { bytesMax: readBytesMax });
    if (batches.length === 0) break;
    for (const batch of batches) {
      const first = batch.records[0]!.offset;
      const last = batch.records[batch.records.length - 1]!.offset;
      if (first >= end) break scan;
      if (batch.producer !== null) lastBatchOfProducer.set(batch.producer.producerId, { first, last });
      for (const record of batch.records) {
        if (record.offset >= end) break scan;
        const key = compactionKey(record);
        if (key === undefined) continue;
        if (!latest.has(key) && latest.size >= keysMax) {
          scanEnd = record.offset;
          break scan;
        }
        latest.set(key, record.offset);
      }
      offset = last + 1;
    }
  }
  // Batches do not overlap, so sorted by first offset their ranges are sorted by last offset too.
  const protectedRanges = [...lastBatchOfProducer.values()].sort((a, b) => a.first - b.first);
  return log.compact((record) => {
    if (record.offset >= scanEnd || isProtected(protectedRanges, record.offset)) return true;
    const key = compactionKey(record);
    if (key === undefined) return true;
    const newest = latest.get(key);
    // Only a known newer message of the same key removes a record.
    return newest === undefined || newest <= record.offset;
  });
}

/** True when `offset` lies in one of the sorted, disjoint `ranges`. */
function isProtected(ranges: ReadonlyArray<{ readonly first: number; readonly last: number }>, offset: number): boolean {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const range = ranges[middle]!;
    if (offset < range.first) high = middle - 1;
    else if (offset > range.last) low = middle + 1;
    else return true;
  }
  return false;
}

/** The record's compaction key as a string (one char per byte), or undefined when it has none. */
function compactionKey(record: StoredRecord): string | undefined {
  let key: Uint8Array | undefined;
  try {
    key = decodeMessage(record).properties.key;
  } catch (error) {
    if (error instanceof FerryError) return undefined; // Not a message record: nothing to compact it by.
    throw error;
  }
  if (key === undefined) return undefined;
  let text = '';
  for (let at = 0; at < key.byteLength; at += 4096) text += String.fromCharCode(...key.subarray(at, at + 4096));
  return text;
}
