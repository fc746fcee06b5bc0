import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../platform/clock.js';
import { ScryptPasswordHasher } from '../../platform/password-hasher.js';
import { MemoryLogStore } from '../../storage/memory-log-store.js';
import { MetadataStore } from '../../storage/metadata-store.js';
import { AccessControl, isLoopback } from './access-control.js';

async function open() {
  const store = new MemoryLogStore({ clock: new ManualClock() });
  const definitions = await MetadataStore.open(store);
  return { definitions, access: await AccessControl.open(definitions, new ScryptPasswordHasher()) };
}

const refused = async (run: () => unknown) =>
  assert.rejects(async () => run(), (error: { code?: string }) => {
    assert.equal(error.code, 'ACCESS_REFUSED');
    return true;
  });

test('the default guest user logs in from loopback only', async () => {
  const { access } = await open();
  assert.equal((await access.authenticate('guest', 'guest', '127.0.0.1')).user, 'guest');
  assert.equal((await access.authenticate('guest', 'guest', '::1')).user, 'guest');
  await refused(() => access.authenticate('guest', 'guest', '10.1.2.3'));
  await refused(() => access.authenticate('guest', 'wrong', '127.0.0.1'));
  await refused(() => access.authenticate('nobody', 'guest', '127.0.0.1'));
});

test('permissions check configure, write and read patterns per vhost', async () => {
  const { access } = await open();
  await access.putUser('app', 's3cret');
  await access.setPermissions('app', '/', { configure: '^app\\..*', write: '^(app\\..*|amq\\.default)$', read: '.*' });
  const app = await access.authenticate('app', 's3cret', '192.168.1.9');
  access.authorize(app, '/', 'configure', 'app.orders');
  await refused(() => access.authorize(app, '/', 'configure', 'billing'));
  access.authorize(app, '/', 'write', '');
  await refused(() => access.authorize(app, '/', 'write', 'billing'));
  access.authorize(app, '/', 'read', 'anything');
  await refused(() => access.authorizeVhost(app, '/other'));
});

test('users and permissions survive a reload of the definitions', async () => {
  const { definitions } = await open();
  const first = await AccessControl.open(definitions, new ScryptPasswordHasher());
  await first.putUser('ops', 'pw', { tags: ['administrator'] });
  await first.setPermissions('ops', '/', { configure: '', write: '', read: '^metrics$' });
  const second = await AccessControl.open(definitions, new ScryptPasswordHasher());
  const ops = await second.authenticate('ops', 'pw', '10.0.0.1');
  assert.deepEqual(ops.tags, ['administrator']);
  second.authorize(ops, '/', 'read', 'metrics');
  await refused(() => second.authorize(ops, '/', 'write', 'metrics'));
  assert.equal(await second.deleteUser('ops'), true);
  await refused(() => second.authenticate('ops', 'pw', '10.0.0.1'));
});

test('loopback detection covers IPv4, IPv6 and mapped addresses', () => {
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('127.8.9.10'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('::ffff:127.0.0.1'), true);
  assert.equal(isLoopback('10.0.0.1'), false);
  assert.equal(isLoopback(undefined), false);
});
