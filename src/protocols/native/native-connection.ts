import { concatenate } from '../../lib/concatenate.js';
import { isFerryError } from '../../lib/ferry-error.js';
import type { Clock, TimerHandle } from '../../platform/clock.js';
import type { TcpConnection } from '../../platform/tcp-server.js';
import type { Principal } from '../../core/access/access-control.js';
import type { BrokerCore } from '../../core/broker/broker-core.js';
import type { ConnectionDescription } from '../../core/connections/connection-registry.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import {
  decodeFields,
  encodeErrorResponse,
  encodeFrame,
  encodeResponse,
  FEATURES,
  FRAME_BYTES_MIN,
  FRAME_NAMES,
  FRAMES,
  FrameDecoder,
  FrameFlag,
  NativeProtocolError,
  PREAMBLE,
  PROTOCOL_VERSION,
  SASL_MECHANISMS,
  type FieldSpec,
  type FrameName,
  type FrameSpec,
  type RawFrame,
  type RequestName,
  type RequestOf,
} from './codec/index.js';
import { encodeDeliveries } from './delivery-frames.js';
import { wireFailureOf } from './error-map.js';
import { NativeChannel, type ChannelHost } from './native-channel.js';
import type { NativeLimits } from './native-limits.js';
import type { QueueConsumer } from './queue-consumer.js';
import { AnswerThen, EncodedAnswer, isChannelRequest, type ChannelRequestName, type RequestHandler } from './request-handler.js';
import { REQUEST_HANDLERS } from './request-handlers.js';
import { WireMessageReader } from './wire-message-reader.js';

/** Reports an unexpected failure (a bug) with its cause; the server passes its logger. */
export type InternalErrorLog = (message: string, fields: Record<string, unknown>) => void;

/** What a connection is given besides its socket. */
export interface NativeConnectionOptions {
  readonly core: BrokerCore;
  readonly clock: Clock;
  readonly limits: NativeLimits;
  /** Largest message body accepted. */
  readonly messageBytesMax: number;
  /** The peer address to authenticate with: the socket's, or loopback for an in-process channel. */
  readonly peerAddress: string | undefined;
  readonly logError: InternalErrorLog;
}

type State = 'awaiting-preamble' | 'awaiting-hello' | 'awaiting-authentication' | 'authenticating' | 'open' | 'closed';

const decoder = new TextDecoder('utf-8', { fatal: true });
const HEARTBEAT_FRAME = encodeFrame('heartbeat', 0, 0, {});
/** Small frames of one turn are copied into one buffer; beyond this, they are written one by one. */
const COALESCE_BYTES_MAX = 256 * 1024;
const SERVER_NAME = 'Ferry';

/**
 * One native protocol connection (docs/protocol.md): the preamble, `hello`
 * (version and features), SASL PLAIN authentication and the vhost,
 * heartbeats both ways, channels, and the request loop. Frames of a channel
 * run in order; a request whose effect later ones depend on holds the
 * channel until it is done, others answer when durable while the frames
 * behind them go on. Output of one turn goes out in one socket write, with
 * each consumer's deliveries of the turn in one `deliver` frame. Protocol
 * errors send `close` and end the socket; request failures are error answers
 * (see error-map.ts); nothing a client sends crashes the broker.
 */
