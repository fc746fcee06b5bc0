import { FerryError } from '../../lib/ferry-error.js';
import { deferred, type Deferred } from '../../lib/deferred.js';
import type { Clock, TimerHandle } from '../../platform/clock.js';
import type { StoredMessage } from '../message/message.js';
import { decodeMessage, encodeMessage, messageRecordFieldBytes, writeMessageRecords } from '../message/message-codec.js';
import type { AppendResult, CompactionResult, Log, ProducerStamp, ReadLimits, RecordBatchBuilder, RecordCursor, RecordInput, StoredRecord } from '../ports.js';
import { ConsumerGroup } from './consumer-group.js';
import { compactByKey } from './stream-compaction.js';
import { partitionForKey } from '../../lib/partitioner.js';
import { holdsStampedBatch, TRANSACTION_PRODUCER_ID } from '../transaction/transaction-stamp.js';
import type { StreamConfig } from './stream-config.js';
import type { ProducerEntry, StreamState } from './stream-state.js';

/** A message read from a stream, with where it is. */
export interface StreamEntry {
  readonly partition: number;
  readonly offset: number;
  /** When the stream stored it (ms since the epoch). */
  readonly timestampMs: number;
  /** The message, decoded on first access (readers that only count or forward pay nothing). */
  readonly message: StoredMessage;
  /** The stored record as read from the log (key, value, headers), for forwarding without decoding. */
  readonly record: StoredRecord;
}

/** A {@link StreamEntry} that decodes its message when first asked. */
class LazyStreamEntry implements StreamEntry {
  private decoded: StoredMessage | undefined;

  constructor(
    readonly partition: number,
    readonly record: StoredRecord,
  ) {}

  get offset(): number {
    return this.record.offset;
  }

  get timestampMs(): number {
    return this.record.timestampMs;
  }

  get message(): StoredMessage {
    return (this.decoded ??= decodeMessage(this.record));
  }
}

/** Where a reader starts: RabbitMQ stream / Kafka offset specifications. */
export type OffsetSpec =
  | 'first'
  | 'last'
  | 'next'
  | { readonly offset: number }
  | { readonly timestampMs: number };

/** Identity of an idempotent producer's append: its id, epoch and the sequence of the first message. */
export interface ProducerStampInput {
  readonly producerId: number;
  readonly epoch: number;
  readonly sequence: number;
}

/** Options of {@link Stream.append}. */
export interface StreamAppendOptions {
  /** The partition; by default keyed messages hash their key and unkeyed ones go round-robin. */
  readonly partition?: number;
  /** Makes the append idempotent (needs `partition` when the stream has several). */
  readonly producer?: ProducerStampInput;
}

/** Where an append landed. */
export interface StreamAppendResult {
  readonly partition: number;
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** True when an idempotent producer's retry was recognised and nothing new was stored. */
  readonly duplicate: boolean;
}

/** Limits of one read. */
export interface StreamReadLimits {
  /** At most this many messages (default 1,000). */
  readonly max?: number;
  /** About this many bytes at most (the first message is always returned). */
  readonly bytesMax?: number;
}

/** What a stream needs from its vhost. */
export interface StreamHost {
  readonly clock: Clock;
  /** Largest message body accepted. */
  readonly messageBytesMax: number;
}

/** A recent batch of one producer, kept to recognise retries. */
interface RecentBatch {
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly baseOffset: number;
  readonly durable: Promise<void>;
}

interface ProducerState {
  epoch: number;
  lastSequence: number;
  lastOffset: number;
  readonly recent: RecentBatch[];
}

/** Batches per producer remembered for retries (Kafka keeps five in flight). */
const RECENT_BATCHES_MAX = 5;
/** Idempotent appends between two saved producer snapshots of a partition. */
const PRODUCER_SNAPSHOT_EVERY = 10_000;
const READ_MAX_DEFAULT = 1_000;
/** A consumer-group member silent this long is removed (Kafka's default session timeout). */
const CONSUMER_SESSION_TIMEOUT_MS_DEFAULT = 45_000;
/** How often a stream with `compaction: 'key'` is compacted. */
const COMPACTION_INTERVAL_MS_DEFAULT = 60_000;

