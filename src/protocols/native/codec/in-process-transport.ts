/**
 * Byte channels without sockets, for `ferry+mem://NAME`: a broker running in
 * this process registers an endpoint under a name, and a client connecting
 * to that name gets one end of a pair whose other end the broker accepts as
 * it would a TCP connection. Bytes are handed over in a microtask (never
 * re-entrantly), and pausing one end holds what the other writes (back
 * pressure as on a socket: `write` returns false above the high-water mark
 * and `onDrain` fires once the reader took it).
 */
import type { ByteChannel } from '../../../lib/byte-channel.js';

export type { ByteChannel };

const HIGH_WATER_BYTES = 1024 * 1024;
let channelSequence = 0;

class InProcessEnd implements ByteChannel {
  peer!: InProcessEnd;
  readonly id = `mem-${++channelSequence}`;
  readonly remoteAddress = 'in-process';
  readonly remotePort = undefined;
  /** Chunks written by the peer, not yet handed to this end's data listeners. */
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private paused = false;
  private scheduled = false;
  private closed = false;
  private ending = false;
  private readonly dataListeners: Array<(chunk: Uint8Array) => void> = [];
  private readonly drainListeners: Array<() => void> = [];
  private readonly closeListeners: Array<(hadError: boolean) => void> = [];

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    // A copy: the writer may reuse its buffer, as a socket would allow.
    this.peer.receive(bytes.slice());
    return this.peer.inboxBytes < HIGH_WATER_BYTES;
  }

  bufferedBytes(): number {
    return this.peer.inboxBytes;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.peer.ending = true;
    this.peer.schedule();
    if (this.peer.inboxBytes === 0) this.closeBoth();
  }

  destroy(): void {
    this.closeBoth();
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.dataListeners.push(listener);
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  onClose(listener: (hadError: boolean) => void): void {
    this.closeListeners.push(listener);
  }

  private receive(bytes: Uint8Array): void {
    this.inbox.push(bytes);
    this.inboxBytes += bytes.byteLength;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const wasFull = this.inboxBytes >= HIGH_WATER_BYTES;
    while (!this.paused && !this.closed && this.inbox.length > 0) {
      const chunk = this.inbox.shift()!;
      this.inboxBytes -= chunk.byteLength;
      for (const listener of this.dataListeners) listener(chunk);
    }
    if (wasFull && this.inboxBytes < HIGH_WATER_BYTES) for (const listener of this.peer.drainListeners) listener();
    // Closing waits for both inboxes: what the other end wrote just before end() (a `close` frame) still arrives.
    if (this.ending && this.inboxBytes === 0 && this.peer.inboxBytes === 0) this.closeBoth();
  }

  private closeBoth(): void {
    this.closeOne();
    this.peer.closeOne();
  }

  private closeOne(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox = [];
    this.inboxBytes = 0;
    for (const listener of this.closeListeners) listener(false);
  }
}

/** Two connected ends: what one writes, the other reads. */
export function inProcessPair(): [ByteChannel, ByteChannel] {
  const left = new InProcessEnd();
  const right = new InProcessEnd();
  left.peer = right;
  right.peer = left;
  return [left, right];
}

const endpoints = new Map<string, (channel: ByteChannel) => void>();

/**
 * Makes `accept` reachable as `ferry+mem://name` in this process. Returns the
 * function that removes it. A name already taken is refused.
 */
export function registerInProcessEndpoint(name: string, accept: (channel: ByteChannel) => void): () => void {
  if (endpoints.has(name)) throw new RangeError(`an in-process Ferry endpoint named "${name}" is already registered`);
  endpoints.set(name, accept);
  return () => {
    if (endpoints.get(name) === accept) endpoints.delete(name);
  };
}

/** Connects to the in-process endpoint `name`; undefined when none is registered. */
export function connectInProcess(name: string): ByteChannel | undefined {
  const accept = endpoints.get(name);
  if (accept === undefined) return undefined;
  const [client, server] = inProcessPair();
  accept(server);
  return client;
}
