import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { Inbox, bodies, settle, withCode, testPasswordHasher } from '../test-broker.js';

async function start(): Promise<{ broker: Broker; clock: ManualClock }> {
  const clock = new ManualClock();
  return { broker: await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock }), clock };
}

test('an auto-delete queue disappears when its last consumer cancels, with its bindings', async () => {
  const { broker } = await start();
  await broker.declareExchange('fan', { type: 'fanout' });
  await broker.declareQueue('temp', { autoDelete: true });
  await broker.bind('fan', 'temp');
  const first = broker.consume('temp', () => undefined);
  const second = broker.consume('temp', () => undefined);
  first.cancel();
  await settle();
  assert.ok(broker.vhost().findQueue('temp'), 'one consumer is left');
  second.cancel();
  await settle();
  assert.equal(broker.vhost().findQueue('temp'), undefined);
  assert.equal((await broker.publish('fan', { body: 'm' })).routed, false);
  await broker.close();
});

test('an auto-delete queue that never had a consumer stays', async () => {
  const { broker, clock } = await start();
  await broker.declareQueue('temp', { autoDelete: true });
  clock.advance(60_000);
  await settle();
  assert.ok(broker.vhost().findQueue('temp'));
  await broker.close();
});

test('a queue with expiresMs is deleted after that long unused', async () => {
  const { broker, clock } = await start();
  await broker.declareQueue('idle', { expiresMs: 1_000 });
  await broker.publish('', { body: 'm', routingKey: 'idle' });
  clock.advance(999);
  await settle();
  assert.ok(broker.vhost().findQueue('idle'));
  clock.advance(1);
  await settle();
  assert.equal(broker.vhost().findQueue('idle'), undefined, 'messages do not keep a queue alive');
  await broker.close();
});

test('a get or a redeclaration restarts the idle time of an expiring queue', async () => {
  const { broker, clock } = await start();
  await broker.declareQueue('idle', { expiresMs: 1_000 });
  clock.advance(800);
  await broker.get('idle');
  clock.advance(800);
  await broker.declareQueue('idle', { expiresMs: 1_000 });
  clock.advance(800);
  await settle();
  assert.ok(broker.vhost().findQueue('idle'));
  clock.advance(200);
  await settle();
  assert.equal(broker.vhost().findQueue('idle'), undefined);
  await broker.close();
});

test('a queue with expiresMs does not expire while it has a consumer, and counts from when the last one leaves', async () => {
  const { broker, clock } = await start();
  await broker.declareQueue('idle', { expiresMs: 1_000 });
  const handle = broker.consume('idle', () => undefined);
  clock.advance(5_000);
  await settle();
  assert.ok(broker.vhost().findQueue('idle'));
  handle.cancel();
  clock.advance(999);
  await settle();
  assert.ok(broker.vhost().findQueue('idle'));
  clock.advance(1);
  await settle();
  assert.equal(broker.vhost().findQueue('idle'), undefined);
  await broker.close();
});

test('redeclaring an exclusive queue from another owner fails with RESOURCE_LOCKED', async () => {
  const { broker } = await start();
  await broker.declareQueue('mine', { exclusiveOwner: 'connection-1', durable: false });
  await assert.rejects(broker.declareQueue('mine', { exclusiveOwner: 'connection-2', durable: false }), withCode('RESOURCE_LOCKED'));
  await assert.rejects(broker.declareQueue('mine', { durable: false }), withCode('RESOURCE_LOCKED'));
  const again = await broker.declareQueue('mine', { exclusiveOwner: 'connection-1', durable: false });
  assert.equal(again.name, 'mine');
  await broker.close();
});

test('closing the owner deletes its exclusive queues and leaves the others', async () => {
  const { broker } = await start();
  await broker.declareQueue('mine', { exclusiveOwner: 'connection-1', durable: false });
  await broker.declareQueue('theirs', { exclusiveOwner: 'connection-2', durable: false });
  await broker.vhost().deleteExclusiveQueues('connection-1');
  assert.equal(broker.vhost().findQueue('mine'), undefined);
  assert.ok(broker.vhost().findQueue('theirs'));
  await broker.close();
});

test('redeclaring a queue with different settings fails with PRECONDITION_FAILED and leaves it unchanged', async () => {
  const { broker } = await start();
  const queue = await broker.declareQueue('jobs', { messageTtlMs: 1_000, maxLength: 10 });
  assert.equal(await broker.declareQueue('jobs', { messageTtlMs: 1_000, maxLength: 10 }), queue, 'same settings: the same queue');
  await assert.rejects(broker.declareQueue('jobs', { messageTtlMs: 2_000, maxLength: 10 }), withCode('PRECONDITION_FAILED'));
  await assert.rejects(broker.declareQueue('jobs', { messageTtlMs: 1_000 }), withCode('PRECONDITION_FAILED'));
  await assert.rejects(broker.declareQueue('jobs', { messageTtlMs: 1_000, maxLength: 10, durable: false }), withCode('PRECONDITION_FAILED'));
  assert.equal(broker.vhost().queue('jobs').config.messageTtlMs, 1_000);
  await broker.close();
});

