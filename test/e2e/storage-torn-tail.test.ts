/**
 * Torn tails and damage on the real disk. One store is written (durability
 * `always`), checkpointed half-way, written some more and abandoned as a
 * kill -9 would leave it; each test then copies that directory, damages the
 * copy at random positions and reopens it.
 *
 * The pristine directory holds two logs: `events` keeps everything in one
 * active segment (so the segment has bytes beyond its checkpointed length),
 * `rolled` has 8 KiB segments (sealed segments with index files before the
 * checkpoint, stale ones after it). The last journal file holds every entry
 * made after the checkpoint, and the tests parse it themselves to know which
 * records each cut must keep.
 *
 * Replay with SEED=<n> (printed at the start); TORN_TAIL_ITERATIONS sets the
 * number of random positions per case (default 50).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLogStore } from '../../src/storage/file-log-store.js';
import { NodeFileSystem } from '../../src/platform/node-file-system.js';
import { SystemClock } from '../../src/platform/clock.js';
import { SeededRandom } from '../../src/platform/random.js';
import { isFerryError } from '../../src/lib/ferry-error.js';
import type { Log, LogOptions, StoredRecord } from '../../src/core/ports.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
const ITERATIONS = Number(process.env['TORN_TAIL_ITERATIONS'] ?? 50);
console.log(`storage-torn-tail: SEED=${SEED} TORN_TAIL_ITERATIONS=${ITERATIONS} (replay with SEED=${SEED})`);

const LOG_OPTIONS: Readonly<Record<string, LogOptions>> = {
  events: { segmentBytesMax: 1024 * 1024 },
  rolled: { segmentBytesMax: 8 * 1024 },
};
const LOG_NAMES = Object.keys(LOG_OPTIONS);
const RECORDS_BEFORE_CHECKPOINT = 100;
const RECORDS_AFTER_CHECKPOINT = 120;
const JOURNAL_HEADER_BYTES = 32;
const SEGMENT_HEADER_BYTES = 32;
const CHECKPOINT_HEADER_BYTES = 12;
const JOURNAL_KIND_APPEND = 1;
const JOURNAL_KIND_RECORDS = 7;
const RUN_HEADER_BYTES = 32;

interface WrittenRecord {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array;
}

/** Records of one log that an entry appends: a batch of an APPEND, a run of a RECORDS entry. */
interface AppendedRange {
  readonly logId: number;
  readonly baseOffset: number;
  readonly recordCount: number;
}

/** A journal entry as found in the file: its byte range and the records it appends. */
interface JournalEntryExtent {
  readonly start: number;
  readonly end: number;
  readonly kind: number;
  readonly appended: readonly AppendedRange[];
}

interface CheckpointLogState {
  readonly id: number;
  readonly name: string;
  readonly endOffset: number;
  readonly activeBaseOffset: number;
  readonly activeBytes: number;
}

/** Facts about the pristine directory the tests damage copies of. */
interface Pristine {
  readonly directory: string;
  readonly written: ReadonlyMap<string, WrittenRecord[]>;
  readonly checkpointLogs: ReadonlyMap<string, CheckpointLogState>;
  /** Path of the last journal file, relative to the data directory. */
  readonly journalPath: string;
  readonly journalBytes: number;
  readonly journalEntries: readonly JournalEntryExtent[];
}

const scratch = mkdtempSync(join(tmpdir(), 'ferry-torn-tail-'));
let pristine: Pristine;
let copies = 0;

after(() => rmSync(scratch, { recursive: true, force: true }));

function openStore(directory: string): Promise<FileLogStore> {
  return FileLogStore.open({
    fileSystem: new NodeFileSystem(),
    clock: new SystemClock(),
    directory,
    durability: 'always',
    // Every commit writes the active segment at once, and runs are framed at every segment flush
    // tick, so segments hold bytes beyond their checkpointed length.
    segmentFlushBytes: 1,
    runsHeldMsMax: 1,
  });
}

/** A generator per test, so each test replays alone with the printed seed. */
function randomFor(name: string): SeededRandom {
  let hash = SEED >>> 0;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return new SeededRandom(hash);
}

function randomBytes(random: SeededRandom, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(256);
  return bytes;
}

function bytesEqual(actual: Uint8Array | null, expected: Uint8Array | null): boolean {
  if (actual === null || expected === null) return actual === expected;
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected);
}

