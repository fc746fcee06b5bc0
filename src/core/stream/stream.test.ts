import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { SimulatedFileSystem } from '../../platform/simulated-file-system.js';
import { SeededRandom } from '../../platform/random.js';
import { bodyText, settle, settleUntil, testPasswordHasher, withCode } from '../test-broker.js';
import { partitionForKey } from '../../lib/partitioner.js';
import type { StoredMessage } from '../message/message.js';

const encoder = new TextEncoder();

function memoryBroker(clock = new ManualClock()): Promise<Broker> {
  return Broker.start({ memory: true, clock, passwordHasher: testPasswordHasher });
}

function simulatedBroker(fileSystem: SimulatedFileSystem, clock = new ManualClock()): Promise<Broker> {
  return Broker.start({ dataDir: 'data', fileSystem, clock, passwordHasher: testPasswordHasher });
}

const texts = (entries: ReadonlyArray<{ message: { body: Uint8Array } }>) => entries.map((entry) => bodyText(entry.message as never));

test('a stream keeps every message for every reader: reads replay from first, next, last and an offset', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('events');
  await broker.appendToStream('events', ['a', 'b', 'c'].map((body) => ({ body })));
  assert.deepEqual(texts(await broker.readStream('events', { from: 'first' })), ['a', 'b', 'c']);
  // Reading does not consume: a second reader sees the same.
  assert.deepEqual(texts(await broker.readStream('events', { from: 0 })), ['a', 'b', 'c']);
  assert.deepEqual(texts(await broker.readStream('events', { from: 'last' })), ['c']);
  assert.deepEqual(texts(await broker.readStream('events', { from: 'next' })), []);
  assert.deepEqual(texts(await broker.readStream('events', { from: { offset: 1 }, max: 1 })), ['b']);
  const entries = await broker.readStream('events');
  assert.deepEqual(entries.map((entry) => entry.offset), [0, 1, 2]);
});

test('a record cursor walks the messages a read returns, in place, within the same limits', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('walked');
  await broker.appendToStream('walked', ['a', 'b', 'c', 'd'].map((body) => ({ body })));
  const stream = broker.vhost().stream('walked');
  const readBefore = stream.counters.read;
  const cursor = await stream.readCursor(0, 1, { max: 2 });
  assert.deepEqual([cursor.count, cursor.lastOffset], [2, 2]);
  const walked: string[] = [];
  while (cursor.next()) walked.push(`${cursor.offset}:${new TextDecoder().decode(cursor.bytes.subarray(cursor.valueStart, cursor.valueEnd))}`);
  assert.deepEqual(walked, ['1:b', '2:c']);
  assert.equal(stream.counters.read - readBefore, 2, 'walked messages count as read');
  const atEnd = await stream.readCursor(0, 4);
  assert.deepEqual([atEnd.count, atEnd.lastOffset, atEnd.next()], [0, undefined, false]);
});

test('replay from a timestamp starts at the first message at or after it', async (t) => {
  const clock = new ManualClock(1_000_000);
  const broker = await memoryBroker(clock);
  t.after(() => broker.close());
  await broker.declareStream('ticks');
  for (const body of ['t0', 't1', 't2', 't3']) {
    await broker.appendToStream('ticks', { body });
    clock.advance(1_000);
  }
  assert.deepEqual(texts(await broker.readStream('ticks', { from: { timestampMs: 1_002_000 } })), ['t2', 't3']);
  assert.deepEqual(texts(await broker.readStream('ticks', { from: { timestampMs: 9_000_000 } })), []);
});

test('a reader waiting at the end gets the next message as soon as it is appended', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('live');
  const waiting = broker.readStream('live', { from: 'next', waitMs: 60_000 });
  await settle();
  await broker.appendToStream('live', { body: 'hello' });
  assert.deepEqual(texts(await waiting), ['hello']);
});

test('keyed messages go to the partition their key hashes to; unkeyed ones spread round-robin', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('orders', { partitions: 4 });
  const key = encoder.encode('customer-42');
  const expected = partitionForKey(key, 4);
  const results = await broker.appendToStream('orders', [1, 2, 3].map((index) => ({ body: `k${index}`, properties: { key } })));
  assert.deepEqual(results.map((result) => result.partition), [expected]);
  assert.deepEqual(texts(await broker.readStream('orders', { partition: expected })), ['k1', 'k2', 'k3'], 'order holds within the partition');
  const keyRead = (await broker.readStream('orders', { partition: expected }))[0]!.message.properties.key!;
  assert.deepEqual([...keyRead], [...key], 'the key is kept with the message');
  const spread = await broker.appendToStream('orders', [1, 2, 3, 4].map((index) => ({ body: `u${index}` })));
  assert.deepEqual(spread.map((result) => result.partition).sort(), [0, 1, 2, 3]);
  await assert.rejects(broker.readStream('orders', { partition: 4 }), withCode('PARTITION_NOT_FOUND'));
});

