import { ByteReader } from '../../lib/byte-reader.js';
import { ByteWriter } from '../../lib/byte-writer.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { HeaderTable, HeaderValue } from '../routing/header-value.js';

/**
 * Binary encoding of typed header values, used to store message headers in
 * log records. Each value is a tag byte then its payload:
 *
 *   0 null | 1 true | 2 false | 3 f64 number | 4 i64 bigint (8 bytes)
 *   5 string (u32 length, UTF-8) | 6 bytes (u32 length) | 7 array (u32 count, values)
 *   8 table (u32 count, then per entry: u16 name length, UTF-8 name, value)
 *
 * All integers little-endian. Decoding bounds-checks everything and throws
 * CORRUPT_DATA on malformed input.
 */
const TAG_NULL = 0;
const TAG_TRUE = 1;
const TAG_FALSE = 2;
const TAG_NUMBER = 3;
const TAG_BIGINT = 4;
const TAG_STRING = 5;
const TAG_BYTES = 6;
const TAG_ARRAY = 7;
const TAG_TABLE = 8;
const DEPTH_MAX = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Appends one header value to `writer`. */
export function writeHeaderValue(writer: ByteWriter, value: HeaderValue, depth = 0): void {
  if (depth > DEPTH_MAX) throw new FerryError('INVALID_ARGUMENT', `header values nest deeper than ${DEPTH_MAX} levels`);
  if (value === null) return writer.u8(TAG_NULL);
  switch (typeof value) {
    case 'boolean':
      return writer.u8(value ? TAG_TRUE : TAG_FALSE);
    case 'number':
      writer.u8(TAG_NUMBER);
      return writer.f64(value);
    case 'bigint':
      writer.u8(TAG_BIGINT);
      return writer.i64(BigInt.asIntN(64, value));
    case 'string':
      writer.u8(TAG_STRING);
      return writer.string(value);
    default:
      break;
  }
  if (value instanceof Uint8Array) {
    writer.u8(TAG_BYTES);
    writer.u32(value.byteLength);
    return writer.raw(value);
  }
  if (Array.isArray(value)) {
    writer.u8(TAG_ARRAY);
    writer.u32(value.length);
    for (const item of value as readonly HeaderValue[]) writeHeaderValue(writer, item, depth + 1);
    return;
  }
  writer.u8(TAG_TABLE);
  writeHeaderTable(writer, value as HeaderTable, depth + 1);
}

/** Appends a header table (count, then name/value pairs). */
export function writeHeaderTable(writer: ByteWriter, table: HeaderTable, depth = 0): void {
  const keys = Object.keys(table);
  writer.u32(keys.length);
  for (const key of keys) {
    const name = encoder.encode(key);
    if (name.byteLength > 0xffff) throw new FerryError('INVALID_ARGUMENT', 'a header name may be at most 65535 bytes');
    writer.u16(name.byteLength);
    writer.raw(name);
    writeHeaderValue(writer, table[key]!, depth);
  }
}

/** Reads one header value. */
export function readHeaderValue(reader: ByteReader, depth = 0): HeaderValue {
  if (depth > DEPTH_MAX) throw new FerryError('CORRUPT_DATA', 'header values nest too deeply');
  const tag = reader.u8();
  switch (tag) {
    case TAG_NULL:
      return null;
    case TAG_TRUE:
      return true;
    case TAG_FALSE:
      return false;
    case TAG_NUMBER:
      return reader.f64();
    case TAG_BIGINT:
      return reader.i64();
    case TAG_STRING:
      return reader.string();
    case TAG_BYTES:
      return reader.raw(reader.u32()).slice();
    case TAG_ARRAY: {
      const count = reader.u32();
      if (count > reader.remaining()) throw new FerryError('CORRUPT_DATA', 'array count exceeds the data');
      const items: HeaderValue[] = [];
      for (let i = 0; i < count; i++) items.push(readHeaderValue(reader, depth + 1));
      return items;
    }
    case TAG_TABLE:
      return readHeaderTable(reader, depth + 1);
    default:
      throw new FerryError('CORRUPT_DATA', `unknown header value tag ${tag}`);
  }
}

/** Reads a header table. */
export function readHeaderTable(reader: ByteReader, depth = 0): HeaderTable {
  const count = reader.u32();
  if (count > reader.remaining()) throw new FerryError('CORRUPT_DATA', 'table count exceeds the data');
  const table: Record<string, HeaderValue> = {};
  for (let i = 0; i < count; i++) {
    const name = decoder.decode(reader.raw(reader.u16()));
    table[name] = readHeaderValue(reader, depth);
  }
  return table;
}
