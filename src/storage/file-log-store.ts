import { concatenate } from '../lib/concatenate.js';
import { assert } from '../lib/assert.js';
import { crc32c } from '../lib/crc32c.js';
import { deferred, type Deferred } from '../lib/deferred.js';
import { FerryError, isFerryError } from '../lib/ferry-error.js';
import { runLimited } from '../lib/run-limited.js';
import type { Clock, TimerHandle } from '../platform/clock.js';
import { joinPath, type FileLock, type FileSystem } from '../platform/file-system.js';
import type { DeferredRound, Durability, GatherOptions, Log, LogOptions, LogStore, LogStoreOptions, RecordInput } from '../core/ports.js';
import { FileLog, LOG_OPTION_DEFAULTS, resolveLogOptions, type FileLogHost } from './file-log.js';
import {
  decodeOffsetPayload,
  decodeReferencePayload,
  encodeOffsetPayload,
  encodeReferencePayload,
  JOURNAL_ENTRY_HEADER_BYTES,
  JOURNAL_FORMAT_VERSION,
  JOURNAL_SPARE_SUFFIX,
  JOURNAL_TEMPORARY_SUFFIX,
  JournalEntryKind,
  JournalFile,
  journalEndEntry,
  journalFileName,
  parseJournalFileName,
  readJournalFile,
  saltEntries,
  writeEntryHeader,
  writeReplacementJournalFile,
  type BatchReference,
  type JournalEntry,
  type JournalScan,
} from './journal.js';
import { FencedFileSystem } from './fenced-file-system.js';
import { BATCH_HEADER_BYTES, checkBatch, encodedRecordsBytes, readBatchHeader } from './record-batch.js';
import { batchOfRun, decodeRecordRuns, RecordRuns, RUN_RECORD_BYTES_MAX, runRecordBytes, type RecordArena } from './record-runs.js';
import type { CompactedSegmentFile } from './compact-segment.js';
import { COMPACTING_FILE_SUFFIX, parseSegmentFileName, Segment, segmentFileName } from './segment.js';

/** Settings of the file store; each has a default. */
export interface FileLogStoreOptions extends LogStoreOptions {
  readonly fileSystem: FileSystem;
  readonly clock: Clock;
  /** The data directory. */
  readonly directory: string;
  /** A checkpoint starts when the journal reaches this size. */
  readonly journalBytesMax?: number;
  /** With durability `always`, journal files are zero-filled to this size ahead of use (0: never). */
  readonly journalPreallocateBytes?: number;
  /** A checkpoint starts at least this often while anything was written. */
  readonly checkpointIntervalMs?: number;
  /** One sparse index entry per this many bytes of batches. */
  readonly indexIntervalBytes?: number;
  /** A log's segment is written once this many bytes wait in memory. */
  readonly segmentFlushBytes?: number;
  /**
   * The segment flush tick: a log's unwritten segment bytes are written at the tick once they
   * reach 1/16 of segmentFlushBytes, and within 10 ticks whatever their size.
   */
  readonly segmentFlushIntervalMs?: number;
  /**
   * Segment writes (one log's unwritten bytes each) in flight at once. A store of many logs
   * writes each of them after every framing of runs; too few at once, and unwritten bytes pile
   * up in memory faster than they are written.
   */
  readonly segmentWritesInFlightMax?: number;
  /** Memory for batches kept after writing, for readers at the tail, across all logs. */
  readonly cacheBytesMax?: number;
  /** How often retention runs. */
  readonly retentionCheckIntervalMs?: number;
  /**
   * While at least `deferredGatherersMin` deferrable {@link LogStore.beforeNextCommit}
   * callbacks (queues' acks) wait at once, they run together at most this many milliseconds
   * after the first of them registered, instead of at every group commit; at once when the
   * store is idle (no group written or gathering), as when publishing stops.
   */
  readonly deferredGatherMsMax?: number;
  /** How many deferrable callbacks must wait at once before any waits past the next commit. */
  readonly deferredGatherersMin?: number;
  /**
   * With durability `always`: when a log's batches in one journal group add up to at least
   * this many bytes, they are written and fdatasynced straight into their segment file and
   * the journal carries only a 48-byte APPEND_REFERENCE per batch (see FORMAT.md).
   */
  readonly directWriteBytesMin?: number;
  /**
   * A group that gathers this many bytes is written at once when a write slot is free, not
   * at the end of the turn: large appends made one after another in a turn then go in
   * several groups, so the next ones are encoded while the first are written.
   */
  readonly groupStartBytes?: number;
  /**
   * An append with neither attributes nor a producer stamp whose records take at most this
   * many bytes is journaled as a run of a shared RECORDS entry and framed into a batch with the
   * log's other runs later (see record-runs.ts); 0: every append is a batch of its own.
   */
  readonly runRecordBytesMax?: number;
  /**
   * Runs are framed into their logs' segments once they have been held this long (checked at
   * the segment flush tick), the older half of them once they add up to `runsHeldBytesMax`
   * (their arenas stay in memory until then), and all before anything looks at a log's segments.
   */
  readonly runsHeldMsMax?: number;
  readonly runsHeldBytesMax?: number;
  /**
   * Told how long each journal fsync took, in milliseconds, counted from the start of the
   * write it makes durable (with durability `always` the write itself syncs); for metrics, must not throw.
   */
  readonly onSync?: (durationMs: number) => void;
}

/**
 * How often close writes appendEmpty offsets taken after its checkpoint began, each pass taking
 * those of the pass before: bounded, as a caller could take offsets for ever; ones taken after
 * the last pass are lost as any write racing close may be.
 */
const CLOSE_EMPTY_PASSES_MAX = 3;

/** Defaults of {@link FileLogStoreOptions}. */
export const FILE_LOG_STORE_DEFAULTS = {
  durability: 'always' as Durability,
  flushIntervalMs: 200,
  batchBytesMax: 32 * 1024 * 1024,
  journalBytesMax: 64 * 1024 * 1024,
  checkpointIntervalMs: 60_000,
  indexIntervalBytes: 4096,
  segmentFlushBytes: 256 * 1024,
  segmentFlushIntervalMs: 100,
  /**
   * Each write that completes waits for the event loop to start the next; with 2 at once, a
   * store of 1,000 busy queues (bench:core queues-1000) wrote ~150 segments a second against
   * ~3,000 due, and held 120-150 MB unwritten after 10 s, growing ~20 MB a second. With 16,
   * it held 2 MB. More at once delays a journal write queued behind them in the thread pool.
   */
  segmentWritesInFlightMax: 16,
  cacheBytesMax: 64 * 1024 * 1024,
  retentionCheckIntervalMs: 5_000,
  /** See deferredGatherersMin for what it saves. */
  deferredGatherMsMax: 200,
  /**
   * Deferrable gatherers wait (up to deferredGatherMsMax) only while at least this many do: a
   * store busy with many queues, each of which would otherwise log a batch of one or two acks at
   * every group commit. Fewer run at the next commit, so a quiet store adds no ack latency.
   * Measured (1,000 durable queues, round-robin persistent 256 B publishes with 1,000 in flight,
   * a consumer per queue, lazy acks; in process, as bench:core queues-1000, 5 s runs):
   * 33-39k msgs/s with deferredGatherMsMax 1, 41-46k with 50, 52-58k with 200, 54-58k with 500.
   */
  deferredGatherersMin: 64,
  /**
   * 128 KiB: a direct group costs a second fdatasync (the segment's, beside the journal's),
   * whose fixed cost (a device flush, a metadata commit as the file grows) outweighs writing
   * small groups twice. Measured on the benchmark disk (bench:storage append-1k-always): groups
   * of 70 KB ran 20% slower direct than journaled; batches of 1,000 stream messages (over
   * 100 KB) ran 18-30% faster (bench:streams stream-append, bench:native stream-publish).
   */
  directWriteBytesMin: 128 * 1024,
  /**
   * 512 KiB: four stream batches of 1,000 100-byte records. Measured (bench:streams
   * stream-append, 8 appenders of such batches): a group took all eight batches, so the
   * event loop encoded while the disk idled and then waited while it wrote (1.25-1.75 M
   * records/s); started at 512 KiB, 2.0-2.16 M; at 256 KiB 1.5-2.3 M, at 1 MiB 1.1-1.7 M.
   */
  groupStartBytes: 512 * 1024,
  /**
   * With durability `always`, journal files are zero-filled to this size before use (the next
   * one in the background), so a synchronous journal write within it changes no file metadata.
   */
  journalPreallocateBytes: 4 * 1024 * 1024,
  /** 1 KiB: see RUN_RECORD_BYTES_MAX for what was measured. */
  runRecordBytesMax: RUN_RECORD_BYTES_MAX,
  /**
   * 1 s and 16 MiB: with runs framed every 100 ms (the segment flush tick) or at 4 MiB, a store
   * of 1,000 busy queues framed about 15 records a log at a time, and framing plus the segment
   * writes after it cost over 1 µs a message. Measured (bench:core queues-1000, alternating, 4
   * runs each): ratio 0.370-0.428 (mean 0.394) so, 0.386-0.478 (mean 0.435) with 1 s and 32 MiB;
   * 0.396-0.421 with 16 MiB, chosen because delayed publishes (a record an append) fill the cap,
   * which bench:core delayed-1m's peak RSS shows (241-283 MB with 32 MiB; target 300). 24 MiB
   * since: once the per-message costs of that flow had fallen, framing runs 100-200 ms old
   * (before their lazy acks were logged, so copies rather than holes) was a larger share of it.
   * Measured 16 -> 24 MiB: in-process A/B +7.6%; bench:core queues-1000, 3 alternating runs,
   * many-queue rate +5.9% (ratio 0.503-0.595 -> 0.558-0.606); delayed-1m peak RSS 230-262 MB
   * (239-258 MB with 16 MiB in the same session).
   */
  runsHeldMsMax: 1_000,
  runsHeldBytesMax: 24 * 1024 * 1024,
};

/**
 * Group writes in flight at once with durability `always`. Measured on the benchmark disk:
 * O_DSYNC writes of 100 KB took 334 µs one at a time, 198 µs each two at a time.
 */
const JOURNAL_WRITES_IN_FLIGHT_MAX = 2;

/** What recovery records of a segment file (`path` without its extension) it could not open. */
function segmentDamage(path: string, error: unknown): string {
  return `${path}.seg: ${error instanceof Error ? error.message : String(error)}`;
}

/** Options of a timer that keeps the process running (Clock.setTimer). */
const KEEP_ALIVE = { keepAlive: true } as const;

/** Lazy appends (AppendOptions.lazy) gathered beyond this many bytes start a group write of their own. */
const LAZY_GROUP_BYTES_MAX = 1024 * 1024;

/**
 * Version 2: the journal files after the checkpoint may hold APPEND_REFERENCE entries
 * (journal version 3), which a Ferry that reads only version 1 must not replay; it refuses
 * the checkpoint before it changes any file. Version 1 is still read.
 */
