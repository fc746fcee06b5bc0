import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { bodies, withCode, testPasswordHasher } from '../test-broker.js';

async function memoryBroker(): Promise<Broker> {
  return Broker.start({ memory: true, passwordHasher: testPasswordHasher, clock: new ManualClock() });
}

/** Bodies of every ready message of `queue`, pulled (and acked) in order. */
async function drain(broker: Broker, queue: string): Promise<string[]> {
  const deliveries = await broker.get(queue, { max: 1000, autoAck: true });
  return bodies(deliveries);
}

test('the default exchange delivers to the queue named by the routing key', async () => {
  const broker = await memoryBroker();
  await broker.declareQueue('orders');
  assert.deepEqual(await broker.publish('', { body: 'one', routingKey: 'orders' }), { routed: true, rejectedBy: [] });
  assert.deepEqual(await drain(broker, 'orders'), ['one']);
  await broker.close();
});

test('a message published to the default exchange with no queue of that name is unroutable', async () => {
  const broker = await memoryBroker();
  assert.deepEqual(await broker.publish('', { body: 'lost', routingKey: 'nobody' }), { routed: false, rejectedBy: [] });
  await broker.close();
});

test('a direct exchange delivers only to queues bound with the exact routing key', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('logs', { type: 'direct' });
  await broker.declareQueue('errors');
  await broker.declareQueue('infos');
  await broker.bind('logs', 'errors', 'error');
  await broker.bind('logs', 'infos', 'info');
  await broker.publish('logs', { body: 'e1', routingKey: 'error' });
  await broker.publish('logs', { body: 'i1', routingKey: 'info' });
  const unmatched = await broker.publish('logs', { body: 'w1', routingKey: 'warning' });
  assert.equal(unmatched.routed, false);
  assert.deepEqual(await drain(broker, 'errors'), ['e1']);
  assert.deepEqual(await drain(broker, 'infos'), ['i1']);
  await broker.close();
});

test('a fanout exchange delivers a copy to every bound queue whatever the routing key', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('news', { type: 'fanout' });
  for (const name of ['a', 'b', 'c']) {
    await broker.declareQueue(name);
    await broker.bind('news', name, name === 'a' ? 'ignored' : '');
  }
  await broker.publish('news', { body: 'hello', routingKey: 'anything' });
  for (const name of ['a', 'b', 'c']) assert.deepEqual(await drain(broker, name), ['hello'], name);
  await broker.close();
});

test('a topic exchange matches AMQP wildcards * (one word) and # (zero or more words)', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('events', { type: 'topic' });
  await broker.declareQueue('star');
  await broker.declareQueue('hash');
  await broker.bind('events', 'star', 'order.*.created');
  await broker.bind('events', 'hash', 'order.#');
  await broker.publish('events', { body: 'm1', routingKey: 'order.eu.created' });
  await broker.publish('events', { body: 'm2', routingKey: 'order.eu.de.created' });
  await broker.publish('events', { body: 'm3', routingKey: 'order' });
  const missed = await broker.publish('events', { body: 'm4', routingKey: 'invoice.eu.created' });
  assert.equal(missed.routed, false);
  assert.deepEqual(await drain(broker, 'star'), ['m1']);
  assert.deepEqual(await drain(broker, 'hash'), ['m1', 'm2', 'm3']);
  await broker.close();
});

test('a headers exchange routes by x-match all / any against message headers', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('by-headers', { type: 'headers' });
  await broker.declareQueue('all');
  await broker.declareQueue('any');
  await broker.bind('by-headers', 'all', '', { arguments: { 'x-match': 'all', format: 'pdf', type: 'report' } });
  await broker.bind('by-headers', 'any', '', { arguments: { 'x-match': 'any', format: 'pdf', type: 'report' } });
  await broker.publish('by-headers', { body: 'both', headers: { format: 'pdf', type: 'report' } });
  await broker.publish('by-headers', { body: 'one', headers: { format: 'pdf', type: 'log' } });
  const none = await broker.publish('by-headers', { body: 'none', headers: { format: 'zip' } });
  assert.equal(none.routed, false);
  assert.deepEqual(await drain(broker, 'all'), ['both']);
  assert.deepEqual(await drain(broker, 'any'), ['both', 'one']);
  await broker.close();
});

