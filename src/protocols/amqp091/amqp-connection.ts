import { isFerryError } from '../../lib/ferry-error.js';
import type { Clock, TimerHandle } from '../../platform/clock.js';
import type { TcpConnection } from '../../platform/tcp-server.js';
import type { Principal } from '../../core/access/access-control.js';
import type { BrokerCore } from '../../core/broker/broker-core.js';
import type { ConnectionDescription } from '../../core/connections/connection-registry.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { AmqpChannel, type ChannelHost, type DirectReplyTo } from './amqp-channel.js';
import { AmqpProtocolError } from './codec/amqp-protocol-error.js';
import { decodeFieldTable, fieldTableToHeaderTable } from './codec/field-table.js';
import {
  encodeHeartbeatFrame,
  FrameDecoder,
  protocolHeaderReply,
  writeContentFrames,
  writeDeliverFrames,
  writeMethodFrame,
  type AmqpFrame,
  type DeliverSender,
  type FrameType,
  type FrameVisitor,
} from './codec/frame-codec.js';
import { decodeContentHeaderAt, decodeMethodAt, type AnyDecodedMethod, type AnyMethodFieldsInput, type BasicPropertiesInput } from './codec/method-codec.js';
import { WireWriter } from './codec/wire-writer.js';
import { FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, methodSpecByName } from './codec/spec.js';
import { toAmqpError } from './error-map.js';

/** Limits of AMQP connections; each has a default and a config key. */
export interface AmqpLimits {
  /** Largest frame the server accepts and offers in connection.tune. */
  readonly frameMax: number;
  /** Most channels per connection. */
  readonly channelMax: number;
  /** Heartbeat interval offered, in seconds (0 disables). */
  readonly heartbeatSeconds: number;
  /** Deliveries pause while this many bytes wait in a connection's socket buffer. */
  readonly outgoingBytesMax: number;
}

/** Defaults of {@link AmqpLimits} (RabbitMQ's: 128 KiB frames, 2047 channels, 60 s heartbeats). */
export const AMQP_LIMIT_DEFAULTS: AmqpLimits = { frameMax: 131_072, channelMax: 2047, heartbeatSeconds: 60, outgoingBytesMax: 4 * 1024 * 1024 };

type State = 'awaiting-header' | 'awaiting-start-ok' | 'awaiting-tune-ok' | 'awaiting-open' | 'open' | 'closing' | 'closed';

const decoder = new TextDecoder();
/** A connection's output buffer grown past this (for a large message) is replaced by a small one after its write. */
const OUTGOING_BUFFER_BYTES_KEPT_MAX = 1024 * 1024;

/**
 * One AMQP 0-9-1 connection: the handshake (protocol header, start, SASL,
 * tune, open), heartbeats, channels, memory/disk alarm blocking, and the
 * close handshake. Channel errors close only their channel; connection
 * errors send connection.close and then close the socket.
 */
export class AmqpConnection {
  private state: State = 'awaiting-header';
  private readonly decoder: FrameDecoder;
  private readonly channels = new Map<number, AmqpChannel>();
  private frameMax = 4096;
  private channelMax: number;
  private heartbeatSeconds = 0;
  private principal: Principal | null = null;
  private vhost: VirtualHost | null = null;
  private clientCapabilities: Record<string, unknown> = {};
  /** Frames of this turn, gathered for one socket write. */
  private outgoing = new WireWriter();
  private flushScheduled = false;
  private readonly flushSoon = (): void => this.flush();
  private lastReceivedMs: number;
  private lastSentMs: number;
  private heartbeatTimer: TimerHandle | null = null;
  private closeTimer: TimerHandle | null = null;
  private blockedByAlarm = false;
  private hasPublished = false;
  private readingPaused = false;
  private unsubscribeAlarms: (() => void) | null = null;
  private readonly connectedAtMs: number;
  /** Channel work runs in order per connection; async handlers (declarations) finish before the next method. */
  /** Frames received behind a handler that is waited for, in order; those from `frameIndex` on are not yet handled. */
  private frames: AmqpFrame[] = [];
  private frameIndex = 0;
  /** The handler the frames behind it wait for, or null. */
  private waitingFor: Promise<void> | null = null;

