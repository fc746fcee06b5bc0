import { recordKeyBytes, writeUtf8WithLength } from '../lib/utf8.js';
import { assert } from '../lib/assert.js';
import { crc32c } from '../lib/crc32c.js';
import { FerryError } from '../lib/ferry-error.js';
import type { ProducerStamp, RecordBatchBuilder, RecordHeader, RecordInput, StoredBatch, StoredRecord } from '../core/ports.js';

/**
 * Record batch, format version 1. All integers little-endian.
 *
 *   0        4        8                16   17   18     20        24
 *   +--------+--------+----------------+----+----+------+---------+
 *   | length | crc32c |  baseOffset    | ver|attr| rsvd | count   |
 *   +--------+--------+----------------+----+----+------+---------+
 *   24               32               40               48       52       56
 *   +----------------+----------------+----------------+--------+--------+
 *   | firstTimestamp | maxTimestamp   | producerId     | epoch  | baseSeq|
 *   +----------------+----------------+----------------+--------+--------+
 *   56: records, each:
 *   +--------+-----------+--------+-----+---------+--------------------+-------+
 *   | length | timestamp | keyLen | key | hdrCount| headers            | value |
 *   | u32    | f64 (ms)  | i32    |     | u16     | (u16 n,name,u32 v,v)| rest |
 *   +--------+-----------+--------+-----+---------+--------------------+-------+
 *
 * `length` is the whole batch in bytes, header included. The CRC-32C covers
 * bytes [8, length): everything but the length and the checksum itself, so a
 * torn or shifted batch fails the check. keyLen -1 means a null key. A record's
 * `length` counts the bytes after its own length field; the value is what is
 * left after the headers. 64-bit fields are written as two u32 halves and hold
 * integers below 2^53.
 *
 * Version 2 is version 1 plus *holes*, written only by compaction and by the
 * framing of settled runs (never by append, never in the journal). A hole stands for a run of `span` removed
 * records, so the offsets of a batch stay contiguous (`count` counts every
 * offset, holes included) while their bytes are gone:
 *
 *   +--------+-----------+--------+--------+
 *   | length | timestamp | keyLen | span   |
 *   | u32=16 | f64 (ms)  | i32=-2 | u32    |
 *   +--------+-----------+--------+--------+
 *
 * The timestamp is the largest of the removed records', so the batch header's
 * timestamps stay true. Readers skip holes. A version 1 reader refuses a
 * version 2 batch (UNKNOWN_FORMAT_VERSION) rather than misread its holes.
 */
export const BATCH_HEADER_BYTES = 56;
export const BATCH_FORMAT_VERSION = 1;
/** Version of batches that contain holes (see above). */
export const COMPACTED_BATCH_FORMAT_VERSION = 2;
/** A record's bytes after its length field besides key, headers and value: timestamp, keyLen, hdrCount. */
export const RECORD_FIXED_BYTES = 8 + 4 + 2;
/** keyLen of a hole record. */
export const HOLE_KEY_LENGTH = -2;
/** A hole record's bytes after its length field: timestamp, keyLen, span. */
export const HOLE_BODY_BYTES = 8 + 4 + 4;

/** Batch header facts readable without decoding records. */
export interface BatchHeader {
  readonly lengthBytes: number;
  readonly baseOffset: number;
  readonly recordCount: number;
  readonly firstTimestampMs: number;
  readonly maxTimestampMs: number;
  readonly attributes: number;
  /** True for a version 2 batch: it may hold holes, so its records are fewer than its offsets. */
  readonly compacted: boolean;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function writeUint64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % 0x1_0000_0000, true);
  view.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
}

function readUint64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true);
}

/** Bytes one record takes inside a batch. */
export function encodedRecordBytes(record: RecordInput): number {
  let bytes = 4 + RECORD_FIXED_BYTES + recordKeyBytes(record) + record.value.byteLength;
  if (record.headers) {
    for (const header of record.headers) bytes += 2 + headerNameBytes(header.name).byteLength + 4 + header.value.byteLength;
  }
  return bytes;
}

const headerNames = new Map<string, Uint8Array>();

/** UTF-8 bytes of a header name; the few names in use are encoded once. */
function headerNameBytes(name: string): Uint8Array {
  let bytes = headerNames.get(name);
  if (bytes === undefined) {
    bytes = textEncoder.encode(name);
    if (headerNames.size >= 1024) headerNames.clear();
    headerNames.set(name, bytes);
  }
  return bytes;
}


/**
 * Encodes records as one batch starting at `baseOffset`. Timestamps default
 * to `nowMs`. The returned bytes are final: they go unchanged to the journal
 * and to the segment file. With `headroomBytes`, the batch is a view that
 * starts that many bytes into its buffer (`bytes.buffer`, from `byteOffset - headroomBytes`).
 */
