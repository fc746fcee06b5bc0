import { FerryError, isFerryError } from '../../lib/ferry-error.js';
import { SequenceMap } from '../../lib/sequence-map.js';
import type { Clock } from '../../platform/clock.js';
import type { Principal } from '../../core/access/access-control.js';
import type { PermissionKind } from '../../core/routing/permissions.js';
import type { BrokerCore } from '../../core/broker/broker-core.js';
import type { ChannelDescription } from '../../core/connections/connection-registry.js';
import type { Delivery } from '../../core/queue/delivery.js';
import type { Queue } from '../../core/queue/queue.js';
import type { ConsumerGroup } from '../../core/stream/consumer-group.js';
import type { RecordCursor } from '../../core/ports.js';
import type { Transaction } from '../../core/transaction/transaction.js';
import type { VirtualHost } from '../../core/vhost/virtual-host.js';
import { encodeFrame, FRAMES, NativeProtocolError, type FrameName, type RawFrame, type RequestOf } from './codec/index.js';
import { encodeCursorEntries } from './delivery-frames.js';
import type { NativeLimits } from './native-limits.js';
import type { QueueConsumer } from './queue-consumer.js';
import { StreamSubscription, type StreamSubscriptionHost } from './stream-subscription.js';
import type { WireMessageReader } from './wire-message-reader.js';

/** What a channel needs from its connection. */
export interface ChannelHost {
  /** The connection's id: owner of its exclusive queues, prefix of its consumers' core tags. */
  readonly connectionId: string;
  readonly core: BrokerCore;
  readonly vhost: VirtualHost;
  readonly principal: Principal;
  readonly clock: Clock;
  readonly limits: NativeLimits;
  /** Largest message body accepted. */
  readonly messageBytesMax: number;
  /** Validates and reads published messages (one per connection: it remembers the last envelope). */
  readonly messages: WireMessageReader;
  /** Largest frame the server sends (the negotiated limit). */
  frameBytesMax(): number;
  /** Queues a whole frame; frames of one turn go out in one socket write. */
  send(frame: Uint8Array): void;
  /** A consumer has deliveries to send at the end of this turn (null: held ones, only counted for back pressure). */
  deliveriesPending(consumer: QueueConsumer | null, bodyBytes: number): void;
  /** Encodes a consumer's pending deliveries now, so that what is sent next follows them. */
  flushDeliveries(consumer: QueueConsumer): void;
  /** False while deliveries are paused (the socket is backed up). */
  deliveriesFlowing(): boolean;
  /** True while the connection's output is above its high-water mark. */
  outgoingFull(): boolean;
  /** Calls `wake` once the output is below its high-water mark again. */
  waitForOutput(wake: () => void): void;
}

/** A delivery sent on the channel and not yet settled. */
export interface UnackedDelivery {
  readonly queue: Queue;
  /** The delivery's id in its queue. */
  readonly id: number;
}

/** A consumer-group member joined through the channel; it leaves when the channel closes. */
export interface GroupMembership {
  readonly stream: string;
  readonly group: ConsumerGroup;
  readonly member: string;
}

/** How long closing a channel waits for its requests in flight (answers that wait for durability). */
const CLOSE_WAIT_MS_MAX = 5_000;
/**
 * A stream subscription reads at most this many entries and about this many
 * bytes at a time: large enough to amortise a read over thousands of small
 * messages, small enough to keep memory bounded.
 */
const SUBSCRIPTION_READ_MESSAGES_MAX = 10_000;
const SUBSCRIPTION_READ_BYTES_MAX = 1024 * 1024;

/**
 * One channel of a native connection, an independent session: its queue
 * consumers, stream subscriptions, delivery tags and unacknowledged
 * deliveries, consumer-group memberships and open transaction. Request
 * handlers (handlers/) work on it; the connection orders its frames.
 */
export class NativeChannel {
  readonly consumers = new Map<number, QueueConsumer>();
  readonly subscriptions = new Map<number, StreamSubscription>();
  /** Unsettled deliveries by delivery tag (tags only grow: a window array, not a hash table). */
  readonly unacked = new SequenceMap<UnackedDelivery>();
  /** Memberships by `stream \0 group \0 member`. */
  readonly memberships = new Map<string, GroupMembership>();
  /** The open transaction; while set, publish, append, ack and groupCommit are staged into it. */
  transaction: Transaction | null = null;
  /** Tags acked in the open transaction: they leave `unacked` once it commits. */
  stagedAcks = new Set<number>();
  /** True once closed (by the client, a failure or the connection): nothing more is sent for it. */
  closed = false;
  /** True from the start of closing (which may first wait for answers in flight). */
  private closing = false;
  /** True while a request that later frames must wait for is running (see RequestHandler.ordered). */
  busy = false;
  /** Frames that arrived while busy, in order. */
  backlog: RawFrame[] = [];
  /** Answers in flight that wait for durability (not long polls), so that closing waits for them. */
  readonly inFlight = new Set<Promise<unknown>>();
  private lastDeliveryTag = 0;
  private lastId = 0;
  private readonly subscriptionHost: StreamSubscriptionHost;