/** Reads the 64-bit little-endian integer at `at` (values stay below 2^53). */
function readUint64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true);
}

/**
 * Splits a journal file into its entries (see src/storage/journal.ts); the file must be intact.
 * A zero length starts the preallocated rest of the file, which must be all zeros.
 */
function parseJournal(bytes: Uint8Array): JournalEntryExtent[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: JournalEntryExtent[] = [];
  let at = JOURNAL_HEADER_BYTES;
  while (at < bytes.byteLength) {
    const length = view.getUint32(at, true);
    if (length === 0) {
      assert.ok(bytes.subarray(at).every((byte) => byte === 0), `the pristine journal's preallocated tail from byte ${at} is zero`);
      break;
    }
    assert.ok(length >= 16 && at + length <= bytes.byteLength, `the pristine journal has a bad entry at byte ${at}`);
    const kind = bytes[at + 12]!;
    const payload = at + 16;
    const appended: AppendedRange[] = [];
    if (kind === JOURNAL_KIND_APPEND) {
      appended.push({ logId: view.getUint32(at + 8, true), baseOffset: readUint64(view, payload + 8), recordCount: view.getUint32(payload + 20, true) });
    } else if (kind === JOURNAL_KIND_RECORDS) {
      // Runs back to back: logId, count, baseOffset, recordBytes, 0, maxTimestamp, then the records.
      for (let run = payload; run < at + length; run += RUN_HEADER_BYTES + view.getUint32(run + 16, true)) {
        appended.push({ logId: view.getUint32(run, true), baseOffset: readUint64(view, run + 8), recordCount: view.getUint32(run + 4, true) });
      }
    }
    entries.push({ start: at, end: at + length, kind, appended });
    at += length;
  }
  return entries;
}

/** Splits a segment file into its batches: [start, end) byte ranges with base offsets. */
function parseSegment(bytes: Uint8Array): { start: number; end: number; baseOffset: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: { start: number; end: number; baseOffset: number }[] = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at < bytes.byteLength) {
    const length = view.getUint32(at, true);
    assert.ok(length > 0 && at + length <= bytes.byteLength, `the pristine segment has a bad batch at byte ${at}`);
    batches.push({ start: at, end: at + length, baseOffset: readUint64(view, at + 8) });
    at += length;
  }
  return batches;
}

function readCheckpoint(directory: string): CheckpointLogState[] {
  const bytes = readFileSync(join(directory, 'checkpoint'));
  return (JSON.parse(bytes.subarray(CHECKPOINT_HEADER_BYTES).toString('utf8')) as { logs: CheckpointLogState[] }).logs;
}

function lastJournalFile(directory: string): string {
  const names = readdirSync(join(directory, 'journal')).filter((name) => name.endsWith('.jnl')).sort();
  assert.ok(names.length > 0, 'the data directory has a journal file');
  return join('journal', names[names.length - 1]!);
}

/** Segment file names of a log, in offset order, and the log's directory. */
function segmentFiles(directory: string, logName: string): { logDirectory: string; names: string[] } {
  const state = pristine.checkpointLogs.get(logName)!;
  const logDirectory = join(directory, 'logs', String(state.id));
  return { logDirectory, names: readdirSync(logDirectory).filter((name) => name.endsWith('.seg')).sort() };
}

/** A fresh copy of the pristine directory. */
function copyPristine(): string {
  const target = join(scratch, `copy-${++copies}`);
  cpSync(pristine.directory, target, { recursive: true });
  return target;
}

/** Offsets each log must end at when the journal keeps exactly its first `entryCount` entries. */
function expectedEnds(entryCount: number): Map<string, number> {
  const ends = new Map<string, number>();
  const namesById = new Map<number, string>();
  for (const [name, state] of pristine.checkpointLogs) {
    ends.set(name, state.endOffset);
    namesById.set(state.id, name);
  }
  for (const entry of pristine.journalEntries.slice(0, entryCount)) {
    for (const range of entry.appended) {
      const name = namesById.get(range.logId)!;
      ends.set(name, Math.max(ends.get(name)!, range.baseOffset + range.recordCount));
    }
  }
  return ends;
}

/**
 * Reads a whole log and checks it holds a prefix of what was written: offsets
 * contiguous from 0, each record equal to the one written at its offset.
 * Returns the end offset. Any read that throws fails the test.
 */
