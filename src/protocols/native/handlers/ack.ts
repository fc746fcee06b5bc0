import { FerryError, isFerryError } from '../../../lib/ferry-error.js';
import { NativeProtocolError } from '../codec/index.js';
import type { RequestHandler } from '../request-handler.js';

/**
 * `ack`: settles deliveries of the channel by tag; answers once the acks are
 * durable. Unknown tags are NATIVE_UNKNOWN_DELIVERY_TAG after the known ones
 * are applied. In a transaction the acks are staged (answered at once): the
 * deliveries stay unacknowledged until it commits.
 */
export const ack: RequestHandler<'ack'> = {
  handle(channel, { deliveryTags }) {
    channel.checkBatch(deliveryTags.length, 'delivery tags');
    const transaction = channel.transaction;
    if (transaction === null) return channel.settle(deliveryTags, 'ack');
    const unknown: number[] = [];
    for (const tag of deliveryTags) {
      const entry = channel.unacked.get(tag);
      if (entry === undefined) {
        unknown.push(tag);
        continue;
      }
      if (channel.vhost.findQueue(entry.queue.name) !== entry.queue) {
        throw new FerryError('PRECONDITION_FAILED', `delivery ${tag} comes from a share group, whose acks cannot be part of a transaction`);
      }
      transaction.ack(entry.queue.name, entry.id);
      channel.stagedAcks.add(tag);
    }
    if (unknown.length > 0) throw new NativeProtocolError('NATIVE_UNKNOWN_DELIVERY_TAG', `delivery tags ${unknown.slice(0, 10).join(', ')} are not outstanding on channel ${channel.number}`);
    return {};
  },
};

/**
 * `nack`: returns deliveries to their queue (`requeue`; redelivered, up to the
 * queue's delivery limit) or dead-letters them. Never staged in a transaction.
 */
export const nack: RequestHandler<'nack'> = {
  handle(channel, { deliveryTags, requeue }) {
    channel.checkBatch(deliveryTags.length, 'delivery tags');
    return channel.settle(deliveryTags, 'nack', requeue);
  },
};

/** `changeVisibility`: a pulled delivery stays invisible for this long from now, then returns unless settled. */
export const changeVisibility: RequestHandler<'changeVisibility'> = {
  handle(channel, { deliveryTag, visibilityTimeoutMs }) {
    const entry = channel.unacked.get(deliveryTag);
    if (entry !== undefined && !entry.queue.isDeleted()) {
      try {
        entry.queue.changeVisibility(entry.id, visibilityTimeoutMs);
        return {};
      } catch (error) {
        if (!isFerryError(error, 'UNKNOWN_DELIVERY')) throw error;
        // It came back already (its visibility timeout passed): the tag is spent.
        channel.unacked.delete(deliveryTag);
      }
    }
    throw new NativeProtocolError('NATIVE_UNKNOWN_DELIVERY_TAG', `delivery tag ${deliveryTag} is not outstanding on channel ${channel.number}`);
  },
};
