import { encodeEnvelope } from '../core/message/message-codec.js';
import type { MessageProperties as CoreMessageProperties } from '../core/message/message.js';
import type { HeaderTable } from '../core/routing/header-value.js';
import type { WireMessage } from '../protocols/native/codec/index.js';
import { FerryClientError } from './ferry-client-error.js';

export type { HeaderTable, HeaderValue } from '../core/routing/header-value.js';

/**
 * Properties of a message, as every protocol maps them (AMQP basic
 * properties, MQTT 5 properties, Kafka record fields, SQS attributes): the
 * broker's own, except that a stream record `key` may also be given as a
 * string (sent as UTF-8). All optional; absent means "not set".
 */
export interface MessageProperties extends Omit<CoreMessageProperties, 'key'> {
  /** Record key of a stream message: keyed messages go to the partition the key hashes to; compaction keeps the latest per key. */
  readonly key?: string | Uint8Array;
}

/** A message to publish or append. */
export interface MessageInput {
  /** A string is sent as UTF-8. */
  readonly body: Uint8Array | string;
  /** Routing key (publish) or subject; defaults to the publisher's. */
  readonly routingKey?: string;
  /** Typed header table (strings, numbers, bigints, booleans, null, bytes, arrays, tables). */
  readonly headers?: HeaderTable;
  readonly properties?: MessageProperties;
  /** Default true: stored durably in durable queues and streams, so it survives a restart. */
  readonly persistent?: boolean;
}

/** What `send` and friends accept: a message, or just its body. */
export type MessageLike = MessageInput | string | Uint8Array;

const encoder = new TextEncoder();
const CACHE_ENTRIES_MAX = 4096;
const EMPTY_HEADERS: HeaderTable = Object.freeze({});
const EMPTY_PROPERTIES: CoreMessageProperties = Object.freeze({});
/** Envelopes of messages with no properties and no headers, by exchange: persistent ones, then transient ones. */
const plainEnvelopes = [new Map<string, Uint8Array>(), new Map<string, Uint8Array>()] as const;
/** UTF-8 bytes of recent routing keys, so a hot key is encoded once. */
const routingKeys = new Map<string, Uint8Array>();

/** The UTF-8 bytes of a routing key, cached (bounded). */
export function routingKeyBytes(routingKey: string): Uint8Array {
  let bytes = routingKeys.get(routingKey);
  if (bytes === undefined) {
    bytes = encoder.encode(routingKey);
    if (routingKeys.size >= CACHE_ENTRIES_MAX) routingKeys.clear();
    routingKeys.set(routingKey, bytes);
  }
  return bytes;
}

function isEmpty(object: object): boolean {
  for (const _key in object) return false;
  return true;
}

function toMessageInput(message: MessageLike): MessageInput {
  if (typeof message === 'string' || message instanceof Uint8Array) return { body: message };
  if (message === null || typeof message !== 'object') throw new FerryClientError('INVALID_ARGUMENT', `a message must be an object, a string or a Uint8Array, got ${String(message)}`);
  return message;
}

function coreProperties(properties: MessageProperties | undefined, messageId: string | undefined): CoreMessageProperties {
  if (properties === undefined || isEmpty(properties)) return messageId === undefined ? EMPTY_PROPERTIES : { messageId };
  const key = properties.key;
  if (typeof key === 'string' || (messageId !== undefined && properties.messageId === undefined)) {
    return {
      ...properties,
      ...(typeof key === 'string' ? { key: encoder.encode(key) } : {}),
      ...(messageId !== undefined && properties.messageId === undefined ? { messageId } : {}),
    } as CoreMessageProperties;
  }
  return properties as CoreMessageProperties;
}

/**
 * Encodes a message for the wire: routing key bytes, the storage envelope
 * (core/message/message-codec `encodeEnvelope`: exchange, persistence,
 * properties, headers) and the body. Plain messages (no properties, no
 * headers) share one cached envelope. `messageId` is set when the message
 * has none (idempotent queue publishing).
 */
export function encodeMessageInput(message: MessageLike, exchange: string, routingKeyDefault: string, messageId?: string): WireMessage {
  // A bare body (the common case of a batch): a persistent plain message.
  if (message instanceof Uint8Array && messageId === undefined) return { routingKey: routingKeyBytes(routingKeyDefault), envelope: plainEnvelope(exchange, true), body: message };
  const input = toMessageInput(message);
  const body = typeof input.body === 'string' ? encoder.encode(input.body) : input.body;
  if (!(body instanceof Uint8Array)) throw new FerryClientError('INVALID_ARGUMENT', 'a message body must be a string or a Uint8Array');
  const persistent = input.persistent ?? true;
  const headers = input.headers ?? EMPTY_HEADERS;
  const properties = coreProperties(input.properties, messageId);
  const envelope =
    properties === EMPTY_PROPERTIES && isEmpty(headers) ? plainEnvelope(exchange, persistent) : encodeEnvelope({ exchange, properties, headers, persistent });
  return { routingKey: routingKeyBytes(input.routingKey ?? routingKeyDefault), envelope, body };
}

/** The envelope of a message with no properties and no headers, cached (bounded). */
function plainEnvelope(exchange: string, persistent: boolean): Uint8Array {
  const cache = plainEnvelopes[persistent ? 0 : 1];
  let envelope = cache.get(exchange);
  if (envelope === undefined) {
    envelope = encodeEnvelope({ exchange, properties: EMPTY_PROPERTIES, headers: EMPTY_HEADERS, persistent });
    if (cache.size < CACHE_ENTRIES_MAX) cache.set(exchange, envelope);
  }
  return envelope;
}

/** The record key of a message (for partitioning), or undefined. */
export function messageKey(message: MessageLike): Uint8Array | undefined {
  if (typeof message === 'string' || message instanceof Uint8Array) return undefined;
  const key = message.properties?.key;
  return typeof key === 'string' ? encoder.encode(key) : key;
}
