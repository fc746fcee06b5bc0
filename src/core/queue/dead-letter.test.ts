import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { Inbox, bodies, deathRecords, testPasswordHasher } from '../test-broker.js';
import { decodeMessage, encodeEnvelope, encodeMessage } from '../message/message-codec.js';

async function setup(clock = new ManualClock()): Promise<Broker> {
  const broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock });
  await broker.declareExchange('dlx', { type: 'fanout' });
  await broker.declareQueue('dead');
  await broker.bind('dlx', 'dead');
  return broker;
}

test('x-death counts repeated deaths per queue and reason through a retry cycle, newest first', async () => {
  const clock = new ManualClock();
  const broker = await setup(clock);
  await broker.declareExchange('orders', { type: 'direct' });
  // work --rejected--> retry (TTL 100) --expired--> work, both through the default exchange.
  await broker.declareQueue('work', { deadLetterExchange: '', deadLetterRoutingKey: 'retry' });
  await broker.declareQueue('retry', { messageTtlMs: 100, deadLetterExchange: '', deadLetterRoutingKey: 'work' });
  await broker.bind('orders', 'work', 'new');
  await broker.publish('orders', { body: 'order-1', routingKey: 'new' });

  const [firstTry] = await broker.get('work');
  assert.deepEqual(deathRecords(firstTry!), []);
  await broker.nack(firstTry!, { requeue: false });
  assert.equal(broker.vhost().queue('retry').messageCount(), 1);
  clock.advance(100);
  const [secondTry] = await broker.get('work');
  assert.deepEqual(bodies([secondTry!]), ['order-1']);
  assert.deepEqual(
    deathRecords(secondTry!).map((death) => [death['queue'], death['reason'], death['count']]),
    [['retry', 'expired', 1], ['work', 'rejected', 1]],
  );

  await broker.nack(secondTry!, { requeue: false });
  const inRetry = await broker.get('retry');
  assert.deepEqual(
    deathRecords(inRetry[0]!).map((death) => [death['queue'], death['reason'], death['count']]),
    [['work', 'rejected', 2], ['retry', 'expired', 1]],
    'the work/rejected record moved to the front with count 2',
  );
  await broker.nack(inRetry, { requeue: true });
  clock.advance(100);
  const [thirdTry] = await broker.get('work');
  const deaths = deathRecords(thirdTry!);
  assert.deepEqual(
    deaths.map((death) => [death['queue'], death['reason'], death['count']]),
    [['retry', 'expired', 2], ['work', 'rejected', 2]],
  );
  // x-first-death-* name the very first death and never change.
  assert.equal(thirdTry!.message.headers['x-first-death-reason'], 'rejected');
  assert.equal(thirdTry!.message.headers['x-first-death-queue'], 'work');
  assert.equal(thirdTry!.message.headers['x-first-death-exchange'], 'orders');
  assert.deepEqual(deaths.find((death) => death['queue'] === 'work')?.['routing-keys'], ['work'], 'the key it had when it died the last time');
  await broker.close();
});

test('a dead letter keeps body, headers and properties (except expiration) and arrives through the dead-letter exchange', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { deadLetterExchange: 'dlx' });
  await broker.publish('', {
    body: 'payload',
    routingKey: 'jobs',
    headers: { tenant: 'acme' },
    properties: { messageId: 'id-1', correlationId: 'c-1', contentType: 'text/plain', expirationMs: 60_000 },
  });
  const [delivery] = await broker.get('jobs');
  await broker.nack(delivery!, { requeue: false });
  const [dead] = await broker.get('dead');
  assert.equal(dead!.message.exchange, 'dlx');
  assert.equal(dead!.message.routingKey, 'jobs');
  assert.equal(dead!.message.headers['tenant'], 'acme');
  assert.equal(dead!.message.properties.messageId, 'id-1');
  assert.equal(dead!.message.properties.correlationId, 'c-1');
  assert.equal(dead!.message.properties.contentType, 'text/plain');
  assert.equal(dead!.message.properties.expirationMs, undefined);
  assert.equal(dead!.redelivered, false, 'a dead letter is a new message in its new queue');
  await broker.close();
});

test('a dead-letter exchange may be internal: clients cannot publish to it, the broker can', async () => {
  const broker = await setup();
  await broker.declareExchange('hidden-dlx', { type: 'fanout', internal: true });
  await broker.declareQueue('hidden-dead');
  await broker.bind('hidden-dlx', 'hidden-dead');
  await broker.declareQueue('jobs', { deadLetterExchange: 'hidden-dlx' });
  await assert.rejects(broker.publish('hidden-dlx', { body: 'direct' }));
  await broker.publish('', { body: 'm1', routingKey: 'jobs' });
  const [delivery] = await broker.get('jobs');
  await broker.nack(delivery!, { requeue: false });
  assert.deepEqual(bodies(await broker.get('hidden-dead')), ['m1']);
  await broker.close();
});

