import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '../lib/ferry-error.js';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { startTestAdmin, type TestAdmin } from './admin-test-client.js';
import { parseDefinitions } from './definitions-document.js';

let broker: Broker;
let admin: TestAdmin;

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  admin = await startTestAdmin(broker.core);
});

after(async () => {
  await admin.close();
  await broker.close();
});

/** A topology with one of everything. */
async function buildTopology(target: Broker): Promise<void> {
  await target.core.declareVhost('shop');
  await target.core.access.putUser('app', 'app-password', { tags: ['management'] });
  await target.core.access.setPermissions('app', 'shop', { configure: '^app-', write: '.*', read: '.*' });
  await target.declareExchange('orders', { type: 'topic', alternateExchange: 'lost' }, { vhost: 'shop' });
  await target.declareExchange('lost', { type: 'fanout', internal: true }, { vhost: 'shop' });
  await target.declareExchange('audit', { type: 'headers', durable: false }, { vhost: 'shop' });
  await target.declareQueue('orders-eu', { maxLength: 1_000, deadLetterExchange: 'lost', messageTtlMs: 60_000 }, { vhost: 'shop' });
  await target.declareQueue('unrouted', {}, { vhost: 'shop' });
  await target.declareQueue('orders-quorum', { queueType: 'quorum', deliveryLimit: 21 }, { vhost: 'shop' });
  await target.declareQueue('scratch', { durable: false }, { vhost: 'shop' });
  await target.bind('orders', 'orders-eu', 'order.eu.*', { vhost: 'shop' });
  await target.bind('lost', 'unrouted', '', { vhost: 'shop' });
  await target.bind('orders', 'audit', '#', { vhost: 'shop', destinationKind: 'exchange' });
  await target.bind('audit', 'scratch', '', { vhost: 'shop', arguments: { 'x-match': 'any', level: 'error' } });
  await target.vhost('shop').declareQueue({ name: 'connection-owned', exclusiveOwner: 'tcp-1', durable: false });
  await target.declareStream('events', { partitions: 3, retentionMs: 86_400_000, compaction: 'key' }, { vhost: 'shop' });
  await target.bind('orders', 'events', 'order.#', { vhost: 'shop' });
}

test('GET exports vhosts, users with hashes, permissions, exchanges, queues, streams and bindings, without built-in or exclusive ones', async () => {
  await buildTopology(broker);
  const answer = await admin.request('GET', '/api/definitions');
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get('content-disposition') ?? '', /attachment/);
  const document = answer.body;
  assert.equal(document.ferry_version, 'test');
  assert.deepEqual(document.vhosts, [{ name: '/' }, { name: 'shop' }]);
  const app = document.users.find((user: { name: string }) => user.name === 'app');
  assert.equal(app.password_hash, testPasswordHasher.hash('app-password'));
  assert.deepEqual(app.tags, ['management']);
  assert.ok(document.permissions.some((entry: { user: string; vhost: string }) => entry.user === 'app' && entry.vhost === 'shop'));
  assert.deepEqual(document.exchanges.map((exchange: { name: string }) => exchange.name).sort(), ['audit', 'lost', 'orders']);
  const orders = document.exchanges.find((exchange: { name: string }) => exchange.name === 'orders');
  assert.deepEqual(orders, { vhost: 'shop', name: 'orders', type: 'topic', durable: true, auto_delete: false, internal: false, alternate_exchange: 'lost', topic_dialect: 'amqp' });
  assert.deepEqual(document.queues.map((queue: { name: string }) => queue.name).sort(), ['orders-eu', 'orders-quorum', 'scratch', 'unrouted']);
  assert.deepEqual(document.queues.find((queue: { name: string }) => queue.name === 'orders-quorum').policies, { delivery_limit: 21, overflow: 'drop-head', queue_type: 'quorum', single_active_consumer: false, visibility_timeout_ms: 30_000 });
  const eu = document.queues.find((queue: { name: string }) => queue.name === 'orders-eu');
  assert.equal(eu.policies.max_length, 1_000);
  assert.equal(eu.policies.dead_letter_exchange, 'lost');
  assert.deepEqual(document.streams, [{ vhost: 'shop', name: 'events', partitions: 3, durable: true, retention_ms: 86_400_000, compaction: 'key' }]);
  assert.equal(document.bindings.length, 5);
  assert.ok(document.bindings.some((binding: { destination: string; destination_type: string }) => binding.destination === 'events' && binding.destination_type === 'stream'));
});

