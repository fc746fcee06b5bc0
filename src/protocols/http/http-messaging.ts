import fastifyWebsocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Principal } from '../../core/access/access-control.js';
import type { BrokerCore } from '../../core/broker/broker-core.js';
import type { Clock } from '../../platform/clock.js';
import { DeliveryReceipts } from './delivery-receipts.js';
import { HTTP_MESSAGING_LIMIT_DEFAULTS, type HttpMessagingLimits, type MessagingContext } from './messaging-context.js';
import { messagingRoute, type MessagingRoute } from './messaging-route.js';
import { openApiDocument } from './openapi-document.js';
import { publishRoutes } from './publish-routes.js';
import { pullRoutes } from './pull-routes.js';
import { streamReadRoutes } from './stream-read-routes.js';
import { subscribeRoutes } from './subscribe-routes.js';
import { SubscriptionRegistry } from './subscription-registry.js';

/** Largest frame a WebSocket client may send (settle frames: receipts only). */
const WEBSOCKET_FRAME_BYTES_MAX = 1024 * 1024;

/** What {@link registerHttpMessaging} is built from. */
export interface HttpMessagingOptions {
  readonly core: BrokerCore;
  /** The logged-in user of a request: the host server authenticates every request before a route runs. */
  readonly principalOf: (request: FastifyRequest) => Principal;
  /** The broker's message-bytes-max. */
  readonly messageBytesMax: number;
  /** Ferry's version, for the OpenAPI document. */
  readonly version: string;
  readonly limits?: Partial<HttpMessagingLimits>;
  /** Heartbeats and connection times; default the core's clock. */
  readonly clock?: Clock;
}

/**
 * Registers the HTTP messaging API on `api` (a fastify scope whose prefix
 * is `/api`, in which the host logs every request in and answers errors as
 * JSON): publish, pull and settle, stream reads, SSE and WebSocket
 * subscriptions, and `GET /api/openapi.json` describing them. Call it once
 * per server; the subscriptions close when the server closes.
 */
export async function registerHttpMessaging(api: FastifyInstance, options: HttpMessagingOptions): Promise<void> {
  const limits: HttpMessagingLimits = { ...HTTP_MESSAGING_LIMIT_DEFAULTS, ...options.limits };
  const subscriptions = new SubscriptionRegistry(options.core, limits.subscriptionsMax);
  const context: MessagingContext = {
    core: options.core,
    limits,
    messageBytesMax: options.messageBytesMax,
    receipts: new DeliveryReceipts(),
    subscriptions,
    principalOf: options.principalOf,
  };
  let upgradeSockets: { closeSoon(): void } | null = null;
  await api.register(fastifyWebsocket, {
    options: { maxPayload: WEBSOCKET_FRAME_BYTES_MAX },
    // Before the listener closes: every subscriber hears why, queue consumers return their messages.
    preClose: (done) => {
      subscriptions.closeAll('the broker is shutting down');
      upgradeSockets?.closeSoon();
      done();
    },
  });
  // After the plugin's own upgrade listener, which has routed the request by then.
  upgradeSockets = watchUpgradeSockets(api.server);

  const routes: MessagingRoute[] = [
    ...publishRoutes(context, api.getDefaultJsonParser('error', 'error')),
    ...pullRoutes(context),
    ...streamReadRoutes(context),
    ...subscribeRoutes(context, options.clock ?? options.core.clock),
  ];
  let document: unknown = null;
  routes.push(
    messagingRoute({
      method: 'GET',
      url: '/openapi.json',
      operationId: 'openApiDocument',
      summary: 'This API as an OpenAPI 3.1 document',
      description: 'Built from the routes as they are registered, with the JSON schemas they validate with.',
      schema: {},
      handler: async () => (document ??= openApiDocument(routes, options.version)),
    }),
  );

  // Publishing takes any body as bytes (raw messages); elsewhere bodies are JSON only, as in the management API.
  await api.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    for (const route of routes) if (route.rawBody) raw.route(routeOptionsOf(route));
  });
  for (const route of routes) if (!route.rawBody) api.route(routeOptionsOf(route));
}

/** How long upgraded sockets get at shutdown to finish their close handshake before they are cut. */
const UPGRADE_CLOSE_GRACE_MS = 1_000;

/**
 * Keeps upgrade requests from holding sockets open. Once a server listens
 * for upgrades, Node hands every `Upgrade:` request's socket over to it and
 * forgets it: its keep-alive handling and `closeAllConnections` no longer
 * reach it. @fastify/websocket routes such requests through fastify, but ends
 * the socket after a plain answer only when its own hook ran (not when the
 * login hook refused the request first, nor on routes outside this scope),
 * and a half-open socket would then keep the server from closing. So: a
 * socket that got a plain HTTP answer is closed once it is sent, and at
 * shutdown every upgraded socket left is cut after a short grace. Listen
 * after the plugin: its listener routes the request synchronously.
 */
function watchUpgradeSockets(server: Server): { closeSoon(): void } {
  const sockets = new Set<Duplex>();
  const onUpgrade = (_request: IncomingMessage, socket: Duplex): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // The answer @fastify/websocket writes for a request it does not upgrade (Node's `assignSocket` link).
    const answer = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (answer?.writableFinished) socket.destroy();
    else answer?.once('finish', () => socket.destroy());
  };
  server.on('upgrade', onUpgrade);
  return {
    closeSoon: () => {
      server.removeListener('upgrade', onUpgrade);
      if (sockets.size === 0) return;
      setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, UPGRADE_CLOSE_GRACE_MS).unref();
    },
  };
}

/** A route record as fastify takes it. */
function routeOptionsOf(route: MessagingRoute): RouteOptions {
  return {
    method: route.method,
    url: route.url,
    schema: route.schema,
    // A HEAD of a subscription would open one: no HEAD routes.
    exposeHeadRoute: false,
    ...(route.preHandler ? { preHandler: route.preHandler } : {}),
    handler: route.handler,
    ...(route.webSocketHandler ? { wsHandler: route.webSocketHandler } : {}),
  } as RouteOptions;
}
