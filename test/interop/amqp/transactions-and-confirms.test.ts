/**
 * The tx and confirm classes with amqplib: publishes invisible until commit,
 * rollback drops them, acks inside a transaction; publisher confirms with
 * nacks from a reject-publish queue and returns before acks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { Channel, ChannelModel } from 'amqplib';
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

/** amqplib has no tx API; its channels' rpc() sends any method. Ids are class << 16 | method. */
const TX = {
  select: [(90 << 16) | 10, (90 << 16) | 11],
  commit: [(90 << 16) | 20, (90 << 16) | 21],
  rollback: [(90 << 16) | 30, (90 << 16) | 31],
} as const;

async function tx(channel: Channel, what: keyof typeof TX): Promise<void> {
  const [method, reply] = TX[what];
  await (channel as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> }).rpc(method, {}, reply);
}

async function channel(): Promise<Channel> {
  const created = await connection.createChannel();
  created.on('error', () => undefined);
  return created;
}

function readyCount(queue: string): number {
  return ferry.broker.vhost().queue(queue).messageCount();
}

test('tx: publishes are invisible until commit', async () => {
  const target = await channel();
  await target.assertQueue('tx-commit');
  await tx(target, 'select');
  for (const body of ['a', 'b', 'c']) target.sendToQueue('tx-commit', Buffer.from(body));
  await target.checkQueue('tx-commit'); // a round trip: the publishes were handled
  assert.equal(readyCount('tx-commit'), 0);
  await tx(target, 'commit');
  assert.equal(readyCount('tx-commit'), 3);
  await target.close();
});

test('tx: rollback drops the publishes of the transaction, the next commit keeps only its own', async () => {
  const target = await channel();
  await target.assertQueue('tx-rollback');
  await tx(target, 'select');
  target.sendToQueue('tx-rollback', Buffer.from('dropped-1'));
  target.sendToQueue('tx-rollback', Buffer.from('dropped-2'));
  await tx(target, 'rollback');
  target.sendToQueue('tx-rollback', Buffer.from('kept'));
  await tx(target, 'commit');
  const message = await target.get('tx-rollback', { noAck: true });
  assert.ok(message);
  assert.equal(message.content.toString(), 'kept');
  assert.equal(readyCount('tx-rollback'), 0);
  await target.close();
});

test('tx: an ack takes effect at commit, not before', async () => {
  const target = await channel();
  await target.assertQueue('tx-acks');
  target.sendToQueue('tx-acks', Buffer.from('acked'));
  await target.checkQueue('tx-acks');
  await tx(target, 'select');
  const message = await target.get('tx-acks');
  assert.ok(message);
  target.ack(message);
  await target.checkQueue('tx-acks');
  const queue = ferry.broker.vhost().queue('tx-acks');
  assert.equal(queue.unsettledCount(), 1, 'not settled before commit');
  await tx(target, 'commit');
  assert.equal(queue.unsettledCount(), 0);
  await target.close();
  await delay(20);
  assert.equal(queue.messageCount(), 0, 'the committed ack holds after the channel closes');
});

test('tx: after a rolled-back ack the message is still unacknowledged and returns when the channel closes', async () => {
  const target = await channel();
  await target.assertQueue('tx-rolled-back-ack');
  target.sendToQueue('tx-rolled-back-ack', Buffer.from('kept'));
  await target.checkQueue('tx-rolled-back-ack');
  await tx(target, 'select');
  const message = await target.get('tx-rolled-back-ack');
  assert.ok(message);
  target.ack(message);
  await tx(target, 'rollback');
  await target.close();
  // Closing the channel returns what is unacknowledged, the rolled-back ack's message included.
  const queue = ferry.broker.vhost().queue('tx-rolled-back-ack');
  await waitUntil(() => queue.messageCount() === 1, 'the message is back in the queue', 1_000);
  assert.equal(queue.unsettledCount(), 0);
});

test('tx: consume-transform-produce commits the output and the input ack as one core transaction', async () => {
  const target = await channel();
  await target.assertQueue('tx-ctp-in');
  await target.assertQueue('tx-ctp-out');
  for (const body of ['1', '2', '3']) target.sendToQueue('tx-ctp-in', Buffer.from(body));
  await target.checkQueue('tx-ctp-in');
  await tx(target, 'select');
  for (;;) {
    const message = await target.get('tx-ctp-in');
    if (!message) break;
    target.sendToQueue('tx-ctp-out', Buffer.from(`x${message.content.toString()}`));
    target.ack(message);
    await tx(target, 'commit');
  }
  const input = ferry.broker.vhost().queue('tx-ctp-in');
  assert.equal(input.messageCount() + input.unsettledCount(), 0, 'every input acked by its commit');
  const outputs: string[] = [];
  for (;;) {
    const message = await target.get('tx-ctp-out', { noAck: true });
    if (!message) break;
    outputs.push(message.content.toString());
  }
  assert.deepEqual(outputs, ['x1', 'x2', 'x3']);
  await target.close();
});

test('tx: a mandatory unroutable publish is returned at commit', async () => {
  const target = await channel();
  await tx(target, 'select');
  const returned = new Promise<string>((resolve) => target.once('return', (message: { content: Buffer }) => resolve(message.content.toString())));
  target.publish('amq.direct', 'no-such-binding', Buffer.from('lost'), { mandatory: true });
  await tx(target, 'commit');
  assert.equal(await returned, 'lost');
  await target.close();
});

