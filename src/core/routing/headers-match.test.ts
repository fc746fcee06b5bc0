import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '../../lib/ferry-error.js';
import type { HeaderTable } from './header-value.js';
import { HeadersMatch } from './headers-match.js';

function matches(bindingArguments: HeaderTable, headers: HeaderTable): boolean {
  return HeadersMatch.compile(bindingArguments).matches(headers);
}

test('without x-match a binding requires every argument, like x-match all', () => {
  const binding = { format: 'pdf', type: 'report' };
  assert.equal(HeadersMatch.compile(binding).kind, 'all');
  assert.equal(matches(binding, { format: 'pdf', type: 'report', extra: 1 }), true);
  assert.equal(matches(binding, { format: 'pdf' }), false);
  assert.equal(matches(binding, { format: 'pdf', type: 'log' }), false);
  assert.equal(matches(binding, {}), false);
});

test('x-match any needs one argument to match', () => {
  const binding = { 'x-match': 'any', format: 'pdf', type: 'report' };
  assert.equal(matches(binding, { format: 'zip', type: 'report' }), true);
  assert.equal(matches(binding, { format: 'pdf' }), true);
  assert.equal(matches(binding, { format: 'zip', type: 'log' }), false);
  assert.equal(matches(binding, {}), false);
});

test('all and any ignore binding arguments starting with x-', () => {
  assert.equal(matches({ 'x-match': 'all', 'x-tenant': 'eu', format: 'pdf' }, { format: 'pdf' }), true);
  assert.equal(matches({ 'x-match': 'any', 'x-tenant': 'eu' }, { 'x-tenant': 'eu' }), false);
  assert.equal(HeadersMatch.compile({ 'x-match': 'all', 'x-tenant': 'eu', format: 'pdf' }).conditionCount, 1);
});

test('all-with-x and any-with-x include x- arguments, but never x-match itself', () => {
  assert.equal(matches({ 'x-match': 'all-with-x', 'x-tenant': 'eu', format: 'pdf' }, { format: 'pdf' }), false);
  assert.equal(matches({ 'x-match': 'all-with-x', 'x-tenant': 'eu', format: 'pdf' }, { format: 'pdf', 'x-tenant': 'eu' }), true);
  assert.equal(matches({ 'x-match': 'any-with-x', 'x-tenant': 'eu', format: 'pdf' }, { 'x-tenant': 'eu' }), true);
  assert.equal(matches({ 'x-match': 'any-with-x', 'x-tenant': 'eu' }, { 'x-tenant': 'us' }), false);
  // The message need not carry x-match for the binding's x-match to be satisfied.
  assert.equal(matches({ 'x-match': 'all-with-x' }, {}), true);
  assert.equal(HeadersMatch.compile({ 'x-match': 'all-with-x', 'x-tenant': 'eu' }).conditionCount, 1);
});

test('all with no conditions matches every message and any with none matches no message', () => {
  assert.equal(matches({}, {}), true);
  assert.equal(matches({ 'x-match': 'all', 'x-ignored': 1 }, { anything: 1 }), true);
  assert.equal(matches({ 'x-match': 'any' }, { anything: 1 }), false);
  assert.equal(matches({ 'x-match': 'any-with-x' }, { 'x-match': 'any-with-x' }), false);
});

test('a null binding argument asks only that the header be present', () => {
  assert.equal(matches({ trace: null }, { trace: 'abc' }), true);
  assert.equal(matches({ trace: null }, { trace: null }), true);
  assert.equal(matches({ trace: null }, { trace: false }), true);
  assert.equal(matches({ trace: null }, {}), false);
  assert.equal(matches({ 'x-match': 'any', trace: null, format: 'pdf' }, { trace: 0 }), true);
  // A non-null argument is not satisfied by a void header.
  assert.equal(matches({ trace: 'abc' }, { trace: null }), false);
});

test('values are compared with type-aware equality', () => {
  assert.equal(matches({ count: 1 }, { count: '1' }), false);
  assert.equal(matches({ count: 1 }, { count: 1n }), true);
  assert.equal(matches({ flag: true }, { flag: 1 }), false);
  assert.equal(matches({ id: new Uint8Array([1, 2]) }, { id: new Uint8Array([1, 2]) }), true);
  assert.equal(matches({ id: new Uint8Array([1, 2]) }, { id: '\u0001\u0002' }), false);
  assert.equal(matches({ tags: ['a', 'b'] }, { tags: ['a', 'b'] }), true);
  assert.equal(matches({ tags: ['a', 'b'] }, { tags: ['b', 'a'] }), false);
});

test('inherited properties of the headers object do not count as headers', () => {
  assert.equal(matches({ constructor: null }, {}), false);
  assert.equal(matches({ 'x-match': 'any', toString: null, hasOwnProperty: null }, {}), false);
});

test('an x-match value other than the four kinds is refused with INVALID_BINDING_ARGUMENTS', () => {
  for (const value of ['ALL', 'some', '', 1, true, null, new Uint8Array([97, 108, 108])]) {
    assert.throws(
      () => HeadersMatch.compile({ 'x-match': value }),
      (error: unknown) => isFerryError(error, 'INVALID_BINDING_ARGUMENTS'),
      `x-match ${String(value)}`,
    );
  }
});
