import { assert } from '../lib/assert.js';
import { FerryError } from '../lib/ferry-error.js';
import type { Clock, TimerHandle } from '../platform/clock.js';
import type {
  AppendOptions,
  AppendResult,
  CompactionResult,
  Log,
  LogOptions,
  LogStore,
  LogStoreOptions,
  CursorLimits,
  ReadLimits,
  RecordCursor,
  RecordBatchBuilder,
  RecordInput,
  StoredBatch,
  StoredRecord,
} from '../core/ports.js';
import { BatchCompactor } from './batch-compactor.js';
import { BatchRecordCursor, type BatchTake } from './batch-record-cursor.js';
import { EMPTY_RUN_MAX, LOG_OPTION_DEFAULTS, resolveLogOptions } from './file-log.js';
import { checkEmptyCount, decodeBatch, emptyBatchSizes, encodeBatch, encodeEmptyBatch, readBatchHeader, RecordBatchWriter } from './record-batch.js';
import { SEGMENT_HEADER_BYTES } from './segment.js';

/** What written() returns: memory logs hold every batch at the call. */
const WRITTEN: Promise<void> = Promise.resolve();

/** A segment held in memory: encoded batches and their first offsets. */
interface MemorySegment {
  readonly baseOffset: number;
  endOffset: number;
  sizeBytes: number;
  maxTimestampMs: number;
  firstAppendMs: number | undefined;
  readonly batches: Uint8Array[];
  readonly batchOffsets: number[];
}

function newSegment(baseOffset: number): MemorySegment {
  // Sized as a file segment would be, so byte-based retention behaves the same in both stores.
  return { baseOffset, endOffset: baseOffset, sizeBytes: SEGMENT_HEADER_BYTES, maxTimestampMs: -1, firstAppendMs: undefined, batches: [], batchOffsets: [] };
}

/**
 * A log that lives in memory: the same batch encoding, segment rolling and
 * retention rules as the file log, without any I/O. Appends resolve at once:
 * nothing survives the process.
 */
class MemoryLog implements Log {
  private segments: MemorySegment[] = [newSegment(0)];
  private start = 0;
  deleted = false;

  constructor(
    private readonly store: MemoryLogStore,
    readonly name: string,
    readonly options: Required<LogOptions>,
  ) {}

  startOffset(): number {
    return this.start;
  }

  endOffset(): number {
    return this.segments[this.segments.length - 1]!.endOffset + this.emptyPending;
  }

  /** Offsets of {@link appendEmpty} calls not yet kept as a batch. */
  private emptyPending = 0;

  /** Held as a count, as the file log does, and kept as batches before anything looks at the segments. */
  appendEmpty(count: number): void {
    this.store.assertOpen();
    if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
    checkEmptyCount(count);
    this.emptyPending += count;
    if (this.emptyPending >= EMPTY_RUN_MAX) this.writeEmptyPending();
  }

  /** See Log.writeEmptyPending: kept as batches, before anything looks at the segments. */
  writeEmptyPending(): void {
    if (this.emptyPending === 0) return;
    const sizes = emptyBatchSizes(this.emptyPending, this.store.batchBytesMax);
    this.emptyPending = 0;
    const nowMs = this.store.clock.nowMs();
    for (const records of sizes) {
      const baseOffset = this.endOffset();
      void this.appendSealed(encodeEmptyBatch(records, baseOffset, nowMs), baseOffset, records, nowMs);
    }
  }

  sizeBytes(): number {
    return this.segments.reduce((total, segment) => total + segment.sizeBytes, 0);
  }