test('an exchange routes into streams and queues alike: one fanout publish lands in both', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('audit');
  await broker.declareQueue('work');
  await broker.declareExchange('fan', { type: 'fanout' });
  await broker.bind('fan', 'audit');
  await broker.bind('fan', 'work');
  await broker.publish('fan', { body: 'both', headers: { origin: 'test' } });
  await broker.publish('', { body: 'direct', routingKey: 'audit' });
  const entries = await broker.readStream('audit');
  assert.deepEqual(texts(entries), ['both', 'direct']);
  assert.equal(entries[0]!.message.headers['origin'], 'test');
  assert.equal(entries[0]!.message.exchange, 'fan');
  assert.deepEqual((await broker.get('work', { max: 5 })).map((delivery) => bodyText(delivery)), ['both']);
});

test('streams and queues share one namespace; redeclaring with other settings is refused', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('s', { partitions: 2 });
  await broker.declareQueue('q');
  await assert.rejects(broker.declareQueue('s'), withCode('PRECONDITION_FAILED'));
  await assert.rejects(broker.declareStream('q'), withCode('PRECONDITION_FAILED'));
  await assert.rejects(broker.declareStream('s', { partitions: 3 }), withCode('PRECONDITION_FAILED'));
  await broker.declareStream('s', { partitions: 2 });
  await assert.rejects(broker.declareStream('bad', { partitions: 0 }), withCode('INVALID_ARGUMENT'));
  await assert.rejects(broker.readStream('missing'), withCode('STREAM_NOT_FOUND'));
});

test('a message larger than the stream limit is refused with MESSAGE_TOO_LARGE', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('small', { messageBytesMax: 8 });
  await assert.rejects(broker.appendToStream('small', { body: 'way too long' }), withCode('MESSAGE_TOO_LARGE'));
  await broker.appendToStream('small', { body: 'fits' });
  assert.deepEqual(texts(await broker.readStream('small')), ['fits']);
});

test('retention by message count deletes whole old segments; readers start at the new first offset', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('short', { retentionMessages: 20, segmentBytesMax: 1_024 });
  for (let index = 0; index < 200; index++) await broker.appendToStream('short', { body: `m${index}`.padEnd(60, '.') });
  const stream = broker.vhost().stream('short');
  await (broker as unknown as { logStore: { applyRetention(): Promise<void> } }).logStore.applyRetention();
  const first = stream.startOffset(0);
  assert.ok(first > 0 && 200 - first >= 20 && 200 - first < 60, `retention kept ${200 - first} messages`);
  const entries = await broker.readStream('short', { from: 0, max: 1_000 });
  assert.equal(entries[0]!.offset, first);
  assert.equal(entries.length, 200 - first);
});

test('idempotent appends: a retried batch is stored once, a gap and an old epoch are refused', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('payments');
  const producer = (sequence: number, epoch = 0) => ({ producerId: 7, epoch, sequence });
  const first = await broker.appendToStream('payments', [{ body: 'p0' }, { body: 'p1' }], { producer: producer(0) });
  assert.deepEqual(first, [{ partition: 0, baseOffset: 0, lastOffset: 1, duplicate: false }]);
  const retry = await broker.appendToStream('payments', [{ body: 'p0' }, { body: 'p1' }], { producer: producer(0) });
  assert.deepEqual(retry, [{ partition: 0, baseOffset: 0, lastOffset: 1, duplicate: true }]);
  await broker.appendToStream('payments', { body: 'p2' }, { producer: producer(2) });
  await assert.rejects(broker.appendToStream('payments', { body: 'p9' }, { producer: producer(9) }), withCode('SEQUENCE_GAP'));
  // A new epoch fences the old one and restarts the sequence.
  await broker.appendToStream('payments', { body: 'e1' }, { producer: producer(0, 1) });
  await assert.rejects(broker.appendToStream('payments', { body: 'old' }, { producer: producer(3, 0) }), withCode('PRODUCER_FENCED'));
  assert.deepEqual(texts(await broker.readStream('payments')), ['p0', 'p1', 'p2', 'e1']);
});

test('a retry sent while the original is still being written is recognised at once', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('p');
  const stamp = { producerId: 3, epoch: 0, sequence: 0 };
  const [original, retry] = await Promise.all([
    broker.appendToStream('p', { body: 'once' }, { producer: stamp }),
    broker.appendToStream('p', { body: 'once' }, { producer: stamp }),
  ]);
  assert.equal(original[0]!.duplicate, false);
  assert.equal(retry[0]!.duplicate, true);
  assert.deepEqual(texts(await broker.readStream('p')), ['once']);
});

