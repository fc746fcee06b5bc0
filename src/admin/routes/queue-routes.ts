import type { FastifyInstance } from 'fastify';
import type { Delivery } from '../../core/queue/delivery.js';
import type { Queue } from '../../core/queue/queue.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { FerryError } from '../../lib/ferry-error.js';
import { principalOf, vhostFor, visibleVhosts, type AdminContext } from '../admin-context.js';
import { messageToJson } from '../../core/message/message-json.js';
import { LIST_QUERY_SCHEMA, paginate, type ListQuery } from '../pagination.js';
import { configOf, policiesOf, QUEUE_POLICIES_SCHEMA, type QueuePolicies } from '../queue-policies.js';
import { bindingView } from './binding-routes.js';

/** Path parameters of one queue. */
interface QueueParams {
  readonly vhost: string;
  readonly name: string;
}

/** Body of `PUT /api/queues/{vhost}/{name}`. */
interface DeclareQueueBody {
  readonly durable?: boolean;
  readonly auto_delete?: boolean;
  readonly policies?: QueuePolicies;
}

/** How `POST /api/queues/{vhost}/{name}/get` treats the messages it returns. */
type AckMode = 'peek' | 'ack_requeue_true' | 'reject_requeue_true' | 'ack_requeue_false' | 'reject_requeue_false';

/** Body of `POST /api/queues/{vhost}/{name}/get`. */
interface GetBody {
  readonly count?: number;
  readonly ackmode: AckMode;
  readonly encoding?: 'auto' | 'base64';
  readonly truncate?: number;
}

/** Most messages one get returns. */
const GET_COUNT_MAX = 1_000;

const PARAMS_SCHEMA = {
  type: 'object',
  required: ['vhost', 'name'],
  properties: { vhost: { type: 'string' }, name: { type: 'string', minLength: 1 } },
} as const;

const DECLARE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: { durable: { type: 'boolean' }, auto_delete: { type: 'boolean' }, policies: QUEUE_POLICIES_SCHEMA },
} as const;

const GET_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['ackmode'],
  properties: {
    count: { type: 'integer', minimum: 1, maximum: GET_COUNT_MAX },
    ackmode: { type: 'string', enum: ['peek', 'ack_requeue_true', 'reject_requeue_true', 'ack_requeue_false', 'reject_requeue_false'] },
    encoding: { type: 'string', enum: ['auto', 'base64'] },
    truncate: { type: 'integer', minimum: 0 },
  },
} as const;

const DELETE_QUERY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: { if_unused: { type: 'string', enum: ['true', 'false'] }, if_empty: { type: 'string', enum: ['true', 'false'] } },
} as const;

/** A queue as the API shows it: settings, depth, consumers, memory and disk use, counters and rates. */
export function queueView(context: AdminContext, vhost: VirtualHost, queue: Queue): Record<string, unknown> {
  const rates = context.rates.queueRates(queue);
  const counters = queue.counters;
  const ready = queue.messageCount();
  const unacknowledged = queue.unsettledCount();
  return {
    vhost: vhost.name,
    name: queue.name,
    durable: queue.config.durable,
    auto_delete: queue.config.autoDelete,
    exclusive: queue.config.exclusiveOwner !== undefined,
    exclusive_owner: queue.config.exclusiveOwner ?? null,
    policies: policiesOf(queue.config),
    messages: ready + unacknowledged,
    messages_ready: ready,
    messages_unacknowledged: unacknowledged,
    messages_scheduled: queue.scheduledCount(),
    message_bytes_ready: queue.messageBytes(),
    consumers: queue.consumerCount(),
    memory_bytes: queue.memoryBytes(),
    storage_bytes: queue.logs().reduce((sum, log) => sum + log.sizeBytes(), 0),
    message_stats: {
      publish: counters.published,
      publish_rate: round(rates.publish),
      deliver: counters.delivered,
      deliver_rate: round(rates.deliver),
      ack: counters.acked,
      ack_rate: round(rates.ack),
      dead_lettered: counters.deadLettered,
      expired: counters.expired,
      dropped: counters.dropped,
    },
  };
}

/** Rates with two decimals: smoothing leaves long tails of digits that mean nothing. */
export function round(rate: number): number {
  return Math.round(rate * 100) / 100;
}

