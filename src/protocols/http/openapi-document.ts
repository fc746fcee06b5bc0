import type { JsonSchema, MessagingRoute } from './messaging-route.js';

/** The shape every error answer has, as the host server writes it. */
const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'a stable code from docs/errors.md, e.g. QUEUE_NOT_FOUND' },
        message: { type: 'string' },
      },
    },
  },
} as const;

/** An OpenAPI path from a fastify path: `/queues/:vhost/:name/pull` → `/api/queues/{vhost}/{name}/pull`. */
export function openApiPathOf(url: string): string {
  return `/api${url.replace(/:([A-Za-z_]+)/g, '{$1}')}`;
}

function parametersOf(schema: JsonSchema | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(description !== undefined ? { description } : {}),
      schema: rest,
    };
  });
}

function operationOf(route: MessagingRoute): JsonSchema {
  const { schema } = route;
  const requestBody = route.rawBody
    ? { required: false, content: Object.fromEntries(Object.entries(route.rawBody).map(([mediaType, body]) => [mediaType, { schema: body }])) }
    : schema.body
      ? { required: true, content: { 'application/json': { schema: schema.body } } }
      : undefined;
  const responses: Record<string, JsonSchema> = {};
  for (const [status, body] of Object.entries(schema.response ?? {})) {
    responses[status] = { description: (body['description'] as string | undefined) ?? 'success', content: { 'application/json': { schema: body } } };
  }
  if (route.eventStream) {
    responses['200'] = { description: route.eventStream.description, content: { 'text/event-stream': { schema: { type: 'string' } } } };
    if (route.webSocketHandler) responses['101'] = { description: 'switched to a WebSocket (the request asked for `Upgrade: websocket`)' };
  }
  responses['200'] ??= { description: 'success', content: { 'application/json': { schema: { type: 'object' } } } };
  responses['4XX'] = { $ref: '#/components/responses/Error' };
  responses['5XX'] = { $ref: '#/components/responses/Error' };
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: route.description,
    parameters: [...parametersOf(schema.params, 'path'), ...parametersOf(schema.querystring, 'query')],
    ...(requestBody ? { requestBody } : {}),
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of the messaging API, built from the same route
 * records (and so the same JSON schemas) that fastify validates and
 * serializes with: it cannot describe a route other than the one served.
 */
export function openApiDocument(routes: readonly MessagingRoute[], version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = openApiPathOf(route.url);
    (paths[path] ??= {})[route.method.toLowerCase()] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ferry HTTP messaging API',
      version,
      description:
        'Publish, pull, ack and stream over HTTP, with subscriptions over server-sent events and WebSocket. Names in paths are ' +
        'percent-encoded (the vhost `/` is `%2F`; the default exchange is `amq.default`). Every request logs in with HTTP Basic as a ' +
        'broker user; each route needs the vhost permission it names (write to publish, read to take or read). Errors are JSON with a ' +
        'stable code from docs/errors.md.',
    },
    security: [{ basic: [] }],
    paths,
    components: {
      securitySchemes: { basic: { type: 'http', scheme: 'basic' } },
      schemas: { Error: ERROR_SCHEMA },
      responses: { Error: { description: 'an error, with a stable code', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
    },
  };
}
