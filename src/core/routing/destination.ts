/**
 * Where a binding leads: a queue or stream (a final destination that stores the
 * message), or another exchange (exchange-to-exchange binding, routed further).
 * Queues and streams share one namespace per vhost, as in RabbitMQ where a
 * stream is a kind of queue, so the default exchange can find either by name.
 */
export interface Destination {
  readonly kind: 'queue' | 'stream' | 'exchange';
  readonly name: string;
}

/**
 * A string that identifies a destination, for use as a map key. Unambiguous
 * because `kind` never contains the `:` that separates it from the name.
 */
export function destinationKey(destination: Destination): string {
  return `${destination.kind}:${destination.name}`;
}
