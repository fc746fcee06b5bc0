import type { HeaderTable } from '../routing/header-value.js';

/**
 * Message properties every protocol maps onto (AMQP basic properties, MQTT 5
 * properties, Kafka record fields, SQS attributes). All optional; absent
 * means "not set", which protocols keep distinct from an empty value.
 */
export interface MessageProperties {
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly messageId?: string;
  readonly correlationId?: string;
  readonly replyTo?: string;
  /** Producer-set timestamp, milliseconds since the epoch. */
  readonly timestampMs?: number;
  /** Per-message time to live in milliseconds (AMQP `expiration`). */
  readonly expirationMs?: number;
  /** 0–255; queues with `maxPriority` use it, others ignore it. */
  readonly priority?: number;
  readonly type?: string;
  readonly userId?: string;
  readonly appId?: string;
  /** FIFO message group (SQS MessageGroupId, JMS/AMQP x-group-id). */
  readonly groupId?: string;
  /** Delay before the message becomes ready, in milliseconds. */
  readonly delayMs?: number;
  /**
   * The record key of a stream message (Kafka's record key): keyed messages of
   * a stream go to the partition the key hashes to, and compaction keeps the
   * latest message per key. Queues carry it without using it.
   */
  readonly key?: Uint8Array;
}

/** A message as published: where it goes, what it carries. */
export interface Message {
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly headers: HeaderTable;
  readonly body: Uint8Array;
  /** Persistent messages are written durably in durable queues; transient ones never survive a restart. */
  readonly persistent: boolean;
  /**
   * True when the publisher did not say (an AMQP publish without delivery-mode):
   * `persistent` is then false, and protocols that can leave it unsaid on
   * delivery do, as RabbitMQ passes the absence through.
   */
  readonly persistenceImplicit?: boolean;
  /**
   * True when the publisher gave a headers table with nothing in it (amqplib always sends one):
   * protocols that can deliver an empty table do, as RabbitMQ passes it through. Absent when the
   * publisher gave none, or when `headers` has entries.
   */
  readonly emptyHeadersTable?: boolean;
  /**
   * The headers as an AMQP 0-9-1 field table, encoded with the types the publisher gave them
   * (the table's u32 length included): AMQP deliveries take each header's value type from it (a long stays a long, a
   * timestamp a timestamp, a decimal exact) while its value is still the one in `headers`.
   * Opaque to the core, which routes and matches on `headers`; absent for other publishers.
   */
  readonly amqpHeaderTable?: Uint8Array;
  /**
   * Routing keys the publisher named privately (RabbitMQ's BCC header, which is not delivered):
   * the publish routes by them, and a dead-lettering by the original keys routes by them again,
   * as RabbitMQ does. Never delivered, never in x-death; stored with the message (record header
   * "b", see message-codec.ts). Absent when there are none.
   */
  readonly bccRoutingKeys?: readonly string[];
}

/** A message as a queue holds it: the published message plus where it was published. */
export interface StoredMessage extends Message {
  /** The exchange it was published to ("" for the default exchange). */
  readonly exchange: string;
  /** Broker time of arrival in the queue, milliseconds since the epoch. */
  readonly arrivedAtMs: number;
  /**
   * Its envelope (message-codec.ts) as the publisher encoded it, when it came
   * encoded (a native protocol publish): records and deliveries reuse these
   * bytes instead of encoding them again. Set only by VirtualHost.publish,
   * from its `envelope` option; a message derived from this one with other
   * fields must not carry it over.
   */
  readonly envelope?: Uint8Array;
}

/**
 * `message` as stored, published through `exchange` at `arrivedAtMs` (with
 * `envelope`, the publisher's encoding, when it came encoded). Built
 * field by field: on Node 20 an object spread followed by more properties
 * (`{ ...message, exchange }`) takes V8's slow path, about 1.5 µs a message.
 */
export function storedMessage(
  message: Message & { readonly envelope?: Uint8Array },
  exchange: string,
  arrivedAtMs: number,
  envelope: Uint8Array | undefined = message.envelope,
): StoredMessage {
  const stored: { -readonly [K in keyof StoredMessage]: StoredMessage[K] } = {
    routingKey: message.routingKey,
    properties: message.properties,
    headers: message.headers,
    body: message.body,
    persistent: message.persistent,
    exchange,
    arrivedAtMs,
  };
  // Optional fields stay absent unless set; `persistenceImplicit: false` means the same as absent.
  if (message.persistenceImplicit === true) stored.persistenceImplicit = true;
  if (message.emptyHeadersTable === true) stored.emptyHeadersTable = true;
  if (message.amqpHeaderTable !== undefined) stored.amqpHeaderTable = message.amqpHeaderTable;
  if (message.bccRoutingKeys !== undefined && message.bccRoutingKeys.length > 0) stored.bccRoutingKeys = message.bccRoutingKeys;
  if (envelope !== undefined) stored.envelope = envelope;
  return stored;
}
