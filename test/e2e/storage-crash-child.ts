/**
 * The process that storage-crash.test.ts kills with SIGKILL: it opens a
 * FileLogStore (durability `always`) and appends to three logs from several
 * concurrent appenders until it is killed, printing one line per record once
 * its append has resolved (and so is fsynced):
 *
 *   ack <log> <offset> <sequence>
 *
 * Usage: node storage-crash-child.js <directory> <run> <seed>
 *
 * `run` numbers the process among the kill rounds; it is stamped into every
 * value so the parent can tell which run wrote a record. Sequence numbers
 * continue from the last record each log holds after recovery.
 *
 * The module also exports the value codec that the parent uses to check
 * every record it reads back.
 */
import { pathToFileURL } from 'node:url';
import { FileLogStore } from '../../src/storage/file-log-store.js';
import { NodeFileSystem } from '../../src/platform/node-file-system.js';
import { SystemClock } from '../../src/platform/clock.js';
import { SeededRandom } from '../../src/platform/random.js';
import type { Log, LogOptions, RecordInput } from '../../src/core/ports.js';
import { reportErrorSynchronously, reportSynchronously } from './report-synchronously.js';

/** The logs the child writes; the index is stamped into each value. */
export const CRASH_LOG_NAMES = ['orders', 'payments', 'audit'] as const;

/**
 * CRASH_PROFILE=small (read by the test and, through the inherited environment, by the child)
 * shrinks segments, retention and journal 16-fold and checks retention every 10 ms: every kill
 * then lands amid rolls, retention drops and checkpoints. Slower (about 4 s a round); for
 * hunting, with fewer CRASH_ROUNDS.
 */
export const CRASH_PROFILE_SMALL = process.env['CRASH_PROFILE'] === 'small';
const SIZE_DIVISOR = CRASH_PROFILE_SMALL ? 16 : 1;

/**
 * Per-log options. `audit` has a byte retention limit, so retention moves
 * its start offset and deletes segments while the process is being killed.
 */
export const CRASH_LOG_OPTIONS: Readonly<Record<string, LogOptions>> = {
  orders: {},
  payments: {},
  audit: { retentionBytes: (1024 * 1024) / SIZE_DIVISOR },
};

/** Store settings: small segments and journal so rolls and checkpoints happen within one run. */
export const CRASH_STORE_SETTINGS = {
  durability: 'always' as const,
  logDefaults: { segmentBytesMax: (256 * 1024) / SIZE_DIVISOR },
  journalBytesMax: (1024 * 1024) / SIZE_DIVISOR,
  retentionCheckIntervalMs: CRASH_PROFILE_SMALL ? 10 : 50,
};

/**
 * `directWriteBytesMin` by run number: most groups write their batches straight into their
 * segment files (APPEND_REFERENCE in the journal) in some runs, few or none in others, so
 * recovery meets journals of every mix.
 */
const DIRECT_WRITE_BYTES_MIN_BY_RUN = [1024, 8 * 1024, 64 * 1024];

/** Appends in flight at any time. */
const APPENDERS = 16;
const VALUE_MAGIC = 0xf5;
/** magic u8 | log index u8 | run u16 | sequence u32, little-endian. */
const VALUE_HEADER_BYTES = 8;
const VALUE_BYTES_MIN = 10;
const VALUE_BYTES_MAX = 4096;

/** What a value says about itself. */
export interface CrashValueFacts {
  readonly logIndex: number;
  readonly run: number;
  readonly sequence: number;
}

/** A 32-bit hash of the facts, seeding the value's size, key choice and padding. */
function hashFacts(facts: CrashValueFacts): number {
  let hash = 0x811c9dc5;
  for (const part of [facts.logIndex, facts.run, facts.sequence]) {
    hash = Math.imul(hash ^ part, 0x01000193) >>> 0;
    hash = Math.imul(hash ^ (hash >>> 13), 0x5bd1e995) >>> 0;
  }
  return hash;
}

/**
 * The record the child appends for `facts`: a value of 10 B to 4 KiB (header,
 * then pseudo-random padding derived from the facts) and, for about half the
 * records, a key. Deterministic, so the parent can rebuild it from the header.
 */