test('a durable stream, its messages, bindings and idempotent producers survive a crash; confirmed appends are all there', async () => {
  for (const seed of [1, 2, 3]) {
    const fileSystem = new SimulatedFileSystem();
    const before = await simulatedBroker(fileSystem);
    await before.declareStream('log', { partitions: 2 });
    await before.declareExchange('topic', { type: 'topic' });
    await before.bind('topic', 'log', 'a.#');
    const confirmed: string[] = [];
    for (let index = 0; index < 20; index++) {
      await before.appendToStream('log', { body: `m${index}` }, { partition: index % 2, producer: { producerId: 11 + (index % 2), epoch: 0, sequence: Math.floor(index / 2) } });
      confirmed.push(`m${index}`);
    }
    await before.publish('topic', { body: 'routed', routingKey: 'a.b' });
    confirmed.push('routed');
    void before.appendToStream('log', { body: 'unconfirmed' }, { partition: 0 }).catch(() => undefined);
    before.abandon();
    fileSystem.crash(new SeededRandom(seed));
    const after = await simulatedBroker(fileSystem);
    try {
      const all = [...texts(await after.readStream('log', { partition: 0, max: 100 })), ...texts(await after.readStream('log', { partition: 1, max: 100 }))];
      for (const body of confirmed) assert.ok(all.includes(body), `seed ${seed}: ${body} was confirmed but is gone`);
      assert.equal(new Set(all).size, all.length, `seed ${seed}: duplicates after recovery`);
      // The producers' sequences survived: a retry of the last batch is recognised, the next one accepted.
      const retry = await after.appendToStream('log', { body: 'm18' }, { partition: 0, producer: { producerId: 11, epoch: 0, sequence: 9 } });
      assert.equal(retry[0]!.duplicate, true, `seed ${seed}: the retry after restart was stored again`);
      await assert.rejects(after.appendToStream('log', { body: 'gap' }, { partition: 0, producer: { producerId: 11, epoch: 0, sequence: 12 } }), withCode('SEQUENCE_GAP'));
      await after.publish('topic', { body: 'after', routingKey: 'a.c' });
      const again = [...texts(await after.readStream('log', { partition: 0, max: 100 })), ...texts(await after.readStream('log', { partition: 1, max: 100 }))];
      assert.ok(again.includes('after'), 'the binding survived');
    } finally {
      await after.close();
    }
  }
});

