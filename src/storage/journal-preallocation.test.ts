import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../platform/clock.js';
import { SeededRandom } from '../platform/random.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { FileLogStore, type FileLogStoreOptions } from './file-log-store.js';
import { numberedNames, numberedRecordNames, numberedRecords } from './store-harness.js';
import { encodeEntryHeader, JOURNAL_SPARE_SUFFIX, JournalEntryKind, JournalFile, journalSalt, readJournalFile, saltEntries } from './journal.js';

// Journal files are reused (a checkpoint recycles the finished one as the next file's spare)
// and new ones are zero-filled with durability `always` (FORMAT.md).

const encoder = new TextEncoder();
const PREALLOCATE = 64 * 1024;

function options(fileSystem: SimulatedFileSystem, extra: Partial<FileLogStoreOptions> = {}): FileLogStoreOptions {
  const base: FileLogStoreOptions = { fileSystem, clock: new ManualClock(), directory: 'data', durability: 'always', journalPreallocateBytes: PREALLOCATE };
  return { ...base, directWriteBytesMin: 4096, ...extra };
}

/** Power loss under a running store (unsynced writes dropped, the last one torn), then a restart. */
async function reopenAfterPowerLoss(store: FileLogStore, fileSystem: SimulatedFileSystem, seed: number): Promise<FileLogStore> {
  store.abandon();
  fileSystem.crash(new SeededRandom(seed));
  return FileLogStore.open(options(fileSystem));
}

async function journalNames(fileSystem: SimulatedFileSystem): Promise<string[]> {
  return (await fileSystem.readdir('data/journal')).sort();
}

test('a new journal file is zero-filled to its preallocated size, and recovery reads the zero rest as the clean end', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(fileSystem));
  const log = await store.openLog('small');
  for (let i = 0; i < 20; i++) await log.append(numberedRecords(i, 1, 10));
  const names = await journalNames(fileSystem);
  assert.equal(names.length, 1, `one journal file, no spare yet: ${names.join(', ')}`);
  assert.equal((await fileSystem.readFile(`data/journal/${names[0]!}`)).byteLength, PREALLOCATE, 'the entries stay within the preallocated size');
  const reopened = await reopenAfterPowerLoss(store, fileSystem, 11);
  try {
    assert.equal(reopened.recovery!.journalTailBytesDropped, 0, 'a zero-filled rest is no torn tail');
    assert.deepEqual(await numberedRecordNames(reopened.getLog('small')!), numberedNames(20));
  } finally {
    await reopened.close();
  }
});

test('a checkpoint recycles the finished journal file as the spare for the next one; its old entries never come back', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(fileSystem, { directWriteBytesMin: 1 << 30 }));
  const log = await store.openLog('small');
  let next = 0;
  const appendSome = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++, next++) await log.append(numberedRecords(next, 1, 300));
  };
  await appendSome(30);
  const first = (await journalNames(fileSystem))[0]!;
  await store.checkpoint();
  const afterOne = await journalNames(fileSystem);
  assert.ok(!afterOne.includes(first), 'the finished file left its name');
  const spare = afterOne.find((name) => name.endsWith(JOURNAL_SPARE_SUFFIX));
  assert.ok(spare !== undefined, `a spare: ${afterOne.join(', ')}`);
  const current = afterOne.find((name) => name.endsWith('.jnl'))!;
  assert.equal(spare, `${String(Number(current.slice(0, 20)) + 1).padStart(20, '0')}.jnl${JOURNAL_SPARE_SUFFIX}`, 'the spare is for the next sequence');
  // Fewer entries than the recycled file held: its old entries lie after the new ones.
  await appendSome(3);
  await store.checkpoint();
  const reused = `${spare.slice(0, -JOURNAL_SPARE_SUFFIX.length)}`;
  assert.ok((await journalNames(fileSystem)).includes(reused), 'the rotation renamed the spare into place');
  await appendSome(2);
  const reopened = await reopenAfterPowerLoss(store, fileSystem, 5);
  try {
    assert.deepEqual(await numberedRecordNames(reopened.getLog('small')!), numberedNames(next));
    assert.equal(reopened.getLog('small')!.endOffset(), next, 'no stale entry was replayed');
  } finally {
    await reopened.close();
  }
});

