import type { AnswerHandler, ClientConnection } from './client-connection.js';
import type { FerryClientError } from './ferry-client-error.js';

const ACK_FRAME_TAGS_MAX = 10_000;

/**
 * Settles the deliveries of one channel of one connection. Acks are
 * batched: those of one event-loop turn leave in one `ack` frame (sent with
 * a correlation, so an unknown tag is reported rather than closing the
 * channel); when the connection is already writing frames of the turn (a
 * reply just sent), the acks so far go with them instead of in a write of
 * their own. Once its connection is gone the batcher is stale and settling is
 * a no-op: the server returned those deliveries to their queues, so they
 * come again (redelivered).
 */
export class ChannelAcks implements AnswerHandler {
  private tags: number[] = [];
  private scheduled = false;
  private outstanding = 0;
  private waiters: Array<() => void> = [];
  private stale = false;
  private readonly flushBound = (): void => this.flush();

  constructor(
    readonly connection: ClientConnection,
    readonly channel: number,
    private readonly report: (error: FerryClientError) => void,
  ) {}

  /** True once the channel or connection is gone: settling does nothing. */
  get isStale(): boolean {
    return this.stale || !this.connection.isOpen;
  }

  /** Marks the batcher stale (its channel closed); pending waiters are released. */
  markStale(): void {
    this.stale = true;
    this.tags = [];
    this.outstanding = 0;
    this.wake();
  }

  /** Queues an ack of `deliveryTag`, sent with the others of this turn. */
  ack(deliveryTag: number): void {
    if (this.isStale) return;
    this.tags.push(deliveryTag);
    if (!this.scheduled) {
      this.scheduled = true;
      if (!this.connection.beforeFlush(this.flushBound)) setImmediate(this.flushBound);
    }
  }

  /** Sends a nack at once (after the acks queued before it): requeue, or dead-letter when `requeue` is false. */
  nack(deliveryTag: number, requeue: boolean): void {
    if (this.isStale) return;
    this.flush();
    this.outstanding++;
    this.connection.send('nack', this.channel, { deliveryTags: [deliveryTag], requeue }, this);
  }

  /** Changes the visibility timeout of a pulled delivery; resolves once the server applied it. */
  async changeVisibility(deliveryTag: number, visibilityTimeoutMs: number): Promise<void> {
    if (this.isStale) return;
    this.flush();
    await this.connection.call('changeVisibility', this.channel, { deliveryTag, visibilityTimeoutMs });
  }

  /** Sends the queued acks now. */
  flush(): void {
    this.scheduled = false;
    if (this.tags.length === 0 || this.isStale) return;
    const tags = this.tags;
    this.tags = [];
    // The server takes at most its batch limit of tags per frame (100,000 by default).
    for (let start = 0; start < tags.length; start += ACK_FRAME_TAGS_MAX) {
      const deliveryTags = start === 0 && tags.length <= ACK_FRAME_TAGS_MAX ? tags : tags.slice(start, start + ACK_FRAME_TAGS_MAX);
      this.outstanding++;
      this.connection.send('ack', this.channel, { deliveryTags }, this);
    }
  }

  /** Resolves once every ack and nack sent so far is answered (acks are durable by then). */
  settled(): Promise<void> {
    this.flush();
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  answered(): void {
    if (--this.outstanding <= 0) this.wake();
  }

  failed(error: FerryClientError): void {
    if (--this.outstanding <= 0) this.wake();
    // A lost connection is not the ack's fault: the deliveries come again.
    if (error.code !== 'CONNECTION_LOST' && error.code !== 'CONNECTION_CLOSED') this.report(error);
  }

  private wake(): void {
    this.outstanding = Math.max(0, this.outstanding);
    if (this.outstanding !== 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
