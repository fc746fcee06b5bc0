import { assert } from '../lib/assert.js';
import { deferred, type Deferred } from '../lib/deferred.js';
import type { Clock } from '../platform/clock.js';
import { FerryError } from '../lib/ferry-error.js';
import { SequenceMap } from '../lib/sequence-map.js';
import type { AckOptions, DeferredRound, Log, LogStore } from '../core/ports.js';
import { OffsetRangeSet } from './offset-range-set.js';
import { StateLog, type StateLogOptions } from './state-log.js';

/** Why a message left its queue by dead-lettering; logged with the event. */
export type DeadLetterReason = 'rejected' | 'expired' | 'max-length' | 'delivery-limit';

const REASON_CODES: Readonly<Record<DeadLetterReason, number>> = { rejected: 1, expired: 2, 'max-length': 3, 'delivery-limit': 4 };

/** Settings of a {@link QueueStateStore}; each has a default. */
export interface QueueStateStoreOptions extends StateLogOptions {
  /**
   * The message log's start is moved up to the low watermark once the
   * watermark is at least this many offsets past it, so fully settled
   * segments are deleted. Smaller values journal more start moves.
   */
  readonly reclaimOffsetsMin?: number;
  /**
   * True for the state of a queue whose messages live only as long as the
   * process (the store nobody reads after a restart): changes apply in memory
   * and nothing is written to the state log, so every write resolves at once.
   * Reopening such a state finds nothing of what it held.
   */
  readonly volatile?: boolean;
  /**
   * Set when the queue reads records back for this long after settling them (its
   * deduplication window, rebuilt after a restart from the records that arrived within it):
   * the message log is then not told that settled records will never be read
   * (Log.settledBelow, which would let it write them as holes), and its start is moved only
   * up to a low watermark reached at least this long ago (measured on `clock`).
   */
  readonly settledRecordsReadForMs?: number;
  /** Required with settledRecordsReadForMs. */
  readonly clock?: Clock;
}

/** With settledRecordsReadForMs, a low watermark is sampled at most this often (ms). */
const WATERMARK_SAMPLE_MS = 1_000;

/** Defaults of {@link QueueStateStoreOptions} (besides the StateLog ones). */
export const QUEUE_STATE_STORE_DEFAULTS = {
  reclaimOffsetsMin: 1024,
};

/** How much per-message state a queue holds in memory; for metrics and tests. */
export interface QueueStateMemory {
  /** Ranges of acked or dead-lettered offsets at or above the low watermark. */
  readonly settledRanges: number;
  /** Ranges of dead-lettered offsets at or above the low watermark. */
  readonly deadLetteredRanges: number;
  /** Delivered, unsettled messages with a delivery count. */
  readonly deliveryCounts: number;
  /** Messages with a due time (delayed or waiting to be retried). */
  readonly scheduled: number;
}

/*
 * Events, one record each, in a compact binary encoding. Numbers are unsigned
 * LEB128 varints (7 bits a byte, low first, up to 2^53 - 1) unless noted.
 *
 *   kind (u8) | fields
 *   ----------+--------------------------------------------------------------
 *   1 ack     | rangeCount, then per range: gap (start - previous range's end,
 *             | the first from 0), length; ranges ascending and disjoint
 *   2 deliver | offset, count (the new delivery count, absolute)
 *   3 schedule| offset, dueMs (wall-clock ms)
 *   4 unsched.| offset
 *   5 dead    | offset, reason (u8: 1 rejected, 2 expired, 3 max-length, 4 delivery-limit)
 *   6 deliv.  | ranges, as an ack's: every offset in them was delivered at least
 *   ranges    | once (its count becomes at least 1); first deliveries are logged
 *             | this way, one event a batch (less the offsets settled by the
 *             | time the batch is written), and later ones as `2 deliver`
 *
 * Snapshot (format version 1):
 *
 *   version (u8 = 1) | floor | settled ranges | dead-lettered ranges | deliveries | schedule
 *
 * where `floor` is the low watermark when taken, the range lists are encoded
 * like an ack's (count, then gap/length pairs), and deliveries and schedule
 * are `count`, then per entry `offset gap` (from the previous entry's offset,
 * the first from 0) and the count or dueMs, ascending by offset.
 *
 * Applying an event is idempotent, and events about settled offsets are
 * ignored, so replaying an event the snapshot already covers changes nothing.
 */
const enum EventKind {
  ack = 1,
  deliver = 2,
  schedule = 3,
  unschedule = 4,
  deadLetter = 5,
  deliveredRanges = 6,
}

const SNAPSHOT_FORMAT_VERSION = 1;

const RESOLVED: Promise<void> = Promise.resolve();

/** The ranges of every call of one kind in a batch (acks, or first deliveries), merged into one event. */
interface RangeAccumulator {
  readonly kind: EventKind.ack | EventKind.deliveredRanges;
  readonly ranges: Array<[number, number]>;
}

/**
 * The events gathered until the store's next group commit: one append, one promise.
 * All acks go into one event and all first deliveries into another, each at the place of the
 * batch's first one. Moving an event earlier keeps the replayed state: a settled offset ignores
 * later events, and a first delivery only raises a count that later events set absolutely.
 */
interface PendingBatch {
  readonly items: Array<Uint8Array | RangeAccumulator>;
  readonly done: Deferred<void>;
  /** `done`, resolving to 1: what every first delivery of the batch returns (one promise, not one each). */
  firstDelivered: Promise<number> | null;
  acks: RangeAccumulator | null;
  delivered: RangeAccumulator | null;
  /** True once a batch of first deliveries alone was held back for one more commit. */
  heldBack: boolean;
  /** True once the batch asked for the next commit, not a deferred one (see {@link QueueStateStore.hurry}). */
  urgent: boolean;
  /** The store's round whose promise lazy acks of this batch were given (see {@link QueueStateStore.acked}); rejected if the batch fails. */
  round: DeferredRound | null;
}

