/**
 * A minimal native protocol peer for black-box tests: it speaks raw frames
 * with the codec over a real socket (or an in-process channel) and keeps
 * everything it receives, so tests assert whole frames. Not a client
 * library: no reconnects, no flow control beyond what a test does by hand.
 */
import * as net from 'node:net';
import {
  connectInProcess,
  decodeError,
  decodeFrame,
  decodeResponse,
  encodeFrame,
  FRAME_BYTES_MAX_DEFAULT,
  FRAME_NAMES,
  FrameDecoder,
  FrameFlag,
  PREAMBLE,
  PROTOCOL_VERSION,
  type ByteChannel,
  type FrameName,
  type RawFrame,
  type RequestName,
  type RequestOf,
  type ResponseOf,
} from '../../../src/protocols/native/codec/index.js';

const encoder = new TextEncoder();

/** An error answer or a close, as received. */
export interface WireError {
  readonly code: string;
  readonly message: string;
}

/** The outcome of a request: its answer, or its error. */
export type Outcome<N extends RequestName> = { readonly ok: true; readonly value: ResponseOf<N> } | { readonly ok: false; readonly error: WireError };

interface Waiter {
  readonly match: (frame: RawFrame) => boolean;
  readonly resolve: (frame: RawFrame) => void;
}

/** What a test peer is connected through. */
type Transport = { readonly kind: 'socket'; readonly socket: net.Socket } | { readonly kind: 'memory'; readonly channel: ByteChannel };

export class RawNativeClient {
  private readonly decoder = new FrameDecoder(FRAME_BYTES_MAX_DEFAULT);
  /** Every frame received, in order. */
  readonly received: RawFrame[] = [];
  /** Raw bytes received before any frame (a preamble reply). */
  rawBytes = new Uint8Array(0);
  private waiters: Waiter[] = [];
  /** Frames a waiter already took (each is handed out once). */
  private readonly taken = new Set<RawFrame>();
  private correlation = 0;
  private closedResolve!: () => void;
  /** Resolves once the server closed the connection. */
  readonly closed: Promise<void>;
  isClosed = false;
  /** Set when the server sent bytes that are not frames (after its preamble reply). */
  decodeError: unknown = null;

  private constructor(private readonly transport: Transport) {
    this.closed = new Promise((resolve) => (this.closedResolve = resolve));
    const onData = (chunk: Uint8Array): void => this.onData(chunk);
    const onClose = (): void => {
      this.isClosed = true;
      this.closedResolve();
    };
    if (transport.kind === 'socket') {
      transport.socket.on('data', onData);
      transport.socket.on('close', onClose);
      transport.socket.on('error', () => undefined);
    } else {
      transport.channel.onData(onData);
      transport.channel.onClose(onClose);
    }
  }

