import { crc32c } from '../lib/crc32c.js';
import { FerryError } from '../lib/ferry-error.js';

/**
 * The sparse offset index and the time index of one segment, in memory as
 * typed arrays (12 bytes an entry in all), so memory grows with segment
 * bytes / index interval, never with the record count.
 *
 * - offset index: (offset - segment base, byte position of the batch holding it),
 *   one entry at most every `indexIntervalBytes` of batches;
 * - time index: (max timestamp so far, offset - base of the first batch reaching it),
 *   an entry whenever the running max timestamp grows and the interval has passed.
 *
 * Both are monotonic, so lookups are binary searches.
 */
export class SegmentIndex {
  private relativeOffsets = new Uint32Array(16);
  private positions = new Uint32Array(16);
  private entryCount = 0;
  private timestamps = new Float64Array(16);
  private timeRelativeOffsets = new Uint32Array(16);
  private timeEntryCount = 0;
  private lastIndexedPosition = -Infinity;
  private lastTimePosition = -Infinity;
  /** The largest record timestamp seen in this segment (-1 when empty). */
  maxTimestampMs = -1;

  constructor(private readonly indexIntervalBytes: number) {}

  /** Records a batch appended at `position` with offsets from `relativeOffset`. */
  addBatch(relativeOffset: number, position: number, maxTimestampMs: number): void {
    if (this.entryCount === 0 || position - this.lastIndexedPosition >= this.indexIntervalBytes) {
      if (this.entryCount === this.relativeOffsets.length) {
        this.relativeOffsets = grow(this.relativeOffsets);
        this.positions = grow(this.positions);
      }
      this.relativeOffsets[this.entryCount] = relativeOffset;
      this.positions[this.entryCount] = position;
      this.entryCount++;
      this.lastIndexedPosition = position;
    }
    if (maxTimestampMs > this.maxTimestampMs) {
      const previousMax = this.maxTimestampMs;
      this.maxTimestampMs = maxTimestampMs;
      if (this.timeEntryCount === 0 || position - this.lastTimePosition >= this.indexIntervalBytes) {
        if (this.timeEntryCount === this.timestamps.length) {
          this.timestamps = grow(this.timestamps);
          this.timeRelativeOffsets = grow(this.timeRelativeOffsets);
        }
        // The entry before stops being the last: its time, held as maxTimestampMs until now, is stored.
        if (this.timeEntryCount > 0) this.timestamps[this.timeEntryCount - 1] = previousMax;
        this.timestamps[this.timeEntryCount] = maxTimestampMs;
        this.timeRelativeOffsets[this.timeEntryCount] = relativeOffset;
        this.timeEntryCount++;
        this.lastTimePosition = position;
      }
      // Else the last entry is raised: its batch range still starts at or before this batch. Its
      // time is always maxTimestampMs (see timeAt), so nothing is written (the array is one more
      // cache line per append on a store of many logs).
    }
  }

  /** The running max timestamp of time entry `index`: the last one's is maxTimestampMs (see addBatch). */
  private timeAt(index: number): number {
    return index === this.timeEntryCount - 1 ? this.maxTimestampMs : this.timestamps[index]!;
  }

