import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTestServer } from './http-test-server.js';

let server: HttpTestServer;

before(async () => {
  server = await HttpTestServer.start();
  await server.declareStream('log', { partitions: 2 });
  for (let index = 0; index < 5; index++) {
    await server.ok('POST', '/api/streams/%2F/log/messages', { json: { partition: 0, payload: `m${index}` } });
    // Distinct timestamps, so a timestamp names one message.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
});

after(async () => {
  await server.close();
});

const read = (query: string) => server.ok('GET', `/api/streams/%2F/log/read${query}`);
const payloads = (answer: any) => answer.messages.map((message: any) => message.payload);

test('a read pages through a partition by next_offset, from the first message on', async () => {
  const first = await read('?max=2');
  assert.deepEqual(payloads(first), ['m0', 'm1']);
  assert.equal(first.next_offset, 2);
  const second = await read(`?max=2&offset=${first.next_offset}`);
  assert.deepEqual(payloads(second), ['m2', 'm3']);
  const third = await read(`?max=2&offset=${second.next_offset}`);
  assert.deepEqual(payloads(third), ['m4']);
  assert.equal(third.next_offset, 5);
  const end = await read(`?offset=${third.next_offset}`);
  assert.deepEqual(end.messages, []);
  assert.equal(end.next_offset, 5, 'at the end, next_offset stays put');
  assert.deepEqual(payloads(await read('?max=10')), ['m0', 'm1', 'm2', 'm3', 'm4'], 'reading consumed nothing');
});

test('from=last reads the last message, from=next none yet, timestamp_ms the first stored at or after it', async () => {
  assert.deepEqual(payloads(await read('?from=last')), ['m4']);
  const next = await read('?from=next');
  assert.deepEqual(next.messages, []);
  assert.equal(next.next_offset, 5);
  const all = await read('?max=10');
  const third = all.messages[2];
  assert.equal(third.offset, 2);
  assert.equal(typeof third.timestamp_ms, 'number');
  const fromTime = await read(`?timestamp_ms=${third.timestamp_ms}`);
  assert.deepEqual(payloads(fromTime).slice(0, 1), ['m2']);
  assert.equal(fromTime.messages[0].offset, 2);
});

test('a read with wait_ms at the end answers when a message is appended', async () => {
  const reading = read('?partition=1&from=next&wait_ms=3000');
  await new Promise((resolve) => setTimeout(resolve, 100));
  await server.ok('POST', '/api/streams/%2F/log/messages', { json: { partition: 1, payload: 'late' } });
  const answer = await reading;
  assert.deepEqual(payloads(answer), ['late']);
  assert.equal(answer.partition, 1);
  assert.equal(answer.next_offset, 1);
});

test('a partition the stream lacks is 404 PARTITION_NOT_FOUND; two starts at once are 400', async () => {
  const missing = await server.request('GET', '/api/streams/%2F/log/read?partition=2');
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'PARTITION_NOT_FOUND');
  const twice = await server.request('GET', '/api/streams/%2F/log/read?offset=1&from=first');
  assert.equal(twice.status, 400);
  assert.equal(twice.code, 'INVALID_REQUEST');
  const unknown = await server.request('GET', '/api/streams/%2F/log/read?from=middle');
  assert.equal(unknown.code, 'INVALID_REQUEST');
  const stream = await server.request('GET', '/api/streams/%2F/nowhere/read');
  assert.equal(stream.status, 404);
  assert.equal(stream.code, 'STREAM_NOT_FOUND');
});

test('bodies come as text when they are UTF-8, as base64 when they are not or when asked', async () => {
  await server.ok('POST', '/api/streams/%2F/log/messages?partition=1', { raw: new Uint8Array([0xff, 0x00]), contentType: 'application/octet-stream' });
  const answer = await read('?partition=1&from=last');
  assert.equal(answer.messages[0].payload_encoding, 'base64');
  assert.equal(answer.messages[0].payload, Buffer.from([0xff, 0x00]).toString('base64'));
  const text = await read('?max=1&encoding=base64');
  assert.equal(text.messages[0].payload, Buffer.from('m0').toString('base64'));
});
