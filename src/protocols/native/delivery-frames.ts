import { encodeMessage, encodeRoutingKey, MESSAGE_ENVELOPE_HEADER } from '../../core/message/message-codec.js';
import type { RecordCursor, StoredRecord } from '../../core/ports.js';
import type { Delivery } from '../../core/queue/delivery.js';
import type { StreamEntry } from '../../core/stream/stream.js';
import { FRAME_HEADER_BYTES } from './codec/index.js';

/**
 * Hand-written encoders of the frames that carry messages to clients:
 * `deliver` (queue deliveries), `streamDeliver` (stream entries) and the
 * answers of `pull` and `streamRead`. They write the same bytes as the
 * table-driven codec (a test checks it) but straight from the core's objects:
 * no WireDelivery per message, one exactly sized buffer per frame, and stream
 * entries forwarded from their stored record (key, envelope, body) without
 * decoding the message.
 *
 *   delivery: u64 deliveryTag | u8 flags | u32 deliveryCount | f64 timestampMs | message
 *   entry:    u32 partition | u64 offset | f64 timestampMs | message
 *   message:  u16 keyLength | key | u32 envelopeLength | envelope | u32 bodyLength | body
 */

const U32 = 0x1_0000_0000;
const EMPTY = new Uint8Array(0);
/** Bytes of a delivery besides key, envelope and body. */
const DELIVERY_FIXED_BYTES = 8 + 1 + 4 + 8 + 2 + 4 + 4;
/** Bytes of an entry besides key, envelope and body. */
const ENTRY_FIXED_BYTES = 4 + 8 + 8 + 2 + 4 + 4;

/**
 * Where a frame goes and what it is. `prefix` is a u32 field before the list
 * (consumer or subscription id), or null; `suffix` gives a u64 field after it
 * (a `streamRead` answer's next offset) from the index after the last item encoded.
 */
export interface FrameTarget {
  readonly type: number;
  readonly flags: number;
  readonly channel: number;
  readonly correlation: number;
  readonly prefix: number | null;
  readonly suffix?: (end: number) => number;
}

// Scratch space reused by every call (encoding is synchronous): keys and envelopes of the frame being built.
let scratchKeys: Uint8Array[] = [];
let scratchEnvelopes: Uint8Array[] = [];

function writeHeader(view: DataView, bytes: Uint8Array, size: number, target: FrameTarget, count: number): number {
  view.setUint32(0, size - 4, true);
  bytes[4] = target.type;
  bytes[5] = target.flags;
  view.setUint16(6, target.channel, true);
  view.setUint32(8, target.correlation, true);
  let at = FRAME_HEADER_BYTES;
  if (target.prefix !== null) {
    view.setUint32(at, target.prefix, true);
    at += 4;
  }
  view.setUint32(at, count, true);
  return at + 4;
}

function writeU64(view: DataView, at: number, value: number): void {
  const low = value >>> 0;
  view.setUint32(at, low, true);
  view.setUint32(at + 4, (value - low) / U32, true);
}

function writeMessage(bytes: Uint8Array, view: DataView, at: number, key: Uint8Array, envelope: Uint8Array, body: Uint8Array): number {
  view.setUint16(at, key.byteLength, true);
  at += 2;
  if (key.byteLength > 0) bytes.set(key, at);
  at += key.byteLength;
  view.setUint32(at, envelope.byteLength, true);
  at += 4;
  bytes.set(envelope, at);
  at += envelope.byteLength;
  view.setUint32(at, body.byteLength, true);
  at += 4;
  if (body.byteLength > 0) bytes.set(body, at);
  return at + body.byteLength;
}

/**
 * Encodes queue deliveries `deliveries[from..to)` with their channel tags as
 * frames of at most `frameBytesMax` bytes (a single delivery larger than that
 * still goes alone), pushing them to `out`. Returns the index after the last
 * one encoded: `to`, unless `single` asks for one frame only (an answer).
 */
