import type { FerryError } from '../../lib/ferry-error.js';
import type { Clock, TimerHandle } from '../../platform/clock.js';

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

/**
 * What every sink shares: closing once (callbacks run once, from either
 * side) and a heartbeat while open (`beat` keeps proxies from closing an
 * idle connection). Subclasses call {@link startHeartbeat} once live and
 * {@link finish} when the transport ended.
 */
export abstract class SubscriptionSinkBase implements SubscriptionSink {
  private isClosed = false;
  private readonly closeCallbacks: Array<() => void> = [];
  private heartbeat: TimerHandle | null = null;

  protected constructor(
    private readonly clock: Clock,
    private readonly heartbeatIntervalMs: number,
  ) {}

  abstract send(event: SubscriptionEvent): boolean;
  abstract onWritable(callback: () => void): void;
  abstract close(error?: FerryError): void;
  /** Sends one heartbeat (called every interval while open). */
  protected abstract beat(): void;

  get closed(): boolean {
    return this.isClosed;
  }

  onClose(callback: () => void): void {
    if (this.isClosed) callback();
    else this.closeCallbacks.push(callback);
  }

  protected startHeartbeat(): void {
    this.heartbeat = this.clock.setTimer(this.heartbeatIntervalMs, () => {
      if (this.isClosed) return;
      this.beat();
      this.startHeartbeat();
    });
  }

  /** Marks the sink closed: stops the heartbeat and runs the close callbacks, once. */
  protected finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.heartbeat?.cancel();
    for (const callback of this.closeCallbacks.splice(0)) callback();
  }
}

/** The `error` object of a last event: the code, and the message without its `CODE: ` prefix. */
export function errorJson(error: FerryError): { readonly code: string; readonly message: string } {
  return { code: error.code, message: error.message.replace(/^[A-Z0-9_]+: /, '') };
}
