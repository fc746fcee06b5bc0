import { decodeEnvelope, MESSAGE_ENVELOPE_HEADER, type EnvelopeFields } from '../../core/message/message-codec.js';
import { assert } from '../../lib/assert.js';
import type { RecordBatchBuilder, RecordHeader, RecordInput } from '../../core/ports.js';
import type { TransactionMessage } from '../../core/transaction/transaction.js';
import { malformed, type WireMessage, type WireMessageRange } from './codec/index.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True when `source[start, start + length)` holds the bytes of `bytes`. */
function sameBytesAt(source: Uint8Array, start: number, length: number, bytes: Uint8Array): boolean {
  if (length !== bytes.byteLength) return false;
  for (let index = 0; index < length; index++) if (source[start + index] !== bytes[index]) return false;
  return true;
}

/** True when `view` holds the same `length` bytes at `left` and at `right` (compared four at a time). */
function sameSpan(view: DataView, left: number, right: number, length: number): boolean {
  let index = 0;
  for (; index + 4 <= length; index += 4) if (view.getUint32(left + index) !== view.getUint32(right + index)) return false;
  for (; index < length; index++) if (view.getUint8(left + index) !== view.getUint8(right + index)) return false;
  return true;
}

/** UTF-8 bytes of the envelope's header name, which every appended record carries once. */
const ENVELOPE_NAME_BYTES = new TextEncoder().encode(MESSAGE_ENVELOPE_HEADER).byteLength;
/** Bytes of a wire message besides its key, envelope and body: u16 key length, u32 envelope length, u32 body length. */
const WIRE_MESSAGE_FIXED_BYTES = 10;

/**
 * The `fieldBytes` of `Log.newBatch` for the records {@link WireMessageReader.writeRecords}
 * makes of `range`: each message's key, envelope and body, and the envelope's header name.
 */
export function recordFieldBytes(range: WireMessageRange): number {
  return range.end - range.start - range.count * WIRE_MESSAGE_FIXED_BYTES + range.count * ENVELOPE_NAME_BYTES;
}

/** True when both hold the same bytes. */
function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  if (left === right) return true;
  const length = left.byteLength;
  if (length !== right.byteLength) return false;
  for (let index = 0; index < length; index++) if (left[index] !== right[index]) return false;
  return true;
}

/**
 * Validates and reads the messages of one connection's `publish` and
 * `append` frames. A batch usually repeats one envelope (same exchange,
 * persistence, properties) and one routing key, so the last ones are
 * remembered: a repeat costs a byte comparison instead of a decode, and an
 * appended record reuses the header list of the previous one. A bad envelope
 * or a routing key that is not UTF-8 is NATIVE_MALFORMED_FRAME.
 */
export class WireMessageReader {
  private lastEnvelope: Uint8Array | null = null;
  private lastFields: EnvelopeFields | null = null;
  private lastHeaders: readonly RecordHeader[] = [];
  private lastKeyBytes: Uint8Array | null = null;
  private lastKey = '';

