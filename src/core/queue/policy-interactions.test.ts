import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import type { Delivery } from './delivery.js';
import { Inbox, bodies, deathRecords, settle, testPasswordHasher } from '../test-broker.js';

async function setup(clock = new ManualClock()): Promise<Broker> {
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock });
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  return broker;
}

function deathReasons(deliveries: readonly Delivery[]): string[] {
  return deliveries.map((delivery) => String(deathRecords(delivery)[0]?.['reason']));
}

test('single active consumer: a cancel without requeue hands over to the next, and the old consumer can still return its message', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { singleActiveConsumer: true });
  const first = new Inbox();
  const second = new Inbox();
  const handle = broker.consume('jobs', first.onDelivery, { tag: 'first', prefetch: 1 });
  broker.consume('jobs', second.onDelivery, { tag: 'second', prefetch: 1 });
  for (const body of ['m1', 'm2', 'm3']) await broker.publish('', { body, routingKey: 'jobs' });
  handle.cancel();
  assert.deepEqual(broker.vhost().queue('jobs').consumerTags(), ['second']);
  assert.deepEqual(second.bodies(), ['m2'], 'the new active consumer starts with the next message');
  await broker.nack(first.deliveries[0]!, { requeue: true });
  await broker.ack(second.deliveries[0]!);
  assert.deepEqual(second.bodies(), ['m2', 'm1'], 'the returned message goes first among what is ready');
  await broker.ack(second.deliveries[1]!);
  assert.deepEqual(second.bodies(), ['m2', 'm1', 'm3']);
  await broker.close();
});

test('single active consumer: cancelling a waiting consumer leaves the active one in charge', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { singleActiveConsumer: true });
  const active = new Inbox();
  const activity: boolean[] = [];
  broker.vhost().queue('jobs').consume({ tag: 'active', prefetch: 0, autoAck: false, onDelivery: active.onDelivery, onActiveChanged: (value) => activity.push(value) });
  const waiting = broker.consume('jobs', () => assert.fail('the waiting consumer must get nothing'), { tag: 'waiting' });
  waiting.cancel();
  await broker.publish('', { body: 'm1', routingKey: 'jobs' });
  assert.deepEqual(active.bodies(), ['m1']);
  assert.deepEqual(activity, [true]);
  await broker.close();
});

test('single active consumer: with autoAck the active consumer takes everything and a newcomer waits', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { singleActiveConsumer: true });
  const first = new Inbox();
  const second = new Inbox();
  const handle = broker.consume('jobs', first.onDelivery, { autoAck: true });
  broker.consume('jobs', second.onDelivery, { autoAck: true });
  await broker.publish('', { body: 'm1', routingKey: 'jobs' });
  handle.cancel();
  await broker.publish('', { body: 'm2', routingKey: 'jobs' });
  assert.deepEqual(first.bodies(), ['m1']);
  assert.deepEqual(second.bodies(), ['m2']);
  await broker.close();
});

test('TTL and max-length dead-letter to the same exchange with their own reasons', async () => {
  const clock = new ManualClock();
  const broker = await setup(clock);
  await broker.declareQueue('jobs', { maxLength: 2, messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  for (const body of ['m1', 'm2', 'm3']) await broker.publish('', { body, routingKey: 'jobs' });
  clock.advance(1_000);
  const dead = await broker.get('dead', { max: 10 });
  assert.deepEqual(bodies(dead), ['m1', 'm2', 'm3']);
  assert.deepEqual(deathReasons(dead), ['maxlen', 'expired', 'expired']);
  await broker.close();
});

test('delivery limit, rejection and expiry each dead-letter with their reason through one dead-letter exchange', async () => {
  const clock = new ManualClock();
  const broker = await setup(clock);
  await broker.declareQueue('jobs', { deliveryLimit: 1, messageTtlMs: 10_000, deadLetterExchange: 'dlx' });
  for (const body of ['limit', 'reject', 'expire']) await broker.publish('', { body, routingKey: 'jobs' });
  const [limit, reject] = await broker.get('jobs', { max: 2 });
  await broker.nack(limit!, { requeue: true });
  await broker.nack(reject!, { requeue: false });
  clock.advance(10_000);
  const dead = await broker.get('dead', { max: 10 });
  assert.deepEqual(bodies(dead), ['limit', 'reject', 'expire']);
  assert.deepEqual(deathReasons(dead), ['delivery_limit', 'rejected', 'expired']);
  await broker.close();
});

test('priority and drop-head: the oldest message of the lowest priority is dropped first', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { maxPriority: 5, maxLength: 2, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'high', routingKey: 'jobs', properties: { priority: 5 } });
  await broker.publish('', { body: 'low', routingKey: 'jobs', properties: { priority: 1 } });
  await broker.publish('', { body: 'mid', routingKey: 'jobs', properties: { priority: 3 } });
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['low']);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['high', 'mid']);
  await broker.close();
});

