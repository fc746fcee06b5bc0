import { memoryHarness, numberedRecords, simulatedFileHarness, withHarnessStore, type StoreHarness } from './store-harness.js';
import { turns } from '../platform/event-loop-turns.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Log, LogStore } from '../core/ports.js';
import { HookedFileSystem } from '../platform/hooked-file-system.js';
import { JournalWriteGate } from '../platform/journal-write-gate.js';
import { SeededRandom } from '../platform/random.js';
import { QueueStateStore, type QueueStateStoreOptions } from './queue-state-store.js';
import { ManualClock } from '../platform/clock.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { FILE_LOG_STORE_DEFAULTS, FileLogStore } from './file-log-store.js';
import type { FileLog } from './file-log.js';

/** Opens, restarts and crashes one kind of store. */
type Harness = StoreHarness;

const stores: Array<{ name: string; make: (seed?: number) => Harness }> = [
  { name: 'memory', make: () => memoryHarness() },
  { name: 'file on the simulated disk', make: (seed = 42) => simulatedFileHarness({ seed }) },
];

const MESSAGES = 'orders';
const STATE = '$queue-state/orders';

/** The queue's message log (created with small segments) and its delivery state. */
async function openQueue(store: LogStore, options: QueueStateStoreOptions = {}): Promise<{ messages: Log; state: QueueStateStore }> {
  const messages = await store.openLog(MESSAGES, { segmentBytesMax: 1024 });
  const state = await QueueStateStore.open(store, STATE, messages, options);
  return { messages, state };
}

async function publish(messages: Log, count: number): Promise<void> {
  const value = new TextEncoder().encode('message body');
  for (let sent = 0; sent < count; sent += 100) {
    await messages.append(Array.from({ length: Math.min(100, count - sent) }, () => ({ value })));
  }
}

/** The events (record values, as byte arrays) appended to the state log from `fromOffset` on. */
async function eventsSince(state: QueueStateStore, fromOffset: number): Promise<number[][]> {
  const batches = await state.stateLog.log.readBatches(fromOffset, { bytesMax: 1 << 20 });
  return batches.flatMap((batch) => batch.records.map((record) => [...record.value]));
}

/** Everything a caller can see about offsets [0, end). */
function view(state: QueueStateStore, end: number) {
  const watermark = state.lowWatermark();
  return {
    watermark,
    unacked: [...state.unackedOffsets(0, end)],
    deadLettered: Array.from({ length: end - watermark }, (_, i) => watermark + i).filter((offset) => state.isDeadLettered(offset)),
    deliveries: Array.from({ length: end }, (_, offset) => state.deliveryCount(offset)),
    schedule: Array.from({ length: end }, (_, offset) => state.scheduledAt(offset) ?? null),
  };
}

