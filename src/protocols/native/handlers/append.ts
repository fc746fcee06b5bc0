import { FerryError } from '../../../lib/ferry-error.js';
import type { RecordInput } from '../../../core/ports.js';
import type { StreamAppendResult } from '../../../core/stream/stream.js';
import type { RequestHandler } from '../request-handler.js';

/**
 * `append`: the fast path of publishing. Each message's envelope is
 * validated (a bad one is NATIVE_MALFORMED_FRAME) and the client's bytes are
 * stored as they came (routing key, envelope, body), without decoding into a
 * message and encoding again: one batch per partition (Stream.appendRecords).
 * With `partition` -1, keyed messages go to their key's partition and the
 * unkeyed ones of the frame together to the next partition in turn. With a
 * producer id, the append is idempotent (sequence of the first message; a
 * retry answers the original offsets with `duplicate`). Answers once durable.
 * In a transaction the messages are staged, and answered at once with no results.
 */
export const append: RequestHandler<'append'> = {
  publishes: true,
  handle(channel, { stream: name, partition, producerId, epoch, sequence, messages }) {
    channel.checkBatch(messages.length, 'messages');
    channel.authorize('write', name);
    const host = channel.host;
    const stream = channel.vhost.stream(name);
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
      return stream.appendRecords(Math.max(partition, 0), records, producer).then((result) => ({ results: [result] }));
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
  },
};
