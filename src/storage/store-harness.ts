import type { Durability, Log, LogOptions, LogStore, RecordInput } from '../core/ports.js';
import type { FileSystem } from '../platform/file-system.js';
import { ManualClock } from '../platform/clock.js';
import { SeededRandom } from '../platform/random.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { FileLogStore } from './file-log-store.js';
import { MemoryLogStore } from './memory-log-store.js';

/**
 * Test support: a LogStore to run a suite against, with restart and (where it
 * can be simulated) power loss. Used by the tests of everything built on logs.
 */
export interface StoreHarness {
  open(): Promise<LogStore>;
  /** A clean restart; the memory store keeps nothing, so its "restart" is the same store. */
  reopen(store: LogStore): Promise<LogStore>;
  /** Power loss (torn writes) and reopen; only where it can be simulated. */
  crash?(store: LogStore): Promise<LogStore>;
  readonly fileSystem?: SimulatedFileSystem;
}

/** A memory store. */
export function memoryHarness(logDefaults?: LogOptions): StoreHarness {
  const clock = new ManualClock();
  return { open: async () => new MemoryLogStore({ clock, ...(logDefaults ? { logDefaults } : {}) }), reopen: async (store) => store };
}

/**
 * A file store on a simulated disk whose crashes tear writes, seeded. With `interpose`, the
 * store sees the file system it returns (a HookedFileSystem, say) instead of the simulated one.
 * `runRecordBytesMax` 0 makes every append a batch of its own, placed in the segments at once
 * (for tests that look at segments right after appending, or compare layouts with the memory store).
 */
export function simulatedFileHarness(
  options: { durability?: Durability; seed?: number; logDefaults?: LogOptions; runRecordBytesMax?: number; interpose?: (fileSystem: SimulatedFileSystem) => FileSystem } = {},
): StoreHarness {
  let clock = new ManualClock();
  const fileSystem = new SimulatedFileSystem();
  const storeFileSystem = options.interpose ? options.interpose(fileSystem) : fileSystem;
  const random = new SeededRandom(options.seed ?? 42);
  const open = () =>
    FileLogStore.open({
      fileSystem: storeFileSystem,
      clock,
      directory: 'data',
      durability: options.durability ?? 'always',
      ...(options.logDefaults ? { logDefaults: options.logDefaults } : {}),
      ...(options.runRecordBytesMax !== undefined ? { runRecordBytesMax: options.runRecordBytesMax } : {}),
    });
  return {
    fileSystem,
    open,
    reopen: async (store) => {
      await store.close();
      return open();
    },
    crash: async (store) => {
      (store as FileLogStore).abandon();
      fileSystem.crash(random);
      clock = new ManualClock(clock.nowMs());
      return open();
    },
  };
}

/** Opens a store from `harness`, runs `run`, and closes whatever store `run` ends with. */
export async function withHarnessStore(harness: StoreHarness, run: (store: LogStore, harness: StoreHarness) => Promise<LogStore | void>): Promise<void> {
  let store = await harness.open();
  try {
    store = (await run(store, harness)) ?? store;
  } finally {
    await store.close().catch(() => undefined);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Records `r<first>` .. `r<first + count - 1>`, each value padded to `valueBytes`. */
export function numberedRecords(first: number, count: number, valueBytes = 1024): RecordInput[] {
  return Array.from({ length: count }, (_, i) => ({ value: encoder.encode(`r${first + i}|`.padEnd(valueBytes, 'x')) }));
}

/** The names `r0` .. `r<count - 1>`: what {@link numberedRecordNames} gives for records 0 to count - 1. */
export function numberedNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `r${i}`);
}

/** The `r<n>` names of every record of `log`, in order (see {@link numberedRecords}). */
export async function numberedRecordNames(log: Log): Promise<string[]> {
  const back = await log.read(log.startOffset(), { recordsMax: 1_000_000, bytesMax: 1 << 30 });
  return back.map((record) => decoder.decode(record.value).split('|')[0]!);
}
