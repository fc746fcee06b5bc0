/**
 * Back pressure with amqplib: a memory alarm (raised through a fake resource
 * probe) blocks publishers with connection.blocked until it clears; consumers
 * keep draining; a slow consumer does not hold up consumers of other queues.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { ConsumeMessage } from 'amqplib';
import type { ResourceProbe } from '../../../src/platform/resource-probe.js';
import { AmqpTestServer } from './amqp-test-server.js';
import { nextEvent } from './next-event.js';
import { waitUntil } from './wait-until.js';
import { RawAmqpClient, octet, short, shortstr, table } from './raw-amqp-client.js';

const WATERMARK_BYTES = 1_000_000;
let memoryUsedBytes = 0;
const probe: ResourceProbe = {
  memoryUsedBytes: () => memoryUsedBytes,
  diskFreeBytes: async () => 1e12,
};

/** A test that waits on a connection the server stopped reading must fail, not hang the suite. */
const BOUNDED = { timeout: 15_000 };

let ferry: AmqpTestServer;

before(async () => {
  ferry = await AmqpTestServer.start({
    broker: { memory: true, resourceProbe: probe, alarms: { memoryHighWatermarkBytes: WATERMARK_BYTES, checkIntervalMs: 50 } },
    limits: { outgoingBytesMax: 256 * 1024 },
  });
});

after(async () => {
  await clearAlarm();
  await ferry.close();
});

async function clearAlarm(): Promise<void> {
  memoryUsedBytes = 0;
  await waitUntil(() => !ferry.broker.core.alarms.blocked(), 'the alarm clears');
}

/** Raises the memory alarm, runs `body`, and clears the alarm however `body` ends. */
async function duringAlarm(body: () => Promise<void>): Promise<void> {
  memoryUsedBytes = WATERMARK_BYTES * 2;
  try {
    await body();
  } finally {
    await clearAlarm();
  }
}

function queue(name: string) {
  return ferry.broker.vhost().queue(name);
}

test('a publisher hears blocked and unblocked, is held back during the alarm, and every publish is stored after', BOUNDED, async () => {
  const publisher = await ferry.connect();
  const channel = await publisher.createChannel();
  await channel.assertQueue('held-publishes');
  const blocked = nextEvent<string>(publisher, 'blocked');
  await duringAlarm(async () => {
    assert.match(await blocked, /memory/);
    for (let index = 0; index < 20; index++) channel.sendToQueue('held-publishes', Buffer.from(String(index)));
    await delay(300);
    assert.ok(queue('held-publishes').messageCount() < 20, `${queue('held-publishes').messageCount()} of 20 stored during the alarm`);
    const unblocked = nextEvent<void>(publisher, 'unblocked');
    await clearAlarm();
    await unblocked;
  });
  await waitUntil(() => queue('held-publishes').messageCount() === 20, 'every publish is stored after the alarm');
  await publisher.close();
});

test('a memory alarm blocks a publishing connection (connection.blocked) and its publishes wait until it clears', { ...BOUNDED }, async () => {
  const publisher = await ferry.connect();
  const channel = await publisher.createChannel();
  await channel.assertQueue('blocked-publishes');
  const blocked = nextEvent<string>(publisher, 'blocked');
  await duringAlarm(async () => {
    const reason = await blocked;
    assert.match(reason, /memory/);
    for (let index = 0; index < 5; index++) channel.sendToQueue('blocked-publishes', Buffer.from(`during alarm ${index}`));
    await delay(300);
    assert.equal(queue('blocked-publishes').messageCount(), 0, 'nothing is stored while the alarm is on');
    const unblocked = nextEvent<void>(publisher, 'unblocked');
    await clearAlarm();
    await unblocked;
  });
  await waitUntil(() => queue('blocked-publishes').messageCount() === 5, 'the held publishes are stored after the alarm');
  const first = await channel.get('blocked-publishes', { noAck: true });
  assert.ok(first);
  assert.equal(first.content.toString(), 'during alarm 0');
  await publisher.close();
});

test('a confirm channel gets no confirms while blocked and all of them after', { ...BOUNDED }, async () => {
  const publisher = await ferry.connect();
  const channel = await publisher.createConfirmChannel();
  await channel.assertQueue('blocked-confirms');
  const blocked = nextEvent<string>(publisher, 'blocked');
  let confirmed = 0;
  await duringAlarm(async () => {
    await blocked;
    for (let index = 0; index < 10; index++) channel.sendToQueue('blocked-confirms', Buffer.from(String(index)), {}, () => confirmed++);
    await delay(200);
    assert.equal(confirmed, 0);
  });
  await channel.waitForConfirms();
  assert.equal(confirmed, 10);
  assert.equal(queue('blocked-confirms').messageCount(), 10);
  await publisher.close();
});

test('deliveries to consumers go on during an alarm', BOUNDED, async () => {
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertQueue('delivered-during-alarm');
  const received: string[] = [];
  await channel.consume('delivered-during-alarm', (message) => message && received.push(message.content.toString()), { noAck: true });
  // Delayed messages become due during the alarm: their delivery needs nothing from the client.
  for (let index = 0; index < 5; index++) channel.sendToQueue('delivered-during-alarm', Buffer.from(String(index)), { headers: { 'x-delay': 300 } });
  await channel.checkQueue('delivered-during-alarm');
  assert.equal(received.length, 0);
  await duringAlarm(async () => {
    await waitUntil(() => ferry.broker.core.alarms.blocked(), 'the alarm is on');
    await waitUntil(() => received.length === 5, 'every message is delivered during the alarm', 2_000);
    assert.ok(ferry.broker.core.alarms.blocked(), 'the alarm was on throughout');
  });
  await connection.close();
});