test('tx: commit and rollback on a channel that is not transactional are 406', async () => {
  for (const what of ['commit', 'rollback'] as const) {
    const target = await channel();
    await assert.rejects(tx(target, what), (error: unknown) => replyCodeOf(error) === 406);
  }
});

test('tx and confirm modes exclude each other (406)', async () => {
  const confirming = await connection.createConfirmChannel();
  confirming.on('error', () => undefined);
  await assert.rejects(tx(confirming, 'select'), (error: unknown) => replyCodeOf(error) === 406);
});

test('confirms: a reject-publish queue that is full nacks the publishes it refuses', async () => {
  const target = await connection.createConfirmChannel();
  await target.assertQueue('full-queue', { maxLength: 2, arguments: { 'x-overflow': 'reject-publish' } });
  const outcomes: string[] = [];
  for (let index = 0; index < 4; index++) {
    target.sendToQueue('full-queue', Buffer.from(String(index)), {}, (error) => outcomes.push(`${index}:${error ? 'nack' : 'ack'}`));
  }
  await assert.rejects(target.waitForConfirms());
  await waitUntil(() => outcomes.length === 4, 'every publish is settled');
  assert.deepEqual(outcomes.sort(), ['0:ack', '1:ack', '2:nack', '3:nack']);
  assert.equal(readyCount('full-queue'), 2);
  await target.close();
});

test('confirms: acks and nacks interleaved with durable writes each reach their own publish', async () => {
  const target = await connection.createConfirmChannel();
  await target.assertQueue('confirm-mixed-durable', { durable: true });
  await target.assertQueue('confirm-mixed-full', { maxLength: 1, arguments: { 'x-overflow': 'reject-publish' } });
  // Through this exchange a publish is written to the durable queue and refused by the full one: nacked.
  await target.assertExchange('confirm-mixed-both', 'fanout', { durable: false });
  await target.bindQueue('confirm-mixed-durable', 'confirm-mixed-both', '');
  await target.bindQueue('confirm-mixed-full', 'confirm-mixed-both', '');
  target.sendToQueue('confirm-mixed-full', Buffer.from('fills it'));
  const outcomes: string[] = [];
  const expected: string[] = [];
  // Runs of persistent publishes (sharing durable writes) broken by refused ones, in one burst.
  for (let index = 0; index < 300; index++) {
    const refusedAlone = index % 7 === 3;
    const refusedByOne = index % 11 === 5;
    expected.push(`${index}:${refusedAlone || refusedByOne ? 'nack' : 'ack'}`);
    const settled = (error: unknown): void => void outcomes.push(`${index}:${error ? 'nack' : 'ack'}`);
    if (refusedByOne) target.publish('confirm-mixed-both', '', Buffer.from(String(index)), { persistent: true }, settled);
    else target.sendToQueue(refusedAlone ? 'confirm-mixed-full' : 'confirm-mixed-durable', Buffer.from(String(index)), { persistent: true }, settled);
  }
  await assert.rejects(target.waitForConfirms());
  await waitUntil(() => outcomes.length === 300, 'every publish is settled');
  assert.deepEqual(outcomes, expected);
  await target.close();
});

test('confirms: a mandatory unroutable publish is returned before it is confirmed', async () => {
  const target = await connection.createConfirmChannel();
  await target.assertExchange('confirm-nowhere', 'direct', { durable: false });
  const events: string[] = [];
  target.on('return', () => events.push('return'));
  const confirmed = new Promise<void>((resolve) => {
    target.publish('confirm-nowhere', 'none', Buffer.from('x'), { mandatory: true }, (error) => {
      events.push(error ? 'nack' : 'ack');
      resolve();
    });
  });
  await confirmed;
  await delay(20);
  assert.deepEqual(events, ['return', 'ack']);
  await target.close();
});

test('confirms: persistent messages to a durable queue are acked, in order, with tags that count publishes', async () => {
  const target = await connection.createConfirmChannel();
  await target.assertQueue('confirm-durable', { durable: true });
  const acked: number[] = [];
  target.on('ack', (fields: { deliveryTag: number; multiple: boolean }) => acked.push(fields.deliveryTag));
  for (let index = 0; index < 50; index++) target.sendToQueue('confirm-durable', Buffer.from(String(index)), { persistent: true });
  await target.waitForConfirms();
  assert.equal(acked.at(-1), 50);
  assert.deepEqual([...acked].sort((a, b) => a - b), acked, 'acks arrive in order');
  assert.equal(readyCount('confirm-durable'), 50);
  await target.close();
});

test('confirms: a publish to a missing exchange closes the channel with 404 and fails the confirm', async () => {
  const target = await connection.createConfirmChannel();
  target.on('error', () => undefined);
  const closed = nextEvent<Error>(target, 'error');
  const settled = new Promise<unknown>((resolve) => {
    target.publish('no-such-exchange', '', Buffer.from('x'), {}, (error) => resolve(error));
  });
  assert.equal(replyCodeOf(await closed), 404);
  assert.ok(await settled, 'the publish callback got an error');
});
