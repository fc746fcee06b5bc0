/**
 * A Broker with an AMQP 0-9-1 listener on 127.0.0.1 (a free port) for the
 * amqplib interop tests. Start one per test file in `before`, close it in
 * `after`; `connect()` opens amqplib connections (promise API) that `close()`
 * shuts down first, so a failing test leaves no socket open.
 */
import { setTimeout as delay } from 'node:timers/promises';
import * as amqp from 'amqplib';
import * as amqpCallback from 'amqplib/callback_api';
import { SystemClock } from '../../../src/platform/clock.js';
import { startAmqpServer, type AmqpServer } from '../../../src/protocols/amqp091/amqp-server.js';
import type { AmqpLimits } from '../../../src/protocols/amqp091/amqp-connection.js';
import { Broker, type BrokerStartOptions } from '../../../src/server/broker.js';

const CLOSE_HANDSHAKE_MS_MAX = 1_000;

/** How to start an {@link AmqpTestServer}. */
export interface AmqpTestServerOptions {
  /** Default: `{ memory: true }`. */
  readonly broker?: BrokerStartOptions;
  readonly limits?: Partial<AmqpLimits>;
  /** Default 16 MiB. */
  readonly messageBytesMax?: number;
}

/** Who connects and how: amqplib's connection options. */
export interface AmqpLogin {
  readonly user?: string;
  readonly password?: string;
  readonly vhost?: string;
  readonly frameMax?: number;
  readonly channelMax?: number;
  readonly heartbeat?: number;
}

/** A running Broker and AMQP listener, with amqplib connections to it. */
export class AmqpTestServer {
  private readonly connections = new Set<amqp.ChannelModel>();
  private readonly callbackConnections = new Set<amqpCallback.Connection>();

  private constructor(
    readonly broker: Broker,
    readonly server: AmqpServer,
  ) {}

  /** Starts a broker (in memory unless told otherwise) and its AMQP listener on port 0. */
  static async start(options: AmqpTestServerOptions = {}): Promise<AmqpTestServer> {
    const broker = await Broker.start(options.broker ?? { memory: true });
    const server = await startAmqpServer(broker.core, {
      host: '127.0.0.1',
      port: 0,
      clock: new SystemClock(),
      messageBytesMax: options.messageBytesMax ?? 16 * 1024 * 1024,
      ...(options.limits ? { limits: options.limits } : {}),
    });
    return new AmqpTestServer(broker, server);
  }

  get port(): number {
    return this.server.port;
  }

  /** `amqp://guest:guest@127.0.0.1:PORT` */
  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** amqplib's object form of the connection options. */
  options(login: AmqpLogin = {}): amqp.Options.Connect {
    return {
      protocol: 'amqp',
      hostname: '127.0.0.1',
      port: this.port,
      username: login.user ?? 'guest',
      password: login.password ?? 'guest',
      vhost: login.vhost ?? '/',
      ...(login.frameMax !== undefined ? { frameMax: login.frameMax } : {}),
      ...(login.channelMax !== undefined ? { channelMax: login.channelMax } : {}),
      ...(login.heartbeat !== undefined ? { heartbeat: login.heartbeat } : {}),
    };
  }

  /**
   * Opens an amqplib (promise API) connection. Its 'error' events are
   * swallowed (tests that expect one listen themselves), so a connection
   * error cannot crash the test process.
   */
  async connect(login: AmqpLogin = {}): Promise<amqp.ChannelModel> {
    const connection = await amqp.connect(this.options(login));
    connection.on('error', () => undefined);
    this.connections.add(connection);
    connection.on('close', () => this.connections.delete(connection));
    return connection;
  }

  /** Opens an amqplib connection with the callback API. */
  connectCallback(login: AmqpLogin = {}): Promise<amqpCallback.Connection> {
    return new Promise((resolve, reject) => {
      amqpCallback.connect(this.options(login), (error: Error | null, connection: amqpCallback.Connection) => {
        if (error) {
          reject(error);
          return;
        }
        connection.on('error', () => undefined);
        this.callbackConnections.add(connection);
        connection.on('close', () => this.callbackConnections.delete(connection));
        resolve(connection);
      });
    });
  }

  /**
   * Closes every connection still open (waiting at most a second for each
   * close handshake: a server that stopped reading never answers), then the
   * listener, which drops what is left, then the broker.
   */
  async close(): Promise<void> {
    const bounded = (closing: Promise<unknown>) => Promise.race([closing.catch(() => undefined), delay(CLOSE_HANDSHAKE_MS_MAX)]);
    await Promise.all([...this.connections].map((connection) => bounded(connection.close())));
    await Promise.all(
      [...this.callbackConnections].map((connection) => bounded(new Promise<void>((resolve) => connection.close(() => resolve())))),
    );
    await this.server.close();
    await this.broker.close();
  }
}