  constructor(
    readonly number: number,
    readonly host: ChannelHost,
  ) {
    this.subscriptionHost = {
      readMessagesMax: Math.min(host.limits.batchMessagesMax, SUBSCRIPTION_READ_MESSAGES_MAX),
      readBytesMax: Math.min(SUBSCRIPTION_READ_BYTES_MAX, Math.floor(host.frameBytesMax() / 2)),
      outgoingFull: () => host.outgoingFull(),
      waitForOutput: (subscription) => host.waitForOutput(() => subscription.poke()),
      send: (subscription, entries) => this.sendEntries(subscription, entries),
      ended: (subscription, error) => {
        if (!this.subscriptions.delete(subscription.id) || this.closed) return;
        this.push('cancelled', { consumerId: subscription.id, reason: isFerryError(error) ? error.message : 'the stream could not be read' });
      },
    };
  }

  get vhost(): VirtualHost {
    return this.host.vhost;
  }

  /** ACCESS_REFUSED unless the user's `kind` permission covers `resource`. */
  authorize(kind: PermissionKind, resource: string): void {
    this.host.core.access.authorize(this.host.principal, this.host.vhost.name, kind, resource);
  }

  /** NATIVE_LIMIT_REACHED when a batch holds more than the connection's limit. */
  checkBatch(count: number, what: string): void {
    if (count > this.host.limits.batchMessagesMax) {
      throw new NativeProtocolError('NATIVE_LIMIT_REACHED', `${count} ${what} in one frame; the limit is ${this.host.limits.batchMessagesMax} (native-batch-messages-max)`);
    }
  }

  /** RESOURCE_LOCKED when `queue` is exclusive to another connection. */
  checkExclusive(queue: Queue): void {
    const owner = queue.config.exclusiveOwner;
    if (owner !== undefined && owner !== this.host.connectionId) {
      throw new FerryError('RESOURCE_LOCKED', `queue ${queue.name} is exclusive to another connection`);
    }
  }

  /**
   * The id of a new consumer or subscription (one sequence for both, so a
   * `cancelled` push is unambiguous); NATIVE_LIMIT_REACHED when the channel has
   * as many as the limit allows.
   */
  reserveId(): number {
    if (this.consumers.size + this.subscriptions.size >= this.host.limits.consumersPerChannelMax) {
      throw new NativeProtocolError('NATIVE_LIMIT_REACHED', `channel ${this.number} has ${this.host.limits.consumersPerChannelMax} consumers and subscriptions, the limit (native-consumers-max)`);
    }
    return ++this.lastId;
  }

  /** The tag of the channel's next delivery (from 1). */
  nextDeliveryTag(): number {
    return ++this.lastDeliveryTag;
  }

  /** Gives a pulled delivery its tag, tracked until settled unless `autoAck`. */
  track(queue: Queue, delivery: Delivery, autoAck: boolean): number {
    const tag = this.nextDeliveryTag();
    if (!autoAck) this.unacked.set(tag, { queue, id: delivery.id });
    return tag;
  }

  /** Sends a server push on this channel (correlation 0). */
  push<N extends FrameName>(name: N, values: RequestOf<N>): void {
    if (this.closed) return;
    this.host.send(encodeFrame(name, this.number, 0, values));
  }

  /** Starts a stream subscription (after its answer is queued). */
  subscribe(id: number, stream: StreamSubscription['stream'], partition: number, offset: number, credit: number): StreamSubscription {
    const subscription = new StreamSubscription(id, stream, partition, offset, credit, this.subscriptionHost);
    this.subscriptions.set(id, subscription);
    return subscription;
  }

  private sendEntries(subscription: StreamSubscription, records: RecordCursor): void {
    if (this.closed) return;
    const frames: Uint8Array[] = [];
    const target = { type: FRAMES.streamDeliver.type, flags: 0, channel: this.number, correlation: 0, prefix: subscription.id };
    encodeCursorEntries(target, subscription.partition, records, this.host.frameBytesMax(), frames);
    for (const frame of frames) this.host.send(frame);
  }

