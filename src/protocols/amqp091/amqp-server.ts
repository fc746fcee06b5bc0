import type { Clock } from '../../platform/clock.js';
import { listenTcp, type TcpServer } from '../../platform/tcp-server.js';
import type { BrokerCore } from '../../core/broker/broker-core.js';
import { DirectReplyTo } from './amqp-channel.js';
import { AMQP_LIMIT_DEFAULTS, AmqpConnection, type AmqpLimits } from './amqp-connection.js';

/** Settings of the AMQP listener. */
export interface AmqpServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly clock: Clock;
  readonly limits?: Partial<AmqpLimits>;
  /** Most simultaneous connections. */
  readonly connectionsMax?: number;
  /** Largest message body accepted. */
  readonly messageBytesMax: number;
}

/** A running AMQP 0-9-1 listener. */
export interface AmqpServer {
  readonly host: string;
  readonly port: number;
  connectionCount(): number;
  /** Closes every connection (320 CONNECTION_FORCED) and stops listening. */
  close(): Promise<void>;
}

/** Starts the AMQP 0-9-1 listener on the core (port 5672 by default in `ferry serve`). */
export async function startAmqpServer(core: BrokerCore, options: AmqpServerOptions): Promise<AmqpServer> {
  const limits = { ...AMQP_LIMIT_DEFAULTS, ...options.limits };
  const replyTo = new DirectReplyTo();
  const connections = new Set<AmqpConnection>();
  const server: TcpServer = await listenTcp(
    { host: options.host, port: options.port, settingName: 'amqp-port', ...(options.connectionsMax !== undefined ? { connectionsMax: options.connectionsMax } : {}) },
    (socket) => {
      const connection = new AmqpConnection(socket, core, options.clock, limits, replyTo, options.messageBytesMax);
      connections.add(connection);
      // Listed by the management API, which may close it (320 CONNECTION_FORCED).
      const unregister = core.connections.register({
        name: connection.id,
        protocol: 'amqp091',
        describe: () => connection.describe(),
        close: (reason) => connection.close(reason),
      });
      socket.onClose(() => {
        connections.delete(connection);
        unregister();
      });
    },
  );
  return {
    host: server.host,
    port: server.port,
    connectionCount: () => connections.size,
    close: async () => {
      for (const connection of connections) connection.close('broker shutdown');
      await server.close();
    },
  };
}
