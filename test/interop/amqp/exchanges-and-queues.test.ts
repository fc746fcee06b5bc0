/**
 * The exchange and queue classes with amqplib: declare (passive too), delete,
 * exchange-to-exchange bindings, every RabbitMQ queue argument Ferry maps,
 * bind / unbind / purge / delete with if-unused and if-empty.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { AmqpTestServer } from './amqp-test-server.js';
import { nextEvent } from './next-event.js';
import { replyCodeOf } from './reply-code-of.js';
import { waitUntil } from './wait-until.js';

let ferry: AmqpTestServer;
let connection: ChannelModel;

before(async () => {
  ferry = await AmqpTestServer.start();
  connection = await ferry.connect();
});

after(async () => {
  await ferry.close();
});

/** A fresh channel whose (expected) channel errors are recorded rather than thrown. */
async function channel(): Promise<Channel> {
  const created = await connection.createChannel();
  created.on('error', () => undefined);
  return created;
}

/** Resolves with the reply code of the channel error `operation` provokes. */
async function channelErrorCode(operation: (channel: Channel) => Promise<unknown>): Promise<number | undefined> {
  const target = await channel();
  try {
    await operation(target);
  } catch (error) {
    return replyCodeOf(error);
  }
  assert.fail('the operation succeeded');
}

async function bodies(target: Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const message = await target.get(queue, { noAck: true });
    if (!message) return out;
    out.push(message.content.toString());
  }
}

test('exchange declare is idempotent, a passive declare finds it, delete removes it', async () => {
  const target = await channel();
  await target.assertExchange('ex-life', 'topic', { durable: true });
  await target.assertExchange('ex-life', 'topic', { durable: true });
  await target.checkExchange('ex-life');
  await target.deleteExchange('ex-life');
  assert.equal(await channelErrorCode((next) => next.checkExchange('ex-life')), 404);
});

test('a passive declare of a missing exchange or queue is 404 NOT_FOUND and closes only the channel', async () => {
  assert.equal(await channelErrorCode((next) => next.checkExchange('missing-exchange')), 404);
  assert.equal(await channelErrorCode((next) => next.checkQueue('missing-queue')), 404);
  const target = await channel();
  await target.assertQueue('still-fine');
});

test('a passive queue declare reports the message and consumer counts', async () => {
  const target = await channel();
  await target.assertQueue('counted');
  for (let index = 0; index < 3; index++) target.sendToQueue('counted', Buffer.from('x'));
  await waitUntil(() => ferry.broker.vhost().queue('counted').messageCount() === 3, 'three messages are in');
  const checked = await target.checkQueue('counted');
  assert.deepEqual(checked, { queue: 'counted', messageCount: 3, consumerCount: 0 });
  const consumerChannel = await channel();
  await consumerChannel.prefetch(1);
  await consumerChannel.consume('counted', () => undefined);
  const afterConsume = await target.checkQueue('counted');
  assert.equal(afterConsume.consumerCount, 1);
  assert.equal(afterConsume.messageCount, 2, 'one message is out with the consumer');
  await consumerChannel.close();
});

test('the predeclared amq.* exchanges exist (amq.direct, amq.fanout, amq.topic, amq.headers, amq.match)', async () => {
  const target = await channel();
  for (const name of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) await target.checkExchange(name);
  const { queue } = await target.assertQueue('', { exclusive: true });
  await target.bindQueue(queue, 'amq.topic', 'sensors.#');
  target.publish('amq.topic', 'sensors.kitchen', Buffer.from('21.5'));
  await waitUntil(() => ferry.broker.vhost().queue(queue).messageCount() === 1, 'the message is routed through amq.topic');
});

test('redeclaring a predeclared amq.* exchange with its own type is allowed, as RabbitMQ allows it', async () => {
  const target = await channel();
  await target.assertExchange('amq.direct', 'direct', { durable: true });
});

test('deleting an exchange that does not exist answers delete-ok, as RabbitMQ does', async () => {
  const target = await channel();
  await target.deleteExchange('never-declared');
  await target.assertQueue('after-missing-exchange-delete');
});