  /** The envelope's fields; NATIVE_MALFORMED_FRAME when it is not a valid envelope. */
  envelope(bytes: Uint8Array): EnvelopeFields {
    if (this.lastEnvelope !== null && sameBytes(bytes, this.lastEnvelope)) return this.lastFields!;
    let fields: EnvelopeFields;
    try {
      fields = decodeEnvelope(bytes);
    } catch (error) {
      throw malformed(`message envelope is invalid: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.lastEnvelope = bytes;
    this.lastFields = fields;
    this.lastHeaders = [{ name: MESSAGE_ENVELOPE_HEADER, value: bytes }];
    return fields;
  }

  /** The routing key as text; NATIVE_MALFORMED_FRAME when it is not UTF-8. */
  routingKey(bytes: Uint8Array): string {
    if (this.lastKeyBytes !== null && sameBytes(bytes, this.lastKeyBytes)) return this.lastKey;
    let key: string;
    try {
      key = utf8.decode(bytes);
    } catch {
      throw malformed('a routing key is not valid UTF-8');
    }
    this.lastKeyBytes = bytes;
    this.lastKey = key;
    return key;
  }

  /** A published message as the core takes it (exchange and arrival time are set by the vhost). */
  message(wire: WireMessage): TransactionMessage {
    const fields = this.envelope(wire.envelope);
    const message: { -readonly [K in keyof TransactionMessage]: TransactionMessage[K] } = {
      routingKey: this.routingKey(wire.routingKey),
      properties: fields.properties,
      headers: fields.headers,
      body: wire.body,
      persistent: fields.persistent,
    };
    // Set only when true, without spreading an object per message.
    if (fields.persistenceImplicit === true) message.persistenceImplicit = true;
    if (fields.emptyHeadersTable === true) message.emptyHeadersTable = true;
    if (fields.amqpHeaderTable !== undefined) message.amqpHeaderTable = fields.amqpHeaderTable;
    return message;
  }

  /**
   * The stream record of an appended message, holding the client's bytes as
   * they came (key: routing key; value: body; header "m": envelope), after
   * validating them; {@link lastRecordKey} then gives its `properties.key`.
   */
  record(wire: WireMessage, timestampMs: number): RecordInput {
    this.envelope(wire.envelope);
    this.routingKey(wire.routingKey);
    return { timestampMs, key: wire.routingKey, value: wire.body, headers: this.lastHeaders };
  }

  /**
   * Writes the messages of `range` (from decodeFrameHead: their layout is
   * checked) into `batch` as the records {@link record} makes: the same
   * validation of each envelope and routing key, the same record fields, in
   * one pass over the frame and without an object per message.
   */
  writeRecords(payload: Uint8Array, range: WireMessageRange, batch: RecordBatchBuilder, timestampMs: number): void {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    let at = range.start;
    // The last message's routing key and envelope, as one span: a message that repeats it
    // is valid as that one was, and its record repeats that record's key and header.
    let repeatStart = -1;
    let repeatLength = -1;
    for (let index = 0; index < range.count; index++) {
      //   u16 keyLength | key | u32 envelopeLength | envelope | u32 bodyLength | body
      const keyStart = at + 2;
      const keyLength = view.getUint16(at, true);
      const envelopeStart = keyStart + keyLength + 4;
      const envelopeLength = view.getUint32(keyStart + keyLength, true);
      const bodyStart = envelopeStart + envelopeLength + 4;
      const bodyLength = view.getUint32(envelopeStart + envelopeLength, true);
      const spanLength = envelopeStart + envelopeLength - at;
      if (spanLength === repeatLength && sameSpan(view, repeatStart, at, spanLength)) {
        batch.recordAgain(timestampMs, payload, bodyStart, bodyLength);
      } else {
        this.checkRoutingKeyAt(payload, keyStart, keyLength);
        this.checkEnvelopeAt(payload, envelopeStart, envelopeLength);
        batch.recordStart(timestampMs, payload, keyStart, keyLength, 1);
        batch.recordHeader(MESSAGE_ENVELOPE_HEADER, payload, envelopeStart, envelopeLength);
        batch.recordEnd(payload, bodyStart, bodyLength);
        repeatStart = at;
        repeatLength = spanLength;
      }
      at = bodyStart + bodyLength;
    }
    assert(at === range.end, 'the messages fill their range exactly');
  }

  /** {@link routingKey}'s check of `source[start, start + length)`; a repeat of the last key costs a comparison. */
  private checkRoutingKeyAt(source: Uint8Array, start: number, length: number): void {
    if (this.lastKeyBytes !== null && sameBytesAt(source, start, length, this.lastKeyBytes)) return;
    this.routingKey(source.subarray(start, start + length));
  }

  /** {@link envelope}'s check of `source[start, start + length)`; a repeat of the last envelope costs a comparison. */
  private checkEnvelopeAt(source: Uint8Array, start: number, length: number): void {
    if (this.lastEnvelope !== null && sameBytesAt(source, start, length, this.lastEnvelope)) return;
    this.envelope(source.subarray(start, start + length));
  }

  /** The exchange named by the envelope last read (a publish's envelope encodes its message only when that is the publish's exchange). */
  envelopeExchange(): string | undefined {
    return this.lastFields?.exchange;
  }

  /** The record key (`properties.key`) of the envelope last validated, for partitioning. */
  lastRecordKey(): Uint8Array | undefined {
    return this.lastFields?.properties.key;
  }
}