export function encodeDeliveries(
  target: FrameTarget,
  tags: readonly number[],
  deliveries: readonly Delivery[],
  from: number,
  to: number,
  frameBytesMax: number,
  out: Uint8Array[],
  single = false,
): number {
  const headBytes = FRAME_HEADER_BYTES + (target.prefix === null ? 0 : 4) + 4;
  let start = from;
  while (start < to || (start === from && from === to)) {
    let size = headBytes;
    let end = start;
    for (; end < to; end++) {
      const record = encodeMessage(deliveries[end]!.message);
      const key = encodeRoutingKey(deliveries[end]!.message.routingKey);
      const envelope = record.headers![0]!.value;
      const itemBytes = DELIVERY_FIXED_BYTES + key.byteLength + envelope.byteLength + record.value.byteLength;
      if (end > start && size + itemBytes > frameBytesMax) break;
      scratchKeys[end - start] = key;
      scratchEnvelopes[end - start] = envelope;
      size += itemBytes;
    }
    const bytes = new Uint8Array(size);
    const view = new DataView(bytes.buffer);
    let at = writeHeader(view, bytes, size, target, end - start);
    for (let index = start; index < end; index++) {
      const delivery = deliveries[index]!;
      writeU64(view, at, tags[index]!);
      bytes[at + 8] = delivery.redelivered ? 1 : 0;
      view.setUint32(at + 9, delivery.deliveryCount, true);
      view.setFloat64(at + 13, delivery.message.arrivedAtMs, true);
      at = writeMessage(bytes, view, at + 21, scratchKeys[index - start]!, scratchEnvelopes[index - start]!, delivery.message.body);
    }
    out.push(bytes);
    releaseScratch(end - start);
    if (single || end === to) return end;
    start = end;
  }
  return to;
}

/** The envelope of a stored message record (its header "m"). */
function envelopeOf(record: StoredRecord): Uint8Array {
  const headers = record.headers;
  if (headers.length > 0 && headers[0]!.name === MESSAGE_ENVELOPE_HEADER) return headers[0]!.value;
  for (const header of headers) if (header.name === MESSAGE_ENVELOPE_HEADER) return header.value;
  return EMPTY;
}

/**
 * Encodes stream entries `entries[from..to)` from their stored records as
 * frames of at most `frameBytesMax` bytes (one larger entry goes alone),
 * pushing them to `out`. Returns the index after the last one encoded: `to`,
 * unless `single` asks for one frame only (an answer).
 */
export function encodeEntries(target: FrameTarget, entries: readonly StreamEntry[], from: number, to: number, frameBytesMax: number, out: Uint8Array[], single = false): number {
  const headBytes = FRAME_HEADER_BYTES + (target.prefix === null ? 0 : 4) + 4 + (target.suffix === undefined ? 0 : 8);
  let start = from;
  while (start < to || (start === from && from === to)) {
    let size = headBytes;
    let end = start;
    for (; end < to; end++) {
      const record = entries[end]!.record;
      const itemBytes = ENTRY_FIXED_BYTES + (record.key?.byteLength ?? 0) + envelopeOf(record).byteLength + record.value.byteLength;
      if (end > start && size + itemBytes > frameBytesMax) break;
      size += itemBytes;
    }
    const bytes = new Uint8Array(size);
    const view = new DataView(bytes.buffer);
    let at = writeHeader(view, bytes, size, target, end - start);
    for (let index = start; index < end; index++) {
      const entry = entries[index]!;
      const record = entry.record;
      view.setUint32(at, entry.partition, true);
      writeU64(view, at + 4, record.offset);
      view.setFloat64(at + 12, record.timestampMs, true);
      at = writeMessage(bytes, view, at + 20, record.key ?? EMPTY, envelopeOf(record), record.value);
    }
    if (target.suffix !== undefined) writeU64(view, at, target.suffix(end));
    out.push(bytes);
    if (single || end === to) return end;
    start = end;
  }
  return to;
}

