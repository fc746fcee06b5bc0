import * as net from 'node:net';
import type { ByteChannel } from '../lib/byte-channel.js';
import { FerryError } from '../lib/ferry-error.js';

/** One accepted TCP connection, as protocol front ends see it. */
export type TcpConnection = ByteChannel;

/** Options of a TCP listener; each limit has a default. */
export interface TcpServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Connections beyond this are closed on accept. */
  readonly connectionsMax?: number;
  /** Setting name for error messages (`amqp-port`). */
  readonly settingName: string;
}

/** A bound TCP listener. */
export interface TcpServer {
  readonly host: string;
  readonly port: number;
  connectionCount(): number;
  /** Stops accepting and closes every open connection. */
  close(): Promise<void>;
}

let connectionSequence = 0;

/**
 * Listens on host:port and hands each accepted socket, wrapped as a
 * TcpConnection, to `onConnection`. Rejects with PORT_IN_USE or LISTEN_FAILED.
 */
export function listenTcp(options: TcpServerOptions, onConnection: (connection: TcpConnection) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const connectionsMax = options.connectionsMax ?? 10_000;
  const server = net.createServer({ noDelay: true }, (socket) => {
    if (sockets.size >= connectionsMax) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Errors (resets) surface as a close; without a listener they would crash the process.
    socket.on('error', () => undefined);
    onConnection(wrap(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${options.settingName} ${options.port} on host ${options.host}`;
      reject(
        error.code === 'EADDRINUSE'
          ? new FerryError('PORT_IN_USE', `${where} is already in use; free it or choose another --${options.settingName}`, { cause: error })
          : new FerryError('LISTEN_FAILED', `${where} cannot be bound: ${error.message}`, { cause: error }),
      );
    });
    server.listen(options.port, options.host, () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        host: options.host,
        port: address.port,
        connectionCount: () => sockets.size,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Let what the protocol wrote last (a close frame) go out; then cut what is left.
            for (const socket of sockets) socket.end();
            const timer = setTimeout(() => {
              for (const socket of sockets) socket.destroy();
            }, 1_000);
            timer.unref();
          }),
      });
    });
  });
}

function wrap(socket: net.Socket): TcpConnection {
  return {
    id: `tcp-${++connectionSequence}`,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    write: (bytes) => socket.write(bytes),
    bufferedBytes: () => socket.writableLength,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    end: () => socket.end(),
    destroy: () => socket.destroy(),
    onData: (listener) => socket.on('data', (chunk: Buffer) => listener(chunk)),
    onDrain: (listener) => socket.on('drain', listener),
    onClose: (listener) => socket.on('close', listener),
  };
}
