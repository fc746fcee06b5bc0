import { FerryError } from '../../lib/ferry-error.js';
import type { MessageProperties } from '../../core/message/message.js';
import type { HeaderTable } from '../../core/routing/header-value.js';
import { fieldTableToHeaderTable, headerTableToFieldTable } from './codec/field-table.js';
import type { BasicProperties, BasicPropertiesInput } from './codec/method-codec.js';

/** What an AMQP content header means to the core. */
export interface MappedProperties {
  readonly properties: MessageProperties;
  readonly headers: HeaderTable;
  readonly persistent: boolean;
  /** No delivery-mode was given (kept, so deliveries leave it absent too). */
  readonly persistenceImplicit: boolean;
}

/**
 * Maps basic properties onto Ferry's message model: delivery-mode 2 is
 * persistent, `expiration` (milliseconds, as a decimal string) is the
 * per-message TTL, `timestamp` seconds become milliseconds, headers become a
 * neutral header table; RabbitMQ's `x-delay` header is the delivery delay.
 * An invalid expiration is PRECONDITION_FAILED, as RabbitMQ answers.
 */
export function fromBasicProperties(basic: BasicProperties): MappedProperties {
  if (onlyDeliveryMode(basic)) {
    // Most publishes carry no property but the delivery mode (and perhaps an empty headers table).
    return basic.deliveryMode === undefined ? IMPLICIT_ONLY_MAPPED : basic.deliveryMode === 2 ? PERSISTENT_ONLY_MAPPED : TRANSIENT_ONLY_MAPPED;
  }
  const headers = basic.headers ? fieldTableToHeaderTable(basic.headers) : {};
  const properties: Record<string, string | number> = {};
  if (basic.contentType !== undefined) properties['contentType'] = basic.contentType;
  if (basic.contentEncoding !== undefined) properties['contentEncoding'] = basic.contentEncoding;
  if (basic.messageId !== undefined) properties['messageId'] = basic.messageId;
  if (basic.correlationId !== undefined) properties['correlationId'] = basic.correlationId;
  if (basic.replyTo !== undefined) properties['replyTo'] = basic.replyTo;
  if (basic.type !== undefined) properties['type'] = basic.type;
  if (basic.userId !== undefined) properties['userId'] = basic.userId;
  if (basic.appId !== undefined) properties['appId'] = basic.appId;
  if (basic.priority !== undefined) properties['priority'] = basic.priority;
  if (basic.timestamp !== undefined) properties['timestampMs'] = Number(basic.timestamp) * 1000;
  if (basic.expiration !== undefined) {
    if (!/^[0-9]{1,15}$/.test(basic.expiration)) {
      throw new FerryError('PRECONDITION_FAILED', `invalid expiration '${basic.expiration}': a number of milliseconds is expected`);
    }
    properties['expirationMs'] = Number(basic.expiration);
  }
  const delay = headers['x-delay'];
  if (typeof delay === 'number' && delay > 0) properties['delayMs'] = delay;
  const group = headers['x-group-id'];
  if (typeof group === 'string') properties['groupId'] = group;
  return { properties: properties as MessageProperties, headers, persistent: basic.deliveryMode === 2, persistenceImplicit: basic.deliveryMode === undefined };
}

/**
 * Maps a stored message back onto basic properties for basic.deliver /
 * basic.get-ok / basic.return; delivery-mode stays absent when the publisher
 * gave none (`persistenceImplicit`), as RabbitMQ passes it through.
 */
export function toBasicProperties(properties: MessageProperties, headers: HeaderTable, persistent: boolean, persistenceImplicit = false): BasicPropertiesInput {
  // Most messages carry no property but the delivery mode: share one object for each case.
  if (isEmpty(properties) && isEmpty(headers)) return persistenceImplicit ? NO_PROPERTIES : persistent ? PERSISTENT_ONLY : TRANSIENT_ONLY;
  const basic: Record<string, unknown> = persistenceImplicit ? {} : { deliveryMode: persistent ? 2 : 1 };
  if (properties.contentType !== undefined) basic['contentType'] = properties.contentType;
  if (properties.contentEncoding !== undefined) basic['contentEncoding'] = properties.contentEncoding;
  if (properties.messageId !== undefined) basic['messageId'] = properties.messageId;
  if (properties.correlationId !== undefined) basic['correlationId'] = properties.correlationId;
  if (properties.replyTo !== undefined) basic['replyTo'] = properties.replyTo;
  if (properties.type !== undefined) basic['type'] = properties.type;
  if (properties.userId !== undefined) basic['userId'] = properties.userId;
  if (properties.appId !== undefined) basic['appId'] = properties.appId;
  if (properties.priority !== undefined) basic['priority'] = properties.priority;
  if (properties.timestampMs !== undefined) basic['timestamp'] = Math.floor(properties.timestampMs / 1000);
  if (properties.expirationMs !== undefined) basic['expiration'] = String(properties.expirationMs);
  for (const _key in headers) {
    basic['headers'] = headerTableToFieldTable(headers);
    break;
  }
  return basic as BasicPropertiesInput;
}

const NO_PROPERTIES: BasicPropertiesInput = Object.freeze({});
const PERSISTENT_ONLY: BasicPropertiesInput = Object.freeze({ deliveryMode: 2 });
const TRANSIENT_ONLY: BasicPropertiesInput = Object.freeze({ deliveryMode: 1 });

function isEmpty(object: object): boolean {
  for (const _key in object) return false;
  return true;
}

/** True when `basic` sets no property but perhaps the delivery mode and an empty headers table. */
function onlyDeliveryMode(basic: BasicProperties): boolean {
  for (const key in basic) {
    const value = (basic as Readonly<Record<string, unknown>>)[key];
    if (value === undefined || key === 'deliveryMode') continue;
    if (key === 'headers' && (value as ReadonlyMap<string, unknown>).size === 0) continue;
    return false;
  }
  return true;
}

// Shared by every message without properties and headers: frozen, as messages are never changed in place.
const EMPTY_PROPERTIES: MessageProperties = Object.freeze({});
const EMPTY_HEADERS: HeaderTable = Object.freeze({});
const IMPLICIT_ONLY_MAPPED: MappedProperties = Object.freeze({ properties: EMPTY_PROPERTIES, headers: EMPTY_HEADERS, persistent: false, persistenceImplicit: true });
const PERSISTENT_ONLY_MAPPED: MappedProperties = Object.freeze({ properties: EMPTY_PROPERTIES, headers: EMPTY_HEADERS, persistent: true, persistenceImplicit: false });
const TRANSIENT_ONLY_MAPPED: MappedProperties = Object.freeze({ properties: EMPTY_PROPERTIES, headers: EMPTY_HEADERS, persistent: false, persistenceImplicit: false });
