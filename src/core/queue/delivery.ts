import type { StoredMessage } from '../message/message.js';

/** A message handed to a consumer or a puller, until it is settled. */
export interface Delivery {
  /** Identifies the delivery within its queue, for ack / nack / visibility changes. */
  readonly id: number;
  readonly queue: string;
  /** Position in the queue's log (per priority level). */
  readonly offset: number;
  readonly message: StoredMessage;
  /** True when the message was delivered before (and returned). */
  readonly redelivered: boolean;
  /** How many times it was delivered, this time included. */
  readonly deliveryCount: number;
  /** The consumer tag, or undefined for a pulled message. */
  readonly consumerTag: string | undefined;
}

/** How a consumer wants messages. */
export interface ConsumerOptions {
  readonly tag: string;
  /** Most unacknowledged deliveries at once; 0 means no limit. */
  readonly prefetch: number;
  /** Settled as soon as delivered: at-most-once. */
  readonly autoAck: boolean;
  /** Higher-priority consumers get messages first while they have credit. */
  readonly priority?: number;
  /** Refuse other consumers while this one is attached. */
  readonly exclusive?: boolean;
  /** Starts paused (its connection's window is full); `Queue.setFlowing` resumes it. Default true. */
  readonly flowing?: boolean;
  /** Called for each delivery, synchronously from the queue. */
  readonly onDelivery: (delivery: Delivery) => void;
  /** Called when the queue cancels the consumer (queue deleted). */
  readonly onCancelled?: (reason: string) => void;
  /** Called when a single-active-consumer queue makes this consumer (in)active. */
  readonly onActiveChanged?: (active: boolean) => void;
}