export function encodeBatch(
  records: readonly RecordInput[],
  baseOffset: number,
  nowMs: number,
  attributes = 0,
  producer: ProducerStamp | null = null,
  headroomBytes = 0,
): Uint8Array {
  const count = records.length;
  if (count === 0) throw new FerryError('INVALID_ARGUMENT', 'a batch needs at least one record');
  // Indexed loops here and in writeRecords: no iterator, and no empty headers array, per record.
  const lengthBytes = BATCH_HEADER_BYTES + encodedRecordsBytes(records);
  // Headroom lets the caller put a frame header (the journal's) in front without copying.
  // From Node's pooled allocator: small batches share slabs instead of one malloc each.
  const whole = Buffer.allocUnsafe(headroomBytes + lengthBytes) as Uint8Array;
  const bytes = headroomBytes === 0 ? whole : new Uint8Array(whole.buffer, whole.byteOffset + headroomBytes, lengthBytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  writeRecords(bytes, view, BATCH_HEADER_BYTES, records, nowMs);
  writeBatchHeader(bytes, view, baseOffset, count, writtenTimestamps.firstMs, writtenTimestamps.maxMs, attributes, producer);
  return bytes;
}

/** The first and the largest timestamp of the records the last {@link writeRecords} call wrote. */
export const writtenTimestamps = { firstMs: 0, maxMs: 0 };

/** Bytes `records` take inside a batch or a run (see encodedRecordBytes). */
export function encodedRecordsBytes(records: readonly RecordInput[]): number {
  let bytes = 0;
  for (let index = 0; index < records.length; index++) bytes += encodedRecordBytes(records[index]!);
  return bytes;
}

/**
 * Writes `records` (at least one) in the batch record layout into `bytes` from `at`, which must
 * have room for encodedRecordsBytes(records); returns where they end and sets
 * {@link writtenTimestamps}. Timestamps default to `nowMs`. Throws INVALID_ARGUMENT (a bad
 * timestamp, too many headers) possibly after writing part of them: the caller keeps none.
 */
export function writeRecords(bytes: Uint8Array, view: DataView, at: number, records: readonly RecordInput[], nowMs: number): number {
  const count = records.length;
  const firstTimestampMs = records[0]!.timestampMs ?? nowMs;
  let maxTimestampMs = firstTimestampMs;
  for (let index = 0; index < count; index++) {
    const record = records[index]!;
    const timestampMs = record.timestampMs ?? nowMs;
    if (!(timestampMs >= 0 && timestampMs <= Number.MAX_SAFE_INTEGER)) {
      throw new FerryError('INVALID_ARGUMENT', `record timestamp ${timestampMs} is not a time in milliseconds since 1970`);
    }
    if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
    const recordStart = at;
    at += 4;
    // A full timestamp per record: producers may send any times, in any order.
    view.setFloat64(at, timestampMs, true);
    at += 8;
    if (record.key) {
      view.setInt32(at, record.key.byteLength, true);
      bytes.set(record.key, at + 4);
      at += 4 + record.key.byteLength;
    } else if (record.key === undefined && record.keyText !== undefined) {
      // Its length as u32 is the same bytes as the int32 (at most 2 GiB).
      at = writeUtf8WithLength(bytes, at, record.keyText);
    } else {
      view.setInt32(at, -1, true);
      at += 4;
    }
    const headers = record.headers;
    const headerCount = headers === undefined ? 0 : headers.length;
    if (headerCount > 0xffff) throw new FerryError('INVALID_ARGUMENT', 'a record may carry at most 65535 headers');
    view.setUint16(at, headerCount, true);
    at += 2;
    for (let headerIndex = 0; headerIndex < headerCount; headerIndex++) {
      const header = headers![headerIndex]!;
      const name = headerNameBytes(header.name);
      if (name.byteLength > 0xffff) throw new FerryError('INVALID_ARGUMENT', 'a header name may be at most 65535 bytes');
      view.setUint16(at, name.byteLength, true);
      bytes.set(name, at + 2);
      at += 2 + name.byteLength;
      view.setUint32(at, header.value.byteLength, true);
      bytes.set(header.value, at + 4);
      at += 4 + header.value.byteLength;
    }
    bytes.set(record.value, at);
    at += record.value.byteLength;
    view.setUint32(recordStart, at - recordStart - 4, true);
  }
  writtenTimestamps.firstMs = firstTimestampMs;
  writtenTimestamps.maxMs = maxTimestampMs;
  return at;
}

/** Bytes one empty record (no key, headers or value) takes inside a batch. */
export const EMPTY_RECORD_BYTES = 4 + RECORD_FIXED_BYTES;

/**
 * Encodes `count` empty records (null key, no headers, empty value, timestamp `nowMs`) as one
 * version 1 batch: what {@link encodeBatch} makes of that many empty records, byte for byte,
 * written as one record copied over and over (see Log.appendEmpty). Headroom as for encodeBatch.
 */
export function encodeEmptyBatch(count: number, baseOffset: number, nowMs: number, headroomBytes = 0): Uint8Array {
  if (!(Number.isInteger(count) && count >= 1)) throw new FerryError('INVALID_ARGUMENT', 'a batch needs at least one record');
  if (!(nowMs >= 0 && nowMs <= Number.MAX_SAFE_INTEGER)) {
    throw new FerryError('INVALID_ARGUMENT', `record timestamp ${nowMs} is not a time in milliseconds since 1970`);
  }
  const lengthBytes = BATCH_HEADER_BYTES + count * EMPTY_RECORD_BYTES;
  const whole = Buffer.allocUnsafe(headroomBytes + lengthBytes) as Uint8Array;
  const bytes = headroomBytes === 0 ? whole : new Uint8Array(whole.buffer, whole.byteOffset + headroomBytes, lengthBytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(BATCH_HEADER_BYTES, RECORD_FIXED_BYTES, true);
  view.setFloat64(BATCH_HEADER_BYTES + 4, nowMs, true);
  view.setInt32(BATCH_HEADER_BYTES + 12, -1, true);
  view.setUint16(BATCH_HEADER_BYTES + 16, 0, true);
  // Doubling copies: the records written so far are copied after themselves.
  for (let written = EMPTY_RECORD_BYTES; written < lengthBytes - BATCH_HEADER_BYTES; written *= 2) {
    bytes.copyWithin(BATCH_HEADER_BYTES + written, BATCH_HEADER_BYTES, BATCH_HEADER_BYTES + Math.min(written, lengthBytes - BATCH_HEADER_BYTES - written));
  }
  writeBatchHeader(bytes, view, baseOffset, count, nowMs, nowMs, 0, null);
  return bytes;
}

/** Throws INVALID_ARGUMENT unless `count` is a count of empty records Log.appendEmpty takes (a positive integer). */
export function checkEmptyCount(count: number): void {
  if (!(Number.isInteger(count) && count >= 1)) throw new FerryError('INVALID_ARGUMENT', `appendEmpty takes a positive count, got ${String(count)}`);
}

/** The record counts of the batches `count` empty records are written as, each within `batchBytesMax`. */
export function emptyBatchSizes(count: number, batchBytesMax: number): number[] {
  const perBatch = Math.max(1, Math.floor((batchBytesMax - BATCH_HEADER_BYTES) / EMPTY_RECORD_BYTES));
  const sizes: number[] = [];
  for (let left = count; left > 0; left -= perBatch) sizes.push(Math.min(left, perBatch));
  return sizes;
}

/**
 * Seals `bytes` as a version 1 batch (no attributes, no producer) of `count` records that a
 * caller copied after the header: writes the header, then the CRC.
 */
export function sealRecordsBatch(bytes: Uint8Array, baseOffset: number, count: number, firstTimestampMs: number, maxTimestampMs: number): void {
  writeBatchHeader(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), baseOffset, count, firstTimestampMs, maxTimestampMs, 0, null);
}

/** Writes the header of a version 1 batch whose records fill `bytes` after it, then its CRC (last: it covers the header). */
function writeBatchHeader(
  bytes: Uint8Array,
  view: DataView,
  baseOffset: number,
  count: number,
  firstTimestampMs: number,
  maxTimestampMs: number,
  attributes: number,
  producer: ProducerStamp | null,
): void {
  view.setUint32(0, bytes.byteLength, true);
  writeUint64(view, 8, baseOffset);
  bytes[16] = BATCH_FORMAT_VERSION;
  bytes[17] = attributes & 0xff;
  view.setUint16(18, 0, true); // Reserved: the buffer is not zeroed.
  view.setUint32(20, count, true);
  writeUint64(view, 24, firstTimestampMs);
  writeUint64(view, 32, maxTimestampMs);
  writeUint64(view, 40, producer ? producer.producerId : 0);
  view.setUint32(48, producer ? producer.producerEpoch : 0, true);
  view.setUint32(52, producer ? producer.baseSequence : 0, true);
  view.setUint32(4, crc32c(bytes.subarray(8)), true);
}

/** Copies below this many bytes go byte by byte: cheaper than the view `set` needs. */
const BYTE_LOOP_COPY_MAX = 16;
/**
 * Copies up to this many bytes go four at a time through DataViews the writer
 * keeps: no subarray per copy (a message body is usually below it), and
 * faster than `set` for short spans. Longer ones take one native `set`.
 */
const WORD_LOOP_COPY_MAX = 256;

/** Copies `source[start, start + length)` to `target[at..]`. */
function copyRange(target: Uint8Array, at: number, source: Uint8Array, start: number, length: number): void {
  if (length <= BYTE_LOOP_COPY_MAX) {
    for (let index = 0; index < length; index++) target[at + index] = source[start + index]!;
  } else {
    target.set(source.subarray(start, start + length), at);
  }
}

/**
 * Copies `length` bytes from `sourceView` at `start` to `targetView` at `at`
 * (views may share a buffer if the spans do not overlap): four bytes at a time
 * as integers, which preserves every bit pattern, then the last ones singly.
 */
function copyWords(targetView: DataView, at: number, sourceView: DataView, start: number, length: number): void {
  let index = 0;
  for (; index + 4 <= length; index += 4) targetView.setInt32(at + index, sourceView.getInt32(start + index, true), true);
  for (; index < length; index++) targetView.setUint8(at + index, sourceView.getUint8(start + index));
}

/**
 * A version 1 batch written record by record from ranges of a caller's bytes
 * (the {@link RecordBatchBuilder} of `Log.newBatch`): the records land where
 * {@link encodeBatch} would put them, in one buffer with `headroomBytes` free
 * in front (the journal entry header); {@link seal} then writes the header
 * and computes the CRC, once. The layout is that of encodeBatch, so the
 * sealed bytes equal encodeBatch's for the same records.
 */
export class RecordBatchWriter implements RecordBatchBuilder {
  count = 0;
  valueBytesMax = 0;
  /** The buffer, headroom included. */
  private whole: Uint8Array;
  private view: DataView;
  /** Where the next bytes go, counted from the batch start (after the headroom). */
  private at = BATCH_HEADER_BYTES;
  /** The batch start of the record being written (its length field), or -1 between records. */
  private recordAt = -1;
  private headersLeft = 0;
  /** Where the last complete record's key length field and value start (batch-relative): its key and headers lie between. */
  private lastKeyAt = -1;
  private lastValueAt = -1;
  private firstTimestampMs = 0;
  private maxTimestampMs = 0;
  private sealed = false;
  /** The caller's bytes last copied from and a view of them: a frame's records come from one source. */
  private source: Uint8Array | null = null;
  private sourceView: DataView | null = null;

  /** Sized as `Log.newBatch` states: `fieldBytes` of keys, header names and values, plus the fixed bytes of each record and header. */
  constructor(
    recordCount: number,
    headerCount: number,
    fieldBytes: number,
    /** Free bytes before the batch in its buffer. */
    readonly headroomBytes = 0,
  ) {
    const lengthBytes = BATCH_HEADER_BYTES + recordCount * (4 + RECORD_FIXED_BYTES) + headerCount * (2 + 4) + fieldBytes;
    // From Node's pooled allocator, like encodeBatch; never zeroed: every byte of the batch is written.
    this.whole = Buffer.allocUnsafe(headroomBytes + Math.max(BATCH_HEADER_BYTES, Math.ceil(lengthBytes))) as Uint8Array;
    this.view = new DataView(this.whole.buffer, this.whole.byteOffset, this.whole.byteLength);
  }

  recordStart(timestampMs: number, source: Uint8Array, keyStart: number, keyLength: number, headerCount: number): void {
    assert(this.recordAt < 0 && !this.sealed, 'a record starts after the previous one ended, before the batch is sealed');
    if (!(timestampMs >= 0 && timestampMs <= Number.MAX_SAFE_INTEGER)) {
      throw new FerryError('INVALID_ARGUMENT', `record timestamp ${timestampMs} is not a time in milliseconds since 1970`);
    }
    if (headerCount > 0xffff) throw new FerryError('INVALID_ARGUMENT', 'a record may carry at most 65535 headers');
    const keyBytes = keyLength < 0 ? 0 : keyLength;
    this.ensure(4 + RECORD_FIXED_BYTES + keyBytes);
    const base = this.headroomBytes;
    this.recordAt = this.at;
    const view = this.view;
    view.setFloat64(base + this.at + 4, timestampMs, true);
    view.setInt32(base + this.at + 12, keyLength < 0 ? -1 : keyLength, true);
    this.copyFrom(base + this.at + 16, source, keyStart, keyBytes);
    this.at += 16 + keyBytes;
    view.setUint16(base + this.at, headerCount, true);
    this.at += 2;
    this.headersLeft = headerCount;
    if (this.count === 0) this.firstTimestampMs = this.maxTimestampMs = timestampMs;
    else if (timestampMs > this.maxTimestampMs) this.maxTimestampMs = timestampMs;
  }

  recordHeader(name: string, source: Uint8Array, valueStart: number, valueLength: number): void {
    assert(this.recordAt >= 0 && this.headersLeft > 0, 'a header belongs to a started record that announced it');
    const nameBytes = headerNameBytes(name);
    if (nameBytes.byteLength > 0xffff) throw new FerryError('INVALID_ARGUMENT', 'a header name may be at most 65535 bytes');
    this.ensure(2 + nameBytes.byteLength + 4 + valueLength);
    const at = this.headroomBytes + this.at;
    this.view.setUint16(at, nameBytes.byteLength, true);
    copyRange(this.whole, at + 2, nameBytes, 0, nameBytes.byteLength);
    this.view.setUint32(at + 2 + nameBytes.byteLength, valueLength, true);
    this.copyFrom(at + 6 + nameBytes.byteLength, source, valueStart, valueLength);
    this.at += 6 + nameBytes.byteLength + valueLength;
    this.headersLeft--;
  }

  recordEnd(source: Uint8Array, valueStart: number, valueLength: number): void {
    assert(this.recordAt >= 0 && this.headersLeft === 0, 'a record ends after all the headers it announced');
    this.ensure(valueLength);
    this.lastKeyAt = this.recordAt + 12;
    this.lastValueAt = this.at;
    this.finishRecord(source, valueStart, valueLength);
  }

  recordAgain(timestampMs: number, source: Uint8Array, valueStart: number, valueLength: number): void {
    assert(this.recordAt < 0 && this.lastKeyAt >= 0 && !this.sealed, 'a repeated record follows a complete one, before the batch is sealed');
    if (!(timestampMs >= 0 && timestampMs <= Number.MAX_SAFE_INTEGER)) {
      throw new FerryError('INVALID_ARGUMENT', `record timestamp ${timestampMs} is not a time in milliseconds since 1970`);
    }
    const base = this.headroomBytes;
    const repeatedBytes = this.lastValueAt - this.lastKeyAt;
    this.ensure(12 + repeatedBytes + valueLength);
    const at = this.at;
    this.recordAt = at;
    this.view.setFloat64(base + at + 4, timestampMs, true);
    // Key length, key, header count and headers: the previous record's bytes (which end before `at`, so the spans are apart).
    if (repeatedBytes <= WORD_LOOP_COPY_MAX) copyWords(this.view, base + at + 12, this.view, base + this.lastKeyAt, repeatedBytes);
    else this.whole.copyWithin(base + at + 12, base + this.lastKeyAt, base + this.lastValueAt);
    this.lastKeyAt = at + 12;
    this.lastValueAt = at + 12 + repeatedBytes;
    this.at = this.lastValueAt;
    if (timestampMs > this.maxTimestampMs) this.maxTimestampMs = timestampMs;
    this.finishRecord(source, valueStart, valueLength);
  }

  /** Copies the value of the record being written (room ensured) and sets its length. */
  private finishRecord(source: Uint8Array, valueStart: number, valueLength: number): void {
    this.copyFrom(this.headroomBytes + this.at, source, valueStart, valueLength);
    this.at += valueLength;
    this.view.setUint32(this.headroomBytes + this.recordAt, this.at - this.recordAt - 4, true);
    this.recordAt = -1;
    this.count++;
    if (valueLength > this.valueBytesMax) this.valueBytesMax = valueLength;
  }

  /**
   * Writes the header (base offset, stamps, timestamps) and the CRC; returns
   * the batch, a view with `headroomBytes` free before it in its buffer.
   * Once only, with at least one complete record.
   */
  seal(baseOffset: number, attributes = 0, producer: ProducerStamp | null = null): Uint8Array {
    assert(!this.sealed && this.recordAt < 0, 'a batch is sealed once, between records');
    if (this.count === 0) throw new FerryError('INVALID_ARGUMENT', 'a batch needs at least one record');
    this.sealed = true;
    const bytes = this.whole.subarray(this.headroomBytes, this.headroomBytes + this.at);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    writeBatchHeader(bytes, view, baseOffset, this.count, this.firstTimestampMs, this.maxTimestampMs, attributes, producer);
    return bytes;
  }

  /** Copies `source[start, start + length)` to `whole[at..]` (room ensured). */
  private copyFrom(at: number, source: Uint8Array, start: number, length: number): void {
    if (length <= BYTE_LOOP_COPY_MAX || length > WORD_LOOP_COPY_MAX) {
      copyRange(this.whole, at, source, start, length);
      return;
    }
    if (source !== this.source) {
      this.source = source;
      this.sourceView = new DataView(source.buffer, source.byteOffset, source.byteLength);
    }
    copyWords(this.view, at, this.sourceView!, start, length);
  }

  /** Makes room for `extra` more bytes, doubling the buffer when it is short. */
  private ensure(extra: number): void {
    const needed = this.headroomBytes + this.at + extra;
    if (needed <= this.whole.byteLength) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.whole.byteLength * 2)) as Uint8Array;
    grown.set(this.whole.subarray(0, this.headroomBytes + this.at));
    this.whole = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }
}

