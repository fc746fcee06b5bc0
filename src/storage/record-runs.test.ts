import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Log, RecordInput, StoredRecord } from '../core/ports.js';
import { isFerryError } from '../lib/ferry-error.js';
import { SeededRandom } from '../platform/random.js';
import { ManualClock } from '../platform/clock.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import type { FileLog } from './file-log.js';
import { FileLogStore, type FileLogStoreOptions } from './file-log-store.js';
import { JournalEntryKind, readJournalFile, type JournalEntry } from './journal.js';
import { decodeBatch, encodedRecordsBytes } from './record-batch.js';
import { batchOfRun, decodeRecordRuns, RecordRuns, runBaseOffset, runRecordBytes, type RunLog } from './record-runs.js';

// Small appends of many logs go as runs of shared RECORDS entries and are framed into batches
// later (record-runs.ts, FORMAT.md): what is journaled, what a crash keeps, and when runs are framed.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function options(fileSystem: SimulatedFileSystem, clock: ManualClock, extra: Partial<FileLogStoreOptions> = {}): FileLogStoreOptions {
  return { fileSystem, clock, directory: 'data', durability: 'always', ...extra };
}

/** A record with every field set: key, two headers, an explicit timestamp (some records leave it to the store). */
function fullRecord(log: number, index: number): RecordInput {
  return {
    key: encoder.encode(`k${log}-${index}`),
    value: encoder.encode(`v${log}-${index}|${'.'.repeat(index * 7)}`),
    headers: [
      { name: 'h1', value: encoder.encode(`a${index}`) },
      { name: 'second', value: new Uint8Array(index % 3) },
    ],
    ...(index % 2 === 0 ? { timestampMs: 1_700_000_000_000 + log * 1000 + index } : {}),
  };
}

/** What a read returns of a record, comparable across a restart. */
function facts(record: StoredRecord): string {
  const headers = record.headers.map((header) => `${header.name}=${decoder.decode(header.value)}`).join(',');
  return `${record.offset} ${record.key ? decoder.decode(record.key) : '-'} ${decoder.decode(record.value)} ${record.timestampMs} [${headers}]`;
}

async function readAll(log: Log): Promise<StoredRecord[]> {
  return log.read(log.startOffset(), { recordsMax: 100_000, bytesMax: 1 << 30 });
}

async function journalEntries(fileSystem: SimulatedFileSystem): Promise<JournalEntry[]> {
  const entries: JournalEntry[] = [];
  for (const name of (await fileSystem.readdir('data/journal')).filter((file) => file.endsWith('.jnl')).sort()) {
    entries.push(...(await readJournalFile(fileSystem, `data/journal/${name}`, Number(name.slice(0, 20)))).entries);
  }
  return entries;
}

test('small appends of many logs in one turn share a RECORDS entry, and come back whole after a power loss', async () => {
  const fileSystem = new SimulatedFileSystem();
  const clock = new ManualClock(1_700_000_500_000);
  let store = await FileLogStore.open(options(fileSystem, clock));
  try {
    const logs = (await Promise.all(Array.from({ length: 20 }, (_, index) => store.openLog(`log-${index}`)))) as FileLog[];
    const appends: Promise<unknown>[] = [];
    for (let round = 0; round < 3; round++) for (const [index, log] of logs.entries()) appends.push(log.append([fullRecord(index, round)]));
    await Promise.all(appends);
    const entries = await journalEntries(fileSystem);
    assert.equal(entries.filter((entry) => entry.kind === JournalEntryKind.append).length, 0, 'no append was a batch of its own');
    const records = entries.filter((entry) => entry.kind === JournalEntryKind.records);
    assert.equal(records.length, 1, 'one entry for the turn');
    const runs = decodeRecordRuns(records[0]!.payload);
    assert.equal(runs.length, 60);
    assert.deepEqual(runs.slice(0, 3).map((run) => [run.logId, run.baseOffset, run.count]), [[logs[0]!.id, 0, 1], [logs[1]!.id, 0, 1], [logs[2]!.id, 0, 1]]);
    const before = await Promise.all(logs.map(async (log) => (await readAll(log)).map(facts)));
    const expected = [0, 1, 2].map((index) => {
      const record = fullRecord(3, index);
      return facts({ offset: index, key: record.key!, value: record.value, headers: record.headers!, timestampMs: record.timestampMs ?? 1_700_000_500_000 });
    });
    assert.deepEqual(before[3], expected, 'key, value, headers and timestamp as appended');

    store.abandon();
    fileSystem.crash(new SeededRandom(7));
    store = await FileLogStore.open(options(fileSystem, new ManualClock(1_700_000_600_000)));
    const after = await Promise.all(logs.map(async (log) => (await readAll(store.getLog(log.name)!)).map(facts)));
    assert.deepEqual(after, before);
  } finally {
    await store.close();
  }
});

