import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queue } from '../../core/queue/queue.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { FerryError } from '../../lib/ferry-error.js';
import { DELIVERY_JSON_SCHEMA, deliveryToJson } from './delivery-json.js';
import { authorizedVhost, type MessagingContext } from './messaging-context.js';
import { DIGITS_SCHEMA, ENCODING_SCHEMA, messagingRoute, NAME_PARAMS_SCHEMA, wholeNumberOf, type MessagingRoute, type NameParams } from './messaging-route.js';

/** Longest a pulled message may stay invisible: 12 hours, as SQS allows. */
export const VISIBILITY_TIMEOUT_MS_MAX = 12 * 3_600_000;

/** How long a pulled message stays invisible when neither the request nor a finite queue setting says. */
const VISIBILITY_TIMEOUT_MS_DEFAULT = 30_000;

interface PullQuery {
  readonly max?: string;
  readonly wait_ms?: string;
  readonly visibility_timeout_ms?: string;
  readonly encoding?: 'auto' | 'base64';
}

interface SettleBody {
  readonly receipts: readonly string[];
  readonly requeue?: boolean;
  readonly visibility_timeout_ms?: number;
}

/**
 * The queue named in a path, for a user with the read permission on it.
 * Exclusive queues belong to their AMQP connection: RESOURCE_LOCKED.
 */
export function readableQueue(context: MessagingContext, request: FastifyRequest<{ Params: NameParams }>): { vhost: VirtualHost; queue: Queue } {
  const vhost = authorizedVhost(context, request, request.params.vhost, 'read', request.params.name);
  const queue = vhost.queue(request.params.name);
  if (queue.config.exclusiveOwner !== undefined) {
    throw new FerryError('RESOURCE_LOCKED', `queue ${queue.name} is exclusive to connection ${queue.config.exclusiveOwner}`);
  }
  return { vhost, queue };
}

/** True when the client of a request closed its connection (a long poll it gave up on). */
function clientGone(request: FastifyRequest, reply: FastifyReply): boolean {
  return reply.raw.destroyed || request.raw.socket.destroyed;
}

/**
 * Pulling from queues: take up to `max` messages (waiting up to `wait_ms`
 * for a first one), then settle each by its receipt: ack, nack (requeue or
 * dead-letter) or extend its visibility. A message not settled within its
 * visibility timeout returns to the queue (the core's doing) and its receipt
 * goes stale (409 UNKNOWN_DELIVERY).
 */
