import { assert } from '../lib/assert.js';
import { FerryError } from '../lib/ferry-error.js';
import type { AppendResult, Log, LogOptions, LogStore, RecordInput } from '../core/ports.js';

/** Batch attribute bit of every batch that holds (part of) a snapshot. */
export const SNAPSHOT_ATTRIBUTE = 0x10;
/** Batch attribute bit of the first batch of a snapshot. */
export const SNAPSHOT_START_ATTRIBUTE = 0x20;
/** Batch attribute bit of the last batch of a snapshot: the snapshot is complete. */
export const SNAPSHOT_END_ATTRIBUTE = 0x40;

/** Settings of a {@link StateLog}; each has a default. */
export interface StateLogOptions {
  /** `shouldSnapshot()` turns true when more events than this were appended since the last snapshot. */
  readonly eventsPerSnapshotMax?: number;
  /** `shouldSnapshot()` turns true when events since the last snapshot hold more bytes than this. */
  readonly eventBytesPerSnapshotMax?: number;
  /**
   * With 1, a snapshot also waits until the events since the last one are at
   * least as large as it, so a large state costs O(1) per event to snapshot.
   */
  readonly snapshotAmortized?: number;
  /** `load()` reads the log in chunks of about this many bytes. */
  readonly readBytesMax?: number;
  /** A snapshot is stored as records of at most this many bytes. */
  readonly snapshotRecordBytesMax?: number;
  /** Snapshot records are grouped into batches of at most this many bytes (keep it below the store's batchBytesMax). */
  readonly snapshotBatchBytesMax?: number;
  /**
   * Options of the underlying log when it is created. Retention options are
   * refused: a state log is only ever shortened by its own snapshots.
   */
  readonly logOptions?: Pick<LogOptions, 'segmentBytesMax' | 'segmentAgeMsMax'>;
}

/** Defaults of {@link StateLogOptions}. */
export const STATE_LOG_DEFAULTS = {
  eventsPerSnapshotMax: 10_000,
  eventBytesPerSnapshotMax: 8 * 1024 * 1024,
  snapshotAmortized: 0,
  readBytesMax: 1024 * 1024,
  snapshotRecordBytesMax: 1024 * 1024,
  snapshotBatchBytesMax: 4 * 1024 * 1024,
  // Small segments so that a snapshot's truncatePrefix frees space soon.
  segmentBytesMax: 4 * 1024 * 1024,
};

/** What {@link StateLog.load} found: the last complete snapshot and the events after it, in order. */
export interface StateLogContents {
  readonly snapshot: Uint8Array | null;
  readonly events: Uint8Array[];
}

/**
 * A log of state-change events with snapshots, over one {@link Log}: the
 * building block of queue delivery state and of the metadata store.
 *
 * Layout of the log (offsets grow to the right):
 *
 *   start
 *   v
 *   +------------+------------+-----+---------+---------+-----+
 *   | snapshot   | snapshot   | ... | event   | event   | ... |
 *   | attr 0x30  | attr 0x10  |     | batch   | batch   |     |
 *   | (0x70 when | ...  0x50  |     | attr 0  |         |     |
 *   |  one batch)| last batch |     |         |         |     |
 *   +------------+------------+-----+---------+---------+-----+
 *
 * Each event is one record; `appendEvents` writes one batch of them. A
 * snapshot is the concatenated values of the records of one or more batches
 * carrying SNAPSHOT_ATTRIBUTE, the first also SNAPSHOT_START_ATTRIBUTE and the
 * last SNAPSHOT_END_ATTRIBUTE. After appending a snapshot, `writeSnapshot`
 * moves the log's start to the snapshot's first offset, so whole segments
 * before it are deleted.
 *
 * Correct use: the owner applies an event to its in-memory state in the same
 * synchronous step in which it calls `appendEvents`, and takes a snapshot of
 * that state in the same synchronous step in which it calls `writeSnapshot`.
 * Offsets are assigned at the call, so the snapshot then lands after every
 * event it covers and before every event it does not.
 *
 * Recovery: `load` takes the last *complete* snapshot it meets and the events
 * after it, so a snapshot in the middle of the log (the truncation after it
 * was lost in a crash) supersedes everything before it, and a snapshot torn
 * by a crash (no end batch) is ignored: the events around it still describe
 * the state.
 */
