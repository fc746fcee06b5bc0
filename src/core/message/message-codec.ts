import { ByteReader } from '../../lib/byte-reader.js';
import { ByteWriter } from '../../lib/byte-writer.js';
import { utf8Length, writeUtf8WithLength } from '../../lib/utf8.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { RecordBatchBuilder, RecordHeader, RecordInput, StoredRecord } from '../ports.js';
import { readHeaderTable, writeHeaderTable } from './header-codec.js';
import type { MessageProperties, StoredMessage } from './message.js';
import type { HeaderTable } from '../routing/header-value.js';

/**
 * How a message is stored as a log record:
 * - key: the routing key (UTF-8); value: the body, untouched;
 * - timestamp: the broker's arrival time;
 * - one record header named "m": the envelope below;
 * - with BCC routing keys (Message.bccRoutingKeys), a second record header named "b":
 *   u32 count | strings. Never part of the envelope, so deliveries (which carry the
 *   envelope) never show them.
 *
 *   envelope: u8 version (1) | u8 flags (bit 0 persistent, bit 1 persistence
 *             implicit, bit 2 empty headers table given, bit 3 AMQP header
 *             table follows) | string exchange
 *             | u16 property mask | properties in mask-bit order | header table
 *             [| bytes AMQP header table, with flag bit 3]
 *
 * Strings are u32 length + UTF-8, byte properties u32 length + bytes;
 * numeric properties are f64.
 */
const ENVELOPE_VERSION = 1;
const ENVELOPE_HEADER = 'm';
const BCC_HEADER = 'b';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type PropertyKind = 'string' | 'number' | 'bytes';
const PROPERTY_FIELDS: ReadonlyArray<readonly [keyof MessageProperties, PropertyKind]> = [
  ['contentType', 'string'],
  ['contentEncoding', 'string'],
  ['messageId', 'string'],
  ['correlationId', 'string'],
  ['replyTo', 'string'],
  ['timestampMs', 'number'],
  ['expirationMs', 'number'],
  ['priority', 'number'],
  ['type', 'string'],
  ['userId', 'string'],
  ['appId', 'string'],
  ['groupId', 'string'],
  ['delayMs', 'number'],
  ['key', 'bytes'],
];

/** Envelopes of messages with no properties and no headers, by exchange and persistence: the common case. */
const plainEnvelopes = new Map<string, Uint8Array>();
/** UTF-8 bytes of recent routing keys (bounded), so a hot key is encoded once. */
const routingKeyBytes = new Map<string, Uint8Array>();
const ROUTING_KEY_CACHE_MAX = 4096;

/**
 * Copied into an array made with `new Uint8Array(length)`: up to 64 bytes (V8's
 * typed_array_max_size_in_heap), V8 keeps its bytes inside the array object, where
 * TextEncoder's result has a separate buffer and off-heap memory: one or two cache lines to
 * read instead of three or four when many keys are used in turn (stream batches, native
 * delivery frames; a queue's own records carry the key as text, see encodeMessage).
 */
export function encodeRoutingKey(routingKey: string): Uint8Array {
  let bytes = routingKeyBytes.get(routingKey);
  if (bytes === undefined) {
    const encoded = encoder.encode(routingKey);
    bytes = new Uint8Array(encoded.byteLength);
    bytes.set(encoded);
    if (routingKeyBytes.size >= ROUTING_KEY_CACHE_MAX) routingKeyBytes.clear();
    routingKeyBytes.set(routingKey, bytes);
  }
  return bytes;
}

/** The envelope's flag byte: bit 0 persistent, bit 1 persistence implicit, bit 2 an empty headers table given, bit 3 an AMQP header table follows. */
function flagsOf(message: EnvelopeFields): number {
  return (
    (message.persistent ? 1 : 0) |
    (message.persistenceImplicit === true ? 2 : 0) |
    (message.emptyHeadersTable === true ? 4 : 0) |
    (message.amqpHeaderTable !== undefined ? 8 : 0)
  );
}

function isEmpty(object: object): boolean {
  for (const _key in object) return false;
  return true;
}