for (const { name, make } of stores) {
  describe(`QueueStateStore on ${name}`, () => {
    const withStore = (run: (store: LogStore, harness: Harness) => Promise<LogStore | void>, seed?: number): Promise<void> => withHarnessStore(make(seed), run);

    test('acks in any order settle messages and move the low watermark over the acked prefix', () =>
      withStore(async (store) => {
        const { messages, state } = await openQueue(store);
        await publish(messages, 10);
        assert.equal(state.lowWatermark(), 0);
        await state.ack([3, 1, 4]);
        assert.equal(state.isAcked(1), true);
        assert.equal(state.isAcked(2), false);
        assert.equal(state.lowWatermark(), 0);
        assert.deepEqual([...state.unackedOffsets()], [0, 2, 5, 6, 7, 8, 9]);
        await state.ack([0, 2]);
        assert.equal(state.lowWatermark(), 5);
        assert.equal(state.nextUnacked(0), 5);
        await state.ackRange(7, 10);
        assert.deepEqual([...state.unackedOffsets()], [5, 6]);
        await state.ack([1]);
        assert.equal(state.memory().settledRanges, 1, 'the settled prefix is merged away; 7..10 is one range');
      }));

    test('acks and deliveries beyond the message log are refused and change nothing', () =>
      withStore(async (store) => {
        const { messages, state } = await openQueue(store);
        await publish(messages, 5);
        await assert.rejects(state.ack([1, 5]), { code: 'OFFSET_OUT_OF_RANGE' });
        assert.equal(state.isAcked(1), false, 'a refused ack acks nothing');
        await assert.rejects(state.recordDelivery(9), { code: 'OFFSET_OUT_OF_RANGE' });
        await assert.rejects(state.ack([-1]), { code: 'INVALID_ARGUMENT' });
        await state.ack([2]);
        await assert.rejects(state.recordDelivery(2), { code: 'INVALID_ARGUMENT' }, 'an acked message is not delivered');
        await assert.rejects(state.schedule(2, 5), { code: 'INVALID_ARGUMENT' });
      }));

    test('delivery counts grow, and calls made in one turn share one append', () =>
      withStore(async (store) => {
        const { messages, state } = await openQueue(store);
        await publish(messages, 200);
        assert.equal(await state.recordDelivery(7), 1);
        assert.equal(await state.recordDelivery(7), 2);
        const before = state.stateLog.log.endOffset();
        const counts = await Promise.all(Array.from({ length: 100 }, (_, i) => state.recordDelivery(i + 50)));
        const acked = state.ack([7, 8]);
        assert.deepEqual(counts, Array.from({ length: 100 }, () => 1));
        await acked;
        // Records, not batches: the file store may frame the two small appends into one batch.
        const events = await state.stateLog.log.read(before, { bytesMax: 1 << 20 });
        assert.equal(events.length, 2, 'one event for the hundred first deliveries, one for the ack');
        assert.equal(state.stateLog.log.endOffset(), before + 2);
        assert.equal(state.deliveryCount(7), 0, 'an ack forgets the count');
        assert.equal(state.deliveryCount(50), 1);
      }));

    test('after a restart delivered messages are ready again with their counts, and acked ones stay acked', () =>
      withStore(async (store, harness) => {
        let { messages, state } = await openQueue(store);
        await publish(messages, 20);
        await state.ack([0, 1, 2, 10]);
        for (const offset of [3, 4, 5]) await state.recordDelivery(offset);
        await state.recordDelivery(4);
        await state.schedule(6, 1_700_000_060_000);
        await state.schedule(7, 1_700_000_070_000);
        await state.unschedule(7);
        await state.deadLetter(11, 'delivery-limit');
        await state.close();
        const before = view(state, 20);
        const reopened = await harness.reopen(store);
        ({ messages, state } = await openQueue(reopened));
        assert.deepEqual(view(state, 20), before);
        assert.equal(state.lowWatermark(), 3);
        assert.deepEqual([...state.unackedOffsets()], [3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19]);
        assert.equal(state.deliveryCount(4), 2);
        assert.equal(state.scheduledAt(6), 1_700_000_060_000);
        assert.equal(state.scheduledAt(7), undefined);
        assert.equal(state.isDeadLettered(11), true);
        assert.equal(state.isAcked(11), true, 'dead-lettered counts as settled');
        assert.deepEqual([...state.scheduledEntries()], [[6, 1_700_000_060_000]]);
        await state.close();
        await assert.rejects(state.ack([5]), { code: 'STORAGE_CLOSED' });
        return reopened;
      }));

    test('first deliveries of a turn are logged as ranges in one event, and a restart restores every count', () =>
      withStore(async (store, harness) => {
        let { messages, state } = await openQueue(store);
        await publish(messages, 50);
        await state.recordDelivery(40);
        const before = state.stateLog.log.endOffset();
        const calls: Promise<unknown>[] = [];
        for (let offset = 10; offset < 20; offset++) calls.push(state.recordDelivery(offset));
        calls.push(state.recordDelivery(30), state.recordDelivery(25), state.recordDelivery(12), state.recordDelivery(40), state.ack([15]));
        assert.deepEqual(await Promise.all(calls), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, undefined]);
        const batches = await state.stateLog.log.readBatches(before, { bytesMax: 1 << 20 });
        assert.deepEqual(batches.map((batch) => batch.records.length), [4], 'first deliveries in one event; counts of 2 as one event each; the ack');
        await state.close();
        const counts = Array.from({ length: 50 }, (_, offset) => state.deliveryCount(offset));
        const reopened = await harness.reopen(store);
        ({ messages, state } = await openQueue(reopened));
        assert.deepEqual(Array.from({ length: 50 }, (_, offset) => state.deliveryCount(offset)), counts);
        assert.equal(state.deliveryCount(12), 2);
        assert.equal(state.deliveryCount(15), 0, 'acked');
        assert.equal(state.deliveryCount(19), 1);
        assert.equal(state.deliveryCount(20), 0, 'never delivered');
        assert.equal(state.deliveryCount(25), 1);
        assert.equal(await state.recordDelivery(25), 2, 'a restored first delivery counts on');
        await state.close();
        return reopened;
      }));

    test('a first delivery settled before its batch is written is logged only as settled', () =>
      withStore(async (store, harness) => {
        let { messages, state } = await openQueue(store);
        await publish(messages, 10);
        const before = state.stateLog.log.endOffset();
        const delivered = [3, 4, 5].map((offset) => state.recordDelivery(offset));
        const acked = state.ack([3, 5]);
        assert.deepEqual(await Promise.all([...delivered, acked]), [1, 1, 1, undefined]);
        assert.deepEqual(await eventsSince(state, before), [
          [6, 1, 4, 1],
          [1, 2, 3, 1, 1, 1],
        ], 'one delivered-ranges event holding only offset 4, then the ack of 3 and 5');
        const acksOnly = state.stateLog.log.endOffset();
        await Promise.all([state.recordDelivery(6), state.ack([6])]);
        assert.deepEqual(await eventsSince(state, acksOnly), [[1, 1, 6, 1]], 'all delivered offsets acked: no delivered event at all');
        await state.close();
        const reopened = await harness.reopen(store);
        ({ messages, state } = await openQueue(reopened));
        assert.deepEqual([3, 4, 5, 6].map((offset) => [state.isAcked(offset), state.deliveryCount(offset)]), [
          [true, 0],
          [false, 1],
          [true, 0],
          [true, 0],
        ]);
        await state.close();
        return reopened;
      }));

    test('ackUnlogged settles in memory and logs no event, reclaims behind the logged acks, and a clean close keeps it in a snapshot', () =>
      withStore(async (store, harness) => {
        let { messages, state } = await openQueue(store);
        await publish(messages, 2000);
        const logged = state.stateLog.log.endOffset();
        const persistentAck = state.ack([0]);
        state.ackUnlogged(Array.from({ length: 1499 }, (_, i) => i + 1));
        state.ackUnlogged([1700]);
        assert.equal(state.lowWatermark(), 1500);
        assert.equal(state.isAcked(1700), true);
        assert.throws(() => state.ackUnlogged([2000]), { code: 'OFFSET_OUT_OF_RANGE' });
        await persistentAck;
        assert.deepEqual(await eventsSince(state, logged), [[1, 1, 0, 1]], 'only the logged ack is in the state log');
        await state.flush();
        assert.equal(messages.startOffset(), 1500, 'the settled prefix is reclaimed all the same');
        assert.equal(state.stateLog.eventCountSinceSnapshot(), 0, 'flush took a snapshot, which holds the unlogged acks');
        await state.close();
        const reopened = await harness.reopen(store);
        ({ messages, state } = await openQueue(reopened));
        assert.equal(state.lowWatermark(), 1500, 'below the reclaimed start counts as settled');
        assert.equal(state.isAcked(1700), true, 'kept by the snapshot over a clean restart');
        await state.close();
        return reopened;
      }));

    test('acking or dead-lettering forgets the schedule and delivery count of a message', () =>
      withStore(async (store) => {
        const { messages, state } = await openQueue(store);
        await publish(messages, 10);
        await state.recordDelivery(5);
        await state.schedule(5, 100);
        await state.schedule(6, 100);
        await state.ack([5]);
        await state.deadLetter(6, 'expired');
        assert.deepEqual(state.memory(), { settledRanges: 1, deadLetteredRanges: 1, deliveryCounts: 0, scheduled: 0 });
        assert.equal(state.scheduledAt(6), undefined);
        await state.deadLetter(6, 'rejected'); // Settled already: nothing to do.
        assert.equal(state.isDeadLettered(6), true);
      }));

    test('snapshots are taken by policy, shrink the state log, and rebuild the same state', () =>
      withStore(async (store, harness) => {
        const options: QueueStateStoreOptions = { eventsPerSnapshotMax: 50, logOptions: { segmentBytesMax: 1024 } };
        let { messages, state } = await openQueue(store, options);
        await publish(messages, 400);
        const random = new SeededRandom(5);
        for (let round = 0; round < 300; round++) {
          const offset = random.int(400);
          if (state.isAcked(offset)) continue;
          const choice = random.int(10);
          if (choice < 5) await state.recordDelivery(offset);
          else if (choice < 7) await state.ack([offset, Math.min(399, offset + 1 + random.int(3))].filter((o) => !state.isAcked(o)));
          else if (choice < 9) await state.schedule(offset, 1_000 + round);
          else await state.deadLetter(offset, 'rejected');
        }
        await state.flush();
        assert.ok(state.stateLog.log.startOffset() > 0, 'a snapshot moved the state log start');
        assert.ok(state.stateLog.eventCountSinceSnapshot() <= 60, `${state.stateLog.eventCountSinceSnapshot()} events since the snapshot`);
        const events = state.stateLog.log.endOffset();
        assert.ok(state.stateLog.log.sizeBytes() < events * 20, `state log holds ${state.stateLog.log.sizeBytes()} bytes for ${events} events`);
        const before = view(state, 400);
        await state.close();
        const reopened = await harness.reopen(store);
        ({ messages, state } = await openQueue(reopened, options));
        assert.deepEqual(view(state, 400), before);
        return reopened;
      }));

    test('a rising low watermark truncates the message log so settled segments are reclaimed', () =>
      withStore(async (store, harness) => {
        let { messages, state } = await openQueue(store, { reclaimOffsetsMin: 100 });
        await publish(messages, 1000);
        const sizeBefore = messages.sizeBytes();
        await state.ack(Array.from({ length: 50 }, (_, i) => i));
        await state.flush();
        assert.equal(messages.startOffset(), 0, 'below the threshold nothing moves');
        await state.ack(Array.from({ length: 450 }, (_, i) => 50 + i));
        for (let offset = 500; offset < 700; offset++) await state.deadLetter(offset, 'max-length');
        await state.ack([800]);
        await state.flush();
        assert.equal(state.lowWatermark(), 700);
        assert.equal(messages.startOffset(), 700, 'the message log starts at the watermark');
        assert.ok(messages.sizeBytes() < sizeBefore * 0.4, `segments were deleted: ${messages.sizeBytes()} of ${sizeBefore} bytes left`);
        assert.deepEqual(state.memory(), { settledRanges: 1, deadLetteredRanges: 0, deliveryCounts: 0, scheduled: 0 });
        assert.equal(state.isAcked(3), true, 'below the start counts as settled');
        assert.equal(state.isAcked(800), true);
        await state.close();
        const reopened = await harness.reopen(store);
        ({ messages, state } = await openQueue(reopened));
        assert.equal(messages.startOffset(), 700);
        assert.equal(state.lowWatermark(), 700);
        assert.equal(state.isAcked(800), true);
        assert.equal(state.isAcked(801), false);
        return reopened;
      }));

    test('a million acks in order keep memory small: no range, no per-message entry', { timeout: 120_000 }, () =>
      withStore(async (store) => {
        const messages = await store.openLog(MESSAGES, { segmentBytesMax: 1024 * 1024 });
        const state = await QueueStateStore.open(store, STATE, messages);
        const value = new Uint8Array(1);
        const batch = Array.from({ length: 10_000 }, () => ({ value }));
        for (let i = 0; i < 100; i++) await messages.append(batch);
        let rangesMax = 0;
        for (let offset = 0; offset < 1_000_000; ) {
          const acks: Promise<void>[] = [];
          // A thousand single acks per turn: they share one ack event of one range.
          for (const end = offset + 1000; offset < end; offset++) acks.push(state.ack([offset]));
          rangesMax = Math.max(rangesMax, state.memory().settledRanges);
          await Promise.all(acks);
        }
        await state.flush();
        assert.ok(rangesMax <= 1, `at most ${rangesMax} range at any time`);
        assert.deepEqual(state.memory(), { settledRanges: 0, deadLetteredRanges: 0, deliveryCounts: 0, scheduled: 0 });
        assert.equal(state.lowWatermark(), 1_000_000);
        assert.ok(messages.startOffset() >= 1_000_000 - 1024, `message log reclaimed up to ${messages.startOffset()}`);
        assert.ok(state.stateLog.log.endOffset() <= 1000, 'one event per turn of a thousand acks');
        assert.ok(state.stateLog.log.sizeBytes() < 200_000, `state log holds ${state.stateLog.log.sizeBytes()} bytes`);
      }));

    const probe = make();
    const crashable = probe.crash !== undefined;

    test('acks that land after the queue was deleted do not touch the deleted message log', { skip: !crashable && 'no crash simulation' }, () =>
      withStore(async (store, harness) => {
        const { messages, state } = await openQueue(store, { reclaimOffsetsMin: 1 });
        await publish(messages, 100);
        const acked = state.ack(Array.from({ length: 50 }, (_, i) => i));
        await store.deleteLog(MESSAGES);
        await acked;
        await state.close();
        await store.deleteLog(STATE);
        // The journal now ends with the deletions; a truncation after them would make recovery fail.
        const recovered = await harness.crash!(store);
        assert.deepEqual(recovered.logNames(), []);
        return recovered;
      }));
    // The crash lands after this many microtask turns of in-flight work: early ones lose it, some tear its journal write.
    for (const turns of [0, 3, 5, 6, 8, 20]) {
      test(`after a crash acked stays acked, counts do not go back and everything else is ready (crash after ${turns} turns)`, { skip: !crashable && 'no crash simulation' }, () =>
        withStore(async (store, harness) => {
          const options: QueueStateStoreOptions = { eventsPerSnapshotMax: 40, reclaimOffsetsMin: 50, logOptions: { segmentBytesMax: 1024 } };
          let { messages, state } = await openQueue(store, options);
          await publish(messages, 300);
          const random = new SeededRandom(turns + 1);
          const confirmedAcks = new Set<number>();
          const confirmedCounts = new Map<number, number>();
          const confirmedDue = new Map<number, number>();
          const attempted = new Set<number>();
          for (let offset = 0; offset < 60; offset += 3) {
            await state.ack([offset, offset + 1, offset + 2]);
            for (let acked = offset; acked < offset + 3; acked++) confirmedAcks.add(acked);
          }
          for (let round = 0; round < 400; round++) {
            const offset = Math.min(299, 60 + Math.floor(round * 0.6) + random.int(20));
            if (state.isAcked(offset)) continue;
            const choice = random.int(4);
            if (choice <= 1) {
              await state.ack([offset]);
              confirmedAcks.add(offset);
            } else if (choice === 2) {
              confirmedCounts.set(offset, await state.recordDelivery(offset));
            } else {
              await state.schedule(offset, 5000 + round);
              confirmedDue.set(offset, 5000 + round);
            }
          }
          assert.ok(messages.startOffset() >= 50, 'the acked prefix was reclaimed before the crash');
          // Work in flight at the crash: it may or may not survive.
          for (let offset = 0; offset < 300; offset += 7) {
            if (state.isAcked(offset)) continue;
            attempted.add(offset);
            void state.ack([offset]).catch(() => undefined);
            void state.recordDelivery(offset + 1).catch(() => undefined);
          }
          for (let turn = 0; turn < turns; turn++) await Promise.resolve();
          const recovered = await harness.crash!(store);
          ({ messages, state } = await openQueue(recovered, options));
          assert.equal(messages.endOffset(), 300);
          assert.ok(state.stateLog.log.startOffset() > 0, 'snapshots were taken');
          for (const offset of confirmedAcks) assert.equal(state.isAcked(offset), true, `confirmed ack of ${offset} survives`);
          for (const [offset, count] of confirmedCounts) {
            if (state.isAcked(offset)) continue;
            assert.ok(state.deliveryCount(offset) >= count, `count of ${offset} is ${state.deliveryCount(offset)}, was ${count}`);
          }
          for (const [offset, dueMs] of confirmedDue) if (!state.isAcked(offset)) assert.equal(state.scheduledAt(offset), dueMs);
          const unacked = new Set(state.unackedOffsets(0, 300));
          for (let offset = 0; offset < 300; offset++) {
            if (confirmedAcks.has(offset)) continue;
            assert.ok(unacked.has(offset) || attempted.has(offset), `message ${offset} was never acked, so it is ready`);
            assert.ok(offset >= messages.startOffset(), `message ${offset} was not reclaimed`);
          }
          assert.ok(state.lowWatermark() >= 60);
          assert.equal(await state.recordDelivery(state.lowWatermark()), state.deliveryCount(state.lowWatermark()), 'the reopened state takes writes');
          return recovered;
        }, turns + 1),
      );
    }
  });
}