export class StateLog {
  private eventsSinceSnapshot = 0;
  private eventBytesSinceSnapshot = 0;
  /** Size of the last snapshot written or loaded: the next waits for at least as many event bytes. */
  private lastSnapshotBytes = 0;
  private readonly settings: typeof STATE_LOG_DEFAULTS;

  private constructor(
    /** The underlying log; exposed for tests and metrics (sizeBytes, startOffset). */
    readonly log: Log,
    settings: typeof STATE_LOG_DEFAULTS,
  ) {
    this.settings = settings;
  }

  /**
   * Opens (creating when absent) the state log named `name` in `store`.
   * Call {@link load} next, before appending, so the snapshot policy counts
   * the events already in the log.
   */
  static async open(store: LogStore, name: string, options: StateLogOptions = {}): Promise<StateLog> {
    const settings = { ...STATE_LOG_DEFAULTS };
    for (const key of Object.keys(STATE_LOG_DEFAULTS) as (keyof typeof STATE_LOG_DEFAULTS)[]) {
      const value = key === 'segmentBytesMax' ? options.logOptions?.segmentBytesMax : options[key];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !(value > 0)) throw new FerryError('INVALID_ARGUMENT', `state log option ${key} must be a positive number`);
      settings[key] = value;
    }
    const log = await store.openLog(name, {
      segmentBytesMax: settings.segmentBytesMax,
      ...(options.logOptions?.segmentAgeMsMax !== undefined ? { segmentAgeMsMax: options.logOptions.segmentAgeMsMax } : {}),
      // Store-wide retention defaults must not apply: they would delete the snapshot.
      retentionMs: Number.POSITIVE_INFINITY,
      retentionBytes: Number.POSITIVE_INFINITY,
      retentionRecords: Number.POSITIVE_INFINITY,
    });
    const { retentionMs, retentionBytes, retentionRecords } = log.options;
    if (Number.isFinite(retentionMs) || Number.isFinite(retentionBytes) || Number.isFinite(retentionRecords)) {
      throw new FerryError('INVALID_ARGUMENT', `log ${name} has a retention policy, so it cannot hold a state log`);
    }
    return new StateLog(log, settings);
  }

  /** The log's name. */
  get name(): string {
    return this.log.name;
  }

  /**
   * Reads the log from its start, in chunks of `readBytesMax`, and returns the
   * last complete snapshot (null when none) and every event after it. The
   * snapshot policy bounds how much that is. Resets the policy's counters to
   * the events found.
   */
  async load(): Promise<StateLogContents> {
    let snapshot: Uint8Array | null = null;
    let assembling: Uint8Array[] | null = null;
    let events: Uint8Array[] = [];
    let eventBytes = 0;
    let offset = this.log.startOffset();
    for (;;) {
      const batches = await this.log.readBatches(offset, { bytesMax: this.settings.readBytesMax });
      const from = offset;
      for (const batch of batches) {
        if (batch.records.length === 0) continue;
        offset = batch.records[batch.records.length - 1]!.offset + 1;
        if ((batch.attributes & SNAPSHOT_ATTRIBUTE) !== 0) {
          // A start bit begins a new snapshot; a continuation without a start belongs to a torn one.
          if ((batch.attributes & SNAPSHOT_START_ATTRIBUTE) !== 0) assembling = [];
          if (assembling === null) continue;
          for (const record of batch.records) assembling.push(record.value);
          if ((batch.attributes & SNAPSHOT_END_ATTRIBUTE) !== 0) {
            snapshot = concatenate(assembling);
            assembling = null;
            events = [];
            eventBytes = 0;
          }
        } else {
          // Events after a snapshot that never ended: that snapshot was torn by a crash.
          assembling = null;
          for (const record of batch.records) {
            // Copied, so the read buffer (which may hold old snapshots) can be freed.
            events.push(record.value.slice());
            eventBytes += record.value.byteLength;
          }
        }
      }
      if (offset === from) break; // The end of the log.
    }
    this.eventsSinceSnapshot = events.length;
    this.eventBytesSinceSnapshot = eventBytes;
    this.lastSnapshotBytes = snapshot?.byteLength ?? 0;
    return { snapshot, events };
  }

  /**
   * Appends `events` as one batch (one record each). Offsets are assigned at
   * the call. Resolves per the store's durability mode: with `always`, after
   * the batch is fsynced; until then the events may be lost on crash.
   * Fails with RECORD_TOO_LARGE when the batch exceeds the store's batchBytesMax.
   */
  appendEvents(events: readonly Uint8Array[]): Promise<AppendResult | null> {
    if (events.length === 0) return Promise.resolve(null);
    const records: RecordInput[] = [];
    let bytes = 0;
    for (const value of events) {
      records.push({ value });
      bytes += value.byteLength;
    }
    const appended = this.log.append(records);
    this.eventsSinceSnapshot += events.length;
    this.eventBytesSinceSnapshot += bytes;
    return appended;
  }

  /**
   * Appends `bytes` as a snapshot of the owner's whole state (covering every
   * event appended before this call), then moves the log's start to it so
   * older segments can be deleted. Resolves when both are done per the
   * store's durability mode; a crash before that leaves either the old state
   * (events intact) or the new snapshot, never a mix.
   */
  async writeSnapshot(bytes: Uint8Array): Promise<void> {
    this.lastSnapshotBytes = bytes.byteLength;
    const { snapshotRecordBytesMax, snapshotBatchBytesMax } = this.settings;
    const values: Uint8Array[] = [];
    for (let at = 0; at < bytes.byteLength; at += snapshotRecordBytesMax) values.push(bytes.subarray(at, at + snapshotRecordBytesMax));
    if (values.length === 0) values.push(bytes);
    const batches: RecordInput[][] = [];
    let batchBytes = Number.POSITIVE_INFINITY;
    for (const value of values) {
      if (batchBytes + value.byteLength > snapshotBatchBytesMax) {
        batches.push([]);
        batchBytes = 0;
      }
      batches[batches.length - 1]!.push({ value });
      batchBytes += value.byteLength;
    }
    // Every append and the truncation are issued in this synchronous step, so
    // they get consecutive offsets and share one group commit.
    const firstOffset = this.log.endOffset();
    const appends = batches.map((records, index) => {
      let attributes = SNAPSHOT_ATTRIBUTE;
      if (index === 0) attributes |= SNAPSHOT_START_ATTRIBUTE;
      if (index === batches.length - 1) attributes |= SNAPSHOT_END_ATTRIBUTE;
      return this.log.append(records, { attributes });
    });
    if (this.log.endOffset() !== firstOffset + values.length) {
      // An append was refused (too large, store closed): the snapshot is incomplete, so the
      // events before it are still needed. Load ignores a snapshot without its end batch.
      await settleAll(appends);
      assert(false, 'an append that assigned no offsets rejected');
    }
    this.eventsSinceSnapshot = 0;
    this.eventBytesSinceSnapshot = 0;
    await settleAll<unknown>([...appends, this.log.truncatePrefix(firstOffset)]);
  }

  /** True when the owner should write a snapshot: the policy's event count or bytes are exceeded. */
  /**
   * True when a snapshot is due: past the event count or byte limits, and
   * only once the events since the last snapshot are at least as large as it,
   * so that snapshotting a big state costs O(1) per event, amortized.
   */
  shouldSnapshot(): boolean {
    const due = this.eventsSinceSnapshot > this.settings.eventsPerSnapshotMax || this.eventBytesSinceSnapshot > this.settings.eventBytesPerSnapshotMax;
    return due && (this.settings.snapshotAmortized === 0 || this.eventBytesSinceSnapshot >= this.lastSnapshotBytes);
  }

  /** Events appended (or loaded) since the last snapshot. */
  eventCountSinceSnapshot(): number {
    return this.eventsSinceSnapshot;
  }

  /** Bytes of the events appended (or loaded) since the last snapshot. */
  eventByteCountSinceSnapshot(): number {
    return this.eventBytesSinceSnapshot;
  }
}

/** Like Promise.all, but waits for every promise before rejecting, so none is left unobserved. */
async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value);
}

function concatenate(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