/** The envelope bytes of a stored message: the publisher's, a cached one for a plain message, or encoded now. */
function envelopeOf(message: StoredMessage): Uint8Array {
  let envelope = message.envelope;
  if (envelope !== undefined) {
    // Encoded by the publisher already (see StoredMessage.envelope).
  } else if (isEmpty(message.properties) && isEmpty(message.headers)) {
    const cacheKey = `${flagsOf(message)}${message.exchange}`;
    envelope = plainEnvelopes.get(cacheKey);
    if (envelope === undefined) {
      envelope = encodeEnvelope(message);
      if (plainEnvelopes.size < ROUTING_KEY_CACHE_MAX) plainEnvelopes.set(cacheKey, envelope);
    }
  } else {
    envelope = encodeEnvelope(message);
  }
  return envelope;
}

/** Encodes a message as the record a queue or stream log stores. */
export function encodeMessage(message: StoredMessage): RecordInput {
  const envelope = { name: ENVELOPE_HEADER, value: envelopeOf(message) };
  return {
    timestampMs: message.arrivedAtMs,
    // As text: written into the log's buffer from the string, which the routing just read.
    keyText: message.routingKey,
    value: message.body,
    headers: message.bccRoutingKeys === undefined ? [envelope] : [envelope, { name: BCC_HEADER, value: encodeStrings(message.bccRoutingKeys) }],
  };
}

/** u32 count, then each string as u32 length + UTF-8 (the record header "b"). */
function encodeStrings(values: readonly string[]): Uint8Array {
  const writer = new ByteWriter();
  writer.u32(values.length);
  for (const value of values) writer.string(value);
  return writer.finish();
}

/** Reads what {@link encodeStrings} wrote; CORRUPT_DATA naming `what` when it is not that. */
function decodeStrings(bytes: Uint8Array, what: string): string[] {
  const reader = new ByteReader(bytes);
  const values: string[] = [];
  try {
    const count = reader.u32();
    for (let index = 0; index < count; index++) values.push(reader.string());
  } catch (error) {
    throw new FerryError('CORRUPT_DATA', `${what} are truncated`, { cause: error });
  }
  if (reader.remaining() !== 0) throw new FerryError('CORRUPT_DATA', `${what} are followed by ${reader.remaining()} stray bytes`);
  return values;
}

/**
 * Writes `messages` into `batch` as the records {@link encodeMessage} makes of them, without
 * an object per record: a message whose routing key and envelope are the previous one's
 * (the same cached bytes) repeats that record's key and header. With `firstExtra`, the first
 * record carries that header after its envelope (a transaction's intent entry).
 */
export function writeMessageRecords(batch: RecordBatchBuilder, messages: readonly StoredMessage[], firstExtra?: RecordHeader): void {
  let lastKey: Uint8Array | null = null;
  let lastEnvelope: Uint8Array | null = null;
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!;
    const key = encodeRoutingKey(message.routingKey);
    const envelope = envelopeOf(message);
    const body = message.body;
    const bcc = message.bccRoutingKeys;
    if (key === lastKey && envelope === lastEnvelope && bcc === undefined) {
      batch.recordAgain(message.arrivedAtMs, body, 0, body.byteLength);
      continue;
    }
    const extra = index === 0 ? firstExtra : undefined;
    batch.recordStart(message.arrivedAtMs, key, 0, key.byteLength, 1 + (bcc === undefined ? 0 : 1) + (extra === undefined ? 0 : 1));
    batch.recordHeader(ENVELOPE_HEADER, envelope, 0, envelope.byteLength);
    if (bcc !== undefined) {
      const bytes = encodeStrings(bcc);
      batch.recordHeader(BCC_HEADER, bytes, 0, bytes.byteLength);
    }
    if (extra === undefined && bcc === undefined) {
      lastKey = key;
      lastEnvelope = envelope;
    } else {
      // The next record must not repeat this one's headers.
      lastKey = null;
      lastEnvelope = null;
      if (extra !== undefined) batch.recordHeader(extra.name, extra.value, 0, extra.value.byteLength);
    }
    batch.recordEnd(body, 0, body.byteLength);
  }
}

/** The `fieldBytes` of `Log.newBatch` for {@link writeMessageRecords} of `messages`, assuming each repeats the first one's key and envelope (the batch grows when not). */
export function messageRecordFieldBytes(messages: readonly StoredMessage[]): number {
  if (messages.length === 0) return 0;
  const first = messages[0]!;
  const perRecord = encodeRoutingKey(first.routingKey).byteLength + ENVELOPE_HEADER.length + envelopeOf(first).byteLength;
  let bodies = 0;
  for (const message of messages) bodies += message.body.byteLength;
  return bodies + perRecord * messages.length;
}