test('after a clean restart, a retry of one of the last five batches is still recognised', async () => {
  // Found by the simulation (test/sim): the producer snapshot written at shutdown kept no batches.
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareStream('log');
  const sent: Array<{ readonly baseOffset: number }> = [];
  for (let sequence = 0; sequence < 6; sequence++) sent.push((await before.appendToStream('log', { body: `m${sequence}` }, { producer: { producerId: 7, epoch: 0, sequence } }))[0]!);
  await before.close();
  const after = await simulatedBroker(fileSystem);
  try {
    for (const sequence of [1, 5]) {
      const [retry] = await after.appendToStream('log', { body: `m${sequence}` }, { producer: { producerId: 7, epoch: 0, sequence } });
      assert.equal(retry!.duplicate, true, `sequence ${sequence} is recognised`);
      assert.equal(retry!.baseOffset, sent[sequence]!.baseOffset, 'with its original offset');
    }
    await assert.rejects(after.appendToStream('log', { body: 'm0' }, { producer: { producerId: 7, epoch: 0, sequence: 0 } }), withCode('SEQUENCE_OUT_OF_ORDER'), 'the sixth batch back is forgotten');
    assert.deepEqual(texts(await after.readStream('log', { max: 100 })), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
  } finally {
    await after.close();
  }
});

test('an in-memory stream does not survive a restart, and deleting a stream removes its data', async () => {
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareStream('volatile', { durable: false });
  await before.declareStream('doomed');
  await before.appendToStream('volatile', { body: 'x' });
  await before.appendToStream('doomed', [{ body: 'a' }, { body: 'b' }]);
  assert.equal(await before.deleteStream('doomed'), 2);
  await assert.rejects(before.readStream('doomed'), withCode('STREAM_NOT_FOUND'));
  await before.close();
  const after = await simulatedBroker(fileSystem);
  try {
    await assert.rejects(after.readStream('volatile'), withCode('STREAM_NOT_FOUND'));
    await assert.rejects(after.readStream('doomed'), withCode('STREAM_NOT_FOUND'));
    await after.declareStream('doomed');
    assert.deepEqual(texts(await after.readStream('doomed')), [], 'a redeclared stream starts empty');
  } finally {
    await after.close();
  }
});

test('a compacted stream keeps the latest message per key in sealed segments, with offsets unchanged, on its own schedule', async () => {
  const fileSystem = new SimulatedFileSystem();
  const clock = new ManualClock();
  const broker = await simulatedBroker(fileSystem, clock);
  try {
    await broker.declareStream('prices', { compaction: 'key', compactionIntervalMs: 10_000, segmentBytesMax: 2_048 });
    const keys = ['eur', 'usd', 'gbp'];
    for (let round = 0; round < 30; round++) {
      for (const key of keys) await broker.appendToStream('prices', { body: `${key}=${round}`, properties: { key: encoder.encode(key) } });
      if (round % 10 === 0) await broker.appendToStream('prices', { body: `note-${round}` });
    }
    const before = await broker.readStream('prices', { max: 1_000 });
    assert.equal(before.length, 93);
    clock.advance(10_000);
    const stream = broker.vhost().stream('prices');
    await settleUntil(() => stream.sizeBytes() < 93 * 40, 200_000);
    await stream.compact(); // Waits for the scheduled run (or runs again: idempotent).
    const after = await broker.readStream('prices', { max: 1_000 });
    assert.ok(after.length < before.length, `compaction removed superseded messages (${before.length} → ${after.length})`);
    const offsets = after.map((entry) => entry.offset);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), 'order kept');
    for (const entry of after) assert.equal(texts([entry])[0], texts([before.find((candidate) => candidate.offset === entry.offset)!])[0], 'each survivor keeps its offset');
    for (const key of keys) {
      const latest = texts(after.filter((entry) => entry.message.properties.key !== undefined && new TextDecoder().decode(entry.message.properties.key) === key));
      assert.equal(latest[latest.length - 1], `${key}=29`, `the latest ${key} survives`);
    }
    assert.deepEqual(texts(after.filter((entry) => entry.message.properties.key === undefined)), ['note-0', 'note-10', 'note-20'], 'messages without a key stay');
  } finally {
    await broker.close();
  }
});

test('an in-memory stream applies its retention by itself, so memory does not grow without bound', async (t) => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  t.after(() => broker.close());
  await broker.declareStream('ticker', { durable: false, retentionMessages: 20, segmentBytesMax: 1_024 });
  for (let index = 0; index < 200; index++) await broker.appendToStream('ticker', { body: `t${index}`.padEnd(60, '.') });
  const stream = broker.vhost().stream('ticker');
  assert.equal(stream.startOffset(0), 0);
  clock.advance(5_000);
  await settleUntil(() => stream.startOffset(0) > 0);
  assert.ok(200 - stream.startOffset(0) < 60, `kept ${200 - stream.startOffset(0)} messages`);
});

test('one append of messages that share or change routing key, properties and headers reads back message by message', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  const stream = await broker.declareStream('mixed', { partitions: 1 });
  const shapes: Array<Pick<StoredMessage, 'routingKey' | 'properties' | 'headers'>> = [
    { routingKey: 'a', properties: {}, headers: {} },
    { routingKey: 'a', properties: {}, headers: {} },
    { routingKey: 'b', properties: {}, headers: {} },
    { routingKey: 'b', properties: { messageId: 'id-1', priority: 3 }, headers: {} },
    { routingKey: 'b', properties: { messageId: 'id-1', priority: 3 }, headers: {} },
    { routingKey: 'b', properties: {}, headers: { trace: 'x' } },
    { routingKey: 'a', properties: {}, headers: {} },
  ];
  // Bodies of several sizes: short copies and long ones take different paths in the batch writer.
  const messages: StoredMessage[] = shapes.map((shape, index) => ({ ...shape, exchange: '', body: encoder.encode(`m${index}`.padEnd(index * 60 + 1, '.')), persistent: true, arrivedAtMs: 1_000 + index }));
  await stream.append(messages, { partition: 0 });
  const entries = await broker.readStream('mixed', { from: 'first' });
  assert.equal(entries.length, messages.length);
  entries.forEach((entry, index) => {
    const sent = messages[index]!;
    assert.equal(entry.message.routingKey, sent.routingKey, `routing key of ${index}`);
    assert.deepEqual(entry.message.properties, sent.properties, `properties of ${index}`);
    assert.deepEqual(entry.message.headers, sent.headers, `headers of ${index}`);
    assert.deepEqual(entry.message.body, sent.body, `body of ${index}`);
    assert.equal(entry.message.arrivedAtMs, sent.arrivedAtMs, `time of ${index}`);
  });
});
