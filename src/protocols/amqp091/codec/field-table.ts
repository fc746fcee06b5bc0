import type { HeaderTable, HeaderValue } from '../../../core/routing/header-value.js';
import { FerryError } from '../../../lib/ferry-error.js';
import { WireReader, decodeUtf8OrUndefined } from './wire-reader.js';
import { WireWriter, describe, sharedWriter } from './wire-writer.js';

/**
 * AMQP field tables and field arrays with RabbitMQ's type tags (AMQP 0-9-1
 * §4.2.5.5 as corrected by RabbitMQ's errata, which is what every RabbitMQ
 * client speaks):
 *
 *   tag  type        wire value                     tag  type       wire value
 *   t    boolean     octet, 0 = false               f    float      IEEE 754 single
 *   b    int8        signed octet                   d    double     IEEE 754 double
 *   B    uint8       octet                          D    decimal    scale octet, uint32 value
 *   s    int16       signed short                   S    longstr    uint32 length, bytes
 *   u    uint16      short                          A    array      uint32 byte length, values
 *   I    int32       signed long                    T    timestamp  uint64 seconds
 *   i    uint32      long                           F    table      uint32 byte length, entries
 *   l    int64       signed longlong                V    void       nothing
 *   x    bytes       uint32 length, bytes
 *
 * A table is its byte length (long) then entries, each a shortstr name, a tag
 * octet and the value; an array is its byte length then tagged values. All
 * numbers are big-endian.
 *
 * `FieldValue` keeps the wire type of every value, so decoding then encoding
 * gives back the same bytes (except NaN payload bits of floats, and repeated
 * table names: a table keeps the first value of a name, as RabbitMQ's lookups
 * do). For the protocol-neutral core, `fieldTableToHeaderTable` and
 * `headerTableToFieldTable` convert to and from `HeaderTable` (see their docs
 * for the mapping).
 */
export type FieldValue =
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float' | 'double'; readonly value: number }
  | { readonly type: 'int64'; readonly value: bigint }
  /** Seconds since the epoch, unsigned. */
  | { readonly type: 'timestamp'; readonly value: bigint }
  /** The number `value / 10^scale`. */
  | { readonly type: 'decimal'; readonly scale: number; readonly value: number }
  /** A long string; its bytes need not be UTF-8. */
  | { readonly type: 'longstr'; readonly value: Uint8Array }
  | { readonly type: 'bytes'; readonly value: Uint8Array }
  | { readonly type: 'array'; readonly value: readonly FieldValue[] }
  | { readonly type: 'table'; readonly value: FieldTable }
  | { readonly type: 'void' };

/** A decoded field table: names to typed values, in wire order. */
export type FieldTable = ReadonlyMap<string, FieldValue>;

/** The `type` of a FieldValue. */
export type FieldValueType = FieldValue['type'];

/** Wire tag of each value type (RabbitMQ's, see above). */
export const FIELD_VALUE_TAGS: Readonly<Record<FieldValueType, string>> = {
  boolean: 't',
  int8: 'b',
  uint8: 'B',
  int16: 's',
  uint16: 'u',
  int32: 'I',
  uint32: 'i',
  int64: 'l',
  float: 'f',
  double: 'd',
  decimal: 'D',
  longstr: 'S',
  array: 'A',
  timestamp: 'T',
  table: 'F',
  void: 'V',
  bytes: 'x',
};

const TYPES_BY_TAG = new Map<number, FieldValueType>(
  Object.entries(FIELD_VALUE_TAGS).map(([type, tag]) => [tag.charCodeAt(0), type as FieldValueType]),
);

/**
 * Tables and arrays may nest this deep. Without a limit a frame of nested
 * arrays (5 bytes a level) would overflow the stack; RabbitMQ clients never
 * come near it.
 */
export const FIELD_NESTING_DEPTH_MAX = 64;

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const TWO_TO_THE_63 = 2 ** 63;

// ---------------------------------------------------------------- decoding