test('runs keep journal order with a batch, a truncation and a deletion of the same turn across a crash', async () => {
  const fileSystem = new SimulatedFileSystem();
  const clock = new ManualClock();
  let store = await FileLogStore.open(options(fileSystem, clock));
  try {
    const a = await store.openLog('a');
    const b = await store.openLog('b');
    const d = await store.openLog('d');
    for (let index = 0; index < 10; index++) await b.append([{ value: encoder.encode(`b${index}`) }]);
    const big = Array.from({ length: 10 }, (_, index) => ({ value: encoder.encode(`a-big${index}|${'x'.repeat(2000)}`) }));
    const turn = [
      a.append([{ value: encoder.encode('a0') }]),
      a.append(big), // 20 KB: a batch, after the run before it.
      a.append([{ value: encoder.encode('a11') }]),
      d.append([{ value: encoder.encode('d0') }]),
      b.truncatePrefix(5),
      b.append([{ value: encoder.encode('b10') }]),
      store.deleteLog('d'),
    ];
    await Promise.all(turn);
    const kinds = (await journalEntries(fileSystem)).map((entry) => entry.kind).filter((kind) => kind !== JournalEntryKind.createLog);
    assert.ok(kinds.includes(JournalEntryKind.append) && kinds.includes(JournalEntryKind.records), `both kinds journaled (${kinds.join(',')})`);
    store.abandon();
    fileSystem.crash(new SeededRandom(3));
    store = await FileLogStore.open(options(fileSystem, new ManualClock()));
    const values = async (name: string): Promise<string[]> => (await readAll(store.getLog(name)!)).map((record) => decoder.decode(record.value).split('|')[0]!);
    assert.deepEqual(await values('a'), ['a0', ...big.map((_, index) => `a-big${index}`), 'a11']);
    assert.equal(store.getLog('b')!.startOffset(), 5);
    assert.deepEqual(await values('b'), ['b5', 'b6', 'b7', 'b8', 'b9', 'b10']);
    assert.equal(store.getLog('d'), undefined, 'the deleted log stays deleted');
  } finally {
    await store.close();
  }
});

test('runs in a group whose large batch goes straight to its segment keep their entry', async () => {
  const fileSystem = new SimulatedFileSystem();
  let store = await FileLogStore.open(options(fileSystem, new ManualClock(), { directWriteBytesMin: 4096 }));
  try {
    const small = await store.openLog('small');
    const large = await store.openLog('large');
    const big = Array.from({ length: 10 }, (_, index) => ({ value: encoder.encode(`big${index}|${'x'.repeat(2000)}`) }));
    await Promise.all([small.append([{ value: encoder.encode('s0') }]), large.append(big), small.append([{ value: encoder.encode('s1') }])]);
    const kinds = (await journalEntries(fileSystem)).map((entry) => entry.kind);
    assert.ok(kinds.includes(JournalEntryKind.appendReference), 'the batch went straight to its segment');
    store.abandon();
    fileSystem.crash(new SeededRandom(13));
    store = await FileLogStore.open(options(fileSystem, new ManualClock(), { directWriteBytesMin: 4096 }));
    assert.deepEqual((await readAll(store.getLog('small')!)).map((record) => decoder.decode(record.value)), ['s0', 's1']);
    assert.equal((await readAll(store.getLog('large')!)).length, 10);
  } finally {
    await store.close();
  }
});

