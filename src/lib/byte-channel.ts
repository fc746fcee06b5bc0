/**
 * One end of a bidirectional byte stream, as protocol front ends and the
 * client see it: a TCP socket (src/platform/tcp-server.ts) or an in-process
 * pair without a socket (src/protocols/native/codec/in-process-transport.ts).
 */
export interface ByteChannel {
  readonly id: string;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Queues bytes; false when the channel's buffer is above its high-water mark (wait for `onDrain`). */
  write(bytes: Uint8Array): boolean;
  /** Bytes queued and not yet taken by the other side (handed to the kernel, for a socket). */
  bufferedBytes(): number;
  /** Stops reading (back pressure towards the peer); `resume()` reads again. */
  pause(): void;
  resume(): void;
  /** Sends what is queued, then closes. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  onData(listener: (chunk: Uint8Array) => void): void;
  onDrain(listener: () => void): void;
  onClose(listener: (hadError: boolean) => void): void;
}