/** The table every empty one decodes to: a FieldTable is read-only, so one instance serves all. */
const EMPTY_FIELD_TABLE: FieldTable = new Map<string, FieldValue>();

/** Reads a field table (length-prefixed) at the reader's position. */
export function readFieldTable(reader: WireReader, depth = 0): FieldTable {
  if (depth > FIELD_NESTING_DEPTH_MAX) reader.syntaxError(`field tables and arrays nest deeper than ${FIELD_NESTING_DEPTH_MAX} levels`);
  const byteLength = reader.u32('field table length');
  if (byteLength > reader.remaining()) reader.frameError(`field table of ${byteLength} bytes overruns its frame (${reader.remaining()} bytes left)`);
  // Clients send empty tables all the time (amqplib: the headers of every publish): share one.
  if (byteLength === 0) return EMPTY_FIELD_TABLE;
  const outerEnd = reader.end;
  const end = reader.offset + byteLength;
  reader.end = end;
  const table = new Map<string, FieldValue>();
  while (reader.offset < end) {
    const name = reader.shortstr('field table name');
    const value = readFieldValue(reader, depth);
    // Keep the first of repeated names, as RabbitMQ's table lookups do.
    if (!table.has(name)) table.set(name, value);
  }
  reader.end = outerEnd;
  return table;
}

/** Reads a field array (length-prefixed) at the reader's position. */
export function readFieldArray(reader: WireReader, depth = 0): FieldValue[] {
  if (depth > FIELD_NESTING_DEPTH_MAX) reader.syntaxError(`field tables and arrays nest deeper than ${FIELD_NESTING_DEPTH_MAX} levels`);
  const byteLength = reader.u32('field array length');
  if (byteLength > reader.remaining()) reader.frameError(`field array of ${byteLength} bytes overruns its frame (${reader.remaining()} bytes left)`);
  const outerEnd = reader.end;
  const end = reader.offset + byteLength;
  reader.end = end;
  const values: FieldValue[] = [];
  while (reader.offset < end) values.push(readFieldValue(reader, depth));
  reader.end = outerEnd;
  return values;
}

/** Reads one tagged value. */
export function readFieldValue(reader: WireReader, depth = 0): FieldValue {
  const tag = reader.u8('field value type');
  const type = TYPES_BY_TAG.get(tag);
  switch (type) {
    case 'boolean':
      // Any non-zero octet is true, as RabbitMQ reads it; true re-encodes as 1.
      return { type, value: reader.u8('boolean') !== 0 };
    case 'int8':
      return { type, value: reader.i8() };
    case 'uint8':
      return { type, value: reader.u8('uint8') };
    case 'int16':
      return { type, value: reader.i16() };
    case 'uint16':
      return { type, value: reader.u16('uint16') };
    case 'int32':
      return { type, value: reader.i32() };
    case 'uint32':
      return { type, value: reader.u32('uint32') };
    case 'int64':
      return { type, value: reader.i64() };
    case 'float':
      return { type, value: reader.f32() };
    case 'double':
      return { type, value: reader.f64() };
    case 'decimal': {
      const scale = reader.u8('decimal scale');
      return { type, scale, value: reader.u32('decimal value') };
    }
    case 'longstr':
      return { type, value: reader.longstr('long string value') };
    case 'bytes':
      return { type, value: reader.longstr('byte array value') };
    case 'timestamp':
      return { type, value: reader.u64Big('timestamp') };
    case 'array':
      return { type, value: readFieldArray(reader, depth + 1) };
    case 'table':
      return { type, value: readFieldTable(reader, depth + 1) };
    case 'void':
      return { type };
    case undefined:
      return reader.syntaxError(`unknown field value type 0x${tag.toString(16).padStart(2, '0')}${printable(tag)}`);
  }
}

function printable(tag: number): string {
  return tag >= 0x21 && tag <= 0x7e ? ` ('${String.fromCharCode(tag)}')` : '';
}

/**
 * Decodes a whole encoded field table (its length prefix included; nothing may
 * follow it). Throws AmqpProtocolError (501 or 502) on malformed input.
 */