/** The fields of a message its envelope carries (everything but routing key, body and arrival time). */
export type EnvelopeFields = Pick<StoredMessage, 'exchange' | 'properties' | 'headers' | 'persistent' | 'persistenceImplicit' | 'emptyHeadersTable' | 'amqpHeaderTable'>;

/**
 * Encodes a message's envelope (the record header "m" above). The native
 * protocol carries these same bytes on the wire, so a stream append stores
 * what the client sent without re-encoding it.
 */
export function encodeEnvelope(message: EnvelopeFields): Uint8Array {
  if (!isEmpty(message.headers) || message.amqpHeaderTable !== undefined) return encodeEnvelopeGeneral(message);
  // Hot path (no headers): size exactly, one allocation, integers and ASCII written by hand.
  const properties = message.properties;
  const mask = propertyMask(properties);
  let size = 1 + 1 + 4 + utf8Length(message.exchange) + 2 + 4;
  for (let bit = 0; mask >>> bit !== 0; bit++) {
    if ((mask & (1 << bit)) === 0) continue;
    const kind = PROPERTY_FIELDS[bit]![1];
    const value = propertyAt(properties, bit);
    size += kind === 'string' ? 4 + utf8Length(value as string) : kind === 'bytes' ? 4 + (value as Uint8Array).byteLength : 8;
  }
  const bytes = new Uint8Array(size);
  bytes[0] = ENVELOPE_VERSION;
  bytes[1] = flagsOf(message);
  let at = writeUtf8WithLength(bytes, 2, message.exchange);
  bytes[at] = mask & 0xff;
  bytes[at + 1] = mask >>> 8;
  at += 2;
  for (let bit = 0; mask >>> bit !== 0; bit++) {
    if ((mask & (1 << bit)) === 0) continue;
    const kind = PROPERTY_FIELDS[bit]![1];
    const value = propertyAt(properties, bit);
    if (kind === 'string') {
      at = writeUtf8WithLength(bytes, at, value as string);
    } else if (kind === 'bytes') {
      const raw = value as Uint8Array;
      writeU32(bytes, at, raw.byteLength);
      bytes.set(raw, at + 4);
      at += 4 + raw.byteLength;
    } else {
      new DataView(bytes.buffer, bytes.byteOffset + at, 8).setFloat64(0, value as number, true);
      at += 8;
    }
  }
  // An empty header table: its u32 count is the 4 zero bytes left at the end.
  return bytes;
}

/** The property mask of `properties` (bit i set when PROPERTY_FIELDS[i] is present); static reads, no keyed lookups. */
function propertyMask(p: MessageProperties): number {
  return (
    (p.contentType !== undefined ? 1 : 0) |
    (p.contentEncoding !== undefined ? 2 : 0) |
    (p.messageId !== undefined ? 4 : 0) |
    (p.correlationId !== undefined ? 8 : 0) |
    (p.replyTo !== undefined ? 16 : 0) |
    (p.timestampMs !== undefined ? 32 : 0) |
    (p.expirationMs !== undefined ? 64 : 0) |
    (p.priority !== undefined ? 128 : 0) |
    (p.type !== undefined ? 256 : 0) |
    (p.userId !== undefined ? 512 : 0) |
    (p.appId !== undefined ? 1024 : 0) |
    (p.groupId !== undefined ? 2048 : 0) |
    (p.delayMs !== undefined ? 4096 : 0) |
    (p.key !== undefined ? 8192 : 0)
  );
}

/** The property of mask bit `bit` (the order of PROPERTY_FIELDS). */
function propertyAt(p: MessageProperties, bit: number): string | number | Uint8Array | undefined {
  switch (bit) {
    case 0: return p.contentType;
    case 1: return p.contentEncoding;
    case 2: return p.messageId;
    case 3: return p.correlationId;
    case 4: return p.replyTo;
    case 5: return p.timestampMs;
    case 6: return p.expirationMs;
    case 7: return p.priority;
    case 8: return p.type;
    case 9: return p.userId;
    case 10: return p.appId;
    case 11: return p.groupId;
    case 12: return p.delayMs;
    case 13: return p.key;
    default: return undefined;
  }
}

