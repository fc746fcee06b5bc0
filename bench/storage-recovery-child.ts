/**
 * The writer half of the `recovery-1g` scenario of storage.bench.ts, run as a
 * forked child:
 *
 *   node dist/bench/storage-recovery-child.js <directory> <bytesTotal> <journalBytesMax> <journalTailBytesMin>
 *
 * It appends 1 KiB records in batches of 100 (durability `interval`) to log
 * `bench` until `bytesTotal` are written and the current journal file holds at
 * least `journalTailBytesMin` (so recovery has journal to replay after the last
 * checkpoint), fsyncs, waits until no checkpoint is in flight (one journal file
 * left), then sends one `written` report over IPC and idles until the parent
 * kills it with SIGKILL. Each record's value starts with its batch number
 * (float64, little-endian) so the parent can check it read the last one.
 * Nothing goes to stdout; progress goes to stderr.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RecordInput } from '../src/core/ports.js';
import { SystemClock } from '../src/platform/clock.js';
import { NodeFileSystem } from '../src/platform/node-file-system.js';
import { FileLogStore } from '../src/storage/file-log-store.js';

const RECORD_VALUE_BYTES = 1024;
const BATCH_RECORDS = 100;
/** Appends in flight at once: enough to keep the journal busy, few enough to stop close to the target. */
const IN_FLIGHT_MAX = 4;

/** Journal files in the store directory and the size of the newest one (the one being appended to). */
function journalState(directory: string): { files: number; newestBytes: number; totalBytes: number } {
  const journalDirectory = path.join(directory, 'journal');
  const names = fs
    .readdirSync(journalDirectory)
    .filter((name) => name.endsWith('.jnl'))
    .sort();
  let totalBytes = 0;
  let newestBytes = 0;
  for (const name of names) {
    newestBytes = fs.statSync(path.join(journalDirectory, name)).size;
    totalBytes += newestBytes;
  }
  return { files: names.length, newestBytes, totalBytes };
}

async function main(argv: readonly string[]): Promise<void> {
  const [directory, bytesTotalText, journalBytesMaxText, journalTailBytesMinText] = argv;
  if (!directory || !process.send) throw new Error('storage-recovery-child: run by storage.bench.js through fork()');
  const bytesTotal = Number(bytesTotalText);
  const journalBytesMax = Number(journalBytesMaxText);
  const journalTailBytesMin = Number(journalTailBytesMinText);

  const store = await FileLogStore.open({
    fileSystem: new NodeFileSystem(),
    clock: new SystemClock(),
    directory,
    durability: 'interval',
    flushIntervalMs: 200,
    journalBytesMax,
  });
  const log = await store.openLog('bench');
  const startMs = performance.now();
  let batchNumber = 0;
  let dataBytes = 0;
  let lastBatchNumber = -1;
  const enoughWritten = (): boolean => dataBytes >= bytesTotal && journalState(directory).newestBytes >= journalTailBytesMin;
  const appendOne = async (): Promise<void> => {
    // A fresh value per batch: encoding copies it, but each batch gets its own number.
    const value = new Uint8Array(RECORD_VALUE_BYTES).fill(batchNumber & 0xff);
    new DataView(value.buffer).setFloat64(0, batchNumber, true);
    const records: RecordInput[] = Array.from({ length: BATCH_RECORDS }, () => ({ value, key: null }));
    const number = batchNumber++;
    dataBytes += RECORD_VALUE_BYTES * BATCH_RECORDS;
    await log.append(records);
    lastBatchNumber = Math.max(lastBatchNumber, number);
  };
  let nextReportBytes = 0;
  const loops = Array.from({ length: IN_FLIGHT_MAX }, async () => {
    while (!enoughWritten()) {
      await appendOne();
      if (dataBytes >= nextReportBytes) {
        process.stderr.write(`[recovery-child] ${(dataBytes / 2 ** 20).toFixed(0)} MB written\n`);
        nextReportBytes += 256 * 2 ** 20;
      }
    }
  });
  await Promise.all(loops);
  await store.flush();
  // Wait out a checkpoint in flight: it deletes the older journal files when it completes.
  const waitStartMs = performance.now();
  while (journalState(directory).files > 1 && performance.now() - waitStartMs < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const journal = journalState(directory);
  process.send({
    kind: 'written',
    records: log.endOffset(),
    lastBatchNumber,
    endOffset: log.endOffset(),
    dataBytes,
    journalFiles: journal.files,
    journalBytes: journal.totalBytes,
    checkpoints: store.stats.checkpoints,
    writeSeconds: (performance.now() - startMs) / 1000,
  });
  // Idle until SIGKILL; the IPC channel keeps the process alive too.
  setInterval(() => undefined, 60_000);
}

await main(process.argv.slice(2));
