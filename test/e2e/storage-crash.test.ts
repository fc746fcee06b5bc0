/**
 * Crash test on the real disk: a child process appends to three logs with
 * durability `always` and is killed with SIGKILL at a random instant; the
 * parent then reopens the store and checks that every acknowledged record is
 * there, unchanged, and that nothing else is wrong. Then the child runs again
 * on the same directory, and so on for CRASH_ROUNDS rounds (default 30).
 *
 * Replay a failure's random choices with SEED=<n> (printed at the start);
 * KEEP_DATA_DIR=1 keeps the data directory for inspection; CRASH_PROFILE=small
 * (see storage-crash-child.ts) crowds every kill with rolls, drops and checkpoints.
 * Kill instants are wall-clock times, so a replay draws the same delays but
 * lands them on whatever the child is doing by then.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLogStore, type RecoveryReport } from '../../src/storage/file-log-store.js';
import { NodeFileSystem } from '../../src/platform/node-file-system.js';
import { SystemClock } from '../../src/platform/clock.js';
import { SeededRandom } from '../../src/platform/random.js';
import type { Log, StoredRecord } from '../../src/core/ports.js';
import { CRASH_LOG_NAMES, CRASH_LOG_OPTIONS, CRASH_PROFILE_SMALL, CRASH_STORE_SETTINGS, crashRecord, readCrashValueFacts } from './storage-crash-child.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
const ROUNDS = Number(process.env['CRASH_ROUNDS'] ?? 30);
const KILL_DELAY_MS_MIN = 20;
const KILL_DELAY_MS_MAX = 300;
/** A child that has not acknowledged anything by then is stuck. */
const FIRST_ACK_TIMEOUT_MS = 15_000;
/** KEEP_DATA_DIR=1 keeps the data directory, and a copy of it as the last kill left it (`<dir>-as-killed`). */
const KEEP_DATA_DIR = process.env['KEEP_DATA_DIR'] === '1';
const CHILD_PATH = fileURLToPath(new URL('./storage-crash-child.js', import.meta.url));

const directories: string[] = [];
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  for (const directory of directories) {
    if (KEEP_DATA_DIR) console.log(`storage-crash: kept data directory ${directory}`);
    else rmSync(directory, { recursive: true, force: true });
  }
});

/** An acknowledged record: which run wrote it and with which sequence number. */
interface Ack {
  readonly run: number;
  readonly sequence: number;
}

/** What one child run printed before it was killed. */
interface RunOutput {
  readonly acks: { log: string; offset: number; sequence: number }[];
  readonly ready: string | undefined;
  readonly killDelayMs: number;
}

/**
 * Starts the child, kills it `killDelayMs` after its first acknowledgement
 * and resolves with what it printed. Rejects when the child exits by itself.
 */
function runUntilKilled(directory: string, run: number, childSeed: number, killDelayMs: number): Promise<RunOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_PATH, directory, String(run), String(childSeed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const acks: RunOutput['acks'] = [];
    let ready: string | undefined;
    let pending = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    let stuckFailure: string | undefined;
    const stuckTimer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      stuckFailure = `child of run ${run} acknowledged nothing within ${FIRST_ACK_TIMEOUT_MS} ms`;
    }, FIRST_ACK_TIMEOUT_MS);
    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      // The last piece has no newline yet: the kill may have cut it, so it is not trusted.
      pending = lines.pop()!;
      for (const line of lines) {
        const parts = line.split(' ');
        if (parts[0] === 'ack' && parts.length === 4) {
          acks.push({ log: parts[1]!, offset: Number(parts[2]), sequence: Number(parts[3]) });
          if (killTimer === undefined) {
            clearTimeout(stuckTimer);
            killTimer = setTimeout(kill, killDelayMs);
          }
        } else if (parts[0] === 'ready') {
          ready = line;
        } else {
          reject(new Error(`child of run ${run} printed an unexpected line: ${JSON.stringify(line)}`));
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      clearTimeout(stuckTimer);
      clearTimeout(killTimer);
      if (stuckFailure !== undefined) reject(new Error(`${stuckFailure}; stderr: ${stderr}`));
      else if (signal !== 'SIGKILL') reject(new Error(`child of run ${run} exited by itself (code ${code}, signal ${signal}); stderr: ${stderr}`));
      else resolve({ acks, ready, killDelayMs });
    });
  });
}

function bytesEqual(actual: Uint8Array | null, expected: Uint8Array | null): boolean {
  if (actual === null || expected === null) return actual === expected;
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected);
}