test('exchange delete with if-unused refuses an exchange that has bindings (406) and deletes an unused one', async () => {
  const target = await channel();
  await target.assertExchange('ex-used', 'fanout');
  const { queue } = await target.assertQueue('', { exclusive: true });
  await target.bindQueue(queue, 'ex-used', '');
  assert.equal(await channelErrorCode((next) => next.deleteExchange('ex-used', { ifUnused: true })), 406);
  await target.unbindQueue(queue, 'ex-used', '');
  await target.deleteExchange('ex-used', { ifUnused: true });
  assert.equal(await channelErrorCode((next) => next.checkExchange('ex-used')), 404);
});

test('exchange-to-exchange bindings route by their key, and unbinding stops the flow', async () => {
  const target = await channel();
  await target.assertExchange('e2e-source', 'direct', { durable: false });
  await target.assertExchange('e2e-destination', 'fanout', { durable: false });
  const { queue } = await target.assertQueue('', { exclusive: true });
  await target.bindQueue(queue, 'e2e-destination', '');
  await target.bindExchange('e2e-destination', 'e2e-source', 'green');
  target.publish('e2e-source', 'green', Buffer.from('through'));
  target.publish('e2e-source', 'red', Buffer.from('not through'));
  await waitUntil(() => ferry.broker.vhost().queue(queue).messageCount() === 1, 'one message arrives');
  await target.unbindExchange('e2e-destination', 'e2e-source', 'green');
  target.publish('e2e-source', 'green', Buffer.from('after unbind'));
  await delay(50);
  assert.deepEqual(await bodies(target, queue), ['through']);
});

test('CC and BCC headers route by their keys too (sender-selected distribution); BCC is removed, each queue gets one copy', async () => {
  const target = await channel();
  await target.assertExchange('cc-direct', 'direct', { durable: false });
  for (const [queue, key] of [['cc-main', 'main'], ['cc-copy', 'copy'], ['cc-hidden', 'hidden'], ['cc-twice', 'main'], ['cc-twice', 'copy']] as const) {
    await target.assertQueue(queue);
    await target.bindQueue(queue, 'cc-direct', key);
  }
  target.publish('cc-direct', 'main', Buffer.from('m'), { headers: { CC: ['copy'], BCC: ['hidden'], other: 1 } });
  await target.checkQueue('cc-main');
  for (const queue of ['cc-main', 'cc-copy', 'cc-hidden', 'cc-twice']) {
    const message = await target.get(queue, { noAck: true });
    assert.ok(message, queue);
    const headers = message.properties.headers as Record<string, unknown>;
    assert.deepEqual(headers['CC'], ['copy'], `${queue} sees CC`);
    assert.equal(headers['BCC'], undefined, `${queue} does not see BCC`);
    assert.equal(headers['other'], 1);
    assert.equal(await target.get(queue, { noAck: true }), false, `${queue} has one copy only`);
  }
  // Through the default exchange: the keys name queues.
  target.sendToQueue('cc-main', Buffer.from('d'), { headers: { BCC: ['cc-copy'] } });
  await target.checkQueue('cc-main');
  assert.deepEqual(await bodies(target, 'cc-copy'), ['d']);
  const onlyBcc = await target.get('cc-main', { noAck: true });
  assert.ok(onlyBcc);
  assert.deepEqual(onlyBcc.properties.headers, {}, 'the table stays, empty once BCC is gone');
  assert.equal(await channelErrorCode(async (next) => {
    next.publish('cc-direct', 'main', Buffer.from('x'), { headers: { CC: 'copy' } });
    await next.checkQueue('cc-main');
  }), 406, 'a CC header that is not an array is refused');
  // In a transaction too: routed by every key at commit.
  const transactional = await channel();
  await (transactional as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> }).rpc((90 << 16) | 10, {}, (90 << 16) | 11);
  transactional.publish('cc-direct', 'main', Buffer.from('t'), { headers: { BCC: ['hidden'] } });
  await (transactional as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> }).rpc((90 << 16) | 20, {}, (90 << 16) | 21);
  assert.deepEqual(await bodies(target, 'cc-hidden'), ['t']);
  assert.deepEqual(await bodies(target, 'cc-main'), ['t']);
});

test('exchange-to-exchange binding to a missing source is 404', async () => {
  const target = await channel();
  await target.assertExchange('e2e-lonely', 'fanout', { durable: false });
  assert.equal(await channelErrorCode((next) => next.bindExchange('e2e-lonely', 'e2e-missing-source', '')), 404);
});