export function crashRecord(facts: CrashValueFacts): { key: Uint8Array | null; value: Uint8Array } {
  const random = new SeededRandom(hashFacts(facts));
  const size = VALUE_BYTES_MIN + random.int(VALUE_BYTES_MAX - VALUE_BYTES_MIN + 1);
  const value = new Uint8Array(size);
  const view = new DataView(value.buffer);
  value[0] = VALUE_MAGIC;
  value[1] = facts.logIndex;
  view.setUint16(2, facts.run, true);
  view.setUint32(4, facts.sequence, true);
  for (let at = VALUE_HEADER_BYTES; at < size; at += 4) {
    const word = (random.next() * 0x1_0000_0000) >>> 0;
    for (let byte = 0; byte < 4 && at + byte < size; byte++) value[at + byte] = (word >>> (8 * byte)) & 0xff;
  }
  const key = random.next() < 0.5 ? new TextEncoder().encode(`key-${facts.sequence}`) : null;
  return { key, value };
}

/** Reads the header of a value; undefined when it is too short or lacks the magic byte. */
export function readCrashValueFacts(value: Uint8Array): CrashValueFacts | undefined {
  if (value.byteLength < VALUE_HEADER_BYTES || value[0] !== VALUE_MAGIC) return undefined;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return { logIndex: value[1]!, run: view.getUint16(2, true), sequence: view.getUint32(4, true) };
}

async function main(directory: string, run: number, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const directWriteBytesMin = DIRECT_WRITE_BYTES_MIN_BY_RUN[run % DIRECT_WRITE_BYTES_MIN_BY_RUN.length]!;
  const store = await FileLogStore.open({ fileSystem: new NodeFileSystem(), clock: new SystemClock(), directory, ...CRASH_STORE_SETTINGS, directWriteBytesMin });
  const logs: Log[] = [];
  const nextSequence: number[] = [];
  for (const name of CRASH_LOG_NAMES) {
    const log = await store.openLog(name, CRASH_LOG_OPTIONS[name]);
    logs.push(log);
    nextSequence.push(await sequenceAfterLastRecord(log));
  }
  reportSynchronously(`ready ${logs.map((log, index) => `${log.name}=${log.startOffset()}..${log.endOffset()}:${nextSequence[index]}`).join(' ')}\n`);

  const appender = async (): Promise<void> => {
    for (;;) {
      const logIndex = random.int(logs.length);
      const log = logs[logIndex]!;
      const count = 1 + (random.next() < 0.75 ? 0 : random.int(4));
      const records: RecordInput[] = [];
      const sequences: number[] = [];
      for (let i = 0; i < count; i++) {
        const sequence = nextSequence[logIndex]!++;
        sequences.push(sequence);
        records.push(crashRecord({ logIndex, run, sequence }));
      }
      const { baseOffset } = await log.append(records);
      reportSynchronously(sequences.map((sequence, i) => `ack ${log.name} ${baseOffset + i} ${sequence}\n`).join(''));
    }
  };
  await Promise.all(Array.from({ length: APPENDERS }, appender));
}

/** The sequence number after the one in the log's last record (0 for an empty log). */
async function sequenceAfterLastRecord(log: Log): Promise<number> {
  if (log.endOffset() === 0) return 0;
  if (log.endOffset() === log.startOffset()) {
    // Retention removed every record: offsets and sequences coincide in this test.
    return log.endOffset();
  }
  const [last] = await log.read(log.endOffset() - 1, { recordsMax: 1 });
  const facts = last ? readCrashValueFacts(last.value) : undefined;
  if (!facts) throw new Error(`log ${log.name}: the record at ${log.endOffset() - 1} does not decode`);
  return facts.sequence + 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [directory, run, seed] = process.argv.slice(2);
  if (directory === undefined || run === undefined || seed === undefined) {
    reportErrorSynchronously('usage: storage-crash-child.js <directory> <run> <seed>\n');
    process.exit(2);
  }
  main(directory, Number(run), Number(seed)).catch((error: unknown) => {
    reportErrorSynchronously(`child failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
