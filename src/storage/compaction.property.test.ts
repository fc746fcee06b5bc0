/**
 * Property: compaction by key keeps the latest value per key with its offset
 * and bytes, keeps the order, never brings a removed record back, and a crash
 * at any file operation of a run leaves, segment by segment, the old or the
 * compacted view, never one that loses a kept record. The memory store and the
 * file store on the simulated disk must agree byte for byte.
 *
 * PROPERTY_RUNS=<n> sets the number of runs, SEED=<n> replays one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { CompactionResult, Log, LogStore, RecordInput, StoredRecord } from '../core/ports.js';
import { FerryError } from '../lib/ferry-error.js';
import { SeededRandom } from '../platform/random.js';
import type { FileLog } from './file-log.js';
import type { FileLogStore } from './file-log-store.js';
import { HookedFileSystem } from '../platform/hooked-file-system.js';
import { memoryHarness, simulatedFileHarness } from './store-harness.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface BatchPlan {
  /** Per record: its key number, or null for no key. */
  readonly keys: readonly (number | null)[];
  readonly valueBytes: number;
}

interface Scenario {
  readonly segmentBytesMax: number;
  readonly first: readonly BatchPlan[];
  readonly second: readonly BatchPlan[];
  /** The file store checkpoints after this many batches of the first round, if any (so the checkpointed active segment is sealed later). */
  readonly checkpointAfter: number | undefined;
  /** The file operation of the first compaction before which the disk loses power, if any. */
  readonly crashAt: number | undefined;
  readonly seed: number;
}

const batchPlan: fc.Arbitrary<BatchPlan> = fc.record({
  keys: fc.array(fc.option(fc.nat(7), { nil: null, freq: 8 }), { minLength: 1, maxLength: 6 }),
  valueBytes: fc.integer({ min: 0, max: 300 }),
});

const scenario: fc.Arbitrary<Scenario> = fc.record({
  segmentBytesMax: fc.integer({ min: 1024, max: 4096 }),
  first: fc.array(batchPlan, { minLength: 5, maxLength: 60 }),
  second: fc.array(batchPlan, { minLength: 0, maxLength: 20 }),
  checkpointAfter: fc.option(fc.nat(40), { nil: undefined }),
  crashAt: fc.option(fc.nat(160), { nil: undefined, freq: 2 }),
  seed: fc.nat(),
});

/** The records of a batch plan starting at `offset`; the value names the offset, so any mix-up shows. */
function recordsOf(plan: BatchPlan, offset: number): RecordInput[] {
  return plan.keys.map((key, i) => ({
    key: key === null ? null : encoder.encode(`key-${key}`),
    value: encoder.encode(`${offset + i}:${'x'.repeat(plan.valueBytes)}`),
    headers: (offset + i) % 3 === 0 ? [{ name: 'n', value: encoder.encode(String(offset + i)) }] : [],
    timestampMs: 1_000_000 + offset + i,
  }));
}

async function appendAll(log: Log, plans: readonly BatchPlan[]): Promise<void> {
  for (const plan of plans) await log.append(recordsOf(plan, log.endOffset()));
}

async function readAll(log: Log): Promise<StoredRecord[]> {
  return log.read(0, { recordsMax: 1_000_000, bytesMax: 1 << 30 });
}

/** Everything about a record that must survive compaction. */
function facts(record: StoredRecord): string {
  const key = record.key === null ? '-' : decoder.decode(record.key);
  const headers = record.headers.map((header) => `${header.name}=${decoder.decode(header.value)}`).join(',');
  return `${record.offset}|${key}|${record.timestampMs}|${headers}|${decoder.decode(record.value)}`;
}

/** Keep the latest record of each key among `records` (and every record without a key). */
function latestPerKey(records: readonly StoredRecord[]): (record: StoredRecord) => boolean {
  const latest = new Map<string, number>();
  for (const record of records) if (record.key !== null) latest.set(decoder.decode(record.key), record.offset);
  return (record) => record.key === null || latest.get(decoder.decode(record.key)) === record.offset;
}

/** Runs `compact` with `keep`, noting which offsets it was asked about (the sealed ones). */
async function compactNoting(log: Log, keep: (record: StoredRecord) => boolean, asked: Set<number>): Promise<CompactionResult> {
  return log.compact!((record) => {
    asked.add(record.offset);
    return keep(record);
  });
}

function assertOrdered(records: readonly StoredRecord[]): void {
  for (let i = 1; i < records.length; i++) assert.ok(records[i]!.offset > records[i - 1]!.offset, 'offsets ascend');
}

/** The view a completed compaction must leave: records it was not asked about, and the kept ones. */
function expectedView(before: readonly StoredRecord[], keep: (record: StoredRecord) => boolean, asked: ReadonlySet<number>): string[] {
  return before.filter((record) => !asked.has(record.offset) || keep(record)).map(facts);
}