test('a consume-only connection is not blocked: its acks are read during an alarm', { ...BOUNDED }, async () => {
  const setup = await ferry.connect();
  const setupChannel = await setup.createChannel();
  await setupChannel.assertQueue('acked-during-alarm');
  for (let index = 0; index < 5; index++) setupChannel.sendToQueue('acked-during-alarm', Buffer.from(String(index)));
  await setupChannel.checkQueue('acked-during-alarm');
  await setup.close();
  const consumer = await ferry.connect();
  const channel = await consumer.createChannel();
  const received: ConsumeMessage[] = [];
  await channel.consume('acked-during-alarm', (message) => message && received.push(message));
  await waitUntil(() => received.length === 5, 'five deliveries');
  await duringAlarm(async () => {
    await waitUntil(() => ferry.broker.core.alarms.blocked(), 'the alarm is on');
    for (const message of received) channel.ack(message);
    await waitUntil(() => queue('acked-during-alarm').unsettledCount() === 0, 'the acks are processed during the alarm', 1_000);
    // A consume-only connection can also still open channels and consume.
    const second = await Promise.race([consumer.createChannel(), delay(1_000).then(() => null)]);
    assert.ok(second, 'channel.open is answered during the alarm');
  });
  await consumer.close();
});

test('a slow consumer that never acks (large prefetch) does not hold up a consumer of another queue', BOUNDED, async () => {
  const connection = await ferry.connect();
  const setup = await connection.createChannel();
  await setup.assertQueue('slow-consumer-queue');
  await setup.assertQueue('fast-consumer-queue');
  const slowChannel = await connection.createChannel();
  await slowChannel.prefetch(1_000);
  let slowReceived = 0;
  await slowChannel.consume('slow-consumer-queue', () => slowReceived++);
  const other = await ferry.connect();
  const fastChannel = await other.createChannel();
  const fast: string[] = [];
  await fastChannel.consume('fast-consumer-queue', (message) => message && fast.push(message.content.toString()), { noAck: true });
  const big = Buffer.alloc(16 * 1024, 1);
  for (let index = 0; index < 500; index++) setup.sendToQueue('slow-consumer-queue', big);
  for (let index = 0; index < 100; index++) setup.sendToQueue('fast-consumer-queue', Buffer.from(String(index)));
  await waitUntil(() => fast.length === 100, 'the fast consumer has all its messages', 3_000);
  assert.deepEqual(fast, Array.from({ length: 100 }, (_, index) => String(index)));
  assert.ok(slowReceived > 0, 'the slow consumer got deliveries too');
  await connection.close();
  await other.close();
});

test('a consumer paused by a full outgoing buffer resumes when the buffer empties', { ...BOUNDED }, async () => {
  // 100 messages of 16 KiB to a no-ack consumer: one turn queues more than outgoingBytesMax (256 KiB here).
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertQueue('paused-then-resumed');
  const body = Buffer.alloc(16 * 1024, 3);
  for (let index = 0; index < 100; index++) channel.sendToQueue('paused-then-resumed', body);
  await channel.checkQueue('paused-then-resumed');
  let received = 0;
  await channel.consume('paused-then-resumed', () => received++, { noAck: true });
  try {
    await waitUntil(() => received === 100, 'every message is delivered', 2_000);
  } finally {
    await connection.close();
  }
});

test('a consumer that stops reading its socket is paused without holding up other connections', BOUNDED, async () => {
  const setupConnection = await ferry.connect();
  const setup = await setupConnection.createChannel();
  await setup.assertQueue('unread-queue');
  await setup.assertQueue('read-queue');
  // A raw consumer that consumes with no-ack and then never reads: the server's buffer for it fills.
  const stalled = await RawAmqpClient.openConnection(ferry.port);
  await stalled.openChannel(1);
  stalled.write(RawAmqpClient.method(1, 60, 20, [short(0), shortstr('unread-queue'), shortstr('stalled'), octet(0b10), table({})]));
  await stalled.expectMethod(1, 60, 21);
  stalled.pauseReading();
  const big = Buffer.alloc(64 * 1024, 2);
  for (let index = 0; index < 300; index++) setup.sendToQueue('unread-queue', big);
  await setup.checkQueue('unread-queue');
  const reader = await ferry.connect();
  const readerChannel = await reader.createChannel();
  const received: string[] = [];
  await readerChannel.consume('read-queue', (message) => message && received.push(message.content.toString()), { noAck: true });
  const started = Date.now();
  for (let index = 0; index < 50; index++) setup.sendToQueue('read-queue', Buffer.from(String(index)));
  await waitUntil(() => received.length === 50, 'the other consumer gets every message', 3_000);
  assert.ok(Date.now() - started < 2_000);
  // The stalled consumer's deliveries paused: most of its 19 MiB wait in the queue, not in memory buffers.
  assert.ok(queue('unread-queue').messageCount() > 100, `${queue('unread-queue').messageCount()} still ready`);
  stalled.destroy();
  await setupConnection.close();
  await reader.close();
});
