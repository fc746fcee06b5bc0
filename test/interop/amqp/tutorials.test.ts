/**
 * The RabbitMQ tutorials (https://www.rabbitmq.com/tutorials), run unmodified
 * with amqplib's promise API against Ferry: hello world, work queues, publish /
 * subscribe, routing, topics, RPC (reply queue and direct reply-to) and
 * publisher confirms.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { Channel, ConsumeMessage } from 'amqplib';
import { AmqpTestServer } from './amqp-test-server.js';
import { waitUntil } from './wait-until.js';

let ferry: AmqpTestServer;

before(async () => {
  ferry = await AmqpTestServer.start();
});

after(async () => {
  await ferry.close();
});

test('hello world: a message sent to a queue reaches its consumer', async () => {
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertQueue('hello', { durable: false });
  const received = new Promise<ConsumeMessage>((resolve) => {
    void channel.consume('hello', (message) => message && resolve(message), { noAck: true });
  });
  channel.sendToQueue('hello', Buffer.from('Hello World!'));
  const message = await received;
  assert.equal(message.content.toString(), 'Hello World!');
  assert.equal(message.fields.exchange, '');
  assert.equal(message.fields.routingKey, 'hello');
  assert.equal(message.fields.redelivered, false);
  await connection.close();
});

test('work queue: with prefetch 1 the slow worker gets fewer tasks and every task is done once', async () => {
  const producer = await ferry.connect();
  const workers = await ferry.connect();
  const producerChannel = await producer.createChannel();
  await producerChannel.assertQueue('task_queue', { durable: true });
  const done: Record<'fast' | 'slow', string[]> = { fast: [], slow: [] };
  const startWorker = async (name: 'fast' | 'slow', workMs: number) => {
    const channel = await workers.createChannel();
    await channel.prefetch(1);
    await channel.consume('task_queue', (message) => {
      if (!message) return;
      setTimeout(() => {
        done[name].push(message.content.toString());
        channel.ack(message);
      }, workMs);
    });
  };
  await startWorker('slow', 60);
  await startWorker('fast', 2);
  const taskCount = 30;
  for (let index = 0; index < taskCount; index++) producerChannel.sendToQueue('task_queue', Buffer.from(`task ${index}`), { persistent: true });
  await waitUntil(() => done.fast.length + done.slow.length === taskCount, 'every task is done');
  const all = [...done.fast, ...done.slow].sort();
  assert.deepEqual(new Set(all).size, taskCount, 'no task was done twice');
  assert.ok(done.slow.length >= 1, 'the slow worker got some work');
  assert.ok(done.slow.length < done.fast.length / 2, `fair dispatch: slow did ${done.slow.length}, fast did ${done.fast.length}`);
  await producer.close();
  await workers.close();
});

test('publish/subscribe: every subscriber of a fanout gets every message in its server-named exclusive queue', async () => {
  const publisher = await ferry.connect();
  const publishChannel = await publisher.createChannel();
  await publishChannel.assertExchange('logs', 'fanout', { durable: false });
  const subscribers = await Promise.all([ferry.connect(), ferry.connect()]);
  const received: string[][] = [[], []];
  const queueNames: string[] = [];
  for (const [index, subscriber] of subscribers.entries()) {
    const channel = await subscriber.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    assert.match(queue, /^amq\.gen-/);
    queueNames.push(queue);
    await channel.bindQueue(queue, 'logs', '');
    await channel.consume(queue, (message) => message && received[index]!.push(message.content.toString()), { noAck: true });
  }
  assert.notEqual(queueNames[0], queueNames[1]);
  for (const line of ['one', 'two', 'three']) publishChannel.publish('logs', '', Buffer.from(line));
  await waitUntil(() => received[0]!.length === 3 && received[1]!.length === 3, 'both subscribers have three messages');
  assert.deepEqual(received, [['one', 'two', 'three'], ['one', 'two', 'three']]);
  // Exclusive queues go away with their connection.
  await subscribers[0]!.close();
  const checker = await publisher.createChannel();
  checker.on('error', () => undefined);
  await assert.rejects(checker.checkQueue(queueNames[0]!), /404/);
  await publisher.close();
  await subscribers[1]!.close();
});

async function collect(channel: Channel, queue: string, into: string[]): Promise<void> {
  await channel.consume(queue, (message) => message && into.push(message.fields.routingKey), { noAck: true });
}

test('routing: a direct exchange delivers by exact routing key, a queue bound twice gets both keys', async () => {
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertExchange('direct_logs', 'direct', { durable: false });
  const errors = (await channel.assertQueue('', { exclusive: true })).queue;
  const others = (await channel.assertQueue('', { exclusive: true })).queue;
  await channel.bindQueue(errors, 'direct_logs', 'error');
  await channel.bindQueue(others, 'direct_logs', 'info');
  await channel.bindQueue(others, 'direct_logs', 'warning');
  const errorKeys: string[] = [];
  const otherKeys: string[] = [];
  await collect(channel, errors, errorKeys);
  await collect(channel, others, otherKeys);
  for (const severity of ['info', 'warning', 'error', 'debug', 'error']) channel.publish('direct_logs', severity, Buffer.from(severity));
  await waitUntil(() => errorKeys.length === 2 && otherKeys.length === 2, 'both queues have their messages');
  await delay(50);
  assert.deepEqual(errorKeys, ['error', 'error']);
  assert.deepEqual(otherKeys, ['info', 'warning']);
  await connection.close();
});

test('topics: * matches one word, # zero or more, and a message matching two bindings arrives once', async () => {
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertExchange('topic_logs', 'topic', { durable: false });
  const first = (await channel.assertQueue('', { exclusive: true })).queue;
  const second = (await channel.assertQueue('', { exclusive: true })).queue;
  await channel.bindQueue(first, 'topic_logs', '*.orange.*');
  await channel.bindQueue(second, 'topic_logs', '*.*.rabbit');
  await channel.bindQueue(second, 'topic_logs', 'lazy.#');
  const firstKeys: string[] = [];
  const secondKeys: string[] = [];
  await collect(channel, first, firstKeys);
  await collect(channel, second, secondKeys);
  const keys = [
    'quick.orange.rabbit',
    'lazy.orange.elephant',
    'quick.orange.fox',
    'lazy.brown.fox',
    'lazy.pink.rabbit',
    'quick.brown.fox',
    'orange',
    'quick.orange.male.rabbit',
    'lazy.orange.male.rabbit',
    'lazy',
  ];
  for (const key of keys) channel.publish('topic_logs', key, Buffer.from(key));
  await waitUntil(() => firstKeys.length === 3 && secondKeys.length === 6, 'both queues have their messages');
  await delay(50);
  assert.deepEqual(firstKeys, ['quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox']);
  assert.deepEqual(secondKeys, ['quick.orange.rabbit', 'lazy.orange.elephant', 'lazy.brown.fox', 'lazy.pink.rabbit', 'lazy.orange.male.rabbit', 'lazy']);
  await connection.close();
});

function fibonacci(n: number): number {
  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);
}

async function startRpcServer(queue: string): Promise<() => Promise<void>> {
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { durable: false });
  await channel.prefetch(1);
  await channel.consume(queue, (message) => {
    if (!message) return;
    const n = Number(message.content.toString());
    channel.sendToQueue(message.properties.replyTo as string, Buffer.from(String(fibonacci(n))), { correlationId: message.properties.correlationId as string });
    channel.ack(message);
  });
  return () => connection.close();
}

test('RPC: replies come back on the reply queue and match their requests by correlation id', async () => {
  const stop = await startRpcServer('rpc_queue');
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  const { queue: replyQueue } = await channel.assertQueue('', { exclusive: true });
  const answers = new Map<string, string>();
  await channel.consume(replyQueue, (message) => message && answers.set(message.properties.correlationId as string, message.content.toString()), { noAck: true });
  const inputs = [1, 5, 10, 15, 20];
  for (const n of inputs) channel.sendToQueue('rpc_queue', Buffer.from(String(n)), { correlationId: `request-${n}`, replyTo: replyQueue });
  await waitUntil(() => answers.size === inputs.length, 'every request is answered');
  for (const n of inputs) assert.equal(answers.get(`request-${n}`), String(fibonacci(n)));
  await connection.close();
  await stop();
});

test('RPC with direct reply-to: the reply reaches the requester without a reply queue', async () => {
  const stop = await startRpcServer('rpc_direct');
  const connection = await ferry.connect();
  const channel = await connection.createChannel();
  const replies: ConsumeMessage[] = [];
  await channel.consume('amq.rabbitmq.reply-to', (message) => message && replies.push(message), { noAck: true });
  channel.sendToQueue('rpc_direct', Buffer.from('7'), { correlationId: 'direct-7', replyTo: 'amq.rabbitmq.reply-to' });
  channel.sendToQueue('rpc_direct', Buffer.from('9'), { correlationId: 'direct-9', replyTo: 'amq.rabbitmq.reply-to' });
  await waitUntil(() => replies.length === 2, 'both replies arrive');
  const byId = new Map(replies.map((message) => [message.properties.correlationId as string, message.content.toString()]));
  assert.equal(byId.get('direct-7'), '13');
  assert.equal(byId.get('direct-9'), '34');
  assert.ok(replies.every((message) => message.fields.routingKey.startsWith('amq.rabbitmq.reply-to.')));
  await connection.close();
  await stop();
});

test('RPC with direct reply-to: the server sees a reply-to address unique to the requesting channel', async () => {
  const connection = await ferry.connect();
  const server = await connection.createChannel();
  await server.assertQueue('rpc_inspect', { durable: false });
  const seen: string[] = [];
  await server.consume('rpc_inspect', (message) => message && seen.push(message.properties.replyTo as string), { noAck: true });
  const first = await connection.createChannel();
  const second = await connection.createChannel();
  for (const channel of [first, second]) {
    await channel.consume('amq.rabbitmq.reply-to', () => undefined, { noAck: true });
    channel.sendToQueue('rpc_inspect', Buffer.from('x'), { replyTo: 'amq.rabbitmq.reply-to' });
  }
  await waitUntil(() => seen.length === 2, 'both requests arrive');
  for (const replyTo of seen) assert.match(replyTo, /^amq\.rabbitmq\.reply-to\.\S+/);
  assert.notEqual(seen[0], seen[1]);
  // A responder may check the address first: declared passively, it is there (0 messages, 1 consumer), as in RabbitMQ.
  for (const name of ['amq.rabbitmq.reply-to', seen[0]!]) {
    const found = await server.checkQueue(name);
    assert.deepEqual([found.queue, found.messageCount, found.consumerCount], [name, 0, 1]);
  }
  await first.close();
  const gone = await connection.createChannel();
  gone.on('error', () => undefined);
  await assert.rejects(gone.checkQueue(seen[0]!), /404/, 'the address of a closed requester is gone');
  await connection.close();
});

test('publisher confirms: 1,000 messages in batches of 100 are all confirmed and all stored', async () => {
  const connection = await ferry.connect();
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue('confirmed', { durable: true });
  let acks = 0;
  let nacks = 0;
  for (let batch = 0; batch < 10; batch++) {
    for (let index = 0; index < 100; index++) {
      channel.sendToQueue('confirmed', Buffer.from(`m${batch * 100 + index}`), { persistent: true }, (error) => (error ? nacks++ : acks++));
    }
    await channel.waitForConfirms();
    assert.equal(acks, (batch + 1) * 100, `after batch ${batch}`);
  }
  assert.equal(nacks, 0);
  const { messageCount } = await channel.checkQueue('confirmed');
  assert.equal(messageCount, 1_000);
  await connection.close();
});
