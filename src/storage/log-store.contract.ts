import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogStore, RecordInput } from '../core/ports.js';
import type { ManualClock } from '../platform/clock.js';

/** How the contract suite drives one store implementation. */
export interface LogStoreHarness {
  readonly clock: ManualClock;
  /** Opens a fresh, empty store (segments small, so rolls happen). */
  open(options?: { segmentBytesMax?: number; retentionBytes?: number; retentionRecords?: number; retentionMs?: number }): Promise<LogStore>;
  /** Closes and reopens the same data; absent for stores that keep nothing. */
  reopen?(store: LogStore): Promise<LogStore>;
  /** Crashes (power loss) and reopens; absent where it cannot be simulated. */
  crash?(store: LogStore): Promise<LogStore>;
  /** Removes what open() created. */
  cleanup(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (value: string): Uint8Array => encoder.encode(value);
const read = (bytes: Uint8Array): string => decoder.decode(bytes);

function records(prefix: string, count: number, bytes = 0): RecordInput[] {
  return Array.from({ length: count }, (_, i) => ({ value: text(`${prefix}-${i}${'.'.repeat(bytes)}`) }));
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: { code?: string }) => {
    assert.equal(error.code, code);
    return true;
  });
}

/**
 * The one contract every LogStore implementation passes: memory, file on the
 * real disk, and file on the simulated disk.
 */
