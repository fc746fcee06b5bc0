import type { Destination } from './destination.js';
import type { HeaderTable } from './header-value.js';

/**
 * A rule that an exchange (`source`) routes matching messages to `destination`.
 * Direct exchanges compare `routingKey` with the message's routing key, topic
 * exchanges treat it as a pattern, fanout exchanges ignore it; headers exchanges
 * match `arguments` against the message headers. Two bindings are the same
 * binding when source, destination, routing key and arguments are all equal.
 * Bindings handed out by the router are frozen; do not mutate their argument values.
 */
export interface Binding {
  readonly source: string;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly arguments: HeaderTable;
}
