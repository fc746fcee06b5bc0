import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { startTestAdmin, waitFor, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;
const limited = { user: 'limited', password: 'pw' };

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser(limited.user, limited.password, { tags: ['management'] });
  // May configure and read streams named mine-*.
  await broker.core.access.setPermissions(limited.user, '/', { configure: 'mine-.*', write: '', read: 'mine-.*' });
  admin = await startTestAdmin(broker.core, { consoleDirectory: null });
});

after(async () => {
  await admin.close();
  await broker.close();
});

test('PUT declares a stream with partitions and retention (201), again the same way is 200, differently is 409', async () => {
  const body = { partitions: 3, retention_ms: 3_600_000, retention_bytes: 1_000_000, retention_messages: 500 };
  const created = await admin.request('PUT', '/api/streams/%2F/events', { body });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'events');
  assert.equal(created.body.type, 'stream');
  assert.equal(created.body.partitions, 3);
  assert.equal(created.body.retention_ms, 3_600_000);
  assert.equal(created.body.retention_bytes, 1_000_000);
  assert.equal(created.body.retention_messages, 500);
  assert.equal(created.body.segment_bytes_max, null);
  assert.equal(created.body.durable, true);
  const config = broker.vhost().stream('events').config;
  assert.equal(config.partitions, 3);
  assert.equal(config.retentionMs, 3_600_000);
  assert.equal((await admin.request('PUT', '/api/streams/%2F/events', { body })).status, 200);
  const different = await admin.request('PUT', '/api/streams/%2F/events', { body: { partitions: 2 } });
  assert.equal(different.status, 409);
  assert.equal(different.code, 'PRECONDITION_FAILED');
  await broker.deleteStream('events');
});

test('PUT without a body declares a durable stream of one partition', async () => {
  const created = await admin.request('PUT', '/api/streams/%2F/plain');
  assert.equal(created.status, 201);
  assert.equal(created.body.partitions, 1);
  assert.equal(created.body.durable, true);
  await broker.deleteStream('plain');
});

test('PUT refuses unknown fields, bad values, a queue of the same name, a reserved name and an unknown vhost', async () => {
  const unknown = await admin.request('PUT', '/api/streams/%2F/s', { body: { partitons: 2 } });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.code, 'INVALID_REQUEST');
  assert.equal((await admin.request('PUT', '/api/streams/%2F/s', { body: { partitions: 0 } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('PUT', '/api/streams/%2F/s', { body: { retention_ms: 1.5 } })).code, 'INVALID_REQUEST');
  const tooMany = await admin.request('PUT', '/api/streams/%2F/s', { body: { partitions: 100_000 } });
  assert.equal(tooMany.status, 400);
  assert.equal(tooMany.code, 'INVALID_ARGUMENT', 'the core checks the partition limit');
  await broker.declareQueue('taken');
  const clash = await admin.request('PUT', '/api/streams/%2F/taken');
  assert.equal(clash.status, 409);
  assert.equal(clash.code, 'PRECONDITION_FAILED');
  await broker.deleteQueue('taken');
  assert.equal((await admin.request('PUT', '/api/streams/%2F/amq.s')).code, 'ACCESS_REFUSED');
  const vhost = await admin.request('PUT', '/api/streams/nowhere/s');
  assert.equal(vhost.status, 404);
  assert.equal(vhost.code, 'VHOST_NOT_FOUND');
});

test('GET lists streams of all vhosts and of one vhost with their size, and pages them', async () => {
  await broker.core.declareVhost('other');
  await broker.declareStream('a');
  await broker.declareStream('b', {}, { vhost: 'other' });
  await broker.appendToStream('a', [{ body: 'one' }, { body: 'two' }]);
  const all = await admin.get('/api/streams');
  assert.deepEqual(all.map((stream: { vhost: string; name: string }) => `${stream.vhost}:${stream.name}`).sort(), ['/:a', 'other:b']);
  const one = await admin.get('/api/streams/%2F');
  assert.equal(one.length, 1);
  assert.equal(one[0].messages, 2);
  assert.ok(one[0].size_bytes > 0);
  assert.equal(one[0].message_stats.append, 2);
  const page = await admin.get('/api/streams?page=2&page_size=1');
  assert.equal(page.total_count, 2);
  assert.equal(page.items.length, 1);
  await broker.deleteStream('a');
  await broker.deleteStream('b', { vhost: 'other' });
  await broker.core.deleteVhost('other');
});

test('GET of one stream shows its partitions, consumer groups with committed offsets and lag, and its append rate', async () => {
  await broker.declareStream('orders', { partitions: 2 });
  await broker.appendToStream('orders', [{ body: '1' }, { body: '2' }, { body: '3' }], { partition: 0 });
  await broker.appendToStream('orders', [{ body: '4' }], { partition: 1 });
  await broker.vhost().stream('orders').state.commit('billing', 0, 2);
  const stream = await admin.get('/api/streams/%2F/orders');
  assert.deepEqual(stream.partition_details, [
    { partition: 0, start_offset: 0, end_offset: 3, messages: 3 },
    { partition: 1, start_offset: 0, end_offset: 1, messages: 1 },
  ]);
  assert.deepEqual(stream.consumer_group_details, [
    {
      name: 'billing',
      offsets: [
        { partition: 0, committed_offset: 2 },
        { partition: 1, committed_offset: null },
      ],
      lag: 2,
    },
  ]);
  assert.equal(stream.consumer_groups, 1);
  await waitFor(async () => (await admin.get('/api/streams/%2F/orders')).message_stats.append_rate > 0);
  assert.ok((await admin.get('/api/streams/%2F/orders')).message_stats.append_rate > 0);
  const missing = await admin.request('GET', '/api/streams/%2F/nothing');
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'STREAM_NOT_FOUND');
  await broker.deleteStream('orders');
});

