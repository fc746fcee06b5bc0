import { ByteReader } from '../../../lib/byte-reader.js';
import { ByteWriter } from '../../../lib/byte-writer.js';
import { isFerryError } from '../../../lib/ferry-error.js';
import { readHeaderTable, writeHeaderTable } from '../../../core/message/header-codec.js';
import type { HeaderTable } from '../../../core/routing/header-value.js';
import { ERROR_FIELDS, FRAME_HEADER_BYTES, FRAMES, FrameFlag, OFFSET_KINDS, type FieldSpec, type FieldType, type FrameName } from './native-spec.js';
import { malformed } from './native-protocol-error.js';
import type { RequestName, RequestOf, ResponseOf, WireAppendResult, WireDelivery, WireEntry, WireMessage, WireOffsetSpec } from './wire-types.js';

/**
 * Encodes and decodes frame payloads from the field lists of native-spec.ts.
 * Encoding sizes the frame first and writes it into one buffer; decoding
 * bounds-checks every length and count against the bytes present and
 * throws NATIVE_MALFORMED_FRAME on anything that does not fit, never
 * anything else.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const U32 = 0x1_0000_0000;

/** A growable buffer with a DataView, sized up front so most frames never grow. */
class FrameWriter {
  bytes: Uint8Array;
  view: DataView;
  at = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  ensure(extra: number): void {
    if (this.at + extra <= this.bytes.byteLength) return;
    let capacity = this.bytes.byteLength * 2;
    while (capacity < this.at + extra) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.bytes.subarray(0, this.at));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): void {
    this.ensure(1);
    this.bytes[this.at++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    this.view.setUint16(this.at, value, true);
    this.at += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.at, value, true);
    this.at += 4;
  }

  i32(value: number): void {
    this.ensure(4);
    this.view.setInt32(this.at, value, true);
    this.at += 4;
  }

  u64(value: number): void {
    this.ensure(8);
    this.view.setUint32(this.at, value % U32, true);
    this.view.setUint32(this.at + 4, Math.floor(value / U32), true);
    this.at += 8;
  }

  f64(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.at, value, true);
    this.at += 8;
  }

  raw(value: Uint8Array): void {
    this.ensure(value.byteLength);
    this.bytes.set(value, this.at);
    this.at += value.byteLength;
  }

  string(value: string): void {
    // Worst case three bytes per UTF-16 unit; the length is patched after encoding in place.
    this.ensure(2 + value.length * 3);
    const { read, written } = encoder.encodeInto(value, this.bytes.subarray(this.at + 2, this.at + 2 + Math.min(0xffff, value.length * 3)));
    if (read < value.length) throw new RangeError(`string of ${value.length} characters is longer than 65,535 bytes`);
    this.view.setUint16(this.at, written, true);
    this.at += 2 + written;
  }

  /** A message: routing key (u16 length), envelope and body (u32 lengths); one capacity check, no DataView call. */
  message(value: WireMessage): void {
    const { routingKey, envelope, body } = value;
    const keyBytes = routingKey.byteLength;
    if (keyBytes > 0xffff) throw new RangeError('routing key is longer than 65,535 bytes');
    this.ensure(10 + keyBytes + envelope.byteLength + body.byteLength);
    const bytes = this.bytes;
    let at = this.at;
    bytes[at] = keyBytes & 0xff;
    bytes[at + 1] = keyBytes >>> 8;
    at = copyInto(bytes, at + 2, routingKey);
    at = copyInto(bytes, putU32(bytes, at, envelope.byteLength), envelope);
    this.at = copyInto(bytes, putU32(bytes, at, body.byteLength), body);
  }
}

/** Below this many bytes a loop copies faster than TypedArray.set, whose call costs more than the copy. */
const COPY_LOOP_BYTES_MAX = 32;

/** Copies `source` into `target` at `at`; returns the offset after it. */
function copyInto(target: Uint8Array, at: number, source: Uint8Array): number {
  const length = source.byteLength;
  if (length <= COPY_LOOP_BYTES_MAX) {
    for (let index = 0; index < length; index++) target[at + index] = source[index]!;
  } else {
    target.set(source, at);
  }
  return at + length;
}

/** Writes `value` as a little-endian u32 at `at`; returns the offset after it. */
function putU32(target: Uint8Array, at: number, value: number): number {
  target[at] = value & 0xff;
  target[at + 1] = (value >>> 8) & 0xff;
  target[at + 2] = (value >>> 16) & 0xff;
  target[at + 3] = value >>> 24;
  return at + 4;
}

