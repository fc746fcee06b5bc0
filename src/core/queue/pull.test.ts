import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { bodies, settle, withCode, testPasswordHasher } from '../test-broker.js';

async function memoryBroker(clock = new ManualClock()): Promise<Broker> {
  return Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock });
}

async function publishAll(broker: Broker, queue: string, texts: readonly string[]): Promise<void> {
  for (const body of texts) await broker.publish('', { body, routingKey: queue });
}

test('get takes up to max ready messages in order and holds them in flight', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4', 'm5']);
  const taken = await broker.get('jobs', { max: 3 });
  assert.deepEqual(bodies(taken), ['m1', 'm2', 'm3']);
  assert.ok(taken.every((delivery) => delivery.consumerTag === undefined));
  const queue = broker.vhost().queue('jobs');
  assert.equal(queue.messageCount(), 2);
  assert.equal(queue.unsettledCount(), 3);
  assert.deepEqual(bodies(await broker.get('jobs')), ['m4'], 'max defaults to 1');
  await broker.close();
});

test('get on an empty queue without waitMs resolves at once with nothing', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  assert.deepEqual(await broker.get('jobs', { max: 10 }), []);
  await broker.close();
});

test('get with autoAck settles what it takes', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1', 'm2']);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10, autoAck: true })), ['m1', 'm2']);
  assert.equal(broker.vhost().queue('jobs').unsettledCount(), 0);
  assert.deepEqual(await broker.get('jobs', { max: 10 }), []);
  await broker.close();
});

test('a long poll resolves as soon as a message is published during the wait', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  await broker.declareQueue('jobs');
  let result: string[] | undefined;
  const polling = broker.get('jobs', { max: 5, waitMs: 20_000 }).then((deliveries) => (result = bodies(deliveries)));
  await settle();
  assert.equal(result, undefined, 'still waiting');
  clock.advance(1_000);
  await settle();
  assert.equal(result, undefined, 'still waiting after 1 s');
  await publishAll(broker, 'jobs', ['late']);
  await polling;
  assert.deepEqual(result, ['late']);
  await broker.close();
});

test('a long poll on an empty queue resolves with nothing once waitMs passes', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  await broker.declareQueue('jobs');
  let result: string[] | undefined;
  const polling = broker.get('jobs', { waitMs: 5_000 }).then((deliveries) => (result = bodies(deliveries)));
  await settle();
  clock.advance(4_999);
  await settle();
  assert.equal(result, undefined);
  clock.advance(1);
  await polling;
  assert.deepEqual(result, []);
  await broker.close();
});

test('a pulled message comes back, redelivered, when its visibility timeout passes unsettled', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1', 'm2']);
  const [first] = await broker.get('jobs', { visibilityTimeoutMs: 1_000 });
  assert.equal(first!.redelivered, false);
  clock.advance(999);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10, autoAck: true })), ['m2'], 'm1 is invisible');
  clock.advance(1);
  const [again] = await broker.get('jobs');
  assert.deepEqual(bodies([again!]), ['m1']);
  assert.equal(again!.redelivered, true);
  assert.equal(again!.deliveryCount, 2);
  await assert.rejects(broker.ack(first!), withCode('UNKNOWN_DELIVERY'), 'the old delivery is no longer valid');
  await broker.close();
});

test('an acked pulled message does not come back after its visibility timeout', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1']);
  const [delivery] = await broker.get('jobs', { visibilityTimeoutMs: 1_000 });
  await broker.ack(delivery!);
  clock.advance(5_000);
  assert.deepEqual(await broker.get('jobs'), []);
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0);
  await broker.close();
});

test('changeVisibility extends how long a pulled message stays invisible', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  const queue = await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1']);
  const [delivery] = await broker.get('jobs', { visibilityTimeoutMs: 1_000 });
  clock.advance(500);
  queue.changeVisibility(delivery!.id, 2_000);
  clock.advance(1_000);
  assert.deepEqual(await broker.get('jobs'), [], 'invisible past the original timeout');
  assert.equal(queue.unsettledCount(), 1);
  clock.advance(1_000);
  assert.deepEqual(bodies(await broker.get('jobs')), ['m1'], 'visible 2 s after the change');
  await broker.close();
});

test('changeVisibility can shorten the timeout, and fails with UNKNOWN_DELIVERY once settled', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  const queue = await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1']);
  const [delivery] = await broker.get('jobs', { visibilityTimeoutMs: 10_000 });
  queue.changeVisibility(delivery!.id, 100);
  clock.advance(100);
  const [again] = await broker.get('jobs');
  assert.deepEqual(bodies([again!]), ['m1']);
  await broker.ack(again!);
  assert.throws(() => queue.changeVisibility(again!.id, 100), withCode('UNKNOWN_DELIVERY'));
  await broker.close();
});

test('the queue policy visibilityTimeoutMs applies to a get that does not set its own', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  await broker.declareQueue('jobs', { visibilityTimeoutMs: 1_000 });
  await publishAll(broker, 'jobs', ['m1']);
  await broker.get('jobs');
  clock.advance(1_000);
  assert.deepEqual(bodies(await broker.get('jobs')), ['m1']);
  await broker.close();
});

test('a message whose visibility keeps running out is dead-lettered at the delivery limit', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  await broker.declareQueue('jobs', { deliveryLimit: 2, deadLetterExchange: 'dlx' });
  await publishAll(broker, 'jobs', ['poison']);
  assert.equal((await broker.get('jobs', { visibilityTimeoutMs: 100 })).length, 1);
  clock.advance(100);
  assert.equal((await broker.get('jobs', { visibilityTimeoutMs: 100 })).length, 1);
  clock.advance(100);
  await settle();
  assert.deepEqual(await broker.get('jobs'), []);
  const [dead] = await broker.get('dead');
  assert.deepEqual(bodies([dead!]), ['poison']);
  assert.equal(dead!.message.headers['x-first-death-reason'], 'delivery_limit');
  await broker.close();
});

test('get on a missing queue fails with QUEUE_NOT_FOUND', async () => {
  const broker = await memoryBroker();
  assert.throws(() => broker.get('missing'), withCode('QUEUE_NOT_FOUND'));
  await broker.close();
});

test('long polls that time out on an idle queue leave no waiter behind', async () => {
  const clock = new ManualClock();
  const broker = await memoryBroker(clock);
  const queue = await broker.declareQueue('jobs');
  for (let poll = 0; poll < 100; poll++) {
    const polling = broker.get('jobs', { waitMs: 20_000 });
    clock.advance(20_000);
    assert.deepEqual(await polling, []);
  }
  // Internal state, read only here: the waiters of finished polls must be gone.
  assert.equal((queue as unknown as { pullWaiters: unknown[] }).pullWaiters.length, 0);
  await broker.close();
});
