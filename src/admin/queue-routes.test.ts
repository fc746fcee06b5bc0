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
  // May configure and read queues named mine-*, write nothing.
  await broker.core.access.setPermissions(limited.user, '/', { configure: 'mine-.*', write: '', read: 'mine-.*' });
  admin = await startTestAdmin(broker.core);
});

after(async () => {
  await admin.close();
  await broker.close();
});

async function publish(queue: string, ...bodies: string[]): Promise<void> {
  for (const body of bodies) await broker.publish('', { routingKey: queue, body });
}

test('PUT declares a queue with policies (201), again the same way is 200, differently is 409', async () => {
  const created = await admin.request('PUT', '/api/queues/%2F/orders', { body: { durable: true, policies: { max_length: 100, message_ttl_ms: 60_000, overflow: 'reject-publish' } } });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'orders');
  assert.equal(created.body.vhost, '/');
  assert.equal(created.body.policies.max_length, 100);
  assert.equal(created.body.policies.message_ttl_ms, 60_000);
  assert.equal(created.body.policies.overflow, 'reject-publish');
  assert.equal(broker.vhost().queue('orders').config.maxLength, 100);
  const again = await admin.request('PUT', '/api/queues/%2F/orders', { body: { durable: true, policies: { max_length: 100, message_ttl_ms: 60_000, overflow: 'reject-publish' } } });
  assert.equal(again.status, 200);
  const different = await admin.request('PUT', '/api/queues/%2F/orders', { body: { policies: { max_length: 5 } } });
  assert.equal(different.status, 409);
  assert.equal(different.code, 'PRECONDITION_FAILED');
  await broker.deleteQueue('orders');
});

test('PUT refuses an unknown policy, a bad value, a reserved name and an unknown vhost', async () => {
  const unknown = await admin.request('PUT', '/api/queues/%2F/q', { body: { policies: { max_lenght: 1 } } });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.code, 'INVALID_REQUEST');
  const negative = await admin.request('PUT', '/api/queues/%2F/q', { body: { policies: { max_length: -1 } } });
  assert.equal(negative.code, 'INVALID_REQUEST');
  const zeroLimit = await admin.request('PUT', '/api/queues/%2F/q', { body: { policies: { delivery_limit: 0 } } });
  assert.equal(zeroLimit.status, 400);
  assert.equal(zeroLimit.code, 'INVALID_ARGUMENT', 'the core validates ranges the schema does not know');
  const reserved = await admin.request('PUT', '/api/queues/%2F/amq.mine', { body: {} });
  assert.equal(reserved.status, 403);
  assert.equal(reserved.code, 'ACCESS_REFUSED');
  const vhost = await admin.request('PUT', '/api/queues/nowhere/q', { body: {} });
  assert.equal(vhost.status, 404);
  assert.equal(vhost.code, 'VHOST_NOT_FOUND');
});

test('a queue shows depth, ready and unacked, consumers, memory and disk use, counters and rates', async () => {
  await broker.declareQueue('depth');
  await publish('depth', 'a', 'bb', 'ccc');
  const [held] = await broker.get('depth');
  broker.consume('depth', () => undefined, { tag: 'watcher', prefetch: 1 });
  await waitFor(async () => (await admin.get('/api/queues/%2F/depth')).message_stats.publish_rate > 0);
  const queue = await admin.get('/api/queues/%2F/depth');
  assert.equal(queue.messages, 3);
  assert.equal(queue.messages_ready, 1);
  assert.equal(queue.messages_unacknowledged, 2);
  assert.equal(queue.consumers, 1);
  assert.equal(queue.message_bytes_ready, 3);
  assert.ok(queue.memory_bytes >= 6, 'bodies held in memory are counted');
  assert.equal(typeof queue.storage_bytes, 'number');
  assert.equal(queue.message_stats.publish, 3);
  assert.equal(queue.message_stats.deliver, 2);
  assert.ok(queue.message_stats.publish_rate > 0);
  assert.equal(queue.consumer_details.length, 1);
  assert.equal(queue.consumer_details[0].consumer_tag, 'watcher');
  assert.equal(queue.consumer_details[0].prefetch_count, 1);
  assert.equal(queue.consumer_details[0].ack_required, true);
  assert.equal(queue.consumer_details[0].unacknowledged, 1);
  await broker.ack(held!);
  await broker.deleteQueue('depth');
});

