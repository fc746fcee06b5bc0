/**
 * Black-box tests of the native protocol server: a raw peer speaks frames
 * built with the codec to a real listener on 127.0.0.1 (port 0) and asserts
 * whole frames back (docs/protocol.md is the contract).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { decodeEnvelope } from '../../../src/core/message/message-codec.js';
import { encodeFrame, FRAME_HEADER_BYTES, PREAMBLE, PROTOCOL_VERSION, PublishStatus, type WireDelivery } from '../../../src/protocols/native/codec/index.js';
import { NativeTestServer, wireMessage } from './native-test-server.js';
import { frameType, plain, RawNativeClient } from './raw-native-client.js';

const decoder = new TextDecoder();
const text = (bytes: Uint8Array) => decoder.decode(bytes);

let ferry: NativeTestServer;

before(async () => {
  ferry = await NativeTestServer.start({ limits: { frameBytesMax: 64 * 1024 } });
});

after(async () => {
  await ferry.close();
  assert.deepEqual(ferry.internalErrors, [], 'the server logged no unexpected failure');
});

/** A logged-in client with channel 1 open. */
async function openChannel(): Promise<RawNativeClient> {
  const client = await ferry.open();
  await client.call('channelOpen', 1, {});
  return client;
}

/** Waits until `condition()` holds (polling), failing after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await delay(5);
  }
}

/** The deliveries received in `deliver` pushes on channel 1 so far. */
function deliveries(client: RawNativeClient): WireDelivery[] {
  return client.pushes('deliver', 1).flatMap((push) => push.deliveries);
}

// ------------------------------------------------------------------ handshake

test('the handshake negotiates version, features, frame limit and heartbeat, then logs in', async () => {
  const client = ferry.track(await RawNativeClient.connect(ferry.port));
  client.write(PREAMBLE);
  const hello = await client.call('hello', 0, { versionMin: 1, versionMax: 3, client: 'test', features: ['streams', 'transactions', 'time-travel'] });
  assert.deepEqual(hello, { version: PROTOCOL_VERSION, server: 'Ferry', features: ['streams', 'transactions'], frameBytesMax: 64 * 1024, heartbeatMs: 0, mechanisms: ['PLAIN'] });
  assert.deepEqual(await client.call('authenticate', 0, { mechanism: 'PLAIN', response: plain('guest', 'guest'), vhost: '/' }), { user: 'guest' });
  assert.deepEqual(await client.call('channelOpen', 1, {}), {});
  const listed = ferry.broker.core.connections.list().filter((connection) => connection.protocol === 'native');
  assert.ok(listed.some((connection) => connection.describe().user === 'guest' && connection.describe().channels.length === 1), 'the connection is listed with its channel');
});

test('a wrong preamble is answered with the server preamble, then the connection closes', async () => {
  const client = await ferry.connect();
  client.write(new TextEncoder().encode('AMQP\u0000\u0000\u0009\u0001'));
  await client.closed;
  assert.deepEqual([...client.rawBytes.subarray(0, 8)], [...PREAMBLE]);
});

test('a version the server does not speak closes with NATIVE_UNSUPPORTED_VERSION', async () => {
  const client = await ferry.connect();
  client.write(PREAMBLE);
  client.send('hello', 0, { versionMin: 7, versionMax: 9, client: 'future', features: [] }, 1);
  assert.equal((await client.closeReason())?.code, 'NATIVE_UNSUPPORTED_VERSION');
});

test('wrong credentials: error answer NATIVE_AUTHENTICATION_FAILED, then close', async () => {
  const client = await ferry.connect();
  client.write(PREAMBLE);
  await client.call('hello', 0, { versionMin: 1, versionMax: 1, client: 'test', features: [] });
  const login = await client.request('authenticate', 0, { mechanism: 'PLAIN', response: plain('guest', 'wrong'), vhost: '/' });
  assert.equal(login.ok, false);
  assert.equal(!login.ok && login.error.code, 'NATIVE_AUTHENTICATION_FAILED');
  assert.equal((await client.closeReason())?.code, 'NATIVE_AUTHENTICATION_FAILED');
});

test('an unknown mechanism is refused like wrong credentials', async () => {
  const client = await ferry.connect();
  client.write(PREAMBLE);
  await client.call('hello', 0, { versionMin: 1, versionMax: 1, client: 'test', features: [] });
  const login = await client.request('authenticate', 0, { mechanism: 'EXTERNAL', response: new Uint8Array(0), vhost: '/' });
  assert.equal(!login.ok && login.error.code, 'NATIVE_AUTHENTICATION_FAILED');
  await client.closed;
});