function writeField(writer: FrameWriter, type: FieldType, value: unknown): void {
  switch (type) {
    case 'u8':
      return writer.u8(value as number);
    case 'u16':
      return writer.u16(value as number);
    case 'u32':
      return writer.u32(value as number);
    case 'i32':
      return writer.i32(value as number);
    case 'u64':
      return writer.u64(value as number);
    case 'f64':
      return writer.f64(value as number);
    case 'bool':
      return writer.u8(value ? 1 : 0);
    case 'string':
      return writer.string(value as string);
    case 'bytes': {
      const bytes = value as Uint8Array;
      writer.u32(bytes.byteLength);
      return writer.raw(bytes);
    }
    case 'strings': {
      const list = value as readonly string[];
      writer.u16(list.length);
      for (const item of list) writer.string(item);
      return;
    }
    case 'u32s':
    case 'u64s':
    case 'f64s':
    case 'statuses': {
      const list = value as readonly number[];
      writer.u32(list.length);
      for (const item of list) {
        if (type === 'u32s') writer.u32(item);
        else if (type === 'u64s') writer.u64(item);
        else if (type === 'f64s') writer.f64(item);
        else writer.u8(item);
      }
      return;
    }
    case 'table': {
      const table = new ByteWriter();
      writeHeaderTable(table, value as HeaderTable);
      writer.u32(table.length);
      return writer.raw(table.finish());
    }
    case 'offsetSpec': {
      const spec = value as WireOffsetSpec;
      writer.u8(OFFSET_KINDS.indexOf(spec.kind));
      return writer.f64(spec.value);
    }
    case 'messages': {
      const list = value as readonly WireMessage[];
      writer.u32(list.length);
      for (const message of list) writer.message(message);
      return;
    }
    case 'deliveries': {
      const list = value as readonly WireDelivery[];
      writer.u32(list.length);
      for (const delivery of list) {
        writer.u64(delivery.deliveryTag);
        writer.u8(delivery.redelivered ? 1 : 0);
        writer.u32(delivery.deliveryCount);
        writer.f64(delivery.timestampMs);
        writer.message(delivery.message);
      }
      return;
    }
    case 'entries': {
      const list = value as readonly WireEntry[];
      writer.u32(list.length);
      for (const entry of list) {
        writer.u32(entry.partition);
        writer.u64(entry.offset);
        writer.f64(entry.timestampMs);
        writer.message(entry.message);
      }
      return;
    }
    case 'appendResults': {
      const list = value as readonly WireAppendResult[];
      writer.u32(list.length);
      for (const result of list) {
        writer.u32(result.partition);
        writer.u64(result.baseOffset);
        writer.u64(result.lastOffset);
        writer.u8(result.duplicate ? 1 : 0);
      }
      return;
    }
  }
}

/** Bytes a payload needs, exactly for binary fields and generously for strings: the writer then rarely grows. */
function estimate(fields: readonly FieldSpec[], values: Record<string, unknown>): number {
  let bytes = FRAME_HEADER_BYTES;
  for (const [name, type] of fields) {
    const value = values[name];
    switch (type) {
      case 'messages':
        bytes += 4;
        for (const message of value as readonly WireMessage[]) bytes += 10 + message.routingKey.byteLength + message.envelope.byteLength + message.body.byteLength;
        break;
      case 'deliveries':
        bytes += 4;
        for (const { message } of value as readonly WireDelivery[]) bytes += 31 + message.routingKey.byteLength + message.envelope.byteLength + message.body.byteLength;
        break;
      case 'entries':
        bytes += 4;
        for (const { message } of value as readonly WireEntry[]) bytes += 30 + message.routingKey.byteLength + message.envelope.byteLength + message.body.byteLength;
        break;
      case 'string':
        bytes += 2 + (value as string).length * 3;
        break;
      case 'bytes':
        bytes += 4 + (value as Uint8Array).byteLength;
        break;
      case 'u32s':
      case 'statuses':
        bytes += 4 + 4 * (value as readonly number[]).length;
        break;
      case 'u64s':
      case 'f64s':
        bytes += 4 + 8 * (value as readonly number[]).length;
        break;
      default:
        bytes += 16;
    }
  }
  return bytes;
}

