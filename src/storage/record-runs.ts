import { assert } from '../lib/assert.js';
import { FerryError } from '../lib/ferry-error.js';
import type { RecordInput } from '../core/ports.js';
import { JOURNAL_ENTRY_HEADER_BYTES, JournalEntryKind, writeEntryHeader } from './journal.js';
import { BATCH_HEADER_BYTES, RECORD_FIXED_BYTES, sealRecordsBatch, writeRecords, writtenTimestamps } from './record-batch.js';

/**
 * RECORDS journal entries (kind 7, journal version 5): the small appends of a turn, of any
 * number of logs, written as runs inside shared entries instead of a batch each. A busy
 * store of many queues appends one or two records per queue per turn; as batches, each
 * cost a buffer, a 56-byte header, a CRC call, a segment index step and a place in the
 * group, per record. As runs they are copied back to back into a shared arena, and each log
 * frames its runs into one batch later (FileLog.frameRuns): once they have been held
 * `runsHeldMsMax` or pass `runsHeldBytesMax` (FileLogStoreOptions), before any operation that
 * looks at its segments (reads, a batch append, truncation, compaction), and before a
 * checkpoint's snapshot. Held longer, a log's runs make fewer, larger batches: framing and
 * the segment write cost per batch, not per record.
 *
 * Payload of a RECORDS entry (logId 0 in the entry header; the entry CRC covers it all):
 *
 *   run:
 *   0        4        8                16           20         24               32
 *   +--------+--------+----------------+------------+----------+----------------+-----------+
 *   | logId  | count  | baseOffset     | recordBytes| 0        | maxTimestamp   | records   |
 *   | u32    | u32    | u64            | u32        | u32      | f64 ms         |           |
 *   +--------+--------+----------------+------------+----------+----------------+-----------+
 *
 * `records` is `count` records in the batch record layout (FORMAT.md), `recordBytes` long;
 * runs follow each other to the end of the entry. A log's runs carry consecutive offsets, in
 * journal order with its other entries.
 */
export const RUN_HEADER_BYTES = 32;

/** The record count of the run whose header is at `at` of `view`. */
export function runCount(view: DataView, at: number): number {
  return view.getUint32(at + 4, true);
}

/** The base offset of the run whose header is at `at` of `view`. */
export function runBaseOffset(view: DataView, at: number): number {
  return view.getUint32(at + 12, true) * 0x1_0000_0000 + view.getUint32(at + 8, true);
}

/** The bytes of the records of the run whose header is at `at` of `view` (they follow the header). */
export function runRecordBytes(view: DataView, at: number): number {
  return view.getUint32(at + 16, true);
}

/** The largest timestamp of the run whose header is at `at` of `view`. */
export function runMaxTimestampMs(view: DataView, at: number): number {
  return view.getFloat64(at + 24, true);
}

/** The timestamp of the first record of the run whose header is at `at` of `view` (after that record's length). */
export function runFirstTimestampMs(view: DataView, at: number): number {
  return view.getFloat64(at + RUN_HEADER_BYTES + 4, true);
}

/**
 * Appends whose records take more than this go as batches. A run costs each byte one more copy
 * (framing) and one more checksum pass than a batch does, and saves a batch's fixed costs: worth
 * it for small records. Measured (bench:storage, one log, single-record appends, durability
 * always): 100 B records 264k/s as batches, 788k/s as runs (append-1000-logs, singleLog);
 * 1 KiB records 139-141k/s as batches, 129-131k/s as runs (append-1k-always).
 */
export const RUN_RECORD_BYTES_MAX = 1024;

/** An arena holds the entries of many groups; a new one is taken when the next run does not fit. */
const ARENA_BYTES = 1024 * 1024;

/** A buffer that RECORDS entries are written into back to back. */
export interface RecordArena {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  used: number;
}

function newArena(bytes: number): RecordArena {
  const buffer = new Uint8Array(bytes);
  return { bytes: buffer, view: new DataView(buffer.buffer), used: 0 };
}

/**
 * Runs not framed yet are listed in chunks of this many: a busy store of many queues holds a
 * second of runs (hundreds of thousands), and one growing array per field was copied at every
 * growth, in large-object space past a few thousand entries, and sliced at every framing.
 */