  /**
   * Acks or returns deliveries by tag, queue by queue; resolves once durable.
   * Tags not outstanding on the channel (never sent, settled already, or
   * staged in the open transaction) are skipped and reported afterwards as
   * NATIVE_UNKNOWN_DELIVERY_TAG: the known ones are applied first.
   */
  settle(tags: readonly number[], action: 'ack' | 'nack', requeue = true): Promise<Record<string, never>> {
    let unknown: number[] | null = null;
    let firstQueue: Queue | null = null;
    const firstIds: number[] = [];
    let others: Map<Queue, number[]> | null = null;
    for (const tag of tags) {
      const entry = this.unacked.get(tag);
      if (entry === undefined || this.stagedAcks.has(tag)) {
        (unknown ??= []).push(tag);
        continue;
      }
      this.unacked.delete(tag);
      if (firstQueue === null || firstQueue === entry.queue) {
        firstQueue = entry.queue;
        firstIds.push(entry.id);
        continue;
      }
      others ??= new Map();
      const ids = others.get(entry.queue);
      if (ids) ids.push(entry.id);
      else others.set(entry.queue, [entry.id]);
    }
    const writes: Promise<void>[] = [];
    if (firstQueue !== null) writes.push(settleIn(firstQueue, firstIds, action, requeue));
    if (others !== null) for (const [queue, ids] of others) writes.push(settleIn(queue, ids, action, requeue));
    const done = writes.length === 1 ? writes[0]! : Promise.all(writes);
    return done.then(() => {
      if (unknown !== null) {
        throw new NativeProtocolError('NATIVE_UNKNOWN_DELIVERY_TAG', `delivery tags ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''} are not outstanding on channel ${this.number}`);
      }
      return {};
    });
  }

  /** The channel as operators see it (management API). */
  describe(): ChannelDescription {
    return {
      number: this.number,
      consumers: [
        ...[...this.consumers.values()].map((consumer) => ({ tag: consumer.options.tag, queue: consumer.options.source, queueTag: consumer.coreTag })),
        ...[...this.subscriptions.values()].map((subscription) => ({ tag: `subscription-${subscription.id}`, queue: subscription.stream.name, queueTag: '' })),
      ],
      unacknowledged: this.unacked.size,
      prefetch: Math.max(0, ...[...this.consumers.values()].map((consumer) => consumer.options.prefetch)),
      confirm: true,
      transactional: this.transaction !== null,
    };
  }

  /**
   * Closes the channel (the client's `channelClose`, a failed request sent
   * without correlation, or the connection closing): with `drain`, first
   * waits (bounded) for the answers in flight, so that they precede the close
   * answer; then aborts the open transaction, cancels consumers, stops
   * subscriptions, leaves consumer groups and returns unacknowledged
   * deliveries to their queues (redelivered).
   */
  async teardown(reason: string, options: { readonly drain?: boolean } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (options.drain === true && this.inFlight.size > 0) await this.waitForInFlight();
    this.closed = true;
    this.backlog = [];
    this.transaction?.abort(reason);
    this.transaction = null;
    this.stagedAcks.clear();
    for (const consumer of this.consumers.values()) consumer.cancel();
    this.consumers.clear();
    for (const subscription of this.subscriptions.values()) subscription.stop();
    this.subscriptions.clear();
    for (const membership of this.memberships.values()) {
      try {
        membership.group.leave(membership.member);
      } catch {
        // Already removed (session expired) or the stream is gone: nothing to leave.
      }
    }
    this.memberships.clear();
    const byQueue = new Map<Queue, number[]>();
    for (const entry of this.unacked.values()) {
      const ids = byQueue.get(entry.queue);
      if (ids) ids.push(entry.id);
      else byQueue.set(entry.queue, [entry.id]);
    }
    this.unacked.clear();
    const returns = [...byQueue].map(([queue, ids]) => settleIn(queue, ids, 'nack', true).catch(() => undefined));
    await Promise.all(returns);
  }

  private waitForInFlight(): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.host.clock.setTimer(CLOSE_WAIT_MS_MAX, resolve);
      void Promise.allSettled([...this.inFlight]).then(() => {
        timer.cancel();
        resolve();
      });
    });
  }
}

/**
 * Acks or returns deliveries of one queue. A delivery that left flight
 * meanwhile (a pulled one whose visibility timeout returned it) would make
 * the whole call fail: then each is settled alone and the stale ones skipped.
 */
function settleIn(queue: Queue, ids: readonly number[], action: 'ack' | 'nack', requeue: boolean): Promise<void> {
  if (queue.isDeleted()) return Promise.resolve();
  try {
    return action === 'ack' ? queue.ack(ids) : queue.nack(ids, requeue);
  } catch (error) {
    if (!isFerryError(error, 'UNKNOWN_DELIVERY') || ids.length === 1) return isFerryError(error, 'UNKNOWN_DELIVERY') ? Promise.resolve() : Promise.reject(error);
    return Promise.all(ids.map((id) => settleIn(queue, [id], action, requeue))).then(() => undefined);
  }
}