/** Reads every record of a log, checking each one; returns the number read. */
async function verifyLog(log: Log, logIndex: number, acked: Map<number, Ack>, context: string): Promise<number> {
  const start = log.startOffset();
  const end = log.endOffset();
  assert.ok(start <= end, `${context}: startOffset ${start} is above endOffset ${end}`);
  let expected = start;
  while (expected < end) {
    let records: StoredRecord[];
    try {
      records = await log.read(expected, { recordsMax: 1000 });
    } catch (error) {
      assert.fail(`${context}: read from offset ${expected} threw ${String(error)}`);
    }
    assert.ok(records.length > 0, `${context}: read at ${expected} returned nothing though endOffset is ${end}`);
    for (const record of records) {
      assert.equal(record.offset, expected, `${context}: offsets are not contiguous (expected ${expected}, got ${record.offset})`);
      const facts = readCrashValueFacts(record.value);
      assert.ok(facts, `${context}: the value at offset ${record.offset} does not decode`);
      assert.equal(facts.logIndex, logIndex, `${context}: the record at offset ${record.offset} belongs to another log`);
      // Each run continues the sequence from the log's last record, so sequence and offset coincide.
      assert.equal(facts.sequence, record.offset, `${context}: offset ${record.offset} holds sequence ${facts.sequence}`);
      const written = crashRecord(facts);
      assert.ok(bytesEqual(record.value, written.value), `${context}: the value at offset ${record.offset} differs from what run ${facts.run} wrote`);
      assert.ok(bytesEqual(record.key, written.key), `${context}: the key at offset ${record.offset} differs from what run ${facts.run} wrote`);
      const ack = acked.get(record.offset);
      if (ack !== undefined) {
        assert.equal(facts.run, ack.run, `${context}: acknowledged offset ${record.offset} of run ${ack.run} now holds a record of run ${facts.run}`);
        assert.equal(facts.sequence, ack.sequence, `${context}: acknowledged offset ${record.offset} holds sequence ${facts.sequence}, not ${ack.sequence}`);
      }
      expected++;
    }
  }
  assert.deepEqual(await log.read(end), [], `${context}: a read at endOffset ${end} returns records`);
  return end - start;
}

test('every acknowledged record survives SIGKILL at random instants, across repeated crashes', { timeout: CRASH_PROFILE_SMALL ? 600_000 : 120_000 }, async () => {
  console.log(`storage-crash: SEED=${SEED} CRASH_ROUNDS=${ROUNDS} (replay the random choices with SEED=${SEED})`);
  const random = new SeededRandom(SEED);
  const directory = mkdtempSync(join(tmpdir(), 'ferry-crash-'));
  directories.push(directory);
  const acked = new Map<string, Map<number, Ack>>(CRASH_LOG_NAMES.map((name) => [name, new Map()]));
  const startOffsets = new Map<string, number>(CRASH_LOG_NAMES.map((name) => [name, 0]));
  const highestAcked = new Map<string, number>(CRASH_LOG_NAMES.map((name) => [name, -1]));
  /** End offsets found by the last verification, which the next child must find too. */
  const endOffsets = new Map<string, number>(CRASH_LOG_NAMES.map((name) => [name, 0]));
  const totals = { acks: 0, unackedSurvivors: 0, tailBytesDropped: 0, segmentsTruncated: 0, recordsVerified: 0 };
  const startedMs = Date.now();

  for (let run = 1; run <= ROUNDS; run++) {
    const killDelayMs = KILL_DELAY_MS_MIN + random.int(KILL_DELAY_MS_MAX - KILL_DELAY_MS_MIN + 1);
    const childSeed = random.int(0x1_0000_0000);
    const context = `SEED=${SEED} run ${run} (killed ${killDelayMs} ms after its first ack)`;
    const output = await runUntilKilled(directory, run, childSeed, killDelayMs);
    assert.ok(output.ready !== undefined, `${context}: the child acknowledged records before reporting ready`);
    // The child recovered what the last verification left: same end offsets, sequences continuing from them.
    const recovered = new Map<string, { end: number; nextSequence: number }>();
    for (const match of output.ready.matchAll(/ (\w+)=\d+\.\.(\d+):(\d+)/g)) recovered.set(match[1]!, { end: Number(match[2]), nextSequence: Number(match[3]) });
    for (const [name, end] of endOffsets) {
      const found = recovered.get(name);
      assert.ok(found, `${context}: the child's ready line ${JSON.stringify(output.ready)} does not mention ${name}`);
      assert.equal(found.end, end, `${context}: the child found ${name} ending at ${found.end}, the last verification at ${end}`);
      assert.equal(found.nextSequence, end, `${context}: the child continues ${name} with sequence ${found.nextSequence}, not ${end}`);
    }

    for (const { log, offset, sequence } of output.acks) {
      const byOffset = acked.get(log);
      assert.ok(byOffset, `${context}: ack for unknown log ${log}`);
      const earlier = byOffset.get(offset);
      assert.equal(earlier, undefined, `${context}: offset ${offset} of ${log} was acknowledged twice (runs ${earlier?.run} and ${run})`);
      byOffset.set(offset, { run, sequence });
      highestAcked.set(log, Math.max(highestAcked.get(log)!, offset));
    }
    totals.acks += output.acks.length;

    let recovery: RecoveryReport | null = null;
    // With KEEP_DATA_DIR, keep the state the kill left: the verifying open changes it (it checkpoints).
    if (KEEP_DATA_DIR) {
      rmSync(`${directory}-as-killed`, { recursive: true, force: true });
      cpSync(directory, `${directory}-as-killed`, { recursive: true });
    }
    // No retention while verifying: it would move the start offset under the reads.
    const store = await FileLogStore.open({ fileSystem: new NodeFileSystem(), clock: new SystemClock(), directory, ...CRASH_STORE_SETTINGS, retentionCheckIntervalMs: 3_600_000 });
    try {
      recovery = store.recovery;
      for (const [logIndex, name] of CRASH_LOG_NAMES.entries()) {
        const log = await store.openLog(name, CRASH_LOG_OPTIONS[name]);
        const byOffset = acked.get(name)!;
        const start = log.startOffset();
        assert.ok(start >= startOffsets.get(name)!, `${context}: the start offset of ${name} went back from ${startOffsets.get(name)} to ${start}`);
        if (CRASH_LOG_OPTIONS[name]!.retentionBytes === undefined) assert.equal(start, 0, `${context}: ${name} has no retention but starts at ${start}`);
        startOffsets.set(name, start);
        const highestAck = highestAcked.get(name)!;
        assert.ok(log.endOffset() > highestAck, `${context}: ${name} ends at ${log.endOffset()} but offset ${highestAck} was acknowledged`);
        totals.recordsVerified += await verifyLog(log, logIndex, byOffset, `${context}, log ${name}`);
        endOffsets.set(name, log.endOffset());
        totals.unackedSurvivors += log.endOffset() - 1 - Math.max(highestAck, log.startOffset() - 1);
        // Acknowledged offsets below the start offset were removed by retention; later ones are checked above.
        for (const offset of byOffset.keys()) if (offset < start) byOffset.delete(offset);
      }
    } finally {
      await store.close();
    }
    totals.tailBytesDropped += recovery?.journalTailBytesDropped ?? 0;
    totals.segmentsTruncated += recovery?.segmentsTruncated.length ?? 0;
  }

  console.log(
    `storage-crash: ${ROUNDS} kill rounds in ${Date.now() - startedMs} ms: ${totals.acks} acks, ${totals.recordsVerified} record reads verified, ` +
      `${totals.unackedSurvivors} unacknowledged records survived, journal tail bytes dropped ${totals.tailBytesDropped}, ` +
      `segments truncated ${totals.segmentsTruncated}`,
  );
  assert.ok(totals.acks >= ROUNDS, `SEED=${SEED}: only ${totals.acks} acks in ${ROUNDS} rounds`);
});