test('a volatile state settles at once, logs nothing, and still reclaims the message log', () =>
  withHarnessStore(memoryHarness(), async (store) => {
    const { messages, state } = await openQueue(store, { volatile: true, reclaimOffsetsMin: 100 });
    await publish(messages, 300);
    const logged = state.stateLog.log.endOffset();
    let acked = false;
    void state.ack([4, 2]).then(() => (acked = true));
    await Promise.resolve();
    assert.equal(acked, true, 'the ack resolves without waiting for an append');
    assert.equal(await state.recordDelivery(7), 1);
    assert.equal(await state.recordDelivery(7), 2);
    await state.schedule(9, 1_000);
    assert.equal(state.scheduledAt(9), 1_000);
    await state.unschedule(9);
    await state.deadLetter(10, 'rejected');
    assert.equal(state.isDeadLettered(10), true);
    await assert.rejects(state.ack([300]), { code: 'OFFSET_OUT_OF_RANGE' }, 'offsets are still checked');
    await state.ackRange(0, 200);
    assert.equal(state.lowWatermark(), 200);
    assert.equal(messages.startOffset(), 200, 'the settled prefix of the message log is reclaimed');
    await state.flush();
    assert.equal(state.stateLog.log.endOffset(), logged, 'nothing was written to the state log');
  }));

