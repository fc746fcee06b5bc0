import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { Inbox, bodies, testPasswordHasher } from '../test-broker.js';

async function memoryBroker(): Promise<Broker> {
  return Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock: new ManualClock() });
}

async function publishGrouped(broker: Broker, queue: string, messages: ReadonlyArray<[body: string, groupId: string | undefined]>): Promise<void> {
  for (const [body, groupId] of messages) {
    await broker.publish('', { body, routingKey: queue, properties: groupId === undefined ? {} : { groupId } });
  }
}

test('only one message of a group is in flight at a time, while other groups and ungrouped messages proceed', async () => {
  const broker = await memoryBroker();
  const queue = await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery);
  await publishGrouped(broker, 'jobs', [
    ['a1', 'a'],
    ['a2', 'a'],
    ['b1', 'b'],
    ['free', undefined],
    ['a3', 'a'],
    ['b2', 'b'],
  ]);
  assert.deepEqual(inbox.bodies(), ['a1', 'b1', 'free']);
  assert.equal(queue.messageCount(), 3, 'the held-back group messages still count as ready');
  await broker.ack(inbox.deliveries[0]!);
  assert.deepEqual(inbox.bodies(), ['a1', 'b1', 'free', 'a2']);
  await broker.ack(inbox.deliveries[1]!);
  await broker.ack(inbox.deliveries[3]!);
  assert.deepEqual(inbox.bodies(), ['a1', 'b1', 'free', 'a2', 'b2', 'a3']);
  assert.equal(queue.messageCount(), 0);
  await broker.close();
});

test('two consumers never hold messages of the same group at once', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const first = new Inbox();
  const second = new Inbox();
  broker.consume('jobs', first.onDelivery);
  broker.consume('jobs', second.onDelivery);
  await publishGrouped(broker, 'jobs', [['a1', 'a'], ['a2', 'a'], ['a3', 'a']]);
  assert.equal(first.deliveries.length + second.deliveries.length, 1);
  const [holder] = first.deliveries.length > 0 ? [first] : [second];
  await broker.ack(holder.deliveries[0]!);
  assert.deepEqual([...first.bodies(), ...second.bodies()].sort(), ['a1', 'a2']);
  await broker.close();
});

test('a nacked group message is redelivered before the rest of its group, keeping order', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery);
  await publishGrouped(broker, 'jobs', [['a1', 'a'], ['a2', 'a'], ['a3', 'a']]);
  assert.deepEqual(inbox.bodies(), ['a1']);
  await broker.nack(inbox.deliveries[0]!, { requeue: true });
  assert.deepEqual(inbox.bodies(), ['a1', 'a1']);
  assert.equal(inbox.deliveries[1]!.redelivered, true);
  await broker.ack(inbox.deliveries[1]!);
  await broker.ack(inbox.deliveries[2]!);
  assert.deepEqual(inbox.bodies(), ['a1', 'a1', 'a2', 'a3']);
  await broker.close();
});

test('a group message dead-lettered by nack frees its group for the next message', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery);
  await publishGrouped(broker, 'jobs', [['a1', 'a'], ['a2', 'a']]);
  await broker.nack(inbox.deliveries[0]!, { requeue: false });
  assert.deepEqual(inbox.bodies(), ['a1', 'a2']);
  await broker.close();
});

test('pulling respects groups: a get skips a busy group and takes it up again once settled', async () => {
  const broker = await memoryBroker();
  const queue = await broker.declareQueue('jobs');
  await publishGrouped(broker, 'jobs', [['a1', 'a'], ['a2', 'a'], ['b1', 'b']]);
  const firstBatch = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(firstBatch), ['a1', 'b1']);
  assert.deepEqual(await broker.get('jobs', { max: 10 }), []);
  await broker.nack(firstBatch[0]!, { requeue: true });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['a1'], 'a1 again, a2 still waits');
  assert.equal(queue.messageCount(), 1);
  await broker.close();
});

test('a group message returned by its visibility timeout unblocks its group in order', async () => {
  const clock = new ManualClock();
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock });
  await broker.declareQueue('jobs');
  await publishGrouped(broker, 'jobs', [['a1', 'a'], ['a2', 'a']]);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10, visibilityTimeoutMs: 100 })), ['a1']);
  clock.advance(100);
  const again = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(again), ['a1']);
  await broker.ack(again);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['a2']);
  await broker.close();
});

test('purge settles group messages held back behind a busy group', async () => {
  const broker = await memoryBroker();
  const queue = await broker.declareQueue('jobs');
  await publishGrouped(broker, 'jobs', [['a1', 'a'], ['a2', 'a'], ['a3', 'a']]);
  const [a1] = await broker.get('jobs');
  await broker.get('jobs');
  assert.equal(await broker.purgeQueue('jobs'), 2);
  await broker.ack(a1!);
  assert.deepEqual(await broker.get('jobs', { max: 10 }), []);
  assert.equal(queue.messageCount(), 0);
  await broker.close();
});

test('a quorum queue puts a rejected group message behind the rest of its group, as at its tail, also while the group is busy', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { queueType: 'quorum' });
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery);
  await publishGrouped(broker, 'jobs', [
    ['a1', 'a'],
    ['a2', 'a'],
    ['a3', 'a'],
  ]);
  assert.deepEqual(inbox.bodies(), ['a1']);
  // Rejected with requeue: to the tail, so a2 and a3 (published before the rejection) come first.
  await broker.nack(inbox.deliveries[0]!, { requeue: true });
  await publishGrouped(broker, 'jobs', [['a4', 'a']]);
  assert.deepEqual(inbox.bodies(), ['a1', 'a2']);
  await broker.ack(inbox.deliveries[1]!);
  assert.deepEqual(inbox.bodies(), ['a1', 'a2', 'a3']);
  await broker.ack(inbox.deliveries[2]!);
  // a4 was published after a1 came back: a1 first.
  assert.deepEqual(inbox.bodies(), ['a1', 'a2', 'a3', 'a1']);
  await broker.ack(inbox.deliveries[3]!);
  assert.deepEqual(inbox.bodies(), ['a1', 'a2', 'a3', 'a1', 'a4']);
  assert.equal(inbox.deliveries[3]!.redelivered, true);
  await broker.close();
});
