import { FerryError } from '../../../lib/ferry-error.js';
import type { TransactionMessage } from '../../../core/transaction/transaction.js';
import { PublishStatus } from '../codec/index.js';
import type { RequestHandler } from '../request-handler.js';

const RESOLVED = Promise.resolve();

/**
 * `publish`: routes each message of the batch through the exchange ("" = the
 * default exchange) with the core's every policy, and answers the status of
 * each once all are stored per their destinations' durability (persistent
 * messages in durable queues: after fsync). The batch is validated whole
 * before any message is routed (envelopes, sizes). In a transaction the
 * messages are staged, and answered at once as routed.
 */
export const publish: RequestHandler<'publish'> = {
  publishes: true,
  handle(channel, { exchange, messages }) {
    channel.checkBatch(messages.length, 'messages');
    channel.authorize('write', exchange);
    const host = channel.host;
    const count = messages.length;
    const decoded: TransactionMessage[] = new Array(count);
    // The client's envelope bytes, kept with each message that they encode as published here (see PublishOptions.envelope).
    const envelopes: Array<Uint8Array | undefined> = new Array(count);
    for (let index = 0; index < count; index++) {
      const message = host.messages.message(messages[index]!);
      if (message.body.byteLength > host.messageBytesMax) {
        throw new FerryError('MESSAGE_TOO_LARGE', `message ${index} of ${message.body.byteLength} bytes exceeds message-bytes-max ${host.messageBytesMax}`);
      }
      decoded[index] = message;
      envelopes[index] = host.messages.envelopeExchange() === exchange ? messages[index]!.envelope : undefined;
    }
    const statuses: number[] = new Array(count);
    const transaction = channel.transaction;
    if (transaction !== null) {
      for (let index = 0; index < count; index++) {
        transaction.publish(exchange, decoded[index]!);
        statuses[index] = PublishStatus.ROUTED;
      }
      return { statuses };
    }
    const vhost = channel.vhost;
    // Messages of one batch mostly share one durability promise (their queue's batch of the turn).
    let last: Promise<void> = RESOLVED;
    let writes: Promise<void>[] | null = null;
    for (let index = 0; index < count; index++) {
      const envelope = envelopes[index];
      const outcome = vhost.publish(exchange, decoded[index]!, envelope !== undefined ? { envelope } : undefined);
      statuses[index] = !outcome.routed ? PublishStatus.UNROUTABLE : outcome.rejectedBy.length > 0 ? PublishStatus.REJECTED : PublishStatus.ROUTED;
      if (outcome.durable !== last) {
        if (last !== RESOLVED) (writes ??= []).push(last);
        last = outcome.durable;
      }
    }
    if (writes === null) return last.then(() => ({ statuses }));
    writes.push(last);
    return Promise.all(writes).then(() => ({ statuses }));
  },
};
