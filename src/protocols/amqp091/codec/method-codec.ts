import type { HeaderTable } from '../../../core/routing/header-value.js';
import { assert } from '../../../lib/assert.js';
import { FerryError } from '../../../lib/ferry-error.js';
import { AmqpProtocolError } from './amqp-protocol-error.js';
import { type FieldTable, readFieldTable, writeFieldTable } from './field-table.js';
import {
  type BasicPropertyRow,
  type CamelCase,
  BASIC_CLASS_ID,
  CONTENT_CLASSES,
  type FieldSpec,
  type FieldType,
  type MethodName,
  type MethodRowOf,
  type MethodSpec,
  methodSpecById,
  methodSpecByName,
} from './spec.js';
import { WireReader } from './wire-reader.js';
import { WireWriter, describe, sharedWriter } from './wire-writer.js';

/*
 * Method frame payload (§4.2.4):
 *
 *   +----------+-----------+----------------------------------+
 *   | class-id | method-id | arguments, in the spec's order   |
 *   |  short   |   short   | (consecutive bits packed)        |
 *   +----------+-----------+----------------------------------+
 *
 * Consecutive bit arguments share octets, the first bit in the lowest bit of an
 * octet, up to 8 per octet; any other argument ends the run (§4.2.5.2).
 *
 * Content header payload (§4.2.6.1):
 *
 *   +----------+--------+-----------+-----------------+------------------+
 *   | class-id | weight | body size | property flags  | property list    |
 *   |  short   | short  | longlong  | short, short... | present values   |
 *   +----------+--------+-----------+-----------------+------------------+
 *
 * Bit 15 of the first flags word marks the first property, bit 1 the fifteenth;
 * bit 0 set means another flags word follows for properties 16 to 30, and so on.
 * Only present properties have a value in the list, in flag order.
 */

/** The decoded JavaScript type of each field type. */
export interface DecodedFieldTypes {
  octet: number;
  short: number;
  long: number;
  /** A number when it is a safe integer, a bigint above 2^53 - 1: exact either way. */
  longlong: number | bigint;
  /** Decoded strictly: a short string that is not UTF-8 is a 502 SYNTAX_ERROR. */
  shortstr: string;
  /** A long string is bytes: SASL responses are binary; decode text fields with TextDecoder. */
  longstr: Uint8Array;
  bit: boolean;
  table: FieldTable;
  /** Seconds since the epoch, as for longlong. */
  timestamp: number | bigint;
}

/** What the encoders accept for each field type. */
export interface EncodableFieldTypes {
  octet: number;
  short: number;
  long: number;
  longlong: number | bigint;
  shortstr: string;
  /** A string is written as UTF-8. */
  longstr: Uint8Array | string;
  bit: boolean;
  /** A typed table is written exactly; a neutral table with `headerTableToFieldTable`'s types. */
  table: FieldTable | HeaderTable;
  timestamp: number | bigint;
}

type FieldRowsOf<Name extends MethodName> = MethodRowOf<Name>['fields'][number];

/** The decoded arguments of method `Name`, keyed by camelCase field name. */
export type MethodFields<Name extends MethodName> = {
  readonly [Row in FieldRowsOf<Name> as CamelCase<Row[0]>]: DecodedFieldTypes[Row[1]];
};

/** The arguments to encode method `Name`: every field, except that reserved fields may be left out. */
export type MethodFieldsInput<Name extends MethodName> = {
  readonly [Row in FieldRowsOf<Name> as Row extends readonly [string, FieldType, 'reserved'] ? never : CamelCase<Row[0]>]: EncodableFieldTypes[Row[1]];
} & {
  readonly [Row in FieldRowsOf<Name> as Row extends readonly [string, FieldType, 'reserved'] ? CamelCase<Row[0]> : never]?: EncodableFieldTypes[Row[1]];
};

/** Any method's arguments, for the id-based `encodeMethod`. */
export type AnyMethodFieldsInput = Readonly<Record<string, EncodableFieldTypes[FieldType] | undefined>>;

/** One decoded method. */
export interface DecodedMethod<Name extends MethodName = MethodName> {
  readonly classId: number;
  readonly methodId: number;
  /** `class.method`; switch on it to get typed `fields`. */
  readonly name: Name;
  readonly spec: MethodSpec;
  readonly fields: MethodFields<Name>;
}