async function readPrefix(log: Log, context: string): Promise<number> {
  const written = pristine.written.get(log.name)!;
  assert.equal(log.startOffset(), 0, `${context}: ${log.name} starts at ${log.startOffset()}`);
  assert.ok(log.endOffset() <= written.length, `${context}: ${log.name} ends at ${log.endOffset()}, beyond the ${written.length} records written`);
  let offset = 0;
  while (offset < log.endOffset()) {
    let records: StoredRecord[];
    try {
      records = await log.read(offset, { recordsMax: 500 });
    } catch (error) {
      assert.fail(`${context}: reading ${log.name} from ${offset} threw ${String(error)}`);
    }
    assert.ok(records.length > 0, `${context}: reading ${log.name} from ${offset} returned nothing before endOffset ${log.endOffset()}`);
    for (const record of records) checkRecord(record, offset++, log.name, context);
  }
  return offset;
}

function checkRecord(record: StoredRecord, expectedOffset: number, logName: string, context: string): void {
  const written = pristine.written.get(logName)![expectedOffset];
  assert.equal(record.offset, expectedOffset, `${context}: ${logName} offsets are not contiguous`);
  assert.ok(written, `${context}: ${logName} returned offset ${expectedOffset}, which was never written`);
  assert.ok(bytesEqual(record.value, written.value), `${context}: the value at ${logName}/${expectedOffset} differs from what was written`);
  assert.ok(bytesEqual(record.key, written.key), `${context}: the key at ${logName}/${expectedOffset} differs from what was written`);
}

