import type { FastifyRequest } from 'fastify';
import { exchangeNameOf, messageOf, PUBLISH_REQUEST_SCHEMA, type PublishRequest } from '../../core/message/message-json.js';
import { storedMessage, type Message, type StoredMessage } from '../../core/message/message.js';
import type { ProducerStampInput } from '../../core/stream/stream.js';
import { FerryError } from '../../lib/ferry-error.js';
import { authorizedVhost, refuseWhileBlocked, type MessagingContext } from './messaging-context.js';
import { DIGITS_SCHEMA, messagingRoute, NAME_PARAMS_SCHEMA, type JsonSchema, type MessagingRoute, type NameParams } from './messaging-route.js';
import { rawMessageOf, RAW_PROPERTY_PARAMETERS, readPublishBody, type JsonParser, type PublishBody, type RawPropertyQuery } from './publish-body.js';

/** Query of an append to a stream with a raw body: message properties, partition, idempotent producer. */
type AppendQuery = RawPropertyQuery & {
  readonly partition?: string;
  readonly producer_id?: string;
  readonly producer_epoch?: string;
  readonly producer_sequence?: string;
};

/** An idempotent producer's stamp in a JSON append. */
interface ProducerJson {
  readonly id: number;
  readonly epoch: number;
  readonly sequence: number;
}

/** A JSON append to a stream: one message (with `partition` and `producer` beside it) or a batch. */
interface AppendJson extends Partial<PublishRequest> {
  readonly messages?: readonly PublishRequest[];
  readonly partition?: number;
  readonly producer?: ProducerJson;
}

const PUBLISH_OUTCOME_SCHEMA = {
  type: 'object',
  required: ['routed', 'rejected_by'],
  properties: {
    routed: { type: 'boolean', description: 'false when no queue or stream took the message (unroutable)' },
    rejected_by: { type: 'array', items: { type: 'string' }, description: 'queues that refused it (overflow `reject-publish`)' },
  },
} as const;

const PRODUCER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'epoch', 'sequence'],
  description: "an idempotent producer: a retry of a batch already stored is stored once (the partition's sequences are per producer)",
  properties: {
    id: { type: 'integer', minimum: 1 },
    epoch: { type: 'integer', minimum: 0 },
    sequence: { type: 'integer', minimum: 0, description: 'the sequence number of the first message' },
  },
} as const;

/** A message appended to a stream: as published, but the routing key is optional (default: the stream's name). */
const STREAM_MESSAGE_SCHEMA = { ...PUBLISH_REQUEST_SCHEMA, required: ['payload'] } as const;

/** One schema for a body that is a single message or `{ messages: [...] }`, with exact errors for either. */
function singleOrBatch(single: JsonSchema, batch: JsonSchema): JsonSchema {
  return { if: { type: 'object', required: ['messages'] }, then: batch, else: single };
}

/**
 * Publishing: to an exchange (routed as any publish) and straight into a
 * stream. Both answer once the messages are confirmed (durable per the
 * broker's durability mode) and take one message, a batch, or a raw body.
 */
