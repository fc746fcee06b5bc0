/**
 * RabbitMQ stream queues over AMQP 0-9-1 with amqplib: `x-queue-type:
 * stream` declares a Ferry stream; publishes (confirmed) append to it through
 * any exchange; basic.consume reads it from `x-stream-offset` (first, last,
 * next, an offset, a timestamp, an interval) and tails it, each delivery
 * carrying its offset in the `x-stream-offset` header; acks only return
 * credit. The refusals use RabbitMQ's reply codes, and a stream survives a
 * broker restart on its data directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
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

const STREAM = { durable: true, arguments: { 'x-queue-type': 'stream' } } as const;

async function channel(model: ChannelModel = connection): Promise<Channel> {
  const created = await model.createChannel();
  created.on('error', () => undefined);
  return created;
}

async function confirmChannel(model: ChannelModel = connection): Promise<ConfirmChannel> {
  const created = await model.createConfirmChannel();
  created.on('error', () => undefined);
  return created;
}

/** Declares stream `name` and publishes `bodies` to it through the default exchange, waiting for the confirms. */
async function fill(name: string, bodies: readonly string[], options: Options.Publish = {}): Promise<void> {
  const publisher = await confirmChannel();
  await publisher.assertQueue(name, STREAM);
  for (const body of bodies) publisher.sendToQueue(name, Buffer.from(body), options);
  await publisher.waitForConfirms();
  await publisher.close();
}

