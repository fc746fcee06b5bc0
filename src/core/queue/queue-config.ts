import { FerryError } from '../../lib/ferry-error.js';

/** What happens when a publish would take a queue past its length limit. */
export type OverflowPolicy = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

/** A queue's declaration: identity, lifetime and every policy. */
export interface QueueConfig {
  readonly name: string;
  /** Durable queues and their persistent messages survive a restart. */
  readonly durable: boolean;
  /** Owner connection of an exclusive queue; deleted when it closes. */
  readonly exclusiveOwner?: string;
  /** Deleted when its last consumer goes (after having had one). */
  readonly autoDelete: boolean;
  /** Deleted after this long without consumers, gets or redeclaration. */
  readonly expiresMs?: number;
  /** Messages older than this are expired (dead-lettered with reason `expired`). */
  readonly messageTtlMs?: number;
  /** Most ready messages. */
  readonly maxLength?: number;
  /** Most bytes of ready message bodies. */
  readonly maxLengthBytes?: number;
  readonly overflow: OverflowPolicy;
  readonly deadLetterExchange?: string;
  readonly deadLetterRoutingKey?: string;
  /** A message delivered this many times and returned again is dead-lettered (`delivery-limit`). */
  readonly deliveryLimit?: number;
  /** Priorities 0..maxPriority are honoured (at most 255); absent means no priorities. */
  readonly maxPriority?: number;
  /** Only one consumer receives at a time; the next takes over when it goes. */
  readonly singleActiveConsumer: boolean;
  /** Publishes whose message id was seen within this window are dropped. */
  readonly deduplicationWindowMs?: number;
  /** How long a pulled message stays invisible before it returns (default 30 s). */
  readonly visibilityTimeoutMs: number;
  /**
   * `quorum` for a queue declared as a RabbitMQ quorum queue (absent: classic). The core
   * treats both alike; AMQP deliveries from a quorum queue say how often the message was
   * delivered before (`x-delivery-count`), and redeclaring with the other type is refused.
   */
  readonly queueType?: 'quorum';
}

/** Defaults for {@link QueueConfig}. */
export const QUEUE_CONFIG_DEFAULTS = {
  durable: true,
  autoDelete: false,
  overflow: 'drop-head' as OverflowPolicy,
  singleActiveConsumer: false,
  visibilityTimeoutMs: 30_000,
};

/** Fills defaults and validates; INVALID_ARGUMENT names the bad setting. */
export function resolveQueueConfig(input: Partial<QueueConfig> & { readonly name: string }): QueueConfig {
  // Object.assign, not a spread: V8 gives each object made by a spread and then more keys a map
  // of its own, and the configs of a thousand queues made every read of a field of `config`
  // megamorphic, a stub-cache miss each (measured with --log-ic on the queues-1000 flow).
  const config = Object.assign({}, QUEUE_CONFIG_DEFAULTS, stripUndefined(input)) as QueueConfig;
  const positive = (key: keyof QueueConfig, allowZero: boolean) => {
    const value = config[key];
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
      throw new FerryError('INVALID_ARGUMENT', `queue ${config.name}: ${key} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`);
    }
  };
  positive('expiresMs', false);
  positive('messageTtlMs', true);
  positive('maxLength', true);
  positive('maxLengthBytes', true);
  positive('deliveryLimit', false);
  positive('maxPriority', true);
  positive('deduplicationWindowMs', false);
  positive('visibilityTimeoutMs', true);
  if (config.maxPriority !== undefined && config.maxPriority > 255) {
    throw new FerryError('INVALID_ARGUMENT', `queue ${config.name}: maxPriority must be at most 255`);
  }
  if (!['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(config.overflow)) {
    throw new FerryError('INVALID_ARGUMENT', `queue ${config.name}: overflow must be drop-head, reject-publish or reject-publish-dlx`);
  }
  if (config.queueType !== undefined && config.queueType !== 'quorum') {
    throw new FerryError('INVALID_ARGUMENT', `queue ${config.name}: queueType must be quorum when set`);
  }
  if (config.name.length === 0 || config.name.length > 255) {
    throw new FerryError('INVALID_ARGUMENT', 'a queue name must have 1 to 255 characters');
  }
  return config;
}

