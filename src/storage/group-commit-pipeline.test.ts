/**
 * With durability `always` the store writes a second journal group while the
 * first is still in flight, yet completes groups in journal order: a group
 * resolves only once every earlier one is durable. These tests hold journal
 * writes on a hooked file system and release them out of order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HookedFileSystem } from '../platform/hooked-file-system.js';
import { JournalWriteGate } from '../platform/journal-write-gate.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { ManualClock } from '../platform/clock.js';
import { turns } from '../platform/event-loop-turns.js';
import { FILE_LOG_STORE_DEFAULTS, FileLogStore } from './file-log-store.js';
import type { FileLog } from './file-log.js';
import { numberedNames, numberedRecordNames, numberedRecords } from './store-harness.js';


const record = (index: number) => ({ value: new TextEncoder().encode(`record ${index}`) });

async function openStore(groupStartBytes?: number) {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const writes = new JournalWriteGate(fileSystem);
  const open = () => FileLogStore.open({ fileSystem, clock: new ManualClock(), directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, groupStartBytes });
  const store = await open();
  const log = await store.openLog('queue');
  return { simulated, writes, open, store, log };
}

test('a second group is written while the first is in flight, and resolves only after the first', async () => {
  const { writes, store, log } = await openStore();
  try {
    const resolved: string[] = [];
    writes.holding = true;
    const first = log.append([record(0)]).then(() => void resolved.push('first'));
    await turns(3);
    assert.equal(writes.heldCount(), 1, 'the first group is in its journal write');
    const second = log.append([record(1)]).then(() => void resolved.push('second'));
    await turns(3);
    assert.equal(writes.heldCount(), 2, 'the second group is written without waiting for the first');
    const third = log.append([record(2)]).then(() => void resolved.push('third'));
    await turns(3);
    assert.equal(writes.heldCount(), 2, 'at most two group writes are in flight; the third group gathers');

    writes.release(1);
    await turns(5);
    assert.deepEqual(resolved, [], 'the second group is written but waits for the first');
    writes.holding = false;
    writes.release(0);
    await Promise.all([first, second, third]);
    assert.deepEqual(resolved, ['first', 'second', 'third'], 'groups complete in journal order');
  } finally {
    writes.holding = false;
    await store.close();
  }
});

/**
 * Appends record 0, then a first group (`firstRecord`) and a second (record 2) with their journal writes held;
 * lands the second, checks it is not confirmed, and kills the store with the first never written (kill -9).
 * Returns the restarted store and how many batches the old one had written directly to their segment files.
 */
async function loseFirstOfTwoGroups(firstRecord: { readonly value: Uint8Array }): Promise<{ reopened: FileLogStore; referencedBatches: number }> {
  const { simulated, writes, open, store, log } = await openStore();
  await log.append([record(0)]);
  writes.holding = true;
  const first = log.append([firstRecord]);
  await turns(3);
  let secondConfirmed = false;
  const second = log.append([record(2)]).then(() => (secondConfirmed = true));
  await turns(3);
  assert.equal(writes.heldCount(), 2, 'both groups are in their journal writes');
  writes.release(1);
  await turns(5);
  assert.equal(secondConfirmed, false, 'the second group waits for the first');
  const referencedBatches = store.stats.referencedBatches;
  store.abandon();
  simulated.crashAfterKill();
  writes.holding = false;
  writes.release(0);
  void first.catch(() => undefined);
  void second.catch(() => undefined);
  const reopened = await open();
  assert.equal(secondConfirmed, false, 'the second group was never confirmed');
  return { reopened, referencedBatches };
}

test('a group whose write landed before an earlier group was lost in a crash is not recovered, and was never confirmed', async () => {
  const { reopened } = await loseFirstOfTwoGroups(record(1));
  try {
    const again = reopened.getLog('queue')!;
    assert.equal(again.endOffset(), 1, 'recovery stops at the missing group: nothing after it is replayed');
    await again.append([record(3)]);
    assert.equal(again.endOffset(), 2, 'the recovered store takes appends');
  } finally {
    await reopened.close();
  }
});