/** The outcome of checking bytes that should start with a batch. */
export type BatchCheck =
  | { readonly kind: 'ok'; readonly header: BatchHeader }
  /** Fewer bytes than the batch needs: a torn tail, or a read that must fetch more. */
  | { readonly kind: 'incomplete'; readonly bytesNeeded: number }
  /** Checksum or structure wrong. */
  | { readonly kind: 'corrupt'; readonly reason: string }
  /** Checksum right but written by a format this version does not know. */
  | { readonly kind: 'unknown-version'; readonly version: number };

/**
 * Checks the batch at `bytes[at..]`: length sane, complete, checksum right.
 * `verifyChecksum: false` skips the CRC (for positions already verified).
 */
export function checkBatch(bytes: Uint8Array, at: number, verifyChecksum = true): BatchCheck {
  const available = bytes.byteLength - at;
  if (available < BATCH_HEADER_BYTES) return { kind: 'incomplete', bytesNeeded: BATCH_HEADER_BYTES };
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, available);
  const lengthBytes = view.getUint32(0, true);
  if (lengthBytes < BATCH_HEADER_BYTES + 4 + RECORD_FIXED_BYTES) {
    return { kind: 'corrupt', reason: `batch length ${lengthBytes} is below the minimum` };
  }
  if (lengthBytes > available) return { kind: 'incomplete', bytesNeeded: lengthBytes };
  if (verifyChecksum) {
    const expected = view.getUint32(4, true);
    const actual = crc32c(bytes.subarray(at + 8, at + lengthBytes));
    if (expected !== actual) return { kind: 'corrupt', reason: 'checksum mismatch' };
  }
  const version = view.getUint8(16);
  if (version !== BATCH_FORMAT_VERSION && version !== COMPACTED_BATCH_FORMAT_VERSION) return { kind: 'unknown-version', version };
  const recordCount = view.getUint32(20, true);
  if (recordCount === 0) return { kind: 'corrupt', reason: 'batch with no records' };
  return {
    kind: 'ok',
    header: {
      lengthBytes,
      baseOffset: readUint64(view, 8),
      recordCount,
      firstTimestampMs: readUint64(view, 24),
      maxTimestampMs: readUint64(view, 32),
      attributes: view.getUint8(17),
      compacted: version === COMPACTED_BATCH_FORMAT_VERSION,
    },
  };
}

