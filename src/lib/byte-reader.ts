import { FerryError } from './ferry-error.js';

const decoder = new TextDecoder();

/** A bounds-checked reader over bytes. */
export class ByteReader {
  private readonly view: DataView;
  position = 0;

  constructor(private readonly source: Uint8Array) {
    this.view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  }

  private need(count: number): void {
    if (this.position + count > this.source.byteLength) throw new FerryError('CORRUPT_DATA', 'encoded value is truncated');
  }

  remaining(): number {
    return this.source.byteLength - this.position;
  }

  u8(): number {
    this.need(1);
    return this.source[this.position++]!;
  }

  u16(): number {
    this.need(2);
    const value = this.view.getUint16(this.position, true);
    this.position += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.position, true);
    this.position += 4;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.position, true);
    this.position += 8;
    return value;
  }

  i64(): bigint {
    this.need(8);
    const value = this.view.getBigInt64(this.position, true);
    this.position += 8;
    return value;
  }

  raw(count: number): Uint8Array {
    this.need(count);
    const value = this.source.subarray(this.position, this.position + count);
    this.position += count;
    return value;
  }

  string(): string {
    return decoder.decode(this.raw(this.u32()));
  }

  /** Bytes with a u32 length (a view, not a copy). */
  bytes(): Uint8Array {
    return this.raw(this.u32());
  }
}