/** Up to this many bytes, a loop copies faster than a call to copyWithin. */
const SHORT_COPY_BYTES_MAX = 32;
/** The UTF-8 name of the record header that holds a stored message's envelope. */
const ENVELOPE_HEADER_NAME = new TextEncoder().encode(MESSAGE_ENVELOPE_HEADER);
/**
 * The largest `streamDeliver` frame built in the scratch buffer (a larger entry
 * goes alone, built apart): small enough that the allocator reuses the memory
 * of frames (fresh megabyte buffers cost page faults) and the socket starts on
 * the first frame of a read while the rest are encoded, large enough that the
 * frame overhead does not count.
 */
const SCRATCH_FRAME_BYTES = 128 * 1024;
/** How many stored bytes are copied into the scratch buffer at a time. */
const SCRATCH_RECORDS_BYTES = 256 * 1024;

/**
 * The scratch buffer of {@link encodeCursorEntries}, one for every call
 * (encoding is synchronous): the frame being built, then a copy of the
 * stored records it is built from. With both in one buffer, each key,
 * envelope and body moves into the frame by `copyWithin`, without a view
 * per record; the finished frame is copied out at its exact size.
 *
 *   0                          SCRATCH_FRAME_BYTES              + SCRATCH_RECORDS_BYTES
 *   +--------------------------+--------------------------------+
 *   | frame: header | entry |… | stored records (a run of batch) |
 *   +--------------------------+--------------------------------+
 *             ^ copyWithin ────────┘
 */
let scratch: { readonly bytes: Uint8Array; readonly view: DataView } | null = null;

/**
 * Encodes every record of `cursor` (stored messages of stream partition
 * `partition`) as entries of frames of at most `frameBytesMax` bytes and at
 * most 128 KiB (one larger entry goes alone), pushing them to `out`; returns
 * how many it encoded. Nothing is decoded and nothing is made per record: the
 * key, envelope and body are copied from the stored bytes into the frame.
 */
export function encodeCursorEntries(target: FrameTarget, partition: number, cursor: RecordCursor, frameBytesMax: number, out: Uint8Array[]): number {
  scratch ??= (() => {
    const bytes = new Uint8Array(SCRATCH_FRAME_BYTES + SCRATCH_RECORDS_BYTES);
    return { bytes, view: new DataView(bytes.buffer) };
  })();
  const { bytes: buffer, view } = scratch;
  const frameBytes = Math.min(frameBytesMax, SCRATCH_FRAME_BYTES);
  const headBytes = FRAME_HEADER_BYTES + (target.prefix === null ? 0 : 4) + 4;
  let at = headBytes;
  let count = 0;
  let total = 0;
  // The stored bytes now in the scratch buffer: [copiedStart, copiedEnd) of `copied`.
  let copied: Uint8Array | null = null;
  let copiedStart = 0;
  let copiedEnd = 0;
  while (cursor.next()) {
    const bytes = cursor.bytes;
    const keyStart = cursor.keyStart;
    const keyLength = cursor.keyLength > 0 ? cursor.keyLength : 0;
    let envelopeStart = 0;
    let envelopeLength = 0;
    if (cursor.findHeader(ENVELOPE_HEADER_NAME)) {
      envelopeStart = cursor.headerValueStart;
      envelopeLength = cursor.headerValueEnd - envelopeStart;
    }
    const valueStart = cursor.valueStart;
    const valueEnd = cursor.valueEnd;
    const itemBytes = ENTRY_FIXED_BYTES + keyLength + envelopeLength + (valueEnd - valueStart);
    // Key, headers and value lie in order within [keyStart, valueEnd).
    const alone = headBytes + itemBytes > frameBytes || valueEnd - keyStart > SCRATCH_RECORDS_BYTES;
    if (count > 0 && (alone || at + itemBytes > frameBytes)) {
      out.push(copyFrameOut(buffer, view, at, target, count));
      at = headBytes;
      count = 0;
    }
    total++;
    if (alone) {
      out.push(encodeEntryAlone(target, partition, cursor, keyLength, envelopeStart, envelopeLength, itemBytes));
      continue;
    }
    if (bytes !== copied || keyStart < copiedStart || valueEnd > copiedEnd) {
      copied = bytes;
      copiedStart = keyStart;
      copiedEnd = Math.min(bytes.byteLength, keyStart + SCRATCH_RECORDS_BYTES);
      buffer.set(bytes.subarray(copiedStart, copiedEnd), SCRATCH_FRAME_BYTES);
    }
    const shift = SCRATCH_FRAME_BYTES - copiedStart;
    view.setUint32(at, partition, true);
    writeU64(view, at + 4, cursor.offset);
    view.setFloat64(at + 12, cursor.timestampMs, true);
    view.setUint16(at + 20, keyLength, true);
    at = moveWithin(buffer, at + 22, keyStart + shift, keyLength);
    view.setUint32(at, envelopeLength, true);
    at = moveWithin(buffer, at + 4, envelopeStart + shift, envelopeLength);
    view.setUint32(at, valueEnd - valueStart, true);
    at = moveWithin(buffer, at + 4, valueStart + shift, valueEnd - valueStart);
    count++;
  }
  if (count > 0) out.push(copyFrameOut(buffer, view, at, target, count));
  return total;
}

