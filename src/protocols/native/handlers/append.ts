import { FerryError } from '../../../lib/ferry-error.js';
import type { RecordInput } from '../../../core/ports.js';
import type { Stream, StreamAppendResult } from '../../../core/stream/stream.js';
import { decodeFrameHead, decodeMessageRange, type RequestOf, type ResponseOf } from '../codec/index.js';
import type { NativeChannel } from '../native-channel.js';
import type { RequestHandler } from '../request-handler.js';
import { recordFieldBytes } from '../wire-message-reader.js';

/**
 * `append`: the fast path of publishing. Each message's envelope is
 * validated (a bad one is NATIVE_MALFORMED_FRAME) and the client's bytes are
 * stored as they came (routing key, envelope, body), without decoding into a
 * message and encoding again. With `partition` -1, keyed messages go to their
 * key's partition and the unkeyed ones of the frame together to the next
 * partition in turn. With a producer id, the append is idempotent (sequence
 * of the first message; a retry answers the original offsets with
 * `duplicate`). Answers once durable. In a transaction the messages are
 * staged, and answered at once with no results.
 *
 * A frame bound for one partition outside a transaction (the common case)
 * never becomes objects: `handlePayload` walks its messages in place and
 * writes them into the partition's record batch (Stream.appendBatch), one
 * pass and one CRC. The other cases decode the frame (`handle`) and append
 * one record list per partition (Stream.appendRecords).
 */
export const append: RequestHandler<'append'> = {
  publishes: true,
  handle: appendDecoded,
  handlePayload(channel, payload) {
    const { fields, messages } = decodeFrameHead('append', payload);
    const { stream: name, partition, producerId, epoch, sequence } = fields;
    const stream = checkedStream(channel, name, messages.count);
    const partitions = stream.partitionCount();
    const target = partition >= 0 ? partition : 0;
    const direct = channel.transaction === null && target < partitions && (partition >= 0 || partitions === 1);
    if (!direct) {
      // Transactions, spreading over partitions and the failures of those paths: as decoded.
      return appendDecoded(channel, { stream: name, partition, producerId, epoch, sequence, messages: decodeMessageRange(payload, messages) });
    }
    const batch = stream.newRecordBatch(target, messages.count, messages.count, recordFieldBytes(messages));
    channel.host.messages.writeRecords(payload, messages, batch, channel.host.clock.nowMs());
    const producer = producerId !== 0 ? { producerId, epoch, sequence } : undefined;
    return stream.appendBatch(target, batch, producer).then(resultsOf);
  },
};

/** The stream a frame of `count` messages appends to, after the batch limit and the write permission. */
function checkedStream(channel: NativeChannel, name: string, count: number): Stream {
  channel.checkBatch(count, 'messages');
  channel.authorize('write', name);
  return channel.vhost.stream(name);
}

function resultsOf(result: StreamAppendResult): ResponseOf<'append'> {
  return { results: [result] };
}

/** The decoded path: transactions, keyed or spread appends over several partitions. */
function appendDecoded(channel: NativeChannel, request: RequestOf<'append'>): ResponseOf<'append'> | Promise<ResponseOf<'append'>> {
  const { stream: name, partition, producerId, epoch, sequence, messages } = request;
  const stream = checkedStream(channel, name, messages.length);
  const host = channel.host;
  const reader = host.messages;
  const count = messages.length;
  const transaction = channel.transaction;
  if (transaction !== null) {
    const staged = messages.map((message) => reader.message(message));
    for (const message of staged) transaction.appendToStream(name, message, partition >= 0 ? partition : undefined);
    return { results: [] };
  }
  const nowMs = host.clock.nowMs();
  const partitions = stream.partitionCount();
  if (partition >= 0 || partitions === 1 || producerId !== 0) {
    if (producerId !== 0 && partition < 0 && partitions > 1) {
      throw new FerryError('INVALID_ARGUMENT', `idempotent appends to stream ${name} name their partition (sequences are per partition)`);
    }
    const records: RecordInput[] = new Array(count);
    for (let index = 0; index < count; index++) records[index] = reader.record(messages[index]!, nowMs);
    const producer = producerId !== 0 ? { producerId, epoch, sequence } : undefined;
    return stream.appendRecords(Math.max(partition, 0), records, producer).then(resultsOf);
  }
  const byPartition = new Map<number, RecordInput[]>();
  let spread = -1;
  for (let index = 0; index < count; index++) {
    const record = reader.record(messages[index]!, nowMs);
    const key = reader.lastRecordKey();
    const target = key !== undefined ? stream.partitionForKey(key) : spread >= 0 ? spread : (spread = stream.partitionForKey(undefined));
    const records = byPartition.get(target);
    if (records) records.push(record);
    else byPartition.set(target, [record]);
  }
  const appends: Promise<StreamAppendResult>[] = [];
  for (const [target, records] of byPartition) appends.push(stream.appendRecords(target, records));
  return Promise.all(appends).then((results) => ({ results }));
}