test('a vhost the user may not use is ACCESS_REFUSED (or VHOST_NOT_FOUND), and the connection closes', async () => {
  const client = await ferry.connect();
  client.write(PREAMBLE);
  await client.call('hello', 0, { versionMin: 1, versionMax: 1, client: 'test', features: [] });
  const login = await client.request('authenticate', 0, { mechanism: 'PLAIN', response: plain('guest', 'guest'), vhost: 'elsewhere' });
  assert.ok(!login.ok && ['ACCESS_REFUSED', 'VHOST_NOT_FOUND'].includes(login.error.code), JSON.stringify(login));
  await client.closed;
});

test('a channel request before authentication closes with NATIVE_UNEXPECTED_FRAME', async () => {
  const client = await ferry.connect();
  client.write(PREAMBLE);
  await client.call('hello', 0, { versionMin: 1, versionMax: 1, client: 'test', features: [] });
  client.send('channelOpen', 1, {}, 5);
  assert.equal((await client.closeReason())?.code, 'NATIVE_UNEXPECTED_FRAME');
});

// ------------------------------------------------------------------ bad frames

test('an unknown frame type closes with NATIVE_UNKNOWN_FRAME_TYPE', async () => {
  const client = await openChannel();
  const frame = encodeFrame('channelOpen', 2, 9, {});
  frame[4] = 0x7f;
  client.write(frame);
  assert.equal((await client.closeReason())?.code, 'NATIVE_UNKNOWN_FRAME_TYPE');
});

test('a frame larger than the announced limit is refused from its size field: NATIVE_FRAME_TOO_LARGE', async () => {
  const client = await openChannel();
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, 64 * 1024 + 1, true);
  header[4] = 0x20;
  client.write(header);
  assert.equal((await client.closeReason())?.code, 'NATIVE_FRAME_TOO_LARGE');
});

test('a payload that does not match its fields closes with NATIVE_MALFORMED_FRAME', async () => {
  const client = await openChannel();
  const frame = encodeFrame('queueDeclare', 1, 3, { name: 'q', options: {} });
  // Cut the table's length short by one byte and fix the frame size: the fields no longer fit.
  const cut = frame.slice(0, frame.byteLength - 1);
  new DataView(cut.buffer).setUint32(0, cut.byteLength - 4, true);
  client.write(cut);
  assert.equal((await client.closeReason())?.code, 'NATIVE_MALFORMED_FRAME');
});

test('a message with a broken envelope closes with NATIVE_MALFORMED_FRAME and publishes nothing', async () => {
  await ferry.broker.declareQueue('envelopes');
  const client = await openChannel();
  const good = wireMessage('fine', { routingKey: 'envelopes' });
  const bad = { ...wireMessage('broken', { routingKey: 'envelopes' }), envelope: new Uint8Array([9, 9, 9]) };
  client.send('publish', 1, { exchange: '', mandatory: false, messages: [good, bad] }, 4);
  assert.equal((await client.closeReason())?.code, 'NATIVE_MALFORMED_FRAME');
  assert.equal(ferry.broker.vhost().queue('envelopes').messageCount(), 0, 'the batch is validated whole before anything is routed');
});

test('an append whose third message has a broken envelope closes with NATIVE_MALFORMED_FRAME and stores nothing', async () => {
  await ferry.broker.declareStream('append-envelopes');
  const client = await openChannel();
  const good = wireMessage('fine', { routingKey: 'append-envelopes' });
  const bad = { ...good, envelope: new Uint8Array([9, 9, 9]) };
  client.send('append', 1, { stream: 'append-envelopes', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [good, good, bad, good] }, 4);
  assert.equal((await client.closeReason())?.code, 'NATIVE_MALFORMED_FRAME');
  assert.equal(ferry.broker.vhost().stream('append-envelopes').endOffset(0), 0, 'the frame is validated whole before anything is stored');
});

test('an append with a routing key that is not UTF-8 closes with NATIVE_MALFORMED_FRAME', async () => {
  await ferry.broker.declareStream('append-keys');
  const client = await openChannel();
  const bad = { ...wireMessage('body', { routingKey: 'append-keys' }), routingKey: new Uint8Array([0xff, 0xfe]) };
  client.send('append', 1, { stream: 'append-keys', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('fine'), bad] }, 4);
  assert.equal((await client.closeReason())?.code, 'NATIVE_MALFORMED_FRAME');
  assert.equal(ferry.broker.vhost().stream('append-keys').endOffset(0), 0);
});