test('x-message-ttl: messages older than the TTL are gone', async () => {
  const target = await channel();
  await target.assertQueue('ttl-queue', { arguments: { 'x-message-ttl': 50 } });
  target.sendToQueue('ttl-queue', Buffer.from('short-lived'));
  await delay(150);
  assert.equal(await target.get('ttl-queue', { noAck: true }), false);
  target.sendToQueue('ttl-queue', Buffer.from('fresh'));
  assert.deepEqual(await bodies(target, 'ttl-queue'), ['fresh']);
});

test('x-expires: an unused queue is deleted after the period', async () => {
  const target = await channel();
  await target.assertQueue('expiring-queue', { expires: 100 });
  await target.checkQueue('expiring-queue');
  await delay(300);
  assert.equal(await channelErrorCode((next) => next.checkQueue('expiring-queue')), 404);
});

test('x-max-length drops the oldest messages by default (drop-head)', async () => {
  const target = await channel();
  await target.assertQueue('max-length', { maxLength: 2 });
  for (const body of ['a', 'b', 'c']) target.sendToQueue('max-length', Buffer.from(body));
  await target.checkQueue('max-length');
  assert.deepEqual(await bodies(target, 'max-length'), ['b', 'c']);
});

test('x-max-length-bytes bounds the ready bytes', async () => {
  const target = await channel();
  await target.assertQueue('max-bytes', { arguments: { 'x-max-length-bytes': 10 } });
  for (const body of ['11111', '22222', '33333']) target.sendToQueue('max-bytes', Buffer.from(body));
  await target.checkQueue('max-bytes');
  assert.deepEqual(await bodies(target, 'max-bytes'), ['22222', '33333']);
});

test('x-overflow reject-publish keeps the old messages and drops the new', async () => {
  const target = await channel();
  await target.assertQueue('reject-new', { maxLength: 1, arguments: { 'x-overflow': 'reject-publish' } });
  for (const body of ['first', 'second']) target.sendToQueue('reject-new', Buffer.from(body));
  await target.checkQueue('reject-new');
  assert.deepEqual(await bodies(target, 'reject-new'), ['first']);
});

test('x-dead-letter-exchange and x-dead-letter-routing-key: a rejected message is republished with an x-death record', async () => {
  const target = await channel();
  await target.assertExchange('dlx', 'direct', { durable: false });
  await target.assertQueue('dead-letters');
  await target.bindQueue('dead-letters', 'dlx', 'dead');
  await target.assertQueue('work-with-dlx', { deadLetterExchange: 'dlx', deadLetterRoutingKey: 'dead' });
  target.sendToQueue('work-with-dlx', Buffer.from('poison'), { headers: { origin: 'test' } });
  const message = await new Promise<ConsumeMessage>((resolve) => {
    void target.consume('work-with-dlx', (delivery) => delivery && resolve(delivery));
  });
  target.reject(message, false);
  await waitUntil(() => ferry.broker.vhost().queue('dead-letters').messageCount() === 1, 'the message is dead-lettered');
  const dead = await target.get('dead-letters', { noAck: true });
  assert.ok(dead);
  assert.equal(dead.content.toString(), 'poison');
  assert.equal(dead.fields.exchange, 'dlx');
  assert.equal(dead.fields.routingKey, 'dead');
  const headers = dead.properties.headers as Record<string, unknown>;
  assert.equal(headers['origin'], 'test');
  const deaths = headers['x-death'] as Array<Record<string, unknown>>;
  assert.equal(deaths.length, 1);
  assert.equal(deaths[0]!['count'], 1);
  assert.equal(deaths[0]!['reason'], 'rejected');
  assert.equal(deaths[0]!['queue'], 'work-with-dlx');
  assert.equal(deaths[0]!['exchange'], '');
  assert.deepEqual(deaths[0]!['routing-keys'], ['work-with-dlx']);
  // Typed as RabbitMQ writes it: time a timestamp (amqplib shows the type), count a long long.
  const time = deaths[0]!['time'] as { '!': string; value: number };
  assert.equal(time['!'], 'timestamp');
  assert.ok(Math.abs(time.value - Date.now() / 1000) < 60, `time ${time.value} is now, in seconds`);
  assert.deepEqual(Object.keys(deaths[0]!), ['count', 'reason', 'queue', 'time', 'exchange', 'routing-keys'], "RabbitMQ's order for a first death");
  assert.equal(headers['x-first-death-reason'], 'rejected');
  assert.equal(headers['x-first-death-queue'], 'work-with-dlx');
});

