import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFerryError } from '../../lib/ferry-error.js';
import { type PermissionKind, Permissions } from './permissions.js';

const kinds: readonly PermissionKind[] = ['configure', 'write', 'read'];

test('a user without an entry for a vhost may do nothing there', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'other', { configure: '.*', write: '.*', read: '.*' });
  for (const kind of kinds) assert.equal(permissions.check('alice', 'prod', kind, 'orders'), false);
  assert.equal(permissions.canAccessVhost('alice', 'prod'), false);
  assert.equal(permissions.canAccessVhost('alice', 'other'), true);
  assert.equal(permissions.check('bob', 'other', 'read', 'orders'), false);
});

test('.* allows every name and the empty pattern allows none, the default exchange included', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'prod', { configure: '', write: '.*', read: '' });
  for (const name of ['orders', 'amq.gen-x', '', 'a b']) {
    assert.equal(permissions.check('alice', 'prod', 'write', name), true, `write ${name}`);
    assert.equal(permissions.check('alice', 'prod', 'configure', name), false, `configure ${name}`);
    assert.equal(permissions.check('alice', 'prod', 'read', name), false, `read ${name}`);
  }
  // An empty pattern still lets the user open the vhost, as in RabbitMQ.
  assert.equal(permissions.canAccessVhost('alice', 'prod'), true);
});

test('patterns must match the whole name', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'prod', { configure: 'orders', write: 'orders-.*', read: 'a|b' });
  assert.equal(permissions.check('alice', 'prod', 'configure', 'orders'), true);
  assert.equal(permissions.check('alice', 'prod', 'configure', 'orders-eu'), false);
  assert.equal(permissions.check('alice', 'prod', 'configure', 'my-orders'), false);
  assert.equal(permissions.check('alice', 'prod', 'write', 'orders-eu'), true);
  assert.equal(permissions.check('alice', 'prod', 'write', 'orders'), false);
  // The anchors apply to the whole alternation, not just its first and last branch.
  assert.equal(permissions.check('alice', 'prod', 'read', 'a'), true);
  assert.equal(permissions.check('alice', 'prod', 'read', 'ab'), false);
  assert.equal(permissions.check('alice', 'prod', 'read', 'xb'), false);
});

test('patterns written with explicit anchors behave as in RabbitMQ', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'prod', { configure: '^(amq\\.gen.*|orders)$', write: '^$', read: '^tmp-.*' });
  assert.equal(permissions.check('alice', 'prod', 'configure', 'amq.gen-123'), true);
  assert.equal(permissions.check('alice', 'prod', 'configure', 'orders'), true);
  assert.equal(permissions.check('alice', 'prod', 'configure', 'ordersx'), false);
  assert.equal(permissions.check('alice', 'prod', 'read', 'tmp-1'), true);
  // `^$` allows nothing real: the default exchange is checked as amq.default.
  assert.equal(permissions.check('alice', 'prod', 'write', ''), false);
  assert.equal(permissions.check('alice', 'prod', 'write', 'orders'), false);
});

test('the default exchange is checked under the name amq.default', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'prod', { configure: '', write: 'amq\\.default', read: '' });
  assert.equal(permissions.check('alice', 'prod', 'write', ''), true);
  assert.equal(permissions.check('alice', 'prod', 'write', 'amq.default'), true);
  assert.equal(permissions.check('alice', 'prod', 'write', 'orders'), false);
});

test('each kind, user and vhost is checked against its own pattern', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'prod', { configure: 'c', write: 'w', read: 'r' });
  permissions.set('alice', 'test', { configure: 'r', write: 'r', read: 'r' });
  permissions.set('bob', 'prod', { configure: 'w', write: 'w', read: 'w' });
  assert.equal(permissions.check('alice', 'prod', 'configure', 'c'), true);
  assert.equal(permissions.check('alice', 'prod', 'configure', 'w'), false);
  assert.equal(permissions.check('alice', 'prod', 'write', 'w'), true);
  assert.equal(permissions.check('alice', 'prod', 'read', 'r'), true);
  assert.equal(permissions.check('alice', 'prod', 'read', 'w'), false);
  assert.equal(permissions.check('alice', 'test', 'configure', 'r'), true);
  assert.equal(permissions.check('bob', 'prod', 'configure', 'w'), true);
  assert.equal(permissions.check('bob', 'prod', 'configure', 'c'), false);
});

test('an invalid regular expression is refused and the previous permissions stay', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'prod', { configure: '.*', write: '.*', read: '.*' });
  for (const bad of ['(', 'a)|(b', '[a-', '\\']) {
    assert.throws(
      () => permissions.set('alice', 'prod', { configure: '.*', write: bad, read: '.*' }),
      (error: unknown) => isFerryError(error, 'INVALID_PERMISSION_PATTERN'),
      bad,
    );
  }
  assert.deepEqual(permissions.get('alice', 'prod'), { configure: '.*', write: '.*', read: '.*' });
  assert.equal(permissions.check('alice', 'prod', 'write', 'anything'), true);
});

test('set replaces, clear removes, and clearUser and clearVhost remove in bulk', () => {
  const permissions = new Permissions();
  permissions.set('alice', 'prod', { configure: '.*', write: '.*', read: '.*' });
  permissions.set('alice', 'prod', { configure: '', write: 'x', read: '' });
  assert.deepEqual(permissions.get('alice', 'prod'), { configure: '', write: 'x', read: '' });
  permissions.set('alice', 'test', { configure: '.*', write: '.*', read: '.*' });
  permissions.set('bob', 'prod', { configure: '.*', write: '.*', read: '.*' });
  permissions.set('carol', 'test', { configure: '.*', write: '.*', read: '.*' });
  assert.deepEqual(
    permissions.list().map(({ user, vhost }) => `${user}@${vhost}`),
    ['alice@prod', 'alice@test', 'bob@prod', 'carol@test'],
  );
  assert.equal(permissions.clear('alice', 'prod'), true);
  assert.equal(permissions.clear('alice', 'prod'), false);
  assert.equal(permissions.check('alice', 'prod', 'write', 'x'), false);
  assert.equal(permissions.clearVhost('test'), 2);
  assert.equal(permissions.canAccessVhost('carol', 'test'), false);
  assert.equal(permissions.clearUser('bob'), 1);
  assert.deepEqual(permissions.list(), []);
});
