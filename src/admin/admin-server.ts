import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Principal } from '../core/access/access-control.js';
import type { BrokerCore } from '../core/broker/broker-core.js';
import { FerryError, isFerryError } from '../lib/ferry-error.js';
import { principalOf, type AdminContext, type ListenerView } from './admin-context.js';
import { BasicAuthenticator } from './basic-authenticator.js';
import { CONSOLE_DIRECTORY_DEFAULT, ConsoleAssets } from './console-assets.js';
import type { FerryMetrics } from './ferry-metrics.js';
import { httpStatusOf } from './http-status.js';
import { ManagementAccess } from './management-access.js';
import { MessageRates } from './message-rates.js';
import { registerBindingRoutes } from './routes/binding-routes.js';
import { registerConnectionRoutes } from './routes/connection-routes.js';
import { registerConsoleRoutes } from './routes/console-routes.js';
import { registerDefinitionRoutes } from './routes/definition-routes.js';
import { registerExchangeRoutes } from './routes/exchange-routes.js';
import { registerOverviewRoutes } from './routes/overview-routes.js';
import { registerQueueRoutes } from './routes/queue-routes.js';
import { registerStreamRoutes } from './routes/stream-routes.js';
import { registerUserRoutes } from './routes/user-routes.js';
import { registerVhostRoutes } from './routes/vhost-routes.js';

