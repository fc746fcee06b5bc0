import type { FastifyRequest } from 'fastify';
import { messageWithBody, type MessagePropertiesJson } from '../../core/message/message-json.js';
import type { Message } from '../../core/message/message.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { JsonSchema } from './messaging-route.js';

/** Parses JSON as fastify does (refusing `__proto__` and `constructor` keys); from `getDefaultJsonParser`. */
export type JsonParser = (request: FastifyRequest, body: string, done: (error: Error | null, value?: unknown) => void) => void;

/** A publish request's body: a JSON envelope (validated against the route's schema) or raw bytes. */
export type PublishBody = { readonly kind: 'json'; readonly value: unknown } | { readonly kind: 'raw'; readonly body: Uint8Array; readonly contentType: string | undefined };

const digits = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;

/**
 * Query parameters that set the properties of a raw body's message, named as
 * in the JSON envelope's `properties` (the content type comes from the
 * request's `content-type`).
 */
export const RAW_PROPERTY_PARAMETERS = {
  routing_key: { type: 'string' },
  message_id: { type: 'string' },
  correlation_id: { type: 'string' },
  reply_to: { type: 'string' },
  type: { type: 'string' },
  app_id: { type: 'string' },
  user_id: { type: 'string' },
  group_id: { type: 'string' },
  content_encoding: { type: 'string' },
  timestamp_ms: digits,
  expiration_ms: digits,
  delay_ms: digits,
  priority: { type: 'string', pattern: '^([0-9]{1,2}|1[0-9]{2}|2[0-4][0-9]|25[0-5])$' },
  delivery_mode: { type: 'string', enum: ['1', '2'], description: '1 transient, 2 persistent (default)' },
} as const;

/** The query of a raw publish, as {@link RAW_PROPERTY_PARAMETERS} validates it. */
export type RawPropertyQuery = { readonly [name in keyof typeof RAW_PROPERTY_PARAMETERS]?: string };

const INTEGER_PROPERTIES = new Set(['timestamp_ms', 'expiration_ms', 'delay_ms', 'priority', 'delivery_mode']);

/**
 * Reads the body of a publish route (which takes every content type as
 * bytes). A body is a JSON envelope when its type is `application/json` and
 * the query string is empty; then it must match `schema` (INVALID_REQUEST
 * naming the field otherwise). Any other type, or any query parameter, makes
 * the body the message itself, byte for byte: so a JSON document goes out as
 * it is with `?routing_key=…`.
 */
export function readPublishBody(request: FastifyRequest, parseJson: JsonParser, schema: JsonSchema): PublishBody {
  const body = request.body instanceof Buffer ? request.body : Buffer.alloc(0);
  const contentType = request.headers['content-type'];
  const mediaType = contentType?.split(';', 1)[0]!.trim().toLowerCase();
  const hasQuery = Object.keys(request.query as object).length > 0;
  if (mediaType !== 'application/json' || hasQuery) return { kind: 'raw', body, contentType };
  let value: unknown;
  let failure: Error | null = null;
  // Synchronous: fastify's JSON parser calls back before it returns.
  parseJson(request, body.toString('utf8'), (error, parsed) => {
    failure = error;
    value = parsed;
  });
  if (failure !== null) throw failure;
  const validate = request.compileValidationSchema(schema, 'body');
  if (!validate(value)) {
    const reasons = (validate.errors ?? []).map((error) => {
      const field = (error.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      return `body${error.instancePath} ${error.message ?? 'is invalid'}${field !== undefined ? ` (${field})` : ''}`;
    });
    throw new FerryError('INVALID_REQUEST', reasons.join(', '));
  }
  return { kind: 'json', value };
}

/** The message of a raw body: the bytes, its content type, properties from the query string. */
export function rawMessageOf(body: PublishBody & { kind: 'raw' }, query: RawPropertyQuery, routingKeyDefault: string): Message {
  const properties: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || name === 'routing_key' || !(name in RAW_PROPERTY_PARAMETERS)) continue;
    properties[name] = INTEGER_PROPERTIES.has(name) ? Number(value) : value;
  }
  if (body.contentType !== undefined) properties['content_type'] = body.contentType;
  return messageWithBody(query.routing_key ?? routingKeyDefault, body.body, properties as MessagePropertiesJson);
}