test('an append whose messages overrun the frame closes with NATIVE_MALFORMED_FRAME, even to a stream that does not exist', async () => {
  const client = await openChannel();
  const frame = encodeFrame('append', 1, 5, { stream: 'no-such-stream', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('a'), wireMessage('b')] });
  // Cut the last body short by one byte and fix the frame size: the messages no longer fit.
  const cut = frame.slice(0, frame.byteLength - 1);
  new DataView(cut.buffer).setUint32(0, cut.byteLength - 4, true);
  client.write(cut);
  assert.equal((await client.closeReason())?.code, 'NATIVE_MALFORMED_FRAME');
});

test('an append holding a body over message-bytes-max is refused with MESSAGE_TOO_LARGE and stores nothing', async () => {
  await ferry.broker.declareStream('append-sizes', { messageBytesMax: 8 });
  const client = await openChannel();
  const outcome = await client.request('append', 1, { stream: 'append-sizes', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('small'), wireMessage('far too large')] });
  assert.equal(!outcome.ok && outcome.error.code, 'MESSAGE_TOO_LARGE');
  assert.equal(ferry.broker.vhost().stream('append-sizes').endOffset(0), 0);
  assert.deepEqual(await client.call('append', 1, { stream: 'append-sizes', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('small')] }), { results: [{ partition: 0, baseOffset: 0, lastOffset: 0, duplicate: false }] });
});

test('a server-only frame from the client closes with NATIVE_UNEXPECTED_FRAME', async () => {
  const client = await openChannel();
  client.send('deliver', 1, { consumerId: 1, deliveries: [] });
  assert.equal((await client.closeReason())?.code, 'NATIVE_UNEXPECTED_FRAME');
});

test('a request on a channel that is not open is NATIVE_CHANNEL_NOT_OPEN, and the connection goes on', async () => {
  const client = await openChannel();
  const outcome = await client.request('queueDeclare', 7, { name: 'x', options: {} });
  assert.equal(!outcome.ok && outcome.error.code, 'NATIVE_CHANNEL_NOT_OPEN');
  const again = await client.request('channelOpen', 1, {});
  assert.equal(!again.ok && again.error.code, 'NATIVE_CHANNEL_NOT_OPEN', 'opening an open channel');
  assert.equal((await client.call('queueDeclare', 1, { name: 'still-usable', options: { durable: false } })).name, 'still-usable');
});

test('a missing queue or stream is answered QUEUE_NOT_FOUND / STREAM_NOT_FOUND, and the connection stays usable', async () => {
  const client = await openChannel();
  const queue = await client.request('subscribe', 1, { source: 'nowhere', group: '', tag: '', prefetch: 1, autoAck: false, exclusive: false, priority: 0 });
  assert.equal(!queue.ok && queue.error.code, 'QUEUE_NOT_FOUND');
  const stream = await client.request('append', 1, { stream: 'nowhere', partition: -1, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('x')] });
  assert.equal(!stream.ok && stream.error.code, 'STREAM_NOT_FOUND');
  const read = await client.request('streamRead', 1, { stream: 'nowhere', partition: 0, from: { kind: 'first', value: 0 }, max: 1, waitMs: 0 });
  assert.equal(!read.ok && read.error.code, 'STREAM_NOT_FOUND');
  const declared = await client.call('queueDeclare', 1, { name: 'after-errors', options: { durable: false } });
  assert.equal(declared.name, 'after-errors');
});

test('a failed request sent without correlation closes its channel with channelClosed', async () => {
  const client = await openChannel();
  client.send('publish', 1, { exchange: 'no-such-exchange', mandatory: false, messages: [wireMessage('x')] });
  const closed = await client.push('channelClosed', 1);
  assert.equal(closed.code, 'EXCHANGE_NOT_FOUND');
  const outcome = await client.request('queueDeclare', 1, { name: 'x', options: {} });
  assert.equal(!outcome.ok && outcome.error.code, 'NATIVE_CHANNEL_NOT_OPEN');
  await client.call('channelOpen', 1, {});
});

// ------------------------------------------------------------------ queues