test('runs are held until something looks at the segments: a read frames them within the segment size, a checkpoint before it lets the journal go', async () => {
  const fileSystem = new SimulatedFileSystem();
  const clock = new ManualClock();
  let store = await FileLogStore.open(options(fileSystem, clock, { logDefaults: { segmentBytesMax: 4096 } }));
  try {
    const log = (await store.openLog('held')) as FileLog;
    for (let index = 0; index < 100; index++) await log.append([{ value: encoder.encode(`r${index}|${'y'.repeat(150)}`) }]);
    assert.equal(log.unframedCount, 100, 'no segment holds them yet');
    assert.equal(log.segments.length, 1);
    assert.equal(log.endOffset(), 100);
    const read = await readAll(log);
    assert.deepEqual(read.map((record) => record.offset), Array.from({ length: 100 }, (_, index) => index));
    assert.equal(log.unframedCount, 0, 'the read framed them');
    assert.ok(log.segments.length >= 4, `the log rolled (${log.segments.length} segments)`);
    for (const segment of log.segments) assert.ok(segment.sizeBytes <= 4096, `segment ${segment.baseOffset} of ${segment.sizeBytes} bytes`);
    const batches = await log.readBatches(0, { bytesMax: 1 << 30 });
    assert.ok(batches.length < 50, `framed several runs a batch (${batches.length} batches for 100 appends)`);

    for (let index = 100; index < 150; index++) await log.append([{ value: encoder.encode(`r${index}|${'y'.repeat(150)}`) }]);
    assert.equal(log.unframedCount, 50);
    const journalsBefore = (await fileSystem.readdir('data/journal')).filter((name) => name.endsWith('.jnl'));
    await store.checkpoint();
    assert.equal(log.unframedCount, 0, 'the checkpoint framed them before its snapshot');
    const journalsAfter = (await fileSystem.readdir('data/journal')).filter((name) => name.endsWith('.jnl'));
    assert.ok(!journalsAfter.some((name) => journalsBefore.includes(name)), 'the journal files holding the runs are gone');
    store.abandon();
    fileSystem.crash(new SeededRandom(11));
    store = await FileLogStore.open(options(fileSystem, new ManualClock(), { logDefaults: { segmentBytesMax: 4096 } }));
    const back = await readAll(store.getLog('held')!);
    assert.deepEqual(back.map((record) => decoder.decode(record.value).split('|')[0]), Array.from({ length: 150 }, (_, index) => `r${index}`));
  } finally {
    await store.close();
  }
});

