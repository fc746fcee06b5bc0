import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { testPasswordHasher } from '../core/test-broker.js';
import { Broker } from '../server/broker.js';
import { startTestAdmin, type TestAdmin } from './admin-test-client.js';

let broker: Broker;
let admin: TestAdmin;
const manager = { user: 'manager', password: 'pw' };

before(async () => {
  broker = await Broker.start({ memory: true, passwordHasher: testPasswordHasher });
  await broker.core.access.putUser(manager.user, manager.password, { tags: ['management'] });
  admin = await startTestAdmin(broker.core);
});

after(async () => {
  await admin.close();
  await broker.close();
});

test('users: list, create (201), show, update tags (200), log in, delete (204)', async () => {
  const names = (await admin.get('/api/users')).map((user: { name: string }) => user.name);
  assert.deepEqual(names.sort(), ['guest', 'manager']);
  const guest = await admin.get('/api/users/guest');
  assert.deepEqual(guest, { name: 'guest', tags: ['administrator'], loopback_only: true });
  const created = await admin.request('PUT', '/api/users/alice', { body: { password: 's3cret', tags: 'management, monitoring' } });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body, { name: 'alice', tags: ['management', 'monitoring'], loopback_only: false });
  const alice = { user: 'alice', password: 's3cret' };
  assert.deepEqual(await admin.get('/api/whoami', { login: alice }), { name: 'alice', tags: ['management', 'monitoring'] });
  const retagged = await admin.request('PUT', '/api/users/alice', { body: { tags: ['administrator'] } });
  assert.equal(retagged.status, 200);
  assert.deepEqual(retagged.body.tags, ['administrator']);
  assert.deepEqual((await admin.get('/api/whoami', { login: alice })).tags, ['administrator'], 'the new tags apply at once, the password is kept');
  assert.equal((await admin.request('PUT', '/api/users/alice', { body: { password: 'changed' } })).status, 200);
  assert.equal((await admin.request('GET', '/api/whoami', { login: alice })).code, 'UNAUTHORIZED', 'the old password no longer works');
  assert.equal((await admin.request('DELETE', '/api/users/alice')).status, 204);
  assert.equal((await admin.request('GET', '/api/users/alice')).code, 'USER_NOT_FOUND');
});

test('a user may be created from a password hash (as definitions export them)', async () => {
  const hash = testPasswordHasher.hash('hashed');
  assert.equal((await admin.request('PUT', '/api/users/hashed', { body: { password_hash: hash, tags: ['management'] } })).status, 201);
  assert.equal((await admin.request('GET', '/api/whoami', { login: { user: 'hashed', password: 'hashed' } })).status, 200);
  await broker.core.access.deleteUser('hashed');
});

test('user errors: no password for a new user, both password forms, unknown user, wrong types, non-administrators', async () => {
  assert.equal((await admin.request('PUT', '/api/users/bob', { body: { tags: [] } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('PUT', '/api/users/bob', { body: { password: 'a', password_hash: 'b' } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('PUT', '/api/users/bob', { body: { password: 5 } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('DELETE', '/api/users/bob')).code, 'USER_NOT_FOUND');
  assert.equal((await admin.request('GET', '/api/users/bob/permissions')).code, 'USER_NOT_FOUND');
  for (const [method, path] of [['GET', '/api/users'], ['GET', '/api/users/guest'], ['PUT', '/api/users/x'], ['DELETE', '/api/users/guest'], ['GET', '/api/permissions']] as const) {
    const answer = await admin.request(method, path, { login: manager, ...(method === 'PUT' ? { body: { password: 'x' } } : {}) });
    assert.equal(answer.status, 403, `${method} ${path}`);
    assert.equal(answer.code, 'ACCESS_REFUSED');
  }
});

test('permissions: set (201), replace (200), show, list per user and overall, delete (204)', async () => {
  const created = await admin.request('PUT', '/api/permissions/%2F/manager', { body: { configure: '^app-', write: '.*', read: '' } });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body, { user: 'manager', vhost: '/', configure: '^app-', write: '.*', read: '' });
  assert.equal((await admin.request('PUT', '/api/permissions/%2F/manager', { body: { configure: '.*', write: '.*', read: '.*' } })).status, 200);
  assert.deepEqual(await admin.get('/api/permissions/%2F/manager'), { user: 'manager', vhost: '/', configure: '.*', write: '.*', read: '.*' });
  assert.deepEqual((await admin.get('/api/users/manager/permissions')).map((entry: { vhost: string }) => entry.vhost), ['/']);
  assert.ok((await admin.get('/api/permissions')).some((entry: { user: string }) => entry.user === 'manager'));
  assert.equal((await admin.request('PUT', '/api/queues/%2F/app-1', { body: {}, login: manager })).status, 201, 'the permissions apply');
  assert.equal((await admin.request('DELETE', '/api/permissions/%2F/manager')).status, 204);
  assert.equal((await admin.request('GET', '/api/permissions/%2F/manager')).code, 'PERMISSION_NOT_FOUND');
  assert.equal((await admin.request('DELETE', '/api/permissions/%2F/manager')).code, 'PERMISSION_NOT_FOUND');
  await broker.deleteQueue('app-1');
});

test('permission errors: bad pattern, missing field, unknown user or vhost', async () => {
  const pattern = await admin.request('PUT', '/api/permissions/%2F/manager', { body: { configure: '(', write: '', read: '' } });
  assert.equal(pattern.status, 400);
  assert.equal(pattern.code, 'INVALID_PERMISSION_PATTERN');
  assert.equal((await admin.request('PUT', '/api/permissions/%2F/manager', { body: { configure: '.*' } })).code, 'INVALID_REQUEST');
  assert.equal((await admin.request('PUT', '/api/permissions/%2F/nobody', { body: { configure: '', write: '', read: '' } })).code, 'USER_NOT_FOUND');
  assert.equal((await admin.request('PUT', '/api/permissions/absent/manager', { body: { configure: '', write: '', read: '' } })).code, 'VHOST_NOT_FOUND');
  assert.equal((await admin.request('GET', '/api/permissions/absent/manager')).code, 'VHOST_NOT_FOUND');
});
