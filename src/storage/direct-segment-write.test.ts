import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Log } from '../core/ports.js';
import { ManualClock } from '../platform/clock.js';
import { HookedFileSystem } from '../platform/hooked-file-system.js';
import { SeededRandom } from '../platform/random.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { FileLogStore, type FileLogStoreOptions } from './file-log-store.js';
import { numberedNames, numberedRecordNames, numberedRecords } from './store-harness.js';

// Batches of a log adding up to `directWriteBytesMin` in one journal group go straight into
// their segment file, with APPEND_REFERENCE entries in the journal (FORMAT.md). Small appends
// would be runs of RECORDS entries (never written directly): these tests turn runs off.


function options(fileSystem: HookedFileSystem | SimulatedFileSystem, extra: Partial<FileLogStoreOptions> = {}): FileLogStoreOptions {
  return { fileSystem, clock: new ManualClock(), directory: 'data', durability: 'always', directWriteBytesMin: 4096, runRecordBytesMax: 0, ...extra };
}

/** Makes every write and sync of a segment file hang (the power goes first); `reached` tells whether one came. */
function holdSegmentWrites(fileSystem: HookedFileSystem): { reached: boolean } {
  const held = { reached: false };
  fileSystem.hook = (operation, path) => {
    // The segment's bytes become durable by an O_DSYNC write (nothing of it was written before) or a write and a sync.
    if ((operation === 'write' || operation === 'sync') && path.endsWith('.seg')) {
      held.reached = true;
      return new Promise<void>(() => undefined);
    }
  };
  return held;
}

const turns = async (count: number): Promise<void> => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('a large group is fsynced in its segment, journaled as references, and survives a power loss', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(fileSystem));
  const log = await store.openLog('big');
  await log.append(numberedRecords(0, 2, 10)); // A small group: an ordinary APPEND entry.
  await Promise.all([log.append(numberedRecords(2, 8)), log.append(numberedRecords(10, 8))]);
  assert.equal(store.stats.referencedBatches, 2);
  store.abandon();
  fileSystem.crash(new SeededRandom(7));
  const reopened = await FileLogStore.open(options(fileSystem));
  try {
    const back = reopened.getLog('big')!;
    assert.equal(back.endOffset(), 18);
    assert.deepEqual(await numberedRecordNames(back), numberedNames(18));
  } finally {
    await reopened.close();
  }
});

test('a crash before the segment write is durable drops the referenced batches, which were never acknowledged, and nothing else', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const store = await FileLogStore.open(options(fileSystem));
  const log = await store.openLog('big');
  const other = await store.openLog('small');
  await log.append(numberedRecords(0, 3, 10));
  const held = holdSegmentWrites(fileSystem);
  let acknowledged = false;
  void log.append(numberedRecords(3, 8)).then(() => (acknowledged = true), () => undefined);
  void log.append(numberedRecords(11, 1, 10)).catch(() => undefined); // Same group, same log: a reference too.
  void other.append(numberedRecords(0, 1, 10)).catch(() => undefined);
  await turns(20);
  assert.ok(held.reached, 'the segment write was reached');
  assert.equal(acknowledged, false);
  store.abandon();
  fileSystem.hook = null;
  simulated.crash(new SeededRandom(3));
  const reopened = await FileLogStore.open(options(simulated));
  try {
    const back = reopened.getLog('big')!;
    assert.ok(back.endOffset() === 3 || back.endOffset() === 12, `the group is kept whole or dropped whole, not cut at ${back.endOffset()}`);
    assert.deepEqual(await numberedRecordNames(back), numberedNames(back.endOffset()));
    // The log goes on from its recovered end.
    const { baseOffset } = await back.append(numberedRecords(back.endOffset(), 1, 10));
    assert.equal(baseOffset, back.endOffset() - 1);
  } finally {
    await reopened.close();
  }
});

test('a reference whose batch is not in its segment cuts the journal there: later entries of other logs in the group go too', async () => {
  // A transaction writes its intent and then its destinations; the journal's prefix property is
  // what keeps them all or nothing, so an unfinished group must not leave any log's later entry.
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const store = await FileLogStore.open(options(fileSystem));
  const big = await store.openLog('big');
  const small = await store.openLog('small');
  await small.append(numberedRecords(0, 1, 10));
  await (await store.openLog('gone')).append(numberedRecords(0, 8)); // A reference, resolved once the cut drops the deletion.
  const held = holdSegmentWrites(fileSystem);
  void big.append(numberedRecords(0, 8)).catch(() => undefined); // A reference: its segment write never happens.
  void small.append(numberedRecords(1, 1, 10)).catch(() => undefined); // After it in the same group, journaled in full.
  void store.deleteLog('gone').catch(() => undefined); // After it too: the log stays, with its batches.
  await turns(20);
  assert.ok(held.reached, 'the segment write was reached');
  assert.equal(store.stats.referencedBatches, 2);
  store.abandon();
  fileSystem.hook = null;
  simulated.crash(new SeededRandom(5));
  const reopened = await FileLogStore.open(options(simulated));
  try {
    assert.equal(reopened.recovery!.journalEntriesCut, 3, 'the reference, the append after it and the deletion');
    assert.equal(reopened.getLog('big')!.endOffset(), 0);
    assert.equal(reopened.getLog('small')!.endOffset(), 1, 'the entry after the reference was never acknowledged and is not replayed');
    assert.deepEqual(await numberedRecordNames(reopened.getLog('small')!), numberedNames(1));
    assert.deepEqual(await numberedRecordNames(reopened.getLog('gone')!), numberedNames(8));
  } finally {
    await reopened.close();
  }
});

