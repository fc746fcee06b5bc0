/**
 * Bad environments and damaged data directories give clear, typed errors:
 * a directory locked by another process, a read-only or full device (on the
 * SimulatedFileSystem, since tests run as root and permissions do not stop
 * root), a log directory missing and a checkpoint truncated.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLogStore } from '../../src/storage/file-log-store.js';
import { NodeFileSystem } from '../../src/platform/node-file-system.js';
import { SimulatedFileSystem } from '../../src/platform/simulated-file-system.js';
import { ManualClock, SystemClock } from '../../src/platform/clock.js';
import { SeededRandom } from '../../src/platform/random.js';
import { isFerryError } from '../../src/lib/ferry-error.js';
import type { FileSystem } from '../../src/platform/file-system.js';
import type { Log } from '../../src/core/ports.js';

const SEED = process.env['SEED'] !== undefined ? Number(process.env['SEED']) : (Date.now() ^ (process.pid << 16)) >>> 0;
console.log(`storage-bad-input: SEED=${SEED} (replay with SEED=${SEED})`);

const scratch = mkdtempSync(join(tmpdir(), 'ferry-bad-input-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

let directoryCount = 0;
function freshDirectory(): string {
  return join(scratch, `data-${++directoryCount}`);
}

function openOnDisk(directory: string): Promise<FileLogStore> {
  return FileLogStore.open({ fileSystem: new NodeFileSystem(), clock: new SystemClock(), directory, durability: 'always' });
}

function openSimulated(fileSystem: FileSystem, directory = 'data'): Promise<FileLogStore> {
  return FileLogStore.open({ fileSystem, clock: new ManualClock(), directory, durability: 'always' });
}

/** Asserts that `promise` rejects with a FerryError carrying `code`. */
async function rejectsWithCode(promise: Promise<unknown>, code: string, what: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isFerryError(error, code), `${what}: expected ${code}, got ${String(error)}`);
    return true;
  });
}

function valueOf(index: number): Uint8Array {
  return new TextEncoder().encode(`record ${index} `.repeat(1 + (index % 7)));
}

/** The directory of log `name`, found through the checkpoint (12-byte header, then JSON). */
function logDirectoryOf(directory: string, name: string): string {
  const checkpoint = JSON.parse(readFileSync(join(directory, 'checkpoint')).subarray(12).toString('utf8')) as { logs: { id: number; name: string }[] };
  const state = checkpoint.logs.find((log) => log.name === name);
  assert.ok(state, `the checkpoint records log ${name}`);
  return join(directory, 'logs', String(state.id));
}

/** Appends `count` records one by one, each acknowledged before the next. */
async function appendAcknowledged(log: Log, count: number): Promise<Uint8Array[]> {
  const values: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const value = valueOf(log.endOffset());
    const { baseOffset } = await log.append([{ value }]);
    assert.equal(baseOffset, log.endOffset() - 1, 'appends land at the end');
    values.push(value);
  }
  return values;
}

/** Asserts the log starts with exactly `values` and holds nothing beyond what `written` allows. */
async function assertIntact(log: Log, values: readonly Uint8Array[], written: readonly Uint8Array[] = values): Promise<void> {
  assert.ok(log.endOffset() >= values.length, `${log.name} ends at ${log.endOffset()}, but ${values.length} records were acknowledged`);
  assert.ok(log.endOffset() <= written.length, `${log.name} ends at ${log.endOffset()}, beyond the ${written.length} records written`);
  const records = await log.read(0, { recordsMax: written.length + 1 });
  assert.equal(records.length, log.endOffset(), `${log.name}: a read returns every record up to the end`);
  // Copied into a plain Uint8Array: values read from a file may come as Buffer views.
  for (const record of records) assert.deepEqual(Uint8Array.from(record.value), written[record.offset], `${log.name}: offset ${record.offset} holds what was written there`);
}

