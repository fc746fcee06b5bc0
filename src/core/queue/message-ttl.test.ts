import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { Inbox, bodies, deathRecords, settle, testPasswordHasher } from '../test-broker.js';

async function setup(clock = new ManualClock()): Promise<{ broker: Broker; clock: ManualClock }> {
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock });
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  return { broker, clock };
}

test('queue messageTtlMs expires an unconsumed message once the time passes, dead-lettering it as expired', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('jobs', { messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'stale', routingKey: 'jobs' });
  clock.advance(999);
  assert.equal(queue.messageCount(), 1, 'not yet expired');
  clock.advance(1);
  assert.equal(queue.messageCount(), 0);
  assert.equal(queue.counters.expired, 1);
  const dead = await broker.get('dead', { max: 10 });
  assert.deepEqual(bodies(dead), ['stale']);
  const [death] = deathRecords(dead[0]!);
  assert.equal(death?.['reason'], 'expired');
  assert.equal(death?.['queue'], 'jobs');
  assert.equal(death?.['exchange'], '');
  assert.deepEqual(death?.['routing-keys'], ['jobs']);
  assert.equal(dead[0]!.message.headers['x-first-death-reason'], 'expired');
  assert.equal(dead[0]!.message.headers['x-first-death-queue'], 'jobs');
  await broker.close();
});

test('an expired message without a dead-letter exchange is dropped', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('jobs', { messageTtlMs: 100 });
  await broker.publish('', { body: 'stale', routingKey: 'jobs' });
  clock.advance(100);
  assert.equal(queue.messageCount(), 0);
  assert.deepEqual(await broker.get('jobs'), []);
  assert.deepEqual(await broker.get('dead'), []);
  await broker.close();
});

test('messages expire in turn, each at its own arrival time plus the TTL', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('jobs', { messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'first', routingKey: 'jobs' });
  clock.advance(400);
  await broker.publish('', { body: 'second', routingKey: 'jobs' });
  clock.advance(600);
  assert.equal(queue.messageCount(), 1);
  clock.advance(399);
  assert.equal(queue.messageCount(), 1);
  clock.advance(1);
  assert.equal(queue.messageCount(), 0);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['first', 'second']);
  await broker.close();
});

test('a consumer never receives a message that expired while it was at its prefetch limit', async () => {
  const { broker, clock } = await setup();
  await broker.declareQueue('jobs', { messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 1 });
  await broker.publish('', { body: 'busy', routingKey: 'jobs' });
  await broker.publish('', { body: 'waiting', routingKey: 'jobs' });
  clock.advance(1_000);
  await broker.ack(inbox.deliveries[0]!);
  assert.deepEqual(inbox.bodies(), ['busy']);
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['waiting']);
  await broker.close();
});

test('per-message expirationMs expires a message in a queue without a TTL and is recorded as original-expiration', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('jobs', { deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'short', routingKey: 'jobs', properties: { expirationMs: 500 } });
  clock.advance(499);
  assert.equal(queue.messageCount(), 1);
  clock.advance(1);
  assert.equal(queue.messageCount(), 0);
  const [dead] = await broker.get('dead');
  assert.deepEqual(bodies([dead!]), ['short']);
  assert.equal(dead!.message.properties.expirationMs, undefined, 'the dead letter does not expire again');
  assert.equal(deathRecords(dead!)[0]?.['original-expiration'], '500');
  await broker.close();
});

test('the shorter of the queue TTL and the message expiration applies', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('jobs', { messageTtlMs: 1_000 });
  await broker.publish('', { body: 'short', routingKey: 'jobs', properties: { expirationMs: 200 } });
  clock.advance(200);
  assert.equal(queue.messageCount(), 0, 'the message expiration is shorter');
  await broker.publish('', { body: 'long', routingKey: 'jobs', properties: { expirationMs: 5_000 } });
  clock.advance(1_000);
  assert.equal(queue.messageCount(), 0, 'the queue TTL is shorter');
  await broker.close();
});

test('with messageTtlMs 0 a message nobody takes at once expires', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('now', { messageTtlMs: 0, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'unseen', routingKey: 'now' });
  clock.advance(0);
  assert.equal(queue.messageCount(), 0, 'expired by the timer without any time passing');
  assert.deepEqual(await broker.get('now'), []);
  assert.deepEqual(bodies(await broker.get('dead')), ['unseen']);
  await broker.close();
});

test('with messageTtlMs 0 a message still reaches a consumer waiting with credit (RabbitMQ semantics)', async () => {
  const { broker } = await setup();
  await broker.declareQueue('now', { messageTtlMs: 0, deadLetterExchange: 'dlx' });
  const inbox = new Inbox();
  broker.consume('now', inbox.onDelivery);
  await broker.publish('', { body: 'seen', routingKey: 'now' });
  assert.deepEqual(inbox.bodies(), ['seen']);
  assert.deepEqual(await broker.get('dead'), []);
  await broker.close();
});

