import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { bodies, testPasswordHasher } from '../test-broker.js';

async function start(): Promise<{ broker: Broker; clock: ManualClock }> {
  const clock = new ManualClock();
  return { broker: await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock }), clock };
}

function publishWithId(broker: Broker, queue: string, body: string, messageId: string | undefined) {
  return broker.publish('', { body, routingKey: queue, properties: messageId === undefined ? {} : { messageId } });
}

test('a second publish with the same message id within the window is dropped', async () => {
  const { broker, clock } = await start();
  const queue = await broker.declareQueue('jobs', { deduplicationWindowMs: 1_000 });
  await publishWithId(broker, 'jobs', 'original', 'id-1');
  clock.advance(999);
  const duplicate = await publishWithId(broker, 'jobs', 'retry', 'id-1');
  assert.deepEqual(duplicate.rejectedBy, [], 'a duplicate is confirmed (not rejected), as the original was');
  assert.equal(queue.messageCount(), 1);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['original']);
  await broker.close();
});

test('the same message id is accepted again once the window has passed', async () => {
  const { broker, clock } = await start();
  const queue = await broker.declareQueue('jobs', { deduplicationWindowMs: 1_000 });
  await publishWithId(broker, 'jobs', 'first', 'id-1');
  clock.advance(1_000);
  await publishWithId(broker, 'jobs', 'second', 'id-1');
  assert.equal(queue.messageCount(), 2);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['first', 'second']);
  await broker.close();
});

test('the window runs from the first accepted publish, not from the dropped duplicates', async () => {
  const { broker, clock } = await start();
  const queue = await broker.declareQueue('jobs', { deduplicationWindowMs: 1_000 });
  await publishWithId(broker, 'jobs', 'first', 'id-1');
  clock.advance(600);
  await publishWithId(broker, 'jobs', 'dup', 'id-1');
  clock.advance(400);
  await publishWithId(broker, 'jobs', 'second', 'id-1');
  assert.equal(queue.messageCount(), 2);
  await broker.close();
});

test('different message ids and messages without an id are never deduplicated', async () => {
  const { broker } = await start();
  const queue = await broker.declareQueue('jobs', { deduplicationWindowMs: 1_000 });
  await publishWithId(broker, 'jobs', 'a', 'id-a');
  await publishWithId(broker, 'jobs', 'b', 'id-b');
  await publishWithId(broker, 'jobs', 'x', undefined);
  await publishWithId(broker, 'jobs', 'y', undefined);
  assert.equal(queue.messageCount(), 4);
  await broker.close();
});

test('deduplication is per queue: a duplicate for one queue still reaches another', async () => {
  const { broker } = await start();
  await broker.declareExchange('fan', { type: 'fanout' });
  const dedup = await broker.declareQueue('dedup', { deduplicationWindowMs: 1_000 });
  const plain = await broker.declareQueue('plain');
  await broker.bind('fan', 'dedup');
  await broker.bind('fan', 'plain');
  await broker.publish('fan', { body: 'm', properties: { messageId: 'id-1' } });
  await broker.publish('fan', { body: 'm', properties: { messageId: 'id-1' } });
  assert.equal(dedup.messageCount(), 1);
  assert.equal(plain.messageCount(), 2);
  await broker.close();
});

test('a duplicate is dropped even after the original was consumed, within the window', async () => {
  const { broker } = await start();
  const queue = await broker.declareQueue('jobs', { deduplicationWindowMs: 1_000 });
  await publishWithId(broker, 'jobs', 'original', 'id-1');
  await broker.ack(await broker.get('jobs'));
  await publishWithId(broker, 'jobs', 'retry', 'id-1');
  assert.equal(queue.messageCount(), 0);
  await broker.close();
});

test('a publish refused by reject-publish does not mark its message id as seen, so the retry is accepted', async () => {
  const { broker } = await start();
  const queue = await broker.declareQueue('jobs', { deduplicationWindowMs: 60_000, maxLength: 1, overflow: 'reject-publish' });
  await publishWithId(broker, 'jobs', 'a', 'id-a');
  assert.deepEqual((await publishWithId(broker, 'jobs', 'b', 'id-b')).rejectedBy, ['jobs']);
  await broker.ack(await broker.get('jobs'));
  const retry = await publishWithId(broker, 'jobs', 'b', 'id-b');
  assert.deepEqual(retry.rejectedBy, []);
  assert.equal(queue.messageCount(), 1, 'the retried message is in the queue');
  await broker.close();
});