test('publish is confirmed with statuses, delivered in a deliver frame with its envelope, and acked once durable', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'orders', options: {} });
  const { consumerId } = await client.call('subscribe', 1, { source: 'orders', group: '', tag: 'worker', prefetch: 10, autoAck: false, exclusive: false, priority: 0 });
  const published = await client.call('publish', 1, {
    exchange: '',
    mandatory: true,
    messages: [
      wireMessage('one', { routingKey: 'orders', properties: { messageId: 'm-1', contentType: 'text/plain' }, headers: { attempt: 1 } }),
      wireMessage('two', { routingKey: 'orders' }),
      wireMessage('lost', { routingKey: 'no-such-queue' }),
    ],
  });
  assert.deepEqual(published.statuses, [PublishStatus.ROUTED, PublishStatus.ROUTED, PublishStatus.UNROUTABLE]);
  await until(() => deliveries(client).length === 2, 'both deliveries arrived');
  const [first, second] = deliveries(client);
  assert.equal(client.pushes('deliver', 1)[0]!.consumerId, consumerId);
  assert.deepEqual([first!.deliveryTag, second!.deliveryTag], [1, 2]);
  assert.equal(text(first!.message.body), 'one');
  assert.equal(text(first!.message.routingKey), 'orders');
  const envelope = decodeEnvelope(first!.message.envelope);
  assert.deepEqual([envelope.properties.messageId, envelope.properties.contentType, envelope.headers['attempt'], envelope.persistent], ['m-1', 'text/plain', 1, true]);
  assert.equal(first!.redelivered, false);
  await client.call('ack', 1, { deliveryTags: [1, 2] });
  const queue = ferry.broker.vhost().queue('orders');
  assert.equal(queue.unsettledCount() + queue.messageCount(), 0, 'nothing left after the acks');
});

test('a publish frame mixing routing keys and envelopes delivers each message with its own (read in place, repeats reused)', async () => {
  const client = await openChannel();
  for (const name of ['mixed-a', 'mixed-b']) await client.call('queueDeclare', 1, { name, options: {} });
  await client.call('subscribe', 1, { source: 'mixed-a', group: '', tag: 'a', prefetch: 100, autoAck: true, exclusive: false, priority: 0 });
  await client.call('subscribe', 1, { source: 'mixed-b', group: '', tag: 'b', prefetch: 100, autoAck: true, exclusive: false, priority: 0 });
  const plan: Array<[body: string, key: string, id: string | undefined]> = [
    ['1', 'mixed-a', 'x'], ['2', 'mixed-a', 'x'], ['3', 'mixed-b', 'x'], ['4', 'mixed-b', 'y'], ['5', 'mixed-a', undefined], ['6', 'mixed-a', 'x'],
  ];
  const published = await client.call('publish', 1, {
    exchange: '',
    mandatory: false,
    messages: plan.map(([body, routingKey, messageId]) => wireMessage(body, { routingKey, properties: messageId === undefined ? {} : { messageId } })),
  });
  assert.deepEqual(published.statuses, plan.map(() => PublishStatus.ROUTED));
  await until(() => deliveries(client).length === plan.length, 'every message delivered');
  const seen = deliveries(client)
    .map((delivery) => [text(delivery.message.body), text(delivery.message.routingKey), decodeEnvelope(delivery.message.envelope).properties.messageId] as const)
    .sort((left, right) => left[0].localeCompare(right[0]));
  assert.deepEqual(seen, plan.map(([body, key, id]) => [body, key, id]));
});

test('a publish with a routing key that is not UTF-8 closes with NATIVE_MALFORMED_FRAME and publishes nothing', async () => {
  await ferry.broker.declareQueue('bad-keys');
  const client = await openChannel();
  const bad = { ...wireMessage('x'), routingKey: new Uint8Array([0xff, 0xfe]) };
  client.send('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('fine', { routingKey: 'bad-keys' }), bad] }, 4);
  assert.equal((await client.closeReason())?.code, 'NATIVE_MALFORMED_FRAME');
  assert.equal(ferry.broker.vhost().queue('bad-keys').messageCount(), 0);
});

test('answers of requests in flight come before the answer to channelClose', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'closing', options: {} });
  const published = client.request('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('last words', { routingKey: 'closing' })] });
  const closed = client.request('channelClose', 1, {});
  const [publishAnswer, closeAnswer] = await Promise.all([published, closed]);
  assert.deepEqual([publishAnswer.ok, closeAnswer.ok], [true, true]);
  const answers = client.received.filter((frame) => frame.channel === 1).map((frame) => frame.type);
  assert.ok(answers.indexOf(frameType('publish')) < answers.indexOf(frameType('channelClose')), 'the publish answer first');
  assert.equal(ferry.broker.vhost().queue('closing').messageCount(), 1);
});

test('a subscribe to a queue with messages is answered before its first delivery', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'backlog', options: { durable: false } });
  await client.call('publish', 1, { exchange: '', mandatory: false, messages: ['x', 'y'].map((body) => wireMessage(body, { routingKey: 'backlog' })) });
  const { consumerId } = await client.call('subscribe', 1, { source: 'backlog', group: '', tag: '', prefetch: 0, autoAck: true, exclusive: false, priority: 0 });
  await until(() => deliveries(client).length === 2, 'both deliveries');
  const types = client.received.filter((frame) => frame.channel === 1).map((frame) => frame.type);
  assert.ok(types.lastIndexOf(frameType('subscribe')) < types.indexOf(frameType('deliver')), 'the answer first');
  assert.equal(client.pushes('deliver', 1)[0]!.consumerId, consumerId);
});