/** Asks the store to run a gatherer at a later commit while many wait (LogStore.beforeNextCommit). */
const DEFERRABLE = { deferrable: true } as const;

/** A pending batch with this many ranges of acks or of first deliveries is written at the next commit. */
const DEFERRED_RANGES_MAX = 1024;

/**
 * The durable delivery state of one queue whose messages live in a message
 * {@link Log}: which offsets are acked or dead-lettered (an
 * {@link OffsetRangeSet}), how often each unsettled message was delivered,
 * and when scheduled (delayed or retrying) messages fall due. Kept in a
 * {@link StateLog} with automatic snapshots.
 *
 * Restart semantics: after `open`, every offset in
 * [lowWatermark(), messageLog.endOffset()) that is not acked or dead-lettered
 * is ready again (see {@link unackedOffsets}); a message that was delivered
 * but unacked keeps its delivery count, and scheduled messages keep their due
 * time. Nothing records who held a message: in-flight is memory only.
 *
 * Writes are applied to memory at the call and logged in one batch per group
 * commit of the store (LogStore.beforeNextCommit: every call until the store
 * takes its next group shares one append, and the group shares the fsync with
 * other logs). A batch of first deliveries alone waits for the group after:
 * nothing waits for it, and the acks that usually follow leave it empty, so a
 * queue of one message per commit logs one state batch per message, not two.
 * Each returned promise resolves per the store's durability mode once its
 * batch is appended; with `always`, a crash loses nothing that resolved. If an append fails, the
 * store stops: later calls reject with STORAGE_CLOSED and the owner must
 * reopen (memory may hold changes that were never logged). A `volatile`
 * state (a transient queue's) logs nothing: its writes resolve at once.
 *
 * Memory: everything below the low watermark is dropped (settled ranges are
 * merged away), so the cost is one range per gap in the acks plus one entry
 * per delivered-unsettled or scheduled message. Once the watermark moves
 * `reclaimOffsetsMin` past the message log's start, and the acks that moved it
 * are durable, the store calls `messageLog.truncatePrefix(watermark)`: a
 * segment of the queue is reclaimed once every record in it is acked or
 * dead-lettered.
 */
export class QueueStateStore {
  // What a delivery and an ack read comes first (fields are laid out in declaration order; see Queue).
  private closed = false;
  private failure: unknown = null;
  /** Every offset below is settled; no state is kept for it. */
  private floor = 0;
  /**
   * First deliveries in offset order, the usual case, are not entries of `deliveries`: every
   * unsettled offset in [floor, deliveredEnd) without an entry was delivered once. A delivery
   * and its ack then touch neither map (cold objects on a broker of a thousand queues).
   */
  private deliveredEnd = 0;
  /** The largest offset ever given an entry in `deliveries`, or -1: the map has none above it. */
  private deliveriesMaxKey = -1;
  /** The largest offset ever given an entry in `dueTimes`, or -1: the map has none above it. */
  private dueTimesMaxKey = -1;
  private pending: PendingBatch | null = null;
  /** `pending.done.promise`, read here without touching the batch. */
  private pendingDone: Promise<void> = RESOLVED;
  /**
   * The last range of the pending batch's acks, and of its first deliveries, kept here until
   * the batch is written (its `ranges` hold the ones before): extending it, the usual case,
   * touches only this object. An end of -1: the batch has none yet.
   */
  private ackRunStart = 0;
  private ackRunEnd = -1;
  private deliveredRunStart = 0;
  private deliveredRunEnd = -1;
  /** True while the store holds a deferrable call of {@link gatherDeferred}. */
  private deferredGatherWaiting = false;
  /** Acked or dead-lettered offsets at or above `floor`. */
  private readonly settled = new OffsetRangeSet();
  /** Dead-lettered offsets at or above `floor` (a subset of `settled`). */
  private readonly deadLettered = new OffsetRangeSet();
  /** Delivery counts and due times by offset (mostly set in offset order: window arrays, not hash tables). */
  private readonly deliveries = new SequenceMap<number>();
  private readonly dueTimes = new SequenceMap<number>();
  private lastBatchDone: Promise<void> = Promise.resolve();
  private readonly background = new Set<Promise<void>>();
  /** An {@link ackUnlogged} reclaim waits for the logged acks before it. */
  private reclaimWaiting = false;
  /** {@link ackUnlogged} settled offsets that no snapshot holds yet. */
  private unloggedSinceSnapshot = false;

  private constructor(
    private readonly store: LogStore,
    /** The state log; exposed for tests and metrics. */
    readonly stateLog: StateLog,
    /** The queue's messages. */
    readonly messageLog: Log,
    private readonly reclaimOffsetsMin: number,
    /** See {@link QueueStateStoreOptions.volatile}. */
    private readonly volatile: boolean,
    /** See {@link QueueStateStoreOptions.settledRecordsReadForMs}: with its clock, or null. */
    private readonly settledRead: { readonly forMs: number; readonly clock: Clock } | null,
  ) {}

  /** With settledRead: low watermarks reached and when (monotonic ms), oldest first. */
  private readonly watermarkSamples: Array<{ readonly watermark: number; readonly atMs: number }> = [];

