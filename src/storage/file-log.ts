import { assert } from '../lib/assert.js';
import { FerryError } from '../lib/ferry-error.js';
import type {
  AppendOptions,
  AppendResult,
  CompactionResult,
  Log,
  LogOptions,
  CursorLimits,
  ReadLimits,
  RecordCursor,
  RecordBatchBuilder,
  RecordInput,
  StoredBatch,
  StoredRecord,
} from '../core/ports.js';
import { BatchRecordCursor, type BatchTake } from './batch-record-cursor.js';
import { compactSegment, type CompactedSegmentFile } from './compact-segment.js';
import { JOURNAL_ENTRY_HEADER_BYTES } from './journal.js';
import {
  BATCH_HEADER_BYTES,
  batchMaxTimestampMs,
  checkEmptyCount,
  decodeBatch,
  emptyBatchSizes,
  encodeBatch,
  encodeEmptyBatch,
  encodeGapBatch,
  readBatchHeader,
  RecordBatchWriter,
  sealRecordsBatch,
  type BatchHeader,
  type BatchMark,
} from './record-batch.js';
import { RUN_HEADER_BYTES, runBaseOffset, runCount, runFirstTimestampMs, runMaxTimestampMs, runRecordBytes, type RecordArena } from './record-runs.js';
import { Segment, SEGMENT_HEADER_BYTES } from './segment.js';

/** What a FileLog needs from its store: the clock, limits, and the journal. */
export interface FileLogHost {
  readonly fileSystem: import('../platform/file-system.js').FileSystem;
  nowMs(): number;
  readonly indexIntervalBytes: number;
  readonly batchBytesMax: number;
  /** Per-log budget for batches cached in memory after they are written. */
  cacheBytesPerLog(): number;
  /** Throws STORAGE_CLOSED when the store no longer takes writes. */
  assertWritable(): void;
  /** False when assertWritable would throw. */
  writable(): boolean;
  /**
   * Journals an append that `segment` holds at `position`; resolves per the durability
   * mode. `batch` has JOURNAL_ENTRY_HEADER_BYTES of headroom before it in its buffer.
   */
  /** With `lazy`, the entry waits for a group that something else starts (see AppendOptions.lazy). */
  journalAppend(log: FileLog, batch: Uint8Array, segment: Segment, position: number, lazy: boolean): Promise<void>;
  /**
   * Journals `records` as a run of a RECORDS entry at the log's end offset, held unframed
   * (counted in `unframedCount`) until {@link frameRuns}; resolves as journalAppend. Null when
   * they are too large for a run: the caller appends a batch instead.
   */
  journalRun(log: FileLog, records: readonly RecordInput[], nowMs: number, lazy: boolean): Promise<void> | null;
  /** Frames every log's unframed runs into batches in their segments (see FileLog.frameRuns). */
  frameRuns(): void;
  /** Told when `log` starts holding appendEmpty offsets, so the store writes them within its segment flush interval. */
  emptyPending(log: FileLog): void;
  /** Journals a start-offset move; resolves per the durability mode. */
  journalTruncatePrefix(log: FileLog, offset: number): Promise<void>;
  /** Called when a segment is sealed or unlinked-to-be, so the store schedules its I/O. */
  segmentSealed(log: FileLog, segment: Segment): void;
  segmentsDropped(log: FileLog, segments: Segment[]): void;
  /** Called after an append so the store can flush segments that hold enough unwritten bytes. */
  appended(log: FileLog): void;
  /** A checkpoint: resolves once everything appended before the call is in fsynced segments. */
  checkpoint(): Promise<void>;
  /**
   * Puts a compacted copy in place of `source` (durably, see FileLogStore) and swaps it into
   * the log; false when the source was dropped or the log deleted meanwhile (the copy is then
   * discarded). A failure stops the store.
   */
  replaceSegment(log: FileLog, source: Segment, copy: CompactedSegmentFile): Promise<boolean>;
}

/**
 * appendEmpty offsets held as a count are written once this many are held: about 300 KiB
 * of empty records, and well within a lazy group.
 */
export const EMPTY_RUN_MAX = 16_384;

