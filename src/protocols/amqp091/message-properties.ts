import { FerryError } from '../../lib/ferry-error.js';
import type { Message, MessageProperties } from '../../core/message/message.js';
import { headerValueEquals, type HeaderTable, type HeaderValue } from '../../core/routing/header-value.js';
import {
  decodeFieldTable,
  encodeFieldTable,
  fieldTableToHeaderTable,
  fieldValueToHeaderValue,
  headerTableToFieldTable,
  headerValueToFieldValue,
  type FieldTable,
  type FieldValue,
} from './codec/field-table.js';
import type { BasicProperties, BasicPropertiesInput } from './codec/method-codec.js';

/** What an AMQP content header means to the core. */
export interface MappedProperties {
  readonly properties: MessageProperties;
  readonly headers: HeaderTable;
  readonly persistent: boolean;
  /** No delivery-mode was given (kept, so deliveries leave it absent too). */
  readonly persistenceImplicit: boolean;
  /** A headers table with nothing in it was given (kept, so deliveries carry one too). */
  readonly emptyHeadersTable: boolean;
  /**
   * The routing keys of the CC and BCC headers (RabbitMQ's sender-selected distribution):
   * the message is routed by these too. `headers` no longer holds BCC, as RabbitMQ removes it.
   */
  readonly extraRoutingKeys?: readonly string[];
  /** The BCC header's routing keys (see Message.bccRoutingKeys), when it named any. */
  readonly bccRoutingKeys?: readonly string[];
  /** The headers as the publisher typed them (see Message.amqpHeaderTable), when there are any. */
  readonly amqpHeaderTable?: Uint8Array;
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
    const mapped = basic.headers === undefined ? WITHOUT_HEADERS_MAPPED : WITH_EMPTY_HEADERS_MAPPED;
    return basic.deliveryMode === undefined ? mapped.implicit : basic.deliveryMode === 2 ? mapped.persistent : mapped.transient;
  }
  let headers = basic.headers ? fieldTableToHeaderTable(basic.headers) : {};
  let typed = basic.headers;
  const extraRoutingKeys = senderSelectedKeys(headers);
  let bccRoutingKeys: string[] | undefined;
  if (extraRoutingKeys !== undefined && headers['BCC'] !== undefined) {
    const keys = (headers['BCC'] as readonly HeaderValue[]).filter((key): key is string => typeof key === 'string');
    if (keys.length > 0) bccRoutingKeys = keys;
    const { BCC: _hidden, ...rest } = headers;
    headers = rest;
    const withoutBcc = new Map(typed);
    withoutBcc.delete('BCC');
    typed = withoutBcc;
  }
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
  if (basic.expiration !== undefined) properties['expirationMs'] = expirationMs(basic.expiration);
  const delay = headers['x-delay'];
  if (typeof delay === 'number' && delay > 0) properties['delayMs'] = delay;
  const group = headers['x-group-id'];
  if (typeof group === 'string') properties['groupId'] = group;
  return {
    properties: properties as MessageProperties,
    headers,
    persistent: basic.deliveryMode === 2,
    persistenceImplicit: basic.deliveryMode === undefined,
    emptyHeadersTable: basic.headers !== undefined && isEmpty(headers),
    extraRoutingKeys,
    bccRoutingKeys,
    amqpHeaderTable: typed !== undefined && keepsTypes(typed) ? encodeFieldTable(typed) : undefined,
  };
}

/** True when some header of `table` would come back with another type from the neutral headers. */
function keepsTypes(table: FieldTable): boolean {
  for (const field of table.values()) if (typeWouldChange(field)) return true;
  return false;
}

/**
 * The routing keys of the CC and BCC headers, which RabbitMQ routes by besides the routing key
 * (arrays of strings; other members are skipped); undefined without either header. Any other
 * type is PRECONDITION_FAILED, as RabbitMQ refuses it.
 */
function senderSelectedKeys(headers: HeaderTable): string[] | undefined {
  const cc = headers['CC'];
  const bcc = headers['BCC'];
  if (cc === undefined && bcc === undefined) return undefined;
  const keys: string[] = [];
  for (const [name, value] of [['CC', cc], ['BCC', bcc]] as const) {
    if (value === undefined) continue;
    if (!Array.isArray(value)) throw new FerryError('PRECONDITION_FAILED', `invalid ${name} header: an array of routing keys is expected`);
    for (const key of value as readonly HeaderValue[]) if (typeof key === 'string') keys.push(key);
  }
  return keys;
}