/** Opens a damaged copy, checks each log is an intact prefix, closes; returns end offsets and tail bytes dropped. */
async function recoverAndRead(directory: string, context: string): Promise<{ ends: Map<string, number>; tailBytesDropped: number; segmentsTruncated: number }> {
  let store: FileLogStore;
  try {
    store = await openStore(directory);
  } catch (error) {
    assert.fail(`${context}: recovery failed: ${String(error)}`);
  }
  try {
    assert.deepEqual(store.logNames().sort(), [...LOG_NAMES].sort(), `${context}: recovery lost or invented a log`);
    const ends = new Map<string, number>();
    for (const name of LOG_NAMES) ends.set(name, await readPrefix(store.getLog(name)!, context));
    return { ends, tailBytesDropped: store.recovery!.journalTailBytesDropped, segmentsTruncated: store.recovery!.segmentsTruncated.length };
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function expectOpenToFail(directory: string, code: string, context: string): Promise<void> {
  await assert.rejects(
    openStore(directory).then((store) => store.close()),
    (error: unknown) => {
      assert.ok(isFerryError(error, code), `${context}: expected ${code}, got ${String(error)}`);
      return true;
    },
  );
  rmSync(directory, { recursive: true, force: true });
}

before(async () => {
  const random = randomFor('pristine');
  const directory = join(scratch, 'pristine');
  const written = new Map<string, WrittenRecord[]>(LOG_NAMES.map((name) => [name, []]));
  const store = await openStore(directory);
  const logs = new Map<string, Log>();
  for (const name of LOG_NAMES) logs.set(name, await store.openLog(name, LOG_OPTIONS[name]));
  const appendRecords = async (count: number): Promise<void> => {
    let left = count * LOG_NAMES.length;
    while (left > 0) {
      // Several appends in one turn share a group commit, so journal writes carry several entries.
      const inFlight: Promise<unknown>[] = [];
      for (let i = 0, n = 1 + random.int(6); i < n && left > 0; i++) {
        const name = LOG_NAMES[random.int(LOG_NAMES.length)]!;
        const batch: WrittenRecord[] = [];
        for (let r = 0, size = 1 + random.int(3); r < size && left > 0; r++, left--) {
          const value = randomBytes(random, 10 + random.int(1000));
          batch.push({ key: random.next() < 0.5 ? new TextEncoder().encode(`key-${written.get(name)!.length}`) : null, value });
          written.get(name)!.push(batch[batch.length - 1]!);
        }
        inFlight.push(logs.get(name)!.append(batch));
      }
      await Promise.all(inFlight);
    }
  };
  await appendRecords(RECORDS_BEFORE_CHECKPOINT);
  await store.checkpoint();
  await appendRecords(RECORDS_AFTER_CHECKPOINT);
  // Let the background segment writes land, then stop as kill -9 would.
  await new Promise((resolve) => setTimeout(resolve, 300));
  store.abandon();

  const checkpointLogs = new Map(readCheckpoint(directory).map((state) => [state.name, state]));
  const journalPath = lastJournalFile(directory);
  const journalFile = readFileSync(join(directory, journalPath));
  const journalEntries = parseJournal(journalFile);
  // The cases below cut and damage the written part; the zero-filled rest of a preallocated file goes too.
  const journalBytes = journalEntries[journalEntries.length - 1]?.end ?? JOURNAL_HEADER_BYTES;
  truncateSync(join(directory, journalPath), journalBytes);
  pristine = { directory, written, checkpointLogs, journalPath, journalBytes, journalEntries };

  // Preconditions that make the cases below meaningful.
  const journalFiles = readdirSync(join(directory, 'journal')).filter((name) => name.endsWith('.jnl'));
  assert.equal(journalFiles.length, 1, 'the checkpoint deleted older journal files');
  assert.ok(pristine.journalEntries.length > 20, 'the journal holds the entries after the checkpoint');
  const events = segmentFiles(directory, 'events');
  assert.equal(events.names.length, 1, 'events has a single segment');
  const eventsBytes = statSync(join(events.logDirectory, events.names[0]!)).size;
  assert.ok(eventsBytes > checkpointLogs.get('events')!.activeBytes, 'events has segment bytes beyond its checkpointed length');
  const rolled = segmentFiles(directory, 'rolled');
  const activeBase = checkpointLogs.get('rolled')!.activeBaseOffset;
  assert.ok(rolled.names.filter((name) => Number(name.slice(0, 20)) < activeBase).length >= 3, 'rolled has sealed segments before the checkpoint');
  assert.ok(rolled.names.filter((name) => Number(name.slice(0, 20)) > activeBase).length >= 1, 'rolled has segments written after the checkpoint');
  // The undamaged copy recovers every record.
  const { ends } = await recoverAndRead(copyPristine(), 'undamaged copy');
  for (const name of LOG_NAMES) assert.equal(ends.get(name), written.get(name)!.length, `undamaged copy: ${name} lost records`);
});

test('recovery from a journal cut at a random length keeps exactly the entries before the cut', async () => {
  const random = randomFor('journal cut');
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const cut = random.int(pristine.journalBytes + 1);
    const context = `SEED=${SEED} journal cut at ${cut} of ${pristine.journalBytes} (iteration ${iteration})`;
    const directory = copyPristine();
    truncateSync(join(directory, pristine.journalPath), cut);
    const kept = pristine.journalEntries.filter((entry) => entry.end <= cut);
    const validBytes = cut < JOURNAL_HEADER_BYTES ? 0 : (kept[kept.length - 1]?.end ?? JOURNAL_HEADER_BYTES);
    const { ends, tailBytesDropped } = await recoverAndRead(directory, context);
    assert.deepEqual(ends, expectedEnds(kept.length), `${context}: logs do not end where the whole entries end`);
    assert.equal(tailBytesDropped, cut - validBytes, `${context}: recovery reports the wrong number of tail bytes dropped`);
  }
});

test('recovery stops at the first journal entry with a flipped byte in the tail region', async () => {
  const random = randomFor('journal flip');
  const tailStart = JOURNAL_HEADER_BYTES + Math.floor(((pristine.journalBytes - JOURNAL_HEADER_BYTES) * 2) / 3);
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const positions = Array.from({ length: 1 + random.int(4) }, () => tailStart + random.int(pristine.journalBytes - tailStart));
    const context = `SEED=${SEED} journal bytes flipped at ${positions.join(',')} of ${pristine.journalBytes} (iteration ${iteration})`;
    const directory = copyPristine();
    const path = join(directory, pristine.journalPath);
    const bytes = readFileSync(path);
    for (const position of positions) bytes[position]! ^= 1 + random.int(255);
    writeFileSync(path, bytes);
    const firstDamaged = pristine.journalEntries.findIndex((entry) => entry.end > Math.min(...positions));
    const { ends, tailBytesDropped } = await recoverAndRead(directory, context);
    assert.deepEqual(ends, expectedEnds(firstDamaged), `${context}: logs do not end where the undamaged entries end`);
    assert.equal(tailBytesDropped, pristine.journalBytes - pristine.journalEntries[firstDamaged]!.start, `${context}: wrong tail bytes dropped`);
  }
});

