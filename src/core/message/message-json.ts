/**
 * A message as JSON, the one form the HTTP APIs (the management API of
 * src/admin and the messaging API of src/protocols/http) read and write:
 * snake_case, units last, the body as text or base64. Here, below both, so
 * neither writes it twice.
 */
import type { Message, MessageProperties, StoredMessage } from './message.js';
import { FerryError } from '../../lib/ferry-error.js';
import { headerTableToJson, headerValueToJson, jsonToHeaderTable, type Json } from './header-json.js';

/** Message properties as the API writes them (snake_case, units last). */
/** The default exchange's name in paths, where an empty segment cannot stand (as RabbitMQ's management API names it). */
export const DEFAULT_EXCHANGE_PATH_NAME = 'amq.default';

/** An exchange name from a path: `amq.default` is the default exchange `""`. */
export function exchangeNameOf(pathName: string): string {
  return pathName === DEFAULT_EXCHANGE_PATH_NAME ? '' : pathName;
}

export interface MessagePropertiesJson {
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
  /** 1 transient, 2 persistent (AMQP's delivery mode). */
  readonly delivery_mode?: 1 | 2;
  readonly headers?: { readonly [key: string]: Json };
}

/** A message to publish: the body of `POST /api/exchanges/{vhost}/{name}/publish` and of each message the messaging API publishes. */
export interface PublishRequest {
  readonly routing_key: string;
  readonly payload: string;
  readonly payload_encoding?: 'string' | 'base64';
  readonly properties?: MessagePropertiesJson;
}

/** Property name in JSON → MessageProperties field. */
const FIELDS: ReadonlyArray<readonly [keyof MessagePropertiesJson, keyof MessageProperties]> = [
  ['content_type', 'contentType'],
  ['content_encoding', 'contentEncoding'],
  ['message_id', 'messageId'],
  ['correlation_id', 'correlationId'],
  ['reply_to', 'replyTo'],
  ['timestamp_ms', 'timestampMs'],
  ['expiration_ms', 'expirationMs'],
  ['priority', 'priority'],
  ['type', 'type'],
  ['user_id', 'userId'],
  ['app_id', 'appId'],
  ['group_id', 'groupId'],
  ['delay_ms', 'delayMs'],
];

const text = { type: 'string' } as const;
const count = { type: 'integer', minimum: 0 } as const;

/** JSON schema of {@link PublishRequest}. */
export const PUBLISH_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['routing_key', 'payload'],
  properties: {
    routing_key: text,
    payload: text,
    payload_encoding: { type: 'string', enum: ['string', 'base64'] },
    properties: {
      type: 'object',
      additionalProperties: false,
      properties: {
        content_type: text,
        content_encoding: text,
        message_id: text,
        correlation_id: text,
        reply_to: text,
        timestamp_ms: count,
        expiration_ms: count,
        priority: { type: 'integer', minimum: 0, maximum: 255 },
        type: text,
        user_id: text,
        app_id: text,
        group_id: text,
        delay_ms: count,
        delivery_mode: { type: 'integer', enum: [1, 2] },
        headers: { type: 'object' },
      },
    },
  },
} as const;

/** The core message of a publish request. INVALID_ARGUMENT when a base64 payload is not base64. */
export function messageOf(request: PublishRequest): Message {
  let body: Uint8Array;
  if (request.payload_encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(request.payload) || request.payload.length % 4 !== 0) {
      throw new FerryError('INVALID_ARGUMENT', 'payload is not base64 (payload_encoding is base64)');
    }
    body = Buffer.from(request.payload, 'base64');
  } else {
    body = Buffer.from(request.payload, 'utf8');
  }
  return messageWithBody(request.routing_key, body, request.properties ?? {});
}

/** A core message of `body` with properties as JSON (already validated against the schema's `properties`). */
export function messageWithBody(routingKey: string, body: Uint8Array, json: MessagePropertiesJson): Message {
  const properties: Record<string, unknown> = {};
  for (const [name, field] of FIELDS) if (json[name] !== undefined) properties[field] = json[name];
  return {
    routingKey,
    properties: properties as MessageProperties,
    headers: jsonToHeaderTable(json.headers),
    body,
    persistent: json.delivery_mode !== 1,
  };
}

/** How {@link messageToJson} writes the body. */
export interface PayloadOptions {
  /** `auto`: UTF-8 text when the body is valid UTF-8, else base64. */
  readonly encoding: 'auto' | 'base64';
  /** Bodies longer than this many bytes are cut (the JSON says `payload_bytes` in full). */
  readonly truncateBytes?: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A stored message as JSON (`POST /api/queues/{vhost}/{name}/get`, stream reads, HTTP deliveries). */
export function messageToJson(message: StoredMessage, options: PayloadOptions): Record<string, Json> {
  const body = options.truncateBytes !== undefined && message.body.byteLength > options.truncateBytes ? message.body.subarray(0, options.truncateBytes) : message.body;
  let payload: string | null = null;
  if (options.encoding === 'auto') {
    try {
      payload = strictUtf8.decode(body);
    } catch {
      payload = null;
    }
  }
  const properties: Record<string, Json> = {};
  for (const [name, field] of FIELDS) {
    const value = message.properties[field];
    if (value !== undefined) properties[name] = headerValueToJson(value);
  }
  properties['delivery_mode'] = message.persistent ? 2 : 1;
  properties['headers'] = headerTableToJson(message.headers);
  return {
    exchange: message.exchange,
    routing_key: message.routingKey,
    payload: payload ?? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'),
    payload_encoding: payload === null ? 'base64' : 'string',
    payload_bytes: message.body.byteLength,
    properties,
  };
}

/**
 * JSON schema of what {@link messageToJson} writes, for response schemas and
 * API documents. Open where the message is (headers hold any JSON).
 */
export const MESSAGE_JSON_SCHEMA = {
  type: 'object',
  required: ['exchange', 'routing_key', 'payload', 'payload_encoding', 'payload_bytes', 'properties'],
  properties: {
    exchange: text,
    routing_key: text,
    payload: text,
    payload_encoding: { type: 'string', enum: ['string', 'base64'] },
    payload_bytes: count,
    properties: {
      type: 'object',
      additionalProperties: true,
      properties: {
        ...PUBLISH_REQUEST_SCHEMA.properties.properties.properties,
        headers: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;