test('deliveries of one turn to one consumer come in one deliver frame', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'batched', options: { durable: false } });
  await client.call('subscribe', 1, { source: 'batched', group: '', tag: '', prefetch: 0, autoAck: true, exclusive: false, priority: 0 });
  const messages = Array.from({ length: 50 }, (_, index) => wireMessage(`m${index}`, { routingKey: 'batched' }));
  await client.call('publish', 1, { exchange: '', mandatory: false, messages });
  await until(() => deliveries(client).length === 50, 'all 50 arrived');
  assert.ok(client.pushes('deliver', 1).length <= 2, `50 messages published in one frame arrive in few deliver frames, got ${client.pushes('deliver', 1).length}`);
  assert.deepEqual(deliveries(client).map((delivery) => text(delivery.message.body)), messages.map((_, index) => `m${index}`));
});

test('the prefetch window bounds unacknowledged deliveries; an ack reopens it', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'windowed', options: { durable: false } });
  await client.call('subscribe', 1, { source: 'windowed', group: '', tag: '', prefetch: 2, autoAck: false, exclusive: false, priority: 0 });
  await client.call('publish', 1, { exchange: '', mandatory: false, messages: ['a', 'b', 'c', 'd', 'e'].map((body) => wireMessage(body, { routingKey: 'windowed' })) });
  await until(() => deliveries(client).length === 2, 'two deliveries');
  await delay(100);
  assert.equal(deliveries(client).length, 2, 'no more than the prefetch window');
  await client.call('ack', 1, { deliveryTags: [1] });
  await until(() => deliveries(client).length === 3, 'a third after one ack');
  await delay(50);
  assert.equal(deliveries(client).length, 3);
  assert.deepEqual(deliveries(client).map((delivery) => text(delivery.message.body)), ['a', 'b', 'c']);
});

test('an ack naming an unknown tag is NATIVE_UNKNOWN_DELIVERY_TAG after the known tags are applied', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'tags', options: { durable: false } });
  await client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('x', { routingKey: 'tags' })] });
  const pulled = await client.call('pull', 1, { source: 'tags', group: '', max: 5, waitMs: 0, visibilityTimeoutMs: 0, autoAck: false });
  assert.equal(pulled.deliveries.length, 1);
  const outcome = await client.request('ack', 1, { deliveryTags: [pulled.deliveries[0]!.deliveryTag, 999] });
  assert.equal(!outcome.ok && outcome.error.code, 'NATIVE_UNKNOWN_DELIVERY_TAG');
  assert.equal(ferry.broker.vhost().queue('tags').unsettledCount(), 0, 'the known tag was acked');
});

test('pull takes messages, nack requeues them redelivered, and closing the channel returns what is unacknowledged', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'pulled', options: { durable: false } });
  await client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('p', { routingKey: 'pulled' })] });
  const first = await client.call('pull', 1, { source: 'pulled', group: '', max: 1, waitMs: 0, visibilityTimeoutMs: 0, autoAck: false });
  await client.call('nack', 1, { deliveryTags: [first.deliveries[0]!.deliveryTag], requeue: true });
  const second = await client.call('pull', 1, { source: 'pulled', group: '', max: 1, waitMs: 0, visibilityTimeoutMs: 0, autoAck: false });
  assert.equal(second.deliveries[0]!.redelivered, true);
  assert.equal(second.deliveries[0]!.deliveryCount, 2);
  await client.call('channelClose', 1, {});
  assert.equal(ferry.broker.vhost().queue('pulled').messageCount(), 1, 'the unacknowledged delivery went back to the queue');
  const waited = client.call('channelOpen', 2, {}).then(() => client.call('pull', 2, { source: 'pulled', group: '', max: 2, waitMs: 2_000, visibilityTimeoutMs: 0, autoAck: true }));
  assert.equal((await waited).deliveries.length, 1);
});

// ------------------------------------------------------------------ streams

