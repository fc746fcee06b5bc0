import { FerryError } from '../../lib/ferry-error.js';
import type { OverflowPolicy, QueueConfig } from '../../core/queue/queue-config.js';
import type { HeaderTable, HeaderValue } from '../../core/routing/header-value.js';

/**
 * RabbitMQ's queue arguments (`x-*`) mapped onto a queue declaration. Unknown
 * `x-` arguments are refused with PRECONDITION_FAILED, as are wrong types;
 * `x-queue-type` classic and quorum are accepted (a quorum queue is a durable
 * queue with a delivery limit of 20 unless set, as RabbitMQ 4 does).
 */
export function queueConfigFromArguments(queueArguments: HeaderTable): Partial<QueueConfig> {
  const config: Record<string, unknown> = {};
  const integer = (name: string, value: HeaderValue, minimum: number): number => {
    const number = typeof value === 'bigint' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < minimum) {
      throw new FerryError('PRECONDITION_FAILED', `invalid arg '${name}' for queue: ${describe(value)}`);
    }
    return number;
  };
  const text = (name: string, value: HeaderValue): string => {
    if (typeof value !== 'string') throw new FerryError('PRECONDITION_FAILED', `invalid arg '${name}' for queue: a string is expected`);
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
        if (!['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(overflow)) {
          throw new FerryError('PRECONDITION_FAILED', `invalid arg 'x-overflow' for queue: '${overflow}'`);
        }
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
        config['maxPriority'] = Math.min(integer(name, value, 0), 255);
        break;
      case 'x-single-active-consumer':
        if (typeof value !== 'boolean') throw new FerryError('PRECONDITION_FAILED', `invalid arg '${name}' for queue: a boolean is expected`);
        config['singleActiveConsumer'] = value;
        break;
      case 'x-delivery-limit':
        // RabbitMQ's limit counts returns: limit N allows N + 1 deliveries; the core counts deliveries.
        config['deliveryLimit'] = integer(name, value, 0) + 1;
        break;
      case 'x-queue-type':
        queueType = text(name, value);
        if (queueType === 'stream') throw new FerryError('PRECONDITION_FAILED', "invalid arg 'x-queue-type': stream queues are not available yet");
        if (queueType !== 'classic' && queueType !== 'quorum') {
          throw new FerryError('PRECONDITION_FAILED', `invalid arg 'x-queue-type' for queue: '${queueType}'`);
        }
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
  if (queueType === 'quorum') {
    config['durable'] = true;
    config['deliveryLimit'] ??= 21; // RabbitMQ 4's default quorum limit of 20 returns.
  }
  return config as Partial<QueueConfig>;
}

function describe(value: HeaderValue): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}