  constructor(
    private readonly socket: TcpConnection,
    private readonly core: BrokerCore,
    private readonly clock: Clock,
    private readonly limits: AmqpLimits,
    private readonly replyTo: DirectReplyTo,
    private readonly messageBytesMax: number,
  ) {
    this.decoder = new FrameDecoder({ expectProtocolHeader: true, frameMax: 4096 });
    this.channelMax = limits.channelMax;
    this.connectedAtMs = clock.nowMs();
    this.lastReceivedMs = clock.monotonicMs();
    this.lastSentMs = this.lastReceivedMs;
    socket.onData((chunk) => this.onData(chunk));
    socket.onDrain(() => this.onDrain());
    socket.onClose(() => void this.teardown());
  }

  /** The connection as operators see it (management API). */
  describe(): ConnectionDescription {
    return {
      name: this.socket.id,
      protocol: 'amqp091',
      peerAddress: this.socket.remoteAddress,
      peerPort: this.socket.remotePort,
      user: this.principal?.user ?? null,
      vhost: this.vhost?.name ?? null,
      connectedAtMs: this.connectedAtMs,
      state: this.state,
      channels: [...this.channels.values()].map((channel) => channel.describe()),
    };
  }

  /** The connection's id, owner of its exclusive queues. */
  get id(): string {
    return this.socket.id;
  }

  // ---------------------------------------------------------------- input

