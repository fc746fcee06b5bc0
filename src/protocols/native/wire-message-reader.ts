import { decodeEnvelope, MESSAGE_ENVELOPE_HEADER, type EnvelopeFields } from '../../core/message/message-codec.js';
import type { RecordHeader, RecordInput } from '../../core/ports.js';
import type { TransactionMessage } from '../../core/transaction/transaction.js';
import { malformed, type WireMessage } from './codec/index.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
    return {
      routingKey: this.routingKey(wire.routingKey),
      properties: fields.properties,
      headers: fields.headers,
      body: wire.body,
      persistent: fields.persistent,
      ...(fields.persistenceImplicit === true ? { persistenceImplicit: true } : {}),
    };
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

  /** The exchange named by the envelope last read (a publish's envelope encodes its message only when that is the publish's exchange). */
  envelopeExchange(): string | undefined {
    return this.lastFields?.exchange;
  }

  /** The record key (`properties.key`) of the envelope last validated, for partitioning. */
  lastRecordKey(): Uint8Array | undefined {
    return this.lastFields?.properties.key;
  }
}
