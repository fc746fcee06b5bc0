import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { Inbox, bodies, settle, testPasswordHasher } from '../test-broker.js';

async function start(): Promise<{ broker: Broker; clock: ManualClock }> {
  const clock = new ManualClock();
  return { broker: await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock }), clock };
}

async function publishDelayed(broker: Broker, queue: string, messages: ReadonlyArray<[body: string, delayMs: number]>): Promise<void> {
  for (const [body, delayMs] of messages) await broker.publish('', { body, routingKey: queue, properties: { delayMs } });
}

test('a delayed message stays invisible (scheduled, not ready) until it is due, then is delivered', async () => {
  const { broker, clock } = await start();
  const queue = await broker.declareQueue('jobs');
  await publishDelayed(broker, 'jobs', [['later', 1_000]]);
  assert.equal(queue.scheduledCount(), 1);
  assert.equal(queue.messageCount(), 0);
  assert.deepEqual(await broker.get('jobs'), []);
  clock.advance(999);
  await settle();
  assert.deepEqual(await broker.get('jobs'), []);
  clock.advance(1);
  await settle();
  assert.equal(queue.scheduledCount(), 0);
  assert.equal(queue.messageCount(), 1);
  const [delivery] = await broker.get('jobs');
  assert.deepEqual(bodies([delivery!]), ['later']);
  assert.equal(delivery!.redelivered, false);
  await broker.close();
});

test('a delayed message does not hold back ready messages published after it', async () => {
  const { broker } = await start();
  await broker.declareQueue('jobs');
  await publishDelayed(broker, 'jobs', [['later', 1_000]]);
  await broker.publish('', { body: 'now', routingKey: 'jobs' });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['now']);
  await broker.close();
});

test('a waiting consumer receives delayed messages in the order they fall due', async () => {
  const { broker, clock } = await start();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery);
  await publishDelayed(broker, 'jobs', [['at-300', 300], ['at-100', 100], ['at-200', 200]]);
  assert.deepEqual(inbox.bodies(), []);
  for (const step of [100, 100, 100]) {
    clock.advance(step);
    await settle();
  }
  assert.deepEqual(inbox.bodies(), ['at-100', 'at-200', 'at-300']);
  await broker.close();
});

test('delayed messages that fall due together are queued in due-time order', async () => {
  const { broker, clock } = await start();
  await broker.declareQueue('jobs');
  await publishDelayed(broker, 'jobs', [['at-300', 300], ['at-100', 100], ['at-200', 200]]);
  clock.advance(300);
  await settle();
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['at-100', 'at-200', 'at-300']);
  await broker.close();
});

test('10,000 delayed messages share one timer and all become ready when due', async () => {
  const { broker, clock } = await start();
  const queue = await broker.declareQueue('jobs');
  const timersBefore = clock.pendingTimerCount();
  const total = 10_000;
  const publishes: Promise<void>[] = [];
  const encoder = new TextEncoder();
  // Straight to the vhost (placement is synchronous), to keep this test fast.
  for (let index = 0; index < total; index++) {
    const body = encoder.encode(`m${index}`);
    publishes.push(broker.vhost().publish('', { routingKey: 'jobs', body, headers: {}, properties: { delayMs: 1_000 + (index % 100) }, persistent: true }).durable);
  }
  await Promise.all(publishes);
  assert.equal(queue.scheduledCount(), total);
  assert.ok(clock.pendingTimerCount() - timersBefore <= 1, `timers added: ${clock.pendingTimerCount() - timersBefore}`);
  clock.advance(1_050);
  await settle();
  assert.ok(clock.pendingTimerCount() - timersBefore <= 1);
  clock.advance(50);
  await settle(10);
  assert.equal(queue.scheduledCount(), 0);
  assert.equal(queue.messageCount(), total);
  assert.equal((await broker.get('jobs', { max: total, autoAck: true })).length, total);
  await broker.close();
});

test('a delayed message behind an unread backlog is delivered exactly once', async () => {
  const { broker, clock } = await start();
  const queue = await broker.declareQueue('jobs');
  // More than the 512-message read-ahead buffer, so the tail of the queue stays unread on the log.
  for (let index = 0; index < 600; index++) await broker.publish('', { body: `m${index}`, routingKey: 'jobs' });
  await publishDelayed(broker, 'jobs', [['delayed', 100]]);
  clock.advance(100);
  await settle();
  assert.equal(queue.messageCount(), 601);
  const delivered = await broker.get('jobs', { max: 1_000 });
  const more = await broker.get('jobs', { max: 1_000 });
  const all = bodies([...delivered, ...more]);
  assert.equal(all.filter((body) => body === 'delayed').length, 1);
  assert.equal(all.length, 601);
  assert.equal(queue.messageCount(), 0);
  await broker.close();
});

test('a delayed message in a queue deleted before it is due is never delivered and does not throw', async () => {
  const { broker, clock } = await start();
  await broker.declareQueue('jobs');
  await publishDelayed(broker, 'jobs', [['later', 100]]);
  await broker.deleteQueue('jobs');
  clock.advance(200);
  await settle();
  await broker.declareQueue('jobs');
  assert.deepEqual(await broker.get('jobs'), []);
  await broker.close();
});