test('priority and TTL: a message expires at its time whatever its priority level', async () => {
  const clock = new ManualClock();
  const broker = await setup(clock);
  const queue = await broker.declareQueue('jobs', { maxPriority: 5, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'high-short', routingKey: 'jobs', properties: { priority: 5, expirationMs: 100 } });
  await broker.publish('', { body: 'low-short', routingKey: 'jobs', properties: { priority: 1, expirationMs: 200 } });
  await broker.publish('', { body: 'low-long', routingKey: 'jobs', properties: { priority: 0 } });
  clock.advance(200);
  assert.equal(queue.messageCount(), 1);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['high-short', 'low-short']);
  await broker.close();
});

test('priority and FIFO groups: a busy group is skipped without blocking other messages of its priority', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { maxPriority: 5 });
  await broker.publish('', { body: 'a1', routingKey: 'jobs', properties: { priority: 5, groupId: 'a' } });
  await broker.publish('', { body: 'a2', routingKey: 'jobs', properties: { priority: 5, groupId: 'a' } });
  await broker.publish('', { body: 'b1', routingKey: 'jobs', properties: { priority: 5, groupId: 'b' } });
  await broker.publish('', { body: 'low', routingKey: 'jobs', properties: { priority: 0 } });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['a1', 'b1', 'low']);
  await broker.close();
});

test('FIFO group and delivery limit: a poison message leaves for the dead-letter exchange and frees its group', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { deliveryLimit: 1, deadLetterExchange: 'dlx' });
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery);
  for (const body of ['a1', 'a2']) await broker.publish('', { body, routingKey: 'jobs', properties: { groupId: 'a' } });
  await broker.nack(inbox.deliveries[0]!, { requeue: true });
  assert.deepEqual(inbox.bodies(), ['a1', 'a2']);
  assert.deepEqual(bodies(await broker.get('dead')), ['a1']);
  await broker.close();
});

test('delayed delivery and TTL: a delayed message is not expired while it waits for its due time', async () => {
  const clock = new ManualClock();
  const broker = await setup(clock);
  await broker.declareQueue('jobs', { messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'later', routingKey: 'jobs', properties: { delayMs: 500 } });
  clock.advance(500);
  await settle();
  assert.deepEqual(bodies(await broker.get('jobs')), ['later']);
  await broker.close();
});

test('dead letters arriving in a queue with a dedup window are deduplicated by message id like publishes', async () => {
  const broker = await setup();
  const unique = await broker.declareQueue('unique-dead', { deduplicationWindowMs: 60_000 });
  await broker.bind('dlx', 'unique-dead');
  await broker.declareQueue('jobs', { deadLetterExchange: 'dlx' });
  for (let index = 0; index < 2; index++) {
    await broker.publish('', { body: `copy-${index}`, routingKey: 'jobs', properties: { messageId: 'same' } });
  }
  await broker.nack(await broker.get('jobs', { max: 2 }), { requeue: false });
  assert.equal(unique.messageCount(), 1);
  assert.equal(broker.vhost().queue('dead').messageCount(), 2);
  await broker.close();
});

test('an auto-delete queue that loses its consumer takes its messages with it; nothing is dead-lettered', async () => {
  const broker = await setup();
  await broker.declareQueue('temp', { autoDelete: true, deadLetterExchange: 'dlx' });
  const handle = broker.consume('temp', () => undefined, { prefetch: 1 });
  for (const body of ['m1', 'm2']) await broker.publish('', { body, routingKey: 'temp' });
  handle.cancel();
  await settle();
  assert.equal(broker.vhost().findQueue('temp'), undefined);
  assert.deepEqual(await broker.get('dead'), []);
  await broker.close();
});

test('drop-head makes room even when every ready message waits behind a busy FIFO group', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { maxLength: 2, deadLetterExchange: 'dlx' });
  broker.consume('jobs', () => undefined);
  for (const body of ['a1', 'a2', 'a3']) await broker.publish('', { body, routingKey: 'jobs', properties: { groupId: 'a' } });
  const result = await broker.publish('', { body: 'b1', routingKey: 'jobs', properties: { groupId: 'b' } });
  assert.deepEqual(result.rejectedBy, [], 'drop-head never refuses a publish that fits');
  // b1 went straight to the consumer (its group was free); a3 still waits behind a1.
  assert.equal(queue.messageCount(), 1);
  assert.deepEqual(bodies(await broker.get('dead')), ['a2']);
  await broker.close();
});