const CHECKPOINT_FORMAT_VERSION = 2;
const CHECKPOINT_FORMAT_VERSIONS_READ = [1, 2];
const CHECKPOINT_MAGIC = 'FRYCKP1\n';

/** A log as a checkpoint records it. */
interface CheckpointLog {
  readonly id: number;
  readonly name: string;
  readonly options: Record<string, number | null>;
  readonly startOffset: number;
  readonly endOffset: number;
  readonly activeBaseOffset: number;
  readonly activeBytes: number;
}

interface Checkpoint {
  readonly formatVersion: number;
  readonly journalSequence: number;
  readonly nextLogId: number;
  readonly logs: readonly CheckpointLog[];
}

/** An APPEND entry of a group, which the commit may turn into an APPEND_REFERENCE. */
interface PendingAppend {
  /** Index of the entry in the group's `buffers`. */
  readonly index: number;
  readonly log: FileLog;
  readonly batch: Uint8Array;
  readonly segment: Segment;
  readonly position: number;
}

/** Entries waiting for the next journal write, sharing one promise. */
interface CommitGroup {
  buffers: Uint8Array[];
  bytes: number;
  /** True once an entry that somebody waits for is in it (not only lazy appends). */
  eager: boolean;
  forceSync: boolean;
  /** The group's APPEND entries, in order. */
  readonly appends: PendingAppend[];
  /** Bytes of the APPEND entries' batches, per log. */
  readonly bytesByLog: Map<FileLog, number>;
  /** Segments dropped by entries of this group: deleted only once the group is written and synced. */
  readonly deletions: Segment[];
  readonly done: Deferred<void>;
}

function newGroup(): CommitGroup {
  const done = deferred<void>();
  // A group may fail with nobody waiting on it (a forced sync, say); callers still see the rejection.
  done.promise.catch(() => undefined);
  return { buffers: [], bytes: 0, eager: false, forceSync: false, appends: [], bytesByLog: new Map(), deletions: [], done };
}

/** Facts about the last recovery, for logs and tests. */
export interface RecoveryReport {
  readonly checkpointFound: boolean;
  readonly journalFilesReplayed: number;
  readonly journalEntriesReplayed: number;
  /** Bytes after the valid entries of the newest journal file (of a reused file, its stale rest too), unless zeros. */
  readonly journalTailBytesDropped: number;
  /** Entries dropped where the journal was cut at a reference whose batch was not intact (see FORMAT.md). */
  readonly journalEntriesCut: number;
  /** Always empty since a short active segment is CORRUPT_DATA; kept for callers that log it. */
  readonly segmentsTruncated: ReadonlyArray<{ readonly log: string; readonly bytes: number }>;
  readonly durationMs: number;
}

/**
 * The embedded storage engine: many logs over one write-ahead journal.
 *
 * Layout of the data directory:
 *
 *   <dir>/LOCK                 pid of the owning process
 *   <dir>/checkpoint           last checkpoint (JSON behind a magic + CRC)
 *   <dir>/journal/<seq>.jnl    journal files since that checkpoint
 *   <dir>/logs/<id>/<base>.seg segments of log <id>, with <base>.idx
 *
 * Durability contract: an append resolves, with durability `always`, after its
 * journal entry is fsynced; appends of the same event-loop turn share one write
 * and one fsync across all logs (group commit). Segment files are written
 * without fsync and made durable by checkpoints, which then delete the journal
 * files they cover; except that a log's batches adding up to
 * `directWriteBytesMin` in one group are fdatasynced in their segment file
 * beside the group's journal write, which carries only references to them:
 * such an append resolves when both are durable (FORMAT.md, APPEND_REFERENCE),
 * and recovery first resolves references into a replacement journal. Recovery reloads the checkpoint, cuts every active segment
 * back to its checkpointed length and replays the journal, stopping at a torn
 * tail. Any write or fsync failure stops the store (STORAGE_CLOSED): after a
 * failed fsync the page cache cannot be trusted, so only a reopen, which
 * recovers from disk, may continue.
 */
export class FileLogStore implements LogStore, FileLogHost {
  readonly fileSystem: FencedFileSystem;
  readonly indexIntervalBytes: number;
  readonly batchBytesMax: number;
  private readonly clock: Clock;
  private readonly directory: string;
  private readonly journalDirectory: string;
  private readonly logsDirectory: string;
  private readonly durability: Durability;
  private readonly settings: typeof FILE_LOG_STORE_DEFAULTS;
  private readonly logDefaults: Required<LogOptions>;
  private readonly logsByName = new Map<string, FileLog>();
  private readonly logsById = new Map<number, FileLog>();
  private readonly opening = new Map<string, Promise<FileLog>>();
  private nextLogId = 1;
  private lock: FileLock | null = null;
  private journal: JournalFile | null = null;
  /** The next journal file, recycled from a finished one by a checkpoint. */
  private spareSequence: number | null = null;
  private group = newGroup();
  /** Small appends as runs of RECORDS entries: the open entry (part of `group`) and the runs not yet framed. */
  private readonly runs = new RecordRuns<FileLog>();
  private commitScheduled = false;
  /** Logs with a direct segment write (writeDirectly) in flight, and how many. */
  private readonly directWritesInFlight = new Map<FileLog, number>();
  private committing = false;
  /** Callbacks of {@link beforeNextCommit} waiting for the next group. */
  private gatherers: Array<() => void> = [];
  /** Deferrable callbacks of {@link beforeNextCommit} (see deferredGatherersMin), and since when the first waits. */
  private deferredGatherers: Array<() => void> = [];
  /** The round of the deferred gatherers waiting (see deferredRound), made when first asked for. */
  private round: Deferred<void> | null = null;
  /** The round of the deferred gatherers taken to run at the next gather. */
  private roundTaken: Deferred<void> | null = null;
  private deferredSinceMs = 0;
  /** Brings a commit when the deferred gatherers are due and nothing else does. */
  private deferredTimer: TimerHandle | null = null;
  /** Set by close: nothing is deferred any more. */
  private closing = false;
  /** Group commits started and not yet completed, oldest first (see commitLoop). */
  private readonly commitsInFlight: Promise<void>[] = [];
  /** The last group commit started; settles (never rejects) once it completed or failed. */
  private lastCommit: Promise<void> = Promise.resolve();
  /** The promise of the last group started (see written()). */
  private lastGroupDone: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private closed = false;
  private unsyncedJournalBytes = 0;
  private checkpointRunning: Promise<void> | null = null;
  private checkpointRequest: Deferred<void> | null = null;
  /** Logs written since the last checkpoint. */
  private readonly dirtyLogs = new Set<FileLog>();
  /** Logs whose active segment holds bytes not yet written to its file, and since when (monotonic ms). */
  private readonly unflushedLogs = new Map<FileLog, number>();
  /**
   * Logs whose active segment reached segmentFlushBytes unwritten: written after the next commit
   * (a store of many logs would otherwise look at every unflushed one after each commit).
   */
  private readonly flushDue = new Set<FileLog>();
  /** Segment writes wait here so that few run at once and the journal never queues behind a burst. */
  private readonly flushQueue: FileLog[] = [];
  private readonly flushQueued = new Set<FileLog>();
  private flushesInFlight = 0;
  private readonly dirtyDirectories = new Set<string>();
  /** Sealed segments whose flush and index file are still to be written. */
  private readonly sealedPending = new Set<{ log: FileLog; segment: Segment }>();
  /**
   * Segments whose dropping entry is written but not yet fsynced: deleted at
   * the next journal sync. (Segments whose entry is still in the gathering
   * group wait in that group, so a sync of an earlier group cannot delete them.)
   */
  private deletionsAwaitingSync: Segment[] = [];
  /**
   * Dropped segments that an APPEND_REFERENCE in a journal file recovery would still replay
   * names: deleted once a durable checkpoint covers that journal file.
   */
  private deletionsAwaitingCheckpoint: Segment[] = [];
  /** True from a checkpoint's snapshot of the logs until its file is written. */
  private snapshotUnwritten = false;
  /** The group of the last truncatePrefix entry that dropped segments while snapshotUnwritten. */
  private dropsSinceSnapshot: Promise<void> | null = null;
  /** The journal sequence of the last durable checkpoint: recovery replays files from it on. */
  private checkpointedJournalSequence = 0;
  private readonly timers: TimerHandle[] = [];
  private readonly backgroundWork = new Set<Promise<void>>();
  private readonly onSync: ((durationMs: number) => void) | undefined;
  /** During recovery: per log, segment files that replay replaced, to delete once the log checks out, and why (a short or damaged segment). */
  private readonly superseded = new Map<FileLog, { paths: string[]; damage: string | null }>();
  /** Facts about the recovery done by `open`. */
  recovery: RecoveryReport | null = null;
  /** Logs holding appendEmpty offsets not yet written. */
  private readonly logsWithEmptyPending = new Set<FileLog>();
  /** Counters for tests and metrics. */
  readonly stats = { journalWrites: 0, journalSyncs: 0, checkpoints: 0, segmentWrites: 0, referencedBatches: 0 };

  private constructor(options: FileLogStoreOptions) {
    this.fileSystem = new FencedFileSystem(options.fileSystem);
    this.clock = options.clock;
    this.onSync = options.onSync;
    this.directory = options.directory;
    this.journalDirectory = joinPath(options.directory, 'journal');
    this.logsDirectory = joinPath(options.directory, 'logs');
    const settings = { ...FILE_LOG_STORE_DEFAULTS };
    for (const key of Object.keys(FILE_LOG_STORE_DEFAULTS) as (keyof typeof FILE_LOG_STORE_DEFAULTS)[]) {
      const value = (options as unknown as Record<string, unknown>)[key];
      if (value === undefined) continue;
      if (key === 'durability') {
        if (value !== 'always' && value !== 'interval' && value !== 'never') {
          throw new FerryError('INVALID_ARGUMENT', `durability must be always, interval or never, got ${String(value)}`);
        }
        settings.durability = value;
      } else {
        const zeroAllowed = key === 'journalPreallocateBytes' || key === 'runRecordBytesMax';
        if (typeof value !== 'number' || !(value > 0 || (zeroAllowed && value === 0))) {
          throw new FerryError('INVALID_ARGUMENT', `${key} must be a ${zeroAllowed ? 'non-negative' : 'positive'} number`);
        }
        (settings as Record<string, unknown>)[key] = value;
      }
    }
    if (settings.runRecordBytesMax > settings.batchBytesMax - BATCH_HEADER_BYTES) {
      throw new FerryError('INVALID_ARGUMENT', 'runRecordBytesMax must leave room for a batch header within batchBytesMax');
    }
    this.settings = settings;
    this.durability = settings.durability;
    this.indexIntervalBytes = settings.indexIntervalBytes;
    this.batchBytesMax = settings.batchBytesMax;
    this.logDefaults = resolveLogOptions(options.logDefaults, LOG_OPTION_DEFAULTS);
  }

