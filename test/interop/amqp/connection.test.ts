/**
 * The connection and channel classes with amqplib: vhosts, logins and
 * permissions, channel open / close, many channels, channel-max and frame-max
 * negotiation, heartbeats.
 */
import { after, before, test } from 'node:test';
import * as amqp from 'amqplib';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { AmqpTestServer } from './amqp-test-server.js';
import { nextEvent } from './next-event.js';
import { replyCodeOf } from './reply-code-of.js';
import { RawAmqpClient, long, octet, short, shortstr, type RawClose, type RawHandshake } from './raw-amqp-client.js';

let ferry: AmqpTestServer;
/** A second server with small limits: channel-max 8, frame-max 8192. */
let small: AmqpTestServer;

before(async () => {
  ferry = await AmqpTestServer.start();
  small = await AmqpTestServer.start({ limits: { channelMax: 8, frameMax: 8_192 } });
  await ferry.broker.core.declareVhost('tenant');
  await ferry.broker.core.access.setPermissions('guest', 'tenant', { configure: '.*', write: '.*', read: '.*' });
  await ferry.broker.core.declareVhost('locked');
  await ferry.broker.core.access.putUser('reader', 'reader-secret');
  // RabbitMQ checks write permission on the exchange published to: amq.default is the default exchange.
  await ferry.broker.core.access.setPermissions('reader', '/', { configure: '^reader-.*', write: '^(reader-.*|amq\\.default)$', read: '.*' });
  await ferry.broker.declareExchange('forbidden-exchange', { type: 'fanout' });
});

after(async () => {
  await ferry.close();
  await small.close();
});

/** The connection object below amqplib's ChannelModel, with what was negotiated. */
function negotiated(model: unknown): { channelMax: number; frameMax: number; heartbeat: number } {
  return (model as { connection: { channelMax: number; frameMax: number; heartbeat: number } }).connection;
}

test('RabbitMQ\'s AMQPLAIN login mechanism works as well as PLAIN', async () => {
  const connection = await amqp.connect(ferry.options(), { credentials: amqp.credentials.amqplain('guest', 'guest') });
  connection.on('error', () => undefined);
  const channel = await connection.createChannel();
  await channel.assertQueue('amqplain-login');
  await connection.close();
  await assert.rejects(amqp.connect(ferry.options(), { credentials: amqp.credentials.amqplain('guest', 'wrong') }), /403/);
});

test('the server announces the RabbitMQ capabilities clients look for', async () => {
  const connection = await ferry.connect();
  const capabilities = connection.connection.serverProperties['capabilities'] as unknown as Record<string, unknown>;
  for (const name of ['publisher_confirms', 'exchange_exchange_bindings', 'basic.nack', 'consumer_cancel_notify', 'connection.blocked', 'authentication_failure_close', 'per_consumer_qos', 'direct_reply_to']) {
    assert.equal(capabilities[name], true, name);
  }
  await connection.close();
});

test('update-secret is answered with update-secret-ok', async () => {
  const connection = await ferry.connect();
  await connection.updateSecret(Buffer.from('guest'), 'rotation');
  await connection.close();
});

test('a broker shutdown closes client connections with 320 CONNECTION_FORCED', async () => {
  const doomed = await AmqpTestServer.start();
  const connection = await doomed.connect();
  // amqplib reports 320 with the 'close' event only (it is not an error of the client).
  const closedWith = nextEvent<Error>(connection, 'close');
  await doomed.server.close();
  const error = await closedWith;
  await doomed.close();
  assert.equal(replyCodeOf(error), 320);
  assert.match(error.message, /CONNECTION_FORCED/);
});

test('a client opens a named vhost and its queues live there only', async () => {
  const connection = await ferry.connect({ vhost: 'tenant' });
  const channel = await connection.createChannel();
  await channel.assertQueue('tenant-queue');
  channel.sendToQueue('tenant-queue', Buffer.from('in tenant'));
  const message = await channel.get('tenant-queue', { noAck: true });
  assert.ok(message);
  assert.equal(message.content.toString(), 'in tenant');
  assert.ok(ferry.broker.vhost('tenant').findQueue('tenant-queue'));
  assert.equal(ferry.broker.vhost('/').findQueue('tenant-queue'), undefined);
  await connection.close();
});

/** The connection.close a raw client gets for this login, after its socket closes. */
async function refusal(login: RawHandshake): Promise<RawClose | null> {
  const client = await RawAmqpClient.open(ferry.port);
  try {
    const close = await client.handshake(login);
    await client.waitForSocketClose();
    return close;
  } finally {
    client.destroy();
  }
}

