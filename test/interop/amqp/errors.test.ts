/**
 * Errors as RabbitMQ gives them, provoked with amqplib: the reply code, which
 * of channel or connection closes, and that the broker keeps serving.
 * Errors that need malformed frames are in raw-frames.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel, ChannelModel } from 'amqplib';
import { AmqpTestServer } from './amqp-test-server.js';
import { nextEvent } from './next-event.js';
import { replyCodeOf } from './reply-code-of.js';

let ferry: AmqpTestServer;
/** Shared by the channel-error tests: it must survive all of them. */
let survivor: ChannelModel;
let survivorClosed = false;

before(async () => {
  ferry = await AmqpTestServer.start();
  survivor = await ferry.connect();
  survivor.on('close', () => (survivorClosed = true));
});

after(async () => {
  await ferry.close();
});

async function channel(connection: ChannelModel = survivor): Promise<Channel> {
  const created = await connection.createChannel();
  created.on('error', () => undefined);
  return created;
}

interface ChannelFailure {
  readonly code: number | undefined;
  readonly message: string;
}

/** Runs `operation` on a fresh channel; resolves with the channel error it caused and checks the channel is closed. */
async function channelError(operation: (channel: Channel) => Promise<unknown> | void): Promise<ChannelFailure> {
  const target = await channel();
  const closed = nextEvent<void>(target, 'close');
  const emitted = nextEvent<Error>(target, 'error');
  try {
    await operation(target);
  } catch {
    // The rejected RPC carries the same error as the 'error' event.
  }
  const error = await emitted;
  await closed;
  await assert.rejects(target.checkQueue('anything'), /closed/i, 'the channel is closed');
  return { code: replyCodeOf(error), message: error.message };
}

/** Opens a connection, runs `operation`; resolves with the connection error it caused once the connection closed. */
async function connectionError(operation: (channel: Channel) => Promise<unknown> | void): Promise<ChannelFailure> {
  const connection = await ferry.connect();
  const target = await channel(connection);
  const emitted = nextEvent<Error>(connection, 'error');
  const closed = nextEvent<unknown>(connection, 'close');
  try {
    await operation(target);
  } catch {
    // The rejected RPC; the connection's 'error' event says why.
  }
  const error = await emitted;
  await closed;
  await assert.rejects(connection.createChannel(), 'the connection is closed');
  return { code: replyCodeOf(error), message: error.message };
}

test('404 NOT_FOUND: consuming from, getting from, binding and purging a missing queue', async () => {
  for (const operation of [
    (target: Channel) => target.consume('missing-queue', () => undefined),
    (target: Channel) => target.get('missing-queue'),
    (target: Channel) => target.purgeQueue('missing-queue'),
    async (target: Channel) => {
      await target.assertExchange('errors-fanout', 'fanout', { durable: false });
      await target.bindQueue('missing-queue', 'errors-fanout', '');
    },
  ]) {
    const failure = await channelError(operation);
    assert.equal(failure.code, 404, failure.message);
    assert.match(failure.message, /NOT_FOUND - no queue 'missing-queue' in vhost '\/'/, "RabbitMQ's words");
  }
});

test('404 NOT_FOUND: publishing to a missing exchange closes the channel', async () => {
  const failure = await channelError((target) => void target.publish('missing-exchange', 'key', Buffer.from('x')));
  assert.equal(failure.code, 404);
  assert.match(failure.message, /NOT_FOUND - no exchange 'missing-exchange' in vhost '\/'/);
});

test('403 ACCESS_REFUSED: declaring an exchange or a queue named amq.*', async () => {
  const exchange = await channelError((target) => target.assertExchange('amq.mine', 'direct'));
  assert.equal(exchange.code, 403);
  assert.match(exchange.message, /ACCESS_REFUSED - .*amq\./);
  const queue = await channelError((target) => target.assertQueue('amq.mine'));
  assert.equal(queue.code, 403);
});