/** What of a message its basic properties carry. */
export type PropertiesOfMessage = Pick<Message, 'properties' | 'headers' | 'persistent' | 'persistenceImplicit' | 'emptyHeadersTable' | 'amqpHeaderTable'>;

/**
 * Maps a stored message back onto basic properties for basic.deliver /
 * basic.get-ok / basic.return, with `headers` in place of its own when given;
 * delivery-mode stays absent when the publisher gave none (`persistenceImplicit`),
 * and an empty headers table is there when the publisher gave one, as RabbitMQ
 * passes both through.
 */
export function toBasicProperties(message: PropertiesOfMessage, headers: HeaderTable = message.headers): BasicPropertiesInput {
  const { properties, persistent } = message;
  const persistenceImplicit = message.persistenceImplicit === true;
  // Most messages carry no property but the delivery mode: share one object for each case.
  if (isEmpty(properties) && isEmpty(headers)) {
    const shared = message.emptyHeadersTable === true ? WITH_EMPTY_HEADERS : WITHOUT_HEADERS;
    return persistenceImplicit ? shared.implicit : persistent ? shared.persistent : shared.transient;
  }
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
  if (!isEmpty(headers)) basic['headers'] = message.amqpHeaderTable !== undefined ? typedFieldTable(headers, message.amqpHeaderTable) : fieldTableOf(headers);
  else if (message.emptyHeadersTable === true) basic['headers'] = EMPTY_FIELD_TABLE;
  return basic as BasicPropertiesInput;
}

/**
 * Headers as a field table, values typed as `headerTableToFieldTable` does, except the
 * entries of `x-death`, typed as RabbitMQ writes them: `count` a long long and `time` a
 * timestamp, whatever their size.
 */
function fieldTableOf(headers: HeaderTable): FieldTable {
  const table = headerTableToFieldTable(headers);
  const deaths = headers['x-death'];
  if (!Array.isArray(deaths)) return table;
  const typed = new Map(table);
  typed.set('x-death', { type: 'array', value: deaths.map((death: HeaderValue): FieldValue => (isTable(death) ? { type: 'table', value: deathFieldTable(death) } : headerValueToFieldValue(death))) });
  return typed;
}

function deathFieldTable(death: HeaderTable): FieldTable {
  const table = new Map(headerTableToFieldTable(death));
  const count = death['count'];
  const time = death['time'];
  if (typeof count === 'number' && Number.isInteger(count)) table.set('count', { type: 'int64', value: BigInt(count) });
  if (typeof time === 'number' && Number.isInteger(time) && time >= 0) table.set('time', { type: 'timestamp', value: BigInt(time) });
  return table;
}