/** A decoded method of any kind, discriminated by `name`. */
export type AnyDecodedMethod = { [Name in MethodName]: DecodedMethod<Name> }[MethodName];

/** The basic content properties, keyed by camelCase name; absent properties are left out. */
export type BasicProperties = {
  readonly [Row in BasicPropertyRow as CamelCase<Row[0]>]?: DecodedFieldTypes[Row[1]];
};

/** The basic content properties to encode; `undefined` or `null` leaves a property out. */
export type BasicPropertiesInput = {
  readonly [Row in BasicPropertyRow as CamelCase<Row[0]>]?: EncodableFieldTypes[Row[1]] | null;
};

/** A decoded content header frame payload. */
export interface ContentHeader {
  readonly classId: number;
  /** Total bytes of the body frames that follow (a bigint only beyond 2^53 - 1). */
  readonly bodySize: number | bigint;
  readonly properties: BasicProperties;
}

const METHOD_PREFIX_BYTES = 4;
/** The reader the decoders here share: decoding is synchronous and keeps nothing of it, so no two uses overlap. */
const sharedReader = new WireReader(new Uint8Array(0));
// class-id, weight, body size, one property flags word.
const CONTENT_HEADER_BYTES_MIN = 2 + 2 + 8 + 2;
const PROPERTIES_PER_FLAGS_WORD = 15;
const EMPTY_BYTES = new Uint8Array(0);

for (const contentClass of CONTENT_CLASSES.values()) {
  // A bit property would be carried by its flag alone; 0-9-1 has none, so the codec does not handle one.
  assert(contentClass.properties.every((property) => property.type !== 'bit'), 'content properties are never bits');
}

// ---------------------------------------------------------------- fields

function reservedDefault(type: FieldType): EncodableFieldTypes[FieldType] {
  switch (type) {
    case 'octet':
    case 'short':
    case 'long':
    case 'longlong':
    case 'timestamp':
      return 0;
    case 'shortstr':
      return '';
    case 'longstr':
      return EMPTY_BYTES;
    case 'bit':
      return false;
    case 'table':
      return new Map();
  }
}

function writeField(writer: WireWriter, field: FieldSpec, value: unknown): void {
  switch (field.type) {
    case 'octet':
      return writer.u8(value as number, field.label);
    case 'short':
      return writer.u16(value as number, field.label);
    case 'long':
      return writer.u32(value as number, field.label);
    case 'longlong':
    case 'timestamp':
      return writer.u64(value as number | bigint, field.label);
    case 'shortstr':
      return writer.shortstr(value as string, field.label);
    case 'longstr':
      return writer.longstr(value as string | Uint8Array, field.label);
    case 'table':
      if (typeof value !== 'object' || value === null) throw new FerryError('INVALID_ARGUMENT', `${field.label}: expected a table, got ${describe(value)}`);
      return writeFieldTable(writer, value as FieldTable | HeaderTable, 0, field.label);
    case 'bit':
      // Bits are packed by the caller.
      return assert(false, 'writeField is never called for a bit');
  }
}

function readField(reader: WireReader, field: FieldSpec): DecodedFieldTypes[FieldType] {
  switch (field.type) {
    case 'octet':
      return reader.u8(field.label);
    case 'short':
      return reader.u16(field.label);
    case 'long':
      return reader.u32(field.label);
    case 'longlong':
    case 'timestamp':
      return reader.u64(field.label);
    case 'shortstr':
      return reader.shortstr(field.label);
    case 'longstr':
      return reader.longstr(field.label);
    case 'table':
      return readFieldTable(reader);
    case 'bit':
      return assert(false, 'readField is never called for a bit') as never;
  }
}

// ---------------------------------------------------------------- methods

/**
 * Appends a method payload (class id, method id, arguments) to `writer`.
 * Throws INVALID_ARGUMENT when a field is missing (only reserved fields may be)
 * or does not fit its type: a short string over 255 bytes, a number out of range.
 */
