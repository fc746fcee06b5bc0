import type { BrokerCore } from '../../core/broker/broker-core.js';
import type { ConnectionDescription } from '../../core/connections/connection-registry.js';
import { FerryError } from '../../lib/ferry-error.js';
import type { SubscriptionSink } from './subscription-sink.js';

/** What the registry needs of one subscription. */
export interface SubscriptionEntry {
  readonly sink: SubscriptionSink;
  /** Called once when the subscription ends, from either side: stop the feed. */
  readonly stop: () => void;
  /** For the broker's connection list (the management API's `/api/connections`). */
  readonly describe: (name: string) => ConnectionDescription;
}

/**
 * The open SSE and WebSocket subscriptions: at most `subscriptionsMax` at
 * once, each listed among the broker's connections (so operators see and can
 * close them), all closed when the server stops.
 */
export class SubscriptionRegistry {
  private readonly open = new Set<SubscriptionEntry>();
  private sequence = 0;

  constructor(
    private readonly core: BrokerCore,
    private readonly subscriptionsMax: number,
  ) {}

  /** How many subscriptions are open. */
  count(): number {
    return this.open.size;
  }

  /** SUBSCRIPTION_LIMIT_REACHED (503) when no other subscription may open now. */
  requireRoom(): void {
    if (this.open.size >= this.subscriptionsMax) {
      throw new FerryError('SUBSCRIPTION_LIMIT_REACHED', `${this.subscriptionsMax} subscriptions are open, the most http-subscriptions-max allows; try again later`);
    }
  }

  /** Adds a subscription whose sink is open; it leaves when its sink closes. SUBSCRIPTION_LIMIT_REACHED when full. */
  add(entry: SubscriptionEntry): void {
    this.requireRoom();
    const name = `http-subscription-${++this.sequence}`;
    this.open.add(entry);
    const unregister = this.core.connections.register({
      name,
      protocol: 'http',
      describe: () => entry.describe(name),
      close: (reason) => entry.sink.close(new FerryError('SUBSCRIPTION_CLOSED', `closed by the server: ${reason}`)),
    });
    entry.sink.onClose(() => {
      this.open.delete(entry);
      unregister();
      entry.stop();
    });
  }

  /** Ends every subscription (server shutdown): each client gets SUBSCRIPTION_CLOSED as the last event. */
  closeAll(reason: string): void {
    for (const entry of [...this.open]) entry.sink.close(new FerryError('SUBSCRIPTION_CLOSED', reason));
  }
}