test('on the file store, first deliveries alone wait one more group commit for the acks that make them unnecessary', async () => {
  let writes: JournalWriteGate | null = null;
  const harness = simulatedFileHarness({
    interpose: (simulated) => {
      const hooked = new HookedFileSystem(simulated);
      writes = new JournalWriteGate(hooked);
      return hooked;
    },
  });
  await withHarnessStore(harness, async (store) => {
    let { messages, state } = await openQueue(store);
    await publish(messages, 10);
    const gate = writes!;
    const before = state.stateLog.log.endOffset();
    gate.holding = true;
    const busy = [messages.append(numberedRecords(10, 1))];
    await turns(3);
    busy.push(messages.append(numberedRecords(11, 1)));
    await turns(3);
    assert.equal(gate.heldCount(), 2, 'the journal is busy: the next group waits for a write to finish');
    const delivered = state.recordDelivery(7);
    busy.push(messages.append(numberedRecords(12, 1)));
    gate.releaseOne();
    await turns(3);
    assert.equal(gate.heldCount(), 2, 'the next group went out when the first write finished...');
    assert.equal(state.stateLog.log.endOffset(), before, '...without the first delivery, held back for the group after it');
    const acked = state.ack([7]);
    gate.holding = false;
    gate.releaseOne();
    gate.releaseOne();
    await Promise.all([...busy, acked]);
    assert.equal(await delivered, 1);
    assert.deepEqual(await eventsSince(state, before), [[1, 1, 7, 1]], 'the ack came in time: no delivered event');

    const unacked = state.stateLog.log.endOffset();
    const second = state.recordDelivery(8);
    await messages.append(numberedRecords(13, 1));
    assert.equal(await second, 1, 'with nothing acking it, it is logged all the same');
    assert.deepEqual(await eventsSince(state, unacked), [[6, 1, 8, 1]]);
    await state.close();
    const reopened = await harness.reopen(store);
    ({ messages, state } = await openQueue(reopened));
    assert.equal(state.deliveryCount(8), 1, 'and survives a restart');
    await state.close();
    return reopened;
  });
});