test('GET lists queues of all vhosts, of one vhost, and one page of them', async () => {
  await broker.core.declareVhost('other');
  await broker.declareQueue('list-a');
  await broker.declareQueue('list-b');
  await broker.declareQueue('list-c', {}, { vhost: 'other' });
  const all = await admin.get('/api/queues');
  assert.deepEqual(all.map((queue: { vhost: string; name: string }) => `${queue.vhost}:${queue.name}`).sort(), ['/:list-a', '/:list-b', 'other:list-c']);
  const other = await admin.get('/api/queues/other');
  assert.deepEqual(other.map((queue: { name: string }) => queue.name), ['list-c']);
  const page = await admin.get('/api/queues?page=2&page_size=2');
  assert.equal(page.total_count, 3);
  assert.equal(page.page_count, 2);
  assert.equal(page.items.length, 1);
  assert.equal((await admin.request('GET', '/api/queues?page=0')).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('GET', '/api/queues/missing-vhost')).code, 'VHOST_NOT_FOUND');
  for (const name of ['list-a', 'list-b']) await broker.deleteQueue(name);
  await broker.core.deleteVhost('other');
});

test('GET of a missing queue is 404 QUEUE_NOT_FOUND', async () => {
  const answer = await admin.request('GET', '/api/queues/%2F/absent');
  assert.equal(answer.status, 404);
  assert.equal(answer.code, 'QUEUE_NOT_FOUND');
});

test('DELETE removes a queue and says how many messages went; if_empty and if_unused refuse with 409', async () => {
  await broker.declareQueue('doomed');
  await publish('doomed', 'x', 'y');
  const notEmpty = await admin.request('DELETE', '/api/queues/%2F/doomed?if_empty=true');
  assert.equal(notEmpty.status, 409);
  assert.equal(notEmpty.code, 'PRECONDITION_FAILED');
  const consumer = broker.consume('doomed', () => undefined);
  assert.equal((await admin.request('DELETE', '/api/queues/%2F/doomed?if_unused=true')).code, 'PRECONDITION_FAILED');
  consumer.cancel({ requeueUnsettled: true });
  const deleted = await admin.request('DELETE', '/api/queues/%2F/doomed');
  assert.equal(deleted.status, 200);
  assert.equal(deleted.body.messages_deleted, 2);
  assert.equal(broker.vhost().findQueue('doomed'), undefined);
  assert.equal((await admin.request('DELETE', '/api/queues/%2F/doomed')).code, 'QUEUE_NOT_FOUND');
});

test('DELETE …/contents purges the ready messages', async () => {
  await broker.declareQueue('purged');
  await publish('purged', '1', '2', '3');
  const answer = await admin.request('DELETE', '/api/queues/%2F/purged/contents');
  assert.equal(answer.status, 200);
  assert.equal(answer.body.messages_purged, 3);
  assert.equal(broker.vhost().queue('purged').messageCount(), 0);
  assert.equal((await admin.request('DELETE', '/api/queues/%2F/nothing/contents')).code, 'QUEUE_NOT_FOUND');
  await broker.deleteQueue('purged');
});