test('x-death counts repeated deaths in the same queue for the same reason', async () => {
  const target = await channel();
  // A queue that dead-letters into itself through the default exchange, rejected twice.
  await target.assertQueue('retry-loop', { deadLetterExchange: '', deadLetterRoutingKey: 'retry-loop' });
  target.sendToQueue('retry-loop', Buffer.from('again'));
  const deliveries: ConsumeMessage[] = [];
  await target.consume('retry-loop', (delivery) => {
    if (!delivery) return;
    deliveries.push(delivery);
    if (deliveries.length <= 2) target.reject(delivery, false);
    else target.ack(delivery);
  });
  await waitUntil(() => deliveries.length === 3, 'the message came back twice');
  const deaths = (deliveries[2]!.properties.headers as Record<string, unknown>)['x-death'] as Array<Record<string, unknown>>;
  assert.equal(deaths.length, 1);
  assert.equal(deaths[0]!['count'], 2);
  assert.deepEqual(Object.keys(deaths[0]!), ['count', 'exchange', 'queue', 'reason', 'routing-keys', 'time'], 'an updated entry comes sorted, as from RabbitMQ');
  assert.equal(deaths[0]!['reason'], 'rejected');
});

test('x-message-ttl with a dead-letter exchange dead-letters expired messages with reason expired', async () => {
  const target = await channel();
  await target.assertQueue('expired-letters');
  await target.assertQueue('ttl-with-dlx', { messageTtl: 30, deadLetterExchange: '', deadLetterRoutingKey: 'expired-letters' });
  target.sendToQueue('ttl-with-dlx', Buffer.from('late'));
  await waitUntil(() => ferry.broker.vhost().queue('expired-letters').messageCount() === 1, 'the expired message is dead-lettered', 2_000);
  const dead = await target.get('expired-letters', { noAck: true });
  assert.ok(dead);
  const deaths = (dead.properties.headers as Record<string, unknown>)['x-death'] as Array<Record<string, unknown>>;
  assert.equal(deaths[0]!['reason'], 'expired');
  assert.equal(deaths[0]!['queue'], 'ttl-with-dlx');
});

test('x-max-priority: higher-priority messages are delivered first', async () => {
  const target = await channel();
  await target.assertQueue('prioritised', { maxPriority: 10 });
  for (const priority of [1, 9, 5, 0, 9]) target.sendToQueue('prioritised', Buffer.from(`p${priority}`), { priority });
  await target.checkQueue('prioritised');
  assert.deepEqual(await bodies(target, 'prioritised'), ['p9', 'p9', 'p5', 'p1', 'p0']);
});

test('x-single-active-consumer: only one consumer receives until it goes away', async () => {
  const target = await channel();
  await target.assertQueue('single-active', { arguments: { 'x-single-active-consumer': true } });
  const firstChannel = await channel();
  const secondChannel = await channel();
  const first: string[] = [];
  const second: string[] = [];
  const { consumerTag } = await firstChannel.consume('single-active', (message) => message && first.push(message.content.toString()), { noAck: true });
  await secondChannel.consume('single-active', (message) => message && second.push(message.content.toString()), { noAck: true });
  for (const body of ['1', '2', '3']) target.sendToQueue('single-active', Buffer.from(body));
  await waitUntil(() => first.length === 3, 'the active consumer has all three');
  await firstChannel.cancel(consumerTag);
  target.sendToQueue('single-active', Buffer.from('4'));
  await waitUntil(() => second.length === 1, 'the next consumer takes over');
  assert.deepEqual(first, ['1', '2', '3']);
  assert.deepEqual(second, ['4']);
});

/** Rejects (requeue) every delivery of a one-message queue with this delivery limit; counts deliveries. */
async function deliveriesUntilDeadLettered(queue: string, deliveryLimit: number): Promise<number> {
  const target = await channel();
  await target.assertQueue(`${queue}-dead`);
  await target.assertQueue(queue, { arguments: { 'x-delivery-limit': deliveryLimit }, deadLetterExchange: '', deadLetterRoutingKey: `${queue}-dead` });
  target.sendToQueue(queue, Buffer.from('poison'));
  let deliveries = 0;
  await target.consume(queue, (delivery) => {
    if (!delivery) return;
    deliveries++;
    target.nack(delivery, false, true);
  });
  await waitUntil(() => ferry.broker.vhost().queue(`${queue}-dead`).messageCount() === 1, 'the message is dead-lettered');
  const dead = await target.get(`${queue}-dead`, { noAck: true });
  assert.ok(dead);
  const deaths = (dead.properties.headers as Record<string, unknown>)['x-death'] as Array<Record<string, unknown>>;
  assert.equal(deaths[0]!['queue'], queue);
  return deliveries;
}

