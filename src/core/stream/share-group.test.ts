import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { SimulatedFileSystem } from '../../platform/simulated-file-system.js';
import type { Delivery } from '../queue/delivery.js';
import { bodies, bodyText, deathRecords, settle, settleUntil, testPasswordHasher, withCode } from '../test-broker.js';

function memoryBroker(clock = new ManualClock()): Promise<Broker> {
  return Broker.start({ memory: true, clock, passwordHasher: testPasswordHasher });
}

function simulatedBroker(fileSystem: SimulatedFileSystem, clock = new ManualClock()): Promise<Broker> {
  return Broker.start({ dataDir: 'data', fileSystem, clock, passwordHasher: testPasswordHasher });
}

async function appendTexts(broker: Broker, stream: string, texts: readonly string[]): Promise<void> {
  await broker.appendToStream(stream, texts.map((body) => ({ body })));
}

test('members of a share group each get a different message, while offset readers still see them all', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('jobs', { partitions: 2 });
  const group = await broker.shareGroup('jobs', 'workers');
  const seen = new Map<string, string[]>([['a', []], ['b', []]]);
  const handle = (name: string) => (delivery: Delivery) => {
    seen.get(name)!.push(bodyText(delivery));
    void group.ack(delivery);
  };
  group.consume(handle('a'), { prefetch: 1 });
  group.consume(handle('b'), { prefetch: 1 });
  const texts = Array.from({ length: 40 }, (_, index) => `j${index}`);
  await appendTexts(broker, 'jobs', texts);
  await settleUntil(() => seen.get('a')!.length + seen.get('b')!.length === texts.length);
  const all = [...seen.get('a')!, ...seen.get('b')!];
  assert.deepEqual([...all].sort(), [...texts].sort(), 'each message delivered once to the group');
  assert.ok(seen.get('a')!.length > 0 && seen.get('b')!.length > 0, 'both members got work');
  const replay = [...(await broker.readStream('jobs', { partition: 0, max: 100 })), ...(await broker.readStream('jobs', { partition: 1, max: 100 }))];
  assert.equal(replay.length, texts.length, 'the stream keeps everything for offset readers');
  await settle();
  assert.equal(group.messageCount(), 0);
});

test('a nacked message comes back, and past the delivery limit it is dead-lettered with x-death', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('tasks');
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  const group = await broker.shareGroup('tasks', 'g', { deliveryLimit: 2, deadLetterExchange: 'dlx' });
  await appendTexts(broker, 'tasks', ['poison', 'fine']);
  const first = await group.pull({ max: 1 });
  assert.deepEqual(bodies(first), ['poison']);
  await group.nack(first);
  const second = await group.pull({ max: 1 });
  assert.deepEqual(bodies(second), ['poison']);
  assert.equal(second[0]!.redelivered, true);
  await group.nack(second);
  const rest = await group.pull({ max: 10 });
  assert.deepEqual(bodies(rest), ['fine']);
  await group.ack(rest);
  const dead = await broker.get('dead', { max: 10 });
  assert.deepEqual(bodies(dead), ['poison']);
  assert.equal(deathRecords(dead[0]!)[0]!['reason'], 'delivery_limit');
});

test('a pulled message not acked within its visibility timeout is delivered again', async (t) => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  t.after(() => broker.close());
  await broker.declareStream('s');
  const group = await broker.shareGroup('s', 'g', { visibilityTimeoutMs: 5_000 });
  await appendTexts(broker, 's', ['m']);
  assert.deepEqual(bodies(await group.pull({ max: 5 })), ['m']);
  assert.deepEqual(await group.pull({ max: 5 }), [], 'invisible while pulled');
  clock.advance(5_001);
  await settle();
  const again = await group.pull({ max: 5 });
  assert.deepEqual(bodies(again), ['m']);
  assert.equal(again[0]!.deliveryCount, 2);
});

test('a waiting pull gets a message appended later, on any partition', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('wide', { partitions: 3 });
  const group = await broker.shareGroup('wide', 'g');
  const waiting = group.pull({ max: 5, waitMs: 60_000 });
  await settle();
  await broker.appendToStream('wide', { body: 'late' }, { partition: 2 });
  assert.deepEqual(bodies(await waiting), ['late']);
});

