import type { OverflowPolicy, QueueConfig } from '../core/queue/queue-config.js';

/**
 * A queue's policies as the management API and definitions documents write
 * them: snake_case names of the core's `QueueConfig` fields, only those set.
 */
export interface QueuePolicies {
  readonly expires_ms?: number;
  readonly message_ttl_ms?: number;
  readonly max_length?: number;
  readonly max_length_bytes?: number;
  readonly overflow?: OverflowPolicy;
  readonly dead_letter_exchange?: string;
  readonly dead_letter_routing_key?: string;
  readonly delivery_limit?: number;
  readonly max_priority?: number;
  readonly single_active_consumer?: boolean;
  readonly deduplication_window_ms?: number;
  readonly visibility_timeout_ms?: number;
  /** `quorum` for a queue declared as a RabbitMQ quorum queue. */
  readonly queue_type?: 'quorum';
}

type PolicyField = keyof QueuePolicies;

/** JSON name → QueueConfig field; the one table both directions use. */
const FIELDS: ReadonlyArray<readonly [PolicyField, keyof QueueConfig]> = [
  ['expires_ms', 'expiresMs'],
  ['message_ttl_ms', 'messageTtlMs'],
  ['max_length', 'maxLength'],
  ['max_length_bytes', 'maxLengthBytes'],
  ['overflow', 'overflow'],
  ['dead_letter_exchange', 'deadLetterExchange'],
  ['dead_letter_routing_key', 'deadLetterRoutingKey'],
  ['delivery_limit', 'deliveryLimit'],
  ['max_priority', 'maxPriority'],
  ['single_active_consumer', 'singleActiveConsumer'],
  ['deduplication_window_ms', 'deduplicationWindowMs'],
  ['visibility_timeout_ms', 'visibilityTimeoutMs'],
  ['queue_type', 'queueType'],
];

const integer = { type: 'integer', minimum: 0 } as const;

/** JSON schema of {@link QueuePolicies}; unknown names are refused. */
export const QUEUE_POLICIES_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    expires_ms: integer,
    message_ttl_ms: integer,
    max_length: integer,
    max_length_bytes: integer,
    overflow: { type: 'string', enum: ['drop-head', 'reject-publish', 'reject-publish-dlx'] },
    dead_letter_exchange: { type: 'string' },
    dead_letter_routing_key: { type: 'string' },
    delivery_limit: integer,
    max_priority: { type: 'integer', minimum: 0, maximum: 255 },
    single_active_consumer: { type: 'boolean' },
    deduplication_window_ms: integer,
    visibility_timeout_ms: integer,
    queue_type: { type: 'string', enum: ['quorum'] },
  },
} as const;

/** The names {@link QUEUE_POLICIES_SCHEMA} accepts. */
export const QUEUE_POLICY_NAMES: readonly string[] = FIELDS.map(([name]) => name);

/** The policies of a declared queue, as JSON. */
export function policiesOf(config: QueueConfig): QueuePolicies {
  const policies: Record<string, unknown> = {};
  for (const [name, field] of FIELDS) if (config[field] !== undefined) policies[name] = config[field];
  return policies as QueuePolicies;
}

/** The QueueConfig fields of JSON policies (the core fills defaults and validates ranges). */
export function configOf(policies: QueuePolicies | undefined): Partial<QueueConfig> {
  const config: Record<string, unknown> = {};
  if (!policies) return config;
  for (const [name, field] of FIELDS) if (policies[name] !== undefined) config[field] = policies[name];
  return config as Partial<QueueConfig>;
}