test('opening a vhost that does not exist fails with 530 NOT_ALLOWED', async () => {
  // amqplib reports a close during the handshake without its code ("Expected ConnectionOpenOk"),
  // so the code is read with the raw client.
  await assert.rejects(ferry.connect({ vhost: 'no-such-vhost' }), /ConnectionClose/);
  const close = await refusal({ vhost: 'no-such-vhost' });
  assert.equal(close?.replyCode, 530);
  assert.match(close!.replyText, /^NOT_ALLOWED - /);
  assert.equal(close!.classId, 10);
  assert.equal(close!.methodId, 40);
});

test('opening a vhost the user has no permissions in fails with 530 NOT_ALLOWED', async () => {
  await assert.rejects(ferry.connect({ vhost: 'locked' }), /ConnectionClose/);
  const close = await refusal({ vhost: 'locked' });
  assert.equal(close?.replyCode, 530);
  assert.match(close!.replyText, /^NOT_ALLOWED - /);
});

test('a wrong password is refused with 403 ACCESS_REFUSED', async () => {
  await assert.rejects(ferry.connect({ password: 'not-guest' }), (error: Error) => {
    assert.match(error.message, /403/);
    assert.match(error.message, /ACCESS_REFUSED/);
    return true;
  });
  await assert.rejects(ferry.connect({ user: 'nobody', password: 'x' }), /403/);
  const close = await refusal({ password: 'wrong' });
  assert.equal(close?.replyCode, 403);
  assert.equal(close!.replyText, 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.');
  assert.deepEqual([close!.classId, close!.methodId], [0, 0], 'as RabbitMQ closes a refused login');
});

test('a wrong password from a client without authentication_failure_close just closes the socket', async () => {
  const client = await RawAmqpClient.open(ferry.port);
  await assert.rejects(client.handshake({ password: 'wrong', authenticationFailureClose: false }), /socket closed while waiting for method 10\/30/);
  client.destroy();
});

test('an operation the user has no permission for is a 403 channel error; the connection carries on', async () => {
  const connection = await ferry.connect({ user: 'reader', password: 'reader-secret' });
  const denied = await connection.createChannel();
  const errors: Error[] = [];
  denied.on('error', (error: Error) => errors.push(error));
  await assert.rejects(denied.assertQueue('orders'), (error: Error) => {
    assert.equal(replyCodeOf(error), 403);
    assert.match(error.message, /ACCESS_REFUSED/);
    return true;
  });
  // What the patterns allow still works, on a new channel of the same connection.
  const allowed = await connection.createChannel();
  await allowed.assertQueue('reader-inbox');
  allowed.sendToQueue('reader-inbox', Buffer.from('hi'));
  const message = await allowed.get('reader-inbox', { noAck: true });
  assert.ok(message);
  // Publishing to an exchange without write permission closes the channel with 403.
  const publisher = await connection.createChannel();
  const closed = nextEvent<Error>(publisher, 'error');
  publisher.publish('forbidden-exchange', '', Buffer.from('nope'));
  assert.equal(replyCodeOf(await closed), 403);
  assert.equal(errors.length, 1, 'the first channel closed once');
  await allowed.checkQueue('reader-inbox');
  await connection.close();
});

test('channels open and close, and a closed channel number can be used again', async () => {
  const connection = await ferry.connect();
  const first = await connection.createChannel();
  await first.assertQueue('channel-reuse');
  await first.close();
  const second = await connection.createChannel();
  const { queue } = await second.checkQueue('channel-reuse');
  assert.equal(queue, 'channel-reuse');
  await assert.rejects(first.checkQueue('channel-reuse'), /closed/i);
  await connection.close();
});

test('two hundred channels on one connection work independently', async () => {
  const connection = await ferry.connect();
  const channels = await Promise.all(Array.from({ length: 200 }, () => connection.createChannel()));
  await Promise.all(channels.map((channel, index) => channel.assertQueue(`many-${index}`, { exclusive: true })));
  channels.forEach((channel, index) => channel.sendToQueue(`many-${index}`, Buffer.from(String(index))));
  const bodies = await Promise.all(channels.map(async (channel, index) => (await channel.get(`many-${index}`, { noAck: true })) || null));
  assert.deepEqual(
    bodies.map((message) => message?.content.toString()),
    channels.map((_, index) => String(index)),
  );
  await Promise.all(channels.slice(0, 100).map((channel) => channel.close()));
  const { messageCount } = await channels[150]!.checkQueue('many-150');
  assert.equal(messageCount, 0);
  await connection.close();
});

test('channel-max: the server offers its limit and amqplib may lower it', async () => {
  const offered = await small.connect();
  assert.equal(negotiated(offered).channelMax, 8);
  const channels = [];
  for (let index = 0; index < 8; index++) channels.push(await offered.createChannel());
  await assert.rejects(offered.createChannel(), /channel/i);
  await offered.close();
  const lowered = await small.connect({ channelMax: 3 });
  assert.equal(negotiated(lowered).channelMax, 3);
  await lowered.close();
});

test('channel-max: opening a channel above the negotiated channel-max is connection error 530', async () => {
  const client = await RawAmqpClient.open(small.port);
  assert.equal(await client.handshake({ channelMax: 4, frameMax: 8_192 }), null);
  await client.openChannel(4);
  client.write(RawAmqpClient.method(5, 20, 10, [shortstr('')]));
  const close = await client.nextClose();
  assert.equal(close?.channel, 0);
  assert.equal(close?.replyCode, 530);
  await client.waitForSocketClose();
});

test('frame-max: amqplib negotiates the lower frame-max and a message larger than it travels in several body frames', async () => {
  const connection = await ferry.connect({ frameMax: 4_096 });
  assert.equal(negotiated(connection).frameMax, 4_096);
  const channel = await connection.createChannel();
  await channel.assertQueue('big-messages');
  const body = Buffer.alloc(100_000);
  for (let index = 0; index < body.byteLength; index++) body[index] = (index * 31) % 251;
  channel.sendToQueue('big-messages', body);
  const message = await new Promise<Buffer>((resolve) => {
    void channel.consume('big-messages', (delivery) => delivery && resolve(delivery.content), { noAck: true });
  });
  assert.equal(message.byteLength, body.byteLength);
  assert.ok(message.equals(body), 'the body arrives intact');
  await connection.close();
  const capped = await small.connect();
  assert.equal(negotiated(capped).frameMax, 8_192, "the server's limit caps amqplib's default 131072");
  await capped.close();
});

test('frame-max: deliveries to a client that asked for 4096 come in frames of at most 4096 bytes', async () => {
  const client = await RawAmqpClient.openConnection(ferry.port, 4_096);
  await client.openChannel(1);
  client.write(RawAmqpClient.method(1, 50, 10, [short(0), shortstr('raw-big'), octet(0), long(0)]));
  await client.expectMethod(1, 50, 11);
  const body = Buffer.alloc(10_000, 7);
  client.write(RawAmqpClient.publish(1, '', 'raw-big'));
  client.write(RawAmqpClient.contentHeader(1, body.byteLength));
  for (let at = 0; at < body.byteLength; at += 4_088) client.write(RawAmqpClient.body(1, body.subarray(at, at + 4_088)));
  client.write(RawAmqpClient.method(1, 60, 70, [short(0), shortstr('raw-big'), octet(1)])); // basic.get, no-ack
  await client.expectMethod(1, 60, 71);
  const header = await client.nextFrame();
  assert.equal(header?.type, 2);
  let received = 0;
  let frames = 0;
  while (received < body.byteLength) {
    const frame = await client.nextFrame();
    assert.equal(frame?.type, 3);
    assert.ok(frame!.payload.byteLength + 8 <= 4_096, `a body frame of ${frame!.payload.byteLength + 8} bytes`);
    received += frame!.payload.byteLength;
    frames++;
  }
  assert.equal(received, body.byteLength);
  assert.equal(frames, 3);
  client.destroy();
});

test('heartbeats: an idle amqplib connection with heartbeat 1 s stays open for 3 s; a silent client is dropped', async () => {
  const silent = await RawAmqpClient.open(ferry.port);
  const idle = (async () => {
    const connection = await ferry.connect({ heartbeat: 1 });
    assert.equal(negotiated(connection).heartbeat, 1);
    let closed = false;
    connection.on('close', () => (closed = true));
    await delay(3_000);
    assert.equal(closed, false, 'still open after 3 s idle');
    const channel = await connection.createChannel();
    await channel.assertQueue('after-idle');
    await connection.close();
  })();
  const dropped = (async () => {
    // Handshake with heartbeat 1, then say nothing: the server gives up after two intervals.
    assert.equal(await silent.handshake({ heartbeatSeconds: 1 }), null);
    const started = Date.now();
    await silent.waitForSocketClose(4_000);
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs >= 1_500, `dropped after ${elapsedMs} ms, before two heartbeat intervals`);
  })();
  await Promise.all([idle, dropped]);
});