export function writeMethod(writer: WireWriter, spec: MethodSpec, fields: AnyMethodFieldsInput): void {
  writer.u16(spec.classId);
  writer.u16(spec.methodId);
  let bitOctetAt = 0;
  // 8 means "no octet open": the next bit starts a new one.
  let bitIndex = 8;
  for (const field of spec.fields) {
    let value: unknown = fields[field.key];
    if (value === undefined) {
      if (!field.reserved) throw new FerryError('INVALID_ARGUMENT', `${field.label}: missing (fields are keyed ${field.key})`);
      value = reservedDefault(field.type);
    }
    if (field.type !== 'bit') {
      bitIndex = 8;
      writeField(writer, field, value);
      continue;
    }
    if (typeof value !== 'boolean') throw new FerryError('INVALID_ARGUMENT', `${field.label}: expected a boolean, got ${describe(value)}`);
    if (bitIndex === 8) {
      bitOctetAt = writer.length;
      writer.u8(0);
      bitIndex = 0;
    }
    if (value) writer.setBit(bitOctetAt, bitIndex);
    bitIndex++;
  }
}

/**
 * Encodes a method frame payload by class and method id. Throws
 * INVALID_ARGUMENT for ids the protocol does not define and for fields as in `writeMethod`.
 */
export function encodeMethod(classId: number, methodId: number, fields: AnyMethodFieldsInput = {}): Uint8Array {
  const spec = methodSpecById(classId, methodId);
  if (spec === undefined) throw new FerryError('INVALID_ARGUMENT', `AMQP 0-9-1 has no method ${classId}/${methodId}`);
  sharedWriter.reset();
  writeMethod(sharedWriter, spec, fields);
  return sharedWriter.finish();
}

/** Encodes a method frame payload by name, with the fields type-checked: `encodeMethodByName('basic.qos', {...})`. */
export function encodeMethodByName<Name extends MethodName>(name: Name, fields: MethodFieldsInput<Name>): Uint8Array {
  const spec = methodSpecByName(name);
  if (spec === undefined) throw new FerryError('INVALID_ARGUMENT', `AMQP 0-9-1 has no method ${name}`);
  sharedWriter.reset();
  writeMethod(sharedWriter, spec, fields as AnyMethodFieldsInput);
  return sharedWriter.finish();
}

/**
 * Decodes a method frame payload. Throws AmqpProtocolError, a connection error:
 * 503 COMMAND_INVALID for an unknown class or method id, 501 FRAME_ERROR when the
 * payload is truncated or has bytes after the last argument, 502 SYNTAX_ERROR for
 * an illegal value (a short string that is not UTF-8, an unknown field-table type).
 */
export function decodeMethod(payload: Uint8Array): AnyDecodedMethod {
  return decodeMethodAt(payload, 0, payload.byteLength);
}

/** Decodes the method frame payload `bytes[start, end)`, as `decodeMethod` does. */
export function decodeMethodAt(bytes: Uint8Array, start: number, end: number): AnyDecodedMethod {
  const reader = sharedReader.resetRange(bytes, start, end);
  if (end - start < METHOD_PREFIX_BYTES) reader.frameError(`method frame payload of ${end - start} bytes has no class and method id`);
  const classId = reader.u16();
  const methodId = reader.u16();
  reader.classId = classId;
  reader.methodId = methodId;
  const spec = methodSpecById(classId, methodId);
  if (spec === undefined) throw new AmqpProtocolError(503, `unknown method: class ${classId}, method ${methodId}`, { classId, methodId });
  const fields =
    classId !== BASIC_CLASS_ID
      ? readFields(reader, spec)
      : methodId === BASIC_PUBLISH_METHOD_ID
        ? readPublishFields(reader, spec.fields)
        : methodId === BASIC_ACK_METHOD_ID
          ? readAckFields(reader, spec.fields)
          : readFields(reader, spec);
  if (reader.remaining() !== 0) reader.frameError(`${reader.remaining()} bytes follow the last argument of ${spec.name}`);
  return { classId, methodId, name: spec.name, spec, fields } as AnyDecodedMethod;
}

/** Any method's arguments, by its spec: an object keyed by field (bits unpacked). */
function readFields(reader: WireReader, spec: MethodSpec): Record<string, DecodedFieldTypes[FieldType]> {
  const fields: Record<string, DecodedFieldTypes[FieldType]> = {};
  let bitOctet = 0;
  let bitIndex = 8;
  for (const field of spec.fields) {
    if (field.type !== 'bit') {
      bitIndex = 8;
      fields[field.key] = readField(reader, field);
      continue;
    }
    if (bitIndex === 8) {
      bitOctet = reader.u8(field.label);
      bitIndex = 0;
    }
    fields[field.key] = ((bitOctet >> bitIndex) & 1) === 1;
    bitIndex++;
  }
  return fields;
}

