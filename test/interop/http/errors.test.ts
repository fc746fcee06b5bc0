import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTestServer } from './http-test-server.js';

let server: HttpTestServer;
const reader = { user: 'reader', password: 'r-secret' };
const writer = { user: 'writer', password: 'w-secret' };
const outsider = { user: 'outsider', password: 'o-secret' };

before(async () => {
  // message-bytes-max 1 KiB: the request limit is then its floor, 16 MiB.
  server = await HttpTestServer.start(['--message-bytes-max', '1024']);
  // None of them has a management tag: the messaging API asks for vhost permissions only.
  await server.createUser(reader, { configure: '', write: '', read: '.*' });
  await server.createUser(writer, { configure: '', write: '.*', read: '' });
  await server.createUser(outsider, null);
  await server.declareQueue('kept');
  await server.declareStream('history');
});

after(async () => {
  await server.close();
});

test('no credentials or a wrong password is 401 UNAUTHORIZED with a Basic challenge', async () => {
  const anonymous = await server.request('POST', '/api/queues/%2F/kept/pull', { login: null });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.code, 'UNAUTHORIZED');
  assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic/);
  const wrong = await server.request('POST', '/api/exchanges/%2F/amq.default/messages', { login: { user: 'reader', password: 'nope' }, json: { routing_key: 'kept', payload: 'x' } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.code, 'UNAUTHORIZED');
});

test('users without a management tag use the API within their permissions; beyond them it is 403 ACCESS_REFUSED', async () => {
  const published = await server.request('POST', '/api/exchanges/%2F/amq.default/messages', { login: writer, json: { routing_key: 'kept', payload: 'by writer' } });
  assert.equal(published.status, 200);
  const pulled = await server.request('POST', '/api/queues/%2F/kept/pull', { login: reader });
  assert.equal(pulled.status, 200);
  assert.equal(pulled.body.messages[0].payload, 'by writer');
  await server.ok('POST', '/api/queues/%2F/kept/nack', { login: reader, json: { receipts: [pulled.body.messages[0].receipt] } });

  const cases: Array<[string, string, Parameters<HttpTestServer['request']>[2]]> = [
    ['POST', '/api/exchanges/%2F/amq.default/messages', { login: reader, json: { routing_key: 'kept', payload: 'x' } }],
    ['POST', '/api/streams/%2F/history/messages', { login: reader, json: { payload: 'x' } }],
    ['POST', '/api/queues/%2F/kept/pull', { login: writer }],
    ['GET', '/api/streams/%2F/history/read', { login: writer }],
    ['GET', '/api/streams/%2F/history/subscribe', { login: writer }],
    ['GET', '/api/queues/%2F/kept/subscribe', { login: outsider }],
    ['POST', '/api/queues/%2F/kept/pull', { login: outsider }],
  ];
  for (const [method, path, options] of cases) {
    const answer = await server.request(method, path, options);
    assert.equal(answer.status, 403, `${method} ${path} as ${options?.login?.user}`);
    assert.equal(answer.code, 'ACCESS_REFUSED');
  }
  await assert.rejects(server.webSocket('/api/queues/%2F/kept/subscribe', { login: writer }), (error: any) => error.status === 403);
  // The management API itself still wants a tag.
  assert.equal((await server.request('GET', '/api/queues', { login: reader })).status, 403);
});

test('a missing vhost, exchange, queue or stream is 404 with its own code', async () => {
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', '/api/exchanges/nowhere/amq.default/messages', { routing_key: 'x', payload: 'x' }, 'VHOST_NOT_FOUND'],
    ['POST', '/api/exchanges/%2F/no-exchange/messages', { routing_key: 'x', payload: 'x' }, 'EXCHANGE_NOT_FOUND'],
    ['POST', '/api/queues/%2F/no-queue/pull', undefined, 'QUEUE_NOT_FOUND'],
    ['POST', '/api/queues/%2F/no-queue/ack', { receipts: ['1.1.AAAAAAAAAAAAAAAA'] }, 'QUEUE_NOT_FOUND'],
    ['POST', '/api/streams/%2F/no-stream/messages', { payload: 'x' }, 'STREAM_NOT_FOUND'],
    ['GET', '/api/streams/%2F/no-stream/read', undefined, 'STREAM_NOT_FOUND'],
    ['GET', '/api/streams/%2F/kept/read', undefined, 'STREAM_NOT_FOUND'],
    ['POST', '/api/queues/%2F/history/pull', undefined, 'QUEUE_NOT_FOUND'],
    ['GET', '/api/queues/%2F/kept/no-such-route', undefined, 'NOT_FOUND'],
  ];
  for (const [method, path, json, code] of cases) {
    const answer = await server.request(method, path, json === undefined ? {} : { json });
    assert.equal(answer.status, 404, `${method} ${path}`);
    assert.equal(answer.code, code, `${method} ${path}`);
  }
});

