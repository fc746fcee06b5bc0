import { decodeFrame, type FrameName, type RawFrame } from '../protocols/native/codec/index.js';
import { ChannelAcks } from './channel-acks.js';
import type { ClientConnection } from './client-connection.js';
import { RecoveryOrder, type ChannelOwner, type ClientContext, type ClientResource } from './client-context.js';
import { FerryClientError, toClientError } from './ferry-client-error.js';
import { InboundBuffer } from './inbound-buffer.js';
import type { ReceivedMessage } from './incoming-message.js';
import { decodeDeliver } from './message-batch-decoder.js';

/** Options of {@link FerryClient.consume}. */
export interface ConsumeOptions {
  /** Unacknowledged deliveries the server sends ahead (default 256; 0 = unlimited). */
  readonly prefetch?: number;
  /** Deliveries count as acknowledged when sent (at most once; default false). */
  readonly autoAck?: boolean;
  /** The only consumer of the queue (default false). */
  readonly exclusive?: boolean;
  /** Consumers of higher priority get messages first (default 0). */
  readonly priority?: number;
  /** Consume a stream through this share group (`source` is then a stream) instead of a queue. */
  readonly group?: string;
  /** A name for the consumer, shown by the server (default generated). */
  readonly tag?: string;
}

/**
 * Handles one message of a consumer. Without `autoAck`, a message the
 * handler did not settle is acked when the handler returns (or its promise
 * resolves) and nacked with requeue when it throws (the error goes to the
 * client's `error` event). Messages are handled one at a time, in order.
 */
export type MessageHandler = (message: ReceivedMessage) => void | Promise<void>;

let tagSequence = 0;

/**
 * A push consumer of a queue, on a channel of its own. Iterate it
 * (`for await (const message of consumer)`) or give a handler to
 * {@link FerryClient.consume}. Leaving the loop or calling {@link cancel}
 * stops it. After a reconnect it resubscribes by itself; deliveries of the
 * lost connection can no longer be settled (their `ack()` does nothing) and
 * come again, marked redelivered.
 */
export class QueueConsumer extends InboundBuffer<ReceivedMessage> implements ClientResource, ChannelOwner {
  readonly recoveryOrder = RecoveryOrder.CONSUMER;
  /** The consumer's tag. */
  readonly tag: string;
  private connection: ClientConnection | null = null;
  private channel = 0;
  private consumerId = 0;
  private acks: ChannelAcks | null = null;
  private cancelling: Promise<void> | null = null;

  private constructor(
    private readonly context: ClientContext,
    /** The queue (or stream, with a share group) consumed. */
    readonly source: string,
    private readonly options: ConsumeOptions,
  ) {
    super(Math.max(options.prefetch ?? 256, 1024));
    this.tag = options.tag ?? `ferry-client-${process.pid}-${++tagSequence}`;
  }

  /** @internal Subscribes; resolves once the server accepted the consumer. */
  static async start(context: ClientContext, source: string, options: ConsumeOptions, handler?: MessageHandler): Promise<QueueConsumer> {
    const prefetch = options.prefetch ?? 256;
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new FerryClientError('INVALID_ARGUMENT', `prefetch must be a non-negative integer, got ${prefetch}`);
    const consumer = new QueueConsumer(context, source, options);
    await consumer.subscribe(await context.whenOpen());
    context.register(consumer);
    if (handler !== undefined) consumer.runHandler(handler);
    return consumer;
  }

  private async subscribe(connection: ClientConnection): Promise<void> {
    const { channel, opened } = connection.openChannel();
    this.connection = connection;
    this.channel = channel;
    this.acks = new ChannelAcks(connection, channel, (error) => this.context.reportError(error));
    this.context.setChannelOwner(connection, channel, this);
    const subscribed = connection.call('subscribe', channel, {
      source: this.source,
      group: this.options.group ?? '',
      tag: this.tag,
      prefetch: this.options.prefetch ?? 256,
      autoAck: this.options.autoAck ?? false,
      exclusive: this.options.exclusive ?? false,
      priority: this.options.priority ?? 0,
    });
    subscribed.catch(() => undefined);
    try {
      await opened;
      this.consumerId = (await subscribed).consumerId;
    } catch (error) {
      this.context.setChannelOwner(connection, channel, null);
      void connection.closeChannel(channel).catch(() => undefined);
      throw toClientError(error);
    }
  }

  /**
   * Stops the consumer: no more deliveries; waits for the acks sent so far,
   * then closes its channel. Deliveries received but not yet settled go back
   * to the queue. The iterator ends.
   */
  cancel(): Promise<void> {
    this.cancelling ??= (async () => {
      this.context.unregister(this);
      this.end(null);
      const connection = this.connection;
      if (connection === null || !connection.isOpen) return;
      try {
        await connection.call('cancel', this.channel, { consumerId: this.consumerId });
        await this.acks?.settled();
        await connection.closeChannel(this.channel);
      } catch {
        // The channel or connection is gone: so is the consumer.
      } finally {
        this.context.setChannelOwner(connection, this.channel, null);
      }
    })();
    return this.cancelling;
  }

  /** Resolves once every ack and nack sent so far is answered (acks are durable by then). */
  settled(): Promise<void> {
    return this.acks?.settled() ?? Promise.resolve();
  }

  protected stop(): Promise<void> {
    return this.cancel();
  }

  protected holdReading(hold: boolean): void {
    if (this.connection === null || !this.connection.isOpen) return;
    if (hold) this.connection.holdReading();
    else this.connection.releaseReading();
  }

  /** @internal */
  pushed(name: FrameName, frame: RawFrame): void {
    if (name === 'deliver') {
      const { messages } = decodeDeliver(frame.payload, this.options.autoAck === true ? null : this.acks);
      for (const message of messages) this.push(message);
    } else if (name === 'cancelled') {
      const { reason } = decodeFrame('cancelled', frame.payload);
      this.closedByServer(new FerryClientError('CONSUMER_CANCELLED', `the server cancelled the consumer of ${this.source}: ${reason}`));
    }
  }

  /** @internal */
  channelClosed(error: FerryClientError): void {
    this.closedByServer(error);
  }

  private closedByServer(error: FerryClientError): void {
    this.acks?.markStale();
    this.context.unregister(this);
    const connection = this.connection;
    if (connection !== null) {
      this.context.setChannelOwner(connection, this.channel, null);
      if (connection.isOpen) void connection.closeChannel(this.channel).catch(() => undefined);
    }
    this.end(error);
  }

  private runHandler(handler: MessageHandler): void {
    void (async () => {
      try {
        for await (const message of this) {
          try {
            const outcome = handler(message);
            if (outcome !== undefined && typeof (outcome as Promise<void>).then === 'function') await outcome;
            if (!message.isSettled) message.ack();
          } catch (error) {
            this.context.reportError(new FerryClientError('HANDLER_FAILED', `the handler of consumer ${this.tag} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
            if (!message.isSettled) message.nack({ requeue: true });
          }
        }
      } catch (error) {
        this.context.reportError(toClientError(error));
      }
    })();
  }

  /** @internal */
  async recover(connection: ClientConnection): Promise<void> {
    if (this.cancelling !== null) return;
    await this.subscribe(connection);
  }

  /** @internal */
  drain(): Promise<void> {
    return this.settled();
  }

  /** @internal */
  connectionLost(): void {
    this.acks?.markStale();
    this.forgetHold();
    // Deliveries not yet handed out went back to the queue with the connection.
    this.clearBuffer();
    this.connection = null;
  }

  /** @internal */
  clientClosed(error: FerryClientError | null): void {
    this.acks?.markStale();
    this.end(error);
  }
}
