import { FerryError } from '../../../lib/ferry-error.js';

const encoder = new TextEncoder();
const SHORTSTR_BYTES_MAX = 255;
const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const INITIAL_CAPACITY = 1024;

function invalid(what: string, detail: string): never {
  throw new FerryError('INVALID_ARGUMENT', `${what}: ${detail}`);
}

function checkInteger(value: unknown, minimum: number, maximum: number, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > maximum) {
    invalid(what, `expected an integer from ${minimum} to ${maximum}, got ${describe(value)}`);
  }
}

/** A short, safe description of a bad value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * A growable big-endian byte buffer for the AMQP encoders. Each write checks
 * that its value fits the wire type and throws INVALID_ARGUMENT (naming the
 * field in `what`) when it does not, so nothing is silently truncated.
 *
 * One writer is reused across encodes: call `reset()` first, `finish()` last.
 */
export class WireWriter {
  private buffer = new Uint8Array(INITIAL_CAPACITY);
  private view = new DataView(this.buffer.buffer);
  /** Bytes written so far. */
  length = 0;

  reset(): void {
    this.length = 0;
  }

  /** Drops the bytes written after the first `length` (a frame that failed half-way). */
  truncate(length: number): void {
    if (length < this.length) this.length = length;
  }

  /** Bytes the buffer can hold before it grows. */
  get capacity(): number {
    return this.buffer.byteLength;
  }

  private ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.byteLength) return;
    let capacity = this.buffer.byteLength * 2;
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number, what = 'octet'): void {
    checkInteger(value, 0, 0xff, what);
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number, what = 'short'): void {
    checkInteger(value, 0, 0xffff, what);
    this.ensure(2);
    this.view.setUint16(this.length, value);
    this.length += 2;
  }

  u32(value: number, what = 'long'): void {
    checkInteger(value, 0, U32_MAX, what);
    this.ensure(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
  }

  /** An unsigned 64-bit integer from a safe non-negative number or a bigint below 2^64. */
  u64(value: number | bigint, what = 'longlong'): void {
    if (typeof value === 'number') {
      checkInteger(value, 0, Number.MAX_SAFE_INTEGER, what);
      this.ensure(8);
      this.view.setUint32(this.length, Math.floor(value / 0x1_0000_0000));
      this.view.setUint32(this.length + 4, value % 0x1_0000_0000);
    } else {
      if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) invalid(what, `expected an integer from 0 to 2^64 - 1, got ${describe(value)}`);
      this.ensure(8);
      this.view.setBigUint64(this.length, value);
    }
    this.length += 8;
  }

  i8(value: number, what = 'int8'): void {
    checkInteger(value, -0x80, 0x7f, what);
    this.ensure(1);
    this.view.setInt8(this.length, value);
    this.length += 1;
  }

  i16(value: number, what = 'int16'): void {
    checkInteger(value, -0x8000, 0x7fff, what);
    this.ensure(2);
    this.view.setInt16(this.length, value);
    this.length += 2;
  }

  i32(value: number, what = 'int32'): void {
    checkInteger(value, -0x8000_0000, 0x7fff_ffff, what);
    this.ensure(4);
    this.view.setInt32(this.length, value);
    this.length += 4;
  }

  i64(value: bigint, what = 'int64'): void {
    if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX) invalid(what, `expected a bigint from -2^63 to 2^63 - 1, got ${describe(value)}`);
    this.ensure(8);
    this.view.setBigInt64(this.length, value);
    this.length += 8;
  }

  u64Big(value: bigint, what = 'uint64'): void {
    if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) invalid(what, `expected a bigint from 0 to 2^64 - 1, got ${describe(value)}`);
    this.ensure(8);
    this.view.setBigUint64(this.length, value);
    this.length += 8;
  }

  f32(value: number, what = 'float'): void {
    if (typeof value !== 'number') invalid(what, `expected a number, got ${describe(value)}`);
    this.ensure(4);
    this.view.setFloat32(this.length, value);
    this.length += 4;
  }

  f64(value: number, what = 'double'): void {
    if (typeof value !== 'number') invalid(what, `expected a number, got ${describe(value)}`);
    this.ensure(8);
    this.view.setFloat64(this.length, value);
    this.length += 8;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.byteLength);
    this.buffer.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  /** A short string: a length octet and at most 255 bytes of UTF-8 (§4.2.5.3). */
  shortstr(text: string, what = 'shortstr'): void {
    if (typeof text !== 'string') invalid(what, `expected a string, got ${describe(text)}`);
    const lengthAt = this.length;
    this.ensure(1);
    this.length += 1;
    const byteLength = this.utf8(text);
    if (byteLength > SHORTSTR_BYTES_MAX) {
      this.length = lengthAt;
      invalid(what, `a short string holds at most ${SHORTSTR_BYTES_MAX} bytes of UTF-8, this one is ${byteLength} bytes`);
    }
    this.buffer[lengthAt] = byteLength;
  }

  /** A long string: a long length, then the bytes (a string is written as UTF-8). */
  longstr(value: string | Uint8Array, what = 'longstr'): void {
    if (value instanceof Uint8Array) {
      this.u32(value.byteLength, what);
      this.raw(value);
      return;
    }
    if (typeof value !== 'string') invalid(what, `expected a string or bytes, got ${describe(value)}`);
    const lengthAt = this.reserveU32();
    const byteLength = this.utf8(value);
    this.patchU32(lengthAt, byteLength);
  }

  /** Writes UTF-8 and returns its byte length; plain ASCII skips the TextEncoder. */
  private utf8(text: string): number {
    const count = text.length;
    // At most 3 bytes of UTF-8 per UTF-16 code unit.
    this.ensure(count * 3);
    const buffer = this.buffer;
    const start = this.length;
    let index = 0;
    for (; index < count; index++) {
      const code = text.charCodeAt(index);
      if (code >= 0x80) break;
      buffer[start + index] = code;
    }
    if (index === count) {
      this.length = start + count;
      return count;
    }
    const { written } = encoder.encodeInto(text.slice(index), buffer.subarray(start + index));
    this.length = start + index + written;
    return index + written;
  }

  /** Reserves a long to fill in later with `patchU32` (a table's length, a frame's size). */
  reserveU32(): number {
    this.ensure(4);
    const at = this.length;
    this.length += 4;
    return at;
  }

  patchU32(at: number, value: number, what = 'length'): void {
    checkInteger(value, 0, U32_MAX, what);
    this.view.setUint32(at, value);
  }

  /** Sets one bit of an octet already written, for packed bit fields. */
  setBit(at: number, bit: number): void {
    this.buffer[at]! |= 1 << bit;
  }

  /** A copy of the bytes written from `start` on. */
  bytesSince(start: number): Uint8Array {
    return this.buffer.slice(start, this.length);
  }

  /** A copy of the bytes written since the last reset. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** The writer every encoder in this folder shares: encoding is synchronous, so no two uses overlap. */
export const sharedWriter = new WireWriter();