export function publishRoutes(context: MessagingContext, parseJson: JsonParser): MessagingRoute[] {
  const { limits } = context;
  const batchOf = (message: JsonSchema, extra: JsonSchema = {}): JsonSchema => ({
    type: 'object',
    additionalProperties: false,
    required: ['messages'],
    properties: { messages: { type: 'array', minItems: 1, maxItems: limits.batchMessagesMax, items: message }, ...extra },
  });
  const exchangeBody = singleOrBatch(PUBLISH_REQUEST_SCHEMA, batchOf(PUBLISH_REQUEST_SCHEMA));
  const streamExtra = { partition: { type: 'integer', minimum: 0 }, producer: PRODUCER_SCHEMA } as const;
  const streamBody = singleOrBatch(
    { ...STREAM_MESSAGE_SCHEMA, properties: { ...STREAM_MESSAGE_SCHEMA.properties, ...streamExtra } },
    batchOf(STREAM_MESSAGE_SCHEMA, streamExtra),
  );
  const rawBody = { type: 'string', contentMediaType: 'application/octet-stream', description: 'any other content type (or any query parameter): the message body as it is' };

  /**
   * Refuses a batch with a message the core would refuse before any of it
   * goes out (the core would stop midway): one over message-bytes-max, or one
   * whose `user_id` is not the user's (validated as AMQP publishes are, as in RabbitMQ).
   */
  const checkMessages = (request: FastifyRequest, messages: readonly Message[]): void => {
    const user = context.principalOf(request).user;
    for (const [index, message] of messages.entries()) {
      const which = messages.length > 1 ? `message ${index} of the batch` : 'the message';
      if (message.body.byteLength > context.messageBytesMax) {
        throw new FerryError('MESSAGE_TOO_LARGE', `${which} has ${message.body.byteLength} bytes, more than message-bytes-max ${context.messageBytesMax}; nothing was published`);
      }
      if (message.properties.userId !== undefined && message.properties.userId !== user) {
        throw new FerryError('PRECONDITION_FAILED', `${which} has user_id ${message.properties.userId}, but the logged-in user is ${user}; nothing was published`);
      }
    }
  };

  const publishToExchange = messagingRoute<{ Params: NameParams; Querystring: RawPropertyQuery }>({
    method: 'POST',
    url: '/exchanges/:vhost/:name/messages',
    operationId: 'publishMessages',
    summary: 'Publish one message or a batch through an exchange',
    description:
      'Answers once every message is confirmed: durable in every queue it reached. The default exchange is `amq.default`. ' +
      'A JSON envelope (`application/json`, no query string) holds one message or `{ "messages": [...] }`; any other ' +
      'content type, or any query parameter, publishes the body as it is, with its content type and the properties of the query string. ' +
      'Needs the write permission on the exchange.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      querystring: { type: 'object', additionalProperties: false, properties: RAW_PROPERTY_PARAMETERS },
      response: {
        200: {
          type: 'object',
          description: 'one message: its outcome; a batch: `results`, one outcome per message in order',
          properties: { ...PUBLISH_OUTCOME_SCHEMA.properties, results: { type: 'array', items: PUBLISH_OUTCOME_SCHEMA } },
        },
      },
    },
    rawBody: { 'application/json': exchangeBody, '*/*': rawBody },
    handler: async (request) => {
      const pathName = request.params.name;
      const exchange = exchangeNameOf(pathName);
      const vhost = authorizedVhost(context, request, request.params.vhost, 'write', exchange);
      if (!vhost.router.getExchange(exchange)) throw new FerryError('EXCHANGE_NOT_FOUND', `no exchange ${pathName} in vhost ${vhost.name}`);
      const body = readPublishBody(request, parseJson, exchangeBody);
      const batch = body.kind === 'json' && isBatch(body.value);
      const messages =
        body.kind === 'raw' ? [rawMessageOf(body, request.query, '')] : batch ? (body.value as { messages: PublishRequest[] }).messages.map(messageOf) : [messageOf(body.value as PublishRequest)];
      checkMessages(request, messages);
      refuseWhileBlocked(context);
      // Published in one turn: the queues write them as one batch, with one fsync.
      const outcomes = messages.map((message) => vhost.publish(exchange, message));
      await (outcomes.length === 1 ? outcomes[0]!.durable : Promise.all(outcomes.map((outcome) => outcome.durable)));
      const results = outcomes.map((outcome) => ({ routed: outcome.routed, rejected_by: outcome.rejectedBy }));
      return batch ? { results } : results[0];
    },
  });

  const appendToStream = messagingRoute<{ Params: NameParams; Querystring: AppendQuery }>({
    method: 'POST',
    url: '/streams/:vhost/:name/messages',
    operationId: 'appendToStream',
    summary: 'Append one message or a batch to a stream',
    description:
      'Answers once the messages are durable, with the offsets they got per partition. Without `partition`, keyed messages ' +
      'hash to a partition and others go round-robin; with `producer`, the append is idempotent (a retry is stored once). ' +
      'Bodies as for publishing (raw bodies take `partition` and `producer_id`, `producer_epoch`, `producer_sequence` from the query string). ' +
      'Needs the write permission on the stream.',
    schema: {
      params: NAME_PARAMS_SCHEMA,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { ...RAW_PROPERTY_PARAMETERS, partition: DIGITS_SCHEMA, producer_id: DIGITS_SCHEMA, producer_epoch: DIGITS_SCHEMA, producer_sequence: DIGITS_SCHEMA },
      },
      response: {
        200: {
          type: 'object',
          required: ['partitions'],
          properties: {
            partitions: {
              type: 'array',
              items: {
                type: 'object',
                required: ['partition', 'base_offset', 'last_offset', 'duplicate'],
                properties: {
                  partition: { type: 'integer' },
                  base_offset: { type: 'integer' },
                  last_offset: { type: 'integer' },
                  duplicate: { type: 'boolean', description: "true when an idempotent producer's retry was recognised and nothing new was stored" },
                },
              },
            },
          },
        },
      },
    },
    rawBody: { 'application/json': streamBody, '*/*': rawBody },
    handler: async (request) => {
      const vhost = authorizedVhost(context, request, request.params.vhost, 'write', request.params.name);
      const stream = vhost.stream(request.params.name);
      const body = readPublishBody(request, parseJson, streamBody);
      const { messages, partition, producer } = appendOf(body, request.query, stream.name);
      checkMessages(request, messages);
      refuseWhileBlocked(context);
      const arrivedAtMs = context.core.clock.nowMs();
      const stored: StoredMessage[] = messages.map((message) => storedMessage(message, '', arrivedAtMs));
      const results = await stream.append(stored, { ...(partition !== undefined ? { partition } : {}), ...(producer ? { producer } : {}) });
      return {
        partitions: results.map((result) => ({ partition: result.partition, base_offset: result.baseOffset, last_offset: result.lastOffset, duplicate: result.duplicate })),
      };
    },
  });

  return [publishToExchange, appendToStream];
}

function isBatch(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'messages' in value;
}

/** The messages, partition and producer of an append, from a JSON envelope or a raw body and its query. */
function appendOf(body: PublishBody, query: AppendQuery, streamName: string): { messages: Message[]; partition: number | undefined; producer: ProducerStampInput | undefined } {
  const withRoutingKey = (request: PublishRequest): Message => messageOf({ ...request, routing_key: request.routing_key ?? streamName });
  if (body.kind === 'json') {
    const json = body.value as AppendJson;
    const messages = json.messages ? json.messages.map(withRoutingKey) : [withRoutingKey(json as PublishRequest)];
    const producer = json.producer ? { producerId: json.producer.id, epoch: json.producer.epoch, sequence: json.producer.sequence } : undefined;
    return { messages, partition: json.partition, producer };
  }
  const { partition, producer_id, producer_epoch, producer_sequence, ...properties } = query;
  const stamp = [producer_id, producer_epoch, producer_sequence];
  if (stamp.some((value) => value !== undefined) && stamp.some((value) => value === undefined)) {
    throw new FerryError('INVALID_REQUEST', 'an idempotent append names producer_id, producer_epoch and producer_sequence together');
  }
  return {
    messages: [rawMessageOf(body, properties, streamName)],
    partition: partition === undefined ? undefined : Number(partition),
    producer: producer_id === undefined ? undefined : { producerId: Number(producer_id), epoch: Number(producer_epoch), sequence: Number(producer_sequence) },
  };
}