test('on a file store busy with many queues, lazy acks wait to be logged with later ones; a plain ack takes its queue\'s along at once', async () => {
  const deferMs = 500;
  const clock = new ManualClock();
  const open = () => FileLogStore.open({ fileSystem, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, deferredGatherMsMax: deferMs });
  const fileSystem = new SimulatedFileSystem();
  let store = await open();
  const queues = FILE_LOG_STORE_DEFAULTS.deferredGatherersMin + 6;
  const states: QueueStateStore[] = [];
  for (let index = 0; index < queues; index++) {
    const messages = await store.openLog(`queue-${index}`);
    await publish(messages, 3);
    states.push(await QueueStateStore.open(store, `$queue-state/queue-${index}`, messages));
  }
  const other = await store.openLog('other');
  const state5Batches = (): number => states[5]!.stateLog.log.endOffset();
  const logged = new Set<number>();
  const promises = states.map((state) => state.ack([0], { lazy: true }));
  assert.equal(new Set(promises).size, 1, 'the lazy acks of all the queues share one promise: the store\'s deferred round');
  const lazy = promises.map((promise, index) => promise.then(() => void logged.add(index)));
  // Busy: appends gather in the same step (on an idle store the acks would be logged at once).
  await other.append(numberedRecords(0, 1));
  await other.append(numberedRecords(1, 1));
  assert.equal(logged.size, 0, 'held over two group commits');
  assert.ok(states.every((state) => state.isAcked(0)), 'applied at once all the same');
  const batchesBefore = state5Batches();
  await states[5]!.ack([1]);
  assert.equal(state5Batches(), batchesBefore + 1, 'the plain ack wrote its queue\'s batch (its lazy ack with it) at once');
  assert.equal(logged.size, 0, 'the lazy acks still resolve together, with their round');
  await turns(10);
  assert.equal(logged.size, queues, 'the rest logged once the store had nothing else to write, before deferredGatherMsMax');
  await Promise.all(lazy);
  const secondLazy = states[7]!.ack([1], { lazy: true });
  await turns(10);
  await secondLazy;
  for (const state of states) await state.close();
  await store.close();
  store = await open();
  try {
    for (let index = 0; index < queues; index++) {
      const state = await QueueStateStore.open(store, `$queue-state/queue-${index}`, store.getLog(`queue-${index}`)!);
      assert.equal(state.lowWatermark(), index === 5 || index === 7 ? 2 : 1, `queue ${index}: its acks survived the restart`);
      await state.close();
    }
  } finally {
    await store.close();
  }
});