function stripUndefined<T extends object>(input: T): Partial<T> {
  // `__proto__` is no setting, and Object.assign would set the prototype from it.
  return Object.fromEntries(Object.entries(input).filter(([key, value]) => value !== undefined && key !== '__proto__')) as Partial<T>;
}

/** True when two declarations describe the same queue (for redeclaration checks). */
export function sameQueueConfig(left: QueueConfig, right: QueueConfig): boolean {
  return queueConfigDifference(left, right) === null;
}

/** The first setting in which `requested` differs from `current` (exclusivity aside), or null. */
export function queueConfigDifference(current: QueueConfig, requested: QueueConfig): keyof QueueConfig | null {
  // The type first: a quorum queue differs from a classic one in its defaults too.
  const keys = new Set(['queueType', ...Object.keys(current), ...Object.keys(requested)]) as Set<keyof QueueConfig>;
  keys.delete('exclusiveOwner');
  for (const key of keys) {
    if (current[key] === requested[key]) continue;
    // A quorum queue stored before queues kept their type (it has the quorum delivery limit) is one.
    if (key === 'queueType' && current.queueType === undefined && requested.queueType === 'quorum' && current.deliveryLimit !== undefined) continue;
    return key;
  }
  return null;
}

/**
 * The type a protocol's client gave a queue argument (by its RabbitMQ name, such as
 * `x-max-length`) in the declaration being checked (`requested`) or in the one that made
 * the queue (`current`), named as RabbitMQ names AMQP field types; undefined when not known.
 */
export type ArgumentTypeOf = (argument: string, side: 'requested' | 'current') => string | undefined;

/** The AMQP type RabbitMQ would name for a setting's value when the client's is not known. */
function typeOfValue(value: unknown): string {
  if (typeof value === 'string') return 'longstr';
  if (typeof value === 'boolean') return 'bool';
  return Number.isInteger(value) ? 'long' : 'double';
}

/**
 * What a redeclaration with other settings is refused with, in RabbitMQ's words
 * (`inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '20' but current is '10'`;
 * with only one side set, `received the value '10' of type 'byte' but current is none`),
 * settings named as RabbitMQ's queue arguments and flags name them.
 */
export function inequivalentQueueMessage(current: QueueConfig, requested: QueueConfig, vhost: string, typeOf?: ArgumentTypeOf): string {
  const key = queueConfigDifference(current, requested);
  if (key === null) return `queue '${current.name}' in vhost '${vhost}' is equivalent`;
  const [name, shown] = RABBITMQ_SETTING_NAMES[key] ?? [key, same];
  const value = (config: QueueConfig): unknown => (config[key] === undefined ? undefined : shown(config[key] as never));
  const received = value(requested);
  const held = value(current);
  const describe = (setting: unknown, side: 'requested' | 'current', other: unknown): string => {
    if (setting === undefined) return 'none';
    if (other !== undefined) return `'${String(setting)}'`;
    return `the value '${String(setting)}' of type '${typeOf?.(name, side) ?? typeOfValue(setting)}'`;
  };
  return `inequivalent arg '${name}' for queue '${current.name}' in vhost '${vhost}': received ${describe(received, 'requested', held)} but current is ${describe(held, 'current', received)}`;
}

const same = (value: unknown): unknown => value;

/** Queue settings by the names RabbitMQ users know them by, with values in those units. */
const RABBITMQ_SETTING_NAMES: Partial<Record<keyof QueueConfig, readonly [string, (value: never) => unknown]>> = {
  durable: ['durable', same],
  autoDelete: ['auto_delete', same],
  expiresMs: ['x-expires', same],
  messageTtlMs: ['x-message-ttl', same],
  maxLength: ['x-max-length', same],
  maxLengthBytes: ['x-max-length-bytes', same],
  overflow: ['x-overflow', same],
  deadLetterExchange: ['x-dead-letter-exchange', same],
  deadLetterRoutingKey: ['x-dead-letter-routing-key', same],
  // The core counts deliveries; RabbitMQ's limit counts returns.
  deliveryLimit: ['x-delivery-limit', (value: number) => value - 1],
  maxPriority: ['x-max-priority', same],
  singleActiveConsumer: ['x-single-active-consumer', same],
  deduplicationWindowMs: ['x-deduplication-window', same],
  queueType: ['x-queue-type', same],
};