test('a missing dead-letter exchange drops the message without failing the nack', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { deadLetterExchange: 'no-such-exchange' });
  await broker.publish('', { body: 'm1', routingKey: 'jobs' });
  const [delivery] = await broker.get('jobs');
  await broker.nack(delivery!, { requeue: false });
  assert.equal(queue.messageCount(), 0);
  assert.equal(queue.unsettledCount(), 0);
  await broker.close();
});

test('after deliveryLimit deliveries a requeued message goes to the dead-letter exchange with reason delivery-limit', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { deliveryLimit: 3, deadLetterExchange: 'dlx' });
  await broker.publish('', { body: 'poison', routingKey: 'jobs' });
  await broker.publish('', { body: 'fine', routingKey: 'jobs' });
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [delivery] = await broker.get('jobs');
    assert.deepEqual(bodies([delivery!]), ['poison'], `attempt ${attempt} gets the poison message first`);
    assert.equal(delivery!.deliveryCount, attempt);
    await broker.nack(delivery!, { requeue: true });
    assert.equal(broker.vhost().queue('dead').messageCount(), attempt === 3 ? 1 : 0);
  }
  assert.deepEqual(bodies(await broker.get('jobs', { max: 10 })), ['fine']);
  const [dead] = await broker.get('dead');
  assert.deepEqual(bodies([dead!]), ['poison']);
  assert.equal(deathRecords(dead!)[0]?.['reason'], 'delivery_limit');
  assert.equal(queue.counters.deadLettered, 1);
  await broker.close();
});

test('the delivery limit applies to push consumers that nack with requeue', async () => {
  const broker = await setup();
  await broker.declareQueue('jobs', { deliveryLimit: 2, deadLetterExchange: 'dlx' });
  const inbox = new Inbox();
  broker.consume('jobs', (delivery) => {
    inbox.onDelivery(delivery);
    void broker.nack(delivery, { requeue: true });
  });
  await broker.publish('', { body: 'poison', routingKey: 'jobs' });
  assert.deepEqual(inbox.deliveries.map((delivery) => delivery.deliveryCount), [1, 2]);
  assert.deepEqual(bodies(await broker.get('dead')), ['poison']);
  await broker.close();
});

test('a message over its delivery limit without a dead-letter exchange is dropped', async () => {
  const broker = await setup();
  const queue = await broker.declareQueue('jobs', { deliveryLimit: 1 });
  await broker.publish('', { body: 'poison', routingKey: 'jobs' });
  const [delivery] = await broker.get('jobs');
  await broker.nack(delivery!, { requeue: true });
  assert.equal(queue.messageCount(), 0);
  assert.deepEqual(await broker.get('jobs'), []);
  await broker.close();
});