/** Sets the property of mask bit `bit` on a properties object being built. */
function setPropertyAt(p: { -readonly [K in keyof MessageProperties]: MessageProperties[K] }, bit: number, value: string | number | Uint8Array): void {
  switch (bit) {
    case 0: p.contentType = value as string; return;
    case 1: p.contentEncoding = value as string; return;
    case 2: p.messageId = value as string; return;
    case 3: p.correlationId = value as string; return;
    case 4: p.replyTo = value as string; return;
    case 5: p.timestampMs = value as number; return;
    case 6: p.expirationMs = value as number; return;
    case 7: p.priority = value as number; return;
    case 8: p.type = value as string; return;
    case 9: p.userId = value as string; return;
    case 10: p.appId = value as string; return;
    case 11: p.groupId = value as string; return;
    case 12: p.delayMs = value as number; return;
    case 13: p.key = value as Uint8Array; return;
  }
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x100_0000;
}

/** Character codes of a short ASCII string being decoded (see readUtf8); reused, never shared across calls. */
const asciiCodes: number[] = [];

/**
 * Decodes `bytes[start, end)` as UTF-8: short ASCII by hand, the rest by TextDecoder.
 * The codes go through one reused array into a single String.fromCharCode call: adding
 * the characters one by one made a string per character, which (with a message id per
 * message, as idempotent publishers send) was most of what decoding an envelope allocated.
 */
function readUtf8(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length === 0) return '';
  if (length <= 32) {
    asciiCodes.length = length;
    for (let i = 0; i < length; i++) {
      const code = bytes[start + i]!;
      if (code > 0x7f) return decoder.decode(bytes.subarray(start, end));
      asciiCodes[i] = code;
    }
    return String.fromCharCode.apply(null, asciiCodes);
  }
  return decoder.decode(bytes.subarray(start, end));
}

function encodeEnvelopeGeneral(message: EnvelopeFields): Uint8Array {
  const writer = new ByteWriter();
  writer.u8(ENVELOPE_VERSION);
  writer.u8(flagsOf(message));
  writer.string(message.exchange);
  let mask = 0;
  PROPERTY_FIELDS.forEach(([name], bit) => {
    if (message.properties[name] !== undefined) mask |= 1 << bit;
  });
  writer.u16(mask);
  for (const [name, kind] of PROPERTY_FIELDS) {
    const value = message.properties[name];
    if (value === undefined) continue;
    if (kind === 'string') writer.string(value as string);
    else if (kind === 'bytes') writer.bytes(value as Uint8Array);
    else writer.f64(value as number);
  }
  writeHeaderTable(writer, message.headers);
  if (message.amqpHeaderTable !== undefined) writer.bytes(message.amqpHeaderTable);
  return writer.finish();
}

/** Decodes a stored record back into a message; CORRUPT_DATA when it is not a message record. */
export function decodeMessage(record: StoredRecord): StoredMessage {
  let envelope: Uint8Array | undefined;
  let bcc: Uint8Array | undefined;
  for (const header of record.headers) {
    if (header.name === ENVELOPE_HEADER) envelope ??= header.value;
    else if (header.name === BCC_HEADER) bcc ??= header.value;
  }
  if (envelope === undefined) throw new FerryError('CORRUPT_DATA', `record ${record.offset} carries no message envelope`);
  const fields = decodeEnvelope(envelope);
  const key = record.key;
  const message: StoredMessage = {
    exchange: fields.exchange,
    routingKey: key ? readUtf8(key, 0, key.byteLength) : '',
    properties: fields.properties,
    headers: fields.headers,
    body: record.value,
    persistent: fields.persistent,
    arrivedAtMs: record.timestampMs,
  };
  if (fields.persistenceImplicit === true) (message as { persistenceImplicit?: boolean }).persistenceImplicit = true;
  if (fields.emptyHeadersTable === true) (message as { emptyHeadersTable?: boolean }).emptyHeadersTable = true;
  if (fields.amqpHeaderTable !== undefined) (message as { amqpHeaderTable?: Uint8Array }).amqpHeaderTable = fields.amqpHeaderTable;
  if (bcc !== undefined) (message as { bccRoutingKeys?: readonly string[] }).bccRoutingKeys = decodeStrings(bcc, `record ${record.offset}: BCC routing keys`);
  return message;
}