function range(prefix: string, count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}${from + index}`);
}

/** The `x-stream-offset` header of a delivery. */
function offsetOf(message: ConsumeMessage): number {
  const offset: unknown = message.properties.headers?.['x-stream-offset'];
  assert.equal(typeof offset, 'number', 'every stream delivery carries its offset');
  return offset as number;
}

interface Reader {
  readonly channel: Channel;
  readonly received: ConsumeMessage[];
  readonly tag: string;
  /** Set once the server cancelled the consumer (amqplib calls back with null). */
  cancelled: boolean;
}

/** Consumes stream `name` with prefetch `prefetch` from `offset`; acks each delivery unless `ack` is false. */
async function read(name: string, offset: unknown, options: { prefetch?: number; ack?: boolean; model?: ChannelModel } = {}): Promise<Reader> {
  const target = await channel(options.model);
  await target.prefetch(options.prefetch ?? 100);
  const reader: Reader = { channel: target, received: [], tag: '', cancelled: false };
  const args = offset === undefined ? {} : { 'x-stream-offset': offset };
  const { consumerTag } = await target.consume(
    name,
    (message) => {
      if (message === null) {
        reader.cancelled = true;
        return;
      }
      reader.received.push(message);
      if (options.ack !== false) target.ack(message);
    },
    { noAck: false, arguments: args },
  );
  return Object.assign(reader, { tag: consumerTag });
}

function bodiesOf(reader: Reader): string[] {
  return reader.received.map((message) => message.content.toString());
}

/** Resolves with the reply code of the channel error `operation` provokes (the connection stays open). */
async function channelErrorCode(operation: (target: Channel) => Promise<unknown>): Promise<number | undefined> {
  const target = await channel();
  const emitted = nextEvent<Error>(target, 'error');
  await operation(target).catch(() => undefined);
  return replyCodeOf(await emitted);
}

/** Resolves with the reply code of the connection error `operation` provokes on a fresh connection. */
async function connectionErrorCode(operation: (target: Channel) => Promise<unknown>): Promise<number | undefined> {
  const model = await ferry.connect();
  const target = await channel(model);
  const emitted = nextEvent<Error>(model, 'error');
  const closed = nextEvent<unknown>(model, 'close');
  await operation(target).catch(() => undefined);
  const error = await emitted;
  await closed;
  return replyCodeOf(error);
}

/** Tags of the consumers the broker lists for its AMQP channels. */
function consumerTags(): string[] {
  return ferry.broker.core.connections.list().flatMap((open) => open.describe().channels.flatMap((described) => described.consumers.map((consumer) => consumer.tag)));
}

// ---------------------------------------------------------------- declaring

test('x-queue-type stream declares a one-partition stream; redeclare and passive declare report its message count', async () => {
  const target = await channel();
  const declared = await target.assertQueue('st-declare', STREAM);
  assert.deepEqual(declared, { queue: 'st-declare', messageCount: 0, consumerCount: 0 });
  const stream = ferry.broker.vhost().stream('st-declare');
  assert.equal(stream.partitionCount(), 1);
  assert.equal(stream.config.durable, true);
  assert.equal(ferry.broker.vhost().findQueue('st-declare'), undefined, 'a stream, not a queue');
  await fill('st-declare', range('m', 3));
  assert.equal((await target.assertQueue('st-declare', STREAM)).messageCount, 3);
  assert.deepEqual(await target.checkQueue('st-declare'), { queue: 'st-declare', messageCount: 3, consumerCount: 0 });
  await target.close();
});

test('x-max-age, x-max-length-bytes and x-stream-max-segment-size-bytes become the retention and segment size', async () => {
  const target = await channel();
  const cases: Array<[string, number]> = [
    ['7D', 7 * 24 * 3_600_000],
    ['12h', 12 * 3_600_000],
    ['30m', 30 * 60_000],
    ['10s', 10_000],
    ['1Y', 365 * 24 * 3_600_000],
    ['1M', 30 * 24 * 3_600_000],
  ];
  for (const [maxAge, retentionMs] of cases) {
    await target.assertQueue(`st-age-${maxAge}`, { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-age': maxAge } });
    assert.equal(ferry.broker.vhost().stream(`st-age-${maxAge}`).config.retentionMs, retentionMs, maxAge);
  }
  const sized = { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-length-bytes': 20_000_000, 'x-stream-max-segment-size-bytes': 1_000_000 } };
  await target.assertQueue('st-sized', sized);
  const config = ferry.broker.vhost().stream('st-sized').config;
  assert.equal(config.retentionBytes, 20_000_000);
  assert.equal(config.segmentBytesMax, 1_000_000);
  // Arguments streams take but Ferry has no use for are accepted, as RabbitMQ does.
  await target.assertQueue('st-ignored', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-initial-cluster-size': 3, 'x-queue-leader-locator': 'balanced', 'x-custom': 'yes' } });
  await target.close();
});

test('406 PRECONDITION_FAILED: a stream that is not durable, exclusive, auto-delete or server-named', async () => {
  const declarations: Options.AssertQueue[] = [
    { durable: false, arguments: { 'x-queue-type': 'stream' } },
    { durable: true, exclusive: true, arguments: { 'x-queue-type': 'stream' } },
    { durable: true, autoDelete: true, arguments: { 'x-queue-type': 'stream' } },
  ];
  for (const declaration of declarations) {
    assert.equal(await channelErrorCode((target) => target.assertQueue('st-bad-flags', declaration)), 406, JSON.stringify(declaration));
  }
  assert.equal(await channelErrorCode((target) => target.assertQueue('', STREAM)), 406, 'server-named');
  assert.equal(ferry.broker.vhost().findStream('st-bad-flags'), undefined);
});

test('406 PRECONDITION_FAILED: bad stream arguments, arguments streams refuse, and a mismatched redeclaration', async () => {
  const bad: Array<Record<string, unknown>> = [
    { 'x-max-age': '1A' },
    { 'x-max-age': '10' },
    { 'x-max-age': '0s' },
    { 'x-max-age': 10 },
    { 'x-max-length-bytes': 'big' },
    { 'x-stream-max-segment-size-bytes': 3_000_000_001 },
    { 'x-stream-filter-size-bytes': 300 },
    { 'x-overflow': 'reject-publish' },
    { 'x-message-ttl': 1_000 },
    { 'x-max-length': 10 },
    { 'x-dead-letter-exchange': 'dlx' },
    { 'x-max-priority': 5 },
  ];
  for (const args of bad) {
    assert.equal(await channelErrorCode((target) => target.assertQueue('st-bad-args', { durable: true, arguments: { 'x-queue-type': 'stream', ...args } })), 406, JSON.stringify(args));
  }
  assert.equal(ferry.broker.vhost().findStream('st-bad-args'), undefined);
  const target = await channel();
  await target.assertQueue('st-mismatch', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-age': '7D' } });
  await target.close();
  assert.equal(await channelErrorCode((next) => next.assertQueue('st-mismatch', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-age': '1D' } })), 406);
  assert.equal(await channelErrorCode((next) => next.assertQueue('st-mismatch', { durable: true })), 406, 'a classic declaration of a stream');
  const classic = await channel();
  await classic.assertQueue('st-classic', { durable: true });
  await classic.close();
  assert.equal(await channelErrorCode((next) => next.assertQueue('st-classic', STREAM)), 406, 'a stream declaration of a classic queue');
});

test('queue.delete deletes the stream; its consumers get basic.cancel; a passive declare then finds nothing', async () => {
  await fill('st-delete', range('m', 4));
  const reader = await read('st-delete', 'first');
  await waitUntil(() => reader.received.length === 4, 'the consumer read the stream');
  const target = await channel();
  assert.deepEqual(await target.deleteQueue('st-delete'), { messageCount: 4 });
  assert.equal(ferry.broker.vhost().findStream('st-delete'), undefined);
  await waitUntil(() => reader.cancelled, 'the consumer was cancelled');
  assert.equal(await channelErrorCode((next) => next.checkQueue('st-delete')), 404);
  await target.close();
  await reader.channel.close();
});

test('a consumer whose window is full is cancelled too when its stream is deleted', async () => {
  await fill('st-delete-blocked', range('m', 5));
  const reader = await read('st-delete-blocked', 'first', { prefetch: 2, ack: false });
  await waitUntil(() => reader.received.length === 2, 'two deliveries');
  const target = await channel();
  await target.deleteQueue('st-delete-blocked');
  await waitUntil(() => reader.cancelled, 'the blocked consumer was cancelled');
  await target.close();
  await reader.channel.close();
});

// ---------------------------------------------------------------- publishing

test('publishes reach a stream through the default exchange and through bound exchanges, confirmed', async () => {
  const publisher = await confirmChannel();
  await publisher.assertQueue('st-routes', STREAM);
  await publisher.assertExchange('st-direct', 'direct', { durable: true });
  await publisher.assertExchange('st-fanout', 'fanout', { durable: true });
  await publisher.bindQueue('st-routes', 'st-direct', 'key');
  await publisher.bindQueue('st-routes', 'st-fanout', '');
  publisher.sendToQueue('st-routes', Buffer.from('default'));
  publisher.publish('st-direct', 'key', Buffer.from('direct'));
  publisher.publish('st-direct', 'other-key', Buffer.from('unrouted'));
  publisher.publish('st-fanout', '', Buffer.from('fanout'));
  await publisher.waitForConfirms();
  assert.equal((await publisher.checkQueue('st-routes')).messageCount, 3);
  await publisher.unbindQueue('st-routes', 'st-fanout', '');
  publisher.publish('st-fanout', '', Buffer.from('after unbind'));
  await publisher.waitForConfirms();
  assert.equal((await publisher.checkQueue('st-routes')).messageCount, 3);
  const reader = await read('st-routes', 'first');
  await waitUntil(() => reader.received.length === 3, 'three deliveries');
  assert.deepEqual(
    reader.received.map((message) => [message.content.toString(), message.fields.exchange, message.fields.routingKey]),
    [
      ['default', '', 'st-routes'],
      ['direct', 'st-direct', 'key'],
      ['fanout', 'st-fanout', ''],
    ],
  );
  await reader.channel.close();
  await publisher.close();
});

// ---------------------------------------------------------------- consuming

test('x-stream-offset first: every message in order, each with its offset in the x-stream-offset header', async () => {
  await fill('st-first', range('m', 10));
  const reader = await read('st-first', 'first');
  await waitUntil(() => reader.received.length === 10, 'ten deliveries');
  assert.deepEqual(bodiesOf(reader), range('m', 10));
  assert.deepEqual(reader.received.map(offsetOf), range('', 10).map(Number));
  for (const message of reader.received) {
    assert.equal(message.fields.redelivered, false);
    assert.equal(message.fields.consumerTag, reader.tag);
  }
  await reader.channel.close();
});

test('messages keep their properties and headers; x-stream-offset is added to the headers', async () => {
  const publisher = await confirmChannel();
  await publisher.assertQueue('st-properties', STREAM);
  const timestamp = Math.floor(Date.now() / 1000);
  publisher.sendToQueue('st-properties', Buffer.from('{"a":1}'), {
    contentType: 'application/json',
    contentEncoding: 'identity',
    headers: { 'x-origin': 'test', count: 7 },
    persistent: true,
    priority: 3,
    correlationId: 'corr-1',
    replyTo: 'replies',
    messageId: 'id-1',
    timestamp,
    type: 'created',
    appId: 'streams-test',
  });
  await publisher.waitForConfirms();
  await publisher.close();
  const reader = await read('st-properties', 'first');
  await waitUntil(() => reader.received.length === 1, 'one delivery');
  const { properties, content } = reader.received[0]!;
  assert.equal(content.toString(), '{"a":1}');
  assert.equal(properties.contentType, 'application/json');
  assert.equal(properties.contentEncoding, 'identity');
  assert.deepEqual(properties.headers, { 'x-origin': 'test', count: 7, 'x-stream-offset': 0 });
  assert.equal(properties.deliveryMode, 2);
  assert.equal(properties.priority, 3);
  assert.equal(properties.correlationId, 'corr-1');
  assert.equal(properties.replyTo, 'replies');
  assert.equal(properties.messageId, 'id-1');
  assert.equal(properties.timestamp, timestamp);
  assert.equal(properties.type, 'created');
  assert.equal(properties.appId, 'streams-test');
  await reader.channel.close();
});

test('x-stream-offset next (also the default) delivers only messages published after the consumer started', async () => {
  await fill('st-next', range('old', 5));
  const explicit = await read('st-next', 'next');
  const implicit = await read('st-next', undefined);
  await delay(50);
  assert.equal(explicit.received.length + implicit.received.length, 0);
  await fill('st-next', range('new', 3));
  await waitUntil(() => explicit.received.length === 3 && implicit.received.length === 3, 'both got the new messages');
  assert.deepEqual(bodiesOf(explicit), range('new', 3));
  assert.deepEqual(bodiesOf(implicit), range('new', 3));
  assert.deepEqual(explicit.received.map(offsetOf), [5, 6, 7]);
  await explicit.channel.close();
  await implicit.channel.close();
});

test('x-stream-offset last starts at the last message', async () => {
  await fill('st-last', range('m', 5));
  const reader = await read('st-last', 'last');
  await waitUntil(() => reader.received.length === 1, 'the last message');
  assert.deepEqual(bodiesOf(reader), ['m4']);
  await fill('st-last', ['later']);
  await waitUntil(() => reader.received.length === 2, 'the new message');
  assert.deepEqual(reader.received.map(offsetOf), [4, 5]);
  await reader.channel.close();
});

test('a numeric x-stream-offset starts there; one past the end waits until the stream reaches it (RabbitMQ)', async () => {
  await fill('st-offset', range('m', 10));
  const reader = await read('st-offset', 5);
  await waitUntil(() => reader.received.length === 5, 'five deliveries');
  assert.deepEqual(reader.received.map(offsetOf), [5, 6, 7, 8, 9]);
  assert.deepEqual(bodiesOf(reader), range('m', 5, 5));
  const beyond = await read('st-offset', 12);
  await fill('st-offset', ['m10', 'm11']);
  await waitUntil(() => reader.received.length === 7, 'the first reader got the new messages');
  await delay(50);
  assert.equal(beyond.received.length, 0, 'offsets 10 and 11 are before where it starts');
  await fill('st-offset', ['m12']);
  await waitUntil(() => beyond.received.length === 1, 'offset 12 arrives');
  assert.equal(offsetOf(beyond.received[0]!), 12);
  assert.deepEqual(bodiesOf(beyond), ['m12']);
  await reader.channel.close();
  await beyond.channel.close();
});

test('a timestamp x-stream-offset (AMQP type T, seconds) starts at the first message stored at or after it', async () => {
  await fill('st-timestamp', range('before', 3));
  // The next whole second: messages before it are older, messages after it newer.
  const seconds = Math.floor(Date.now() / 1000) + 1;
  await waitUntil(() => Date.now() >= seconds * 1000 + 20, 'the next second', 2_000);
  await fill('st-timestamp', range('after', 2));
  const reader = await read('st-timestamp', { '!': 'timestamp', value: seconds });
  await waitUntil(() => reader.received.length === 2, 'the messages after the timestamp');
  assert.deepEqual(bodiesOf(reader), range('after', 2));
  assert.deepEqual(reader.received.map(offsetOf), [3, 4]);
  const past = await read('st-timestamp', { '!': 'timestamp', value: seconds - 3600 });
  await waitUntil(() => past.received.length === 5, 'a timestamp an hour ago reads everything');
  await reader.channel.close();
  await past.channel.close();
});

test('an interval x-stream-offset (10m, 1s) starts that long ago', async () => {
  await fill('st-interval', range('old', 2));
  await delay(2_100);
  await fill('st-interval', range('new', 2));
  const recent = await read('st-interval', '1s');
  const everything = await read('st-interval', '10m');
  await waitUntil(() => recent.received.length === 2 && everything.received.length === 4, 'both read their part');
  assert.deepEqual(bodiesOf(recent), range('new', 2));
  assert.deepEqual(bodiesOf(everything), [...range('old', 2), ...range('new', 2)]);
  await recent.channel.close();
  await everything.channel.close();
});

test('a consumer tails the stream: messages published later arrive in order', async () => {
  await fill('st-tail', range('m', 3));
  const reader = await read('st-tail', 'first');
  await waitUntil(() => reader.received.length === 3, 'the existing messages');
  const publisher = await confirmChannel();
  for (let round = 0; round < 5; round++) {
    publisher.sendToQueue('st-tail', Buffer.from(`m${3 + round}`));
    await publisher.waitForConfirms();
    await delay(5);
  }
  await waitUntil(() => reader.received.length === 8, 'the tailed messages');
  assert.deepEqual(bodiesOf(reader), range('m', 8));
  assert.deepEqual(reader.received.map(offsetOf), range('', 8).map(Number));
  await publisher.close();
  await reader.channel.close();
});

test('prefetch is credit: a consumer that does not ack gets exactly prefetch deliveries; acks, nacks and rejects return credit', async () => {
  await fill('st-credit', range('m', 20));
  const reader = await read('st-credit', 'first', { prefetch: 3, ack: false });
  await waitUntil(() => reader.received.length === 3, 'three deliveries');
  await delay(100);
  assert.equal(reader.received.length, 3, 'no more than the prefetch');
  reader.channel.ack(reader.received[0]!);
  await waitUntil(() => reader.received.length === 4, 'one more after an ack');
  reader.channel.nack(reader.received[1]!, false, true);
  reader.channel.reject(reader.received[2]!, true);
  await waitUntil(() => reader.received.length === 6, 'two more after a nack and a reject');
  await delay(100);
  assert.equal(reader.received.length, 6);
  reader.channel.ack(reader.received[5]!, true); // multiple: settles 4, 5 and 6
  await waitUntil(() => reader.received.length === 9, 'three more after a multiple ack');
  await delay(100);
  assert.equal(reader.received.length, 9);
  // Nothing was requeued or redelivered: the stream was read once, in order.
  assert.deepEqual(reader.received.map(offsetOf), range('', 9).map(Number));
  assert.ok(reader.received.every((message) => !message.fields.redelivered));
  assert.equal((await reader.channel.checkQueue('st-credit')).messageCount, 20, 'acks remove nothing');
  await reader.channel.close();
});

test('two consumers each read the whole stream, on separate channels and on one channel', async () => {
  await fill('st-fan', range('m', 25));
  const first = await read('st-fan', 'first', { prefetch: 4 });
  const second = await read('st-fan', 'first', { prefetch: 7 });
  await waitUntil(() => first.received.length === 25 && second.received.length === 25, 'both read everything');
  assert.deepEqual(bodiesOf(first), range('m', 25));
  assert.deepEqual(bodiesOf(second), range('m', 25));
  const shared = await channel();
  await shared.prefetch(5);
  const left: string[] = [];
  const right: string[] = [];
  await shared.consume('st-fan', (message) => message && (left.push(message.content.toString()), shared.ack(message)), { arguments: { 'x-stream-offset': 'first' } });
  await shared.consume('st-fan', (message) => message && (right.push(message.content.toString()), shared.ack(message)), { arguments: { 'x-stream-offset': 20 } });
  await waitUntil(() => left.length === 25 && right.length === 5, 'both consumers of the channel read their part');
  assert.deepEqual(left, range('m', 25));
  assert.deepEqual(right, range('m', 5, 20));
  await first.channel.close();
  await second.channel.close();
  await shared.close();
});

test('basic.cancel and channel close stop the reader', async () => {
  await fill('st-stop', range('m', 2));
  const cancelled = await read('st-stop', 'first');
  const closed = await read('st-stop', 'first');
  const kept = await read('st-stop', 'first');
  await waitUntil(() => cancelled.received.length === 2 && closed.received.length === 2 && kept.received.length === 2, 'all read the stream');
  assert.ok(consumerTags().includes(cancelled.tag));
  await cancelled.channel.cancel(cancelled.tag);
  await closed.channel.close();
  assert.ok(!consumerTags().includes(cancelled.tag) && !consumerTags().includes(closed.tag), 'the broker lists neither consumer');
  await fill('st-stop', range('m', 3, 2));
  await waitUntil(() => kept.received.length === 5, 'the remaining consumer tails on');
  await delay(50);
  assert.equal(cancelled.received.length, 2, 'nothing after basic.cancel');
  assert.equal(closed.received.length, 2, 'nothing after channel close');
  await kept.channel.close();
  await cancelled.channel.close();
});

test('a stream consumer respects channel.flow', async () => {
  await fill('st-flow', range('m', 6));
  const target = await channel();
  await target.prefetch(10);
  const received: ConsumeMessage[] = [];
  // amqplib has no channel.flow call: its generic RPC takes the method ids (class 20, methods 20 and 21).
  const flow = (active: boolean) => (target as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> }).rpc((20 << 16) | 20, { active }, (20 << 16) | 21);
  await flow(false);
  await target.consume('st-flow', (message) => message && (received.push(message), target.ack(message)), { arguments: { 'x-stream-offset': 'first' } });
  await delay(100);
  assert.equal(received.length, 0, 'nothing while the client stopped the flow');
  await flow(true);
  await waitUntil(() => received.length === 6, 'everything once the flow resumed');
  await target.close();
});

// ---------------------------------------------------------------- refusals

test('406 PRECONDITION_FAILED: consuming a stream without a prefetch (basic.qos) closes the channel', async () => {
  const target = await channel();
  await target.assertQueue('st-no-qos', STREAM);
  await target.close();
  assert.equal(await channelErrorCode((next) => next.consume('st-no-qos', () => undefined)), 406);
});

test('406 PRECONDITION_FAILED: an invalid x-stream-offset, x-priority or x-stream-filter on a stream consumer', async () => {
  const target = await channel();
  await target.assertQueue('st-bad-consume', STREAM);
  await target.close();
  const cases: Array<Record<string, unknown>> = [
    { 'x-stream-offset': 'soon' },
    { 'x-stream-offset': true },
    { 'x-stream-offset': -1 },
    { 'x-stream-offset': 1.5 },
    { 'x-priority': 5 },
    { 'x-stream-filter': 'california' },
  ];
  for (const args of cases) {
    const code = await channelErrorCode(async (next) => {
      await next.prefetch(10);
      await next.consume('st-bad-consume', () => undefined, { arguments: args });
    });
    assert.equal(code, 406, JSON.stringify(args));
  }
});

test('540 NOT_IMPLEMENTED closes the connection: automatic acknowledgement, a global prefetch, basic.get and queue.purge on a stream', async () => {
  await fill('st-refused', ['m']);
  assert.equal(
    await connectionErrorCode(async (target) => {
      await target.prefetch(10);
      await target.consume('st-refused', () => undefined, { noAck: true });
    }),
    540,
    'no-ack',
  );
  assert.equal(
    await connectionErrorCode(async (target) => {
      await target.prefetch(10);
      await target.prefetch(10, true);
      await target.consume('st-refused', () => undefined);
    }),
    540,
    'global qos',
  );
  assert.equal(await connectionErrorCode((target) => target.get('st-refused')), 540, 'basic.get');
  assert.equal(await connectionErrorCode((target) => target.purgeQueue('st-refused')), 540, 'queue.purge');
  assert.equal(ferry.broker.vhost().stream('st-refused').messageCount(), 1, 'nothing was removed');
});

// ---------------------------------------------------------------- durability

test('a stream, its bindings and its messages survive a broker restart on the same data directory', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-amqp-streams-'));
  try {
    const first = await AmqpTestServer.start({ broker: { dataDir } });
    try {
      const model = await first.connect();
      const publisher = await model.createConfirmChannel();
      await publisher.assertQueue('st-durable', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-age': '7D' } });
      await publisher.assertExchange('st-durable-x', 'direct', { durable: true });
      await publisher.bindQueue('st-durable', 'st-durable-x', 'k');
      for (const body of range('m', 5)) publisher.publish('st-durable-x', 'k', Buffer.from(body), { persistent: true });
      await publisher.waitForConfirms();
    } finally {
      await first.close();
    }
    const second = await AmqpTestServer.start({ broker: { dataDir } });
    try {
      const model = await second.connect();
      const target = await model.createConfirmChannel();
      assert.deepEqual(await target.checkQueue('st-durable'), { queue: 'st-durable', messageCount: 5, consumerCount: 0 });
      assert.equal(second.broker.vhost().stream('st-durable').config.retentionMs, 7 * 24 * 3_600_000);
      target.publish('st-durable-x', 'k', Buffer.from('m5'));
      await target.waitForConfirms();
      await target.prefetch(10);
      const received: ConsumeMessage[] = [];
      await target.consume('st-durable', (message) => message && (received.push(message), target.ack(message)), { arguments: { 'x-stream-offset': 'first' } });
      await waitUntil(() => received.length === 6, 'every message, old and new');
      assert.deepEqual(received.map((message) => message.content.toString()), range('m', 6));
      assert.deepEqual(received.map(offsetOf), range('', 6).map(Number));
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