test('403 ACCESS_REFUSED: declaring, deleting or binding to the default exchange', async () => {
  assert.equal((await channelError((target) => target.deleteExchange(''))).code, 403);
  const queueName = (await (await channel()).assertQueue('default-bound')).queue;
  assert.equal((await channelError((target) => target.bindQueue(queueName, '', 'x'))).code, 403);
});

test('405 RESOURCE_LOCKED: another connection cannot use an exclusive queue', async () => {
  const owner = await ferry.connect();
  const ownerChannel = await owner.createChannel();
  await ownerChannel.assertQueue('exclusively-mine', { exclusive: true });
  for (const operation of [
    (target: Channel) => target.assertQueue('exclusively-mine', { exclusive: true }),
    (target: Channel) => target.assertQueue('exclusively-mine', { exclusive: false }),
    (target: Channel) => target.checkQueue('exclusively-mine'),
    (target: Channel) => target.consume('exclusively-mine', () => undefined),
    (target: Channel) => target.purgeQueue('exclusively-mine'),
    (target: Channel) => target.deleteQueue('exclusively-mine'),
  ]) {
    const failure = await channelError(operation);
    assert.equal(failure.code, 405, failure.message);
    assert.match(failure.message, /RESOURCE_LOCKED - /);
  }
  await ownerChannel.checkQueue('exclusively-mine');
  await owner.close();
});

test('405 RESOURCE_LOCKED: basic.get from an exclusive queue of another connection', async () => {
  const owner = await ferry.connect();
  const ownerChannel = await owner.createChannel();
  await ownerChannel.assertQueue('exclusive-get', { exclusive: true });
  ownerChannel.sendToQueue('exclusive-get', Buffer.from('private'));
  await ownerChannel.checkQueue('exclusive-get');
  const target = await channel();
  await assert.rejects(target.get('exclusive-get', { noAck: true }), (error: unknown) => replyCodeOf(error) === 405);
  await owner.close();
});

test('an exclusive consumer keeps other consumers off the queue, and an exclusive consume needs a queue without consumers', async () => {
  const target = await channel();
  await target.assertQueue('exclusive-consumer-refused');
  await target.consume('exclusive-consumer-refused', () => undefined, { exclusive: true });
  const second = await channelError((other) => other.consume('exclusive-consumer-refused', () => undefined));
  assert.ok(second.code === 403 || second.code === 405, second.message);
  const third = await channelError((other) => other.consume('exclusive-consumer-refused', () => undefined, { exclusive: true }));
  assert.ok(third.code === 403 || third.code === 405, third.message);
  await target.close();
  const shared = await channel();
  await shared.consume('exclusive-consumer-refused', () => undefined);
  const late = await channelError((other) => other.consume('exclusive-consumer-refused', () => undefined, { exclusive: true }));
  assert.ok(late.code === 403 || late.code === 405, late.message);
  await shared.close();
});

test('403 ACCESS_REFUSED: an exclusive consumer keeps other consumers off the queue', async () => {
  const target = await channel();
  await target.assertQueue('exclusive-consumer');
  await target.consume('exclusive-consumer', () => undefined, { exclusive: true });
  const failure = await channelError((other) => other.consume('exclusive-consumer', () => undefined));
  assert.equal(failure.code, 403, 'RabbitMQ answers 403 ACCESS_REFUSED for a queue with an exclusive consumer');
  assert.match(failure.message, /ACCESS_REFUSED - queue 'exclusive-consumer' in vhost '\/' in exclusive use/);
  await target.close();
});

