import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type HeaderTable, type HeaderValue, headerValueEquals } from '../../../core/routing/header-value.js';
import { isFerryError } from '../../../lib/ferry-error.js';
import { isAmqpProtocolError } from './amqp-protocol-error.js';
import {
  type FieldTable,
  type FieldValue,
  decodeFieldArray,
  decodeFieldTable,
  encodeFieldArray,
  encodeFieldTable,
  fieldTableToHeaderTable,
  fieldValueToHeaderValue,
  headerTableToFieldTable,
  headerValueToFieldValue,
} from './field-table.js';
import { fieldTable, fieldValue } from './codec-arbitraries.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

// Each value's wire form, derived by hand from the type table (tag octet, then big-endian value).
const vectors: ReadonlyArray<readonly [string, FieldValue, string]> = [
  ['boolean', { type: 'boolean', value: true }, '74 01'],
  ['int8', { type: 'int8', value: -1 }, '62 ff'],
  ['uint8', { type: 'uint8', value: 200 }, '42 c8'],
  ['int16', { type: 'int16', value: -2 }, '73 ff fe'],
  ['uint16', { type: 'uint16', value: 65535 }, '75 ff ff'],
  ['int32', { type: 'int32', value: -1 }, '49 ff ff ff ff'],
  ['uint32', { type: 'uint32', value: 4294967295 }, '69 ff ff ff ff'],
  ['int64', { type: 'int64', value: -2n }, '6c ff ff ff ff ff ff ff fe'],
  ['float', { type: 'float', value: 1.5 }, '66 3f c0 00 00'],
  ['double', { type: 'double', value: 1.5 }, '64 3f f8 00 00 00 00 00 00'],
  ['decimal', { type: 'decimal', scale: 2, value: 12345 }, '44 02 00 00 30 39'],
  ['longstr', { type: 'longstr', value: utf8('hi') }, '53 00 00 00 02 68 69'],
  ['array', { type: 'array', value: [{ type: 'int8', value: 1 }, { type: 'void' }] }, '41 00 00 00 03 62 01 56'],
  ['timestamp', { type: 'timestamp', value: 1_700_000_000n }, '54 00 00 00 00 65 53 f1 00'],
  ['table', { type: 'table', value: new Map([['k', { type: 'void' }]]) }, '46 00 00 00 03 01 6b 56'],
  ['void', { type: 'void' }, '56'],
  ['bytes', { type: 'bytes', value: new Uint8Array([1, 2]) }, '78 00 00 00 02 01 02'],
];

test('every field value type encodes to its tagged wire form and decodes back with the same type', () => {
  for (const [name, value, valueHex] of vectors) {
    const valueBytes = hex(valueHex);
    // A one-entry table: length, then name "v" as a shortstr, then the tagged value.
    const expected = new Uint8Array([0, 0, 0, 2 + valueBytes.byteLength, 1, 0x76, ...valueBytes]);
    const table: FieldTable = new Map([['v', value]]);
    assert.equal(toHex(encodeFieldTable(table)), toHex(expected), name);
    assert.deepEqual(decodeFieldTable(expected), table, name);
  }
});

test('a neutral table encodes as documented: integers as I, strings as S', () => {
  assert.equal(toHex(encodeFieldTable({ a: 1, b: 'x' })), '0000000f' + '0161' + '4900000001' + '0162' + '530000000178');
});

test('typed field tables round-trip exactly, bytes and types', () => {
  fc.assert(
    fc.property(fieldTable, (table) => {
      const bytes = encodeFieldTable(table);
      const decoded = decodeFieldTable(bytes);
      assert.deepEqual(decoded, table);
      assert.equal(toHex(encodeFieldTable(decoded)), toHex(bytes));
    }),
    { numRuns: 300 },
  );
});

test('field arrays round-trip exactly', () => {
  fc.assert(
    fc.property(fc.array(fieldValue, { maxLength: 6 }), (values) => {
      const bytes = encodeFieldArray(values);
      assert.deepEqual(decodeFieldArray(bytes), values);
    }),
    { numRuns: 200 },
  );
});