test('a segment a truncatePrefix drops stays on disk until a checkpoint covers the references to it', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(fileSystem, { logDefaults: { segmentBytesMax: 16 * 1024 } }));
  try {
    const log = await store.openLog('rolling') as unknown as { segments: { path: string; baseOffset: number }[] } & Log;
    for (let i = 0; i < 6; i++) await log.append(numberedRecords(i * 8, 8));
    assert.ok(log.segments.length >= 3, 'the log rolled');
    const first = log.segments[0]!.path;
    await log.truncatePrefix(log.segments[2]!.baseOffset);
    await store.flush();
    await turns(10);
    assert.ok(await fileSystem.exists(first), 'a journal file recovery would replay still references the dropped segment');
    await store.checkpoint();
    await turns(10);
    assert.equal(await fileSystem.exists(first), false, 'deleted once a checkpoint covers the references');
  } finally {
    await store.close();
  }
});

test('a replacement journal that recovery renamed into place before a crash is replayed alone', async () => {
  const simulated = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(simulated));
  const log = await store.openLog('big');
  for (let i = 0; i < 4; i++) await log.append(numberedRecords(i * 8, 8));
  store.abandon();
  simulated.crashAfterKill();
  // The recovery stops after its replacement journal is in place, before the checkpoint names it.
  const hooked = new HookedFileSystem(simulated);
  hooked.hook = (operation, path) => {
    if (operation === 'open' && path.endsWith('checkpoint.tmp')) throw new Error('power loss');
  };
  await assert.rejects(FileLogStore.open(options(hooked)), /power loss/);
  assert.ok((await simulated.readdir('data/journal')).length >= 2, 'the replacement sits beside the journal it replaces');
  simulated.crash(new SeededRandom(11));
  const reopened = await FileLogStore.open(options(simulated));
  try {
    assert.deepEqual(await numberedRecordNames(reopened.getLog('big')!), numberedNames(32));
  } finally {
    await reopened.close();
  }
});

/** Stops `store` as kill -9 would, then loses power: log `big` reopens with records 0 to `count` - 1. */
async function expectAfterPowerLoss(store: FileLogStore, simulated: SimulatedFileSystem, seed: number, count: number): Promise<void> {
  store.abandon();
  simulated.crash(new SeededRandom(seed));
  const reopened = await FileLogStore.open(options(simulated));
  try {
    assert.deepEqual(await numberedRecordNames(reopened.getLog('big')!), numberedNames(count));
  } finally {
    await reopened.close();
  }
}

/** Records the operations on segment files of `fileSystem` from now on. */
function segmentOperations(fileSystem: HookedFileSystem): string[] {
  const operations: string[] = [];
  fileSystem.hook = (operation, path) => {
    if (path.endsWith('.seg')) operations.push(operation);
  };
  return operations;
}

test('a direct group whose segment has nothing written since its last sync is one O_DSYNC write, no fdatasync', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const store = await FileLogStore.open(options(fileSystem));
  const log = await store.openLog('big');
  // The segment file was created with the log (its header written); the checkpoint syncs it.
  await store.checkpoint();
  const operations = segmentOperations(fileSystem);
  await log.append(numberedRecords(0, 8));
  await log.append(numberedRecords(8, 8));
  assert.equal(store.stats.referencedBatches, 2);
  assert.deepEqual(operations.filter((operation) => operation !== 'open'), ['write', 'write'], 'two writes, no sync of the segment');
  fileSystem.hook = null;
  await expectAfterPowerLoss(store, simulated, 11, 16);
});

test('a direct group after a background write of its segment writes the rest and fdatasyncs the file', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const store = await FileLogStore.open(options(fileSystem, { segmentFlushBytes: 512 }));
  const log = await store.openLog('big');
  await log.append(numberedRecords(0, 8)); // Creates and syncs the file.
  await log.append(numberedRecords(8, 6, 100)); // A journaled group; its bytes pass segmentFlushBytes, so they are written after it.
  await turns(10);
  const operations = segmentOperations(fileSystem);
  await log.append(numberedRecords(14, 8));
  assert.deepEqual(operations.filter((operation) => operation !== 'open'), ['write', 'sync'], 'bytes written but not synced: written and fdatasynced');
  fileSystem.hook = null;
  await expectAfterPowerLoss(store, simulated, 5, 22);
});

test('a sealed segment keeps one descriptor: the O_DSYNC one closes once its last batch is durable', async () => {
  const fileSystem = new HookedFileSystem(new SimulatedFileSystem());
  const store = await FileLogStore.open(options(fileSystem, { logDefaults: { segmentBytesMax: 24 * 1024 } }));
  try {
    const log = await store.openLog('big');
    // Groups of 8 KiB, written straight to their segments; every third one rolls to a new segment.
    for (let first = 0; first < 64; first += 8) await log.append(numberedRecords(first, 8));
    await store.checkpoint(); // Sealed segments get their index (written in the background) by then.
    const segments = [...fileSystem.openHandles].filter(([path]) => path.endsWith('.seg'));
    assert.ok(segments.length >= 3, `${segments.length} segment files`);
    for (const [path, count] of segments.slice(0, -1)) assert.equal(count, 1, `${path}: one descriptor once sealed`);
    assert.equal(segments.at(-1)![1], 2, 'the active segment keeps its O_DSYNC descriptor');
  } finally {
    await store.close();
  }
});
