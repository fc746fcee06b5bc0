import type { FerryError } from '../../lib/ferry-error.js';

/** One event of a subscription: a message (or the last word, an error). */
export interface SubscriptionEvent {
  /** `message`, or `error` just before the server ends the subscription. */
  readonly type: 'message' | 'error';
  /** The event id: a stream message's offset, which an SSE client resumes from (`Last-Event-ID`). */
  readonly id?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * Where a subscription's events go: a server-sent event stream or a
 * WebSocket. Bounded: `send` says when the peer falls behind, and the feed
 * then stops taking messages until `onWritable` calls back, so a slow client
 * holds up its own subscription, never the broker's memory.
 */
export interface SubscriptionSink {
  /** Sends one event. False when the peer is behind: send no more until {@link onWritable} calls back. */
  send(event: SubscriptionEvent): boolean;
  /** Calls back once the peer caught up (soon, when it is not behind); never after close. */
  onWritable(callback: () => void): void;
  /** Ends the subscription from the server side: `error` (when given) goes out as the last event. Idempotent. */
  close(error?: FerryError): void;
  /** Calls back once, when the subscription ended from either side. */
  onClose(callback: () => void): void;
  readonly closed: boolean;
}