test('append is idempotent: a retry answers the original offsets as duplicate; a gap is SEQUENCE_GAP', async () => {
  const client = await openChannel();
  assert.deepEqual(await client.call('streamDeclare', 1, { name: 'ledger', options: { partitions: 1 } }), { partitions: 1 });
  const batch = { stream: 'ledger', partition: 0, producerId: 42, epoch: 0, sequence: 0, messages: [wireMessage('a'), wireMessage('b')] };
  assert.deepEqual(await client.call('append', 1, batch), { results: [{ partition: 0, baseOffset: 0, lastOffset: 1, duplicate: false }] });
  assert.deepEqual(await client.call('append', 1, batch), { results: [{ partition: 0, baseOffset: 0, lastOffset: 1, duplicate: true }] });
  const gap = await client.request('append', 1, { ...batch, sequence: 5 });
  assert.equal(!gap.ok && gap.error.code, 'SEQUENCE_GAP');
  assert.deepEqual(await client.call('streamInfo', 1, { name: 'ledger' }), { startOffsets: [0], endOffsets: [2] });
  const read = await client.call('streamRead', 1, { stream: 'ledger', partition: 0, from: { kind: 'first', value: 0 }, max: 10, waitMs: 0 });
  assert.deepEqual(read.entries.map((entry) => [entry.offset, text(entry.message.body)]), [[0, 'a'], [1, 'b']]);
  assert.equal(read.nextOffset, 2);
  // The stored bytes are the client's: the same envelope comes back.
  assert.deepEqual([...read.entries[0]!.message.envelope], [...batch.messages[0]!.envelope]);
});

test('append with partition -1 sends keyed messages to their key partition', async () => {
  const client = await openChannel();
  await client.call('streamDeclare', 1, { name: 'keyed', options: { partitions: 3 } });
  const key = new TextEncoder().encode('customer-7');
  const appended = await client.call('append', 1, { stream: 'keyed', partition: -1, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('x', { properties: { key } }), wireMessage('y', { properties: { key } })] });
  assert.equal(appended.results.length, 1);
  assert.equal(appended.results[0]!.partition, ferry.broker.vhost().stream('keyed').partitionForKey(key));
});

test('a stream subscription never sends more entries than its credit; streamCredit adds more', async () => {
  const client = await openChannel();
  await client.call('streamDeclare', 1, { name: 'ticks', options: {} });
  await client.call('append', 1, { stream: 'ticks', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: Array.from({ length: 10 }, (_, index) => wireMessage(`t${index}`)) });
  const { subscriptionId, offset } = await client.call('streamSubscribe', 1, { stream: 'ticks', partition: 0, from: { kind: 'offset', value: 2 }, credit: 3 });
  assert.equal(offset, 2);
  const entries = () => client.pushes('streamDeliver', 1).flatMap((push) => push.entries);
  await until(() => entries().length === 3, 'three entries');
  await delay(100);
  assert.equal(entries().length, 3, 'credit 3: three entries, no more');
  client.send('streamCredit', 1, { subscriptionId, credit: 4 });
  await until(() => entries().length === 7, 'four more after credit');
  await delay(100);
  assert.deepEqual(entries().map((entry) => entry.offset), [2, 3, 4, 5, 6, 7, 8]);
  // New appends reach a subscription that has credit, once durable.
  client.send('streamCredit', 1, { subscriptionId, credit: 10 });
  await until(() => entries().length === 8, 'the last stored entry');
  await client.call('append', 1, { stream: 'ticks', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('late')] });
  await until(() => entries().length === 9, 'the new entry');
  assert.equal(text(entries()[8]!.message.body), 'late');
  await client.call('streamUnsubscribe', 1, { subscriptionId });
});

test('deleting a stream ends its subscriptions with cancelled', async () => {
  const client = await openChannel();
  await client.call('streamDeclare', 1, { name: 'short-lived', options: {} });
  const { subscriptionId } = await client.call('streamSubscribe', 1, { stream: 'short-lived', partition: 0, from: { kind: 'next', value: 0 }, credit: 10 });
  await client.call('streamDelete', 1, { name: 'short-lived' });
  const cancelled = await client.push('cancelled', 1, 10_000);
  assert.equal(cancelled.consumerId, subscriptionId);
});

