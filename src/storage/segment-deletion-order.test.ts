/**
 * A segment dropped by truncatePrefix may be deleted only once the journal
 * entry that dropped it is written and synced. These tests hold journal
 * writes at chosen moments, so the drop lands while an earlier group is being
 * written, then kill the process (nothing volatile is lost) and reopen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HookedFileSystem } from '../platform/hooked-file-system.js';
import { JournalWriteGate } from '../platform/journal-write-gate.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { ManualClock } from '../platform/clock.js';
import { turns } from '../platform/event-loop-turns.js';
import { FileLogStore } from './file-log-store.js';


const SEGMENT_BYTES = 4096;
const record = (index: number) => ({ value: new TextEncoder().encode(`record ${index} `.padEnd(200, '.')) });

// Runs are off (runRecordBytesMax 0) in these tests: every append is a batch, placed in its
// segment at once, so a test can roll and drop segments by appending.

test('a segment dropped while an earlier journal group is being written survives until its own entry is durable', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const gate = new JournalWriteGate(fileSystem);
  const clock = new ManualClock();
  const open = () => FileLogStore.open({ fileSystem, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, runRecordBytesMax: 0 });
  const store = await open();
  const log = await store.openLog('queue', { segmentBytesMax: SEGMENT_BYTES });
  let next = 0;
  while (log.endOffset() < 60) await log.append([record(next++)]);
  const firstSegmentEnd = (await firstSegmentBases(simulated))[1]!;
  assert.ok(firstSegmentEnd > 0, 'the log rolled at least once');

  // Group 1 (one append) is held in its journal write; the drop lands in group 2.
  gate.holding = true;
  const appended = log.append([record(next++)]);
  await turns(3);
  assert.equal(gate.heldCount(), 1, 'the append is in its journal write');
  const truncated = log.truncatePrefix(firstSegmentEnd);
  // Group 1 completes; group 2 (the truncatePrefix entry) is then held in its write.
  gate.releaseOne();
  await appended;
  await turns(10);
  assert.equal(gate.heldCount(), 1, 'the truncatePrefix entry is held in its journal write');
  const bases = await firstSegmentBases(simulated);
  assert.equal(bases[0], 0, `the dropped segment file is still there while its entry is not durable (files: ${bases.join(', ')})`);

  // kill -9 now: the entry never reached the journal, so the segment must still be readable.
  store.abandon();
  simulated.crashAfterKill();
  gate.holding = false;
  gate.releaseOne();
  void truncated.catch(() => undefined);
  const reopened = await open();
  try {
    const again = reopened.getLog('queue')!;
    assert.equal(again.startOffset(), 0, 'the truncation was never durable');
    const records = await again.read(0, { recordsMax: 1_000 });
    assert.equal(records.length, next, 'every appended record reads back');
    assert.deepEqual(records.map((entry) => entry.offset), Array.from({ length: next }, (_, index) => index));
  } finally {
    await reopened.close();
  }
});

test('a checkpoint whose active segment is dropped before the checkpoint completes still recovers', async () => {
  const { simulated, open, store, log } = await openQueueStore();
  let next = 0;
  while (log.endOffset() < 10) await log.append([record(next++)]);
  // The checkpoint records the active segment (base 0) at its start; then the log rolls and
  // a truncatePrefix drops that segment before the checkpoint writes its file.
  const checkpointed = store.checkpoint();
  const checkpointStart = log.endOffset();
  while (log.endOffset() < checkpointStart + 40) await log.append([record(next++)]);
  const bases = await firstSegmentBases(simulated);
  const target = bases[bases.length - 1]!;
  assert.ok(target > 0, 'the log rolled after the checkpoint started');
  await log.truncatePrefix(target);
  await checkpointed;
  await turns(10);
  store.abandon();
  simulated.crashAfterKill();
  const reopened = await open();
  try {
    const again = reopened.getLog('queue')!;
    assert.equal(again.startOffset(), target);
    const records = await again.read(target, { recordsMax: 1_000 });
    assert.deepEqual(records.map((entry) => entry.offset), Array.from({ length: next - target }, (_, index) => target + index));
  } finally {
    await reopened.close();
  }
});

test('a checkpoint whose active segment is dropped while it runs waits for the dropping entry before it names the new journal', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const clock = new ManualClock();
  const open = () => FileLogStore.open({ fileSystem, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, runRecordBytesMax: 0 });
  // Holds the checkpoint between the snapshot of every log's state and the sync of log `queue`'s
  // segments (at the sync of log `other`, which comes first); from the snapshot on, writes to
  // `queue`'s first segment (a slow disk: its bytes stay in memory and in the old journal); and
  // journal writes while `holdJournal`.
  let holdOtherSync = false;
  let releaseOtherSync: (() => void) | null = null;
  let holdJournal = false;
  const heldWrites: (() => void)[] = [];
  const heldJournalWrites: (() => void)[] = [];
  fileSystem.hook = (operation, path) => {
    if (releaseOtherSync !== null && operation === 'write' && path === `data/logs/2/${'0'.padStart(20, '0')}.seg`) return new Promise<void>((resolve) => heldWrites.push(resolve));
    if (holdOtherSync && operation === 'sync' && path.startsWith('data/logs/1/')) {
      holdOtherSync = false;
      return new Promise<void>((resolve) => (releaseOtherSync = resolve));
    }
    if (holdJournal && operation === 'write' && path.includes('journal/')) return new Promise<void>((resolve) => heldJournalWrites.push(resolve));
    return undefined;
  };
  const store = await open();
  const other = await store.openLog('other');
  const log = await store.openLog('queue', { segmentBytesMax: SEGMENT_BYTES });
  let next = 0;
  while (log.endOffset() < 10) await log.append([record(next++)]);
  await other.append([record(0)]);
  holdOtherSync = true;
  const checkpointed = store.checkpoint();
  checkpointed.catch(() => undefined);
  for (let turn = 0; turn < 100 && releaseOtherSync === null; turn++) await turns(1);
  assert.ok(releaseOtherSync !== null, 'the checkpoint took its snapshot and waits at the sync of log other');
  // After the snapshot: the log rolls, and a truncatePrefix drops the snapshot's active segment
  // (base 0), whose entry is held before it reaches the journal.
  while (log.endOffset() < 50) await log.append([record(next++)]);
  const target = log.endOffset() - 1;
  holdJournal = true;
  const truncated = log.truncatePrefix(target);
  truncated.catch(() => undefined);
  await turns(5);
  assert.equal(heldJournalWrites.length, 1, 'the truncatePrefix entry is held in its journal write');
  releaseOtherSync!();
  await turns(30);
  // kill -9 now: the drop never reached the journal.
  store.abandon();
  simulated.crashAfterKill();
  fileSystem.hook = null;
  for (const resume of [...heldWrites, ...heldJournalWrites]) resume();
  const reopened = await open();
  try {
    const again = reopened.getLog('queue')!;
    assert.ok(again.endOffset() >= next, `every acknowledged record survives (end ${again.endOffset()} < ${next})`);
    const start = again.startOffset();
    const records = await again.read(start, { recordsMax: 1_000 });
    assert.deepEqual(records.map((entry) => entry.offset), Array.from({ length: again.endOffset() - start }, (_, index) => start + index));
  } finally {
    await reopened.close();
  }
});

/** Base offsets of the segment files of the only log, ascending. */
async function firstSegmentBases(fileSystem: SimulatedFileSystem): Promise<number[]> {
  const logs = await fileSystem.readdir('data/logs');
  assert.equal(logs.length, 1);
  const names = await fileSystem.readdir(`data/logs/${logs[0]}`);
  return names.filter((name) => name.endsWith('.seg')).map((name) => Number(name.slice(0, 20))).sort((a, b) => a - b);
}

