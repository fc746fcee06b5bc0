import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTestServer } from './http-test-server.js';

let server: HttpTestServer;

before(async () => {
  server = await HttpTestServer.start(['--http-batch-messages-max', '3', '--message-bytes-max', '1024']);
});

after(async () => {
  await server.close();
});

/** Takes every ready message of a queue (acking them), as the pull route gives them. */
async function drain(queue: string): Promise<any[]> {
  const pulled = await server.ok('POST', `/api/queues/%2F/${queue}/pull?max=100`);
  if (pulled.messages.length > 0) await server.ok('POST', `/api/queues/%2F/${queue}/ack`, { json: { receipts: pulled.messages.map((message: any) => message.receipt) } });
  return pulled.messages;
}

test('a single JSON message is published through the default exchange and answered once confirmed', async () => {
  await server.declareQueue('single');
  const answer = await server.request('POST', '/api/exchanges/%2F/amq.default/messages', {
    json: { routing_key: 'single', payload: 'hello', properties: { message_id: 'm-1', headers: { tenant: 'acme' } } },
  });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { routed: true, rejected_by: [] });
  const [message] = await drain('single');
  assert.equal(message.payload, 'hello');
  assert.equal(message.properties.message_id, 'm-1');
  assert.deepEqual(message.properties.headers, { tenant: 'acme' });
  assert.equal(message.properties.delivery_mode, 2, 'persistent by default');
});

test('a batch is published in order and answered with one outcome per message, unroutable ones included', async () => {
  await server.declareQueue('batch');
  const answer = await server.request('POST', '/api/exchanges/%2F/amq.default/messages', {
    json: {
      messages: [
        { routing_key: 'batch', payload: 'one' },
        { routing_key: 'no-such-queue', payload: 'lost' },
        { routing_key: 'batch', payload: '//4=', payload_encoding: 'base64' },
      ],
    },
  });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body.results, [
    { routed: true, rejected_by: [] },
    { routed: false, rejected_by: [] },
    { routed: true, rejected_by: [] },
  ]);
  const messages = await drain('batch');
  assert.deepEqual(
    messages.map((message) => [message.payload, message.payload_encoding]),
    [
      ['one', 'string'],
      ['//4=', 'base64'],
    ],
  );
});

test('a raw body is published byte for byte, with its content type and properties from the query string', async () => {
  await server.declareQueue('raw');
  const bytes = new Uint8Array([0, 1, 2, 254, 255]);
  const answer = await server.request('POST', '/api/exchanges/%2F/amq.default/messages?routing_key=raw&message_id=r-1&priority=5&delivery_mode=1', {
    raw: bytes,
    contentType: 'application/octet-stream',
  });
  assert.deepEqual(answer.body, { routed: true, rejected_by: [] });
  const [message] = await drain('raw');
  assert.equal(message.payload_encoding, 'base64');
  assert.deepEqual([...Buffer.from(message.payload, 'base64')], [...bytes]);
  assert.equal(message.properties.content_type, 'application/octet-stream');
  assert.equal(message.properties.message_id, 'r-1');
  assert.equal(message.properties.priority, 5);
  assert.equal(message.properties.delivery_mode, 1);
});

test('a JSON document with a query string is published as it is, not read as an envelope', async () => {
  await server.declareQueue('documents');
  const document = { routing_key: 'elsewhere', payload: 'not an envelope' };
  const answer = await server.request('POST', '/api/exchanges/%2F/amq.default/messages?routing_key=documents', { json: document });
  assert.deepEqual(answer.body, { routed: true, rejected_by: [] });
  const [message] = await drain('documents');
  assert.deepEqual(JSON.parse(message.payload), document);
  assert.equal(message.properties.content_type, 'application/json');
  const text = await server.request('POST', '/api/exchanges/%2F/amq.default/messages?routing_key=documents', { raw: 'plain words', contentType: 'text/plain; charset=utf-8' });
  assert.equal(text.status, 200);
  const [plain] = await drain('documents');
  assert.equal(plain.payload, 'plain words');
  assert.equal(plain.properties.content_type, 'text/plain; charset=utf-8');
});

test('a named exchange routes by its bindings; a queue that overflows with reject-publish is named in rejected_by', async () => {
  await server.ok('PUT', '/api/exchanges/%2F/orders', { json: { type: 'direct' } });
  await server.declareQueue('orders-eu', { policies: { max_length: 1, overflow: 'reject-publish' } });
  await server.ok('POST', '/api/bindings/%2F/e/orders/q/orders-eu', { json: { routing_key: 'eu' } });
  const first = await server.ok('POST', '/api/exchanges/%2F/orders/messages', { json: { routing_key: 'eu', payload: '1' } });
  assert.deepEqual(first, { routed: true, rejected_by: [] });
  const second = await server.ok('POST', '/api/exchanges/%2F/orders/messages', { json: { routing_key: 'eu', payload: '2' } });
  assert.deepEqual(second, { routed: true, rejected_by: ['orders-eu'] });
  const elsewhere = await server.ok('POST', '/api/exchanges/%2F/orders/messages', { json: { routing_key: 'us', payload: '3' } });
  assert.deepEqual(elsewhere, { routed: false, rejected_by: [] });
});

test('a batch over http-batch-messages-max is refused whole (400), naming the limit', async () => {
  await server.declareQueue('limited');
  const messages = Array.from({ length: 4 }, (_, index) => ({ routing_key: 'limited', payload: String(index) }));
  const answer = await server.request('POST', '/api/exchanges/%2F/amq.default/messages', { json: { messages } });
  assert.equal(answer.status, 400);
  assert.equal(answer.code, 'INVALID_REQUEST');
  assert.match(answer.body.error.message, /more than 3 items/);
  assert.deepEqual(await drain('limited'), []);
});

