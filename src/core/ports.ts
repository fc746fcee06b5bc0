/**
 * What the core needs from storage. Storage implements these interfaces
 * (file, memory, later PostgreSQL) and every implementation passes the same
 * contract suite (src/storage/log-store.contract.ts).
 */

/**
 * When an append is reported done.
 * - `always`: after the record is fsynced; a crash loses nothing that resolved.
 * - `interval`: after it is handed to the engine; fsync happens every `flushIntervalMs`,
 *   so a power loss may lose up to that much acknowledged data (a process crash loses nothing
 *   once the journal write has been issued).
 * - `never`: no fsync except at checkpoints and close; fastest, for transient data.
 */
export type Durability = 'always' | 'interval' | 'never';

/** A header of a stored record: name and raw bytes. */
export interface RecordHeader {
  readonly name: string;
  readonly value: Uint8Array;
}

/** A record to append. The timestamp defaults to the store clock's now. */
export interface RecordInput {
  readonly timestampMs?: number;
  readonly key?: Uint8Array | null;
  /**
   * The key as text, stored as its UTF-8 bytes (read back as `key`), for a caller that holds it
   * as a string (a queue's routing key): no bytes to make or cache. Used only when `key` is absent
   * (a `key` of null stores no key).
   */
  readonly keyText?: string;
  readonly value: Uint8Array;
  readonly headers?: readonly RecordHeader[];
}

/** A record as read back, with its offset in the log. */
export interface StoredRecord {
  readonly offset: number;
  readonly timestampMs: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array;
  readonly headers: readonly RecordHeader[];
}

/** Identity of an idempotent producer's batch, stored in the batch header. */
export interface ProducerStamp {
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly baseSequence: number;
}

/** Options of one append. */
export interface AppendOptions {
  /** Stamped into the batch header for idempotent producers (core II). */
  readonly producer?: ProducerStamp;
  /** Batch attribute bits reserved for the core (transaction markers, control batches). */
  readonly attributes?: number;
  /**
   * Nobody waits for this batch to be durable (a durable queue's transient messages): a store
   * with a group commit journals it with the next group that something else starts, or within
   * its segment flush interval, instead of starting a write of its own. Journal order and
   * offsets are as for any append; the promise resolves once it is written per the durability.
   */
  readonly lazy?: boolean;
}

/**
 * One batch written in place, record by record, from ranges of a caller's
 * bytes (a protocol frame): no object per record and no encoding pass of its
 * own. Get one from {@link Log.newBatch}; for each record call
 * `recordStart`, then `recordHeader` exactly `headerCount` times, then
 * `recordEnd`; append it once with {@link Log.appendBatch}. Stored and read
 * back, its records equal those of `append` given the same fields.
 */
export interface RecordBatchBuilder {
  /** Records completed so far. */
  readonly count: number;
  /** The largest value among them, in bytes (for message size limits). */
  readonly valueBytesMax: number;
  /** Starts a record: its timestamp, its key (`keyLength` -1: a null key) and how many headers follow. */
  recordStart(timestampMs: number, source: Uint8Array, keyStart: number, keyLength: number, headerCount: number): void;
  /** Adds a header of the record started last: `name`, and its value `source[valueStart, valueStart + valueLength)`. */
  recordHeader(name: string, source: Uint8Array, valueStart: number, valueLength: number): void;
  /** Ends the record with its value `source[valueStart, valueStart + valueLength)`. */
  recordEnd(source: Uint8Array, valueStart: number, valueLength: number): void;
  /**
   * Adds a whole record with the key and headers of the record before it
   * (there must be one) and its own timestamp and value: the common case of
   * a batch, copied inside the batch instead of written again.
   */
  recordAgain(timestampMs: number, source: Uint8Array, valueStart: number, valueLength: number): void;
}

/** Where an append landed. Offsets are contiguous: baseOffset .. lastOffset. */
export interface AppendResult {
  readonly baseOffset: number;
  readonly lastOffset: number;
}

