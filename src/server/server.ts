import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { startAdminServer, type AdminServer } from '../admin/admin-server.js';
import { importDefinitions, parseDefinitions } from '../admin/definitions-document.js';
import { FerryMetrics } from '../admin/ferry-metrics.js';
import { FerryError, isFerryError } from '../lib/ferry-error.js';
import { SystemClock } from '../platform/clock.js';
import { NodeFileSystem } from '../platform/node-file-system.js';
import { startAmqpServer, type AmqpServer } from '../protocols/amqp091/amqp-server.js';
import { registerHttpMessaging } from '../protocols/http/http-messaging.js';
import { startNativeServer, type NativeServer } from '../protocols/native/native-server.js';
import { Broker } from './broker.js';
import { ConfigError, type ServerConfig } from './config.js';
import { Logger } from './logger.js';

/** One listener the server bound, with the port actually bound (not 0). */
export interface ListenerAddress {
  /** What the listener speaks. */
  readonly protocol: 'http' | 'amqp' | 'native';
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
 * or memory with `config.memory`), imports `config.definitionsFile` when set,
 * then binds the AMQP listener, the native protocol listener and the HTTP listener (health, readiness,
 * metrics, the management API of src/admin and the messaging API of
 * src/protocols/http). Resolves once every
 * listener is bound. On failure, whatever was opened is closed again and the
 * promise rejects with a FerryError: `DATA_DIR_LOCKED` when another process
 * owns the data directory, `PORT_IN_USE` or `LISTEN_FAILED` when a port
 * cannot be bound, `INVALID_CONFIG` or `INVALID_DEFINITIONS` for a bad
 * definitions file, or a storage code when recovery fails.
 */
export async function startServer(config: ServerConfig, options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? new Logger({ level: config.logLevel });
  const shutdownGraceMs = options.shutdownGraceMs ?? 5_000;
  let state: ServerState = 'starting';

  // Created before storage opens: storage reports each fsync's latency to it.
  const metrics = new FerryMetrics();
  const storage = await openStorage(config, logger, metrics);
  let amqp: AmqpServer | null = null;
  let native: NativeServer | null = null;
  let admin: AdminServer | null = null;
  let addresses: ListenerAddress[] = [];
  try {
    if (config.definitionsFile !== null) await loadDefinitions(storage, config, logger);
    amqp = await startAmqpServer(storage.core, {
      host: config.host,
      port: config.amqpPort,
      clock: new SystemClock(),
      messageBytesMax: config.messageBytesMax,
      connectionsMax: config.connectionsMax,
      limits: { frameMax: config.amqpFrameMax, channelMax: config.amqpChannelMax, heartbeatSeconds: config.amqpHeartbeatSeconds },
    });
    native = await startNativeServer(storage.core, {
      host: config.host,
      port: config.nativePort,
      clock: new SystemClock(),
      messageBytesMax: config.messageBytesMax,
      connectionsMax: config.connectionsMax,
      limits: {
        frameBytesMax: config.nativeFrameMax,
        channelsMax: config.nativeChannelMax,
        heartbeatMs: config.nativeHeartbeatSeconds * 1000,
        consumersPerChannelMax: config.nativeConsumersMax,
        batchMessagesMax: config.nativeBatchMessagesMax,
      },
      logError: (message, fields) => logger.error(message, fields),
    });
    admin = await listenAdmin(config, {
      core: storage.core,
      host: config.host,
      port: config.httpPort,
      version: ferryVersion(),
      metrics,
      readiness: () => state,
      listeners: () => addresses,
      storageBytes: () => storage.storageBytes(),
      logger,
      // A message body travels base64 in a publish request, with room for its properties.
      requestBytesMax: Math.max(16 * 1024 * 1024, Math.ceil(config.messageBytesMax * 1.4) + 1024 * 1024),
      // The HTTP messaging API (src/protocols/http) under /api, with the management API's login and errors.
      apiExtensions: [
        (api, login) =>
          registerHttpMessaging(api, {
            core: storage.core,
            principalOf: login.principalOf,
            messageBytesMax: config.messageBytesMax,
            version: ferryVersion(),
            limits: {
              batchMessagesMax: config.httpBatchMessagesMax,
              pullMessagesMax: config.httpPullMessagesMax,
              waitMsMax: config.httpWaitMsMax,
              subscriptionsMax: config.httpSubscriptionsMax,
            },
          }),
      ],
    });
  } catch (error) {
    await amqp?.close().catch(() => undefined);
    await native?.close().catch(() => undefined);
    await storage.close().catch((closeError: unknown) => logger.error('storage close failed', { error: closeError }));
    throw error;
  }
  const amqpAddress: ListenerAddress = { protocol: 'amqp', host: config.host, port: amqp.port, url: `amqp://${urlHost(config.host)}:${amqp.port}` };
  const nativeAddress: ListenerAddress = { protocol: 'native', host: config.host, port: native.port!, url: `ferry://${urlHost(config.host)}:${native.port!}` };
  const httpAddress: ListenerAddress = { protocol: 'http', host: admin.host, port: admin.port, url: `http://${urlHost(admin.host)}:${admin.port}` };
  addresses = [amqpAddress, nativeAddress, httpAddress];
  state = 'ready';
  logger.info('server ready', { storage: config.memory ? 'memory' : config.dataDirectory, http: httpAddress.url, amqp: amqpAddress.url, native: nativeAddress.url });

  let closing: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    state = 'stopping';
    logger.info('server stopping');
    // Stop accepting HTTP first: in-flight requests get `shutdownGraceMs`, idle keep-alive connections go at once.
    await admin!.close(shutdownGraceMs);
    await amqp!.close();
    await native!.close();
    // Storage closes last: it flushes and writes a checkpoint.
    await storage.close();
    state = 'stopped';
    logger.info('server stopped');
  };

  return {
    addresses,
    close: () => (closing ??= close()),
  };
}