test('a directly written batch whose journal reference was lost is not recovered, and its log takes new appends at its offset', async () => {
  // Past directWriteBytesMin (128 KiB): the batch goes straight to its segment file; only its reference is journaled.
  const { reopened, referencedBatches } = await loseFirstOfTwoGroups({ value: new Uint8Array(200 * 1024).fill(7) });
  try {
    assert.equal(referencedBatches, 1, 'the large batch took the direct path (its bytes reached the segment file)');
    const again = reopened.getLog('queue')!;
    assert.equal(again.endOffset(), 1, 'neither the referenced batch nor the group after it is replayed');
    await again.append([record(3)]);
    const records = await again.read(0);
    assert.deepEqual(
      records.map((stored) => new TextDecoder().decode(stored.value)),
      ['record 0', 'record 3'],
      'the new append reads back at offset 1, not the stale bytes of the lost batch',
    );
  } finally {
    await reopened.close();
  }
});

test('a beforeNextCommit callback runs as the next group is taken for writing, and what it appends joins that group', async () => {
  const { writes, store, log } = await openStore();
  try {
    const state = await store.openLog('state');
    writes.holding = true;
    const first = log.append([record(0)]);
    await turns(3);
    const second = log.append([record(1)]);
    await turns(3);
    assert.equal(writes.heldCount(), 2, 'two group writes in flight: the next group must wait');
    let gathered: Promise<unknown> | null = null;
    store.beforeNextCommit(() => {
      gathered = state.append([record(9)]);
    });
    const third = log.append([record(2)]);
    await turns(3);
    assert.equal(gathered, null, 'not called while no group can be written');
    const writesBefore = store.stats.journalWrites;
    writes.holding = false;
    writes.release(0);
    writes.release(0);
    await Promise.all([first, second, third]);
    assert.ok(gathered !== null, 'called before the third group was written');
    await gathered;
    assert.equal(store.stats.journalWrites - writesBefore, 3, 'its append went into the third group, not a group of its own');
    assert.equal(state.endOffset(), 1);
  } finally {
    writes.holding = false;
    await store.close();
  }
});

test('a group that gathers groupStartBytes is written at once, inside the append; later appends of the turn gather the next group', async () => {
  for (const groupStartBytes of [undefined, 2048]) {
    const { writes, store, log } = await openStore(groupStartBytes);
    try {
      const state = await store.openLog('state');
      let gathered: Promise<unknown> | null = null;
      store.beforeNextCommit(() => {
        gathered = state.append([record(9)]);
      });
      writes.holding = true;
      const writesBefore = store.stats.journalWrites;
      // Four appends of about 2 KiB in one turn.
      const appends = [0, 1, 2, 3].map((index) => log.append(numberedRecords(index * 2, 2, 1024)));
      if (groupStartBytes === undefined) {
        assert.equal(writes.heldCount(), 0, 'by default (512 KiB) the group is written after the turn');
      } else {
        assert.equal(writes.heldCount(), 2, 'the first two appends each started a group write; the last two gather, no slot being free');
        assert.equal(gathered, null, 'an early start leaves beforeNextCommit callbacks to the next group');
      }
      writes.holding = false;
      while (writes.heldCount() > 0) writes.releaseOne();
      await Promise.all(appends);
      assert.ok(gathered !== null);
      await gathered;
      assert.equal(store.stats.journalWrites - writesBefore, groupStartBytes === undefined ? 1 : 3);
      assert.deepEqual(await numberedRecordNames(log), numberedNames(8));
      assert.equal(state.endOffset(), 1);
    } finally {
      writes.holding = false;
      await store.close();
    }
  }
});

test('flush runs waiting beforeNextCommit callbacks first, and a stopped store still runs them, refusing their appends', async () => {
  const { store, log } = await openStore();
  const state = await store.openLog('state');
  let flushed: Promise<unknown> | null = null;
  store.beforeNextCommit(() => {
    flushed = state.append([record(1)]);
  });
  await store.flush();
  assert.ok(flushed !== null, 'flush ran the callback');
  await flushed;
  assert.equal(state.endOffset(), 1, 'and made its append durable with the rest');

  let refused: Promise<unknown> | null = null;
  store.beforeNextCommit(() => {
    refused = state.append([record(2)]);
    refused.catch(() => undefined); // Asserted below, after the store has stopped.
  });
  void log.append([record(0)]).catch(() => undefined);
  store.abandon();
  await turns(3);
  assert.ok(refused !== null, 'called although the store stopped');
  await assert.rejects(refused, { code: 'STORAGE_CLOSED' });
});