function isTable(value: HeaderValue): value is HeaderTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * `headers` as a field table whose values keep the types of `amqpHeaderTable` (the publisher's)
 * where the value is still the one published; headers added or changed since (x-death, for one)
 * are typed as {@link fieldTableOf} types them, and headers removed since are left out.
 */
function typedFieldTable(headers: HeaderTable, amqpHeaderTable: Uint8Array): FieldTable {
  const cached = typedTables.get(headers);
  if (cached !== undefined && cached.bytes === amqpHeaderTable) return cached.table;
  const table = retypedFieldTable(headers, amqpHeaderTable);
  typedTables.set(headers, { bytes: amqpHeaderTable, table });
  return table;
}

/** Typed tables by the headers object they were made for: a message delivered many times is typed once. */
const typedTables = new WeakMap<HeaderTable, { readonly bytes: Uint8Array; readonly table: FieldTable }>();

function retypedFieldTable(headers: HeaderTable, amqpHeaderTable: Uint8Array): FieldTable {
  const published = publishedTable(amqpHeaderTable);
  // Not a table this code wrote (a native publisher may send any bytes): typed by value.
  if (published === null) return fieldTableOf(headers);
  const names = Object.keys(headers);
  const kept = names.map((name) => {
    const field = published.get(name);
    return field !== undefined && headerValueEquals(fieldValueToHeaderValue(field), headers[name]!) ? field : undefined;
  });
  if (kept.every((field) => field !== undefined) && names.length === published.size) return published;
  const changed: Record<string, HeaderValue> = Object.create(null) as Record<string, HeaderValue>;
  names.forEach((name, index) => {
    if (kept[index] === undefined) changed[name] = headers[name]!;
  });
  const retyped = fieldTableOf(changed);
  return new Map(names.map((name, index) => [name, kept[index] ?? retyped.get(name)!]));
}

/** The publisher's typed table, or null when the bytes are not a field table. */
function publishedTable(bytes: Uint8Array): FieldTable | null {
  try {
    return decodeFieldTable(bytes);
  } catch {
    return null;
  }
}

/**
 * True when the neutral headers would not give `field` back as it is (a long holding a small
 * number, a byte, a float, a timestamp, a decimal, a short string, bytes that are UTF-8...):
 * only then is the publisher's table worth keeping with the message.
 */
function typeWouldChange(field: FieldValue): boolean {
  switch (field.type) {
    case 'array':
      return field.value.some(typeWouldChange);
    case 'table':
      for (const inner of field.value.values()) if (typeWouldChange(inner)) return true;
      return false;
    case 'void':
      return false;
    default:
      return headerValueToFieldValue(fieldValueToHeaderValue(field)).type !== field.type;
  }
}

const EMPTY_FIELD_TABLE: FieldTable = new Map();

/** The properties of messages without any but the delivery mode, by persistence: shared, frozen. */
interface SharedProperties {
  readonly implicit: BasicPropertiesInput;
  readonly persistent: BasicPropertiesInput;
  readonly transient: BasicPropertiesInput;
}

const WITHOUT_HEADERS: SharedProperties = Object.freeze({
  implicit: Object.freeze({}),
  persistent: Object.freeze({ deliveryMode: 2 }),
  transient: Object.freeze({ deliveryMode: 1 }),
});
const WITH_EMPTY_HEADERS: SharedProperties = Object.freeze({
  implicit: Object.freeze({ headers: EMPTY_FIELD_TABLE }),
  persistent: Object.freeze({ deliveryMode: 2, headers: EMPTY_FIELD_TABLE }),
  transient: Object.freeze({ deliveryMode: 1, headers: EMPTY_FIELD_TABLE }),
});

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
function onlyDeliveryModeMapped(emptyHeadersTable: boolean): { readonly implicit: MappedProperties; readonly persistent: MappedProperties; readonly transient: MappedProperties } {
  const mapped = (persistent: boolean, persistenceImplicit: boolean): MappedProperties =>
    Object.freeze({ properties: EMPTY_PROPERTIES, headers: EMPTY_HEADERS, persistent, persistenceImplicit, emptyHeadersTable });
  return Object.freeze({ implicit: mapped(false, true), persistent: mapped(true, false), transient: mapped(false, false) });
}
const WITHOUT_HEADERS_MAPPED = onlyDeliveryModeMapped(false);
const WITH_EMPTY_HEADERS_MAPPED = onlyDeliveryModeMapped(true);

/**
 * The `expiration` property in milliseconds, read as RabbitMQ reads it (Erlang's
 * string:to_integer: an optional sign, then digits): 406 with RabbitMQ's reason
 * (`no_integer`, `{value_negative,-1}`, `{leftover_string,".5"}`) otherwise.
 */
export function expirationMs(expiration: string): number {
  const match = /^[+-]?[0-9]+/.exec(expiration);
  const refuse = (reason: string) => new FerryError('PRECONDITION_FAILED', `invalid expiration '${expiration}': ${reason}`);
  if (match === null) throw refuse('no_integer');
  const rest = expiration.slice(match[0].length);
  if (rest !== '') throw refuse(`{leftover_string,${JSON.stringify(rest)}}`);
  const value = Number(match[0]);
  if (value < 0) throw refuse(`{value_negative,${value}}`);
  // Beyond 2^53 ms (285,000 years) every value means the same: never.
  return Math.min(value, Number.MAX_SAFE_INTEGER);
}
