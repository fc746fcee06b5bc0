import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTestServer, waitFor } from './http-test-server.js';

let server: HttpTestServer;

before(async () => {
  server = await HttpTestServer.start(['--http-subscriptions-max', '2']);
});

after(async () => {
  await server.close();
});

const append = (stream: string, payload: string) => server.ok('POST', `/api/streams/%2F/${stream}/messages`, { json: { payload } });
const publish = (queue: string, payload: string) => server.ok('POST', `/api/exchanges/%2F/amq.default/messages?routing_key=${queue}`, { raw: payload, contentType: 'text/plain' });
const httpConnections = async () => ((await server.ok('GET', '/api/connections')) as any[]).filter((connection) => connection.protocol === 'http');
const noSubscriptions = () => waitFor(async () => (await httpConnections()).length === 0);
const queueOf = (name: string) => server.ok('GET', `/api/queues/%2F/${name}`);

test('an SSE stream subscription receives messages as they are appended, each with its offset as event id', async () => {
  await server.declareStream('live');
  await append('live', 'before');
  const events = await server.events('/api/streams/%2F/live/subscribe');
  try {
    assert.equal(events.status, 200);
    assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
    await append('live', 'one');
    await append('live', 'two');
    const first = await events.next();
    assert.equal(first.event, 'message');
    assert.equal(first.id, '1', 'from=next (the default) skips what came before');
    assert.equal(first.data.payload, 'one');
    assert.equal(first.data.offset, 1);
    const second = await events.next();
    assert.deepEqual([second.id, second.data.payload], ['2', 'two']);
  } finally {
    events.close();
  }
  await noSubscriptions();
});

test('a stream subscription resumes after Last-Event-ID, and from=first replays before it tails', async () => {
  await server.declareStream('resumed');
  for (const payload of ['a', 'b', 'c']) await append('resumed', payload);
  const resumed = await server.events('/api/streams/%2F/resumed/subscribe?from=first', { headers: { 'last-event-id': '0' } });
  try {
    assert.deepEqual([(await resumed.next()).data.payload, (await resumed.next()).data.payload], ['b', 'c'], 'Last-Event-ID wins over the query');
  } finally {
    resumed.close();
  }
  await noSubscriptions();
  const replay = await server.events('/api/streams/%2F/resumed/subscribe?from=first');
  try {
    const seen = [(await replay.next()).id, (await replay.next()).id, (await replay.next()).id];
    assert.deepEqual(seen, ['0', '1', '2']);
    await append('resumed', 'd');
    assert.equal((await replay.next()).data.payload, 'd');
  } finally {
    replay.close();
  }
  await noSubscriptions();
});

test('an SSE queue subscription holds at most prefetch unacked messages; acked ones are gone, unacked ones return when the client leaves', async () => {
  await server.declareQueue('work');
  for (const payload of ['1', '2', '3']) await publish('work', payload);
  const events = await server.events('/api/queues/%2F/work/subscribe?prefetch=2');
  let third: any;
  try {
    const first = (await events.next()).data;
    const second = (await events.next()).data;
    assert.deepEqual([first.payload, second.payload], ['1', '2']);
    assert.equal(typeof first.receipt, 'string');
    await assert.rejects(events.next(300), /no event/, 'the third waits for credit');
    assert.deepEqual(await server.ok('POST', '/api/queues/%2F/work/ack', { json: { receipts: [first.receipt] } }), { acked: 1 });
    third = (await events.next()).data;
    assert.equal(third.payload, '3');
    const [connection] = await httpConnections();
    assert.equal(connection.vhost, '/');
    assert.equal(connection.user, 'guest');
    assert.equal(connection.state, 'server-sent events');
  } finally {
    events.close();
  }
  await noSubscriptions();
  // The two unacked ones are back, marked redelivered; the acked one is gone.
  const pulled = await server.ok('POST', '/api/queues/%2F/work/pull?max=10');
  assert.deepEqual(pulled.messages.map((message: any) => [message.payload, message.redelivered]), [
    ['2', true],
    ['3', true],
  ]);
  const stale = await server.request('POST', '/api/queues/%2F/work/ack', { json: { receipts: [third.receipt] } });
  assert.equal(stale.code, 'UNKNOWN_DELIVERY');
});

