import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import type { Log } from '../ports.js';
import { Inbox, bodies, settleUntil, testPasswordHasher } from '../test-broker.js';

async function memoryBroker(): Promise<Broker> {
  return Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock: new ManualClock() });
}

/** Counts the reads of a log from now on. */
function countReads(log: Log): { count: number } {
  const reads = { count: 0 };
  const read = log.read.bind(log);
  log.read = (fromOffset, limits) => {
    reads.count++;
    return read(fromOffset, limits);
  };
  return reads;
}

/** Publishes every text in one synchronous run (one turn), then waits for every confirm. */
async function publishBurst(broker: Broker, queue: string, texts: readonly string[]): Promise<void> {
  await Promise.all(texts.map((body) => broker.publish('', { body, routingKey: queue, persistent: true })));
}

const burst = Array.from({ length: 1_500 }, (_, index) => `m${index}`);

test('a burst past the read-ahead buffer reaches a consumer with credit without being read back from the log', async () => {
  const broker = await memoryBroker();
  const queue = await broker.declareQueue('jobs', { durable: true });
  const reads = countReads(queue.logs()[0]!);
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 2_000 });
  await publishBurst(broker, 'jobs', burst);
  assert.deepEqual(inbox.bodies(), burst);
  assert.equal(reads.count, 0, 'the consumer had credit for the whole burst');
  await broker.close();
});

/** Publishes `texts` to a durable queue with no consumer, then consumes them all: what was delivered, and the log reads it took. */
async function burstThenConsume(texts: readonly string[]): Promise<{ bodies: string[]; reads: number }> {
  const broker = await memoryBroker();
  try {
    const queue = await broker.declareQueue('jobs', { durable: true });
    const reads = countReads(queue.logs()[0]!);
    await publishBurst(broker, 'jobs', texts);
    const inbox = new Inbox();
    broker.consume('jobs', inbox.onDelivery, { autoAck: true });
    for (let turns = 0; turns < 1_000 && inbox.deliveries.length < texts.length; turns++) await new Promise((resolve) => setImmediate(resolve));
    return { bodies: inbox.bodies(), reads: reads.count };
  } finally {
    await broker.close();
  }
}

test('a short backlog of small messages with no consumer stays in memory: nothing is read back', async () => {
  const { bodies, reads } = await burstThenConsume(burst);
  assert.deepEqual(bodies, burst);
  assert.equal(reads, 0, '1,500 small messages are within the in-memory bounds');
});

test('a burst past the in-memory bounds with no consumer is read back from the log, in order', async () => {
  // More messages than the queue keeps in memory without a consumer (8,192).
  const long = Array.from({ length: 9_000 }, (_, index) => `m${index}`);
  const { bodies, reads } = await burstThenConsume(long);
  assert.deepEqual(bodies, long);
  assert.ok(reads > 0, 'memory is bounded without consumers: the tail waits on the log');
});

test('auto-acked deliveries are settled in the queue state once the dispatch that made them ends', async () => {
  const broker = await memoryBroker();
  const queue = await broker.declareQueue('jobs', { durable: true });
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { autoAck: true });
  await publishBurst(broker, 'jobs', ['m1', 'm2', 'm3']);
  assert.deepEqual(inbox.bodies(), ['m1', 'm2', 'm3']);
  const state = queue.states()[0]!;
  for (const delivery of inbox.deliveries) assert.ok(state.isAcked(delivery.offset), `offset ${delivery.offset} is acked`);
  assert.equal(state.lowWatermark(), 3);
  await broker.close();
});

test('auto-acked deliveries that are not consecutive offsets (a requeued message first) are all settled', async () => {
  const broker = await memoryBroker();
  const queue = await broker.declareQueue('jobs', { durable: true });
  await publishBurst(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  const pulled = await broker.get('jobs', { max: 2 });
  await broker.nack(pulled[1]!, { requeue: true });
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { autoAck: true });
  assert.deepEqual(bodies(inbox.deliveries), ['m2', 'm3', 'm4'], 'the requeued message first');
  const state = queue.states()[0]!;
  for (const offset of [1, 2, 3]) assert.ok(state.isAcked(offset), `offset ${offset} is acked`);
  assert.equal(state.isAcked(0), false, 'the pulled message is still unsettled');
  await broker.ack(pulled[0]!);
  assert.equal(state.lowWatermark(), 4);
  await broker.close();
});

test('messages published while older ones wait in the log are delivered from memory, in order, once those are read', async () => {
  const broker = await memoryBroker();
  try {
    const queue = await broker.declareQueue('jobs', { durable: true });
    const log = queue.logs()[0]!;
    const readBack: number[] = [];
    const read = log.read.bind(log);
    log.read = async (fromOffset, limits) => {
      const records = await read(fromOffset, limits);
      for (const record of records) readBack.push(record.offset);
      return records;
    };
    // Past the in-memory bounds (8,192): the last 808 wait in the log.
    const first = Array.from({ length: 9_000 }, (_, index) => `m${index}`);
    await publishBurst(broker, 'jobs', first);
    const pulled = await broker.get('jobs', { max: 3_000, autoAck: true });
    assert.equal(pulled.length, 3_000);
    // Room again, but older messages are unread: these cannot join the read-ahead buffer.
    const later = Array.from({ length: 1_000 }, (_, index) => `m${9_000 + index}`);
    await publishBurst(broker, 'jobs', later);
    const inbox = new Inbox();
    broker.consume('jobs', inbox.onDelivery, { autoAck: true });
    await settleUntil(() => inbox.deliveries.length >= 7_000, 1_000);
    assert.deepEqual(inbox.bodies(), [...first.slice(3_000), ...later]);
    assert.ok(readBack.length > 0 && readBack.every((offset) => offset >= 8_192 && offset < 9_000), 'only the messages that found no room were read back');
  } finally {
    await broker.close();
  }
});

test('a queue whose last batch held one message appends the first message of a turn at once; many a turn go as one batch at its end', async () => {
  const broker = await memoryBroker();
  try {
    const queue = await broker.declareQueue('one-a-turn', { durable: true });
    const log = queue.logs()[0]!;
    const appends: number[] = [];
    const append = log.appendUnawaited.bind(log);
    log.appendUnawaited = (records, options) => {
      appends.push(records.length);
      return append(records, options);
    };
    /** Publishes `count` messages in one synchronous run: the log's end right after it, then waits for the confirms. */
    const turn = async (count: number): Promise<number> => {
      const confirms = Array.from({ length: count }, (_, index) => broker.publish('', { body: `m${index}`, routingKey: 'one-a-turn', persistent: true }));
      const endAfterPublishing = log.endOffset();
      await Promise.all(confirms);
      return endAfterPublishing;
    };
    assert.equal(await turn(1), 0, 'nothing learned yet: appended at the end of the turn');
    assert.equal(await turn(1), 2, 'the last batch held one message: appended during the publish');
    assert.equal(await turn(3), 3, 'only the first message of the turn at once');
    assert.equal(await turn(1), 5, 'the last batch held two: at the end of the turn again');
    assert.deepEqual(appends, [1, 1, 1, 2, 1]);
    assert.equal(log.endOffset(), 6);
  } finally {
    await broker.close();
  }
});
