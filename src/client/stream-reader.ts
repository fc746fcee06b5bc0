import type { FrameName, RawFrame } from '../protocols/native/codec/index.js';
import type { ClientConnection } from './client-connection.js';
import { RecoveryOrder, type ChannelOwner, type ClientContext, type ClientResource } from './client-context.js';
import { FerryClientError, toClientError } from './ferry-client-error.js';
import { InboundBuffer } from './inbound-buffer.js';
import type { StreamEntry } from './incoming-message.js';
import { decodeStreamDeliver } from './message-batch-decoder.js';
import { wireOffsetSpec, type OffsetSpec } from './offset-spec.js';

/** Options of {@link FerryClient.streamReader}. */
export interface StreamReaderOptions {
  /** The partition to read (default 0). */
  readonly partition?: number;
  /** Where to start (default 'next': entries appended from now on). */
  readonly from?: OffsetSpec;
  /** Entries the server may send ahead (default 1,000); more are granted as half of them are taken. */
  readonly credit?: number;
}

/**
 * Reads one stream partition as the server pushes it, within a credit of
 * entries: `for await (const entry of reader)`. Credit is granted again
 * each time half of it has been handed to the application, so the buffer
 * never holds more than `credit` entries. After a reconnect it resubscribes
 * from the next offset not yet handed out, so the application sees every
 * entry once, in order. Leaving the loop or {@link close} stops it.
 */
export class StreamReader extends InboundBuffer<StreamEntry> implements ClientResource, ChannelOwner {
  readonly recoveryOrder = RecoveryOrder.CONSUMER;
  readonly partition: number;
  private readonly credit: number;
  private readonly from: OffsetSpec;
  private connection: ClientConnection | null = null;
  private channel = 0;
  private subscriptionId = 0;
  /** The next offset to hand out; undefined until the server said where the subscription starts. */
  private nextOffset: number | undefined;
  private takenSinceGrant = 0;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly context: ClientContext,
    readonly stream: string,
    options: StreamReaderOptions,
  ) {
    const credit = options.credit ?? 1000;
    if (!Number.isInteger(credit) || credit < 1) throw new FerryClientError('INVALID_ARGUMENT', `credit must be a positive integer, got ${credit}`);
    super(credit * 2);
    this.credit = credit;
    this.partition = options.partition ?? 0;
    this.from = options.from ?? 'next';
    wireOffsetSpec(this.from);
  }

  /** @internal Subscribes; resolves once the server accepted it. */
  static async start(context: ClientContext, stream: string, options: StreamReaderOptions): Promise<StreamReader> {
    const reader = new StreamReader(context, stream, options);
    await reader.subscribe(await context.whenOpen());
    context.register(reader);
    return reader;
  }

  /** The offset of the next entry the iterator will hand out (known once subscribed). */
  get position(): number | undefined {
    return this.nextOffset;
  }

  private async subscribe(connection: ClientConnection): Promise<void> {
    const { channel, opened } = connection.openChannel();
    this.connection = connection;
    this.channel = channel;
    this.takenSinceGrant = 0;
    this.context.setChannelOwner(connection, channel, this);
    const from = this.nextOffset !== undefined ? { offset: this.nextOffset } : this.from;
    const subscribed = connection.call('streamSubscribe', channel, { stream: this.stream, partition: this.partition, from: wireOffsetSpec(from), credit: this.credit });
    subscribed.catch(() => undefined);
    try {
      await opened;
      const answer = await subscribed;
      this.subscriptionId = answer.subscriptionId;
      this.nextOffset ??= answer.offset;
    } catch (error) {
      this.context.setChannelOwner(connection, channel, null);
      void connection.closeChannel(channel).catch(() => undefined);
      throw toClientError(error);
    }
  }

  /** Stops reading and closes the reader's channel; the iterator ends. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.context.unregister(this);
      this.end(null);
      const connection = this.connection;
      if (connection === null || !connection.isOpen) return;
      try {
        await connection.closeChannel(this.channel);
      } catch {
        // Gone already.
      } finally {
        this.context.setChannelOwner(connection, this.channel, null);
      }
    })();
    return this.closing;
  }

  protected stop(): Promise<void> {
    return this.close();
  }

  protected override taken(entry: StreamEntry): void {
    this.nextOffset = entry.offset + 1;
    if (++this.takenSinceGrant * 2 >= this.credit && this.connection !== null && this.connection.isOpen) {
      this.connection.notify('streamCredit', this.channel, { subscriptionId: this.subscriptionId, credit: this.takenSinceGrant });
      this.takenSinceGrant = 0;
    }
  }

  protected holdReading(): void {
    // Credit bounds what the server sends; no need to hold the connection.
  }

  /** @internal */
  pushed(name: FrameName, frame: RawFrame): void {
    if (name !== 'streamDeliver') return;
    for (const entry of decodeStreamDeliver(frame.payload).entries) this.push(entry);
  }

  /** @internal */
  channelClosed(error: FerryClientError): void {
    this.context.unregister(this);
    if (this.connection !== null) this.context.setChannelOwner(this.connection, this.channel, null);
    this.end(error);
  }

  /** @internal */
  async recover(connection: ClientConnection): Promise<void> {
    if (this.closing !== null) return;
    await this.subscribe(connection);
  }

  /** @internal */
  connectionLost(): void {
    // Entries not yet handed out are read again from `nextOffset`.
    this.clearBuffer();
    this.connection = null;
  }

  /** @internal */
  clientClosed(error: FerryClientError | null): void {
    this.end(error);
  }
}