export function decodeFieldTable(bytes: Uint8Array): FieldTable {
  const reader = new WireReader(bytes);
  const table = readFieldTable(reader);
  if (reader.remaining() !== 0) reader.frameError(`${reader.remaining()} bytes follow the field table`);
  return table;
}

/** Decodes a whole encoded field array, like `decodeFieldTable`. */
export function decodeFieldArray(bytes: Uint8Array): FieldValue[] {
  const reader = new WireReader(bytes);
  const values = readFieldArray(reader);
  if (reader.remaining() !== 0) reader.frameError(`${reader.remaining()} bytes follow the field array`);
  return values;
}

// ---------------------------------------------------------------- encoding

/**
 * Writes a field table: a typed `FieldTable` exactly as typed, or a neutral
 * `HeaderTable` with the types `headerValueToFieldValue` picks.
 * Throws INVALID_ARGUMENT for a value that does not fit its type, a name over
 * 255 bytes, or nesting deeper than FIELD_NESTING_DEPTH_MAX.
 */
export function writeFieldTable(writer: WireWriter, table: FieldTable | HeaderTable, depth = 0, what = 'field table'): void {
  if (depth > FIELD_NESTING_DEPTH_MAX) throw new FerryError('INVALID_ARGUMENT', `${what}: tables and arrays nest deeper than ${FIELD_NESTING_DEPTH_MAX} levels (or contain a cycle)`);
  const lengthAt = writer.reserveU32();
  const start = writer.length;
  if (table instanceof Map) {
    for (const [name, value] of table as FieldTable) {
      writer.shortstr(name, `${what} name "${name}"`);
      writeFieldValue(writer, value, depth, `${what}["${name}"]`);
    }
  } else {
    if (typeof table !== 'object' || table === null || Array.isArray(table) || table instanceof Uint8Array) {
      throw new FerryError('INVALID_ARGUMENT', `${what}: expected a table, got ${describe(table)}`);
    }
    for (const name of Object.keys(table)) {
      writer.shortstr(name, `${what} name "${name}"`);
      writeHeaderValue(writer, (table as HeaderTable)[name]!, depth, `${what}["${name}"]`);
    }
  }
  writer.patchU32(lengthAt, writer.length - start);
}

/** Writes a field array of typed values. */
export function writeFieldArray(writer: WireWriter, values: readonly FieldValue[], depth = 0, what = 'field array'): void {
  if (depth > FIELD_NESTING_DEPTH_MAX) throw new FerryError('INVALID_ARGUMENT', `${what}: tables and arrays nest deeper than ${FIELD_NESTING_DEPTH_MAX} levels`);
  const lengthAt = writer.reserveU32();
  const start = writer.length;
  values.forEach((value, index) => writeFieldValue(writer, value, depth, `${what}[${index}]`));
  writer.patchU32(lengthAt, writer.length - start);
}

function tag(writer: WireWriter, type: FieldValueType): void {
  writer.u8(FIELD_VALUE_TAGS[type].charCodeAt(0));
}