test('GET …/messages reads a partition from first, from the last few or from an offset, without removing anything', async () => {
  await broker.declareStream('log', { partitions: 2 });
  await broker.appendToStream('log', ['a', 'b', 'c', 'd'].map((body) => ({ body, properties: { contentType: 'text/plain' } })), { partition: 1 });
  const first = await admin.get('/api/streams/%2F/log/messages?partition=1&count=2');
  assert.deepEqual(
    first.map((entry: { offset: number; payload: string }) => [entry.offset, entry.payload]),
    [
      [0, 'a'],
      [1, 'b'],
    ],
  );
  assert.equal(first[0].partition, 1);
  assert.equal(first[0].properties.content_type, 'text/plain');
  assert.equal(typeof first[0].timestamp_ms, 'number');
  const last = await admin.get('/api/streams/%2F/log/messages?partition=1&from=last&count=3');
  assert.deepEqual(last.map((entry: { payload: string }) => entry.payload), ['b', 'c', 'd']);
  const fromOffset = await admin.get('/api/streams/%2F/log/messages?partition=1&from=3');
  assert.deepEqual(fromOffset.map((entry: { payload: string }) => entry.payload), ['d']);
  assert.deepEqual(await admin.get('/api/streams/%2F/log/messages'), [], 'partition 0 is empty');
  assert.equal(broker.vhost().stream('log').messageCount(), 4);
  const partition = await admin.request('GET', '/api/streams/%2F/log/messages?partition=2');
  assert.equal(partition.status, 404);
  assert.equal(partition.code, 'PARTITION_NOT_FOUND');
  assert.equal((await admin.request('GET', '/api/streams/%2F/log/messages?count=0')).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('GET', '/api/streams/%2F/log/messages?from=next')).code, 'INVALID_REQUEST');
  await broker.deleteStream('log');
});

test('messages routed from an exchange land in the stream, and …/bindings lists the bindings leading to it', async () => {
  await broker.declareStream('audit');
  await broker.declareExchange('events', { type: 'fanout' });
  await broker.bind('events', 'audit');
  const published = await admin.request('POST', '/api/exchanges/%2F/events/publish', { body: { routing_key: 'x', payload: 'hello' } });
  assert.equal(published.body.routed, true);
  const bindings = await admin.get('/api/streams/%2F/audit/bindings');
  assert.deepEqual(
    bindings.map((binding: { source: string; destination_type: string }) => [binding.source, binding.destination_type]),
    [['events', 'stream']],
  );
  const messages = await admin.get('/api/streams/%2F/audit/messages');
  assert.deepEqual(messages.map((entry: { payload: string; exchange: string }) => [entry.exchange, entry.payload]), [['events', 'hello']]);
  await broker.deleteExchange('events');
  await broker.deleteStream('audit');
});

test('DELETE removes a stream and says how many messages went; a missing one is 404', async () => {
  await broker.declareStream('gone');
  await broker.appendToStream('gone', [{ body: 'x' }, { body: 'y' }]);
  const deleted = await admin.request('DELETE', '/api/streams/%2F/gone');
  assert.equal(deleted.status, 200);
  assert.deepEqual(deleted.body, { messages_deleted: 2 });
  assert.equal(broker.vhost().findStream('gone'), undefined);
  const again = await admin.request('DELETE', '/api/streams/%2F/gone');
  assert.equal(again.status, 404);
  assert.equal(again.code, 'STREAM_NOT_FOUND');
});

test('a management user declares, reads and deletes only the streams its permissions allow', async () => {
  const mine = await admin.request('PUT', '/api/streams/%2F/mine-1', { login: limited });
  assert.equal(mine.status, 201);
  const theirs = await admin.request('PUT', '/api/streams/%2F/theirs', { login: limited });
  assert.equal(theirs.status, 403);
  assert.equal(theirs.code, 'ACCESS_REFUSED');
  await broker.declareStream('theirs');
  assert.equal((await admin.request('GET', '/api/streams/%2F/theirs/messages', { login: limited })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('DELETE', '/api/streams/%2F/theirs', { login: limited })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('DELETE', '/api/streams/%2F/mine-1', { login: limited })).status, 200);
  await broker.deleteStream('theirs');
});

test('the overview counts streams', async () => {
  await broker.declareStream('counted');
  const overview = await admin.get('/api/overview');
  assert.equal(overview.object_totals.streams, 1);
  await broker.deleteStream('counted');
});
