import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { Inbox, bodies, deathRecords, settle, withCode, testPasswordHasher } from '../test-broker.js';

async function memoryBroker(): Promise<Broker> {
  return Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock: new ManualClock() });
}

async function publishAll(broker: Broker, queue: string, texts: readonly string[]): Promise<void> {
  for (const body of texts) await broker.publish('', { body, routingKey: queue });
}

/** A fanout dead-letter exchange `dlx` feeding the queue `dead`. */
async function declareDeadLetters(broker: Broker): Promise<void> {
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
}

test('competing consumers receive messages round-robin', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const first = new Inbox();
  const second = new Inbox();
  broker.consume('jobs', first.onDelivery);
  broker.consume('jobs', second.onDelivery);
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  assert.deepEqual(first.bodies(), ['m1', 'm3']);
  assert.deepEqual(second.bodies(), ['m2', 'm4']);
  await broker.close();
});

test('prefetch 1 gives each consumer one unacknowledged message at a time (fair dispatch)', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const one = new Inbox();
  const other = new Inbox();
  broker.consume('jobs', one.onDelivery, { prefetch: 1 });
  broker.consume('jobs', other.onDelivery, { prefetch: 1 });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  assert.deepEqual([...one.bodies(), ...other.bodies()].sort(), ['m1', 'm2'], 'one message each, the first two');
  assert.equal(broker.vhost().queue('jobs').messageCount(), 2);
  assert.equal(broker.vhost().queue('jobs').unsettledCount(), 2);
  // Only one consumer acks (the fast one): it gets every remaining message, in order.
  const [fast, slow] = [one, other];
  const slowBefore = slow.bodies();
  await broker.ack(fast.deliveries[0]!);
  assert.equal(fast.deliveries.length, 2);
  await broker.ack(fast.deliveries[1]!);
  assert.deepEqual(fast.bodies().slice(1), ['m3', 'm4']);
  assert.deepEqual(slow.bodies(), slowBefore, 'the slow consumer got nothing more');
  await broker.close();
});

test('an ack restores one message of credit to a consumer at its prefetch limit', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 2 });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4', 'm5']);
  assert.deepEqual(inbox.bodies(), ['m1', 'm2']);
  await broker.ack(inbox.deliveries[0]!);
  assert.deepEqual(inbox.bodies(), ['m1', 'm2', 'm3']);
  await broker.ack([inbox.deliveries[1]!, inbox.deliveries[2]!]);
  assert.deepEqual(inbox.bodies(), ['m1', 'm2', 'm3', 'm4', 'm5']);
  await broker.close();
});

test('a full prefetch window of 128 or more is refilled once a quarter of it is settled, then up to full', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 128 });
  await publishAll(broker, 'jobs', Array.from({ length: 200 }, (_, index) => `m${index}`));
  assert.equal(inbox.deliveries.length, 128, 'filled to the window');
  await broker.ack(inbox.deliveries.slice(0, 31));
  assert.equal(inbox.deliveries.length, 128, 'still holding 97 of 128: no refill yet');
  await broker.ack(inbox.deliveries[31]!);
  assert.equal(inbox.deliveries.length, 160, 'a quarter settled: refilled to the window');
  assert.deepEqual(inbox.bodies().slice(128, 130), ['m128', 'm129'], 'in order');
  await broker.close();
});

test('acking the same delivery twice in one call counts it once (credit is not restored twice)', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 1 });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  const first = inbox.deliveries[0]!;
  await broker.ack([first, first]).catch(() => undefined);
  // One ack, one message of credit: exactly one more delivery in flight.
  assert.equal(broker.vhost().queue('jobs').unsettledCount(), 1);
  assert.deepEqual(inbox.bodies(), ['m1', 'm2']);
  assert.equal(broker.vhost().queue('jobs').counters.acked, 1);
  await broker.close();
});

test('acking a delivery that was already settled fails with UNKNOWN_DELIVERY', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1']);
  const [delivery] = await broker.get('jobs');
  await broker.ack(delivery!);
  await assert.rejects(broker.ack(delivery!), withCode('UNKNOWN_DELIVERY'));
  await broker.close();
});