/** Where the admin server reports failures (the server's Logger fits). */
export interface AdminLogger {
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** What an {@link ApiExtension} gets from the admin server. */
export interface ApiExtensionContext {
  /** The user of a request of the extension, logged in (HTTP Basic) before any of its routes runs. */
  principalOf(request: FastifyRequest): Principal;
}

/**
 * Routes of another layer served under `/api` beside the management API (the
 * HTTP messaging API of src/protocols/http, handed over by src/server). They
 * get a scope of their own in which every request is logged in with HTTP Basic
 * against the broker's users, as in the management API, but no management tag
 * is asked for: the routes check vhost permissions themselves. Errors they
 * throw answer as every error here does (JSON, a status from http-status.ts).
 */
export type ApiExtension = (api: FastifyInstance, context: ApiExtensionContext) => void | Promise<void>;

/** Settings of {@link startAdminServer}. */
export interface AdminServerOptions {
  readonly core: BrokerCore;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Ferry's version, for the overview and definitions. */
  readonly version: string;
  readonly metrics: FerryMetrics;
  /** The server's lifecycle state; `/readyz` is 200 only while it is `ready`. */
  readonly readiness: () => string;
  /** The server's protocol listeners, for the overview. */
  readonly listeners?: () => readonly ListenerView[];
  /** Bytes of the durable store, for the overview and metrics. */
  readonly storageBytes?: () => number;
  readonly logger?: AdminLogger;
  /** Largest request body (a published message travels in one, base64 perhaps). Default 64 MiB. */
  readonly requestBytesMax?: number;
  /** How often message counters are sampled for rates. Default 1 s. */
  readonly rateSampleIntervalMs?: number;
  /**
   * The built web console served at `/` (see ui/). Default `dist/ui` beside the
   * compiled sources; null serves none.
   */
  readonly consoleDirectory?: string | null;
  /** Routes of other layers under `/api`, each in its own logged-in scope; see {@link ApiExtension}. */
  readonly apiExtensions?: readonly ApiExtension[];
}

/** A listening admin server; see {@link startAdminServer}. */
export interface AdminServer {
  /** The bound address and port (never 0). */
  readonly host: string;
  readonly port: number;
  readonly family: string;
  /**
   * Stops accepting requests, waits for those in progress for up to
   * `graceMs`, then cuts their connections. Idle keep-alive connections close at once.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * Starts the HTTP listener of `ferry serve` (default port 15672): liveness
 * `/healthz`, readiness `/readyz` and Prometheus `/metrics` without login,
 * the management API under `/api` with HTTP Basic login against the
 * broker's users, and the web console at `/` when it is built. Every error
 * is JSON `{ "error": { "code", "message" } }` with a stable code from
 * docs/errors.md. Rejects with the listen error
 * (its `code` is Node's, e.g. EADDRINUSE) when the port cannot be bound.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { core, metrics } = options;
  const consoleDirectory = options.consoleDirectory === undefined ? CONSOLE_DIRECTORY_DEFAULT : options.consoleDirectory;
  const consoleAssets = consoleDirectory === null ? null : await loadConsole(consoleDirectory, options.logger);
  const rates = new MessageRates(core, { ...(options.rateSampleIntervalMs !== undefined ? { sampleIntervalMs: options.rateSampleIntervalMs } : {}) });
  const context: AdminContext = {
    core,
    management: new ManagementAccess(() => core.access),
    authenticator: new BasicAuthenticator(() => core.access),
    rates,
    version: options.version,
    startedAtMs: Date.now(),
    listeners: options.listeners ?? (() => []),
    storageBytes: options.storageBytes,
  };
  metrics.attach({ core, rates, ...(options.storageBytes ? { storageBytes: options.storageBytes } : {}) });

  const sendError = (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const failure = asFerryError(error);
    const status = httpStatusOf(failure.code);
    if (status >= 500 && failure.code !== 'RESOURCE_ALARM') {
      options.logger?.error('admin request failed', { method: request.method, url: request.url, error });
    }
    // Browsers answer a Basic challenge with their own login dialog; the console has its own form and says so.
    if (failure.code === 'UNAUTHORIZED' && request.headers['x-requested-with'] !== 'XMLHttpRequest') {
      reply.header('www-authenticate', 'Basic realm="Ferry", charset="UTF-8"');
    }
    return reply.code(status).send({ error: { code: failure.code, message: failure.message.replace(/^[A-Z0-9_]+: /, '') } });
  };
  const app = Fastify({
    // Errors met before routing (an undecodable URL, an overlong path segment) answer as JSON too.
    frameworkErrors: (error, request, reply) => sendError(error, request, reply),
    logger: false,
    bodyLimit: options.requestBytesMax ?? 64 * 1024 * 1024,
    // Names of up to 255 characters, each percent-encoded in the worst case.
    routerOptions: { maxParamLength: 3 * 255 + 16 },
    // Unknown fields are refused (400), not silently dropped, and a number is not a string:
    // no type coercion (query strings are validated as strings and converted by the routes).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  // The API speaks JSON only: other bodies are 415 UNSUPPORTED_MEDIA_TYPE.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('principal', null);
  app.setErrorHandler((error: FastifyError, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no resource at ${request.method} ${path}` } });
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    // While not ready (starting, stopping), ask keep-alive clients to go away so close() can finish.
    if (options.readiness() !== 'ready') reply.header('connection', 'close');
    return payload;
  });

  registerProbes(app, options);
  registerConsoleRoutes(app, consoleAssets);
  await app.register(
    async (api) => {
      api.addHook('onRequest', async (request) => {
        request.principal = await context.authenticator.authenticate(request.headers.authorization, request.socket.remoteAddress);
        context.management.requireManagementUser(request.principal);
      });
      // A PUT or POST without a body means an empty object (all defaults).
      api.addHook('preValidation', async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      });
      registerOverviewRoutes(api, context);
      registerVhostRoutes(api, context);
      registerExchangeRoutes(api, context);
      registerQueueRoutes(api, context);
      registerStreamRoutes(api, context);
      registerBindingRoutes(api, context);
      registerConnectionRoutes(api, context);
      registerUserRoutes(api, context);
      registerDefinitionRoutes(api, context);
    },
    { prefix: '/api' },
  );
  for (const extension of options.apiExtensions ?? []) {
    await app.register(
      async (api) => {
        api.addHook('onRequest', async (request) => {
          request.principal = await context.authenticator.authenticate(request.headers.authorization, request.socket.remoteAddress);
        });
        await extension(api, { principalOf });
      },
      { prefix: '/api' },
    );
  }

  try {
    await app.listen({ port: options.port, host: options.host, listenTextResolver: () => '' });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  rates.start();
  const bound = app.server.address() as AddressInfo;
  return {
    host: bound.address,
    port: bound.port,
    family: bound.family,
    close: async (graceMs) => {
      rates.stop();
      const grace = setTimeout(() => app.server.closeAllConnections(), graceMs);
      try {
        await app.close();
      } finally {
        clearTimeout(grace);
      }
    },
  };
}

function registerProbes(app: FastifyInstance, options: AdminServerOptions): void {
  // Alive: the process answers. Readiness is the separate question below.
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = options.readiness();
    return reply.code(state === 'ready' ? 200 : 503).send({ status: state });
  });
  app.get('/metrics', async (_request, reply) => reply.type(options.metrics.contentType).send(await options.metrics.text()));
}

/** The built console, or null; a console that cannot be read is logged and not served, the API still starts. */
async function loadConsole(directory: string, logger: AdminLogger | undefined): Promise<ConsoleAssets | null> {
  try {
    return await ConsoleAssets.load(directory);
  } catch (error) {
    logger?.error('web console not served: its files cannot be loaded', { directory, error });
    return null;
  }
}

/** Any error of a request as a FerryError with a code of docs/errors.md. */
function asFerryError(thrown: unknown): FerryError {
  if (isFerryError(thrown)) return thrown;
  const error = (thrown instanceof Error ? thrown : new Error(String(thrown))) as Partial<FastifyError> & Error;
  if (error.validation) return new FerryError('INVALID_REQUEST', error.message);
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new FerryError('REQUEST_TOO_LARGE', 'the request body is larger than the server accepts');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new FerryError('INVALID_REQUEST', 'a path segment is longer than any name Ferry accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new FerryError('UNSUPPORTED_MEDIA_TYPE', `${error.message}; send application/json`);
    default:
      break;
  }
  // Fastify's other client errors: malformed JSON, an empty JSON body, a bad content length.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return new FerryError('INVALID_REQUEST', error.message);
  return new FerryError('INTERNAL_ERROR', error.message, { cause: error });
}
