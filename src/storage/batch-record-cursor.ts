import { FerryError } from '../lib/ferry-error.js';
import type { RecordCursor, StoredRecord } from '../core/ports.js';
import { BATCH_HEADER_BYTES, COMPACTED_BATCH_FORMAT_VERSION, HOLE_BODY_BYTES, HOLE_KEY_LENGTH, RECORD_FIXED_BYTES, recordAt } from './record-batch.js';

/** What {@link BatchRecordCursor.add} took from a batch. */
export interface BatchTake {
  /** Records taken (0 when none of the batch is wanted). */
  readonly records: number;
  /** Where reading goes on after this batch. */
  readonly nextOffset: number;
}

const EMPTY = new Uint8Array(0);

/**
 * The {@link RecordCursor} of both stores: record batches (format in
 * FORMAT.md, checked before they are added), each with the offset to start
 * at and how many records to return, walked record by record in place. It
 * steps over the records below the start and over holes (version 2 batches)
 * by their lengths; the only objects it makes are two views per batch.
 *
 *   add(batch, from, …) ─► | header | rec | rec | hole | rec | … |   (per batch: first offset, count)
 *   next() ──────────────────────────────^ fields of the record stepped to
 */
export class BatchRecordCursor implements RecordCursor {
  count = 0;
  lastOffset: number | undefined = undefined;

  private readonly batches: Uint8Array[] = [];
  private readonly batchFromOffsets: number[] = [];
  private readonly batchCounts: number[] = [];

  // Where the walk is: the batch, its next slot, and how many records it still owes.
  private batchIndex = -1;
  private view: DataView = new DataView(EMPTY.buffer);
  private baseOffset = 0;
  private compacted = false;
  private lengthBytes = 0;
  private slotPosition = 0;
  private slotOffset = 0;
  private fromOffset = 0;
  private left = 0;

  // The record stepped to.
  bytes: Uint8Array = EMPTY;
  offset = 0;
  timestampMs = 0;
  keyStart = 0;
  keyLength = -1;
  valueStart = 0;
  valueEnd = 0;
  headerValueStart = 0;
  headerValueEnd = 0;
  private recordStart = 0;
  private headersStart = 0;
  private headerCount = 0;

  /**
   * Adds the checked batch `bytes`: its records from `fromOffset` on, below
   * `offsetEnd`, at most `recordsMax`. Says how many it took and where the
   * next read of the log goes on (past the batch when every record of it
   * from `fromOffset` on was taken, holes included).
   */
  add(bytes: Uint8Array, fromOffset: number, recordsMax: number, offsetEnd: number): BatchTake {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const baseOffset = view.getUint32(12, true) * 0x1_0000_0000 + view.getUint32(8, true);
    const offsetCount = view.getUint32(20, true);
    const batchEnd = baseOffset + offsetCount;
    const from = Math.max(fromOffset, baseOffset);
    let records: number;
    let lastOffset: number;
    let nextOffset: number;
    if (bytes[16] !== COMPACTED_BATCH_FORMAT_VERSION) {
      // Version 1: offsets are the record positions, so the count is arithmetic.
      records = Math.max(0, Math.min(batchEnd - from, offsetEnd - from, recordsMax));
      lastOffset = from + records - 1;
      nextOffset = from + records;
    } else {
      ({ records, lastOffset, nextOffset } = countLive(view, baseOffset, offsetCount, from, offsetEnd, recordsMax));
    }
    if (records === 0) return { records: 0, nextOffset: Math.max(nextOffset, from) };
    this.batches.push(bytes);
    this.batchFromOffsets.push(from);
    this.batchCounts.push(records);
    this.count += records;
    this.lastOffset = lastOffset;
    return { records, nextOffset };
  }

  next(): boolean {
    while (this.left === 0) {
      if (this.batchIndex + 1 >= this.batches.length) return false;
      this.enterBatch(++this.batchIndex);
    }
    for (;;) {
      const view = this.view;
      const position = this.slotPosition;
      if (position + 4 + RECORD_FIXED_BYTES > this.lengthBytes) throw this.corrupt('record overruns its batch');
      const recordEnd = position + 4 + view.getUint32(position, true);
      if (recordEnd > this.lengthBytes) throw this.corrupt('record overruns its batch');
      const keyLength = view.getInt32(position + 12, true);
      const offset = this.slotOffset;
      this.slotPosition = recordEnd;
      if (keyLength === HOLE_KEY_LENGTH && this.compacted) {
        if (recordEnd - position !== 4 + HOLE_BODY_BYTES) throw this.corrupt('malformed hole');
        this.slotOffset += view.getUint32(position + 16, true);
        continue;
      }
      this.slotOffset++;
      if (offset < this.fromOffset) continue;
      this.readFields(position, recordEnd, keyLength, offset);
      this.left--;
      return true;
    }
  }

