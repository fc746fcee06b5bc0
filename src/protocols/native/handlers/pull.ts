import type { Delivery } from '../../../core/queue/delivery.js';
import type { Queue } from '../../../core/queue/queue.js';
import { FRAMES, FrameFlag } from '../codec/index.js';
import { encodeDeliveries } from '../delivery-frames.js';
import { EncodedAnswer, type RequestHandler } from '../request-handler.js';
import { sourceQueues } from './subscribe.js';

/**
 * `pull`: takes up to `max` ready messages of a queue or share group,
 * waiting up to `waitMs` for a first one. Pulled messages return after their
 * visibility timeout (`visibilityTimeoutMs`, 0: the queue's) unless settled.
 * `max` is capped at the connection's batch limit; deliveries that do not
 * fit in one answer frame go back to their queue.
 */
export const pull: RequestHandler<'pull'> = {
  waits: true,
  async handle(channel, { source, group, max, waitMs, visibilityTimeoutMs, autoAck }) {
    const queues = await sourceQueues(channel, source, group);
    const options = { max: Math.max(1, Math.min(max, channel.host.limits.batchMessagesMax)), waitMs, autoAck, ...(visibilityTimeoutMs > 0 ? { visibilityTimeoutMs } : {}) };
    const deliveries = queues.length === 1 ? await queues[0]!.pull(options) : await (await channel.vhost.shareGroup(source, group)).pull(options);
    const queueOf = (delivery: Delivery): Queue => (queues.length === 1 ? queues[0]! : queues.find((queue) => queue.name === delivery.queue)!);
    const tags = deliveries.map((delivery) => channel.track(queueOf(delivery), delivery, autoAck));
    const giveBack = (from: number): void => {
      if (autoAck || from >= tags.length) return;
      void channel.settle(tags.slice(from), 'nack', true).catch(() => undefined);
    };
    if (channel.closed) {
      giveBack(0);
      return { deliveries: [] };
    }
    return new EncodedAnswer(
      (number, correlation) => {
        const frames: Uint8Array[] = [];
        const target = { type: FRAMES.pull.type, flags: FrameFlag.RESPONSE, channel: number, correlation, prefix: null };
        const end = encodeDeliveries(target, tags, deliveries, 0, deliveries.length, channel.host.frameBytesMax(), frames, true);
        giveBack(end);
        return frames[0]!;
      },
      () => giveBack(0),
    );
  },
};