const BASIC_PUBLISH_METHOD_ID = 40;
const BASIC_ACK_METHOD_ID = 80;

/*
 * basic.publish and basic.ack arrive once per message: their arguments are
 * read in straight-line code into an object of one fixed shape, with the same
 * keys, values and errors as readFields gives (the codec tests compare both).
 */

/** basic.publish: reserved-1 (short), exchange, routing-key (shortstr), mandatory and immediate (bits of one octet). */
function readPublishFields(reader: WireReader, specs: readonly FieldSpec[]): Record<string, DecodedFieldTypes[FieldType]> {
  const reserved1 = reader.u16(specs[0]!.label);
  const exchange = reader.shortstr(specs[1]!.label);
  const routingKey = reader.shortstr(specs[2]!.label);
  const bits = reader.u8(specs[3]!.label);
  return { reserved1, exchange, routingKey, mandatory: (bits & 1) === 1, immediate: (bits & 2) === 2 };
}

/** basic.ack: delivery-tag (longlong), multiple (a bit of one octet). */
function readAckFields(reader: WireReader, specs: readonly FieldSpec[]): Record<string, DecodedFieldTypes[FieldType]> {
  const deliveryTag = reader.u64(specs[0]!.label);
  const bits = reader.u8(specs[1]!.label);
  return { deliveryTag, multiple: (bits & 1) === 1 };
}

// ---------------------------------------------------------------- content headers

/**
 * Appends a content header payload. Properties that are undefined or null are
 * absent. Throws INVALID_ARGUMENT for a class without content, a body size
 * beyond 2^64 - 1, an unknown property name, or a value that does not fit.
 */
export function writeContentHeader(writer: WireWriter, classId: number, bodySize: number | bigint, properties: BasicPropertiesInput): void {
  const contentClass = CONTENT_CLASSES.get(classId);
  if (contentClass === undefined) throw new FerryError('INVALID_ARGUMENT', `class ${classId} carries no content`);
  writer.u16(classId);
  // Weight: unused, must be zero.
  writer.u16(0);
  writer.u64(bodySize, 'content header body size');
  if (properties === lastFrozenProperties.properties && classId === lastFrozenProperties.classId) {
    writer.raw(lastFrozenProperties.bytes);
    return;
  }
  const start = writer.length;
  const specs = contentClass.properties;
  const values = properties as Readonly<Record<string, unknown>>;
  let lastPresent = -1;
  for (let index = 0; index < specs.length; index++) {
    const value = values[specs[index]!.key];
    if (value !== undefined && value !== null) lastPresent = index;
  }
  const wordCount = Math.max(1, Math.ceil((lastPresent + 1) / PROPERTIES_PER_FLAGS_WORD));
  for (let word = 0; word < wordCount; word++) {
    let flags = word < wordCount - 1 ? 1 : 0;
    for (let bit = 0; bit < PROPERTIES_PER_FLAGS_WORD; bit++) {
      const index = word * PROPERTIES_PER_FLAGS_WORD + bit;
      if (index > lastPresent) break;
      const value = values[specs[index]!.key];
      if (value !== undefined && value !== null) flags |= 1 << (15 - bit);
    }
    writer.u16(flags);
  }
  for (let index = 0; index <= lastPresent; index++) {
    const spec = specs[index]!;
    const value = values[spec.key];
    if (value !== undefined && value !== null) writeField(writer, spec, value);
  }
  checkPropertyNames(classId, specs, values);
  if (Object.isFrozen(properties)) lastFrozenProperties = { classId, properties, bytes: writer.bytesSince(start) };
}

/**
 * The flags and values last written for a frozen properties object: senders
 * share one such object for the common cases (only a delivery mode), which
 * then costs a copy of these bytes. A frozen object cannot change, so its bytes cannot either.
 */
let lastFrozenProperties: { readonly classId: number; readonly properties: object | null; readonly bytes: Uint8Array } = { classId: 0, properties: null, bytes: EMPTY_BYTES };

/** The property keys of each content class, for checkPropertyNames. */
const PROPERTY_KEYS: ReadonlyMap<number, ReadonlySet<string>> = new Map(
  [...CONTENT_CLASSES].map(([classId, contentClass]) => [classId, new Set(contentClass.properties.map((property) => property.key))]),
);

