/**
 * fast-check generators of field values for every native field type, shared
 * by the codec's round-trip and fuzz tests (test support, not shipped logic).
 * Tables hold only values the header codec round-trips exactly.
 */
import fc from 'fast-check';
import { OFFSET_KINDS, type FieldSpec, type FieldType } from './native-spec.js';

/** Generators of each field type; `listMax` bounds every list and `bytesMax` every byte string. */
export function fieldValueArbitraries(listMax: number, bytesMax: number): Record<FieldType, fc.Arbitrary<unknown>> {
  const safeInteger = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const bytes = fc.uint8Array({ maxLength: bytesMax });
  const text = fc.string({ maxLength: bytesMax / 2 });
  const message = fc.record({ routingKey: bytes, envelope: bytes, body: bytes });
  return {
    u8: fc.integer({ min: 0, max: 255 }),
    u16: fc.integer({ min: 0, max: 0xffff }),
    u32: fc.integer({ min: 0, max: 0xffff_ffff }),
    i32: fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
    u64: safeInteger,
    f64: fc.double({ noNaN: true }),
    bool: fc.boolean(),
    string: text,
    bytes,
    strings: fc.array(text, { maxLength: listMax }),
    u32s: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: listMax }),
    u64s: fc.array(safeInteger, { maxLength: listMax }),
    f64s: fc.array(fc.double({ noNaN: true }), { maxLength: listMax }),
    statuses: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: listMax }),
    table: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.boolean(), fc.integer(), fc.constant(null)), { maxKeys: listMax }),
    offsetSpec: fc.record({ kind: fc.constantFrom(...OFFSET_KINDS), value: safeInteger }),
    messages: fc.array(message, { maxLength: listMax }),
    deliveries: fc.array(fc.record({ deliveryTag: safeInteger, redelivered: fc.boolean(), deliveryCount: fc.integer({ min: 0, max: 0xffff_ffff }), timestampMs: safeInteger, message }), { maxLength: listMax }),
    entries: fc.array(fc.record({ partition: fc.integer({ min: 0, max: 0xffff_ffff }), offset: safeInteger, timestampMs: safeInteger, message }), { maxLength: listMax }),
    appendResults: fc.array(fc.record({ partition: fc.integer({ min: 0, max: 1000 }), baseOffset: safeInteger, lastOffset: safeInteger, duplicate: fc.boolean() }), { maxLength: listMax }),
  };
}

/** A generator of the values of a field list. */
export function fieldsArbitrary(fields: readonly FieldSpec[], values: Record<FieldType, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(Object.fromEntries(fields.map(([name, type]) => [name, values[type]])));
}

/** The bytes of `parts` one after another. */
export function concatenateBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
