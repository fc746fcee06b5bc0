import type { Clock } from '../../platform/clock.js';
import { listenTcp, type TcpConnection, type TcpServer } from '../../platform/tcp-server.js';
import type { BrokerCore } from '../../core/broker/broker-core.js';
import { FRAME_BYTES_MIN, registerInProcessEndpoint } from './codec/index.js';
import { NativeConnection, type InternalErrorLog } from './native-connection.js';
import { NATIVE_LIMIT_DEFAULTS, type NativeLimits } from './native-limits.js';

/** Settings of the native protocol listener. */
export interface NativeServerOptions {
  readonly host: string;
  /** 0 picks a free port; null listens on no port (in-process only, with `inProcessName`). */
  readonly port: number | null;
  readonly clock: Clock;
  readonly limits?: Partial<NativeLimits>;
  /** Most simultaneous TCP connections. */
  readonly connectionsMax?: number;
  /** Largest message body accepted. */
  readonly messageBytesMax: number;
  /** Also accept in-process connections at `ferry+mem://NAME`, with no socket. */
  readonly inProcessName?: string;
  /** Where unexpected failures (bugs) are reported; they never crash the broker. Default: stderr. */
  readonly logError?: InternalErrorLog;
}

/** A running native protocol listener. */
export interface NativeServer {
  readonly host: string;
  /** The bound port; null when listening in-process only. */
  readonly port: number | null;
  connectionCount(): number;
  /** Closes every connection (`close` NATIVE_CONNECTION_FORCED), stops listening and unregisters the in-process name. */
  close(): Promise<void>;
  /** Cuts every connection at once without a `close` (the broker was abandoned, as by kill -9) and stops listening. */
  abandon(): void;
}

/** In-process peers count as loopback: the default user may log in through `ferry+mem://`. */
const IN_PROCESS_PEER_ADDRESS = '127.0.0.1';

/**
 * Starts the native protocol listener on the core (docs/protocol.md; port
 * 7420 in `ferry serve`), and with `inProcessName` the same endpoint for
 * `ferry+mem://NAME` clients in this process. Each connection is listed in
 * `core.connections` (protocol `native`), so the management API can show and
 * close it. Rejects with PORT_IN_USE or LISTEN_FAILED; a taken in-process
 * name throws RangeError.
 */
export async function startNativeServer(core: BrokerCore, options: NativeServerOptions): Promise<NativeServer> {
  const configured: NativeLimits = { ...NATIVE_LIMIT_DEFAULTS, ...options.limits };
  // Every control frame must fit, and a batch of none could do nothing.
  const limits: NativeLimits = { ...configured, frameBytesMax: Math.max(FRAME_BYTES_MIN, configured.frameBytesMax), batchMessagesMax: Math.max(1, configured.batchMessagesMax) };
  const connections = new Set<NativeConnection>();
  const logError: InternalErrorLog = options.logError ?? ((message, fields) => process.stderr.write(`${message} ${String(fields['error'])}\n`));
  const accept = (socket: TcpConnection, peerAddress: string | undefined): void => {
    const connection = new NativeConnection(socket, { core, clock: options.clock, limits, messageBytesMax: options.messageBytesMax, peerAddress, logError });
    connections.add(connection);
    const unregister = core.connections.register({
      name: connection.id,
      protocol: 'native',
      describe: () => connection.describe(),
      close: (reason) => connection.close(reason),
    });
    socket.onClose(() => {
      connections.delete(connection);
      unregister();
    });
  };
  const unregisterInProcess = options.inProcessName !== undefined ? registerInProcessEndpoint(options.inProcessName, (channel) => accept(channel, IN_PROCESS_PEER_ADDRESS)) : null;
  let server: TcpServer | null = null;
  try {
    if (options.port !== null) {
      server = await listenTcp(
        { host: options.host, port: options.port, settingName: 'native-port', ...(options.connectionsMax !== undefined ? { connectionsMax: options.connectionsMax } : {}) },
        (socket) => accept(socket, socket.remoteAddress),
      );
    }
  } catch (error) {
    unregisterInProcess?.();
    throw error;
  }
  return {
    host: options.host,
    port: server?.port ?? null,
    connectionCount: () => connections.size,
    close: async () => {
      unregisterInProcess?.();
      for (const connection of connections) connection.close('broker shutdown');
      await server?.close();
    },
    abandon: () => {
      unregisterInProcess?.();
      for (const connection of connections) connection.abandon();
      void server?.close();
    },
  };
}