test('406 PRECONDITION_FAILED: redeclaring a queue or an exchange with different settings', async () => {
  const target = await channel();
  await target.assertQueue('declared-once', { durable: true, arguments: { 'x-max-length': 10 } });
  const queue = await channelError((next) => next.assertQueue('declared-once', { durable: true, arguments: { 'x-max-length': 20 } }));
  assert.equal(queue.code, 406);
  assert.match(queue.message, /PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'declared-once' in vhost '\/': received '20' but current is '10'/);
  const durable = await channelError((next) => next.assertQueue('declared-once', { durable: false, arguments: { 'x-max-length': 10 } }));
  assert.equal(durable.code, 406);
  assert.match(durable.message, /inequivalent arg 'durable' for queue 'declared-once' in vhost '\/': received 'false' but current is 'true'/);
  // One side only: RabbitMQ names the value's type as the client sent it (amqplib sends 10 as a byte).
  const removed = await channelError((next) => next.assertQueue('declared-once', { durable: true }));
  assert.match(removed.message, /inequivalent arg 'x-max-length' for queue 'declared-once' in vhost '\/': received none but current is the value '10' of type 'byte'"/);
  const added = await channelError((next) => next.assertQueue('declared-once', { durable: true, arguments: { 'x-max-length': 10, 'x-dead-letter-exchange': 'dlx' } }));
  assert.match(added.message, /inequivalent arg 'x-dead-letter-exchange' for queue 'declared-once' in vhost '\/': received the value 'dlx' of type 'longstr' but current is none"/);
  const quorum = await channelError((next) => next.assertQueue('declared-once', { durable: true, arguments: { 'x-max-length': 1000, 'x-queue-type': 'quorum' } }));
  assert.match(quorum.message, /inequivalent arg 'x-queue-type' for queue 'declared-once' in vhost '\/': received the value 'quorum' of type 'longstr' but current is none"/);
  await target.assertExchange('declared-exchange', 'direct', { durable: true });
  const type = await channelError((next) => next.assertExchange('declared-exchange', 'topic', { durable: true }));
  assert.equal(type.code, 406);
  assert.match(type.message, /inequivalent arg 'type' for exchange 'declared-exchange' in vhost '\/': received 'topic' but current is 'direct'/);
  const exchangeDurable = await channelError((next) => next.assertExchange('declared-exchange', 'direct', { durable: false }));
  assert.equal(exchangeDurable.code, 406);
  assert.match(exchangeDurable.message, /inequivalent arg 'durable' for exchange 'declared-exchange' in vhost '\/': received 'false' but current is 'true'/);
});

test('a refused consumer gets no consume-ok first: amqplib\'s consume() rejects, as with RabbitMQ', async () => {
  const target = await channel();
  await target.assertQueue('exclusive-no-consume-ok');
  await target.consume('exclusive-no-consume-ok', () => undefined, { exclusive: true });
  const other = await channel();
  const errored = nextEvent<Error>(other, 'error');
  await assert.rejects(other.consume('exclusive-no-consume-ok', () => undefined), (error: Error) => replyCodeOf(error) === 403);
  assert.equal(replyCodeOf(await errored), 403);
  await target.close();
});

test('406 PRECONDITION_FAILED: queue arguments RabbitMQ refuses (x-max-priority above 255, a dead-letter routing key alone, a quorum queue that is not durable, exclusive or auto-delete)', async () => {
  const priority = await channelError((target) => target.assertQueue('priority-256', { arguments: { 'x-max-priority': 256 } }));
  assert.equal(priority.code, 406);
  assert.match(priority.message, /invalid arg 'x-max-priority' for queue 'priority-256' in vhost '\/': \{max_value_exceeded,256\}/, "RabbitMQ's words");
  const routingKeyAlone = await channelError((target) => target.assertQueue('dlrk-alone', { arguments: { 'x-dead-letter-routing-key': 'k' } }));
  assert.equal(routingKeyAlone.code, 406);
  assert.match(routingKeyAlone.message, /invalid arg 'x-dead-letter-routing-key' for queue 'dlrk-alone' in vhost '\/': routing_key_but_no_dlx_defined/);
  for (const [options, property] of [
    [{ durable: false }, 'non-durable'],
    [{ durable: true, exclusive: true }, 'exclusive-owner'],
    [{ durable: true, autoDelete: true }, 'auto-delete'],
  ] as const) {
    const quorum = await channelError((target) => target.assertQueue(`quorum-${property}`, { ...options, arguments: { 'x-queue-type': 'quorum' } }));
    assert.equal(quorum.code, 406, property);
    assert.match(quorum.message, new RegExp(`invalid property '${property}' for queue 'quorum-${property}' in vhost '/'`));
  }
  const allowed = await channel();
  assert.equal((await allowed.assertQueue('priority-255', { arguments: { 'x-max-priority': 255 } })).queue, 'priority-255');
  assert.equal((await allowed.assertQueue('quorum-durable', { durable: true, arguments: { 'x-queue-type': 'quorum' } })).queue, 'quorum-durable');
  await allowed.close();
});

test('405 RESOURCE_LOCKED: redeclaring a shared queue as exclusive', async () => {
  const target = await channel();
  await target.assertQueue('shared-then-exclusive');
  const failure = await channelError((next) => next.assertQueue('shared-then-exclusive', { exclusive: true }));
  assert.equal(failure.code, 405);
  assert.match(failure.message, /cannot obtain exclusive access to locked queue 'shared-then-exclusive'/);
  await target.close();
});

test('queue.unbind of a missing queue, exchange or binding is unbind-ok, as RabbitMQ answers', async () => {
  const target = await channel();
  await target.assertExchange('unbind-source', 'direct', { durable: false });
  await target.assertQueue('unbind-queue');
  await target.unbindQueue('no-such-queue', 'unbind-source', 'k');
  await target.unbindQueue('unbind-queue', 'no-such-exchange', 'k');
  await target.unbindQueue('unbind-queue', 'unbind-source', 'never-bound');
  await target.close();
});

test('540 NOT_IMPLEMENTED: basic.qos with a prefetch size, and basic.recover without requeue, close the connection', async () => {
  // amqplib's own calls never send these: its rpc() sends the methods with the fields given (ids from the spec).
  type Rpc = { rpc(method: number, fields: object, expect: number): Promise<unknown> };
  const basicQos = (60 << 16) | 10;
  const basicRecover = (60 << 16) | 110;
  const size = await connectionError((target) => (target as unknown as Rpc).rpc(basicQos, { prefetchSize: 1000, prefetchCount: 10, global: false }, basicQos + 1));
  assert.equal(size.code, 540);
  assert.match(size.message, /prefetch_size/);
  const recover = await connectionError((target) => (target as unknown as Rpc).rpc(basicRecover, { requeue: false }, basicRecover + 1));
  assert.equal(recover.code, 540);
  assert.match(recover.message, /requeue=false/);
});

test("error texts are RabbitMQ's, which users search logs for", async () => {
  const other = await ferry.connect();
  const owner = await channel(other);
  await owner.assertQueue('texts-exclusive', { exclusive: true });
  const locked = await channelError((target) => target.checkQueue('texts-exclusive'));
  assert.equal(
    locked.message.replace(/^.*RESOURCE_LOCKED - /, '').replace(/"$/, ''),
    "cannot obtain exclusive access to locked queue 'texts-exclusive' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.",
  );
  await other.close();
  const setup = await channel();
  await setup.assertQueue('texts-busy');
  await setup.consume('texts-busy', () => undefined);
  assert.match((await channelError((target) => target.deleteQueue('texts-busy', { ifUnused: true }))).message, /PRECONDITION_FAILED - queue 'texts-busy' in vhost '\/' in use/);
  await setup.assertQueue('texts-full');
  setup.sendToQueue('texts-full', Buffer.from('x'));
  await setup.checkQueue('texts-full');
  assert.match((await channelError((target) => target.deleteQueue('texts-full', { ifEmpty: true }))).message, /PRECONDITION_FAILED - queue 'texts-full' in vhost '\/' not empty/);
  await setup.assertExchange('texts-source', 'fanout', { durable: false });
  await setup.bindQueue('texts-full', 'texts-source', '');
  assert.match((await channelError((target) => target.deleteExchange('texts-source', { ifUnused: true }))).message, /PRECONDITION_FAILED - exchange 'texts-source' in vhost '\/' in use/);
  await setup.assertExchange('texts-internal', 'fanout', { durable: false, internal: true });
  assert.match((await channelError((target) => void target.publish('texts-internal', '', Buffer.from('x')))).message, /ACCESS_REFUSED - cannot publish to internal exchange 'texts-internal' in vhost '\/'/);
  assert.match((await channelError((target) => target.deleteExchange('amq.direct'))).message, /ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '\/' not allowed/);
  assert.match((await channelError((target) => target.deleteExchange(''))).message, /ACCESS_REFUSED - operation not permitted on the default exchange/);
  assert.match((await channelError((target) => target.purgeQueue(''))).message, /NOT_FOUND - no previously declared queue/);
  assert.match((await channelError((target) => target.bindQueue('texts-missing-queue', 'texts-missing-exchange', ''))).message, /NOT_FOUND - no exchange 'texts-missing-exchange' in vhost '\/'/, 'the exchange is named first');
  await setup.close();
});

test('406 PRECONDITION_FAILED: acknowledging an unknown delivery tag, and acknowledging twice', async () => {
  const unknown = await channelError((target) => {
    target.ack({ fields: { deliveryTag: 99 } } as never);
    return target.checkQueue('default-bound');
  });
  assert.equal(unknown.code, 406);
  assert.match(unknown.message, /PRECONDITION_FAILED - unknown delivery tag 99/);
  const setup = await channel();
  await setup.assertQueue('acked-twice');
  setup.sendToQueue('acked-twice', Buffer.from('x'));
  await setup.checkQueue('acked-twice');
  const twice = await channelError(async (target) => {
    const message = await target.get('acked-twice');
    assert.ok(message);
    target.ack(message);
    target.ack(message);
    await target.checkQueue('acked-twice');
  });
  assert.equal(twice.code, 406);
  assert.match(twice.message, /unknown delivery tag 1/);
});

test('channel errors left the shared connection open; it still works on a new channel', async () => {
  assert.equal(survivorClosed, false);
  const target = await channel();
  await target.assertQueue('after-channel-errors');
});

test('530 NOT_ALLOWED: reusing a consumer tag on a channel closes the connection', async () => {
  const failure = await connectionError(async (target) => {
    await target.assertQueue('tag-reuse');
    await target.consume('tag-reuse', () => undefined, { consumerTag: 'same-tag' });
    await target.consume('tag-reuse', () => undefined, { consumerTag: 'same-tag' });
  });
  assert.equal(failure.code, 530);
  assert.match(failure.message, /NOT_ALLOWED - attempt to reuse consumer tag 'same-tag'/);
});

test('503 COMMAND_INVALID: an unknown exchange type closes the connection', async () => {
  const failure = await connectionError((target) => target.assertExchange('odd-exchange', 'no-such-type'));
  assert.equal(failure.code, 503);
  assert.match(failure.message, /COMMAND_INVALID - .*no-such-type/);
});

test('406 PRECONDITION_FAILED: a message larger than the configured maximum closes the channel', async () => {
  const small = await AmqpTestServer.start({ messageBytesMax: 1_000 });
  try {
    const connection = await small.connect();
    const target = await connection.createChannel();
    target.on('error', () => undefined);
    await target.assertQueue('size-limited');
    const closed = nextEvent<Error>(target, 'error');
    target.sendToQueue('size-limited', Buffer.alloc(2_000));
    const error = await closed;
    assert.equal(replyCodeOf(error), 406);
    const next = await connection.createChannel();
    next.sendToQueue('size-limited', Buffer.alloc(1_000));
    const { messageCount } = await next.checkQueue('size-limited');
    assert.equal(messageCount, 1, 'a message at the limit is accepted, the connection still works');
  } finally {
    await small.close();
  }
});

test('after connection errors the broker accepts new connections and serves them', async () => {
  const connection = await ferry.connect();
  const target = await connection.createChannel();
  await target.assertQueue('after-connection-errors');
  target.sendToQueue('after-connection-errors', Buffer.from('still here'));
  const message = await target.get('after-connection-errors', { noAck: true });
  assert.ok(message);
  assert.equal(message.content.toString(), 'still here');
  await connection.close();
});
