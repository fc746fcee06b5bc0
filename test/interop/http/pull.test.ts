import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTestServer, waitFor } from './http-test-server.js';

let server: HttpTestServer;

before(async () => {
  server = await HttpTestServer.start(['--http-pull-messages-max', '5', '--http-wait-ms-max', '3000']);
});

after(async () => {
  await server.close();
});

const publish = (queue: string, payload: string) => server.ok('POST', `/api/exchanges/%2F/amq.default/messages?routing_key=${queue}`, { raw: payload, contentType: 'text/plain' });
const pull = (queue: string, query = '') => server.ok('POST', `/api/queues/%2F/${queue}/pull${query}`);
const depth = async (queue: string) => (await server.ok('GET', `/api/queues/%2F/${queue}`)).messages as number;

test('a pull that waits is answered as soon as a message is published', async () => {
  await server.declareQueue('waiting');
  const started = Date.now();
  const pulling = pull('waiting', '?wait_ms=3000');
  await new Promise((resolve) => setTimeout(resolve, 100));
  await publish('waiting', 'late');
  const answer = await pulling;
  assert.deepEqual(answer.messages.map((message: any) => message.payload), ['late']);
  assert.ok(Date.now() - started < 2_500, 'answered before the wait ran out');
  const empty = await pull('waiting', '?wait_ms=50');
  assert.deepEqual(empty.messages, [], 'a pulled message is invisible to others');
});

test('an acked message is gone for good; acking it again is 409 UNKNOWN_DELIVERY', async () => {
  await server.declareQueue('acked');
  await publish('acked', 'once');
  const [message] = (await pull('acked')).messages;
  assert.equal(message.redelivered, false);
  assert.equal(message.delivery_count, 1);
  assert.deepEqual(await server.ok('POST', '/api/queues/%2F/acked/ack', { json: { receipts: [message.receipt] } }), { acked: 1 });
  assert.equal(await depth('acked'), 0);
  const again = await server.request('POST', '/api/queues/%2F/acked/ack', { json: { receipts: [message.receipt] } });
  assert.equal(again.status, 409);
  assert.equal(again.code, 'UNKNOWN_DELIVERY');
});

test('a nack with requeue returns the message, marked redelivered; without requeue it is dead-lettered', async () => {
  await server.declareQueue('dead');
  await server.declareQueue('nacked', { policies: { dead_letter_exchange: '', dead_letter_routing_key: 'dead' } });
  await publish('nacked', 'again');
  const [first] = (await pull('nacked')).messages;
  assert.deepEqual(await server.ok('POST', '/api/queues/%2F/nacked/nack', { json: { receipts: [first.receipt] } }), { nacked: 1 });
  const [second] = (await pull('nacked')).messages;
  assert.equal(second.payload, 'again');
  assert.equal(second.redelivered, true);
  assert.equal(second.delivery_count, 2);
  await server.ok('POST', '/api/queues/%2F/nacked/nack', { json: { receipts: [second.receipt], requeue: false } });
  assert.equal(await depth('nacked'), 0);
  const [dead] = (await pull('dead')).messages;
  assert.equal(dead.payload, 'again');
  assert.equal(dead.properties.headers['x-death'][0].reason, 'rejected');
});

test('a pulled message not acked within its visibility timeout is delivered again; extending the timeout keeps it hidden', async () => {
  await server.declareQueue('visible');
  await publish('visible', 'slow');
  const [first] = (await pull('visible', '?visibility_timeout_ms=150')).messages;
  const [second] = (await pull('visible', '?wait_ms=2000')).messages;
  assert.equal(second.payload, 'slow');
  assert.equal(second.redelivered, true);
  const stale = await server.request('POST', '/api/queues/%2F/visible/ack', { json: { receipts: [first.receipt] } });
  assert.equal(stale.code, 'UNKNOWN_DELIVERY', 'the first receipt went stale when the message came back');
  assert.deepEqual(await server.ok('POST', '/api/queues/%2F/visible/visibility', { json: { receipts: [second.receipt], visibility_timeout_ms: 60_000 } }), { changed: 1 });
  assert.deepEqual((await pull('visible', '?wait_ms=300')).messages, [], 'still hidden');
  await server.ok('POST', '/api/queues/%2F/visible/visibility', { json: { receipts: [second.receipt], visibility_timeout_ms: 0 } });
  const [third] = (await pull('visible', '?wait_ms=2000')).messages;
  assert.equal(third.delivery_count, 3);
  await server.ok('POST', '/api/queues/%2F/visible/ack', { json: { receipts: [third.receipt] } });
});