test('a message over message-bytes-max is 413 MESSAGE_TOO_LARGE, and a batch holding one publishes nothing', async () => {
  await server.declareQueue('sized');
  const large = await server.request('POST', '/api/exchanges/%2F/amq.default/messages?routing_key=sized', { raw: 'x'.repeat(2_000), contentType: 'text/plain' });
  assert.equal(large.status, 413);
  assert.equal(large.code, 'MESSAGE_TOO_LARGE');
  const batch = await server.request('POST', '/api/exchanges/%2F/amq.default/messages', {
    json: { messages: [{ routing_key: 'sized', payload: 'small' }, { routing_key: 'sized', payload: 'x'.repeat(2_000) }] },
  });
  assert.equal(batch.status, 413);
  assert.match(batch.body.error.message, /message 1 of the batch/);
  assert.deepEqual(await drain('sized'), [], 'nothing of the batch went out');
});

test('appends to a stream answer with their offsets; a raw append names its partition in the query', async () => {
  await server.declareStream('events', { partitions: 2 });
  const single = await server.ok('POST', '/api/streams/%2F/events/messages', { json: { payload: 'a', partition: 1 } });
  assert.deepEqual(single, { partitions: [{ partition: 1, base_offset: 0, last_offset: 0, duplicate: false }] });
  const batch = await server.ok('POST', '/api/streams/%2F/events/messages', { json: { partition: 1, messages: [{ payload: 'b' }, { payload: 'c', routing_key: 'keyed' }] } });
  assert.deepEqual(batch, { partitions: [{ partition: 1, base_offset: 1, last_offset: 2, duplicate: false }] });
  const raw = await server.ok('POST', '/api/streams/%2F/events/messages?partition=0', { raw: 'd', contentType: 'text/plain' });
  assert.deepEqual(raw.partitions, [{ partition: 0, base_offset: 0, last_offset: 0, duplicate: false }]);
  const read = await server.ok('GET', '/api/streams/%2F/events/read?partition=1');
  assert.deepEqual(
    read.messages.map((message: any) => [message.offset, message.payload, message.routing_key]),
    [
      [0, 'a', 'events'],
      [1, 'b', 'events'],
      [2, 'c', 'keyed'],
    ],
  );
});

test('an idempotent producer retrying an append is stored once; a sequence gap is 409 SEQUENCE_GAP', async () => {
  await server.declareStream('ledger');
  const append = (sequence: number) =>
    server.request('POST', '/api/streams/%2F/ledger/messages', { json: { producer: { id: 7, epoch: 0, sequence }, messages: [{ payload: `s${sequence}` }] } });
  assert.equal((await append(0)).body.partitions[0].duplicate, false);
  const retry = await append(0);
  assert.equal(retry.status, 200);
  assert.deepEqual(retry.body.partitions, [{ partition: 0, base_offset: 0, last_offset: 0, duplicate: true }]);
  const gap = await append(5);
  assert.equal(gap.status, 409);
  assert.equal(gap.code, 'SEQUENCE_GAP');
  const raw = await server.request('POST', '/api/streams/%2F/ledger/messages?producer_id=7&producer_epoch=0&producer_sequence=1', { raw: 's1', contentType: 'text/plain' });
  assert.deepEqual(raw.body.partitions, [{ partition: 0, base_offset: 1, last_offset: 1, duplicate: false }]);
  const partial = await server.request('POST', '/api/streams/%2F/ledger/messages?producer_id=7', { raw: 'x', contentType: 'text/plain' });
  assert.equal(partial.code, 'INVALID_REQUEST');
  const read = await server.ok('GET', '/api/streams/%2F/ledger/read');
  assert.deepEqual(read.messages.map((message: any) => message.payload), ['s0', 's1']);
});

test('publishing over keep-alive connections answers many requests in order', async () => {
  await server.declareQueue('burst');
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, index) => server.request('POST', '/api/exchanges/%2F/amq.default/messages?routing_key=burst', { raw: String(index), contentType: 'text/plain' })),
  );
  assert.ok(answers.every((answer) => answer.status === 200 && answer.body.routed === true));
  const messages = await drain('burst');
  assert.deepEqual(messages.map((message) => Number(message.payload)).sort((a, b) => a - b), Array.from({ length: 50 }, (_, index) => index));
});

test('a user_id other than the logged-in user is 409 PRECONDITION_FAILED, as AMQP validates it', async () => {
  await server.declareQueue('signed');
  const forged = await server.request('POST', '/api/exchanges/%2F/amq.default/messages', { json: { routing_key: 'signed', payload: 'x', properties: { user_id: 'admin' } } });
  assert.equal(forged.status, 409);
  assert.equal(forged.code, 'PRECONDITION_FAILED');
  const own = await server.request('POST', '/api/exchanges/%2F/amq.default/messages?routing_key=signed&user_id=guest', { raw: 'y', contentType: 'text/plain' });
  assert.equal(own.status, 200);
  const messages = await drain('signed');
  assert.deepEqual(messages.map((message) => [message.payload, message.properties.user_id]), [['y', 'guest']]);
});

test('the OpenAPI document is served to any logged-in user and names the routes used here', async () => {
  const document = await server.ok('GET', '/api/openapi.json');
  assert.equal(document.openapi, '3.1.0');
  for (const path of ['/api/exchanges/{vhost}/{name}/messages', '/api/streams/{vhost}/{name}/messages', '/api/queues/{vhost}/{name}/pull', '/api/streams/{vhost}/{name}/subscribe']) {
    assert.ok(document.paths[path], `${path} is documented`);
  }
  assert.equal((await server.request('GET', '/api/openapi.json', { login: null })).status, 401);
});