test('neutral values become the documented wire types', () => {
  const cases: ReadonlyArray<readonly [HeaderValue, FieldValue['type']]> = [
    [1, 'int32'],
    [-(2 ** 31), 'int32'],
    [2 ** 31 - 1, 'int32'],
    [2 ** 31, 'int64'],
    [-(2 ** 31) - 1, 'int64'],
    [Number.MAX_SAFE_INTEGER, 'int64'],
    [2 ** 62, 'int64'],
    [2 ** 63, 'double'],
    [1.5, 'double'],
    [Number.NaN, 'double'],
    [Number.POSITIVE_INFINITY, 'double'],
    [5n, 'int64'],
    ['text', 'longstr'],
    [new Uint8Array([1]), 'bytes'],
    [true, 'boolean'],
    [null, 'void'],
    [[1, 'a'], 'array'],
    [{ nested: { deeper: 1 } }, 'table'],
  ];
  for (const [value, type] of cases) {
    assert.equal(headerValueToFieldValue(value).type, type, String(value));
    // The direct neutral encoder picks the same type as the conversion.
    assert.equal(toHex(encodeFieldTable({ v: value })), toHex(encodeFieldTable(new Map([['v', headerValueToFieldValue(value)]]))), String(value));
  }
});

test('a bigint outside the int64 range cannot be encoded', () => {
  for (const value of [1n << 63n, -(1n << 63n) - 1n]) {
    assert.throws(() => headerValueToFieldValue(value), (error) => isFerryError(error, 'INVALID_ARGUMENT'));
    assert.throws(() => encodeFieldTable({ v: value }), (error) => isFerryError(error, 'INVALID_ARGUMENT'));
  }
});

test('decoded values become neutral values by the documented rules', () => {
  const table: FieldTable = new Map<string, FieldValue>([
    ['small int64', { type: 'int64', value: -42n }],
    ['big int64', { type: 'int64', value: 1n << 60n }],
    ['timestamp', { type: 'timestamp', value: 1_700_000_000n }],
    ['decimal', { type: 'decimal', scale: 2, value: 12345 }],
    ['utf8 longstr', { type: 'longstr', value: utf8('héllo') }],
    ['binary longstr', { type: 'longstr', value: new Uint8Array([0xff, 0xfe]) }],
    ['bytes', { type: 'bytes', value: utf8('abc') }],
    ['void', { type: 'void' }],
    ['uint32', { type: 'uint32', value: 4_000_000_000 }],
    ['float', { type: 'float', value: 0.5 }],
    ['array', { type: 'array', value: [{ type: 'boolean', value: false }] }],
    ['table', { type: 'table', value: new Map([['x', { type: 'uint8', value: 7 }]]) }],
  ]);
  assert.deepEqual(fieldTableToHeaderTable(table), {
    'small int64': -42,
    'big int64': 1n << 60n,
    timestamp: 1_700_000_000,
    decimal: 123.45,
    'utf8 longstr': 'héllo',
    'binary longstr': new Uint8Array([0xff, 0xfe]),
    bytes: utf8('abc'),
    void: null,
    uint32: 4_000_000_000,
    float: 0.5,
    array: [false],
    table: { x: 7 },
  });
});

test('a table name __proto__ stays an ordinary key both ways', () => {
  const neutral = JSON.parse('{"__proto__": 1, "a": 2}') as HeaderTable;
  const decoded = fieldTableToHeaderTable(decodeFieldTable(encodeFieldTable(neutral)));
  assert.deepEqual(Object.keys(decoded), ['__proto__', 'a']);
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.equal(headerValueEquals(decoded, neutral), true);
  assert.deepEqual([...headerTableToFieldTable(neutral).keys()], ['__proto__', 'a']);
});