/** Frames estimated at most this large are written into one reused buffer, then copied out at their exact size. */
const SCRATCH_BYTES = 4096;
let scratch = new FrameWriter(SCRATCH_BYTES);

/** Encodes one frame: header, then `values` laid out per `fields`. */
export function encodeFields(type: number, flags: number, channel: number, correlation: number, fields: readonly FieldSpec[], values: object): Uint8Array {
  const record = values as Record<string, unknown>;
  const estimated = estimate(fields, record);
  // Small frames (answers, acks, single messages) are most frames: one exactly sized copy from a
  // pooled slab costs less than a fresh buffer and view per frame. Encoding is synchronous, so one scratch will do.
  const small = estimated <= SCRATCH_BYTES;
  const writer = small ? scratch : new FrameWriter(estimated);
  writer.at = FRAME_HEADER_BYTES;
  for (const [name, fieldType] of fields) {
    const value = record[name];
    if (value === undefined) throw new TypeError(`field ${name} of frame type ${type} is missing`);
    writeField(writer, fieldType, value);
  }
  writer.view.setUint32(0, writer.at - 4, true);
  writer.bytes[4] = type;
  writer.bytes[5] = flags;
  writer.view.setUint16(6, channel, true);
  writer.view.setUint32(8, correlation, true);
  if (!small) return writer.bytes.subarray(0, writer.at);
  const size = writer.at;
  const pooled = Buffer.allocUnsafe(size);
  // A plain Uint8Array over the pooled bytes: callers may slice() it and expect a copy.
  const frame = new Uint8Array(pooled.buffer, pooled.byteOffset, size);
  frame.set(writer.bytes.subarray(0, size));
  if (writer.bytes.byteLength > SCRATCH_BYTES) scratch = new FrameWriter(SCRATCH_BYTES);
  return frame;
}

/** Encodes a request or push frame `name` (correlation 0: no answer wanted). */
export function encodeFrame<N extends FrameName>(name: N, channel: number, correlation: number, values: RequestOf<N>): Uint8Array {
  const spec = FRAMES[name];
  return encodeFields(spec.type, 0, channel, correlation, spec.fields, values);
}

/** Encodes the answer to request `name`. */
export function encodeResponse<N extends RequestName>(name: N, channel: number, correlation: number, values: ResponseOf<N>): Uint8Array {
  const spec = FRAMES[name];
  return encodeFields(spec.type, FrameFlag.RESPONSE, channel, correlation, spec.response as readonly FieldSpec[], values);
}

/** Encodes an error answer to a request of frame type `type`. */
export function encodeErrorResponse(type: number, channel: number, correlation: number, code: string, message: string): Uint8Array {
  return encodeFields(type, FrameFlag.RESPONSE | FrameFlag.ERROR, channel, correlation, ERROR_FIELDS, { code, message: truncate(message) });
}

/** Error texts are capped so an error answer always fits in a frame. */
function truncate(message: string): string {
  return message.length > 1000 ? `${message.slice(0, 1000)}…` : message;
}

/** Reads payloads; every read is bounds-checked and fails as NATIVE_MALFORMED_FRAME (also the client's bulk decoder's reader). */
export class PayloadReader {
  readonly view: DataView;
  at = 0;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Fails unless every byte was read. */
  end(): void {
    if (this.at !== this.bytes.byteLength) throw malformed(`${this.bytes.byteLength - this.at} bytes after the last field`);
  }

  remaining(): number {
    return this.bytes.byteLength - this.at;
  }

