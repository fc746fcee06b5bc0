import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { startTestAdmin, waitFor, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;
const watcher = { user: 'watcher', password: 'pw' };
const manager = { user: 'manager', password: 'pw' };

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser(watcher.user, watcher.password, { tags: ['monitoring'] });
  await broker.core.access.putUser(manager.user, manager.password, { tags: ['management'] });
  admin = await startTestAdmin(broker.core);
});

after(async () => {
  await admin.close();
  await broker.close();
});

test('PUT creates a vhost (201), again is 200; GET shows its counts and rates; DELETE removes it with its queues', async () => {
  const created = await admin.request('PUT', '/api/vhosts/staging');
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'staging');
  assert.equal((await admin.request('PUT', '/api/vhosts/staging')).status, 200);
  await broker.declareQueue('jobs', {}, { vhost: 'staging' });
  await broker.publish('', { routingKey: 'jobs', body: 'x', vhost: 'staging' });
  await broker.publish('amq.direct', { routingKey: 'nowhere', body: 'x', vhost: 'staging' });
  await waitFor(async () => (await admin.get('/api/vhosts/staging')).message_stats.publish_rate > 0);
  const shown = await admin.get('/api/vhosts/staging');
  assert.equal(shown.queues, 1);
  assert.equal(shown.messages_ready, 1);
  assert.equal(shown.exchanges, 6);
  assert.equal(shown.message_stats.publish, 2);
  assert.equal(shown.message_stats.unroutable, 1);
  assert.ok(shown.message_stats.publish_rate > 0);
  const names = (await admin.get('/api/vhosts')).map((vhost: { name: string }) => vhost.name);
  assert.deepEqual(names, ['/', 'staging']);
  await broker.core.access.setPermissions('manager', 'staging', { configure: '.*', write: '.*', read: '.*' });
  assert.equal((await admin.request('DELETE', '/api/vhosts/staging')).status, 204);
  assert.ok(!broker.core.vhostNames().includes('staging'));
  assert.ok(!broker.core.access.listPermissions().some((entry) => entry.vhost === 'staging'), 'its permissions went too');
});

test('vhost errors: missing vhost is 404, non-administrators may not create or delete', async () => {
  assert.equal((await admin.request('GET', '/api/vhosts/absent')).code, 'VHOST_NOT_FOUND');
  assert.equal((await admin.request('DELETE', '/api/vhosts/absent')).code, 'VHOST_NOT_FOUND');
  const refused = await admin.request('PUT', '/api/vhosts/mine', { login: manager });
  assert.equal(refused.status, 403);
  assert.equal(refused.code, 'ACCESS_REFUSED');
  assert.equal((await admin.request('DELETE', '/api/vhosts/%2F', { login: watcher })).code, 'ACCESS_REFUSED');
});

test('a vhost name longer than 255 characters is refused', async () => {
  const answer = await admin.request('PUT', `/api/vhosts/${'v'.repeat(256)}`);
  assert.equal(answer.status, 400);
  assert.equal(answer.code, 'INVALID_ARGUMENT');
});

test('monitoring users see every vhost; management users only those they have permissions in', async () => {
  await broker.core.declareVhost('team');
  await broker.core.access.setPermissions('manager', 'team', { configure: '.*', write: '.*', read: '.*' });
  const seenByWatcher = (await admin.get('/api/vhosts', { login: watcher })).map((vhost: { name: string }) => vhost.name);
  assert.deepEqual(seenByWatcher, ['/', 'team']);
  const seenByManager = (await admin.get('/api/vhosts', { login: manager })).map((vhost: { name: string }) => vhost.name);
  assert.deepEqual(seenByManager, ['team']);
  assert.equal((await admin.request('GET', '/api/vhosts/%2F', { login: manager })).code, 'ACCESS_REFUSED');
  const permissions = await admin.get('/api/vhosts/team/permissions');
  assert.deepEqual(permissions, [{ user: 'manager', vhost: 'team', configure: '.*', write: '.*', read: '.*' }]);
  assert.equal((await admin.request('GET', '/api/vhosts/team/permissions', { login: manager })).code, 'ACCESS_REFUSED');
  await broker.core.access.clearPermissions('manager', 'team');
  await broker.core.deleteVhost('team');
});