test('recovery ignores an active segment cut anywhere beyond its checkpointed length', async () => {
  const random = randomFor('segment cut');
  const everything = expectedEnds(pristine.journalEntries.length);
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const directory = copyPristine();
    const cuts: string[] = [];
    for (const name of LOG_NAMES) {
      // The last segment file: the checkpointed active one (events), or one written after the checkpoint (rolled).
      const { logDirectory, names } = segmentFiles(directory, name);
      const file = names[names.length - 1]!;
      const path = join(logDirectory, file);
      const state = pristine.checkpointLogs.get(name)!;
      const floor = Number(file.slice(0, 20)) === state.activeBaseOffset ? state.activeBytes : 0;
      const cut = floor + random.int(statSync(path).size - floor + 1);
      truncateSync(path, cut);
      cuts.push(`${name}/${file} at ${cut}`);
    }
    const context = `SEED=${SEED} segments cut: ${cuts.join(', ')} (iteration ${iteration})`;
    const { ends, segmentsTruncated } = await recoverAndRead(directory, context);
    assert.deepEqual(ends, everything, `${context}: records were lost though the journal holds them`);
    assert.equal(segmentsTruncated, 0, `${context}: recovery reports checkpointed segment bytes as cut`);
  }
});

test(
  'an active segment cut below its checkpointed length fails to open with CORRUPT_DATA, even with no journal entries after it',
  async () => {
    const random = randomFor('checkpointed segment cut');
    const state = pristine.checkpointLogs.get('events')!;
    for (let iteration = 0; iteration < 10; iteration++) {
      const directory = copyPristine();
      // No entries after the checkpoint: nothing in the journal can reveal the loss by a gap.
      truncateSync(join(directory, pristine.journalPath), JOURNAL_HEADER_BYTES);
      const { logDirectory, names } = segmentFiles(directory, 'events');
      const cut = SEGMENT_HEADER_BYTES + random.int(state.activeBytes - SEGMENT_HEADER_BYTES);
      truncateSync(join(logDirectory, names[0]!), cut);
      await expectOpenToFail(directory, 'CORRUPT_DATA', `SEED=${SEED} events/${names[0]} cut at ${cut}, checkpointed length ${state.activeBytes} (iteration ${iteration})`);
    }
  },
);

test('recovery drops garbage appended to the journal and keeps every entry', async () => {
  const random = randomFor('journal garbage');
  const everything = expectedEnds(pristine.journalEntries.length);
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const length = 1 + random.int(4096);
    // A quarter of the cases append zeros, as a preallocated or extended file reads: a clean end, not a torn tail.
    const zeros = random.next() < 0.25;
    const context = `SEED=${SEED} ${length} bytes of ${zeros ? 'zeros' : 'random garbage'} appended (iteration ${iteration})`;
    const directory = copyPristine();
    appendFileSync(join(directory, pristine.journalPath), zeros ? new Uint8Array(length) : randomBytes(random, length));
    const { ends, tailBytesDropped } = await recoverAndRead(directory, context);
    assert.deepEqual(ends, everything, `${context}: records were lost`);
    assert.equal(tailBytesDropped, zeros ? 0 : length, `${context}: wrong tail bytes dropped`);
  }
});

