import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeEnvelope, encodeMessage, messageRecordFieldBytes, writeMessageRecords } from './message-codec.js';
import { MemoryLogStore } from '../../storage/memory-log-store.js';
import { ManualClock } from '../../platform/clock.js';
import type { StoredMessage } from './message.js';
import type { StoredRecord } from '../ports.js';
import { decodeBatch, encodeBatch } from '../../storage/record-batch.js';

function roundTrip(message: StoredMessage): StoredMessage {
  // Through the storage's own record encoding: the routing key goes as text (keyText) and comes back as bytes.
  const stored = decodeBatch(encodeBatch([encodeMessage(message)], 7, 0)).records[0]!;
  assert.equal(stored.offset, 7);
  return decodeMessage(stored);
}

const base: StoredMessage = { exchange: 'ex', routingKey: 'a.b', properties: {}, headers: {}, body: new Uint8Array([1, 2, 3]), persistent: true, arrivedAtMs: 1_700_000_000_123 };

test('a message with every property round-trips through its stored record', () => {
  const message: StoredMessage = {
    ...base,
    exchange: 'échange',
    routingKey: 'clé.ü',
    persistent: false,
    properties: {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      messageId: 'id-ß-1',
      correlationId: 'c',
      replyTo: 'r',
      timestampMs: 1234,
      expirationMs: 60_000,
      priority: 7,
      type: 't',
      userId: 'u',
      appId: 'a',
      groupId: 'g',
      delayMs: 5,
    },
  };
  assert.deepEqual(roundTrip(message), message);
});

test('headers of every neutral type round-trip, and an empty message stays empty', () => {
  const message: StoredMessage = {
    ...base,
    properties: { messageId: 'm' },
    headers: { s: 'text', n: 1.5, i: 42, b: true, z: null, big: 2n ** 60n, bytes: new Uint8Array([9]), list: [1, 'two', [false]], table: { nested: { x: 'y' } } },
  };
  assert.deepEqual(roundTrip(message), message);
  const empty: StoredMessage = { ...base, routingKey: '', exchange: '', body: new Uint8Array(0) };
  assert.deepEqual(roundTrip(empty), empty);
});

test('a record without an envelope is CORRUPT_DATA', () => {
  assert.throws(() => decodeMessage({ offset: 1, timestampMs: 0, key: null, value: new Uint8Array(0), headers: [] }), (error: { code?: string }) => error.code === 'CORRUPT_DATA');
});

test('persistence left unsaid by the publisher, and a stream key, survive the stored record', () => {
  const implicit = roundTrip({ ...base, persistent: false, persistenceImplicit: true });
  assert.equal(implicit.persistent, false);
  assert.equal(implicit.persistenceImplicit, true);
  const stated = roundTrip({ ...base, persistent: false });
  assert.equal(stated.persistenceImplicit, undefined, 'an explicit transient message stays explicit (the plain-envelope cache keeps them apart)');
  const keyed = roundTrip({ ...base, properties: { key: new Uint8Array([0, 255, 7]) } });
  assert.deepEqual([...keyed.properties.key!], [0, 255, 7]);
});

test('an empty headers table the publisher gave survives the stored record; none given stays none', () => {
  const given = roundTrip({ ...base, emptyHeadersTable: true });
  assert.equal(given.emptyHeadersTable, true);
  assert.deepEqual(given.headers, {});
  assert.equal(roundTrip(base).emptyHeadersTable, undefined, 'the plain-envelope cache keeps the two apart');
  const withProperties = roundTrip({ ...base, properties: { messageId: 'm' }, emptyHeadersTable: true });
  assert.equal(withProperties.emptyHeadersTable, true);
});

test('the AMQP header table of a message survives the stored record, with or without neutral headers', () => {
  const amqpHeaderTable = new Uint8Array([0, 0, 0, 3, 1, 120, 98]);
  const withHeaders = roundTrip({ ...base, headers: { x: 1 }, amqpHeaderTable });
  assert.deepEqual(withHeaders.amqpHeaderTable, amqpHeaderTable);
  assert.deepEqual(withHeaders.headers, { x: 1 });
  const alone = roundTrip({ ...base, amqpHeaderTable });
  assert.deepEqual(alone.amqpHeaderTable, amqpHeaderTable);
  assert.equal(roundTrip({ ...base, headers: { x: 1 } }).amqpHeaderTable, undefined);
});

test('BCC routing keys survive the stored record beside the envelope, which does not carry them', () => {
  const withBcc = { ...base, bccRoutingKeys: ['hidden', 'ünïcode'] };
  assert.deepEqual(roundTrip(withBcc).bccRoutingKeys, ['hidden', 'ünïcode']);
  assert.equal(roundTrip(base).bccRoutingKeys, undefined);
  assert.deepEqual(encodeMessage(withBcc).headers![0]!.value, encodeEnvelope(base), 'deliveries carry the envelope: no BCC there');
  const record = encodeMessage(withBcc);
  const damaged: StoredRecord = { offset: 3, timestampMs: 0, key: null, value: record.value, headers: [record.headers![0]!, { name: 'b', value: new Uint8Array([2, 0, 0, 0, 9]) }] };
  assert.throws(() => decodeMessage(damaged), (error: { code?: string; message?: string }) => error.code === 'CORRUPT_DATA' && /record 3: BCC routing keys/.test(error.message ?? ''));
});

test('batches written record by record keep BCC keys on their own records only', async () => {
  const store = new MemoryLogStore({ clock: new ManualClock() });
  const log = await store.openLog('stream');
  const messages = [base, { ...base, bccRoutingKeys: ['k3'] }, base, base];
  const batch = log.newBatch(messages.length, messages.length, messageRecordFieldBytes(messages));
  writeMessageRecords(batch, messages);
  await log.appendBatch(batch);
  const back = (await log.read(0)).map(decodeMessage);
  assert.deepEqual(back.map((message) => message.bccRoutingKeys), [undefined, ['k3'], undefined, undefined]);
  assert.deepEqual(back.map((message) => [...message.body]), messages.map((message) => [...message.body]));
  await store.close();
});

test('a message that came with its envelope is stored with those bytes, not encoded again', () => {
  const fields = { exchange: 'ex', properties: { correlationId: 'c-1', replyTo: 'replies' }, headers: {}, persistent: false };
  const envelope = encodeEnvelope(fields);
  const message: StoredMessage = { ...base, ...fields, envelope };
  const record = encodeMessage(message);
  assert.equal(record.headers![0]!.value, envelope, 'the same bytes');
  const { envelope: _given, ...expected } = message;
  assert.deepEqual(roundTrip(message), expected, 'and read back as the same message');
});

test('text fields of every length up to 40, ASCII or not, round-trip (short ASCII is decoded by hand)', () => {
  // Lengths around the hand decoder's 32-byte limit, long then short, so a reused buffer cannot leak characters.
  for (const length of [40, 33, 32, 31, 17, 1, 0, 2, 32, 5]) {
    const ascii = Array.from({ length }, (_, i) => String.fromCharCode(33 + ((i * 7 + length) % 94))).join('');
    const accented = length === 0 ? '' : `${ascii.slice(0, length - 1)}é`;
    for (const text of [ascii, accented]) {
      const message: StoredMessage = { ...base, exchange: text, routingKey: text, properties: { messageId: text, correlationId: `${text}!` } };
      assert.deepEqual(roundTrip(message), message, `text of ${text.length} characters: ${text}`);
    }
  }
});