test('get with ackmode peek shows messages without delivering them', async () => {
  await broker.declareQueue('peeked', { maxPriority: 2 });
  await publish('peeked', 'first', 'second');
  await broker.publish('', { routingKey: 'peeked', body: 'urgent', properties: { priority: 2, messageId: 'm-1' }, headers: { trace: 'abc' } });
  const answer = await admin.request('POST', '/api/queues/%2F/peeked/get', { body: { ackmode: 'peek', count: 10 } });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body.map((message: { payload: string }) => message.payload), ['urgent', 'first', 'second']);
  const [urgent] = answer.body;
  assert.equal(urgent.properties.message_id, 'm-1');
  assert.equal(urgent.properties.priority, 2);
  assert.deepEqual(urgent.properties.headers, { trace: 'abc' });
  assert.equal(urgent.redelivered, false);
  assert.equal(urgent.message_count, 3);
  const queue = broker.vhost().queue('peeked');
  assert.equal(queue.messageCount(), 3, 'nothing was taken');
  assert.equal(queue.counters.delivered, 0, 'nothing was delivered');
  const [first] = await broker.get('peeked');
  assert.equal(first!.redelivered, false, 'a peek does not mark messages redelivered');
  await broker.deleteQueue('peeked');
});

test('peek reads messages of a durable queue that are still on disk', async () => {
  await broker.declareQueue('backlog', { durable: true });
  const bodies = Array.from({ length: 700 }, (_, index) => `message ${index}`);
  for (const body of bodies) await broker.publish('', { routingKey: 'backlog', body });
  const answer = await admin.request('POST', '/api/queues/%2F/backlog/get', { body: { ackmode: 'peek', count: 700 } });
  assert.equal(answer.body.length, 700);
  assert.deepEqual(answer.body.map((message: { payload: string }) => message.payload), bodies);
  assert.equal(broker.vhost().queue('backlog').messageCount(), 700);
  await broker.deleteQueue('backlog');
});

test('get with ack_requeue_true returns the messages to the queue, marked redelivered', async () => {
  await broker.declareQueue('requeued');
  await publish('requeued', 'one', 'two');
  const answer = await admin.request('POST', '/api/queues/%2F/requeued/get', { body: { ackmode: 'ack_requeue_true', count: 1 } });
  assert.equal(answer.body.length, 1);
  assert.equal(answer.body[0].payload, 'one');
  assert.equal(answer.body[0].message_count, 2);
  const [again] = await broker.get('requeued');
  assert.equal(new TextDecoder().decode(again!.message.body), 'one');
  assert.equal(again!.redelivered, true);
  await broker.deleteQueue('requeued');
});

test('get with ack_requeue_false consumes, reject_requeue_false dead-letters', async () => {
  await broker.declareExchange('dead', { type: 'fanout' });
  await broker.declareQueue('graveyard');
  await broker.bind('dead', 'graveyard');
  await broker.declareQueue('consumed', { deadLetterExchange: 'dead' });
  await publish('consumed', 'eaten', 'rejected', 'left');
  const eaten = await admin.request('POST', '/api/queues/%2F/consumed/get', { body: { ackmode: 'ack_requeue_false' } });
  assert.equal(eaten.body[0].payload, 'eaten');
  const rejected = await admin.request('POST', '/api/queues/%2F/consumed/get', { body: { ackmode: 'reject_requeue_false' } });
  assert.equal(rejected.body[0].payload, 'rejected');
  assert.equal(rejected.body[0].message_count, 1);
  assert.equal(broker.vhost().queue('consumed').messageCount(), 1);
  assert.equal(broker.vhost().queue('graveyard').messageCount(), 1);
  for (const name of ['consumed', 'graveyard']) await broker.deleteQueue(name);
  await broker.deleteExchange('dead');
});