test('a restart starts its journal from the spare a clean close left, with its header written again', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(fileSystem, { directWriteBytesMin: 1 << 30 }));
  const log = await store.openLog('small');
  for (let i = 0; i < 30; i++) await log.append(numberedRecords(i, 1, 300));
  await store.close();
  const spare = (await journalNames(fileSystem)).find((name) => name.endsWith(JOURNAL_SPARE_SUFFIX))!;
  assert.ok(spare !== undefined, 'the close left a spare');
  // As a crash between the rename and the header write of a recycling leaves it: the old header.
  const file = await fileSystem.open(`data/journal/${spare}`, { write: true });
  await file.write([new Uint8Array(32)], 0);
  await file.close();
  const reopened = await FileLogStore.open(options(fileSystem));
  try {
    const journal = spare.slice(0, -JOURNAL_SPARE_SUFFIX.length);
    const bytes = await fileSystem.readFile(`data/journal/${journal}`);
    // A new file would be zeros after its header; the spare still holds its earlier life's entries.
    assert.ok(bytes.subarray(32, 64).some((byte) => byte !== 0), 'the journal is the recycled spare, not a new zero-filled file');
    const reread = await reopened.getLog('small')!.append(numberedRecords(30, 1, 300));
    assert.equal(reread.baseOffset, 30);
  } finally {
    await reopened.close();
  }
  const again = await FileLogStore.open(options(fileSystem));
  try {
    assert.deepEqual(await numberedRecordNames(again.getLog('small')!), numberedNames(31));
  } finally {
    await again.close();
  }
});

test('past its preallocated size a journal file grows, and everything in it survives a power loss', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await FileLogStore.open(options(fileSystem, { directWriteBytesMin: 1 << 30 }));
  const log = await store.openLog('small');
  const name = (await journalNames(fileSystem))[0]!;
  for (let i = 0; i < 100; i++) await log.append(numberedRecords(i, 1, 1024));
  const grown = await fileSystem.readFile(`data/journal/${name}`);
  assert.ok(grown.byteLength > PREALLOCATE, `the journal grew to ${grown.byteLength}`);
  const reopened = await reopenAfterPowerLoss(store, fileSystem, 5);
  try {
    assert.deepEqual(await numberedRecordNames(reopened.getLog('small')!), numberedNames(100));
  } finally {
    await reopened.close();
  }
});

test('a journal scan ends at END, at an all-zero rest, and at entries from an earlier life of the file; zeros before other bytes are a torn tail', async () => {
  const fileSystem = new SimulatedFileSystem();
  await fileSystem.mkdir('j');
  const payload = encoder.encode('{"name":"a","options":{}}');
  const entryFor = (sequence: number): Uint8Array[] => {
    const header = encodeEntryHeader(1, JournalEntryKind.createLog, payload);
    saltEntries([header], journalSalt(sequence));
    return [header, payload];
  };
  const entryBytes = 16 + payload.byteLength;
  const journal = await JournalFile.create(fileSystem, 'j', 1, { preallocateBytes: 4096 });
  await journal.write(entryFor(1), entryBytes);
  await journal.sync();
  const clean = await readJournalFile(fileSystem, 'j/00000000000000000001.jnl', 1);
  assert.deepEqual([clean.stoppedBecause, clean.entries.length, clean.finished], [null, 1, false]);
  // Salted for another file: not this file's entry.
  await journal.write(entryFor(7), entryBytes);
  await journal.sync();
  const foreign = await readJournalFile(fileSystem, 'j/00000000000000000001.jnl', 1);
  assert.deepEqual([foreign.stoppedBecause, foreign.entries.length], ['entry checksum mismatch', 1]);
  // END finishes the file whatever follows (here the foreign entry, overwritten by END, then more).
  journal.sizeBytes -= entryBytes;
  await journal.finish();
  await journal.write(entryFor(1), entryBytes);
  await journal.close();
  const finished = await readJournalFile(fileSystem, 'j/00000000000000000001.jnl', 1);
  assert.deepEqual([finished.stoppedBecause, finished.entries.length, finished.finished], [null, 1, true]);
  // Recycled as file 2: the old entries fail under the new salt.
  await JournalFile.recycle(fileSystem, 'j', 'j/00000000000000000001.jnl', 2);
  await fileSystem.rename(`j/00000000000000000002.jnl${JOURNAL_SPARE_SUFFIX}`, 'j/00000000000000000002.jnl');
  const recycled = await readJournalFile(fileSystem, 'j/00000000000000000002.jnl', 2);
  assert.deepEqual([recycled.entries.length, recycled.stoppedBecause], [0, 'entry checksum mismatch']);
  // Zeros, then other bytes: torn.
  const zeroed = await JournalFile.create(fileSystem, 'j', 3, { preallocateBytes: 4096 });
  await zeroed.write(entryFor(3), entryBytes);
  await zeroed.close();
  const file = await fileSystem.open('j/00000000000000000003.jnl', { write: true });
  await file.write([new Uint8Array([1, 2, 3])], 3000);
  await file.close();
  const torn = await readJournalFile(fileSystem, 'j/00000000000000000003.jnl', 3);
  assert.deepEqual([torn.stoppedBecause, torn.entries.length], ['zero-filled tail', 1]);
  // Fewer zeros than an entry header are a clean end too.
  const short = await JournalFile.create(fileSystem, 'j', 4, {});
  await short.write([...entryFor(4), new Uint8Array(8)], entryBytes + 8);
  await short.close();
  const shortScan = await readJournalFile(fileSystem, 'j/00000000000000000004.jnl', 4);
  assert.deepEqual([shortScan.stoppedBecause, shortScan.entries.length], [null, 1]);
});