test('runs wholly below settledBelow are framed as one hole: another log and the runs above it are framed whole, and lower hints are ignored', async () => {
  const fileSystem = new SimulatedFileSystem();
  let store = await FileLogStore.open(options(fileSystem, new ManualClock(1_700_000_000_000)));
  try {
    const log = (await store.openLog('settled')) as FileLog;
    const other = (await store.openLog('other')) as FileLog;
    const value = (name: string, index: number) => encoder.encode(`${name}${index}|${'z'.repeat(200)}`);
    for (let index = 0; index < 40; index++) await Promise.all([log.append([{ value: value('r', index) }]), other.append([{ value: value('o', index) }])]);
    log.settledBelow(25);
    log.settledBelow(10);
    // A run that straddles the hint is framed whole: offset 25 is the first run above it.
    const batches = await log.readBatches(0, { bytesMax: 1 << 30 });
    assert.equal(log.unframedCount, 0, 'the read framed them');
    assert.deepEqual(batches.flatMap((batch) => batch.records.map((record) => record.offset)), Array.from({ length: 15 }, (_, index) => 25 + index), 'offsets 0-24 are a hole');
    assert.ok(log.sizeBytes() < 15 * 230 + 200, `the hole takes no room for the records (${log.sizeBytes()} bytes)`);
    assert.deepEqual((await readAll(other)).map((record) => decoder.decode(record.value)), Array.from({ length: 40 }, (_, index) => decoder.decode(value('o', index))), 'the other log is whole');
    log.settledBelow(1_000);
    for (let index = 40; index < 45; index++) await log.append([{ value: value('r', index) }]);
    await store.checkpoint();
    assert.deepEqual((await readAll(log)).map((record) => record.offset), Array.from({ length: 20 }, (_, index) => 25 + index), 'a hint past the end counts up to the end only: later appends stay');
    store.abandon();
    fileSystem.crash(new SeededRandom(3));
    store = await FileLogStore.open(options(fileSystem, new ManualClock(1_700_000_100_000)));
    const back = store.getLog('settled')!;
    assert.equal(back.endOffset(), 45);
    assert.deepEqual((await back.read(0, { recordsMax: 100, bytesMax: 1 << 30 })).map((record) => decoder.decode(record.value)), Array.from({ length: 20 }, (_, index) => decoder.decode(value('r', 25 + index))));
    assert.equal((await readAll(store.getLog('other')!)).length, 40);
  } finally {
    await store.close();
  }
});

test('appendEmpty offsets between runs keep their place, before and after a crash', async () => {
  const fileSystem = new SimulatedFileSystem();
  let store = await FileLogStore.open(options(fileSystem, new ManualClock()));
  try {
    const log = await store.openLog('mixed');
    await log.append([{ value: encoder.encode('r0') }]);
    await log.append([{ value: encoder.encode('r1') }]);
    log.appendEmpty(3);
    await log.append([{ value: encoder.encode('r5') }]);
    const expected = ['r0', 'r1', '', '', '', 'r5'];
    assert.deepEqual((await readAll(log)).map((record) => decoder.decode(record.value)), expected);
    await store.flush();
    store.abandon();
    fileSystem.crash(new SeededRandom(5));
    store = await FileLogStore.open(options(fileSystem, new ManualClock()));
    assert.deepEqual((await readAll(store.getLog('mixed')!)).map((record) => decoder.decode(record.value)), expected);
  } finally {
    await store.close();
  }
});

test('runs held runsHeldMsMax are framed at the next tick, and a store with runs turned off journals every append as a batch', async () => {
  const fileSystem = new SimulatedFileSystem();
  const clock = new ManualClock();
  const store = await FileLogStore.open(options(fileSystem, clock, { segmentFlushIntervalMs: 50, runsHeldMsMax: 200 }));
  const other = new SimulatedFileSystem();
  const batches = await FileLogStore.open(options(other, new ManualClock(), { runRecordBytesMax: 0 }));
  try {
    const log = (await store.openLog('ticked')) as FileLog;
    await log.append([{ value: encoder.encode('one') }]);
    assert.equal(log.unframedCount, 1);
    clock.advance(150);
    assert.equal(log.unframedCount, 1, 'ticks before runsHeldMsMax leave it held');
    clock.advance(50);
    assert.equal(log.unframedCount, 0, 'the tick after it framed it');
    assert.equal(log.segments[0]!.endOffset, 1);

    const plain = await batches.openLog('plain');
    await plain.append([{ value: encoder.encode('one') }]);
    const kinds = (await journalEntries(other)).map((entry) => entry.kind);
    assert.ok(kinds.includes(JournalEntryKind.append) && !kinds.includes(JournalEntryKind.records));
  } finally {
    await store.close();
    await batches.close();
  }
});