  private onData(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.lastReceivedMs = this.clock.monotonicMs();
    try {
      // A plain Uint8Array view: payload views made of it (frames kept while a handler is waited for) are plain ones too.
      this.decoder.pushEach(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), this.frameVisitor);
    } catch (error) {
      if (isFerryError(error, 'AMQP_PROTOCOL_HEADER_MISMATCH')) {
        // §4.2.2: answer with our protocol header, then close.
        this.socket.write(protocolHeaderReply());
        this.socket.end();
        this.state = 'closed';
        return;
      }
      this.connectionError(toAmqpError(error, 0, 0));
      // The decoder is spent after a framing error, so no close-ok could be read: close now.
      this.flush();
      this.socket.end();
      void this.teardown();
      return;
    }
    this.noticeProtocolHeader();
  }

  private noticeProtocolHeader(): void {
    if (this.state === 'awaiting-header' && this.decoder.protocolHeaderReceived) {
      this.state = 'awaiting-start-ok';
      this.sendStart();
    }
  }

  /**
   * Frames as the decoder finds them. Most (publish, content, acks) are
   * handled at once, synchronously, so a chunk of frames costs one pass, no
   * frame objects, and its replies one socket write; a handler that must wait
   * (a declaration being stored, an alarm) holds the frames behind it, kept as
   * views into their chunk, until it is done.
   */
  private readonly frameVisitor: FrameVisitor = {
    frame: (type, channel, bytes, start, end) => {
      this.noticeProtocolHeader();
      if (this.waitingFor !== null || this.frameIndex < this.frames.length) this.frames.push({ type, channel, payload: bytes.subarray(start, end) });
      else this.handleFrame(type, channel, bytes, start, end);
    },
  };

  /** Handles one frame (payload `bytes[start, end)`); a handler's promise holds the frames behind it. */
  private handleFrame(type: FrameType, channel: number, bytes: Uint8Array, start: number, end: number): void {
    let pending: Promise<void> | undefined;
    try {
      pending = this.onFrame(type, channel, bytes, start, end);
    } catch (error) {
      this.connectionError(toAmqpError(error, 0, 0));
      return;
    }
    if (pending === undefined) return;
    this.waitingFor = pending
      .catch((error: unknown) => this.connectionError(toAmqpError(error, 0, 0)))
      .then(() => {
        this.waitingFor = null;
        this.processFrames();
      });
  }

  /** Handles the frames held behind a handler that was waited for, in order, until one must be waited for again. */
  private processFrames(): void {
    while (this.frameIndex < this.frames.length && this.waitingFor === null) {
      const frame = this.frames[this.frameIndex++]!;
      this.handleFrame(frame.type, frame.channel, frame.payload, 0, frame.payload.byteLength);
    }
    if (this.frameIndex === this.frames.length) {
      this.frames = [];
      this.frameIndex = 0;
    }
  }

  private onFrame(type: FrameType, channelNumber: number, bytes: Uint8Array, start: number, end: number): Promise<void> | undefined {
    if (this.state === 'closed') return undefined;
    if (type === FRAME_HEARTBEAT) return undefined;
    if (this.state === 'closing' && !(type === FRAME_METHOD && channelNumber === 0)) return undefined;
    if (type === FRAME_METHOD) {
      let method: AnyDecodedMethod;
      try {
        method = decodeMethodAt(bytes, start, end);
      } catch (error) {
        this.connectionError(toAmqpError(error, 0, 0));
        return undefined;
      }
      if (channelNumber === 0) return this.onConnectionMethod(method);
      return this.onChannelMethod(channelNumber, method);
    }
    const channel = this.channels.get(channelNumber);
    if (!channel) {
      this.connectionError(new AmqpProtocolError(504, `frame on unknown channel ${channelNumber}`));
      return;
    }
    if (channel.closing) return undefined;
    try {
      if (type === FRAME_HEADER) channel.onHeader(decodeContentHeaderAt(bytes, start, end));
      else if (type === FRAME_BODY) channel.onBody(bytes, start, end, this.messageBytesMax);
    } catch (error) {
      this.fail(channel, toAmqpError(error, 60, 40));
    }
    return undefined;
  }

  // ---------------------------------------------------------------- connection class

  private sendStart(): void {
    this.sendMethod(0, 'connection.start', {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: {
        product: 'Ferry',
        version: '0.1.0',
        platform: `Node.js ${process.version}`,
        capabilities: {
          publisher_confirms: true,
          exchange_exchange_bindings: true,
          'basic.nack': true,
          consumer_cancel_notify: true,
          'connection.blocked': true,
          consumer_priorities: true,
          authentication_failure_close: true,
          per_consumer_qos: true,
          direct_reply_to: true,
        },
      },
      mechanisms: 'PLAIN AMQPLAIN',
      locales: 'en_US',
    });
  }

  private async onConnectionMethod(method: AnyDecodedMethod): Promise<void> {
    switch (method.name) {
      case 'connection.start-ok': {
        if (this.state !== 'awaiting-start-ok') throw new AmqpProtocolError(503, 'connection.start-ok out of order', { classId: 10, methodId: 11 });
        this.clientCapabilities = capabilitiesOf(method.fields.clientProperties);
        const credentials = parseCredentials(method.fields.mechanism, method.fields.response);
        if (!credentials) {
          this.refuseLogin(`unknown authentication mechanism ${method.fields.mechanism}`);
          return;
        }
        try {
          this.principal = await this.core.access.authenticate(credentials.user, credentials.password, this.socket.remoteAddress);
        } catch {
          // RabbitMQ's words: the client is not told whether the user or the password was wrong.
          this.refuseLogin(`Login was refused using authentication mechanism ${method.fields.mechanism}. For details see the broker logfile.`);
          return;
        }
        this.state = 'awaiting-tune-ok';
        this.sendMethod(0, 'connection.tune', { channelMax: this.limits.channelMax, frameMax: this.limits.frameMax, heartbeat: this.limits.heartbeatSeconds });
        return;
      }
      case 'connection.tune-ok': {
        if (this.state !== 'awaiting-tune-ok') throw new AmqpProtocolError(503, 'connection.tune-ok out of order', { classId: 10, methodId: 31 });
        const { channelMax, frameMax, heartbeat } = method.fields;
        if (frameMax !== 0 && frameMax < 4096) throw new AmqpProtocolError(530, `frame_max=${frameMax} < 4096 min size`, { classId: 10, methodId: 31 });
        if (frameMax > this.limits.frameMax) throw new AmqpProtocolError(530, `frame_max=${frameMax} > ${this.limits.frameMax} max size`, { classId: 10, methodId: 31 });
        this.frameMax = frameMax === 0 ? this.limits.frameMax : frameMax;
        this.channelMax = channelMax === 0 ? this.limits.channelMax : Math.min(channelMax, this.limits.channelMax);
        this.decoder.setFrameMax(this.frameMax);
        this.heartbeatSeconds = heartbeat;
        this.startHeartbeats();
        this.state = 'awaiting-open';
        return;
      }
      case 'connection.open': {
        if (this.state !== 'awaiting-open') throw new AmqpProtocolError(503, 'connection.open out of order', { classId: 10, methodId: 40 });
        const vhostName = method.fields.virtualHost;
        // RabbitMQ's two texts: a vhost that does not exist, then one the user may not use.
        let vhost: VirtualHost;
        try {
          vhost = this.core.vhost(vhostName);
        } catch {
          throw new AmqpProtocolError(530, `vhost ${vhostName} not found`, { classId: 10, methodId: 40 });
        }
        try {
          this.core.access.authorizeVhost(this.principal!, vhostName);
        } catch {
          throw new AmqpProtocolError(530, `access to vhost '${vhostName}' refused for user '${this.principal!.user}'`, { classId: 10, methodId: 40 });
        }
        this.vhost = vhost;
        this.state = 'open';
        this.sendMethod(0, 'connection.open-ok', {});
        this.watchAlarms();
        return;
      }
      case 'connection.close':
        this.sendMethod(0, 'connection.close-ok', {});
        this.flush();
        this.socket.end();
        await this.teardown();
        return;
      case 'connection.close-ok':
        this.socket.end();
        await this.teardown();
        return;
      case 'connection.blocked':
      case 'connection.unblocked':
        return;
      case 'connection.update-secret':
        this.sendMethod(0, 'connection.update-secret-ok', {});
        return;
      default:
        throw new AmqpProtocolError(503, `${method.name} on channel 0`, { classId: method.classId, methodId: method.methodId });
    }
  }

  private refuseLogin(reason: string): void {
    // RabbitMQ's authentication_failure_close: tell capable clients why, else just close.
    if (this.clientCapabilities['authentication_failure_close'] === true) {
      // Class and method 0, as RabbitMQ sends this close.
      this.sendMethod(0, 'connection.close', { replyCode: 403, replyText: `ACCESS_REFUSED - ${reason}`, classId: 0, methodId: 0 });
      this.state = 'closing';
      this.armCloseTimer();
    } else {
      this.flush();
      this.socket.end();
      void this.teardown();
    }
  }

  // ---------------------------------------------------------------- channels

  private onChannelMethod(number: number, method: AnyDecodedMethod): Promise<void> | undefined {
    if (this.state !== 'open') throw new AmqpProtocolError(504, `channel ${number} used before connection.open`, { classId: method.classId, methodId: method.methodId });
    if (method.name === 'channel.open') {
      if (this.channels.has(number)) throw new AmqpProtocolError(504, "second 'channel.open' seen", { classId: 20, methodId: 10 });
      if (number > this.channelMax) throw new AmqpProtocolError(530, `channel ${number} beyond channel-max ${this.channelMax}`, { classId: 20, methodId: 10 });
      this.channels.set(number, new AmqpChannel(number, this.channelHost()));
      this.sendMethod(number, 'channel.open-ok', {});
      return undefined;
    }
    const channel = this.channels.get(number);
    if (!channel) throw new AmqpProtocolError(504, "expected 'channel.open'", { classId: method.classId, methodId: method.methodId });
    if (method.name === 'channel.close') {
      this.channels.delete(number);
      return channel.teardown().then(() => this.sendMethod(number, 'channel.close-ok', {}));
    }
    if (method.name === 'channel.close-ok') {
      if (channel.closing) this.channels.delete(number);
      return undefined;
    }
    if (channel.closing) return undefined; // Everything but close-ok is dropped after we sent channel.close.
    // The ids are those of the publish still waiting for its content, as RabbitMQ reports them.
    if (channel.expectsContent()) throw new AmqpProtocolError(505, 'expected content header for class 60, got non content header frame instead', { classId: 60, methodId: 40 });
    if (method.name === 'basic.publish') {
      this.hasPublished = true;
      if (this.blockedByAlarm) {
        // A publisher during an alarm: stop reading it (TCP back pressure), and hold this publish
        // (and the frames behind it) until the alarm clears.
        if (!this.readingPaused) {
          this.readingPaused = true;
          this.socket.pause();
        }
        return this.core.alarms.whenClear().then(() => {
          if (this.state === 'open') return this.dispatchToChannel(channel, method);
          return undefined;
        });
      }
    }
    return this.dispatchToChannel(channel, method);
  }

  /** Runs a channel method; its failure closes the channel (or the connection) with the mapped code. */
  private dispatchToChannel(channel: AmqpChannel, method: AnyDecodedMethod): Promise<void> | undefined {
    try {
      const pending = channel.dispatch(method);
      return pending?.catch((error: unknown) => this.fail(channel, toAmqpError(error, method.classId, method.methodId)));
    } catch (error) {
      this.fail(channel, toAmqpError(error, method.classId, method.methodId));
      return undefined;
    }
  }

  private fail(channel: AmqpChannel, error: AmqpProtocolError): void {
    if (error.isConnectionError) {
      this.connectionError(error);
      return;
    }
    if (channel.closing) return;
    channel.closing = true;
    void channel.teardown();
    this.sendMethod(channel.number, 'channel.close', { replyCode: error.replyCode, replyText: error.replyText, classId: error.classId, methodId: error.methodId });
  }

  private channelHost(): ChannelHost {
    return {
      connectionId: this.socket.id,
      vhost: this.vhost!,
      access: this.core.access,
      principal: this.principal!,
      clock: this.clock,
      replyTo: this.replyTo,
      sendMethod: (channel, name, fields) => this.sendMethod(channel, name, fields),
      channelFailed: (channel, error) => this.fail(channel, toAmqpError(error, 60, 80)),
      sendContent: (channel, name, fields, properties, body) => this.sendContent(channel, name, fields, properties, body),
      sendDeliver: this.sendDeliver,
      outgoingFull: () => {
        const full = this.outgoing.length + this.socket.bufferedBytes() > this.limits.outgoingBytesMax;
        if (full) this.deliveriesMayBePaused = true;
        return full;
      },
    };
  }

  // ---------------------------------------------------------------- output

  /** Queues a method frame; frames of one turn go out in one socket write. */
  sendMethod(channel: number, name: string, fields: Record<string, unknown>): void {
    if (this.state === 'closed') return;
    const spec = methodSpecByName(name)!;
    const start = this.outgoing.length;
    try {
      writeMethodFrame(this.outgoing, channel, spec, fields as AnyMethodFieldsInput, this.frameMax);
    } catch (error) {
      this.outgoing.truncate(start);
      throw error;
    }
    this.scheduleFlush();
  }

  private sendContent(channel: number, name: string, fields: Record<string, unknown>, properties: Record<string, unknown>, body: Uint8Array): void {
    if (this.state === 'closed') return;
    const spec = methodSpecByName(name)!;
    const start = this.outgoing.length;
    try {
      writeContentFrames(this.outgoing, channel, spec, fields as AnyMethodFieldsInput, properties as BasicPropertiesInput, body, this.frameMax);
    } catch (error) {
      this.outgoing.truncate(start);
      throw error;
    }
    this.scheduleFlush();
  }

  private readonly sendDeliver: DeliverSender = (channel, consumerTag, deliveryTag, redelivered, exchange, routingKey, properties, body) => {
    if (this.state === 'closed') return;
    const start = this.outgoing.length;
    try {
      writeDeliverFrames(this.outgoing, this.frameMax, channel, consumerTag, deliveryTag, redelivered, exchange, routingKey, properties, body);
    } catch (error) {
      this.outgoing.truncate(start);
      throw error;
    }
    this.scheduleFlush();
  };

  /**
   * Writes after the current burst of work (the clock's runSoon), not at the
   * end of this callback: the deliveries that the publishes and acks read from
   * every socket in this turn of the event loop cause go out in one write.
   */
  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.clock.runSoon(this.flushSoon);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0 || this.state === 'closed') return;
    const bytes = this.outgoing.finish();
    // One large message must not pin a large buffer to the connection for good.
    if (this.outgoing.capacity > OUTGOING_BUFFER_BYTES_KEPT_MAX) this.outgoing = new WireWriter();
    else this.outgoing.reset();
    this.lastSentMs = this.clock.monotonicMs();
    const accepted = this.socket.write(bytes);
    // Deliveries may have paused while output piled up in this turn; once it is handed over
    // (or the socket drains later) they resume.
    if (!accepted || this.deliveriesMayBePaused) {
      this.deliveriesMayBePaused = !accepted;
      for (const channel of this.channels.values()) channel.updateFlow();
    }
  }

  private deliveriesMayBePaused = false;

  private onDrain(): void {
    for (const channel of this.channels.values()) channel.updateFlow();
  }

  // ---------------------------------------------------------------- heartbeats, alarms, close

  private startHeartbeats(): void {
    if (this.heartbeatSeconds === 0) return;
    const intervalMs = (this.heartbeatSeconds * 1000) / 2;
    const tick = () => {
      if (this.state === 'closed') return;
      const nowMs = this.clock.monotonicMs();
      // A peer silent for two heartbeat intervals is gone (§4.2.7).
      if (nowMs - this.lastReceivedMs > this.heartbeatSeconds * 2000) {
        this.socket.destroy();
        void this.teardown();
        return;
      }
      if (nowMs - this.lastSentMs >= intervalMs) {
        this.socket.write(encodeHeartbeatFrame());
        this.lastSentMs = nowMs;
      }
      this.heartbeatTimer = this.clock.setTimer(intervalMs, tick);
    };
    this.heartbeatTimer = this.clock.setTimer(intervalMs, tick);
  }

  private watchAlarms(): void {
    const apply = (blocked: boolean): void => {
      if (blocked === this.blockedByAlarm) return;
      this.blockedByAlarm = blocked;
      if (blocked) {
        // Publishers are blocked, as in RabbitMQ: clients that can hear it are told; a connection that
        // publishes stops being read, while consume-only ones keep working (their acks drain queues).
        if (this.clientCapabilities['connection.blocked'] === true) {
          const alarms = [...this.core.alarms.activeAlarms()].join(', ');
          this.sendMethod(0, 'connection.blocked', { reason: `low on resources (${alarms} alarm)` });
        }
        if (this.hasPublished) {
          this.readingPaused = true;
          this.socket.pause();
        }
      } else {
        if (this.clientCapabilities['connection.blocked'] === true) this.sendMethod(0, 'connection.unblocked', {});
        if (this.readingPaused) {
          this.readingPaused = false;
          this.socket.resume();
        }
      }
    };
    apply(this.core.alarms.blocked());
    this.unsubscribeAlarms = this.core.alarms.onChange((active) => apply(active.size > 0));
  }

  /** Sends connection.close with the error and waits (bounded) for close-ok. */
  private connectionError(error: AmqpProtocolError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'awaiting-header') {
      this.socket.destroy();
      void this.teardown();
      return;
    }
    this.sendMethod(0, 'connection.close', { replyCode: error.replyCode, replyText: error.replyText, classId: error.classId, methodId: error.methodId });
    this.state = 'closing';
    for (const channel of this.channels.values()) void channel.teardown();
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    this.closeTimer = this.clock.setTimer(3_000, () => {
      this.socket.destroy();
      void this.teardown();
    });
  }

  /** Releases everything: channels (unacked deliveries requeued), exclusive queues, timers. */
  private async teardown(): Promise<void> {
    if (this.state === 'closed') return;
    this.flush();
    this.state = 'closed';
    this.heartbeatTimer?.cancel();
    this.closeTimer?.cancel();
    this.unsubscribeAlarms?.();
    const channels = [...this.channels.values()];
    this.channels.clear();
    await Promise.all(channels.map((channel) => channel.teardown().catch(() => undefined)));
    if (this.vhost) await this.vhost.deleteExclusiveQueues(this.socket.id).catch(() => undefined);
  }

  /** Closes from the server side (shutdown), with reply code 320 CONNECTION_FORCED. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    if (this.state === 'open') {
      this.sendMethod(0, 'connection.close', { replyCode: 320, replyText: `CONNECTION_FORCED - ${reason}`, classId: 0, methodId: 0 });
      this.flush();
    }
    this.socket.end();
    void this.teardown();
  }
}

function capabilitiesOf(clientProperties: ReturnType<typeof decodeFieldTable>): Record<string, unknown> {
  const table = fieldTableToHeaderTable(clientProperties);
  const capabilities = table['capabilities'];
  return capabilities && typeof capabilities === 'object' && !(capabilities instanceof Uint8Array) && !Array.isArray(capabilities)
    ? (capabilities as Record<string, unknown>)
    : {};
}

/** SASL PLAIN (`\0user\0password`) and RabbitMQ's AMQPLAIN (a field table without its length). */
function parseCredentials(mechanism: string, response: Uint8Array): { user: string; password: string } | null {
  if (mechanism === 'PLAIN') {
    const parts = decoder.decode(response).split('\u0000');
    if (parts.length !== 3) return null;
    return { user: parts[1]!, password: parts[2]! };
  }
  if (mechanism === 'AMQPLAIN') {
    const withLength = new Uint8Array(response.byteLength + 4);
    new DataView(withLength.buffer).setUint32(0, response.byteLength);
    withLength.set(response, 4);
    try {
      const table = fieldTableToHeaderTable(decodeFieldTable(withLength));
      const user = table['LOGIN'];
      const password = table['PASSWORD'];
      if (typeof user === 'string' && typeof password === 'string') return { user, password };
    } catch {
      return null;
    }
  }
  return null;
}