test('lazy acks sharing the store\'s deferred round reject, all of them, when the write of their round fails', async () => {
  const clock = new ManualClock();
  const fileSystem = new HookedFileSystem(new SimulatedFileSystem());
  const store = await FileLogStore.open({ fileSystem, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, deferredGatherMsMax: 500 });
  const states: QueueStateStore[] = [];
  for (let index = 0; index < FILE_LOG_STORE_DEFAULTS.deferredGatherersMin + 2; index++) {
    const messages = await store.openLog(`queue-${index}`);
    await publish(messages, 2);
    states.push(await QueueStateStore.open(store, `$queue-state/queue-${index}`, messages));
  }
  const other = await store.openLog('other');
  const outcomes: string[] = [];
  const promises = states.map((state) => state.ack([0], { lazy: true }));
  assert.equal(new Set(promises).size, 1);
  const settled = promises.map((promise) => promise.then(() => void outcomes.push('resolved'), (error: { code?: string }) => void outcomes.push(error.code ?? 'rejected')));
  await other.append(numberedRecords(0, 1));
  assert.deepEqual(outcomes, [], 'held while the store is busy');
  fileSystem.hook = (operation, path) => {
    if (operation === 'write' && path.includes('journal')) throw new Error('disk gone');
  };
  await turns(20);
  await Promise.all(settled);
  assert.equal(outcomes.length, states.length);
  assert.ok(outcomes.every((outcome) => outcome !== 'resolved'), `no lazy ack reported written: ${[...new Set(outcomes)].join(', ')}`);
  fileSystem.hook = null;
  for (const state of states) await state.close().catch(() => undefined);
  await store.close().catch(() => undefined);
});

