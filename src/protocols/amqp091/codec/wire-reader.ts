import { AmqpProtocolError } from './amqp-protocol-error.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Node's native latin1 slicer turns ASCII bytes into a string about twice as fast as
// String.fromCharCode; it is not part of Buffer's documented API, so fall back when absent.
const latin1Slice = (Buffer.prototype as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
// Strings up to this length take the ASCII fast path: no TextDecoder call.
const ASCII_FAST_PATH_BYTES_MAX = 256;
const TWO_TO_THE_32 = 0x1_0000_0000;
// ASCII strings up to this length are remembered in RECENT_TEXT_SLOTS slots (a power of two), by length and end bytes.
const RECENT_TEXT_BYTES_MAX = 64;
const RECENT_TEXT_SLOTS = 256;
const recentTexts: (string | undefined)[] = new Array<string | undefined>(RECENT_TEXT_SLOTS).fill(undefined);
// A u64 whose high word is below this fits a safe integer (2^53 - 1).
const SAFE_HIGH_WORD_LIMIT = 0x20_0000;

/**
 * A bounds-checked big-endian reader over one AMQP payload (network byte
 * order, §4.2.5). Every read checks the remaining length first, so malformed
 * input fails with an AmqpProtocolError and never with a RangeError.
 *
 * Running out of bytes is a 501 FRAME_ERROR (the payload cannot be decoded);
 * an illegal value in well-formed bytes is a 502 SYNTAX_ERROR. Errors name
 * `classId` / `methodId`, which the caller sets while it decodes a method.
 */
export class WireReader {
  /** Where the next read starts. */
  offset: number;
  /** One past the last byte this reader may read; tables narrow it while they decode. */
  end: number;
  /** The class and method being decoded, for error reports. */
  classId = 0;
  methodId = 0;
  private view: DataView | undefined;

  constructor(
    public bytes: Uint8Array,
    offset = 0,
    end = bytes.byteLength,
  ) {
    this.offset = offset;
    this.end = end;
  }

  /** Starts over on `bytes`, as a new reader would: decoders share one instead of allocating one per frame. */
  reset(bytes: Uint8Array): this {
    return this.resetRange(bytes, 0, bytes.byteLength);
  }

  /** Starts over on `bytes[start, end)` (a payload inside a larger chunk); errors count offsets from `start`. */
  resetRange(bytes: Uint8Array, start: number, end: number): this {
    if (bytes !== this.bytes) this.view = undefined;
    this.bytes = bytes;
    this.base = start;
    this.offset = start;
    this.end = end;
    this.classId = 0;
    this.methodId = 0;
    return this;
  }

  /** Where the payload being read starts in `bytes`. */
  private base = 0;

  remaining(): number {
    return this.end - this.offset;
  }

  /** Throws 501 FRAME_ERROR: the bytes cannot be decoded. */
  frameError(detail: string): never {
    throw new AmqpProtocolError(501, detail, { classId: this.classId, methodId: this.methodId });
  }

  /** Throws 502 SYNTAX_ERROR: a decoded value is illegal. */
  syntaxError(detail: string): never {
    throw new AmqpProtocolError(502, detail, { classId: this.classId, methodId: this.methodId });
  }

  private need(count: number, what: string): number {
    const start = this.offset;
    if (count > this.end - start) {
      this.frameError(`truncated ${what}: needs ${count} bytes at offset ${start - this.base}, ${this.end - start} left`);
    }
    this.offset = start + count;
    return start;
  }

  private dataView(): DataView {
    this.view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return this.view;
  }

  u8(what = 'octet'): number {
    return this.bytes[this.need(1, what)]!;
  }

  u16(what = 'short'): number {
    const at = this.need(2, what);
    const bytes = this.bytes;
    return (bytes[at]! << 8) | bytes[at + 1]!;
  }

  u32(what = 'long'): number {
    const at = this.need(4, what);
    const bytes = this.bytes;
    return bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
  }

  /** An unsigned 64-bit integer: a number when it is a safe integer, a bigint otherwise. */
  u64(what = 'longlong'): number | bigint {
    const at = this.need(8, what);
    const bytes = this.bytes;
    const high = bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
    const low = bytes[at + 4]! * 0x100_0000 + ((bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!);
    if (high < SAFE_HIGH_WORD_LIMIT) return high * TWO_TO_THE_32 + low;
    return (BigInt(high) << 32n) | BigInt(low);
  }

  i8(what = 'int8'): number {
    return this.dataView().getInt8(this.need(1, what));
  }

  i16(what = 'int16'): number {
    return this.dataView().getInt16(this.need(2, what));
  }

  i32(what = 'int32'): number {
    return this.dataView().getInt32(this.need(4, what));
  }

  i64(what = 'int64'): bigint {
    return this.dataView().getBigInt64(this.need(8, what));
  }

  u64Big(what = 'uint64'): bigint {
    return this.dataView().getBigUint64(this.need(8, what));
  }

  f32(what = 'float'): number {
    return this.dataView().getFloat32(this.need(4, what));
  }

  f64(what = 'double'): number {
    return this.dataView().getFloat64(this.need(8, what));
  }

  /** A copy of the next `count` bytes: decoded values never alias the frame they came from. */
  copy(count: number, what: string): Uint8Array {
    const at = this.need(count, what);
    return this.bytes.slice(at, at + count);
  }

  /** A short string (§4.2.5.3): a length octet, then that many bytes of UTF-8. Invalid UTF-8 is a 502. */
  shortstr(what = 'shortstr'): string {
    const length = this.u8(what);
    const at = this.need(length, what);
    return this.text(at, at + length, what);
  }

  /** A long string's bytes (§4.2.5.3): a long length, then that many bytes of any content. */
  longstr(what = 'longstr'): Uint8Array {
    return this.copy(this.u32(what), what);
  }

  /** Decodes bytes[start, end) as UTF-8, raising 502 SYNTAX_ERROR when they are not valid UTF-8. */
  text(start: number, end: number, what: string): string {
    const length = end - start;
    if (length === 0) return '';
    const bytes = this.bytes;
    let slot = -1;
    if (length <= RECENT_TEXT_BYTES_MAX) {
      // The same names (exchange, routing key, consumer tag) come again and again: return the string of last time.
      slot = (length * 31 + bytes[start]! * 7 + bytes[end - 1]!) & (RECENT_TEXT_SLOTS - 1);
      const recent = recentTexts[slot];
      if (recent !== undefined && recent.length === length) {
        let index = 0;
        while (index < length && recent.charCodeAt(index) === bytes[start + index]) index++;
        if (index === length) return recent;
      }
    }
    if (length <= ASCII_FAST_PATH_BYTES_MAX) {
      let ascii = true;
      for (let index = start; index < end; index++) {
        if (bytes[index]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        const text = latin1Slice !== undefined ? latin1Slice.call(bytes, start, end) : String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
        // Only ASCII strings are kept, so a character code equals its byte in the comparison above.
        if (slot >= 0) recentTexts[slot] = text;
        return text;
      }
    }
    try {
      return strictUtf8.decode(bytes.subarray(start, end));
    } catch {
      return this.syntaxError(`${what} is not valid UTF-8`);
    }
  }
}

/** Decodes UTF-8 strictly: the string, or undefined when the bytes are not valid UTF-8. */
export function decodeUtf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