test('a checkpoint\'s active segment whose header is not on disk is left to the journal: a later truncatePrefix that dropped it recovers', async () => {
  const { simulated, open, store, log } = await openQueueStore();
  let next = 0;
  await log.append([record(next++)]);
  await store.checkpoint();
  // The checkpoint's active segment (base 0) is sealed by a roll, then dropped.
  while ((await firstSegmentBases(simulated)).length < 2 || log.endOffset() < 40) await log.append([record(next++)]);
  const dropTo = (await firstSegmentBases(simulated))[1]!;
  await log.truncatePrefix(dropTo);
  store.abandon();
  simulated.crashAfterKill();
  // As when the drop came while the checkpoint ran: the file exists, its header never written.
  await cutFirstSegmentHeader(simulated);
  const reopened = await open();
  try {
    const again = reopened.getLog('queue')!;
    assert.equal(again.startOffset(), dropTo, 'the replayed truncatePrefix moved the start past it');
    const records = await again.read(dropTo, { recordsMax: 1_000 });
    assert.deepEqual(records.map((entry) => entry.offset), Array.from({ length: next - dropTo }, (_, index) => dropTo + index));
    assert.ok(!(await firstSegmentBases(simulated)).includes(0), 'and its file is gone');
  } finally {
    await reopened.close();
  }
});

test('a checkpoint\'s active segment whose header is not on disk, with no journal entry dropping it, is reported as damage', async () => {
  const { simulated, open, store, log } = await openQueueStore();
  for (let next = 0; next < 3; next++) await log.append([record(next)]);
  await store.checkpoint();
  store.abandon();
  simulated.crashAfterKill();
  await cutFirstSegmentHeader(simulated);
  await assert.rejects(open(), (error: Error & { code?: string }) => error.code === 'CORRUPT_DATA' && /segment header is truncated/.test(error.message));
  assert.deepEqual(await firstSegmentBases(simulated), [0], 'and nothing was deleted');
});

/** A store on a simulated disk (reopened by `open`) and its log `queue` with small segments. */
async function openQueueStore() {
  const simulated = new SimulatedFileSystem();
  const clock = new ManualClock();
  const open = () => FileLogStore.open({ fileSystem: simulated, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, runRecordBytesMax: 0 });
  const store = await open();
  const log = await store.openLog('queue', { segmentBytesMax: SEGMENT_BYTES });
  return { simulated, open, store, log };
}

/** Leaves the log's segment file of base 0 (created if gone) 3 bytes long: its header never reached the disk. */
async function cutFirstSegmentHeader(simulated: SimulatedFileSystem): Promise<void> {
  const logs = await simulated.readdir('data/logs');
  const file = await simulated.open(`data/logs/${logs[0]}/${'0'.padStart(20, '0')}.seg`, { write: true, create: true });
  await file.truncate(3);
  await file.sync();
  await file.close();
}
