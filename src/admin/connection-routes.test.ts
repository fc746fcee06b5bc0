import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as amqp from 'amqplib';
import { testPasswordHasher } from '../core/test-broker.js';
import { SystemClock } from '../platform/clock.js';
import { startAmqpServer, type AmqpServer } from '../protocols/amqp091/amqp-server.js';
import { Broker } from '../server/broker.js';
import { segment, startTestAdmin, waitFor, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let amqpServer: AmqpServer;
let admin: TestAdmin;
const other = { user: 'other', password: 'pw' };
const watcher = { user: 'watcher', password: 'pw' };

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser(other.user, other.password, { tags: ['management'] });
  await broker.core.access.setPermissions(other.user, '/', { configure: '.*', write: '.*', read: '.*' });
  await broker.core.access.putUser(watcher.user, watcher.password, { tags: ['monitoring'] });
  amqpServer = await startAmqpServer(broker.core, { host: '127.0.0.1', port: 0, clock: new SystemClock(), messageBytesMax: 1024 * 1024 });
  admin = await startTestAdmin(broker.core);
});

after(async () => {
  await admin.close();
  await amqpServer.close();
  await broker.close();
});

function connect(user = 'guest', password = 'guest'): Promise<amqp.ChannelModel> {
  return amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: amqpServer.port, username: user, password, vhost: '/' });
}

test('an AMQP connection is listed with its peer, user, vhost and channels, and its channels and consumers too', async () => {
  const connection = await connect();
  try {
    const channel = await connection.createChannel();
    await channel.prefetch(5);
    await channel.assertQueue('listed', { durable: false });
    await channel.consume('listed', () => undefined, { consumerTag: 'my-consumer' });
    const connections = await admin.get('/api/connections');
    assert.equal(connections.length, 1);
    const [listed] = connections;
    assert.equal(listed.protocol, 'amqp091');
    assert.equal(listed.user, 'guest');
    assert.equal(listed.vhost, '/');
    assert.equal(listed.peer_host, '127.0.0.1');
    assert.equal(typeof listed.peer_port, 'number');
    assert.equal(listed.state, 'open');
    assert.equal(listed.channels, 1);
    assert.ok(listed.connected_at_ms <= Date.now());
    assert.deepEqual(await admin.get(`/api/connections/${segment(listed.name)}`), listed);

    const channels = await admin.get(`/api/connections/${segment(listed.name)}/channels`);
    assert.equal(channels.length, 1);
    assert.equal(channels[0].name, `${listed.name} (1)`);
    assert.equal(channels[0].prefetch_count, 5);
    assert.equal(channels[0].consumer_count, 1);
    assert.deepEqual(await admin.get('/api/channels'), channels);

    const consumers = await admin.get('/api/consumers');
    assert.equal(consumers.length, 1);
    assert.equal(consumers[0].consumer_tag, 'my-consumer');
    assert.equal(consumers[0].queue, 'listed');
    assert.equal(consumers[0].connection, listed.name);
    assert.equal(consumers[0].channel, `${listed.name} (1)`);
    assert.equal(consumers[0].prefetch_count, 5);
    assert.equal(consumers[0].ack_required, true);
    assert.deepEqual(await admin.get('/api/consumers/%2F'), consumers);

    const overview = await admin.get('/api/overview');
    assert.equal(overview.object_totals.connections, 1);
    assert.equal(overview.object_totals.channels, 1);
    assert.equal(overview.object_totals.consumers, 1);
  } finally {
    await connection.close();
  }
  await waitFor(async () => (await admin.get('/api/connections')).length === 0);
  assert.deepEqual(await admin.get('/api/connections'), []);
});

test('DELETE closes a connection: the client is told CONNECTION_FORCED', async () => {
  const connection = await connect();
  const closed = new Promise<Error | undefined>((resolve) => {
    connection.on('error', (error: Error) => resolve(error));
    connection.on('close', (error?: Error) => resolve(error));
  });
  const [listed] = await admin.get('/api/connections');
  const answer = await admin.request('DELETE', `/api/connections/${segment(listed.name)}`, { headers: { 'x-reason': 'maintenance' } });
  assert.equal(answer.status, 204);
  const error = await closed;
  assert.match(String(error?.message), /320.*CONNECTION_FORCED - maintenance/);
  await waitFor(async () => (await admin.get('/api/connections')).length === 0);
});

test('a missing connection is 404 CONNECTION_NOT_FOUND', async () => {
  assert.equal((await admin.request('GET', '/api/connections/tcp-0')).code, 'CONNECTION_NOT_FOUND');
  assert.equal((await admin.request('GET', '/api/connections/tcp-0/channels')).code, 'CONNECTION_NOT_FOUND');
  const answer = await admin.request('DELETE', '/api/connections/tcp-0');
  assert.equal(answer.status, 404);
  assert.equal(answer.code, 'CONNECTION_NOT_FOUND');
});

test('users without monitoring see and close only their own connections', async () => {
  const mine = await connect(other.user, other.password);
  const guests = await connect();
  try {
    await waitFor(async () => (await admin.get('/api/connections')).length === 2);
    const seen = await admin.get('/api/connections', { login: other });
    assert.deepEqual(seen.map((connection: { user: string }) => connection.user), ['other']);
    const guestConnection = (await admin.get('/api/connections')).find((connection: { user: string }) => connection.user === 'guest');
    assert.equal((await admin.request('GET', `/api/connections/${segment(guestConnection.name)}`, { login: other })).code, 'ACCESS_REFUSED');
    assert.equal((await admin.request('DELETE', `/api/connections/${segment(guestConnection.name)}`, { login: other })).code, 'ACCESS_REFUSED');
    assert.equal((await admin.get('/api/connections', { login: watcher })).length, 2, 'monitoring sees all');
    const refused = await admin.request('DELETE', `/api/connections/${segment(guestConnection.name)}`, { login: watcher });
    assert.equal(refused.code, 'ACCESS_REFUSED', 'but closes none of others');
    assert.equal((await admin.get('/api/channels', { login: other })).length, 0);
  } finally {
    await mine.close();
    await guests.close();
  }
});