test('two share groups of one stream each get every message', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('events');
  const billing = await broker.shareGroup('events', 'billing');
  const shipping = await broker.shareGroup('events', 'shipping');
  await appendTexts(broker, 'events', ['e1', 'e2']);
  assert.deepEqual(bodies(await billing.pull({ max: 5 })), ['e1', 'e2']);
  assert.deepEqual(bodies(await shipping.pull({ max: 5 })), ['e1', 'e2']);
  await assert.rejects(broker.shareGroup('events', 'billing', { deliveryLimit: 3 }), withCode('PRECONDITION_FAILED'));
  await assert.rejects(broker.shareGroup('missing', 'g'), withCode('STREAM_NOT_FOUND'));
});

test('after a crash, acked messages stay acked, unacked ones come back, and new appends are delivered', async () => {
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareStream('orders');
  await appendTexts(before, 'orders', ['o1', 'o2', 'o3', 'o4']);
  const group = await before.shareGroup('orders', 'g');
  const pulled = await group.pull({ max: 3 });
  assert.deepEqual(bodies(pulled), ['o1', 'o2', 'o3']);
  await group.ack([pulled[0]!, pulled[2]!]);
  before.abandon();
  fileSystem.crashAfterKill();
  const after = await simulatedBroker(fileSystem);
  try {
    const reopened = await after.shareGroup('orders', 'g');
    const again = await reopened.pull({ max: 10 });
    assert.deepEqual(bodies(again), ['o2', 'o4']);
    assert.equal(again[0]!.redelivered, true, 'o2 was delivered before the crash');
    await reopened.ack(again);
    await appendTexts(after, 'orders', ['o5']);
    assert.deepEqual(bodies(await reopened.pull({ max: 10, waitMs: 1_000 })), ['o5']);
  } finally {
    await after.close();
  }
});

test('messages that retention removes before the group read them are skipped', async (t) => {
  const broker = await memoryBroker();
  t.after(() => broker.close());
  await broker.declareStream('short', { retentionMessages: 10, segmentBytesMax: 1_024 });
  const group = await broker.shareGroup('short', 'slow');
  for (let index = 0; index < 100; index++) await broker.appendToStream('short', { body: `m${index}`.padEnd(60, '.') });
  await (broker as unknown as { logStore: { applyRetention(): Promise<void> } }).logStore.applyRetention();
  const first = broker.vhost().stream('short').startOffset(0);
  assert.ok(first > 0);
  const delivered = await group.pull({ max: 1_000 });
  assert.equal(delivered[0]!.offset, first, 'reading starts at the stream start');
  assert.equal(delivered.length, 100 - first);
  await settle();
  assert.equal(group.messageCount(), 0, 'the ready count follows the removal');
});

test('consumer group commits are durable: after a restart the group resumes where it committed', async () => {
  const fileSystem = new SimulatedFileSystem();
  const before = await simulatedBroker(fileSystem);
  await before.declareStream('clicks', { partitions: 2 });
  await appendTexts(before, 'clicks', Array.from({ length: 10 }, (_, index) => `c${index}`));
  const group = before.consumerGroup('clicks', 'analytics');
  const assigned: number[] = [];
  group.join('m1', { onAssigned: (partitions) => assigned.push(...partitions), onRevoked: () => undefined });
  assert.deepEqual([...assigned].sort(), [0, 1]);
  await group.commit('m1', 0, 3);
  await group.commit('m1', 1, before.vhost().stream('clicks').endOffset(1));
  assert.equal(group.totalLag(), before.vhost().stream('clicks').endOffset(0) - 3);
  await assert.rejects(group.commit('m2', 0, 1), withCode('UNKNOWN_MEMBER'));
  before.abandon();
  fileSystem.crashAfterKill();
  const after = await simulatedBroker(fileSystem);
  try {
    const resumed = after.consumerGroup('clicks', 'analytics');
    assert.equal(resumed.committed(0), 3);
    assert.equal(resumed.committed(1), after.vhost().stream('clicks').endOffset(1));
    assert.deepEqual(after.vhost().stream('clicks').consumerGroupNames(), ['analytics']);
  } finally {
    await after.close();
  }
});
