/**
 * The file store's compaction at the file level: reads and drops racing a
 * segment's replacement, failures before the rename, and a crash at every
 * file operation of a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Log, LogStore, StoredRecord } from '../core/ports.js';
import { FerryError } from '../lib/ferry-error.js';
import { SeededRandom } from '../platform/random.js';
import type { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import type { FileLog } from './file-log.js';
import type { FileLogStore } from './file-log-store.js';
import { HookedFileSystem, type FileOperation } from '../platform/hooked-file-system.js';
import { simulatedFileHarness, type StoreHarness } from './store-harness.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LOG_DIRECTORY = 'data/logs/1';

interface Setup {
  readonly harness: StoreHarness;
  readonly disk: SimulatedFileSystem;
  readonly hooked: HookedFileSystem;
}

function setup(seed = 1, segmentBytesMax = 2048): Setup {
  let hooked: HookedFileSystem | undefined;
  const harness = simulatedFileHarness({
    seed,
    logDefaults: { segmentBytesMax },
    // Every append a batch, in its segment at once: the tests look at segments right after appending.
    runRecordBytesMax: 0,
    interpose: (fileSystem) => (hooked = new HookedFileSystem(fileSystem)),
  });
  return { harness, disk: harness.fileSystem!, hooked: hooked! };
}

/**
 * `count` records in batches of 4 over keys k0..k9, values `v<offset>` padded to about
 * `recordBytes`; with the defaults and 2 KiB segments, about ten sealed segments.
 */
async function fill(store: LogStore, count = 200, recordBytes = 100): Promise<Log> {
  const log = await store.openLog('stream');
  for (let batch = 0; batch < count / 4; batch++) {
    await log.append(
      Array.from({ length: 4 }, (_, i) => {
        const offset = batch * 4 + i;
        return { key: encoder.encode(`k${offset % 10}`), value: encoder.encode(`v${offset}|${'.'.repeat(recordBytes - 20)}`), timestampMs: 5_000 + offset };
      }),
    );
  }
  return log;
}

async function readAll(log: Log): Promise<StoredRecord[]> {
  return log.read(0, { recordsMax: 1_000_000, bytesMax: 1 << 30 });
}

/** Keeps the latest record of each key among `records`. */
function latestPerKey(records: readonly StoredRecord[]): (record: StoredRecord) => boolean {
  const latest = new Map<string, number>();
  for (const record of records) latest.set(decoder.decode(record.key!), record.offset);
  return (record) => latest.get(decoder.decode(record.key!)) === record.offset;
}

const valueOf = (record: StoredRecord): string => decoder.decode(record.value).split('|')[0]!;

/** A promise to hold an operation on, and its release. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves once `predicate` holds, polling between event-loop turns. */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !predicate(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(predicate(), 'the awaited state came');
}

test('a read in flight on a segment being replaced finishes on the old file, later reads see the copy', async () => {
  // 1 MiB segments read with a 300 KiB budget: the chunk ends inside the segment, mid-batch,
  // so the read goes on after the swap, and must go on in the copy.
  const { harness, hooked } = setup(1, 1024 * 1024);
  let store = await harness.open();
  try {
    const filled = await fill(store, 8000, 300);
    assert.ok((filled as FileLog).segments.length >= 3);
    await (store as FileLogStore).checkpoint(); // Sealed segments leave memory: reads go to the files.
    const before = await readAll(filled);
    // Reopened, so no chunk of the first segment is remembered from that read: the next one goes to the file.
    store = await harness.reopen(store);
    const log = store.getLog('stream')!;
    const firstSegment = `${LOG_DIRECTORY}/${'0'.padStart(20, '0')}.seg`;
    const held = gate();
    let holding = true;
    let heldRead = false;
    hooked.hook = (operation, path) => {
      if (holding && operation === 'read' && path === firstSegment) {
        holding = false;
        heldRead = true;
        return held.promise;
      }
    };
    const inFlight = log.read(0, { recordsMax: 100_000, bytesMax: 300 * 1024 });
    await until(() => heldRead);
    const keep = latestPerKey(before);
    const result = await log.compact!(keep);
    assert.ok(result.segmentsRewritten > 0);
    held.open();
    const old = await inFlight;
    // The first chunk comes from the old file; what follows from the copy, where removed records are holes.
    assert.ok(old.length > 100);
    for (let i = 0; i < old.length; i++) {
      assert.equal(valueOf(old[i]!), `v${old[i]!.offset}`);
      if (i > 0) assert.ok(old[i]!.offset > old[i - 1]!.offset);
    }
    assert.deepEqual(old.slice(0, 100).map((record) => record.offset), before.slice(0, 100).map((record) => record.offset), 'the chunk read before the swap is the old one');
    const after = await readAll(log);
    assert.ok(after.length < before.length);
    for (const record of after) assert.equal(valueOf(record), `v${record.offset}`);
    assert.equal(hooked.openHandles.get(firstSegment), 1, 'the old file handle was closed once its last read ended; the copy has one');
    store = await harness.reopen(store);
    assert.deepEqual((await readAll(store.getLog('stream')!)).map((record) => record.offset), after.map((record) => record.offset));
  } finally {
    await store.close().catch(() => undefined);
  }
});

