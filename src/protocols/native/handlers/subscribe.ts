import { FerryError } from '../../../lib/ferry-error.js';
import type { Queue } from '../../../core/queue/queue.js';
import type { NativeChannel } from '../native-channel.js';
import { QueueConsumer } from '../queue-consumer.js';
import { AnswerThen, type RequestHandler } from '../request-handler.js';

/** The queues a `subscribe` or `pull` reads: the queue `source`, or the partition queues of share group `group` of stream `source`. */
export async function sourceQueues(channel: NativeChannel, source: string, group: string): Promise<readonly Queue[]> {
  channel.authorize('read', source);
  const vhost = channel.vhost;
  if (group !== '') return (await vhost.shareGroup(source, group)).partitionQueues();
  const queue = vhost.findQueue(source);
  if (queue === undefined && vhost.findStream(source) !== undefined) {
    throw new FerryError('INVALID_ARGUMENT', `${source} is a stream: read it with streamSubscribe or streamRead, or share it with a group`);
  }
  const found = queue ?? vhost.queue(source);
  channel.checkExclusive(found);
  return [found];
}

/**
 * `subscribe`: a push consumer of a queue, or of a stream's share group
 * (`group`; the share group is opened on first use). Deliveries arrive in
 * `deliver` frames, at most `prefetch` unacknowledged (per partition for a
 * share group; 0 = no limit), after this answer (the queue may hand some
 * over at once: they wait until the answer is queued).
 */
export const subscribe: RequestHandler<'subscribe'> = {
  ordered: true,
  async handle(channel, { source, group, tag, prefetch, autoAck, exclusive, priority }) {
    const id = channel.reserveId();
    const queues = await sourceQueues(channel, source, group);
    if (channel.closed) throw new FerryError('INVALID_ARGUMENT', `channel ${channel.number} closed while subscribing`);
    const consumer = new QueueConsumer(channel, { id, tag: tag === '' ? `consumer-${id}` : tag, source: group === '' ? source : `${source}#${group}`, queues, prefetch, autoAck, priority, exclusive });
    channel.consumers.set(id, consumer);
    try {
      consumer.start((reason) => {
        if (!channel.consumers.delete(id)) return;
        channel.host.flushDeliveries(consumer);
        channel.push('cancelled', { consumerId: id, reason });
      });
    } catch (error) {
      channel.consumers.delete(id);
      throw error;
    }
    return new AnswerThen({ consumerId: id }, () => consumer.release());
  },
};

/** `cancel`: stops a consumer. Deliveries already sent stay unacknowledged on the channel (ack or nack them). */
export const cancel: RequestHandler<'cancel'> = {
  handle(channel, { consumerId }) {
    const consumer = channel.consumers.get(consumerId);
    if (consumer === undefined) throw new FerryError('INVALID_ARGUMENT', `no consumer ${consumerId} on channel ${channel.number}`);
    channel.consumers.delete(consumerId);
    consumer.cancel();
    // Deliveries made before the cancel go out before its answer.
    channel.host.flushDeliveries(consumer);
    return {};
  },
};
