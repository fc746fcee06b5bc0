import { crc32c } from '../lib/crc32c.js';
import { FerryError } from '../lib/ferry-error.js';
import type { ProducerStamp, RecordHeader, RecordInput, StoredBatch, StoredRecord } from '../core/ports.js';

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
 */
export const BATCH_HEADER_BYTES = 56;
export const BATCH_FORMAT_VERSION = 1;
const RECORD_FIXED_BYTES = 8 + 4 + 2;

/** Batch header facts readable without decoding records. */
export interface BatchHeader {
  readonly lengthBytes: number;
  readonly baseOffset: number;
  readonly recordCount: number;
  readonly firstTimestampMs: number;
  readonly maxTimestampMs: number;
  readonly attributes: number;
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
  let bytes = 4 + RECORD_FIXED_BYTES + (record.key ? record.key.byteLength : 0) + record.value.byteLength;
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
  if (records.length === 0) throw new FerryError('INVALID_ARGUMENT', 'a batch needs at least one record');
  let lengthBytes = BATCH_HEADER_BYTES;
  for (const record of records) lengthBytes += encodedRecordBytes(record);
  // Headroom lets the caller put a frame header (the journal's) in front without copying.
  // From Node's pooled allocator: small batches share slabs instead of one malloc each.
  const whole = Buffer.allocUnsafe(headroomBytes + lengthBytes) as Uint8Array;
  const bytes = headroomBytes === 0 ? whole : whole.subarray(headroomBytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const firstTimestampMs = records[0]!.timestampMs ?? nowMs;
  let maxTimestampMs = firstTimestampMs;
  let at = BATCH_HEADER_BYTES;
  for (const record of records) {
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
    } else {
      view.setInt32(at, -1, true);
      at += 4;
    }
    const headers = record.headers ?? [];
    if (headers.length > 0xffff) throw new FerryError('INVALID_ARGUMENT', 'a record may carry at most 65535 headers');
    view.setUint16(at, headers.length, true);
    at += 2;
    for (const header of headers) {
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
  view.setUint32(0, lengthBytes, true);
  writeUint64(view, 8, baseOffset);
  bytes[16] = BATCH_FORMAT_VERSION;
  bytes[17] = attributes & 0xff;
  view.setUint16(18, 0, true); // Reserved: the buffer is not zeroed.
  view.setUint32(20, records.length, true);
  writeUint64(view, 24, firstTimestampMs);
  writeUint64(view, 32, maxTimestampMs);
  writeUint64(view, 40, producer ? producer.producerId : 0);
  view.setUint32(48, producer ? producer.producerEpoch : 0, true);
  view.setUint32(52, producer ? producer.baseSequence : 0, true);
  view.setUint32(4, crc32c(bytes.subarray(8)), true);
  return bytes;
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
  if (version !== BATCH_FORMAT_VERSION) return { kind: 'unknown-version', version };
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
    },
  };
}

/** Reads the header of a batch already known to be valid. */
export function readBatchHeader(bytes: Uint8Array, at = 0): BatchHeader {
  const result = checkBatch(bytes, at, false);
  if (result.kind !== 'ok') throw new FerryError('CORRUPT_DATA', `batch header unreadable: ${result.kind}`);
  return result.header;
}

/**
 * Decodes a checked batch into records. Keys, values and header values are
 * views into `bytes`, not copies: callers keep `bytes` alive and unchanged.
 */
export function decodeBatch(bytes: Uint8Array, at = 0): StoredBatch {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, bytes.byteLength - at);
  const lengthBytes = view.getUint32(0, true);
  const baseOffset = readUint64(view, 8);
  const count = view.getUint32(20, true);
  const producerId = readUint64(view, 40);
  const records: StoredRecord[] = new Array(count);
  let position = BATCH_HEADER_BYTES;
  for (let index = 0; index < count; index++) {
    if (position + 4 + RECORD_FIXED_BYTES > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
    const recordLength = view.getUint32(position, true);
    const recordEnd = position + 4 + recordLength;
    if (recordEnd > lengthBytes) throw corrupt(baseOffset, 'record overruns its batch');
    let cursor = position + 4;
    const timestampMs = view.getFloat64(cursor, true);
    cursor += 8;
    const keyLength = view.getInt32(cursor, true);
    cursor += 4;
    let key: Uint8Array | null = null;
    if (keyLength >= 0) {
      if (cursor + keyLength > recordEnd) throw corrupt(baseOffset, 'key overruns its record');
      key = sliceView(bytes, at + cursor, at + cursor + keyLength);
      cursor += keyLength;
    }
    const headerCount = view.getUint16(cursor, true);
    cursor += 2;
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const nameLength = view.getUint16(cursor, true);
      const name = textDecoder.decode(sliceView(bytes, at + cursor + 2, at + cursor + 2 + nameLength));
      cursor += 2 + nameLength;
      const valueLength = view.getUint32(cursor, true);
      if (cursor + 4 + valueLength > recordEnd) throw corrupt(baseOffset, 'header overruns its record');
      headers.push({ name, value: sliceView(bytes, at + cursor + 4, at + cursor + 4 + valueLength) });
      cursor += 4 + valueLength;
    }
    if (cursor > recordEnd) throw corrupt(baseOffset, 'record fields overrun');
    records[index] = {
      offset: baseOffset + index,
      timestampMs,
      key,
      value: sliceView(bytes, at + cursor, at + recordEnd),
      headers,
    };
    position = recordEnd;
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

/** A plain Uint8Array view (never a Buffer, whatever `bytes` is), so callers see one type. */
function sliceView(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

function corrupt(baseOffset: number, reason: string): FerryError {
  return new FerryError('CORRUPT_DATA', `batch at offset ${baseOffset}: ${reason}`);
}