test('opening a data directory held by another running process fails with DATA_DIR_LOCKED', { timeout: 30_000 }, async () => {
  const directory = freshDirectory();
  const module = (path: string): string => JSON.stringify(new URL(path, import.meta.url).href);
  const holder = `
    import { FileLogStore } from ${module('../../src/storage/file-log-store.js')};
    import { NodeFileSystem } from ${module('../../src/platform/node-file-system.js')};
    import { SystemClock } from ${module('../../src/platform/clock.js')};
    const store = await FileLogStore.open({ fileSystem: new NodeFileSystem(), clock: new SystemClock(), directory: process.env.FERRY_DATA_DIRECTORY });
    const log = await store.openLog('held');
    await log.append([{ value: new TextEncoder().encode('written by the holder') }]);
    process.stdout.write('ready\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', holder], {
    env: { ...process.env, FERRY_DATA_DIRECTORY: directory },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => (chunk.toString().includes('ready') ? resolve() : undefined));
      child.on('close', (code) => reject(new Error(`the lock holder exited with ${code} before it was ready: ${stderr}`)));
    });
    await rejectsWithCode(openOnDisk(directory), 'DATA_DIR_LOCKED', 'open while another process holds the directory');
  } finally {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    await exited;
    children.delete(child);
  }
  // The holder is dead: its lock is stale and is taken over, and what it acknowledged is there.
  const store = await openOnDisk(directory);
  try {
    const [record] = await store.getLog('held')!.read(0);
    assert.equal(new TextDecoder().decode(record?.value), 'written by the holder');
  } finally {
    await store.close();
  }
});

test(
  'opening a data directory without write permission fails with READ_ONLY on the real disk',
  { skip: process.getuid?.() === 0 ? 'runs as root, whom permissions do not stop; the simulated tests below cover READ_ONLY' : false },
  async () => {
    const directory = freshDirectory();
    mkdirSync(directory);
    chmodSync(directory, 0o555);
    try {
      await rejectsWithCode(openOnDisk(directory), 'READ_ONLY', 'open of a directory with mode 0555');
    } finally {
      chmodSync(directory, 0o755);
    }
  },
);

test('opening a store on a read-only device fails with READ_ONLY, and opens once it is writable', async () => {
  const fileSystem = new SimulatedFileSystem();
  fileSystem.setReadOnly('', true);
  await rejectsWithCode(openSimulated(fileSystem), 'READ_ONLY', 'open where the data directory cannot be created');
  fileSystem.setReadOnly('', false);

  const store = await openSimulated(fileSystem);
  const values = await appendAcknowledged(await store.openLog('orders'), 5);
  await store.close();
  fileSystem.setReadOnly('data', true);
  await rejectsWithCode(openSimulated(fileSystem), 'READ_ONLY', 'open of an existing read-only data directory');
  fileSystem.setReadOnly('data', false);

  const reopened = await openSimulated(fileSystem);
  try {
    await assertIntact(reopened.getLog('orders')!, values);
  } finally {
    await reopened.close();
  }
});

test('a device turning read-only rejects the pending append with READ_ONLY and stops the store', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await openSimulated(fileSystem);
  const log = await store.openLog('orders');
  const values = await appendAcknowledged(log, 20);
  fileSystem.setReadOnly('data', true);
  const pending = log.append([{ value: valueOf(20) }]);
  await rejectsWithCode(pending, 'READ_ONLY', 'the append in flight when the device turned read-only');
  await rejectsWithCode(log.append([{ value: valueOf(21) }]), 'STORAGE_CLOSED', 'an append after the failure');
  await store.close();
  fileSystem.setReadOnly('data', false);

  const reopened = await openSimulated(fileSystem);
  try {
    await assertIntact(reopened.getLog('orders')!, values, [...values, valueOf(20)]);
  } finally {
    await reopened.close();
  }
});

test('a full disk rejects the pending append with DISK_FULL, later appends with STORAGE_CLOSED, and loses nothing acknowledged', async () => {
  const fileSystem = new SimulatedFileSystem();
  const store = await openSimulated(fileSystem);
  const orders = await store.openLog('orders');
  const audit = await store.openLog('audit');
  const ordersValues = await appendAcknowledged(orders, 30);
  const auditValues = await appendAcknowledged(audit, 10);
  fileSystem.setDiskFull(true);
  const pending = orders.append([{ value: valueOf(30) }]);
  await rejectsWithCode(pending, 'DISK_FULL', 'the append in flight when the disk filled');
  await rejectsWithCode(orders.append([{ value: valueOf(31) }]), 'STORAGE_CLOSED', 'an append to the same log after the failure');
  await rejectsWithCode(audit.append([{ value: valueOf(10) }]), 'STORAGE_CLOSED', 'an append to another log after the failure');
  await rejectsWithCode(store.openLog('new'), 'STORAGE_CLOSED', 'opening a log after the failure');
  // Reads of what was acknowledged still work on the stopped store.
  await assertIntact(orders, ordersValues, [...ordersValues, valueOf(30)]);
  await store.close();

  // Still full: opening cannot write its checkpoint, fails cleanly and releases the lock.
  await rejectsWithCode(openSimulated(fileSystem), 'DISK_FULL', 'open while the disk is still full');
  fileSystem.setDiskFull(false);
  const reopened = await openSimulated(fileSystem);
  try {
    await assertIntact(reopened.getLog('orders')!, ordersValues, [...ordersValues, valueOf(30)]);
    await assertIntact(reopened.getLog('audit')!, auditValues);
    const { baseOffset } = await reopened.getLog('orders')!.append([{ value: valueOf(99) }]);
    assert.equal(baseOffset, reopened.getLog('orders')!.endOffset() - 1, 'appends continue after the disk has room again');
  } finally {
    await reopened.close();
  }
});

test('a power loss after a full disk stopped the store keeps every acknowledged record', async () => {
  const random = new SeededRandom(SEED);
  const fileSystem = new SimulatedFileSystem();
  const store = await openSimulated(fileSystem);
  const orders = await store.openLog('orders');
  const values = await appendAcknowledged(orders, 25);
  fileSystem.setDiskFull(true);
  // Several appends in one group: all of them fail with the write.
  const pending = [0, 1, 2].map((i) => orders.append([{ value: valueOf(25 + i) }]));
  for (const append of pending) await rejectsWithCode(append, 'DISK_FULL', 'an append of the group whose write failed');
  store.abandon();
  fileSystem.crash(random);
  fileSystem.setDiskFull(false);

  const reopened = await openSimulated(fileSystem);
  try {
    await assertIntact(reopened.getLog('orders')!, values, [...values, valueOf(25), valueOf(26), valueOf(27)]);
  } finally {
    await reopened.close();
  }
});

test('a log recorded in the checkpoint whose directory is missing fails to open with CORRUPT_DATA', async () => {
  const directory = freshDirectory();
  const store = await openOnDisk(directory);
  await appendAcknowledged(await store.openLog('orders'), 10);
  await store.close();
  rmSync(logDirectoryOf(directory, 'orders'), { recursive: true });
  await rejectsWithCode(openOnDisk(directory), 'CORRUPT_DATA', 'open with the log directory missing');
});

test(
  'a log directory that is missing keeps failing with CORRUPT_DATA on every later open',
  async () => {
    const directory = freshDirectory();
    const store = await openOnDisk(directory);
    await appendAcknowledged(await store.openLog('orders'), 10);
    await store.close();
    rmSync(logDirectoryOf(directory, 'orders'), { recursive: true });
    await rejectsWithCode(openOnDisk(directory), 'CORRUPT_DATA', 'first open with the log directory missing');
    await rejectsWithCode(openOnDisk(directory), 'CORRUPT_DATA', 'second open with the log directory missing');
  },
);

test('a zero-length checkpoint file fails to open with CORRUPT_DATA', async () => {
  const directory = freshDirectory();
  const store = await openOnDisk(directory);
  await appendAcknowledged(await store.openLog('orders'), 3);
  await store.close();
  writeFileSync(join(directory, 'checkpoint'), new Uint8Array(0));
  await rejectsWithCode(openOnDisk(directory), 'CORRUPT_DATA', 'open with an empty checkpoint');
  // The failed open released the lock: a second attempt gives the same answer, not DATA_DIR_LOCKED.
  await rejectsWithCode(openOnDisk(directory), 'CORRUPT_DATA', 'second open with an empty checkpoint');
});

test(
  'a checkpoint file cut at any length fails to open with CORRUPT_DATA',
  async () => {
    const directory = freshDirectory();
    const store = await openOnDisk(directory);
    await appendAcknowledged(await store.openLog('orders'), 3);
    await store.close();
    const path = join(directory, 'checkpoint');
    const whole = readFileSync(path);
    const wrong: string[] = [];
    for (let length = 0; length < whole.byteLength; length++) {
      writeFileSync(path, whole.subarray(0, length));
      try {
        const reopened = await openOnDisk(directory);
        await reopened.close();
        wrong.push(`${length}: opened`);
      } catch (error) {
        if (!isFerryError(error, 'CORRUPT_DATA')) wrong.push(`${length}: ${String(error)}`);
      }
    }
    assert.deepEqual(wrong, [], `cut lengths that did not give CORRUPT_DATA (of ${whole.byteLength} bytes)`);
  },
);