/**
 * The state a kill leaves when it lands between the unlinks of segments that
 * one truncatePrefix dropped: the deletions run in parallel, so the segment
 * that was active at the last checkpoint can be gone while an older one is
 * still there. Built by hand here so it replays every time; the random
 * crash test above meets it by chance.
 */
test(
  'recovery tolerates a kill between the unlinks of the segments one truncatePrefix dropped',
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'ferry-crash-unlink-'));
    directories.push(directory);
    const open = (): Promise<FileLogStore> =>
      // Every append a batch (no runs), in its segment at once: the test rolls segments by appending and lists their files.
      FileLogStore.open({ fileSystem: new NodeFileSystem(), clock: new SystemClock(), directory, logDefaults: { segmentBytesMax: 1024 }, runRecordBytesMax: 0 });
    const value = (index: number): Uint8Array => new Uint8Array(300).fill(index);
    let store = await open();
    let log = await store.openLog('orders');
    for (let i = 0; i < 10; i++) await log.append([{ value: value(i) }]);
    await store.close();
    // The checkpoint written at open records the last of five segments as the active one.
    store = await open();
    log = store.getLog('orders')!;
    const logDirectory = join(directory, 'logs', '1');
    const firstSegment = readdirSync(logDirectory).filter((name) => name.endsWith('.seg')).sort()[0]!;
    copyFileSync(join(logDirectory, firstSegment), join(directory, 'first-segment.copy'));
    for (let i = 10; i < 20; i++) await log.append([{ value: value(i) }]);
    const segments = (): string[] => readdirSync(logDirectory).filter((name) => name.endsWith('.seg')).sort();
    const target = Number(segments()[segments().length - 1]!.slice(0, 20));
    await log.truncatePrefix(target);
    await store.flush();
    for (let waitedMs = 0; segments().length > 1 && waitedMs < 5_000; waitedMs += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(segments().length, 1, 'the dropped segments were deleted');
    store.abandon();
    // The kill landed before the unlink of the oldest segment.
    copyFileSync(join(directory, 'first-segment.copy'), join(logDirectory, firstSegment));

    store = await open();
    try {
      log = store.getLog('orders')!;
      assert.equal(log.startOffset(), target, 'the start offset is where truncatePrefix moved it');
      assert.equal(log.endOffset(), 20, 'every appended record is still counted');
      const records = await log.read(target, { recordsMax: 100 });
      assert.deepEqual(records.map((record) => record.value[0]), Array.from({ length: 20 - target }, (_, i) => target + i));
    } finally {
      await store.close();
    }
  },
);