  /**
   * Opens the delivery state of the queue whose messages are in `messageLog`,
   * kept in the state log `queueLogName` of `store` (created when absent),
   * and rebuilds it from the last snapshot and the events after it. State
   * about offsets at or past `messageLog.endOffset()` is dropped: those
   * messages do not exist (they were lost with an unsynced tail).
   */
  static async open(store: LogStore, queueLogName: string, messageLog: Log, options: QueueStateStoreOptions = {}): Promise<QueueStateStore> {
    const reclaimOffsetsMin = options.reclaimOffsetsMin ?? QUEUE_STATE_STORE_DEFAULTS.reclaimOffsetsMin;
    if (!(reclaimOffsetsMin >= 0)) throw new FerryError('INVALID_ARGUMENT', 'reclaimOffsetsMin must not be negative');
    // Queue state can be large (a million delayed messages): its snapshots are amortized.
    const stateLog = await StateLog.open(store, queueLogName, { snapshotAmortized: 1, ...options });
    const { snapshot, events } = await stateLog.load();
    const readForMs = options.settledRecordsReadForMs;
    if (readForMs !== undefined && (!(readForMs >= 0) || options.clock === undefined)) {
      throw new FerryError('INVALID_ARGUMENT', 'settledRecordsReadForMs must be a non-negative number, with a clock');
    }
    const settledRead = readForMs !== undefined ? { forMs: readForMs, clock: options.clock! } : null;
    const state = new QueueStateStore(store, stateLog, messageLog, reclaimOffsetsMin, options.volatile === true, settledRead);
    if (snapshot !== null) state.applySnapshot(snapshot);
    for (const event of events) state.applyEvent(event);
    state.dropFrom(messageLog.endOffset());
    state.advanceFloor();
    const watermark = state.lowWatermark();
    await state.reclaim(watermark);
    return state;
  }

  // ---------------------------------------------------------------- reads

  /** The first offset, from the message log's start, that is neither acked nor dead-lettered. */
  lowWatermark(): number {
    return this.settled.firstMissingFrom(Math.max(this.floor, this.messageLog.startOffset()));
  }

  /** True when the message at `offset` will not be delivered again: acked, dead-lettered, or below the low watermark. */
  isAcked(offset: number): boolean {
    return offset < this.floor || offset < this.messageLog.startOffset() || this.settled.has(offset);
  }

  /** True when the message at `offset` (at or above the low watermark) was dead-lettered. */
  isDeadLettered(offset: number): boolean {
    return this.deadLettered.has(offset);
  }

  /** How often the unsettled message at `offset` was delivered; 0 when never or when settled. */
  deliveryCount(offset: number): number {
    return this.isAcked(offset) ? 0 : this.unsettledCount(offset);
  }

  /** When the message at `offset` falls due (wall-clock ms), or undefined when not scheduled. */
  scheduledAt(offset: number): number | undefined {
    return this.dueTimes.get(offset);
  }

  /** Every scheduled message as [offset, dueMs], in no particular order; for building a timer index. */
  scheduledEntries(): IterableIterator<[offset: number, dueMs: number]> {
    return this.dueTimes.entries();
  }

  /** The first offset >= `fromOffset` (and >= the low watermark) not acked or dead-lettered; may be the log's end. */
  nextUnacked(fromOffset: number): number {
    return this.settled.firstMissingFrom(Math.max(fromOffset, this.floor, this.messageLog.startOffset()));
  }

  /**
   * The offsets in [fromOffset, toOffset) that are neither acked nor
   * dead-lettered, ascending: after a restart, the ready messages (minus
   * those scheduled for later). Walks gaps between ranges, so skipping a long
   * acked run costs O(log n).
   */
  *unackedOffsets(fromOffset = 0, toOffset = this.messageLog.endOffset()): IterableIterator<number> {
    for (let offset = this.nextUnacked(fromOffset); offset < toOffset; offset = this.settled.firstMissingFrom(offset + 1)) yield offset;
  }

  /** Per-message state held in memory. */
  memory(): QueueStateMemory {
    return {
      settledRanges: this.settled.rangeCount(),
      deadLetteredRanges: this.deadLettered.rangeCount(),
      deliveryCounts: this.deliveries.size,
      scheduled: this.dueTimes.size,
    };
  }

  // ---------------------------------------------------------------- writes