const RUN_CHUNK = 4096;

/** Up to RUN_CHUNK runs: their log, arena and header position, index by index. */
interface RunChunk<L> {
  readonly logs: L[];
  readonly arenas: RecordArena[];
  readonly positions: number[];
}

/** What a log must offer to have runs: its id, and whether it was deleted (its runs are then skipped). */
export interface RunLog {
  readonly id: number;
  readonly deleted: boolean;
}

/**
 * The open RECORDS entry and the runs not yet framed, in journal order. The store seals the
 * open entry before any other entry joins its group and before the group is written.
 */
export class RecordRuns<L extends RunLog> {
  private arena: RecordArena = newArena(ARENA_BYTES);
  /** Position of the open entry's header in the arena, or -1 when none is open. */
  private entryStart = -1;
  /** The runs not yet framed, in journal order: those of `chunks[0]` from `head` on, then the rest. */
  private chunks: RunChunk<L>[] = [];
  private head = 0;
  /** How many runs are not framed yet. */
  count = 0;
  /** Record bytes of the runs not yet framed. */
  unframedBytes = 0;
  /** When the first of the runs not yet framed was added (monotonic ms, set by the store). */
  heldSinceMs = 0;

  /**
   * Writes a run of `records` (taking `recordBytes`) for `log` at `baseOffset` into the open
   * entry, opening one when none is (in a new arena when the run does not fit: the caller
   * sealed the open entry first, see {@link fits}). Returns the bytes the group's write grew by.
   * A refusal (INVALID_ARGUMENT) leaves nothing behind.
   */
  add(log: L, records: readonly RecordInput[], recordBytes: number, baseOffset: number, nowMs: number): number {
    const runBytes = RUN_HEADER_BYTES + recordBytes;
    let arena = this.arena;
    const opening = this.entryStart < 0;
    const needed = (opening ? JOURNAL_ENTRY_HEADER_BYTES : 0) + runBytes;
    if (arena.used + needed > arena.bytes.byteLength) {
      assert(opening, 'the caller seals the open entry before a run that does not fit');
      arena = newArena(Math.max(ARENA_BYTES, needed));
      this.arena = arena;
    }
    const entryStart = opening ? arena.used : this.entryStart;
    const at = opening ? arena.used + JOURNAL_ENTRY_HEADER_BYTES : arena.used;
    const view = arena.view;
    const end = writeRecords(arena.bytes, view, at + RUN_HEADER_BYTES, records, nowMs);
    assert(end === at + runBytes, 'a run takes the bytes counted for it');
    view.setUint32(at, log.id, true);
    view.setUint32(at + 4, records.length, true);
    view.setUint32(at + 8, baseOffset % 0x1_0000_0000, true);
    view.setUint32(at + 12, Math.floor(baseOffset / 0x1_0000_0000), true);
    view.setUint32(at + 16, recordBytes, true);
    view.setUint32(at + 20, 0, true);
    view.setFloat64(at + 24, writtenTimestamps.maxMs, true);
    arena.used = end;
    this.entryStart = entryStart;
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || chunk.logs.length === RUN_CHUNK) {
      chunk = { logs: [], arenas: [], positions: [] };
      this.chunks.push(chunk);
    }
    chunk.logs.push(log);
    chunk.arenas.push(arena);
    chunk.positions.push(at);
    this.count++;
    this.unframedBytes += recordBytes;
    return needed;
  }

  /** Whether a run of `recordBytes` fits in the open entry's arena (else the entry is sealed first). */
  fits(recordBytes: number): boolean {
    return this.entryStart < 0 || this.arena.used + RUN_HEADER_BYTES + recordBytes <= this.arena.bytes.byteLength;
  }

  /** Finishes the open entry (header and CRC) and returns it, or null when none is open. */
  seal(): Uint8Array | null {
    if (this.entryStart < 0) return null;
    const arena = this.arena;
    const entry = arena.bytes.subarray(this.entryStart, arena.used);
    this.entryStart = -1;
    writeEntryHeader(entry, 0, JournalEntryKind.records, entry.subarray(JOURNAL_ENTRY_HEADER_BYTES));
    return entry;
  }

  /**
   * Forgets the first `count` runs (the caller frames them); the arenas go once no entry or run
   * holds them. The runs kept count as held since `nowMs`.
   */
  keepFrom(count: number, nowMs: number): void {
    if (count >= this.count) {
      this.chunks = [];
      this.head = 0;
      this.count = 0;
      this.unframedBytes = 0;
      return;
    }
    this.forEach(count, (_log, arena, position) => {
      this.unframedBytes -= runRecordBytes(arena.view, position);
    });
    this.count -= count;
    let head = this.head + count;
    let dropped = 0;
    while (head >= this.chunks[dropped]!.logs.length) head -= this.chunks[dropped++]!.logs.length;
    if (dropped > 0) this.chunks = this.chunks.slice(dropped);
    this.head = head;
    this.heldSinceMs = nowMs;
  }

  /** Calls `visit` with the log, arena and header position of each of the first `count` runs held, in journal order; stops early when it returns false. */
  forEach(count: number, visit: (log: L, arena: RecordArena, position: number) => boolean | void): void {
    let left = Math.min(count, this.count);
    for (let chunkIndex = 0, from = this.head; left > 0; chunkIndex++, from = 0) {
      const chunk = this.chunks[chunkIndex]!;
      const { logs, arenas, positions } = chunk;
      const to = Math.min(logs.length, from + left);
      for (let index = from; index < to; index++) if (visit(logs[index]!, arenas[index]!, positions[index]!) === false) return;
      left -= to - from;
    }
  }
}