const neutralValue: fc.Arbitrary<HeaderValue> = fc.letrec<{ value: HeaderValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.double(),
    fc.integer(),
    fc.bigInt(-(1n << 63n), (1n << 63n) - 1n),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 10 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

test('neutral tables survive encoding and decoding with equal values', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 8 }), neutralValue, { maxKeys: 5 }), (table) => {
      const back = fieldTableToHeaderTable(decodeFieldTable(encodeFieldTable(table)));
      assert.ok(headerValueEquals(back, table), `${JSON.stringify(table, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
    }),
    { numRuns: 300 },
  );
});

test('a repeated name keeps its first value', () => {
  // Two entries named "a": int8 1, then int8 2.
  const bytes = hex('00000008 0161 6201 0161 6202');
  const table = decodeFieldTable(bytes);
  assert.deepEqual(table, new Map([['a', { type: 'int8', value: 1 }]]));
});

test('decoded byte values are copies, not views of the input', () => {
  const bytes = encodeFieldTable(new Map<string, FieldValue>([['b', { type: 'bytes', value: new Uint8Array([1, 2, 3]) }]]));
  const value = decodeFieldTable(bytes).get('b')!;
  bytes.fill(0);
  assert.deepEqual(value, { type: 'bytes', value: new Uint8Array([1, 2, 3]) });
});

function assertProtocolError(bytes: Uint8Array, replyCode: 501 | 502, pattern: RegExp): void {
  assert.throws(
    () => decodeFieldTable(bytes),
    (error) => isAmqpProtocolError(error, replyCode) && pattern.test(error.message),
  );
}

test('malformed tables fail with a protocol error naming the problem', () => {
  assertProtocolError(hex('00000003 0161 51'), 502, /unknown field value type 0x51 \('Q'\)/);
  assertProtocolError(hex('00000005 0161 49 0000'), 501, /truncated/);
  assertProtocolError(hex('000000ff 0161 56'), 501, /overruns/);
  assertProtocolError(hex('00000003 01ff 56'), 502, /not valid UTF-8/);
  assertProtocolError(hex('00000003 0161 56 00'), 501, /follow the field table/);
  assertProtocolError(hex('000000'), 501, /truncated/);
  // A value whose length points past the end of its table but not of the input.
  assertProtocolError(hex('00000007 0161 53 00000001 78'), 501, /truncated/);
});

test('nesting deeper than 64 levels is refused without exhausting the stack', () => {
  // 10 000 nested arrays: 5 bytes a level.
  const depth = 10_000;
  const bytes = new Uint8Array(4 + 2 + depth * 5);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, bytes.byteLength - 4);
  bytes[4] = 1;
  bytes[5] = 0x61;
  for (let level = 0; level < depth; level++) {
    const at = 6 + level * 5;
    bytes[at] = 0x41;
    view.setUint32(at + 1, bytes.byteLength - at - 5);
  }
  assertProtocolError(bytes, 502, /nest deeper than 64/);
});

test('encoding refuses values that do not fit, with the field named', () => {
  const tooLongName = 'n'.repeat(256);
  assert.throws(() => encodeFieldTable({ [tooLongName]: 1 }), (error) => isFerryError(error, 'INVALID_ARGUMENT') && /at most 255 bytes/.test(error.message));
  assert.throws(
    () => encodeFieldTable(new Map<string, FieldValue>([['small', { type: 'int8', value: 200 }]])),
    (error) => isFerryError(error, 'INVALID_ARGUMENT') && /small/.test(error.message),
  );
  const cyclic: Record<string, HeaderValue> = {};
  cyclic['self'] = cyclic;
  assert.throws(() => encodeFieldTable(cyclic), (error) => isFerryError(error, 'INVALID_ARGUMENT') && /cycle/.test(error.message));
  assert.throws(() => headerTableToFieldTable(cyclic), (error) => isFerryError(error, 'INVALID_ARGUMENT'));
});

test('a neutral value converted to a typed one and back is equal to it', () => {
  fc.assert(
    fc.property(neutralValue, (value) => {
      assert.ok(headerValueEquals(fieldValueToHeaderValue(headerValueToFieldValue(value)), value));
    }),
    { numRuns: 300 },
  );
});