/**
 * The largest record timestamp of a batch already known to be valid, read from its header
 * without a DataView or header object: the append path reads it once per batch.
 */
export function batchMaxTimestampMs(bytes: Uint8Array): number {
  const low = (bytes[32]! | (bytes[33]! << 8) | (bytes[34]! << 16) | (bytes[35]! << 24)) >>> 0;
  const high = (bytes[36]! | (bytes[37]! << 8) | (bytes[38]! << 16) | (bytes[39]! << 24)) >>> 0;
  return high * 0x1_0000_0000 + low;
}

/** Reads the header of a batch already known to be valid. */
export function readBatchHeader(bytes: Uint8Array, at = 0): BatchHeader {
  const result = checkBatch(bytes, at, false);
  if (result.kind !== 'ok') throw new FerryError('CORRUPT_DATA', `batch header unreadable: ${result.kind}`);
  return result.header;
}

/**
 * A mark in a version 1 batch: record `index` starts `position` bytes into
 * the batch (at its length field). {@link decodeBatch} resumes from it instead
 * of stepping over the records before it, and moves it past the records it
 * decoded: a reader taking a large batch a few records at a time walks it once.
 */
export interface BatchMark {
  index: number;
  position: number;
}

/**
 * Decodes a checked batch into records. Keys, values and header values are
 * views into `bytes`, not copies: callers keep `bytes` alive and unchanged.
 * With `mark` (a mark in this same batch, from an earlier call), the walk
 * to `firstIndex` starts there when it lies at or before it; `mark` is then
 * set to the record after the last one decoded.
 */
