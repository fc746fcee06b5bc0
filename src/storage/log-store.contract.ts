import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Log, LogStore, RecordInput, StoredRecord } from '../core/ports.js';
import type { ManualClock } from '../platform/clock.js';

/** How the contract suite drives one store implementation. */
export interface LogStoreHarness {
  readonly clock: ManualClock;
  /** Opens a fresh, empty store (segments small, so rolls happen). */
  open(options?: { segmentBytesMax?: number; retentionBytes?: number; retentionRecords?: number; retentionMs?: number; batchBytesMax?: number }): Promise<LogStore>;
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

/** `count` records with keys `k<n % keys>` and values `<prefix>-<n>` padded to `bytes` more. */
function keyedRecords(prefix: string, first: number, count: number, keys: number, bytes = 0): RecordInput[] {
  return Array.from({ length: count }, (_, i) => ({
    key: text(`k${(first + i) % keys}`),
    value: text(`${prefix}-${first + i}${'.'.repeat(bytes)}`),
    timestampMs: 1_000 + first + i,
  }));
}

async function readAll(log: Log, from = 0): Promise<StoredRecord[]> {
  return log.read(from, { recordsMax: 1_000_000, bytesMax: 1 << 30 });
}

/** The keep function of compaction by key: a record survives when no later record of the log has its key. */
function latestPerKey(records: readonly StoredRecord[]): (record: StoredRecord) => boolean {
  const latest = new Map<string, number>();
  for (const record of records) if (record.key) latest.set(read(record.key), record.offset);
  return (record) => record.key === null || latest.get(read(record.key)) === record.offset;
}

/** The log's compact method (optional on the port, present on every store's logs). */
function compactOf(log: Log): NonNullable<Log['compact']> {
  assert.ok(log.compact, 'the log supports compaction');
  return log.compact.bind(log);
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

    test('a key given as text (keyText) is stored as its UTF-8 bytes, alone and in a batch; a key of bytes or null wins over it', () =>
      withStore(async (store) => {
        const log = await store.openLog('texts');
        const long = 'x'.repeat(70);
        const asText = ['orders', 'ünïcode-ключ', '', long, `${long}é`];
        for (const keyText of asText) log.appendUnawaited([{ value: text('v'), keyText }]);
        await log.append([
          { value: new Uint8Array(5000), keyText: 'a big one' },
          { value: text('w'), key: null, keyText: 'not stored' },
          { value: text('w'), key: text('bytes'), keyText: 'not stored' },
        ]);
        await store.written();
        const back = await log.read(0, { recordsMax: 100 });
        assert.deepEqual(
          back.map((record) => (record.key === null ? null : read(record.key))),
          [...asText, 'a big one', null, 'bytes'],
        );
        assert.deepEqual(back.map((record) => read(record.value)).slice(0, 5), ['v', 'v', 'v', 'v', 'v']);
      }));

    test('appendEmpty takes offsets at once; they read back as empty records before what follows', () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('offsets');
          await log.append(records('a', 2));
          log.appendEmpty(3);
          log.appendEmpty(1);
          assert.equal(log.endOffset(), 6, 'the end moves at the call');
          const next = await log.append(records('b', 1));
          assert.deepEqual(next, { baseOffset: 6, lastOffset: 6 });
          log.appendEmpty(2);
          assert.equal(log.endOffset(), 9);
          const back = await readAll(log);
          assert.deepEqual(back.map((record) => record.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
          for (const offset of [2, 3, 4, 5, 7, 8]) {
            const record = back[offset]!;
            assert.equal(record.value.byteLength, 0, `offset ${offset} is empty`);
            assert.equal(record.key, null);
            assert.deepEqual(record.headers, []);
            assert.equal(record.timestampMs, harness.clock.nowMs());
          }
          assert.equal(read(back[6]!.value), 'b-0');
          assert.throws(() => log.appendEmpty(0), (error: { code?: string }) => error.code === 'INVALID_ARGUMENT');
          assert.throws(() => log.appendEmpty(1.5), (error: { code?: string }) => error.code === 'INVALID_ARGUMENT');
          // A truncation into offsets still held as a count.
          log.appendEmpty(5);
          await log.truncatePrefix(12);
          assert.equal(log.startOffset(), 12);
          assert.equal(log.endOffset(), 14);
          assert.deepEqual((await readAll(log)).map((record) => record.offset), [12, 13]);
          // Many at once are written in several batches, each within batchBytesMax (256 KiB here).
          log.appendEmpty(40_000);
          assert.equal(log.endOffset(), 40_014);
          assert.equal((await log.read(40_010)).length, 4);
          const batches = await log.readBatches(14, { bytesMax: 1 << 30 });
          assert.ok(batches.length >= 3, `${batches.length} batches`);
          assert.equal(batches.reduce((sum, batch) => sum + batch.records.length, 0), 40_000);
          if (harness.reopen) {
            log.appendEmpty(2);
            const reopened = await harness.reopen(store);
            const again = reopened.getLog('offsets')!;
            assert.equal(again.endOffset(), 40_016, 'a clean close writes them');
            assert.deepEqual((await again.append(records('c', 1))).baseOffset, 40_016);
            return reopened;
          }
          return undefined;
        },
        { segmentBytesMax: 1 << 20, batchBytesMax: 256 * 1024 },
      ));

    test('appendEmpty after a deleted log or a closed store is refused', () =>
      withStore(async (store) => {
        const log = await store.openLog('gone');
        await store.deleteLog('gone');
        assert.throws(() => log.appendEmpty(1), (error: { code?: string }) => error.code === 'LOG_NOT_FOUND');
        const other = await store.openLog('other');
        await store.close();
        assert.throws(() => other.appendEmpty(1), (error: { code?: string }) => error.code === 'STORAGE_CLOSED');
      }));

    test('a batch built in place (newBatch, appendBatch) reads back as append stores the same records', () =>
      withStore(async (store, harness) => {
        const log = await store.openLog('built');
        await log.append([{ value: text('before') }]);
        const source = text('key|envelope|body one|body two');
        const batch = log.newBatch(3, 3, 40);
        batch.recordStart(1_000, source, 0, 3, 1);
        batch.recordHeader('m', source, 4, 8);
        batch.recordEnd(source, 13, 8);
        batch.recordAgain(1_001, source, 22, 8);
        batch.recordStart(1_002, source, 0, -1, 0);
        batch.recordEnd(source, 0, 0);
        assert.deepEqual(await log.appendBatch(batch, { producer: { producerId: 5, producerEpoch: 1, baseSequence: 3 } }), { baseOffset: 1, lastOffset: 3 });
        assert.equal(log.endOffset(), 4);
        await log.append([{ value: text('after') }]);
        const describe = (records: readonly StoredRecord[]) =>
          records.map((record) => [record.offset, record.timestampMs, record.key && read(record.key), record.headers.map((header) => [header.name, read(header.value)]), read(record.value)]);
        const expected = [
          [1, 1_000, 'key', [['m', 'envelope']], 'body one'],
          [2, 1_001, 'key', [['m', 'envelope']], 'body two'],
          [3, 1_002, null, [], ''],
        ];
        assert.deepEqual(describe(await log.read(1, { recordsMax: 3 })), expected);
        const [stamped] = await log.readBatches(1, { recordsMax: 3 });
        assert.deepEqual(stamped!.producer, { producerId: 5, producerEpoch: 1, baseSequence: 3 });
        await expectCode(log.appendBatch(log.newBatch(0, 0, 0)), 'INVALID_ARGUMENT');
        if (harness.reopen) {
          store = await harness.reopen(store);
          const reopened = await store.openLog('built');
          assert.deepEqual(describe(await reopened.read(1, { recordsMax: 3 })), expected);
          assert.equal(reopened.endOffset(), 5);
        }
        return store;
      }));

    test('appendUnawaited returns base offsets at the call; written() resolves once they read back; refusals throw at the call', () =>
      withStore(async (store) => {
        const left = await store.openLog('left');
        const right = await store.openLog('right');
        assert.equal(left.appendUnawaited(records('l0', 2)), 0);
        assert.equal(right.appendUnawaited(records('r0', 1)), 0);
        assert.equal(left.appendUnawaited(records('l1', 1), { lazy: true }), 2);
        assert.equal(left.endOffset(), 3);
        await store.written();
        assert.deepEqual((await left.read(0)).map((record) => read(record.value)), ['l0-0', 'l0-1', 'l1-0']);
        assert.deepEqual((await right.read(0)).map((record) => read(record.value)), ['r0-0']);
        assert.throws(() => left.appendUnawaited([{ value: new Uint8Array(33 * 1024 * 1024) }]), { code: 'RECORD_TOO_LARGE' });
        assert.equal(left.endOffset(), 3, 'nothing stored');
        await store.deleteLog('right');
        assert.throws(() => right.appendUnawaited(records('late', 1)), { code: 'LOG_NOT_FOUND' });
        await store.written();
        await store.close();
        assert.throws(() => left.appendUnawaited(records('closed', 1)), { code: 'STORAGE_CLOSED' });
        await expectCode(store.written(), 'STORAGE_CLOSED');
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
        // Appends of 20 KB: each stays a batch of its own (the file store frames smaller plain appends together).
        for (let i = 0; i < 10; i++) await log.append(records(`b${i}`, 10, 2000));
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

    test('small reads through a large batch, in order, skipping back and between logs, return its records exactly', () =>
      withStore(async (store) => {
        const logs = [await store.openLog('steps-a'), await store.openLog('steps-b')];
        // Values of varying length: a record's place in the batch depends on every record before it.
        for (const [index, log] of logs.entries()) {
          await log.append(Array.from({ length: 200 }, (_, i) => ({ value: text(`${index}:${i}:${'x'.repeat(i % 17)}`) })));
        }
        const expect = (index: number, offset: number): string => `${index}:${offset}:${'x'.repeat(offset % 17)}`;
        const check = async (index: number, from: number, count: number): Promise<void> => {
          const got = await logs[index]!.read(from, { recordsMax: count });
          assert.deepEqual(got.map((record) => record.offset), Array.from({ length: count }, (_, i) => from + i));
          assert.deepEqual(got.map((record) => read(record.value)), got.map((record) => expect(index, record.offset)));
        };
        for (let offset = 0; offset < 100; offset += 7) {
          await check(0, offset, 7);
          await check(1, offset, 3);
        }
        await check(0, 5, 10);
        await check(0, 150, 50);
        await check(0, 149, 1);
        await check(1, 0, 1);
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
        assert.equal(log.batchBytesMax, 32 * 1024 * 1024, 'the default limit, as the log reports it');
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

    test('compaction removes refused records from sealed segments and every kept record keeps its offset and bytes', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('compacted');
          for (let i = 0; i < 60; i++) await log.append(keyedRecords('v', i * 4, 4, 10, 100));
          const before = await readAll(log);
          const sizeBefore = log.sizeBytes();
          const seen: number[] = [];
          const keepLatest = latestPerKey(before);
          const result = await compactOf(log)((record) => {
            seen.push(record.offset);
            return keepLatest(record);
          });
          assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'keep is asked in offset order');
          const activeStart = Math.max(...seen) + 1;
          assert.ok(activeStart < 240, 'the active segment is not asked about');
          const after = await readAll(log);
          const expected = before.filter((record) => record.offset >= activeStart || keepLatest(record));
          assert.deepEqual(after.map((record) => record.offset), expected.map((record) => record.offset));
          assert.deepEqual(after.map((record) => read(record.value)), expected.map((record) => read(record.value)));
          assert.deepEqual(after.map((record) => record.timestampMs), expected.map((record) => record.timestampMs));
          assert.deepEqual(after.map((record) => read(record.key!)), expected.map((record) => read(record.key!)));
          assert.equal(result.recordsRemoved, before.length - expected.length);
          assert.ok(result.recordsRemoved > 150, `removed ${result.recordsRemoved}`);
          assert.ok(result.segmentsRewritten >= 1 && result.segmentsRewritten <= result.segmentsExamined);
          assert.ok(result.bytesAfter < result.bytesBefore, 'the rewritten segments shrank');
          assert.equal(log.sizeBytes(), sizeBefore - (result.bytesBefore - result.bytesAfter));
          assert.equal(log.startOffset(), 0);
          assert.equal(log.endOffset(), 240);
          const again = await compactOf(log)(keepLatest);
          assert.equal(again.recordsRemoved, 0, 'a second run with the same keep removes nothing');
          assert.equal(again.segmentsRewritten, 0);
          assert.deepEqual((await readAll(log)).map((record) => record.offset), expected.map((record) => record.offset));
          const next = await log.append(keyedRecords('n', 240, 1, 10));
          assert.equal(next.baseOffset, 240, 'appends go on at the same end offset');
        },
        { segmentBytesMax: 2048 },
      ));

    test('reads skip holes: limits count kept records, a hole offset reads from the next kept one, no batch comes back empty', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('holes');
          // Batches of 5; every record of batches 2..5 goes, and odd offsets of the others.
          for (let i = 0; i < 40; i++) await log.append(keyedRecords('h', i * 5, 5, 1000, 60));
          const removed = (offset: number): boolean => (offset >= 10 && offset < 30) || offset % 2 === 1;
          const result = await compactOf(log)((record) => !removed(record.offset));
          assert.ok(result.recordsRemoved > 0);
          const all = await readAll(log);
          const firstActive = all.find((record) => record.offset % 2 === 1 && record.offset >= 30)?.offset ?? 200;
          for (const record of all) assert.ok(record.offset >= firstActive || !removed(record.offset), `offset ${record.offset} was removed`);
          assert.deepEqual((await log.read(10, { recordsMax: 1 })).map((record) => record.offset), [30], 'a read from a hole starts at the next kept record');
          assert.deepEqual((await log.read(1, { recordsMax: 3 })).map((record) => record.offset), [2, 4, 6]);
          const batches = await log.readBatches(0, { recordsMax: 1_000_000, bytesMax: 1 << 30 });
          assert.ok(batches.every((batch) => batch.records.length > 0), 'no empty batch is returned');
          assert.deepEqual(batches.flatMap((batch) => batch.records.map((record) => record.offset)), all.map((record) => record.offset));
          assert.equal(await log.offsetForTimestamp(1_000 + 11), 30, 'offsetForTimestamp skips removed records');
          assert.equal(await log.offsetForTimestamp(1_000 + 3), 4);
          // Reading everything in small steps visits the same records.
          const stepped: number[] = [];
          for (let offset = 0; offset < log.endOffset(); ) {
            const chunk = await log.read(offset, { recordsMax: 2, bytesMax: 1 });
            if (chunk.length === 0) break;
            stepped.push(...chunk.map((record) => record.offset));
            offset = chunk[chunk.length - 1]!.offset + 1;
          }
          assert.deepEqual(stepped, all.map((record) => record.offset));
        },
        { segmentBytesMax: 2048 },
      ));

    test('a cursor walks the records a read returns, within the same limits, and stops before offsetEnd', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('cursor');
          // Batches of 1 to 6 records: null, empty and set keys, no headers, several, the same name twice.
          for (let i = 0; i < 30; i++) {
            await log.append(
              Array.from({ length: 1 + (i % 6) }, (_, j) => ({
                key: j % 3 === 0 ? null : text(j % 3 === 1 ? '' : `k${i}-${j}`),
                value: text(`v${i}-${j}${'.'.repeat((i * 7 + j) % 50)}`),
                headers: Array.from({ length: j % 3 }, (_, h) => ({ name: h === 0 ? 'm' : 'content-type', value: text(`h${h}-${i}`) })).concat(j === 4 ? [{ name: 'm', value: text('second') }] : []),
                timestampMs: 5_000 + i * 10 + j,
              })),
            );
          }
          // Holes of several offsets and gap batches in the sealed segments, and a start offset inside a batch.
          const result = await compactOf(log)((record) => record.offset % 7 < 4 && !(record.offset >= 20 && record.offset < 40));
          assert.ok(result.recordsRemoved > 0);
          await log.truncatePrefix(3);
          const end = log.endOffset();
          const m = text('m');
          for (let from = 0; from <= end + 1; from++) {
            for (const recordsMax of [1, 4, 1000]) {
              for (const bytesMax of [1, 400, 1 << 30]) {
                for (const offsetEnd of [undefined, from + 3]) {
                  const expected = (await log.read(from, { recordsMax, bytesMax })).filter((record) => offsetEnd === undefined || record.offset < offsetEnd);
                  const cursor = await log.readCursor(from, { recordsMax, bytesMax, ...(offsetEnd === undefined ? {} : { offsetEnd }) });
                  const where = `from ${from}, recordsMax ${recordsMax}, bytesMax ${bytesMax}, offsetEnd ${offsetEnd}`;
                  assert.equal(cursor.count, expected.length, where);
                  assert.equal(cursor.lastOffset, expected[expected.length - 1]?.offset, where);
                  for (const record of expected) {
                    assert.ok(cursor.next(), where);
                    const bytes = cursor.bytes;
                    assert.equal(cursor.offset, record.offset, where);
                    assert.equal(cursor.timestampMs, record.timestampMs, where);
                    assert.deepEqual(cursor.keyLength < 0 ? null : bytes.slice(cursor.keyStart, cursor.keyStart + cursor.keyLength), record.key === null ? null : record.key.slice(), where);
                    assert.deepEqual(bytes.slice(cursor.valueStart, cursor.valueEnd), record.value.slice(), where);
                    const envelope = record.headers.find((header) => header.name === 'm');
                    assert.equal(cursor.findHeader(m), envelope !== undefined, where);
                    if (envelope) assert.deepEqual(bytes.slice(cursor.headerValueStart, cursor.headerValueEnd), envelope.value.slice(), where);
                    assert.equal(cursor.findHeader(text('absent')), false);
                    const materialised = cursor.record();
                    assert.deepEqual(
                      [materialised.offset, materialised.timestampMs, materialised.key?.slice() ?? null, materialised.value.slice(), materialised.headers.map((header) => [header.name, read(header.value)])],
                      [record.offset, record.timestampMs, record.key?.slice() ?? null, record.value.slice(), record.headers.map((header) => [header.name, read(header.value)])],
                      where,
                    );
                  }
                  assert.equal(cursor.next(), false, where);
                  assert.equal(cursor.next(), false, where);
                }
              }
            }
          }
        },
        { segmentBytesMax: 2048 },
      ));