export class NativeConnection implements ChannelHost {
  private state: State = 'awaiting-preamble';
  private preambleBytes: Uint8Array | null = null;
  private readonly frames: FrameDecoder;
  private readonly channels = new Map<number, NativeChannel>();
  /** Channels the server closed (a failed request without correlation): their uncorrelated frames are dropped. */
  private readonly closedByServer = new Set<number>();
  private loggedInPrincipal: Principal | null = null;
  private openVhost: VirtualHost | null = null;
  private heartbeatMs = 0;
  private negotiatedFrameBytesMax = FRAME_BYTES_MIN;
  private outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flush();
  private pendingConsumers: QueueConsumer[] = [];
  /** Frames that arrived while the login was being checked, run once it succeeds. */
  private heldForLogin: RawFrame[] = [];
  /** Subscriptions waiting for the output to drain. */
  private waitingForOutput = new Set<() => void>();
  private pendingDeliveryBytes = 0;
  private deliveriesPaused = false;
  private lastReceivedMs: number;
  private lastSentMs: number;
  private heartbeatTimer: TimerHandle | null = null;
  private handshakeTimer: TimerHandle | null;
  private unsubscribeAlarms: (() => void) | null = null;
  /** The client asked for `blocked` / `unblocked` pushes. */
  private blockedNotices = false;
  /** A `blocked` push went out and no `unblocked` since. */
  private blockedNoticeSent = false;
  private readingPaused = false;
  private readonly connectedAtMs: number;
  readonly messages = new WireMessageReader();
  readonly core: BrokerCore;
  readonly clock: Clock;
  readonly limits: NativeLimits;
  readonly messageBytesMax: number;

  constructor(
    private readonly socket: TcpConnection,
    private readonly options: NativeConnectionOptions,
  ) {
    this.core = options.core;
    this.clock = options.clock;
    this.limits = options.limits;
    this.messageBytesMax = options.messageBytesMax;
    // Until authenticated, only small frames: a stranger cannot make the server buffer megabytes.
    this.frames = new FrameDecoder(FRAME_BYTES_MIN);
    this.connectedAtMs = this.clock.nowMs();
    this.lastReceivedMs = this.clock.monotonicMs();
    this.lastSentMs = this.lastReceivedMs;
    this.handshakeTimer = this.clock.setTimer(this.limits.handshakeTimeoutMs, () => {
      if (this.state === 'open' || this.state === 'closed') return;
      if (this.state === 'awaiting-preamble') this.endNow();
      else this.closeWith('NATIVE_HEARTBEAT_TIMEOUT', `no successful authentication within ${this.limits.handshakeTimeoutMs} ms`);
    });
    socket.onData((chunk) => this.onData(chunk));
    socket.onDrain(() => this.onDrain());
    socket.onClose(() => void this.teardown());
  }

  /** The connection's id (the socket's): owner of its exclusive queues. */
  get id(): string {
    return this.socket.id;
  }

  get connectionId(): string {
    return this.socket.id;
  }

  get vhost(): VirtualHost {
    return this.openVhost!;
  }

  get principal(): Principal {
    return this.loggedInPrincipal!;
  }

  frameBytesMax(): number {
    return this.negotiatedFrameBytesMax;
  }