  findHeader(name: Uint8Array): boolean {
    const { view, bytes } = this;
    const nameLength = name.byteLength;
    let cursor = this.headersStart;
    for (let h = 0; h < this.headerCount; h++) {
      const length = view.getUint16(cursor, true);
      const valueAt = cursor + 2 + length;
      const valueLength = view.getUint32(valueAt, true);
      if (length === nameLength) {
        let same = true;
        for (let i = 0; i < nameLength; i++) {
          if (bytes[cursor + 2 + i] !== name[i]) {
            same = false;
            break;
          }
        }
        if (same) {
          this.headerValueStart = valueAt + 4;
          this.headerValueEnd = valueAt + 4 + valueLength;
          return true;
        }
      }
      cursor = valueAt + 4 + valueLength;
    }
    return false;
  }

  record(): StoredRecord {
    return recordAt(this.bytes, this.recordStart + 4, this.valueEnd, this.offset, this.baseOffset, this.timestampMs);
  }

  private enterBatch(index: number): void {
    const stored = this.batches[index]!;
    // A plain view even when the store read into a Buffer, whose subarray() is much slower.
    const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bytes = bytes;
    this.view = view;
    this.baseOffset = view.getUint32(12, true) * 0x1_0000_0000 + view.getUint32(8, true);
    this.compacted = bytes[16] === COMPACTED_BATCH_FORMAT_VERSION;
    this.lengthBytes = view.getUint32(0, true);
    this.fromOffset = this.batchFromOffsets[index]!;
    this.left = this.batchCounts[index]!;
    if (this.compacted) {
      this.slotPosition = BATCH_HEADER_BYTES;
      this.slotOffset = this.baseOffset;
      return;
    }
    // Version 1: step over the records below the start by their lengths alone.
    let position = BATCH_HEADER_BYTES;
    for (let offset = this.baseOffset; offset < this.fromOffset; offset++) {
      if (position + 4 > this.lengthBytes) throw this.corrupt('record overruns its batch');
      position += 4 + view.getUint32(position, true);
    }
    this.slotPosition = position;
    this.slotOffset = this.fromOffset;
  }

  /** Lays out the live record at [position, recordEnd) (its key length already read). */
  private readFields(position: number, recordEnd: number, keyLength: number, offset: number): void {
    const view = this.view;
    this.offset = offset;
    this.recordStart = position;
    this.timestampMs = view.getFloat64(position + 4, true);
    let cursor = position + 16;
    this.keyStart = cursor;
    if (keyLength >= 0) {
      cursor += keyLength;
      if (cursor + 2 > recordEnd) throw this.corrupt('key overruns its record');
    } else if (keyLength !== -1) {
      throw this.corrupt(`key length ${keyLength}`);
    }
    this.keyLength = keyLength;
    const headerCount = view.getUint16(cursor, true);
    cursor += 2;
    this.headersStart = cursor;
    this.headerCount = headerCount;
    for (let h = 0; h < headerCount; h++) {
      if (cursor + 2 > recordEnd) throw this.corrupt('header overruns its record');
      cursor += 2 + view.getUint16(cursor, true);
      if (cursor + 4 > recordEnd) throw this.corrupt('header overruns its record');
      cursor += 4 + view.getUint32(cursor, true);
    }
    if (cursor > recordEnd) throw this.corrupt('record fields overrun');
    this.valueStart = cursor;
    this.valueEnd = recordEnd;
  }

  private corrupt(reason: string): FerryError {
    return new FerryError('CORRUPT_DATA', `batch at offset ${this.baseOffset}: ${reason}`);
  }
}

/**
 * Live records of a checked version 2 batch with offsets in [from, offsetEnd),
 * at most `recordsMax`: how many, the last one's offset, and where reading
 * goes on (past the batch when none of its live records from `from` on was left out).
 */
function countLive(view: DataView, baseOffset: number, offsetCount: number, from: number, offsetEnd: number, recordsMax: number): { records: number; lastOffset: number; nextOffset: number } {
  const lengthBytes = view.getUint32(0, true);
  let position = BATCH_HEADER_BYTES;
  let offset = baseOffset;
  let records = 0;
  let lastOffset = -1;
  while (offset < baseOffset + offsetCount) {
    if (position + 4 + 8 + 4 > lengthBytes) throw new FerryError('CORRUPT_DATA', `batch at offset ${baseOffset}: record overruns its batch`);
    const recordEnd = position + 4 + view.getUint32(position, true);
    if (recordEnd > lengthBytes) throw new FerryError('CORRUPT_DATA', `batch at offset ${baseOffset}: record overruns its batch`);
    const hole = view.getInt32(position + 12, true) === HOLE_KEY_LENGTH;
    const span = hole ? view.getUint32(position + 16, true) : 1;
    if (span === 0) throw new FerryError('CORRUPT_DATA', `batch at offset ${baseOffset}: hole spans 0 offsets`);
    if (!hole && offset >= from) {
      if (offset >= offsetEnd || records === recordsMax) return { records, lastOffset, nextOffset: offset };
      records++;
      lastOffset = offset;
    }
    offset += span;
    position = recordEnd;
  }
  return { records, lastOffset, nextOffset: baseOffset + offsetCount };
}
