import type { OverflowPolicy } from '../../../core/queue/queue-config.js';
import { readOptions } from '../options-table.js';
import type { RequestHandler } from '../request-handler.js';

const QUEUE_OPTIONS = {
  durable: 'boolean',
  exclusive: 'boolean',
  autoDelete: 'boolean',
  expiresMs: 'count',
  messageTtlMs: 'count',
  maxLength: 'count',
  maxLengthBytes: 'count',
  overflow: 'string',
  deadLetterExchange: 'string',
  deadLetterRoutingKey: 'string',
  deliveryLimit: 'count',
  maxPriority: 'count',
  singleActiveConsumer: 'boolean',
  deduplicationWindowMs: 'count',
  visibilityTimeoutMs: 'count',
  passive: 'boolean',
} as const;

let serverNamed = 0;

/**
 * `queueDeclare`: creates a queue with the QueueConfig policies of its
 * options, or checks an existing one (PRECONDITION_FAILED when it differs);
 * `passive` only checks that it exists (QUEUE_NOT_FOUND). An empty name asks
 * for a server-named queue; `exclusive` ties it to this connection.
 */
export const queueDeclare: RequestHandler<'queueDeclare'> = {
  ordered: true,
  async handle(channel, { name, options }) {
    const { passive, exclusive, overflow, ...config } = readOptions(options, QUEUE_OPTIONS, `queue ${name}`);
    const vhost = channel.vhost;
    if (passive === true) {
      const queue = vhost.queue(name);
      channel.checkExclusive(queue);
      return { name: queue.name, messageCount: queue.messageCount(), consumerCount: queue.consumerCount() };
    }
    const queueName = name === '' ? `ferry.gen-${(++serverNamed).toString(36)}-${Math.random().toString(36).slice(2, 12)}` : name;
    channel.authorize('configure', queueName);
    const queue = await vhost.declareQueue({
      name: queueName,
      ...config,
      ...(overflow !== undefined ? { overflow: overflow as OverflowPolicy } : {}),
      ...(exclusive === true ? { exclusiveOwner: channel.host.connectionId } : {}),
    });
    return { name: queue.name, messageCount: queue.messageCount(), consumerCount: queue.consumerCount() };
  },
};

/** `queueDelete`: answers how many messages it held (`ifUnused` / `ifEmpty`: PRECONDITION_FAILED). */
export const queueDelete: RequestHandler<'queueDelete'> = {
  ordered: true,
  async handle(channel, { name, ifUnused, ifEmpty }) {
    channel.authorize('configure', name);
    channel.checkExclusive(channel.vhost.queue(name));
    return { messageCount: await channel.vhost.deleteQueue(name, { ifUnused, ifEmpty }) };
  },
};

/** `queuePurge`: removes the ready messages; answers how many. */
export const queuePurge: RequestHandler<'queuePurge'> = {
  ordered: true,
  async handle(channel, { name }) {
    channel.authorize('read', name);
    const queue = channel.vhost.queue(name);
    channel.checkExclusive(queue);
    return { messageCount: await queue.purge() };
  },
};