test('x-delivery-limit: a message returned too often is dead-lettered', async () => {
  const deliveries = await deliveriesUntilDeadLettered('limited', 2);
  assert.ok(deliveries === 2 || deliveries === 3, `${deliveries} deliveries`);
});

test('x-delivery-limit counts returns as RabbitMQ does: limit 2 allows 3 deliveries, dead-lettered with reason delivery_limit', async () => {
  const target = await channel();
  await target.assertQueue('limited-exact-dead');
  await target.assertQueue('limited-exact', { arguments: { 'x-delivery-limit': 2 }, deadLetterExchange: '', deadLetterRoutingKey: 'limited-exact-dead' });
  target.sendToQueue('limited-exact', Buffer.from('poison'));
  let deliveries = 0;
  await target.consume('limited-exact', (delivery) => {
    if (!delivery) return;
    deliveries++;
    target.nack(delivery, false, true);
  });
  await waitUntil(() => ferry.broker.vhost().queue('limited-exact-dead').messageCount() === 1, 'the message is dead-lettered');
  const dead = await target.get('limited-exact-dead', { noAck: true });
  assert.ok(dead);
  const deaths = (dead.properties.headers as Record<string, unknown>)['x-death'] as Array<Record<string, unknown>>;
  assert.equal(deliveries, 3);
  assert.equal(deaths[0]!['reason'], 'delivery_limit');
});