    test('compaction leaves the start offset alone and does not ask about records below it', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('started');
          for (let i = 0; i < 50; i++) await log.append(keyedRecords('s', i * 3, 3, 7, 120));
          await log.truncatePrefix(40);
          const asked: number[] = [];
          await compactOf(log)((record) => {
            asked.push(record.offset);
            return record.offset % 3 === 0;
          });
          assert.ok(asked.length > 0 && asked.every((offset) => offset >= 40));
          assert.equal(log.startOffset(), 40);
          assert.equal(log.endOffset(), 150);
          const rest = await readAll(log);
          assert.equal(rest[0]!.offset, 42, 'the first kept record at or after the start');
          assert.deepEqual(await log.read(0, { recordsMax: 1 }).then((records) => records.map((record) => record.offset)), [42]);
        },
        { segmentBytesMax: 2048 },
      ));

    test('a throwing keep rejects and leaves every record readable', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('throwing');
          for (let i = 0; i < 30; i++) await log.append(keyedRecords('t', i * 3, 3, 5, 150));
          const before = await readAll(log);
          await assert.rejects(
            compactOf(log)((record) => {
              if (record.offset === 50) throw new Error('keep failed');
              return record.offset % 2 === 0;
            }),
            /keep failed/,
          );
          const after = await readAll(log);
          // Segments before the failing one may be compacted; the rest is untouched.
          const segmentOfFailure = after.filter((record) => record.offset >= 50);
          assert.deepEqual(segmentOfFailure.map((record) => record.offset), before.filter((record) => record.offset >= 50).map((record) => record.offset));
          await log.append(keyedRecords('t', 90, 1, 5));
          assert.equal(log.endOffset(), 91);
        },
        { segmentBytesMax: 2048 },
      ));

    test('reads running while segments are replaced return the records as they were or as compacted', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('busy');
          for (let i = 0; i < 80; i++) await log.append(keyedRecords('b', i * 4, 4, 9, 200));
          const before = await readAll(log);
          const valueAt = new Map(before.map((record) => [record.offset, read(record.value)]));
          const compaction = compactOf(log)((record) => record.offset % 3 !== 1);
          const reads: Promise<StoredRecord[]>[] = [];
          for (let i = 0; i < 20; i++) reads.push(log.read(i * 15, { recordsMax: 40, bytesMax: 1 + i * 500 }));
          const result = await compaction;
          reads.push(log.read(0, { recordsMax: 40 }));
          for (const [i, records] of (await Promise.all(reads)).entries()) {
            assert.ok(records.length > 0, `read ${i} returned records`);
            for (let j = 0; j < records.length; j++) {
              const record = records[j]!;
              assert.equal(read(record.value), valueAt.get(record.offset), `read ${i}: offset ${record.offset} holds its own value`);
              if (j > 0) assert.ok(record.offset > records[j - 1]!.offset, `read ${i}: offsets ascend`);
            }
          }
          assert.ok(result.recordsRemoved > 0);
          const after = await readAll(log);
          assert.ok(after.every((record) => record.offset % 3 !== 1 || record.offset >= after[after.length - 1]!.offset - 40));
        },
        { segmentBytesMax: 4096 },
      ));

    test('segments dropped by truncatePrefix during a compaction stay dropped', () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('dropping');
          for (let i = 0; i < 60; i++) await log.append(keyedRecords('p', i * 4, 4, 9, 150));
          const compaction = compactOf(log)((record) => record.offset % 2 === 0);
          const truncation = log.truncatePrefix(150);
          await Promise.all([compaction, truncation]);
          assert.equal(log.startOffset(), 150);
          const rest = await readAll(log);
          assert.ok(rest[0]!.offset >= 150);
          assert.ok(log.sizeBytes() < 60 * 4 * 170, 'the dropped segments are gone');
          if (!harness.reopen) return;
          const reopened = await harness.reopen(store);
          const again = reopened.getLog('dropping')!;
          assert.equal(again.startOffset(), 150);
          const back = await readAll(again);
          assert.deepEqual(back.map((record) => record.offset), rest.map((record) => record.offset));
          return reopened;
        },
        { segmentBytesMax: 2048 },
      ));

    test('retention after compaction counts compacted bytes and keeps offsets', () =>
      withStore(
        async (store) => {
          const log = await store.openLog('compacted-retained', { retentionBytes: 6000 });
          for (let i = 0; i < 40; i++) await log.append(keyedRecords('r', i * 2, 2, 4, 300));
          const result = await compactOf(log)((record) => record.offset % 10 === 0);
          assert.ok(result.recordsRemoved > 0);
          const size = log.sizeBytes();
          await store.applyRetention();
          assert.ok(log.sizeBytes() <= size);
          const rest = await readAll(log);
          assert.ok(rest.every((record, i) => i === 0 || record.offset > rest[i - 1]!.offset));
          assert.equal(log.endOffset(), 80);
        },
        { segmentBytesMax: 2048 },
      ));

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

    test('a compacted log reads the same after a clean reopen', { skip: !persistent && 'not persistent' }, () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('compacted-kept');
          for (let i = 0; i < 50; i++) await log.append(keyedRecords('c', i * 4, 4, 12, 90));
          await compactOf(log)(latestPerKey(await readAll(log)));
          const compacted = await readAll(log);
          const reopened = await harness.reopen!(store);
          const again = reopened.getLog('compacted-kept')!;
          const back = await readAll(again);
          assert.deepEqual(back.map((record) => [record.offset, read(record.value)]), compacted.map((record) => [record.offset, read(record.value)]));
          assert.equal(again.endOffset(), 200);
          assert.equal(await again.offsetForTimestamp(1_000), compacted[0]!.offset);
          return reopened;
        },
        { segmentBytesMax: 2048 },
      ));

    test('a compaction that resolved survives a crash', { skip: !crashable && 'no crash simulation' }, () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('compacted-durable');
          for (let i = 0; i < 50; i++) await log.append(keyedRecords('d', i * 4, 4, 12, 90));
          await compactOf(log)(latestPerKey(await readAll(log)));
          const compacted = await readAll(log);
          const recovered = await harness.crash!(store);
          const back = await readAll(recovered.getLog('compacted-durable')!);
          assert.deepEqual(back.map((record) => [record.offset, read(record.value)]), compacted.map((record) => [record.offset, read(record.value)]));
          return recovered;
        },
        { segmentBytesMax: 2048 },
      ));

    test('a crash loses appendEmpty offsets not yet written, and only those', { skip: !crashable && 'no crash simulation' }, () =>
      withStore(
        async (store, harness) => {
          const log = await store.openLog('empties');
          log.appendEmpty(3);
          await log.append(records('kept', 1));
          log.appendEmpty(4);
          const recovered = await harness.crash!(store);
          const again = recovered.getLog('empties')!;
          assert.equal(again.endOffset(), 4, 'the acknowledged record after three empties, none of the four held');
          const back = await readAll(again);
          assert.deepEqual(back.map((record) => record.value.byteLength === 0), [true, true, true, false]);
          assert.equal(read(back[3]!.value), 'kept-0');
          return recovered;
        },
        { segmentBytesMax: 2048 },
      ));

    test('what was appended unawaited before written() resolved survives a crash', { skip: !crashable && 'no crash simulation' }, () =>
      withStore(
        async (store, harness) => {
          const logs = await Promise.all(['a', 'b', 'c'].map((name) => store.openLog(`turns-${name}`)));
          for (let turn = 0; turn < 20; turn++) {
            for (const log of logs) log.appendUnawaited(records(`${log.name}.${turn}`, 1, 150));
            await store.written();
          }
          for (const log of logs) log.appendUnawaited(records('unwritten', 1));
          const recovered = await harness.crash!(store);
          for (const log of logs) {
            const back = await recovered.getLog(log.name)!.read(0, { recordsMax: 100, bytesMax: 1 << 30 });
            assert.ok(back.length >= 20, `${log.name}: ${back.length} of 20 written records`);
            for (let turn = 0; turn < 20; turn++) assert.equal(read(back[turn]!.value).split('.').slice(0, 2).join('.'), `${log.name}.${turn}-0`);
          }
          return recovered;
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