test('a flipped byte inside a sealed segment batch makes reads of it reject with CORRUPT_DATA, never return wrong data', async () => {
  const random = randomFor('sealed flip');
  const activeBase = pristine.checkpointLogs.get('rolled')!.activeBaseOffset;
  const outcomes = { openRejected: 0, readRejected: 0 };
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const directory = copyPristine();
    const { logDirectory, names } = segmentFiles(directory, 'rolled');
    const sealed = names.filter((name) => Number(name.slice(0, 20)) < activeBase);
    const file = sealed[random.int(sealed.length)]!;
    const path = join(logDirectory, file);
    const bytes = readFileSync(path);
    const batches = parseSegment(bytes);
    const position = SEGMENT_HEADER_BYTES + random.int(bytes.byteLength - SEGMENT_HEADER_BYTES);
    const damaged = batches.find((batch) => batch.start <= position && position < batch.end)!;
    bytes[position]! ^= 1 + random.int(255);
    writeFileSync(path, bytes);
    const nextSegmentBase = names[names.indexOf(file) + 1] !== undefined ? Number(names[names.indexOf(file) + 1]!.slice(0, 20)) : undefined;
    const context = `SEED=${SEED} rolled/${file} byte ${position} flipped, in the batch at offset ${damaged.baseOffset} (iteration ${iteration})`;

    let store: FileLogStore;
    try {
      store = await openStore(directory);
    } catch (error) {
      // Opening reads the batches after the last index entry; damage there is found at once.
      assert.ok(isFerryError(error, 'CORRUPT_DATA'), `${context}: open failed with ${String(error)}, not CORRUPT_DATA`);
      outcomes.openRejected++;
      rmSync(directory, { recursive: true, force: true });
      continue;
    }
    try {
      const log = store.getLog('rolled')!;
      await assert.rejects(log.read(damaged.baseOffset, { recordsMax: 1 }), (error: unknown) => isFerryError(error, 'CORRUPT_DATA'), `${context}: reading the damaged batch did not reject with CORRUPT_DATA`);
      // Reading from the start returns correct records up to the damage, then rejects.
      let offset = 0;
      let rejected = false;
      while (offset < log.endOffset() && !rejected) {
        try {
          const records = await log.read(offset, { recordsMax: 100 });
          for (const record of records) {
            assert.ok(record.offset < damaged.baseOffset || (nextSegmentBase !== undefined && record.offset >= nextSegmentBase), `${context}: a read returned offset ${record.offset} from the damaged batch`);
            checkRecord(record, offset++, 'rolled', context);
          }
        } catch (error) {
          assert.ok(isFerryError(error, 'CORRUPT_DATA'), `${context}: a read failed with ${String(error)}`);
          assert.ok(offset <= damaged.baseOffset, `${context}: a read from ${offset}, after the damage, rejected`);
          rejected = true;
        }
      }
      assert.ok(rejected, `${context}: reading the whole log never met the damaged batch`);
      // The segments after the damaged one read back intact.
      if (nextSegmentBase !== undefined) {
        for (let next = nextSegmentBase; next < log.endOffset(); ) {
          for (const record of await log.read(next, { recordsMax: 100 })) checkRecord(record, next++, 'rolled', context);
        }
      }
      outcomes.readRejected++;
    } finally {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    }
  }
  console.log(`storage-torn-tail: sealed segment flips: ${outcomes.openRejected} rejected at open, ${outcomes.readRejected} rejected at read`);
});

test('a segment or journal whose header names format version 99 fails to open with UNKNOWN_FORMAT_VERSION', async () => {
  const setVersion = (path: string): void => {
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(99, 8);
    writeFileSync(path, bytes);
  };
  for (const name of LOG_NAMES) {
    // The first segment of each log: sealed in rolled, the active one in events.
    const directory = copyPristine();
    const { logDirectory, names } = segmentFiles(directory, name);
    setVersion(join(logDirectory, names[0]!));
    await expectOpenToFail(directory, 'UNKNOWN_FORMAT_VERSION', `SEED=${SEED} ${name}/${names[0]} version 99`);
  }
  const directory = copyPristine();
  setVersion(join(directory, pristine.journalPath));
  await expectOpenToFail(directory, 'UNKNOWN_FORMAT_VERSION', `SEED=${SEED} journal version 99`);
});

test('a checkpoint with a flipped byte fails to open with CORRUPT_DATA', async () => {
  const random = randomFor('checkpoint flip');
  const checkpointBytes = statSync(join(pristine.directory, 'checkpoint')).size;
  for (let iteration = 0; iteration < ITERATIONS; iteration++) {
    const position = random.int(checkpointBytes);
    const directory = copyPristine();
    const path = join(directory, 'checkpoint');
    const bytes = readFileSync(path);
    bytes[position]! ^= 1 + random.int(255);
    writeFileSync(path, bytes);
    // Bytes 6 and 7 are the version in the magic ("FRYCKP1\n"): a change there reads as an unknown format.
    const code = position === 6 || position === 7 ? 'UNKNOWN_FORMAT_VERSION' : 'CORRUPT_DATA';
    await expectOpenToFail(directory, code, `SEED=${SEED} checkpoint byte ${position} flipped (iteration ${iteration})`);
  }
});
