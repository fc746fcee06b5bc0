import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../platform/clock.js';
import { SeededRandom } from '../platform/random.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { FileLogStore } from './file-log-store.js';

/** One step of a random workload. */
type Step =
  | { kind: 'append'; log: number; count: number; padding: number }
  | { kind: 'append-unawaited'; log: number; count: number }
  | { kind: 'read'; log: number; from: number; recordsMax: number }
  | { kind: 'truncate'; log: number; fraction: number }
  | { kind: 'retention' }
  | { kind: 'checkpoint' }
  | { kind: 'restart' }
  | { kind: 'crash'; seed: number }
  | { kind: 'clock'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('append' as const), log: fc.nat(2), count: fc.integer({ min: 1, max: 20 }), padding: fc.nat(600) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('append-unawaited' as const), log: fc.nat(2), count: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), log: fc.nat(2), from: fc.nat(400), recordsMax: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), log: fc.nat(2), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'retention' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('crash' as const), seed: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clock' as const), ms: fc.integer({ min: 1, max: 120_000 }) }) },
);

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The reference model: per log, every value ever stored at each offset, and the start offset. */
interface ModelLog {
  values: string[];
  start: number;
  /** Offsets below this were acknowledged (durability always). */
  acknowledgedEnd: number;
}

async function runWorkload(steps: Step[], directWriteBytesMin: number, runRecordBytesMax: number): Promise<void> {
  const fileSystem = new SimulatedFileSystem();
  let clock = new ManualClock();
  const names = ['alpha', 'beta', 'gamma'];
  const options = () => ({
    fileSystem,
    clock,
    directory: 'data',
    durability: 'always' as const,
    journalBytesMax: 16 * 1024,
    // Small thresholds send many groups' batches straight to their segments (APPEND_REFERENCE).
    directWriteBytesMin,
    // 0: every append a batch; 1 KiB (the default): a log's appends mix runs and batches; 16 KiB: runs mostly.
    runRecordBytesMax,
    logDefaults: { segmentBytesMax: 2048, retentionRecords: 150, retentionMs: 300_000 },
  });
  let store = await FileLogStore.open(options());
  const model = new Map<string, ModelLog>();
  const pendingValues = new Map<string, string[]>();
  let counter = 0;
  const logFor = async (index: number) => {
    const name = names[index]!;
    if (!model.has(name)) model.set(name, { values: [], start: 0, acknowledgedEnd: 0 });
    return { name, log: await store.openLog(name), entry: model.get(name)! };
  };
  const check = async () => {
    for (const [name, entry] of model) {
      const log = store.getLog(name);
      assert.ok(log, `log ${name} exists`);
      assert.ok(log.startOffset() >= entry.start, `${name}: start ${log.startOffset()} never moves back below ${entry.start}`);
      entry.start = log.startOffset();
      assert.equal(log.endOffset(), entry.values.length, `${name}: end offset`);
      const back = await log.read(0, { recordsMax: 100_000, bytesMax: 1 << 30 });
      assert.deepEqual(back.map((record) => record.offset), Array.from({ length: entry.values.length - entry.start }, (_, i) => entry.start + i));
      for (const record of back) assert.equal(decoder.decode(record.value).split('|')[0], entry.values[record.offset]);
    }
  };
  try {
    for (const current of steps) {
      switch (current.kind) {
        case 'append': {
          const { log, entry } = await logFor(current.log);
          const values = Array.from({ length: current.count }, () => `v${counter++}`);
          const result = await log.append(values.map((value) => ({ value: encoder.encode(`${value}|${'x'.repeat(current.padding)}`) })));
          assert.equal(result.baseOffset, entry.values.length, 'offsets continue the model');
          entry.values.push(...values);
          entry.acknowledgedEnd = entry.values.length;
          break;
        }
        case 'append-unawaited': {
          const { name, log, entry } = await logFor(current.log);
          const values = Array.from({ length: current.count }, () => `v${counter++}`);
          // Not awaited: the next crash may or may not keep it; a restart or any later await settles it.
          void log.append(values.map((value) => ({ value: encoder.encode(value) }))).catch(() => undefined);
          entry.values.push(...values);
          pendingValues.set(name, [...(pendingValues.get(name) ?? []), ...values]);
          break;
        }
        case 'read': {
          const { log, entry } = await logFor(current.log);
          const back = await log.read(current.from, { recordsMax: current.recordsMax });
          const expectedFirst = Math.max(current.from, entry.start, log.startOffset());
          const expectedCount = Math.max(0, Math.min(current.recordsMax, entry.values.length - expectedFirst));
          if (expectedCount > 0) {
            assert.ok(back.length >= 1 && back.length <= expectedCount, `read returned ${back.length} of up to ${expectedCount}`);
            assert.equal(back[0]!.offset, expectedFirst);
          } else {
            assert.equal(back.length, 0);
          }
          for (const record of back) assert.equal(decoder.decode(record.value).split('|')[0], entry.values[record.offset]);
          break;
        }
        case 'truncate': {
          const { log, entry } = await logFor(current.log);
          const target = Math.floor(entry.start + (entry.values.length - entry.start) * current.fraction);
          await log.truncatePrefix(target);
          entry.start = Math.max(entry.start, target);
          assert.equal(log.startOffset(), entry.start);
          break;
        }
        case 'retention':
          await store.applyRetention();
          break;
        case 'checkpoint':
          await store.checkpoint();
          break;
        case 'restart':
          await store.close();
          store = await FileLogStore.open(options());
          pendingValues.clear();
          for (const entry of model.values()) entry.acknowledgedEnd = entry.values.length;
          await check();
          break;
        case 'crash': {
          store.abandon();
          fileSystem.crash(new SeededRandom(current.seed));
          clock = new ManualClock(clock.nowMs());
          store = await FileLogStore.open(options());
          for (const [name, entry] of model) {
            const log = store.getLog(name);
            // A log whose creation was never acknowledged may be gone.
            if (!log) {
              assert.equal(entry.acknowledgedEnd, 0, `${name} had acknowledged records and vanished`);
              model.delete(name);
              continue;
            }
            assert.ok(log.endOffset() >= entry.acknowledgedEnd, `${name}: every acknowledged record survives (end ${log.endOffset()} < ${entry.acknowledgedEnd})`);
            assert.ok(log.endOffset() <= entry.values.length, `${name}: nothing appears that was never appended`);
            entry.values.length = log.endOffset();
            entry.acknowledgedEnd = entry.values.length;
          }
          pendingValues.clear();
          await check();
          break;
        }
        case 'clock':
          clock.advance(current.ms);
          break;
      }
    }
    await store.flush();
    for (const entry of model.values()) entry.acknowledgedEnd = entry.values.length;
    await check();
  } finally {
    await store.close().catch(() => undefined);
  }
}

test('random appends, reads, truncations, retention, restarts and crashes agree with a reference model', { timeout: 120_000 }, async () => {
  const threshold = fc.constantFrom(1, 2048, 8 * 1024, 64 * 1024);
  const runLimit = fc.constantFrom(0, 1024, 16 * 1024);
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 60 }), threshold, runLimit, runWorkload), {
    numRuns: Number(process.env['PROPERTY_RUNS'] ?? 60),
    ...(process.env['SEED'] ? { seed: Number(process.env['SEED']) } : {}),
  });
});