test('runs held past runsHeldBytesMax: the older half is framed after the commit, the newer stays held', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(fileSystem, new ManualClock(), { runsHeldBytesMax: 16 * 1024 }));
  try {
    const logs = (await Promise.all([0, 1].map((index) => store.openLog(`log-${index}`)))) as FileLog[];
    // 100 B records, alternating between the two logs: 200 runs, ~23 KB held.
    for (let index = 0; index < 100; index++) {
      await Promise.all(logs.map((log) => log.append([{ value: encoder.encode(`${index}|${'h'.repeat(80)}`) }])));
      if (logs[0]!.unframedCount < index + 1) break;
    }
    const framed = logs.map((log) => log.segments[0]!.endOffset);
    const held = logs.map((log) => log.unframedCount);
    assert.ok(framed[0]! > 0 && held[0]! > 0, `log 0: its older runs framed (${framed[0]}), its newer held (${held[0]})`);
    assert.ok(Math.abs(framed[0]! - held[0]!) <= 2 && Math.abs(framed[1]! - held[1]!) <= 2, `about half of each framed: ${framed} framed, ${held} held`);
    assert.deepEqual(logs.map((log) => log.segments[0]!.endOffset + log.unframedCount), logs.map((log) => log.endOffset()), 'framed and held add up to the end');
    const read = await readAll(logs[1]!);
    assert.deepEqual(read.map((record) => decoder.decode(record.value).split('|')[0]), Array.from({ length: logs[1]!.endOffset() }, (_, index) => String(index)), 'a read frames the rest, in order');
  } finally {
    await store.close();
  }
});

test('runs held by the thousand: forgetting a prefix, across the lists they are kept in, leaves the rest in journal order with their bytes', () => {
  const runs = new RecordRuns<RunLog>();
  const logs: RunLog[] = [{ id: 1, deleted: false }, { id: 2, deleted: false }, { id: 3, deleted: false }];
  const held: Array<{ logId: number; baseOffset: number; bytes: number }> = [];
  for (let index = 0; index < 10_000; index++) {
    const records = [{ value: encoder.encode(`message ${index}`) }];
    const bytes = encodedRecordsBytes(records);
    if (!runs.fits(bytes)) runs.seal();
    runs.add(logs[index % 3]!, records, bytes, index, 1_700_000_000_000);
    held.push({ logId: logs[index % 3]!.id, baseOffset: index, bytes });
  }
  const listed = (count = runs.count): Array<{ logId: number; baseOffset: number; bytes: number }> => {
    const out: Array<{ logId: number; baseOffset: number; bytes: number }> = [];
    runs.forEach(count, (log, arena, position) => {
      out.push({ logId: log.id, baseOffset: runBaseOffset(arena.view, position), bytes: runRecordBytes(arena.view, position) });
    });
    return out;
  };
  assert.deepEqual(listed(), held);
  let forgotten = 0;
  for (const count of [4095, 1, 1, 5000, 3]) {
    runs.keepFrom(count, 5);
    forgotten += count;
    const rest = held.slice(forgotten);
    assert.equal(runs.count, rest.length);
    assert.equal(runs.unframedBytes, rest.reduce((sum, run) => sum + run.bytes, 0));
    assert.deepEqual(listed(), rest, `after forgetting ${forgotten}`);
  }
  assert.deepEqual(listed(2), held.slice(forgotten, forgotten + 2), 'the first two only');
  let visited = 0;
  runs.forEach(runs.count, () => ++visited < 3);
  assert.equal(visited, 3, 'a visit returning false stops the walk');
  runs.keepFrom(runs.count, 6);
  assert.deepEqual([runs.count, runs.unframedBytes, listed().length], [0, 0, 0]);
});

