import { connect as netConnect, type Socket } from 'node:net';
import type { ByteChannel } from '../protocols/native/codec/index.js';
import { FerryClientError } from './ferry-client-error.js';

let tcpSequence = 0;

/**
 * A TCP socket shaped as the codec's {@link ByteChannel}, so the client
 * drives a socket and an in-process pair the same way. Nagle is off
 * (`noDelay`): the client batches frames itself, once per event-loop turn.
 */
export class TcpByteChannel implements ByteChannel {
  readonly id = `tcp-${++tcpSequence}`;

  private constructor(private readonly socket: Socket) {}

  /** Opens a connection; CONNECTION_FAILED when it is refused or takes longer than `timeoutMs`. */
  static open(host: string, port: number, timeoutMs: number): Promise<TcpByteChannel> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new FerryClientError('CONNECTION_FAILED', `connecting to ${host}:${port} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      const failed = (error: Error): void => {
        clearTimeout(timer);
        reject(new FerryClientError('CONNECTION_FAILED', `cannot connect to ${host}:${port}: ${error.message}`, { cause: error }));
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        // Errors surface as 'close' (hadError); without a listener an 'error' would crash the process.
        socket.on('error', () => undefined);
        resolve(new TcpByteChannel(socket));
      });
    });
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  bufferedBytes(): number {
    return this.socket.writableLength;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    // Plain Uint8Array views (no copy), so received bodies and header bytes are the same type over TCP and in-process.
    this.socket.on('data', (chunk: Buffer) => listener(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  }

  onDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }

  onClose(listener: (hadError: boolean) => void): void {
    this.socket.on('close', listener);
  }
}
