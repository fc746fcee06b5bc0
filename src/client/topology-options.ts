import type { HeaderTable } from '../core/routing/header-value.js';

/** What a full queue does with more messages. */
export type OverflowPolicy = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

/** Options of {@link FerryClient.declareQueue} (the broker's queue settings). */
export interface QueueOptions {
  /** Survives a broker restart (default true). */
  readonly durable?: boolean;
  /** Only this connection may use it; deleted when the connection ends. */
  readonly exclusive?: boolean;
  /** Deleted when its last consumer goes. */
  readonly autoDelete?: boolean;
  /** Deleted after this long unused. */
  readonly expiresMs?: number;
  readonly messageTtlMs?: number;
  readonly maxLength?: number;
  readonly maxLengthBytes?: number;
  readonly overflow?: OverflowPolicy;
  readonly deadLetterExchange?: string;
  readonly deadLetterRoutingKey?: string;
  /** Deliveries after which a message is dead-lettered instead of redelivered. */
  readonly deliveryLimit?: number;
  readonly maxPriority?: number;
  readonly singleActiveConsumer?: boolean;
  /** Messages with a message id already seen within this window are stored once. */
  readonly deduplicationWindowMs?: number;
  /** How long a pulled message stays invisible before it returns to the queue. */
  readonly visibilityTimeoutMs?: number;
  /** Only check that it exists (QUEUE_NOT_FOUND otherwise); never re-declared after a reconnect. */
  readonly passive?: boolean;
}

/** The answer to {@link FerryClient.declareQueue}. */
export interface QueueDeclareResult {
  /** The queue's name (the server's choice when declared with ""). */
  readonly name: string;
  readonly messageCount: number;
  readonly consumerCount: number;
}

/** Exchange kinds. */
export type ExchangeKind = 'direct' | 'fanout' | 'topic' | 'headers';

/** Options of {@link FerryClient.declareExchange}. */
export interface ExchangeOptions {
  /** Survives a broker restart (default true). */
  readonly durable?: boolean;
  /** Deleted when its last binding goes. */
  readonly autoDelete?: boolean;
  /** Only other exchanges may publish to it. */
  readonly internal?: boolean;
  /** Where messages that route nowhere go. */
  readonly alternateExchange?: string;
}

/** Options of {@link FerryClient.bind} and {@link FerryClient.unbind}. */
export interface BindOptions {
  /** What `destination` names (default: a queue or a stream, by name). */
  readonly destinationKind?: 'queue' | 'stream' | 'exchange';
  /** Binding arguments (headers exchanges: `x-match` and the headers to match). */
  readonly arguments?: HeaderTable;
}

/** Options of {@link FerryClient.declareStream}. */
export interface StreamOptions {
  /** Default 1. */
  readonly partitions?: number;
  /** Default true. */
  readonly durable?: boolean;
  readonly retentionMs?: number;
  readonly retentionBytes?: number;
  readonly retentionMessages?: number;
  readonly segmentBytesMax?: number;
  readonly messageBytesMax?: number;
  /** Keep only the latest entry per key. */
  readonly compaction?: 'key';
  /** Only check that it exists (STREAM_NOT_FOUND otherwise). */
  readonly passive?: boolean;
}

/** The answer to {@link FerryClient.streamInfo}. */
export interface StreamInfo {
  /** Per partition: the first offset still stored. */
  readonly startOffsets: readonly number[];
  /** Per partition: the offset the next entry will get. */
  readonly endOffsets: readonly number[];
}

/** The options object as a wire table: only the options that are set. */
export function optionsTable(options: object): HeaderTable {
  const table: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    table[key] = value as string | number | boolean;
  }
  return table;
}