  /** Resolves at once: memory logs have no durability. */
  append(records: readonly RecordInput[], options?: AppendOptions): Promise<AppendResult> {
    try {
      this.store.assertOpen();
      if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
      this.writeEmptyPending();
      const baseOffset = this.endOffset();
      const nowMs = this.store.clock.nowMs();
      return this.appendSealed(encodeBatch(records, baseOffset, nowMs, options?.attributes ?? 0, options?.producer ?? null), baseOffset, records.length, nowMs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  get batchBytesMax(): number {
    return this.store.batchBytesMax;
  }

  /** {@link append}, returning the base offset (see Log.appendUnawaited). */
  appendUnawaited(records: readonly RecordInput[], options?: AppendOptions): number {
    this.store.assertOpen();
    if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
    this.writeEmptyPending();
    const baseOffset = this.endOffset();
    const nowMs = this.store.clock.nowMs();
    this.keepSealed(encodeBatch(records, baseOffset, nowMs, options?.attributes ?? 0, options?.producer ?? null), baseOffset, records.length, nowMs);
    return baseOffset;
  }

  /** A writer without headroom: memory logs keep batches as they are. */
  newBatch(recordCount: number, headerCount: number, fieldBytes: number): RecordBatchWriter {
    return new RecordBatchWriter(recordCount, headerCount, fieldBytes);
  }

  /** {@link append} for a batch built by {@link newBatch}; resolves at once. */
  appendBatch(batch: RecordBatchBuilder, options?: AppendOptions): Promise<AppendResult> {
    try {
      this.store.assertOpen();
      if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
      assert(batch instanceof RecordBatchWriter && batch.headroomBytes === 0, "a batch comes from a memory log's newBatch");
      this.writeEmptyPending();
      const baseOffset = this.endOffset();
      const bytes = batch.seal(baseOffset, options?.attributes ?? 0, options?.producer ?? null);
      return this.appendSealed(bytes, baseOffset, batch.count, this.store.clock.nowMs());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** {@link keepSealed}, resolving with where the batch landed. */
  private appendSealed(bytes: Uint8Array, baseOffset: number, recordCount: number, nowMs: number): Promise<AppendResult> {
    this.keepSealed(bytes, baseOffset, recordCount, nowMs);
    return Promise.resolve({ baseOffset, lastOffset: baseOffset + recordCount - 1 });
  }

  /** Keeps a sealed batch whose base offset is the end offset, rolling the active segment when due. */
  private keepSealed(bytes: Uint8Array, baseOffset: number, recordCount: number, nowMs: number): void {
    if (bytes.byteLength > this.store.batchBytesMax) {
      throw new FerryError('RECORD_TOO_LARGE', `batch of ${bytes.byteLength} bytes exceeds batchBytesMax ${this.store.batchBytesMax}`);
    }
    const header = readBatchHeader(bytes);
    let active = this.segments[this.segments.length - 1]!;
    const full = active.sizeBytes + bytes.byteLength > this.options.segmentBytesMax;
    const old = active.firstAppendMs !== undefined && nowMs - active.firstAppendMs >= this.options.segmentAgeMsMax;
    if (active.endOffset > active.baseOffset && (full || old)) {
      active = newSegment(active.endOffset);
      this.segments.push(active);
    }
    active.batches.push(bytes);
    active.batchOffsets.push(baseOffset);
    active.sizeBytes += bytes.byteLength;
    active.endOffset += recordCount;
    active.maxTimestampMs = Math.max(active.maxTimestampMs, header.maxTimestampMs);
    active.firstAppendMs ??= nowMs;
  }

  async read(fromOffset: number, limits?: ReadLimits): Promise<StoredRecord[]> {
    const records: StoredRecord[] = [];
    for (const batch of await this.readBatches(fromOffset, limits)) records.push(...batch.records);
    return records;
  }

  async readBatches(fromOffset: number, limits?: ReadLimits): Promise<StoredBatch[]> {
    const out: StoredBatch[] = [];
    this.walkBatches(fromOffset, limits, (batchBytes, offset, recordsMax) => {
      const batch = decodeBatch(batchBytes);
      const wanted = batch.records.filter((record) => record.offset >= offset).slice(0, recordsMax);
      if (wanted.length === 0) return { records: 0, nextOffset: offset };
      out.push(wanted.length === batch.records.length ? batch : { ...batch, records: wanted });
      return { records: wanted.length, nextOffset: wanted[wanted.length - 1]!.offset + 1 };
    });
    return out;
  }

  async readCursor(fromOffset: number, limits?: CursorLimits): Promise<RecordCursor> {
    const cursor = new BatchRecordCursor();
    const offsetEnd = limits?.offsetEnd ?? Number.POSITIVE_INFINITY;
    this.walkBatches(fromOffset, limits, (batchBytes, offset, recordsMax) => cursor.add(batchBytes, offset, recordsMax, offsetEnd));
    return cursor;
  }

  /** Hands `take` each batch holding records from `fromOffset` on, within `limits` (see FileLog's walk). */
  private walkBatches(fromOffset: number, limits: CursorLimits | undefined, take: (batchBytes: Uint8Array, offset: number, recordsMax: number) => BatchTake): void {
    const recordsMax = limits?.recordsMax ?? Number.POSITIVE_INFINITY;
    const bytesMax = limits?.bytesMax ?? 1024 * 1024;
    const offsetEnd = limits?.offsetEnd ?? Number.POSITIVE_INFINITY;
    this.writeEmptyPending();
    let offset = Math.max(fromOffset, this.start);
    let records = 0;
    let bytes = 0;
    for (const segment of this.segments) {
      if (segment.endOffset <= offset) continue;
      let index = upperBound(segment.batchOffsets, offset) - 1;
      if (index < 0) index = 0;
      for (; index < segment.batches.length; index++) {
        if (offset >= offsetEnd || records >= recordsMax || (bytes >= bytesMax && records > 0)) return;
        const batchBytes = segment.batches[index]!;
        const taken = take(batchBytes, offset, recordsMax - records);
        offset = Math.max(offset, taken.nextOffset);
        if (taken.records === 0) continue;
        records += taken.records;
        bytes += batchBytes.byteLength;
      }
    }
  }

  async offsetForTimestamp(timestampMs: number): Promise<number> {
    this.writeEmptyPending();
    for (const segment of this.segments) {
      if (segment.maxTimestampMs < timestampMs) continue;
      for (const batchBytes of segment.batches) {
        for (const record of decodeBatch(batchBytes).records) {
          if (record.offset >= this.start && record.timestampMs >= timestampMs) return record.offset;
        }
      }
    }
    return this.endOffset();
  }

  async truncatePrefix(offset: number): Promise<void> {
    this.store.assertOpen();
    if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
    this.writeEmptyPending();
    const target = Math.min(Math.max(offset, this.start), this.endOffset());
    this.start = target;
    while (this.segments.length > 1 && this.segments[1]!.baseOffset <= target) this.segments.shift();
  }

  /**
   * See {@link Log.compact}: the same holes and gap batches as the file store, in memory.
   * Each segment is swapped whole once its copy is built, so a throwing `keep` changes nothing
   * in the segment it was asked about.
   */
  async compact(keep: (record: StoredRecord) => boolean): Promise<CompactionResult> {
    this.store.assertOpen();
    if (this.deleted) throw new FerryError('LOG_NOT_FOUND', `log ${this.name} was deleted`);
    this.writeEmptyPending();
    let segmentsExamined = 0;
    let segmentsRewritten = 0;
    let recordsRemoved = 0;
    let bytesBefore = 0;
    let bytesAfter = 0;
    for (let i = 0; i < this.segments.length - 1; i++) {
      const source = this.segments[i]!;
      if (source.endOffset <= this.start) continue;
      segmentsExamined++;
      bytesBefore += source.sizeBytes;
      const compactor = new BatchCompactor(keep, this.start);
      const batches: Uint8Array[] = [];
      for (const bytes of source.batches) batches.push(...compactor.push(bytes));
      batches.push(...compactor.finish());
      if (compactor.recordsRemoved > 0) {
        const copy: MemorySegment = { ...newSegment(source.baseOffset), endOffset: source.endOffset, maxTimestampMs: source.maxTimestampMs, firstAppendMs: source.firstAppendMs };
        for (const bytes of batches) {
          copy.batches.push(bytes);
          copy.batchOffsets.push(readBatchHeader(bytes).baseOffset);
          copy.sizeBytes += bytes.byteLength;
        }
        this.segments[i] = copy;
        segmentsRewritten++;
        recordsRemoved += compactor.recordsRemoved;
      }
      bytesAfter += this.segments[i]!.sizeBytes;
    }
    return { segmentsExamined, segmentsRewritten, recordsRemoved, bytesBefore, bytesAfter };
  }

  /** Applies the retention policy (whole segments only). */
  applyRetention(nowMs: number): Promise<void> {
    const { retentionMs, retentionBytes, retentionRecords } = this.options;
    let bytes = this.sizeBytes();
    const end = this.endOffset();
    let keepFrom = 0;
    for (let i = 0; i < this.segments.length - 1; i++) {
      const segment = this.segments[i]!;
      const tooOld = segment.maxTimestampMs >= 0 && nowMs - segment.maxTimestampMs > retentionMs;
      const tooBig = bytes > retentionBytes;
      const tooMany = end - this.segments[i + 1]!.baseOffset >= retentionRecords;
      if (!(tooOld || tooBig || tooMany)) break;
      bytes -= segment.sizeBytes;
      keepFrom = i + 1;
    }
    return keepFrom > 0 ? this.truncatePrefix(this.segments[keepFrom]!.baseOffset) : Promise.resolve();
  }
}

function upperBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Settings of the memory store. */
export interface MemoryLogStoreOptions extends LogStoreOptions {
  readonly clock: Clock;
  /** How often retention runs by itself (default 5 s, as in the file store). */
  readonly retentionCheckIntervalMs?: number;
}

/**
 * The in-memory LogStore: for tests, `ferry serve --memory` and transient
 * data. Same contract as the file store except that nothing is durable.
 */
export class MemoryLogStore implements LogStore {
  readonly clock: Clock;
  readonly batchBytesMax: number;
  private readonly logDefaults: Required<LogOptions>;
  private readonly logs = new Map<string, MemoryLog>();
  private closed = false;
  private retentionTimer: TimerHandle | null = null;

  constructor(options: MemoryLogStoreOptions) {
    this.clock = options.clock;
    this.batchBytesMax = options.batchBytesMax ?? 32 * 1024 * 1024;
    this.logDefaults = resolveLogOptions(options.logDefaults, LOG_OPTION_DEFAULTS);
    // Memory is the scarcer resource here: in-memory streams must shed old segments by themselves.
    const intervalMs = options.retentionCheckIntervalMs ?? 5_000;
    const tick = (): void => {
      if (this.closed) return;
      void this.applyRetention().catch(() => undefined);
      this.retentionTimer = this.clock.setTimer(intervalMs, tick);
    };
    this.retentionTimer = this.clock.setTimer(intervalMs, tick);
  }

  assertOpen(): void {
    if (this.closed) throw new FerryError('STORAGE_CLOSED', 'the store is closed');
  }

  async openLog(name: string, options?: LogOptions): Promise<Log> {
    this.assertOpen();
    let log = this.logs.get(name);
    if (!log) {
      log = new MemoryLog(this, name, resolveLogOptions(options, this.logDefaults));
      this.logs.set(name, log);
    }
    return log;
  }

  getLog(name: string): Log | undefined {
    return this.logs.get(name);
  }

  logNames(): string[] {
    return [...this.logs.keys()];
  }

  async deleteLog(name: string): Promise<void> {
    this.assertOpen();
    const log = this.logs.get(name);
    if (!log) throw new FerryError('LOG_NOT_FOUND', `no log named ${name}`);
    log.deleted = true;
    this.logs.delete(name);
  }

  /** Applies every log's retention policy now. */
  async applyRetention(): Promise<void> {
    const nowMs = this.clock.nowMs();
    for (const log of this.logs.values()) await log.applyRetention(nowMs);
  }

  /** Nothing to make durable. */
  async flush(): Promise<void> {
    this.assertOpen();
  }

  /** Everything is written at the call: resolves at once (rejects on a closed store). */
  written(): Promise<void> {
    return this.closed ? Promise.reject(new FerryError('STORAGE_CLOSED', 'the store is closed')) : WRITTEN;
  }

  /** No group commit here: `gather` runs after the current turn. */
  beforeNextCommit(gather: () => void): void {
    queueMicrotask(gather);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.retentionTimer?.cancel();
  }
}
