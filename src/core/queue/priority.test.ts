import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { Inbox, bodies, testPasswordHasher } from '../test-broker.js';

async function memoryBroker(): Promise<Broker> {
  return Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock: new ManualClock() });
}

async function publishWithPriority(broker: Broker, queue: string, messages: ReadonlyArray<[body: string, priority: number | undefined]>): Promise<void> {
  for (const [body, priority] of messages) {
    await broker.publish('', { body, routingKey: queue, properties: priority === undefined ? {} : { priority } });
  }
}

test('with maxPriority 9 higher-priority messages are delivered first, FIFO within a priority', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { maxPriority: 9 });
  await publishWithPriority(broker, 'jobs', [
    ['p1-a', 1],
    ['p5-a', 5],
    ['none', undefined],
    ['p9-a', 9],
    ['p5-b', 5],
    ['p1-b', 1],
    ['p9-b', 9],
  ]);
  assert.equal(broker.vhost().queue('jobs').messageCount(), 7);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['p9-a', 'p9-b', 'p5-a', 'p5-b', 'p1-a', 'p1-b', 'none']);
  await broker.close();
});

test('a priority above maxPriority counts as maxPriority', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { maxPriority: 3 });
  await publishWithPriority(broker, 'jobs', [['p3', 3], ['p200', 200], ['p2', 2]]);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['p3', 'p200', 'p2']);
  await broker.close();
});

test('a queue without maxPriority ignores message priorities', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await publishWithPriority(broker, 'jobs', [['low', 0], ['high', 9]]);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['low', 'high']);
  await broker.close();
});

test('a push consumer with prefetch 1 receives by priority as it acks', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { maxPriority: 9 });
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 1 });
  await publishWithPriority(broker, 'jobs', [['first', 0], ['low', 1], ['high', 8], ['mid', 4]]);
  assert.deepEqual(inbox.bodies(), ['first'], 'the first message went out before the others arrived');
  for (let index = 0; index < 3; index++) await broker.ack(inbox.deliveries[index]!);
  assert.deepEqual(inbox.bodies(), ['first', 'high', 'mid', 'low']);
  await broker.close();
});

test('a requeued low-priority message does not jump ahead of waiting higher-priority ones', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { maxPriority: 9 });
  await publishWithPriority(broker, 'jobs', [['low-1', 1], ['low-2', 1]]);
  const [low] = await broker.get('jobs');
  await publishWithPriority(broker, 'jobs', [['high-1', 9], ['high-2', 9]]);
  await broker.nack(low!, { requeue: true });
  const order = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(order), ['high-1', 'high-2', 'low-1', 'low-2'], 'back in its place within its own priority');
  assert.deepEqual(order.map((delivery) => delivery.redelivered), [false, false, true, false]);
  await broker.close();
});

test('a requeued high-priority message goes before everything else waiting', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { maxPriority: 9 });
  await publishWithPriority(broker, 'jobs', [['high-1', 9]]);
  const [high] = await broker.get('jobs');
  await publishWithPriority(broker, 'jobs', [['mid', 5], ['high-2', 9]]);
  await broker.nack(high!, { requeue: true });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['high-1', 'high-2', 'mid']);
  await broker.close();
});

test('maxPriority above 255 is refused with INVALID_ARGUMENT', async () => {
  const broker = await memoryBroker();
  await assert.rejects(broker.declareQueue('jobs', { maxPriority: 256 }), (error: { code?: string }) => error.code === 'INVALID_ARGUMENT');
  await broker.close();
});