/** Limits for one read; the first record is always returned even when larger than `bytesMax`. */
export interface ReadLimits {
  readonly recordsMax?: number;
  readonly bytesMax?: number;
}

/** A batch of records as read, with its header facts. */
export interface StoredBatch {
  readonly baseOffset: number;
  readonly records: readonly StoredRecord[];
  readonly attributes: number;
  readonly producer: ProducerStamp | null;
}

/** What one {@link Log.compact} run did. Bytes count whole segment files, headers included. */
export interface CompactionResult {
  /** Sealed segments looked at (every sealed segment at the call, minus those wholly below the start). */
  readonly segmentsExamined: number;
  /** Segments replaced by a compacted copy (those where `keep` refused at least one record). */
  readonly segmentsRewritten: number;
  /** Records turned into holes by this run (holes left by earlier runs are not counted again). */
  readonly recordsRemoved: number;
  /** Bytes of the examined segments before the run. */
  readonly bytesBefore: number;
  /** Bytes of the examined segments after the run. */
  readonly bytesAfter: number;
}

/** Limits of one {@link Log.readCursor}: those of a read, and an offset to stop before. */
export interface CursorLimits extends ReadLimits {
  /** Records at or after this offset are left out (a stream's durable end, say). */
  readonly offsetEnd?: number;
}

/**
 * The records of one {@link Log.readCursor}, left in the bytes they were
 * stored in and walked in place: `next()` steps to the next record, and the
 * fields describe that record as positions in `bytes`, so a reader that
 * forwards records (a protocol writing frames) allocates nothing per record.
 * The fields hold until the next `next()`; the bytes they point into are
 * never reused, so views of them may be kept. Use {@link record} where an
 * object is wanted. A record whose layout is malformed (a writer's bug, its
 * batch passed its checksum) throws CORRUPT_DATA from `next()`.
 *
 *   next(): ────► offset, timestampMs
 *   bytes:  … | key | headers … | value | …
 *               ^keyStart         ^valueStart ^valueEnd
 */
export interface RecordCursor {
  /** Records the cursor holds in all. */
  readonly count: number;
  /** The offset of its last record (undefined when it holds none). */
  readonly lastOffset: number | undefined;
  /** Steps to the next record; false once every record was stepped to. */
  next(): boolean;
  readonly offset: number;
  readonly timestampMs: number;
  /** What the positions below index into. */
  readonly bytes: Uint8Array;
  readonly keyStart: number;
  /** -1 for a null key. */
  readonly keyLength: number;
  readonly valueStart: number;
  readonly valueEnd: number;
  /**
   * Finds the current record's first header named `name` (its UTF-8 bytes):
   * true and `headerValueStart` / `headerValueEnd` set, or false.
   */
  findHeader(name: Uint8Array): boolean;
  readonly headerValueStart: number;
  readonly headerValueEnd: number;
  /** The current record as an object (views into `bytes`, as `read` returns them). */
  record(): StoredRecord;
}

/** Per-log settings. Every limit has a default in the store's config. */
export interface LogOptions {
  /** A segment is sealed when the next batch would make it larger than this. */
  readonly segmentBytesMax?: number;
  /** A segment is sealed when its first record is older than this. */
  readonly segmentAgeMsMax?: number;
  /** Whole segments whose newest record is older than this are deleted. */
  readonly retentionMs?: number;
  /** Oldest segments are deleted while the log is larger than this. */
  readonly retentionBytes?: number;
  /** Oldest segments are deleted while the rest still hold at least this many records. */
  readonly retentionRecords?: number;
}