  need(count: number, what: string): void {
    if (this.at + count > this.bytes.byteLength) throw malformed(`frame payload ends inside ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.at++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = this.view.getUint16(this.at, true);
    this.at += 2;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }

  i32(what: string): number {
    this.need(4, what);
    const value = this.view.getInt32(this.at, true);
    this.at += 4;
    return value;
  }

  u64(what: string): number {
    this.need(8, what);
    const low = this.view.getUint32(this.at, true);
    const high = this.view.getUint32(this.at + 4, true);
    this.at += 8;
    if (high >= 0x20_0000) throw malformed(`${what} is larger than 2^53 - 1`);
    return high * U32 + low;
  }

  f64(what: string): number {
    this.need(8, what);
    const value = this.view.getFloat64(this.at, true);
    this.at += 8;
    return value;
  }

  raw(count: number, what: string): Uint8Array {
    this.need(count, what);
    const value = this.bytes.subarray(this.at, this.at + count);
    this.at += count;
    return value;
  }

  string(what: string): string {
    const bytes = this.raw(this.u16(what), what);
    try {
      return decoder.decode(bytes);
    } catch {
      throw malformed(`${what} is not valid UTF-8`);
    }
  }

  /** A list count, refused when the items could not possibly fit in what is left. */
  count(itemBytesMin: number, what: string): number {
    const count = this.u32(what);
    if (count * itemBytesMin > this.remaining()) throw malformed(`${what} announces ${count} items, more than the frame holds`);
    return count;
  }

  /** Steps over `count` bytes (bounds-checked like {@link raw}). */
  skip(count: number, what: string): void {
    this.need(count, what);
    this.at += count;
  }

  /** Steps over a `messages` field, checking that every message fits; its extent. */
  skipMessages(what: string): WireMessageRange {
    const count = this.count(10, what);
    const start = this.at;
    const { view } = this;
    const end = this.bytes.byteLength;
    // Lengths read in place (hot: a frame of thousands of messages): key, envelope, body.
    let at = start;
    for (let i = 0; i < count; i++) {
      if (at + 2 > end) throw malformed(`frame payload ends inside ${what}`);
      at += 2 + view.getUint16(at, true);
      if (at + 4 > end) throw malformed(`frame payload ends inside ${what}`);
      at += 4 + view.getUint32(at, true);
      if (at + 4 > end) throw malformed(`frame payload ends inside ${what}`);
      at += 4 + view.getUint32(at, true);
      if (at > end) throw malformed(`frame payload ends inside ${what}`);
    }
    this.at = at;
    return { start, end: at, count };
  }

  message(what: string): WireMessage {
    const routingKey = this.raw(this.u16(what), what);
    const envelope = this.raw(this.u32(what), what);
    const body = this.raw(this.u32(what), what);
    return { routingKey, envelope, body };
  }
}

function readField(reader: PayloadReader, type: FieldType, name: string): unknown {
  switch (type) {
    case 'u8':
      return reader.u8(name);
    case 'u16':
      return reader.u16(name);
    case 'u32':
      return reader.u32(name);
    case 'i32':
      return reader.i32(name);
    case 'u64':
      return reader.u64(name);
    case 'f64':
      return reader.f64(name);
    case 'bool': {
      const value = reader.u8(name);
      if (value > 1) throw malformed(`${name} is ${value}, not a boolean (0 or 1)`);
      return value === 1;
    }
    case 'string':
      return reader.string(name);
    case 'bytes':
      return reader.raw(reader.u32(name), name);
    case 'strings': {
      const count = reader.u16(name);
      if (count * 2 > reader.remaining()) throw malformed(`${name} announces ${count} strings, more than the frame holds`);
      const list: string[] = [];
      for (let i = 0; i < count; i++) list.push(reader.string(name));
      return list;
    }
    case 'u32s':
    case 'u64s':
    case 'f64s':
    case 'statuses': {
      const size = type === 'u32s' ? 4 : type === 'statuses' ? 1 : 8;
      const count = reader.count(size, name);
      const list: number[] = new Array(count);
      for (let i = 0; i < count; i++) {
        list[i] = type === 'u32s' ? reader.u32(name) : type === 'u64s' ? reader.u64(name) : type === 'f64s' ? reader.f64(name) : reader.u8(name);
      }
      return list;
    }
    case 'table': {
      const bytes = reader.raw(reader.u32(name), name);
      try {
        const tableReader = new ByteReader(bytes);
        const table = readHeaderTable(tableReader);
        if (tableReader.remaining() !== 0) throw malformed(`${name} has bytes after its table`);
        return table;
      } catch (error) {
        if (isFerryError(error, 'CORRUPT_DATA') || isFerryError(error, 'INVALID_ARGUMENT')) throw malformed(`${name} is not a valid table: ${error.message}`);
        throw error;
      }
    }
    case 'offsetSpec': {
      const kindIndex = reader.u8(name);
      const kind = OFFSET_KINDS[kindIndex];
      if (kind === undefined) throw malformed(`${name} has unknown offset kind ${kindIndex}`);
      const value = reader.f64(name);
      if (!Number.isFinite(value)) throw malformed(`${name} value is not a finite number`);
      return { kind, value } satisfies WireOffsetSpec;
    }
    case 'messages': {
      const count = reader.count(10, name);
      const list: WireMessage[] = new Array(count);
      for (let i = 0; i < count; i++) list[i] = reader.message(name);
      return list;
    }
    case 'deliveries': {
      const count = reader.count(31, name);
      const list: WireDelivery[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const deliveryTag = reader.u64(name);
        const flags = reader.u8(name);
        const deliveryCount = reader.u32(name);
        const timestampMs = reader.f64(name);
        list[i] = { deliveryTag, redelivered: (flags & 1) === 1, deliveryCount, timestampMs, message: reader.message(name) };
      }
      return list;
    }
    case 'entries': {
      const count = reader.count(30, name);
      const list: WireEntry[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const partition = reader.u32(name);
        const offset = reader.u64(name);
        const timestampMs = reader.f64(name);
        list[i] = { partition, offset, timestampMs, message: reader.message(name) };
      }
      return list;
    }
    case 'appendResults': {
      const count = reader.count(21, name);
      const list: WireAppendResult[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const partition = reader.u32(name);
        const baseOffset = reader.u64(name);
        const lastOffset = reader.u64(name);
        const duplicate = reader.u8(name) === 1;
        list[i] = { partition, baseOffset, lastOffset, duplicate };
      }
      return list;
    }
  }
}

/** Decodes a payload laid out per `fields`; NATIVE_MALFORMED_FRAME when it does not fit exactly. */
export function decodeFields(fields: readonly FieldSpec[], payload: Uint8Array): Record<string, unknown> {
  const reader = new PayloadReader(payload);
  const values: Record<string, unknown> = {};
  for (const [name, type] of fields) values[name] = readField(reader, type, name);
  reader.end();
  return values;
}

/**
 * The messages of a payload's `messages` field, left in place: they lie at
 * `payload[start, end)` (after the field's count), laid out as on the wire.
 */
export interface WireMessageRange {
  readonly start: number;
  readonly end: number;
  readonly count: number;
}

/** A request whose last field is a `messages` list: the other fields, decoded, and where the messages lie. */
export interface FrameHead<N extends FrameName> {
  readonly fields: Omit<RequestOf<N>, 'messages'>;
  readonly messages: WireMessageRange;
}

/**
 * Decodes frame `name`, whose last field is `messages`, without building the
 * messages: a handler then reads them in place (the `append` fast path).
 * Fails exactly as {@link decodeFrame} does on a payload that does not fit.
 */
export function decodeFrameHead<N extends FrameName>(name: N, payload: Uint8Array): FrameHead<N> {
  const fields = FRAMES[name].fields as readonly FieldSpec[];
  const last = fields.length - 1;
  if (last < 0 || fields[last]![1] !== 'messages') throw new TypeError(`frame ${name} does not end with a messages field`);
  const reader = new PayloadReader(payload);
  const values: Record<string, unknown> = {};
  for (let index = 0; index < last; index++) values[fields[index]![0]] = readField(reader, fields[index]![1], fields[index]![0]);
  const messages = reader.skipMessages(fields[last]![0]);
  reader.end();
  return { fields: values as unknown as Omit<RequestOf<N>, 'messages'>, messages };
}

/** The messages of a range from {@link decodeFrameHead}, as {@link decodeFrame} gives them. */
export function decodeMessageRange(payload: Uint8Array, range: WireMessageRange): WireMessage[] {
  const reader = new PayloadReader(payload.subarray(0, range.end));
  reader.at = range.start;
  const list: WireMessage[] = new Array(range.count);
  for (let i = 0; i < range.count; i++) list[i] = reader.message('messages');
  return list;
}

/** Decodes the payload of frame `name` as sent (request or push). */
export function decodeFrame<N extends FrameName>(name: N, payload: Uint8Array): RequestOf<N> {
  return decodeFields(FRAMES[name].fields, payload) as RequestOf<N>;
}

/** Decodes the answer to request `name`. */
export function decodeResponse<N extends RequestName>(name: N, payload: Uint8Array): ResponseOf<N> {
  return decodeFields(FRAMES[name].response as readonly FieldSpec[], payload) as ResponseOf<N>;
}

/** Decodes an error answer (or CLOSE / CHANNEL_CLOSED). */
export function decodeError(payload: Uint8Array): { readonly code: string; readonly message: string } {
  return decodeFields(ERROR_FIELDS, payload) as { code: string; message: string };
}