test('nack with requeue puts a message back at its original position, marked redelivered', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  const taken = await broker.get('jobs', { max: 2 });
  assert.deepEqual(bodies(taken), ['m1', 'm2']);
  assert.equal(taken[0]!.redelivered, false);
  // Returned in reverse order, they still come back in queue order, before m3.
  await broker.nack(taken[1]!, { requeue: true });
  await broker.nack(taken[0]!, { requeue: true });
  const again = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(again), ['m1', 'm2', 'm3', 'm4']);
  assert.deepEqual(again.map((delivery) => delivery.redelivered), [true, true, false, false]);
  assert.deepEqual(again.map((delivery) => delivery.deliveryCount), [2, 2, 1, 1]);
  await broker.close();
});

test('a push consumer gets a requeued message again before later ones', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery, { prefetch: 1 });
  await publishAll(broker, 'jobs', ['m1', 'm2']);
  await broker.nack(inbox.deliveries[0]!, { requeue: true });
  assert.deepEqual(inbox.bodies(), ['m1', 'm1']);
  assert.equal(inbox.deliveries[1]!.redelivered, true);
  await broker.close();
});

test('a quorum queue puts messages its consumer rejects with requeue at its tail, in the order they came back', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { queueType: 'quorum' });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  const taken = await broker.get('jobs', { max: 3 });
  await broker.nack(taken[2]!, { requeue: true });
  await broker.nack(taken[0]!, { requeue: true });
  // Published after the returns: behind them.
  await publishAll(broker, 'jobs', ['m5']);
  assert.equal(broker.vhost().queue('jobs').messageCount(), 4);
  const peeked = await broker.vhost().queue('jobs').peek(10);
  assert.deepEqual(peeked.map((entry) => Buffer.from(entry.message.body).toString()), ['m4', 'm3', 'm1', 'm5'], 'peek shows the same order');
  const again = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(again), ['m4', 'm3', 'm1', 'm5']);
  assert.deepEqual(again.map((delivery) => delivery.redelivered), [false, true, true, false]);
  await broker.ack(again);
  await broker.ack(taken[1]!);
  await broker.close();
});

test('a quorum queue consumer gets later messages before the ones it rejected; a cancelled consumer\'s messages go back in place', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { queueType: 'quorum' });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4', 'm5']);
  const inbox = new Inbox();
  const consumer = broker.consume('jobs', inbox.onDelivery, { prefetch: 3 });
  assert.deepEqual(inbox.bodies(), ['m1', 'm2', 'm3']);
  await broker.nack(inbox.deliveries[2]!, { requeue: true });
  await broker.nack(inbox.deliveries[0]!, { requeue: true });
  await settle();
  assert.deepEqual(inbox.bodies(), ['m1', 'm2', 'm3', 'm4', 'm5']);
  consumer.cancel({ requeueUnsettled: true });
  await settle();
  // m2, m4 and m5 were in flight: back to their places, before the rejected m3 and m1.
  const rest = await broker.get('jobs', { max: 10 });
  assert.deepEqual(bodies(rest), ['m2', 'm4', 'm5', 'm3', 'm1']);
  await broker.close();
});

test('a message a quorum queue put at its tail keeps that place when it comes back again without a decision (a cancelled consumer)', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { queueType: 'quorum' });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3']);
  const [first] = await broker.get('jobs');
  await broker.nack(first!, { requeue: true });
  await publishAll(broker, 'jobs', ['m4']);
  const inbox = new Inbox();
  const consumer = broker.consume('jobs', inbox.onDelivery, { prefetch: 3 });
  assert.deepEqual(inbox.bodies(), ['m2', 'm3', 'm1']);
  consumer.cancel({ requeueUnsettled: true });
  await settle();
  // Each back at its place: m1's is the tail it was put at, before m4 (published after).
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m2', 'm3', 'm1', 'm4']);
  await broker.close();
});

