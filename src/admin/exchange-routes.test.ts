import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { startTestAdmin, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;
const writer = { user: 'writer', password: 'pw' };

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser(writer.user, writer.password, { tags: ['management'] });
  await broker.core.access.setPermissions(writer.user, '/', { configure: '', write: 'allowed', read: '' });
  admin = await startTestAdmin(broker.core);
});

after(async () => {
  await admin.close();
  await broker.close();
});

test('GET lists every exchange of a vhost, the built-in ones included', async () => {
  const exchanges = await admin.get('/api/exchanges/%2F');
  const names = exchanges.map((exchange: { name: string }) => exchange.name);
  assert.deepEqual(names, ['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']);
  assert.equal(exchanges[0].type, 'direct');
  assert.equal(exchanges[0].durable, true);
  assert.equal((await admin.get('/api/exchanges')).length, 6);
  assert.equal((await admin.request('GET', '/api/exchanges/nowhere')).code, 'VHOST_NOT_FOUND');
});

test('PUT declares an exchange (201), again alike (200), differently (409); GET shows it', async () => {
  const created = await admin.request('PUT', '/api/exchanges/%2F/events', { body: { type: 'topic', topic_dialect: 'mqtt', alternate_exchange: 'lost', durable: false } });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body, {
    vhost: '/',
    name: 'events',
    type: 'topic',
    durable: false,
    auto_delete: false,
    internal: false,
    alternate_exchange: 'lost',
    topic_dialect: 'mqtt',
    bindings_from: 0,
  });
  assert.equal((await admin.request('PUT', '/api/exchanges/%2F/events', { body: { type: 'topic', topic_dialect: 'mqtt', alternate_exchange: 'lost', durable: false } })).status, 200);
  const mismatch = await admin.request('PUT', '/api/exchanges/%2F/events', { body: { type: 'fanout', durable: false } });
  assert.equal(mismatch.status, 409);
  assert.equal(mismatch.code, 'EXCHANGE_DECLARATION_MISMATCH');
  const shown = await admin.get('/api/exchanges/%2F/events');
  assert.equal(shown.topic_dialect, 'mqtt');
  await broker.deleteExchange('events');
});

test('PUT refuses an unknown type, a missing type, a dialect on a non-topic exchange and reserved names', async () => {
  const unknown = await admin.request('PUT', '/api/exchanges/%2F/x', { body: { type: 'random' } });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.code, 'UNKNOWN_EXCHANGE_TYPE');
  assert.equal((await admin.request('PUT', '/api/exchanges/%2F/x', { body: {} })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('PUT', '/api/exchanges/%2F/x', { body: { type: 'direct', topic_dialect: 'nats' } })).code, 'INVALID_ARGUMENT');
  const builtIn = await admin.request('PUT', '/api/exchanges/%2F/amq.custom', { body: { type: 'direct' } });
  assert.equal(builtIn.status, 403);
  assert.equal(builtIn.code, 'ACCESS_REFUSED');
  const defaultExchange = await admin.request('PUT', '/api/exchanges/%2F/amq.default', { body: { type: 'direct' } });
  assert.equal(defaultExchange.status, 403);
  assert.equal(defaultExchange.code, 'DEFAULT_EXCHANGE_RESERVED');
});

test('GET of a missing exchange is 404 EXCHANGE_NOT_FOUND; amq.default names the default exchange', async () => {
  assert.equal((await admin.request('GET', '/api/exchanges/%2F/absent')).code, 'EXCHANGE_NOT_FOUND');
  assert.equal((await admin.get('/api/exchanges/%2F/amq.default')).name, '');
});

test('DELETE removes an exchange (204); if_unused refuses while it has bindings; missing is 404', async () => {
  await broker.declareExchange('temporary', { type: 'fanout' });
  await broker.declareQueue('tq');
  await broker.bind('temporary', 'tq');
  const inUse = await admin.request('DELETE', '/api/exchanges/%2F/temporary?if_unused=true');
  assert.equal(inUse.status, 409);
  assert.equal(inUse.code, 'EXCHANGE_IN_USE');
  assert.equal((await admin.request('DELETE', '/api/exchanges/%2F/temporary')).status, 204);
  assert.equal(broker.vhost().router.getExchange('temporary'), undefined);
  assert.equal((await admin.request('DELETE', '/api/exchanges/%2F/temporary')).code, 'EXCHANGE_NOT_FOUND');
  assert.equal((await admin.request('DELETE', '/api/exchanges/%2F/amq.direct')).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('DELETE', '/api/exchanges/%2F/amq.default')).code, 'DEFAULT_EXCHANGE_RESERVED');
  await broker.deleteQueue('tq');
});

test('publish routes a test message with properties and headers, and says whether it was routed', async () => {
  await broker.declareExchange('orders', { type: 'direct' });
  await broker.declareQueue('eu');
  await broker.bind('orders', 'eu', 'eu');
  const answer = await admin.request('POST', '/api/exchanges/%2F/orders/publish', {
    body: {
      routing_key: 'eu',
      payload: 'eyJpZCI6MX0=',
      payload_encoding: 'base64',
      properties: { content_type: 'application/json', message_id: 'o-1', delivery_mode: 1, headers: { region: 'eu', attempt: 2 }, priority: 3 },
    },
  });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { routed: true, rejected_by: [] });
  const [delivery] = await broker.get('eu');
  assert.equal(new TextDecoder().decode(delivery!.message.body), '{"id":1}');
  assert.equal(delivery!.message.properties.contentType, 'application/json');
  assert.equal(delivery!.message.properties.messageId, 'o-1');
  assert.equal(delivery!.message.persistent, false);
  assert.deepEqual(delivery!.message.headers, { region: 'eu', attempt: 2 });
  const unroutable = await admin.request('POST', '/api/exchanges/%2F/orders/publish', { body: { routing_key: 'us', payload: 'x' } });
  assert.deepEqual(unroutable.body, { routed: false, rejected_by: [] });
  const viaDefault = await admin.request('POST', '/api/exchanges/%2F/amq.default/publish', { body: { routing_key: 'eu', payload: 'direct' } });
  assert.equal(viaDefault.body.routed, true);
  await broker.deleteQueue('eu');
  await broker.deleteExchange('orders');
});