  /** Byte position of the last indexed batch that starts at or before `relativeOffset` (0 when none). */
  positionFor(relativeOffset: number): number {
    let low = 0;
    let high = this.entryCount - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.relativeOffsets[middle]! <= relativeOffset) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found < 0 ? 0 : this.positions[found]!;
  }

  /** Byte position of the first indexed batch that starts at or after `position`, or undefined when none does. */
  batchPositionAtOrAfter(position: number): number | undefined {
    let low = 0;
    let high = this.entryCount - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.positions[middle]! >= position) {
        found = middle;
        high = middle - 1;
      } else {
        low = middle + 1;
      }
    }
    return found < 0 ? undefined : this.positions[found]!;
  }

  /**
   * A relative offset at or before the first record whose timestamp is >= `timestampMs`:
   * scanning from it finds that record. Undefined when no record in the segment is that new.
   */
  relativeOffsetForTimestamp(timestampMs: number): number | undefined {
    if (this.maxTimestampMs < timestampMs) return undefined;
    // Entry i says: the batches from timeRelativeOffsets[i] up to the next entry raise the running
    // max timestamp to timestamps[i]. Every record before the first entry reaching the target is older.
    let low = 0;
    let high = this.timeEntryCount - 1;
    let found = this.timeEntryCount;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.timeAt(middle) >= timestampMs) {
        found = middle;
        high = middle - 1;
      } else {
        low = middle + 1;
      }
    }
    return this.timeRelativeOffsets[found]!;
  }

  /** Bytes this index holds in memory. */
  memoryBytes(): number {
    return this.relativeOffsets.byteLength * 2 + this.timestamps.byteLength + this.timeRelativeOffsets.byteLength;
  }

  /**
   * Index file, version 1 (little-endian):
   *
   *   +----------+---------+---------+-----------+------------+--------+
   *   | "FRYIDX1\n" (8)    | crc u32 | entries u32| timeEntries u32 | maxTs f64 |
   *   +----------+---------+---------+-----------+------------+--------+
   *   | entries x (relOffset u32, position u32) | timeEntries x (ts f64, relOffset u32) |
   *
   * The CRC covers everything after itself. A missing or damaged index file is
   * rebuilt by scanning its segment, so it needs no journal.
   */
  encode(): Uint8Array {
    const headerBytes = 8 + 4 + 4 + 4 + 8;
    const bytes = new Uint8Array(headerBytes + this.entryCount * 8 + this.timeEntryCount * 12);
    const view = new DataView(bytes.buffer);
    bytes.set(INDEX_MAGIC, 0);
    view.setUint32(12, this.entryCount, true);
    view.setUint32(16, this.timeEntryCount, true);
    view.setFloat64(20, this.maxTimestampMs, true);
    let at = headerBytes;
    for (let i = 0; i < this.entryCount; i++, at += 8) {
      view.setUint32(at, this.relativeOffsets[i]!, true);
      view.setUint32(at + 4, this.positions[i]!, true);
    }
    for (let i = 0; i < this.timeEntryCount; i++, at += 12) {
      view.setFloat64(at, this.timeAt(i), true);
      view.setUint32(at + 8, this.timeRelativeOffsets[i]!, true);
    }
    view.setUint32(8, crc32c(bytes.subarray(12)), true);
    return bytes;
  }

  /** Decodes an index file; throws CORRUPT_DATA when it is damaged (the caller then rebuilds). */
  static decode(bytes: Uint8Array, indexIntervalBytes: number): SegmentIndex {
    const headerBytes = 28;
    if (bytes.byteLength < headerBytes || !INDEX_MAGIC.every((byte, i) => bytes[i] === byte)) {
      throw new FerryError('CORRUPT_DATA', 'index file header is damaged');
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(8, true) !== crc32c(bytes.subarray(12))) {
      throw new FerryError('CORRUPT_DATA', 'index file checksum mismatch');
    }
    const entryCount = view.getUint32(12, true);
    const timeEntryCount = view.getUint32(16, true);
    if (bytes.byteLength !== headerBytes + entryCount * 8 + timeEntryCount * 12) {
      throw new FerryError('CORRUPT_DATA', 'index file length does not match its entry counts');
    }
    const index = new SegmentIndex(indexIntervalBytes);
    index.relativeOffsets = new Uint32Array(Math.max(16, entryCount));
    index.positions = new Uint32Array(Math.max(16, entryCount));
    index.timestamps = new Float64Array(Math.max(16, timeEntryCount));
    index.timeRelativeOffsets = new Uint32Array(Math.max(16, timeEntryCount));
    let at = headerBytes;
    for (let i = 0; i < entryCount; i++, at += 8) {
      index.relativeOffsets[i] = view.getUint32(at, true);
      index.positions[i] = view.getUint32(at + 4, true);
    }
    for (let i = 0; i < timeEntryCount; i++, at += 12) {
      index.timestamps[i] = view.getFloat64(at, true);
      index.timeRelativeOffsets[i] = view.getUint32(at + 8, true);
    }
    index.entryCount = entryCount;
    index.timeEntryCount = timeEntryCount;
    index.maxTimestampMs = view.getFloat64(20, true);
    return index;
  }
}

const INDEX_MAGIC = new TextEncoder().encode('FRYIDX1\n');

function grow<T extends Uint32Array | Float64Array>(array: T): T {
  const bigger = new (array.constructor as new (length: number) => T)(array.length * 2);
  bigger.set(array);
  return bigger;
}