/** Writes one typed value with its tag. */
export function writeFieldValue(writer: WireWriter, field: FieldValue, depth = 0, what = 'field value'): void {
  if (typeof field !== 'object' || field === null || typeof (field as { type?: unknown }).type !== 'string' || !(field.type in FIELD_VALUE_TAGS)) {
    throw new FerryError('INVALID_ARGUMENT', `${what}: expected a typed field value ({ type, value }), got ${describe(field)}`);
  }
  tag(writer, field.type);
  const raw = (field as { readonly value?: unknown }).value;
  switch (field.type) {
    case 'boolean':
      if (typeof field.value !== 'boolean') throw new FerryError('INVALID_ARGUMENT', `${what}: expected a boolean, got ${describe(raw)}`);
      return writer.u8(field.value ? 1 : 0);
    case 'int8':
      return writer.i8(field.value, what);
    case 'uint8':
      return writer.u8(field.value, what);
    case 'int16':
      return writer.i16(field.value, what);
    case 'uint16':
      return writer.u16(field.value, what);
    case 'int32':
      return writer.i32(field.value, what);
    case 'uint32':
      return writer.u32(field.value, what);
    case 'int64':
      return writer.i64(field.value, what);
    case 'float':
      return writer.f32(field.value, what);
    case 'double':
      return writer.f64(field.value, what);
    case 'decimal':
      writer.u8(field.scale, `${what} scale`);
      return writer.u32(field.value, what);
    case 'longstr':
    case 'bytes':
      if (!(field.value instanceof Uint8Array)) throw new FerryError('INVALID_ARGUMENT', `${what}: expected bytes, got ${describe(raw)}`);
      return writer.longstr(field.value, what);
    case 'timestamp':
      return writer.u64Big(field.value, what);
    case 'array':
      if (!Array.isArray(field.value)) throw new FerryError('INVALID_ARGUMENT', `${what}: expected an array, got ${describe(raw)}`);
      return writeFieldArray(writer, field.value, depth + 1, what);
    case 'table':
      if (!(field.value instanceof Map)) throw new FerryError('INVALID_ARGUMENT', `${what}: expected a Map, got ${describe(raw)}`);
      return writeFieldTable(writer, field.value, depth + 1, what);
    case 'void':
      return;
  }
}

/** Writes a neutral value with the type `headerValueToFieldValue` would pick, without building it. */
function writeHeaderValue(writer: WireWriter, value: HeaderValue, depth: number, what: string): void {
  if (value === null) return tag(writer, 'void');
  switch (typeof value) {
    case 'boolean':
      tag(writer, 'boolean');
      return writer.u8(value ? 1 : 0);
    case 'string':
      tag(writer, 'longstr');
      return writer.longstr(value, what);
    case 'number':
      if (Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) {
        tag(writer, 'int32');
        return writer.i32(value, what);
      }
      if (Number.isInteger(value) && Math.abs(value) < TWO_TO_THE_63) {
        tag(writer, 'int64');
        return writer.i64(BigInt(value), what);
      }
      tag(writer, 'double');
      return writer.f64(value, what);
    case 'bigint':
      tag(writer, 'int64');
      return writer.i64(value, what);
    default:
      break;
  }
  if (value instanceof Uint8Array) {
    tag(writer, 'bytes');
    return writer.longstr(value, what);
  }
  if (depth + 1 > FIELD_NESTING_DEPTH_MAX) throw new FerryError('INVALID_ARGUMENT', `${what}: tables and arrays nest deeper than ${FIELD_NESTING_DEPTH_MAX} levels (or contain a cycle)`);
  if (Array.isArray(value)) {
    tag(writer, 'array');
    const lengthAt = writer.reserveU32();
    const start = writer.length;
    (value as readonly HeaderValue[]).forEach((item, index) => writeHeaderValue(writer, item, depth + 1, `${what}[${index}]`));
    writer.patchU32(lengthAt, writer.length - start);
    return;
  }
  if (typeof value !== 'object') throw new FerryError('INVALID_ARGUMENT', `${what}: ${typeof value} is not a header value`);
  tag(writer, 'table');
  writeFieldTable(writer, value as HeaderTable, depth + 1, what);
}

/** Encodes a field table (typed or neutral) with its length prefix. */
export function encodeFieldTable(table: FieldTable | HeaderTable): Uint8Array {
  sharedWriter.reset();
  writeFieldTable(sharedWriter, table);
  return sharedWriter.finish();
}

/** Encodes a field array of typed values with its length prefix. */
export function encodeFieldArray(values: readonly FieldValue[]): Uint8Array {
  sharedWriter.reset();
  writeFieldArray(sharedWriter, values);
  return sharedWriter.finish();
}

// ---------------------------------------------------------------- neutral values