async function openStorage(config: ServerConfig, logger: Logger, metrics: FerryMetrics): Promise<Broker> {
  logger.debug('storage opening', config.memory ? { storage: 'memory' } : { directory: config.dataDirectory, durability: config.durability });
  try {
    const limits = { messageBytesMax: config.messageBytesMax, queuesMax: config.queuesMax, vhostsMax: config.vhostsMax };
    const alarms = {
      diskFreeLimitBytes: config.diskFreeLimitBytes,
      ...(config.memoryHighWatermarkBytes > 0 ? { memoryHighWatermarkBytes: config.memoryHighWatermarkBytes } : {}),
    };
    const broker = await Broker.start(
      config.memory
        ? { memory: true, limits, alarms, gcPretenuring: config.gcPretenuring }
        : {
            gcPretenuring: config.gcPretenuring,
            dataDir: config.dataDirectory,
            durability: config.durability,
            fileSystem: new NodeFileSystem(),
            clock: new SystemClock(),
            limits,
            alarms,
            storage: config.storage,
            onSync: (durationMs) => metrics.observeSync(durationMs),
          },
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

/** Imports the definitions file (after recovery, before listeners open, so clients find the topology in place). */
async function loadDefinitions(broker: Broker, config: ServerConfig, logger: Logger): Promise<void> {
  const path = config.definitionsFile!;
  const source = config.sources['definitions'];
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError('definitions', source, `cannot read file ${JSON.stringify(path)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FerryError('INVALID_DEFINITIONS', `definitions file ${path} (from ${source}) is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  try {
    const imported = await importDefinitions(broker.core, parseDefinitions(parsed));
    logger.info('definitions imported', { file: path, ...imported });
  } catch (error) {
    if (isFerryError(error)) {
      throw new FerryError(error.code, `definitions file ${path} (from ${source}): ${error.message.replace(/^[A-Z0-9_]+: /, '')}`, { cause: error });
    }
    throw error;
  }
}

async function listenAdmin(config: ServerConfig, options: Parameters<typeof startAdminServer>[0]): Promise<AdminServer> {
  try {
    return await startAdminServer(options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const setting = `http-port ${config.httpPort} (from ${config.sources['http-port']}) on host ${config.host}`;
    if (code === 'EADDRINUSE') {
      throw new FerryError('PORT_IN_USE', `${setting} is already in use; free it or choose another --http-port`, { cause: error });
    }
    throw new FerryError('LISTEN_FAILED', `cannot listen on ${setting}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

let version: string | null = null;

/** Ferry's version from package.json at the package root (dist/src/server/ is three folders below it). */
function ferryVersion(): string {
  if (version === null) {
    try {
      const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      version = typeof manifest.version === 'string' ? manifest.version : 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