/** A store on the simulated disk with its clock, journal writes counted by the store's stats. */
async function openClockedStore(deferredGatherMsMax?: number) {
  const simulated = new SimulatedFileSystem();
  const clock = new ManualClock();
  const open = () => FileLogStore.open({ fileSystem: simulated, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, deferredGatherMsMax });
  const store = await open();
  return { simulated, clock, open, store, transient: await store.openLog('transient'), durable: await store.openLog('durable') };
}

test('a lazy append starts no journal write of its own: it goes with the next group something else starts, ahead of it', async () => {
  const { store, transient, durable } = await openClockedStore();
  try {
    const writesBefore = store.stats.journalWrites;
    let lazyDone = false;
    const lazy = transient.append([record(0)], { lazy: true }).then(() => (lazyDone = true));
    await turns(5);
    assert.equal(store.stats.journalWrites, writesBefore, 'nothing written for it alone');
    assert.equal(lazyDone, false, 'and it does not resolve before it is written');
    assert.equal(transient.endOffset(), 1, 'its offset is taken at the call, as any append');
    await durable.append([record(1)]);
    await lazy;
    assert.equal(store.stats.journalWrites - writesBefore, 1, 'one group took both');
  } finally {
    await store.close();
  }
});

test('a lazy append alone is written within the segment flush interval, and lazy bytes past 1 MiB start a write at once', async () => {
  const { store, clock, transient } = await openClockedStore();
  try {
    let lazyDone = false;
    const lazy = transient.append([record(0)], { lazy: true }).then(() => (lazyDone = true));
    await turns(5);
    assert.equal(lazyDone, false);
    clock.advance(FILE_LOG_STORE_DEFAULTS.segmentFlushIntervalMs);
    await lazy;

    const writesBefore = store.stats.journalWrites;
    const big = { value: new Uint8Array(100 * 1024).fill(1) };
    const many = Array.from({ length: 11 }, () => transient.append([big], { lazy: true }));
    await Promise.all(many);
    assert.ok(store.stats.journalWrites > writesBefore, 'written without the clock moving');
  } finally {
    await store.close();
  }
});

test('a lazy append not yet written when the process is killed is gone after recovery, and its offset is taken again', async () => {
  const { simulated, open, store, transient, durable } = await openClockedStore();
  await durable.append([record(0)]);
  void transient.append([record(1)], { lazy: true }).catch(() => undefined);
  await turns(5);
  store.abandon();
  simulated.crashAfterKill();
  const reopened = await open();
  try {
    const log = reopened.getLog('transient')!;
    assert.equal(log.endOffset(), 0, 'the lazy batch was never journaled');
    assert.equal(reopened.getLog('durable')!.endOffset(), 1);
    await log.append([record(2)]);
    assert.deepEqual((await log.read(0)).map((stored) => new TextDecoder().decode(stored.value)), ['record 2']);
  } finally {
    await reopened.close();
  }
});

test('appendEmpty offsets are one lazy batch: none written per call, all of them within the segment flush interval, and they survive a kill once written', async () => {
  const { simulated, clock, open, store, transient } = await openClockedStore();
  const writesBefore = store.stats.journalWrites;
  for (let turn = 0; turn < 50; turn++) {
    transient.appendEmpty(20);
    await turns(1);
  }
  assert.equal(transient.endOffset(), 1_000);
  assert.equal(store.stats.journalWrites, writesBefore, 'nothing written for them yet');
  clock.advance(FILE_LOG_STORE_DEFAULTS.segmentFlushIntervalMs);
  await turns(20);
  assert.equal(store.stats.journalWrites - writesBefore, 1, 'the thousand offsets went in one group');
  store.abandon();
  simulated.crashAfterKill();
  const reopened = await open();
  try {
    const log = reopened.getLog('transient')!;
    assert.equal(log.endOffset(), 1_000, 'written offsets are kept after a kill');
    assert.equal((await log.readBatches(0, { bytesMax: 1 << 30 })).length, 1, 'as one batch');
  } finally {
    await reopened.close();
  }
});

