import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { encodeEnvelope, MESSAGE_ENVELOPE_HEADER } from '../message/message-codec.js';
import type { RecordBatchBuilder, RecordInput } from '../ports.js';
import type { Stream, StreamEntry } from './stream.js';
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

/** Writes `records` into a batch of `stream`'s `partition`, as the native protocol does (each field from one source buffer). */
function built(stream: Stream, partition: number, input: readonly RecordInput[]): RecordBatchBuilder {
  const batch = stream.newRecordBatch(partition, 0, 0, 0);
  for (const record of input) {
    const key = record.key!;
    const envelope = record.headers![0]!.value;
    const source = new Uint8Array(key.byteLength + envelope.byteLength + record.value.byteLength);
    source.set(key, 0);
    source.set(envelope, key.byteLength);
    source.set(record.value, key.byteLength + envelope.byteLength);
    batch.recordStart(record.timestampMs!, source, 0, key.byteLength, 1);
    batch.recordHeader(MESSAGE_ENVELOPE_HEADER, source, key.byteLength, envelope.byteLength);
    batch.recordEnd(source, key.byteLength + envelope.byteLength, record.value.byteLength);
  }
  return batch;
}

test('appendBatch stores a built batch that reads back exactly as appendRecords stores the same records', async (t) => {
  const ferry = await broker(t);
  const viaRecords = await ferry.declareStream('via-records');
  const viaBatch = await ferry.declareStream('via-batch');
  const input = records(['a', 'bb', ''], { messageId: 'm-2' });
  assert.deepEqual(await viaRecords.appendRecords(0, input), { partition: 0, baseOffset: 0, lastOffset: 2, duplicate: false });
  assert.deepEqual(await viaBatch.appendBatch(0, built(viaBatch, 0, input)), { partition: 0, baseOffset: 0, lastOffset: 2, duplicate: false });
  const describe = (entries: readonly StreamEntry[]) =>
    entries.map((entry) => [entry.offset, entry.timestampMs, decoder.decode(entry.message.body), entry.message.routingKey, entry.message.properties.messageId, entry.message.headers['origin']]);
  assert.deepEqual(describe(await viaBatch.read(0, 0)), describe(await viaRecords.read(0, 0)));
  assert.equal(viaBatch.counters.appended, 3);
});

test('appendBatch keeps the idempotence, size limit and partition checks of appendRecords', async (t) => {
  const ferry = await broker(t, 4);
  const stream = await ferry.declareStream('events', { partitions: 2 });
  const producer = { producerId: 9, epoch: 0, sequence: 0 };
  assert.deepEqual(await stream.appendBatch(1, built(stream, 1, records(['a', 'b'])), producer), { partition: 1, baseOffset: 0, lastOffset: 1, duplicate: false });
  assert.deepEqual(await stream.appendBatch(1, built(stream, 1, records(['a', 'b'])), producer), { partition: 1, baseOffset: 0, lastOffset: 1, duplicate: true });
  await assert.rejects(stream.appendBatch(1, built(stream, 1, records(['c'])), { ...producer, sequence: 7 }), withCode('SEQUENCE_GAP'));
  await assert.rejects(stream.appendBatch(1, built(stream, 1, records(['c'])), { ...producer, epoch: -1 }), withCode('PRODUCER_FENCED'));
  await assert.rejects(stream.appendBatch(0, built(stream, 0, records(['ok', 'too long']))), withCode('MESSAGE_TOO_LARGE'));
  assert.throws(() => stream.newRecordBatch(2, 1, 1, 1), withCode('PARTITION_NOT_FOUND'));
  assert.deepEqual(await stream.appendBatch(0, stream.newRecordBatch(0, 0, 0, 0)), { partition: 0, baseOffset: 0, lastOffset: -1, duplicate: false }, 'an empty batch stores nothing');
  assert.deepEqual([stream.endOffset(0), stream.endOffset(1)], [0, 2]);
});

test('partitionForKey hashes keys and spreads unkeyed messages in turn', async (t) => {
  const ferry = await broker(t);
  const stream = await ferry.declareStream('events', { partitions: 3 });
  const key = encoder.encode('customer-1');
  assert.equal(stream.partitionForKey(key), stream.partitionForKey(key));
  const spread = [stream.partitionForKey(undefined), stream.partitionForKey(undefined), stream.partitionForKey(undefined)];
  assert.deepEqual([...spread].sort(), [0, 1, 2]);
});