/** Queues: list, show, declare, delete, purge, get (peek or consume), bindings. */
export function registerQueueRoutes(api: FastifyInstance, context: AdminContext): void {
  const { management } = context;

  api.get<{ Querystring: ListQuery }>('/queues', { schema: { querystring: LIST_QUERY_SCHEMA } }, async (request) => {
    const principal = principalOf(request);
    const rows = visibleVhosts(context, principal).flatMap((vhost) => vhost.listQueues().map((queue) => [vhost, queue] as const));
    return paginate(rows, request.query, ([vhost, queue]) => queueView(context, vhost, queue));
  });

  api.get<{ Params: { vhost: string }; Querystring: ListQuery }>(
    '/queues/:vhost',
    { schema: { params: { type: 'object', properties: { vhost: { type: 'string' } } }, querystring: LIST_QUERY_SCHEMA } },
    async (request) => {
      const vhost = vhostFor(context, principalOf(request), request.params.vhost);
      return paginate(vhost.listQueues(), request.query, (queue) => queueView(context, vhost, queue));
    },
  );

  api.get<{ Params: QueueParams }>('/queues/:vhost/:name', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    const queue = vhost.queue(request.params.name);
    return {
      ...queueView(context, vhost, queue),
      consumer_details: queue.consumerDetails().map((consumer) => ({
        consumer_tag: consumer.tag,
        prefetch_count: consumer.prefetch,
        ack_required: !consumer.autoAck,
        priority: consumer.priority,
        exclusive: consumer.exclusive,
        active: consumer.active,
        unacknowledged: consumer.inFlight,
      })),
    };
  });

  api.put<{ Params: QueueParams; Body: DeclareQueueBody | undefined }>(
    '/queues/:vhost/:name',
    { schema: { params: PARAMS_SCHEMA, body: DECLARE_SCHEMA } },
    async (request, reply) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      const name = request.params.name;
      management.require(principal, vhost.name, 'configure', name);
      if (name.startsWith('amq.')) throw new FerryError('ACCESS_REFUSED', `queue name ${name} has the reserved prefix amq.`);
      const body = request.body ?? {};
      const existed = vhost.findQueue(name) !== undefined;
      const queue = await vhost.declareQueue({ ...configOf(body.policies), name, durable: body.durable ?? true, autoDelete: body.auto_delete ?? false });
      return reply.code(existed ? 200 : 201).send(queueView(context, vhost, queue));
    },
  );

  api.delete<{ Params: QueueParams; Querystring: { if_unused?: 'true' | 'false'; if_empty?: 'true' | 'false' } }>(
    '/queues/:vhost/:name',
    { schema: { params: PARAMS_SCHEMA, querystring: DELETE_QUERY_SCHEMA } },
    async (request) => {
      const principal = principalOf(request);
      const vhost = vhostFor(context, principal, request.params.vhost);
      management.require(principal, vhost.name, 'configure', request.params.name);
      const count = await vhost.deleteQueue(request.params.name, {
        ifUnused: request.query.if_unused === 'true',
        ifEmpty: request.query.if_empty === 'true',
      });
      return { messages_deleted: count };
    },
  );

  api.delete<{ Params: QueueParams }>('/queues/:vhost/:name/contents', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const principal = principalOf(request);
    const vhost = vhostFor(context, principal, request.params.vhost);
    management.require(principal, vhost.name, 'read', request.params.name);
    const queue = vhost.queue(request.params.name);
    refuseExclusive(queue);
    return { messages_purged: await queue.purge() };
  });

  api.post<{ Params: QueueParams; Body: GetBody }>('/queues/:vhost/:name/get', { schema: { params: PARAMS_SCHEMA, body: GET_SCHEMA } }, async (request) => {
    const principal = principalOf(request);
    const vhost = vhostFor(context, principal, request.params.vhost);
    management.require(principal, vhost.name, 'read', request.params.name);
    const queue = vhost.queue(request.params.name);
    refuseExclusive(queue);
    const { ackmode, count = 1, encoding = 'auto', truncate } = request.body;
    const payload = { encoding, ...(truncate !== undefined ? { truncateBytes: truncate } : {}) };
    if (ackmode === 'peek') {
      const peeked = await queue.peek(count);
      return peeked.map((entry) => ({
        ...messageToJson(entry.message, payload),
        redelivered: entry.deliveryCount > 0,
        delivery_count: entry.deliveryCount,
        message_count: queue.messageCount(),
      }));
    }
    const autoAck = ackmode === 'ack_requeue_false';
    const deliveries: Delivery[] = await queue.pull({ max: count, autoAck, visibilityTimeoutMs: Number.POSITIVE_INFINITY });
    const ids = deliveries.map((delivery) => delivery.id);
    // Requeued messages go back to their place (marked redelivered); a delivery limit may dead-letter them, as a consumer's nack would.
    if (ids.length > 0 && !autoAck) await queue.nack(ids, ackmode !== 'reject_requeue_false');
    const remaining = queue.messageCount();
    return deliveries.map((delivery) => ({
      ...messageToJson(delivery.message, payload),
      redelivered: delivery.redelivered,
      delivery_count: delivery.deliveryCount,
      message_count: remaining,
    }));
  });

  api.get<{ Params: QueueParams }>('/queues/:vhost/:name/bindings', { schema: { params: PARAMS_SCHEMA } }, async (request) => {
    const vhost = vhostFor(context, principalOf(request), request.params.vhost);
    const queue = vhost.queue(request.params.name);
    return vhost.router.bindingsTo({ kind: 'queue', name: queue.name }).map((binding) => bindingView(vhost, binding));
  });
}

/** Exclusive queues belong to their connection: the API does not take messages from them. */
function refuseExclusive(queue: Queue): void {
  if (queue.config.exclusiveOwner !== undefined) {
    throw new FerryError('RESOURCE_LOCKED', `queue ${queue.name} is exclusive to connection ${queue.config.exclusiveOwner}`);
  }
}