/** Copies `length` bytes of `buffer` from `from` to `to` (ranges apart); returns the end of the copy. */
function moveWithin(buffer: Uint8Array, to: number, from: number, length: number): number {
  if (length <= SHORT_COPY_BYTES_MAX) {
    for (let i = 0; i < length; i++) buffer[to + i] = buffer[from + i]!;
  } else {
    buffer.copyWithin(to, from, from + length);
  }
  return to + length;
}

/** Writes the header of the frame built in the scratch buffer up to `size`, and returns a copy of it. */
function copyFrameOut(buffer: Uint8Array, view: DataView, size: number, target: FrameTarget, count: number): Uint8Array {
  writeHeader(view, buffer, size, target, count);
  // Unzeroed: every byte is overwritten by the copy.
  const frame = Buffer.allocUnsafe(size) as Uint8Array;
  frame.set(buffer.subarray(0, size));
  return frame;
}

/** The cursor's record, too large for the scratch buffer, as a frame of its own. */
function encodeEntryAlone(target: FrameTarget, partition: number, cursor: RecordCursor, keyLength: number, envelopeStart: number, envelopeLength: number, itemBytes: number): Uint8Array {
  const headBytes = FRAME_HEADER_BYTES + (target.prefix === null ? 0 : 4) + 4;
  const bytes = cursor.bytes;
  const frame = new Uint8Array(headBytes + itemBytes);
  const view = new DataView(frame.buffer);
  const at = writeHeader(view, frame, frame.byteLength, target, 1);
  view.setUint32(at, partition, true);
  writeU64(view, at + 4, cursor.offset);
  view.setFloat64(at + 12, cursor.timestampMs, true);
  writeMessage(
    frame,
    view,
    at + 20,
    bytes.subarray(cursor.keyStart, cursor.keyStart + keyLength),
    bytes.subarray(envelopeStart, envelopeStart + envelopeLength),
    bytes.subarray(cursor.valueStart, cursor.valueEnd),
  );
  return frame;
}

/** Drops references to the message bytes of the frame just written (the first `count` slots). */
function releaseScratch(count: number): void {
  if (scratchKeys.length > 65_536) {
    scratchKeys = [];
    scratchEnvelopes = [];
    return;
  }
  scratchKeys.fill(EMPTY, 0, count);
  scratchEnvelopes.fill(EMPTY, 0, count);
}
