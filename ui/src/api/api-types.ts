/**
 * The JSON of the management API as the console reads it (src/admin/routes):
 * only the fields the console uses, named as the API writes them.
 */

/** `GET /api/whoami`: the logged-in user. */
export interface Whoami {
  readonly name: string;
  readonly tags: readonly string[];
}

/** A protocol listener of the server, as the overview lists it. */
export interface Listener {
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

/** `GET /api/overview`: totals, smoothed message rates (per second), alarms, listeners. */
export interface Overview {
  readonly ferry_version: string;
  readonly node_version: string;
  readonly uptime_ms: number;
  readonly listeners: readonly Listener[];
  readonly object_totals: {
    readonly vhosts: number;
    readonly exchanges: number;
    readonly queues: number;
    readonly streams?: number;
    readonly bindings: number;
    readonly consumers: number;
    readonly connections: number;
    readonly channels: number;
  };
  readonly queue_totals: {
    readonly messages: number;
    readonly messages_ready: number;
    readonly messages_unacknowledged: number;
    readonly messages_scheduled: number;
  };
  readonly message_stats: {
    readonly publish: number;
    readonly publish_rate: number;
    readonly unroutable: number;
    readonly unroutable_rate: number;
    readonly deliver: number;
    readonly deliver_rate: number;
    readonly ack: number;
    readonly ack_rate: number;
  };
  readonly alarms: readonly string[];
  readonly storage_bytes: number | null;
}

/** An entry of `GET /api/vhosts`. */
export interface Vhost {
  readonly name: string;
}

/** Queue policies, as `PUT /api/queues` takes them. */
export interface QueuePolicies {
  readonly expires_ms?: number;
  readonly message_ttl_ms?: number;
  readonly max_length?: number;
  readonly max_length_bytes?: number;
  readonly overflow?: 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
  readonly dead_letter_exchange?: string;
  readonly dead_letter_routing_key?: string;
  readonly delivery_limit?: number;
  readonly max_priority?: number;
  readonly single_active_consumer?: boolean;
  readonly deduplication_window_ms?: number;
  readonly visibility_timeout_ms?: number;
  readonly queue_type?: 'quorum';
}

/** An entry of `GET /api/queues`: settings, depth, counters and smoothed rates. */
export interface QueueSummary {
  readonly vhost: string;
  readonly name: string;
  readonly durable: boolean;
  readonly auto_delete: boolean;
  readonly exclusive: boolean;
  readonly policies: QueuePolicies;
  readonly messages: number;
  readonly messages_ready: number;
  readonly messages_unacknowledged: number;
  readonly messages_scheduled: number;
  readonly message_bytes_ready: number;
  readonly consumers: number;
  readonly memory_bytes: number;
  readonly storage_bytes: number;
  readonly message_stats: {
    readonly publish: number;
    readonly publish_rate: number;
    readonly deliver: number;
    readonly deliver_rate: number;
    readonly ack: number;
    readonly ack_rate: number;
    readonly dead_lettered: number;
    readonly expired: number;
    readonly dropped: number;
  };
}

/** A consumer of one queue, as `GET /api/queues/{vhost}/{name}` lists it. */
export interface QueueConsumer {
  readonly consumer_tag: string;
  readonly prefetch_count: number;
  readonly ack_required: boolean;
  readonly priority: number;
  readonly exclusive: boolean;
  readonly active: boolean;
  readonly unacknowledged: number;
}

/** `GET /api/queues/{vhost}/{name}`. */
export interface QueueDetail extends QueueSummary {
  readonly consumer_details: readonly QueueConsumer[];
}

/** An entry of `GET /api/streams`: settings (null when unset), size, append counter and rate. */
export interface StreamSummary {
  readonly vhost: string;
  readonly name: string;
  readonly durable: boolean;
  readonly partitions: number;
  readonly retention_ms: number | null;
  readonly retention_bytes: number | null;
  readonly retention_messages: number | null;
  readonly segment_bytes_max: number | null;
  readonly message_bytes_max: number | null;
  readonly messages: number;
  readonly size_bytes: number;
  readonly consumer_groups: number;
  readonly message_stats: { readonly append: number; readonly append_rate: number };
}

/** `GET /api/streams/{vhost}/{name}`: with each partition's offsets and each consumer group's commits and lag. */
export interface StreamDetail extends StreamSummary {
  readonly partition_details: ReadonlyArray<{ readonly partition: number; readonly start_offset: number; readonly end_offset: number; readonly messages: number }>;
  readonly consumer_group_details: ReadonlyArray<{
    readonly name: string;
    readonly offsets: ReadonlyArray<{ readonly partition: number; readonly committed_offset: number | null }>;
    readonly lag: number;
  }>;
}

/** The exchange types the broker knows. */
export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

/** An entry of `GET /api/exchanges`. */
export interface Exchange {
  readonly vhost: string;
  /** "" is the default exchange; paths name it `amq.default`. */
  readonly name: string;
  readonly type: ExchangeType;
  readonly durable: boolean;
  readonly auto_delete: boolean;
  readonly internal: boolean;
  readonly alternate_exchange: string | null;
  readonly topic_dialect: string | null;
  readonly bindings_from: number;
}

/** A binding; `properties_key` names it in paths (to delete it). */
export interface Binding {
  readonly vhost: string;
  readonly source: string;
  readonly destination: string;
  readonly destination_type: 'queue' | 'stream' | 'exchange';
  readonly routing_key: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly properties_key: string;
}

/** An entry of `GET /api/connections`. */
export interface Connection {
  readonly name: string;
  readonly protocol: string;
  readonly peer_host: string | null;
  readonly peer_port: number | null;
  readonly user: string;
  readonly vhost: string;
  readonly connected_at_ms: number;
  readonly state: string;
  readonly channels: number;
}

/** An entry of `GET /api/consumers`, with its connection and channel when a protocol front end registered them. */
export interface Consumer {
  readonly vhost: string;
  readonly queue: string;
  readonly consumer_tag: string;
  readonly connection: string | null;
  readonly channel: string | null;
  readonly ack_required: boolean;
  readonly prefetch_count: number;
  readonly priority: number;
  readonly exclusive: boolean;
  readonly active: boolean;
  readonly flowing: boolean;
  readonly messages_unacknowledged: number;
}

/** Message properties as the API writes them. */
export interface MessageProperties {
  readonly content_type?: string;
  readonly content_encoding?: string;
  readonly message_id?: string;
  readonly correlation_id?: string;
  readonly reply_to?: string;
  readonly timestamp_ms?: number;
  readonly expiration_ms?: number;
  readonly priority?: number;
  readonly type?: string;
  readonly user_id?: string;
  readonly app_id?: string;
  readonly group_id?: string;
  readonly delay_ms?: number;
  readonly delivery_mode?: 1 | 2;
  readonly headers?: Readonly<Record<string, unknown>>;
}

/** A message as `POST /api/queues/…/get` and `GET /api/streams/…/messages` return it. */
export interface BrowsedMessage {
  readonly exchange: string;
  readonly routing_key: string;
  readonly payload: string;
  readonly payload_encoding: 'string' | 'base64';
  readonly payload_bytes: number;
  readonly properties: MessageProperties;
  /** Queues only. */
  readonly redelivered?: boolean;
  readonly delivery_count?: number;
  readonly message_count?: number;
  /** Streams only. */
  readonly partition?: number;
  readonly offset?: number;
  readonly timestamp_ms?: number;
}

/** The body of `POST /api/exchanges/{vhost}/{name}/publish`. */
export interface PublishRequest {
  readonly routing_key: string;
  readonly payload: string;
  readonly payload_encoding?: 'string' | 'base64';
  readonly properties?: MessageProperties;
}

/** What a publish did: routed anywhere, and which full queues refused it. */
export interface PublishResult {
  readonly routed: boolean;
  readonly rejected_by: readonly string[];
}

/** The default exchange's name in paths. */
export const DEFAULT_EXCHANGE_PATH_NAME = 'amq.default';

/** An exchange name as a path segment: the default exchange "" is `amq.default`. */
export function exchangePathName(name: string): string {
  return name === '' ? DEFAULT_EXCHANGE_PATH_NAME : name;
}
