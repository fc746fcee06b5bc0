/**
 * Storage macro benchmark: FileLogStore on the real disk, one JSON line per
 * scenario on stdout (`{"scenario": ..., "cores": ..., ...fields}`) and
 * nothing else there; progress goes to stderr.
 *
 *   node dist/bench/storage.bench.js [--quick] [--scenario name[,name...]]
 *
 * `--quick` runs every scenario at a tiny size (seconds, for CI, so the
 * benchmark cannot rot); its figures are not comparable with the targets,
 * so quick lines carry `"met": null`. Data goes to a temporary directory
 * under os.tmpdir() (same disk as production data is assumed to be),
 * removed after each scenario and on exit.
 *
 * Units: MB is 2^20 bytes; "payload" bytes are record values only, without
 * batch, record or journal overhead. Every scenario counts the store's I/O
 * per file kind through {@link CountingFileSystem}, so each line also says
 * how many writes and fsyncs the figure cost.
 *
 * Two scenarios run in child processes: `recovery-1g` (bench/storage-recovery-child.ts
 * writes and is killed with SIGKILL) and `memory-2m` (this file again, with
 * `--memory-child`, under --expose-gc, so earlier scenarios do not pollute RSS).
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Durability, Log, RecordInput } from '../src/core/ports.js';
import { SystemClock } from '../src/platform/clock.js';
import type { FileHandle, FileLock, FileSystem, OpenOptions } from '../src/platform/file-system.js';
import { NodeFileSystem } from '../src/platform/node-file-system.js';
import { FileLogStore, type FileLogStoreOptions } from '../src/storage/file-log-store.js';
import { JOURNAL_ENTRY_HEADER_BYTES } from '../src/storage/journal.js';
import { encodeBatch } from '../src/storage/record-batch.js';
import { patternBytes, progress, round, runScenarios, scenarioWithTargets } from './scenario-runner.js';

const MB = 1024 * 1024;
const KIB = 1024;

// ---------------------------------------------------------------- I/O counting

/** What kind of store file an I/O went to, judged from its path. */
type FileKind = 'journal' | 'segment' | 'index' | 'other';
const FILE_KINDS: readonly FileKind[] = ['journal', 'segment', 'index', 'other'];

/** I/O counts of one file kind. */
interface KindCounters {
  writes: number;
  writeBytes: number;
  syncs: number;
  reads: number;
  readBytes: number;
}

type IoCounters = Record<FileKind, KindCounters>;

function newIoCounters(): IoCounters {
  const counters = {} as IoCounters;
  for (const kind of FILE_KINDS) counters[kind] = { writes: 0, writeBytes: 0, syncs: 0, reads: 0, readBytes: 0 };
  return counters;
}

function copyIoCounters(counters: IoCounters): IoCounters {
  const copy = {} as IoCounters;
  for (const kind of FILE_KINDS) copy[kind] = { ...counters[kind] };
  return copy;
}

function subtractIoCounters(after: IoCounters, before: IoCounters): IoCounters {
  const difference = newIoCounters();
  for (const kind of FILE_KINDS) {
    for (const field of Object.keys(difference[kind]) as (keyof KindCounters)[]) {
      difference[kind][field] = after[kind][field] - before[kind][field];
    }
  }
  return difference;
}

function fileKind(filePath: string): FileKind {
  if (filePath.endsWith('.jnl')) return 'journal';
  if (filePath.endsWith('.seg')) return 'segment';
  if (filePath.endsWith('.idx')) return 'index';
  return 'other';
}

class CountingFileHandle implements FileHandle {
  constructor(
    private readonly inner: FileHandle,
    private readonly counters: KindCounters,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  read(target: Uint8Array, targetOffset: number, length: number, position: number): Promise<number> {
    this.counters.reads++;
    return this.inner.read(target, targetOffset, length, position).then((count) => {
      this.counters.readBytes += count;
      return count;
    });
  }

  write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    this.counters.writes++;
    for (const buffer of buffers) this.counters.writeBytes += buffer.byteLength;
    return this.inner.write(buffers, position);
  }

  sync(): Promise<void> {
    this.counters.syncs++;
    return this.inner.sync();
  }