export function pullRoutes(context: MessagingContext): MessagingRoute[] {
  const { limits } = context;
  const receiptsSchema = { type: 'array', minItems: 1, maxItems: limits.pullMessagesMax, items: { type: 'string' } } as const;
  const settledSchema = (field: string, description: string) =>
    ({ 200: { type: 'object', required: [field], properties: { [field]: { type: 'integer', description } } } }) as const;

  const pull = messagingRoute<{ Params: NameParams; Querystring: PullQuery }>({
    method: 'POST',
    url: '/queues/:vhost/:name/pull',
    operationId: 'pullMessages',
    summary: 'Take messages from a queue, waiting for them if told',
    description:
      'Takes up to `max` ready messages; with `wait_ms`, waits that long for a first one (long polling) and answers as soon as one comes. ' +
      'Each message stays invisible to others for `visibility_timeout_ms` (default: the queue\'s, 30 s), then returns unless acked. ' +
      'An empty list means none came in time. Needs the read permission on the queue.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          max: { ...DIGITS_SCHEMA, description: `most messages to take, 1 (default) to ${limits.pullMessagesMax}` },
          wait_ms: { ...DIGITS_SCHEMA, description: `longest wait for a first message, 0 (default) to ${limits.waitMsMax}` },
          visibility_timeout_ms: { ...DIGITS_SCHEMA, description: `1 to ${VISIBILITY_TIMEOUT_MS_MAX}` },
          encoding: ENCODING_SCHEMA,
        },
      },
      response: { 200: { type: 'object', required: ['messages'], properties: { messages: { type: 'array', items: DELIVERY_JSON_SCHEMA } } } },
    },
    handler: async (request, reply) => {
      const { vhost, queue } = readableQueue(context, request);
      const query = request.query;
      const max = wholeNumberOf(query.max, 'max', 1, 1, limits.pullMessagesMax);
      const waitMs = wholeNumberOf(query.wait_ms, 'wait_ms', 0, 0, limits.waitMsMax);
      const queueTimeoutMs = queue.config.visibilityTimeoutMs;
      const visibilityTimeoutMs = wholeNumberOf(
        query.visibility_timeout_ms,
        'visibility_timeout_ms',
        Number.isFinite(queueTimeoutMs) ? Math.min(queueTimeoutMs, VISIBILITY_TIMEOUT_MS_MAX) : VISIBILITY_TIMEOUT_MS_DEFAULT,
        1,
        VISIBILITY_TIMEOUT_MS_MAX,
      );
      const deliveries = await queue.pull({ max, waitMs, visibilityTimeoutMs });
      if (deliveries.length > 0 && clientGone(request, reply)) {
        // Nobody will see these: back to the queue now rather than after the visibility timeout.
        await queue.nack(deliveries.map((delivery) => delivery.id), true, { returned: true }).catch(() => undefined);
        return { messages: [] };
      }
      const encoding = query.encoding ?? 'auto';
      return { messages: deliveries.map((delivery) => deliveryToJson(context.receipts, vhost.name, queue, delivery, encoding)) };
    },
  });

  const ack = messagingRoute<{ Params: NameParams; Body: SettleBody }>({
    method: 'POST',
    url: '/queues/:vhost/:name/ack',
    operationId: 'ackMessages',
    summary: 'Acknowledge pulled or subscribed messages: they are gone for good',
    description: 'Answers once the acks are durable. All or nothing: a receipt that is not in flight (acked already, or returned after its visibility timeout) makes it 409 UNKNOWN_DELIVERY and settles none.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      body: { type: 'object', additionalProperties: false, required: ['receipts'], properties: { receipts: receiptsSchema } },
      response: settledSchema('acked', 'deliveries acked'),
    },
    handler: async (request) => {
      const { vhost, queue } = readableQueue(context, request);
      const ids = context.receipts.deliveryIdsOf(vhost.name, queue, request.body.receipts);
      await queue.ack(ids);
      return { acked: new Set(ids).size };
    },
  });

  const nack = messagingRoute<{ Params: NameParams; Body: SettleBody }>({
    method: 'POST',
    url: '/queues/:vhost/:name/nack',
    operationId: 'nackMessages',
    summary: 'Return pulled or subscribed messages to the queue, or dead-letter them',
    description:
      'With `requeue` (default true) the messages go back to their place, marked redelivered (a delivery limit may dead-letter them); ' +
      'without, they are dead-lettered (or dropped when the queue has no dead-letter exchange). All or nothing, as ack.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      body: { type: 'object', additionalProperties: false, required: ['receipts'], properties: { receipts: receiptsSchema, requeue: { type: 'boolean' } } },
      response: settledSchema('nacked', 'deliveries returned or dead-lettered'),
    },
    handler: async (request) => {
      const { vhost, queue } = readableQueue(context, request);
      const ids = context.receipts.deliveryIdsOf(vhost.name, queue, request.body.receipts);
      await queue.nack(ids, request.body.requeue ?? true);
      return { nacked: new Set(ids).size };
    },
  });

  const visibility = messagingRoute<{ Params: NameParams; Body: SettleBody }>({
    method: 'POST',
    url: '/queues/:vhost/:name/visibility',
    operationId: 'changeVisibility',
    summary: 'Extend (or shorten) how long pulled messages stay invisible',
    description: 'Each message returns to the queue `visibility_timeout_ms` from now unless settled before; 0 returns it at once. All or nothing, as ack.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['receipts', 'visibility_timeout_ms'],
        properties: { receipts: receiptsSchema, visibility_timeout_ms: { type: 'integer', minimum: 0, maximum: VISIBILITY_TIMEOUT_MS_MAX } },
      },
      response: settledSchema('changed', 'deliveries whose timeout changed'),
    },
    handler: async (request) => {
      const { vhost, queue } = readableQueue(context, request);
      const ids = [...new Set(context.receipts.deliveryIdsOf(vhost.name, queue, request.body.receipts))];
      // Every one first, so that an unknown delivery changes nothing.
      for (const id of ids) queue.positionOf(id);
      for (const id of ids) queue.changeVisibility(id, request.body.visibility_timeout_ms!);
      return { changed: ids.length };
    },
  });

  return [pull, ack, nack, visibility];
}