test('pull takes at most max messages and refuses max or wait_ms over their limits', async () => {
  await server.declareQueue('many');
  for (let index = 0; index < 7; index++) await publish('many', String(index));
  const answer = await pull('many', '?max=5');
  assert.deepEqual(answer.messages.map((message: any) => message.payload), ['0', '1', '2', '3', '4']);
  const tooMany = await server.request('POST', '/api/queues/%2F/many/pull?max=6');
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.body.error.message, /max must be from 1 to 5/);
  const tooLong = await server.request('POST', '/api/queues/%2F/many/pull?wait_ms=3001');
  assert.equal(tooLong.code, 'INVALID_REQUEST');
  const notNumber = await server.request('POST', '/api/queues/%2F/many/pull?max=lots');
  assert.equal(notNumber.code, 'INVALID_REQUEST');
  await server.ok('POST', '/api/queues/%2F/many/ack', { json: { receipts: answer.messages.map((message: any) => message.receipt) } });
  assert.equal(await depth('many'), 2);
});

test('a receipt that was never issued, or belongs to another queue, is 400 INVALID_RECEIPT and settles nothing', async () => {
  await server.declareQueue('mine');
  await server.declareQueue('theirs');
  await publish('mine', 'm');
  await publish('theirs', 't');
  const [mine] = (await pull('mine')).messages;
  const [theirs] = (await pull('theirs')).messages;
  const crossed = await server.request('POST', '/api/queues/%2F/mine/ack', { json: { receipts: [mine.receipt, theirs.receipt] } });
  assert.equal(crossed.status, 400);
  assert.equal(crossed.code, 'INVALID_RECEIPT');
  const forged = await server.request('POST', '/api/queues/%2F/mine/ack', { json: { receipts: ['1.1.AAAAAAAAAAAAAAAA'] } });
  assert.equal(forged.code, 'INVALID_RECEIPT');
  assert.deepEqual(await server.ok('POST', '/api/queues/%2F/mine/ack', { json: { receipts: [mine.receipt] } }), { acked: 1 }, 'the refused batch left it in flight');
  await server.ok('POST', '/api/queues/%2F/theirs/ack', { json: { receipts: [theirs.receipt] } });
});

test('a long poll the client gave up on returns its message to the queue at once', async () => {
  await server.declareQueue('abandoned');
  const controller = new AbortController();
  const pulling = server.request('POST', '/api/queues/%2F/abandoned/pull?wait_ms=3000', { signal: controller.signal }).catch((error: Error) => error);
  await new Promise((resolve) => setTimeout(resolve, 100));
  controller.abort();
  assert.ok((await pulling) instanceof Error);
  await new Promise((resolve) => setTimeout(resolve, 50));
  await publish('abandoned', 'kept');
  let messages: any[] = [];
  await waitFor(async () => (messages = (await pull('abandoned')).messages).length > 0, 2_000);
  assert.deepEqual(messages.map((message) => message.payload), ['kept'], 'not hidden for a visibility timeout');
});

test('settling bodies are JSON only: another content type is 415', async () => {
  await server.declareQueue('typed');
  const answer = await server.request('POST', '/api/queues/%2F/typed/ack', { raw: 'receipts', contentType: 'text/plain' });
  assert.equal(answer.status, 415);
  assert.equal(answer.code, 'UNSUPPORTED_MEDIA_TYPE');
});