interface Partition {
  readonly index: number;
  readonly log: Log;
  /** Offsets below are durable (per the store's mode) and visible to readers. */
  visibleEnd: number;
  /** Records of this turn, appended as one batch at the end of it. */
  pending: RecordInput[];
  pendingDurable: Deferred<void> | null;
  readonly producers: Map<number, ProducerState>;
  idempotentAppendsSinceSnapshot: number;
  readonly waiters: Set<() => void>;
  /** Told after each durable append (share groups). */
  readonly listeners: Set<() => void>;
}

/**
 * A stream: an append-only, partitioned log of messages that readers replay
 * by offset and never remove (retention and compaction do). Each partition
 * is one log of the storage engine; order holds per partition.
 *
 * Readers see a message once it is durable (per the store's durability
 * mode), so nothing a reader saw disappears in a crash.
 */
export class Stream {
  private readonly partitions: Partition[];
  private roundRobin = 0;
  private deleted = false;
  private flushScheduled = false;
  private readonly groups = new Map<string, ConsumerGroup>();
  private compactionTimer: TimerHandle | null = null;
  private compacting: Promise<CompactionResult[]> | null = null;
  /** Messages appended since creation (rates and metrics). */
  readonly counters = { appended: 0, duplicates: 0, read: 0 };

  private constructor(
    readonly config: StreamConfig,
    private readonly host: StreamHost,
    logs: readonly Log[],
    /** Committed offsets of consumer groups and producer snapshots. */
    readonly state: StreamState,
  ) {
    this.partitions = logs.map((log, index) => ({
      index,
      log,
      visibleEnd: log.endOffset(),
      pending: [],
      pendingDurable: null,
      producers: new Map(),
      idempotentAppendsSinceSnapshot: 0,
      waiters: new Set(),
      listeners: new Set(),
    }));
  }

  /** Opens a stream over its partition logs; rebuilds idempotent producers from the last snapshot and the batches after it. */
  static async open(config: StreamConfig, host: StreamHost, logs: readonly Log[], state: StreamState): Promise<Stream> {
    const stream = new Stream(config, host, logs, state);
    for (const partition of stream.partitions) await stream.restoreProducers(partition);
    if (config.compaction === 'key') stream.armCompaction();
    return stream;
  }

  // ------------------------------------------------------------------ compaction

  /**
   * Compacts every partition's sealed segments to the latest message per
   * key (messages without a key stay; offsets never change). Runs one at a
   * time; a call during a run returns that run. Resolves once the removals
   * are durable.
   */
  compact(): Promise<CompactionResult[]> {
    this.compacting ??= (async () => {
      const results: CompactionResult[] = [];
      try {
        for (const partition of this.partitions) {
          if (this.deleted) break;
          results.push(await compactByKey(partition.log));
        }
        return results;
      } finally {
        this.compacting = null;
      }
    })();
    return this.compacting;
  }

  private armCompaction(): void {
    const intervalMs = this.config.compactionIntervalMs ?? COMPACTION_INTERVAL_MS_DEFAULT;
    this.compactionTimer = this.host.clock.setTimer(intervalMs, () => {
      if (this.deleted) return;
      // A failed run (the store stopped) is retried at the next interval.
      void this.compact()
        .catch(() => undefined)
        .then(() => {
          if (!this.deleted) this.armCompaction();
        });
    });
  }

  get name(): string {
    return this.config.name;
  }

  /** Number of partitions. */
  partitionCount(): number {
    return this.partitions.length;
  }

  /** The partition logs, in order (for deletion). */
  logs(): Log[] {
    return this.partitions.map((partition) => partition.log);
  }

  /** The first offset still readable in `partition`. */
  startOffset(partition: number): number {
    return this.partition(partition).log.startOffset();
  }

  /** The offset the next visible message of `partition` will have (readers see offsets below it). */
  endOffset(partition: number): number {
    return this.partition(partition).visibleEnd;
  }

  /** Messages retained over all partitions (visible ones). */
  messageCount(): number {
    let count = 0;
    for (const partition of this.partitions) count += partition.visibleEnd - partition.log.startOffset();
    return count;
  }