  /**
   * Opens (creating when absent) the store in `options.directory`: takes the
   * directory lock, recovers, and writes a fresh checkpoint.
   */
  static async open(options: FileLogStoreOptions): Promise<FileLogStore> {
    const store = new FileLogStore(options);
    await store.fileSystem.mkdir(store.directory);
    store.lock = await store.fileSystem.lock(joinPath(store.directory, 'LOCK'));
    try {
      await store.recover();
    } catch (error) {
      await store.lock.release();
      store.closed = true;
      throw error;
    }
    store.startTimers();
    return store;
  }

  nowMs(): number {
    return this.clock.nowMs();
  }

  /**
   * A log's share of cacheBytesMax, at most 4 MiB. The floor is 4 KiB (a few small batches), not
   * more: with 64 KiB, a store of 2,000 logs (1,000 durable queues and their state) kept 128 MiB
   * against a 64 MiB budget.
   */
  cacheBytesPerLog(): number {
    const count = Math.max(1, this.logsByName.size);
    return Math.max(4 * 1024, Math.min(4 * 1024 * 1024, Math.floor(this.settings.cacheBytesMax / count)));
  }

  assertWritable(): void {
    if (this.failure !== null) {
      throw new FerryError('STORAGE_CLOSED', `the store stopped after a failure: ${describe(this.failure)}`, { cause: this.failure });
    }
    if (this.closed) throw new FerryError('STORAGE_CLOSED', 'the store is closed');
  }

  writable(): boolean {
    return this.failure === null && !this.closed;
  }

  // ---------------------------------------------------------------- logs

  async openLog(name: string, options?: LogOptions): Promise<Log> {
    this.assertWritable();
    const existing = this.logsByName.get(name);
    if (existing) return existing;
    const pending = this.opening.get(name);
    if (pending) return pending;
    const resolved = resolveLogOptions(options, this.logDefaults);
    const creation = this.createLog(name, resolved).finally(() => this.opening.delete(name));
    this.opening.set(name, creation);
    return creation;
  }

  private async createLog(name: string, options: Required<LogOptions>): Promise<FileLog> {
    const id = this.nextLogId++;
    const log = await this.materializeLog(id, name, options, 0);
    await this.enqueue(id, JournalEntryKind.createLog, new TextEncoder().encode(JSON.stringify({ name, options: encodeOptions(options) })));
    // The segment file is created (its header written) now, not at the log's first segment write:
    // a store that creates 2,000 logs (1,000 durable queues) would otherwise create their files
    // together later, holding the thread pool while its journal writes wait.
    await log.active().flush();
    return log;
  }

  /** Creates the directory and in-memory log (no journaling). */
  private async materializeLog(id: number, name: string, options: Required<LogOptions>, baseOffset: number): Promise<FileLog> {
    const directory = joinPath(this.logsDirectory, String(id));
    await this.fileSystem.removeTree(directory);
    await this.fileSystem.mkdir(directory);
    this.dirtyDirectories.add(this.logsDirectory);
    this.dirtyDirectories.add(directory);
    const segment = Segment.create(this.fileSystem, directory, baseOffset, this.indexIntervalBytes);
    const log = new FileLog(this, id, name, directory, options, [segment], baseOffset);
    this.register(log);
    return log;
  }

  private register(log: FileLog): void {
    this.logsByName.set(log.name, log);
    this.logsById.set(log.id, log);
    this.dirtyLogs.add(log);
  }

  getLog(name: string): Log | undefined {
    return this.logsByName.get(name);
  }

  logNames(): string[] {
    return [...this.logsByName.keys()];
  }

  /** Resolves once the deletion is durable and the files are gone. */
  async deleteLog(name: string): Promise<void> {
    this.assertWritable();
    const log = this.logsByName.get(name);
    if (!log) throw new FerryError('LOG_NOT_FOUND', `no log named ${name}`);
    log.deleted = true;
    this.logsByName.delete(name);
    this.logsById.delete(log.id);
    this.dirtyLogs.delete(log);
    await this.enqueueDurable(log.id, JournalEntryKind.deleteLog, new Uint8Array(0));
    // A running checkpoint or compaction may still write this log's files; delete after them.
    if (this.checkpointRunning) await this.checkpointRunning;
    await log.compactionSettled();
    for (const segment of log.segments) await segment.close();
    await this.fileSystem.removeTree(log.directory);
    this.dirtyDirectories.add(this.logsDirectory);
  }

  // ---------------------------------------------------------------- FileLogHost

  journalAppend(log: FileLog, batch: Uint8Array, segment: Segment, position: number, lazy: boolean): Promise<void> {
    this.assertWritable();
    // Journal order: the runs written so far come before this entry.
    this.sealRuns();
    // The entry header goes into the headroom in front of the batch: one buffer per entry.
    const entry = new Uint8Array(batch.buffer, batch.byteOffset - JOURNAL_ENTRY_HEADER_BYTES, batch.byteLength + JOURNAL_ENTRY_HEADER_BYTES);
    writeEntryHeader(entry, log.id, JournalEntryKind.append, batch);
    const group = this.group;
    group.appends.push({ index: group.buffers.length, log, batch, segment, position });
    group.bytesByLog.set(log, (group.bytesByLog.get(log) ?? 0) + batch.byteLength);
    const done = this.enqueueEntry(entry, lazy);
    // Only after an append, whose caller needs nothing more of the group it joined.
    if (group.eager && group.bytes >= this.settings.groupStartBytes) this.startEarly();
    return done;
  }

  journalRun(log: FileLog, records: readonly RecordInput[], nowMs: number, lazy: boolean): Promise<void> | null {
    if (records.length === 0) return null;
    const recordBytes = encodedRecordsBytes(records);
    if (recordBytes > this.settings.runRecordBytesMax) return null;
    const runs = this.runs;
    if (!runs.fits(recordBytes)) this.sealRuns();
    const group = this.group;
    if (runs.count === 0) runs.heldSinceMs = this.clock.monotonicMs();
    group.bytes += runs.add(log, records, recordBytes, log.endOffset(), nowMs);
    log.addUnframed(records.length, recordBytes);
    if (!lazy) group.eager = true;
    if (!lazy || group.bytes >= LAZY_GROUP_BYTES_MAX) this.scheduleCommit();
    if (group.eager && group.bytes >= this.settings.groupStartBytes) this.startEarly();
    // Bounded however long the disk takes: framing needs no I/O.
    if (runs.unframedBytes >= 2 * this.settings.runsHeldBytesMax) this.frameRuns();
    return group.done.promise;
  }

  /** Ends the open RECORDS entry: it takes its place in the gathering group (whose bytes already count it). */
  private sealRuns(): void {
    const entry = this.runs.seal();
    if (entry !== null) this.group.buffers.push(entry);
  }

  frameRuns(): void {
    this.frameOldestRuns(this.runs.count);
  }

  /**
   * Frames the older half of the runs held (by bytes), keeping the newer: what reaches
   * runsHeldBytesMax. Runs framed later are more often below their log's settled offset (a
   * queue's acks are logged up to deferredGatherMsMax after the messages), and those are framed
   * as holes instead of copies (FileLog.settledBelow).
   */
  private frameOlderRuns(): void {
    const half = this.runs.unframedBytes / 2;
    let bytes = 0;
    let count = 0;
    this.runs.forEach(this.runs.count, (_log, arena, position) => {
      if (bytes >= half) return false;
      bytes += runRecordBytes(arena.view, position);
      count++;
      return true;
    });
    this.frameOldestRuns(count);
  }

  /** Frames the first `count` runs held (in journal order; each log's are the first of its runs). */
  private frameOldestRuns(count: number): void {
    const runs = this.runs;
    if (count === 0) return;
    // Each log's runs, in journal order (a Map keeps the order logs first appear in).
    const byLog = new Map<FileLog, { readonly arenas: RecordArena[]; readonly positions: number[] }>();
    runs.forEach(count, (log, arena, position) => {
      if (log.deleted) return;
      const own = byLog.get(log);
      if (own === undefined) {
        byLog.set(log, { arenas: [arena], positions: [position] });
      } else {
        own.arenas.push(arena);
        own.positions.push(position);
      }
    });
    runs.keepFrom(count, this.clock.monotonicMs());
    for (const [log, own] of byLog) log.frameRuns(own.arenas, own.positions);
  }

  emptyPending(log: FileLog): void {
    this.logsWithEmptyPending.add(log);
  }

  /** Writes every log's appendEmpty offsets held as a count (see FileLog.writeEmptyPending). */
  private writeEmptyPending(): void {
    for (const log of this.logsWithEmptyPending) log.writeEmptyPending();
    this.logsWithEmptyPending.clear();
  }

  journalTruncatePrefix(log: FileLog, offset: number): Promise<void> {
    return this.enqueue(log.id, JournalEntryKind.truncatePrefix, encodeOffsetPayload(offset));
  }

  segmentSealed(log: FileLog, segment: Segment): void {
    this.sealedPending.add({ log, segment });
  }

  segmentsDropped(_log: FileLog, segments: Segment[]): void {
    // The truncatePrefix entry that dropped them was just added to the gathering group.
    this.group.deletions.push(...segments);
    if (this.snapshotUnwritten) {
      // The running checkpoint's snapshot may name these segments, which it will now neither
      // write nor sync: its file must wait until this entry is durable (see completeCheckpoint).
      this.group.forceSync = true;
      this.dropsSinceSnapshot = this.group.done.promise;
    }
  }

  appended(log: FileLog): void {
    this.dirtyLogs.add(log);
    if (!this.unflushedLogs.has(log)) this.unflushedLogs.set(log, this.clock.monotonicMs());
    if (log.active().unflushedBytes() >= this.settings.segmentFlushBytes) this.flushDue.add(log);
  }

  /**
   * Puts a compacted copy in place of a sealed segment that a durable checkpoint covers:
   *
   *   1. (done by compactSegment) <base>.compacting written and fsynced;
   *   2. unlink <base>.idx, fsync the directory: the old index can never sit beside the new file;
   *   3. rename <base>.compacting over <base>.seg, fsync the directory;
   *   4. swap the in-memory segment (readers in flight finish on the old handle), write the new index.
   *
   * A crash leaves the old file (perhaps without its index, rebuilt by a scan) or the new one,
   * each whole; recovery deletes a leftover `.compacting`. The checkpoint does not describe sealed
   * segments' bytes and the journal no longer holds their batches, so neither can undo a swap.
   * A failure from step 2 on stops the store: the directory's state is then unknown.
   */
  async replaceSegment(log: FileLog, source: Segment, copy: CompactedSegmentFile): Promise<boolean> {
    if (log.deleted || this.failure !== null || !log.segments.includes(source)) {
      await this.fileSystem.unlink(copy.temporaryPath).catch(() => undefined);
      return false;
    }
    try {
      await source.replaceFile(async () => {
        await this.fileSystem.unlink(source.indexPath);
        await this.fileSystem.syncDirectory(log.directory);
        await this.fileSystem.rename(copy.temporaryPath, source.path);
        await this.fileSystem.syncDirectory(log.directory);
      });
    } catch (error) {
      this.fail(error);
      throw error;
    }
    const replacement = Segment.compacted(this.fileSystem, log.directory, source.baseOffset, this.indexIntervalBytes, copy);
    const position = log.segments.indexOf(source);
    // Dropped during the rename: its remove() waited for the rename and deletes the new file.
    if (position < 0 || log.deleted) return false;
    assert(position < log.segments.length - 1, 'compaction replaces sealed segments only, never the active one');
    log.segments[position] = replacement;
    source.retire();
    try {
      await replacement.writeIndex();
    } catch (error) {
      this.fail(error);
      throw error;
    }
    return true;
  }

