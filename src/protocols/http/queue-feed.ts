import { randomUUID } from 'node:crypto';
import type { Delivery } from '../../core/queue/delivery.js';
import type { Queue } from '../../core/queue/queue.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { DeliveryReceipts } from './delivery-receipts.js';
import { deliveryToJson } from './delivery-json.js';
import type { SubscriptionSink } from './subscription-sink.js';

/** How a {@link QueueFeed} consumes. */
export interface QueueFeedOptions {
  readonly vhost: string;
  readonly queue: Queue;
  readonly sink: SubscriptionSink;
  readonly receipts: DeliveryReceipts;
  /** Settled on delivery (at most once), or settled by the client with each message's receipt (at least once). */
  readonly autoAck: boolean;
  /** Most unsettled deliveries at once (manual acks). */
  readonly prefetch: number;
  readonly encoding: 'auto' | 'base64';
}

/**
 * A push consumer on a queue that hands each delivery to a subscription's
 * sink. Two bounds keep memory flat: the prefetch (manual acks: at most that
 * many unsettled), and the sink's back pressure (the consumer is paused while
 * the client is behind, so the queue keeps the messages). Stopping cancels
 * the consumer and returns its unsettled deliveries to the queue.
 */
export class QueueFeed {
  /** The consumer's tag on the queue. */
  readonly tag = `http-${randomUUID()}`;
  private paused = false;
  private stopped = false;

  constructor(private readonly options: QueueFeedOptions) {}

  get queue(): Queue {
    return this.options.queue;
  }

  /**
   * Attaches the consumer, paused: nothing is delivered before {@link resume}
   * (the sink may not be open yet). CONSUMER_EXCLUSIVE when an exclusive
   * consumer holds the queue.
   */
  attach(): void {
    const { queue, sink, autoAck, prefetch } = this.options;
    queue.consume({
      tag: this.tag,
      prefetch: autoAck ? 0 : prefetch,
      autoAck,
      flowing: false,
      onDelivery: (delivery) => this.deliver(delivery),
      onCancelled: () => sink.close(new FerryError('QUEUE_NOT_FOUND', `queue ${queue.name} was deleted`)),
    });
  }

  /** Starts deliveries (once the sink is open). */
  resume(): void {
    if (!this.stopped && !this.paused) this.options.queue.setFlowing(this.tag, true);
  }

  /** Deliveries sent and not settled yet. */
  unsettled(): number {
    return this.options.queue.consumerDetails().find((consumer) => consumer.tag === this.tag)?.inFlight ?? 0;
  }

  /** Detaches the consumer; unsettled deliveries go back to the queue (marked redelivered). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.options.queue.cancel(this.tag, { requeueUnsettled: true });
  }

  private deliver(delivery: Delivery): void {
    const { vhost, queue, sink, receipts, autoAck, encoding } = this.options;
    const writable = sink.send({ type: 'message', data: deliveryToJson(receipts, vhost, queue, delivery, encoding, autoAck) });
    if (writable || this.paused) return;
    // The client is behind: the queue keeps the rest until it caught up.
    this.paused = true;
    queue.setFlowing(this.tag, false);
    sink.onWritable(() => {
      this.paused = false;
      if (!this.stopped) queue.setFlowing(this.tag, true);
    });
  }
}