test('a message dead-lettered into its own queue by a zero TTL does not spin the broker forever', async () => {
  // Run in a worker: the bug is an endless synchronous loop that only terminating the thread can stop.
  const { Worker } = await import('node:worker_threads');
  const brokerUrl = new URL('../../server/broker.js', import.meta.url).href;
  const clockUrl = new URL('../../platform/clock.js', import.meta.url).href;
  const worker = new Worker(
    `
    const { parentPort } = require('node:worker_threads');
    (async () => {
      const { Broker } = await import(${JSON.stringify(brokerUrl)});
      const { ManualClock } = await import(${JSON.stringify(clockUrl)});
      const clock = new ManualClock();
      const broker = await Broker.start({ memory: true, clock });
      const queue = await broker.declareQueue('loop', { messageTtlMs: 0, deadLetterExchange: '', deadLetterRoutingKey: 'loop' });
      await broker.publish('', { body: 'x', routingKey: 'loop' });
      clock.advance(1);
      parentPort.postMessage({ expired: queue.counters.expired, ready: queue.messageCount() });
    })();
    `,
    { eval: true },
  );
  const outcome = await new Promise<{ expired: number; ready: number } | 'hung'>((resolve, reject) => {
    const timer = setTimeout(() => resolve('hung'), 1_500);
    worker.once('message', (message) => {
      clearTimeout(timer);
      resolve(message);
    });
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.notEqual(outcome, 'hung', 'the broker thread never returned from clock.advance');
});

test('a dead letter of a message that came encoded (native publish) is stored with its x-death, not with the publisher\'s envelope', async () => {
  const broker = await setup();
  const vhost = broker.vhost();
  await broker.declareQueue('encoded-work', { deadLetterExchange: 'dlx' });
  const message = { routingKey: 'encoded-work', properties: { messageId: 'm-1', expirationMs: 60_000 }, headers: { origin: 'native' }, body: new Uint8Array([1]), persistent: true };
  vhost.publish('', message, { envelope: encodeEnvelope({ exchange: '', ...message }) });
  const [delivery] = await broker.get('encoded-work');
  await broker.nack(delivery!, { requeue: false });
  const [dead] = await broker.get('dead');
  assert.equal(dead!.message.envelope, undefined, 'the publisher\'s bytes describe the message as published');
  // What storage and native deliveries encode: the dead letter as it is now.
  const record = encodeMessage(dead!.message);
  const stored = decodeMessage({ offset: 0, timestampMs: 0, key: record.key ?? null, value: record.value, headers: record.headers ?? [] });
  assert.equal(deathRecords(stored).length, 1);
  assert.equal(stored.properties.expirationMs, undefined, 'a dead letter carries no expiration');
  assert.equal(stored.headers['origin'], 'native');
  await broker.close();
});

test('CC keys are in x-death routing-keys; a dead letter goes by them too, unless a dead-letter routing key replaces them all (CC then removed)', async () => {
  const broker = await setup();
  await broker.declareExchange('cc-dlx', { type: 'direct' });
  for (const [queue, key] of [['by-key', 'rk'], ['by-cc', 'cc1'], ['by-override', 'override']] as const) {
    await broker.declareQueue(queue);
    await broker.bind('cc-dlx', queue, key);
  }
  await broker.declareQueue('keep-keys', { deadLetterExchange: 'cc-dlx' });
  await broker.declareQueue('override-keys', { deadLetterExchange: 'cc-dlx', deadLetterRoutingKey: 'override' });
  for (const queue of ['keep-keys', 'override-keys']) {
    broker.vhost().publish('', { routingKey: queue, properties: {}, headers: { CC: ['cc1'] }, body: new Uint8Array([1]), persistent: false });
    const [delivery] = await broker.get(queue);
    await broker.nack(delivery!, { requeue: false });
  }
  const byKey = await broker.get('by-key', { max: 10 });
  const byCc = await broker.get('by-cc', { max: 10 });
  const byOverride = await broker.get('by-override', { max: 10 });
  assert.equal(byKey.length, 0, 'the original routing key was the queue name');
  assert.equal(byCc.length, 1, 'without an override the CC key still routes');
  assert.deepEqual(deathRecords(byCc[0]!)[0]?.['routing-keys'], ['keep-keys', 'cc1']);
  assert.deepEqual(byCc[0]!.message.headers['CC'], ['cc1']);
  assert.equal(byOverride.length, 1);
  assert.deepEqual(deathRecords(byOverride[0]!)[0]?.['routing-keys'], ['override-keys', 'cc1']);
  assert.equal(byOverride[0]!.message.headers['CC'], undefined, 'an override drops CC, as RabbitMQ does');
  await broker.close();
});

test('BCC keys route a dead letter by its original keys too, are not in x-death, are never delivered, and survive a restart', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'ferry-bcc-'));
  try {
    const open = () => Broker.start({ dataDir: directory, passwordHasher: testPasswordHasher });
    let broker = await open();
    await broker.declareExchange('bcc-dlx', { type: 'direct', durable: true });
    for (const [queue, key] of [['by-cc', 'cc1'], ['by-bcc', 'bcc1'], ['by-override', 'override']] as const) {
      await broker.declareQueue(queue, { durable: true });
      await broker.bind('bcc-dlx', queue, key);
    }
    await broker.declareQueue('keep-keys', { durable: true, deadLetterExchange: 'bcc-dlx' });
    await broker.declareQueue('override-keys', { durable: true, deadLetterExchange: 'bcc-dlx', deadLetterRoutingKey: 'override' });
    for (const queue of ['keep-keys', 'override-keys']) {
      await broker.vhost().publish('', { routingKey: queue, properties: {}, headers: { CC: ['cc1'] }, bccRoutingKeys: ['bcc1'], body: new Uint8Array([1]), persistent: true }).durable;
    }
    await broker.close();
    broker = await open();
    for (const queue of ['keep-keys', 'override-keys']) {
      const [delivery] = await broker.get(queue);
      assert.equal(delivery!.message.headers['BCC'], undefined);
      await broker.nack(delivery!, { requeue: false });
    }
    const byBcc = await broker.get('by-bcc', { max: 10 });
    assert.equal(byBcc.length, 1, 'the BCC key routes the dead letter (from the record, after a restart)');
    assert.deepEqual(deathRecords(byBcc[0]!)[0]?.['routing-keys'], ['keep-keys', 'cc1'], 'x-death lists the CC key, not the BCC one');
    assert.equal((await broker.get('by-cc', { max: 10 })).length, 1);
    assert.equal((await broker.get('by-override', { max: 10 })).length, 1, 'an override routes by itself alone');
    await broker.close();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