export function describeLogStore(name: string, makeHarness: () => LogStoreHarness): void {
  describe(`LogStore contract: ${name}`, () => {
    const withStore = async (
      run: (store: LogStore, harness: LogStoreHarness) => Promise<LogStore | void>,
      options?: Parameters<LogStoreHarness['open']>[0],
    ): Promise<void> => {
      const harness = makeHarness();
      let store = await harness.open(options);
      try {
        store = (await run(store, harness)) ?? store;
      } finally {
        await store.close().catch(() => undefined);
        await harness.cleanup();
      }
    };

    test('appends get contiguous offsets from zero and read back exactly', () =>
      withStore(async (store, harness) => {
        const log = await store.openLog('orders');
        const first = await log.append([
          { value: text('a'), key: text('k1'), headers: [{ name: 'content-type', value: text('text/plain') }], timestampMs: 1000 },
          { value: new Uint8Array(0), key: null },
        ]);
        const second = await log.append([{ value: text('c'), key: new Uint8Array(0) }]);
        assert.deepEqual(first, { baseOffset: 0, lastOffset: 1 });
        assert.deepEqual(second, { baseOffset: 2, lastOffset: 2 });
        const back = await log.read(0);
        assert.equal(back.length, 3);
        assert.deepEqual(back.map((record) => record.offset), [0, 1, 2]);
        assert.equal(read(back[0]!.value), 'a');
        assert.equal(read(back[0]!.key!), 'k1');
        assert.equal(back[0]!.timestampMs, 1000);
        assert.equal(back[0]!.headers[0]!.name, 'content-type');
        assert.equal(read(back[0]!.headers[0]!.value), 'text/plain');
        assert.equal(back[1]!.key, null);
        assert.equal(back[1]!.value.byteLength, 0);
        assert.equal(back[1]!.timestampMs, harness.clock.nowMs(), 'timestamps default to the clock');
        assert.deepEqual(back[2]!.key, new Uint8Array(0));
        assert.equal(log.endOffset(), 3);
        assert.equal(log.startOffset(), 0);
      }));

    test('appends to many logs keep each log in call order', () =>
      withStore(async (store) => {
        const logs = await Promise.all(['a', 'b', 'c'].map((name) => store.openLog(name)));
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < 300; i++) pending.push(logs[i % 3]!.append([{ value: text(`m${i}`) }]));
        await Promise.all(pending);
        for (const [index, log] of logs.entries()) {
          const values = (await log.read(0, { recordsMax: 1000, bytesMax: 1 << 30 })).map((record) => read(record.value));
          assert.equal(values.length, 100);
          assert.deepEqual(values, Array.from({ length: 100 }, (_, i) => `m${i * 3 + index}`));
        }
        assert.deepEqual(store.logNames().sort(), ['a', 'b', 'c']);
      }));

    test('reads honour record and byte limits but always return the first record', () =>
      withStore(async (store) => {
        const log = await store.openLog('limits');
        for (let i = 0; i < 10; i++) await log.append(records(`b${i}`, 10, 100));
        const five = await log.read(3, { recordsMax: 5 });
        assert.deepEqual(five.map((record) => record.offset), [3, 4, 5, 6, 7]);
        const tiny = await log.read(42, { bytesMax: 1 });
        assert.ok(tiny.length >= 1);
        assert.equal(tiny[0]!.offset, 42);
        assert.ok(tiny.length <= 10, 'a byte limit of 1 returns at most the first batch');
        const all = await log.read(0, { bytesMax: 1 << 30, recordsMax: 1000 });
        assert.equal(all.length, 100);
        assert.deepEqual(await log.read(100), []);
        assert.deepEqual(await log.read(5000), []);
        const batches = await log.readBatches(0, { recordsMax: 25 });
        assert.deepEqual(batches.map((batch) => batch.records.length), [10, 10, 5]);
      }));

    test('segments roll by size and reads cross segment boundaries', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('rolling');
          for (let i = 0; i < 50; i++) await log.append(records(`r${i}`, 4, 200));
          assert.ok(log.sizeBytes() > 8 * 1024, 'more data than one segment holds');
          const all = await log.read(0, { recordsMax: 10_000, bytesMax: 1 << 30 });
          assert.equal(all.length, 200);
          assert.deepEqual(all.map((record) => record.offset), Array.from({ length: 200 }, (_, i) => i));
          const middle = await log.read(97, { recordsMax: 6 });
          assert.deepEqual(middle.map((record) => read(record.value).split('.')[0]), ['r24-1', 'r24-2', 'r24-3', 'r25-0', 'r25-1', 'r25-2']);
        },
        { segmentBytesMax: 4096 },
      ));

    test('truncatePrefix moves the start offset and reads below it begin at the start', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('acked');
          for (let i = 0; i < 40; i++) await log.append(records(`t${i}`, 5, 100));
          await log.truncatePrefix(123);
          assert.equal(log.startOffset(), 123);
          assert.equal(log.endOffset(), 200);
          const fromZero = await log.read(0, { recordsMax: 2 });
          assert.deepEqual(fromZero.map((record) => record.offset), [123, 124]);
          await log.truncatePrefix(50);
          assert.equal(log.startOffset(), 123, 'the start never moves back');
          await log.truncatePrefix(10_000);
          assert.equal(log.startOffset(), 200, 'the start stops at the end');
          assert.deepEqual(await log.read(0), []);
          await log.append(records('after', 1));
          assert.equal(read((await log.read(0))[0]!.value), 'after-0');
        },
        { segmentBytesMax: 2048 },
      ));

    test('retention by bytes and by record count deletes whole old segments', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('retained');
          for (let i = 0; i < 100; i++) await log.append(records(`x${i}`, 1, 500));
          await store.applyRetention();
          assert.ok(log.sizeBytes() <= 8192 + 2048, `size ${log.sizeBytes()} is near the retention limit`);
          assert.ok(log.startOffset() > 0, 'old records are gone');
          assert.equal(log.endOffset(), 100);
          const rest = await log.read(0, { recordsMax: 1000, bytesMax: 1 << 30 });
          assert.equal(rest[0]!.offset, log.startOffset());
          assert.equal(rest.length, 100 - log.startOffset());
        },
        { segmentBytesMax: 2048, retentionBytes: 8192 },
      ));

    test('retention by record count keeps at least that many records', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('counted');
          for (let i = 0; i < 100; i++) await log.append(records(`c${i}`, 1, 300));
          await store.applyRetention();
          const kept = log.endOffset() - log.startOffset();
          assert.ok(kept >= 30, `kept ${kept}`);
          assert.ok(kept < 45, `kept ${kept}: whole segments beyond the limit are dropped`);
        },
        { segmentBytesMax: 2048, retentionRecords: 30 },
      ));

    test('retention by age drops segments whose newest record is too old', () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('aged');
          for (let i = 0; i < 30; i++) await log.append(records(`old${i}`, 1, 300));
          harness.clock.advance(120_000);
          for (let i = 0; i < 5; i++) await log.append(records(`new${i}`, 1, 300));
          await store.applyRetention();
          const rest = await log.read(0, { recordsMax: 1000, bytesMax: 1 << 30 });
          assert.ok(rest.length >= 5 && rest.length < 35, `kept ${rest.length}`);
          assert.ok(rest.every((record, i) => i >= rest.length - 5 || read(record.value).startsWith('old')));
          assert.ok(log.startOffset() > 0);
        },
        { segmentBytesMax: 2048, retentionMs: 60_000 },
      ));

    test('offsetForTimestamp finds the first record at or after a time', () =>
      withStore(async (store) => {
        const log = await store.openLog('timed');
        for (let i = 0; i < 50; i++) await log.append([{ value: text(`v${i}`), timestampMs: 10_000 + i * 10 }]);
        assert.equal(await log.offsetForTimestamp(0), 0);
        assert.equal(await log.offsetForTimestamp(10_000), 0);
        assert.equal(await log.offsetForTimestamp(10_001), 1);
        assert.equal(await log.offsetForTimestamp(10_250), 25);
        assert.equal(await log.offsetForTimestamp(99_999), 50);
      }));

    test('a batch over batchBytesMax is refused with RECORD_TOO_LARGE and nothing is stored', () =>
      withStore(async (store) => {
        const log = await store.openLog('big');
        await expectCode(log.append([{ value: new Uint8Array(33 * 1024 * 1024) }]), 'RECORD_TOO_LARGE');
        assert.equal(log.endOffset(), 0);
        await log.append(records('ok', 1));
        assert.equal(log.endOffset(), 1);
      }));

    test('deleting a log removes it, and a new log of that name starts empty', () =>
      withStore(async (store) => {
        const log = await store.openLog('gone');
        await log.append(records('g', 3));
        await store.deleteLog('gone');
        assert.equal(store.getLog('gone'), undefined);
        await expectCode(log.append(records('late', 1)), 'LOG_NOT_FOUND');
        await expectCode(log.truncatePrefix(1), 'LOG_NOT_FOUND');
        await expectCode(store.deleteLog('gone'), 'LOG_NOT_FOUND');
        const again = await store.openLog('gone');
        assert.equal(again.endOffset(), 0);
        assert.deepEqual(await again.read(0), []);
      }));

    test('a closed store refuses work with STORAGE_CLOSED', () =>
      withStore(async (store) => {
        const log = await store.openLog('closing');
        await store.close();
        await expectCode(log.append(records('x', 1)), 'STORAGE_CLOSED');
        await expectCode(store.openLog('other'), 'STORAGE_CLOSED');
      }));

    test('opening a log twice at once yields the same log', () =>
      withStore(async (store) => {
        const [a, b] = await Promise.all([store.openLog('twin'), store.openLog('twin')]);
        assert.equal(a, b);
        assert.deepEqual(store.logNames(), ['twin']);
      }));

    const probe = makeHarness();
    const persistent = probe.reopen !== undefined;
    const crashable = probe.crash !== undefined;
    void probe.cleanup();

    test('records, start offsets and deletions survive a clean reopen', { skip: !persistent && 'not persistent' }, () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('kept', { retentionBytes: 1 << 30 });
          for (let i = 0; i < 30; i++) await log.append(records(`k${i}`, 3, 200));
          await log.truncatePrefix(17);
          await (await store.openLog('doomed')).append(records('d', 2));
          await store.deleteLog('doomed');
          const reopened = await harness.reopen!(store);
          const again = reopened.getLog('kept')!;
          assert.ok(again, 'the log is there');
          assert.equal(again.options.retentionBytes, 1 << 30, 'options survive');
          assert.equal(again.startOffset(), 17);
          assert.equal(again.endOffset(), 90);
          const back = await again.read(0, { recordsMax: 1000, bytesMax: 1 << 30 });
          assert.equal(back.length, 73);
          assert.equal(read(back[0]!.value).split('.')[0], 'k5-2');
          assert.equal(reopened.getLog('doomed'), undefined);
          const next = await again.append(records('n', 1));
          assert.equal(next.baseOffset, 90);
          return reopened;
        },
        { segmentBytesMax: 2048 },
      ));

    test('every acknowledged record survives a crash', { skip: !crashable && 'no crash simulation' }, () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('durable');
          const acknowledged: number[] = [];
          for (let i = 0; i < 60; i++) {
            const result = await log.append(records(`a${i}`, 2, 150));
            acknowledged.push(result.lastOffset);
          }
          void log.append(records('unacknowledged', 5)).catch(() => undefined);
          const recovered = await harness.crash!(store);
          const again = recovered.getLog('durable')!;
          assert.ok(again.endOffset() >= 120, `end ${again.endOffset()} keeps every acknowledged record`);
          const back = await again.read(0, { recordsMax: 1000, bytesMax: 1 << 30 });
          for (let i = 0; i < 120; i++) assert.equal(read(back[i]!.value).split('.')[0], `a${Math.floor(i / 2)}-${i % 2}`);
          assert.deepEqual(back.map((record) => record.offset), Array.from({ length: back.length }, (_, i) => i));
          return recovered;
        },
        { segmentBytesMax: 2048 },
      ));
  });
}
