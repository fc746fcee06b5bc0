import type { Delivery } from '../../core/queue/delivery.js';
import type { Queue } from '../../core/queue/queue.js';
import type { SequenceMap } from '../../lib/sequence-map.js';

/** What a consumer needs from its channel (NativeChannel). */
export interface ConsumerChannel {
  readonly number: number;
  /** True once the channel closed: its pending deliveries are not sent. */
  readonly closed: boolean;
  /** Unsettled deliveries by tag. */
  readonly unacked: SequenceMap<{ readonly queue: Queue; readonly id: number }>;
  nextDeliveryTag(): number;
  readonly host: {
    readonly connectionId: string;
    deliveriesFlowing(): boolean;
    /** `consumer` has deliveries to send (null: held ones, only counted for back pressure). */
    deliveriesPending(consumer: QueueConsumer | null, bodyBytes: number): void;
  };
}

/** How a {@link QueueConsumer} consumes. */
export interface QueueConsumerOptions {
  readonly id: number;
  /** The client's name for it (listed by the management API). */
  readonly tag: string;
  /** The queue, or the stream of a share group. */
  readonly source: string;
  /** The queue, or the share group's queues (one per partition). */
  readonly queues: readonly Queue[];
  readonly prefetch: number;
  readonly autoAck: boolean;
  readonly priority: number;
  readonly exclusive: boolean;
}

/**
 * One `subscribe` on a channel: a push consumer of a queue, or of every
 * partition queue of a share group. Deliveries get the channel's next tag
 * and wait in `pending` until the connection encodes them, at the end of
 * the turn, as one `deliver` frame per consumer (batched delivery).
 */
export class QueueConsumer {
  readonly pendingTags: number[] = [];
  readonly pendingDeliveries: Delivery[] = [];
  /** True while the connection has this consumer in its list of pending deliveries. */
  pendingQueued = false;
  cancelled = false;
  /** Deliveries wait (tagged) until {@link release}: none may reach the client before the subscribe answer. */
  private held = true;
  /** The name the core queues know it by: unique per connection, channel and id. */
  readonly coreTag: string;
  private readonly queueByName: ReadonlyMap<string, Queue> | null;

  constructor(
    readonly channel: ConsumerChannel,
    readonly options: QueueConsumerOptions,
  ) {
    this.coreTag = `${channel.host.connectionId}/${channel.number}/${options.id}`;
    this.queueByName = options.queues.length === 1 ? null : new Map(options.queues.map((queue) => [queue.name, queue]));
  }

  get id(): number {
    return this.options.id;
  }

  /**
   * Attaches to every queue; throws (attaching to none) when a queue refuses
   * (CONSUMER_EXCLUSIVE, a deleted queue). `onCancelled` runs once when a
   * queue goes away.
   */
  start(onCancelled: (reason: string) => void): void {
    const attached: Queue[] = [];
    try {
      for (const queue of this.options.queues) {
        queue.consume({
          tag: this.coreTag,
          prefetch: this.options.prefetch,
          autoAck: this.options.autoAck,
          priority: this.options.priority,
          exclusive: this.options.exclusive,
          flowing: this.channel.host.deliveriesFlowing(),
          onDelivery: this.onDelivery,
          onCancelled: (reason) => {
            if (this.cancelled) return;
            this.cancel();
            onCancelled(reason);
          },
        });
        attached.push(queue);
      }
    } catch (error) {
      for (const queue of attached) queue.cancel(this.coreTag);
      throw error;
    }
  }

  private readonly onDelivery = (delivery: Delivery): void => {
    const channel = this.channel;
    const tag = channel.nextDeliveryTag();
    if (!this.options.autoAck) channel.unacked.set(tag, { queue: this.queueOf(delivery), id: delivery.id });
    this.pendingTags.push(tag);
    this.pendingDeliveries.push(delivery);
    channel.host.deliveriesPending(this.held ? null : this, delivery.message.body.byteLength);
  };

  /** Lets deliveries go out (right after the subscribe answer was queued), those held so far first. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (this.pendingDeliveries.length > 0) this.channel.host.deliveriesPending(this, 0);
  }

  private queueOf(delivery: Delivery): Queue {
    return this.queueByName === null ? this.options.queues[0]! : this.queueByName.get(delivery.queue)!;
  }

  /** Pauses or resumes deliveries (the connection's socket is backed up, or drained). */
  setFlowing(flowing: boolean): void {
    if (this.cancelled) return;
    for (const queue of this.options.queues) queue.setFlowing(this.coreTag, flowing);
  }

  /** Detaches from the queues; unacknowledged deliveries stay on the channel (still ackable). */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const queue of this.options.queues) if (!queue.isDeleted()) queue.cancel(this.coreTag);
  }
}