test('bad input is 400 naming what is wrong, never a crash', async () => {
  const publish = (options: Parameters<HttpTestServer['request']>[2]) => server.request('POST', '/api/exchanges/%2F/amq.default/messages', options);
  const malformed = await publish({ raw: '{"routing_key": "kept", ', contentType: 'application/json' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.code, 'INVALID_REQUEST');
  const empty = await publish({ raw: '', contentType: 'application/json' });
  assert.equal(empty.code, 'INVALID_REQUEST');
  const unknownField = await publish({ json: { routing_key: 'kept', payload: 'x', colour: 'blue' } });
  assert.equal(unknownField.status, 400);
  assert.match(unknownField.body.error.message, /additional properties \(colour\)/);
  const wrongType = await publish({ json: { messages: [{ routing_key: 'kept', payload: 7 }] } });
  assert.match(wrongType.body.error.message, /body\/messages\/0\/payload must be string/);
  const emptyBatch = await publish({ json: { messages: [] } });
  assert.equal(emptyBatch.code, 'INVALID_REQUEST');
  const notBase64 = await publish({ json: { routing_key: 'kept', payload: 'not base64!', payload_encoding: 'base64' } });
  assert.equal(notBase64.status, 400);
  assert.equal(notBase64.code, 'INVALID_ARGUMENT');
  const poisoned = await publish({ raw: '{"routing_key":"kept","payload":"x","__proto__":{"polluted":true}}', contentType: 'application/json' });
  assert.equal(poisoned.status, 400);
  const badQuery = await server.request('POST', '/api/exchanges/%2F/amq.default/messages?priority=300', { raw: 'x', contentType: 'text/plain' });
  assert.equal(badQuery.code, 'INVALID_REQUEST');
  const badAck = await server.request('POST', '/api/queues/%2F/kept/ack', { json: { receipts: 'all' } });
  assert.equal(badAck.code, 'INVALID_REQUEST');
  const noReceipts = await server.request('POST', '/api/queues/%2F/kept/ack', { json: {} });
  assert.equal(noReceipts.code, 'INVALID_REQUEST');
});

test('a body over the request limit is 413 REQUEST_TOO_LARGE; a message over message-bytes-max is 413 MESSAGE_TOO_LARGE', async () => {
  const huge = await server.request('POST', '/api/exchanges/%2F/amq.default/messages?routing_key=kept', { raw: new Uint8Array(17 * 1024 * 1024), contentType: 'application/octet-stream' });
  assert.equal(huge.status, 413);
  assert.equal(huge.code, 'REQUEST_TOO_LARGE');
  const large = await server.request('POST', '/api/streams/%2F/history/messages', { json: { payload: 'y'.repeat(1025) } });
  assert.equal(large.status, 413);
  assert.equal(large.code, 'MESSAGE_TOO_LARGE');
});

test('after all the refused requests the broker still answers and every confirmed message is there', async () => {
  await server.declareQueue('ledger');
  for (let index = 0; index < 3; index++) await server.ok('POST', '/api/exchanges/%2F/amq.default/messages', { json: { routing_key: 'ledger', payload: `entry ${index}` } });
  // A burst of refused requests of every kind in between.
  await Promise.all([
    server.request('POST', '/api/queues/%2F/ledger/ack', { json: { receipts: ['garbage'] } }),
    server.request('POST', '/api/queues/%2F/ledger/pull', { login: { user: 'guest', password: 'wrong' } }),
    server.request('POST', '/api/exchanges/%2F/amq.default/messages', { raw: '{', contentType: 'application/json' }),
    server.request('GET', '/api/streams/%2F/ledger/read'),
    server.request('POST', '/api/queues/%2F/ledger/pull?max=-1'),
  ]);
  const pulled = await server.ok('POST', '/api/queues/%2F/ledger/pull?max=10');
  assert.deepEqual(pulled.messages.map((message: any) => message.payload), ['entry 0', 'entry 1', 'entry 2']);
  assert.equal((await server.request('GET', '/healthz')).status, 200);
});

test('while a resource alarm blocks publishers, publishing is 503 RESOURCE_ALARM and reading still works', async () => {
  const blocked = await HttpTestServer.start(['--memory-high-watermark-bytes', '1']);
  try {
    await blocked.declareQueue('q');
    const answer = await blocked.request('POST', '/api/exchanges/%2F/amq.default/messages', { json: { routing_key: 'q', payload: 'x' } });
    assert.equal(answer.status, 503);
    assert.equal(answer.code, 'RESOURCE_ALARM');
    await blocked.declareStream('s');
    assert.equal((await blocked.request('POST', '/api/streams/%2F/s/messages', { json: { payload: 'x' } })).code, 'RESOURCE_ALARM');
    assert.equal((await blocked.request('POST', '/api/queues/%2F/q/pull')).status, 200);
  } finally {
    await blocked.close();
  }
});
