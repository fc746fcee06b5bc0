import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../server/broker.js';
import { ManualClock } from '../../platform/clock.js';
import { SimulatedFileSystem } from '../../platform/simulated-file-system.js';
import { testPasswordHasher, withCode } from '../test-broker.js';

function simulatedBroker(fileSystem: SimulatedFileSystem): Promise<Broker> {
  return Broker.start({ dataDir: 'data', fileSystem, clock: new ManualClock(), passwordHasher: testPasswordHasher });
}

/** Names of the storage logs of vhost `vhost` (queues, streams, their state, transactions). */
function logsOf(broker: Broker, vhost: string): string[] {
  const store = (broker as unknown as { logStore: { logNames(): string[] } }).logStore;
  return store.logNames().filter((name) => name.split('/')[1]?.startsWith(vhost) || name === `tx/${vhost}`);
}

test('deleting a vhost removes its queues, streams, transaction log and permissions, and a vhost re-created with its name starts empty', async () => {
  const fileSystem = new SimulatedFileSystem();
  const broker = await simulatedBroker(fileSystem);
  const core = broker.core;
  await core.declareVhost('shop');
  await core.access.putUser('clerk', 'pw', { tags: [] });
  await core.access.setPermissions('clerk', 'shop', { configure: '.*', write: '.*', read: '.*' });
  await broker.declareQueue('orders', {}, { vhost: 'shop' });
  await broker.declareStream('events', { partitions: 2 }, { vhost: 'shop' });
  await broker.publish('', { routingKey: 'orders', body: 'o1', vhost: 'shop' });
  const transaction = await broker.transaction({ vhost: 'shop' });
  transaction.appendToStream('events', { body: 'e1' });
  await transaction.commit();
  assert.ok(logsOf(broker, 'shop').length > 0);

  await core.deleteVhost('shop');
  assert.throws(() => core.vhost('shop'), withCode('VHOST_NOT_FOUND'));
  assert.deepEqual(logsOf(broker, 'shop'), [], 'no log of the vhost is left');
  assert.deepEqual(core.access.listPermissions().filter((entry) => entry.vhost === 'shop'), [], 'its permissions are gone');

  await core.declareVhost('shop');
  assert.throws(() => core.access.authorize({ user: 'clerk', tags: [] }, 'shop', 'read', 'orders'), withCode('ACCESS_REFUSED'));
  assert.equal(broker.vhost('shop').findQueue('orders'), undefined);
  assert.equal(broker.vhost('shop').findStream('events'), undefined);
  await core.deleteVhost('shop');
  await broker.close();

  const after = await simulatedBroker(fileSystem);
  try {
    assert.throws(() => after.core.vhost('shop'), withCode('VHOST_NOT_FOUND'), 'nothing of it comes back after a restart');
    assert.deepEqual(logsOf(after, 'shop'), []);
  } finally {
    await after.close();
  }
});
