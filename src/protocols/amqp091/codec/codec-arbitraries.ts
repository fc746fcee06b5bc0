/**
 * fast-check arbitraries for the codec tests: one per field type, typed field
 * values and tables, whole methods and content headers. Test support only:
 * nothing in the broker imports it.
 */
import fc from 'fast-check';
import type { FieldTable, FieldValue } from './field-table.js';
import type { BasicProperties, DecodedFieldTypes } from './method-codec.js';
import { CONTENT_CLASSES, BASIC_CLASS_ID, type FieldType, METHOD_SPECS, type MethodSpec } from './spec.js';

const encoder = new TextEncoder();
const U64_MAX = (1n << 64n) - 1n;

/** A u64 as the decoder returns it: a number when safe, a bigint above 2^53 - 1. */
export function normalizeU64(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Unicode text (valid code points only, so it survives UTF-8) of at most `bytesMax` bytes. */
export function utf8Text(bytesMax: number): fc.Arbitrary<string> {
  return fc
    .string({ unit: 'grapheme', maxLength: Math.min(bytesMax, 80) })
    .filter((text) => encoder.encode(text).byteLength <= bytesMax);
}

const u64 = fc.oneof(fc.nat(), fc.bigInt(0n, U64_MAX)).map((value) => normalizeU64(BigInt(value)));

/** Field names: short strings, often ASCII like real ones. */
export const fieldName = fc.oneof(fc.stringMatching(/^[a-z$#][a-z0-9_.-]{0,20}$/), utf8Text(255));

/** Any typed field value, nested up to a few levels. */
export const fieldValue: fc.Arbitrary<FieldValue> = fc.letrec<{ value: FieldValue; table: FieldTable }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.boolean().map((value): FieldValue => ({ type: 'boolean', value })),
    fc.integer({ min: -0x80, max: 0x7f }).map((value): FieldValue => ({ type: 'int8', value })),
    fc.integer({ min: 0, max: 0xff }).map((value): FieldValue => ({ type: 'uint8', value })),
    fc.integer({ min: -0x8000, max: 0x7fff }).map((value): FieldValue => ({ type: 'int16', value })),
    fc.integer({ min: 0, max: 0xffff }).map((value): FieldValue => ({ type: 'uint16', value })),
    fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }).map((value): FieldValue => ({ type: 'int32', value })),
    fc.integer({ min: 0, max: 0xffff_ffff }).map((value): FieldValue => ({ type: 'uint32', value })),
    fc.bigInt(-(1n << 63n), (1n << 63n) - 1n).map((value): FieldValue => ({ type: 'int64', value })),
    fc.float().map((value): FieldValue => ({ type: 'float', value })),
    fc.double().map((value): FieldValue => ({ type: 'double', value })),
    fc
      .record({ scale: fc.integer({ min: 0, max: 0xff }), value: fc.integer({ min: 0, max: 0xffff_ffff }) })
      .map(({ scale, value }): FieldValue => ({ type: 'decimal', scale, value })),
    fc.uint8Array({ maxLength: 40 }).map((value): FieldValue => ({ type: 'longstr', value })),
    fc.uint8Array({ maxLength: 40 }).map((value): FieldValue => ({ type: 'bytes', value })),
    fc.bigInt(0n, U64_MAX).map((value): FieldValue => ({ type: 'timestamp', value })),
    fc.constant<FieldValue>({ type: 'void' }),
    fc.array(tie('value'), { maxLength: 4 }).map((value): FieldValue => ({ type: 'array', value })),
    tie('table').map((value): FieldValue => ({ type: 'table', value })),
  ),
  table: fc.uniqueArray(fc.tuple(fieldName, tie('value')), { maxLength: 5, selector: ([name]) => name }).map((entries) => new Map(entries)),
})).value;

/** Any typed field table. */
export const fieldTable: fc.Arbitrary<FieldTable> = fc
  .uniqueArray(fc.tuple(fieldName, fieldValue), { maxLength: 6, selector: ([name]) => name })
  .map((entries) => new Map(entries));

/** A value of each field type, as the decoder returns it. */
export function fieldOfType(type: FieldType): fc.Arbitrary<DecodedFieldTypes[FieldType]> {
  switch (type) {
    case 'octet':
      return fc.integer({ min: 0, max: 0xff });
    case 'short':
      return fc.integer({ min: 0, max: 0xffff });
    case 'long':
      return fc.integer({ min: 0, max: 0xffff_ffff });
    case 'longlong':
    case 'timestamp':
      return u64;
    case 'shortstr':
      return utf8Text(255);
    case 'longstr':
      return fc.uint8Array({ maxLength: 300 });
    case 'bit':
      return fc.boolean();
    case 'table':
      return fieldTable;
  }
}

/** The fields of one method, every field present, as the decoder returns them. */
export function methodFields(spec: MethodSpec): fc.Arbitrary<Record<string, DecodedFieldTypes[FieldType]>> {
  return fc.record(Object.fromEntries(spec.fields.map((field) => [field.key, fieldOfType(field.type)])));
}

/** Any method with generated fields. */
export const anyMethod: fc.Arbitrary<{ spec: MethodSpec; fields: Record<string, DecodedFieldTypes[FieldType]> }> = fc
  .constantFrom(...METHOD_SPECS)
  .chain((spec) => methodFields(spec).map((fields) => ({ spec, fields })));

/** Basic content properties, each present or not. */
export const basicProperties: fc.Arbitrary<BasicProperties> = fc.record(
  Object.fromEntries(CONTENT_CLASSES.get(BASIC_CLASS_ID)!.properties.map((property) => [property.key, fieldOfType(property.type)])),
  { requiredKeys: [] },
) as fc.Arbitrary<BasicProperties>;

/** A body size as the decoder returns it. */
export const bodySize = u64;
