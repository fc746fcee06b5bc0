import { FerryError } from '../../lib/ferry-error.js';
import type { Delivery } from '../queue/delivery.js';
import type { PullOptions, Queue } from '../queue/queue.js';
import type { Stream } from './stream.js';

/** What a share group's consumer gets; `tag` names it for {@link ShareGroup.cancel}. */
export interface ShareGroupConsumer {
  readonly tag: string;
  cancel(): void;
}

/**
 * Queue-style consumption of a stream (Kafka share groups): the members of
 * a named group share the stream's messages, each delivered to one member,
 * with per-message acks, redelivery after a nack or a visibility timeout,
 * a delivery limit and dead-lettering, while offset readers replay the same
 * stream untouched.
 *
 * Built on the queue engine: one {@link Queue} per partition reads the
 * partition through a read-only view that ends at the durable end, with its
 * own delivery state (acks, delivery counts) in a state log of the group.
 * Nothing is ever removed from the stream; its retention alone decides what
 * stays, and messages it removes before the group read them are skipped.
 */
export class ShareGroup {
  private readonly unsubscribe: Array<() => void> = [];
  private readonly byQueueName: Map<string, Queue>;
  private closed = false;
  private nextTag = 0;
  private pullStart = 0;

  constructor(
    readonly name: string,
    readonly stream: Stream,
    /** One queue per partition, in partition order. */
    private readonly queues: readonly Queue[],
  ) {
    this.byQueueName = new Map(queues.map((queue) => [queue.name, queue]));
    queues.forEach((queue, partition) => this.unsubscribe.push(stream.onAppended(partition, () => queue.notifyAppended())));
  }

  /** Messages not yet delivered (or returned), over all partitions. */
  messageCount(): number {
    let count = 0;
    for (const queue of this.queues) count += queue.messageCount();
    return count;
  }

  /**
   * Attaches a push consumer to every partition. `prefetch` bounds its
   * unacknowledged deliveries per partition (0: no bound).
   */
  consume(onDelivery: (delivery: Delivery) => void, options: { prefetch?: number; autoAck?: boolean; tag?: string } = {}): ShareGroupConsumer {
    this.assertOpen();
    const tag = options.tag ?? `${this.name}-consumer-${++this.nextTag}`;
    this.queues.forEach((queue, partition) => {
      queue.consume({ tag: `${tag}#${partition}`, prefetch: options.prefetch ?? 0, autoAck: options.autoAck ?? false, onDelivery });
    });
    return { tag, cancel: () => this.cancel(tag) };
  }

  /** Detaches a consumer; its unacknowledged deliveries return to the group. */
  cancel(tag: string): void {
    this.queues.forEach((queue, partition) => queue.cancel(`${tag}#${partition}`, { requeueUnsettled: true }));
  }

  /**
   * Takes up to `max` messages, partitions in turn, waiting up to `waitMs`
   * for a first one. Pulled messages come back after their visibility
   * timeout unless acked.
   */
  async pull(options: PullOptions = {}): Promise<Delivery[]> {
    this.assertOpen();
    const max = Math.max(1, options.max ?? 1);
    const take = async (waitMs: number): Promise<Delivery[]> => {
      const out: Delivery[] = [];
      const start = this.pullStart;
      this.pullStart = (start + 1) % this.queues.length;
      for (let step = 0; step < this.queues.length && out.length < max; step++) {
        const queue = this.queues[(start + step) % this.queues.length]!;
        out.push(...(await queue.pull({ ...options, max: max - out.length, waitMs: 0 })));
      }
      if (out.length > 0 || waitMs <= 0) return out;
      if (this.queues.length === 1) return this.queues[0]!.pull({ ...options, max, waitMs });
      // Several partitions: wait for any of them to get a message, then take again.
      const stream = this.stream;
      const waits = this.queues.map((_, partition) => stream.waitForMessages(partition, stream.endOffset(partition), waitMs));
      if (!(await Promise.race(waits))) return [];
      return take(0);
    };
    return take(options.waitMs ?? 0);
  }

  /** Acknowledges deliveries of this group; resolves once durable. */
  async ack(deliveries: Delivery | readonly Delivery[]): Promise<void> {
    await Promise.all([...this.group(deliveries)].map(([queue, ids]) => queue.ack(ids)));
  }

  /** Returns deliveries to the group (`requeue`, default true) or dead-letters them. */
  async nack(deliveries: Delivery | readonly Delivery[], requeue = true): Promise<void> {
    await Promise.all([...this.group(deliveries)].map(([queue, ids]) => queue.nack(ids, requeue)));
  }

  /** Extends (or shortens) how long a pulled message stays invisible. */
  changeVisibility(delivery: Delivery, visibilityTimeoutMs: number): void {
    this.queueOf(delivery).changeVisibility(delivery.id, visibilityTimeoutMs);
  }

  /** The per-partition queues (monitoring). */
  partitionQueues(): readonly Queue[] {
    return this.queues;
  }

  /** Stops following the stream and flushes the delivery state. */
  async close(options: { shutdown?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    for (const queue of this.queues) {
      if (options.shutdown) queue.markDeleted('broker shutting down', { shutdown: true });
      else await queue.close();
    }
  }

  private group(deliveries: Delivery | readonly Delivery[]): Map<Queue, number[]> {
    const list = Array.isArray(deliveries) ? (deliveries as readonly Delivery[]) : [deliveries as Delivery];
    const grouped = new Map<Queue, number[]>();
    for (const delivery of list) {
      const queue = this.queueOf(delivery);
      const ids = grouped.get(queue);
      if (ids) ids.push(delivery.id);
      else grouped.set(queue, [delivery.id]);
    }
    return grouped;
  }

  private queueOf(delivery: Delivery): Queue {
    const queue = this.byQueueName.get(delivery.queue);
    if (!queue) throw new FerryError('UNKNOWN_DELIVERY', `delivery ${delivery.id} of ${delivery.queue} is not from share group ${this.name} of stream ${this.stream.name}`);
    return queue;
  }

  private assertOpen(): void {
    if (this.closed || this.stream.isDeleted()) throw new FerryError('STREAM_NOT_FOUND', `share group ${this.name} of stream ${this.stream.name} is closed`);
  }
}
