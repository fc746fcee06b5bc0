import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { encodeEnvelope, MESSAGE_ENVELOPE_HEADER } from '../message/message-codec.js';
import type { RecordInput } from '../ports.js';
import { testPasswordHasher, withCode } from '../test-broker.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Records as the native protocol hands them over: routing key bytes, body, envelope header. */
function records(bodies: readonly string[], properties: Record<string, unknown> = {}): RecordInput[] {
  const envelope = encodeEnvelope({ exchange: '', properties, headers: { origin: 'test' }, persistent: true });
  return bodies.map((body) => ({ timestampMs: 5_000, key: encoder.encode('events'), value: encoder.encode(body), headers: [{ name: MESSAGE_ENVELOPE_HEADER, value: envelope }] }));
}

async function broker(t: { after(fn: () => Promise<void>): void }, messageBytesMax?: number): Promise<Broker> {
  const started = await Broker.start({ memory: true, clock: new ManualClock(), passwordHasher: testPasswordHasher, ...(messageBytesMax ? { limits: { messageBytesMax } } : {}) });
  t.after(() => started.close());
  return started;
}

test('appendRecords stores pre-encoded records that read back as the messages they encode', async (t) => {
  const ferry = await broker(t);
  const stream = await ferry.declareStream('events');
  const result = await stream.appendRecords(0, records(['a', 'b'], { messageId: 'm-1' }));
  assert.deepEqual(result, { partition: 0, baseOffset: 0, lastOffset: 1, duplicate: false });
  const entries = await stream.read(0, 0);
  assert.deepEqual(
    entries.map((entry) => [decoder.decode(entry.message.body), entry.message.routingKey, entry.message.properties.messageId, entry.message.headers['origin'], entry.timestampMs]),
    [
      ['a', 'events', 'm-1', 'test', 5_000],
      ['b', 'events', 'm-1', 'test', 5_000],
    ],
  );
});

test('appendRecords is idempotent with a producer stamp: a retry answers the original offsets, a gap is SEQUENCE_GAP', async (t) => {
  const ferry = await broker(t);
  const stream = await ferry.declareStream('events');
  const producer = { producerId: 7, epoch: 0, sequence: 0 };
  assert.deepEqual(await stream.appendRecords(0, records(['a', 'b']), producer), { partition: 0, baseOffset: 0, lastOffset: 1, duplicate: false });
  assert.deepEqual(await stream.appendRecords(0, records(['a', 'b']), producer), { partition: 0, baseOffset: 0, lastOffset: 1, duplicate: true });
  await assert.rejects(stream.appendRecords(0, records(['d']), { ...producer, sequence: 5 }), withCode('SEQUENCE_GAP'));
  assert.equal(stream.endOffset(0), 2);
});

test('appendRecords refuses a body over the size limit and a partition the stream lacks, storing nothing', async (t) => {
  const ferry = await broker(t, 4);
  const stream = await ferry.declareStream('events', { partitions: 2 });
  await assert.rejects(stream.appendRecords(0, records(['ok', 'too long'])), withCode('MESSAGE_TOO_LARGE'));
  await assert.rejects(stream.appendRecords(2, records(['ok'])), withCode('PARTITION_NOT_FOUND'));
  assert.equal(stream.endOffset(0), 0);
});

test('partitionForKey hashes keys and spreads unkeyed messages in turn', async (t) => {
  const ferry = await broker(t);
  const stream = await ferry.declareStream('events', { partitions: 3 });
  const key = encoder.encode('customer-1');
  assert.equal(stream.partitionForKey(key), stream.partitionForKey(key));
  const spread = [stream.partitionForKey(undefined), stream.partitionForKey(undefined), stream.partitionForKey(undefined)];
  assert.deepEqual([...spread].sort(), [0, 1, 2]);
});