/** One append-only log: a queue's messages, a stream partition, or a state log. */
export interface Log {
  readonly name: string;
  readonly options: Required<LogOptions>;
  /** The largest batch an append takes, in bytes (the store's); a larger one fails with RECORD_TOO_LARGE. */
  readonly batchBytesMax: number;
  /** The first offset that can be read. */
  startOffset(): number;
  /** The offset the next appended record will get. */
  endOffset(): number;
  /** Bytes of retained segments (including ones whose records are only logically removed). */
  sizeBytes(): number;
  /**
   * Appends records as one batch with contiguous offsets. Offsets are assigned at
   * the call, synchronously, so appends are ordered by call order.
   * Resolves according to the store's durability mode (see {@link Durability}).
   */
  append(records: readonly RecordInput[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * {@link append} for a writer that learns when its batches are written from
   * {@link LogStore.written} instead of a promise per append (a queue of many,
   * each writing a small batch a turn): returns the base offset, and throws
   * what `append` would reject with at the call. A write that fails later
   * rejects `written()`, as it stops the store.
   */
  appendUnawaited(records: readonly RecordInput[], options?: AppendOptions): number;
  /**
   * Appends `count` empty records (null key, no headers, empty value) that nobody waits
   * for: a durable queue's offsets of transient messages held in memory. `endOffset()`
   * moves at once; consecutive calls are held as one count and written as one batch (a
   * lazy append, see AppendOptions.lazy, timestamped when written) before any other
   * operation of the log, within the store's segment flush interval, or at its checkpoint
   * or close. Like a lazy append, a crash may lose them: the log then ends before them.
   * Throws as `append` rejects.
   */
  appendEmpty(count: number): void;
  /**
   * Writes the offsets appendEmpty holds now, as a lazy batch: whatever the store journals
   * after the call (another log's entry too) comes after them, so a crash that keeps that
   * entry keeps them. For a record of `endOffset()` kept in another log (a transaction's intent).
   */
  writeEmptyPending(): void;
  /**
   * A builder for one batch of this log (see {@link RecordBatchBuilder}),
   * sized for `recordCount` records holding `headerCount` headers in all and
   * `fieldBytes` bytes of keys, header names, header values and values: the
   * batch then fits exactly (it grows when given more).
   */
  newBatch(recordCount: number, headerCount: number, fieldBytes: number): RecordBatchBuilder;
  /**
   * Appends a batch made by this log's {@link newBatch}, with at least one
   * record, as it was built: `append`'s contract (offsets, durability,
   * RECORD_TOO_LARGE) without encoding the records again. A builder is
   * appended at most once.
   */
  appendBatch(batch: RecordBatchBuilder, options?: AppendOptions): Promise<AppendResult>;
  /**
   * Reads records from `fromOffset` on (from `startOffset()` when lower).
   * Returns [] at the end of the log. Every returned record passed its checksum.
   */
  read(fromOffset: number, limits?: ReadLimits): Promise<StoredRecord[]>;
  /**
   * Like read, but keeps batch boundaries and batch headers. An append is one batch, except
   * that a store may frame small appends with neither attributes nor a producer stamp into
   * larger batches (the file store journals them as runs; FORMAT.md, RECORDS): code that needs
   * a batch's identity (a producer's, a transaction marker) stamps it.
   */
  readBatches(fromOffset: number, limits?: ReadLimits): Promise<StoredBatch[]>;
  /**
   * Like read (the same records for the same limits, less those at or after
   * `limits.offsetEnd`), but walked in place through a {@link RecordCursor}
   * instead of an object per record.
   */
  readCursor(fromOffset: number, limits?: CursorLimits): Promise<RecordCursor>;
  /** The first offset whose record timestamp is >= `timestampMs`, or `endOffset()` when none. */
  offsetForTimestamp(timestampMs: number): Promise<number>;
  /**
   * Moves the start offset up to `offset` (records below it are gone for readers).
   * Whole segments below it are deleted once the move is durable.
   */
  truncatePrefix(offset: number): Promise<void>;
  /**
   * Tells the log that its records below `offset` will never be read again: their reader
   * settled them, durably (a queue's acks). Unlike {@link truncatePrefix} it journals nothing
   * and moves no start offset, so it costs nothing to call often. A store may then write
   * such records that it has not written to their segment yet as holes (FileLog: runs it
   * frames), and reads below `offset` may find fewer records. Lower values are ignored.
   */
  settledBelow?(offset: number): void;
  /**
   * Compaction: removes from the **sealed** segments (never the active one) every record,
   * at or after `startOffset()`, for which `keep` returns false. Each kept record keeps its
   * offset, its bytes and its place in the order; a removed one leaves a hole that readers
   * (`read`, `readBatches`, `offsetForTimestamp`) skip, so it is never returned again once the
   * call resolves. `startOffset()` and `endOffset()` do not change; `sizeBytes()` shrinks.
   * `keep` is called once per live record of those segments, in offset order, and must not
   * touch the log; when it throws, the run stops and rejects, leaving every segment readable.
   *
   * Durability: before anything is removed, everything appended before the call is made
   * durable (with the file store, a checkpoint), so `keep` may rely on any record read before
   * the call, a newer value of the same key say, surviving a crash. When it resolves, the
   * removals are durable. Each segment is replaced atomically; a crash
   * during the run leaves every segment either as it was or compacted, never a mix within one
   * segment. Records appended during the run are not touched. Runs on one log are serialised.
   *
   * Optional on the port: views that do not own their data (a share group's partition view)
   * leave it out; both stores have it.
   */
  compact?(keep: (record: StoredRecord) => boolean): Promise<CompactionResult>;
}

/** The store's settings. */
export interface LogStoreOptions {
  readonly durability?: Durability;
  /** With `interval`: how often the journal is fsynced. */
  readonly flushIntervalMs?: number;
  /** Defaults for logs opened without their own options. */
  readonly logDefaults?: LogOptions;
  /** Largest batch accepted, in bytes; larger appends fail with RECORD_TOO_LARGE. */
  readonly batchBytesMax?: number;
}

/** Many logs with one durability contract and one group commit. */
export interface LogStore {
  /** Opens the log named `name`, creating it when absent (with `options`). */
  openLog(name: string, options?: LogOptions): Promise<Log>;
  /** The open log named `name`, or undefined. */
  getLog(name: string): Log | undefined;
  /** Names of all logs. */
  logNames(): string[];
  /** Deletes a log and its data; resolves once the deletion is durable. */
  deleteLog(name: string): Promise<void>;
  /** Resolves once everything appended before the call is durable, whatever the mode. */
  flush(): Promise<void>;
  /**
   * Resolves once everything appended (append, appendBatch, appendUnawaited) before the call
   * is written per the durability mode, as each append's own promise would; rejects when one of
   * those writes fails. Starts no write of its own (unlike {@link flush}): a lazy append waits
   * for the write it rides with.
   */
  written(): Promise<void>;
  /**
   * Calls `gather` once, just before the next group of appends is written (a store without a
   * group commit: after the current turn; `flush` calls it at once): what it appends joins that
   * group. A writer of many small changes holds them until then and logs them as one batch
   * instead of one a turn. `gather` must not throw, and must report its own failures.
   */
  beforeNextCommit(gather: () => void, options?: GatherOptions): void;
  /**
   * The round of the deferrable gatherers waiting now (see GatherOptions.deferrable): its
   * promise resolves once everything they append when they run is written, and rejects when
   * that write fails or a participant calls `reject` (its own append failed). Null when none
   * waits, or when the store defers nothing. Owners of many small batches that are written
   * together (the acks of a thousand queues) hand out this one promise instead of one each.
   */
  deferredRound?(): DeferredRound | null;
  /** Applies every log's retention policy now (stores also run it periodically). */
  applyRetention(): Promise<void>;
  /** Flushes, checkpoints and releases files. The store cannot be used after. */
  close(): Promise<void>;
}

/** See {@link LogStore.deferredRound}. */
export interface DeferredRound {
  readonly promise: Promise<void>;
  reject(error: unknown): void;
}

/** How a {@link LogStore.beforeNextCommit} callback may be run. */
export interface GatherOptions {
  /**
   * True when nobody needs what `gather` appends at the next commit (a queue's acks): while
   * many owners gather at once, the store may run it at a later commit, a bounded time later,
   * so that their small batches add up to fewer, larger ones. `flush` and `close` run it at once.
   */
  readonly deferrable?: boolean;
}

/** How an ack is logged. */
export interface AckOptions {
  /**
   * True when nobody waits for the ack's promise (a protocol ack without a reply): while the
   * store is busy with many queues, the ack may be logged together with later ones of its
   * queue, a bounded time later (GatherOptions.deferrable); the promise resolves then.
   * Otherwise it is logged at the next group commit.
   */
  readonly lazy?: boolean;
}

/** Why a message left its queue without being acknowledged. */
export type DeadLetterReason = 'rejected' | 'expired' | 'max-length' | 'delivery-limit';

/**
 * The durable delivery state of one queue log (storage's QueueStateStore):
 * settled (acked or dead-lettered) offsets, delivery counts, due times.
 * Writes apply to memory at the call and resolve per the store's durability.
 */
export interface QueueState {
  /** First offset that is not settled. */
  lowWatermark(): number;
  isAcked(offset: number): boolean;
  isDeadLettered(offset: number): boolean;
  deliveryCount(offset: number): number;
  scheduledAt(offset: number): number | undefined;
  scheduledEntries(): IterableIterator<[offset: number, dueMs: number]>;
  /** The first unsettled offset at or after `fromOffset`. */
  nextUnacked(fromOffset: number): number;
  ack(offsets: readonly number[], options?: AckOptions): Promise<void>;
  /** Acks messages that do not survive a restart (recovery settles them): in memory, logging nothing. */
  ackUnlogged(offsets: readonly number[]): void;
  ackRange(startOffset: number, endOffset: number, options?: AckOptions): Promise<void>;
  recordDelivery(offset: number): Promise<number>;
  /** recordDelivery for a caller that does not wait: no promise, nothing on a stopped state; `offset` must be in the log and unsettled (not checked). */
  noteDelivery(offset: number): void;
  schedule(offset: number, dueMs: number): Promise<void>;
  unschedule(offset: number): Promise<void>;
  deadLetter(offset: number, reason: DeadLetterReason): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A JSON value, as definitions are stored. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Kinds of definitions. */
export type DefinitionKind = 'vhost' | 'exchange' | 'queue' | 'stream' | 'binding' | 'user' | 'permission' | 'policy';

/** Durable definitions (storage's MetadataStore): every change is durable before it resolves. */
export interface DefinitionStore {
  get(kind: DefinitionKind, key: string): JsonValue | undefined;
  list(kind: DefinitionKind): Array<[key: string, value: JsonValue]>;
  put(kind: DefinitionKind, key: string, value: JsonValue): Promise<void>;
  delete(kind: DefinitionKind, key: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Everything the core needs from storage, wired by the server (or a test). */
export interface CoreStorage {
  /** Logs of durable queues and streams. */
  readonly durable: LogStore;
  /** Logs of transient queues: never written to disk. */
  readonly transient: LogStore;
  readonly definitions: DefinitionStore;
  /**
   * Opens (or creates) the delivery state of `messageLog`, kept in `store` under `name`. With
   * `settledRecordsReadForMs`, the queue reads back records for that long after settling them
   * (its deduplication window, rebuilt after a restart): the state neither tells the log they
   * will never be read (Log.settledBelow) nor reclaims them sooner.
   */
  openQueueState(store: LogStore, name: string, messageLog: Log, options?: { readonly settledRecordsReadForMs?: number }): Promise<QueueState>;
  /** Closes everything (definitions, then both stores). */
  close(): Promise<void>;
  /** Stops all I/O at once, as a kill -9 would (tests and simulation). */
  abandon(): void;
}
