import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogStore } from '../core/ports.js';
import { ManualClock } from '../platform/clock.js';
import { NodeFileSystem } from '../platform/node-file-system.js';
import { SeededRandom } from '../platform/random.js';
import { SimulatedFileSystem } from '../platform/simulated-file-system.js';
import { FileLogStore } from './file-log-store.js';
import { describeLogStore, type LogStoreHarness } from './log-store.contract.js';
import { MemoryLogStore } from './memory-log-store.js';

type OpenOptions = Parameters<LogStoreHarness['open']>[0];

function logDefaults(options: OpenOptions) {
  const { batchBytesMax: _, ...logOptions } = options ?? {};
  return { segmentBytesMax: 1 << 20, ...logOptions };
}

/** The store-wide settings among the harness's options. */
function storeOptions(options: OpenOptions) {
  return options?.batchBytesMax !== undefined ? { batchBytesMax: options.batchBytesMax } : {};
}

describeLogStore('memory', () => {
  const clock = new ManualClock();
  return {
    clock,
    open: async (options) => new MemoryLogStore({ clock, logDefaults: logDefaults(options), ...storeOptions(options) }),
    cleanup: async () => undefined,
  };
});

describeLogStore('file on the real disk', () => {
  const clock = new ManualClock();
  const directory = mkdtempSync(join(tmpdir(), 'ferry-contract-'));
  let defaults: OpenOptions;
  const open = () => FileLogStore.open({ fileSystem: new NodeFileSystem(), clock, directory, logDefaults: logDefaults(defaults), ...storeOptions(defaults) });
  return {
    clock,
    open: async (options) => {
      defaults = options;
      return open();
    },
    reopen: async (store: LogStore) => {
      await store.close();
      return open();
    },
    cleanup: async () => rmSync(directory, { recursive: true, force: true }),
  };
});

describeLogStore('file on the simulated disk', () => {
  let clock = new ManualClock();
  const fileSystem = new SimulatedFileSystem();
  const random = new SeededRandom(7);
  let defaults: OpenOptions;
  const open = () => FileLogStore.open({ fileSystem, clock, directory: 'data', logDefaults: logDefaults(defaults), ...storeOptions(defaults) });
  const harness: LogStoreHarness = {
    get clock() {
      return clock;
    },
    open: async (options) => {
      defaults = options;
      return open();
    },
    reopen: async (store: LogStore) => {
      await store.close();
      return open();
    },
    crash: async (store: LogStore) => {
      (store as FileLogStore).abandon();
      fileSystem.crash(random);
      clock = new ManualClock(clock.nowMs());
      return open();
    },
    cleanup: async () => undefined,
  };
  return harness;
});