test('a quorum queue\'s requeued messages are purged, expire at the head and count as ready', async () => {
  const clock = new ManualClock();
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock });
  await broker.declareQueue('jobs', { queueType: 'quorum', messageTtlMs: 1_000 });
  await publishAll(broker, 'jobs', ['m1', 'm2']);
  const [first] = await broker.get('jobs');
  await broker.nack(first!, { requeue: true });
  assert.equal(broker.vhost().queue('jobs').messageCount(), 2);
  clock.advance(1_500);
  await settle();
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0, 'both expired, the requeued one once it was the head');
  await publishAll(broker, 'jobs', ['m3', 'm4']);
  const [third] = await broker.get('jobs');
  await broker.nack(third!, { requeue: true });
  assert.equal(await broker.vhost().queue('jobs').purge(), 2);
  assert.deepEqual(await broker.get('jobs', { max: 10 }), []);
  await broker.close();
});

test('a quorum queue\'s requeued message stays behind unread older messages: drop-head and peek take those first', async () => {
  const broker = await memoryBroker();
  await declareDeadLetters(broker);
  await broker.declareQueue('jobs', { queueType: 'quorum', maxLength: 600, deadLetterExchange: 'dlx' });
  const padding = 'x'.repeat(10_000);
  // 10 KB each: more than the read-ahead holds, so the later ones stay unread in the log.
  await publishAll(broker, 'jobs', Array.from({ length: 600 }, (_, index) => `m${index} ${padding}`));
  const [first] = await broker.get('jobs');
  await broker.nack(first!, { requeue: true });
  const names = (texts: readonly string[]) => texts.map((text) => text.split(' ')[0]);
  const peeked = await broker.vhost().queue('jobs').peek(600);
  assert.deepEqual(names(peeked.map((entry) => Buffer.from(entry.message.body).toString())).slice(-2), ['m599', 'm0'], 'peek: after every older message');
  await publishAll(broker, 'jobs', Array.from({ length: 5 }, (_, index) => `n${index} ${padding}`));
  const dropped = await broker.get('dead', { max: 10 });
  assert.deepEqual(names(bodies(dropped)), ['m1', 'm2', 'm3', 'm4', 'm5'], 'drop-head takes the oldest unread ones, not the requeued m0');
  await broker.close();
});

test('a transient publish to a durable queue after its store stopped does not take the process down', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await (broker as unknown as { logStore: { close(): Promise<void> } }).logStore.close();
  await broker.publish('', { body: 't', routingKey: 'jobs', persistent: false }).catch(() => undefined);
  await settle();
  await assert.rejects(broker.publish('', { body: 'p', routingKey: 'jobs', persistent: true }), (error: { code?: string }) => error.code === 'STORAGE_CLOSED');
  await broker.close().catch(() => undefined);
});

test('one ack of deliveries of several queues settles each queue and resolves once all are written; an unknown one rejects', async () => {
  const broker = await memoryBroker();
  for (const name of ['a', 'b', 'c']) {
    await broker.declareQueue(name);
    await broker.publish('', { body: name, routingKey: name, persistent: true });
  }
  const taken = [...(await broker.get('a')), ...(await broker.get('b')), ...(await broker.get('c'))];
  assert.equal(taken.length, 3);
  await broker.ack(taken);
  for (const name of ['a', 'b', 'c']) assert.equal(broker.vhost().queue(name).counters.acked, 1, `queue ${name} counted its ack`);
  await assert.rejects(broker.ack(taken), (error: { code?: string }) => error.code === 'UNKNOWN_DELIVERY');
  await broker.close();
});

test('an ack of interleaved deliveries of two queues, one given twice, settles each once; a nack groups the same way; a deleted queue is named', async () => {
  const broker = await memoryBroker();
  for (const name of ['a', 'b']) {
    await broker.declareQueue(name);
    for (let index = 0; index < 3; index++) await broker.publish('', { body: `${name}${index}`, routingKey: name, persistent: true });
  }
  const [a0, a1, a2] = await broker.get('a', { max: 3 });
  const [b0, b1, b2] = await broker.get('b', { max: 3 });
  await broker.ack([a0!, b0!, a1!, b1!, a0!]);
  assert.deepEqual(['a', 'b'].map((name) => broker.vhost().queue(name).counters.acked), [2, 2]);
  await broker.nack([b2!, a2!], { requeue: true });
  const again = [...(await broker.get('a')), ...(await broker.get('b'))];
  assert.deepEqual(again.map((delivery) => [delivery.queue, Buffer.from(delivery.message.body).toString(), delivery.redelivered]), [['a', 'a2', true], ['b', 'b2', true]]);
  await broker.deleteQueue('b');
  await assert.rejects(broker.ack(again), (error: { code?: string; message?: string }) => error.code === 'QUEUE_NOT_FOUND' && /'b'/.test(error.message ?? ''));
  await broker.close();
});