test('a segment dropped by truncatePrefix while its copy is renamed into place stays dropped', async () => {
  const { harness, disk, hooked } = setup();
  let store = await harness.open();
  try {
    const log = await fill(store);
    const firstSegment = `${LOG_DIRECTORY}/${'0'.padStart(20, '0')}.seg`;
    const held = gate();
    let heldRename = false;
    hooked.hook = (operation, path) => {
      if (operation === 'rename' && path === firstSegment && !heldRename) {
        heldRename = true;
        return held.promise;
      }
    };
    const compaction = log.compact!((record) => record.offset % 2 === 0);
    await until(() => heldRename);
    const secondBase = (log as FileLog).segments[1]!.baseOffset;
    await log.truncatePrefix(secondBase);
    await store.flush(); // The drop is durable: the segment's deletion now waits only for the rename.
    held.open();
    await compaction;
    await (store as FileLogStore).checkpoint();
    const names = await disk.readdir(LOG_DIRECTORY);
    assert.ok(!names.includes('00000000000000000000.seg'), `the dropped segment's file is gone (${names.join(', ')})`);
    assert.ok(!names.some((name) => name.endsWith('.compacting')));
    store = await harness.reopen(store);
    const again = store.getLog('stream')!;
    assert.equal(again.startOffset(), secondBase);
    const back = await readAll(again);
    assert.ok(back[0]!.offset >= secondBase);
    for (const record of back) assert.equal(valueOf(record), `v${record.offset}`);
  } finally {
    await store.close().catch(() => undefined);
  }
});

test('deleting a log during its compaction waits for it and removes every file', async () => {
  const { harness, disk, hooked } = setup();
  const store = await harness.open();
  try {
    const log = await fill(store);
    const held = gate();
    let heldRename = false;
    hooked.hook = (operation) => {
      if (operation === 'rename' && !heldRename) {
        heldRename = true;
        return held.promise;
      }
    };
    const compaction = log.compact!((record) => record.offset % 2 === 0);
    compaction.catch(() => undefined);
    await until(() => heldRename);
    const deletion = store.deleteLog('stream');
    await new Promise((resolve) => setImmediate(resolve));
    held.open();
    await deletion;
    await assert.rejects(compaction, (error: FerryError) => error.code === 'LOG_NOT_FOUND');
    assert.equal(await disk.exists(LOG_DIRECTORY), false);
    const fresh = await store.openLog('stream');
    assert.equal(fresh.endOffset(), 0);
  } finally {
    await store.close().catch(() => undefined);
  }
});

test('a failure while writing the copy rejects the run, removes the copy and leaves the store running', async () => {
  const { harness, disk, hooked } = setup();
  const store = await harness.open();
  try {
    const log = await fill(store);
    const before = await readAll(log);
    hooked.hook = (operation, path) => {
      if (operation === 'write' && path.endsWith('.compacting')) throw new FerryError('DISK_FULL', 'no space (test)');
    };
    await assert.rejects(log.compact!((record) => record.offset % 2 === 0), (error: FerryError) => error.code === 'DISK_FULL');
    hooked.hook = null;
    assert.ok(!(await disk.readdir(LOG_DIRECTORY)).some((name) => name.endsWith('.compacting')));
    assert.deepEqual((await readAll(log)).map((record) => record.offset), before.map((record) => record.offset));
    await log.append([{ value: encoder.encode('after') }]);
    const result = await log.compact!((record) => record.offset % 2 === 0);
    assert.ok(result.recordsRemoved > 0, 'a later run works');
  } finally {
    await store.close().catch(() => undefined);
  }
});

