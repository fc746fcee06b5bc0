import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTestServer, waitFor } from './http-test-server.js';

let server: HttpTestServer;

before(async () => {
  server = await HttpTestServer.start();
});

after(async () => {
  await server.close();
});

const publish = (queue: string, payload: string) => server.ok('POST', `/api/exchanges/%2F/amq.default/messages?routing_key=${queue}`, { raw: payload, contentType: 'text/plain' });
const queueOf = (name: string) => server.ok('GET', `/api/queues/%2F/${name}`);
const noSubscriptions = () => waitFor(async () => ((await server.ok('GET', '/api/connections')) as any[]).every((connection) => connection.protocol !== 'http'));

test('a WebSocket stream subscription replays from an offset, then sends appended messages as JSON frames', async () => {
  await server.declareStream('ticks');
  for (const payload of ['t0', 't1', 't2']) await server.ok('POST', '/api/streams/%2F/ticks/messages', { json: { payload } });
  const socket = await server.webSocket('/api/streams/%2F/ticks/subscribe?offset=1');
  try {
    const first = await socket.next();
    assert.equal(first.type, 'message');
    assert.deepEqual([first.offset, first.payload], [1, 't1']);
    assert.equal((await socket.next()).payload, 't2');
    await server.ok('POST', '/api/streams/%2F/ticks/messages', { json: { payload: 't3' } });
    const live = await socket.next();
    assert.deepEqual([live.offset, live.payload, live.partition], [3, 't3', 0]);
  } finally {
    socket.close();
  }
  await noSubscriptions();
});

test('a WebSocket queue subscriber acks and nacks over the socket; answers come once settled', async () => {
  await server.declareQueue('jobs');
  const socket = await server.webSocket('/api/queues/%2F/jobs/subscribe?prefetch=10');
  try {
    await publish('jobs', 'a');
    await publish('jobs', 'b');
    const a = await socket.next();
    const b = await socket.next();
    assert.deepEqual([a.type, a.payload, b.payload], ['message', 'a', 'b']);
    socket.send({ type: 'ack', receipts: [a.receipt], id: 'first' });
    assert.deepEqual(await socket.next(), { type: 'acked', id: 'first', count: 1 });
    socket.send({ type: 'nack', receipts: [b.receipt], requeue: true, id: 2 });
    // The nack's answer and the redelivery may come in either order.
    const frames = [await socket.next(), await socket.next()];
    assert.deepEqual(frames.find((frame) => frame.type === 'nacked'), { type: 'nacked', id: 2, count: 1 });
    const again = frames.find((frame) => frame.type === 'message');
    assert.deepEqual([again.payload, again.redelivered], ['b', true]);
    socket.send({ type: 'ack', receipts: [b.receipt] });
    const stale = await socket.next();
    assert.equal(stale.type, 'error');
    assert.equal(stale.error.code, 'UNKNOWN_DELIVERY', 'the nacked receipt went stale; the socket stays open');
    socket.send({ type: 'ack', receipts: [again.receipt], id: 3 });
    assert.deepEqual(await socket.next(), { type: 'acked', id: 3, count: 1 });
    assert.equal((await queueOf('jobs')).messages, 0);
  } finally {
    socket.close();
  }
  await noSubscriptions();
});

test('unacked WebSocket deliveries return to the queue when the client disconnects', async () => {
  await server.declareQueue('dropped');
  await publish('dropped', 'unsettled');
  const socket = await server.webSocket('/api/queues/%2F/dropped/subscribe');
  assert.equal((await socket.next()).payload, 'unsettled');
  socket.socket.terminate();
  await noSubscriptions();
  const pulled = await server.ok('POST', '/api/queues/%2F/dropped/pull');
  assert.deepEqual(pulled.messages.map((message: any) => [message.payload, message.redelivered]), [['unsettled', true]]);
});

test('a frame the API does not take closes the socket with 1008 after an error frame', async () => {
  await server.declareQueue('strict');
  const socket = await server.webSocket('/api/queues/%2F/strict/subscribe');
  socket.socket.send('not json');
  const error = await socket.next();
  assert.equal(error.type, 'error');
  assert.equal(error.error.code, 'INVALID_REQUEST');
  assert.equal(await socket.closed(), 1008);
  await noSubscriptions();
});

test('deleting the queue ends a WebSocket subscription with QUEUE_NOT_FOUND and close code 4404', async () => {
  await server.declareQueue('vanishing');
  const socket = await server.webSocket('/api/queues/%2F/vanishing/subscribe');
  await server.ok('DELETE', '/api/queues/%2F/vanishing');
  const error = await socket.next();
  assert.equal(error.error.code, 'QUEUE_NOT_FOUND');
  assert.equal(await socket.closed(), 4404);
});

test('an upgrade without login, or to a missing queue, is refused with the HTTP status before any WebSocket opens', async () => {
  await assert.rejects(server.webSocket('/api/queues/%2F/jobs/subscribe', { login: null }), (error: any) => error.status === 401);
  await assert.rejects(server.webSocket('/api/queues/%2F/missing/subscribe'), (error: any) => error.status === 404);
  await assert.rejects(server.webSocket('/api/queues/%2F/jobs/pull'), (error: any) => error.status === 404, 'routes other than subscribe take no upgrade');
  // A management route answers as usual; its socket is closed after the answer, so it cannot hold up shutdown.
  await assert.rejects(server.webSocket('/api/overview'), (error: any) => error.status === 200);
  const own = await HttpTestServer.start();
  await assert.rejects(own.webSocket('/api/vhosts', { login: null }), (error: any) => error.status === 401);
  const started = Date.now();
  await own.server.close();
  assert.ok(Date.now() - started < 900, 'the refused upgrade left no socket open behind it');
});

test('a WebSocket client that stops reading holds up its own consumer: the queue keeps what the socket cannot take', async () => {
  await server.declareQueue('flood');
  const payload = 'x'.repeat(64 * 1024);
  const count = 400;
  const socket = await server.webSocket('/api/queues/%2F/flood/subscribe?ack=auto');
  let received = 0;
  socket.socket.on('message', () => received++);
  socket.socket.pause();
  try {
    for (let batch = 0; batch < count / 50; batch++) {
      await server.ok('POST', '/api/exchanges/%2F/amq.default/messages', { json: { messages: Array.from({ length: 50 }, () => ({ routing_key: 'flood', payload })) } });
    }
    // Give the broker time to push all it would push.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const held = (await queueOf('flood')).messages_ready as number;
    assert.ok(held > count / 4, `the queue still holds ${held} of ${count}: deliveries stopped while the socket was full`);
    socket.socket.resume();
    await waitFor(() => received === count, 10_000);
    assert.equal(received, count);
  } finally {
    socket.close();
  }
  await noSubscriptions();
});