test('a document exported from one broker recreates the topology in another, and importing it twice is harmless', async () => {
  const exported = await admin.get('/api/definitions');
  const target = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  const targetAdmin = await startTestAdmin(target.core);
  try {
    const first = await targetAdmin.request('POST', '/api/definitions', { body: exported });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.imported, { vhosts: 2, users: 2, permissions: 2, exchanges: 3, queues: 4, streams: 1, bindings: 5 });
    assert.equal((await targetAdmin.request('POST', '/api/definitions', { body: exported })).status, 200);
    const again = await targetAdmin.get('/api/definitions');
    assert.deepEqual({ ...again, ferry_version: 'test' }, exported);
    const shop = target.vhost('shop');
    assert.equal(shop.queue('orders-eu').config.maxLength, 1_000);
    assert.equal(shop.queue('orders-quorum').config.queueType, 'quorum', 'a quorum queue stays one');
    assert.deepEqual(await target.publish('orders', { routingKey: 'order.eu.1', body: 'x', vhost: 'shop' }), { routed: true, rejectedBy: [] });
    assert.equal(shop.queue('orders-eu').messageCount(), 1);
    assert.equal(shop.stream('events').partitionCount(), 3, 'the stream is recreated with its partitions');
    assert.equal(shop.stream('events').messageCount(), 1, 'and its binding routes into it');
    assert.equal((await targetAdmin.request('GET', '/api/whoami', { login: { user: 'app', password: 'app-password' } })).status, 200, 'the imported hash logs in');
  } finally {
    await targetAdmin.close();
    await target.close();
  }
});

test('a plain password in a document is hashed on import', async () => {
  const answer = await admin.request('POST', '/api/definitions', { body: { users: [{ name: 'plain', password: 'pw', tags: ['administrator'] }] } });
  assert.equal(answer.status, 200);
  assert.deepEqual(await admin.get('/api/whoami', { login: { user: 'plain', password: 'pw' } }), { name: 'plain', tags: ['administrator'] });
});

test('an invalid document is refused with INVALID_DEFINITIONS naming the path, before anything is created', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [[], /document must be an object/],
    [{ queues: {} }, /queues must be a list/],
    [{ policies: [] }, /policies is not a definitions list/],
    [{ queues: [{ vhost: '/', name: 'q', policies: { max_length: -1 } }] }, /queues\[0\]\.policies\.max_length must be a whole number/],
    [{ queues: [{ vhost: '/', name: 'q', arguments: {} }] }, /queues\[0\]\.arguments is not a field of queues/],
    [{ exchanges: [{ vhost: '/', name: 'e' }] }, /exchanges\[0\]\.type is required/],
    [{ exchanges: [{ vhost: '/', name: 'e', type: 'x-delayed' }] }, /exchanges\[0\]\.type must be one of/],
    [{ users: [{ name: 'u' }] }, /users\[0\] needs password or password_hash/],
    [{ bindings: [{ vhost: '/', source: 's', destination: 'd', destination_type: 'topic' }] }, /destination_type must be one of/],
    [{ streams: [{ vhost: '/', name: 's', partitions: 0 }] }, /streams\[0\]\.partitions must be a whole number above 0/],
    [{ streams: [{ vhost: '/', name: 's', compaction: 'latest' }] }, /streams\[0\]\.compaction must be one of/],
  ];
  for (const [document, message] of cases) {
    const answer = await admin.request('POST', '/api/definitions', { body: document });
    assert.equal(answer.status, 400, JSON.stringify(document));
    assert.equal(answer.code, 'INVALID_DEFINITIONS');
    assert.match(answer.body.error.message, message);
  }
  assert.throws(() => parseDefinitions('text'), (error: unknown) => isFerryError(error, 'INVALID_DEFINITIONS'));
});

test('an import that conflicts stops at the entry, naming it, with the core code', async () => {
  const answer = await admin.request('POST', '/api/definitions', {
    body: {
      vhosts: [{ name: 'conflict' }],
      queues: [
        { vhost: 'conflict', name: 'q', policies: { max_length: 1 } },
        { vhost: 'conflict', name: 'q', policies: { max_length: 2 } },
      ],
    },
  });
  assert.equal(answer.status, 409);
  assert.equal(answer.code, 'PRECONDITION_FAILED');
  assert.match(answer.body.error.message, /definitions queues\[1\] q/);
  assert.ok(broker.core.vhostNames().includes('conflict'), 'what came before stays');
  const missing = await admin.request('POST', '/api/definitions', { body: { queues: [{ vhost: 'absent', name: 'q' }] } });
  assert.equal(missing.code, 'VHOST_NOT_FOUND');
});

test('definitions are for administrators only', async () => {
  await broker.core.access.putUser('viewer', 'pw', { tags: ['monitoring'] });
  const login = { user: 'viewer', password: 'pw' };
  assert.equal((await admin.request('GET', '/api/definitions', { login })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('POST', '/api/definitions', { body: {}, login })).code, 'ACCESS_REFUSED');
});
