import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { bodies, deathRecords, testPasswordHasher } from '../test-broker.js';

async function setup(): Promise<Broker> {
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock: new ManualClock() });
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  return broker;
}

async function publishAll(broker: Broker, queue: string, texts: readonly string[]) {
  const results = [];
  for (const body of texts) results.push(await broker.publish('', { body, routingKey: queue }));
  return results;
}

test('drop-head keeps the newest maxLength messages and dead-letters the oldest with reason maxlen', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { maxLength: 2, overflow: 'drop-head', deadLetterExchange: 'dlx' });
  const results = await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  assert.ok(results.every((result) => result.routed && result.rejectedBy.length === 0), 'drop-head never rejects');
  assert.equal(queue.messageCount(), 2);
  assert.equal(queue.counters.dropped, 2);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m3', 'm4']);
  const dead = await broker.get('dead', { max: 10 });
  assert.deepEqual(bodies(dead), ['m1', 'm2']);
  const [death] = deathRecords(dead[0]!);
  assert.equal(death?.['reason'], 'maxlen');
  assert.equal(death?.['queue'], 'jobs');
  assert.equal(dead[0]!.message.headers['x-first-death-reason'], 'maxlen');
  await broker.close();
});

test('drop-head is the default overflow, and without a dead-letter exchange the oldest is simply dropped', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { maxLength: 1 });
  await publishAll(broker, 'jobs', ['m1', 'm2']);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m2']);
  assert.deepEqual(await broker.get('dead'), []);
  await broker.close();
});

test('maxLengthBytes counts ready body bytes: drop-head drops from the head until the new message fits', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { maxLengthBytes: 10, deadLetterExchange: 'dlx' });
  await publishAll(broker, 'jobs', ['aaaa', 'bbbb']);
  assert.equal(queue.messageBytes(), 8);
  await publishAll(broker, 'jobs', ['cccccc']);
  assert.equal(queue.messageBytes(), 10);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['aaaa']);
  await publishAll(broker, 'jobs', ['dddddddd']);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['bbbb', 'cccccc']);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['dddddddd']);
  await broker.close();
});

test('reject-publish refuses the new message (rejectedBy names the queue) and keeps the queue as it was', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { maxLength: 2, overflow: 'reject-publish', deadLetterExchange: 'dlx' });
  const results = await publishAll(broker, 'jobs', ['m1', 'm2', 'm3']);
  assert.deepEqual(results[2], { routed: true, rejectedBy: ['jobs'] });
  assert.equal(queue.messageCount(), 2);
  assert.deepEqual(await broker.get('dead'), [], 'reject-publish does not dead-letter');
  const taken = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(taken), ['m1', 'm2']);
  await broker.ack(taken);
  assert.deepEqual((await publishAll(broker, 'jobs', ['m4']))[0], { routed: true, rejectedBy: [] }, 'room again');
  await broker.close();
});

test('reject-publish on one queue does not stop a fanout copy reaching another queue', async () => {
  const broker = await setup();
  await broker.declareExchange('fan', { type: 'fanout' });
  await broker.declareQueue('full', { maxLength: 0, overflow: 'reject-publish' });
  await broker.declareQueue('open');
  await broker.bind('fan', 'full');
  await broker.bind('fan', 'open');
  assert.deepEqual(await broker.publish('fan', { body: 'm1' }), { routed: true, rejectedBy: ['full'] });
  assert.deepEqual(bodies(await broker.get('open')), ['m1']);
  await broker.close();
});

test('reject-publish applies to maxLengthBytes too', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { maxLengthBytes: 5, overflow: 'reject-publish' });
  assert.deepEqual((await publishAll(broker, 'jobs', ['abc', 'de', 'f']))[2], { routed: true, rejectedBy: ['jobs'] });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['abc', 'de']);
  await broker.close();
});

test('reject-publish-dlx refuses the new message and dead-letters it (maxlen), keeping the old ones', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { maxLength: 1, overflow: 'reject-publish-dlx', deadLetterExchange: 'dlx' });
  const results = await publishAll(broker, 'jobs', ['m1', 'm2']);
  assert.deepEqual(results[1], { routed: true, rejectedBy: ['jobs'] });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m1']);
  const [dead] = await broker.get('dead', { max: 10 });
  assert.deepEqual(bodies([dead!]), ['m2']);
  assert.equal(deathRecords(dead!)[0]?.['reason'], 'maxlen');
  await broker.close();
});

test('messages in flight do not count toward maxLength', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { maxLength: 1, overflow: 'reject-publish' });
  await publishAll(broker, 'jobs', ['m1']);
  await broker.get('jobs');
  assert.deepEqual((await publishAll(broker, 'jobs', ['m2']))[0]!.rejectedBy, []);
  assert.equal(queue.messageCount(), 1);
  assert.equal(queue.unsettledCount(), 1);
  await broker.close();
});

test('a requeued message fills the queue again: the next publish drops the head in offset order', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { maxLength: 2, deadLetterExchange: 'dlx' });
  await publishAll(broker, 'jobs', ['m1', 'm2']);
  const [first] = await broker.get('jobs');
  await publishAll(broker, 'jobs', ['m3']);
  await broker.nack(first!, { requeue: true });
  await publishAll(broker, 'jobs', ['m4']);
  // Ready were m1 (requeued), m2, m3: one over the limit of 2 (plus m4) means the two oldest go.
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['m1', 'm2']);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m3', 'm4']);
  await broker.close();
});

test('drop-head keeps order and counts when the backlog is larger than the read-ahead buffer', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { maxLength: 600, deadLetterExchange: 'dlx' });
  const texts = Array.from({ length: 700 }, (_, index) => `m${index}`);
  await publishAll(broker, 'jobs', texts);
  assert.equal(queue.messageCount(), 600);
  assert.deepEqual(bodies(await broker.get('dead', { max: 1000 })), texts.slice(0, 100));
  assert.deepEqual(bodies(await broker.get('jobs', { max: 1000 })), texts.slice(100));
  assert.equal(queue.messageCount(), 0);
  await broker.close();
});

test('maxLength 0 with drop-head accepts nothing', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { maxLength: 0, deadLetterExchange: 'dlx' });
  const [result] = await publishAll(broker, 'jobs', ['m1']);
  assert.deepEqual(result!.rejectedBy, ['jobs']);
  assert.equal(queue.messageCount(), 0);
  await broker.close();
});