test('appendEmpty offsets taken while close checkpoints are written before the store closes', async () => {
  const { open, store, transient } = await openClockedStore();
  transient.appendEmpty(4);
  const closed = store.close();
  // close() asked for its checkpoint (which wrote the four) and waits for it: these come after.
  transient.appendEmpty(3);
  await closed;
  const reopened = await open();
  try {
    const log = reopened.getLog('transient')!;
    assert.equal(log.endOffset(), 7, 'every offset handed out before close returned is kept');
    assert.equal((await log.append([record(7)])).baseOffset, 7);
  } finally {
    await reopened.close();
  }
});

test('deferrable gatherers run at the next commit while few wait; while many wait, deferredGatherMsMax after the first, or at once on flush', async () => {
  const deferMs = 500;
  const { store, clock, transient, durable } = await openClockedStore(deferMs);
  try {
    let ran = 0;
    const appends: Promise<unknown>[] = [];
    const register = (count: number) => {
      for (let index = 0; index < count; index++) {
        store.beforeNextCommit(
          () => {
            ran++;
            appends.push(transient.append([record(index)]));
          },
          { deferrable: true },
        );
      }
    };
    register(FILE_LOG_STORE_DEFAULTS.deferredGatherersMin - 1);
    await durable.append([record(0)]);
    assert.equal(ran, FILE_LOG_STORE_DEFAULTS.deferredGatherersMin - 1, 'few: run with the next group, as plain ones are');
    await Promise.all(appends.splice(0));

    ran = 0;
    register(FILE_LOG_STORE_DEFAULTS.deferredGatherersMin);
    clock.advance(deferMs - 1);
    await durable.append([record(1)]);
    let plain = false;
    store.beforeNextCommit(() => (plain = true));
    await durable.append([record(2)]);
    assert.equal(plain, true, 'a plain gatherer registered meanwhile is not held');
    assert.equal(ran, 0, 'many: held over two group commits');
    clock.advance(1);
    await turns(10);
    assert.equal(ran, FILE_LOG_STORE_DEFAULTS.deferredGatherersMin, 'run once the first has waited deferredGatherMsMax, with nothing else to write');
    await Promise.all(appends.splice(0));

    ran = 0;
    register(FILE_LOG_STORE_DEFAULTS.deferredGatherersMin);
    await durable.append([record(3)]);
    assert.equal(ran, 0);
    await store.flush();
    assert.equal(ran, FILE_LOG_STORE_DEFAULTS.deferredGatherersMin, 'flush runs them at once');
    await Promise.all(appends.splice(0));
    assert.equal(transient.endOffset(), 3 * FILE_LOG_STORE_DEFAULTS.deferredGatherersMin - 1);

    ran = 0;
    register(FILE_LOG_STORE_DEFAULTS.deferredGatherersMin);
    await durable.append([record(4)]);
    assert.equal(ran, 0);
  } finally {
    await store.close();
  }
  assert.equal(transient.endOffset(), 4 * FILE_LOG_STORE_DEFAULTS.deferredGatherersMin - 1, 'close runs the ones still held, and writes what they append');
});

test('deferrable gatherers are held only while the store is busy: on an idle store many run at once', async () => {
  const { store, clock, transient, durable } = await openClockedStore(500);
  try {
    await durable.append([record(0)]);
    let ran = 0;
    const appends: Promise<unknown>[] = [];
    for (let index = 0; index < FILE_LOG_STORE_DEFAULTS.deferredGatherersMin; index++) {
      store.beforeNextCommit(() => {
        ran++;
        appends.push(transient.append([record(index)]));
      }, { deferrable: true });
    }
    await turns(10);
    assert.equal(ran, FILE_LOG_STORE_DEFAULTS.deferredGatherersMin, 'nothing else written or gathering: run without waiting deferredGatherMsMax');
    await Promise.all(appends);
    assert.equal(clock.monotonicMs() < 500, true, 'the clock never reached deferredGatherMsMax');
  } finally {
    await store.close();
  }
});