  /** Opens a TCP connection to 127.0.0.1:port (nothing sent yet). */
  static connect(port: number): Promise<RawNativeClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawNativeClient({ kind: 'socket', socket })));
      socket.once('error', reject);
    });
  }

  /** Opens an in-process connection to `ferry+mem://name`. */
  static connectInProcess(name: string): RawNativeClient {
    const channel = connectInProcess(name);
    if (channel === undefined) throw new Error(`no in-process endpoint ${name}`);
    return new RawNativeClient({ kind: 'memory', channel });
  }

  /**
   * Connects and logs in: preamble, hello (all features unless told), authenticate;
   * throws when the server refuses.
   */
  static async open(port: number | string, options: { user?: string; password?: string; vhost?: string; features?: readonly string[] } = {}): Promise<RawNativeClient> {
    const client = typeof port === 'number' ? await RawNativeClient.connect(port) : RawNativeClient.connectInProcess(port);
    client.write(PREAMBLE);
    const hello = await client.request('hello', 0, { versionMin: PROTOCOL_VERSION, versionMax: PROTOCOL_VERSION, client: 'raw-test', features: options.features ?? ['batch-publish', 'streams', 'consumer-groups', 'idempotence', 'transactions', 'share-groups'] });
    if (!hello.ok) throw new Error(`hello refused: ${hello.error.code}`);
    const login = await client.request('authenticate', 0, { mechanism: 'PLAIN', response: plain(options.user ?? 'guest', options.password ?? 'guest'), vhost: options.vhost ?? '/' });
    if (!login.ok) throw new Error(`login refused: ${login.error.code} ${login.error.message}`);
    return client;
  }

  private onData(chunk: Uint8Array): void {
    let frames: RawFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.decodeError = error;
      const merged = new Uint8Array(this.rawBytes.byteLength + chunk.byteLength);
      merged.set(this.rawBytes);
      merged.set(chunk, this.rawBytes.byteLength);
      this.rawBytes = merged;
      return;
    }
    for (const frame of frames) {
      // Payloads are views into the chunk; keep a copy (the transport may reuse nothing, but be safe).
      const kept = { ...frame, payload: frame.payload.slice() };
      this.received.push(kept);
      const index = this.waiters.findIndex((waiter) => waiter.match(kept));
      if (index >= 0) {
        this.taken.add(kept);
        this.waiters.splice(index, 1)[0]!.resolve(kept);
      }
    }
  }

  /** Writes raw bytes. */
  write(bytes: Uint8Array): void {
    if (this.transport.kind === 'socket') this.transport.socket.write(bytes);
    else this.transport.channel.write(bytes);
  }

  /** Sends a frame without waiting (correlation 0 unless given). */
  send<N extends FrameName>(name: N, channel: number, values: RequestOf<N>, correlation = 0): void {
    this.write(encodeFrame(name, channel, correlation, values));
  }

  /** The next correlation number. */
  nextCorrelation(): number {
    return ++this.correlation;
  }

  /** Sends a request and waits for its answer or error (or rejects after `timeoutMs`). */
  async request<N extends RequestName>(name: N, channel: number, values: RequestOf<N>, timeoutMs = 5_000): Promise<Outcome<N>> {
    const correlation = this.nextCorrelation();
    const answered = this.waitFor((frame) => (frame.flags & FrameFlag.RESPONSE) !== 0 && frame.correlation === correlation && frame.channel === channel, timeoutMs, `answer to ${name}`);
    this.send(name, channel, values, correlation);
    return RawNativeClient.outcome(name, await answered);
  }

  /** Reads an answer frame as an outcome. */
  static outcome<N extends RequestName>(name: N, frame: RawFrame): Outcome<N> {
    if ((frame.flags & FrameFlag.ERROR) !== 0) return { ok: false, error: decodeError(frame.payload) };
    return { ok: true, value: decodeResponse(name, frame.payload) };
  }

  /** Sends a request that must succeed; returns its answer. */
  async call<N extends RequestName>(name: N, channel: number, values: RequestOf<N>): Promise<ResponseOf<N>> {
    const outcome = await this.request(name, channel, values);
    if (!outcome.ok) throw new Error(`${name} failed: ${outcome.error.code} ${outcome.error.message}`);
    return outcome.value;
  }

  /** Waits for the first frame (received from now on, or already received and not yet taken) that matches. */
  waitFor(match: (frame: RawFrame) => boolean, timeoutMs = 5_000, what = 'a frame'): Promise<RawFrame> {
    const early = this.received.find((frame) => !this.taken.has(frame) && match(frame));
    if (early !== undefined) {
      this.taken.add(early);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (frame: RawFrame): void => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** Waits for a server push `name` on `channel`. */
  async push<N extends FrameName>(name: N, channel: number, timeoutMs = 5_000): Promise<RequestOf<N>> {
    const type = frameType(name);
    const frame = await this.waitFor((candidate) => candidate.type === type && candidate.channel === channel && (candidate.flags & FrameFlag.RESPONSE) === 0, timeoutMs, name);
    return decodeFrame(name, frame.payload);
  }

  /** Pushes `name` received so far on `channel`, decoded. */
  pushes<N extends FrameName>(name: N, channel: number): Array<RequestOf<N>> {
    const type = frameType(name);
    return this.received.filter((frame) => frame.type === type && frame.channel === channel && (frame.flags & FrameFlag.RESPONSE) === 0).map((frame) => decodeFrame(name, frame.payload));
  }

  /** The `close` the server sent, once the connection has ended; undefined when it closed without one. */
  async closeReason(timeoutMs = 5_000): Promise<WireError | undefined> {
    await Promise.race([this.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the server did not close the connection')), timeoutMs))]);
    const close = this.received.find((frame) => frame.type === frameType('close') && (frame.flags & FrameFlag.RESPONSE) === 0);
    return close === undefined ? undefined : decodeError(close.payload);
  }

  /** Closes at once. */
  destroy(): void {
    if (this.transport.kind === 'socket') this.transport.socket.destroy();
    else this.transport.channel.destroy();
  }
}

/** The frame type number of `name`. */
export function frameType(name: FrameName): number {
  for (const [type, candidate] of FRAME_NAMES) if (candidate === name) return type;
  throw new Error(`no frame ${name}`);
}

/** A SASL PLAIN response. */
export function plain(user: string, password: string): Uint8Array {
  return encoder.encode(`\u0000${user}\u0000${password}`);
}