// A misspelt property would otherwise vanish silently. For...in and a set: no allocation per header.
function checkPropertyNames(classId: number, specs: readonly FieldSpec[], values: Readonly<Record<string, unknown>>): void {
  const keys = PROPERTY_KEYS.get(classId)!;
  for (const key in values) {
    if (values[key] !== undefined && !keys.has(key)) {
      throw new FerryError('INVALID_ARGUMENT', `unknown content property ${key}; the properties are ${specs.map((spec) => spec.key).join(', ')}`);
    }
  }
}

/** Encodes a content header frame payload (see `writeContentHeader`). */
export function encodeContentHeader(classId: number, bodySize: number | bigint, properties: BasicPropertiesInput = {}): Uint8Array {
  sharedWriter.reset();
  writeContentHeader(sharedWriter, classId, bodySize, properties);
  return sharedWriter.finish();
}

/**
 * Decodes a content header frame payload. Throws AmqpProtocolError, a
 * connection error: 505 UNEXPECTED_FRAME for a class that carries no content,
 * 502 SYNTAX_ERROR for a flag of a property the class does not have (or an
 * illegal value), 501 FRAME_ERROR when the payload is truncated or too long.
 * The weight field is ignored.
 */
export function decodeContentHeader(payload: Uint8Array): ContentHeader {
  return decodeContentHeaderAt(payload, 0, payload.byteLength);
}

/** Decodes the content header frame payload `bytes[start, end)`, as `decodeContentHeader` does. */
export function decodeContentHeaderAt(bytes: Uint8Array, start: number, end: number): ContentHeader {
  const reader = sharedReader.resetRange(bytes, start, end);
  if (end - start < CONTENT_HEADER_BYTES_MIN) reader.frameError(`content header payload of ${end - start} bytes is shorter than ${CONTENT_HEADER_BYTES_MIN}`);
  const classId = reader.u16('content header class id');
  reader.classId = classId;
  const contentClass = CONTENT_CLASSES.get(classId);
  if (contentClass === undefined) throw new AmqpProtocolError(505, `content header for class ${classId}, which carries no content`, { classId });
  reader.u16('content header weight');
  const bodySize = reader.u64('content header body size');
  const specs = contentClass.properties;
  const properties: Record<string, DecodedFieldTypes[FieldType]> = {};
  let flags = reader.u16('property flags');
  if ((flags & 1) === 0 && specs.length <= PROPERTIES_PER_FLAGS_WORD) {
    // One flags word (always so for basic, with 14 properties): read the values as the bits are found,
    // once no flag of a property beyond the class's is set (bits 1 to 15 - count).
    const beyond = flags & ((1 << (16 - specs.length)) - 2);
    if (beyond !== 0) {
      const index = 15 - (31 - Math.clz32(beyond));
      reader.syntaxError(`property flag ${index + 1} is set, but ${contentClass.name} has ${specs.length} properties`);
    }
    for (let bit = 0; bit < specs.length; bit++) {
      if ((flags & (1 << (15 - bit))) === 0) continue;
      const spec = specs[bit]!;
      properties[spec.key] = readField(reader, spec);
    }
    if (reader.remaining() !== 0) reader.frameError(`${reader.remaining()} bytes follow the last property of the content header`);
    return { classId, bodySize, properties: properties as BasicProperties };
  }
  reader.offset -= 2;
  const present: number[] = [];
  let word = 0;
  do {
    flags = reader.u16('property flags');
    for (let bit = 0; bit < PROPERTIES_PER_FLAGS_WORD; bit++) {
      if ((flags & (1 << (15 - bit))) === 0) continue;
      const index = word * PROPERTIES_PER_FLAGS_WORD + bit;
      if (index >= specs.length) reader.syntaxError(`property flag ${index + 1} is set, but ${contentClass.name} has ${specs.length} properties`);
      present.push(index);
    }
    word++;
  } while ((flags & 1) === 1);
  for (const index of present) {
    const spec = specs[index]!;
    properties[spec.key] = readField(reader, spec);
  }
  if (reader.remaining() !== 0) reader.frameError(`${reader.remaining()} bytes follow the last property of the content header`);
  return { classId, bodySize, properties: properties as BasicProperties };
}