  // ---------------------------------------------------------------- group commit

  /** Adds an entry to the current group; resolves per the durability mode. */
  private enqueue(logId: number, kind: JournalEntryKind, payload: Uint8Array): Promise<void> {
    this.assertWritable();
    const entry = new Uint8Array(JOURNAL_ENTRY_HEADER_BYTES + payload.byteLength);
    entry.set(payload, JOURNAL_ENTRY_HEADER_BYTES);
    writeEntryHeader(entry, logId, kind, entry.subarray(JOURNAL_ENTRY_HEADER_BYTES));
    return this.enqueueEntry(entry);
  }

  /** With `lazy`, the entry starts no write: it waits for a group that something else starts, or past LAZY_GROUP_BYTES_MAX. */
  private enqueueEntry(entry: Uint8Array, lazy = false): Promise<void> {
    this.sealRuns();
    const group = this.group;
    group.buffers.push(entry);
    group.bytes += entry.byteLength;
    if (!lazy) group.eager = true;
    if (!lazy || group.bytes >= LAZY_GROUP_BYTES_MAX) this.scheduleCommit();
    return group.done.promise;
  }

  /** Like enqueue, but resolves only after an fsync, whatever the mode. */
  private enqueueDurable(logId: number, kind: JournalEntryKind, payload: Uint8Array): Promise<void> {
    const promise = this.enqueue(logId, kind, payload);
    this.group.forceSync = true;
    return promise;
  }

  /**
   * Starts the gathering group's write now, inside the append that made it large enough,
   * when the commit loop is idle and a write slot is free. The {@link beforeNextCommit}
   * callbacks are not run here (the append may come from one of their owners, in the middle
   * of a change): what they gather joins the next group, which the loop takes as usual.
   */
  private startEarly(): void {
    if (this.committing || this.failure !== null || this.commitsInFlight.length >= this.writesInFlightMax() || this.checkpointDue()) return;
    this.startCommit();
  }

  private scheduleCommit(): void {
    if (this.commitScheduled || this.committing) return;
    this.commitScheduled = true;
    this.clock.runSoon(() => {
      this.commitScheduled = false;
      void this.commitLoop();
    });
  }