test('publish reports queues that refused the message', async () => {
  await broker.declareQueue('full', { maxLength: 0, overflow: 'reject-publish' });
  const answer = await admin.request('POST', '/api/exchanges/%2F/amq.default/publish', { body: { routing_key: 'full', payload: 'x' } });
  assert.deepEqual(answer.body, { routed: true, rejected_by: ['full'] });
  await broker.deleteQueue('full');
});

test('publish errors: missing exchange, internal exchange, bad base64, missing fields, too large, no write permission', async () => {
  assert.equal((await admin.request('POST', '/api/exchanges/%2F/absent/publish', { body: { routing_key: '', payload: '' } })).code, 'EXCHANGE_NOT_FOUND');
  await broker.declareExchange('inside', { type: 'fanout', internal: true });
  const internal = await admin.request('POST', '/api/exchanges/%2F/inside/publish', { body: { routing_key: '', payload: 'x' } });
  assert.equal(internal.status, 403);
  assert.equal(internal.code, 'EXCHANGE_INTERNAL');
  assert.equal((await admin.request('POST', '/api/exchanges/%2F/amq.direct/publish', { body: { routing_key: '', payload: '!!', payload_encoding: 'base64' } })).code, 'INVALID_ARGUMENT');
  assert.equal((await admin.request('POST', '/api/exchanges/%2F/amq.direct/publish', { body: { payload: 'x' } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('POST', '/api/exchanges/%2F/amq.direct/publish', { body: { routing_key: '', payload: 'x', properties: { delivery_mode: 3 } } })).code, 'INVALID_REQUEST');
  const refused = await admin.request('POST', '/api/exchanges/%2F/amq.direct/publish', { body: { routing_key: '', payload: 'x' }, login: writer });
  assert.equal(refused.code, 'ACCESS_REFUSED');
  await broker.declareExchange('allowed', { type: 'fanout' });
  assert.equal((await admin.request('POST', '/api/exchanges/%2F/allowed/publish', { body: { routing_key: '', payload: 'x' }, login: writer })).status, 200);
  await broker.deleteExchange('inside');
  await broker.deleteExchange('allowed');
});

test('publish of a body larger than message-bytes-max is 413 MESSAGE_TOO_LARGE', async () => {
  const small = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, limits: { messageBytesMax: 10 } });
  const smallAdmin = await startTestAdmin(small.core);
  try {
    const answer = await smallAdmin.request('POST', '/api/exchanges/%2F/amq.default/publish', { body: { routing_key: 'q', payload: 'x'.repeat(11) } });
    assert.equal(answer.status, 413);
    assert.equal(answer.code, 'MESSAGE_TOO_LARGE');
  } finally {
    await smallAdmin.close();
    await small.close();
  }
});

test('publish is refused with 503 RESOURCE_ALARM while an alarm blocks publishers', async () => {
  let memoryUsedBytes = 0;
  const probe = { memoryUsedBytes: () => memoryUsedBytes, diskFreeBytes: async () => Number.MAX_SAFE_INTEGER };
  const alarmed = await Broker.start({ memory: true, passwordHasher: testPasswordHasher, resourceProbe: probe, alarms: { memoryHighWatermarkBytes: 100 } });
  const alarmedAdmin = await startTestAdmin(alarmed.core);
  try {
    memoryUsedBytes = 1_000;
    await alarmed.core.alarms.check();
    const answer = await alarmedAdmin.request('POST', '/api/exchanges/%2F/amq.default/publish', { body: { routing_key: 'q', payload: 'x' } });
    assert.equal(answer.status, 503);
    assert.equal(answer.code, 'RESOURCE_ALARM');
    assert.deepEqual((await alarmedAdmin.get('/api/overview')).alarms, ['memory']);
  } finally {
    memoryUsedBytes = 0;
    await alarmed.core.alarms.check();
    await alarmedAdmin.close();
    await alarmed.close();
  }
});

test('bindings/source and bindings/destination list bindings from and to an exchange', async () => {
  await broker.declareExchange('upstream', { type: 'fanout' });
  await broker.declareExchange('downstream', { type: 'fanout' });
  await broker.declareQueue('sink');
  await broker.bind('upstream', 'downstream', '', { destinationKind: 'exchange' });
  await broker.bind('downstream', 'sink');
  const source = await admin.get('/api/exchanges/%2F/downstream/bindings/source');
  assert.deepEqual(source.map((binding: { destination: string }) => binding.destination), ['sink']);
  const destination = await admin.get('/api/exchanges/%2F/downstream/bindings/destination');
  assert.deepEqual(destination.map((binding: { source: string; destination_type: string }) => [binding.source, binding.destination_type]), [['upstream', 'exchange']]);
  assert.equal((await admin.request('GET', '/api/exchanges/%2F/absent/bindings/source')).code, 'EXCHANGE_NOT_FOUND');
  await broker.deleteQueue('sink');
  await broker.deleteExchange('upstream');
  await broker.deleteExchange('downstream');
});