const EMPTY_TABLE_BYTES = 4;
/** The headers of every decoded message that has none: frozen, as messages are never changed in place. */
const NO_HEADERS: HeaderTable = Object.freeze({});
/** Eight bytes to read a little-endian double through, so a decode allocates no DataView per number. */
const f64Scratch = new DataView(new ArrayBuffer(8));

/** The little-endian double at `at` (bounds checked by the caller). */
function readF64(bytes: Uint8Array, at: number): number {
  for (let index = 0; index < 8; index++) f64Scratch.setUint8(index, bytes[at + index]!);
  return f64Scratch.getFloat64(0, true);
}

/**
 * Decodes an envelope written by {@link encodeEnvelope}. Throws CORRUPT_DATA
 * when it is truncated or malformed, UNKNOWN_FORMAT_VERSION for another version.
 */
export function decodeEnvelope(bytes: Uint8Array): EnvelopeFields {
  const end = bytes.byteLength;
  if (end < 2 + 4 + 2 + EMPTY_TABLE_BYTES) throw new FerryError('CORRUPT_DATA', 'message envelope is truncated');
  const version = bytes[0]!;
  if (version !== ENVELOPE_VERSION) throw new FerryError('UNKNOWN_FORMAT_VERSION', `message envelope version ${version}`);
  const flags = bytes[1]!;
  const exchangeLength = readU32(bytes, 2);
  let at = 6 + exchangeLength;
  if (at + 2 > end) throw new FerryError('CORRUPT_DATA', 'message envelope is truncated');
  const exchange = readUtf8(bytes, 6, at);
  const mask = bytes[at]! | (bytes[at + 1]! << 8);
  at += 2;
  if (mask >>> PROPERTY_FIELDS.length !== 0) throw new FerryError('CORRUPT_DATA', `message envelope sets unknown property bits (mask ${mask})`);
  const properties: { -readonly [K in keyof MessageProperties]: MessageProperties[K] } = {};
  for (let bit = 0; mask >>> bit !== 0; bit++) {
    if ((mask & (1 << bit)) === 0) continue;
    const kind = PROPERTY_FIELDS[bit]![1];
    if (kind === 'number') {
      if (at + 8 > end) throw new FerryError('CORRUPT_DATA', 'message envelope is truncated');
      setPropertyAt(properties, bit, readF64(bytes, at));
      at += 8;
      continue;
    }
    if (at + 4 > end) throw new FerryError('CORRUPT_DATA', 'message envelope is truncated');
    const length = readU32(bytes, at);
    at += 4;
    if (at + length > end) throw new FerryError('CORRUPT_DATA', 'message envelope is truncated');
    // Byte properties are plain Uint8Array views, whatever kind of buffer the envelope sits in.
    setPropertyAt(properties, bit, kind === 'string' ? readUtf8(bytes, at, at + length) : new Uint8Array(bytes.buffer, bytes.byteOffset + at, length));
    at += length;
  }
  let headers: HeaderTable;
  let amqpHeaderTable: Uint8Array | undefined;
  if (end - at === EMPTY_TABLE_BYTES && readU32(bytes, at) === 0 && (flags & 8) === 0) {
    headers = NO_HEADERS;
  } else {
    const reader = new ByteReader(bytes.subarray(at));
    headers = readHeaderTable(reader);
    if (headers !== NO_HEADERS && isEmpty(headers)) headers = NO_HEADERS;
    if ((flags & 8) === 8) {
      if (reader.remaining() < 4) throw new FerryError('CORRUPT_DATA', 'message envelope is truncated');
      amqpHeaderTable = reader.bytes();
    }
    if (reader.remaining() !== 0) throw new FerryError('CORRUPT_DATA', `message envelope has ${reader.remaining()} bytes after its header table`);
  }
  const fields: { -readonly [K in keyof EnvelopeFields]: EnvelopeFields[K] } = { exchange, properties, headers, persistent: (flags & 1) === 1 };
  if ((flags & 2) === 2) fields.persistenceImplicit = true;
  if ((flags & 4) === 4 && headers === NO_HEADERS) fields.emptyHeadersTable = true;
  if (amqpHeaderTable !== undefined) fields.amqpHeaderTable = amqpHeaderTable;
  return fields;
}

/** The name of the record header that holds the envelope. */
export const MESSAGE_ENVELOPE_HEADER = ENVELOPE_HEADER;
