import { ByteReader } from '../../lib/byte-reader.js';
import { ByteWriter } from '../../lib/byte-writer.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { RecordInput, StoredRecord } from '../ports.js';
import { readHeaderTable, writeHeaderTable } from './header-codec.js';
import type { MessageProperties, StoredMessage } from './message.js';

/**
 * How a message is stored as a log record:
 * - key: the routing key (UTF-8); value: the body, untouched;
 * - timestamp: the broker's arrival time;
 * - one record header named "m": the envelope below.
 *
 *   envelope: u8 version (1) | u8 flags (bit 0 persistent, bit 1 persistence
 *             implicit) | string exchange
 *             | u16 property mask | properties in mask-bit order | header table
 *
 * Strings are u32 length + UTF-8, byte properties u32 length + bytes;
 * numeric properties are f64.
 */
const ENVELOPE_VERSION = 1;
const ENVELOPE_HEADER = 'm';
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

function encodeRoutingKey(routingKey: string): Uint8Array {
  let bytes = routingKeyBytes.get(routingKey);
  if (bytes === undefined) {
    bytes = encoder.encode(routingKey);
    if (routingKeyBytes.size >= ROUTING_KEY_CACHE_MAX) routingKeyBytes.clear();
    routingKeyBytes.set(routingKey, bytes);
  }
  return bytes;
}

/** The envelope's flag byte: bit 0 persistent, bit 1 persistence implicit. */
function flagsOf(message: EnvelopeFields): number {
  return (message.persistent ? 1 : 0) | (message.persistenceImplicit === true ? 2 : 0);
}

function isEmpty(object: object): boolean {
  for (const _key in object) return false;
  return true;
}

/** Encodes a message as the record a queue or stream log stores. */
export function encodeMessage(message: StoredMessage): RecordInput {
  let envelope: Uint8Array | undefined;
  if (isEmpty(message.properties) && isEmpty(message.headers)) {
    const cacheKey = `${flagsOf(message)}${message.exchange}`;
    envelope = plainEnvelopes.get(cacheKey);
    if (envelope === undefined) {
      envelope = encodeEnvelope(message);
      if (plainEnvelopes.size < ROUTING_KEY_CACHE_MAX) plainEnvelopes.set(cacheKey, envelope);
    }
  } else {
    envelope = encodeEnvelope(message);
  }
  return {
    timestampMs: message.arrivedAtMs,
    key: encodeRoutingKey(message.routingKey),
    value: message.body,
    headers: [{ name: ENVELOPE_HEADER, value: envelope }],
  };
}

/** The fields of a message its envelope carries (everything but routing key, body and arrival time). */
export type EnvelopeFields = Pick<StoredMessage, 'exchange' | 'properties' | 'headers' | 'persistent' | 'persistenceImplicit'>;

/**
 * Encodes a message's envelope (the record header "m" above). The native
 * protocol carries these same bytes on the wire, so a stream append stores
 * what the client sent without re-encoding it.
 */
export function encodeEnvelope(message: EnvelopeFields): Uint8Array {
  const headersEmpty = isEmpty(message.headers);
  if (!headersEmpty) return encodeEnvelopeGeneral(message);
  // Hot path (no headers): size exactly, one allocation, strings written in place.
  const properties = message.properties as Record<string, string | number | Uint8Array | undefined>;
  let size = 1 + 1 + 4 + utf8Length(message.exchange) + 2 + 4;
  let mask = 0;
  for (let bit = 0; bit < PROPERTY_FIELDS.length; bit++) {
    const [name, kind] = PROPERTY_FIELDS[bit]!;
    const value = properties[name];
    if (value === undefined) continue;
    mask |= 1 << bit;
    size += kind === 'string' ? 4 + utf8Length(value as string) : kind === 'bytes' ? 4 + (value as unknown as Uint8Array).byteLength : 8;
  }
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  bytes[0] = ENVELOPE_VERSION;
  bytes[1] = flagsOf(message);
  let at = writeString(bytes, view, 2, message.exchange);
  view.setUint16(at, mask, true);
  at += 2;
  for (const [name, kind] of PROPERTY_FIELDS) {
    const value = properties[name];
    if (value === undefined) continue;
    if (kind === 'string') {
      at = writeString(bytes, view, at, value as string);
    } else if (kind === 'bytes') {
      const raw = value as Uint8Array;
      view.setUint32(at, raw.byteLength, true);
      bytes.set(raw, at + 4);
      at += 4 + raw.byteLength;
    } else {
      view.setFloat64(at, value as number, true);
      at += 8;
    }
  }
  view.setUint32(at, 0, true); // An empty header table.
  return bytes;
}

/** Bytes of `text` in UTF-8, without encoding it when it is ASCII. */
function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return encoder.encode(text).byteLength;
  return text.length;
}

/** Writes a u32 length and the UTF-8 bytes of `text` at `at`; returns the position after it. */
function writeString(bytes: Uint8Array, view: DataView, at: number, text: string): number {
  const { written } = encoder.encodeInto(text, bytes.subarray(at + 4));
  view.setUint32(at, written, true);
  return at + 4 + written;
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
  return writer.finish();
}

/** Decodes a stored record back into a message; CORRUPT_DATA when it is not a message record. */
export function decodeMessage(record: StoredRecord): StoredMessage {
  const envelope = record.headers.find((header) => header.name === ENVELOPE_HEADER);
  if (!envelope) throw new FerryError('CORRUPT_DATA', `record ${record.offset} carries no message envelope`);
  return {
    ...decodeEnvelope(envelope.value),
    routingKey: record.key ? decoder.decode(record.key) : '',
    body: record.value,
    arrivedAtMs: record.timestampMs,
  };
}

/**
 * Decodes an envelope written by {@link encodeEnvelope}. Throws CORRUPT_DATA
 * when it is truncated or malformed, UNKNOWN_FORMAT_VERSION for another version.
 */
export function decodeEnvelope(bytes: Uint8Array): EnvelopeFields {
  const reader = new ByteReader(bytes);
  const version = reader.u8();
  if (version !== ENVELOPE_VERSION) throw new FerryError('UNKNOWN_FORMAT_VERSION', `message envelope version ${version}`);
  const flags = reader.u8();
  const exchange = reader.string();
  const mask = reader.u16();
  if (mask >>> PROPERTY_FIELDS.length !== 0) throw new FerryError('CORRUPT_DATA', `message envelope sets unknown property bits (mask ${mask})`);
  const properties: Record<string, string | number | Uint8Array> = {};
  PROPERTY_FIELDS.forEach(([name, kind], bit) => {
    if ((mask & (1 << bit)) === 0) return;
    properties[name] = kind === 'string' ? reader.string() : kind === 'bytes' ? reader.bytes() : reader.f64();
  });
  const headers = readHeaderTable(reader);
  if (reader.remaining() !== 0) throw new FerryError('CORRUPT_DATA', `message envelope has ${reader.remaining()} bytes after its header table`);
  return {
    exchange,
    properties: properties as MessageProperties,
    headers,
    persistent: (flags & 1) === 1,
    ...((flags & 2) === 2 ? { persistenceImplicit: true } : {}),
  };
}

/** The name of the record header that holds the envelope. */
export const MESSAGE_ENVELOPE_HEADER = ENVELOPE_HEADER;
