import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { startTestAdmin, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;
let state = 'ready';

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser('admin', 'secret', { tags: ['administrator'] });
  await broker.core.access.putUser('nobody', 'secret', { tags: [] });
  admin = await startTestAdmin(broker.core, { readiness: () => state, requestBytesMax: 64 * 1024 });
});

after(async () => {
  await admin.close();
  await broker.close();
});

test('liveness, readiness and metrics answer without a login', async () => {
  const health = await admin.request('GET', '/healthz', { login: null });
  assert.equal(health.status, 200);
  assert.deepEqual(health.body, { status: 'ok' });
  assert.deepEqual((await admin.request('GET', '/readyz', { login: null })).body, { status: 'ready' });
  const metrics = await fetch(`${admin.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(await metrics.text(), /^nodejs_eventloop_lag_seconds /m);
  const head = await fetch(`${admin.url}/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200);
});

test('readiness is 503 with the state while the server is not ready, and asks clients to close', async () => {
  state = 'stopping';
  try {
    const answer = await admin.request('GET', '/readyz', { login: null });
    assert.equal(answer.status, 503);
    assert.deepEqual(answer.body, { status: 'stopping' });
    assert.equal(answer.headers.get('connection'), 'close');
    assert.equal((await admin.request('GET', '/healthz', { login: null })).status, 200, 'still alive');
  } finally {
    state = 'ready';
  }
});

test('an unknown path or method is NOT_FOUND as JSON', async () => {
  const missing = await admin.request('GET', '/nowhere');
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'NOT_FOUND');
  assert.match(missing.body.error.message, /GET \/nowhere/);
  assert.equal((await admin.request('POST', '/healthz', { login: null })).code, 'NOT_FOUND');
  assert.equal((await admin.request('GET', '/api/nothing-here')).code, 'NOT_FOUND');
});

test('the API refuses requests without credentials with 401 and a Basic challenge', async () => {
  const answer = await admin.request('GET', '/api/overview', { login: null });
  assert.equal(answer.status, 401);
  assert.equal(answer.code, 'UNAUTHORIZED');
  assert.match(answer.headers.get('www-authenticate') ?? '', /^Basic realm="Ferry"/);
  const malformed = await admin.request('GET', '/api/overview', { login: null, headers: { authorization: 'Bearer abc' } });
  assert.equal(malformed.code, 'UNAUTHORIZED');
});

test('a wrong password or an unknown user is 401 UNAUTHORIZED', async () => {
  assert.equal((await admin.request('GET', '/api/overview', { login: { user: 'guest', password: 'wrong' } })).code, 'UNAUTHORIZED');
  assert.equal((await admin.request('GET', '/api/overview', { login: { user: 'ghost', password: 'guest' } })).status, 401);
});

test('a user without a management tag is 403 ACCESS_REFUSED', async () => {
  const answer = await admin.request('GET', '/api/overview', { login: { user: 'nobody', password: 'secret' } });
  assert.equal(answer.status, 403);
  assert.equal(answer.code, 'ACCESS_REFUSED');
  assert.match(answer.body.error.message, /management tag/);
});

test('a remembered login is dropped when the user is deleted', async () => {
  await broker.core.access.putUser('temporary', 'pw', { tags: ['administrator'] });
  const login = { user: 'temporary', password: 'pw' };
  assert.equal((await admin.request('GET', '/api/whoami', { login })).status, 200);
  assert.equal((await admin.request('DELETE', '/api/users/temporary')).status, 204);
  assert.equal((await admin.request('GET', '/api/whoami', { login })).code, 'UNAUTHORIZED');
});

test('whoami names the user and its tags', async () => {
  assert.deepEqual(await admin.get('/api/whoami', { login: { user: 'admin', password: 'secret' } }), { name: 'admin', tags: ['administrator'] });
});

test('malformed JSON, a wrong content type and an oversized body are JSON errors', async () => {
  const malformed = await admin.request('PUT', '/api/queues/%2F/q', { rawBody: '{ "durable": ' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.code, 'INVALID_REQUEST');
  const text = await admin.request('PUT', '/api/queues/%2F/q', { rawBody: 'durable', contentType: 'text/plain' });
  assert.equal(text.status, 415);
  assert.equal(text.code, 'UNSUPPORTED_MEDIA_TYPE');
  const large = await admin.request('POST', '/api/exchanges/%2F/amq.default/publish', { body: { routing_key: 'q', payload: 'x'.repeat(100 * 1024) } });
  assert.equal(large.status, 413);
  assert.equal(large.code, 'REQUEST_TOO_LARGE');
});

test('an unknown field in a body is refused, naming it', async () => {
  const answer = await admin.request('PUT', '/api/queues/%2F/q', { body: { durable: true, colour: 'blue' } });
  assert.equal(answer.status, 400);
  assert.equal(answer.code, 'INVALID_REQUEST');
  assert.match(answer.body.error.message, /additional properties/);
});

test('the overview gives version, uptime, listeners, totals, rates and alarms', async () => {
  await broker.declareQueue('overview-q');
  await broker.publish('', { routingKey: 'overview-q', body: 'one' });
  const overview = await admin.get('/api/overview');
  assert.equal(overview.ferry_version, 'test');
  assert.equal(typeof overview.uptime_ms, 'number');
  assert.ok(overview.uptime_ms >= 0);
  assert.deepEqual(overview.listeners, []);
  assert.ok(overview.object_totals.queues >= 1);
  assert.equal(overview.object_totals.vhosts, 1);
  assert.ok(overview.queue_totals.messages_ready >= 1);
  assert.ok(overview.message_stats.publish >= 1);
  assert.equal(typeof overview.message_stats.publish_rate, 'number');
  assert.deepEqual(overview.alarms, []);
  await broker.deleteQueue('overview-q');
});
