import {
  FEATURES,
  FRAME_BYTES_MAX_DEFAULT,
  FRAME_BYTES_MIN,
  FRAME_NAMES,
  FrameDecoder,
  FrameFlag,
  NativeProtocolError,
  PREAMBLE,
  PROTOCOL_VERSION,
  connectInProcess,
  decodeError,
  decodeResponse,
  encodeFrame,
  type ByteChannel,
  type FrameName,
  type RawFrame,
  type RequestName,
  type RequestOf,
  type ResponseOf,
} from '../protocols/native/codec/index.js';
import type { ResolvedConnectOptions } from './connect-options.js';
import { FerryClientError, toClientError } from './ferry-client-error.js';
import { TcpByteChannel } from './tcp-byte-channel.js';

/** Receives the answer to one request (see {@link ClientConnection.send}). */
export interface AnswerHandler {
  /** The RESPONSE payload; throwing a NativeProtocolError closes the connection. */
  answered(payload: Uint8Array): void;
  /** An ERROR answer (the server's code), or the connection / channel went away first. */
  failed(error: FerryClientError): void;
}

/** What a {@link ClientConnection} tells its owner. */
export interface ConnectionListener {
  /** A server push (deliver, streamDeliver, cancelled, groupAssignment, channelClosed; blocked, unblocked on channel 0) on `frame.channel`. */
  pushed(connection: ClientConnection, name: FrameName, frame: RawFrame): void;
  /** The connection ended (once). `error.code` is the server's close code, or CONNECTION_LOST / CONNECTION_CLOSED. */
  closed(connection: ClientConnection, error: FerryClientError): void;
}

interface Pending {
  readonly handler: AnswerHandler;
  readonly channel: number;
}

const encoder = new TextEncoder();
const CHANNELS_MAX = 65_535;
/** Small frames written in one turn are copied into chunks of about this size (one write each). */
const COALESCE_BYTES = 64 * 1024;
const CLOSE_ANSWER_WAIT_MS = 1_000;
const CLIENT_VERSION = 'ferry-client/1';

/** Resolves a request's answer as a promise (the non-hot-path requests). */
class PromiseAnswer<N extends RequestName> implements AnswerHandler {
  constructor(
    private readonly name: N,
    private readonly resolve: (value: ResponseOf<N>) => void,
    private readonly reject: (error: FerryClientError) => void,
  ) {}

  answered(payload: Uint8Array): void {
    this.resolve(decodeResponse(this.name, payload));
  }

  failed(error: FerryClientError): void {
    this.reject(error);
  }
}

/**
 * One connection to a Ferry server, TCP or in-process: the preamble, hello
 * (version and features), PLAIN login, heartbeats, channel numbers, and
 * request / answer correlation. Frames written in one event-loop turn leave
 * together in one write. It does not reconnect: {@link FerryClient} opens a
 * new one when this one is lost.
 */
export class ClientConnection {
  /** The server's name and version from its hello answer. */
  server = '';
  /** The logged-in user. */
  user = '';
  /** Features both sides announced. */
  features: ReadonlySet<string> = new Set();
  /** Largest frame (header included) the server accepts. */
  frameBytesMax = FRAME_BYTES_MAX_DEFAULT;
  /** Heartbeat interval the server chose (0: none). */
  heartbeatMs = 0;