function ignoreFailure(): void {}

/** The most offsets one hole record stands for (its span is a u32). */
const HOLE_SPAN_MAX = 0xffff_ffff;

/** Every log option with its default. */
export const LOG_OPTION_DEFAULTS: Required<LogOptions> = {
  segmentBytesMax: 64 * 1024 * 1024,
  segmentAgeMsMax: 7 * 24 * 3600 * 1000,
  retentionMs: Number.POSITIVE_INFINITY,
  retentionBytes: Number.POSITIVE_INFINITY,
  retentionRecords: Number.POSITIVE_INFINITY,
};

/** Fills defaults and checks ranges; INVALID_ARGUMENT names the bad option. */
export function resolveLogOptions(options: LogOptions | undefined, defaults: Required<LogOptions>): Required<LogOptions> {
  const resolved = { ...defaults };
  for (const [key, value] of Object.entries(options ?? {}) as [keyof LogOptions, number | undefined][]) {
    if (value === undefined || value === null) continue;
    if (!(key in LOG_OPTION_DEFAULTS)) throw new FerryError('INVALID_ARGUMENT', `unknown log option ${key}`);
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
      throw new FerryError('INVALID_ARGUMENT', `log option ${key} must be a positive number, got ${String(value)}`);
    }
    resolved[key] = value;
  }
  if (resolved.segmentBytesMax < 1024 || resolved.segmentBytesMax > 2 ** 31) {
    throw new FerryError('INVALID_ARGUMENT', 'log option segmentBytesMax must lie between 1 KiB and 2 GiB');
  }
  return resolved;
}

/**
 * One log on disk: a directory of segments, the last one active. Offsets are
 * assigned synchronously at `append`, so call order is log order; the bytes
 * are journaled by the store (group commit) and written to the segment later.
 */
export class FileLog implements Log {
  /**
   * Offsets journaled as runs (FileLogHost.journalRun) and not yet framed into the segments,
   * which end that many offsets before the log does; and their record bytes.
   */
  unframedCount = 0;
  unframedBytes = 0;
  /**
   * The end offset: where the segments end, plus unframed runs, plus empty offsets held. Kept
   * here so that an append reads no segment (on a store of many logs, one cache miss less).
   */
  private end: number;
  /**
   * The last of `segments`, kept apart: every append and endOffset() reads it, and with many
   * logs the array's backing store is one more cache miss each time. Set where the last changes.
   */
  private activeSegment: Segment;
  /** Offsets of {@link appendEmpty} calls not yet written as a batch (not in any segment). */
  private emptyPending = 0;
  /** See {@link settledBelow}: runs wholly below it are framed as holes. */
  private settled = 0;
  deleted = false;
  /** Segments in offset order; the last is the active one (only roll() adds one). */
  segments: Segment[];
  private start: number;
  /** The compaction running or queued last; runs are serialised. */
  private compaction: Promise<unknown> | null = null;
  /**
   * Where the last read that stopped inside a batch stopped: a reader taking a
   * large batch a few records at a time resumes there instead of stepping over
   * every record before it again. A batch is named by its segment and position,
   * where its bytes never change while the segment is live (not retired).
   */
  private lastMark: { segment: Segment; batchPosition: number; baseOffset: number; lengthBytes: number; mark: BatchMark } | null = null;

  constructor(
    private readonly host: FileLogHost,
    readonly id: number,
    readonly name: string,
    readonly directory: string,
    readonly options: Required<LogOptions>,
    segments: Segment[],
    startOffset: number,
  ) {
    assert(segments.length > 0, 'a log always has an active segment');
    this.segments = segments;
    this.activeSegment = segments[segments.length - 1]!;
    this.end = this.activeSegment.endOffset;
    this.start = startOffset;
  }

  startOffset(): number {
    return this.start;
  }

  endOffset(): number {
    return this.end;
  }

  /**
   * See Log.settledBelow. Runs not framed yet whose records all lie below it are framed as a
   * hole (a version 2 batch of one hole record, 76 bytes) instead of a copy of their records:
   * a queue's messages consumed and acked before their runs are framed are never written to
   * the segment file, only to the journal (which a checkpoint deletes). Safe only because the
   * caller settled them durably: after a crash, their offsets read as removed, as after a
   * truncatePrefix that the crash kept.
   */
  settledBelow(offset: number): void {
    if (offset > this.settled) this.settled = Math.min(offset, this.end);
  }