test('an auto-ack queue subscription settles each message as it is sent', async () => {
  await server.declareQueue('fire');
  const events = await server.events('/api/queues/%2F/fire/subscribe?ack=auto');
  try {
    await publish('fire', 'x');
    await publish('fire', 'y');
    const received = [(await events.next()).data, (await events.next()).data];
    assert.deepEqual(received.map((message) => [message.payload, message.receipt]), [
      ['x', null],
      ['y', null],
    ]);
    await waitFor(async () => (await queueOf('fire')).messages === 0);
    assert.equal((await queueOf('fire')).messages, 0);
  } finally {
    events.close();
  }
  await noSubscriptions();
});

test('deleting the stream or queue ends its subscriptions with an error event naming why', async () => {
  await server.declareStream('doomed');
  await server.declareQueue('doomed-queue');
  const stream = await server.events('/api/streams/%2F/doomed/subscribe');
  const queue = await server.events('/api/queues/%2F/doomed-queue/subscribe');
  await server.ok('DELETE', '/api/streams/%2F/doomed');
  await server.ok('DELETE', '/api/queues/%2F/doomed-queue');
  const streamError = await stream.next();
  assert.equal(streamError.event, 'error');
  assert.equal(streamError.data.error.code, 'STREAM_NOT_FOUND');
  assert.equal(await stream.ended(), true);
  const queueError = await queue.next();
  assert.equal(queueError.data.error.code, 'QUEUE_NOT_FOUND');
  assert.equal(await queue.ended(), true);
  await noSubscriptions();
});

test('subscriptions past http-subscriptions-max are 503 SUBSCRIPTION_LIMIT_REACHED; an operator closing one frees its place', async () => {
  await server.declareStream('crowded');
  const first = await server.events('/api/streams/%2F/crowded/subscribe');
  const second = await server.events('/api/streams/%2F/crowded/subscribe');
  const third = await server.request('GET', '/api/streams/%2F/crowded/subscribe');
  assert.equal(third.status, 503);
  assert.equal(third.code, 'SUBSCRIPTION_LIMIT_REACHED');
  const [listed] = await httpConnections();
  await server.ok('DELETE', `/api/connections/${encodeURIComponent(listed.name)}`);
  const closedOne = await Promise.race([first.ended().then(() => first), second.ended().then(() => second)]);
  assert.equal((await closedOne.next()).data.error.code, 'SUBSCRIPTION_CLOSED');
  await waitFor(async () => (await httpConnections()).length === 1);
  const again = await server.events('/api/streams/%2F/crowded/subscribe');
  assert.equal(again.status, 200);
  for (const events of [first, second, again]) events.close();
  await noSubscriptions();
});

test('a subscription to what does not exist, or without login, is a plain JSON error', async () => {
  const missing = await server.request('GET', '/api/queues/%2F/nothing/subscribe');
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'QUEUE_NOT_FOUND');
  const anonymous = await server.request('GET', '/api/streams/%2F/live/subscribe', { login: null });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.code, 'UNAUTHORIZED');
  const badPrefetch = await server.request('GET', '/api/queues/%2F/work/subscribe?prefetch=0');
  assert.equal(badPrefetch.code, 'INVALID_REQUEST');
});

test('stopping the server ends open subscriptions with SUBSCRIPTION_CLOSED', async () => {
  const own = await HttpTestServer.start();
  await own.declareStream('s');
  const events = await own.events('/api/streams/%2F/s/subscribe');
  // The server itself, not the test client (which would hang up first).
  const closing = own.server.close();
  const last = await events.next();
  assert.equal(last.event, 'error');
  assert.equal(last.data.error.code, 'SUBSCRIPTION_CLOSED');
  assert.equal(await events.ended(), true);
  await closing;
  await own.close();
});