  /**
   * Writes groups in journal order. With durability `always` up to
   * JOURNAL_WRITES_IN_FLIGHT_MAX group writes run at once (the device takes
   * overlapping synchronous writes faster than the same writes one by one),
   * while the next group gathers every append made meanwhile; groups still
   * complete in journal order, each only once it and every group before it
   * are durable (see commitGroup and FORMAT.md). Other modes write one group
   * at a time. A checkpoint waits until no group write is in flight.
   */
  private async commitLoop(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      while (this.failure === null) {
        if (this.commitsInFlight.length >= this.writesInFlightMax()) {
          await this.commitsInFlight[0];
        } else if (this.checkpointDue()) {
          // The rotation needs a quiet journal: the groups in flight finish first.
          await this.lastCommit;
          if (this.failure === null && this.checkpointDue()) await this.rotateAndCheckpoint();
        } else {
          this.gather();
          if (this.group.bytes > 0 || this.group.forceSync) this.startCommit();
          // Nothing more can arrive in this synchronous pass, and what `gather` put back for the
          // next group (a batch its owner holds back) must wait for a later one: with a write
          // slot free, end the pass; with none, wait for a write to finish and go on.
          if (this.commitsInFlight.length < this.writesInFlightMax()) break;
        }
      }
    } finally {
      this.committing = false;
    }
    if (this.failure !== null) {
      // Their appends fail now (STORAGE_CLOSED), each rejecting its own writer.
      this.gatherAll();
      this.sealRuns();
      const pending = this.group;
      this.group = newGroup();
      pending.done.reject(new FerryError('STORAGE_CLOSED', `the store stopped after a failure: ${describe(this.failure)}`));
    } else if (this.commitWanted()) {
      this.scheduleCommit();
    }
  }

  /**
   * True when the commit loop has something to do: a group to write, writers waiting for one,
   * deferred ones on an idle store (see gather), or a checkpoint.
   */
  private commitWanted(): boolean {
    const group = this.group;
    return (
      group.eager ||
      group.forceSync ||
      group.bytes >= LAZY_GROUP_BYTES_MAX ||
      this.gatherers.length > 0 ||
      (this.deferredGatherers.length > 0 && this.writingNothing()) ||
      this.checkpointDue()
    );
  }

  /** Nothing written, gathering, or waiting to gather but deferred gatherers. */
  private writingNothing(): boolean {
    return this.commitsInFlight.length === 0 && this.group.bytes === 0 && this.gatherers.length === 0;
  }

  /**
   * Runs the {@link beforeNextCommit} callbacks registered so far; their appends join the
   * gathering group. One that registers again while it runs waits for the next group.
   */
  private gather(): void {
    if (this.deferredGatherers.length > 0) {
      const waitedMs = this.clock.monotonicMs() - this.deferredSinceMs;
      // Held only while the store is busy: an idle one (nothing written or gathered) writes them now.
      if (this.closing || this.writingNothing() || this.deferredGatherers.length < this.settings.deferredGatherersMin || waitedMs >= this.settings.deferredGatherMsMax) {
        this.takeDeferredGatherers();
      } else if (this.deferredTimer === null) {
        // Kept alive: a process whose last work is held acks must still log them (their callers may wait).
        this.deferredTimer = this.clock.setTimer(
          this.settings.deferredGatherMsMax - waitedMs,
          () => {
            this.deferredTimer = null;
            this.scheduleCommit();
          },
          KEEP_ALIVE,
        );
      }
    }
    if (this.gatherers.length === 0) return;
    const gatherers = this.gatherers;
    this.gatherers = [];
    const round = this.roundTaken;
    this.roundTaken = null;
    for (const gather of gatherers) gather();
    // After all of them: an append that started the group early put the ones after it in the next.
    if (round !== null) this.written().then(() => round.resolve(), round.reject);
  }

  /** Moves the deferred gatherers to the ones the next {@link gather} runs. */
  private takeDeferredGatherers(): void {
    for (const gather of this.deferredGatherers) this.gatherers.push(gather);
    this.deferredGatherers = [];
    if (this.round !== null) {
      const round = this.round;
      this.round = null;
      const taken = this.roundTaken;
      // Taken twice before a gather (it runs right after each take): the earlier round waits for the later.
      if (taken !== null) round.promise.then(() => taken.resolve(), taken.reject);
      this.roundTaken = round;
    }
    this.deferredTimer?.cancel();
    this.deferredTimer = null;
  }

  /** Runs callbacks, deferred ones too, until none registers again (an owner holds a batch back once at most). */
  private gatherAll(): void {
    while (this.gatherers.length > 0 || this.deferredGatherers.length > 0) {
      this.takeDeferredGatherers();
      this.gather();
    }
  }

  /** Group writes that may be in flight at once: overlapping needs writes that are durable as they resolve. */
  private writesInFlightMax(): number {
    return this.durability === 'always' ? JOURNAL_WRITES_IN_FLIGHT_MAX : 1;
  }

  /**
   * Takes the gathering group and starts its write now (synchronously, so
   * journal positions follow group order); tracks it until it completes.
   */
  private startCommit(): void {
    this.sealRuns();
    const group = this.group;
    this.group = newGroup();
    const commit = this.commitGroup(group, this.journal!, this.lastCommit);
    this.lastCommit = commit;
    this.lastGroupDone = group.done.promise;
    this.commitsInFlight.push(commit);
    // Commits settle in the order they started, so the one settling is the oldest.
    void commit.then(() => {
      this.commitsInFlight.shift();
      if (this.commitWanted()) this.scheduleCommit();
    });
  }

  /**
   * Writes one group and completes it once its write (and its segment syncs)
   * and the group before it (`previous`) are done: a group resolves only when
   * every earlier one is durable, so acknowledged groups are always a prefix
   * of the journal, as recovery (which stops at the first torn entry) needs.
   * Never rejects: a failure stops the store and rejects this group (and,
   * through the stopped store, every later one).
   */
  private async commitGroup(group: CommitGroup, journal: JournalFile, previous: Promise<void>): Promise<void> {
    const startMs = this.onSync ? this.clock.monotonicMs() : 0;
    let failure: unknown = null;
    try {
      // With durability `always` the journal is opened for synchronous writes: the write is the fsync.
      // Large groups of a log go straight to their segment files, synced beside the journal write.
      const segmentSyncs = this.durability === 'always' ? this.writeDirectly(group, journal) : [];
      if (group.bytes > 0) {
        saltEntries(group.buffers, journal.salt);
        // One contiguous buffer: a native copy is cheaper than handing writev many small views.
        const buffers = group.buffers.length > 1 ? [concatenate(group.buffers, group.bytes)] : group.buffers;
        await Promise.all([journal.write(buffers, group.bytes), ...segmentSyncs]);
      }
    } catch (error) {
      failure = error;
    }
    await previous;
    if (failure === null && this.failure !== null) failure = new FerryError('STORAGE_CLOSED', `the store stopped after a failure: ${describe(this.failure)}`);
    if (failure === null) {
      try {
        if (group.bytes > 0) {
          this.stats.journalWrites++;
          this.unsyncedJournalBytes += group.bytes;
        }
        this.deletionsAwaitingSync.push(...group.deletions);
        if (this.durability === 'always' || group.forceSync) await this.syncJournal(journal, startMs);
      } catch (error) {
        failure = error;
      }
    }
    if (failure !== null) {
      this.fail(failure);
      group.done.reject(failure);
      return;
    }
    group.done.resolve();
    this.afterCommit();
  }

  /**
   * Turns the APPEND entries of every log with at least `directWriteBytesMin` bytes in the
   * group into APPEND_REFERENCE entries (in place, so the journal keeps its order) and
   * returns the syncs of their segment files, started now. Each segment file is written
   * through its last batch and fdatasynced; a new file's directory entry (and its log's) is
   * synced too. The caller awaits them with the journal write: an append resolves only when
   * its batch and the reference to it are both durable.
   */
  private writeDirectly(group: CommitGroup, journal: JournalFile): Promise<void>[] {
    // No log can reach the threshold in a smaller group.
    if (group.appends.length === 0 || group.bytes < this.settings.directWriteBytesMin) return [];
    const bytesByLog = group.bytesByLog;
    const threshold = this.settings.directWriteBytesMin;
    const segments = new Map<Segment, FileLog>();
    for (const pending of group.appends) {
      if (bytesByLog.get(pending.log)! < threshold) continue;
      const { batch, segment, log } = pending;
      const header = readBatchHeader(batch);
      const reference: BatchReference = {
        baseOffset: header.baseOffset,
        segmentBase: segment.baseOffset,
        position: pending.position,
        lengthBytes: batch.byteLength,
        recordCount: header.recordCount,
        batchCrc: new DataView(batch.buffer, batch.byteOffset, 8).getUint32(4, true),
      };
      const entry = new Uint8Array(JOURNAL_ENTRY_HEADER_BYTES + 32);
      const payload = encodeReferencePayload(reference);
      entry.set(payload, JOURNAL_ENTRY_HEADER_BYTES);
      writeEntryHeader(entry, log.id, JournalEntryKind.appendReference, payload);
      group.bytes += entry.byteLength - group.buffers[pending.index]!.byteLength;
      group.buffers[pending.index] = entry;
      // Set before any deletion this group's entries cause is looked at (syncJournal, after the write).
      segment.referencedInJournal = journal.sequence;
      journal.referencedBytes += batch.byteLength;
      segments.set(segment, log);
      this.stats.referencedBatches++;
    }
    return [...segments].map(([segment, log]) => this.syncReferencedSegment(log, segment));
  }

  private async syncReferencedSegment(log: FileLog, segment: Segment): Promise<void> {
    this.directWritesInFlight.set(log, (this.directWritesInFlight.get(log) ?? 0) + 1);
    try {
      await segment.syncAppended();
    } finally {
      const left = this.directWritesInFlight.get(log)! - 1;
      if (left === 0) this.directWritesInFlight.delete(log);
      else this.directWritesInFlight.set(log, left);
    }
    // Written now, so no background flush will come to trim the cache: trim it here.
    segment.trimCache(this.cacheBytesPerLog());
    if (!segment.entryDurable) {
      // The file may be new, and its log's directory too (created since the last checkpoint).
      await this.fileSystem.syncDirectory(log.directory);
      await this.fileSystem.syncDirectory(this.logsDirectory);
      segment.entryDurable = true;
    }
  }

  /**
   * Opens journal file `sequence` for the commit loop: the spare a checkpoint recycled for it
   * when there is one, else a new file (zero-filled to `journalPreallocateBytes` with durability `always`).
   */
  private async createJournal(sequence: number): Promise<JournalFile> {
    const dataSync = this.durability === 'always';
    const preallocateBytes = dataSync ? this.settings.journalPreallocateBytes : 0;
    const fromSpare = this.spareSequence === sequence;
    this.spareSequence = null;
    return JournalFile.create(this.fileSystem, this.journalDirectory, sequence, { dataSync, preallocateBytes, fromSpare });
  }

  /** A checkpoint is due when asked for or when the journal is full, and none is running. */
  private checkpointDue(): boolean {
    if (this.checkpointRunning || !this.journal) return false;
    // Recovery reads referenced batches back, so they count as journal bytes.
    return this.checkpointRequest !== null || this.journal.sizeBytes + this.journal.referencedBytes >= this.settings.journalBytesMax;
  }

  /** Fsyncs the journal; `startMs` (monotonic) is when the write being made durable began, for `onSync`. */
  private async syncJournal(journal: JournalFile, startMs = this.onSync ? this.clock.monotonicMs() : 0): Promise<void> {
    const deletions = this.deletionsAwaitingSync;
    this.deletionsAwaitingSync = [];
    await journal.sync();
    this.onSync?.(this.clock.monotonicMs() - startMs);
    this.stats.journalSyncs++;
    this.unsyncedJournalBytes = 0;
    // Entries that dropped these segments are durable now, so the files may go, unless a
    // journal file that recovery would replay references a batch in one of them.
    for (const segment of deletions) {
      if (segment.referencedInJournal >= this.checkpointedJournalSequence) this.deletionsAwaitingCheckpoint.push(segment);
      else this.runInBackground(() => segment.remove());
    }
  }

  /** Starts segment writes for logs with enough unwritten bytes; sealed segments get their index. */
  private afterCommit(): void {
    if (this.runs.unframedBytes >= this.settings.runsHeldBytesMax) this.frameOlderRuns();
    const threshold = this.settings.segmentFlushBytes;
    for (const log of this.flushDue) {
      // One written directly next is looked at again after a later commit.
      if (this.writesDirectlyNext(log)) continue;
      this.flushDue.delete(log);
      if (!log.deleted && log.active().unflushedBytes() >= threshold) this.flushLog(log);
    }
    if (this.sealedPending.size > 0) {
      const sealed = [...this.sealedPending];
      this.sealedPending.clear();
      this.runInBackground(async () => {
        for (const { log, segment } of sealed) {
          if (log.deleted) continue;
          await segment.writeIndex();
          segment.trimCache(0);
          this.stats.segmentWrites++;
        }
      });
    }
  }

  /**
   * True when a group in flight or the gathering group writes batches of `log` straight to its
   * segment file (see writeDirectly), which writes every unwritten byte of it: a background write first
   * would only make that one fdatasync instead of writing with O_DSYNC (Segment.syncAppended).
   */
  private writesDirectlyNext(log: FileLog): boolean {
    return this.directWritesInFlight.has(log) || (this.durability === 'always' && (this.group.bytesByLog.get(log) ?? 0) >= this.settings.directWriteBytesMin);
  }

  /**
   * At the segment flush tick: writes the logs holding at least 1/16 of segmentFlushBytes
   * unwritten, and the others once their bytes have waited 10 ticks. A few bytes a log (the
   * hole of runs its queue settled, see FileLog.settledBelow) cost a write each as much as
   * many: with 1,000 queues, writing every log at every tick made ~6,000 writes a second.
   */
  private flushUnwritten(): void {
    const nowMs = this.clock.monotonicMs();
    const enoughBytes = this.settings.segmentFlushBytes / 16;
    const longEnoughMs = 10 * this.settings.segmentFlushIntervalMs;
    for (const [log, sinceMs] of this.unflushedLogs) {
      if (this.writesDirectlyNext(log)) continue;
      if (nowMs - sinceMs >= longEnoughMs || log.active().unflushedBytes() >= enoughBytes) this.flushLog(log);
    }
  }

  /** Queues a write of the log's unwritten segment bytes (at most segmentWritesInFlightMax run at once). */
  private flushLog(log: FileLog): void {
    if (this.flushQueued.has(log)) return;
    this.flushQueued.add(log);
    this.flushQueue.push(log);
    this.pumpFlushes();
  }

  private pumpFlushes(): void {
    while (this.flushesInFlight < this.settings.segmentWritesInFlightMax && this.flushQueue.length > 0) {
      const log = this.flushQueue.shift()!;
      this.flushQueued.delete(log);
      const segment = log.active();
      if (log.deleted || segment.unflushedBytes() === 0) {
        if (segment.unflushedBytes() === 0) this.unflushedLogs.delete(log);
        continue;
      }
      this.flushesInFlight++;
      this.runInBackground(async () => {
        try {
          await segment.flush();
          this.stats.segmentWrites++;
          segment.trimCache(this.cacheBytesPerLog());
          if (log.active() === segment && segment.unflushedBytes() === 0) this.unflushedLogs.delete(log);
        } finally {
          this.flushesInFlight--;
          this.pumpFlushes();
        }
      });
    }
  }

  /** Background I/O: a failure stops the store, like a failed journal write. */
  private runInBackground(work: () => Promise<void>): void {
    const run: Promise<void> = work()
      .catch((error: unknown) => this.fail(error))
      .finally(() => this.backgroundWork.delete(run));
    this.backgroundWork.add(run);
  }

  /** Resolves when no background I/O is in flight. */
  private async settleBackground(): Promise<void> {
    while (this.backgroundWork.size > 0) await Promise.all([...this.backgroundWork]);
  }

  /** Stops the store: every pending and later write fails. */
  private fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = error;
    const request = this.checkpointRequest;
    this.checkpointRequest = null;
    request?.reject(new FerryError('STORAGE_CLOSED', `the store stopped after a failure: ${describe(error)}`, { cause: error }));
  }

  // ---------------------------------------------------------------- timers

  private startTimers(): void {
    const every = (intervalMs: number, work: () => void): void => {
      const tick = (): void => {
        if (this.closed || this.failure !== null) return;
        work();
        this.timers.push(this.clock.setTimer(intervalMs, tick));
      };
      this.timers.push(this.clock.setTimer(intervalMs, tick));
    };
    if (this.durability === 'interval') {
      every(this.settings.flushIntervalMs, () => {
        if (this.unsyncedJournalBytes > 0) void this.flush().catch(() => undefined);
      });
    }
    every(this.settings.segmentFlushIntervalMs, () => {
      try {
        if (this.runs.count > 0 && this.clock.monotonicMs() - this.runs.heldSinceMs >= this.settings.runsHeldMsMax) this.frameRuns();
        this.writeEmptyPending();
      } catch (error) {
        this.fail(error);
        return;
      }
      this.flushUnwritten();
      // Lazy appends wait at most this long for a group that something else starts.
      if (this.group.bytes > 0) this.scheduleCommit();
    });
    every(this.settings.retentionCheckIntervalMs, () => void this.applyRetention().catch(() => undefined));
    every(this.settings.checkpointIntervalMs, () => {
      if (this.dirtyLogs.size > 0) void this.checkpoint().catch(() => undefined);
    });
  }

  /** Applies every log's retention policy now; resolves when the moves are journaled. */
  async applyRetention(): Promise<void> {
    // Retention weighs segments: the runs held go into them first.
    this.frameRuns();
    const nowMs = this.clock.nowMs();
    const moves: Promise<void>[] = [];
    for (const log of this.logsByName.values()) {
      const target = log.retentionTarget(nowMs);
      if (target !== undefined) moves.push(log.truncatePrefix(target));
    }
    await Promise.all(moves);
  }

  // ---------------------------------------------------------------- durability API

  /** Resolves once everything appended before the call is fsynced in the journal. */
  deferredRound(): DeferredRound | null {
    if (this.deferredGatherers.length === 0) return null;
    if (this.round === null) {
      this.round = deferred<void>();
      // Its takers observe it; a round nobody waits on any more must not be an unhandled rejection.
      this.round.promise.catch(() => undefined);
    }
    return this.round;
  }

  beforeNextCommit(gather: () => void, options?: GatherOptions): void {
    // Never at once, even on a stopped store: the caller is still building what `gather` appends.
    if (options?.deferrable === true) {
      if (this.deferredGatherers.length === 0) this.deferredSinceMs = this.clock.monotonicMs();
      this.deferredGatherers.push(gather);
    } else {
      this.gatherers.push(gather);
    }
    this.scheduleCommit();
  }

  /**
   * The gathering group's promise when it holds appends, else the last group started: groups
   * complete in journal order, each only once every earlier one is durable (see commitGroup).
   */
  written(): Promise<void> {
    try {
      this.assertWritable();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.group.bytes > 0 ? this.group.done.promise : this.lastGroupDone;
  }

  flush(): Promise<void> {
    this.assertWritable();
    this.gatherAll();
    this.group.forceSync = true;
    this.scheduleCommit();
    return this.group.done.promise;
  }

  /**
   * Asks for a checkpoint (journal rotation, segments fsynced, old journal
   * files deleted) and resolves when it is durable. Calls made while one is
   * pending share it.
   */
  checkpoint(): Promise<void> {
    try {
      this.assertWritable();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.checkpointRequest) {
      this.checkpointRequest = deferred<void>();
      this.checkpointRequest.promise.catch(() => undefined);
    }
    const request = this.checkpointRequest;
    try {
      this.writeEmptyPending();
    } catch (error) {
      return Promise.reject(error);
    }
    this.group.forceSync = true;
    this.scheduleCommit();
    return request.promise;
  }

  /**
   * Runs inside the commit loop, between groups, so no journal write is in
   * flight: fsyncs and closes the journal file, starts the next one, records
   * every log's state at this instant, and completes the checkpoint in the
   * background (segments written and fsynced, checkpoint file, old journals deleted).
   */
  private async rotateAndCheckpoint(): Promise<void> {
    const request = this.checkpointRequest;
    this.checkpointRequest = null;
    const old = this.journal!;
    let checkpoint: Checkpoint;
    let logs: FileLog[];
    try {
      await this.syncJournal(old);
      // Finished: recovery may now find newer files after it.
      await old.finish();
      const next = await this.createJournal(old.sequence + 1);
      this.journal = next;
      // The snapshot covers what the segments hold, and the journal files it lets go held runs too.
      this.frameRuns();
      logs = [...this.logsByName.values()];
      checkpoint = { formatVersion: CHECKPOINT_FORMAT_VERSION, journalSequence: next.sequence, nextLogId: this.nextLogId, logs: logs.map((log) => this.checkpointLogState(log)) };
      this.dirtyLogs.clear();
      this.snapshotUnwritten = true;
    } catch (error) {
      this.fail(error);
      request?.reject(error);
      return;
    }
    this.checkpointRunning = this.completeCheckpoint(logs, checkpoint, old)
      .then(
        () => request?.resolve(),
        (error: unknown) => {
          this.fail(error);
          request?.reject(error);
        },
      )
      .finally(() => {
        this.snapshotUnwritten = false;
        this.dropsSinceSnapshot = null;
        this.checkpointRunning = null;
        if (this.commitWanted()) this.scheduleCommit();
      });
  }

  private checkpointLogState(log: FileLog): CheckpointLog {
    const active = log.active();
    return {
      id: log.id,
      name: log.name,
      options: encodeOptions(log.options),
      startOffset: log.startOffset(),
      // What the segments hold: appendEmpty offsets taken since checkpoint() are not in them yet.
      endOffset: active.endOffset,
      activeBaseOffset: active.baseOffset,
      activeBytes: active.sizeBytes,
    };
  }

  private async completeCheckpoint(logs: FileLog[], checkpoint: Checkpoint, oldJournal: JournalFile | null): Promise<void> {
    // The background writes started before the snapshot, not every one started since: on a busy
    // store new ones never stop coming, and waiting for none to be left held a checkpoint of
    // 1,000 busy queues for as long as the load lasted (its journal files with it).
    await Promise.all([...this.backgroundWork]);
    const sealed = [...this.sealedPending];
    this.sealedPending.clear();
    for (const { log, segment } of sealed) if (!log.deleted) await segment.writeIndex();
    // Logs side by side (segmentWritesInFlightMax at once): one after another, each sync waited
    // for the event loop to start the next, and with 2,000 busy logs a checkpoint took longer
    // than the 64 MiB of journal between checkpoints took to fill (journal files piled up).
    await runLimited(logs, this.settings.segmentWritesInFlightMax, async (log) => {
      if (log.deleted) return;
      let created = false;
      for (const segment of log.segments) {
        if (segment.dirty) await segment.sync();
        if (segment.sealed) segment.trimCache(0);
        if (segment.createdSinceDirectorySync) {
          segment.createdSinceDirectorySync = false;
          created = true;
        }
      }
      // New segment files become durable entries only with their directory.
      if (created) await this.fileSystem.syncDirectory(log.directory);
    });
    for (const directory of [...this.dirtyDirectories]) {
      this.dirtyDirectories.delete(directory);
      if (await this.fileSystem.exists(directory)) await this.fileSystem.syncDirectory(directory);
    }
    // A segment of the snapshot that a truncatePrefix dropped meanwhile was skipped above, so its
    // bytes may be on disk only in the old journal files this checkpoint deletes: the entry that
    // dropped it must be durable first (in the journal the checkpoint names), or a crash would
    // find the segment short or gone and nothing moving the start past it.
    while (this.dropsSinceSnapshot !== null) {
      const drops = this.dropsSinceSnapshot;
      this.dropsSinceSnapshot = null;
      await drops;
    }
    await this.writeCheckpointFile(checkpoint);
    this.snapshotUnwritten = false;
    this.checkpointedJournalSequence = Math.max(this.checkpointedJournalSequence, checkpoint.journalSequence);
    // Segments dropped while a replayed journal file referenced them: no recovery reads them now.
    const waiting = this.deletionsAwaitingCheckpoint;
    this.deletionsAwaitingCheckpoint = [];
    for (const segment of waiting) {
      if (segment.referencedInJournal >= this.checkpointedJournalSequence) this.deletionsAwaitingCheckpoint.push(segment);
      else this.runInBackground(() => segment.remove());
    }
    await oldJournal?.close();
    for (const name of await this.fileSystem.readdir(this.journalDirectory)) {
      const sequence = parseJournalFileName(name);
      if (sequence === undefined || sequence >= checkpoint.journalSequence) continue;
      const path = joinPath(this.journalDirectory, name);
      if (this.spareSequence === null) {
        // Reused as the next journal file, whose writes then overwrite allocated blocks.
        const recycled = await JournalFile.recycle(this.fileSystem, this.journalDirectory, path, checkpoint.journalSequence + 1).then(
          () => true,
          () => false,
        );
        if (recycled) {
          this.spareSequence = checkpoint.journalSequence + 1;
          continue;
        }
      }
      await this.fileSystem.unlink(path);
    }
    this.stats.checkpoints++;
  }

  private async writeCheckpointFile(checkpoint: Checkpoint): Promise<void> {
    const json = new TextEncoder().encode(JSON.stringify(checkpoint));
    const header = new Uint8Array(12);
    header.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
    new DataView(header.buffer).setUint32(8, crc32c(json), true);
    const temporary = joinPath(this.directory, 'checkpoint.tmp');
    const file = await this.fileSystem.open(temporary, { write: true, create: true });
    try {
      await file.truncate(0);
      await file.write([header, json], 0);
      await file.sync();
    } finally {
      await file.close();
    }
    await this.fileSystem.rename(temporary, joinPath(this.directory, 'checkpoint'));
    await this.fileSystem.syncDirectory(this.directory);
  }

  private async readCheckpointFile(): Promise<Checkpoint | null> {
    const path = joinPath(this.directory, 'checkpoint');
    if (!(await this.fileSystem.exists(path))) return null;
    const bytes = await this.fileSystem.readFile(path);
    if (bytes.byteLength < 12) throw new FerryError('CORRUPT_DATA', `${path}: checkpoint is truncated (${bytes.byteLength} bytes)`);
    const magic = new TextDecoder().decode(bytes.subarray(0, 8));
    if (magic.slice(0, 6) !== CHECKPOINT_MAGIC.slice(0, 6)) throw new FerryError('CORRUPT_DATA', `${path}: not a Ferry checkpoint`);
    if (magic !== CHECKPOINT_MAGIC) throw new FerryError('UNKNOWN_FORMAT_VERSION', `${path}: checkpoint format ${JSON.stringify(magic.trim())}`);
    const json = bytes.subarray(12);
    if (new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true) !== crc32c(json)) {
      throw new FerryError('CORRUPT_DATA', `${path}: checkpoint checksum mismatch`);
    }
    const checkpoint = JSON.parse(new TextDecoder().decode(json)) as Checkpoint;
    if (!CHECKPOINT_FORMAT_VERSIONS_READ.includes(checkpoint.formatVersion)) {
      throw new FerryError('UNKNOWN_FORMAT_VERSION', `${path}: checkpoint format version ${checkpoint.formatVersion}`);
    }
    return checkpoint;
  }

  // ---------------------------------------------------------------- recovery

  private async recover(): Promise<void> {
    const startedMs = this.clock.monotonicMs();
    await this.fileSystem.mkdir(this.journalDirectory);
    await this.fileSystem.mkdir(this.logsDirectory);
    const checkpointRead = await this.readCheckpointFile();
    let checkpoint = checkpointRead;
    // The journal is read, and its references resolved, before any segment file is cut or deleted.
    for (const name of await this.fileSystem.readdir(this.journalDirectory)) {
      if (name.endsWith(`.jnl${JOURNAL_TEMPORARY_SUFFIX}`)) await this.fileSystem.unlink(joinPath(this.journalDirectory, name));
    }
    const sequences = (await this.fileSystem.readdir(this.journalDirectory))
      .map(parseJournalFileName)
      .filter((sequence): sequence is number => sequence !== undefined)
      .sort((a, b) => a - b);
    let firstSequence = checkpoint?.journalSequence ?? sequences[0] ?? 1;
    let scans: { sequence: number; scan: JournalScan }[] = [];
    for (const sequence of sequences.filter((sequence) => sequence >= firstSequence)) {
      const path = joinPath(this.journalDirectory, `${String(sequence).padStart(20, '0')}.jnl`);
      scans.push({ sequence, scan: await readJournalFile(this.fileSystem, path, sequence) });
    }
    // A replacement an earlier recovery renamed into place but did not yet name in a checkpoint.
    const newest = scans[scans.length - 1];
    if (newest && newest.scan.replacesFromSequence > 0 && newest.scan.replacesFromSequence <= firstSequence) {
      scans = [newest];
      firstSequence = newest.sequence;
    }
    for (const [position, { sequence, scan }] of scans.entries()) {
      if (position === scans.length - 1 || scan.stoppedBecause === 'header is torn') continue;
      // Every file before the newest was finished: version 4 ends with END, older versions at the end of the file.
      if (scan.version >= 4 ? !scan.finished : scan.stoppedBecause !== null) {
        const path = joinPath(this.journalDirectory, `${String(sequence).padStart(20, '0')}.jnl`);
        throw new FerryError('CORRUPT_DATA', `${path}: ${scan.stoppedBecause ?? 'no END entry'} at byte ${scan.validBytes}, before the last journal file`);
      }
    }
    const replayedFiles = scans.length;
    let replayedEntries = 0;
    let tailDropped = 0;
    let cutEntries = 0;
    for (const { scan } of scans) {
      replayedEntries += scan.entries.length;
      if (scan.stoppedBecause !== null && !scan.finished) tailDropped += scan.fileBytes - scan.validBytes;
    }
    if (scans.some(({ scan }) => scan.entries.some((entry) => entry.kind === JournalEntryKind.appendReference))) {
      const { entries, entriesCut } = await this.resolveReferences(checkpoint, scans);
      cutEntries = entriesCut;
      const sequence = Math.max(0, ...sequences) + 1;
      await writeReplacementJournalFile(this.fileSystem, this.journalDirectory, sequence, firstSequence, entries);
      checkpoint = {
        formatVersion: CHECKPOINT_FORMAT_VERSION,
        journalSequence: sequence,
        nextLogId: checkpoint?.nextLogId ?? 1,
        logs: checkpoint?.logs ?? [],
      };
      // From here on recovery may cut and delete segment files: no replayed entry refers to them.
      await this.writeCheckpointFile(checkpoint);
      sequences.push(sequence);
      scans = [{ sequence, scan: { entries, validBytes: 0, fileBytes: 0, stoppedBecause: null, replacesFromSequence: firstSequence, version: JOURNAL_FORMAT_VERSION, finished: true } }];
      firstSequence = sequence;
    }
    const segmentsTruncated: { log: string; bytes: number }[] = [];
    const missing = new Set<FileLog>();
    if (checkpoint) {
      this.nextLogId = checkpoint.nextLogId;
      for (const state of checkpoint.logs) {
        const log = await this.loadLog(state);
        if (log === null) {
          // Its directory is gone: fine only if the journal deletes the log. Nothing is created on disk for it.
          const directory = joinPath(this.logsDirectory, String(state.id));
          const segment = Segment.create(this.fileSystem, directory, state.endOffset, this.indexIntervalBytes);
          const placeholder = new FileLog(this, state.id, state.name, directory, decodeOptions(state.options), [segment], state.endOffset);
          this.register(placeholder);
          missing.add(placeholder);
        }
      }
    }
    // Directories of logs created after the checkpoint are rebuilt from the journal.
    const missingIds = new Set([...missing].map((log) => String(log.id)));
    for (const name of await this.fileSystem.readdir(this.logsDirectory)) {
      if (missingIds.has(name)) continue;
      if (!this.logsById.has(Number(name))) await this.fileSystem.removeTree(joinPath(this.logsDirectory, name));
    }
    for (const { scan } of scans) {
      for (const entry of scan.entries) await this.replay(entry, missing);
    }
    if (missing.size > 0) {
      const names = [...missing].map((log) => log.name).join(', ');
      throw new FerryError('CORRUPT_DATA', `the data of log(s) ${names} is missing from ${this.logsDirectory}`);
    }
    for (const log of this.logsByName.values()) this.checkContiguous(log);
    for (const [log, { paths }] of this.superseded) {
      if (log.deleted) continue;
      for (const path of paths) {
        await this.fileSystem.unlink(`${path}.seg`);
        await this.fileSystem.unlink(`${path}.idx`);
      }
    }
    this.superseded.clear();
    const lastSequence = Math.max(firstSequence - 1, ...sequences);
    // The newest file becomes an older one: finish it, so a crash before the checkpoint below finds it whole.
    const newestScan = scans[scans.length - 1];
    if (newestScan !== undefined && !newestScan.scan.finished) await this.finishRecoveredJournal(newestScan.sequence, newestScan.scan);
    await this.keepSpareJournal(lastSequence + 1);
    this.journal = await this.createJournal(lastSequence + 1);
    // Make what was replayed durable in segments, and drop the old journal files.
    const logs = [...this.logsByName.values()];
    const checkpointNow: Checkpoint = {
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      journalSequence: this.journal.sequence,
      nextLogId: this.nextLogId,
      logs: logs.map((log) => this.checkpointLogState(log)),
    };
    this.dirtyLogs.clear();
    await this.completeCheckpoint(logs, checkpointNow, null);
    this.recovery = {
      checkpointFound: checkpointRead !== null,
      journalFilesReplayed: replayedFiles,
      journalEntriesReplayed: replayedEntries,
      journalTailBytesDropped: tailDropped,
      journalEntriesCut: cutEntries,
      segmentsTruncated,
      durationMs: this.clock.monotonicMs() - startedMs,
    };
  }

  /**
   * Keeps the spare a checkpoint recycled for journal file `sequence` (the one recovery starts
   * next; a clean close leaves it), its header written again, so a restart needs no new file;
   * deletes any other spare.
   */
  private async keepSpareJournal(sequence: number): Promise<void> {
    const kept = journalFileName(sequence) + JOURNAL_SPARE_SUFFIX;
    for (const name of await this.fileSystem.readdir(this.journalDirectory)) {
      if (!name.endsWith(`.jnl${JOURNAL_SPARE_SUFFIX}`)) continue;
      if (name === kept) {
        await JournalFile.restampSpare(this.fileSystem, this.journalDirectory, sequence);
        this.spareSequence = sequence;
      } else {
        await this.fileSystem.unlink(joinPath(this.journalDirectory, name));
      }
    }
  }

  /**
   * Finishes the newest journal file found at recovery after its valid entries: an END entry
   * there (version 4), or the file cut there (older versions end where their entries end).
   */
  private async finishRecoveredJournal(sequence: number, scan: JournalScan): Promise<void> {
    const file = await this.fileSystem.open(joinPath(this.journalDirectory, journalFileName(sequence)), { write: true });
    try {
      if (scan.version >= 4) await file.write([journalEndEntry(sequence)], scan.validBytes);
      else await file.truncate(scan.validBytes);
      await file.sync();
    } finally {
      await file.close();
    }
  }

  /**
   * The entries of `scans` with every APPEND_REFERENCE resolved, for a replacement journal
   * file: a reference whose batch the checkpoint already covers is left out (replay would skip
   * it); otherwise the batch is read from its segment file and checked (length, base offset,
   * count, CRC) and becomes an APPEND. A batch that does not check out was never acknowledged
   * (see FORMAT.md), nor was any entry after it, of any log: its group did not complete, so no
   * later one did. The journal is cut there, as at a torn entry: a later entry of another log
   * (another destination of the same transaction) must not outlive it. Such a batch must lie in
   * the last journal file; anywhere else it is damage (CORRUPT_DATA). Entries of logs the kept
   * entries delete need no batch, and their appends are left out (their segment files may be
   * gone); a cut that drops a log's DELETE_LOG makes its references count again, so the cut is
   * looked for until it stays put.
   */
  private async resolveReferences(
    checkpoint: Checkpoint | null,
    scans: readonly { sequence: number; scan: JournalScan }[],
  ): Promise<{ readonly entries: JournalEntry[]; readonly entriesCut: number }> {
    const checkpointedEnd = new Map<number, number>();
    for (const log of checkpoint?.logs ?? []) checkpointedEnd.set(log.id, log.endOffset);
    const entries = scans.flatMap(({ sequence, scan }, position) => scan.entries.map((entry) => ({ entry, sequence, inLastFile: position === scans.length - 1 })));
    /** Batches read for the references, by entry index (null: not intact). */
    const batches = new Map<number, Uint8Array | null>();
    const isCovered = (logId: number, reference: BatchReference): boolean => reference.baseOffset + reference.recordCount <= (checkpointedEnd.get(logId) ?? 0);
    const deletedBefore = (end: number): Set<number> => {
      const deleted = new Set<number>();
      for (let index = 0; index < end; index++) if (entries[index]!.entry.kind === JournalEntryKind.deleteLog) deleted.add(entries[index]!.entry.logId);
      return deleted;
    };
    /** The first entry before `end` that is a reference whose batch is not intact (of a log not deleted before `end`), or `end`. */
    const firstUnverifiable = async (end: number): Promise<number> => {
      const deleted = deletedBefore(end);
      for (let index = 0; index < end; index++) {
        const { entry, sequence, inLastFile } = entries[index]!;
        if (entry.kind !== JournalEntryKind.appendReference || deleted.has(entry.logId)) continue;
        const reference = decodeReferencePayload(entry.payload);
        if (isCovered(entry.logId, reference)) continue;
        if (!batches.has(index)) batches.set(index, await this.readReferencedBatch(entry.logId, reference));
        if (batches.get(index) !== null) continue;
        if (!inLastFile) {
          throw new FerryError('CORRUPT_DATA', `journal ${sequence} references a batch of log ${entry.logId} at offset ${reference.baseOffset} that its segment does not hold, before the last journal file`);
        }
        return index;
      }
      return end;
    };
    let end = entries.length;
    for (let cut = await firstUnverifiable(end); cut < end; cut = await firstUnverifiable(end)) end = cut;
    const deleted = deletedBefore(end);
    const out: JournalEntry[] = [];
    for (let index = 0; index < end; index++) {
      const { entry } = entries[index]!;
      const appending = entry.kind === JournalEntryKind.append || entry.kind === JournalEntryKind.appendReference;
      if (deleted.has(entry.logId) && (appending || entry.kind === JournalEntryKind.truncatePrefix)) continue;
      if (entry.kind !== JournalEntryKind.appendReference) {
        out.push(entry);
      } else if (!isCovered(entry.logId, decodeReferencePayload(entry.payload))) {
        out.push({ logId: entry.logId, kind: JournalEntryKind.append, payload: batches.get(index)! });
      }
    }
    return { entries: out, entriesCut: entries.length - end };
  }

  /** The batch a reference names, read from its segment file; null when it is not there intact. */
  private async readReferencedBatch(logId: number, reference: BatchReference): Promise<Uint8Array | null> {
    const path = joinPath(this.logsDirectory, String(logId), segmentFileName(reference.segmentBase));
    if (!(await this.fileSystem.exists(path))) return null;
    const file = await this.fileSystem.open(path, { write: false });
    try {
      const bytes = new Uint8Array(reference.lengthBytes);
      let done = 0;
      while (done < bytes.byteLength) {
        const count = await file.read(bytes, done, bytes.byteLength - done, reference.position + done);
        if (count === 0) return null;
        done += count;
      }
      const check = checkBatch(bytes, 0);
      if (check.kind !== 'ok') return null;
      const crc = new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(4, true);
      const { header } = check;
      const intact =
        header.lengthBytes === reference.lengthBytes &&
        header.baseOffset === reference.baseOffset &&
        header.recordCount === reference.recordCount &&
        crc === reference.batchCrc;
      return intact ? bytes : null;
    } finally {
      await file.close();
    }
  }

  /** Loads a log recorded in the checkpoint; null when its directory is gone. */
  private async loadLog(state: CheckpointLog): Promise<FileLog | null> {
    const directory = joinPath(this.logsDirectory, String(state.id));
    if (!(await this.fileSystem.exists(directory))) return null;
    const bases = new Map<number, { seg: boolean; idx: boolean }>();
    for (const name of await this.fileSystem.readdir(directory)) {
      // A compaction's copy that a crash left before its rename: the segment itself is intact.
      if (name.endsWith(COMPACTING_FILE_SUFFIX)) {
        await this.fileSystem.unlink(joinPath(directory, name));
        continue;
      }
      const seg = parseSegmentFileName(name, '.seg');
      const idx = parseSegmentFileName(name, '.idx');
      const base = seg ?? idx;
      if (base === undefined) continue;
      const entry = bases.get(base) ?? { seg: false, idx: false };
      if (seg !== undefined) entry.seg = true;
      else entry.idx = true;
      bases.set(base, entry);
    }
    const segments: Segment[] = [];
    /** Sealed segments whose index file was missing or damaged (a crash during compaction leaves one so). */
    const unindexed: Segment[] = [];
    /** Files (paths without extension) replaced by replay; deleted once recovery checked the log. */
    const superseded: string[] = [];
    let damage: string | null = null;
    const sorted = [...bases.entries()].sort((a, b) => a[0] - b[0]);
    for (const [base, files] of sorted) {
      const path = joinPath(directory, `${String(base).padStart(20, '0')}`);
      // Segments written after the checkpoint, and orphaned index files, are rebuilt by replay.
      const stale = base > state.activeBaseOffset || !files.seg;
      // Segments wholly below the start offset were dropped; their deletion may not have happened.
      const dropped = base < state.activeBaseOffset && sorted.some(([other]) => other > base && other <= state.startOffset);
      if (stale || dropped) {
        await this.fileSystem.unlink(`${path}.seg`);
        await this.fileSystem.unlink(`${path}.idx`);
        continue;
      }
      const active = base === state.activeBaseOffset;
      if (active) {
        let opened: Awaited<ReturnType<typeof Segment.open>>;
        try {
          opened = await Segment.open(this.fileSystem, directory, base, this.indexIntervalBytes, { sealed: false, lengthBytes: state.activeBytes });
        } catch (error) {
          if (!isFerryError(error, 'CORRUPT_DATA')) throw error;
          // A header that never reached the disk: the same case as a short segment below.
          damage = segmentDamage(path, error);
          superseded.push(path);
          continue;
        }
        const { segment, scan } = opened;
        if (scan && scan.validBytes < state.activeBytes) {
          // A checkpoint fsyncs `activeBytes` of its active segment, unless a truncatePrefix dropped
          // the segment between the checkpoint's start and its end (dropped segments are neither
          // written nor synced). Replay decides: the journal then moves the start past it; anything
          // else is damage, which checkContiguous reports before a file is deleted.
          damage = `${segment.path}: only ${scan.validBytes} of its ${state.activeBytes} checkpointed bytes are intact (${scan.stoppedBecause ?? 'file too short'})`;
          await segment.close();
          superseded.push(path);
          continue;
        }
        segments.push(segment);
      } else {
        let opened: Awaited<ReturnType<typeof Segment.open>>;
        try {
          opened = await Segment.open(this.fileSystem, directory, base, this.indexIntervalBytes, { sealed: true });
        } catch (error) {
          if (!isFerryError(error, 'CORRUPT_DATA')) throw error;
          // Like a short active segment: a checkpoint syncs the segments its log holds when it
          // ends, so one that a truncatePrefix dropped meanwhile may be short, and its unlink may
          // not have survived a crash. Replay decides: the journal must move the start past it
          // (and so past every older segment); anything else is damage, reported by checkContiguous.
          damage = segmentDamage(path, error);
          for (const older of segments.splice(0)) {
            await older.close();
            superseded.push(older.path.replace(/\.seg$/, ''));
          }
          superseded.push(path);
          continue;
        }
        segments.push(opened.segment);
        if (opened.scan !== null) unindexed.push(opened.segment);
      }
    }
    if (segments.length === 0 || segments[segments.length - 1]!.sealed) {
      // The checkpoint's active segment is gone (or short): it was sealed and dropped by a
      // truncatePrefix after the checkpoint, so every older segment was dropped too (their unlink
      // may not have happened). Replay rebuilds everything from the checkpoint's end offset and
      // moves the start offset; the old files go once checkContiguous has confirmed that.
      for (const segment of segments.splice(0)) {
        await segment.close();
        superseded.push(segment.path.replace(/\.seg$/, ''));
      }
      segments.push(Segment.create(this.fileSystem, directory, state.endOffset, this.indexIntervalBytes));
    }
    const log = new FileLog(this, state.id, state.name, directory, decodeOptions(state.options), segments, state.startOffset);
    this.register(log);
    // The checkpoint that ends recovery writes their index, so the next open need not scan them.
    for (const segment of unindexed) if (segments.includes(segment)) this.sealedPending.add({ log, segment });
    if (superseded.length > 0) this.superseded.set(log, { paths: superseded, damage });
    return log;
  }

  private async replay(entry: JournalEntry, missing: Set<FileLog>): Promise<void> {
    switch (entry.kind) {
      case JournalEntryKind.createLog: {
        const { name, options } = JSON.parse(new TextDecoder().decode(entry.payload)) as { name: string; options: Record<string, number | null> };
        if (this.logsById.has(entry.logId)) return; // Created before the checkpoint.
        await this.materializeLog(entry.logId, name, decodeOptions(options), 0);
        this.nextLogId = Math.max(this.nextLogId, entry.logId + 1);
        return;
      }
      case JournalEntryKind.deleteLog: {
        const log = this.logsById.get(entry.logId);
        if (!log) return;
        this.logsById.delete(log.id);
        this.logsByName.delete(log.name);
        this.dirtyLogs.delete(log);
        missing.delete(log);
        log.deleted = true;
        for (const segment of log.segments) await segment.close();
        await this.fileSystem.removeTree(log.directory);
        return;
      }
      case JournalEntryKind.truncatePrefix: {
        const log = this.requireLog(entry.logId);
        log.recoverStartOffset(decodeOffsetPayload(entry.payload));
        return;
      }
      case JournalEntryKind.append: {
        const log = this.requireLog(entry.logId);
        const header = readBatchHeader(entry.payload);
        const end = log.endOffset();
        if (header.baseOffset + header.recordCount <= end) return; // In the segment already.
        if (header.baseOffset !== end) {
          throw new FerryError('CORRUPT_DATA', `journal batch at offset ${header.baseOffset} for log ${log.name} leaves a gap after ${end}`);
        }
        // The entry's view into the journal buffer is copied so the big buffer can be freed.
        log.appendEncoded(entry.payload.slice());
        return;
      }
      case JournalEntryKind.records: {
        for (const run of decodeRecordRuns(entry.payload)) {
          const log = this.requireLog(run.logId);
          const end = log.endOffset();
          if (run.baseOffset + run.count <= end) continue; // In the segment already.
          if (run.baseOffset > end) {
            throw new FerryError('CORRUPT_DATA', `journal run at offset ${run.baseOffset} for log ${log.name} leaves a gap after ${end}`);
          }
          log.appendEncoded(batchOfRun(run, end));
        }
        return;
      }
      case JournalEntryKind.appendReference:
        assert(false, 'recovery resolves every APPEND_REFERENCE before replay');
        return;
    }
  }

  private requireLog(id: number): FileLog {
    const log = this.logsById.get(id);
    if (!log) throw new FerryError('CORRUPT_DATA', `journal names log ${id}, which does not exist`);
    return log;
  }

  private checkContiguous(log: FileLog): void {
    if (log.startOffset() < log.segments[0]!.baseOffset) {
      const why = this.superseded.get(log)?.damage;
      throw new FerryError('CORRUPT_DATA', `log ${log.name}: records from ${log.startOffset()} to ${log.segments[0]!.baseOffset} are missing${why ? ` (${why})` : ''}`);
    }
    for (let i = 1; i < log.segments.length; i++) {
      const previous = log.segments[i - 1]!;
      const segment = log.segments[i]!;
      if (previous.endOffset !== segment.baseOffset) {
        throw new FerryError('CORRUPT_DATA', `log ${log.name}: segment ${previous.path} ends at ${previous.endOffset} but the next starts at ${segment.baseOffset}`);
      }
    }
  }

  // ---------------------------------------------------------------- close

  /** Flushes, checkpoints, closes files and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    for (const timer of this.timers) timer.cancel();
    this.deferredTimer?.cancel();
    if (this.failure === null) {
      try {
        await this.checkpoint();
        // appendEmpty offsets taken while it ran are held as counts, in no journal entry: write them.
        for (let pass = 0; pass < CLOSE_EMPTY_PASSES_MAX && this.logsWithEmptyPending.size > 0; pass++) {
          this.writeEmptyPending();
          await this.flush();
        }
      } catch (error) {
        if (!isFerryError(error, 'STORAGE_CLOSED')) throw error;
      }
    }
    for (const log of this.logsByName.values()) await log.compactionSettled();
    await this.idle();
    this.closed = true;
    await this.settleBackground();
    for (const log of this.logsByName.values()) for (const segment of log.segments) await segment.close().catch(() => undefined);
    await this.journal?.close().catch(() => undefined);
    await this.lock?.release();
  }

  /**
   * Test hook: stops the store as a kill -9 would (no flush, no checkpoint),
   * releasing the directory lock the dead process would no longer hold.
   */
  abandon(): void {
    this.closed = true;
    this.fail(new FerryError('STORAGE_CLOSED', 'the store was abandoned'));
    for (const timer of this.timers) timer.cancel();
    const lock = this.lock;
    this.fileSystem.fence();
    void lock?.release();
  }

  /** Resolves when no commit, checkpoint or background write is running. */
  private async idle(): Promise<void> {
    while (this.committing || this.commitScheduled || this.commitsInFlight.length > 0 || this.checkpointRunning || this.backgroundWork.size > 0) {
      await this.lastCommit;
      if (this.checkpointRunning) await this.checkpointRunning;
      await this.settleBackground();
      await new Promise<void>((resolve) => this.clock.runSoon(resolve));
    }
  }

  /** Number of logs. */
  logCount(): number {
    return this.logsByName.size;
  }

}

function encodeOptions(options: Required<LogOptions>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [key, value] of Object.entries(options)) out[key] = Number.isFinite(value) ? value : null;
  return out;
}

function decodeOptions(options: Record<string, number | null>): Required<LogOptions> {
  const out: Record<string, number> = { ...LOG_OPTION_DEFAULTS };
  for (const [key, value] of Object.entries(options)) out[key] = value === null ? Number.POSITIVE_INFINITY : value;
  return out as Required<LogOptions>;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

assert(FILE_LOG_STORE_DEFAULTS.indexIntervalBytes > 0, 'index interval is positive');