  private readonly decoder = new FrameDecoder(FRAME_BYTES_MAX_DEFAULT);
  private readonly pending = new Map<number, Pending>();
  private correlation = 0;
  private readonly channelsInUse = new Set<number>();
  private nextChannel = 1;
  private outgoing: Uint8Array[] = [];
  private flushScheduled = false;
  /** Called at the start of the scheduled write, so that what they send leaves with it (see {@link beforeFlush}). */
  private riders: Array<() => void> = [];
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeReason: FerryClientError | null = null;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sentSinceCheck = false;
  private receivedSinceCheck = false;
  private silentChecks = 0;
  private readingHolds = 0;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly transport: ByteChannel,
    private readonly listener: ConnectionListener,
  ) {
    transport.onData((chunk) => this.received(chunk));
    transport.onClose(() => this.transportClosed());
  }

  /**
   * Opens a transport, sends the preamble, negotiates in `hello` and logs in.
   * Rejects with CONNECTION_FAILED (unreachable, timed out), or with the
   * server's code (NATIVE_AUTHENTICATION_FAILED, ACCESS_REFUSED, …).
   */
  static async open(options: ResolvedConnectOptions, listener: ConnectionListener): Promise<ClientConnection> {
    const deadline = Date.now() + options.connectTimeoutMs;
    let transport: ByteChannel;
    if (options.target.kind === 'tcp') {
      transport = await TcpByteChannel.open(options.target.host, options.target.port, options.connectTimeoutMs);
    } else {
      const channel = connectInProcess(options.target.name);
      if (channel === undefined) throw new FerryClientError('CONNECTION_FAILED', `no in-process Ferry endpoint named "${options.target.name}" in this process`);
      transport = channel;
    }
    const connection = new ClientConnection(transport, listener);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new FerryClientError('CONNECTION_FAILED', `the handshake took longer than ${options.connectTimeoutMs} ms`)),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      await Promise.race([connection.handshake(options), timeout]);
      return connection;
    } catch (error) {
      connection.destroy();
      throw toClientError(error);
    } finally {
      clearTimeout(timer);
    }
  }

  private async handshake(options: ResolvedConnectOptions): Promise<void> {
    this.write(PREAMBLE);
    const hello = await this.call('hello', 0, { versionMin: PROTOCOL_VERSION, versionMax: PROTOCOL_VERSION, client: `${CLIENT_VERSION} ${options.clientName}`, features: FEATURES });
    this.server = hello.server;
    this.features = new Set(hello.features);
    this.frameBytesMax = Math.max(FRAME_BYTES_MIN, hello.frameBytesMax);
    this.decoder.setFrameBytesMax(this.frameBytesMax);
    this.heartbeatMs = hello.heartbeatMs;
    this.startHeartbeats();
    // SASL PLAIN (RFC 4616): authzid NUL authcid NUL password, authzid empty.
    const response = encoder.encode(`\u0000${options.user}\u0000${options.password}`);
    const login = await this.call('authenticate', 0, { mechanism: 'PLAIN', response, vhost: options.vhost });
    this.user = login.user;
  }

  /** True until the connection starts closing or is lost. */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes written and not yet taken by the peer (back pressure). */
  bufferedBytes(): number {
    return this.transport.bufferedBytes();
  }

  /**
   * Sends a request and registers `handler` for its answer. Returns the
   * correlation. On a closed connection the handler fails at once (in a
   * microtask) with CONNECTION_LOST.
   */
  send<N extends RequestName>(name: N, channel: number, values: RequestOf<N>, handler: AnswerHandler): void {
    if (this.state === 'closed') {
      const error = this.lostError();
      queueMicrotask(() => handler.failed(error));
      return;
    }
    const correlation = this.nextCorrelation();
    this.pending.set(correlation, { handler, channel });
    this.write(encodeFrame(name, channel, correlation, values));
  }

  /** Sends a request and resolves with its decoded answer (rejects with the server's error code). */
  call<N extends RequestName>(name: N, channel: number, values: RequestOf<N>): Promise<ResponseOf<N>> {
    return new Promise((resolve, reject) => this.send(name, channel, values, new PromiseAnswer(name, resolve, reject)));
  }

  /** Sends a request and resolves with its answer's payload undecoded (for the bulk decoders of message-batch-decoder.ts). */
  callRaw<N extends RequestName>(name: N, channel: number, values: RequestOf<N>): Promise<Uint8Array> {
    return new Promise((resolve, reject) => this.send(name, channel, values, { answered: resolve, failed: reject }));
  }

  /**
   * When frames of this turn are waiting to be written, registers `send` to
   * run just before they are, so that the frames it sends leave in the same
   * write, and returns true. Returns false when nothing is waiting (the
   * caller sends on its own schedule).
   */
  beforeFlush(send: () => void): boolean {
    if (!this.flushScheduled || this.state === 'closed') return false;
    this.riders.push(send);
    return true;
  }

  /** Sends a frame nobody answers (correlation 0). A failure closes the channel (`channelClosed`). */
  notify<N extends FrameName>(name: N, channel: number, values: RequestOf<N>): void {
    if (this.state === 'closed') return;
    this.write(encodeFrame(name, channel, 0, values));
  }

  /**
   * Opens a channel and returns its number at once: the server handles a
   * channel's frames in order, so requests on it may follow `channelOpen`
   * without waiting. `opened` settles with the open's answer.
   */
  openChannel(): { readonly channel: number; readonly opened: Promise<void> } {
    const channel = this.allocateChannel();
    const opened = this.call('channelOpen', channel, {}).then(
      () => undefined,
      (error: unknown) => {
        this.channelsInUse.delete(channel);
        throw error;
      },
    );
    return { channel, opened };
  }

  /** Closes a channel: the server cancels its consumers and returns its unacknowledged deliveries. */
  async closeChannel(channel: number): Promise<void> {
    try {
      if (this.state === 'open') await this.call('channelClose', channel, {});
    } finally {
      this.channelsInUse.delete(channel);
    }
  }

  /** Forgets a channel the server closed (`channelClosed`), failing its unanswered requests with `error`. */
  channelClosedByServer(channel: number, error: FerryClientError): void {
    this.channelsInUse.delete(channel);
    for (const [correlation, pending] of this.pending) {
      if (pending.channel !== channel) continue;
      this.pending.delete(correlation);
      pending.handler.failed(error);
    }
  }

  /** Stops reading from the transport until every hold is released (consumers with full buffers). */
  holdReading(): void {
    if (this.readingHolds++ === 0) this.transport.pause();
  }

  /** Releases one {@link holdReading}. */
  releaseReading(): void {
    if (this.readingHolds > 0 && --this.readingHolds === 0) this.transport.resume();
  }

  /** Sends `close`, waits briefly for its answer, and ends the transport. */
  close(code = '', message = 'closed by the client'): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      if (this.state !== 'open') return;
      this.state = 'closing';
      this.closeReason = new FerryClientError('CONNECTION_CLOSED', message);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.call('close', 0, { code, message }),
          new Promise((resolve) => {
            timer = setTimeout(resolve, CLOSE_ANSWER_WAIT_MS);
          }),
        ]);
      } catch {
        // The transport may close before the answer: that is a close too.
      } finally {
        clearTimeout(timer);
        this.destroy();
      }
    })();
    return this.closing;
  }

  /** Drops the transport at once (no close handshake). */
  destroy(): void {
    this.transport.destroy();
    // An in-process channel reports its close synchronously; a socket a bit later.
    this.transportClosed();
  }

  private write(frame: Uint8Array): void {
    this.outgoing.push(frame);
    this.sentSinceCheck = true;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes what this turn produced: small frames coalesced into few chunks, large ones as they are. */
  private flush(): void {
    // Still scheduled while they run: what they send joins this write.
    while (this.riders.length > 0) {
      const riders = this.riders;
      this.riders = [];
      for (const ride of riders) ride();
    }
    this.flushScheduled = false;
    const frames = this.outgoing;
    this.outgoing = [];
    if (this.state === 'closed') return;
    if (frames.length === 1) {
      this.transport.write(frames[0]!);
      return;
    }
    let group: Uint8Array[] = [];
    let groupBytes = 0;
    const writeGroup = (): void => {
      if (group.length === 1) this.transport.write(group[0]!);
      else if (group.length > 1) {
        const chunk = new Uint8Array(groupBytes);
        let at = 0;
        for (const frame of group) {
          chunk.set(frame, at);
          at += frame.byteLength;
        }
        this.transport.write(chunk);
      }
      group = [];
      groupBytes = 0;
    };
    for (const frame of frames) {
      if (frame.byteLength >= COALESCE_BYTES) {
        writeGroup();
        this.transport.write(frame);
        continue;
      }
      if (groupBytes + frame.byteLength > COALESCE_BYTES) writeGroup();
      group.push(frame);
      groupBytes += frame.byteLength;
    }
    writeGroup();
  }

  private nextCorrelation(): number {
    // u32, never 0 (0 means "no answer wanted"); wraps after 4 billion requests.
    this.correlation = this.correlation === 0xffff_ffff ? 1 : this.correlation + 1;
    return this.correlation;
  }

  private allocateChannel(): number {
    if (this.channelsInUse.size >= CHANNELS_MAX) throw new FerryClientError('NATIVE_LIMIT_REACHED', `all ${CHANNELS_MAX} channels of the connection are in use`);
    while (this.channelsInUse.has(this.nextChannel)) this.nextChannel = this.nextChannel === CHANNELS_MAX ? 1 : this.nextChannel + 1;
    const channel = this.nextChannel;
    this.channelsInUse.add(channel);
    this.nextChannel = channel === CHANNELS_MAX ? 1 : channel + 1;
    return channel;
  }

  private received(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.receivedSinceCheck = true;
    let frames: RawFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.protocolFailure(error);
      return;
    }
    for (const frame of frames) {
      // A frame's handler may have closed the connection.
      if ((this.state as string) === 'closed') return;
      try {
        this.dispatch(frame);
      } catch (error) {
        this.protocolFailure(error);
        return;
      }
    }
  }

  private dispatch(frame: RawFrame): void {
    if ((frame.flags & FrameFlag.RESPONSE) !== 0) {
      const pending = this.pending.get(frame.correlation);
      if (pending === undefined) throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `an answer with correlation ${frame.correlation} answers no request`);
      this.pending.delete(frame.correlation);
      if ((frame.flags & FrameFlag.ERROR) !== 0) {
        const { code, message } = decodeError(frame.payload);
        pending.handler.failed(new FerryClientError(code, message));
        return;
      }
      try {
        pending.handler.answered(frame.payload);
      } catch (error) {
        pending.handler.failed(toClientError(error));
        throw error;
      }
      return;
    }
    const name = FRAME_NAMES.get(frame.type)!;
    switch (name) {
      case 'heartbeat':
        return;
      case 'close': {
        const { code, message } = decodeError(frame.payload);
        this.closeReason = new FerryClientError(code === '' ? 'CONNECTION_LOST' : code, `the server closed the connection: ${message}`);
        this.destroy();
        return;
      }
      case 'deliver':
      case 'streamDeliver':
      case 'cancelled':
      case 'groupAssignment':
      case 'channelClosed':
      case 'blocked':
      case 'unblocked':
        this.listener.pushed(this, name, frame);
        return;
      default:
        throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `the server sent a ${name} request, which only clients send`);
    }
  }

  /** The server broke the protocol: say why in `close` and drop the connection. */
  private protocolFailure(error: unknown): void {
    const failure = toClientError(error, 'CONNECTION_LOST');
    this.closeReason ??= failure;
    if (this.state === 'open' && error instanceof NativeProtocolError) {
      this.transport.write(encodeFrame('close', 0, 0, { code: error.code, message: error.message }));
      // end(), not destroy(): the close frame still reaches the server.
      this.transport.end();
      this.transportClosed();
      return;
    }
    this.destroy();
  }

  private startHeartbeats(): void {
    if (this.heartbeatMs <= 0) return;
    // Checked every half interval: a heartbeat goes out when nothing went out for
    // that long, and four silent checks (two intervals) end the connection.
    this.heartbeatTimer = setInterval(() => {
      if (this.state === 'closed') return;
      if (!this.sentSinceCheck) this.write(encodeFrame('heartbeat', 0, 0, {}));
      this.sentSinceCheck = false;
      this.silentChecks = this.receivedSinceCheck || this.readingHolds > 0 ? 0 : this.silentChecks + 1;
      this.receivedSinceCheck = false;
      if (this.silentChecks >= 4) {
        this.closeReason ??= new FerryClientError('NATIVE_HEARTBEAT_TIMEOUT', `nothing arrived from the server for ${2 * this.heartbeatMs} ms`);
        this.flush();
        this.transport.write(encodeFrame('close', 0, 0, { code: 'NATIVE_HEARTBEAT_TIMEOUT', message: 'no frame from the server for two heartbeat intervals' }));
        this.transport.end();
        this.transportClosed();
      }
    }, Math.max(1, Math.floor(this.heartbeatMs / 2)));
    this.heartbeatTimer.unref();
  }

  private lostError(): FerryClientError {
    const reason = this.closeReason;
    if (reason?.code === 'CONNECTION_CLOSED') return reason;
    return new FerryClientError('CONNECTION_LOST', reason ? `the connection was lost (${reason.message})` : 'the connection was lost', reason ? { cause: reason } : undefined);
  }

  private transportClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.heartbeatTimer);
    this.outgoing = [];
    this.riders = [];
    const lost = this.lostError();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) entry.handler.failed(lost);
    this.listener.closed(this, this.closeReason ?? lost);
  }
}