  /** Counts a run of `count` records taking `recordBytes` that the store journaled at the end offset. */
  addUnframed(count: number, recordBytes: number): void {
    this.unframedCount += count;
    this.unframedBytes += recordBytes;
    this.end += count;
  }

  appendEmpty(count: number): void {
    this.host.assertWritable();
    if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
    checkEmptyCount(count);
    if (this.emptyPending === 0) this.host.emptyPending(this);
    this.emptyPending += count;
    this.end += count;
    if (this.emptyPending >= EMPTY_RUN_MAX) this.writeEmptyPending();
  }

  /**
   * Puts what the log holds outside its segments into them, so they end at `endOffset()`:
   * unframed runs (the store frames every log's at once; they are journaled already), then
   * the offsets held by {@link appendEmpty}, as lazy batches of empty records (several when
   * one would pass batchBytesMax). Called before every other operation that looks at the
   * segments. On a store that takes no writes (failed or closed) empty offsets stay held:
   * reads go on, and nothing is half placed.
   */
  writeEmptyPending(): void {
    if (this.unframedCount > 0) this.host.frameRuns();
    if (this.emptyPending === 0 || this.deleted || !this.host.writable()) return;
    const sizes = emptyBatchSizes(this.emptyPending, this.host.batchBytesMax);
    this.emptyPending = 0;
    const nowMs = this.host.nowMs();
    for (const records of sizes) {
      const baseOffset = this.active().endOffset;
      const bytes = encodeEmptyBatch(records, baseOffset, nowMs, JOURNAL_ENTRY_HEADER_BYTES);
      // Nobody waits for it; a failed write stops the store, which the next caller hears of.
      // Their offsets are counted in the end offset already (appendEmpty).
      this.appendSealed(bytes, baseOffset, records, nowMs, true, false).catch(ignoreFailure);
    }
  }

  sizeBytes(): number {
    let bytes = this.unframedBytes;
    for (const segment of this.segments) bytes += segment.sizeBytes;
    return bytes;
  }

  get batchBytesMax(): number {
    return this.host.batchBytesMax;
  }

  /** The segment appends go to. */
  active(): Segment {
    return this.activeSegment;
  }

