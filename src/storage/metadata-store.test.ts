import { memoryHarness, simulatedFileHarness, withHarnessStore, type StoreHarness } from './store-harness.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogStore } from '../core/ports.js';
import { METADATA_LOG_NAME, MetadataStore, type JsonValue, type MetadataKind } from './metadata-store.js';

/** Opens, restarts and crashes one kind of store. */
type Harness = StoreHarness;

const stores: Array<{ name: string; make: () => Harness }> = [
  { name: 'memory', make: () => memoryHarness() },
  { name: 'file on the simulated disk (durability always)', make: () => simulatedFileHarness({ durability: 'always', seed: 9 }) },
  // Definitions are fsynced before they are confirmed even when the store's appends are not.
  { name: 'file on the simulated disk (durability never)', make: () => simulatedFileHarness({ durability: 'never', seed: 9 }) },
];

/** Every definition, for comparing two stores. */
function dump(metadata: MetadataStore): Record<string, Array<[string, JsonValue]>> {
  const kinds: MetadataKind[] = ['vhost', 'exchange', 'queue', 'binding', 'user', 'permission', 'policy'];
  return Object.fromEntries(kinds.map((kind) => [kind, metadata.list(kind)]));
}

for (const { name, make } of stores) {
  describe(`MetadataStore on ${name}`, () => {
    const withStore = (run: (store: LogStore, harness: Harness) => Promise<LogStore | void>): Promise<void> => withHarnessStore(make(), run);

    test('put, get, list and delete keep one keyed map per kind', () =>
      withStore(async (store) => {
        const metadata = await MetadataStore.open(store);
        await metadata.put('vhost', '/', { tracing: false });
        await metadata.put('queue', '/orders', { durable: true, arguments: { 'x-max-length': 10 } });
        await metadata.put('queue', '/audit', { durable: false });
        await metadata.put('exchange', '/orders', { type: 'direct' });
        await metadata.put('queue', '/orders', { durable: true, arguments: {} });
        assert.deepEqual(metadata.get('queue', '/orders'), { durable: true, arguments: {} });
        assert.deepEqual(metadata.get('exchange', '/orders'), { type: 'direct' }, 'kinds are separate maps');
        assert.equal(metadata.get('user', 'guest'), undefined);
        assert.deepEqual(metadata.list('queue').map(([key]) => key), ['/orders', '/audit']);
        assert.equal(await metadata.delete('queue', '/audit'), true);
        assert.equal(await metadata.delete('queue', '/audit'), false);
        assert.deepEqual(metadata.list('queue').map(([key]) => key), ['/orders']);
        assert.deepEqual(metadata.list('binding'), []);
      }));

    test('stored values are copies and frozen', () =>
      withStore(async (store) => {
        const metadata = await MetadataStore.open(store);
        const value = { tags: ['administrator'] };
        await metadata.put('user', 'admin', value);
        value.tags.push('changed');
        const stored = metadata.get('user', 'admin') as { tags: string[] };
        assert.deepEqual(stored.tags, ['administrator']);
        assert.throws(() => stored.tags.push('x'), TypeError);
      }));

    test('unknown kinds, empty keys and values without a JSON form are refused', () =>
      withStore(async (store) => {
        const metadata = await MetadataStore.open(store);
        await assert.rejects(metadata.put('widget' as MetadataKind, 'k', 1), { code: 'INVALID_ARGUMENT' });
        await assert.rejects(metadata.put('queue', '', 1), { code: 'INVALID_ARGUMENT' });
        await assert.rejects(metadata.put('queue', 'q', undefined as unknown as JsonValue), { code: 'INVALID_ARGUMENT' });
        await assert.rejects(metadata.put('queue', 'q', { size: 1n } as unknown as JsonValue), { code: 'INVALID_ARGUMENT' });
        assert.equal(metadata.get('queue', 'q'), undefined);
        assert.throws(() => metadata.get('widget' as MetadataKind, 'k'), { code: 'INVALID_ARGUMENT' });
      }));

    test('a restart rebuilds every definition', () =>
      withStore(async (store, harness) => {
        const metadata = await MetadataStore.open(store);
        await metadata.put('vhost', '/', {});
        await metadata.put('user', 'guest', { passwordHash: 'abc', tags: [] });
        await metadata.put('permission', '/:guest', { configure: '.*', write: '.*', read: '.*' });
        await metadata.put('policy', '/:ttl', { pattern: '^tmp', definition: { 'message-ttl': 60000 } });
        await metadata.put('binding', '/:amq.topic:orders:#', { source: 'amq.topic', destination: 'orders', key: '#' });
        await metadata.delete('user', 'guest');
        const before = dump(metadata);
        await metadata.close();
        const reopened = await harness.reopen(store);
        const again = await MetadataStore.open(reopened);
        assert.deepEqual(dump(again), before);
        return reopened;
      }));

    test('snapshots are taken by policy and shrink the log, and the map rebuilds the same', () =>
      withStore(async (store, harness) => {
        const options = { eventsPerSnapshotMax: 20, logOptions: { segmentBytesMax: 2048 } };
        const metadata = await MetadataStore.open(store, options);
        for (let i = 0; i < 300; i++) {
          await metadata.put('queue', `/q${i % 40}`, { durable: true, generation: i });
          if (i % 3 === 0) await metadata.delete('queue', `/q${(i + 7) % 40}`);
        }
        await metadata.close();
        const log = store.getLog(METADATA_LOG_NAME)!;
        assert.ok(log.startOffset() > 300, `the log starts at ${log.startOffset()} of ${log.endOffset()}`);
        assert.ok(log.sizeBytes() < 16 * 1024, `${log.sizeBytes()} bytes are kept`);
        const before = dump(metadata);
        const reopened = await harness.reopen(store);
        const again = await MetadataStore.open(reopened, options);
        assert.deepEqual(dump(again), before);
        assert.ok(again.stateLog.eventCountSinceSnapshot() <= 21);
        return reopened;
      }));

    test('list keeps the order of first puts through snapshots, also for integer-like keys', () =>
      withStore(async (store, harness) => {
        const metadata = await MetadataStore.open(store, { eventsPerSnapshotMax: 1 });
        for (const key of ['10', '2', 'b', 'a', '__proto__']) await metadata.put('user', key, { name: key });
        await metadata.put('user', '10', { name: 'ten' });
        await metadata.close();
        assert.ok(metadata.stateLog.log.startOffset() > 0, 'a snapshot was taken');
        const reopened = await harness.reopen(store);
        const again = await MetadataStore.open(reopened);
        assert.deepEqual(again.list('user').map(([key]) => key), ['10', '2', 'b', 'a', '__proto__']);
        assert.deepEqual(again.get('user', '10'), { name: 'ten' });
        return reopened;
      }));

    const probe = make();
    test('every change that resolved survives a crash', { skip: probe.crash === undefined && 'no crash simulation' }, () =>
      withStore(async (store, harness) => {
        const options = { eventsPerSnapshotMax: 15 };
        const metadata = await MetadataStore.open(store, options);
        const confirmed = new Map<string, JsonValue>();
        for (let i = 0; i < 60; i++) {
          const key = `/e${i % 12}`;
          if (i % 5 === 4) {
            await metadata.delete('exchange', key);
            confirmed.delete(key);
          } else {
            await metadata.put('exchange', key, { type: 'topic', version: i });
            confirmed.set(key, { type: 'topic', version: i });
          }
        }
        const recovered = await harness.crash!(store);
        const again = await MetadataStore.open(recovered, options);
        assert.deepEqual(new Map(again.list('exchange')), confirmed);
        return recovered;
      }));

    test('a put costs one fsync, shared with the append', { skip: probe.fileSystem === undefined && 'no file system' }, () =>
      withStore(async (store, harness) => {
        const metadata = await MetadataStore.open(store);
        await metadata.put('vhost', 'warm-up', {});
        const before = harness.fileSystem!.syncCount;
        await Promise.all([metadata.put('vhost', 'a', {}), metadata.put('vhost', 'b', {}), metadata.delete('vhost', 'warm-up')]);
        assert.equal(harness.fileSystem!.syncCount - before, 1, 'three changes in one turn: one group commit, one fsync');
      }));
  });
}
