/**
 * The basic class with amqplib: qos (per consumer and global), consume and
 * cancel, get, ack / nack / reject (single and multiple), recover, mandatory
 * returns, alternate exchanges, per-message expiration, consumer priorities
 * and the round trip of every message property.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Channel, ChannelModel, ConsumeMessage, Message } from 'amqplib';
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

async function channel(): Promise<Channel> {
  const created = await connection.createChannel();
  created.on('error', () => undefined);
  return created;
}

async function fill(target: Channel, queue: string, count: number): Promise<void> {
  await target.assertQueue(queue);
  for (let index = 0; index < count; index++) target.sendToQueue(queue, Buffer.from(String(index)));
  await target.checkQueue(queue);
}

function readyCount(queue: string): number {
  return ferry.broker.vhost().queue(queue).messageCount();
}

test('basic.qos per consumer: each consumer of the channel has its own prefetch window', async () => {
  const target = await channel();
  await fill(target, 'qos-per-consumer', 10);
  await target.prefetch(2);
  const first: ConsumeMessage[] = [];
  const second: ConsumeMessage[] = [];
  await target.consume('qos-per-consumer', (message) => message && first.push(message));
  await target.consume('qos-per-consumer', (message) => message && second.push(message));
  await waitUntil(() => first.length === 2 && second.length === 2, 'both consumers have two');
  await delay(50);
  assert.equal(first.length + second.length, 4);
  target.ack(first[0]!);
  await waitUntil(() => first.length === 3, 'the first consumer gets one more after an ack');
  await delay(30);
  assert.equal(second.length, 2);
  await target.close();
});

test('basic.qos global: the channel-wide prefetch bounds the deliveries of the channel', async () => {
  const target = await channel();
  await fill(target, 'qos-global', 10);
  await target.prefetch(3, true);
  const received: ConsumeMessage[] = [];
  await target.consume('qos-global', (message) => message && received.push(message));
  await waitUntil(() => received.length >= 3, 'three deliveries');
  await delay(50);
  assert.equal(received.length, 3);
  target.ack(received[0]!);
  await waitUntil(() => received.length >= 4, 'one more after an ack');
  await delay(30);
  assert.equal(received.length, 4);
  await target.close();
});

test('basic.qos global: a second consumer on a channel whose window is full gets nothing', async () => {
  const target = await channel();
  await fill(target, 'qos-global-two', 10);
  await target.prefetch(3, true);
  const received: ConsumeMessage[] = [];
  await target.consume('qos-global-two', (message) => message && received.push(message));
  await waitUntil(() => received.length >= 3, 'three deliveries');
  await target.consume('qos-global-two', (message) => message && received.push(message));
  await delay(50);
  assert.equal(received.length, 3, `${received.length} unacknowledged deliveries with a global prefetch of 3`);
  await target.close();
});

test('basic.cancel stops deliveries to that consumer and answers with its tag', async () => {
  const target = await channel();
  await target.assertQueue('cancelled');
  const received: string[] = [];
  const { consumerTag } = await target.consume('cancelled', (message) => message && received.push(message.content.toString()), { noAck: true });
  target.sendToQueue('cancelled', Buffer.from('before'));
  await waitUntil(() => received.length === 1, 'the first message arrives');
  const reply = await target.cancel(consumerTag);
  assert.equal(reply.consumerTag, consumerTag);
  target.sendToQueue('cancelled', Buffer.from('after'));
  await delay(50);
  assert.deepEqual(received, ['before']);
  assert.equal(readyCount('cancelled'), 1);
});

test('a consumer tag chosen by the client is used on deliveries; a server-chosen one starts with amq.ctag-', async () => {
  const target = await channel();
  await target.assertQueue('tagged');
  const chosen = await target.consume('tagged', () => undefined, { consumerTag: 'my-tag', noAck: true });
  assert.equal(chosen.consumerTag, 'my-tag');
  for (let index = 0; index < 20; index++) {
    const generated = await target.consume('tagged', () => undefined, { noAck: true });
    assert.match(generated.consumerTag, /^amq\.ctag-[A-Za-z0-9_-]{22}$/, 'the shape of RabbitMQ\'s tags, every time');
    const named = await target.assertQueue('', { exclusive: true });
    assert.match(named.queue, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
  }
  await target.close();
});

test('basic.get: false on an empty queue; otherwise a message with the count of those left', async () => {
  const target = await channel();
  await target.assertQueue('got');
  assert.equal(await target.get('got'), false);
  await fill(target, 'got', 3);
  const first = await target.get('got');
  assert.ok(first);
  assert.equal(first.content.toString(), '0');
  assert.equal(first.fields.messageCount, 2);
  assert.equal(first.fields.redelivered, false);
  target.ack(first);
  const second = await target.get('got', { noAck: true });
  assert.ok(second);
  assert.equal(second.fields.messageCount, 1);
  await target.checkQueue('got');
  assert.equal(readyCount('got'), 1);
});

test('ack multiple settles everything up to the tag; nack requeues; reject drops', async () => {
  const target = await channel();
  await fill(target, 'settle', 6);
  const received: ConsumeMessage[] = [];
  await target.consume('settle', (message) => message && received.push(message));
  await waitUntil(() => received.length === 6, 'six deliveries');
  target.ack(received[2]!, true); // 0, 1, 2
  target.reject(received[3]!, false); // dropped
  target.nack(received[5]!, false, true); // back to the queue, redelivered
  await waitUntil(() => received.length === 7, 'the nacked message comes back');
  const redelivered = received[6]!;
  assert.equal(redelivered.content.toString(), '5');
  assert.equal(redelivered.fields.redelivered, true);
  target.nack(redelivered, false, false); // dropped
  target.ack(received[4]!);
  await target.checkQueue('settle');
  const queue = ferry.broker.vhost().queue('settle');
  assert.equal(queue.messageCount(), 0);
  await target.close();
  await delay(20);
  assert.equal(queue.messageCount(), 0, 'nothing came back when the channel closed: everything was settled');
});

test('nack multiple requeues every unacknowledged delivery up to the tag', async () => {
  const target = await channel();
  await fill(target, 'nack-multiple', 3);
  const first: ConsumeMessage[] = [];
  const { consumerTag } = await target.consume('nack-multiple', (message) => message && first.push(message));
  await waitUntil(() => first.length === 3, 'three deliveries');
  await target.cancel(consumerTag);
  target.nack(first[1]!, true, true); // 0 and 1 back
  await target.checkQueue('nack-multiple');
  assert.equal(readyCount('nack-multiple'), 2);
  target.nackAll(false);
  await target.checkQueue('nack-multiple');
  assert.equal(readyCount('nack-multiple'), 2);
  await target.close();
});

test('basic.recover redelivers every unacknowledged message with the redelivered flag', async () => {
  const target = await channel();
  await fill(target, 'recovered', 2);
  const received: ConsumeMessage[] = [];
  await target.consume('recovered', (message) => message && received.push(message));
  await waitUntil(() => received.length === 2, 'two deliveries');
  await target.recover();
  await waitUntil(() => received.length === 4, 'both are redelivered');
  assert.deepEqual(
    received.slice(2).map((message) => [message.content.toString(), message.fields.redelivered]),
    [
      ['0', true],
      ['1', true],
    ],
  );
  target.ackAll();
  await target.close();
});

test('mandatory publish to nowhere comes back as basic.return with 312 NO_ROUTE', async () => {
  const target = await channel();
  await target.assertExchange('nowhere', 'direct', { durable: false });
  const returned = nextEvent<Message>(target, 'return');
  target.publish('nowhere', 'no-binding', Buffer.from('lost'), { mandatory: true, messageId: 'm-1' });
  const message = await returned;
  assert.equal(message.content.toString(), 'lost');
  const fields = message.fields as unknown as { replyCode: number; replyText: string; exchange: string; routingKey: string };
  assert.equal(fields.replyCode, 312);
  assert.equal(fields.replyText, 'NO_ROUTE');
  assert.equal(fields.exchange, 'nowhere');
  assert.equal(fields.routingKey, 'no-binding');
  assert.equal(message.properties.messageId, 'm-1');
  // Without mandatory nothing comes back.
  let returns = 0;
  target.on('return', () => returns++);
  target.publish('nowhere', 'no-binding', Buffer.from('quietly lost'));
  await target.checkExchange('nowhere');
  await delay(30);
  assert.equal(returns, 0);
});

test('alternate-exchange receives what the exchange cannot route, and a mandatory publish is then not returned', async () => {
  const target = await channel();
  await target.assertExchange('unrouted', 'fanout', { durable: false });
  await target.assertQueue('unrouted-messages');
  await target.bindQueue('unrouted-messages', 'unrouted', '');
  await target.assertExchange('with-alternate', 'direct', { durable: false, alternateExchange: 'unrouted' });
  await target.assertQueue('routed-messages');
  await target.bindQueue('routed-messages', 'with-alternate', 'known');
  let returns = 0;
  target.on('return', () => returns++);
  target.publish('with-alternate', 'known', Buffer.from('routed'));
  target.publish('with-alternate', 'unknown', Buffer.from('alternate'), { mandatory: true });
  await target.checkQueue('unrouted-messages');
  await delay(30);
  assert.equal(returns, 0);
  const alternate = await target.get('unrouted-messages', { noAck: true });
  assert.ok(alternate);
  assert.equal(alternate.content.toString(), 'alternate');
  assert.equal(alternate.fields.routingKey, 'unknown');
  assert.equal(readyCount('routed-messages'), 1);
});

test('per-message expiration: an expired message is not delivered; the property round-trips', async () => {
  const target = await channel();
  await target.assertQueue('expiring-messages');
  target.sendToQueue('expiring-messages', Buffer.from('soon gone'), { expiration: '40' });
  target.sendToQueue('expiring-messages', Buffer.from('stays'), { expiration: 60_000 });
  await delay(150);
  const message = await target.get('expiring-messages', { noAck: true });
  assert.ok(message);
  assert.equal(message.content.toString(), 'stays');
  assert.equal(message.properties.expiration, '60000');
  assert.equal(await target.get('expiring-messages', { noAck: true }), false);
});

test('an invalid expiration is 406 PRECONDITION_FAILED', async () => {
  const target = await channel();
  await target.assertQueue('bad-expiration');
  const closed = nextEvent<Error>(target, 'error');
  target.sendToQueue('bad-expiration', Buffer.from('x'), { expiration: 'soon' });
  const error = await closed;
  assert.equal(replyCodeOf(error), 406);
  assert.match(error.message, /PRECONDITION_FAILED - invalid expiration 'soon': no_integer/, 'RabbitMQ\'s reason');
});

test('consumer priorities: the higher x-priority consumer gets messages while it has room', async () => {
  const setup = await channel();
  await setup.assertQueue('consumer-priorities');
  const highChannel = await channel();
  const lowChannel = await channel();
  await highChannel.prefetch(3);
  await lowChannel.prefetch(100);
  const high: string[] = [];
  const low: string[] = [];
  await lowChannel.consume('consumer-priorities', (message) => message && low.push(message.content.toString()), { priority: 1 });
  await highChannel.consume('consumer-priorities', (message) => message && high.push(message.content.toString()), { priority: 10 });
  for (let index = 0; index < 10; index++) setup.sendToQueue('consumer-priorities', Buffer.from(String(index)));
  await waitUntil(() => high.length + low.length === 10, 'all ten are delivered');
  assert.deepEqual(high, ['0', '1', '2']);
  assert.deepEqual(low, ['3', '4', '5', '6', '7', '8', '9']);
  await highChannel.close();
  await lowChannel.close();
});

test('every message property round-trips, headers of several types included', async () => {
  const target = await channel();
  await target.assertQueue('properties');
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    text: 'hello',
    integer: 42,
    negative: -7,
    large: 2 ** 40,
    fraction: 1.5,
    yes: true,
    no: false,
    nested: { inner: 'value', depth: 2 },
    list: ['a', 1, true],
    bytes: Buffer.from([1, 2, 3]),
  };
  target.sendToQueue('properties', Buffer.from('{"ok":true}'), {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers,
    persistent: true,
    priority: 3,
    correlationId: 'corr-1',
    replyTo: 'reply-queue',
    messageId: 'msg-1',
    timestamp,
    type: 'order.created',
    userId: 'guest',
    appId: 'interop-test',
  });
  const message = await new Promise<ConsumeMessage>((resolve) => {
    void target.consume('properties', (delivery) => delivery && resolve(delivery), { noAck: true });
  });
  const properties = message.properties;
  assert.equal(properties.contentType, 'application/json');
  assert.equal(properties.contentEncoding, 'utf-8');
  assert.equal(properties.deliveryMode, 2);
  assert.equal(properties.priority, 3);
  assert.equal(properties.correlationId, 'corr-1');
  assert.equal(properties.replyTo, 'reply-queue');
  assert.equal(properties.messageId, 'msg-1');
  assert.equal(properties.timestamp, timestamp);
  assert.equal(properties.type, 'order.created');
  assert.equal(properties.userId, 'guest');
  assert.equal(properties.appId, 'interop-test');
  assert.equal(properties.expiration, undefined);
  const received = properties.headers as Record<string, unknown>;
  assert.equal(received['text'], 'hello');
  assert.equal(received['integer'], 42);
  assert.equal(received['negative'], -7);
  assert.equal(received['large'], 2 ** 40);
  assert.equal(received['fraction'], 1.5);
  assert.equal(received['yes'], true);
  assert.equal(received['no'], false);
  assert.deepEqual(received['nested'], { inner: 'value', depth: 2 });
  assert.deepEqual(received['list'], ['a', 1, true]);
  assert.ok(Buffer.isBuffer(received['bytes']) && (received['bytes'] as Buffer).equals(Buffer.from([1, 2, 3])));
  assert.equal(message.content.toString(), '{"ok":true}');
});

test('headers keep their AMQP types through storage, a restart and dead-lettering (timestamp, decimal)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-amqp-typed-headers-'));
  try {
    const typed = {
      when: { '!': 'timestamp', value: 1_700_000_000 },
      price: { '!': 'decimal', value: { places: 2, digits: 12345 } },
      plain: 7,
    };
    let server = await AmqpTestServer.start({ broker: { dataDir } });
    try {
      const publisher = await (await server.connect()).createConfirmChannel();
      await publisher.assertExchange('typed-dlx', 'fanout', { durable: true });
      await publisher.assertQueue('typed-dead', { durable: true });
      await publisher.bindQueue('typed-dead', 'typed-dlx', '');
      await publisher.assertQueue('typed-headers', { durable: true, deadLetterExchange: 'typed-dlx' });
      publisher.sendToQueue('typed-headers', Buffer.from('a'), { persistent: true, headers: typed });
      publisher.sendToQueue('typed-headers', Buffer.from('b'), { persistent: true, headers: typed });
      await publisher.waitForConfirms();
    } finally {
      await server.close();
    }
    server = await AmqpTestServer.start({ broker: { dataDir } });
    try {
      const consumer = await (await server.connect()).createChannel();
      const stored = await consumer.get('typed-headers', { noAck: true });
      assert.ok(stored);
      assert.deepEqual(stored.properties.headers, typed, 'as published, after a restart');
      const rejected = await consumer.get('typed-headers');
      assert.ok(rejected);
      consumer.reject(rejected, false);
      await waitUntil(() => server.broker.vhost().queue('typed-dead').messageCount() === 1, 'dead-lettered');
      const dead = await consumer.get('typed-dead', { noAck: true });
      assert.ok(dead);
      const headers = dead.properties.headers as Record<string, unknown>;
      assert.deepEqual([headers['when'], headers['price'], headers['plain']], [typed.when, typed.price, 7], 'the publisher\'s headers keep their types beside x-death');
      assert.equal(((headers['x-death'] as Array<Record<string, { '!': string }>>)[0]!['time'])!['!'], 'timestamp');
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a transient message arrives with delivery mode 1 when the publisher set it', async () => {
  const target = await channel();
  await target.assertQueue('transient');
  target.sendToQueue('transient', Buffer.from('t'), { deliveryMode: 1 });
  const message = await target.get('transient', { noAck: true });
  assert.ok(message);
  assert.equal(message.properties.deliveryMode, 1);
});

test('a message published without properties arrives without properties, as RabbitMQ passes them through', async () => {
  const target = await channel();
  await target.assertQueue('bare');
  target.sendToQueue('bare', Buffer.from('b'));
  const message = await target.get('bare', { noAck: true });
  assert.ok(message);
  assert.equal(message.properties.deliveryMode, undefined);
});

test('the empty headers table amqplib always sends arrives as an empty table, so headers lookups work as with RabbitMQ', async () => {
  const target = await channel();
  await target.assertQueue('empty-headers');
  target.sendToQueue('empty-headers', Buffer.from('a'));
  target.sendToQueue('empty-headers', Buffer.from('b'), { persistent: true, messageId: 'm-b' });
  const got = await target.get('empty-headers', { noAck: true });
  assert.ok(got);
  assert.deepEqual(got.properties.headers, {});
  const delivered = await new Promise<ConsumeMessage>((resolve) => {
    void target.consume('empty-headers', (delivery) => delivery && resolve(delivery), { noAck: true });
  });
  assert.deepEqual(delivered.properties.headers, {});
  assert.equal(delivered.properties.messageId, 'm-b');
  await target.close();
});

test('a user-id other than the login user is 406 PRECONDITION_FAILED', async () => {
  const target = await channel();
  await target.assertQueue('impostor');
  const closed = nextEvent<Error>(target, 'error');
  target.sendToQueue('impostor', Buffer.from('x'), { userId: 'admin' });
  const error = await closed;
  assert.equal(replyCodeOf(error), 406);
  assert.match(error.message, /user_id/);
  assert.equal(readyCount('impostor'), 0);
});

test('closing a channel returns its unacknowledged deliveries, marked redelivered', async () => {
  const first = await channel();
  await fill(first, 'returned-on-close', 3);
  const received: ConsumeMessage[] = [];
  await first.consume('returned-on-close', (message) => message && received.push(message));
  await waitUntil(() => received.length === 3, 'three deliveries');
  first.ack(received[0]!);
  await first.close();
  const second = await channel();
  const again: ConsumeMessage[] = [];
  await second.consume('returned-on-close', (message) => message && again.push(message), { noAck: true });
  await waitUntil(() => again.length === 2, 'the two unacknowledged messages come back');
  assert.deepEqual(
    again.map((message) => [message.content.toString(), message.fields.redelivered]),
    [
      ['1', true],
      ['2', true],
    ],
  );
  await second.close();
});

test('deliveries of a cancelled consumer can still be acknowledged', async () => {
  const target = await channel();
  await fill(target, 'ack-after-cancel', 2);
  const received: ConsumeMessage[] = [];
  const { consumerTag } = await target.consume('ack-after-cancel', (message) => message && received.push(message));
  await waitUntil(() => received.length === 2, 'two deliveries');
  await target.cancel(consumerTag);
  target.ack(received[1]!, true);
  await target.checkQueue('ack-after-cancel');
  await target.close();
  await delay(20);
  assert.equal(readyCount('ack-after-cancel'), 0, 'nothing came back: the acks after cancel counted');
});

test('a mandatory publish through the default exchange to a missing queue is returned', async () => {
  const target = await channel();
  const returned = nextEvent<Message>(target, 'return');
  target.sendToQueue('no-such-queue-for-return', Buffer.from('x'), { mandatory: true });
  const message = await returned;
  assert.equal((message.fields as unknown as { replyCode: number }).replyCode, 312);
  assert.equal(message.fields.routingKey, 'no-such-queue-for-return');
});

test('direct reply-to: publishing with reply-to amq.rabbitmq.reply-to before consuming from it is 406', async () => {
  const target = await channel();
  await target.assertQueue('reply-without-consumer');
  const closed = nextEvent<Error>(target, 'error');
  target.sendToQueue('reply-without-consumer', Buffer.from('x'), { replyTo: 'amq.rabbitmq.reply-to' });
  assert.equal(replyCodeOf(await closed), 406);
});

test('direct reply-to: the reply consumer must be no-ack (406 otherwise)', async () => {
  const target = await channel();
  await assert.rejects(target.consume('amq.rabbitmq.reply-to', () => undefined, { noAck: false }), (error: unknown) => replyCodeOf(error) === 406);
});

test('a priority above x-max-priority counts as the maximum', async () => {
  const target = await channel();
  await target.assertQueue('capped-priority', { maxPriority: 2 });
  for (const priority of [0, 200, 2, 1]) target.sendToQueue('capped-priority', Buffer.from(`p${priority}`), { priority });
  await target.checkQueue('capped-priority');
  const order: string[] = [];
  for (;;) {
    const message = await target.get('capped-priority', { noAck: true });
    if (!message) break;
    order.push(message.content.toString());
  }
  assert.deepEqual(order, ['p200', 'p2', 'p1', 'p0']);
});