test('noteDelivery counts a delivery as recordDelivery does, logged with the next batch, and does nothing on a closed state', () =>
  withHarnessStore(simulatedFileHarness(), async (store, harness) => {
    let { messages, state } = await openQueue(store);
    await publish(messages, 4);
    state.noteDelivery(0);
    state.noteDelivery(0);
    state.noteDelivery(1);
    assert.deepEqual([state.deliveryCount(0), state.deliveryCount(1)], [2, 1], 'counted at once');
    await state.flush();
    await state.close();
    state.noteDelivery(3);
    const reopened = await harness.reopen(store);
    ({ messages, state } = await openQueue(reopened));
    assert.deepEqual([0, 1, 2, 3].map((offset) => state.deliveryCount(offset)), [2, 1, 0, 0], 'the counts were logged; nothing after close');
    await state.close();
    return reopened;
  }));


test('first deliveries in offset order hold no map entry; their counts, beside redeliveries and out-of-order ones, survive a snapshot and a restart', () =>
  withHarnessStore(simulatedFileHarness({ seed: 7 }), async (store, harness) => {
    const options: QueueStateStoreOptions = { eventsPerSnapshotMax: 5, reclaimOffsetsMin: 1_000_000 };
    let { messages, state } = await openQueue(store, options);
    await publish(messages, 300);
    const model = new Map<number, number>();
    const deliver = (...offsets: number[]): void => {
      for (const offset of offsets) {
        state.noteDelivery(offset);
        model.set(offset, (model.get(offset) ?? 0) + 1);
      }
    };
    const ack = async (...offsets: number[]): Promise<void> => {
      for (const offset of offsets) model.delete(offset);
      await state.ack(offsets);
    };
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, index) => from + index);
    const counts = (): number[] => range(0, 300).map((offset) => state.deliveryCount(offset));
    const expected = (): number[] => range(0, 300).map((offset) => model.get(offset) ?? 0);
    deliver(...range(0, 40));
    assert.equal(state.memory().deliveryCounts, 0, 'in order: no entries');
    deliver(60, ...range(40, 60), 60, 3);
    assert.deepEqual([state.deliveryCount(60), state.deliveryCount(3), state.deliveryCount(59)], [2, 2, 1], 'redelivered at the end of the first deliveries in order');
    await ack(0, 1, 2, 5, ...range(6, 61).filter((offset) => offset !== 20));
    await ack(3, 4, 20);
    deliver(...range(61, 100));
    assert.equal(state.memory().deliveryCounts, 0, 'once the out-of-order entries are settled, in order again');
    deliver(70);
    await ack(65);
    assert.deepEqual(counts(), expected(), 'counted in memory');
    // Snapshots after those first deliveries were logged: only the snapshot can hold them after a restart.
    let snapshots = 0;
    let next = 100;
    for (let round = 0; round < 100 && snapshots < 2; round++) {
      const before = state.stateLog.eventCountSinceSnapshot();
      deliver(next, next + 1);
      await ack(next);
      next += 2;
      await state.flush();
      if (state.stateLog.eventCountSinceSnapshot() < before) snapshots++;
    }
    assert.equal(snapshots, 2, 'snapshots were written');
    await state.close();
    const reopened = await harness.reopen(store);
    ({ messages, state } = await openQueue(reopened, options));
    assert.deepEqual(counts(), expected(), 'the same counts after a restart');
    deliver(61);
    assert.equal(state.deliveryCount(61), 2, 'and the reopened state counts on');
    await state.close();
    return reopened;
  }));

