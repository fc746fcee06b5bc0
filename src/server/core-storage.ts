import type { Clock } from '../platform/clock.js';
import type { FileSystem } from '../platform/file-system.js';
import type { CoreStorage, DefinitionStore, Durability, Log, LogOptions, LogStore, QueueState } from '../core/ports.js';
import { FileLogStore, type FileLogStoreOptions } from '../storage/file-log-store.js';
import { MemoryLogStore } from '../storage/memory-log-store.js';
import { MetadataStore } from '../storage/metadata-store.js';
import { QueueStateStore } from '../storage/queue-state-store.js';

/**
 * The tuning knobs of the file store that `ferry serve` exposes (`--storage-*`), named as
 * {@link FileLogStoreOptions} names them; the segment limits are the defaults of logs opened
 * without their own (`logDefaults`), so they apply to logs created after a change only.
 * Every field may be left out: the store's own default applies.
 */
export type StorageTuning = Partial<
  Pick<
    FileLogStoreOptions,
    | 'journalBytesMax'
    | 'journalPreallocateBytes'
    | 'flushIntervalMs'
    | 'checkpointIntervalMs'
    | 'directWriteBytesMin'
    | 'groupStartBytes'
    | 'runRecordBytesMax'
    | 'runsHeldMsMax'
    | 'runsHeldBytesMax'
    | 'indexIntervalBytes'
    | 'segmentFlushBytes'
    | 'segmentFlushIntervalMs'
    | 'segmentWritesInFlightMax'
    | 'cacheBytesMax'
    | 'retentionCheckIntervalMs'
    | 'deferredGatherMsMax'
    | 'deferredGatherersMin'
  > &
    Pick<LogOptions, 'segmentBytesMax' | 'segmentAgeMsMax'>
>;

/** Where the core keeps its data. */
export type StorageSettings =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'file';
      readonly directory: string;
      readonly fileSystem: FileSystem;
      readonly durability: Durability;
      /** Tuning of the file store; the store checks the ranges (INVALID_ARGUMENT). */
      readonly tuning?: StorageTuning;
      /** Told how long each journal fsync took (metrics). */
      readonly onSync?: (durationMs: number) => void;
    };

/**
 * Wires storage implementations into the ports the core asks for: a durable
 * store (file, or memory with `--memory`), a memory store for transient
 * queues, definitions on the durable store, and queue delivery state beside
 * each queue's log (kept in memory only for transient queues).
 */
export async function openCoreStorage(settings: StorageSettings, clock: Clock): Promise<CoreStorage & { readonly logStore: LogStore }> {
  const transient = new MemoryLogStore({ clock });
  const durable: LogStore =
    settings.kind === 'memory'
      ? new MemoryLogStore({ clock })
      : await FileLogStore.open({
          ...fileStoreOptions(settings.tuning ?? {}),
          fileSystem: settings.fileSystem,
          clock,
          directory: settings.directory,
          durability: settings.durability,
          ...(settings.onSync ? { onSync: settings.onSync } : {}),
        });
  let definitions: DefinitionStore;
  try {
    definitions = await MetadataStore.open(durable);
  } catch (error) {
    await durable.close().catch(() => undefined);
    throw error;
  }
  return {
    logStore: durable,
    durable,
    transient,
    definitions,
    // The transient store lives and dies with the process, as does everything in memory mode: nothing
    // reads those queue states back, so they keep no log.
    openQueueState: (store: LogStore, name: string, messageLog: Log, options?: { readonly settledRecordsReadForMs?: number }): Promise<QueueState> =>
      QueueStateStore.open(store, name, messageLog, {
        volatile: store === transient || settings.kind === 'memory',
        ...(options?.settledRecordsReadForMs !== undefined ? { settledRecordsReadForMs: options.settledRecordsReadForMs, clock } : {}),
      }),
    close: async () => {
      await definitions.close();
      await durable.close();
      await transient.close();
    },
    abandon: () => {
      if (durable instanceof FileLogStore) durable.abandon();
      void transient.close();
    },
  };
}

/** The store options of `tuning`: the segment limits are log defaults; unset (undefined) fields keep the store's defaults. */
function fileStoreOptions({ segmentBytesMax, segmentAgeMsMax, ...store }: StorageTuning): Partial<FileLogStoreOptions> {
  return { ...store, logDefaults: { segmentBytesMax, segmentAgeMsMax } };
}