test('with messageTtlMs 0 a message reaches a waiting consumer even when the clock moves before the turn ends', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('now', { messageTtlMs: 0, deadLetterExchange: 'dlx' });
  const inbox = new Inbox();
  const consumer = broker.consume('now', inbox.onDelivery, { autoAck: true });
  // The delivery happens at the end of the publishing turn; a busy process may be a few ms later there.
  const published = broker.publish('', { body: 'seen', routingKey: 'now' });
  clock.advance(5);
  await published;
  assert.deepEqual(inbox.bodies(), ['seen']);
  assert.deepEqual(await broker.get('dead'), []);
  // One that nobody took is still expired at once, and a later turn's message waits for nobody either.
  consumer.cancel();
  await broker.publish('', { body: 'unseen', routingKey: 'now' });
  clock.advance(0);
  assert.equal(queue.messageCount(), 0);
  assert.deepEqual(bodies(await broker.get('dead')), ['unseen']);
  await broker.close();
});

test('TTL dead-letters use the deadLetterRoutingKey when set, the original routing key otherwise', async () => {
  const { broker, clock } = await setup();
  await broker.declareExchange('expired', { type: 'direct' });
  await broker.declareQueue('by-policy-key');
  await broker.declareQueue('by-original-key');
  await broker.bind('expired', 'by-policy-key', 'expired-orders');
  await broker.bind('expired', 'by-original-key', 'orders.eu');
  await broker.declareExchange('orders', { type: 'topic' });
  await broker.declareQueue('with-key', { messageTtlMs: 100, deadLetterExchange: 'expired', deadLetterRoutingKey: 'expired-orders' });
  await broker.declareQueue('without-key', { messageTtlMs: 100, deadLetterExchange: 'expired' });
  await broker.bind('orders', 'with-key', 'orders.*');
  await broker.bind('orders', 'without-key', 'orders.*');
  await broker.publish('orders', { body: 'o1', routingKey: 'orders.eu' });
  clock.advance(100);
  const [byPolicy] = await broker.get('by-policy-key', { max: 10 });
  const [byOriginal] = await broker.get('by-original-key', { max: 10 });
  assert.deepEqual(bodies([byPolicy!]), ['o1']);
  assert.equal(byPolicy!.message.routingKey, 'expired-orders');
  assert.equal(deathRecords(byPolicy!)[0]?.['queue'], 'with-key');
  assert.deepEqual(deathRecords(byPolicy!)[0]?.['routing-keys'], ['orders.eu'], 'x-death keeps the original routing key');
  assert.equal(byPolicy!.message.headers['x-first-death-exchange'], 'orders');
  assert.deepEqual(bodies([byOriginal!]), ['o1']);
  assert.equal(deathRecords(byOriginal!)[0]?.['queue'], 'without-key');
  await broker.close();
});

test('a message requeued after its TTL passed is expired, not redelivered', async () => {
  const { broker, clock } = await setup();
  await broker.declareQueue('jobs', { messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'slow', routingKey: 'jobs' });
  const [delivery] = await broker.get('jobs');
  clock.advance(2_000);
  await broker.nack(delivery!, { requeue: true });
  assert.deepEqual(await broker.get('jobs'), []);
  assert.deepEqual(bodies(await broker.get('dead')), ['slow']);
  await broker.close();
});

test('a message requeued after its TTL passed is dead-lettered by the expiry timer without waiting for a reader', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('jobs', { messageTtlMs: 1_000, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'slow', routingKey: 'jobs' });
  const [delivery] = await broker.get('jobs');
  clock.advance(2_000);
  await broker.nack(delivery!, { requeue: true });
  clock.advance(1);
  await settle();
  assert.equal(queue.messageCount(), 0);
  assert.equal(broker.vhost().queue('dead').messageCount(), 1);
  await broker.close();
});

test('a TTL expires a backlog larger than the read-ahead completely, dead-lettering in order', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('jobs', { messageTtlMs: 100, deadLetterExchange: 'dlx' });
  const texts = Array.from({ length: 1_200 }, (_, index) => `m${index}`);
  for (const body of texts) await broker.publish('', { body, routingKey: 'jobs' });
  clock.advance(100);
  // Unread messages expire once read; the re-armed timer is due at once, which a ManualClock fires on advance(0).
  for (let round = 0; round < 20 && queue.messageCount() > 0; round++) {
    await settle();
    clock.advance(0);
  }
  assert.equal(queue.messageCount(), 0);
  assert.equal(queue.counters.expired, texts.length);
  assert.deepEqual(bodies(await broker.get('dead', { max: 2_000 })), texts);
  await broker.close();
});

test('a message that expired behind the head is gone as soon as a get takes the head, so the count left is right', async () => {
  const { broker, clock } = await setup();
  const queue = await broker.declareQueue('behind', { deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'head', routingKey: 'behind' });
  await broker.publish('', { body: 'short-lived', routingKey: 'behind', properties: { expirationMs: 100 } });
  await broker.publish('', { body: 'tail', routingKey: 'behind' });
  clock.advance(200);
  assert.equal(queue.messageCount(), 3, 'RabbitMQ expires only at the head: the expired one is still counted');
  const [head] = await broker.get('behind', { autoAck: true });
  assert.deepEqual(bodies([head!]), ['head']);
  assert.equal(queue.messageCount(), 1, 'the expired message reached the head and went');
  assert.deepEqual(bodies(await broker.get('dead', { max: 10 })), ['short-lived']);
  await broker.close();
});