test('an exchange bound to an exchange forwards matching messages to its queues', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('front', { type: 'topic' });
  await broker.declareExchange('back', { type: 'fanout' });
  await broker.declareQueue('sink');
  await broker.bind('front', 'back', 'metrics.#', { destinationKind: 'exchange' });
  await broker.bind('back', 'sink');
  assert.equal((await broker.publish('front', { body: 'cpu', routingKey: 'metrics.cpu' })).routed, true);
  assert.equal((await broker.publish('front', { body: 'log', routingKey: 'logs.app' })).routed, false);
  assert.deepEqual(await drain(broker, 'sink'), ['cpu']);
  await broker.close();
});

test('a queue reached both directly and through another exchange gets one copy', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('front', { type: 'fanout' });
  await broker.declareExchange('back', { type: 'fanout' });
  await broker.declareQueue('sink');
  await broker.bind('front', 'back', '', { destinationKind: 'exchange' });
  await broker.bind('front', 'sink');
  await broker.bind('back', 'sink');
  await broker.publish('front', { body: 'once' });
  assert.deepEqual(await drain(broker, 'sink'), ['once']);
  await broker.close();
});

test('the alternate exchange receives what an exchange routes nowhere, and nothing else', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('unrouted', { type: 'fanout' });
  await broker.declareExchange('main', { type: 'direct', alternateExchange: 'unrouted' });
  await broker.declareQueue('known');
  await broker.declareQueue('lost-and-found');
  await broker.bind('main', 'known', 'k');
  await broker.bind('unrouted', 'lost-and-found');
  assert.equal((await broker.publish('main', { body: 'matched', routingKey: 'k' })).routed, true);
  assert.equal((await broker.publish('main', { body: 'stray', routingKey: 'other' })).routed, true);
  assert.deepEqual(await drain(broker, 'known'), ['matched']);
  assert.deepEqual(await drain(broker, 'lost-and-found'), ['stray']);
  await broker.close();
});

test('publishing to a missing exchange fails with EXCHANGE_NOT_FOUND', async () => {
  const broker = await memoryBroker();
  await assert.rejects(broker.publish('nope', { body: 'x' }), withCode('EXCHANGE_NOT_FOUND'));
  await broker.close();
});

test('a binding to a deleted queue is gone: the exchange no longer routes there', async () => {
  const broker = await memoryBroker();
  await broker.declareExchange('x', { type: 'fanout' });
  await broker.declareQueue('q');
  await broker.bind('x', 'q');
  await broker.deleteQueue('q');
  assert.equal((await broker.publish('x', { body: 'after' })).routed, false);
  await broker.declareQueue('q');
  assert.equal((await broker.publish('x', { body: 'again' })).routed, false, 'a new queue of the same name is not bound');
  await broker.close();
});

test('vhosts are isolated: the same names in two vhosts are different exchanges and queues', async () => {
  const broker = await memoryBroker();
  await broker.core.declareVhost('tenant');
  for (const vhost of ['/', 'tenant']) {
    await broker.declareExchange('events', { type: 'fanout' }, { vhost });
    await broker.declareQueue('inbox', {}, { vhost });
    await broker.bind('events', 'inbox', '', { vhost });
  }
  await broker.publish('events', { body: 'for-tenant', vhost: 'tenant' });
  await broker.publish('', { body: 'for-root', routingKey: 'inbox' });
  assert.deepEqual(bodies(await broker.get('inbox', { max: 10, vhost: 'tenant' })), ['for-tenant']);
  assert.deepEqual(bodies(await broker.get('inbox', { max: 10 })), ['for-root']);
  await assert.rejects(broker.publish('', { body: 'x', routingKey: 'inbox', vhost: 'missing' }), withCode('VHOST_NOT_FOUND'));
  await broker.close();
});