test('a publish whose message is appended at once (its queue got one a turn) is refused when that append fails', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await broker.publish('', { body: 'first', routingKey: 'jobs', persistent: true });
  await broker.publish('', { body: 'second', routingKey: 'jobs', persistent: true });
  await (broker as unknown as { logStore: { close(): Promise<void> } }).logStore.close();
  await assert.rejects(broker.publish('', { body: 'third', routingKey: 'jobs', persistent: true }), (error: { code?: string }) => error.code === 'STORAGE_CLOSED');
  await broker.close().catch(() => undefined);
});

test('nack without requeue dead-letters the message with reason rejected', async () => {
  const broker = await memoryBroker();
  await declareDeadLetters(broker);
  await broker.declareQueue('jobs', { deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'bad', routingKey: 'jobs', headers: { attempt: 1 } });
  const [delivery] = await broker.get('jobs');
  await broker.nack(delivery!, { requeue: false });
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0);
  const [dead] = await broker.get('dead');
  assert.ok(dead, 'the dead-letter queue has the message');
  assert.equal(dead.message.headers['attempt'], 1, 'original headers are kept');
  const [death] = deathRecords(dead);
  assert.equal(death?.['reason'], 'rejected');
  assert.equal(death?.['queue'], 'jobs');
  assert.equal(death?.['count'], 1);
  assert.equal(dead.message.headers['x-first-death-reason'], 'rejected');
  await broker.close();
});

test('nack without requeue and without a dead-letter exchange drops the message', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  await publishAll(broker, 'jobs', ['bad', 'good']);
  const [delivery] = await broker.get('jobs');
  await broker.nack(delivery!, { requeue: false });
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['good']);
  await broker.close();
});

test('an autoAck consumer never gets a message again, even after it cancels', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  const handle = broker.consume('jobs', inbox.onDelivery, { autoAck: true, prefetch: 1 });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3']);
  assert.deepEqual(inbox.bodies(), ['m1', 'm2', 'm3'], 'prefetch does not hold back auto-acked deliveries');
  assert.equal(broker.vhost().queue('jobs').unsettledCount(), 0);
  handle.cancel({ requeueUnsettled: true });
  const later = new Inbox();
  broker.consume('jobs', later.onDelivery);
  await settle();
  assert.deepEqual(later.bodies(), []);
  await broker.close();
});

test('a higher-priority consumer is served first while it has credit, then lower ones', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const low = new Inbox();
  const high = new Inbox();
  broker.consume('jobs', low.onDelivery, { priority: 0 });
  broker.consume('jobs', high.onDelivery, { priority: 10, prefetch: 2 });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  assert.deepEqual(high.bodies(), ['m1', 'm2']);
  assert.deepEqual(low.bodies(), ['m3', 'm4']);
  await broker.ack(high.deliveries[0]!);
  await publishAll(broker, 'jobs', ['m5']);
  assert.deepEqual(high.bodies(), ['m1', 'm2', 'm5'], 'credit back, the high-priority consumer wins again');
  await broker.close();
});

