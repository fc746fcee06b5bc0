import { FerryError } from '../../lib/ferry-error.js';
import type { LogOptions } from '../ports.js';

/** Largest number of partitions of one stream. */
export const STREAM_PARTITIONS_MAX = 1_024;

/** How a stream is declared. Retention applies per partition, by whole segments. */
export interface StreamConfig {
  readonly name: string;
  /** Partitions, 1 to {@link STREAM_PARTITIONS_MAX} (default 1). */
  readonly partitions: number;
  /** Durable streams are on disk and survive restarts; others live in memory (Redis-Streams style). */
  readonly durable: boolean;
  /** Segments whose newest message is older than this are deleted. */
  readonly retentionMs?: number;
  /** Oldest segments are deleted while a partition is larger than this. */
  readonly retentionBytes?: number;
  /** Oldest segments are deleted while a partition keeps at least this many messages without them. */
  readonly retentionMessages?: number;
  /** Segment size of the partitions (retention works in whole segments). */
  readonly segmentBytesMax?: number;
  /** Largest message body accepted (at most the broker's message-bytes-max). */
  readonly messageBytesMax?: number;
  /** `key`: sealed segments are compacted to the latest message per key (Kafka's cleanup.policy=compact). */
  readonly compaction?: 'key';
  /** How often a compacted stream's partitions are compacted (default 60 s). */
  readonly compactionIntervalMs?: number;
}

/** Fills defaults and checks ranges; INVALID_ARGUMENT names the bad setting. */
export function resolveStreamConfig(input: Partial<StreamConfig> & { readonly name: string }): StreamConfig {
  const partitions = input.partitions ?? 1;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > STREAM_PARTITIONS_MAX) {
    throw new FerryError('INVALID_ARGUMENT', `partitions must be an integer from 1 to ${STREAM_PARTITIONS_MAX}, got ${String(input.partitions)}`);
  }
  if (input.name.length === 0) throw new FerryError('INVALID_ARGUMENT', 'a stream needs a name');
  if (input.compaction !== undefined && input.compaction !== 'key') throw new FerryError('INVALID_ARGUMENT', `compaction must be 'key', got ${String(input.compaction)}`);
  for (const key of ['retentionMs', 'retentionBytes', 'retentionMessages', 'segmentBytesMax', 'messageBytesMax', 'compactionIntervalMs'] as const) {
    const value = input[key];
    if (value !== undefined && !(typeof value === 'number' && value > 0)) throw new FerryError('INVALID_ARGUMENT', `${key} must be a positive number, got ${String(value)}`);
  }
  return {
    name: input.name,
    partitions,
    durable: input.durable ?? true,
    ...(input.retentionMs !== undefined ? { retentionMs: input.retentionMs } : {}),
    ...(input.retentionBytes !== undefined ? { retentionBytes: input.retentionBytes } : {}),
    ...(input.retentionMessages !== undefined ? { retentionMessages: input.retentionMessages } : {}),
    ...(input.segmentBytesMax !== undefined ? { segmentBytesMax: input.segmentBytesMax } : {}),
    ...(input.messageBytesMax !== undefined ? { messageBytesMax: input.messageBytesMax } : {}),
    ...(input.compaction !== undefined ? { compaction: input.compaction } : {}),
    ...(input.compactionIntervalMs !== undefined ? { compactionIntervalMs: input.compactionIntervalMs } : {}),
  };
}

/** True when two configs declare the same stream (a redeclaration must match). */
export function sameStreamConfig(left: StreamConfig, right: StreamConfig): boolean {
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]) as Set<keyof StreamConfig>;
  for (const key of keys) if (left[key] !== right[key]) return false;
  return true;
}

/** The storage options of a partition log. */
export function partitionLogOptions(config: StreamConfig): LogOptions {
  return {
    ...(config.retentionMs !== undefined ? { retentionMs: config.retentionMs } : {}),
    ...(config.retentionBytes !== undefined ? { retentionBytes: config.retentionBytes } : {}),
    ...(config.retentionMessages !== undefined ? { retentionRecords: config.retentionMessages } : {}),
    ...(config.segmentBytesMax !== undefined ? { segmentBytesMax: config.segmentBytesMax } : {}),
  };
}