/**
 * A typed field value as the protocol-neutral core sees it:
 *
 * - boolean → boolean; void → null; table → table; array → array
 * - int8, uint8, int16, uint16, int32, uint32, float, double → number
 * - int64 → number when it is a safe integer, bigint otherwise
 * - timestamp → number of seconds since the epoch (bigint beyond 2^53)
 * - decimal → the number value / 10^scale (nearest double)
 * - longstr → string when its bytes are valid UTF-8, Uint8Array otherwise
 * - bytes → Uint8Array
 */
export function fieldValueToHeaderValue(field: FieldValue): HeaderValue {
  switch (field.type) {
    case 'boolean':
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'float':
    case 'double':
      return field.value;
    case 'int64':
    case 'timestamp':
      return bigintToNumberWhenSafe(field.value);
    case 'decimal':
      return field.value / 10 ** field.scale;
    case 'longstr':
      return decodeUtf8OrUndefined(field.value) ?? field.value;
    case 'bytes':
      return field.value;
    case 'array':
      return field.value.map(fieldValueToHeaderValue);
    case 'table':
      return fieldTableToHeaderTable(field.value);
    case 'void':
      return null;
  }
}

function bigintToNumberWhenSafe(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** A typed field table as a neutral header table (values as `fieldValueToHeaderValue` maps them). */
export function fieldTableToHeaderTable(table: FieldTable): HeaderTable {
  const result: Record<string, HeaderValue> = {};
  for (const [name, field] of table) setOwn(result, name, fieldValueToHeaderValue(field));
  return result;
}

/**
 * The typed value a neutral header value is encoded as:
 *
 * - number: an integer that fits int32 → int32 ('I'); any other integer below
 *   2^63 in magnitude → int64 ('l'); anything else (fractions, NaN, ±Infinity,
 *   huge values) → double ('d')
 * - bigint → int64 ('l'); beyond the int64 range it is INVALID_ARGUMENT
 * - string → longstr ('S', UTF-8); Uint8Array → byte array ('x')
 * - boolean → boolean ('t'); null → void ('V')
 * - array → array ('A'); table → table ('F')
 */
export function headerValueToFieldValue(value: HeaderValue, depth = 0): FieldValue {
  if (value === null) return { type: 'void' };
  switch (typeof value) {
    case 'boolean':
      return { type: 'boolean', value };
    case 'string':
      return { type: 'longstr', value: new TextEncoder().encode(value) };
    case 'number':
      if (Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) return { type: 'int32', value };
      if (Number.isInteger(value) && Math.abs(value) < TWO_TO_THE_63) return { type: 'int64', value: BigInt(value) };
      return { type: 'double', value };
    case 'bigint':
      if (value < -(1n << 63n) || value >= 1n << 63n) throw new FerryError('INVALID_ARGUMENT', `header value ${value}n does not fit a signed 64-bit integer`);
      return { type: 'int64', value };
    default:
      break;
  }
  if (value instanceof Uint8Array) return { type: 'bytes', value };
  if (depth >= FIELD_NESTING_DEPTH_MAX) throw new FerryError('INVALID_ARGUMENT', `header values nest deeper than ${FIELD_NESTING_DEPTH_MAX} levels (or contain a cycle)`);
  if (Array.isArray(value)) return { type: 'array', value: (value as readonly HeaderValue[]).map((item) => headerValueToFieldValue(item, depth + 1)) };
  if (typeof value !== 'object') throw new FerryError('INVALID_ARGUMENT', `${typeof value} is not a header value`);
  return { type: 'table', value: headerTableToFieldTable(value as HeaderTable, depth + 1) };
}

/** A neutral header table as a typed field table (values as `headerValueToFieldValue` maps them). */
export function headerTableToFieldTable(table: HeaderTable, depth = 0): FieldTable {
  const result = new Map<string, FieldValue>();
  for (const name of Object.keys(table)) result.set(name, headerValueToFieldValue(table[name]!, depth));
  return result;
}

/** Sets an own enumerable property, even one named `__proto__`, which plain assignment would not create. */
function setOwn(target: Record<string, HeaderValue>, name: string, value: HeaderValue): void {
  if (name === '__proto__') Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  else target[name] = value;
}
