import { malformed, PayloadReader } from '../protocols/native/codec/index.js';
import type { ChannelAcks } from './channel-acks.js';
import { ReceivedMessage, StreamEntry } from './incoming-message.js';

/**
 * Decodes the frames that carry messages in bulk (`deliver` and `pull`
 * answers, `streamDeliver` and `streamRead` answers) straight into
 * {@link ReceivedMessage} and {@link StreamEntry} objects that point into the
 * received bytes: no intermediate wire objects, and routing key, envelope
 * and body views are made only when read. The layouts are those of
 * docs/protocol.md; every length and count is checked against the bytes
 * present, and anything that does not fit fails with NATIVE_MALFORMED_FRAME,
 * as the table-driven codec does (a test checks that both agree).
 *
 *   deliveries: u32 count | count × (u64 deliveryTag | u8 flags | u32 deliveryCount | f64 timestampMs | message)
 *   entries:    u32 count | count × (u32 partition | u64 offset | f64 timestampMs | message)
 *   message:    u16 keyLength | key | u32 envelopeLength | envelope | u32 bodyLength | body
 */

const U32 = 0x1_0000_0000;
const DELIVERY_BYTES_MIN = 31;
const ENTRY_BYTES_MIN = 30;

/** Reads a message's three lengths at the cursor and moves past it; returns [keyAt, keyLength, envelopeAt, envelopeLength, bodyAt, bodyLength]. */
function skipMessage(cursor: PayloadReader, what: string, into: number[]): void {
  const { view, bytes } = cursor;
  let at = cursor.at;
  if (at + 2 > bytes.byteLength) throw malformed(`frame payload ends inside ${what}`);
  const keyLength = view.getUint16(at, true);
  const keyAt = at + 2;
  at = keyAt + keyLength;
  if (at + 4 > bytes.byteLength) throw malformed(`frame payload ends inside ${what}`);
  const envelopeLength = view.getUint32(at, true);
  const envelopeAt = at + 4;
  at = envelopeAt + envelopeLength;
  if (at + 4 > bytes.byteLength) throw malformed(`frame payload ends inside ${what}`);
  const bodyLength = view.getUint32(at, true);
  const bodyAt = at + 4;
  at = bodyAt + bodyLength;
  if (at > bytes.byteLength) throw malformed(`frame payload ends inside ${what}`);
  cursor.at = at;
  into[0] = keyAt;
  into[1] = keyLength;
  into[2] = envelopeAt;
  into[3] = envelopeLength;
  into[4] = bodyAt;
  into[5] = bodyLength;
}

const layout = [0, 0, 0, 0, 0, 0];

function readDeliveries(cursor: PayloadReader, acks: ChannelAcks | null): ReceivedMessage[] {
  const count = cursor.count(DELIVERY_BYTES_MIN, 'deliveries');
  const messages: ReceivedMessage[] = new Array(count);
  const { view } = cursor;
  for (let index = 0; index < count; index++) {
    cursor.need(21, 'deliveries');
    const at = cursor.at;
    const low = view.getUint32(at, true);
    const high = view.getUint32(at + 4, true);
    if (high >= 0x20_0000) throw malformed('deliveries is larger than 2^53 - 1');
    const flags = cursor.bytes[at + 8]!;
    const deliveryCount = view.getUint32(at + 9, true);
    const timestampMs = view.getFloat64(at + 13, true);
    cursor.at = at + 21;
    skipMessage(cursor, 'deliveries', layout);
    messages[index] = new ReceivedMessage(cursor.bytes, layout, high * U32 + low, (flags & 1) === 1, deliveryCount, timestampMs, acks);
  }
  return messages;
}

function readEntries(cursor: PayloadReader): StreamEntry[] {
  const count = cursor.count(ENTRY_BYTES_MIN, 'entries');
  const entries: StreamEntry[] = new Array(count);
  const { view } = cursor;
  for (let index = 0; index < count; index++) {
    cursor.need(20, 'entries');
    const at = cursor.at;
    const partition = view.getUint32(at, true);
    const low = view.getUint32(at + 4, true);
    const high = view.getUint32(at + 8, true);
    if (high >= 0x20_0000) throw malformed('entries is larger than 2^53 - 1');
    const timestampMs = view.getFloat64(at + 12, true);
    cursor.at = at + 20;
    skipMessage(cursor, 'entries', layout);
    entries[index] = new StreamEntry(cursor.bytes, layout, partition, high * U32 + low, timestampMs);
  }
  return entries;
}

/** A `deliver` push: the consumer and its deliveries (settled through `acks`, or auto-acked when null). */
export function decodeDeliver(payload: Uint8Array, acks: ChannelAcks | null): { readonly consumerId: number; readonly messages: ReceivedMessage[] } {
  const cursor = new PayloadReader(payload);
  const consumerId = cursor.u32('consumerId');
  const messages = readDeliveries(cursor, acks);
  cursor.end();
  return { consumerId, messages };
}

/** A `pull` answer: its deliveries. */
export function decodePullAnswer(payload: Uint8Array, acks: ChannelAcks | null): ReceivedMessage[] {
  const cursor = new PayloadReader(payload);
  const messages = readDeliveries(cursor, acks);
  cursor.end();
  return messages;
}

/** A `streamDeliver` push: the subscription and its entries. */
export function decodeStreamDeliver(payload: Uint8Array): { readonly subscriptionId: number; readonly entries: StreamEntry[] } {
  const cursor = new PayloadReader(payload);
  const subscriptionId = cursor.u32('subscriptionId');
  const entries = readEntries(cursor);
  cursor.end();
  return { subscriptionId, entries };
}

/** A `streamRead` answer: its entries and the offset to continue from. */
export function decodeStreamReadAnswer(payload: Uint8Array): { readonly entries: StreamEntry[]; readonly nextOffset: number } {
  const cursor = new PayloadReader(payload);
  const entries = readEntries(cursor);
  const nextOffset = cursor.u64('nextOffset');
  cursor.end();
  return { entries, nextOffset };
}