export function decodeBatch(bytes: Uint8Array, at = 0, firstIndex = 0, countMax = Number.POSITIVE_INFINITY, mark?: BatchMark): StoredBatch {
  // Version 2 batches take their own path, so the common case pays one byte comparison.
  if (bytes[at + 16] === COMPACTED_BATCH_FORMAT_VERSION) return decodeCompactedBatch(bytes, at);
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, bytes.byteLength - at);
  const lengthBytes = view.getUint32(0, true);
  const baseOffset = readUint64(view, 8);
  const count = view.getUint32(20, true);
  const producerId = readUint64(view, 40);
  // Only records [first, end) become objects; the ones before are stepped over by their lengths.
  const first = Math.min(Math.max(firstIndex, 0), count);
  const end = Math.min(count, first + countMax);
  const records: StoredRecord[] = new Array(end - first);
  let position = BATCH_HEADER_BYTES;
  let skipped = 0;
  if (mark !== undefined && mark.index <= first && mark.position >= BATCH_HEADER_BYTES && mark.position <= lengthBytes) {
    skipped = mark.index;
    position = mark.position;
  }
  for (let index = skipped; index < first; index++) {
    if (position + 4 > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
    position += 4 + view.getUint32(position, true);
    if (position > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
  }
  for (let index = first; index < end; index++) {
    if (position + 4 + RECORD_FIXED_BYTES > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
    const recordEnd = position + 4 + view.getUint32(position, true);
    if (recordEnd > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
    records[index - first] = new BatchRecord(bytes, at + position + 4, at + recordEnd, baseOffset + index, baseOffset, view.getFloat64(position + 4, true));
    position = recordEnd;
  }
  if (mark !== undefined) {
    mark.index = end;
    mark.position = position;
  }
  return {
    baseOffset,
    records,
    attributes: view.getUint8(17),
    producer:
      producerId === 0
        ? null
        : { producerId, producerEpoch: view.getUint32(48, true), baseSequence: view.getUint32(52, true) },
  };
}

/** One record slot of a batch, as laid out: a live record or a hole. */
interface RecordSlot {
  /** Byte range of the whole record (length field included), relative to the batch start. */
  readonly start: number;
  readonly end: number;
  /** First offset the slot covers. */
  readonly offset: number;
  /** Offsets covered: 1 for a live record, the run length for a hole. */
  readonly span: number;
  readonly hole: boolean;
  readonly timestampMs: number;
}

/** Lays out the record slots of a checked batch; CORRUPT_DATA when they do not add up to its count. */
function recordSlots(bytes: Uint8Array, at: number): RecordSlot[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, bytes.byteLength - at);
  const lengthBytes = view.getUint32(0, true);
  const baseOffset = readUint64(view, 8);
  const count = view.getUint32(20, true);
  const compacted = view.getUint8(16) === COMPACTED_BATCH_FORMAT_VERSION;
  const slots: RecordSlot[] = [];
  let position = BATCH_HEADER_BYTES;
  let covered = 0;
  while (covered < count) {
    if (position + 4 + 8 + 4 > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
    const recordLength = view.getUint32(position, true);
    const end = position + 4 + recordLength;
    if (end > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
    const timestampMs = view.getFloat64(position + 4, true);
    let span = 1;
    const hole = compacted && view.getInt32(position + 12, true) === HOLE_KEY_LENGTH;
    if (hole) {
      if (recordLength !== HOLE_BODY_BYTES) throw corrupt(baseOffset, `hole of ${recordLength} bytes`);
      span = view.getUint32(position + 16, true);
      if (span === 0 || covered + span > count) throw corrupt(baseOffset, `hole spans ${span} offsets`);
    }
    slots.push({ start: position, end, offset: baseOffset + covered, span, hole, timestampMs });
    covered += span;
    position = end;
  }
  if (position !== lengthBytes) throw corrupt(baseOffset, 'bytes after the last record');
  return slots;
}

/** Decodes a version 2 batch: its live records, each with its own offset; holes are skipped. */
function decodeCompactedBatch(bytes: Uint8Array, at: number): StoredBatch {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, bytes.byteLength - at);
  const baseOffset = readUint64(view, 8);
  const producerId = readUint64(view, 40);
  const records: StoredRecord[] = [];
  for (const slot of recordSlots(bytes, at)) {
    if (slot.hole) continue;
    records.push(decodeRecord(bytes, at, view, slot, baseOffset));
  }
  return {
    baseOffset,
    records,
    attributes: view.getUint8(17),
    producer:
      producerId === 0
        ? null
        : { producerId, producerEpoch: view.getUint32(48, true), baseSequence: view.getUint32(52, true) },
  };
}

/** Decodes the live record in `slot` (views into `bytes`, like decodeBatch). */
function decodeRecord(bytes: Uint8Array, at: number, view: DataView, slot: RecordSlot, baseOffset: number): StoredRecord {
  let cursor = slot.start + 4 + 8;
  const keyLength = view.getInt32(cursor, true);
  cursor += 4;
  let key: Uint8Array | null = null;
  if (keyLength >= 0) {
    if (cursor + keyLength > slot.end) throw corrupt(baseOffset, 'key overruns its record');
    key = sliceView(bytes, at + cursor, at + cursor + keyLength);
    cursor += keyLength;
  } else if (keyLength !== -1) {
    throw corrupt(baseOffset, `key length ${keyLength}`);
  }
  if (cursor + 2 > slot.end) throw corrupt(baseOffset, 'record fields overrun');
  const headerCount = view.getUint16(cursor, true);
  cursor += 2;
  const headers: RecordHeader[] = [];
  for (let h = 0; h < headerCount; h++) {
    if (cursor + 2 > slot.end) throw corrupt(baseOffset, 'header overruns its record');
    const nameLength = view.getUint16(cursor, true);
    if (cursor + 2 + nameLength + 4 > slot.end) throw corrupt(baseOffset, 'header overruns its record');
    const name = textDecoder.decode(sliceView(bytes, at + cursor + 2, at + cursor + 2 + nameLength));
    cursor += 2 + nameLength;
    const valueLength = view.getUint32(cursor, true);
    if (cursor + 4 + valueLength > slot.end) throw corrupt(baseOffset, 'header overruns its record');
    headers.push({ name, value: sliceView(bytes, at + cursor + 4, at + cursor + 4 + valueLength) });
    cursor += 4 + valueLength;
  }
  return { offset: slot.offset, timestampMs: slot.timestampMs, key, value: sliceView(bytes, at + cursor, at + slot.end), headers };
}

/** What compacting one batch gave. */
export type BatchCompaction =
  /** `keep` took every live record: the batch stays as it is. */
  | { readonly kind: 'unchanged' }
  /** No live record is left: the caller writes the batch's offsets as a gap (see {@link encodeGapBatch}). */
  | { readonly kind: 'emptied'; readonly recordsRemoved: number }
  /** Some records were removed: `bytes` is the batch, version 2, with holes in their place. */
  | { readonly kind: 'rewritten'; readonly recordsRemoved: number; readonly bytes: Uint8Array };

/**
 * Compacts the checked batch in `bytes`: every live record at or after
 * `startOffset` for which `keep` returns false becomes part of a hole (runs of
 * removed records and holes merge into one). Kept records are copied byte for
 * byte; the header keeps its base offset, count, timestamps, attributes and
 * producer stamp; the CRC is recomputed. Records below `startOffset` are kept
 * without asking `keep`.
 */
export function compactBatch(bytes: Uint8Array, keep: (record: StoredRecord) => boolean, startOffset: number): BatchCompaction {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const baseOffset = readUint64(view, 8);
  const slots = recordSlots(bytes, 0);
  const kept: boolean[] = [];
  let recordsRemoved = 0;
  let anyKept = false;
  for (const slot of slots) {
    const keepIt = !slot.hole && (slot.offset < startOffset || keep(decodeRecord(bytes, 0, view, slot, baseOffset)));
    if (!slot.hole && !keepIt) recordsRemoved++;
    anyKept ||= keepIt;
    kept.push(keepIt);
  }
  if (!anyKept) return { kind: 'emptied', recordsRemoved };
  if (recordsRemoved === 0) return { kind: 'unchanged' };
  // Sizes first: kept records as they are, one hole per run of removed slots.
  let lengthBytes = BATCH_HEADER_BYTES;
  for (let i = 0; i < slots.length; i++) {
    if (kept[i]) lengthBytes += slots[i]!.end - slots[i]!.start;
    else if (i === 0 || kept[i - 1]) lengthBytes += 4 + HOLE_BODY_BYTES;
  }
  const out = new Uint8Array(lengthBytes);
  const outView = new DataView(out.buffer);
  out.set(bytes.subarray(0, BATCH_HEADER_BYTES), 0);
  let at = BATCH_HEADER_BYTES;
  let holeSpan = 0;
  let holeTimestampMs = 0;
  const writeHole = (): void => {
    at = writeHoleRecord(outView, at, holeSpan, holeTimestampMs);
    holeSpan = 0;
  };
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    if (kept[i]) {
      if (holeSpan > 0) writeHole();
      out.set(bytes.subarray(slot.start, slot.end), at);
      at += slot.end - slot.start;
    } else {
      holeTimestampMs = holeSpan === 0 ? slot.timestampMs : Math.max(holeTimestampMs, slot.timestampMs);
      holeSpan += slot.span;
    }
  }
  if (holeSpan > 0) writeHole();
  assert(at === lengthBytes, 'a compacted batch fills exactly the bytes computed for it');
  sealBatch(out, COMPACTED_BATCH_FORMAT_VERSION);
  return { kind: 'rewritten', recordsRemoved, bytes: out };
}

/**
 * A version 2 batch of nothing but one hole: offsets `baseOffset .. baseOffset + span - 1`,
 * all removed (one batch can stand for many emptied ones). No attributes, no producer.
 */
export function encodeGapBatch(baseOffset: number, span: number, firstTimestampMs: number, maxTimestampMs: number): Uint8Array {
  assert(span > 0 && span <= 0xffff_ffff, 'a gap covers 1 to 2^32 - 1 offsets');
  const bytes = new Uint8Array(BATCH_HEADER_BYTES + 4 + HOLE_BODY_BYTES);
  const view = new DataView(bytes.buffer);
  writeUint64(view, 8, baseOffset);
  view.setUint32(20, span, true);
  writeUint64(view, 24, firstTimestampMs);
  writeUint64(view, 32, maxTimestampMs);
  writeHoleRecord(view, BATCH_HEADER_BYTES, span, maxTimestampMs);
  sealBatch(bytes, COMPACTED_BATCH_FORMAT_VERSION);
  return bytes;
}

function writeHoleRecord(view: DataView, at: number, span: number, timestampMs: number): number {
  view.setUint32(at, HOLE_BODY_BYTES, true);
  view.setFloat64(at + 4, timestampMs, true);
  view.setInt32(at + 12, HOLE_KEY_LENGTH, true);
  view.setUint32(at + 16, span, true);
  return at + 4 + HOLE_BODY_BYTES;
}

/** Sets a batch's length, version and CRC once its other bytes are final. */
function sealBatch(bytes: Uint8Array, version: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(0, bytes.byteLength, true);
  bytes[16] = version;
  view.setUint32(4, crc32c(bytes.subarray(8)), true);
}

/**
 * The live record whose fields (after its length) are `bytes[start, end)`,
 * as a {@link StoredRecord} that reads them when first asked (the batch
 * passed its checksum; a malformed layout is CORRUPT_DATA on first access).
 */
export function recordAt(bytes: Uint8Array, start: number, end: number, offset: number, baseOffset: number, timestampMs: number): StoredRecord {
  return new BatchRecord(bytes, start, end, offset, baseOffset, timestampMs);
}

/**
 * A record of a decoded batch that reads its fields from the batch bytes
 * when first asked (a reader that only counts or forwards records allocates
 * nothing per field). The bytes passed their checksum before it was made;
 * a malformed layout (a writer's bug) is CORRUPT_DATA on first access.
 */
class BatchRecord implements StoredRecord {
  private parsed: { key: Uint8Array | null; value: Uint8Array; headers: readonly RecordHeader[] } | null = null;
  private valueView: Uint8Array | null = null;

  constructor(
    private readonly bytes: Uint8Array,
    /** Start of the record's fields (after its length), in `bytes`. */
    private readonly start: number,
    private readonly end: number,
    readonly offset: number,
    private readonly baseOffset: number,
    readonly timestampMs: number,
  ) {}

  get key(): Uint8Array | null {
    return this.fields().key;
  }

  /** The value alone is found by stepping over the key and headers, without building them. */
  get value(): Uint8Array {
    if (this.parsed !== null) return this.parsed.value;
    if (this.valueView !== null) return this.valueView;
    const { bytes, end, baseOffset } = this;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let cursor = this.start + 8;
    const keyLength = view.getInt32(cursor, true);
    cursor += 4 + Math.max(keyLength, 0);
    if (cursor + 2 > end) throw corrupt(baseOffset, 'record fields overrun');
    const headerCount = view.getUint16(cursor, true);
    cursor += 2;
    for (let h = 0; h < headerCount; h++) {
      if (cursor + 2 > end) throw corrupt(baseOffset, 'header overruns its record');
      cursor += 2 + view.getUint16(cursor, true);
      if (cursor + 4 > end) throw corrupt(baseOffset, 'header overruns its record');
      cursor += 4 + view.getUint32(cursor, true);
    }
    if (cursor > end) throw corrupt(baseOffset, 'record fields overrun');
    this.valueView = sliceView(bytes, cursor, end);
    return this.valueView;
  }

  get headers(): readonly RecordHeader[] {
    return this.fields().headers;
  }

  private fields(): { key: Uint8Array | null; value: Uint8Array; headers: readonly RecordHeader[] } {
    if (this.parsed !== null) return this.parsed;
    const { bytes, end, baseOffset } = this;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let cursor = this.start + 8;
    const keyLength = view.getInt32(cursor, true);
    cursor += 4;
    let key: Uint8Array | null = null;
    if (keyLength >= 0) {
      if (cursor + keyLength > end) throw corrupt(baseOffset, 'key overruns its record');
      key = sliceView(bytes, cursor, cursor + keyLength);
      cursor += keyLength;
    }
    if (cursor + 2 > end) throw corrupt(baseOffset, 'record fields overrun');
    const headerCount = view.getUint16(cursor, true);
    cursor += 2;
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      if (cursor + 2 > end) throw corrupt(baseOffset, 'header overruns its record');
      const nameLength = view.getUint16(cursor, true);
      // One-byte ASCII names (the message envelope's "m") skip the decoder: it is the hot case.
      const nameByte = bytes[cursor + 2]!;
      const name = nameLength === 1 && nameByte < 0x80 ? ONE_CHARACTER_NAMES[nameByte]! : textDecoder.decode(sliceView(bytes, cursor + 2, cursor + 2 + nameLength));
      cursor += 2 + nameLength;
      if (cursor + 4 > end) throw corrupt(baseOffset, 'header overruns its record');
      const valueLength = view.getUint32(cursor, true);
      if (cursor + 4 + valueLength > end) throw corrupt(baseOffset, 'header overruns its record');
      headers.push({ name, value: sliceView(bytes, cursor + 4, cursor + 4 + valueLength) });
      cursor += 4 + valueLength;
    }
    if (cursor > end) throw corrupt(baseOffset, 'record fields overrun');
    this.parsed = { key, value: sliceView(bytes, cursor, end), headers };
    return this.parsed;
  }
}

const ONE_CHARACTER_NAMES: readonly string[] = Array.from({ length: 0x80 }, (_, code) => String.fromCharCode(code));

/** A plain Uint8Array view (never a Buffer, whatever `bytes` is), so callers see one type. */
function sliceView(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

function corrupt(baseOffset: number, reason: string): FerryError {
  return new FerryError('CORRUPT_DATA', `batch at offset ${baseOffset}: ${reason}`);
}