test('x-queue-type classic and quorum are accepted; a quorum queue is durable', async () => {
  const target = await channel();
  await target.assertQueue('typed-classic', { arguments: { 'x-queue-type': 'classic' } });
  await target.assertQueue('typed-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  assert.equal(ferry.broker.vhost().queue('typed-quorum').config.durable, true);
  target.sendToQueue('typed-quorum', Buffer.from('q'));
  assert.deepEqual(await bodies(target, 'typed-quorum'), ['q']);
});

test('a quorum queue consumer that rejects with requeue gets the later messages first, as with RabbitMQ', async () => {
  const target = await channel();
  await target.assertQueue('requeue-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  for (const body of ['m1', 'm2', 'm3', 'm4', 'm5']) target.sendToQueue('requeue-quorum', Buffer.from(body));
  await waitUntil(() => ferry.broker.vhost().queue('requeue-quorum').messageCount() === 5, 'five messages are in the queue');
  const consumer = await channel();
  await consumer.prefetch(3);
  const received: ConsumeMessage[] = [];
  await consumer.consume('requeue-quorum', (message) => message && received.push(message));
  await waitUntil(() => received.length === 3, 'a full window arrived');
  consumer.reject(received[2]!, true);
  consumer.reject(received[0]!, true);
  await waitUntil(() => received.length === 5, 'the later ones came');
  for (const index of [1, 3, 4]) consumer.ack(received[index]!);
  await waitUntil(() => received.length === 7, 'the rejected ones came again');
  assert.deepEqual(
    received.map((message) => `${message.content.toString()}${message.fields.redelivered ? '(r)' : ''}`),
    ['m1', 'm2', 'm3', 'm4', 'm5', 'm3(r)', 'm1(r)'],
  );
});

test('a quorum queue says how often a message was delivered before (x-delivery-count); a classic one does not; the types cannot be swapped by redeclaring', async () => {
  const target = await channel();
  await target.assertQueue('counted-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  target.sendToQueue('counted-quorum', Buffer.from('q'));
  const counts: unknown[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const message = await target.get('counted-quorum');
    assert.ok(message);
    counts.push((message.properties.headers as Record<string, unknown>)['x-delivery-count']);
    target.nack(message, false, true);
  }
  assert.deepEqual(counts, [0, 1, 2]);
  let firstTag = '';
  const consumed = await new Promise<ConsumeMessage>((resolve) => {
    void target.consume('counted-quorum', (message) => message && resolve(message), { noAck: true }).then((ok) => (firstTag = ok.consumerTag));
  });
  await target.cancel(firstTag);
  assert.equal((consumed.properties.headers as Record<string, unknown>)['x-delivery-count'], 3, 'pushed deliveries of a returned message carry it too');
  target.sendToQueue('counted-quorum', Buffer.from('fresh'));
  const fresh = await new Promise<ConsumeMessage>((resolve) => {
    void target.consume('counted-quorum', (message) => message && message.content.toString() === 'fresh' && resolve(message), { noAck: true });
  });
  assert.equal(fresh.properties.headers?.['x-delivery-count'], undefined, "a first pushed delivery has none, as RabbitMQ's");
  await target.assertQueue('counted-classic');
  target.sendToQueue('counted-classic', Buffer.from('c'));
  const classic = await target.get('counted-classic', { noAck: true });
  assert.ok(classic);
  assert.equal((classic.properties.headers as Record<string, unknown>)['x-delivery-count'], undefined);
  const swapped = await channelErrorCode((next) => next.assertQueue('counted-classic', { arguments: { 'x-queue-type': 'quorum' } }));
  assert.equal(swapped, 406);
  await target.close();
});

test('an unknown x-queue-type is 406 PRECONDITION_FAILED', async () => {
  assert.equal(await channelErrorCode((next) => next.assertQueue('typed-nonsense', { arguments: { 'x-queue-type': 'nonsense' } })), 406);
});

test('an invalid argument value (a negative x-message-ttl) is 406 PRECONDITION_FAILED', async () => {
  assert.equal(await channelErrorCode((next) => next.assertQueue('bad-ttl', { arguments: { 'x-message-ttl': -1 } })), 406);
});

test('queue arguments RabbitMQ defines but Ferry does not use are accepted, as RabbitMQ accepts them', async () => {
  const target = await channel();
  await target.assertQueue('rabbit-arguments', { arguments: { 'x-queue-leader-locator': 'client-local', 'x-dead-letter-strategy': 'at-most-once' } });
});

test('bind and unbind: a message routes while bound and not after', async () => {
  const target = await channel();
  await target.assertExchange('bind-direct', 'direct', { durable: false });
  await target.assertQueue('bind-target');
  await target.bindQueue('bind-target', 'bind-direct', 'k');
  target.publish('bind-direct', 'k', Buffer.from('bound'));
  await target.unbindQueue('bind-target', 'bind-direct', 'k');
  target.publish('bind-direct', 'k', Buffer.from('unbound'));
  await target.checkQueue('bind-target');
  assert.deepEqual(await bodies(target, 'bind-target'), ['bound']);
});

test('binding to a missing exchange or a missing queue is 404', async () => {
  const target = await channel();
  await target.assertQueue('bind-orphan');
  assert.equal(await channelErrorCode((next) => next.bindQueue('bind-orphan', 'no-such-exchange', '')), 404);
  await target.assertExchange('bind-exists', 'fanout', { durable: false });
  assert.equal(await channelErrorCode((next) => next.bindQueue('no-such-queue', 'bind-exists', '')), 404);
});

test('purge empties the queue and reports how many messages it removed', async () => {
  const target = await channel();
  await target.assertQueue('purged');
  for (let index = 0; index < 4; index++) target.sendToQueue('purged', Buffer.from('x'));
  await target.checkQueue('purged');
  assert.deepEqual(await target.purgeQueue('purged'), { messageCount: 4 });
  assert.equal((await target.checkQueue('purged')).messageCount, 0);
});

test('queue delete reports the messages it held; if-unused and if-empty refuse with 406', async () => {
  const target = await channel();
  await target.assertQueue('deleted-with-messages');
  for (let index = 0; index < 2; index++) target.sendToQueue('deleted-with-messages', Buffer.from('x'));
  await target.checkQueue('deleted-with-messages');
  assert.equal(await channelErrorCode((next) => next.deleteQueue('deleted-with-messages', { ifEmpty: true })), 406);
  const consumerChannel = await channel();
  await consumerChannel.prefetch(1);
  await consumerChannel.consume('deleted-with-messages', () => undefined);
  assert.equal(await channelErrorCode((next) => next.deleteQueue('deleted-with-messages', { ifUnused: true })), 406);
  await consumerChannel.close();
  assert.deepEqual(await target.deleteQueue('deleted-with-messages'), { messageCount: 2 });
  assert.equal(await channelErrorCode((next) => next.checkQueue('deleted-with-messages')), 404);
  // Deleting a queue that is not there is fine, as in RabbitMQ.
  assert.deepEqual(await target.deleteQueue('deleted-with-messages'), { messageCount: 0 });
});

test('a queue deleted while a consumer is on it cancels the consumer (amqplib calls it with null)', async () => {
  const target = await channel();
  await target.assertQueue('doomed');
  const consumerChannel = await channel();
  const cancelled = nextEvent<{ consumerTag: string }>(consumerChannel, 'cancel');
  const seen: Array<ConsumeMessage | null> = [];
  const { consumerTag } = await consumerChannel.consume('doomed', (message) => seen.push(message));
  await target.deleteQueue('doomed');
  assert.equal((await cancelled).consumerTag, consumerTag);
  assert.deepEqual(seen, [null]);
  // The channel is still open.
  await consumerChannel.assertQueue('doomed-successor');
});

test('a headers exchange routes on x-match all and any', async () => {
  const target = await channel();
  await target.assertExchange('by-headers', 'headers', { durable: false });
  const all = (await target.assertQueue('', { exclusive: true })).queue;
  const any = (await target.assertQueue('', { exclusive: true })).queue;
  await target.bindQueue(all, 'by-headers', '', { 'x-match': 'all', format: 'pdf', type: 'report' });
  await target.bindQueue(any, 'by-headers', '', { 'x-match': 'any', format: 'pdf', type: 'report' });
  target.publish('by-headers', '', Buffer.from('both'), { headers: { format: 'pdf', type: 'report' } });
  target.publish('by-headers', '', Buffer.from('one'), { headers: { format: 'pdf', type: 'log' } });
  target.publish('by-headers', '', Buffer.from('none'), { headers: { format: 'zip' } });
  await target.checkQueue(any);
  assert.deepEqual(await bodies(target, all), ['both']);
  assert.deepEqual(await bodies(target, any), ['both', 'one']);
});

test('publishing to an internal exchange is 403 ACCESS_REFUSED; it still routes what is bound into it', async () => {
  const target = await channel();
  await target.assertExchange('internal-only', 'fanout', { durable: false, internal: true });
  await target.assertExchange('front-door', 'fanout', { durable: false });
  await target.bindExchange('internal-only', 'front-door', '');
  const { queue } = await target.assertQueue('', { exclusive: true });
  await target.bindQueue(queue, 'internal-only', '');
  target.publish('front-door', '', Buffer.from('via front door'));
  await target.checkQueue(queue);
  assert.deepEqual(await bodies(target, queue), ['via front door']);
  const publisher = await channel();
  const closed = nextEvent<Error>(publisher, 'error');
  publisher.publish('internal-only', '', Buffer.from('direct'));
  assert.equal(replyCodeOf(await closed), 403);
});

test('an auto-delete queue is deleted when its last consumer is cancelled', async () => {
  const target = await channel();
  await target.assertQueue('auto-deleted-queue', { autoDelete: true });
  const { consumerTag } = await target.consume('auto-deleted-queue', () => undefined, { noAck: true });
  await target.checkQueue('auto-deleted-queue');
  await target.cancel(consumerTag);
  await waitUntil(() => ferry.broker.vhost().findQueue('auto-deleted-queue') === undefined, 'the queue is gone');
});

test('an auto-delete exchange is deleted when its last binding is removed', async () => {
  const target = await channel();
  await target.assertExchange('auto-deleted-exchange', 'fanout', { durable: false, autoDelete: true });
  const { queue } = await target.assertQueue('', { exclusive: true });
  await target.bindQueue(queue, 'auto-deleted-exchange', '');
  await target.unbindQueue(queue, 'auto-deleted-exchange', '');
  assert.equal(await channelErrorCode((next) => next.checkExchange('auto-deleted-exchange')), 404);
});

test('an empty queue name in bind and get means the last queue declared on the channel', async () => {
  const target = await channel();
  await target.assertExchange('last-queue-exchange', 'fanout', { durable: false });
  const { queue } = await target.assertQueue('', { exclusive: true });
  await target.bindQueue('', 'last-queue-exchange', '');
  target.publish('last-queue-exchange', '', Buffer.from('to the last queue'));
  await target.checkQueue(queue);
  const message = await target.get('', { noAck: true });
  assert.ok(message);
  assert.equal(message.content.toString(), 'to the last queue');
});
