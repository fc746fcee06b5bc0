/**
 * Flow control and limits of the native protocol server, over real sockets:
 * memory alarms stop publishers and release them, a consumer whose socket
 * is backed up stops taking from its queue, and every limit answers
 * NATIVE_LIMIT_REACHED without harming the connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { testPasswordHasher } from '../../../src/core/test-broker.js';
import { encodeFrame, PREAMBLE } from '../../../src/protocols/native/codec/index.js';
import { connect } from '../../../src/client/index.js';
import { NativeTestServer, wireMessage } from './native-test-server.js';
import { plain } from './raw-native-client.js';

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await delay(5);
  }
}

/** A broker whose memory alarm a test turns on and off. */
async function alarmedServer(): Promise<{ ferry: NativeTestServer; setMemory: (bytes: number) => Promise<void> }> {
  let memoryUsedBytes = 0;
  const ferry = await NativeTestServer.start({
    broker: {
      memory: true,
      passwordHasher: testPasswordHasher,
      resourceProbe: { memoryUsedBytes: () => memoryUsedBytes, diskFreeBytes: async () => Number.MAX_SAFE_INTEGER },
      alarms: { memoryHighWatermarkBytes: 1_000, checkIntervalMs: 60_000 },
    },
  });
  const setMemory = async (bytes: number): Promise<void> => {
    memoryUsedBytes = bytes;
    await ferry.broker.core.alarms.check();
  };
  return { ferry, setMemory };
}

test('while a memory alarm is on, a publish waits (its connection is not read); it completes once the alarm clears', async (t) => {
  const { ferry, setMemory } = await alarmedServer();
  t.after(() => ferry.close());
  const client = await ferry.open();
  await client.call('channelOpen', 1, {});
  await client.call('queueDeclare', 1, { name: 'blocked', options: {} });
  await setMemory(2_000);
  let answered = false;
  const publishing = client.call('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage('held', { routingKey: 'blocked' })] }).then((answer) => {
    answered = true;
    return answer;
  });
  await delay(150);
  assert.equal(answered, false, 'no answer while the alarm is on');
  assert.equal(ferry.broker.vhost().queue('blocked').messageCount(), 0, 'nothing published while the alarm is on');
  await setMemory(0);
  assert.deepEqual(await publishing, { statuses: [0] });
  assert.equal(ferry.broker.vhost().queue('blocked').messageCount(), 1);
});

test('a connection that asked for blocked-notices hears blocked when an alarm goes on and unblocked when it clears; others hear nothing', async (t) => {
  const { ferry, setMemory } = await alarmedServer();
  t.after(() => ferry.close());
  const notified = await ferry.open({ features: ['blocked-notices'] });
  const silent = await ferry.open({ features: [] });
  await setMemory(2_000);
  assert.deepEqual(await notified.push('blocked', 0), { reason: 'memory alarm' });
  await setMemory(0);
  assert.deepEqual(await notified.push('unblocked', 0), {});
  // A connection that logs in while the alarm is on hears it at once.
  await setMemory(2_000);
  const late = await ferry.open({ features: ['blocked-notices'] });
  assert.deepEqual(await late.push('blocked', 0), { reason: 'memory alarm' });
  await setMemory(0);
  await late.push('unblocked', 0);
  await notified.call('channelOpen', 1, {});
  await silent.call('channelOpen', 1, {});
  assert.equal(notified.pushes('blocked', 0).length, 2);
  assert.equal(silent.pushes('blocked', 0).length + silent.pushes('unblocked', 0).length, 0, 'no notices without the feature');
});

test('the client emits blocked and unblocked and reports blockedReason while a publish waits for the alarm', async (t) => {
  const { ferry, setMemory } = await alarmedServer();
  t.after(() => ferry.close());
  const client = await connect(`ferry://guest:guest@127.0.0.1:${ferry.port}`);
  t.after(() => client.close());
  await client.declareQueue('held');
  const events: string[] = [];
  client.on('blocked', (reason) => events.push(`blocked: ${reason}`));
  client.on('unblocked', () => events.push('unblocked'));
  await setMemory(2_000);
  await until(() => events.length === 1, 'the client heard blocked');
  assert.equal(client.blockedReason, 'memory alarm');
  let confirmed = false;
  const publishing = client.publish('', { body: 'waits', routingKey: 'held' }).then(() => (confirmed = true));
  await delay(100);
  assert.equal(confirmed, false, 'the publish waits while blocked');
  await setMemory(0);
  await publishing;
  await until(() => events.length === 2, 'the client heard unblocked');
  assert.deepEqual(events, ['blocked: memory alarm', 'unblocked']);
  assert.equal(client.blockedReason, null);
  assert.equal(ferry.broker.vhost().queue('held').messageCount(), 1);
});