  /**
   * Resolves per the store's durability mode: with `always`, after the batch
   * is fsynced in the journal, or (a large group's batch) fsynced in its segment
   * file with a reference to it fsynced in the journal; otherwise once the
   * journal write is issued.
   */
  append(records: readonly RecordInput[], options?: AppendOptions): Promise<AppendResult> {
    try {
      const written = this.journalRecords(records, options);
      const lastOffset = this.endOffset() - 1;
      const result: AppendResult = { baseOffset: lastOffset - records.length + 1, lastOffset };
      return written.then(() => result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** {@link append}, returning the base offset (see Log.appendUnawaited). */
  appendUnawaited(records: readonly RecordInput[], options?: AppendOptions): number {
    // The store's group promise (never unhandled): the writer waits on LogStore.written instead.
    void this.journalRecords(records, options);
    return this.endOffset() - records.length;
  }

  /**
   * Journals `records` at the end offset: resolves when its group is written. Small ones with
   * neither attributes nor a producer stamp go as a run of a shared entry (framed later); the
   * rest as one batch, after the runs held, which are framed first so segments stay in order.
   */
  private journalRecords(records: readonly RecordInput[], options: AppendOptions | undefined): Promise<void> {
    this.host.assertWritable();
    if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
    if (this.emptyPending > 0) this.writeEmptyPending();
    const nowMs = this.host.nowMs();
    if (options === undefined || ((options.attributes ?? 0) === 0 && (options.producer ?? null) === null)) {
      const run = this.host.journalRun(this, records, nowMs, options?.lazy === true);
      if (run !== null) return run;
    }
    if (this.unframedCount > 0) this.host.frameRuns();
    // Headroom for the journal entry header: the journal writes header and batch as one buffer.
    const bytes = encodeBatch(records, this.end, nowMs, options?.attributes ?? 0, options?.producer ?? null, JOURNAL_ENTRY_HEADER_BYTES);
    return this.journalSealed(bytes, records.length, nowMs, options?.lazy === true, true);
  }

  /** A writer whose batch has the journal entry header's headroom in front, as {@link append}'s batches have. */
  newBatch(recordCount: number, headerCount: number, fieldBytes: number): RecordBatchWriter {
    return new RecordBatchWriter(recordCount, headerCount, fieldBytes, JOURNAL_ENTRY_HEADER_BYTES);
  }

  /** {@link append} for a batch built by {@link newBatch}: the same durability, sealed here at the end offset. */
  appendBatch(batch: RecordBatchBuilder, options?: AppendOptions): Promise<AppendResult> {
    try {
      this.host.assertWritable();
      if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
      assert(batch instanceof RecordBatchWriter && batch.headroomBytes === JOURNAL_ENTRY_HEADER_BYTES, 'a batch comes from a file log\'s newBatch');
      this.writeEmptyPending();
      const baseOffset = this.end;
      const bytes = batch.seal(baseOffset, options?.attributes ?? 0, options?.producer ?? null);
      return this.appendSealed(bytes, baseOffset, batch.count, this.host.nowMs(), options?.lazy === true, true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Places a sealed batch at the end offset and journals it (see {@link append} for when it resolves). */
  private appendSealed(bytes: Uint8Array, baseOffset: number, recordCount: number, nowMs: number, lazy: boolean, newOffsets: boolean): Promise<AppendResult> {
    const result: AppendResult = { baseOffset, lastOffset: baseOffset + recordCount - 1 };
    return this.journalSealed(bytes, recordCount, nowMs, lazy, newOffsets).then(() => result);
  }

  /**
   * Places a sealed batch at the segments' end and journals it: resolves when its group is
   * written. With `newOffsets`, its records take offsets at the end offset (else they were
   * counted already: appendEmpty's).
   */
  private journalSealed(bytes: Uint8Array, recordCount: number, nowMs: number, lazy: boolean, newOffsets: boolean): Promise<void> {
    if (bytes.byteLength > this.host.batchBytesMax) {
      throw new FerryError('RECORD_TOO_LARGE', `batch of ${bytes.byteLength} bytes exceeds batchBytesMax ${this.host.batchBytesMax}`);
    }
    if (newOffsets) this.end += recordCount;
    // The header facts are known here: no need to parse the header back (one batch per message on a busy store of many queues).
    const position = this.place(bytes, recordCount, batchMaxTimestampMs(bytes), nowMs);
    return this.host.journalAppend(this, bytes, this.activeSegment, position, lazy);
  }

  /**
   * Frames this log's runs held by the store, in offset order from the segments' end on (run
   * `i` has its header at `positions[i]` of `arenas[i]`), into batches
   * placed at the end of the segments: as few as the segment size and batchBytesMax allow,
   * filling the active segment before it rolls, never splitting a run.
   */
  frameRuns(arenas: readonly RecordArena[], positions: readonly number[]): void {
    const nowMs = this.host.nowMs();
    const segmentBytesMax = this.options.segmentBytesMax;
    const settled = Math.max(this.start, this.settled);
    let next = 0;
    while (next < positions.length) {
      const firstArena = arenas[next]!;
      const firstAt = positions[next]!;
      if (runBaseOffset(firstArena.view, firstAt) + runCount(firstArena.view, firstAt) <= settled) {
        next = this.frameSettledRuns(arenas, positions, next, settled, nowMs);
        continue;
      }
      const room = segmentBytesMax - this.activeSegment.sizeBytes;
      const limit = Math.min(this.host.batchBytesMax, room >= BATCH_HEADER_BYTES + runRecordBytes(firstArena.view, firstAt) ? room : segmentBytesMax);
      let bytes = BATCH_HEADER_BYTES;
      let count = 0;
      let maxMs = 0;
      let end = next;
      for (; end < positions.length; end++) {
        const view = arenas[end]!.view;
        const at = positions[end]!;
        const runBytes = runRecordBytes(view, at);
        if (end > next && bytes + runBytes > limit) break;
        bytes += runBytes;
        count += runCount(view, at);
        const runMaxMs = runMaxTimestampMs(view, at);
        if (end === next || runMaxMs > maxMs) maxMs = runMaxMs;
      }
      const baseOffset = this.activeSegment.endOffset;
      assert(runBaseOffset(firstArena.view, firstAt) === baseOffset, 'runs are framed in offset order');
      // From Node's pooled allocator, as encodeBatch's.
      const batch = Buffer.allocUnsafe(bytes) as Uint8Array;
      let at = BATCH_HEADER_BYTES;
      for (let run = next; run < end; run++) {
        const arena = arenas[run]!;
        const runBytes = runRecordBytes(arena.view, positions[run]!);
        const start = positions[run]! + RUN_HEADER_BYTES;
        batch.set(arena.bytes.subarray(start, start + runBytes), at);
        at += runBytes;
      }
      sealRecordsBatch(batch, baseOffset, count, runFirstTimestampMs(firstArena.view, firstAt), maxMs);
      this.unframedCount -= count;
      this.unframedBytes -= bytes - BATCH_HEADER_BYTES;
      this.place(batch, count, maxMs, nowMs);
      next = end;
    }
  }

  /**
   * Frames the runs from `next` on whose records all lie below `settled` as one hole
   * (see {@link settledBelow}); returns the index of the first run left.
   */
  private frameSettledRuns(arenas: readonly RecordArena[], positions: readonly number[], next: number, settled: number, nowMs: number): number {
    const firstView = arenas[next]!.view;
    const firstAt = positions[next]!;
    const baseOffset = this.activeSegment.endOffset;
    assert(runBaseOffset(firstView, firstAt) === baseOffset, 'runs are framed in offset order');
    let span = 0;
    let recordBytes = 0;
    let maxMs = runMaxTimestampMs(firstView, firstAt);
    let end = next;
    for (; end < positions.length; end++) {
      const view = arenas[end]!.view;
      const at = positions[end]!;
      const count = runCount(view, at);
      if (runBaseOffset(view, at) + count > settled || span + count > HOLE_SPAN_MAX) break;
      span += count;
      recordBytes += runRecordBytes(view, at);
      maxMs = Math.max(maxMs, runMaxTimestampMs(view, at));
    }
    const gap = encodeGapBatch(baseOffset, span, runFirstTimestampMs(firstView, firstAt), maxMs);
    this.unframedCount -= span;
    this.unframedBytes -= recordBytes;
    this.place(gap, span, maxMs, nowMs);
    return end;
  }

  /**
   * Adds an already encoded batch whose base offset is `endOffset()` (recovery replays the
   * journal with it). Returns the segment that holds it and its position there.
   */
  appendEncoded(bytes: Uint8Array): { segment: Segment; position: number } {
    const header = readBatchHeader(bytes);
    assert(header.baseOffset === this.end, 'batches arrive in offset order');
    this.end += header.recordCount;
    const position = this.place(bytes, header.recordCount, header.maxTimestampMs, this.host.nowMs());
    return { segment: this.activeSegment, position };
  }

  /**
   * Puts a batch whose base offset is `endOffset()` into the active segment, rolling it first
   * when due; returns its position there (the segment is the active one after the call).
   */
  private place(bytes: Uint8Array, recordCount: number, maxTimestampMs: number, nowMs: number): number {
    let active = this.active();
    const full = active.sizeBytes + bytes.byteLength > this.options.segmentBytesMax;
    const old = active.firstAppendMs !== undefined && nowMs - active.firstAppendMs >= this.options.segmentAgeMsMax;
    if (active.endOffset > active.baseOffset && (full || old)) active = this.roll();
    const position = active.append(bytes, recordCount, maxTimestampMs, nowMs);
    assert(active.endOffset + this.unframedCount + this.emptyPending <= this.end, 'the segments never pass the end offset');
    this.host.appended(this);
    return position;
  }

  /** Seals the active segment and starts a new one at the end offset. */
  roll(): Segment {
    const sealed = this.active();
    sealed.sealed = true;
    const next = Segment.create(this.host.fileSystem, this.directory, sealed.endOffset, this.host.indexIntervalBytes);
    this.segments.push(next);
    this.activeSegment = next;
    this.host.segmentSealed(this, sealed);
    return next;
  }

  async read(fromOffset: number, limits?: ReadLimits): Promise<StoredRecord[]> {
    const batches = await this.readBatches(fromOffset, limits);
    const records: StoredRecord[] = [];
    for (const batch of batches) for (const record of batch.records) records.push(record);
    return records;
  }

  async readBatches(fromOffset: number, limits?: ReadLimits): Promise<StoredBatch[]> {
    const out: StoredBatch[] = [];
    await this.walkBatches(fromOffset, limits, (batchBytes, header, offset, recordsMax, segment, batchPosition) => {
      if (header.compacted) {
        const batch = decodeBatch(batchBytes);
        // Holes: records carry their own offsets, and none may be left at or after `offset`.
        const live = this.takeLive(batch, header.baseOffset + header.recordCount, offset, recordsMax);
        if (live.batch === null) return { records: 0, nextOffset: live.nextOffset };
        out.push(live.batch);
        return { records: live.batch.records.length, nextOffset: live.nextOffset };
      }
      const skip = Math.max(offset - header.baseOffset, 0);
      const take = Math.min(header.recordCount - skip, recordsMax);
      // Only the records returned are decoded: a small read of a large batch stays cheap.
      const last = this.lastMark;
      const resumable = last !== null && last.segment === segment && last.batchPosition === batchPosition && !segment.retired && last.baseOffset === header.baseOffset && last.lengthBytes === header.lengthBytes;
      const mark: BatchMark = resumable ? last.mark : { index: 0, position: 0 };
      const wanted = decodeBatch(batchBytes, 0, skip, take, mark);
      if (skip + take < header.recordCount) {
        this.lastMark = resumable ? last : { segment, batchPosition, baseOffset: header.baseOffset, lengthBytes: header.lengthBytes, mark };
      }
      out.push(wanted);
      return { records: take, nextOffset: wanted.records[wanted.records.length - 1]!.offset + 1 };
    });
    return out;
  }

  async readCursor(fromOffset: number, limits?: CursorLimits): Promise<RecordCursor> {
    const cursor = new BatchRecordCursor();
    const offsetEnd = limits?.offsetEnd ?? Number.POSITIVE_INFINITY;
    await this.walkBatches(fromOffset, limits, (batchBytes, _header, offset, recordsMax) => cursor.add(batchBytes, offset, recordsMax, offsetEnd));
    return cursor;
  }

  /**
   * Walks the checked batches that hold records from `fromOffset` on, within
   * `limits` (records, bytes by whole batches, `offsetEnd`), handing each to
   * `take` with the offset to start at and the records still wanted; `take`
   * says how many it took and where reading goes on. The reads differ only in `take`.
   */
  private async walkBatches(
    fromOffset: number,
    limits: CursorLimits | undefined,
    take: (batchBytes: Uint8Array, header: BatchHeader, offset: number, recordsMax: number, segment: Segment, batchPosition: number) => BatchTake,
  ): Promise<void> {
    const recordsMax = limits?.recordsMax ?? Number.POSITIVE_INFINITY;
    const bytesMax = limits?.bytesMax ?? 1024 * 1024;
    const offsetEnd = limits?.offsetEnd ?? Number.POSITIVE_INFINITY;
    this.writeEmptyPending();
    let offset = Math.max(fromOffset, this.start);
    if (offset >= Math.min(offsetEnd, this.endOffset())) return;
    let records = 0;
    let bytes = 0;
    let segment: Segment | undefined = this.segments[this.segmentFor(offset)]!;
    let position = Math.max(segment.index.positionFor(offset - segment.baseOffset), SEGMENT_HEADER_BYTES);
    let budgetSpent = false;
    while (segment && !budgetSpent && offset < offsetEnd && records < recordsMax && (bytes < bytesMax || records === 0)) {
      if (segment.retired) {
        // A compacted copy replaced it while this read awaited I/O: go on in the copy, by offset.
        segment = this.segments[this.segmentFor(offset)]!;
        position = Math.max(segment.index.positionFor(offset - segment.baseOffset), SEGMENT_HEADER_BYTES);
        continue;
      }
      if (position >= segment.sizeBytes || offset >= segment.endOffset) {
        // Segments can be rolled or dropped while a read awaits I/O: find the next one by identity.
        const index = this.segments.indexOf(segment);
        segment = index >= 0 ? this.segments[index + 1] : this.segments[this.segmentFor(offset)];
        position = SEGMENT_HEADER_BYTES;
        if (segment && segment.baseOffset < offset) {
          position = Math.max(segment.index.positionFor(offset - segment.baseOffset), SEGMENT_HEADER_BYTES);
        }
        continue;
      }
      // Reads of at least 256 KiB (the segment keeps the last chunk it read, checksums verified).
      const raw = await segment.readBatchesAt(position, Math.max(bytesMax - bytes, 256 * 1024));
      if (raw.length === 0) {
        position = segment.sizeBytes;
        continue;
      }
      for (const batchBytes of raw) {
        position += batchBytes.byteLength;
        const header = readBatchHeader(batchBytes);
        if (header.baseOffset + header.recordCount <= offset) continue;
        if (offset >= offsetEnd) break;
        if (records > 0 && bytes + batchBytes.byteLength > bytesMax) {
          budgetSpent = true; // Stop without taking this batch: it would overrun the byte budget.
          break;
        }
        const taken = take(batchBytes, header, offset, recordsMax - records, segment, position - batchBytes.byteLength);
        offset = taken.nextOffset;
        if (taken.records === 0) continue;
        records += taken.records;
        bytes += batchBytes.byteLength;
        if (records >= recordsMax || bytes >= bytesMax) break;
      }
    }
  }

  /**
   * The records of a compacted batch (ending before `endOffset`) at or after `offset`, at most
   * `recordsMax`, or null when none is left; `nextOffset` is where reading goes on.
   */
  private takeLive(batch: StoredBatch, endOffset: number, offset: number, recordsMax: number): { batch: StoredBatch | null; nextOffset: number } {
    let first = 0;
    while (first < batch.records.length && batch.records[first]!.offset < offset) first++;
    const count = Math.min(batch.records.length - first, recordsMax);
    if (count === 0) return { batch: null, nextOffset: Math.max(offset, endOffset) };
    const records = first === 0 && count === batch.records.length ? batch.records : batch.records.slice(first, first + count);
    const whole = first + count === batch.records.length;
    return { batch: records === batch.records ? batch : { ...batch, records }, nextOffset: whole ? endOffset : records[count - 1]!.offset + 1 };
  }

  /** Index of the segment holding `offset` (the last segment when past the end). */
  private segmentFor(offset: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    let found = 0;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.segments[middle]!.baseOffset <= offset) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  async offsetForTimestamp(timestampMs: number): Promise<number> {
    this.writeEmptyPending();
    for (const segment of this.segments) {
      if (segment.endOffset <= this.start) continue;
      const relative = segment.index.relativeOffsetForTimestamp(timestampMs);
      if (relative === undefined) continue;
      let offset = Math.max(segment.baseOffset + relative, this.start);
      while (offset < this.endOffset()) {
        const batches = await this.readBatches(offset, { bytesMax: 256 * 1024 });
        if (batches.length === 0) break;
        for (const batch of batches) {
          for (const record of batch.records) {
            if (record.timestampMs >= timestampMs) return record.offset;
            offset = record.offset + 1;
          }
        }
      }
    }
    return this.endOffset();
  }

  /** Resolves once the move is durable per the store's mode; segment files go after that. */
  truncatePrefix(offset: number): Promise<void> {
    try {
      this.host.assertWritable();
      if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
      this.writeEmptyPending();
      const target = Math.min(Math.max(offset, this.start), this.endOffset());
      if (target === this.start) return Promise.resolve();
      this.start = target;
      const dropped: Segment[] = [];
      while (this.segments.length > 1 && this.segments[1]!.baseOffset <= target) dropped.push(this.segments.shift()!);
      const done = this.host.journalTruncatePrefix(this, target);
      if (dropped.length > 0) this.host.segmentsDropped(this, dropped);
      return done;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * See {@link Log.compact}. The sealed segments of the moment are compacted one at a time after
   * a checkpoint, which makes every earlier append durable and every one of those segments part
   * of a durable checkpoint as sealed (recovery then never cuts or replays into them).
   */
  compact(keep: (record: StoredRecord) => boolean): Promise<CompactionResult> {
    try {
      this.writeEmptyPending();
    } catch (error) {
      return Promise.reject(error);
    }
    const previous = this.compaction ?? Promise.resolve();
    const run = previous.then(
      () => this.runCompaction(keep),
      () => this.runCompaction(keep),
    );
    this.compaction = run;
    const clear = (): void => {
      if (this.compaction === run) this.compaction = null;
    };
    run.then(clear, clear);
    return run;
  }

  /** Resolves once no compaction of this log runs (whatever its outcome). */
  async compactionSettled(): Promise<void> {
    while (this.compaction !== null) await this.compaction.catch(() => undefined);
  }

  private async runCompaction(keep: (record: StoredRecord) => boolean): Promise<CompactionResult> {
    this.host.assertWritable();
    if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
    const candidates = this.segments.slice(0, -1);
    if (candidates.length > 0) await this.host.checkpoint();
    let segmentsExamined = 0;
    let segmentsRewritten = 0;
    let recordsRemoved = 0;
    let bytesBefore = 0;
    let bytesAfter = 0;
    for (const source of candidates) {
      this.host.assertWritable();
      if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
      // Dropped by retention or truncatePrefix meanwhile, or wholly below the start: not ours any more.
      if (!this.segments.includes(source) || source.endOffset <= this.start) continue;
      segmentsExamined++;
      bytesBefore += source.sizeBytes;
      let copy: CompactedSegmentFile | null;
      try {
        copy = await compactSegment(this.host.fileSystem, source, keep, this.start, this.host.indexIntervalBytes);
      } catch (error) {
        // A segment dropped (its file closed and unlinked) or a log deleted under the read: skip it.
        if (!this.deleted && !source.dropped) throw error;
        continue;
      }
      if (copy !== null && (await this.host.replaceSegment(this, source, copy))) {
        segmentsRewritten++;
        recordsRemoved += copy.recordsRemoved;
        bytesAfter += copy.sizeBytes;
      } else {
        bytesAfter += source.sizeBytes;
      }
    }
    return { segmentsExamined, segmentsRewritten, recordsRemoved, bytesBefore, bytesAfter };
  }

  /** Sets the start offset during recovery (no journaling). */
  recoverStartOffset(offset: number): void {
    this.start = Math.max(this.start, Math.min(offset, this.endOffset()));
    while (this.segments.length > 1 && this.segments[1]!.baseOffset <= this.start) {
      this.host.segmentsDropped(this, [this.segments.shift()!]);
    }
  }

  /**
   * The new start offset retention asks for (whole segments only), or undefined.
   * Age uses the newest record of a segment; bytes and records keep the newest.
   */
  retentionTarget(nowMs: number): number | undefined {
    const { retentionMs, retentionBytes, retentionRecords } = this.options;
    let keepFrom = 0;
    let bytes = this.sizeBytes();
    const end = this.endOffset();
    for (let i = 0; i < this.segments.length - 1; i++) {
      const segment = this.segments[i]!;
      const next = this.segments[i + 1]!;
      const tooOld = nowMs - segment.index.maxTimestampMs > retentionMs && segment.index.maxTimestampMs >= 0;
      const tooBig = bytes > retentionBytes;
      const tooMany = end - next.baseOffset >= retentionRecords;
      if (!(tooOld || tooBig || tooMany)) break;
      bytes -= segment.sizeBytes;
      keepFrom = i + 1;
    }
    if (keepFrom === 0) return undefined;
    const target = this.segments[keepFrom]!.baseOffset;
    return target > this.start ? target : undefined;
  }
}