  /** Bytes the partitions take on disk or in memory. */
  sizeBytes(): number {
    let bytes = 0;
    for (const partition of this.partitions) bytes += partition.log.sizeBytes();
    return bytes;
  }

  // ------------------------------------------------------------------ appending

  /**
   * Places a routed message (from an exchange) in its partition at once; it
   * is written with the other messages of this turn as one batch. `durable`
   * resolves when the batch is written per the store's durability mode.
   */
  appendRouted(message: StoredMessage, record?: RecordInput): { readonly partition: number; readonly durable: Promise<void> } {
    this.assertLive();
    const partition = this.partitions[this.choosePartition(message)]!;
    partition.pending.push(record ?? encodeMessage(message));
    partition.pendingDurable ??= deferred<void>();
    this.counters.appended++;
    this.scheduleFlush();
    return { partition: partition.index, durable: partition.pendingDurable.promise };
  }

  /**
   * Appends messages as one batch per partition they go to (with
   * `options.partition`, all to that one). Resolves once written per the
   * store's durability mode: with `always`, after fsync. An idempotent
   * producer's retry of a batch already stored resolves with the original
   * offsets and `duplicate: true`; a sequence gap fails with SEQUENCE_GAP, an
   * old epoch with PRODUCER_FENCED, a sequence older than the remembered
   * batches with SEQUENCE_OUT_OF_ORDER.
   */
  append(messages: readonly StoredMessage[], options: StreamAppendOptions = {}): Promise<StreamAppendResult[]> {
    try {
      this.assertLive();
      if (messages.length === 0) return Promise.resolve([]);
      for (const message of messages) this.checkSize(message);
      if (options.producer !== undefined) {
        if (options.partition === undefined && this.partitions.length > 1) {
          throw new FerryError('INVALID_ARGUMENT', `idempotent appends to stream ${this.name} name their partition (sequences are per partition)`);
        }
        const target = this.partition(options.partition ?? 0);
        return this.appendIdempotent(target, this.messageBatch(target, messages), options.producer).then((result) => [result]);
      }
      if (options.partition !== undefined) {
        const target = this.partition(options.partition);
        return this.appendBuilt(target, this.messageBatch(target, messages)).then((result) => [result]);
      }
      const byPartition = new Map<number, StoredMessage[]>();
      for (const message of messages) {
        const index = this.choosePartition(message);
        const list = byPartition.get(index);
        if (list) list.push(message);
        else byPartition.set(index, [message]);
      }
      const results: Promise<StreamAppendResult>[] = [];
      for (const [index, list] of byPartition) {
        const partition = this.partitions[index]!;
        results.push(this.appendBuilt(partition, this.messageBatch(partition, list)));
      }
      return Promise.all(results);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Appends records already in their stored form (key: the routing key's
   * UTF-8 bytes; value: the body; one header "m": the message envelope, as
   * core/message/message-codec writes them) to `partition` as one batch,
   * without decoding or re-encoding them: the native protocol's fast path,
   * whose caller has validated each envelope. The size limit, idempotence
   * (with `producer`; the sequence is that of the first record) and
   * durability are those of {@link append}: resolves once the batch is
   * written per the store's durability mode (with `always`, after fsync).
   */
  appendRecords(partition: number, records: readonly RecordInput[], producer?: ProducerStampInput): Promise<StreamAppendResult> {
    try {
      this.assertLive();
      const target = this.partition(partition);
      if (records.length === 0) return Promise.resolve({ partition: target.index, baseOffset: target.visibleEnd, lastOffset: target.visibleEnd - 1, duplicate: false });
      const limit = this.messageBytesLimit();
      for (const record of records) if (record.value.byteLength > limit) throw this.tooLarge(record.value.byteLength, limit);
      if (producer !== undefined) return this.appendIdempotent(target, records, producer);
      this.flushPending(target); // Keep call order: this turn's routed messages go first.
      this.counters.appended += records.length;
      return this.track(target, target.log.append(records)).then((appended) => ({ partition: target.index, ...appended, duplicate: false }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * An empty batch for {@link appendBatch} to `partition`, sized as
   * `Log.newBatch` states: the native protocol writes its frame's messages
   * into it as stored records (key: the routing key's UTF-8 bytes; one header
   * "m": the message envelope; value: the body), having validated each envelope.
   */
  newRecordBatch(partition: number, recordCount: number, headerCount: number, fieldBytes: number): RecordBatchBuilder {
    this.assertLive();
    return this.partition(partition).log.newBatch(recordCount, headerCount, fieldBytes);
  }

  /**
   * {@link appendRecords} for records written into a batch from
   * {@link newRecordBatch} of the same partition: the same size limit,
   * idempotence and durability (with `always`, resolves after fsync),
   * without an object per record or encoding them again.
   */
  appendBatch(partition: number, batch: RecordBatchBuilder, producer?: ProducerStampInput): Promise<StreamAppendResult> {
    try {
      this.assertLive();
      const target = this.partition(partition);
      if (batch.count === 0) return Promise.resolve({ partition: target.index, baseOffset: target.visibleEnd, lastOffset: target.visibleEnd - 1, duplicate: false });
      const limit = this.messageBytesLimit();
      if (batch.valueBytesMax > limit) throw this.tooLarge(batch.valueBytesMax, limit);
      if (producer !== undefined) return this.appendIdempotent(target, batch, producer);
      return this.appendBuilt(target, batch);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `messages` written into one batch of `partition`'s log, as the records encodeMessage makes (no object per record). */
  private messageBatch(partition: Partition, messages: readonly StoredMessage[]): RecordBatchBuilder {
    const batch = partition.log.newBatch(messages.length, messages.length, messageRecordFieldBytes(messages));
    writeMessageRecords(batch, messages);
    return batch;
  }

  /** Appends a built batch to `partition` behind this turn's routed messages (not idempotent). */
  private appendBuilt(partition: Partition, batch: RecordBatchBuilder): Promise<StreamAppendResult> {
    this.flushPending(partition); // Keep call order: this turn's routed messages go first.
    this.counters.appended += batch.count;
    return this.track(partition, partition.log.appendBatch(batch)).then((appended) => ({ partition: partition.index, baseOffset: appended.baseOffset, lastOffset: appended.lastOffset, duplicate: false }));
  }

  /** Idempotent append of `records` (a list, or a built batch) after the producer checks of {@link append}. */
  private appendIdempotent(partition: Partition, records: readonly RecordInput[] | RecordBatchBuilder, stamp: ProducerStampInput): Promise<StreamAppendResult> {
    const { producerId, epoch, sequence } = stamp;
    const count = isBatch(records) ? records.count : records.length;
    if (!Number.isSafeInteger(producerId) || producerId <= 0 || producerId >= TRANSACTION_PRODUCER_ID) {
      throw new FerryError('INVALID_ARGUMENT', `producer id must be an integer from 1 to 2^48 - 1, got ${producerId}`);
    }
    if (!Number.isSafeInteger(sequence) || sequence < 0) throw new FerryError('INVALID_ARGUMENT', `sequence must be a non-negative integer, got ${sequence}`);
    let producer = partition.producers.get(producerId);
    if (producer !== undefined) {
      if (epoch < producer.epoch) {
        throw new FerryError('PRODUCER_FENCED', `producer ${producerId} epoch ${epoch} is older than its current epoch ${producer.epoch} on ${this.name}/${partition.index}`);
      }
      if (epoch === producer.epoch) {
        if (sequence <= producer.lastSequence) {
          const original = producer.recent.find((batch) => batch.firstSequence === sequence && batch.lastSequence === sequence + count - 1);
          if (original === undefined) {
            throw new FerryError('SEQUENCE_OUT_OF_ORDER', `producer ${producerId} sent sequence ${sequence} on ${this.name}/${partition.index}, which is neither next (${producer.lastSequence + 1}) nor a recent batch`);
          }
          this.counters.duplicates += count;
          return original.durable.then(() => ({ partition: partition.index, baseOffset: original.baseOffset, lastOffset: original.baseOffset + count - 1, duplicate: true }));
        }
        if (sequence !== producer.lastSequence + 1) {
          throw new FerryError('SEQUENCE_GAP', `producer ${producerId} sent sequence ${sequence} on ${this.name}/${partition.index}; ${producer.lastSequence + 1} was due`);
        }
      } else if (sequence !== 0) {
        throw new FerryError('SEQUENCE_GAP', `producer ${producerId} starts epoch ${epoch} at sequence ${sequence}; a new epoch starts at 0`);
      }
    }
    this.flushPending(partition);
    const options = { producer: { producerId, producerEpoch: epoch, baseSequence: sequence } };
    const appended = isBatch(records) ? partition.log.appendBatch(records, options) : partition.log.append(records, options);
    // Offsets are assigned at the call: the end offset moved by the batch's size.
    const lastOffset = partition.log.endOffset() - 1;
    const baseOffset = lastOffset - count + 1;
    const durable = this.track(partition, appended).then(() => undefined);
    if (producer === undefined || producer.epoch !== epoch) {
      producer = { epoch, lastSequence: -1, lastOffset: -1, recent: producer?.recent ?? [] };
      producer.recent.length = 0;
      partition.producers.set(producerId, producer);
    }
    producer.lastSequence = sequence + count - 1;
    producer.lastOffset = lastOffset;
    producer.recent.push({ firstSequence: sequence, lastSequence: producer.lastSequence, baseOffset, durable });
    if (producer.recent.length > RECENT_BATCHES_MAX) producer.recent.shift();
    this.counters.appended += count;
    if (++partition.idempotentAppendsSinceSnapshot >= PRODUCER_SNAPSHOT_EVERY) void this.snapshotProducers(partition);
    return durable.then(() => ({ partition: partition.index, baseOffset, lastOffset, duplicate: false }));
  }

  /**
   * Appends a committed transaction's messages to `partition` as one batch
   * stamped with `stamp` (no idempotence checks: the transaction did them).
   * Resolves once durable.
   */
  appendStamped(partition: number, messages: readonly StoredMessage[], stamp: ProducerStamp): Promise<void> {
    this.assertLive();
    const target = this.partition(partition);
    for (const message of messages) this.checkSize(message);
    this.flushPending(target);
    this.counters.appended += messages.length;
    return this.track(target, target.log.appendBatch(this.messageBatch(target, messages), { producer: stamp })).then(() => undefined);
  }

  /** True when `partition` holds a batch stamped `stamp` at or after `fromOffset` (transaction recovery). */
  findStampedBatch(partition: number, fromOffset: number, stamp: ProducerStamp): Promise<boolean> {
    return holdsStampedBatch(this.partition(partition).log, fromOffset, stamp);
  }

  /** The partition a message with no explicit partition goes to (hash of its key, or round-robin). */
  partitionFor(message: StoredMessage): number {
    return this.choosePartition(message);
  }

  /** Saves the producers of a partition, so a restart scans only the batches after this point. */
  private snapshotProducers(partition: Partition): Promise<void> {
    partition.idempotentAppendsSinceSnapshot = 0;
    const entries: ProducerEntry[] = [...partition.producers].map(([producerId, producer]) => ({
      producerId,
      epoch: producer.epoch,
      lastSequence: producer.lastSequence,
      lastOffset: producer.lastOffset,
      recent: producer.recent.map(({ firstSequence, lastSequence, baseOffset }) => ({ firstSequence, lastSequence, baseOffset })),
    }));
    // A lost snapshot costs only a longer scan at the next start.
    return this.state.saveProducers(partition.index, entries, partition.log.endOffset()).catch(() => undefined);
  }

  /** Rebuilds a partition's producers (with their recent batches): the saved snapshot, then every stamped batch after it. */
  private async restoreProducers(partition: Partition): Promise<void> {
    const { entries, coveredOffset } = this.state.producerSnapshot(partition.index);
    for (const entry of entries) {
      // A snapshot is written after the batches it lists: if it survived, they did (a retry of one is answered at once).
      const recent = (entry.recent ?? []).map((batch) => ({ ...batch, durable: Promise.resolve() }));
      partition.producers.set(entry.producerId, { epoch: entry.epoch, lastSequence: entry.lastSequence, lastOffset: entry.lastOffset, recent });
    }
    let offset = Math.max(coveredOffset, partition.log.startOffset());
    const end = partition.log.endOffset();
    while (offset < end) {
      const batches = await partition.log.readBatches(offset, { bytesMax: 4 * 1024 * 1024 });
      if (batches.length === 0) break;
      for (const batch of batches) {
        const last = batch.records[batch.records.length - 1]!;
        offset = last.offset + 1;
        const stamp = batch.producer;
        if (stamp === null || stamp.producerId >= TRANSACTION_PRODUCER_ID || batch.records[0]!.offset !== batch.baseOffset) continue;
        const lastSequence = stamp.baseSequence + batch.records.length - 1;
        let producer = partition.producers.get(stamp.producerId);
        if (producer === undefined || producer.epoch !== stamp.producerEpoch) {
          producer = { epoch: stamp.producerEpoch, lastSequence, lastOffset: last.offset, recent: [] };
          partition.producers.set(stamp.producerId, producer);
        }
        producer.lastSequence = lastSequence;
        producer.lastOffset = last.offset;
        producer.recent.push({ firstSequence: stamp.baseSequence, lastSequence, baseOffset: batch.baseOffset, durable: Promise.resolve() });
        if (producer.recent.length > RECENT_BATCHES_MAX) producer.recent.shift();
      }
    }
  }

  private choosePartition(message: StoredMessage): number {
    return this.partitionForKey(message.properties.key);
  }

  /**
   * The partition for a message with record key `key` (its `properties.key`):
   * the key's hash, or the next partition in turn for an unkeyed message.
   */
  partitionForKey(key: Uint8Array | undefined): number {
    if (this.partitions.length === 1) return 0;
    if (key !== undefined) return partitionForKey(key, this.partitions.length);
    const index = this.roundRobin;
    this.roundRobin = (index + 1) % this.partitions.length;
    return index;
  }

  private messageBytesLimit(): number {
    return Math.min(this.host.messageBytesMax, this.config.messageBytesMax ?? Number.POSITIVE_INFINITY);
  }

  private tooLarge(bytes: number, limit: number): FerryError {
    return new FerryError('MESSAGE_TOO_LARGE', `message of ${bytes} bytes exceeds stream ${this.name}'s limit of ${limit} bytes`);
  }

  private checkSize(message: StoredMessage): void {
    const limit = this.messageBytesLimit();
    if (message.body.byteLength > limit) throw this.tooLarge(message.body.byteLength, limit);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      if (this.deleted) return;
      for (const partition of this.partitions) this.flushPending(partition);
    });
  }

  private flushPending(partition: Partition): void {
    if (partition.pending.length === 0) return;
    const records = partition.pending;
    const done = partition.pendingDurable!;
    partition.pending = [];
    partition.pendingDurable = null;
    this.track(partition, partition.log.append(records)).then(
      () => done.resolve(),
      (error: unknown) => done.reject(error),
    );
  }

  /** Makes an append's records visible to readers once it resolved. */
  private track(partition: Partition, appended: Promise<AppendResult>): Promise<AppendResult> {
    return appended.then((result) => {
      if (result.lastOffset + 1 > partition.visibleEnd) {
        partition.visibleEnd = result.lastOffset + 1;
        const waiters = [...partition.waiters];
        partition.waiters.clear();
        for (const wake of waiters) wake();
        for (const listener of partition.listeners) listener();
      }
      return result;
    });
  }

  /**
   * Calls `listener` after every durable append to `partition`, and once when
   * the stream is deleted (readers waiting at the end learn it at once), until
   * the returned function is called.
   */
  onAppended(partition: number, listener: () => void): () => void {
    const target = this.partition(partition);
    target.listeners.add(listener);
    return () => target.listeners.delete(listener);
  }

  /**
   * A read-only {@link Log} view of `partition` that ends at the visible
   * (durable) end: what a share group's queue reads. Appends through it are
   * refused and truncations ignored: the stream's retention owns its start.
   */
  partitionView(partition: number): Log {
    const target = this.partition(partition);
    const log = target.log;
    const clip = (limits: ReadLimits | undefined, fromOffset: number): ReadLimits => ({
      ...limits,
      recordsMax: Math.max(1, Math.min(limits?.recordsMax ?? Number.MAX_SAFE_INTEGER, target.visibleEnd - Math.max(fromOffset, log.startOffset()))),
    });
    return {
      name: `${log.name}#view`,
      options: log.options,
      batchBytesMax: log.batchBytesMax,
      startOffset: () => log.startOffset(),
      endOffset: () => target.visibleEnd,
      sizeBytes: () => log.sizeBytes(),
      append: () => Promise.reject(new FerryError('INVALID_ARGUMENT', `${log.name} is read-only through a share group`)),
      appendUnawaited: () => {
        throw new FerryError('INVALID_ARGUMENT', `${log.name} is read-only through a share group`);
      },
      appendEmpty: () => {
        throw new FerryError('INVALID_ARGUMENT', `${log.name} is read-only through a share group`);
      },
      writeEmptyPending: () => undefined,
      newBatch: () => {
        throw new FerryError('INVALID_ARGUMENT', `${log.name} is read-only through a share group`);
      },
      appendBatch: () => Promise.reject(new FerryError('INVALID_ARGUMENT', `${log.name} is read-only through a share group`)),
      read: async (fromOffset, limits) => {
        if (Math.max(fromOffset, log.startOffset()) >= target.visibleEnd) return [];
        return (await log.read(fromOffset, clip(limits, fromOffset))).filter((record) => record.offset < target.visibleEnd);
      },
      readBatches: async (fromOffset, limits) => {
        if (Math.max(fromOffset, log.startOffset()) >= target.visibleEnd) return [];
        return log.readBatches(fromOffset, clip(limits, fromOffset));
      },
      readCursor: (fromOffset, limits) => log.readCursor(fromOffset, { ...limits, offsetEnd: Math.min(limits?.offsetEnd ?? Number.POSITIVE_INFINITY, target.visibleEnd) }),
      offsetForTimestamp: async (timestampMs) => Math.min(await log.offsetForTimestamp(timestampMs), target.visibleEnd),
      truncatePrefix: () => Promise.resolve(),
    };
  }

  // ------------------------------------------------------------------ reading

  /**
   * Reads visible messages of `partition` from `fromOffset` on (from the
   * start offset when lower). Returns [] at the end; see {@link waitForMessages}.
   */
  async read(partition: number, fromOffset: number, limits: StreamReadLimits = {}): Promise<StreamEntry[]> {
    this.assertLive();
    const target = this.partition(partition);
    const from = Math.max(fromOffset, target.log.startOffset());
    const end = target.visibleEnd;
    if (from >= end) return [];
    const max = Math.min(limits.max ?? READ_MAX_DEFAULT, end - from);
    const records = await target.log.read(from, { recordsMax: max, ...(limits.bytesMax !== undefined ? { bytesMax: limits.bytesMax } : {}) });
    const entries: StreamEntry[] = [];
    for (const record of records) {
      if (record.offset >= end) break;
      entries.push(new LazyStreamEntry(partition, record));
    }
    this.counters.read += entries.length;
    return entries;
  }

  /**
   * Like {@link read}, but the messages are left as stored and walked in
   * place (see {@link RecordCursor}): for a protocol that forwards them
   * without an object per message. Each record is a message as
   * message-codec.ts stores it (key: routing key, header "m": envelope, value: body).
   */
  async readCursor(partition: number, fromOffset: number, limits: StreamReadLimits = {}): Promise<RecordCursor> {
    this.assertLive();
    const target = this.partition(partition);
    const from = Math.max(fromOffset, target.log.startOffset());
    const cursor = await target.log.readCursor(from, { recordsMax: limits.max ?? READ_MAX_DEFAULT, offsetEnd: target.visibleEnd, ...(limits.bytesMax !== undefined ? { bytesMax: limits.bytesMax } : {}) });
    this.counters.read += cursor.count;
    return cursor;
  }

  /**
   * Resolves true once `partition` has a visible message at or after
   * `offset`, false after `waitMs` without one (or when the stream is deleted).
   */
  waitForMessages(partition: number, offset: number, waitMs: number): Promise<boolean> {
    const target = this.partition(partition);
    if (target.visibleEnd > offset) return Promise.resolve(true);
    if (waitMs <= 0 || this.deleted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = (): void => {
        if (target.visibleEnd > offset || this.deleted) {
          timer.cancel();
          target.waiters.delete(wake);
          resolve(!this.deleted);
        } else {
          target.waiters.add(wake);
        }
      };
      const timer = this.host.clock.setTimer(waitMs, () => {
        target.waiters.delete(wake);
        resolve(false);
      });
      target.waiters.add(wake);
    });
  }

  /** The offset a reader starting at `spec` reads first in `partition`. */
  async offsetFor(partition: number, spec: OffsetSpec): Promise<number> {
    const target = this.partition(partition);
    const start = target.log.startOffset();
    const end = target.visibleEnd;
    if (spec === 'first') return start;
    if (spec === 'next') return end;
    if (spec === 'last') return Math.max(start, end - 1);
    if ('offset' in spec) {
      if (!Number.isSafeInteger(spec.offset) || spec.offset < 0) throw new FerryError('INVALID_ARGUMENT', `offset must be a non-negative integer, got ${spec.offset}`);
      return Math.min(Math.max(spec.offset, start), end);
    }
    return Math.min(await target.log.offsetForTimestamp(spec.timestampMs), end);
  }

  // ------------------------------------------------------------------ consumer groups

  /**
   * The consumer group `name` (created on first use): members join it and get
   * partitions assigned cooperatively; their commits are stored durably in the
   * stream's state and survive restarts (membership does not: members rejoin).
   */
  consumerGroup(name: string): ConsumerGroup {
    this.assertLive();
    let group = this.groups.get(name);
    if (!group) {
      group = new ConsumerGroup({
        name,
        clock: this.host.clock,
        partitionCount: () => this.partitions.length,
        endOffset: (partition) => this.endOffset(partition),
        startOffset: (partition) => this.startOffset(partition),
        committed: this.state.committedOffsets(name),
        saveCommit: (partition, offset) => this.state.commit(name, partition, offset),
        sessionTimeoutMsDefault: CONSUMER_SESSION_TIMEOUT_MS_DEFAULT,
      });
      this.groups.set(name, group);
    }
    return group;
  }

  /** Names of groups that committed offsets or are open. */
  consumerGroupNames(): string[] {
    return [...new Set([...this.state.groups(), ...this.groups.keys()])];
  }

  // ------------------------------------------------------------------ lifetime

  /** Marks the stream deleted (its logs are deleted by the vhost); waiting readers get false. */
  markDeleted(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.compactionTimer?.cancel();
    for (const group of this.groups.values()) group.close();
    for (const partition of this.partitions) {
      const done = partition.pendingDurable;
      partition.pending = [];
      partition.pendingDurable = null;
      done?.reject(new FerryError('STREAM_NOT_FOUND', `stream ${this.name} was deleted before the message was written`));
      const waiters = [...partition.waiters];
      partition.waiters.clear();
      for (const wake of waiters) wake();
      for (const listener of [...partition.listeners]) listener();
    }
  }

  /** Writes what is pending and saves producer snapshots (clean shutdown). */
  async close(): Promise<void> {
    const writes: Promise<unknown>[] = [];
    for (const partition of this.partitions) {
      const done = partition.pendingDurable;
      this.flushPending(partition);
      if (done) writes.push(done.promise.catch(() => undefined));
      if (partition.producers.size > 0 && partition.idempotentAppendsSinceSnapshot > 0) writes.push(this.snapshotProducers(partition));
    }
    await Promise.all(writes);
    this.markDeleted();
    await this.compacting?.catch(() => undefined);
  }

  isDeleted(): boolean {
    return this.deleted;
  }

  private partition(index: number): Partition {
    const partition = Number.isInteger(index) ? this.partitions[index] : undefined;
    if (!partition) throw new FerryError('PARTITION_NOT_FOUND', `stream ${this.name} has partitions 0 to ${this.partitions.length - 1}, not ${index}`);
    return partition;
  }

  private assertLive(): void {
    if (this.deleted) throw new FerryError('STREAM_NOT_FOUND', `stream ${this.name} was deleted`);
  }
}

/** True for a built batch, false for a list of records. */
function isBatch(records: readonly RecordInput[] | RecordBatchBuilder): records is RecordBatchBuilder {
  return !Array.isArray(records);
}
