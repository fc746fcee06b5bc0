import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { segment, startTestAdmin, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;
const binder = { user: 'binder', password: 'pw' };

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser(binder.user, binder.password, { tags: ['management'] });
  // Reads (binds from) exchange "logs" only, writes (binds to) queue "mine" only.
  await broker.core.access.setPermissions(binder.user, '/', { configure: '', write: 'mine', read: 'logs' });
  await broker.declareExchange('logs', { type: 'topic' });
  await broker.declareExchange('audit', { type: 'headers' });
  await broker.declareQueue('mine');
  await broker.declareQueue('theirs');
  admin = await startTestAdmin(broker.core);
});

after(async () => {
  await admin.close();
  await broker.close();
});

test('POST creates a queue binding (201 with its location); GET lists and shows it; DELETE removes it', async () => {
  const created = await admin.request('POST', '/api/bindings/%2F/e/logs/q/theirs', { body: { routing_key: 'app.#' } });
  assert.equal(created.status, 201);
  assert.equal(created.body.properties_key, 'app.#');
  assert.equal(created.headers.get('location'), `/api/bindings/%2F/e/logs/q/theirs/${segment('app.#')}`);
  assert.deepEqual(broker.vhost().router.bindingsTo({ kind: 'queue', name: 'theirs' }).map((binding) => binding.routingKey), ['app.#']);
  const listed = await admin.get('/api/bindings/%2F/e/logs/q/theirs');
  assert.deepEqual(listed, [{ vhost: '/', source: 'logs', destination: 'theirs', destination_type: 'queue', routing_key: 'app.#', arguments: {}, properties_key: 'app.#' }]);
  assert.equal((await admin.get(`/api/bindings/%2F/e/logs/q/theirs/${segment('app.#')}`)).routing_key, 'app.#');
  assert.equal((await admin.request('DELETE', `/api/bindings/%2F/e/logs/q/theirs/${segment('app.#')}`)).status, 204);
  assert.deepEqual(await admin.get('/api/bindings/%2F/e/logs/q/theirs'), []);
});

test('a binding with arguments and an empty routing key gets a distinct properties key', async () => {
  const plain = await admin.request('POST', '/api/bindings/%2F/e/audit/q/theirs', { body: {} });
  assert.equal(plain.body.properties_key, '~');
  const matching = await admin.request('POST', '/api/bindings/%2F/e/audit/q/theirs', { body: { arguments: { 'x-match': 'any', kind: 'login' } } });
  assert.match(matching.body.properties_key, /^~.+/);
  assert.notEqual(matching.body.properties_key, '~');
  const bindings = await admin.get('/api/bindings/%2F/e/audit/q/theirs');
  assert.equal(bindings.length, 2);
  assert.equal((await admin.request('DELETE', `/api/bindings/%2F/e/audit/q/theirs/${segment(matching.body.properties_key)}`)).status, 204);
  assert.equal((await admin.request('DELETE', '/api/bindings/%2F/e/audit/q/theirs/~')).status, 204);
  assert.deepEqual(await admin.get('/api/bindings/%2F/e/audit/q/theirs'), []);
});

test('exchange-to-exchange bindings work the same way under /e/{source}/e/{destination}', async () => {
  const created = await admin.request('POST', '/api/bindings/%2F/e/logs/e/audit', { body: { routing_key: 'audit.*' } });
  assert.equal(created.status, 201);
  assert.equal(created.body.destination_type, 'exchange');
  assert.equal((await admin.get('/api/bindings/%2F/e/logs/e/audit')).length, 1);
  assert.equal((await admin.request('DELETE', '/api/bindings/%2F/e/logs/e/audit/audit.*')).status, 204);
});

test('GET /api/bindings lists every binding, per vhost too', async () => {
  await broker.bind('logs', 'mine', 'x');
  const all = await admin.get('/api/bindings');
  assert.ok(all.some((binding: { source: string; destination: string }) => binding.source === 'logs' && binding.destination === 'mine'));
  assert.equal((await admin.get('/api/bindings/%2F')).length, all.length);
  assert.equal((await admin.request('GET', '/api/bindings/nowhere')).code, 'VHOST_NOT_FOUND');
  await broker.unbind('logs', 'mine', 'x');
});

test('binding errors: missing exchange or queue, unknown binding, bad pattern, bad arguments, default exchange', async () => {
  assert.equal((await admin.request('POST', '/api/bindings/%2F/e/absent/q/theirs', { body: {} })).code, 'EXCHANGE_NOT_FOUND');
  assert.equal((await admin.request('POST', '/api/bindings/%2F/e/logs/q/absent', { body: {} })).code, 'QUEUE_NOT_FOUND');
  assert.equal((await admin.request('POST', '/api/bindings/%2F/e/logs/e/absent', { body: {} })).code, 'EXCHANGE_NOT_FOUND');
  const unknown = await admin.request('DELETE', '/api/bindings/%2F/e/logs/q/theirs/nothing');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.code, 'BINDING_NOT_FOUND');
  assert.equal((await admin.request('GET', '/api/bindings/%2F/e/logs/q/theirs/nothing')).code, 'BINDING_NOT_FOUND');
  await broker.declareExchange('mqtt', { type: 'topic', topicDialect: 'mqtt' });
  const pattern = await admin.request('POST', '/api/bindings/%2F/e/mqtt/q/theirs', { body: { routing_key: 'a/#/b' } });
  assert.equal(pattern.status, 400);
  assert.equal(pattern.code, 'INVALID_TOPIC_PATTERN');
  const headers = await admin.request('POST', '/api/bindings/%2F/e/audit/q/theirs', { body: { arguments: { 'x-match': 'some' } } });
  assert.equal(headers.code, 'INVALID_BINDING_ARGUMENTS');
  const defaultExchange = await admin.request('POST', '/api/bindings/%2F/e/amq.default/q/theirs', { body: {} });
  assert.equal(defaultExchange.status, 403);
  assert.equal(defaultExchange.code, 'DEFAULT_EXCHANGE_RESERVED');
  assert.equal((await admin.request('POST', '/api/bindings/%2F/e/logs/q/theirs', { body: { routing_key: 5 } })).code, 'INVALID_REQUEST');
  await broker.deleteExchange('mqtt');
});

test('binding needs read on the source and write on the destination', async () => {
  assert.equal((await admin.request('POST', '/api/bindings/%2F/e/logs/q/mine', { body: { routing_key: 'ok' }, login: binder })).status, 201);
  assert.equal((await admin.request('POST', '/api/bindings/%2F/e/logs/q/theirs', { body: {}, login: binder })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('POST', '/api/bindings/%2F/e/audit/q/mine', { body: {}, login: binder })).code, 'ACCESS_REFUSED');
  await broker.bind('audit', 'theirs');
  assert.equal((await admin.request('DELETE', '/api/bindings/%2F/e/audit/q/theirs/~', { login: binder })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('DELETE', '/api/bindings/%2F/e/logs/q/mine/ok', { login: binder })).status, 204);
  await broker.unbind('audit', 'theirs');
});