test('a consumer whose socket is not read stops taking from its queue; it resumes once the client reads', async (t) => {
  const ferry = await NativeTestServer.start({ limits: { outgoingBytesMax: 256 * 1024 } });
  t.after(() => ferry.close());
  const publisher = await ferry.open();
  await publisher.call('channelOpen', 1, {});
  await publisher.call('queueDeclare', 1, { name: 'firehose', options: { durable: false } });
  const body = new Uint8Array(16 * 1024);
  for (let round = 0; round < 40; round++) {
    await publisher.call('publish', 1, { exchange: '', mandatory: false, messages: Array.from({ length: 50 }, () => wireMessage(body, { routingKey: 'firehose' })) });
  }
  const total = 40 * 50;
  // A slow consumer: a raw socket that logs in, subscribes, then stops reading.
  const socket = net.connect({ host: '127.0.0.1', port: ferry.port });
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(PREAMBLE);
  socket.write(encodeFrame('hello', 0, 1, { versionMin: 1, versionMax: 1, client: 'slow', features: [] }));
  socket.write(encodeFrame('authenticate', 0, 2, { mechanism: 'PLAIN', response: plain('guest', 'guest'), vhost: '/' }));
  socket.write(encodeFrame('channelOpen', 1, 3, {}));
  socket.write(encodeFrame('subscribe', 1, 4, { source: 'firehose', group: '', tag: 'slow', prefetch: 0, autoAck: true, exclusive: false, priority: 0 }));
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
    socket.pause();
  });
  const queue = ferry.broker.vhost().queue('firehose');
  await until(() => queue.consumerDetails().length === 1 && !queue.consumerDetails()[0]!.flowing, 'the consumer is paused');
  await delay(200);
  const left = queue.messageCount();
  assert.ok(left > total / 2, `most messages stay in the queue while the socket is backed up (${left} of ${total} left)`);
  assert.ok(received < 4 * 1024 * 1024, 'the client was not flooded');
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  socket.resume();
  await until(() => queue.messageCount() === 0, 'the queue drains once the client reads', 10_000);
});

test('limits answer NATIVE_LIMIT_REACHED and the connection goes on: channels, consumers per channel, messages per batch', async (t) => {
  const ferry = await NativeTestServer.start({ limits: { channelsMax: 2, consumersPerChannelMax: 1, batchMessagesMax: 3 } });
  t.after(() => ferry.close());
  const client = await ferry.open();
  await client.call('channelOpen', 1, {});
  await client.call('channelOpen', 2, {});
  const third = await client.request('channelOpen', 3, {});
  assert.equal(!third.ok && third.error.code, 'NATIVE_LIMIT_REACHED');
  await client.call('queueDeclare', 1, { name: 'limited', options: { durable: false } });
  await client.call('subscribe', 1, { source: 'limited', group: '', tag: '', prefetch: 1, autoAck: false, exclusive: false, priority: 0 });
  const second = await client.request('subscribe', 1, { source: 'limited', group: '', tag: '', prefetch: 1, autoAck: false, exclusive: false, priority: 0 });
  assert.equal(!second.ok && second.error.code, 'NATIVE_LIMIT_REACHED');
  const big = await client.request('publish', 1, { exchange: '', mandatory: false, messages: ['a', 'b', 'c', 'd'].map((body) => wireMessage(body, { routingKey: 'limited' })) });
  assert.equal(!big.ok && big.error.code, 'NATIVE_LIMIT_REACHED');
  assert.equal(ferry.broker.vhost().queue('limited').messageCount() + ferry.broker.vhost().queue('limited').unsettledCount(), 0, 'a refused batch publishes nothing');
  assert.deepEqual(await client.call('publish', 1, { exchange: '', mandatory: false, messages: ['a', 'b', 'c'].map((body) => wireMessage(body, { routingKey: 'limited' })) }), { statuses: [0, 0, 0] });
  await client.call('channelClose', 2, {});
  await client.call('channelOpen', 3, {});
});

test('a message above message-bytes-max is MESSAGE_TOO_LARGE, for publish and append alike', async (t) => {
  const ferry = await NativeTestServer.start({ messageBytesMax: 1_000, broker: { memory: true, passwordHasher: testPasswordHasher, limits: { messageBytesMax: 1_000 } } });
  t.after(() => ferry.close());
  const client = await ferry.open();
  await client.call('channelOpen', 1, {});
  await client.call('queueDeclare', 1, { name: 'small', options: {} });
  await client.call('streamDeclare', 1, { name: 'small-stream', options: {} });
  const published = await client.request('publish', 1, { exchange: '', mandatory: false, messages: [wireMessage(new Uint8Array(2_000), { routingKey: 'small' })] });
  assert.equal(!published.ok && published.error.code, 'MESSAGE_TOO_LARGE');
  const appended = await client.request('append', 1, { stream: 'small-stream', partition: 0, producerId: 0, epoch: 0, sequence: 0, messages: [wireMessage(new Uint8Array(2_000))] });
  assert.equal(!appended.ok && appended.error.code, 'MESSAGE_TOO_LARGE');
  await client.call('queueDeclare', 1, { name: 'small', options: {} });
});
