import { decodeEnvelope, type EnvelopeFields } from '../core/message/message-codec.js';
import type { MessageProperties as StoredProperties } from '../core/message/message.js';
import type { HeaderTable } from '../core/routing/header-value.js';
import type { ChannelAcks } from './channel-acks.js';
import { FerryClientError } from './ferry-client-error.js';

/** Properties of a received message (the record key, when set, as bytes). */
export type ReceivedProperties = StoredProperties;

const decoder = new TextDecoder();

/**
 * What queue deliveries and stream entries share: the body as received, and
 * the routing key, exchange, properties and headers, decoded from the wire
 * envelope only when first read. `body` is a view into the received bytes
 * (copy it to keep it apart from the frame it came in).
 */
export class IncomingMessage {
  private readonly source: Uint8Array;
  private readonly keyAt: number;
  private readonly keyLength: number;
  private readonly envelopeAt: number;
  private readonly envelopeLength: number;
  private readonly bodyAt: number;
  private readonly bodyLength: number;
  private bodyView: Uint8Array | undefined;
  private envelopeFields: EnvelopeFields | undefined;
  private routingKeyText: string | undefined;

  /** @internal `layout`: key offset and length, envelope offset and length, body offset and length, in `source`. */
  constructor(source: Uint8Array, layout: readonly number[]) {
    this.source = source;
    this.keyAt = layout[0]!;
    this.keyLength = layout[1]!;
    this.envelopeAt = layout[2]!;
    this.envelopeLength = layout[3]!;
    this.bodyAt = layout[4]!;
    this.bodyLength = layout[5]!;
  }

  /** The body bytes, untouched. */
  get body(): Uint8Array {
    return (this.bodyView ??= this.source.subarray(this.bodyAt, this.bodyAt + this.bodyLength));
  }

  /** The routing key (or subject) it was published with. */
  get routingKey(): string {
    return (this.routingKeyText ??= decoder.decode(this.source.subarray(this.keyAt, this.keyAt + this.keyLength)));
  }

  /** The exchange it was published to ("" for the default exchange and for stream appends). */
  get exchange(): string {
    return this.envelope().exchange;
  }

  get properties(): ReceivedProperties {
    return this.envelope().properties;
  }

  get headers(): HeaderTable {
    return this.envelope().headers;
  }

  /** True when it was published persistent. */
  get persistent(): boolean {
    return this.envelope().persistent;
  }

  /** @internal The envelope bytes as received (the storage envelope of core/message/message-codec). */
  get envelopeBytes(): Uint8Array {
    return this.source.subarray(this.envelopeAt, this.envelopeAt + this.envelopeLength);
  }

  /** @internal The routing key bytes as received. */
  get routingKeyBytes(): Uint8Array {
    return this.source.subarray(this.keyAt, this.keyAt + this.keyLength);
  }

  /** The body decoded as UTF-8. */
  bodyText(): string {
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON (UTF-8). Throws SyntaxError when it is not JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.bodyText()) as T;
  }

  private envelope(): EnvelopeFields {
    if (this.envelopeFields === undefined) {
      try {
        this.envelopeFields = decodeEnvelope(this.source.subarray(this.envelopeAt, this.envelopeAt + this.envelopeLength));
      } catch (error) {
        throw new FerryClientError('NATIVE_MALFORMED_FRAME', `a received message has a malformed envelope: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
    return this.envelopeFields;
  }
}

/**
 * A message delivered from a queue (push consumer or `get`). Settle it once
 * with {@link ack} or {@link nack} unless it was received with `autoAck`.
 * Acks are batched per turn. If the connection it came on was lost, settling
 * does nothing: the server has returned it to its queue and delivers it
 * again (with `redelivered` set).
 */
export class ReceivedMessage extends IncomingMessage {
  private settled: boolean;

  /** @internal */
  constructor(
    source: Uint8Array,
    layout: readonly number[],
    /** Identifies the delivery on its channel. */
    readonly deliveryTag: number,
    /** True when the message was delivered before and not acked. */
    readonly redelivered: boolean,
    /** How many times it has been delivered, this time included. */
    readonly deliveryCount: number,
    /** When the broker received it (ms since the epoch). */
    readonly timestampMs: number,
    private readonly acks: ChannelAcks | null,
  ) {
    super(source, layout);
    this.settled = acks === null;
  }

  /** True once acked or nacked (always true for auto-acked deliveries). */
  get isSettled(): boolean {
    return this.settled;
  }

  /**
   * Acknowledges the message: the queue removes it. Sent with the other acks
   * of this turn; durable once the consumer's `settled()` resolves. A second
   * settle is ignored.
   */
  ack(): void {
    if (this.settled) return;
    this.settled = true;
    this.acks!.ack(this.deliveryTag);
  }

  /**
   * Rejects the message: back to the queue (`requeue`, the default), or
   * dead-lettered / dropped (`requeue: false`).
   */
  nack(options: { readonly requeue?: boolean } = {}): void {
    if (this.settled) return;
    this.settled = true;
    this.acks!.nack(this.deliveryTag, options.requeue ?? true);
  }

  /** Gives a pulled message `visibilityTimeoutMs` more before it returns to the queue. */
  changeVisibility(visibilityTimeoutMs: number): Promise<void> {
    if (this.acks === null) return Promise.reject(new FerryClientError('INVALID_ARGUMENT', 'an auto-acked delivery has no visibility to change'));
    return this.acks.changeVisibility(this.deliveryTag, visibilityTimeoutMs);
  }

  /** @internal The channel batcher, for transactions (which must ack on the same channel). */
  get channelAcks(): ChannelAcks | null {
    return this.acks;
  }
}

/** An entry read from a stream partition. */
export class StreamEntry extends IncomingMessage {
  /** @internal */
  constructor(
    source: Uint8Array,
    layout: readonly number[],
    readonly partition: number,
    readonly offset: number,
    /** When the stream stored it (ms since the epoch). */
    readonly timestampMs: number,
  ) {
    super(source, layout);
  }
}