test('a process whose last work is a deferred gatherer still runs it: the timer that brings it keeps the process alive', () => {
  const directory = mkdtempSync(join(tmpdir(), 'ferry-deferred-'));
  try {
    const storeModule = new URL('./file-log-store.js', import.meta.url).href;
    const platform = new URL('../platform/', import.meta.url).href;
    const script = `
      import { FileLogStore } from ${JSON.stringify(storeModule)};
      import { NodeFileSystem } from ${JSON.stringify(platform + 'node-file-system.js')};
      import { SystemClock } from ${JSON.stringify(platform + 'clock.js')};
      const store = await FileLogStore.open({ fileSystem: new NodeFileSystem(), clock: new SystemClock(), directory: ${JSON.stringify(directory)},
        durability: 'always', deferredGatherersMin: 1, deferredGatherMsMax: 300, journalPreallocateBytes: 0 });
      const log = await store.openLog('acks');
      await log.append([{ value: new Uint8Array([1]) }]);
      const appended = new Promise((resolve) => store.beforeNextCommit(() => resolve(log.append([{ value: new Uint8Array([2]) }])), { deferrable: true }));
      await log.append([{ value: new Uint8Array([3]) }]);
      await appended;
      process.stdout.write('logged ' + log.endOffset());
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(child.status, 0, `the child exited with ${String(child.status ?? child.signal)}: ${child.stderr}`);
    assert.equal(child.stdout, 'logged 3');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('segment writes run at most segmentWritesInFlightMax at once, and every due one is written', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const held: Array<() => void> = [];
  let holding = false;
  let written = 0;
  fileSystem.hook = (operation, path) => {
    if (operation !== 'write' || !path.endsWith('.seg')) return undefined;
    written++;
    return holding ? new Promise<void>((resolve) => held.push(resolve)) : undefined;
  };
  const store = await FileLogStore.open({
    fileSystem, clock: new ManualClock(), directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000,
    segmentFlushBytes: 1024, segmentWritesInFlightMax: 3, directWriteBytesMin: 1 << 30,
  });
  try {
    const logs = await Promise.all(Array.from({ length: 8 }, (_, index) => store.openLog(`log-${index}`)));
    written = 0;
    holding = true;
    // 2 KB records: batches (above the run size), each enough to make its log's segment due.
    await Promise.all(logs.map((log, index) => log.append([{ value: new Uint8Array(2048).fill(index) }])));
    await turns(10);
    assert.equal(held.length, 3, 'three segment writes in flight, the other five queued');
    while (held.length > 0) {
      held.shift()!();
      await turns(5);
      assert.ok(held.length <= 3, `never more than three at once (${held.length})`);
    }
    holding = false;
    await turns(10);
    assert.equal(written, 8, 'every log due was written');
  } finally {
    holding = false;
    for (const resume of held) resume();
    await store.close();
  }
});

test('the segment flush tick writes a log holding 1/16 of segmentFlushBytes at once, and one holding a few bytes within 10 ticks', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const writes = new Map<string, number>();
  fileSystem.hook = (operation, path) => {
    if (operation === 'write' && path.endsWith('.seg')) writes.set(path.split('/')[2]!, (writes.get(path.split('/')[2]!) ?? 0) + 1);
  };
  const clock = new ManualClock();
  const store = await FileLogStore.open({
    fileSystem, clock, directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000,
    segmentFlushBytes: 16 * 1024, segmentFlushIntervalMs: 50, runRecordBytesMax: 0,
  });
  try {
    const [large, small] = (await Promise.all([store.openLog('large'), store.openLog('small')])) as FileLog[];
    writes.clear(); // Their files' headers, written as they were created.
    await Promise.all([large!.append([{ value: new Uint8Array(2048) }]), small!.append([{ value: new Uint8Array(10) }])]);
    const written = async (log: FileLog) => writes.get(String(log.id)) ?? 0;
    clock.advance(50);
    await turns(10);
    assert.equal(await written(large!), 1, '2 KB of a 1 KB threshold: written at the first tick');
    assert.equal(await written(small!), 0, 'a few bytes wait');
    clock.advance(400);
    await turns(10);
    assert.equal(await written(small!), 0, 'still within 10 ticks');
    clock.advance(100);
    await turns(10);
    assert.equal(await written(small!), 1, 'written once they have waited 10 ticks');
  } finally {
    await store.close();
  }
});

test('a checkpoint waits for the segment writes started before it, not for those started since (a busy store never runs out of them)', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const held = new Map<string, Array<() => void>>();
  const holding = new Set<string>();
  fileSystem.hook = (operation, path) => {
    const directory = path.split('/')[2]!;
    if (operation !== 'write' || !path.endsWith('.seg') || !holding.has(directory)) return undefined;
    return new Promise<void>((resolve) => held.set(directory, [...(held.get(directory) ?? []), resolve]));
  };
  const release = (log: FileLog) => {
    holding.delete(String(log.id));
    for (const resume of held.get(String(log.id)) ?? []) resume();
    held.delete(String(log.id));
  };
  const store = await FileLogStore.open({
    fileSystem, clock: new ManualClock(), directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000,
    segmentFlushBytes: 1024, directWriteBytesMin: 1 << 30,
  });
  try {
    const first = (await store.openLog('first')) as FileLog;
    await store.checkpoint();
    holding.add(String(first.id));
    await first.append([{ value: new Uint8Array(2048) }]);
    await turns(5);
    assert.equal(held.get(String(first.id))?.length, 1, 'the first log\'s segment write is in flight');
    let checkpointed = false;
    const checkpoint = store.checkpoint().then(() => (checkpointed = true));
    await turns(5);
    const second = (await store.openLog('second')) as FileLog;
    holding.add(String(second.id));
    await second.append([{ value: new Uint8Array(2048) }]);
    await turns(5);
    assert.equal(held.get(String(second.id))?.length, 1, 'a segment write started after the checkpoint is in flight');
    assert.equal(checkpointed, false, 'the checkpoint waits for the write started before it');
    release(first);
    await turns(20);
    assert.equal(checkpointed, true, 'and not for the one started since');
    release(second);
    await checkpoint;
  } finally {
    for (const log of store.logNames()) release(store.getLog(log) as FileLog);
    await store.close();
  }
});

test('a checkpoint syncs the segments of many logs side by side, segmentWritesInFlightMax at once', async () => {
  const simulated = new SimulatedFileSystem();
  const fileSystem = new HookedFileSystem(simulated);
  const held: Array<() => void> = [];
  let holding = false;
  fileSystem.hook = (operation, path) => {
    if (!holding || operation !== 'sync' || !path.endsWith('.seg')) return undefined;
    return new Promise<void>((resolve) => held.push(resolve));
  };
  const store = await FileLogStore.open({ fileSystem, clock: new ManualClock(), directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000, segmentWritesInFlightMax: 4 });
  try {
    const logs = await Promise.all(Array.from({ length: 10 }, (_, index) => store.openLog(`log-${index}`)));
    await Promise.all(logs.map((log, index) => log.append([{ value: new Uint8Array([index]) }])));
    holding = true;
    let done = false;
    const checkpoint = store.checkpoint().then(() => (done = true));
    let most = 0;
    for (let round = 0; round < 50 && !done; round++) {
      await turns(5);
      most = Math.max(most, held.length);
      held.splice(0).forEach((resume) => resume());
    }
    await checkpoint;
    assert.equal(most, 4, 'four segment syncs in flight at once');
  } finally {
    holding = false;
    held.splice(0).forEach((resume) => resume());
    await store.close();
  }
});

test('a log\'s segment file is created with the log, not at its first segment write', async () => {
  const simulated = new SimulatedFileSystem();
  const store = await FileLogStore.open({ fileSystem: simulated, clock: new ManualClock(), directory: 'data', durability: 'always', checkpointIntervalMs: 3_600_000 });
  try {
    const log = (await store.openLog('fresh')) as FileLog;
    assert.deepEqual(await simulated.readdir(log.directory), [log.active().path.split('/').pop()], 'the file is there before any append');
    assert.equal(log.active().unflushedBytes(), 0, 'its header is written');
  } finally {
    await store.close();
  }
});
