import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FieldTable, FieldValue } from './codec/field-table.js';
import { isFerryError } from '../../lib/ferry-error.js';
import { expirationMs, fromBasicProperties, toBasicProperties } from './message-properties.js';

test('an empty headers table given is kept and delivered; none given delivers none', () => {
  const given = fromBasicProperties({ deliveryMode: 2, headers: new Map() });
  assert.equal(given.emptyHeadersTable, true);
  assert.equal((toBasicProperties(given).headers as FieldTable | undefined)?.size, 0);
  const none = fromBasicProperties({ deliveryMode: 2 });
  assert.equal(none.emptyHeadersTable, false);
  assert.equal(toBasicProperties(none).headers, undefined);
  const withProperties = fromBasicProperties({ messageId: 'm', headers: new Map() });
  assert.equal(withProperties.emptyHeadersTable, true);
  assert.equal((toBasicProperties(withProperties).headers as FieldTable | undefined)?.size, 0);
  assert.equal(toBasicProperties(withProperties).messageId, 'm');
});

test("x-death entries are typed as RabbitMQ writes them: count a long long, time a timestamp", () => {
  const headers = {
    other: 5,
    'x-death': [
      { count: 2, reason: 'rejected', queue: 'q', time: 1_700_000_000, exchange: '', 'routing-keys': ['q'] },
      { count: 1, exchange: 'x', queue: 'p', reason: 'expired', 'routing-keys': ['k'], time: 1_600_000_000 },
    ],
  };
  const basic = toBasicProperties({ properties: {}, headers, persistent: true });
  const table = basic.headers as FieldTable;
  assert.deepEqual(table.get('other'), { type: 'int32', value: 5 }, 'other numbers keep the general mapping');
  const deaths = table.get('x-death') as Extract<FieldValue, { type: 'array' }>;
  assert.equal(deaths.type, 'array');
  assert.equal(deaths.value.length, 2);
  const first = (deaths.value[0] as Extract<FieldValue, { type: 'table' }>).value;
  assert.deepEqual(first.get('count'), { type: 'int64', value: 2n });
  assert.deepEqual(first.get('time'), { type: 'timestamp', value: 1_700_000_000n });
  assert.deepEqual([...first.keys()], ['count', 'reason', 'queue', 'time', 'exchange', 'routing-keys'], 'the order the core gave');
  const second = (deaths.value[1] as Extract<FieldValue, { type: 'table' }>).value;
  assert.deepEqual(second.get('time'), { type: 'timestamp', value: 1_600_000_000n });
});

test('headers keep the value types the publisher gave them (long, byte, float, timestamp, decimal, nested), also stored and read back', () => {
  const published: FieldTable = new Map<string, FieldValue>([
    ['long', { type: 'int64', value: 5n }],
    ['byte', { type: 'int8', value: -3 }],
    ['float', { type: 'float', value: 1.5 }],
    ['when', { type: 'timestamp', value: 1_700_000_000n }],
    ['price', { type: 'decimal', scale: 2, value: 12345 }],
    ['nested', { type: 'table', value: new Map<string, FieldValue>([['short', { type: 'int16', value: 7 }]]) }],
    ['text', { type: 'longstr', value: new TextEncoder().encode('t') }],
  ]);
  const mapped = fromBasicProperties({ deliveryMode: 2, headers: published });
  assert.ok(mapped.amqpHeaderTable, 'the typed table is kept');
  const delivered = toBasicProperties(mapped).headers as FieldTable;
  assert.deepEqual([...delivered], [...published]);
  // What the core does to headers: a header added (a dead-letter record), one removed, one changed.
  const { text: _removed, ...rest } = mapped.headers;
  const changedHeaders = { ...rest, byte: 4, 'x-death': [{ count: 1, reason: 'rejected', queue: 'q', time: 1_700_000_001, exchange: '', 'routing-keys': ['q'] }] };
  const redelivered = toBasicProperties({ ...mapped, headers: changedHeaders }).headers as FieldTable;
  assert.deepEqual([...redelivered.keys()], ['long', 'byte', 'float', 'when', 'price', 'nested', 'x-death']);
  assert.deepEqual(redelivered.get('long'), { type: 'int64', value: 5n }, 'unchanged: as published');
  assert.deepEqual(redelivered.get('price'), { type: 'decimal', scale: 2, value: 12345 });
  assert.deepEqual(redelivered.get('byte'), { type: 'int32', value: 4 }, 'changed: typed by its new value');
  assert.equal(redelivered.get('x-death')?.type, 'array');
});

test('BCC is left out of the kept table too', () => {
  const mapped = fromBasicProperties({
    headers: new Map<string, FieldValue>([
      ['BCC', { type: 'array', value: [{ type: 'longstr', value: new TextEncoder().encode('k') }] }],
      ['n', { type: 'int64', value: 1n }],
    ]),
  });
  assert.deepEqual(mapped.extraRoutingKeys, ['k']);
  assert.deepEqual([...(toBasicProperties(mapped).headers as FieldTable).keys()], ['n']);
  assert.deepEqual((toBasicProperties(mapped).headers as FieldTable).get('n'), { type: 'int64', value: 1n });
});

test('a table the neutral headers give back unchanged (as amqplib sends plain values) is not kept; bytes that are no table fall back to typing by value', () => {
  const plain = fromBasicProperties({
    headers: new Map<string, FieldValue>([
      ['s', { type: 'longstr', value: new TextEncoder().encode('text') }],
      ['n', { type: 'int32', value: 5 }],
      ['b', { type: 'boolean', value: true }],
      ['nested', { type: 'table', value: new Map<string, FieldValue>([['d', { type: 'double', value: 1.5 }]]) }],
    ]),
  });
  assert.equal(plain.amqpHeaderTable, undefined);
  const garbage = toBasicProperties({ properties: {}, headers: { n: 5 }, persistent: false, amqpHeaderTable: new Uint8Array([0, 0, 0, 9, 1]) });
  assert.deepEqual([...(garbage.headers as FieldTable)], [['n', { type: 'int32', value: 5 }]]);
});

test('expiration is read as RabbitMQ reads it, and refused with its reasons', () => {
  assert.equal(expirationMs('60000'), 60_000);
  assert.equal(expirationMs('+5'), 5, 'a sign is allowed');
  assert.equal(expirationMs('0'), 0);
  assert.equal(expirationMs('99999999999999999999'), Number.MAX_SAFE_INTEGER, 'beyond 2^53 ms: never');
  const reason = (text: string) => {
    try {
      expirationMs(text);
    } catch (error) {
      assert.ok(isFerryError(error, 'PRECONDITION_FAILED'));
      return (error as Error).message;
    }
    return assert.fail(`${text} was accepted`);
  };
  assert.match(reason('abc'), /invalid expiration 'abc': no_integer$/);
  assert.match(reason(''), /invalid expiration '': no_integer$/);
  assert.match(reason('-1'), /invalid expiration '-1': \{value_negative,-1\}$/);
  assert.match(reason('-01'), /invalid expiration '-01': \{value_negative,-1\}$/, 'the number, as Erlang prints it');
  assert.match(reason('1.5'), /invalid expiration '1.5': \{leftover_string,"\.5"\}$/);
  assert.match(reason('10 '), /\{leftover_string," "\}$/);
});