test('consumer groups: join answers the partitions; a second member triggers revoke and assign pushes', async () => {
  const first = await openChannel();
  const second = await openChannel();
  await first.call('streamDeclare', 1, { name: 'clicks', options: { partitions: 2 } });
  const joined = await first.call('groupJoin', 1, { stream: 'clicks', group: 'analytics', member: 'a', sessionTimeoutMs: 0 });
  assert.deepEqual(joined.partitions, [0, 1]);
  const secondJoin = await second.call('groupJoin', 1, { stream: 'clicks', group: 'analytics', member: 'b', sessionTimeoutMs: 0 });
  assert.deepEqual(secondJoin.partitions, [], 'b waits for a to release a partition');
  const revoked = await first.push('groupAssignment', 1);
  assert.equal(revoked.member, 'a');
  assert.equal(revoked.revoked.length, 1);
  await first.call('groupCommit', 1, { stream: 'clicks', group: 'analytics', member: 'a', partition: revoked.revoked[0]!, offset: 0, generation: -1 });
  await first.call('groupRevoked', 1, { stream: 'clicks', group: 'analytics', member: 'a', partitions: revoked.revoked });
  const assigned = await second.push('groupAssignment', 1);
  assert.deepEqual([assigned.member, assigned.assigned], ['b', revoked.revoked]);
  assert.deepEqual((await first.call('groupCommitted', 1, { stream: 'clicks', group: 'analytics' })).offsets.filter((offset) => offset === 0).length, 1);
  // Closing b's channel makes b leave: a gets its partition back.
  await second.call('channelClose', 1, {});
  const back = await first.push('groupAssignment', 1);
  assert.deepEqual(back.assigned, revoked.revoked);
});

test('share groups: subscribe with a group consumes a stream queue-style', async () => {
  const client = await openChannel();
  await client.call('streamDeclare', 1, { name: 'jobs', options: {} });
  await client.call('append', 1, { stream: 'jobs', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage('j1'), wireMessage('j2')] });
  await client.call('subscribe', 1, { source: 'jobs', group: 'workers', tag: '', prefetch: 10, autoAck: false, exclusive: false, priority: 0 });
  await until(() => deliveries(client).length === 2, 'both jobs');
  await client.call('ack', 1, { deliveryTags: deliveries(client).map((delivery) => delivery.deliveryTag) });
  const group = await ferry.broker.vhost().shareGroup('jobs', 'workers');
  assert.equal(group.messageCount(), 0);
});

// ------------------------------------------------------------------ transactions

test('a transaction stages publishes and acks: commit applies them together, abort drops them', async () => {
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'tx-in', options: {} });
  await client.call('queueDeclare', 1, { name: 'tx-out', options: {} });
  await client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('input', { routingKey: 'tx-in' })] });
  const input = await client.call('pull', 1, { source: 'tx-in', group: '', max: 1, waitMs: 0, visibilityTimeoutMs: 0, autoAck: false });
  const vhost = ferry.broker.vhost();

  await client.call('transactionBegin', 1, { timeoutMs: 0 });
  assert.deepEqual(await client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('dropped', { routingKey: 'tx-out' })] }), { statuses: [0] });
  await client.call('ack', 1, { deliveryTags: [input.deliveries[0]!.deliveryTag] });
  await client.call('transactionAbort', 1, {});
  assert.equal(vhost.queue('tx-out').messageCount(), 0, 'an aborted publish never appears');
  assert.equal(vhost.queue('tx-in').unsettledCount(), 1, 'an aborted ack leaves the delivery unacknowledged');

  await client.call('transactionBegin', 1, { timeoutMs: 0 });
  await client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('output', { routingKey: 'tx-out' }), wireMessage('nowhere', { routingKey: 'missing' })] });
  await client.call('ack', 1, { deliveryTags: [input.deliveries[0]!.deliveryTag] });
  assert.equal(vhost.queue('tx-out').messageCount(), 0, 'nothing is visible before commit');
  assert.deepEqual(await client.call('transactionCommit', 1, {}), { unroutable: 1, rejectedBy: [] });
  assert.equal(vhost.queue('tx-out').messageCount(), 1);
  assert.equal(vhost.queue('tx-in').unsettledCount() + vhost.queue('tx-in').messageCount(), 0, 'the input is acked');
  const stray = await client.request('transactionCommit', 1, {});
  assert.equal(!stray.ok && stray.error.code, 'PRECONDITION_FAILED', 'no transaction is open after a commit');
});

// ------------------------------------------------------------------ liveness and robustness

test('a silent client is closed with NATIVE_HEARTBEAT_TIMEOUT after two heartbeat intervals', async (t) => {
  const quick = await NativeTestServer.start({ limits: { heartbeatMs: 100 } });
  t.after(() => quick.close());
  const client = await quick.connect();
  client.write(PREAMBLE);
  const hello = await client.call('hello', 0, { versionMin: 1, versionMax: 1, client: 'sleepy', features: ['heartbeats'] });
  assert.equal(hello.heartbeatMs, 100);
  await client.call('authenticate', 0, { mechanism: 'PLAIN', response: plain('guest', 'guest'), vhost: '/' });
  const started = Date.now();
  const reason = await client.closeReason(3_000);
  assert.equal(reason?.code, 'NATIVE_HEARTBEAT_TIMEOUT');
  assert.ok(Date.now() - started >= 150, 'not before two intervals');
  assert.ok(client.pushes('heartbeat', 0).length >= 1, 'the server sent heartbeats meanwhile');
});