  /** The connection as operators see it (management API). */
  describe(): ConnectionDescription {
    return {
      name: this.socket.id,
      protocol: 'native',
      peerAddress: this.socket.remoteAddress,
      peerPort: this.socket.remotePort,
      user: this.loggedInPrincipal?.user ?? null,
      vhost: this.openVhost?.name ?? null,
      connectedAtMs: this.connectedAtMs,
      state: this.state,
      channels: [...this.channels.values()].map((channel) => channel.describe()),
    };
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Closes from the server side (an operator, or shutdown): `close` NATIVE_CONNECTION_FORCED, then the socket ends. */
  close(reason: string): void {
    if (this.state === 'awaiting-preamble') this.endNow();
    else this.closeWith('NATIVE_CONNECTION_FORCED', reason);
  }

  /** Cuts the connection without a word (the broker was abandoned). */
  abandon(): void {
    this.socket.destroy();
    void this.teardown();
  }

  // ------------------------------------------------------------------ input

  private onData(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.lastReceivedMs = this.clock.monotonicMs();
    let bytes = chunk;
    if (this.state === 'awaiting-preamble') {
      const rest = this.takePreamble(chunk);
      if (rest === null) return;
      bytes = rest;
    }
    let frames: RawFrame[];
    try {
      frames = this.frames.push(bytes);
    } catch (error) {
      this.fail(error);
      return;
    }
    for (let index = 0; index < frames.length && !this.isClosed(); index++) this.receive(frames[index]!);
  }

  /** Collects the 8-byte preamble; returns the bytes after it, or null while incomplete or wrong. */
  private takePreamble(chunk: Uint8Array): Uint8Array | null {
    const have = this.preambleBytes === null ? chunk : concatenate([this.preambleBytes, chunk], this.preambleBytes.byteLength + chunk.byteLength);
    const compared = Math.min(have.byteLength, PREAMBLE.byteLength);
    for (let index = 0; index < compared; index++) {
      if (have[index] !== PREAMBLE[index]) {
        // docs/protocol.md: a wrong preamble is answered with ours, then the connection closes.
        this.socket.write(PREAMBLE);
        this.endNow();
        return null;
      }
    }
    if (have.byteLength < PREAMBLE.byteLength) {
      this.preambleBytes = have;
      return null;
    }
    this.preambleBytes = null;
    this.state = 'awaiting-hello';
    return have.subarray(PREAMBLE.byteLength);
  }

  /** Routes one frame; protocol violations close the connection. */
  private receive(frame: RawFrame): void {
    if (this.state === 'authenticating') {
      this.heldForLogin.push(frame);
      return;
    }
    try {
      const name = FRAME_NAMES.get(frame.type)!;
      const spec: FrameSpec = FRAMES[name];
      if ((frame.flags & FrameFlag.RESPONSE) !== 0) {
        // The only request the server sends is `close`; the peer's answer to it needs nothing.
        if (name === 'close') return;
        throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `an answer to ${name} on channel ${frame.channel}, which the server never asked`);
      }
      if (spec.from === 'server') throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `${name} is sent by the server only`);
      if (spec.connection === true) {
        if (frame.channel !== 0) throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `${name} on channel ${frame.channel}; connection frames use channel 0`);
        this.onConnectionFrame(name, frame);
        return;
      }
      if (this.state !== 'open') throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `${name} before authentication`);
      this.onChannelFrame(name, frame);
    } catch (error) {
      this.fail(error);
    }
  }

  // ------------------------------------------------------------------ connection frames

  private onConnectionFrame(name: FrameName, frame: RawFrame): void {
    switch (name) {
      case 'heartbeat':
        decodeFields(FRAMES.heartbeat.fields, frame.payload);
        return;
      case 'hello':
        return this.onHello(decodeFields(FRAMES.hello.fields, frame.payload) as RequestOf<'hello'>, frame);
      case 'authenticate':
        return this.onAuthenticate(decodeFields(FRAMES.authenticate.fields, frame.payload) as RequestOf<'authenticate'>, frame);
      case 'close': {
        decodeFields(FRAMES.close.fields, frame.payload);
        // docs/protocol.md: the answer ends the connection.
        if (frame.correlation !== 0) this.send(encodeResponse('close', 0, frame.correlation, {}));
        this.endNow();
        return;
      }
      default:
        throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `${name} is not a connection frame`);
    }
  }

  private onHello(request: RequestOf<'hello'>, frame: RawFrame): void {
    if (this.state !== 'awaiting-hello') throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', 'hello was already exchanged');
    if (request.versionMin > PROTOCOL_VERSION || request.versionMax < PROTOCOL_VERSION) {
      throw new NativeProtocolError('NATIVE_UNSUPPORTED_VERSION', `the client speaks versions ${request.versionMin} to ${request.versionMax}, the server ${PROTOCOL_VERSION}`);
    }
    const features = FEATURES.filter((feature) => request.features.includes(feature));
    this.heartbeatMs = features.includes('heartbeats') ? this.limits.heartbeatMs : 0;
    this.blockedNotices = features.includes('blocked-notices');
    this.state = 'awaiting-authentication';
    this.answer(frame, 'hello', {
      version: PROTOCOL_VERSION,
      server: SERVER_NAME,
      features,
      frameBytesMax: this.limits.frameBytesMax,
      heartbeatMs: this.heartbeatMs,
      mechanisms: [...SASL_MECHANISMS],
    });
    this.startHeartbeats();
  }

  private onAuthenticate(request: RequestOf<'authenticate'>, frame: RawFrame): void {
    if (this.state !== 'awaiting-authentication') {
      throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', this.state === 'awaiting-hello' ? 'authenticate before hello' : 'authenticate was already done');
    }
    const credentials = request.mechanism === 'PLAIN' ? parsePlain(request.response) : null;
    if (credentials === null) {
      this.refuseLogin(frame, 'NATIVE_AUTHENTICATION_FAILED', request.mechanism === 'PLAIN' ? 'the PLAIN response is not authzid \\0 user \\0 password' : `unknown mechanism ${request.mechanism}; the server offers ${SASL_MECHANISMS.join(', ')}`);
      return;
    }
    this.state = 'authenticating';
    const vhostName = request.vhost === '' ? '/' : request.vhost;
    // Frames behind it wait (see receive): a pipelining client's first channel frames need the login.
    this.socket.pause();
    this.readingPaused = true;
    this.core.access
      .authenticate(credentials.user, credentials.password, this.options.peerAddress)
      .then(
        (principal) => {
          if (this.state !== 'authenticating') return;
          this.guard(() => this.loggedIn(frame, principal, vhostName));
        },
        (error: unknown) => {
          if (this.state !== 'authenticating') return;
          // The message does not say whether the user, the password or the address was wrong.
          this.refuseLogin(frame, 'NATIVE_AUTHENTICATION_FAILED', isFerryError(error) ? 'login refused' : 'login failed');
        },
      )
      .catch(this.failBound)
      .finally(() => {
        if (this.state === 'open' && this.readingPaused && !this.core.alarms.blocked()) {
          this.readingPaused = false;
          this.socket.resume();
        }
      });
  }

  /** The credentials checked out: the vhost, then the answer and the frames that waited for it. */
  private loggedIn(frame: RawFrame, principal: Principal, vhostName: string): void {
    try {
      this.core.access.authorizeVhost(principal, vhostName);
      this.openVhost = this.core.vhost(vhostName);
    } catch (error) {
      const failure = wireFailureOf(error);
      this.refuseLogin(frame, failure.code, failure.message);
      return;
    }
    this.loggedInPrincipal = principal;
    this.negotiatedFrameBytesMax = this.limits.frameBytesMax;
    this.frames.setFrameBytesMax(this.limits.frameBytesMax);
    this.state = 'open';
    this.handshakeTimer?.cancel();
    this.handshakeTimer = null;
    this.answer(frame, 'authenticate', { user: principal.user });
    this.watchAlarms();
    const held = this.heldForLogin;
    this.heldForLogin = [];
    for (const next of held) if (this.state === 'open') this.receive(next);
  }

  /** Runs `work`; a throw (a bug) is logged and closes the connection, never the process. */
  private guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.fail(error);
    }
  }

  private readonly failBound = (error: unknown): void => this.fail(error);

  /** A failed login: the error answer, then `close` with the same code (docs/protocol.md). */
  private refuseLogin(frame: RawFrame, code: string, message: string): void {
    if (frame.correlation !== 0) this.send(encodeErrorResponse(frame.type, 0, frame.correlation, code, message));
    this.closeWith(code, message);
  }

  // ------------------------------------------------------------------ channels

  private onChannelFrame(name: FrameName, frame: RawFrame): void {
    const number = frame.channel;
    if (name === 'channelOpen') {
      this.openChannel(frame);
      return;
    }
    const channel = this.channels.get(number);
    if (channel === undefined) {
      this.notOpen(frame, name);
      return;
    }
    if (channel.busy) {
      channel.backlog.push(frame);
      return;
    }
    this.run(channel, name, frame);
  }

  private openChannel(frame: RawFrame): void {
    const number = frame.channel;
    decodeFields(FRAMES.channelOpen.fields, frame.payload);
    let failure: [string, string] | null = null;
    if (number === 0) failure = ['NATIVE_CHANNEL_NOT_OPEN', 'channel 0 carries connection frames only; open channels 1 to 65535'];
    else if (this.channels.has(number)) failure = ['NATIVE_CHANNEL_NOT_OPEN', `channel ${number} is already open`];
    else if (this.channels.size >= this.limits.channelsMax) failure = ['NATIVE_LIMIT_REACHED', `the connection has ${this.limits.channelsMax} channels open, the limit (native-channel-max)`];
    if (failure !== null) {
      if (frame.correlation !== 0) this.send(encodeErrorResponse(frame.type, number, frame.correlation, failure[0], failure[1]));
      return;
    }
    this.closedByServer.delete(number);
    this.channels.set(number, new NativeChannel(number, this));
    this.answer(frame, 'channelOpen', {});
  }

  private notOpen(frame: RawFrame, name: FrameName): void {
    const message = `${name} on channel ${frame.channel}, which is not open`;
    if (frame.correlation !== 0) {
      this.send(encodeErrorResponse(frame.type, frame.channel, frame.correlation, 'NATIVE_CHANNEL_NOT_OPEN', message));
    } else if (frame.channel !== 0 && !this.closedByServer.has(frame.channel)) {
      // The client already heard about channels the server closed; others it is told once.
      this.closedByServer.add(frame.channel);
      this.send(encodeFrame('channelClosed', frame.channel, 0, { code: 'NATIVE_CHANNEL_NOT_OPEN', message }));
    }
  }

  /** Runs one channel frame: decodes it, calls its handler and answers (now, or once its promise settles). */
  private run(channel: NativeChannel, name: FrameName, frame: RawFrame): void {
    if (name === 'channelClose') {
      decodeFields(FRAMES.channelClose.fields, frame.payload);
      this.channels.delete(channel.number);
      channel.busy = true;
      void channel.teardown('the client closed the channel', { drain: true }).then(() => this.answer(frame, 'channelClose', {}), this.failBound);
      return;
    }
    if (!isChannelRequest(name, REQUEST_HANDLERS)) throw new NativeProtocolError('NATIVE_UNEXPECTED_FRAME', `${name} is not a request`);
    const handler = REQUEST_HANDLERS[name] as RequestHandler<ChannelRequestName>;
    const fields = FRAMES[name].fields as readonly FieldSpec[];
    // A handler with a payload fast path decodes for itself (it fails on a malformed payload as decoding would).
    const request = handler.handlePayload === undefined ? (decodeFields(fields, frame.payload) as RequestOf<ChannelRequestName>) : null;
    if (handler.publishes === true && this.core.alarms.blocked()) {
      if (request === null) decodeFields(fields, frame.payload); // A malformed frame closes now, held or not.
      this.holdForAlarm(channel, frame);
      return;
    }
    let result: unknown;
    try {
      result = request === null ? handler.handlePayload!(channel, frame.payload) : handler.handle(channel, request as never);
    } catch (error) {
      this.requestFailed(channel, frame, error);
      return;
    }
    if (!(result instanceof Promise)) {
      this.answerRequest(channel, frame, name, result);
      return;
    }
    if (handler.ordered === true) channel.busy = true;
    else if (handler.waits !== true) channel.inFlight.add(result);
    const ordered = handler.ordered === true;
    result.then(
      (value: unknown) => this.settled(channel, frame, name, ordered, result, value, undefined),
      (error: unknown) => this.settled(channel, frame, name, ordered, result, undefined, error ?? new Error('rejected without a reason')),
    );
  }

  /** A request's promise settled: answers it, then lets the channel's next frames run. Never throws. */
  private settled(channel: NativeChannel, frame: RawFrame, name: RequestName, ordered: boolean, promise: Promise<unknown>, value: unknown, error: unknown): void {
    channel.inFlight.delete(promise);
    try {
      if (error === undefined) this.answerRequest(channel, frame, name, value);
      else this.requestFailed(channel, frame, error);
    } catch (failure) {
      this.requestFailed(channel, frame, failure);
    }
    if (ordered) this.resume(channel);
  }

  /** Runs the frames that waited behind a request that held the channel. */
  private resume(channel: NativeChannel): void {
    channel.busy = false;
    while (!channel.busy && !channel.closed && channel.backlog.length > 0 && this.state === 'open') {
      const frame = channel.backlog.shift()!;
      try {
        this.run(channel, FRAME_NAMES.get(frame.type)!, frame);
      } catch (error) {
        this.fail(error);
      }
    }
  }

  /** A publish while an alarm blocks publishers: the channel waits, and the socket is not read (TCP back pressure). */
  private holdForAlarm(channel: NativeChannel, frame: RawFrame): void {
    channel.busy = true;
    channel.backlog.unshift(frame);
    if (!this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    }
    void this.core.alarms.whenClear().then(() => {
      if (this.state !== 'open') return;
      if (this.readingPaused && !this.core.alarms.blocked()) {
        this.readingPaused = false;
        this.socket.resume();
      }
      this.resume(channel);
    }, this.failBound);
  }

  private answerRequest(channel: NativeChannel, frame: RawFrame, name: RequestName, value: unknown): void {
    if (value instanceof AnswerThen) {
      this.answerRequest(channel, frame, name, value.value);
      value.next();
      return;
    }
    const sendable = frame.correlation !== 0 && !channel.closed && this.state !== 'closed';
    if (value instanceof EncodedAnswer) {
      if (sendable) this.send(value.encode(channel.number, frame.correlation));
      else value.discard();
      return;
    }
    if (sendable) this.send(encodeResponse(name, channel.number, frame.correlation, value as never));
  }

  private answer<N extends RequestName>(frame: RawFrame, name: N, value: Parameters<typeof encodeResponse<N>>[3]): void {
    if (frame.correlation !== 0) this.send(encodeResponse(name, frame.channel, frame.correlation, value));
  }

  /**
   * A request failed: per error-map.ts, an error answer (or, for a request
   * sent without correlation, `channelClosed` and the channel closes), or
   * `close` for a protocol violation. Unexpected exceptions are logged.
   */
  private requestFailed(channel: NativeChannel, frame: RawFrame, error: unknown): void {
    const failure = wireFailureOf(error);
    if (failure.internal) this.options.logError('native request failed', { connection: this.id, channel: channel.number, type: frame.type, error });
    if (this.state === 'closed') return;
    if (failure.action === 'close') {
      this.closeWith(failure.code, failure.message);
      return;
    }
    if (frame.correlation !== 0) {
      if (!channel.closed) this.send(encodeErrorResponse(frame.type, channel.number, frame.correlation, failure.code, failure.message));
      if (failure.action === 'answer-then-close') this.closeWith(failure.code, failure.message);
      return;
    }
    // docs/protocol.md: a failed request nobody waits for closes its channel.
    if (channel.closed) return;
    this.send(encodeFrame('channelClosed', channel.number, 0, { code: failure.code, message: failure.message }));
    this.channels.delete(channel.number);
    this.closedByServer.add(channel.number);
    void channel.teardown(`channel closed by the server: ${failure.code}`).catch(this.failBound);
  }

  /** A failure outside a request (framing, routing): protocol errors close; anything else is a bug, logged, and closes too. */
  private fail(error: unknown): void {
    if (error instanceof NativeProtocolError) {
      this.closeWith(error.code, error.message.replace(`${error.code}: `, ''));
      return;
    }
    this.options.logError('native connection failed', { connection: this.id, error });
    this.closeWith('INTERNAL_ERROR', 'the server failed; its log has the cause');
  }

  // ------------------------------------------------------------------ output

  /** Queues a frame; the frames of one turn go out together at its end. */
  send(frame: Uint8Array): void {
    if (this.state === 'closed') return;
    this.outgoing.push(frame);
    this.outgoingBytes += frame.byteLength;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushBound);
    }
  }

  deliveriesPending(consumer: QueueConsumer | null, bodyBytes: number): void {
    if (consumer !== null && !consumer.pendingQueued) {
      consumer.pendingQueued = true;
      this.pendingConsumers.push(consumer);
    }
    this.pendingDeliveryBytes += bodyBytes + 64;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushBound);
    }
    if (!this.deliveriesPaused && this.outgoingFull()) this.pauseDeliveries();
  }

  flushDeliveries(consumer: QueueConsumer): void {
    if (consumer.pendingDeliveries.length === 0) return;
    this.encodePending(consumer);
  }

  deliveriesFlowing(): boolean {
    return !this.deliveriesPaused;
  }

  outgoingFull(): boolean {
    return this.outgoingBytes + this.pendingDeliveryBytes + this.socket.bufferedBytes() > this.limits.outgoingBytesMax;
  }

  private encodePending(consumer: QueueConsumer): void {
    const count = consumer.pendingDeliveries.length;
    if (count > 0 && !consumer.channel.closed) {
      const target = { type: FRAMES.deliver.type, flags: 0, channel: consumer.channel.number, correlation: 0, prefix: consumer.id };
      const before = this.outgoing.length;
      encodeDeliveries(target, consumer.pendingTags, consumer.pendingDeliveries, 0, count, this.negotiatedFrameBytesMax, this.outgoing);
      for (let index = before; index < this.outgoing.length; index++) this.outgoingBytes += this.outgoing[index]!.byteLength;
    }
    consumer.pendingTags.length = 0;
    consumer.pendingDeliveries.length = 0;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingConsumers.length > 0) {
      const consumers = this.pendingConsumers;
      this.pendingConsumers = [];
      for (const consumer of consumers) {
        consumer.pendingQueued = false;
        this.encodePending(consumer);
      }
    }
    this.pendingDeliveryBytes = 0;
    if (this.outgoing.length === 0 || this.state === 'closed') return;
    const frames = this.outgoing;
    const total = this.outgoingBytes;
    this.outgoing = [];
    this.outgoingBytes = 0;
    this.lastSentMs = this.clock.monotonicMs();
    let accepted: boolean;
    if (frames.length === 1) accepted = this.socket.write(frames[0]!);
    else if (total <= COALESCE_BYTES_MAX) accepted = this.socket.write(concatenate(frames, total));
    else {
      accepted = true;
      for (const frame of frames) accepted = this.socket.write(frame) && accepted;
    }
    if (this.deliveriesPaused || this.waitingForOutput.size > 0) this.onWritable();
    else if (!accepted && this.outgoingFull()) this.pauseDeliveries();
  }

  private pauseDeliveries(): void {
    this.deliveriesPaused = true;
    for (const channel of this.channels.values()) for (const consumer of channel.consumers.values()) consumer.setFlowing(false);
  }

  waitForOutput(wake: () => void): void {
    this.waitingForOutput.add(wake);
  }

  /** The socket took what was queued: resumes paused deliveries and waiting subscriptions once below the high-water mark. */
  private onDrain(): void {
    this.onWritable();
  }

  private onWritable(): void {
    if (this.state === 'closed' || this.outgoingFull()) return;
    if (this.deliveriesPaused) {
      this.deliveriesPaused = false;
      for (const channel of this.channels.values()) for (const consumer of channel.consumers.values()) consumer.setFlowing(true);
    }
    if (this.waitingForOutput.size > 0) {
      const waiting = [...this.waitingForOutput];
      this.waitingForOutput.clear();
      for (const wake of waiting) wake();
    }
  }

  // ------------------------------------------------------------------ heartbeats, alarms, close

  private startHeartbeats(): void {
    if (this.heartbeatMs === 0) return;
    const tickMs = Math.max(1, Math.floor(this.heartbeatMs / 2));
    const tick = (): void => {
      if (this.state === 'closed') return;
      const nowMs = this.clock.monotonicMs();
      // docs/protocol.md: two intervals of silence end the connection.
      if (nowMs - this.lastReceivedMs > 2 * this.heartbeatMs) {
        this.closeWith('NATIVE_HEARTBEAT_TIMEOUT', `nothing received for ${Math.round(nowMs - this.lastReceivedMs)} ms (heartbeat ${this.heartbeatMs} ms)`);
        return;
      }
      if (nowMs - this.lastSentMs >= tickMs) this.send(HEARTBEAT_FRAME);
      this.heartbeatTimer = this.clock.setTimer(tickMs, tick);
    };
    this.heartbeatTimer = this.clock.setTimer(tickMs, tick);
  }

  /**
   * While an alarm is on, a connection that publishes is not read (see holdForAlarm); it
   * resumes when the alarm clears. A client that asked for them hears `blocked` and `unblocked`.
   */
  private watchAlarms(): void {
    this.unsubscribeAlarms = this.core.alarms.onChange((active) => {
      this.noticeAlarms(active);
      if (active.size === 0 && this.readingPaused && this.state === 'open') {
        this.readingPaused = false;
        this.socket.resume();
      }
    });
    this.noticeAlarms(this.core.alarms.activeAlarms());
  }

  private noticeAlarms(active: ReadonlySet<string>): void {
    if (!this.blockedNotices || this.state !== 'open') return;
    if (active.size > 0 && !this.blockedNoticeSent) {
      this.blockedNoticeSent = true;
      this.send(encodeFrame('blocked', 0, 0, { reason: `${[...active].sort().join(' and ')} alarm` }));
    } else if (active.size === 0 && this.blockedNoticeSent) {
      this.blockedNoticeSent = false;
      this.send(encodeFrame('unblocked', 0, 0, {}));
    }
  }

  /** Sends `close` with the code, then ends the socket. */
  private closeWith(code: string, message: string): void {
    if (this.state === 'closed') return;
    this.send(encodeFrame('close', 0, 0, { code, message: message.length > 1000 ? `${message.slice(0, 1000)}…` : message }));
    this.endNow();
  }

  /** Writes what is queued, ends the socket and releases everything. */
  private endNow(): void {
    if (this.state === 'closed') return;
    this.flush();
    this.socket.end();
    void this.teardown();
  }

  /** Releases everything: channels (unacked deliveries requeued, consumers cancelled), exclusive queues, timers. */
  private async teardown(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.outgoing = [];
    this.outgoingBytes = 0;
    this.heldForLogin = [];
    this.waitingForOutput.clear();
    this.heartbeatTimer?.cancel();
    this.handshakeTimer?.cancel();
    this.unsubscribeAlarms?.();
    const channels = [...this.channels.values()];
    this.channels.clear();
    await Promise.all(channels.map((channel) => channel.teardown('the connection closed').catch(() => undefined)));
    if (this.openVhost) await this.openVhost.deleteExclusiveQueues(this.socket.id).catch(() => undefined);
  }
}

/** SASL PLAIN (RFC 4616): `authzid \0 user \0 password`, the authzid empty or the user. */
function parsePlain(response: Uint8Array): { user: string; password: string } | null {
  let text: string;
  try {
    text = decoder.decode(response);
  } catch {
    return null;
  }
  const parts = text.split('\u0000');
  if (parts.length !== 3 || parts[1] === '' || (parts[0] !== '' && parts[0] !== parts[1])) return null;
  return { user: parts[1]!, password: parts[2]! };
}
