import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type HeaderValue, headerValueEquals } from './header-value.js';

test('values of different types are never equal, even when they print alike', () => {
  const pairs: ReadonlyArray<readonly [HeaderValue, HeaderValue]> = [
    ['1', 1],
    ['true', true],
    [true, 1],
    [false, 0],
    [null, 0],
    [null, ''],
    ['abc', new TextEncoder().encode('abc')],
    [[], {}],
    [[1], { 0: 1 }],
    [new Uint8Array([1]), [1]],
  ];
  for (const [left, right] of pairs) {
    assert.equal(headerValueEquals(left, right), false, `${String(left)} vs ${String(right)}`);
    assert.equal(headerValueEquals(right, left), false, `${String(right)} vs ${String(left)}`);
  }
});

test('numbers compare by mathematical value across number and bigint', () => {
  assert.equal(headerValueEquals(5, 5n), true);
  assert.equal(headerValueEquals(5n, 5), true);
  assert.equal(headerValueEquals(5, 5.0), true);
  assert.equal(headerValueEquals(5.5, 5n), false);
  assert.equal(headerValueEquals(0, -0), true);
  assert.equal(headerValueEquals(Number.NaN, Number.NaN), true);
  assert.equal(headerValueEquals(Number.NaN, 0), false);
  // 2^53 + 1 is not representable as a number; it must not be rounded into equality.
  assert.equal(headerValueEquals(2 ** 53, 2n ** 53n + 1n), false);
  assert.equal(headerValueEquals(2 ** 53, 2n ** 53n), true);
});

test('byte arrays are equal when their bytes are, whatever their buffer', () => {
  const backing = new Uint8Array([9, 1, 2, 3, 9]);
  assert.equal(headerValueEquals(backing.subarray(1, 4), new Uint8Array([1, 2, 3])), true);
  assert.equal(headerValueEquals(Buffer.from([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
  assert.equal(headerValueEquals(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])), false);
  assert.equal(headerValueEquals(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])), false);
});

test('arrays compare element by element in order', () => {
  assert.equal(headerValueEquals([1, 'a', [true]], [1n, 'a', [true]]), true);
  assert.equal(headerValueEquals([1, 2], [2, 1]), false);
  assert.equal(headerValueEquals([1], [1, 1]), false);
});

test('tables compare by own keys and values, ignoring key order', () => {
  assert.equal(headerValueEquals({ a: 1, b: { c: 'x' } }, { b: { c: 'x' }, a: 1 }), true);
  assert.equal(headerValueEquals({ a: 1 }, { a: 1, b: 2 }), false);
  assert.equal(headerValueEquals({ a: 1, b: 2 }, { a: 1, c: 2 }), false);
  assert.equal(headerValueEquals({ a: null }, { b: null }), false);
  // An inherited property is not a key of the table.
  assert.equal(headerValueEquals({ toString: 'x' }, Object.create({ toString: 'x' }) as Record<string, HeaderValue>), false);
});

const headerValues: fc.Arbitrary<HeaderValue> = fc.letrec<{ value: HeaderValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 3 }),
    fc.double(),
    fc.bigInt({ min: -3n, max: 3n }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 3 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 2 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

test('equality is reflexive and symmetric for arbitrary values', () => {
  fc.assert(
    fc.property(headerValues, headerValues, (left, right) => {
      assert.equal(headerValueEquals(left, left), true);
      assert.equal(headerValueEquals(left, right), headerValueEquals(right, left));
    }),
    { numRuns: 500 },
  );
});