test('a client that sends heartbeats stays connected', async (t) => {
  const quick = await NativeTestServer.start({ limits: { heartbeatMs: 250 } });
  t.after(() => quick.close());
  const client = await quick.open({ features: ['heartbeats'] });
  const beating = setInterval(() => client.send('heartbeat', 0, {}), 50);
  await delay(1_000);
  clearInterval(beating);
  assert.equal(client.isClosed, false);
});

test('the in-process endpoint serves ferry+mem:// clients, guest included, with no socket', async (t) => {
  const local = await NativeTestServer.start({ inProcessName: 'raw-protocol-test' });
  t.after(() => local.close());
  const client = local.track(await RawNativeClient.open('raw-protocol-test'));
  await client.call('channelOpen', 1, {});
  await client.call('queueDeclare', 1, { name: 'local', options: {} });
  assert.deepEqual(await client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('hi', { routingKey: 'local' })] }), { statuses: [0] });
  assert.equal(local.broker.vhost().queue('local').messageCount(), 1);
});

test('closing the listener sends close NATIVE_CONNECTION_FORCED to its clients', async (t) => {
  const doomed = await NativeTestServer.start({ inProcessName: 'raw-protocol-doomed' });
  t.after(() => doomed.close());
  const client = await doomed.open();
  await doomed.listener.close();
  assert.equal((await client.closeReason())?.code, 'NATIVE_CONNECTION_FORCED');
  assert.throws(() => RawNativeClient.connectInProcess('raw-protocol-doomed'), /no in-process endpoint/);
});

test('an operator closing the connection through the registry sends NATIVE_CONNECTION_FORCED', async () => {
  const known = new Set(ferry.broker.core.connections.list().map((connection) => connection.name));
  const client = await openChannel();
  const added = ferry.broker.core.connections.list().filter((connection) => !known.has(connection.name));
  assert.equal(added.length, 1);
  assert.equal(added[0]!.protocol, 'native');
  added[0]!.close('maintenance');
  const reason = await client.closeReason();
  assert.deepEqual([reason?.code, reason?.message], ['NATIVE_CONNECTION_FORCED', 'maintenance']);
  await until(() => ferry.broker.core.connections.get(added[0]!.name) === undefined, 'the closed connection is unregistered');
});

test('garbage on the socket never crashes the broker, and acked data stays acked', async () => {
  const vhost = ferry.broker.vhost();
  const client = await openChannel();
  await client.call('queueDeclare', 1, { name: 'precious', options: {} });
  await client.call('publish', 1, { exchange: '', mandatory: false, messages: ['keep-1', 'keep-2', 'gone'].map((body) => wireMessage(body, { routingKey: 'precious' })) });
  const pulled = await client.call('pull', 1, { source: 'precious', group: '', max: 3, waitMs: 0, visibilityTimeoutMs: 0, autoAck: false });
  await client.call('ack', 1, { deliveryTags: [pulled.deliveries[2]!.deliveryTag] });
  await client.call('nack', 1, { deliveryTags: [pulled.deliveries[0]!.deliveryTag, pulled.deliveries[1]!.deliveryTag], requeue: true });
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let round = 0; round < 60; round++) {
    const victim = round % 3 === 0 ? await ferry.connect() : await ferry.open();
    if (round % 3 === 0) victim.write(PREAMBLE);
    else await victim.call('channelOpen', 1, {});
    const garbage = new Uint8Array(1 + Math.floor(random() * 300));
    for (let index = 0; index < garbage.length; index++) garbage[index] = Math.floor(random() * 256);
    if (round % 2 === 1) {
      // Plausible headers with random payloads reach the field decoders.
      const view = new DataView(garbage.buffer);
      if (garbage.length >= FRAME_HEADER_BYTES) {
        view.setUint32(0, garbage.length - 4, true);
        garbage[4] = [0x10, 0x12, 0x15, 0x20, 0x21, 0x30, 0x34, 0x36, 0x40, 0x41, 0x50, 0x53][round % 12]!;
        garbage[5] = 0;
        view.setUint16(6, 1, true);
      }
    }
    victim.write(garbage);
    await Promise.race([victim.closed, delay(30)]);
    victim.destroy();
  }
  const survivor = await openChannel();
  const left = await survivor.call('queueDeclare', 1, { name: 'precious', options: {} });
  assert.equal(left.messageCount, 2, 'the acked message stays acked, the others stay');
  assert.equal(vhost.queue('precious').messageCount(), 2);
});