test('on a single-active-consumer queue only the first consumer receives, and the next takes over on cancel', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs', { singleActiveConsumer: true });
  const first = new Inbox();
  const second = new Inbox();
  const changes: string[] = [];
  const handle = broker.consume('jobs', first.onDelivery, { tag: 'first', prefetch: 1 });
  broker.vhost().queue('jobs').consume({
    tag: 'second',
    prefetch: 0,
    autoAck: false,
    onDelivery: second.onDelivery,
    onActiveChanged: (active) => changes.push(`second:${String(active)}`),
  });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3']);
  assert.deepEqual(first.bodies(), ['m1']);
  assert.deepEqual(second.bodies(), [], 'the waiting consumer gets nothing, though the active one is at its limit');
  assert.deepEqual(broker.vhost().queue('jobs').consumerTags(), ['first', 'second']);
  handle.cancel({ requeueUnsettled: true });
  assert.deepEqual(changes, ['second:false', 'second:true']);
  assert.deepEqual(second.bodies(), ['m1', 'm2', 'm3'], 'the returned message first, then the rest in order');
  assert.equal(second.deliveries[0]!.redelivered, true);
  assert.deepEqual(first.bodies(), ['m1']);
  await broker.close();
});

test('an exclusive consumer refuses a second consumer with CONSUMER_EXCLUSIVE, and is refused when others exist', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('solo');
  await broker.declareQueue('shared');
  const handle = broker.consume('solo', () => undefined, { exclusive: true });
  assert.throws(() => broker.consume('solo', () => undefined), withCode('CONSUMER_EXCLUSIVE'));
  assert.equal(broker.vhost().queue('solo').consumerCount(), 1);
  handle.cancel();
  broker.consume('solo', () => undefined);
  broker.consume('shared', () => undefined);
  assert.throws(() => broker.consume('shared', () => undefined, { exclusive: true }), withCode('CONSUMER_EXCLUSIVE'));
  await broker.close();
});

test('a consumer tag already used on the queue is refused with CONSUMER_TAG_IN_USE', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  broker.consume('jobs', () => undefined, { tag: 'worker' });
  assert.throws(() => broker.consume('jobs', () => undefined, { tag: 'worker' }), withCode('CONSUMER_TAG_IN_USE'));
  await broker.close();
});

test('a cancelled consumer can still ack what it received; without requeue those stay in flight', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const inbox = new Inbox();
  const handle = broker.consume('jobs', inbox.onDelivery, { prefetch: 1 });
  await publishAll(broker, 'jobs', ['m1', 'm2']);
  handle.cancel();
  assert.equal(broker.vhost().queue('jobs').unsettledCount(), 1);
  await broker.ack(inbox.deliveries[0]!);
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['m2']);
  await broker.close();
});

test('consumers of equal priority share messages round-robin; a lower-priority one gets none while they have credit', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const low = new Inbox();
  const highA = new Inbox();
  const highB = new Inbox();
  broker.consume('jobs', low.onDelivery, { priority: 1 });
  broker.consume('jobs', highA.onDelivery, { priority: 5 });
  broker.consume('jobs', highB.onDelivery, { priority: 5 });
  await publishAll(broker, 'jobs', ['m1', 'm2', 'm3', 'm4']);
  assert.deepEqual(low.bodies(), []);
  assert.equal(highA.deliveries.length, 2);
  assert.equal(highB.deliveries.length, 2);
  await broker.close();
});

test('a consumer that acks inside its callback receives a large backlog in order, one at a time', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const texts = Array.from({ length: 1_500 }, (_, index) => `m${index}`);
  await publishAll(broker, 'jobs', texts);
  const received: string[] = [];
  let inFlightMax = 0;
  broker.consume(
    'jobs',
    (delivery) => {
      received.push(bodies([delivery])[0]!);
      inFlightMax = Math.max(inFlightMax, broker.vhost().queue('jobs').unsettledCount());
      void broker.ack(delivery);
    },
    { prefetch: 1 },
  );
  for (let round = 0; round < 20 && received.length < texts.length; round++) await settle();
  assert.deepEqual(received, texts);
  assert.equal(inFlightMax, 1);
  assert.equal(broker.vhost().queue('jobs').messageCount(), 0);
  await broker.close();
});

test('a consumer attached to a backlog larger than the read-ahead gets it all in order', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('jobs');
  const texts = Array.from({ length: 1_200 }, (_, index) => `m${index}`);
  await publishAll(broker, 'jobs', texts);
  const inbox = new Inbox();
  broker.consume('jobs', inbox.onDelivery);
  for (let round = 0; round < 20 && inbox.deliveries.length < texts.length; round++) await settle();
  assert.deepEqual(inbox.bodies(), texts);
  await broker.close();
});
