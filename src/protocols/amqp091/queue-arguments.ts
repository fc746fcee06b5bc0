import { FerryError } from '../../lib/ferry-error.js';
import type { OverflowPolicy, QueueConfig } from '../../core/queue/queue-config.js';
import type { HeaderTable, HeaderValue } from '../../core/routing/header-value.js';
import type { StreamConfig } from '../../core/stream/stream-config.js';
import type { FieldTable, FieldValueType } from './codec/field-table.js';

/**
 * RabbitMQ's queue arguments (`x-*`) mapped onto a queue declaration. Wrong
 * types and values are refused with PRECONDITION_FAILED; `x-` arguments Ferry
 * has no use for are accepted and ignored, as RabbitMQ does. `x-queue-type`
 * classic and quorum are accepted (a quorum queue is a durable queue with a
 * delivery limit of 20 unless set, as RabbitMQ 4 does); `stream` declares a
 * stream instead, see {@link streamConfigFromArguments} (the channel checks
 * {@link isStreamDeclaration} first). A quorum queue that is not durable, or
 * is exclusive or auto-delete (`flags`), is refused as RabbitMQ does; errors
 * name the queue and vhost (`where`).
 */
export function queueConfigFromArguments(queueArguments: HeaderTable, flags: QueueDeclarationFlags, where: QueueWhere): Partial<QueueConfig> {
  const config: Record<string, unknown> = {};
  // RabbitMQ's wording (its detail terms included), which users search for.
  const queueIn = `queue '${where.queue}' in vhost '${where.vhost}'`;
  const typeOf = (name: string, value: HeaderValue): string => {
    const wire = where.wireArguments?.get(name);
    return wire !== undefined ? RABBITMQ_TYPE_NAMES[wire.type] : amqpTypeOf(value);
  };
  const invalid = (name: string, detail: string) => new FerryError('PRECONDITION_FAILED', `invalid arg '${name}' for ${queueIn}: ${detail}`);
  const integer = (name: string, value: HeaderValue, minimum: number): number => {
    const number = typeof value === 'bigint' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number)) throw invalid(name, `"expected integer, got ${typeOf(name, value)}"`);
    if (number < minimum) throw invalid(name, number < 0 ? `{value_negative,${number}}` : `{value_zero,${number}}`);
    return number;
  };
  const text = (name: string, value: HeaderValue): string => {
    if (typeof value !== 'string') throw new FerryError('PRECONDITION_FAILED', `invalid type '${typeOf(name, value)}' for arg '${name}' in ${queueIn}`);
    return value;
  };
  let queueType = 'classic';
  for (const [name, value] of Object.entries(queueArguments)) {
    switch (name) {
      case 'x-message-ttl':
        config['messageTtlMs'] = integer(name, value, 0);
        break;
      case 'x-expires':
        config['expiresMs'] = integer(name, value, 1);
        break;
      case 'x-max-length':
        config['maxLength'] = integer(name, value, 0);
        break;
      case 'x-max-length-bytes':
        config['maxLengthBytes'] = integer(name, value, 0);
        break;
      case 'x-overflow': {
        const overflow = text(name, value);
        if (!['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(overflow)) throw invalid(name, 'invalid_overflow');
        config['overflow'] = overflow as OverflowPolicy;
        break;
      }
      case 'x-dead-letter-exchange':
        config['deadLetterExchange'] = text(name, value);
        break;
      case 'x-dead-letter-routing-key':
        config['deadLetterRoutingKey'] = text(name, value);
        break;
      case 'x-max-priority':
        config['maxPriority'] = integer(name, value, 0);
        if ((config['maxPriority'] as number) > 255) throw invalid(name, `{max_value_exceeded,${String(value)}}`);
        break;
      case 'x-single-active-consumer':
        if (typeof value !== 'boolean') throw invalid(name, `{unacceptable_type,${typeOf(name, value)}}`);
        config['singleActiveConsumer'] = value;
        break;
      case 'x-delivery-limit':
        // RabbitMQ's limit counts returns: limit N allows N + 1 deliveries; the core counts deliveries.
        config['deliveryLimit'] = integer(name, value, 0) + 1;
        break;
      case 'x-queue-type':
        queueType = text(name, value);
        if (queueType !== 'classic' && queueType !== 'quorum') throw invalid(name, `"unsupported queue type '${queueType}'"`);
        break;
      case 'x-deduplication-window':
        config['deduplicationWindowMs'] = integer(name, value, 1);
        break;
      default:
        // Other arguments (x-queue-mode, x-queue-leader-locator, x-dead-letter-strategy, ...) are
        // accepted and ignored, as RabbitMQ accepts arguments it has no use for.
        break;
    }
  }
  if (config['deadLetterRoutingKey'] !== undefined && config['deadLetterExchange'] === undefined) {
    // RabbitMQ refuses a dead-letter routing key that has no dead-letter exchange to go with.
    throw invalid('x-dead-letter-routing-key', 'routing_key_but_no_dlx_defined');
  }
  if (queueType === 'quorum') {
    // A quorum queue is durable, neither exclusive nor auto-delete: RabbitMQ refuses the others.
    refuseNonDurableFlags(flags, where);
    config['durable'] = true;
    config['queueType'] = 'quorum';
    config['deliveryLimit'] ??= 21; // RabbitMQ 4's default quorum limit of 20 returns.
  }
  return config as Partial<QueueConfig>;
}

function describe(value: HeaderValue): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/** Where a declaration is, for error messages. */
export interface QueueWhere {
  readonly queue: string;
  readonly vhost: string;
  /** The arguments as they came on the wire, so errors name the type the client sent as RabbitMQ does. */
  readonly wireArguments?: FieldTable;
}

/** RabbitMQ's names of the AMQP field types (rabbit_binary_parser). */
export const RABBITMQ_TYPE_NAMES: Readonly<Record<FieldValueType, string>> = {
  boolean: 'bool',
  int8: 'byte',
  uint8: 'unsignedbyte',
  int16: 'short',
  uint16: 'unsignedshort',
  int32: 'signedint',
  uint32: 'unsignedint',
  int64: 'long',
  float: 'float',
  double: 'double',
  decimal: 'decimal',
  timestamp: 'timestamp',
  longstr: 'longstr',
  bytes: 'binary',
  array: 'array',
  table: 'table',
  void: 'void',
};

/** The AMQP field type RabbitMQ would name for a value, without its wire type (integers as long). */
function amqpTypeOf(value: HeaderValue): string {
  if (value === null) return 'void';
  if (typeof value === 'string') return 'longstr';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return 'long';
  if (typeof value === 'number') return Number.isInteger(value) ? 'long' : 'double';
  if (value instanceof Uint8Array) return 'binary';
  return Array.isArray(value) ? 'array' : 'table';
}

/** True when queue.declare's arguments ask for a RabbitMQ stream queue (`x-queue-type: stream`). */
export function isStreamDeclaration(queueArguments: HeaderTable): boolean {
  return queueArguments['x-queue-type'] === 'stream';
}

/** queue.declare's lifetime flags. */
export interface QueueDeclarationFlags {
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
}

/** The most RabbitMQ accepts for `x-stream-max-segment-size-bytes` (3 GB). */
const STREAM_SEGMENT_BYTES_MAX = 3_000_000_000;

/**
 * Queue arguments RabbitMQ knows but refuses for a stream (its stream queue type
 * lists only the stream arguments as valid), plus Ferry's own deduplication window.
 */
const ARGUMENTS_REFUSED_FOR_STREAMS = new Set([
  'x-expires',
  'x-message-ttl',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-dead-letter-strategy',
  'x-max-length',
  'x-max-in-memory-length',
  'x-max-in-memory-bytes',
  'x-max-priority',
  'x-overflow',
  'x-queue-mode',
  'x-queue-version',
  'x-single-active-consumer',
  'x-delivery-limit',
  'x-quorum-initial-group-size',
  'x-deduplication-window',
]);

/**
 * A RabbitMQ stream queue declaration mapped onto a Ferry stream: one
 * partition (a RabbitMQ stream is one log), durable. As RabbitMQ answers, it
 * is PRECONDITION_FAILED when the queue is server-named, not durable,
 * exclusive or auto-delete, when an argument has a wrong type or value, and
 * for queue arguments streams do not support (TTLs, length limits in
 * messages, dead lettering, priorities, ...). Unknown arguments are ignored.
 *
 *   argument                          stream setting
 *   x-max-age                         retentionMs (a duration, see maxAgeMs)
 *   x-max-length-bytes                retentionBytes
 *   x-stream-max-segment-size-bytes   segmentBytesMax (at most 3 GB)
 *   x-initial-cluster-size            checked (a positive integer), ignored: Ferry is one node
 *   x-queue-leader-locator            checked (a string), ignored: Ferry is one node
 *   x-stream-filter-size-bytes        checked (16 to 255), ignored: no stream filtering
 */
export function streamConfigFromArguments(where: QueueWhere, flags: QueueDeclarationFlags, queueArguments: HeaderTable): Partial<StreamConfig> & { readonly name: string } {
  const queueName = where.queue;
  // RabbitMQ's stream queue type: server_named false, and is_compatible(durable, not exclusive, not auto-delete).
  if (queueName === '') throw new FerryError('PRECONDITION_FAILED', 'server-named queues are not supported for queue type stream');
  const config: { name: string; partitions: number; durable: boolean; retentionMs?: number; retentionBytes?: number; segmentBytesMax?: number } = {
    name: queueName,
    partitions: 1,
    durable: true,
  };
  const invalid = (name: string, why: string): FerryError =>
    new FerryError('PRECONDITION_FAILED', `invalid arg '${name}' for queue '${queueName}' of queue type stream: ${why}`);
  const integer = (name: string, value: HeaderValue, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number => {
    const number = typeof value === 'bigint' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isSafeInteger(number)) throw invalid(name, `an integer is expected, got ${describe(value)}`);
    if (number < minimum || number > maximum) throw invalid(name, `${number} is outside ${minimum} to ${maximum}`);
    return number;
  };
  for (const [name, value] of Object.entries(queueArguments)) {
    if (ARGUMENTS_REFUSED_FOR_STREAMS.has(name)) throw invalid(name, 'streams do not support it');
    switch (name) {
      case 'x-queue-type':
        break;
      case 'x-max-age': {
        const maxAge = typeof value === 'string' ? maxAgeMs(value) : undefined;
        if (maxAge === undefined) throw invalid(name, `a duration such as '7D' (units Y, M, D, h, m, s) is expected, got ${describe(value)}`);
        config.retentionMs = maxAge;
        break;
      }
      case 'x-max-length-bytes':
        // RabbitMQ accepts 0; Ferry's retention needs a positive size.
        config.retentionBytes = integer(name, value, 1);
        break;
      case 'x-stream-max-segment-size-bytes':
        config.segmentBytesMax = integer(name, value, 1, STREAM_SEGMENT_BYTES_MAX);
        break;
      case 'x-initial-cluster-size':
        integer(name, value, 1);
        break;
      case 'x-queue-leader-locator':
        if (typeof value !== 'string') throw invalid(name, 'a string is expected');
        break;
      case 'x-stream-filter-size-bytes':
        integer(name, value, 16, 255);
        break;
      default:
        break;
    }
  }
  // Streams are always durable, never exclusive or auto-delete.
  refuseNonDurableFlags(flags, where);
  return config;
}

/**
 * Refuses, in RabbitMQ's words, a declaration of a quorum queue or a stream that is not
 * durable, or is exclusive or auto-delete (the first of these that applies).
 */
function refuseNonDurableFlags(flags: QueueDeclarationFlags, where: QueueWhere): void {
  const refused = !flags.durable ? 'non-durable' : flags.exclusive ? 'exclusive-owner' : flags.autoDelete ? 'auto-delete' : null;
  if (refused !== null) throw new FerryError('PRECONDITION_FAILED', `invalid property '${refused}' for queue '${where.queue}' in vhost '${where.vhost}'`);
}

const DURATION_UNIT_MS: Readonly<Record<string, number>> = {
  Y: 365 * 24 * 3_600_000,
  M: 30 * 24 * 3_600_000,
  D: 24 * 3_600_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
};

/**
 * RabbitMQ's duration syntax of `x-max-age` (and of interval `x-stream-offset`
 * values): a positive integer and one unit, `Y` (365 days), `M` (30 days),
 * `D`, `h`, `m` or `s`, e.g. `7D`. Returns milliseconds, or undefined when
 * `text` is not such a duration.
 */
export function maxAgeMs(text: string): number | undefined {
  const match = /^([0-9]+)([YMDhms])$/.exec(text);
  if (!match) return undefined;
  const milliseconds = Number(match[1]) * DURATION_UNIT_MS[match[2]!]!;
  return milliseconds > 0 && Number.isSafeInteger(milliseconds) ? milliseconds : undefined;
}
