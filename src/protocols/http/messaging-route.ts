import type { WebSocket } from '@fastify/websocket';
import type { FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify';
import { FerryError } from '../../lib/ferry-error.js';

/** A JSON schema, as fastify validates with and the OpenAPI document shows. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** What the route validates and answers, as fastify takes it (`schema` of a route). */
export interface MessagingRouteSchema {
  readonly params?: JsonSchema;
  readonly querystring?: JsonSchema;
  /** A JSON body, validated by fastify. */
  readonly body?: JsonSchema;
  /** JSON answers by status; fastify serializes with them. */
  readonly response?: { readonly [status: number]: JsonSchema };
}

/**
 * One route of the messaging API: registered with fastify from this record
 * and described in the OpenAPI document from the same record, so the two
 * cannot drift apart.
 */
export interface MessagingRoute<Types extends RouteGenericInterface = RouteGenericInterface> {
  readonly method: 'GET' | 'POST';
  /** The path below `/api`, in fastify's syntax (`/queues/:vhost/:name/pull`). */
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description: string;
  readonly schema: MessagingRouteSchema;
  /**
   * The route reads its body as bytes whatever the content type (publishing
   * takes raw bodies) and validates JSON itself; these are its documented bodies by media type.
   */
  readonly rawBody?: { readonly [mediaType: string]: JsonSchema };
  /** The route answers with a stream of server-sent events (and takes a WebSocket upgrade when `webSocketHandler` is set). */
  readonly eventStream?: { readonly description: string };
  /**
   * Runs before either handler, when the request still gets a plain HTTP
   * answer: checks that should fail as HTTP errors, not after a WebSocket upgrade.
   */
  readonly preHandler?: (request: FastifyRequest<Types>) => Promise<void>;
  /** Handles a plain HTTP request; the answer is the returned value (JSON) unless the handler took over the reply. */
  readonly handler: (request: FastifyRequest<Types>, reply: FastifyReply) => Promise<unknown>;
  /** Handles a WebSocket upgraded on this path (after every hook and the querystring schema passed). */
  readonly webSocketHandler?: (socket: WebSocket, request: FastifyRequest<Types>) => void;
}

/** A route with typed params, querystring and body, stored among routes of other types. */
export function messagingRoute<Types extends RouteGenericInterface>(route: MessagingRoute<Types>): MessagingRoute {
  return route as unknown as MessagingRoute;
}

/** Path parameters of every messaging route: a vhost and the name of an exchange, queue or stream. */
export interface NameParams {
  readonly vhost: string;
  readonly name: string;
}

/** JSON schema of {@link NameParams}. */
export const NAME_PARAMS_SCHEMA = {
  type: 'object',
  required: ['vhost', 'name'],
  properties: {
    vhost: { type: 'string', description: 'the vhost, percent-encoded (`%2F` for `/`)' },
    name: { type: 'string', minLength: 1 },
  },
} as const;

/** A query string value that is a whole number of 0 or more (the API does not coerce types). */
export const DIGITS_SCHEMA = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;

/** The query string value `auto` or `base64`: how message bodies are written. */
export const ENCODING_SCHEMA = {
  type: 'string',
  enum: ['auto', 'base64'],
  description: '`auto` (default): UTF-8 text when the body is valid UTF-8, else base64; `base64`: always base64',
} as const;

/** A whole number from a query string value that matched {@link DIGITS_SCHEMA}, checked against a range. INVALID_REQUEST outside it. */
export function wholeNumberOf(value: string | undefined, name: string, fallback: number, minimum: number, maximum: number): number {
  const number = value === undefined ? fallback : Number(value);
  if (number < minimum || number > maximum) throw new FerryError('INVALID_REQUEST', `querystring/${name} must be from ${minimum} to ${maximum}, got ${number}`);
  return number;
}