  truncate(length: number): Promise<void> {
    return this.inner.truncate(length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A FileSystem that passes every call to another and counts writes, bytes
 * and fsyncs per file kind. Costs one extra call per I/O, far below the I/O.
 */
class CountingFileSystem implements FileSystem {
  readonly counters = newIoCounters();

  constructor(private readonly inner: FileSystem) {}

  mkdir(directory: string): Promise<void> {
    return this.inner.mkdir(directory);
  }

  readdir(directory: string): Promise<string[]> {
    return this.inner.readdir(directory);
  }

  exists(filePath: string): Promise<boolean> {
    return this.inner.exists(filePath);
  }

  async open(filePath: string, options: OpenOptions): Promise<FileHandle> {
    return new CountingFileHandle(await this.inner.open(filePath, options), this.counters[fileKind(filePath)]);
  }

  readFile(filePath: string): Promise<Uint8Array> {
    return this.inner.readFile(filePath).then((bytes) => {
      const counters = this.counters[fileKind(filePath)];
      counters.reads++;
      counters.readBytes += bytes.byteLength;
      return bytes;
    });
  }

  unlink(filePath: string): Promise<void> {
    return this.inner.unlink(filePath);
  }

  removeTree(directory: string): Promise<void> {
    return this.inner.removeTree(directory);
  }

  rename(source: string, target: string): Promise<void> {
    return this.inner.rename(source, target);
  }

  syncDirectory(directory: string): Promise<void> {
    this.counters.other.syncs++;
    return this.inner.syncDirectory(directory);
  }

  lock(filePath: string): Promise<FileLock> {
    return this.inner.lock(filePath);
  }
}

// ---------------------------------------------------------------- helpers


function recordsOf(count: number, valueBytes: number): RecordInput[] {
  const value = patternBytes(valueBytes, 1);
  return Array.from({ length: count }, () => ({ value, key: null }));
}

function openStore(directory: string, durability: Durability, fileSystem: FileSystem, extra: Partial<FileLogStoreOptions> = {}): Promise<FileLogStore> {
  return FileLogStore.open({ fileSystem, clock: new SystemClock(), directory, durability, flushIntervalMs: 200, ...extra });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a measured phase cost: wall time, CPU, event-loop use, store stats and I/O. */
interface PhaseCost {
  readonly elapsedMs: number;
  readonly cpuMs: number;
  readonly eventLoopUtilization: number;
  readonly stats: FileLogStore['stats'];
  readonly io: IoCounters;
}

/** Runs `work` and reports what it cost; `store` and `fileSystem` give stats and I/O deltas. */
async function measurePhase<T>(store: FileLogStore, fileSystem: CountingFileSystem, work: () => Promise<T>): Promise<{ value: T; cost: PhaseCost }> {
  const statsBefore = { ...store.stats };
  const ioBefore = copyIoCounters(fileSystem.counters);
  const cpuBefore = process.cpuUsage();
  const loopBefore = performance.eventLoopUtilization();
  const startMs = performance.now();
  const value = await work();
  const elapsedMs = performance.now() - startMs;
  const cpu = process.cpuUsage(cpuBefore);
  const loop = performance.eventLoopUtilization(loopBefore);
  const stats = { ...store.stats };
  for (const key of Object.keys(stats) as (keyof typeof stats)[]) stats[key] -= statsBefore[key];
  return {
    value,
    cost: {
      elapsedMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      eventLoopUtilization: loop.utilization,
      stats,
      io: subtractIoCounters(fileSystem.counters, ioBefore),
    },
  };
}

/**
 * Runs `appendersPerLog` loops on every log, each awaiting one append of
 * `batch` before the next, until `durationMs` passes; returns records appended.
 */
async function runAppenders(logs: readonly Log[], appendersPerLog: number, batch: readonly RecordInput[], durationMs: number): Promise<number> {
  const deadlineMs = performance.now() + durationMs;
  let records = 0;
  const loops: Promise<void>[] = [];
  for (const log of logs) {
    for (let i = 0; i < appendersPerLog; i++) {
      loops.push(
        (async () => {
          while (performance.now() < deadlineMs) {
            await log.append(batch);
            records += batch.length;
          }
        })(),
      );
    }
  }
  await Promise.all(loops);
  return records;
}

/** Compact per-second I/O figures of a phase for the result line. */
function ioSummary(cost: PhaseCost): Record<string, number> {
  const seconds = cost.elapsedMs / 1000;
  return {
    journalWritesPerSec: round(cost.io.journal.writes / seconds, 1),
    journalSyncsPerSec: round(cost.io.journal.syncs / seconds, 1),
    journalMBPerSec: round(cost.io.journal.writeBytes / MB / seconds, 1),
    segmentWritesPerSec: round(cost.io.segment.writes / seconds, 1),
    segmentMBPerSec: round(cost.io.segment.writeBytes / MB / seconds, 1),
    segmentSyncs: cost.io.segment.syncs,
    checkpoints: cost.stats.checkpoints,
    cpuPercent: round((100 * cost.cpuMs) / cost.elapsedMs, 1),
    eventLoopUtilization: round(cost.eventLoopUtilization, 3),
  };
}

// ---------------------------------------------------------------- scenarios

interface BenchSettings {
  readonly quick: boolean;
  /** A fresh directory for this scenario, removed after it. */
  readonly directory: string;
}

/** A scenario's headline field and its full-size target. */

/**
 * 64 appenders, each awaiting an append of one 1 KiB record before the next,
 * durability `always`, against a raw loop of fs.write + fs.fdatasync of the
 * same bytes per round (64 records as the journal encodes them). The two
 * alternate in halves so a noisy neighbour hits both alike.
 */
async function appendAlways(settings: BenchSettings): Promise<Record<string, unknown>> {
  const appenders = 64;
  const valueBytes = 1024;
  const halfMs = settings.quick ? 250 : 2500;
  const warmupMs = settings.quick ? 100 : 1000;
  const fileSystem = new CountingFileSystem(new NodeFileSystem());
  const store = await openStore(path.join(settings.directory, 'store'), 'always', fileSystem);
  const log = await store.openLog('bench');
  const batch = recordsOf(1, valueBytes);

  // The warm-up also measures the journal bytes per record (for the report). The raw rounds carry
  // each record as a journal APPEND entry holds it (entry header and batch), whether the store
  // writes it to the journal or, in large groups, to its segment file with a reference in the journal.
  const warmup = await measurePhase(store, fileSystem, () => runAppenders([log], appenders, batch, warmupMs));
  const journalBytesPerRecord = warmup.cost.io.journal.writeBytes / warmup.value;
  const recordBytes = encodeBatch(batch, 0, 0, 0, null).byteLength + JOURNAL_ENTRY_HEADER_BYTES;
  const roundBytes = recordBytes * appenders;
  progress(`append-1k-always: ${journalBytesPerRecord.toFixed(1)} journal bytes per record, raw rounds of ${roundBytes} bytes`);

  const rawPath = path.join(settings.directory, 'raw.dat');
  const rawFd = fs.openSync(rawPath, 'w');
  const rawBuffer = Buffer.from(patternBytes(roundBytes, 2));
  let rawPosition = 0;
  const rawLoop = (durationMs: number): Promise<{ rounds: number; elapsedMs: number }> =>
    new Promise((resolve, reject) => {
      const startMs = performance.now();
      const deadlineMs = startMs + durationMs;
      let rounds = 0;
      const next = (): void => {
        if (performance.now() >= deadlineMs) {
          resolve({ rounds, elapsedMs: performance.now() - startMs });
          return;
        }
        fs.write(rawFd, rawBuffer, 0, rawBuffer.byteLength, rawPosition, (writeError, written) => {
          if (writeError) return reject(writeError);
          if (written !== rawBuffer.byteLength) return reject(new Error(`short raw write: ${written}`));
          rawPosition += written;
          fs.fdatasync(rawFd, (syncError) => {
            if (syncError) return reject(syncError);
            rounds++;
            next();
          });
        });
      };
      next();
    });

  let storeRecords = 0;
  let storeMs = 0;
  let rawRounds = 0;
  let rawMs = 0;
  const costs: PhaseCost[] = [];
  try {
    for (let half = 0; half < 2; half++) {
      const phase = await measurePhase(store, fileSystem, () => runAppenders([log], appenders, batch, halfMs));
      storeRecords += phase.value;
      storeMs += phase.cost.elapsedMs;
      costs.push(phase.cost);
      // Untimed: finish the store's background segment writes and checkpoint, so they do not slow the raw loop.
      await store.checkpoint();
      const raw = await rawLoop(halfMs);
      rawRounds += raw.rounds;
      rawMs += raw.elapsedMs;
    }
  } finally {
    fs.closeSync(rawFd);
    await store.close();
  }
  const cost = sumCosts(costs);
  const recordsPerSec = storeRecords / (storeMs / 1000);
  const rawRecordsPerSec = (rawRounds * appenders) / (rawMs / 1000);
  return {
    ratioToRaw: round(recordsPerSec / rawRecordsPerSec),
    MBPerSec: round((recordsPerSec * valueBytes) / MB, 1),
    rawMBPerSec: round((rawRecordsPerSec * valueBytes) / MB, 1),
    recordsPerSec: Math.round(recordsPerSec),
    rawRecordsPerSec: Math.round(rawRecordsPerSec),
    rawRoundsPerSec: round(rawRounds / (rawMs / 1000), 1),
    journalBytesPerRecord: round(journalBytesPerRecord, 1),
    recordsPerJournalSync: round(storeRecords / Math.max(1, cost.io.journal.syncs), 1),
    appenders,
    seconds: round(storeMs / 1000, 2),
    ...ioSummary(cost),
  };
}

function sumCosts(costs: readonly PhaseCost[]): PhaseCost {
  const io = newIoCounters();
  const stats = { journalWrites: 0, journalSyncs: 0, checkpoints: 0, segmentWrites: 0, referencedBatches: 0 };
  let elapsedMs = 0;
  let cpuMs = 0;
  let busyMs = 0;
  for (const cost of costs) {
    elapsedMs += cost.elapsedMs;
    cpuMs += cost.cpuMs;
    busyMs += cost.eventLoopUtilization * cost.elapsedMs;
    for (const key of Object.keys(stats) as (keyof typeof stats)[]) stats[key] += cost.stats[key];
    for (const kind of FILE_KINDS) {
      for (const field of Object.keys(io[kind]) as (keyof KindCounters)[]) io[kind][field] += cost.io[kind][field];
    }
  }
  return { elapsedMs, cpuMs, eventLoopUtilization: busyMs / Math.max(elapsedMs, 1), stats, io };
}

/** One appender looping over batches of 1,000 records of 100 B, durability `interval`. */
async function appendBatch(settings: BenchSettings): Promise<Record<string, unknown>> {
  const batchRecords = 1000;
  const valueBytes = 100;
  const durationMs = settings.quick ? 500 : 5000;
  const warmupMs = settings.quick ? 100 : 1000;
  const fileSystem = new CountingFileSystem(new NodeFileSystem());
  const store = await openStore(path.join(settings.directory, 'store'), 'interval', fileSystem);
  try {
    const log = await store.openLog('bench');
    const batch = recordsOf(batchRecords, valueBytes);
    await runAppenders([log], 1, batch, warmupMs);
    const phase = await measurePhase(store, fileSystem, () => runAppenders([log], 1, batch, durationMs));
    const recordsPerSec = phase.value / (phase.cost.elapsedMs / 1000);
    return {
      recordsPerSec: Math.round(recordsPerSec),
      MBPerSec: round((recordsPerSec * valueBytes) / MB, 1),
      batchesPerSec: round(recordsPerSec / batchRecords, 1),
      batchRecords,
      appenders: 1,
      seconds: round(phase.cost.elapsedMs / 1000, 2),
      ...ioSummary(phase.cost),
    };
  } finally {
    await store.close();
  }
}

/**
 * 1,000 logs with one appender each (one 100 B record per append, durability
 * `always`) against one log with 1,000 appenders, in the same run.
 */
async function appendManyLogs(settings: BenchSettings): Promise<Record<string, unknown>> {
  const logCount = settings.quick ? 100 : 1000;
  const valueBytes = 100;
  const durationMs = settings.quick ? 400 : 5000;
  const warmupMs = settings.quick ? 100 : 1000;
  const batch = recordsOf(1, valueBytes);

  const runCase = async (name: string, logsWanted: number, appendersPerLog: number) => {
    const fileSystem = new CountingFileSystem(new NodeFileSystem());
    const store = await openStore(path.join(settings.directory, name), 'always', fileSystem);
    try {
      const openStartMs = performance.now();
      const logs = await Promise.all(Array.from({ length: logsWanted }, (_, i) => store.openLog(`log-${i}`)));
      const openMs = performance.now() - openStartMs;
      await runAppenders(logs, appendersPerLog, batch, warmupMs);
      const phase = await measurePhase(store, fileSystem, () => runAppenders(logs, appendersPerLog, batch, durationMs));
      return { records: phase.value, cost: phase.cost, openMs };
    } finally {
      await store.close();
    }
  };

  progress(`append-1000-logs: 1 log x ${logCount} appenders`);
  const single = await runCase('single', 1, logCount);
  progress(`append-1000-logs: ${logCount} logs x 1 appender`);
  const many = await runCase('many', logCount, 1);
  const manyPerSec = many.records / (many.cost.elapsedMs / 1000);
  const singlePerSec = single.records / (single.cost.elapsedMs / 1000);
  const singleSummary = ioSummary(single.cost);
  return {
    ratioToSingleLog: round(manyPerSec / singlePerSec),
    recordsPerSec: Math.round(manyPerSec),
    singleLogRecordsPerSec: Math.round(singlePerSec),
    fsyncsPerSec: round((many.cost.io.journal.syncs + many.cost.io.segment.syncs) / (many.cost.elapsedMs / 1000), 1),
    singleLogFsyncsPerSec: round((single.cost.io.journal.syncs + single.cost.io.segment.syncs) / (single.cost.elapsedMs / 1000), 1),
    recordsPerJournalSync: round(many.records / Math.max(1, many.cost.io.journal.syncs), 1),
    singleLogRecordsPerJournalSync: round(single.records / Math.max(1, single.cost.io.journal.syncs), 1),
    logs: logCount,
    openLogsSeconds: round(many.openMs / 1000, 2),
    ...ioSummary(many.cost),
    singleLog: Object.fromEntries(
      ['segmentWritesPerSec', 'segmentMBPerSec', 'cpuPercent', 'eventLoopUtilization', 'journalWritesPerSec'].map((key) => [key, singleSummary[key]]),
    ),
  };
}

/** Appends `bytesTotal` of 1 KiB records in batches of 100 with a few appends in flight; returns records. */
async function fillLog(log: Log, bytesTotal: number, valueBytes: number, batchRecords: number): Promise<number> {
  const batch = recordsOf(batchRecords, valueBytes);
  const batches = Math.ceil(bytesTotal / (valueBytes * batchRecords));
  const inFlightMax = 4;
  let issued = 0;
  const loops = Array.from({ length: inFlightMax }, async () => {
    while (issued < batches) {
      issued++;
      await log.append(batch);
    }
  });
  await Promise.all(loops);
  return batches * batchRecords;
}

/** Writes ~1 GiB (durability never), reopens, and reads it all sequentially with readBatches. */
async function readSequential(settings: BenchSettings): Promise<Record<string, unknown>> {
  const bytesTotal = settings.quick ? 20 * MB : 1024 * MB;
  const valueBytes = 1024;
  const directory = path.join(settings.directory, 'store');
  let fileSystem = new CountingFileSystem(new NodeFileSystem());
  let store = await openStore(directory, 'never', fileSystem);
  const writeStartMs = performance.now();
  const recordsWritten = await fillLog(await store.openLog('bench'), bytesTotal, valueBytes, 100);
  await store.close();
  const writeMs = performance.now() - writeStartMs;
  progress(`read-sequential: wrote ${recordsWritten} records in ${(writeMs / 1000).toFixed(1)} s`);

  fileSystem = new CountingFileSystem(new NodeFileSystem());
  const reopenStartMs = performance.now();
  store = await openStore(directory, 'never', fileSystem);
  const reopenMs = performance.now() - reopenStartMs;
  try {
    const log = store.getLog('bench');
    if (!log) throw new Error('read-sequential: the log is gone after reopen');
    const passes: { MBPerSec: number; recordsPerSec: number; cost: PhaseCost }[] = [];
    for (let pass = 0; pass < 2; pass++) {
      const phase = await measurePhase(store, fileSystem, async () => {
        let offset = log.startOffset();
        let records = 0;
        let payloadBytes = 0;
        for (;;) {
          const batches = await log.readBatches(offset, { bytesMax: MB });
          if (batches.length === 0) break;
          for (const batch of batches) {
            for (const record of batch.records) {
              if (record.offset !== offset) throw new Error(`read-sequential: offset ${record.offset} where ${offset} was due`);
              payloadBytes += record.value.byteLength;
              offset++;
              records++;
            }
          }
        }
        return { records, payloadBytes };
      });
      if (phase.value.records !== recordsWritten) throw new Error(`read-sequential: read ${phase.value.records} of ${recordsWritten} records`);
      const seconds = phase.cost.elapsedMs / 1000;
      passes.push({ MBPerSec: phase.value.payloadBytes / MB / seconds, recordsPerSec: phase.value.records / seconds, cost: phase.cost });
    }
    const first = passes[0]!;
    return {
      MBPerSec: round(first.MBPerSec, 1),
      recordsPerSec: Math.round(first.recordsPerSec),
      secondPassMBPerSec: round(passes[1]!.MBPerSec, 1),
      records: recordsWritten,
      dataMB: round((recordsWritten * valueBytes) / MB, 1),
      readSeconds: round(first.cost.elapsedMs / 1000, 2),
      segmentReads: first.cost.io.segment.reads,
      segmentReadMB: round(first.cost.io.segment.readBytes / MB, 1),
      cpuPercent: round((100 * first.cost.cpuMs) / first.cost.elapsedMs, 1),
      writeMBPerSec: round((recordsWritten * valueBytes) / MB / (writeMs / 1000), 1),
      reopenSeconds: round(reopenMs / 1000, 2),
    };
  } finally {
    await store.close();
  }
}

/** What the recovery child reports once every byte is written (see storage-recovery-child.ts). */
interface RecoveryChildReport {
  readonly kind: 'written';
  readonly records: number;
  readonly lastBatchNumber: number;
  readonly endOffset: number;
  readonly dataBytes: number;
  readonly journalFiles: number;
  readonly journalBytes: number;
  readonly checkpoints: number;
  readonly writeSeconds: number;
}

/**
 * A child appends ~1 GiB and is killed with SIGKILL once it reports the data
 * written (with at least `journalTailBytesMin` in the journal since the last
 * checkpoint); then this process times open + reading the last record.
 */
async function recovery(settings: BenchSettings): Promise<Record<string, unknown>> {
  const directory = path.join(settings.directory, 'store');
  const bytesTotal = settings.quick ? 20 * MB : 1024 * MB;
  // Quick mode uses a small journal so rotation and checkpointing happen too.
  const journalBytesMax = settings.quick ? 8 * MB : 64 * MB;
  const journalTailBytesMin = Math.floor(journalBytesMax * 0.75);
  const childPath = fileURLToPath(new URL('./storage-recovery-child.js', import.meta.url));
  const child = fork(childPath, [directory, String(bytesTotal), String(journalBytesMax), String(journalTailBytesMin)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const report = await new Promise<RecoveryChildReport>((resolve, reject) => {
    child.once('message', (message) => resolve(message as RecoveryChildReport));
    child.once('error', reject);
    void exited.then((status) => reject(new Error(`recovery child exited early (${String(status)})`)));
  });
  child.kill('SIGKILL');
  const status = await exited;
  if (status !== 'SIGKILL') throw new Error(`recovery child ended with ${String(status)}, not SIGKILL`);
  progress(
    `recovery-1g: child wrote ${(report.dataBytes / MB).toFixed(0)} MB in ${report.writeSeconds.toFixed(1)} s, ` +
      `journal ${report.journalFiles} file(s) ${(report.journalBytes / MB).toFixed(1)} MB; killed`,
  );

  const fileSystem = new CountingFileSystem(new NodeFileSystem());
  const startMs = performance.now();
  const store = await openStore(directory, 'always', fileSystem, { journalBytesMax });
  const openMs = performance.now() - startMs;
  try {
    const log = store.getLog('bench');
    if (!log) throw new Error('recovery-1g: the log is gone after recovery');
    const last = await log.read(log.endOffset() - 1, { recordsMax: 1 });
    const seconds = (performance.now() - startMs) / 1000;
    const record = last[0];
    if (!record || record.offset !== report.endOffset - 1) {
      throw new Error(`recovery-1g: last record is at ${String(record?.offset)}, expected ${report.endOffset - 1}`);
    }
    const batchNumber = new DataView(record.value.buffer, record.value.byteOffset, 8).getFloat64(0, true);
    if (batchNumber !== report.lastBatchNumber) throw new Error(`recovery-1g: last record is from batch ${batchNumber}, expected ${report.lastBatchNumber}`);
    const recovered = store.recovery!;
    return {
      seconds: round(seconds),
      openSeconds: round(openMs / 1000),
      recoveryMs: Math.round(recovered.durationMs),
      dataMB: round(report.dataBytes / MB, 1),
      records: report.records,
      journalMBReplayed: round(report.journalBytes / MB, 1),
      journalFilesReplayed: recovered.journalFilesReplayed,
      journalEntriesReplayed: recovered.journalEntriesReplayed,
      journalTailBytesDropped: recovered.journalTailBytesDropped,
      segmentsTruncated: recovered.segmentsTruncated.length,
      segmentMBRead: round(fileSystem.counters.segment.readBytes / MB, 1),
      segmentMBWritten: round(fileSystem.counters.segment.writeBytes / MB, 1),
      fsyncs: FILE_KINDS.reduce((sum, kind) => sum + fileSystem.counters[kind].syncs, 0),
      childCheckpoints: report.checkpoints,
    };
  } finally {
    await store.close();
  }
}

/** What the memory child reports. */
interface MemoryChildReport {
  readonly rssMB: number;
  readonly rssBaselineMB: number;
  readonly rssPeakMB: number;
  readonly heapUsedMB: number;
  readonly externalMB: number;
  readonly arrayBuffersMB: number;
  readonly records: number;
  readonly appendSeconds: number;
  readonly gcExposed: boolean;
}

/** 2,000,000 records of 1 KiB appended and left unconsumed, in a child so RSS is the store's alone. */
async function memory(settings: BenchSettings): Promise<Record<string, unknown>> {
  const records = settings.quick ? 20_000 : 2_000_000;
  const child = fork(fileURLToPath(import.meta.url), ['--memory-child', path.join(settings.directory, 'store'), String(records)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const report = await new Promise<MemoryChildReport>((resolve, reject) => {
    let result: MemoryChildReport | undefined;
    child.on('message', (message) => (result = message as MemoryChildReport));
    child.once('error', reject);
    child.once('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`memory child exited with ${String(code)}`))));
  });
  return { ...report };
}

/** Runs in the child forked by {@link memory}; sends one MemoryChildReport. */
async function memoryChild(directory: string, records: number): Promise<void> {
  const collect = (): void => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
  };
  const toMB = (bytes: number): number => round(bytes / MB, 1);
  const store = await openStore(directory, 'interval', new NodeFileSystem());
  const log = await store.openLog('bench');
  collect();
  const rssBaselineMB = toMB(process.memoryUsage().rss);
  const startMs = performance.now();
  const written = await fillLog(log, records * KIB, KIB, 100);
  const appendSeconds = (performance.now() - startMs) / 1000;
  // Let the segment-flush timer and background writes settle, as a broker at rest would.
  await store.flush();
  await sleep(500);
  collect();
  const usage = process.memoryUsage();
  const report: MemoryChildReport = {
    rssMB: toMB(usage.rss),
    rssBaselineMB,
    rssPeakMB: toMB(process.resourceUsage().maxRSS * 1024),
    heapUsedMB: toMB(usage.heapUsed),
    externalMB: toMB(usage.external),
    arrayBuffersMB: toMB(usage.arrayBuffers),
    records: written,
    appendSeconds: round(appendSeconds, 2),
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
  };
  await store.close();
  await new Promise<void>((resolve) => process.send!(report, () => resolve()));
  process.disconnect();
}

const SCENARIOS = [
  scenarioWithTargets('append-1k-always', [{ field: 'ratioToRaw', atLeast: 0.8 }], appendAlways),
  scenarioWithTargets('append-100b-batch', [{ field: 'recordsPerSec', atLeast: 1_000_000 }], appendBatch),
  scenarioWithTargets('append-1000-logs', [{ field: 'ratioToSingleLog', atLeast: 0.5 }], appendManyLogs),
  scenarioWithTargets('read-sequential', [{ field: 'MBPerSec', atLeast: 1000 }], readSequential),
  scenarioWithTargets('recovery-1g', [{ field: 'seconds', atMost: 2 }], recovery),
  scenarioWithTargets('memory-2m', [{ field: 'rssMB', atMost: 200 }], memory),
];

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === '--memory-child') {
    await memoryChild(argv[1]!, Number(argv[2]));
    return;
  }
  await runScenarios('storage', SCENARIOS, argv);
}

await main(process.argv.slice(2));