test('get writes binary bodies as base64, truncates when asked, and returns [] from an empty queue', async () => {
  await broker.declareQueue('binary');
  await broker.publish('', { routingKey: 'binary', body: new Uint8Array([0xff, 0xfe, 0x00, 0x01]) });
  await publish('binary', 'text body');
  const [binary, text] = (await admin.request('POST', '/api/queues/%2F/binary/get', { body: { ackmode: 'peek', count: 2, truncate: 4 } })).body;
  assert.equal(binary.payload_encoding, 'base64');
  assert.equal(binary.payload, Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64'));
  assert.equal(text.payload, 'text');
  assert.equal(text.payload_bytes, 9);
  const forced = (await admin.request('POST', '/api/queues/%2F/binary/get', { body: { ackmode: 'peek', count: 2, encoding: 'base64' } })).body;
  assert.equal(forced[1].payload, Buffer.from('text body').toString('base64'));
  await broker.purgeQueue('binary');
  assert.deepEqual((await admin.request('POST', '/api/queues/%2F/binary/get', { body: { ackmode: 'ack_requeue_true' } })).body, []);
  await broker.deleteQueue('binary');
});

test('get refuses a missing ackmode, a count out of range, a missing queue and an exclusive queue', async () => {
  await broker.declareQueue('get-errors');
  assert.equal((await admin.request('POST', '/api/queues/%2F/get-errors/get', { body: {} })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('POST', '/api/queues/%2F/get-errors/get', { body: { ackmode: 'peek', count: 0 } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('POST', '/api/queues/%2F/get-errors/get', { body: { ackmode: 'peek', count: 1_001 } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('POST', '/api/queues/%2F/absent/get', { body: { ackmode: 'peek' } })).code, 'QUEUE_NOT_FOUND');
  await broker.vhost().declareQueue({ name: 'private', exclusiveOwner: 'tcp-x', durable: false });
  const locked = await admin.request('POST', '/api/queues/%2F/private/get', { body: { ackmode: 'peek' } });
  assert.equal(locked.status, 409);
  assert.equal(locked.code, 'RESOURCE_LOCKED');
  assert.equal((await admin.request('DELETE', '/api/queues/%2F/private/contents')).code, 'RESOURCE_LOCKED');
  const listed = await admin.get('/api/queues/%2F/private');
  assert.equal(listed.exclusive, true);
  assert.equal(listed.exclusive_owner, 'tcp-x');
  for (const name of ['get-errors', 'private']) await broker.deleteQueue(name);
});

test('a management user acts only within its permissions and sees only its vhosts', async () => {
  const allowed = await admin.request('PUT', '/api/queues/%2F/mine-1', { body: {}, login: limited });
  assert.equal(allowed.status, 201);
  const refused = await admin.request('PUT', '/api/queues/%2F/theirs', { body: {}, login: limited });
  assert.equal(refused.status, 403);
  assert.equal(refused.code, 'ACCESS_REFUSED');
  await broker.declareQueue('theirs');
  assert.equal((await admin.request('POST', '/api/queues/%2F/theirs/get', { body: { ackmode: 'peek' }, login: limited })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('DELETE', '/api/queues/%2F/theirs/contents', { login: limited })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('DELETE', '/api/queues/%2F/theirs', { login: limited })).code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('POST', '/api/queues/%2F/mine-1/get', { body: { ackmode: 'peek' }, login: limited })).status, 200);
  await broker.core.declareVhost('hidden');
  assert.equal((await admin.request('GET', '/api/queues/hidden', { login: limited })).code, 'ACCESS_REFUSED');
  const names = (await admin.get('/api/queues', { login: limited })).map((queue: { vhost: string }) => queue.vhost);
  assert.ok(!names.includes('hidden'));
  assert.equal((await admin.request('DELETE', '/api/queues/%2F/mine-1', { login: limited })).status, 200);
  await broker.deleteQueue('theirs');
  await broker.core.deleteVhost('hidden');
});

test('GET …/bindings lists the bindings leading to a queue', async () => {
  await broker.declareQueue('bound');
  await broker.declareExchange('events', { type: 'topic' });
  await broker.bind('events', 'bound', 'order.*');
  const bindings = await admin.get('/api/queues/%2F/bound/bindings');
  assert.deepEqual(
    bindings.map((binding: { source: string; routing_key: string }) => [binding.source, binding.routing_key]),
    [['events', 'order.*']],
  );
  assert.equal((await admin.request('GET', '/api/queues/%2F/unbound/bindings')).code, 'QUEUE_NOT_FOUND');
  await broker.deleteQueue('bound');
  await broker.deleteExchange('events');
});