test('recovery deletes a leftover copy and rebuilds, then writes, a missing index', async () => {
  const { harness, disk } = setup();
  let store = await harness.open();
  try {
    await fill(store);
    await store.close();
    const copy = await disk.open(`${LOG_DIRECTORY}/00000000000000000000.compacting`, { write: true, create: true });
    await copy.write([encoder.encode('half a copy')], 0);
    await copy.close();
    await disk.unlink(`${LOG_DIRECTORY}/00000000000000000000.idx`);
    store = await harness.open();
    const names = await disk.readdir(LOG_DIRECTORY);
    assert.ok(!names.includes('00000000000000000000.compacting'), 'the leftover copy is gone');
    assert.ok(names.includes('00000000000000000000.idx'), 'the index is written again');
    const back = await readAll(store.getLog('stream')!);
    assert.equal(back.length, 200);
  } finally {
    await store.close().catch(() => undefined);
  }
});

/** What one crash-point run saw. */
interface CrashOutcome {
  readonly crashed: boolean;
  readonly operations: number;
}

/**
 * Fills a log, then compacts it with a crash (power loss, torn writes) just
 * before the `crashAt`-th file operation of the run; reopens and checks the
 * log reads as some mix, segment by segment, of the old and the compacted
 * view, that a second run then completes, and that nothing is left behind.
 */
async function compactWithCrash(crashAt: number, seed: number): Promise<CrashOutcome> {
  // Segments of 16 KiB: several index entries (one per 4 KiB), so a stale index would show.
  const { harness, disk, hooked } = setup(seed, 16 * 1024);
  let store = await harness.open();
  try {
    const log = await fill(store, 480, 100);
    const before = await readAll(log);
    const keep = latestPerKey(before);
    const segments = (log as FileLog).segments.map((segment) => ({ base: segment.baseOffset, end: segment.endOffset }));
    const sealedEnd = segments[segments.length - 1]!.base;
    let operations = 0;
    let crashed = false;
    const random = new SeededRandom(seed);
    hooked.hook = (operation: FileOperation, path: string) => {
      if (crashed) throw new FerryError('IO_ERROR', `${operation} ${path} after the crash (test)`);
      if (operations++ === crashAt) {
        crashed = true;
        (store as FileLogStore).abandon();
        disk.crash(random);
        throw new FerryError('IO_ERROR', `power lost before ${operation} ${path} (test)`);
      }
    };
    const outcome = await log.compact!(keep).then(
      () => 'done',
      (error: unknown) => error,
    );
    hooked.hook = null;
    if (!crashed) assert.equal(outcome, 'done');
    if (crashed) store = await harness.open();
    else store = await harness.reopen(store);
    const again = store.getLog('stream')!;
    assert.equal(again.startOffset(), 0);
    assert.equal(again.endOffset(), 480);
    const back = await readAll(again);
    const present = new Set(back.map((record) => record.offset));
    for (const record of back) assert.equal(valueOf(record), `v${record.offset}`, `offset ${record.offset} holds its own value`);
    for (const record of before) {
      const kept = record.offset >= sealedEnd || keep(record);
      if (kept) assert.ok(present.has(record.offset), `kept record ${record.offset} survives (crash at ${crashAt})`);
      if (!crashed && !kept) assert.ok(!present.has(record.offset), `removed record ${record.offset} stays removed`);
    }
    // Each segment is old or new as a whole.
    for (const { base, end } of segments.slice(0, -1)) {
      const removable = before.filter((record) => record.offset >= base && record.offset < end && !keep(record));
      const survivors = removable.filter((record) => present.has(record.offset)).length;
      assert.ok(survivors === 0 || survivors === removable.length, `segment ${base} is old or compacted, not a mix (crash at ${crashAt})`);
    }
    const names = await disk.readdir(LOG_DIRECTORY);
    assert.ok(!names.some((name) => name.endsWith('.compacting')), 'no copy is left behind');
    await again.compact!(keep);
    const final = await readAll(again);
    assert.deepEqual(
      final.map((record) => record.offset),
      before.filter((record) => record.offset >= sealedEnd || keep(record)).map((record) => record.offset),
    );
    return { crashed, operations };
  } finally {
    await store.close().catch(() => undefined);
  }
}

test('a crash before any file operation of a compaction leaves every segment old or compacted, with every kept record', async () => {
  const { operations } = await compactWithCrash(Number.MAX_SAFE_INTEGER, 3);
  assert.ok(operations > 20 && operations < 400, `a run makes ${operations} file operations`);
  for (let crashAt = 0; crashAt <= operations; crashAt++) {
    const outcome = await compactWithCrash(crashAt, 100 + crashAt);
    assert.equal(outcome.crashed, crashAt < operations);
  }
});