/** One run of a RECORDS entry, as read back. */
export interface DecodedRun {
  readonly logId: number;
  readonly baseOffset: number;
  readonly count: number;
  /** The records, in the batch record layout. */
  readonly records: Uint8Array;
}

/** The runs of a RECORDS payload; CORRUPT_DATA when they do not add up (its CRC held, so a bug wrote it). */
export function decodeRecordRuns(payload: Uint8Array): DecodedRun[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const runs: DecodedRun[] = [];
  let at = 0;
  while (at < payload.byteLength) {
    if (at + RUN_HEADER_BYTES > payload.byteLength) throw new FerryError('CORRUPT_DATA', `RECORDS entry: run header at byte ${at} is cut short`);
    const count = runCount(view, at);
    const recordBytes = runRecordBytes(view, at);
    const start = at + RUN_HEADER_BYTES;
    if (count === 0 || start + recordBytes > payload.byteLength || recordCount(view, start, start + recordBytes) !== count) {
      throw new FerryError('CORRUPT_DATA', `RECORDS entry: the run at byte ${at} does not hold its ${count} records`);
    }
    runs.push({
      logId: view.getUint32(at, true),
      baseOffset: runBaseOffset(view, at),
      count,
      records: payload.subarray(start, start + recordBytes),
    });
    at = start + recordBytes;
  }
  return runs;
}

/** How many whole records lie in [start, end), or -1 when they do not end exactly there. */
function recordCount(view: DataView, start: number, end: number): number {
  let count = 0;
  let at = start;
  while (at < end) {
    if (at + 4 > end) return -1;
    const length = view.getUint32(at, true);
    if (length < RECORD_FIXED_BYTES) return -1;
    at += 4 + length;
    count++;
  }
  return at === end ? count : -1;
}

/**
 * The batch of `run`'s records from offset `fromOffset` on (at or after its base), for replay:
 * its records copied after a version 1 header, timestamps taken from them.
 */
export function batchOfRun(run: DecodedRun, fromOffset: number): Uint8Array {
  const records = run.records;
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let at = 0;
  for (let skipped = 0; skipped < fromOffset - run.baseOffset; skipped++) at += 4 + view.getUint32(at, true);
  const firstMs = view.getFloat64(at + 4, true);
  let maxMs = firstMs;
  for (let record = at; record < records.byteLength; record += 4 + view.getUint32(record, true)) maxMs = Math.max(maxMs, view.getFloat64(record + 4, true));
  const batch = new Uint8Array(BATCH_HEADER_BYTES + records.byteLength - at);
  batch.set(records.subarray(at), BATCH_HEADER_BYTES);
  sealRecordsBatch(batch, fromOffset, run.count - (fromOffset - run.baseOffset), firstMs, maxMs);
  return batch;
}