  /**
   * Acks the messages at `offsets` (any order; ones already settled are
   * ignored). Visible at once; resolves per the store's durability mode once
   * logged: with `always`, after fsync, so report the ack done only then.
   * Rejects with OFFSET_OUT_OF_RANGE (changing nothing) when an offset is
   * not in the message log. A `lazy` ack may be logged some commits later (see openBatch).
   */
  ack(offsets: readonly number[], options?: AckOptions): Promise<void> {
    try {
      this.assertUsable();
      const end = this.messageLog.endOffset();
      for (const offset of offsets) this.checkOffset(offset, end);
      // One offset (a consumer acking as it goes): no arrays.
      if (offsets.length === 1) return this.acked(this.ackSpan(offsets[0]!, offsets[0]! + 1), options?.lazy === true);
      return this.ackRanges(toRanges(offsets), options?.lazy === true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Acks messages that do not survive a restart, such as a durable queue's transient messages,
   * which the queue settles itself after one: applied in memory, nothing logged (a crash
   * forgets these acks, and nothing is lost by that). The message log's settled prefix is
   * still reclaimed, once every ack logged before is durable. Throws as {@link ack} rejects.
   */
  ackUnlogged(offsets: readonly number[]): void {
    this.assertUsable();
    const end = this.messageLog.endOffset();
    for (const offset of offsets) this.checkOffset(offset, end);
    for (const [start, end] of toRanges(offsets)) {
      const from = Math.max(start, this.floor);
      if (from < end) this.applyAck(from, end);
    }
    this.advanceFloor();
    if (!this.volatile) this.unloggedSinceSnapshot = true;
    const watermark = this.lowWatermark();
    if (this.reclaimWaiting || this.reclaimTarget(watermark) === null) return;
    this.reclaimWaiting = true;
    // As flushPending reclaims: only behind the acks logged before (a pending batch reclaims too).
    this.track(
      this.barrier().then(() => {
        this.reclaimWaiting = false;
        return this.failure === null ? this.reclaim(watermark) : undefined;
      }),
    );
  }

  /** Acks every message in [startOffset, endOffset), as a purge does. Same contract as {@link ack}. */
  ackRange(startOffset: number, endOffset: number, options?: AckOptions): Promise<void> {
    try {
      this.assertUsable();
      if (endOffset <= startOffset) return this.barrier();
      this.checkOffset(startOffset, this.messageLog.endOffset());
      this.checkOffset(endOffset - 1, this.messageLog.endOffset());
      return this.acked(this.ackSpan(startOffset, endOffset), options?.lazy === true);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Counts one more delivery of the message at `offset` and returns the new
   * count. Resolves per the store's durability mode once logged; hand the
   * message to the consumer only then, so a crash can never lower a count
   * that a delivery limit depends on. Rejects with INVALID_ARGUMENT when the
   * message is settled and OFFSET_OUT_OF_RANGE when it does not exist.
   */
  recordDelivery(offset: number): Promise<number> {
    try {
      this.assertUnsettled(offset);
      const count = this.unsettledCount(offset) + 1;
      this.setDeliveryCount(offset, count);
      if (this.volatile) return Promise.resolve(count);
      if (count === 1) return this.logFirstDelivery(offset);
      return this.enqueue(encodeEvent(EventKind.deliver, offset, count)).then(() => count);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * {@link recordDelivery} for a caller that does not wait for the log (a queue handing the
   * message over at once): no promise. On a stopped or closed state it does nothing; the next
   * call that waits reports a stopped state. The caller delivers a message it holds ready, so
   * `offset` is in the log and unsettled: unlike recordDelivery, this does not check (the
   * check read the message log and the settled set, cold on a broker of a thousand queues,
   * and cost ~4% of such a broker's throughput).
   */
  noteDelivery(offset: number): void {
    if (this.closed || this.failure !== null) return;
    if (offset === Math.max(this.deliveredEnd, this.floor) && offset > this.deliveriesMaxKey) {
      // The next first delivery in offset order (see deliveredEnd).
      this.deliveredEnd = offset + 1;
      if (!this.volatile) this.addFirstDelivery(offset);
      return;
    }
    const count = this.unsettledCount(offset) + 1;
    this.setDeliveryCount(offset, count);
    if (this.volatile) return;
    if (count === 1) this.addFirstDelivery(offset);
    else void this.enqueue(encodeEvent(EventKind.deliver, offset, count));
  }

  /**
   * Makes the message at `offset` due at `dueMs` (wall-clock ms): a delayed
   * message, or a retry delay. Replaces an earlier due time. Resolves per the
   * store's durability mode once logged.
   */
  schedule(offset: number, dueMs: number): Promise<void> {
    try {
      this.assertUnsettled(offset);
      if (!Number.isSafeInteger(dueMs) || dueMs < 0) throw new FerryError('INVALID_ARGUMENT', `dueMs must be a non-negative integer, got ${dueMs}`);
      this.setDueTime(offset, dueMs);
      if (this.volatile) return RESOLVED;
      return this.enqueue(encodeEvent(EventKind.schedule, offset, dueMs));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Removes the due time of the message at `offset` (it is ready now). Resolves once logged. */
  unschedule(offset: number): Promise<void> {
    try {
      this.assertUsable();
      if (!this.dueTimes.delete(offset)) return this.barrier();
      if (this.volatile) return RESOLVED;
      return this.enqueue(encodeEvent(EventKind.unschedule, offset));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Marks the message at `offset` dead-lettered for `reason`: it counts as
   * settled (for the watermark and reclamation) like an ack. Publish the
   * dead-lettered copy first; resolves once logged.
   */
  deadLetter(offset: number, reason: DeadLetterReason): Promise<void> {
    try {
      this.assertUsable();
      this.checkOffset(offset, this.messageLog.endOffset());
      const code = REASON_CODES[reason];
      if (code === undefined) throw new FerryError('INVALID_ARGUMENT', `unknown dead-letter reason ${String(reason)}`);
      if (this.isAcked(offset)) return this.barrier();
      this.applyDeadLetter(offset);
      this.advanceFloor();
      if (this.volatile) return this.settledInMemory();
      return this.enqueue(encodeEvent(EventKind.deadLetter, offset, code));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Resolves once every change made so far is logged (per the durability mode) and background
   * work is done. Acks not logged since the last snapshot ({@link ackUnlogged}) are kept by a
   * snapshot now, so that a clean restart (which flushes) does not bring them back.
   */
  async flush(): Promise<void> {
    if (this.pending !== null) this.flushPending();
    if (this.unloggedSinceSnapshot && this.failure === null && !this.closed) this.snapshot();
    await this.lastBatchDone;
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    if (this.failure !== null) throw this.stoppedError();
  }

  /** Logs what is pending and stops taking writes. The LogStore stays open: it belongs to the caller. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
    }
  }

  // ---------------------------------------------------------------- internals

  private ackRanges(ranges: ReadonlyArray<readonly [number, number]>, lazy: boolean): Promise<void> {
    let acked = false;
    for (const [start, end] of ranges) if (this.ackSpan(start, end)) acked = true;
    return this.acked(acked, lazy);
  }

  /**
   * Settles [start, end) in memory and, unless volatile, adds what was not settled yet to the
   * pending batch's acks; false when all of it was settled already. {@link acked} ends the call.
   */
  private ackSpan(start: number, end: number): boolean {
    const from = Math.max(start, this.floor);
    if (from >= end) return false;
    this.applyAck(from, end);
    if (this.volatile) return true;
    const batch = this.openBatch();
    // A consumer acking one message at a time in order extends the last range.
    if (this.ackRunEnd === from) {
      this.ackRunEnd = end;
      return true;
    }
    if (this.ackRunEnd < 0) {
      batch.items.push((batch.acks = { kind: EventKind.ack, ranges: [] }));
    } else {
      batch.acks!.ranges.push([this.ackRunStart, this.ackRunEnd]);
      if (batch.acks!.ranges.length + 1 >= DEFERRED_RANGES_MAX) this.hurry(batch);
    }
    this.ackRunStart = from;
    this.ackRunEnd = end;
    return true;
  }

  /** The promise of acks made by {@link ackSpan} calls (`acked`: any settled something). */
  private acked(acked: boolean, lazy: boolean): Promise<void> {
    if (!acked) return this.barrier();
    this.advanceFloor();
    if (this.volatile) return this.settledInMemory();
    const batch = this.pending;
    // ackSpan opened it; taken by a gather since, it is written with what came before.
    if (batch === null) return this.barrier();
    if (!lazy) {
      this.hurry(batch);
      return this.pendingDone;
    }
    if (!batch.urgent && this.deferredGatherWaiting) {
      // Gathered with the store's other deferred batches: their one promise, so that a caller
      // acking the deliveries of a thousand queues waits on one promise, not a thousand.
      const round = this.store.deferredRound?.() ?? null;
      if (round !== null) {
        batch.round = round;
        return round.promise;
      }
    }
    return this.pendingDone;
  }

  /**
   * Logs the first delivery of `offset` in the batch's delivered-ranges event:
   * a consumer taking messages in offset order adds one range a batch, not one
   * event a message, and offsets settled before the batch is written are left
   * out (see flushPending). Replayed, it gives each offset a count of at least 1,
   * as a `deliver` event with count 1 would.
   */
  private logFirstDelivery(offset: number): Promise<number> {
    const batch = this.addFirstDelivery(offset);
    batch.firstDelivered ??= batch.done.promise.then(one);
    return batch.firstDelivered;
  }

  /** Adds the first delivery of `offset` to the pending batch's delivered ranges (see logFirstDelivery). */
  private addFirstDelivery(offset: number): PendingBatch {
    const batch = this.openBatch();
    if (this.deliveredRunEnd === offset) {
      this.deliveredRunEnd = offset + 1;
      return batch;
    }
    if (this.deliveredRunEnd < 0) {
      batch.items.push((batch.delivered = { kind: EventKind.deliveredRanges, ranges: [] }));
    } else {
      batch.delivered!.ranges.push([this.deliveredRunStart, this.deliveredRunEnd]);
      if (batch.delivered!.ranges.length + 1 >= DEFERRED_RANGES_MAX) this.hurry(batch);
    }
    this.deliveredRunStart = offset;
    this.deliveredRunEnd = offset + 1;
    return batch;
  }

  /** A volatile state's settlement is done at once: the message log's settled prefix is reclaimed now when due. */
  private settledInMemory(): Promise<void> {
    const move = this.reclaim(this.lowWatermark());
    if (move !== undefined) this.track(move);
    return RESOLVED;
  }

  /** Adds an event other than acks and first deliveries: what it records is not left to a deferred commit. */
  private enqueue(event: Uint8Array): Promise<void> {
    const batch = this.openBatch();
    batch.items.push(event);
    this.hurry(batch);
    return batch.done.promise;
  }

  /**
   * The batch being gathered; the call that opens one asks the store to append it just before
   * a group commit, so that a queue with a message a turn still logs one batch per commit, and
   * a delivery acked by then is not logged as delivered at all. Acks and first deliveries are
   * deferrable: a store busy with many queues may write them some commits later, with more
   * of the same queue's (see FileLogStore's deferredGatherMsMax); {@link hurry} asks for the
   * next commit.
   */
  private openBatch(): PendingBatch {
    if (this.pending === null) {
      this.pending = { items: [], done: deferred<void>(), firstDelivered: null, acks: null, delivered: null, heldBack: false, urgent: false, round: null };
      this.pendingDone = this.pending.done.promise;
      this.ackRunEnd = -1;
      this.deliveredRunEnd = -1;
      // A deferred call asked for before (by a batch written since) gathers this one too.
      if (!this.deferredGatherWaiting) {
        this.deferredGatherWaiting = true;
        this.store.beforeNextCommit(this.gatherDeferred, DEFERRABLE);
      }
    }
    return this.pending;
  }

  private readonly gatherDeferred = (): void => {
    this.deferredGatherWaiting = false;
    this.gatherPending();
  };

  /** Asks for the pending batch to be written at the next commit, deferred or not. */
  private hurry(batch: PendingBatch): void {
    if (batch.urgent) return;
    batch.urgent = true;
    this.store.beforeNextCommit(this.gatherPending);
  }

  /** A promise that resolves once everything logged before now is done. */
  private barrier(): Promise<void> {
    return this.pending !== null ? this.pendingDone : this.lastBatchDone;
  }

  /**
   * Appends the pending batch as the store's next group gathers. A batch of first deliveries
   * alone waits for one more group: deliveries do not wait for it (it is what marks a message
   * redelivered after a restart), and the acks that usually follow make it unnecessary.
   */
  private readonly gatherPending = (): void => {
    const batch = this.pending;
    if (batch !== null && !batch.heldBack && batch.items.length === 1 && batch.items[0] === batch.delivered) {
      batch.heldBack = true;
      this.store.beforeNextCommit(this.gatherPending);
      return;
    }
    this.flushPending();
  };

  /** Appends the pending batch, snapshots when the policy says so, and reclaims once the append is done. */
  private flushPending(): void {
    const batch = this.pending;
    if (batch === null) return;
    this.pending = null;
    // The open ranges join their events (see ackRunEnd).
    if (this.ackRunEnd >= 0) batch.acks!.ranges.push([this.ackRunStart, this.ackRunEnd]);
    if (this.deliveredRunEnd >= 0) batch.delivered!.ranges.push([this.deliveredRunStart, this.deliveredRunEnd]);
    this.ackRunEnd = -1;
    this.deliveredRunEnd = -1;
    const events: Uint8Array[] = [];
    for (const item of batch.items) {
      if (item instanceof Uint8Array) {
        events.push(item);
      } else {
        // Settled since (by an event of this batch): a first delivery of it need not be logged.
        const ranges = item.kind === EventKind.deliveredRanges ? this.unsettledParts(item.ranges) : item.ranges;
        if (ranges.length > 0) events.push(encodeRanges(item.kind, ranges));
      }
    }
    // The watermark these events (and all before) justify; reclaimed only once they are logged.
    const watermark = this.lowWatermark();
    let appended: Promise<unknown>;
    try {
      if (this.failure !== null) throw this.stoppedError();
      // Everything in it was settled again by its own events: nothing to log, but it completes in order.
      appended = events.length === 0 ? this.lastBatchDone : this.stateLog.appendEvents(events);
      // In the same synchronous step as the append, so the snapshot lands after these events.
      if (this.stateLog.shouldSnapshot()) this.snapshot();
    } catch (error) {
      appended = Promise.reject(error);
    }
    this.lastBatchDone = batch.done.promise;
    appended.then(
      () => {
        batch.done.resolve();
        if (this.failure !== null || !this.ownsMessageLog()) return;
        // Settled durably now: the log need not write them (see Log.settledBelow).
        if (this.settledRead === null) this.messageLog.settledBelow?.(watermark);
        const move = this.reclaim(watermark);
        if (move !== undefined) this.track(move);
      },
      (error: unknown) => {
        this.fail(error);
        batch.done.reject(error);
        batch.round?.reject(error);
      },
    );
    // Callers of flush() and close() observe failures through the batch; this copy must not be reported unhandled.
    batch.done.promise.catch(() => undefined);
  }

  /** The parts of `ranges` that are not settled (acked, dead-lettered, or below the low watermark). */
  private unsettledParts(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const low = Math.max(this.floor, this.messageLog.startOffset());
    for (const [start, end] of ranges) {
      for (let offset = this.settled.firstMissingFrom(Math.max(start, low)); offset < end; ) {
        const gapEnd = Math.min(end, this.settled.nextStartFrom(offset));
        out.push([offset, gapEnd]);
        offset = gapEnd >= end ? end : this.settled.firstMissingFrom(gapEnd);
      }
    }
    return out;
  }

  /** Writes a snapshot of the state now (call in the same synchronous step as the changes it must hold). */
  private snapshot(): void {
    this.unloggedSinceSnapshot = false;
    this.track(this.stateLog.writeSnapshot(this.encodeSnapshot()));
  }

  /**
   * Moves the message log's start for `watermark`, a low watermark whose acks are all durable
   * (with settledRead, remembered here as reached now): returns the move, or undefined when
   * none is due (see reclaimTarget).
   */
  private reclaim(watermark: number): Promise<void> | undefined {
    if (this.settledRead !== null && watermark > this.messageLog.startOffset()) {
      const nowMs = this.settledRead.clock.monotonicMs();
      const samples = this.watermarkSamples;
      const last = samples[samples.length - 1];
      if (last === undefined || (last.watermark < watermark && nowMs - last.atMs >= WATERMARK_SAMPLE_MS)) samples.push({ watermark, atMs: nowMs });
    }
    const target = this.reclaimTarget(watermark);
    return target === null ? undefined : this.messageLog.truncatePrefix(target);
  }

  /**
   * Where to move the message log's start, given the low watermark `watermark`: to it, or with
   * settledRead to the newest durable watermark reached settledRead.forMs ago; null when that
   * is not worth a journal entry (fewer than reclaimOffsetsMin offsets) or not allowed.
   */
  private reclaimTarget(watermark: number): number | null {
    const start = this.messageLog.startOffset();
    if (!this.ownsMessageLog() || watermark <= start) return null;
    let target = watermark;
    if (this.settledRead !== null) {
      const nowMs = this.settledRead.clock.monotonicMs();
      const samples = this.watermarkSamples;
      let old = -1;
      while (old + 1 < samples.length && samples[old + 1]!.atMs <= nowMs - this.settledRead.forMs) old++;
      if (old < 0) return null;
      target = samples[old]!.watermark;
      // Older samples are never the newest old enough again.
      samples.splice(0, old);
    }
    return target > start && target - start >= this.reclaimOffsetsMin ? target : null;
  }

  /**
   * False for a deleted message log, which must not be touched (FileLog.truncatePrefix does not
   * refuse it), and for one the store does not hold under its name (a stream's read-only view).
   */
  private ownsMessageLog(): boolean {
    return this.store.getLog(this.messageLog.name) === this.messageLog;
  }

  private track(work: Promise<void>): void {
    const tracked: Promise<void> = work.catch((error: unknown) => this.fail(error)).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  private fail(error: unknown): void {
    this.failure ??= error;
  }

  private stoppedError(): FerryError {
    const why = this.failure instanceof Error ? this.failure.message : String(this.failure);
    return new FerryError('STORAGE_CLOSED', `queue state ${this.stateLog.name} stopped after a failure: ${why}`, { cause: this.failure });
  }

  private assertUsable(): void {
    if (this.closed) throw new FerryError('STORAGE_CLOSED', `queue state ${this.stateLog.name} is closed`);
    if (this.failure !== null) throw this.stoppedError();
  }

  private checkOffset(offset: number, end: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new FerryError('INVALID_ARGUMENT', `offset must be a non-negative integer, got ${offset}`);
    if (offset >= end) throw new FerryError('OFFSET_OUT_OF_RANGE', `offset ${offset} is not in ${this.messageLog.name}, which ends at ${end}`);
  }

  private assertUnsettled(offset: number): void {
    this.assertUsable();
    this.checkOffset(offset, this.messageLog.endOffset());
    if (this.isAcked(offset)) throw new FerryError('INVALID_ARGUMENT', `message ${offset} of ${this.messageLog.name} is already acked or dead-lettered`);
  }

  /** Drops state below the low watermark: the ranges below it merge away. */
  private advanceFloor(): void {
    const watermark = this.lowWatermark();
    if (watermark <= this.floor) return;
    this.settled.removeBelow(watermark);
    this.deadLettered.removeBelow(watermark);
    this.floor = watermark;
  }

  private applyAck(start: number, end: number): void {
    this.forget(start, end);
    if (start <= this.floor && this.settled.rangeCount() === 0) {
      // The common case, an ack at the low end with nothing settled above it: the floor moves
      // past it, and no range is added to the set only for advanceFloor to remove it again.
      this.floor = Math.max(this.floor, end);
      return;
    }
    this.settled.addRange(start, end);
  }

  private applyDeadLetter(offset: number): void {
    this.settled.add(offset);
    this.deadLettered.add(offset);
    this.forget(offset, offset + 1);
  }

  /** The delivery count of an unsettled offset: its entry, or 1 for a first delivery in order (see deliveredEnd). */
  private unsettledCount(offset: number): number {
    return this.deliveries.get(offset) ?? (offset >= this.floor && offset < this.deliveredEnd ? 1 : 0);
  }

  private setDeliveryCount(offset: number, count: number): void {
    this.deliveries.set(offset, count);
    if (offset > this.deliveriesMaxKey) this.deliveriesMaxKey = offset;
  }

  private setDueTime(offset: number, dueMs: number): void {
    this.dueTimes.set(offset, dueMs);
    if (offset > this.dueTimesMaxKey) this.dueTimesMaxKey = offset;
  }

  /** Removes delivery counts and due times in [start, end), walking whichever is shorter. */
  private forget(start: number, end: number): void {
    // Nothing there: the maps are not looked at (see deliveredEnd).
    if (start > this.deliveriesMaxKey && start > this.dueTimesMaxKey) return;
    if (end - start <= this.deliveries.size + this.dueTimes.size) {
      for (let offset = start; offset < end; offset++) {
        this.deliveries.delete(offset);
        this.dueTimes.delete(offset);
      }
      return;
    }
    for (const offset of this.deliveries.keys()) if (offset >= start && offset < end) this.deliveries.delete(offset);
    for (const offset of this.dueTimes.keys()) if (offset >= start && offset < end) this.dueTimes.delete(offset);
  }

  /** Drops state at or past `end` (used at open, after an unsynced tail of the message log was lost). */
  private dropFrom(end: number): void {
    this.floor = Math.min(this.floor, end);
    this.deliveredEnd = Math.min(this.deliveredEnd, end);
    this.settled.removeFrom(end);
    this.deadLettered.removeFrom(end);
    for (const offset of this.deliveries.keys()) if (offset >= end) this.deliveries.delete(offset);
    for (const offset of this.dueTimes.keys()) if (offset >= end) this.dueTimes.delete(offset);
  }

  /** Applies one logged event; idempotent, and events about settled offsets change nothing. */
  private applyEvent(bytes: Uint8Array): void {
    const reader = new ByteReader(bytes, this.stateLog.name);
    const kind = reader.byte();
    switch (kind) {
      case EventKind.ack: {
        for (const [start, end] of reader.ranges()) {
          const from = Math.max(start, this.floor);
          if (from < end) this.applyAck(from, end);
        }
        this.advanceFloor();
        break;
      }
      case EventKind.deliver: {
        const offset = reader.varint();
        const count = reader.varint();
        if (!this.isAcked(offset)) this.setDeliveryCount(offset, Math.max(count, this.unsettledCount(offset)));
        break;
      }
      case EventKind.deliveredRanges: {
        for (const [start, end] of reader.ranges()) {
          for (let offset = Math.max(start, this.floor); offset < end; offset++) {
            if (!this.isAcked(offset) && this.unsettledCount(offset) === 0) this.setDeliveryCount(offset, 1);
          }
        }
        break;
      }
      case EventKind.schedule: {
        const offset = reader.varint();
        const dueMs = reader.varint();
        if (!this.isAcked(offset)) this.setDueTime(offset, dueMs);
        break;
      }
      case EventKind.unschedule:
        this.dueTimes.delete(reader.varint());
        break;
      case EventKind.deadLetter: {
        const offset = reader.varint();
        reader.byte(); // The reason is kept in the log for inspection, not in memory.
        if (!this.isAcked(offset)) {
          this.applyDeadLetter(offset);
          this.advanceFloor();
        }
        break;
      }
      default:
        throw new FerryError('UNKNOWN_FORMAT_VERSION', `state log ${this.stateLog.name}: unknown event kind ${kind}`);
    }
    reader.expectEnd();
  }

  private encodeSnapshot(): Uint8Array {
    const writer = new ByteWriter();
    writer.byte(SNAPSHOT_FORMAT_VERSION);
    writer.varint(this.floor);
    writer.ranges([...this.settled.rangesInOrder()]);
    writer.ranges([...this.deadLettered.rangesInOrder()]);
    // Counts of first deliveries in order (see deliveredEnd) are written as entries: a snapshot
    // holds every count, as before they existed.
    const counts = new Map(this.deliveries.entries());
    for (let offset = this.nextUnacked(this.floor); offset < this.deliveredEnd; offset = this.nextUnacked(offset + 1)) {
      if (!counts.has(offset)) counts.set(offset, 1);
    }
    for (const map of [counts, this.dueTimes]) {
      const offsets = [...map.keys()].sort((a, b) => a - b);
      writer.varint(offsets.length);
      let previous = 0;
      for (const offset of offsets) {
        writer.varint(offset - previous);
        writer.varint(map.get(offset)!);
        previous = offset;
      }
    }
    return writer.finish();
  }

  private applySnapshot(bytes: Uint8Array): void {
    const reader = new ByteReader(bytes, this.stateLog.name);
    const version = reader.byte();
    if (version !== SNAPSHOT_FORMAT_VERSION) {
      throw new FerryError('UNKNOWN_FORMAT_VERSION', `state log ${this.stateLog.name}: snapshot format version ${version}`);
    }
    this.floor = reader.varint();
    for (const [start, end] of reader.ranges()) this.settled.addRange(start, end);
    for (const [start, end] of reader.ranges()) this.deadLettered.addRange(start, end);
    for (const set of [this.setDeliveryCount, this.setDueTime]) {
      const count = reader.varint();
      let offset = 0;
      for (let i = 0; i < count; i++) {
        offset += reader.varint();
        set.call(this, offset, reader.varint());
      }
    }
    reader.expectEnd();
  }
}

// ------------------------------------------------------------------ encoding

/** Encodes an event of varint fields; the dead-letter reason, its last field, is the one byte field. */
function encodeEvent(kind: EventKind, offset: number, value?: number): Uint8Array {
  const valueBytes = value === undefined ? 0 : kind === EventKind.deadLetter ? 1 : varintBytes(value);
  // Sized exactly, from Node's pooled allocator: one event per delivery must not cost an
  // ArrayBuffer (and a copy) each. Events live until their batch is appended (copied into it).
  const bytes = Buffer.allocUnsafe(1 + varintBytes(offset) + valueBytes) as Uint8Array;
  bytes[0] = kind;
  const at = writeVarint(bytes, 1, offset);
  if (value !== undefined) {
    if (kind === EventKind.deadLetter) bytes[at] = value;
    else writeVarint(bytes, at, value);
  }
  return bytes;
}

/** Bytes of `value` as an unsigned LEB128 varint. */
function varintBytes(value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, 'varints are non-negative safe integers');
  let bytes = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++;
  return bytes;
}

/** Writes `value` as an unsigned LEB128 varint at `at` (arithmetic, so values up to 2^53 work); returns the end. */
function writeVarint(bytes: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    bytes[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  bytes[at++] = value;
  return at;
}

/** `offsets` (any order, repeats allowed) as ascending disjoint [start, end) ranges. */
function toRanges(offsets: readonly number[]): Array<[number, number]> {
  if (offsets.length === 1) return [[offsets[0]!, offsets[0]! + 1]];
  // Acks mostly come in offset order: sort (a copy) only when they do not.
  let ascending = true;
  for (let index = 1; index < offsets.length && ascending; index++) ascending = offsets[index - 1]! <= offsets[index]!;
  const sorted = ascending ? offsets : [...offsets].sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  for (const offset of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && offset <= last[1]) last[1] = Math.max(last[1], offset + 1);
    else ranges.push([offset, offset + 1]);
  }
  return ranges;
}

/** A first delivery's count, once logged. */
function one(): number {
  return 1;
}

/** Encodes ranges (possibly unsorted and overlapping, from several calls) as one ack or delivered-ranges event. */
function encodeRanges(kind: EventKind.ack | EventKind.deliveredRanges, ranges: ReadonlyArray<readonly [number, number]>): Uint8Array {
  if (ranges.length === 1) {
    // The common case (one call, or calls in offset order, in the turn): nothing to merge.
    const writer = new ByteWriter(24);
    writer.byte(kind);
    writer.ranges(ranges);
    return writer.finish();
  }
  const merged = new OffsetRangeSet();
  for (const [start, end] of ranges) merged.addRange(start, end);
  const writer = new ByteWriter();
  writer.byte(kind);
  writer.ranges([...merged.rangesInOrder()]);
  return writer.finish();
}

/** A growable byte buffer for the encodings above. */
class ByteWriter {
  private bytes: Uint8Array;
  private length = 0;

  constructor(capacity = 64) {
    this.bytes = new Uint8Array(capacity);
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** Unsigned LEB128; arithmetic rather than bit operations, so values up to 2^53 work. */
  varint(value: number): void {
    assert(Number.isSafeInteger(value) && value >= 0, 'varints are non-negative safe integers');
    this.reserve(8);
    this.length = writeVarint(this.bytes, this.length, value);
  }

  ranges(ranges: ReadonlyArray<readonly [number, number]>): void {
    this.varint(ranges.length);
    let previousEnd = 0;
    for (const [start, end] of ranges) {
      this.varint(start - previousEnd);
      this.varint(end - start);
      previousEnd = end;
    }
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(this.bytes.byteLength * 2, this.length + bytes));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}

/** Reads the encodings above; anything malformed is CORRUPT_DATA naming the log. */
class ByteReader {
  private at = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly logName: string,
  ) {}

  byte(): number {
    if (this.at >= this.bytes.byteLength) this.corrupt('ends early');
    return this.bytes[this.at++]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) this.corrupt('holds a number above 2^53');
        return value;
      }
      scale *= 0x80;
    }
    return this.corrupt('holds a varint longer than 8 bytes');
  }

  *ranges(): IterableIterator<[number, number]> {
    const count = this.varint();
    let previousEnd = 0;
    for (let i = 0; i < count; i++) {
      const start = previousEnd + this.varint();
      const end = start + this.varint();
      previousEnd = end;
      yield [start, end];
    }
  }

  expectEnd(): void {
    if (this.at !== this.bytes.byteLength) this.corrupt(`has ${this.bytes.byteLength - this.at} trailing bytes`);
  }

  private corrupt(what: string): never {
    throw new FerryError('CORRUPT_DATA', `state log ${this.logName}: an event or snapshot ${what}`);
  }
}