async function runScenario(plan: Scenario): Promise<void> {
  const logDefaults = { segmentBytesMax: plan.segmentBytesMax };
  let hooked: HookedFileSystem | undefined;
  // Every append a batch of its own, as in the memory store: the two must compact to the same bytes.
  const fileHarness = simulatedFileHarness({ seed: plan.seed, logDefaults, runRecordBytesMax: 0, interpose: (fileSystem) => (hooked = new HookedFileSystem(fileSystem)) });
  const disk = fileHarness.fileSystem!;
  const memory = await memoryHarness(logDefaults).open();
  let store: LogStore = await fileHarness.open();
  try {
    // First round: both stores get the same appends and the same compaction.
    const memoryLog = await memory.openLog('stream');
    let fileLog = await store.openLog('stream');
    await appendAll(memoryLog, plan.first);
    const checkpointAfter = plan.checkpointAfter ?? plan.first.length;
    await appendAll(fileLog, plan.first.slice(0, checkpointAfter));
    if (plan.checkpointAfter !== undefined) await (store as FileLogStore).checkpoint();
    await appendAll(fileLog, plan.first.slice(checkpointAfter));
    const before = await readAll(fileLog);
    assert.deepEqual((await readAll(memoryLog)).map(facts), before.map(facts));
    const keep = latestPerKey(before);
    const memoryAsked = new Set<number>();
    const memoryResult = await compactNoting(memoryLog, keep, memoryAsked);
    const segments = (fileLog as FileLog).segments.map((segment) => ({ base: segment.baseOffset, end: segment.endOffset }));
    const sealedEnd = segments[segments.length - 1]!.base;

    let crashed = false;
    let operations = 0;
    hooked!.hook = (operation, path) => {
      if (crashed) throw new FerryError('IO_ERROR', `${operation} ${path} after the crash (test)`);
      if (plan.crashAt !== undefined && operations++ === plan.crashAt) {
        crashed = true;
        (store as FileLogStore).abandon();
        disk.crash(new SeededRandom(plan.seed));
        throw new FerryError('IO_ERROR', `power lost before ${operation} ${path} (test)`);
      }
    };
    const fileAsked = new Set<number>();
    const fileResult = await compactNoting(fileLog, keep, fileAsked).catch((error: unknown) => {
      if (!crashed) throw error;
      return null;
    });
    hooked!.hook = null;
    const expected = expectedView(before, keep, memoryAsked);
    assert.deepEqual([...memoryAsked].sort((a, b) => a - b), before.filter((record) => record.offset < sealedEnd).map((record) => record.offset), 'keep is asked about every sealed record');
    assert.deepEqual((await readAll(memoryLog)).map(facts), expected);

    if (fileResult !== null) {
      assert.deepEqual(fileResult, memoryResult, 'both stores compact to the same bytes');
      assert.deepEqual([...fileAsked], [...memoryAsked]);
      const after = await readAll(fileLog);
      assertOrdered(after);
      assert.deepEqual(after.map(facts), expected);
      assert.equal(fileLog.startOffset(), 0);
      assert.equal(fileLog.endOffset(), before.length);
      assert.equal(fileLog.sizeBytes(), memoryLog.sizeBytes());
      store = await fileHarness.reopen(store);
    } else {
      store = await fileHarness.open();
    }
    fileLog = store.getLog('stream')!;
    assert.equal(fileLog.startOffset(), 0);
    assert.equal(fileLog.endOffset(), before.length);
    const reopened = await readAll(fileLog);
    assertOrdered(reopened);
    const beforeFacts = new Map(before.map((record) => [record.offset, facts(record)]));
    const present = new Set(reopened.map((record) => record.offset));
    for (const record of reopened) assert.equal(facts(record), beforeFacts.get(record.offset), `offset ${record.offset} is unchanged`);
    for (const record of before) {
      if (record.offset >= sealedEnd || keep(record)) assert.ok(present.has(record.offset), `kept record ${record.offset} survives`);
      else if (!crashed) assert.ok(!present.has(record.offset), `removed record ${record.offset} stays removed after a reopen`);
    }
    for (const { base, end } of segments.slice(0, -1)) {
      const removable = before.filter((record) => record.offset >= base && record.offset < end && !keep(record));
      const survivors = removable.filter((record) => present.has(record.offset)).length;
      assert.ok(survivors === 0 || survivors === removable.length, `segment ${base} is old or compacted as a whole`);
    }
    assert.ok(!(await disk.readdir('data/logs/1')).some((name) => name.endsWith('.compacting')), 'no copy is left behind');

    // Second round on both: more appends, compaction by the new latest values; holes stay holes.
    await appendAll(memoryLog, plan.second);
    await appendAll(fileLog, plan.second);
    const beforeSecond = await readAll(memoryLog);
    const keepSecond = latestPerKey([...before, ...beforeSecond.filter((record) => record.offset >= before.length)]);
    const askedSecond = new Set<number>();
    const memorySecond = await compactNoting(memoryLog, keepSecond, askedSecond);
    const fileSecond = await compactNoting(fileLog, keepSecond, new Set());
    const expectedSecond = expectedView(beforeSecond, keepSecond, askedSecond);
    assert.deepEqual((await readAll(memoryLog)).map(facts), expectedSecond);
    assert.deepEqual((await readAll(fileLog)).map(facts), expectedSecond);
    if (!crashed) assert.deepEqual(fileSecond, memorySecond);
    for (const record of before) {
      if (!(record.offset >= sealedEnd || keep(record))) assert.ok(!expectedSecond.includes(facts(record)), `removed record ${record.offset} never comes back`);
    }
    store = await fileHarness.reopen(store);
    assert.deepEqual((await readAll(store.getLog('stream')!)).map(facts), expectedSecond);
  } finally {
    await store.close().catch(() => undefined);
    await memory.close();
  }
}

test('latest value per key survives with its offset and bytes, order kept, across reopen and crashes mid-compaction', { timeout: 300_000 }, async () => {
  await fc.assert(fc.asyncProperty(scenario, runScenario), {
    numRuns: Number(process.env['PROPERTY_RUNS'] ?? 100),
    ...(process.env['SEED'] ? { seed: Number(process.env['SEED']) } : {}),
  });
});
