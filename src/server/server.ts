import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FerryError, isFerryError } from '../lib/ferry-error.js';
import { SystemClock } from '../platform/clock.js';
import { NodeFileSystem } from '../platform/node-file-system.js';
import { startAmqpServer, type AmqpServer } from '../protocols/amqp091/amqp-server.js';
import { Broker } from './broker.js';
import type { ServerConfig } from './config.js';
import { Logger } from './logger.js';

/** One listener the server bound, with the port actually bound (not 0). */
export interface ListenerAddress {
  /** What the listener speaks; only `http` so far. */
  readonly protocol: 'http' | 'amqp';
  readonly host: string;
  readonly port: number;
  /** The address to give clients, such as `http://127.0.0.1:15672`. */
  readonly url: string;
}

/** A started server; see {@link startServer}. */
export interface RunningServer {
  /** Every bound listener, once all are ready. */
  readonly addresses: readonly ListenerAddress[];
  /**
   * Shuts down gracefully: stops accepting connections, closes the listeners,
   * then closes storage (flush and checkpoint). Resolves once all is closed;
   * calling it again returns the same promise.
   */
  close(): Promise<void>;
}

/** Collaborators of {@link startServer}; each has a default. */
export interface StartServerOptions {
  readonly logger?: Logger;
  /** How long shutdown waits for open HTTP requests before cutting their connections. */
  readonly shutdownGraceMs?: number;
}

type ServerState = 'starting' | 'ready' | 'stopping' | 'stopped';

/**
 * Starts Ferry: opens the broker on its storage (files in `config.dataDirectory`,
 * or memory with `config.memory`), then binds the HTTP
 * listener serving `GET /healthz` and `GET /readyz`. Resolves once every
 * listener is bound. On failure, whatever was opened is closed again and the
 * promise rejects with a FerryError: `DATA_DIR_LOCKED` when another process
 * owns the data directory, `PORT_IN_USE` or `LISTEN_FAILED` when a port
 * cannot be bound, or a storage code when recovery fails.
 */
export async function startServer(config: ServerConfig, options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? new Logger({ level: config.logLevel });
  const shutdownGraceMs = options.shutdownGraceMs ?? 5_000;
  let state: ServerState = 'starting';

  const storage = await openStorage(config, logger);
  const http = createServer((request, response) => handleHttp(request, response, state));
  let httpAddress: ListenerAddress;
  let amqp: AmqpServer | null = null;
  try {
    amqp = await startAmqpServer(storage.core, {
      host: config.host,
      port: config.amqpPort,
      clock: new SystemClock(),
      messageBytesMax: config.messageBytesMax,
      connectionsMax: config.connectionsMax,
      limits: { frameMax: config.amqpFrameMax, channelMax: config.amqpChannelMax, heartbeatSeconds: config.amqpHeartbeatSeconds },
    });
    httpAddress = await listen(http, config);
  } catch (error) {
    await amqp?.close().catch(() => undefined);
    await storage.close().catch((closeError: unknown) => logger.error('storage close failed', { error: closeError }));
    throw error;
  }
  const urlHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  const amqpAddress: ListenerAddress = { protocol: 'amqp', host: config.host, port: amqp.port, url: `amqp://${urlHost}:${amqp.port}` };
  state = 'ready';
  logger.info('server ready', { storage: config.memory ? 'memory' : config.dataDirectory, http: httpAddress.url, amqp: amqpAddress.url });

  let closing: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    state = 'stopping';
    logger.info('server stopping');
    // Stop accepting; idle keep-alive connections would otherwise hold close() open.
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeIdleConnections();
    const grace = setTimeout(() => http.closeAllConnections(), shutdownGraceMs);
    await httpClosed;
    clearTimeout(grace);
    await amqp!.close();
    // Storage closes last: it flushes and writes a checkpoint.
    await storage.close();
    state = 'stopped';
    logger.info('server stopped');
  };

  return {
    addresses: [amqpAddress, httpAddress],
    close: () => (closing ??= close()),
  };
}

async function openStorage(config: ServerConfig, logger: Logger): Promise<Broker> {
  logger.debug('storage opening', config.memory ? { storage: 'memory' } : { directory: config.dataDirectory, durability: config.durability });
  try {
    const limits = { messageBytesMax: config.messageBytesMax, queuesMax: config.queuesMax, vhostsMax: config.vhostsMax };
    const alarms = {
      diskFreeLimitBytes: config.diskFreeLimitBytes,
      ...(config.memoryHighWatermarkBytes > 0 ? { memoryHighWatermarkBytes: config.memoryHighWatermarkBytes } : {}),
    };
    const broker = await Broker.start(
      config.memory
        ? { memory: true, limits, alarms }
        : { dataDir: config.dataDirectory, durability: config.durability, fileSystem: new NodeFileSystem(), clock: new SystemClock(), limits, alarms },
    );
    logger.debug('storage opened', { vhosts: broker.core.vhostNames() });
    return broker;
  } catch (error) {
    if (isFerryError(error, 'DATA_DIR_LOCKED')) {
      throw new FerryError(
        'DATA_DIR_LOCKED',
        `data directory ${config.dataDirectory} (from ${config.sources['data-dir']}) is in use by another Ferry process; ` +
          `stop it or choose another --data-dir (${error.message.replace('DATA_DIR_LOCKED: ', '')})`,
        { cause: error },
      );
    }
    throw error;
  }
}

function listen(http: Server, config: ServerConfig): Promise<ListenerAddress> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const setting = `http-port ${config.httpPort} (from ${config.sources['http-port']}) on host ${config.host}`;
      if (error.code === 'EADDRINUSE') {
        reject(new FerryError('PORT_IN_USE', `${setting} is already in use; free it or choose another --http-port`, { cause: error }));
      } else {
        reject(new FerryError('LISTEN_FAILED', `cannot listen on ${setting}: ${error.message}`, { cause: error }));
      }
    };
    http.once('error', onError);
    http.listen(config.httpPort, config.host, () => {
      http.off('error', onError);
      const bound = http.address() as AddressInfo;
      const urlHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      resolve({ protocol: 'http', host: bound.address, port: bound.port, url: `http://${urlHost}:${bound.port}` });
    });
  });
}

function handleHttp(request: IncomingMessage, response: ServerResponse, state: ServerState): void {
  const path = (request.url ?? '/').split('?')[0];
  const isRead = request.method === 'GET' || request.method === 'HEAD';
  if (path === '/healthz' && isRead) {
    // Alive: the process answers. Readiness is the separate question below.
    sendJson(response, 200, { status: 'ok' }, state);
  } else if (path === '/readyz' && isRead) {
    if (state === 'ready') sendJson(response, 200, { status: 'ready' }, state);
    else sendJson(response, 503, { status: state }, state);
  } else {
    sendJson(response, 404, { error: { code: 'NOT_FOUND', message: `no resource at ${request.method ?? 'GET'} ${path}` } }, state);
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown, state: ServerState): void {
  const text = `${JSON.stringify(body)}\n`;
  response.statusCode = status;
  response.setHeader('content-type', 'application/json');
  response.setHeader('content-length', Buffer.byteLength(text));
  // While stopping, ask keep-alive clients to go away so close() can finish.
  if (state !== 'ready') response.setHeader('connection', 'close');
  response.end(response.req.method === 'HEAD' ? undefined : text);
}