test('an invalid policy value is refused with INVALID_ARGUMENT', async () => {
  const { broker } = await start();
  await assert.rejects(broker.declareQueue('jobs', { messageTtlMs: -1 }), withCode('INVALID_ARGUMENT'));
  await assert.rejects(broker.declareQueue('jobs', { deliveryLimit: 0 }), withCode('INVALID_ARGUMENT'));
  await assert.rejects(broker.declareQueue('jobs', { overflow: 'drop-tail' as never }), withCode('INVALID_ARGUMENT'));
  await assert.rejects(broker.declareQueue(''), withCode('INVALID_ARGUMENT'));
  assert.equal(broker.vhost().findQueue('jobs'), undefined);
  await broker.close();
});

test('deleteQueue with ifEmpty refuses a queue holding ready messages', async () => {
  const { broker } = await start();
  await broker.declareQueue('jobs');
  await broker.publish('', { body: 'm', routingKey: 'jobs' });
  await assert.rejects(broker.deleteQueue('jobs', { ifEmpty: true }), withCode('PRECONDITION_FAILED'));
  assert.ok(broker.vhost().findQueue('jobs'));
  await broker.ack(await broker.get('jobs'));
  assert.equal(await broker.deleteQueue('jobs', { ifEmpty: true }), 0);
  assert.equal(broker.vhost().findQueue('jobs'), undefined);
  await broker.close();
});

test('deleteQueue with ifUnused refuses a queue with a consumer', async () => {
  const { broker } = await start();
  await broker.declareQueue('jobs');
  const handle = broker.consume('jobs', () => undefined);
  await assert.rejects(broker.deleteQueue('jobs', { ifUnused: true }), withCode('PRECONDITION_FAILED'));
  handle.cancel();
  await broker.deleteQueue('jobs', { ifUnused: true });
  assert.equal(broker.vhost().findQueue('jobs'), undefined);
  await broker.close();
});

test('deleting a queue returns its ready count, cancels its consumers and makes it QUEUE_NOT_FOUND', async () => {
  const { broker } = await start();
  const queue = await broker.declareQueue('jobs');
  const reasons: string[] = [];
  queue.consume({ tag: 'c', prefetch: 1, autoAck: false, onDelivery: () => undefined, onCancelled: (reason) => reasons.push(reason) });
  for (const body of ['m1', 'm2', 'm3']) await broker.publish('', { body, routingKey: 'jobs' });
  assert.equal(await broker.deleteQueue('jobs'), 2);
  assert.equal(reasons.length, 1);
  assert.throws(() => broker.vhost().queue('jobs'), withCode('QUEUE_NOT_FOUND'));
  await assert.rejects(broker.deleteQueue('jobs'), withCode('QUEUE_NOT_FOUND'));
  await broker.close();
});

test('a long poll on a queue that gets deleted resolves with nothing', async () => {
  const { broker } = await start();
  await broker.declareQueue('jobs');
  const polling = broker.get('jobs', { waitMs: 10_000 });
  await broker.deleteQueue('jobs');
  assert.deepEqual(await polling, []);
  await broker.close();
});

test('purge removes the ready messages, returns how many, and leaves in-flight ones acknowledgeable', async () => {
  const { broker } = await start();
  const queue = await broker.declareQueue('jobs');
  for (const body of ['m1', 'm2', 'm3', 'm4']) await broker.publish('', { body, routingKey: 'jobs' });
  const taken = await broker.get('jobs', { max: 2 });
  assert.equal(await broker.purgeQueue('jobs'), 2);
  assert.equal(queue.messageCount(), 0);
  assert.equal(queue.unsettledCount(), 2);
  await broker.ack(taken[0]!);
  await broker.nack(taken[1]!, { requeue: true });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m2'], 'the requeued one is back, the purged ones are not');
  await broker.close();
});

test('purge also removes messages not yet read into memory', async () => {
  const { broker } = await start();
  const queue = await broker.declareQueue('jobs');
  for (let index = 0; index < 700; index++) await broker.publish('', { body: `m${index}`, routingKey: 'jobs' });
  assert.equal(await broker.purgeQueue('jobs'), 700);
  await broker.publish('', { body: 'after', routingKey: 'jobs' });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 1_000 })), ['after']);
  assert.equal(queue.messageCount(), 0);
  await broker.close();
});

test('purge does not disturb a consumer: new messages still reach it', async () => {
  const { broker } = await start();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 1 });
  for (const body of ['m1', 'm2', 'm3']) await broker.publish('', { body, routingKey: 'jobs' });
  assert.equal(await broker.purgeQueue('jobs'), 2);
  await broker.ack(inbox.deliveries[0]!);
  await broker.publish('', { body: 'm4', routingKey: 'jobs' });
  assert.deepEqual(inbox.bodies(), ['m1', 'm4']);
  await broker.close();
});
