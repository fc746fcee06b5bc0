import { memoryHarness, simulatedFileHarness, withHarnessStore, type StoreHarness } from './store-harness.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogStore } from '../core/ports.js';
import { SNAPSHOT_ATTRIBUTE, SNAPSHOT_END_ATTRIBUTE, SNAPSHOT_START_ATTRIBUTE, StateLog } from './state-log.js';

/** Opens, restarts and crashes one kind of store. */
type Harness = StoreHarness;

const stores: Array<{ name: string; make: () => Harness }> = [
  { name: 'memory', make: () => memoryHarness({ retentionRecords: 1 }) },
  // Store-wide retention must not reach state logs: retentionRecords 1 would delete snapshots.
  { name: 'file on the simulated disk', make: () => simulatedFileHarness({ logDefaults: { retentionRecords: 1 } }) },
];

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const read = (bytes: Uint8Array | null): string | null => (bytes === null ? null : new TextDecoder().decode(bytes));

for (const { name, make } of stores) {
  describe(`StateLog on ${name}`, () => {
    const withStore = (run: (store: LogStore, harness: Harness) => Promise<LogStore | void>): Promise<void> => withHarnessStore(make(), run);

    test('a new state log loads as no snapshot and no events', () =>
      withStore(async (store) => {
        const state = await StateLog.open(store, 'empty');
        assert.deepEqual(await state.load(), { snapshot: null, events: [] });
        assert.equal(state.shouldSnapshot(), false);
      }));

    test('events come back in order, also after a restart', () =>
      withStore(async (store, harness) => {
        const state = await StateLog.open(store, 'events');
        await state.appendEvents([text('a'), text('b')]);
        assert.equal(await state.appendEvents([]), null, 'no events, no batch');
        await state.appendEvents([text('c')]);
        const reopened = await harness.reopen(store);
        const again = await StateLog.open(reopened, 'events');
        const { snapshot, events } = await again.load();
        assert.equal(snapshot, null);
        assert.deepEqual(events.map(read), ['a', 'b', 'c']);
        assert.equal(again.eventCountSinceSnapshot(), 3);
        return reopened;
      }));

    test('a snapshot replaces the events before it, and the log start moves to it', () =>
      withStore(async (store, harness) => {
        const state = await StateLog.open(store, 'snapped', { logOptions: { segmentBytesMax: 1024 } });
        for (let i = 0; i < 100; i++) await state.appendEvents([text(`event-${i}-${'.'.repeat(40)}`)]);
        const sizeBefore = state.log.sizeBytes();
        await state.writeSnapshot(text('state after 100 events'));
        await state.appendEvents([text('after')]);
        assert.equal(state.log.startOffset(), 100, 'the start is the snapshot');
        assert.ok(state.log.sizeBytes() < sizeBefore / 4, `old segments are gone: ${state.log.sizeBytes()} of ${sizeBefore} bytes left`);
        await store.applyRetention();
        assert.equal(state.log.startOffset(), 100, 'store-wide retention does not touch a state log');
        const reopened = await harness.reopen(store);
        const again = await StateLog.open(reopened, 'snapped');
        const { snapshot, events } = await again.load();
        assert.equal(read(snapshot), 'state after 100 events');
        assert.deepEqual(events.map(read), ['after']);
        assert.equal(again.log.startOffset(), 100);
        return reopened;
      }));

    test('shouldSnapshot follows the event count and event bytes since the last snapshot', () =>
      withStore(async (store) => {
        const state = await StateLog.open(store, 'policy', { eventsPerSnapshotMax: 5, eventBytesPerSnapshotMax: 100 });
        await state.appendEvents([1, 2, 3, 4, 5].map((i) => text(`${i}`)));
        assert.equal(state.shouldSnapshot(), false, 'five events are allowed');
        await state.appendEvents([text('6')]);
        assert.equal(state.shouldSnapshot(), true, 'the sixth is one too many');
        await state.writeSnapshot(text('s'));
        assert.equal(state.shouldSnapshot(), false);
        await state.appendEvents([new Uint8Array(101)]);
        assert.equal(state.shouldSnapshot(), true, 'one large event exceeds the bytes');
        const again = await StateLog.open(store, 'policy', { eventsPerSnapshotMax: 5, eventBytesPerSnapshotMax: 100 });
        await again.load();
        assert.equal(again.shouldSnapshot(), true, 'load counts the events after the snapshot');
        assert.equal(again.eventByteCountSinceSnapshot(), 101);
      }));

    test('a large snapshot is split across records and batches and reassembled', () =>
      withStore(async (store, harness) => {
        const options = { snapshotRecordBytesMax: 1000, snapshotBatchBytesMax: 3000, readBytesMax: 2048 };
        const state = await StateLog.open(store, 'large', options);
        await state.appendEvents([text('before')]);
        const bytes = Uint8Array.from({ length: 10_500 }, (_, i) => i % 251);
        await state.writeSnapshot(bytes);
        const batches = await state.log.readBatches(0, { bytesMax: 1 << 20 });
        assert.deepEqual(
          batches.map((batch) => [batch.attributes, batch.records.length]),
          [
            [SNAPSHOT_ATTRIBUTE | SNAPSHOT_START_ATTRIBUTE, 3],
            [SNAPSHOT_ATTRIBUTE, 3],
            [SNAPSHOT_ATTRIBUTE, 3],
            [SNAPSHOT_ATTRIBUTE | SNAPSHOT_END_ATTRIBUTE, 2],
          ],
        );
        const reopened = await harness.reopen(store);
        const { snapshot, events } = await (await StateLog.open(reopened, 'large', options)).load();
        assert.deepEqual(snapshot, bytes);
        assert.deepEqual(events, []);
        return reopened;
      }));

    test('an empty snapshot is a snapshot', () =>
      withStore(async (store) => {
        const state = await StateLog.open(store, 'nothing');
        await state.appendEvents([text('x')]);
        await state.writeSnapshot(new Uint8Array(0));
        assert.deepEqual(await state.load(), { snapshot: new Uint8Array(0), events: [] });
      }));

    test('load ignores a torn snapshot and lets a later complete one supersede everything before it', () =>
      withStore(async (store) => {
        const state = await StateLog.open(store, 'torn');
        await state.writeSnapshot(text('first'));
        await state.appendEvents([text('e1')]);
        // A snapshot whose end batch never made it, as a crash can leave it.
        await state.log.append([{ value: text('torn-part') }], { attributes: SNAPSHOT_ATTRIBUTE | SNAPSHOT_START_ATTRIBUTE });
        await state.appendEvents([text('e2')]);
        let loaded = await state.load();
        assert.equal(read(loaded.snapshot), 'first');
        assert.deepEqual(loaded.events.map(read), ['e1', 'e2']);
        // A complete snapshot whose truncation was lost: it still wins.
        await state.log.append([{ value: text('second') }], { attributes: SNAPSHOT_ATTRIBUTE | SNAPSHOT_START_ATTRIBUTE | SNAPSHOT_END_ATTRIBUTE });
        await state.appendEvents([text('e3')]);
        loaded = await state.load();
        assert.equal(read(loaded.snapshot), 'second');
        assert.deepEqual(loaded.events.map(read), ['e3']);
        // A torn snapshot immediately followed by a new complete one.
        await state.log.append([{ value: text('torn-again') }], { attributes: SNAPSHOT_ATTRIBUTE | SNAPSHOT_START_ATTRIBUTE });
        await state.log.append([{ value: text('thi') }], { attributes: SNAPSHOT_ATTRIBUTE | SNAPSHOT_START_ATTRIBUTE });
        await state.log.append([{ value: text('rd') }], { attributes: SNAPSHOT_ATTRIBUTE | SNAPSHOT_END_ATTRIBUTE });
        loaded = await state.load();
        assert.equal(read(loaded.snapshot), 'third');
        assert.deepEqual(loaded.events, []);
      }));

    test('a log that has a retention policy is refused', () =>
      withStore(async (store) => {
        await store.openLog('retained', { retentionMs: 60_000 });
        await assert.rejects(StateLog.open(store, 'retained'), { code: 'INVALID_ARGUMENT' });
        await assert.rejects(StateLog.open(store, 'bad', { eventsPerSnapshotMax: 0 }), { code: 'INVALID_ARGUMENT' });
      }));

    const probe = make();
    test('events and snapshots that resolved survive a crash', { skip: probe.crash === undefined && 'no crash simulation' }, () =>
      withStore(async (store, harness) => {
        const state = await StateLog.open(store, 'crashing', { logOptions: { segmentBytesMax: 1024 } });
        for (let i = 0; i < 50; i++) await state.appendEvents([text(`old-${i}-${'.'.repeat(30)}`)]);
        await state.writeSnapshot(text('snapshot'));
        for (let i = 0; i < 20; i++) await state.appendEvents([text(`new-${i}`)]);
        void state.appendEvents([text('unconfirmed')]).catch(() => undefined);
        const recovered = await harness.crash!(store);
        const again = await StateLog.open(recovered, 'crashing');
        const { snapshot, events } = await again.load();
        assert.equal(read(snapshot), 'snapshot');
        const values = events.map(read);
        assert.deepEqual(values.slice(0, 20), Array.from({ length: 20 }, (_, i) => `new-${i}`));
        assert.ok(values.length <= 21);
        assert.equal(again.log.startOffset(), 50);
        return recovered;
      }));
  });
}