test('RECORDS payloads decode to the runs written, and every cut of one is refused or a whole-run prefix', () => {
  const random = new SeededRandom(99);
  const runs = new RecordRuns<RunLog>();
  const logs: RunLog[] = [{ id: 3, deleted: false }, { id: 4, deleted: false }];
  const written: { logId: number; baseOffset: number; records: RecordInput[] }[] = [];
  for (let index = 0; index < 40; index++) {
    const count = 1 + random.int(4);
    const records = Array.from({ length: count }, (_, record) => fullRecord(index, record + random.int(5)));
    const log = logs[index % 2]!;
    const baseOffset = 1000 * log.id + index;
    runs.add(log, records, encodedRecordsBytes(records), baseOffset, 1_700_000_000_000);
    written.push({ logId: log.id, baseOffset, records });
  }
  const entry = runs.seal()!;
  const payload = entry.subarray(16);
  const decoded = decodeRecordRuns(payload);
  assert.deepEqual(decoded.map((run) => [run.logId, run.baseOffset, run.count]), written.map((run) => [run.logId, run.baseOffset, run.records.length]));
  for (const [index, run] of decoded.entries()) {
    const skip = index % 2 === 0 ? 0 : Math.min(1, run.count - 1);
    const batch = decodeBatch(batchOfRun(run, run.baseOffset + skip));
    assert.equal(batch.baseOffset, run.baseOffset + skip);
    const expected = written[index]!.records.slice(skip);
    assert.deepEqual(batch.records.map((record) => decoder.decode(record.value)), expected.map((record) => decoder.decode(record.value)));
    assert.deepEqual(batch.records.map((record) => record.timestampMs), expected.map((record) => record.timestampMs ?? 1_700_000_000_000));
  }
  const boundaries = new Set<number>([0]);
  for (let at = 0, index = 0; index < decoded.length; index++) boundaries.add((at += 32 + decoded[index]!.records.byteLength));
  for (let cut = 0; cut < payload.byteLength; cut++) {
    let result: ReturnType<typeof decodeRecordRuns> | null = null;
    try {
      result = decodeRecordRuns(payload.subarray(0, cut));
    } catch (error) {
      assert.ok(isFerryError(error, 'CORRUPT_DATA'), `cut at ${cut}: ${String(error)}`);
    }
    if (result !== null) assert.ok(boundaries.has(cut), `cut at ${cut} inside a run decoded without complaint`);
  }
});

test('a version 4 journal (before RECORDS) is still replayed; a RECORDS entry in one is refused, not misread', async () => {
  /** Writes `values` as single-record appends, stops as kill -9 would, and marks the journal file version 4. */
  const writeAsVersion4 = async (fileSystem: SimulatedFileSystem, runRecordBytesMax: number, values: readonly string[]): Promise<void> => {
    const store = await FileLogStore.open(options(fileSystem, new ManualClock(), { runRecordBytesMax }));
    const log = await store.openLog('old');
    for (const value of values) await log.append([{ value: encoder.encode(value) }]);
    store.abandon();
    fileSystem.crashAfterKill();
    const name = (await fileSystem.readdir('data/journal')).filter((file) => file.endsWith('.jnl')).sort().pop()!;
    const file = await fileSystem.open(`data/journal/${name}`, { write: true });
    const version = new Uint8Array(4);
    new DataView(version.buffer).setUint32(0, 4, true); // Bytes 8..12; the header CRC covers 16..32.
    await file.write([version], 8);
    await file.close();
  };
  const batches = new SimulatedFileSystem();
  await writeAsVersion4(batches, 0, ['a', 'b', 'c']);
  const reopened = await FileLogStore.open(options(batches, new ManualClock()));
  try {
    assert.deepEqual((await readAll(reopened.getLog('old')!)).map((record) => decoder.decode(record.value)), ['a', 'b', 'c']);
  } finally {
    await reopened.close();
  }
  const runs = new SimulatedFileSystem();
  await writeAsVersion4(runs, 1024, ['x', 'y']);
  await assert.rejects(FileLogStore.open(options(runs, new ManualClock())), (error: unknown) => isFerryError(error, 'UNKNOWN_FORMAT_VERSION'));
});