test('acks made durable tell the message log, which frames the acked runs as a hole: their bytes reach no segment, the rest read whole after a crash', () =>
  withHarnessStore(simulatedFileHarness({ logDefaults: { segmentBytesMax: 1 << 20 } }), async (store, harness) => {
    const messages = (await store.openLog(MESSAGES)) as FileLog;
    const state = await QueueStateStore.open(store, STATE, messages);
    const body = (index: number) => new TextEncoder().encode(`m${index}|${'b'.repeat(300)}`);
    // One small append a message: runs, held unframed.
    for (let index = 0; index < 30; index++) await messages.append([{ value: body(index) }]);
    assert.equal(messages.unframedCount, 30);
    await state.ack(Array.from({ length: 20 }, (_, index) => index));
    await (store as FileLogStore).checkpoint();
    assert.equal(messages.unframedCount, 0, 'the checkpoint framed them');
    assert.ok(messages.sizeBytes() < 10 * 330 + 400, `the 20 acked messages take no room in the segment (${messages.sizeBytes()} bytes)`);
    const reads = async (log: Log) => (await log.read(0, { recordsMax: 100, bytesMax: 1 << 20 })).map((record) => `${record.offset} ${new TextDecoder().decode(record.value)}`);
    const expected = Array.from({ length: 10 }, (_, index) => `${index + 20} ${new TextDecoder().decode(body(index + 20))}`);
    assert.deepEqual(await reads(messages), expected, 'from offset 0 a reader finds the unacked ones, whole');
    await state.close();
    const reopened = await harness.crash!(store);
    const log = reopened.getLog(MESSAGES)!;
    assert.equal(log.endOffset(), 30);
    assert.deepEqual(await reads(log), expected, 'the same after a crash');
    const again = await QueueStateStore.open(reopened, STATE, log);
    assert.equal(again.lowWatermark(), 20);
    await again.close();
    return reopened;
  }));

test('with settledRecordsReadForMs (a deduplication window), acked records stay readable that long: no hole, and the start moves only to a watermark that old', async () => {
  const fileSystem = new SimulatedFileSystem();
  const clock = new ManualClock();
  const store = await FileLogStore.open({ fileSystem, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000 });
  try {
    const messages = (await store.openLog(MESSAGES)) as FileLog;
    const state = await QueueStateStore.open(store, STATE, messages, { reclaimOffsetsMin: 1, settledRecordsReadForMs: 1_000, clock });
    for (let index = 0; index < 10; index++) await messages.append([{ value: new TextEncoder().encode(`m${index}`) }]);
    await state.ack([0, 1, 2, 3, 4]);
    await turns(5);
    await store.checkpoint();
    assert.equal(messages.startOffset(), 0, 'not reclaimed: the watermark is not 1 s old');
    assert.deepEqual((await messages.read(0, { recordsMax: 100 })).map((record) => record.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the acked records are whole, not holes');
    clock.advance(1_000);
    await state.ack([5]);
    await turns(5);
    assert.equal(messages.startOffset(), 5, 'moved to the watermark reached 1 s ago, not to the newest (6)');
    await state.close();
  } finally {
    await store.close();
  }
});
